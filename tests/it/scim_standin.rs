//! A small stand-in SCIM server: a thread on 127.0.0.1 with users and groups in memory,
//! enough of RFC 7644 for orgplan (discovery, paged lists with `filter`, POST, PUT, PATCH
//! of `active` and `members`, DELETE), that injects faults (429 with `Retry-After`, 500s,
//! a connection dropped after the request landed, a response slower than the timeout, a
//! user or a member the server refuses) and can add a fixed latency to every answer.
//! Shared by the fault tests (`scim_faults.rs`) and the remote benchmark
//! (`benches/remote.rs`, which includes this file by path); the HTTP itself is
//! `http_standin.rs`.

#![allow(dead_code, reason = "each includer uses a part")]

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http_standin::{decode, listen, read_request, respond};

pub const TOKEN: &str = "tok-7f3a9c-never-print-me";

/// A fault to inject once, on the first request that matches `method` and `path` prefix.
#[derive(Clone)]
pub struct Fault {
    pub method: &'static str,
    pub path: &'static str,
    pub kind: FaultKind,
}

#[derive(Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// 429 with `Retry-After: 1`.
    TooMany,
    /// 500.
    Error,
    /// Carry the request out, then close the connection without answering.
    DropAfter,
    /// Wait longer than the client's timeout, then close without carrying it out.
    Slow,
    /// 412: the resource changed since the client read it.
    Changed,
    /// 400 whose `detail` echoes the request's `Authorization` header, as some servers'
    /// debug error pages do.
    EchoAuth,
}

#[derive(Default)]
pub struct Store {
    pub next: u64,
    pub users: BTreeMap<String, Value>,
    pub groups: BTreeMap<String, Value>,
    pub faults: Vec<Fault>,
    /// userName the server answers 400 for, for as long as it is set.
    pub refuse: Option<String>,
    /// Every user creation and member addition that landed, to catch doubles.
    pub creates: Vec<String>,
    /// The `endpoint` `/ResourceTypes` gives for users, when not `/Users`.
    pub users_endpoint: Option<String>,
    /// Lists ignore `startIndex` (always the first page) and claim a huge `totalResults`.
    pub ignore_paging: bool,
    /// Added to every answer (the network and the server's own work of a real one).
    pub latency: Duration,
    /// Most resources per list page (7 when `None`: small pages, so that the client has to
    /// follow `totalResults`).
    pub page_max: Option<usize>,
    /// `userName` of a user the server refuses as a group member (400 to the PATCH that
    /// adds it, changing nothing: a PATCH is atomic).
    pub refuse_member: Option<String>,
    /// Resources carry `meta.version`; PUT and PATCH need a matching `If-Match` (428
    /// without one, 412 when it differs) and bump it.
    pub versions: bool,
    /// Requests answered, by method and endpoint (`PATCH /Groups`).
    pub requests: BTreeMap<String, usize>,
}

pub type Shared = Arc<Mutex<Store>>;

pub fn lock(store: &Shared) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn start(store: Shared) -> String {
    let address = listen(move |stream| serve(&stream, &store));
    format!("scim+http://{address}/scim/v2")
}

fn serve(stream: &TcpStream, store: &Shared) {
    let Some(request) = read_request(stream) else {
        return;
    };
    let authorized = request.headers.iter().any(|(name, value)| {
        name == "authorization" && value.ends_with(&format!("Bearer {TOKEN}"))
    });
    let auth_line = request
        .header("authorization")
        .map(|value| format!("authorization: {value}"))
        .unwrap_or_default();
    let if_match = request.header("if-match");
    let method = request.method.as_str();
    let (path, query) = request.path_and_query();
    let path = path.strip_prefix("/scim/v2").unwrap_or(path);
    let body = &request.body;

    let latency = {
        let mut s = lock(store);
        let kind = path.trim_matches('/').split('/').next().unwrap_or_default();
        *s.requests.entry(format!("{method} /{kind}")).or_default() += 1;
        s.latency
    };
    std::thread::sleep(latency);
    let fault = {
        let mut s = lock(store);
        let index = s
            .faults
            .iter()
            .position(|f| f.method == method && path.starts_with(f.path));
        index.map(|i| s.faults.remove(i).kind)
    };
    let (status, headers, answer) = match fault {
        Some(FaultKind::TooMany) => (429, "retry-after: 1\r\n", json!({"detail": "slow down"})),
        Some(FaultKind::Error) => (500, "", json!({"detail": "oops"})),
        Some(FaultKind::Changed) => (412, "", json!({"detail": "version mismatch"})),
        Some(FaultKind::EchoAuth) => (
            400,
            "",
            json!({"detail": format!("malformed request; headers seen: {auth_line}")}),
        ),
        Some(FaultKind::Slow) => {
            std::thread::sleep(Duration::from_millis(2500));
            return;
        }
        Some(FaultKind::DropAfter) => {
            let _ = handle(store, method, path, query, body, if_match);
            return;
        }
        None if !authorized => (401, "", json!({"detail": "no token"})),
        None => {
            let (status, answer) = handle(store, method, path, query, body, if_match);
            (status, "", answer)
        }
    };
    let text = if answer.is_null() {
        String::new()
    } else {
        answer.to_string()
    };
    respond(stream, status, headers, "application/scim+json", &text);
}

fn list(items: Vec<Value>, query: &str, max: Option<usize>) -> Value {
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<usize>().ok())
    };
    // Small pages, so that the client has to follow `totalResults`.
    let start = param("startIndex").unwrap_or(1).max(1);
    let count = param("count").unwrap_or(100).min(max.unwrap_or(7));
    let page: Vec<Value> = items.iter().skip(start - 1).take(count).cloned().collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
           "totalResults": items.len(), "startIndex": start, "itemsPerPage": page.len(), "Resources": page})
}

fn handle(
    store: &Shared,
    method: &str,
    path: &str,
    query: &str,
    body: &Value,
    if_match: Option<&str>,
) -> (u16, Value) {
    let mut s = lock(store);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["ServiceProviderConfig"]) => (
            200,
            json!({"patch": {"supported": true}, "filter": {"supported": true, "maxResults": 100},
                   "etag": {"supported": true}, "bulk": {"supported": false}}),
        ),
        ("GET", ["Schemas"]) => (200, list(Vec::new(), query, s.page_max)),
        ("GET", ["ResourceTypes"]) => (
            200,
            list(
                vec![
                    json!({"id": "User", "name": "User", "endpoint": s.users_endpoint.as_deref().unwrap_or("/Users"), "schema": "urn:ietf:params:scim:schemas:core:2.0:User"}),
                    json!({"id": "Group", "name": "Group", "endpoint": "/Groups", "schema": "urn:ietf:params:scim:schemas:core:2.0:Group"}),
                ],
                query,
                s.page_max,
            ),
        ),
        ("GET", [kind]) => {
            let items = if *kind == "Users" {
                &s.users
            } else {
                &s.groups
            };
            // Only the filter the client uses: `userName eq "…"` / `displayName eq "…"`.
            let wanted = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("filter="))
                .map(decode)
                .and_then(|f| {
                    f.split_once(" eq ")
                        .map(|(a, v)| (a.to_owned(), v.trim_matches('"').to_owned()))
                });
            let mut found: Vec<Value> = items
                .values()
                .filter(|r| match &wanted {
                    Some((attribute, value)) => {
                        r[attribute.as_str()].as_str() == Some(value.as_str())
                    }
                    None => true,
                })
                .cloned()
                .collect();
            if query.contains("excludedAttributes=members") {
                for r in &mut found {
                    if let Some(m) = r.as_object_mut() {
                        m.remove("members");
                    }
                }
            }
            // Never in the order of creation: the client must not rely on list order.
            found.reverse();
            if s.ignore_paging {
                let mut page = list(found, "", s.page_max);
                page["totalResults"] = json!(1_000_000);
                return (200, page);
            }
            (200, list(found, query, s.page_max))
        }
        ("POST", [kind]) => {
            let name_key = if *kind == "Users" {
                "userName"
            } else {
                "displayName"
            };
            let name = body[name_key].as_str().unwrap_or_default().to_owned();
            if *kind == "Users" && s.refuse.as_deref() == Some(name.as_str()) {
                return (
                    400,
                    json!({"detail": "invalidValue", "scimType": "invalidValue"}),
                );
            }
            let items = if *kind == "Users" {
                &s.users
            } else {
                &s.groups
            };
            if *kind == "Users" && items.values().any(|r| r[name_key] == name.as_str()) {
                return (409, json!({"status": "409", "scimType": "uniqueness"}));
            }
            s.next += 1;
            let id = format!("id{}", s.next);
            let mut resource = body.clone();
            resource["id"] = json!(id);
            s.creates.push(format!("{kind}:{name}"));
            if s.versions {
                resource["meta"] = json!({"version": "w/\"1\""});
            }
            if *kind == "Users" {
                s.users.insert(id, resource.clone());
            } else {
                s.groups.insert(id, resource.clone());
            }
            (201, resource)
        }
        (_, [kind, id]) => {
            let is_users = *kind == "Users";
            let exists = if is_users {
                s.users.contains_key(*id)
            } else {
                s.groups.contains_key(*id)
            };
            if !exists {
                return (404, json!({"detail": "not found"}));
            }
            // With versions, a write must name the version it read (If-Match), and bumps it.
            if s.versions && matches!(method, "PUT" | "PATCH") {
                let resource = if is_users {
                    &s.users[*id]
                } else {
                    &s.groups[*id]
                };
                let now = resource["meta"]["version"].as_str().unwrap_or_default();
                match if_match {
                    None => return (428, json!({"detail": "If-Match required"})),
                    Some(tag) if !tag.eq_ignore_ascii_case(now) => {
                        return (412, json!({"detail": "version mismatch"}));
                    }
                    Some(_) => {}
                }
                let next: u64 = now
                    .trim_start_matches("w/\"")
                    .trim_end_matches('"')
                    .parse()
                    .unwrap_or(0)
                    + 1;
                let version = json!({"version": format!("w/\"{next}\"")});
                let resource = if is_users {
                    s.users.get_mut(*id)
                } else {
                    s.groups.get_mut(*id)
                };
                if let Some(resource) = resource {
                    resource["meta"] = version;
                }
            }
            match method {
                "GET" => {
                    let r = if is_users {
                        &s.users[*id]
                    } else {
                        &s.groups[*id]
                    };
                    (200, r.clone())
                }
                "DELETE" => {
                    if is_users {
                        s.users.remove(*id);
                    } else {
                        s.groups.remove(*id);
                    }
                    (204, Value::Null)
                }
                "PUT" => {
                    let mut resource = body.clone();
                    resource["id"] = json!(id);
                    let old = if is_users { &s.users } else { &s.groups };
                    if let Some(meta) = old.get(*id).map(|r| r["meta"].clone()) {
                        resource["meta"] = meta;
                    }
                    if is_users {
                        s.users.insert((*id).to_owned(), resource.clone());
                    } else {
                        s.groups.insert((*id).to_owned(), resource.clone());
                    }
                    (200, resource)
                }
                "PATCH" => {
                    // A member the server will not take refuses the whole PATCH.
                    let refused = s.refuse_member.as_deref().and_then(|name| {
                        s.users
                            .iter()
                            .find(|(_, u)| u["userName"] == name)
                            .map(|(id, _)| id.clone())
                    });
                    let adds_refused = refused.is_some_and(|refused| {
                        body["Operations"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|op| {
                                op["op"] == "add"
                                    && op["value"]
                                        .as_array()
                                        .into_iter()
                                        .flatten()
                                        .any(|m| m["value"] == refused.as_str())
                            })
                    });
                    if adds_refused {
                        return (
                            400,
                            json!({"detail": "member refused", "scimType": "invalidValue"}),
                        );
                    }
                    let mut log = Vec::new();
                    let resource = if is_users {
                        s.users.get_mut(*id)
                    } else {
                        s.groups.get_mut(*id)
                    };
                    let Some(resource) = resource else {
                        return (404, Value::Null);
                    };
                    for op in body["Operations"].as_array().cloned().unwrap_or_default() {
                        let target = op["path"].as_str().unwrap_or_default();
                        match (op["op"].as_str().unwrap_or_default(), target) {
                            ("replace", "active") => resource["active"] = op["value"].clone(),
                            // Deliberately no de-duplication: a member added twice shows.
                            ("add", "members") => {
                                let mut members =
                                    resource["members"].as_array().cloned().unwrap_or_default();
                                for m in op["value"].as_array().cloned().unwrap_or_default() {
                                    log.push(format!("member:{id}:{}", m["value"]));
                                    members.push(m);
                                }
                                resource["members"] = json!(members);
                            }
                            ("remove", t) if t.starts_with("members[value eq ") => {
                                let user = t
                                    .trim_start_matches("members[value eq \"")
                                    .trim_end_matches("\"]");
                                let mut members =
                                    resource["members"].as_array().cloned().unwrap_or_default();
                                members.retain(|m| m["value"] != user);
                                resource["members"] = json!(members);
                            }
                            _ => return (400, json!({"detail": "unsupported patch"})),
                        }
                    }
                    s.creates.extend(log);
                    (204, Value::Null)
                }
                _ => (405, Value::Null),
            }
        }
        _ => (404, json!({"detail": "no such endpoint"})),
    }
}

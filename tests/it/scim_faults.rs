//! The SCIM provider against a small stand-in SCIM server (a thread on 127.0.0.1 with
//! users and groups in memory) that injects faults: 429 with `Retry-After`, 500s, a
//! connection dropped after the request landed, a response slower than the timeout, and
//! a user the server refuses (400) until the fault is removed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::orgplan;

const TOKEN: &str = "tok-7f3a9c-never-print-me";

/// A fault to inject once, on the first request that matches `method` and `path` prefix.
#[derive(Clone)]
struct Fault {
    method: &'static str,
    path: &'static str,
    kind: FaultKind,
}

#[derive(Clone, Copy, PartialEq)]
enum FaultKind {
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
struct Store {
    next: u64,
    users: BTreeMap<String, Value>,
    groups: BTreeMap<String, Value>,
    faults: Vec<Fault>,
    /// userName the server answers 400 for, for as long as it is set.
    refuse: Option<String>,
    /// Every user creation and member addition that landed, to catch doubles.
    creates: Vec<String>,
    /// The `endpoint` `/ResourceTypes` gives for users, when not `/Users`.
    users_endpoint: Option<String>,
    /// Lists ignore `startIndex` (always the first page) and claim a huge `totalResults`.
    ignore_paging: bool,
}

type Shared = Arc<Mutex<Store>>;

fn lock(store: &Shared) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

fn start(store: Shared) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!(
        "scim+http://{}/scim/v2",
        listener.local_addr().expect("the listener's address")
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let store = Arc::clone(&store);
            std::thread::spawn(move || serve(stream, &store));
        }
    });
    url
}

fn serve(mut stream: TcpStream, store: &Shared) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0;
    let mut authorized = false;
    let mut auth_line = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("authorization:") {
            auth_line = line.trim_end().to_owned();
        }
        if lower.starts_with("authorization:")
            && line.trim_end().ends_with(&format!("Bearer {TOKEN}"))
        {
            authorized = true;
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let path = path.strip_prefix("/scim/v2").unwrap_or(path).to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);

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
            let _ = handle(store, &method, &path, query, &body);
            return;
        }
        None if !authorized => (401, "", json!({"detail": "no token"})),
        None => {
            let (status, answer) = handle(store, &method, &path, query, &body);
            (status, "", answer)
        }
    };
    let text = if answer.is_null() {
        String::new()
    } else {
        answer.to_string()
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\n{headers}content-type: application/scim+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn list(items: Vec<Value>, query: &str) -> Value {
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<usize>().ok())
    };
    // Small pages, so that the client has to follow `totalResults`.
    let start = param("startIndex").unwrap_or(1).max(1);
    let count = param("count").unwrap_or(100).min(7);
    let page: Vec<Value> = items.iter().skip(start - 1).take(count).cloned().collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
           "totalResults": items.len(), "startIndex": start, "itemsPerPage": page.len(), "Resources": page})
}

fn handle(store: &Shared, method: &str, path: &str, query: &str, body: &Value) -> (u16, Value) {
    let mut s = lock(store);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["ServiceProviderConfig"]) => (
            200,
            json!({"patch": {"supported": true}, "filter": {"supported": true, "maxResults": 100},
                   "etag": {"supported": true}, "bulk": {"supported": false}}),
        ),
        ("GET", ["Schemas"]) => (200, list(Vec::new(), query)),
        ("GET", ["ResourceTypes"]) => (
            200,
            list(
                vec![
                    json!({"id": "User", "name": "User", "endpoint": s.users_endpoint.as_deref().unwrap_or("/Users"), "schema": "urn:ietf:params:scim:schemas:core:2.0:User"}),
                    json!({"id": "Group", "name": "Group", "endpoint": "/Groups", "schema": "urn:ietf:params:scim:schemas:core:2.0:Group"}),
                ],
                query,
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
                let mut page = list(found, "");
                page["totalResults"] = json!(1_000_000);
                return (200, page);
            }
            (200, list(found, query))
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
                    if is_users {
                        s.users.insert((*id).to_owned(), resource.clone());
                    } else {
                        s.groups.insert((*id).to_owned(), resource.clone());
                    }
                    (200, resource)
                }
                "PATCH" => {
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

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
            out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Run orgplan against the stand-in with fast retry settings; (stdout, stderr, code).
fn run(args: &[&str]) -> (String, String, i32) {
    let output = orgplan()
        .args(args)
        .env("ORGPLAN_SCIM_TOKEN", TOKEN)
        .env("ORGPLAN_HTTP_TIMEOUT", "1")
        .env("ORGPLAN_HTTP_ATTEMPTS", "4")
        .env("ORGPLAN_HTTP_BACKOFF_MS", "10")
        .output()
        .expect("run orgplan");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.code().unwrap_or(-1),
    )
}

fn no_doubles(store: &Shared) {
    let s = lock(store);
    let mut seen = std::collections::BTreeSet::new();
    for create in &s.creates {
        assert!(seen.insert(create.clone()), "created twice: {create}");
    }
    let names: Vec<&str> = s
        .users
        .values()
        .filter_map(|u| u["userName"].as_str())
        .collect();
    let unique: std::collections::BTreeSet<&&str> = names.iter().collect();
    assert_eq!(names.len(), unique.len(), "duplicate users: {names:?}");
}

#[test]
fn apply_converges_through_faults_and_reports_a_partial_failure() {
    let store: Shared = Arc::default();
    let url = start(Arc::clone(&store));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let audit = dir.path().join("audit.jsonl");
    let audit = audit.to_string_lossy().into_owned();
    let plan_file = dir.path().join("plan.json");
    let plan_file = plan_file.to_string_lossy().into_owned();
    {
        let mut s = lock(&store);
        s.faults = vec![
            Fault {
                method: "GET",
                path: "/ServiceProviderConfig",
                kind: FaultKind::TooMany,
            },
            Fault {
                method: "GET",
                path: "/Users",
                kind: FaultKind::Error,
            },
            Fault {
                method: "POST",
                path: "/Users",
                kind: FaultKind::DropAfter,
            },
            Fault {
                method: "PATCH",
                path: "/Groups",
                kind: FaultKind::DropAfter,
            },
            Fault {
                method: "POST",
                path: "/Groups",
                kind: FaultKind::Slow,
            },
            Fault {
                method: "POST",
                path: "/Users",
                kind: FaultKind::TooMany,
            },
        ];
        s.refuse = Some("sofia.rossi@acme.com".into());
    }

    // A plan saved with the token set: neither the plan nor the output holds it.
    let (out, err, code) = run(&["plan", "--live", &url, "-o", &plan_file]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Unverifiable"), "{out}");

    // One user is refused: the apply stops with what landed and what did not.
    let (out, err, code) = run(&["apply", "--auto-approve", "--live", &url, "--audit", &audit]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("apply stopped at `user.invite` on `sofia.rossi@acme.com`"),
        "{err}"
    );
    assert!(
        err.contains("applied (") && err.contains("not applied ("),
        "{err}"
    );
    assert!(
        err.contains("group.add_member"),
        "memberships not run are listed: {err}"
    );
    no_doubles(&store);
    let landed = std::fs::read_to_string(&audit).unwrap_or_default();
    assert!(
        landed.contains("\"user.invite\"") && !landed.contains("sofia.rossi"),
        "{landed}"
    );

    // The fault is removed: a re-run finishes the job, and nothing is left to do.
    lock(&store).refuse = None;
    let (out, err, code) = run(&[
        "apply",
        "--auto-approve",
        "--live",
        &url,
        "--audit",
        &audit,
        "--parallelism",
        "3",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (out, err, code) = run(&["plan", "--live", &url, "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes"), "{out}");
    no_doubles(&store);
    assert!(lock(&store).faults.is_empty(), "every fault was met");
    {
        let s = lock(&store);
        assert_eq!(s.users.len(), 21);
        assert_eq!(s.groups.len(), 5);
    }

    // The token is nowhere: not in any output, the saved plan or the audit file.
    let everything = format!(
        "{out}{err}{}{}",
        std::fs::read_to_string(&plan_file).unwrap_or_default(),
        std::fs::read_to_string(&audit).unwrap_or_default()
    );
    assert!(!everything.contains(TOKEN), "the token leaked");
    // The saved plan keeps the URL, without credentials.
    let saved = std::fs::read_to_string(&plan_file).unwrap_or_default();
    assert!(saved.contains(&format!("\"live\": \"{url}\"")), "{saved}");

    // Someone suspends a user by hand; the policy wants it active. The server answers 412
    // to the PATCH (it changed again meanwhile): the apply stops, overwriting nothing.
    {
        let mut s = lock(&store);
        if let Some(kate) = s
            .users
            .values_mut()
            .find(|u| u["userName"] == "kate.sullivan@acme.com")
        {
            kate["active"] = json!(false);
        }
        s.faults = vec![Fault {
            method: "PATCH",
            path: "/Users",
            kind: FaultKind::Changed,
        }];
    }
    let (out, err, code) = run(&["apply", "--auto-approve", "--live", &url, "--audit", &audit]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("user.reactivate")
            && err.contains("stale:")
            && err.contains("nothing overwritten"),
        "{err}"
    );
    let (out, err, code) = run(&["apply", "--auto-approve", "--live", &url, "--audit", &audit]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("user.reactivate kate.sullivan@acme.com"),
        "{out}"
    );
}

#[test]
fn a_wrong_token_says_which_variable_to_set() {
    let store: Shared = Arc::default();
    let url = start(store);
    let output = orgplan()
        .args(["plan", "--live", &url])
        .env("ORGPLAN_SCIM_TOKEN", "wrong-token-123")
        .output()
        .expect("run orgplan");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        err.contains("401") && err.contains("ORGPLAN_SCIM_TOKEN"),
        "{err}"
    );
    assert!(!err.contains("wrong-token-123"), "{err}");
}

#[test]
fn an_unreachable_server_fails_without_printing_credentials() {
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the listener's address");
    let uri = format!("scim+http://user:secret@127.0.0.1:{port}/scim/v2?token=abc");
    let output = orgplan()
        .args(["plan", "--live", &uri])
        .env("ORGPLAN_SCIM_TOKEN", TOKEN)
        .env("ORGPLAN_HTTP_ATTEMPTS", "2")
        .env("ORGPLAN_HTTP_BACKOFF_MS", "10")
        .output()
        .expect("run orgplan");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("failed after 2 attempts"), "{err}");
    for secret in ["secret", "abc", TOKEN] {
        assert!(!err.contains(secret), "{err}");
    }
}

#[test]
fn an_error_detail_echoing_the_authorization_header_does_not_print_the_token() {
    let store: Shared = Arc::default();
    lock(&store).faults = vec![Fault {
        method: "GET",
        path: "/ServiceProviderConfig",
        kind: FaultKind::EchoAuth,
    }];
    let url = start(Arc::clone(&store));
    let (out, err, code) = run(&["plan", "--live", &url]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("answered 400"), "{err}");
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN), "{err}");
}

#[test]
fn an_endpoint_on_another_host_is_never_sent_the_token() {
    // A second listener stands for a host the token must never reach.
    let other = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let other_url = format!(
        "http://{}/Users",
        other.local_addr().expect("the listener's address")
    );
    let reached = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&reached);
    std::thread::spawn(move || {
        for mut stream in other.incoming().flatten() {
            let mut reader = BufReader::new(match stream.try_clone() {
                Ok(s) => s,
                Err(_) => continue,
            });
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            lock_log(&log).push(head);
            let body = r#"{"totalResults":0,"Resources":[]}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let store: Shared = Arc::default();
    lock(&store).users_endpoint = Some(other_url.clone());
    let url = start(Arc::clone(&store));
    let (out, err, code) = run(&["plan", "--live", &url]);
    assert_eq!(code, 1, "{out}{err}");
    // Refused for the endpoint, not failing earlier for some other reason.
    assert!(
        err.contains(&format!(
            "refusing to send a request outside the base URL `{}`: `{other_url}",
            url.trim_start_matches("scim+")
        )),
        "{err}"
    );
    assert!(lock_log(&reached).is_empty(), "{:?}", lock_log(&reached));
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN), "{err}");
}

fn lock_log(log: &Mutex<Vec<String>>) -> std::sync::MutexGuard<'_, Vec<String>> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_server_that_ignores_start_index_does_not_page_forever() {
    let store: Shared = Arc::default();
    {
        let mut s = lock(&store);
        s.users.insert(
            "id1".into(),
            json!({"id": "id1", "userName": "ana@acme.com", "active": true}),
        );
        s.ignore_paging = true;
    }
    let url = start(Arc::clone(&store));
    let output = orgplan()
        .args(["plan", "--live", &url])
        .env("ORGPLAN_SCIM_TOKEN", TOKEN)
        .timeout(Duration::from_secs(30))
        .output()
        .expect("run orgplan");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("startIndex"), "{err}");
}

#[test]
fn an_audit_file_that_cannot_be_written_still_reports_what_landed() {
    let store: Shared = Arc::default();
    let url = start(Arc::clone(&store));
    let dir = tempfile::tempdir().expect("a temporary folder");
    // A regular file where the audit file's folder should be.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "").expect("write a file");
    let audit = blocker.join("audit.jsonl").to_string_lossy().into_owned();
    let (out, err, code) = run(&["apply", "--auto-approve", "--live", &url, "--audit", &audit]);
    assert_eq!(code, 1, "{out}{err}");
    // Groups are created first: they landed before the audit file was first written.
    let groups = lock(&store).groups.len();
    assert!(groups > 0, "something landed");
    assert!(
        err.contains("landed, but cannot write the audit file"),
        "{err}"
    );
    assert!(
        err.contains(&format!("applied ({groups}):")) && err.contains("group.create"),
        "what landed is listed: {err}"
    );
}

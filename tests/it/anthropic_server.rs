//! A stand-in for the Anthropic Admin API, for contract tests: a thread serving HTTP/1.1
//! on 127.0.0.1 from an in-memory org, with the documented request and response bodies
//! (`/v1/organizations/me`, users and invites with their roles, RBAC roles with their
//! `source` and permissions, groups and their members with emails, spend limits of every
//! scope), both pagination schemes at two items a page (or `page`), the documented error
//! bodies, header checks (the beta header each endpoint documents), 429s on demand, and an
//! optional latency per answer (connections are served at once, so parallel reads overlap).
//! The HTTP itself is `http_standin.rs`.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http_standin::{Request, decode, listen, read_request, respond};

/// The key the stand-in accepts.
pub const KEY: &str = "sk-ant-admin01-STANDIN-5ecret-key-value";
/// Items per page, whatever the client asks: every list takes several pages.
const PAGE: usize = 2;

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone)]
pub struct Invite {
    pub id: String,
    pub email: String,
    pub role: String,
    pub status: String,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub scim: bool,
    pub role_ids: Vec<String>,
    pub members: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub custom: bool,
    pub permissions: Vec<String>,
}

/// A spend limit: `scope` is `user`, `rbac_group`, `seat_tier` or `organization`, `target`
/// the user id, group id, tier, or empty.
#[derive(Debug, Clone)]
pub struct Spend {
    pub id: String,
    pub scope: String,
    pub target: String,
    pub period: String,
    pub amount: Option<String>,
    /// `is_enabled` (false only for an `organization` limit with extra usage off).
    pub enabled: bool,
}

impl Spend {
    /// A limit of `scope` on `target` in cents.
    pub fn new(id: &str, scope: &str, target: &str, period: &str, cents: &str) -> Spend {
        Spend {
            id: id.into(),
            scope: scope.into(),
            target: target.into(),
            period: period.into(),
            amount: Some(cents.into()),
            enabled: true,
        }
    }

    fn json(&self) -> Value {
        let scope = match self.scope.as_str() {
            "user" => json!({"type": "user", "user_id": self.target}),
            "rbac_group" => json!({"type": "rbac_group", "rbac_group_id": self.target}),
            "seat_tier" => json!({"type": "seat_tier", "seat_tier": self.target}),
            other => json!({"type": other}),
        };
        json!({"type": "spend_limit", "id": self.id, "amount": self.amount, "currency": "USD",
               "created_at": "2025-01-01T00:00:00Z", "is_enabled": self.enabled,
               "period": self.period, "scope": scope})
    }
}

/// The beta header the reference documents for RBAC group and role requests.
pub const BETA_USER_MANAGEMENT: &str = "ce-user-management-2026-07-13";
/// The beta header the reference documents for the spend-limit list.
pub const BETA_SPEND_READS: &str = "spend-limit-reads-2026-09-26";

/// A change made to the org when a request arrives (another admin or apply at work):
/// `METHOD path` (no query), how many such requests to let through first, the change.
pub type Hook = (String, usize, fn(&mut Org));

/// One request: (time, method, path with query, headers lowercased).
pub type Seen = (Instant, String, String, Vec<(String, String)>);

/// The in-memory org and what the stand-in saw.
#[derive(Debug, Default)]
pub struct Org {
    pub name: String,
    pub users: Vec<User>,
    pub invites: Vec<Invite>,
    pub groups: Vec<Group>,
    pub roles: Vec<Role>,
    pub spend: Vec<Spend>,
    next: u64,
    /// Answer the next N requests with 429 and `retry-after: 0`.
    pub throttle: usize,
    /// Answer 400 to `POST /v1/organizations/invites` for this email.
    pub refuse_invite: Option<String>,
    /// (time, method, path with query, headers lowercased) of every request.
    pub log: Vec<Seen>,
    /// Carry out the next `POST` to exactly this path, then close the connection
    /// without answering (the answer is lost, the change landed).
    pub drop_after: Option<String>,
    /// Lists with `next_page` cursors start over instead of ending: the last page points
    /// back to the first.
    pub loop_pages: bool,
    /// Run once, just before answering a request whose `METHOD path` (no query) is the
    /// hook's, once the given number of them went through.
    pub before: Option<Hook>,
    /// Added to every answer (after the org is read or changed, outside its lock), as a
    /// network far away would: requests sent at once wait it out together.
    pub latency: Duration,
    /// Items per page at most (the `limit` asked is capped to it); 2 when zero, so the
    /// tests page through every list.
    pub page: usize,
    /// Requests being answered now, and the most at once so far.
    pub in_flight: usize,
    pub peak: usize,
    /// Rows of `GET /v1/organizations/analytics/users` (Enterprise Analytics API), as the
    /// API sends them for the requested date range.
    pub analytics: Vec<Value>,
}

impl Org {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_{:04}", self.next)
    }

    /// The id of the user with `email`.
    pub fn user_id(&self, email: &str) -> String {
        self.users[index(&self.users, "user", email, |u| &u.email)]
            .id
            .clone()
    }

    /// The group named `name`.
    pub fn group(&mut self, name: &str) -> &mut Group {
        let i = index(&self.groups, "group", name, |g| &g.name);
        &mut self.groups[i]
    }

    /// The invitee accepts: a user with the invite's role and groups.
    pub fn accept(&mut self, email: &str) {
        let invite = self
            .invites
            .iter_mut()
            .find(|i| i.email == email && i.status == "pending")
            .unwrap_or_else(|| panic!("no pending invite for {email}"));
        invite.status = "accepted".into();
        let (role, groups) = (invite.role.clone(), invite.groups.clone());
        let id = self.add_user(email, &role);
        for group in &mut self.groups {
            if groups.contains(&group.id) {
                group.members.push(id.clone());
            }
        }
    }

    /// Set the spend limit of the group `group` (a claude.ai-only change).
    pub fn group_limit(&mut self, group: &str, period: &str, cents: &str) {
        let group_id = self.group(group).id.clone();
        let id = self.id("spl");
        self.spend
            .push(Spend::new(&id, "rbac_group", &group_id, period, cents));
    }

    /// A user with API role `role`, added directly.
    pub fn add_user(&mut self, email: &str, role: &str) -> String {
        let id = self.id("user");
        self.users.push(User {
            id: id.clone(),
            email: email.into(),
            name: email.split('@').next().unwrap_or_default().into(),
            role: role.into(),
        });
        id
    }

    /// A group of direct source named `name` with the users `members` (by email).
    pub fn add_group(&mut self, name: &str, members: &[&str]) -> String {
        let id = self.id("rbac_group");
        let members = members.iter().map(|m| self.user_id(m)).collect();
        self.groups.push(Group {
            id: id.clone(),
            name: name.into(),
            scim: false,
            role_ids: Vec::new(),
            members,
        });
        id
    }

    /// The user with `email`.
    pub fn user(&mut self, email: &str) -> &mut User {
        let i = index(&self.users, "user", email, |u| &u.email);
        &mut self.users[i]
    }

    /// The custom or built-in role named `name`.
    pub fn role(&mut self, name: &str) -> &mut Role {
        let i = index(&self.roles, "role", name, |r| &r.name);
        &mut self.roles[i]
    }

    /// Grant the custom role `role` to the group `group` (a console-only change).
    pub fn grant(&mut self, group: &str, role: &str) {
        let role_id = self.role(role).id.clone();
        self.group(group).role_ids.push(role_id);
    }
}

/// Where in `items` the one whose `key` is `wanted` is; the test fails naming the `what`
/// that is missing.
fn index<T>(items: &[T], what: &str, wanted: &str, key: impl Fn(&T) -> &String) -> usize {
    items
        .iter()
        .position(|item| key(item) == wanted)
        .unwrap_or_else(|| panic!("no {what} {wanted}"))
}

/// A running stand-in.
pub struct StandIn {
    pub url: String,
    org: Arc<Mutex<Org>>,
}

impl StandIn {
    /// An Enterprise org with only its primary owner, one custom role `analyst` (chat, api)
    /// and one built-in role.
    pub fn start() -> StandIn {
        let mut org = Org {
            name: "Acme Corp".into(),
            ..Org::default()
        };
        let owner = org.id("user");
        org.users.push(User {
            id: owner,
            email: "ceo@acme.com".into(),
            name: "Dana".into(),
            role: "primary_owner".into(),
        });
        let builtin = org.id("rbac_role");
        org.roles.push(Role {
            id: builtin,
            name: "Member".into(),
            custom: false,
            permissions: vec!["chat".into()],
        });
        let analyst = org.id("rbac_role");
        org.roles.push(Role {
            id: analyst,
            name: "analyst".into(),
            custom: true,
            permissions: vec!["chat".into(), "api".into(), "permission_view_usage".into()],
        });
        let org = Arc::new(Mutex::new(org));
        let shared = Arc::clone(&org);
        let address = listen(move |stream| serve(&stream, &shared));
        let url = format!("http://{address}");
        StandIn { url, org }
    }

    /// The org, to inspect or change directly (drift, console-only changes).
    pub fn org(&self) -> MutexGuard<'_, Org> {
        self.org.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn serve(stream: &TcpStream, org: &Mutex<Org>) {
    let Some(request) = read_request(stream) else {
        return;
    };
    let Request {
        method,
        target,
        headers,
        body,
    } = request;
    let ((status, extra, answer), latency) = {
        let mut org = org.lock().unwrap_or_else(|e| e.into_inner());
        org.in_flight += 1;
        org.peak = org.peak.max(org.in_flight);
        org.log.push((
            Instant::now(),
            method.clone(),
            target.clone(),
            headers.clone(),
        ));
        let bare = target.split('?').next().unwrap_or_default();
        if let Some((key, skip, hook)) = org.before.take() {
            if key != format!("{method} {bare}") {
                org.before = Some((key, skip, hook));
            } else if skip > 0 {
                org.before = Some((key, skip - 1, hook));
            } else {
                hook(&mut org);
            }
        }
        let answer = handle(&mut org, &method, &target, &headers, &body);
        if method == "POST" && org.drop_after.as_deref() == Some(target.as_str()) {
            org.drop_after = None;
            org.in_flight -= 1;
            return;
        }
        (answer, org.latency)
    };
    std::thread::sleep(latency);
    org.lock().unwrap_or_else(|e| e.into_inner()).in_flight -= 1;
    respond(
        stream,
        status,
        &extra,
        "application/json",
        &answer.to_string(),
    );
}

fn error(status: u16, kind: &str, message: &str) -> (u16, String, Value) {
    (
        status,
        String::new(),
        json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

/// The refusal of a change to a group that SCIM provisions.
fn read_only() -> (u16, String, Value) {
    error(
        403,
        "permission_error",
        "SCIM-provisioned groups are read-only",
    )
}

fn ok(value: Value) -> (u16, String, Value) {
    (200, String::new(), value)
}

/// Items a page: the `limit` asked (20 when not), at most `page` (at most [`PAGE`] when
/// zero).
fn limit(query: &BTreeMap<String, String>, page: usize) -> usize {
    query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .min(if page == 0 { PAGE } else { page })
}

/// `data`/`has_more`/`first_id`/`last_id` after `after_id`.
fn by_id(items: Vec<Value>, query: &BTreeMap<String, String>, page: usize) -> Value {
    let limit = limit(query, page);
    let start = query
        .get("after_id")
        .and_then(|after| items.iter().position(|i| i["id"] == after.as_str()))
        .map_or(0, |p| p + 1);
    let page: Vec<Value> = items.iter().skip(start).take(limit).cloned().collect();
    json!({
        "data": page,
        "has_more": start + page.len() < items.len(),
        "first_id": page.first().map(|i| i["id"].clone()),
        "last_id": page.last().map(|i| i["id"].clone()),
    })
}

/// `data`/`has_more`/`next_page` from an opaque `page` token.
fn by_page(
    items: Vec<Value>,
    query: &BTreeMap<String, String>,
    looping: bool,
    page: usize,
) -> Value {
    let limit = limit(query, page);
    // Opaque to the client, with characters that need encoding in a query string.
    let start = query
        .get("page")
        .and_then(|t| t.strip_prefix("pg+/="))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let page: Vec<Value> = items.iter().skip(start).take(limit).cloned().collect();
    let more = start + page.len() < items.len();
    if looping {
        let next = if more { start + page.len() } else { 0 };
        return json!({"data": page, "has_more": true, "next_page": format!("pg+/={next}")});
    }
    json!({
        "data": page,
        "has_more": more,
        "next_page": more.then(|| format!("pg+/={}", start + page.len())),
    })
}

fn handle(
    org: &mut Org,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &Value,
) -> (u16, String, Value) {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if header("x-api-key") != Some(KEY) {
        return error(401, "authentication_error", "invalid x-api-key");
    }
    if header("anthropic-version") != Some("2023-06-01") {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version header is required",
        );
    }
    let bare = target.split('?').next().unwrap_or_default();
    let wanted_beta = if bare.starts_with("/v1/organizations/rbac_") {
        Some(BETA_USER_MANAGEMENT)
    } else if method == "GET" && bare == "/v1/organizations/spend_limits" {
        Some(BETA_SPEND_READS)
    } else {
        None
    };
    let beta = header("anthropic-beta").unwrap_or_default();
    if let Some(wanted) = wanted_beta
        && !beta.split(',').any(|b| b.trim() == wanted)
    {
        return error(
            400,
            "invalid_request_error",
            &format!("this endpoint is in beta: send `anthropic-beta: {wanted}`"),
        );
    }
    if org.throttle > 0 {
        org.throttle -= 1;
        let (status, _, body) = error(429, "rate_limit_error", "Number of requests exceeded");
        return (status, "retry-after: 0\r\n".into(), body);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query: BTreeMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect();
    let segments: Vec<&str> = path
        .trim_start_matches("/v1/organizations")
        .split('/')
        .collect();
    let user_json = |u: &User| {
        json!({"type": "user", "id": u.id, "email": u.email, "name": u.name, "role": u.role,
               "added_at": "2025-01-01T00:00:00Z"})
    };
    match (method, segments.as_slice()) {
        ("GET", ["", "analytics", "users"]) => {
            // Date-range mode: `starting_date` with an exclusive `ending_date`, no `date`.
            let day = |name: &str| {
                query
                    .get(name)
                    .filter(|d| d.len() == 10 && d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-')
            };
            let (Some(start), Some(end)) = (day("starting_date"), day("ending_date")) else {
                return error(
                    400,
                    "invalid_request_error",
                    "starting_date and ending_date are required",
                );
            };
            if start.as_str() < "2026-01-01" || start >= end {
                return error(
                    400,
                    "invalid_request_error",
                    "starting_date must be on or after 2026-01-01 and before ending_date",
                );
            }
            if query
                .get("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .is_none_or(|l| l > 1000)
            {
                return error(400, "invalid_request_error", "limit must be at most 1000");
            }
            ok(by_page(org.analytics.clone(), &query, false, org.page))
        }
        ("GET", ["", "me"]) => ok(json!({"type": "organization", "id": "org_1", "name": org.name})),
        ("GET", ["", "users"]) => ok(by_id(
            org.users.iter().map(user_json).collect(),
            &query,
            org.page,
        )),
        ("GET", ["", "users", id]) => match org.users.iter().find(|u| u.id == *id) {
            Some(user) => ok(user_json(user)),
            None => error(404, "not_found_error", "user not found"),
        },
        ("POST", ["", "users", id]) => {
            let role = body["role"].as_str().unwrap_or_default().to_owned();
            if !matches!(role.as_str(), "user" | "managed") {
                return error(400, "invalid_request_error", "role is not writable");
            }
            match org.users.iter_mut().find(|u| u.id == *id) {
                Some(user) => {
                    user.role = role;
                    let user = user.clone();
                    ok(user_json(&user))
                }
                None => error(404, "not_found_error", "user not found"),
            }
        }
        ("DELETE", ["", "users", id]) => {
            let before = org.users.len();
            org.users.retain(|u| u.id != *id);
            if org.users.len() == before {
                return error(404, "not_found_error", "user not found");
            }
            for group in &mut org.groups {
                group.members.retain(|m| m != id);
            }
            org.spend
                .retain(|s| !(s.scope == "user" && s.target == *id));
            ok(json!({"type": "user_deleted", "id": id}))
        }
        ("GET", ["", "invites"]) => {
            let items = org.invites.iter().map(invite_json).collect();
            ok(by_id(items, &query, org.page))
        }
        ("GET", ["", "invites", id]) => match org.invites.iter().find(|i| i.id == *id) {
            Some(invite) => ok(invite_json(invite)),
            None => error(404, "not_found_error", "invite not found"),
        },
        ("POST", ["", "invites"]) => {
            let email = body["email"].as_str().unwrap_or_default().to_owned();
            let role = body["role"].as_str().unwrap_or_default().to_owned();
            if org.refuse_invite.as_deref() == Some(email.as_str()) {
                return error(400, "invalid_request_error", "email domain is not allowed");
            }
            if !matches!(role.as_str(), "user" | "managed") {
                return error(400, "invalid_request_error", "role is not writable");
            }
            let groups: Vec<String> = body["rbac_group_ids"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|g| g.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if groups
                .iter()
                .any(|g| !org.groups.iter().any(|x| x.id == *g))
            {
                return error(404, "not_found_error", "rbac group not found");
            }
            let id = org.id("invite");
            org.invites.push(Invite {
                id: id.clone(),
                email: email.clone(),
                role: role.clone(),
                status: "pending".into(),
                groups,
            });
            ok(
                json!({"type": "invite", "id": id, "email": email, "role": role, "status": "pending"}),
            )
        }
        ("DELETE", ["", "invites", id]) => {
            let before = org.invites.len();
            org.invites.retain(|i| i.id != *id);
            if org.invites.len() == before {
                return error(404, "not_found_error", "invite not found");
            }
            ok(json!({"type": "invite_deleted", "id": id}))
        }
        ("GET", ["", "rbac_roles"]) => {
            let items = org
                .roles
                .iter()
                .map(|r| {
                    let source = if r.custom { "custom" } else { "built_in" };
                    json!({"type": "rbac_role", "id": r.id, "display_name": r.name, "name": r.name,
                           "source": {"type": source}, "created_at": "2025-01-01T00:00:00Z",
                           "updated_at": "2025-01-01T00:00:00Z"})
                })
                .collect();
            ok(by_page(items, &query, org.loop_pages, org.page))
        }
        ("GET", ["", "rbac_roles", id, "permissions"]) => {
            let Some(role) = org.roles.iter().find(|r| r.id == *id) else {
                return error(404, "not_found_error", "role not found");
            };
            let items = role
                .permissions
                .iter()
                .map(|p| json!({"type": "rbac_role_permission", "action": p, "resource": {"type": "organization"}}))
                .collect();
            ok(by_page(items, &query, org.loop_pages, org.page))
        }
        ("GET", ["", "rbac_groups"]) => {
            let items = org.groups.iter().map(group_json).collect();
            ok(by_page(items, &query, org.loop_pages, org.page))
        }
        ("GET", ["", "rbac_groups", id]) => match org.groups.iter().find(|g| g.id == *id) {
            Some(group) => ok(group_json(group)),
            None => error(404, "not_found_error", "rbac group not found"),
        },
        ("POST", ["", "rbac_groups"]) => {
            let name = body["name"].as_str().unwrap_or_default().to_owned();
            if name.is_empty() {
                return error(400, "invalid_request_error", "name: field required");
            }
            let id = org.id("rbac_group");
            org.groups.push(Group {
                id: id.clone(),
                name: name.clone(),
                scim: false,
                role_ids: Vec::new(),
                members: Vec::new(),
            });
            ok(
                json!({"type": "rbac_group", "id": id, "name": name, "role_ids": [], "source_type": "direct"}),
            )
        }
        ("DELETE", ["", "rbac_groups", id]) => match org.groups.iter().position(|g| g.id == *id) {
            Some(i) if org.groups[i].scim => read_only(),
            Some(i) => {
                org.groups.remove(i);
                ok(json!({"type": "rbac_group_deleted", "id": id}))
            }
            None => error(404, "not_found_error", "rbac group not found"),
        },
        ("GET", ["", "rbac_groups", id, "members"]) => {
            let Some(group) = org.groups.iter().find(|g| g.id == *id) else {
                return error(404, "not_found_error", "rbac group not found");
            };
            let items = group
                .members
                .iter()
                .filter_map(|m| org.users.iter().find(|u| u.id == *m))
                .map(|u| {
                    json!({"type": "rbac_group_member", "rbac_group_id": id, "user_id": u.id,
                                "email": u.email, "created_at": "2025-01-01T00:00:00Z"})
                })
                .collect();
            ok(by_page(items, &query, org.loop_pages, org.page))
        }
        ("POST", ["", "rbac_groups", id, "members"]) => {
            let user = body["user_id"].as_str().unwrap_or_default().to_owned();
            if !org.users.iter().any(|u| u.id == user) {
                return error(404, "not_found_error", "user not found");
            }
            match org.groups.iter_mut().find(|g| g.id == *id) {
                Some(g) if g.scim => error(
                    403,
                    "permission_error",
                    "SCIM-provisioned groups are read-only",
                ),
                Some(g) => {
                    if !g.members.contains(&user) {
                        g.members.push(user.clone());
                    }
                    ok(json!({"type": "rbac_group_member", "rbac_group_id": id, "user_id": user}))
                }
                None => error(404, "not_found_error", "rbac group not found"),
            }
        }
        ("DELETE", ["", "rbac_groups", id, "members", user]) => {
            match org.groups.iter_mut().find(|g| g.id == *id) {
                Some(g) if g.scim => error(
                    403,
                    "permission_error",
                    "SCIM-provisioned groups are read-only",
                ),
                Some(g) => {
                    g.members.retain(|m| m != user);
                    ok(json!({"type": "rbac_group_member_deleted", "user_id": user}))
                }
                None => error(404, "not_found_error", "rbac group not found"),
            }
        }
        ("GET", ["", "spend_limits"]) => {
            // "Grouped by scope type, in the order organization, seat_tier, rbac_group,
            // organization_service, user."
            let order = [
                "organization",
                "seat_tier",
                "rbac_group",
                "organization_service",
                "user",
            ];
            let mut limits: Vec<&Spend> = org.spend.iter().collect();
            limits.sort_by_key(|s| order.iter().position(|o| *o == s.scope));
            let items = limits.into_iter().map(Spend::json).collect();
            ok(by_page(items, &query, org.loop_pages, org.page))
        }
        ("POST", ["", "spend_limits"]) => {
            let amount = body["amount"].as_str().unwrap_or_default().to_owned();
            let user = body["scope"]["user_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let period = body["period"].as_str().unwrap_or("monthly").to_owned();
            if body["scope"]["type"] != "user" || amount.parse::<u64>().is_err() {
                return error(400, "invalid_request_error", "invalid spend limit");
            }
            if !org.users.iter().any(|u| u.id == user) {
                return error(404, "not_found_error", "user not found");
            }
            let existing = org
                .spend
                .iter()
                .position(|s| s.scope == "user" && s.target == user && s.period == period);
            let id = match existing {
                Some(i) => {
                    org.spend[i].amount = Some(amount.clone());
                    org.spend[i].id.clone()
                }
                None => {
                    let id = org.id("spl");
                    org.spend
                        .push(Spend::new(&id, "user", &user, &period, &amount));
                    id
                }
            };
            ok(
                json!({"type": "spend_limit", "id": id, "amount": amount, "period": period,
                      "scope": {"type": "user", "user_id": user}}),
            )
        }
        ("DELETE", ["", "spend_limits", id]) => {
            if org.spend.iter().any(|s| s.id == *id && s.scope != "user") {
                return error(
                    400,
                    "invalid_request_error",
                    "seat-tier, group and organization limits cannot be deleted here",
                );
            }
            let before = org.spend.len();
            org.spend.retain(|s| s.id != *id);
            if org.spend.len() == before {
                return error(404, "not_found_error", "spend limit not found");
            }
            ok(json!({"type": "spend_limit_deleted", "id": id}))
        }
        _ => error(404, "not_found_error", &format!("no route {method} {path}")),
    }
}

fn invite_json(i: &Invite) -> Value {
    json!({"type": "invite", "id": i.id, "email": i.email, "role": i.role,
           "status": i.status, "rbac_group_ids": i.groups,
           "invited_at": "2025-01-01T00:00:00Z", "expires_at": "2025-02-01T00:00:00Z"})
}

fn group_json(g: &Group) -> Value {
    json!({"type": "rbac_group", "id": g.id, "name": g.name, "role_ids": g.role_ids,
           "source_type": if g.scim { "scim" } else { "direct" },
           "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"})
}

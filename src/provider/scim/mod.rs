//! `scim+http(s)://HOST:PORT/PATH`: a SCIM 2.0 service provider (RFC 7643/7644), driven
//! the way an identity provider (Okta, Entra ID) drives one.
//!
//! - Discovery first: `/ServiceProviderConfig` (patch, etag, filter), `/ResourceTypes` and
//!   `/Schemas` (orgplan's extension schemas, see `schema/scim/`). Only what the server
//!   advertises is used; what it cannot hold is `unreadable` and listed as unverifiable.
//! - Reads page with `startIndex`/`count` until `totalResults`: the first page says how
//!   many there are, the rest are read up to `parallelism` at a time and joined in page
//!   order. Groups are listed with their members (`attributes=members` when the default
//!   listing leaves them out); only a server that lists no members at all is asked for
//!   each group on its own, again `parallelism` at a time.
//! - Writes: POST to create (409 `uniqueness` → adopt the existing record), PUT of the
//!   re-read resource for updates, PATCH for `active` and memberships, DELETE to remove.
//!   Before each change the resource is re-read; if it no longer matches the state the
//!   apply started from, or the server answers 412 to `If-Match`, the apply stops with a
//!   stale message instead of overwriting.
//! - Batching (RFC 7644 §3.5.2, see [`members`]): a new group is created with its members
//!   that already exist in the POST; every membership add and remove of one group is one
//!   PATCH (several operations, many values), split only to stay within the server's
//!   advertised limits. A refused member is found by splitting the batch, so the report
//!   says exactly which members landed.
//! - Operations of one kind run on up to `parallelism` threads, kinds one after the other
//!   in the documented execution order (docs/plan.md). Each applied operation is appended
//!   to a local JSONL audit file (a SCIM server keeps no audit trail of ours).
//! - The bearer token comes from `ORGPLAN_SCIM_TOKEN` and only ever travels as a secret
//!   header of the shared HTTP client.

pub mod map;
mod members;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::http::{Client, HttpError, Method, Response, Secret};
use super::{Applied, Capabilities, Provider, ProviderError};
use crate::diff::{OpKind, Operation};
use crate::live::{LiveState, LiveStatus};
use crate::provider::contract::{ApplyError, AuditRecord, Batch, by_provider};

/// Environment variable holding the bearer token.
pub const TOKEN_VAR: &str = "ORGPLAN_SCIM_TOKEN";

/// Start of the reason of an operation whose answer was lost.
const LOST: &str = "no answer, the request may have landed";

/// Page size asked for when listing (a server may answer with fewer per page: the pages
/// that follow are then asked at the size it answered).
const PAGE: usize = 1000;

/// Reads and writes at once when not told otherwise (`--parallelism`).
pub const DEFAULT_PARALLELISM: usize = 8;

/// How a user leaves the org.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Deprovision {
    /// DELETE the user.
    #[default]
    Delete,
    /// PATCH `active=false`: the record stays, deactivated.
    Deactivate,
}

/// Settings of a SCIM apply.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests in flight at once: pages and group reads, operations of one kind.
    pub parallelism: usize,
    /// DELETE or deactivate removed users.
    pub deprovision: Deprovision,
    /// The local JSONL audit file.
    pub audit: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parallelism: DEFAULT_PARALLELISM,
            deprovision: Deprovision::Delete,
            audit: PathBuf::from(".orgplan/audit.jsonl"),
        }
    }
}

/// Why the SCIM provider could not be built, read or written.
#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    /// No answer.
    #[error("{0}")]
    Http(#[from] HttpError),
    /// A create or an add whose answer was lost: it may have landed.
    #[error("{LOST}: {0}")]
    Lost(String),
    /// An answer that is not success.
    #[error("SCIM {method} {path} answered {status}{}{hint}", detail_of(.detail))]
    Status {
        /// Method.
        method: &'static str,
        /// Path below the base URL, without query.
        path: String,
        /// HTTP status.
        status: u16,
        /// The server's `detail`, if any.
        detail: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// A success answer in a shape SCIM does not allow.
    #[error("SCIM server at `{base}`: {detail}")]
    Shape {
        /// The base URL.
        base: String,
        /// What is wrong.
        detail: String,
    },
    /// The audit file could not be written.
    #[error("cannot write the audit file `{path}`: {source}")]
    Audit {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

fn detail_of(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// What the server said it supports.
#[derive(Debug, Clone, Default)]
struct Discovery {
    patch: bool,
    /// `bulk.maxOperations`, when advertised: also taken as the most values one PATCH carries.
    max_operations: Option<usize>,
    /// `bulk.maxPayloadSize` (bytes), when advertised.
    max_payload: Option<usize>,
    etag: bool,
    filter: bool,
    users: String,
    groups: String,
    user_ext: bool,
    group_ext: bool,
    roles: Option<String>,
    org: Option<String>,
}

/// The SCIM provider.
#[derive(Debug)]
pub struct ScimProvider {
    uri: String,
    client: Client,
    found: Discovery,
    options: Options,
    /// Requests in flight, at most `options.parallelism`, whichever thread sends.
    slots: super::backoff::Slots,
}

impl ScimProvider {
    /// Connect to the service provider `uri` names and discover what it supports.
    pub fn connect(uri: &str, options: Options) -> Result<Self, ScimError> {
        let base = uri.strip_prefix("scim+").unwrap_or(uri);
        let base = super::http::redact_url(base);
        let headers = std::env::var(TOKEN_VAR)
            .ok()
            .filter(|t| !t.is_empty())
            .map(|token| {
                vec![(
                    "authorization".to_owned(),
                    Secret::new(format!("Bearer {token}")),
                )]
            })
            .unwrap_or_default();
        let client = Client::with_network(
            &base,
            headers,
            super::http::Policy::from_env(),
            &super::http::Network::from_env(),
        )?;
        let mut provider = ScimProvider {
            uri: super::redact(uri),
            client,
            found: Discovery::default(),
            slots: super::backoff::Slots::new(options.parallelism),
            options: Options {
                parallelism: options.parallelism.max(1),
                ..options
            },
        };
        provider.found = provider.discover()?;
        Ok(provider)
    }

    fn discover(&self) -> Result<Discovery, ScimError> {
        // Three independent reads, asked at once.
        let (config, schemas, types) = std::thread::scope(|scope| {
            let schemas = scope.spawn(|| self.list("/Schemas", ""));
            let types = scope.spawn(|| self.list("/ResourceTypes", ""));
            let config = self.get("/ServiceProviderConfig");
            (config, joined(schemas), joined(types))
        });
        let (config, schemas, types) = (config?, schemas?, types?);
        let supported =
            |key: &str| config.get(key).and_then(|f| f.get("supported")) == Some(&json!(true));
        let schemas: BTreeSet<String> = schemas
            .iter()
            .filter_map(|s| s.get("id")?.as_str().map(str::to_owned))
            .collect();
        let by_schema = |schema: &str| {
            types
                .iter()
                .find(|t| t.get("schema").and_then(Value::as_str) == Some(schema))
        };
        let endpoint = |t: &Value| t.get("endpoint").and_then(Value::as_str).map(str::to_owned);
        let extends = |t: Option<&Value>, ext: &str| {
            schemas.contains(ext)
                && t.and_then(|t| t.get("schemaExtensions"))
                    .and_then(Value::as_array)
                    .is_some_and(|list| {
                        list.iter()
                            .any(|e| e.get("schema").and_then(Value::as_str) == Some(ext))
                    })
        };
        let users = by_schema(map::USER);
        let groups = by_schema(map::GROUP);
        let own = |schema: &str| {
            by_schema(schema)
                .filter(|_| schemas.contains(schema))
                .and_then(endpoint)
        };
        let bulk = |key: &str| {
            config
                .get("bulk")
                .and_then(|b| b.get(key))
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        Ok(Discovery {
            patch: supported("patch"),
            max_operations: bulk("maxOperations"),
            max_payload: bulk("maxPayloadSize"),
            etag: supported("etag"),
            filter: supported("filter"),
            users: users.and_then(endpoint).unwrap_or_else(|| "/Users".into()),
            groups: groups
                .and_then(endpoint)
                .unwrap_or_else(|| "/Groups".into()),
            user_ext: extends(users, map::USER_EXT),
            group_ext: extends(groups, map::GROUP_EXT),
            roles: own(map::ROLE),
            org: own(map::ORG),
        })
    }

    /// Send a request; `Err` for no answer, the response (any status) otherwise.
    fn send(
        &self,
        method: Method,
        path: &str,
        if_match: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Response, ScimError> {
        let mut extra = vec![("accept", "application/scim+json")];
        if let (Some(etag), true) = (if_match, self.found.etag) {
            extra.push(("if-match", etag));
        }
        // A create or an add that lost its answer may have landed: the operation is
        // re-checked and tried again from the top (see `Run::attempt`), never replayed.
        let _slot = self.slots.take();
        if matches!(method, Method::Post | Method::Patch) {
            return self
                .client
                .send_no_replay(method, path, &extra, body)
                .map_err(|e| ScimError::Lost(e.to_string()));
        }
        Ok(self.client.send(method, path, &extra, body)?)
    }

    fn failed(&self, method: Method, path: &str, response: &Response) -> ScimError {
        // A server may echo the request's headers, the token with them.
        let detail = response
            .json()
            .ok()
            .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
            .map(|d| self.client.scrub(&d))
            .unwrap_or_default();
        let hint = match response.status {
            401 | 403 => " (set `ORGPLAN_SCIM_TOKEN` to a bearer token the server accepts)",
            _ => "",
        };
        ScimError::Status {
            method: match method {
                Method::Get => "GET",
                Method::Post => "POST",
                Method::Put => "PUT",
                Method::Patch => "PATCH",
                Method::Delete => "DELETE",
            },
            path: path.split('?').next().unwrap_or_default().to_owned(),
            status: response.status,
            detail,
            hint,
        }
    }

    fn get(&self, path: &str) -> Result<Value, ScimError> {
        let response = self.send(Method::Get, path, None, None)?;
        if !response.ok() {
            return Err(self.failed(Method::Get, path, &response));
        }
        Ok(response.json()?)
    }

    /// Every resource at `endpoint`, page after page until `totalResults` is reached.
    /// The first page gives the total and the server's page size; the pages after it are
    /// asked `parallelism` at a time and joined in page order, so the result does not
    /// depend on which answer came first. A page with nothing not seen before (a server
    /// that ignores `startIndex`) stops the read with an error instead of paging forever;
    /// a short page (the list changed while being read) sends the read on one page at a
    /// time from there.
    fn list(&self, endpoint: &str, query: &str) -> Result<Vec<Value>, ScimError> {
        let sep = if query.is_empty() { "" } else { "&" };
        let page_at = |start: &usize| -> Result<Vec<Value>, ScimError> {
            let page = self.get(&format!(
                "{endpoint}?{query}{sep}startIndex={start}&count={PAGE}"
            ))?;
            Ok(resources(&page))
        };
        let first = self.get(&format!("{endpoint}?{query}{sep}startIndex=1&count={PAGE}"))?;
        let total = first.get("totalResults").and_then(Value::as_u64);
        let mut out = resources(&first);
        let size = out.len();
        let mut seen: BTreeSet<String> = out.iter().map(Value::to_string).collect();
        let mut start = 1 + size;
        let mut last = size;
        loop {
            let more = match total {
                Some(total) => (out.len() as u64) < total,
                // No `totalResults`: a full page may have a successor.
                None => last == PAGE,
            };
            if last == 0 || !more {
                return Ok(out);
            }
            // How many pages to ask at once: as many as remain, up to `parallelism`; one
            // at a time when the total is unknown or the pages came out uneven.
            let wave = match total {
                Some(total) if last == size => {
                    let left = usize::try_from(total).unwrap_or(usize::MAX) - out.len();
                    left.div_ceil(size).clamp(1, self.options.parallelism)
                }
                _ => 1,
            };
            let starts: Vec<usize> = (0..wave).map(|i| start + i * last).collect();
            let pages = super::backoff::bounded_map(&starts, wave, page_at);
            for page in pages {
                let items = page?;
                let got = items.len();
                let fresh = items
                    .iter()
                    .filter(|item| seen.insert(item.to_string()))
                    .count();
                if got > 0 && fresh == 0 {
                    return Err(ScimError::Shape {
                        base: self.client.base().to_owned(),
                        detail: format!(
                            "{endpoint} answered startIndex={start} with resources it had already listed: it ignores `startIndex`, so its list cannot be read to the end"
                        ),
                    });
                }
                out.extend(items);
                start += got;
                let short = got < last;
                last = got;
                if short {
                    break;
                }
            }
        }
    }

    /// The resources at `endpoint` whose `attribute` equals `value`.
    fn find(&self, endpoint: &str, attribute: &str, value: &str) -> Result<Vec<Value>, ScimError> {
        if !self.found.filter {
            // Without filters, list everything and compare here.
            let all = self.list(endpoint, "")?;
            return Ok(all
                .into_iter()
                .filter(|r| {
                    r.get(attribute)
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.eq_ignore_ascii_case(value))
                })
                .collect());
        }
        let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
        let filter = encode(&format!("{attribute} eq \"{quoted}\""));
        self.list(endpoint, &format!("filter={filter}"))
    }

    fn read_state(&self) -> Result<LiveState, ScimError> {
        let found = &self.found;
        let mut state = LiveState::default();
        let mut emails = BTreeMap::new();
        // Users, groups (with their members), roles and the org are independent lists:
        // all read at once, within the same `parallelism` slots.
        let none = || Ok(Vec::new());
        let (users, listed, roles, orgs) = std::thread::scope(|scope| {
            let groups = scope.spawn(|| self.list(&found.groups, ""));
            let roles =
                scope.spawn(|| found.roles.as_ref().map_or_else(none, |e| self.list(e, "")));
            let orgs = scope.spawn(|| found.org.as_ref().map_or_else(none, |e| self.list(e, "")));
            let users = self.list(&found.users, "");
            (users, joined(groups), joined(roles), joined(orgs))
        });
        let (users, listed, roles, orgs) = (users?, listed?, roles?, orgs?);
        for resource in users {
            if let Some((email, user)) = map::user_from_scim(&resource, found.user_ext) {
                if let Some(id) = &user.id {
                    emails.insert(id.clone(), email.clone());
                }
                state.users.insert(email, user);
            }
        }
        let members_by_id = self.group_members(&listed)?;
        for resource in &listed {
            let Some((name, mut group)) = map::group_from_scim(resource, found.group_ext) else {
                continue;
            };
            if let Some(id) = &group.id {
                group.members = members_by_id
                    .get(id)
                    .map(|members| {
                        members
                            .iter()
                            .filter_map(|m| emails.get(m.get("value")?.as_str()?).cloned())
                            .collect()
                    })
                    .unwrap_or_default();
            }
            state.groups.insert(name, group);
        }
        for resource in &roles {
            if let Some((name, role)) = map::role_from_scim(resource) {
                state.roles.insert(name, role);
            }
        }
        if let Some(endpoint) = &found.org {
            if orgs.len() > 1 {
                return Err(ScimError::Shape {
                    base: self.client.base().to_owned(),
                    detail: format!(
                        "{} holds {} org resources, expected at most one",
                        endpoint,
                        orgs.len()
                    ),
                });
            }
            state.org = orgs.first().and_then(map::org_from_scim);
        }
        Ok(state.normalized())
    }

    /// The `members` of each listed group, by id, with as few requests as the server
    /// allows. Most servers list groups with their members: then nothing more is asked (a
    /// group listed without `members` has none, RFC 7643 omits empty attributes). When no
    /// listed group has any, the server may leave them out of lists by default, so they
    /// are asked for by name (`attributes=members`); a server that still lists none is
    /// asked for each group on its own, `parallelism` at a time.
    fn group_members(&self, listed: &[Value]) -> Result<BTreeMap<String, Vec<Value>>, ScimError> {
        let members_of = |resources: &[Value]| -> BTreeMap<String, Vec<Value>> {
            resources
                .iter()
                .filter_map(|r| {
                    let id = r.get("id")?.as_str()?.to_owned();
                    let members = r.get("members")?.as_array()?.clone();
                    Some((id, members))
                })
                .collect()
        };
        let ids: Vec<String> = listed
            .iter()
            .filter_map(|r| r.get("id")?.as_str().map(str::to_owned))
            .collect();
        let found = members_of(listed);
        if !found.is_empty() || ids.is_empty() {
            return Ok(found);
        }
        let asked = members_of(&self.list(&self.found.groups, "attributes=members")?);
        if !asked.is_empty() {
            return Ok(asked);
        }
        let groups = &self.found.groups;
        let read = super::backoff::bounded_map(&ids, self.options.parallelism, |id| {
            let full = self.get(&format!("{groups}/{id}"))?;
            let members = full
                .get("members")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Ok::<_, ScimError>((id.clone(), members))
        });
        read.into_iter().collect()
    }

    fn audit(&self, records: &[AuditRecord]) -> Result<(), ScimError> {
        let path = &self.options.audit;
        let error = |source| ScimError::Audit {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(error)?;
        }
        let mut lines = Vec::new();
        for record in records {
            serde_json::to_writer(&mut lines, record).map_err(|e| error(e.into()))?;
            lines.push(b'\n');
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(error)?;
        file.write_all(&lines).map_err(error)?;
        file.sync_all().map_err(error)
    }
}

/// The result of a scoped thread; a thread that panicked reads as a lost answer.
fn joined<T>(
    handle: std::thread::ScopedJoinHandle<'_, Result<T, ScimError>>,
) -> Result<T, ScimError> {
    handle.join().unwrap_or_else(|_| {
        Err(ScimError::Http(HttpError::Body(
            "a reader thread stopped before its answer was read".to_owned(),
        )))
    })
}

/// The `Resources` of a list response.
fn resources(page: &Value) -> Vec<Value> {
    page.get("Resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Percent-encode a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Provider for ScimProvider {
    fn uri(&self) -> String {
        self.uri.clone()
    }

    fn capabilities(&self) -> Capabilities {
        let found = &self.found;
        let mut unreadable = Vec::new();
        let mut applies: BTreeSet<OpKind> = OpKind::ALL.into_iter().collect();
        // Core SCIM has no place for these; only orgplan's extension schemas do.
        if found.org.is_none() {
            unreadable.push("org".to_owned());
            applies.remove(&OpKind::OrgUpdate);
        }
        if found.roles.is_none() {
            unreadable.push("roles".to_owned());
            for kind in [OpKind::RoleCreate, OpKind::RoleUpdate, OpKind::RoleDelete] {
                applies.remove(&kind);
            }
        }
        if !found.group_ext {
            for field in ["groups.description", "groups.roles", "groups.limits"] {
                unreadable.push(field.to_owned());
            }
        }
        if !found.user_ext {
            unreadable.push("users.limits".to_owned());
        }
        Capabilities {
            applies,
            unreadable,
        }
    }

    fn read(&self) -> Result<LiveState, ProviderError> {
        Ok(self.read_state()?)
    }

    fn apply(
        &self,
        batch: &Batch<'_>,
        check: &mut dyn FnMut(&LiveState) -> Result<(), ApplyError>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Applied, ApplyError> {
        let state = self.read_state().map_err(ProviderError::from)?;
        check(&state)?;
        let todo: Vec<&Operation> = batch
            .operations
            .iter()
            .filter(|op| by_provider(op))
            .collect();
        let run = Run {
            provider: self,
            state: &state,
            ids: Mutex::new(Ids::from(&state)),
            carried: members::carried(&todo, &state),
            carried_landed: Mutex::new(BTreeSet::new()),
            created: Mutex::new(BTreeMap::new()),
        };
        let mut applied: Vec<Operation> = Vec::new();
        // Every operation that landed so far, told apart by address (two may be equal in
        // value); a member carried by its group's POST lands before its own kind comes.
        let mut done: BTreeSet<*const Operation> = BTreeSet::new();
        let mut start = 0;
        while start < todo.len() {
            let kind = todo[start].op;
            // Adds and removes of members are one phase: one PATCH per group holds both.
            let membership =
                |k: OpKind| matches!(k, OpKind::GroupAddMember | OpKind::GroupRemoveMember);
            let end = todo[start..]
                .iter()
                .position(|op| op.op != kind && !(membership(kind) && membership(op.op)))
                .map_or(todo.len(), |n| start + n);
            let phase: Vec<&Operation> = todo[start..end]
                .iter()
                .filter(|op| !done.contains(&std::ptr::from_ref(**op)))
                .copied()
                .collect();
            let (landed, failure) = if membership(kind) {
                run.memberships(&phase)
            } else {
                run.kind(&phase)
            };
            done.extend(landed.iter().map(|op| std::ptr::from_ref(*op)));
            let records: Vec<AuditRecord> = landed
                .iter()
                .map(|op| AuditRecord::landed(op, batch))
                .collect();
            // What landed is recorded before anything else can go wrong.
            let audited = self.audit(&records);
            applied.extend(landed.iter().map(|op| (*op).clone()));
            // What did not land, from here on.
            let not_landed = || -> Vec<Operation> {
                todo[start..]
                    .iter()
                    .filter(|op| !done.contains(&std::ptr::from_ref(**op)))
                    .map(|op| (*op).clone())
                    .collect()
            };
            if let Err(error) = audited {
                let Some(last) = landed.last() else {
                    return Err(ProviderError::from(error).into());
                };
                // It landed: report it as applied, and why the trail is short.
                return Err(ApplyError::Partial {
                    audit_log: Some(self.options.audit.display().to_string().into()),
                    applied,
                    op: last.op,
                    target: last.target.clone(),
                    reason: format!("landed, but {error}"),
                    remaining: not_landed(),
                });
            }
            progress(applied.len(), todo.len());
            if let Some((failed, reason)) = failure {
                let remaining = not_landed();
                return Err(ApplyError::Partial {
                    audit_log: (!applied.is_empty())
                        .then(|| self.options.audit.display().to_string().into()),
                    applied,
                    op: failed.op,
                    target: failed.target.clone(),
                    reason,
                    remaining,
                });
            }
            start = end;
        }
        Ok(Applied {
            audit_log: (!applied.is_empty()).then(|| self.options.audit.display().to_string()),
            operations: applied,
        })
    }
}

/// SCIM ids of users, groups and roles, growing as the apply creates them.
#[derive(Debug, Default)]
struct Ids {
    users: BTreeMap<String, String>,
    groups: BTreeMap<String, String>,
    roles: BTreeMap<String, String>,
}

impl From<&LiveState> for Ids {
    fn from(state: &LiveState) -> Self {
        fn ids<T>(
            map: &BTreeMap<String, T>,
            id: impl Fn(&T) -> Option<&String>,
        ) -> BTreeMap<String, String> {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), id(v)?.clone())))
                .collect()
        }
        Ids {
            users: ids(&state.users, |u| u.id.as_ref()),
            groups: ids(&state.groups, |g| g.id.as_ref()),
            roles: ids(&state.roles, |r| r.id.as_ref()),
        }
    }
}

/// One apply in progress.
struct Run<'a> {
    provider: &'a ScimProvider,
    state: &'a LiveState,
    ids: Mutex<Ids>,
    /// Per new group, the member additions that go in its POST (members that exist
    /// already), with their users' ids.
    carried: BTreeMap<String, Vec<(&'a Operation, String)>>,
    /// New groups whose POST carried their members and landed.
    carried_landed: Mutex<BTreeSet<String>>,
    /// Groups created by this apply, by path: the server's answer and its version, used
    /// once in place of a fresh read.
    created: Mutex<BTreeMap<String, (Value, String)>>,
}

type Failure<'o> = Option<(&'o Operation, String)>;

impl<'a> Run<'a> {
    /// Carry out operations of one kind on up to `parallelism` threads. Operations on the
    /// same resource (members of one group) stay in order on one thread. Returns what
    /// landed, in plan order, and the first failure.
    fn kind<'o>(&self, ops: &[&'o Operation]) -> (Vec<&'o Operation>, Failure<'o>)
    where
        'a: 'o,
    {
        let mut units: BTreeMap<&str, Vec<(usize, &'o Operation)>> = BTreeMap::new();
        for (index, op) in ops.iter().enumerate() {
            units
                .entry(op.target.as_str())
                .or_default()
                .push((index, op));
        }
        let units: Vec<Vec<(usize, &'o Operation)>> = units.into_values().collect();
        let next = AtomicUsize::new(0);
        let landed = Mutex::new(Vec::new());
        let failures = Mutex::new(Vec::new());
        let workers = self.provider.options.parallelism.min(units.len()).max(1);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(unit) = units.get(i) else { break };
                        for (index, op) in unit {
                            match self.attempt(op) {
                                Ok(()) => lock(&landed).push((*index, *op)),
                                Err(reason) => {
                                    lock(&failures).push((*index, *op, reason));
                                    break;
                                }
                            }
                        }
                    }
                });
            }
        });
        let mut landed = landed.into_inner().unwrap_or_else(|e| e.into_inner());
        landed.sort_by_key(|(index, _)| *index);
        // Members that went in with their group's POST landed with it.
        let carried = lock(&self.carried_landed);
        let mut with_members: Vec<&'o Operation> = Vec::new();
        for (_, op) in &landed {
            if op.op == OpKind::GroupCreate && carried.contains(&op.target) {
                with_members.extend(
                    self.carried
                        .get(&op.target)
                        .into_iter()
                        .flatten()
                        .map(|(member, _)| *member),
                );
            }
        }
        drop(carried);
        let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
        failures.sort_by_key(|(index, _, _)| *index);
        let failure = failures
            .into_iter()
            .next()
            .map(|(_, op, reason)| (op, reason));
        let mut landed: Vec<&'o Operation> = landed.into_iter().map(|(_, op)| op).collect();
        landed.extend(with_members);
        (landed, failure)
    }

    /// [`Run::one`], tried again while a create or an add loses its answer: `one`
    /// re-reads before it writes (adopting a created record, skipping a member already
    /// there), so a second try never does the work twice.
    fn attempt(&self, op: &Operation) -> Result<(), String> {
        let mut tries = 1;
        loop {
            match self.one(op, tries > 1) {
                Err(reason) if reason.starts_with(LOST) && tries < 4 => tries += 1,
                other => return other,
            }
        }
    }

    /// Carry out one operation; `Err` is the reason, for the report. `again` when an
    /// earlier try lost its answer (what it asked may have landed).
    fn one(&self, op: &Operation, again: bool) -> Result<(), String> {
        let p = self.provider;
        let found = &p.found;
        let target = op.target.as_str();
        match op.op {
            OpKind::OrgUpdate => {
                let endpoint = found.org.as_deref().unwrap_or("/OrgplanOrgs");
                let org = self.after(op)?.org.ok_or("no org settings")?;
                let attributes = map::org_to_scim(&org);
                match p.list(endpoint, "").map_err(text)?.first() {
                    None => self
                        .create(endpoint, &attributes, "displayName", &org.name, again)
                        .map(drop),
                    Some(current) => {
                        let id = id_of(current)?;
                        let path = format!("{endpoint}/{id}");
                        let (current, etag) = self.fresh(&path)?;
                        let seen = norm(|s| s.org = map::org_from_scim(&current));
                        if seen.org != self.state.org {
                            return Err(stale("org settings"));
                        }
                        self.put(
                            &path,
                            &map::merged(&current, &attributes, map::ORG),
                            etag.as_deref(),
                        )
                    }
                }
            }
            OpKind::RoleCreate | OpKind::RoleUpdate => {
                let endpoint = found.roles.as_deref().ok_or("roles are not supported")?;
                let role = self.after(op)?.roles.remove(target).ok_or("no role")?;
                let attributes = map::role_to_scim(target, &role);
                if op.op == OpKind::RoleCreate {
                    let id = self.create(endpoint, &attributes, "displayName", target, again)?;
                    lock(&self.ids).roles.insert(target.to_owned(), id);
                    return Ok(());
                }
                let path = format!("{endpoint}/{}", self.id(|i| &i.roles, target)?);
                let (current, etag) = self.fresh(&path)?;
                let seen = norm(|s| s.roles.extend(map::role_from_scim(&current)));
                if seen.roles.get(target) != self.state.roles.get(target) {
                    return Err(stale(target));
                }
                self.put(
                    &path,
                    &map::merged(&current, &attributes, map::ROLE),
                    etag.as_deref(),
                )
            }
            OpKind::GroupCreate | OpKind::GroupUpdate => {
                let group = self.after(op)?.groups.remove(target).ok_or("no group")?;
                let attributes = map::group_to_scim(target, &group, found.group_ext);
                if op.op == OpKind::GroupCreate {
                    return self.create_group(target, attributes, again);
                }
                let path = format!("{}/{}", found.groups, self.id(|i| &i.groups, target)?);
                let (current, etag) = self.fresh(&path)?;
                let seen = norm(|s| {
                    s.groups
                        .extend(map::group_from_scim(&current, found.group_ext))
                });
                let fields = |g: &crate::live::LiveGroup| {
                    (
                        g.id.clone(),
                        g.description.clone(),
                        g.roles.clone(),
                        g.limits.clone(),
                    )
                };
                if seen.groups.get(target).map(fields) != self.state.groups.get(target).map(fields)
                {
                    return Err(stale(target));
                }
                self.put(
                    &path,
                    &map::merged(&current, &attributes, map::GROUP),
                    etag.as_deref(),
                )
            }
            OpKind::UserInvite | OpKind::UserUpdate => {
                let mut user = self.after(op)?.users.remove(target).ok_or("no user")?;
                // SCIM has no pending invite: a provisioned account is active.
                if user.status == LiveStatus::Invited {
                    user.status = LiveStatus::Active;
                }
                if op.op == OpKind::UserInvite {
                    let attributes = map::user_to_scim(target, &user, found.user_ext, &Value::Null);
                    let id = self.create(
                        &found.users,
                        &with_schemas(attributes, map::USER),
                        "userName",
                        target,
                        again,
                    )?;
                    lock(&self.ids).users.insert(target.to_owned(), id);
                    return Ok(());
                }
                let path = format!("{}/{}", found.users, self.id(|i| &i.users, target)?);
                let (current, etag) = self.fresh(&path)?;
                self.same_user(target, &current)?;
                let attributes = map::user_to_scim(target, &user, found.user_ext, &current);
                self.put(
                    &path,
                    &map::merged(&current, &attributes, map::USER),
                    etag.as_deref(),
                )
            }
            OpKind::UserReactivate | OpKind::UserSuspend => {
                self.set_active(target, op.op == OpKind::UserReactivate)
            }
            OpKind::UserRemove => match p.options.deprovision {
                Deprovision::Deactivate => self.set_active(target, false),
                Deprovision::Delete => {
                    let path = format!("{}/{}", found.users, self.id(|i| &i.users, target)?);
                    self.delete(&path)
                }
            },
            // Normally batched per group by `memberships`; one at a time here.
            OpKind::GroupAddMember | OpKind::GroupRemoveMember => {
                let member = op.member.as_deref().ok_or("no member")?;
                let user = self.id(|i| &i.users, member)?;
                let path = format!("{}/{}", found.groups, self.id(|i| &i.groups, target)?);
                let (current, etag) = self.fresh(&path)?;
                let mut members: Vec<Value> = current
                    .get("members")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let present = members
                    .iter()
                    .any(|m| m.get("value").and_then(Value::as_str) == Some(user.as_str()));
                let add = op.op == OpKind::GroupAddMember;
                // Already as asked (a retried request that landed): nothing to do, never twice.
                if present == add {
                    return Ok(());
                }
                if found.patch {
                    let operation = if add {
                        json!({"op": "add", "path": "members", "value": [{"value": user}]})
                    } else {
                        json!({"op": "remove", "path": format!("members[value eq \"{user}\"]")})
                    };
                    return self.patch(&path, operation, etag.as_deref());
                }
                if add {
                    members.push(json!({"value": user}));
                } else {
                    members
                        .retain(|m| m.get("value").and_then(Value::as_str) != Some(user.as_str()));
                }
                let body = map::merged(&current, &json!({"members": members}), map::GROUP);
                self.put(&path, &body, etag.as_deref())
            }
            OpKind::GroupDelete => {
                let path = format!("{}/{}", found.groups, self.id(|i| &i.groups, target)?);
                self.delete(&path)
            }
            OpKind::RoleDelete => {
                let endpoint = found.roles.as_deref().ok_or("roles are not supported")?;
                let path = format!("{endpoint}/{}", self.id(|i| &i.roles, target)?);
                self.delete(&path)
            }
        }
    }

    /// The target of `op` as the operation leaves it, worked out on a copy of just that
    /// entity (cloning the whole state per operation would be quadratic).
    fn after(&self, op: &Operation) -> Result<LiveState, String> {
        let mut small = LiveState {
            org: self.state.org.clone(),
            ..LiveState::default()
        };
        let target = &op.target;
        if let Some(r) = self.state.roles.get(target) {
            small.roles.insert(target.clone(), r.clone());
        }
        if let Some(g) = self.state.groups.get(target) {
            small.groups.insert(target.clone(), g.clone());
        }
        if let Some(u) = self.state.users.get(target) {
            small.users.insert(target.clone(), u.clone());
        }
        crate::provider::memory::apply_operation(&mut small, op).map_err(|e| e.to_string())?;
        Ok(small)
    }

    fn id(
        &self,
        which: impl Fn(&Ids) -> &BTreeMap<String, String>,
        name: &str,
    ) -> Result<String, String> {
        which(&lock(&self.ids))
            .get(name)
            .cloned()
            .ok_or_else(|| format!("`{name}` has no SCIM id (it does not exist on the server)"))
    }

    /// GET a resource now, with its ETag.
    fn fresh(&self, path: &str) -> Result<(Value, Option<String>), String> {
        let p = self.provider;
        let response = p.send(Method::Get, path, None, None).map_err(text)?;
        if !response.ok() {
            return Err(p.failed(Method::Get, path, &response).to_string());
        }
        let body = response.json().map_err(text)?;
        let etag = version_of(&response, &body);
        Ok((body, etag))
    }

    /// The user as read now must be the user the apply started from.
    fn same_user(&self, email: &str, current: &Value) -> Result<(), String> {
        let seen = map::user_from_scim(current, self.provider.found.user_ext).map(|(_, u)| u);
        if seen.as_ref() != self.state.users.get(email) {
            return Err(stale(email));
        }
        Ok(())
    }

    fn set_active(&self, email: &str, active: bool) -> Result<(), String> {
        let found = &self.provider.found;
        let path = format!("{}/{}", found.users, self.id(|i| &i.users, email)?);
        let (current, etag) = self.fresh(&path)?;
        self.same_user(email, &current)?;
        if found.patch {
            let operation = json!({"op": "replace", "path": "active", "value": active});
            return self.patch(&path, operation, etag.as_deref());
        }
        let body = map::merged(&current, &json!({"active": active}), map::USER);
        self.put(&path, &body, etag.as_deref())
    }

    /// POST a new resource; on 409 `uniqueness`, adopt the record that holds `key = value`
    /// (a retried create that had landed, or an account made by hand) and bring it to
    /// what was asked. Returns the id.
    fn create(
        &self,
        endpoint: &str,
        body: &Value,
        key: &str,
        value: &str,
        again: bool,
    ) -> Result<String, String> {
        self.create_or_adopt(endpoint, body, key, value, again)
            .map(|(id, _)| id)
    }

    /// A new group, with the members that already exist in its POST. Adopting a group of
    /// that name (after a lost answer, or a 409) leaves its members to the membership phase.
    fn create_group(&self, target: &str, attributes: Value, again: bool) -> Result<(), String> {
        let groups = &self.provider.found.groups;
        let mut body = with_schemas(attributes, map::GROUP);
        let carried = self.carried.get(target).filter(|c| !c.is_empty());
        if let (Some(members), Value::Object(fields)) = (carried, &mut body) {
            let values: Vec<Value> = members.iter().map(|(_, id)| json!({"value": id})).collect();
            fields.insert("members".into(), Value::Array(values));
        }
        let (id, posted) = self.create_or_adopt(groups, &body, "displayName", target, again)?;
        lock(&self.ids).groups.insert(target.to_owned(), id.clone());
        let Some((resource, version)) = posted else {
            return Ok(());
        };
        if carried.is_some() {
            lock(&self.carried_landed).insert(target.to_owned());
        }
        // What the server answered is the group as it now stands: with its version, the
        // membership phase need not read it again (`If-Match` guards the gap).
        if let (true, Some(version)) = (self.provider.found.etag, version) {
            lock(&self.created).insert(format!("{groups}/{id}"), (resource, version));
        }
        Ok(())
    }

    /// [`Run::create`], with what the server answered to the POST (the resource and its
    /// version) when the POST made the record; `None` when an existing one was adopted.
    fn create_or_adopt(
        &self,
        endpoint: &str,
        body: &Value,
        key: &str,
        value: &str,
        again: bool,
    ) -> Result<(String, Posted), String> {
        let p = self.provider;
        // Groups need not have unique names on a SCIM server. The apply's read showed no
        // group of this name; after a lost answer, look before creating again.
        if key == "displayName"
            && endpoint == p.found.groups
            && again
            && let Some(existing) = p.find(endpoint, key, value).map_err(text)?.first()
        {
            return self.adopt(endpoint, existing, body).map(|id| (id, None));
        }
        let response = p
            .send(Method::Post, endpoint, None, Some(body))
            .map_err(text)?;
        if response.ok() {
            let resource = response.json().map_err(text)?;
            let version = version_of(&response, &resource);
            return id_of(&resource).map(|id| (id, Some((resource, version))));
        }
        let conflict = response.status == 409
            && response
                .json()
                .ok()
                .and_then(|v| v.get("scimType").cloned())
                == Some(json!("uniqueness"));
        if !conflict {
            return Err(p.failed(Method::Post, endpoint, &response).to_string());
        }
        let found = p.find(endpoint, key, value).map_err(text)?;
        let existing = found.first().ok_or_else(|| {
            format!("the server says `{value}` exists, but no record has `{key} eq \"{value}\"`")
        })?;
        self.adopt(endpoint, existing, body).map(|id| (id, None))
    }

    fn adopt(&self, endpoint: &str, existing: &Value, body: &Value) -> Result<String, String> {
        let id = id_of(existing)?;
        // An adopted group keeps its members: they are the membership operations' business.
        let mut body = body.clone();
        if let Value::Object(fields) = &mut body {
            fields.remove("members");
        }
        let body = &body;
        let path = format!("{endpoint}/{id}");
        let (current, etag) = self.fresh(&path)?;
        let base = current
            .get("schemas")
            .and_then(|s| s.get(0))
            .and_then(Value::as_str)
            .unwrap_or(map::USER)
            .to_owned();
        let merged = map::merged(&current, body, &base);
        let mut compare = current.clone();
        if let Value::Object(m) = &mut compare {
            m.remove("meta");
        }
        if merged != compare {
            self.put(&path, &merged, etag.as_deref())?;
        }
        Ok(id)
    }

    fn put(&self, path: &str, body: &Value, etag: Option<&str>) -> Result<(), String> {
        let response = self
            .provider
            .send(Method::Put, path, etag, Some(body))
            .map_err(text)?;
        self.answered(Method::Put, path, &response)
    }

    fn patch(&self, path: &str, operation: Value, etag: Option<&str>) -> Result<(), String> {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [operation],
        });
        let response = self
            .provider
            .send(Method::Patch, path, etag, Some(&body))
            .map_err(text)?;
        self.answered(Method::Patch, path, &response)
    }

    fn delete(&self, path: &str) -> Result<(), String> {
        let response = self
            .provider
            .send(Method::Delete, path, None, None)
            .map_err(text)?;
        // Gone already (a retried DELETE that had landed) is what was asked.
        if response.status == 404 {
            return Ok(());
        }
        self.answered(Method::Delete, path, &response)
    }

    /// 200 and 204 are both success; 412 means someone changed the resource after we
    /// read it: re-read it and stop rather than overwrite.
    fn answered(&self, method: Method, path: &str, response: &Response) -> Result<(), String> {
        if response.ok() {
            return Ok(());
        }
        if response.status == 412 {
            let now = self
                .fresh(path)
                .map(|(_, etag)| self.provider.client.scrub(&etag.unwrap_or_default()))
                .unwrap_or_default();
            return Err(format!(
                "stale: `{path}` changed on the server while applying (ETag now {now}); nothing overwritten"
            ));
        }
        Err(self.provider.failed(method, path, response).to_string())
    }
}

/// A state holding what `fill` puts in, normalized like every state read.
fn norm(fill: impl FnOnce(&mut LiveState)) -> LiveState {
    let mut state = LiveState::default();
    fill(&mut state);
    state.normalized()
}

fn with_schemas(mut body: Value, base: &str) -> Value {
    let mut schemas = vec![base.to_owned()];
    if let Value::Object(map) = &mut body {
        schemas.extend(map.keys().filter(|k| k.starts_with("urn:")).cloned());
        map.insert("schemas".into(), json!(schemas));
    }
    body
}

/// What a POST answered: the resource and its version.
type Posted = Option<(Value, Option<String>)>;

/// The version of a resource: its `ETag` header, else `meta.version`.
fn version_of(response: &Response, body: &Value) -> Option<String> {
    response.header("etag").map(str::to_owned).or_else(|| {
        body.get("meta")?
            .get("version")?
            .as_str()
            .map(str::to_owned)
    })
}

fn id_of(resource: &Value) -> Result<String, String> {
    resource
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "the server's answer has no `id`".to_owned())
}

fn stale(what: &str) -> String {
    format!("stale: `{what}` changed on the server since the apply read it; nothing overwritten")
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_percent_encoded() {
        assert_eq!(
            encode("userName eq \"a@x.com\""),
            "userName%20eq%20%22a%40x.com%22"
        );
    }
}

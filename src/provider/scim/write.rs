//! Applying operations: one kind at a time on up to `parallelism` threads, each change
//! re-checked against a fresh read of its resource (and `If-Match`) before it is sent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::client::version_of;
use super::{Deprovision, LOST, ScimError, ScimProvider, map};
use crate::diff::{OpKind, Operation};
use crate::live::{LiveState, LiveStatus};
use crate::provider::contract::{AuditLog, AuditRecord};
use crate::provider::http::{Method, Response};

impl ScimProvider {
    pub(super) fn audit(&self, records: &[AuditRecord]) -> Result<(), ScimError> {
        let path = &self.options.audit;
        AuditLog::open(path)
            .and_then(|mut log| log.append(records))
            .map_err(|source| ScimError::Audit {
                path: path.clone(),
                source,
            })
    }
}

/// SCIM ids of users, groups and roles, growing as the apply creates them.
#[derive(Debug, Default)]
pub(super) struct Ids {
    pub(super) users: BTreeMap<String, String>,
    pub(super) groups: BTreeMap<String, String>,
    pub(super) roles: BTreeMap<String, String>,
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
pub(super) struct Run<'a> {
    pub(super) provider: &'a ScimProvider,
    pub(super) state: &'a LiveState,
    pub(super) ids: Mutex<Ids>,
    /// Per new group, the member additions that go in its POST (members that exist
    /// already), with their users' ids.
    pub(super) carried: BTreeMap<String, Vec<(&'a Operation, String)>>,
    /// New groups whose POST carried their members and landed.
    pub(super) carried_landed: Mutex<BTreeSet<String>>,
    /// Groups created by this apply, by path: the server's answer and its version, used
    /// once in place of a fresh read.
    pub(super) created: Mutex<BTreeMap<String, (Value, String)>>,
}

pub(super) type Failure<'o> = Option<(&'o Operation, String)>;

impl<'a> Run<'a> {
    /// Carry out operations of one kind on up to `parallelism` threads. Operations on the
    /// same resource (members of one group) stay in order on one thread. Returns what
    /// landed, in plan order, and the first failure.
    pub(super) fn kind<'o>(&self, ops: &[&'o Operation]) -> (Vec<&'o Operation>, Failure<'o>)
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
    pub(super) fn attempt(&self, op: &Operation) -> Result<(), String> {
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
    pub(super) fn one(&self, op: &Operation, again: bool) -> Result<(), String> {
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
    pub(super) fn after(&self, op: &Operation) -> Result<LiveState, String> {
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

    pub(super) fn id(
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
    pub(super) fn fresh(&self, path: &str) -> Result<(Value, Option<String>), String> {
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
    pub(super) fn same_user(&self, email: &str, current: &Value) -> Result<(), String> {
        let seen = map::user_from_scim(current, self.provider.found.user_ext).map(|(_, u)| u);
        if seen.as_ref() != self.state.users.get(email) {
            return Err(stale(email));
        }
        Ok(())
    }

    pub(super) fn set_active(&self, email: &str, active: bool) -> Result<(), String> {
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
    pub(super) fn create(
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
    pub(super) fn create_group(
        &self,
        target: &str,
        attributes: Value,
        again: bool,
    ) -> Result<(), String> {
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
    pub(super) fn create_or_adopt(
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

    pub(super) fn adopt(
        &self,
        endpoint: &str,
        existing: &Value,
        body: &Value,
    ) -> Result<String, String> {
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

    pub(super) fn put(&self, path: &str, body: &Value, etag: Option<&str>) -> Result<(), String> {
        let response = self
            .provider
            .send(Method::Put, path, etag, Some(body))
            .map_err(text)?;
        self.answered(Method::Put, path, &response)
    }

    pub(super) fn patch(
        &self,
        path: &str,
        operation: Value,
        etag: Option<&str>,
    ) -> Result<(), String> {
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

    pub(super) fn delete(&self, path: &str) -> Result<(), String> {
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
    pub(super) fn answered(
        &self,
        method: Method,
        path: &str,
        response: &Response,
    ) -> Result<(), String> {
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

pub(super) fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

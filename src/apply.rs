//! Carrying a plan out: the pure in-memory application of operations to a live state,
//! the stale-plan check, and the report and audit records of an apply.
//!
//! A provider drives this (see [`crate::provider::Provider::apply`]): under its lock it
//! re-reads the live state, lets the caller refuse it (stale plan, safety), applies the
//! operations it carries out, writes the new state once, then records each applied
//! operation in its audit trail. Manual steps are never applied here and never dropped:
//! they come back in [`ApplyReport::manual`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::diff::{Change, Execution, OpKind, Operation};
use crate::live::{LiveState, LiveStatus};
use crate::plan::{Plan, PlanError};
use crate::provider::ProviderError;

/// Why an apply did not happen, or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The live org changed since the plan was made.
    #[error(
        "the plan is stale: the live org changed since it was made, nothing applied{}\n  to proceed: run `orgplan plan` again and apply the new plan",
        changed_list(.0)
    )]
    Stale(Vec<String>),
    /// The policy folder is not the one the plan was made from.
    #[error(
        "the policy differs from the one the plan was made from, nothing applied\n  to proceed: apply from the same commit as the plan, or run `orgplan plan` again"
    )]
    PolicyChanged,
    /// The policy is the plan's, but the operations in the plan file are not the ones the
    /// policy and the live state give now: the file was edited, or made by something else.
    #[error(
        "the plan file's operations differ from what the policy and the live org give now ({0}): the file was edited, or `unmanaged_users` changed since the plan; nothing applied\n  to proceed: run `orgplan plan -o FILE` again and apply that file unedited"
    )]
    OperationsDiffer(String),
    /// The safety rules refuse the plan against the live state as it is now.
    #[error("{0}")]
    Safety(#[from] PlanError),
    /// An operation does not fit the live state (a hand-edited or foreign plan file).
    #[error("cannot apply `{op}` to `{target}`: {reason}, nothing applied")]
    Operation {
        /// Op name.
        op: &'static str,
        /// Its target.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// The provider failed.
    #[error("{0}")]
    Provider(#[from] ProviderError),
    /// A remote provider stopped midway. What landed stays landed (and is audited); a new
    /// plan will not propose it again, so running `plan`/`apply` again finishes the job.
    #[error(
        "apply stopped at `{op}` on `{target}`: {reason}{}{}\n  to proceed: fix the cause, then run `orgplan plan` and apply again; what landed is not planned again",
        op_list("applied", .applied),
        op_list("not applied", .remaining)
    )]
    Partial {
        /// Operations that landed, in order.
        applied: Vec<Operation>,
        /// The operation that failed.
        op: &'static str,
        /// Its target.
        target: String,
        /// Why it failed.
        reason: String,
        /// Operations not carried out: the failed one and every one after it.
        remaining: Vec<Operation>,
    },
}

fn op_list(title: &str, operations: &[Operation]) -> String {
    let mut out = format!("\n  {title} ({}):", operations.len());
    if operations.is_empty() {
        out.push_str(" none");
    }
    for op in operations {
        out.push_str(&format!("\n    {} {}", op.op.as_str(), op.target));
        if let Some(member) = &op.member {
            out.push_str(&format!(" {member}"));
        }
    }
    out
}

fn changed_list(changed: &[String]) -> String {
    if changed.is_empty() {
        return String::new();
    }
    let mut out = String::from(":");
    for line in changed {
        out.push_str("\n  ");
        out.push_str(line);
    }
    out
}

/// What an apply did, printed as text or JSON.
///
/// ```json
/// {"live": "file:.orgplan/live.json", "plan_digest": "<sha256 hex>",
///  "applied": [{"op": "user.invite", "target": "a@acme.com", "changes": […], …}],
///  "manual": [{"op": "org.update", …, "execution": "manual", "instruction": "…"}],
///  "audit_log": ".orgplan/live.json.audit.jsonl"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// The live URI, credentials stripped.
    pub live: String,
    /// sha256 of the canonical JSON of the plan that was applied.
    pub plan_digest: String,
    /// Operations the provider carried out, in the order it did.
    pub applied: Vec<Operation>,
    /// Manual steps: still to be done by an admin.
    pub manual: Vec<Operation>,
    /// Where the applied operations were recorded, when anything was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<String>,
}

/// One line of the audit trail (`PATH.audit.jsonl` for the file provider).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the operation landed, RFC 3339 UTC.
    pub time: String,
    /// Op name.
    pub op: OpKind,
    /// Its target.
    pub target: String,
    /// The member, for membership operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Fields set.
    pub changes: Vec<Change>,
    /// sha256 of the canonical JSON of the plan.
    pub plan_digest: String,
    /// Who ran the apply.
    pub actor: String,
}

impl AuditRecord {
    /// The record of `op`, landed now, as part of `batch`.
    pub fn landed(op: &Operation, batch: &Batch<'_>) -> Self {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        AuditRecord {
            time: rfc3339(seconds),
            op: op.op,
            target: op.target.clone(),
            member: op.member.clone(),
            changes: op.changes.clone(),
            plan_digest: batch.plan_digest.to_owned(),
            actor: batch.actor.to_owned(),
        }
    }
}

/// What the caller hands a provider to apply.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    /// The plan's operations, manual ones included (the provider skips them).
    pub operations: &'a [Operation],
    /// sha256 of the plan, for the audit trail.
    pub plan_digest: &'a str,
    /// Who runs the apply, for the audit trail.
    pub actor: &'a str,
}

/// True when the provider carries `op` out itself.
pub fn by_provider(op: &Operation) -> bool {
    op.execution == Execution::Provider
}

/// What changed between the live state a plan was made from (its `live_index`) and
/// `current`, one line per kind of change: ``users changed: `a@x.com`, `b@x.com` ``.
pub fn changed_since(plan: &Plan, current: &LiveState) -> Vec<String> {
    // An empty index is an empty org, or a plan from before `live_index` existed.
    let made_on_empty = plan.live_digest == crate::plan::digest(&LiveState::default());
    if plan.live_index.is_empty() && !made_on_empty {
        return vec!["(the plan has no `live_index`: made by an older orgplan)".to_owned()];
    }
    let now = crate::plan::live_index(current);
    // (section, how) -> names, so that the message groups like with like.
    let mut found: BTreeMap<(String, &str), Vec<String>> = BTreeMap::new();
    let mut note = |key: &str, how: &'static str| {
        let (section, name) = key.split_once('/').unwrap_or((key, ""));
        found
            .entry((section.to_owned(), how))
            .or_default()
            .push(name.to_owned());
    };
    for (key, digest) in &plan.live_index {
        match now.get(key) {
            None => note(key, "removed"),
            Some(d) if d != digest => note(key, "changed"),
            Some(_) => {}
        }
    }
    for key in now.keys() {
        if !plan.live_index.contains_key(key) {
            note(key, "added");
        }
    }
    found
        .into_iter()
        .map(|((section, how), names)| {
            if section == "org" {
                format!("org settings {how}")
            } else {
                let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                format!("{section} {how}: {}", names.join(", "))
            }
        })
        .collect()
}

/// Apply every operation the provider carries out, in plan order, to `state`; returns
/// them. `progress(done, total)` is called after each.
pub fn apply_all<'a>(
    state: &mut LiveState,
    operations: &'a [Operation],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<&'a Operation>, ApplyError> {
    let todo: Vec<&Operation> = operations.iter().filter(|op| by_provider(op)).collect();
    let mut ids = NextIds::new(state);
    for (done, op) in todo.iter().enumerate() {
        apply_with(state, op, &mut ids)?;
        progress(done + 1, todo.len());
    }
    Ok(todo)
}

/// Apply one operation to `state`, driven by the `after` values of its changes. Pure.
/// New roles, groups and users get ids `rol_<n>`, `grp_<n>`, `usr_<n>`, one more than the
/// largest such id in the state.
pub fn apply_operation(state: &mut LiveState, op: &Operation) -> Result<(), ApplyError> {
    let mut ids = NextIds::new(state);
    apply_with(state, op, &mut ids)
}

/// The next free number of each id prefix: computed once per batch, since scanning the
/// whole state for every invite of thousands of users is quadratic.
struct NextIds {
    role: Counter,
    group: Counter,
    user: Counter,
}

/// One more than the largest number in use, and every number in use: an id is never
/// handed out twice, even when the largest existing one is `u64::MAX` and the counter
/// wraps around to the free numbers below it.
struct Counter {
    next: u64,
    used: std::collections::HashSet<u64>,
}

impl NextIds {
    fn new(state: &LiveState) -> Self {
        fn counter<'a>(prefix: &str, ids: impl Iterator<Item = Option<&'a String>>) -> Counter {
            let used: std::collections::HashSet<u64> = ids
                .flatten()
                .filter_map(|id| id.strip_prefix(prefix)?.parse::<u64>().ok())
                .collect();
            let next = used.iter().max().map_or(1, |max| max.wrapping_add(1));
            Counter { next, used }
        }
        NextIds {
            role: counter("rol_", state.roles.values().map(|r| r.id.as_ref())),
            group: counter("grp_", state.groups.values().map(|g| g.id.as_ref())),
            user: counter("usr_", state.users.values().map(|u| u.id.as_ref())),
        }
    }
}

fn take(counter: &mut Counter, prefix: &str) -> String {
    // At most as many steps as numbers in use: there are far fewer than 2^64 of them.
    while counter.used.contains(&counter.next) {
        counter.next = counter.next.wrapping_add(1);
    }
    let id = counter.next;
    counter.used.insert(id);
    counter.next = id.wrapping_add(1);
    format!("{prefix}_{id}")
}

fn apply_with(state: &mut LiveState, op: &Operation, ids: &mut NextIds) -> Result<(), ApplyError> {
    let fail = |reason: &str| ApplyError::Operation {
        op: op.op.as_str(),
        target: op.target.clone(),
        reason: reason.to_owned(),
    };
    let target = op.target.as_str();
    match op.op {
        OpKind::OrgUpdate => {
            let org = updated(state.org.as_ref(), &op.changes).map_err(|e| fail(&e))?;
            state.org = Some(org);
        }
        OpKind::RoleCreate | OpKind::RoleUpdate => {
            let create = op.op == OpKind::RoleCreate;
            let current = state.roles.get(target);
            if create == current.is_some() {
                return Err(fail(exists(create)));
            }
            let mut role: crate::live::LiveRole =
                updated(current, &op.changes).map_err(|e| fail(&e))?;
            if create {
                role.id = Some(take(&mut ids.role, "rol"));
            }
            state.roles.insert(target.to_owned(), role);
        }
        OpKind::GroupCreate | OpKind::GroupUpdate => {
            let create = op.op == OpKind::GroupCreate;
            let current = state.groups.get(target);
            if create == current.is_some() {
                return Err(fail(exists(create)));
            }
            let mut group: crate::live::LiveGroup =
                updated(current, &op.changes).map_err(|e| fail(&e))?;
            if create {
                group.id = Some(take(&mut ids.group, "grp"));
            }
            state.groups.insert(target.to_owned(), group);
        }
        OpKind::UserInvite | OpKind::UserUpdate | OpKind::UserReactivate | OpKind::UserSuspend => {
            let create = op.op == OpKind::UserInvite;
            let current = state.users.get(target);
            if create == current.is_some() {
                return Err(fail(exists(create)));
            }
            let mut user: crate::live::LiveUser =
                updated(current, &op.changes).map_err(|e| fail(&e))?;
            if create {
                user.id = Some(take(&mut ids.user, "usr"));
                // An invite is pending until accepted, unless it asks for a suspended account.
                if !op.changes.iter().any(|c| c.field == "status") {
                    user.status = LiveStatus::Invited;
                }
            }
            state.users.insert(target.to_owned(), user);
        }
        OpKind::GroupAddMember | OpKind::GroupRemoveMember => {
            let member = op
                .member
                .as_deref()
                .map(crate::model::email_key)
                .ok_or_else(|| fail("no `member`"))?
                .into_owned();
            let group = state
                .groups
                .get_mut(target)
                .ok_or_else(|| fail("no such group"))?;
            if op.op == OpKind::GroupAddMember {
                group.members.push(member);
                group.members.sort();
                group.members.dedup();
            } else {
                group.members.retain(|m| *m != member);
            }
        }
        OpKind::UserRemove => {
            state
                .users
                .remove(target)
                .ok_or_else(|| fail("no such user"))?;
            // A removed account leaves every group (no separate remove_member, docs/plan.md).
            for group in state.groups.values_mut() {
                group.members.retain(|m| m != target);
            }
        }
        OpKind::GroupDelete => {
            state
                .groups
                .remove(target)
                .ok_or_else(|| fail("no such group"))?;
        }
        OpKind::RoleDelete => {
            state
                .roles
                .remove(target)
                .ok_or_else(|| fail("no such role"))?;
            for group in state.groups.values_mut() {
                group.roles.retain(|r| r != target);
            }
        }
    }
    Ok(())
}

fn exists(create: bool) -> &'static str {
    if create {
        "it exists already"
    } else {
        "it does not exist"
    }
}

/// `current` (or an empty entity) with every change's `after` set at its dotted field;
/// `null` removes the field.
fn updated<T: Serialize + serde::de::DeserializeOwned>(
    current: Option<&T>,
    changes: &[Change],
) -> Result<T, String> {
    let mut value = match current {
        Some(entity) => serde_json::to_value(entity).map_err(|e| e.to_string())?,
        None => Value::Object(Map::new()),
    };
    for change in changes {
        set(&mut value, &change.field, &change.after)?;
    }
    prune(&mut value);
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn set(value: &mut Value, field: &str, after: &Value) -> Result<(), String> {
    let mut node = value;
    let mut parts = field.split('.').peekable();
    while let Some(key) = parts.next() {
        let Value::Object(map) = node else {
            return Err(format!("field `{field}` is not inside an object"));
        };
        if parts.peek().is_none() {
            if after.is_null() {
                map.remove(key);
            } else {
                map.insert(key.to_owned(), after.clone());
            }
            return Ok(());
        }
        node = map
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

/// Drop objects left empty by removed fields: the diff sees an empty object and an
/// absent one as the same, and the types give both the same default.
fn prune(value: &mut Value) {
    if let Value::Object(map) = value {
        for child in map.values_mut() {
            prune(child);
        }
        map.retain(|_, child| !matches!(child, Value::Object(m) if m.is_empty()));
    }
}

/// `seconds` since the Unix epoch as RFC 3339 UTC (`2025-01-31T09:05:00Z`), by the
/// civil-from-days algorithm (Howard Hinnant), so that no date crate is needed.
pub fn rfc3339(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

/// Who is applying: the CI user when in CI, else the login name.
pub fn actor(env: impl Fn(&str) -> Option<String>) -> String {
    ["GITHUB_ACTOR", "GITLAB_USER_LOGIN", "USER", "USERNAME"]
        .into_iter()
        .find_map(|name| env(name).filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::tests::{BASE, policy};
    use crate::provider::Capabilities;

    fn plan_and_apply(yaml: &str, live: &mut LiveState) {
        let policy = policy(yaml);
        let found = crate::diff::diff(&policy, live, &Capabilities::full());
        apply_all(live, &found.operations, &mut |_, _| {}).unwrap_or_else(|e| panic!("{e}"));
    }

    fn without_ids_and_invites(mut state: LiveState) -> LiveState {
        state.roles.values_mut().for_each(|r| r.id = None);
        state.groups.values_mut().for_each(|g| g.id = None);
        for user in state.users.values_mut() {
            user.id = None;
            if user.status == LiveStatus::Invited {
                user.status = LiveStatus::Active;
            }
        }
        state
    }

    #[test]
    fn a_new_org_applied_matches_the_projection() {
        let mut live = LiveState::default();
        plan_and_apply(BASE, &mut live);
        assert_eq!(live.users["kate@acme.com"].status, LiveStatus::Invited);
        assert_eq!(live.users["ceo@acme.com"].id.as_deref(), Some("usr_1"));
        assert_eq!(live.groups["sales"].id.as_deref(), Some("grp_1"));
        let expected = crate::live::project(&policy(BASE));
        assert_eq!(without_ids_and_invites(live.clone()), expected);
        let again = crate::diff::diff(&policy(BASE), &live, &Capabilities::full());
        assert_eq!(again.operations, Vec::new());
    }

    #[test]
    fn ids_are_never_reused_when_the_largest_is_u64_max() {
        let mut live = LiveState::default();
        for (email, id) in [
            ("max@acme.com", format!("usr_{}", u64::MAX)),
            ("zero@acme.com", "usr_0".to_owned()),
            ("one@acme.com", "usr_1".to_owned()),
        ] {
            live.users.insert(
                email.to_owned(),
                crate::live::LiveUser {
                    id: Some(id),
                    ..Default::default()
                },
            );
        }
        let before: std::collections::BTreeSet<String> =
            live.users.values().filter_map(|u| u.id.clone()).collect();
        let mut ids = NextIds::new(&live);
        let new: Vec<String> = (0..3).map(|_| take(&mut ids.user, "usr")).collect();
        assert_eq!(new, ["usr_2", "usr_3", "usr_4"]);
        // The whole path: invited users get ids no one held.
        plan_and_apply(BASE, &mut live);
        let invited: Vec<String> = live.users.values().filter_map(|u| u.id.clone()).collect();
        assert!(!invited.is_empty());
        assert!(invited.iter().all(|id| !before.contains(id)), "{invited:?}");
    }

    #[test]
    fn updates_removals_and_deletions_land() {
        let mut live = LiveState::default();
        plan_and_apply(BASE, &mut live);
        let changed = BASE
            .replace(
                "kate@acme.com: {name: Kate}",
                "kate@acme.com: {name: K, status: suspended, limits: {tokens: {daily: 5}}}",
            )
            .replace(
                "roles:\n  analyst: {description: Analyses, capabilities: [chat, api]}\n",
                "",
            )
            .replace(
                "groups:\n  sales: {roles: [analyst], members: [kate@acme.com]}\n",
                "",
            )
            .replace("seats: {standard: 5, premium: 2}", "seats: {standard: 6}");
        plan_and_apply(&changed, &mut live);
        assert_eq!(
            without_ids_and_invites(live),
            crate::live::project(&policy(&changed))
        );
    }

    #[test]
    fn a_stale_plan_names_what_changed() {
        let policy = policy(BASE);
        let mut live = crate::live::project(&policy);
        let plan = crate::plan::build(
            &policy,
            &live,
            &Capabilities::full(),
            &crate::plan::Options::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        live.users.remove("kate@acme.com");
        live.users.insert("new@acme.com".into(), Default::default());
        if let Some(group) = live.groups.get_mut("sales") {
            group.description = Some("x".into());
        }
        assert_eq!(
            changed_since(&plan, &live),
            [
                "groups changed: `sales`",
                "users added: `new@acme.com`",
                "users removed: `kate@acme.com`"
            ]
        );
    }

    #[test]
    fn manual_steps_are_not_applied() {
        let policy = policy(BASE);
        let caps = Capabilities {
            applies: [OpKind::UserInvite].into_iter().collect(),
            unreadable: Vec::new(),
        };
        let found = crate::diff::diff(&policy, &LiveState::default(), &caps);
        let mut live = LiveState::default();
        let applied = apply_all(&mut live, &found.operations, &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(applied.len(), 2);
        assert!(applied.iter().all(|op| op.op == OpKind::UserInvite));
        assert_eq!(live.users.len(), 2);
        assert!(live.org.is_none() && live.groups.is_empty());
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_599), "2024-12-31T23:59:59Z");
    }

    #[test]
    fn the_ci_actor_comes_first() {
        let env = |name: &str| match name {
            "GITHUB_ACTOR" => Some("octocat".to_owned()),
            "USER" => Some("runner".to_owned()),
            _ => None,
        };
        assert_eq!(actor(env), "octocat");
        assert_eq!(actor(|_| None), "unknown");
    }
}

//! Operations applied to a live state in memory, driven by the `after` values of their
//! changes: pure, shared by the file provider (the whole state) and the SCIM provider (one
//! resource at a time).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::diff::{Change, OpKind, Operation};
use crate::live::{LiveState, LiveStatus};

use super::contract::{ApplyError, by_provider};

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
        op: op.op,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Capabilities;
    use crate::diff::tests::{BASE, policy};

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
}

//! What each operation of a batch becomes in Admin API terms ([`Step`]), resolved against
//! the live state before the first request so that a batch the API cannot carry out is
//! refused whole.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Meta;
use super::refine::API_ROLE;
use crate::diff::{OpKind, Operation};
use crate::live::{LiveState, LiveStatus};
use crate::model::{OrgRole, Period};
use crate::provider::contract::ApplyError;

/// One operation resolved against the live state, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    CreateGroup {
        name: String,
    },
    DeleteGroup {
        name: String,
        /// Account members as read: the group is deleted only while they are the same.
        members: BTreeSet<String>,
    },
    Invite {
        email: String,
        role: String,
        groups: Vec<String>,
    },
    /// A membership of a user invited in the same apply: it rode on the invite.
    WithInvite,
    Membership {
        add: bool,
        group: String,
        user_id: String,
        email: String,
        /// `user` or `managed` when the change should switch the API role.
        role: Option<String>,
    },
    Update {
        user_id: String,
        email: String,
        /// API role to set (`user` or `managed`), for a drifted member.
        role: Option<String>,
        /// (period, amount in cents or `None` to delete, id of the existing limit).
        set: Vec<(Period, Option<u64>, Option<String>)>,
    },
    RemoveUser {
        id: String,
        email: String,
        /// API role as read: the user is removed only while it is the same.
        role: Option<String>,
    },
    DeleteInvite {
        id: String,
        email: String,
    },
}

/// Resolve every provider operation against the live state, or refuse the whole batch
/// (nothing applied) naming the first one that cannot be carried out.
pub(super) fn resolve(
    todo: &[&Operation],
    live: &LiveState,
    meta: &Meta,
) -> Result<Vec<Step>, ApplyError> {
    let created: BTreeSet<&str> = todo
        .iter()
        .filter(|o| o.op == OpKind::GroupCreate)
        .map(|o| o.target.as_str())
        .collect();
    let invited: BTreeSet<&str> = todo
        .iter()
        .filter(|o| o.op == OpKind::UserInvite)
        .map(|o| o.target.as_str())
        .collect();
    // Memberships as they stand, to tell when a member's API role should switch.
    let mut memberships: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, group) in &live.groups {
        for member in &group.members {
            memberships
                .entry(member.clone())
                .or_default()
                .insert(name.clone());
        }
    }
    let grants = |group: &str| live.groups.get(group).is_some_and(|g| !g.roles.is_empty());

    let mut steps = Vec::new();
    for op in todo {
        let fail = |reason: String| ApplyError::Operation {
            op: op.op,
            target: op.target.clone(),
            reason,
        };
        let target = op.target.as_str();
        let group_known = |name: &str| live.groups.contains_key(name) || created.contains(name);
        let step = match op.op {
            OpKind::GroupCreate if live.groups.contains_key(target) => {
                return Err(fail("a group of that name exists already".into()));
            }
            OpKind::GroupCreate => Step::CreateGroup {
                name: target.to_owned(),
            },
            OpKind::GroupDelete => {
                if meta.scim_groups.contains(target) {
                    return Err(fail(scim_reason()));
                }
                if !live.groups.contains_key(target) {
                    return Err(fail("no such group".into()));
                }
                Step::DeleteGroup {
                    name: target.to_owned(),
                    members: meta.members.get(target).cloned().unwrap_or_default(),
                }
            }
            OpKind::UserInvite => {
                if live.users.contains_key(target) {
                    return Err(fail("the user exists already".into()));
                }
                if let Some(reason) = invite_blocker(op) {
                    return Err(fail(reason));
                }
                if let Some(change) = op.changes.iter().find(|c| c.field.starts_with("limits.")) {
                    return Err(fail(format!(
                        "`{}` cannot be set before the invite is accepted",
                        change.field
                    )));
                }
                let groups: Vec<String> = todo
                    .iter()
                    .filter(|o| {
                        o.op == OpKind::GroupAddMember && o.member.as_deref() == Some(target)
                    })
                    .map(|o| o.target.clone())
                    .collect();
                if let Some(group) = groups.iter().find(|g| !group_known(g)) {
                    return Err(fail(format!("no group `{group}` to invite into")));
                }
                if let Some(group) = groups.iter().find(|g| meta.scim_groups.contains(*g)) {
                    return Err(fail(format!("group `{group}`: {}", scim_reason())));
                }
                let role = if groups.iter().any(|g| grants(g)) {
                    "managed"
                } else {
                    "user"
                };
                Step::Invite {
                    email: target.to_owned(),
                    role: role.to_owned(),
                    groups,
                }
            }
            OpKind::GroupAddMember | OpKind::GroupRemoveMember => {
                let add = op.op == OpKind::GroupAddMember;
                let email = op
                    .member
                    .as_deref()
                    .ok_or_else(|| fail("no `member`".into()))?;
                if meta.scim_groups.contains(target) {
                    return Err(fail(scim_reason()));
                }
                if !group_known(target) {
                    return Err(fail("no such group".into()));
                }
                if add && invited.contains(email) {
                    Step::WithInvite
                } else {
                    let user = live
                        .users
                        .get(email)
                        .filter(|u| u.status != LiveStatus::Invited);
                    let Some(user_id) = user.and_then(|u| u.id.clone()) else {
                        return Err(fail(format!(
                            "`{email}` has no account yet (a pending invite's groups cannot change)"
                        )));
                    };
                    let groups = memberships.entry(email.to_owned()).or_default();
                    if add {
                        groups.insert(target.to_owned());
                    } else {
                        groups.remove(target);
                    }
                    let api_role = meta.api_roles.get(email).map(String::as_str);
                    let role = match api_role {
                        Some("user" | "managed") => Some(if groups.iter().any(|g| grants(g)) {
                            "managed".to_owned()
                        } else {
                            "user".to_owned()
                        }),
                        _ => None,
                    };
                    Step::Membership {
                        add,
                        group: target.to_owned(),
                        user_id,
                        email: email.to_owned(),
                        role,
                    }
                }
            }
            OpKind::UserUpdate => {
                let user = live
                    .users
                    .get(target)
                    .filter(|u| u.status != LiveStatus::Invited);
                let Some(user_id) = user.and_then(|u| u.id.clone()) else {
                    return Err(fail("no active account to set limits on".into()));
                };
                let mut set = Vec::new();
                let mut role = None;
                for change in &op.changes {
                    if change.field == API_ROLE {
                        match change.after.as_str() {
                            Some(r @ ("user" | "managed")) => role = Some(r.to_owned()),
                            _ => {
                                return Err(fail(format!(
                                    "the Admin API sets only the API roles `user` and `managed`, not {}",
                                    change.after
                                )));
                            }
                        }
                        continue;
                    }
                    let Some(period) = spend_period(&change.field) else {
                        return Err(fail(format!("the Admin API cannot set `{}`", change.field)));
                    };
                    let cents = match &change.after {
                        Value::Null => None,
                        value => Some(cents(value).ok_or_else(|| {
                            fail(format!("`{value}` is not a whole number of cents"))
                        })?),
                    };
                    let existing = meta.spend_ids.get(&(target.to_owned(), period)).cloned();
                    set.push((period, cents, existing));
                }
                Step::Update {
                    user_id,
                    email: target.to_owned(),
                    role,
                    set,
                }
            }
            OpKind::UserRemove => {
                let Some(user) = live.users.get(target) else {
                    return Err(fail("no such user".into()));
                };
                if matches!(user.role, OrgRole::Owner | OrgRole::PrimaryOwner) {
                    return Err(fail("owners are removed in the console".into()));
                }
                let id = user.id.clone().ok_or_else(|| fail("no id".into()))?;
                let email = target.to_owned();
                if user.status == LiveStatus::Invited {
                    Step::DeleteInvite { id, email }
                } else {
                    let role = meta.api_roles.get(target).cloned();
                    Step::RemoveUser { id, email, role }
                }
            }
            _ => {
                return Err(fail(
                    "the Admin API cannot carry this out (the plan file says it can: was it edited?)"
                        .into(),
                ));
            }
        };
        steps.push(step);
    }
    Ok(steps)
}

fn scim_reason() -> String {
    "the group is provisioned by the identity provider (SCIM) and read-only through the API"
        .to_owned()
}

/// Why an invite cannot go through the API, if it cannot.
pub(super) fn invite_blocker(op: &Operation) -> Option<String> {
    for change in &op.changes {
        match (change.field.as_str(), change.after.as_str()) {
            ("role", Some(role)) if role != "member" => {
                return Some(format!(
                    "the Admin API invites only members; invite with role `{role}`"
                ));
            }
            ("status", Some("suspended")) => {
                return Some("the Admin API cannot create a suspended account".to_owned());
            }
            _ => {}
        }
    }
    None
}

/// The period of a `limits.spend_usd.<period>` field.
pub(super) fn spend_period(field: &str) -> Option<Period> {
    let period = field.strip_prefix("limits.spend_usd.")?;
    serde_json::from_value(Value::from(period)).ok()
}

/// Dollars as whole cents, when they are.
pub(super) fn cents(value: &Value) -> Option<u64> {
    let dollars = value.as_f64()?;
    let cents = dollars * 100.0;
    let whole = cents.round();
    ((cents - whole).abs() < 1e-6 && (0.0..1e15).contains(&whole)).then_some(whole as u64)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{live, meta, op};
    use super::*;
    #[test]
    fn memberships_ride_on_the_invite_and_switch_the_api_role() {
        let ops = [
            op(
                OpKind::UserInvite,
                "kim@x.com",
                None,
                &[("role", "member".into())],
            ),
            op(OpKind::GroupAddMember, "eng", Some("bob@x.com"), &[]),
            op(OpKind::GroupAddMember, "eng", Some("kim@x.com"), &[]),
        ];
        let todo: Vec<&Operation> = ops.iter().collect();
        let steps = resolve(&todo, &live(), &meta()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            steps[0],
            Step::Invite {
                email: "kim@x.com".into(),
                role: "managed".into(),
                groups: vec!["eng".into()],
            }
        );
        assert!(matches!(&steps[1], Step::Membership { role: Some(r), .. } if r == "managed"));
        assert_eq!(steps[2], Step::WithInvite);
    }

    #[test]
    fn a_batch_the_api_cannot_carry_out_is_refused_before_any_request() {
        let ops = [op(OpKind::GroupAddMember, "eng", Some("ivy@x.com"), &[])];
        let todo: Vec<&Operation> = ops.iter().collect();
        let error = resolve(&todo, &live(), &meta())
            .err()
            .map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("nothing applied")),
            "{error:?}"
        );
    }
}

//! Refining the diff's operations for the Admin API: what it can carry out, what becomes a
//! manual step naming the console page, what cannot be verified, and the API-role fixes.

use std::collections::BTreeSet;

use serde_json::Value;

use super::steps::{cents, invite_blocker, spend_period};
use super::{GROUPS_PAGE, MEMBERS_PAGE, Meta, ORG_PAGE, ROLES_PAGE, SPEND_PAGE};
use crate::diff::{Change, Execution, OpKind, Operation};
use crate::live::{LiveState, LiveStatus};
use crate::model::OrgRole;

/// Split and mark the diff's operations by what the Admin API can carry out, leave out
/// what cannot be verified, and add the API-role fixes of drifted members. Pure.
pub(super) fn refine(operations: Vec<Operation>, live: &LiveState, meta: &Meta) -> Vec<Operation> {
    // A role granting an unknown action, a user with an unknown API role: their
    // capabilities / role are unverifiable, so no change of them is proposed.
    let operations: Vec<Operation> = operations
        .into_iter()
        .filter_map(|mut op| {
            let unverifiable = match op.op {
                OpKind::RoleUpdate if meta.unknown_actions.contains_key(&op.target) => {
                    Some("capabilities")
                }
                OpKind::UserUpdate if meta.unknown_roles.contains_key(&op.target) => Some("role"),
                _ => None,
            };
            if let Some(field) = unverifiable {
                op.changes.retain(|c| c.field != field);
                if op.changes.is_empty() {
                    return None;
                }
            }
            Some(op)
        })
        .collect();
    let mut out = refine_kinds(&operations, live, meta);
    out.extend(role_drift(&operations, live, meta));
    out
}

/// Members whose API role (`user` / `managed`) disagrees with the grants of their groups,
/// when no membership change of this plan switches it anyway: a `user.update` of the
/// `api_role`, carried out through the API.
fn role_drift(operations: &[Operation], live: &LiveState, meta: &Meta) -> Vec<Operation> {
    let touched: BTreeSet<&str> = operations
        .iter()
        .filter_map(|o| match o.op {
            OpKind::GroupAddMember | OpKind::GroupRemoveMember => o.member.as_deref(),
            OpKind::UserRemove | OpKind::UserInvite => Some(o.target.as_str()),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for (email, user) in &live.users {
        if user.status == LiveStatus::Invited || touched.contains(email.as_str()) {
            continue;
        }
        let Some(current) = meta.api_roles.get(email) else {
            continue;
        };
        if !matches!(current.as_str(), "user" | "managed") {
            continue;
        }
        let grants = live
            .groups
            .values()
            .any(|g| !g.roles.is_empty() && g.members.contains(email));
        let wanted = if grants { "managed" } else { "user" };
        if current != wanted {
            out.push(Operation {
                op: OpKind::UserUpdate,
                target: email.clone(),
                member: None,
                changes: vec![Change {
                    field: API_ROLE.to_owned(),
                    before: Value::from(current.as_str()),
                    after: Value::from(wanted),
                }],
                source: None,
                execution: Execution::Provider,
            });
        }
    }
    out
}

/// The `user.update` field of an API-role fix (not a policy field: the policy's `member`
/// is `user` or `managed` by the grants of the member's groups).
pub(super) const API_ROLE: &str = "api_role";

fn refine_kinds(operations: &[Operation], live: &LiveState, meta: &Meta) -> Vec<Operation> {
    let operations = operations.to_vec();
    let invited: BTreeSet<String> = operations
        .iter()
        .filter(|o| o.op == OpKind::UserInvite && invite_blocker(o).is_none())
        .map(|o| o.target.clone())
        .collect();
    let mut out = Vec::new();
    for op in operations {
        let target = op.target.clone();
        let member = op.member.clone().unwrap_or_default();
        let scim = meta.scim_groups.contains(&target);
        let idp = format!(
            "The group `{target}` is provisioned by your identity provider (SCIM): make this change there, not in {GROUPS_PAGE}"
        );
        match op.op {
            OpKind::OrgUpdate => {
                let (caps, rest): (Vec<Change>, Vec<Change>) = op
                    .changes
                    .iter()
                    .cloned()
                    .partition(|c| c.field.starts_with("caps.spend_usd."));
                let mut steps = Vec::new();
                if !rest.is_empty() {
                    steps.push(format!("In {ORG_PAGE}, set {}", fields(&rest)));
                }
                if !caps.is_empty() {
                    steps.push(format!(
                        "In {SPEND_PAGE}, set the organization's spend limit: {} (set in claude.ai only)",
                        fields(&caps)
                    ));
                }
                let text = steps.join("; then ");
                out.push(manual(op, text));
            }
            OpKind::RoleCreate | OpKind::RoleUpdate | OpKind::RoleDelete => {
                let action = match op.op {
                    OpKind::RoleCreate => format!(
                        "create the custom role `{target}` with {}",
                        fields(&op.changes)
                    ),
                    OpKind::RoleUpdate => {
                        format!("in the custom role `{target}`, set {}", fields(&op.changes))
                    }
                    _ => format!("delete the custom role `{target}`"),
                };
                let text = format!(
                    "In {ROLES_PAGE}, {action} (custom roles are read-only in the Admin API)"
                );
                out.push(manual(op, text));
            }
            OpKind::GroupCreate => {
                // A new group has no roles and no limits: only a non-empty grant, and the
                // limits, are (manual) steps.
                let (grants, rest): (Vec<Change>, Vec<Change>) = op
                    .changes
                    .iter()
                    .cloned()
                    .partition(|c| c.field == "roles" || c.field.starts_with("limits."));
                let grants: Vec<Change> = grants
                    .into_iter()
                    .filter(|c| c.after.as_array().is_none_or(|a| !a.is_empty()))
                    .collect();
                out.push(with_changes(&op, rest));
                if !grants.is_empty() {
                    let mut grant = with_changes(&op, grants);
                    grant.op = OpKind::GroupUpdate;
                    let text = grant_text(&target, &grant.changes);
                    out.push(manual(grant, text));
                }
            }
            OpKind::GroupUpdate => {
                let text = if scim {
                    idp
                } else {
                    grant_text(&target, &op.changes)
                };
                out.push(manual(op, text));
            }
            OpKind::GroupDelete if scim => out.push(manual(op, idp)),
            OpKind::GroupAddMember | OpKind::GroupRemoveMember => {
                let add = op.op == OpKind::GroupAddMember;
                let live_user = live.users.get(&member);
                let pending = live_user.is_some_and(|u| u.status == LiveStatus::Invited)
                    || (live_user.is_none() && !invited.contains(&member));
                if scim {
                    out.push(manual(op, idp));
                } else if pending && !(add && invited.contains(&member)) {
                    let verb = if add { "add" } else { "remove" };
                    let text = format!(
                        "Waits for `{member}` to accept the invite (a pending invite's groups cannot change): then run `orgplan apply` again, or {verb} them in {GROUPS_PAGE} › `{target}`"
                    );
                    out.push(manual(op, text));
                } else {
                    out.push(op);
                }
            }
            OpKind::UserInvite => match invite_blocker(&op) {
                Some(reason) => {
                    let text = format!(
                        "In {MEMBERS_PAGE}, invite `{target}` with {} ({reason})",
                        fields(&op.changes)
                    );
                    out.push(manual(op, text));
                }
                None => {
                    let (limits, rest): (Vec<Change>, Vec<Change>) = op
                        .changes
                        .iter()
                        .cloned()
                        .partition(|c| c.field.starts_with("limits."));
                    out.push(with_changes(&op, rest));
                    if !limits.is_empty() {
                        let mut wait = with_changes(&op, limits);
                        wait.op = OpKind::UserUpdate;
                        let text = wait_text(&target, &wait.changes);
                        out.push(manual(wait, text));
                    }
                }
            },
            OpKind::UserUpdate => {
                let invited_live = live
                    .users
                    .get(&target)
                    .is_some_and(|u| u.status == LiveStatus::Invited);
                let (spend, other): (Vec<Change>, Vec<Change>) = op
                    .changes
                    .iter()
                    .cloned()
                    .partition(|c| spend_period(&c.field).is_some());
                if !spend.is_empty() {
                    let part = with_changes(&op, spend);
                    let odd = part
                        .changes
                        .iter()
                        .find(|c| !c.after.is_null() && cents(&c.after).is_none());
                    if invited_live {
                        let text = wait_text(&target, &part.changes);
                        out.push(manual(part, text));
                    } else if let Some(change) = odd {
                        let text = format!(
                            "In {MEMBERS_PAGE}, set {} for `{target}` (`{}` is not a whole number of cents, which is what the API takes; or round it in the policy)",
                            fields(&part.changes),
                            change.after
                        );
                        out.push(manual(part, text));
                    } else {
                        out.push(part);
                    }
                }
                if !other.is_empty() {
                    let part = with_changes(&op, other);
                    let text = format!(
                        "In {MEMBERS_PAGE}, for `{target}` set {} (the Admin API sets only the roles `user` and `managed`)",
                        fields(&part.changes)
                    );
                    out.push(manual(part, text));
                }
            }
            OpKind::UserReactivate | OpKind::UserSuspend => {
                let verb = if op.op == OpKind::UserSuspend {
                    "suspend"
                } else {
                    "reactivate"
                };
                let text = format!(
                    "In {MEMBERS_PAGE}, {verb} `{target}` (the Admin API has no suspension)"
                );
                out.push(manual(op, text));
            }
            OpKind::UserRemove
                if live
                    .users
                    .get(&target)
                    .is_some_and(|u| matches!(u.role, OrgRole::Owner | OrgRole::PrimaryOwner)) =>
            {
                let text = format!(
                    "In {MEMBERS_PAGE}, remove the owner `{target}` (owners are not removed through the Admin API)"
                );
                out.push(manual(op, text));
            }
            _ => out.push(op),
        }
    }
    out
}

fn with_changes(op: &Operation, changes: Vec<Change>) -> Operation {
    Operation {
        changes,
        ..op.clone()
    }
}

fn manual(op: Operation, instruction: String) -> Operation {
    Operation {
        execution: Execution::Manual { instruction },
        ..op
    }
}

fn fields(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| format!("`{}` to {}", c.field, c.after))
        .collect::<Vec<_>>()
        .join(", ")
}

fn grant_text(group: &str, changes: &[Change]) -> String {
    let (limits, roles): (Vec<Change>, Vec<Change>) = changes
        .iter()
        .cloned()
        .partition(|c| c.field.starts_with("limits."));
    let mut steps = Vec::new();
    if !roles.is_empty() {
        steps.push(format!(
            "In {GROUPS_PAGE} › `{group}`, set {} (group role grants are read-only in the Admin API)",
            fields(&roles)
        ));
    }
    if !limits.is_empty() {
        steps.push(format!(
            "In {SPEND_PAGE}, for the group `{group}` set {} (group spend limits are set in claude.ai only)",
            fields(&limits)
        ));
    }
    steps.join("; then ")
}

fn wait_text(email: &str, changes: &[Change]) -> String {
    format!(
        "Waits for `{email}` to accept the invite (a spend limit needs an account): then run `orgplan apply` again, or set {} in {MEMBERS_PAGE}",
        fields(changes)
    )
}

#[cfg(test)]
mod tests {
    use super::super::MEMBERS_PAGE;
    use super::super::steps::{Step, resolve};
    use super::super::tests::{live, meta, op, summary};
    use super::*;
    #[test]
    fn what_the_api_cannot_write_becomes_a_manual_step() {
        let ops = vec![
            op(
                OpKind::UserInvite,
                "new@x.com",
                None,
                &[("role", "admin".into())],
            ),
            op(
                OpKind::UserInvite,
                "kim@x.com",
                None,
                &[
                    ("role", "member".into()),
                    ("limits.spend_usd.monthly", 5.into()),
                ],
            ),
            op(
                OpKind::UserUpdate,
                "bob@x.com",
                None,
                &[
                    ("role", "admin".into()),
                    ("limits.spend_usd.daily", 2.5.into()),
                ],
            ),
            op(
                OpKind::UserUpdate,
                "ivy@x.com",
                None,
                &[("limits.spend_usd.monthly", 1.into())],
            ),
            op(OpKind::GroupAddMember, "idp", Some("bob@x.com"), &[]),
            op(OpKind::GroupAddMember, "eng", Some("ivy@x.com"), &[]),
            op(OpKind::GroupAddMember, "eng", Some("kim@x.com"), &[]),
            op(OpKind::GroupDelete, "idp", None, &[]),
        ];
        let refined = refine(ops, &live(), &meta());
        assert_eq!(
            summary(&refined),
            [
                "user.invite new@x.com manual",
                "user.invite kim@x.com provider",
                "user.update kim@x.com manual",
                "user.update bob@x.com provider",
                "user.update bob@x.com manual",
                "user.update ivy@x.com manual",
                "group.add_member idp manual",
                "group.add_member eng manual",
                "group.add_member eng provider",
                "group.delete idp manual",
            ]
        );
        let Execution::Manual { instruction } = &refined[0].execution else {
            panic!("not manual");
        };
        assert!(instruction.contains(MEMBERS_PAGE), "{instruction}");
    }

    #[test]
    fn a_member_whose_api_role_disagrees_with_the_group_grants_is_fixed_through_the_api() {
        let mut state = live();
        if let Some(g) = state.groups.get_mut("eng") {
            g.members.push("bob@x.com".into());
        }
        let ops = refine(Vec::new(), &state, &meta());
        assert_eq!(summary(&ops), ["user.update bob@x.com provider"]);
        assert_eq!(ops[0].changes[0].field, API_ROLE);
        assert_eq!(ops[0].changes[0].after, "managed");
        // A membership change of the plan switches the role itself: no separate fix.
        let add = op(OpKind::GroupRemoveMember, "eng", Some("bob@x.com"), &[]);
        let ops = refine(vec![add], &state, &meta());
        assert_eq!(summary(&ops), ["group.remove_member eng provider"]);
        let todo = [op(
            OpKind::UserUpdate,
            "bob@x.com",
            None,
            &[(API_ROLE, "managed".into())],
        )];
        let todo: Vec<&Operation> = todo.iter().collect();
        let steps = resolve(&todo, &state, &meta()).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(&steps[0], Step::Update { role: Some(r), .. } if r == "managed"));
    }
}

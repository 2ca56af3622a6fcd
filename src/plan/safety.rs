//! The safety rules of docs/plan.md, judged on the org as it stands after the plan: on a
//! fresh plan's operations (`build`), and on a saved plan's own (`check_operations`).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::diff::{OpKind, Operation};
use crate::live::{LiveState, LiveStatus, LiveUser};
use crate::model::{OrgRole, Policy, Seat};

use super::{Options, PlanError, SafetyRule, Violation};

/// The safety rules judged on `operations` as given (a saved plan's, which may have been
/// edited), against `live` as it is now: apply checks a plan file's own operations with
/// these, before it compares them with a fresh plan.
pub fn check_operations(
    policy: &Policy,
    live: &LiveState,
    operations: &[Operation],
    options: &Options,
) -> Result<(), PlanError> {
    let after = after_plan(policy, live, operations);
    let now = LiveCounts::of(live);
    let violations = safety(policy, live, &now, operations, &after, options);
    if violations.is_empty() {
        Ok(())
    } else {
        Err(PlanError::Refused(violations))
    }
}

/// What the safety rules and the seat report read of the live org as it is, counted in
/// one walk of its users (a map of 100,000 users is slow to walk, and these were six).
#[derive(Debug, Default)]
pub(super) struct LiveCounts {
    /// The primary owners, in email order (one, or none before the org is set up).
    pub(super) primary: Vec<String>,
    /// Owners and admins who can act (not suspended).
    pub(super) admins: usize,
    /// Standard seats held.
    pub(super) standard: usize,
    /// Premium seats held.
    pub(super) premium: usize,
}

impl LiveCounts {
    /// The counts of `live`, normalized.
    pub(super) fn of(live: &LiveState) -> LiveCounts {
        let mut counts = LiveCounts::default();
        for (email, user) in &live.users {
            if user.role == OrgRole::PrimaryOwner {
                counts.primary.push(email.clone());
            }
            if user.role.is_admin() && user.status != LiveStatus::Suspended {
                counts.admins += 1;
            }
            match user.seat {
                Seat::Standard => counts.standard += 1,
                Seat::Premium => counts.premium += 1,
            }
        }
        counts
    }

    /// Seats of `seat` held.
    pub(super) fn seats(&self, seat: Seat) -> usize {
        match seat {
            Seat::Standard => self.standard,
            Seat::Premium => self.premium,
        }
    }
}

/// A user as the org will have them once the plan is carried out.
#[derive(Debug, Clone, Copy)]
pub(super) struct After {
    pub(super) role: OrgRole,
    pub(super) seat: Seat,
    pub(super) status: LiveStatus,
}

/// Every account after the plan, sorted by email: declared users as declared (a pending
/// invite stays pending), kept unmanaged users as they are, removed users gone.
pub(super) fn after_plan<'a>(
    policy: &'a Policy,
    live: &'a LiveState,
    ops: &[Operation],
) -> Vec<(&'a str, After)> {
    // Sorted (a saved plan's operations may not be), so that the live users, sorted too,
    // pass them in one walk instead of a lookup each.
    let mut removed: Vec<&str> = ops
        .iter()
        .filter(|o| o.op == OpKind::UserRemove)
        .map(|o| o.target.as_str())
        .collect();
    removed.sort_unstable();
    let mut removed = removed.into_iter().peekable();
    let kept = |u: &LiveUser| After {
        role: u.role,
        seat: u.seat,
        status: u.status,
    };
    // Both maps are sorted by email: one merged walk, no lookup per user.
    let mut live_users = live
        .users
        .iter()
        .filter(|(email, _)| {
            while removed.next_if(|r| *r < email.as_str()).is_some() {}
            // Repeated removals of one user are passed by the loop above next time.
            removed.peek() != Some(&email.as_str())
        })
        .peekable();
    let mut after = Vec::with_capacity(live.users.len().max(policy.users.len()));
    for (email, user) in &policy.users {
        while let Some((other, u)) = live_users.next_if(|(other, _)| *other < email) {
            after.push((other.as_str(), kept(u)));
        }
        let current = live_users
            .next_if(|(other, _)| *other == email)
            .map(|(_, u)| u.status);
        let status = match (current, LiveStatus::from(user.status)) {
            (Some(LiveStatus::Invited), LiveStatus::Active) => LiveStatus::Invited,
            (None, LiveStatus::Active) => LiveStatus::Invited,
            (_, declared) => declared,
        };
        let state = After {
            role: user.role,
            seat: user.seat,
            status,
        };
        after.push((email.as_str(), state));
    }
    after.extend(live_users.map(|(email, u)| (email.as_str(), kept(u))));
    after
}

fn rank(role: OrgRole) -> u8 {
    match role {
        OrgRole::PrimaryOwner => 3,
        OrgRole::Owner => 2,
        OrgRole::Admin => 1,
        OrgRole::Member => 0,
    }
}

fn emails(list: &[&str]) -> String {
    list.iter()
        .map(|e| format!("`{e}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The four safety rules of docs/plan.md, judged on the org after the plan. Every broken rule is
/// reported, not only the first.
pub(super) fn safety(
    policy: &Policy,
    live: &LiveState,
    now: &LiveCounts,
    ops: &[Operation],
    after: &[(&str, After)],
    options: &Options,
) -> Vec<Violation> {
    let rules = &policy.org.safety;
    let mut out = Vec::new();

    // 1. The primary owner (as live) and protected users: never removed, suspended or demoted.
    let protected: BTreeSet<String> = rules
        .protected
        .iter()
        .map(|e| crate::model::email_key(e).into_owned())
        .collect();
    let live_primary = &now.primary;
    let mut touched = Vec::new();
    for op in ops {
        let who = op.target.as_str();
        let primary = live_primary.contains(&op.target);
        if !primary && !protected.contains(who) {
            continue;
        }
        let what = match op.op {
            OpKind::UserRemove => "remove",
            OpKind::UserSuspend => "suspend",
            OpKind::UserUpdate => {
                let demoted = op.changes.iter().any(|c| {
                    let role = |v: &Value| serde_json::from_value::<OrgRole>(v.clone()).ok();
                    c.field == "role"
                        && matches!(
                            (role(&c.before), role(&c.after)),
                            (Some(b), Some(a)) if rank(b) > 0 && rank(a) < rank(b)
                        )
                });
                if !demoted {
                    continue;
                }
                "demote"
            }
            _ => continue,
        };
        let kind = if primary {
            "the primary owner"
        } else {
            "a protected user"
        };
        touched.push(format!("{what} `{who}` ({kind})"));
    }
    // Primary ownership never changes hands through a plan: giving `primary_owner` to anyone
    // (an invite or a role change) while the live org has one, declared or not, would leave
    // two. Moving it is a step in the admin console.
    if let Some(current) = live_primary.first() {
        for op in ops {
            let made_primary = matches!(op.op, OpKind::UserInvite | OpKind::UserUpdate)
                && op.changes.iter().any(|c| {
                    c.field == "role"
                        && serde_json::from_value::<OrgRole>(c.after.clone()).ok()
                            == Some(OrgRole::PrimaryOwner)
                });
            if made_primary && !live_primary.contains(&op.target) {
                touched.push(format!(
                    "make `{}` primary owner while `{current}` is (the primary owner)",
                    op.target
                ));
            }
        }
    }
    if !touched.is_empty() {
        out.push(Violation {
            rule: SafetyRule::Protected,
            message: format!("the plan would {}", touched.join(", ")),
            help: "change the primary owner or a protected user by hand in the admin console, \
                   or take the user out of `safety.protected` first"
                .into(),
        });
    }

    // 2. Removals and suspensions within `safety.max_removals` of the live users.
    let leaving: Vec<&str> = ops
        .iter()
        .filter(|o| matches!(o.op, OpKind::UserRemove | OpKind::UserSuspend))
        .map(|o| o.target.as_str())
        .collect();
    let limit = rules.max_removals.resolve(live.users.len());
    let allowed = options.allow_removals.is_some_and(|n| n >= leaving.len());
    if leaving.len() > limit && !allowed {
        let setting = match &rules.max_removals {
            crate::model::MaxRemovals::Count(n) => n.to_string(),
            crate::model::MaxRemovals::Percent(p) => format!("\"{p}\""),
        };
        out.push(Violation {
            rule: SafetyRule::MaxRemovals,
            message: format!(
                "the plan would remove or suspend {} ({}), more than the {limit} that \
                 `max_removals: {setting}` allows for {}",
                crate::diag::count(leaving.len(), "user"),
                emails(&leaving),
                crate::diag::count(live.users.len(), "live user")
            ),
            help: format!(
                "check the list; if it is intended, run again with `--allow-removals {}`",
                leaving.len()
            ),
        });
    }

    // 3. Enough owners and admins left who can act (suspended ones cannot). An org that
    // already has too few is not the plan's doing: a plan that leaves at least as many as
    // there are now is let through, or a drift job would fail forever on a plan that
    // changes nothing (or that adds the very admin who is missing).
    let admins: Vec<&str> = after
        .iter()
        .filter(|(_, a)| a.role.is_admin() && a.status != LiveStatus::Suspended)
        .map(|(email, _)| *email)
        .collect();
    if admins.len() < rules.min_admins as usize && admins.len() < now.admins {
        out.push(Violation {
            rule: SafetyRule::MinAdmins,
            message: format!(
                "the plan would leave {} owners and admins ({}), fewer than `min_admins: {}`",
                admins.len(),
                if admins.is_empty() {
                    "none".to_owned()
                } else {
                    emails(&admins)
                },
                rules.min_admins
            ),
            help: "declare more owners or admins, or lower `safety.min_admins`".into(),
        });
    }

    // 4. Seats: every account left holds its seat, suspended and invited ones included,
    // and kept unmanaged users count.
    for (seat, purchased) in [
        (Seat::Standard, policy.org.seats.standard),
        (Seat::Premium, policy.org.seats.premium),
    ] {
        // Counted, and listed only for a refusal.
        let holders = after.iter().filter(|(_, a)| a.seat == seat);
        let held = holders.clone().count();
        // As for admins: seats the live org already holds beyond its purchase are not the
        // plan's doing, unless it adds holders or lowers the purchase.
        let held_now = now.seats(seat);
        // A live org whose settings cannot be read (or were never set) counts as not over.
        let purchased_now = live.org.as_ref().map_or(u32::MAX, |org| match seat {
            Seat::Standard => org.seats.standard,
            Seat::Premium => org.seats.premium,
        });
        let already_over = held_now > purchased_now as usize;
        let not_worse = held <= held_now && purchased >= purchased_now;
        if held > purchased as usize && !(already_over && not_worse) {
            let unmanaged: Vec<&str> = holders
                .map(|(email, _)| *email)
                .filter(|e| !policy.users.contains_key(*e))
                .collect();
            let detail = if unmanaged.is_empty() {
                String::new()
            } else {
                format!(", kept unmanaged users included ({})", emails(&unmanaged))
            };
            out.push(Violation {
                rule: SafetyRule::Seats,
                message: format!(
                    "the plan would end with {} {} seats in use, {purchased} purchased{detail}",
                    held,
                    seat.as_str()
                ),
                help: format!(
                    "buy more seats and raise `org.seats.{}`, move users to another tier, \
                     or set `unmanaged_users: remove`",
                    seat.as_str()
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::tests::{BASE, policy};
    use crate::live;
    use crate::plan::Plan;
    use crate::plan::tests::plan;

    fn refused(result: Result<Plan, PlanError>) -> Vec<Violation> {
        match result {
            Err(PlanError::Refused(v)) => v,
            Ok(plan) => panic!("not refused: {plan:?}"),
        }
    }

    fn live_user(role: OrgRole) -> LiveUser {
        LiveUser {
            role,
            ..LiveUser::default()
        }
    }
    #[test]
    fn removals_in_any_order_and_repeated_leave_the_org_after_the_plan() {
        let policy = policy(BASE);
        let mut live = live::project(&policy);
        for email in ["a@acme.com", "d@acme.com", "z@acme.com"] {
            live.users.insert(email.into(), live_user(OrgRole::Member));
        }
        let remove = |email: &str| Operation {
            op: OpKind::UserRemove,
            target: email.into(),
            member: None,
            changes: Vec::new(),
            source: None,
            execution: crate::diff::Execution::Provider,
        };
        // As a saved plan may hold them: unsorted, one twice, one not in the org.
        let ops = ["z@acme.com", "a@acme.com", "nobody@acme.com", "z@acme.com"].map(remove);
        let after: Vec<&str> = after_plan(&policy, &live, &ops)
            .into_iter()
            .map(|(email, _)| email)
            .collect();
        assert_eq!(after, ["ceo@acme.com", "d@acme.com", "kate@acme.com"]);
    }

    #[test]
    fn removing_the_primary_owner_is_refused() {
        let policy = policy(&BASE.replace(
            "  ceo@acme.com: {name: Dana, role: primary_owner}\n",
            "  boss@acme.com: {role: primary_owner}\n",
        ));
        let mut live = live::project(&policy);
        live.users
            .insert("ceo@acme.com".into(), live_user(OrgRole::PrimaryOwner));
        let v = refused(plan(&policy, &live, Some(99)));
        assert_eq!(v[0].rule, SafetyRule::Protected);
        assert!(
            v[0].message
                .contains("remove `ceo@acme.com` (the primary owner)"),
            "{v:?}"
        );
    }

    #[test]
    fn suspending_or_demoting_a_protected_user_is_refused() {
        let text = BASE.replace(
            "safety: {max_removals: 10}",
            "safety: {max_removals: 10, protected: [kate@acme.com]}",
        );
        let before = policy(&text.replace(
            "kate@acme.com: {name: Kate}",
            "kate@acme.com: {name: Kate, role: admin}",
        ));
        let live = live::project(&before);
        let suspended = policy(&text.replace(
            "kate@acme.com: {name: Kate}",
            "kate@acme.com: {name: Kate, role: admin, status: suspended}",
        ));
        let v = refused(plan(&suspended, &live, None));
        assert!(
            v[0].message
                .contains("suspend `kate@acme.com` (a protected user)"),
            "{v:?}"
        );
        let demoted = policy(&text);
        let v = refused(plan(&demoted, &live, None));
        assert!(v[0].message.contains("demote `kate@acme.com`"), "{v:?}");
    }

    #[test]
    fn too_many_removals_are_refused_unless_allowed() {
        let policy = policy(&BASE.replace("max_removals: 10", "max_removals: 1"));
        let mut live = live::project(&policy);
        live.users.insert("a@acme.com".into(), LiveUser::default());
        live.users.insert("b@acme.com".into(), LiveUser::default());
        let v = refused(plan(&policy, &live, None));
        assert_eq!(v[0].rule, SafetyRule::MaxRemovals);
        assert!(v[0].message.contains("`a@acme.com`, `b@acme.com`"), "{v:?}");
        assert!(v[0].help.contains("--allow-removals 2"));
        assert!(refused(plan(&policy, &live, Some(1))).len() == 1);
        assert!(plan(&policy, &live, Some(2)).is_ok());
    }

    #[test]
    fn a_percentage_counts_live_users() {
        let policy = policy(&BASE.replace("max_removals: 10", "max_removals: \"50%\""));
        let mut live = live::project(&policy);
        live.users.insert("a@acme.com".into(), LiveUser::default());
        // 3 live users: 50% allows 1.
        assert!(plan(&policy, &live, None).is_ok());
        live.users.insert("b@acme.com".into(), LiveUser::default());
        // 4 live users: 50% allows 2.
        assert!(plan(&policy, &live, None).is_ok());
        live.users.insert("c@acme.com".into(), LiveUser::default());
        // 5 live users: 50% allows 2, 3 removed.
        assert_eq!(
            refused(plan(&policy, &live, None))[0].rule,
            SafetyRule::MaxRemovals
        );
    }

    #[test]
    fn too_few_admins_is_refused() {
        let policy = policy(&BASE.replace("max_removals: 10", "max_removals: 10, min_admins: 2"));
        // Kate is an admin now; the policy makes her a member.
        let mut live = live::project(&policy);
        if let Some(kate) = live.users.get_mut("kate@acme.com") {
            kate.role = OrgRole::Admin;
        }
        let v = refused(plan(&policy, &live, None));
        assert_eq!(v[0].rule, SafetyRule::MinAdmins);
        assert!(
            v[0].message
                .contains("1 owners and admins (`ceo@acme.com`)"),
            "{v:?}"
        );
    }

    #[test]
    fn seats_over_the_purchase_are_refused_counting_kept_users() {
        let keep = policy(
            &BASE
                .replace("unmanaged_users: remove", "unmanaged_users: keep")
                .replace("standard: 5", "standard: 2"),
        );
        // The live org bought 5; the policy lowers the purchase to 2 with 3 in use.
        let mut live = live::project(&policy(
            &BASE.replace("unmanaged_users: remove", "unmanaged_users: keep"),
        ));
        live.users.insert("x@acme.com".into(), LiveUser::default());
        let v = refused(plan(&keep, &live, None));
        assert_eq!(v[0].rule, SafetyRule::Seats);
        assert!(
            v[0].message
                .contains("3 standard seats in use, 2 purchased"),
            "{v:?}"
        );
        assert!(v[0].message.contains("`x@acme.com`"), "{v:?}");
    }
}

//! Building a plan: the diff (with the live and policy digests written on other cores,
//! unless the plan is only shown), the provider's refinement, execution order, the safety
//! rules, the summary and seat usage.

use crate::diff::Capabilities;
use crate::diff::{self, Effect, Execution, Operation};
use crate::live::{self, LiveState};
use crate::model::{Policy, Seat};

use super::digest::{Projected, live_digest, state_digest};
use super::safety::{LiveCounts, after_plan, safety};
use super::{FORMAT_VERSION, Options, Plan, PlanError, SeatReport, SeatUsage, Summary};

/// Diff, check and summarize.
pub fn build(
    policy: &Policy,
    live: &LiveState,
    caps: &Capabilities,
    options: &Options,
) -> Result<Plan, PlanError> {
    build_with(policy, live, caps, options, &|operations, _| operations)
}

/// [`build`], letting the provider refine the diff's operations before the safety checks
/// and the summary (see [`crate::provider::Provider::refine`]): it may split an operation
/// or turn it into a manual step with its own instruction. The result is sorted again
/// into execution order.
pub fn build_with(
    policy: &Policy,
    live: &LiveState,
    caps: &Capabilities,
    options: &Options,
    refine: &dyn Fn(Vec<Operation>, &LiveState) -> Vec<Operation>,
) -> Result<Plan, PlanError> {
    // The live state is checked (normalized, should it not be) and counted for the safety
    // rules while the policy's settings are projected: each is a walk of every user or
    // membership, and the diff needs both.
    let ((live, now), (desired, members)) = std::thread::scope(|scope| {
        let normalized = scope.spawn(|| {
            let live = live.as_normalized();
            let now = LiveCounts::of(&live);
            (live, now)
        });
        let projected = live::project_settings_apart(policy);
        (joined(normalized), projected)
    });
    let (live, desired, members) = (&*live, &desired, &members);
    // A plan only shown goes without the digests and the index (see `Options::shown_only`).
    // Otherwise the live state's digest (and index) and the policy's are written on other
    // threads while the diff runs: each is a walk of every user. Users are projected one
    // at a time by the diff and not at all by the policy's digest.
    let (mut found, policy_digest, (digest_of_live, index)) = if options.shown_only {
        let found = diff::diff_projected(policy, desired, members, live, caps);
        (found, String::new(), (String::new(), Vec::new()))
    } else {
        std::thread::scope(|scope| {
            let live_side = scope.spawn(|| {
                let entities = 1 + live.roles.len() + live.groups.len() + live.users.len();
                let mut index = Vec::with_capacity(entities);
                (live_digest(live, Some(&mut index)), index)
            });
            let policy_side = scope.spawn(|| {
                let declared = policy.users.iter();
                let declared = declared.map(|(email, user)| (email, Projected(user)));
                state_digest(desired, Some(members), declared, None)
            });
            let found = diff::diff_projected(policy, desired, members, live, caps);
            (found, joined(policy_side), joined(live_side))
        })
    };
    found.operations = refine(found.operations, live);
    found
        .operations
        .sort_by(|a, b| (a.op, &a.target, &a.member).cmp(&(b.op, &b.target, &b.member)));
    let after = after_plan(policy, live, &found.operations);
    let violations = safety(policy, live, &now, &found.operations, &after, options);
    if !violations.is_empty() {
        return Err(PlanError::Refused(violations));
    }
    let mut summary = Summary::default();
    for op in &found.operations {
        match op.op.effect() {
            Effect::Add => summary.add += 1,
            Effect::Change => summary.change += 1,
            Effect::Remove => summary.remove += 1,
        }
        if matches!(op.execution, Execution::Manual { .. }) {
            summary.manual += 1;
        }
    }
    let usage = |seat: Seat, purchased: u32| SeatUsage {
        purchased,
        before: now.seats(seat),
        after: after.iter().filter(|(_, u)| u.seat == seat).count(),
    };
    Ok(Plan {
        format_version: FORMAT_VERSION,
        orgplan_version: env!("CARGO_PKG_VERSION").to_owned(),
        live: options.live.clone(),
        live_digest: digest_of_live,
        policy_digest,
        operations: found.operations,
        unmanaged: found.unmanaged,
        unverifiable: found.unverifiable,
        summary,
        seats: SeatReport {
            standard: usage(Seat::Standard, policy.org.seats.standard),
            premium: usage(Seat::Premium, policy.org.seats.premium),
        },
        // Built from sorted entries: no search per key.
        live_index: index.into_iter().collect(),
    })
}

/// What a scoped thread returned; its panic, should it have panicked, goes on here.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::tests::{BASE, policy};
    use crate::plan::render_human;
    use crate::plan::tests::plan;

    /// The plan of `policy` against `live`, built in full and only to be shown.
    fn both(policy: &Policy, live: &LiveState) -> (Plan, Plan) {
        let options = Options::default();
        let caps = Capabilities::full();
        let full = build(policy, live, &caps, &options);
        let shown = Options {
            shown_only: true,
            ..options
        };
        let shown = build(policy, live, &caps, &shown);
        (
            full.unwrap_or_else(|e| panic!("{e}")),
            shown.unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn the_digests_are_of_the_whole_states_and_a_plan_only_shown_lacks_only_them_and_the_index() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        crate::synth::generate(2000, 1, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let loaded = crate::load::load_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let synthetic = crate::validate::check(loaded)
            .policy
            .unwrap_or_else(|| panic!("invalid synthetic policy"));
        let bytes = std::fs::read(dir.path().join("live.json")).unwrap_or_else(|e| panic!("{e}"));
        let synthetic_live = crate::provider::file::parse(&dir.path().join("live.json"), &bytes)
            .unwrap_or_else(|e| panic!("{e}"));
        let base = policy(BASE);
        // Not normalized: an uppercase email and members out of order.
        let mut unsorted = live::project(&base);
        let user = unsorted
            .users
            .pop_first()
            .unwrap_or_else(|| panic!("no user"));
        unsorted.users.insert(user.0.to_uppercase(), user.1);
        for group in unsorted.groups.values_mut() {
            group.members.reverse();
            group.members.push("Someone@Acme.com".into());
        }
        assert!(!unsorted.is_normalized());
        for (policy, live) in [
            (&base, LiveState::default()),
            (&base, live::project(&base)),
            (&base, unsorted),
            (&synthetic, synthetic_live),
        ] {
            let (full, shown) = both(policy, &live);
            assert_eq!(
                full.policy_digest,
                crate::plan::digest(&live::project(policy))
            );
            assert_eq!(
                full.live_digest,
                crate::plan::digest(&live.clone().normalized())
            );
            assert_eq!(full.live_index, crate::plan::live_index(&live.normalized()));
            assert!(shown.live_index.is_empty());
            assert!(shown.live_digest.is_empty());
            assert!(shown.policy_digest.is_empty());
            assert_eq!(
                Plan {
                    live_index: full.live_index.clone(),
                    live_digest: full.live_digest.clone(),
                    policy_digest: full.policy_digest.clone(),
                    ..shown
                },
                full
            );
        }
    }

    #[test]
    fn seats_and_summary_of_a_new_org() {
        let policy = policy(BASE);
        let plan = plan(&policy, &LiveState::default(), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan.seats.standard,
            SeatUsage {
                purchased: 5,
                before: 0,
                after: 2
            }
        );
        assert_eq!(
            plan.summary,
            Summary {
                add: 5,
                change: 1,
                remove: 0,
                manual: 0
            }
        );
        let mut text = Vec::new();
        render_human(&plan, &mut text, false).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&text);
        assert!(
            text.ends_with("Plan: 5 to add, 1 to change, 0 to remove, 0 manual.\n"),
            "{text}"
        );
        assert!(
            text.contains("  standard: 0 -> 2 (of 5 purchased)"),
            "{text}"
        );
    }
}

//! Building a plan: the diff (with the live digest written on another core), the
//! provider's refinement, execution order, the safety rules, the summary and seat usage.

use crate::diff::Capabilities;
use crate::diff::{self, Effect, Execution, Operation};
use crate::live::{self, LiveState};
use crate::model::{Policy, Seat};

use super::digest::{Projected, live_digest, state_digest};
use super::safety::{after_plan, safety};
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
    let live = &*live.as_normalized();
    // The live state's digest (and index) and the policy's are written on other threads
    // while the diff runs: each is a walk of every user, and the diff alone is about as
    // long as both. Settings are projected once, for the diff and for the policy digest;
    // users are projected one at a time by the diff and not at all by the digest.
    let (mut found, policy_digest, (digest_of_live, index)) = std::thread::scope(|scope| {
        let live_side = scope.spawn(|| {
            if options.skip_live_index {
                return (live_digest(live, None), Vec::new());
            }
            let entities = 1 + live.roles.len() + live.groups.len() + live.users.len();
            let mut index = Vec::with_capacity(entities);
            (live_digest(live, Some(&mut index)), index)
        });
        let (desired, members) = live::project_settings_apart(policy);
        let (desired, members) = (&desired, &members);
        let (found, policy_digest) = std::thread::scope(|scope| {
            let policy_side = scope.spawn(|| {
                let declared = policy.users.iter();
                let declared = declared.map(|(email, user)| (email, Projected(user)));
                state_digest(desired, Some(members), declared, None)
            });
            let found = diff::diff_projected(policy, desired, members, live, caps);
            let policy_digest = policy_side
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (found, policy_digest)
        });
        let live_side = live_side
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (found, policy_digest, live_side)
    });
    found.operations = refine(found.operations, live);
    found
        .operations
        .sort_by(|a, b| (a.op, &a.target, &a.member).cmp(&(b.op, &b.target, &b.member)));
    let after = after_plan(policy, live, &found.operations);
    let violations = safety(policy, live, &found.operations, &after, options);
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
        before: live.users.values().filter(|u| u.seat == seat).count(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::tests::{BASE, policy};
    use crate::plan::render_human;
    use crate::plan::tests::plan;

    /// The plan of `policy` against `live`, built with and without its index.
    fn both(policy: &Policy, live: &LiveState) -> (Plan, Plan) {
        let options = Options::default();
        let caps = Capabilities::full();
        let indexed = build(policy, live, &caps, &options);
        let skip = Options {
            skip_live_index: true,
            ..options
        };
        let unindexed = build(policy, live, &caps, &skip);
        (
            indexed.unwrap_or_else(|e| panic!("{e}")),
            unindexed.unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn the_policy_digest_is_that_of_the_whole_projection_and_only_the_index_is_left_out() {
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
        for (policy, live) in [
            (&base, LiveState::default()),
            (&base, live::project(&base)),
            (&synthetic, synthetic_live),
        ] {
            let (indexed, unindexed) = both(policy, &live);
            assert_eq!(
                indexed.policy_digest,
                crate::plan::digest(&live::project(policy))
            );
            assert_eq!(indexed.live_index, crate::plan::live_index(&live));
            assert!(unindexed.live_index.is_empty());
            assert_eq!(
                Plan {
                    live_index: indexed.live_index.clone(),
                    ..unindexed
                },
                indexed
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

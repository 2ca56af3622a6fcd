//! The provisioning plan: operations from [`crate::diff`], checked against the safety
//! rules on the org as it stands after the plan, with digests and seat usage; rendered
//! for people (human), machines (json) and pull requests (markdown). Pure: no I/O, no
//! clock, no environment — the same inputs give byte-identical output.
//!
//! This file holds the plan's types; the work is in rooms named for it: `build` (diff,
//! refine, sort, summarize), `safety` (the rules, on the org after the plan), `digest`
//! (live, policy and plan digests; `canonical` writes their canonical JSON) and `render`
//! (human, JSON, GitHub, markdown).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

mod build;
mod canonical;
mod digest;
mod render;
mod safety;

pub use build::{build, build_with};
pub(crate) use digest::live_digest;
pub use digest::{canonical, digest, live_index};
pub use render::{access_changes, render_github, render_human, render_json, render_markdown};
pub use safety::check_operations;

use crate::diff::{Operation, Unmanaged};

/// The only saved-plan format this build writes.
pub const FORMAT_VERSION: u32 = 1;

/// A plan, as saved by `orgplan plan -o FILE` and printed by `--format json`.
///
/// ```json
/// {
///   "format_version": 1,
///   "orgplan_version": "0.1.0",
///   "live": "file:.orgplan/live.json",          // the URI, credentials stripped
///   "live_digest": "<sha256 hex>",              // of the canonical JSON of the live state
///   "policy_digest": "<sha256 hex>",            // of the canonical JSON of the policy's projection
///   "operations": [{
///     "op": "group.add_member",                 // docs/plan.md names, in execution order
///     "target": "engineering",                  // email, group, role or "org"
///     "member": "bob@acme.com",                 // membership operations only
///     "changes": [{"field": "seat", "before": "standard", "after": "premium"}],
///     "source": "policies/groups.yaml:12",      // absent for removals
///     "execution": "provider"                   // or "manual", with "instruction": "…"
///   }],
///   "unmanaged": [{"email": "x@acme.com", "role": "member", "seat": "standard", "status": "active"}],
///   "unverifiable": ["org.seats"],              // what the provider cannot read
///   "summary": {"add": 3, "change": 1, "remove": 0, "manual": 0},
///   "seats": {"standard": {"purchased": 15, "before": 10, "after": 12}, "premium": {…}}
/// }
/// ```
///
/// Canonical JSON (for the digests): object keys sorted, no whitespace. `before`/`after`
/// are `null` when the value is absent (a creation, a removal). No timestamps, so that
/// planning twice gives the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The orgplan that made the plan.
    pub orgplan_version: String,
    /// The live URI, credentials stripped.
    pub live: String,
    /// sha256 of the canonical JSON of the live state; `apply` refuses a stale plan.
    /// Empty in a plan only shown ([`Options::shown_only`]), which no one checks.
    pub live_digest: String,
    /// sha256 of the canonical JSON of the live state the policy asks for.
    /// Empty in a plan only shown ([`Options::shown_only`]).
    pub policy_digest: String,
    /// Operations in execution order.
    pub operations: Vec<Operation>,
    /// Live users the policy does not declare, kept.
    pub unmanaged: Vec<Unmanaged>,
    /// Fields the provider cannot read, so did not compare.
    pub unverifiable: Vec<String>,
    /// Counts of operations.
    pub summary: Summary,
    /// Seat usage per tier.
    pub seats: SeatReport,
    /// A short digest of every live entity (`org`, `roles/<name>`, `groups/<name>`,
    /// `users/<email>`), so that `apply` can say what changed when it refuses a stale plan.
    /// Absent from plans made before it existed, which then only say that the org changed,
    /// and empty in a plan only shown ([`Options::shown_only`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub live_index: BTreeMap<String, String>,
}

/// Operation counts: every operation is an add, a change or a remove; `manual` counts
/// those among them that an admin carries out by hand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Creations, invites, added memberships.
    pub add: usize,
    /// Updates, reactivations, suspensions.
    pub change: usize,
    /// Removals, deletions, removed memberships.
    pub remove: usize,
    /// Manual steps.
    pub manual: usize,
}

/// Seats per tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatReport {
    /// Standard seats.
    pub standard: SeatUsage,
    /// Premium seats.
    pub premium: SeatUsage,
}

/// Seats of one tier: purchased (as the policy asks), in use now and after the plan.
/// Every account that exists holds its seat: active, invited and suspended alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatUsage {
    /// Purchased, per `org.seats`.
    pub purchased: u32,
    /// In use in the live org.
    pub before: usize,
    /// In use once the plan is carried out.
    pub after: usize,
}

/// What the caller decides for one plan.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The live URI, credentials already stripped.
    pub live: String,
    /// `--allow-removals N`: accept up to N removals and suspensions beyond
    /// `safety.max_removals`.
    pub allow_removals: Option<usize>,
    /// The plan is only shown (human, markdown or GitHub output), never saved nor printed
    /// as JSON: it goes without its `live_index`, `live_digest` and `policy_digest` (left
    /// empty). Only a saved plan's are read (by `apply`, to refuse a stale plan and name
    /// what changed since), no renderer but the JSON one writes them, and each is a
    /// canonical JSON and sha256 of every user, live or declared.
    pub shown_only: bool,
}

/// A safety rule of docs/plan.md, named on the wire (refusal messages, GitHub
/// annotations) by the policy setting it enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SafetyRule {
    /// `safety.protected`: the primary owner and protected users are never removed,
    /// suspended or demoted, and no second primary owner is made.
    Protected,
    /// `safety.max_removals`: removals and suspensions within the limit.
    MaxRemovals,
    /// `safety.min_admins`: enough owners and admins left who can act.
    MinAdmins,
    /// `org.seats`: no more seats in use than purchased.
    Seats,
}

impl SafetyRule {
    /// Every rule, in the order they are judged.
    pub const ALL: [SafetyRule; 4] = [
        SafetyRule::Protected,
        SafetyRule::MaxRemovals,
        SafetyRule::MinAdmins,
        SafetyRule::Seats,
    ];

    /// The name on the wire: `safety.protected`, `safety.max_removals`,
    /// `safety.min_admins`, `org.seats`.
    pub fn as_str(self) -> &'static str {
        match self {
            SafetyRule::Protected => "safety.protected",
            SafetyRule::MaxRemovals => "safety.max_removals",
            SafetyRule::MinAdmins => "safety.min_admins",
            SafetyRule::Seats => "org.seats",
        }
    }

    /// Where the rule's setting lies inside the policy's `org` section (for
    /// [`crate::model::Origins::locate`] with `Section::Org`), so that a refusal can point
    /// at the line that refused it.
    pub fn policy_path(self) -> &'static [&'static str] {
        match self {
            SafetyRule::Protected => &["safety", "protected"],
            SafetyRule::MaxRemovals => &["safety", "max_removals"],
            SafetyRule::MinAdmins => &["safety", "min_admins"],
            SafetyRule::Seats => &["seats"],
        }
    }
}

impl fmt::Display for SafetyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A safety rule the plan would break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: SafetyRule,
    /// What the plan would do.
    pub message: String,
    /// How to proceed.
    pub help: String,
}

/// Why no plan was made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The plan breaks safety rules; nothing was written.
    #[error("plan refused by {} safety rule{}, nothing written:{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, list(.0))]
    Refused(Vec<Violation>),
}

fn list(violations: &[Violation]) -> String {
    violations.iter().fold(String::new(), |mut out, v| {
        let _ = write!(
            out,
            "\n  {}: {}\n    to proceed: {}",
            v.rule, v.message, v.help
        );
        out
    })
}

impl Plan {
    /// True when nothing is left to do.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::diff::Capabilities;
    use crate::diff::tests::{BASE, policy};
    use crate::live::LiveState;
    use crate::model::{Policy, Section};

    pub(crate) fn plan(
        policy: &Policy,
        live: &LiveState,
        allow: Option<usize>,
    ) -> Result<Plan, PlanError> {
        let options = Options {
            live: "file:live.json".into(),
            allow_removals: allow,
            shown_only: false,
        };
        build(policy, live, &Capabilities::full(), &options)
    }

    #[test]
    fn every_safety_rule_has_its_wire_name_and_points_at_its_setting() {
        let names: Vec<String> = SafetyRule::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "safety.protected",
                "safety.max_removals",
                "safety.min_admins",
                "org.seats"
            ]
        );
        // BASE starts with a newline: `org:` is line 2, `seats` line 6.
        let policy = policy(&BASE.replace(
            "  safety: {max_removals: 10}\n",
            "  safety:\n    max_removals: 10\n    min_admins: 1\n    protected: [ceo@acme.com]\n",
        ));
        let lines: Vec<(SafetyRule, Option<usize>)> = SafetyRule::ALL
            .into_iter()
            .map(|rule| {
                let at = policy.origins.locate(Section::Org, "", rule.policy_path());
                (rule, at.map(|l| l.line))
            })
            .collect();
        assert_eq!(
            lines,
            [
                (SafetyRule::Protected, Some(12)),
                (SafetyRule::MaxRemovals, Some(10)),
                (SafetyRule::MinAdmins, Some(11)),
                (SafetyRule::Seats, Some(6)),
            ]
        );
    }
}

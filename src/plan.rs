//! The provisioning plan: operations from [`crate::diff`], checked against the safety
//! rules on the org as it stands after the plan, with digests and seat usage; rendered
//! for people (human), machines (json) and pull requests (markdown). Pure: no I/O, no
//! clock, no environment — the same inputs give byte-identical output.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod canonical;

use canonical::Canonical;

use crate::diff::Capabilities;
use crate::diff::{self, Effect, Execution, OpKind, Operation, Unmanaged};
use crate::live::{self, LiveState, LiveStatus, LiveUser};
use crate::model::{OrgRole, Policy, Seat};

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
    pub live_digest: String,
    /// sha256 of the canonical JSON of the live state the policy asks for.
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
    /// Absent from plans made before it existed, which then only say that the org changed.
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
}

/// A safety rule the plan would break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `safety.protected`, `safety.max_removals`, `safety.min_admins`, `org.seats`.
    pub rule: &'static str,
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
    let violations = safety(policy, live, operations, &after, options);
    if violations.is_empty() {
        Ok(())
    } else {
        Err(PlanError::Refused(violations))
    }
}

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
    // The live state's digest and index are written on another core while the diff runs
    // (each is a walk of every user). Settings are projected once, for the diff and for
    // the policy digest; users are projected one at a time by both, never all held.
    let (mut found, policy_digest, (digest_of_live, index)) = std::thread::scope(|scope| {
        let live_side = scope.spawn(|| {
            let entities = 1 + live.roles.len() + live.groups.len() + live.users.len();
            let mut index = Vec::with_capacity(entities);
            (live_digest(live, Some(&mut index)), index)
        });
        let desired = live::project_settings(policy);
        let found = diff::diff_projected(policy, &desired, live, caps);
        let declared = policy.users.iter();
        let declared = declared.map(|(email, user)| (email, live::project_user(user)));
        let policy_digest = state_digest(&desired, declared, None);
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

/// A short digest (16 hex digits) of each entity of `live`, keyed `org`, `roles/<name>`,
/// `groups/<name>`, `users/<email>`: enough to name what changed between two states.
pub fn live_index(live: &LiveState) -> BTreeMap<String, String> {
    let mut index = Vec::new();
    live_digest(live, Some(&mut index));
    index.into_iter().collect()
}

/// `digest(live)` with no text of the whole state held (17 MB on 100,000 users, at the
/// peak of `plan`), and with `index`, the entries of [`live_index`] from the same
/// writing of each entity. The canonical text of a state is its fields sorted, `org`
/// absent when `None`: `{"format_version":1,"groups":{…},"org":{…},"roles":{…},
/// "users":{…}}`, the maps' keys sorted already (`BTreeMap<String, _>`), each entity's
/// text the same as alone. Tests check both against `digest` and the `Value` path.
pub(crate) fn live_digest(live: &LiveState, index: Option<&mut Vec<(String, String)>>) -> String {
    state_digest(live, live.users.iter(), index)
}

/// [`live_digest`] of `state` with `users` in place of its own (the policy's users,
/// projected one at a time). `users` must be sorted by email, as a `BTreeMap` is.
fn state_digest<'k>(
    state: &LiveState,
    users: impl Iterator<Item = (&'k String, impl Serialize)>,
    mut index: Option<&mut Vec<(String, String)>>,
) -> String {
    // Destructured so that a new field of the live state cannot be left out here.
    let LiveState {
        format_version,
        org,
        roles,
        groups,
        users: _,
    } = state;
    let canon = &mut Canonical::default();
    let mut whole = Sha256::new();
    whole.update(format!("{{\"format_version\":{format_version}"));
    section(
        canon,
        &mut whole,
        index.as_deref_mut(),
        "groups",
        groups.iter(),
    );
    if let Some(org) = org {
        let text = canonical_text(canon, org);
        whole.update(b",\"org\":");
        whole.update(&text);
        if let Some(index) = index.as_deref_mut() {
            index.push(("org".to_owned(), short(&text)));
        }
    }
    section(
        canon,
        &mut whole,
        index.as_deref_mut(),
        "roles",
        roles.iter(),
    );
    section(canon, &mut whole, index, "users", users);
    whole.update(b"}");
    hex(&whole.finalize())
}

// `,"name":{…}` into the whole digest, and each entity's short digest into the index:
// the sections come in key order and each is sorted, so the index is too.
fn section<'k>(
    canon: &mut Canonical,
    whole: &mut Sha256,
    mut index: Option<&mut Vec<(String, String)>>,
    name: &str,
    entities: impl Iterator<Item = (&'k String, impl Serialize)>,
) {
    whole.update(format!(",\"{name}\":{{"));
    for (i, (key, entity)) in entities.enumerate() {
        if i > 0 {
            whole.update(b",");
        }
        whole.update(canonical_text(canon, key));
        whole.update(b":");
        let text = canonical_text(canon, &entity);
        whole.update(&text);
        if let Some(index) = index.as_deref_mut() {
            index.push((format!("{name}/{key}"), short(&text)));
        }
    }
    whole.update(b"}");
}

// The first 16 hex digits of the sha256 of `text`.
fn short(text: &[u8]) -> String {
    hex(&Sha256::digest(text)[..8])
}

impl Plan {
    /// True when nothing is left to do.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }
}

/// A user as the org will have them once the plan is carried out.
#[derive(Debug, Clone, Copy)]
struct After {
    role: OrgRole,
    seat: Seat,
    status: LiveStatus,
}

/// Every account after the plan, sorted by email: declared users as declared (a pending
/// invite stays pending), kept unmanaged users as they are, removed users gone.
fn after_plan<'a>(
    policy: &'a Policy,
    live: &'a LiveState,
    ops: &[Operation],
) -> Vec<(&'a str, After)> {
    let removed: BTreeSet<&str> = ops
        .iter()
        .filter(|o| o.op == OpKind::UserRemove)
        .map(|o| o.target.as_str())
        .collect();
    let kept = |u: &LiveUser| After {
        role: u.role,
        seat: u.seat,
        status: u.status,
    };
    // Both maps are sorted by email: one merged walk, no lookup per user.
    let mut live_users = live
        .users
        .iter()
        .filter(|(email, _)| !removed.contains(email.as_str()))
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
fn safety(
    policy: &Policy,
    live: &LiveState,
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
    let mut touched = Vec::new();
    for op in ops {
        let who = op.target.as_str();
        let primary = live
            .users
            .get(who)
            .is_some_and(|u| u.role == OrgRole::PrimaryOwner);
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
    let live_primary: Vec<&str> = live
        .users
        .iter()
        .filter(|(_, u)| u.role == OrgRole::PrimaryOwner)
        .map(|(email, _)| email.as_str())
        .collect();
    if let Some(current) = live_primary.first() {
        for op in ops {
            let made_primary = matches!(op.op, OpKind::UserInvite | OpKind::UserUpdate)
                && op.changes.iter().any(|c| {
                    c.field == "role"
                        && serde_json::from_value::<OrgRole>(c.after.clone()).ok()
                            == Some(OrgRole::PrimaryOwner)
                });
            if made_primary && !live_primary.contains(&op.target.as_str()) {
                touched.push(format!(
                    "make `{}` primary owner while `{current}` is (the primary owner)",
                    op.target
                ));
            }
        }
    }
    if !touched.is_empty() {
        out.push(Violation {
            rule: "safety.protected",
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
            rule: "safety.max_removals",
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
    let admins_now = live
        .users
        .values()
        .filter(|u| u.role.is_admin() && u.status != LiveStatus::Suspended)
        .count();
    if admins.len() < rules.min_admins as usize && admins.len() < admins_now {
        out.push(Violation {
            rule: "safety.min_admins",
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
        let holders: Vec<&str> = after
            .iter()
            .filter(|(_, a)| a.seat == seat)
            .map(|(email, _)| *email)
            .collect();
        // As for admins: seats the live org already holds beyond its purchase are not the
        // plan's doing, unless it adds holders or lowers the purchase.
        let held_now = live.users.values().filter(|u| u.seat == seat).count();
        // A live org whose settings cannot be read (or were never set) counts as not over.
        let purchased_now = live.org.as_ref().map_or(u32::MAX, |org| match seat {
            Seat::Standard => org.seats.standard,
            Seat::Premium => org.seats.premium,
        });
        let already_over = held_now > purchased_now as usize;
        let not_worse = holders.len() <= held_now && purchased >= purchased_now;
        if holders.len() > purchased as usize && !(already_over && not_worse) {
            let unmanaged: Vec<&str> = holders
                .iter()
                .copied()
                .filter(|e| !policy.users.contains_key(*e))
                .collect();
            let detail = if unmanaged.is_empty() {
                String::new()
            } else {
                format!(", kept unmanaged users included ({})", emails(&unmanaged))
            };
            out.push(Violation {
                rule: "org.seats",
                message: format!(
                    "the plan would end with {} {} seats in use, {purchased} purchased{detail}",
                    holders.len(),
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

/// sha256 hex of the canonical JSON of `value`.
pub fn digest<T: Serialize>(value: &T) -> String {
    hex(&Sha256::digest(canonical_text(
        &mut Canonical::default(),
        value,
    )))
}

// The canonical JSON of `value`, written with `canon`'s reused buffers. What the direct
// writer does not handle exactly goes through a `Value`, as every digest did before it.
fn canonical_text<'c, T: Serialize>(canon: &'c mut Canonical, value: &T) -> Cow<'c, [u8]> {
    if canon.write(value).is_ok() {
        return Cow::Borrowed(canon.text());
    }
    let value = serde_json::to_value(value).unwrap_or(Value::Null);
    let mut text = Vec::new();
    let _ = write_canonical(&value, &mut text);
    Cow::Owned(text)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// Canonical JSON: keys sorted, no whitespace.
pub fn canonical(value: &Value, out: &mut String) {
    let mut bytes = Vec::new();
    let _ = write_canonical(value, &mut bytes);
    out.push_str(&String::from_utf8_lossy(&bytes));
}

// The canonical form written to any sink (a hasher, a buffer): keys sorted, no whitespace,
// strings and numbers as serde_json writes them.
fn write_canonical(value: &Value, out: &mut impl io::Write) -> io::Result<()> {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.write_all(b"{")?;
            for (i, (key, child)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, key)?;
                out.write_all(b":")?;
                write_canonical(child, out)?;
            }
            out.write_all(b"}")
        }
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (i, child) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_canonical(child, out)?;
            }
            out.write_all(b"]")
        }
        scalar => serde_json::to_writer(&mut *out, scalar).map_err(io::Error::other),
    }
}

// ---------------------------------------------------------------- rendering

/// How a body line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Add,
    Change,
    Remove,
    Plain,
}

impl Tone {
    fn of(effect: Effect) -> Self {
        match effect {
            Effect::Add => Tone::Add,
            Effect::Change => Tone::Change,
            Effect::Remove => Tone::Remove,
        }
    }

    fn sign(self) -> char {
        match self {
            Tone::Add => '+',
            Tone::Change => '~',
            Tone::Remove => '-',
            Tone::Plain => ' ',
        }
    }

    fn style(self) -> anstyle::Style {
        let color = match self {
            Tone::Add => anstyle::AnsiColor::Green,
            Tone::Change => anstyle::AnsiColor::Yellow,
            Tone::Remove => anstyle::AnsiColor::Red,
            Tone::Plain => return anstyle::Style::new(),
        };
        color.on_default()
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "(none)".into(),
        Value::String(s) => Value::from(s.as_str()).to_string(),
        other => other.to_string(),
    }
}

fn item(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn lines_of(value: &Value) -> String {
    match value {
        Value::Array(items) => items.iter().map(|i| item(i) + "\n").collect(),
        Value::Null => String::new(),
        // A YAML block scalar (`|`) ends with its own newline.
        other => {
            let text = item(other);
            if text.ends_with('\n') {
                text
            } else {
                text + "\n"
            }
        }
    }
}

/// The body of one operation: one line per scalar field, a line diff per list.
fn body(op: &Operation) -> Vec<(Tone, String)> {
    let mut out = Vec::new();
    for change in &op.changes {
        // Lists, and strings of several lines (a line diff for multi-line values, docs/plan.md).
        let multi_line = |v: &Value| v.as_str().is_some_and(|s| s.contains('\n'));
        let listy = change.before.is_array()
            || change.after.is_array()
            || multi_line(&change.before)
            || multi_line(&change.after);
        let (old, new) = (lines_of(&change.before), lines_of(&change.after));
        if listy && old.is_empty() && new.is_empty() {
            // An empty list set where there was none: nothing to diff line by line.
            out.push((Tone::Plain, format!("{}: []", change.field)));
            continue;
        }
        if listy {
            out.push((Tone::Plain, format!("{}:", change.field)));
            let diff = similar::TextDiff::from_lines(&old, &new);
            for line in diff.iter_all_changes() {
                let text = line.value().trim_end_matches('\n');
                let tone = match line.tag() {
                    similar::ChangeTag::Insert => Tone::Add,
                    similar::ChangeTag::Delete => Tone::Remove,
                    similar::ChangeTag::Equal => Tone::Plain,
                };
                out.push((tone, format!("  {} {text}", tone.sign())));
            }
            continue;
        }
        let line = match op.op.effect() {
            Effect::Add if change.before.is_null() => {
                format!("{}: {}", change.field, scalar(&change.after))
            }
            Effect::Remove if change.after.is_null() => {
                format!("{}: {}", change.field, scalar(&change.before))
            }
            _ => format!(
                "{}: {} -> {}",
                change.field,
                scalar(&change.before),
                scalar(&change.after)
            ),
        };
        out.push((Tone::Plain, line));
    }
    out
}

/// An operation in one line: `op target`, with `<- member` / `-> member` for memberships.
pub fn title(op: &Operation) -> String {
    let mut text = format!("{} {}", op.op.as_str(), op.target);
    if let Some(member) = &op.member {
        let arrow = if op.op == OpKind::GroupAddMember {
            "<-"
        } else {
            "->"
        };
        let _ = write!(text, " {arrow} {member}");
    }
    text
}

fn closing(summary: &Summary) -> String {
    format!(
        "Plan: {} to add, {} to change, {} to remove, {} manual.",
        summary.add, summary.change, summary.remove, summary.manual
    )
}

const NO_CHANGES: &str = "No changes. The live org matches the policy.";

fn unmanaged_line(u: &Unmanaged) -> String {
    format!(
        "{} ({}, {} seat, {})",
        u.email,
        u.role.as_str(),
        u.seat.as_str(),
        u.status.as_str()
    )
}

/// Terraform-like text; colour only when `color` (the caller decides: terminal, NO_COLOR).
pub fn render_human(plan: &Plan, out: &mut dyn Write, color: bool) -> io::Result<()> {
    let paint = |tone: Tone, text: &str| {
        if color && tone != Tone::Plain {
            let style = tone.style();
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    };
    writeln!(out, "Live: {}", plan.live)?;
    writeln!(out)?;
    for op in &plan.operations {
        let tone = Tone::of(op.op.effect());
        let head = format!("{} {}", tone.sign(), title(op));
        match &op.source {
            Some(source) => writeln!(out, "{}  ({source})", paint(tone, &head))?,
            None => writeln!(out, "{}", paint(tone, &head))?,
        }
        for (line_tone, line) in body(op) {
            writeln!(out, "    {}", paint(line_tone, &line))?;
        }
        if let Execution::Manual { instruction } = &op.execution {
            writeln!(
                out,
                "    {}",
                paint(Tone::Change, &format!("manual: {instruction}"))
            )?;
        }
    }
    if !plan.operations.is_empty() {
        writeln!(out)?;
    }
    if !plan.unmanaged.is_empty() {
        writeln!(out, "Unmanaged users (not in the policy, kept):")?;
        for u in &plan.unmanaged {
            writeln!(out, "  {}", unmanaged_line(u))?;
        }
        writeln!(out)?;
    }
    if !plan.unverifiable.is_empty() {
        writeln!(
            out,
            "Unverifiable (the provider cannot read these; not compared):"
        )?;
        for field in &plan.unverifiable {
            writeln!(out, "  {field}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "Seats:")?;
    for (tier, usage) in [
        ("standard", plan.seats.standard),
        ("premium", plan.seats.premium),
    ] {
        writeln!(
            out,
            "  {tier}: {} -> {} (of {} purchased)",
            usage.before, usage.after, usage.purchased
        )?;
    }
    writeln!(out)?;
    if plan.is_empty() {
        writeln!(out, "{NO_CHANGES}")
    } else {
        writeln!(out, "{}", closing(&plan.summary))
    }
}

/// The saved-plan format, pretty, with a final newline.
pub fn render_json(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, plan)?;
    writeln!(out)
}

/// GitHub Actions workflow commands: one annotation per operation on the policy line that
/// asked for it (a `notice`; removals, which have no such line, are `warning`s on the
/// run), manual steps as `warning`s with their instruction, and the closing line.
pub fn render_github(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    for op in &plan.operations {
        let removal = op.op.effect() == Effect::Remove;
        let mut message = format!("{} {}", Tone::of(op.op.effect()).sign(), title(op));
        for change in &op.changes {
            let _ = write!(
                message,
                "\n{}: {} -> {}",
                change.field,
                compact(&change.before),
                compact(&change.after)
            );
        }
        let mut level = if removal { "warning" } else { "notice" };
        if let Execution::Manual { instruction } = &op.execution {
            level = "warning";
            let _ = write!(message, "\nmanual step: {instruction}");
        }
        let diagnostic = crate::diag::Annotation {
            level,
            location: op.source.as_deref().and_then(split_source),
            title: op.op.as_str(),
            message: &message,
        };
        writeln!(out, "{}", diagnostic.line())?;
    }
    let summary = if plan.is_empty() {
        NO_CHANGES.to_owned()
    } else {
        closing(&plan.summary)
    };
    let closing = crate::diag::Annotation {
        level: "notice",
        location: None,
        title: "orgplan plan",
        message: &summary,
    };
    writeln!(out, "{}", closing.line())
}

// `policies/users.yaml:12` -> (file, line).
fn split_source(source: &str) -> Option<(String, usize)> {
    let (file, line) = source.rsplit_once(':')?;
    Some((file.to_owned(), line.parse().ok()?))
}

fn compact(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_owned(),
        other => other.to_string(),
    }
}

/// The access changes of a plan, per person, for the pull-request comment: effective
/// permissions of the org as it is against those of the policy.
pub fn access_changes(
    plan: &Plan,
    policy: &Policy,
    live: &LiveState,
) -> Vec<crate::resolve::AccessChange> {
    let before = live::as_policy(live);
    let removed: Vec<String> = plan
        .operations
        .iter()
        .filter(|op| op.op == OpKind::UserRemove)
        .map(|op| op.target.clone())
        .collect();
    crate::resolve::access_changes(before.as_ref(), policy, &removed)
}

/// A pull-request comment: heading, summary tables, manual steps called out, who gains or
/// loses what, then one `<details>` per operation.
pub fn render_markdown(
    plan: &Plan,
    access: &[crate::resolve::AccessChange],
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "### orgplan plan")?;
    writeln!(out)?;
    writeln!(out, "Live: `{}`", plan.live)?;
    writeln!(out)?;
    if plan.is_empty() {
        writeln!(out, "**{NO_CHANGES}**")?;
    } else {
        writeln!(out, "**{}**", closing(&plan.summary))?;
        writeln!(out)?;
        writeln!(out, "| Add | Change | Remove | Manual |")?;
        writeln!(out, "|---:|---:|---:|---:|")?;
        let s = &plan.summary;
        writeln!(
            out,
            "| {} | {} | {} | {} |",
            s.add, s.change, s.remove, s.manual
        )?;
    }
    writeln!(out)?;
    writeln!(out, "| Seats | Before | After | Purchased |")?;
    writeln!(out, "|---|---:|---:|---:|")?;
    for (tier, usage) in [
        ("standard", plan.seats.standard),
        ("premium", plan.seats.premium),
    ] {
        writeln!(
            out,
            "| {tier} | {} | {} | {} |",
            usage.before, usage.after, usage.purchased
        )?;
    }
    if !plan.unmanaged.is_empty() {
        writeln!(out)?;
        writeln!(out, "Unmanaged users (not in the policy, kept):")?;
        writeln!(out)?;
        for u in &plan.unmanaged {
            writeln!(out, "- `{}`", unmanaged_line(u))?;
        }
    }
    if !plan.unverifiable.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Unverifiable (the provider cannot read these; not compared):"
        )?;
        writeln!(out)?;
        for field in &plan.unverifiable {
            writeln!(out, "- `{field}`")?;
        }
    }
    let manual: Vec<&Operation> = plan
        .operations
        .iter()
        .filter(|op| matches!(op.execution, Execution::Manual { .. }))
        .collect();
    if !manual.is_empty() {
        writeln!(out)?;
        writeln!(out, "> [!WARNING]")?;
        writeln!(
            out,
            "> {} manual step{} an admin must carry out by hand; `apply` does not do them:",
            manual.len(),
            if manual.len() == 1 { "" } else { "s" }
        )?;
        for op in manual {
            if let Execution::Manual { instruction } = &op.execution {
                writeln!(out, "> - `{}`: {}", title(op), instruction)?;
            }
        }
    }
    if !access.is_empty() {
        writeln!(out)?;
        writeln!(out, "#### Access changes")?;
        writeln!(out)?;
        writeln!(out, "| User | Gains, loses, changes |")?;
        writeln!(out, "|---|---|")?;
        for person in access {
            let cells: Vec<String> = person
                .changes
                .iter()
                .map(|c| c.replace('|', "\\|"))
                .collect();
            writeln!(out, "| `{}` | {} |", person.email, cells.join("<br>"))?;
        }
    }
    for op in &plan.operations {
        let tone = Tone::of(op.op.effect());
        writeln!(out)?;
        writeln!(
            out,
            "<details><summary><code>{} {}</code>{}</summary>",
            tone.sign(),
            html_escape(&title(op)),
            if matches!(op.execution, Execution::Manual { .. }) {
                " (manual)"
            } else {
                ""
            }
        )?;
        writeln!(out)?;
        if let Some(source) = &op.source {
            writeln!(out, "Source: `{source}`")?;
            writeln!(out)?;
        }
        if let Execution::Manual { instruction } = &op.execution {
            writeln!(out, "Manual step: {instruction}")?;
            writeln!(out)?;
        }
        let lines = body(op);
        if !lines.is_empty() {
            writeln!(out, "```diff")?;
            for (_, line) in lines {
                writeln!(out, "{line}")?;
            }
            writeln!(out, "```")?;
            writeln!(out)?;
        }
        writeln!(out, "</details>")?;
    }
    Ok(())
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::tests::{BASE, policy};
    use crate::live::LiveUser;

    fn plan(policy: &Policy, live: &LiveState, allow: Option<usize>) -> Result<Plan, PlanError> {
        let options = Options {
            live: "file:live.json".into(),
            allow_removals: allow,
        };
        build(policy, live, &Capabilities::full(), &options)
    }

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
    fn access_changes_name_who_gains_and_loses_what() {
        let before = policy(BASE);
        let live = live::project(&before);
        // Kate leaves `sales` (loses `analyst`, so `api` and `chat`); Lee joins it.
        let after = policy(&BASE.replace(
            "members: [kate@acme.com]",
            "members: [lee@acme.com]",
        ).replace(
            "  kate@acme.com: {name: Kate}\n",
            "  kate@acme.com: {name: Kate}\n  lee@acme.com: {name: Lee, limits: {spend_usd: {monthly: 5}}}\n",
        ));
        let plan = plan(&after, &live, None).unwrap_or_else(|e| panic!("{e}"));
        let access = access_changes(&plan, &after, &live);
        let by_email: Vec<(&str, Vec<&str>)> = access
            .iter()
            .map(|a| {
                (
                    a.email.as_str(),
                    a.changes.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            by_email,
            vec![
                (
                    "kate@acme.com",
                    vec![
                        "- role `analyst`",
                        "- capability `chat`",
                        "- capability `api`"
                    ]
                ),
                (
                    "lee@acme.com",
                    vec![
                        "+ role `analyst`",
                        "+ capability `chat`",
                        "+ capability `api`",
                        "+ spend_usd monthly limit 5"
                    ]
                ),
            ]
        );
    }

    #[test]
    fn markdown_calls_out_manual_steps_before_the_details() {
        let policy = policy(BASE);
        let mut plan = plan(&policy, &LiveState::default(), None).unwrap_or_else(|e| panic!("{e}"));
        plan.operations[0].execution = Execution::Manual {
            instruction: "set it in the admin console".into(),
        };
        let mut out = Vec::new();
        render_markdown(&plan, &[], &mut out).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out);
        let callout = text
            .find("> [!WARNING]")
            .unwrap_or_else(|| panic!("{text}"));
        assert!(text[callout..].starts_with(
            "> [!WARNING]\n> 1 manual step an admin must carry out by hand; `apply` does not do them:\n> - `org.update org`: set it in the admin console\n"
        ), "{text}");
        assert!(callout < text.find("<details>").unwrap_or(0));
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
        assert_eq!(v[0].rule, "safety.protected");
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
        assert_eq!(v[0].rule, "safety.max_removals");
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
            "safety.max_removals"
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
        assert_eq!(v[0].rule, "safety.min_admins");
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
        assert_eq!(v[0].rule, "org.seats");
        assert!(
            v[0].message
                .contains("3 standard seats in use, 2 purchased"),
            "{v:?}"
        );
        assert!(v[0].message.contains("`x@acme.com`"), "{v:?}");
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

    #[test]
    fn a_multi_line_value_is_shown_as_a_line_diff() {
        let before = policy(&BASE.replace(
            "description: Analyses,",
            "description: \"reads\\nreports\\nsleeps\",",
        ));
        let after = policy(&BASE.replace(
            "description: Analyses,",
            "description: \"reads\\nwrites\\nsleeps\",",
        ));
        let plan = plan(&after, &live::project(&before), None).unwrap_or_else(|e| panic!("{e}"));
        let mut text = Vec::new();
        render_human(&plan, &mut text, false).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&text);
        assert!(
            text.contains(
                "    description:\n        reads\n      - reports\n      + writes\n        sleeps\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn digests_ignore_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [1, {"d": 2, "c": 3}]}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut text = String::new();
        canonical(&a, &mut text);
        assert_eq!(text, r#"{"a":[1,{"c":3,"d":2}],"b":1}"#);
        assert_eq!(digest(&a).len(), 64);
    }
}

//! `orgplan review`: the seat and access review. Usage (who was active when) meets the
//! policy and the live org; the result is a list of findings, some with a suggestion
//! that edits the policy, rendered as text, JSON, CSV, Markdown or one HTML page.
//!
//! ```text
//! usage (file or Analytics API) ─┐
//! Policy + LiveState ────────────┼─▶ findings::review ─▶ Review ─▶ render / html
//! static §2 warnings ────────────┘                        └─▶ edit: policy text edits
//! ```
//!
//! [`findings::review`] is pure (no clock, no I/O): the command line passes `--as-of`.

pub mod analytics;
pub mod date;
pub mod edit;
pub mod findings;
pub mod html;
pub mod render;
pub mod usage;

use std::collections::BTreeMap;

use serde::Serialize;

pub use date::Date;

/// Format version of the JSON report.
pub const FORMAT_VERSION: u32 = 1;

/// Default of `--inactive-days`.
pub const DEFAULT_INACTIVE_DAYS: u32 = 30;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something to act on.
    Warning,
    /// Something to know.
    Info,
}

impl Severity {
    /// `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// The codes of review findings, in report order. The static least-privilege warnings
/// of `orgplan validate` follow them.
pub const CODES: [&str; 9] = [
    "inactive-admin",
    "inactive-user",
    "unused-premium-seat",
    "seat-restriction",
    "no-spend-limit",
    "too-many-admins",
    "usage-unknown",
    "unmanaged-user",
    "seat-surplus",
];

/// The whole review. JSON form (`--format json`): this struct, `format_version` 1.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The day the review is made for.
    pub as_of: Date,
    /// `--inactive-days`.
    pub inactive_days: u32,
    /// The days a user must have been active in: `inactive_days` days up to `as_of`.
    pub window: Window,
    /// Where the usage came from and the period it covers; `null` without `--usage`.
    pub usage: Option<UsageInfo>,
    /// Seats per tier.
    pub seats: Seats,
    /// Every user: declared ones (sorted by email), then live users not in the policy.
    pub users: Vec<UserRow>,
    /// Every finding, in [`CODES`] order, then by email.
    pub findings: Vec<Finding>,
    /// Counts.
    pub summary: Summary,
}

/// A span of days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// First day.
    pub start: Date,
    /// Last day.
    pub end: Date,
}

/// Where usage came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageInfo {
    /// `file:PATH` or `anthropic:`.
    pub source: String,
    /// First day the counts cover.
    pub start: Date,
    /// Last day the counts cover.
    pub end: Date,
    /// Records for emails that are neither declared nor in the live org (ignored).
    pub unknown_emails: usize,
}

/// Seats per tier (JSON: `{"standard": {…}, "premium": {…}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Seats {
    /// Standard seats.
    pub standard: TierSeats,
    /// Premium seats.
    pub premium: TierSeats,
}

impl Seats {
    /// (tier name, seats), standard first.
    pub fn tiers(&self) -> [(&'static str, &TierSeats); 2] {
        [("standard", &self.standard), ("premium", &self.premium)]
    }
}

/// Seats of one tier. Every account holds its seat (active, invited and suspended
/// alike, as in `orgplan plan`), and so do live users not in the policy while
/// `unmanaged_users: keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TierSeats {
    /// Purchased (`org.seats`).
    pub purchased: u32,
    /// Held by an account.
    pub assigned: usize,
    /// Held by a user active in the window; `null` without usage.
    pub active: Option<usize>,
    /// Held by a user with usage who was not active in the window (suspended users
    /// included); `null` without usage. Users without a usage record are neither.
    pub inactive: Option<usize>,
}

/// One user, as the tables show them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRow {
    /// Email (identity form).
    pub email: String,
    /// Name.
    pub name: Option<String>,
    /// Org role.
    pub role: &'static str,
    /// Seat tier.
    pub seat: &'static str,
    /// `active`, `suspended`, `invited` (a pending invite) or `unmanaged` (live only).
    pub status: &'static str,
    /// Groups (declared users only).
    pub groups: Vec<String>,
    /// Last day active; `null` when never active or unknown (see `findings`).
    pub last_active: Option<Date>,
    /// Days from `last_active` to `as_of`; `null` when never active or unknown.
    pub days_inactive: Option<i64>,
    /// Chat messages in the usage period; `null` when unknown.
    pub chat_messages: Option<u64>,
    /// Claude Code sessions in the usage period; `null` when unknown.
    pub claude_code_sessions: Option<u64>,
    /// Codes of the findings about this user.
    pub findings: Vec<&'static str>,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable code, one of [`CODES`].
    pub code: &'static str,
    /// `warning` or `info`.
    pub severity: Severity,
    /// The user it is about (`null` for org-wide findings).
    pub email: Option<String>,
    /// One lowercase line, values in backticks; says why there is no suggestion when
    /// one would otherwise be made.
    pub message: String,
    /// The policy edit that acts on it, when there is one.
    pub suggestion: Option<Suggestion>,
    /// `file:line` of the policy node the finding is about (human and HTML output).
    #[serde(skip)]
    pub place: Option<String>,
}

/// A policy edit: set `field` of the user's entry from `before` to `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suggestion {
    /// Policy file.
    pub file: String,
    /// Line of the value changed (or of the user's key, when the key is added).
    pub line: usize,
    /// `status`, `role` or `seat`.
    pub field: &'static str,
    /// Value in force now (a default when the key is absent).
    pub before: String,
    /// Value suggested.
    pub after: String,
}

impl Suggestion {
    /// `status: active -> suspended`.
    pub fn short(&self) -> String {
        format!("{}: {} -> {}", self.field, self.before, self.after)
    }
}

/// Users by days since their last activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Activity {
    /// 0 to 7 days.
    #[serde(rename = "0-7")]
    pub days_0_7: usize,
    /// 8 to 30 days.
    #[serde(rename = "8-30")]
    pub days_8_30: usize,
    /// 31 to 90 days.
    #[serde(rename = "31-90")]
    pub days_31_90: usize,
    /// More than 90 days.
    #[serde(rename = "over-90")]
    pub over_90: usize,
    /// A usage record that shows no activity ever.
    pub never: usize,
    /// No usage record.
    pub unknown: usize,
}

impl Activity {
    /// (label, count) in chart order.
    pub fn buckets(&self) -> [(&'static str, usize); 6] {
        [
            ("0–7 days", self.days_0_7),
            ("8–30 days", self.days_8_30),
            ("31–90 days", self.days_31_90),
            ("over 90 days", self.over_90),
            ("never", self.never),
            ("unknown", self.unknown),
        ]
    }
}

/// Counts of the review.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    /// Rows in `users`.
    pub users: usize,
    /// Declared users.
    pub declared: usize,
    /// Users active in the window.
    pub active: usize,
    /// Users with usage not active in the window (suspended users excluded).
    pub inactive: usize,
    /// Users with no usage record (all of them without `--usage`).
    pub usage_unknown: usize,
    /// Users by days since last activity.
    pub activity: Activity,
    /// Findings.
    pub findings: usize,
    /// Findings of severity warning.
    pub warnings: usize,
    /// Findings with a suggestion.
    pub suggestions: usize,
    /// Findings per code.
    pub by_code: BTreeMap<&'static str, usize>,
    /// Suspensions suggested beyond what `safety.max_removals` lets one plan do (the
    /// plan then needs `--allow-removals`); 0 when within.
    pub removals_over_limit: usize,
}

impl Review {
    /// True when some finding has a suggestion (`--detailed-exitcode` exits 2).
    pub fn has_suggestions(&self) -> bool {
        self.summary.suggestions > 0
    }
}

//! The findings of a review, from the policy, the live org, usage and the static
//! least-privilege warnings of `orgplan validate`. Pure: no clock, no I/O.

use crate::diag::Code;
use std::collections::{BTreeMap, BTreeSet};

use super::usage::{Record, Usage};
use super::{
    Activity, CODES, Date, FORMAT_VERSION, Finding, Review, Seats, Severity, Suggestion, Summary,
    TierSeats, UsageInfo, UserRow, Window,
};
use crate::diag::Diagnostic;
use crate::live::{LiveState, LiveStatus};
use crate::model::{OrgRole, Policy, Seat, Section, UnmanagedUsers, UserStatus, email_key};

/// What the caller decides for one review.
#[derive(Debug, Clone)]
pub struct Options {
    /// The day reviewed (`--as-of`).
    pub as_of: Date,
    /// `--inactive-days` (at least 1).
    pub inactive_days: u32,
    /// The usage source as the user named it (`file:PATH`, `anthropic:`).
    pub usage_source: Option<String>,
}

/// The codes of `orgplan validate` warnings that are part of a review.
pub const STATIC_CODES: [Code; 3] = [
    Code::SeatRestriction,
    Code::NoSpendLimit,
    Code::TooManyAdmins,
];

/// Review `policy` against `live` (normalized) and `usage`; `diagnostics` are the
/// policy's validation diagnostics (the static warnings are taken from them).
pub fn review(
    policy: &Policy,
    live: &LiveState,
    usage: Option<&Usage>,
    diagnostics: &[Diagnostic],
    options: &Options,
) -> Review {
    let days = i64::from(options.inactive_days.max(1));
    let window = Window {
        start: options.as_of.plus(1 - days),
        end: options.as_of,
    };
    let protected: BTreeSet<String> = policy
        .org
        .safety
        .protected
        .iter()
        .map(|email| email_key(email).into_owned())
        .collect();
    let keep_unmanaged = policy.org.unmanaged_users == UnmanagedUsers::Keep;

    let mut findings: Vec<Finding> = Vec::new();
    let mut rows: Vec<UserRow> = Vec::with_capacity(policy.users.len());
    let mut seats = [TierSeats::default(), TierSeats::default()];
    seats[0].purchased = policy.org.seats.standard;
    seats[1].purchased = policy.org.seats.premium;
    let tier = |seat: Seat| usize::from(seat == Seat::Premium);
    let mut summary = Summary {
        declared: policy.users.len(),
        ..Summary::default()
    };
    let mut active_by_tier = [0usize; 2];
    let mut inactive_by_tier = [0usize; 2];

    // Owners and admins who can act, as `safety.min_admins` counts them.
    let mut admins = policy
        .users
        .values()
        .filter(|u| u.role.is_admin() && u.status == UserStatus::Active)
        .count();
    let min_admins = policy.org.safety.min_admins as usize;
    // Standard seats held, for downgrades: declared accounts, and kept unmanaged ones.
    let unmanaged: Vec<(&String, &crate::live::LiveUser)> = live
        .users
        .iter()
        .filter(|(email, _)| !policy.users.contains_key(email.as_str()))
        .collect();
    let mut held = [0usize; 2];
    for user in policy.users.values() {
        held[tier(user.seat)] += 1;
    }
    if keep_unmanaged {
        for (_, user) in &unmanaged {
            held[tier(user.seat)] += 1;
        }
    }
    for (at, tier_seats) in seats.iter_mut().enumerate() {
        tier_seats.assigned = held[at];
    }
    let mut standard_free = (policy.org.seats.standard as usize).saturating_sub(held[0]);
    let mut downgrades = 0usize;
    let mut resolver: Option<crate::resolve::Resolver<'_>> = None;
    let mut suspensions = 0usize;

    let activity_of = |record: Option<&Record>, activity: &mut Activity| match record {
        None => activity.unknown += 1,
        Some(Record {
            last_active: None, ..
        }) => activity.never += 1,
        Some(Record {
            last_active: Some(day),
            ..
        }) => match options.as_of.days_since(*day).max(0) {
            0..=7 => activity.days_0_7 += 1,
            8..=30 => activity.days_8_30 += 1,
            31..=90 => activity.days_31_90 += 1,
            _ => activity.over_90 += 1,
        },
    };

    for (email, user) in &policy.users {
        let record = usage.and_then(|u| u.users.get(email));
        let live_user = live.users.get(email);
        let invited = user.status == UserStatus::Active
            && live_user.is_some_and(|l| l.status == LiveStatus::Invited);
        let status = match (user.status, invited) {
            (UserStatus::Suspended, _) => "suspended",
            (_, true) => "invited",
            _ => "active",
        };
        let last_active = record.and_then(|r| r.last_active);
        let active_in_window = last_active.is_some_and(|day| day >= window.start);
        let mut codes: Vec<&'static str> = Vec::new();
        if usage.is_some() {
            activity_of(record, &mut summary.activity);
        }
        match record {
            None => summary.usage_unknown += 1,
            Some(_) if active_in_window && status == "active" => {
                summary.active += 1;
                active_by_tier[tier(user.seat)] += 1;
            }
            Some(_) => {
                inactive_by_tier[tier(user.seat)] += 1;
                if status == "active" {
                    summary.inactive += 1;
                }
            }
        }
        // Why no suggestion may suspend or demote this user, if one is never to.
        let shielded = if user.role == OrgRole::PrimaryOwner {
            Some("the primary owner")
        } else if protected.contains(email) {
            Some("a user in `safety.protected`")
        } else {
            None
        };
        let since = |record: &Record| match record.last_active {
            None => "has no recorded activity".to_owned(),
            Some(day) => format!(
                "was last active on {day} ({} days ago)",
                options.as_of.days_since(day).max(0)
            ),
        };
        if usage.is_some() && record.is_none() && status != "suspended" {
            findings.push(finding(
                "usage-unknown",
                Severity::Info,
                email,
                format!("`{email}` has no usage record: activity unknown, no suggestion"),
                None,
                policy,
            ));
            codes.push("usage-unknown");
        }
        if let Some(record) = record
            && status == "active"
        {
            if !active_in_window && user.role.is_admin() {
                let role = user.role.as_str();
                let mut message = format!(
                    "`{email}` ({role}) {} and was not active in the {days}-day window",
                    since(record)
                );
                let suggestion = if let Some(reason) = shielded {
                    message.push_str(&format!("; no suggestion: {reason} is never demoted"));
                    None
                } else if admins <= min_admins {
                    message.push_str(&format!(
                        "; no suggestion: demoting would leave fewer than `safety.min_admins` ({min_admins}) owners and admins"
                    ));
                    None
                } else {
                    admins -= 1;
                    suggestion(policy, email, "role", role, "member")
                };
                findings.push(finding(
                    "inactive-admin",
                    Severity::Warning,
                    email,
                    message,
                    suggestion,
                    policy,
                ));
                codes.push("inactive-admin");
            } else if !active_in_window {
                let mut message = format!(
                    "`{email}` {} and was not active in the {days}-day window",
                    since(record)
                );
                let suggestion = if let Some(reason) = shielded {
                    message.push_str(&format!("; no suggestion: {reason} is never suspended"));
                    None
                } else {
                    suspensions += 1;
                    suggestion(policy, email, "status", "active", "suspended")
                };
                findings.push(finding(
                    "inactive-user",
                    Severity::Warning,
                    email,
                    message,
                    suggestion,
                    policy,
                ));
                codes.push("inactive-user");
            } else if user.seat == Seat::Premium && record.claude_code_sessions == 0 {
                let mut message = format!(
                    "`{email}` holds a premium seat and ran no Claude Code session from {} to {}",
                    usage.map_or(window.start, |u| u.start),
                    usage.map_or(window.end, |u| u.end),
                );
                let resolver =
                    resolver.get_or_insert_with(|| crate::resolve::Resolver::new(policy));
                let grants_code = resolver.resolve(email).is_some_and(|e| {
                    e.capabilities
                        .iter()
                        .any(|(c, _)| *c == crate::model::Capability::ClaudeCode)
                });
                if grants_code {
                    message.push_str(
                        " (their roles grant Claude Code: on a standard seat `validate` warns `seat-restriction` until their groups change)",
                    );
                }
                let suggestion = if standard_free == 0 {
                    message.push_str(&format!(
                        "; no suggestion: no standard seat is free ({} purchased, {} held)",
                        policy.org.seats.standard,
                        held[0] + downgrades
                    ));
                    None
                } else {
                    standard_free -= 1;
                    downgrades += 1;
                    suggestion(policy, email, "seat", "premium", "standard")
                };
                findings.push(finding(
                    "unused-premium-seat",
                    Severity::Warning,
                    email,
                    message,
                    suggestion,
                    policy,
                ));
                codes.push("unused-premium-seat");
            }
        }
        rows.push(UserRow {
            email: email.clone(),
            name: user.name.clone(),
            role: user.role.as_str(),
            seat: user.seat.as_str(),
            status,
            groups: policy.groups_of(email).to_vec(),
            last_active,
            days_inactive: last_active.map(|day| options.as_of.days_since(day).max(0)),
            chat_messages: record.map(|r| r.chat_messages),
            claude_code_sessions: record.map(|r| r.claude_code_sessions),
            findings: codes,
        });
    }

    // Live users not in the policy.
    for (email, user) in &unmanaged {
        let record = usage.and_then(|u| u.users.get(email.as_str()));
        if usage.is_some() {
            activity_of(record, &mut summary.activity);
        }
        let last_active = record.and_then(|r| r.last_active);
        let active_in_window = last_active.is_some_and(|day| day >= window.start);
        if record.is_none() {
            summary.usage_unknown += 1;
        } else if active_in_window && user.status == LiveStatus::Active {
            summary.active += 1;
            if keep_unmanaged {
                active_by_tier[tier(user.seat)] += 1;
            }
        } else {
            if user.status != LiveStatus::Suspended {
                summary.inactive += 1;
            }
            if keep_unmanaged {
                inactive_by_tier[tier(user.seat)] += 1;
            }
        }
        let activity = match record {
            None if usage.is_some() => ", usage unknown".to_owned(),
            None => String::new(),
            Some(r) => format!(
                ", last active {}, {} chat messages, {} Claude Code sessions",
                r.last_active
                    .map_or_else(|| "never".to_owned(), |d| d.to_string()),
                r.chat_messages,
                r.claude_code_sessions
            ),
        };
        let fate = if keep_unmanaged {
            "kept by `unmanaged_users: keep`"
        } else {
            "removed by the plan (`unmanaged_users: remove`)"
        };
        findings.push(Finding {
            code: "unmanaged-user",
            severity: Severity::Info,
            email: Some((*email).clone()),
            message: format!(
                "`{email}` ({} {}, {}) is in the live org but not in the policy{activity}; {fate}",
                user.role.as_str(),
                user.seat.as_str(),
                user.status.as_str()
            ),
            suggestion: None,
            place: None,
        });
        rows.push(UserRow {
            email: (*email).clone(),
            name: user.name.clone(),
            role: user.role.as_str(),
            seat: user.seat.as_str(),
            status: "unmanaged",
            groups: Vec::new(),
            last_active,
            days_inactive: last_active.map(|day| options.as_of.days_since(day).max(0)),
            chat_messages: record.map(|r| r.chat_messages),
            claude_code_sessions: record.map(|r| r.claude_code_sessions),
            findings: vec!["unmanaged-user"],
        });
    }

    // The static least-privilege warnings.
    let row_of: std::collections::HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(at, row)| (row.email.as_str(), at))
        .collect();
    let mut static_codes: Vec<(usize, &'static str)> = Vec::new();
    for diagnostic in diagnostics
        .iter()
        .filter(|d| STATIC_CODES.contains(&d.code))
    {
        let email = first_backticked(&diagnostic.message)
            .map(|e| email_key(e).into_owned())
            .filter(|e| policy.users.contains_key(e));
        if let Some(at) = email.as_deref().and_then(|e| row_of.get(e)) {
            static_codes.push((*at, diagnostic.code.as_str()));
        }
        findings.push(Finding {
            code: diagnostic.code.as_str(),
            severity: Severity::Warning,
            email,
            message: diagnostic.message.clone(),
            suggestion: None,
            place: diagnostic.location.as_ref().map(|l| l.file_line()),
        });
    }

    drop(row_of);
    for (at, code) in static_codes {
        if let Some(row) = rows.get_mut(at) {
            row.findings.push(code);
        }
    }

    // Seats: what is left over once every suggestion is carried out.
    let after = [held[0] + downgrades, held[1] - downgrades.min(held[1])];
    for (at, name) in ["standard", "premium"].into_iter().enumerate() {
        let purchased = i64::from(seats[at].purchased);
        let surplus = purchased - after[at] as i64;
        if surplus == 0 {
            continue;
        }
        let message = if surplus > 0 {
            format!(
                "{surplus} of {purchased} purchased `{name}` seats would be unused after the suggestions ({} held)",
                after[at]
            )
        } else {
            format!(
                "{} `{name}` seats would be held after the suggestions, {} more than the {purchased} purchased",
                after[at], -surplus
            )
        };
        findings.push(Finding {
            code: "seat-surplus",
            severity: Severity::Info,
            email: None,
            message: format!("{message}: a billing decision, no suggestion"),
            suggestion: None,
            place: policy
                .origins
                .locate(Section::Org, "", &["seats", name])
                .map(|l| l.file_line()),
        });
    }
    if usage.is_some() {
        for at in 0..2 {
            seats[at].active = Some(active_by_tier[at]);
            seats[at].inactive = Some(inactive_by_tier[at]);
        }
    }

    let order = |code: &str| CODES.iter().position(|c| *c == code).unwrap_or(CODES.len());
    findings.sort_by(|a, b| {
        (order(a.code), &a.email, &a.message).cmp(&(order(b.code), &b.email, &b.message))
    });
    summary.users = rows.len();
    summary.findings = findings.len();
    summary.warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    summary.suggestions = findings.iter().filter(|f| f.suggestion.is_some()).count();
    let mut by_code = BTreeMap::new();
    for finding in &findings {
        *by_code.entry(finding.code).or_insert(0) += 1;
    }
    summary.by_code = by_code;
    let limit = policy.org.safety.max_removals.resolve(live.users.len());
    summary.removals_over_limit = if live.users.is_empty() {
        0
    } else {
        suspensions.saturating_sub(limit)
    };
    let known: BTreeSet<&str> = policy
        .users
        .keys()
        .chain(live.users.keys())
        .map(String::as_str)
        .collect();

    Review {
        format_version: FORMAT_VERSION,
        as_of: options.as_of,
        inactive_days: options.inactive_days,
        window,
        usage: usage.map(|u| UsageInfo {
            source: options.usage_source.clone().unwrap_or_default(),
            start: u.start,
            end: u.end,
            unknown_emails: u
                .users
                .keys()
                .filter(|e| !known.contains(e.as_str()))
                .count(),
        }),
        seats: Seats {
            standard: seats[0],
            premium: seats[1],
        },
        users: rows,
        findings,
        summary,
    }
}

fn finding(
    code: &'static str,
    severity: Severity,
    email: &str,
    message: String,
    suggestion: Option<Suggestion>,
    policy: &Policy,
) -> Finding {
    let place = match &suggestion {
        Some(s) => Some(format!("{}:{}", s.file, s.line)),
        None => policy
            .origins
            .locate_key(Section::Users, email, &[])
            .map(|l| l.file_line()),
    };
    Finding {
        code,
        severity,
        email: Some(email.to_owned()),
        message,
        suggestion,
        place,
    }
}

// Where the edit goes: the field's value when it is written, else the user's key.
fn suggestion(
    policy: &Policy,
    email: &str,
    field: &'static str,
    before: &str,
    after: &str,
) -> Option<Suggestion> {
    let entry = policy.origins.locate(Section::Users, email, &[])?;
    let value = policy.origins.locate(Section::Users, email, &[field])?;
    let place = if value == entry {
        policy.origins.locate_key(Section::Users, email, &[])?
    } else {
        value
    };
    Some(Suggestion {
        file: place.file,
        line: place.line,
        field,
        before: before.to_owned(),
        after: after.to_owned(),
    })
}

fn first_backticked(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('`')?;
    let (inside, _) = rest.split_once('`')?;
    Some(inside)
}

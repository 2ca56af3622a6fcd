//! The rules of what the org may grant: features of its plan, seats, limits against the
//! org's caps, model patterns, capabilities the org enables.

use crate::diag::Code;
use crate::diag::{self, Diagnostic, Location};
use crate::model::{
    Capability, Limits, Metric, ModelRules, Plan, Policy, Provisioning, Seat, Section, UserStatus,
};

pub(super) fn check_plan_features(policy: &Policy, out: &mut Vec<Diagnostic>) {
    if policy.org.plan != Plan::Team {
        return;
    }
    let origins = &policy.origins;
    let feature = |what: &str, place: Option<Location>| {
        Diagnostic::error(
            Code::PlanFeature,
            format!("{what} need the `enterprise` plan"),
        )
        .at(place)
        .help("remove it, or set `plan: enterprise`")
    };
    if policy.org.provisioning != Provisioning::Manual {
        let kind = if policy.org.provisioning == Provisioning::Scim {
            "`scim`"
        } else {
            "`jit`"
        };
        out.push(feature(
            &format!("{kind} provisioning and SSO"),
            origins.locate(Section::Org, "", &["provisioning"]),
        ));
    }
    if policy.org.sso.is_some() {
        out.push(feature(
            "SSO settings",
            origins.locate_key(Section::Org, "", &["sso"]),
        ));
    }
    if policy.org.models.is_some() {
        out.push(feature(
            "model restrictions",
            origins.locate_key(Section::Org, "", &["models"]),
        ));
    }
    if policy.org.defaults.models.is_some() {
        out.push(feature(
            "model restrictions",
            origins.locate_key(Section::Org, "", &["defaults", "models"]),
        ));
    }
    for name in policy.groups.keys() {
        out.push(feature(
            &format!("groups (`{name}`)"),
            origins.locate_key(Section::Groups, name, &[]),
        ));
    }
    for name in policy.roles.keys() {
        out.push(feature(
            &format!("custom roles (`{name}`)"),
            origins.locate_key(Section::Roles, name, &[]),
        ));
    }
    for (section, name, path, limits) in limit_sources(policy) {
        if limits.contains_key(&Metric::Tokens) {
            let mut full = path.to_vec();
            full.push("tokens");
            out.push(feature(
                "token limits",
                origins.locate_key(section, name, &full),
            ));
        }
    }
}

// Every place a policy declares limits: (section, entity, path to the limits, limits).
// Borrowed, and only where some limit is set: most of a large org's users set none.
fn limit_sources(policy: &Policy) -> Vec<(Section, &str, &'static [&'static str], &Limits)> {
    let mut out = vec![
        (Section::Org, "", &["caps"][..], &policy.org.caps),
        (
            Section::Org,
            "",
            &["defaults", "limits"][..],
            &policy.org.defaults.limits,
        ),
    ];
    let roles = policy
        .roles
        .iter()
        .map(|(n, r)| (Section::Roles, n, &r.limits));
    let groups = policy
        .groups
        .iter()
        .map(|(n, g)| (Section::Groups, n, &g.limits));
    let users = policy
        .users
        .iter()
        .map(|(n, u)| (Section::Users, n, &u.limits));
    out.extend(
        roles
            .chain(groups)
            .chain(users)
            .filter(|(_, _, limits)| !limits.is_empty())
            .map(|(section, name, limits)| (section, name.as_str(), &["limits"][..], limits)),
    );
    out.retain(|(_, _, _, limits)| !limits.is_empty());
    out
}

pub(super) fn check_seats(policy: &Policy, out: &mut Vec<Diagnostic>) {
    for (seat, purchased) in [
        (Seat::Standard, policy.org.seats.standard),
        (Seat::Premium, policy.org.seats.premium),
    ] {
        let used = policy
            .users
            .values()
            .filter(|u| u.seat == seat && u.status != UserStatus::Suspended)
            .count();
        if used > purchased as usize {
            let tier = seat.as_str();
            out.push(
                Diagnostic::error(
                    Code::SeatOverflow,
                    format!(
                        "{} {} a {tier} seat but only {purchased} {} purchased",
                        diag::count(used, "user"),
                        if used == 1 { "needs" } else { "need" },
                        if purchased == 1 { "is" } else { "are" }
                    ),
                )
                .at(policy.origins.locate(Section::Org, "", &["seats", tier]))
                .help(format!(
                    "buy {} more {tier} seats, or move, suspend or remove users",
                    used - purchased as usize
                )),
            );
        }
    }
}

pub(super) fn check_limits(policy: &Policy, out: &mut Vec<Diagnostic>) {
    let caps = &policy.org.caps;
    for (section, name, path, limits) in limit_sources(policy) {
        if path == ["caps"] {
            continue;
        }
        for (metric, periods) in limits {
            for (period, amount) in periods {
                let Some(cap) = caps.get(metric).and_then(|p| p.get(period)) else {
                    continue;
                };
                if amount.0 > cap.0 {
                    let mut full = path.to_vec();
                    full.extend([metric.as_str(), period.as_str()]);
                    out.push(
                        Diagnostic::error(
                            Code::LimitOverCap,
                            format!(
                                "{} {} limit `{amount}` is above the cap `{cap}`",
                                period.as_str(),
                                metric.as_str()
                            ),
                        )
                        .at(policy.origins.locate(section, name, &full))
                        .maybe_help(
                            policy
                                .origins
                                .source(
                                    Section::Org,
                                    "",
                                    &["caps", metric.as_str(), period.as_str()],
                                )
                                .map(|s| {
                                    format!(
                                        "the cap is set at {s}; lower the limit or raise the cap"
                                    )
                                }),
                        ),
                    );
                }
            }
        }
    }
}

/// A model pattern may hold letters, digits, `-._:/@` and the wildcards `*` and `?`.
pub fn is_valid_pattern(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:/@*?".contains(c))
}

pub(super) fn check_patterns(policy: &Policy, out: &mut Vec<Diagnostic>) {
    let mut rules: Vec<(Section, String, Vec<&str>, &ModelRules)> = Vec::new();
    if let Some(models) = &policy.org.models {
        rules.push((Section::Org, String::new(), vec!["models"], models));
    }
    if let Some(models) = &policy.org.defaults.models {
        rules.push((
            Section::Org,
            String::new(),
            vec!["defaults", "models"],
            models,
        ));
    }
    for (name, role) in &policy.roles {
        if let Some(models) = &role.models {
            rules.push((Section::Roles, name.clone(), vec!["models"], models));
        }
    }
    for (section, name, path, models) in rules {
        for (list, patterns) in [
            ("allow", models.allow.as_deref().unwrap_or_default()),
            ("deny", &models.deny),
        ] {
            for (i, pattern) in patterns.iter().enumerate() {
                if !is_valid_pattern(pattern) {
                    let index = i.to_string();
                    let mut full = path.clone();
                    full.extend([list, index.as_str()]);
                    out.push(
                        Diagnostic::error(
                            Code::InvalidPattern,
                            format!("`{pattern}` is not a valid model pattern"),
                        )
                        .at(policy.origins.locate(section, &name, &full))
                        .help("use letters, digits, `-._:/@`, `*` for any run of characters and `?` for one"),
                    );
                }
            }
        }
    }
}

pub(super) fn check_capabilities(policy: &Policy, out: &mut Vec<Diagnostic>) {
    let enabled = &policy.org.capabilities;
    let mut grants: Vec<(Section, String, Vec<&str>, &Vec<Capability>)> = vec![(
        Section::Org,
        String::new(),
        vec!["defaults", "capabilities"],
        &policy.org.defaults.capabilities,
    )];
    for (name, role) in &policy.roles {
        grants.push((
            Section::Roles,
            name.clone(),
            vec!["capabilities"],
            &role.capabilities,
        ));
    }
    for (section, name, path, capabilities) in grants {
        for (i, capability) in capabilities.iter().enumerate() {
            if !enabled.contains(capability) {
                let index = i.to_string();
                let mut full = path.clone();
                full.push(index.as_str());
                let who = match section {
                    Section::Roles => format!("role `{name}`"),
                    _ => "`org.defaults`".to_owned(),
                };
                out.push(
                    Diagnostic::error(
                        Code::CapabilityNotEnabled,
                        format!(
                            "{who} grants `{}`, which is not in `org.capabilities`",
                            capability.as_str()
                        ),
                    )
                    .at(policy.origins.locate(section, &name, &full))
                    .help(format!(
                        "add `{}` to `org.capabilities`, or remove it here",
                        capability.as_str()
                    )),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_allow_globs_only() {
        assert!(is_valid_pattern("claude-opus-4*"));
        assert!(is_valid_pattern("claude-?-x"));
        assert!(!is_valid_pattern("claude opus"));
        assert!(!is_valid_pattern("claude-[a]"));
        assert!(!is_valid_pattern(""));
    }
}

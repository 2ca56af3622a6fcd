//! Effective permissions (SPEC §3): what each user can actually do, computed from the
//! policy alone, with the origin (`file:line`) of every value. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{
    Amount, Capability, Metric, OrgRole, Period, Policy, Seat, Section, UserStatus,
};

/// Where a value comes from: a readable description and its `file:line`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Origin {
    /// Such as "role `ml-engineer`" or "org.defaults".
    pub from: String,
    /// `file:line` of the value, when it was declared in a file.
    pub source: Option<String>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{} ({source})", self.from),
            None => f.write_str(&self.from),
        }
    }
}

/// A model pattern in force, with its origin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pattern {
    /// The glob.
    pub pattern: String,
    /// Where it comes from.
    pub origin: Origin,
}

/// The effective permissions of one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    /// Lowercased email.
    pub email: String,
    /// Org role.
    pub role: OrgRole,
    /// Seat tier.
    pub seat: Seat,
    /// Status.
    pub status: UserStatus,
    /// Groups, sorted.
    pub groups: Vec<String>,
    /// Custom roles held (through groups), sorted.
    pub roles: Vec<String>,
    /// Capabilities in force, in vocabulary order, each with the grant that gave it.
    pub capabilities: Vec<(Capability, Origin)>,
    /// Capabilities granted but not in force, with the reason.
    pub withheld: Vec<(Capability, String)>,
    /// Allow patterns of the held roles (or of `org.defaults` when none is held).
    pub allow: Vec<Pattern>,
    /// Deny patterns of the held roles.
    pub deny: Vec<Pattern>,
    /// `org.models.allow`, when `org.models` is set (a model must match one of them too).
    pub org_allow: Option<Vec<Pattern>>,
    /// `org.models.deny`.
    pub org_deny: Vec<Pattern>,
    /// Limits in force per metric and period, each with where it comes from.
    pub limits: BTreeMap<Metric, BTreeMap<Period, (Amount, Origin)>>,
}

impl Effective {
    /// True when `capability` is in force.
    pub fn has(&self, capability: Capability) -> bool {
        self.capabilities.iter().any(|(c, _)| *c == capability)
    }
}

/// The answer to "may this user use this model?", with the deciding rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Whether the model is allowed.
    pub allowed: bool,
    /// The deciding rule, in words.
    pub rule: String,
    /// `file:line` of the deciding rule.
    pub source: Option<String>,
}

/// Effective permissions of `email` (lowercased), or `None` when no such user is declared.
pub fn resolve(policy: &Policy, email: &str) -> Option<Effective> {
    let user = policy.users.get(email)?;
    let origins = &policy.origins;
    let groups: Vec<String> = policy
        .memberships
        .get(email)
        .map(|groups| groups.iter().cloned().collect())
        .unwrap_or_default();
    let roles: Vec<String> = policy
        .roles_of(email)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let role_origin = |role: &str, path: &[&str]| Origin {
        from: format!("role `{role}`"),
        source: origins.source(Section::Roles, role, path),
    };
    let defaults_origin = |path: &[&str]| Origin {
        from: "org.defaults".to_owned(),
        source: origins.source(Section::Org, "", &[&["defaults"], path].concat()),
    };

    // Capabilities: held roles' union, or the defaults when none is held.
    let mut granted: BTreeMap<Capability, Origin> = BTreeMap::new();
    if roles.is_empty() {
        for capability in &policy.org.defaults.capabilities {
            granted
                .entry(*capability)
                .or_insert_with(|| defaults_origin(&["capabilities"]));
        }
    } else {
        for role in &roles {
            for capability in policy
                .roles
                .get(role)
                .map(|r| &r.capabilities)
                .into_iter()
                .flatten()
            {
                granted
                    .entry(*capability)
                    .or_insert_with(|| role_origin(role, &["capabilities"]));
            }
        }
    }
    let mut capabilities = Vec::new();
    let mut withheld = Vec::new();
    for (capability, origin) in granted {
        if user.status == UserStatus::Suspended {
            withheld.push((capability, "the user is suspended".to_owned()));
        } else if !policy.org.capabilities.contains(&capability) {
            withheld.push((capability, "not enabled in `org.capabilities`".to_owned()));
        } else if capability == Capability::ClaudeCode && user.seat == Seat::Standard {
            withheld.push((capability, "needs a premium seat".to_owned()));
        } else {
            capabilities.push((capability, origin));
        }
    }

    // Models: patterns of the held roles, or of the defaults.
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    let pattern = |pattern: &String, origin: Origin| Pattern {
        pattern: pattern.clone(),
        origin,
    };
    if roles.is_empty() {
        if let Some(models) = &policy.org.defaults.models {
            for (i, p) in models.allow.iter().enumerate() {
                allow.push(pattern(
                    p,
                    defaults_origin(&["models", "allow", &i.to_string()]),
                ));
            }
            for (i, p) in models.deny.iter().enumerate() {
                deny.push(pattern(
                    p,
                    defaults_origin(&["models", "deny", &i.to_string()]),
                ));
            }
        }
    } else {
        for role in &roles {
            if let Some(models) = policy.roles.get(role).and_then(|r| r.models.as_ref()) {
                for (i, p) in models.allow.iter().enumerate() {
                    allow.push(pattern(
                        p,
                        role_origin(role, &["models", "allow", &i.to_string()]),
                    ));
                }
                for (i, p) in models.deny.iter().enumerate() {
                    deny.push(pattern(
                        p,
                        role_origin(role, &["models", "deny", &i.to_string()]),
                    ));
                }
            }
        }
    }
    let org_origin = |path: &[&str]| Origin {
        from: "org.models".to_owned(),
        source: origins.source(Section::Org, "", &[&["models"], path].concat()),
    };
    let org_allow = policy.org.models.as_ref().map(|models| {
        models
            .allow
            .iter()
            .enumerate()
            .map(|(i, p)| pattern(p, org_origin(&["allow", &i.to_string()])))
            .collect()
    });
    let org_deny = policy
        .org
        .models
        .iter()
        .flat_map(|models| models.deny.iter().enumerate())
        .map(|(i, p)| pattern(p, org_origin(&["deny", &i.to_string()])))
        .collect();

    // Limits: the user, then the most generous group, the most generous role, the defaults.
    let mut limits: BTreeMap<Metric, BTreeMap<Period, (Amount, Origin)>> = BTreeMap::new();
    let mut offer = |layer: Vec<(Metric, Period, Amount, Origin)>| {
        let mut best: BTreeMap<(Metric, Period), (Amount, Origin)> = BTreeMap::new();
        for (metric, period, amount, origin) in layer {
            let slot = best
                .entry((metric, period))
                .or_insert((amount, origin.clone()));
            if amount.0 > slot.0.0 {
                *slot = (amount, origin);
            }
        }
        for ((metric, period), value) in best {
            limits
                .entry(metric)
                .or_default()
                .entry(period)
                .or_insert(value);
        }
    };
    let entries = |limits: &crate::model::Limits, origin: &dyn Fn(&[&str]) -> Origin| {
        let mut out = Vec::new();
        for (metric, periods) in limits {
            for (period, amount) in periods {
                out.push((
                    *metric,
                    *period,
                    *amount,
                    origin(&["limits", metric.as_str(), period.as_str()]),
                ));
            }
        }
        out
    };
    offer(entries(&user.limits, &|path| Origin {
        from: "the user".to_owned(),
        source: origins.source(Section::Users, email, path),
    }));
    offer(
        groups
            .iter()
            .filter_map(|name| Some((name, policy.groups.get(name)?)))
            .flat_map(|(name, group)| {
                entries(&group.limits, &|path| Origin {
                    from: format!("group `{name}`"),
                    source: origins.source(Section::Groups, name, path),
                })
            })
            .collect(),
    );
    offer(
        roles
            .iter()
            .filter_map(|name| Some((name, policy.roles.get(name)?)))
            .flat_map(|(name, role)| entries(&role.limits, &|path| role_origin(name, path)))
            .collect(),
    );
    offer(entries(&policy.org.defaults.limits, &|path| {
        defaults_origin(path)
    }));

    Some(Effective {
        email: email.to_owned(),
        role: user.role,
        seat: user.seat,
        status: user.status,
        groups,
        roles,
        capabilities,
        withheld,
        allow,
        deny,
        org_allow,
        org_deny,
        limits,
    })
}

/// May `effective`'s user use `model`? Deny wins over allow; the org filter applies to all.
pub fn check_model(effective: &Effective, model: &str) -> Decision {
    let decide = |allowed: bool, rule: String, source: Option<String>| Decision {
        allowed,
        rule,
        source,
    };
    if effective.status == UserStatus::Suspended {
        return decide(false, "the user is suspended".to_owned(), None);
    }
    let matching = |patterns: &[Pattern]| {
        patterns
            .iter()
            .find(|p| glob_match(&p.pattern, model))
            .cloned()
    };
    if let Some(p) = matching(&effective.deny) {
        return decide(
            false,
            format!("{} denies `{}`", p.origin.from, p.pattern),
            p.origin.source,
        );
    }
    if let Some(p) = matching(&effective.org_deny) {
        return decide(
            false,
            format!("org.models denies `{}`", p.pattern),
            p.origin.source,
        );
    }
    if let Some(org_allow) = &effective.org_allow
        && matching(org_allow).is_none()
    {
        let source = org_allow.first().and_then(|p| p.origin.source.clone());
        return decide(
            false,
            "no pattern of org.models.allow matches".to_owned(),
            source,
        );
    }
    if let Some(p) = matching(&effective.allow) {
        return decide(
            true,
            format!("{} allows `{}`", p.origin.from, p.pattern),
            p.origin.source,
        );
    }
    let holder = if effective.roles.is_empty() {
        "org.defaults"
    } else {
        "the held roles"
    };
    decide(false, format!("no allow pattern of {holder} matches"), None)
}

/// Glob match: `*` matches any run of characters (also none), `?` exactly one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it is currently standing for.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '?' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_stars_and_question_marks() {
        assert!(glob_match("claude-*", "claude-opus-4"));
        assert!(glob_match("claude-*-preview", "claude-x-preview"));
        assert!(!glob_match("claude-*-preview", "claude-opus-4"));
        assert!(glob_match("claude-opus-4?", "claude-opus-41"));
        assert!(!glob_match("claude-opus-4?", "claude-opus-4"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(!glob_match("", "a"));
    }
}

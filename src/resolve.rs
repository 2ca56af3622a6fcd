//! Effective permissions (docs/policy.md#effective-permissions): what each user can actually do, computed from the
//! policy alone, with the origin (`file:line`) of every value. Pure: no I/O.

use std::collections::BTreeMap;

use foldhash::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::model::{
    Amount, Capability, Metric, OrgRole, Period, Policy, Seat, Section, UserStatus,
};

/// Where a value comes from: a readable description and its `file:line`. Shared strings:
/// every user holding a role gets the role's origins, and copying one is a count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Origin {
    /// Such as "role `ml-engineer`" or "org.defaults".
    pub from: Arc<str>,
    /// `file:line` of the value, when it was declared in a file.
    pub source: Option<Arc<str>>,
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
    pub pattern: Arc<str>,
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
    /// `file:line` of the user's `status` (of the user's key when the default applies).
    pub status_source: Option<String>,
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

/// Effective permissions of `email` (compared case-insensitively), or `None` when no such
/// user is declared.
///
/// A suspended user has nothing: no capability (each granted one is listed as withheld),
/// no model pattern and no limit, so that `explain` never shows access that does not exist.
pub fn resolve(policy: &Policy, email: &str) -> Option<Effective> {
    Resolver::new(policy).resolve(email)
}

type LimitEntry = (Metric, Period, Amount, Origin);

/// What one grant (a role, or `org.defaults`) contributes, with origins.
#[derive(Debug, Default)]
struct Grants {
    capabilities: Vec<(Capability, Origin)>,
    allow: Vec<Pattern>,
    deny: Vec<Pattern>,
    limits: Vec<LimitEntry>,
}

/// What one user holds, borrowed: see [`Resolver::access`].
#[derive(Debug)]
pub struct Access<'r> {
    /// Lowercased email, as the policy keys it.
    pub email: &'r str,
    /// The user as declared.
    pub user: &'r crate::model::User,
    /// Groups of the user, sorted.
    pub groups: &'r [String],
    /// Custom roles held (through groups), sorted.
    pub roles: Vec<&'r str>,
    // The held roles' grants, one for each of `roles`.
    held: Vec<&'r Grants>,
    /// Capabilities in force, in vocabulary order, each with the grant that gave it.
    pub capabilities: Vec<(Capability, &'r Origin)>,
    /// Capabilities granted but not in force, with the reason.
    pub withheld: Vec<(Capability, &'static str)>,
    resolver: &'r Resolver<'r>,
}

impl<'r> Access<'r> {
    /// True when `capability` is in force.
    pub fn has(&self, capability: Capability) -> bool {
        self.capabilities.iter().any(|(c, _)| *c == capability)
    }

    // Where capabilities and model patterns come from: the held roles' grants, or the
    // defaults' when no role is held.
    fn grants(&self) -> impl Iterator<Item = &'r Grants> + '_ {
        let defaults = self.held.is_empty().then_some(&self.resolver.defaults);
        defaults.into_iter().chain(self.held.iter().copied())
    }

    /// True when some spend or token limit applies to the user (a suspended user has none).
    pub fn has_limits(&self) -> bool {
        let resolver = self.resolver;
        self.user.status != UserStatus::Suspended
            && (self.user.limits.values().any(|periods| !periods.is_empty())
                || self.groups.iter().any(|g| {
                    resolver
                        .group_limits
                        .get(g.as_str())
                        .is_some_and(|entries| !entries.is_empty())
                })
                || self.held.iter().any(|g| !g.limits.is_empty())
                || !resolver.defaults.limits.is_empty())
    }
}

/// Resolves many users of one policy: the origins of what roles, groups, `org.defaults`
/// and `org.models` grant are looked up once, not once per user.
#[derive(Debug)]
pub struct Resolver<'p> {
    policy: &'p Policy,
    defaults: Grants,
    // Every role by name, in name order.
    roles: Vec<(&'p str, Grants)>,
    // Each defined group's defined roles, as sorted positions in `roles`: a user's roles
    // are the union of a few short lists of numbers, not a tree walk per group and per
    // role, nor a search by name.
    group_roles: HashMap<&'p str, Vec<usize>>,
    group_limits: HashMap<&'p str, Vec<LimitEntry>>,
    org_allow: Option<Vec<Pattern>>,
    org_deny: Vec<Pattern>,
}

fn limit_entries(
    limits: &crate::model::Limits,
    origin: &dyn Fn(&[&str]) -> Origin,
) -> Vec<LimitEntry> {
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
}

fn shared(source: Option<String>) -> Option<Arc<str>> {
    source.map(Arc::from)
}

fn pattern(pattern: &str, origin: Origin) -> Pattern {
    Pattern {
        pattern: pattern.into(),
        origin,
    }
}

impl<'p> Resolver<'p> {
    /// A resolver for `policy`.
    pub fn new(policy: &'p Policy) -> Self {
        let origins = &policy.origins;
        let defaults_origin = |path: &[&str]| Origin {
            from: "org.defaults".into(),
            source: shared(origins.source(Section::Org, "", &[&["defaults"], path].concat())),
        };
        let defaults_access = &policy.org.defaults;
        let mut defaults = Grants {
            capabilities: defaults_access
                .capabilities
                .iter()
                .enumerate()
                .map(|(i, c)| (*c, defaults_origin(&["capabilities", &i.to_string()])))
                .collect(),
            limits: limit_entries(&defaults_access.limits, &defaults_origin),
            ..Grants::default()
        };
        if let Some(models) = &defaults_access.models {
            for (i, p) in models.allow.iter().flatten().enumerate() {
                defaults.allow.push(pattern(
                    p,
                    defaults_origin(&["models", "allow", &i.to_string()]),
                ));
            }
            for (i, p) in models.deny.iter().enumerate() {
                defaults.deny.push(pattern(
                    p,
                    defaults_origin(&["models", "deny", &i.to_string()]),
                ));
            }
        }
        let roles = policy
            .roles
            .iter()
            .map(|(name, role)| {
                let from: Arc<str> = format!("role `{name}`").into();
                let role_origin = |path: &[&str]| Origin {
                    from: from.clone(),
                    source: shared(origins.source(Section::Roles, name, path)),
                };
                let mut grants = Grants {
                    capabilities: role
                        .capabilities
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (*c, role_origin(&["capabilities", &i.to_string()])))
                        .collect(),
                    limits: limit_entries(&role.limits, &role_origin),
                    ..Grants::default()
                };
                if let Some(models) = &role.models {
                    for (i, p) in models.allow.iter().flatten().enumerate() {
                        grants.allow.push(pattern(
                            p,
                            role_origin(&["models", "allow", &i.to_string()]),
                        ));
                    }
                    for (i, p) in models.deny.iter().enumerate() {
                        grants
                            .deny
                            .push(pattern(p, role_origin(&["models", "deny", &i.to_string()])));
                    }
                }
                (name.as_str(), grants)
            })
            .collect::<Vec<_>>();
        let role_at: HashMap<&str, usize> = roles
            .iter()
            .enumerate()
            .map(|(at, (name, _))| (*name, at))
            .collect();
        let group_roles = policy
            .groups
            .iter()
            .map(|(name, group)| {
                let mut held: Vec<usize> = group
                    .roles
                    .iter()
                    .filter_map(|role| role_at.get(role.as_str()).copied())
                    .collect();
                held.sort_unstable();
                held.dedup();
                (name.as_str(), held)
            })
            .collect();
        let group_limits = policy
            .groups
            .iter()
            .filter(|(_, group)| !group.limits.is_empty())
            .map(|(name, group)| {
                let from: Arc<str> = format!("group `{name}`").into();
                let entries = limit_entries(&group.limits, &|path| Origin {
                    from: from.clone(),
                    source: shared(origins.source(Section::Groups, name, path)),
                });
                (name.as_str(), entries)
            })
            .collect();
        let org_origin = |path: &[&str]| Origin {
            from: "org.models".into(),
            source: shared(origins.source(Section::Org, "", &[&["models"], path].concat())),
        };
        // An `org.models` that only denies (no `allow`) filters nothing in: an admin who
        // writes `deny: [x]` means "everything but x", not "no model at all". An `allow`
        // that is written is a filter, an empty one included: `allow: []` allows no model,
        // at the org level as in a role.
        let org_allow = policy
            .org
            .models
            .as_ref()
            .and_then(|models| models.allow.as_ref())
            .map(|allow| {
                allow
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
        Resolver {
            policy,
            defaults,
            roles,
            group_roles,
            group_limits,
            org_allow,
            org_deny,
        }
    }

    /// What `email` (lowercased) holds, borrowed from the policy and the resolver: the
    /// rules of docs/policy.md#effective-permissions without building a single `file:line`. `None` for an undeclared
    /// user.
    pub fn access(&self, email: &str) -> Option<Access<'_>> {
        let policy = self.policy;
        let (email, user) = policy.users.get_key_value(email)?;
        Some(self.access_of(email, user, policy.memberships.of(email, user)))
    }

    /// [`Resolver::access`] of a user already at hand (from
    /// [`Policy::users_with_groups`]): no search of the users or memberships by email.
    pub fn access_of<'r>(
        &'r self,
        email: &'r str,
        user: &'r crate::model::User,
        groups: &'r [String],
    ) -> Access<'r> {
        let policy = self.policy;
        // The same set as `policy.roles_of(email)`, from the lists made once: one group's
        // list as it is, several merged (positions in name order: sorted, the names are).
        let no_roles: &[usize] = &[];
        let list = |group: &String| self.group_roles.get(group.as_str()).map(Vec::as_slice);
        let merged: Vec<usize>;
        let at: &[usize] = match groups {
            [] => no_roles,
            [group] => list(group).unwrap_or(no_roles),
            several => {
                let mut all: Vec<usize> =
                    several.iter().filter_map(list).flatten().copied().collect();
                all.sort_unstable();
                all.dedup();
                merged = all;
                &merged
            }
        };
        let roles: Vec<&str> = at.iter().map(|&at| self.roles[at].0).collect();
        let held: Vec<&Grants> = at.iter().map(|&at| &self.roles[at].1).collect();
        let suspended = user.status == UserStatus::Suspended;
        // Each capability's first grant, by the capability's place in the vocabulary.
        let mut granted: [Option<&Origin>; Capability::ALL.len()] = Default::default();
        let defaults = held.is_empty().then_some(&self.defaults);
        for grant in defaults.into_iter().chain(held.iter().copied()) {
            for (capability, origin) in &grant.capabilities {
                granted[*capability as usize].get_or_insert(origin);
            }
        }
        let granted = Capability::ALL.into_iter().zip(granted);
        let granted = granted.filter_map(|(capability, origin)| Some((capability, origin?)));
        let mut capabilities = Vec::new();
        let mut withheld = Vec::new();
        for (capability, origin) in granted {
            if suspended {
                withheld.push((capability, "the user is suspended"));
            } else if !policy.org.capabilities.contains(&capability) {
                withheld.push((capability, "not enabled in `org.capabilities`"));
            } else if capability == Capability::ClaudeCode && user.seat == Seat::Standard {
                withheld.push((capability, "needs a premium seat"));
            } else {
                capabilities.push((capability, origin));
            }
        }
        Access {
            email,
            user,
            groups,
            roles,
            held,
            capabilities,
            withheld,
            resolver: self,
        }
    }

    /// Effective permissions of `email` (compared case-insensitively), or `None` when no
    /// such user is declared. See [`resolve`].
    pub fn resolve(&self, email: &str) -> Option<Effective> {
        let access = self.access(&crate::model::email_key(email))?;
        let grants: Vec<&Grants> = access.grants().collect();
        let Access {
            email,
            user,
            groups,
            ref roles,
            ref held,
            ..
        } = access;
        let policy = self.policy;
        let origins = &policy.origins;
        let suspended = user.status == UserStatus::Suspended;
        let groups: Vec<String> = groups.to_vec();
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        let capabilities = access
            .capabilities
            .iter()
            .map(|(c, origin)| (*c, (*origin).clone()))
            .collect();
        let withheld = access
            .withheld
            .iter()
            .map(|(c, reason)| (*c, (*reason).to_owned()))
            .collect();
        // A suspended user has no model pattern and no limit (docs/policy.md#effective-permissions).
        let (allow, deny, org_allow, org_deny) = if suspended {
            (Vec::new(), Vec::new(), None, Vec::new())
        } else {
            (
                grants
                    .iter()
                    .flat_map(|g| g.allow.iter().cloned())
                    .collect(),
                grants.iter().flat_map(|g| g.deny.iter().cloned()).collect(),
                self.org_allow.clone(),
                self.org_deny.clone(),
            )
        };

        // Limits: the user, then the most generous group, the most generous role, the
        // defaults.
        let mut limits: BTreeMap<Metric, BTreeMap<Period, (Amount, Origin)>> = BTreeMap::new();
        if !suspended {
            let mut offer = |layer: &mut dyn Iterator<Item = &LimitEntry>| {
                let mut best: BTreeMap<(Metric, Period), (Amount, &Origin)> = BTreeMap::new();
                for (metric, period, amount, origin) in layer {
                    let slot = best.entry((*metric, *period)).or_insert((*amount, origin));
                    if amount.0 > slot.0.0 {
                        *slot = (*amount, origin);
                    }
                }
                for ((metric, period), (amount, origin)) in best {
                    limits
                        .entry(metric)
                        .or_default()
                        .entry(period)
                        .or_insert_with(|| (amount, origin.clone()));
                }
            };
            let own = limit_entries(&user.limits, &|path| Origin {
                from: "the user".into(),
                source: shared(origins.source(Section::Users, email, path)),
            });
            offer(&mut own.iter());
            offer(
                &mut groups
                    .iter()
                    .filter_map(|name| self.group_limits.get(name.as_str()))
                    .flatten(),
            );
            offer(&mut held.iter().flat_map(|g| g.limits.iter()));
            offer(&mut self.defaults.limits.iter());
        }
        Some(Effective {
            email: email.to_owned(),
            role: user.role,
            seat: user.seat,
            status: user.status,
            status_source: origins.source(Section::Users, email, &["status"]),
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
}

/// May `effective`'s user use `model`? Deny wins over allow; the org filter applies to all.
pub fn check_model(effective: &Effective, model: &str) -> Decision {
    let decide = |allowed: bool, rule: String, source: Option<Arc<str>>| Decision {
        allowed,
        rule,
        source: source.as_deref().map(str::to_owned),
    };
    if effective.status == UserStatus::Suspended {
        return decide(
            false,
            "the user is suspended".to_owned(),
            shared(effective.status_source.clone()),
        );
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
        let rule = if org_allow.is_empty() {
            "org.models.allow is empty: it allows no model"
        } else {
            "no pattern of org.models.allow matches"
        };
        return decide(false, rule.to_owned(), source);
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

/// Glob match: `*` matches any run of characters (also none), `?` exactly one; ASCII case
/// is ignored.
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
            // Model names are lowercase; a pattern written `Claude-Opus-*` means them too
            // (a deny that never matched would deny nothing), so case is ignored.
            Some(c) if *c == '?' || c.eq_ignore_ascii_case(&text[t]) => {
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

/// How one user's access changes with a plan: custom roles, capabilities, model
/// patterns and limits gained or lost, for the pull-request comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessChange {
    /// Lowercased email.
    pub email: String,
    /// One line per change, such as "+ capability `api`" or "~ spend_usd monthly 50 -> 300".
    pub changes: Vec<String>,
}

/// Who gains or loses what between the live org (`before`, seen as a policy; `None` for
/// an org never set up) and the policy (`after`); `removed` are the users the plan removes.
/// Org-wide settings (`org.models`, `org.capabilities`) are left out: they change everyone
/// and the plan's `org.update` already shows them.
pub fn access_changes(
    before: Option<&Policy>,
    after: &Policy,
    removed: &[String],
) -> Vec<AccessChange> {
    // One resolver per policy, built once: building one per user would be quadratic.
    let before = before.map(Resolver::new);
    let after_resolver = Resolver::new(after);
    let emails: Vec<&String> = after.users.keys().collect();
    let mut out = crate::pool::parallel_each(&emails, |email, out| {
        let old = before.as_ref().and_then(|b| b.resolve(email));
        let Some(new) = after_resolver.resolve(email) else {
            return;
        };
        let changes = compare(old.as_ref(), &new);
        if !changes.is_empty() {
            out.push(AccessChange {
                email: (*email).clone(),
                changes,
            });
        }
    });
    for email in removed {
        out.push(AccessChange {
            email: email.clone(),
            changes: vec!["- account removed: loses all access".to_owned()],
        });
    }
    out.sort_by(|a, b| a.email.cmp(&b.email));
    out
}

fn compare(old: Option<&Effective>, new: &Effective) -> Vec<String> {
    let mut changes = Vec::new();
    let suspended = |e: Option<&Effective>| e.is_some_and(|e| e.status == UserStatus::Suspended);
    // A suspension is said as one: listed as lost limits it would read as spending
    // uncapped ("no limit now").
    if suspended(Some(new)) {
        if !suspended(old) {
            changes.push("- account suspended: loses all access".to_owned());
        }
        return changes;
    }
    if suspended(old) {
        changes.push("+ account reactivated".to_owned());
    }
    let mut sets = |what: &str, old: Vec<String>, new: Vec<String>| {
        for item in &new {
            if !old.contains(item) {
                changes.push(format!("+ {what} `{item}`"));
            }
        }
        for item in &old {
            if !new.contains(item) {
                changes.push(format!("- {what} `{item}`"));
            }
        }
    };
    let roles = |e: Option<&Effective>| e.map(|e| e.roles.clone()).unwrap_or_default();
    let capabilities = |e: Option<&Effective>| {
        e.map(|e| {
            e.capabilities
                .iter()
                .map(|(c, _)| c.as_str().to_owned())
                .collect()
        })
        .unwrap_or_default()
    };
    let patterns = |e: Option<&Effective>, deny: bool| {
        let mut list: Vec<String> = e
            .map(|e| if deny { &e.deny } else { &e.allow })
            .into_iter()
            .flatten()
            .map(|p| p.pattern.to_string())
            .collect();
        list.sort();
        list.dedup();
        list
    };
    sets("role", roles(old), roles(Some(new)));
    sets("capability", capabilities(old), capabilities(Some(new)));
    sets(
        "model allow",
        patterns(old, false),
        patterns(Some(new), false),
    );
    sets("model deny", patterns(old, true), patterns(Some(new), true));
    let limit_values = |e: Option<&Effective>| -> BTreeMap<(Metric, Period), Amount> {
        e.into_iter()
            .flat_map(|e| e.limits.iter())
            .flat_map(|(metric, periods)| {
                periods
                    .iter()
                    .map(|(period, (amount, _))| ((*metric, *period), *amount))
            })
            .collect()
    };
    let (old_limits, new_limits) = (limit_values(old), limit_values(Some(new)));
    let keys: std::collections::BTreeSet<&(Metric, Period)> =
        old_limits.keys().chain(new_limits.keys()).collect();
    for key @ (metric, period) in keys {
        let name = format!("{} {}", metric.as_str(), period.as_str());
        match (old_limits.get(key), new_limits.get(key)) {
            (Some(a), Some(b)) if a != b => changes.push(format!("~ {name} {a} -> {b}")),
            (None, Some(b)) => changes.push(format!("+ {name} limit {b}")),
            (Some(a), None) => changes.push(format!("- {name} limit {a} (no limit now)")),
            _ => {}
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    // `access_of` finds a capability's slot by its discriminant: the vocabulary's order.
    #[test]
    fn the_vocabulary_of_capabilities_is_in_declaration_order() {
        for (at, capability) in Capability::ALL.into_iter().enumerate() {
            assert_eq!(capability as usize, at, "{capability:?}");
        }
    }

    // Line numbers matter: the provenance tests name them.
    const ORG: &str = r#"org:
  name: Test
  plan: enterprise
  domains: [t.com]
  seats: {standard: 10, premium: 10}
  capabilities: [chat, claude_code, api, web_search]
  models: {allow: ["claude-*"], deny: ["claude-*-preview"]}
  defaults:
    capabilities: [chat]
    models: {allow: ["claude-haiku-*"]}
    limits: {spend_usd: {monthly: 50, weekly: 100}}
  caps: {spend_usd: {monthly: 2000, weekly: 1000}, tokens: {monthly: 100000000}}
roles:
  eng:
    capabilities: [chat, claude_code, api]
    models: {allow: ["claude-opus-*", "claude-sonnet-*"], deny: ["claude-opus-3*"]}
    limits: {spend_usd: {monthly: 500}, tokens: {monthly: 1000000}}
  analyst:
    capabilities: [chat, web_search]
    models: {allow: ["claude-sonnet-*", "claude-opus-3*", "other-*"]}
    limits: {spend_usd: {monthly: 200}, tokens: {monthly: 5000000}}
groups:
  engineering:
    roles: [eng]
    members: [bob@t.com]
    limits: {spend_usd: {monthly: 300}}
  data:
    roles: [analyst]
    limits: {spend_usd: {monthly: 400}}
users:
  ceo@t.com: {role: primary_owner}
  bob@t.com: {seat: premium}
  std@t.com: {groups: [engineering]}
  both@t.com: {seat: premium, groups: [engineering, data]}
  carol@t.com:
    seat: premium
    groups: [engineering]
    limits: {spend_usd: {monthly: 800}}
  none@t.com: {}
  gone@t.com: {seat: premium, groups: [engineering], status: suspended}
"#;

    /// A checked policy from YAML text, as if read from `test.yaml`.
    fn policy(yaml: &str) -> Policy {
        let mut loaded = crate::load::Loaded::default();
        crate::load::load_bytes(&mut loaded, "test.yaml".to_owned(), yaml.into());
        let checked = crate::validate::check(loaded);
        let diagnostics = format!("{:?}", checked.diagnostics);
        checked
            .policy
            .unwrap_or_else(|| panic!("invalid test policy: {diagnostics}"))
    }

    fn user(policy: &Policy, email: &str) -> Effective {
        resolve(policy, email).unwrap_or_else(|| panic!("no user {email}"))
    }

    fn capabilities(effective: &Effective) -> Vec<&'static str> {
        effective
            .capabilities
            .iter()
            .map(|(c, _)| c.as_str())
            .collect()
    }

    fn limit(effective: &Effective, metric: Metric, period: Period) -> (f64, String) {
        let (amount, origin) = &effective.limits[&metric][&period];
        (amount.0, origin.to_string())
    }

    #[test]
    fn roles_held_are_the_union_of_the_groups_roles() {
        let policy = policy(ORG);
        let both = user(&policy, "both@t.com");
        assert_eq!(both.groups, ["data", "engineering"]);
        assert_eq!(both.roles, ["analyst", "eng"]);
        // Membership declared on the group counts like membership declared on the user.
        assert_eq!(user(&policy, "bob@t.com").roles, ["eng"]);
    }

    #[test]
    fn email_is_matched_case_insensitively() {
        let policy = policy(ORG);
        assert_eq!(user(&policy, "Bob@T.com").email, "bob@t.com");
        assert!(resolve(&policy, "nobody@t.com").is_none());
    }

    #[test]
    fn deny_of_a_held_role_wins_over_allow_of_another() {
        let policy = policy(ORG);
        let both = user(&policy, "both@t.com");
        let decision = check_model(&both, "claude-opus-3-5");
        assert!(!decision.allowed);
        assert_eq!(decision.rule, "role `eng` denies `claude-opus-3*`");
        assert_eq!(decision.source.as_deref(), Some("test.yaml:16"));
        let decision = check_model(&both, "claude-opus-4-1");
        assert!(decision.allowed);
        assert_eq!(decision.rule, "role `eng` allows `claude-opus-*`");
    }

    #[test]
    fn org_models_deny_wins_over_a_role_allow() {
        let policy = policy(ORG);
        let decision = check_model(&user(&policy, "bob@t.com"), "claude-opus-4-preview");
        assert!(!decision.allowed);
        assert_eq!(decision.rule, "org.models denies `claude-*-preview`");
        assert_eq!(decision.source.as_deref(), Some("test.yaml:7"));
    }

    #[test]
    fn org_models_allow_filters_a_role_allow() {
        let policy = policy(ORG);
        let decision = check_model(&user(&policy, "both@t.com"), "other-model");
        assert!(!decision.allowed);
        assert_eq!(decision.rule, "no pattern of org.models.allow matches");
        assert_eq!(decision.source.as_deref(), Some("test.yaml:7"));
    }

    #[test]
    fn org_models_without_allow_filters_nothing_in() {
        let mut policy = policy(ORG);
        if let Some(models) = &mut policy.org.models {
            models.allow = None;
        }
        let both = user(&policy, "both@t.com");
        assert!(both.org_allow.is_none());
        assert!(check_model(&both, "other-model").allowed);
        assert!(!check_model(&both, "claude-sonnet-4-preview").allowed);
    }

    #[test]
    fn an_empty_org_models_allow_allows_no_model() {
        let policy = policy(&ORG.replace(
            r#"models: {allow: ["claude-*"], deny: ["claude-*-preview"]}"#,
            "models: {allow: []}",
        ));
        let both = user(&policy, "both@t.com");
        assert_eq!(both.org_allow.as_ref().map(Vec::len), Some(0));
        let decision = check_model(&both, "claude-sonnet-4");
        assert!(!decision.allowed);
        assert_eq!(
            decision.rule,
            "org.models.allow is empty: it allows no model"
        );
    }

    #[test]
    fn no_allow_pattern_means_denied() {
        let policy = policy(ORG);
        let decision = check_model(&user(&policy, "bob@t.com"), "claude-haiku-4");
        assert!(!decision.allowed);
        assert_eq!(decision.rule, "no allow pattern of the held roles matches");
    }

    #[test]
    fn capability_outside_org_capabilities_is_withheld() {
        // Validation rejects such a grant (`capability-not-enabled`), so switch the toggle
        // off after validating, as an org admin would in the console.
        let mut policy = policy(ORG);
        policy.org.capabilities.retain(|c| *c != Capability::Api);
        let bob = user(&policy, "bob@t.com");
        assert_eq!(capabilities(&bob), ["chat", "claude_code"]);
        assert_eq!(
            bob.withheld,
            [(
                Capability::Api,
                "not enabled in `org.capabilities`".to_owned()
            )]
        );
    }

    #[test]
    fn claude_code_is_dropped_on_a_standard_seat() {
        let policy = policy(ORG);
        let std = user(&policy, "std@t.com");
        assert_eq!(capabilities(&std), ["chat", "api"]);
        assert_eq!(
            std.withheld,
            [(Capability::ClaudeCode, "needs a premium seat".to_owned())]
        );
        assert_eq!(
            capabilities(&user(&policy, "bob@t.com")),
            ["chat", "claude_code", "api"]
        );
    }

    #[test]
    fn capabilities_point_at_the_grant() {
        let policy = policy(ORG);
        let both = user(&policy, "both@t.com");
        assert_eq!(
            capabilities(&both),
            ["chat", "claude_code", "api", "web_search"]
        );
        let origins: Vec<String> = both
            .capabilities
            .iter()
            .map(|(_, o)| o.to_string())
            .collect();
        // `chat` is granted by both roles; the first held role (sorted) is named.
        assert_eq!(
            origins,
            [
                "role `analyst` (test.yaml:19)",
                "role `eng` (test.yaml:15)",
                "role `eng` (test.yaml:15)",
                "role `analyst` (test.yaml:19)",
            ]
        );
    }

    #[test]
    fn defaults_apply_when_no_custom_role_is_held() {
        let policy = policy(ORG);
        let none = user(&policy, "none@t.com");
        assert!(none.roles.is_empty());
        assert_eq!(capabilities(&none), ["chat"]);
        assert_eq!(
            none.capabilities[0].1.to_string(),
            "org.defaults (test.yaml:9)"
        );
        assert_eq!(none.allow.len(), 1);
        assert_eq!(&*none.allow[0].pattern, "claude-haiku-*");
        let decision = check_model(&none, "claude-haiku-4-5");
        assert!(decision.allowed);
        assert_eq!(decision.rule, "org.defaults allows `claude-haiku-*`");
        assert_eq!(decision.source.as_deref(), Some("test.yaml:10"));
        assert!(!check_model(&none, "claude-sonnet-4").allowed);
        assert_eq!(
            limit(&none, Metric::SpendUsd, Period::Monthly),
            (50.0, "org.defaults (test.yaml:11)".to_owned())
        );
    }

    #[test]
    fn default_access_stops_at_a_held_role_but_default_limits_do_not() {
        let policy = policy(ORG);
        let bob = user(&policy, "bob@t.com");
        assert!(bob.allow.iter().all(|p| &*p.pattern != "claude-haiku-*"));
        // Limits fall through every layer to org.defaults, roles held or not.
        assert_eq!(
            limit(&bob, Metric::SpendUsd, Period::Weekly),
            (100.0, "org.defaults (test.yaml:11)".to_owned())
        );
    }

    #[test]
    fn user_limit_beats_group_limit() {
        let policy = policy(ORG);
        assert_eq!(
            limit(
                &user(&policy, "carol@t.com"),
                Metric::SpendUsd,
                Period::Monthly
            ),
            (800.0, "the user (test.yaml:38)".to_owned())
        );
    }

    #[test]
    fn group_limit_beats_role_limit_even_when_lower() {
        let policy = policy(ORG);
        let bob = user(&policy, "bob@t.com");
        assert_eq!(
            limit(&bob, Metric::SpendUsd, Period::Monthly),
            (300.0, "group `engineering` (test.yaml:26)".to_owned())
        );
        // No group sets tokens: the held role does.
        assert_eq!(
            limit(&bob, Metric::Tokens, Period::Monthly),
            (1_000_000.0, "role `eng` (test.yaml:17)".to_owned())
        );
    }

    #[test]
    fn most_generous_group_and_role_win() {
        let policy = policy(ORG);
        let both = user(&policy, "both@t.com");
        assert_eq!(
            limit(&both, Metric::SpendUsd, Period::Monthly),
            (400.0, "group `data` (test.yaml:29)".to_owned())
        );
        assert_eq!(
            limit(&both, Metric::Tokens, Period::Monthly),
            (5_000_000.0, "role `analyst` (test.yaml:21)".to_owned())
        );
    }

    #[test]
    fn suspended_user_has_nothing() {
        let policy = policy(ORG);
        let gone = user(&policy, "gone@t.com");
        assert!(gone.capabilities.is_empty());
        assert_eq!(gone.withheld.len(), 3);
        assert!(
            gone.withheld
                .iter()
                .all(|(_, reason)| reason == "the user is suspended")
        );
        assert!(gone.allow.is_empty() && gone.deny.is_empty() && gone.org_deny.is_empty());
        assert!(gone.limits.is_empty());
        let decision = check_model(&gone, "claude-sonnet-4");
        assert!(!decision.allowed);
        assert_eq!(decision.rule, "the user is suspended");
        assert_eq!(decision.source.as_deref(), Some("test.yaml:40"));
    }

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

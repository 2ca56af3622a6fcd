//! Running tests: select users, keep those that meet `where`, and check every expectation
//! against their effective permissions (docs/policy.md). Pure: no I/O.
//!
//! One [`Resolver`] serves every test and every user. A user's borrowed access answers
//! role, seat, status, groups, roles and capabilities; the full effective permissions
//! (with `file:line` origins) are built only when a limit is asked about. A model's answer
//! depends only on the custom roles held (for a user who is not suspended), so it is
//! decided once per set of held roles by `resolve::check_model` (the code behind
//! `explain --model`) and shared. A test over many users is checked on all cores, and only
//! its first failing users are explained.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::model::{Capability, Policy, Section, UserStatus};
use crate::resolve::{Access, Effective, Resolver};

use super::files::{Case, Suite};
use super::model::{Expect, LimitExpect};

/// Failing users explained per test; the rest are counted.
pub const SHOWN_USERS: usize = 10;

/// The outcome of every test.
///
/// JSON form (`orgplan test --format json`): `{"tests": [Outcome…], "passed": N, "failed": N}`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every test, in file order, files in path order.
    pub tests: Vec<Outcome>,
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
}

/// The outcome of one test.
///
/// JSON: `{"name", "file", "line", "selector", "status": "passed"|"failed", "selected",
/// "failing", "reason"?, "failures": [{"user", "failures": [Failure…]}], "more_failing"}`.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The test's name.
    pub name: String,
    /// The test file.
    pub file: String,
    /// The line of the test's `name`.
    pub line: usize,
    /// Whom the test selects, in words: "user `a@b.com`", "group `sales`", "all users".
    pub selector: String,
    /// `passed` or `failed`.
    pub status: Status,
    /// Users selected (after `where`).
    pub selected: usize,
    /// Selected users that fail an expectation.
    pub failing: usize,
    /// Why the test failed as a whole (`selects no user`), when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The first failing users ([`SHOWN_USERS`]), each with what they fail.
    pub failures: Vec<UserFailure>,
    /// Failing users not shown.
    pub more_failing: usize,
}

/// Whether a test passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every selected user meets every expectation.
    Passed,
    /// Some do not, or none was selected.
    Failed,
}

/// One failing user.
#[derive(Debug, Clone, Serialize)]
pub struct UserFailure {
    /// The user's email, lowercased.
    pub user: String,
    /// Every expectation the user fails.
    pub failures: Vec<Failure>,
}

/// One expectation a user fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The expectation, such as "models.allowed `claude-opus-4-1`".
    pub expectation: String,
    /// What the test expects.
    pub expected: String,
    /// What is in force.
    pub actual: String,
    /// The rule that decided the actual value, such as "role `sales` allows `claude-*`".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// `file:line` of that rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Run every test of `suites` against `policy`.
pub fn run(policy: &Policy, suites: &[Suite]) -> Report {
    let resolver = Resolver::new(policy);
    let members: OnceCell<BTreeMap<&str, Vec<&str>>> = OnceCell::new();
    let all: OnceCell<Vec<&str>> = OnceCell::new();
    let mut tests = Vec::new();
    for suite in suites {
        for case in &suite.cases {
            let candidates: Vec<&str> = match (&case.test.user, &case.test.group) {
                (Some(user), _) => {
                    let key = crate::model::email_key(user);
                    policy
                        .users
                        .get_key_value(key.as_ref())
                        .map(|(email, _)| vec![email.as_str()])
                        .unwrap_or_default()
                }
                (None, Some(group)) => members
                    .get_or_init(|| policy.members_by_group())
                    .get(group.as_str())
                    .cloned()
                    .unwrap_or_default(),
                (None, None) => all
                    .get_or_init(|| policy.users.keys().map(String::as_str).collect())
                    .clone(),
            };
            tests.push(run_case(&resolver, policy, &suite.file, case, &candidates));
        }
    }
    let passed = tests.iter().filter(|t| t.status == Status::Passed).count();
    Report {
        failed: tests.len() - passed,
        passed,
        tests,
    }
}

fn run_case(
    resolver: &Resolver<'_>,
    policy: &Policy,
    file: &str,
    case: &Case,
    candidates: &[&str],
) -> Outcome {
    let test = &case.test;
    let decisions = Decisions::default();
    // Selected users and whether each passes, in email order, on all cores.
    let checked: Vec<(usize, bool)> =
        crate::pool::parallel_each(&candidates.iter().enumerate().collect::<Vec<_>>(), {
            |(at, email), out| {
                let Some(subject) = Subject::new(resolver, policy, &decisions, email) else {
                    return;
                };
                if let Some(filter) = &test.filter
                    && !subject.meets(filter, None)
                {
                    return;
                }
                out.push((*at, subject.meets(&test.expect, None)));
            }
        });
    let failing: Vec<usize> = checked
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(at, _)| *at)
        .collect();
    let failures = failing
        .iter()
        .take(SHOWN_USERS)
        .filter_map(|at| {
            let email = candidates.get(*at)?;
            let subject = Subject::new(resolver, policy, &decisions, email)?;
            let mut failures = Vec::new();
            subject.meets(&test.expect, Some(&mut failures));
            Some(UserFailure {
                user: (*email).to_owned(),
                failures,
            })
        })
        .collect();
    let selector = match (&test.user, &test.group) {
        (Some(user), _) => format!("user `{user}`"),
        (None, Some(group)) => format!("group `{group}`"),
        (None, None) => "all users".to_owned(),
    };
    let reason = checked.is_empty().then(|| "selects no user".to_owned());
    Outcome {
        name: test.name.clone(),
        file: file.to_owned(),
        line: case.line,
        selector,
        status: if reason.is_none() && failing.is_empty() {
            Status::Passed
        } else {
            Status::Failed
        },
        selected: checked.len(),
        failing: failing.len(),
        reason,
        failures,
        more_failing: failing.len().saturating_sub(SHOWN_USERS),
    }
}

/// A model's answer for a user: allowed or not, the deciding rule and its `file:line`.
#[derive(Debug)]
struct ModelAnswer {
    allowed: bool,
    rule: String,
    source: Option<String>,
}

/// Model answers of one test by (custom roles held, model), for users who are not
/// suspended: for them `check_model` reads nothing but what the held roles (or
/// `org.defaults`) and `org.models` grant.
type Decisions<'r, 't> = Mutex<HashMap<(Vec<&'r str>, &'t str), Arc<ModelAnswer>>>;

/// One user under test: the borrowed access, and the full effective permissions built
/// the first time a limit (or a suspended user's model) needs them.
struct Subject<'r, 't> {
    access: Access<'r>,
    resolver: &'r Resolver<'r>,
    policy: &'r Policy,
    decisions: &'r Decisions<'r, 't>,
    effective: OnceCell<Option<Effective>>,
}

fn list<T: AsRef<str>>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(|i| format!("`{}`", i.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'r, 't> Subject<'r, 't> {
    fn new(
        resolver: &'r Resolver<'r>,
        policy: &'r Policy,
        decisions: &'r Decisions<'r, 't>,
        email: &str,
    ) -> Option<Self> {
        Some(Subject {
            access: resolver.access(email)?,
            resolver,
            policy,
            decisions,
            effective: OnceCell::new(),
        })
    }

    /// May the user use `model`? Decided by `resolve::check_model` on the user's effective
    /// permissions, or on those of another user who holds the same custom roles.
    fn model(&self, model: &'t str) -> Option<Arc<ModelAnswer>> {
        let answer = |effective: &Effective| {
            let decision = crate::resolve::check_model(effective, model);
            Arc::new(ModelAnswer {
                allowed: decision.allowed,
                rule: model_rule(effective, &decision),
                source: decision.source.clone().or_else(|| {
                    let first = effective.allow.first()?;
                    first.origin.source.as_deref().map(str::to_owned)
                }),
            })
        };
        if self.access.user.status == UserStatus::Suspended {
            return self.effective().map(answer);
        }
        let key = (self.access.roles.clone(), model);
        let cached = self
            .decisions
            .lock()
            .ok()
            .and_then(|map| map.get(&key).cloned());
        if let Some(found) = cached {
            return Some(found);
        }
        let found = answer(self.effective()?);
        if let Ok(mut map) = self.decisions.lock() {
            map.insert(key, found.clone());
        }
        Some(found)
    }

    fn effective(&self) -> Option<&Effective> {
        self.effective
            .get_or_init(|| self.resolver.resolve(self.access.email))
            .as_ref()
    }

    // `file:line` of a field of the user (of the user's entry when the field is not written).
    fn user_source(&self, field: &str) -> Option<String> {
        let path: &[&str] = if field.is_empty() { &[] } else { &[field] };
        self.policy
            .origins
            .source(Section::Users, self.access.email, path)
    }

    /// Whether the user meets every expectation of `expect`. With `explain`, every
    /// failed expectation is pushed there (all of them are checked); without, the first
    /// failure ends the check.
    fn meets(&self, expect: &'t Expect, mut explain: Option<&mut Vec<Failure>>) -> bool {
        let mut ok = true;
        // Record one failure; `false` when the check can stop here.
        let mut fail = |failure: &dyn Fn() -> Failure| -> bool {
            ok = false;
            match explain.as_deref_mut() {
                Some(out) => {
                    out.push(failure());
                    true
                }
                None => false,
            }
        };
        let user = self.access.user;
        if let Some(role) = expect.role
            && user.role != role
            && !fail(&|| Failure {
                expectation: "role".to_owned(),
                expected: role.as_str().to_owned(),
                actual: user.role.as_str().to_owned(),
                decided_by: Some("the user's `role`".to_owned()),
                source: self.user_source("role"),
            })
        {
            return false;
        }
        if let Some(seat) = expect.seat
            && user.seat != seat
            && !fail(&|| Failure {
                expectation: "seat".to_owned(),
                expected: seat.as_str().to_owned(),
                actual: user.seat.as_str().to_owned(),
                decided_by: Some("the user's `seat`".to_owned()),
                source: self.user_source("seat"),
            })
        {
            return false;
        }
        if let Some(status) = expect.status
            && user.status != status
            && !fail(&|| Failure {
                expectation: "status".to_owned(),
                expected: status_str(status).to_owned(),
                actual: status_str(user.status).to_owned(),
                decided_by: Some("the user's `status`".to_owned()),
                source: self.user_source("status"),
            })
        {
            return false;
        }
        if let Some(expected) = &expect.groups {
            let actual: Vec<&str> = self.access.groups.iter().map(String::as_str).collect();
            if !same_set(expected, &actual)
                && !fail(&|| Failure {
                    expectation: "groups".to_owned(),
                    expected: list(&sorted(expected)),
                    actual: list(&actual),
                    decided_by: Some(
                        "the user's `groups` and the groups that list the user in `members`"
                            .to_owned(),
                    ),
                    source: self.user_source(""),
                })
            {
                return false;
            }
        }
        if let Some(expected) = &expect.roles {
            let actual = &self.access.roles;
            if !same_set(expected, actual) && !fail(&|| self.roles_failure(expected)) {
                return false;
            }
        }
        if let Some(capabilities) = &expect.capabilities {
            for capability in &capabilities.include {
                if !self.access.has(*capability) && !fail(&|| self.missing_capability(*capability))
                {
                    return false;
                }
            }
            for capability in &capabilities.exclude {
                let granted = self
                    .access
                    .capabilities
                    .iter()
                    .find(|(c, _)| c == capability);
                if let Some((_, origin)) = granted
                    && !fail(&|| Failure {
                        expectation: format!("capabilities.exclude `{}`", capability.as_str()),
                        expected: "not in force".to_owned(),
                        actual: "in force".to_owned(),
                        decided_by: Some(format!("granted by {}", origin.from)),
                        source: origin.source.as_deref().map(str::to_owned),
                    })
                {
                    return false;
                }
            }
        }
        if let Some(models) = &expect.models {
            let wanted = models
                .allowed
                .iter()
                .map(|m| (m, true))
                .chain(models.denied.iter().map(|m| (m, false)));
            for (model, allowed) in wanted {
                let Some(decision) = self.model(model) else {
                    return false;
                };
                let word = |allowed: bool| if allowed { "allowed" } else { "denied" };
                if decision.allowed != allowed
                    && !fail(&|| Failure {
                        expectation: format!(
                            "models.{} `{model}`",
                            if allowed { "allowed" } else { "denied" }
                        ),
                        expected: word(allowed).to_owned(),
                        actual: word(decision.allowed).to_owned(),
                        decided_by: Some(decision.rule.clone()),
                        source: decision.source.clone(),
                    })
                {
                    return false;
                }
            }
        }
        if let Some(limits) = &expect.limits {
            for (metric, periods) in limits {
                for (period, want) in periods {
                    let Some(effective) = self.effective() else {
                        return false;
                    };
                    let actual = effective.limits.get(metric).and_then(|p| p.get(period));
                    let value = actual.map(|(amount, _)| amount.0);
                    let met = match want {
                        LimitExpect::Exact(amount) => value == Some(amount.0),
                        LimitExpect::None(_) => value.is_none(),
                        LimitExpect::Bound(bound) => {
                            bound
                                .max
                                .is_none_or(|max| value.is_some_and(|v| v <= max.0))
                                && bound.min.is_none_or(|min| value.is_none_or(|v| v >= min.0))
                        }
                    };
                    if !met
                        && !fail(&|| Failure {
                            expectation: format!("limits.{}.{}", metric.as_str(), period.as_str()),
                            expected: expected_limit(want),
                            actual: actual
                                .map_or_else(|| "none".to_owned(), |(a, _)| a.to_string()),
                            decided_by: Some(match actual {
                                Some((_, origin)) => format!("set by {}", origin.from),
                                None if effective.status == UserStatus::Suspended => {
                                    "the user is suspended".to_owned()
                                }
                                None => "no limit from the user, a group, a role or org.defaults"
                                    .to_owned(),
                            }),
                            source: match actual {
                                Some((_, origin)) => origin.source.as_deref().map(str::to_owned),
                                None => None,
                            },
                        })
                    {
                        return false;
                    }
                }
            }
        }
        ok
    }

    fn roles_failure(&self, expected: &[String]) -> Failure {
        let actual = &self.access.roles;
        // The first role held but not expected, and the group that grants it.
        let extra = actual.iter().find(|r| !expected.iter().any(|e| e == *r));
        let granting = extra.and_then(|role| {
            self.access.groups.iter().find_map(|group| {
                let at = self
                    .policy
                    .groups
                    .get(group)?
                    .roles
                    .iter()
                    .position(|r| r == role)?;
                let source =
                    self.policy
                        .origins
                        .source(Section::Groups, group, &["roles", &at.to_string()]);
                Some((format!("group `{group}` grants `{role}`"), source))
            })
        });
        let (decided_by, source) = match granting {
            Some((rule, source)) => (rule, source),
            None => (
                "the roles of the user's groups".to_owned(),
                self.user_source(""),
            ),
        };
        Failure {
            expectation: "roles".to_owned(),
            expected: list(&sorted(expected)),
            actual: list(actual),
            decided_by: Some(decided_by),
            source,
        }
    }

    fn missing_capability(&self, capability: Capability) -> Failure {
        let withheld = self
            .access
            .withheld
            .iter()
            .find(|(c, _)| *c == capability)
            .map(|(_, reason)| *reason);
        let origins = &self.policy.origins;
        let (actual, decided_by, source) = match withheld {
            Some(reason) => {
                let source = if reason.contains("suspended") {
                    self.user_source("status")
                } else if reason.contains("premium") {
                    self.user_source("seat")
                } else {
                    origins.source(Section::Org, "", &["capabilities"])
                };
                (format!("granted but not in force: {reason}"), None, source)
            }
            None if self.access.roles.is_empty() => (
                "not granted".to_owned(),
                Some("the user holds no custom role: org.defaults applies".to_owned()),
                origins.source(Section::Org, "", &["defaults", "capabilities"]),
            ),
            None => (
                "not granted".to_owned(),
                Some(format!(
                    "no held role grants it ({})",
                    list(&self.access.roles)
                )),
                self.user_source(""),
            ),
        };
        Failure {
            expectation: format!("capabilities.include `{}`", capability.as_str()),
            expected: "in force".to_owned(),
            actual,
            decided_by,
            source,
        }
    }
}

// The rule that decided a model, as `explain --model` words it; when no allow pattern
// matched (a rule with no line of its own), the allow patterns in force and their places.
fn model_rule(effective: &Effective, decision: &crate::resolve::Decision) -> String {
    if decision.source.is_some() || decision.allowed || effective.allow.is_empty() {
        return decision.rule.clone();
    }
    let patterns: Vec<String> = effective
        .allow
        .iter()
        .map(|p| match &p.origin.source {
            Some(source) => format!("`{}` ({source})", p.pattern),
            None => format!("`{}`", p.pattern),
        })
        .collect();
    format!("{}: {}", decision.rule, patterns.join(", "))
}

fn status_str(status: UserStatus) -> &'static str {
    match status {
        UserStatus::Active => "active",
        UserStatus::Suspended => "suspended",
    }
}

fn sorted(items: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = items.iter().map(String::as_str).collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn same_set(expected: &[String], actual: &[&str]) -> bool {
    let mut actual: Vec<&str> = actual.to_vec();
    actual.sort_unstable();
    actual.dedup();
    sorted(expected) == actual
}

fn expected_limit(want: &LimitExpect) -> String {
    match want {
        LimitExpect::Exact(amount) => amount.to_string(),
        LimitExpect::None(_) => "none".to_owned(),
        LimitExpect::Bound(bound) => match (bound.min, bound.max) {
            (Some(min), Some(max)) => format!("between {min} and {max}"),
            (Some(min), None) => format!("at least {min} (or none)"),
            (None, Some(max)) => format!("at most {max}"),
            (None, None) => "anything".to_owned(),
        },
    }
}

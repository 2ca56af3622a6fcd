//! Finding and checking test files: every `*.test.yaml` / `*.test.yml` under the policy
//! folder is parsed with the policy loader (so every node keeps its `file:line:col`),
//! checked against the test schema, decoded, and its users, groups and roles looked up in
//! the policy. Problems are ordinary diagnostics (`yaml-syntax`, `schema`,
//! `unknown-reference`), reported by `orgplan validate` and `orgplan test` alike.

use crate::diag::Code;
use std::path::Path;

use serde_json::Value;

use crate::diag::{self, Diagnostic, Location};
use crate::load::{Document, Files, LoadError, Sources};
use crate::model::Policy;

use super::model::{Expect, Test, TestFile};

/// One test, with where its `name` is written.
#[derive(Debug, Clone)]
pub struct Case {
    /// The test as written.
    pub test: Test,
    /// The line of its `name` (or of the test, when it has none), 1-based.
    pub line: usize,
}

/// The tests of one file.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The file, as the user named it (`policies/access.test.yaml`).
    pub file: String,
    /// Its tests, in file order.
    pub cases: Vec<Case>,
}

/// Every test file of a policy folder, checked.
#[derive(Debug, Default)]
pub struct TestFiles {
    /// The files' texts, for source snippets.
    pub sources: Sources,
    /// The files that decoded, in sorted path order.
    pub suites: Vec<Suite>,
    /// Every problem found in them, sorted by place.
    pub diagnostics: Vec<Diagnostic>,
}

impl TestFiles {
    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

/// Read, schema-check and decode every test file under `dir`; with a `policy`, also check
/// that the users, groups and roles they name are declared (without one, the policy is
/// invalid and its own diagnostics say so).
pub fn load(dir: &Path, policy: Option<&Policy>) -> Result<TestFiles, LoadError> {
    let schema = super::model::json_schema();
    let validator = jsonschema::draft7::new(&schema).ok();
    let loaded = crate::load::load_files_with(dir, Files::Tests, |document| document)?;
    let mut out = TestFiles {
        sources: loaded.sources,
        suites: Vec::new(),
        diagnostics: loaded.diagnostics,
    };
    for document in loaded.documents {
        let found = match &validator {
            Some(validator) => schema_problems(&schema, validator, &document),
            None => vec![Diagnostic::error(
                Code::Schema,
                "the built-in test schema does not compile",
            )],
        };
        if !found.is_empty() {
            out.diagnostics.extend(found);
            continue;
        }
        let file = match serde_path_to_error::deserialize::<_, TestFile>(&document.value) {
            Ok(file) => file,
            Err(error) => {
                let pointer = path_to_pointer(&error.path().to_string());
                out.diagnostics.push(
                    Diagnostic::error(Code::Schema, error.inner().to_string())
                        .at(document.locate(&pointer)),
                );
                continue;
            }
        };
        if let Some(policy) = policy {
            check_references(policy, &document, &file, &mut out.diagnostics);
        }
        let cases = file
            .tests
            .into_iter()
            .enumerate()
            .map(|(i, test)| {
                let line = document
                    .locate(&format!("/tests/{i}/name"))
                    .map_or(0, |l| l.line);
                Case { test, line }
            })
            .collect();
        out.suites.push(Suite {
            file: document.name.clone(),
            cases,
        });
    }
    diag::sort(&mut out.diagnostics);
    Ok(out)
}

// The schema errors of one test file, worded as the policy's are; the few that only a
// test file has (its root, a test's selector) worded here.
fn schema_problems(
    schema: &Value,
    validator: &jsonschema::Validator,
    document: &Document,
) -> Vec<Diagnostic> {
    use jsonschema::error::ValidationErrorKind as Kind;
    if !document.value.is_object() {
        return vec![
            Diagnostic::error(Code::Schema, "a test file must be a mapping with `tests`")
                .at(document.locate(""))
                .help("write `tests:` and a list of tests under it"),
        ];
    }
    let mut found: Vec<Diagnostic> = validator
        .iter_errors(&document.value)
        .map(|error| match error.kind() {
            Kind::OneOfNotValid { .. } | Kind::OneOfMultipleValid { .. } => {
                let pointer = error.instance_path().as_str().to_owned();
                let given: Vec<&str> = ["user", "group", "users"]
                    .into_iter()
                    .filter(|key| error.instance().get(key).is_some())
                    .collect();
                let message = if given.is_empty() {
                    "a test selects no one: it needs one of `user`, `group`, `users: all`"
                        .to_owned()
                } else {
                    format!(
                        "a test selects with exactly one of `user`, `group`, `users`, not {}",
                        given
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    )
                };
                Diagnostic::error(Code::Schema, message)
                    .at(document.locate_key(&format!("{pointer}/name")))
                    .help("`user: EMAIL`, `group: NAME` or `users: all`")
            }
            kind => {
                let mut diagnostic = crate::validate::schema_diagnostic(schema, document, &error);
                diagnostic.message = diagnostic.message.replace("a policy file", "a test file");
                let in_limits = error.instance_path().as_str().contains("/limits/");
                if in_limits && matches!(kind, Kind::AnyOf { .. }) {
                    diagnostic =
                        diagnostic.help("expected a number, `none`, `{max: N}` or `{min: N}`");
                }
                diagnostic
            }
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

// `tests[2].expect.role` (serde_path_to_error) -> `/tests/2/expect/role`.
fn path_to_pointer(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    path.replace('[', ".")
        .replace(']', "")
        .split('.')
        .filter(|s| !s.is_empty())
        .map(|s| format!("/{s}"))
        .collect()
}

// Users, groups and roles a test names must be declared: a typo would otherwise select no
// one, or expect a set nobody can have.
fn check_references(
    policy: &Policy,
    document: &Document,
    file: &TestFile,
    out: &mut Vec<Diagnostic>,
) {
    let at = |pointer: String| document.locate(&pointer);
    for (i, test) in file.tests.iter().enumerate() {
        if let Some(user) = &test.user
            && !policy
                .users
                .contains_key(crate::model::email_key(user).as_ref())
        {
            out.push(
                Diagnostic::error(
                    Code::UnknownReference,
                    format!("user `{user}` is not defined"),
                )
                .at(at(format!("/tests/{i}/user")))
                .maybe_help(diag::did_you_mean(
                    &crate::model::email_key(user),
                    policy.users.keys().map(String::as_str),
                )),
            );
        }
        if let Some(group) = &test.group
            && !policy.groups.contains_key(group)
        {
            out.push(
                Diagnostic::error(
                    Code::UnknownReference,
                    format!("group `{group}` is not defined"),
                )
                .at(at(format!("/tests/{i}/group")))
                .maybe_help(diag::did_you_mean(
                    group,
                    policy.groups.keys().map(String::as_str),
                )),
            );
        }
        let blocks = [
            ("where", test.filter.as_ref()),
            ("expect", Some(&test.expect)),
        ];
        for (key, expect) in blocks {
            if let Some(expect) = expect {
                check_expect_references(policy, expect, &format!("/tests/{i}/{key}"), &at, out);
            }
        }
    }
}

fn check_expect_references(
    policy: &Policy,
    expect: &Expect,
    base: &str,
    at: &dyn Fn(String) -> Option<Location>,
    out: &mut Vec<Diagnostic>,
) {
    for (j, group) in expect.groups.iter().flatten().enumerate() {
        if !policy.groups.contains_key(group) {
            out.push(
                Diagnostic::error(
                    Code::UnknownReference,
                    format!("group `{group}` is not defined"),
                )
                .at(at(format!("{base}/groups/{j}")))
                .maybe_help(diag::did_you_mean(
                    group,
                    policy.groups.keys().map(String::as_str),
                )),
            );
        }
    }
    for (j, role) in expect.roles.iter().flatten().enumerate() {
        if !policy.roles.contains_key(role) {
            out.push(
                Diagnostic::error(
                    Code::UnknownReference,
                    format!("role `{role}` is not defined"),
                )
                .at(at(format!("{base}/roles/{j}")))
                .maybe_help(diag::did_you_mean(
                    role,
                    policy.roles.keys().map(String::as_str),
                )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_paths_become_pointers() {
        assert_eq!(
            path_to_pointer("tests[2].expect.role"),
            "/tests/2/expect/role"
        );
        assert_eq!(path_to_pointer("."), "");
    }
}

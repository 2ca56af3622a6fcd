//! `orgplan test`: policy tests beside the example org (policies/), each selector and
//! expectation kind passing and failing, the reports (human, json, junit, github) and the
//! exit codes; `orgplan validate` on test files.

use std::path::Path;

use serde_json::Value;

use crate::common::{root, run};

/// A scratch policy folder: the example org's policy files (not its tests) and `tests`
/// as `t.test.yaml`.
fn org_with_tests(tests: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let policies = root().join("policies");
    for entry in std::fs::read_dir(&policies).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".yaml") && !name.ends_with(".test.yaml") {
            std::fs::copy(&path, dir.path().join(name)).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    std::fs::write(dir.path().join("t.test.yaml"), tests).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn path(dir: &Path) -> String {
    dir.display().to_string()
}

/// `orgplan test -p DIR --format json`: the report and the exit code.
fn test_json(dir: &Path) -> (Value, i32) {
    let (stdout, stderr, code) = run(&["test", "-p", &path(dir), "--format", "json"]);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {stdout:?} stderr {stderr:?}"));
    (report, code)
}

/// `orgplan validate -p DIR --format json`, which must exit 3: the report.
fn invalid(dir: &Path) -> Value {
    let (stdout, _, code) = run(&["validate", "-p", &path(dir), "--format", "json"]);
    assert_eq!(code, 3, "{stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}"))
}

/// The outcome of the test called `name`.
fn outcome<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tests"]
        .as_array()
        .and_then(|tests| tests.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no test `{name}` in {report:#}"))
}

#[test]
fn the_example_tests_pass() {
    let (stdout, stderr, code) = run(&["test"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() >= 12, "{stdout}");
    assert!(
        lines
            .iter()
            .filter(|l| l.starts_with("test "))
            .all(|l| l.ends_with(" ... ok")),
        "{stdout}"
    );
    let tests = lines.iter().filter(|l| l.starts_with("test ")).count();
    assert!(tests >= 10, "the example has at least 10 tests: {stdout}");
    assert_eq!(
        lines.last().copied(),
        Some(format!("{tests} passed, 0 failed").as_str())
    );
}

#[test]
fn the_example_tests_use_every_selector_and_expectation_kind() {
    let text = std::fs::read_to_string(root().join("policies/access.test.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text.starts_with("# yaml-language-server: $schema=../schema/orgplan-test.schema.json\n")
    );
    for needle in [
        "user:",
        "group:",
        "users: all",
        "where:",
        "role:",
        "seat:",
        "status:",
        "groups:",
        "roles:",
        "include:",
        "exclude:",
        "allowed:",
        "denied:",
        "limits:",
        ": none",
        "max:",
        "min:",
    ] {
        assert!(
            text.contains(needle),
            "policies/access.test.yaml has no `{needle}`"
        );
    }
}

// Each expectation kind on one user (hiro.tanaka@acme.com: member, premium, active, groups
// data-science + engineering, roles analyst + ml-engineer), once met and once not.
const KINDS: &str = r#"
tests:
  - {name: pass role, user: hiro.tanaka@acme.com, expect: {role: member}}
  - {name: fail role, user: hiro.tanaka@acme.com, expect: {role: admin}}
  - {name: pass seat, user: hiro.tanaka@acme.com, expect: {seat: premium}}
  - {name: fail seat, user: hiro.tanaka@acme.com, expect: {seat: standard}}
  - {name: pass status, user: hiro.tanaka@acme.com, expect: {status: active}}
  - {name: fail status, user: hiro.tanaka@acme.com, expect: {status: suspended}}
  - {name: pass groups, user: hiro.tanaka@acme.com, expect: {groups: [engineering, data-science]}}
  - {name: fail groups, user: hiro.tanaka@acme.com, expect: {groups: [engineering]}}
  - {name: pass roles, user: hiro.tanaka@acme.com, expect: {roles: [ml-engineer, analyst]}}
  - {name: fail roles, user: hiro.tanaka@acme.com, expect: {roles: [ml-engineer]}}
  - {name: pass include, user: hiro.tanaka@acme.com, expect: {capabilities: {include: [claude_code, api]}}}
  - {name: fail include, user: ivan.petrov@acme.com, expect: {capabilities: {include: [claude_code]}}}
  - {name: pass exclude, user: kate.sullivan@acme.com, expect: {capabilities: {exclude: [claude_code]}}}
  - {name: fail exclude, user: hiro.tanaka@acme.com, expect: {capabilities: {exclude: [api]}}}
  - {name: pass allowed, user: hiro.tanaka@acme.com, expect: {models: {allowed: [claude-opus-4-1]}}}
  - {name: fail allowed, user: hiro.tanaka@acme.com, expect: {models: {allowed: [claude-opus-4-20250514]}}}
  - {name: pass denied, user: hiro.tanaka@acme.com, expect: {models: {denied: [claude-opus-4-1-preview]}}}
  - {name: fail denied, user: hiro.tanaka@acme.com, expect: {models: {denied: [claude-sonnet-4-5]}}}
  - {name: pass exact, user: hiro.tanaka@acme.com, expect: {limits: {spend_usd: {monthly: 300}}}}
  - {name: fail exact, user: hiro.tanaka@acme.com, expect: {limits: {spend_usd: {monthly: 500}}}}
  - {name: pass none, user: hiro.tanaka@acme.com, expect: {limits: {tokens: {weekly: none}}}}
  - {name: fail none, user: hiro.tanaka@acme.com, expect: {limits: {tokens: {daily: none}}}}
  - {name: pass max, user: hiro.tanaka@acme.com, expect: {limits: {spend_usd: {monthly: {max: 300}}}}}
  - {name: fail max, user: hiro.tanaka@acme.com, expect: {limits: {spend_usd: {monthly: {max: 299.5}}}}}
  - {name: fail max without a limit, user: hiro.tanaka@acme.com, expect: {limits: {spend_usd: {weekly: {max: 1000}}}}}
  - {name: pass min, user: hiro.tanaka@acme.com, expect: {limits: {tokens: {monthly: {min: 80000000}}}}}
  - {name: pass min without a limit, user: hiro.tanaka@acme.com, expect: {limits: {tokens: {weekly: {min: 1}}}}}
  - {name: fail min, user: hiro.tanaka@acme.com, expect: {limits: {tokens: {monthly: {min: 80000001}}}}}
  - {name: pass user, user: HIRO.Tanaka@acme.com, expect: {seat: premium}}
  - {name: pass group, group: support, expect: {roles: [support-agent]}}
  - {name: fail group, group: engineering, expect: {groups: [engineering]}}
  - {name: pass all, users: all, where: {groups: [sales]}, expect: {roles: [analyst]}}
  - {name: fail all, users: all, expect: {seat: premium}}
  - {name: pass where on a group, group: sales, where: {status: suspended}, expect: {limits: {spend_usd: {monthly: none}}}}
"#;

// Tests of KINDS whose name starts with `prefix`.
fn kinds(prefix: &str) -> usize {
    KINDS.matches(&format!("- {{name: {prefix}")).count()
}

#[test]
fn every_selector_and_expectation_kind_passes_and_fails() {
    let dir = org_with_tests(KINDS);
    let (report, code) = test_json(dir.path());
    assert_eq!(code, 4, "{report:#}");
    let tests = report["tests"].as_array().cloned().unwrap_or_default();
    assert_eq!(tests.len(), 34);
    for test in &tests {
        let name = test["name"].as_str().unwrap_or_default();
        let want = if name.starts_with("pass") {
            "passed"
        } else {
            "failed"
        };
        assert_eq!(test["status"], want, "{test:#}");
        if want == "failed" {
            assert!(test["failing"].as_u64() > Some(0), "{test:#}");
            let first = &test["failures"][0]["failures"][0];
            for key in ["expectation", "expected", "actual"] {
                assert!(first[key].is_string(), "{key} in {test:#}");
            }
        }
    }
    assert_eq!(report["passed"], kinds("pass"));
    assert_eq!(report["failed"], kinds("fail"));
}

#[test]
fn a_failure_names_the_deciding_rule_and_its_line() {
    let dir = org_with_tests(KINDS);
    let (report, _) = test_json(dir.path());
    let failure = |name: &str| outcome(&report, name)["failures"][0]["failures"][0].clone();
    let model = failure("fail allowed");
    assert_eq!(
        model["expectation"],
        "models.allowed `claude-opus-4-20250514`"
    );
    assert_eq!(model["expected"], "allowed");
    assert_eq!(model["actual"], "denied");
    assert_eq!(
        model["decided_by"],
        "role `ml-engineer` denies `claude-opus-4-2025????`"
    );
    let source = model["source"].as_str().unwrap_or_default();
    assert!(source.ends_with("roles.yaml:11"), "{model:#}");

    let limit = failure("fail exact");
    assert_eq!(limit["expected"], "500");
    assert_eq!(limit["actual"], "300");
    assert_eq!(limit["decided_by"], "set by group `engineering`");
    let source = limit["source"].as_str().unwrap_or_default();
    assert!(source.ends_with("groups.yaml:15"), "{limit:#}");

    let capability = failure("fail exclude");
    assert_eq!(capability["decided_by"], "granted by role `analyst`");
    let missing = failure("fail include");
    assert_eq!(missing["actual"], "not granted");
    assert_eq!(missing["decided_by"], "no held role grants it (`analyst`)");
    let none = failure("fail max without a limit");
    assert_eq!(none["actual"], "none");
}

#[test]
fn a_test_that_selects_no_user_fails() {
    let dir = org_with_tests(
        "tests:\n  - name: nobody\n    group: sales\n    where: {seat: premium}\n    expect: {role: member}\n",
    );
    let (report, code) = test_json(dir.path());
    assert_eq!(code, 4);
    let test = outcome(&report, "nobody");
    assert_eq!(test["status"], "failed");
    assert_eq!(test["reason"], "selects no user");
    assert_eq!(test["selected"], 0);
    let (stdout, _, _) = run(&["test", "-p", &path(dir.path())]);
    assert!(
        stdout.contains("group `sales`: selects no user"),
        "{stdout}"
    );
    assert!(stdout.ends_with("0 passed, 1 failed\n"), "{stdout}");
}

#[test]
fn the_first_ten_failing_users_are_shown_then_counted() {
    let dir = org_with_tests(
        "tests:\n  - name: everyone premium\n    users: all\n    expect: {seat: premium}\n",
    );
    let (report, _) = test_json(dir.path());
    let test = outcome(&report, "everyone premium");
    let failing = test["failing"].as_u64().unwrap_or_default();
    assert!(failing > 10, "{test:#}");
    assert_eq!(test["failures"].as_array().map(Vec::len), Some(10));
    assert_eq!(test["more_failing"].as_u64(), Some(failing - 10));
    let (stdout, _, _) = run(&["test", "-p", &path(dir.path())]);
    assert!(
        stdout.contains(&format!("… and {} more failing users", failing - 10)),
        "{stdout}"
    );
}

#[test]
fn human_report_of_failures() {
    let dir = org_with_tests(
        "tests:
  - name: sales may use Opus
    group: sales
    where: {status: active}
    expect: {models: {allowed: [claude-opus-4-1]}, capabilities: {exclude: [connectors]}}
  - name: hiro is on the books
    user: hiro.tanaka@acme.com
    expect: {role: member, limits: {tokens: {daily: {max: 1000000}}}}
",
    );
    let (stdout, _, code) = run(&["test", "-p", &path(dir.path())]);
    assert_eq!(code, 4);
    let stdout = stdout.replace(&path(dir.path()), "DIR");
    insta::assert_snapshot!(stdout);
}

#[test]
fn an_unknown_user_or_group_is_reported_on_its_line() {
    let dir = org_with_tests(
        "tests:
  - name: a typo
    user: hiro.tanak@acme.com
    expect: {role: member}
  - name: another
    group: engneering
    expect: {groups: [engineering, saless]}
",
    );
    let report = invalid(dir.path());
    let found: Vec<(String, u64, String, String)> = report["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_owned(),
                d["line"].as_u64().unwrap_or_default(),
                d["message"].as_str().unwrap_or_default().to_owned(),
                d["help"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let file = format!("{}/t.test.yaml", path(dir.path()));
    assert!(
        report["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|d| d["file"] == file.as_str()),
        "{report:#}"
    );
    assert_eq!(
        found,
        vec![
            (
                "unknown-reference".to_owned(),
                3,
                "user `hiro.tanak@acme.com` is not defined".to_owned(),
                "did you mean `hiro.tanaka@acme.com`?".to_owned()
            ),
            (
                "unknown-reference".to_owned(),
                6,
                "group `engneering` is not defined".to_owned(),
                "did you mean `engineering`?".to_owned()
            ),
            (
                "unknown-reference".to_owned(),
                7,
                "group `saless` is not defined".to_owned(),
                "did you mean `sales`?".to_owned()
            ),
        ]
    );
    // `orgplan test` refuses to run them: exit 3, the same diagnostics.
    let (_, stderr, code) = run(&["test", "-p", &path(dir.path())]);
    assert_eq!(code, 3);
    assert!(stderr.contains("error[unknown-reference]: user `hiro.tanak@acme.com` is not defined"));
    assert!(stderr.contains("t.test.yaml:3:11"), "{stderr}");
}

#[test]
fn schema_errors_in_a_test_file_are_located() {
    let dir = org_with_tests(
        "tests:
  - name: two selectors
    user: hiro.tanaka@acme.com
    group: sales
    expect: {role: member}
  - name: a bad value
    user: hiro.tanaka@acme.com
    expect: {seat: premum, limits: {spend_usd: {monthly: nope}}}
  - name: an unknown field
    user: hiro.tanaka@acme.com
    expct: {role: member}
",
    );
    let report = invalid(dir.path());
    let lines: Vec<(u64, String)> = report["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            assert_eq!(d["code"], "schema", "{d:#}");
            (
                d["line"].as_u64().unwrap_or_default(),
                d["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let on = |line: u64, text: &str| {
        lines
            .iter()
            .any(|(l, message)| *l == line && message.contains(text))
    };
    assert!(
        on(2, "exactly one of `user`, `group`, `users`"),
        "{lines:?}"
    );
    assert!(
        on(8, "`premum` is not a valid value for `seat`"),
        "{lines:?}"
    );
    assert!(on(8, "nope"), "{lines:?}");
    assert!(on(11, "unknown field `expct`"), "{lines:?}");
}

#[test]
fn test_files_are_not_policy() {
    // The example's test file would be an unknown `tests` field if it were read as policy.
    let (stdout, _, code) = run(&["validate"]);
    assert_eq!(code, 0, "{stdout}");
    let (stdout, _, code) = run(&["explain", "hiro.tanaka@acme.com", "--format", "json"]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn junit_is_valid_xml_with_a_case_per_test() {
    let dir = org_with_tests(KINDS);
    let (stdout, _, code) = run(&["test", "-p", &path(dir.path()), "--format", "junit"]);
    assert_eq!(code, 4);
    let document = roxmltree::Document::parse(&stdout).unwrap_or_else(|e| panic!("{e}"));
    let suites = document.root_element();
    assert_eq!(suites.tag_name().name(), "testsuites");
    assert_eq!(suites.attribute("tests"), Some("34"));
    let failures = kinds("fail").to_string();
    assert_eq!(suites.attribute("failures"), Some(failures.as_str()));
    let suite: Vec<_> = suites
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suite.len(), 1);
    let file = format!("{}/t.test.yaml", path(dir.path()));
    assert_eq!(suite[0].attribute("name"), Some(file.as_str()));
    let cases: Vec<_> = suite[0]
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 34);
    for case in &cases {
        assert_eq!(case.attribute("classname"), Some(file.as_str()));
        let name = case.attribute("name").unwrap_or_default();
        let failure = case.children().find(|n| n.has_tag_name("failure"));
        assert_eq!(failure.is_some(), name.starts_with("fail"), "{name}");
    }
    let failed = cases
        .iter()
        .find(|c| c.attribute("name") == Some("fail allowed"))
        .and_then(|c| c.children().find(|n| n.has_tag_name("failure")))
        .unwrap_or_else(|| panic!("no failure for `fail allowed`"));
    assert_eq!(
        failed.attribute("message"),
        Some("1 of 1 selected user fails")
    );
    let text = failed.text().unwrap_or_default();
    assert!(
        text.contains("role `ml-engineer` denies `claude-opus-4-2025????`"),
        "{text}"
    );
}

#[test]
fn junit_escapes_what_a_name_holds() {
    let dir = org_with_tests(
        "tests:\n  - name: \"<b> & \\\"quotes\\\" \\u0001 'fail'\"\n    user: hiro.tanaka@acme.com\n    expect: {role: admin}\n",
    );
    let out = dir.path().join("report.xml");
    let (_, _, code) = run(&[
        "test",
        "-p",
        &path(dir.path()),
        "--junit",
        &out.display().to_string(),
    ]);
    assert_eq!(code, 4);
    let xml = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}"));
    let document = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let case = document
        .descendants()
        .find(|n| n.has_tag_name("testcase"))
        .unwrap_or_else(|| panic!("no testcase"));
    assert_eq!(
        case.attribute("name"),
        Some("<b> & \"quotes\" \u{FFFD} 'fail'")
    );
}

#[test]
fn github_annotations_sit_on_the_failed_tests_name_lines() {
    let dir = org_with_tests(
        "tests:
  - name: fine
    user: hiro.tanaka@acme.com
    expect: {role: member}
  - name: not fine
    user: hiro.tanaka@acme.com
    expect: {role: admin}
",
    );
    let (stdout, _, code) = run(&["test", "-p", &path(dir.path()), "--format", "github"]);
    assert_eq!(code, 4);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let file = format!("{}/t.test.yaml", path(dir.path()));
    assert!(
        lines[0].starts_with(&format!(
            "::error file={file},line=5,title=orgplan test%3A not fine::test `not fine` failed: 1 of 1 selected user fails%0A"
        )),
        "{stdout}"
    );
    assert!(lines[0].contains("expected: admin%0A"), "{stdout}");
    assert_eq!(lines[1], "1 passed, 1 failed");
}

#[test]
fn exit_codes() {
    // 0: the example passes; 4: a test failed (checked above); 3: invalid test file.
    let dir = org_with_tests("tests:\n  - name: x\n    users: some\n    expect: {}\n");
    let (_, _, code) = run(&["test", "-p", &path(dir.path())]);
    assert_eq!(code, 3);
    let (_, _, code) = run(&["validate", "-p", &path(dir.path())]);
    assert_eq!(code, 3);
    // 3 as well when the policy itself is invalid.
    let broken = org_with_tests("tests:\n  - {name: x, users: all, expect: {}}\n");
    std::fs::write(
        broken.path().join("z.yaml"),
        "users: {x@acme.com: {seat: gold}}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (_, stderr, code) = run(&["test", "-p", &path(broken.path())]);
    assert_eq!(code, 3, "{stderr}");
    // 1: nothing to run, or no folder at all.
    let empty = org_with_tests("");
    std::fs::remove_file(empty.path().join("t.test.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let (_, stderr, code) = run(&["test", "-p", &path(empty.path())]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no test files"), "{stderr}");
    let (_, _, code) = run(&["test", "-p", "no/such/folder"]);
    assert_eq!(code, 1);
}

#[test]
fn committed_test_schema_matches_the_generated_one() {
    let committed = std::fs::read_to_string(root().join("schema/orgplan-test.schema.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (generated, _, code) = run(&["schema", "--test"]);
    assert_eq!(code, 0);
    assert!(
        committed == generated,
        "schema/orgplan-test.schema.json is stale: run \
         `cargo run -- schema --test > schema/orgplan-test.schema.json`"
    );
}

#[test]
fn every_test_schema_property_is_described_and_objects_are_closed() {
    let schema = orgplan::policytest::model::json_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let mut stack = vec![(String::new(), &schema)];
    while let Some((at, node)) = stack.pop() {
        if let Some(properties) = node.get("properties").and_then(Value::as_object) {
            assert_eq!(
                node.get("additionalProperties"),
                Some(&Value::Bool(false)),
                "{at} accepts unknown fields"
            );
            for (name, property) in properties {
                assert!(
                    property["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{at}/properties/{name} has no description"
                );
            }
        }
        match node {
            Value::Object(map) => {
                stack.extend(map.iter().map(|(k, v)| (format!("{at}/{k}"), v)));
            }
            Value::Array(items) => {
                stack.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("{at}/{i}"), v)),
                );
            }
            _ => {}
        }
    }
}

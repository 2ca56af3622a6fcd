//! `orgplan explain`: effective permissions of the example org's users, `--model`
//! answers and their exit codes, unknown users and invalid policies.

use crate::common::{fixture, run};

/// Users of `policies/` that between them cover every path: a role through a group's
/// `members`, a per-user override, two groups and two roles, org defaults only, a
/// suspended user, an external contractor.
const USERS: [&str; 6] = [
    "bob.martin@acme.com",
    "carol.chen@acme.com",
    "hiro.tanaka@acme.com",
    "sofia.rossi@acme.com",
    "noah.williams@acme.com",
    "jordan.lee@northwind-consulting.com",
];

#[test]
fn explain_human() {
    for email in USERS {
        let (stdout, stderr, code) = run(&["explain", email]);
        assert_eq!(code, 0, "{stderr}");
        insta::assert_snapshot!(format!("human-{email}"), stdout);
    }
}

#[test]
fn explain_json() {
    for email in USERS {
        let (stdout, stderr, code) = run(&["explain", email, "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        let value: serde_json::Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        insta::assert_json_snapshot!(format!("json-{email}"), value);
    }
}

#[test]
fn json_has_exactly_the_spec_keys() {
    let (stdout, _, _) = run(&["explain", "bob.martin@acme.com", "--format", "json"]);
    let value: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let keys: Vec<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "email",
            "role",
            "seat",
            "status",
            "groups",
            "roles",
            "capabilities",
            "models",
            "limits"
        ]
    );
}

#[test]
fn email_is_matched_case_insensitively() {
    let (stdout, _, code) = run(&["explain", "Bob.Martin@ACME.com"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("bob.martin@acme.com\n"), "{stdout}");
}

#[test]
fn model_allowed_exits_0() {
    let (stdout, _, code) = run(&[
        "explain",
        "bob.martin@acme.com",
        "--model",
        "claude-opus-4-1",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "allowed: role `ml-engineer` allows `claude-opus-4*` (policies/roles.yaml:10)\n"
    );
}

#[test]
fn model_denied_by_role_exits_2() {
    let (stdout, _, code) = run(&[
        "explain",
        "bob.martin@acme.com",
        "--model",
        "claude-opus-4-20250514",
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        stdout,
        "denied: role `ml-engineer` denies `claude-opus-4-2025????` (policies/roles.yaml:11)\n"
    );
}

#[test]
fn model_denied_by_org_exits_2() {
    let (stdout, _, code) = run(&[
        "explain",
        "sofia.rossi@acme.com",
        "--model",
        "claude-sonnet-4-6-preview",
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        stdout,
        "denied: org.models denies `claude-*-preview` (policies/org.yaml:22)\n"
    );
}

#[test]
fn model_answer_in_json() {
    for (model, allowed, code) in [
        ("claude-sonnet-4-5", true, 0),
        ("claude-opus-4-1", false, 2),
    ] {
        let (stdout, _, exit) = run(&[
            "explain",
            "sofia.rossi@acme.com",
            "--format",
            "json",
            "--model",
            model,
        ]);
        assert_eq!(exit, code, "{stdout}");
        let value: serde_json::Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        let answer = &value["model"];
        assert_eq!(answer["name"], model);
        assert_eq!(answer["allowed"], allowed);
        assert!(answer["rule"].is_string(), "{answer}");
        if allowed {
            assert_eq!(answer["source"], "policies/org.yaml:27");
        }
    }
}

#[test]
fn unknown_email_exits_1_with_a_suggestion() {
    let (stdout, stderr, code) = run(&["explain", "bob.martn@acme.com"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("no user `bob.martn@acme.com`"), "{stderr}");
    assert!(
        stderr.contains("did you mean `bob.martin@acme.com`?"),
        "{stderr}"
    );
}

#[test]
fn invalid_policy_exits_3_with_diagnostics() {
    let folder = fixture("diagnostics/schema");
    let (stdout, stderr, code) = run(&["explain", "user01@example.com", "-p", &folder]);
    assert_eq!(code, 3);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("error[schema]"), "{stderr}");
}

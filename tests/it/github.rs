//! `--format github`: annotations for pull requests, on the lines that caused them.

use crate::common::{fixture, run};

#[test]
fn drift_plan_as_github_annotations() {
    let live = format!("file:{}", fixture("drift/live.json"));
    let (stdout, _, code) = run(&[
        "plan",
        "-p",
        &fixture("drift/policies"),
        "--live",
        &live,
        "--format",
        "github",
        "--detailed-exitcode",
    ]);
    assert_eq!(code, 2);
    // Every line is a workflow command; warnings of the policy come first.
    assert!(stdout.lines().all(|l| l.starts_with("::")), "{stdout}");
    assert!(stdout.starts_with("::warning file=tests/fixtures/drift/policies/users.yaml,line=2,col=41,title=too-many-admins::"));
    insta::assert_snapshot!("drift-github", stdout);
}

#[test]
fn a_safety_refusal_is_an_error_on_the_rule_that_refused() {
    let folder = fixture("safety/min-admins");
    let live = format!("file:{folder}/live.json");
    let (stdout, stderr, code) = run(&[
        "plan",
        "-p",
        &format!("{folder}/policies"),
        "--live",
        &live,
        "--format",
        "github",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stdout.starts_with(
            "::error file=tests/fixtures/safety/min-admins/policies/org.yaml,line=9,title=safety.min_admins::"
        ),
        "{stdout}"
    );
    assert!(stderr.contains("plan refused by 1 safety rule"), "{stderr}");
}

#[test]
fn an_invalid_policy_is_annotated_too() {
    let (stdout, _, code) = run(&[
        "plan",
        "-p",
        &fixture("diagnostics/unknown-reference"),
        "--format",
        "github",
    ]);
    assert_eq!(code, 3);
    assert!(stdout.starts_with("::error file=tests/fixtures/diagnostics/unknown-reference/users.yaml,line=5,col=49,title=unknown-reference::"), "{stdout}");
}

//! `orgplan plan`: the drift plan in every format, safety refusals, exit codes, live files.

use std::path::Path;

use crate::common::{Run, fixture, run};

fn drift(format: &str) -> (String, String, i32) {
    let policies = fixture("drift/policies");
    let live = format!("file:{}", fixture("drift/live.json"));
    run(&["plan", "-p", &policies, "--live", &live, "--format", format])
}

#[test]
fn drift_plan_human() {
    let (stdout, stderr, code) = drift("human");
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout);
}

#[test]
fn drift_plan_markdown() {
    let (stdout, stderr, code) = drift("markdown");
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout);
}

#[test]
fn drift_plan_json_has_every_op_kind_in_execution_order() {
    let (stdout, stderr, code) = drift("json");
    assert_eq!(code, 0, "{stderr}");
    let plan: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let ops: Vec<&str> = plan["operations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["op"].as_str())
        .collect();
    let mut kinds = ops.clone();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "org.update",
            "role.create",
            "role.update",
            "group.create",
            "group.update",
            "user.invite",
            "user.update",
            "user.reactivate",
            "group.add_member",
            "group.remove_member",
            "user.suspend",
            "user.remove",
            "group.delete",
            "role.delete",
        ]
    );
    insta::assert_snapshot!(stdout);
}

#[test]
fn plans_are_deterministic() {
    for format in ["human", "json", "markdown"] {
        assert_eq!(drift(format), drift(format), "{format}");
    }
}

#[test]
fn detailed_exitcode_is_2_with_changes() {
    let policies = fixture("drift/policies");
    let live = format!("file:{}", fixture("drift/live.json"));
    let (_, _, code) = run(&[
        "plan",
        "-p",
        &policies,
        "--live",
        &live,
        "--detailed-exitcode",
    ]);
    assert_eq!(code, 2);
}

/// Write the live state that the example policies ask for, as a provider would read it.
fn in_sync_live(dir: &Path) -> String {
    let checked =
        orgplan::validate::check_dir(Path::new("policies")).unwrap_or_else(|e| panic!("{e}"));
    let policy = checked
        .policy
        .unwrap_or_else(|| panic!("example org invalid"));
    let state = orgplan::live::project(&policy);
    let path = dir.join("live.json");
    let text = serde_json::to_string_pretty(&state).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&path, text).expect("write a file");
    format!("file:{}", path.display())
}

#[test]
fn an_org_in_sync_has_no_changes_and_exits_0() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    // Tests run from the crate root (cargo's default for integration tests).
    let live = in_sync_live(dir.path());
    let (stdout, stderr, code) = run(&["plan", "--live", &live, "--detailed-exitcode"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.ends_with("No changes. The live org matches the policy.\n"),
        "{stdout}"
    );
}

#[test]
fn a_missing_live_file_is_a_new_org_created_whole() {
    let (stdout, stderr, code) = run(&[
        "plan",
        "--live",
        "file:/nonexistent/orgplan/live.json",
        "--detailed-exitcode",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "note: `/nonexistent/orgplan/live.json` does not exist: planning against an empty new org"
        ),
        "{stderr}"
    );
    assert!(
        stdout.contains("~ org.update org  (policies/org.yaml:7)"),
        "{stdout}"
    );
    assert!(stdout.contains("+ user.invite ceo@acme.com"), "{stdout}");
    assert!(
        stdout.contains("  premium: 0 -> 9 (of 10 purchased)"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("Plan: 49 to add, 1 to change, 0 to remove, 0 manual.\n"),
        "{stdout}"
    );
}

#[test]
fn the_default_live_uri_is_dot_orgplan_live_json() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let policies = crate::common::root().join("policies");
    let (stdout, _, code) = crate::common::orgplan()
        .current_dir(dir.path())
        .args(["plan", "-p"])
        .arg(&policies)
        .run();
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("Live: file:.orgplan/live.json\n"),
        "{stdout}"
    );
    assert!(stdout.contains("+ role.create ml-engineer"), "{stdout}");
}

#[test]
fn out_writes_the_json_plan_and_prints_the_chosen_format() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let saved = dir.path().join("plan.json");
    let policies = fixture("drift/policies");
    let live = format!("file:{}", fixture("drift/live.json"));
    let saved_arg = saved.display().to_string();
    let (stdout, _, code) = run(&["plan", "-p", &policies, "--live", &live, "-o", &saved_arg]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Plan: "), "{stdout}");
    let text = std::fs::read_to_string(&saved).expect("read a file");
    assert_eq!(text, drift("json").0);
}

fn live_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("live.json");
    std::fs::write(&path, text).expect("write a file");
    let uri = format!("file:{}", path.display());
    (dir, uri)
}

#[test]
fn bad_live_files_fail_with_a_clear_message() {
    for (text, expected) in [
        (
            r#"{"format_version": 1, "users": {"a@acme.com": {"#,
            "is truncated",
        ),
        ("this is not json", "is not valid JSON"),
        (
            r#"{"format_version": 2}"#,
            "has `format_version: 2`; this orgplan reads `format_version: 1`",
        ),
        (
            r#"{"format_version": 1, "users": {"a@acme.com": {"seat": "gold"}}}"#,
            "at `users.a@acme.com.seat`",
        ),
    ] {
        let (_dir, uri) = live_file(text);
        let (stdout, stderr, code) = run(&["plan", "--live", &uri]);
        assert_eq!(code, 1, "{text}: {stdout}{stderr}");
        assert!(stderr.contains(expected), "{text}: {stderr}");
        assert!(stderr.contains("live.json"), "{stderr}");
        assert_eq!(stdout, "");
    }
}

#[test]
fn unknown_live_uris_are_refused() {
    let (_, stderr, code) = run(&["plan", "--live", "ftp://x"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("unknown live URI"), "{stderr}");
}

#[test]
fn an_invalid_policy_exits_3_with_diagnostics_on_stderr() {
    let policies = fixture("diagnostics/unknown-reference");
    let (stdout, stderr, code) = run(&[
        "plan",
        "-p",
        &policies,
        "--live",
        "file:/nonexistent/x.json",
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("error[unknown-reference]"), "{stderr}");
    assert_eq!(stdout, "");
}

fn refused(rule: &str, expected: &[&str]) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let saved = dir.path().join("plan.json");
    let policies = fixture(&format!("safety/{rule}/policies"));
    let live = format!("file:{}", fixture(&format!("safety/{rule}/live.json")));
    let saved_arg = saved.display().to_string();
    let (stdout, stderr, code) = run(&["plan", "-p", &policies, "--live", &live, "-o", &saved_arg]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("plan refused by 1 safety rule, nothing written"),
        "{stderr}"
    );
    for text in expected {
        assert!(stderr.contains(text), "{text}: {stderr}");
    }
    assert!(stderr.contains("to proceed: "), "{stderr}");
    assert_eq!(stdout, "");
    assert!(!saved.exists(), "-o wrote a refused plan");
}

#[test]
fn safety_refuses_demoting_a_protected_user() {
    refused(
        "protected",
        &[
            "safety.protected",
            "demote `kim@safe.io` (a protected user)",
        ],
    );
}

#[test]
fn safety_refuses_too_many_removals() {
    refused(
        "max-removals",
        &[
            "safety.max_removals",
            "`old1@safe.io`, `old2@safe.io`",
            "--allow-removals 2",
        ],
    );
}

#[test]
fn allow_removals_lets_the_plan_through() {
    let policies = fixture("safety/max-removals/policies");
    let live = format!("file:{}", fixture("safety/max-removals/live.json"));
    let (stdout, stderr, code) = run(&[
        "plan",
        "-p",
        &policies,
        "--live",
        &live,
        "--allow-removals",
        "2",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("- user.remove old2@safe.io"), "{stdout}");
}

#[test]
fn safety_refuses_too_few_admins() {
    refused(
        "min-admins",
        &[
            "safety.min_admins",
            "leave 1 owners and admins (`ceo@safe.io`)",
        ],
    );
}

#[test]
fn safety_refuses_more_seats_than_purchased() {
    refused(
        "seats",
        &[
            "org.seats",
            "3 standard seats in use, 2 purchased",
            "`extra@safe.io`",
        ],
    );
}

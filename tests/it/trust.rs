//! Regression tests for the ways a plan or a permission could come out wrong: primary
//! ownership, one person with two spellings, empty lists, names as written, duplicates,
//! and the smaller traps an attacker or a careless admin sets.

#![allow(
    clippy::expect_used,
    reason = "a test fails by panicking with what it expected"
)]

use std::path::Path;

use crate::common::{Printed, Run, edit_plan_to_remove, orgplan, run};

const ORG: &str = "org:
  name: Safe Corp
  plan: enterprise
  domains: [safe.io]
  seats: {standard: 10, premium: 2}
  capabilities: [chat, api]
  defaults: {capabilities: [chat], models: {allow: [\"claude-*\"]}}
  unmanaged_users: keep
";

/// A policy folder with `files` (name, text), and the `file:` URI of a live state with
/// `live` (the JSON of its `users`), when one is given.
fn org(files: &[(&str, &str)], live: Option<&str>) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let policies = dir.path().join("p");
    std::fs::create_dir(&policies).expect("policy folder");
    for (name, text) in files {
        std::fs::write(policies.join(name), text).expect("policy file");
    }
    let live_path = dir.path().join("live.json");
    if let Some(users) = live {
        let state = format!(r#"{{"format_version": 1, "users": {users}}}"#);
        std::fs::write(&live_path, state).expect("live file");
    }
    let uri = format!("file:{}", live_path.display());
    (dir, policies.display().to_string(), uri)
}

fn plan(policies: &str, uri: &str) -> Printed {
    run(&["plan", "-p", policies, "--live", uri, "--detailed-exitcode"])
}

/// A policy folder of `org.yaml` and `users.yaml`, and no live state.
fn policy(org_text: &str, users: &str) -> (tempfile::TempDir, String) {
    let (dir, policies, _) = org(&[("org.yaml", org_text), ("users.yaml", users)], None);
    (dir, policies)
}

/// [`plan`] of a policy of `org.yaml` and `users.yaml` against a live state whose users
/// are `live`.
fn plan_of(org_text: &str, users: &str, live: &str) -> Printed {
    let (_dir, policies, uri) = org(&[("org.yaml", org_text), ("users.yaml", users)], Some(live));
    plan(&policies, &uri)
}

/// `explain ceo@safe.io -p policies` with `more` arguments.
fn explain_ceo(policies: &str, more: &[&str]) -> Printed {
    orgplan()
        .args(["explain", "ceo@safe.io", "-p", policies])
        .args(more)
        .run()
}

/// `explain ceo@safe.io -p policies --format json` as JSON, and its exit code.
fn explain_ceo_json(policies: &str) -> (serde_json::Value, i32) {
    let (stdout, _, code) = explain_ceo(policies, &["--format", "json"]);
    let value = serde_json::from_str(&stdout).expect("explain json");
    (value, code)
}

/// `validate -p policies --format json`: (code, message) of each diagnostic, the output
/// and the exit code.
fn diagnostics(policies: &str) -> (Vec<(String, String)>, String, i32) {
    let (stdout, _, code) = run(&["validate", "-p", policies, "--format", "json"]);
    let found: serde_json::Value = serde_json::from_str(&stdout).expect("json diagnostics");
    let codes = found["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| {
            Some((
                d["code"].as_str()?.to_owned(),
                d["message"].as_str()?.to_owned(),
            ))
        })
        .collect();
    (codes, stdout, code)
}

const LIVE_CEO: &str = r#"{
  "ceo@safe.io": {"id": "u1", "name": "Cee", "role": "primary_owner", "seat": "standard", "status": "active"},
  "kim@safe.io": {"id": "u2", "name": "Kim", "role": "admin", "seat": "standard", "status": "active"},
  "lee@safe.io": {"id": "u3", "name": "Lee", "role": "member", "seat": "standard", "status": "active"}
}"#;

#[test]
fn primary_ownership_never_changes_hands_through_an_invite() {
    // The live primary owner is left out of the policy (kept unmanaged); another user is
    // declared primary owner: an invite that would leave two.
    let users = "users:
  kim@safe.io: {name: Kim, role: admin}
  lee@safe.io: {name: Lee}
  new@safe.io: {name: New, role: primary_owner}
";
    let (stdout, stderr, code) = plan_of(ORG, users, LIVE_CEO);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("safety.protected"), "{stderr}");
    assert!(
        stderr.contains("make `new@safe.io` primary owner while `ceo@safe.io` is"),
        "{stderr}"
    );
    assert_eq!(stdout, "");
}

#[test]
fn primary_ownership_never_changes_hands_through_a_promotion() {
    let users = "users:
  kim@safe.io: {name: Kim, role: admin}
  lee@safe.io: {name: Lee, role: primary_owner}
";
    let (stdout, stderr, code) = plan_of(ORG, users, LIVE_CEO);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("make `lee@safe.io` primary owner while `ceo@safe.io` is"),
        "{stderr}"
    );
    // Declaring the live primary owner as such is no change of hands.
    let users = "users:
  ceo@safe.io: {name: Cee, role: primary_owner}
  kim@safe.io: {name: Kim, role: admin}
  lee@safe.io: {name: Lee}
";
    let (stdout, stderr, code) = plan_of(ORG, users, LIVE_CEO);
    // Only the org settings (absent from this live file) change.
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(!stdout.contains("user."), "{stdout}");
}

#[test]
fn one_person_with_two_spellings_is_one_user() {
    // The live state holds the protected admin's address decomposed (`e` + U+0301, as
    // macOS and some identity providers write it), the policy composed (`é`), in capitals.
    let live = r#"{
  "ceo@safe.io": {"id": "u1", "name": "Cee", "role": "primary_owner", "seat": "standard", "status": "active"},
  "rene\u0301@safe.io": {"id": "u2", "name": "René", "role": "admin", "seat": "standard", "status": "active"}
}"#;
    let org_text = ORG.replace(
        "unmanaged_users: keep",
        "unmanaged_users: remove\n  safety: {protected: [\"René@safe.io\"], min_admins: 2}",
    );
    let users = "users:
  ceo@safe.io: {name: Cee, role: primary_owner}
  \"Ren\\u00E9@safe.io\": {name: René, role: admin}
";
    let (stdout, stderr, code) = plan_of(&org_text, users, live);
    // Only the org settings (absent from this live file) change: no invite, no removal.
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(!stdout.contains("user."), "{stdout}");
    // Demoting them is refused: the protection sees one person.
    let demoted = users.replace("role: admin", "role: member");
    let (_, stderr, code) = plan_of(&org_text, &demoted, live);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("(a protected user)"), "{stderr}");
}

#[test]
fn invisible_and_control_characters_make_an_email_invalid() {
    for (escaped, what) in [
        (r"a\u200Bb@safe.io", "zero-width space"),
        (r"a\u00ADb@safe.io", "soft hyphen"),
        (r"a\u202Eb@safe.io", "bidi override"),
        (r"a\0b@safe.io", "NUL"),
        (r"a\ab@safe.io", "BEL"),
    ] {
        let users = format!(
            "users:\n  ceo@safe.io: {{name: Cee, role: primary_owner}}\n  \"{escaped}\": {{name: X}}\n"
        );
        let (_dir, policies) = policy(ORG, &users);
        let (codes, stdout, code) = diagnostics(&policies);
        assert_eq!(code, 3, "{what}: {stdout}");
        assert!(
            codes.iter().any(|(code, _)| code == "invalid-email"),
            "{what}: {stdout}"
        );
        // No raw control character reaches a terminal.
        let (_, human, _) = run(&["validate", "-p", &policies]);
        assert!(
            !human.contains(['\u{0}', '\u{7}']),
            "{what}: raw control character printed"
        );
    }
}

#[test]
fn an_empty_org_models_allow_allows_no_model() {
    let org_text = ORG.replace("  defaults:", "  models: {allow: []}\n  defaults:");
    let users = "users:\n  ceo@safe.io: {name: Cee, role: primary_owner}\n";
    let (_dir, policies) = policy(&org_text, users);
    let (stdout, stderr, code) = explain_ceo(&policies, &["--model", "claude-sonnet-4"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.contains("org.models.allow is empty"), "{stdout}");
    // The JSON shows the org filter, so it agrees with --model.
    let (value, _) = explain_ceo_json(&policies);
    assert_eq!(value["models"]["org_allow"], serde_json::json!([]));
    // Without `allow`, the org filter lets every model through.
    let org_text = ORG.replace(
        "  defaults:",
        "  models: {deny: [\"claude-*-preview\"]}\n  defaults:",
    );
    let (_dir, policies) = policy(&org_text, users);
    let (_, _, code) = explain_ceo(&policies, &["--model", "claude-sonnet-4"]);
    assert_eq!(code, 0);
}

#[test]
fn explain_json_shows_every_model_pattern_in_force_with_its_source() {
    let org_text = ORG.replace(
        "  defaults:",
        "  models: {allow: [\"claude-*\"], deny: [\"claude-*-preview\"]}\n  defaults:",
    );
    let users = "users:\n  ceo@safe.io: {name: Cee, role: primary_owner}\n";
    let (_dir, policies) = policy(&org_text, users);
    let (value, code) = explain_ceo_json(&policies);
    assert_eq!(code, 0);
    let models = &value["models"];
    assert_eq!(models["org_allow"], serde_json::json!(["claude-*"]));
    let rules = models["rules"].as_array().expect("rules");
    let org_allow = rules
        .iter()
        .find(|r| r["kind"] == "org_allow")
        .expect("the org filter is listed");
    assert_eq!(org_allow["pattern"], "claude-*");
    assert!(
        org_allow["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("org.yaml:7")),
        "{org_allow}"
    );
    assert!(rules.iter().any(|r| r["kind"] == "org_deny"), "{rules:?}");
}

#[test]
fn numeric_looking_keys_are_names_exactly_as_written() {
    let groups = "groups:
  007: {members: [ceo@safe.io], limits: {spend_usd: {monthly: 5}}}
  1.10: {members: [ceo@safe.io], limits: {spend_usd: {monthly: 6}}}
users:
  ceo@safe.io: {name: Cee, role: primary_owner}
";
    let (_dir, policies) = policy(ORG, groups);
    let (value, code) = explain_ceo_json(&policies);
    assert_eq!(code, 0, "{value}");
    assert_eq!(value["groups"], serde_json::json!(["007", "1.10"]));
}

#[test]
fn a_duplicate_points_at_the_first_definition_in_file_order_and_hides_no_error() {
    let users = "users:
  ceo@safe.io: {name: Cee, role: member}
  kim@safe.io: {name: Kim, role: admin}
  CEO@safe.io: {name: Cee, role: primary_owner, groups: [nope]}
";
    let (_dir, policies) = policy(ORG, users);
    let (stdout, stderr, code) = run(&["validate", "-p", &policies]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    // `CEO@` sorts before `ceo@`, but `ceo@` is written first.
    assert!(all.contains("user `CEO@safe.io` is defined twice"), "{all}");
    assert!(all.contains("users.yaml:2:3 as `ceo@safe.io`"), "{all}");
    // The duplicate's own error is reported now, and its `primary_owner` does not turn into
    // a false "no primary owner".
    assert!(all.contains("group `nope` is not defined"), "{all}");
    assert!(!all.contains("primary-owner-count"), "{all}");
}

#[test]
fn a_duplicate_is_checked_with_its_own_groups_and_those_that_list_the_user() {
    // Kim's dropped definition joins `eng` itself, Lee's through the group's `members`:
    // either would grant the API with no limit, and each warning points at the duplicate.
    // Mia's is in no group: the groups of the definition kept are not lent to it.
    let users = "roles:
  dev: {capabilities: [api]}
groups:
  eng: {roles: [dev], members: [lee@safe.io]}
  ops: {roles: [dev]}
users:
  ceo@safe.io: {name: Cee, role: primary_owner}
  kim@safe.io: {name: Kim, role: admin}
  KIM@safe.io: {name: Kim, groups: [eng]}
  lee@safe.io: {name: Lee, limits: {spend_usd: {monthly: 40}}}
  LEE@safe.io: {name: Lee}
  mia@safe.io: {name: Mia, groups: [ops, eng], limits: {spend_usd: {monthly: 40}}}
  MIA@safe.io: {name: Mia}
";
    let (_dir, policies) = policy(ORG, users);
    let (codes, stdout, code) = diagnostics(&policies);
    assert_eq!(code, 3, "{stdout}");
    let found: serde_json::Value = serde_json::from_str(&stdout).expect("json diagnostics");
    let lines: Vec<(String, u64)> = found["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["code"] == "no-spend-limit")
        .map(|d| {
            let message = d["message"].as_str().unwrap_or_default().to_owned();
            (message, d["line"].as_u64().unwrap_or_default())
        })
        .collect();
    let expected = |email: &str, line: u64| {
        let message =
            format!("`{email}` has API or Claude Code access and no spend or token limit");
        (message, line)
    };
    assert_eq!(
        lines,
        [expected("kim@safe.io", 9), expected("lee@safe.io", 11)],
        "{codes:?}"
    );
}

#[test]
fn two_org_blocks_and_a_protected_non_email_have_the_documented_codes() {
    let protected = ORG.replace(
        "unmanaged_users: keep",
        "unmanaged_users: keep\n  safety: {protected: [not-an-email]}",
    );
    let users = "org: {name: Second, plan: team}\nusers:\n  ceo@safe.io: {name: Cee, role: primary_owner}\n";
    let (_dir, policies) = policy(&protected, users);
    let (codes, _, code) = diagnostics(&policies);
    assert_eq!(code, 3);
    let has = |code: &str, message: &str| codes.iter().any(|c| c.0 == code && c.1 == message);
    assert!(
        has("duplicate-definition", "`org` is defined twice"),
        "{codes:?}"
    );
    assert!(
        has("invalid-email", "`not-an-email` is not an email address"),
        "{codes:?}"
    );
}

#[test]
fn the_access_changes_table_says_a_suspension() {
    let users = "users:
  ceo@safe.io: {name: Cee, role: primary_owner}
  kim@safe.io: {name: Kim, role: admin}
  lee@safe.io: {name: Lee, status: suspended, limits: {spend_usd: {monthly: 40}}}
";
    let live = r#"{
  "ceo@safe.io": {"id": "u1", "name": "Cee", "role": "primary_owner", "seat": "standard", "status": "active"},
  "kim@safe.io": {"id": "u2", "name": "Kim", "role": "admin", "seat": "standard", "status": "active"},
  "lee@safe.io": {"id": "u3", "name": "Lee", "role": "member", "seat": "standard", "status": "active", "limits": {"spend_usd": {"monthly": 40}}}
}"#;
    let (_dir, policies, uri) = org(&[("org.yaml", ORG), ("users.yaml", users)], Some(live));
    let (stdout, stderr, code) = run(&[
        "plan",
        "-p",
        &policies,
        "--live",
        &uri,
        "--format",
        "markdown",
        "--allow-removals",
        "1",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| `lee@safe.io` |"))
        .unwrap_or_else(|| panic!("no access row for lee: {stdout}"));
    assert!(row.contains("account suspended: loses all access"), "{row}");
    assert!(!row.contains("no limit now"), "{row}");
}

#[test]
fn a_hand_edited_plan_is_refused_for_its_operations_not_the_policy() {
    let users = "users:
  ceo@safe.io: {name: Cee, role: primary_owner}
  kim@safe.io: {name: Kim, role: admin}
  lee@safe.io: {name: Lee B}
";
    let (dir, policies, uri) = org(&[("org.yaml", ORG), ("users.yaml", users)], Some(LIVE_CEO));
    let saved = dir.path().join("plan.json");
    let saved_arg = saved.display().to_string();
    let (_, stderr, code) = run(&["plan", "-p", &policies, "--live", &uri, "-o", &saved_arg]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&saved).expect("saved plan");
    assert!(text.contains("Lee B"), "{text}");
    std::fs::write(&saved, text.replace("Lee B", "Lee Bad")).expect("edit");
    let (stdout, stderr, code) = run(&["apply", &saved_arg, "-p", &policies, "--live", &uri]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "the plan file's operations differ from what the policy and the live org give now"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("the policy differs"), "{stderr}");
    // `file:./x` names the same file as `file:x`.
    let (_, stderr, code) = run(&["plan", "-p", &policies, "--live", &uri, "-o", &saved_arg]);
    assert_eq!(code, 0, "{stderr}");
    let live_path = uri.trim_start_matches("file:");
    let (parent, name) = (
        Path::new(live_path).parent().expect("parent"),
        Path::new(live_path).file_name().expect("name"),
    );
    let dotted = format!("file:./{}", name.to_string_lossy());
    let saved_abs = saved.display().to_string();
    let policies_abs = std::fs::canonicalize(&policies)
        .expect("policies")
        .display()
        .to_string();
    let (_, stderr, _) = orgplan()
        .current_dir(parent)
        .args(["apply", &saved_abs, "-p", &policies_abs, "--live", &dotted])
        .run();
    assert!(!stderr.contains("the plan was made against"), "{stderr}");
}

#[test]
fn a_drift_job_passes_when_the_org_already_has_too_few_admins_and_nothing_changes() {
    let org_text = ORG.replace(
        "unmanaged_users: keep",
        "unmanaged_users: keep\n  safety: {min_admins: 3}",
    );
    let users = "users:
  ceo@safe.io: {name: Cee, role: primary_owner}
  kim@safe.io: {name: Kim, role: admin}
  lee@safe.io: {name: Lee}
";
    // The org is in sync (applied with `min_admins: 1`), then the rule is raised to 3.
    let (_dir, policies, uri) = org(&[("users.yaml", users)], None);
    let org_file = Path::new(&policies).join("org.yaml");
    std::fs::write(
        &org_file,
        org_text.replace("min_admins: 3", "min_admins: 1"),
    )
    .expect("org");
    let (stdout, stderr, code) = run(&["apply", "-p", &policies, "--live", &uri, "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    std::fs::write(&org_file, &org_text).expect("org");
    let (stdout, stderr, code) = plan(&policies, &uri);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("No changes."), "{stdout}");
    // A plan that takes one more admin away is still refused.
    let demoted = users.replace("role: admin", "role: member");
    let (_, stderr, code) = plan_of(&org_text, &demoted, LIVE_CEO);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("safety.min_admins"), "{stderr}");
}

#[test]
fn small_traps_in_policy_files() {
    let users = "users:\n  ceo@safe.io: {name: Cee, role: primary_owner}\n";
    // A limit above 2^53 is refused, not rounded.
    let big = ORG.replace(
        "  unmanaged_users: keep",
        "  caps: {spend_usd: {monthly: 9007199254740993}}\n  unmanaged_users: keep",
    );
    let (_dir, policies) = policy(&big, users);
    let (stdout, stderr, code) = run(&["validate", "-p", &policies]);
    let stderr = format!("{stdout}{stderr}");
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("9007199254740993"), "{stderr}");
    assert!(stderr.contains("maximum"), "{stderr}");
    // `.YAML` files are policy files too; `version: 1.0` is version 1; a file of `---`
    // alone declares nothing, like an empty one.
    let (_dir, policies, _) = org(
        &[
            ("org.yaml", &format!("version: 1.0\n{ORG}")),
            ("Users.YAML", users),
            ("empty.yaml", "---\n"),
        ],
        None,
    );
    let (stdout, stderr, code) = run(&["validate", "-p", &policies]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("1 user,") || stdout.contains("1 user,"),
        "{stdout}{stderr}"
    );
    // Empty names are refused.
    let empty = format!("{ORG}groups:\n  \"\": {{members: [ceo@safe.io]}}\n");
    let (_dir, policies) = policy(&empty, users);
    let (stdout, stderr, code) = run(&["validate", "-p", &policies]);
    let stderr = format!("{stdout}{stderr}");
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("a name in `groups` is empty"), "{stderr}");
    // A model pattern written in capitals still denies.
    let upper = ORG.replace(
        "models: {allow: [\"claude-*\"]}",
        "models: {allow: [\"claude-*\"], deny: [\"Claude-Opus-*\"]}",
    );
    let (_dir, policies) = policy(&upper, users);
    let (_, _, code) = explain_ceo(&policies, &["--model", "claude-opus-4"]);
    assert_eq!(code, 2);
}

#[test]
fn carets_line_up_after_tabs_and_wide_characters_and_utf16_is_named() {
    let users = "users:\n  ceo@safe.io: {name: 日本語, role: bogus}\n";
    let (_dir, policies) = policy(ORG, users);
    let (stderr, _, _) = run(&["validate", "-p", &policies]);
    let lines: Vec<&str> = stderr.lines().collect();
    let source = lines
        .iter()
        .position(|l| l.contains("role: bogus"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let caret_line = lines[source + 1];
    let caret_at = caret_line.find('^').expect("caret");
    // Display columns: each of the three wide characters takes two.
    let before = &lines[source][..lines[source].find("bogus").expect("bogus")];
    let width: usize = before
        .chars()
        .map(|c| if c > '\u{2E80}' { 2 } else { 1 })
        .sum();
    assert_eq!(caret_at, width, "{stderr}");
    assert_eq!(caret_line.matches('^').count(), "bogus".len(), "{stderr}");

    let utf16: Vec<u8> = std::iter::once([0xFF, 0xFE])
        .chain("org: {name: X}\n".encode_utf16().map(u16::to_le_bytes))
        .flatten()
        .collect();
    let dir = tempfile::tempdir().expect("temp");
    std::fs::write(dir.path().join("org.yaml"), utf16).expect("write");
    let (stdout, stderr, code) = run(&["validate", "-p", &dir.path().display().to_string()]);
    let text = format!("{stdout}{stderr}");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("looks like UTF-16"), "{text}");
    assert!(!text.contains('\0'), "a NUL byte was printed");
}

#[test]
fn an_edited_plan_cannot_remove_the_primary_owner_under_another_spelling() {
    let (dir, policies, uri) = org(
        &[
            ("org.yaml", ORG),
            (
                "users.yaml",
                "users:\n  ceo@safe.io: {name: Cee, role: primary_owner}\n  kim@safe.io: {name: Kim, role: admin}\n  lee@safe.io: {name: Lee}\n",
            ),
        ],
        Some(LIVE_CEO),
    );
    let saved = dir.path().join("plan.json");
    let saved_arg = saved.display().to_string();
    let (_, stderr, code) = run(&["plan", "-p", &policies, "--live", &uri, "-o", &saved_arg]);
    assert_eq!(code, 0, "{stderr}");
    edit_plan_to_remove(&saved, "CEO@Safe.io");
    let (stdout, stderr, code) = run(&["apply", &saved_arg, "-p", &policies, "--live", &uri]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("remove `ceo@safe.io` (the primary owner)"),
        "{stderr}"
    );
}

//! `orgplan apply` and `orgplan export` on the file provider.

use std::path::{Path, PathBuf};

use crate::common::{Run, copy_policies, edit_plan_to_remove, fixture, orgplan, read, run, temp};

/// A temporary folder and the `file:` URI of a live file in it.
fn temp_live() -> (tempfile::TempDir, PathBuf, String) {
    let dir = temp();
    let path = dir.path().join("state").join("live.json");
    let uri = format!("file:{}", path.display());
    (dir, path, uri)
}

#[test]
fn apply_then_plan_reports_no_changes() {
    let (_dir, path, uri) = temp_live();
    let (stdout, stderr, code) = run(&["apply", "--live", &uri, "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("Apply complete: 50 applied, 0 manual."),
        "{stdout}"
    );
    // The folder was created, the state written, one audit line per operation.
    let audit = read(&path.with_file_name("live.json.audit.jsonl"));
    assert_eq!(audit.lines().count(), 50);
    for line in audit.lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for field in ["time", "op", "target", "changes", "plan_digest", "actor"] {
            assert!(record.get(field).is_some(), "{field} missing: {line}");
        }
    }
    let (stdout, _, code) = run(&["plan", "--live", &uri, "--detailed-exitcode"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("No changes."), "{stdout}");
    // Nothing to do: nothing written, no audit line.
    let (stdout, _, code) = run(&["apply", "--live", &uri]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        read(&path.with_file_name("live.json.audit.jsonl"))
            .lines()
            .count(),
        50
    );
}

#[cfg(unix)]
#[test]
fn apply_keeps_the_permissions_of_the_state_file() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, path, uri) = temp_live();
    let team = team_policy(dir.path(), "team", &|text| text);
    let (stdout, stderr, code) = run(&["apply", "-p", &team, "--live", &uri, "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640))
        .unwrap_or_else(|e| panic!("{e}"));
    // A second apply that changes something rewrites the file.
    let renamed = team_policy(dir.path(), "renamed", &|text| {
        text.replace("name: Bluebird Studio", "name: Bluebird Studios")
    });
    let (stdout, stderr, code) = run(&["apply", "-p", &renamed, "--live", &uri, "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("1 applied"), "{stdout}");
    let mode = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn without_a_terminal_apply_needs_auto_approve() {
    let (_dir, path, uri) = temp_live();
    let (stdout, stderr, code) = run(&["apply", "--live", &uri]);
    assert_eq!(code, 1);
    assert!(stdout.contains("Plan: 49 to add"), "{stdout}");
    assert!(stderr.contains("--auto-approve"), "{stderr}");
    assert!(!path.exists());
}

#[test]
fn a_yes_piped_into_apply_is_not_an_approval() {
    // Only a person at a terminal approves; a script that pipes `yes` must say
    // `--auto-approve`.
    let (_dir, path, uri) = temp_live();
    let (stdout, stderr, code) = orgplan()
        .args(["apply", "--live", &uri])
        .write_stdin("yes\n")
        .run();
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("--auto-approve"), "{stderr}");
    assert!(!path.exists());
}

#[test]
fn a_saved_plan_applies_and_a_stale_one_is_refused_naming_what_changed() {
    let (dir, path, uri) = temp_live();
    let plan = dir.path().join("plan.json");
    let plan = plan.display().to_string();
    save_team_plan(&uri, &plan);
    let (stdout, stderr, code) = run(&["apply", &plan, "-p", &fixture("team-plan")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("Apply complete: 6 applied"), "{stdout}");

    // The same plan again: the live org has changed under it (by the plan itself).
    let (_, stderr, code) = run(&["apply", &plan, "-p", &fixture("team-plan")]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(stderr.replace(&uri, "file:LIVE"), @r"
    error: the plan is stale: the live org changed since it was made, nothing applied:
      org settings added
      users added: `ben@bluebird.studio`, `chloe@bluebird.studio`, `diego@bluebird.studio`, `emma@bluebird.studio`, `maria@bluebird.studio`
      to proceed: run `orgplan plan` again and apply the new plan
    ");

    // A fresh plan, then someone edits the live org: only that user is named.
    save_team_plan(&uri, &plan);
    let edited = read(&path).replace("\"Ben Carter\"", "\"Benjamin Carter\"");
    std::fs::write(&path, edited).expect("write a file");
    let (_, stderr, code) = run(&["apply", &plan, "-p", &fixture("team-plan")]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("users changed: `ben@bluebird.studio`\n"),
        "{stderr}"
    );
}

#[test]
fn a_plan_from_another_policy_is_refused() {
    let (dir, _path, uri) = temp_live();
    let plan = dir.path().join("plan.json").display().to_string();
    let (_, _, code) = run(&["plan", "--live", &uri, "-o", &plan]);
    assert_eq!(code, 0);
    let (_, stderr, code) = run(&["apply", &plan, "-p", &fixture("team-plan")]);
    assert_eq!(code, 1);
    assert!(stderr.contains("the policy differs"), "{stderr}");
}

#[test]
fn safety_is_checked_again_at_apply_time() {
    let (dir, _path, uri) = temp_live();
    let (_, _, code) = run(&["apply", "--live", &uri, "--auto-approve"]);
    assert_eq!(code, 0);
    // The small Team org, now removing the users it does not declare: the 21 users
    // applied above, the primary owner among them.
    let policy = team_policy(dir.path(), "policy", &|text| {
        text.replace("unmanaged_users: keep", "unmanaged_users: remove")
    });
    let (_, stderr, code) = run(&["apply", "-p", &policy, "--live", &uri, "--auto-approve"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("plan refused"), "{stderr}");
    assert!(stderr.contains("safety.max_removals"), "{stderr}");
}

#[test]
fn a_held_lock_makes_apply_wait_then_fail_naming_the_lock_file() {
    let (_dir, path, uri) = temp_live();
    let lock_path = path.with_file_name("live.json.lock");
    std::fs::create_dir_all(path.parent().unwrap_or(&path)).expect("create a folder");
    let lock = std::fs::File::create(&lock_path).expect("create a file");
    lock.lock().expect("lock the file");
    let (_, stderr, code) = orgplan()
        .args(["apply", "--live", &uri, "--auto-approve"])
        .env("ORGPLAN_LOCK_TIMEOUT", "1")
        .run();
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("`{}`", lock_path.display())),
        "{stderr}"
    );
    assert!(!path.exists());
    drop(lock);
}

#[test]
fn export_then_plan_reports_no_changes() {
    let (dir, _path, uri) = temp_live();
    let (_, _, code) = run(&["apply", "--live", &uri, "--auto-approve"]);
    assert_eq!(code, 0);
    let out = dir.path().join("exported");
    let out_arg = out.display().to_string();
    let (stdout, stderr, code) = run(&["export", "--live", &uri, "-o", &out_arg]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Exported 21 users, 5 groups, 3 roles"),
        "{stdout}"
    );
    for name in ["org.yaml", "roles.yaml", "groups.yaml", "users.yaml"] {
        assert!(
            read(&out.join(name))
                .starts_with("# yaml-language-server: $schema=../schema/orgplan.schema.json\n")
        );
    }
    let (stdout, stderr, code) = run(&[
        "plan",
        "-p",
        &out_arg,
        "--live",
        &uri,
        "--detailed-exitcode",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    // Not over a folder with files in it, unless asked.
    let (_, stderr, code) = run(&["export", "--live", &uri, "-o", &out_arg]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--force"), "{stderr}");
    let (_, _, code) = run(&["export", "--live", &uri, "-o", &out_arg, "--force"]);
    assert_eq!(code, 0);
}

#[test]
fn export_of_an_org_never_set_up_is_refused() {
    let (dir, _path, uri) = temp_live();
    let out = dir.path().join("exported").display().to_string();
    let (_, stderr, code) = run(&["export", "--live", &uri, "-o", &out]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no org settings yet"), "{stderr}");
}

/// A policy folder in `dir` from the `team-plan` fixture, each text passed through `edit`.
fn team_policy(dir: &Path, name: &str, edit: &dyn Fn(String) -> String) -> String {
    copy_policies(&fixture("team-plan"), &dir.join(name), edit)
}

/// Plan the `team-plan` fixture against `uri` and save the plan at `plan`.
fn save_team_plan(uri: &str, plan: &str) {
    let (_, stderr, code) = run(&[
        "plan",
        "-p",
        &fixture("team-plan"),
        "--live",
        uri,
        "-o",
        plan,
    ]);
    assert_eq!(code, 0, "{stderr}");
}

/// The live org at `uri` set up as the `team-plan` fixture asks.
fn apply_team(uri: &str) {
    let (_, stderr, code) = run(&[
        "apply",
        "-p",
        &fixture("team-plan"),
        "--live",
        uri,
        "--auto-approve",
    ]);
    assert_eq!(code, 0, "{stderr}");
}

/// A live org: the team-plan users plus one undeclared user, `extra@bluebird.studio`.
fn team_live_with_an_extra_user(uri: &str, path: &Path) {
    apply_team(uri);
    let mut state: serde_json::Value = serde_json::from_str(&read(path)).expect("valid JSON");
    state["users"]["extra@bluebird.studio"] = serde_json::json!({"id": "usr_99", "name": "X"});
    std::fs::write(path, state.to_string()).expect("write a file");
}

/// `orgplan args…` fails saying `expected`, and the live file at `path` still holds `user`.
fn refused_and_kept(args: &[&str], expected: &str, path: &Path, user: &str) {
    let (stdout, stderr, code) = run(args);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(read(path).contains(user));
}

#[test]
fn a_plan_made_with_unmanaged_remove_is_refused_when_applied_with_keep() {
    let (dir, path, uri) = temp_live();
    team_live_with_an_extra_user(&uri, &path);
    let seats = |t: String| t.replace("standard: 5", "standard: 6");
    let keep = team_policy(dir.path(), "keep", &seats);
    let remove = team_policy(dir.path(), "remove", &|t| {
        seats(t).replace("unmanaged_users: keep", "unmanaged_users: remove")
    });
    let plan = dir.path().join("plan.json").display().to_string();
    let (stdout, stderr, code) = run(&["plan", "-p", &remove, "--live", &uri, "-o", &plan]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("user.remove extra@bluebird.studio"),
        "{stdout}"
    );
    // The policy that keeps unmanaged users plans nothing; its apply must not remove.
    refused_and_kept(
        &["apply", &plan, "-p", &keep],
        "operation 2 is `user.remove extra@bluebird.studio` in the file, nothing now",
        &path,
        "extra@bluebird.studio",
    );
}

#[test]
fn a_hand_edited_plan_cannot_remove_the_primary_owner() {
    let (dir, path, uri) = temp_live();
    apply_team(&uri);
    let plan = dir.path().join("plan.json");
    save_team_plan(&uri, &plan.display().to_string());
    edit_plan_to_remove(&plan, "maria@bluebird.studio");
    let plan = plan.display().to_string();
    // Refused by the primary-owner rule, judged on the file's own operations before they
    // are compared with a fresh plan: with that rule gone, this fails.
    refused_and_kept(
        &["apply", &plan, "-p", &fixture("team-plan")],
        "safety.protected: the plan would remove `maria@bluebird.studio` (the primary owner)",
        &path,
        "maria@bluebird.studio",
    );
}

#[test]
fn a_saved_plan_never_decides_alone_where_credentials_go() {
    let (dir, _, uri) = temp_live();
    let plan = dir.path().join("plan.json");
    let plan_arg = plan.display().to_string();
    let (_, stderr, code) = run(&["plan", "--live", &uri, "-o", &plan_arg]);
    assert_eq!(code, 0, "{stderr}");
    // A --live that differs from the plan's is refused.
    let other = format!("file:{}", dir.path().join("other.json").display());
    let (_, stderr, code) = run(&["apply", &plan_arg, "--live", &other]);
    assert_eq!(code, 1);
    assert!(stderr.contains("the plan was made against"), "{stderr}");
    // A plan edited to point at a remote org needs that org named on the command line.
    let mut saved: serde_json::Value = serde_json::from_str(&read(&plan)).expect("valid JSON");
    saved["live"] = "scim+https://127.0.0.1:9/scim/v2".into();
    std::fs::write(&plan, saved.to_string()).expect("write a file");
    let (_, stderr, code) = run(&["apply", &plan_arg]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("name the live org with `--live scim+https://127.0.0.1:9/scim/v2`"),
        "{stderr}"
    );
}

#[test]
fn apply_audit_puts_the_file_providers_trail_where_it_says() {
    let (dir, path, uri) = temp_live();
    let trail = dir.path().join("trails").join("apply.jsonl");
    let trail_arg = trail.to_string_lossy().into_owned();
    let (stdout, stderr, code) = run(&[
        "apply",
        "--live",
        &uri,
        "--auto-approve",
        "--audit",
        &trail_arg,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("Audit trail: {trail_arg}")),
        "{stdout}"
    );
    // The folder was made; every line is a record; the default trail is not written.
    let lines = read(&trail);
    assert_eq!(lines.lines().count(), 50, "{lines}");
    for line in lines.lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(record.get("plan_digest").is_some(), "{line}");
    }
    assert!(!path.with_file_name("live.json.audit.jsonl").exists());
    assert!(path.exists(), "the state is written where it always is");
}

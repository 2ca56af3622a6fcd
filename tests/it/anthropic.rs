//! `--live anthropic:` against the stand-in Admin API (tests/it/anthropic_server.rs):
//! plan, apply, plan again, drift, export, errors, 429s, pacing, and the key kept secret.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::anthropic_server::{KEY, StandIn};
use crate::common::{Printed, Run, fixture, op_line, orgplan, temp};

/// orgplan against `server` with its key, the audit file in `dir`, fast retries and no
/// pacing of spend-limit requests.
pub fn against(server: &StandIn, dir: &Path) -> assert_cmd::Command {
    let mut command = orgplan();
    command
        .env("ANTHROPIC_ADMIN_KEY", KEY)
        .env("ORGPLAN_ANTHROPIC_URL", &server.url)
        .env("ORGPLAN_ANTHROPIC_AUDIT", dir.join("audit.jsonl"))
        .env("ORGPLAN_ANTHROPIC_SPEND_INTERVAL_MS", "0")
        .env("ORGPLAN_HTTP_ATTEMPTS", "3")
        .env("ORGPLAN_HTTP_BACKOFF_MS", "1")
        .env("ORGPLAN_HTTP_TIMEOUT", "10");
    command
}

/// A stand-in org with only its primary owner, a temporary folder, and the path of the
/// `anthropic` fixture.
pub fn new_org() -> (StandIn, tempfile::TempDir, String) {
    (StandIn::start(), temp(), fixture("anthropic"))
}

/// The same, the stand-in in the state the fixture asks for ([`in_sync`]).
pub fn org_in_sync() -> (StandIn, tempfile::TempDir, String) {
    let (server, dir, policies) = new_org();
    in_sync(&server, dir.path(), &policies);
    (server, dir, policies)
}

/// `plan --format json` of `policies` against `server`, as JSON.
pub fn plan_json(server: &StandIn, dir: &Path, policies: &str) -> Value {
    let (stdout, stderr, code) = against(server, dir)
        .args([
            "plan",
            "-p",
            policies,
            "--live",
            "anthropic:",
            "--format",
            "json",
        ])
        .run();
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The plan's operations as `op target [member] (provider|manual)` lines.
pub fn plan_ops(server: &StandIn, dir: &Path, policies: &str) -> Vec<String> {
    let plan = plan_json(server, dir, policies);
    plan["operations"]
        .as_array()
        .unwrap_or_else(|| panic!("{plan}"))
        .iter()
        .map(|op| {
            format!(
                "{} ({})",
                op_line(op),
                op["execution"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// `apply --auto-approve` of `policies` against `server`.
pub fn try_apply(server: &StandIn, dir: &Path, policies: &str) -> Printed {
    against(server, dir)
        .args([
            "apply",
            "-p",
            policies,
            "--live",
            "anthropic:",
            "--auto-approve",
        ])
        .run()
}

/// The same, which must succeed; what it printed.
pub fn apply(server: &StandIn, dir: &Path, policies: &str) -> String {
    let (stdout, stderr, code) = try_apply(server, dir, policies);
    assert_eq!(code, 0, "{stdout}{stderr}");
    stdout
}

#[test]
fn plan_apply_accept_and_plan_again_reports_no_changes() {
    let (server, dir, policies) = new_org();
    assert_eq!(
        plan_ops(&server, dir.path(), &policies),
        [
            "group.create ops (provider)",
            "group.create sales (provider)",
            "group.update ops (manual)",
            "group.update sales (manual)",
            "user.invite kate@acme.com (provider)",
            "user.invite lee@acme.com (provider)",
            "user.invite max@acme.com (provider)",
            "user.update kate@acme.com (manual)",
            "group.add_member ops lee@acme.com (provider)",
            "group.add_member ops max@acme.com (provider)",
            "group.add_member sales kate@acme.com (provider)",
        ]
    );
    let (stdout, _, _) = against(&server, dir.path())
        .args(["plan", "-p", &policies, "--live", "anthropic:"])
        .run();
    // What cannot be read is listed, not diffed; manual steps name the console page.
    assert!(stdout.contains("org.seats"), "{stdout}");
    assert!(stdout.contains("users.limits.tokens"), "{stdout}");
    assert!(
        stdout.contains("claude.ai › Admin settings › Groups › `sales`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Waits for `kate@acme.com` to accept"),
        "{stdout}"
    );

    let report = apply(&server, dir.path(), &policies);
    assert!(
        report.contains("Apply complete: 8 applied, 3 manual."),
        "{report}"
    );
    {
        let org = server.org();
        assert_eq!(org.groups.len(), 2);
        assert_eq!(org.invites.len(), 3);
        // Memberships of an invited user ride on the invite.
        let kate = org
            .invites
            .iter()
            .find(|i| i.email == "kate@acme.com")
            .unwrap_or_else(|| panic!("no invite"));
        assert_eq!(kate.groups.len(), 1);
        assert_eq!(kate.role, "user");
    }
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("read a file");
    assert_eq!(audit.lines().count(), 8);

    // Only what waits for people remains.
    assert_eq!(
        plan_ops(&server, dir.path(), &policies),
        [
            "group.update ops (manual)",
            "group.update sales (manual)",
            "user.update kate@acme.com (manual)"
        ]
    );
    // A group spend limit is set in claude.ai: the step names the page.
    let (stdout, _, _) = against(&server, dir.path())
        .args(["plan", "-p", &policies, "--live", "anthropic:"])
        .run();
    assert!(
        stdout.contains(
            "In claude.ai › Admin settings › Usage limits, for the group `ops` set `limits.spend_usd.monthly` to 100"
        ),
        "{stdout}"
    );
    // The admin grants the role and sets the group limit in the console; the invitees
    // accept.
    {
        let mut org = server.org();
        org.grant("sales", "analyst");
        org.group_limit("ops", "monthly", "10000");
        for email in ["kate@acme.com", "lee@acme.com", "max@acme.com"] {
            org.accept(email);
        }
    }
    // Kate was invited as `user` (her group granted nothing then): now that `sales`
    // grants a role, her API role has drifted and is fixed with her spend limit.
    assert_eq!(
        plan_ops(&server, dir.path(), &policies),
        [
            "user.update kate@acme.com (provider)",
            "user.update kate@acme.com (provider)"
        ]
    );
    apply(&server, dir.path(), &policies);
    {
        let org = server.org();
        let user_limits: Vec<_> = org.spend.iter().filter(|s| s.scope == "user").collect();
        assert_eq!(user_limits.len(), 1);
        assert_eq!(user_limits[0].amount.as_deref(), Some("5000"));
        assert_eq!(user_limits[0].period, "monthly");
        let kate = org.users.iter().find(|u| u.email == "kate@acme.com");
        assert_eq!(kate.map(|u| u.role.as_str()), Some("managed"));
    }
    let (stdout, stderr, code) = against(&server, dir.path())
        .args([
            "plan",
            "-p",
            &policies,
            "--live",
            "anthropic:",
            "--detailed-exitcode",
        ])
        .run();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("No changes."), "{stdout}");

    // Every list was read over several pages, with both cursor schemes.
    let org = server.org();
    let seen = |needle: &str| org.log.iter().any(|(_, _, path, _)| path.contains(needle));
    assert!(seen("/v1/organizations/users?limit=1000&after_id="));
    assert!(seen("/permissions?limit=1000&page=pg%2B%2F%3D2"));
}

/// The stand-in in the state the fixture asks for, every invite accepted.
pub fn in_sync(server: &StandIn, dir: &Path, policies: &str) {
    apply(server, dir, policies);
    {
        let mut org = server.org();
        org.grant("sales", "analyst");
        org.group_limit("ops", "monthly", "10000");
        for email in ["kate@acme.com", "lee@acme.com", "max@acme.com"] {
            org.accept(email);
        }
    }
    apply(server, dir, policies);
}

#[test]
fn drift_made_in_the_org_is_planned_exactly() {
    let (server, dir, policies) = org_in_sync();
    {
        let mut org = server.org();
        let lee = org.user_id("lee@acme.com");
        let max = org.user_id("max@acme.com");
        org.group("ops").members.retain(|m| *m != lee);
        org.spend.push(crate::anthropic_server::Spend::new(
            "spl_drift",
            "user",
            &max,
            "weekly",
            "1234",
        ));
        // An admin renamed themselves: names are not compared.
        org.users[0].name = "Dana Q.".into();
    }
    assert_eq!(
        plan_ops(&server, dir.path(), &policies),
        [
            "user.update max@acme.com (provider)",
            "group.add_member ops lee@acme.com (provider)",
        ]
    );
    // Applied with the spend-limit requests paced.
    let before = server.org().log.len();
    let (stdout, stderr, code) = against(&server, dir.path())
        .env("ORGPLAN_ANTHROPIC_SPEND_INTERVAL_MS", "300")
        .args([
            "apply",
            "-p",
            &policies,
            "--live",
            "anthropic:",
            "--auto-approve",
        ])
        .run();
    assert_eq!(code, 0, "{stdout}{stderr}");
    {
        let org = server.org();
        assert!(org.spend.iter().all(|s| s.id != "spl_drift"));
        // The list pages and a delete, each sent at least the interval after the one
        // before. The stand-in logs a request when it gets to it, which on a busy machine
        // can be later than it was sent: the margin absorbs that, and an unpaced client
        // (gaps of a millisecond or two) still fails.
        let spend: Vec<_> = org.log[before..]
            .iter()
            .filter(|(_, _, path, _)| path.starts_with("/v1/organizations/spend_limits"))
            .map(|(time, _, _, _)| *time)
            .collect();
        assert!(spend.len() >= 3, "{spend:?}");
        let gaps: Vec<Duration> = spend
            .windows(2)
            .map(|p| p[1].duration_since(p[0]))
            .collect();
        assert!(
            gaps.iter().all(|gap| *gap >= Duration::from_millis(200)),
            "{gaps:?}"
        );
    }
    assert!(plan_ops(&server, dir.path(), &policies).is_empty());
}

#[test]
fn export_then_plan_reports_no_changes() {
    let (server, dir, _) = org_in_sync();
    let out = dir.path().join("exported");
    let out_arg = out.display().to_string();
    let (stdout, stderr, code) = against(&server, dir.path())
        .args(["export", "--live", "anthropic:", "-o", &out_arg])
        .run();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Exported 4 users, 2 groups, 1 role from anthropic:"),
        "{stdout}"
    );
    let (stdout, stderr, code) = against(&server, dir.path())
        .args([
            "plan",
            "-p",
            &out_arg,
            "--live",
            "anthropic:",
            "--detailed-exitcode",
        ])
        .run();
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn a_failure_midway_reports_what_landed_and_audits_only_that() {
    let (server, dir, policies) = new_org();
    server.org().refuse_invite = Some("lee@acme.com".into());
    let (stdout, stderr, code) = try_apply(&server, dir.path(), &policies);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stderr.contains("apply stopped at `user.invite` on `lee@acme.com`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("answered 400 `invalid_request_error`: email domain is not allowed"),
        "{stderr}"
    );
    assert!(stderr.contains("applied (3):"), "{stderr}");
    assert!(stderr.contains("not applied (5):"), "{stderr}");
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).expect("read a file");
    assert_eq!(audit.lines().count(), 3, "{audit}");
    // Fixed, a new plan finishes the job.
    server.org().refuse_invite = None;
    apply(&server, dir.path(), &policies);
    assert_eq!(server.org().invites.len(), 3);
}

#[test]
fn rate_limits_are_retried_and_a_wrong_key_is_refused_with_the_documented_error() {
    let (server, dir, policies) = new_org();
    server.org().throttle = 2;
    let ops = plan_ops(&server, dir.path(), &policies);
    assert_eq!(ops.len(), 11);
    assert_eq!(server.org().throttle, 0);

    let wrong = "sk-ant-admin01-WRONG-key";
    let (stdout, stderr, code) = against(&server, dir.path())
        .env("ANTHROPIC_ADMIN_KEY", wrong)
        .args(["plan", "-p", &policies, "--live", "anthropic:"])
        .run();
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "Admin API GET /v1/organizations/me answered 401 `authentication_error`: invalid x-api-key"
        ),
        "{stderr}"
    );
    assert!(!stdout.contains(wrong) && !stderr.contains(wrong));

    // Without a key, nothing is sent.
    let before = server.org().log.len();
    let (_, stderr, code) = against(&server, dir.path())
        .env("ANTHROPIC_ADMIN_KEY", "")
        .args(["plan", "-p", &policies, "--live", "anthropic:"])
        .run();
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`ANTHROPIC_ADMIN_KEY` is not set"),
        "{stderr}"
    );
    assert_eq!(server.org().log.len(), before);
    // Every request carried the documented headers, the beta one where the reference
    // documents it and nowhere else.
    let org = server.org();
    for (_, method, path, headers) in org.log.iter() {
        let has = |name: &str| headers.iter().any(|(n, _)| n == name);
        assert!(has("x-api-key") && has("anthropic-version"));
        let beta = headers
            .iter()
            .find(|(n, _)| n == "anthropic-beta")
            .map(|(_, v)| v.as_str());
        let expected = if path.starts_with("/v1/organizations/rbac_") {
            Some(crate::anthropic_server::BETA_USER_MANAGEMENT)
        } else if method == "GET" && path.starts_with("/v1/organizations/spend_limits?") {
            Some(crate::anthropic_server::BETA_SPEND_READS)
        } else {
            None
        };
        assert_eq!(beta, expected, "{method} {path}");
    }
    assert!(
        org.log
            .iter()
            .any(|(_, _, p, _)| p.starts_with("/v1/organizations/rbac_groups"))
    );
    assert!(
        org.log
            .iter()
            .any(|(_, _, p, _)| p.starts_with("/v1/organizations/spend_limits"))
    );
}

#[test]
fn the_key_never_appears_in_output_plans_or_the_audit() {
    let (server, dir, policies) = new_org();
    let plan = dir.path().join("plan.json").display().to_string();
    let mut outputs = Vec::new();
    let (stdout, stderr, code) = against(&server, dir.path())
        .args(["plan", "-p", &policies, "--live", "anthropic:", "-o", &plan])
        .run();
    assert_eq!(code, 0, "{stderr}");
    outputs.push(stdout + &stderr);
    let (stdout, stderr, code) = against(&server, dir.path())
        .args(["apply", &plan, "-p", &policies, "--live", "anthropic:"])
        .run();
    assert_eq!(code, 0, "{stdout}{stderr}");
    outputs.push(stdout + &stderr);
    // A stale plan and an error answer, for their messages too.
    let (stdout, stderr, _) = against(&server, dir.path())
        .args(["apply", &plan, "-p", &policies, "--live", "anthropic:"])
        .run();
    outputs.push(stdout + &stderr);
    for name in ["plan.json", "audit.jsonl"] {
        outputs.push(std::fs::read_to_string(dir.path().join(name)).expect("read a file"));
    }
    let saved: Value = serde_json::from_str(&outputs[3]).expect("valid JSON");
    assert_eq!(saved["live"], "anthropic:");
    for text in &outputs {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("5ecret"), "{text}");
    }
}

#[test]
fn a_create_whose_answer_is_lost_is_not_sent_twice() {
    let (server, dir, policies) = new_org();
    server.org().drop_after = Some("/v1/organizations/rbac_groups".into());
    let (stdout, stderr, code) = try_apply(&server, dir.path(), &policies);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("apply stopped at `group.create` on `ops`"),
        "{stderr}"
    );
    assert_eq!(server.org().groups.len(), 1, "the group was created twice");
    // A new plan sees the group that landed and finishes the job.
    apply(&server, dir.path(), &policies);
    assert_eq!(server.org().groups.len(), 2);
}

#[test]
fn a_next_page_cycle_is_refused_instead_of_paging_forever() {
    let (server, dir, policies) = new_org();
    {
        // Three custom roles: more than one page, so the cycle is longer than one step.
        let mut org = server.org();
        org.roles.push(crate::anthropic_server::Role {
            id: "rbac_role_viewer".into(),
            name: "viewer".into(),
            custom: true,
            permissions: Vec::new(),
        });
        org.loop_pages = true;
    }
    let (_, stderr, code) = orgplan()
        .args(["plan", "-p", &policies, "--live", "anthropic:"])
        .env("ANTHROPIC_ADMIN_KEY", KEY)
        .env("ORGPLAN_ANTHROPIC_URL", &server.url)
        .env("ORGPLAN_ANTHROPIC_AUDIT", dir.path().join("audit.jsonl"))
        .timeout(Duration::from_secs(30))
        .run();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("next_page"), "{stderr}");
}

/// Every file under `dir` with its text, by path, in path order.
fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the export folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files.extend(tree(&path));
        } else {
            let text = std::fs::read_to_string(&path).expect("an exported file");
            files.push((path.display().to_string(), text));
        }
    }
    files.sort();
    files
}

/// An `export` from `server` with `--parallelism n`: the files written (paths relative to
/// the output), and the stand-in's log and peak of requests at once during it.
fn export_with(
    server: &StandIn,
    dir: &Path,
    n: &str,
) -> (Vec<(String, String)>, Vec<String>, usize) {
    {
        let mut org = server.org();
        org.log.clear();
        org.peak = 0;
    }
    let out = dir.join(format!("out-{n}"));
    let out_arg = out.display().to_string();
    let (stdout, stderr, code) = against(server, dir)
        .args([
            "export",
            "--live",
            "anthropic:",
            "-o",
            &out_arg,
            "--parallelism",
            n,
        ])
        .run();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let files = tree(&out)
        .into_iter()
        .map(|(path, text)| (path.replacen(&out_arg, "", 1), text))
        .collect();
    let org = server.org();
    let paths = org
        .log
        .iter()
        .map(|(_, m, p, _)| format!("{m} {p}"))
        .collect();
    (files, paths, org.peak)
}

#[test]
fn parallel_reads_give_the_sequential_export_within_the_bound_and_read_nothing_twice() {
    let server = StandIn::start();
    let dir = temp();
    {
        let mut org = server.org();
        // Lists of several pages (2 items a page), each answered after 30 ms.
        org.latency = Duration::from_millis(30);
        for n in 0..12 {
            let emails: Vec<String> = (0..3).map(|i| format!("u{n}x{i}@acme.com")).collect();
            for email in &emails {
                org.add_user(email, "user");
            }
            let members: Vec<&str> = emails.iter().map(String::as_str).collect();
            org.add_group(&format!("team-{n:02}"), &members);
            org.grant(&format!("team-{n:02}"), "analyst");
        }
    }
    let (one, one_log, one_peak) = export_with(&server, dir.path(), "1");
    let (eight, eight_log, eight_peak) = export_with(&server, dir.path(), "8");
    let (three, _, three_peak) = export_with(&server, dir.path(), "3");
    // Byte for byte the policy a one-at-a-time read gives.
    assert!(
        one.iter()
            .any(|(_, text)| text.contains("team-11") && text.contains("u11x2@acme.com")),
        "{one:?}"
    );
    assert_eq!(one, eight);
    assert_eq!(one, three);
    // Parallel, within the bound.
    assert_eq!(one_peak, 1);
    assert!((2..=8).contains(&eight_peak), "{eight_peak}");
    assert!((2..=3).contains(&three_peak), "{three_peak}");
    // The same requests, none of them twice.
    let mut sorted_one = one_log.clone();
    sorted_one.sort();
    let mut sorted_eight = eight_log.clone();
    sorted_eight.sort();
    assert_eq!(sorted_one, sorted_eight);
    let mut unique = sorted_eight.clone();
    unique.dedup();
    assert_eq!(unique, sorted_eight, "a request was sent twice");
    assert!(eight_log.iter().filter(|p| p.contains("/members?")).count() >= 12);
}

#[test]
fn apply_audit_wins_over_the_deprecated_audit_variable() {
    let server = StandIn::start();
    let dir = temp();
    let policies = fixture("anthropic");
    let trail = dir.path().join("trails").join("admin.jsonl");
    let trail_arg = trail.to_string_lossy().into_owned();
    // `against` also sets `ORGPLAN_ANTHROPIC_AUDIT=DIR/audit.jsonl`: the flag comes first.
    let (stdout, stderr, code) = against(&server, dir.path())
        .args([
            "apply",
            "-p",
            &policies,
            "--live",
            "anthropic:",
            "--auto-approve",
            "--audit",
            &trail_arg,
        ])
        .run();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("Audit trail: {trail_arg}")),
        "{stdout}"
    );
    let lines = std::fs::read_to_string(&trail).expect("read the trail");
    assert_eq!(lines.lines().count(), 8, "{lines}");
    assert!(!dir.path().join("audit.jsonl").exists());
}

#[test]
fn review_reads_the_live_org_within_its_parallelism_bound() {
    let server = StandIn::start();
    let dir = temp();
    {
        let mut org = server.org();
        org.latency = Duration::from_millis(30);
        for n in 0..8 {
            let email = format!("u{n}@acme.com");
            org.add_user(&email, "user");
            org.add_group(&format!("team-{n}"), &[email.as_str()]);
        }
    }
    let policies = crate::common::root().join("policies");
    let policies = policies.display().to_string();
    let review = |n: &str| {
        server.org().peak = 0;
        let (stdout, stderr, code) = against(&server, dir.path())
            .args([
                "review",
                "-p",
                &policies,
                "--live",
                "anthropic:",
                "--format",
                "json",
                "--parallelism",
                n,
            ])
            .run();
        assert_eq!(code, 0, "{stdout}{stderr}");
        (stdout, server.org().peak)
    };
    let (one, one_peak) = review("1");
    let (three, three_peak) = review("3");
    assert_eq!(one, three, "the same review whatever the parallelism");
    assert_eq!(one_peak, 1);
    assert!((2..=3).contains(&three_peak), "{three_peak}");
}

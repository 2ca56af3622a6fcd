//! `orgplan review`: reports in every format, suggestions that never touch the primary
//! owner or protected users, byte-exact policy edits in every style, and the loop
//! review --write -> validate -> plan on the example org.

use std::path::{Path, PathBuf};

use crate::common::{self, Printed, fixture, read, root, run, temp};

const AS_OF: &str = "2026-11-30";

fn usage() -> String {
    format!("file:{}", fixture("review/usage.json"))
}

/// A copy of the folder `from` (relative to the root) in a temporary folder.
fn copy_policies(from: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = temp();
    let to = dir.path().join("policies");
    common::copy_policies(from, &to, &|text| text);
    (dir, to)
}

fn review(args: &[&str]) -> Printed {
    let mut all = vec!["review", "--as-of", AS_OF];
    all.extend_from_slice(args);
    run(&all)
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let (stdout, stderr, code) = review(&all);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn review_example_org_human() {
    let usage = usage();
    let (stdout, stderr, code) = review(&["--usage", &usage]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout);
}

#[test]
fn review_example_org_markdown() {
    let usage = usage();
    let (stdout, stderr, code) = review(&["--usage", &usage, "--format", "markdown"]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout);
}

#[test]
fn review_json_has_the_documented_fields_and_counts() {
    let usage = usage();
    let report = json(&["--usage", &usage]);
    insta::assert_json_snapshot!(report);
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["as_of"], AS_OF);
    assert_eq!(report["window"]["start"], "2026-11-01");
    assert_eq!(report["window"]["end"], AS_OF);
    for tier in ["standard", "premium"] {
        for field in ["purchased", "assigned", "active", "inactive"] {
            assert!(report["seats"][tier][field].is_number(), "{tier}.{field}");
        }
    }
    let users = report["users"].as_array().cloned().unwrap_or_default();
    assert_eq!(users.len(), 21);
    for user in &users {
        for field in [
            "email",
            "name",
            "role",
            "seat",
            "status",
            "groups",
            "last_active",
            "days_inactive",
            "chat_messages",
            "claude_code_sessions",
            "findings",
        ] {
            assert!(user.get(field).is_some(), "{field} missing: {user}");
        }
    }
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    for finding in &findings {
        for field in ["code", "severity", "email", "message", "suggestion"] {
            assert!(finding.get(field).is_some(), "{field} missing: {finding}");
        }
    }
    let codes: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or(""),
                f["email"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("inactive-admin", "ceo@acme.com"),
            ("inactive-admin", "priya.nair@acme.com"),
            ("inactive-user", "frank.mueller@acme.com"),
            ("inactive-user", "jordan.lee@northwind-consulting.com"),
            ("unused-premium-seat", "dev.patel@acme.com"),
            ("unused-premium-seat", "erin.okafor@acme.com"),
            ("usage-unknown", "tom.baker@acme.com"),
            ("seat-surplus", ""),
            ("seat-surplus", ""),
        ]
    );
}

#[test]
fn the_primary_owner_and_protected_users_get_no_suggestion_and_are_told_why() {
    let usage = usage();
    let report = json(&["--usage", &usage]);
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let of = |email: &str| {
        findings
            .iter()
            .find(|f| f["email"] == email)
            .cloned()
            .unwrap_or_else(|| panic!("no finding for {email}"))
    };
    let ceo = of("ceo@acme.com");
    assert_eq!(ceo["code"], "inactive-admin");
    assert!(ceo["suggestion"].is_null());
    assert!(
        ceo["message"]
            .as_str()
            .unwrap_or("")
            .contains("the primary owner is never demoted"),
        "{ceo}"
    );
    let priya = of("priya.nair@acme.com");
    assert!(priya["suggestion"].is_null());
    assert!(
        priya["message"]
            .as_str()
            .unwrap_or("")
            .contains("`safety.protected`"),
        "{priya}"
    );
    let frank = of("frank.mueller@acme.com");
    assert_eq!(
        frank["suggestion"],
        serde_json::json!({"file": "policies/users-engineering.yaml", "line": 23,
                           "field": "status", "before": "active", "after": "suspended"})
    );
}

/// The finding about `email` in a JSON report (`null` when there is none).
fn finding_of(report: &serde_json::Value, email: &str) -> serde_json::Value {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["email"] == email)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_dormant_admin_is_demoted_unless_min_admins_forbids_it() {
    let (dir, policies) = copy_policies("tests/fixtures/review/styles");
    let usage = format!("file:{}", fixture("review/styles-usage.json"));
    let p = policies.display().to_string();
    let admin = finding_of(
        &json(&["-p", &p, "--usage", &usage]),
        "admin.gone@styles.test",
    );
    assert_eq!(admin["code"], "inactive-admin");
    assert_eq!(admin["suggestion"]["field"], "role");
    assert_eq!(admin["suggestion"]["after"], "member");
    // With `min_admins: 2`, demoting the one admin besides the primary owner would leave
    // too few: no suggestion, and the message says why.
    let org = policies.join("org.yaml");
    std::fs::write(&org, read(&org).replace("min_admins: 1", "min_admins: 2"))
        .unwrap_or_else(|e| panic!("{e}"));
    let admin = finding_of(
        &json(&["-p", &p, "--usage", &usage]),
        "admin.gone@styles.test",
    );
    assert!(admin["suggestion"].is_null(), "{admin}");
    assert!(
        admin["message"]
            .as_str()
            .unwrap_or("")
            .contains("`safety.min_admins` (2)"),
        "{admin}"
    );
    drop(dir);
}

#[test]
fn csv_has_the_fixed_header_and_one_row_per_user() {
    let usage = usage();
    let (stdout, stderr, code) = review(&["--usage", &usage, "--format", "csv"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "email,name,role,seat,status,groups,last_active,days_inactive,chat_messages,claude_code_sessions,findings,suggestion"
    );
    assert_eq!(lines.len(), 22);
    assert!(lines.contains(
        &"frank.mueller@acme.com,Frank Mueller,member,premium,active,data-science,2026-08-03,119,0,0,inactive-user,status: active -> suspended"
    ));
    assert!(
        lines.contains(&"tom.baker@acme.com,Tom Baker,member,standard,active,,,,,,usage-unknown,")
    );
    assert!(lines.contains(
        &"hiro.tanaka@acme.com,Hiro Tanaka,member,premium,active,data-science;engineering,2026-11-30,0,402,63,,"
    ));
}

#[test]
fn html_is_one_self_contained_escaped_page() {
    let (dir, policies) = copy_policies("tests/fixtures/review/styles");
    let block = policies.join("users-block.yaml");
    std::fs::write(
        &block,
        read(&block).replace(
            "name: Big Boss",
            "name: \"<script>alert('x')</script> & <img src=https://evil.example/x.png>\"",
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let usage = format!("file:{}", fixture("review/styles-usage.json"));
    let p = policies.display().to_string();
    let (page, stderr, code) = review(&["-p", &p, "--usage", &usage, "--format", "html"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
    ));
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;img"));
    assert!(!page.contains("<script"), "a script element");
    assert!(!page.contains("<img"), "an img element");
    // No tag loads anything: every `<` of the page opens markup (text is escaped).
    for tag in page
        .split('<')
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
    {
        for attr in ["src=", "href=", "url(", "@import", "http:", "https:"] {
            assert!(!tag.contains(attr), "{attr} in <{tag}>");
        }
    }
    assert!(!page.contains("http://") && !page.contains("url("));
    assert_eq!(page.matches("<svg").count(), 2);
    assert!(page.contains("id=\"fig-users\">13<"), "headline figure");
    drop(dir);
}

#[test]
fn write_edits_every_style_byte_exactly() {
    let (dir, policies) = copy_policies("tests/fixtures/review/styles");
    let usage = format!("file:{}", fixture("review/styles-usage.json"));
    let p = policies.display().to_string();
    let (suggest, stderr, code) = review(&["-p", &p, "--usage", &usage, "--suggest"]);
    assert_eq!(code, 0, "{stderr}");
    // --suggest changes nothing on disk.
    for name in [
        "org.yaml",
        "users-block.yaml",
        "users-flow.yaml",
        "users-crlf.yaml",
    ] {
        assert_eq!(
            read(&policies.join(name)),
            read(&root().join("tests/fixtures/review/styles").join(name)),
            "{name} changed by --suggest"
        );
    }
    let (_, stderr, code) = review(&[
        "-p",
        &p,
        "--usage",
        &usage,
        "--write",
        "--detailed-exitcode",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("wrote 12 suggestions to 3 files"),
        "{stderr}"
    );
    for name in [
        "org.yaml",
        "users-block.yaml",
        "users-flow.yaml",
        "users-crlf.yaml",
    ] {
        let expected = std::fs::read(
            root()
                .join("tests/fixtures/review/styles-expected")
                .join(name),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let written = std::fs::read(policies.join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            written == expected,
            "{name}:\n{}",
            String::from_utf8_lossy(&written)
        );
    }
    // The diff --suggest printed is the change --write made.
    for line in suggest
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
    {
        let line = line.trim_start_matches('+');
        assert!(
            ["users-block.yaml", "users-flow.yaml", "users-crlf.yaml"]
                .iter()
                .any(|name| read(&policies.join(name)).contains(line)),
            "{line}"
        );
    }
    // Every other line is untouched: each file differs from the original only on the
    // lines that carry a suggestion.
    let block = read(&policies.join("users-block.yaml"));
    assert!(
        !block.ends_with('\n'),
        "the missing final newline stays missing"
    );
    assert!(block.contains("    role: 'member'        # single-quoted: the quotes stay\n"));
    let crlf = read(&policies.join("users-crlf.yaml"));
    assert_eq!(crlf.matches('\n').count(), crlf.matches("\r\n").count());
    let (stdout, stderr, code) = run(&["validate", "-p", &p]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    drop(dir);
}

// The file provider creates users as pending invites: accept them all.
fn accept_invites(path: &Path) {
    let mut state: serde_json::Value =
        serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{e}"));
    if let Some(users) = state["users"].as_object_mut() {
        for user in users.values_mut() {
            if user["status"] == "invited" {
                user["status"] = "active".into();
            }
        }
    }
    std::fs::write(path, state.to_string()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn review_write_then_plan_lists_exactly_the_suggested_operations() {
    let (dir, policies) = copy_policies("policies");
    let p = policies.display().to_string();
    let live = format!("file:{}", dir.path().join("live.json").display());
    // A live org in step with the policy, every invite accepted.
    let (stdout, stderr, code) = run(&["apply", "-p", &p, "--live", &live, "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    accept_invites(&dir.path().join("live.json"));
    let usage = usage();
    let (stdout, stderr, code) = review(&["-p", &p, "--live", &live, "--usage", &usage, "--write"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (stdout, stderr, code) = run(&["validate", "-p", &p]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (stdout, stderr, code) = run(&["plan", "-p", &p, "--live", &live, "--format", "json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let plan: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let ops: Vec<String> = plan["operations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|op| {
            let changes: Vec<String> = op["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{}: {} -> {}",
                        c["field"].as_str().unwrap_or(""),
                        c["before"],
                        c["after"]
                    )
                })
                .collect();
            format!(
                "{} {} [{}]",
                op["op"].as_str().unwrap_or(""),
                op["target"].as_str().unwrap_or(""),
                changes.join(", ")
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            "user.update dev.patel@acme.com [seat: \"premium\" -> \"standard\"]",
            "user.update erin.okafor@acme.com [seat: \"premium\" -> \"standard\"]",
            "user.suspend frank.mueller@acme.com [status: \"active\" -> \"suspended\"]",
            "user.suspend jordan.lee@northwind-consulting.com [status: \"active\" -> \"suspended\"]",
        ]
    );
    // Applied, and reviewed again: nothing left to suggest.
    let (stdout, stderr, code) = run(&["apply", "-p", &p, "--live", &live, "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (stdout, stderr, code) = review(&[
        "-p",
        &p,
        "--live",
        &live,
        "--usage",
        &usage,
        "--detailed-exitcode",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    drop(dir);
}

#[test]
fn live_users_not_in_the_policy_and_pending_invites_are_reported() {
    let dir = temp();
    let path = dir.path().join("live.json");
    let live = format!("file:{}", path.display());
    let (stdout, stderr, code) = run(&["apply", "--live", &live, "--auto-approve"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    accept_invites(&path);
    let mut state: serde_json::Value =
        serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{e}"));
    state["users"]["Ghost@Acme.com"] = serde_json::json!({"id": "u-ghost", "name": "Ghost", "role": "member", "seat": "premium", "status": "active"});
    state["users"]["frank.mueller@acme.com"]["status"] = "invited".into();
    std::fs::write(&path, state.to_string()).unwrap_or_else(|e| panic!("{e}"));
    // Usage for the ghost, under another spelling of the address.
    let usage_path = dir.path().join("usage.json");
    let mut usage: serde_json::Value =
        serde_json::from_str(&read(&root().join(fixture("review/usage.json"))))
            .unwrap_or_else(|e| panic!("{e}"));
    usage["users"]["GHOST@acme.com"] = serde_json::json!({"last_active": "2026-11-02", "chat_messages": 1, "claude_code_sessions": 0});
    std::fs::write(&usage_path, usage.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let usage = format!("file:{}", usage_path.display());
    let report = json(&["--live", &live, "--usage", &usage]);
    let users = report["users"].as_array().cloned().unwrap_or_default();
    let ghost = users
        .iter()
        .find(|u| u["email"] == "ghost@acme.com")
        .cloned()
        .unwrap_or_default();
    assert_eq!(ghost["status"], "unmanaged");
    assert_eq!(ghost["last_active"], "2026-11-02");
    assert_eq!(ghost["findings"], serde_json::json!(["unmanaged-user"]));
    let frank = users
        .iter()
        .find(|u| u["email"] == "frank.mueller@acme.com")
        .cloned()
        .unwrap_or_default();
    assert_eq!(frank["status"], "invited");
    assert_eq!(
        frank["findings"],
        serde_json::json!([]),
        "a pending invite is not inactive"
    );
    // The kept unmanaged user holds a premium seat.
    assert_eq!(report["seats"]["premium"]["assigned"], 10);
    let message = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["code"] == "unmanaged-user")
        .and_then(|f| f["message"].as_str().map(str::to_owned))
        .unwrap_or_default();
    assert!(
        message.contains("last active 2026-11-02, 1 chat messages"),
        "{message}"
    );
}

#[test]
fn without_usage_only_static_findings_and_exit_codes() {
    let (stdout, stderr, code) = review(&["--format", "json", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(report["usage"].is_null());
    assert!(report["seats"]["premium"]["active"].is_null());
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.iter().all(|c| *c == "seat-surplus"), "{codes:?}");
    let usage = usage();
    let (_, stderr, code) = review(&["--usage", &usage, "--detailed-exitcode"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn static_least_privilege_warnings_are_part_of_the_review() {
    let p = fixture("diagnostics/seat-restriction");
    let report = json(&["-p", &p]);
    let found = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["code"] == "seat-restriction")
        .cloned()
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(found["severity"], "warning");
    assert!(found["email"].is_string(), "{found}");
}

#[test]
fn a_bad_usage_file_is_a_located_runtime_error() {
    let dir = temp();
    let path = dir.path().join("usage.json");
    std::fs::write(
        &path,
        "{\"format_version\": 1, \"start\": \"2026-11-01\", \"end\": \"2026-11-30\",\n \"users\": {\"a@acme.com\": {\"last_active\": \"2026-02-30\", \"chat_messages\": 0, \"claude_code_sessions\": 0}}}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let usage = format!("file:{}", path.display());
    let (_, stderr, code) = review(&["--usage", &usage]);
    assert_eq!(code, 1);
    assert!(stderr.contains(":2:"), "{stderr}");
    assert!(stderr.contains("`2026-02-30` is not a date"), "{stderr}");
    let (_, stderr, code) = review(&["--usage", "s3://bucket/usage.json"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("is not a usage source"), "{stderr}");
    let (_, stderr, code) = run(&["review", "--as-of", "2026-13-01"]);
    assert_eq!(code, 1, "a usage error is never 2");
    assert!(stderr.contains("not a date"), "{stderr}");
}

#[test]
fn an_invalid_policy_exits_3() {
    let p = fixture("diagnostics/missing-org");
    let (_, _, code) = review(&["-p", &p]);
    assert_eq!(code, 3);
}

#[test]
fn save_usage_writes_what_was_read() {
    let dir = temp();
    let saved = dir.path().join("saved.json");
    let usage = usage();
    let s = saved.display().to_string();
    let (_, stderr, code) = review(&["--usage", &usage, "--save-usage", &s]);
    assert_eq!(code, 0, "{stderr}");
    let again = format!("file:{s}");
    let a = json(&["--usage", &usage]);
    let mut b = json(&["--usage", &again]);
    b["usage"]["source"] = a["usage"]["source"].clone();
    assert_eq!(a, b);
}

#[test]
fn as_of_defaults_to_the_usage_end_and_output_is_deterministic() {
    let usage = usage();
    let (one, _, _) = run(&["review", "--usage", &usage, "--format", "html"]);
    let (two, _, _) = run(&["review", "--usage", &usage, "--format", "html"]);
    assert_eq!(one, two);
    assert!(one.contains("<b id=\"as-of\">2026-11-30</b>"));
}

mod analytics {
    //! `--usage anthropic:` against the stand-in Analytics API.

    use serde_json::{Value, json};

    use super::AS_OF;
    use crate::anthropic_server::{KEY, StandIn};
    use crate::common::{Printed, Run, orgplan, read, temp};

    fn row(email: &str, last: Option<&str>, messages: u64, sessions: Option<u64>) -> Value {
        json!({
            "user": {"type": "user", "id": format!("user_{email}"), "email_address": email},
            "last_activity_date": last,
            "chat_metrics": {"message_count": messages, "connectors_used_count": 0},
            "claude_code_metrics": {"core_metrics": {"distinct_session_count": sessions,
                                                      "commit_count": 0},
                                    "tool_actions": {}},
            "web_search_count": 0
        })
    }

    /// orgplan reading usage from `server` with the Analytics key (not the Admin one).
    fn analytics(server: &StandIn) -> assert_cmd::Command {
        let mut command = orgplan();
        command
            .env("ORGPLAN_ANTHROPIC_URL", &server.url)
            .env("ANTHROPIC_ANALYTICS_KEY", KEY)
            .env_remove("ANTHROPIC_ADMIN_KEY")
            .env("ORGPLAN_HTTP_BACKOFF_MS", "1");
        command
    }

    fn review(server: &StandIn, args: &[&str]) -> Printed {
        analytics(server)
            .args(["review", "--usage", "anthropic:", "--as-of", AS_OF])
            .args(args)
            .run()
    }

    #[test]
    fn usage_is_read_over_every_page_and_saved_in_the_file_format() {
        let server = StandIn::start();
        {
            let mut org = server.org();
            org.analytics = vec![
                row("Bob.Martin@acme.com", Some("2026-11-29"), 214, Some(41)),
                row("dev.patel@acme.com", Some("2026-11-27"), 96, Some(0)),
                row("frank.mueller@acme.com", None, 0, Some(0)),
                // An aggregated row describes no user: skipped.
                json!({"user": null, "last_activity_date": "2026-11-30",
                       "chat_metrics": {"message_count": 9},
                       "claude_code_metrics": {"core_metrics": {"distinct_session_count": 1}}}),
                // A user whose session count is unknown keeps unknown usage.
                row("grace.kim@acme.com", Some("2026-11-28"), 140, None),
            ];
            org.throttle = 1;
        }
        let dir = temp();
        let saved = dir.path().join("usage.json");
        let s = saved.display().to_string();
        let (stdout, stderr, code) = review(&server, &["--format", "json", "--save-usage", &s]);
        assert_eq!(code, 0, "{stderr}");
        // The key is never printed.
        assert!(!stdout.contains(KEY) && !stderr.contains(KEY));
        let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report["usage"]["source"], "anthropic:");
        assert_eq!(report["usage"]["start"], "2026-11-01");
        let usage: Value = serde_json::from_str(&read(&saved)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            usage,
            json!({"format_version": 1, "start": "2026-11-01", "end": "2026-11-30", "users": {
                "bob.martin@acme.com": {"last_active": "2026-11-29", "chat_messages": 214, "claude_code_sessions": 41},
                "dev.patel@acme.com": {"last_active": "2026-11-27", "chat_messages": 96, "claude_code_sessions": 0},
                "frank.mueller@acme.com": {"last_active": null, "chat_messages": 0, "claude_code_sessions": 0}
            }})
        );
        let codes: Vec<(String, String)> = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                (
                    f["code"].as_str().unwrap_or("").to_owned(),
                    f["email"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert!(codes.contains(&("inactive-user".into(), "frank.mueller@acme.com".into())));
        assert!(codes.contains(&("unused-premium-seat".into(), "dev.patel@acme.com".into())));
        assert!(codes.contains(&("usage-unknown".into(), "grace.kim@acme.com".into())));
        // Every request: the documented path and date range, the largest page, the key
        // in `x-api-key`; paged (two rows a page) and one 429 retried.
        let org = server.org();
        let requests: Vec<&str> = org
            .log
            .iter()
            .map(|(_, _, target, _)| target.as_str())
            .collect();
        assert_eq!(requests.len(), 4, "{requests:?}");
        for target in &requests {
            assert!(
                target.starts_with(
                    "/v1/organizations/analytics/users?starting_date=2026-11-01&ending_date=2026-12-01&limit=1000"
                ),
                "{target}"
            );
        }
        assert!(requests[3].contains("&page=pg%2B%2F%3D4"), "{requests:?}");
        for (_, _, _, headers) in &org.log {
            assert!(headers.iter().any(|(n, v)| n == "x-api-key" && v == KEY));
        }
    }

    #[test]
    fn an_org_without_last_activity_reporting_is_said_so_never_guessed() {
        let server = StandIn::start();
        {
            let mut org = server.org();
            let mut bare = row("bob.martin@acme.com", Some("2026-11-29"), 3, Some(1));
            if let Some(object) = bare.as_object_mut() {
                object.remove("last_activity_date");
            }
            org.analytics = vec![bare];
        }
        let (stdout, stderr, code) = review(&server, &[]);
        assert_eq!(code, 1, "{stdout}");
        assert!(stderr.contains("sent no `last_activity_date`"), "{stderr}");
        assert!(stderr.contains("does not guess"), "{stderr}");
    }

    #[test]
    fn the_documented_errors_are_reported_with_what_to_do() {
        let server = StandIn::start();
        // A date before the API's first day: 400.
        let (_, stderr, code) = analytics(&server)
            .args(["review", "--usage", "anthropic:", "--as-of", "2025-12-01"])
            .run();
        assert_eq!(code, 1);
        assert!(
            stderr.contains("answered 400 `invalid_request_error`"),
            "{stderr}"
        );
        assert!(stderr.contains("try an earlier `--as-of`"), "{stderr}");
        // A wrong key: the server's refusal, the key never echoed.
        let (_, stderr, code) = analytics(&server)
            .env("ANTHROPIC_ANALYTICS_KEY", "sk-ant-wrong-key-0000")
            .args(["review", "--usage", "anthropic:", "--as-of", AS_OF])
            .run();
        assert_eq!(code, 1);
        assert!(stderr.contains("`read:analytics` scope"), "{stderr}");
        assert!(!stderr.contains("sk-ant-wrong-key-0000"), "{stderr}");
        // No key at all.
        let (_, stderr, _) = analytics(&server)
            .env_remove("ANTHROPIC_ANALYTICS_KEY")
            .args(["review", "--usage", "anthropic:", "--as-of", AS_OF])
            .run();
        assert!(stderr.contains("`ANTHROPIC_ANALYTICS_KEY`"), "{stderr}");
    }
}

#[test]
fn review_help_shows_a_worked_example() {
    let (stdout, _, code) = run(&["review", "--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Worked example"), "{stdout}");
    assert!(
        stdout.contains("  orgplan review --usage $U --suggest"),
        "{stdout}"
    );
    assert!(stdout.contains("  orgplan plan "), "{stdout}");
    let (stdout, _, _) = run(&["--help"]);
    assert!(stdout.contains("review "), "{stdout}");
}

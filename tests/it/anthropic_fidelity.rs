//! `anthropic:` against the documented shapes the first real org will show: blanket
//! permission modes, spend limits of every scope, every organization role value, API-role
//! drift, a second apply at work (targets re-read before destructive writes), and the
//! connection through a proxy.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::anthropic::{against, apply, new_org, org_in_sync, plan_json, plan_ops, try_apply};
use crate::anthropic_server::{Spend, StandIn};
use crate::common::{Run, copy_policies};
use crate::http_standin::{listen, read_head};

/// The `anthropic` fixture copied into `dir/policies`, each (from, to) replaced in it.
fn policies(dir: &Path, edits: &[(&str, &str)]) -> String {
    copy_policies("tests/fixtures/anthropic", &dir.join("policies"), &|text| {
        edits
            .iter()
            .fold(text, |text, (from, to)| text.replace(from, to))
    })
}

/// The operations of a JSON plan.
fn operations(plan: &Value) -> &[Value] {
    plan["operations"]
        .as_array()
        .unwrap_or_else(|| panic!("{plan}"))
}

/// The entries of a JSON plan's `unverifiable` list.
fn unverifiable(plan: &Value) -> Vec<String> {
    plan["unverifiable"]
        .as_array()
        .unwrap_or_else(|| panic!("{plan}"))
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

const ALL_SIX: &str = "[chat, claude_code, api, web_search, connectors, file_upload]";

#[test]
fn blanket_permission_modes_grant_every_capability_and_an_unknown_action_is_unverifiable() {
    let (server, dir, fixture) = org_in_sync();
    let everything = policies(
        dir.path(),
        &[
            (
                "capabilities: [chat, api]\n",
                &format!("capabilities: {ALL_SIX}\n"),
            ),
            (
                "analyst: {capabilities: [chat, api]}",
                &format!("analyst: {{capabilities: {ALL_SIX}}}"),
            ),
        ],
    );
    for mode in ["capability_access_all", "capability_access_all_ga"] {
        server.org().role("analyst").permissions =
            vec![mode.into(), "permission_manage_members".into()];
        // A role granting everything reads as granting everything: nothing to change.
        assert!(
            plan_ops(&server, dir.path(), &everything).is_empty(),
            "{mode}"
        );
        // Against the fixture (chat and api only), the difference is real: a manual step.
        assert_eq!(
            plan_ops(&server, dir.path(), &fixture),
            ["role.update analyst (manual)"],
            "{mode}"
        );
    }
    // Admin-panel rows grant no capability.
    server.org().role("analyst").permissions =
        vec!["chat".into(), "api".into(), "permission_view_usage".into()];
    assert!(plan_ops(&server, dir.path(), &fixture).is_empty());
    // An action orgplan does not know: the role's capabilities are unverifiable, not
    // absent, so no change of them is proposed.
    server.org().role("analyst").permissions = vec!["chat".into(), "holodeck".into()];
    let plan = plan_json(&server, dir.path(), &fixture);
    assert!(operations(&plan).is_empty(), "{plan}");
    assert!(
        unverifiable(&plan)
            .contains(&"roles.analyst.capabilities (unknown permission `holodeck`)".to_owned()),
        "{plan}"
    );
}

#[test]
fn group_and_org_spend_limits_are_verified_and_a_difference_is_a_manual_step() {
    let (server, dir, fixture) = org_in_sync();
    // `ops` has the $100 monthly limit the policy asks for: verified, nothing to do.
    let plan = plan_json(&server, dir.path(), &fixture);
    assert!(operations(&plan).is_empty(), "{plan}");
    let open = unverifiable(&plan);
    assert!(
        !open.iter().any(|u| u == "groups.limits" || u == "org.caps"),
        "{open:?}"
    );
    assert!(
        open.contains(&"groups.limits.tokens".to_owned()),
        "{open:?}"
    );

    // Changed in claude.ai: a manual step naming the page.
    {
        let mut org = server.org();
        let ops = org.group("ops").id.clone();
        for limit in org.spend.iter_mut() {
            if limit.scope == "rbac_group" && limit.target == ops {
                limit.amount = Some("20000".into());
            }
        }
    }
    let plan = plan_json(&server, dir.path(), &fixture);
    let ops = operations(&plan);
    assert_eq!(ops.len(), 1, "{plan}");
    assert_eq!(ops[0]["op"], "group.update");
    assert_eq!(ops[0]["execution"], "manual");
    let instruction = ops[0]["instruction"].as_str().unwrap_or_default();
    assert!(
        instruction.contains("claude.ai › Admin settings › Usage limits")
            && instruction.contains("`limits.spend_usd.monthly` to 100"),
        "{instruction}"
    );
    server.org().group_limit("ops", "monthly", "10000");
    server
        .org()
        .spend
        .retain(|s| s.amount.as_deref() != Some("20000"));

    // The organization-wide limit is `org.caps`; a seat-tier limit has no policy
    // counterpart; a disabled organization limit is not in force.
    server.org().spend.push(Spend::new(
        "spl_tier",
        "seat_tier",
        "premium",
        "monthly",
        "7700",
    ));
    let mut disabled = Spend::new("spl_off", "organization", "", "weekly", "100");
    disabled.enabled = false;
    server.org().spend.push(disabled);
    assert!(plan_ops(&server, dir.path(), &fixture).is_empty());
    server.org().spend.push(Spend::new(
        "spl_org",
        "organization",
        "",
        "monthly",
        "500000",
    ));
    let plan = plan_json(&server, dir.path(), &fixture);
    let ops = operations(&plan);
    assert_eq!(ops.len(), 1, "{plan}");
    assert_eq!(ops[0]["op"], "org.update");
    assert_eq!(ops[0]["changes"][0]["field"], "caps.spend_usd.monthly");
    assert_eq!(ops[0]["changes"][0]["before"], 5000.0);
    // Declared, it is verified.
    let capped = policies(
        dir.path(),
        &[(
            "  unmanaged_users: keep\n",
            "  caps: {spend_usd: {monthly: 5000}}\n  unmanaged_users: keep\n",
        )],
    );
    assert!(plan_ops(&server, dir.path(), &capped).is_empty());
    // The spend list was read with its own beta header, and only the list.
    let org = server.org();
    assert!(org.log.iter().any(|(_, m, p, h)| {
        m == "GET"
            && p.starts_with("/v1/organizations/spend_limits")
            && h.iter()
                .any(|(n, v)| n == "anthropic-beta" && v == "spend-limit-reads-2026-09-26")
    }));
}

#[test]
fn every_role_value_is_mapped_and_an_unknown_one_is_reported_not_read_as_member() {
    let (server, dir, fixture) = org_in_sync();
    {
        let mut org = server.org();
        org.add_user("ma@acme.com", "membership_admin");
        org.add_user("dev@acme.com", "developer");
        org.add_user("odd@acme.com", "superuser");
        // A declared member whose role is a value orgplan does not know.
        org.user("lee@acme.com").role = "chief_wizard".into();
    }
    let plan = plan_json(&server, dir.path(), &fixture);
    // Lee's role is not compared (no `role` change proposed), and is reported.
    assert!(operations(&plan).is_empty(), "{plan}");
    let open = unverifiable(&plan);
    for entry in [
        "users.lee@acme.com.role (unknown API role `chief_wizard`)",
        "users.odd@acme.com.role (unknown API role `superuser`)",
    ] {
        assert!(open.contains(&entry.to_owned()), "{open:?}");
    }
    // `apply` lists them too (its plan is made after its read).
    let report = apply(&server, dir.path(), &fixture);
    assert!(
        report.contains("users.lee@acme.com.role (unknown API role `chief_wizard`)"),
        "{report}"
    );
    // The known values are read as what they mean: a membership admin is an admin.
    let out = dir.path().join("exported");
    let out_arg = out.display().to_string();
    let (_, stderr, code) = against(&server, dir.path())
        .args(["export", "--live", "anthropic:", "-o", &out_arg])
        .run();
    assert_eq!(code, 0, "{stderr}");
    let users = std::fs::read_to_string(out.join("users.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let line = |email: &str| {
        users
            .lines()
            .skip_while(|l| !l.contains(email))
            .take(4)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(line("ma@acme.com").contains("role: \"admin\""), "{users}");
    assert!(line("dev@acme.com").contains("role: \"member\""), "{users}");
    // A declared member made a membership admin is planned back to member.
    server.org().user("max@acme.com").role = "membership_admin".into();
    let ops = plan_ops(&server, dir.path(), &fixture);
    assert_eq!(ops, ["user.update max@acme.com (manual)"]);
}

#[test]
fn a_member_whose_api_role_disagrees_with_their_groups_is_fixed_through_the_api() {
    let (server, dir, fixture) = org_in_sync();
    // Lee's only group, `ops`, grants no custom role: `managed` is drift.
    server.org().user("lee@acme.com").role = "managed".into();
    let plan = plan_json(&server, dir.path(), &fixture);
    let ops = operations(&plan);
    assert_eq!(ops.len(), 1, "{plan}");
    assert_eq!(ops[0]["op"], "user.update");
    assert_eq!(ops[0]["target"], "lee@acme.com");
    assert_eq!(ops[0]["execution"], "provider");
    assert_eq!(ops[0]["changes"][0]["field"], "api_role");
    assert_eq!(ops[0]["changes"][0]["after"], "user");
    apply(&server, dir.path(), &fixture);
    assert_eq!(server.org().user("lee@acme.com").role, "user");
    assert!(plan_ops(&server, dir.path(), &fixture).is_empty());
}

/// `apply` that is expected to stop; (stdout + stderr, exit code).
fn apply_stopped(server: &StandIn, dir: &Path, policies: &str) -> (String, i32) {
    let (stdout, stderr, code) = try_apply(server, dir, policies);
    (format!("{stdout}{stderr}"), code)
}

#[test]
fn a_user_changed_or_removed_by_someone_else_since_the_apply_began_is_not_removed() {
    let (server, dir, _) = org_in_sync();
    let removing = policies(
        dir.path(),
        &[("unmanaged_users: keep", "unmanaged_users: remove")],
    );
    let old = server.org().add_user("old@acme.com", "user");
    assert_eq!(
        plan_ops(&server, dir.path(), &removing),
        ["user.remove old@acme.com (provider)"]
    );
    // Another admin makes them an owner between this apply's read and its write.
    server.org().before = Some((format!("GET /v1/organizations/users/{old}"), 0, |org| {
        org.user("old@acme.com").role = "owner".into()
    }));
    let (output, code) = apply_stopped(&server, dir.path(), &removing);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("stale: the user `old@acme.com` changed (API role now `owner`)"),
        "{output}"
    );
    assert!(server.org().users.iter().any(|u| u.email == "old@acme.com"));
    assert!(
        !server
            .org()
            .log
            .iter()
            .any(|(_, m, p, _)| m == "DELETE" && p.contains(&old))
    );
    // Another apply removed them already: stale too, nothing sent twice.
    server.org().user("old@acme.com").role = "user".into();
    server.org().before = Some((format!("GET /v1/organizations/users/{old}"), 0, |org| {
        org.users.retain(|u| u.email != "old@acme.com")
    }));
    let (output, code) = apply_stopped(&server, dir.path(), &removing);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("stale: the user `old@acme.com` is gone"),
        "{output}"
    );
}

#[test]
fn a_group_or_membership_changed_since_the_apply_began_is_not_deleted() {
    let (server, dir, fixture) = org_in_sync();
    // A membership the policy does not ask for.
    let sales = {
        let mut org = server.org();
        let lee = org.user_id("lee@acme.com");
        org.group("sales").members.push(lee);
        org.group("sales").id.clone()
    };
    assert_eq!(
        plan_ops(&server, dir.path(), &fixture),
        ["group.remove_member sales lee@acme.com (provider)"]
    );
    // Another apply takes Lee out of `sales` between this apply's read and its write: the
    // members are listed by the plan's read and by the apply's (which checks the whole
    // org), then once more right before the removal.
    server.org().before = Some((
        format!("GET /v1/organizations/rbac_groups/{sales}/members"),
        2,
        |org| {
            let lee = org.user_id("lee@acme.com");
            org.group("sales").members.retain(|m| *m != lee);
        },
    ));
    let (output, code) = apply_stopped(&server, dir.path(), &fixture);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("stale: `lee@acme.com` is no longer a member of the group `sales`"),
        "{output}"
    );
    assert!(
        !server
            .org()
            .log
            .iter()
            .any(|(_, m, p, _)| m == "DELETE" && p.contains("/members/"))
    );
    assert!(plan_ops(&server, dir.path(), &fixture).is_empty());

    // A group the policy does not declare; someone adds a member just before the delete.
    server.org().groups.push(crate::anthropic_server::Group {
        id: "rbac_group_legacy".into(),
        name: "legacy".into(),
        scim: false,
        role_ids: Vec::new(),
        members: Vec::new(),
    });
    assert_eq!(
        plan_ops(&server, dir.path(), &fixture),
        ["group.delete legacy (provider)"]
    );
    server.org().before = Some((
        "GET /v1/organizations/rbac_groups/rbac_group_legacy".to_owned(),
        0,
        |org| {
            let max = org.user_id("max@acme.com");
            org.group("legacy").members.push(max);
        },
    ));
    let (output, code) = apply_stopped(&server, dir.path(), &fixture);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("stale: the members of the group `legacy` changed"),
        "{output}"
    );
    assert!(server.org().groups.iter().any(|g| g.name == "legacy"));
}

/// A CONNECT proxy on 127.0.0.1 that tunnels to wherever it is asked; counts tunnels and
/// keeps the CONNECT lines.
fn connect_proxy() -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let count = Arc::new(AtomicUsize::new(0));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (counted, seen) = (Arc::clone(&count), Arc::clone(&lines));
    let address = listen(move |client| tunnel(client, &counted, &seen));
    (format!("http://{address}"), count, lines)
}

fn tunnel(client: TcpStream, count: &AtomicUsize, lines: &Mutex<Vec<String>>) {
    let Ok(read_half) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let Some((first, _)) = read_head(&mut reader) else {
        return;
    };
    let target = first
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    lines
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(first.trim_end().to_owned());
    // Loopback only: a test never sends traffic elsewhere.
    if !first.starts_with("CONNECT 127.0.0.1:") {
        let mut client = client;
        let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        return;
    }
    let Ok(upstream) = TcpStream::connect(&target) else {
        return;
    };
    count.fetch_add(1, Ordering::SeqCst);
    let mut client = client;
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let (Ok(mut up_read), Ok(mut client_write)) = (upstream.try_clone(), client.try_clone()) else {
        return;
    };
    let mut up_write = upstream;
    // Bytes the reader buffered past the CONNECT head belong to the tunnel.
    let buffered = reader.buffer().to_vec();
    let forward = std::thread::spawn(move || {
        let _ = up_write.write_all(&buffered);
        let mut inner = reader.into_inner();
        let _ = std::io::copy(&mut inner, &mut up_write);
        let _ = up_write.shutdown(std::net::Shutdown::Write);
    });
    let mut buf = [0u8; 8192];
    loop {
        match up_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if client_write.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = client_write.shutdown(std::net::Shutdown::Both);
    let _ = forward.join();
}

#[test]
fn requests_go_through_the_proxy_the_environment_names_unless_no_proxy_names_the_host() {
    let (server, dir, fixture) = new_org();
    let (proxy, tunnels, lines) = connect_proxy();
    let port = server.url.rsplit(':').next().unwrap_or_default().to_owned();
    let plan = |extra: &[(&str, &str)]| {
        let (stdout, stderr, code) = against(&server, dir.path())
            .envs(extra.iter().copied())
            .args(["plan", "-p", &fixture, "--live", "anthropic:"])
            .run();
        assert_eq!(code, 0, "{stdout}{stderr}");
    };
    let before = server.org().log.len();
    plan(&[("HTTP_PROXY", &proxy), ("NO_PROXY", "")]);
    let through = tunnels.load(Ordering::SeqCst);
    let requests = server.org().log.len() - before;
    // One tunnel per request (the stand-in closes every connection).
    assert_eq!(through, requests, "{:?}", lines.lock());
    assert!(
        lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .all(|l| *l == format!("CONNECT 127.0.0.1:{port} HTTP/1.1")),
        "{:?}",
        lines.lock()
    );
    // `NO_PROXY` names the host: straight there.
    plan(&[("HTTP_PROXY", &proxy), ("NO_PROXY", "localhost,127.0.0.1")]);
    assert_eq!(tunnels.load(Ordering::SeqCst), through);
    // `ALL_PROXY` is the fallback.
    plan(&[("ALL_PROXY", &proxy), ("NO_PROXY", "")]);
    assert!(tunnels.load(Ordering::SeqCst) > through);
}

#[test]
fn an_unreadable_ca_bundle_is_refused_before_any_request() {
    let (server, dir, fixture) = new_org();
    let bundle = dir.path().join("corp-ca.pem");
    std::fs::write(&bundle, "-----BEGIN NOTHING-----\n").unwrap_or_else(|e| panic!("{e}"));
    let bundle_arg = bundle.display().to_string();
    let (stdout, stderr, code) = against(&server, dir.path())
        .env("SSL_CERT_FILE", &bundle_arg)
        .args(["plan", "-p", &fixture, "--live", "anthropic:"])
        .run();
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("`SSL_CERT_FILE`") && stderr.contains("corp-ca.pem"),
        "{stderr}"
    );
    assert!(server.org().log.is_empty());
}

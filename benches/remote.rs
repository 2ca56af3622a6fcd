//! Remote benchmarks of the SCIM and Admin API providers (issue 15); `benches/remote.sh`
//! runs them side by side with the real scim2-server and prints one table.
//!
//! - `standin`: a synthetic org (`orgplan synth`) applied to, then planned against, the
//!   stand-in SCIM server of the tests (`tests/it/scim_standin.rs`) with a fixed latency
//!   added to every answer. Prints requests made vs the minimum and wall time vs the
//!   latency floor (`minimum requests × latency / parallelism`): apply with `--parallelism`
//!   writers (default 4, as `apply`), plan with 1 and `--readers` (default 8, as `plan`).
//! - `minimal`: the server's own capacity: the minimal request set of a plan (one POST per
//!   user and group, one PATCH per group with all its members) sent by N plain client
//!   threads, no reads, no checks. Prints the wall time.
//! - `admin`: an org of `--users` users in `--groups` groups (members spread evenly, each
//!   group granted the custom role) on the stand-in Admin API of the tests
//!   (`tests/it/anthropic_server.rs`) answering 1,000 items a page after a fixed latency;
//!   exported, then planned against with 1 and `--readers` (default 8) readers. Prints
//!   requests vs the minimum and wall time vs the latency floor.
//!
//! ```sh
//! cargo bench --bench remote -- standin --users 1000 --latency-ms 20 --parallelism 4 --readers 8
//! cargo bench --bench remote -- admin --users 2000 --groups 100 --latency-ms 50 --readers 8
//! ORGPLAN_SCIM_TOKEN=… cargo bench --bench remote -- minimal --url scim+http://127.0.0.1:PORT/v2 --plan plan.json --threads 4
//! ```
//!
//! `cargo test --all-targets` runs it once (without `--bench`): a 40-user stand-in run
//! and a 40-user Admin API run, without latency, so the suite stays quick and the
//! benchmark cannot rot.

#![allow(
    clippy::panic,
    reason = "a benchmark that cannot run stops with the reason"
)]
#![expect(
    clippy::expect_used,
    reason = "a benchmark that cannot run stops with the reason"
)]

#[path = "../tests/it/http_standin.rs"]
mod http_standin;

#[path = "../tests/it/scim_standin.rs"]
mod scim_standin;

#[path = "../tests/it/anthropic_server.rs"]
#[allow(dead_code, reason = "the benchmark uses a part")]
mod anthropic_server;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use scim_standin::{Shared, TOKEN, lock};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let text = |name: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| panic!("{name} is required"))
    };
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this once without:
    // then a 40-user run with no latency, so the suite stays quick.
    if !args.iter().any(|a| a == "--bench") && args.first().is_none_or(|a| a.starts_with('-')) {
        standin(40, Duration::ZERO, 4, 8, 100);
        admin(40, 4, Duration::ZERO, 8);
        return;
    }
    match args.first().map(String::as_str) {
        Some("standin") => standin(
            number("--users", 1000),
            Duration::from_millis(number("--latency-ms", 20) as u64),
            number("--parallelism", 4),
            number("--readers", 8),
            number("--page", 100),
        ),
        Some("admin") => admin(
            number("--users", 2000),
            number("--groups", 100),
            Duration::from_millis(number("--latency-ms", 50) as u64),
            number("--readers", 8),
        ),
        Some("minimal") => minimal(
            &text("--url"),
            Path::new(&text("--plan")),
            number("--threads", 4),
        ),
        // `cargo bench` without arguments: the stand-in at its defaults.
        _ => standin(1000, Duration::from_millis(20), 4, 8, 100),
    }
}

/// `orgplan ARGS` against the SCIM stand-in (its token set).
fn orgplan(args: &[&str]) -> (String, Duration) {
    orgplan_with(&[("ORGPLAN_SCIM_TOKEN", TOKEN)], args)
}

/// `orgplan ARGS` with `env` set: its stdout and wall time; a plan may exit 0 or 2.
fn orgplan_with(env: &[(&str, &str)], args: &[&str]) -> (String, Duration) {
    let start = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_orgplan"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("orgplan runs");
    let took = start.elapsed();
    let code = output.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 2,
        "orgplan {args:?} exited {code}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (String::from_utf8_lossy(&output.stdout).into_owned(), took)
}

fn total(store: &Shared, prefix: &str) -> usize {
    lock(store)
        .requests
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, n)| n)
        .sum()
}

/// One markdown row: scenario, requests, minimum, wall, floor, wall / floor.
fn row(scenario: &str, requests: usize, minimum: usize, wall: Duration, floor: Duration) {
    let ratio = if floor.is_zero() {
        "n/a".to_owned()
    } else {
        format!("{:.2}×", wall.as_secs_f64() / floor.as_secs_f64())
    };
    println!(
        "| {scenario} | {requests} | {minimum} | {:.2} s | {:.2} s | {ratio} |",
        wall.as_secs_f64(),
        floor.as_secs_f64()
    );
}

fn standin(users: usize, latency: Duration, parallelism: usize, readers: usize, page: usize) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let org = dir.path().join("org");
    let org = org.to_str().expect("a UTF-8 path");
    orgplan(&[
        "synth",
        "--users",
        &users.to_string(),
        "--seed",
        "1",
        "-o",
        org,
    ]);
    let audit = dir.path().join("audit.jsonl");
    let audit = audit.to_str().expect("a UTF-8 path");
    let store: Shared = Arc::default();
    {
        let mut s = lock(&store);
        s.latency = latency;
        s.page_max = Some(page);
    }
    let url = scim_standin::start(Arc::clone(&store));
    let par = parallelism.to_string();
    let floor = |minimum: usize, parallelism: usize| {
        latency.saturating_mul(u32::try_from(minimum).unwrap_or(u32::MAX)) / parallelism as u32
    };
    let ms = latency.as_millis();

    // Apply to the empty server: the minimum is one POST per user and group and one PATCH
    // per group with members (plus the user PATCHes the plan asks for: suspensions).
    let (_, wall) = orgplan(&[
        "apply",
        "--auto-approve",
        "-p",
        org,
        "--live",
        &url,
        "--audit",
        audit,
        "--parallelism",
        &par,
    ]);
    let (created_users, created_groups, filled) = {
        let s = lock(&store);
        let filled = s
            .groups
            .values()
            .filter(|g| g["members"].as_array().is_some_and(|m| !m.is_empty()))
            .count();
        (s.users.len(), s.groups.len(), filled)
    };
    let suspends = total(&store, "PATCH /Users");
    let minimum = created_users + created_groups + filled + suspends;
    row(
        &format!(
            "SCIM stand-in, apply {created_users} users / {created_groups} groups, {ms} ms, parallelism {parallelism}"
        ),
        total(&store, ""),
        minimum,
        wall,
        floor(minimum, parallelism),
    );

    // Plan against the populated server: discovery, then every page of users and groups
    // (with their members).
    let minimum = 3 + created_users.div_ceil(page) + created_groups.div_ceil(page);
    for readers in [1, readers] {
        lock(&store).requests.clear();
        let (out, wall) = orgplan(&[
            "plan",
            "-p",
            org,
            "--live",
            &url,
            "--parallelism",
            &readers.to_string(),
        ]);
        assert!(out.contains("No changes"), "{out}");
        row(
            &format!(
                "SCIM stand-in, plan {created_users} users / {created_groups} groups, {ms} ms, {page} a page, parallelism {readers}"
            ),
            total(&store, ""),
            minimum,
            wall,
            floor(minimum, readers),
        );
    }
}

/// `orgplan` against the stand-in Admin API at `url`.
fn orgplan_admin(url: &str, args: &[&str]) -> (String, Duration) {
    orgplan_with(
        &[
            ("ANTHROPIC_ADMIN_KEY", anthropic_server::KEY),
            ("ORGPLAN_ANTHROPIC_URL", url),
        ],
        args,
    )
}

/// Export, then plan against, an org of `users` users in `groups` groups on the stand-in
/// Admin API with `latency` per answer; plan with 1 and `readers` readers.
fn admin(users: usize, groups: usize, latency: Duration, readers: usize) {
    const PAGE: usize = 1000;
    let server = anthropic_server::StandIn::start();
    {
        let mut org = server.org();
        org.page = PAGE;
        let emails: Vec<String> = (0..users).map(|i| format!("user{i:05}@acme.com")).collect();
        // Every user is in a group granted a role: the API role of such a member is
        // `managed`.
        for email in &emails {
            org.add_user(email, "managed");
        }
        let per = users.div_ceil(groups.max(1)).max(1);
        for (g, chunk) in emails.chunks(per).enumerate() {
            let members: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let name = format!("team-{g:03}");
            org.add_group(&name, &members);
            org.grant(&name, "analyst");
        }
    }
    let (accounts, custom, made) = {
        let org = server.org();
        let custom = org.roles.iter().filter(|r| r.custom).count();
        (org.users.len(), custom, org.groups.len())
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("org");
    let out = out.to_str().expect("a UTF-8 path");
    orgplan_admin(&server.url, &["export", "--live", "anthropic:", "-o", out]);
    server.org().latency = latency;
    // The minimum a reader needs: the org, every page of users (the stand-in's owner
    // included), one of invites, roles and groups, each custom role's permissions and each
    // group's members (one page each here), one of spend limits.
    let minimum = 1 + accounts.div_ceil(PAGE).max(1) + 1 + 1 + custom + 1 + made + 1;
    let ms = latency.as_millis();
    for n in [1, readers] {
        server.org().log.clear();
        let (stdout, wall) = orgplan_admin(
            &server.url,
            &[
                "plan",
                "-p",
                out,
                "--live",
                "anthropic:",
                "--parallelism",
                &n.to_string(),
            ],
        );
        assert!(stdout.contains("No changes"), "{stdout}");
        let requests = server.org().log.len();
        let floor = latency.saturating_mul(u32::try_from(minimum).unwrap_or(u32::MAX)) / n as u32;
        row(
            &format!(
                "Admin API stand-in, plan {users} users / {made} groups, {ms} ms, {PAGE} a page, parallelism {n}"
            ),
            requests,
            minimum,
            wall,
            floor,
        );
    }
}

/// The minimal request set of the plan in `plan`, sent by `threads` plain threads.
fn minimal(url: &str, plan: &Path, threads: usize) {
    let base = url.strip_prefix("scim+").unwrap_or(url).to_owned();
    let token = std::env::var("ORGPLAN_SCIM_TOKEN").expect("ORGPLAN_SCIM_TOKEN is set");
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(plan).expect("the plan file")).expect("JSON");
    let operations = plan["operations"].as_array().cloned().unwrap_or_default();
    let of =
        |kind: &str| -> Vec<&Value> { operations.iter().filter(|o| o["op"] == kind).collect() };
    let users: Vec<String> = of("user.invite")
        .iter()
        .filter_map(|o| o["target"].as_str().map(str::to_owned))
        .collect();
    let groups: Vec<String> = of("group.create")
        .iter()
        .filter_map(|o| o["target"].as_str().map(str::to_owned))
        .collect();
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for op in of("group.add_member") {
        if let (Some(group), Some(member)) = (op["target"].as_str(), op["member"].as_str()) {
            members
                .entry(group.to_owned())
                .or_default()
                .push(member.to_owned());
        }
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let send = |method: &str, path: &str, body: &Value| -> Value {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .expect("a request");
        let mut response = agent.run(request).expect("an answer");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        assert!(status < 300, "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    let id = |v: Value| v["id"].as_str().unwrap_or_default().to_owned();
    let start = Instant::now();
    let user_ids = orgplan::provider::backoff::bounded_map(&users, threads, |email| {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": email,
            "displayName": email,
            "name": {"formatted": email},
            "emails": [{"value": email, "type": "work", "primary": true}],
            "active": true,
            "roles": [{"value": "user", "primary": true}],
            "entitlements": [{"value": "seat:standard"}],
        });
        (email.clone(), id(send("POST", "/Users", &body)))
    });
    let user_ids: BTreeMap<String, String> = user_ids.into_iter().collect();
    let group_ids = orgplan::provider::backoff::bounded_map(&groups, threads, |name| {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
        });
        (name.clone(), id(send("POST", "/Groups", &body)))
    });
    let patches: Vec<(String, Vec<Value>)> = group_ids
        .iter()
        .filter_map(|(name, gid)| {
            let values: Vec<Value> = members
                .get(name)?
                .iter()
                .filter_map(|m| user_ids.get(m))
                .map(|uid| json!({"value": uid}))
                .collect();
            Some((gid.clone(), values))
        })
        .collect();
    orgplan::provider::backoff::bounded_map(&patches, threads, |(gid, values)| {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": values}],
        });
        send("PATCH", &format!("/Groups/{gid}"), &body);
    });
    let wall = start.elapsed();
    println!(
        "minimal {} requests {:.3} s",
        users.len() + groups.len() + patches.len(),
        wall.as_secs_f64()
    );
}

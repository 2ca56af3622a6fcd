//! The SCIM provider against a small stand-in SCIM server (a thread on 127.0.0.1 with
//! users and groups in memory) that injects faults: 429 with `Retry-After`, 500s, a
//! connection dropped after the request landed, a response slower than the timeout, and
//! a user the server refuses (400) until the fault is removed.

use std::io::BufReader;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::common::{Printed, Run, orgplan, root, temp};
use crate::http_standin::{listen, read_head, respond};
use crate::scim_standin::{Fault, FaultKind, Shared, TOKEN, lock, start};

/// orgplan with the stand-in's token and fast retry settings.
fn scim() -> assert_cmd::Command {
    let mut command = orgplan();
    command
        .env("ORGPLAN_SCIM_TOKEN", TOKEN)
        .env("ORGPLAN_HTTP_TIMEOUT", "1")
        .env("ORGPLAN_HTTP_ATTEMPTS", "4")
        .env("ORGPLAN_HTTP_BACKOFF_MS", "10");
    command
}

/// `apply --auto-approve` against the stand-in at `url`, auditing to `audit`.
fn apply(url: &str, audit: &str) -> Printed {
    scim()
        .args(["apply", "--auto-approve", "--live", url, "--audit", audit])
        .run()
}

/// `plan ARGS… --detailed-exitcode`, which must find the org in step with the policy.
fn in_step(args: &[&str]) -> Printed {
    let (out, err, code) = scim()
        .arg("plan")
        .args(args)
        .arg("--detailed-exitcode")
        .run();
    assert_eq!(code, 0, "{out}{err}");
    (out, err, code)
}

/// A stand-in SCIM server holding an empty org: its store (to set faults and look
/// inside) and its URL.
fn stand_in() -> (Shared, String) {
    let store: Shared = Arc::default();
    let url = start(Arc::clone(&store));
    (store, url)
}

/// A temporary folder and the path of an audit file in it.
fn audit_file() -> (tempfile::TempDir, String) {
    let dir = temp();
    let audit = dir
        .path()
        .join("audit.jsonl")
        .to_string_lossy()
        .into_owned();
    (dir, audit)
}

fn no_doubles(store: &Shared) {
    let s = lock(store);
    let mut seen = std::collections::BTreeSet::new();
    for create in &s.creates {
        assert!(seen.insert(create.clone()), "created twice: {create}");
    }
    let names: Vec<&str> = s
        .users
        .values()
        .filter_map(|u| u["userName"].as_str())
        .collect();
    let unique: std::collections::BTreeSet<&&str> = names.iter().collect();
    assert_eq!(names.len(), unique.len(), "duplicate users: {names:?}");
}

#[test]
fn apply_converges_through_faults_and_reports_a_partial_failure() {
    let (store, url) = stand_in();
    let (dir, audit) = audit_file();
    let plan_file = dir.path().join("plan.json");
    let plan_file = plan_file.to_string_lossy().into_owned();
    {
        let mut s = lock(&store);
        s.faults = vec![
            Fault {
                method: "GET",
                path: "/ServiceProviderConfig",
                kind: FaultKind::TooMany,
            },
            Fault {
                method: "GET",
                path: "/Users",
                kind: FaultKind::Error,
            },
            Fault {
                method: "POST",
                path: "/Users",
                kind: FaultKind::DropAfter,
            },
            Fault {
                method: "PATCH",
                path: "/Groups",
                kind: FaultKind::DropAfter,
            },
            Fault {
                method: "POST",
                path: "/Groups",
                kind: FaultKind::Slow,
            },
            Fault {
                method: "POST",
                path: "/Users",
                kind: FaultKind::TooMany,
            },
        ];
        s.refuse = Some("sofia.rossi@acme.com".into());
    }

    // A plan saved with the token set: neither the plan nor the output holds it.
    let (out, err, code) = scim()
        .args(["plan", "--live", &url, "-o", &plan_file])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Unverifiable"), "{out}");

    // One user is refused: the apply stops with what landed and what did not.
    let (out, err, code) = apply(&url, &audit);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("apply stopped at `user.invite` on `sofia.rossi@acme.com`"),
        "{err}"
    );
    assert!(
        err.contains("applied (") && err.contains("not applied ("),
        "{err}"
    );
    assert!(
        err.contains("group.add_member"),
        "memberships not run are listed: {err}"
    );
    no_doubles(&store);
    let landed = std::fs::read_to_string(&audit).unwrap_or_default();
    assert!(
        landed.contains("\"user.invite\"") && !landed.contains("sofia.rossi"),
        "{landed}"
    );

    // The fault is removed: a re-run finishes the job, and nothing is left to do.
    lock(&store).refuse = None;
    let (out, err, code) = scim()
        .args([
            "apply",
            "--auto-approve",
            "--live",
            &url,
            "--audit",
            &audit,
            "--parallelism",
            "3",
        ])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    let (out, err, _) = in_step(&["--live", &url]);
    assert!(out.contains("No changes"), "{out}");
    no_doubles(&store);
    assert!(lock(&store).faults.is_empty(), "every fault was met");
    {
        let s = lock(&store);
        assert_eq!(s.users.len(), 21);
        assert_eq!(s.groups.len(), 5);
    }

    // The token is nowhere: not in any output, the saved plan or the audit file.
    let everything = format!(
        "{out}{err}{}{}",
        std::fs::read_to_string(&plan_file).unwrap_or_default(),
        std::fs::read_to_string(&audit).unwrap_or_default()
    );
    assert!(!everything.contains(TOKEN), "the token leaked");
    // The saved plan keeps the URL, without credentials.
    let saved = std::fs::read_to_string(&plan_file).unwrap_or_default();
    assert!(saved.contains(&format!("\"live\": \"{url}\"")), "{saved}");

    // Someone suspends a user by hand; the policy wants it active. The server answers 412
    // to the PATCH (it changed again meanwhile): the apply stops, overwriting nothing.
    {
        let mut s = lock(&store);
        if let Some(kate) = s
            .users
            .values_mut()
            .find(|u| u["userName"] == "kate.sullivan@acme.com")
        {
            kate["active"] = json!(false);
        }
        s.faults = vec![Fault {
            method: "PATCH",
            path: "/Users",
            kind: FaultKind::Changed,
        }];
    }
    let (out, err, code) = apply(&url, &audit);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("user.reactivate")
            && err.contains("stale:")
            && err.contains("nothing overwritten"),
        "{err}"
    );
    let (out, err, code) = apply(&url, &audit);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("user.reactivate kate.sullivan@acme.com"),
        "{out}"
    );
}

#[test]
fn a_wrong_token_says_which_variable_to_set() {
    let (_, url) = stand_in();
    let (_, err, code) = orgplan()
        .args(["plan", "--live", &url])
        .env("ORGPLAN_SCIM_TOKEN", "wrong-token-123")
        .run();
    assert_eq!(code, 1);
    assert!(
        err.contains("401") && err.contains("ORGPLAN_SCIM_TOKEN"),
        "{err}"
    );
    assert!(!err.contains("wrong-token-123"), "{err}");
}

#[test]
fn an_unreachable_server_fails_without_printing_credentials() {
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let uri = format!("scim+http://user:secret@127.0.0.1:{port}/scim/v2?token=abc");
    let (_, err, code) = orgplan()
        .args(["plan", "--live", &uri])
        .env("ORGPLAN_SCIM_TOKEN", TOKEN)
        .env("ORGPLAN_HTTP_ATTEMPTS", "2")
        .env("ORGPLAN_HTTP_BACKOFF_MS", "10")
        .run();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("failed after 2 attempts"), "{err}");
    for secret in ["secret", "abc", TOKEN] {
        assert!(!err.contains(secret), "{err}");
    }
}

#[test]
fn an_error_detail_echoing_the_authorization_header_does_not_print_the_token() {
    let (store, url) = stand_in();
    lock(&store).faults = vec![Fault {
        method: "GET",
        path: "/ServiceProviderConfig",
        kind: FaultKind::EchoAuth,
    }];
    let (out, err, code) = scim().args(["plan", "--live", &url]).run();
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("answered 400"), "{err}");
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN), "{err}");
}

#[test]
fn an_endpoint_on_another_host_is_never_sent_the_token() {
    // A second listener stands for a host the token must never reach.
    let reached = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&reached);
    let other = listen(move |stream| {
        let Some((request_line, _)) = read_head(&mut BufReader::new(&stream)) else {
            return;
        };
        lock_log(&log).push(request_line);
        let body = r#"{"totalResults":0,"Resources":[]}"#;
        respond(&stream, 200, "", "application/scim+json", body);
    });
    let other_url = format!("http://{other}/Users");
    let (store, url) = stand_in();
    lock(&store).users_endpoint = Some(other_url.clone());
    let (out, err, code) = scim().args(["plan", "--live", &url]).run();
    assert_eq!(code, 1, "{out}{err}");
    // Refused for the endpoint, not failing earlier for some other reason.
    assert!(
        err.contains(&format!(
            "refusing to send a request outside the base URL `{}`: `{other_url}",
            url.trim_start_matches("scim+")
        )),
        "{err}"
    );
    assert!(lock_log(&reached).is_empty(), "{:?}", lock_log(&reached));
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN), "{err}");
}

fn lock_log(log: &Mutex<Vec<String>>) -> std::sync::MutexGuard<'_, Vec<String>> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_server_that_ignores_start_index_does_not_page_forever() {
    let (store, url) = stand_in();
    {
        let mut s = lock(&store);
        s.users.insert(
            "id1".into(),
            json!({"id": "id1", "userName": "ana@acme.com", "active": true}),
        );
        s.ignore_paging = true;
    }
    let (_, err, code) = orgplan()
        .args(["plan", "--live", &url])
        .env("ORGPLAN_SCIM_TOKEN", TOKEN)
        .timeout(Duration::from_secs(30))
        .run();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("startIndex"), "{err}");
}

#[test]
fn an_audit_file_that_cannot_be_written_still_reports_what_landed() {
    let (store, url) = stand_in();
    let dir = temp();
    // A regular file where the audit file's folder should be.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "").unwrap_or_else(|e| panic!("{e}"));
    let audit = blocker.join("audit.jsonl").to_string_lossy().into_owned();
    let (out, err, code) = apply(&url, &audit);
    assert_eq!(code, 1, "{out}{err}");
    // Groups are created first: they landed before the audit file was first written.
    let groups = lock(&store).groups.len();
    assert!(groups > 0, "something landed");
    assert!(
        err.contains("landed, but cannot write the audit file"),
        "{err}"
    );
    assert!(
        err.contains(&format!("applied ({groups}):")) && err.contains("group.create"),
        "what landed is listed: {err}"
    );
}

#[test]
fn a_refused_member_inside_a_batch_is_reported_and_the_rest_of_the_group_lands() {
    let (store, url) = stand_in();
    let (_dir, audit) = audit_file();
    lock(&store).refuse_member = Some("liam.obrien@acme.com".into());

    let (out, err, code) = apply(&url, &audit);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("apply stopped at `group.add_member` on `sales`")
            && err.contains("member `liam.obrien@acme.com` refused"),
        "{err}"
    );
    // Exactly the refused member did not land: it alone is listed as not applied.
    let not_applied = err.split("not applied (").nth(1).unwrap_or_default();
    assert!(not_applied.starts_with("1):"), "{err}");
    assert!(not_applied.contains("liam.obrien@acme.com"), "{err}");
    let sales_members = |store: &Shared| -> Vec<String> {
        let s = lock(store);
        let users: std::collections::BTreeMap<&str, &str> = s
            .users
            .iter()
            .filter_map(|(id, u)| Some((id.as_str(), u["userName"].as_str()?)))
            .collect();
        let mut names: Vec<String> = s
            .groups
            .values()
            .find(|g| g["displayName"] == "sales")
            .and_then(|g| g["members"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|m| users.get(m["value"].as_str()?).map(|n| (*n).to_owned()))
            .collect();
        names.sort();
        names
    };
    let landed = sales_members(&store);
    assert!(
        !landed.iter().any(|n| n == "liam.obrien@acme.com"),
        "{landed:?}"
    );
    assert!(
        landed.iter().any(|n| n == "kate.sullivan@acme.com"),
        "{landed:?}"
    );
    let trail = std::fs::read_to_string(&audit).unwrap_or_default();
    assert!(trail.contains("kate.sullivan@acme.com") && trail.contains("\"group.add_member\""));
    no_doubles(&store);

    // The server takes the member now: a re-run adds it alone and nothing twice.
    {
        let mut s = lock(&store);
        s.refuse_member = None;
        s.requests.clear();
    }
    let (out, err, code) = apply(&url, &audit);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("liam.obrien@acme.com"), "{out}");
    assert_eq!(
        lock(&store).requests.get("PATCH /Groups"),
        Some(&1),
        "one PATCH"
    );
    in_step(&["--live", &url]);
    assert_eq!(sales_members(&store).len(), landed.len() + 1);
    no_doubles(&store);
}

#[test]
fn memberships_are_one_patch_per_group_and_reads_need_no_request_per_group() {
    let (store, url) = stand_in();
    let (dir, audit) = audit_file();
    let (out, err, code) = apply(&url, &audit);
    assert_eq!(code, 0, "{out}{err}");
    let (groups, users, memberships) = {
        let s = lock(&store);
        let memberships: usize = s
            .groups
            .values()
            .map(|g| g["members"].as_array().map_or(0, Vec::len))
            .sum();
        (s.groups.len(), s.users.len(), memberships)
    };
    assert!(memberships > groups, "groups have several members each");
    {
        let s = lock(&store);
        // One PATCH per group: its members all at once, none one by one.
        assert_eq!(
            s.requests.get("PATCH /Groups"),
            Some(&groups),
            "{:?}",
            s.requests
        );
        assert_eq!(
            s.requests.get("POST /Groups"),
            Some(&groups),
            "{:?}",
            s.requests
        );
        assert_eq!(
            s.requests.get("POST /Users"),
            Some(&users),
            "{:?}",
            s.requests
        );
    }

    // Plan of the populated org: users and groups (with their members) are listed page
    // by page (7 a page here), never one GET per group.
    lock(&store).requests.clear();
    let (out, err, code) = scim()
        .args(["plan", "--live", &url, "--parallelism", "3"])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes"), "{out}");
    let gets: usize = lock(&store)
        .requests
        .iter()
        .filter(|(k, _)| k.starts_with("GET "))
        .map(|(_, n)| n)
        .sum();
    // Discovery (3) + user pages + group pages.
    let minimum = 3 + users.div_ceil(7) + groups.div_ceil(7);
    assert_eq!(gets, minimum, "{:?}", lock(&store).requests);

    // A new member of an existing group, and a new group whose members all exist: the
    // group's POST carries them, so no PATCH at all.
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap_or_else(|e| panic!("{e}"));
    for entry in std::fs::read_dir(root().join("policies"))
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_else(|e| panic!("{e}"));
        let text = text.replace(
            "kate.sullivan@acme.com: {name: Kate Sullivan, groups: [sales]}",
            "kate.sullivan@acme.com: {name: Kate Sullivan, groups: [sales, travel]}\n  liam.obrien@acme.com: {name: Liam O'Brien, groups: [sales, travel]}",
        );
        let text = text.replace(
            "  liam.obrien@acme.com: {name: Liam O'Brien, groups: [sales]}\n",
            "",
        );
        std::fs::write(policies.join(entry.file_name()), text).unwrap_or_else(|e| panic!("{e}"));
    }
    let groups_yaml = policies.join("groups.yaml");
    let mut text = std::fs::read_to_string(&groups_yaml).unwrap_or_else(|e| panic!("{e}"));
    text.push_str("\n  travel:\n    description: Travel desk\n");
    std::fs::write(&groups_yaml, text).unwrap_or_else(|e| panic!("{e}"));
    let p = policies.to_string_lossy().into_owned();
    let (out, err, code) = scim().args(["plan", "-p", &p, "--live", &url]).run();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("travel"), "{out}");
    lock(&store).requests.clear();
    let (out, err, code) = scim()
        .args([
            "apply",
            "--auto-approve",
            "-p",
            &p,
            "--live",
            &url,
            "--audit",
            &audit,
        ])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("group.add_member travel"), "{out}");
    {
        let s = lock(&store);
        assert_eq!(s.requests.get("POST /Groups"), Some(&1), "{:?}", s.requests);
        assert_eq!(s.requests.get("PATCH /Groups"), None, "{:?}", s.requests);
        let travel = s.groups.values().find(|g| g["displayName"] == "travel");
        let members = travel
            .and_then(|g| g["members"].as_array())
            .map_or(0, Vec::len);
        assert_eq!(members, 2);
    }
    in_step(&["-p", &p, "--live", &url]);
    no_doubles(&store);
}

#[test]
fn a_group_the_apply_created_is_not_read_again_before_its_membership_patch() {
    let (store, url) = stand_in();
    lock(&store).versions = true;
    let (_dir, audit) = audit_file();
    let (out, err, code) = apply(&url, &audit);
    // The server wants `If-Match` on every write (428 without, 412 when stale): success
    // means every PATCH named the version the POST answered.
    assert_eq!(code, 0, "{out}{err}");
    let s = lock(&store);
    let groups = s.groups.len();
    assert_eq!(
        s.requests.get("PATCH /Groups"),
        Some(&groups),
        "{:?}",
        s.requests
    );
    // Two lists (the plan's read and the apply's), no read of any one group.
    assert_eq!(s.requests.get("GET /Groups"), Some(&2), "{:?}", s.requests);
    drop(s);
    in_step(&["--live", &url]);
    no_doubles(&store);
}

#[test]
fn apply_audit_puts_the_scim_trail_where_it_says() {
    let store: Shared = Arc::default();
    let url = start(Arc::clone(&store));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let trail = dir.path().join("trails").join("scim.jsonl");
    let trail_arg = trail.to_string_lossy().into_owned();
    let (out, err, code) = scim()
        .args([
            "apply",
            "--auto-approve",
            "--live",
            &url,
            "--audit",
            &trail_arg,
        ])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("Audit trail: {trail_arg}")), "{out}");
    // One line per operation the report lists as applied, each a record.
    let applied = out
        .lines()
        .find_map(|l| l.strip_prefix("Apply complete: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no count: {out}"));
    let lines = std::fs::read_to_string(&trail).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lines.lines().count(), applied, "{lines}");
    for line in lines.lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(record.get("plan_digest").is_some(), "{line}");
    }
}

#[test]
fn apply_format_json_reports_what_landed_and_what_did_not_when_it_stops_midway() {
    let store: Shared = Arc::default();
    let url = start(Arc::clone(&store));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let audit = dir.path().join("audit.jsonl");
    let audit = audit.to_string_lossy().into_owned();
    lock(&store).refuse_member = Some("liam.obrien@acme.com".into());

    let (out, err, code) = scim()
        .args([
            "apply",
            "--auto-approve",
            "--live",
            &url,
            "--audit",
            &audit,
            "--format",
            "json",
        ])
        .run();
    // The exit code and the error on stderr are those of the human output.
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("apply stopped at `group.add_member` on `sales`"),
        "{err}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not one JSON report: {e}\n{out}"));
    assert_eq!(report["live"], url.as_str(), "{out}");
    assert_eq!(report["error"]["op"], "group.add_member", "{out}");
    assert_eq!(report["error"]["target"], "sales", "{out}");
    let message = report["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("member `liam.obrien@acme.com` refused") && !message.contains('\n'),
        "{out}"
    );
    assert_eq!(report["audit_log"], audit.as_str(), "{out}");
    assert_eq!(
        report["plan_digest"].as_str().map(str::len),
        Some(64),
        "{out}"
    );
    // Exactly the refused member did not land.
    let not_applied = report["not_applied"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(not_applied.len(), 1, "{out}");
    assert_eq!(not_applied[0]["op"], "group.add_member", "{out}");
    assert_eq!(not_applied[0]["member"], "liam.obrien@acme.com", "{out}");
    // What landed is what the audit trail records, one line each, in order.
    let applied = report["applied"].as_array().cloned().unwrap_or_default();
    let trail = std::fs::read_to_string(&audit).unwrap_or_default();
    let recorded: Vec<serde_json::Value> = trail
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(!applied.is_empty(), "{out}");
    assert_eq!(applied.len(), recorded.len(), "{out}\n{trail}");
    for (op, record) in applied.iter().zip(&recorded) {
        assert_eq!(
            (&op["op"], &op["target"], &op["member"]),
            (&record["op"], &record["target"], &record["member"]),
            "{out}\n{trail}"
        );
    }
    assert!(report["manual"].is_array(), "{out}");

    // docs/formats.md shows this report with the same fields.
    let page = std::fs::read_to_string(crate::common::root().join("docs/formats.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    let section = page
        .split("### When an apply stops midway")
        .nth(1)
        .unwrap_or_else(|| panic!("docs/formats.md has no section on a stopped apply"));
    let example = section
        .split("```json\n")
        .nth(1)
        .and_then(|block| block.split("\n```").next())
        .unwrap_or_else(|| panic!("the section has no JSON example"));
    let example: serde_json::Value =
        serde_json::from_str(example).unwrap_or_else(|e| panic!("the example: {e}"));
    let keys = |value: &serde_json::Value| -> Vec<String> {
        value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&example), keys(&report), "{out}");
    assert_eq!(keys(&example["error"]), keys(&report["error"]), "{out}");
}

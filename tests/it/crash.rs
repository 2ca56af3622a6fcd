//! Crash safety of the file provider: `orgplan apply` killed with SIGKILL at any moment of
//! a large apply leaves the live file either the old or the new state, and the audit trail
//! never names an operation that did not land.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use orgplan::apply::AuditRecord;
use orgplan::live::LiveState;

const USERS: usize = 3000;
const ITERATIONS: u32 = 15;

/// A valid policy of `users` users spread over three groups.
fn big_policy(users: usize) -> String {
    let mut text = format!(
        "org:\n  name: Big\n  plan: enterprise\n  domains: [big.example]\n  seats: {{standard: {users}, premium: 0}}\n  capabilities: [chat]\n  safety: {{max_removals: 0}}\n\
         groups:\n  g0: {{}}\n  g1: {{}}\n  g2: {{}}\nusers:\n  owner@big.example: {{name: Owner, role: primary_owner, groups: [g0]}}\n"
    );
    for i in 1..users {
        let _ = writeln!(
            text,
            "  u{i}@big.example: {{name: User {i}, groups: [g{}]}}",
            i % 3
        );
    }
    text
}

fn parse(path: &Path) -> LiveState {
    let bytes = std::fs::read(path).expect("read a file");
    orgplan::provider::file::parse(path, &bytes).expect("a live state that reads")
}

/// Complete audit lines (a kill during the append may leave the last one cut short).
fn audit(path: &Path) -> Vec<AuditRecord> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn sigkill_during_a_large_apply_leaves_old_or_new_state() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let small = dir.path().join("small");
    let big = dir.path().join("big");
    for (folder, users) in [(&small, 10), (&big, USERS)] {
        std::fs::create_dir_all(folder).expect("create a folder");
        std::fs::write(folder.join("p.yaml"), big_policy(users)).expect("write a file");
    }
    let live = dir.path().join("live.json");
    let log = dir.path().join("live.json.audit.jsonl");
    let uri = format!("file:{}", live.display());
    let apply = |policy: &Path| {
        let mut command = std::process::Command::new(crate::common::binary());
        command
            .args(["apply", "--auto-approve", "--live", &uri, "-p"])
            .arg(policy)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        command
    };

    // The old state: the first 10 users.
    let status = apply(&small).status().expect("run orgplan");
    assert!(status.success());
    let old = std::fs::read(&live).expect("read a file");
    let reset = || {
        std::fs::write(&live, &old).expect("write a file");
        let _ = std::fs::remove_file(&log);
    };

    // One full run, to spread the kills over its length.
    reset();
    let start = Instant::now();
    let status = apply(&big).status().expect("run orgplan");
    let full = start.elapsed();
    assert!(status.success());
    let new = parse(&live);
    assert_eq!(new.users.len(), USERS);
    eprintln!("full apply of {USERS} users: {full:?}");

    let (mut old_seen, mut new_seen) = (0, 0);
    for i in 0..ITERATIONS {
        reset();
        let delay = full.mul_f64(kill_at(i));
        let mut child = apply(&big).spawn().expect("start orgplan");
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();

        let bytes = std::fs::read(&live).expect("read a file");
        let records = audit(&log);
        if bytes == old {
            old_seen += 1;
            assert!(
                records.is_empty(),
                "audit names operations that did not land"
            );
        } else {
            new_seen += 1;
            assert_eq!(
                parse(&live),
                new,
                "iteration {i}: neither old nor new state"
            );
            for record in &records {
                let landed = match &record.member {
                    Some(member) => new.members_of(&record.target).contains(member.as_str()),
                    None => {
                        record.target == "org"
                            || new.users.contains_key(&record.target)
                            || new.groups.contains_key(&record.target)
                    }
                };
                assert!(landed, "audit names {record:?}, which did not land");
            }
        }
    }
    eprintln!("after {ITERATIONS} kills: {old_seen} old states, {new_seen} new states");
    assert!(
        old_seen > 0 && new_seen > 0,
        "both outcomes must be exercised: {old_seen} old states, {new_seen} new states"
    );
}

/// When iteration `i` kills the apply, as a fraction of a full run. Most of a run is
/// loading and planning and the write is at its end, so the kills are spread over the
/// second half of the run; the first lands long before the write (the old state for
/// sure), the last long after the run's end (the new state, however loaded the machine).
fn kill_at(i: u32) -> f64 {
    match i {
        0 => 0.05,
        i if i + 1 == ITERATIONS => 4.0,
        i => 0.4 + 0.7 * f64::from(i) / f64::from(ITERATIONS),
    }
}

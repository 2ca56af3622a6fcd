//! Benchmarks of the pipeline on synthetic orgs of 1k, 10k and 100k users
//! (`orgplan synth`): load + validate, resolve every user, diff + plan, the whole
//! `orgplan plan` path, the markdown comment with its access changes, `orgplan test`
//! with a `users: all` test, and the whole `orgplan review` path with usage for every user
//! (`whole_review`, beside `whole_plan`). Run with `cargo bench`; `benches/measure.sh`
//! measures the binary.

#![expect(
    clippy::expect_used,
    reason = "a benchmark without its fixture cannot run"
)]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use orgplan::live::LiveState;
use orgplan::model::Policy;
use orgplan::provider::{Provider, file::FileProvider};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

// `cargo test --all-targets` runs each benchmark once, in a debug build, with `--test`:
// then every size is cut to 1,000 users so that the test suite stays quick.
static TEST_MODE: OnceLock<bool> = OnceLock::new();

fn main() {
    TEST_MODE.get_or_init(|| std::env::args().any(|arg| arg == "--test"));
    divan::main();
}

/// A generated org, kept for the whole run.
struct Org {
    dir: tempfile::TempDir,
    policy: Policy,
    live: LiveState,
}

// One org per size, generated the first time a benchmark asks for it.
fn org(users: usize) -> &'static Org {
    let users = if TEST_MODE.get().copied().unwrap_or(false) {
        users.min(1_000)
    } else {
        users
    };
    static ORGS: OnceLock<Mutex<HashMap<usize, &'static Org>>> = OnceLock::new();
    let mut orgs = ORGS
        .get_or_init(Default::default)
        .lock()
        .expect("fixture lock");
    orgs.entry(users).or_insert_with(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        // The generator is the binary's (hidden `orgplan synth`), not the library's.
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_orgplan"))
            .args(["synth", "--users", &users.to_string(), "--seed", "1", "-o"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run orgplan synth");
        assert!(status.success(), "orgplan synth failed: {status}");
        let policy = orgplan::validate::check_dir(dir.path())
            .expect("load")
            .policy
            .expect("valid policy");
        let live = FileProvider::new(dir.path().join("live.json"))
            .read()
            .expect("live state");
        Box::leak(Box::new(Org { dir, policy, live }))
    })
}

fn options(org: &Org) -> orgplan::plan::Options {
    orgplan::plan::Options {
        live: format!("file:{}", org.dir.path().join("live.json").display()),
        allow_removals: None,
        shown_only: false,
    }
}

#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn load_validate(bencher: divan::Bencher, users: usize) {
    let org = org(users);
    bencher.bench(|| orgplan::validate::check_dir(org.dir.path()).expect("load"));
}

#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn resolve_all(bencher: divan::Bencher, users: usize) {
    let org = org(users);
    bencher.bench(|| {
        let resolver = orgplan::resolve::Resolver::new(&org.policy);
        org.policy
            .users
            .keys()
            .filter_map(|email| resolver.resolve(email))
            .count()
    });
}

#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn diff_plan(bencher: divan::Bencher, users: usize) {
    let org = org(users);
    let provider = FileProvider::new(org.dir.path().join("live.json"));
    let options = options(org);
    bencher.bench(|| {
        orgplan::plan::build(&org.policy, &org.live, &provider.capabilities(), &options)
            .expect("plan")
    });
}

#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn whole_plan(bencher: divan::Bencher, users: usize) {
    let org = org(users);
    let options = options(org);
    bencher.bench(|| {
        let checked = orgplan::validate::check_dir(org.dir.path()).expect("load");
        let policy = checked.policy.as_ref().expect("valid policy");
        let provider = FileProvider::new(org.dir.path().join("live.json"));
        let live = provider.read().expect("live state");
        let plan =
            orgplan::plan::build(policy, &live, &provider.capabilities(), &options).expect("plan");
        let mut out = Vec::new();
        orgplan::plan::render_human(&plan, &mut out, false).expect("render");
        out.len()
    });
}

/// The pull-request comment: the plan in markdown with its "who gains or loses what"
/// table, which resolves every user against the live org and against the policy.
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn markdown_with_access_changes(bencher: divan::Bencher, users: usize) {
    let org = org(users);
    let provider = FileProvider::new(org.dir.path().join("live.json"));
    let plan = orgplan::plan::build(
        &org.policy,
        &org.live,
        &provider.capabilities(),
        &options(org),
    )
    .expect("plan");
    bencher.bench(|| {
        let access = orgplan::plan::access_changes(&plan, &org.policy, &org.live);
        let mut out = Vec::new();
        orgplan::plan::render_markdown(&plan, &access, &mut out).expect("render");
        out.len()
    });
}

/// `orgplan test` as the command runs it: load and validate the policy, check the test
/// file, and run a `users: all` test (with a `where`, and a limit that needs every
/// selected user's full effective permissions) over every user. Compare with
/// `load_validate`.
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn policy_test_all_users(bencher: divan::Bencher, users: usize) {
    let org = org(users);
    let tests = org.dir.path().join("all.test.yaml");
    std::fs::write(
        &tests,
        "tests:\n  - name: every active user has a monthly spend limit\n    users: all\n    \
         where: {status: active}\n    expect: {limits: {spend_usd: {monthly: {max: 100000}}}}\n",
    )
    .expect("test file");
    bencher.bench(|| {
        let checked = orgplan::validate::check_dir(org.dir.path()).expect("load");
        let policy = checked.policy.as_ref().expect("valid policy");
        let files = orgplan::policytest::load(org.dir.path(), Some(policy)).expect("tests");
        assert_eq!(files.errors(), 0, "{:?}", files.diagnostics);
        orgplan::policytest::run(policy, &files.suites).passed
    });
    std::fs::remove_file(tests).expect("remove the test file");
}

/// A usage file for every live user of the org (`orgplan review --usage file:…`), written
/// once: a twentieth never active, a few idle for weeks or months, a third without
/// Claude Code sessions.
fn usage_file(org: &Org) -> std::path::PathBuf {
    use orgplan::review::{Date, usage};
    let path = org.dir.path().join("usage.json");
    if !path.exists() {
        let end = Date::parse("2026-11-30").expect("date");
        let users = org
            .live
            .users
            .keys()
            .enumerate()
            .map(|(i, email)| {
                let days = match i % 20 {
                    0 => None,
                    1 => Some(45),
                    2 => Some(120),
                    3..=5 => Some(12),
                    _ => Some((i % 7) as i64),
                };
                let record = usage::Record {
                    last_active: days.map(|d| end.plus(-d)),
                    chat_messages: (i % 300) as u64,
                    claude_code_sessions: if i % 3 == 0 { 0 } else { (i % 50) as u64 },
                    spend_usd: None,
                };
                (email.clone(), record)
            })
            .collect();
        let usage = usage::Usage {
            format_version: usage::FORMAT_VERSION,
            start: end.plus(-29),
            end,
            users,
        };
        std::fs::write(&path, usage::to_file_text(&usage)).expect("usage file");
    }
    path
}

/// The whole `orgplan review --usage file:… --format json` path, to compare with
/// `whole_plan`: load and validate, read the live state and the usage, find, render.
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn whole_review(bencher: divan::Bencher, users: usize) {
    let org = org(users);
    let usage_path = usage_file(org);
    bencher.bench(|| {
        let checked = orgplan::validate::check_dir(org.dir.path()).expect("load");
        let policy = checked.policy.as_ref().expect("valid policy");
        let provider = FileProvider::new(org.dir.path().join("live.json"));
        let live = provider.read().expect("live state");
        let usage =
            orgplan::review::usage::read_file(&usage_path.display().to_string()).expect("usage");
        let options = orgplan::review::findings::Options {
            as_of: usage.end,
            inactive_days: 30,
            usage_source: None,
        };
        let review = orgplan::review::findings::review(
            policy,
            &live.as_normalized(),
            Some(&usage),
            &checked.diagnostics,
            &options,
        );
        let mut out = Vec::new();
        orgplan::review::render::render_json(&review, &mut out).expect("render");
        out.len()
    });
}

//! `orgplan validate`: every diagnostic code, the output formats, bad input.

use std::fs;

use crate::common::{fixture, run};

#[test]
fn example_org_is_valid_without_warnings() {
    let (stdout, _, code) = run(&["validate"]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        stdout,
        "policies: valid (21 users, 5 groups, 3 roles; 0 warnings)\n"
    );
}

#[test]
fn team_plan_fixture_is_valid_without_warnings() {
    let (stdout, _, code) = run(&["validate", "-p", &fixture("team-plan")]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.ends_with("0 warnings)\n"), "{stdout}");
}

const WARNINGS: [&str; 6] = [
    "seat-restriction",
    "unused-role",
    "unused-group",
    "empty-group",
    "no-spend-limit",
    "too-many-admins",
];

/// Every code has a fixture folder named after it that yields exactly that code, and
/// its rendered output is reviewed as a snapshot.
#[test]
fn every_code_has_a_fixture_that_yields_exactly_it() {
    for info in orgplan::diag::CODES {
        let name = info.code.as_str();
        let folder = fixture(&format!("diagnostics/{name}"));
        let (stdout, _, code) = run(&["validate", "-p", &folder, "--format", "json"]);
        let report: serde_json::Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{folder}: {e}\n{stdout}"));
        let codes: Vec<&str> = report["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["code"].as_str())
            .collect();
        assert!(!codes.is_empty(), "{folder} yields nothing");
        assert!(
            codes.iter().all(|c| *c == name),
            "{folder} yields {codes:?}"
        );
        let expected_exit = if WARNINGS.contains(&name) { 0 } else { 3 };
        assert_eq!(code, expected_exit, "{folder}");

        let (human, _, _) = run(&["validate", "-p", &folder]);
        insta::assert_snapshot!(name, human);
    }
}

#[test]
fn schema_fixture_reports_enum_type_and_unknown_field() {
    let (stdout, _, code) = run(&["validate", "-p", &fixture("diagnostics/schema")]);
    assert_eq!(code, 3);
    assert!(stdout.contains("`enterprize` is not a valid value for `plan`"));
    assert!(stdout.contains("did you mean `enterprise`?"));
    assert!(stdout.contains("`enforced` must be `true` or `false`"));
    assert!(stdout.contains("unknown field `captabilities` in `defaults`"));
    assert!(
        stdout.contains("org.yaml:12:5"),
        "unknown field points at the key"
    );
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let folder = fixture("diagnostics/many-errors");
    let (human, _, code) = run(&["validate", "-p", &folder]);
    assert_eq!(code, 3);
    insta::assert_snapshot!("many-errors-human", human);
    let (json, _, _) = run(&["validate", "-p", &folder, "--format", "json"]);
    insta::assert_snapshot!("many-errors-json", json);
    let (github, _, _) = run(&["validate", "-p", &folder, "--format", "github"]);
    insta::assert_snapshot!("many-errors-github", github);
}

#[test]
fn github_format_prints_workflow_commands() {
    let (stdout, _, code) = run(&[
        "validate",
        "-p",
        &fixture("diagnostics/unknown-reference"),
        "--format",
        "github",
    ]);
    assert_eq!(code, 3);
    assert_eq!(
        stdout,
        "::error file=tests/fixtures/diagnostics/unknown-reference/users.yaml,line=5,col=49,\
         title=unknown-reference::group `engneering` is not defined%0Ahelp: did you mean `engineering`?\n"
    );
}

#[test]
fn no_color_without_a_terminal() {
    let (stdout, _, _) = run(&["validate", "-p", &fixture("diagnostics/schema")]);
    // The diagnostics were printed (an empty output has no escapes either), plainly.
    assert!(stdout.contains("error[schema]: "), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "ANSI escapes in piped output");
}

// ---------------------------------------------------------------------------------------
// Bad input: a clear diagnostic and the right exit code, never a panic.

fn scratch(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (name, content) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create a folder");
        }
        fs::write(path, content).expect("write a file");
    }
    dir
}

fn validate_dir(dir: &std::path::Path) -> (String, String, i32) {
    run(&["validate", "-p", &dir.display().to_string()])
}

const ORG: &[u8] =
    b"org: {name: X, plan: team, seats: {standard: 5}}\nusers:\n  a@x.com: {role: primary_owner}\n";

#[test]
fn duplicate_keys_are_reported_at_the_second_key() {
    let dir = scratch(&[(
        "a.yaml",
        b"org: {name: X, plan: team}\norg: {name: Y, plan: team}\n",
    )]);
    let (stdout, _, code) = validate_dir(dir.path());
    assert_eq!(code, 3);
    assert!(stdout.contains("error[yaml-syntax]"), "{stdout}");
    assert!(stdout.contains("a.yaml:2:"), "{stdout}");
}

#[test]
fn a_list_or_a_scalar_at_top_level_is_a_schema_error() {
    for content in [&b"- a\n- b\n"[..], b"just a string\n", b"42\n"] {
        let dir = scratch(&[("a.yaml", ORG), ("b.yaml", content)]);
        let (stdout, _, code) = validate_dir(dir.path());
        assert_eq!(code, 3, "{stdout}");
        assert!(
            stdout.contains("a policy file must be a mapping"),
            "{stdout}"
        );
        assert!(stdout.contains("b.yaml:1:1"), "{stdout}");
    }
}

#[test]
fn non_utf8_bytes_are_located() {
    let dir = scratch(&[
        ("a.yaml", ORG),
        ("b.yaml", b"users:\n  b@x.com: {name: \xff\xfe}\n"),
    ]);
    let (stdout, _, code) = validate_dir(dir.path());
    assert_eq!(code, 3);
    assert!(stdout.contains("is not valid UTF-8"), "{stdout}");
    assert!(stdout.contains("b.yaml:2:19"), "{stdout}");
}

#[test]
fn an_empty_file_declares_nothing() {
    let dir = scratch(&[
        ("a.yaml", ORG),
        ("empty.yaml", b""),
        ("comments.yml", b"# nothing\n"),
    ]);
    let (stdout, _, code) = validate_dir(dir.path());
    assert_eq!(code, 0, "{stdout}");
    // Only `a.yaml`'s one user, and no warning about the empty files.
    assert!(
        stdout.starts_with(&format!("{}: valid (1 user", dir.path().display())),
        "{stdout}"
    );
    assert!(stdout.ends_with("; 0 warnings)\n"), "{stdout}");
}

#[test]
fn an_empty_folder_has_no_org() {
    let dir = scratch(&[("notes.txt", b"not a policy")]);
    let (stdout, _, code) = validate_dir(dir.path());
    assert_eq!(code, 3);
    assert!(stdout.contains("error[missing-org]"), "{stdout}");
}

#[test]
fn a_missing_folder_is_an_io_failure() {
    let (stdout, stderr, code) = run(&["validate", "-p", "no/such/folder"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("cannot read policy folder `no/such/folder`"),
        "{stderr}"
    );
}

#[test]
fn files_are_read_recursively_in_sorted_order() {
    let dir = scratch(&[
        ("b/users.yaml", b"users:\n  b@x.com: {}\n"),
        ("a/org.yaml", ORG),
        ("c/deeper/more.yml", b"users:\n  c@x.com: {}\n"),
    ]);
    let (stdout, _, code) = validate_dir(dir.path());
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("valid (3 users"), "{stdout}");

    // The order shows in which of two definitions is the first: files are created here
    // against their sorted order, and the one sorted later is the duplicate.
    let dir = scratch(&[
        ("c/deeper/more.yml", b"users:\n  d@x.com: {}\n"),
        ("b/users.yaml", b"users:\n  d@x.com: {}\n"),
        ("a/org.yaml", ORG),
    ]);
    let (stdout, _, code) = validate_dir(dir.path());
    assert_eq!(code, 3, "{stdout}");
    let root = dir.path().display();
    assert!(
        stdout.contains(&format!("--> {root}/c/deeper/more.yml:2:3")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("first defined at {root}/b/users.yaml:2:3")),
        "{stdout}"
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_is_reported_not_followed_forever() {
    let dir = scratch(&[("org.yaml", ORG)]);
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).expect("a symbolic link");
    let (_, stderr, code) = validate_dir(dir.path());
    assert_eq!(code, 1);
    assert!(stderr.contains("symbolic link loop"), "{stderr}");

    let dir = scratch(&[("org.yaml", ORG)]);
    std::os::unix::fs::symlink("self.yaml", dir.path().join("self.yaml")).expect("a symbolic link");
    let (_, stderr, code) = validate_dir(dir.path());
    assert_eq!(code, 1);
    assert!(stderr.contains("symbolic link loop"), "{stderr}");
}

#[test]
fn a_50_mb_file_is_refused_without_reading_it() {
    let dir = scratch(&[("org.yaml", ORG)]);
    let big = fs::File::create(dir.path().join("big.yaml")).expect("create a file");
    big.set_len(50 * 1024 * 1024).expect("size the file");
    let (_, stderr, code) = validate_dir(dir.path());
    assert_eq!(code, 1);
    assert!(
        stderr.contains("big.yaml` is 52428800 bytes, more than"),
        "{stderr}"
    );
}

#[test]
fn ten_thousand_levels_of_nesting_are_refused() {
    let flow = format!("org: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let flow_map = format!("users: {}{}\n", "{a: ".repeat(10_000), "}".repeat(10_000));
    let mut block = String::from("org:\n");
    for level in 1..2_000 {
        block.push_str(&" ".repeat(level));
        block.push_str("k:\n");
    }
    for content in [flow, flow_map, block] {
        let dir = scratch(&[("a.yaml", ORG), ("deep.yaml", content.as_bytes())]);
        let (stdout, _, code) = validate_dir(dir.path());
        assert_eq!(code, 3, "{stdout}");
        assert!(stdout.contains("error[yaml-syntax]"), "{stdout}");
    }
}

#[test]
fn a_billion_laughs_alias_bomb_is_refused() {
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (name, previous) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        bomb.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{previous}"); 9].join(",")
        ));
    }
    let dir = scratch(&[("a.yaml", ORG), ("bomb.yaml", bomb.as_bytes())]);
    let (stdout, _, code) = validate_dir(dir.path());
    assert_eq!(code, 3);
    assert!(stdout.contains("alias expansion exceeded"), "{stdout}");
}

#[test]
fn several_documents_in_one_file_are_refused() {
    let dir = scratch(&[("a.yaml", b"org: {name: X, plan: team}\n---\nusers: {}\n")]);
    let (stdout, _, code) = validate_dir(dir.path());
    assert_eq!(code, 3);
    assert!(stdout.contains("one YAML document"), "{stdout}");
}

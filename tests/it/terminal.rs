//! What only happens on a terminal: the `yes` prompt of `apply` and its progress bar.
//! `script` (util-linux) gives the command a pseudo-terminal, as a person's shell would.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{binary, run, temp};

// Run `orgplan args…` on a pseudo-terminal in `dir`, typing `input`.
fn on_terminal(dir: &std::path::Path, args: &str, input: &str) -> (String, i32) {
    on_terminal_with(dir, "", args, input)
}

// The same, after shell variable assignments such as `NO_COLOR=1`.
fn on_terminal_with(dir: &std::path::Path, env: &str, args: &str, input: &str) -> (String, i32) {
    let command_line = format!("{env} {} {args}", binary().display());
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command_line, "/dev/null"])
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("`script` (util-linux) is needed for this test: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        output.status.code().unwrap_or(-1),
    )
}

fn synthetic_org(users: &str) -> tempfile::TempDir {
    let dir = temp();
    let out = dir.path().display().to_string();
    let (_, stderr, code) = run(&["synth", "--users", users, "-o", &out]);
    assert_eq!(code, 0, "{stderr}");
    dir
}

#[test]
fn apply_asks_and_applies_on_yes_with_a_progress_bar() {
    let dir = synthetic_org("200");
    let (screen, code) = on_terminal(dir.path(), "apply -p . --live file:state.json", "yes\n");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Only `yes` is accepted."), "{screen}");
    assert!(screen.contains("applying ["), "no progress bar: {screen}");
    assert!(
        screen.contains("Apply complete: 596 applied, 0 manual."),
        "{screen}"
    );
    assert!(dir.path().join("state.json").exists());
}

#[test]
fn apply_with_format_json_shows_the_plan_before_asking() {
    let dir = synthetic_org("20");
    let (screen, code) = on_terminal(
        dir.path(),
        "apply -p . --live file:state.json --format json",
        "no\n",
    );
    assert_eq!(code, 1, "{screen}");
    let asked = screen
        .find("Do you want to apply these operations?")
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        screen[..asked].contains("+ user.invite"),
        "asked without showing the plan: {screen}"
    );
    assert!(!dir.path().join("state.json").exists());
}

#[test]
fn apply_does_nothing_unless_the_answer_is_yes() {
    let dir = synthetic_org("20");
    for answer in ["no\n", "y\n", "\n"] {
        let (screen, code) = on_terminal(dir.path(), "apply -p . --live file:state.json", answer);
        assert_eq!(code, 1, "{screen}");
        assert!(screen.contains("apply cancelled, nothing done"), "{screen}");
        assert!(!dir.path().join("state.json").exists());
    }
}

#[test]
fn colour_on_a_terminal_but_not_with_no_color() {
    let dir = synthetic_org("20");
    let (coloured, _) = on_terminal(dir.path(), "plan -p . --live file:live.json", "");
    assert!(
        coloured.contains('\u{1b}'),
        "no colour on a terminal: {coloured}"
    );
    let (plain, _) = on_terminal_with(
        dir.path(),
        "NO_COLOR=1",
        "plan -p . --live file:live.json",
        "",
    );
    assert!(
        !plain.contains('\u{1b}'),
        "colour despite NO_COLOR: {plain}"
    );
    assert!(plain.contains("Plan: "), "{plain}");
}

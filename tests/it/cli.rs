//! The command line itself: help, completions, man page.

use crate::common::run;

const COMMANDS: [&str; 7] = [
    "validate", "plan", "explain", "apply", "export", "schema", "test",
];

#[test]
fn every_command_has_help_with_an_example() {
    for command in COMMANDS {
        let (stdout, _, code) = run(&[command, "--help"]);
        assert_eq!(code, 0, "{command}");
        assert!(
            stdout.contains("Example: orgplan"),
            "{command} --help has no example"
        );
    }
}

#[test]
fn completions_cover_every_command_in_each_shell() {
    // Each shell's own way of offering a subcommand: a bare `contains(command)` would
    // find `plan` in `orgplan` and in `explain`.
    let offer = |shell: &str, command: &str| match shell {
        "bash" => format!("orgplan,{command})"),
        "zsh" => format!("\n'{command}:"),
        _ => format!("-a \"{command}\""),
    };
    for shell in ["bash", "zsh", "fish"] {
        let (stdout, _, code) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        for command in COMMANDS {
            assert!(
                stdout.contains(&offer(shell, command)),
                "{shell} completion does not offer {command}: {stdout}"
            );
        }
    }
}

#[test]
fn man_page_is_roff_generated_from_the_same_definitions() {
    let (stdout, _, code) = run(&["man"]);
    assert_eq!(code, 0);
    assert!(stdout.contains(".TH orgplan 1"), "{stdout}");
    for command in COMMANDS {
        // The SUBCOMMANDS section names each as `orgplan-COMMAND(1)` (roff escapes `-`).
        assert!(
            stdout.contains(&format!("\norgplan\\-{command}(1)\n")),
            "man page lacks {command}: {stdout}"
        );
    }
}

#[test]
fn an_unknown_command_suggests_the_closest() {
    let (_, stderr, code) = run(&["plna"]);
    assert_eq!(
        code, 1,
        "a usage error is a failure, never the 2 of `--detailed-exitcode`"
    );
    // Not `contains("plan")`: the usage line (`orgplan <COMMAND>`) always holds that.
    let tip = stderr
        .lines()
        .find(|line| line.trim_start().starts_with("tip:"))
        .unwrap_or_else(|| panic!("no suggestion: {stderr}"));
    assert!(tip.contains("'plan'"), "{stderr}");
}

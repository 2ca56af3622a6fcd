//! `orgplan test` and the test-file half of `orgplan validate`: the command-line side
//! (loading, exit codes, where output goes). The work is in [`crate::policytest`].

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::{CliError, Exit, check_folder, summary, use_color, write_atomically};
use crate::diag;
use crate::policytest::{self, render};
use crate::validate::Checked;

/// Output format of `orgplan test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TestFormat {
    /// `test NAME ... ok|FAILED`, the failures, `N passed, N failed`.
    Human,
    /// One JSON object: `{"tests": [...], "passed": N, "failed": N}`.
    Json,
    /// JUnit XML, for CI test reports.
    Junit,
    /// GitHub Actions `::error` annotations on the failed tests' lines.
    Github,
}

/// Check the test files beside the policy into `checked` (for `orgplan validate`): their
/// texts join the sources, their problems the diagnostics, and a problem in a test file
/// makes the whole folder invalid. Returns the tests that decoded.
pub(crate) fn check_test_files(
    policies: &Path,
    checked: &mut Checked,
) -> Result<Vec<policytest::Suite>, CliError> {
    let tests = policytest::load(policies, checked.policy.as_ref())?;
    if tests.errors() > 0 {
        checked.policy = None;
    }
    checked.sources.append(tests.sources);
    checked.diagnostics.extend(tests.diagnostics);
    diag::sort(&mut checked.diagnostics);
    Ok(tests.suites)
}

/// `orgplan test`: 0 when every test passed, 4 when one failed, 3 when the policy or a
/// test file is invalid.
pub(crate) fn test_command(
    policies: &Path,
    format: TestFormat,
    junit: Option<&PathBuf>,
) -> Result<Exit, CliError> {
    let mut checked = check_folder(policies)?;
    let suites = check_test_files(policies, &mut checked)?;
    let diag_format = match format {
        TestFormat::Github => diag::Format::Github,
        TestFormat::Json => diag::Format::Json,
        TestFormat::Human | TestFormat::Junit => diag::Format::Human,
    };
    let Some(policy) = checked.policy.as_ref().filter(|_| checked.errors() == 0) else {
        // Annotations are read from stdout by the GitHub runner; the rest goes to stderr.
        let errors: Vec<diag::Diagnostic> = checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        let (mut out, color): (Box<dyn Write>, bool) = if format == TestFormat::Github {
            (Box::new(std::io::stdout()), false)
        } else {
            let stderr = std::io::stderr();
            let color = use_color(stderr.is_terminal());
            (Box::new(stderr), color)
        };
        diag::render(&mut out, &errors, &checked.sources, diag_format, color)?;
        let _ = writeln!(std::io::stderr(), "{}", summary(policies, &checked));
        return Err(CliError::Invalid);
    };
    if suites.is_empty() {
        return Err(CliError::NoTests(policies.to_owned()));
    }
    let report = policytest::run(policy, &suites);
    if let Some(path) = junit {
        let mut xml = Vec::new();
        render::junit(&report, &mut xml)?;
        write_atomically(path, &xml).map_err(CliError::file("write", path))?;
    }
    let stdout = std::io::stdout();
    let color = use_color(stdout.is_terminal());
    let mut out = stdout.lock();
    match format {
        TestFormat::Human => render::human(&report, &mut out, color),
        TestFormat::Json => render::json(&report, &mut out),
        TestFormat::Junit => render::junit(&report, &mut out),
        TestFormat::Github => render::github(&report, &mut out),
    }
    .and_then(|()| out.flush())?;
    let exit = if report.failed > 0 {
        Exit::TestFailed
    } else {
        Exit::Success
    };
    super::exit_without_freeing(checked);
    Ok(exit)
}

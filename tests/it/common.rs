//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// The `orgplan` binary built for these tests, run from the repository root.
pub fn orgplan() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("orgplan").expect("the orgplan binary");
    command.current_dir(root()).env_remove("NO_COLOR");
    command
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `tests/fixtures/`, relative to the root (as a user would type it).
pub fn fixture(name: &str) -> String {
    Path::new("tests/fixtures").join(name).display().to_string()
}

/// Run `orgplan args…` and return (stdout, stderr, exit code).
pub fn run(args: &[&str]) -> (String, String, i32) {
    let output = orgplan().args(args).output().expect("run orgplan");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.code().unwrap_or(-1),
    )
}

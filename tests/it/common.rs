//! Helpers shared by the integration tests.
//!
//! Every test that runs the binary to its end does it one way: `orgplan()` (arguments,
//! environment, input with `write_stdin`, folder with `current_dir`) and then
//! [`Run::run`], or [`run`] for the arguments alone. A suite that talks to a stand-in
//! server names the environment that server needs in one function returning the
//! command (`anthropic::against`, `scim_faults::scim`), not another runner.

use std::path::{Path, PathBuf};

/// The `orgplan` binary built for these tests, run from the repository root.
pub fn orgplan() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("orgplan").expect("the orgplan binary");
    command.current_dir(root()).env_remove("NO_COLOR");
    command
}

/// The path of the `orgplan` binary, for the tests that must start it themselves (to kill
/// it midway, or to run it on a pseudo-terminal).
pub fn binary() -> PathBuf {
    let path = PathBuf::from(orgplan().get_program());
    assert!(path.is_file(), "no binary at `{}`", path.display());
    path
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `tests/fixtures/`, relative to the root (as a user would type it).
pub fn fixture(name: &str) -> String {
    Path::new("tests/fixtures").join(name).display().to_string()
}

/// What one run printed and how it ended: (stdout, stderr, exit code), the exit code -1
/// when a signal ended it.
pub type Printed = (String, String, i32);

/// Running a command made by [`orgplan`] to its end.
pub trait Run {
    /// Run it and return what it printed, decoded lossily, and its exit code.
    fn run(&mut self) -> Printed;
}

impl Run for assert_cmd::Command {
    fn run(&mut self) -> Printed {
        let output = self.output().expect("run orgplan");
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            output.status.code().unwrap_or(-1),
        )
    }
}

/// Run `orgplan args…` from the root with no other setting; (stdout, stderr, exit code).
pub fn run(args: &[&str]) -> Printed {
    orgplan().args(args).run()
}

/// The text of the file at `path`; the test fails naming it when it cannot be read.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A temporary folder, removed when dropped.
pub fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

/// A plan operation (of `plan --format json`) as `op target [member]`.
pub fn op_line(op: &serde_json::Value) -> String {
    let member = op["member"]
        .as_str()
        .map(|m| format!(" {m}"))
        .unwrap_or_default();
    format!(
        "{} {}{member}",
        op["op"].as_str().unwrap_or_default(),
        op["target"].as_str().unwrap_or_default()
    )
}

/// A copy of the policy folder `from` (relative to the root) made at `to`, the text of
/// each file passed through `edit`; `to` as the tests pass it to `-p`.
pub fn copy_policies(from: &str, to: &Path, edit: &dyn Fn(String) -> String) -> String {
    std::fs::create_dir_all(to).expect("create a folder");
    for entry in std::fs::read_dir(root().join(from)).expect("read the policy folder") {
        let entry = entry.expect("a folder entry");
        let text = edit(read(&entry.path()));
        std::fs::write(to.join(entry.file_name()), text).expect("write a file");
    }
    to.display().to_string()
}

/// Hand-edit the saved plan at `path` so that its one operation removes `target`: an edit
/// that `apply` must catch.
pub fn edit_plan_to_remove(path: &Path, target: &str) {
    let mut plan: serde_json::Value = serde_json::from_str(&read(path)).expect("a saved plan");
    plan["operations"] = serde_json::json!([{
        "op": "user.remove",
        "target": target,
        "changes": [],
        "execution": "provider"
    }]);
    std::fs::write(path, plan.to_string()).expect("write a file");
}

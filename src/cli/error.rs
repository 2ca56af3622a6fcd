//! Why a command failed, one variant per kind of failure, and the exit code each ends with.
//! Every command returns `Result<Exit, CliError>`; [`super::run`] prints the error (`error:
//! MESSAGE` on stderr) and ends with [`CliError::exit`], so the error path of a command is
//! its signature, not strings made up where it fails.

use std::path::{Path, PathBuf};

use super::Exit;
use crate::apply::{ApplyError, SavedPlanError};
use crate::export::ExportError;
use crate::load::LoadError;
use crate::plan::PlanError;
use crate::provider::ProviderError;
use crate::review::analytics::AnalyticsError;
use crate::review::edit::EditError;
use crate::review::usage::UsageError;
use crate::synth::SynthError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The policy is invalid; its diagnostics are printed already (exit 3).
    #[error("the policy is invalid")]
    Invalid,
    /// The policy folder (or its test files) cannot be read.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The live org cannot be named, reached or read.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The safety rules refuse the plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The apply was refused, or stopped midway.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The plan file is not a saved plan.
    #[error(transparent)]
    SavedPlan(#[from] SavedPlanError),
    /// The live org cannot be written as policy files.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The usage data cannot be read.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The Analytics API failed.
    #[error(transparent)]
    Analytics(#[from] AnalyticsError),
    /// The review's policy edits cannot be made.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// The synthetic org cannot be written.
    #[error(transparent)]
    Synth(#[from] SynthError),
    /// Standard output or error, or the terminal, failed.
    #[error(transparent)]
    Output(#[from] std::io::Error),
    /// A report could not be encoded as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A file or folder the user named cannot be read, created or written.
    #[error("cannot {action} `{}`: {source}", .path.display())]
    File {
        /// What was done: `read plan`, `write report`, `create` …
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// `apply --live` names another org than the saved plan's.
    #[error("the plan was made against `{planned}`, not `{given}`; nothing applied")]
    LiveDiffers {
        /// The plan's live URI.
        planned: String,
        /// The one given, redacted.
        given: String,
    },
    /// A saved plan of a remote org, without `--live`.
    #[error(
        "name the live org with `--live {planned}`: a plan file alone never decides where credentials are sent; nothing applied"
    )]
    LiveUnnamed {
        /// The plan's live URI.
        planned: String,
    },
    /// The user answered something else than `yes`.
    #[error("apply cancelled, nothing done")]
    Cancelled,
    /// A fresh plan to confirm, and no terminal to confirm it on.
    #[error(
        "refusing to apply without confirmation: stdin is not a terminal; review the plan and run again with `--auto-approve`, or save it with `plan -o FILE` and `apply FILE`"
    )]
    NoTerminal,
    /// The provider cannot read everything an export needs.
    #[error(
        "cannot export from {live}: it cannot read {unreadable}; load orgplan's SCIM extension schemas (schema/scim/) into the server, or export from a provider that reads everything"
    )]
    ExportUnreadable {
        /// The live URI, redacted.
        live: String,
        /// What it cannot read, comma-separated.
        unreadable: String,
    },
    /// `export -o` names a folder with files in it, without `--force`.
    #[error(
        "`{}` is not empty; export into an empty or new folder, or pass `--force` to replace org.yaml, roles.yaml, groups.yaml and users.yaml in it",
        .0.display()
    )]
    ExportOccupied(PathBuf),
    /// `explain` of an email the policy does not declare.
    #[error("no user `{email}` in `{}`\n  = help: {help}", .policies.display())]
    UnknownUser {
        /// The email asked for.
        email: String,
        /// The policy folder.
        policies: PathBuf,
        /// A "did you mean", or how to list the users.
        help: String,
    },
    /// `orgplan test` on a folder without test files.
    #[error("no test files (`*.test.yaml`, `*.test.yml`) under `{}`", .0.display())]
    NoTests(PathBuf),
    /// A thread reading the live org or the usage ended without an answer (a panic, which
    /// library code never does).
    #[error("{0} failed unexpectedly")]
    Thread(&'static str),
    /// `synth` without its arguments.
    #[error("synth needs --users N and -o DIR")]
    SynthArguments,
}

impl CliError {
    /// The exit code a run that failed this way ends with: 3 for an invalid policy, else 1.
    pub(crate) fn exit(&self) -> Exit {
        match self {
            CliError::Invalid => Exit::Invalid,
            _ => Exit::Failure,
        }
    }

    /// False when the failure is printed already (an invalid policy's diagnostics).
    pub(crate) fn to_print(&self) -> bool {
        !matches!(self, CliError::Invalid)
    }

    /// A file or folder at `path` that cannot be acted on.
    pub(crate) fn file(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| CliError::File {
            action,
            path,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_policy_exits_3_unprinted_and_every_other_failure_exits_1() {
        assert_eq!(CliError::Invalid.exit(), Exit::Invalid);
        assert!(!CliError::Invalid.to_print());
        let cancelled = CliError::Cancelled;
        assert_eq!(cancelled.exit(), Exit::Failure);
        assert!(cancelled.to_print());
        let unreadable = CliError::file("write plan", Path::new("out/plan.json"))(
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert_eq!(unreadable.exit(), Exit::Failure);
        assert_eq!(
            unreadable.to_string(),
            "cannot write plan `out/plan.json`: permission denied"
        );
    }
}

//! `orgplan apply` and `orgplan export`: the command-line side (arguments, confirmation,
//! progress, rendering). The work is in [`crate::apply`], [`crate::export`] and the
//! providers.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::{CliError, Exit, use_color, write_atomically};
use crate::apply::{self, ApplyError, ApplyReport, Batch, StoppedReport};
use crate::diff::Execution;
use crate::live::LiveState;
use crate::plan::{self, Plan};

/// What `orgplan apply` was asked.
pub(crate) struct ApplyArgs {
    pub plan_file: Option<PathBuf>,
    pub policies: PathBuf,
    pub live: Option<String>,
    pub auto_approve: bool,
    pub allow_removals: Option<usize>,
    pub json: bool,
    /// Settings of the providers (environment, `--parallelism`, `--scim-deprovision`,
    /// `--audit`).
    pub remote: crate::provider::Settings,
}

/// Above this many operations, a terminal shows a progress bar.
const PROGRESS_FROM: usize = 50;

// Where to apply. A saved plan names its live org, but a plan file alone never decides
// where credentials are sent: a remote org must be named again with `--live`, and a
// `--live` that differs from the plan's is refused.
fn live_uri(given: Option<&str>, saved: Option<&plan::Plan>) -> Result<String, CliError> {
    match (given, saved) {
        (Some(given), Some(plan)) if !same_live(&crate::provider::redact(given), &plan.live) => {
            Err(CliError::LiveDiffers {
                planned: plan.live.clone(),
                given: crate::provider::redact(given),
            })
        }
        (Some(given), _) => Ok(given.to_owned()),
        (None, Some(plan)) if plan.live.starts_with("file:") => Ok(plan.live.clone()),
        (None, Some(plan)) => Err(CliError::LiveUnnamed {
            planned: plan.live.clone(),
        }),
        (None, None) => Ok(crate::provider::DEFAULT_LIVE.to_owned()),
    }
}

// Two names of one live org: `file:./live.json` and `file:live.json` are one file (compared
// as canonical paths where they exist, else with `.` segments and a trailing `/` dropped).
fn same_live(a: &str, b: &str) -> bool {
    fn file_key(path: &str) -> std::path::PathBuf {
        let path = std::path::Path::new(path);
        if let Ok(canonical) = std::fs::canonicalize(path) {
            return canonical;
        }
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        let parent = parent.map_or_else(|| std::fs::canonicalize("."), std::fs::canonicalize);
        match (parent, path.file_name()) {
            (Ok(parent), Some(name)) => parent.join(name),
            _ => path.components().collect(),
        }
    }
    match (a.strip_prefix("file:"), b.strip_prefix("file:")) {
        (Some(a), Some(b)) => a == b || file_key(a) == file_key(b),
        (None, None) => a.trim_end_matches('/') == b.trim_end_matches('/'),
        _ => false,
    }
}

pub(crate) fn apply_command(args: &ApplyArgs) -> Result<Exit, CliError> {
    // Read the saved plan first: a missing or foreign file is the first thing to hear of.
    let saved = args.plan_file.as_deref().map(read_plan).transpose()?;
    let policy = super::load_policy(&args.policies, crate::diag::Format::Human)?;
    let uri = live_uri(args.live.as_deref(), saved.as_ref())?;
    let provider = crate::provider::from_uri_with(&uri, &args.remote)?;
    let mut caps = provider.capabilities();
    let options = plan::Options {
        live: provider.uri(),
        allow_removals: args.allow_removals,
        shown_only: false,
    };

    let plan = match saved {
        Some(plan) => plan,
        None => {
            let live = provider.read()?;
            // What a read found unverifiable (an unknown role value, say) is listed too.
            caps = provider.capabilities();
            let refine = |ops, live: &_| provider.refine(ops, live);
            let plan = plan::build_with(&policy, &live, &caps, &options, &refine)?;
            let stdout = std::io::stdout();
            let color = use_color(stdout.is_terminal());
            let ask = !plan.is_empty() && !args.auto_approve;
            if !args.json {
                let mut out = stdout.lock();
                plan::render_human(&plan, &mut out, color).and_then(|()| out.flush())?;
            } else if ask {
                // Never ask for `yes` to a plan not shown; stdout stays the JSON report's.
                let stderr = std::io::stderr();
                let color = use_color(stderr.is_terminal());
                let mut err = stderr.lock();
                plan::render_human(&plan, &mut err, color).and_then(|()| err.flush())?;
            }
            if ask && !confirmed()? {
                return Err(CliError::Cancelled);
            }
            plan
        }
    };

    let plan_digest = plan::digest(&plan);
    let actor = apply::actor(|name| std::env::var(name).ok());
    let batch = Batch {
        operations: &plan.operations,
        plan_digest: &plan_digest,
        actor: &actor,
    };
    // Judged under the provider's lock, on the state the operations will be applied to.
    let mut check = |current: &LiveState| -> Result<(), ApplyError> {
        let current = &*current.as_normalized();
        apply::check_not_stale(&plan, current)?;
        // The file's own operations are judged first: an edited plan that removes the
        // primary owner is refused for that, whatever else differs.
        plan::check_operations(&policy, current, &plan.operations, &options)?;
        let refine = |ops, live: &_| provider.refine(ops, live);
        let again = plan::build_with(&policy, current, &caps, &options, &refine)?;
        // The digest covers the projection only, not `unmanaged_users` or `safety`, and
        // says nothing of the operations in the file: those must be the ones this policy
        // asks for, or the safety rules above were judged on another plan. The `source`
        // lines may move with an edit that changes nothing.
        let key = |op: &crate::diff::Operation| crate::diff::Operation {
            source: None,
            ..op.clone()
        };
        if again.policy_digest != plan.policy_digest {
            return Err(ApplyError::PolicyChanged);
        }
        let first_difference = (0..again.operations.len().max(plan.operations.len()))
            .find(|&i| again.operations.get(i).map(key) != plan.operations.get(i).map(key));
        if let Some(i) = first_difference {
            let describe = |op: Option<&crate::diff::Operation>| {
                op.map_or("nothing".to_owned(), |op| format!("`{op:#}`"))
            };
            let (in_file, now) = (plan.operations.get(i), again.operations.get(i));
            let (in_file, now) = (describe(in_file), describe(now));
            return Err(ApplyError::OperationsDiffer(if in_file == now {
                format!(
                    "operation {} ({in_file}) has other changes in the file",
                    i + 1
                )
            } else {
                format!("operation {} is {in_file} in the file, {now} now", i + 1)
            }));
        }
        Ok(())
    };
    let mut bar = Progress::new(std::io::stderr().is_terminal());
    let applied = provider.apply(&batch, &mut check, &mut |done, total| {
        bar.update(done, total)
    });
    bar.finish();
    let manual = || {
        plan.operations
            .iter()
            .filter(|op| !apply::by_provider(op))
            .cloned()
            .collect()
    };
    let applied = match applied {
        Ok(applied) => applied,
        Err(error) => {
            // An apply that stopped midway is when automation most needs the report.
            let stopped = StoppedReport::of(&error, provider.uri(), plan_digest.clone(), manual());
            if let Some(stopped) = stopped.filter(|_| args.json) {
                let mut out = std::io::stdout().lock();
                serde_json::to_writer_pretty(&mut out, &stopped)?;
                writeln!(out)?;
                out.flush()?;
            }
            return Err(error.into());
        }
    };

    let report = ApplyReport {
        live: provider.uri(),
        plan_digest,
        applied: applied.operations,
        manual: manual(),
        audit_log: applied.audit_log,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        render_report(&report, &mut out)?;
    }
    out.flush()?;
    Ok(Exit::Success)
}

fn read_plan(path: &Path) -> Result<Plan, CliError> {
    let bytes = std::fs::read(path).map_err(CliError::file("read plan", path))?;
    Ok(apply::parse_plan(path, &bytes)?)
}

/// Ask for `yes` on the terminal; without one, refuse (scripts pass `--auto-approve`).
fn confirmed() -> Result<bool, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::NoTerminal);
    }
    let mut out = std::io::stdout().lock();
    write!(
        out,
        "\nDo you want to apply these operations?\n  Only `yes` is accepted.\n\n  Enter a value: "
    )
    .and_then(|()| out.flush())?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

fn render_report(report: &ApplyReport, out: &mut dyn Write) -> std::io::Result<()> {
    if !report.applied.is_empty() {
        writeln!(
            out,
            "\nApplied {} to {}:",
            crate::diag::count(report.applied.len(), "operation"),
            report.live
        )?;
        for op in &report.applied {
            writeln!(out, "  {op}")?;
        }
    }
    if let Some(log) = &report.audit_log {
        writeln!(out, "Audit trail: {log}")?;
    }
    if !report.manual.is_empty() {
        writeln!(
            out,
            "\nManual steps ({}): not carried out by the provider, do them by hand:",
            report.manual.len()
        )?;
        for op in &report.manual {
            let instruction = match &op.execution {
                Execution::Manual { instruction } => instruction.as_str(),
                Execution::Provider => "",
            };
            writeln!(out, "  {op}\n    {instruction}")?;
        }
    }
    writeln!(
        out,
        "\nApply complete: {} applied, {} manual.",
        report.applied.len(),
        report.manual.len()
    )
}

/// A one-line progress bar on stderr, redrawn in place with `\r`, for long applies on a
/// terminal only (a log file would fill with redraws).
struct Progress {
    enabled: bool,
    drawn: Option<usize>,
}

impl Progress {
    fn new(terminal: bool) -> Self {
        Progress {
            enabled: terminal,
            drawn: None,
        }
    }

    fn update(&mut self, done: usize, total: usize) {
        if !self.enabled || total <= PROGRESS_FROM {
            return;
        }
        let percent = done * 100 / total;
        if self.drawn == Some(percent) {
            return;
        }
        self.drawn = Some(percent);
        let filled = percent * 30 / 100;
        let _ = write!(
            std::io::stderr(),
            "\rapplying [{}{}] {done}/{total} operations",
            "#".repeat(filled),
            " ".repeat(30 - filled)
        );
    }

    fn finish(&mut self) {
        if self.drawn.take().is_some() {
            let _ = write!(std::io::stderr(), "\r{}\r", " ".repeat(72));
        }
    }
}

pub(crate) fn export_command(
    live: &str,
    out: &Path,
    force: bool,
    remote: &crate::provider::Settings,
) -> Result<Exit, CliError> {
    let provider = crate::provider::from_uri_with(live, remote)?;
    // A provider that cannot read the org settings cannot give a policy that plans clean.
    let caps = provider.capabilities();
    if caps.cannot_read("org") {
        return Err(CliError::ExportUnreadable {
            live: provider.uri(),
            unreadable: caps.unreadable.join(", "),
        });
    }
    let state = provider.read()?;
    let files = crate::export::export(&state)?;
    let occupied = match std::fs::read_dir(out) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(CliError::file("read", out)(e)),
    };
    if occupied && !force {
        return Err(CliError::ExportOccupied(out.to_owned()));
    }
    std::fs::create_dir_all(out).map_err(CliError::file("create", out))?;
    for (name, text) in &files {
        let path = out.join(name);
        write_atomically(&path, text.as_bytes()).map_err(CliError::file("write", &path))?;
    }
    println!(
        "Exported {}, {}, {} from {} to {}",
        crate::diag::count(state.users.len(), "user"),
        crate::diag::count(state.groups.len(), "group"),
        crate::diag::count(state.roles.len(), "role"),
        provider.uri(),
        out.display()
    );
    Ok(Exit::Success)
}

//! `orgplan review`: the command-line side (arguments, reading usage and the live org,
//! writing reports and policy edits). The work is in [`crate::review`].

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{CliError, Exit, use_color, write_atomically};
use crate::review::{self, Date, findings, usage};

/// Review seats and access from usage data; suggest the policy edits that act on it.
///
/// Finds inactive users, dormant admins and idle premium seats. Findings: inactive-admin,
/// inactive-user, unused-premium-seat, usage-unknown, unmanaged-user, seat-surplus, and
/// validate's seat-restriction, no-spend-limit and too-many-admins. The primary owner and
/// `safety.protected` users are never suggested for suspension or demotion.
///
/// Worked example, on the example org and its month of usage:
///
///   U=file:tests/fixtures/review/usage.json
///   orgplan review --usage $U --as-of 2026-11-30                  # findings, suggestions
///   orgplan review --usage $U --format html -o review.html        # one page to forward
///   orgplan review --usage $U --suggest                           # the policy diff
///   orgplan review --usage $U --write && git commit -am "access review"
///   orgplan plan                      # exactly the suggested user.update / user.suspend
///
/// Usage from the Enterprise Analytics API instead (key with the `read:analytics` scope):
///
///   ANTHROPIC_ANALYTICS_KEY=... orgplan review --usage anthropic: --save-usage usage.json
///
/// Exit codes: 0 done (2 with --detailed-exitcode when any suggestion exists), 1 runtime
/// or usage-source failure, 3 invalid policy.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct ReviewArgs {
    /// Policy folder, read recursively.
    #[arg(short, long, default_value = "policies")]
    policies: PathBuf,
    /// Where the live org is read: `file:PATH`, `scim+https://HOST/PATH` or `anthropic:`.
    #[arg(long, default_value = crate::provider::DEFAULT_LIVE)]
    live: String,
    /// Requests in flight at once while reading the live org (SCIM: pages, groups; Admin
    /// API: role permissions, group members).
    #[arg(long, value_name = "N", default_value_t = super::PARALLELISM, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallelism: u16,
    /// Usage data: `file:PATH` (a usage JSON file) or `anthropic:` (the Enterprise
    /// Analytics API, key in `ANTHROPIC_ANALYTICS_KEY` or `ANTHROPIC_ADMIN_KEY`).
    /// Without it, only the static findings are made.
    #[arg(long, value_name = "SOURCE")]
    usage: Option<String>,
    /// Write the usage that was read to PATH in the `file:` format.
    #[arg(long, value_name = "PATH", requires = "usage")]
    save_usage: Option<PathBuf>,
    /// The day reviewed, YYYY-MM-DD. Default: the usage file's `end`, else today (UTC).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    as_of: Option<Date>,
    /// A user not active in this many days up to --as-of is inactive.
    #[arg(long, value_name = "N", default_value_t = review::DEFAULT_INACTIVE_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=3660))]
    inactive_days: u32,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = ReviewFormat::Human)]
    format: ReviewFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print a unified diff of the policy files that carries out every suggestion.
    #[arg(long, conflicts_with = "write")]
    suggest: bool,
    /// Carry out every suggestion in the policy files (minimal edits).
    #[arg(long)]
    write: bool,
    /// Exit 2 when any suggestion exists, 0 when none.
    #[arg(long)]
    detailed_exitcode: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReviewFormat {
    Human,
    Json,
    Csv,
    Markdown,
    /// One self-contained page (inline SVG charts, no script, no external request).
    Html,
}

// The result of a reading thread (a panic there, which library code never does, as an error).
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T, CliError>>) -> Result<T, CliError> {
    handle
        .join()
        .unwrap_or_else(|_| Err(CliError::Thread("a reading thread")))
}

fn parse_date(text: &str) -> Result<Date, String> {
    Date::parse(text).ok_or_else(|| format!("`{text}` is not a date written YYYY-MM-DD"))
}

fn read_usage(
    source: &str,
    settings: &crate::provider::Settings,
    as_of: Option<Date>,
    days: u32,
) -> Result<usage::Usage, CliError> {
    if let Some(path) = source.strip_prefix("file:") {
        return Ok(usage::read_file(path)?);
    }
    if source.starts_with("anthropic:") {
        // CHOICE: without `--as-of`, the review ends yesterday (UTC): the API serves a
        // day once it is over, and `ending_date` may be at most today.
        let end = as_of.unwrap_or_else(|| Date::today_utc().plus(-1));
        return Ok(crate::review::analytics::read(source, settings, end, days)?);
    }
    Err(usage::UsageError::Source(source.to_owned()).into())
}

pub(crate) fn review_command(args: &ReviewArgs) -> Result<Exit, CliError> {
    // A live-state file and a usage file are read while the policy is checked (at 100,000
    // users each takes about as long); a remote org or API only once the policy is valid.
    let settings = &super::settings(args.parallelism, super::ScimDeprovision::Delete, None);
    let read_live = || -> Result<crate::live::LiveState, CliError> {
        let provider = crate::provider::from_uri_with(&args.live, settings)?;
        Ok(provider.read()?)
    };
    let usage_file = args.usage.as_deref().filter(|u| u.starts_with("file:"));
    let (checked, live, usage) = std::thread::scope(|scope| {
        let live = args
            .live
            .starts_with("file:")
            .then(|| scope.spawn(read_live));
        let usage = usage_file.map(|source| {
            scope.spawn(move || read_usage(source, settings, args.as_of, args.inactive_days))
        });
        let checked = super::check_folder(&args.policies);
        (checked, live.map(join), usage.map(join))
    });
    let checked = checked?;
    if checked.errors() > 0 || checked.policy.is_none() {
        let stderr = std::io::stderr();
        let color = use_color(stderr.is_terminal());
        crate::diag::render(
            &mut stderr.lock(),
            &checked.diagnostics,
            &checked.sources,
            crate::diag::Format::Human,
            color,
        )?;
        let _ = writeln!(
            std::io::stderr(),
            "{}",
            super::summary(&args.policies, &checked)
        );
        return Err(CliError::Invalid);
    }
    let Some(policy) = &checked.policy else {
        return Err(CliError::Invalid);
    };
    let usage = match (usage, args.usage.as_deref()) {
        (Some(read), _) => Some(read?),
        (None, Some(source)) => Some(read_usage(
            source,
            settings,
            args.as_of,
            args.inactive_days,
        )?),
        (None, None) => None,
    };
    if let (Some(path), Some(usage)) = (&args.save_usage, &usage) {
        write_atomically(path, usage::to_file_text(usage).as_bytes())
            .map_err(CliError::file("write usage file", path))?;
    }
    let live = match live {
        Some(read) => read?,
        None => read_live()?,
    };
    let as_of = args
        .as_of
        .or(usage.as_ref().map(|u| u.end))
        .unwrap_or_else(Date::today_utc);
    let live = live.as_normalized();
    let options = findings::Options {
        as_of,
        inactive_days: args.inactive_days,
        usage_source: args.usage.as_deref().map(crate::provider::redact),
    };
    let review = findings::review(
        policy,
        &live,
        usage.as_ref(),
        &checked.diagnostics,
        &options,
    );

    // The report.
    let mut report: Vec<u8> = Vec::new();
    let to_terminal = args.out.is_none() && std::io::stdout().is_terminal();
    match args.format {
        ReviewFormat::Human => {
            review::render::render_human(&review, &mut report, use_color(to_terminal))
        }
        ReviewFormat::Json => review::render::render_json(&review, &mut report),
        ReviewFormat::Csv => review::render::render_csv(&review, &mut report),
        ReviewFormat::Markdown => review::render::render_markdown(&review, &mut report),
        ReviewFormat::Html => review::html::render_html(&review, &policy.org.name, &mut report),
    }?;

    // The policy edits.
    let edits = if args.suggest || args.write {
        review::edit::edits(policy, &review.findings)?
    } else {
        Vec::new()
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match &args.out {
        Some(path) => {
            write_atomically(path, &report).map_err(CliError::file("write report", path))?
        }
        // With --suggest and no -o, stdout is the diff: the report goes to stderr.
        None if args.suggest => std::io::stderr().write_all(&report)?,
        None => out.write_all(&report)?,
    }
    if args.suggest {
        out.write_all(review::edit::unified_diff(&edits).as_bytes())?;
    }
    if args.write {
        for edit in &edits {
            write_keeping_permissions(std::path::Path::new(&edit.path), edit.after.as_bytes())
                .map_err(CliError::file("write", std::path::Path::new(&edit.path)))?;
        }
        let _ = writeln!(
            std::io::stderr(),
            "wrote {} suggestion{} to {} file{}; run `orgplan plan` to see the operations",
            review.summary.suggestions,
            if review.summary.suggestions == 1 {
                ""
            } else {
                "s"
            },
            edits.len(),
            if edits.len() == 1 { "" } else { "s" },
        );
    }
    out.flush()?;
    Ok(if args.detailed_exitcode && review.has_suggestions() {
        Exit::Changes
    } else {
        Exit::Success
    })
}

// A policy file rewritten atomically, with the permissions it had (a temporary file is
// created owner-only).
fn write_keeping_permissions(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let permissions = std::fs::metadata(path)?.permissions();
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().set_permissions(permissions)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

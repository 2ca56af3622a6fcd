//! The command line: what the user typed -> a run of the pipeline -> an exit code.
//! Only this module (and `main`) decide exit codes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

mod apply_cmd;
mod error;
mod review_cmd;
mod test_cmd;

use crate::diag;
use crate::explain;
use crate::resolve;
use crate::validate::{self, Checked};
use error::CliError;

/// Every way a run can end; the one place that maps outcomes to 0/1/2/3/4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success; no changes for `plan --detailed-exitcode`; model allowed for `explain --model`.
    Success = 0,
    /// 1: runtime, provider, safety or stale-plan failure.
    Failure = 1,
    /// 2: `plan --detailed-exitcode` found changes; `explain --model` says denied.
    Changes = 2,
    /// 3: the policy is invalid.
    Invalid = 3,
    /// 4: `orgplan test` ran and a test failed.
    TestFailed = 4,
}

/// Policy-as-code for a Claude Team or Enterprise organization.
///
/// Declare the org in YAML under policies/, then validate, plan and apply.
#[derive(Debug, Parser)]
#[command(name = "orgplan", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the policy files against the schema and every rule; report every problem.
    ///
    /// Example: orgplan validate -p policies --format github
    Validate {
        /// Policy folder, read recursively.
        #[arg(short, long, default_value = "policies")]
        policies: PathBuf,
        /// Output format of the diagnostics.
        #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
        format: DiagFormat,
    },
    /// Compare the policy with the live org and print the operations that would make
    /// them match.
    ///
    /// Example: orgplan plan --live file:.orgplan/live.json -o plan.json --detailed-exitcode
    Plan {
        /// Policy folder, read recursively.
        #[arg(short, long, default_value = "policies")]
        policies: PathBuf,
        /// Where the live org is read: `file:PATH`, `scim+https://HOST/PATH` (token in
        /// `ORGPLAN_SCIM_TOKEN`) or `anthropic:` (key in `ANTHROPIC_ADMIN_KEY`).
        #[arg(long, default_value = crate::provider::DEFAULT_LIVE)]
        live: String,
        /// Also save the plan as JSON to FILE (for `apply FILE`).
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Output format of the plan.
        #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
        format: PlanFormat,
        /// Exit 2 when the plan has operations (manual ones included), 0 when none.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Accept a plan that removes or suspends up to N users in all, above
        /// `safety.max_removals`.
        #[arg(long, value_name = "N")]
        allow_removals: Option<usize>,
        /// Requests in flight at once while reading the live org (SCIM: pages, groups; Admin
        /// API: role permissions, group members).
        #[arg(long, value_name = "N", default_value_t = PARALLELISM, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallelism: u16,
    },
    /// Show a user's effective permissions, each value with the file:line it comes from.
    ///
    /// With --model, answer whether the user may use that model: exit 0 when allowed,
    /// 2 when denied.
    ///
    /// Example: orgplan explain bob.martin@acme.com --model claude-opus-4-1
    Explain {
        /// Email of the user (compared case-insensitively).
        email: String,
        /// Policy folder, read recursively.
        #[arg(short, long, default_value = "policies")]
        policies: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutFormat::Human)]
        format: OutFormat,
        /// A model name, such as `claude-opus-4-1`: is the user allowed to use it?
        #[arg(long)]
        model: Option<String>,
    },
    /// Carry out a plan: a saved one (PLANFILE, from `plan -o`), or a fresh one shown
    /// first and confirmed with `yes` (or `--auto-approve` where there is no terminal).
    ///
    /// Example: orgplan apply plan.json
    Apply {
        /// A plan saved by `orgplan plan -o FILE`; refused when the live org changed since.
        plan_file: Option<PathBuf>,
        /// Policy folder, read recursively (the safety rules are checked again on apply).
        #[arg(short, long, default_value = "policies")]
        policies: PathBuf,
        /// Where the live org is: `file:PATH`, `scim+https://HOST/PATH` or `anthropic:`.
        /// Default: the plan's, or
        /// `file:.orgplan/live.json` without a plan file.
        #[arg(long)]
        live: Option<String>,
        /// Apply a fresh plan without asking.
        #[arg(long)]
        auto_approve: bool,
        /// Accept a plan that removes or suspends up to N users in all, above
        /// `safety.max_removals`.
        #[arg(long, value_name = "N")]
        allow_removals: Option<usize>,
        /// Output format of the apply report.
        #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
        format: ReportFormat,
        /// SCIM: requests in flight at once: reads, and operations of one kind (member
        /// changes are one request per group). Writes default to 4: small servers accept
        /// only a few connections at once (Python's socketserver queues 5).
        #[arg(long, value_name = "N", default_value_t = APPLY_PARALLELISM, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallelism: u16,
        /// SCIM: remove a user with DELETE, or deactivate it (PATCH `active=false`).
        #[arg(long, value_enum, default_value_t = ScimDeprovision::Delete)]
        scim_deprovision: ScimDeprovision,
        /// The JSONL audit file every applied operation is appended to. Default:
        /// `PATH.audit.jsonl` for `file:PATH`, `.orgplan/audit.jsonl` for SCIM and the
        /// Admin API.
        #[arg(long, value_name = "FILE")]
        audit: Option<PathBuf>,
    },
    /// Write policy files from the live org, such that `plan` on them reports no changes.
    ///
    /// Example: orgplan export --live file:.orgplan/live.json -o exported/
    Export {
        /// Where the live org is read: `file:PATH`, `scim+https://HOST/PATH` or `anthropic:`.
        #[arg(long, default_value = crate::provider::DEFAULT_LIVE)]
        live: String,
        /// Folder to write org.yaml, roles.yaml, groups.yaml and users.yaml into.
        #[arg(short, long, value_name = "DIR")]
        out: PathBuf,
        /// Write into a folder that is not empty, replacing those four files.
        #[arg(long)]
        force: bool,
        /// Requests in flight at once while reading the live org (SCIM: pages, groups; Admin
        /// API: role permissions, group members).
        #[arg(long, value_name = "N", default_value_t = PARALLELISM, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallelism: u16,
    },
    /// Print the JSON Schema (draft-07) of policy files, or with --test of test files.
    ///
    /// Example: orgplan schema > schema/orgplan.schema.json
    ///
    /// Example: orgplan schema --test > schema/orgplan-test.schema.json
    Schema {
        /// The schema of policy test files (`*.test.yaml`) instead.
        #[arg(long)]
        test: bool,
    },
    /// Run the policy tests (`*.test.yaml` under the policy folder) against the effective
    /// permissions: exit 0 when all pass, 4 when one fails, 3 when a file is invalid.
    ///
    /// A test selects users (`user: EMAIL`, `group: NAME` or `users: all`, narrowed by an
    /// optional `where`) and states what must hold for each (`expect`: role, seat, status,
    /// groups, roles, capabilities, models, limits).
    ///
    /// Example: orgplan test -p policies --junit report.xml
    Test {
        /// Policy folder, read recursively; its `*.test.yaml` files are the tests.
        #[arg(short, long, default_value = "policies")]
        policies: PathBuf,
        /// Output format of the results.
        #[arg(long, value_enum, default_value_t = test_cmd::TestFormat::Human)]
        format: test_cmd::TestFormat,
        /// Also write the results as JUnit XML to FILE (for CI test reports).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    Review(review_cmd::ReviewArgs),
    /// Print a shell completion script.
    ///
    /// Example: orgplan completions bash > /etc/bash_completion.d/orgplan
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from the same definitions as --help.
    ///
    /// Example: orgplan man > orgplan.1 && man ./orgplan.1
    Man,
    /// Generate a synthetic org for benchmarks, or time the YAML parse floor.
    #[command(hide = true)]
    Synth {
        /// Number of users.
        #[arg(long, required_unless_present = "parse_only")]
        users: Option<usize>,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output folder (the policy files and live.json).
        #[arg(short, long, required_unless_present = "parse_only")]
        out: Option<PathBuf>,
        /// Only read and parse the YAML files of DIR with saphyr, then exit.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["users", "out"])]
        parse_only: Option<PathBuf>,
    },
}

/// Default of `--parallelism` for reads (plan, export).
const PARALLELISM: u16 = 8;

/// Default of `apply --parallelism`: writes (measured against scim2-server: 4 writers
/// finish 1,000 users in half the time 8 do, whose extra connections overflow its queue).
const APPLY_PARALLELISM: u16 = 4;

/// The provider settings of a run: the environment, read here and nowhere else in
/// orgplan, and the flags (docs/providers.md lists the variables).
fn settings(
    parallelism: u16,
    deprovision: ScimDeprovision,
    audit: Option<PathBuf>,
) -> crate::provider::Settings {
    crate::provider::Settings {
        parallelism: usize::from(parallelism),
        deprovision: match deprovision {
            ScimDeprovision::Delete => crate::provider::scim::Deprovision::Delete,
            ScimDeprovision::Deactivate => crate::provider::scim::Deprovision::Deactivate,
        },
        audit,
        ..crate::provider::Settings::from_lookup(|name| std::env::var(name).ok())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScimDeprovision {
    Delete,
    Deactivate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DiagFormat {
    Human,
    Json,
    Github,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlanFormat {
    Human,
    Json,
    Markdown,
    /// GitHub Actions annotations on the policy lines.
    Github,
}

// A safety refusal as `::error` annotations on the policy line of the rule that refused it,
// so a pull request shows why its plan cannot be applied.
fn print_refusal_annotations(policy: &crate::model::Policy, violations: &[crate::plan::Violation]) {
    use crate::model::Section;
    for violation in violations {
        let location = policy
            .origins
            .locate(Section::Org, "", violation.rule.policy_path())
            .map(|l| (l.file, l.line));
        let message = format!("{}\nto proceed: {}", violation.message, violation.help);
        let annotation = diag::Annotation {
            level: "error",
            location,
            title: violation.rule.as_str(),
            message: &message,
        };
        println!("{}", annotation.line());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutFormat {
    Human,
    Json,
}

impl From<DiagFormat> for diag::Format {
    fn from(format: DiagFormat) -> Self {
        match format {
            DiagFormat::Human => diag::Format::Human,
            DiagFormat::Json => diag::Format::Json,
            DiagFormat::Github => diag::Format::Github,
        }
    }
}

/// Colour only on a terminal, and never with `NO_COLOR` set.
pub fn use_color(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Run the command line; errors are printed here, the exit code returned.
pub fn run(cli: Cli) -> Exit {
    let result = match cli.command {
        Command::Validate { policies, format } => validate_command(&policies, format.into()),
        Command::Plan {
            policies,
            live,
            out,
            format,
            detailed_exitcode,
            allow_removals,
            parallelism,
        } => plan_command(&PlanArgs {
            policies,
            live,
            out,
            format,
            detailed_exitcode,
            allow_removals,
            remote: settings(parallelism, ScimDeprovision::Delete, None),
        }),
        Command::Explain {
            email,
            policies,
            format,
            model,
        } => explain_command(&email, &policies, format, model.as_deref()),
        Command::Apply {
            plan_file,
            policies,
            live,
            auto_approve,
            allow_removals,
            format,
            parallelism,
            scim_deprovision,
            audit,
        } => apply_cmd::apply_command(&apply_cmd::ApplyArgs {
            plan_file,
            policies,
            live,
            auto_approve,
            allow_removals,
            json: format == ReportFormat::Json,
            remote: settings(parallelism, scim_deprovision, audit),
        }),
        Command::Export {
            live,
            out,
            force,
            parallelism,
        } => apply_cmd::export_command(
            &live,
            &out,
            force,
            &settings(parallelism, ScimDeprovision::Delete, None),
        ),
        Command::Review(args) => review_cmd::review_command(&args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "orgplan",
                &mut std::io::stdout(),
            );
            Ok(Exit::Success)
        }
        Command::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .map(|()| Exit::Success)
                .map_err(CliError::from)
        }
        Command::Schema { test } => {
            if test {
                print!("{}", crate::policytest::model::json_schema_text());
            } else {
                print!("{}", crate::model::json_schema_text());
            }
            Ok(Exit::Success)
        }
        Command::Test {
            policies,
            format,
            junit,
        } => test_cmd::test_command(&policies, format, junit.as_ref()),
        Command::Synth {
            users,
            seed,
            out,
            parse_only,
        } => synth_command(users, seed, out, parse_only),
    };
    match result {
        Ok(exit) => exit,
        Err(error) if !error.to_print() => error.exit(),
        Err(error) => {
            let color = use_color(std::io::stderr().is_terminal());
            let label = if color {
                let style = anstyle::AnsiColor::Red.on_default().bold();
                format!("{}error{}", style.render(), style.render_reset())
            } else {
                "error".to_owned()
            };
            let _ = writeln!(std::io::stderr(), "{label}: {error}");
            error.exit()
        }
    }
}

/// Load and validate a policy folder. An unreadable folder is an `Err` (exit 1).
pub fn check_folder(policies: &std::path::Path) -> Result<Checked, CliError> {
    Ok(validate::check_dir(policies)?)
}

fn validate_command(policies: &std::path::Path, format: diag::Format) -> Result<Exit, CliError> {
    let mut checked = check_folder(policies)?;
    test_cmd::check_test_files(policies, &mut checked)?;
    let stdout = std::io::stdout();
    let color = use_color(stdout.is_terminal());
    // Buffered: a large org's findings are thousands of lines, each a write of its own
    // on a bare (line-buffered) stdout.
    let mut out = std::io::BufWriter::new(stdout.lock());
    diag::render(
        &mut out,
        &checked.diagnostics,
        &checked.sources,
        format,
        color,
    )?;
    if format == diag::Format::Human {
        writeln!(out, "{}", summary(policies, &checked))?;
    }
    out.flush()?;
    let exit = if checked.errors() > 0 {
        Exit::Invalid
    } else {
        Exit::Success
    };
    exit_without_freeing(checked);
    Ok(exit)
}

// The process ends right after a command: freeing a large policy or live state node by
// node would only delay the exit (about a tenth of `validate` on 100,000 users), and the
// operating system takes the memory back at once.
fn exit_without_freeing<T>(value: T) {
    std::mem::forget(value);
}

pub(crate) fn summary(policies: &std::path::Path, checked: &Checked) -> String {
    let errors = checked.errors();
    let warnings = checked.diagnostics.len() - errors;
    let plural = diag::count;
    match &checked.policy {
        Some(policy) => format!(
            "{}: valid ({}, {}, {}; {})",
            policies.display(),
            plural(policy.users.len(), "user"),
            plural(policy.groups.len(), "group"),
            plural(policy.roles.len(), "role"),
            plural(warnings, "warning"),
        ),
        None => format!(
            "{}: invalid ({}, {})",
            policies.display(),
            plural(errors, "error"),
            plural(warnings, "warning"),
        ),
    }
}

fn synth_command(
    users: Option<usize>,
    seed: u64,
    out: Option<PathBuf>,
    parse_only: Option<PathBuf>,
) -> Result<Exit, CliError> {
    if let Some(dir) = parse_only {
        let (files, bytes, documents) = crate::synth::parse_only(&dir)?;
        println!("parsed {files} files, {bytes} bytes, {documents} documents");
        return Ok(Exit::Success);
    }
    let (Some(users), Some(out)) = (users, out) else {
        return Err(CliError::SynthArguments);
    };
    let bytes = crate::synth::generate(users, seed, &out)?;
    println!(
        "wrote {users} users ({bytes} bytes of policy) to {}",
        out.display()
    );
    Ok(Exit::Success)
}

struct PlanArgs {
    policies: PathBuf,
    live: String,
    out: Option<PathBuf>,
    format: PlanFormat,
    detailed_exitcode: bool,
    allow_removals: Option<usize>,
    /// Settings of the providers (environment, `--parallelism`).
    remote: crate::provider::Settings,
}

/// The checked policy, or [`CliError::Invalid`] when it is invalid. Diagnostics go to
/// stderr so that stdout stays the command's output (a JSON plan can be piped).
pub(crate) fn load_policy(
    policies: &std::path::Path,
    format: diag::Format,
) -> Result<crate::model::Policy, CliError> {
    let checked = check_folder(policies)?;
    if !checked.diagnostics.is_empty() {
        // Annotations are read from stdout by the GitHub runner; text goes to stderr.
        let (mut out, color): (Box<dyn Write>, bool) = if format == diag::Format::Github {
            (Box::new(std::io::stdout()), false)
        } else {
            let stderr = std::io::stderr();
            let color = use_color(stderr.is_terminal());
            (Box::new(stderr), color)
        };
        diag::render(
            &mut out,
            &checked.diagnostics,
            &checked.sources,
            format,
            color,
        )?;
    }
    if checked.errors() > 0 {
        let _ = writeln!(std::io::stderr(), "{}", summary(policies, &checked));
        return Err(CliError::Invalid);
    }
    checked.policy.ok_or(CliError::Invalid)
}

fn plan_command(args: &PlanArgs) -> Result<Exit, CliError> {
    let diag_format = match args.format {
        PlanFormat::Github => diag::Format::Github,
        _ => diag::Format::Human,
    };
    // A live-state file is read while the policy is checked (a large org's file takes
    // as long to decode as a policy file set); a remote org is only read once the policy
    // is known to be valid.
    let read_file = |uri: &str| {
        let provider = crate::provider::from_uri_with(uri, &args.remote)?;
        Ok::<_, CliError>(provider.read()?)
    };
    let (loaded, prefetched) = std::thread::scope(|scope| {
        let prefetch = args.live.starts_with("file:").then(|| {
            scope.spawn(|| {
                let read = read_file(&args.live);
                // The file's text was freed on this thread, which ends now.
                crate::pool::give_back();
                read
            })
        });
        let loaded = load_policy(&args.policies, diag_format);
        (loaded, prefetch.map(std::thread::ScopedJoinHandle::join))
    });
    let loaded = loaded?;
    let policy = &loaded;
    let provider = crate::provider::from_uri_with(&args.live, &args.remote)?;
    // A missing live file is a new, empty org (so a first apply can create it); a
    // mistyped path would show the same "create everything" plan, so say which it is.
    let missing_file = args
        .live
        .strip_prefix("file:")
        .filter(|path| !std::path::Path::new(path).exists());
    if let Some(path) = missing_file.filter(|_| args.live != crate::provider::DEFAULT_LIVE) {
        let _ = writeln!(
            std::io::stderr(),
            "note: `{path}` does not exist: planning against an empty new org"
        );
    }
    let live = match prefetched {
        Some(Ok(read)) => read?,
        Some(Err(_)) => return Err(CliError::Thread("reading the live state")),
        None => provider.read()?,
    };
    let options = crate::plan::Options {
        live: provider.uri(),
        allow_removals: args.allow_removals,
        // The live index and the digests are part of a plan's JSON only: a plan only
        // shown goes without.
        shown_only: args.out.is_none() && args.format != PlanFormat::Json,
    };
    let refine = |ops, live: &_| provider.refine(ops, live);
    let built = crate::plan::build_with(policy, &live, &provider.capabilities(), &options, &refine);
    let plan = match built {
        Ok(plan) => plan,
        Err(crate::plan::PlanError::Refused(violations)) if args.format == PlanFormat::Github => {
            print_refusal_annotations(policy, &violations);
            return Err(crate::plan::PlanError::Refused(violations).into());
        }
        Err(error) => return Err(error.into()),
    };

    // Save first: a plan that cannot be saved should not look like a success.
    if let Some(path) = &args.out {
        let mut json = Vec::new();
        crate::plan::render_json(&plan, &mut json)?;
        write_atomically(path, &json).map_err(CliError::file("write plan", path))?;
    }
    let stdout = std::io::stdout();
    let color = use_color(stdout.is_terminal());
    // Buffered: a large plan is thousands of lines, each a write of its own on a bare
    // (line-buffered) stdout; at 100,000 users, 17,000 writes and a tenth of plan's time.
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        PlanFormat::Human => crate::plan::render_human(&plan, &mut out, color),
        PlanFormat::Json => crate::plan::render_json(&plan, &mut out),
        PlanFormat::Markdown => {
            let access = crate::plan::access_changes(&plan, policy, &live);
            crate::plan::render_markdown(&plan, &access, &mut out)
        }
        PlanFormat::Github => crate::plan::render_github(&plan, &mut out),
    }
    .and_then(|()| out.flush())?;
    let exit = if args.detailed_exitcode && !plan.is_empty() {
        Exit::Changes
    } else {
        Exit::Success
    };
    exit_without_freeing((loaded, live, plan));
    Ok(exit)
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename, so
/// that a reader never sees half a plan.
pub(crate) fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn explain_command(
    email: &str,
    policies: &std::path::Path,
    format: OutFormat,
    model: Option<&str>,
) -> Result<Exit, CliError> {
    let checked = check_folder(policies)?;
    let Some(policy) = &checked.policy else {
        // Explaining a policy that does not validate would explain something else.
        let stderr = std::io::stderr();
        let color = use_color(stderr.is_terminal());
        let diag_format = match format {
            OutFormat::Human => diag::Format::Human,
            OutFormat::Json => diag::Format::Json,
        };
        diag::render(
            &mut stderr.lock(),
            &checked.diagnostics,
            &checked.sources,
            diag_format,
            color,
        )?;
        return Err(CliError::Invalid);
    };
    let Some(effective) = resolve::resolve(policy, email) else {
        let help = diag::did_you_mean(email, policy.users.keys().map(String::as_str))
            .unwrap_or_else(|| "run `orgplan validate` to list the declared users".to_owned());
        return Err(CliError::UnknownUser {
            email: email.to_owned(),
            policies: policies.to_owned(),
            help,
        });
    };
    let decision = model.map(|name| (name, resolve::check_model(&effective, name)));
    let stdout = std::io::stdout();
    let color = use_color(stdout.is_terminal());
    let mut out = stdout.lock();
    let written = match (format, &decision) {
        (OutFormat::Json, _) => explain::render_json(
            &mut out,
            &effective,
            decision.as_ref().map(|(name, d)| (*name, d)),
        ),
        (OutFormat::Human, Some((_, d))) => explain::render_decision(&mut out, d, color),
        (OutFormat::Human, None) => explain::render_human(&mut out, &effective, color),
    };
    written?;
    Ok(match decision {
        Some((_, d)) if !d.allowed => Exit::Changes,
        _ => Exit::Success,
    })
}

//! Diagnostics: what is wrong, where, and how to fix it; rendered as human text
//! (rustc style, with a source snippet), JSON, or GitHub Actions annotations.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

/// How bad a finding is: errors fail the run (exit 3), warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy is invalid.
    Error,
    /// The policy is valid but probably not what was meant.
    Warning,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A place in a policy file: 1-based line and column, and how many characters the
/// offending node spans on that line (at least 1, for the caret).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    /// Path of the file as the user named it (`policies/users.yaml`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// Width of the node on its first line, in characters.
    #[serde(skip)]
    pub width: usize,
}

impl Location {
    /// `file:line`, the form used for provenance in plans and `explain`.
    pub fn file_line(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A diagnostic code: stable, kebab-case on the wire (`schema`, `unknown-reference`), and
/// documented in `CODES` and in `docs/diagnostics.md`. An enum, so a misspelt code does not
/// compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// `yaml-syntax`
    YamlSyntax,
    /// `schema`
    Schema,
    /// `missing-org`
    MissingOrg,
    /// `duplicate-definition`
    DuplicateDefinition,
    /// `unknown-reference`
    UnknownReference,
    /// `primary-owner-count`
    PrimaryOwnerCount,
    /// `plan-feature`
    PlanFeature,
    /// `seat-overflow`
    SeatOverflow,
    /// `email-domain`
    EmailDomain,
    /// `invalid-email`
    InvalidEmail,
    /// `limit-over-cap`
    LimitOverCap,
    /// `invalid-pattern`
    InvalidPattern,
    /// `capability-not-enabled`
    CapabilityNotEnabled,
    /// `protected-unknown`
    ProtectedUnknown,
    /// `seat-restriction`
    SeatRestriction,
    /// `unused-role`
    UnusedRole,
    /// `unused-group`
    UnusedGroup,
    /// `empty-group`
    EmptyGroup,
    /// `no-spend-limit`
    NoSpendLimit,
    /// `too-many-admins`
    TooManyAdmins,
}

impl Code {
    /// Every code, in the order of [`CODES`].
    pub const ALL: [Code; 20] = [
        Code::YamlSyntax,
        Code::Schema,
        Code::MissingOrg,
        Code::DuplicateDefinition,
        Code::UnknownReference,
        Code::PrimaryOwnerCount,
        Code::PlanFeature,
        Code::SeatOverflow,
        Code::EmailDomain,
        Code::InvalidEmail,
        Code::LimitOverCap,
        Code::InvalidPattern,
        Code::CapabilityNotEnabled,
        Code::ProtectedUnknown,
        Code::SeatRestriction,
        Code::UnusedRole,
        Code::UnusedGroup,
        Code::EmptyGroup,
        Code::NoSpendLimit,
        Code::TooManyAdmins,
    ];

    /// The code as users see it: `error[unknown-reference]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "yaml-syntax",
            Code::Schema => "schema",
            Code::MissingOrg => "missing-org",
            Code::DuplicateDefinition => "duplicate-definition",
            Code::UnknownReference => "unknown-reference",
            Code::PrimaryOwnerCount => "primary-owner-count",
            Code::PlanFeature => "plan-feature",
            Code::SeatOverflow => "seat-overflow",
            Code::EmailDomain => "email-domain",
            Code::InvalidEmail => "invalid-email",
            Code::LimitOverCap => "limit-over-cap",
            Code::InvalidPattern => "invalid-pattern",
            Code::CapabilityNotEnabled => "capability-not-enabled",
            Code::ProtectedUnknown => "protected-unknown",
            Code::SeatRestriction => "seat-restriction",
            Code::UnusedRole => "unused-role",
            Code::UnusedGroup => "unused-group",
            Code::EmptyGroup => "empty-group",
            Code::NoSpendLimit => "no-spend-limit",
            Code::TooManyAdmins => "too-many-admins",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// Diagnostics at one place sort by their code's text, as they did when codes were strings.
impl Ord for Code {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// One finding.
///
/// JSON form (`validate --format json`): `{"severity", "code", "message", "file",
/// "line", "col", "help"}`; `file`/`line`/`col` are absent when the finding has no
/// place (a missing `org`), `help` when there is nothing to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable kebab-case code.
    pub code: Code,
    /// One lowercase line naming the user's values in backticks.
    pub message: String,
    /// Where the offending node is.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// How to fix it, when there is something useful to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with the given code.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    /// A warning with the given code.
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    fn new(severity: Severity, code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            location: None,
            help: None,
        }
    }

    /// Attach the place of the offending node.
    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    /// Attach a help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Attach a help line when there is one.
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sort diagnostics into a stable order: by file, line, column, then code and message.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics
        .sort_by(|a, b| (&a.location, a.code, &a.message).cmp(&(&b.location, b.code, &b.message)));
}

/// A documented diagnostic code.
pub struct CodeInfo {
    /// The stable code.
    pub code: Code,
    /// Its severity.
    pub severity: Severity,
    /// What it means.
    pub meaning: &'static str,
    /// How to fix it.
    pub fix: &'static str,
}

/// Every diagnostic code orgplan emits. The README table lists the same codes; a test
/// keeps the two in step.
pub const CODES: &[CodeInfo] = &[
    CodeInfo {
        code: Code::YamlSyntax,
        severity: Severity::Error,
        meaning: "a file is not valid YAML (bad indentation, duplicate key, non-UTF-8 bytes, several documents, an alias bomb)",
        fix: "fix the YAML at the position shown",
    },
    CodeInfo {
        code: Code::Schema,
        severity: Severity::Error,
        meaning: "a value has the wrong type, an unknown field or a value outside its enum",
        fix: "use the field names and values of `orgplan schema`; the help line suggests the nearest one",
    },
    CodeInfo {
        code: Code::MissingOrg,
        severity: Severity::Error,
        meaning: "no file declares `org` (two that do are `duplicate-definition`)",
        fix: "declare `org` in exactly one file",
    },
    CodeInfo {
        code: Code::DuplicateDefinition,
        severity: Severity::Error,
        meaning: "a role, group or user (emails compared case-insensitively) is defined twice",
        fix: "keep one definition; the message names both places",
    },
    CodeInfo {
        code: Code::UnknownReference,
        severity: Severity::Error,
        meaning: "a role, group or user is named but not defined",
        fix: "define it, or fix the spelling (see the help line)",
    },
    CodeInfo {
        code: Code::PrimaryOwnerCount,
        severity: Severity::Error,
        meaning: "not exactly one user has `role: primary_owner`",
        fix: "give exactly one user `role: primary_owner`",
    },
    CodeInfo {
        code: Code::PlanFeature,
        severity: Severity::Error,
        meaning: "a `team` plan uses an Enterprise feature: SCIM/JIT provisioning, SSO, groups, custom roles, model restrictions or token limits",
        fix: "remove the feature or set `plan: enterprise`",
    },
    CodeInfo {
        code: Code::SeatOverflow,
        severity: Severity::Error,
        meaning: "more non-suspended users of a seat tier than seats purchased",
        fix: "buy seats (`org.seats`), move users to another tier, or suspend or remove users",
    },
    CodeInfo {
        code: Code::EmailDomain,
        severity: Severity::Error,
        meaning: "a user's email is outside `org.domains`",
        fix: "fix the email, add the domain, or mark the user `external: true`",
    },
    CodeInfo {
        code: Code::InvalidEmail,
        severity: Severity::Error,
        meaning: "a user key or member is not an email address",
        fix: "write `name@domain`",
    },
    CodeInfo {
        code: Code::LimitOverCap,
        severity: Severity::Error,
        meaning: "a declared limit is above `org.caps` for the same metric and period",
        fix: "lower the limit or raise the cap; limits are never clamped silently",
    },
    CodeInfo {
        code: Code::InvalidPattern,
        severity: Severity::Error,
        meaning: "a model pattern has characters other than letters, digits, `-._:/@` and the wildcards `*` and `?`",
        fix: "write a glob such as `claude-sonnet-4*`",
    },
    CodeInfo {
        code: Code::CapabilityNotEnabled,
        severity: Severity::Error,
        meaning: "a role, group default or `org.defaults` grants a capability outside `org.capabilities`",
        fix: "add it to `org.capabilities` or remove the grant",
    },
    CodeInfo {
        code: Code::ProtectedUnknown,
        severity: Severity::Error,
        meaning: "an email in `safety.protected` is not a declared user",
        fix: "declare the user or fix the email",
    },
    CodeInfo {
        code: Code::SeatRestriction,
        severity: Severity::Warning,
        meaning: "Claude Code reaches a user on a standard seat through a role or the defaults; the seat wins and the user will not have it",
        fix: "give the user `seat: premium`, or stop granting `claude_code` to them",
    },
    CodeInfo {
        code: Code::UnusedRole,
        severity: Severity::Warning,
        meaning: "no group grants this custom role, so nobody holds it",
        fix: "grant it to a group or delete it",
    },
    CodeInfo {
        code: Code::UnusedGroup,
        severity: Severity::Warning,
        meaning: "a group with members that grants no role and sets no limit changes nobody's access",
        fix: "grant it a role or limits, or delete it",
    },
    CodeInfo {
        code: Code::EmptyGroup,
        severity: Severity::Warning,
        meaning: "a group has no members",
        fix: "add members or delete the group",
    },
    CodeInfo {
        code: Code::NoSpendLimit,
        severity: Severity::Warning,
        meaning: "a user has `api` or `claude_code` and no spend or token limit from any source",
        fix: "set a limit on the user, a group, a role or `org.defaults`",
    },
    CodeInfo {
        code: Code::TooManyAdmins,
        severity: Severity::Warning,
        meaning: "owners and admins (primary owner included) are more than 10% of users (and more than one)",
        fix: "give the least privilege that works: make some of them members",
    },
];

/// Output format of diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// rustc-style text with source snippets.
    Human,
    /// One JSON object: `{"diagnostics": [...], "errors": N, "warnings": N}`.
    Json,
    /// GitHub Actions workflow commands.
    Github,
}

/// Render `diagnostics` in `format`. `color` adds ANSI styles to the human format.
pub fn render(
    out: &mut dyn Write,
    diagnostics: &[Diagnostic],
    sources: &Sources,
    format: Format,
    color: bool,
) -> io::Result<()> {
    match format {
        Format::Human => {
            for diagnostic in diagnostics {
                render_human(out, diagnostic, sources, color)?;
            }
            Ok(())
        }
        Format::Json => {
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            let value = serde_json::json!({
                "diagnostics": diagnostics,
                "errors": errors,
                "warnings": diagnostics.len() - errors,
            });
            serde_json::to_writer_pretty(&mut *out, &value)?;
            writeln!(out)
        }
        Format::Github => {
            for diagnostic in diagnostics {
                writeln!(out, "{}", github_line(diagnostic))?;
            }
            Ok(())
        }
    }
}

/// One GitHub Actions annotation: `::error file=F,line=L,col=C,title=CODE::message`.
pub fn github_line(diagnostic: &Diagnostic) -> String {
    let mut message = diagnostic.message.clone();
    if let Some(help) = &diagnostic.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let location = diagnostic.location.as_ref();
    let mut line = Annotation {
        level: diagnostic.severity.as_str(),
        location: location.map(|l| (l.file.clone(), l.line)),
        title: diagnostic.code.as_str(),
        message: &message,
    }
    .line();
    if let Some(location) = location {
        // The column goes right after the line, as GitHub documents the properties.
        let at = format!(",line={}", location.line);
        line = line.replacen(&at, &format!("{at},col={}", location.col), 1);
    }
    line
}

/// A GitHub Actions workflow command (`::notice`, `::warning`, `::error`), escaped as the
/// runner expects; shared by `validate` and `plan`.
pub struct Annotation<'a> {
    /// `notice`, `warning` or `error`.
    pub level: &'a str,
    /// File and line the annotation belongs to.
    pub location: Option<(String, usize)>,
    /// The title (a diagnostic code, an operation).
    pub title: &'a str,
    /// The message; newlines are kept as `%0A`.
    pub message: &'a str,
}

impl Annotation<'_> {
    /// The workflow command line.
    pub fn line(&self) -> String {
        let mut properties = Vec::new();
        if let Some((file, line)) = &self.location {
            properties.push(format!("file={}", escape_property(file)));
            properties.push(format!("line={line}"));
        }
        properties.push(format!("title={}", escape_property(self.title)));
        format!(
            "::{} {}::{}",
            self.level,
            properties.join(","),
            escape_data(self.message)
        )
    }
}

// The escaping rules of GitHub's workflow commands (actions/toolkit `command.ts`).
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn paint(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_owned()
    }
}

fn render_human(
    out: &mut dyn Write,
    diagnostic: &Diagnostic,
    sources: &Sources,
    color: bool,
) -> io::Result<()> {
    let level_style = match diagnostic.severity {
        Severity::Error => AnsiColor::Red.on_default().bold(),
        Severity::Warning => AnsiColor::Yellow.on_default().bold(),
    };
    let blue = AnsiColor::Blue.on_default().bold();
    let bold = Style::new().bold();
    writeln!(
        out,
        "{}{}",
        paint(
            color,
            level_style,
            &format!("{}[{}]", diagnostic.severity.as_str(), diagnostic.code)
        ),
        paint(color, bold, &format!(": {}", diagnostic.message)),
    )?;
    // Every code has its page section: what it means, an example, how to fix it.
    let see = format!("{DOCS}#{}", diagnostic.code);
    let Some(location) = &diagnostic.location else {
        if let Some(help) = &diagnostic.help {
            writeln!(out, "  {} {help}", paint(color, blue, "= help:"))?;
        }
        writeln!(out, "  {} {see}", paint(color, blue, "= see:"))?;
        return writeln!(out);
    };
    let gutter = location.line.to_string().len();
    let pad = " ".repeat(gutter);
    writeln!(out, "{pad}{} {location}", paint(color, blue, "-->"))?;
    if let Some(line_text) = sources.line(&location.file, location.line) {
        // Tabs and control characters (a NUL from a UTF-16 file, a BEL) are shown as one
        // visible column each, so the caret lines up and no raw control byte reaches the
        // terminal.
        let visible: String = line_text
            .chars()
            .map(|c| match c {
                '\t' => ' ',
                c if c.is_control() => '\u{FFFD}',
                c => c,
            })
            .collect();
        let (line_text, col) = snippet_window(&visible, location.col);
        // Columns count characters; a terminal shows a wide (CJK, emoji) character in two
        // cells, so the caret is placed by display width.
        let before: String = line_text.chars().take(col.saturating_sub(1)).collect();
        let marked: String = line_text
            .chars()
            .skip(col.saturating_sub(1))
            .take(location.width.max(1))
            .collect();
        let indent = unicode_width::UnicodeWidthStr::width(before.as_str());
        let caret_count = unicode_width::UnicodeWidthStr::width(marked.as_str());
        writeln!(out, "{pad} {}", paint(color, blue, "|"))?;
        writeln!(
            out,
            "{} {line_text}",
            paint(color, blue, &format!("{} |", location.line))
        )?;
        let carets = "^".repeat(caret_count.max(1));
        writeln!(
            out,
            "{pad} {} {}{}",
            paint(color, blue, "|"),
            " ".repeat(indent),
            paint(color, level_style, &carets)
        )?;
    }
    writeln!(out, "{pad} {}", paint(color, blue, "|"))?;
    if let Some(help) = &diagnostic.help {
        writeln!(out, "{pad} {} {help}", paint(color, blue, "= help:"))?;
    }
    writeln!(out, "{pad} {} {see}", paint(color, blue, "= see:"))?;
    writeln!(out)
}

/// Where each code is documented, relative to the repository (and the installed docs).
pub const DOCS: &str = "docs/diagnostics.md";

// A long line (minified YAML, a hostile file) is cut to a window around the column, so a
// diagnostic stays readable; returns the text and the column within it.
fn snippet_window(line: &str, col: usize) -> (String, usize) {
    const WIDTH: usize = 100;
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= WIDTH {
        return (line.to_owned(), col);
    }
    let start = col
        .saturating_sub(WIDTH / 2)
        .min(chars.len().saturating_sub(WIDTH));
    let end = (start + WIDTH).min(chars.len());
    let mut text = String::new();
    let mut shift = start;
    if start > 0 {
        text.push('…');
        shift -= 1;
    }
    text.extend(&chars[start..end]);
    if end < chars.len() {
        text.push('…');
    }
    (text, col - shift)
}

/// `n` and the word, plural unless `n` is 1: "1 user", "2 users".
pub fn count(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The closest of `candidates` to `word`, for a "did you mean" help line.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let word_lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            (
                strsim::damerau_levenshtein(&word_lower, &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, candidate)| {
            *distance > 0 && *distance <= (candidate.chars().count().max(3) / 3).max(1)
        })
        .min()
        .map(|(_, candidate)| format!("did you mean `{candidate}`?"))
}

/// The text of every policy file read, for source snippets.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    files: Vec<(String, String)>,
}

impl Sources {
    /// Add a file; returns its index.
    pub fn add(&mut self, name: String, text: String) -> usize {
        self.files.push((name, text));
        self.files.len() - 1
    }

    /// Add every file of `other` after these (test files beside the policy's, say).
    pub fn append(&mut self, other: Sources) {
        self.files.extend(other.files);
    }

    /// How many files there are (the index the next one gets).
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file was added.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Name of file `id`.
    pub fn name(&self, id: usize) -> &str {
        self.files.get(id).map_or("", |(name, _)| name.as_str())
    }

    /// Line `line` (1-based) of the file called `name`.
    pub fn line(&self, name: &str, line: usize) -> Option<&str> {
        let (_, text) = self.files.iter().find(|(n, _)| n == name)?;
        text.lines().nth(line.checked_sub(1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        // Every code is documented once, in the order of `Code::ALL`, and its wire form is
        // the kebab-case serde gives it.
        let documented: Vec<Code> = CODES.iter().map(|info| info.code).collect();
        assert_eq!(documented, Code::ALL.to_vec());
        for info in CODES {
            assert!(seen.insert(info.code), "duplicate code {}", info.code);
            assert_eq!(
                serde_json::to_value(info.code).unwrap(),
                serde_json::Value::from(info.code.as_str())
            );
            assert!(
                info.code
                    .as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-'),
                "{} is not kebab-case",
                info.code
            );
            assert!(!info.meaning.is_empty() && !info.fix.is_empty());
        }
    }

    #[test]
    fn did_you_mean_finds_close_names_only() {
        let names = ["engineering", "sales", "support"];
        assert_eq!(
            did_you_mean("engneering", names).as_deref(),
            Some("did you mean `engineering`?")
        );
        assert_eq!(did_you_mean("marketing", names), None);
        assert_eq!(did_you_mean("sales", names), None);
    }

    #[test]
    fn github_annotation_escapes_separators() {
        let diagnostic =
            Diagnostic::error(Code::Schema, "bad, very: bad\n100%").at(Some(Location {
                file: "a,b.yaml".into(),
                line: 3,
                col: 5,
                width: 1,
            }));
        assert_eq!(
            github_line(&diagnostic),
            "::error file=a%2Cb.yaml,line=3,col=5,title=schema::bad, very: bad%0A100%25"
        );
    }
}

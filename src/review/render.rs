//! The review as text for a terminal, JSON, CSV and Markdown. (HTML: [`super::html`].)

use std::io::{self, Write};

use super::{Finding, Review, Severity};

/// The CSV header (fixed).
pub const CSV_HEADER: &str = "email,name,role,seat,status,groups,last_active,days_inactive,chat_messages,claude_code_sessions,findings,suggestion";

/// Findings shown in full by the human and Markdown reports; the rest are counted (the
/// JSON, CSV and HTML reports list every one).
pub const LIST_LIMIT: usize = 200;

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn headline(review: &Review) -> String {
    let s = &review.summary;
    let usage = match &review.usage {
        Some(_) => format!(
            "{} active, {} inactive, {} with unknown usage",
            s.active, s.inactive, s.usage_unknown
        ),
        None => "no usage data (`--usage`): static findings only".to_owned(),
    };
    format!("{}: {usage}", plural(s.users, "user"))
}

/// Text for a terminal; colour only when `color`.
pub fn render_human(review: &Review, out: &mut dyn Write, color: bool) -> io::Result<()> {
    use anstyle::{AnsiColor, Style};
    let paint = |style: Style, text: &str| {
        if color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    };
    let bold = Style::new().bold();
    writeln!(
        out,
        "{}",
        paint(
            bold,
            &format!(
                "Seat and access review as of {} (window {} to {}, {} days)",
                review.as_of, review.window.start, review.window.end, review.inactive_days
            )
        )
    )?;
    if let Some(usage) = &review.usage {
        writeln!(
            out,
            "usage: {} ({} to {})",
            usage.source, usage.start, usage.end
        )?;
        if usage.unknown_emails > 0 {
            writeln!(
                out,
                "note: usage for {} neither declared nor in the live org was ignored",
                plural(usage.unknown_emails, "email")
            )?;
        }
    }
    writeln!(out, "{}", headline(review))?;
    writeln!(out)?;
    writeln!(
        out,
        "  {:<10} {:>9} {:>9} {:>7} {:>9}",
        "seats", "purchased", "assigned", "active", "inactive"
    )?;
    for (tier, seats) in review.seats.tiers() {
        let opt = |n: Option<usize>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
        writeln!(
            out,
            "  {:<10} {:>9} {:>9} {:>7} {:>9}",
            tier,
            seats.purchased,
            seats.assigned,
            opt(seats.active),
            opt(seats.inactive)
        )?;
    }
    writeln!(out)?;
    for finding in review.findings.iter().take(LIST_LIMIT) {
        let (style, label) = match finding.severity {
            Severity::Warning => (AnsiColor::Yellow.on_default().bold(), "warning"),
            Severity::Info => (AnsiColor::Cyan.on_default().bold(), "info"),
        };
        writeln!(
            out,
            "{}: {}",
            paint(style, &format!("{label}[{}]", finding.code)),
            finding.message
        )?;
        if let Some(place) = &finding.place {
            writeln!(out, "  --> {place}")?;
        }
        if let Some(suggestion) = &finding.suggestion {
            writeln!(
                out,
                "  = suggest: {}",
                paint(AnsiColor::Green.on_default(), &suggestion.short())
            )?;
        }
    }
    if review.findings.len() > LIST_LIMIT {
        writeln!(
            out,
            "… and {} more findings (every one is in `--format json`, `csv` and `html`)",
            review.findings.len() - LIST_LIMIT
        )?;
    }
    if !review.findings.is_empty() {
        writeln!(out)?;
    }
    let s = &review.summary;
    if s.removals_over_limit > 0 {
        writeln!(
            out,
            "note: the suggestions suspend {} more users than `safety.max_removals` lets one plan do; plan them with `--allow-removals`",
            s.removals_over_limit
        )?;
    }
    write!(
        out,
        "Review: {}, {}, {}.",
        plural(s.findings, "finding"),
        plural(s.warnings, "warning"),
        plural(s.suggestions, "suggestion")
    )?;
    if s.suggestions > 0 {
        write!(
            out,
            " Run with `--suggest` to see the policy diff, `--write` to apply it."
        )?;
    }
    writeln!(out)
}

/// The JSON report (pretty, a final newline).
pub fn render_json(review: &Review, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, review)?;
    writeln!(out)
}

// RFC 4180 field: quoted when it holds a comma, quote or line break. A field that a
// spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading
// `'`, so a hostile name cannot become a formula in the CISO's spreadsheet.
fn csv_field(value: &str, out: &mut String) {
    let guarded;
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{value}");
        guarded.as_str()
    } else {
        value
    };
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// One row per user, [`CSV_HEADER`] first; lines end with CRLF (RFC 4180).
pub fn render_csv(review: &Review, out: &mut dyn Write) -> io::Result<()> {
    let mut suggestion_of = std::collections::HashMap::new();
    for finding in &review.findings {
        if let (Some(email), Some(s)) = (&finding.email, &finding.suggestion) {
            suggestion_of.insert(email.as_str(), s.short());
        }
    }
    let mut text = String::with_capacity(128 * (review.users.len() + 1));
    text.push_str(CSV_HEADER);
    text.push_str("\r\n");
    let opt = |n: Option<String>| n.unwrap_or_default();
    for user in &review.users {
        let fields = [
            user.email.clone(),
            user.name.clone().unwrap_or_default(),
            user.role.to_owned(),
            user.seat.to_owned(),
            user.status.to_owned(),
            user.groups.join(";"),
            opt(user.last_active.map(|d| d.to_string())),
            opt(user.days_inactive.map(|d| d.to_string())),
            opt(user.chat_messages.map(|d| d.to_string())),
            opt(user.claude_code_sessions.map(|d| d.to_string())),
            user.findings.join(";"),
            suggestion_of
                .get(user.email.as_str())
                .cloned()
                .unwrap_or_default(),
        ];
        for (at, field) in fields.iter().enumerate() {
            if at > 0 {
                text.push(',');
            }
            csv_field(field, &mut text);
        }
        text.push_str("\r\n");
    }
    out.write_all(text.as_bytes())
}

// Text inside a Markdown table cell: no line breaks, pipes and markup escaped.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' | '\\' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

// A finding's message for Markdown: the backticked values stay code spans.
fn message_cell(finding: &Finding) -> String {
    let mut out = String::new();
    for (at, part) in finding.message.split('`').enumerate() {
        if at % 2 == 1 {
            out.push('`');
            out.push_str(&part.replace('|', "\\|").replace('`', ""));
            out.push('`');
        } else {
            out.push_str(&cell(part));
        }
    }
    out
}

/// Markdown, for a scheduled issue or a pull request.
pub fn render_markdown(review: &Review, out: &mut dyn Write) -> io::Result<()> {
    let s = &review.summary;
    writeln!(out, "## Seat and access review, {}", review.as_of)?;
    writeln!(out)?;
    writeln!(
        out,
        "Window: {} to {} ({} days). {}.",
        review.window.start,
        review.window.end,
        review.inactive_days,
        cell(&headline(review))
    )?;
    if let Some(usage) = &review.usage {
        writeln!(
            out,
            "Usage: `{}`, {} to {}.",
            usage.source.replace('`', ""),
            usage.start,
            usage.end
        )?;
    }
    writeln!(out)?;
    writeln!(out, "| Seats | Purchased | Assigned | Active | Inactive |")?;
    writeln!(out, "|---|---:|---:|---:|---:|")?;
    for (tier, seats) in review.seats.tiers() {
        let opt = |n: Option<usize>| n.map_or_else(|| "–".to_owned(), |n| n.to_string());
        writeln!(
            out,
            "| {tier} | {} | {} | {} | {} |",
            seats.purchased,
            seats.assigned,
            opt(seats.active),
            opt(seats.inactive)
        )?;
    }
    writeln!(out)?;
    if review.usage.is_some() {
        writeln!(out, "| Days since last activity | Users |")?;
        writeln!(out, "|---|---:|")?;
        for (label, count) in s.activity.buckets() {
            writeln!(out, "| {label} | {count} |")?;
        }
        writeln!(out)?;
    }
    if review.findings.is_empty() {
        writeln!(out, "No findings.")?;
    } else {
        writeln!(out, "| | Code | User | Finding | Suggestion |")?;
        writeln!(out, "|---|---|---|---|---|")?;
        for finding in review.findings.iter().take(LIST_LIMIT) {
            let icon = match finding.severity {
                Severity::Warning => "⚠️",
                Severity::Info => "ℹ️",
            };
            let suggestion = finding.suggestion.as_ref().map_or_else(String::new, |s| {
                format!(
                    "`{}` in `{}:{}`",
                    s.short(),
                    s.file.replace('`', ""),
                    s.line
                )
            });
            writeln!(
                out,
                "| {icon} | `{}` | {} | {} | {} |",
                finding.code,
                finding.email.as_deref().map(cell).unwrap_or_default(),
                message_cell(finding),
                suggestion
            )?;
        }
        if review.findings.len() > LIST_LIMIT {
            writeln!(out)?;
            writeln!(
                out,
                "… and {} more findings: see the JSON, CSV or HTML report.",
                review.findings.len() - LIST_LIMIT
            )?;
        }
    }
    writeln!(out)?;
    write!(
        out,
        "**{}, {}, {}.**",
        plural(s.findings, "finding"),
        plural(s.warnings, "warning"),
        plural(s.suggestions, "suggestion")
    )?;
    if s.suggestions > 0 {
        write!(
            out,
            " `orgplan review --write` carries the suggestions out in the policy files."
        )?;
    }
    writeln!(out)
}

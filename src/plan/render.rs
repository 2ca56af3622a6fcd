//! The plan's renderers: human (Terraform-like), JSON (the saved-plan format), GitHub
//! Actions annotations, and the markdown pull-request comment.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde_json::Value;

use crate::diff::{Effect, Execution, OpKind, Operation, Unmanaged};
use crate::live::{self, LiveState};
use crate::model::Policy;

use super::{Plan, Summary};

/// How a body line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Add,
    Change,
    Remove,
    Plain,
}

impl Tone {
    fn of(effect: Effect) -> Self {
        match effect {
            Effect::Add => Tone::Add,
            Effect::Change => Tone::Change,
            Effect::Remove => Tone::Remove,
        }
    }

    fn sign(self) -> char {
        match self {
            Tone::Add => '+',
            Tone::Change => '~',
            Tone::Remove => '-',
            Tone::Plain => ' ',
        }
    }

    fn style(self) -> anstyle::Style {
        let color = match self {
            Tone::Add => anstyle::AnsiColor::Green,
            Tone::Change => anstyle::AnsiColor::Yellow,
            Tone::Remove => anstyle::AnsiColor::Red,
            Tone::Plain => return anstyle::Style::new(),
        };
        color.on_default()
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "(none)".into(),
        Value::String(s) => Value::from(s.as_str()).to_string(),
        other => other.to_string(),
    }
}

fn item(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn lines_of(value: &Value) -> String {
    match value {
        Value::Array(items) => items.iter().map(|i| item(i) + "\n").collect(),
        Value::Null => String::new(),
        // A YAML block scalar (`|`) ends with its own newline.
        other => {
            let text = item(other);
            if text.ends_with('\n') {
                text
            } else {
                text + "\n"
            }
        }
    }
}

/// The body of one operation: one line per scalar field, a line diff per list.
fn body(op: &Operation) -> Vec<(Tone, String)> {
    let mut out = Vec::new();
    for change in &op.changes {
        // Lists, and strings of several lines (a line diff for multi-line values, docs/plan.md).
        let multi_line = |v: &Value| v.as_str().is_some_and(|s| s.contains('\n'));
        let listy = change.before.is_array()
            || change.after.is_array()
            || multi_line(&change.before)
            || multi_line(&change.after);
        let (old, new) = (lines_of(&change.before), lines_of(&change.after));
        if listy && old.is_empty() && new.is_empty() {
            // An empty list set where there was none: nothing to diff line by line.
            out.push((Tone::Plain, format!("{}: []", change.field)));
            continue;
        }
        if listy {
            out.push((Tone::Plain, format!("{}:", change.field)));
            let diff = similar::TextDiff::from_lines(&old, &new);
            for line in diff.iter_all_changes() {
                let text = line.value().trim_end_matches('\n');
                let tone = match line.tag() {
                    similar::ChangeTag::Insert => Tone::Add,
                    similar::ChangeTag::Delete => Tone::Remove,
                    similar::ChangeTag::Equal => Tone::Plain,
                };
                out.push((tone, format!("  {} {text}", tone.sign())));
            }
            continue;
        }
        let line = match op.op.effect() {
            Effect::Add if change.before.is_null() => {
                format!("{}: {}", change.field, scalar(&change.after))
            }
            Effect::Remove if change.after.is_null() => {
                format!("{}: {}", change.field, scalar(&change.before))
            }
            _ => format!(
                "{}: {} -> {}",
                change.field,
                scalar(&change.before),
                scalar(&change.after)
            ),
        };
        out.push((Tone::Plain, line));
    }
    out
}

fn closing(summary: &Summary) -> String {
    format!(
        "Plan: {} to add, {} to change, {} to remove, {} manual.",
        summary.add, summary.change, summary.remove, summary.manual
    )
}

const NO_CHANGES: &str = "No changes. The live org matches the policy.";

fn unmanaged_line(u: &Unmanaged) -> String {
    format!(
        "{} ({}, {} seat, {})",
        u.email,
        u.role.as_str(),
        u.seat.as_str(),
        u.status.as_str()
    )
}

/// Terraform-like text; colour only when `color` (the caller decides: terminal, NO_COLOR).
pub fn render_human(plan: &Plan, out: &mut dyn Write, color: bool) -> io::Result<()> {
    let paint = |tone: Tone, text: &str| {
        if color && tone != Tone::Plain {
            let style = tone.style();
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    };
    writeln!(out, "Live: {}", plan.live)?;
    writeln!(out)?;
    for op in &plan.operations {
        let tone = Tone::of(op.op.effect());
        let head = format!("{} {op:#}", tone.sign());
        match &op.source {
            Some(source) => writeln!(out, "{}  ({source})", paint(tone, &head))?,
            None => writeln!(out, "{}", paint(tone, &head))?,
        }
        for (line_tone, line) in body(op) {
            writeln!(out, "    {}", paint(line_tone, &line))?;
        }
        if let Execution::Manual { instruction } = &op.execution {
            writeln!(
                out,
                "    {}",
                paint(Tone::Change, &format!("manual: {instruction}"))
            )?;
        }
    }
    if !plan.operations.is_empty() {
        writeln!(out)?;
    }
    if !plan.unmanaged.is_empty() {
        writeln!(out, "Unmanaged users (not in the policy, kept):")?;
        for u in &plan.unmanaged {
            writeln!(out, "  {}", unmanaged_line(u))?;
        }
        writeln!(out)?;
    }
    if !plan.unverifiable.is_empty() {
        writeln!(
            out,
            "Unverifiable (the provider cannot read these; not compared):"
        )?;
        for field in &plan.unverifiable {
            writeln!(out, "  {field}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "Seats:")?;
    for (tier, usage) in [
        ("standard", plan.seats.standard),
        ("premium", plan.seats.premium),
    ] {
        writeln!(
            out,
            "  {tier}: {} -> {} (of {} purchased)",
            usage.before, usage.after, usage.purchased
        )?;
    }
    writeln!(out)?;
    if plan.is_empty() {
        writeln!(out, "{NO_CHANGES}")
    } else {
        writeln!(out, "{}", closing(&plan.summary))
    }
}

/// The saved-plan format, pretty, with a final newline.
pub fn render_json(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, plan)?;
    writeln!(out)
}

/// GitHub Actions workflow commands: one annotation per operation on the policy line that
/// asked for it (a `notice`; removals, which have no such line, are `warning`s on the
/// run), manual steps as `warning`s with their instruction, and the closing line.
pub fn render_github(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    for op in &plan.operations {
        let removal = op.op.effect() == Effect::Remove;
        let mut message = format!("{} {op:#}", Tone::of(op.op.effect()).sign());
        for change in &op.changes {
            let _ = write!(
                message,
                "\n{}: {} -> {}",
                change.field,
                compact(&change.before),
                compact(&change.after)
            );
        }
        let mut level = if removal { "warning" } else { "notice" };
        if let Execution::Manual { instruction } = &op.execution {
            level = "warning";
            let _ = write!(message, "\nmanual step: {instruction}");
        }
        let diagnostic = crate::diag::Annotation {
            level,
            location: op.source.as_deref().and_then(split_source),
            title: op.op.as_str(),
            message: &message,
        };
        writeln!(out, "{}", diagnostic.line())?;
    }
    let summary = if plan.is_empty() {
        NO_CHANGES.to_owned()
    } else {
        closing(&plan.summary)
    };
    let closing = crate::diag::Annotation {
        level: "notice",
        location: None,
        title: "orgplan plan",
        message: &summary,
    };
    writeln!(out, "{}", closing.line())
}

// `policies/users.yaml:12` -> (file, line).
fn split_source(source: &str) -> Option<(String, usize)> {
    let (file, line) = source.rsplit_once(':')?;
    Some((file.to_owned(), line.parse().ok()?))
}

fn compact(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_owned(),
        other => other.to_string(),
    }
}

/// The access changes of a plan, per person, for the pull-request comment: effective
/// permissions of the org as it is against those of the policy.
pub fn access_changes(
    plan: &Plan,
    policy: &Policy,
    live: &LiveState,
) -> Vec<crate::resolve::AccessChange> {
    let before = live::as_policy(live);
    let removed: Vec<String> = plan
        .operations
        .iter()
        .filter(|op| op.op == OpKind::UserRemove)
        .map(|op| op.target.clone())
        .collect();
    crate::resolve::access_changes(before.as_ref(), policy, &removed)
}

/// A pull-request comment: heading, summary tables, manual steps called out, who gains or
/// loses what, then one `<details>` per operation.
pub fn render_markdown(
    plan: &Plan,
    access: &[crate::resolve::AccessChange],
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "### orgplan plan")?;
    writeln!(out)?;
    writeln!(out, "Live: `{}`", plan.live)?;
    writeln!(out)?;
    if plan.is_empty() {
        writeln!(out, "**{NO_CHANGES}**")?;
    } else {
        writeln!(out, "**{}**", closing(&plan.summary))?;
        writeln!(out)?;
        writeln!(out, "| Add | Change | Remove | Manual |")?;
        writeln!(out, "|---:|---:|---:|---:|")?;
        let s = &plan.summary;
        writeln!(
            out,
            "| {} | {} | {} | {} |",
            s.add, s.change, s.remove, s.manual
        )?;
    }
    writeln!(out)?;
    writeln!(out, "| Seats | Before | After | Purchased |")?;
    writeln!(out, "|---|---:|---:|---:|")?;
    for (tier, usage) in [
        ("standard", plan.seats.standard),
        ("premium", plan.seats.premium),
    ] {
        writeln!(
            out,
            "| {tier} | {} | {} | {} |",
            usage.before, usage.after, usage.purchased
        )?;
    }
    if !plan.unmanaged.is_empty() {
        writeln!(out)?;
        writeln!(out, "Unmanaged users (not in the policy, kept):")?;
        writeln!(out)?;
        for u in &plan.unmanaged {
            writeln!(out, "- `{}`", unmanaged_line(u))?;
        }
    }
    if !plan.unverifiable.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Unverifiable (the provider cannot read these; not compared):"
        )?;
        writeln!(out)?;
        for field in &plan.unverifiable {
            writeln!(out, "- `{field}`")?;
        }
    }
    let manual: Vec<&Operation> = plan
        .operations
        .iter()
        .filter(|op| matches!(op.execution, Execution::Manual { .. }))
        .collect();
    if !manual.is_empty() {
        writeln!(out)?;
        writeln!(out, "> [!WARNING]")?;
        writeln!(
            out,
            "> {} manual step{} an admin must carry out by hand; `apply` does not do them:",
            manual.len(),
            if manual.len() == 1 { "" } else { "s" }
        )?;
        for op in manual {
            if let Execution::Manual { instruction } = &op.execution {
                writeln!(out, "> - `{op:#}`: {instruction}")?;
            }
        }
    }
    if !access.is_empty() {
        writeln!(out)?;
        writeln!(out, "#### Access changes")?;
        writeln!(out)?;
        writeln!(out, "| User | Gains, loses, changes |")?;
        writeln!(out, "|---|---|")?;
        for person in access {
            let cells: Vec<String> = person
                .changes
                .iter()
                .map(|c| c.replace('|', "\\|"))
                .collect();
            writeln!(out, "| `{}` | {} |", person.email, cells.join("<br>"))?;
        }
    }
    for op in &plan.operations {
        let tone = Tone::of(op.op.effect());
        writeln!(out)?;
        writeln!(
            out,
            "<details><summary><code>{} {}</code>{}</summary>",
            tone.sign(),
            html_escape(&format!("{op:#}")),
            if matches!(op.execution, Execution::Manual { .. }) {
                " (manual)"
            } else {
                ""
            }
        )?;
        writeln!(out)?;
        if let Some(source) = &op.source {
            writeln!(out, "Source: `{source}`")?;
            writeln!(out)?;
        }
        if let Execution::Manual { instruction } = &op.execution {
            writeln!(out, "Manual step: {instruction}")?;
            writeln!(out)?;
        }
        let lines = body(op);
        if !lines.is_empty() {
            writeln!(out, "```diff")?;
            for (_, line) in lines {
                writeln!(out, "{line}")?;
            }
            writeln!(out, "```")?;
            writeln!(out)?;
        }
        writeln!(out, "</details>")?;
    }
    Ok(())
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::tests::{BASE, policy};
    use crate::plan::tests::plan;

    #[test]
    fn access_changes_name_who_gains_and_loses_what() {
        let before = policy(BASE);
        let live = live::project(&before);
        // Kate leaves `sales` (loses `analyst`, so `api` and `chat`); Lee joins it.
        let after = policy(&BASE.replace(
            "members: [kate@acme.com]",
            "members: [lee@acme.com]",
        ).replace(
            "  kate@acme.com: {name: Kate}\n",
            "  kate@acme.com: {name: Kate}\n  lee@acme.com: {name: Lee, limits: {spend_usd: {monthly: 5}}}\n",
        ));
        let plan = plan(&after, &live, None).unwrap_or_else(|e| panic!("{e}"));
        let access = access_changes(&plan, &after, &live);
        let by_email: Vec<(&str, Vec<&str>)> = access
            .iter()
            .map(|a| {
                (
                    a.email.as_str(),
                    a.changes.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            by_email,
            vec![
                (
                    "kate@acme.com",
                    vec![
                        "- role `analyst`",
                        "- capability `chat`",
                        "- capability `api`"
                    ]
                ),
                (
                    "lee@acme.com",
                    vec![
                        "+ role `analyst`",
                        "+ capability `chat`",
                        "+ capability `api`",
                        "+ spend_usd monthly limit 5"
                    ]
                ),
            ]
        );
    }

    #[test]
    fn markdown_calls_out_manual_steps_before_the_details() {
        let policy = policy(BASE);
        let mut plan = plan(&policy, &LiveState::default(), None).unwrap_or_else(|e| panic!("{e}"));
        plan.operations[0].execution = Execution::Manual {
            instruction: "set it in the admin console".into(),
        };
        let mut out = Vec::new();
        render_markdown(&plan, &[], &mut out).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out);
        let callout = text
            .find("> [!WARNING]")
            .unwrap_or_else(|| panic!("{text}"));
        assert!(text[callout..].starts_with(
            "> [!WARNING]\n> 1 manual step an admin must carry out by hand; `apply` does not do them:\n> - `org.update org`: set it in the admin console\n"
        ), "{text}");
        assert!(callout < text.find("<details>").unwrap_or(0));
    }
    #[test]
    fn a_multi_line_value_is_shown_as_a_line_diff() {
        let before = policy(&BASE.replace(
            "description: Analyses,",
            "description: \"reads\\nreports\\nsleeps\",",
        ));
        let after = policy(&BASE.replace(
            "description: Analyses,",
            "description: \"reads\\nwrites\\nsleeps\",",
        ));
        let plan = plan(&after, &live::project(&before), None).unwrap_or_else(|e| panic!("{e}"));
        let mut text = Vec::new();
        render_human(&plan, &mut text, false).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&text);
        assert!(
            text.contains(
                "    description:\n        reads\n      - reports\n      + writes\n        sleeps\n"
            ),
            "{text}"
        );
    }
}

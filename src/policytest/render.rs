//! Rendering a test [`Report`]: human text (`test NAME ... ok`), JSON, JUnit XML for CI
//! test reports, and GitHub Actions annotations on the failing tests' lines.

use std::io::{self, Write};

use anstyle::AnsiColor;

use super::run::{Outcome, Report, Status};

fn paint(color: bool, style: anstyle::Style, text: &str) -> String {
    if color {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_owned()
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Why a test failed, in one line: "2 of 5 users fail" or "selects no user".
pub fn summary(outcome: &Outcome) -> String {
    match &outcome.reason {
        Some(reason) => reason.clone(),
        None => format!(
            "{} of {} {}",
            outcome.failing,
            plural(outcome.selected, "selected user"),
            if outcome.failing == 1 {
                "fails"
            } else {
                "fail"
            }
        ),
    }
}

/// Every failing user of a test with each expectation it fails: expected, actual, and the
/// rule and `file:line` that decided the actual value.
pub fn details(outcome: &Outcome) -> String {
    let mut text = String::new();
    for user in &outcome.failures {
        text.push_str(&format!("  {}\n", user.user));
        for failure in &user.failures {
            text.push_str(&format!("    {}\n", failure.expectation));
            text.push_str(&format!("      expected: {}\n", failure.expected));
            text.push_str(&format!("      actual:   {}\n", failure.actual));
            match (&failure.decided_by, &failure.source) {
                (Some(rule), Some(source)) if !rule.contains(source.as_str()) => {
                    text.push_str(&format!("      decided:  {rule} at {source}\n"));
                }
                (Some(rule), _) => text.push_str(&format!("      decided:  {rule}\n")),
                (None, Some(source)) => text.push_str(&format!("      decided:  at {source}\n")),
                (None, None) => {}
            }
        }
    }
    if outcome.more_failing > 0 {
        let more = outcome.more_failing;
        let users = if more == 1 { "user" } else { "users" };
        text.push_str(&format!("  … and {more} more failing {users}\n"));
    }
    text
}

/// `test NAME ... ok|FAILED` per test, then each failure, then `N passed, N failed`.
pub fn human(report: &Report, out: &mut dyn Write, color: bool) -> io::Result<()> {
    let green = AnsiColor::Green.on_default().bold();
    let red = AnsiColor::Red.on_default().bold();
    for outcome in &report.tests {
        let verdict = match outcome.status {
            Status::Passed => paint(color, green, "ok"),
            Status::Failed => paint(color, red, "FAILED"),
        };
        writeln!(out, "test {} ... {verdict}", outcome.name)?;
    }
    let failed: Vec<&Outcome> = report
        .tests
        .iter()
        .filter(|t| t.status == Status::Failed)
        .collect();
    if !failed.is_empty() {
        writeln!(out, "\nfailures:")?;
        for outcome in failed {
            writeln!(
                out,
                "\n---- {} ({}:{}) ----\n{}: {}",
                outcome.name,
                outcome.file,
                outcome.line,
                outcome.selector,
                summary(outcome)
            )?;
            write!(out, "{}", details(outcome))?;
        }
    }
    writeln!(out, "\n{} passed, {} failed", report.passed, report.failed)
}

/// The report as one pretty JSON object (see [`Report`]).
pub fn json(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

/// One `::error file=…,line=…,title=…::…` per failed test, on its `name` line, then the
/// closing count.
pub fn github(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for outcome in report.tests.iter().filter(|t| t.status == Status::Failed) {
        let message = format!(
            "test `{}` failed: {}\n{}",
            outcome.name,
            summary(outcome),
            details(outcome)
        );
        let title = format!("orgplan test: {}", outcome.name);
        let annotation = crate::diag::Annotation {
            level: "error",
            location: Some((outcome.file.clone(), outcome.line)),
            title: &title,
            message: message.trim_end(),
        };
        writeln!(out, "{}", annotation.line())?;
    }
    writeln!(out, "{} passed, {} failed", report.passed, report.failed)
}

/// JUnit XML: one `testsuite` per test file, one `testcase` per test (`classname` = the
/// file), a `failure` with the details for each failed one. Read by GitLab's and
/// GitHub's test reporters.
pub fn junit(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="orgplan test" tests="{}" failures="{}" errors="0">"#,
        report.tests.len(),
        report.failed
    )?;
    let mut files: Vec<&str> = Vec::new();
    for outcome in &report.tests {
        if !files.contains(&outcome.file.as_str()) {
            files.push(&outcome.file);
        }
    }
    for file in files {
        let cases: Vec<&Outcome> = report.tests.iter().filter(|t| t.file == file).collect();
        let failures = cases.iter().filter(|t| t.status == Status::Failed).count();
        writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="0" skipped="0">"#,
            xml(file),
            cases.len()
        )?;
        for outcome in cases {
            let open = format!(
                r#"    <testcase name="{}" classname="{}" file="{}" line="{}""#,
                xml(&outcome.name),
                xml(file),
                xml(file),
                outcome.line
            );
            match outcome.status {
                Status::Passed => writeln!(out, "{open}/>")?,
                Status::Failed => {
                    writeln!(out, "{open}>")?;
                    writeln!(
                        out,
                        r#"      <failure message="{}" type="expectation">{}</failure>"#,
                        xml(&summary(outcome)),
                        xml_text(&format!(
                            "{}:{}: {}\n{}",
                            outcome.file,
                            outcome.line,
                            outcome.selector,
                            details(outcome)
                        ))
                    )?;
                    writeln!(out, "    </testcase>")?;
                }
            }
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

// Element text: as an attribute value, but line breaks kept as they are.
fn xml_text(text: &str) -> String {
    xml(text).replace("&#10;", "\n")
}

// Text as an XML 1.0 attribute value: the five special characters and line breaks
// escaped, characters XML 1.0 cannot carry at all replaced by U+FFFD.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push_str(&format!("&#{};", u32::from(c))),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_and_drops_what_xml_cannot_carry() {
        assert_eq!(
            xml("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{FFFD}"
        );
    }
}

//! Usage data: who was active when, read from a usage file (`--usage file:PATH`) or the
//! Enterprise Analytics API ([`super::analytics`]), and saved in the file format
//! (`--save-usage`).
//!
//! File format (`format_version: 1`):
//! `{"format_version": 1, "start": "YYYY-MM-DD", "end": "YYYY-MM-DD", "users": {EMAIL:
//! {"last_active": "YYYY-MM-DD" | null, "chat_messages": N, "claude_code_sessions": N,
//! "spend_usd": N (optional)}}}`. Counts are totals over `start..=end`; a user absent
//! from `users` has unknown usage. Emails are compared through [`crate::model::email_key`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::date::Date;

/// The only usage-file format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Largest usage file read (100,000 users take about 12 MB).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// One user's activity over the usage period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Last day with any activity; `null` when never active (or not known to the source).
    pub last_active: Option<Date>,
    /// Chat messages sent in the period.
    pub chat_messages: u64,
    /// Claude Code sessions in the period.
    pub claude_code_sessions: u64,
    /// Spend in US dollars in the period, when the source knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend_usd: Option<f64>,
}

/// Usage of the whole org over one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// First day counted.
    pub start: Date,
    /// Last day counted.
    pub end: Date,
    /// Activity per user, keyed by [`crate::model::email_key`].
    pub users: BTreeMap<String, Record>,
}

/// Why a usage source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// `--usage` names no known source.
    #[error(
        "`{0}` is not a usage source: write `file:PATH` (a usage JSON file) or `anthropic:` (the Enterprise Analytics API)"
    )]
    Source(String),
    /// The file cannot be read.
    #[error("cannot read usage file `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is too large.
    #[error("usage file `{path}` is {size} bytes, more than the {limit} bytes allowed")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file is not a usage file.
    #[error("usage file `{path}:{line}:{col}`: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong, naming the field.
        message: String,
    },
}

/// Read and check a usage file.
pub fn read_file(path: &str) -> Result<Usage, UsageError> {
    let size = std::fs::metadata(path)
        .map_err(|source| UsageError::Read {
            path: path.to_owned(),
            source,
        })?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(UsageError::TooLarge {
            path: path.to_owned(),
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| UsageError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Parse and check the text of a usage file named `path` (for messages).
pub fn parse(path: &str, text: &str) -> Result<Usage, UsageError> {
    let invalid = |line: usize, col: usize, message: String| UsageError::Invalid {
        path: path.to_owned(),
        line,
        col,
        message,
    };
    // Decoded as written first (emails as keys), so that a field's error names its path.
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let raw: Usage = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.to_string();
        // serde_json appends " at line L column C": keep the message, place it ourselves.
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(head, _)| head)
            .to_owned();
        let message = if path.is_empty() || path == "." {
            message
        } else {
            format!("{message} (at `{path}`)")
        };
        invalid(inner.line(), inner.column(), message)
    })?;
    // Where a key is, for the checks below: the first `"KEY"` in the text (good enough
    // to point at; emails are unique in a valid file).
    let place_of = |needle: &str| -> (usize, usize) {
        let quoted = format!("{:?}", needle);
        text.find(&quoted).map_or((0, 0), |at| line_col(text, at))
    };
    if raw.format_version != FORMAT_VERSION {
        let (line, col) = place_of("format_version");
        return Err(invalid(
            line,
            col,
            format!(
                "`format_version` is `{}`; this orgplan reads `{FORMAT_VERSION}`",
                raw.format_version
            ),
        ));
    }
    if raw.start > raw.end {
        let (line, col) = place_of("start");
        return Err(invalid(
            line,
            col,
            format!("`start` `{}` is after `end` `{}`", raw.start, raw.end),
        ));
    }
    let mut users: BTreeMap<String, Record> = BTreeMap::new();
    let mut written: BTreeMap<String, String> = BTreeMap::new();
    for (email, record) in raw.users {
        // Only a file with a problem is searched for the place of the problem.
        let at = || place_of(&email);
        if !crate::validate::is_email(&email) {
            let (line, col) = at();
            return Err(invalid(
                line,
                col,
                format!("`{email}` is not an email address"),
            ));
        }
        if let Some(spend) = record.spend_usd
            && !(spend.is_finite() && spend >= 0.0)
        {
            let (line, col) = at();
            return Err(invalid(
                line,
                col,
                format!("`spend_usd` of `{email}` must be a non-negative number"),
            ));
        }
        if let Some(day) = record.last_active
            && day > raw.end
        {
            let (line, col) = at();
            return Err(invalid(
                line,
                col,
                format!(
                    "`last_active` of `{email}` is `{day}`, after the file's `end` `{}`",
                    raw.end
                ),
            ));
        }
        let key = crate::model::email_key(&email).into_owned();
        if let Some(first) = written.get(&key) {
            let (line, col) = at();
            return Err(invalid(
                line,
                col,
                format!("`{email}` and `{first}` are the same user; give their usage once"),
            ));
        }
        written.insert(key.clone(), email);
        users.insert(key, record);
    }
    Ok(Usage {
        format_version: FORMAT_VERSION,
        start: raw.start,
        end: raw.end,
        users,
    })
}

/// The usage file text of `usage` (pretty JSON, users sorted, a final newline).
pub fn to_file_text(usage: &Usage) -> String {
    let mut text = serde_json::to_string_pretty(usage).unwrap_or_default();
    text.push('\n');
    text
}

// 1-based (line, column in characters) of byte `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |n| n + 1);
    let col = before.get(start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse("u.json", text) {
            Ok(usage) => panic!("accepted: {usage:?}"),
            Err(e) => e.to_string(),
        }
    }

    const GOOD: &str = r#"{"format_version": 1, "start": "2026-11-01", "end": "2026-11-30",
  "users": {
    "Bob@Acme.com": {"last_active": "2026-11-29", "chat_messages": 3, "claude_code_sessions": 0},
    "eve@acme.com": {"last_active": null, "chat_messages": 0, "claude_code_sessions": 0, "spend_usd": 1.5}
  }}"#;

    #[test]
    fn a_good_file_is_read_with_emails_as_identities() {
        let usage = parse("u.json", GOOD).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(usage.start.to_string(), "2026-11-01");
        let keys: Vec<&str> = usage.users.keys().map(String::as_str).collect();
        assert_eq!(keys, ["bob@acme.com", "eve@acme.com"]);
        assert_eq!(usage.users["eve@acme.com"].last_active, None);
        assert_eq!(usage.users["eve@acme.com"].spend_usd, Some(1.5));
        // Saved and read again: the same usage.
        let again = parse("u.json", &to_file_text(&usage)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, usage);
    }

    #[test]
    fn a_bad_date_is_located_and_named() {
        let text = GOOD.replace("\"2026-11-29\"", "\"2026-11-31\"");
        let message = err(&text);
        assert!(message.starts_with("usage file `u.json:3:"), "{message}");
        assert!(message.contains("`2026-11-31` is not a date"), "{message}");
        assert!(
            message.contains("users.Bob@Acme.com.last_active"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_count_is_an_error_not_zero() {
        let text = GOOD.replace(", \"chat_messages\": 3", "");
        let message = err(&text);
        assert!(
            message.contains("missing field `chat_messages`"),
            "{message}"
        );
    }

    #[test]
    fn two_spellings_of_one_email_are_refused() {
        let text = GOOD.replace("eve@acme.com", "BOB@acme.com");
        let message = err(&text);
        assert!(message.contains("are the same user"), "{message}");
        assert!(
            message.contains("`Bob@Acme.com`") && message.contains("`BOB@acme.com`"),
            "{message}"
        );
        assert!(message.starts_with("usage file `u.json:3:"), "{message}");
    }

    #[test]
    fn wrong_version_start_after_end_and_unknown_fields_are_refused() {
        assert!(
            err(&GOOD.replace("\"format_version\": 1", "\"format_version\": 2"))
                .contains("`format_version` is `2`")
        );
        assert!(err(&GOOD.replace("\"2026-11-01\"", "\"2026-12-01\"")).contains("is after `end`"));
        assert!(
            err(&GOOD.replace("\"chat_messages\": 3", "\"chats\": 3"))
                .contains("unknown field `chats`")
        );
        assert!(
            err(&GOOD.replace("\"2026-11-29\"", "\"2026-12-05\""))
                .contains("after the file's `end`")
        );
        assert!(err("{").contains("u.json:1:"));
    }
}

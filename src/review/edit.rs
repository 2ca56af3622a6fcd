//! `--suggest` and `--write`: the review's suggestions as minimal text edits of the policy
//! files, on the node positions the loader keeps. A value is replaced where it is written
//! (its quotes kept); a missing key is added to the user's entry, as `, key: value` before
//! the `}` of a flow mapping or as a line of its own, at the entry's indentation, after the
//! last line of a block mapping. Every other byte of every file is left as it was.

use std::collections::BTreeMap;

use super::Finding;
use crate::diag::Location;
use crate::model::{Policy, Section};

/// One policy file, before and after the edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// The file, as the loader named it.
    pub path: String,
    /// Its text now.
    pub before: String,
    /// Its text with every suggestion carried out.
    pub after: String,
}

/// Why a suggestion could not be turned into an edit.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file cannot be read again.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not what the loader saw (the file changed since, or an entry orgplan
    /// cannot edit safely).
    #[error("cannot edit `{place}`: {reason}; edit it by hand")]
    Unexpected {
        /// `file:line:col`.
        place: String,
        /// What was found.
        reason: String,
    },
}

// One change of a file's text: replace `len` bytes at `at` with `text`.
#[derive(Debug)]
struct Splice {
    at: usize,
    len: usize,
    text: String,
}

/// The edits that carry out every suggestion of `findings`, one per changed file, in
/// file order. Files are read from disk (the paths the loader named).
pub fn edits(policy: &Policy, findings: &[Finding]) -> Result<Vec<FileEdit>, EditError> {
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut indexes: BTreeMap<String, LineIndex> = BTreeMap::new();
    let mut splices: BTreeMap<String, Vec<Splice>> = BTreeMap::new();
    for finding in findings {
        let (Some(suggestion), Some(email)) = (&finding.suggestion, &finding.email) else {
            continue;
        };
        let origins = &policy.origins;
        let unexpected = |place: &Location, reason: &str| EditError::Unexpected {
            place: place.to_string(),
            reason: reason.to_owned(),
        };
        let missing = || EditError::Unexpected {
            place: suggestion.file.clone(),
            reason: format!("`{email}` is not declared in a policy file"),
        };
        let entry = origins
            .locate(Section::Users, email, &[])
            .ok_or_else(missing)?;
        let key = origins
            .locate_key(Section::Users, email, &[])
            .ok_or_else(missing)?;
        let value = origins
            .locate(Section::Users, email, &[suggestion.field])
            .ok_or_else(missing)?;
        if !texts.contains_key(&entry.file) {
            let text = std::fs::read_to_string(&entry.file).map_err(|source| EditError::Read {
                path: entry.file.clone(),
                source,
            })?;
            texts.insert(entry.file.clone(), text);
        }
        let text = texts.get(&entry.file).map_or("", String::as_str);
        let lines = indexes
            .entry(entry.file.clone())
            .or_insert_with(|| LineIndex::new(text));
        let splice = if value != entry {
            replace_value(text, lines, &value, &suggestion.before, &suggestion.after)
                .map_err(|reason| unexpected(&value, &reason))?
        } else {
            add_key(
                text,
                lines,
                &key,
                &entry,
                suggestion.field,
                &suggestion.after,
            )
            .map_err(|reason| unexpected(&entry, &reason))?
        };
        splices.entry(entry.file.clone()).or_default().push(splice);
    }
    let mut out = Vec::new();
    for (path, mut list) in splices {
        let before = texts.remove(&path).unwrap_or_default();
        list.sort_by_key(|s| std::cmp::Reverse((s.at, s.len)));
        let mut after = before.clone();
        for splice in list {
            after.replace_range(splice.at..splice.at + splice.len, &splice.text);
        }
        out.push(FileEdit {
            path,
            before,
            after,
        });
    }
    Ok(out)
}

/// A unified diff of `edits` (`--- a/FILE`, `+++ b/FILE`, three lines of context).
pub fn unified_diff(edits: &[FileEdit]) -> String {
    let mut out = String::new();
    for edit in edits {
        let diff = similar::TextDiff::from_lines(&edit.before, &edit.after);
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{}", edit.path), &format!("b/{}", edit.path))
            .to_string();
        out.push_str(&text);
        if !text.is_empty() && !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

// Byte offsets of line starts, to turn the loader's (line, column in characters) into
// a byte offset.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        LineIndex { starts }
    }

    // The byte offset of 1-based `line`, `col` (characters).
    fn offset(&self, text: &str, line: usize, col: usize) -> Option<usize> {
        let start = *self.starts.get(line.checked_sub(1)?)?;
        let rest = text.get(start..)?;
        let skip = col.checked_sub(1)?;
        match rest.char_indices().nth(skip) {
            Some((at, _)) => Some(start + at),
            None if rest.chars().count() == skip => Some(text.len()),
            None => None,
        }
    }

    // Bytes `line` spans (its `\n` excluded; a `\r` before it too).
    fn line<'t>(&self, text: &'t str, line: usize) -> Option<(usize, &'t str)> {
        let start = *self.starts.get(line.checked_sub(1)?)?;
        let end = self.starts.get(line).map_or(text.len(), |next| next - 1);
        let content = text.get(start..end)?;
        Some((start, content.strip_suffix('\r').unwrap_or(content)))
    }
}

fn replace_value(
    text: &str,
    lines: &LineIndex,
    value: &Location,
    before: &str,
    after: &str,
) -> Result<Splice, String> {
    let at = lines
        .offset(text, value.line, value.col)
        .ok_or("the file changed since it was read")?;
    let rest = text.get(at..).unwrap_or("");
    let line_end = rest.find(['\n', '\r']).unwrap_or(rest.len());
    let rest = &rest[..line_end];
    // The token: a quoted scalar up to its closing quote; a plain one within the
    // loader's width, without trailing blanks or a comment.
    let token: &str = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let close = closing_quote(rest, q).ok_or("a quoted value that does not end")?;
            &rest[..=close]
        }
        _ => {
            let width = rest
                .char_indices()
                .nth(value.width)
                .map_or(rest.len(), |(at, _)| at);
            let plain = &rest[..width];
            let plain = plain.split(" #").next().unwrap_or(plain);
            plain.trim_end()
        }
    };
    let (quote, bare) = match token.chars().next() {
        Some(q @ ('"' | '\'')) => (Some(q), &token[1..token.len() - 1]),
        _ => (None, token),
    };
    if bare != before {
        return Err(format!("expected `{before}`, found `{token}`"));
    }
    let text = match quote {
        Some(q) => format!("{q}{after}{q}"),
        None => after.to_owned(),
    };
    let token = token.to_owned();
    Ok(Splice {
        at,
        len: token.len(),
        text,
    })
}

fn add_key(
    text: &str,
    lines: &LineIndex,
    key: &Location,
    entry: &Location,
    field: &str,
    after: &str,
) -> Result<Splice, String> {
    let at = lines
        .offset(text, entry.line, entry.col)
        .ok_or("the file changed since it was read")?;
    let rest = text.get(at..).unwrap_or("");
    if rest.starts_with('{') {
        return add_to_flow(text, at, field, after);
    }
    // A block mapping: its first key starts the entry, on a line after the user's key.
    let (_, first) = lines.line(text, entry.line).ok_or("no such line")?;
    let indent = entry.col - 1;
    let lead = first.get(..indent).unwrap_or("");
    if entry.line <= key.line || !lead.chars().all(|c| c == ' ') || lead.len() != indent {
        return Err("the entry is not a block or flow mapping".to_owned());
    }
    // Its last line: the last line, before a line indented less, that is not blank
    // and not only a comment (those may introduce the next entry).
    let mut last = entry.line;
    let mut line = entry.line + 1;
    while let Some((_, content)) = lines.line(text, line) {
        let trimmed = content.trim_start_matches(' ');
        let depth = content.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            line += 1;
            continue;
        }
        if depth < indent || trimmed.starts_with("---") || trimmed.starts_with("...") {
            break;
        }
        last = line;
        line += 1;
    }
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let insert_at = lines.starts.get(last).copied();
    let entry_text = format!("{}{field}: {after}", " ".repeat(indent));
    Ok(match insert_at {
        Some(at) => Splice {
            at,
            len: 0,
            text: format!("{entry_text}{newline}"),
        },
        // The entry ends the file, without a final newline.
        None => Splice {
            at: text.len(),
            len: 0,
            text: format!("{newline}{entry_text}"),
        },
    })
}

// The byte offset of the quote closing the scalar that `text` opens with `quote`.
fn closing_quote(text: &str, quote: char) -> Option<usize> {
    let bytes = text.as_bytes();
    let q = quote as u8;
    let mut at = 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if q == b'"' => at += 2,
            b if b == q && q == b'\'' && bytes.get(at + 1) == Some(&b'\'') => at += 2,
            b if b == q => return Some(at),
            _ => at += 1,
        }
    }
    None
}

// Add `field: after` before the `}` closing the flow mapping that opens at `open`.
fn add_to_flow(text: &str, open: usize, field: &str, after: &str) -> Result<Splice, String> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut at = open;
    let mut close = None;
    while at < bytes.len() {
        match bytes[at] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    close = Some(at);
                    break;
                }
            }
            b'"' => {
                at += 1;
                while at < bytes.len() && bytes[at] != b'"' {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' => {
                at += 1;
                while at < bytes.len() {
                    if bytes[at] == b'\'' {
                        if bytes.get(at + 1) == Some(&b'\'') {
                            at += 1;
                        } else {
                            break;
                        }
                    }
                    at += 1;
                }
            }
            b'#' if at > 0 && matches!(bytes[at - 1], b' ' | b'\t' | b'\n') => {
                while at < bytes.len() && bytes[at] != b'\n' {
                    at += 1;
                }
            }
            _ => {}
        }
        at += 1;
    }
    let close = close.ok_or("the flow mapping has no closing `}`")?;
    let inside = text.get(open + 1..close).unwrap_or("");
    let body = inside.trim_end();
    let end = open + 1 + body.len();
    if body.ends_with('#') || inside.contains('\n') && inside.contains('#') {
        return Err("a flow mapping with comments inside".to_owned());
    }
    let text = if body.trim().is_empty() {
        format!("{field}: {after}")
    } else if body.ends_with(',') {
        format!(" {field}: {after}")
    } else {
        format!(", {field}: {after}")
    };
    Ok(Splice {
        at: if body.trim().is_empty() {
            open + 1
        } else {
            end
        },
        len: 0,
        text,
    })
}

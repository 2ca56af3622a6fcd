//! Loading: find the policy files, parse each once with a span-keeping YAML parser, and
//! keep the place of every node so any later stage can point at `file:line:col`.
//!
//! YAML is parsed with saphyr's parser (not serde_yaml, which is archived and cannot give
//! the position of a node); its events are built straight into a `serde_json::Value`, for
//! the schema check and the typed decoding, and a tree of spans: [`Document`] maps each
//! JSON pointer back to its place. Files are parsed in parallel.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diag::{Diagnostic, Location};

mod parse;
mod spans;
mod typed;

use parse::parse_file;
pub use parse::reparse_value;
use spans::{NO_PLACE, Place, SpanNode, Spans};

/// Largest policy file read, in bytes. A 100,000-user org fits in a few such files; a
/// larger file is almost certainly a mistake (or an attack on the CI runner).
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Deepest nesting accepted. Policies are at most six levels deep.
pub const MAX_DEPTH: usize = 64;

/// A failure to read the policy folder at all (exit 1), as opposed to a problem in
/// the policy (a [`Diagnostic`], exit 3).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The folder is missing or unreadable.
    #[error("cannot read policy folder `{path}`: {source}")]
    Folder {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A symbolic link leads back into a folder already being read.
    #[error("symbolic link loop at `{path}`: it leads back to `{target}`")]
    SymlinkLoop {
        /// The link.
        path: String,
        /// Where it leads.
        target: String,
    },
    /// A file is larger than [`MAX_FILE_BYTES`].
    #[error("`{path}` is {size} bytes, more than the {limit} bytes a policy file may have")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

pub use crate::diag::Sources;

/// One parsed policy file.
#[derive(Debug)]
pub struct Document {
    /// Index of the file in [`Sources`].
    pub file: usize,
    /// Name of the file, as the user named it.
    pub name: String,
    /// The content, as JSON.
    pub value: Value,
    // The place of every node's key and value.
    spans: Spans,
}

impl Document {
    /// The place of the value at `pointer`, or of its nearest ancestor that has one.
    pub fn locate(&self, pointer: &str) -> Option<Location> {
        self.find(pointer).map(|span| self.location(span.value))
    }

    /// The place of the key of the entry at `pointer` (for an unknown field, say),
    /// falling back to its value.
    pub fn locate_key(&self, pointer: &str) -> Option<Location> {
        self.find(pointer).map(|span| {
            let has_key = span.key != NO_PLACE;
            self.location(if has_key { span.key } else { span.value })
        })
    }

    /// The lines of the entry `key` of the top-level mapping `section`: from its key's line
    /// to the line before the next entry's key (to the end of the file for the last).
    pub fn entry_lines(&self, section: &str, key: &str) -> Option<std::ops::Range<usize>> {
        let mapping = self.spans.child(&self.spans.root, section)?;
        let entry = self.spans.child(mapping, key)?;
        let start = entry.key.0;
        let end = self
            .spans
            .children(mapping)
            .iter()
            .map(|sibling| sibling.key.0)
            .filter(|&line| line > start)
            .min()
            .unwrap_or(u32::MAX);
        Some(start as usize..end as usize)
    }

    // The span at `pointer`, or at its nearest ancestor; `None` for a pointer that is not
    // one (it must be empty or start with `/`).
    fn find(&self, pointer: &str) -> Option<&SpanNode> {
        let mut node = &self.spans.root;
        if pointer.is_empty() {
            return Some(node);
        }
        for segment in pointer.strip_prefix('/')?.split('/') {
            match self.spans.child(node, segment) {
                Some(child) => node = child,
                None => break,
            }
        }
        Some(node)
    }

    fn location(&self, (line, col, width): Place) -> Location {
        Location {
            file: self.name.clone(),
            line: line as usize,
            col: col as usize,
            width: width as usize,
        }
    }
}

/// Everything read from a policy folder, each document passed through a step of the
/// caller's (see [`load_dir_with`]).
#[derive(Debug)]
pub struct LoadedWith<T> {
    /// File texts, for snippets.
    pub sources: Sources,
    /// The files that parsed, in sorted path order.
    pub documents: Vec<T>,
    /// YAML problems found while parsing.
    pub diagnostics: Vec<Diagnostic>,
}

impl<T> Default for LoadedWith<T> {
    fn default() -> Self {
        LoadedWith {
            sources: Sources::default(),
            documents: Vec::new(),
            diagnostics: Vec::new(),
        }
    }
}

/// Everything read from a policy folder.
pub type Loaded = LoadedWith<Document>;

/// Escape one JSON pointer segment (RFC 6901).
pub fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Build a JSON pointer from segments.
pub fn pointer(segments: &[&str]) -> String {
    segments
        .iter()
        .map(|segment| format!("/{}", escape_segment(segment)))
        .collect()
}

/// Read every `*.yaml`/`*.yml` under `dir` but the test files (`*.test.yaml`), recursively,
/// in sorted path order.
pub fn load_dir(dir: &Path) -> Result<Loaded, LoadError> {
    load_dir_with(dir, |document, _| document)
}

/// [`load_dir`], passing each document (and its file's text) through `step` on the
/// thread that parsed it: the caller's per-file work (decoding, say) runs in parallel too,
/// and what the step drops (a large JSON value) is freed file by file instead of living
/// until the end.
pub fn load_dir_with<T: Send>(
    dir: &Path,
    step: impl Fn(Document, &str) -> T + Sync,
) -> Result<LoadedWith<T>, LoadError> {
    load_files_with_text(dir, Files::Policy, step)
}

/// Which YAML files of a folder are read: the policy, or the policy tests beside it
/// (`*.test.yaml` / `*.test.yml`, which are never policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// Every `*.yaml` / `*.yml` that is not a test file.
    Policy,
    /// Only `*.test.yaml` / `*.test.yml`.
    Tests,
}

/// True for a policy test file: `*.test.yaml` or `*.test.yml`.
pub fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.ends_with(".test.yaml") || name.ends_with(".test.yml"))
}

/// [`load_dir_with`], reading each file straight into a `T` from the YAML parser's events
/// where it can (no JSON value is built): `step` gets the typed content, and a document
/// whose `value` is `null`. A file off the plain happy path (an anchor, a tag, a duplicate
/// key, anything `T` refuses; see `load/typed.rs`) is read as [`load_dir_with`] reads it,
/// and `step` gets `None` and the document's JSON value. The spans are the same either way.
pub fn load_dir_typed<T: DeserializeOwned, R: Send>(
    dir: &Path,
    step: impl Fn(Document, Option<T>, &str) -> R + Sync,
) -> Result<LoadedWith<R>, LoadError> {
    load_files_typed(dir, Files::Policy, typed::decode::<T>, step)
}

/// [`load_dir_with`] for the chosen kind of file.
pub fn load_files_with<T: Send>(
    dir: &Path,
    files: Files,
    step: impl Fn(Document) -> T + Sync,
) -> Result<LoadedWith<T>, LoadError> {
    load_files_with_text(dir, files, |document, _| step(document))
}

// [`load_files_with`], the step also seeing the file's text.
fn load_files_with_text<T: Send>(
    dir: &Path,
    files: Files,
    step: impl Fn(Document, &str) -> T + Sync,
) -> Result<LoadedWith<T>, LoadError> {
    load_files_typed(dir, files, no_fast_path, |document, _, text| {
        step(document, text)
    })
}

// The reading of a file that has no fast way: every file is built into a JSON value.
fn no_fast_path(_: &str) -> Option<(std::convert::Infallible, Spans)> {
    None
}

// [`load_files_with_text`], each file read by `fast` where it can be.
fn load_files_typed<T, R: Send>(
    dir: &Path,
    files: Files,
    fast: impl Fn(&str) -> Option<(T, Spans)> + Sync,
    step: impl Fn(Document, Option<T>, &str) -> R + Sync,
) -> Result<LoadedWith<R>, LoadError> {
    let mut paths = Vec::new();
    let root = fs::canonicalize(dir).map_err(|source| LoadError::Folder {
        path: dir.display().to_string(),
        source,
    })?;
    if !root.is_dir() {
        return Err(LoadError::Folder {
            path: dir.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder"),
        });
    }
    let mut ancestors = vec![root];
    collect_files(dir, &mut ancestors, &mut paths)?;
    paths.retain(|path| is_test_file(path) == (files == Files::Tests));
    paths.sort();
    // Files are read and parsed in parallel (each on its own), then joined in path order,
    // so the result does not depend on the threads. Every file has a place in `sources`,
    // so a file's index there is its index in `paths`.
    let indexed: Vec<(usize, &PathBuf)> = paths.iter().enumerate().collect();
    let results = crate::pool::parallel_map(&indexed, |(file, path)| {
        read_and_parse(path, &fast).map(|parsed| parsed.into_document(*file, &step))
    });
    let mut loaded = LoadedWith::default();
    for result in results {
        loaded.push(result?);
    }
    Ok(loaded)
}

fn read_and_parse<T>(
    path: &Path,
    fast: impl FnOnce(&str) -> Option<(T, Spans)>,
) -> Result<ParsedFile<T>, LoadError> {
    let name = display_path(path);
    let size = fs::metadata(path)
        .map_err(|source| LoadError::File {
            path: name.clone(),
            source,
        })?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(LoadError::TooLarge {
            path: name,
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    let bytes = fs::read(path).map_err(|source| LoadError::File {
        path: name.clone(),
        source,
    })?;
    Ok(parse_file(name, bytes, fast))
}

fn display_path(path: &Path) -> String {
    let text = path.display().to_string();
    text.strip_prefix("./").map(str::to_owned).unwrap_or(text)
}

// Depth-first walk that follows symbolic links but refuses to re-enter a folder it is
// already inside (a loop), using canonical paths of the folders on the current branch.
fn collect_files(
    dir: &Path,
    ancestors: &mut Vec<PathBuf>,
    out: &mut Vec<PathBuf>,
) -> Result<(), LoadError> {
    let entries = fs::read_dir(dir).map_err(|source| LoadError::Folder {
        path: display_path(dir),
        source,
    })?;
    let mut children: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| LoadError::Folder {
            path: display_path(dir),
            source,
        })?;
        children.push(entry.path());
    }
    children.sort();
    for path in children {
        let metadata = match fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(source) if source.raw_os_error() == Some(40) => {
                // ELOOP: a link that points at itself.
                return Err(LoadError::SymlinkLoop {
                    path: display_path(&path),
                    target: display_path(&path),
                });
            }
            Err(source) => {
                return Err(LoadError::File {
                    path: display_path(&path),
                    source,
                });
            }
        };
        if metadata.is_dir() {
            let canonical = fs::canonicalize(&path).map_err(|source| LoadError::Folder {
                path: display_path(&path),
                source,
            })?;
            if ancestors.contains(&canonical) {
                return Err(LoadError::SymlinkLoop {
                    path: display_path(&path),
                    target: canonical.display().to_string(),
                });
            }
            ancestors.push(canonical);
            collect_files(&path, ancestors, out)?;
            ancestors.pop();
        } else if metadata.is_file()
            && path
                .extension()
                .and_then(|ext| ext.to_str())
                // `Users.YAML` is as much a policy file as `users.yaml`: skipping it
                // silently would drop its users from the plan.
                .is_some_and(|ext| {
                    ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml")
                })
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Parse one file's bytes into `loaded`: a [`Document`] when it parses, a diagnostic
/// when it does not. Never panics, whatever the bytes.
pub fn load_bytes(loaded: &mut Loaded, name: String, bytes: Vec<u8>) {
    let file = loaded.sources.len();
    let parsed = parse_file(name, bytes, no_fast_path);
    loaded.push(parsed.into_document(file, |document, _, _| document));
}

/// [`load_bytes`] as [`load_dir_typed`] reads a file: straight into a `T` where it can be,
/// the document passed through `step`.
pub fn load_bytes_typed<T: DeserializeOwned, R>(
    loaded: &mut LoadedWith<R>,
    name: String,
    bytes: Vec<u8>,
    step: impl Fn(Document, Option<T>, &str) -> R,
) {
    let file = loaded.sources.len();
    let parsed = parse_file(name, bytes, typed::decode::<T>);
    loaded.push(parsed.into_document(file, step));
}

// One file, parsed on its own (possibly on another thread) before it joins the others.
#[derive(Debug)]
struct ParsedFile<T> {
    name: String,
    text: String,
    content: Option<Content<T>>,
    diagnostic: Option<Diagnostic>,
}

// What a file that parsed holds: its typed content, or its JSON value; and its spans.
#[derive(Debug)]
enum Content<T> {
    Typed(T, Spans),
    Value(Value, Spans),
}

// A file's name, text, document (passed through the caller's step) and diagnostic.
type FileParts<T> = (String, String, Option<T>, Option<Diagnostic>);

impl<T> ParsedFile<T> {
    // The file's parts, its document numbered `file` in the sources.
    fn into_document<R>(
        self,
        file: usize,
        step: impl Fn(Document, Option<T>, &str) -> R,
    ) -> FileParts<R> {
        let document = self.content.map(|content| {
            let (typed, value, spans) = match content {
                Content::Typed(typed, spans) => (Some(typed), Value::Null, spans),
                Content::Value(value, spans) => (None, value, spans),
            };
            let document = Document {
                file,
                name: self.name.clone(),
                value,
                spans,
            };
            step(document, typed, &self.text)
        });
        (self.name, self.text, document, self.diagnostic)
    }
}

impl<T> LoadedWith<T> {
    // Add a file: its text to the sources, its document or its diagnostic.
    fn push(&mut self, (name, text, document, diagnostic): FileParts<T>) {
        self.sources.add(name, text);
        self.documents.extend(document);
        self.diagnostics.extend(diagnostic);
    }
}

/// The set of top-level sections a file may have, for messages.
pub fn sections() -> BTreeSet<&'static str> {
    ["version", "org", "roles", "groups", "users"].into()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn load(text: &str) -> Loaded {
        let mut loaded = Loaded::default();
        load_bytes(&mut loaded, "t.yaml".into(), text.as_bytes().to_vec());
        loaded
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let loaded = load("org:\n  name: Acme\nusers:\n  a@b.com: {role: admin}\n");
        assert!(loaded.diagnostics.is_empty());
        let doc = &loaded.documents[0];
        let value = doc
            .locate("/users/a@b.com/role")
            .unwrap_or_else(|| unreachable!());
        assert_eq!((value.line, value.col, value.width), (4, 19, 5));
        let key = doc
            .locate_key("/org/name")
            .unwrap_or_else(|| unreachable!());
        assert_eq!((key.line, key.col, key.width), (2, 3, 4));
        // A pointer below a scalar falls back to the scalar.
        let fallback = doc.locate("/org/name/x").unwrap_or_else(|| unreachable!());
        assert_eq!(fallback.line, 2);
    }
}

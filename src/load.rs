//! Loading: find the policy files, parse each once with a span-keeping YAML parser, and
//! keep the place of every node so any later stage can point at `file:line:col`.
//!
//! YAML is parsed with saphyr (not serde_yaml, which is archived and cannot give the
//! position of a node) and converted to `serde_json::Value` for the schema check and the
//! typed decoding; [`Document`] maps each JSON pointer back to its span.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Value};

use crate::diag::{Diagnostic, Location};

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

    /// Name of file `id`.
    pub fn name(&self, id: usize) -> &str {
        self.files.get(id).map_or("", |(name, _)| name.as_str())
    }

    /// Line `line` (1-based) of the file called `name`.
    pub fn line(&self, name: &str, line: usize) -> Option<&str> {
        let (_, text) = self.files.iter().find(|(n, _)| n == name)?;
        text.lines().nth(line.checked_sub(1)?)
    }

    fn text(&self, id: usize) -> &str {
        self.files.get(id).map_or("", |(_, text)| text.as_str())
    }
}

// (line, col, width), 1-based. `u32` is plenty: a policy file has at most 32 MiB.
type Place = (u32, u32, u32);

/// Where a node is: the span of its key (for mapping entries) and of its value.
#[derive(Debug, Clone, Copy)]
struct NodeSpan {
    key: Option<Place>,
    value: Place,
}

/// The spans of a document, as a tree shaped like the document: no JSON pointer string
/// is built or hashed per node, and a lookup walks the pointer's segments.
#[derive(Debug)]
struct SpanTree {
    span: NodeSpan,
    children: Children,
}

#[derive(Debug)]
enum Children {
    None,
    Sequence(Vec<SpanTree>),
    // Sorted by key; a key that appears twice keeps its last span, like the JSON value.
    Mapping(Vec<(Box<str>, SpanTree)>),
}

impl SpanTree {
    fn child(&self, segment: &str) -> Option<&SpanTree> {
        match &self.children {
            Children::None => None,
            Children::Sequence(items) => {
                // Only the canonical form of an index, as a JSON pointer writes it.
                let canonical = !segment.is_empty()
                    && segment.bytes().all(|b| b.is_ascii_digit())
                    && (segment == "0" || !segment.starts_with('0'));
                items.get(segment.parse::<usize>().ok().filter(|_| canonical)?)
            }
            Children::Mapping(entries) => {
                let unescaped;
                let key = if segment.contains('~') {
                    unescaped = segment.replace("~1", "/").replace("~0", "~");
                    unescaped.as_str()
                } else {
                    segment
                };
                let at = entries
                    .binary_search_by(|(k, _)| k.as_ref().cmp(key))
                    .ok()?;
                Some(&entries[at].1)
            }
        }
    }
}

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
    spans: SpanTree,
}

impl Document {
    /// The place of the value at `pointer`, or of its nearest ancestor that has one.
    pub fn locate(&self, pointer: &str) -> Option<Location> {
        self.find(pointer).map(|span| self.location(span.value))
    }

    /// The place of the key of the entry at `pointer` (for an unknown field, say),
    /// falling back to its value.
    pub fn locate_key(&self, pointer: &str) -> Option<Location> {
        self.find(pointer)
            .map(|span| self.location(span.key.unwrap_or(span.value)))
    }

    // The span at `pointer`, or at its nearest ancestor; `None` for a pointer that is not
    // one (it must be empty or start with `/`).
    fn find(&self, pointer: &str) -> Option<&NodeSpan> {
        if pointer.is_empty() {
            return Some(&self.spans.span);
        }
        let mut node = &self.spans;
        for segment in pointer.strip_prefix('/')?.split('/') {
            match node.child(segment) {
                Some(child) => node = child,
                None => break,
            }
        }
        Some(&node.span)
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

/// Everything read from a policy folder.
#[derive(Debug, Default)]
pub struct Loaded {
    /// File texts, for snippets.
    pub sources: Sources,
    /// The files that parsed, in sorted path order.
    pub documents: Vec<Document>,
    /// YAML problems found while parsing.
    pub diagnostics: Vec<Diagnostic>,
}

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

/// Read every `*.yaml`/`*.yml` under `dir`, recursively, in sorted path order.
pub fn load_dir(dir: &Path) -> Result<Loaded, LoadError> {
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
    paths.sort();
    let mut loaded = Loaded::default();
    for path in paths {
        let name = display_path(&path);
        let size = fs::metadata(&path)
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
        let bytes = fs::read(&path).map_err(|source| LoadError::File {
            path: name.clone(),
            source,
        })?;
        load_bytes(&mut loaded, name, bytes);
    }
    Ok(loaded)
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
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Parse one file's bytes into `loaded`: a [`Document`] when it parses, a diagnostic
/// when it does not. Never panics, whatever the bytes.
pub fn load_bytes(loaded: &mut Loaded, name: String, bytes: Vec<u8>) {
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid_up_to = error.utf8_error().valid_up_to();
            let bytes = error.into_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid_up_to]);
            let line = prefix.matches('\n').count() + 1;
            let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            loaded.diagnostics.push(
                Diagnostic::error(
                    "yaml-syntax",
                    format!("`{name}` is not valid UTF-8 (byte {valid_up_to})"),
                )
                .at(Some(Location {
                    file: name.clone(),
                    line,
                    col,
                    width: 1,
                }))
                .help("save the file as UTF-8"),
            );
            loaded.sources.add(name, text);
            return;
        }
    };
    let file = loaded.sources.add(name.clone(), text);
    let text = loaded.sources.text(file);
    let at = |line: usize, col: usize| {
        Some(Location {
            file: name.clone(),
            line,
            col,
            width: 1,
        })
    };
    let documents = match MarkedYaml::load_from_str(text) {
        Ok(documents) => documents,
        Err(error) => {
            let marker = error.marker();
            loaded.diagnostics.push(
                Diagnostic::error("yaml-syntax", format!("invalid YAML: {}", error.info()))
                    .at(at(marker.line().max(1), marker.col() + 1)),
            );
            return;
        }
    };
    let mut documents = documents.into_iter();
    let Some(root) = documents.next() else {
        // An empty file (or only comments) declares nothing.
        return;
    };
    if let Some(second) = documents.next() {
        loaded.diagnostics.push(
            Diagnostic::error(
                "yaml-syntax",
                "a policy file holds one YAML document, not several",
            )
            .at(at(second.span.start.line().max(1), 1))
            .help("split the documents into separate files"),
        );
        return;
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut converter = Converter {
        lines: &lines,
        problem: None,
    };
    let (value, spans) = converter.convert(&root, None, 0);
    if let Some((message, (line, col, _))) = converter.problem {
        loaded
            .diagnostics
            .push(Diagnostic::error("yaml-syntax", message).at(at(line as usize, col as usize)));
        return;
    }
    loaded.documents.push(Document {
        file,
        name,
        value,
        spans,
    });
}

struct Converter<'a> {
    lines: &'a [&'a str],
    problem: Option<(String, Place)>,
}

impl Converter<'_> {
    // (line, col, width), 1-based; the width stops at the end of the first line.
    fn place(&self, span: &saphyr_parser::Span) -> Place {
        let line = span.start.line().max(1);
        let col = span.start.col() + 1;
        let rest = self
            .lines
            .get(line - 1)
            .map_or(1, |text| text.chars().count().saturating_sub(col - 1));
        let len = span.end.index().saturating_sub(span.start.index());
        let width = if span.end.line() == span.start.line() {
            len.min(rest)
        } else {
            rest
        };
        let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (narrow(line), narrow(col), narrow(width.max(1)))
    }

    fn convert(
        &mut self,
        node: &MarkedYaml<'_>,
        key: Option<Place>,
        depth: usize,
    ) -> (Value, SpanTree) {
        let place = self.place(&node.span);
        let span = NodeSpan { key, value: place };
        let leaf = |value| {
            (
                value,
                SpanTree {
                    span,
                    children: Children::None,
                },
            )
        };
        if depth > MAX_DEPTH {
            if self.problem.is_none() {
                self.problem = Some((format!("nesting deeper than {MAX_DEPTH} levels"), place));
            }
            return leaf(Value::Null);
        }
        let (value, children) = match &node.data {
            YamlData::Value(scalar) => (scalar_to_json(scalar), Children::None),
            YamlData::Representation(text, _, _) => {
                (Value::String(text.to_string()), Children::None)
            }
            YamlData::Sequence(items) => {
                let (values, spans) = items
                    .iter()
                    .map(|item| self.convert(item, None, depth + 1))
                    .unzip();
                (Value::Array(values), Children::Sequence(spans))
            }
            YamlData::Mapping(entries) => {
                let mut map = Map::new();
                let mut spans: Vec<(Box<str>, SpanTree)> = Vec::with_capacity(entries.len());
                for (key_node, value_node) in entries {
                    let key_place = self.place(&key_node.span);
                    let key_text = match &key_node.data {
                        YamlData::Value(scalar) => match scalar_to_json(scalar) {
                            Value::String(text) => text,
                            other => other.to_string(),
                        },
                        YamlData::Representation(text, _, _) => text.to_string(),
                        _ => {
                            if self.problem.is_none() {
                                self.problem = Some((
                                    "a mapping key must be a plain value, not a list or mapping"
                                        .to_owned(),
                                    key_place,
                                ));
                            }
                            continue;
                        }
                    };
                    let (value, span) = self.convert(value_node, Some(key_place), depth + 1);
                    spans.push((key_text.as_str().into(), span));
                    map.insert(key_text, value);
                }
                // Stable sort, then keep the last of equal keys (as `map.insert` does).
                spans.sort_by(|(a, _), (b, _)| a.cmp(b));
                spans.reverse();
                spans.dedup_by(|(a, _), (b, _)| a == b);
                spans.reverse();
                (Value::Object(map), Children::Mapping(spans))
            }
            YamlData::Tagged(_, inner) => {
                return self.convert(inner, key, depth);
            }
            YamlData::Alias(_) | YamlData::BadValue => {
                if self.problem.is_none() {
                    self.problem = Some(("a value could not be read".to_owned(), place));
                }
                return leaf(Value::Null);
            }
        };
        (value, SpanTree { span, children })
    }
}

fn scalar_to_json(scalar: &Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::from(*i),
        // NaN and infinities have no JSON form; keep their text so the schema rejects them.
        Scalar::FloatingPoint(f) => serde_json::Number::from_f64(f.into_inner())
            .map_or_else(|| Value::String(f.to_string()), Value::Number),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

/// The set of top-level sections a file may have, for messages.
pub fn sections() -> BTreeSet<&'static str> {
    ["version", "org", "roles", "groups", "users"].into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Loaded {
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

    #[test]
    fn duplicate_keys_are_a_syntax_error() {
        let loaded = load("users:\n  a@b.com: {}\n  a@b.com: {}\n");
        assert_eq!(loaded.diagnostics.len(), 1);
        assert_eq!(loaded.diagnostics[0].code, "yaml-syntax");
    }

    #[test]
    fn empty_file_declares_nothing() {
        let loaded = load("# only a comment\n");
        assert!(loaded.diagnostics.is_empty());
        assert!(loaded.documents.is_empty());
    }
}

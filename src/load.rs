//! Loading: find the policy files, parse each once with a span-keeping YAML parser, and
//! keep the place of every node so any later stage can point at `file:line:col`.
//!
//! YAML is parsed with saphyr's parser (not serde_yaml, which is archived and cannot give
//! the position of a node); its events are built straight into a `serde_json::Value`, for
//! the schema check and the typed decoding, and a tree of spans: [`Document`] maps each
//! JSON pointer back to its place. Files are parsed in parallel.

use crate::diag::Code;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

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

pub use crate::diag::Sources;

// (line, col, width), 1-based. `u32` is plenty: a policy file has at most 32 MiB.
type Place = (u32, u32, u32);

// No place: lines start at 1.
const NO_PLACE: Place = (0, 0, 0);

/// Where a node is (the span of its key, for a mapping entry, and of its value) and where
/// its children are.
#[derive(Debug, Clone, Copy)]
struct SpanNode {
    // [`NO_PLACE`] when the node is not a mapping entry (an `Option` would add 4 bytes to
    // each of a large org's million nodes).
    key: Place,
    value: Place,
    kind: Kind,
    // The children: `len` nodes from `first` in [`Spans::nodes`].
    first: u32,
    len: u32,
    // This node's key, as `keys[key_at..key_at + key_len]` in [`Spans::keys`].
    key_at: u32,
    key_len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Sequence,
    // Children sorted by key.
    Mapping,
}

impl SpanNode {
    fn leaf(value: Place) -> Self {
        SpanNode {
            key: NO_PLACE,
            value,
            kind: Kind::Scalar,
            first: 0,
            len: 0,
            key_at: 0,
            key_len: 0,
        }
    }
}

/// The spans of a document, flat: a collection's children side by side in one vector,
/// every key's text in one string. No JSON pointer string is built or hashed per node, no
/// allocation is made per node, and a lookup walks the pointer's segments.
#[derive(Debug)]
struct Spans {
    root: SpanNode,
    nodes: Vec<SpanNode>,
    keys: String,
}

impl Spans {
    fn key(&self, node: &SpanNode) -> &str {
        let at = node.key_at as usize;
        self.keys.get(at..at + node.key_len as usize).unwrap_or("")
    }

    fn children(&self, node: &SpanNode) -> &[SpanNode] {
        let first = node.first as usize;
        self.nodes
            .get(first..first + node.len as usize)
            .unwrap_or(&[])
    }

    fn child(&self, node: &SpanNode, segment: &str) -> Option<&SpanNode> {
        let children = self.children(node);
        match node.kind {
            Kind::Scalar => None,
            Kind::Sequence => {
                // Only the canonical form of an index, as a JSON pointer writes it.
                let canonical = !segment.is_empty()
                    && segment.bytes().all(|b| b.is_ascii_digit())
                    && (segment == "0" || !segment.starts_with('0'));
                children.get(segment.parse::<usize>().ok().filter(|_| canonical)?)
            }
            Kind::Mapping => {
                let unescaped;
                let key = if segment.contains('~') {
                    unescaped = segment.replace("~1", "/").replace("~0", "~");
                    unescaped.as_str()
                } else {
                    segment
                };
                let at = children
                    .binary_search_by(|child| self.key(child).cmp(key))
                    .ok()?;
                children.get(at)
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
        read_and_parse(path).map(|parsed| parsed.into_document(*file, &step))
    });
    let mut loaded = LoadedWith::default();
    for result in results {
        loaded.push(result?);
    }
    Ok(loaded)
}

fn read_and_parse(path: &Path) -> Result<ParsedFile, LoadError> {
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
    Ok(parse_file(name, bytes))
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
    loaded.push(parse_file(name, bytes).into_document(file, |document, _| document));
}

/// The JSON value of a text that parsed once already (the value of its [`Document`]),
/// built again: the slow, precise decoding of a file that failed the fast one needs it.
pub fn reparse_value(text: &str) -> Option<Value> {
    Builder::build(text).ok().flatten().map(|(value, _)| value)
}

// One file, parsed on its own (possibly on another thread) before it joins the others.
#[derive(Debug)]
struct ParsedFile {
    name: String,
    text: String,
    content: Option<(Value, Spans)>,
    diagnostic: Option<Diagnostic>,
}

// A file's name, text, document (passed through the caller's step) and diagnostic.
type FileParts<T> = (String, String, Option<T>, Option<Diagnostic>);

impl ParsedFile {
    // The file's parts, its document numbered `file` in the sources.
    fn into_document<T>(self, file: usize, step: impl Fn(Document, &str) -> T) -> FileParts<T> {
        let document = self.content.map(|(value, spans)| {
            let document = Document {
                file,
                name: self.name.clone(),
                value,
                spans,
            };
            step(document, &self.text)
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

// Parse one file's bytes. Never panics, whatever the bytes.
fn parse_file(name: String, bytes: Vec<u8>) -> ParsedFile {
    // A NUL byte is never YAML; a UTF-16 file (as some Windows editors save) is full of
    // them and would otherwise read as valid UTF-8 and fail with a puzzling message.
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        let utf16 = bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]);
        let prefix = String::from_utf8_lossy(&bytes[..at]);
        let line = prefix.matches('\n').count() + 1;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let message = if utf16 || at < 2 {
            format!("`{name}` is not UTF-8: it looks like UTF-16 (NUL byte at byte {at})")
        } else {
            format!("`{name}` holds a NUL byte (byte {at}), which YAML does not allow")
        };
        let diagnostic = Diagnostic::error(Code::YamlSyntax, message)
            .at(Some(Location {
                file: name.clone(),
                line,
                col: 1,
                width: 1,
            }))
            .help("save the file as UTF-8");
        return ParsedFile {
            name,
            text,
            content: None,
            diagnostic: Some(diagnostic),
        };
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let valid_up_to = error.utf8_error().valid_up_to();
            let bytes = error.into_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid_up_to]);
            let line = prefix.matches('\n').count() + 1;
            let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let diagnostic = Diagnostic::error(
                Code::YamlSyntax,
                format!("`{name}` is not valid UTF-8 (byte {valid_up_to})"),
            )
            .at(Some(Location {
                file: name.clone(),
                line,
                col,
                width: 1,
            }))
            .help("save the file as UTF-8");
            return ParsedFile {
                name,
                text,
                content: None,
                diagnostic: Some(diagnostic),
            };
        }
    };
    let (content, diagnostic) = match Builder::build(&text) {
        Ok(content) => (content, None),
        Err(problem) => {
            let Problem {
                message,
                line,
                col,
                help,
            } = problem;
            let diagnostic = Diagnostic::error(Code::YamlSyntax, message)
                .at(Some(Location {
                    file: name.clone(),
                    line,
                    col,
                    width: 1,
                }))
                .maybe_help(help.map(str::to_owned));
            (None, Some(diagnostic))
        }
    };
    ParsedFile {
        name,
        text,
        content,
        diagnostic,
    }
}

/// Why a file could not be read as one policy document, and where (1-based).
#[derive(Debug)]
struct Problem {
    message: String,
    line: usize,
    col: usize,
    help: Option<&'static str>,
}

impl Problem {
    fn at(message: impl Into<String>, (line, col, _): Place) -> Self {
        Problem {
            message: message.into(),
            line: line as usize,
            col: col as usize,
            help: None,
        }
    }
}

/// Nodes an alias may copy in one file, all aliases together: the limit saphyr's own
/// loader uses against "billion laughs" documents.
const ALIAS_BUDGET: usize = 100_000;

/// A collection being built, with what its parent needs once it is complete.
struct Frame {
    start: saphyr_parser::Marker,
    anchor: usize,
    // Nodes in the collection, itself included (the cost of copying it through an alias).
    nodes: usize,
    body: Body,
}

// A collection's value and direct children so far (placed in the arena when it ends).
enum Body {
    Sequence(Vec<Value>, Vec<SpanNode>),
    // The key waiting for its value: its text (none for a key that is a collection, whose
    // entry is dropped), place and start.
    Mapping(
        Map<String, Value>,
        Vec<SpanNode>,
        Option<(Option<String>, Place, saphyr_parser::Marker)>,
    ),
}

/// Builds the JSON value and the span tree of a file straight from the parser's events:
/// no intermediate YAML tree is built (and freed), which halves the cost of loading.
struct Builder<'t> {
    lines: Vec<&'t str>,
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, (Value, SpanNode, usize)>,
    alias_budget: usize,
    // The spans of completed collections' children, and every key's text.
    nodes: Vec<SpanNode>,
    keys: String,
    root: Option<(Value, SpanNode)>,
    documents: usize,
    // Whether the current document has its root node yet.
    has_root: bool,
    // Where the second document starts, if there is one.
    second: Option<usize>,
    // The first problem found in a document that parses (reported only if it does).
    problem: Option<Problem>,
}

impl<'t> Builder<'t> {
    fn build(text: &'t str) -> Result<Option<(Value, Spans)>, Problem> {
        use saphyr_parser::{Event, Parser};
        let mut builder = Builder {
            lines: text.lines().collect(),
            stack: Vec::new(),
            anchors: std::collections::HashMap::new(),
            alias_budget: ALIAS_BUDGET,
            // Sized from the text (a node takes a dozen bytes or more of YAML): growing
            // by doubling would copy and touch every page twice.
            nodes: Vec::with_capacity(text.len() / 12),
            keys: String::with_capacity(text.len() / 4),
            root: None,
            documents: 0,
            has_root: false,
            second: None,
            problem: None,
        };
        let mut parser = Parser::new_from_str(text);
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|error| {
                let marker = error.marker();
                Problem {
                    message: format!("invalid YAML: {}", error.info()),
                    line: marker.line().max(1),
                    col: marker.col() + 1,
                    help: None,
                }
            })?;
            match event {
                Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
                Event::DocumentStart(_) => builder.has_root = false,
                Event::DocumentEnd => {
                    if !builder.has_root {
                        // An empty document is a value that cannot be read.
                        let place = builder.place(&span);
                        let node = SpanNode::leaf(place);
                        builder.complete(Value::Null, node, 1, 0, span.start)?;
                        builder.note(Problem::at("a value could not be read", place));
                    }
                }
                Event::SequenceStart(anchor, _) => {
                    builder.open(span.start, anchor, Body::Sequence(Vec::new(), Vec::new()))
                }
                Event::MappingStart(anchor, _) => builder.open(
                    span.start,
                    anchor,
                    Body::Mapping(Map::new(), Vec::new(), None),
                ),
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(frame) = builder.stack.pop() else {
                        continue;
                    };
                    let place = builder.place(&saphyr_parser::Span::new(frame.start, span.start));
                    let (value, kind, mut children) = match frame.body {
                        Body::Sequence(values, children) => {
                            (Value::Array(values), Kind::Sequence, children)
                        }
                        Body::Mapping(map, children, _) => {
                            (Value::Object(map), Kind::Mapping, children)
                        }
                    };
                    if kind == Kind::Mapping {
                        let keys = &builder.keys;
                        let key = |node: &SpanNode| {
                            let at = node.key_at as usize;
                            keys.get(at..at + node.key_len as usize).unwrap_or("")
                        };
                        children.sort_by(|a, b| key(a).cmp(key(b)));
                    }
                    let node = SpanNode {
                        kind,
                        first: narrow(builder.nodes.len()),
                        len: narrow(children.len()),
                        ..SpanNode::leaf(place)
                    };
                    builder.nodes.extend(children);
                    builder.complete(value, node, frame.nodes, frame.anchor, frame.start)?;
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let place = builder.place(&span);
                    // A tag outside the core schema (`!custom 5`) does not change the value.
                    let tag = tag.filter(|tag| tag.is_yaml_core_schema());
                    // A mapping key is a name, kept exactly as written: `007:` is the group
                    // "007", `1.10:` is "1.10", never the numbers 7 and 1.1.
                    let is_key = matches!(
                        builder.stack.last(),
                        Some(Frame {
                            body: Body::Mapping(_, _, None),
                            ..
                        })
                    );
                    let value = if is_key {
                        Value::String(text.into_owned())
                    } else {
                        match saphyr::Scalar::parse_from_cow_and_metadata(text, style, tag.as_ref())
                        {
                            Some(scalar) => scalar_to_json(&scalar),
                            None => {
                                builder.note(Problem::at("a value could not be read", place));
                                Value::Null
                            }
                        }
                    };
                    builder.complete(value, SpanNode::leaf(place), 1, anchor, span.start)?;
                }
                Event::Alias(id) => {
                    let place = builder.place(&span);
                    let (value, node, nodes) = match builder.anchors.get(&id) {
                        Some((value, anchored, nodes)) => {
                            if *nodes > builder.alias_budget {
                                return Err(Problem::at(
                                    "invalid YAML: alias expansion exceeded the maximum node \
                                     budget (possible billion-laughs attack)",
                                    place,
                                ));
                            }
                            builder.alias_budget -= nodes;
                            // The anchor's children are shared: spans are never changed.
                            let node = SpanNode {
                                value: place,
                                key: NO_PLACE,
                                ..*anchored
                            };
                            (value.clone(), node, *nodes)
                        }
                        None => {
                            builder.note(Problem::at("a value could not be read", place));
                            (Value::Null, SpanNode::leaf(place), 1)
                        }
                    };
                    builder.complete(value, node, nodes, 0, span.start)?;
                }
            }
        }
        if let Some(line) = builder.second {
            return Err(Problem {
                message: "a policy file holds one YAML document, not several".to_owned(),
                line: line.max(1),
                col: 1,
                help: Some("split the documents into separate files"),
            });
        }
        if let Some(problem) = builder.problem {
            return Err(problem);
        }
        // The spans live as long as the policy: give back what the estimate left over.
        builder.nodes.shrink_to_fit();
        builder.keys.shrink_to_fit();
        // A document with nothing in it (`---` alone, or `~`) declares nothing, like an
        // empty file.
        let root = builder.root.filter(|(value, _)| !value.is_null());
        Ok(root.map(|(value, root)| {
            let spans = Spans {
                root,
                nodes: builder.nodes,
                keys: builder.keys,
            };
            (value, spans)
        }))
    }

    // Keep the first problem: later ones are often its consequences.
    fn note(&mut self, problem: Problem) {
        if self.problem.is_none() {
            self.problem = Some(problem);
        }
    }

    fn open(&mut self, start: saphyr_parser::Marker, anchor: usize, body: Body) {
        self.stack.push(Frame {
            start,
            anchor,
            nodes: 1,
            body,
        });
    }

    // A node is complete: it becomes the document's root, an item, a key or a value.
    fn complete(
        &mut self,
        value: Value,
        mut node: SpanNode,
        nodes: usize,
        anchor: usize,
        start: saphyr_parser::Marker,
    ) -> Result<(), Problem> {
        // Depth of this node: the root is at 0.
        if self.stack.len() == MAX_DEPTH + 1 {
            self.note(Problem::at(
                format!("nesting deeper than {MAX_DEPTH} levels"),
                node.value,
            ));
        }
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), node, nodes));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.has_root = true;
            self.documents += 1;
            if self.documents == 1 {
                self.root = Some((value, node));
            } else if self.second.is_none() {
                self.second = Some(start.line());
            }
            return Ok(());
        };
        match &mut parent.body {
            Body::Sequence(values, children) => {
                parent.nodes += nodes;
                values.push(value);
                children.push(node);
            }
            Body::Mapping(map, children, pending) => match pending.take() {
                None => {
                    parent.nodes += 1;
                    let key = match value {
                        Value::String(text) => Some(text),
                        Value::Array(_) | Value::Object(_) => {
                            if self.problem.is_none() {
                                self.problem = Some(Problem::at(
                                    "a mapping key must be a plain value, not a list or mapping",
                                    node.value,
                                ));
                            }
                            None
                        }
                        other => Some(other.to_string()),
                    };
                    *pending = Some((key, node.value, start));
                }
                Some((None, _, _)) => {}
                Some((Some(key), key_place, key_start)) => {
                    parent.nodes += nodes;
                    node.key = key_place;
                    node.key_at = narrow(self.keys.len());
                    node.key_len = narrow(key.len());
                    self.keys.push_str(&key);
                    // One hash of the key, not one to look and one to insert.
                    match map.entry(key) {
                        serde_json::map::Entry::Occupied(_) => {
                            return Err(Problem {
                                message: "invalid YAML: duplicated key in mapping".to_owned(),
                                line: key_start.line().max(1),
                                col: key_start.col() + 1,
                                help: None,
                            });
                        }
                        serde_json::map::Entry::Vacant(entry) => {
                            entry.insert(value);
                        }
                    }
                    children.push(node);
                }
            },
        }
        Ok(())
    }

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
        (narrow(line), narrow(col), narrow(width.max(1)))
    }
}

// Positions and lengths fit in `u32`: a policy file has at most 32 MiB.
fn narrow(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn scalar_to_json(scalar: &saphyr::Scalar<'_>) -> Value {
    use saphyr::Scalar;
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
        assert_eq!(loaded.diagnostics[0].code, Code::YamlSyntax);
    }

    #[test]
    fn an_alias_copies_its_anchor_and_points_at_itself() {
        let loaded = load("a: &lim {usd: 5}\nb:\n  c: *lim\n");
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let doc = &loaded.documents[0];
        assert_eq!(doc.value["b"]["c"], doc.value["a"]);
        let alias = doc.locate("/b/c").unwrap_or_else(|| unreachable!());
        assert_eq!((alias.line, alias.col), (3, 6));
        // Below the alias, the anchor's own places.
        let inner = doc.locate("/b/c/usd").unwrap_or_else(|| unreachable!());
        assert_eq!((inner.line, inner.col), (1, 15));
    }

    #[test]
    fn keys_that_read_alike_are_duplicates() {
        let loaded = load("users:\n  1: {}\n  \"1\": {}\n");
        assert_eq!(loaded.diagnostics.len(), 1);
        let diagnostic = &loaded.diagnostics[0];
        assert!(
            diagnostic.message.contains("duplicated key"),
            "{diagnostic:?}"
        );
    }

    #[test]
    fn a_second_document_is_refused_at_its_line() {
        let loaded = load("org: {}\n---\nusers: {}\n");
        assert_eq!(loaded.diagnostics.len(), 1);
        let location = loaded.diagnostics[0].location.as_ref();
        assert_eq!(location.map(|l| l.line), Some(3));
        assert!(loaded.documents.is_empty());
    }

    #[test]
    fn a_list_as_a_key_is_refused() {
        let loaded = load("? [a, b]\n: 1\n");
        assert_eq!(loaded.diagnostics.len(), 1);
        assert!(loaded.diagnostics[0].message.contains("plain value"));
    }

    #[test]
    fn empty_file_declares_nothing() {
        let loaded = load("# only a comment\n");
        assert!(loaded.diagnostics.is_empty());
        assert!(loaded.documents.is_empty());
    }
}

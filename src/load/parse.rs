//! Parsing one file's bytes: refusing what is not UTF-8 text, then building the JSON value
//! and the span tree straight from saphyr's events.

use serde_json::{Map, Value};

use super::spans::{Kind, NO_PLACE, Place, SpanBuilder, SpanNode, Spans};
use super::{Content, MAX_DEPTH, ParsedFile};
use crate::diag::Code;
use crate::diag::{Diagnostic, Location};

// Parse one file's bytes: by `fast` (the typed decoding, see [`super::typed`]) when it
// reads the text, by the [`Builder`] when it does not. Never panics, whatever the bytes.
pub(super) fn parse_file<T>(
    name: String,
    bytes: Vec<u8>,
    fast: impl FnOnce(&str) -> Option<(T, Spans)>,
) -> ParsedFile<T> {
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
        let problem = Problem {
            message,
            line,
            col: 1,
            help: Some(SAVE_AS_UTF8),
        };
        return unreadable(name, text, problem);
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
            let problem = Problem {
                message: format!("`{name}` is not valid UTF-8 (byte {valid_up_to})"),
                line,
                col,
                help: Some(SAVE_AS_UTF8),
            };
            return unreadable(name, text, problem);
        }
    };
    if let Some((typed, spans)) = fast(&text) {
        return ParsedFile {
            name,
            text,
            content: Some(Content::Typed(typed, spans)),
            diagnostic: None,
        };
    }
    match Builder::build(&text) {
        Ok(content) => ParsedFile {
            name,
            text,
            content: content.map(|(value, spans)| Content::Value(value, spans)),
            diagnostic: None,
        },
        Err(problem) => unreadable(name, text, problem),
    }
}

const SAVE_AS_UTF8: &str = "save the file as UTF-8";

// A file that cannot be read as one document: its text (for snippets) and why, as a
// `yaml-syntax` error at the problem's place.
fn unreadable<T>(name: String, text: String, problem: Problem) -> ParsedFile<T> {
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
    ParsedFile {
        name,
        text,
        content: None,
        diagnostic: Some(diagnostic),
    }
}

/// The JSON value of a text that parsed once already (the value of its [`Document`](super::Document)),
/// built again: the slow, precise decoding of a file that failed the fast one needs it.
pub fn reparse_value(text: &str) -> Option<Value> {
    Builder::build(text).ok().flatten().map(|(value, _)| value)
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

// A collection's value so far (its children's spans are in the [`SpanBuilder`]).
enum Body {
    Sequence(Vec<Value>),
    // The key waiting for its value: its text (none for a key that is a collection, whose
    // entry is dropped), place and start.
    Mapping(
        Map<String, Value>,
        Option<(Option<String>, Place, saphyr_parser::Marker)>,
    ),
}

/// Builds the JSON value and the span tree of a file straight from the parser's events:
/// no intermediate YAML tree is built (and freed), which halves the cost of loading.
struct Builder<'t> {
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, (Value, SpanNode, usize)>,
    alias_budget: usize,
    spans: SpanBuilder<'t>,
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
            stack: Vec::new(),
            anchors: std::collections::HashMap::new(),
            alias_budget: ALIAS_BUDGET,
            spans: SpanBuilder::new(text),
            root: None,
            documents: 0,
            has_root: false,
            second: None,
            problem: None,
        };
        let mut parser = Parser::new_from_str(text);
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|error| syntax_problem(&error))?;
            match event {
                Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
                Event::DocumentStart(_) => builder.has_root = false,
                Event::DocumentEnd => {
                    if !builder.has_root {
                        // An empty document is a value that cannot be read.
                        let place = builder.spans.place(&span);
                        let node = SpanNode::leaf(place);
                        builder.complete(Value::Null, node, 1, 0, span.start)?;
                        builder.note(Problem::at("a value could not be read", place));
                    }
                }
                Event::SequenceStart(anchor, _) => {
                    builder.open(span.start, anchor, Body::Sequence(Vec::new()))
                }
                Event::MappingStart(anchor, _) => {
                    builder.open(span.start, anchor, Body::Mapping(Map::new(), None))
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let (Some(frame), Some((node, _))) =
                        (builder.stack.pop(), builder.spans.close(span.start))
                    else {
                        continue;
                    };
                    let value = match frame.body {
                        Body::Sequence(values) => Value::Array(values),
                        Body::Mapping(map, _) => Value::Object(map),
                    };
                    builder.complete(value, node, frame.nodes, frame.anchor, frame.start)?;
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let place = builder.spans.place(&span);
                    // A tag outside the core schema (`!custom 5`) does not change the value.
                    let tag = tag.filter(|tag| tag.is_yaml_core_schema());
                    // A mapping key is a name, kept exactly as written: `007:` is the group
                    // "007", `1.10:` is "1.10", never the numbers 7 and 1.1.
                    let is_key = matches!(
                        builder.stack.last(),
                        Some(Frame {
                            body: Body::Mapping(_, None),
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
                    let place = builder.spans.place(&span);
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
        // A document with nothing in it (`---` alone, or `~`) declares nothing, like an
        // empty file.
        let root = builder.root.filter(|(value, _)| !value.is_null());
        let spans = builder.spans;
        Ok(root.map(|(value, root)| (value, spans.finish(root))))
    }

    // Keep the first problem: later ones are often its consequences.
    fn note(&mut self, problem: Problem) {
        if self.problem.is_none() {
            self.problem = Some(problem);
        }
    }

    fn open(&mut self, start: saphyr_parser::Marker, anchor: usize, body: Body) {
        let kind = match body {
            Body::Sequence(_) => Kind::Sequence,
            Body::Mapping(..) => Kind::Mapping,
        };
        self.spans.open(start, kind);
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
        node: SpanNode,
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
            Body::Sequence(values) => {
                parent.nodes += nodes;
                values.push(value);
                self.spans.item(node);
            }
            Body::Mapping(map, pending) => match pending.take() {
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
                    self.spans.entry(node, &key, key_place);
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
                }
            },
        }
        Ok(())
    }
}

// The problem of a file that is not YAML at all.
fn syntax_problem(error: &saphyr_parser::ScanError) -> Problem {
    let marker = error.marker();
    Problem {
        message: format!("invalid YAML: {}", error.info()),
        line: marker.line().max(1),
        col: marker.col() + 1,
        help: None,
    }
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

#[cfg(test)]
mod tests {
    use super::super::tests::load;
    use crate::diag::Code;

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

//! The place of every node of a parsed file: a flat tree of spans that a JSON pointer walks
//! down, segment by segment.

// (line, col, width), 1-based. `u32` is plenty: a policy file has at most 32 MiB.
pub(super) type Place = (u32, u32, u32);

// No place: lines start at 1.
pub(super) const NO_PLACE: Place = (0, 0, 0);

/// Where a node is (the span of its key, for a mapping entry, and of its value) and where
/// its children are.
#[derive(Debug, Clone, Copy)]
pub(super) struct SpanNode {
    // [`NO_PLACE`] when the node is not a mapping entry (an `Option` would add 4 bytes to
    // each of a large org's million nodes).
    pub(super) key: Place,
    pub(super) value: Place,
    // The children: `len & !MAPPING` nodes from `first` in [`Spans::nodes`]; `len` has
    // [`MAPPING`] set for a mapping. A file of at most 32 MiB has fewer than 2^31 nodes,
    // so the bit is free, and a node takes 40 bytes instead of 44 (a separate `Kind`).
    pub(super) first: u32,
    pub(super) len: u32,
    // This node's key, as `keys[key_at..key_at + key_len]` in [`Spans::keys`].
    pub(super) key_at: u32,
    pub(super) key_len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Scalar,
    Sequence,
    // Children sorted by key.
    Mapping,
}

// Set in [`SpanNode::len`] for a mapping.
const MAPPING: u32 = 1 << 31;

impl SpanNode {
    pub(super) fn leaf(value: Place) -> Self {
        SpanNode {
            key: NO_PLACE,
            value,
            first: 0,
            len: 0,
            key_at: 0,
            key_len: 0,
        }
    }

    // A sequence or a mapping whose `len` children are at `first`.
    pub(super) fn collection(value: Place, kind: Kind, first: u32, len: u32) -> Self {
        let len = len.min(!MAPPING);
        SpanNode {
            first,
            len: if kind == Kind::Mapping {
                len | MAPPING
            } else {
                len
            },
            ..SpanNode::leaf(value)
        }
    }

    // A node without children is looked into as a scalar: no segment finds anything in
    // it, whichever it is.
    fn kind(&self) -> Kind {
        match (self.len & MAPPING != 0, self.len & !MAPPING) {
            (true, _) => Kind::Mapping,
            (false, 0) => Kind::Scalar,
            (false, _) => Kind::Sequence,
        }
    }
}

/// The span tree of a file as its parser's events arrive: the one place that measures a
/// node's place, orders a mapping's children by key and lays them out in the arena, for
/// both ways a file is read (the JSON builder and the typed decoder), so their spans are
/// the same by construction.
pub(super) struct SpanBuilder<'t> {
    lines: Vec<&'t str>,
    // The collections open around the next node, innermost last: where each starts, its
    // kind, and where its children start in `children`.
    open: Vec<(saphyr_parser::Marker, Kind, usize)>,
    // The children of the open collections, side by side: one vector for the whole file
    // instead of one per collection.
    children: Vec<SpanNode>,
    // The children of the closed collections, and every key's text.
    nodes: Vec<SpanNode>,
    keys: String,
    // The last line measured and its length in characters: a line holds several nodes
    // (`a@b.com: {name: Al, groups: [x]}` five), each measured against it.
    measured: std::cell::Cell<(usize, usize)>,
}

impl<'t> SpanBuilder<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        SpanBuilder {
            lines: text.lines().collect(),
            open: Vec::new(),
            children: Vec::new(),
            // Sized from the text (a node takes a dozen bytes or more of YAML): growing
            // by doubling would copy and touch every page twice.
            nodes: Vec::with_capacity(text.len() / 12),
            keys: String::with_capacity(text.len() / 4),
            measured: std::cell::Cell::new((0, 0)),
        }
    }

    // How many collections are open around the next node: its depth (the root's is 0).
    pub(super) fn depth(&self) -> usize {
        self.open.len()
    }

    // (line, col, width), 1-based; the width stops at the end of the first line.
    pub(super) fn place(&self, span: &saphyr_parser::Span) -> Place {
        let line = span.start.line().max(1);
        let col = span.start.col() + 1;
        let chars = match self.measured.get() {
            (measured, chars) if measured == line => Some(chars),
            _ => self.lines.get(line - 1).map(|text| {
                let chars = text.chars().count();
                self.measured.set((line, chars));
                chars
            }),
        };
        let rest = chars.map_or(1, |chars| chars.saturating_sub(col - 1));
        let len = span.end.index().saturating_sub(span.start.index());
        let width = if span.end.line() == span.start.line() {
            len.min(rest)
        } else {
            rest
        };
        (narrow(line), narrow(col), narrow(width.max(1)))
    }

    pub(super) fn open(&mut self, start: saphyr_parser::Marker, kind: Kind) {
        self.open.push((start, kind, self.children.len()));
    }

    // The innermost open collection ends at `end`: its children (a mapping's sorted by
    // key) go to the arena. Its node, and whether two of a mapping's keys are equal.
    pub(super) fn close(&mut self, end: saphyr_parser::Marker) -> Option<(SpanNode, bool)> {
        let (start, kind, from) = self.open.pop()?;
        let place = self.place(&saphyr_parser::Span::new(start, end));
        let children = self.children.get_mut(from..).unwrap_or_default();
        let mut duplicate = false;
        if kind == Kind::Mapping {
            let keys = &self.keys;
            let key = |node: &SpanNode| {
                let at = node.key_at as usize;
                keys.get(at..at + node.key_len as usize).unwrap_or("")
            };
            children.sort_by(|a, b| key(a).cmp(key(b)));
            duplicate = children
                .windows(2)
                .any(|pair| key(&pair[0]) == key(&pair[1]));
        }
        let first = narrow(self.nodes.len());
        let node = SpanNode::collection(place, kind, first, narrow(children.len()));
        self.nodes.extend(self.children.drain(from..));
        Some((node, duplicate))
    }

    // A complete node is the next item of the innermost (sequence) collection.
    pub(super) fn item(&mut self, node: SpanNode) {
        self.children.push(node);
    }

    // A complete node is the value of the entry `key` (placed at `key_place`) of the
    // innermost (mapping) collection.
    pub(super) fn entry(&mut self, mut node: SpanNode, key: &str, key_place: Place) {
        node.key = key_place;
        node.key_at = narrow(self.keys.len());
        node.key_len = narrow(key.len());
        self.keys.push_str(key);
        self.children.push(node);
    }

    // The spans of the document whose root node is `root`.
    pub(super) fn finish(mut self, root: SpanNode) -> Spans {
        // The spans live as long as the policy: give back what the estimate left over.
        self.nodes.shrink_to_fit();
        self.keys.shrink_to_fit();
        Spans {
            root,
            nodes: self.nodes,
            keys: self.keys,
        }
    }
}

// Positions and lengths fit in `u32`: a policy file has at most 32 MiB.
pub(super) fn narrow(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The spans of a document, flat: a collection's children side by side in one vector,
/// every key's text in one string. No JSON pointer string is built or hashed per node, no
/// allocation is made per node, and a lookup walks the pointer's segments.
#[derive(Debug)]
pub(super) struct Spans {
    pub(super) root: SpanNode,
    pub(super) nodes: Vec<SpanNode>,
    pub(super) keys: String,
}

impl Spans {
    pub(super) fn key(&self, node: &SpanNode) -> &str {
        let at = node.key_at as usize;
        self.keys.get(at..at + node.key_len as usize).unwrap_or("")
    }

    pub(super) fn children(&self, node: &SpanNode) -> &[SpanNode] {
        let first = node.first as usize;
        self.nodes
            .get(first..first + (node.len & !MAPPING) as usize)
            .unwrap_or(&[])
    }

    pub(super) fn child(&self, node: &SpanNode, segment: &str) -> Option<&SpanNode> {
        let children = self.children(node);
        match node.kind() {
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

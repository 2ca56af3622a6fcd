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

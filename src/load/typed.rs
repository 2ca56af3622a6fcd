//! The fast way to read a file: its typed content decoded straight from the parser's events
//! by serde (no JSON value is built, checked and freed), with the same span tree as
//! [`Builder`](super::parse) builds.
//!
//! It reads only the plain happy path and gives up on anything else, so that the file goes
//! the slow way (the JSON value, the schema, the precise diagnostics): a deserialize error,
//! an anchor, an alias or a tag, a second document, an empty one, nesting deeper than
//! [`MAX_DEPTH`], a duplicate key, a key that is not a scalar, a `null` where an `Option`
//! is read, a float that is not finite. Where it does not give up, its value is what
//! `serde_json::from_value` gives on the builder's JSON value: every scalar is converted as
//! the builder converts it (a key is the text as written; any other scalar is read by the
//! YAML core schema) and handed to serde as the JSON value's deserializer hands it, only
//! more strictly (a struct is only read from a mapping, an enum only from a string).

use std::borrow::Cow;

use saphyr::Scalar;
use saphyr_parser::{Event, Parser, Span, StrInput};
use serde::de::{self, DeserializeSeed, Visitor};

use super::MAX_DEPTH;
use super::spans::{Kind, NO_PLACE, Place, SpanBuilder, SpanNode, Spans};

// A key or an enum's name: handed to serde as text, whatever it looks like.
type StrDeserializer<'a> = de::value::StrDeserializer<'a, GiveUp>;

/// Decode `text` into a `T` straight from the parser's events, with its spans; `None` when
/// the file is not on the happy path (see the module's documentation), and must be read
/// the slow way.
pub(super) fn decode<T: de::DeserializeOwned>(text: &str) -> Option<(T, Spans)> {
    let mut events = Events {
        parser: Parser::new_from_str(text),
        spans: SpanBuilder::new(text),
        last: SpanNode::leaf(NO_PLACE),
        closed: false,
    };
    // One document, whose root is a mapping: anything else (an empty file, a scalar root)
    // is left to the builder, which knows what it means.
    events.expect(|event| matches!(event, Event::StreamStart))?;
    events.expect(|event| matches!(event, Event::DocumentStart(_)))?;
    let root_is_mapping = matches!(events.peek(), Ok((Event::MappingStart(..), _)));
    if !root_is_mapping {
        return None;
    }
    let value = T::deserialize(&mut events).ok()?;
    let root = events.last;
    events.expect(|event| matches!(event, Event::DocumentEnd))?;
    events.expect(|event| matches!(event, Event::StreamEnd))?;
    Some((value, events.spans.finish(root)))
}

/// Why the fast way gave up. What went wrong is not kept: the slow way says it precisely.
#[derive(Debug)]
pub(super) struct GiveUp;

impl std::fmt::Display for GiveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not on the fast path")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        GiveUp
    }
}

type Result<T> = std::result::Result<T, GiveUp>;

// The parser's events, as serde asks for nodes, and the spans of the nodes read so far.
struct Events<'t> {
    parser: Parser<'t, StrInput<'t>>,
    spans: SpanBuilder<'t>,
    // The span of the node read last, for its parent.
    last: SpanNode,
    // Whether the collection being read has seen its end (a visitor may stop early).
    closed: bool,
}

impl<'t> Events<'t> {
    fn next(&mut self) -> Result<(Event<'t>, Span)> {
        match self.parser.next_event() {
            Some(Ok(next)) => Ok(next),
            _ => Err(GiveUp),
        }
    }

    // The next event, left to be read. The parser does not keep an error it meets while
    // peeking: the next read goes on past it (an alias of an unknown anchor in a list would
    // vanish from the list). So an error gives up here, where it is met.
    fn peek(&mut self) -> Result<&(Event<'t>, Span)> {
        match self.parser.peek() {
            Some(Ok(next)) => Ok(next),
            _ => Err(GiveUp),
        }
    }

    fn expect(&mut self, wanted: impl Fn(&Event<'t>) -> bool) -> Option<()> {
        let (event, _) = self.next().ok()?;
        wanted(&event).then_some(())
    }

    // The next node's first event: a scalar's, or a collection's start (already opened in
    // the spans). Anchors, aliases, tags and nodes too deep give up.
    fn node(&mut self) -> Result<Node<'t>> {
        if self.spans.depth() > MAX_DEPTH {
            return Err(GiveUp);
        }
        let (event, span) = self.next()?;
        match event {
            Event::Scalar(text, style, 0, None) => {
                self.last = SpanNode::leaf(self.spans.place(&span));
                // Without a tag, every scalar can be read.
                match Scalar::parse_from_cow_and_metadata(text, style, None) {
                    Some(scalar) => Ok(Node::Scalar(scalar)),
                    None => Err(GiveUp),
                }
            }
            Event::MappingStart(0, None) => {
                self.spans.open(span.start, Kind::Mapping);
                Ok(Node::Mapping)
            }
            Event::SequenceStart(0, None) => {
                self.spans.open(span.start, Kind::Sequence);
                Ok(Node::Sequence)
            }
            _ => Err(GiveUp),
        }
    }

    // The innermost collection ends at `span`: its span becomes the last node's.
    fn close(&mut self, span: &Span) -> Result<()> {
        match self.spans.close(span.start) {
            Some((node, false)) => {
                self.last = node;
                self.closed = true;
                Ok(())
            }
            // Two equal keys: the builder reports them.
            _ => Err(GiveUp),
        }
    }

    fn scalar(&mut self) -> Result<Scalar<'t>> {
        match self.node()? {
            Node::Scalar(scalar) => Ok(scalar),
            Node::Mapping | Node::Sequence => Err(GiveUp),
        }
    }

    fn mapping<V: Visitor<'t>>(&mut self, visitor: V) -> Result<V::Value> {
        self.closed = false;
        let value = visitor.visit_map(Entries {
            events: self,
            key: None,
        })?;
        // A visitor that stops before the end would leave entries unread.
        if !std::mem::take(&mut self.closed) {
            return Err(GiveUp);
        }
        Ok(value)
    }

    fn sequence<V: Visitor<'t>>(&mut self, visitor: V) -> Result<V::Value> {
        self.closed = false;
        let value = visitor.visit_seq(Items { events: self })?;
        if !std::mem::take(&mut self.closed) {
            return Err(GiveUp);
        }
        Ok(value)
    }
}

// What a node starts with.
enum Node<'t> {
    Scalar(Scalar<'t>),
    Mapping,
    Sequence,
}

// A scalar handed to a visitor as the JSON value's deserializer hands the builder's value
// of it. A float that is not finite (which the builder keeps as text) gives up.
fn visit_scalar<'t, V: Visitor<'t>>(scalar: Scalar<'t>, visitor: V) -> Result<V::Value> {
    match scalar {
        Scalar::Null => visitor.visit_unit(),
        Scalar::Boolean(b) => visitor.visit_bool(b),
        Scalar::Integer(i) => match u64::try_from(i) {
            Ok(u) => visitor.visit_u64(u),
            Err(_) => visitor.visit_i64(i),
        },
        Scalar::FloatingPoint(f) if f.0.is_finite() => visitor.visit_f64(f.0),
        Scalar::FloatingPoint(_) => Err(GiveUp),
        Scalar::String(text) => visit_text(text, visitor),
    }
}

// Always by reference: the parser's own string of a plain scalar has room to spare (it
// grows as the scanner reads), which the policy would keep for its lifetime; the visitor's
// copy is the size of the text.
fn visit_text<'t, V: Visitor<'t>>(text: Cow<'t, str>, visitor: V) -> Result<V::Value> {
    match text {
        Cow::Borrowed(text) => visitor.visit_borrowed_str(text),
        Cow::Owned(text) => visitor.visit_str(&text),
    }
}

impl<'t> de::Deserializer<'t> for &mut Events<'t> {
    type Error = GiveUp;

    fn deserialize_any<V: Visitor<'t>>(self, visitor: V) -> Result<V::Value> {
        match self.node()? {
            Node::Scalar(scalar) => visit_scalar(scalar, visitor),
            Node::Mapping => self.mapping(visitor),
            Node::Sequence => self.sequence(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'t>>(self, visitor: V) -> Result<V::Value> {
        match self.scalar()? {
            Scalar::Boolean(b) => visitor.visit_bool(b),
            _ => Err(GiveUp),
        }
    }

    // Every number is read as the JSON value reads a number: the visitor decides whether
    // it fits (a `u32` refuses `-1`, `5.5` and `5000000000`).
    fn deserialize_f64<V: Visitor<'t>>(self, visitor: V) -> Result<V::Value> {
        match self.scalar()? {
            scalar @ (Scalar::Integer(_) | Scalar::FloatingPoint(_)) => {
                visit_scalar(scalar, visitor)
            }
            _ => Err(GiveUp),
        }
    }

    fn deserialize_str<V: Visitor<'t>>(self, visitor: V) -> Result<V::Value> {
        match self.scalar()? {
            Scalar::String(text) => visit_text(text, visitor),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_string<V: Visitor<'t>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'t>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'t>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    // `null` is `None` to the JSON value but never valid in a policy (the schema has no
    // `null`): give up on it rather than read it.
    fn deserialize_option<V: Visitor<'t>>(self, visitor: V) -> Result<V::Value> {
        if let (Event::Scalar(text, style, _, None), _) = self.peek()? {
            let scalar =
                Scalar::parse_from_cow_and_metadata(Cow::Borrowed(text.as_ref()), *style, None);
            if matches!(scalar, Some(Scalar::Null)) {
                return Err(GiveUp);
            }
        }
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'t>>(self, visitor: V) -> Result<V::Value> {
        match self.scalar()? {
            Scalar::Null => visitor.visit_unit(),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'t>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'t>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'t>>(self, visitor: V) -> Result<V::Value> {
        match self.node()? {
            Node::Sequence => self.sequence(visitor),
            Node::Scalar(_) | Node::Mapping => Err(GiveUp),
        }
    }

    fn deserialize_tuple<V: Visitor<'t>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'t>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'t>>(self, visitor: V) -> Result<V::Value> {
        match self.node()? {
            Node::Mapping => self.mapping(visitor),
            Node::Scalar(_) | Node::Sequence => Err(GiveUp),
        }
    }

    // Only from a mapping (the JSON value would also read a struct from a list of its
    // fields, which the schema refuses).
    fn deserialize_struct<V: Visitor<'t>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    // Only a unit variant, written as its name (the JSON value would also read
    // `{variant: value}`, which the schema refuses).
    fn deserialize_enum<V: Visitor<'t>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.scalar()? {
            Scalar::String(text) => visitor.visit_enum(StrDeserializer::new(text.as_ref())),
            _ => Err(GiveUp),
        }
    }

    // Nothing is read to be ignored in a policy (every struct denies unknown fields).
    fn deserialize_ignored_any<V: Visitor<'t>>(self, _visitor: V) -> Result<V::Value> {
        Err(GiveUp)
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'t>>
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 bytes byte_buf
    }
}

// The entries of a mapping being read: a key is its text as written.
struct Entries<'a, 't> {
    events: &'a mut Events<'t>,
    // The key read last, and its place, waiting for its value.
    key: Option<(Cow<'t, str>, Place)>,
}

impl<'t> de::MapAccess<'t> for Entries<'_, 't> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'t>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let events = &mut *self.events;
        if events.spans.depth() > MAX_DEPTH {
            return Err(GiveUp);
        }
        match events.next()? {
            (Event::MappingEnd, span) => {
                events.close(&span)?;
                Ok(None)
            }
            (Event::Scalar(text, _, 0, None), span) => {
                let place = events.spans.place(&span);
                let key = seed.deserialize(StrDeserializer::new(text.as_ref()))?;
                self.key = Some((text, place));
                Ok(Some(key))
            }
            _ => Err(GiveUp),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'t>>(&mut self, seed: V) -> Result<V::Value> {
        let (key, place) = self.key.take().ok_or(GiveUp)?;
        let value = seed.deserialize(&mut *self.events)?;
        let events = &mut *self.events;
        events.spans.entry(events.last, &key, place);
        Ok(value)
    }
}

// The items of a sequence being read.
struct Items<'a, 't> {
    events: &'a mut Events<'t>,
}

impl<'t> de::SeqAccess<'t> for Items<'_, 't> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'t>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let events = &mut *self.events;
        if let (Event::SequenceEnd, _) = events.peek()? {
            let (_, span) = events.next()?;
            events.close(&span)?;
            return Ok(None);
        }
        let value = seed.deserialize(&mut *events)?;
        events.spans.item(events.last);
        Ok(Some(value))
    }
}

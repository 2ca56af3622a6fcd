//! Canonical JSON (object keys sorted, no whitespace) written straight from `Serialize`,
//! without building a `serde_json::Value` first: on 100,000 users the tree cost a tenth
//! of `plan` and most of its peak memory.
//!
//! The text is byte-identical to `write_canonical(&serde_json::to_value(x))`: scalars are
//! written by serde_json itself, `None`, unit and non-finite floats are `null`, unit
//! variants are strings, other variants a one-key object. Each object is written in the
//! order its entries arrive, remembering where each entry lies; an object whose keys
//! did not arrive sorted (most structs) has its own region rewritten in key order when
//! it closes. What serde_json would turn into something else (non-string map keys,
//! integers beyond 64 bits, duplicate keys, serde_json's private tokens) is refused with
//! [`Unsupported`], and the caller falls back to the `Value` path.

use std::cmp::Ordering;
use std::fmt;

use serde::Serialize;
use serde::ser;
use std::io::Write as _;

/// The reason the value was not written; never seen with the types orgplan digests.
#[derive(Debug)]
pub struct Unsupported(String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

fn unsupported(what: &str) -> Unsupported {
    Unsupported(format!("{what} is not written canonically"))
}

/// One `"key":value` of an open object, as byte offsets into the text.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    /// End of the key's string literal (the `:` follows).
    key_end: usize,
    end: usize,
}

/// A reusable writer: the buffers grow to the largest value written and are kept.
#[derive(Debug, Default)]
pub struct Canonical {
    out: Vec<u8>,
    /// Entries of every object still open, innermost last.
    entries: Vec<Entry>,
    /// Where an unsorted object's region is copied while it is rewritten.
    scratch: Vec<u8>,
    /// A map key is being written: `to_value` refuses an `Option` there.
    in_key: bool,
}

impl Canonical {
    /// The canonical text of `value`, valid until the next call.
    pub fn write<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<&[u8], Unsupported> {
        self.out.clear();
        self.entries.clear();
        self.in_key = false;
        value.serialize(&mut *self)?;
        Ok(&self.out)
    }

    /// The text of the last [`Canonical::write`].
    pub fn text(&self) -> &[u8] {
        &self.out
    }

    fn string(&mut self, text: &str) -> Result<(), Unsupported> {
        // serde_json escapes control characters, `"` and `\\` only: most strings (emails,
        // names, enum variants) need none and are copied as they are. Every byte is
        // looked at (no early exit), which the compiler does many bytes at a time.
        let escaped = text.bytes().fold(false, |seen, b| {
            seen | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if !escaped {
            self.out.push(b'"');
            self.out.extend_from_slice(text.as_bytes());
            self.out.push(b'"');
            return Ok(());
        }
        serde_json::to_writer(&mut self.out, text).map_err(|e| Unsupported(e.to_string()))
    }

    fn float(&mut self, value: f64) -> Result<(), Unsupported> {
        // serde_json writes a non-finite float as `null`, as `to_value` makes it.
        serde_json::to_writer(&mut self.out, &value).map_err(|e| Unsupported(e.to_string()))
    }

    fn integer(&mut self, value: impl fmt::Display) {
        // Decimal with `-` for negatives, as serde_json writes integers.
        let _ = write!(self.out, "{value}");
    }

    /// `{"variant":` — the opening of an externally tagged variant with data.
    fn variant(&mut self, variant: &str) -> Result<(), Unsupported> {
        self.out.push(b'{');
        self.string(variant)?;
        self.out.push(b':');
        Ok(())
    }

    fn object(&mut self, variant: bool) -> Object<'_> {
        self.out.push(b'{');
        Object {
            first: self.entries.len(),
            sorted: true,
            variant,
            c: self,
        }
    }
}

/// JSON string literals ordered as the strings they stand for.
fn key_order(a: &[u8], b: &[u8]) -> Ordering {
    if a.contains(&b'\\') || b.contains(&b'\\') {
        // An escape: compare the decoded strings (never seen with orgplan's keys).
        let decode = |k: &[u8]| serde_json::from_slice::<String>(k).unwrap_or_default();
        return decode(a).cmp(&decode(b));
    }
    // Without escapes the text between the quotes is the string itself.
    let (a, b) = (&a[1..a.len() - 1], &b[1..b.len() - 1]);
    a.cmp(b)
}

impl<'a> ser::Serializer for &'a mut Canonical {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Unsupported> {
        self.serialize_i64(v.into())
    }

    fn serialize_i16(self, v: i16) -> Result<(), Unsupported> {
        self.serialize_i64(v.into())
    }

    fn serialize_i32(self, v: i32) -> Result<(), Unsupported> {
        self.serialize_i64(v.into())
    }

    fn serialize_i64(self, v: i64) -> Result<(), Unsupported> {
        self.integer(v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), Unsupported> {
        // `to_value` keeps what fits in 64 bits and fails on the rest.
        if let Ok(v) = u64::try_from(v) {
            self.serialize_u64(v)
        } else if let Ok(v) = i64::try_from(v) {
            self.serialize_i64(v)
        } else {
            Err(unsupported("an integer beyond 64 bits"))
        }
    }

    fn serialize_u8(self, v: u8) -> Result<(), Unsupported> {
        self.serialize_u64(v.into())
    }

    fn serialize_u16(self, v: u16) -> Result<(), Unsupported> {
        self.serialize_u64(v.into())
    }

    fn serialize_u32(self, v: u32) -> Result<(), Unsupported> {
        self.serialize_u64(v.into())
    }

    fn serialize_u64(self, v: u64) -> Result<(), Unsupported> {
        self.integer(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), Unsupported> {
        match u64::try_from(v) {
            Ok(v) => self.serialize_u64(v),
            Err(_) => Err(unsupported("an integer beyond 64 bits")),
        }
    }

    fn serialize_f32(self, v: f32) -> Result<(), Unsupported> {
        // `to_value` widens an f32 to f64 before it is written.
        self.float(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), Unsupported> {
        self.float(v)
    }

    fn serialize_char(self, v: char) -> Result<(), Unsupported> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        self.string(v)
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Unsupported> {
        // `to_value` makes bytes an array of numbers.
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for byte in v {
            ser::SerializeSeq::serialize_element(&mut seq, byte)?;
        }
        ser::SerializeSeq::end(seq)
    }

    fn serialize_none(self) -> Result<(), Unsupported> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        if self.in_key {
            return Err(unsupported("an optional map key"));
        }
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Unsupported> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.string(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        private(name)?;
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.variant(variant)?;
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>, Unsupported> {
        self.out.push(b'[');
        Ok(Array {
            c: self,
            first: true,
            variant: false,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Array<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Array<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'a>, Unsupported> {
        self.variant(variant)?;
        self.out.push(b'[');
        Ok(Array {
            c: self,
            first: true,
            variant: true,
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'a>, Unsupported> {
        Ok(self.object(false))
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Object<'a>, Unsupported> {
        private(name)?;
        Ok(self.object(false))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'a>, Unsupported> {
        self.variant(variant)?;
        Ok(self.object(true))
    }
}

// serde_json's own tokens (`RawValue`, arbitrary-precision numbers) mean something to its
// serializers only: leave them to the `Value` path.
fn private(name: &str) -> Result<(), Unsupported> {
    if name.starts_with("$serde_json::private::") {
        return Err(unsupported(name));
    }
    Ok(())
}

/// An array being written (`variant`: inside `{"variant":…}`).
pub struct Array<'a> {
    c: &'a mut Canonical,
    first: bool,
    variant: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        if !self.first {
            self.c.out.push(b',');
        }
        self.first = false;
        value.serialize(&mut *self.c)
    }

    fn close(self) -> Result<(), Unsupported> {
        self.c.out.push(b']');
        if self.variant {
            self.c.out.push(b'}');
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Array<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeTuple for Array<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Array<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeTupleVariant for Array<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.element(value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

/// An object being written: its entries are `c.entries[first..]`.
pub struct Object<'a> {
    c: &'a mut Canonical,
    first: usize,
    sorted: bool,
    variant: bool,
}

impl Object<'_> {
    /// Start an entry whose key literal was just written at `start..`.
    fn key_written(&mut self, start: usize) -> Result<(), Unsupported> {
        let c = &mut *self.c;
        let key_end = c.out.len();
        if c.out.get(start) != Some(&b'"') {
            // `to_value` turns number and bool keys into strings: not done here.
            return Err(unsupported("a map key that is not a string"));
        }
        if let Some(previous) = c.entries[self.first..].last()
            && key_order(
                &c.out[previous.start..previous.key_end],
                &c.out[start..key_end],
            ) != Ordering::Less
        {
            self.sorted = false;
        }
        c.out.push(b':');
        c.entries.push(Entry {
            start,
            key_end,
            end: key_end,
        });
        Ok(())
    }

    fn comma(&mut self) -> usize {
        if self.c.entries.len() > self.first {
            self.c.out.push(b',');
        }
        self.c.out.len()
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        value.serialize(&mut *self.c)?;
        // Objects inside the value have closed: this entry is the last one again.
        let end = self.c.out.len();
        if let Some(entry) = self.c.entries.last_mut() {
            entry.end = end;
        }
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        let start = self.comma();
        self.c.string(key)?;
        self.key_written(start)?;
        self.value(value)
    }

    fn close(self) -> Result<(), Unsupported> {
        let c = self.c;
        if !self.sorted {
            let Canonical {
                out,
                entries,
                scratch,
                ..
            } = c;
            let mine = &mut entries[self.first..];
            mine.sort_by(|a, b| key_order(&out[a.start..a.key_end], &out[b.start..b.key_end]));
            // Equal keys: `to_value` keeps the last value at the first place. Not done here.
            if mine.windows(2).any(|w| {
                key_order(
                    &out[w[0].start..w[0].key_end],
                    &out[w[1].start..w[1].key_end],
                ) == Ordering::Equal
            }) {
                return Err(unsupported("a duplicate key"));
            }
            // The entries lie one after the other with one comma between. Those that
            // keep their place at either end are not moved, so that sorting the whole
            // live state copies its groups and roles, not its 100,000 users.
            let mut lo = 0;
            let mut start = mine.iter().map(|e| e.start).min().unwrap_or(out.len());
            while lo < mine.len() && mine[lo].start == start {
                start = mine[lo].end + 1;
                lo += 1;
            }
            let mut hi = mine.len();
            let mut end = out.len();
            while hi > lo && mine[hi - 1].end == end {
                end = mine[hi - 1].start.saturating_sub(1);
                hi -= 1;
            }
            if lo < hi {
                scratch.clear();
                scratch.extend_from_slice(&out[start..end]);
                let mut at = start;
                for (i, entry) in mine[lo..hi].iter().enumerate() {
                    if i > 0 {
                        out[at] = b',';
                        at += 1;
                    }
                    let text = &scratch[entry.start - start..entry.end - start];
                    out[at..at + text.len()].copy_from_slice(text);
                    at += text.len();
                }
            }
        }
        c.entries.truncate(self.first);
        c.out.push(b'}');
        if self.variant {
            c.out.push(b'}');
        }
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        let start = self.comma();
        self.c.in_key = true;
        key.serialize(&mut *self.c)?;
        self.c.in_key = false;
        self.key_written(start)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.value(value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), Unsupported> {
        self.close()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;
    use crate::live::{self, LiveState};

    /// The text every digest hashed before this writer: a `Value`, then sorted keys.
    fn old<T: Serialize>(value: &T) -> Vec<u8> {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        let mut text = Vec::new();
        super::super::digest::write_canonical(&value, &mut text).unwrap_or_else(|e| panic!("{e}"));
        text
    }

    fn same<T: Serialize>(canon: &mut Canonical, value: &T) {
        let new = canon
            .write(value)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_vec();
        let old = old(value);
        assert!(
            new == old,
            "\nnew: {}\nold: {}",
            String::from_utf8_lossy(&new),
            String::from_utf8_lossy(&old)
        );
    }

    /// The state, its entities one by one (as `live_index` digests them), and the state
    /// normalized; and the live digest and index as `plan` makes them in one pass.
    fn same_live(canon: &mut Canonical, state: &LiveState) {
        for state in [state.clone(), state.clone().normalized()] {
            same(canon, &state);
            same(canon, &state.org);
            state.roles.values().for_each(|r| same(canon, r));
            state.groups.values().for_each(|g| same(canon, g));
            state.users.values().for_each(|u| same(canon, u));
            let mut index = Vec::new();
            let digest = super::super::live_digest(&state, Some(&mut index));
            assert_eq!(digest, old_digest(&state));
            assert_eq!(digest, super::super::live_digest(&state, None));
            assert_eq!(digest, super::super::digest(&state));
            assert_eq!(
                index.into_iter().collect::<BTreeMap<_, _>>(),
                old_index(&state)
            );
            assert_eq!(super::super::live_index(&state), old_index(&state));
        }
    }

    fn old_digest<T: Serialize>(value: &T) -> String {
        super::super::digest::hex(&<sha2::Sha256 as sha2::Digest>::digest(old(value)))
    }

    /// `live_index` as it was: each entity digested alone through a `Value`.
    fn old_index(state: &LiveState) -> BTreeMap<String, String> {
        let short = |hex: String| hex[..16].to_owned();
        let mut index = BTreeMap::new();
        if let Some(org) = &state.org {
            index.insert("org".to_owned(), short(old_digest(org)));
        }
        for (name, role) in &state.roles {
            index.insert(format!("roles/{name}"), short(old_digest(role)));
        }
        for (name, group) in &state.groups {
            index.insert(format!("groups/{name}"), short(old_digest(group)));
        }
        for (email, user) in &state.users {
            index.insert(format!("users/{email}"), short(old_digest(user)));
        }
        index
    }

    #[test]
    fn an_empty_live_state_is_digested_as_before() {
        let state = LiveState::default();
        let mut index = Vec::new();
        assert_eq!(
            super::super::live_digest(&state, Some(&mut index)),
            old_digest(&state)
        );
        assert!(index.is_empty());
    }

    fn live_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                live_files(&path, out);
            } else if path.file_name().is_some_and(|n| n == "live.json") {
                out.push(path);
            }
        }
    }

    #[test]
    fn fixture_live_states_and_policies_are_written_as_before() {
        let mut files = Vec::new();
        live_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
            &mut files,
        );
        assert!(files.len() >= 5, "{files:?}");
        let canon = &mut Canonical::default();
        for file in files {
            let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{e}"));
            let state: LiveState =
                serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{file:?}: {e}"));
            same_live(canon, &state);
            // The policy next to it, when there is one.
            let dir = file.parent().unwrap_or(Path::new("."));
            if let Ok(loaded) = crate::load::load_dir(dir)
                && let Some(policy) = crate::validate::check(loaded).policy
            {
                same_live(canon, &live::project(&policy));
            }
        }
    }

    #[test]
    fn a_synthetic_org_is_written_as_before() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        crate::synth::generate(2000, 1, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(dir.path().join("live.json")).unwrap_or_else(|e| panic!("{e}"));
        let state: LiveState = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert!(state.users.len() >= 1000);
        let canon = &mut Canonical::default();
        same_live(canon, &state);
        let loaded = crate::load::load_dir(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let policy = crate::validate::check(loaded)
            .policy
            .unwrap_or_else(|| panic!("invalid synthetic policy"));
        same_live(canon, &live::project(&policy));
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(Option<u8>),
        Tuple(i8, f32),
        Struct { z: (), a: Vec<u8> },
    }

    #[derive(Serialize)]
    struct Odd<'a> {
        #[serde(with = "serde_bytes_like")]
        bytes: &'a [u8],
        shapes: Vec<Shape>,
        floats: [f64; 5],
        wide: (i128, u128),
        ch: char,
        escaped: BTreeMap<String, bool>,
        #[serde(flatten)]
        rest: BTreeMap<&'a str, i64>,
    }

    mod serde_bytes_like {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[test]
    fn every_serde_shape_is_written_as_before() {
        let odd = Odd {
            bytes: b"\x00\xff",
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(None),
                Shape::Newtype(Some(3)),
                Shape::Tuple(-1, 0.1),
                Shape::Struct {
                    z: (),
                    a: vec![1, 2],
                },
            ],
            floats: [1.0, -0.0, 1e300, f64::NAN, f64::INFINITY],
            wide: (-5, 7),
            ch: '"',
            escaped: [
                ("é", true),
                ("\"q", false),
                ("a\u{1}", true),
                ("\\", false),
                ("", true),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            rest: [("b", 1), ("a", -2), ("zz", 3)].into_iter().collect(),
        };
        same(&mut Canonical::default(), &odd);
    }

    #[test]
    fn what_to_value_would_change_falls_back() {
        let canon = &mut Canonical::default();
        // Number, bool and optional keys; integers beyond 64 bits; serde_json's tokens.
        assert!(canon.write(&BTreeMap::from([(1, 2)])).is_err());
        assert!(canon.write(&BTreeMap::from([(true, 2)])).is_err());
        assert!(canon.write(&BTreeMap::from([(Some("a"), 2)])).is_err());
        assert!(canon.write(&u128::MAX).is_err());
        #[derive(Serialize)]
        #[serde(rename = "$serde_json::private::RawValue")]
        struct Raw {
            text: u8,
        }
        assert!(canon.write(&Raw { text: 1 }).is_err());
        // And the digest is still that of the `Value` path.
        for value in [
            super::super::digest(&BTreeMap::from([(1, 2)])),
            super::super::digest(&u128::MAX),
        ] {
            assert_eq!(value.len(), 64);
        }
        let map = BTreeMap::from([(1, "x")]);
        assert_eq!(super::super::digest(&map), old_digest(&map));
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<f32>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::from),
            "[\"\\\\\u{0}-\u{1f} a-c\u{7f}é]{0,6}".prop_map(Value::from),
        ];
        let key = prop_oneof![".{0,6}", "[\"\\\\\u{0}-\u{1f} !#a-c\u{7f}é]{0,4}"];
        leaf.prop_recursive(4, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                // Entries in arbitrary order: the map keeps the order they come in.
                proptest::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn arbitrary_json_is_written_as_before(value in json()) {
            same(&mut Canonical::default(), &value);
        }
    }
}

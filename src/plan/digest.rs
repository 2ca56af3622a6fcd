//! Digests: of the live state (with a short digest per entity, the `live_index`), of the
//! state the policy asks for, and of any value (a plan), all over canonical JSON.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::live::{LiveGroup, LiveState, LiveStatus, LiveUser, Members};
use crate::model::{Limits, OrgRole, Seat, User};

use super::canonical::Canonical;

/// A short digest (16 hex digits) of each entity of `live`, keyed `org`, `roles/<name>`,
/// `groups/<name>`, `users/<email>`: enough to name what changed between two states.
pub fn live_index(live: &LiveState) -> BTreeMap<String, String> {
    let mut index = Vec::new();
    live_digest(live, Some(&mut index));
    index.into_iter().collect()
}

/// `digest(live)` with no text of the whole state held (17 MB on 100,000 users, at the
/// peak of `plan`), and with `index`, the entries of [`live_index`] from the same
/// writing of each entity. The canonical text of a state is its fields sorted, `org`
/// absent when `None`: `{"format_version":1,"groups":{…},"org":{…},"roles":{…},
/// "users":{…}}`, the maps' keys sorted already (`BTreeMap<String, _>`), each entity's
/// text the same as alone. Tests check both against `digest` and the `Value` path.
pub(crate) fn live_digest(live: &LiveState, index: Option<&mut Vec<(String, String)>>) -> String {
    let users = live.users.iter().map(|(email, user)| (email, Sorted(user)));
    state_digest(live, None, users, index)
}

/// [`live_digest`] of `state` with `users` in place of its own (the policy's users,
/// projected one at a time), and with `members`, when given, in place of its groups' own
/// (the projection's, borrowed: [`crate::live::project_settings_apart`]). `users` must be
/// sorted by email, as a `BTreeMap` is.
pub(super) fn state_digest<'k>(
    state: &LiveState,
    members: Option<&Members<'_>>,
    users: impl Iterator<Item = (&'k String, impl Serialize)>,
    mut index: Option<&mut Vec<(String, String)>>,
) -> String {
    // Destructured so that a new field of the live state cannot be left out here.
    let LiveState {
        format_version,
        org,
        roles,
        groups,
        users: _,
    } = state;
    let canon = &mut Canonical::default();
    let mut whole = Sha256::new();
    whole.update(format!("{{\"format_version\":{format_version}"));
    match members {
        None => section(
            canon,
            &mut whole,
            index.as_deref_mut(),
            "groups",
            groups.iter(),
        ),
        Some(members) => {
            let groups = groups.iter().map(|(name, group)| {
                let members = members.get(name.as_str()).map_or(&[][..], Vec::as_slice);
                (name, WithMembers { group, members })
            });
            section(canon, &mut whole, index.as_deref_mut(), "groups", groups);
        }
    }
    if let Some(org) = org {
        let text = canonical_text(canon, org);
        whole.update(b",\"org\":");
        whole.update(&text);
        if let Some(index) = index.as_deref_mut() {
            index.push(("org".to_owned(), short(&text)));
        }
    }
    section(
        canon,
        &mut whole,
        index.as_deref_mut(),
        "roles",
        roles.iter(),
    );
    section(canon, &mut whole, index, "users", users);
    whole.update(b"}");
    hex(&whole.finalize())
}

/// A group written as a [`LiveGroup`] with `members` in place of its own: the same
/// fields, skipped alike, so the same canonical text.
struct WithMembers<'a> {
    group: &'a LiveGroup,
    members: &'a [&'a str],
}

impl Serialize for WithMembers<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        // Destructured so that a new field of a group cannot be left out here.
        let LiveGroup {
            id,
            description,
            roles,
            members: _,
            limits,
        } = self.group;
        // In key order: the canonical writer then has nothing to reorder.
        let mut out = serializer.serialize_struct("LiveGroup", 5)?;
        if description.is_some() {
            out.serialize_field("description", description)?;
        }
        if id.is_some() {
            out.serialize_field("id", id)?;
        }
        if !limits.is_empty() {
            out.serialize_field("limits", limits)?;
        }
        out.serialize_field("members", self.members)?;
        out.serialize_field("roles", roles)?;
        out.end()
    }
}

/// A user written as a [`LiveUser`] is (the same fields, skipped alike), its fields in
/// key order: the canonical writer then copies each user's text once instead of writing
/// it in declaration order and rewriting it sorted (200,000 users a plan on 100,000).
pub(super) struct Sorted<'a>(pub(super) &'a LiveUser);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Destructured so that a new field of a user cannot be left out here.
        let LiveUser {
            id,
            name,
            role,
            seat,
            status,
            limits,
        } = self.0;
        write_user(serializer, id, limits, name, *role, *seat, *status)
    }
}

/// A declared user written as its projection ([`crate::live::project_user`]) is, without
/// the copy of its name and limits that projecting makes.
pub(super) struct Projected<'a>(pub(super) &'a User);

impl Serialize for Projected<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let User {
            name,
            role,
            seat,
            status,
            limits,
            ..
        } = self.0;
        let status = LiveStatus::from(*status);
        write_user(serializer, &None, limits, name, *role, *seat, status)
    }
}

// The fields of a `LiveUser`, in key order, skipped as its `Serialize` skips them.
fn write_user<S: serde::Serializer>(
    serializer: S,
    id: &Option<String>,
    limits: &Limits,
    name: &Option<String>,
    role: OrgRole,
    seat: Seat,
    status: LiveStatus,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut out = serializer.serialize_struct("LiveUser", 6)?;
    if id.is_some() {
        out.serialize_field("id", id)?;
    }
    if !limits.is_empty() {
        out.serialize_field("limits", limits)?;
    }
    if name.is_some() {
        out.serialize_field("name", name)?;
    }
    out.serialize_field("role", &role)?;
    out.serialize_field("seat", &seat)?;
    out.serialize_field("status", &status)?;
    out.end()
}

// `,"name":{…}` into the whole digest, and each entity's short digest into the index:
// the sections come in key order and each is sorted, so the index is too.
fn section<'k>(
    canon: &mut Canonical,
    whole: &mut Sha256,
    mut index: Option<&mut Vec<(String, String)>>,
    name: &str,
    entities: impl Iterator<Item = (&'k String, impl Serialize)>,
) {
    whole.update(format!(",\"{name}\":{{"));
    for (i, (key, entity)) in entities.enumerate() {
        if i > 0 {
            whole.update(b",");
        }
        whole.update(canonical_text(canon, key));
        whole.update(b":");
        let text = canonical_text(canon, &entity);
        whole.update(&text);
        if let Some(index) = index.as_deref_mut() {
            index.push((format!("{name}/{key}"), short(&text)));
        }
    }
    whole.update(b"}");
}

// The first 16 hex digits of the sha256 of `text`.
fn short(text: &[u8]) -> String {
    hex(&Sha256::digest(text)[..8])
}
/// sha256 hex of the canonical JSON of `value`.
pub fn digest<T: Serialize>(value: &T) -> String {
    hex(&Sha256::digest(canonical_text(
        &mut Canonical::default(),
        value,
    )))
}

// The canonical JSON of `value`, written with `canon`'s reused buffers. What the direct
// writer does not handle exactly goes through a `Value`, as every digest did before it.
fn canonical_text<'c, T: Serialize>(canon: &'c mut Canonical, value: &T) -> Cow<'c, [u8]> {
    if canon.write(value).is_ok() {
        return Cow::Borrowed(canon.text());
    }
    let value = serde_json::to_value(value).unwrap_or(Value::Null);
    let mut text = Vec::new();
    let _ = write_canonical(&value, &mut text);
    Cow::Owned(text)
}

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// Canonical JSON: keys sorted, no whitespace.
pub fn canonical(value: &Value, out: &mut String) {
    let mut bytes = Vec::new();
    let _ = write_canonical(value, &mut bytes);
    out.push_str(&String::from_utf8_lossy(&bytes));
}

// The canonical form written to any sink (a hasher, a buffer): keys sorted, no whitespace,
// strings and numbers as serde_json writes them.
pub(super) fn write_canonical(value: &Value, out: &mut impl io::Write) -> io::Result<()> {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.write_all(b"{")?;
            for (i, (key, child)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, key)?;
                out.write_all(b":")?;
                write_canonical(child, out)?;
            }
            out.write_all(b"}")
        }
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (i, child) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_canonical(child, out)?;
            }
            out.write_all(b"]")
        }
        scalar => serde_json::to_writer(&mut *out, scalar).map_err(io::Error::other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_ignore_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [1, {"d": 2, "c": 3}]}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut text = String::new();
        canonical(&a, &mut text);
        assert_eq!(text, r#"{"a":[1,{"c":3,"d":2}],"b":1}"#);
        assert_eq!(digest(&a).len(), 64);
    }
}

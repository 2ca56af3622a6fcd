//! The checked policy: every file merged, where each entity was declared, each user's
//! groups, and the identity of an email address.

use std::collections::BTreeMap;

use super::{Group, Org, Role, User};

/// The section of the policy an entity is declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// `org`.
    Org,
    /// `roles`.
    Roles,
    /// `groups`.
    Groups,
    /// `users`.
    Users,
}

impl Section {
    /// The key in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Org => "org",
            Section::Roles => "roles",
            Section::Groups => "groups",
            Section::Users => "users",
        }
    }
}

/// A checked policy: every file merged, emails lowercased, references resolved.
/// Built only by [`crate::validate`]; keeps where every entity was declared.
#[derive(Debug)]
pub struct Policy {
    /// Organization settings.
    pub org: Org,
    /// Custom roles by name.
    pub roles: BTreeMap<String, Role>,
    /// Groups by name.
    pub groups: BTreeMap<String, Group>,
    /// Users by lowercased email.
    pub users: BTreeMap<String, User>,
    /// Groups of each user: the user's own `groups` merged with the groups that list
    /// the user in `members`, sorted, each once. Every user has an entry. (Sorted vectors,
    /// not sets: a set's first node is ten times the size of one or two names.)
    pub memberships: BTreeMap<String, Vec<String>>,
    /// Where each entity was declared.
    pub origins: Origins,
}

/// Where each entity of a [`Policy`] was declared, for `file:line` provenance.
#[derive(Debug, Default)]
pub struct Origins {
    /// The parsed documents (their JSON values dropped once decoded).
    pub documents: Vec<crate::load::Document>,
    /// Where each entity is declared.
    pub declared: Declared,
}

/// Where each entity is declared: per section, key as normalized -> (document index, key
/// as written when it differs). Looked up by `&str`, with no key built per lookup, and
/// the written key kept only when it differs (a mixed-case email), not once per user.
#[derive(Debug, Default, Clone)]
pub struct Declared {
    // Boxed strings: 40 bytes an entry instead of 56, one entry per user of a large org,
    // alive from validation to the end of a plan.
    sections: [foldhash::HashMap<Box<str>, Declaration>; 4],
}

// The document's index, and the key as written when it differs from the normalized one.
type Declaration = (usize, Option<Box<str>>);

impl Declared {
    /// Record that `normalized` (written `written`) is declared in document `doc`.
    pub fn insert(&mut self, section: Section, normalized: String, doc: usize, written: &str) {
        let written = (written != normalized).then(|| written.into());
        self.sections[section as usize].insert(normalized.into_boxed_str(), (doc, written));
    }

    /// Make room for `additional` more declarations in `section` at once (no table
    /// rebuilt, and two alive, as a large org's users are declared).
    pub fn reserve(&mut self, section: Section, additional: usize) {
        self.sections[section as usize].reserve(additional);
    }

    /// The document declaring `normalized` and the key as written there.
    pub fn get<'a>(&'a self, section: Section, normalized: &'a str) -> Option<(usize, &'a str)> {
        let (doc, written) = self.sections[section as usize].get(normalized)?;
        Some((*doc, written.as_deref().unwrap_or(normalized)))
    }
}

impl Origins {
    fn pointer_of(&self, section: Section, name: &str, path: &[&str]) -> Option<(usize, String)> {
        let (doc, key) = self.declared.get(section, name)?;
        // Escape only what needs it: most keys have no `~` or `/`.
        let push = |pointer: &mut String, segment: &str| {
            pointer.push('/');
            if segment.contains(['~', '/']) {
                pointer.push_str(&crate::load::escape_segment(segment));
            } else {
                pointer.push_str(segment);
            }
        };
        let mut pointer = String::with_capacity(64);
        push(&mut pointer, section.as_str());
        if section != Section::Org {
            push(&mut pointer, key);
        }
        for segment in path {
            push(&mut pointer, segment);
        }
        Some((doc, pointer))
    }

    /// Place of the value at `path` inside an entity (or its nearest declared ancestor).
    pub fn locate(
        &self,
        section: Section,
        name: &str,
        path: &[&str],
    ) -> Option<crate::diag::Location> {
        let (doc, pointer) = self.pointer_of(section, name, path)?;
        self.documents.get(doc)?.locate(&pointer)
    }

    /// Place of the key at `path` inside an entity (the entity's own key when `path` is
    /// empty).
    pub fn locate_key(
        &self,
        section: Section,
        name: &str,
        path: &[&str],
    ) -> Option<crate::diag::Location> {
        let (doc, pointer) = self.pointer_of(section, name, path)?;
        self.documents.get(doc)?.locate_key(&pointer)
    }

    /// `file:line` of the value at `path` inside an entity.
    pub fn source(&self, section: Section, name: &str, path: &[&str]) -> Option<String> {
        self.locate(section, name, path).map(|l| l.file_line())
    }
}

/// Each user's groups: the user's own `groups` merged with the groups that list the user
/// in `members`. Only defined users and groups count; references to others are reported
/// by validation.
pub type Memberships = BTreeMap<String, Vec<String>>;

/// Build [`Memberships`] from users keyed by lowercased email and groups by name.
///
/// Users and groups are looked up by position (hash lookups, not tree walks comparing
/// long emails), and each set is built from sorted input in one go.
fn memberships(users: &BTreeMap<String, User>, groups: &BTreeMap<String, Group>) -> Memberships {
    use foldhash::HashMap;
    let group_at: HashMap<&str, usize> = groups
        .keys()
        .enumerate()
        .map(|(at, name)| (name.as_str(), at))
        .collect();
    let user_at: HashMap<&str, usize> = users
        .keys()
        .enumerate()
        .map(|(at, email)| (email.as_str(), at))
        .collect();
    // Group positions of each user: the user's own `groups`, then the groups listing them.
    let mut of_user: Vec<Vec<usize>> = users
        .values()
        .map(|user| {
            let defined = user.groups.iter();
            defined
                .filter_map(|g| group_at.get(g.as_str()).copied())
                .collect()
        })
        .collect();
    for (at, group) in groups.values().enumerate() {
        for member in &group.members {
            let email = email_key(member);
            if let Some(&user) = user_at.get(email.as_ref()) {
                of_user[user].push(at);
            }
        }
    }
    // The lookup tables are freed, and each user's positions as its names are made, before
    // the map is built: this runs at validation's peak of memory.
    drop((group_at, user_at));
    let group_names: Vec<&String> = groups.keys().collect();
    let by_user: Vec<(String, Vec<String>)> = users
        .keys()
        .zip(of_user)
        .map(|(email, mut positions)| {
            positions.sort_unstable();
            positions.dedup();
            let names = positions.iter().map(|&at| group_names[at].clone());
            (email.clone(), names.collect())
        })
        .collect();
    by_user.into_iter().collect()
}

/// The identity of an email address: Unicode NFC, then lowercase, so that two spellings of
/// one address (a composed `é` and an `e` with a combining accent, `Bob@` and `bob@`) are one
/// user. Every boundary where an email enters (policy, live state from every provider,
/// saved plans, usage and test files) compares through this. Borrowed when it changes
/// nothing (most emails are lowercase ASCII, seen without a copy).
pub fn email_key(text: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
    if text.is_ascii() {
        if !text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Borrowed(text);
        }
        return Cow::Owned(text.to_ascii_lowercase());
    }
    let composed: Cow<'_, str> = match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => Cow::Borrowed(text),
        _ => Cow::Owned(text.nfc().collect()),
    };
    let lower = composed.to_lowercase();
    // Lowercasing can decompose nothing but may leave a non-NFC sequence in rare scripts;
    // normalize once more so the key is stable.
    let lower: String = match is_nfc_quick(lower.chars()) {
        IsNormalized::Yes => lower,
        _ => lower.nfc().collect(),
    };
    if lower == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(lower)
    }
}

impl Policy {
    /// A policy from its parts (users keyed by lowercased email), with the memberships
    /// derived here, once, for every way a policy is built.
    pub fn new(
        org: Org,
        roles: BTreeMap<String, Role>,
        groups: BTreeMap<String, Group>,
        users: BTreeMap<String, User>,
        origins: Origins,
    ) -> Self {
        let memberships = memberships(&users, &groups);
        Policy {
            org,
            roles,
            groups,
            users,
            memberships,
            origins,
        }
    }

    /// Custom roles held by `email`: the union of the roles of the user's groups.
    pub fn roles_of(&self, email: &str) -> std::collections::BTreeSet<&str> {
        self.memberships
            .get(email)
            .into_iter()
            .flatten()
            .filter_map(|group| self.groups.get(group))
            .flat_map(|group| group.roles.iter().map(String::as_str))
            .filter(|role| self.roles.contains_key(*role))
            .collect()
    }

    /// The members of every defined group (each has an entry), sorted by email: one pass
    /// over the users, borrowed, for the rare reader (the projection, an empty-group
    /// check) rather than a second copy of every membership kept in the policy.
    pub fn members_by_group(&self) -> BTreeMap<&str, Vec<&str>> {
        // Groups are found by position through a hash, not by walking a tree of names
        // (a dozen string compares for each of a large org's memberships); the map is
        // built at the end from names already in order.
        let at: foldhash::HashMap<&str, usize> = self
            .groups
            .keys()
            .enumerate()
            .map(|(at, name)| (name.as_str(), at))
            .collect();
        let mut lists: Vec<Vec<&str>> = vec![Vec::new(); self.groups.len()];
        for (email, groups) in &self.memberships {
            for group in groups {
                if let Some(&at) = at.get(group.as_str()) {
                    lists[at].push(email);
                }
            }
        }
        self.groups.keys().map(String::as_str).zip(lists).collect()
    }
}

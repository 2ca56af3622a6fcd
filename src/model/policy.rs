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
    /// Groups of each user, read through [`Policy::groups_of`] and
    /// [`Policy::users_with_groups`].
    pub memberships: Memberships,
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

    /// [`Declared::insert`] unless `normalized` is declared already in `section`: then
    /// nothing changes and the first declaration is returned (document, key as written).
    /// One search for both, as every entity of a policy is declared.
    pub fn insert_first<'a>(
        &'a mut self,
        section: Section,
        normalized: &'a str,
        doc: usize,
        written: &str,
    ) -> Option<(usize, &'a str)> {
        use std::collections::hash_map::Entry;
        match self.sections[section as usize].entry(normalized.into()) {
            Entry::Occupied(first) => {
                let (doc, written) = first.into_mut();
                Some((*doc, written.as_deref().unwrap_or(normalized)))
            }
            Entry::Vacant(entry) => {
                entry.insert((doc, (written != normalized).then(|| written.into())));
                None
            }
        }
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
/// in `members`, sorted, each once. Only defined users and groups count; references to
/// others are reported by validation.
///
/// Kept as the exceptions only: most users' groups are their own `groups` as declared
/// (every one defined, in order, none twice, no group listing them), read from the user
/// itself. Only the others have a list here. A copy of every user's email and groups would
/// be a large org's largest table after the users themselves.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Memberships {
    // The users whose groups are not their own `groups` as declared, by lowercased email.
    differ: BTreeMap<String, Vec<String>>,
}

impl Memberships {
    /// The groups of `user`, declared under the lowercased `email`.
    pub fn of<'a>(&'a self, email: &str, user: &'a User) -> &'a [String] {
        match self.differ.get(email) {
            Some(groups) => groups,
            None => &user.groups,
        }
    }
}

/// Build [`Memberships`] from users keyed by lowercased email and groups by name.
///
/// Users and groups are looked up by position (hash lookups, not tree walks comparing
/// long emails), each user's groups gathered in one pass over the users (no list kept
/// per user on the way), and the map built from sorted input in one go.
fn memberships(users: &BTreeMap<String, User>, groups: &BTreeMap<String, Group>) -> Memberships {
    use foldhash::HashMap;
    let group_at: HashMap<&str, usize> = groups
        .keys()
        .enumerate()
        .map(|(at, name)| (name.as_str(), at))
        .collect();
    // Who the groups list in `members`: (user's position, group's position), sorted. The
    // users' table is made only when some group lists members, and freed before the map
    // is built (this runs at validation's peak of memory).
    let mut listed: Vec<(usize, usize)> = Vec::new();
    if groups.values().any(|group| !group.members.is_empty()) {
        let user_at: HashMap<&str, usize> = users
            .keys()
            .enumerate()
            .map(|(at, email)| (email.as_str(), at))
            .collect();
        for (at, group) in groups.values().enumerate() {
            for member in &group.members {
                if let Some(&user) = user_at.get(email_key(member).as_ref()) {
                    listed.push((user, at));
                }
            }
        }
    }
    listed.sort_unstable();
    let mut listed = listed.into_iter().peekable();
    let group_names: Vec<&String> = groups.keys().collect();
    // Group positions of one user: the user's own `groups`, then the groups listing them.
    let mut positions: Vec<usize> = Vec::new();
    let mut differ: Vec<(String, Vec<String>)> = Vec::new();
    for (at, (email, user)) in users.iter().enumerate() {
        positions.clear();
        let defined = user.groups.iter();
        positions.extend(defined.filter_map(|g| group_at.get(g.as_str()).copied()));
        // As declared: every group defined, and in strictly rising order (so none twice).
        let as_declared = positions.len() == user.groups.len()
            && positions.windows(2).all(|pair| pair[0] < pair[1]);
        let before = positions.len();
        while let Some((_, group)) = listed.next_if(|(user, _)| *user == at) {
            positions.push(group);
        }
        positions.sort_unstable();
        positions.dedup();
        // A group that lists a user who declares it too adds nothing.
        if as_declared && positions.len() == before {
            continue;
        }
        let names = positions.iter().map(|&at| group_names[at].clone());
        differ.push((email.clone(), names.collect()));
    }
    Memberships {
        differ: differ.into_iter().collect(),
    }
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

    /// The [`Policy::memberships`] of the policy's users and groups, derived anew: for the
    /// validation, which builds a policy without them and derives them on another core
    /// while the rules that do not read them run.
    pub fn derive_memberships(&self) -> Memberships {
        memberships(&self.users, &self.groups)
    }

    /// The groups of the user `email` (lowercased), sorted, each once; none for a user
    /// not declared.
    pub fn groups_of(&self, email: &str) -> &[String] {
        match self.users.get(email) {
            Some(user) => self.memberships.of(email, user),
            None => &[],
        }
    }

    /// Every user (by lowercased email) with the user's groups, in email order: the users
    /// and the memberships' exceptions walked side by side, not one search per user.
    pub fn users_with_groups(&self) -> impl Iterator<Item = (&String, &User, &[String])> {
        let mut differ = self.memberships.differ.iter().peekable();
        self.users.iter().map(move |(email, user)| {
            // Skip what no user has (a policy built by hand may hold such entries).
            while differ.next_if(|(key, _)| *key < email).is_some() {}
            let groups = match differ.next_if(|(key, _)| *key == email) {
                Some((_, groups)) => groups,
                None => &user.groups,
            };
            (email, user, groups.as_slice())
        })
    }

    /// Custom roles held by `email`: the union of the roles of the user's groups.
    pub fn roles_of(&self, email: &str) -> std::collections::BTreeSet<&str> {
        self.groups_of(email)
            .iter()
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
        for (email, _, groups) in self.users_with_groups() {
            for group in groups {
                if let Some(&at) = at.get(group.as_str()) {
                    lists[at].push(email);
                }
            }
        }
        self.groups.keys().map(String::as_str).zip(lists).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The walk side by side matches each user with the user's own entry, past entries of
    // no user, and gives a user without an entry the user's own `groups`.
    #[test]
    fn users_with_groups_match_each_user_to_their_own_entry() {
        let org = serde_json::from_value(serde_json::json!({"name": "Acme", "plan": "team"}));
        let user = User::default();
        let users: BTreeMap<String, User> = [("a@x.io", &user), ("c@x.io", &user)]
            .into_iter()
            .map(|(email, user)| (email.to_owned(), user.clone()))
            .collect();
        let mut policy = Policy::new(
            org.unwrap(),
            BTreeMap::new(),
            BTreeMap::new(),
            users,
            Origins::default(),
        );
        assert_eq!(policy.memberships, Memberships::default());
        policy.memberships.differ = [("a@x.io", "g"), ("b@x.io", "h"), ("d@x.io", "k")]
            .into_iter()
            .map(|(email, group)| (email.to_owned(), vec![group.to_owned()]))
            .collect();
        let walked: Vec<(&str, Vec<String>)> = policy
            .users_with_groups()
            .map(|(email, _, groups)| (email.as_str(), groups.to_vec()))
            .collect();
        assert_eq!(
            walked,
            [("a@x.io", vec!["g".to_owned()]), ("c@x.io", Vec::new())]
        );
    }

    // Each user's groups are the defined groups the user declares or that list the user,
    // sorted, each once, whether kept as an exception or read from the user: every way a
    // declared list can differ from that is tried.
    #[test]
    fn a_users_groups_are_their_own_and_those_that_list_them_sorted_each_once() {
        let policy: serde_json::Value = serde_json::json!({
            "org": {"name": "Acme", "plan": "team"},
            "groups": {
                "a": {"members": ["listed@x.io", "both@x.io", "nobody@x.io"]},
                "b": {},
                "c": {},
            },
            "users": {
                "plain@x.io": {"groups": ["a", "c"]},
                "none@x.io": {},
                "unsorted@x.io": {"groups": ["c", "a"]},
                "twice@x.io": {"groups": ["b", "b"]},
                "undefined@x.io": {"groups": ["b", "zz"]},
                "listed@x.io": {"groups": ["b"]},
                "both@x.io": {"groups": ["a"]},
            },
        });
        let file: super::super::PolicyFile = serde_json::from_value(policy).unwrap();
        let users = file.users.into_iter().collect();
        let policy = Policy::new(
            file.org.unwrap(),
            BTreeMap::new(),
            file.groups,
            users,
            Origins::default(),
        );
        let groups = |email: &str| policy.groups_of(email).join(",");
        let expected = [
            ("both@x.io", "a"),
            ("listed@x.io", "a,b"),
            ("none@x.io", ""),
            ("plain@x.io", "a,c"),
            ("twice@x.io", "b"),
            ("undefined@x.io", "b"),
            ("unsorted@x.io", "a,c"),
        ];
        for (email, expected) in expected {
            assert_eq!(groups(email), expected, "{email}");
        }
        assert_eq!(groups("nobody@x.io"), "");
        let walked: Vec<(&str, String)> = policy
            .users_with_groups()
            .map(|(email, _, groups)| (email.as_str(), groups.join(",")))
            .collect();
        let expected: Vec<(&str, String)> = expected
            .iter()
            .map(|(email, groups)| (*email, groups.to_string()))
            .collect();
        assert_eq!(walked, expected);
        // Only the users whose groups are not their own list as declared are kept apart.
        let kept: Vec<&str> = policy
            .memberships
            .differ
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            kept,
            [
                "listed@x.io",
                "twice@x.io",
                "undefined@x.io",
                "unsorted@x.io"
            ]
        );
        assert_eq!(policy.roles_of("listed@x.io").len(), 0);
        assert_eq!(
            policy.members_by_group()["a"],
            ["both@x.io", "listed@x.io", "plain@x.io", "unsorted@x.io"]
        );
    }
}

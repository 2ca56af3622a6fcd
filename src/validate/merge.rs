//! Merging the files into one policy: every name defined once, duplicates reported (and a
//! user's dropped duplicate kept aside, [`Shadowed`], for the per-user rules).

use crate::diag::Code;
use std::collections::BTreeMap;

use crate::diag::Diagnostic;
use crate::load::{Document, pointer};
use crate::model::{Org, Policy, PolicyFile, Section};

/// How a definition met the ones before it.
#[derive(PartialEq)]
enum Defined {
    /// The first definition.
    New,
    /// A second definition: reported and dropped.
    Duplicate,
    /// Written earlier in the same file than the one met first (whose key as written this
    /// is): it takes that one's place, which is reported and dropped.
    Earlier(String),
}

/// A user's definition dropped as a duplicate: still checked by the per-user rules, so
/// that no error hides behind the duplicate.
pub(super) struct Shadowed {
    pub(super) doc: usize,
    pub(super) written: String,
    pub(super) normalized: String,
    pub(super) user: crate::model::User,
}

/// The users' map from the users gathered (each normalized email once), after the earlier
/// definitions in `replacing` took their places, in order, each handing the user it
/// replaced to its entry in `shadowed`.
fn users_map(
    mut users: Vec<(String, crate::model::User)>,
    replacing: Vec<(usize, crate::model::User)>,
    shadowed: &mut Vec<Shadowed>,
) -> BTreeMap<String, crate::model::User> {
    if !replacing.is_empty() {
        // The emails are distinct: an unstable sort gives the one order.
        users.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut unmatched = Vec::new();
        for (at, user) in replacing {
            let entry = &mut shadowed[at];
            match users.binary_search_by(|(email, _)| email.as_str().cmp(&entry.normalized)) {
                Ok(found) => entry.user = std::mem::replace(&mut users[found].1, user),
                // Not reached (an earlier definition follows one gathered), but a user
                // without a place takes it, replacing nothing and shadowing nothing.
                Err(place) => {
                    users.insert(place, (entry.normalized.clone(), user));
                    unmatched.push(at);
                }
            }
        }
        for at in unmatched.into_iter().rev() {
            shadowed.remove(at);
        }
    }
    users.into_iter().collect()
}

pub(super) fn merge(
    files: Vec<PolicyFile>,
    documents: Vec<Document>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Policy, Vec<Shadowed>)> {
    let mut shadowed = Vec::new();
    let mut org: Option<(Org, usize)> = None;
    let mut roles = BTreeMap::new();
    let mut groups = BTreeMap::new();
    // Users are gathered in a vector and the map is built from it at the end in one go:
    // inserting each into a map would walk the tree comparing long emails that share their
    // first bytes, while the map built from a vector sorts it (a check, when the files list
    // their users in order) and makes no search.
    let user_count = files.iter().map(|file| file.users.len()).sum();
    let mut users: Vec<(String, crate::model::User)> = Vec::with_capacity(user_count);
    // An earlier definition taking the place of the one met first (`Defined::Earlier`), in
    // the order met: (its entry in `shadowed`, which receives the user it replaces, and the
    // user). Applied to the gathered users once they are sorted.
    let mut replacing: Vec<(usize, crate::model::User)> = Vec::new();
    let mut declared = crate::model::Declared::default();
    declared.reserve(Section::Users, user_count);
    // Files that parsed are in `documents` order; empty files have no document.
    for (doc_index, file) in files.into_iter().enumerate() {
        let document = &documents[doc_index];
        if let Some(new_org) = file.org {
            match &org {
                Some((_, first_doc)) => {
                    let first = documents[*first_doc].locate_key("/org");
                    diagnostics.push(
                        Diagnostic::error(Code::DuplicateDefinition, "`org` is defined twice")
                            .at(document.locate_key("/org"))
                            .maybe_help(first.map(|l| format!("first defined at {l}"))),
                    );
                }
                None => {
                    declared.insert(Section::Org, String::new(), doc_index, "org");
                    org = Some((new_org, doc_index));
                }
            }
        }
        // A file's entries come sorted by key, not in file order: two spellings of one
        // email in one file (`Bob@` and `bob@`) are ordered by their lines here, so that
        // "first defined at" points at the one written first.
        let mut define = |section: Section, key: &str, normalized: &str| -> Defined {
            let Some((first_doc, first_key)) =
                declared.insert_first(section, normalized, doc_index, key)
            else {
                return Defined::New;
            };
            let first_key = first_key.to_owned();
            let here = document.locate_key(&pointer(&[section.as_str(), key]));
            let first = documents[first_doc].locate_key(&pointer(&[section.as_str(), &first_key]));
            let earlier = first_doc == doc_index
                && matches!((&here, &first), (Some(h), Some(f)) if (h.line, h.col) < (f.line, f.col));
            let (later, later_key, earlier_place, earlier_key) = if earlier {
                declared.insert(section, normalized.to_owned(), doc_index, key);
                (first, first_key.as_str(), here, key)
            } else {
                (here, key, first, first_key.as_str())
            };
            let kind = match section {
                Section::Roles => "role",
                Section::Groups => "group",
                _ => "user",
            };
            diagnostics.push(
                Diagnostic::error(
                    Code::DuplicateDefinition,
                    format!("{kind} `{later_key}` is defined twice"),
                )
                .at(later)
                .maybe_help(
                    earlier_place.map(|l| format!("first defined at {l} as `{earlier_key}`")),
                ),
            );
            if earlier {
                Defined::Earlier(first_key)
            } else {
                Defined::Duplicate
            }
        };
        for (name, role) in file.roles {
            if define(Section::Roles, &name, &name) != Defined::Duplicate {
                roles.insert(name, role);
            }
        }
        for (name, group) in file.groups {
            if define(Section::Groups, &name, &name) != Defined::Duplicate {
                groups.insert(name, group);
            }
        }
        for (email, user) in file.users {
            // A fresh copy even when the written key is already normal: the key lives as
            // long as the policy, and the written one sits among the file's parsed data,
            // whose memory it would keep from being given back.
            let normalized = crate::model::email_key(&email).into_owned();
            match define(Section::Users, &email, &normalized) {
                Defined::New => users.push((normalized, user)),
                Defined::Earlier(later_key) => {
                    replacing.push((shadowed.len(), user));
                    shadowed.push(Shadowed {
                        doc: doc_index,
                        written: later_key,
                        normalized,
                        user: crate::model::User::default(),
                    });
                }
                Defined::Duplicate => shadowed.push(Shadowed {
                    doc: doc_index,
                    written: email,
                    normalized,
                    user,
                }),
            }
        }
    }
    let users = users_map(users, replacing, &mut shadowed);
    let Some((org, _)) = org else {
        diagnostics.push(
            Diagnostic::error(Code::MissingOrg, "no policy file declares `org`")
                .help("add an `org:` section (name, plan, seats…) to one file"),
        );
        return None;
    };
    // The memberships are left to the semantic rules, which derive them on another core
    // while the rules that do not read them run (see `semantic_rules`).
    let policy = Policy {
        org,
        roles,
        groups,
        users,
        memberships: crate::model::Memberships::default(),
        origins: crate::model::Origins {
            documents,
            declared,
        },
    };
    Some((policy, shadowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The files merged as the validation merges them: (policy, shadowed, diagnostics).
    fn merged(files: &[(&str, &str)]) -> (Policy, Vec<Shadowed>, Vec<Diagnostic>) {
        let mut loaded = crate::load::Loaded::default();
        for (name, text) in files {
            crate::load::load_bytes(&mut loaded, (*name).to_owned(), text.as_bytes().to_vec());
        }
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let decoded = loaded.documents.iter();
        let decoded = decoded.map(|d| serde_json::from_value(d.value.clone()).unwrap());
        let mut diagnostics = Vec::new();
        let (policy, shadowed) =
            merge(decoded.collect(), loaded.documents, &mut diagnostics).unwrap();
        (policy, shadowed, diagnostics)
    }

    fn groups_of(user: &crate::model::User) -> String {
        user.groups.join(",")
    }

    // The users kept, each with the groups that tell which definition it is.
    fn kept(policy: &Policy) -> Vec<(&str, String)> {
        let users = policy.users.iter();
        users
            .map(|(email, user)| (email.as_str(), groups_of(user)))
            .collect()
    }

    const ORG: &str = "org: {name: Acme, plan: enterprise}\n";

    // Three spellings of one email in one file, met in key order (`BOB@`, `Bob@`, `bob@`),
    // the last of them written first: it takes the place of the first met, which is
    // shadowed after the plain duplicate.
    #[test]
    fn an_email_written_first_takes_the_place_of_the_one_met_first() {
        let users = "users:
  bob@x.io: {groups: [one]}
  BOB@x.io: {groups: [two]}
  Bob@x.io: {groups: [three]}
  amy@x.io: {groups: [four]}
";
        let (policy, shadowed, diagnostics) = merged(&[("a.yaml", ORG), ("b.yaml", users)]);
        let kept = kept(&policy);
        assert_eq!(
            kept,
            [("amy@x.io", "four".into()), ("bob@x.io", "one".into())]
        );
        let dropped: Vec<(&str, &str, String)> = shadowed
            .iter()
            .map(|s| {
                (
                    s.written.as_str(),
                    s.normalized.as_str(),
                    groups_of(&s.user),
                )
            })
            .collect();
        assert_eq!(
            dropped,
            [
                ("Bob@x.io", "bob@x.io", "three".into()),
                ("BOB@x.io", "bob@x.io", "two".into())
            ]
        );
        let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "user `Bob@x.io` is defined twice",
                "user `BOB@x.io` is defined twice"
            ]
        );
        let declared = policy.origins.declared.get(Section::Users, "bob@x.io");
        assert_eq!(declared, Some((1, "bob@x.io")));
    }

    // Each spelling met is written earlier than the one before it: the places are taken
    // in turn, and each shadowed entry holds the user it replaced at that moment.
    #[test]
    fn earlier_spellings_take_the_place_in_turn_and_across_files_the_first_file_wins() {
        let users = "users:
  bob@x.io: {groups: [one]}
  Bob@x.io: {groups: [two]}
  BOB@x.io: {groups: [three]}
  zed@x.io: {groups: [four]}
";
        let more = "users:\n  ZED@x.io: {groups: [five]}\n  new@x.io: {groups: [six]}\n";
        let files = [("a.yaml", ORG), ("b.yaml", users), ("c.yaml", more)];
        let (policy, shadowed, diagnostics) = merged(&files);
        let kept = kept(&policy);
        assert_eq!(
            kept,
            [
                ("bob@x.io", "one".into()),
                ("new@x.io", "six".into()),
                ("zed@x.io", "four".into())
            ]
        );
        let dropped: Vec<(&str, String, usize)> = shadowed
            .iter()
            .map(|s| (s.written.as_str(), groups_of(&s.user), s.doc))
            .collect();
        assert_eq!(
            dropped,
            [
                ("BOB@x.io", "three".into(), 1),
                ("Bob@x.io", "two".into(), 1),
                ("ZED@x.io", "five".into(), 2)
            ]
        );
        assert_eq!(diagnostics.len(), 3, "{diagnostics:?}");
    }
}

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

pub(super) fn merge(
    files: Vec<PolicyFile>,
    documents: Vec<Document>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Policy, Vec<Shadowed>)> {
    let mut shadowed = Vec::new();
    let mut org: Option<(Org, usize)> = None;
    let mut roles = BTreeMap::new();
    let mut groups = BTreeMap::new();
    let mut users = BTreeMap::new();
    let mut declared = crate::model::Declared::default();
    declared.reserve(
        Section::Users,
        files.iter().map(|file| file.users.len()).sum(),
    );
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
            let Some((first_doc, first_key)) = declared.get(section, normalized) else {
                declared.insert(section, normalized.to_owned(), doc_index, key);
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
            let normalized = crate::model::email_key(&email).into_owned();
            match define(Section::Users, &email, &normalized) {
                Defined::New => {
                    users.insert(normalized, user);
                }
                Defined::Earlier(later_key) => {
                    if let Some(later) = users.insert(normalized.clone(), user) {
                        shadowed.push(Shadowed {
                            doc: doc_index,
                            written: later_key,
                            normalized,
                            user: later,
                        });
                    }
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
    let Some((org, _)) = org else {
        diagnostics.push(
            Diagnostic::error(Code::MissingOrg, "no policy file declares `org`")
                .help("add an `org:` section (name, plan, seats…) to one file"),
        );
        return None;
    };
    let policy = Policy::new(
        org,
        roles,
        groups,
        users,
        crate::model::Origins {
            documents,
            declared,
        },
    );
    Some((policy, shadowed))
}

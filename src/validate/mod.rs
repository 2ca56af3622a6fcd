//! Validation: the schema pass, then every semantic rule of docs/diagnostics.md, collecting every
//! problem rather than stopping at the first.

//!
//! The rooms: `schema` (the schema pass and the typed decoding of each file, with the
//! messages of schema errors), `merge` (the files into one policy; duplicate definitions),
//! `rules` (the semantic rules of the merged policy: names, references, owners, each
//! user's effective access) and `entitlements` (what the org's plan, seats, caps, models
//! and capabilities allow).

mod differential;
mod entitlements;
mod merge;
mod rules;
mod schema;

use crate::diag::{self, Diagnostic};
use crate::load::{Document, Loaded, Sources};
use crate::model::{OrgRole, Policy, PolicyFile};

pub use entitlements::is_valid_pattern;
use merge::merge;
pub use rules::is_email;
use rules::{semantic_rules, shadowed_rules};
pub(crate) use schema::schema_diagnostic;
use schema::{compile, decode, decode_file};

/// The result of validating a policy folder.
#[derive(Debug)]
pub struct Checked {
    /// File texts, for rendering snippets.
    pub sources: Sources,
    /// The checked policy, when there is no error.
    pub policy: Option<Policy>,
    /// Every error and warning, sorted by place.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

/// Validate everything that was loaded.
pub fn check(loaded: Loaded) -> Checked {
    let schema = crate::model::json_schema();
    let Loaded {
        sources,
        documents,
        mut diagnostics,
    } = loaded;
    let decoded = match compile(&schema, &mut diagnostics) {
        Some(validator) => documents
            .into_iter()
            .map(|document| decode(&schema, &validator, document, None))
            .collect(),
        None => Vec::new(),
    };
    finish(sources, decoded, diagnostics)
}

/// Load and validate the policy folder `dir`: each file is parsed and decoded on the
/// thread that read it, straight from the YAML parser's events when it can be (the same
/// policy, spans and diagnostics as [`check`] gives, faster), checked against the schema
/// otherwise.
pub fn check_dir(dir: &std::path::Path) -> Result<Checked, crate::load::LoadError> {
    let schema = crate::model::json_schema();
    let mut diagnostics = Vec::new();
    let Some(validator) = compile(&schema, &mut diagnostics) else {
        let loaded = crate::load::load_dir(dir)?;
        return Ok(finish(loaded.sources, Vec::new(), diagnostics));
    };
    let loaded = crate::load::load_dir_typed(dir, |document, typed, text| {
        decode_file(&schema, &validator, document, typed, text)
    })?;
    diagnostics.extend(loaded.diagnostics);
    Ok(finish(loaded.sources, loaded.documents, diagnostics))
}

/// [`check_dir`] for files in memory (name and bytes, in order): each file read the way
/// `check_dir` reads it. The result is [`check`]'s on the same files, which the fuzzer
/// and the tests hold it to.
pub fn check_bytes(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Checked {
    let schema = crate::model::json_schema();
    let mut diagnostics = Vec::new();
    let Some(validator) = compile(&schema, &mut diagnostics) else {
        let mut loaded = Loaded::default();
        for (name, bytes) in files {
            crate::load::load_bytes(&mut loaded, name, bytes);
        }
        return finish(loaded.sources, Vec::new(), diagnostics);
    };
    let mut loaded = crate::load::LoadedWith::default();
    for (name, bytes) in files {
        crate::load::load_bytes_typed(&mut loaded, name, bytes, |document, typed, text| {
            decode_file(&schema, &validator, document, typed, text)
        });
    }
    diagnostics.extend(loaded.diagnostics);
    finish(loaded.sources, loaded.documents, diagnostics)
}

// A document with its typed content, or with why it has none.
pub(super) type Decoded = (Document, Result<PolicyFile, Vec<Diagnostic>>);

fn finish(sources: Sources, decoded: Vec<Decoded>, mut diagnostics: Vec<Diagnostic>) -> Checked {
    let mut files = Vec::new();
    let mut documents = Vec::new();
    for (document, result) in decoded {
        match result {
            Ok(file) => files.push(file),
            Err(found) => diagnostics.extend(found),
        }
        documents.push(document);
    }
    let policy = if diagnostics.iter().any(Diagnostic::is_error) {
        // Semantic rules on a half-read policy would only add noise.
        None
    } else {
        let merged = merge(files, documents, &mut diagnostics);
        // The decoded files, merged, are freed: their pages go back before the rules
        // allocate theirs (at 100,000 users, 17 MB off the peak).
        crate::pool::give_back();
        merged
    };
    let policy = policy.map(|(mut policy, shadowed)| {
        let primary: Vec<&str> = shadowed
            .iter()
            .filter(|s| s.user.role == OrgRole::PrimaryOwner)
            .map(|s| s.normalized.as_str())
            .collect();
        semantic_rules(&mut policy, &primary, &mut diagnostics);
        shadowed_rules(&mut policy, shadowed, &mut diagnostics);
        crate::pool::give_back();
        policy
    });
    diag::sort(&mut diagnostics);
    diagnostics.dedup();
    let policy = policy.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
    Checked {
        sources,
        policy,
        diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The fast decoding (no path tracked) fails on a value the schema lets through; the
    // diagnostic must be the precise one, at the value's place, as `check` gives it.
    #[test]
    fn a_decoding_error_past_the_schema_keeps_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let text = "version: 1\norg:\n  name: Acme\n  plan: enterprise\n  seats:\n    standard: 99999999999\n";
        std::fs::write(dir.path().join("org.yaml"), text).unwrap();
        let fast = check_dir(dir.path()).unwrap();
        let precise = check(crate::load::load_dir(dir.path()).unwrap());
        assert_eq!(fast.diagnostics, precise.diagnostics);
        let [found] = fast.diagnostics.as_slice() else {
            panic!("one diagnostic: {:?}", fast.diagnostics)
        };
        assert_eq!(found.code, crate::diag::Code::Schema);
        assert!(found.message.contains("expected u32"), "{}", found.message);
        let place = found.location.as_ref().unwrap();
        assert_eq!((place.line, place.col), (6, 15));
    }
}

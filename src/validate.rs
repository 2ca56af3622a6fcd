//! Validation: the schema pass, then every semantic rule of docs/diagnostics.md, collecting every
//! problem rather than stopping at the first.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::diag::{self, Diagnostic, Location};
use crate::load::{Document, Loaded, Sources, pointer};
use crate::model::{
    Capability, Limits, Metric, ModelRules, Org, OrgRole, Plan, Policy, PolicyFile, Provisioning,
    Seat, Section, UserStatus,
};
use crate::resolve;

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

/// Load and validate the policy folder `dir`: each file is parsed, checked against the
/// schema and decoded on the thread that read it.
pub fn check_dir(dir: &std::path::Path) -> Result<Checked, crate::load::LoadError> {
    let schema = crate::model::json_schema();
    let mut diagnostics = Vec::new();
    let Some(validator) = compile(&schema, &mut diagnostics) else {
        let loaded = crate::load::load_dir(dir)?;
        return Ok(finish(loaded.sources, Vec::new(), diagnostics));
    };
    let loaded = crate::load::load_dir_with(dir, |document, text| {
        decode(&schema, &validator, document, Some(text))
    })?;
    diagnostics.extend(loaded.diagnostics);
    Ok(finish(loaded.sources, loaded.documents, diagnostics))
}

// A document with its typed content, or with why it has none.
type Decoded = (Document, Result<PolicyFile, Vec<Diagnostic>>);

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
        merge(files, documents, &mut diagnostics)
    };
    let policy = policy.map(|(mut policy, shadowed)| {
        let primary: Vec<&str> = shadowed
            .iter()
            .filter(|s| s.user.role == OrgRole::PrimaryOwner)
            .map(|s| s.normalized.as_str())
            .collect();
        semantic_rules(&policy, &primary, &mut diagnostics);
        shadowed_rules(&mut policy, shadowed, &mut diagnostics);
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

// ---------------------------------------------------------------------------------------
// Schema pass and typed decoding.

fn compile(schema: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<jsonschema::Validator> {
    match jsonschema::draft7::new(schema) {
        Ok(validator) => Some(validator),
        Err(error) => {
            diagnostics.push(Diagnostic::error(
                "schema",
                format!("the built-in schema does not compile: {error}"),
            ));
            None
        }
    }
}

// The schema check, then the typed decoding; the JSON value is dropped either way (only
// the spans are kept, for `file:line` provenance). With the file's `text`, the value is
// decoded without tracking the path (a third of the decoding's cost, for every key of a
// large org): only when that fails is the value built again from the text and decoded
// with the path, so the diagnostic is the same either way.
fn decode(
    schema: &Value,
    validator: &jsonschema::Validator,
    mut document: Document,
    text: Option<&str>,
) -> Decoded {
    let mut found: Vec<Diagnostic> = validator
        .iter_errors(&document.value)
        .map(|error| schema_diagnostic(schema, &document, &error))
        .collect();
    let value = std::mem::take(&mut document.value);
    if !found.is_empty() {
        found.sort();
        found.dedup();
        return (document, Err(found));
    }
    let value = match text {
        Some(text) => match serde_json::from_value::<PolicyFile>(value) {
            Ok(file) => return (document, Ok(file)),
            Err(plain) => match crate::load::reparse_value(text) {
                Some(value) => value,
                // The text parsed a moment ago and parses the same way again.
                None => {
                    let found = Diagnostic::error("schema", plain.to_string());
                    return (document, Err(vec![found]));
                }
            },
        },
        None => value,
    };
    let result = serde_path_to_error::deserialize::<_, PolicyFile>(value).map_err(|error| {
        let path = error.path().to_string();
        let pointer = path_to_pointer(&path);
        vec![
            Diagnostic::error("schema", format!("{}", error.inner())).at(document.locate(&pointer)),
        ]
    });
    (document, result)
}

// serde_path_to_error writes `users.a@b.com.limits`; JSON pointers want `/users/a@b.com/limits`.
// Keys containing dots are ambiguous here, but this path is only reached when the schema
// accepted the file, which leaves almost nothing to fail.
fn path_to_pointer(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    path.split('.').map(|s| format!("/{s}")).collect()
}

impl PartialOrd for Diagnostic {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Diagnostic {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.location, self.code, &self.message, &self.help).cmp(&(
            &other.location,
            other.code,
            &other.message,
            &other.help,
        ))
    }
}

pub(crate) fn schema_diagnostic(
    schema: &Value,
    document: &Document,
    error: &jsonschema::ValidationError<'_>,
) -> Diagnostic {
    use jsonschema::error::ValidationErrorKind as Kind;
    let instance_pointer = error.instance_path().as_str().to_owned();
    let segments: Vec<String> = instance_pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let field = field_name(&segments);
    let node_schema = schema_at(schema, &segments);
    let description = node_schema
        .and_then(|s| s.get("description"))
        .and_then(Value::as_str)
        .filter(|_| !segments.is_empty())
        .map(first_sentence);
    let here = document.locate(&instance_pointer);
    let instance = error.instance();
    match error.kind() {
        Kind::AdditionalProperties { unexpected } => {
            let known = node_schema
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().map(String::as_str).collect::<Vec<_>>())
                .unwrap_or_default();
            let name = unexpected.first().cloned().unwrap_or_default();
            let place = document.locate_key(&format!(
                "{instance_pointer}/{}",
                crate::load::escape_segment(&name)
            ));
            let within = if segments.is_empty() {
                "a policy file".to_owned()
            } else {
                format!("`{field}`")
            };
            let help = diag::did_you_mean(&name, known.iter().copied()).or_else(|| {
                (!known.is_empty()).then(|| format!("expected one of {}", backticked(&known)))
            });
            Diagnostic::error("schema", format!("unknown field `{name}` in {within}"))
                .at(place)
                .maybe_help(help)
        }
        Kind::Enum { options } => {
            let options: Vec<&str> = options
                .as_array()
                .map(|o| o.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let shown = short_value(instance);
            let help = instance
                .as_str()
                .and_then(|text| diag::did_you_mean(text, options.iter().copied()))
                .map(|d| format!("{d} expected one of {}", backticked(&options)))
                .unwrap_or_else(|| format!("expected one of {}", backticked(&options)));
            Diagnostic::error(
                "schema",
                format!("`{shown}` is not a valid value for `{field}`"),
            )
            .at(here)
            .help(help)
        }
        Kind::Type { kind } => {
            let expected = format!("{kind:?}")
                .to_lowercase()
                .replace("single(", "")
                .replace(')', "");
            let message = if segments.is_empty() {
                format!(
                    "a policy file must be a mapping of {}, not {}",
                    backticked(&["org", "roles", "groups", "users"]),
                    json_type(instance)
                )
            } else {
                format!(
                    "`{field}` must be {}, not {} `{}`",
                    article(&expected),
                    json_type(instance),
                    short_value(instance)
                )
            };
            Diagnostic::error("schema", message)
                .at(here)
                .maybe_help(description)
        }
        Kind::Required { property } => {
            let property = property.as_str().unwrap_or_default();
            Diagnostic::error("schema", format!("missing field `{property}` in `{field}`"))
                .at(document.locate_key(&instance_pointer))
        }
        Kind::Minimum { limit } => Diagnostic::error(
            "schema",
            format!(
                "`{}` is below the minimum `{limit}` for `{field}`",
                short_value(instance)
            ),
        )
        .at(here),
        Kind::Maximum { limit } => Diagnostic::error(
            "schema",
            format!(
                "`{}` is above the maximum `{limit}` for `{field}`",
                short_value(instance)
            ),
        )
        .at(here)
        .maybe_help(description),
        Kind::MinLength { .. } => Diagnostic::error("schema", format!("`{field}` is empty"))
            .at(here)
            .maybe_help(description),
        Kind::PropertyNames { .. } => {
            Diagnostic::error("schema", format!("a name in `{field}` is empty"))
                .at(document.locate_key(&format!("{instance_pointer}/")))
                .help("give it a name")
        }
        _ => Diagnostic::error(
            "schema",
            format!("`{}` is not valid for `{field}`", short_value(instance)),
        )
        .at(here)
        .maybe_help(description),
    }
}

// The first sentence of a schema description, on one line, for a help line.
fn first_sentence(description: &str) -> String {
    let flat = description.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.find(". ") {
        Some(end) => flat[..=end].to_owned(),
        None => flat,
    }
}

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn article(kind: &str) -> String {
    match kind {
        "object" => "a mapping".to_owned(),
        "array" => "a list".to_owned(),
        "integer" => "a whole number".to_owned(),
        "number" => "a number".to_owned(),
        "boolean" => "`true` or `false`".to_owned(),
        "string" => "a string".to_owned(),
        other => other.to_owned(),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn short_value(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Array(_) => "[…]".to_owned(),
        Value::Object(_) => "{…}".to_owned(),
        other => other.to_string(),
    };
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

// The name of the field at a path, for messages: the last key that is not a list index.
fn field_name(segments: &[String]) -> String {
    segments
        .iter()
        .rev()
        .find(|s| s.parse::<usize>().is_err())
        .cloned()
        .unwrap_or_else(|| "the file".to_owned())
}

// Follow an instance path through the schema (resolving `$ref`/`allOf`), to find the
// properties and description that apply at that path.
fn schema_at<'a>(root: &'a Value, segments: &[String]) -> Option<&'a Value> {
    let mut node = deref(root, root);
    for segment in segments {
        let next = node
            .get("properties")
            .and_then(|p| p.get(segment))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))
            .or_else(|| node.get("items"))?;
        node = deref(root, next);
    }
    Some(node)
}

fn deref<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..8 {
        if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            let name = reference.trim_start_matches("#/definitions/");
            match root.get("definitions").and_then(|d| d.get(name)) {
                Some(target) => node = target,
                None => return node,
            }
        } else if let Some(first) = node
            .get("allOf")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            if node.get("properties").is_some() {
                return node;
            }
            node = first;
        } else {
            return node;
        }
    }
    node
}

// ---------------------------------------------------------------------------------------
// Merging the files into one policy.

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
struct Shadowed {
    doc: usize,
    written: String,
    normalized: String,
    user: crate::model::User,
}

fn merge(
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
    // Files that parsed are in `documents` order; empty files have no document.
    for (doc_index, file) in files.into_iter().enumerate() {
        let document = &documents[doc_index];
        if let Some(new_org) = file.org {
            match &org {
                Some((_, first_doc)) => {
                    let first = documents[*first_doc].locate_key("/org");
                    diagnostics.push(
                        Diagnostic::error("duplicate-definition", "`org` is defined twice")
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
                    "duplicate-definition",
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
            Diagnostic::error("missing-org", "no policy file declares `org`")
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

// ---------------------------------------------------------------------------------------
// Semantic rules.

/// The rules of a merged policy. `also_primary`: emails whose dropped duplicate definition
/// says `primary_owner` (the duplicate is the error to report, not a missing primary owner).
fn semantic_rules(policy: &Policy, also_primary: &[&str], out: &mut Vec<Diagnostic>) {
    check_references(policy, out);
    check_emails(policy, out);
    check_primary_owner(policy, also_primary, out);
    check_plan_features(policy, out);
    check_seats(policy, out);
    check_limits(policy, out);
    check_patterns(policy, out);
    check_capabilities(policy, out);
    check_protected(policy, out);
    check_usage(policy, out);
    check_effective(policy, out);
    check_admins(policy, out);
}

/// The per-user rules run again on the dropped duplicate definitions, each in its user's
/// place: an error in one is reported now, not after the duplicate is fixed. Only what lies
/// within a duplicate's own lines is kept (the rest was reported already). One pass over the
/// policy per round, each round taking at most one duplicate of each user, so that many
/// duplicates cost a few passes, not one each.
fn shadowed_rules(policy: &mut Policy, mut shadowed: Vec<Shadowed>, out: &mut Vec<Diagnostic>) {
    const PER_USER: [&str; 7] = [
        "invalid-email",
        "email-domain",
        "unknown-reference",
        "limit-over-cap",
        "plan-feature",
        "seat-restriction",
        "no-spend-limit",
    ];
    // Enough for any real mistake (one email spelt three or four ways); beyond it, the
    // `duplicate-definition` errors already say what to fix.
    const ROUNDS: usize = 4;
    for _ in 0..ROUNDS {
        if shadowed.is_empty() {
            break;
        }
        let mut round: Vec<Shadowed> = Vec::new();
        let mut later: Vec<Shadowed> = Vec::new();
        for duplicate in shadowed {
            if round.iter().any(|d| d.normalized == duplicate.normalized) {
                later.push(duplicate);
            } else {
                round.push(duplicate);
            }
        }
        shadowed = later;
        // Put each duplicate in its user's place, keeping what it replaced.
        let mut kept = Vec::new();
        let mut places: Vec<(String, std::ops::Range<usize>)> = Vec::new();
        for duplicate in round {
            let Some(slot) = policy.users.get_mut(&duplicate.normalized) else {
                continue;
            };
            let user = std::mem::replace(slot, duplicate.user);
            let declared = &mut policy.origins.declared;
            let place = declared
                .get(Section::Users, &duplicate.normalized)
                .map(|(doc, key)| (doc, key.to_owned()));
            declared.insert(
                Section::Users,
                duplicate.normalized.clone(),
                duplicate.doc,
                &duplicate.written,
            );
            let document = &policy.origins.documents[duplicate.doc];
            if let Some(lines) = document.entry_lines("users", &duplicate.written) {
                places.push((document.name.clone(), lines));
            }
            kept.push((duplicate.normalized, user, place));
        }
        let mut found = Vec::new();
        check_references(policy, &mut found);
        check_emails(policy, &mut found);
        check_plan_features(policy, &mut found);
        check_limits(policy, &mut found);
        check_effective(policy, &mut found);
        out.extend(found.into_iter().filter(|d| {
            PER_USER.contains(&d.code)
                && d.location.as_ref().is_some_and(|l| {
                    places
                        .iter()
                        .any(|(file, lines)| *file == l.file && lines.contains(&l.line))
                })
        }));
        for (normalized, user, place) in kept {
            if let Some((doc, key)) = place {
                policy
                    .origins
                    .declared
                    .insert(Section::Users, normalized.clone(), doc, &key);
            }
            if let Some(slot) = policy.users.get_mut(&normalized) {
                *slot = user;
            }
        }
    }
}

fn check_references(policy: &Policy, out: &mut Vec<Diagnostic>) {
    let origins = &policy.origins;
    let group_names = || policy.groups.keys().map(String::as_str);
    for (email, user) in &policy.users {
        for (i, group) in user.groups.iter().enumerate() {
            if !policy.groups.contains_key(group) {
                out.push(
                    Diagnostic::error(
                        "unknown-reference",
                        format!("group `{group}` is not defined"),
                    )
                    .at(origins.locate(Section::Users, email, &["groups", &i.to_string()]))
                    .maybe_help(diag::did_you_mean(group, group_names())),
                );
            }
        }
    }
    for (name, group) in &policy.groups {
        for (i, role) in group.roles.iter().enumerate() {
            if !policy.roles.contains_key(role) {
                out.push(
                    Diagnostic::error("unknown-reference", format!("role `{role}` is not defined"))
                        .at(origins.locate(Section::Groups, name, &["roles", &i.to_string()]))
                        .maybe_help(diag::did_you_mean(
                            role,
                            policy.roles.keys().map(String::as_str),
                        )),
                );
            }
        }
        for (i, member) in group.members.iter().enumerate() {
            let place = || origins.locate(Section::Groups, name, &["members", &i.to_string()]);
            if !is_email(member) {
                out.push(
                    Diagnostic::error(
                        "invalid-email",
                        format!("`{member}` is not an email address"),
                    )
                    .at(place())
                    .help("members are user emails such as `name@example.com`"),
                );
            } else if !policy
                .users
                .contains_key(crate::model::email_key(member).as_ref())
            {
                out.push(
                    Diagnostic::error(
                        "unknown-reference",
                        format!("user `{member}` is not defined"),
                    )
                    .at(place())
                    .maybe_help(diag::did_you_mean(
                        member,
                        policy.users.keys().map(String::as_str),
                    )),
                );
            }
        }
    }
}

/// A plain check that `text` looks like `local@domain.tld`; the provider has the last word.
pub fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !text.chars().any(|c| c.is_whitespace() || is_invisible(c))
        && !domain.contains('@')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
}

/// Control characters and the invisible format characters (zero-width spaces and joiners,
/// soft hyphen, bidi marks and overrides, word joiner, byte-order mark …): in an address
/// they make two different emails look identical in a review.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

fn check_emails(policy: &Policy, out: &mut Vec<Diagnostic>) {
    let domains: Vec<String> = policy
        .org
        .domains
        .iter()
        .map(|d| d.to_lowercase())
        .collect();
    for (email, user) in &policy.users {
        // Looked up only for a finding: most users have none.
        let place = || policy.origins.locate_key(Section::Users, email, &[]);
        let written = || {
            let declared = policy.origins.declared.get(Section::Users, email);
            declared.map_or(email.as_str(), |(_, key)| key)
        };
        if !is_email(email) {
            out.push(
                Diagnostic::error(
                    "invalid-email",
                    format!("`{}` is not an email address", written()),
                )
                .at(place())
                .help("users are keyed by email, such as `name@example.com`"),
            );
            continue;
        }
        let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
        if !user.external && !domains.is_empty() && !domains.iter().any(|d| d == domain) {
            out.push(
                Diagnostic::error(
                    "email-domain",
                    format!("`{}` is not in the org's domains", written()),
                )
                .at(place())
                .help(format!(
                    "the org's domains are {}; mark the user `external: true` if this is intended",
                    backticked(&domains.iter().map(String::as_str).collect::<Vec<_>>())
                )),
            );
        }
    }
}

fn check_primary_owner(policy: &Policy, also_primary: &[&str], out: &mut Vec<Diagnostic>) {
    let owners: Vec<&String> = policy
        .users
        .iter()
        .filter(|(e, u)| u.role == OrgRole::PrimaryOwner || also_primary.contains(&e.as_str()))
        .map(|(e, _)| e)
        .collect();
    match owners.as_slice() {
        [] => out.push(
            Diagnostic::error("primary-owner-count", "no user has `role: primary_owner`")
                .at(policy.origins.locate_key(Section::Org, "", &[]))
                .help("exactly one user must be the primary owner"),
        ),
        [_] => {}
        [first, rest @ ..] => {
            for other in rest {
                out.push(
                    Diagnostic::error(
                        "primary-owner-count",
                        format!("`{other}` is a second primary owner, after `{first}`"),
                    )
                    .at(policy.origins.locate(Section::Users, other, &["role"]))
                    .help("an org has exactly one primary owner; make the others `owner`"),
                );
            }
        }
    }
}

fn check_plan_features(policy: &Policy, out: &mut Vec<Diagnostic>) {
    if policy.org.plan != Plan::Team {
        return;
    }
    let origins = &policy.origins;
    let feature = |what: &str, place: Option<Location>| {
        Diagnostic::error("plan-feature", format!("{what} need the `enterprise` plan"))
            .at(place)
            .help("remove it, or set `plan: enterprise`")
    };
    if policy.org.provisioning != Provisioning::Manual {
        let kind = if policy.org.provisioning == Provisioning::Scim {
            "`scim`"
        } else {
            "`jit`"
        };
        out.push(feature(
            &format!("{kind} provisioning and SSO"),
            origins.locate(Section::Org, "", &["provisioning"]),
        ));
    }
    if policy.org.sso.is_some() {
        out.push(feature(
            "SSO settings",
            origins.locate_key(Section::Org, "", &["sso"]),
        ));
    }
    if policy.org.models.is_some() {
        out.push(feature(
            "model restrictions",
            origins.locate_key(Section::Org, "", &["models"]),
        ));
    }
    if policy.org.defaults.models.is_some() {
        out.push(feature(
            "model restrictions",
            origins.locate_key(Section::Org, "", &["defaults", "models"]),
        ));
    }
    for name in policy.groups.keys() {
        out.push(feature(
            &format!("groups (`{name}`)"),
            origins.locate_key(Section::Groups, name, &[]),
        ));
    }
    for name in policy.roles.keys() {
        out.push(feature(
            &format!("custom roles (`{name}`)"),
            origins.locate_key(Section::Roles, name, &[]),
        ));
    }
    for (section, name, path, limits) in limit_sources(policy) {
        if limits.contains_key(&Metric::Tokens) {
            let mut full = path.to_vec();
            full.push("tokens");
            out.push(feature(
                "token limits",
                origins.locate_key(section, name, &full),
            ));
        }
    }
}

// Every place a policy declares limits: (section, entity, path to the limits, limits).
// Borrowed, and only where some limit is set: most of a large org's users set none.
fn limit_sources(policy: &Policy) -> Vec<(Section, &str, &'static [&'static str], &Limits)> {
    let mut out = vec![
        (Section::Org, "", &["caps"][..], &policy.org.caps),
        (
            Section::Org,
            "",
            &["defaults", "limits"][..],
            &policy.org.defaults.limits,
        ),
    ];
    let roles = policy
        .roles
        .iter()
        .map(|(n, r)| (Section::Roles, n, &r.limits));
    let groups = policy
        .groups
        .iter()
        .map(|(n, g)| (Section::Groups, n, &g.limits));
    let users = policy
        .users
        .iter()
        .map(|(n, u)| (Section::Users, n, &u.limits));
    out.extend(
        roles
            .chain(groups)
            .chain(users)
            .map(|(section, name, limits)| (section, name.as_str(), &["limits"][..], limits)),
    );
    out.retain(|(_, _, _, limits)| !limits.is_empty());
    out
}

fn check_seats(policy: &Policy, out: &mut Vec<Diagnostic>) {
    for (seat, purchased) in [
        (Seat::Standard, policy.org.seats.standard),
        (Seat::Premium, policy.org.seats.premium),
    ] {
        let used = policy
            .users
            .values()
            .filter(|u| u.seat == seat && u.status != UserStatus::Suspended)
            .count();
        if used > purchased as usize {
            let tier = seat.as_str();
            out.push(
                Diagnostic::error(
                    "seat-overflow",
                    format!(
                        "{} {} a {tier} seat but only {purchased} {} purchased",
                        diag::count(used, "user"),
                        if used == 1 { "needs" } else { "need" },
                        if purchased == 1 { "is" } else { "are" }
                    ),
                )
                .at(policy.origins.locate(Section::Org, "", &["seats", tier]))
                .help(format!(
                    "buy {} more {tier} seats, or move, suspend or remove users",
                    used - purchased as usize
                )),
            );
        }
    }
}

fn check_limits(policy: &Policy, out: &mut Vec<Diagnostic>) {
    let caps = &policy.org.caps;
    for (section, name, path, limits) in limit_sources(policy) {
        if path == ["caps"] {
            continue;
        }
        for (metric, periods) in limits {
            for (period, amount) in periods {
                let Some(cap) = caps.get(metric).and_then(|p| p.get(period)) else {
                    continue;
                };
                if amount.0 > cap.0 {
                    let mut full = path.to_vec();
                    full.extend([metric.as_str(), period.as_str()]);
                    out.push(
                        Diagnostic::error(
                            "limit-over-cap",
                            format!(
                                "{} {} limit `{amount}` is above the cap `{cap}`",
                                period.as_str(),
                                metric.as_str()
                            ),
                        )
                        .at(policy.origins.locate(section, name, &full))
                        .maybe_help(
                            policy
                                .origins
                                .source(
                                    Section::Org,
                                    "",
                                    &["caps", metric.as_str(), period.as_str()],
                                )
                                .map(|s| {
                                    format!(
                                        "the cap is set at {s}; lower the limit or raise the cap"
                                    )
                                }),
                        ),
                    );
                }
            }
        }
    }
}

/// A model pattern may hold letters, digits, `-._:/@` and the wildcards `*` and `?`.
pub fn is_valid_pattern(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:/@*?".contains(c))
}

fn check_patterns(policy: &Policy, out: &mut Vec<Diagnostic>) {
    let mut rules: Vec<(Section, String, Vec<&str>, &ModelRules)> = Vec::new();
    if let Some(models) = &policy.org.models {
        rules.push((Section::Org, String::new(), vec!["models"], models));
    }
    if let Some(models) = &policy.org.defaults.models {
        rules.push((
            Section::Org,
            String::new(),
            vec!["defaults", "models"],
            models,
        ));
    }
    for (name, role) in &policy.roles {
        if let Some(models) = &role.models {
            rules.push((Section::Roles, name.clone(), vec!["models"], models));
        }
    }
    for (section, name, path, models) in rules {
        for (list, patterns) in [
            ("allow", models.allow.as_deref().unwrap_or_default()),
            ("deny", &models.deny),
        ] {
            for (i, pattern) in patterns.iter().enumerate() {
                if !is_valid_pattern(pattern) {
                    let index = i.to_string();
                    let mut full = path.clone();
                    full.extend([list, index.as_str()]);
                    out.push(
                        Diagnostic::error(
                            "invalid-pattern",
                            format!("`{pattern}` is not a valid model pattern"),
                        )
                        .at(policy.origins.locate(section, &name, &full))
                        .help("use letters, digits, `-._:/@`, `*` for any run of characters and `?` for one"),
                    );
                }
            }
        }
    }
}

fn check_capabilities(policy: &Policy, out: &mut Vec<Diagnostic>) {
    let enabled = &policy.org.capabilities;
    let mut grants: Vec<(Section, String, Vec<&str>, &Vec<Capability>)> = vec![(
        Section::Org,
        String::new(),
        vec!["defaults", "capabilities"],
        &policy.org.defaults.capabilities,
    )];
    for (name, role) in &policy.roles {
        grants.push((
            Section::Roles,
            name.clone(),
            vec!["capabilities"],
            &role.capabilities,
        ));
    }
    for (section, name, path, capabilities) in grants {
        for (i, capability) in capabilities.iter().enumerate() {
            if !enabled.contains(capability) {
                let index = i.to_string();
                let mut full = path.clone();
                full.push(index.as_str());
                let who = match section {
                    Section::Roles => format!("role `{name}`"),
                    _ => "`org.defaults`".to_owned(),
                };
                out.push(
                    Diagnostic::error(
                        "capability-not-enabled",
                        format!(
                            "{who} grants `{}`, which is not in `org.capabilities`",
                            capability.as_str()
                        ),
                    )
                    .at(policy.origins.locate(section, &name, &full))
                    .help(format!(
                        "add `{}` to `org.capabilities`, or remove it here",
                        capability.as_str()
                    )),
                );
            }
        }
    }
}

fn check_protected(policy: &Policy, out: &mut Vec<Diagnostic>) {
    for (i, email) in policy.org.safety.protected.iter().enumerate() {
        let place = || {
            policy
                .origins
                .locate(Section::Org, "", &["safety", "protected", &i.to_string()])
        };
        if !is_email(email) {
            out.push(
                Diagnostic::error(
                    "invalid-email",
                    format!("`{email}` is not an email address"),
                )
                .at(place())
                .help("protected entries are user emails such as `name@example.com`"),
            );
        } else if !policy
            .users
            .contains_key(crate::model::email_key(email).as_ref())
        {
            out.push(
                Diagnostic::error(
                    "protected-unknown",
                    format!("protected user `{email}` is not declared"),
                )
                .at(place())
                .maybe_help(
                    diag::did_you_mean(email, policy.users.keys().map(String::as_str))
                        .or_else(|| Some("declare the user under `users`".to_owned())),
                ),
            );
        }
    }
}

fn check_usage(policy: &Policy, out: &mut Vec<Diagnostic>) {
    let granted: BTreeSet<&str> = policy
        .groups
        .values()
        .flat_map(|g| g.roles.iter().map(String::as_str))
        .collect();
    for name in policy.roles.keys() {
        if !granted.contains(name.as_str()) {
            out.push(
                Diagnostic::warning("unused-role", format!("no group grants role `{name}`"))
                    .at(policy.origins.locate_key(Section::Roles, name, &[]))
                    .help("add it to a group's `roles`, or delete it"),
            );
        }
    }
    let members = policy.members_by_group();
    for (name, group) in &policy.groups {
        let place = || policy.origins.locate_key(Section::Groups, name, &[]);
        if members.get(name.as_str()).is_none_or(Vec::is_empty) {
            out.push(
                Diagnostic::warning("empty-group", format!("group `{name}` has no members"))
                    .at(place())
                    .help("add `members`, list the group under users' `groups`, or delete it"),
            );
        } else if group.roles.is_empty() && group.limits.is_empty() {
            out.push(
                Diagnostic::warning(
                    "unused-group",
                    format!("group `{name}` grants no role and sets no limit"),
                )
                .at(place())
                .help("give it `roles` or `limits`, or delete it"),
            );
        }
    }
}

fn check_effective(policy: &Policy, out: &mut Vec<Diagnostic>) {
    let resolver = resolve::Resolver::new(policy);
    let emails: Vec<&String> = policy.users.keys().collect();
    out.extend(crate::load::parallel_each(&emails, |email, out| {
        check_user_access(policy, &resolver, email, out);
    }));
}

fn check_user_access(
    policy: &Policy,
    resolver: &resolve::Resolver<'_>,
    email: &str,
    out: &mut Vec<Diagnostic>,
) {
    let Some(access) = resolver.access(email) else {
        return;
    };
    let seat_restricted = access
        .withheld
        .iter()
        .any(|(c, _)| *c == Capability::ClaudeCode && access.user.status == UserStatus::Active)
        && policy.org.capabilities.contains(&Capability::ClaudeCode)
        && access.user.seat == Seat::Standard;
    if seat_restricted {
        let from = if access.roles.is_empty() {
            "`org.defaults`".to_owned()
        } else {
            format!("role {}", backticked(&access.roles))
        };
        out.push(
            Diagnostic::warning(
                "seat-restriction",
                format!("`{email}` is granted `claude_code` by {from} but has a standard seat"),
            )
            .at(policy.origins.locate(Section::Users, email, &["seat"]))
            .help("the seat wins: the user will not have Claude Code; give them `seat: premium`"),
        );
    }
    let needs_limit = access.has(Capability::Api) || access.has(Capability::ClaudeCode);
    if needs_limit && !access.has_limits() {
        out.push(
            Diagnostic::warning(
                "no-spend-limit",
                format!("`{email}` has API or Claude Code access and no spend or token limit"),
            )
            .at(policy.origins.locate_key(Section::Users, email, &[]))
            .help("set `limits` on the user, a group, a role or `org.defaults`"),
        );
    }
}

fn check_admins(policy: &Policy, out: &mut Vec<Diagnostic>) {
    let users = policy.users.len();
    let admins: Vec<&String> = policy
        .users
        .iter()
        .filter(|(_, u)| u.role.is_admin())
        .map(|(e, _)| e)
        .collect();
    // At most 10% of users, and one admin is always fine (a small org needs its owner).
    let allowed = (users / 10).max(1);
    if admins.len() > allowed {
        let last = admins[admins.len() - 1];
        out.push(
            Diagnostic::warning(
                "too-many-admins",
                format!(
                    "{} of {users} users are owners or admins, more than 10%",
                    admins.len()
                ),
            )
            .at(policy.origins.locate(Section::Users, last, &["role"]))
            .help(format!(
                "least privilege: at most {allowed} for {users} users; owners and admins are {}",
                backticked(&admins.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_plainly() {
        assert!(is_email("a.b+c@acme.com"));
        assert!(!is_email("acme.com"));
        assert!(!is_email("a@acme"));
        assert!(!is_email("a b@acme.com"));
        assert!(!is_email("a@b@acme.com"));
    }

    #[test]
    fn patterns_allow_globs_only() {
        assert!(is_valid_pattern("claude-opus-4*"));
        assert!(is_valid_pattern("claude-?-x"));
        assert!(!is_valid_pattern("claude opus"));
        assert!(!is_valid_pattern("claude-[a]"));
        assert!(!is_valid_pattern(""));
    }
}

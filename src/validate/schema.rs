//! The schema pass and the typed decoding of each file; the messages of schema errors.

use crate::diag::Code;
use serde_json::Value;

use super::Decoded;
use crate::diag::{self, Diagnostic};
use crate::load::Document;
use crate::model::{MaxRemovals, PolicyFile};

pub(super) fn compile(
    schema: &Value,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<jsonschema::Validator> {
    match jsonschema::draft7::new(schema) {
        Ok(validator) => Some(validator),
        Err(error) => {
            diagnostics.push(Diagnostic::error(
                Code::Schema,
                format!("the built-in schema does not compile: {error}"),
            ));
            None
        }
    }
}

// One file as `check_dir` reads it: decoded the fast way (straight from the parser's
// events, `typed`) when that gave a policy file the schema accepts too, the slow way
// ([`decode`]) otherwise, so the diagnostics are the precise ones.
pub(super) fn decode_file(
    schema: &Value,
    validator: &jsonschema::Validator,
    mut document: Document,
    typed: Option<PolicyFile>,
    text: &str,
) -> Decoded {
    match typed {
        Some(mut file) if within_schema(&file) => {
            fit_lists(&mut file);
            (document, Ok(file))
        }
        Some(_) => {
            // The fast way built no JSON value: the schema needs one. (The spans are the
            // same either way.)
            document.value = crate::load::reparse_value(text).unwrap_or_default();
            decode(schema, validator, document, Some(text))
        }
        None => decode(schema, validator, document, Some(text)),
    }
}

// What the schema requires that serde's decoding does not enforce, checked on the decoded
// file: every such keyword of the schema is listed in the test
// `every_schema_keyword_serde_does_not_enforce_is_checked`, with where it is checked.
pub(super) fn within_schema(file: &PolicyFile) -> bool {
    let org = file.org.as_ref().is_none_or(|org| {
        // `minLength: 1`
        !org.name.is_empty()
            && match &org.safety.max_removals {
                MaxRemovals::Count(_) => true,
                MaxRemovals::Percent(text) => is_percent(text),
            }
    });
    // `propertyNames: {minLength: 1}`
    let names = file.roles.keys().chain(file.groups.keys());
    org && names.into_iter().all(|name| !name.is_empty())
}

// The lists of a large org's users and groups at their size. Read from the parser's
// events, a list grows as its items come (room for 4 names for 1 or 2, twice the memory),
// and the policy keeps them to the end of the run; the JSON value gave them their size.
fn fit_lists(file: &mut PolicyFile) {
    fn fit(list: &mut Vec<String>) {
        if list.capacity() > list.len() {
            let mut exact = Vec::with_capacity(list.len());
            exact.append(list);
            *list = exact;
        }
    }
    for user in file.users.values_mut() {
        fit(&mut user.groups);
    }
    for group in file.groups.values_mut() {
        fit(&mut group.members);
        fit(&mut group.roles);
    }
}

// The schema's `pattern` of a percentage: `^[0-9]{1,3}(\.[0-9]+)?%$`.
pub(super) fn is_percent(text: &str) -> bool {
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let Some(number) = text.strip_suffix('%') else {
        return false;
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (number, None),
    };
    digits(whole) && whole.len() <= 3 && fraction.is_none_or(digits)
}

// The schema check, then the typed decoding; the JSON value is dropped either way (only
// the spans are kept, for `file:line` provenance). With the file's `text`, the value is
// decoded without tracking the path (a third of the decoding's cost, for every key of a
// large org): only when that fails is the value built again from the text and decoded
// with the path, so the diagnostic is the same either way.
pub(super) fn decode(
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
                    let found = Diagnostic::error(Code::Schema, plain.to_string());
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
            Diagnostic::error(Code::Schema, format!("{}", error.inner()))
                .at(document.locate(&pointer)),
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
            Diagnostic::error(Code::Schema, format!("unknown field `{name}` in {within}"))
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
                Code::Schema,
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
            Diagnostic::error(Code::Schema, message)
                .at(here)
                .maybe_help(description)
        }
        Kind::Required { property } => {
            let property = property.as_str().unwrap_or_default();
            Diagnostic::error(
                Code::Schema,
                format!("missing field `{property}` in `{field}`"),
            )
            .at(document.locate_key(&instance_pointer))
        }
        Kind::Minimum { limit } => Diagnostic::error(
            Code::Schema,
            format!(
                "`{}` is below the minimum `{limit}` for `{field}`",
                short_value(instance)
            ),
        )
        .at(here),
        Kind::Maximum { limit } => Diagnostic::error(
            Code::Schema,
            format!(
                "`{}` is above the maximum `{limit}` for `{field}`",
                short_value(instance)
            ),
        )
        .at(here)
        .maybe_help(description),
        Kind::MinLength { .. } => Diagnostic::error(Code::Schema, format!("`{field}` is empty"))
            .at(here)
            .maybe_help(description),
        Kind::PropertyNames { .. } => {
            Diagnostic::error(Code::Schema, format!("a name in `{field}` is empty"))
                .at(document.locate_key(&format!("{instance_pointer}/")))
                .help("give it a name")
        }
        _ => Diagnostic::error(
            Code::Schema,
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

pub(super) fn backticked(names: &[&str]) -> String {
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

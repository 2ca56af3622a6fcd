//! The JSON Schema of a policy file, generated from the policy types and tidied for
//! editors and draft-07.

use super::PolicyFile;

/// The JSON Schema of a policy file, draft-07, as committed in `schema/orgplan.schema.json`.
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut value = generator.into_root_schema_for::<PolicyFile>().to_value();
    tidy_schema(&mut value);
    describe_at_the_property(&mut value);
    value
}

// The YAML language server shows a referenced definition's description on hover instead
// of the property's own, which is the one written for that place ("Guard rails that refuse
// a dangerous plan" rather than the type's doc). So the properties keep the text: enum
// definitions hand their list of values to every property that uses them, and then no
// definition keeps a description of its own.
pub(crate) fn describe_at_the_property(schema: &mut serde_json::Value) {
    use serde_json::Value;
    let Some(definitions) = schema.get("definitions").and_then(Value::as_object) else {
        return;
    };
    // For an enum, the value list that follows the first line of its description.
    let value_lists: std::collections::BTreeMap<String, String> = definitions
        .iter()
        .filter(|(_, d)| d.get("enum").is_some())
        .filter_map(|(name, d)| {
            let text = d.get("description")?.as_str()?;
            let list = text.split_once("\n- ")?.1;
            Some((format!("#/definitions/{name}"), format!("\n- {list}")))
        })
        .collect();
    fn walk(node: &mut Value, lists: &std::collections::BTreeMap<String, String>) {
        match node {
            Value::Object(map) => {
                let reference = map
                    .get("allOf")
                    .and_then(|a| a.get(0))
                    .and_then(|r| r.get("$ref"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if let (Some(list), Some(Value::String(description))) = (
                    reference.and_then(|r| lists.get(&r)),
                    map.get_mut("description"),
                ) {
                    description.push_str(list);
                }
                map.values_mut().for_each(|v| walk(v, lists));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, lists)),
            _ => {}
        }
    }
    walk(schema, &value_lists);
    if let Some(definitions) = schema.get_mut("definitions").and_then(Value::as_object_mut) {
        for definition in definitions.values_mut() {
            if let Some(map) = definition.as_object_mut() {
                map.remove("description");
            }
        }
    }
}

// Three rewrites of what schemars writes, for editors and draft-07:
// - a documented unit enum comes as `oneOf` of `const`s; editors complete and validators
//   report `enum` better, so fold it into `enum` and list the values with their meaning in
//   the description (the hover text);
// - an `Option` field also accepts `null`, which is never useful in a policy file;
// - draft-07 ignores the siblings of `$ref`, so wrap it in `allOf` to keep the description.
pub(crate) fn tidy_schema(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(variants)) = map.get("anyOf") {
                let non_null: Vec<Value> = variants
                    .iter()
                    .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
                    .cloned()
                    .collect();
                if non_null.len() == 1 && variants.len() == 2 {
                    map.remove("anyOf");
                    map.insert("allOf".into(), non_null.into());
                }
            }
            if map.len() > 1
                && let Some(reference) = map.remove("$ref")
            {
                map.insert("allOf".into(), serde_json::json!([{ "$ref": reference }]));
            }
            let consts: Option<Vec<(Value, String)>> = map
                .get("oneOf")
                .and_then(Value::as_array)
                .and_then(|variants| {
                    variants
                        .iter()
                        .map(|variant| {
                            let constant = variant.get("const")?.clone();
                            let doc = variant
                                .get("description")
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            Some((constant, doc.to_owned()))
                        })
                        .collect()
                });
            if let Some(consts) = consts {
                map.remove("oneOf");
                let mut description = map
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                for (constant, doc) in &consts {
                    description.push_str(&format!(
                        "\n- `{}`: {doc}",
                        constant.as_str().unwrap_or_default()
                    ));
                }
                map.insert("type".into(), "string".into());
                map.insert("enum".into(), consts.into_iter().map(|(c, _)| c).collect());
                map.insert("description".into(), description.into());
            }
            map.values_mut().for_each(tidy_schema);
        }
        Value::Array(items) => items.iter_mut().for_each(tidy_schema),
        _ => {}
    }
}

/// The schema as the pretty JSON text that is committed.
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

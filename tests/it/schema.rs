//! The JSON Schema: generated from the Rust types, committed, and used by the CLI.

use crate::common::{root, run};

#[test]
fn committed_schema_matches_the_generated_one() {
    let committed =
        std::fs::read_to_string(root().join("schema/orgplan.schema.json")).expect("read a file");
    let (generated, _, code) = run(&["schema"]);
    assert_eq!(code, 0);
    assert!(
        committed == generated,
        "schema/orgplan.schema.json is stale: run `cargo run -- schema > schema/orgplan.schema.json`"
    );
}

fn walk<'a>(
    value: &'a serde_json::Value,
    path: String,
    out: &mut Vec<(String, &'a serde_json::Value)>,
) {
    if let Some(object) = value.as_object() {
        out.push((path.clone(), value));
        for (key, child) in object {
            walk(child, format!("{path}/{key}"), out);
        }
    } else if let Some(items) = value.as_array() {
        for (i, child) in items.iter().enumerate() {
            walk(child, format!("{path}/{i}"), out);
        }
    }
}

#[test]
fn every_property_is_described_and_objects_are_closed() {
    let schema = orgplan::model::json_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let mut nodes = Vec::new();
    walk(&schema, String::new(), &mut nodes);
    for (path, node) in nodes {
        if let Some(properties) = node.get("properties").and_then(|p| p.as_object()) {
            assert_eq!(
                node.get("additionalProperties"),
                Some(&serde_json::Value::Bool(false)),
                "{path} accepts unknown fields"
            );
            for (name, property) in properties {
                assert!(
                    property
                        .get("description")
                        .and_then(|d| d.as_str())
                        .is_some_and(|d| !d.is_empty()),
                    "{path}/properties/{name} has no description"
                );
            }
        }
        // A property that takes an enum lists its values, with their meaning, for hover.
        if let Some(reference) = node
            .get("allOf")
            .and_then(|a| a.get(0))
            .and_then(|r| r.get("$ref"))
            .and_then(|r| r.as_str())
        {
            let name = reference.trim_start_matches("#/definitions/");
            if let Some(values) = schema["definitions"][name]["enum"].as_array() {
                let description = node["description"].as_str().unwrap_or_default();
                for value in values {
                    let listed = format!("- `{}`: ", value.as_str().unwrap_or_default());
                    assert!(
                        description.contains(&listed),
                        "{path} does not list {listed}"
                    );
                }
            }
        }
    }
}

#[test]
fn enums_list_their_values() {
    let schema = orgplan::model::json_schema();
    assert_eq!(
        schema["definitions"]["Plan"]["enum"],
        serde_json::json!(["team", "enterprise"])
    );
    assert_eq!(
        schema["definitions"]["Capability"]["enum"],
        serde_json::json!([
            "chat",
            "claude_code",
            "api",
            "web_search",
            "connectors",
            "file_upload"
        ])
    );
}

#[test]
fn every_code_is_documented_in_the_readme() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("read a file");
    for info in orgplan::diag::CODES {
        let row = format!("| `{}` |", info.code);
        assert!(
            readme.contains(&row),
            "README has no table row for `{}`",
            info.code
        );
    }
}

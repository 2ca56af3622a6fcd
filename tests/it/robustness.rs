//! Property tests: no input makes the loader or the validator panic.

use orgplan::load::{Loaded, load_bytes};
use proptest::prelude::*;

fn check(bytes: Vec<u8>) {
    let mut loaded = Loaded::default();
    load_bytes(&mut loaded, "fuzz.yaml".into(), bytes);
    let checked = orgplan::validate::check(loaded);
    // Every error carries a code the README documents.
    for diagnostic in &checked.diagnostics {
        assert!(
            orgplan::diag::CODES
                .iter()
                .any(|c| c.code == diagnostic.code)
        );
    }
}

// YAML-ish text built from the tokens that matter to parsers and to our schema.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("org:".to_owned()),
        Just("users:".to_owned()),
        Just("groups:".to_owned()),
        Just("roles:".to_owned()),
        Just("plan: team".to_owned()),
        Just("name: x".to_owned()),
        Just("a@x.com:".to_owned()),
        Just("role: primary_owner".to_owned()),
        Just("limits: {spend_usd: {monthly: 5}}".to_owned()),
        Just("- ".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("!!str ".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just(", ".to_owned()),
        Just("? ".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("|\n".to_owned()),
        Just("---\n".to_owned()),
        Just("\n".to_owned()),
        Just("  ".to_owned()),
        Just("\t".to_owned()),
        "[a-z0-9@.: -]{0,8}",
    ];
    proptest::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

// Well-formed YAML documents of arbitrary shape, rendered through JSON (a YAML subset).
fn document() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z_@.]{0,10}".prop_map(serde_json::Value::from),
    ];
    let keys = prop_oneof![
        Just("org".to_owned()),
        Just("users".to_owned()),
        Just("groups".to_owned()),
        Just("roles".to_owned()),
        Just("name".to_owned()),
        Just("plan".to_owned()),
        Just("limits".to_owned()),
        Just("members".to_owned()),
        "[a-z@.]{1,8}",
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(keys.clone(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
    .prop_map(|value| value.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check(bytes);
    }

    #[test]
    fn arbitrary_yamlish_text_never_panics(text in yamlish()) {
        check(text.into_bytes());
    }

    #[test]
    fn arbitrary_documents_never_panic(text in document()) {
        check(text.into_bytes());
    }
}

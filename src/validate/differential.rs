//! Tests only: the fast reading of a file (typed, straight from the parser's events)
//! against the slow one (JSON value, schema, `serde_json::from_value`). Where the fast one
//! accepts a file, the slow one accepts it too, with the same policy file and the same
//! spans; and the whole check gives the same diagnostics and policy either way.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use super::super::schema::within_schema;
    use super::super::{check, check_bytes};
    use crate::load::{Loaded, load_bytes, load_bytes_typed};
    use crate::model::PolicyFile;

    // How one text fared the fast way.
    #[derive(Debug, PartialEq)]
    enum Fast {
        // Decoded and within the schema: the file is taken as is.
        Taken,
        // Decoded, but outside the schema: the slow way reads it.
        OutsideSchema,
        // Not on the happy path: the slow way reads it.
        GaveUp,
    }

    // Read `text` both ways and hold the fast one to the slow one. How the fast way fared.
    fn compare(name: &str, text: &str) -> Fast {
        // The fast way: the typed file and the document's spans.
        let mut fast = crate::load::LoadedWith::default();
        load_bytes_typed(
            &mut fast,
            name.to_owned(),
            text.as_bytes().to_vec(),
            |document, typed: Option<PolicyFile>, _| (format!("{document:?}"), typed),
        );
        // The slow way: the JSON value, the schema, the typed file.
        let mut slow = Loaded::default();
        load_bytes(&mut slow, name.to_owned(), text.as_bytes().to_vec());
        let schema = crate::model::json_schema();
        let validator = jsonschema::draft7::new(&schema).unwrap_or_else(|e| panic!("{e}"));
        let slow_file = slow.documents.pop().map(|mut document| {
            let value = std::mem::take(&mut document.value);
            let valid = validator.is_valid(&value);
            let file = serde_json::from_value::<PolicyFile>(value).ok();
            (format!("{document:?}"), valid.then_some(file).flatten())
        });
        let Some((fast_document, Some(file))) = fast.documents.pop() else {
            return Fast::GaveUp;
        };
        let Some((slow_document, slow_file)) = slow_file else {
            panic!("{name}: the fast way read a file the slow way has no document for:\n{text}")
        };
        assert_eq!(
            fast_document, slow_document,
            "{name}: spans differ:\n{text}"
        );
        if !within_schema(&file) {
            assert!(
                slow_file.is_none(),
                "{name}: the fast way sends a valid file the slow way:\n{text}"
            );
            return Fast::OutsideSchema;
        }
        let Some(slow_file) = slow_file else {
            panic!("{name}: the fast way accepts what the slow way refuses:\n{text}")
        };
        assert_eq!(
            format!("{file:?}"),
            format!("{slow_file:?}"),
            "{name}: the files differ:\n{text}"
        );
        assert_eq!(
            serde_json::to_value(&file).ok(),
            serde_json::to_value(&slow_file).ok(),
            "{name}"
        );
        Fast::Taken
    }

    // The whole check of `files` both ways: the same diagnostics, the same policy.
    fn same_check(files: &[(String, String)]) {
        let fast = check_bytes(
            files
                .iter()
                .map(|(name, text)| (name.clone(), text.as_bytes().to_vec())),
        );
        let mut loaded = Loaded::default();
        for (name, text) in files {
            load_bytes(&mut loaded, name.clone(), text.as_bytes().to_vec());
        }
        let slow = check(loaded);
        assert_eq!(fast.diagnostics, slow.diagnostics, "{files:?}");
        assert_eq!(
            fast.policy.as_ref().map(view),
            slow.policy.as_ref().map(view),
            "{files:?}"
        );
    }

    // What a policy holds, written out deterministically (`Declared`'s hash tables iterate in
    // an order of their own): every entity, membership and document (with its spans), and
    // where each entity is declared.
    fn view(policy: &crate::model::Policy) -> String {
        use crate::model::Section;
        let mut out = format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n",
            policy.org,
            policy.roles,
            policy.groups,
            policy.users,
            policy.memberships,
            policy.origins.documents
        );
        let declared = &policy.origins.declared;
        out.push_str(&format!("{:?}\n", declared.get(Section::Org, "")));
        for (section, names) in [
            (Section::Roles, policy.roles.keys().collect::<Vec<_>>()),
            (Section::Groups, policy.groups.keys().collect()),
            (Section::Users, policy.users.keys().collect()),
        ] {
            for name in names {
                out.push_str(&format!("{name}: {:?}\n", declared.get(section, name)));
            }
        }
        out
    }

    fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap_or_else(|e| panic!("{e}")).path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                yaml_files(&path, out);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
            {
                out.push(path);
            }
        }
    }

    fn read_dir_texts(dir: &Path) -> Vec<(String, String)> {
        let mut paths = Vec::new();
        yaml_files(dir, &mut paths);
        paths
            .into_iter()
            .map(|path| {
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
                (path.display().to_string(), text)
            })
            .collect()
    }

    #[test]
    fn the_example_org_is_read_the_fast_way_as_the_slow_way_reads_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let files: Vec<_> = read_dir_texts(&root)
            .into_iter()
            .filter(|(name, _)| !crate::load::is_test_file(Path::new(name)))
            .collect();
        assert!(files.len() >= 5, "{files:?}");
        for (name, text) in &files {
            assert_eq!(compare(name, text), Fast::Taken, "{name}");
        }
        same_check(&files);
        let checked = super::super::check_dir(&root).unwrap_or_else(|e| panic!("{e}"));
        assert!(checked.policy.is_some(), "{:?}", checked.diagnostics);
    }

    #[test]
    fn a_synthetic_org_is_read_the_fast_way_as_the_slow_way_reads_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        crate::synth::generate(1500, 3, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let files = read_dir_texts(dir.path());
        assert!(files.len() >= 4, "{files:?}");
        for (name, text) in &files {
            assert_eq!(compare(name, text), Fast::Taken, "{name}");
        }
        same_check(&files);
    }

    // Every fixture, most of them made to fail one way or another.
    #[test]
    fn every_fixture_is_read_the_fast_way_as_the_slow_way_reads_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut paths = Vec::new();
        yaml_files(&root, &mut paths);
        let mut taken = 0;
        for path in &paths {
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
            if compare(&path.display().to_string(), &text) == Fast::Taken {
                taken += 1;
            }
            if let Some(dir) = path.parent()
                && !dirs.iter().any(|known| known == dir)
            {
                dirs.push(dir.to_owned());
            }
        }
        assert!(taken >= 20, "only {taken} fixtures read the fast way");
        for dir in dirs {
            let files: Vec<_> = read_dir_texts(&dir)
                .into_iter()
                .filter(|(name, _)| !crate::load::is_test_file(Path::new(name)))
                .collect();
            same_check(&files);
        }
    }

    const ORG: &str = "org:\n  name: Acme\n  plan: enterprise\n";

    // Hand-made inputs at the edges: each schema keyword broken once, and what YAML can write
    // that JSON cannot. (input, how the fast way must fare.)
    const EDGES: &[(&str, Fast)] = &[
        // The happy path.
        ("version: 1\norg: {name: Acme, plan: team}\n", Fast::Taken),
        (
            "users:\n  \"Ünïcode@Exämple.com\": {name: Zoë}\n",
            Fast::Taken,
        ),
        (
            "users:\n  a@b.com: {}\n  b@b.com: {role: admin, seat: premium, external: true}\n",
            Fast::Taken,
        ),
        (
            "groups:\n  \"007\": {members: [a@b.com]}\n  1.10: {}\n  true: {}\n  ~: {}\n",
            Fast::Taken,
        ),
        (
            "roles:\n  r: {limits: {spend_usd: {daily: 0.5, weekly: 0, monthly: 9007199254740992}}}\n",
            Fast::Taken,
        ),
        (
            "roles:\n  r: {limits: {tokens: {daily: 1e3, monthly: 0x10}}}\n",
            Fast::Taken,
        ),
        (
            "roles:\n  r: {limits: {tokens: {daily: -0.0}}}\n",
            Fast::Taken,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: \"12.5%\"}}\n",
            Fast::Taken,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: 0, min_admins: 0}}\n",
            Fast::Taken,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: 4294967295}}\n",
            Fast::Taken,
        ),
        ("org: {name: .nan, plan: team}\n", Fast::GaveUp),
        (
            "org: {name: '5', plan: team, domains: ['1', \"2\", three]}\n",
            Fast::Taken,
        ),
        ("users:\n  '': {}\n", Fast::Taken),
        (
            "users:\n  a@b.com:\n    name: >\n      folded\n      text\n",
            Fast::Taken,
        ),
        ("users:\n  ? a@b.com\n  : {groups: []}\n", Fast::Taken),
        ("---\nusers: {a@b.com: {}}\n...\n", Fast::Taken),
        ("%YAML 1.2\n---\nusers: {a@b.com: {}}\n", Fast::Taken),
        // `version`: integer, 1 to 1.
        ("version: 2\n", Fast::GaveUp),
        ("version: 1.0\n", Fast::Taken),
        ("version: 1.5\n", Fast::GaveUp),
        ("version: 0\n", Fast::GaveUp),
        ("version: '1'\n", Fast::GaveUp),
        ("version: ~\n", Fast::GaveUp),
        ("version: true\n", Fast::GaveUp),
        // `minLength` of `org.name`.
        ("org: {name: '', plan: team}\n", Fast::OutsideSchema),
        ("org: {name: , plan: team}\n", Fast::GaveUp),
        // `required`.
        ("org: {name: Acme}\n", Fast::GaveUp),
        (
            "org: {name: Acme, plan: enterprise, sso: {enforced: true}}\n",
            Fast::GaveUp,
        ),
        // `enum`.
        ("org: {name: Acme, plan: business}\n", Fast::GaveUp),
        ("org: {name: Acme, plan: {team: ~}}\n", Fast::GaveUp),
        ("users: {a@b.com: {role: Admin}}\n", Fast::GaveUp),
        ("roles: {r: {limits: {cents: {daily: 1}}}}\n", Fast::GaveUp),
        (
            "roles: {r: {limits: {tokens: {hourly: 1}}}}\n",
            Fast::GaveUp,
        ),
        // `additionalProperties: false`.
        ("org: {name: Acme, plan: team, colour: red}\n", Fast::GaveUp),
        ("users: {a@b.com: {email: a@b.com}}\n", Fast::GaveUp),
        ("policy: {}\n", Fast::GaveUp),
        // `type`.
        ("org: {name: 5, plan: team}\n", Fast::GaveUp),
        ("org: {name: [Acme], plan: team}\n", Fast::GaveUp),
        (
            "org: {name: Acme, plan: team, seats: {standard: 5.0}}\n",
            Fast::GaveUp,
        ),
        (
            "org: {name: Acme, plan: team, seats: {standard: '5'}}\n",
            Fast::GaveUp,
        ),
        (
            "org: {name: Acme, plan: team, seats: {standard: 99999999999}}\n",
            Fast::GaveUp,
        ),
        (
            "org: {name: Acme, plan: team, seats: {premium: -1}}\n",
            Fast::GaveUp,
        ),
        (
            "org: {name: Acme, plan: team, sso: [true, saml]}\n",
            Fast::GaveUp,
        ),
        (
            "org: {name: Acme, plan: team, domains: a.com}\n",
            Fast::GaveUp,
        ),
        (
            "org: {name: Acme, plan: team, capabilities: [chat, ~]}\n",
            Fast::GaveUp,
        ),
        ("users: {a@b.com: {external: yes}}\n", Fast::GaveUp),
        ("users: {a@b.com: {groups: [1]}}\n", Fast::GaveUp),
        ("users: {a@b.com: ~}\n", Fast::GaveUp),
        ("users: {a@b.com: []}\n", Fast::GaveUp),
        ("users: [a@b.com]\n", Fast::GaveUp),
        ("users: ~\n", Fast::GaveUp),
        ("org: ~\n", Fast::GaveUp),
        ("- org\n", Fast::GaveUp),
        ("just text\n", Fast::GaveUp),
        // `null` where an `Option` is read.
        ("users: {a@b.com: {name: ~}}\n", Fast::GaveUp),
        ("users: {a@b.com: {name: }}\n", Fast::GaveUp),
        (
            "roles: {r: {description: null, models: {allow: ~}}}\n",
            Fast::GaveUp,
        ),
        ("org: {name: Acme, plan: team, models: ~}\n", Fast::GaveUp),
        // `minimum` / `maximum` of an amount.
        (
            "roles: {r: {limits: {spend_usd: {daily: -1}}}}\n",
            Fast::GaveUp,
        ),
        (
            "roles: {r: {limits: {spend_usd: {daily: -0.5}}}}\n",
            Fast::GaveUp,
        ),
        (
            "roles: {r: {limits: {spend_usd: {daily: 9007199254740993}}}}\n",
            Fast::GaveUp,
        ),
        (
            "roles: {r: {limits: {spend_usd: {daily: 1e300}}}}\n",
            Fast::GaveUp,
        ),
        (
            "roles: {r: {limits: {spend_usd: {daily: .inf}}}}\n",
            Fast::GaveUp,
        ),
        (
            "roles: {r: {limits: {spend_usd: {daily: '5'}}}}\n",
            Fast::GaveUp,
        ),
        // `anyOf` and `pattern` of `max_removals`.
        (
            "org: {name: Acme, plan: team, safety: {max_removals: \"1000%\"}}\n",
            Fast::OutsideSchema,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: \"10\"}}\n",
            Fast::OutsideSchema,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: \"10.%\"}}\n",
            Fast::OutsideSchema,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: \"1.2.3%\"}}\n",
            Fast::OutsideSchema,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: \"10%\\n\"}}\n",
            Fast::OutsideSchema,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: \" 10%\"}}\n",
            Fast::OutsideSchema,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: \"١٠%\"}}\n",
            Fast::OutsideSchema,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: 10.5}}\n",
            Fast::GaveUp,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: -3}}\n",
            Fast::GaveUp,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: [1]}}\n",
            Fast::GaveUp,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: {a: 1}}}\n",
            Fast::GaveUp,
        ),
        (
            "org: {name: Acme, plan: team, safety: {max_removals: ~}}\n",
            Fast::GaveUp,
        ),
        // `propertyNames` of roles and groups (not users).
        ("roles:\n  '': {}\n", Fast::OutsideSchema),
        ("groups:\n  \"\": {}\n", Fast::OutsideSchema),
        ("groups:\n  : {}\n", Fast::OutsideSchema),
        // What YAML writes and the fast way leaves to the slow one.
        ("users:\n  a@b.com: {}\n  a@b.com: {}\n", Fast::GaveUp),
        ("users:\n  1: {}\n  \"1\": {}\n", Fast::GaveUp),
        ("org: {name: Acme, name: Acme, plan: team}\n", Fast::GaveUp),
        (
            "roles:\n  a: &r {capabilities: [chat]}\n  b: *r\n",
            Fast::GaveUp,
        ),
        (
            "users: {a@b.com: {name: &n Al}, b@b.com: {name: *n}}\n",
            Fast::GaveUp,
        ),
        // An alias of an anchor never defined is an error the parser meets while the fast
        // way only peeks: in a list, where an `Option` is read, anywhere.
        (
            "org: {name: Acme, plan: team, safety: {protected: [*nobody@b.com, a@b.com]}}\n",
            Fast::GaveUp,
        ),
        ("users: {a@b.com: {groups: [g, *h]}}\n", Fast::GaveUp),
        ("users: {a@b.com: {groups: [*h]}}\n", Fast::GaveUp),
        ("users: {a@b.com: {name: *n, role: admin}}\n", Fast::GaveUp),
        ("users: {a@b.com: {seat: *s}}\n", Fast::GaveUp),
        ("users: {a@b.com: *u}\n", Fast::GaveUp),
        ("*root\n", Fast::GaveUp),
        ("users: {a@b.com: {name: !!str 5}}\n", Fast::GaveUp),
        ("users: {a@b.com: {name: !custom Al}}\n", Fast::GaveUp),
        ("users: !!map {a@b.com: {}}\n", Fast::GaveUp),
        ("users: {a@b.com: {groups: !!seq [g]}}\n", Fast::GaveUp),
        ("users:\n  ? [a, b]\n  : {}\n", Fast::GaveUp),
        ("users:\n  ? {a: b}\n  : {}\n", Fast::GaveUp),
        (
            "users: {a@b.com: {}}\n---\nusers: {b@b.com: {}}\n",
            Fast::GaveUp,
        ),
        ("---\n", Fast::GaveUp),
        ("~\n", Fast::GaveUp),
        ("# nothing\n", Fast::GaveUp),
        ("", Fast::GaveUp),
        ("users: {a@b.com: {}\n", Fast::GaveUp),
        ("users:\n  a@b.com: {}\n bad indent: 1\n", Fast::GaveUp),
        ("users: {a@b.com: {name: \"\\xZZ\"}}\n", Fast::GaveUp),
    ];

    #[test]
    fn edge_inputs_are_read_the_fast_way_only_as_the_slow_way_reads_them() {
        for (n, (text, expected)) in EDGES.iter().enumerate() {
            let name = format!("edge-{n}.yaml");
            assert_eq!(&compare(&name, text), expected, "{text}");
            // Alone, and beside an org (so that a file that is taken goes on to the rules).
            same_check(&[(name.clone(), (*text).to_owned())]);
            same_check(&[
                ("org.yaml".to_owned(), ORG.to_owned()),
                (name, (*text).to_owned()),
            ]);
        }
    }

    #[test]
    fn deep_nesting_is_left_to_the_slow_way() {
        let deep = format!(
            "org: {{name: Acme, plan: team, safety: {{max_removals: {}1{}}}}}\n",
            "[".repeat(70),
            "]".repeat(70)
        );
        assert_eq!(compare("deep.yaml", &deep), Fast::GaveUp);
        same_check(&[("deep.yaml".to_owned(), deep)]);
    }

    // Every keyword of the schema, and for those serde's decoding does not enforce by itself,
    // where they are checked. A keyword added to the schema fails here until the fast way
    // checks it (in `within_schema`) or the reason it needs no check is written down.
    #[test]
    fn every_schema_keyword_serde_does_not_enforce_is_checked() {
        fn walk(node: &Value, pointer: &str, out: &mut Vec<String>) {
            match node {
                Value::Object(map) => {
                    for (key, value) in map {
                        let here = format!("{pointer}/{key}");
                        // A property's or a definition's name is not a keyword.
                        if pointer.ends_with("/properties") || pointer.ends_with("/definitions") {
                            walk(value, &here, out);
                            continue;
                        }
                        out.push(here.clone());
                        walk(value, &here, out);
                    }
                }
                Value::Array(items) => {
                    for (n, item) in items.iter().enumerate() {
                        walk(item, &format!("{pointer}/{n}"), out);
                    }
                }
                _ => {}
            }
        }
        let schema = crate::model::json_schema();
        let mut found = Vec::new();
        walk(&schema, "", &mut found);
        // Enforced by the types themselves (serde): the shape, names, required fields, enums.
        let enforced = [
            "type",
            "properties",
            "additionalProperties",
            "required",
            "items",
            "enum",
            "$ref",
            "allOf",
            "anyOf",
            // Annotations, not constraints.
            "default",
            "description",
            "title",
            "$schema",
            "definitions",
        ];
        let checked: Vec<&str> = found
            .iter()
            .map(String::as_str)
            .filter(|pointer| {
                let keyword = pointer.rsplit('/').next().unwrap_or_default();
                !enforced.contains(&keyword)
                    // Inside `propertyNames`, the constraint is the `propertyNames` itself.
                    && !pointer.contains("/propertyNames/")
                    // A default value is not a constraint either.
                    && !pointer.contains("/default/")
            })
            .collect();
        assert_eq!(
            checked,
            [
                // `version_one` reads 1 only.
                "/properties/version/format",
                "/properties/version/minimum",
                "/properties/version/maximum",
                // `within_schema`: no empty role or group name.
                "/properties/roles/propertyNames",
                "/properties/groups/propertyNames",
                // `within_schema`: no empty org name.
                "/definitions/Org/properties/name/minLength",
                // `u32`.
                "/definitions/Seats/properties/standard/format",
                "/definitions/Seats/properties/standard/minimum",
                "/definitions/Seats/properties/premium/format",
                "/definitions/Seats/properties/premium/minimum",
                // `Amount`'s own reading: 0 to 2^53.
                "/definitions/Amount/maximum",
                "/definitions/Amount/minimum",
                // `u32`.
                "/definitions/Safety/properties/min_admins/format",
                "/definitions/Safety/properties/min_admins/minimum",
                "/definitions/MaxRemovals/anyOf/0/format",
                "/definitions/MaxRemovals/anyOf/0/minimum",
                // `within_schema`: `is_percent`.
                "/definitions/MaxRemovals/anyOf/1/pattern",
            ]
        );
    }

    #[test]
    fn the_percent_pattern_is_the_schemas() {
        for text in [
            "10%", "0%", "100%", "999%", "12.5%", "1.25%", "0.0%", "1000%", "%", "10", "10.%",
            ".5%", "1.2.3%", "10%%", " 10%", "10% ", "+1%", "-1%", "1e2%", "١%",
        ] {
            assert_eq!(
                super::super::schema::is_percent(text),
                schema_accepts_percent(text),
                "{text}"
            );
        }
    }

    // The schema's own verdict on a percentage.
    fn schema_accepts_percent(text: &str) -> bool {
        let schema = crate::model::json_schema();
        let pattern = schema
            .pointer("/definitions/MaxRemovals/anyOf/1")
            .unwrap_or_else(|| panic!("no pattern"));
        let validator = jsonschema::draft7::new(pattern).unwrap_or_else(|e| panic!("{e}"));
        validator.is_valid(&Value::String(text.to_owned()))
    }
}

//! The fuzz targets' seed corpus (`fuzz/corpus/`) still reaches past the decoders: a seed
//! that no longer decodes (after a format change, say) would leave the fuzzer exploring
//! error paths only. Each seed goes through the library entry point its target drives.

use std::path::{Path, PathBuf};

use orgplan::load::{Loaded, load_bytes};
use orgplan::provider::anthropic::{AnthropicError, read_with};
use orgplan::provider::scim::map;

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut found: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("the seed folder")
        .map(|entry| {
            let path = entry.expect("a seed").path();
            let bytes = std::fs::read(&path).expect("a readable seed");
            (path, bytes)
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no seeds in {}", dir.display());
    found
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    seeds(target)
        .into_iter()
        .find(|(path, _)| path.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("no seed {target}/{name}"))
        .1
}

#[test]
fn policy_seeds_of_valid_folders_validate() {
    for name in ["example", "team-plan", "drift-policies"] {
        let bytes = seed("policy", name);
        let mut loaded = Loaded::default();
        // The target's separator between files.
        let text = String::from_utf8(bytes).expect("UTF-8");
        for (n, file) in text.split("\n#file\n").enumerate() {
            load_bytes(&mut loaded, format!("{n}.yaml"), file.as_bytes().to_vec());
        }
        let checked = orgplan::validate::check(loaded);
        assert!(
            checked.policy.is_some(),
            "{name}: {:?}",
            checked.diagnostics
        );
    }
}

#[test]
fn every_live_file_seed_decodes() {
    for (path, bytes) in seeds("live_file") {
        let state = orgplan::provider::file::parse(&path, &bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!state.users.is_empty(), "{}", path.display());
    }
}

#[test]
fn every_saved_plan_seed_decodes() {
    for (path, bytes) in seeds("saved_plan") {
        let plan = orgplan::apply::parse_plan(&path, &bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!plan.operations.is_empty(), "{}", path.display());
    }
}

#[test]
fn scim_seeds_decode_to_users_groups_roles_and_the_org() {
    let resources = |name: &str| -> Vec<serde_json::Value> {
        let body: serde_json::Value =
            serde_json::from_slice(&seed("scim_body", name)).expect("JSON");
        body["Resources"].as_array().cloned().unwrap_or_default()
    };
    let users: Vec<_> = resources("users.json")
        .iter()
        .filter_map(|r| map::user_from_scim(r, true))
        .map(|(email, _)| email)
        .collect();
    assert_eq!(users, ["ada@example.com", "bob@example.com"]);
    let groups = resources("groups.json");
    let (name, group) = map::group_from_scim(&groups[0], true).expect("a group");
    assert_eq!(
        (name.as_str(), group.roles.as_slice()),
        ("eng", &["dev".to_owned()][..])
    );
    // An unknown capability would empty the whole list without a word.
    let both = serde_json::json!(["chat", "claude_code"]);
    let (_, role) = map::role_from_scim(&resources("roles.json")[0]).expect("a role");
    assert_eq!(serde_json::json!(role.capabilities), both);
    let org = map::org_from_scim(&resources("org.json")[0]).expect("the org");
    assert_eq!(serde_json::json!(org.capabilities), both);
}

#[test]
fn the_anthropic_seed_is_a_whole_read() {
    let bytes = seed("anthropic_read", "org");
    let mut bodies = bytes.split(|b| *b == 0xFF);
    let mut get = |path: &str| {
        let body = bodies
            .next()
            .ok_or_else(|| AnthropicError::Unmappable(format!("no answer left for {path}")))?;
        serde_json::from_slice(body).map_err(|e| AnthropicError::Unmappable(e.to_string()))
    };
    let state = read_with(&mut get).expect("the seed reads");
    assert_eq!(bodies.next(), None, "every answer of the seed is asked for");
    let users: Vec<&str> = state.users.keys().map(String::as_str).collect();
    assert_eq!(
        users,
        [
            "ada@example.com",
            "bob@example.com",
            "cy@example.com",
            "dee@example.com"
        ]
    );
    assert_eq!(state.groups["eng"].roles, ["dev"]);
    assert_eq!(
        state.groups["eng"].members.len(),
        2,
        "a member and an invite"
    );
    assert!(state.roles.contains_key("dev"));
}

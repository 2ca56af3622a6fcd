//! A SCIM response body through the decoders of the SCIM provider's read
//! (`provider::scim::map`): the body as a list page, each of its `Resources` read as a
//! user (with and without orgplan's extension), a group, a custom role and the org; the
//! body itself as one resource (a group read with its members). What decodes is mapped
//! back to the attributes orgplan would write, and the state normalized as a read does.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orgplan::live::LiveState;
use orgplan::provider::http::Response;
use orgplan::provider::scim::map;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let response = Response {
        status: 200,
        headers: Vec::new(),
        body: String::from_utf8_lossy(data).into_owned(),
    };
    let Ok(body) = response.json() else {
        return;
    };
    let mut resources = body
        .get("Resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    resources.push(body);
    let mut state = LiveState::default();
    for resource in &resources {
        for extension in [false, true] {
            if let Some((email, user)) = map::user_from_scim(resource, extension) {
                let attributes = map::user_to_scim(&email, &user, extension, resource);
                let _ = map::merged(resource, &attributes, map::USER);
                state.users.insert(email, user);
            }
            if let Some((name, group)) = map::group_from_scim(resource, extension) {
                let _ = map::group_to_scim(&name, &group, extension);
                state.groups.insert(name, group);
            }
        }
        if let Some((name, role)) = map::role_from_scim(resource) {
            let _ = map::role_to_scim(&name, &role);
            state.roles.insert(name, role);
        }
        if let Some(org) = map::org_from_scim(resource) {
            let _ = map::org_to_scim(&org);
            state.org = Some(org);
        }
        if let Some(members) = resource.get("members").and_then(Value::as_array) {
            let _: Vec<&str> = members
                .iter()
                .filter_map(|m| m.get("value")?.as_str())
                .collect();
        }
    }
    let state = state.normalized();
    let _ = orgplan::plan::live_index(&state);
});

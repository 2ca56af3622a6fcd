//! What the targets share: a policy and a live state to plan the fuzzed input against,
//! and the renderers every plan goes through.

#![allow(dead_code, reason = "each target uses a part")]

use std::sync::OnceLock;

use orgplan::live::LiveState;
use orgplan::load::{Loaded, load_bytes};
use orgplan::model::Policy;
use orgplan::plan::{self, Plan};
use orgplan::provider::Capabilities;

/// The drift fixture's policy: small, with roles, groups, limits and protections.
pub fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let mut loaded = Loaded::default();
        for (name, text) in [
            (
                "org.yaml",
                &include_bytes!("../../tests/fixtures/drift/policies/org.yaml")[..],
            ),
            (
                "users.yaml",
                &include_bytes!("../../tests/fixtures/drift/policies/users.yaml")[..],
            ),
        ] {
            load_bytes(&mut loaded, name.to_owned(), text.to_vec());
        }
        let checked = orgplan::validate::check(loaded);
        checked.policy.expect("the drift fixture validates")
    })
}

/// The drift fixture's live state.
pub fn live() -> &'static LiveState {
    static LIVE: OnceLock<LiveState> = OnceLock::new();
    LIVE.get_or_init(|| {
        let bytes = include_bytes!("../../tests/fixtures/drift/live.json");
        orgplan::provider::file::parse(std::path::Path::new("live.json"), bytes)
            .expect("the drift fixture's live state reads")
    })
}

/// Plan `policy` against `live` as `orgplan plan` does, and render the plan (or the
/// refusal) in every format.
pub fn plan_and_render(policy: &Policy, live: &LiveState) {
    let options = plan::Options {
        live: "file:live.json".to_owned(),
        allow_removals: None,
        shown_only: false,
    };
    match plan::build(policy, live, &Capabilities::full(), &options) {
        Ok(plan) => {
            render(&plan);
            let access = plan::access_changes(&plan, policy, live);
            let mut out = Vec::new();
            plan::render_markdown(&plan, &access, &mut out).expect("writes to a Vec");
        }
        Err(refused) => {
            let _ = refused.to_string();
        }
    }
}

/// Render `plan` in the formats that do not need the policy.
pub fn render(plan: &Plan) {
    let mut out = Vec::new();
    plan::render_human(plan, &mut out, false).expect("writes to a Vec");
    plan::render_human(plan, &mut out, true).expect("writes to a Vec");
    plan::render_json(plan, &mut out).expect("writes to a Vec");
    plan::render_github(plan, &mut out).expect("writes to a Vec");
    plan::render_markdown(plan, &[], &mut out).expect("writes to a Vec");
}

//! A saved plan (`orgplan apply FILE`) through its decoder; a plan that decodes is
//! rendered, digested, compared with the drift fixture's live state as a stale plan is,
//! and its operations applied to that state as the file provider applies them.

#![no_main]

#[path = "common.rs"]
mod common;

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = orgplan::apply::parse_plan(Path::new("plan.json"), data) else {
        return;
    };
    common::render(&plan);
    let digest = orgplan::plan::digest(&plan);
    let written = serde_json::to_vec(&plan).expect("a plan serializes");
    let again = orgplan::apply::parse_plan(Path::new("plan.json"), &written)
        .unwrap_or_else(|e| panic!("a plan written by orgplan does not read back: {e}"));
    assert_eq!(
        orgplan::plan::digest(&again),
        digest,
        "a plan changes when saved and read back"
    );

    let _ = orgplan::apply::changed_since(&plan, common::live());
    let mut state = common::live().clone();
    let _ = orgplan::apply::apply_all(&mut state, &plan.operations, &mut |_, _| {});
});

//! A live-state file (`--live file:PATH`) through the file provider's decoder; a state
//! that decodes is written and read back (what the next apply reads must be what this one
//! wrote), planned against the drift fixture's policy, exported, and the exported policy
//! validated.

#![no_main]

#[path = "common.rs"]
mod common;

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use orgplan::load::{Loaded, load_bytes};
use orgplan::provider::file;

fuzz_target!(|data: &[u8]| {
    let Ok(state) = file::parse(Path::new("live.json"), data) else {
        return;
    };
    let written = serde_json::to_vec_pretty(&state).expect("a live state serializes");
    let again = file::parse(Path::new("live.json"), &written)
        .unwrap_or_else(|e| panic!("a live state written by orgplan does not read back: {e}"));
    assert_eq!(
        again, state,
        "a live state changes when written and read back"
    );

    common::plan_and_render(common::policy(), &state);
    let _ = orgplan::plan::live_index(&state);
    if let Ok(files) = orgplan::export::export(&state) {
        let mut loaded = Loaded::default();
        for (name, text) in files {
            load_bytes(&mut loaded, name.to_owned(), text.into_bytes());
        }
        let _ = orgplan::validate::check(loaded);
    }
});

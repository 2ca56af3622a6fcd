//! Policy bytes through load and validate, as `orgplan validate` reads a policy folder;
//! the diagnostics rendered in every format; a valid policy resolved, explained and
//! planned against an empty org and against the drift fixture's live state.
//!
//! The input is one file, or several separated by a line `#file` (a YAML comment, so a
//! seed made of several files is still one YAML file).

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use orgplan::diag::{self, Format};
use orgplan::live::LiveState;
use orgplan::load::{Loaded, load_bytes};

const SEPARATOR: &[u8] = b"\n#file\n";
const FILES: usize = 4;
const EXPLAINED: usize = 8;

fuzz_target!(|data: &[u8]| {
    let mut loaded = Loaded::default();
    let mut rest = data;
    for n in 0..FILES {
        let end = if n + 1 == FILES {
            rest.len()
        } else {
            find(rest, SEPARATOR).unwrap_or(rest.len())
        };
        load_bytes(
            &mut loaded,
            format!("policies/{n}.yaml"),
            rest[..end].to_vec(),
        );
        if end == rest.len() {
            break;
        }
        rest = &rest[end + SEPARATOR.len()..];
    }
    let checked = orgplan::validate::check(loaded);
    let mut out = Vec::new();
    for (format, color) in [
        (Format::Human, false),
        (Format::Human, true),
        (Format::Json, false),
        (Format::Github, false),
    ] {
        diag::render(
            &mut out,
            &checked.diagnostics,
            &checked.sources,
            format,
            color,
        )
        .expect("writes to a Vec");
    }
    let Some(policy) = &checked.policy else {
        return;
    };
    for email in policy.users.keys().take(EXPLAINED) {
        if let Some(effective) = orgplan::resolve::resolve(policy, email) {
            let decision = orgplan::resolve::check_model(&effective, "claude-opus-4-1");
            orgplan::explain::render_human(&mut out, &effective, false).expect("writes to a Vec");
            orgplan::explain::render_json(
                &mut out,
                &effective,
                Some(("claude-opus-4-1", &decision)),
            )
            .expect("writes to a Vec");
        }
    }
    common::plan_and_render(policy, &LiveState::default());
    common::plan_and_render(policy, common::live());
});

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

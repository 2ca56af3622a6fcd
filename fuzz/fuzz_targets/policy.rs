//! Policy bytes through load and validate, as `orgplan validate` reads a policy folder;
//! the diagnostics rendered in every format; a valid policy resolved, explained and
//! planned against an empty org and against the drift fixture's live state.
//!
//! The input is one file, or several separated by a line `#file` (a YAML comment, so a
//! seed made of several files is still one YAML file).
//!
//! The same files are also checked the way `orgplan validate` reads a folder (each file
//! decoded straight from the YAML parser's events where it can be, `check_bytes`): the
//! diagnostics and the policy must be exactly `check`'s.

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use orgplan::diag::{self, Format};
use orgplan::live::LiveState;
use orgplan::load::{Loaded, load_bytes};
use orgplan::model::{Policy, Section};

const SEPARATOR: &[u8] = b"\n#file\n";
const FILES: usize = 4;
const EXPLAINED: usize = 8;

fuzz_target!(|data: &[u8]| {
    let mut loaded = Loaded::default();
    let mut files = Vec::new();
    let mut rest = data;
    for n in 0..FILES {
        let end = if n + 1 == FILES {
            rest.len()
        } else {
            find(rest, SEPARATOR).unwrap_or(rest.len())
        };
        files.push((format!("policies/{n}.yaml"), rest[..end].to_vec()));
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
    let fast = orgplan::validate::check_bytes(files);
    assert_eq!(fast.diagnostics, checked.diagnostics);
    assert_eq!(
        fast.policy.as_ref().map(view),
        checked.policy.as_ref().map(view)
    );
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

// Everything a policy holds, written out in a fixed order (where each entity is declared
// is looked up name by name: its hash tables iterate in an order of their own).
fn view(policy: &Policy) -> String {
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
    let names = [
        (Section::Roles, policy.roles.keys().collect::<Vec<_>>()),
        (Section::Groups, policy.groups.keys().collect()),
        (Section::Users, policy.users.keys().collect()),
    ];
    for (section, names) in names {
        for name in names {
            out.push_str(&format!("{name}: {:?}\n", declared.get(section, name)));
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

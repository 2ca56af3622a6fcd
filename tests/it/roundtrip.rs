//! Property: for any valid policy and any live state, planning, applying in memory and
//! planning again gives no operations, and the applied state is the policy's projection
//! (ids and pending invites aside).

use std::fmt::Write as _;

use orgplan::live::{self, LiveState, LiveStatus};
use orgplan::model::{Policy, UnmanagedUsers};
use orgplan::provider::Capabilities;
use proptest::prelude::*;

/// One random user: (role index, premium, suspended, name, monthly spend limit, groups).
type UserSpec = (u8, bool, bool, bool, Option<u16>, Vec<usize>);

#[derive(Debug, Clone)]
struct Spec {
    remove_unmanaged: bool,
    roles: Vec<(usize, Vec<bool>, bool)>,
    groups: Vec<(usize, Vec<usize>, Option<u16>)>,
    users: Vec<(usize, UserSpec)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let role = (
        0..4usize,
        prop::collection::vec(any::<bool>(), 2),
        any::<bool>(),
    );
    let group = (
        0..4usize,
        prop::collection::vec(0..4usize, 0..3),
        prop::option::of(1..500u16),
    );
    let user = (
        0..8usize,
        (
            0..4u8,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::option::of(1..500u16),
            prop::collection::vec(0..4usize, 0..3),
        ),
    );
    (
        any::<bool>(),
        prop::collection::vec(role, 0..4),
        prop::collection::vec(group, 0..4),
        prop::collection::vec(user, 0..7),
    )
        .prop_map(|(remove_unmanaged, roles, groups, users)| Spec {
            remove_unmanaged,
            roles,
            groups,
            users,
        })
}

/// Policy YAML for `spec`; user 0 is always the primary owner.
fn yaml(spec: &Spec) -> String {
    let mut text = format!(
        "org:\n  name: Acme\n  plan: enterprise\n  domains: [acme.com]\n  seats: {{standard: 50, premium: 50}}\n  capabilities: [chat, api]\n  unmanaged_users: {}\n",
        if spec.remove_unmanaged {
            "remove"
        } else {
            "keep"
        }
    );
    let role_names: Vec<String> = spec.roles.iter().map(|(i, _, _)| format!("r{i}")).collect();
    if !spec.roles.is_empty() {
        text.push_str("roles:\n");
        for (i, caps, described) in &spec.roles {
            let caps: Vec<&str> = ["chat", "api"]
                .into_iter()
                .zip(caps)
                .filter(|(_, on)| **on)
                .map(|(c, _)| c)
                .collect();
            let description = if *described {
                ", description: A role"
            } else {
                ""
            };
            let _ = writeln!(
                text,
                "  r{i}: {{capabilities: [{}]{description}}}",
                caps.join(", ")
            );
        }
    }
    let group_names: Vec<String> = spec
        .groups
        .iter()
        .map(|(i, _, _)| format!("g{i}"))
        .collect();
    if !spec.groups.is_empty() {
        text.push_str("groups:\n");
        for (i, roles, spend) in &spec.groups {
            let roles: Vec<&str> = roles
                .iter()
                .filter_map(|r| role_names.get(*r).map(String::as_str))
                .collect();
            let limits = spend
                .map(|s| format!(", limits: {{spend_usd: {{monthly: {s}}}}}"))
                .unwrap_or_default();
            let _ = writeln!(text, "  g{i}: {{roles: [{}]{limits}}}", roles.join(", "));
        }
    }
    text.push_str("users:\n  u0@acme.com: {role: primary_owner}\n");
    for (i, (role, premium, suspended, named, spend, groups)) in &spec.users {
        let role = ["member", "admin", "member", "owner"][usize::from(*role)];
        let mut fields = vec![format!("role: {role}")];
        if *premium {
            fields.push("seat: premium".into());
        }
        if *suspended {
            fields.push("status: suspended".into());
        }
        if *named {
            fields.push(format!("name: User {i}"));
        }
        if let Some(s) = spend {
            fields.push(format!("limits: {{spend_usd: {{monthly: {s}}}}}"));
        }
        let groups: Vec<&str> = groups
            .iter()
            .filter_map(|g| group_names.get(*g).map(String::as_str))
            .collect();
        if !groups.is_empty() {
            fields.push(format!("groups: [{}]", groups.join(", ")));
        }
        let _ = writeln!(text, "  u{}@acme.com: {{{}}}", i + 1, fields.join(", "));
    }
    text
}

fn policy(spec: &Spec) -> Option<Policy> {
    let mut loaded = orgplan::load::Loaded::default();
    orgplan::load::load_bytes(&mut loaded, "p.yaml".into(), yaml(spec).into_bytes());
    let checked = orgplan::validate::check(loaded);
    let errors = checked.errors();
    checked.policy.filter(|_| errors == 0)
}

/// A live state: another random policy's projection, with ids and some pending invites.
fn live_from(spec: &Spec, invited: &[bool]) -> LiveState {
    let Some(policy) = policy(spec) else {
        return LiveState::default();
    };
    let mut state = live::project(&policy);
    for (n, user) in state.users.values_mut().enumerate() {
        user.id = Some(format!("usr_{}", n + 7));
        if invited.get(n).copied().unwrap_or(false) && user.status == LiveStatus::Active {
            user.status = LiveStatus::Invited;
        }
    }
    for (n, group) in state.groups.values_mut().enumerate() {
        group.id = Some(format!("ext-{n}"));
    }
    state
}

fn comparable(mut state: LiveState, policy: &Policy) -> LiveState {
    // Kept unmanaged users are not the policy's business, nor are their memberships.
    if policy.org.unmanaged_users == UnmanagedUsers::Keep {
        state
            .users
            .retain(|email, _| policy.users.contains_key(email));
        for group in state.groups.values_mut() {
            group.members.retain(|m| policy.users.contains_key(m));
        }
    }
    state.roles.values_mut().for_each(|r| r.id = None);
    state.groups.values_mut().for_each(|g| g.id = None);
    for user in state.users.values_mut() {
        user.id = None;
        if user.status == LiveStatus::Invited {
            user.status = LiveStatus::Active;
        }
    }
    state
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_global_rejects: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn plan_apply_plan_is_empty(wanted in spec(), had in spec(), invited in prop::collection::vec(any::<bool>(), 8)) {
        let Some(policy) = policy(&wanted) else {
            return Err(TestCaseError::reject("invalid policy"));
        };
        let mut state = live_from(&had, &invited);
        let caps = Capabilities::full();
        let first = orgplan::diff::diff(&policy, &state, &caps);
        orgplan::apply::apply_all(&mut state, &first.operations, &mut |_, _| {})
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = orgplan::diff::diff(&policy, &state, &caps);
        prop_assert_eq!(again.operations, Vec::new(), "policy:\n{}", yaml(&wanted));
        prop_assert_eq!(comparable(state, &policy), live::project(&policy));
    }
}

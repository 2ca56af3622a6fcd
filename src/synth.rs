//! Synthetic orgs for benchmarks: `orgplan synth --users N [--seed S] -o DIR` (hidden).
//!
//! Writes a valid Enterprise policy of `N` users (one `users-NNN.yaml` per 10,000 users),
//! `N/20` groups and ten custom roles, plus `DIR/live.json`, a live state that differs from
//! the policy by about 5% (users to invite, unmanaged users to remove, changed org roles
//! and seats, membership drift). The same `N` and seed give byte-identical files.
//!
//! `orgplan synth --parse-only DIR` reads the policy files and runs saphyr's parser over
//! them, one file after the other, building nothing: the floor that `validate` and `plan`
//! are measured against.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::live::{LiveState, LiveUser, project};
use crate::model::{OrgRole, Seat};

/// Users per `users-NNN.yaml` file.
pub const USERS_PER_FILE: usize = 10_000;

/// A tiny xorshift64* generator: deterministic, seedable, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

// The ten custom roles: name, capabilities, allow, deny, limits (YAML flow mappings).
const ROLES: [(&str, &str, &str, &str, &str); 10] = [
    (
        "ml-engineer",
        "[chat, claude_code, api, web_search, file_upload]",
        "[\"claude-opus-4*\", \"claude-sonnet-4*\"]",
        "[\"claude-opus-4-2025????\"]",
        "{spend_usd: {monthly: 500}, tokens: {daily: 2500000, monthly: 50000000}}",
    ),
    (
        "analyst",
        "[chat, api, web_search, connectors, file_upload]",
        "[\"claude-sonnet-4*\", \"claude-haiku-4-?\"]",
        "[]",
        "{spend_usd: {monthly: 200}, tokens: {monthly: 20000000}}",
    ),
    (
        "support-agent",
        "[chat, connectors, file_upload]",
        "[\"claude-haiku-4*\", \"claude-sonnet-4-?\"]",
        "[\"claude-opus-*\"]",
        "{spend_usd: {daily: 10, monthly: 75}}",
    ),
    (
        "platform-engineer",
        "[chat, claude_code, api, file_upload]",
        "[\"claude-opus-4*\", \"claude-sonnet-4*\", \"claude-haiku-4*\"]",
        "[\"claude-*-preview\"]",
        "{spend_usd: {daily: 50, monthly: 800}}",
    ),
    (
        "researcher",
        "[chat, api, web_search, file_upload]",
        "[\"claude-opus-4*\"]",
        "[]",
        "{tokens: {daily: 4000000, monthly: 90000000}}",
    ),
    (
        "writer",
        "[chat, web_search, file_upload]",
        "[\"claude-sonnet-4*\"]",
        "[]",
        "{spend_usd: {monthly: 60}}",
    ),
    (
        "sales-engineer",
        "[chat, api, connectors]",
        "[\"claude-sonnet-4*\", \"claude-haiku-4*\"]",
        "[\"claude-sonnet-4-2025????\"]",
        "{spend_usd: {monthly: 150}}",
    ),
    (
        "security-analyst",
        "[chat, api, web_search, connectors]",
        "[\"claude-opus-4-?\", \"claude-sonnet-4*\"]",
        "[]",
        "{spend_usd: {daily: 20, monthly: 300}}",
    ),
    (
        "intern",
        "[chat]",
        "[\"claude-haiku-4*\"]",
        "[]",
        "{spend_usd: {daily: 5, monthly: 30}, tokens: {monthly: 1000000}}",
    ),
    (
        "data-engineer",
        "[chat, claude_code, api, connectors, file_upload]",
        "[\"claude-sonnet-4*\", \"claude-?????-4-1\"]",
        "[]",
        "{spend_usd: {monthly: 400}, tokens: {monthly: 40000000}}",
    ),
];

const DOMAIN: &str = "synth.example";

fn email(index: usize) -> String {
    format!("user{index:06}@{DOMAIN}")
}

fn role_has_claude_code(role: usize) -> bool {
    ROLES[role].1.contains("claude_code")
}

/// A failure to write or check the synthetic org.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Writing a file failed.
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Reading the written files back failed.
    #[error("{0}")]
    Load(#[from] crate::load::LoadError),
    /// The generated policy did not validate (a bug in the generator).
    #[error("the generated policy is invalid: {0}")]
    Invalid(String),
}

fn write(path: &Path, text: &str) -> Result<(), SynthError> {
    fs::write(path, text).map_err(|source| SynthError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Write a synthetic org of `users` users (at least 20) into `dir` and its live state
/// into `dir/live.json`. Returns the total size of the policy files in bytes.
pub fn generate(users: usize, seed: u64, dir: &Path) -> Result<u64, SynthError> {
    let users = users.max(20);
    let groups = (users / 20).max(1);
    let mut rng = Rng::new(seed);
    fs::create_dir_all(dir).map_err(|source| SynthError::Write {
        path: dir.display().to_string(),
        source,
    })?;

    // Groups: each grants one or two roles; every role is granted by some group.
    let group_roles: Vec<Vec<usize>> = (0..groups)
        .map(|g| {
            let first = g % ROLES.len();
            if rng.percent(30) {
                let second = rng.below(ROLES.len());
                if second == first {
                    vec![first]
                } else {
                    vec![first, second]
                }
            } else {
                vec![first]
            }
        })
        .collect();
    // Users: one to three groups each; every group gets members through round-robin.
    let mut user_groups: Vec<Vec<usize>> = Vec::with_capacity(users);
    for u in 0..users {
        let mut list = vec![u % groups];
        for _ in 0..rng.below(3) {
            let g = rng.below(groups);
            if !list.contains(&g) {
                list.push(g);
            }
        }
        user_groups.push(list);
    }
    // A tenth of the memberships are declared on the group (`members`) instead.
    let mut group_members: Vec<Vec<usize>> = vec![Vec::new(); groups];
    let mut on_user: Vec<Vec<usize>> = Vec::with_capacity(users);
    for (u, list) in user_groups.iter().enumerate() {
        let mut kept = Vec::new();
        for &g in list {
            if rng.percent(10) {
                group_members[g].push(u);
            } else {
                kept.push(g);
            }
        }
        on_user.push(kept);
    }
    let premium: Vec<bool> = user_groups
        .iter()
        .map(|list| {
            list.iter()
                .any(|&g| group_roles[g].iter().any(|&r| role_has_claude_code(r)))
        })
        .collect();
    let premium_count = premium.iter().filter(|&&p| p).count();
    let admins = (users / 100).max(2);
    let mut total = 0u64;

    // org.yaml
    let mut text = String::new();
    let _ = write!(
        text,
        "# Synthetic org generated by `orgplan synth --users {users} --seed {seed}`.\n\
         version: 1\n\
         org:\n  name: Synth Corp {users}\n  plan: enterprise\n  domains: [{DOMAIN}]\n  \
         seats:\n    standard: {standard}\n    premium: {premium_seats}\n  \
         provisioning: scim\n  sso:\n    enforced: true\n    protocol: saml\n  \
         capabilities: [chat, claude_code, api, web_search, connectors, file_upload]\n  \
         models:\n    allow: [\"claude-*\"]\n    deny: [\"claude-*-preview\", \"claude-?-*\"]\n  \
         defaults:\n    capabilities: [chat, web_search, file_upload]\n    \
         models:\n      allow: [\"claude-sonnet-4*\", \"claude-haiku-4*\"]\n    \
         limits:\n      spend_usd: {{monthly: 50}}\n  \
         caps:\n    spend_usd: {{daily: 100, monthly: 2000}}\n    \
         tokens: {{daily: 5000000, monthly: 100000000}}\n  \
         unmanaged_users: remove\n  \
         safety:\n    max_removals: \"50%\"\n    min_admins: 2\n    \
         protected: [{p0}, {p1}]\n",
        standard = (users - premium_count) + users / 10 + 10,
        premium_seats = premium_count + users / 10 + 10,
        p0 = email(0),
        p1 = email(1),
    );
    total += text.len() as u64;
    write(&dir.join("org.yaml"), &text)?;

    // roles.yaml
    let mut text = String::from("roles:\n");
    for (name, capabilities, allow, deny, limits) in ROLES {
        let _ = write!(
            text,
            "  {name}:\n    description: Synthetic role {name}\n    \
             capabilities: {capabilities}\n    models:\n      allow: {allow}\n      \
             deny: {deny}\n    limits: {limits}\n"
        );
    }
    total += text.len() as u64;
    write(&dir.join("roles.yaml"), &text)?;

    // groups.yaml
    let mut text = String::from("groups:\n");
    for (g, roles) in group_roles.iter().enumerate() {
        let roles: Vec<&str> = roles.iter().map(|&r| ROLES[r].0).collect();
        let _ = write!(
            text,
            "  group-{g:05}:\n    description: Synthetic team {g}\n    roles: [{}]\n",
            roles.join(", ")
        );
        if !group_members[g].is_empty() {
            text.push_str("    members:\n");
            for &u in &group_members[g] {
                let _ = writeln!(text, "      - {}", email(u));
            }
        }
        if g % 7 == 0 {
            text.push_str("    limits:\n      spend_usd: {monthly: 250}\n");
        }
    }
    total += text.len() as u64;
    write(&dir.join("groups.yaml"), &text)?;

    // users-NNN.yaml
    for (file, start) in (0..users).step_by(USERS_PER_FILE).enumerate() {
        let mut text = String::from("users:\n");
        for u in start..(start + USERS_PER_FILE).min(users) {
            let role = match u {
                0 => "primary_owner",
                u if u < admins => "admin",
                _ => "member",
            };
            let seat = if premium[u] { "premium" } else { "standard" };
            let groups: Vec<String> = on_user[u].iter().map(|g| format!("group-{g:05}")).collect();
            let _ = write!(text, "  {}:\n    name: User {u}\n", email(u));
            if role != "member" {
                let _ = writeln!(text, "    role: {role}");
            }
            if seat != "standard" {
                let _ = writeln!(text, "    seat: {seat}");
            }
            if !groups.is_empty() {
                let _ = writeln!(text, "    groups: [{}]", groups.join(", "));
            }
            if u % 50 == 7 {
                text.push_str("    limits:\n      spend_usd: {daily: 20, monthly: 150}\n");
            }
            if u % 500 == 9 {
                text.push_str("    status: suspended\n");
            }
        }
        total += text.len() as u64;
        write(&dir.join(format!("users-{file:03}.yaml")), &text)?;
    }

    // live.json: the policy as live, then about 5% of drift.
    let checked = crate::validate::check_dir(dir)?;
    let Some(policy) = checked.policy else {
        let first = checked
            .diagnostics
            .first()
            .map(|d| d.message.clone())
            .unwrap_or_default();
        return Err(SynthError::Invalid(first));
    };
    let mut live = project(&policy);
    drift(&mut live, users, admins, &mut rng);
    let json = serde_json::to_string_pretty(&live).unwrap_or_default();
    write(&dir.join("live.json"), &json)?;
    Ok(total)
}

// About 5% of drift: 1.5% of the users not invited yet, 1% unmanaged live users, 1%
// changed org roles or seats, 1.5% membership changes. The first `admins` users (owners,
// admins, protected) are left alone so that the safety rules hold.
fn drift(live: &mut LiveState, users: usize, admins: usize, rng: &mut Rng) {
    let emails: Vec<String> = live.users.keys().cloned().collect();
    for (i, email) in emails.iter().enumerate() {
        if i < admins + 2 {
            continue;
        }
        let roll = rng.below(1000);
        if roll < 15 {
            live.users.remove(email);
            for group in live.groups.values_mut() {
                if let Ok(at) = group.members.binary_search(email) {
                    group.members.remove(at);
                }
            }
        } else if roll < 20 {
            if let Some(user) = live.users.get_mut(email) {
                user.role = OrgRole::Admin;
            }
        } else if roll < 25
            && let Some(user) = live.users.get_mut(email)
        {
            user.seat = match user.seat {
                Seat::Standard => Seat::Premium,
                Seat::Premium => Seat::Standard,
            };
        }
    }
    // Membership drift: members missing from live groups, and stray live members.
    let names: Vec<String> = live.groups.keys().cloned().collect();
    for _ in 0..(users * 15 / 1000).max(1) {
        let name = &names[rng.below(names.len())];
        let stray = &emails[rng.below(emails.len())];
        if let Some(group) = live.groups.get_mut(name) {
            if rng.percent(50) && !group.members.is_empty() {
                let at = rng.below(group.members.len());
                group.members.remove(at);
            } else if live.users.contains_key(stray)
                && let Err(at) = group.members.binary_search(stray)
            {
                group.members.insert(at, stray.clone());
            }
        }
    }
    // Unmanaged users, in the live org only.
    for i in 0..(users / 100).max(1) {
        let email = format!("former{i:06}@{DOMAIN}");
        live.users.insert(
            email,
            LiveUser {
                name: Some(format!("Former {i}")),
                ..LiveUser::default()
            },
        );
    }
    for (i, user) in live.users.values_mut().enumerate() {
        user.id = Some(format!("u_{i}"));
    }
    for (i, group) in live.groups.values_mut().enumerate() {
        group.id = Some(format!("g_{i}"));
    }
    for (i, role) in live.roles.values_mut().enumerate() {
        role.id = Some(format!("r_{i}"));
    }
}

/// Read every policy file under `dir` and parse it into saphyr's events (with their spans),
/// on one thread, building nothing: the floor of `validate`. Returns (files, bytes, YAML
/// documents).
pub fn parse_only(dir: &Path) -> Result<(usize, u64, usize), crate::load::LoadError> {
    let mut files = 0;
    let mut bytes = 0u64;
    let mut documents = 0;
    let mut paths: Vec<_> = fs::read_dir(dir)
        .map_err(|source| crate::load::LoadError::Folder {
            path: dir.display().to_string(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    paths.sort();
    for path in paths {
        let text = fs::read_to_string(&path).map_err(|source| crate::load::LoadError::File {
            path: path.display().to_string(),
            source,
        })?;
        files += 1;
        bytes += text.len() as u64;
        // Every event, with its span: what `load` starts from, and nothing built on it.
        let mut parser = saphyr_parser::Parser::new_from_str(&text);
        while let Some(Ok((event, _))) = parser.next_event() {
            if matches!(event, saphyr_parser::Event::DocumentStart(_)) {
                documents += 1;
            }
        }
    }
    Ok((files, bytes, documents))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synthetic_org_is_valid_and_deterministic() {
        let first = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let second = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        generate(600, 7, first.path()).unwrap_or_else(|e| panic!("{e}"));
        generate(600, 7, second.path()).unwrap_or_else(|e| panic!("{e}"));
        for name in ["org.yaml", "groups.yaml", "users-000.yaml", "live.json"] {
            let a = fs::read(first.path().join(name)).unwrap_or_else(|e| panic!("{e}"));
            let b = fs::read(second.path().join(name)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(a, b, "{name} differs between two runs");
        }
        let loaded = crate::load::load_dir(first.path()).unwrap_or_else(|e| panic!("{e}"));
        let checked = crate::validate::check(loaded);
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    }
}

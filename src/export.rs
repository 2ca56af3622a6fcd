//! `orgplan export`: policy files from a live state, such that `plan` on them against the
//! same live state reports no changes. Pure: the caller writes the files.
//!
//! YAML is emitted by hand, with every value in JSON flow style (`[…]`, `{…}`, `"…"`),
//! which is valid YAML 1.2: no YAML serializer needed, and no string can be misread (a
//! name like `no`, `1.0` or `#x` stays a quoted string).

use serde_json::Value;

use crate::live::{LiveState, LiveStatus};

/// The modeline every exported file starts with.
pub const MODELINE: &str = "# yaml-language-server: $schema=../schema/orgplan.schema.json\n";

/// Why nothing was exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The live org was never set up: a policy needs `org`.
    #[error(
        "the live org has no org settings yet, so there is no policy to export; apply a policy first"
    )]
    NoOrg,
}

/// The exported files: (file name, text), in the order `org.yaml`, `roles.yaml`,
/// `groups.yaml`, `users.yaml`.
pub fn export(live: &LiveState) -> Result<Vec<(&'static str, String)>, ExportError> {
    let live = live.clone().normalized();
    let org = live.org.as_ref().ok_or(ExportError::NoOrg)?;

    let mut org_value = to_object(org);
    // Settings that exist only in orgplan: the defaults, except that `min_admins` may not
    // ask for more admins than the org has, or the exported policy could never plan.
    let admins = live
        .users
        .values()
        .filter(|u| u.role.is_admin() && u.status != LiveStatus::Suspended)
        .count();
    org_value.insert("unmanaged_users".into(), "keep".into());
    org_value.insert(
        "safety".into(),
        serde_json::json!({"max_removals": "10%", "min_admins": admins.min(1)}),
    );
    let mut org_text = String::from(MODELINE);
    org_text.push_str(
        "#\n# Exported by `orgplan export` from the live org. `unmanaged_users` and `safety`\n\
         # exist only in orgplan, not in the live org: they are the defaults here (keep\n\
         # unmanaged users; at most 10% removals; at least one owner or admin). Review them.\n\
         version: 1\n\norg:\n",
    );
    fields(&mut org_text, "  ", &org_value);

    let section = |name: &str, entries: Vec<(String, serde_json::Map<String, Value>)>| {
        let mut text = String::from(MODELINE);
        text.push_str("# Exported by `orgplan export` from the live org.\nversion: 1\n");
        if entries.is_empty() {
            return text;
        }
        text.push_str(&format!("\n{name}:\n"));
        for (key, value) in entries {
            text.push_str(&format!("  {}:", quote(&key)));
            if value.is_empty() {
                text.push_str(" {}\n");
            } else {
                text.push('\n');
                fields(&mut text, "    ", &value);
            }
        }
        text
    };
    let roles = live
        .roles
        .iter()
        .map(|(name, role)| (name.clone(), without_id(to_object(role))))
        .collect();
    let groups = live
        .groups
        .iter()
        .map(|(name, group)| (name.clone(), without_id(to_object(group))))
        .collect();
    let users = live
        .users
        .iter()
        .map(|(email, user)| {
            let mut value = without_id(to_object(user));
            // A pending invite is declared active: the plan leaves pending invites alone.
            if user.status != LiveStatus::Suspended {
                value.shift_remove("status");
            }
            let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            if !org.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                value.insert("external".into(), true.into());
            }
            (email.clone(), value)
        })
        .collect();
    // Sections with nothing in them are left out of the file: an empty map in YAML
    // would need `{}`, and a file with only `version` is valid and says "none".
    Ok(vec![
        ("org.yaml", org_text),
        ("roles.yaml", section("roles", roles)),
        ("groups.yaml", section("groups", groups)),
        ("users.yaml", section("users", users)),
    ])
}

fn to_object<T: serde::Serialize>(value: &T) -> serde_json::Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

fn without_id(mut map: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    map.shift_remove("id");
    map
}

/// `key: value` lines, values in JSON flow style.
fn fields(out: &mut String, indent: &str, map: &serde_json::Map<String, Value>) {
    for (key, value) in map {
        out.push_str(&format!("{indent}{}: {value}\n", quote(key)));
    }
}

/// A mapping key: plain when it is a simple identifier, else a JSON string (valid YAML).
fn quote(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
        && key.starts_with(|c: char| c.is_ascii_alphabetic())
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        key.to_owned()
    } else {
        Value::from(key).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::tests::{BASE, policy};
    use crate::provider::Capabilities;

    #[test]
    fn an_exported_policy_plans_no_changes() {
        let live = crate::live::project(&policy(BASE));
        let files = export(&live).unwrap_or_else(|e| panic!("{e}"));
        let mut loaded = crate::load::Loaded::default();
        for (name, text) in files {
            assert!(text.starts_with(MODELINE), "{text}");
            crate::load::load_bytes(&mut loaded, name.into(), text.into_bytes());
        }
        let checked = crate::validate::check(loaded);
        let exported = checked
            .policy
            .unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
        let d = crate::diff::diff(&exported, &live, &Capabilities::full());
        assert_eq!(d.operations, Vec::new());
    }

    #[test]
    fn keys_that_yaml_would_misread_are_quoted() {
        assert_eq!(quote("sales"), "sales");
        assert_eq!(quote("kate@acme.com"), "kate@acme.com");
        assert_eq!(quote("no"), "\"no\"");
        assert_eq!(quote("1x"), "\"1x\"");
        assert_eq!(quote("a b: c"), "\"a b: c\"");
    }
}

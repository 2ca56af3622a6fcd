//! The Admin API's roles and permissions in orgplan's terms: API organization roles as
//! orgplan roles, custom-role permissions as capabilities, and what of them orgplan cannot
//! read for sure.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Meta;
use crate::model::{Capability, OrgRole};

/// An API organization role as an orgplan role, `None` for a value orgplan does not know.
///
/// The reference lists the values by organization type: Claude Enterprise organizations
/// have `user`, `owner`, `primary_owner`, `membership_admin` and `managed`; Console and API
/// organizations have `user`, `developer`, `billing`, `admin` and `claude_code_user`.
pub(super) fn org_role(role: &str) -> Option<OrgRole> {
    Some(match role {
        "primary_owner" => OrgRole::PrimaryOwner,
        "owner" => OrgRole::Owner,
        // CHOICE: `membership_admin` administers the org's members; orgplan's `admin` is the
        // role that "manages users and settings", and both count toward `min_admins`.
        "admin" | "membership_admin" => OrgRole::Admin,
        // `user` has no custom role; `managed` holds custom roles through groups.
        "user" | "managed" => OrgRole::Member,
        // CHOICE: the Console roles do not occur in an Enterprise org; none of them
        // administers members (`developer` manages API keys, `billing` billing,
        // `claude_code_user` uses Claude Code), so each is a member.
        "developer" | "billing" | "claude_code_user" => OrgRole::Member,
        _ => return None,
    })
}

impl Meta {
    /// The orgplan role of `email` with API role `role`, remembering both. An unknown value
    /// is reported under `unverifiable` and its role is never compared: it is read as
    /// `member` only because the live state has no "unknown" role, and `refine` drops any
    /// change of it.
    pub(super) fn org_role(&mut self, email: &str, role: &str) -> OrgRole {
        self.api_roles.insert(email.to_owned(), role.to_owned());
        org_role(role).unwrap_or_else(|| {
            self.unknown_roles.insert(email.to_owned(), role.to_owned());
            OrgRole::Member
        })
    }

    /// Entries for `unverifiable`: what this org holds that orgplan cannot read for sure.
    pub(super) fn unverifiable(&self) -> Vec<String> {
        let roles = self.unknown_actions.iter().map(|(role, actions)| {
            format!(
                "roles.{role}.capabilities (unknown permission `{}`)",
                actions.join("`, `")
            )
        });
        let users = self
            .unknown_roles
            .iter()
            .map(|(email, role)| format!("users.{email}.role (unknown API role `{role}`)"));
        roles.chain(users).collect()
    }
}

/// The capabilities a custom role's permissions grant, and the actions orgplan does not
/// know (which make the role's capabilities unverifiable).
///
/// The reference: an `organization` grant's `action` is a product-feature entitlement
/// (`chat`, …), an admin-panel permission (`permission_*`) or a blanket capability-access
/// mode: `capability_access_all` grants every product feature, `capability_access_all_ga`
/// the generally-available ones "as it stands at permission-check time".
pub(super) fn granted(permissions: &[Value]) -> (Vec<Capability>, Vec<String>) {
    let mut capabilities = BTreeSet::new();
    let mut unknown = BTreeSet::new();
    for permission in permissions {
        // Entitlements are rows on the `organization` resource; others grant no feature.
        let resource = permission
            .pointer("/resource/type")
            .and_then(Value::as_str)
            .unwrap_or("organization");
        let Some(action) = permission.get("action").and_then(Value::as_str) else {
            continue;
        };
        if resource != "organization" {
            continue;
        }
        match action {
            // Every capability orgplan names (chat, Claude Code, API, web search,
            // connectors, file upload) is a generally-available feature, so `_ga` grants
            // them all, like the full mode; what it leaves out (features in beta) has no
            // name in orgplan's vocabulary.
            "capability_access_all" | "capability_access_all_ga" => {
                capabilities.extend(Capability::ALL);
            }
            // A product feature orgplan has no name for, held only through its own row.
            "inference_hooks_inspection" => {}
            admin if admin.starts_with("permission_") => {}
            other => match serde_json::from_value::<Capability>(Value::from(other)) {
                Ok(capability) => {
                    capabilities.insert(capability);
                }
                Err(_) => {
                    unknown.insert(other.to_owned());
                }
            },
        }
    }
    let ordered = Capability::ALL
        .into_iter()
        .filter(|c| capabilities.contains(c))
        .collect();
    (ordered, unknown.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[test]
    fn blanket_modes_grant_every_capability_admin_panel_rows_nothing_unknown_actions_are_reported()
    {
        let rows = |actions: &[&str]| -> Vec<Value> {
            actions
                .iter()
                .map(|a| json!({"type": "rbac_role_permission", "action": a, "resource": {"type": "organization"}}))
                .collect()
        };
        for mode in ["capability_access_all", "capability_access_all_ga"] {
            let (caps, unknown) = granted(&rows(&[mode, "permission_view_usage"]));
            assert_eq!(caps, Capability::ALL.to_vec(), "{mode}");
            assert!(unknown.is_empty());
        }
        let (caps, unknown) = granted(&rows(&["api", "chat", "permission_manage_members"]));
        assert_eq!(caps, [Capability::Chat, Capability::Api]);
        assert!(unknown.is_empty());
        let (caps, unknown) = granted(&rows(&["chat", "holodeck"]));
        assert_eq!(caps, [Capability::Chat]);
        assert_eq!(unknown, ["holodeck"]);
        // A row on another resource grants no product feature.
        let other = [json!({"action": "api", "resource": {"type": "workspace"}})];
        assert!(granted(&other).0.is_empty());
    }

    #[test]
    fn every_documented_role_value_is_mapped_and_an_unknown_one_is_reported() {
        for (value, role) in [
            ("primary_owner", OrgRole::PrimaryOwner),
            ("owner", OrgRole::Owner),
            ("admin", OrgRole::Admin),
            ("membership_admin", OrgRole::Admin),
            ("user", OrgRole::Member),
            ("managed", OrgRole::Member),
            ("developer", OrgRole::Member),
            ("billing", OrgRole::Member),
            ("claude_code_user", OrgRole::Member),
        ] {
            assert_eq!(org_role(value), Some(role), "{value}");
        }
        let mut meta = Meta::default();
        meta.org_role("x@y.com", "superuser");
        assert_eq!(
            meta.unverifiable(),
            ["users.x@y.com.role (unknown API role `superuser`)"]
        );
    }
}

//! Carrying out resolved steps through the API, with the stale checks that precede each
//! destructive write (a removal, a deletion, a membership removal).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::read::{Paging, text};
use super::steps::Step;
use super::{AnthropicError, AnthropicProvider};
use crate::model::email_key;
use crate::provider::http::Method;

impl AnthropicProvider {
    /// `path` read again before a destructive write; gone (404) is stale.
    fn reread(&self, path: &str, what: &str) -> Result<Value, AnthropicError> {
        match self.call(Method::Get, path, None) {
            Err(AnthropicError::Api { status: 404, .. }) => {
                Err(AnthropicError::Stale(format!("{what} is gone")))
            }
            other => other,
        }
    }

    /// User ids of the members of group `id`, read now.
    fn member_ids(&self, id: &str) -> Result<BTreeSet<String>, AnthropicError> {
        let path = format!("/v1/organizations/rbac_groups/{id}/members");
        self.list(&path, Paging::Page)?
            .iter()
            .map(|m| text(m, "user_id", &path))
            .collect()
    }

    /// The group `id` still has the name and the members it had when this apply read it.
    fn check_group(
        &self,
        id: &str,
        name: &str,
        members: &BTreeSet<String>,
    ) -> Result<(), AnthropicError> {
        let path = format!("/v1/organizations/rbac_groups/{id}");
        let now = self.reread(&path, &format!("the group `{name}`"))?;
        if now.get("name").and_then(Value::as_str) != Some(name) {
            return Err(AnthropicError::Stale(format!(
                "the group `{name}` was renamed"
            )));
        }
        let members_path = format!("{path}/members");
        let mut listed = BTreeSet::new();
        for member in self.list(&members_path, Paging::Page)? {
            listed.insert(email_key(&text(&member, "email", &members_path)?).into_owned());
        }
        if &listed != members {
            return Err(AnthropicError::Stale(format!(
                "the members of the group `{name}` changed"
            )));
        }
        Ok(())
    }

    /// Carry out one resolved step; `groups` maps group names to ids, growing as groups
    /// are created.
    pub(super) fn run(
        &self,
        step: &Step,
        groups: &mut BTreeMap<String, String>,
        roles: &mut BTreeMap<String, String>,
    ) -> Result<(), AnthropicError> {
        let group_id = |groups: &BTreeMap<String, String>, name: &str| {
            groups
                .get(name)
                .cloned()
                .ok_or_else(|| AnthropicError::Unmappable(format!("no id for group `{name}`")))
        };
        match step {
            Step::CreateGroup { name } => {
                let path = "/v1/organizations/rbac_groups";
                let created = self.call(Method::Post, path, Some(&json!({ "name": name })))?;
                groups.insert(name.clone(), text(&created, "id", path)?);
            }
            Step::DeleteGroup { name, members } => {
                let id = group_id(groups, name)?;
                self.check_group(&id, name, members)?;
                self.call(
                    Method::Delete,
                    &format!("/v1/organizations/rbac_groups/{id}"),
                    None,
                )?;
            }
            Step::Invite {
                email,
                role,
                groups: names,
            } => {
                let ids = names
                    .iter()
                    .map(|n| group_id(groups, n))
                    .collect::<Result<Vec<_>, _>>()?;
                let body = json!({ "email": email, "role": role, "rbac_group_ids": ids });
                self.call(Method::Post, "/v1/organizations/invites", Some(&body))?;
            }
            Step::WithInvite => {}
            Step::Membership {
                add,
                group,
                user_id,
                email,
                role,
            } => {
                let id = group_id(groups, group)?;
                if *add {
                    // https://platform.claude.com/docs/en/api/admin/rbac_groups/members/add
                    let body = json!({ "user_id": user_id });
                    self.call(
                        Method::Post,
                        &format!("/v1/organizations/rbac_groups/{id}/members"),
                        Some(&body),
                    )?;
                } else {
                    // https://platform.claude.com/docs/en/api/beta/organization/rbac_groups/members/remove
                    let listed = self.member_ids(&id)?;
                    if !listed.contains(user_id) {
                        return Err(AnthropicError::Stale(format!(
                            "`{email}` is no longer a member of the group `{group}`"
                        )));
                    }
                    self.call(
                        Method::Delete,
                        &format!("/v1/organizations/rbac_groups/{id}/members/{user_id}"),
                        None,
                    )?;
                }
                // A member who gains their first custom role becomes `managed`, one who
                // loses their last becomes `user` again.
                if let Some(wanted) = role
                    && roles.get(email) != Some(wanted)
                {
                    self.call(
                        Method::Post,
                        &format!("/v1/organizations/users/{user_id}"),
                        Some(&json!({ "role": wanted })),
                    )?;
                    roles.insert(email.clone(), wanted.clone());
                }
            }
            Step::Update {
                user_id,
                email,
                role,
                set,
            } => {
                if let Some(wanted) = role
                    && roles.get(email) != Some(wanted)
                {
                    // https://platform.claude.com/docs/en/api/admin/users/update
                    self.call(
                        Method::Post,
                        &format!("/v1/organizations/users/{user_id}"),
                        Some(&json!({ "role": wanted })),
                    )?;
                    roles.insert(email.clone(), wanted.clone());
                }
                for (period, cents, existing) in set {
                    match (cents, existing) {
                        (Some(cents), _) => {
                            let body = json!({
                                "amount": cents.to_string(),
                                "scope": {"type": "user", "user_id": user_id},
                                "period": period.as_str(),
                            });
                            self.call(Method::Post, "/v1/organizations/spend_limits", Some(&body))?;
                        }
                        // DELETE /v1/organizations/spend_limits/{id}: "the member falls
                        // back to any inherited spend limit at that period" (reference).
                        (None, Some(id)) => {
                            self.call(
                                Method::Delete,
                                &format!("/v1/organizations/spend_limits/{id}"),
                                None,
                            )?;
                        }
                        (None, None) => {}
                    }
                }
            }
            Step::RemoveUser { id, email, role } => {
                // Read again: removed already, or made an owner meanwhile, is stale.
                let path = format!("/v1/organizations/users/{id}");
                let now = self.reread(&path, &format!("the user `{email}`"))?;
                let now_email = now.get("email").and_then(Value::as_str).map(email_key);
                let now_role = now.get("role").and_then(Value::as_str);
                if now_email.as_deref() != Some(email.as_str()) || now_role != role.as_deref() {
                    return Err(AnthropicError::Stale(format!(
                        "the user `{email}` changed (API role now `{}`)",
                        now_role.unwrap_or("none")
                    )));
                }
                self.call(
                    Method::Delete,
                    &format!("/v1/organizations/users/{id}"),
                    None,
                )?;
            }
            Step::DeleteInvite { id, email } => {
                let path = format!("/v1/organizations/invites/{id}");
                let now = self.reread(&path, &format!("the invite of `{email}`"))?;
                if now.get("status").and_then(Value::as_str) != Some("pending") {
                    return Err(AnthropicError::Stale(format!(
                        "the invite of `{email}` is no longer pending"
                    )));
                }
                self.call(
                    Method::Delete,
                    &format!("/v1/organizations/invites/{id}"),
                    None,
                )?;
            }
        }
        Ok(())
    }
}

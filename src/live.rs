//! The live state: what a provider reads from the org, in the shape of the policy plus
//! ids and the `invited` status (docs/providers.md).
//!
//! The live-state file (`file:PATH` provider) is this type as JSON:
//!
//! ```json
//! {"format_version": 1,
//!  "org": {"name": "Acme Corp", "plan": "enterprise", "seats": {"standard": 15, "premium": 10}, …},
//!  "roles": {"analyst": {"id": "r_1", "description": "…", "capabilities": ["chat"], …}},
//!  "groups": {"sales": {"id": "g_1", "description": "…", "roles": ["analyst"],
//!                       "members": ["kate@acme.com"], "limits": {…}}},
//!  "users": {"kate@acme.com": {"id": "u_1", "name": "Kate", "role": "member",
//!                              "seat": "standard", "status": "active", "limits": {…}}}}
//! ```
//!
//! `org` is absent for a new org. Maps are `BTreeMap`s so that every rendering and digest
//! of the same state is byte-identical.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{
    Access, Capability, Limits, ModelRules, Org, OrgRole, Plan as OrgPlan, Policy, Provisioning,
    Seat, Seats, Sso, UserStatus,
};

/// The only live-state format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The live org as a provider reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveState {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Org settings; absent for an org that was never set up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<LiveOrg>,
    /// Custom roles by name.
    #[serde(default, deserialize_with = "crate::model::built_at_once")]
    pub roles: BTreeMap<String, LiveRole>,
    /// Groups by name.
    #[serde(default, deserialize_with = "crate::model::built_at_once")]
    pub groups: BTreeMap<String, LiveGroup>,
    /// Users by email.
    #[serde(default, deserialize_with = "crate::model::built_at_once")]
    pub users: BTreeMap<String, LiveUser>,
}

impl Default for LiveState {
    fn default() -> Self {
        LiveState {
            format_version: FORMAT_VERSION,
            org: None,
            roles: BTreeMap::new(),
            groups: BTreeMap::new(),
            users: BTreeMap::new(),
        }
    }
}

/// Org settings as live: the policy's `org` minus `safety` and `unmanaged_users`, which
/// exist only in orgplan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveOrg {
    /// Display name.
    pub name: String,
    /// Subscription plan.
    pub plan: OrgPlan,
    /// Email domains.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Purchased seats per tier.
    #[serde(default)]
    pub seats: Seats,
    /// How accounts are created.
    #[serde(default)]
    pub provisioning: Provisioning,
    /// Single sign-on settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso: Option<Sso>,
    /// Capabilities switched on.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Models allowed at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<ModelRules>,
    /// Access of users without a custom role.
    #[serde(default)]
    pub defaults: Access,
    /// Hard ceilings of limits.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub caps: Limits,
}

/// A custom role as live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveRole {
    /// Provider id; absent in a projection of the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What the role is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Capabilities granted.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Models allowed and denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<ModelRules>,
    /// Limits of holders.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
}

/// A group as live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveGroup {
    /// Provider id; absent in a projection of the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What the group is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Custom roles granted to members.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Member emails.
    #[serde(default)]
    pub members: Vec<String>,
    /// Limits of members.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
}

/// A user as live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveUser {
    /// Provider id; absent in a projection of the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Org role.
    #[serde(default)]
    pub role: OrgRole,
    /// Seat tier.
    #[serde(default)]
    pub seat: Seat,
    /// Account status.
    #[serde(default)]
    pub status: LiveStatus,
    /// Per-user limits.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
}

/// Status of a live account: the policy's statuses plus a pending invite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveStatus {
    /// Signed in and active.
    #[default]
    Active,
    /// Invited, the invite not accepted yet.
    Invited,
    /// Suspended: the account is kept, nothing is granted.
    Suspended,
}

impl LiveStatus {
    /// The name used in live-state files.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveStatus::Active => "active",
            LiveStatus::Invited => "invited",
            LiveStatus::Suspended => "suspended",
        }
    }
}

impl From<UserStatus> for LiveStatus {
    fn from(status: UserStatus) -> Self {
        match status {
            UserStatus::Active => LiveStatus::Active,
            UserStatus::Suspended => LiveStatus::Suspended,
        }
    }
}

impl From<&Org> for LiveOrg {
    fn from(org: &Org) -> Self {
        LiveOrg {
            name: org.name.clone(),
            plan: org.plan,
            domains: org.domains.clone(),
            seats: org.seats,
            provisioning: org.provisioning,
            sso: org.sso,
            capabilities: org.capabilities.clone(),
            models: org.models.clone(),
            defaults: org.defaults.clone(),
            caps: org.caps.clone(),
        }
    }
}

/// The live state the policy asks for: no ids, group members as
/// [`Policy::members_by_group`], every list that is a set sorted (see [`LiveState::normalized`]).
pub fn project(policy: &Policy) -> LiveState {
    let mut state = project_settings(policy);
    state.users = policy
        .users
        .iter()
        .map(|(email, user)| (email.clone(), project_user(user)))
        .collect();
    state
}

/// [`project`] without the users: a plan of a large org projects them one at a time
/// ([`project_user`]) instead of holding a second copy of every user.
pub fn project_settings(policy: &Policy) -> LiveState {
    let (mut state, mut members) = project_settings_apart(policy);
    for (name, group) in &mut state.groups {
        let list = members.remove(name.as_str()).unwrap_or_default();
        group.members = list.into_iter().map(str::to_owned).collect();
    }
    state.normalized()
}

/// The members of each group as the projection lists them, borrowed from the policy:
/// every defined group has an entry, each list sorted by lowercased email, each once.
pub type Members<'p> = BTreeMap<&'p str, Vec<&'p str>>;

/// [`project_settings`] with every group's `members` left empty and the members apart,
/// borrowed: a plan of a large org compares and digests them without a copy of every
/// membership (a fifth of a million strings on 100,000 users).
pub fn project_settings_apart(policy: &Policy) -> (LiveState, Members<'_>) {
    // The policy keys users (so memberships) by lowercased email and lists each group of
    // a user once, so these lists come sorted and unique; sorted again should that change.
    let mut members = policy.members_by_group();
    for list in members.values_mut().filter(|list| !is_set(list)) {
        set(list);
    }
    let roles = policy
        .roles
        .iter()
        .map(|(name, role)| {
            let live = LiveRole {
                id: None,
                description: role.description.clone(),
                capabilities: role.capabilities.clone(),
                models: role.models.clone(),
                limits: role.limits.clone(),
            };
            (name.clone(), live)
        })
        .collect();
    let groups = policy
        .groups
        .iter()
        .map(|(name, group)| {
            let live = LiveGroup {
                id: None,
                description: group.description.clone(),
                roles: group.roles.clone(),
                members: Vec::new(),
                limits: group.limits.clone(),
            };
            (name.clone(), live)
        })
        .collect();
    let state = LiveState {
        format_version: FORMAT_VERSION,
        org: Some(LiveOrg::from(&policy.org)),
        roles,
        groups,
        users: BTreeMap::new(),
    }
    .normalized();
    (state, members)
}

/// A declared user as the live state shows them (already normalized: the policy keys
/// users by lowercased email).
pub fn project_user(user: &crate::model::User) -> LiveUser {
    LiveUser {
        id: None,
        name: user.name.clone(),
        role: user.role,
        seat: user.seat,
        status: user.status.into(),
        limits: user.limits.clone(),
    }
}

impl LiveState {
    /// The same state with emails lowercased and every list whose order means nothing
    /// (capabilities, domains, model patterns, group roles and members) sorted and
    /// deduplicated, so that reordering a list in YAML or in the admin console never shows
    /// up as a change.
    pub fn normalized(mut self) -> LiveState {
        if let Some(org) = &mut self.org {
            set(&mut org.domains);
            set(&mut org.capabilities);
            models(&mut org.models, Level::Org);
            set(&mut org.defaults.capabilities);
            models(&mut org.defaults.models, Level::Grant);
        }
        for role in self.roles.values_mut() {
            set(&mut role.capabilities);
            models(&mut role.models, Level::Grant);
        }
        for group in self.groups.values_mut() {
            set(&mut group.roles);
            // Most emails are lowercase already: leave those strings alone.
            for member in group.members.iter_mut().filter(|m| !lowercase(m)) {
                *member = crate::model::email_key(member).into_owned();
            }
            set(&mut group.members);
        }
        if !self.users.keys().all(|email| lowercase(email)) {
            self.users = std::mem::take(&mut self.users)
                .into_iter()
                .map(|(email, user)| (crate::model::email_key(&email).into_owned(), user))
                .collect();
        }
        self
    }

    /// This state normalized: borrowed when it already is (a provider returns it so),
    /// rather than a clone of 100,000 users.
    pub fn as_normalized(&self) -> std::borrow::Cow<'_, LiveState> {
        if self.is_normalized() {
            std::borrow::Cow::Borrowed(self)
        } else {
            std::borrow::Cow::Owned(self.clone().normalized())
        }
    }

    /// True when [`LiveState::normalized`] would return the state unchanged, as a
    /// provider returns it: callers then use it as it is instead of cloning 100,000 users.
    pub fn is_normalized(&self) -> bool {
        fn models_set(rules: &Option<ModelRules>, level: Level) -> bool {
            rules.as_ref().is_none_or(|r| {
                let allow = r.allow.as_deref().is_none_or(|allow| {
                    is_set(allow) && !(level == Level::Grant && allow.is_empty())
                });
                allow && is_set(&r.deny)
            })
        }
        let org = self.org.as_ref().is_none_or(|org| {
            is_set(&org.domains)
                && is_set(&org.capabilities)
                && models_set(&org.models, Level::Org)
                && is_set(&org.defaults.capabilities)
                && models_set(&org.defaults.models, Level::Grant)
        });
        let roles = self
            .roles
            .values()
            .all(|r| is_set(&r.capabilities) && models_set(&r.models, Level::Grant));
        let groups = self.groups.values().all(|g| {
            is_set(&g.roles) && is_set(&g.members) && g.members.iter().all(|m| lowercase(m))
        });
        org && roles && groups && self.users.keys().all(|e| lowercase(e))
    }

    /// Emails of the members of `group` (empty when the group does not exist).
    pub fn members_of(&self, group: &str) -> BTreeSet<&str> {
        self.groups
            .get(group)
            .map(|g| g.members.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

/// True when `text` is its own [`crate::model::email_key`], without allocating for an ASCII text.
fn lowercase(text: &str) -> bool {
    matches!(crate::model::email_key(text), std::borrow::Cow::Borrowed(_))
}

/// Sorted, each once: what [`set`] makes of a list.
fn is_set<T: Ord>(list: &[T]) -> bool {
    list.windows(2).all(|w| w[0] < w[1])
}

fn set<T: Ord>(list: &mut Vec<T>) {
    list.sort();
    list.dedup();
}

/// Where model rules stand: in a role or `org.defaults` an absent `allow` and an empty one
/// both allow no model (one form, so that they never show as a change); in `org.models`
/// they differ (no filter, and a filter that lets nothing through).
#[derive(Clone, Copy, PartialEq)]
enum Level {
    Org,
    Grant,
}

fn models(rules: &mut Option<ModelRules>, level: Level) {
    if let Some(rules) = rules {
        if let Some(allow) = &mut rules.allow {
            set(allow);
        }
        if level == Level::Grant && rules.allow.as_ref().is_some_and(Vec::is_empty) {
            rules.allow = None;
        }
        set(&mut rules.deny);
    }
}

/// The live org seen as a policy, so that effective permissions can be computed for
/// the org as it is (to show who gains or loses what). `None` for an org never set up.
/// Pending invites count as active: their access starts when they accept.
pub fn as_policy(live: &LiveState) -> Option<Policy> {
    let org = live.org.as_ref()?;
    let org = crate::model::Org {
        name: org.name.clone(),
        plan: org.plan,
        domains: org.domains.clone(),
        seats: org.seats,
        provisioning: org.provisioning,
        sso: org.sso,
        capabilities: org.capabilities.clone(),
        models: org.models.clone(),
        defaults: org.defaults.clone(),
        caps: org.caps.clone(),
        unmanaged_users: crate::model::UnmanagedUsers::Keep,
        safety: crate::model::Safety::default(),
    };
    let roles = live
        .roles
        .iter()
        .map(|(name, role)| {
            let role = crate::model::Role {
                description: role.description.clone(),
                capabilities: role.capabilities.clone(),
                models: role.models.clone(),
                limits: role.limits.clone(),
            };
            (name.clone(), role)
        })
        .collect();
    let groups: BTreeMap<String, crate::model::Group> = live
        .groups
        .iter()
        .map(|(name, group)| {
            let group = crate::model::Group {
                description: group.description.clone(),
                roles: group.roles.clone(),
                members: group.members.clone(),
                limits: group.limits.clone(),
            };
            (name.clone(), group)
        })
        .collect();
    let users: BTreeMap<String, crate::model::User> = live
        .users
        .iter()
        .map(|(email, user)| {
            let status = match user.status {
                LiveStatus::Suspended => crate::model::UserStatus::Suspended,
                LiveStatus::Active | LiveStatus::Invited => crate::model::UserStatus::Active,
            };
            let user = crate::model::User {
                name: user.name.clone(),
                role: user.role,
                seat: user.seat,
                groups: Vec::new(),
                limits: user.limits.clone(),
                status,
                external: true,
            };
            (crate::model::email_key(email).into_owned(), user)
        })
        .collect();
    Some(Policy::new(
        org,
        roles,
        groups,
        users,
        crate::model::Origins::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_file_reads_with_defaults() {
        let state: LiveState = serde_json::from_str(
            r#"{"format_version":1,"users":{"A@x.com":{"id":"u1","status":"invited"}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let state = state.normalized();
        let user = &state.users["a@x.com"];
        assert_eq!(user.status, LiveStatus::Invited);
        assert_eq!(user.role, OrgRole::Member);
        assert!(state.org.is_none());
    }

    #[test]
    fn a_normalized_state_says_so() {
        let state: LiveState = serde_json::from_str(
            r#"{"format_version":1,
                "org":{"name":"A","plan":"team","domains":["b.com","a.com"]},
                "roles":{"r":{"capabilities":["chat","api"]}},
                "groups":{"g":{"roles":["r"],"members":["B@x.com","a@x.com"]}},
                "users":{"Ä@x.com":{}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!state.is_normalized());
        let normalized = state.clone().normalized();
        assert!(normalized.is_normalized());
        assert_eq!(normalized.clone().normalized(), normalized);
        // Each departure alone is seen.
        let mut one = normalized.clone();
        if let Some(g) = one.groups.get_mut("g") {
            g.members[0] = "A@x.com".into();
        }
        assert!(!one.is_normalized());
        let mut one = normalized.clone();
        if let Some(org) = &mut one.org {
            org.domains.push("a.com".into());
        }
        assert!(!one.is_normalized());
        let mut one = normalized;
        one.users.insert("É@x.com".into(), LiveUser::default());
        assert!(!one.is_normalized());
    }

    #[test]
    fn maps_built_at_once_are_the_maps_inserting_builds() {
        // Keys out of order and repeated: the last value of a key wins, as with inserts.
        let text = r#"{"format_version":1,
            "roles":{"b":{"id":"r2"},"a":{"id":"r1"},"b":{"id":"r3"}},
            "groups":{"z":{},"y":{"id":"g1"}},
            "users":{"c@x.com":{"id":"u1"},"a@x.com":{"id":"u2"},"c@x.com":{"id":"u3"}}}"#;
        let state: LiveState = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        let by_inserts = |section: &str| -> Vec<(String, Option<String>)> {
            let mut map = BTreeMap::new();
            for (key, entity) in value[section].as_object().into_iter().flatten() {
                map.insert(key.clone(), entity["id"].as_str().map(str::to_owned));
            }
            map.into_iter().collect()
        };
        let ids = |iter: Vec<(&String, &Option<String>)>| -> Vec<(String, Option<String>)> {
            iter.into_iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        // serde_json's `Value` keeps the last of a repeated key too.
        assert_eq!(
            ids(state.roles.iter().map(|(k, r)| (k, &r.id)).collect()),
            by_inserts("roles")
        );
        assert_eq!(
            ids(state.groups.iter().map(|(k, g)| (k, &g.id)).collect()),
            by_inserts("groups")
        );
        assert_eq!(
            ids(state.users.iter().map(|(k, u)| (k, &u.id)).collect()),
            by_inserts("users")
        );
        assert_eq!(state.users["c@x.com"].id.as_deref(), Some("u3"));
        let error = serde_json::from_str::<LiveState>(r#"{"format_version":1,"groups":7}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.starts_with("invalid type: integer `7`, expected a map"),
            "{error}"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let result: Result<LiveState, _> =
            serde_json::from_str(r#"{"format_version":1,"usres":{}}"#);
        assert!(result.is_err());
    }
}

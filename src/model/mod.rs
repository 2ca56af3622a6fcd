//! The policy types: what an admin writes in `policies/*.yaml`.
//!
//! These types are the one source of the JSON Schema (`orgplan schema`,
//! `schema/orgplan.schema.json`): every doc comment below becomes the hover text an
//! editor shows, so write them for admins.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod policy;
mod schema;

pub use policy::{Declared, Memberships, Origins, Policy, Section, email_key};
pub(crate) use schema::{describe_at_the_property, tidy_schema};
pub use schema::{json_schema, json_schema_text};

/// One policy file. Every key is optional: `roles`, `groups` and `users` may be split
/// across files, `org` appears in exactly one file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "orgplan policy file")]
pub struct PolicyFile {
    /// Format version of the policy files. Only `1` exists.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "version_one"
    )]
    #[schemars(range(min = 1, max = 1))]
    pub version: Option<u8>,
    /// Organization-wide settings: plan, seats, SSO, capabilities, defaults and safety rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<Org>,
    /// Custom roles (Enterprise only), by name. Groups grant them to their members.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"minLength": 1}))]
    pub roles: BTreeMap<String, Role>,
    /// Groups (Enterprise only), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"minLength": 1}))]
    pub groups: BTreeMap<String, Group>,
    /// Users, by email address (compared case-insensitively).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "built_at_once"
    )]
    pub users: BTreeMap<String, User>,
}

/// A map decoded in runs that are merged into full trees (the live file's maps, a policy
/// file's users): a tree that grows by inserting keys in order (a file's keys come sorted) leaves its nodes about half full, twice the
/// memory of one built in one go (on 100,000 users, 21 MB instead of 11), and building
/// from a list of every entry holds the list, and a sort's scratch, beside the tree.
/// `append` builds its result full; runs are merged as a binary counter carries (two
/// alike in size into one), so each entry moves a few times and only the run being
/// merged is held twice. The same map: a repeated key keeps its last value, as
/// inserting does (the later run is appended, and its values win).
pub(crate) fn built_at_once<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    // Entries inserted one by one before a run is merged: shorter runs hold less twice
    // and cost more merging (on 100,000 users, 16,384: 4 MB and 14 ms above inserting
    // alone; 2,048: 9 MB and 30 ms).
    deserializer.deserialize_map(Entries::<V>(16384, std::marker::PhantomData))
}

/// The visitor of [`built_at_once`], with the length of a run.
struct Entries<V>(usize, std::marker::PhantomData<V>);

impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Entries<V> {
    type Value = BTreeMap<String, V>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Merged runs, oldest (and largest) first.
        let mut runs: Vec<BTreeMap<String, V>> = Vec::new();
        let mut run = BTreeMap::new();
        while let Some((key, value)) = map.next_entry::<String, V>()? {
            run.insert(key, value);
            if run.len() == self.0 {
                let mut merged = std::mem::take(&mut run);
                while let Some(mut older) = runs.pop_if(|older| older.len() <= merged.len()) {
                    older.append(&mut merged);
                    merged = older;
                }
                runs.push(merged);
            }
        }
        if runs.is_empty() {
            // A lone run was grown by inserts: built again, full (a policy file's users).
            return Ok(run.into_iter().collect());
        }
        let mut whole = BTreeMap::new();
        for mut later in runs.into_iter().chain([run]) {
            whole.append(&mut later);
        }
        Ok(whole)
    }
}

// `version: 1.0` is the number 1 as YAML writes it (and the schema accepts it): read it as
// 1 rather than fail with a message about types.
fn version_one<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u8>, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if value == 1.0 {
        Ok(Some(1))
    } else {
        Err(serde::de::Error::custom(format!(
            "`version` must be 1, not `{value}`"
        )))
    }
}

/// Organization-wide settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Org {
    /// Display name of the organization.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Subscription plan: `team` or `enterprise`. SCIM/JIT provisioning, SSO, groups,
    /// custom roles, model restrictions and token limits need `enterprise`.
    pub plan: Plan,
    /// Email domains of the organization. A user's email must be in one of them unless
    /// the user has `external: true`.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Purchased seats per tier.
    #[serde(default)]
    pub seats: Seats,
    /// How accounts are created: `manual` (invites), `jit` (on first SSO login) or `scim`
    /// (pushed by the identity provider).
    #[serde(default)]
    pub provisioning: Provisioning,
    /// Single sign-on settings (Enterprise only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso: Option<Sso>,
    /// Capabilities switched on for the organization. Nothing outside this set is ever
    /// granted, whatever a role says.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Models the organization allows at all (Enterprise only). When absent, every model
    /// passes this filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<ModelRules>,
    /// Access of a user who holds no custom role.
    #[serde(default)]
    pub defaults: Access,
    /// Hard ceilings: a limit declared anywhere above these is an error, never clamped.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    #[schemars(with = "LimitsSchema")]
    pub caps: Limits,
    /// What to do with live users that no policy file declares: `keep` reports them,
    /// `remove` plans their removal.
    #[serde(default)]
    pub unmanaged_users: UnmanagedUsers,
    /// Guard rails that refuse a dangerous plan.
    #[serde(default)]
    pub safety: Safety,
}

/// Subscription plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// Claude Team.
    Team,
    /// Claude Enterprise.
    Enterprise,
}

/// Purchased seats per tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Seats {
    /// Standard seats purchased.
    #[serde(default)]
    pub standard: u32,
    /// Premium seats purchased (premium includes Claude Code).
    #[serde(default)]
    pub premium: u32,
}

/// How accounts are provisioned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provisioning {
    /// Admins invite users.
    #[default]
    Manual,
    /// Accounts are created on first SSO login (Enterprise only).
    Jit,
    /// The identity provider pushes accounts over SCIM (Enterprise only).
    Scim,
}

/// Single sign-on settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sso {
    /// Whether users must sign in through SSO.
    pub enforced: bool,
    /// SSO protocol: `saml` or `oidc`.
    pub protocol: SsoProtocol,
}

/// SSO protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SsoProtocol {
    /// SAML 2.0.
    Saml,
    /// OpenID Connect.
    Oidc,
}

/// A product capability that can be switched on for the org and granted by roles.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Chat in the Claude apps.
    Chat,
    /// Claude Code (needs a premium seat).
    ClaudeCode,
    /// API access.
    Api,
    /// Web search.
    WebSearch,
    /// Connectors to other tools.
    Connectors,
    /// File upload.
    FileUpload,
}

impl Capability {
    /// Every capability, in vocabulary order.
    pub const ALL: [Capability; 6] = [
        Capability::Chat,
        Capability::ClaudeCode,
        Capability::Api,
        Capability::WebSearch,
        Capability::Connectors,
        Capability::FileUpload,
    ];

    /// The name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Chat => "chat",
            Capability::ClaudeCode => "claude_code",
            Capability::Api => "api",
            Capability::WebSearch => "web_search",
            Capability::Connectors => "connectors",
            Capability::FileUpload => "file_upload",
        }
    }
}

/// Model glob patterns (`*` any run of characters, `?` one character). Deny wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRules {
    /// Patterns of models that are allowed, such as `claude-sonnet-*`. An empty list allows
    /// no model. Left out in `org.models`, the org filter lets every model through; left out
    /// in a role or in `org.defaults`, that role or the defaults allow no model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// Patterns of models that are denied even when an allow matches.
    #[serde(default)]
    pub deny: Vec<String>,
}

impl ModelRules {
    /// True when neither list has a pattern.
    pub fn is_empty(&self) -> bool {
        self.allow.as_ref().is_none_or(Vec::is_empty) && self.deny.is_empty()
    }
}

/// Access given to users who hold no custom role.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// Capabilities of a user who holds no custom role.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Models of a user who holds no custom role. When absent, such a user may use no model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<ModelRules>,
    /// Limits that apply when nothing closer to the user sets them.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    #[schemars(with = "LimitsSchema")]
    pub limits: Limits,
}

/// What happens to live users that no policy file declares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnmanagedUsers {
    /// Report them, change nothing.
    #[default]
    Keep,
    /// Plan their removal.
    Remove,
}

/// Guard rails checked on the org as it stands after a plan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Safety {
    /// Most users one plan may remove or suspend: a number, or a percentage of the live
    /// users such as `"10%"`. Default `"10%"`. Override once with `--allow-removals N`.
    #[serde(default)]
    pub max_removals: MaxRemovals,
    /// Fewest owners and admins (primary owner included) the org may have after a plan.
    /// Default 1.
    #[serde(default = "default_min_admins")]
    pub min_admins: u32,
    /// Emails that a plan never removes, suspends or demotes.
    #[serde(default)]
    pub protected: Vec<String>,
}

fn default_min_admins() -> u32 {
    1
}

impl Default for Safety {
    fn default() -> Self {
        Safety {
            max_removals: MaxRemovals::default(),
            min_admins: default_min_admins(),
            protected: Vec::new(),
        }
    }
}

/// A number of users, or a percentage of the live users such as `"10%"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum MaxRemovals {
    /// A number of users.
    Count(u32),
    /// A percentage of the live users, such as `"10%"`.
    Percent(#[schemars(regex(pattern = r"^[0-9]{1,3}(\.[0-9]+)?%$"))] String),
}

impl Default for MaxRemovals {
    fn default() -> Self {
        MaxRemovals::Percent("10%".to_owned())
    }
}

impl MaxRemovals {
    /// The number of users this allows out of `live_users`; a percentage rounds down.
    pub fn resolve(&self, live_users: usize) -> usize {
        match self {
            MaxRemovals::Count(n) => *n as usize,
            MaxRemovals::Percent(text) => {
                let percent: f64 = text.trim_end_matches('%').parse().unwrap_or(0.0);
                (live_users as f64 * percent / 100.0).floor() as usize
            }
        }
    }
}

/// A custom role (Enterprise only), granted to users through groups.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// What the role is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Capabilities the role grants (within `org.capabilities`).
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Models the role allows and denies. A role without `models` allows no model itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<ModelRules>,
    /// Limits of the role's holders (the most generous held role wins).
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    #[schemars(with = "LimitsSchema")]
    pub limits: Limits,
}

/// A group of users (Enterprise only).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// What the group is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Custom roles granted to every member.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Member emails. Users may also list the group under their own `groups`; both are merged.
    #[serde(default)]
    pub members: Vec<String>,
    /// Limits of the group's members (the most generous group wins).
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    #[schemars(with = "LimitsSchema")]
    pub limits: Limits,
}

/// A user of the organization.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Org role: `primary_owner`, `owner`, `admin` or `member` (default).
    #[serde(default)]
    pub role: OrgRole,
    /// Seat tier: `standard` (default) or `premium` (includes Claude Code).
    #[serde(default)]
    pub seat: Seat,
    /// Groups the user belongs to (merged with the groups' `members`).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Per-user limits; they beat every group, role and default.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    #[schemars(with = "LimitsSchema")]
    pub limits: Limits,
    /// `active` (default) or `suspended` (keeps the account and its seat, grants nothing).
    #[serde(default)]
    pub status: UserStatus,
    /// `true` allows an email outside `org.domains`.
    #[serde(default)]
    pub external: bool,
}

/// Org role of a user.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// The one owner who cannot be removed.
    PrimaryOwner,
    /// Owner: full control, billing included.
    Owner,
    /// Admin: manages users and settings.
    Admin,
    /// Member: no admin rights.
    #[default]
    Member,
}

impl OrgRole {
    /// The name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::PrimaryOwner => "primary_owner",
            OrgRole::Owner => "owner",
            OrgRole::Admin => "admin",
            OrgRole::Member => "member",
        }
    }

    /// Owners and admins, the primary owner included.
    pub fn is_admin(self) -> bool {
        self != OrgRole::Member
    }
}

/// Seat tier.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Seat {
    /// Standard seat.
    #[default]
    Standard,
    /// Premium seat, includes Claude Code.
    Premium,
}

impl Seat {
    /// The name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Seat::Standard => "standard",
            Seat::Premium => "premium",
        }
    }
}

/// Status of a declared user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Active account.
    #[default]
    Active,
    /// Suspended: the account and its seat are kept, nothing is granted.
    Suspended,
}

/// A limit metric.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Tokens (Enterprise only).
    Tokens,
    /// Spend in US dollars.
    SpendUsd,
}

impl Metric {
    /// The name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Tokens => "tokens",
            Metric::SpendUsd => "spend_usd",
        }
    }
}

/// A limit period.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Per day.
    Daily,
    /// Per week.
    Weekly,
    /// Per month.
    Monthly,
}

impl Period {
    /// The name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        }
    }
}

/// Limits per metric (`tokens`, `spend_usd`) and period (`daily`, `weekly`, `monthly`).
pub type Limits = BTreeMap<Metric, BTreeMap<Period, Amount>>;

// The schema of [`Limits`], spelled out as structs so that the schema names the metrics
// and periods (a map with enum keys would accept any key).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Limits")]
#[allow(dead_code, reason = "schema only")]
struct LimitsSchema {
    /// Token limits (Enterprise only).
    tokens: Option<PeriodsSchema>,
    /// Spend limits in US dollars.
    spend_usd: Option<PeriodsSchema>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Periods")]
#[allow(dead_code, reason = "schema only")]
struct PeriodsSchema {
    /// Limit per day.
    daily: Option<Amount>,
    /// Limit per week.
    weekly: Option<Amount>,
    /// Limit per month.
    monthly: Option<Amount>,
}

/// A non-negative amount. Whole numbers are written without a fraction.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Amount(pub f64);

impl Amount {
    /// The largest amount accepted: every whole number up to 2^53 is exact in an `f64`.
    pub const MAX: f64 = 9_007_199_254_740_992.0;
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Keep `50` as `50`, not `50.0`: plans and exports are read by people.
        if self.0.fract() == 0.0 && self.0.abs() < 9.0e15 {
            serializer.serialize_i64(self.0 as i64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        // Above 2^53 a number can no longer be kept exact (`9007199254740993` would
        // silently become `9007199254740992`): refuse it rather than round it. Integers are
        // checked before they become an `f64`, which would already have rounded them.
        const TOO_LARGE: &str =
            "expected a number of at most 9007199254740992 (2^53), which is kept exact";
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Amount;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a non-negative number")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Amount, E> {
                if n > 1 << 53 {
                    return Err(E::custom(TOO_LARGE));
                }
                Ok(Amount(n as f64))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Amount, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom("expected a non-negative number")),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Amount, E> {
                if !(value.is_finite() && value >= 0.0) {
                    Err(E::custom("expected a non-negative number"))
                } else if value > Amount::MAX {
                    Err(E::custom(TOO_LARGE))
                } else {
                    Ok(Amount(value))
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for Amount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Amount".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A non-negative number, at most 2^53 (9007199254740992) so that it is kept exact.",
            "type": "number",
            "minimum": 0,
            "maximum": 9_007_199_254_740_992_u64
        })
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match serde_json::to_value(self) {
            Ok(value) => write!(f, "{value}"),
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_merged_in_short_runs_are_the_maps_inserting_builds() {
        use serde::Deserializer as _;
        // Keys in order, reversed and shuffled, repeated within a run and across runs.
        let orders: [Vec<u32>; 4] = [
            (0..100).collect(),
            (0..100).rev().collect(),
            (0..300).map(|i| (i * 37) % 101).collect(),
            (0..50).chain(0..50).chain(25..75).collect(),
        ];
        for keys in orders {
            let entries: Vec<(String, usize)> = keys
                .iter()
                .enumerate()
                .map(|(at, key)| (format!("k{key:03}"), at))
                .collect();
            let body: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            let text = format!("{{{}}}", body.join(","));
            let by_inserts: BTreeMap<String, usize> = entries.iter().cloned().collect();
            for run in [1, 2, 3, 7, 64, 1000] {
                let mut de = serde_json::Deserializer::from_str(&text);
                let merged = de
                    .deserialize_map(Entries::<usize>(run, std::marker::PhantomData))
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(merged, by_inserts, "run {run}");
            }
        }
    }
}

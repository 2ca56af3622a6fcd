//! The policy types: what an admin writes in `policies/*.yaml`.
//!
//! These types are the one source of the JSON Schema (`orgplan schema`,
//! `schema/orgplan.schema.json`): every doc comment below becomes the hover text an
//! editor shows, so write them for admins.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, User>,
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

/// The JSON Schema of a policy file, draft-07, as committed in `schema/orgplan.schema.json`.
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut value = generator.into_root_schema_for::<PolicyFile>().to_value();
    tidy_schema(&mut value);
    describe_at_the_property(&mut value);
    value
}

// The YAML language server shows a referenced definition's description on hover instead
// of the property's own, which is the one written for that place ("Guard rails that refuse
// a dangerous plan" rather than the type's doc). So the properties keep the text: enum
// definitions hand their list of values to every property that uses them, and then no
// definition keeps a description of its own.
pub(crate) fn describe_at_the_property(schema: &mut serde_json::Value) {
    use serde_json::Value;
    let Some(definitions) = schema.get("definitions").and_then(Value::as_object) else {
        return;
    };
    // For an enum, the value list that follows the first line of its description.
    let value_lists: std::collections::BTreeMap<String, String> = definitions
        .iter()
        .filter(|(_, d)| d.get("enum").is_some())
        .filter_map(|(name, d)| {
            let text = d.get("description")?.as_str()?;
            let list = text.split_once("\n- ")?.1;
            Some((format!("#/definitions/{name}"), format!("\n- {list}")))
        })
        .collect();
    fn walk(node: &mut Value, lists: &std::collections::BTreeMap<String, String>) {
        match node {
            Value::Object(map) => {
                let reference = map
                    .get("allOf")
                    .and_then(|a| a.get(0))
                    .and_then(|r| r.get("$ref"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if let (Some(list), Some(Value::String(description))) = (
                    reference.and_then(|r| lists.get(&r)),
                    map.get_mut("description"),
                ) {
                    description.push_str(list);
                }
                map.values_mut().for_each(|v| walk(v, lists));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, lists)),
            _ => {}
        }
    }
    walk(schema, &value_lists);
    if let Some(definitions) = schema.get_mut("definitions").and_then(Value::as_object_mut) {
        for definition in definitions.values_mut() {
            if let Some(map) = definition.as_object_mut() {
                map.remove("description");
            }
        }
    }
}

// Three rewrites of what schemars writes, for editors and draft-07:
// - a documented unit enum comes as `oneOf` of `const`s; editors complete and validators
//   report `enum` better, so fold it into `enum` and list the values with their meaning in
//   the description (the hover text);
// - an `Option` field also accepts `null`, which is never useful in a policy file;
// - draft-07 ignores the siblings of `$ref`, so wrap it in `allOf` to keep the description.
pub(crate) fn tidy_schema(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(variants)) = map.get("anyOf") {
                let non_null: Vec<Value> = variants
                    .iter()
                    .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
                    .cloned()
                    .collect();
                if non_null.len() == 1 && variants.len() == 2 {
                    map.remove("anyOf");
                    map.insert("allOf".into(), non_null.into());
                }
            }
            if map.len() > 1
                && let Some(reference) = map.remove("$ref")
            {
                map.insert("allOf".into(), serde_json::json!([{ "$ref": reference }]));
            }
            let consts: Option<Vec<(Value, String)>> = map
                .get("oneOf")
                .and_then(Value::as_array)
                .and_then(|variants| {
                    variants
                        .iter()
                        .map(|variant| {
                            let constant = variant.get("const")?.clone();
                            let doc = variant
                                .get("description")
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            Some((constant, doc.to_owned()))
                        })
                        .collect()
                });
            if let Some(consts) = consts {
                map.remove("oneOf");
                let mut description = map
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                for (constant, doc) in &consts {
                    description.push_str(&format!(
                        "\n- `{}`: {doc}",
                        constant.as_str().unwrap_or_default()
                    ));
                }
                map.insert("type".into(), "string".into());
                map.insert("enum".into(), consts.into_iter().map(|(c, _)| c).collect());
                map.insert("description".into(), description.into());
            }
            map.values_mut().for_each(tidy_schema);
        }
        Value::Array(items) => items.iter_mut().for_each(tidy_schema),
        _ => {}
    }
}

/// The schema as the pretty JSON text that is committed.
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// The section of the policy an entity is declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// `org`.
    Org,
    /// `roles`.
    Roles,
    /// `groups`.
    Groups,
    /// `users`.
    Users,
}

impl Section {
    /// The key in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Org => "org",
            Section::Roles => "roles",
            Section::Groups => "groups",
            Section::Users => "users",
        }
    }
}

/// A checked policy: every file merged, emails lowercased, references resolved.
/// Built only by [`crate::validate`]; keeps where every entity was declared.
#[derive(Debug)]
pub struct Policy {
    /// Organization settings.
    pub org: Org,
    /// Custom roles by name.
    pub roles: BTreeMap<String, Role>,
    /// Groups by name.
    pub groups: BTreeMap<String, Group>,
    /// Users by lowercased email.
    pub users: BTreeMap<String, User>,
    /// Groups of each user: the user's own `groups` merged with the groups that list
    /// the user in `members`, sorted, each once. Every user has an entry. (Sorted vectors,
    /// not sets: a set's first node is ten times the size of one or two names.)
    pub memberships: BTreeMap<String, Vec<String>>,
    /// Where each entity was declared.
    pub origins: Origins,
}

/// Where each entity of a [`Policy`] was declared, for `file:line` provenance.
#[derive(Debug, Default)]
pub struct Origins {
    /// The parsed documents (their JSON values dropped once decoded).
    pub documents: Vec<crate::load::Document>,
    /// Where each entity is declared.
    pub declared: Declared,
}

/// Where each entity is declared: per section, key as normalized -> (document index, key
/// as written when it differs). Looked up by `&str`, with no key built per lookup, and
/// the written key kept only when it differs (a mixed-case email), not once per user.
#[derive(Debug, Default, Clone)]
pub struct Declared {
    sections: [foldhash::HashMap<String, (usize, Option<String>)>; 4],
}

impl Declared {
    /// Record that `normalized` (written `written`) is declared in document `doc`.
    pub fn insert(&mut self, section: Section, normalized: String, doc: usize, written: &str) {
        let written = (written != normalized).then(|| written.to_owned());
        self.sections[section as usize].insert(normalized, (doc, written));
    }

    /// The document declaring `normalized` and the key as written there.
    pub fn get<'a>(&'a self, section: Section, normalized: &'a str) -> Option<(usize, &'a str)> {
        let (doc, written) = self.sections[section as usize].get(normalized)?;
        Some((*doc, written.as_deref().unwrap_or(normalized)))
    }
}

impl Origins {
    fn pointer_of(&self, section: Section, name: &str, path: &[&str]) -> Option<(usize, String)> {
        let (doc, key) = self.declared.get(section, name)?;
        // Escape only what needs it: most keys have no `~` or `/`.
        let push = |pointer: &mut String, segment: &str| {
            pointer.push('/');
            if segment.contains(['~', '/']) {
                pointer.push_str(&crate::load::escape_segment(segment));
            } else {
                pointer.push_str(segment);
            }
        };
        let mut pointer = String::with_capacity(64);
        push(&mut pointer, section.as_str());
        if section != Section::Org {
            push(&mut pointer, key);
        }
        for segment in path {
            push(&mut pointer, segment);
        }
        Some((doc, pointer))
    }

    /// Place of the value at `path` inside an entity (or its nearest declared ancestor).
    pub fn locate(
        &self,
        section: Section,
        name: &str,
        path: &[&str],
    ) -> Option<crate::diag::Location> {
        let (doc, pointer) = self.pointer_of(section, name, path)?;
        self.documents.get(doc)?.locate(&pointer)
    }

    /// Place of the key at `path` inside an entity (the entity's own key when `path` is
    /// empty).
    pub fn locate_key(
        &self,
        section: Section,
        name: &str,
        path: &[&str],
    ) -> Option<crate::diag::Location> {
        let (doc, pointer) = self.pointer_of(section, name, path)?;
        self.documents.get(doc)?.locate_key(&pointer)
    }

    /// `file:line` of the value at `path` inside an entity.
    pub fn source(&self, section: Section, name: &str, path: &[&str]) -> Option<String> {
        self.locate(section, name, path).map(|l| l.file_line())
    }
}

/// Each user's groups: the user's own `groups` merged with the groups that list the user
/// in `members`. Only defined users and groups count; references to others are reported
/// by validation.
pub type Memberships = BTreeMap<String, Vec<String>>;

/// Build [`Memberships`] from users keyed by lowercased email and groups by name.
///
/// Users and groups are looked up by position (hash lookups, not tree walks comparing
/// long emails), and each set is built from sorted input in one go.
fn memberships(users: &BTreeMap<String, User>, groups: &BTreeMap<String, Group>) -> Memberships {
    use foldhash::HashMap;
    let group_at: HashMap<&str, usize> = groups
        .keys()
        .enumerate()
        .map(|(at, name)| (name.as_str(), at))
        .collect();
    let user_at: HashMap<&str, usize> = users
        .keys()
        .enumerate()
        .map(|(at, email)| (email.as_str(), at))
        .collect();
    // Group positions of each user: the user's own `groups`, then the groups listing them.
    let mut of_user: Vec<Vec<usize>> = users
        .values()
        .map(|user| {
            let defined = user.groups.iter();
            defined
                .filter_map(|g| group_at.get(g.as_str()).copied())
                .collect()
        })
        .collect();
    for (at, group) in groups.values().enumerate() {
        for member in &group.members {
            let email = email_key(member);
            if let Some(&user) = user_at.get(email.as_ref()) {
                of_user[user].push(at);
            }
        }
    }
    let group_names: Vec<&String> = groups.keys().collect();
    let mut by_user = Vec::with_capacity(users.len());
    for (email, positions) in users.keys().zip(&mut of_user) {
        positions.sort_unstable();
        positions.dedup();
        let names: Vec<String> = positions
            .iter()
            .map(|&at| group_names[at].clone())
            .collect();
        by_user.push((email.clone(), names));
    }
    by_user.into_iter().collect()
}

/// The identity of an email address: Unicode NFC, then lowercase, so that two spellings of
/// one address (a composed `é` and an `e` with a combining accent, `Bob@` and `bob@`) are one
/// user. Every boundary where an email enters (policy, live state from every provider,
/// saved plans, usage and test files) compares through this. Borrowed when it changes
/// nothing (most emails are lowercase ASCII, seen without a copy).
pub fn email_key(text: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
    if text.is_ascii() {
        if !text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Borrowed(text);
        }
        return Cow::Owned(text.to_ascii_lowercase());
    }
    let composed: Cow<'_, str> = match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => Cow::Borrowed(text),
        _ => Cow::Owned(text.nfc().collect()),
    };
    let lower = composed.to_lowercase();
    // Lowercasing can decompose nothing but may leave a non-NFC sequence in rare scripts;
    // normalize once more so the key is stable.
    let lower: String = match is_nfc_quick(lower.chars()) {
        IsNormalized::Yes => lower,
        _ => lower.nfc().collect(),
    };
    if lower == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(lower)
    }
}

impl Policy {
    /// A policy from its parts (users keyed by lowercased email), with the memberships
    /// derived here, once, for every way a policy is built.
    pub fn new(
        org: Org,
        roles: BTreeMap<String, Role>,
        groups: BTreeMap<String, Group>,
        users: BTreeMap<String, User>,
        origins: Origins,
    ) -> Self {
        let memberships = memberships(&users, &groups);
        Policy {
            org,
            roles,
            groups,
            users,
            memberships,
            origins,
        }
    }

    /// Custom roles held by `email`: the union of the roles of the user's groups.
    pub fn roles_of(&self, email: &str) -> std::collections::BTreeSet<&str> {
        self.memberships
            .get(email)
            .into_iter()
            .flatten()
            .filter_map(|group| self.groups.get(group))
            .flat_map(|group| group.roles.iter().map(String::as_str))
            .filter(|role| self.roles.contains_key(*role))
            .collect()
    }

    /// The members of every defined group (each has an entry), sorted by email: one pass
    /// over the users, borrowed, for the rare reader (the projection, an empty-group
    /// check) rather than a second copy of every membership kept in the policy.
    pub fn members_by_group(&self) -> BTreeMap<&str, Vec<&str>> {
        // Groups are found by position through a hash, not by walking a tree of names
        // (a dozen string compares for each of a large org's memberships); the map is
        // built at the end from names already in order.
        let at: foldhash::HashMap<&str, usize> = self
            .groups
            .keys()
            .enumerate()
            .map(|(at, name)| (name.as_str(), at))
            .collect();
        let mut lists: Vec<Vec<&str>> = vec![Vec::new(); self.groups.len()];
        for (email, groups) in &self.memberships {
            for group in groups {
                if let Some(&at) = at.get(group.as_str()) {
                    lists[at].push(email);
                }
            }
        }
        self.groups.keys().map(String::as_str).zip(lists).collect()
    }
}

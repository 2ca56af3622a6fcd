//! The types of a policy test file (`*.test.yaml`): what an admin writes to pin down who
//! can do what. They are the one source of `schema/orgplan-test.schema.json`
//! (`orgplan schema --test`): every doc comment below is an editor's hover text.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::model::{Amount, Capability, Metric, OrgRole, Period, Seat, UserStatus};

/// A policy test file: a list of tests run by `orgplan test` against the effective
/// permissions of the policy beside it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "orgplan policy test file")]
pub struct TestFile {
    /// The tests. Each selects users (`user`, `group` or `users: all`, optionally narrowed
    /// by `where`) and states what must hold for every one of them (`expect`).
    pub tests: Vec<Test>,
}

/// One test: every selected user must meet every expectation. A test that selects no
/// user fails.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["user"]},
    {"required": ["group"]},
    {"required": ["users"]}
]))]
pub struct Test {
    /// What the test proves, in words: it names the test in every report.
    pub name: String,
    /// Select one user by email (compared case-insensitively). Use exactly one of `user`,
    /// `group` and `users`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Select every member of a group. Use exactly one of `user`, `group` and `users`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `all` selects every declared user. Use exactly one of `user`, `group` and `users`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<AllUsers>,
    /// Keep only the selected users that meet these conditions (the vocabulary of
    /// `expect`), such as `{capabilities: {include: [api]}}`.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<Expect>,
    /// What must hold for every selected user.
    pub expect: Expect,
}

/// `all`: every declared user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllUsers {
    /// Every declared user.
    All,
}

/// Expectations on a user's effective permissions; each one given must hold.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The org role the user has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<OrgRole>,
    /// The seat tier the user has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<Seat>,
    /// The user's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<UserStatus>,
    /// The user's groups, as an exact set (order does not matter; `[]` means none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// The custom roles the user holds through groups, as an exact set (`[]` means none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Capabilities that must be in force (`include`) and that must not (`exclude`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<CapabilitiesExpect>,
    /// Models the user may use (`allowed`) and may not (`denied`), decided as
    /// `orgplan explain EMAIL --model M` decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<ModelsExpect>,
    /// Limits in force, per metric and period: an exact number, `none` (no limit in
    /// force), `{max: N}` (a limit of at most N) or `{min: N}` (at least N, or no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<LimitsExpectSchema>")]
    pub limits: Option<LimitsExpect>,
}

/// Capabilities that must and must not be in force.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilitiesExpect {
    /// Capabilities that must all be in force.
    #[serde(default)]
    pub include: Vec<Capability>,
    /// Capabilities none of which may be in force.
    #[serde(default)]
    pub exclude: Vec<Capability>,
}

/// Models the user may and may not use.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelsExpect {
    /// Model names (not patterns), such as `claude-opus-4-1`, that the user may use.
    #[serde(default)]
    pub allowed: Vec<String>,
    /// Model names that the user may not use.
    #[serde(default)]
    pub denied: Vec<String>,
}

/// Expected limits per metric and period.
pub type LimitsExpect = BTreeMap<Metric, BTreeMap<Period, LimitExpect>>;

/// What the limit in force must be.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum LimitExpect {
    /// Exactly this value is in force.
    Exact(Amount),
    /// No limit is in force.
    None(NoLimit),
    /// The value in force is within bounds.
    Bound(Bound),
}

/// `none`: no limit in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoLimit {
    /// No limit is in force for this metric and period.
    None,
}

/// Bounds on the limit in force.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
pub struct Bound {
    /// A limit of at most this value must be in force (no limit fails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Amount>,
    /// The limit in force must be at least this value (no limit passes: it is unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Amount>,
}

// The schema of [`LimitsExpect`], spelled out so that it names the metrics and periods.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "LimitsExpect")]
#[allow(dead_code, reason = "schema only")]
struct LimitsExpectSchema {
    /// Expected token limits.
    tokens: Option<PeriodsExpectSchema>,
    /// Expected spend limits, in US dollars.
    spend_usd: Option<PeriodsExpectSchema>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PeriodsExpect")]
#[allow(dead_code, reason = "schema only")]
struct PeriodsExpectSchema {
    /// The daily limit in force: a number, `none`, `{max: N}` or `{min: N}`.
    daily: Option<LimitExpect>,
    /// The weekly limit in force: a number, `none`, `{max: N}` or `{min: N}`.
    weekly: Option<LimitExpect>,
    /// The monthly limit in force: a number, `none`, `{max: N}` or `{min: N}`.
    monthly: Option<LimitExpect>,
}

/// The JSON Schema of a test file, draft-07, as committed in
/// `schema/orgplan-test.schema.json`.
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut value = generator.into_root_schema_for::<TestFile>().to_value();
    crate::model::tidy_schema(&mut value);
    crate::model::describe_at_the_property(&mut value);
    value
}

/// The test-file schema as the pretty JSON text that is committed.
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

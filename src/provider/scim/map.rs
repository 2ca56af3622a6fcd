//! Mapping between orgplan's live-state types and SCIM resources (RFC 7643).
//!
//! - user ↔ core `User`: `userName` = email, a primary work email, `displayName` and
//!   `name.formatted` = name, `active` = not suspended, the org role as a primary entry of
//!   `roles`, the seat as a `seat:<tier>` entry of `entitlements`; limits in orgplan's
//!   User extension.
//! - group ↔ core `Group`: `displayName`, `members` by user id (read separately);
//!   description, custom roles and limits in orgplan's Group extension.
//! - custom role ↔ `OrgplanRole`, org settings ↔ the one `OrgplanOrg` resource.
//!
//! SCIM forbids a complex attribute inside a complex one, so limits are flat:
//! `{"tokens": {"daily": 5}}` is `{"tokensDaily": 5}` (schema/scim/ ships the schemas).

use serde_json::{Map, Value, json};

use crate::live::{LiveGroup, LiveOrg, LiveRole, LiveStatus, LiveUser};
use crate::model::{Limits, OrgRole, Seat};

/// Core User schema.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// orgplan's User extension.
pub const USER_EXT: &str = "urn:orgplan:params:scim:schemas:extension:2.0:User";
/// orgplan's Group extension.
pub const GROUP_EXT: &str = "urn:orgplan:params:scim:schemas:extension:2.0:Group";
/// orgplan's custom role resource.
pub const ROLE: &str = "urn:orgplan:params:scim:schemas:2.0:OrgplanRole";
/// orgplan's org settings resource.
pub const ORG: &str = "urn:orgplan:params:scim:schemas:2.0:OrgplanOrg";

const SEAT_PREFIX: &str = "seat:";
const METRICS: [(&str, &str); 2] = [("tokens", "tokens"), ("spend_usd", "spendUsd")];
const PERIODS: [(&str, &str); 3] = [
    ("daily", "Daily"),
    ("weekly", "Weekly"),
    ("monthly", "Monthly"),
];

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key)?.as_str().map(str::to_owned)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn decode<T: serde::de::DeserializeOwned + Default>(value: Value) -> T {
    serde_json::from_value(value).unwrap_or_default()
}

/// `{"tokens": {"daily": 5}}` → `{"tokensDaily": 5}`.
pub fn limits_to_scim(limits: &Limits) -> Value {
    let nested = serde_json::to_value(limits).unwrap_or(Value::Null);
    let mut flat = Map::new();
    for (metric, prefix) in METRICS {
        for (period, suffix) in PERIODS {
            if let Some(amount) = nested.get(metric).and_then(|m| m.get(period)) {
                flat.insert(format!("{prefix}{suffix}"), amount.clone());
            }
        }
    }
    Value::Object(flat)
}

/// `{"tokensDaily": 5}` → `{"tokens": {"daily": 5}}`; unknown keys are ignored.
pub fn limits_from_scim(flat: Option<&Value>) -> Limits {
    let mut nested = Map::new();
    let Some(flat) = flat.and_then(Value::as_object) else {
        return Limits::new();
    };
    for (metric, prefix) in METRICS {
        for (period, suffix) in PERIODS {
            if let Some(amount) = flat.get(&format!("{prefix}{suffix}")) {
                let entry = nested
                    .entry(metric.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(periods) = entry {
                    periods.insert(period.to_owned(), amount.clone());
                }
            }
        }
    }
    decode(Value::Object(nested))
}

/// The live user a SCIM User stands for: (email, user). `None` without a `userName`.
pub fn user_from_scim(resource: &Value, extension: bool) -> Option<(String, LiveUser)> {
    let email = crate::model::email_key(&text(resource, "userName")?).into_owned();
    let name = text(resource, "displayName").or_else(|| {
        resource
            .get("name")
            .and_then(|n| text(n, "formatted"))
            .filter(|n| !n.is_empty())
    });
    let entries = |key: &str| -> Vec<Value> {
        resource
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    // The primary org role, else the first orgplan knows; anything else is not ours.
    let mut roles: Vec<(bool, OrgRole)> = entries("roles")
        .iter()
        .filter_map(|r| {
            let role = serde_json::from_value::<OrgRole>(r.get("value")?.clone()).ok()?;
            Some((r.get("primary") == Some(&Value::Bool(true)), role))
        })
        .collect();
    roles.sort_by_key(|(primary, _)| !primary);
    let role = roles.first().map(|(_, r)| *r).unwrap_or_default();
    let seat = entries("entitlements")
        .iter()
        .filter_map(|e| e.get("value")?.as_str()?.strip_prefix(SEAT_PREFIX))
        .find_map(|tier| serde_json::from_value::<Seat>(Value::from(tier)).ok())
        .unwrap_or_default();
    let status = if resource.get("active") == Some(&Value::Bool(false)) {
        LiveStatus::Suspended
    } else {
        LiveStatus::Active
    };
    let limits = if extension {
        limits_from_scim(resource.get(USER_EXT).and_then(|e| e.get("limits")))
    } else {
        Limits::new()
    };
    let user = LiveUser {
        id: text(resource, "id"),
        name,
        role,
        seat,
        status,
        limits,
    };
    Some((email, user))
}

/// The attributes orgplan sets on a SCIM User; `current` keeps the roles and
/// entitlements that are not orgplan's.
pub fn user_to_scim(email: &str, user: &LiveUser, extension: bool, current: &Value) -> Value {
    let keep = |key: &str, ours: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        current
            .get(key)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter(|v| !ours(v)).cloned().collect())
            .unwrap_or_default()
    };
    let is_org_role = |v: &Value| {
        v.get("value")
            .is_some_and(|r| serde_json::from_value::<OrgRole>(r.clone()).is_ok())
    };
    let is_seat = |v: &Value| {
        v.get("value")
            .and_then(Value::as_str)
            .is_some_and(|s| s.starts_with(SEAT_PREFIX))
    };
    let mut roles = keep("roles", &is_org_role);
    for role in &mut roles {
        if let Value::Object(map) = role {
            map.remove("primary");
        }
    }
    roles.insert(0, json!({"value": user.role, "primary": true}));
    let mut entitlements = keep("entitlements", &is_seat);
    entitlements.insert(
        0,
        json!({"value": format!("{SEAT_PREFIX}{}", seat_name(user.seat))}),
    );
    let mut out = json!({
        "userName": email,
        "emails": [{"value": email, "type": "work", "primary": true}],
        "active": user.status != LiveStatus::Suspended,
        "roles": roles,
        "entitlements": entitlements,
    });
    if let (Some(name), Value::Object(map)) = (&user.name, &mut out) {
        map.insert("displayName".into(), name.clone().into());
        let mut full = current
            .get("name")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        full.insert("formatted".into(), name.clone().into());
        map.insert("name".into(), Value::Object(full));
    }
    if extension && let Value::Object(map) = &mut out {
        map.insert(
            USER_EXT.into(),
            json!({"limits": limits_to_scim(&user.limits)}),
        );
    }
    out
}

fn seat_name(seat: Seat) -> String {
    serde_json::to_value(seat)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The live group a SCIM Group stands for, members not included: (name, group).
pub fn group_from_scim(resource: &Value, extension: bool) -> Option<(String, LiveGroup)> {
    let name = text(resource, "displayName")?;
    let mut group = LiveGroup {
        id: text(resource, "id"),
        ..LiveGroup::default()
    };
    if extension && let Some(ext) = resource.get(GROUP_EXT) {
        group.description = text(ext, "description");
        group.roles = strings(ext.get("roles"));
        group.limits = limits_from_scim(ext.get("limits"));
    }
    Some((name, group))
}

/// The attributes orgplan sets on a SCIM Group (members are separate operations).
pub fn group_to_scim(name: &str, group: &LiveGroup, extension: bool) -> Value {
    let mut out = json!({"displayName": name});
    if extension && let Value::Object(map) = &mut out {
        let mut ext = json!({"roles": group.roles, "limits": limits_to_scim(&group.limits)});
        if let (Some(description), Value::Object(e)) = (&group.description, &mut ext) {
            e.insert("description".into(), description.clone().into());
        }
        map.insert(GROUP_EXT.into(), ext);
    }
    out
}

fn models_from_scim(value: Option<&Value>) -> Option<crate::model::ModelRules> {
    let value = value.filter(|v| v.is_object())?;
    Some(crate::model::ModelRules {
        allow: value.get("allow").map(|allow| strings(Some(allow))),
        deny: strings(value.get("deny")),
    })
}

/// The custom role an `OrgplanRole` stands for: (name, role).
pub fn role_from_scim(resource: &Value) -> Option<(String, LiveRole)> {
    let name = text(resource, "displayName")?;
    let role = LiveRole {
        id: text(resource, "id"),
        description: text(resource, "description"),
        capabilities: decode(resource.get("capabilities").cloned().unwrap_or_default()),
        models: models_from_scim(resource.get("models")),
        limits: limits_from_scim(resource.get("limits")),
    };
    Some((name, role))
}

/// The attributes of an `OrgplanRole`.
pub fn role_to_scim(name: &str, role: &LiveRole) -> Value {
    let mut out = json!({
        "schemas": [ROLE],
        "displayName": name,
        "capabilities": role.capabilities,
        "limits": limits_to_scim(&role.limits),
    });
    if let Value::Object(map) = &mut out {
        if let Some(description) = &role.description {
            map.insert("description".into(), description.clone().into());
        }
        if let Some(models) = &role.models {
            map.insert("models".into(), json!(models));
        }
    }
    out
}

/// The org settings of the `OrgplanOrg` resource.
pub fn org_from_scim(resource: &Value) -> Option<LiveOrg> {
    let mut org = Map::new();
    org.insert("name".into(), resource.get("displayName")?.clone());
    for key in [
        "plan",
        "domains",
        "seats",
        "provisioning",
        "sso",
        "capabilities",
    ] {
        if let Some(value) = resource.get(key).filter(|v| !v.is_null()) {
            org.insert(key.into(), value.clone());
        }
    }
    if let Some(models) = models_from_scim(resource.get("models")) {
        org.insert("models".into(), json!(models));
    }
    let mut defaults = Map::new();
    defaults.insert(
        "capabilities".into(),
        resource
            .get("defaultCapabilities")
            .cloned()
            .unwrap_or(json!([])),
    );
    if let Some(models) = models_from_scim(resource.get("defaultModels")) {
        defaults.insert("models".into(), json!(models));
    }
    defaults.insert(
        "limits".into(),
        json!(limits_from_scim(resource.get("defaultLimits"))),
    );
    org.insert("defaults".into(), Value::Object(defaults));
    org.insert("caps".into(), json!(limits_from_scim(resource.get("caps"))));
    serde_json::from_value(Value::Object(org)).ok()
}

/// The attributes of the `OrgplanOrg` resource.
pub fn org_to_scim(org: &LiveOrg) -> Value {
    let mut out = json!({
        "schemas": [ORG],
        "displayName": org.name,
        "plan": org.plan,
        "domains": org.domains,
        "seats": org.seats,
        "provisioning": org.provisioning,
        "capabilities": org.capabilities,
        "defaultCapabilities": org.defaults.capabilities,
        "defaultLimits": limits_to_scim(&org.defaults.limits),
        "caps": limits_to_scim(&org.caps),
    });
    if let Value::Object(map) = &mut out {
        if let Some(sso) = &org.sso {
            map.insert("sso".into(), json!(sso));
        }
        if let Some(models) = &org.models {
            map.insert("models".into(), json!(models));
        }
        if let Some(models) = &org.defaults.models {
            map.insert("defaultModels".into(), json!(models));
        }
    }
    out
}

/// `current` (a resource as read) with `attributes` set over it, ready for a PUT:
/// top-level attributes are replaced whole (`null` removes one), `meta` is dropped and
/// the extension schemas used are listed in `schemas`.
pub fn merged(current: &Value, attributes: &Value, base_schema: &str) -> Value {
    let mut out = current.as_object().cloned().unwrap_or_default();
    out.remove("meta");
    if let Some(attributes) = attributes.as_object() {
        for (key, value) in attributes {
            if value.is_null() {
                out.remove(key);
            } else {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    let mut schemas = strings(out.get("schemas"));
    if schemas.is_empty() {
        schemas.push(base_schema.to_owned());
    }
    for key in out.keys() {
        if key.starts_with("urn:") && !schemas.contains(key) {
            schemas.push(key.clone());
        }
    }
    out.insert("schemas".into(), json!(schemas));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_flatten_and_back() {
        let limits: Limits =
            serde_json::from_value(json!({"tokens": {"daily": 5}, "spend_usd": {"monthly": 800}}))
                .unwrap_or_else(|e| panic!("{e}"));
        let flat = limits_to_scim(&limits);
        assert_eq!(flat, json!({"tokensDaily": 5, "spendUsdMonthly": 800}));
        // Servers may answer 800.0 for 800.
        let back = limits_from_scim(Some(&json!({"tokensDaily": 5.0, "spendUsdMonthly": 800})));
        assert_eq!(back, limits);
    }

    #[test]
    fn a_user_round_trips_and_foreign_roles_are_kept() {
        let user = LiveUser {
            id: None,
            name: Some("Alice".into()),
            role: OrgRole::Admin,
            seat: Seat::Premium,
            status: LiveStatus::Suspended,
            limits: Limits::new(),
        };
        let current = json!({"roles": [{"value": "member", "primary": true}, {"value": "auditor", "primary": true}],
                              "entitlements": [{"value": "seat:standard"}, {"value": "vpn"}]});
        let scim = user_to_scim("a@x.com", &user, false, &current);
        assert_eq!(scim["roles"][1], json!({"value": "auditor"}));
        assert_eq!(scim["entitlements"][1], json!({"value": "vpn"}));
        let (email, back) = user_from_scim(&scim, false).unwrap_or_else(|| panic!("no user"));
        assert_eq!((email.as_str(), back), ("a@x.com", user));
    }
}

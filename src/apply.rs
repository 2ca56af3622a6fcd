//! Carrying a plan out: the pure in-memory application of operations to a live state,
//! the stale-plan check, and the report and audit records of an apply.
//!
//! A provider drives this (see [`crate::provider::Provider::apply`]): under its lock it
//! re-reads the live state, lets the caller refuse it (stale plan, safety), applies the
//! operations it carries out, writes the new state once, then records each applied
//! operation in its audit trail. Manual steps are never applied here and never dropped:
//! they come back in [`ApplyReport::manual`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diff::{OpKind, Operation};
use crate::live::LiveState;
use crate::plan::Plan;

pub use crate::provider::contract::{ApplyError, AuditRecord, Batch, by_provider, rfc3339};
pub use crate::provider::memory::{apply_all, apply_operation};

/// What an apply did, printed as text or JSON.
///
/// ```json
/// {"live": "file:.orgplan/live.json", "plan_digest": "<sha256 hex>",
///  "applied": [{"op": "user.invite", "target": "a@acme.com", "changes": […], …}],
///  "manual": [{"op": "org.update", …, "execution": "manual", "instruction": "…"}],
///  "audit_log": ".orgplan/live.json.audit.jsonl"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// The live URI, credentials stripped.
    pub live: String,
    /// sha256 of the canonical JSON of the plan that was applied.
    pub plan_digest: String,
    /// Operations the provider carried out, in the order it did.
    pub applied: Vec<Operation>,
    /// Manual steps: still to be done by an admin.
    pub manual: Vec<Operation>,
    /// Where the applied operations were recorded, when anything was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<String>,
}

/// What an apply that stopped midway did and did not do: `apply --format json` prints it
/// on stdout (the error stays on stderr, the exit code 1), so that automation learns what
/// landed without reading the error text. docs/formats.md documents it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoppedReport {
    /// The live URI, credentials stripped.
    pub live: String,
    /// sha256 of the canonical JSON of the plan that was being applied.
    pub plan_digest: String,
    /// The operation that failed, and why.
    pub error: Stop,
    /// Operations that landed, in order.
    pub applied: Vec<Operation>,
    /// Operations not carried out: the failed one and every one after it.
    pub not_applied: Vec<Operation>,
    /// Manual steps: still to be done by an admin.
    pub manual: Vec<Operation>,
    /// Where the operations that landed were recorded, when anything was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<String>,
}

/// Where and why an apply stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stop {
    /// The kind of the operation that failed.
    pub op: OpKind,
    /// Its target.
    pub target: String,
    /// Why it failed (the error's reason, without the lists of operations).
    pub message: String,
}

impl StoppedReport {
    /// The report of `error` when it is an apply that stopped midway (`None` for an
    /// error before anything was applied).
    pub fn of(
        error: &ApplyError,
        live: String,
        plan_digest: String,
        manual: Vec<Operation>,
    ) -> Option<Self> {
        let ApplyError::Partial {
            applied,
            op,
            target,
            reason,
            remaining,
            audit_log,
        } = error
        else {
            return None;
        };
        Some(StoppedReport {
            live,
            plan_digest,
            error: Stop {
                op: *op,
                target: target.clone(),
                message: reason.clone(),
            },
            applied: applied.clone(),
            not_applied: remaining.clone(),
            manual,
            audit_log: audit_log.as_deref().map(str::to_owned),
        })
    }
}

/// What changed between the live state a plan was made from (its `live_index`) and
/// `current`, one line per kind of change: ``users changed: `a@x.com`, `b@x.com` ``.
pub fn changed_since(plan: &Plan, current: &LiveState) -> Vec<String> {
    // An empty index is an empty org, or a plan from before `live_index` existed.
    let made_on_empty = plan.live_digest == crate::plan::digest(&LiveState::default());
    if plan.live_index.is_empty() && !made_on_empty {
        return vec!["(the plan has no `live_index`: made by an older orgplan)".to_owned()];
    }
    let now = crate::plan::live_index(current);
    // (section, how) -> names, so that the message groups like with like.
    let mut found: BTreeMap<(String, &str), Vec<String>> = BTreeMap::new();
    let mut note = |key: &str, how: &'static str| {
        let (section, name) = key.split_once('/').unwrap_or((key, ""));
        found
            .entry((section.to_owned(), how))
            .or_default()
            .push(name.to_owned());
    };
    for (key, digest) in &plan.live_index {
        match now.get(key) {
            None => note(key, "removed"),
            Some(d) if d != digest => note(key, "changed"),
            Some(_) => {}
        }
    }
    for key in now.keys() {
        if !plan.live_index.contains_key(key) {
            note(key, "added");
        }
    }
    found
        .into_iter()
        .map(|((section, how), names)| {
            if section == "org" {
                format!("org settings {how}")
            } else {
                let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                format!("{section} {how}: {}", names.join(", "))
            }
        })
        .collect()
}

/// Refuse `plan` when `current` (normalized) is not the live state it was made from.
pub fn check_not_stale(plan: &Plan, current: &LiveState) -> Result<(), ApplyError> {
    if crate::plan::live_digest(current, None) != plan.live_digest {
        return Err(ApplyError::Stale(changed_since(plan, current)));
    }
    Ok(())
}

/// Why the bytes of a saved plan (`orgplan apply FILE`) are not one.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    /// Not JSON at all.
    #[error("plan `{}` is not valid JSON: {source}", .path.display())]
    Json {
        /// The plan file.
        path: PathBuf,
        /// The decoder's complaint.
        source: serde_json::Error,
    },
    /// JSON without this orgplan's `format_version`.
    #[error(
        "plan `{}` is not a saved plan this orgplan reads (`format_version: {}` expected); save one with `orgplan plan -o FILE`",
        .path.display(),
        crate::plan::FORMAT_VERSION
    )]
    Version {
        /// The plan file.
        path: PathBuf,
    },
    /// The right version, but not the shape of a plan.
    #[error("plan `{}` is not a saved plan: {source}", .path.display())]
    Shape {
        /// The plan file.
        path: PathBuf,
        /// The decoder's complaint.
        source: serde_json::Error,
    },
}

/// Decode the bytes of the saved plan `path` (JSON of this orgplan's `format_version`).
pub fn parse_plan(path: &Path, bytes: &[u8]) -> Result<Plan, SavedPlanError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|source| SavedPlanError::Json {
            path: path.to_owned(),
            source,
        })?;
    let version = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(crate::plan::FORMAT_VERSION)) {
        return Err(SavedPlanError::Version {
            path: path.to_owned(),
        });
    }
    let mut plan: Plan = serde_json::from_value(value).map_err(|source| SavedPlanError::Shape {
        path: path.to_owned(),
        source,
    })?;
    // Emails enter here too: a target spelled `Maria@` or decomposed is the same person
    // to every check that follows (the safety rules look users up by it).
    for op in &mut plan.operations {
        if op.op.as_str().starts_with("user.") {
            op.target = crate::model::email_key(&op.target).into_owned();
        }
        if let Some(member) = &mut op.member {
            *member = crate::model::email_key(member).into_owned();
        }
    }
    Ok(plan)
}

/// Who is applying: the CI user when in CI, else the login name.
pub fn actor(env: impl Fn(&str) -> Option<String>) -> String {
    ["GITHUB_ACTOR", "GITLAB_USER_LOGIN", "USER", "USERNAME"]
        .into_iter()
        .find_map(|name| env(name).filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Capabilities;
    use crate::diff::tests::{BASE, policy};

    #[test]
    fn a_stale_plan_names_what_changed() {
        let policy = policy(BASE);
        let mut live = crate::live::project(&policy);
        let plan = crate::plan::build(
            &policy,
            &live,
            &Capabilities::full(),
            &crate::plan::Options::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        live.users.remove("kate@acme.com");
        live.users.insert("new@acme.com".into(), Default::default());
        if let Some(group) = live.groups.get_mut("sales") {
            group.description = Some("x".into());
        }
        assert_eq!(
            changed_since(&plan, &live),
            [
                "groups changed: `sales`",
                "users added: `new@acme.com`",
                "users removed: `kate@acme.com`"
            ]
        );
    }

    #[test]
    fn the_ci_actor_comes_first() {
        let env = |name: &str| match name {
            "GITHUB_ACTOR" => Some("octocat".to_owned()),
            "USER" => Some("runner".to_owned()),
            _ => None,
        };
        assert_eq!(actor(env), "octocat");
        assert_eq!(actor(|_| None), "unknown");
    }
}

//! `anthropic:` — a Claude Enterprise org through the Anthropic Admin API (docs/providers.md).
//!
//! The whole mapping between orgplan and the API lives in this one folder, so that it is one
//! place to update when the (partly beta) API changes. Public reference pages:
//!
//! - organization: <https://docs.anthropic.com/en/api/admin-api/organization/get-me>
//! - users: <https://platform.claude.com/docs/en/api/http/organization/users> (list with
//!   `after_id` cursors, get, update, remove; the role values by organization type)
//! - invites: <https://platform.claude.com/docs/en/api/organization/invites> (create with
//!   `rbac_group_ids`, list, get, delete)
//! - RBAC groups and their members:
//!   <https://platform.claude.com/docs/en/api/beta/organization/rbac_groups/create>, list,
//!   get, delete, `…/rbac_groups/members` (list, add, remove), `page`/`next_page` cursors
//! - RBAC roles and their permissions (`source`, the `action` vocabulary):
//!   <https://platform.claude.com/docs/en/api/beta/organization/rbac_roles>,
//!   `…/rbac_roles/permissions/list`
//! - spend limits: <https://platform.claude.com/docs/en/api/beta/organization/spend_limits/list>,
//!   `…/spend_limits/set`, `…/spend_limits/delete`
//!
//! Every path, field, role value, pagination scheme and beta header below was checked
//! against those pages (their stored copies, late 2026). Where the reference does not
//! give a path or a field, the choice made is marked `CHOICE:` in a comment, so that it
//! is easy to find and correct.
//!
//! Mapping: an orgplan `member` is API role `user`, or `managed` when they hold custom
//! roles through groups; groups are RBAC groups of source type `direct`; `spend_usd`
//! limits of users, groups and the organization are the spend limits of scope `user`,
//! `rbac_group` and `organization`. What the API reads but cannot write becomes a manual
//! step naming the console page ([`AnthropicProvider::refine`]); what it cannot read is
//! listed under `unverifiable` ([`UNREADABLE`], plus the roles whose permissions and the
//! users whose API role orgplan does not know). Before each destructive write (a removal,
//! a deletion, a membership removal) the target is read again, and the apply stops with a
//! stale message if it changed since the apply began: there is no lock on a remote org.
//! Applied operations are appended to a local JSONL audit file (`.orgplan/audit.jsonl`,
//! or `ORGPLAN_ANTHROPIC_AUDIT`). The key is a [`Secret`] header: never printed, logged
//! or saved.

mod client;
mod map;
mod read;
mod refine;
mod send;
mod steps;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::http::{Client, HttpError, Network, Policy as HttpPolicy, Secret};
use super::{Applied, Capabilities, Provider, ProviderError};
use crate::diff::{OpKind, Operation};
use crate::live::LiveState;
use crate::model::Period;
use crate::provider::contract::{ApplyError, AuditLog, AuditRecord, Batch, by_provider};

pub(crate) use client::error_of;
pub use read::{Get, read_with};
use refine::refine;
use steps::resolve;

/// The API, unless `ORGPLAN_ANTHROPIC_URL` says otherwise.
pub const DEFAULT_URL: &str = "https://api.anthropic.com";
/// `anthropic-version` header.
pub const API_VERSION: &str = "2023-06-01";
/// `anthropic-beta` of the RBAC group and role requests (every method). The reference
/// documents it for the user-management endpoints and says it is accepted whether or not
/// it is still required, so it is always sent to them.
pub const BETA_USER_MANAGEMENT: &str = "ce-user-management-2026-07-13";
/// `anthropic-beta` of `GET /v1/organizations/spend_limits`: "This endpoint is in beta:
/// requests must send `spend-limit-reads-2026-09-26`". The set and delete pages document
/// no beta header, so none is sent with them.
pub const BETA_SPEND_READS: &str = "spend-limit-reads-2026-09-26";
/// Environment variable holding the Admin API key.
pub const KEY_ENV: &str = "ANTHROPIC_ADMIN_KEY";
/// Environment variable overriding the base URL.
pub const URL_ENV: &str = "ORGPLAN_ANTHROPIC_URL";
/// Environment variable overriding the audit file.
pub const AUDIT_ENV: &str = "ORGPLAN_ANTHROPIC_AUDIT";
/// Environment variable overriding the pause between spend-limit requests (milliseconds).
pub const SPEND_INTERVAL_ENV: &str = "ORGPLAN_ANTHROPIC_SPEND_INTERVAL_MS";
/// Where applied operations are recorded by default.
pub const DEFAULT_AUDIT: &str = ".orgplan/audit.jsonl";
/// Spend-limit endpoints allow about 60 requests a minute: one a second keeps under it.
pub const SPEND_INTERVAL: Duration = Duration::from_secs(1);
/// Lists read at once when not told otherwise (`--parallelism` of `plan` and `export`).
pub const DEFAULT_PARALLELISM: usize = 8;

const ORG_PAGE: &str = "claude.ai › Admin settings › Organization";
const MEMBERS_PAGE: &str = "claude.ai › Admin settings › Members";
const GROUPS_PAGE: &str = "claude.ai › Admin settings › Groups";
const ROLES_PAGE: &str = "claude.ai › Admin settings › Roles";
// CHOICE: the reference says seat-tier, group and organization spend limits "are
// configured in claude.ai" without naming the page.
const SPEND_PAGE: &str = "claude.ai › Admin settings › Usage limits";

/// What the Admin API cannot read at all: not compared, listed under `unverifiable`.
/// Spend limits are readable for users, groups and the organization (its `org.caps`);
/// token limits nowhere.
pub const UNREADABLE: [&str; 17] = [
    "org.plan",
    "org.domains",
    "org.seats",
    "org.provisioning",
    "org.sso",
    "org.capabilities",
    "org.models",
    "org.defaults",
    "org.caps.tokens",
    "roles.description",
    "roles.models",
    "roles.limits",
    "groups.description",
    "groups.limits.tokens",
    // The profile name is each person's own (and an invite has none): not the org's to set.
    "users.name",
    "users.seat",
    "users.limits.tokens",
];

/// Why the Admin API provider could not be set up, or what the API answered.
#[derive(Debug, thiserror::Error)]
pub enum AnthropicError {
    /// No key in the environment.
    #[error(
        "`{KEY_ENV}` is not set: the `anthropic:` provider needs an Admin API key (it is never printed or saved)"
    )]
    NoKey,
    /// `anthropic:something`.
    #[error(
        "`{0}` is not a valid Admin API URI: write `anthropic:` and set the base URL with `{URL_ENV}`"
    )]
    Uri(String),
    /// A base URL that is not http(s).
    #[error("`{URL_ENV}` must start with `https://` or `http://`, not `{0}`")]
    BaseUrl(String),
    /// No answer after every retry.
    #[error("Admin API: {0}")]
    Http(#[from] HttpError),
    /// An error answer (`{"type":"error","error":{"type","message"}}`).
    #[error("Admin API {method} {path} answered {status} `{kind}`: {message}")]
    Api {
        /// Method.
        method: &'static str,
        /// Path without query.
        path: String,
        /// HTTP status.
        status: u16,
        /// `error.type`.
        kind: String,
        /// `error.message`, the key scrubbed from it.
        message: String,
    },
    /// An answer not in the documented shape.
    #[error("Admin API {path}: unexpected answer: {detail}")]
    Shape {
        /// Path without query.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The org cannot be mapped to a policy (two groups with one name, say).
    #[error("Admin API: {0}")]
    Unmappable(String),
    /// The target of a destructive write changed since this apply read the org.
    #[error(
        "stale: {0} since this apply read the org: another apply or an admin is changing it; nothing more was sent"
    )]
    Stale(String),
}

/// The key, kept only to scrub it from anything the server echoes back.
struct Key(String);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(***)")
    }
}

/// What a read learnt beyond the live state: needed to refine a plan and to apply it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Meta {
    /// Names of groups provisioned by the identity provider (read-only while SCIM is on).
    scim_groups: BTreeSet<String>,
    /// API role of each user and pending invite, by email (`user`, `managed`, `admin`, …).
    api_roles: BTreeMap<String, String>,
    /// Spend-limit ids by (email, period), for deletion.
    spend_ids: BTreeMap<(String, Period), String>,
    /// Users and invites whose API role orgplan does not know, with that role.
    unknown_roles: BTreeMap<String, String>,
    /// Custom roles granting an action orgplan does not know, with those actions.
    unknown_actions: BTreeMap<String, Vec<String>>,
    /// Account members of each group as the API listed them (pending invites left out).
    members: BTreeMap<String, BTreeSet<String>>,
}

/// The `anthropic:` provider.
#[derive(Debug)]
pub struct AnthropicProvider {
    client: Client,
    key: Key,
    audit: PathBuf,
    spend_interval: Duration,
    last_spend: Mutex<Option<Instant>>,
    meta: Mutex<Meta>,
    /// Lists read at once (`--parallelism`).
    parallelism: usize,
}

impl AnthropicProvider {
    /// The provider for `uri` (`anthropic:`), configured from `settings` (which the CLI
    /// reads from the environment): key `ANTHROPIC_ADMIN_KEY`, base URL
    /// `ORGPLAN_ANTHROPIC_URL`, audit file `apply --audit` (else the deprecated
    /// `ORGPLAN_ANTHROPIC_AUDIT`, else `.orgplan/audit.jsonl`), spend-limit pacing
    /// `ORGPLAN_ANTHROPIC_SPEND_INTERVAL_MS`, retries `ORGPLAN_HTTP_*`, TLS and proxy
    /// `SSL_CERT_FILE`, `HTTPS_PROXY`, `NO_PROXY`. Makes no request.
    pub fn from_settings(uri: &str, settings: &super::Settings) -> Result<Self, AnthropicError> {
        if uri != "anthropic:" {
            return Err(AnthropicError::Uri(super::redact(uri)));
        }
        let key = settings
            .credentials
            .admin_key
            .as_ref()
            .ok_or(AnthropicError::NoKey)?;
        let base = settings.anthropic_url.as_deref().unwrap_or(DEFAULT_URL);
        let audit = settings
            .audit
            .clone()
            .or_else(|| settings.anthropic_audit.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_AUDIT));
        Self::new(
            base,
            key.expose(),
            settings.http.clone(),
            &settings.network,
            settings.spend_interval,
            audit,
        )
    }

    /// A provider for the API at `base` with `key`.
    pub fn new(
        base: &str,
        key: &str,
        policy: HttpPolicy,
        network: &Network,
        spend_interval: Duration,
        audit: PathBuf,
    ) -> Result<Self, AnthropicError> {
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(AnthropicError::BaseUrl(super::http::redact_url(base)));
        }
        let headers = vec![
            ("x-api-key".to_owned(), Secret::new(key)),
            ("anthropic-version".to_owned(), Secret::new(API_VERSION)),
        ];
        Ok(AnthropicProvider {
            client: Client::with_network(base, headers, policy, network)?,
            key: Key(key.to_owned()),
            audit,
            spend_interval,
            last_spend: Mutex::new(None),
            meta: Mutex::new(Meta::default()),
            parallelism: DEFAULT_PARALLELISM,
        })
    }

    /// The same provider reading up to `parallelism` lists at once (at least one).
    pub fn with_parallelism(mut self, parallelism: usize) -> Self {
        self.parallelism = parallelism.max(1);
        self
    }
}

impl Provider for AnthropicProvider {
    fn uri(&self) -> String {
        "anthropic:".to_owned()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            applies: [
                OpKind::GroupCreate,
                OpKind::UserInvite,
                OpKind::UserUpdate,
                OpKind::GroupAddMember,
                OpKind::GroupRemoveMember,
                OpKind::UserRemove,
                OpKind::GroupDelete,
            ]
            .into_iter()
            .collect(),
            // What the last read could not map, after what the API never exposes.
            unreadable: UNREADABLE
                .iter()
                .map(|s| (*s).to_owned())
                .chain(
                    self.meta
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .unverifiable(),
                )
                .collect(),
        }
    }

    fn read(&self) -> Result<LiveState, ProviderError> {
        let (state, meta) = self.fetch()?;
        *self.meta.lock().unwrap_or_else(|e| e.into_inner()) = meta;
        Ok(state)
    }

    fn refine(&self, operations: Vec<Operation>, live: &LiveState) -> Vec<Operation> {
        refine(
            operations,
            live,
            &self.meta.lock().unwrap_or_else(|e| e.into_inner()),
        )
    }

    fn apply(
        &self,
        batch: &Batch<'_>,
        check: &mut dyn FnMut(&LiveState) -> Result<(), ApplyError>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Applied, ApplyError> {
        let (state, meta) = self.fetch().map_err(ProviderError::from)?;
        *self.meta.lock().unwrap_or_else(|e| e.into_inner()) = meta.clone();
        check(&state)?;
        let todo: Vec<&Operation> = batch
            .operations
            .iter()
            .filter(|op| by_provider(op))
            .collect();
        if todo.is_empty() {
            return Ok(Applied {
                operations: Vec::new(),
                audit_log: None,
            });
        }
        // Everything the plan can know is checked before the first request.
        let steps = resolve(&todo, &state, &meta)?;
        let audit_error = |source| ProviderError::Audit {
            path: self.audit.clone(),
            count: 0,
            source,
        };
        let mut audit = AuditLog::open(&self.audit).map_err(audit_error)?;

        let mut groups: BTreeMap<String, String> = state
            .groups
            .iter()
            .filter_map(|(name, g)| Some((name.clone(), g.id.clone()?)))
            .collect();
        let mut roles = meta.api_roles.clone();
        let mut applied: Vec<Operation> = Vec::new();
        for (index, (op, step)) in todo.iter().zip(&steps).enumerate() {
            let stop = |applied: Vec<Operation>, reason: String| ApplyError::Partial {
                audit_log: Some(self.audit.display().to_string().into()),
                applied,
                op: op.op,
                target: op.target.clone(),
                reason,
                remaining: todo[index..].iter().map(|o| (*o).clone()).collect(),
            };
            if let Err(error) = self.run(step, &mut groups, &mut roles) {
                return Err(stop(applied, error.to_string()));
            }
            let record = AuditRecord::landed(op, batch);
            applied.push((*op).clone());
            if let Err(error) = audit.append(std::slice::from_ref(&record)) {
                // It landed: report it as applied, and why the trail is short.
                let reason = format!(
                    "landed, but the audit log `{}` could not be written: {error}",
                    self.audit.display()
                );
                let mut partial = stop(applied, reason);
                if let ApplyError::Partial { remaining, .. } = &mut partial {
                    remaining.remove(0);
                }
                return Err(partial);
            }
            progress(index + 1, todo.len());
        }
        Ok(Applied {
            operations: applied,
            audit_log: Some(self.audit.display().to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{Change, Execution};
    use crate::live::{LiveGroup, LiveStatus, LiveUser};
    use crate::model::OrgRole;
    use map::org_role;
    use serde_json::{Value, json};
    use steps::cents;

    pub(super) fn op(
        kind: OpKind,
        target: &str,
        member: Option<&str>,
        changes: &[(&str, Value)],
    ) -> Operation {
        Operation {
            op: kind,
            target: target.into(),
            member: member.map(str::to_owned),
            changes: changes
                .iter()
                .map(|(field, after)| Change {
                    field: (*field).into(),
                    before: Value::Null,
                    after: after.clone(),
                })
                .collect(),
            source: None,
            execution: Execution::Provider,
        }
    }

    pub(super) fn live() -> LiveState {
        let mut state = LiveState::default();
        let user = |id: &str, status| LiveUser {
            id: Some(id.into()),
            status,
            ..LiveUser::default()
        };
        state
            .users
            .insert("bob@x.com".into(), user("user_1", LiveStatus::Active));
        state
            .users
            .insert("ivy@x.com".into(), user("invite_1", LiveStatus::Invited));
        state.groups.insert(
            "eng".into(),
            LiveGroup {
                id: Some("g1".into()),
                roles: vec!["dev".into()],
                ..LiveGroup::default()
            },
        );
        state.groups.insert(
            "idp".into(),
            LiveGroup {
                id: Some("g2".into()),
                ..LiveGroup::default()
            },
        );
        state
    }

    pub(super) fn meta() -> Meta {
        Meta {
            scim_groups: ["idp".to_owned()].into(),
            api_roles: [("bob@x.com".to_owned(), "user".to_owned())].into(),
            ..Meta::default()
        }
    }

    pub(super) fn summary(ops: &[Operation]) -> Vec<String> {
        ops.iter()
            .map(|o| {
                let kind = match o.execution {
                    Execution::Provider => "provider",
                    Execution::Manual { .. } => "manual",
                };
                format!("{} {} {kind}", o.op.as_str(), o.target)
            })
            .collect()
    }

    #[test]
    fn amounts_are_whole_cents_and_cursors_are_encoded() {
        assert_eq!(cents(&json!(50)), Some(5000));
        assert_eq!(cents(&json!(12.34)), Some(1234));
        assert_eq!(cents(&json!(0.001)), None);
        assert_eq!(crate::provider::http::encode("pg+/=2"), "pg%2B%2F%3D2");
        assert_eq!(org_role("managed"), Some(OrgRole::Member));
        assert_eq!(org_role("primary_owner"), Some(OrgRole::PrimaryOwner));
    }
}

//! `scim+http(s)://HOST:PORT/PATH`: a SCIM 2.0 service provider (RFC 7643/7644), driven
//! the way an identity provider (Okta, Entra ID) drives one.
//!
//! - Discovery first: `/ServiceProviderConfig` (patch, etag, filter), `/ResourceTypes` and
//!   `/Schemas` (orgplan's extension schemas, see `schema/scim/`). Only what the server
//!   advertises is used; what it cannot hold is `unreadable` and listed as unverifiable.
//! - Reads page with `startIndex`/`count` until `totalResults`: the first page says how
//!   many there are, the rest are read up to `parallelism` at a time and joined in page
//!   order. Groups are listed with their members (`attributes=members` when the default
//!   listing leaves them out); only a server that lists no members at all is asked for
//!   each group on its own, again `parallelism` at a time.
//! - Writes: POST to create (409 `uniqueness` → adopt the existing record), PUT of the
//!   re-read resource for updates, PATCH for `active` and memberships, DELETE to remove.
//!   Before each change the resource is re-read; if it no longer matches the state the
//!   apply started from, or the server answers 412 to `If-Match`, the apply stops with a
//!   stale message instead of overwriting.
//! - Batching (RFC 7644 §3.5.2, see [`members`]): a new group is created with its members
//!   that already exist in the POST; every membership add and remove of one group is one
//!   PATCH (several operations, many values), split only to stay within the server's
//!   advertised limits. A refused member is found by splitting the batch, so the report
//!   says exactly which members landed.
//! - Operations of one kind run on up to `parallelism` threads, kinds one after the other
//!   in the documented execution order (docs/plan.md). Each applied operation is appended
//!   to a local JSONL audit file (a SCIM server keeps no audit trail of ours).
//! - The bearer token comes from the settings (`ORGPLAN_SCIM_TOKEN`, read by the CLI) and
//!   only ever travels as a secret header of the shared HTTP client.

mod client;
pub mod map;
mod members;
mod read;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

use super::http::{Client, HttpError, Secret};
use super::{Applied, Capabilities, Provider, ProviderError};
use crate::diff::{OpKind, Operation};
use crate::live::LiveState;
use crate::provider::contract::{ApplyError, AuditRecord, Batch, by_provider};
use write::{Failure, Ids, Run, lock, text};

/// Environment variable holding the bearer token (read by the CLI into the settings).
pub const TOKEN_VAR: &str = "ORGPLAN_SCIM_TOKEN";

/// Start of the reason of an operation whose answer was lost.
const LOST: &str = "no answer, the request may have landed";

/// The audit file when `--audit` does not name one.
pub const DEFAULT_AUDIT: &str = ".orgplan/audit.jsonl";

/// Reads and writes at once when not told otherwise (`--parallelism`).
pub const DEFAULT_PARALLELISM: usize = 8;

/// How a user leaves the org.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Deprovision {
    /// DELETE the user.
    #[default]
    Delete,
    /// PATCH `active=false`: the record stays, deactivated.
    Deactivate,
}

/// Settings of a SCIM apply.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests in flight at once: pages and group reads, operations of one kind.
    pub parallelism: usize,
    /// DELETE or deactivate removed users.
    pub deprovision: Deprovision,
    /// The local JSONL audit file.
    pub audit: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parallelism: DEFAULT_PARALLELISM,
            deprovision: Deprovision::Delete,
            audit: PathBuf::from(DEFAULT_AUDIT),
        }
    }
}

/// Why the SCIM provider could not be built, read or written.
#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    /// No answer.
    #[error("{0}")]
    Http(#[from] HttpError),
    /// A create or an add whose answer was lost: it may have landed.
    #[error("{LOST}: {0}")]
    Lost(String),
    /// An answer that is not success.
    #[error("SCIM {method} {path} answered {status}{}{hint}", detail_of(.detail))]
    Status {
        /// Method.
        method: &'static str,
        /// Path below the base URL, without query.
        path: String,
        /// HTTP status.
        status: u16,
        /// The server's `detail`, if any.
        detail: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// A success answer in a shape SCIM does not allow.
    #[error("SCIM server at `{base}`: {detail}")]
    Shape {
        /// The base URL.
        base: String,
        /// What is wrong.
        detail: String,
    },
    /// The audit file could not be written.
    #[error("cannot write the audit file `{path}`: {source}")]
    Audit {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

fn detail_of(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// What the server said it supports.
#[derive(Debug, Clone, Default)]
struct Discovery {
    patch: bool,
    /// `bulk.maxOperations`, when advertised: also taken as the most values one PATCH carries.
    max_operations: Option<usize>,
    /// `bulk.maxPayloadSize` (bytes), when advertised.
    max_payload: Option<usize>,
    etag: bool,
    filter: bool,
    users: String,
    groups: String,
    user_ext: bool,
    group_ext: bool,
    roles: Option<String>,
    org: Option<String>,
}

/// The SCIM provider.
#[derive(Debug)]
pub struct ScimProvider {
    uri: String,
    client: Client,
    found: Discovery,
    options: Options,
    /// Requests in flight, at most `options.parallelism`, whichever thread sends.
    slots: super::backoff::Slots,
}

impl ScimProvider {
    /// Connect to the service provider `uri` names and discover what it supports, with
    /// the token, HTTP policy, network, parallelism, deprovisioning and audit file of
    /// `settings`.
    pub fn connect(uri: &str, settings: &super::Settings) -> Result<Self, ScimError> {
        let options = Options {
            parallelism: settings.parallelism,
            deprovision: settings.deprovision,
            audit: settings
                .audit
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_AUDIT)),
        };
        let base = uri.strip_prefix("scim+").unwrap_or(uri);
        let base = super::http::redact_url(base);
        let headers = settings
            .credentials
            .scim_token
            .as_ref()
            .map(|token| {
                vec![(
                    "authorization".to_owned(),
                    Secret::new(format!("Bearer {}", token.expose())),
                )]
            })
            .unwrap_or_default();
        let client =
            Client::with_network(&base, headers, settings.http.clone(), &settings.network)?;
        let mut provider = ScimProvider {
            uri: super::redact(uri),
            client,
            found: Discovery::default(),
            slots: super::backoff::Slots::new(options.parallelism),
            options: Options {
                parallelism: options.parallelism.max(1),
                ..options
            },
        };
        provider.found = provider.discover()?;
        Ok(provider)
    }
}

impl Provider for ScimProvider {
    fn uri(&self) -> String {
        self.uri.clone()
    }

    fn capabilities(&self) -> Capabilities {
        let found = &self.found;
        let mut unreadable = Vec::new();
        let mut applies: BTreeSet<OpKind> = OpKind::ALL.into_iter().collect();
        // Core SCIM has no place for these; only orgplan's extension schemas do.
        if found.org.is_none() {
            unreadable.push("org".to_owned());
            applies.remove(&OpKind::OrgUpdate);
        }
        if found.roles.is_none() {
            unreadable.push("roles".to_owned());
            for kind in [OpKind::RoleCreate, OpKind::RoleUpdate, OpKind::RoleDelete] {
                applies.remove(&kind);
            }
        }
        if !found.group_ext {
            for field in ["groups.description", "groups.roles", "groups.limits"] {
                unreadable.push(field.to_owned());
            }
        }
        if !found.user_ext {
            unreadable.push("users.limits".to_owned());
        }
        Capabilities {
            applies,
            unreadable,
        }
    }

    fn read(&self) -> Result<LiveState, ProviderError> {
        Ok(self.read_state()?)
    }

    fn apply(
        &self,
        batch: &Batch<'_>,
        check: &mut dyn FnMut(&LiveState) -> Result<(), ApplyError>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Applied, ApplyError> {
        let state = self.read_state().map_err(ProviderError::from)?;
        check(&state)?;
        let todo: Vec<&Operation> = batch
            .operations
            .iter()
            .filter(|op| by_provider(op))
            .collect();
        let run = Run {
            provider: self,
            state: &state,
            ids: Mutex::new(Ids::from(&state)),
            carried: members::carried(&todo, &state),
            carried_landed: Mutex::new(BTreeSet::new()),
            created: Mutex::new(BTreeMap::new()),
        };
        let mut applied: Vec<Operation> = Vec::new();
        // Every operation that landed so far, told apart by address (two may be equal in
        // value); a member carried by its group's POST lands before its own kind comes.
        let mut done: BTreeSet<*const Operation> = BTreeSet::new();
        let mut start = 0;
        while start < todo.len() {
            let kind = todo[start].op;
            // Adds and removes of members are one phase: one PATCH per group holds both.
            let membership =
                |k: OpKind| matches!(k, OpKind::GroupAddMember | OpKind::GroupRemoveMember);
            let end = todo[start..]
                .iter()
                .position(|op| op.op != kind && !(membership(kind) && membership(op.op)))
                .map_or(todo.len(), |n| start + n);
            let phase: Vec<&Operation> = todo[start..end]
                .iter()
                .filter(|op| !done.contains(&std::ptr::from_ref(**op)))
                .copied()
                .collect();
            let (landed, failure) = if membership(kind) {
                run.memberships(&phase)
            } else {
                run.kind(&phase)
            };
            done.extend(landed.iter().map(|op| std::ptr::from_ref(*op)));
            let records: Vec<AuditRecord> = landed
                .iter()
                .map(|op| AuditRecord::landed(op, batch))
                .collect();
            // What landed is recorded before anything else can go wrong.
            let audited = self.audit(&records);
            applied.extend(landed.iter().map(|op| (*op).clone()));
            // What did not land, from here on.
            let not_landed = || -> Vec<Operation> {
                todo[start..]
                    .iter()
                    .filter(|op| !done.contains(&std::ptr::from_ref(**op)))
                    .map(|op| (*op).clone())
                    .collect()
            };
            if let Err(error) = audited {
                let Some(last) = landed.last() else {
                    return Err(ProviderError::from(error).into());
                };
                // It landed: report it as applied, and why the trail is short.
                return Err(ApplyError::Partial {
                    audit_log: Some(self.options.audit.display().to_string().into()),
                    applied,
                    op: last.op,
                    target: last.target.clone(),
                    reason: format!("landed, but {error}"),
                    remaining: not_landed(),
                });
            }
            progress(applied.len(), todo.len());
            if let Some((failed, reason)) = failure {
                let remaining = not_landed();
                return Err(ApplyError::Partial {
                    audit_log: (!applied.is_empty())
                        .then(|| self.options.audit.display().to_string().into()),
                    applied,
                    op: failed.op,
                    target: failed.target.clone(),
                    reason,
                    remaining,
                });
            }
            start = end;
        }
        Ok(Applied {
            audit_log: (!applied.is_empty()).then(|| self.options.audit.display().to_string()),
            operations: applied,
        })
    }
}

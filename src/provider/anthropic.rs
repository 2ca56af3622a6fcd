//! `anthropic:` — a Claude Enterprise org through the Anthropic Admin API (docs/providers.md).
//!
//! The whole mapping between orgplan and the API lives in this one file, so that it is one
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

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http::{Client, HttpError, Method, Network, Policy as HttpPolicy, Secret};
use super::{Applied, Capabilities, Provider, ProviderError};
use crate::diff::{Change, Execution, OpKind, Operation};
use crate::live::{LiveGroup, LiveOrg, LiveRole, LiveState, LiveStatus, LiveUser};
use crate::model::{Amount, Capability, Metric, OrgRole, Period, Plan as OrgPlan, email_key};
use crate::provider::contract::{ApplyError, AuditRecord, Batch, by_provider};

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
/// Items per page asked for (the API allows up to 1000; servers may return fewer).
// CHOICE: 1,000 for every list: the users and invites references document `limit` from 1
// to 1000; the RBAC and spend-limit lists are asked the same, a server that allows fewer
// answers shorter pages and the cursors carry on.
const PAGE_SIZE: u32 = 1000;
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
    /// The provider for `uri` (`anthropic:`), configured from the environment: key in
    /// `ANTHROPIC_ADMIN_KEY`, base URL `ORGPLAN_ANTHROPIC_URL`, audit file
    /// `ORGPLAN_ANTHROPIC_AUDIT`, spend-limit pacing `ORGPLAN_ANTHROPIC_SPEND_INTERVAL_MS`,
    /// retries `ORGPLAN_HTTP_*`, TLS and proxy `SSL_CERT_FILE`, `HTTPS_PROXY`, `NO_PROXY`.
    /// Makes no request.
    pub fn from_env(uri: &str) -> Result<Self, AnthropicError> {
        if uri != "anthropic:" {
            return Err(AnthropicError::Uri(super::redact(uri)));
        }
        let key = std::env::var(KEY_ENV)
            .ok()
            .filter(|k| !k.trim().is_empty())
            .ok_or(AnthropicError::NoKey)?;
        let base = std::env::var(URL_ENV)
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let interval = std::env::var(SPEND_INTERVAL_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(SPEND_INTERVAL, Duration::from_millis);
        let audit = std::env::var_os(AUDIT_ENV)
            .filter(|p| !p.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_AUDIT), PathBuf::from);
        Self::new(
            &base,
            &key,
            HttpPolicy::from_env(),
            &Network::from_env(),
            interval,
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

    /// Wait until the minimum interval since the last spend-limit request has passed.
    /// The lock is held while waiting, so requests from several threads queue behind it
    /// and the pace holds whichever thread sends.
    fn pace(&self) {
        let mut last = self.last_spend.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = *last {
            let since = at.elapsed();
            if since < self.spend_interval {
                std::thread::sleep(self.spend_interval - since);
            }
        }
        *last = Some(Instant::now());
    }

    /// The same provider reading up to `parallelism` lists at once (at least one).
    pub fn with_parallelism(mut self, parallelism: usize) -> Self {
        self.parallelism = parallelism.max(1);
        self
    }

    /// One request; the JSON body of a 2xx answer, else the documented error.
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AnthropicError> {
        if path.starts_with("/v1/organizations/spend_limits") {
            self.pace();
        }
        // A POST creates (a group, an invite, a member, a spend limit): one whose answer
        // was lost may have landed, so it is not sent again blindly; the apply stops and
        // a new plan, which re-reads the org, finishes the job.
        let extra: Vec<(&str, &str)> = beta_for(method, path)
            .map(|beta| vec![("anthropic-beta", beta)])
            .unwrap_or_default();
        let response = if method == Method::Post {
            self.client.send_no_replay(method, path, &extra, body)?
        } else {
            self.client.send(method, path, &extra, body)?
        };
        let bare = path.split('?').next().unwrap_or_default().to_owned();
        if response.ok() {
            return response.json().map_err(|e| AnthropicError::Shape {
                path: bare,
                detail: e.to_string(),
            });
        }
        let (kind, message) = error_of(&response);
        Err(AnthropicError::Api {
            method: method_name(method),
            path: bare,
            status: response.status,
            kind: self.scrub(&kind),
            message: self.scrub(&message),
        })
    }

    /// `text` with the key replaced, should a server ever echo it.
    fn scrub(&self, text: &str) -> String {
        if self.key.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.key.0, "***")
        }
    }

    /// Every item of a list with opaque cursors, through this provider's client.
    fn list_by_page(&self, path: &str) -> Result<Vec<Value>, AnthropicError> {
        list_by_page(&mut |url| self.call(Method::Get, url, None), path)
    }

    /// Read the org through the Admin API.
    fn fetch(&self) -> Result<(LiveState, Meta), AnthropicError> {
        let get = |url: &str| self.call(Method::Get, url, None);
        fetch(&mut |url| get(url), &mut |paths| {
            super::backoff::bounded_map(paths, self.parallelism, |path| {
                list_by_page(&mut |url| get(url), path)
            })
        })
    }

    /// Append one audit line and flush it to disk.
    fn record(&self, file: &mut std::fs::File, record: &AuditRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::from)?;
        line.push(b'\n');
        file.write_all(&line)?;
        file.sync_data()
    }

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
        self.list_by_page(&path)?
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
        for member in self.list_by_page(&members_path)? {
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
    fn run(
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

/// One operation resolved against the live state, ready to send.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    CreateGroup {
        name: String,
    },
    DeleteGroup {
        name: String,
        /// Account members as read: the group is deleted only while they are the same.
        members: BTreeSet<String>,
    },
    Invite {
        email: String,
        role: String,
        groups: Vec<String>,
    },
    /// A membership of a user invited in the same apply: it rode on the invite.
    WithInvite,
    Membership {
        add: bool,
        group: String,
        user_id: String,
        email: String,
        /// `user` or `managed` when the change should switch the API role.
        role: Option<String>,
    },
    Update {
        user_id: String,
        email: String,
        /// API role to set (`user` or `managed`), for a drifted member.
        role: Option<String>,
        /// (period, amount in cents or `None` to delete, id of the existing limit).
        set: Vec<(Period, Option<u64>, Option<String>)>,
    },
    RemoveUser {
        id: String,
        email: String,
        /// API role as read: the user is removed only while it is the same.
        role: Option<String>,
    },
    DeleteInvite {
        id: String,
        email: String,
    },
}

/// The live state an Admin API org answers with, each `GET` (path and query) answered by
/// `get` with the JSON body of a 2xx answer: the decoding of every response body of a
/// read, without the network (the fuzz target `anthropic_read` drives it).
#[doc(hidden)]
pub fn read_with(get: &mut Get<'_>) -> Result<LiveState, AnthropicError> {
    // One reader: the lists go out one after the other, in the order a parallel read
    // joins its answers.
    let get = std::cell::RefCell::new(get);
    let once = |url: &str| match get.try_borrow_mut() {
        Ok(mut get) => get(url),
        Err(_) => Err(shape(url, "a read asked twice at once")),
    };
    fetch(&mut |url| once(url), &mut |paths| {
        paths
            .iter()
            .map(|path| list_by_page(&mut |url| once(url), path))
            .collect()
    })
    .map(|(state, _)| state)
}

/// Every item of each list of `paths`, in the order of `paths` (however many are read at
/// once).
type Lists<'a> = dyn FnMut(&[String]) -> Vec<Result<Vec<Value>, AnthropicError>> + 'a;

/// The `error.type` and `error.message` of an Anthropic API error answer (every Anthropic
/// API, the Analytics one included, answers errors in this shape); the first 200
/// characters of the body when it is not JSON. Not yet scrubbed of the key.
pub(crate) fn error_of(response: &super::http::Response) -> (String, String) {
    let body = response.json().unwrap_or(Value::Null);
    let kind = body
        .pointer("/error/type")
        .and_then(Value::as_str)
        .unwrap_or("error")
        .to_owned();
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map_or_else(|| response.body.chars().take(200).collect(), str::to_owned);
    (kind, message)
}

/// What answers a `GET`: the JSON body of a 2xx answer, or why there is none.
pub type Get<'a> = dyn FnMut(&str) -> Result<Value, AnthropicError> + 'a;

/// Every item of a list with id cursors (`after_id` → `has_more`, `last_id`).
fn list_by_id(get: &mut Get<'_>, path: &str) -> Result<Vec<Value>, AnthropicError> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    // Every cursor seen: a server that cycles back would otherwise page forever.
    let mut seen = BTreeSet::new();
    loop {
        let mut url = format!("{path}?limit={PAGE_SIZE}");
        if let Some(id) = &after {
            url.push_str(&format!("&after_id={}", encode(id)));
        }
        let page = get(&url)?;
        items.extend(data(&page, path)?);
        if page.get("has_more").and_then(Value::as_bool) != Some(true) {
            return Ok(items);
        }
        let next = page
            .get("last_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if next.is_none() || !seen.insert(next.clone()) {
            return Err(shape(path, "`has_more` without a new `last_id`"));
        }
        after = next;
    }
}

/// Every item of a list with opaque cursors (`page` → `next_page`).
fn list_by_page(get: &mut Get<'_>, path: &str) -> Result<Vec<Value>, AnthropicError> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    // Every cursor seen: a server that cycles back would otherwise page forever.
    let mut seen = BTreeSet::new();
    loop {
        let mut url = format!("{path}?limit={PAGE_SIZE}");
        if let Some(t) = &token {
            url.push_str(&format!("&page={}", encode(t)));
        }
        let page = get(&url)?;
        items.extend(data(&page, path)?);
        let next = page
            .get("next_page")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        match next {
            None => return Ok(items),
            Some(t) if !seen.insert(t.clone()) => {
                return Err(shape(path, "the same `next_page` twice"));
            }
            Some(t) => token = Some(t),
        }
    }
}

/// Read the org: the live state and what the plan and apply need besides.
///
/// The per-role permission lists and the per-group member lists are read `parallelism` at
/// a time and joined in the order of the roles and groups, so what is read (and which
/// error is reported first) is the same as one request after the other.
fn fetch(get: &mut Get<'_>, lists: &mut Lists<'_>) -> Result<(LiveState, Meta), AnthropicError> {
    let mut meta = Meta::default();
    let mut state = LiveState::default();

    let me = get("/v1/organizations/me")?;
    // Only the name is readable. The rest are placeholders, never compared (they are
    // unverifiable), chosen so that `orgplan export` writes a policy that validates:
    // Enterprise (the only plan with the RBAC API), every capability switched on, and
    // seats filled in below from the accounts.
    state.org = Some(LiveOrg {
        name: text(&me, "name", "/v1/organizations/me")?,
        plan: OrgPlan::Enterprise,
        domains: Vec::new(),
        seats: Default::default(),
        provisioning: Default::default(),
        sso: None,
        capabilities: Capability::ALL.to_vec(),
        models: None,
        defaults: Default::default(),
        caps: Default::default(),
    });

    let mut emails_by_id = BTreeMap::new();
    for user in list_by_id(get, "/v1/organizations/users")? {
        let path = "/v1/organizations/users";
        let email = crate::model::email_key(&text(&user, "email", path)?).into_owned();
        let id = text(&user, "id", path)?;
        let role = text(&user, "role", path)?;
        emails_by_id.insert(id.clone(), email.clone());
        let live = LiveUser {
            id: Some(id),
            name: user.get("name").and_then(Value::as_str).map(str::to_owned),
            role: meta.org_role(&email, &role),
            status: LiveStatus::Active,
            ..LiveUser::default()
        };
        state.users.insert(email, live);
    }

    // A pending invite is a user with `status: invited`; its group ids are memberships.
    // The invite object carries `rbac_group_ids`, the groups "recorded" for the user
    // when the invite is accepted (reference, create-invite).
    let mut pending_groups: Vec<(String, String)> = Vec::new();
    for invite in list_by_id(get, "/v1/organizations/invites")? {
        let path = "/v1/organizations/invites";
        if invite.get("status").and_then(Value::as_str) != Some("pending") {
            continue;
        }
        let email = crate::model::email_key(&text(&invite, "email", path)?).into_owned();
        if state.users.contains_key(&email) {
            continue;
        }
        let role = text(&invite, "role", path)?;
        for group in strings(&invite, "rbac_group_ids") {
            pending_groups.push((group, email.clone()));
        }
        let live = LiveUser {
            id: Some(text(&invite, "id", path)?),
            role: meta.org_role(&email, &role),
            status: LiveStatus::Invited,
            ..LiveUser::default()
        };
        state.users.insert(email, live);
    }

    // Custom roles only: built-in roles are Anthropic's, not the policy's.
    let mut role_names = BTreeMap::new();
    let path = "/v1/organizations/rbac_roles";
    let mut custom = Vec::new();
    let mut broken = None;
    for role in list_by_page(get, path)? {
        if role.pointer("/source/type").and_then(Value::as_str) != Some("custom") {
            continue;
        }
        let named = text(&role, "id", path).and_then(|id| {
            role.get("display_name")
                .or_else(|| role.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| shape(path, "a role without `display_name`"))
                .map(|name| (id, name.to_owned()))
        });
        match named {
            Ok(named) => custom.push(named),
            Err(e) => {
                broken = Some(e);
                break;
            }
        }
    }
    let paths: Vec<String> = custom
        .iter()
        .map(|(id, _)| format!("/v1/organizations/rbac_roles/{id}/permissions"))
        .collect();
    let permissions = lists(&paths);
    for ((id, name), permissions) in custom.into_iter().zip(permissions) {
        let (capabilities, unknown) = granted(&permissions?);
        if !unknown.is_empty() {
            meta.unknown_actions.insert(name.clone(), unknown);
        }
        let live = LiveRole {
            id: Some(id.clone()),
            capabilities,
            ..LiveRole::default()
        };
        if state.roles.insert(name.clone(), live).is_some() {
            return Err(AnthropicError::Unmappable(format!(
                "two custom roles are named `{name}`; rename one in {ROLES_PAGE}"
            )));
        }
        role_names.insert(id, name);
    }
    if let Some(e) = broken {
        return Err(e);
    }

    let mut group_names = BTreeMap::new();
    let path = "/v1/organizations/rbac_groups";
    let mut groups = Vec::new();
    let mut broken = None;
    for group in list_by_page(get, path)? {
        let parsed = text(&group, "id", path).and_then(|id| {
            let name = text(&group, "name", path)?;
            // `null` means role data was temporarily unavailable: comparing it as "no
            // roles" would propose wrong changes.
            let Some(role_ids) = group.get("role_ids").and_then(Value::as_array) else {
                return Err(shape(
                    path,
                    &format!("role data of group `{name}` is unavailable for now; try again"),
                ));
            };
            let roles: Vec<String> = role_ids
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|r| role_names.get(r).cloned())
                .collect();
            let scim = group.get("source_type").and_then(Value::as_str) == Some("scim");
            Ok((id, name, roles, scim))
        });
        match parsed {
            Ok(parsed) => groups.push(parsed),
            Err(e) => {
                broken = Some(e);
                break;
            }
        }
    }
    let paths: Vec<String> = groups
        .iter()
        .map(|(id, ..)| format!("/v1/organizations/rbac_groups/{id}/members"))
        .collect();
    let listed = lists(&paths);
    for (((id, name, roles, scim), listed), members_path) in
        groups.into_iter().zip(listed).zip(&paths)
    {
        if scim {
            meta.scim_groups.insert(name.clone());
        }
        let mut members = Vec::new();
        for member in listed? {
            members
                .push(crate::model::email_key(&text(&member, "email", members_path)?).into_owned());
        }
        meta.members
            .insert(name.clone(), members.iter().cloned().collect());
        let live = LiveGroup {
            id: Some(id.clone()),
            roles,
            members,
            ..LiveGroup::default()
        };
        if state.groups.insert(name.clone(), live).is_some() {
            return Err(AnthropicError::Unmappable(format!(
                "two groups are named `{name}` (the API does not enforce unique names); rename one in {GROUPS_PAGE}"
            )));
        }
        group_names.insert(id, name);
    }
    if let Some(e) = broken {
        return Err(e);
    }
    for (group_id, email) in pending_groups {
        if let Some(group) = group_names
            .get(&group_id)
            .and_then(|name| state.groups.get_mut(name))
        {
            group.members.push(email);
        }
    }

    // Every scope the reference lists, in its order: `organization`, `seat_tier`,
    // `rbac_group`, `organization_service`, `user`.
    let path = "/v1/organizations/spend_limits";
    for limit in list_by_page(get, path)? {
        let period: Period =
            serde_json::from_value(limit.get("period").cloned().unwrap_or_default())
                .map_err(|_| shape(path, "a spend limit with an unknown `period`"))?;
        // `amount: null` is "no numeric cap configured at this scope" (reference):
        // no limit here.
        let Some(amount) = limit.get("amount").and_then(Value::as_str) else {
            continue;
        };
        let cents: u64 = amount
            .parse()
            .map_err(|_| shape(path, &format!("spend amount `{amount}` is not in cents")))?;
        let dollars = Amount(cents as f64 / 100.0);
        let scope = limit.pointer("/scope/type").and_then(Value::as_str);
        let target = match scope {
            Some("user") => {
                let user_id = limit
                    .pointer("/scope/user_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let Some(email) = emails_by_id.get(user_id) else {
                    continue;
                };
                meta.spend_ids
                    .insert((email.clone(), period), text(&limit, "id", path)?);
                state.users.get_mut(email).map(|u| &mut u.limits)
            }
            // CHOICE: the group scope carries `rbac_group_id` (the reference says
            // "each variant carries the identifier for its scope"; the field name
            // follows `rbac_group_id` of the member objects).
            Some("rbac_group") => limit
                .pointer("/scope/rbac_group_id")
                .and_then(Value::as_str)
                .and_then(|id| group_names.get(id))
                .and_then(|name| state.groups.get_mut(name))
                .map(|g| &mut g.limits),
            // The organization-wide limit is the org's ceiling: `org.caps`. CHOICE: one
            // with `is_enabled: false` (extra usage switched off, the amount kept for
            // later) is not in force, so it reads as no limit.
            Some("organization")
                if limit.get("is_enabled").and_then(Value::as_bool) != Some(false) =>
            {
                state.org.as_mut().map(|o| &mut o.caps)
            }
            // `seat_tier` limits have no policy counterpart (orgplan's limits are per
            // org, group, role and user); `organization_service` and `workspace` are
            // Console scopes. Read, not compared.
            _ => None,
        };
        if let Some(limits) = target {
            limits
                .entry(Metric::SpendUsd)
                .or_default()
                .insert(period, dollars);
        }
    }
    let accounts = u32::try_from(state.users.len()).unwrap_or(u32::MAX);
    if let Some(org) = &mut state.org {
        org.seats.standard = accounts;
    }
    Ok((state.normalized(), meta))
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
        if let Some(folder) = self.audit.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(audit_error)?;
        }
        let mut audit = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.audit)
            .map_err(audit_error)?;

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
            if let Err(error) = self.record(&mut audit, &record) {
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

/// Resolve every provider operation against the live state, or refuse the whole batch
/// (nothing applied) naming the first one that cannot be carried out.
fn resolve(todo: &[&Operation], live: &LiveState, meta: &Meta) -> Result<Vec<Step>, ApplyError> {
    let created: BTreeSet<&str> = todo
        .iter()
        .filter(|o| o.op == OpKind::GroupCreate)
        .map(|o| o.target.as_str())
        .collect();
    let invited: BTreeSet<&str> = todo
        .iter()
        .filter(|o| o.op == OpKind::UserInvite)
        .map(|o| o.target.as_str())
        .collect();
    // Memberships as they stand, to tell when a member's API role should switch.
    let mut memberships: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, group) in &live.groups {
        for member in &group.members {
            memberships
                .entry(member.clone())
                .or_default()
                .insert(name.clone());
        }
    }
    let grants = |group: &str| live.groups.get(group).is_some_and(|g| !g.roles.is_empty());

    let mut steps = Vec::new();
    for op in todo {
        let fail = |reason: String| ApplyError::Operation {
            op: op.op,
            target: op.target.clone(),
            reason,
        };
        let target = op.target.as_str();
        let group_known = |name: &str| live.groups.contains_key(name) || created.contains(name);
        let step = match op.op {
            OpKind::GroupCreate if live.groups.contains_key(target) => {
                return Err(fail("a group of that name exists already".into()));
            }
            OpKind::GroupCreate => Step::CreateGroup {
                name: target.to_owned(),
            },
            OpKind::GroupDelete => {
                if meta.scim_groups.contains(target) {
                    return Err(fail(scim_reason()));
                }
                if !live.groups.contains_key(target) {
                    return Err(fail("no such group".into()));
                }
                Step::DeleteGroup {
                    name: target.to_owned(),
                    members: meta.members.get(target).cloned().unwrap_or_default(),
                }
            }
            OpKind::UserInvite => {
                if live.users.contains_key(target) {
                    return Err(fail("the user exists already".into()));
                }
                if let Some(reason) = invite_blocker(op) {
                    return Err(fail(reason));
                }
                if let Some(change) = op.changes.iter().find(|c| c.field.starts_with("limits.")) {
                    return Err(fail(format!(
                        "`{}` cannot be set before the invite is accepted",
                        change.field
                    )));
                }
                let groups: Vec<String> = todo
                    .iter()
                    .filter(|o| {
                        o.op == OpKind::GroupAddMember && o.member.as_deref() == Some(target)
                    })
                    .map(|o| o.target.clone())
                    .collect();
                if let Some(group) = groups.iter().find(|g| !group_known(g)) {
                    return Err(fail(format!("no group `{group}` to invite into")));
                }
                if let Some(group) = groups.iter().find(|g| meta.scim_groups.contains(*g)) {
                    return Err(fail(format!("group `{group}`: {}", scim_reason())));
                }
                let role = if groups.iter().any(|g| grants(g)) {
                    "managed"
                } else {
                    "user"
                };
                Step::Invite {
                    email: target.to_owned(),
                    role: role.to_owned(),
                    groups,
                }
            }
            OpKind::GroupAddMember | OpKind::GroupRemoveMember => {
                let add = op.op == OpKind::GroupAddMember;
                let email = op
                    .member
                    .as_deref()
                    .ok_or_else(|| fail("no `member`".into()))?;
                if meta.scim_groups.contains(target) {
                    return Err(fail(scim_reason()));
                }
                if !group_known(target) {
                    return Err(fail("no such group".into()));
                }
                if add && invited.contains(email) {
                    Step::WithInvite
                } else {
                    let user = live
                        .users
                        .get(email)
                        .filter(|u| u.status != LiveStatus::Invited);
                    let Some(user_id) = user.and_then(|u| u.id.clone()) else {
                        return Err(fail(format!(
                            "`{email}` has no account yet (a pending invite's groups cannot change)"
                        )));
                    };
                    let groups = memberships.entry(email.to_owned()).or_default();
                    if add {
                        groups.insert(target.to_owned());
                    } else {
                        groups.remove(target);
                    }
                    let api_role = meta.api_roles.get(email).map(String::as_str);
                    let role = match api_role {
                        Some("user" | "managed") => Some(if groups.iter().any(|g| grants(g)) {
                            "managed".to_owned()
                        } else {
                            "user".to_owned()
                        }),
                        _ => None,
                    };
                    Step::Membership {
                        add,
                        group: target.to_owned(),
                        user_id,
                        email: email.to_owned(),
                        role,
                    }
                }
            }
            OpKind::UserUpdate => {
                let user = live
                    .users
                    .get(target)
                    .filter(|u| u.status != LiveStatus::Invited);
                let Some(user_id) = user.and_then(|u| u.id.clone()) else {
                    return Err(fail("no active account to set limits on".into()));
                };
                let mut set = Vec::new();
                let mut role = None;
                for change in &op.changes {
                    if change.field == API_ROLE {
                        match change.after.as_str() {
                            Some(r @ ("user" | "managed")) => role = Some(r.to_owned()),
                            _ => {
                                return Err(fail(format!(
                                    "the Admin API sets only the API roles `user` and `managed`, not {}",
                                    change.after
                                )));
                            }
                        }
                        continue;
                    }
                    let Some(period) = spend_period(&change.field) else {
                        return Err(fail(format!("the Admin API cannot set `{}`", change.field)));
                    };
                    let cents = match &change.after {
                        Value::Null => None,
                        value => Some(cents(value).ok_or_else(|| {
                            fail(format!("`{value}` is not a whole number of cents"))
                        })?),
                    };
                    let existing = meta.spend_ids.get(&(target.to_owned(), period)).cloned();
                    set.push((period, cents, existing));
                }
                Step::Update {
                    user_id,
                    email: target.to_owned(),
                    role,
                    set,
                }
            }
            OpKind::UserRemove => {
                let Some(user) = live.users.get(target) else {
                    return Err(fail("no such user".into()));
                };
                if matches!(user.role, OrgRole::Owner | OrgRole::PrimaryOwner) {
                    return Err(fail("owners are removed in the console".into()));
                }
                let id = user.id.clone().ok_or_else(|| fail("no id".into()))?;
                let email = target.to_owned();
                if user.status == LiveStatus::Invited {
                    Step::DeleteInvite { id, email }
                } else {
                    let role = meta.api_roles.get(target).cloned();
                    Step::RemoveUser { id, email, role }
                }
            }
            _ => {
                return Err(fail(
                    "the Admin API cannot carry this out (the plan file says it can: was it edited?)"
                        .into(),
                ));
            }
        };
        steps.push(step);
    }
    Ok(steps)
}

fn scim_reason() -> String {
    "the group is provisioned by the identity provider (SCIM) and read-only through the API"
        .to_owned()
}

/// Why an invite cannot go through the API, if it cannot.
fn invite_blocker(op: &Operation) -> Option<String> {
    for change in &op.changes {
        match (change.field.as_str(), change.after.as_str()) {
            ("role", Some(role)) if role != "member" => {
                return Some(format!(
                    "the Admin API invites only members; invite with role `{role}`"
                ));
            }
            ("status", Some("suspended")) => {
                return Some("the Admin API cannot create a suspended account".to_owned());
            }
            _ => {}
        }
    }
    None
}

/// The period of a `limits.spend_usd.<period>` field.
fn spend_period(field: &str) -> Option<Period> {
    let period = field.strip_prefix("limits.spend_usd.")?;
    serde_json::from_value(Value::from(period)).ok()
}

/// Dollars as whole cents, when they are.
fn cents(value: &Value) -> Option<u64> {
    let dollars = value.as_f64()?;
    let cents = dollars * 100.0;
    let whole = cents.round();
    ((cents - whole).abs() < 1e-6 && (0.0..1e15).contains(&whole)).then_some(whole as u64)
}

/// Split and mark the diff's operations by what the Admin API can carry out, leave out
/// what cannot be verified, and add the API-role fixes of drifted members. Pure.
fn refine(operations: Vec<Operation>, live: &LiveState, meta: &Meta) -> Vec<Operation> {
    // A role granting an unknown action, a user with an unknown API role: their
    // capabilities / role are unverifiable, so no change of them is proposed.
    let operations: Vec<Operation> = operations
        .into_iter()
        .filter_map(|mut op| {
            let unverifiable = match op.op {
                OpKind::RoleUpdate if meta.unknown_actions.contains_key(&op.target) => {
                    Some("capabilities")
                }
                OpKind::UserUpdate if meta.unknown_roles.contains_key(&op.target) => Some("role"),
                _ => None,
            };
            if let Some(field) = unverifiable {
                op.changes.retain(|c| c.field != field);
                if op.changes.is_empty() {
                    return None;
                }
            }
            Some(op)
        })
        .collect();
    let mut out = refine_kinds(&operations, live, meta);
    out.extend(role_drift(&operations, live, meta));
    out
}

/// Members whose API role (`user` / `managed`) disagrees with the grants of their groups,
/// when no membership change of this plan switches it anyway: a `user.update` of the
/// `api_role`, carried out through the API.
fn role_drift(operations: &[Operation], live: &LiveState, meta: &Meta) -> Vec<Operation> {
    let touched: BTreeSet<&str> = operations
        .iter()
        .filter_map(|o| match o.op {
            OpKind::GroupAddMember | OpKind::GroupRemoveMember => o.member.as_deref(),
            OpKind::UserRemove | OpKind::UserInvite => Some(o.target.as_str()),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for (email, user) in &live.users {
        if user.status == LiveStatus::Invited || touched.contains(email.as_str()) {
            continue;
        }
        let Some(current) = meta.api_roles.get(email) else {
            continue;
        };
        if !matches!(current.as_str(), "user" | "managed") {
            continue;
        }
        let grants = live
            .groups
            .values()
            .any(|g| !g.roles.is_empty() && g.members.contains(email));
        let wanted = if grants { "managed" } else { "user" };
        if current != wanted {
            out.push(Operation {
                op: OpKind::UserUpdate,
                target: email.clone(),
                member: None,
                changes: vec![Change {
                    field: API_ROLE.to_owned(),
                    before: Value::from(current.as_str()),
                    after: Value::from(wanted),
                }],
                source: None,
                execution: Execution::Provider,
            });
        }
    }
    out
}

/// The `user.update` field of an API-role fix (not a policy field: the policy's `member`
/// is `user` or `managed` by the grants of the member's groups).
const API_ROLE: &str = "api_role";

fn refine_kinds(operations: &[Operation], live: &LiveState, meta: &Meta) -> Vec<Operation> {
    let operations = operations.to_vec();
    let invited: BTreeSet<String> = operations
        .iter()
        .filter(|o| o.op == OpKind::UserInvite && invite_blocker(o).is_none())
        .map(|o| o.target.clone())
        .collect();
    let mut out = Vec::new();
    for op in operations {
        let target = op.target.clone();
        let member = op.member.clone().unwrap_or_default();
        let scim = meta.scim_groups.contains(&target);
        let idp = format!(
            "The group `{target}` is provisioned by your identity provider (SCIM): make this change there, not in {GROUPS_PAGE}"
        );
        match op.op {
            OpKind::OrgUpdate => {
                let (caps, rest): (Vec<Change>, Vec<Change>) = op
                    .changes
                    .iter()
                    .cloned()
                    .partition(|c| c.field.starts_with("caps.spend_usd."));
                let mut steps = Vec::new();
                if !rest.is_empty() {
                    steps.push(format!("In {ORG_PAGE}, set {}", fields(&rest)));
                }
                if !caps.is_empty() {
                    steps.push(format!(
                        "In {SPEND_PAGE}, set the organization's spend limit: {} (set in claude.ai only)",
                        fields(&caps)
                    ));
                }
                let text = steps.join("; then ");
                out.push(manual(op, text));
            }
            OpKind::RoleCreate | OpKind::RoleUpdate | OpKind::RoleDelete => {
                let action = match op.op {
                    OpKind::RoleCreate => format!(
                        "create the custom role `{target}` with {}",
                        fields(&op.changes)
                    ),
                    OpKind::RoleUpdate => {
                        format!("in the custom role `{target}`, set {}", fields(&op.changes))
                    }
                    _ => format!("delete the custom role `{target}`"),
                };
                let text = format!(
                    "In {ROLES_PAGE}, {action} (custom roles are read-only in the Admin API)"
                );
                out.push(manual(op, text));
            }
            OpKind::GroupCreate => {
                // A new group has no roles and no limits: only a non-empty grant, and the
                // limits, are (manual) steps.
                let (grants, rest): (Vec<Change>, Vec<Change>) = op
                    .changes
                    .iter()
                    .cloned()
                    .partition(|c| c.field == "roles" || c.field.starts_with("limits."));
                let grants: Vec<Change> = grants
                    .into_iter()
                    .filter(|c| c.after.as_array().is_none_or(|a| !a.is_empty()))
                    .collect();
                out.push(with_changes(&op, rest));
                if !grants.is_empty() {
                    let mut grant = with_changes(&op, grants);
                    grant.op = OpKind::GroupUpdate;
                    let text = grant_text(&target, &grant.changes);
                    out.push(manual(grant, text));
                }
            }
            OpKind::GroupUpdate => {
                let text = if scim {
                    idp
                } else {
                    grant_text(&target, &op.changes)
                };
                out.push(manual(op, text));
            }
            OpKind::GroupDelete if scim => out.push(manual(op, idp)),
            OpKind::GroupAddMember | OpKind::GroupRemoveMember => {
                let add = op.op == OpKind::GroupAddMember;
                let live_user = live.users.get(&member);
                let pending = live_user.is_some_and(|u| u.status == LiveStatus::Invited)
                    || (live_user.is_none() && !invited.contains(&member));
                if scim {
                    out.push(manual(op, idp));
                } else if pending && !(add && invited.contains(&member)) {
                    let verb = if add { "add" } else { "remove" };
                    let text = format!(
                        "Waits for `{member}` to accept the invite (a pending invite's groups cannot change): then run `orgplan apply` again, or {verb} them in {GROUPS_PAGE} › `{target}`"
                    );
                    out.push(manual(op, text));
                } else {
                    out.push(op);
                }
            }
            OpKind::UserInvite => match invite_blocker(&op) {
                Some(reason) => {
                    let text = format!(
                        "In {MEMBERS_PAGE}, invite `{target}` with {} ({reason})",
                        fields(&op.changes)
                    );
                    out.push(manual(op, text));
                }
                None => {
                    let (limits, rest): (Vec<Change>, Vec<Change>) = op
                        .changes
                        .iter()
                        .cloned()
                        .partition(|c| c.field.starts_with("limits."));
                    out.push(with_changes(&op, rest));
                    if !limits.is_empty() {
                        let mut wait = with_changes(&op, limits);
                        wait.op = OpKind::UserUpdate;
                        let text = wait_text(&target, &wait.changes);
                        out.push(manual(wait, text));
                    }
                }
            },
            OpKind::UserUpdate => {
                let invited_live = live
                    .users
                    .get(&target)
                    .is_some_and(|u| u.status == LiveStatus::Invited);
                let (spend, other): (Vec<Change>, Vec<Change>) = op
                    .changes
                    .iter()
                    .cloned()
                    .partition(|c| spend_period(&c.field).is_some());
                if !spend.is_empty() {
                    let part = with_changes(&op, spend);
                    let odd = part
                        .changes
                        .iter()
                        .find(|c| !c.after.is_null() && cents(&c.after).is_none());
                    if invited_live {
                        let text = wait_text(&target, &part.changes);
                        out.push(manual(part, text));
                    } else if let Some(change) = odd {
                        let text = format!(
                            "In {MEMBERS_PAGE}, set {} for `{target}` (`{}` is not a whole number of cents, which is what the API takes; or round it in the policy)",
                            fields(&part.changes),
                            change.after
                        );
                        out.push(manual(part, text));
                    } else {
                        out.push(part);
                    }
                }
                if !other.is_empty() {
                    let part = with_changes(&op, other);
                    let text = format!(
                        "In {MEMBERS_PAGE}, for `{target}` set {} (the Admin API sets only the roles `user` and `managed`)",
                        fields(&part.changes)
                    );
                    out.push(manual(part, text));
                }
            }
            OpKind::UserReactivate | OpKind::UserSuspend => {
                let verb = if op.op == OpKind::UserSuspend {
                    "suspend"
                } else {
                    "reactivate"
                };
                let text = format!(
                    "In {MEMBERS_PAGE}, {verb} `{target}` (the Admin API has no suspension)"
                );
                out.push(manual(op, text));
            }
            OpKind::UserRemove
                if live
                    .users
                    .get(&target)
                    .is_some_and(|u| matches!(u.role, OrgRole::Owner | OrgRole::PrimaryOwner)) =>
            {
                let text = format!(
                    "In {MEMBERS_PAGE}, remove the owner `{target}` (owners are not removed through the Admin API)"
                );
                out.push(manual(op, text));
            }
            _ => out.push(op),
        }
    }
    out
}

fn with_changes(op: &Operation, changes: Vec<Change>) -> Operation {
    Operation {
        changes,
        ..op.clone()
    }
}

fn manual(op: Operation, instruction: String) -> Operation {
    Operation {
        execution: Execution::Manual { instruction },
        ..op
    }
}

fn fields(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| format!("`{}` to {}", c.field, c.after))
        .collect::<Vec<_>>()
        .join(", ")
}

fn grant_text(group: &str, changes: &[Change]) -> String {
    let (limits, roles): (Vec<Change>, Vec<Change>) = changes
        .iter()
        .cloned()
        .partition(|c| c.field.starts_with("limits."));
    let mut steps = Vec::new();
    if !roles.is_empty() {
        steps.push(format!(
            "In {GROUPS_PAGE} › `{group}`, set {} (group role grants are read-only in the Admin API)",
            fields(&roles)
        ));
    }
    if !limits.is_empty() {
        steps.push(format!(
            "In {SPEND_PAGE}, for the group `{group}` set {} (group spend limits are set in claude.ai only)",
            fields(&limits)
        ));
    }
    steps.join("; then ")
}

fn wait_text(email: &str, changes: &[Change]) -> String {
    format!(
        "Waits for `{email}` to accept the invite (a spend limit needs an account): then run `orgplan apply` again, or set {} in {MEMBERS_PAGE}",
        fields(changes)
    )
}

/// An API organization role as an orgplan role, `None` for a value orgplan does not know.
///
/// The reference lists the values by organization type: Claude Enterprise organizations
/// have `user`, `owner`, `primary_owner`, `membership_admin` and `managed`; Console and API
/// organizations have `user`, `developer`, `billing`, `admin` and `claude_code_user`.
fn org_role(role: &str) -> Option<OrgRole> {
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
    fn org_role(&mut self, email: &str, role: &str) -> OrgRole {
        self.api_roles.insert(email.to_owned(), role.to_owned());
        org_role(role).unwrap_or_else(|| {
            self.unknown_roles.insert(email.to_owned(), role.to_owned());
            OrgRole::Member
        })
    }

    /// Entries for `unverifiable`: what this org holds that orgplan cannot read for sure.
    fn unverifiable(&self) -> Vec<String> {
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
fn granted(permissions: &[Value]) -> (Vec<Capability>, Vec<String>) {
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

/// The `anthropic-beta` value the reference documents for a request, if any.
fn beta_for(method: Method, path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or_default();
    if path.starts_with("/v1/organizations/rbac_groups")
        || path.starts_with("/v1/organizations/rbac_roles")
    {
        Some(BETA_USER_MANAGEMENT)
    } else if method == Method::Get && path == "/v1/organizations/spend_limits" {
        Some(BETA_SPEND_READS)
    } else {
        None
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

fn shape(path: &str, detail: &str) -> AnthropicError {
    AnthropicError::Shape {
        path: path.to_owned(),
        detail: detail.to_owned(),
    }
}

fn data(page: &Value, path: &str) -> Result<Vec<Value>, AnthropicError> {
    page.get("data")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| shape(path, "no `data` list"))
}

fn text(item: &Value, key: &str, path: &str) -> Result<String, AnthropicError> {
    item.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| shape(path, &format!("an item without `{key}`")))
}

fn strings(item: &Value, key: &str) -> Vec<String> {
    item.get(key)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-encode a cursor for a query string (opaque tokens may hold `+`, `/`, `=`).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
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

    fn live() -> LiveState {
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

    fn meta() -> Meta {
        Meta {
            scim_groups: ["idp".to_owned()].into(),
            api_roles: [("bob@x.com".to_owned(), "user".to_owned())].into(),
            ..Meta::default()
        }
    }

    fn summary(ops: &[Operation]) -> Vec<String> {
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
    fn what_the_api_cannot_write_becomes_a_manual_step() {
        let ops = vec![
            op(
                OpKind::UserInvite,
                "new@x.com",
                None,
                &[("role", "admin".into())],
            ),
            op(
                OpKind::UserInvite,
                "kim@x.com",
                None,
                &[
                    ("role", "member".into()),
                    ("limits.spend_usd.monthly", 5.into()),
                ],
            ),
            op(
                OpKind::UserUpdate,
                "bob@x.com",
                None,
                &[
                    ("role", "admin".into()),
                    ("limits.spend_usd.daily", 2.5.into()),
                ],
            ),
            op(
                OpKind::UserUpdate,
                "ivy@x.com",
                None,
                &[("limits.spend_usd.monthly", 1.into())],
            ),
            op(OpKind::GroupAddMember, "idp", Some("bob@x.com"), &[]),
            op(OpKind::GroupAddMember, "eng", Some("ivy@x.com"), &[]),
            op(OpKind::GroupAddMember, "eng", Some("kim@x.com"), &[]),
            op(OpKind::GroupDelete, "idp", None, &[]),
        ];
        let refined = refine(ops, &live(), &meta());
        assert_eq!(
            summary(&refined),
            [
                "user.invite new@x.com manual",
                "user.invite kim@x.com provider",
                "user.update kim@x.com manual",
                "user.update bob@x.com provider",
                "user.update bob@x.com manual",
                "user.update ivy@x.com manual",
                "group.add_member idp manual",
                "group.add_member eng manual",
                "group.add_member eng provider",
                "group.delete idp manual",
            ]
        );
        let Execution::Manual { instruction } = &refined[0].execution else {
            panic!("not manual");
        };
        assert!(instruction.contains(MEMBERS_PAGE), "{instruction}");
    }

    #[test]
    fn memberships_ride_on_the_invite_and_switch_the_api_role() {
        let ops = [
            op(
                OpKind::UserInvite,
                "kim@x.com",
                None,
                &[("role", "member".into())],
            ),
            op(OpKind::GroupAddMember, "eng", Some("bob@x.com"), &[]),
            op(OpKind::GroupAddMember, "eng", Some("kim@x.com"), &[]),
        ];
        let todo: Vec<&Operation> = ops.iter().collect();
        let steps = resolve(&todo, &live(), &meta()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            steps[0],
            Step::Invite {
                email: "kim@x.com".into(),
                role: "managed".into(),
                groups: vec!["eng".into()],
            }
        );
        assert!(matches!(&steps[1], Step::Membership { role: Some(r), .. } if r == "managed"));
        assert_eq!(steps[2], Step::WithInvite);
    }

    #[test]
    fn a_batch_the_api_cannot_carry_out_is_refused_before_any_request() {
        let ops = [op(OpKind::GroupAddMember, "eng", Some("ivy@x.com"), &[])];
        let todo: Vec<&Operation> = ops.iter().collect();
        let error = resolve(&todo, &live(), &meta())
            .err()
            .map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("nothing applied")),
            "{error:?}"
        );
    }

    #[test]
    fn amounts_are_whole_cents_and_cursors_are_encoded() {
        assert_eq!(cents(&json!(50)), Some(5000));
        assert_eq!(cents(&json!(12.34)), Some(1234));
        assert_eq!(cents(&json!(0.001)), None);
        assert_eq!(encode("pg+/=2"), "pg%2B%2F%3D2");
        assert_eq!(org_role("managed"), Some(OrgRole::Member));
        assert_eq!(org_role("primary_owner"), Some(OrgRole::PrimaryOwner));
    }

    #[test]
    fn the_key_is_scrubbed_and_never_in_debug() {
        let provider = AnthropicProvider::new(
            "http://127.0.0.1:9",
            "sk-secret",
            HttpPolicy::default(),
            &Network::default(),
            SPEND_INTERVAL,
            PathBuf::from("audit.jsonl"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(provider.scrub("bad key sk-secret"), "bad key ***");
        assert!(!format!("{provider:?}").contains("sk-secret"));
        assert!(
            AnthropicProvider::new(
                "ftp://x",
                "k",
                HttpPolicy::default(),
                &Network::default(),
                SPEND_INTERVAL,
                PathBuf::new()
            )
            .is_err()
        );
    }

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

    #[test]
    fn beta_headers_follow_the_reference_per_endpoint() {
        assert_eq!(
            beta_for(Method::Get, "/v1/organizations/rbac_groups?limit=1"),
            Some(BETA_USER_MANAGEMENT)
        );
        assert_eq!(
            beta_for(Method::Delete, "/v1/organizations/rbac_groups/g/members/u"),
            Some(BETA_USER_MANAGEMENT)
        );
        assert_eq!(
            beta_for(Method::Get, "/v1/organizations/rbac_roles/r/permissions"),
            Some(BETA_USER_MANAGEMENT)
        );
        assert_eq!(
            beta_for(Method::Get, "/v1/organizations/spend_limits?limit=100"),
            Some(BETA_SPEND_READS)
        );
        assert_eq!(
            beta_for(Method::Post, "/v1/organizations/spend_limits"),
            None
        );
        assert_eq!(beta_for(Method::Get, "/v1/organizations/users"), None);
    }

    #[test]
    fn a_member_whose_api_role_disagrees_with_the_group_grants_is_fixed_through_the_api() {
        let mut state = live();
        if let Some(g) = state.groups.get_mut("eng") {
            g.members.push("bob@x.com".into());
        }
        let ops = refine(Vec::new(), &state, &meta());
        assert_eq!(summary(&ops), ["user.update bob@x.com provider"]);
        assert_eq!(ops[0].changes[0].field, API_ROLE);
        assert_eq!(ops[0].changes[0].after, "managed");
        // A membership change of the plan switches the role itself: no separate fix.
        let add = op(OpKind::GroupRemoveMember, "eng", Some("bob@x.com"), &[]);
        let ops = refine(vec![add], &state, &meta());
        assert_eq!(summary(&ops), ["group.remove_member eng provider"]);
        let todo = [op(
            OpKind::UserUpdate,
            "bob@x.com",
            None,
            &[(API_ROLE, "managed".into())],
        )];
        let todo: Vec<&Operation> = todo.iter().collect();
        let steps = resolve(&todo, &state, &meta()).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(&steps[0], Step::Update { role: Some(r), .. } if r == "managed"));
    }
}

//! `--usage anthropic:` — per-user activity from the Claude Enterprise Analytics API.
//!
//! Reference: the "Claude Enterprise Analytics API reference guide"
//! (<https://support.claude.com/en/articles/13703965>) and the API reference page
//! "List User Activity" (<https://platform.claude.com/docs/en/api/organization/analytics/users>):
//!
//! - `GET /v1/organizations/analytics/users`, key in the `x-api-key` header (a key with
//!   the `read:analytics` scope, made by the primary owner at claude.ai/analytics/api-keys);
//! - date-range mode: `starting_date` (inclusive) and `ending_date` (exclusive, at most
//!   today), `YYYY-MM-DD`; cursor paging with `limit` (at most 1000) and `page` (the
//!   previous answer's `next_page`, `null` on the last page);
//! - each row: `user {id, email_address}`, `chat_metrics.message_count`,
//!   `claude_code_metrics.core_metrics.distinct_session_count` (nullable),
//!   `last_activity_date` (the latest active day within the window; **omitted while
//!   last-activity reporting is not enabled for the organization**);
//! - errors: 400 (bad parameters: a date before 2026-01-01, or too recent), 404 (key
//!   missing, invalid or without the scope), 429 (rate limit), 503 (transient; retried).
//!
//! Every assumption beyond the reference is marked `CHOICE:`. The key is a [`Secret`]:
//! never printed, logged or saved, and scrubbed from anything the server sends back.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::date::Date;
use super::usage::{FORMAT_VERSION, Record, Usage};
use crate::provider::http::{
    Client, HttpError, Method, Network, Policy as HttpPolicy, Secret, encode,
};

/// The path of the user-activity list.
pub const PATH: &str = "/v1/organizations/analytics/users";
/// Environment variable holding the Analytics API key (`read:analytics`).
pub const KEY_ENV: &str = crate::provider::settings::ANALYTICS_KEY_ENV;
/// Rows asked for per page: the documented maximum.
pub const PAGE_SIZE: u32 = 1000;

/// Why usage could not be read from the Analytics API.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// `anthropic:something`.
    #[error(
        "`{0}` is not a usage source: write `anthropic:` and set the base URL with `ORGPLAN_ANTHROPIC_URL`"
    )]
    Uri(String),
    /// No key.
    #[error(
        "neither `ANTHROPIC_ANALYTICS_KEY` nor `ANTHROPIC_ADMIN_KEY` is set: `--usage anthropic:` needs an Analytics API key with the `read:analytics` scope (it is never printed or saved)"
    )]
    NoKey,
    /// A base URL that is not http(s).
    #[error("`ORGPLAN_ANTHROPIC_URL` must start with `https://` or `http://`, not `{0}`")]
    BaseUrl(String),
    /// No answer after every retry.
    #[error("Analytics API: {0}")]
    Http(#[from] HttpError),
    /// An error answer.
    #[error("Analytics API GET {PATH} answered {status} `{kind}`: {message}{hint}")]
    Api {
        /// HTTP status.
        status: u16,
        /// `error.type`.
        kind: String,
        /// `error.message`, the key scrubbed from it.
        message: String,
        /// What to do, for the documented statuses.
        hint: &'static str,
    },
    /// An answer not in the documented shape.
    #[error("Analytics API {PATH}: unexpected answer: {0}")]
    Shape(String),
    /// The organization has not enabled last-activity reporting.
    #[error(
        "the Analytics API sent no `last_activity_date` (last-activity reporting is not enabled for this organization): orgplan does not guess when a user was last active; enable it, or review with `--usage file:PATH`"
    )]
    NoLastActivity,
}

/// Read per-user usage over the `days` days up to `end` (inclusive) from the API named by
/// `uri` (`anthropic:`), configured from `settings` (which the CLI reads from the
/// environment): key `ANTHROPIC_ANALYTICS_KEY`, else `ANTHROPIC_ADMIN_KEY`; base URL
/// `ORGPLAN_ANTHROPIC_URL`; retries `ORGPLAN_HTTP_*`; TLS and proxies.
pub fn read(
    uri: &str,
    settings: &crate::provider::Settings,
    end: Date,
    days: u32,
) -> Result<Usage, AnalyticsError> {
    if uri != "anthropic:" {
        return Err(AnalyticsError::Uri(crate::provider::redact(uri)));
    }
    let credentials = &settings.credentials;
    let key = credentials
        .analytics_key
        .as_ref()
        .or(credentials.admin_key.as_ref())
        .ok_or(AnalyticsError::NoKey)?;
    let base = settings
        .anthropic_url
        .as_deref()
        .unwrap_or(crate::provider::anthropic::DEFAULT_URL);
    read_from(
        base,
        key.expose(),
        settings.http.clone(),
        &settings.network,
        end,
        days,
    )
}

/// [`read`] against the API at `base` with `key`.
pub fn read_from(
    base: &str,
    key: &str,
    policy: HttpPolicy,
    network: &Network,
    end: Date,
    days: u32,
) -> Result<Usage, AnalyticsError> {
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(AnalyticsError::BaseUrl(crate::provider::http::redact_url(
            base,
        )));
    }
    let headers = vec![
        ("x-api-key".to_owned(), Secret::new(key)),
        // CHOICE: the analytics guide shows only `x-api-key`; `anthropic-version` is sent
        // as with every other Anthropic API, which accepts it.
        (
            "anthropic-version".to_owned(),
            Secret::new(crate::provider::anthropic::API_VERSION),
        ),
    ];
    // Private CAs and proxies as for every provider (`SSL_CERT_FILE`, `HTTPS_PROXY` …).
    let client = Client::with_network(base, headers, policy, network)?;
    let start = end.plus(1 - i64::from(days.max(1)));
    // `ending_date` is exclusive: the day after the last day reviewed.
    let ending = end.plus(1);
    let mut users: BTreeMap<String, Record> = BTreeMap::new();
    let mut token: Option<String> = None;
    let mut seen = BTreeSet::new();
    loop {
        let mut url =
            format!("{PATH}?starting_date={start}&ending_date={ending}&limit={PAGE_SIZE}");
        if let Some(t) = &token {
            url.push_str(&format!("&page={}", encode(t)));
        }
        let page = call(&client, &url)?;
        // CHOICE: the rows are under `data`, as in every list of the Admin API (the
        // guide names only `next_page`).
        let rows = page
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| AnalyticsError::Shape("no `data` list".to_owned()))?;
        for row in rows {
            if let Some((email, record)) = row_record(row)? {
                merge(&mut users, email, record);
            }
        }
        let next = page
            .get("next_page")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        match next {
            None => break,
            Some(t) if !seen.insert(t.clone()) => {
                return Err(AnalyticsError::Shape(
                    "the same `next_page` twice".to_owned(),
                ));
            }
            Some(t) => token = Some(t),
        }
    }
    Ok(Usage {
        format_version: FORMAT_VERSION,
        start,
        end,
        users,
    })
}

fn call(client: &Client, url: &str) -> Result<Value, AnalyticsError> {
    let response = client.send(Method::Get, url, &[], None)?;
    if response.ok() {
        return response
            .json()
            .map_err(|e| AnalyticsError::Shape(e.to_string()));
    }
    let (kind, message) = crate::provider::anthropic::error_of(&response);
    let hint = match response.status {
        400 => {
            " (dates must be from 2026-01-01 up to the latest day with data: try an earlier `--as-of`)"
        }
        401 | 403 | 404 => {
            " (the key is missing, invalid or lacks the `read:analytics` scope; the primary owner makes one at claude.ai/analytics/api-keys)"
        }
        429 => " (rate limit: try again later)",
        _ => "",
    };
    Err(AnalyticsError::Api {
        status: response.status,
        kind: client.scrub(&kind),
        message: client.scrub(&message),
        hint,
    })
}

// One row as (email, record); `None` for a row that describes no single user, or whose
// Claude Code count is unknown (that user's usage stays unknown rather than guessed).
fn row_record(row: &Value) -> Result<Option<(String, Record)>, AnalyticsError> {
    let shape = |what: &str| AnalyticsError::Shape(what.to_owned());
    let Some(user) = row.get("user").filter(|u| !u.is_null()) else {
        return Ok(None);
    };
    let email = user
        .get("email_address")
        .and_then(Value::as_str)
        .ok_or_else(|| shape("a row's `user` has no `email_address`"))?;
    let email = crate::model::email_key(email).into_owned();
    let last_active = match row.get("last_activity_date") {
        None => return Err(AnalyticsError::NoLastActivity),
        Some(Value::Null) => None,
        Some(Value::String(day)) => Some(Date::parse(day).ok_or_else(|| {
            shape(&format!(
                "`last_activity_date` `{day}` of `{email}` is not a date"
            ))
        })?),
        Some(_) => return Err(shape("`last_activity_date` is not a string")),
    };
    let chat_messages = row
        .pointer("/chat_metrics/message_count")
        .and_then(Value::as_u64)
        .ok_or_else(|| shape(&format!("no `chat_metrics.message_count` for `{email}`")))?;
    let sessions = row.pointer("/claude_code_metrics/core_metrics/distinct_session_count");
    let claude_code_sessions = match sessions {
        Some(Value::Null) => return Ok(None),
        Some(value) => value.as_u64().ok_or_else(|| {
            shape(&format!(
                "`distinct_session_count` of `{email}` is not a count"
            ))
        })?,
        None => {
            return Err(shape(&format!(
                "no `claude_code_metrics.core_metrics.distinct_session_count` for `{email}`"
            )));
        }
    };
    Ok(Some((
        email,
        Record {
            last_active,
            chat_messages,
            claude_code_sessions,
            // CHOICE: spend is in the cost endpoints, not in user activity: left out.
            spend_usd: None,
        },
    )))
}

// CHOICE: two rows for one user (two spellings of an address) are one user: counts
// added, the later last day kept.
fn merge(users: &mut BTreeMap<String, Record>, email: String, record: Record) {
    match users.get_mut(&email) {
        Some(existing) => {
            existing.chat_messages += record.chat_messages;
            existing.claude_code_sessions += record.claude_code_sessions;
            existing.last_active = existing.last_active.max(record.last_active);
        }
        None => {
            users.insert(email, record);
        }
    }
}

//! What the providers and the usage reader are configured with, gathered in one value.
//!
//! The CLI builds it once, from the environment ([`Settings::from_lookup`] over
//! `std::env::var`) and the flags, and hands it down; no library code reads the
//! environment, so a test or an embedding program configures a provider by building a
//! value, and the list of variables below is the whole list (docs/providers.md).

use std::path::PathBuf;
use std::time::Duration;

use super::http::{Network, Policy, Secret};
use super::{anthropic, file, scim};

/// Environment variable holding the Analytics API key (`read:analytics`) of
/// `review --usage anthropic:`; the Admin API key is the fallback.
pub const ANALYTICS_KEY_ENV: &str = "ANTHROPIC_ANALYTICS_KEY";

/// Environment variable overriding how long a `file:` apply waits for the lock (seconds).
pub const LOCK_TIMEOUT_ENV: &str = "ORGPLAN_LOCK_TIMEOUT";

/// Settings of every provider, and of the Analytics usage reader.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Timeouts and retries of the remote providers (`ORGPLAN_HTTP_TIMEOUT`,
    /// `ORGPLAN_HTTP_ATTEMPTS`, `ORGPLAN_HTTP_BACKOFF_MS`).
    pub http: Policy,
    /// Private CAs and proxies (`SSL_CERT_FILE`, `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
    /// `NO_PROXY`).
    pub network: Network,
    /// How long a `file:` apply waits for a concurrent one (`ORGPLAN_LOCK_TIMEOUT`).
    pub lock_timeout: Duration,
    /// The audit file (`apply --audit FILE`); `None` leaves each provider's default:
    /// `PATH.audit.jsonl` for `file:PATH`, `.orgplan/audit.jsonl` for SCIM and the Admin API.
    pub audit: Option<PathBuf>,
    /// Requests in flight at once (`--parallelism`).
    pub parallelism: usize,
    /// SCIM: how a removed user leaves (`apply --scim-deprovision`).
    pub deprovision: scim::Deprovision,
    /// API keys and tokens: never printed (`Debug` shows `Secret(***)`), never saved.
    pub credentials: Credentials,
    /// Admin API base URL (`ORGPLAN_ANTHROPIC_URL`); `None` for the public API.
    pub anthropic_url: Option<String>,
    /// Pause between Admin API spend-limit requests (`ORGPLAN_ANTHROPIC_SPEND_INTERVAL_MS`).
    pub spend_interval: Duration,
    /// Deprecated: the Admin API's audit file from `ORGPLAN_ANTHROPIC_AUDIT`, used only
    /// when `--audit` is not given (so that a CI job that sets it keeps its trail where it
    /// was instead of silently moving it).
    pub anthropic_audit: Option<PathBuf>,
}

/// The secrets a provider may need.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// SCIM bearer token (`ORGPLAN_SCIM_TOKEN`).
    pub scim_token: Option<Secret>,
    /// Admin API key (`ANTHROPIC_ADMIN_KEY`).
    pub admin_key: Option<Secret>,
    /// Analytics API key (`ANTHROPIC_ANALYTICS_KEY`).
    pub analytics_key: Option<Secret>,
}

impl Default for Settings {
    /// Every default, no credentials: nothing read from anywhere.
    fn default() -> Self {
        Settings {
            http: Policy::default(),
            network: Network::default(),
            lock_timeout: file::LOCK_TIMEOUT,
            audit: None,
            parallelism: scim::DEFAULT_PARALLELISM,
            deprovision: scim::Deprovision::default(),
            credentials: Credentials::default(),
            anthropic_url: None,
            spend_interval: anthropic::SPEND_INTERVAL,
            anthropic_audit: None,
        }
    }
}

impl Settings {
    /// The defaults, adjusted by the environment variables `get` finds (the CLI passes
    /// `std::env::var`; tests pass a map). An empty or unparsable value counts as unset,
    /// as it always has. Flags are set on the result by the caller.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| get(name).filter(|v| !v.is_empty());
        let secret = |name: &str| get(name).filter(|v| !v.trim().is_empty()).map(Secret::new);
        let defaults = Settings::default();
        Settings {
            http: Policy::from_lookup(&get),
            network: Network::from_lookup(&get),
            lock_timeout: get(LOCK_TIMEOUT_ENV)
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(defaults.lock_timeout, Duration::from_secs),
            credentials: Credentials {
                scim_token: set(scim::TOKEN_VAR).map(Secret::new),
                admin_key: secret(anthropic::KEY_ENV),
                analytics_key: secret(ANALYTICS_KEY_ENV),
            },
            anthropic_url: set(anthropic::URL_ENV),
            spend_interval: get(anthropic::SPEND_INTERVAL_ENV)
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(defaults.spend_interval, Duration::from_millis),
            anthropic_audit: set(anthropic::AUDIT_ENV).map(PathBuf::from),
            ..defaults
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn from(vars: &[(&str, &str)]) -> Settings {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn variables_set_what_they_name_and_bad_values_keep_the_defaults() {
        let settings = from(&[
            ("ORGPLAN_LOCK_TIMEOUT", "3"),
            ("ORGPLAN_HTTP_ATTEMPTS", "2"),
            ("ORGPLAN_ANTHROPIC_URL", "http://127.0.0.1:9"),
            ("ORGPLAN_ANTHROPIC_SPEND_INTERVAL_MS", "0"),
            ("ORGPLAN_ANTHROPIC_AUDIT", "trail.jsonl"),
            ("HTTPS_PROXY", "http://proxy:3128"),
        ]);
        assert_eq!(settings.lock_timeout, Duration::from_secs(3));
        assert_eq!(settings.http.attempts, 2);
        assert_eq!(
            settings.anthropic_url.as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(settings.spend_interval, Duration::ZERO);
        assert_eq!(settings.anthropic_audit, Some(PathBuf::from("trail.jsonl")));
        assert_eq!(
            settings.network.https_proxy.as_deref(),
            Some("http://proxy:3128")
        );
        assert_eq!(settings.audit, None);

        let bad = from(&[
            ("ORGPLAN_LOCK_TIMEOUT", "soon"),
            ("ORGPLAN_ANTHROPIC_URL", ""),
            ("ORGPLAN_ANTHROPIC_SPEND_INTERVAL_MS", "-1"),
            ("ANTHROPIC_ADMIN_KEY", "   "),
        ]);
        assert_eq!(bad.lock_timeout, file::LOCK_TIMEOUT);
        assert_eq!(bad.anthropic_url, None);
        assert_eq!(bad.spend_interval, anthropic::SPEND_INTERVAL);
        assert!(bad.credentials.admin_key.is_none());
    }

    #[test]
    fn credentials_are_read_and_never_in_debug() {
        let settings = from(&[
            ("ORGPLAN_SCIM_TOKEN", "tok-secret"),
            ("ANTHROPIC_ADMIN_KEY", "sk-admin-secret"),
            ("ANTHROPIC_ANALYTICS_KEY", "sk-analytics-secret"),
        ]);
        let credentials = &settings.credentials;
        assert!(credentials.scim_token.is_some());
        assert!(credentials.admin_key.is_some());
        assert!(credentials.analytics_key.is_some());
        let debug = format!("{settings:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }
}

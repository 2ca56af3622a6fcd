//! Providers: the only code that talks to the live org (docs/providers.md).
//!
//! A provider reads the live state and declares what it can carry out and what it can
//! read. `--live URI` picks one: `file:PATH`, `scim+http(s)://…` (see [`scim`]) or
//! `anthropic:` (the Admin API, see [`anthropic`]).
//!
//! [`Provider::apply`] carries out a batch of operations as one transaction: the provider
//! holds its lock while it re-reads the state, lets the caller refuse it (stale plan,
//! safety), applies and records. Each provider declares in [`Capabilities::applies`] which
//! operation kinds it carries out; the plan marks the rest as manual steps.

pub mod anthropic;
pub mod backoff;
pub mod contract;
pub mod file;
pub mod http;
pub mod memory;
pub mod scim;
pub mod settings;

use std::path::PathBuf;

use crate::diff::Operation;
use crate::live::LiveState;
pub use contract::{ApplyError, AuditLog, AuditRecord, Batch};
pub use settings::Settings;

/// The live URI used when `--live` is not given.
pub const DEFAULT_LIVE: &str = "file:.orgplan/live.json";

pub use crate::diff::Capabilities;

/// A source of live state.
pub trait Provider {
    /// The URI, safe to print and save: no credentials.
    fn uri(&self) -> String;
    /// What this provider reads and carries out.
    fn capabilities(&self) -> Capabilities;
    /// Read the live org.
    fn read(&self) -> Result<LiveState, ProviderError>;
    /// Carry out the operations of `batch` that the provider applies, as one transaction:
    /// re-read the live state under the provider's lock, call `check` on it (which may
    /// refuse), apply, record each applied operation in the audit trail. Returns the
    /// operations applied and where they were recorded.
    fn apply(
        &self,
        batch: &Batch<'_>,
        check: &mut dyn FnMut(&LiveState) -> Result<(), ApplyError>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Applied, ApplyError>;
    /// Adjust the diff's operations to what this provider can really carry out, given the
    /// live state it read: split an operation it can do only in part, or make one a manual
    /// step with an instruction naming the console page. Pure over `live` and what the
    /// provider learnt in its last `read`. The default changes nothing.
    fn refine(&self, operations: Vec<Operation>, live: &LiveState) -> Vec<Operation> {
        let _ = live;
        operations
    }
}

/// What [`Provider::apply`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// Operations carried out, in order.
    pub operations: Vec<Operation>,
    /// Where they were recorded.
    pub audit_log: Option<String>,
}

/// Why a provider could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A URI that names no provider.
    #[error(
        "unknown live URI `{0}`: expected `file:PATH`, `scim+https://…`, `scim+http://…` or `anthropic:`"
    )]
    UnknownUri(String),
    /// The live-state file exists but cannot be read.
    #[error("cannot read live state `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not JSON, or is cut short.
    #[error("live state `{path}` is {what}: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// `truncated` or `not valid JSON`.
        what: &'static str,
        /// Parser message with line and column.
        detail: String,
    },
    /// The file's `format_version` is missing or not one this build reads.
    #[error(
        "live state `{path}` has {found}; this orgplan reads `format_version: {}`",
        crate::live::FORMAT_VERSION
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// What was found, for the message.
        found: String,
    },
    /// JSON that is not in the live-state shape.
    #[error("live state `{path}` is not a live-state file: at `{at}`: {detail}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// Path of the offending value.
        at: String,
        /// What is wrong.
        detail: String,
    },
    /// Another apply holds the lock for longer than we wait.
    #[error(
        "live state is locked by another apply: waited {seconds} s for the lock on `{path}`; try again when that apply is done (the lock is released when its process ends)"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        seconds: u64,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock `{path}`: {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The new state could not be written; the old one is untouched.
    #[error("cannot write live state `{path}`: {source}; nothing applied")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The SCIM service provider could not be reached, read or written.
    #[error("{0}")]
    Scim(#[from] scim::ScimError),
    /// The Anthropic Admin API provider could not be set up, read or answered an error.
    #[error(transparent)]
    Anthropic(#[from] anthropic::AnthropicError),
    /// The new state landed but its audit lines could not be appended.
    #[error(
        "{count} operations were applied, but the audit log `{path}` could not be written: {source}"
    )]
    Audit {
        /// The audit log.
        path: PathBuf,
        /// Operations applied.
        count: usize,
        /// What the system said.
        source: std::io::Error,
    },
}

/// Build the provider a `--live` URI names, with the default [`Settings`]: no credentials,
/// nothing read from the environment (a `file:` URI needs neither).
pub fn from_uri(uri: &str) -> Result<Box<dyn Provider>, ProviderError> {
    from_uri_with(uri, &Settings::default())
}

/// [`from_uri`] with the settings the CLI gathered from the environment and the flags.
pub fn from_uri_with(uri: &str, settings: &Settings) -> Result<Box<dyn Provider>, ProviderError> {
    if let Some(path) = uri.strip_prefix("file:") {
        if path.is_empty() {
            return Err(ProviderError::UnknownUri(uri.to_owned()));
        }
        // `ORGPLAN_LOCK_TIMEOUT` (seconds) shortens or lengthens the wait for a concurrent
        // apply; scripts and tests use it, people rarely need to.
        let mut provider = file::FileProvider::new(path).with_lock_timeout(settings.lock_timeout);
        if let Some(audit) = &settings.audit {
            provider = provider.with_audit(audit);
        }
        return Ok(Box::new(provider));
    }
    if uri.starts_with("scim+https://") || uri.starts_with("scim+http://") {
        let provider = scim::ScimProvider::connect(uri, settings)?;
        return Ok(Box::new(provider));
    }
    if uri.starts_with("anthropic:") {
        // The Admin API reads its lists as many at once as SCIM does (`--parallelism`).
        let provider = anthropic::AnthropicProvider::from_settings(uri, settings)?
            .with_parallelism(settings.parallelism);
        return Ok(Box::new(provider));
    }
    Err(ProviderError::UnknownUri(redact(uri)))
}

/// The URI without credentials: no `user:password@` and no query string (where tokens
/// tend to hide). Secrets are never printed or saved.
pub fn redact(uri: &str) -> String {
    http::redact_url(uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn credentials_are_stripped() {
        assert_eq!(
            redact("scim+https://bob:secret@idp.example.com/scim/v2?token=abc"),
            "scim+https://idp.example.com/scim/v2"
        );
        assert_eq!(redact("file:.orgplan/live.json"), "file:.orgplan/live.json");
    }

    #[test]
    fn bad_uris_are_refused_without_echoing_secrets() {
        // `anthropic:` takes no path: anything after it is refused, without echoing a
        // query that could hold a secret.
        let error = from_uri("anthropic:org?key=secret")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("`anthropic:org`"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        assert!(matches!(
            from_uri("ftp://x"),
            Err(ProviderError::UnknownUri(_))
        ));
    }

    #[test]
    fn unreadable_paths_cover_their_children() {
        let caps = Capabilities {
            applies: BTreeSet::new(),
            unreadable: vec!["org.seats".into()],
        };
        assert!(caps.cannot_read("org.seats"));
        assert!(caps.cannot_read("org.seats.premium"));
        assert!(!caps.cannot_read("org.seatsx"));
        assert!(!caps.cannot_read("org.name"));
    }
}

//! `file:PATH`: the live state kept in a JSON file (docs/providers.md).
//!
//! An apply is one transaction: take an exclusive lock on `PATH.lock` (waiting a bounded
//! time for a concurrent apply), re-read the state, apply every operation in memory,
//! write the new state ONCE to a temporary file in the same folder, fsync it, rename it
//! over `PATH` and fsync the folder; only then append one JSON line per applied operation
//! to `PATH.audit.jsonl` (or the file `apply --audit` names). A crash at any point leaves `PATH` either the old or the new
//! state, and the audit trail never names an operation that did not land (a crash between
//! the rename and the append can leave the last apply unrecorded, never the reverse).

use std::borrow::Cow;
use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::error::Category;

use super::{Applied, Capabilities, Provider, ProviderError};
use crate::live::{FORMAT_VERSION, LiveState};
use crate::provider::contract::{ApplyError, AuditLog, AuditRecord, Batch};
use crate::provider::memory;

/// How long an apply waits for a concurrent one by default.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The `file:PATH` provider.
#[derive(Debug, Clone)]
pub struct FileProvider {
    path: PathBuf,
    lock_timeout: Duration,
    /// The audit trail; `PATH.audit.jsonl` when not set.
    audit: Option<PathBuf>,
}

impl FileProvider {
    /// A provider for the live-state file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileProvider {
            path: path.into(),
            lock_timeout: LOCK_TIMEOUT,
            audit: None,
        }
    }

    /// Append the audit trail to `path` instead of `PATH.audit.jsonl` (`apply --audit`).
    pub fn with_audit(mut self, path: impl Into<PathBuf>) -> Self {
        self.audit = Some(path.into());
        self
    }

    /// Wait at most `timeout` for a concurrent apply to release the lock.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// `PATH` with `suffix` appended to the file name: `live.json.lock`.
    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = OsString::from(self.path.as_os_str());
        name.push(suffix);
        PathBuf::from(name)
    }

    /// The folder of `PATH`; `.` for a bare file name.
    fn folder(&self) -> &Path {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }

    /// Take the exclusive lock, polling so that the wait is bounded. The lock goes with
    /// the returned file (closing it releases it), also when the process dies.
    fn lock(&self) -> Result<File, ProviderError> {
        let path = self.sibling(".lock");
        let lock_error = |source| ProviderError::Lock {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(self.folder()).map_err(lock_error)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(lock_error)?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(TryLockError::WouldBlock) if start.elapsed() < self.lock_timeout => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(ProviderError::Locked {
                        path,
                        seconds: self.lock_timeout.as_secs(),
                    });
                }
                Err(TryLockError::Error(source)) => return Err(lock_error(source)),
            }
        }
    }

    /// Replace `PATH` with `state`: temporary file, fsync, rename, fsync the folder.
    fn write(&self, state: &LiveState) -> Result<(), ProviderError> {
        let write_error = |source| ProviderError::Write {
            path: self.path.clone(),
            source,
        };
        let mut bytes = serde_json::to_vec_pretty(state).map_err(|e| write_error(e.into()))?;
        bytes.push(b'\n');
        let prefix = format!(
            ".{}.",
            self.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let mut temp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .tempfile_in(self.folder())
            .map_err(write_error)?;
        temp.write_all(&bytes).map_err(write_error)?;
        // The new file takes the old one's permissions (the temporary file is owner-only):
        // an apply must not lock CI's other readers out of the state.
        if let Ok(existing) = std::fs::metadata(&self.path) {
            temp.as_file()
                .set_permissions(existing.permissions())
                .map_err(write_error)?;
        }
        temp.as_file().sync_all().map_err(write_error)?;
        temp.persist(&self.path).map_err(|e| write_error(e.error))?;
        // The rename is durable only once the folder entry is on disk.
        #[cfg(unix)]
        File::open(self.folder())
            .and_then(|dir| dir.sync_all())
            .map_err(write_error)?;
        Ok(())
    }

    /// Append one line per applied operation, in one write, and fsync.
    fn audit(&self, path: &Path, records: &[AuditRecord]) -> Result<PathBuf, ProviderError> {
        let audit_error = |source| ProviderError::Audit {
            path: path.to_owned(),
            count: records.len(),
            source,
        };
        AuditLog::open(path)
            .and_then(|mut log| log.append(records))
            .map_err(audit_error)?;
        Ok(path.to_owned())
    }
}

impl Provider for FileProvider {
    fn uri(&self) -> String {
        format!("file:{}", self.path.display())
    }

    // The file holds everything, so it reads every field and carries out every operation.
    fn capabilities(&self) -> Capabilities {
        Capabilities::full()
    }

    fn read(&self) -> Result<LiveState, ProviderError> {
        // Read whole, then decoded. Decoding from a buffered reader keeps the bytes from
        // being resident beside the state, but costs a third more time (serde_json reads
        // it a byte at a time); in `plan` the file is read while the policy loads, and
        // its buffer is freed and reused before the load peaks (measured: no higher peak).
        match std::fs::read(&self.path) {
            Ok(bytes) => parse(&self.path, &bytes),
            // A missing file is a new org that nothing was applied to yet.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(LiveState::default()),
            Err(source) => Err(ProviderError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn apply(
        &self,
        batch: &Batch<'_>,
        check: &mut dyn FnMut(&LiveState) -> Result<(), ApplyError>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Applied, ApplyError> {
        let _lock = self.lock()?;
        let mut state = self.read()?;
        check(&state)?;
        let applied = memory::apply_all(&mut state, batch.operations, progress)?;
        if applied.is_empty() {
            return Ok(Applied {
                operations: Vec::new(),
                audit_log: None,
            });
        }
        self.write(&state)?;
        let records: Vec<AuditRecord> = applied
            .iter()
            .map(|op| AuditRecord::landed(op, batch))
            .collect();
        let path = self
            .audit
            .clone()
            .unwrap_or_else(|| self.sibling(".audit.jsonl"));
        let log = self.audit(&path, &records)?;
        Ok(Applied {
            operations: applied.into_iter().cloned().collect(),
            audit_log: Some(log.display().to_string()),
        })
    }
}

/// Parse the bytes of a live-state file named `path`.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<LiveState, ProviderError> {
    // A good file is decoded in one pass; only a bad one pays for the passes that explain
    // what is wrong with it.
    let state = match serde_json::from_slice::<LiveState>(bytes) {
        Ok(state) if state.format_version == FORMAT_VERSION => state,
        _ => explain_bad_file(path, bytes)?,
    };
    checked(path, state)
}

// A decoded state's last checks, then the state normalized.
fn checked(path: &Path, state: LiveState) -> Result<LiveState, ProviderError> {
    // Emails are compared case-insensitively: two accounts whose emails differ only in
    // case would become one when normalized, and the other would vanish from every plan
    // and from the file written by the next apply. Keys that are all their own
    // `email_key` (lowercase, as orgplan writes them) are distinct keys already.
    let keyed = |email: &String| matches!(crate::model::email_key(email), Cow::Borrowed(_));
    if state.users.keys().all(keyed) {
        return Ok(state.normalized());
    }
    let mut seen: foldhash::HashMap<_, _> =
        foldhash::HashMap::with_capacity_and_hasher(state.users.len(), Default::default());
    for email in state.users.keys() {
        if let Some(first) = seen.insert(crate::model::email_key(email), email) {
            return Err(ProviderError::Shape {
                path: path.to_owned(),
                at: format!("users.{email}"),
                detail: format!(
                    "`{email}` and `{first}` differ only in case; emails are compared case-insensitively, so keep one account"
                ),
            });
        }
    }
    Ok(state.normalized())
}

// The decoding of a file that did not decode, for a precise error: two passes over the
// bytes, no tree in between. The first only checks that this is JSON and finds
// `format_version` (skipping the rest): a file from a newer orgplan should say so, not
// complain about a field this build has never heard of. The second finds the path of the
// first value of the wrong shape.
fn explain_bad_file(path: &Path, bytes: &[u8]) -> Result<LiveState, ProviderError> {
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: Option<serde_json::Value>,
    }
    let version: Version =
        serde_json::from_slice(bytes).map_err(|error| ProviderError::Corrupt {
            path: path.to_owned(),
            what: if error.classify() == Category::Eof {
                "truncated"
            } else {
                "not valid JSON"
            },
            detail: error.to_string(),
        })?;
    let found = match &version.format_version {
        None => Some("no `format_version`".to_owned()),
        Some(v) if v.as_u64() == Some(u64::from(FORMAT_VERSION)) => None,
        Some(v) => Some(format!("`format_version: {v}`")),
    };
    if let Some(found) = found {
        return Err(ProviderError::Version {
            path: path.to_owned(),
            found,
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let state: LiveState =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            ProviderError::Shape {
                path: path.to_owned(),
                at: error.path().to_string(),
                detail: error.inner().to_string(),
            }
        })?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(Path::new("live.json"), text.as_bytes())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn truncated_corrupt_and_wrong_version_are_named() {
        assert!(error(r#"{"format_version": 1, "users": {"#).contains("truncated"));
        assert!(error("{nope}").contains("not valid JSON"));
        assert!(error(r#"{"format_version": 2}"#).contains("`format_version: 2`"));
        assert!(error(r#"{"users": {}}"#).contains("no `format_version`"));
        let shape = error(r#"{"format_version":1,"users":{"a@x.com":{"seat":"gold"}}}"#);
        assert!(shape.contains("users.a@x.com.seat"), "{shape}");
    }

    #[test]
    fn users_whose_emails_differ_only_in_case_are_refused_not_merged() {
        let shape = error(
            r#"{"format_version":1,"users":{"kate@x.com":{"id":"u1"},"Kate@x.com":{"id":"u2","role":"admin"}}}"#,
        );
        assert!(shape.contains("differ only in case"), "{shape}");
        assert!(shape.contains("`Kate@x.com`"), "{shape}");
    }

    #[test]
    fn a_file_read_gives_the_state_and_the_errors_of_parse() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("live.json");
        let read = |text: &str| {
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
            let read = FileProvider::new(&path).read().map_err(|e| e.to_string());
            let parsed = parse(&path, text.as_bytes()).map_err(|e| e.to_string());
            assert_eq!(read, parsed);
            read
        };
        let state = read(
            r#"{"format_version":1,"groups":{"g":{"members":["B@x.com","a@x.com"]}},
                "users":{"b@x.com":{"id":"u2"},"a@x.com":{"id":"u1"}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            state.users.keys().collect::<Vec<_>>(),
            ["a@x.com", "b@x.com"]
        );
        assert_eq!(state.groups["g"].members, ["a@x.com", "b@x.com"]);
        // Keys not all lowercase are checked one against another, then lowercased.
        let state = read(r#"{"format_version":1,"users":{"B@x.com":{},"a@x.com":{}}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            state.users.keys().collect::<Vec<_>>(),
            ["a@x.com", "b@x.com"]
        );
        for (text, expected) in [
            (r#"{"format_version": 1, "users": {"#, "truncated"),
            (r#"{"format_version": 2}"#, "`format_version: 2`"),
            (
                r#"{"format_version":1,"users":{"a@x.com":{"seat":"gold"}}}"#,
                "users.a@x.com.seat",
            ),
            (r#"{"format_version":1,"users":[]}"#, "expected a map"),
            (
                r#"{"format_version":1,"users":{"kate@x.com":{},"Kate@x.com":{}}}"#,
                "differ only in case",
            ),
        ] {
            let error = read(text).err().unwrap_or_default();
            assert!(error.contains(expected), "{error}");
        }
        // A folder where the file should be is an error to read, not an empty org.
        let error = FileProvider::new(dir.path())
            .read()
            .err()
            .map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("read")),
            "{error:?}"
        );
    }

    #[test]
    fn a_missing_file_is_an_empty_org() {
        let provider = FileProvider::new("/nonexistent/orgplan/live.json");
        let state = provider.read().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(state, LiveState::default());
    }
}

//! `file:PATH`: the live state kept in a JSON file (SPEC §4). Reading only for now;
//! writing (lock, temp file, fsync, rename, audit log) comes with `apply`.

use std::path::{Path, PathBuf};

use serde_json::error::Category;

use super::{Capabilities, Provider, ProviderError};
use crate::live::{FORMAT_VERSION, LiveState};

/// The `file:PATH` provider.
#[derive(Debug, Clone)]
pub struct FileProvider {
    path: PathBuf,
}

impl FileProvider {
    /// A provider for the live-state file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileProvider { path: path.into() }
    }
}

impl Provider for FileProvider {
    fn uri(&self) -> String {
        format!("file:{}", self.path.display())
    }

    // The file holds everything, so it reads every field and will carry out every
    // operation once `apply` lands.
    fn capabilities(&self) -> Capabilities {
        Capabilities::full()
    }

    fn read(&self) -> Result<LiveState, ProviderError> {
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
}

/// Parse the bytes of a live-state file named `path`.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<LiveState, ProviderError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| ProviderError::Corrupt {
            path: path.to_owned(),
            what: if error.classify() == Category::Eof {
                "truncated"
            } else {
                "not valid JSON"
            },
            detail: error.to_string(),
        })?;
    // Check the version before the shape: a file from a newer orgplan should say so, not
    // complain about a field this build has never heard of.
    let found = match value.get("format_version") {
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
    let state: LiveState =
        serde_path_to_error::deserialize(value).map_err(|error| ProviderError::Shape {
            path: path.to_owned(),
            at: error.path().to_string(),
            detail: error.inner().to_string(),
        })?;
    Ok(state.normalized())
}

#[cfg(test)]
#[expect(clippy::panic, reason = "tests fail by panicking")]
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
    fn a_missing_file_is_an_empty_org() {
        let provider = FileProvider::new("/nonexistent/orgplan/live.json");
        let state = provider.read().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(state, LiveState::default());
    }
}

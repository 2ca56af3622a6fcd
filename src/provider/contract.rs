//! The contract between the apply driver and the providers: what a provider is handed
//! ([`Batch`]), what it records for each operation that lands ([`AuditRecord`]), and why an
//! apply did not happen or did not finish ([`ApplyError`]). Providers depend on this, never
//! on [`crate::apply`], which drives them.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diff::{Change, Execution, OpKind, Operation};
use crate::plan::PlanError;

use super::ProviderError;

/// Why an apply did not happen, or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The live org changed since the plan was made.
    #[error(
        "the plan is stale: the live org changed since it was made, nothing applied{}\n  to proceed: run `orgplan plan` again and apply the new plan",
        changed_list(.0)
    )]
    Stale(Vec<String>),
    /// The policy folder is not the one the plan was made from.
    #[error(
        "the policy differs from the one the plan was made from, nothing applied\n  to proceed: apply from the same commit as the plan, or run `orgplan plan` again"
    )]
    PolicyChanged,
    /// The policy is the plan's, but the operations in the plan file are not the ones the
    /// policy and the live state give now: the file was edited, or made by something else.
    #[error(
        "the plan file's operations differ from what the policy and the live org give now ({0}): the file was edited, or `unmanaged_users` changed since the plan; nothing applied\n  to proceed: run `orgplan plan -o FILE` again and apply that file unedited"
    )]
    OperationsDiffer(String),
    /// The safety rules refuse the plan against the live state as it is now.
    #[error("{0}")]
    Safety(#[from] PlanError),
    /// An operation does not fit the live state (a hand-edited or foreign plan file).
    #[error("cannot apply `{}` to `{target}`: {reason}, nothing applied", .op.as_str())]
    Operation {
        /// The kind of operation.
        op: OpKind,
        /// Its target.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// The provider failed.
    #[error("{0}")]
    Provider(#[from] ProviderError),
    /// A remote provider stopped midway. What landed stays landed (and is audited); a new
    /// plan will not propose it again, so running `plan`/`apply` again finishes the job.
    #[error(
        "apply stopped at `{}` on `{target}`: {reason}{}{}\n  to proceed: fix the cause, then run `orgplan plan` and apply again; what landed is not planned again",
        .op.as_str(),
        op_list("applied", .applied),
        op_list("not applied", .remaining)
    )]
    Partial {
        /// Operations that landed, in order.
        applied: Vec<Operation>,
        /// The kind of the operation that failed.
        op: OpKind,
        /// Its target.
        target: String,
        /// Why it failed.
        reason: String,
        /// Operations not carried out: the failed one and every one after it.
        remaining: Vec<Operation>,
        /// Where the operations that landed were recorded, when anything was (a boxed
        /// `str`: it keeps the error, which every apply returns, within clippy's bound).
        audit_log: Option<Box<str>>,
    },
}

fn op_list(title: &str, operations: &[Operation]) -> String {
    let mut out = format!("\n  {title} ({}):", operations.len());
    if operations.is_empty() {
        out.push_str(" none");
    }
    for op in operations {
        out.push_str(&format!("\n    {op}"));
    }
    out
}

fn changed_list(changed: &[String]) -> String {
    if changed.is_empty() {
        return String::new();
    }
    let mut out = String::from(":");
    for line in changed {
        out.push_str("\n  ");
        out.push_str(line);
    }
    out
}

/// One line of the audit trail (see [`AuditLog`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the operation landed, RFC 3339 UTC.
    pub time: String,
    /// Op name.
    pub op: OpKind,
    /// Its target.
    pub target: String,
    /// The member, for membership operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Fields set.
    pub changes: Vec<Change>,
    /// sha256 of the canonical JSON of the plan.
    pub plan_digest: String,
    /// Who ran the apply.
    pub actor: String,
}

impl AuditRecord {
    /// The record of `op`, landed now, as part of `batch`.
    pub fn landed(op: &Operation, batch: &Batch<'_>) -> Self {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        AuditRecord {
            time: rfc3339(seconds),
            op: op.op,
            target: op.target.clone(),
            member: op.member.clone(),
            changes: op.changes.clone(),
            plan_digest: batch.plan_digest.to_owned(),
            actor: batch.actor.to_owned(),
        }
    }
}

/// The JSONL audit trail every provider appends to (`apply --audit FILE`): one
/// [`AuditRecord`] per line, each batch written in one `write` and flushed to disk before
/// the provider goes on, so a line is never half there and never names an operation that
/// did not land. Providers call it only after the operations landed (the file provider:
/// after the new state is on disk).
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
}

impl AuditLog {
    /// Open `path` for appending, creating it and its folder when missing.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(AuditLog {
            path: path.to_owned(),
            file,
        })
    }

    /// Append one line per record, in one write, and flush it to disk.
    pub fn append(&mut self, records: &[AuditRecord]) -> std::io::Result<()> {
        let mut lines = Vec::new();
        for record in records {
            serde_json::to_writer(&mut lines, record)?;
            lines.push(b'\n');
        }
        self.file.write_all(&lines)?;
        self.file.sync_all()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What the caller hands a provider to apply.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    /// The plan's operations, manual ones included (the provider skips them).
    pub operations: &'a [Operation],
    /// sha256 of the plan, for the audit trail.
    pub plan_digest: &'a str,
    /// Who runs the apply, for the audit trail.
    pub actor: &'a str,
}

/// True when the provider carries `op` out itself.
pub fn by_provider(op: &Operation) -> bool {
    op.execution == Execution::Provider
}

/// `seconds` since the Unix epoch as RFC 3339 UTC (`2025-01-31T09:05:00Z`), by the
/// civil-from-days algorithm (Howard Hinnant), so that no date crate is needed.
pub fn rfc3339(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_599), "2024-12-31T23:59:59Z");
    }

    #[test]
    fn the_audit_log_appends_one_line_per_record_and_makes_its_folder() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("nested/audit.jsonl");
        let op = Operation {
            op: OpKind::UserRemove,
            target: "a@x.com".into(),
            member: None,
            changes: Vec::new(),
            source: None,
            execution: Execution::Provider,
        };
        let batch = Batch {
            operations: std::slice::from_ref(&op),
            plan_digest: "sha256:0",
            actor: "ci",
        };
        let record = AuditRecord::landed(&op, &batch);
        for _ in 0..2 {
            let mut log = AuditLog::open(&path).unwrap_or_else(|e| panic!("{e}"));
            log.append(&[record.clone(), record.clone()])
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(log.path(), path);
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(text.lines().count(), 4, "{text}");
        for line in text.lines() {
            let read: AuditRecord = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(read, record);
        }
    }
}

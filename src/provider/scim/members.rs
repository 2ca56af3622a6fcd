//! Membership changes, batched as RFC 7644 §3.5.2 allows: every add and remove of one
//! group is one PATCH (one `add` operation carrying all new members as values, one
//! `remove` operation per leaving member, `members[value eq "…"]`), sent with `If-Match`
//! when the server supports ETags.
//!
//! - **Limits.** One PATCH carries at most [`MEMBERS_PER_PATCH`] member changes, fewer when
//!   the server advertises `bulk.maxOperations`, and stays under `bulk.maxPayloadSize` when
//!   given; a larger change is sent as several PATCHes, each after a fresh read.
//! - **Never twice.** Each PATCH follows a fresh read of the group: a member already as
//!   asked (a retry whose first answer was lost, a change made by hand) counts as landed and
//!   is not sent again. A group this apply created is not read again for its first PATCH
//!   when the server supports ETags: its POST answer and version stand for the read, and
//!   `If-Match` refuses the PATCH (412, stale) if anything changed it since.
//! - **Exactly what landed.** A PATCH is atomic (§3.5.2), so a refused member (400, 404,
//!   409, 422) refuses the whole batch. The batch is then split in halves, each sent again
//!   after a fresh read, down to the member the server refuses: every other member lands,
//!   the refused ones are reported as not applied (the first by plan order as the failure),
//!   and a re-run converges. A 412 (changed meanwhile) stops the group as stale.
//! - **Without PATCH**, the re-read group is PUT back with the new member list.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{LOST, Run, lock, map, text};
use crate::diff::{OpKind, Operation};
use crate::live::LiveState;
use crate::provider::http::Method;

/// Most member changes one PATCH carries when the server does not say: large enough that a
/// group of a thousand changes in one request, small enough for any server we know of
/// (Entra ID and Okta document limits of this order for group PATCH).
pub const MEMBERS_PER_PATCH: usize = 1000;

/// Tries of one batch whose answer is lost before giving up.
const TRIES: u32 = 4;

/// The additions to new groups that can go in the group's POST: the member exists already
/// (it has an id in `state`). Keyed by group name, in plan order.
pub(super) fn carried<'o>(
    todo: &[&'o Operation],
    state: &LiveState,
) -> BTreeMap<String, Vec<(&'o Operation, String)>> {
    let creating: BTreeSet<&str> = todo
        .iter()
        .filter(|op| op.op == OpKind::GroupCreate)
        .map(|op| op.target.as_str())
        .collect();
    let mut out: BTreeMap<String, Vec<(&'o Operation, String)>> = BTreeMap::new();
    for op in todo {
        if op.op != OpKind::GroupAddMember || !creating.contains(op.target.as_str()) {
            continue;
        }
        let id = op
            .member
            .as_deref()
            .and_then(|m| state.users.get(m))
            .and_then(|u| u.id.clone());
        if let Some(id) = id {
            out.entry(op.target.clone()).or_default().push((op, id));
        }
    }
    out
}

/// One member change: its place in the phase, the operation, the user's SCIM id.
#[derive(Clone, Copy)]
struct Change<'o> {
    index: usize,
    op: &'o Operation,
    add: bool,
}

/// What happened to the changes of one group.
#[derive(Default)]
struct Outcome<'o> {
    landed: Vec<(usize, &'o Operation)>,
    failed: Vec<(usize, &'o Operation, String)>,
}

/// Why a batch failed.
enum Refusal {
    /// The answer was lost: it may have landed.
    Lost(String),
    /// A member the server will not take (400, 404, 409, 422): worth splitting.
    Member(String),
    /// Anything else (412 stale, 401, 5xx after retries): stop this group.
    Stop(String),
}

impl<'a> Run<'a> {
    /// Carry out the membership phase (`group.add_member` and `group.remove_member`): one
    /// batch per group, groups on up to `parallelism` threads. Returns what landed, in
    /// plan order, and the first failure.
    pub(super) fn memberships<'o>(
        &self,
        ops: &[&'o Operation],
    ) -> (Vec<&'o Operation>, super::Failure<'o>) {
        let mut by_group: BTreeMap<&str, Vec<Change<'o>>> = BTreeMap::new();
        for (index, op) in ops.iter().enumerate() {
            by_group
                .entry(op.target.as_str())
                .or_default()
                .push(Change {
                    index,
                    op,
                    add: op.op == OpKind::GroupAddMember,
                });
        }
        let groups: Vec<(&str, Vec<Change<'o>>)> = by_group.into_iter().collect();
        let outcomes = crate::provider::backoff::bounded_map(
            &groups,
            self.provider.options.parallelism,
            |(group, changes)| self.group(group, changes),
        );
        let mut landed = Vec::new();
        let mut failed = Vec::new();
        for outcome in outcomes {
            landed.extend(outcome.landed);
            failed.extend(outcome.failed);
        }
        landed.sort_by_key(|(index, _)| *index);
        failed.sort_by_key(|(index, _, _)| *index);
        let failure = failed
            .into_iter()
            .next()
            .map(|(_, op, reason)| (op, reason));
        (landed.into_iter().map(|(_, op)| op).collect(), failure)
    }

    /// Every change of one group.
    fn group<'o>(&self, group: &str, changes: &[Change<'o>]) -> Outcome<'o> {
        let mut outcome = Outcome::default();
        let path = match self.id(|i| &i.groups, group) {
            Ok(id) => format!("{}/{id}", self.provider.found.groups),
            Err(reason) => {
                if let Some(first) = changes.first() {
                    outcome.failed.push((first.index, first.op, reason));
                }
                return outcome;
            }
        };
        // A member without an id cannot be sent; the others still are.
        let mut ready = Vec::new();
        for change in changes {
            let user = change
                .op
                .member
                .as_deref()
                .ok_or_else(|| "no member".to_owned())
                .and_then(|m| self.id(|i| &i.users, m));
            match user {
                Ok(user) => ready.push((*change, user)),
                Err(reason) => outcome.failed.push((change.index, change.op, reason)),
            }
        }
        self.settle(&path, ready, &mut outcome);
        outcome
    }

    /// Bring the group at `path` to what `changes` ask, in as few PATCHes as the limits
    /// allow; split a refused batch to find the member refused.
    fn settle<'o>(
        &self,
        path: &str,
        mut changes: Vec<(Change<'o>, String)>,
        out: &mut Outcome<'o>,
    ) {
        let mut tries = 0;
        while !changes.is_empty() {
            // A group this apply created is known as the server answered it, with its
            // version: used once instead of a read; every later round reads afresh.
            let known = lock(&self.created).remove(path);
            let read = match known {
                Some((resource, version)) => Ok((resource, Some(version))),
                None => self.fresh(path),
            };
            let (current, etag) = match read {
                Ok(read) => read,
                Err(reason) => {
                    let (first, _) = &changes[0];
                    out.failed.push((first.index, first.op, reason));
                    return;
                }
            };
            let present: BTreeSet<String> = member_ids(&current).into_iter().collect();
            // Already as asked: landed, never sent twice.
            changes.retain(|(change, user)| {
                if present.contains(user) == change.add {
                    out.landed.push((change.index, change.op));
                    false
                } else {
                    true
                }
            });
            if changes.is_empty() {
                return;
            }
            let take = self.batch_size(&changes);
            let rest = changes.split_off(take);
            let batch = changes;
            changes = rest;
            match self.send_batch(path, &current, etag.as_deref(), &batch) {
                Ok(()) => {
                    out.landed
                        .extend(batch.iter().map(|(c, _)| (c.index, c.op)));
                    tries = 0;
                }
                Err(Refusal::Lost(reason)) => {
                    tries += 1;
                    if tries >= TRIES {
                        let (first, _) = &batch[0];
                        out.failed.push((first.index, first.op, reason));
                        return;
                    }
                    // Read again and send what is still missing.
                    let mut again = batch;
                    again.extend(changes);
                    changes = again;
                }
                Err(Refusal::Member(reason)) if batch.len() == 1 => {
                    let (only, _) = &batch[0];
                    let member = only.op.member.as_deref().unwrap_or_default();
                    out.failed.push((
                        only.index,
                        only.op,
                        format!("member `{member}` refused: {reason}"),
                    ));
                }
                Err(Refusal::Member(_)) => {
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    self.settle(path, first, out);
                    self.settle(path, second, out);
                }
                Err(Refusal::Stop(reason)) => {
                    let (first, _) = &batch[0];
                    out.failed.push((first.index, first.op, reason));
                    return;
                }
            }
        }
    }

    /// How many of `changes` the next PATCH carries: within the member count and the
    /// payload size the server allows. Without PATCH, all of them (one PUT).
    fn batch_size(&self, changes: &[(Change<'_>, String)]) -> usize {
        let found = &self.provider.found;
        if !found.patch {
            return changes.len();
        }
        let most = found
            .max_operations
            .map_or(MEMBERS_PER_PATCH, |m| m.min(MEMBERS_PER_PATCH));
        // The envelope, then each change's share of the body, counted generously.
        let mut bytes = 200;
        let mut n = 0;
        for (_, user) in changes.iter().take(most.max(1)) {
            bytes += user.len() + 64;
            if n > 0 && found.max_payload.is_some_and(|limit| bytes > limit) {
                break;
            }
            n += 1;
        }
        n.max(1)
    }

    /// One request carrying `batch`: a PATCH, or a PUT of the re-read group.
    fn send_batch(
        &self,
        path: &str,
        current: &Value,
        etag: Option<&str>,
        batch: &[(Change<'_>, String)],
    ) -> Result<(), Refusal> {
        let p = self.provider;
        let (method, body) = if p.found.patch {
            let adds: Vec<Value> = batch
                .iter()
                .filter(|(c, _)| c.add)
                .map(|(_, user)| json!({"value": user}))
                .collect();
            let mut operations = Vec::new();
            if !adds.is_empty() {
                operations.push(json!({"op": "add", "path": "members", "value": adds}));
            }
            for (_, user) in batch.iter().filter(|(c, _)| !c.add) {
                operations
                    .push(json!({"op": "remove", "path": format!("members[value eq \"{user}\"]")}));
            }
            let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": operations,
            });
            (Method::Patch, body)
        } else {
            let mut members = current
                .get("members")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let leaving: BTreeSet<&str> = batch
                .iter()
                .filter(|(c, _)| !c.add)
                .map(|(_, u)| u.as_str())
                .collect();
            members.retain(|m| {
                m.get("value")
                    .and_then(Value::as_str)
                    .is_none_or(|v| !leaving.contains(v))
            });
            members.extend(
                batch
                    .iter()
                    .filter(|(c, _)| c.add)
                    .map(|(_, user)| json!({"value": user})),
            );
            let body = map::merged(current, &json!({"members": members}), map::GROUP);
            (Method::Put, body)
        };
        let response = p.send(method, path, etag, Some(&body)).map_err(|e| {
            let reason = text(e);
            if reason.starts_with(LOST) {
                Refusal::Lost(reason)
            } else {
                Refusal::Stop(reason)
            }
        })?;
        if response.ok() {
            return Ok(());
        }
        let reason = match self.answered(method, path, &response) {
            Err(reason) => reason,
            Ok(()) => return Ok(()),
        };
        Err(match response.status {
            400 | 404 | 409 | 422 => Refusal::Member(reason),
            _ => Refusal::Stop(reason),
        })
    }
}

/// The ids of a group's members as read.
fn member_ids(group: &Value) -> Vec<String> {
    group
        .get("members")
        .and_then(Value::as_array)
        .map(|members| {
            members
                .iter()
                .filter_map(|m| m.get("value")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_skip_entries_without_a_value() {
        let group = json!({"members": [{"value": "a"}, {"display": "x"}, {"value": "b"}]});
        assert_eq!(member_ids(&group), ["a", "b"]);
        assert!(member_ids(&json!({})).is_empty());
    }
}

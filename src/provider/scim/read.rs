//! Reading the live org: pages of users, groups (with their members), roles and the org,
//! `parallelism` at a time, joined in page order.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{ScimError, ScimProvider, map};
use crate::live::LiveState;
use crate::provider::http::{HttpError, encode};

/// Page size asked for when listing (a server may answer with fewer per page: the pages
/// that follow are then asked at the size it answered).
const PAGE: usize = 1000;

impl ScimProvider {
    /// Every resource at `endpoint`, page after page until `totalResults` is reached.
    /// The first page gives the total and the server's page size; the pages after it are
    /// asked `parallelism` at a time and joined in page order, so the result does not
    /// depend on which answer came first. A page with nothing not seen before (a server
    /// that ignores `startIndex`) stops the read with an error instead of paging forever;
    /// a short page (the list changed while being read) sends the read on one page at a
    /// time from there.
    pub(super) fn list(&self, endpoint: &str, query: &str) -> Result<Vec<Value>, ScimError> {
        let sep = if query.is_empty() { "" } else { "&" };
        let page_at = |start: &usize| -> Result<Vec<Value>, ScimError> {
            let page = self.get(&format!(
                "{endpoint}?{query}{sep}startIndex={start}&count={PAGE}"
            ))?;
            Ok(resources(&page))
        };
        let first = self.get(&format!("{endpoint}?{query}{sep}startIndex=1&count={PAGE}"))?;
        let total = first.get("totalResults").and_then(Value::as_u64);
        let mut out = resources(&first);
        let size = out.len();
        let mut seen: BTreeSet<String> = out.iter().map(Value::to_string).collect();
        let mut start = 1 + size;
        let mut last = size;
        loop {
            let more = match total {
                Some(total) => (out.len() as u64) < total,
                // No `totalResults`: a full page may have a successor.
                None => last == PAGE,
            };
            if last == 0 || !more {
                return Ok(out);
            }
            // How many pages to ask at once: as many as remain, up to `parallelism`; one
            // at a time when the total is unknown or the pages came out uneven.
            let wave = match total {
                Some(total) if last == size => {
                    let left = usize::try_from(total).unwrap_or(usize::MAX) - out.len();
                    left.div_ceil(size).clamp(1, self.options.parallelism)
                }
                _ => 1,
            };
            let starts: Vec<usize> = (0..wave).map(|i| start + i * last).collect();
            let pages = crate::provider::backoff::bounded_map(&starts, wave, page_at);
            for page in pages {
                let items = page?;
                let got = items.len();
                let fresh = items
                    .iter()
                    .filter(|item| seen.insert(item.to_string()))
                    .count();
                if got > 0 && fresh == 0 {
                    return Err(ScimError::Shape {
                        base: self.client.base().to_owned(),
                        detail: format!(
                            "{endpoint} answered startIndex={start} with resources it had already listed: it ignores `startIndex`, so its list cannot be read to the end"
                        ),
                    });
                }
                out.extend(items);
                start += got;
                let short = got < last;
                last = got;
                if short {
                    break;
                }
            }
        }
    }

    /// The resources at `endpoint` whose `attribute` equals `value`.
    pub(super) fn find(
        &self,
        endpoint: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<Value>, ScimError> {
        if !self.found.filter {
            // Without filters, list everything and compare here.
            let all = self.list(endpoint, "")?;
            return Ok(all
                .into_iter()
                .filter(|r| {
                    r.get(attribute)
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.eq_ignore_ascii_case(value))
                })
                .collect());
        }
        let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
        let filter = encode(&format!("{attribute} eq \"{quoted}\""));
        self.list(endpoint, &format!("filter={filter}"))
    }

    pub(super) fn read_state(&self) -> Result<LiveState, ScimError> {
        let found = &self.found;
        let mut state = LiveState::default();
        let mut emails = BTreeMap::new();
        // Users, groups (with their members), roles and the org are independent lists:
        // all read at once, within the same `parallelism` slots.
        let none = || Ok(Vec::new());
        let (users, listed, roles, orgs) = std::thread::scope(|scope| {
            let groups = scope.spawn(|| self.list(&found.groups, ""));
            let roles =
                scope.spawn(|| found.roles.as_ref().map_or_else(none, |e| self.list(e, "")));
            let orgs = scope.spawn(|| found.org.as_ref().map_or_else(none, |e| self.list(e, "")));
            let users = self.list(&found.users, "");
            (users, joined(groups), joined(roles), joined(orgs))
        });
        let (users, listed, roles, orgs) = (users?, listed?, roles?, orgs?);
        for resource in users {
            if let Some((email, user)) = map::user_from_scim(&resource, found.user_ext) {
                if let Some(id) = &user.id {
                    emails.insert(id.clone(), email.clone());
                }
                state.users.insert(email, user);
            }
        }
        let members_by_id = self.group_members(&listed)?;
        for resource in &listed {
            let Some((name, mut group)) = map::group_from_scim(resource, found.group_ext) else {
                continue;
            };
            if let Some(id) = &group.id {
                group.members = members_by_id
                    .get(id)
                    .map(|members| {
                        members
                            .iter()
                            .filter_map(|m| emails.get(m.get("value")?.as_str()?).cloned())
                            .collect()
                    })
                    .unwrap_or_default();
            }
            state.groups.insert(name, group);
        }
        for resource in &roles {
            if let Some((name, role)) = map::role_from_scim(resource) {
                state.roles.insert(name, role);
            }
        }
        if let Some(endpoint) = &found.org {
            if orgs.len() > 1 {
                return Err(ScimError::Shape {
                    base: self.client.base().to_owned(),
                    detail: format!(
                        "{} holds {} org resources, expected at most one",
                        endpoint,
                        orgs.len()
                    ),
                });
            }
            state.org = orgs.first().and_then(map::org_from_scim);
        }
        Ok(state.normalized())
    }

    /// The `members` of each listed group, by id, with as few requests as the server
    /// allows. Most servers list groups with their members: then nothing more is asked (a
    /// group listed without `members` has none, RFC 7643 omits empty attributes). When no
    /// listed group has any, the server may leave them out of lists by default, so they
    /// are asked for by name (`attributes=members`); a server that still lists none is
    /// asked for each group on its own, `parallelism` at a time.
    pub(super) fn group_members(
        &self,
        listed: &[Value],
    ) -> Result<BTreeMap<String, Vec<Value>>, ScimError> {
        let members_of = |resources: &[Value]| -> BTreeMap<String, Vec<Value>> {
            resources
                .iter()
                .filter_map(|r| {
                    let id = r.get("id")?.as_str()?.to_owned();
                    let members = r.get("members")?.as_array()?.clone();
                    Some((id, members))
                })
                .collect()
        };
        let ids: Vec<String> = listed
            .iter()
            .filter_map(|r| r.get("id")?.as_str().map(str::to_owned))
            .collect();
        let found = members_of(listed);
        if !found.is_empty() || ids.is_empty() {
            return Ok(found);
        }
        let asked = members_of(&self.list(&self.found.groups, "attributes=members")?);
        if !asked.is_empty() {
            return Ok(asked);
        }
        let groups = &self.found.groups;
        let read = crate::provider::backoff::bounded_map(&ids, self.options.parallelism, |id| {
            let full = self.get(&format!("{groups}/{id}"))?;
            let members = full
                .get("members")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Ok::<_, ScimError>((id.clone(), members))
        });
        read.into_iter().collect()
    }
}

/// The result of a scoped thread; a thread that panicked reads as a lost answer.
pub(super) fn joined<T>(
    handle: std::thread::ScopedJoinHandle<'_, Result<T, ScimError>>,
) -> Result<T, ScimError> {
    handle.join().unwrap_or_else(|_| {
        Err(ScimError::Http(HttpError::Body(
            "a reader thread stopped before its answer was read".to_owned(),
        )))
    })
}

/// The `Resources` of a list response.
fn resources(page: &Value) -> Vec<Value> {
    page.get("Resources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

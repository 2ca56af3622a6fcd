//! Reading the org: every list the read needs, page by page, and the answers decoded into
//! the live state and what the plan and apply need besides ([`Meta`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::map::granted;
use super::{AnthropicError, AnthropicProvider, GROUPS_PAGE, Meta, ROLES_PAGE};
use crate::live::{LiveGroup, LiveOrg, LiveRole, LiveState, LiveStatus, LiveUser};
use crate::model::{Amount, Capability, Metric, Period, Plan as OrgPlan};
use crate::provider::http::Method;
use crate::provider::http::encode;

/// Items per page asked for (the API allows up to 1000; servers may return fewer).
// CHOICE: 1,000 for every list: the users and invites references document `limit` from 1
// to 1000; the RBAC and spend-limit lists are asked the same, a server that allows fewer
// answers shorter pages and the cursors carry on.
const PAGE_SIZE: u32 = 1000;

impl AnthropicProvider {
    /// Read the org through the Admin API.
    pub(super) fn fetch(&self) -> Result<(LiveState, Meta), AnthropicError> {
        let get = |url: &str| self.call(Method::Get, url, None);
        fetch(
            &mut |url| get(url),
            &mut |wanted| {
                crate::provider::backoff::bounded_map(wanted, self.parallelism, |(path, paging)| {
                    list(&mut |url| get(url), path, *paging)
                })
            },
            // One reader reads each top-level list when it comes to it, as `read_with`.
            self.parallelism > 1,
        )
    }
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
    fetch(
        &mut |url| once(url),
        &mut |wanted| {
            wanted
                .iter()
                .map(|(path, paging)| list(&mut |url| once(url), path, *paging))
                .collect()
        },
        false,
    )
    .map(|(state, _)| state)
}

/// Every item of each list of `wanted` (path and paging), in the order of `wanted`
/// (however many are read at once).
type Lists<'a> = dyn FnMut(&[(String, Paging)]) -> Vec<Result<Vec<Value>, AnthropicError>> + 'a;

/// What answers a `GET`: the JSON body of a 2xx answer, or why there is none.
pub type Get<'a> = dyn FnMut(&str) -> Result<Value, AnthropicError> + 'a;

/// How a list names its next page. Every list is read by the one loop of [`list`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Paging {
    /// Not a list: one object (`/me`), asked once without `limit`, is the one item.
    Single,
    /// Id cursors: `after_id` ← `last_id` while `has_more` (users, invites).
    AfterId,
    /// Opaque cursors: `page` ← `next_page` until there is none (RBAC, spend limits).
    Page,
}

impl Paging {
    /// The query parameter that names the next page.
    fn param(self) -> &'static str {
        match self {
            Paging::Single => "",
            Paging::AfterId => "after_id",
            Paging::Page => "page",
        }
    }

    /// The cursor of the page after `page`: `None` on the last page, `Some(None)` when the
    /// page announces more without naming them.
    fn next(self, page: &Value) -> Option<Option<String>> {
        match self {
            Paging::Single => None,
            Paging::AfterId => {
                (page.get("has_more").and_then(Value::as_bool) == Some(true)).then(|| {
                    page.get("last_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
            }
            Paging::Page => page
                .get("next_page")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(|t| Some(t.to_owned())),
        }
    }

    /// What is wrong with a page that names no new cursor for the next one.
    fn stuck(self) -> &'static str {
        match self {
            Paging::Single => "",
            Paging::AfterId => "`has_more` without a new `last_id`",
            Paging::Page => "the same `next_page` twice",
        }
    }
}

/// Every item of the list at `path`, page by page, `paging` naming the next page.
pub(super) fn list(
    get: &mut Get<'_>,
    path: &str,
    paging: Paging,
) -> Result<Vec<Value>, AnthropicError> {
    if paging == Paging::Single {
        return Ok(vec![get(path)?]);
    }
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    // Every cursor seen: a server that cycles back would otherwise page forever.
    let mut seen = BTreeSet::new();
    loop {
        let mut url = format!("{path}?limit={PAGE_SIZE}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&{}={}", paging.param(), encode(c)));
        }
        let page = get(&url)?;
        items.extend(data(&page, path)?);
        let Some(next) = paging.next(&page) else {
            return Ok(items);
        };
        match next {
            Some(c) if seen.insert(c.clone()) => cursor = Some(c),
            _ => return Err(shape(path, paging.stuck())),
        }
    }
}

/// The first requests of a read, none of which needs another's answer: the organization
/// and the top-level lists, in the order the read decodes them.
const TOP: [(&str, Paging); 6] = [
    ("/v1/organizations/me", Paging::Single),
    ("/v1/organizations/users", Paging::AfterId),
    ("/v1/organizations/invites", Paging::AfterId),
    ("/v1/organizations/rbac_roles", Paging::Page),
    ("/v1/organizations/rbac_groups", Paging::Page),
    ("/v1/organizations/spend_limits", Paging::Page),
];
const ME: usize = 0;
const USERS: usize = 1;
const INVITES: usize = 2;
const ROLES: usize = 3;
const GROUPS: usize = 4;
const SPEND: usize = 5;

/// The answers to [`TOP`]: read all at once up front by a parallel reader; by a sequential
/// one each when the read comes to it, so that its requests keep the order of one request
/// after the other (the order the fuzz target's inputs answer).
struct Top(Vec<Option<Result<Vec<Value>, AnthropicError>>>);

impl Top {
    fn read(lists: &mut Lists<'_>, ahead: bool) -> Top {
        if !ahead {
            return Top(Vec::new());
        }
        let wanted: Vec<(String, Paging)> = TOP
            .iter()
            .map(|(path, paging)| ((*path).to_owned(), *paging))
            .collect();
        Top(lists(&wanted).into_iter().map(Some).collect())
    }

    /// The answer to `TOP[index]`: the one read ahead, else read now. Each is taken once.
    fn take(&mut self, get: &mut Get<'_>, index: usize) -> Result<Vec<Value>, AnthropicError> {
        match self.0.get_mut(index).and_then(Option::take) {
            Some(read) => read,
            None => list(get, TOP[index].0, TOP[index].1),
        }
    }
}

/// Read the org: the live state and what the plan and apply need besides.
///
/// With `ahead` (a parallel reader), the organization and the top-level lists ([`TOP`])
/// are read at once first; then the per-role permission lists, then the per-group member
/// lists, each `parallelism` at a time. Answers are decoded in one fixed order, the order
/// of one request after the other, so what is read (and which error is reported first) is
/// the same however many are read at once.
fn fetch(
    get: &mut Get<'_>,
    lists: &mut Lists<'_>,
    ahead: bool,
) -> Result<(LiveState, Meta), AnthropicError> {
    let mut meta = Meta::default();
    let mut state = LiveState::default();
    let mut top = Top::read(lists, ahead);

    let me = top.take(get, ME)?.pop().unwrap_or_default();
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
    for user in top.take(get, USERS)? {
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
    for invite in top.take(get, INVITES)? {
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
    for role in top.take(get, ROLES)? {
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
    let paths: Vec<(String, Paging)> = custom
        .iter()
        .map(|(id, _)| {
            let path = format!("/v1/organizations/rbac_roles/{id}/permissions");
            (path, Paging::Page)
        })
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
    for group in top.take(get, GROUPS)? {
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
    let paths: Vec<(String, Paging)> = groups
        .iter()
        .map(|(id, ..)| {
            let path = format!("/v1/organizations/rbac_groups/{id}/members");
            (path, Paging::Page)
        })
        .collect();
    let listed = lists(&paths);
    for (((id, name, roles, scim), listed), (members_path, _)) in
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
    for limit in top.take(get, SPEND)? {
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

pub(super) fn shape(path: &str, detail: &str) -> AnthropicError {
    AnthropicError::Shape {
        path: path.to_owned(),
        detail: detail.to_owned(),
    }
}

pub(super) fn data(page: &Value, path: &str) -> Result<Vec<Value>, AnthropicError> {
    page.get("data")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| shape(path, "no `data` list"))
}

pub(super) fn text(item: &Value, key: &str, path: &str) -> Result<String, AnthropicError> {
    item.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| shape(path, &format!("an item without `{key}`")))
}

pub(super) fn strings(item: &Value, key: &str) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::provider::backoff::bounded_map;
    use serde_json::json;

    /// A small org answering by URL: two pages of users, an invite into a group, a custom
    /// role, a group granting it, a spend limit.
    fn org() -> BTreeMap<String, Value> {
        let o = "/v1/organizations";
        [
            ("me".to_owned(), json!({"name": "Acme"})),
            (
                "users?limit=1000".to_owned(),
                json!({"data": [{"id": "u1", "email": "Ada@x.com", "role": "user"}],
                       "has_more": true, "last_id": "u1"}),
            ),
            (
                "users?limit=1000&after_id=u1".to_owned(),
                json!({"data": [{"id": "u2", "email": "bob@x.com", "role": "managed"}],
                       "has_more": false}),
            ),
            (
                "invites?limit=1000".to_owned(),
                json!({"data": [{"id": "i1", "email": "cy@x.com", "role": "user",
                        "status": "pending", "rbac_group_ids": ["g1"]}], "has_more": false}),
            ),
            (
                "rbac_roles?limit=1000".to_owned(),
                json!({"data": [{"id": "r1", "display_name": "dev", "source": {"type": "custom"}}]}),
            ),
            (
                "rbac_roles/r1/permissions?limit=1000".to_owned(),
                json!({"data": [{"action": "chat", "resource": {"type": "organization"}}]}),
            ),
            (
                "rbac_groups?limit=1000".to_owned(),
                json!({"data": [{"id": "g1", "name": "eng", "role_ids": ["r1"]}]}),
            ),
            (
                "rbac_groups/g1/members?limit=1000".to_owned(),
                json!({"data": [{"user_id": "u2", "email": "bob@x.com"}]}),
            ),
            (
                "spend_limits?limit=1000".to_owned(),
                json!({"data": [{"id": "s1", "period": "monthly", "amount": "500",
                        "scope": {"type": "user", "user_id": "u1"}}]}),
            ),
        ]
        .into_iter()
        .map(|(url, body)| (format!("{o}/{url}"), body))
        .collect()
    }

    /// The read of `answers` by one reader (`read_with`) and by four reading ahead, each
    /// with the URLs it asked, in the order asked.
    #[allow(clippy::type_complexity)]
    fn both(
        answers: &BTreeMap<String, Value>,
    ) -> (
        (Result<LiveState, String>, Vec<String>),
        (Result<LiveState, String>, Vec<String>),
    ) {
        let asked = Mutex::new(Vec::new());
        let get = |url: &str| {
            asked.lock().unwrap().push(url.to_owned());
            answers
                .get(url)
                .cloned()
                .ok_or_else(|| shape(url, "not in this org"))
        };
        let one = read_with(&mut |url| get(url)).map_err(|e| e.to_string());
        let one_asked = std::mem::take(&mut *asked.lock().unwrap());
        let ahead = fetch(
            &mut |url| get(url),
            &mut |wanted| {
                bounded_map(wanted, 4, |(path, paging)| {
                    list(&mut |url| get(url), path, *paging)
                })
            },
            true,
        )
        .map(|(state, _)| state)
        .map_err(|e| e.to_string());
        let ahead_asked = std::mem::take(&mut *asked.lock().unwrap());
        ((one, one_asked), (ahead, ahead_asked))
    }

    #[test]
    fn reading_the_top_level_lists_ahead_gives_the_one_reader_state_and_reads_nothing_twice() {
        let ((one, one_asked), (ahead, ahead_asked)) = both(&org());
        let one = one.unwrap();
        assert_eq!(one.users.len(), 3);
        assert_eq!(one.groups["eng"].members, ["bob@x.com", "cy@x.com"]);
        assert_eq!(ahead.unwrap(), one);
        // One reader asks in the order it decodes (the fuzz target's inputs rely on it).
        let tail = |url: &String| url.trim_start_matches("/v1/organizations/").to_owned();
        assert_eq!(
            one_asked.iter().map(tail).collect::<Vec<_>>(),
            [
                "me",
                "users?limit=1000",
                "users?limit=1000&after_id=u1",
                "invites?limit=1000",
                "rbac_roles?limit=1000",
                "rbac_roles/r1/permissions?limit=1000",
                "rbac_groups?limit=1000",
                "rbac_groups/g1/members?limit=1000",
                "spend_limits?limit=1000",
            ]
        );
        // Reading ahead: the same requests, each once, every top-level one before the
        // lists that depend on them.
        let mut sorted = ahead_asked.clone();
        sorted.sort();
        sorted.dedup();
        let mut expected = one_asked.clone();
        expected.sort();
        assert_eq!(sorted, expected);
        assert_eq!(ahead_asked.len(), one_asked.len());
        let last_top = ahead_asked
            .iter()
            .rposition(|u| !u.contains("s/r1/") && !u.contains("s/g1/"));
        let first_nested = ahead_asked
            .iter()
            .position(|u| u.contains("s/r1/") || u.contains("s/g1/"));
        assert!(last_top < first_nested, "{ahead_asked:?}");
    }

    #[test]
    fn reading_ahead_reports_the_error_one_reader_reports_first() {
        // The permissions and the group list both fail: one reader meets the permissions
        // first, and so must a read that asked for the group list before them.
        let mut answers = org();
        answers.remove("/v1/organizations/rbac_roles/r1/permissions?limit=1000");
        answers.remove("/v1/organizations/rbac_groups?limit=1000");
        let ((one, _), (ahead, _)) = both(&answers);
        let one = one.err().unwrap();
        assert!(one.contains("/permissions"), "{one}");
        assert_eq!(ahead.err().unwrap(), one);
    }

    /// The URLs `list` asks for when the pages are `pages` in turn.
    fn asked(paging: Paging, pages: &[Value]) -> (Result<usize, String>, Vec<String>) {
        let mut urls = Vec::new();
        let mut pages = pages.iter();
        let read = list(
            &mut |url| {
                urls.push(url.to_owned());
                Ok(pages.next().cloned().unwrap_or(json!({"data": []})))
            },
            "/v1/x",
            paging,
        );
        (
            read.map(|items| items.len()).map_err(|e| e.to_string()),
            urls,
        )
    }

    #[test]
    fn one_loop_pages_by_id_and_by_token_and_refuses_a_cursor_seen_before() {
        let by_id = [
            json!({"data": [1, 2], "has_more": true, "last_id": "u+2"}),
            json!({"data": [3], "has_more": false, "last_id": "u3"}),
        ];
        assert_eq!(
            asked(Paging::AfterId, &by_id),
            (
                Ok(3),
                vec![
                    "/v1/x?limit=1000".to_owned(),
                    "/v1/x?limit=1000&after_id=u%2B2".to_owned()
                ]
            )
        );
        let by_page = [
            json!({"data": [1], "next_page": "p/2"}),
            json!({"data": [2], "next_page": ""}),
        ];
        assert_eq!(
            asked(Paging::Page, &by_page),
            (
                Ok(2),
                vec![
                    "/v1/x?limit=1000".to_owned(),
                    "/v1/x?limit=1000&page=p%2F2".to_owned()
                ]
            )
        );
        let cycle = [
            json!({"data": [], "next_page": "a"}),
            json!({"data": [], "next_page": "a"}),
        ];
        let (read, urls) = asked(Paging::Page, &cycle);
        assert!(read.is_err_and(|e| e.contains("the same `next_page` twice")));
        assert_eq!(urls.len(), 2);
        let nameless = [json!({"data": [], "has_more": true})];
        let (read, urls) = asked(Paging::AfterId, &nameless);
        assert!(read.is_err_and(|e| e.contains("`has_more` without a new `last_id`")));
        assert_eq!(urls.len(), 1);
    }
}

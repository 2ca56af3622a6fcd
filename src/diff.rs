//! Pure: (policy, live state, provider capabilities) -> the operations that make the live
//! org match the policy (docs/plan.md). No I/O, no clock, no environment.
//!
//! Comparison is field-level on the JSON form of both sides (see [`crate::live`]): nested
//! objects are walked down to their leaves (`seats.premium`, `limits.spend_usd.monthly`),
//! lists are compared whole (they are sorted sets after normalization).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::live::{self, LiveGroup, LiveRole, LiveState, LiveStatus, LiveUser};
use crate::model::{OrgRole, Policy, Seat, Section, UnmanagedUsers};

/// Kinds of operation, declared in execution order (the derived `Ord` is that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OpKind {
    /// Change org settings (also the first setup of a new org).
    #[serde(rename = "org.update")]
    OrgUpdate,
    /// Create a custom role.
    #[serde(rename = "role.create")]
    RoleCreate,
    /// Change a custom role.
    #[serde(rename = "role.update")]
    RoleUpdate,
    /// Create a group (members are separate `group.add_member` operations).
    #[serde(rename = "group.create")]
    GroupCreate,
    /// Change a group's description, roles or limits.
    #[serde(rename = "group.update")]
    GroupUpdate,
    /// Invite a user (memberships are separate `group.add_member` operations).
    #[serde(rename = "user.invite")]
    UserInvite,
    /// Change a user's name, role, seat or limits.
    #[serde(rename = "user.update")]
    UserUpdate,
    /// Reactivate a suspended user.
    #[serde(rename = "user.reactivate")]
    UserReactivate,
    /// Add a user to a group.
    #[serde(rename = "group.add_member")]
    GroupAddMember,
    /// Take a user out of a group.
    #[serde(rename = "group.remove_member")]
    GroupRemoveMember,
    /// Suspend a user: the account and its seat are kept.
    #[serde(rename = "user.suspend")]
    UserSuspend,
    /// Remove a user: frees the seat and leaves every group.
    #[serde(rename = "user.remove")]
    UserRemove,
    /// Delete a group, and with it every membership of the group.
    #[serde(rename = "group.delete")]
    GroupDelete,
    /// Delete a custom role.
    #[serde(rename = "role.delete")]
    RoleDelete,
}

/// Whether an operation adds, changes or removes, for the plan summary and the `+ ~ -`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Create, invite, add a member.
    Add,
    /// Update, reactivate, suspend.
    Change,
    /// Remove, delete, remove a member.
    Remove,
}

impl OpKind {
    /// Every kind, in execution order.
    pub const ALL: [OpKind; 14] = [
        OpKind::OrgUpdate,
        OpKind::RoleCreate,
        OpKind::RoleUpdate,
        OpKind::GroupCreate,
        OpKind::GroupUpdate,
        OpKind::UserInvite,
        OpKind::UserUpdate,
        OpKind::UserReactivate,
        OpKind::GroupAddMember,
        OpKind::GroupRemoveMember,
        OpKind::UserSuspend,
        OpKind::UserRemove,
        OpKind::GroupDelete,
        OpKind::RoleDelete,
    ];

    /// The op name, as docs/plan.md lists it.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::OrgUpdate => "org.update",
            OpKind::RoleCreate => "role.create",
            OpKind::RoleUpdate => "role.update",
            OpKind::GroupCreate => "group.create",
            OpKind::GroupUpdate => "group.update",
            OpKind::UserInvite => "user.invite",
            OpKind::UserUpdate => "user.update",
            OpKind::UserReactivate => "user.reactivate",
            OpKind::GroupAddMember => "group.add_member",
            OpKind::GroupRemoveMember => "group.remove_member",
            OpKind::UserSuspend => "user.suspend",
            OpKind::UserRemove => "user.remove",
            OpKind::GroupDelete => "group.delete",
            OpKind::RoleDelete => "role.delete",
        }
    }

    /// Add, change or remove.
    pub fn effect(self) -> Effect {
        match self {
            OpKind::RoleCreate
            | OpKind::GroupCreate
            | OpKind::UserInvite
            | OpKind::GroupAddMember => Effect::Add,
            OpKind::OrgUpdate
            | OpKind::RoleUpdate
            | OpKind::GroupUpdate
            | OpKind::UserUpdate
            | OpKind::UserReactivate
            | OpKind::UserSuspend => Effect::Change,
            OpKind::GroupRemoveMember
            | OpKind::UserRemove
            | OpKind::GroupDelete
            | OpKind::RoleDelete => Effect::Remove,
        }
    }
}

/// One field that an operation sets: `null` stands for "absent".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Dotted path inside the target: `seat`, `limits.spend_usd.monthly`.
    pub field: String,
    /// The live value (`null` when absent or when the target is created).
    pub before: Value,
    /// The value asked for (`null` when removed).
    pub after: Value,
}

/// Who carries an operation out. In JSON, as docs/plan.md words it, two fields of the
/// operation: `"execution": "provider"`, or `"execution": "manual"` with `"instruction"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "execution", rename_all = "snake_case")]
pub enum Execution {
    /// The provider does it.
    Provider,
    /// The provider cannot: an admin does it by hand.
    Manual {
        /// What to do in the admin console.
        instruction: String,
    },
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// The kind.
    pub op: OpKind,
    /// Email, group or role name, or `org`; the group for membership operations.
    pub target: String,
    /// The user's email, for `group.add_member` / `group.remove_member` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Fields set: every field for a creation, the live values for a removal.
    pub changes: Vec<Change>,
    /// `file:line` of the policy that asked for it; absent for removals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Provider or manual.
    #[serde(flatten)]
    pub execution: Execution,
}

/// An operation in one line, the one way every report, error and plan names it: `op
/// target`, then the member of a membership operation (`group.add_member sales
/// bob@acme.com`), as apply reports and errors list them. The alternate form (`{:#}`),
/// which plans print, shows the membership's direction: `group.add_member sales <-
/// bob@acme.com`, `group.remove_member sales -> bob@acme.com`.
impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.target)?;
        if let Some(member) = &self.member {
            if f.alternate() {
                let arrow = if self.op == OpKind::GroupAddMember {
                    "<-"
                } else {
                    "->"
                };
                write!(f, " {arrow} {member}")?;
            } else {
                write!(f, " {member}")?;
            }
        }
        Ok(())
    }
}

/// A live user that the policy does not declare, kept because `unmanaged_users: keep`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmanaged {
    /// Email.
    pub email: String,
    /// Org role.
    pub role: OrgRole,
    /// Seat tier.
    pub seat: Seat,
    /// Live status.
    pub status: LiveStatus,
}

/// What [`diff`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// Operations in execution order, sorted by target (then member) within a kind.
    pub operations: Vec<Operation>,
    /// Live users not declared and kept.
    pub unmanaged: Vec<Unmanaged>,
    /// What the provider cannot read, so was not compared.
    pub unverifiable: Vec<String>,
}

/// Compare the policy with the live state.
pub fn diff(policy: &Policy, live: &LiveState, caps: &Capabilities) -> Diff {
    let (desired, members) = live::project_settings_apart(policy);
    diff_projected(policy, &desired, &members, &live.as_normalized(), caps)
}

/// [`diff`] with the policy's settings already projected (`desired` and `members` are
/// [`live::project_settings_apart`] of `policy`; the users and group members of
/// `desired`, if any, are not read: each declared user is projected in turn) and a live
/// state already normalized ([`LiveState::is_normalized`]), for a caller that needs both
/// anyway.
pub(crate) fn diff_projected(
    policy: &Policy,
    desired: &LiveState,
    members: &live::Members<'_>,
    live: &LiveState,
    caps: &Capabilities,
) -> Diff {
    // The group members are walked on a second core while the users are: two walks of
    // every membership and every user that need nothing of each other.
    let (mut out, unmanaged) = std::thread::scope(|scope| {
        let memberships = scope.spawn(|| membership_ops(policy, desired, members, live, caps));
        let (mut out, unmanaged) = settings_and_user_ops(policy, desired, live, caps);
        let memberships = memberships
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        out.extend(memberships);
        (out, unmanaged)
    });
    for op in &mut out {
        if !caps.applies.contains(&op.op) {
            op.execution = Execution::Manual {
                instruction: instruction(op),
            };
        }
    }
    out.sort_by(|a, b| (a.op, &a.target, &a.member).cmp(&(b.op, &b.target, &b.member)));
    let mut unverifiable = caps.unreadable.clone();
    unverifiable.sort();
    unverifiable.dedup();
    Diff {
        operations: out,
        unmanaged,
        unverifiable,
    }
}

/// An operation for the provider to carry out.
fn operation(
    op: OpKind,
    target: &str,
    member: Option<&str>,
    changes: Vec<Change>,
    source: Option<String>,
) -> Operation {
    Operation {
        op,
        target: target.to_owned(),
        member: member.map(str::to_owned),
        changes,
        source,
        execution: Execution::Provider,
    }
}

/// The operations of [`diff_projected`] on the org, roles, groups and users (all but the
/// memberships), and the live users kept unmanaged.
fn settings_and_user_ops(
    policy: &Policy,
    desired: &LiveState,
    live: &LiveState,
    caps: &Capabilities,
) -> (Vec<Operation>, Vec<Unmanaged>) {
    let mut out = Vec::new();
    let mut push = |op: OpKind,
                    target: &str,
                    member: Option<&str>,
                    changes: Vec<Change>,
                    source: Option<String>| {
        out.push(operation(op, target, member, changes, source));
    };
    let origins = &policy.origins;

    // Org: there is no org.create; setting up a new org is an update from nothing.
    let org_changes = changes(
        "org",
        &to_value(&live.org),
        &to_value(&desired.org),
        &[],
        caps,
    );
    if !org_changes.is_empty() {
        let source = if live.org.is_none() {
            origins
                .locate_key(Section::Org, "", &[])
                .map(|l| l.file_line())
        } else {
            field_source(policy, Section::Org, "", &org_changes)
        };
        push(OpKind::OrgUpdate, "org", None, org_changes, source);
    }

    if !caps.cannot_read("roles") {
        for (name, role) in &desired.roles {
            match live.roles.get(name) {
                None => {
                    let set = changes("roles", &Value::Null, &to_value(role), &["id"], caps);
                    let source = key_source(policy, Section::Roles, name);
                    push(OpKind::RoleCreate, name, None, set, source);
                }
                Some(current) if same_role(current, role) => {}
                Some(current) => {
                    let set = changes("roles", &to_value(current), &to_value(role), &["id"], caps);
                    if !set.is_empty() {
                        let source = field_source(policy, Section::Roles, name, &set);
                        push(OpKind::RoleUpdate, name, None, set, source);
                    }
                }
            }
        }
        for (name, role) in &live.roles {
            if !desired.roles.contains_key(name) {
                let set = changes("roles", &to_value(role), &Value::Null, &["id"], caps);
                push(OpKind::RoleDelete, name, None, set, None);
            }
        }
    }

    // Members are not group fields here: each membership is its own operation.
    let group_skip = ["id", "members"];
    if !caps.cannot_read("groups") {
        for (name, group) in &desired.groups {
            match live.groups.get(name) {
                None => {
                    let after = to_value(group);
                    let set = changes("groups", &Value::Null, &after, &group_skip, caps);
                    let source = key_source(policy, Section::Groups, name);
                    push(OpKind::GroupCreate, name, None, set, source);
                }
                Some(current) if same_group(current, group) => {}
                Some(current) => {
                    let (before, after) = (to_value(current), to_value(group));
                    let set = changes("groups", &before, &after, &group_skip, caps);
                    if !set.is_empty() {
                        let source = field_source(policy, Section::Groups, name, &set);
                        push(OpKind::GroupUpdate, name, None, set, source);
                    }
                }
            }
        }
        for (name, group) in &live.groups {
            if !desired.groups.contains_key(name) {
                let set = changes("groups", &to_value(group), &Value::Null, &group_skip, caps);
                push(OpKind::GroupDelete, name, None, set, None);
            }
        }
    }

    // Status has its own operations (reactivate, suspend); a pending invite is left alone.
    let user_skip = ["id", "status"];
    let mut unmanaged = Vec::new();
    // Both maps are sorted by email: one merged walk instead of a lookup per user.
    let mut live_users = live.users.iter().peekable();
    let mut undeclared = Vec::new();
    for (email, user) in &policy.users {
        let user = &live::project_user(user);
        while let Some(other) = live_users.next_if(|(other, _)| *other < email) {
            undeclared.push(other);
        }
        match live_users
            .next_if(|(other, _)| *other == email)
            .map(|(_, u)| u)
        {
            None => {
                // A user declared suspended is created suspended: the invite says so,
                // rather than inviting (and granting access) then suspending.
                let skip: &[&str] = if user.status == LiveStatus::Suspended {
                    &["id"]
                } else {
                    &user_skip
                };
                let set = changes("users", &Value::Null, &to_value(user), skip, caps);
                let source = key_source(policy, Section::Users, email);
                push(OpKind::UserInvite, email, None, set, source);
            }
            Some(current) => {
                let set = if same_user(current, user) {
                    Vec::new()
                } else {
                    let (before, after) = (to_value(current), to_value(user));
                    changes("users", &before, &after, &user_skip, caps)
                };
                if !set.is_empty() {
                    let source = field_source(policy, Section::Users, email, &set);
                    push(OpKind::UserUpdate, email, None, set, source);
                }
                let status = match (current.status, user.status) {
                    (LiveStatus::Suspended, LiveStatus::Active) => Some(OpKind::UserReactivate),
                    (LiveStatus::Active | LiveStatus::Invited, LiveStatus::Suspended) => {
                        Some(OpKind::UserSuspend)
                    }
                    _ => None,
                };
                if let Some(kind) = status
                    && !caps.cannot_read("users.status")
                {
                    let set = vec![Change {
                        field: "status".into(),
                        before: current.status.as_str().into(),
                        after: user.status.as_str().into(),
                    }];
                    let source = policy.origins.source(Section::Users, email, &["status"]);
                    push(kind, email, None, set, source);
                }
            }
        }
    }
    undeclared.extend(live_users);
    for (email, user) in undeclared {
        match policy.org.unmanaged_users {
            UnmanagedUsers::Keep => unmanaged.push(Unmanaged {
                email: email.clone(),
                role: user.role,
                seat: user.seat,
                status: user.status,
            }),
            UnmanagedUsers::Remove => {
                let set = changes("users", &to_value(user), &Value::Null, &["id"], caps);
                push(OpKind::UserRemove, email, None, set, None);
            }
        }
    }
    (out, unmanaged)
}

/// The memberships [`diff_projected`] adds and removes.
fn membership_ops(
    policy: &Policy,
    desired: &LiveState,
    members: &live::Members<'_>,
    live: &LiveState,
    caps: &Capabilities,
) -> Vec<Operation> {
    let mut out = Vec::new();
    if !caps.cannot_read("groups") && !caps.cannot_read("groups.members") {
        for name in desired.groups.keys() {
            // Both lists are sorted and unique (the projection's and a normalized live
            // state's): one merged walk finds what each lacks, in email order.
            let wanted = members.get(name.as_str()).map_or(&[][..], Vec::as_slice);
            let current = live
                .groups
                .get(name)
                .map_or(&[][..], |g| g.members.as_slice());
            let (mut adds, mut leaves) = (Vec::new(), Vec::new());
            let (mut w, mut c) = (wanted.iter().peekable(), current.iter().peekable());
            loop {
                match (w.peek(), c.peek()) {
                    (Some(a), Some(b)) => match (**a).cmp(b.as_str()) {
                        std::cmp::Ordering::Less => adds.extend(w.next()),
                        std::cmp::Ordering::Greater => leaves.extend(c.next()),
                        std::cmp::Ordering::Equal => {
                            w.next();
                            c.next();
                        }
                    },
                    (Some(_), None) => adds.extend(w.next()),
                    (None, Some(_)) => leaves.extend(c.next()),
                    (None, None) => break,
                }
            }
            for member in adds {
                let source = membership_source(policy, name, member);
                let add = OpKind::GroupAddMember;
                out.push(operation(add, name, Some(member), Vec::new(), source));
            }
            // A deleted group takes its memberships with it, and a live user the policy
            // does not declare is either removed (and leaves every group) or kept unmanaged
            // (and their memberships are not ours to change).
            for member in leaves {
                let email = member.as_str();
                if live.users.contains_key(email) && !policy.users.contains_key(email) {
                    continue;
                }
                let remove = OpKind::GroupRemoveMember;
                out.push(operation(remove, name, Some(email), Vec::new(), None));
            }
        }
    }
    out
}

// Equal on every field that `changes` compares (all but the skipped `id`, `members`,
// `status`) means no change, whatever the provider can read: the common case, found
// without building JSON for both sides. Destructured so that a new field is not missed.
fn same_role(live: &LiveRole, wanted: &LiveRole) -> bool {
    let LiveRole {
        id: _,
        description,
        capabilities,
        models,
        limits,
    } = live;
    *description == wanted.description
        && *capabilities == wanted.capabilities
        && *models == wanted.models
        && *limits == wanted.limits
}

fn same_group(live: &LiveGroup, wanted: &LiveGroup) -> bool {
    let LiveGroup {
        id: _,
        members: _,
        description,
        roles,
        limits,
    } = live;
    *description == wanted.description && *roles == wanted.roles && *limits == wanted.limits
}

fn same_user(live: &LiveUser, wanted: &LiveUser) -> bool {
    let LiveUser {
        id: _,
        status: _,
        name,
        role,
        seat,
        limits,
    } = live;
    *name == wanted.name && *role == wanted.role && *seat == wanted.seat && *limits == wanted.limits
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Leaves of `value` as (dotted path, value); lists are leaves, empty objects vanish.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, out);
            }
        }
        Value::Null => {}
        leaf => out.push((prefix.to_owned(), leaf.clone())),
    }
}

/// Field-level differences between two JSON objects of one `section`, leaving out the
/// top-level fields in `skip` and the fields the provider cannot read.
fn changes(
    section: &str,
    before: &Value,
    after: &Value,
    skip: &[&str],
    caps: &Capabilities,
) -> Vec<Change> {
    let keep = |field: &str| {
        let top = field.split('.').next().unwrap_or_default();
        !skip.contains(&top) && !caps.cannot_read(&format!("{section}.{field}"))
    };
    let (mut old, mut new) = (Vec::new(), Vec::new());
    flatten("", before, &mut old);
    flatten("", after, &mut new);
    let old: Vec<(String, Value)> = old.into_iter().filter(|(f, _)| keep(f)).collect();
    let before_of: BTreeMap<&str, &Value> = old.iter().map(|(f, v)| (f.as_str(), v)).collect();
    let mut out: Vec<Change> = Vec::new();
    for (field, value) in new.into_iter().filter(|(f, _)| keep(f)) {
        let previous = before_of
            .get(field.as_str())
            .map_or(Value::Null, |v| (*v).clone());
        if previous != value {
            out.push(Change {
                field,
                before: previous,
                after: value,
            });
        }
    }
    // Fields that only the live side has, in their own order.
    for (field, value) in old {
        if !out.iter().any(|c| c.field == field) && lookup(after, &field).is_none() {
            out.push(Change {
                field,
                before: value,
                after: Value::Null,
            });
        }
    }
    out
}

fn lookup<'a>(value: &'a Value, field: &str) -> Option<&'a Value> {
    field
        .split('.')
        .try_fold(value, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

fn key_source(policy: &Policy, section: Section, name: &str) -> Option<String> {
    policy
        .origins
        .locate_key(section, name, &[])
        .map(|l| l.file_line())
}

/// Where the first changed field is declared (or its nearest declared ancestor).
fn field_source(policy: &Policy, section: Section, name: &str, set: &[Change]) -> Option<String> {
    let field = set.first().map(|c| c.field.as_str()).unwrap_or_default();
    let path: Vec<&str> = field.split('.').filter(|s| !s.is_empty()).collect();
    policy.origins.source(section, name, &path)
}

/// A membership is declared on the user (`groups`) or on the group (`members`).
fn membership_source(policy: &Policy, group: &str, email: &str) -> Option<String> {
    let on_user = policy
        .users
        .get(email)
        .and_then(|u| u.groups.iter().position(|g| g == group));
    if let Some(index) = on_user {
        return policy
            .origins
            .source(Section::Users, email, &["groups", &index.to_string()]);
    }
    let on_group = policy.groups.get(group).and_then(|g| {
        g.members
            .iter()
            .position(|m| crate::model::email_key(m) == email)
    });
    match on_group {
        Some(index) => {
            policy
                .origins
                .source(Section::Groups, group, &["members", &index.to_string()])
        }
        None => key_source(policy, Section::Users, email),
    }
}

/// What an admin does by hand when the provider cannot carry `op` out.
fn instruction(op: &Operation) -> String {
    let target = &op.target;
    let member = op.member.as_deref().unwrap_or_default();
    let fields = op
        .changes
        .iter()
        .map(|c| format!("`{}` to {}", c.field, c.after))
        .collect::<Vec<_>>()
        .join(", ");
    let action = match op.op {
        OpKind::OrgUpdate => format!("in Organization settings, set {fields}"),
        OpKind::RoleCreate => format!("create the custom role `{target}` with {fields}"),
        OpKind::RoleUpdate => format!("in the custom role `{target}`, set {fields}"),
        OpKind::GroupCreate => format!("create the group `{target}` with {fields}"),
        OpKind::GroupUpdate => format!("in the group `{target}`, set {fields}"),
        OpKind::UserInvite => format!("invite `{target}` with {fields}"),
        OpKind::UserUpdate => format!("for the member `{target}`, set {fields}"),
        OpKind::UserReactivate => format!("reactivate the member `{target}`"),
        OpKind::GroupAddMember => format!("add `{member}` to the group `{target}`"),
        OpKind::GroupRemoveMember => format!("remove `{member}` from the group `{target}`"),
        OpKind::UserSuspend => format!("suspend the member `{target}`"),
        OpKind::UserRemove => format!("remove the member `{target}` from the organization"),
        OpKind::GroupDelete => format!("delete the group `{target}`"),
        OpKind::RoleDelete => format!("delete the custom role `{target}`"),
    };
    format!("In the Claude admin console, {action}")
}

/// What a provider can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Operation kinds the provider carries out itself; any other operation becomes a
    /// manual step with an instruction for the admin console.
    pub applies: BTreeSet<OpKind>,
    /// Fields or resources the provider cannot read, as `section.field` (`org.seats`,
    /// `users.limits`) or a whole section (`roles`). They are not compared; the plan lists
    /// them under `unverifiable`.
    pub unreadable: Vec<String>,
}

impl Capabilities {
    /// Carries out every operation and reads everything.
    pub fn full() -> Self {
        Capabilities {
            applies: OpKind::ALL.into_iter().collect(),
            unreadable: Vec::new(),
        }
    }

    /// True when `path` (`org.seats`, `users.limits.spend_usd`, `roles`) or an ancestor of
    /// it cannot be read.
    pub fn cannot_read(&self, path: &str) -> bool {
        self.unreadable.iter().any(|u| {
            path == u
                || path
                    .strip_prefix(u.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A checked policy from one YAML text; panics with the diagnostics when invalid.
    pub(crate) fn policy(yaml: &str) -> Policy {
        let mut loaded = crate::load::Loaded::default();
        crate::load::load_bytes(&mut loaded, "p.yaml".into(), yaml.as_bytes().to_vec());
        let checked = crate::validate::check(loaded);
        let diagnostics = format!("{:?}", checked.diagnostics);
        checked.policy.unwrap_or_else(|| panic!("{diagnostics}"))
    }

    pub(crate) const BASE: &str = "
org:
  name: Acme
  plan: enterprise
  domains: [acme.com]
  seats: {standard: 5, premium: 2}
  capabilities: [chat, api]
  unmanaged_users: remove
  safety: {max_removals: 10}
roles:
  analyst: {description: Analyses, capabilities: [chat, api]}
groups:
  sales: {roles: [analyst], members: [kate@acme.com]}
users:
  ceo@acme.com: {name: Dana, role: primary_owner}
  kate@acme.com: {name: Kate}
";

    /// The live state that matches [`BASE`] exactly.
    pub(crate) fn in_sync(policy: &Policy) -> LiveState {
        live::project(policy)
    }

    fn kinds(diff: &Diff) -> Vec<(OpKind, String, Option<String>)> {
        diff.operations
            .iter()
            .map(|o| (o.op, o.target.clone(), o.member.clone()))
            .collect()
    }

    fn run(live: &LiveState) -> Diff {
        diff(&policy(BASE), live, &Capabilities::full())
    }

    #[test]
    fn an_operation_is_named_in_one_line_with_its_member_and_direction() {
        let op = |kind: OpKind, target: &str, member: Option<&str>| Operation {
            op: kind,
            target: target.to_owned(),
            member: member.map(str::to_owned),
            changes: Vec::new(),
            source: None,
            execution: Execution::Provider,
        };
        let invite = op(OpKind::UserInvite, "bob@acme.com", None);
        let join = op(OpKind::GroupAddMember, "sales", Some("bob@acme.com"));
        let leave = op(OpKind::GroupRemoveMember, "sales", Some("bob@acme.com"));
        assert_eq!(invite.to_string(), "user.invite bob@acme.com");
        assert_eq!(format!("{invite:#}"), "user.invite bob@acme.com");
        assert_eq!(join.to_string(), "group.add_member sales bob@acme.com");
        assert_eq!(
            format!("{join:#}"),
            "group.add_member sales <- bob@acme.com"
        );
        assert_eq!(leave.to_string(), "group.remove_member sales bob@acme.com");
        assert_eq!(
            format!("{leave:#}"),
            "group.remove_member sales -> bob@acme.com"
        );
    }

    #[test]
    fn an_identical_live_state_needs_nothing() {
        let policy = policy(BASE);
        let d = diff(&policy, &in_sync(&policy), &Capabilities::full());
        assert_eq!(d.operations, Vec::new());
    }

    #[test]
    fn a_live_state_not_normalized_is_compared_normalized() {
        let policy = policy(BASE);
        let mut live = in_sync(&policy);
        if let Some(kate) = live.users.remove("kate@acme.com") {
            live.users.insert("Kate@Acme.com".into(), kate);
        }
        if let Some(group) = live.groups.get_mut("sales") {
            group.members = vec!["KATE@acme.com".into(), "kate@acme.com".into()];
        }
        if let Some(role) = live.roles.get_mut("analyst") {
            role.capabilities.reverse();
        }
        assert!(!live.is_normalized());
        let d = diff(&policy, &live, &Capabilities::full());
        assert_eq!(d.operations, Vec::new());
        assert_eq!(d, diff(&policy, &live.normalized(), &Capabilities::full()));
    }

    #[test]
    fn a_new_org_is_set_up_then_filled() {
        let d = run(&LiveState::default());
        let got: Vec<OpKind> = d.operations.iter().map(|o| o.op).collect();
        assert_eq!(
            got,
            [
                OpKind::OrgUpdate,
                OpKind::RoleCreate,
                OpKind::GroupCreate,
                OpKind::UserInvite,
                OpKind::UserInvite,
                OpKind::GroupAddMember,
            ]
        );
        let org = &d.operations[0];
        assert_eq!(org.source.as_deref(), Some("p.yaml:2"));
        assert!(org.changes.iter().all(|c| c.before.is_null()));
        let add = &d.operations[5];
        assert_eq!(
            (add.target.as_str(), add.member.as_deref()),
            ("sales", Some("kate@acme.com"))
        );
        assert_eq!(add.source.as_deref(), Some("p.yaml:13"));
    }

    #[test]
    fn org_update_lists_changed_fields_only() {
        let policy = policy(BASE);
        let mut live = in_sync(&policy);
        if let Some(org) = &mut live.org {
            org.seats.premium = 1;
            org.name = "Old".into();
        }
        let d = diff(&policy, &live, &Capabilities::full());
        assert_eq!(kinds(&d), [(OpKind::OrgUpdate, "org".into(), None)]);
        let fields: Vec<&str> = d.operations[0]
            .changes
            .iter()
            .map(|c| c.field.as_str())
            .collect();
        assert_eq!(fields, ["name", "seats.premium"]);
        assert_eq!(d.operations[0].source.as_deref(), Some("p.yaml:3"));
    }

    #[test]
    fn roles_are_created_updated_and_deleted() {
        let policy = policy(BASE);
        let mut live = in_sync(&policy);
        live.roles.insert("old".into(), LiveRole::default());
        let d = diff(&policy, &live, &Capabilities::full());
        assert_eq!(kinds(&d), [(OpKind::RoleDelete, "old".into(), None)]);
        assert_eq!(d.operations[0].source, None);

        live.roles.remove("old");
        if let Some(role) = live.roles.get_mut("analyst") {
            role.capabilities = vec![crate::model::Capability::Chat];
        }
        let d = diff(&policy, &live, &Capabilities::full());
        assert_eq!(kinds(&d), [(OpKind::RoleUpdate, "analyst".into(), None)]);
        assert_eq!(d.operations[0].changes[0].field, "capabilities");

        live.roles.clear();
        let d = diff(&policy, &live, &Capabilities::full());
        assert_eq!(kinds(&d), [(OpKind::RoleCreate, "analyst".into(), None)]);
    }

    #[test]
    fn groups_are_created_updated_and_deleted_without_member_ops() {
        let policy = policy(BASE);
        let mut live = in_sync(&policy);
        live.groups.insert(
            "old".into(),
            LiveGroup {
                members: vec!["kate@acme.com".into()],
                ..LiveGroup::default()
            },
        );
        if let Some(group) = live.groups.get_mut("sales") {
            group.description = Some("Sellers".into());
        }
        let d = diff(&policy, &live, &Capabilities::full());
        assert_eq!(
            kinds(&d),
            [
                (OpKind::GroupUpdate, "sales".into(), None),
                (OpKind::GroupDelete, "old".into(), None),
            ]
        );
    }

    #[test]
    fn memberships_are_added_and_removed() {
        let policy = policy(BASE);
        let mut live = in_sync(&policy);
        if let Some(group) = live.groups.get_mut("sales") {
            group.members = vec!["ceo@acme.com".into()];
        }
        let d = diff(&policy, &live, &Capabilities::full());
        assert_eq!(
            kinds(&d),
            [
                (
                    OpKind::GroupAddMember,
                    "sales".into(),
                    Some("kate@acme.com".into())
                ),
                (
                    OpKind::GroupRemoveMember,
                    "sales".into(),
                    Some("ceo@acme.com".into())
                ),
            ]
        );
    }

    #[test]
    fn users_are_invited_updated_and_removed_once() {
        let policy = policy(BASE);
        let mut live = in_sync(&policy);
        live.users.remove("kate@acme.com");
        if let Some(ceo) = live.users.get_mut("ceo@acme.com") {
            ceo.name = Some("D".into());
        }
        live.users
            .insert("gone@acme.com".into(), LiveUser::default());
        if let Some(group) = live.groups.get_mut("sales") {
            group.members = vec!["gone@acme.com".into()];
        }
        let d = diff(&policy, &live, &Capabilities::full());
        // The removed user leaves the group with the account: no remove_member.
        assert_eq!(
            kinds(&d),
            [
                (OpKind::UserInvite, "kate@acme.com".into(), None),
                (OpKind::UserUpdate, "ceo@acme.com".into(), None),
                (
                    OpKind::GroupAddMember,
                    "sales".into(),
                    Some("kate@acme.com".into())
                ),
                (OpKind::UserRemove, "gone@acme.com".into(), None),
            ]
        );
    }

    #[test]
    fn pending_invites_are_not_sent_again() {
        let policy = policy(BASE);
        let mut live = in_sync(&policy);
        if let Some(kate) = live.users.get_mut("kate@acme.com") {
            kate.status = LiveStatus::Invited;
        }
        assert_eq!(
            diff(&policy, &live, &Capabilities::full()).operations,
            Vec::new()
        );
    }

    #[test]
    fn suspension_and_reactivation_follow_the_declared_status() {
        let policy = policy(BASE);
        let mut live = in_sync(&policy);
        if let Some(kate) = live.users.get_mut("kate@acme.com") {
            kate.status = LiveStatus::Suspended;
        }
        let d = diff(&policy, &live, &Capabilities::full());
        assert_eq!(
            kinds(&d),
            [(OpKind::UserReactivate, "kate@acme.com".into(), None)]
        );

        let suspended = policy_with(
            BASE,
            "kate@acme.com: {name: Kate}",
            "kate@acme.com: {name: Kate, status: suspended}",
        );
        let live = in_sync(&policy);
        let d = diff(&suspended, &live, &Capabilities::full());
        assert_eq!(
            kinds(&d),
            [(OpKind::UserSuspend, "kate@acme.com".into(), None)]
        );
        assert_eq!(d.operations[0].source.as_deref(), Some("p.yaml:16"));
    }

    fn policy_with(base: &str, from: &str, to: &str) -> Policy {
        policy(&base.replace(from, to))
    }

    #[test]
    fn kept_unmanaged_users_are_reported_not_removed() {
        let keep = policy_with(BASE, "unmanaged_users: remove", "unmanaged_users: keep");
        let mut live = in_sync(&keep);
        live.users.insert("x@acme.com".into(), LiveUser::default());
        if let Some(group) = live.groups.get_mut("sales") {
            group.members.push("x@acme.com".into());
        }
        let d = diff(&keep, &live, &Capabilities::full());
        assert_eq!(d.operations, Vec::new());
        assert_eq!(d.unmanaged.len(), 1);
        assert_eq!(d.unmanaged[0].email, "x@acme.com");
    }

    #[test]
    fn what_the_provider_cannot_do_is_manual_and_unreadable_is_not_compared() {
        let policy = policy(BASE);
        let mut live = in_sync(&policy);
        if let Some(org) = &mut live.org {
            org.seats.premium = 1;
            org.name = "Old".into();
        }
        let caps = Capabilities {
            applies: BTreeSet::new(),
            unreadable: vec!["org.seats".into()],
        };
        let d = diff(&policy, &live, &caps);
        assert_eq!(d.operations.len(), 1);
        assert_eq!(d.operations[0].changes.len(), 1);
        assert!(matches!(
            &d.operations[0].execution,
            Execution::Manual { instruction } if instruction.contains("`name` to \"Acme\"")
        ));
        assert_eq!(d.unverifiable, ["org.seats"]);
    }

    #[test]
    fn op_names_serialize_as_in_the_spec() {
        for kind in OpKind::ALL {
            assert_eq!(to_value(&kind), Value::from(kind.as_str()));
        }
        let mut sorted = OpKind::ALL;
        sorted.sort();
        assert_eq!(sorted, OpKind::ALL);
    }
}

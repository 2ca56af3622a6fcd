//! `orgplan explain`: render a user's effective permissions (docs/policy.md#effective-permissions) for people and
//! for scripts. Rendering only: the answers come from [`crate::resolve`].
//!
//! JSON form (`--format json`), one object, keys fixed by docs/policy.md#effective-permissions:
//!
//! ```json
//! {"email": "bob@acme.com", "role": "member", "seat": "premium", "status": "active",
//!  "groups": ["engineering"], "roles": ["ml-engineer"], "capabilities": ["chat", "api"],
//!  "models": {"allow": ["claude-opus-4*"], "deny": ["claude-*-preview"]},
//!  "limits": {"spend_usd": {"monthly": {"value": 500, "source": "policies/roles.yaml:13"}}},
//!  "model": {"name": "claude-opus-4-1", "allowed": true, "rule": "…", "source": "…"}}
//! ```
//!
//! `models.allow` holds the allow patterns of the held roles (or of `org.defaults`);
//! `models.deny` those roles' (or defaults') denies followed by `org.models.deny`. A pattern
//! listed by several roles appears once. `model` is present only with `--model`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::model::{Amount, OrgRole, Seat, UserStatus};
use crate::resolve::{Decision, Effective, Pattern};

/// The JSON object printed by `explain --format json`.
#[derive(Debug, Serialize)]
pub struct Json<'a> {
    email: &'a str,
    role: OrgRole,
    seat: Seat,
    status: UserStatus,
    groups: &'a [String],
    roles: &'a [String],
    capabilities: Vec<&'static str>,
    models: Models<'a>,
    limits: BTreeMap<&'static str, BTreeMap<&'static str, Limit>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<ModelAnswer<'a>>,
}

/// The model patterns in force. `allow` and `deny` are the patterns of the held roles (or
/// `org.defaults`), `deny` with `org.models.deny`; `org_allow` is the org filter a model must
/// also match (`null`: no filter; `[]`: no model passes); `rules` lists every pattern with
/// where it comes from.
#[derive(Debug, Serialize)]
struct Models<'a> {
    allow: Vec<&'a str>,
    deny: Vec<&'a str>,
    org_allow: Option<Vec<&'a str>>,
    rules: Vec<Rule<'a>>,
}

#[derive(Debug, Serialize)]
struct Rule<'a> {
    kind: &'static str,
    pattern: &'a str,
    from: &'a str,
    source: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Limit {
    value: Amount,
    source: Option<String>,
}

#[derive(Debug, Serialize)]
struct ModelAnswer<'a> {
    name: &'a str,
    allowed: bool,
    rule: &'a str,
    source: Option<&'a str>,
}

impl<'a> Json<'a> {
    /// The JSON form of `effective`, with the answer about `model` when one was asked.
    pub fn new(effective: &'a Effective, model: Option<(&'a str, &'a Decision)>) -> Self {
        // The same pattern from two roles is one rule in force, not two.
        let unique = |patterns: &mut dyn Iterator<Item = &'a Pattern>| {
            let mut out: Vec<&'a str> = Vec::new();
            for p in patterns {
                if !out.contains(&&*p.pattern) {
                    out.push(&p.pattern);
                }
            }
            out
        };
        Json {
            email: &effective.email,
            role: effective.role,
            seat: effective.seat,
            status: effective.status,
            groups: &effective.groups,
            roles: &effective.roles,
            capabilities: effective
                .capabilities
                .iter()
                .map(|(c, _)| c.as_str())
                .collect(),
            models: Models {
                allow: unique(&mut effective.allow.iter()),
                deny: unique(&mut effective.deny.iter().chain(&effective.org_deny)),
                org_allow: effective
                    .org_allow
                    .as_ref()
                    .map(|patterns| unique(&mut patterns.iter())),
                rules: [
                    ("allow", &effective.allow[..]),
                    ("deny", &effective.deny[..]),
                    (
                        "org_allow",
                        effective.org_allow.as_deref().unwrap_or_default(),
                    ),
                    ("org_deny", &effective.org_deny[..]),
                ]
                .into_iter()
                .flat_map(|(kind, patterns)| {
                    patterns.iter().map(move |p| Rule {
                        kind,
                        pattern: &p.pattern,
                        from: &p.origin.from,
                        source: p.origin.source.as_deref(),
                    })
                })
                .collect(),
            },
            limits: effective
                .limits
                .iter()
                .map(|(metric, periods)| {
                    let periods = periods
                        .iter()
                        .map(|(period, (value, origin))| {
                            let limit = Limit {
                                value: *value,
                                source: origin.source.as_deref().map(str::to_owned),
                            };
                            (period.as_str(), limit)
                        })
                        .collect();
                    (metric.as_str(), periods)
                })
                .collect(),
            model: model.map(|(name, decision)| ModelAnswer {
                name,
                allowed: decision.allowed,
                rule: &decision.rule,
                source: decision.source.as_deref(),
            }),
        }
    }
}

/// Write the JSON form, pretty, with a final newline.
pub fn render_json(
    out: &mut dyn Write,
    effective: &Effective,
    model: Option<(&str, &Decision)>,
) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &Json::new(effective, model))?;
    writeln!(out)
}

/// The one-line human answer to `--model`, such as
/// ``denied: role `ml-engineer` denies `claude-*-preview` (policies/roles.yaml:12)``.
pub fn decision_line(decision: &Decision) -> String {
    let verdict = if decision.allowed {
        "allowed"
    } else {
        "denied"
    };
    match &decision.source {
        Some(source) => format!("{verdict}: {} ({source})", decision.rule),
        None => format!("{verdict}: {}", decision.rule),
    }
}

/// Write the human answer to `--model`, coloured on a terminal.
pub fn render_decision(out: &mut dyn Write, decision: &Decision, color: bool) -> io::Result<()> {
    let line = decision_line(decision);
    if !color {
        return writeln!(out, "{line}");
    }
    let style = if decision.allowed {
        anstyle::AnsiColor::Green.on_default().bold()
    } else {
        anstyle::AnsiColor::Red.on_default().bold()
    };
    // Colour the verdict only; the rest stays plain so it reads like the uncoloured form.
    let (verdict, rest) = line.split_once(':').unwrap_or((&line, ""));
    writeln!(
        out,
        "{}{verdict}{}:{rest}",
        style.render(),
        style.render_reset()
    )
}

/// Write the human form: identity, then capabilities, models and limits, each value
/// followed by where it comes from.
pub fn render_human(out: &mut dyn Write, effective: &Effective, color: bool) -> io::Result<()> {
    let heading = |text: &str| {
        if color {
            let style = anstyle::Style::new().bold();
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    };
    let list = |items: &[String]| {
        if items.is_empty() {
            "(none)".to_owned()
        } else {
            items.join(", ")
        }
    };
    writeln!(out, "{}", heading(&effective.email))?;
    writeln!(out, "  role:    {}", effective.role.as_str())?;
    writeln!(out, "  seat:    {}", effective.seat.as_str())?;
    let status = match effective.status {
        UserStatus::Active => "active",
        UserStatus::Suspended => "suspended",
    };
    match (&effective.status_source, effective.status) {
        (Some(source), UserStatus::Suspended) => writeln!(out, "  status:  {status} ({source})")?,
        _ => writeln!(out, "  status:  {status}")?,
    }
    writeln!(out, "  groups:  {}", list(&effective.groups))?;
    writeln!(out, "  roles:   {}", list(&effective.roles))?;

    writeln!(out, "\n{}", heading("capabilities"))?;
    if effective.capabilities.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for (capability, origin) in &effective.capabilities {
        writeln!(out, "  {:<12} {origin}", capability.as_str())?;
    }
    for (capability, reason) in &effective.withheld {
        writeln!(out, "  {:<12} withheld: {reason}", capability.as_str())?;
    }

    writeln!(out, "\n{}", heading("models"))?;
    let org_allow = effective.org_allow.as_deref().unwrap_or_default();
    let rows = [
        ("allow", &effective.allow[..]),
        ("deny", &effective.deny[..]),
        ("org allow", org_allow),
        ("org deny", &effective.org_deny[..]),
    ];
    if effective.status == UserStatus::Suspended {
        writeln!(out, "  (none): the user is suspended")?;
    } else if effective.allow.is_empty() {
        writeln!(out, "  (none): no allow pattern, every model is denied")?;
    } else if org_allow.is_empty() && effective.org_allow.is_some() {
        writeln!(
            out,
            "  (none): org.models.allow is empty, every model is denied"
        )?;
    }
    for (kind, patterns) in rows {
        for p in patterns {
            writeln!(out, "  {kind:<9} {:<24} {}", p.pattern, p.origin)?;
        }
    }

    writeln!(out, "\n{}", heading("limits"))?;
    if effective.limits.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for (metric, periods) in &effective.limits {
        for (period, (amount, origin)) in periods {
            let name = format!("{} {}", metric.as_str(), period.as_str());
            writeln!(out, "  {name:<17} {:>10}  {origin}", amount.to_string())?;
        }
    }
    Ok(())
}

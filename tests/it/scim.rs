//! Interoperability with a real SCIM server: `scim2-server` from PyPI, started by
//! `tests/scim/run.sh`, which passes the URLs in `ORGPLAN_SCIM_TEST_URL` (core schemas
//! only) and `ORGPLAN_SCIM_TEST_URL_EXT` (orgplan's extension schemas loaded).
//! Ignored in a plain `cargo test`; run.sh runs them with `--ignored`.

use serde_json::{Value, json};

use crate::common::{Run, op_line, orgplan};

const TOKEN_VAR: &str = "ORGPLAN_SCIM_TEST_TOKEN";

fn url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("`{var}` is not set: these tests need a SCIM server, run `bash tests/scim/run.sh`")
    })
}

fn token() -> String {
    std::env::var(TOKEN_VAR)
        .unwrap_or_else(|_| panic!("`{TOKEN_VAR}` is not set: run `bash tests/scim/run.sh`"))
}

/// orgplan with the server's token.
fn scim() -> assert_cmd::Command {
    let mut command = orgplan();
    command.env("ORGPLAN_SCIM_TOKEN", token());
    command
}

/// `plan --detailed-exitcode` against `base`, which must find nothing to do; its output.
fn nothing_to_do(base: &str) -> String {
    let (out, err, code) = scim()
        .args(["plan", "--live", base, "--detailed-exitcode"])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    out
}

/// A plain HTTP request to the server, as an admin console or another IdP would make.
fn http(method: &str, url: &str, body: Option<Value>) -> Value {
    let base = url.trim_start_matches("scim+");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(base)
        .header("authorization", format!("Bearer {}", token()))
        .header("content-type", "application/scim+json")
        .body(body.map(|b| b.to_string()).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut response = agent.run(request).unwrap_or_else(|e| panic!("{e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    assert!(status < 300, "{method} {base}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn find(base: &str, endpoint: &str, attribute: &str, value: &str) -> String {
    let filter = format!("{attribute}%20eq%20%22{value}%22");
    let list = http("GET", &format!("{base}/{endpoint}?filter={filter}"), None);
    list["Resources"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no {endpoint} with {attribute} {value}: {list}"))
        .to_owned()
}

fn patch(url: &str, operation: Value) {
    http(
        "PATCH",
        url,
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [operation]}),
        ),
    );
}

/// The scenarios of issue 5 against one server; `full` when the extension is loaded.
fn scenario(base: &str, full: bool) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (plan_file, audit) = (path("plan.json"), path("audit.jsonl"));
    let mut outputs = String::new();

    // The empty server: the whole org is to be created.
    let (out, err, code) = scim()
        .args(["plan", "--live", base, "-o", &plan_file])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("+ user.invite ceo@acme.com"), "{out}");
    assert!(out.contains("+ group.create engineering"), "{out}");
    if full {
        assert!(
            out.contains("role.create ml-engineer") && out.contains("org.update"),
            "{out}"
        );
        assert!(!out.contains("Unverifiable"), "{out}");
        assert!(out.contains(" 0 manual."), "{out}");
    } else {
        for field in [
            "groups.roles",
            "groups.limits",
            "roles",
            "users.limits",
            "org",
        ] {
            assert!(
                out.contains(&format!("  {field}\n")),
                "{field} unverifiable: {out}"
            );
        }
        assert!(!out.contains("role.create"), "{out}");
    }
    outputs.push_str(&out);
    outputs.push_str(&err);

    // Apply the saved plan, then nothing is left.
    let (out, err, code) = scim()
        .args(["apply", &plan_file, "--live", base, "--audit", &audit])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Apply complete"), "{out}");
    outputs.push_str(&out);
    outputs.push_str(&err);
    let out = nothing_to_do(base);
    assert!(out.contains("No changes"), "{out}");

    // Drift made by someone else: a user deactivated, a member taken out of a group,
    // a user deleted.
    let http_base = base.trim_start_matches("scim+");
    let kate = find(base, "Users", "userName", "kate.sullivan@acme.com");
    patch(
        &format!("{http_base}/Users/{kate}"),
        json!({"op": "replace", "path": "active", "value": false}),
    );
    let bob = find(base, "Users", "userName", "bob.martin@acme.com");
    let engineering = find(base, "Groups", "displayName", "engineering");
    patch(
        &format!("{http_base}/Groups/{engineering}"),
        json!({"op": "remove", "path": format!("members[value eq \"{bob}\"]")}),
    );
    let tom = find(base, "Users", "userName", "tom.baker@acme.com");
    http("DELETE", &format!("{http_base}/Users/{tom}"), None);

    let (out, err, code) = scim()
        .args(["plan", "--live", base, "--format", "json"])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    let plan: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let ops: Vec<String> = plan["operations"]
        .as_array()
        .unwrap_or_else(|| panic!("{plan}"))
        .iter()
        .map(op_line)
        .collect();
    assert_eq!(
        ops,
        [
            "user.invite tom.baker@acme.com",
            "user.reactivate kate.sullivan@acme.com",
            "group.add_member engineering bob.martin@acme.com",
        ],
        "exactly the drift"
    );

    // Apply repairs it.
    let (out, err, code) = scim()
        .args(["apply", "--auto-approve", "--live", base, "--audit", &audit])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    outputs.push_str(&out);
    outputs.push_str(&err);
    nothing_to_do(base);

    // Export, then plan the export: nothing to do. Without the extension the org
    // settings cannot be read, so export says so instead of writing a partial policy.
    let exported = path("exported");
    let (out, err, code) = scim()
        .args(["export", "--live", base, "-o", &exported])
        .run();
    if full {
        assert_eq!(code, 0, "{out}{err}");
        let (out, err, code) = scim()
            .args([
                "plan",
                "-p",
                &exported,
                "--live",
                base,
                "--detailed-exitcode",
            ])
            .run();
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("No changes"), "{out}");
    } else {
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            err.contains("cannot export") && err.contains("schema/scim/"),
            "{err}"
        );
    }

    // The token is in no output, the saved plan or the audit file; the plan keeps the
    // URL without credentials.
    let saved = std::fs::read_to_string(&plan_file).unwrap_or_default();
    let trail = std::fs::read_to_string(&audit).unwrap_or_default();
    assert!(trail.lines().count() > 40, "{trail}");
    for text in [&outputs, &saved, &trail] {
        assert!(!text.contains(&token()), "the token leaked");
    }
    let plan: Value = serde_json::from_str(&saved).expect("valid JSON");
    assert_eq!(plan["live"], json!(base));
}

#[test]
#[ignore = "needs a SCIM server: run tests/scim/run.sh"]
fn scim2_server_with_core_schemas() {
    scenario(&url("ORGPLAN_SCIM_TEST_URL"), false);
}

#[test]
#[ignore = "needs a SCIM server: run tests/scim/run.sh"]
fn scim2_server_with_orgplan_extension_schemas() {
    scenario(&url("ORGPLAN_SCIM_TEST_URL_EXT"), true);
}

//! `scim+https` the way companies run it: the real scim2-server behind a real TLS
//! terminator (stunnel, from Debian) whose certificate comes from a throwaway CA, all on
//! loopback. `tests/scim/run.sh` sets it up and passes `ORGPLAN_SCIM_TEST_URL_TLS` and
//! `ORGPLAN_SCIM_TEST_CA` (the CA's PEM). Ignored in a plain `cargo test`.

use crate::common::{Run, orgplan};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("`{name}` is not set: these tests need the TLS setup of `bash tests/scim/run.sh`")
    })
}

/// orgplan with the SCIM token, `SSL_CERT_FILE` set to `ca` (or unset).
fn tls(ca: Option<&str>) -> assert_cmd::Command {
    let mut command = orgplan();
    command
        .env("ORGPLAN_SCIM_TOKEN", var("ORGPLAN_SCIM_TEST_TOKEN"))
        .env("ORGPLAN_HTTP_ATTEMPTS", "2")
        .env("ORGPLAN_HTTP_BACKOFF_MS", "1")
        .env_remove("SSL_CERT_FILE")
        .env_remove("ssl_cert_file");
    if let Some(ca) = ca {
        command.env("SSL_CERT_FILE", ca);
    }
    command
}

#[test]
#[ignore = "needs the TLS setup: run tests/scim/run.sh"]
fn plan_apply_and_export_over_scim_https_trusting_a_private_ca() {
    let base = var("ORGPLAN_SCIM_TEST_URL_TLS");
    let ca = var("ORGPLAN_SCIM_TEST_CA");
    assert!(base.starts_with("scim+https://127.0.0.1:"), "{base}");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();

    // Without the CA: refused, with the host, the reason and the fix; nothing is sent in
    // the clear instead.
    let (out, err, code) = tls(None).args(["plan", "--live", &base]).run();
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("the TLS certificate of `127.0.0.1:")
            && err.contains("` is not trusted: it is issued by a certificate authority")
            && err.contains("does not trust")
            && err.contains("SSL_CERT_FILE="),
        "{err}"
    );
    assert!(
        !err.contains("failed after"),
        "a certificate error is not retried: {err}"
    );

    // With it: the whole cycle over TLS.
    let plan_file = path("plan.json");
    let (out, err, code) = tls(Some(&ca))
        .args(["plan", "--live", &base, "-o", &plan_file])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("+ user.invite ceo@acme.com"), "{out}");
    let audit = path("audit.jsonl");
    let (out, err, code) = tls(Some(&ca))
        .args(["apply", &plan_file, "--live", &base, "--audit", &audit])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Apply complete"), "{out}");
    let (out, err, code) = tls(Some(&ca))
        .args(["plan", "--live", &base, "--detailed-exitcode"])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes"), "{out}");
    let exported = path("exported");
    let (out, err, code) = tls(Some(&ca))
        .args(["export", "--live", &base, "-o", &exported])
        .run();
    assert_eq!(code, 0, "{out}{err}");
    let (out, err, code) = tls(Some(&ca))
        .args([
            "plan",
            "-p",
            &exported,
            "--live",
            &base,
            "--detailed-exitcode",
        ])
        .run();
    assert_eq!(code, 0, "{out}{err}");

    // The saved plan names the https URL: it was never downgraded.
    let saved = std::fs::read_to_string(&plan_file).unwrap_or_default();
    let plan: serde_json::Value = serde_json::from_str(&saved).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan["live"], serde_json::json!(base));
}

//! `auditgate check-config --live` and `serve` at start contact the deployment: the deploy key
//! accepted or refused, the live function spec compared with `[catalog] spec_file`. Black box,
//! against the Convex test app.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::gateway::GatewayDir;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_auditgate"));
    c.env_remove("AUDITGATE_TOKEN").env("AUDITGATE_LOG", "info");
    c
}

fn check_live(dir: &GatewayDir) -> (Output, String) {
    let out = bin()
        .args(["check-config", "--live", "--config"])
        .arg(dir.config_path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    (out, stdout)
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/function-spec.json")
}

fn with_spec_file(url: &str, spec: &std::path::Path) -> GatewayDir {
    GatewayDir::with_extra(
        url,
        &format!(
            "\n[catalog]\nspec_file = {:?}\n",
            spec.display().to_string()
        ),
    )
}

#[test]
fn the_live_spec_matches_the_committed_spec_file() {
    let app = app_or_skip!();
    let dir = with_spec_file(&app.url, &fixture());
    let (out, stdout) = check_live(&dir);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "deployment  ok: {} reachable; deploy key accepted",
            app.url
        )),
        "{stdout}"
    );
    assert!(stdout.contains("live spec   ok: "), "{stdout}");
    assert!(stdout.contains("HTTP routes;"), "{stdout}");
    assert!(stdout.contains("matches it"), "{stdout}");
    // Without a spec file, the catalog is the live spec.
    let live = GatewayDir::new(&app.url);
    let (out, stdout) = check_live(&live);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("the catalog is built from it"), "{stdout}");
}

#[test]
fn a_stale_spec_file_is_a_warning_naming_the_differences() {
    let app = app_or_skip!();
    let mut spec: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    let functions = spec["functions"].as_array_mut().unwrap();
    functions.retain(|f| f["identifier"] != "diagnostics.js:whoami");
    for f in functions.iter_mut() {
        if f["identifier"] == "diagnostics.js:crash" {
            f["visibility"]["kind"] = "internal".into();
        }
    }
    functions.push(
        serde_json::json!({"identifier": "gone.js:old", "functionType": "Query",
        "visibility": {"kind": "public"}, "args": {"type": "any"}, "returns": null}),
    );
    let stale = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(stale.path(), spec.to_string()).unwrap();
    let dir = with_spec_file(&app.url, stale.path());
    let (out, stdout) = check_live(&dir);
    assert!(
        out.status.success(),
        "a warning does not fail the check: {stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("live spec   warn: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("+diagnostics:whoami; -gone:old; ~diagnostics:crash"),
        "{line}"
    );
}

#[test]
fn a_refused_deploy_key_fails_the_check_and_stops_serve_before_any_write() {
    let app = app_or_skip!();
    let dir = with_spec_file(&app.url, &fixture());
    std::fs::remove_file(dir.path().join("deploy.key")).unwrap();
    support::gateway::write_secret(&dir.path().join("deploy.key"), "test:app|wrong");
    let (out, stdout) = check_live(&dir);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("deployment  error: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("refused the deploy key (BadDeployKey)"),
        "{line}"
    );
    assert!(!stdout.contains("wrong"), "the key never appears: {stdout}");

    let out = bin()
        .args(["serve", "--stdio", "--config"])
        .arg(dir.config_path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused the deploy key"), "{stderr}");
    assert!(!stderr.contains("wrong"), "{stderr}");
    assert!(!dir.ledger_dir().exists(), "nothing was written");
}

#[test]
fn an_unreachable_deployment_is_an_error_for_the_check_only() {
    let dir = GatewayDir::offline("");
    let (out, stdout) = check_live(&dir);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("deployment  error: http://127.0.0.1:9 unreachable"),
        "{stdout}"
    );
}

/// `--live` says which data tools this deployment's plan supports and by which route: streaming
/// export where it is enabled, the system queries on the Starter plan.
#[test]
fn the_data_tools_route_is_reported_per_plan() {
    let app = app_or_skip!();
    let (out, stdout) = check_live(&GatewayDir::new(&app.url));
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("data tool   ok: convex_query_documents via streaming_export"),
        "{stdout}"
    );
    assert!(
        stdout.contains("data tool   ok: convex_create_document via system_mutations"),
        "{stdout}"
    );
    let starter = app_or_skip!(&[("CONVEX_TEST_PLAN", "starter")]);
    let (out, stdout) = check_live(&GatewayDir::new(&starter.url));
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("data tool   ok: convex_query_documents via system_queries"),
        "{stdout}"
    );
    assert!(
        stdout.contains("data tool   ok: convex_list_tables via system_queries"),
        "{stdout}"
    );
}

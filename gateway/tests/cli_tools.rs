//! `auditgate tools`: black-box runs of the binary on a temp config.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write_config(dir: &tempfile::TempDir, extra: &str) -> PathBuf {
    let spec = manifest().join("tests/fixtures/function-spec.json");
    let path = dir.path().join("auditgate.toml");
    let text = format!(
        "[convex]\nurl = \"http://127.0.0.1:9\"\ndeploy_key_env = \"AUDITGATE_TEST_UNSET\"\n\n[catalog]\nspec_file = {:?}\n{extra}",
        spec.display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_auditgate"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn lists_what_a_principal_sees_under_a_policy() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "");
    let policy = manifest().join("../policies/examples/finance-refunds.toml");
    let policy = policy.to_str().unwrap();
    let (ok, stdout, stderr) = run(&[
        "tools",
        "--config",
        config.to_str().unwrap(),
        "--policy",
        policy,
        "--principal",
        "fin-agent",
        "--role",
        "finance",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let listing: Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = listing["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"invoices_refund"), "{names:?}");
    assert!(
        listing["hidden"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == "diagnostics_crash")
    );
    assert!(listing["policyHash"].is_string());
    // Without roles, the same policy (default blocked) hides more.
    let (ok, stdout, _) = run(&[
        "tools",
        "--config",
        config.to_str().unwrap(),
        "--policy",
        policy,
        "--json",
    ]);
    assert!(ok);
    let nobody: Value = serde_json::from_str(&stdout).unwrap();
    assert!(nobody["tools"].as_array().unwrap().len() < names.len());
}

#[test]
fn human_output_without_a_policy_shows_kinds_and_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        "\n[tools.\"invoices:refund\"]\ntitle = \"Refund an invoice\"\n",
    );
    let (ok, stdout, stderr) = run(&["tools", "--config", config.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("invoices_refund  [mutation] [tier pending]  -> invoices:refund"),
        "{stdout}"
    );
    assert!(stdout.contains("    Refund an invoice"));
    assert!(stdout.contains("    amountCents: int64"));
    assert!(
        !stdout.contains("admin_stats"),
        "internal functions hidden by default"
    );
}

#[test]
fn config_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "bogus = 1\n");
    let (ok, _, stderr) = run(&["tools", "--config", config.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("auditgate.toml") && stderr.contains("bogus"),
        "{stderr}"
    );
}

/// The spec of an app with `http.ts` (routes and an exported HTTP action) and a default export,
/// plus an entry kind no backend emits today: the catalog loads, and `--all` says what is not a
/// tool and why.
#[test]
fn http_routes_and_unknown_entries_are_listed_as_not_exposed() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec: Value = serde_json::from_str(
        &std::fs::read_to_string(manifest().join("tests/fixtures/function-spec.json")).unwrap(),
    )
    .unwrap();
    let functions = spec["functions"].as_array_mut().unwrap();
    assert!(
        functions
            .iter()
            .any(|f| f["functionType"] == "HttpAction" && f.get("identifier").is_none()),
        "the fixture has the test app's HTTP routes"
    );
    functions.push(serde_json::json!({"identifier": "cron.js:tick", "functionType": "Cron"}));
    functions.push(
        serde_json::json!({"identifier": "bad.js:v", "functionType": "Query",
        "visibility": {"kind": "public"}, "args": {"type": "wat"}}),
    );
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let config = dir.path().join("auditgate.toml");
    std::fs::write(
        &config,
        format!(
            "[convex]\nurl = \"http://127.0.0.1:9\"\ndeploy_key_env = \"AUDITGATE_TEST_UNSET\"\n\n[catalog]\nspec_file = {:?}\n",
            spec_path.display().to_string()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (ok, stdout, stderr) = run(&["tools", "--config", config, "--all", "--json"]);
    assert!(ok, "{stderr}");
    let listing: Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = listing["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"diagnostics"),
        "a default export is named by its module, as Convex names it: {names:?}"
    );
    assert!(!names.iter().any(|n| n.starts_with("http")), "{names:?}");
    let not_exposed = listing["notExposed"].as_array().unwrap();
    let find = |name: &str| {
        not_exposed
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {not_exposed:?}"))
    };
    assert_eq!(find("POST /webhooks/payment")["what"], "http_route");
    assert_eq!(find("GET /health")["what"], "http_route");
    assert_eq!(find("GET /files/*")["what"], "http_route");
    assert_eq!(find("http:paymentWebhook")["what"], "http_action");
    assert_eq!(find("admin:stats")["what"], "internal");
    let cron = find("cron.js:tick");
    assert_eq!(cron["what"], "skipped");
    assert_eq!(cron["reason"], "unknown entry kind \"Cron\"");
    let bad = find("bad.js:v");
    assert!(
        bad["reason"]
            .as_str()
            .unwrap()
            .contains("unknown validator type \"wat\""),
        "{bad}"
    );
    // The human form says the same.
    let (ok, stdout, _) = run(&["tools", "--config", config, "--all"]);
    assert!(ok);
    assert!(
        stdout.contains("POST /webhooks/payment  [http_route]"),
        "{stdout}"
    );
    assert!(stdout.contains("not exposed (8):"), "{stdout}");
}

#[test]
fn a_tool_prefix_renames_what_clients_see_and_only_that() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "tool_prefix = \"integration__convex__\"\n");
    let (ok, stdout, stderr) = run(&["tools", "--config", config.to_str().unwrap(), "--json"]);
    assert!(ok, "{stderr}");
    let listing: Value = serde_json::from_str(&stdout).unwrap();
    let tools = listing["tools"].as_array().unwrap();
    let list = tools
        .iter()
        .find(|t| t["name"] == "convex_list_tables")
        .unwrap();
    assert_eq!(
        list["listedName"],
        "integration__convex__convex_list_tables"
    );
    assert_eq!(
        list["tool"]["name"],
        "integration__convex__convex_list_tables"
    );
    for t in tools {
        let listed = t["listedName"].as_str().unwrap();
        assert!(
            listed.starts_with("integration__convex__") && listed.len() <= 64,
            "{listed}"
        );
    }
    let (ok, stdout, _) = run(&["tools", "--config", config.to_str().unwrap()]);
    assert!(ok);
    assert!(
        stdout.contains("integration__convex__invoices_refund  (policy name invoices_refund)"),
        "{stdout}"
    );
    // A prefix outside the tool-name charset is refused with its line and field.
    let bad = write_config(&dir, "tool_prefix = \"integration.convex\"\n");
    let (ok, _, stderr) = run(&["tools", "--config", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("tool_prefix"), "{stderr}");
    assert!(
        stderr.contains("must match ^[A-Za-z0-9_-]{1,32}$"),
        "{stderr}"
    );
}

/// A spec that is not JSON, or missing, is refused with its cause said once (finding 1: the
/// message repeated itself).
#[test]
fn a_broken_spec_is_one_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.json");
    std::fs::write(&spec, "{\"functions\": [").unwrap();
    let config = dir.path().join("auditgate.toml");
    let write = |spec: &std::path::Path| {
        std::fs::write(
            &config,
            format!(
                "[convex]\nurl = \"http://127.0.0.1:9\"\ndeploy_key_env = \"AUDITGATE_TEST_UNSET\"\n\n[catalog]\nspec_file = {:?}\n",
                spec.display().to_string()
            ),
        )
        .unwrap();
    };
    write(&spec);
    let (ok, _, stderr) = run(&["tools", "--config", config.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("function spec is not valid JSON"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("EOF while parsing").count(), 1, "{stderr}");
    write(&dir.path().join("missing.json"));
    let (ok, _, stderr) = run(&["tools", "--config", config.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("cannot read the function spec"), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}

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

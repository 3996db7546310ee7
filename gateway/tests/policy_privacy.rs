//! Privacy guard rails of the shipped policies, black box: a value the billing example redacts
//! in arguments is not written in clear when the result repeats it (finding 4), and
//! `auditgate check-config` prints the privacy warnings with file, line and field, and none for
//! any shipped example.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;
use support::gateway::{GatewayDir, Mcp, RunningGateway};

/// Every byte of the ledger's segment files, concatenated.
fn segment_bytes(dir: &GatewayDir) -> Vec<u8> {
    let mut out = Vec::new();
    for f in std::fs::read_dir(dir.ledger_dir().join("segments")).unwrap() {
        out.extend(std::fs::read(f.unwrap().path()).unwrap());
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Finding 4: `[audit].args` commits `**.taxId`, but the `reads` rule (`diagnostics:*`) had no
/// `audit.result` for it, so `diagnostics:echo` wrote the committed value in clear into the
/// ledger's `call.result`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_example_never_writes_a_committed_tax_id_in_clear_when_a_result_echoes_it() {
    let app = app_or_skip!();
    let dir = GatewayDir::new(&app.url);
    let gw = RunningGateway::start(&dir).await;
    let mut carol = Mcp::new(&gw.url, Some(dir.token("carol")));
    carol.initialize().await;
    let marker = "TAXID-CLEAR-7f3a91c2";
    let got = carol
        .call("diagnostics_echo", json!({"value": {"taxId": marker}}))
        .await;
    assert_eq!(got["isError"], false, "{got}");
    // The call ran and its result was recorded.
    let entries = dir.entries();
    let result = entries
        .iter()
        .find(|e| e["kind"] == "call.result" && e["tool"] == "diagnostics_echo")
        .unwrap_or_else(|| panic!("no call.result for diagnostics_echo: {entries:?}"));
    gw.stop().await;
    let bytes = segment_bytes(&dir);
    assert!(
        !contains(&bytes, marker.as_bytes()),
        "the committed tax id is in clear in the ledger: {result}"
    );
    // Committed, like the argument: an auditor holding the key can still prove the value.
    assert!(result["result"]["taxId"]["$commit"].is_string(), "{result}");
}

fn check_config(config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auditgate"))
        .args(["check-config", "--config"])
        .arg(config)
        .env("AUDITGATE_LOG", "warn")
        .output()
        .unwrap()
}

/// A gateway folder (offline: catalog from the committed spec) whose policy is `policy`.
fn offline_with_policy(policy: &str) -> GatewayDir {
    let dir = GatewayDir::offline("");
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    dir
}

#[test]
fn check_config_prints_both_privacy_warnings_with_file_line_and_field_and_still_passes() {
    let dir = offline_with_policy(
        "version = 1\n\
         [audit]\n\
         args = [{ path = \"**.taxId\", mode = \"commit\" }]\n\
         [[rules]]\n\
         id = \"patient-reads\"\n\
         match.function = [\"patients:get\"]\n\
         response.hide = [{ path = \"**.ssn\", mode = \"drop\" }]\n\
         [[rules]]\n\
         id = \"tables\"\n\
         match.tool = [\"convex_query_documents\"]\n",
    );
    let out = check_config(&dir.config_path());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    // Warnings do not fail the check (as for every policy warning).
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
    assert!(stdout.contains(", 2 rules, 2 warnings)"), "{stdout}");
    let file = dir.path().join("policy.toml").display().to_string();
    let expected = [
        format!(
            "policy warning: {file}:3:18: audit.args[0]: warning: argument path \"**.taxId\" is committed in arguments but not redacted in results and errors of rule \"patient-reads\" and rule \"tables\": add {{ path = \"**.taxId\", mode = \"commit\" }} to [audit].result (or to each of those rules' audit.result): a value committed in arguments would otherwise be written in clear when a result or a Convex error repeats it"
        ),
        format!(
            "policy warning: {file}:7:27: rules[0].response.hide[0]: warning: path \"**.ssn\" is hidden from responses by rule \"patient-reads\" but rule \"tables\" (line 8) lets convex_query_documents read documents without hiding it: the field is visible and filterable there; add {{ path = \"**.ssn\", mode = \"drop\" }} to [response].hide or to rule \"tables\"'s response.hide"
        ),
    ];
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines, expected, "{stderr}");
}

fn shipped_policies() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = vec![root.join("examples/billing/policy.toml")];
    let mut presets: Vec<PathBuf> = std::fs::read_dir(root.join("policies/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    presets.sort();
    out.extend(presets);
    out
}

#[test]
fn check_config_prints_no_warning_for_any_shipped_example_policy() {
    let policies = shipped_policies();
    assert_eq!(policies.len(), 8, "{policies:?}");
    for policy in policies {
        let dir = offline_with_policy(&std::fs::read_to_string(&policy).unwrap());
        let out = check_config(&dir.config_path());
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            out.status.success(),
            "{}: {stdout}\n{stderr}",
            policy.display()
        );
        assert!(
            !stderr.contains("warning"),
            "{}: {stderr}",
            policy.display()
        );
    }
}

/// A vault whose data subject the policy leaves in clear: the ledger would name every subject,
/// and no erasure takes that away. `check-config` says so and what to add.
#[test]
fn check_config_warns_when_the_vault_subject_is_not_redacted() {
    for (args, warned) in [
        ("[{ path = \"**.ssn\", mode = \"commit\" }]", true),
        ("[{ path = \"**.patientId\", mode = \"commit\" }]", false),
    ] {
        let dir = GatewayDir::offline("\n[vault]\nsubject = [\"$.value.patientId\"]\n");
        std::fs::write(
            dir.path().join("policy.toml"),
            format!("version = 1\n[audit]\nargs = {args}\nresult = {args}\n"),
        )
        .unwrap();
        let out = check_config(&dir.config_path());
        let stderr = String::from_utf8(out.stderr).unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(
            stdout.contains("data subject: $.value.patientId"),
            "{stdout}"
        );
        assert_eq!(
            stderr.contains(
                "vault warning: vault.subject \"$.value.patientId\" is not redacted by the \
                 policy's [audit].args"
            ) && stderr.contains("add { path = \"**.patientId\", mode = \"commit\" }"),
            warned,
            "{stderr}"
        );
    }
}

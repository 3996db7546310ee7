//! `auditgate explain`: black-box runs of the binary on a temp config over the committed function
//! spec and the example policies. The `--json` golden is `gateway/tests/golden/explain.json`;
//! regenerate with `UPDATE_GOLDEN=1 cargo test -p auditgate --test cli_explain`.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A config over the committed function spec, with `policy` as `[policy] file`.
fn write_config(dir: &tempfile::TempDir, policy: &Path) -> PathBuf {
    let spec = manifest().join("tests/fixtures/function-spec.json");
    let path = dir.path().join("auditgate.toml");
    let text = format!(
        "[convex]\nurl = \"http://127.0.0.1:9\"\ndeploy_key_env = \"AUDITGATE_TEST_UNSET\"\n\n\
         [catalog]\nspec_file = {:?}\n\n[policy]\nfile = {:?}\n",
        spec.display().to_string(),
        policy.display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn example(name: &str) -> PathBuf {
    manifest().join(format!("../policies/examples/{name}.toml"))
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn explain(config: &Path, extra: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auditgate"));
    cmd.arg("explain")
        .arg("--config")
        .arg(config)
        .args(extra)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

const FINANCE: [&str; 4] = ["--principal", "fin-agent", "--role", "finance"];

fn refund(config: &Path, args: &str) -> Run {
    let mut a = FINANCE.to_vec();
    a.extend(["--tool", "invoices_refund", "--args", args]);
    explain(config, &a, None)
}

#[test]
fn a_small_refund_is_allowed_and_a_decimal_string_is_normalized() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &example("finance-refunds"));
    let run = refund(
        &config,
        r#"{"invoiceId": "i1", "amountCents": "300", "reason": "goodwill"}"#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains("tool: invoices_refund (mutation, invoices:refund)"),
        "{out}"
    );
    assert!(
        out.contains("arguments: valid; normalized at /amountCents"),
        "{out}"
    );
    assert!(
        out.contains("rule \"small-refund\" (line 42): DECIDED"),
        "{out}"
    );
    assert!(out.contains("decision: allow"), "{out}");
    assert!(out.contains("disposition: forward"), "{out}");
    assert!(out.contains("tools/list: allow (listed)"), "{out}");
}

#[test]
fn a_large_refund_needs_approval_and_says_which_comparison_failed() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &example("finance-refunds"));
    let run = refund(
        &config,
        r#"{"invoiceId": "i1", "amountCents": 500000, "reason": "dispute"}"#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains("when: does not hold: $.amountCents lte 100000"),
        "{out}"
    );
    assert!(
        out.contains("$.amountCents lte 100000: selected 500000: fails"),
        "{out}"
    );
    assert!(out.contains("match.kind: mutation not in [query]"), "{out}");
    assert!(
        out.contains("rule \"large-refund\" (line 58): DECIDED"),
        "{out}"
    );
    assert!(out.contains("decision: approval_required"), "{out}");
    assert!(out.contains("disposition: approval_pending"), "{out}");
    // The redaction plans, by path and mode; the committed reason itself never appears.
    assert!(
        out.contains("audit args: **.card drop (policy); reason commit (large-refund)"),
        "{out}"
    );
    assert!(!out.contains("dispute"), "{out}");
}

#[test]
fn a_caller_without_the_role_is_blocked_by_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &example("finance-refunds"));
    let run = explain(
        &config,
        &[
            "--principal",
            "intern",
            "--tool",
            "invoices_refund",
            "--args",
            r#"{"invoiceId": "i1", "amountCents": 1, "reason": "x"}"#,
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    assert!(out.contains("principal: key:intern [(no roles)]"), "{out}");
    assert!(
        out.contains("match.roles: holds none of [\"finance\"]"),
        "{out}"
    );
    assert!(out.contains("defaults: DECIDED"), "{out}");
    assert!(out.contains("decision: blocked"), "{out}");
    assert!(out.contains("tools/list: blocked (not listed)"), "{out}");
}

#[test]
fn a_write_capped_by_the_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &example("write-ask"));
    let run = refund(
        &config,
        r#"{"invoiceId": "i1", "amountCents": 1, "reason": "x"}"#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains("write ceiling: approval_required for mutation; decided allow, capped"),
        "{out}"
    );
    assert!(out.contains("decision: approval_required"), "{out}");
}

#[test]
fn a_compared_value_the_audit_plan_protects_is_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "version = 1\n[defaults]\ntier = \"blocked\"\nwrite = \"allow\"\n\n[audit]\n\
         args = [{ path = \"reason\", mode = \"commit\" }]\n\n[[rules]]\nid = \"goodwill\"\n\
         match.function = [\"invoices:refund\"]\n\
         when = { path = \"$.reason\", op = \"eq\", value = \"goodwill\" }\ntier = \"allow\"\n",
    )
    .unwrap();
    let config = write_config(&dir, &policy);
    let args = r#"{"invoiceId": "i1", "amountCents": 1, "reason": "SECRET-REASON"}"#;
    for json in [false, true] {
        let mut extra = FINANCE.to_vec();
        extra.extend(["--tool", "invoices_refund", "--args", args]);
        if json {
            extra.push("--json");
        }
        let run = explain(&config, &extra, None);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!run.stdout.contains("SECRET"), "{}", run.stdout);
        assert!(run.stdout.contains("hidden"), "{}", run.stdout);
    }
}

#[test]
fn invalid_arguments_are_shown_as_the_gateway_would_refuse_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &example("finance-refunds"));
    let run = refund(
        &config,
        r#"{"invoiceId": "i1", "amountCents": "+5", "reason": "x", "extra": 1}"#,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    assert!(out.contains("arguments: invalid"), "{out}");
    assert!(
        out.contains("/amountCents: must be a 64-bit integer (a JSON integer or a decimal string)"),
        "{out}"
    );
    assert!(out.contains("/extra: unexpected field"), "{out}");
    assert!(out.contains("disposition: invalid_args"), "{out}");
}

#[test]
fn an_unknown_tool_is_decided_as_the_gateway_decides_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &example("finance-refunds"));
    let mut a = FINANCE.to_vec();
    a.extend(["--tool", "invoices_nope", "--args", "{}", "--json"]);
    let run = explain(&config, &a, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["tool"]["known"], false);
    assert_eq!(v["decision"]["tier"], "blocked");
    assert_eq!(v["decision"]["disposition"], "unknown_tool");
    assert_eq!(v["decision"]["reason"], "no such tool in the catalog");
}

#[test]
fn bad_json_arguments_and_config_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &example("finance-refunds"));
    let run = refund(&config, r#"{"invoiceId": "#);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--args is not valid JSON"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    let run = refund(&config, "[1]");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--args must be a JSON object"),
        "{}",
        run.stderr
    );

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "version = 1\n[defaults]\ntier = \"maybe\"\n").unwrap();
    let config = write_config(&dir, &broken);
    let run = refund(&config, "{}");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("broken.toml:3:") && run.stderr.contains("defaults.tier"),
        "{}",
        run.stderr
    );
    std::fs::write(&config, "bogus = 1\n").unwrap();
    let run = refund(&config, "{}");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("auditgate.toml") && run.stderr.contains("bogus"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_output_from_arguments_on_stdin_matches_the_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &example("finance-refunds"));
    let mut a = FINANCE.to_vec();
    a.extend(["--tool", "invoices_refund", "--args", "-", "--json"]);
    let run = explain(
        &config,
        &a,
        Some(r#"{"invoiceId": "i1", "amountCents": "500000", "reason": "dispute"}"#),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got: Value = serde_json::from_str(&run.stdout).unwrap();
    let golden = manifest().join("tests/golden/explain.json");
    let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    assert_eq!(
        text,
        std::fs::read_to_string(&golden).unwrap(),
        "explain --json changed; review and run with UPDATE_GOLDEN=1"
    );
    assert!(!run.stdout.contains("dispute"));
}

#[test]
fn a_data_tool_shows_the_data_tables_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &example("clinic-data"));
    let run = |role: &str, table: &str| {
        let args = format!(r#"{{"table": "{table}"}}"#);
        explain(
            &config,
            &[
                "--principal",
                "bot",
                "--role",
                role,
                "--tool",
                "convex_query_documents",
                "--args",
                &args,
            ],
            None,
        )
    };
    let refused = run("nurse", "patients");
    assert_eq!(refused.code, 0, "{}", refused.stderr);
    assert!(
        refused.stdout.contains(
            "[data] tables: table \"patients\": read no, write no; refused before any rule"
        ),
        "{}",
        refused.stdout
    );
    assert!(refused.stdout.contains("[data] tables decided first"));
    assert!(refused.stdout.contains("decision: blocked"));
    let read = run("clinician", "patients");
    assert!(
        read.stdout
            .contains("[data] tables: table \"patients\": read yes, write yes\n"),
        "{}",
        read.stdout
    );
    assert!(
        read.stdout.contains("audit result: **.ssn drop (policy)"),
        "{}",
        read.stdout
    );
}

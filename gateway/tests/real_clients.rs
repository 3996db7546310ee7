//! End to end with real MCP clients: Python `mcp` 2.x (legacy and auto modes) and the TypeScript
//! SDK (1.x legacy, 2.x auto) drive the `auditgate` binary over Streamable HTTP and over stdio
//! against the Convex test app; then each ledger verifies and holds exactly the expected
//! entries. Also the official conformance suite against `serve --http`.
//!
//! The clients come from `scripts/e2e-setup` (`target/e2e-env`); without it these tests skip,
//! unless `AUDITGATE_REQUIRE_E2E` is set (`scripts/test` sets it).
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support::gateway::{GatewayDir, kinds, spawn_http, terminate};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A client variant: which driver, with which flags.
#[derive(Debug, Clone, Copy)]
struct Variant {
    name: &'static str,
    python: bool,
    args: &'static [&'static str],
}

const VARIANTS: [Variant; 4] = [
    Variant {
        name: "python-legacy",
        python: true,
        args: &["--mode", "legacy"],
    },
    Variant {
        name: "python-auto",
        python: true,
        args: &["--mode", "auto"],
    },
    Variant {
        name: "ts-v1-legacy",
        python: false,
        args: &["--sdk", "v1", "--mode", "legacy"],
    },
    Variant {
        name: "ts-v2-auto",
        python: false,
        args: &["--sdk", "v2", "--mode", "auto"],
    },
];

fn driver(env: &BTreeMap<String, String>, v: Variant) -> Command {
    let e2e = repo().join("tests/e2e");
    let mut cmd = if v.python {
        let mut c = Command::new(&env["PYTHON"]);
        c.arg(e2e.join("client.py"));
        c
    } else {
        let mut c = Command::new(&env["NODE"]);
        c.arg(e2e.join("client.mjs"));
        c
    };
    cmd.args(v.args).args(["--timeout", "60"]);
    cmd
}

/// The scripted agent session: one step of every kind the gateway distinguishes.
fn script(seed: &Value) -> Value {
    let customer = &seed["customers"]["alice"];
    let invoice = &seed["invoices"]["alice"];
    json!([
        {"op": "list"},
        {"op": "call", "name": "customers_get", "arguments": {"id": customer}},
        {"op": "call", "name": "invoices_refund",
         "arguments": {"invoiceId": invoice, "amountCents": 100, "reason": "goodwill"}},
        {"op": "call", "name": "invoices_refund",
         "arguments": {"invoiceId": invoice, "amountCents": 50000, "reason": "dispute"}},
        {"op": "call", "name": "convex_delete_document",
         "arguments": {"table": "invoices", "id": invoice}},
        {"op": "call", "name": "diagnostics_crash", "arguments": {}},
        {"op": "call", "name": "invoices_refund", "arguments": {"invoiceId": invoice, "amountCents": "x"}},
        {"op": "call", "name": "no_such_tool", "arguments": {}},
        {"op": "ping"}
    ])
}

/// Checks one client transcript of [`script`].
fn check_transcript(name: &str, out: &Value) {
    let steps = out["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: {out}"));
    assert_eq!(steps.len(), 9, "{name}: {out}");
    let tools: Vec<&str> = steps[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(tools.contains(&"invoices_refund"), "{name}: {tools:?}");
    assert!(
        !tools.contains(&"convex_delete_document"),
        "{name}: blocked tools are hidden"
    );
    let result = |i: usize| &steps[i]["result"];
    let text = |i: usize| {
        result(i)["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    for (i, want_error) in [
        (1, false),
        (2, false),
        (3, true),
        (4, true),
        (5, true),
        (6, true),
    ] {
        assert_eq!(steps[i]["ok"], true, "{name} step {i}: {}", steps[i]);
        assert_eq!(
            result(i)["isError"],
            want_error,
            "{name} step {i}: {}",
            steps[i]
        );
    }
    assert!(
        !text(1).contains("DE123456789"),
        "{name}: tax id shown to the agent"
    );
    assert!(text(3).contains("lapsed (timeout)"), "{name}: {}", text(3));
    assert!(
        text(4).starts_with("Blocked by policy"),
        "{name}: {}",
        text(4)
    );
    assert!(text(5).contains("ledger seq"), "{name}: {}", text(5));
    assert!(text(6).contains("Invalid arguments"), "{name}: {}", text(6));
    assert_eq!(steps[7]["ok"], false, "{name}");
    assert_eq!(steps[7]["error"]["code"], -32602, "{name}: {}", steps[7]);
    assert_eq!(steps[8]["ok"], true, "{name}");
}

/// Checks a ledger holding exactly one session of [`script`].
fn check_ledger(name: &str, dir: &GatewayDir, transport: &str) {
    dir.verify();
    let entries = dir.entries();
    let sessions: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "session.open")
        .collect();
    assert_eq!(sessions.len(), 1, "{name}: {:?}", kinds(&entries));
    let session = sessions[0]["session"].as_str().unwrap();
    assert_eq!(sessions[0]["principal"], "alice");
    assert_eq!(sessions[0]["transport"], transport);
    let mine: Vec<&Value> = entries.iter().filter(|e| e["session"] == session).collect();
    let dispositions: Vec<&str> = mine
        .iter()
        .filter(|e| e["kind"] == "call.request")
        .map(|e| e["disposition"].as_str().unwrap())
        .collect();
    assert_eq!(
        dispositions,
        [
            "forward",
            "forward",
            "approval_pending",
            "blocked",
            "forward",
            "invalid_args",
            "unknown_tool"
        ],
        "{name}"
    );
    let outcomes: Vec<&str> = mine
        .iter()
        .filter(|e| e["kind"] == "call.result")
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["ok", "ok", "tool_error"], "{name}");
    assert!(mine.iter().any(|e| e["kind"] == "tools.listed"), "{name}");
    let close: Vec<&&Value> = mine
        .iter()
        .filter(|e| e["kind"] == "session.close")
        .collect();
    assert_eq!(close.len(), 1, "{name}: the session was closed once");
    let want = if transport == "http" { "delete" } else { "eof" };
    assert_eq!(close[0]["reason"], want, "{name}");
    let stops = kinds(&entries)
        .iter()
        .filter(|k| **k == "gateway.stop")
        .count();
    let starts = kinds(&entries)
        .iter()
        .filter(|k| **k == "gateway.start")
        .count();
    assert_eq!(starts, stops, "{name}: every run ended cleanly");
}

fn run_driver(mut cmd: Command, name: &str) -> Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{name}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn real_clients_over_streamable_http() {
    let Some(env) = support::e2e::env() else {
        return;
    };
    let app = app_or_skip!();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seed = rt.block_on(app.seed());
    let script_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script_file.path(), script(&seed).to_string()).unwrap();
    for v in VARIANTS {
        let dir = GatewayDir::new(&app.url);
        let (child, url) = spawn_http(&dir);
        let mut cmd = driver(&env, v);
        cmd.args([
            "--transport",
            "http",
            "--url",
            &url,
            "--token-env",
            "AG_E2E_TOKEN",
            "--script",
        ])
        .arg(script_file.path())
        .env("AG_E2E_TOKEN", dir.token("alice"));
        let out = run_driver(cmd, v.name);
        check_transcript(v.name, &out);
        terminate(child);
        check_ledger(v.name, &dir, "http");
    }
}

#[test]
fn real_clients_over_stdio() {
    let Some(env) = support::e2e::env() else {
        return;
    };
    let app = app_or_skip!();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seed = rt.block_on(app.seed());
    let script_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script_file.path(), script(&seed).to_string()).unwrap();
    for v in VARIANTS {
        let dir = GatewayDir::new(&app.url);
        let mut cmd = driver(&env, v);
        cmd.args(["--transport", "stdio", "--script"])
            .arg(script_file.path())
            .env("AUDITGATE_TOKEN", dir.token("alice"))
            .env("AUDITGATE_LOG", "warn")
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_auditgate"))
            .args(["serve", "--stdio", "--config"])
            .arg(dir.config_path());
        let out = run_driver(cmd, v.name);
        check_transcript(v.name, &out);
        check_ledger(v.name, &dir, "stdio");
    }
}

#[test]
fn official_conformance_suite_against_serve_http() {
    let Some(env) = support::e2e::env() else {
        return;
    };
    let dir = GatewayDir::offline("");
    let (child, url) = spawn_http(&dir);
    let out = Command::new("bash")
        .arg(repo().join("tests/e2e/conformance.sh"))
        .arg(&url)
        .args(["--token-env", "AG_CONFORMANCE_TOKEN", "--output-dir"])
        .arg(dir.path().join("conformance"))
        .env("AG_CONFORMANCE_TOKEN", dir.token("carol"))
        .env("NODE24", &env["NODE24"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for scenario in [
        "server-initialize",
        "ping",
        "tools-list",
        "resources-list",
        "prompts-list",
        "server-sse-multiple-streams",
        "dns-rebinding-protection",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!(" {scenario}:")))
            .unwrap_or_else(|| panic!("{scenario} did not run:\n{stdout}"));
        assert!(line.contains('✓'), "{line}");
    }
    terminate(child);
    dir.verify();
}

/// `auditgate approvals …` against `base` as the `ops` admin key.
fn approvals_cli(dir: &GatewayDir, base: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_auditgate"))
        .arg("approvals")
        .args(args)
        .args(["--url", base])
        .env("AUDITGATE_ADMIN_TOKEN", dir.token("ops"))
        .output()
        .unwrap()
}

/// Polls `approvals list --json` until one approval is pending; returns its id.
fn wait_pending(dir: &GatewayDir, base: &str) -> String {
    for _ in 0..600 {
        let out = approvals_cli(dir, base, &["list", "--json"]);
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            if let Some(id) = v["pending"][0]["id"].as_str() {
                return id.to_string();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no approval became pending");
}

/// A port that was free a moment ago (for `serve --stdio --admin`).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn human_approval_with_real_clients_over_http_and_stdio() {
    let Some(env) = support::e2e::env() else {
        return;
    };
    let app = app_or_skip!();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seed = rt.block_on(app.seed());
    let script_file = tempfile::NamedTempFile::new().unwrap();
    let refund = |invoice: &Value| {
        json!([{"op": "call", "name": "invoices_refund",
                "arguments": {"invoiceId": invoice, "amountCents": 11000, "reason": "damaged"}}])
    };

    // HTTP, Python client: approved by dana through the CLI; the call proceeds.
    std::fs::write(
        script_file.path(),
        refund(&seed["invoices"]["alice"]).to_string(),
    )
    .unwrap();
    let dir = GatewayDir::with_timeout(&app.url, "", "60s");
    let (gateway, url) = spawn_http(&dir);
    let base = url.trim_end_matches("/mcp").to_string();
    let mut cmd = driver(&env, VARIANTS[0]);
    cmd.args([
        "--transport",
        "http",
        "--url",
        &url,
        "--token-env",
        "AG_E2E_TOKEN",
        "--script",
    ])
    .arg(script_file.path())
    .env("AG_E2E_TOKEN", dir.token("alice"))
    .stdout(Stdio::piped());
    let client = cmd.spawn().unwrap();
    let id = wait_pending(&dir, &base);
    let key = dir.path().join("approvers/dana.key");
    let out = approvals_cli(
        &dir,
        &base,
        &["approve", &id, "--key", key.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("state approved"));
    let transcript: Value =
        serde_json::from_slice(&client.wait_with_output().unwrap().stdout).unwrap();
    let result = &transcript["steps"][0]["result"];
    assert_eq!(result["isError"], false, "{transcript}");
    terminate(gateway);
    dir.verify();
    let kinds_http = kinds(&dir.entries()).join(" ");
    assert!(
        kinds_http.contains("call.request approval.granted call.result"),
        "{kinds_http}"
    );

    // HTTP, TypeScript client: denied; the agent sees the reason.
    std::fs::write(
        script_file.path(),
        refund(&seed["invoices"]["bob"]).to_string(),
    )
    .unwrap();
    let dir = GatewayDir::with_timeout(&app.url, "", "60s");
    let (gateway, url) = spawn_http(&dir);
    let base = url.trim_end_matches("/mcp").to_string();
    let mut cmd = driver(&env, VARIANTS[2]);
    cmd.args([
        "--transport",
        "http",
        "--url",
        &url,
        "--token-env",
        "AG_E2E_TOKEN",
        "--script",
    ])
    .arg(script_file.path())
    .env("AG_E2E_TOKEN", dir.token("alice"))
    .stdout(Stdio::piped());
    let client = cmd.spawn().unwrap();
    let id = wait_pending(&dir, &base);
    let key = dir.path().join("approvers/erin.key");
    let out = approvals_cli(
        &dir,
        &base,
        &[
            "deny",
            &id,
            "--key",
            key.to_str().unwrap(),
            "--reason",
            "duplicate refund",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let transcript: Value =
        serde_json::from_slice(&client.wait_with_output().unwrap().stdout).unwrap();
    let result = &transcript["steps"][0]["result"];
    assert_eq!(result["isError"], true, "{transcript}");
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("duplicate refund")
    );
    terminate(gateway);
    dir.verify();

    // stdio, Python client: the operator API on --admin; approved; the call proceeds (on a
    // freshly seeded app: the first refund used up alice's invoice).
    let seed: Value = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/_test/reset", app.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    std::fs::write(
        script_file.path(),
        refund(&seed["invoices"]["alice"]).to_string(),
    )
    .unwrap();
    let dir = GatewayDir::with_timeout(&app.url, "", "60s");
    let admin = format!("127.0.0.1:{}", free_port());
    let mut cmd = driver(&env, VARIANTS[1]);
    cmd.args(["--transport", "stdio", "--script"])
        .arg(script_file.path())
        .env("AUDITGATE_TOKEN", dir.token("alice"))
        .env("AUDITGATE_LOG", "warn")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_auditgate"))
        .args(["serve", "--stdio", "--admin", &admin, "--config"])
        .arg(dir.config_path())
        .stdout(Stdio::piped());
    let client = cmd.spawn().unwrap();
    let base = format!("http://{admin}");
    let id = wait_pending(&dir, &base);
    let key = dir.path().join("approvers/dana.key");
    let out = approvals_cli(
        &dir,
        &base,
        &["approve", &id, "--key", key.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let transcript: Value =
        serde_json::from_slice(&client.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(
        transcript["steps"][0]["result"]["isError"], false,
        "{transcript}"
    );
    dir.verify();
    let entries = dir.entries();
    let granted = entries
        .iter()
        .find(|e| e["kind"] == "approval.granted")
        .unwrap();
    assert_eq!(granted["approver"], "dana");
}

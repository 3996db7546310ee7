//! The `auditgate` binary, black box: `serve --stdio` sessions (token from the environment,
//! never argv), `init`, `check-config`, `keys`, `status` and `client-config`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use support::gateway::{GatewayDir, kinds};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_auditgate"));
    c.env_remove("AUDITGATE_TOKEN").env("AUDITGATE_LOG", "warn");
    c
}

/// Runs `serve --stdio` with `lines` on stdin (then EOF).
fn stdio_session(dir: &GatewayDir, token: Option<&str>, lines: &[Value]) -> Output {
    stdio_session_with(dir, &[], token, lines)
}

/// [`stdio_session`] with more `serve` arguments.
fn stdio_session_with(
    dir: &GatewayDir,
    extra: &[&str],
    token: Option<&str>,
    lines: &[Value],
) -> Output {
    let mut cmd = bin();
    cmd.args(["serve", "--stdio", "--config"])
        .arg(dir.config_path())
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = token {
        cmd.env("AUDITGATE_TOKEN", t);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn responses(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn init_line() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "cli-test", "version": "1"}}})
}

#[test]
fn stdio_session_with_a_token_from_the_environment() {
    let app = app_or_skip!();
    let dir = GatewayDir::new(&app.url);
    let out = stdio_session(
        &dir,
        Some(&dir.token("carol")),
        &[
            init_line(),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                   "params": {"name": "diagnostics_whoami", "arguments": {}}}),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replies = responses(&out);
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert_eq!(replies[0]["result"]["protocolVersion"], "2025-11-25");
    let who = &replies[2]["result"];
    assert_eq!(who["isError"], false, "{who}");
    let identity: Value =
        serde_json::from_str(who["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(identity["subject"], "carol", "Convex sees the caller");
    let entries = dir.entries();
    let all = kinds(&entries);
    assert_eq!(
        all[1..5],
        [
            "gateway.start",
            "policy.loaded",
            "catalog.loaded",
            "session.open"
        ]
    );
    // Requests after initialize run concurrently: list and call may be recorded in either order.
    let mut middle = all[5..8].to_vec();
    middle.sort_unstable();
    assert_eq!(middle, ["call.request", "call.result", "tools.listed"]);
    assert_eq!(all[8..], ["session.close", "gateway.stop"]);
    let open = &entries[4];
    assert_eq!(open["principal"], "carol");
    assert_eq!(open["auth"], "api_key");
    assert_eq!(open["transport"], "stdio");
    assert_eq!(open["client"]["name"], "cli-test");
    assert_eq!(entries[8]["reason"], "eof");
    assert_eq!(entries[9]["reason"], "eof");
    dir.verify();
}

#[test]
fn stdio_without_a_token_uses_the_configured_local_principal() {
    let dir = GatewayDir::offline("");
    let out = stdio_session(
        &dir,
        None,
        &[
            init_line(),
            json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
        ],
    );
    assert!(out.status.success());
    assert_eq!(responses(&out)[1]["result"], json!({}));
    let entries = dir.entries();
    let open = entries
        .iter()
        .find(|e| e["kind"] == "session.open")
        .unwrap();
    assert_eq!(open["principal"], "local-analyst");
    assert_eq!(open["auth"], "local");
}

#[test]
fn a_refused_stdio_token_serves_nothing_and_is_recorded() {
    let dir = GatewayDir::offline("");
    let out = stdio_session(&dir, Some(&dir.token("mallory")), &[init_line()]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("refused (revoked)"), "{stderr}");
    let entries = dir.entries();
    let refused = entries
        .iter()
        .find(|e| e["kind"] == "auth.refused")
        .unwrap();
    assert_eq!(refused["reason"], "revoked");
    assert!(!stderr.contains(&dir.token("mallory")));
}

#[test]
fn a_token_in_argv_is_refused_before_anything_starts() {
    let dir = GatewayDir::offline("");
    let token = dir.token("alice");
    let out = bin()
        .args(["serve", "--stdio", "--config"])
        .arg(dir.config_path())
        .arg(&token)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("refusing to start"), "{stderr}");
    assert!(stderr.contains("environment variable"), "{stderr}");
    assert!(!stderr.contains(&token), "the error repeats the secret");
    assert!(!dir.ledger_dir().exists(), "nothing ran");
}

#[test]
fn init_check_config_keys_status_and_client_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gw");
    let out = bin()
        .args(["init", "--dir"])
        .arg(&dir)
        .args([
            "--convex-url",
            "http://127.0.0.1:9",
            "--deploy-key-env",
            "AG_TEST_DEPLOY_KEY",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("Next steps"), "{stdout}");
    use std::os::unix::fs::PermissionsExt as _;
    for secret in ["keys/ledger.key", "keys/commit.key"] {
        let mode = std::fs::metadata(dir.join(secret))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{secret}");
    }
    // Init never overwrites.
    let again = bin().args(["init", "--dir"]).arg(&dir).output().unwrap();
    assert!(!again.status.success());

    // Point the catalog at the committed spec so no deployment is needed.
    let config = dir.join("auditgate.toml");
    let spec = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/function-spec.json");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "# spec_file = \"function-spec.json\"",
        &format!("spec_file = {:?}\n#", spec.display().to_string()),
    );
    std::fs::write(&config, text).unwrap();
    let check = bin()
        .args(["check-config", "--config"])
        .arg(&config)
        .env("AG_TEST_DEPLOY_KEY", "dev:test|secret")
        .output()
        .unwrap();
    let report = String::from_utf8(check.stdout).unwrap();
    assert!(check.status.success(), "{report}");
    assert!(report.contains("all checks passed"));
    // Without the deploy key, check-config says so and fails.
    let check = bin()
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(
        String::from_utf8(check.stdout)
            .unwrap()
            .contains("deploy key  FAILED")
    );

    // Keys: the token is printed once, stored only as a hash, listed without it, revocable.
    let created = bin()
        .args(["keys", "create", "--config"])
        .arg(&config)
        .args([
            "--principal",
            "ci-bot",
            "--roles",
            "analyst,reader",
            "--expires",
            "30d",
        ])
        .output()
        .unwrap();
    assert!(created.status.success());
    let token = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.starts_with("agk_"));
    let stored = std::fs::read_to_string(dir.join("api-keys.json")).unwrap();
    assert!(!stored.contains(&token));
    let listed = bin()
        .args(["keys", "list", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("ci-bot") && listed.contains("active") && !listed.contains(&token));
    let id = token.split('_').nth(1).unwrap();
    let revoked = bin()
        .args(["keys", "revoke", "--config"])
        .arg(&config)
        .arg(id)
        .output()
        .unwrap();
    assert!(revoked.status.success());
    let listed = bin()
        .args(["keys", "list", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        String::from_utf8(listed.stdout)
            .unwrap()
            .contains("revoked")
    );

    // A short stdio session, then status reads the ledger.
    let mut child = bin()
        .args(["serve", "--stdio", "--config"])
        .arg(&config)
        .env("AG_TEST_DEPLOY_KEY", "dev:test|secret")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.as_mut().unwrap(), "{}", init_line()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait_with_output().unwrap().status.success());
    let status = bin()
        .args(["status", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["open_sessions"], 0);
    assert_eq!(status["gateway_running"], false);
    assert!(status["entries"].as_u64().unwrap() >= 7);

    // Client configs: valid JSON (TOML for Codex), the token only as a reference.
    for client in ["claude-code", "claude-desktop"] {
        let out = bin()
            .args(["client-config", client, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(out.status.success());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let server = &v["mcpServers"]["auditgate"];
        assert_eq!(server["args"][0], "serve");
        assert_eq!(server["args"][1], "--stdio");
        // Stdio clients launch with writes denied unless asked otherwise.
        assert_eq!(server["args"][4], "--write=deny");
    }
    let out = bin()
        .args(["client-config", "claude-code", "--write", "ask", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mcpServers"]["auditgate"]["args"][4], "--write=ask");
    let out = bin()
        .args([
            "client-config",
            "claude-code",
            "--url",
            "http://127.0.0.1:8080/mcp",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["mcpServers"]["auditgate"]["headers"]["Authorization"],
        "Bearer ${AUDITGATE_TOKEN}"
    );
    let out = bin()
        .args(["client-config", "codex", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let codex = String::from_utf8(out.stdout).unwrap();
    assert!(
        codex.contains("[mcp_servers.auditgate]")
            && codex.contains("env_vars = [\"AUDITGATE_TOKEN\"]")
            && codex.contains("\"--write=deny\"]"),
        "{codex}"
    );
}

#[test]
fn stdio_protocol_errors_are_answered_and_recorded() {
    let dir = GatewayDir::offline("");
    let lines = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}), // before initialize
        init_line(),
        json!({"jsonrpc": "2.0", "id": 3, "method": "no/such/method"}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}}),
    ];
    let mut cmd = bin();
    cmd.args(["serve", "--stdio", "--config"])
        .arg(dir.config_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", lines[0]).unwrap();
    writeln!(stdin, "{{not json").unwrap();
    writeln!(stdin, "[1, 2]").unwrap();
    writeln!(
        stdin,
        "{{\"jsonrpc\": \"1.0\", \"id\": 9, \"method\": \"ping\"}}"
    )
    .unwrap();
    for l in &lines[1..] {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let replies = responses(&out);
    // Requests run concurrently, so replies may come in any order: compare them by id.
    let mut by_id: Vec<(String, i64)> = replies
        .iter()
        .map(|r| {
            (
                r["id"].to_string(),
                r["error"]["code"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    by_id.sort();
    // not initialized (1), initialize ok (1), unknown method (3), initialize again (4), wrong
    // jsonrpc version with its id echoed (9), parse error and batch (no id: null).
    let mut want: Vec<(String, i64)> = vec![
        ("1".into(), -32600),
        ("1".into(), 0),
        ("3".into(), -32601),
        ("4".into(), -32600),
        ("9".into(), -32600),
        ("null".into(), -32700),
        ("null".into(), -32600),
    ];
    want.sort();
    assert_eq!(by_id, want, "{replies:?}");
    let entries = dir.entries();
    let recorded: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "protocol.error")
        .collect();
    assert_eq!(recorded.len(), 6);
    assert!(
        recorded
            .iter()
            .any(|e| e["bytes"] == 9 && e["code"] == -32700),
        "{recorded:?}"
    );
    dir.verify();
}

/// `serve --write=deny` lowers the policy's `write = "allow"` for this process: writes are
/// hidden from `tools/list` and refused, with the flag named as the reason, and `gateway.start`
/// records it. `--write=allow` does not raise anything.
#[test]
fn serve_write_lowers_the_policy_ceiling_for_the_process() {
    let dir = GatewayDir::offline("");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let refund = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "invoices_refund", "arguments": {"invoiceId": "x", "amountCents": 100, "reason": "r"}}});
    let names = |reply: &Value| -> Vec<String> {
        reply["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    let alice = dir.token("alice");
    let lines = [init_line(), list.clone(), refund.clone()];
    let out = stdio_session_with(&dir, &["--write=deny"], Some(&alice), &lines);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replies = responses(&out);
    assert!(
        !names(&replies[1]).contains(&"invoices_refund".to_string()),
        "{:?}",
        names(&replies[1])
    );
    assert!(names(&replies[1]).contains(&"invoices_listMine".to_string()));
    let text = replies[2]["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    assert_eq!(replies[2]["result"]["isError"], true, "{}", replies[2]);
    let entries = dir.entries();
    let start = entries
        .iter()
        .find(|e| e["kind"] == "gateway.start")
        .unwrap();
    assert_eq!(start["write_limit"], "deny");
    let request = entries
        .iter()
        .find(|e| e["kind"] == "call.request")
        .unwrap();
    assert_eq!(request["decision"]["tier"], "blocked");
    let reason = request["decision"]["reason"].as_str().unwrap();
    assert!(
        reason.ends_with("; capped by serve --write=deny"),
        "{reason}"
    );
    assert!(!text.contains("taxId"), "{text}");

    let out = stdio_session_with(&dir, &["--write=allow"], Some(&alice), &[init_line(), list]);
    assert!(out.status.success());
    let replies = responses(&out);
    let listed = replies.iter().find(|r| r["id"] == 2).unwrap();
    assert!(names(listed).contains(&"invoices_refund".to_string()));
    let entries = dir.entries();
    let starts: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "gateway.start")
        .collect();
    assert_eq!(starts[1]["write_limit"], "allow");

    let out = stdio_session_with(&dir, &["--write=maybe"], Some(&alice), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected deny, ask or allow"));
}

/// `[catalog] tool_prefix`: clients list and call the prefixed names (the names KosmoKrator users
/// know); the policy, per-tool rate limits and the ledger keep the catalog names.
#[test]
fn a_tool_prefix_is_what_clients_call_and_only_that() {
    let app = app_or_skip!();
    let dir = GatewayDir::with_extra(
        &app.url,
        "\n[catalog]\ntool_prefix = \"integration__convex__\"\n\n[rate_limits]\nper_tool.\"diagnostics_whoami\" = { rate = 0.001, burst = 1 }\n",
    );
    let call = |id: u64, name: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": name, "arguments": {"value": "hello"}}})
    };
    let whoami = |id: u64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "integration__convex__diagnostics_whoami", "arguments": {}}})
    };
    let lines = [
        init_line(),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        call(3, "integration__convex__diagnostics_echo"),
        call(4, "diagnostics_echo"),
        whoami(5),
        whoami(6),
    ];
    let out = stdio_session(&dir, Some(&dir.token("carol")), &lines);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replies = responses(&out);
    let reply = |id: u64| replies.iter().find(|r| r["id"] == id).unwrap().clone();
    let listed: Vec<String> = reply(2)["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        listed
            .iter()
            .all(|n| n.starts_with("integration__convex__")),
        "{listed:?}"
    );
    assert!(listed.contains(&"integration__convex__convex_list_tables".to_string()));
    assert_eq!(
        reply(3)["result"]["content"][0]["text"],
        "\"hello\"",
        "{}",
        reply(3)
    );
    assert_eq!(
        reply(4)["error"]["code"],
        -32602,
        "only listed names can be called"
    );
    // The per-tool limit names the tool without the prefix, and holds.
    let limited = [reply(5), reply(6)]
        .iter()
        .filter(|r| r.to_string().contains("Rate limited"))
        .count();
    assert_eq!(limited, 1, "{replies:?}");

    let entries = dir.entries();
    let start = entries
        .iter()
        .find(|e| e["kind"] == "gateway.start")
        .unwrap();
    assert_eq!(start["tool_prefix"], "integration__convex__");
    let tools: Vec<&str> = entries
        .iter()
        .filter(|e| e["kind"] == "call.request")
        .map(|e| e["tool"].as_str().unwrap())
        .collect();
    assert!(tools.contains(&"diagnostics_echo"), "{tools:?}");
    assert!(
        tools.contains(&"diagnostics_echo")
            && !tools.iter().any(|t| t.starts_with("integration__")),
        "the ledger names catalog tools without the prefix (an unknown name as called): {tools:?}"
    );
    dir.verify();
}

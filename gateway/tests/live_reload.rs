//! Live catalog and policy (docs/operations.md, "Reload"; docs/audit-events.md §1.1), through
//! the real `auditgate` binary in front of the Convex test app: a function pushed to the
//! deployment while the gateway serves appears without a restart (by the poll, by
//! `POST /admin/reload`, by SIGHUP), sessions are told (`notifications/tools/list_changed` on
//! stdio and on the HTTP GET stream), stale cursors are refused, the ledger records
//! `catalog.changed` / `policy.changed` / `policy.rejected` and verifies, a broken policy keeps
//! the old one, and a call in flight finishes under the snapshot it was decided with.
#![allow(clippy::unwrap_used, reason = "tests")]

mod campaign;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use auditgate::approvals::{PendingInfo, Verdict};
use auditgate_ledger::SigningKey;
use base64::Engine as _;
use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, gateway_bin, of_kind, spawn_http, terminate, text};

/// A module the tests push: one public query, `live:hello`.
const LIVE_MODULE: &str = r#"import { query } from "./_generated/server";
import { v } from "convex/values";

export const hello = query({
  args: { name: v.string() },
  returns: v.string(),
  handler: async (_ctx, { name }) => `hello ${name}`,
});
"#;

/// A rule letting analysts and finance run the pushed module's queries.
const LIVE_RULE: &str = r#"
[[rules]]
id = "live-reads"
match.function = ["live:*"]
match.roles = ["analyst", "finance"]
tier = "allow"
"#;

/// A rule, put first, that blocks `diagnostics:echo`.
const ECHO_OFF: &str = r#"[[rules]]
id = "echo-off"
match.function = ["diagnostics:echo"]
tier = "blocked"

"#;

/// A gateway folder on `app` with the live rule and `catalog` as its `[catalog]` table.
fn gateway_dir(app: &support::TestApp, catalog: &str) -> GatewayDir {
    // Approvals wait long enough for a reload to happen while one is pending.
    let dir = GatewayDir::with_timeout(&app.url, &format!("\n[catalog]\n{catalog}\n"), "60s");
    let policy = dir.path().join("policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, format!("{text}{LIVE_RULE}")).unwrap();
    dir
}

/// Puts `rule` before the policy's first rule and returns the new policy text.
fn prepend_rule(dir: &GatewayDir, rule: &str) -> String {
    let policy = dir.path().join("policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    let at = text.find("[[rules]]").unwrap();
    let new = format!("{}{rule}{}", &text[..at], &text[at..]);
    std::fs::write(&policy, &new).unwrap();
    new
}

/// One JSON-RPC line to a stdio gateway.
fn send(stdin: &mut std::process::ChildStdin, message: Value) {
    writeln!(stdin, "{message}").unwrap();
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig}");
}

/// Waits (up to 20 s, polling) until the ledger holds `n` entries of `kind`; returns them.
async fn await_entries(dir: &GatewayDir, kind: &str, n: usize) -> Vec<Value> {
    for _ in 0..400 {
        let entries = dir.entries();
        let found: Vec<Value> = of_kind(&entries, kind).into_iter().cloned().collect();
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {n} {kind} entries appeared");
}

fn admin_base(mcp_url: &str) -> String {
    mcp_url.trim_end_matches("/mcp").to_string()
}

/// `POST /admin/reload` as `token`.
async fn admin_reload(base: &str, token: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/admin/reload"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The session's GET stream; `next_notice` reads it until a `list_changed` arrives.
async fn open_stream(mcp: &Mcp) -> reqwest::Response {
    let r = mcp
        .http
        .get(&mcp.url)
        .header("accept", "text/event-stream")
        .bearer_auth(mcp.token.as_ref().unwrap())
        .header("mcp-session-id", mcp.session.as_ref().unwrap())
        .header("mcp-protocol-version", &mcp.version)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r
}

async fn next_notice(stream: &mut reqwest::Response) -> Value {
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(v) = text
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .find(|v| v["method"] == "notifications/tools/list_changed")
            {
                return v;
            }
        }
        panic!("the GET stream ended without a notice: {text}");
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("notifications/tools/list_changed within 20 s")
}

/// The ledger verifies with the `auditgate-verify` binary and its gateway rules hold.
fn assert_verifies(dir: &GatewayDir) {
    campaign::assert_verifies(dir, "after the reload");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_function_appears_by_the_poll_and_sessions_are_told() {
    let app = app_or_skip!();
    let dir = gateway_dir(&app, "poll_interval = \"200ms\"");
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.config_path())
        .unwrap()
        .write_all(b"\n[server]\npage_size = 4\n")
        .unwrap();
    let (child, url) = spawn_http(&dir);
    let mut mcp = Mcp::new(&url, Some(dir.token("carol")));
    mcp.initialize().await;
    let mut stream = open_stream(&mcp).await;
    let first = mcp.request("tools/list", json!({})).await;
    let cursor = first["result"]["nextCursor"].as_str().unwrap().to_string();
    assert!(!mcp.tool_names().await.contains(&"live_hello".to_string()));

    let pushed = app.push(json!({"live.ts": LIVE_MODULE})).await;
    assert!(
        pushed["functions"].to_string().contains("live.js:hello"),
        "{pushed}"
    );
    let notice = next_notice(&mut stream).await;
    assert!(notice.get("id").is_none(), "a notification: {notice}");

    // A cursor of the old catalog does not page into the new one.
    let stale = mcp.request("tools/list", json!({"cursor": cursor})).await;
    assert_eq!(stale["error"]["code"], -32602, "{stale}");
    assert!(mcp.tool_names().await.contains(&"live_hello".to_string()));
    let result = mcp.call("live_hello", json!({"name": "ada"})).await;
    assert_eq!(result["isError"], false, "{result}");
    assert!(text(&result).contains("hello ada"), "{result}");
    terminate(child);

    let entries = dir.entries();
    let loaded = of_kind(&entries, "catalog.loaded")[0]["catalog_hash"].clone();
    let changed = of_kind(&entries, "catalog.changed");
    assert_eq!(
        changed.len(),
        1,
        "polls that find nothing new write nothing"
    );
    let c = changed[0];
    assert_eq!(c["old_catalog_hash"], loaded);
    assert_ne!(c["catalog_hash"], loaded);
    assert_eq!(c["added"], json!(["live_hello"]));
    assert_eq!(c["removed"], json!([]));
    assert_eq!(c["trigger"], "poll");
    assert!(c["tools"].to_string().contains("live:hello"));
    let after: Vec<&Value> = entries
        .iter()
        .filter(|e| e["seq"].as_u64() > c["seq"].as_u64())
        .filter(|e| e["kind"] == "tools.listed" || e["kind"] == "call.request")
        .collect();
    assert!(!after.is_empty());
    for e in after {
        assert_eq!(e["catalog_hash"], c["catalog_hash"], "{e}");
    }
    assert_verifies(&dir);

    // The forensic commands read the reloaded catalog: what-if re-decides the call to the pushed
    // tool under the policy without its rule, and the session's replay shows it.
    let key = dir.verifier_key.to_string();
    let base_policy =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(support::gateway::POLICY);
    let out = Command::new(campaign::verifier_bin())
        .arg("what-if")
        .arg(dir.ledger_dir())
        .args(["--pubkey", &key, "--json", "--policy"])
        .arg(&base_policy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let to_blocked = v["changed"].as_array().unwrap().iter().any(|f| {
        f["type"] == "call"
            && f["subject"] == "live_hello"
            && f["after"].to_string().contains("blocked")
    });
    assert!(to_blocked, "{v}");
    let out = Command::new(campaign::verifier_bin())
        .arg("replay")
        .arg(dir.ledger_dir())
        .args([
            "--pubkey",
            &key,
            "--session",
            mcp.session.as_deref().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("live_hello"));
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_reload_picks_up_a_push_and_a_second_one_changes_nothing() {
    let app = app_or_skip!();
    let dir = gateway_dir(&app, "poll_interval = \"off\"");
    let (child, url) = spawn_http(&dir);
    let base = admin_base(&url);
    let mut mcp = Mcp::new(&url, Some(dir.token("carol")));
    mcp.initialize().await;
    app.push(json!({"live.ts": LIVE_MODULE})).await;
    assert!(!mcp.tool_names().await.contains(&"live_hello".to_string()));

    let (status, body) = admin_reload(&base, &dir.token("carol")).await;
    assert_eq!(status, 403, "only operators reload: {body}");
    let (status, body) = admin_reload(&base, &dir.token("ops")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["catalog"]["status"], "changed", "{body}");
    assert_eq!(body["policy"]["status"], "unchanged", "{body}");
    assert!(mcp.tool_names().await.contains(&"live_hello".to_string()));
    let before = dir.entries().len();
    let (status, body) = admin_reload(&base, &dir.token("ops")).await;
    assert_eq!(
        (status, &body["catalog"]["status"]),
        (200, &json!("unchanged"))
    );
    assert_eq!(
        dir.entries().len(),
        before,
        "a reload that changes nothing records nothing"
    );
    terminate(child);

    let entries = dir.entries();
    let changed = of_kind(&entries, "catalog.changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["trigger"], "admin");
    let refused = of_kind(&entries, "request.refused");
    assert!(refused.iter().any(|r| r["reason"] == "not_admin"));
    assert_verifies(&dir);
}

/// A spec that builds no catalog (two functions that get one tool name) keeps the old one.
#[tokio::test(flavor = "multi_thread")]
async fn a_spec_that_builds_no_catalog_keeps_the_old_one_and_is_recorded() {
    let app = app_or_skip!();
    let dir = gateway_dir(&app, "poll_interval = \"off\"");
    let (child, url) = spawn_http(&dir);
    let base = admin_base(&url);
    let query = |name: &str| {
        format!(
            "import {{ query }} from \"./_generated/server\";\n\
             export const {name} = query({{ args: {{}}, handler: async () => 1 }});\n"
        )
    };
    app.push(json!({"dup.ts": query("x_y"), "dup_x.ts": query("y")}))
        .await;
    let (status, body) = admin_reload(&base, &dir.token("ops")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["catalog"]["status"], "rejected", "{body}");
    assert!(
        body["catalog"]["reason"].to_string().contains("dup_x_y"),
        "{body}"
    );
    let mut mcp = Mcp::new(&url, Some(dir.token("carol")));
    mcp.initialize().await;
    assert!(
        mcp.tool_names()
            .await
            .contains(&"diagnostics_echo".to_string())
    );
    terminate(child);

    let entries = dir.entries();
    assert!(of_kind(&entries, "catalog.changed").is_empty());
    let rejected = of_kind(&entries, "catalog.rejected");
    assert_eq!(rejected.len(), 1);
    let loaded = of_kind(&entries, "catalog.loaded")[0];
    assert_eq!(rejected[0]["catalog_hash"], loaded["catalog_hash"]);
    assert_eq!(rejected[0]["trigger"], "admin");
    assert_verifies(&dir);
}

/// `serve --stdio`: SIGHUP reloads, the session gets the notice on stdout.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_a_stdio_gateway_and_its_session_is_told() {
    let app = app_or_skip!();
    let dir = gateway_dir(&app, "poll_interval = \"off\"");
    let mut child = Command::new(gateway_bin())
        .args(["serve", "--stdio", "--config"])
        .arg(dir.config_path())
        .env("AUDITGATE_LOG", "warn")
        .env_remove("AUDITGATE_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(serde_json::from_str(&line).unwrap());
        }
    });
    let recv = |what: &str| {
        rx.recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no {what}"))
    };
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "rust-test", "version": "1"}}}),
    );
    let init = recv("initialize result");
    assert_eq!(init["result"]["capabilities"]["tools"]["listChanged"], true);
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );

    app.push(json!({"live.ts": LIVE_MODULE})).await;
    signal(&child, "-HUP");
    let notice = recv("notice");
    assert_eq!(
        notice["method"], "notifications/tools/list_changed",
        "{notice}"
    );
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}),
    );
    let list = recv("tools/list");
    assert!(list.to_string().contains("\"live_hello\""), "{list}");
    drop(stdin);
    assert!(child.wait().unwrap().success());

    let entries = dir.entries();
    assert_eq!(of_kind(&entries, "catalog.changed")[0]["trigger"], "sighup");
    assert_verifies(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_change_on_sighup_takes_effect_and_a_broken_one_is_kept_out() {
    let app = app_or_skip!();
    let dir = gateway_dir(&app, "poll_interval = \"off\"");
    let (child, url) = spawn_http(&dir);
    let mut mcp = Mcp::new(&url, Some(dir.token("carol")));
    mcp.initialize().await;
    assert!(
        mcp.tool_names()
            .await
            .contains(&"diagnostics_echo".to_string())
    );

    let new_text = prepend_rule(&dir, ECHO_OFF);
    signal(&child, "-HUP");
    let changed = await_entries(&dir, "policy.changed", 1).await;
    assert!(
        !mcp.tool_names()
            .await
            .contains(&"diagnostics_echo".to_string())
    );
    let refused = mcp.call("diagnostics_echo", json!({"value": 1})).await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(text(&refused).contains("Blocked by policy"), "{refused}");

    // A broken policy: the one in force stays, the rejection is recorded without the text.
    let policy = dir.path().join("policy.toml");
    let broken = new_text.replace(
        "id = \"echo-off\"",
        "id = \"echo-off\"\ndescription = \"MARKER-7f3a\"\nbogus = 1",
    );
    std::fs::write(&policy, broken).unwrap();
    signal(&child, "-HUP");
    let rejected = await_entries(&dir, "policy.rejected", 1).await;
    let refused = mcp.call("diagnostics_echo", json!({"value": 1})).await;
    assert!(text(&refused).contains("Blocked by policy"), "{refused}");
    terminate(child);

    let entries = dir.entries();
    let loaded = &of_kind(&entries, "policy.loaded")[0];
    let c = &changed[0];
    assert_eq!(c["old_policy_hash"], loaded["policy_hash"]);
    assert_eq!(c["text"], new_text);
    assert_eq!(c["trigger"], "sighup");
    let r = &rejected[0];
    assert_eq!(
        r["policy_hash"], c["policy_hash"],
        "the changed policy stays in force"
    );
    assert_eq!(r["error"]["class"], "UnknownKey", "{r}");
    assert!(r["error"]["line"].as_u64().is_some(), "{r}");
    let requests = of_kind(&entries, "call.request");
    assert!(requests.len() >= 2);
    for e in requests {
        assert_eq!(e["policy_hash"], c["policy_hash"]);
        assert_eq!(e["decision"]["rule"], "echo-off");
    }
    let ledger = support::gateway::bytes_under(&dir.ledger_dir());
    let marker = b"MARKER-7f3a";
    assert!(
        !ledger.windows(marker.len()).any(|w| w == marker),
        "a rejected policy's text never reaches the ledger"
    );
    assert_verifies(&dir);

    // An evidence bundle of the session holds both policies in force during it, and verifies.
    let key = dir.verifier_key.to_string();
    let bundle = dir.path().join("bundle");
    let out = Command::new(campaign::verifier_bin())
        .arg("export")
        .arg(dir.ledger_dir())
        .args([
            "--pubkey",
            &key,
            "--session",
            mcp.session.as_deref().unwrap(),
            "--out",
        ])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(bundle.join("policies")).unwrap().count(),
        2
    );
    let out = Command::new(campaign::verifier_bin())
        .arg("verify")
        .arg(&bundle)
        .args(["--pubkey", &key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A call waiting for its approval while the policy changes is approved and forwarded under the
/// snapshot it was decided with; the new policy decides the next call.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_in_flight_during_a_reload_completes_under_its_snapshot() {
    let app = app_or_skip!();
    let dir = gateway_dir(&app, "poll_interval = \"off\"");
    let (child, url) = spawn_http(&dir);
    let base = admin_base(&url);
    let seed = app.seed().await;
    let refund = json!({"name": "invoices_refund", "arguments": {
        "invoiceId": seed["invoices"]["alice"], "amountCents": 11000, "reason": "r"}});
    let waiting = {
        let (url, token, refund) = (url.clone(), dir.token("alice"), refund.clone());
        tokio::spawn(async move {
            let mut c = Mcp::new(&url, Some(token));
            c.initialize().await;
            c.request("tools/call", refund).await
        })
    };
    let pending = pending_approval(&base, &dir.token("ops")).await;

    prepend_rule(
        &dir,
        "[[rules]]\nid = \"no-refunds\"\nmatch.function = [\"invoices:refund\"]\ntier = \"blocked\"\n\n",
    );
    let (status, body) = admin_reload(&base, &dir.token("ops")).await;
    assert_eq!(
        (status, &body["policy"]["status"]),
        (200, &json!("changed")),
        "{body}"
    );

    let signature = SigningKey::load(&dir.path().join("approvers/dana.key"))
        .unwrap()
        .sign(pending.statement(Verdict::Approve, "dana").as_bytes());
    let r = reqwest::Client::new()
        .post(format!("{base}/admin/approvals/{}", pending.id))
        .bearer_auth(dir.token("ops"))
        .json(&json!({"approver": "dana", "decision": "approve",
                      "signature": base64::engine::general_purpose::STANDARD.encode(signature)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer["result"]["isError"], false, "{answer}");

    let mut mcp = Mcp::new(&url, Some(dir.token("alice")));
    mcp.initialize().await;
    let next = mcp
        .call("invoices_refund", refund["arguments"].clone())
        .await;
    assert!(text(&next).contains("Blocked by policy"), "{next}");
    terminate(child);

    let entries = dir.entries();
    let changed = of_kind(&entries, "policy.changed")[0];
    let requests = of_kind(&entries, "call.request");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["disposition"], "approval_pending");
    assert_eq!(requests[0]["policy_hash"], changed["old_policy_hash"]);
    assert!(requests[0]["seq"].as_u64() < changed["seq"].as_u64());
    assert_eq!(requests[1]["policy_hash"], changed["policy_hash"]);
    assert_eq!(requests[1]["decision"]["rule"], "no-refunds");
    let results = of_kind(&entries, "call.result");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["request_seq"], requests[0]["seq"]);
    assert_eq!(results[0]["outcome"], "ok");
    assert_verifies(&dir);
}

async fn pending_approval(base: &str, token: &str) -> PendingInfo {
    let http = reqwest::Client::new();
    for _ in 0..400 {
        let v: Value = http
            .get(format!("{base}/admin/approvals"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list: Vec<PendingInfo> = serde_json::from_value(v["pending"].clone()).unwrap();
        if let Some(p) = list.into_iter().next() {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no pending approval appeared");
}

/// The real Python `mcp` client over Streamable HTTP hears of a function pushed while it is
/// connected, and lists and calls it.
#[tokio::test(flavor = "multi_thread")]
async fn the_python_mcp_client_is_told_of_a_pushed_function() {
    let app = app_or_skip!();
    let Some(env) = support::e2e::env() else {
        return;
    };
    let dir = gateway_dir(&app, "poll_interval = \"200ms\"");
    let (gateway, url) = spawn_http(&dir);
    let script = dir.path().join("script.json");
    let steps = json!([
        {"op": "list"},
        {"op": "await_list_changed", "timeout": 30},
        {"op": "list"},
        {"op": "call", "name": "live_hello", "arguments": {"name": "py"}}
    ]);
    std::fs::write(&script, steps.to_string()).unwrap();
    let e2e = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e");
    let mut client = Command::new(&env["PYTHON"])
        .arg(e2e.join("client.py"))
        .args(["--transport", "http", "--mode", "legacy", "--url", &url])
        .args(["--token-env", "LIVE_RELOAD_TOKEN", "--script"])
        .arg(&script)
        .env("LIVE_RELOAD_TOKEN", dir.token("carol"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(client.stderr.take().unwrap());
    let mut lines = stderr.lines();
    let awaiting = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("awaiting list_changed"));
    assert!(awaiting, "the client never reached its await step");
    std::thread::spawn(move || for _ in lines {});
    app.push(json!({"live.ts": LIVE_MODULE})).await;
    let out = tokio::task::spawn_blocking(move || client.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "client.py failed");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["initialize"]["capabilities"]["tools"]["listChanged"], true,
        "{doc}"
    );
    let steps = doc["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["ok"] == true), "{doc}");
    let names = |s: &Value| -> Vec<String> {
        s["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!names(&steps[0]).contains(&"live_hello".to_string()));
    assert!(steps[1]["notices"].as_u64() >= Some(1), "{doc}");
    assert!(
        names(&steps[2]).contains(&"live_hello".to_string()),
        "{doc}"
    );
    assert!(steps[3]["result"].to_string().contains("hello py"), "{doc}");
    terminate(gateway);
    assert_verifies(&dir);
}

/// `serve --write=deny` holds for the process: a policy reloaded on SIGHUP is lowered too, so a
/// reload can never raise what the flag denies.
#[tokio::test]
async fn serve_write_holds_across_a_policy_reload() {
    let app = app_or_skip!();
    let dir = gateway_dir(&app, "poll_interval = \"off\"");
    let (child, url) = support::gateway::spawn_http_with(&dir, &["--write=deny"]);
    let mut mcp = Mcp::new(&url, Some(dir.token("alice")));
    mcp.initialize().await;
    assert!(
        !mcp.tool_names()
            .await
            .contains(&"invoices_refund".to_string())
    );

    prepend_rule(&dir, ECHO_OFF);
    signal(&child, "-HUP");
    let changed = await_entries(&dir, "policy.changed", 1).await;
    assert!(
        !mcp.tool_names()
            .await
            .contains(&"invoices_refund".to_string()),
        "the reloaded policy (write = \"allow\") is lowered by --write=deny as well"
    );
    let refused = mcp
        .call(
            "invoices_refund",
            json!({"invoiceId": "x", "amountCents": 100, "reason": "r"}),
        )
        .await;
    assert_eq!(refused["isError"], true, "{refused}");
    terminate(child);
    let entries = dir.entries();
    let request = of_kind(&entries, "call.request")
        .into_iter()
        .find(|e| e["tool"] == "invoices_refund")
        .unwrap()
        .clone();
    assert_eq!(request["policy_hash"], changed[0]["policy_hash"]);
    assert_eq!(request["decision"]["tier"], "blocked");
    let reason = request["decision"]["reason"].as_str().unwrap();
    assert!(
        reason.ends_with("; capped by serve --write=deny"),
        "{reason}"
    );
    assert_verifies(&dir);
    // what-if under the policy in force re-decides the refund as it was decided: the run's
    // `write_limit` lowers the policy it is given too.
    let out = Command::new(campaign::verifier_bin())
        .arg("what-if")
        .arg(dir.ledger_dir())
        .arg("--policy")
        .arg(dir.path().join("policy.toml"))
        .args(["--pubkey", &dir.verifier_key.to_string(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let refund_changed = report["changed"].as_array().unwrap().iter().any(|f| {
        f["subject"]
            .as_str()
            .is_some_and(|s| s.contains("invoices_refund"))
    });
    assert!(!refund_changed, "{report}");
}

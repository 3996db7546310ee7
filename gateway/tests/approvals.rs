//! Human approvals end to end (docs/approvals.md): an approval-required call waits; signed
//! receipts approve or deny it; forged, unlisted, rebound, self and replayed receipts are refused
//! and recorded; four eyes needs two distinct approvers; a restart expires what was pending; and
//! real MCP clients over HTTP and stdio see the approved call run.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::time::Duration;

use auditgate::approvals::{PendingInfo, Verdict};
use auditgate_ledger::SigningKey;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, RunningGateway, kinds, spawn_http, terminate, text};

/// The operator API as `ops` (role admin).
struct Ops {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Ops {
    fn new(dir: &GatewayDir, base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.into(),
            token: dir.token("ops"),
        }
    }

    /// Waits until `n` approvals are pending; returns them.
    async fn pending(&self, n: usize) -> Vec<PendingInfo> {
        for _ in 0..300 {
            let r = self
                .http
                .get(format!("{}/admin/approvals", self.base))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json().await.unwrap();
            let list: Vec<PendingInfo> = serde_json::from_value(v["pending"].clone()).unwrap();
            if list.len() >= n {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no pending approval appeared");
    }

    /// Posts a receipt signed by `signer` over `statement`, claiming to be `approver`.
    async fn post(
        &self,
        id: &str,
        approver: &str,
        decision: &str,
        signature: &[u8],
    ) -> (StatusCode, Value) {
        let body = json!({
            "approver": approver,
            "decision": decision,
            "signature": base64::engine::general_purpose::STANDARD.encode(signature),
            "reason": "checked the invoice",
        });
        let r = self
            .http
            .post(format!("{}/admin/approvals/{id}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn key(dir: &GatewayDir, name: &str) -> SigningKey {
    SigningKey::load(&dir.path().join(format!("approvers/{name}.key"))).unwrap()
}

/// `name`'s signature over the statement of `p`.
fn sign(dir: &GatewayDir, name: &str, p: &PendingInfo, verdict: Verdict) -> Vec<u8> {
    key(dir, name)
        .sign(p.statement(verdict, name).as_bytes())
        .to_vec()
}

/// A `tools/call` of an approval-required refund of alice's seeded invoice.
fn large_refund(seed: &Value) -> Value {
    json!({"name": "invoices_refund", "arguments": {"invoiceId": seed["invoices"]["alice"],
           "amountCents": 11000, "reason": "r"}})
}

/// Opens a session as `token` and sends `params` as a `tools/call` on `rt`, not waiting for the
/// answer (the gateway may be killed before it comes).
fn call_in_background(rt: &tokio::runtime::Runtime, url: &str, token: String, params: Value) {
    let url = url.to_string();
    rt.spawn(async move {
        let mut c = Mcp::new(&url, Some(token));
        c.initialize().await;
        let _ = c.request("tools/call", params).await;
    });
}

fn of_kind<'a>(entries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["kind"] == kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_after_refusing_forged_unlisted_rebound_and_replayed_receipts() {
    let app = app_or_skip!();
    let seed = app.seed().await;
    let dir = GatewayDir::with_timeout(&app.url, "", "60s");
    let gw = RunningGateway::start(&dir).await;
    let ops = Ops::new(&dir, &gw.base);
    let mut alice = Mcp::new(&gw.url, Some(dir.token("alice")));
    alice.initialize().await;
    let calls_before = app.calls().await.len();
    let invoice = seed["invoices"]["alice"].clone();
    let call = tokio::spawn(async move {
        alice
            .call(
                "invoices_refund",
                json!({"invoiceId": invoice, "amountCents": 11000, "reason": "damaged"}),
            )
            .await
    });
    let p = ops.pending(1).await.remove(0);
    assert_eq!(p.caller, "alice");
    assert_eq!(p.tool, "invoices_refund");
    assert_eq!(p.rule.as_deref(), Some("large-refund"));
    assert!(
        p.args["reason"]["$commit"].is_string(),
        "operators see redacted args"
    );
    assert_eq!(
        app.calls().await.len(),
        calls_before,
        "nothing ran while pending"
    );

    // A non-admin cannot use the operator API.
    let r = ops
        .http
        .get(format!("{}/admin/approvals", gw.base))
        .bearer_auth(dir.token("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Unregistered key, registered but not admitted by the rule, a signature over other
    // arguments, a garbage signature.
    let (s, v) = ops
        .post(
            &p.id,
            "mallory",
            "approve",
            &sign(&dir, "mallory", &p, Verdict::Approve),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("unknown_approver"))
    );
    let (s, v) = ops
        .post(
            &p.id,
            "frank",
            "approve",
            &sign(&dir, "frank", &p, Verdict::Approve),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_allowed"))
    );
    let mut other = p.clone();
    other.args_digest = "blake3:".to_string() + &"0".repeat(64);
    let (s, v) = ops
        .post(
            &p.id,
            "dana",
            "approve",
            &sign(&dir, "dana", &other, Verdict::Approve),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("bad_signature"))
    );
    // A denial's signature cannot be used as an approval.
    let (s, v) = ops
        .post(
            &p.id,
            "dana",
            "approve",
            &sign(&dir, "dana", &p, Verdict::Deny),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("bad_signature"))
    );
    let (s, v) = ops.post(&p.id, "dana", "approve", b"short").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed"))
    );
    assert_eq!(app.calls().await.len(), calls_before);

    // The real approval: the call proceeds.
    let good = sign(&dir, "dana", &p, Verdict::Approve);
    let (s, v) = ops.post(&p.id, "dana", "approve", &good).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "approved");
    let result = call.await.unwrap();
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["refundedCents"], 11000);
    // Replayed: the approval is used.
    let (s, v) = ops.post(&p.id, "dana", "approve", &good).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_pending"))
    );
    assert_eq!(app.calls().await.len(), calls_before + 1);

    gw.stop().await;
    dir.verify();
    let entries = dir.entries();
    let refused: Vec<&str> = of_kind(&entries, "approval.refused")
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        refused,
        [
            "unknown_approver",
            "not_allowed",
            "bad_signature",
            "bad_signature",
            "malformed",
            "not_pending"
        ]
    );
    let granted = of_kind(&entries, "approval.granted");
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0]["approver"], "dana");
    assert_eq!(
        granted[0]["statement"],
        p.statement(Verdict::Approve, "dana")
    );
    let request = of_kind(&entries, "call.request")[0];
    assert_eq!(granted[0]["request_seq"], request["seq"]);
    let result = of_kind(&entries, "call.result")[0];
    assert_eq!(result["request_seq"], request["seq"]);
    assert!(
        result["seq"].as_u64() > granted[0]["seq"].as_u64(),
        "forwarded after the grant"
    );
    assert_eq!(
        of_kind(&entries, "request.refused")[0]["reason"],
        "not_admin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_ends_the_call_with_its_reason() {
    let app = app_or_skip!();
    let seed = app.seed().await;
    let dir = GatewayDir::with_timeout(&app.url, "", "60s");
    let gw = RunningGateway::start(&dir).await;
    let ops = Ops::new(&dir, &gw.base);
    let mut alice = Mcp::new(&gw.url, Some(dir.token("alice")));
    alice.initialize().await;
    let invoice = seed["invoices"]["alice"].clone();
    let call = tokio::spawn(async move {
        alice
            .call(
                "invoices_refund",
                json!({"invoiceId": invoice, "amountCents": 11000, "reason": "again"}),
            )
            .await
    });
    let p = ops.pending(1).await.remove(0);
    let body = json!({"approver": "erin", "decision": "deny", "reason": "duplicate refund",
        "signature": base64::engine::general_purpose::STANDARD.encode(sign(&dir, "erin", &p, Verdict::Deny))});
    let r = ops
        .http
        .post(format!("{}/admin/approvals/{}", gw.base, p.id))
        .bearer_auth(&ops.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let result = call.await.unwrap();
    assert_eq!(result["isError"], true);
    assert!(
        text(&result).contains("denied by erin: duplicate refund"),
        "{result}"
    );
    gw.stop().await;
    let entries = dir.entries();
    let denied = of_kind(&entries, "approval.denied");
    assert_eq!(denied[0]["reason"], "duplicate refund");
    assert!(of_kind(&entries, "call.result").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_eyes_needs_two_approvers_neither_the_caller() {
    let app = app_or_skip!();
    let seed = app.seed().await;
    let dir = GatewayDir::with_timeout(&app.url, "", "60s");
    let gw = RunningGateway::start(&dir).await;
    let ops = Ops::new(&dir, &gw.base);
    let mut alice = Mcp::new(&gw.url, Some(dir.token("alice")));
    alice.initialize().await;
    let invoice = seed["invoices"]["alice"].clone();
    let call = tokio::spawn(async move {
        alice
            .call(
                "billing_sendReminder",
                json!({"invoiceId": invoice, "channel": "email"}),
            )
            .await
    });
    let p = ops.pending(1).await.remove(0);
    assert!(p.four_eyes);
    assert_eq!(p.required, 2);
    let (s, v) = ops
        .post(
            &p.id,
            "alice",
            "approve",
            &sign(&dir, "alice", &p, Verdict::Approve),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("self_approval"))
    );
    let (s, v) = ops
        .post(
            &p.id,
            "dana",
            "approve",
            &sign(&dir, "dana", &p, Verdict::Approve),
        )
        .await;
    assert_eq!((s, v["state"].as_str()), (StatusCode::OK, Some("waiting")));
    let (s, v) = ops
        .post(
            &p.id,
            "dana",
            "approve",
            &sign(&dir, "dana", &p, Verdict::Approve),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("duplicate_approver"))
    );
    let (s, v) = ops
        .post(
            &p.id,
            "erin",
            "approve",
            &sign(&dir, "erin", &p, Verdict::Approve),
        )
        .await;
    assert_eq!((s, v["state"].as_str()), (StatusCode::OK, Some("approved")));
    let result = call.await.unwrap();
    assert_eq!(result["isError"], false, "{result}");
    gw.stop().await;
    dir.verify();
    let entries = dir.entries();
    let counts: Vec<u64> = of_kind(&entries, "approval.granted")
        .iter()
        .map(|e| e["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [1, 2]);
}

#[test]
fn a_restart_expires_what_was_pending() {
    let app = app_or_skip!();
    let dir = GatewayDir::with_timeout(&app.url, "", "10m");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seed = rt.block_on(app.seed());
    let (mut child, url) = spawn_http(&dir);
    let base = url.trim_end_matches("/mcp").to_string();
    let ops = Ops::new(&dir, &base);
    call_in_background(&rt, &url, dir.token("alice"), large_refund(&seed));
    let p = rt.block_on(ops.pending(1)).remove(0);
    // Crash: SIGKILL, no chance to expire anything.
    child.kill().unwrap();
    child.wait().unwrap();
    let (child, _url) = spawn_http(&dir);
    terminate(child);
    dir.verify();
    let entries = dir.entries();
    let expired = of_kind(&entries, "approval.expired");
    assert_eq!(expired.len(), 1, "{:?}", kinds(&entries));
    assert_eq!(expired[0]["approval_id"], p.id.as_str());
    assert_eq!(expired[0]["reason"], "gateway_restart");
    // It was recorded first thing on restart, before the new run's `gateway.start` (so that a
    // later start need read the ledger back no further than that).
    let starts: Vec<u64> = of_kind(&entries, "gateway.start")
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(expired[0]["seq"].as_u64().unwrap() + 1, starts[1]);
    // A clean stop says nothing is left pending; restarting after it expires nothing more.
    let stops = of_kind(&entries, "gateway.stop");
    assert_eq!(stops.last().unwrap()["approvals_pending"], 0);
    let (child, _url) = spawn_http(&dir);
    terminate(child);
    dir.verify();
    assert_eq!(of_kind(&dir.entries(), "approval.expired").len(), 1);
}

/// Finding 11 (issue 16): killed after an approval was granted and the call forwarded, but before
/// its `call.result`, the restart wrote `approval.expired (gateway_restart)` though the refund
/// may have run in Convex. The truth is "approved and forwarded, outcome unknown": the restart
/// now records `call.interrupted` for it (and for a plain forwarded call caught the same way),
/// and expires only approvals still pending. The app is paused (SIGSTOP) to hold both calls
/// between their forward and their result while the gateway is killed.
#[test]
fn finding_11_a_restart_after_a_grant_records_the_call_interrupted_not_expired() {
    let app = app_or_skip!();
    let dir = GatewayDir::with_timeout(&app.url, "", "10m");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seed = rt.block_on(app.seed());
    let (mut child, url) = spawn_http(&dir);
    let base = url.trim_end_matches("/mcp").to_string();
    let ops = Ops::new(&dir, &base);
    call_in_background(&rt, &url, dir.token("alice"), large_refund(&seed));
    let p = rt.block_on(ops.pending(1)).remove(0);
    app.pause();
    let signature = sign(&dir, "dana", &p, Verdict::Approve);
    let (status, _) = rt.block_on(ops.post(&p.id, "dana", "approve", &signature));
    assert_eq!(status, StatusCode::OK, "the grant is recorded");
    // A plain allowed call, forwarded to the paused app too.
    let echo = json!({"name": "diagnostics_echo", "arguments": {"value": 1}});
    call_in_background(&rt, &url, dir.token("alice"), echo);
    // Both calls are now waiting on the app (its timeout is 5 s in the test config).
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    app.resume();
    let (child, _url) = spawn_http(&dir);
    terminate(child);
    dir.verify();
    let entries = dir.entries();
    assert!(
        of_kind(&entries, "approval.expired").is_empty(),
        "a granted approval must not be recorded as expired: {:?}",
        kinds(&entries)
    );
    let interrupted = of_kind(&entries, "call.interrupted");
    assert_eq!(interrupted.len(), 2, "{:?}", kinds(&entries));
    let approved = interrupted
        .iter()
        .find(|e| e["tool"] == "invoices_refund")
        .unwrap();
    assert_eq!(approved["approval_id"], p.id.as_str());
    assert_eq!(approved["approved"], true);
    assert_eq!(approved["outcome"], "unknown");
    assert_eq!(approved["request_seq"], p.request_seq);
    let plain = interrupted
        .iter()
        .find(|e| e["tool"] == "diagnostics_echo")
        .unwrap();
    assert!(plain.get("approval_id").is_none());
    // Recorded before the new run's `gateway.start`.
    let second_start = of_kind(&entries, "gateway.start")[1]["seq"]
        .as_u64()
        .unwrap();
    assert!(
        interrupted
            .iter()
            .all(|e| e["seq"].as_u64().unwrap() < second_start)
    );
}

//! Fail closed: when the ledger cannot write, no call reaches Convex, every client gets a clear
//! error, and `/healthz` reports unhealthy; when the disk recovers, so does the gateway.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::sync::Arc;

use auditgate_ledger::store::{Fault, FaultPlan, FaultyStore, FsStore};
use auditgate_ledger::{Ledger, LedgerOptions, SigningKey};
use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, RunningGateway, kinds};

fn faulty_ledger(dir: &GatewayDir, plan: &FaultPlan) -> Ledger {
    let segments = dir.ledger_dir().join("segments");
    let store = FaultyStore::new(FsStore::open(&segments).unwrap(), plan.clone());
    let key = SigningKey::load(&dir.path().join("keys/ledger.key")).unwrap();
    Ledger::create_in(Arc::new(store), None, key, LedgerOptions::default()).unwrap()
}

async fn health(gw: &RunningGateway) -> (u16, Value) {
    let r = reqwest::get(format!("{}/healthz", gw.base)).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_every_call_and_forwards_nothing() {
    let app = app_or_skip!();
    let seed = app.seed().await;
    let dir = GatewayDir::new(&app.url);
    let plan = FaultPlan::default();
    let gw = RunningGateway::start_on(&dir, faulty_ledger(&dir, &plan)).await;
    let customer = seed["customers"]["alice"].clone();

    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut c = Mcp::new(&gw.url, Some(dir.token("alice")));
        c.initialize().await;
        clients.push(c);
    }
    let ok = clients[0]
        .call("customers_get", json!({"id": customer}))
        .await;
    assert_eq!(ok["isError"], false);
    let calls_before = app.calls().await.len();

    plan.set_disk_full(true);
    // Eight clients at once: every one refused, none forwarded.
    let mut tasks = Vec::new();
    for mut c in clients.drain(..) {
        let id = customer.clone();
        tasks.push(tokio::spawn(async move {
            let v = c
                .request(
                    "tools/call",
                    json!({"name": "customers_get", "arguments": {"id": id}}),
                )
                .await;
            (c, v)
        }));
    }
    for t in tasks {
        let (c, v) = t.await.unwrap();
        assert_eq!(v["error"]["code"], -32603, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("audit ledger unavailable"), "{message}");
        assert!(message.contains("nothing was forwarded"), "{message}");
        clients.push(c);
    }
    // Listing and new sessions are refused too.
    let v = clients[0].request("tools/list", json!({})).await;
    assert_eq!(v["error"]["code"], -32603);
    let r = Mcp::new(&gw.url, Some(dir.token("carol")))
        .post()
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let (status, body) = health(&gw).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(
        app.calls().await.len(),
        calls_before,
        "a call reached Convex unaudited"
    );
    assert!(plan.injected() > 0 || body["reason"].is_string());

    // The disk recovers: so does the gateway.
    plan.set_disk_full(false);
    let ok = clients[1]
        .call("customers_get", json!({"id": customer}))
        .await;
    assert_eq!(ok["isError"], false, "{ok}");
    assert_eq!(health(&gw).await.0, 200);
    assert_eq!(app.calls().await.len(), calls_before + 1);

    gw.stop().await;
    dir.verify();
    let entries = dir.entries();
    let requests = kinds(&entries)
        .iter()
        .filter(|k| **k == "call.request")
        .count();
    assert_eq!(requests, 2, "refused calls left no request entry");
    // The run's stop says appends failed, so the next start does not take "nothing pending"
    // on trust (approvals/left.rs).
    let stop = entries
        .iter()
        .rfind(|e| e["kind"] == "gateway.stop")
        .unwrap();
    assert!(stop["audit_failures"].as_u64().unwrap() >= 8, "{stop}");
    assert_eq!(stop["approvals_pending"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_that_cannot_undo_a_failed_write_stays_closed() {
    let app = app_or_skip!();
    let seed = app.seed().await;
    let dir = GatewayDir::new(&app.url);
    let plan = FaultPlan::default();
    let gw = RunningGateway::start_on(&dir, faulty_ledger(&dir, &plan)).await;
    let mut c = Mcp::new(&gw.url, Some(dir.token("alice")));
    c.initialize().await;
    let calls_before = app.calls().await.len();
    // A short write whose undo (truncate) also fails: the ledger must refuse from now on.
    plan.inject(Fault::ShortWrite(7));
    plan.inject(Fault::TruncateFails);
    let customer = seed["customers"]["alice"].clone();
    for _ in 0..3 {
        let v = c
            .request(
                "tools/call",
                json!({"name": "customers_get", "arguments": {"id": customer}}),
            )
            .await;
        assert_eq!(v["error"]["code"], -32603, "{v}");
    }
    let (status, body) = health(&gw).await;
    assert_eq!(status, 503);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("could not be undone"),
        "{body}"
    );
    assert_eq!(app.calls().await.len(), calls_before);

    // The files hold a torn record now. Reopening (what a restart does) cuts it, records the
    // recovery, and the ledger verifies again.
    gw.stop().await;
    let key = SigningKey::load(&dir.path().join("keys/ledger.key")).unwrap();
    let (ledger, report) = Ledger::open(&dir.ledger_dir(), key, LedgerOptions::default()).unwrap();
    assert!(report.recovered.is_some(), "{report:?}");
    ledger.close();
    dir.verify();
    assert!(kinds(&dir.entries()).contains(&"ledger.recovered"));
}

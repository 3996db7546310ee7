//! Crash campaign (docs/reliability.md): the `auditgate serve --http` binary, 32 concurrent MCP
//! sessions against the Convex test app, `kill -9` at a random moment, restart; N rounds. Then:
//!
//! - every call a client saw answered is in the ledger: its `call.request`, and for a forwarded
//!   call its `call.result` with the outcome (and, for `ok`, the value) the client saw;
//! - every forwarded `call.request` has a result or, after the kill, a `call.interrupted` the
//!   restart recorded (outcome unknown); no answered call is among them, and the verifier reports
//!   no dangling request (G2);
//! - the ledger verifies (`auditgate-verify verify --pubkey`, binary) after every restart;
//! - nothing reached Convex without a request entry: every call in the test app's own log
//!   (`/_test/calls`) is matched, by function path and the unique marker each call carries
//!   (`value` of `diagnostics:echo`, `name` of `customers:create`), to a `call.request` with
//!   disposition `forward` recorded before the app received it; no mutation ran twice.
//!
//! CI: 6 rounds. `AUDITGATE_CAMPAIGN=full`: 50 rounds (`AUDITGATE_CRASH_ROUNDS` overrides).
//! Seed: `AUDITGATE_CAMPAIGN_SEED`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod campaign;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use campaign::{Client, Rng, Spawned};
use serde_json::{Value, json};
use support::gateway::GatewayDir;

const SESSIONS: usize = 32;

/// What one client sent and what (if anything) came back.
#[derive(Debug, Clone)]
struct Sent {
    round: usize,
    session: String,
    request_id: i64,
    tool: &'static str,
    marker: String,
    answer: Option<Value>,
}

/// One client for one round: a session, then calls until the gateway dies.
async fn drive(
    url: String,
    token: String,
    round: usize,
    client_no: usize,
    invoice: Value,
    stop: Arc<AtomicBool>,
    mut rng: Rng,
) -> Vec<Sent> {
    let mut out = Vec::new();
    let mut c = Client::new(&url, &token, Duration::from_secs(30));
    let mut n = 0usize;
    'sessions: while !stop.load(Ordering::SeqCst) {
        if c.initialize().await.is_err() {
            break;
        }
        let session = c.session.clone().unwrap();
        while !stop.load(Ordering::SeqCst) {
            n += 1;
            let marker = format!("crash-r{round}-c{client_no}-n{n}");
            let pick = rng.below(40);
            let (tool, args) = match pick {
                // An approval-required refund: waits (SSE) until the policy's 2 s timeout;
                // a crash leaves it pending for the restart to expire.
                0 => (
                    "invoices_refund",
                    json!({"invoiceId": invoice, "amountCents": 50000, "reason": marker}),
                ),
                // A blocked data write: recorded, never forwarded.
                1 => (
                    "convex_delete_document",
                    json!({"table": "customers", "id": marker}),
                ),
                2..=15 => (
                    "customers_create",
                    json!({"name": marker, "email": "crash@campaign.example",
                           "taxId": format!("T-{n}"), "creditLimitCents": 1000}),
                ),
                _ => ("diagnostics_echo", json!({"value": marker})),
            };
            let request_id = c.peek_id();
            let answer = c.call(tool, args).await;
            let failed = answer.is_err();
            out.push(Sent {
                round,
                session: session.clone(),
                request_id,
                tool,
                marker,
                answer: answer.ok(),
            });
            if failed {
                break 'sessions;
            }
            // Now and then a session ends (session.close) and a new one starts.
            if rng.below(60) == 0 {
                let _ = c.delete().await;
                continue 'sessions;
            }
        }
    }
    out
}

/// The member of an agent call's arguments that carries its marker.
fn marker_of(function_path: &str, args: &Value) -> Option<String> {
    let key = match function_path {
        "diagnostics:echo" => "value",
        "customers:create" => "name",
        _ => return None,
    };
    args[key].as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_answered_call_and_forwards_nothing_unaudited() {
    let app = app_or_skip!();
    let seed = campaign::seed();
    let rounds = campaign::env_or(
        "AUDITGATE_CRASH_ROUNDS",
        if campaign::full() { 50 } else { 6 },
    );
    let max_kill_ms = campaign::env_or("AUDITGATE_CRASH_MAX_MS", 2500u64);
    println!(
        "crash campaign: seed {seed} (AUDITGATE_CAMPAIGN_SEED={seed}), {rounds} rounds, {SESSIONS} sessions, kill -9 within {max_kill_ms} ms"
    );
    let mut rng = Rng(seed);
    let seeded = app.seed().await;
    let invoice = seeded["invoices"]["alice"].clone();
    let dir = GatewayDir::new(&app.url);
    let token = dir.token("alice");
    let started = Instant::now();

    let mut sent: Vec<Sent> = Vec::new();
    let mut startups = Vec::new();
    let mut kill_moments = Vec::new();
    let mut verify_times = Vec::new();
    let mut logs = String::new();
    for round in 0..=rounds {
        let mut gw = Spawned::start(&dir).unwrap_or_else(|e| panic!("round {round}: {e}"));
        startups.push(gw.startup);
        // The ledger as the restart left it (torn tail cut, pending approvals expired) verifies.
        let t = Instant::now();
        campaign::assert_verifies(&dir, &format!("after restart {round}"));
        verify_times.push(t.elapsed());
        if round == rounds {
            // Last start: no crash; a graceful stop must also leave a verifying ledger.
            let status = tokio::task::block_in_place(|| gw.terminate(Duration::from_secs(30)));
            assert!(
                status.is_some_and(|s| s.success()),
                "graceful stop: {status:?}"
            );
            gw.assert_no_panic();
            logs.push_str(&gw.stderr_text());
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for client_no in 0..SESSIONS {
            tasks.push(tokio::spawn(drive(
                gw.url.clone(),
                token.clone(),
                round,
                client_no,
                invoice.clone(),
                stop.clone(),
                Rng(rng.next() | 1),
            )));
        }
        let moment = rng.range_ms(0, max_kill_ms);
        kill_moments.push(moment);
        tokio::time::sleep(moment).await;
        gw.kill9();
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            let calls = tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .expect("a client hung after the gateway died")
                .unwrap();
            sent.extend(calls);
        }
        gw.assert_no_panic();
        logs.push_str(&gw.stderr_text());
    }
    let elapsed = started.elapsed();

    // ---- the ledger against what the clients saw ----
    let verdict = campaign::assert_verifies(&dir, "at the end");
    let entries = dir.entries();
    let mut requests: HashMap<(String, i64), &Value> = HashMap::new();
    let mut results: HashMap<u64, &Value> = HashMap::new();
    let mut forwarded: HashMap<(String, String), Vec<&Value>> = HashMap::new();
    for e in &entries {
        match e["kind"].as_str().unwrap() {
            "call.request" => {
                let key = (
                    e["session"].as_str().unwrap().to_string(),
                    e["request_id"].as_i64().unwrap(),
                );
                assert!(requests.insert(key, e).is_none(), "two requests for one id");
                if e["disposition"] == "forward"
                    && let Some(path) = e["function_path"].as_str()
                    && let Some(m) = marker_of(path, &e["args"])
                {
                    forwarded.entry((path.to_string(), m)).or_default().push(e);
                }
            }
            "call.result" => {
                let rs = e["request_seq"].as_u64().unwrap();
                assert!(results.insert(rs, e).is_none(), "two results for seq {rs}");
            }
            _ => {}
        }
    }
    let dangling: BTreeMap<u64, Value> = verdict["gateway"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["warning"] == "DanglingRequest")
        .map(|w| (w["seq"].as_u64().unwrap(), w.clone()))
        .collect();

    let (mut answered, mut unanswered, mut refused_audit) = (0, 0, 0);
    let mut by_tool: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &sent {
        *by_tool.entry(s.tool).or_default() += 1;
        let Some(answer) = &s.answer else {
            unanswered += 1;
            continue;
        };
        answered += 1;
        let ctx = || format!("round {} {} {}: {answer}", s.round, s.tool, s.marker);
        if let Some(error) = answer.get("error") {
            // Only a ledger failure may answer with an error here, and then nothing was forwarded.
            assert_eq!(error["code"], -32603, "{}", ctx());
            refused_audit += 1;
            continue;
        }
        let request = requests
            .get(&(s.session.clone(), s.request_id))
            .unwrap_or_else(|| panic!("LOST: an answered call has no call.request: {}", ctx()));
        let seq = request["seq"].as_u64().unwrap();
        let is_error = answer["result"]["isError"] == true;
        match request["disposition"].as_str().unwrap() {
            "forward" => {
                let result = results.get(&seq).unwrap_or_else(|| {
                    panic!("LOST: an answered call has no call.result: {}", ctx())
                });
                assert!(!dangling.contains_key(&seq), "{}", ctx());
                let outcome = result["outcome"].as_str().unwrap();
                assert_eq!(outcome == "ok", !is_error, "{}: {result}", ctx());
                if outcome == "ok" {
                    let shown: Value =
                        serde_json::from_str(campaign::text_of(&answer["result"])).unwrap();
                    assert_eq!(shown, result["result"], "{}", ctx());
                }
            }
            "approval_pending" | "blocked" | "invalid_args" => assert!(is_error, "{}", ctx()),
            other => panic!("unexpected disposition {other}: {}", ctx()),
        }
    }
    // Every forwarded request without a result was recorded `call.interrupted` by the restart
    // that followed its crash (outcome unknown), none of them was answered (checked above), and
    // the verifier is left with no dangling request.
    let interrupted: HashMap<u64, &Value> = entries
        .iter()
        .filter(|e| e["kind"] == "call.interrupted")
        .map(|e| (e["request_seq"].as_u64().unwrap(), e))
        .collect();
    let mut no_result = 0;
    for e in requests.values() {
        let seq = e["seq"].as_u64().unwrap();
        if e["disposition"] == "forward" && !results.contains_key(&seq) {
            no_result += 1;
            assert!(interrupted.contains_key(&seq), "unaccounted request {e}");
        }
    }
    assert_eq!(no_result, interrupted.len());
    assert!(dangling.is_empty(), "dangling requests: {dangling:?}");

    // ---- the upstream's own log against the ledger ----
    let calls = campaign::app_calls(&app.url).await;
    let (mut agent_calls, mut own_calls) = (0, 0);
    let mut executions: HashMap<(String, String), usize> = HashMap::new();
    for call in &calls {
        if campaign::is_gateway_own_call(call) {
            own_calls += 1;
            continue;
        }
        agent_calls += 1;
        let path = call["path"].as_str().unwrap_or_default().to_string();
        let marker = marker_of(&path, &call["args"]).unwrap_or_else(|| {
            panic!("UNAUDITED: an upstream call no agent call explains: {call}")
        });
        let reqs = forwarded
            .get(&(path.clone(), marker.clone()))
            .unwrap_or_else(|| panic!("UNAUDITED FORWARD: no call.request for {call}"));
        let received = campaign::unix_ms(call["ts"].as_str().unwrap()).unwrap();
        let recorded = campaign::unix_ms(reqs[0]["ts"].as_str().unwrap()).unwrap();
        assert!(
            recorded <= received,
            "request recorded after Convex received the call: {call} / {}",
            reqs[0]
        );
        *executions.entry((path, marker)).or_default() += 1;
    }
    let twice: Vec<_> = executions
        .iter()
        .filter(|((p, _), n)| p == "customers:create" && **n > 1)
        .collect();
    assert!(twice.is_empty(), "mutations executed twice: {twice:?}");
    assert!(!logs.contains("panicked at"), "{logs}");

    let recovered = entries
        .iter()
        .filter(|e| e["kind"] == "ledger.recovered")
        .count();
    let expired = entries
        .iter()
        .filter(|e| e["kind"] == "approval.expired")
        .count();
    let mut startup_ms: Vec<u64> = startups.iter().map(|d| d.as_micros() as u64).collect();
    startup_ms.sort_unstable();
    let mut verify_us: Vec<u64> = verify_times.iter().map(|d| d.as_micros() as u64).collect();
    verify_us.sort_unstable();
    let mut kills: Vec<u64> = kill_moments.iter().map(|d| d.as_millis() as u64).collect();
    kills.sort_unstable();
    println!("crash campaign figures (seed {seed}):");
    println!("  rounds (kill -9): {rounds}; wall time {:.1?}", elapsed);
    println!(
        "  kill moments after listening: min {} ms, median {} ms, max {} ms",
        kills.first().unwrap_or(&0),
        kills.get(kills.len() / 2).unwrap_or(&0),
        kills.last().unwrap_or(&0)
    );
    println!(
        "  calls sent {}: answered {answered} (all found in the ledger with their result), unanswered at the kill {unanswered}, refused for the ledger {refused_audit}",
        sent.len()
    );
    println!("  calls by tool: {by_tool:?}");
    println!(
        "  interrupted calls (forwarded, killed before the result, call.interrupted on restart): {}",
        interrupted.len()
    );
    println!("  torn tails cut on restart (ledger.recovered): {recovered}");
    println!("  approvals left pending and expired on restart or timeout: {expired}");
    println!(
        "  upstream calls: {agent_calls} agent calls, each matched to an earlier forward call.request; {own_calls} catalog loads by the gateway; 0 mutations executed twice"
    );
    println!(
        "  restart to listening: p50 {:.0} ms, max {:.0} ms; verify after restart: p50 {:.0} ms, max {:.0} ms",
        campaign::pct_ms(&startup_ms, 50.0),
        campaign::pct_ms(&startup_ms, 100.0),
        campaign::pct_ms(&verify_us, 50.0),
        campaign::pct_ms(&verify_us, 100.0)
    );
    println!(
        "  final ledger: {} entries, {} checkpoints, verifies",
        verdict["entries"], verdict["checkpoints"]
    );
    assert!(answered > 0, "no call was ever answered");
}

/// The operator API as `ops`: waits for the first pending approval, calls `before_grant`, then
/// posts dana's signed grant.
async fn grant_first_pending(dir: &GatewayDir, base: &str, before_grant: impl FnOnce()) -> Value {
    use base64::Engine as _;
    let http = reqwest::Client::new();
    let token = dir.token("ops");
    for _ in 0..500 {
        let v: Value = http
            .get(format!("{base}/admin/approvals"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let Some(p) = v["pending"].as_array().and_then(|a| a.first()).cloned() else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let info: auditgate::approvals::PendingInfo = serde_json::from_value(p.clone()).unwrap();
        let key =
            auditgate_ledger::SigningKey::load(&dir.path().join("approvers/dana.key")).unwrap();
        let statement = info.statement(auditgate::approvals::Verdict::Approve, "dana");
        let signature = key.sign(statement.as_bytes());
        before_grant();
        let r = http
            .post(format!("{base}/admin/approvals/{}", info.id))
            .bearer_auth(&token)
            .json(&json!({"approver": "dana", "decision": "approve",
                          "signature": base64::engine::general_purpose::STANDARD.encode(signature)}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the grant is accepted");
        return p;
    }
    panic!("no approval became pending");
}

/// The kill -9 campaign's grant-to-result variant (issue 16, finding 11): each round an
/// approval-required refund is granted while the Convex app is paused (SIGSTOP), so the call is
/// forwarded and waits; the gateway is killed at a random moment in that window, the app resumed,
/// the gateway restarted. Expect: 0 `approval.expired` for a granted approval, every granted call
/// with a `call.result` or a `call.interrupted` (approved, outcome unknown), the ledger valid.
///
/// CI: 3 rounds. `AUDITGATE_CAMPAIGN=full`: 20 (`AUDITGATE_GRANT_ROUNDS` overrides).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_grant_and_result_records_no_wrong_expiry() {
    let app = app_or_skip!();
    let seed = campaign::seed();
    let rounds = campaign::env_or(
        "AUDITGATE_GRANT_ROUNDS",
        if campaign::full() { 20 } else { 3 },
    );
    let mut rng = Rng(seed ^ 0x9e37_79b9);
    let seeded = app.seed().await;
    let invoice = seeded["invoices"]["alice"].clone();
    let dir = GatewayDir::with_timeout(&app.url, "", "10m");
    let mut granted = Vec::new();
    let mut moments = Vec::new();
    for round in 0..=rounds {
        let mut gw = Spawned::start(&dir).unwrap_or_else(|e| panic!("round {round}: {e}"));
        campaign::assert_verifies(&dir, &format!("after restart {round}"));
        if round == rounds {
            let status = tokio::task::block_in_place(|| gw.terminate(Duration::from_secs(30)));
            assert!(
                status.is_some_and(|s| s.success()),
                "graceful stop: {status:?}"
            );
            break;
        }
        let (url, token, inv) = (gw.url.clone(), dir.token("alice"), invoice.clone());
        let caller = tokio::spawn(async move {
            let mut c = Client::new(&url, &token, Duration::from_secs(60));
            if c.initialize().await.is_ok() {
                let _ = c
                    .call(
                        "invoices_refund",
                        json!({"invoiceId": inv, "amountCents": 12000 + round, "reason": "r"}),
                    )
                    .await;
            }
        });
        // The app is paused before the grant: the forward that follows waits on it.
        let pending = grant_first_pending(&dir, &gw.base, || app.pause()).await;
        granted.push(pending["id"].as_str().unwrap().to_string());
        let moment = rng.range_ms(0, 1500);
        moments.push(moment);
        tokio::time::sleep(moment).await;
        gw.kill9();
        app.resume();
        let _ = tokio::time::timeout(Duration::from_secs(60), caller).await;
        gw.assert_no_panic();
    }
    let verdict = campaign::assert_verifies(&dir, "at the end");
    let entries = dir.entries();
    let closed_by = |id: &str, kind: &str| {
        entries
            .iter()
            .filter(|e| e["kind"] == kind && e["approval_id"] == id)
            .count()
    };
    let mut interrupted = 0;
    let mut with_result = 0;
    for id in &granted {
        assert_eq!(closed_by(id, "approval.expired"), 0, "{id} wrongly expired");
        let request_seq = entries
            .iter()
            .find(|e| e["kind"] == "call.request" && e["approval"]["id"] == id.as_str())
            .unwrap()["seq"]
            .as_u64()
            .unwrap();
        let result = entries
            .iter()
            .any(|e| e["kind"] == "call.result" && e["request_seq"] == request_seq);
        let cut = closed_by(id, "call.interrupted");
        assert_eq!(
            usize::from(result) + cut,
            1,
            "{id}: result {result}, interrupted {cut}"
        );
        interrupted += cut;
        with_result += usize::from(result);
    }
    println!(
        "grant-to-result crash campaign (seed {seed}): {rounds} rounds, kills at {moments:?}; \
         granted {}: interrupted (approved, outcome unknown) {interrupted}, with a result \
         {with_result}; wrong approval.expired 0; verifier: {}",
        granted.len(),
        verdict["gateway"]
    );
}

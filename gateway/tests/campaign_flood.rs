//! Flood campaign (issue 16, docs/reliability.md): the `auditgate serve --http` binary in front of
//! the Convex test app; legitimate sessions call a query for a while alone (the unflooded rate),
//! then again while 4 unauthenticated clients — each from its own loopback address — send
//! `POST /mcp` with a 200 KB `Origin` as fast as the gateway answers them, for 30 s. Expect:
//!
//! - the ledger grows by at most 1 MB for the flood (refusal entries and summaries, measured by
//!   their bytes), every flooding request accounted for (one entry each, or a summary's count);
//! - legitimate calls/s during the flood at least 80% of the unflooded rate, both measured in
//!   this run;
//! - the ledger verifies.
//!
//! CI and `AUDITGATE_CAMPAIGN=full` alike: 30 s of flood (`AUDITGATE_FLOOD_SECS` overrides),
//! between two 10 s unflooded phases (`AUDITGATE_FLOOD_BASE_SECS`) whose mean is the reference.
#![allow(clippy::unwrap_used, reason = "tests")]

mod campaign;
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use campaign::{Client, Spawned};
use serde_json::{Value, json};
use support::gateway::{GatewayDir, ledger_bytes, refusals_accounted};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const LEGIT_SESSIONS: usize = 4;
const FLOODERS: u8 = 4;
const HEADER_BYTES: usize = 200_000;

/// Legitimate sessions calling `diagnostics_echo` until `stop`; how many calls were answered.
async fn legit_calls(url: &str, token: &str, stop: Arc<AtomicBool>) -> u64 {
    let mut tasks = Vec::new();
    for _ in 0..LEGIT_SESSIONS {
        let (url, token, stop) = (url.to_string(), token.to_string(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::new(&url, &token, Duration::from_secs(30));
            c.initialize().await.unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = c
                    .call("diagnostics_echo", json!({"value": format!("legit-{n}")}))
                    .await
                    .unwrap();
                assert_ne!(r["isError"], true, "a legitimate call failed: {r}");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

/// Runs legitimate sessions for `secs`; their answered calls per second.
async fn legit_rate(url: &str, token: &str, secs: u64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let calls = {
        let stop2 = stop.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            stop2.store(true, Ordering::Relaxed);
        });
        let n = legit_calls(url, token, stop).await;
        timer.await.unwrap();
        n
    };
    calls as f64 / started.elapsed().as_secs_f64()
}

/// One flooding client from `source`: requests on one keep-alive connection (a new one when the
/// gateway closes it) until `deadline`; counts answers by status.
async fn flood(
    source: std::net::IpAddr,
    gateway: SocketAddr,
    deadline: Instant,
    statuses: Arc<[AtomicU64; 3]>,
) {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {gateway}\r\nOrigin: http://{}.example\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: {}\r\n\r\n{body}",
        "a".repeat(HEADER_BYTES),
        body.len()
    );
    while Instant::now() < deadline {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let Ok(mut stream) = socket.connect(gateway).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while Instant::now() < deadline {
            if stream.write_all(request.as_bytes()).await.is_err() {
                break;
            }
            let Some(status) = read_response(&mut stream).await else {
                break;
            };
            let slot = match status {
                403 => 0,
                _ => 2,
            };
            statuses[slot].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Reads one HTTP/1.1 response (head and `Content-Length` body); its status.
async fn read_response(stream: &mut tokio::net::TcpStream) -> Option<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(status)
}

/// Bytes of the refusal entries written at or after `from` (RFC 3339, fixed width: byte order
/// is time order).
fn refusal_bytes(entries: &[Value], from: &str) -> usize {
    entries
        .iter()
        .filter(|e| e["ts"].as_str().unwrap() >= from)
        .filter(|e| {
            matches!(
                e["kind"].as_str().unwrap(),
                "auth.refused" | "request.refused" | "refusals.summary"
            )
        })
        .map(|e| serde_json::to_vec(e).unwrap().len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_flood_grows_the_ledger_by_windows_and_keeps_legitimate_calls_going() {
    let app = app_or_skip!();
    let flood_secs = campaign::env_or("AUDITGATE_FLOOD_SECS", 30u64);
    let base_secs = campaign::env_or("AUDITGATE_FLOOD_BASE_SECS", 10u64);
    let dir = GatewayDir::new(&app.url);
    let mut gw = Spawned::start(&dir).unwrap();
    let token = dir.token("alice");
    let gateway: SocketAddr = gw.base.trim_start_matches("http://").parse().unwrap();

    // Warm up (sessions, the app's first calls), then the unflooded rate before and after the
    // flood: their mean is the reference, so a drift of the shared machine's load does not pass
    // for the flood's effect.
    legit_rate(&gw.url, &token, 2).await;
    let unflooded_before = legit_rate(&gw.url, &token, base_secs).await;

    let before_bytes = ledger_bytes(&dir);
    let flood_start = auditgate_ledger::timestamp::Timestamp::now();
    let statuses: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
    let deadline = Instant::now() + Duration::from_secs(flood_secs);
    let mut flooders = Vec::new();
    for i in 0..FLOODERS {
        let source = std::net::IpAddr::from([127, 0, 0, 2 + i]);
        flooders.push(tokio::spawn(flood(
            source,
            gateway,
            deadline,
            statuses.clone(),
        )));
    }
    let flooded = legit_rate(&gw.url, &token, flood_secs).await;
    for f in flooders {
        f.await.unwrap();
    }
    let unflooded_after = legit_rate(&gw.url, &token, base_secs).await;
    let unflooded = (unflooded_before + unflooded_after) / 2.0;
    // Past the last window, so that its summary is written before the stop.
    let status = tokio::task::block_in_place(|| gw.terminate(Duration::from_secs(30)));
    assert!(
        status.is_some_and(|s| s.success()),
        "graceful stop: {status:?}"
    );
    gw.assert_no_panic();
    let grown = ledger_bytes(&dir) - before_bytes;

    let verdict = campaign::assert_verifies(&dir, "after the flood");
    let entries = dir.entries();
    let [forbidden, _, other] = [0, 1, 2].map(|i| statuses[i].load(Ordering::Relaxed));
    let sent = forbidden + other;
    let during: Vec<Value> = entries
        .iter()
        .filter(|e| e["ts"].as_str().unwrap() >= flood_start.as_str())
        .cloned()
        .collect();
    let accounted = refusals_accounted(&during, "request.refused");
    let refusals = refusal_bytes(&entries, flood_start.as_str());
    let recorded = during
        .iter()
        .filter(|e| e["kind"] == "request.refused")
        .count();
    let ratio = flooded / unflooded;
    println!(
        "flood campaign: {FLOODERS} unauthenticated clients x {flood_secs} s, {HEADER_BYTES}-byte \
         Origin: {sent} flooding requests answered (403 {forbidden}, other {other}), \
         {accounted} accounted for in the ledger ({recorded} entries, the rest in summaries); refusal entries and summaries \
         {refusals} bytes; ledger growth during the flood {grown} bytes (legitimate calls \
         included); legitimate calls/s unflooded {unflooded:.1} (before {unflooded_before:.1}, \
         after {unflooded_after:.1}), flooded {flooded:.1}, ratio {ratio:.2}; verifier {}",
        verdict["gateway"]["invariants"]
    );
    assert_eq!(other, 0, "every flooding request is refused 403");
    assert_eq!(accounted, sent, "every flooding request is accounted for");
    assert!(refusals <= 1_000_000, "refusals wrote {refusals} bytes");
    assert!(
        ratio >= 0.8,
        "legitimate calls/s fell to {ratio:.2} of the unflooded rate"
    );
}

//! The HTTP listener's limits (`gateway/src/server/listener.rs`), black-box over raw TCP: a body
//! slower than `body_timeout_secs` is answered 408 with a JSON-RPC error and recorded; a request
//! head slower than `header_timeout_secs` (or a keep-alive connection idle that long) has its
//! connection closed and leaves no entry; at `max_connections` a new connection is served only
//! once another closes; and none of it cuts a long response (an approval wait, a GET stream) or
//! changes graceful shutdown.
//!
//! Times are bounds for hangs, never measurements: each timeout is at least what was configured
//! and at most a few times it.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, RunningGateway, kinds};

/// How long a connection the server should close may stay open before the test calls it a hang.
const HANG: Duration = Duration::from_secs(10);

/// `host:port` of a running gateway.
fn addr(gw: &RunningGateway) -> String {
    gw.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (EOF or reset); `None` if it is still open after
/// [`HANG`]. Returns what arrived and when the close was seen.
fn read_until_closed(s: &mut TcpStream) -> Option<(Vec<u8>, Instant)> {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let give_up = Instant::now() + HANG;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some((got, Instant::now())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() > give_up {
                    return None;
                }
            }
            Err(_) => return Some((got, Instant::now())),
        }
    }
}

/// A POST head for `path` announcing `length` body bytes.
fn post_head(addr: &str, path: &str, token: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         accept: application/json, text/event-stream\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n\r\n"
    )
}

/// Status code and JSON body of a raw HTTP/1.1 response (`content-length` framed).
fn parse_response(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|_| json!({"raw": text})),
    )
}

/// Sends `head` and the start of a body that never completes; returns the answer and how long
/// after the head it came, once the server has closed the connection.
fn stalled_body(addr: &str, head: &str) -> (u16, Value, Duration) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let sent = Instant::now();
    s.write_all(br#"{"jsonrpc":"2.0","#).unwrap();
    let (raw, closed) = read_until_closed(&mut s).expect("the server kept a stalled body open");
    let (status, body) = parse_response(&raw);
    (status, body, closed - sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_its_timeout_is_refused_408_recorded_and_its_connection_closed() {
    let dir = GatewayDir::offline("[server]\nbody_timeout_secs = 1\n");
    let gw = RunningGateway::start(&dir).await;
    let addr = addr(&gw);
    let limit = Duration::from_secs(1);

    let head = post_head(&addr, "/mcp", &dir.token("alice"), 200);
    let (status, body, took) = tokio::task::block_in_place(|| stalled_body(&addr, &head));
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["id"], Value::Null, "{body}");
    assert_eq!(body["error"]["code"], -32000, "{body}");
    assert_eq!(
        body["error"]["message"],
        "Request Timeout: the body did not arrive within 1 s"
    );
    assert!(took >= limit && took < 4 * limit, "closed after {took:?}");
    let entries = dir.entries();
    let e = entries.last().unwrap();
    assert_eq!(e["kind"], "request.refused", "{e}");
    assert_eq!(e["status"], 408, "{e}");
    assert_eq!(e["reason"], "body_timeout", "{e}");
    assert_eq!(e["principal"], "alice", "{e}");
    assert!(
        e["remote"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{e}"
    );

    // The operator API reads receipts under the same deadline, after its own checks.
    let head = post_head(&addr, "/admin/approvals/apr_x", &dir.token("ops"), 200);
    let (status, body, _) = tokio::task::block_in_place(|| stalled_body(&addr, &head));
    assert_eq!(status, 408, "{body}");
    let e = dir.entries().last().unwrap().clone();
    assert_eq!(
        (&e["reason"], &e["principal"]),
        (&json!("body_timeout"), &json!("ops"))
    );

    // A body that arrives in time, on another connection, is served as usual.
    let mut c = Mcp::new(&gw.url, Some(dir.token("alice")));
    c.initialize().await;
    let v = c.request("ping", json!({})).await;
    assert_eq!(v["result"], json!({}), "{v}");
    gw.stop().await;
    dir.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_mid_body_is_recorded_as_an_incomplete_body_not_an_oversized_one() {
    let dir = GatewayDir::offline("");
    let gw = RunningGateway::start(&dir).await;
    let addr = addr(&gw);
    let before = dir.entries().len();
    tokio::task::block_in_place(|| {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(post_head(&addr, "/mcp", &dir.token("alice"), 200).as_bytes())
            .unwrap();
        s.write_all(br#"{"jsonrpc":"2.0","#).unwrap();
        s.shutdown(std::net::Shutdown::Both).unwrap();
    });
    // The refusal is recorded once the handler sees the body end early.
    let give_up = Instant::now() + HANG;
    let refused = loop {
        let entries = dir.entries();
        if let Some(e) = entries[before..]
            .iter()
            .find(|e| e["kind"] == "request.refused")
        {
            break e.clone();
        }
        assert!(Instant::now() < give_up, "no refusal recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refused["reason"], "body_incomplete", "{refused}");
    assert_eq!(refused["status"], 400, "{refused}");
    assert_eq!(refused["principal"], "alice", "{refused}");
    gw.stop().await;
    dir.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_slower_than_its_timeout_closes_the_connection_unrecorded() {
    let dir = GatewayDir::offline("[server]\nheader_timeout_secs = 1\n");
    let gw = RunningGateway::start(&dir).await;
    let addr = addr(&gw);
    let limit = Duration::from_secs(1);
    let before = dir.entries().len();

    let closes = tokio::task::block_in_place(|| {
        // Silent after connecting; half a head; a keep-alive connection idle after one request.
        let silent = TcpStream::connect(&addr).unwrap();
        let mut half = TcpStream::connect(&addr).unwrap();
        half.write_all(b"POST /mcp HTTP/1.1\r\nhost: x\r\nauthoriz")
            .unwrap();
        let mut idle = TcpStream::connect(&addr).unwrap();
        idle.write_all(format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
            .unwrap();
        let opened = Instant::now();
        let mut out = Vec::new();
        for (name, mut s) in [("silent", silent), ("half a head", half), ("idle", idle)] {
            let (got, closed) = read_until_closed(&mut s)
                .unwrap_or_else(|| panic!("{name}: still open after {HANG:?}"));
            out.push((
                name,
                String::from_utf8_lossy(&got).to_string(),
                closed - opened,
            ));
        }
        out
    });
    for (name, got, took) in &closes {
        assert!(
            *took >= limit && *took < 4 * limit,
            "{name}: closed after {took:?}"
        );
        if *name == "idle" {
            assert!(got.starts_with("HTTP/1.1 200 "), "{name}: {got}");
            assert_eq!(got.matches("HTTP/1.1").count(), 1, "{name}: {got}");
        } else {
            // No request arrived: nothing to answer (hyper just closes).
            assert!(got.is_empty(), "{name}: {got}");
        }
    }
    // A connection is not a request: nothing recorded.
    assert_eq!(dir.entries().len(), before, "connections were recorded");
    gw.stop().await;
    dir.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_a_new_connection_is_served_only_once_another_closes() {
    // Idle connections must stay open for the test: a long header timeout.
    let dir = GatewayDir::offline("[server]\nmax_connections = 2\nheader_timeout_secs = 60\n");
    let gw = RunningGateway::start(&dir).await;
    let addr = addr(&gw);
    let before = dir.entries().len();

    // Two keep-alive connections, each served once (so both were accepted), then left idle.
    let held: Vec<TcpStream> = tokio::task::block_in_place(|| {
        (0..2)
            .map(|_| {
                let mut s = TcpStream::connect(&addr).unwrap();
                s.write_all(format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
                    .unwrap();
                s.set_read_timeout(Some(HANG)).unwrap();
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).unwrap();
                assert!(buf[..n].starts_with(b"HTTP/1.1 200 "), "{buf:?}");
                s
            })
            .collect()
    });

    // A third client connects (the kernel's backlog takes it) but is not served...
    let third = tokio::spawn({
        let url = format!("{}/healthz", gw.base);
        async move {
            let r = reqwest::Client::new().get(url).send().await.unwrap();
            (r.status(), Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served while two were open with max_connections = 2"
    );
    // ...until one of the first two closes.
    let mut held = held.into_iter();
    let closed_at = Instant::now();
    drop(held.next());
    let (status, served_at) = tokio::time::timeout(HANG, third)
        .await
        .expect("the third connection was not served after one closed")
        .unwrap();
    assert_eq!(status, 200);
    assert!(served_at > closed_at);
    drop(held);
    // Connections are never recorded.
    assert_eq!(dir.entries().len(), before);
    gw.stop().await;
    dir.verify();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_timeouts_do_not_cut_long_responses_and_shutdown_still_ends_them() {
    // Read timers of 1 s; a call waiting for an approval (30 s) and a GET stream outlive them.
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/function-spec.json");
    let dir = GatewayDir::with_timeout(
        "http://127.0.0.1:9",
        &format!(
            "\n[catalog]\nspec_file = {:?}\n\n[server]\nheader_timeout_secs = 1\nbody_timeout_secs = 1\n",
            spec.display().to_string()
        ),
        "30s",
    );
    let gw = RunningGateway::start(&dir).await;
    let mut alice = Mcp::new(&gw.url, Some(dir.token("alice")));
    alice.initialize().await;
    let session = alice.session.clone().unwrap();
    let stream = alice
        .http
        .get(&gw.url)
        .bearer_auth(dir.token("alice"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let call = tokio::spawn(async move {
        alice
            .request(
                "tools/call",
                json!({"name": "invoices_refund", "arguments":
                    {"invoiceId": "inv_1", "amountCents": 11000, "reason": "damaged"}}),
            )
            .await
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!call.is_finished(), "the approval wait was cut short");
    let mut stream = stream;
    let open = tokio::time::timeout(Duration::from_millis(200), stream.chunk()).await;
    assert!(open.is_err(), "the GET stream ended early: {open:?}");

    // Shutdown: pending approvals expire, the call answers, the stream ends, the stop returns.
    let stopped = tokio::spawn(gw.stop());
    let v = tokio::time::timeout(HANG, call)
        .await
        .expect("the waiting call did not end at shutdown")
        .unwrap();
    assert_eq!(v["result"]["isError"], true, "{v}");
    let text = v["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("lapsed (gateway shutdown)"), "{text}");
    let end = tokio::time::timeout(HANG, async {
        while stream.chunk().await.ok().flatten().is_some() {}
    })
    .await;
    assert!(end.is_ok(), "the GET stream outlived the shutdown");
    tokio::time::timeout(HANG, stopped)
        .await
        .expect("graceful shutdown hung")
        .unwrap();

    dir.verify();
    let entries = dir.entries();
    let all = kinds(&entries);
    assert_eq!(
        &all[all.len() - 3..],
        ["approval.expired", "session.close", "gateway.stop"],
        "{all:?}"
    );
    let expired = entries.iter().rfind(|e| e["kind"] == "approval.expired");
    assert_eq!(expired.unwrap()["reason"], "gateway_shutdown");
}

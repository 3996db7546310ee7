//! Negative protocol tests for Streamable HTTP: every status code and JSON-RPC error the
//! gateway answers with, and the ledger entry each refusal leaves.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, RunningGateway};

/// The last entry of `kind`.
fn last<'a>(entries: &'a [Value], kind: &str) -> &'a Value {
    entries.iter().rev().find(|e| e["kind"] == kind).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_refusals_answer_precisely_and_are_recorded() {
    // No upstream is needed: nothing here may reach it.
    let dir = GatewayDir::offline("[server]\nmax_body_bytes = 4096\n");
    let gw = RunningGateway::start(&dir).await;
    let http = reqwest::Client::new();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let post = |token: Option<&str>| {
        let r = http
            .post(&gw.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json");
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    };
    let alice = dir.token("alice");
    let mut step = 0usize;
    let mut expect = |entries: &[Value], kind: &str, reason: &str| {
        step += 1;
        let e = last(entries, kind);
        assert_eq!(e["reason"], reason, "step {step}: {e}");
    };

    // 403: a browser page from another origin (DNS rebinding).
    let r = post(Some(&alice))
        .header("origin", "http://evil.example")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    expect(&dir.entries(), "request.refused", "bad_origin");
    // A localhost origin is fine.
    let r = post(Some(&alice))
        .header("origin", "http://localhost:6274")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // 401: no token, a malformed header, an unknown token, a revoked key.
    let r = post(None).json(&init).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    expect(&dir.entries(), "auth.refused", "missing");
    let r = post(None)
        .header("authorization", "Basic YWxpY2U6cHc=")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    expect(&dir.entries(), "auth.refused", "malformed");
    let r = post(Some("not-a-key")).json(&init).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let entries = dir.entries();
    expect(&entries, "auth.refused", "malformed");
    assert!(last(&entries, "auth.refused")["token_fp"].is_string());
    let r = post(Some(&dir.token("mallory")))
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let entries = dir.entries();
    expect(&entries, "auth.refused", "revoked");
    assert!(last(&entries, "auth.refused")["key_id"].is_string());

    // 406, 415, 413.
    let r = http
        .post(&gw.url)
        .bearer_auth(&alice)
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);
    expect(&dir.entries(), "request.refused", "not_acceptable");
    let r = http
        .post(&gw.url)
        .bearer_auth(&alice)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "text/plain")
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    expect(&dir.entries(), "request.refused", "unsupported_media_type");
    let big =
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x".repeat(5000)}});
    let r = post(Some(&alice)).json(&big).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    expect(&dir.entries(), "request.refused", "body_too_large");

    // 400 with JSON-RPC errors: malformed JSON (-32700), not JSON-RPC (-32600), a batch.
    for (body, code) in [
        ("{not json", -32700),
        (r#"{"id": 1, "method": "ping"}"#, -32600),
        (r#"[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]"#, -32600),
    ] {
        let r = post(Some(&alice)).body(body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{body}");
        let e = last(&dir.entries(), "protocol.error").clone();
        assert_eq!(e["code"], code);
        assert_eq!(e["bytes"], body.len());
    }

    // Sessions: 400 without one, 404 unknown, 404 for another principal's.
    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"});
    let r = post(Some(&alice)).json(&ping).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    expect(&dir.entries(), "request.refused", "missing_session");
    let r = post(Some(&alice))
        .header("mcp-session-id", "0".repeat(32))
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    expect(&dir.entries(), "request.refused", "unknown_session");
    let mut a = Mcp::new(&gw.url, Some(alice.clone()));
    a.initialize().await;
    let r = post(Some(&dir.token("carol")))
        .header("mcp-session-id", a.session.as_ref().unwrap())
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    expect(
        &dir.entries(),
        "request.refused",
        "session_principal_mismatch",
    );

    // 400: an unsupported MCP-Protocol-Version (another supported one is accepted).
    for version in ["1999-01-01", "latest"] {
        let r = post(Some(&alice))
            .header("mcp-session-id", a.session.as_ref().unwrap())
            .header("mcp-protocol-version", version)
            .json(&ping)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{version}");
        expect(&dir.entries(), "request.refused", "bad_protocol_version");
    }

    // JSON-RPC errors inside a session (HTTP 200): unknown method, server/discover (clients in
    // auto mode fall back to initialize on it), bad cursor, bad tools/call params, initialize again.
    for (method, params, code) in [
        ("logging/setLevel", json!({"level": "info"}), -32601),
        ("server/discover", json!({}), -32601),
        ("tools/list", json!({"cursor": "bogus"}), -32602),
        ("tools/call", json!({"arguments": {}}), -32602),
        ("tools/call", json!({"name": 5}), -32602),
    ] {
        let v = a.request(method, params).await;
        assert_eq!(v["error"]["code"], code, "{method}: {v}");
        let e = last(&dir.entries(), "protocol.error").clone();
        assert_eq!(e["code"], code, "{method}");
        assert_eq!(e["session"], a.session.clone().unwrap().as_str());
    }
    // An object key serde_json reserves is refused as the frame is read (before, the gateway
    // read {"$serde_json::private::RawValue": "<json>"} as the embedded JSON), and nothing of the
    // call is recorded but the protocol error.
    let calls = |entries: &[Value]| {
        entries
            .iter()
            .filter(|e| e["kind"] == "call.request")
            .count()
    };
    let before = calls(&dir.entries());
    let raw = "$serde_json::private::RawValue";
    let v = a
        .request(
            "tools/call",
            json!({"name": "invoices_list", "arguments": {raw: "{\"limit\":1}"}}),
        )
        .await;
    assert_eq!(v["error"]["code"], -32600, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("/params/arguments/{raw}")),
        "{message}"
    );
    let entries = dir.entries();
    let e = last(&entries, "protocol.error");
    assert_eq!(
        (e["code"].clone(), e["message"].as_str()),
        (json!(-32600), Some(message))
    );
    assert_eq!(calls(&entries), before);

    let r = a
        .post()
        .header("mcp-protocol-version", "2025-03-26")
        .json(&json!({"jsonrpc": "2.0", "id": 99, "method": "resources/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["result"], json!({"resources": []}));
    // ping answers; a notification answers 202.
    let v = a.request("ping", json!({})).await;
    assert_eq!(v["result"], json!({}));
    let r = a
        .post()
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    // GET opens an SSE stream; PUT is 405.
    let r = http
        .get(&gw.url)
        .bearer_auth(&alice)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", a.session.as_ref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    drop(r);
    let r = http.put(&gw.url).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    expect(&dir.entries(), "request.refused", "method_not_allowed");

    // DELETE ends the session; using it afterwards is 404.
    assert_eq!(a.delete().await, StatusCode::OK);
    let r = a.post().json(&ping).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Health.
    let r = http
        .get(format!("{}/healthz", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    gw.stop().await;
    let report = dir.verify();
    assert!(report.entries > 20);
    let entries = dir.entries();
    let ledger_text = entries.iter().map(Value::to_string).collect::<String>();
    for who in ["alice", "carol", "mallory"] {
        assert!(
            !ledger_text.contains(&dir.token(who)),
            "a token reached the ledger"
        );
    }
    assert!(!ledger_text.contains("not-a-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_discover_without_a_session_is_a_recorded_method_not_found() {
    let dir = GatewayDir::offline("");
    let gw = RunningGateway::start(&dir).await;
    let probe = Mcp::new(&gw.url, Some(dir.token("alice")));
    let r = probe
        .post()
        .header("mcp-protocol-version", "2026-07-28")
        .json(&json!({"jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], -32601, "{v}");
    gw.stop().await;
    let e = last(&dir.entries(), "protocol.error").clone();
    assert_eq!(e["method"], "server/discover");
    assert!(e.get("session").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_asking_for_progress_is_answered_as_an_sse_stream() {
    let dir = GatewayDir::offline("");
    let gw = RunningGateway::start(&dir).await;
    let mut c = Mcp::new(&gw.url, Some(dir.token("alice")));
    c.initialize().await;
    let r = c
        .post()
        .json(
            &json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
            "name": "convex_delete_document", "arguments": {}, "_meta": {"progressToken": "p1"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = r.text().await.unwrap();
    let data = body
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no data line in {body:?}"));
    let v: Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["id"], 5);
    assert_eq!(v["result"]["isError"], true, "{v}");
    gw.stop().await;
}

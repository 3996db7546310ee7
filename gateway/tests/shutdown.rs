//! Graceful shutdown: a call in flight when the stop arrives finishes, its result is recorded and
//! answered, and only then are the session closed and the stop recorded.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, RunningGateway, kinds};

/// A Convex-speaking upstream that answers every function call after `delay`.
async fn slow_upstream(delay: Duration) -> String {
    let app = axum::Router::new().fallback(move || async move {
        tokio::time::sleep(delay).await;
        axum::Json(json!({"status": "success", "value": {"slow": true}, "logLines": []}))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_calls_finish_before_the_stop_is_recorded() {
    let upstream = slow_upstream(Duration::from_millis(800)).await;
    let spec = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/function-spec.json");
    let dir = GatewayDir::with_extra(
        &upstream,
        &format!(
            "\n[catalog]\nspec_file = {:?}\n",
            spec.display().to_string()
        ),
    );
    let gw = RunningGateway::start(&dir).await;
    let mut alice = Mcp::new(&gw.url, Some(dir.token("alice")));
    alice.initialize().await;
    let call = tokio::spawn(async move {
        alice
            .call("diagnostics_echo", json!({"value": "in flight"}))
            .await
    });
    // Let the call reach the upstream, then stop the gateway.
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.stop().await;
    let result: Value = call.await.unwrap();
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["content"][0]["text"], r#"{"slow":true}"#);

    dir.verify();
    let entries = dir.entries();
    let all = kinds(&entries);
    let tail = &all[all.len() - 4..];
    assert_eq!(
        tail,
        [
            "call.request",
            "call.result",
            "session.close",
            "gateway.stop"
        ],
        "{all:?}"
    );
    assert_eq!(entries[entries.len() - 2]["reason"], "shutdown");
}

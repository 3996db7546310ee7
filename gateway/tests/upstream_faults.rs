//! Upstream faults each yield a precise error, never a panic or a hang: a fault-injecting HTTP
//! server on 127.0.0.1:0 (raw tokio sockets, so any byte stream can be sent).
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auditgate::catalog::spec::FunctionKind;
use auditgate::upstream::convex::{
    CallIdentity, ClientOptions, ConvexClient, DeployKey, UpstreamError,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Copy)]
enum Fault {
    Silent,
    Raw(&'static str),
    Endless,
}

/// Serves `fault` to every connection; counts requests.
async fn fault_server(fault: Fault) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = socket.read(&mut buf).await;
                match fault {
                    Fault::Silent => tokio::time::sleep(Duration::from_secs(60)).await,
                    Fault::Raw(text) => {
                        let _ = socket.write_all(text.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    }
                    Fault::Endless => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                        let _ = socket.write_all(head.as_bytes()).await;
                        let chunk = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
                        while socket.write_all(chunk.as_bytes()).await.is_ok() {}
                    }
                }
            });
        }
    });
    (url, hits)
}

fn client(url: &str) -> ConvexClient {
    let options = ClientOptions {
        timeout: Duration::from_millis(500),
        query_retries: 2,
        retry_base_delay: Duration::from_millis(5),
        max_response_bytes: 64 * 1024,
    };
    ConvexClient::new(
        url,
        DeployKey::from_secret("fault-test-key".into()).unwrap(),
        options,
    )
    .unwrap()
}

async fn query(url: &str) -> UpstreamError {
    client(url)
        .call(FunctionKind::Query, "a:b", json!({}), &CallIdentity::Admin)
        .await
        .unwrap_err()
}

fn http(status: &str, body: &str) -> &'static str {
    Box::leak(
        format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
            .into_boxed_str(),
    )
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = query(&url).await;
    assert!(matches!(err, UpstreamError::Transport { .. }), "{err:?}");
    assert!(!format!("{err:?}").contains("fault-test-key"));
}

#[tokio::test]
async fn a_silent_upstream_times_out() {
    let (url, _) = fault_server(Fault::Silent).await;
    let started = Instant::now();
    let err = query(&url).await;
    assert!(matches!(err, UpstreamError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_500_with_html_is_an_unexpected_status() {
    let (url, hits) = fault_server(Fault::Raw(http(
        "500 Internal Server Error",
        "<html>oops</html>",
    )))
    .await;
    let err = query(&url).await;
    assert!(
        matches!(&err, UpstreamError::UnexpectedStatus { status: 500, body_excerpt } if body_excerpt.contains("oops")),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "500 is not retried");
}

#[tokio::test]
async fn malformed_json_is_a_malformed_response() {
    let (url, _) = fault_server(Fault::Raw(http("200 OK", "{\"status\": \"succ"))).await;
    assert!(matches!(
        query(&url).await,
        UpstreamError::MalformedResponse { status: 200, .. }
    ));
    let (url, _) = fault_server(Fault::Raw(http("200 OK", "{\"status\": \"weird\"}"))).await;
    assert!(matches!(
        query(&url).await,
        UpstreamError::MalformedResponse { .. }
    ));
    let (url, _) = fault_server(Fault::Raw(http(
        "200 OK",
        "{\"status\":\"success\",\"value\":{\"$integer\":\"AQ==\"}}",
    )))
    .await;
    assert!(matches!(
        query(&url).await,
        UpstreamError::MalformedResponse { .. }
    ));
}

#[tokio::test]
async fn a_huge_body_is_cut_off() {
    let (url, _) = fault_server(Fault::Endless).await;
    let err = query(&url).await;
    assert!(
        matches!(err, UpstreamError::ResponseTooLarge { limit_bytes: 65536 }),
        "{err:?}"
    );
    let huge = Box::leak(
        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", 1u64 << 40).into_boxed_str(),
    );
    let (url, _) = fault_server(Fault::Raw(huge)).await;
    assert!(matches!(
        query(&url).await,
        UpstreamError::ResponseTooLarge { .. }
    ));
}

#[tokio::test]
async fn overload_retries_queries_but_not_mutations() {
    let body = "{\"code\":\"Overloaded\",\"message\":\"try later\"}";
    let (url, hits) = fault_server(Fault::Raw(http("503 Service Unavailable", body))).await;
    let err = query(&url).await;
    assert!(
        matches!(&err, UpstreamError::Request { status: 503, code, .. } if code == "Overloaded"),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3, "1 try + 2 retries");
    let (url, hits) = fault_server(Fault::Raw(http("503 Service Unavailable", body))).await;
    let err = client(&url)
        .call(
            FunctionKind::Mutation,
            "a:b",
            json!({}),
            &CallIdentity::Admin,
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "mutations are never retried"
    );
    let (url, hits) = fault_server(Fault::Raw(http(
        "560 UDF Failed",
        "{\"status\":\"error\",\"errorMessage\":\"boom\"}",
    )))
    .await;
    assert!(matches!(query(&url).await, UpstreamError::Function { .. }));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

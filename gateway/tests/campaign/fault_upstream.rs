//! A misbehaving Convex upstream on 127.0.0.1:0 (raw tokio sockets, so any byte stream can be
//! sent). Each call's behaviour is chosen by the marker the agent put in its arguments
//! (`diagnostics:echo {value: "fault-<behaviour>-..."}`), so one gateway can meet every fault:
//!
//! | behaviour | answer |
//! |---|---|
//! | `ok` | a valid Convex success echoing the marker |
//! | `delay` | the same after 300 ms |
//! | `slow` | nothing for 30 s (longer than the gateway's upstream timeout) |
//! | `garbage` | random bytes that are not HTTP, then close |
//! | `badjson` | HTTP 200 `application/json` whose body is not JSON |
//! | `html500` | HTTP 500 with an HTML page |
//! | `reset` | the connection closed without an answer |
//! | `endless` | HTTP 200 with a chunked body that never ends |
//!
//! Every request's marker is logged in order (the upstream's own call log).
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The running server: its URL and the markers of the calls it received, in order.
#[derive(Debug, Clone)]
pub struct FaultUpstream {
    pub url: String,
    pub received: Arc<Mutex<Vec<String>>>,
}

impl FaultUpstream {
    pub async fn start() -> FaultUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(socket, log.clone()));
            }
        });
        FaultUpstream { url, received }
    }

    pub fn received(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Reads one request (headers and a `Content-Length` body); `None` if the peer went away.
async fn read_request(socket: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf[header_end..].to_vec())
}

/// The marker in a request body: the string after `"fault-`, up to its closing quote.
fn marker(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let start = text.find("fault-")?;
    let rest = &text[start..];
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}

fn http(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn serve(mut socket: TcpStream, log: Arc<Mutex<Vec<String>>>) {
    let Some(body) = read_request(&mut socket).await else {
        return;
    };
    let marker = marker(&body).unwrap_or_else(|| "fault-unknown".into());
    // The gateway's own requests (the data tools' probe at start: system queries and `GET`s
    // without a body) are not agent calls; everything else is logged.
    let own = body.is_empty() || String::from_utf8_lossy(&body).contains("\"_system/");
    if !own {
        log.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(marker.clone());
    }
    let behaviour = marker.split('-').nth(1).unwrap_or("ok").to_string();
    let ok = http(
        "200 OK",
        "application/json",
        &format!(r#"{{"status":"success","value":"{marker}","logLines":[]}}"#),
    );
    match behaviour.as_str() {
        "delay" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = socket.write_all(ok.as_bytes()).await;
        }
        "slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            let _ = socket.write_all(ok.as_bytes()).await;
        }
        "garbage" => {
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let bytes: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            let _ = socket.write_all(&bytes).await;
        }
        "badjson" => {
            let r = http(
                "200 OK",
                "application/json",
                "{\"status\": \"success\", \"value\": [1, 2,",
            );
            let _ = socket.write_all(r.as_bytes()).await;
        }
        "html500" => {
            let r = http(
                "500 Internal Server Error",
                "text/html",
                "<html><body><h1>502 Bad Gateway</h1><p>upstream exploded</p></body></html>",
            );
            let _ = socket.write_all(r.as_bytes()).await;
        }
        "reset" => {}
        "endless" => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(b"e\r\n{\"status\":\"suc\r\n").await;
            let chunk = format!("{:x}\r\n{}\r\n", 65536, "x".repeat(65536));
            while socket.write_all(chunk.as_bytes()).await.is_ok() {}
        }
        _ => {
            let _ = socket.write_all(ok.as_bytes()).await;
        }
    }
    let _ = socket.shutdown().await;
}

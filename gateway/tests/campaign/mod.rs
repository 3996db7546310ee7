//! Shared pieces of the reliability campaigns (`campaign_*.rs`, docs/reliability.md): the
//! `auditgate serve --http` binary spawned and killed, the `auditgate-verify` binary run on a
//! ledger, a raw MCP-over-HTTP client that reports transport failures instead of panicking, the
//! gateway's resident memory, latency percentiles and a seeded RNG.
//!
//! Each campaign has a short CI version (the default) and a long one selected by
//! `AUDITGATE_CAMPAIGN=full`; seeds come from `AUDITGATE_CAMPAIGN_SEED` or the clock and are
//! printed, so any failure can be replayed.
#![allow(dead_code, reason = "each campaign uses a different subset")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::gateway::{GatewayDir, gateway_bin};

pub mod fault_upstream;

/// Whether the long version was asked for (`AUDITGATE_CAMPAIGN=full`).
pub fn full() -> bool {
    std::env::var("AUDITGATE_CAMPAIGN").is_ok_and(|v| v == "full")
}

/// A number from the environment, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The campaign seed: `AUDITGATE_CAMPAIGN_SEED`, else the clock (printed by the caller).
pub fn seed() -> u64 {
    std::env::var("AUDITGATE_CAMPAIGN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1
}

/// xorshift64*: small, fast, reproducible from its seed.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn range_ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }
}

/// `auditgate serve --http 127.0.0.1:0` as a child process, its stderr collected.
pub struct Spawned {
    pub child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:PORT/mcp`
    pub url: String,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub stderr: Arc<Mutex<String>>,
    /// From spawn to the "listening" line.
    pub startup: Duration,
}

impl Spawned {
    /// Spawns the gateway on `dir` and waits (at most 60 s) for its "listening" line.
    pub fn start(dir: &GatewayDir) -> Result<Spawned, String> {
        Self::start_limited(dir, None)
    }

    /// [`Spawned::start`] with the process's open-file limit lowered to `fd_limit`
    /// (`ulimit -n`), to reach it with few connections.
    pub fn start_limited(dir: &GatewayDir, fd_limit: Option<u32>) -> Result<Spawned, String> {
        let started = Instant::now();
        let mut cmd = match fd_limit {
            None => Command::new(gateway_bin()),
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\"")])
                    .arg(gateway_bin());
                c
            }
        };
        let mut child = cmd
            .arg("serve")
            .arg("--config")
            .arg(dir.config_path())
            .args(["--http", "127.0.0.1:0"])
            .env("AUDITGATE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn auditgate: {e}"))?;
        let pid = child.id();
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(url) = line.strip_prefix("auditgate: listening on ")
                        && let Some(tx) = tx.take()
                    {
                        let _ = tx.send(url.trim().to_string());
                    }
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => {
                let base = url.trim_end_matches("/mcp").to_string();
                Ok(Spawned {
                    child,
                    pid,
                    url,
                    base,
                    stderr: log,
                    startup: started.elapsed(),
                })
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                Err(format!(
                    "the gateway did not say it listens; stderr:\n{}",
                    log.lock().unwrap_or_else(|e| e.into_inner())
                ))
            }
        }
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait (at most `limit`) for the exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Resident memory in KiB (`VmRSS`), and its peak (`VmHWM`).
    pub fn rss_kib(&self) -> (u64, u64) {
        rss_of(self.pid)
    }

    pub fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Fails if the process printed a Rust panic.
    pub fn assert_no_panic(&self) {
        let text = self.stderr_text();
        assert!(
            !text.contains("panicked at"),
            "the gateway panicked:\n{text}"
        );
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB (0 when unreadable).
pub fn rss_of(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The `auditgate-verify` binary of this build. `cargo test --workspace` (CI) builds it before
/// any test runs; when a campaign runs alone (`cargo test -p auditgate --test campaign_crash`)
/// and the binary is missing or older than the verifier's or the ledger's sources, it is built
/// here. (Not unconditionally: `cargo build -p auditgate-verify` resolves features for one
/// package and would rebuild shared dependencies that `--workspace` built differently.)
pub fn verifier_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<this test> → target/<profile>/auditgate-verify
        let exe = std::env::current_exe().expect("current exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>/deps")
            .to_path_buf();
        let bin = profile_dir.join("auditgate-verify");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
        let newest_source = ["verifier", "ledger", "policies"]
            .iter()
            .filter_map(|c| newest_mtime(&root.join(c).join("src")))
            .max();
        let fresh = matches!((built, newest_source), (Some(b), Some(s)) if b >= s);
        if !fresh {
            let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cmd.current_dir(&root)
                .args([
                    "build",
                    "-q",
                    "-p",
                    "auditgate-verify",
                    "--bin",
                    "auditgate-verify",
                ])
                .env(
                    "CARGO_TARGET_DIR",
                    profile_dir.parent().expect("target dir"),
                );
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build");
            assert!(status.success(), "building auditgate-verify failed");
        }
        assert!(bin.is_file(), "{} missing", bin.display());
        bin
    })
    .clone()
}

/// The latest modification time of any file under `dir`.
fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let path = e.path();
        let t = if path.is_dir() {
            newest_mtime(&path)
        } else {
            e.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(t);
    }
    newest
}

/// `auditgate-verify verify <ledger> --pubkey <key> [--pin FILE] --json`: (exit code, JSON).
pub fn verify_cli(ledger: &Path, pubkey: &str, pin: Option<&Path>) -> (i32, Value) {
    let mut cmd = Command::new(verifier_bin());
    cmd.arg("verify")
        .arg(ledger)
        .args(["--pubkey", pubkey, "--json"]);
    if let Some(pin) = pin {
        cmd.arg("--pin").arg(pin);
    }
    let out = cmd.output().expect("run auditgate-verify");
    let code = out.status.code().unwrap_or(-1);
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(text.trim()).unwrap_or_else(
        |_| json!({"unparsed_stdout": text, "stderr": String::from_utf8_lossy(&out.stderr)}),
    );
    (code, v)
}

/// Verifies a gateway folder's ledger with the verifier binary; panics unless it is valid.
/// Returns the JSON verdict (with the dangling-request warnings).
pub fn assert_verifies(dir: &GatewayDir, when: &str) -> Value {
    let (code, v) = verify_cli(&dir.ledger_dir(), &dir.verifier_key.to_string(), None);
    assert!(
        code == 0 && v["valid"] == true,
        "{when}: the ledger does not verify (exit {code}): {v}"
    );
    assert_eq!(v["gateway"]["invariants"], "hold", "{when}: {v}");
    v
}

/// A gateway folder whose upstream is `upstream_url` (e.g. a [`fault_upstream`]), whose catalog
/// comes from the committed function spec, and whose upstream timeout is `timeout_ms`.
pub fn fault_dir(upstream_url: &str, timeout_ms: u64) -> GatewayDir {
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/function-spec.json");
    let dir = GatewayDir::with_extra(
        upstream_url,
        &format!("\n[catalog]\nspec_file = \"{}\"\n", spec.display()),
    );
    let path = dir.config_path();
    let text = std::fs::read_to_string(&path)
        .expect("config")
        .replace("timeout_ms = 5000", &format!("timeout_ms = {timeout_ms}"));
    std::fs::write(&path, text).expect("write config");
    dir
}

/// A raw MCP Streamable HTTP client whose failures are values (a killed gateway is expected).
#[derive(Debug, Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
    pub session: Option<String>,
    next_id: i64,
}

impl Client {
    pub fn new(url: &str, token: &str, timeout: Duration) -> Client {
        Client {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("reqwest client"),
            url: url.to_string(),
            token: token.to_string(),
            session: None,
            next_id: 0,
        }
    }

    fn post(&self) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json");
        if let Some(s) = &self.session {
            r = r
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-06-18");
        }
        r
    }

    /// `initialize` and `notifications/initialized`; sets the session id.
    pub async fn initialize(&mut self) -> Result<(), String> {
        self.session = None;
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "campaign", "version": "1"}}});
        let r = self
            .post()
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != 200 {
            return Err(format!("initialize: HTTP {}", r.status()));
        }
        let id = r
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or("initialize: no session id")?;
        r.bytes().await.map_err(|e| e.to_string())?;
        self.session = Some(id);
        let r = self
            .post()
            .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != 202 {
            return Err(format!("initialized: HTTP {}", r.status()));
        }
        Ok(())
    }

    /// The id the next request will carry.
    pub fn peek_id(&self) -> i64 {
        self.next_id + 1
    }

    /// Sends a request; `Ok` with the JSON-RPC response once one arrived.
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": self.next_id, "method": method,
                          "params": params});
        let r = self
            .post()
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        reply_of(r).await
    }

    /// `tools/call`.
    pub async fn call(&mut self, name: &str, arguments: Value) -> Result<Value, String> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    pub async fn delete(&mut self) -> Result<u16, String> {
        let mut r = self.http.delete(&self.url).bearer_auth(&self.token);
        if let Some(s) = &self.session {
            r = r.header("mcp-session-id", s);
        }
        let status = r.send().await.map_err(|e| e.to_string())?.status();
        self.session = None;
        Ok(status.as_u16())
    }
}

/// The JSON-RPC response in an answer (JSON, or the last response event of an SSE stream).
pub async fn reply_of(r: reqwest::Response) -> Result<Value, String> {
    let status = r.status();
    let sse = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = r.text().await.map_err(|e| e.to_string())?;
    if !sse {
        return serde_json::from_str(&text).map_err(|e| format!("HTTP {status}: {e}: {text}"));
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .rfind(|v| v.get("id").is_some())
        .ok_or_else(|| format!("no response in the stream: {text}"))
}

/// The text of a `CallToolResult`'s first content block.
pub fn text_of(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
pub fn pct_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
}

/// Every upstream call the Convex test app logged (`/_test/calls`).
pub async fn app_calls(app_url: &str) -> Vec<Value> {
    let v: Value = reqwest::get(format!("{app_url}/_test/calls"))
        .await
        .expect("GET /_test/calls")
        .json()
        .await
        .expect("calls JSON");
    v["calls"].as_array().cloned().unwrap_or_default()
}

/// Calls the gateway makes on its own behalf (the catalog it loads at start, the data tools'
/// probe and table listings), not an agent's.
pub fn is_gateway_own_call(call: &Value) -> bool {
    call["path"].as_str().is_some_and(|p| {
        p.starts_with("_system/cli/modules:")
            || p == "_system/frontend/getSchemas:default"
            || (p == "_system/cli/tableData:default" && call["args"]["table"] == "auditgateProbe")
    })
}

/// Whole milliseconds of an RFC 3339 UTC timestamp (`...T12:34:56.789...Z`), for comparing the
/// ledger's clock with the test app's (same host, `Date.toISOString()` truncates to ms).
pub fn unix_ms(ts: &str) -> Option<i128> {
    // YYYY-MM-DDTHH:MM:SS(.frac)?Z
    let (date, time) = ts.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let time = time.trim_end_matches('Z');
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>());
    let (hh, mm, ss) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let ms: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    // days from civil (Howard Hinnant's algorithm)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000 + ms) as i128)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unix_ms_matches_known_instants() {
        assert_eq!(super::unix_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            super::unix_ms("2026-01-01T00:00:00.123456789Z"),
            Some(1_767_225_600_123)
        );
    }
}

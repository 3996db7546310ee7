//! The gateway's `tools/call` throughput and latency next to the same load sent straight to the
//! upstream, and next to the disk's `fdatasync` latency, all measured in one run.
//!
//! `cargo bench -p auditgate --bench gateway` starts, in this process:
//! - a minimal **instant upstream** speaking the Convex wire format: an axum server on its own
//!   thread answering every `POST /api/...` at once with
//!   `{"status":"success","value":{…},"logLines":[]}` (one fixed invoice);
//! - the **real gateway** (`Gateway::build` + `http::serve`, on its own multi-thread tokio runtime
//!   like `auditgate serve`), with the billing example policy, a one-query function spec
//!   (`invoices:get`) and a real durable ledger (sled index, `fdatasync`, signed checkpoints) in a
//!   temporary directory on disk;
//! - a **load generator** (its own tokio runtime): N sessions, each an HTTP client that sends
//!   `initialize`, `notifications/initialized`, then `tools/call invoices_get` back to back; and,
//!   for the baseline, the same N clients sending the Convex `POST /api/query` the gateway would
//!   send, straight to the upstream.
//!
//! It prints, per phase (1 and 32 sessions, direct then through the gateway): calls/s, p50 and
//! p99 as the client sees them, the cores this process and the rest of the machine kept busy, CPU
//! time per call in the gateway's threads (runtime, ledger, sled) and in the harness's (load
//! generator, upstream); the **limit**, `write` of 1 KiB + `fdatasync` to a file on the ledger's
//! filesystem, measured right before and right after each gateway phase (median over up to 4,000);
//! the upstream's share of a gateway call as the gateway recorded it (`call.result.latency_us`);
//! the connections the upstream accepted (keep-alive); and the ratios the targets of issue 5 are
//! stated in. Absolute times are printed, never asserted. Every gateway phase ends by verifying
//! its ledger (chain, Merkle roots, signatures) and checking that it holds a `call.request` and an
//! `ok` `call.result` for every answered call.
//!
//! All of it shares the machine's cores: the load generator, the upstream, the gateway's runtime
//! and the ledger's threads compete for them, as a gateway and its agents on one host would.
//!
//! `AUDITGATE_BENCH_SECS` (default 5) seconds measured per phase after a 1 s warm-up;
//! `AUDITGATE_BENCH_SESSIONS` (default `1,32`); `AUDITGATE_BENCH_DIR` the directory for ledgers
//! (default: the system temp dir, which must not be tmpfs for the figures to mean anything);
//! `AUDITGATE_BENCH_CLIENT_THREADS` (default 1) the load generator's worker threads;
//! `AUDITGATE_BENCH_GATEWAY_WORKERS` the gateway runtime's (default: one per core, as `serve`);
//! `AUDITGATE_BENCH_THREADS=1` prints each thread's CPU time per phase.
#![allow(clippy::unwrap_used, reason = "benchmark harness")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use auditgate::apikeys::KeyStore;
use auditgate::config::Config;
use auditgate::server::{Gateway, http};
use auditgate_ledger::{SigningKey, VerifierKey, VerifyOptions};
use axum::body::Bytes;
use serde_json::{Value, json};

const WARMUP: Duration = Duration::from_secs(1);
const NOW: &str = "2026-01-01T00:00:00.000000000Z";
/// What the upstream answers to every call (convex-encoded JSON; numbers are float64).
const UPSTREAM_ANSWER: &str = r#"{"status":"success","value":{"_id":"k57f3h2m9x0qinv0001","customerId":"k57f3h2m9x0qcus0001","amountCents":12500,"currency":"EUR","status":"open"},"logLines":[]}"#;
const INVOICE_ID: &str = "k57f3h2m9x0qinv0001";

fn secs() -> Duration {
    let s = std::env::var("AUDITGATE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    Duration::from_secs_f64(s)
}

fn session_counts() -> Vec<usize> {
    std::env::var("AUDITGATE_BENCH_SESSIONS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 32])
}

fn client_threads() -> usize {
    std::env::var("AUDITGATE_BENCH_CLIENT_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// The gateway runtime's worker threads: `AUDITGATE_BENCH_GATEWAY_WORKERS`, else tokio's default
/// (one per core), as `auditgate serve` runs.
fn gateway_workers() -> Option<usize> {
    std::env::var("AUDITGATE_BENCH_GATEWAY_WORKERS")
        .ok()
        .and_then(|s| s.parse().ok())
}

fn bench_root() -> tempfile::TempDir {
    match std::env::var_os("AUDITGATE_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

/// The filesystem holding `path`: (type, source, mount point), from /proc/self/mountinfo.
fn filesystem_of(path: &Path) -> (String, String, String) {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut best: Option<(usize, (String, String, String))> = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(mount), Some(fstype), Some(source)) =
            (fields.get(4), fields.get(dash + 1), fields.get(dash + 2))
        else {
            continue;
        };
        if path.starts_with(mount) && best.as_ref().is_none_or(|(len, _)| mount.len() >= *len) {
            best = Some((
                mount.len(),
                (fstype.to_string(), source.to_string(), mount.to_string()),
            ));
        }
    }
    best.map(|(_, fs)| fs)
        .unwrap_or_else(|| ("unknown".into(), "unknown".into(), "?".into()))
}

/// CPU seconds (user + system) each thread of this process used so far, by thread id, with its
/// name: from /proc/self/task/*/stat.
fn thread_cpu() -> std::collections::HashMap<u64, (String, f64)> {
    let mut out = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Ok(tid) = task.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15 of the line, 11 and 12 after the comm.
        out.insert(tid, (name, (ticks(11) + ticks(12)) / 100.0));
    }
    out
}

/// CPU seconds the whole machine spent busy so far (all but idle and iowait), from /proc/stat.
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: f64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    busy / 100.0
}

/// Whether a thread belongs to the gateway (its runtime, the ledger's and sled's threads) rather
/// than to the harness (load generator, upstream, main).
fn is_gateway_thread(name: &str) -> bool {
    ["gw-", "ledger-", "sled-"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// CPU seconds used between two [`thread_cpu`] snapshots: (gateway threads, the rest).
fn cpu_between(
    before: &std::collections::HashMap<u64, (String, f64)>,
    after: &std::collections::HashMap<u64, (String, f64)>,
) -> (f64, f64) {
    let (mut gateway, mut rest) = (0.0, 0.0);
    let verbose = std::env::var_os("AUDITGATE_BENCH_THREADS").is_some();
    for (tid, (name, secs)) in after {
        let used = secs - before.get(tid).map_or(0.0, |(_, s)| *s);
        if verbose && used > 0.0 {
            eprintln!("  thread {tid} {name}: {used:.2} s CPU");
        }
        if is_gateway_thread(name) {
            gateway += used;
        } else {
            rest += used;
        }
    }
    (gateway, rest)
}

/// The limit: `write` of 1 KiB at the end of a file + `fdatasync`, back to back, for about a
/// second (at most 4,000 times). Returns every latency, sorted.
fn fdatasync_latencies(dir: &Path) -> Vec<Duration> {
    let path = dir.join("fdatasync-probe.bin");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let record = [0x5au8; 1024];
    let mut out = Vec::new();
    let t0 = Instant::now();
    while out.len() < 4000 && (t0.elapsed() < Duration::from_secs(1) || out.len() < 200) {
        let t = Instant::now();
        f.write_all(&record).unwrap();
        f.sync_data().unwrap();
        out.push(t.elapsed());
    }
    drop(f);
    std::fs::remove_file(&path).unwrap();
    out.sort();
    out
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ---------------------------------------------------------------------------------------------
// The instant upstream.

/// An axum server on its own thread and single-threaded runtime, answering every `/api/...`
/// POST with [`UPSTREAM_ANSWER`] once the request body is read.
struct Upstream {
    url: String,
    /// TCP connections accepted so far (to show that clients keep connections alive).
    connections: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    fn start() -> Self {
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let connections = Arc::new(AtomicU64::new(0));
        let accepted = connections.clone();
        let thread = std::thread::Builder::new()
            .name("upstream".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let app = axum::Router::new().route(
                        "/api/{*function}",
                        axum::routing::post(|_body: Bytes| async {
                            (
                                [(axum::http::header::CONTENT_TYPE, "application/json")],
                                UPSTREAM_ANSWER,
                            )
                        }),
                    );
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    url_tx
                        .send(format!("http://{}", listener.local_addr().unwrap()))
                        .unwrap();
                    let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    });
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stop_rx.await;
                        })
                        .await
                        .unwrap();
                });
            })
            .unwrap();
        Self {
            url: url_rx.recv().unwrap(),
            connections,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A gateway folder and a running gateway.

fn write_secret(path: &Path, text: &str) {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// The one function the bench calls: `invoices:get({invoiceId: v.id("invoices")})`, a public
/// query returning an invoice object (so results carry `structuredContent`).
const SPEC: &str = r#"{"url": "http://upstream.invalid", "functions": [{
  "identifier": "invoices.js:get", "functionType": "Query", "visibility": {"kind": "public"},
  "args": {"type": "object", "value": {
    "invoiceId": {"fieldType": {"type": "id", "tableName": "invoices"}, "optional": false}}},
  "returns": {"type": "object", "value": {
    "_id": {"fieldType": {"type": "id", "tableName": "invoices"}, "optional": false},
    "customerId": {"fieldType": {"type": "id", "tableName": "customers"}, "optional": false},
    "amountCents": {"fieldType": {"type": "number"}, "optional": false},
    "currency": {"fieldType": {"type": "string"}, "optional": false},
    "status": {"fieldType": {"type": "string"}, "optional": false}}}}]}"#;

/// A gateway folder in `parent`: config, keys, the spec, and one API key (an analyst).
struct GatewayDir {
    path: PathBuf,
    token: String,
    verifier_key: VerifierKey,
}

impl GatewayDir {
    fn new(parent: &Path, name: &str, upstream_url: &str) -> Self {
        let root = parent.join(name);
        std::fs::create_dir_all(root.join("keys")).unwrap();
        let policy =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/billing/policy.toml");
        write_secret(&root.join("deploy.key"), "bench:auditgate|0123456789abcdef");
        let key = SigningKey::generate("bench-gateway").unwrap();
        key.save_new(&root.join("keys/ledger.key")).unwrap();
        write_secret(&root.join("keys/commit.key"), &"ab".repeat(32));
        std::fs::write(root.join("function-spec.json"), SPEC).unwrap();
        std::fs::write(
            root.join("auditgate.toml"),
            format!(
                "[convex]\nurl = \"{upstream_url}\"\ndeploy_key_file = \"deploy.key\"\n\
                 timeout_ms = 5000\n\n[catalog]\nspec_file = \"function-spec.json\"\n\n\
                 [policy]\nfile = \"{}\"\n",
                policy.display()
            ),
        )
        .unwrap();
        let store = KeyStore::new(root.join("api-keys.json"));
        let (token, _) = store
            .create("bench-agent", &["analyst".into()], None, NOW)
            .unwrap();
        Self {
            path: root,
            token,
            verifier_key: key.verifier_key(),
        }
    }
}

/// The gateway on its own runtime (as `auditgate serve` runs it: multi-thread, one worker per
/// core), serving HTTP on 127.0.0.1:<random>.
struct RunningGateway {
    runtime: tokio::runtime::Runtime,
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningGateway {
    fn start(dir: &GatewayDir) -> Self {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if let Some(n) = gateway_workers() {
            builder.worker_threads(n);
        }
        let runtime = builder
            .enable_all()
            .thread_name("gw-worker")
            .build()
            .unwrap();
        let config = Config::load(&dir.path.join("auditgate.toml")).unwrap();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (url, task) = runtime.block_on(async {
            let gateway = Arc::new(Gateway::build(config).await.unwrap());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/mcp", listener.local_addr().unwrap());
            let task = tokio::spawn(http::serve(gateway, listener, async {
                let _ = stop_rx.await;
            }));
            (url, task)
        });
        Self {
            runtime,
            url,
            stop,
            task,
        }
    }

    /// Graceful shutdown (sessions closed, `gateway.stop` recorded).
    fn stop(self) {
        let _ = self.stop.send(());
        self.runtime.block_on(self.task).unwrap().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The load.

#[derive(Clone)]
enum Target {
    /// `POST /api/query` straight to the upstream, as the gateway's Convex client sends it.
    Direct { url: String },
    /// MCP `tools/call` through the gateway.
    Gateway { url: String, token: String },
}

/// One session's client: its own HTTP connection pool (keep-alive), as a separate agent has.
struct Session {
    http: reqwest::Client,
    target: Target,
    session_id: Option<String>,
    next_id: u64,
}

impl Session {
    async fn open(target: Target) -> Self {
        let http = reqwest::Client::builder().build().unwrap();
        let mut s = Self {
            http,
            target,
            session_id: None,
            next_id: 1,
        };
        if let Target::Gateway { .. } = &s.target {
            let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "auditgate-bench", "version": "1"}}});
            let r = s.mcp_post(init.to_string()).send().await.unwrap();
            assert_eq!(r.status(), 200, "initialize");
            s.session_id = r
                .headers()
                .get("mcp-session-id")
                .map(|v| v.to_str().unwrap().to_string());
            r.bytes().await.unwrap();
            let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            let r = s.mcp_post(note.to_string()).send().await.unwrap();
            assert_eq!(r.status(), 202, "notifications/initialized");
        }
        s
    }

    fn mcp_post(&self, body: String) -> reqwest::RequestBuilder {
        let Target::Gateway { url, token } = &self.target else {
            unreachable!("MCP requests go to the gateway")
        };
        let mut r = self
            .http
            .post(url)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = &self.session_id {
            r = r
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-06-18");
        }
        r
    }

    /// One call; panics unless it succeeded.
    async fn call(&mut self) {
        self.next_id += 1;
        match &self.target {
            Target::Direct { url } => {
                let body = json!({"path": "invoices:get", "args": {"invoiceId": INVOICE_ID},
                                  "format": "convex_encoded_json"});
                let r = self
                    .http
                    .post(url)
                    .header("authorization", "Convex bench:auditgate|0123456789abcdef")
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let bytes = r.bytes().await.unwrap();
                assert!(bytes.starts_with(br#"{"status":"success""#));
            }
            Target::Gateway { .. } => {
                let body = json!({"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
                                  "params": {"name": "invoices_get",
                                             "arguments": {"invoiceId": INVOICE_ID}}});
                let r = self.mcp_post(body.to_string()).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let bytes = r.bytes().await.unwrap();
                let reply: Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(reply["result"]["isError"], false, "{reply}");
            }
        }
    }
}

struct Phase {
    sessions: usize,
    calls: usize,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    cores_busy: f64,
    /// Cores the rest of the machine kept busy meanwhile (other processes, kernel threads).
    others_busy: f64,
    /// CPU time per measured call in the gateway's threads, and in the harness's.
    gateway_cpu_per_call: Duration,
    harness_cpu_per_call: Duration,
}

/// `sessions` sessions calling back to back: a warm-up, then `secs` measured.
async fn run_phase(target: Target, sessions: usize, secs: Duration) -> Phase {
    let mut opened = Vec::new();
    for _ in 0..sessions {
        opened.push(Session::open(target.clone()).await);
    }
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = opened
        .into_iter()
        .map(|mut s| {
            let (measuring, stop) = (measuring.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(1 << 16);
                while !stop.load(Ordering::Relaxed) {
                    let counted = measuring.load(Ordering::Relaxed);
                    let t = Instant::now();
                    s.call().await;
                    // Calls that began in the window and ended before it closed.
                    if counted && !stop.load(Ordering::Relaxed) {
                        latencies.push(t.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(WARMUP).await;
    let cpu0 = thread_cpu();
    let machine0 = machine_busy_seconds();
    let t0 = Instant::now();
    measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(secs).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let (gateway_cpu, harness_cpu) = cpu_between(&cpu0, &thread_cpu());
    let machine = (machine_busy_seconds() - machine0) / elapsed;
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let per_call = |secs: f64| Duration::from_secs_f64(secs / all.len().max(1) as f64);
    Phase {
        sessions,
        calls: all.len(),
        per_sec: all.len() as f64 / elapsed,
        p50: percentile(&all, 50),
        p99: percentile(&all, 99),
        cores_busy: (gateway_cpu + harness_cpu) / elapsed,
        others_busy: (machine - (gateway_cpu + harness_cpu) / elapsed).max(0.0),
        gateway_cpu_per_call: per_call(gateway_cpu),
        harness_cpu_per_call: per_call(harness_cpu),
    }
}

/// What a gateway phase left in its ledger.
struct LedgerFigures {
    entries: u64,
    mean_batch: f64,
    requests: u64,
    results: u64,
    /// The upstream call's share of a call as the gateway measured it (`call.result.latency_us`),
    /// sorted.
    upstream: Vec<Duration>,
    /// The members of the first `call.request` and `call.result` (without the ledger's own).
    sample_pair: Option<(Value, Value)>,
}

/// Verifies a gateway's ledger (chain, Merkle roots, checkpoint signatures) and reads its calls.
fn check_ledger(dir: &GatewayDir) -> LedgerFigures {
    let (mut requests, mut results, mut upstream) = (0u64, 0u64, Vec::new());
    let (mut sample_request, mut sample_result) = (None, None);
    let members = |bytes: &[u8]| {
        let mut entry: Value = serde_json::from_slice(bytes).unwrap();
        let map = entry.as_object_mut().unwrap();
        for own in auditgate_ledger::entry::RESERVED {
            map.remove(own);
        }
        entry
    };
    let report = auditgate_ledger::verify::verify_dir_visiting(
        &dir.path.join("ledger"),
        vec![dir.verifier_key.clone()],
        None,
        VerifyOptions::default(),
        &mut |v| {
            let has = |needle: &[u8]| v.bytes.windows(needle.len()).any(|w| w == needle);
            if has(br#""kind":"call.request""#) {
                requests += 1;
                sample_request.get_or_insert_with(|| members(v.bytes));
            } else if has(br#""kind":"call.result""#) {
                results += 1;
                sample_result.get_or_insert_with(|| members(v.bytes));
                let entry: Value = serde_json::from_slice(v.bytes).unwrap();
                assert_eq!(entry["outcome"], "ok", "{entry}");
                upstream.push(Duration::from_micros(entry["latency_us"].as_u64().unwrap()));
            }
        },
    )
    .unwrap();
    upstream.sort();
    LedgerFigures {
        entries: report.entries,
        // One checkpoint per batch (the genesis entry's included).
        mean_batch: report.entries as f64 / report.checkpoints.max(1) as f64,
        requests,
        results,
        upstream,
        sample_pair: sample_request.zip(sample_result),
    }
}

/// The ledger alone: `tasks` tasks, each appending a call's two entries in series
/// (`submit(..).await`, on a runtime like the gateway's, to a new ledger with the gateway's
/// options) back to back for about a second: what the gateway does per call, without HTTP,
/// policy or upstream. Returns each pair's time, sorted, and pairs per second.
fn ledger_pairs(dir: &Path, pair: &(Value, Value), tasks: usize) -> (Vec<Duration>, f64) {
    let key = SigningKey::generate("bench-ledger").unwrap();
    let ledger = Arc::new(
        auditgate_ledger::Ledger::create(dir, key, auditgate_ledger::LedgerOptions::default())
            .unwrap(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let t0 = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (ledger, (request, result)) = (ledger.clone(), pair.clone());
            runtime.spawn(async move {
                let mut out = Vec::new();
                while t0.elapsed() < Duration::from_secs(1) || out.len() < 100 {
                    let t = Instant::now();
                    for (kind, body) in [("call.request", &request), ("call.result", &result)] {
                        let draft = auditgate_ledger::Draft::from_value(kind, body).unwrap();
                        ledger.submit(draft).unwrap().await.unwrap();
                    }
                    out.push(t.elapsed());
                }
                out
            })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.extend(runtime.block_on(h).unwrap());
    }
    let per_sec = out.len() as f64 / t0.elapsed().as_secs_f64();
    drop(runtime);
    if let Ok(ledger) = Arc::try_unwrap(ledger) {
        ledger.close();
    }
    out.sort();
    (out, per_sec)
}

/// One concurrency level's figures.
struct Row {
    sessions: usize,
    direct: Phase,
    gateway: Phase,
    /// `fdatasync` latencies measured right before and right after the gateway phase, sorted.
    syncs: Vec<Duration>,
    ledger: LedgerFigures,
    /// The ledger alone appending a call's two entries in series, one pair per session at a
    /// time: each pair's time, sorted, and pairs per second.
    pairs: (Vec<Duration>, f64),
    /// TCP connections the upstream accepted during the direct and the gateway phase.
    connections: (u64, u64),
}

fn main() {
    let secs = secs();
    let counts = session_counts();
    let root = bench_root();
    let (fstype, source, mount) = filesystem_of(root.path());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("auditgate gateway benchmark: tools/call over Streamable HTTP, durable ledger");
    println!(
        "machine: {cores} cores, shared by the load generator ({} thread(s)), the instant \
         upstream (1 thread), the gateway's runtime ({cores} workers) and the ledger's threads",
        client_threads()
    );
    println!(
        "ledger dir: {} ({fstype} on {source}, mounted at {mount})",
        root.path().display()
    );
    if fstype == "tmpfs" || fstype == "ramfs" {
        println!(
            "WARNING: the ledger is on {fstype}, where fdatasync is free; point \
             AUDITGATE_BENCH_DIR at a disk"
        );
    }
    println!(
        "each phase: {:.0} s measured after {:.0} s of warm-up; the fdatasync limit is measured \
         right before and right after each gateway phase\n",
        secs.as_secs_f64(),
        WARMUP.as_secs_f64()
    );

    let upstream = Upstream::start();
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads())
        .enable_all()
        .thread_name("load")
        .build()
        .unwrap();

    let mut rows = Vec::new();
    for &n in &counts {
        let direct = Target::Direct {
            url: format!("{}/api/query", upstream.url),
        };
        let conns = upstream.connections.load(Ordering::Relaxed);
        let direct = load.block_on(run_phase(direct, n, secs));
        let direct_connections = upstream.connections.load(Ordering::Relaxed) - conns;
        let dir = GatewayDir::new(root.path(), &format!("gateway-{n}"), &upstream.url);
        let mut syncs = fdatasync_latencies(root.path());
        let gateway = RunningGateway::start(&dir);
        let target = Target::Gateway {
            url: gateway.url.clone(),
            token: dir.token.clone(),
        };
        let conns = upstream.connections.load(Ordering::Relaxed);
        let figures = load.block_on(run_phase(target, n, secs));
        let gateway_connections = upstream.connections.load(Ordering::Relaxed) - conns;
        gateway.stop();
        syncs.extend(fdatasync_latencies(root.path()));
        syncs.sort();
        let ledger = check_ledger(&dir);
        let pairs = ledger
            .sample_pair
            .as_ref()
            .map(|pair| ledger_pairs(&root.path().join(format!("ledger-{n}")), pair, n))
            .unwrap_or_default();
        rows.push(Row {
            sessions: n,
            direct,
            gateway: figures,
            syncs,
            ledger,
            pairs,
            connections: (direct_connections, gateway_connections),
        });
    }
    drop(upstream);

    println!(
        "| path | sessions | calls/s | p50 ms | p99 ms | cores busy: bench (others) | CPU µs/call: \
         gateway + harness | fdatasync p50 ms (limit) | ledger mean batch |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    for r in &rows {
        let (d, g) = (&r.direct, &r.gateway);
        println!(
            "| direct to upstream | {} | {:.0} | {:.3} | {:.3} | {:.2} ({:.2}) | {:.0} | | |",
            d.sessions,
            d.per_sec,
            ms(d.p50),
            ms(d.p99),
            d.cores_busy,
            d.others_busy,
            us(d.harness_cpu_per_call)
        );
        println!(
            "| through the gateway | {} | {:.0} | {:.3} | {:.3} | {:.2} ({:.2}) | {:.0} + {:.0} | \
             {:.3} | {:.1} |",
            g.sessions,
            g.per_sec,
            ms(g.p50),
            ms(g.p99),
            g.cores_busy,
            g.others_busy,
            us(g.gateway_cpu_per_call),
            us(g.harness_cpu_per_call),
            ms(percentile(&r.syncs, 50)),
            r.ledger.mean_batch
        );
    }
    println!();
    for r in &rows {
        let (d, g) = (&r.direct, &r.gateway);
        let fsync = percentile(&r.syncs, 50);
        let added = g.p50.saturating_sub(d.p50);
        let budget = fsync + Duration::from_micros(300);
        println!("{} session(s):", r.sessions);
        println!(
            "  limit: write 1 KiB + fdatasync on the ledger's filesystem: p50 {:.3} ms, mean \
             {:.3} ms, p99 {:.3} ms (n = {})",
            ms(fsync),
            ms(r.syncs.iter().sum::<Duration>() / r.syncs.len().max(1) as u32),
            ms(percentile(&r.syncs, 99)),
            r.syncs.len()
        );
        println!(
            "  added p50 latency (gateway − direct): {:.3} ms = {:.2} fdatasyncs; target ≤ one \
             fdatasync + 0.3 ms = {:.3} ms: {}",
            ms(added),
            added.as_secs_f64() / fsync.as_secs_f64(),
            ms(budget),
            if added <= budget { "met" } else { "MISSED" }
        );
        println!(
            "  (each call waits for two fdatasyncs in series — its request entry before it is \
             forwarded, its result entry before it is answered — so the floor is two: {:.3} ms \
             + 0.3 ms = {:.3} ms: {})",
            ms(2 * fsync),
            ms(2 * fsync + Duration::from_micros(300)),
            if added <= 2 * fsync + Duration::from_micros(300) {
                "within"
            } else {
                "over"
            }
        );
        let (pairs, pairs_per_sec) = &r.pairs;
        let pair = percentile(pairs, 50);
        println!(
            "  the ledger alone, {} task(s) each appending a call's two entries in series: p50 \
             {:.3} ms, p99 {:.3} ms, {:.0} pairs/s; the rest of the added p50 (HTTP, session, \
             policy, upstream client, hand-offs, contention): {:.3} ms",
            r.sessions,
            ms(pair),
            ms(percentile(pairs, 99)),
            pairs_per_sec,
            ms(added.saturating_sub(pair))
        );
        println!(
            "  throughput gateway/direct: {:.1}% ({:.0} / {:.0} calls/s)",
            100.0 * g.per_sec / d.per_sec,
            g.per_sec,
            d.per_sec
        );
        if r.sessions == 32 {
            println!(
                "  calls/s through the gateway at 32 sessions: {:.0}; target ≥ 5,000: {}",
                g.per_sec,
                if g.per_sec >= 5000.0 { "met" } else { "MISSED" }
            );
        }
        println!(
            "  connections the upstream accepted: {} from the load generator, {} from the \
             gateway (keep-alive)",
            r.connections.0, r.connections.1
        );
        let l = &r.ledger;
        println!(
            "  of the gateway's time, the upstream call (call.result.latency_us): p50 {:.3} ms, \
             p99 {:.3} ms",
            ms(percentile(&l.upstream, 50)),
            ms(percentile(&l.upstream, 99))
        );
        println!(
            "  ledger verified (chain, Merkle roots, signatures): {} entries, {} call.request, \
             {} call.result for {} calls measured",
            l.entries, l.requests, l.results, g.calls
        );
        assert_eq!(l.requests, l.results, "every request has its result");
        assert!(
            l.results >= g.calls as u64,
            "every answered call is in the ledger"
        );
    }
}

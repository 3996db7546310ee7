//! How long `Ledger::open` takes as the active segment grows, next to a limit measured in the
//! same run.
//!
//! `cargo bench -p auditgate-ledger --bench restart` grows one ledger whose segment size limit is
//! large (1 GiB: every entry stays in the active segment, so no sealed segment's saved head can
//! help) to about 1, 32 and 120 MiB, closes it, and opens it `AUDITGATE_BENCH_OPENS` times at each
//! size (median printed). The **limit** is reading and BLAKE3-hashing an 8 MiB file beside the
//! ledger (about the most an open that resumes from a head saved every 4 MiB reads: the bytes
//! since that head, plus a batch), measured right after the opens. The ratio is the figure: an
//! open that re-reads the whole segment grows with it, one that reads only the tail stays flat.
//!
//! `AUDITGATE_BENCH_MIB` picks the sizes (default `1,32,120`); `AUDITGATE_BENCH_OPENS` the opens
//! per size (default 5); `AUDITGATE_BENCH_INDEX=0` turns the sled index off;
//! `AUDITGATE_BENCH_DIR` the directory (default: a temp dir on the system disk).
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "benchmark harness"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use auditgate_ledger::{Draft, Ledger, LedgerOptions, SigningKey};
use serde_json::json;

/// Bytes the limit reads and hashes.
const LIMIT_BYTES: usize = 8 << 20;

fn env_list(name: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn bench_key() -> SigningKey {
    SigningKey::from_seed("bench.auditgate", &[9; 32]).unwrap()
}

fn options() -> LedgerOptions {
    LedgerOptions {
        segment_size_limit: 1 << 30,
        index: std::env::var("AUDITGATE_BENCH_INDEX").map_or(true, |v| v != "0"),
        ..LedgerOptions::default()
    }
}

/// A gateway-like `call.request` of about 850 bytes.
fn draft(i: u64) -> Draft {
    Draft::from_value(
        "call.request",
        &json!({
            "session": format!("sess-{:016x}", i % 64),
            "principal": "analyst@example.com",
            "tool": "billing_refund",
            "args": {"invoiceId": "jd7f3k2m9x0q", "amount": 1250 + i % 100, "currency": "EUR",
                     "reason": "duplicate charge reported by customer via support ticket",
                     "note": "x".repeat(400)},
            "policy_hash": "9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e",
            "request_id": i,
        }),
    )
    .unwrap()
}

/// The active segment's file and its length.
fn active_segment(dir: &Path) -> (std::path::PathBuf, u64) {
    let mut segments: Vec<_> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    let last = segments.pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    (last, len)
}

/// Appends (1024 entries queued at a time: one batch) until the active segment holds `mib`
/// MiB; returns the next entry number.
fn grow_to(ledger: &Ledger, dir: &Path, mib: u64, mut next: u64) -> u64 {
    while active_segment(dir).1 < mib << 20 {
        let tickets: Vec<_> = (0..1024)
            .map(|k| ledger.submit(draft(next + k)).unwrap())
            .collect();
        for t in tickets {
            t.wait().unwrap();
        }
        next += 1024;
    }
    next
}

/// The median open time, and the segment bytes the last open's scan read.
fn median_open(dir: &Path, opens: u64) -> (Duration, u64) {
    let mut scanned = 0;
    let mut times: Vec<Duration> = (0..opens.max(1))
        .map(|_| {
            let t = Instant::now();
            let (ledger, report) = Ledger::open(dir, bench_key(), options()).unwrap();
            let took = t.elapsed();
            scanned = report.scanned_bytes;
            ledger.close();
            took
        })
        .collect();
    times.sort();
    (times[times.len() / 2], scanned)
}

/// Reads and BLAKE3-hashes the `LIMIT_BYTES` file `path` (median of three).
fn limit(path: &Path) -> Duration {
    let mut times: Vec<Duration> = (0..3)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(blake3::hash(&std::fs::read(path).unwrap()));
            t.elapsed()
        })
        .collect();
    times.sort();
    times[1]
}

fn main() {
    let sizes = env_list("AUDITGATE_BENCH_MIB", &[1, 32, 120]);
    let opens = env_list("AUDITGATE_BENCH_OPENS", &[5])[0];
    let root = match std::env::var_os("AUDITGATE_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let dir = root.path().join("ledger");
    let limit_file = root.path().join("limit.bin");
    let filler: Vec<u8> = (0..LIMIT_BYTES).map(|i| (i % 251) as u8).collect();
    std::fs::write(&limit_file, filler).unwrap();
    println!(
        "open time with one large active segment (index {}), median of {opens} opens; limit = \
         read + BLAKE3 of {} MiB",
        if options().index { "on" } else { "off" },
        LIMIT_BYTES >> 20
    );
    println!(
        "{:>12} {:>9} {:>12} {:>10} {:>10} {:>8}",
        "segment MiB", "entries", "scanned MiB", "open ms", "limit ms", "ratio"
    );
    let mut next = 0;
    for mib in sizes {
        let ledger = if next == 0 {
            Ledger::create(&dir, bench_key(), options()).unwrap()
        } else {
            Ledger::open(&dir, bench_key(), options()).unwrap().0
        };
        next = grow_to(&ledger, &dir, mib, next);
        let entries = ledger.head().size;
        ledger.close();
        let (open, scanned) = median_open(&dir, opens);
        let (_, len) = active_segment(&dir);
        let limit = limit(&limit_file);
        println!(
            "{:>12.1} {:>9} {:>12.2} {:>10.1} {:>10.1} {:>8.2}",
            len as f64 / f64::from(1 << 20),
            entries,
            scanned as f64 / f64::from(1 << 20),
            open.as_secs_f64() * 1e3,
            limit.as_secs_f64() * 1e3,
            open.as_secs_f64() / limit.as_secs_f64()
        );
    }
}

//! Throughput of `canonical::check` on typical ~1 KiB ledger entries, next to BLAKE3 over the
//! same bytes (the verifier hashes every entry anyway, so the ratio is the figure that matters)
//! and next to the naive parse-and-re-encode check it replaces.
//!
//! Run with `cargo bench -p auditgate-ledger --bench canonical`. MB/s means 10^6 bytes/s.

use std::hint::black_box;
use std::time::{Duration, Instant};

use auditgate_ledger::canonical;
use serde_json::{Value, json};

/// Deterministic xorshift so every run measures the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[(self.next() % 16) as usize]))
            .collect()
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[(self.next() % options.len() as u64) as usize]
    }
}

/// One entry shaped like what the gateway records for a tool call, about 1 KiB encoded.
fn entry(rng: &mut Rng, seq: u64, with_floats: bool) -> Value {
    let tool = rng.pick(&[
        "fs.read_file",
        "fs.write_file",
        "http.fetch",
        "db.query",
        "shell.exec",
    ]);
    let decision = rng.pick(&["allow", "deny", "redact"]);
    let mut entry = json!({
        "seq": seq,
        "ts": format!("2025-06-{:02}T{:02}:{:02}:{:02}.{:03}Z", 1 + seq % 28, seq % 24, seq % 60, (seq * 7) % 60, seq % 1000),
        "prev": rng.hex(64),
        "request_id": format!("req-{}", rng.hex(26)),
        "actor": {"kind": "agent", "id": format!("agent-{}", rng.next() % 10_000), "session": rng.hex(32)},
        "tool": tool,
        "args": {
            "path": format!("/srv/projects/{}/src/{}.rs", rng.hex(8), rng.hex(12)),
            "query": "SELECT id, name, created_at FROM accounts WHERE owner = $1 AND status = 'active' ORDER BY created_at DESC LIMIT 50",
            "headers": {"accept": "application/json", "user-agent": "auditgate/0.1 (+tool-call)"},
            "limit": rng.next() % 500,
            "note": "Résumé of the change:\n\t- renamed \"old\" → \"new\"\n\t- path C:\\tmp unchanged ✓",
        },
        "policy": {"id": format!("pol-{}", rng.hex(8)), "rule": format!("rules[{}].match", rng.next() % 40), "tier": rng.next() % 4, "decision": decision},
        "result": {"status": "ok", "bytes": rng.next() % 1_000_000, "digest": rng.hex(64), "truncated": false, "error": null},
        "tags": ["prod", "eu-west-1", tool, decision],
    });
    if with_floats {
        entry["latency_ms"] = json!((rng.next() % 100_000) as f64 / 1000.0);
        entry["score"] = json!((rng.next() % 1_000_000) as f64 / 7.0);
    }
    entry
}

fn corpus(with_floats: bool) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..1024u64)
        .map(|seq| canonical::encode(&entry(&mut rng, 1_000_000 + seq, with_floats)))
        .collect()
}

/// Nanoseconds this thread has spent on a CPU, where Linux tells (`/proc/thread-self/schedstat`):
/// on a shared machine wall-clock time also counts time spent waiting for a core.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Runs `f` over the whole corpus repeatedly for about `budget`; returns MB/s of CPU time
/// (wall-clock time where CPU time is not available).
fn throughput(corpus: &[Vec<u8>], budget: Duration, f: &mut dyn FnMut(&[u8])) -> f64 {
    let bytes_per_pass: usize = corpus.iter().map(Vec::len).sum();
    let start = Instant::now();
    let cpu_start = thread_cpu_ns();
    let mut passes = 0u64;
    while start.elapsed() < budget {
        for entry in corpus {
            f(black_box(entry));
        }
        passes += 1;
    }
    let secs = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
        _ => start.elapsed().as_secs_f64(),
    };
    (passes as f64 * bytes_per_pass as f64) / secs / 1e6
}

/// A function timed over every entry of the corpus.
type Contender<'a> = dyn FnMut(&[u8]) + 'a;

/// Best of several short rounds, the contenders interleaved, so that a noisy neighbour on a
/// shared machine slows a round rather than skewing one contender.
fn best_of(corpus: &[Vec<u8>], contenders: &mut [&mut Contender<'_>]) -> Vec<f64> {
    const ROUNDS: usize = 7;
    let budget = Duration::from_millis(250);
    let mut best = vec![0.0f64; contenders.len()];
    for _ in 0..ROUNDS {
        for (f, best) in contenders.iter_mut().zip(&mut best) {
            *best = best.max(throughput(corpus, budget, *f));
        }
    }
    best
}

fn main() {
    for (label, with_floats) in [("integers only", false), ("with 2 floats", true)] {
        let corpus = corpus(with_floats);
        let mean = corpus.iter().map(Vec::len).sum::<usize>() / corpus.len();
        for entry in &corpus {
            assert!(
                canonical::check(entry).is_ok(),
                "corpus entry not canonical"
            );
        }
        let rates = best_of(
            &corpus,
            &mut [
                &mut |e| {
                    black_box(canonical::check(e).is_ok());
                },
                &mut |e| {
                    black_box(blake3::hash(e));
                },
                &mut |e| {
                    let value: Value = serde_json::from_slice(e).unwrap_or(Value::Null);
                    black_box(canonical::encode(&value) == e);
                },
            ],
        );
        let [check, blake3, naive] = rates[..] else {
            unreachable!("three contenders")
        };
        println!("corpus: 1024 entries, {label}, mean {mean} bytes");
        println!("  canonical::check      {check:8.1} MB/s");
        println!("  blake3::hash          {blake3:8.1} MB/s");
        println!("  parse + re-encode     {naive:8.1} MB/s");
        println!("  check time / blake3 time {:5.2}", blake3 / check);
    }
}

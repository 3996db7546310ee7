//! `auditgate-verify verify` throughput on a generated gateway ledger of 1M entries, next to the
//! raw hashing limit measured in the same run on the same cores.
//!
//! `cargo bench -p auditgate-verify --bench verify` generates (deterministically, with the
//! tests' scripted gateway: sessions of forwarded calls with results, refusals, approvals;
//! batches of 25 entries per signed checkpoint, 64 MiB segments) a ledger and prints:
//! - the CLI's `verify` (every ledger rule V1–V14 and the gateway invariants G1–G5), entries/s;
//! - the ledger crate's `verify_dir` alone (no gateway invariants), entries/s;
//! - the raw hashing limit: BLAKE3 (chain) + SHA-256 (RFC 6962 leaf) of the same entry bytes
//!   on all cores, nothing else; and that plus one strict Ed25519 check per checkpoint;
//! - the ratios. Best of `AUDITGATE_BENCH_ROUNDS` (default 3) runs each, interleaved, with the
//!   files in the page cache (the verifier's cost, not the disk's).
//!
//! `AUDITGATE_BENCH_ENTRIES` (default 1000000), `AUDITGATE_BENCH_DIR` (default: a temp dir).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark harness")]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use auditgate_ledger::checkpoint::SignedCheckpoint;
use auditgate_ledger::segment::{self, RecordType};
use auditgate_ledger::verify::{VerifyOptions, verify_dir};
use sha2::Digest as _;
use support::writer::{self, Layout};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Every entry payload and checkpoint note of the ledger, read back from its segments.
fn records(dir: &Path) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for p in paths {
        let b = std::fs::read(&p).unwrap();
        let mut off = segment::HEADER_LEN;
        while off < b.len() {
            let r = segment::decode_record(&b, off).unwrap();
            off = r.end();
            match r.ty {
                RecordType::Entry => entries.push(r.payload.to_vec()),
                RecordType::Checkpoint => checkpoints.push(r.payload.to_vec()),
                RecordType::Seal => {}
            }
        }
    }
    (entries, checkpoints)
}

/// Runs `f` over `items` split across all cores; returns seconds.
fn timed_parallel<T: Sync>(items: &[T], f: impl Fn(&T) + Sync) -> f64 {
    let start = Instant::now();
    let chunk = items.len().div_ceil(threads());
    std::thread::scope(|s| {
        for c in items.chunks(chunk) {
            let f = &f;
            s.spawn(move || c.iter().for_each(f));
        }
    });
    start.elapsed().as_secs_f64()
}

fn hash_limit(entries: &[Vec<u8>]) -> f64 {
    entries.len() as f64
        / timed_parallel(entries, |e| {
            std::hint::black_box(blake3::hash(e));
            let mut h = sha2::Sha256::new();
            h.update([0u8]);
            h.update(e);
            std::hint::black_box(h.finalize());
        })
}

fn signature_seconds(notes: &[Vec<u8>]) -> f64 {
    let keys = [writer::key(0).verifier_key()];
    let parsed: Vec<SignedCheckpoint> = notes
        .iter()
        .map(|n| SignedCheckpoint::parse(n).unwrap())
        .collect();
    timed_parallel(&parsed, |cp| {
        assert!(!cp.verify(&keys).unwrap().is_empty());
    })
}

fn cli_verify(dir: &Path) -> f64 {
    let start = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_auditgate-verify"))
        .args([
            "verify",
            dir.to_str().unwrap(),
            "--pubkey",
            &support::pubkey(),
            "--json",
        ])
        .output()
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["gateway"]["invariants"], "hold", "{v}");
    secs
}

fn crate_verify(dir: &Path) -> f64 {
    let start = Instant::now();
    verify_dir(
        dir,
        vec![writer::key(0).verifier_key()],
        None,
        VerifyOptions::default(),
    )
    .unwrap();
    start.elapsed().as_secs_f64()
}

fn main() {
    let n = env_u64("AUDITGATE_BENCH_ENTRIES", 1_000_000);
    let rounds = env_u64("AUDITGATE_BENCH_ROUNDS", 3);
    let root = match std::env::var_os("AUDITGATE_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let dir = root.path().join("ledger");
    let layout = Layout {
        batch: 25,
        segment_limit: 64 * 1024 * 1024,
        ..Layout::default()
    };
    let t = Instant::now();
    let mut w = writer::Writer::new(&dir, &layout);
    support::script::bulk(n, 20, &mut |events| w.extend(events));
    let written = w.finish();
    let (entries, notes) = records(&dir);
    let bytes: usize = entries.iter().map(Vec::len).sum();
    println!(
        "ledger: {} entries ({:.0} bytes mean, {:.0} MiB), {} checkpoints, generated in {:.1} s; {} threads",
        written.entries,
        bytes as f64 / entries.len() as f64,
        bytes as f64 / 1048576.0,
        notes.len(),
        t.elapsed().as_secs_f64(),
        threads()
    );

    let (mut cli, mut lib, mut hash, mut sig) = (f64::MAX, f64::MAX, 0.0f64, f64::MAX);
    for round in 0..rounds {
        cli = cli.min(cli_verify(&dir));
        lib = lib.min(crate_verify(&dir));
        hash = hash.max(hash_limit(&entries));
        sig = sig.min(signature_seconds(&notes));
        println!("  round {}: done", round + 1);
    }
    let e = entries.len() as f64;
    let cli_rate = e / cli;
    let lib_rate = e / lib;
    let hash_sig_rate = e / (e / hash + sig);
    println!(
        "auditgate-verify verify (V1-V14 + G1-G5):      {cli_rate:>12.0} entries/s ({cli:.2} s)"
    );
    println!(
        "ledger verify_dir alone (V1-V14):               {lib_rate:>12.0} entries/s ({lib:.2} s)"
    );
    println!("raw hashing limit (BLAKE3 + SHA-256 leaf):      {hash:>12.0} entries/s");
    println!("hashing + one Ed25519 check per checkpoint:     {hash_sig_rate:>12.0} entries/s");
    println!(
        "ratio to hashing: verify {:.0}% (verify_dir {:.0}%); to hashing + signatures: verify {:.0}%",
        100.0 * cli_rate / hash,
        100.0 * lib_rate / hash,
        100.0 * cli_rate / hash_sig_rate
    );
}

//! `auditgate-verify verify` throughput on generated 1M-entry gateway ledgers, one per batch size
//! (entries per signed checkpoint), next to the hardware limits measured in the same run on the
//! same cores.
//!
//! `cargo bench -p auditgate-verify --bench verify` generates (deterministically, with the
//! tests' scripted gateway: sessions of forwarded calls with results, refusals, approvals; 64 MiB
//! segments) one ledger per batch size and prints, per batch size:
//! - `verify`: the CLI end to end (`auditgate-verify verify --json` as a child process; every
//!   ledger rule V1–V14 and the gateway rules), entries/s, MiB/s and the child's peak RSS
//!   (`VmHWM` of `/proc/<pid>/status`, polled every 2 ms until it exits);
//! - `verify_dir`: the ledger crate's verification alone, in process;
//! - **issue limit** (issue 21): CRC-32C of every frame + BLAKE3 of every entry + Ed25519 batch
//!   verification of every checkpoint signature;
//! - **full limit**: that + the SHA-256 work of the format (the RFC 6962 leaf hash of every
//!   entry, every interior node of the tree and the nodes of every checkpoint's root) — what any
//!   verifier of this format must compute;
//! - the ratios to both. Each limit part runs on all cores over data already in memory, timed
//!   alone; a limit is the sum of its parts' times. Best of `AUDITGATE_BENCH_ROUNDS` (default
//!   3) runs each, interleaved, with the files in the page cache (the verifier's cost, not the
//!   disk's).
//!
//! `AUDITGATE_BENCH_ENTRIES` (default 1000000; 100000 for a short run), `AUDITGATE_BENCH_BATCHES`
//! (default `1,8,64`), `AUDITGATE_BENCH_DIR` (default: a temp dir), `AUDITGATE_BENCH_BASELINE`
//! (optional: another `auditgate-verify` binary, e.g. built before a change, timed in the same
//! rounds on the same ledger, for a before/after pair under the same load),
//! `AUDITGATE_BENCH_KEEP` (optional: a directory, on the same file system as the ledgers, to move
//! them to instead of deleting them, for profiling).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark harness")]

#[path = "../tests/support/mod.rs"]
mod support;

use std::ops::Range;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use auditgate_ledger::checkpoint::SignedCheckpoint;
use auditgate_ledger::ed25519;
use auditgate_ledger::segment::{self, RecordType};
use auditgate_ledger::verify::{VerifyOptions, verify_dir};
use sha2::Digest as _;
use support::writer::{self, Layout};

/// Signatures per batch check in the limit (the verifier uses the same).
const SIG_BATCH: usize = 64;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A ledger's bytes in memory: segments, and where its frames, entries and notes are.
struct Bytes {
    segments: Vec<Vec<u8>>,
    /// Every frame: (segment, whole frame).
    frames: Vec<(usize, Range<usize>)>,
    /// Every entry payload: (segment, payload).
    entries: Vec<(usize, Range<usize>)>,
    /// Every checkpoint note.
    notes: Vec<Vec<u8>>,
}

impl Bytes {
    fn read(dir: &Path) -> Bytes {
        let mut paths: Vec<_> = std::fs::read_dir(dir.join("segments"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        let mut b = Bytes {
            segments: Vec::new(),
            frames: Vec::new(),
            entries: Vec::new(),
            notes: Vec::new(),
        };
        for (i, p) in paths.iter().enumerate() {
            let bytes = std::fs::read(p).unwrap();
            let mut off = segment::HEADER_LEN;
            while off < bytes.len() {
                let r = segment::decode_record(&bytes, off).unwrap();
                let payload_start = r.end() - r.payload.len();
                b.frames.push((i, off..r.end()));
                match r.ty {
                    RecordType::Entry => b.entries.push((i, payload_start..r.end())),
                    RecordType::Checkpoint => b.notes.push(r.payload.to_vec()),
                    RecordType::Seal => {}
                }
                off = r.end();
            }
            b.segments.push(bytes);
        }
        b
    }

    fn entry(&self, (seg, range): &(usize, Range<usize>)) -> &[u8] {
        &self.segments[*seg][range.clone()]
    }

    fn entry_bytes(&self) -> usize {
        self.entries.iter().map(|(_, r)| r.len()).sum()
    }
}

/// Runs `f` over `items` split across all cores; returns seconds.
fn timed_parallel<T: Sync>(items: &[T], f: impl Fn(&T) + Sync) -> f64 {
    let start = Instant::now();
    let chunk = items.len().div_ceil(threads()).max(1);
    std::thread::scope(|s| {
        for c in items.chunks(chunk) {
            let f = &f;
            s.spawn(move || c.iter().for_each(f));
        }
    });
    start.elapsed().as_secs_f64()
}

/// Seconds of each part of the limits, on all cores.
#[derive(Debug, Clone, Copy)]
struct Parts {
    crc: f64,
    blake3: f64,
    sha_leaf: f64,
    sha_interior: f64,
    sig_batch: f64,
    /// One single-signature check per checkpoint instead (for reference).
    sig_single: f64,
}

impl Parts {
    fn issue(&self) -> f64 {
        self.crc + self.blake3 + self.sig_batch
    }

    fn full(&self) -> f64 {
        self.issue() + self.sha_leaf + self.sha_interior
    }

    fn best(self, o: Parts) -> Parts {
        Parts {
            crc: self.crc.min(o.crc),
            blake3: self.blake3.min(o.blake3),
            sha_leaf: self.sha_leaf.min(o.sha_leaf),
            sha_interior: self.sha_interior.min(o.sha_interior),
            sig_batch: self.sig_batch.min(o.sig_batch),
            sig_single: self.sig_single.min(o.sig_single),
        }
    }
}

/// Interior SHA-256 computations any verifier does: the n-1 nodes of the tree, and for every
/// checkpoint of size `s` the popcount(s)-1 nodes joining the frontier into its root.
fn interior_hashes(entries: u64, checkpoint_sizes: &[u64]) -> u64 {
    let joins: u64 = checkpoint_sizes
        .iter()
        .map(|s| u64::from(s.count_ones().saturating_sub(1)))
        .sum();
    entries.saturating_sub(1) + joins
}

fn measure_limits(b: &Bytes, checkpoints: &[SignedCheckpoint]) -> Parts {
    let crc = timed_parallel(&b.frames, |(seg, r)| {
        let f = &b.segments[*seg][r.clone()];
        let c = crc32c::crc32c_append(crc32c::crc32c(&f[0..4]), &f[8..]);
        std::hint::black_box(c);
    });
    let blake3 = timed_parallel(&b.entries, |e| {
        std::hint::black_box(blake3::hash(b.entry(e)));
    });
    let sha_leaf = timed_parallel(&b.entries, |e| {
        let mut h = sha2::Sha256::new();
        h.update([0u8]);
        h.update(b.entry(e));
        std::hint::black_box(h.finalize());
    });
    let sizes: Vec<u64> = checkpoints.iter().map(|c| c.checkpoint().size).collect();
    let nodes: Vec<u64> = (0..interior_hashes(b.entries.len() as u64, &sizes)).collect();
    let sha_interior = timed_parallel(&nodes, |n| {
        let mut node = [0u8; 65];
        node[0] = 1;
        node[1..9].copy_from_slice(&n.to_le_bytes());
        std::hint::black_box(sha2::Sha256::digest(node));
    });
    let keys = [writer::key(0).verifier_key(), writer::key(1).verifier_key()];
    let chunks: Vec<&[SignedCheckpoint]> = checkpoints.chunks(SIG_BATCH).collect();
    let sig_batch = timed_parallel(&chunks, |chunk| {
        let items: Vec<ed25519::Item<'_>> = chunk
            .iter()
            .flat_map(|cp| {
                let note = cp.note();
                note.known_signatures(&keys).map(|(i, s)| {
                    (
                        keys[i].rule_key(),
                        note.text.as_bytes(),
                        s.signature.as_slice(),
                    )
                })
            })
            .collect();
        assert!(ed25519::batch_holds(&items));
    });
    let sig_single = timed_parallel(checkpoints, |cp| {
        assert!(!cp.verify(&keys).unwrap().is_empty());
    });
    Parts {
        crc,
        blake3,
        sha_leaf,
        sha_interior,
        sig_batch,
        sig_single,
    }
}

/// The peak resident set of process `pid` so far, in KiB (`VmHWM`), if it is still running.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the CLI `binary`'s `verify --json`; returns (seconds, peak RSS in KiB).
fn cli_verify(binary: &Path, dir: &Path) -> (f64, u64) {
    let start = Instant::now();
    let mut child = Command::new(binary)
        .args([
            "verify",
            dir.to_str().unwrap(),
            "--pubkey",
            &support::pubkey(),
            "--json",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).unwrap();
        out
    });
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(2));
    };
    let secs = start.elapsed().as_secs_f64();
    let out = reader.join().unwrap();
    assert!(status.success(), "{}", String::from_utf8_lossy(&out));
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["gateway"]["invariants"], "hold", "{v}");
    (secs, peak)
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

fn bench_batch(root: &Path, entries: u64, batch: usize, rounds: u64, baseline: Option<&Path>) {
    let dir = root.join(format!("ledger-batch-{batch}"));
    let layout = Layout {
        batch,
        segment_limit: 64 * 1024 * 1024,
        ..Layout::default()
    };
    let t = Instant::now();
    let mut w = writer::Writer::new(&dir, &layout);
    support::script::bulk(entries, 20, &mut |events| w.extend(events));
    let written = w.finish();
    let b = Bytes::read(&dir);
    let checkpoints: Vec<SignedCheckpoint> = b
        .notes
        .iter()
        .map(|n| SignedCheckpoint::parse(n).unwrap())
        .collect();
    let bytes = b.entry_bytes() as f64;
    let mib = bytes / 1048576.0;
    println!(
        "batch {batch}: {} entries ({:.0} bytes mean, {mib:.0} MiB), {} checkpoints, {} segments, generated in {:.1} s; load {}",
        written.entries,
        bytes / b.entries.len() as f64,
        checkpoints.len(),
        b.segments.len(),
        t.elapsed().as_secs_f64(),
        load()
    );

    let (mut cli, mut rss, mut lib) = (f64::MAX, 0u64, f64::MAX);
    let (mut base, mut base_rss) = (f64::MAX, 0u64);
    let mut parts: Option<Parts> = None;
    let binary = Path::new(env!("CARGO_BIN_EXE_auditgate-verify"));
    for round in 0..rounds {
        if let Some(b) = baseline {
            let (secs, peak) = cli_verify(b, &dir);
            println!(
                "  round {}: baseline verify {secs:.2} s; load {}",
                round + 1,
                load()
            );
            base = base.min(secs);
            base_rss = base_rss.max(peak);
        }
        let (secs, peak) = cli_verify(binary, &dir);
        cli = cli.min(secs);
        rss = rss.max(peak);
        lib = lib.min(crate_verify(&dir));
        let p = measure_limits(&b, &checkpoints);
        parts = Some(parts.map_or(p, |q| q.best(p)));
        println!(
            "  round {}: verify {secs:.2} s, verify_dir {:.2} s, limits {p:.3?}; load {}",
            round + 1,
            lib,
            load()
        );
    }
    let p = parts.unwrap();
    let e = b.entries.len() as f64;
    let rate = |secs: f64| e / secs;
    println!(
        "  limit parts (s): crc32c {:.3}, blake3 {:.3}, sha256 leaf {:.3}, sha256 interior {:.3}, ed25519 batch {:.3} (single {:.3})",
        p.crc, p.blake3, p.sha_leaf, p.sha_interior, p.sig_batch, p.sig_single
    );
    println!(
        "  | {batch} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | **{:.0}%** | {:.0}% | {:.0}% | {:.0}% | {:.0} |",
        rate(cli),
        mib / cli,
        rate(lib),
        mib / lib,
        rate(p.issue()),
        rate(p.full()),
        100.0 * p.issue() / cli,
        100.0 * p.full() / cli,
        100.0 * p.issue() / lib,
        100.0 * p.full() / lib,
        rss as f64 / 1024.0,
    );
    if baseline.is_some() {
        println!(
            "  baseline | {batch} | {:.0} | {:.0} | | | | | **{:.0}%** | {:.0}% | | | {:.0} |",
            rate(base),
            mib / base,
            100.0 * p.issue() / base,
            100.0 * p.full() / base,
            base_rss as f64 / 1024.0,
        );
    }
    match std::env::var_os("AUDITGATE_BENCH_KEEP") {
        Some(to) => {
            let kept = Path::new(&to).join(format!("ledger-batch-{batch}"));
            std::fs::rename(&dir, &kept).unwrap();
            println!("  kept in {}", kept.display());
        }
        None => std::fs::remove_dir_all(&dir).unwrap(),
    }
}

fn main() {
    let entries = env_u64("AUDITGATE_BENCH_ENTRIES", 1_000_000);
    let rounds = env_u64("AUDITGATE_BENCH_ROUNDS", 3);
    let batches: Vec<usize> = std::env::var("AUDITGATE_BENCH_BATCHES")
        .unwrap_or_else(|_| "1,8,64".into())
        .split(',')
        .map(|s| s.trim().parse().expect("AUDITGATE_BENCH_BATCHES: numbers"))
        .collect();
    let root = match std::env::var_os("AUDITGATE_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let baseline = std::env::var_os("AUDITGATE_BENCH_BASELINE").map(std::path::PathBuf::from);
    println!("{} threads; load {}", threads(), load());
    println!(
        "  | batch | verify entries/s | verify MiB/s | verify_dir entries/s | verify_dir MiB/s | issue limit entries/s | full limit entries/s | verify ÷ issue limit | verify ÷ full limit | verify_dir ÷ issue | verify_dir ÷ full | verify peak RSS MiB |"
    );
    for batch in batches {
        bench_batch(root.path(), entries, batch, rounds, baseline.as_deref());
    }
}

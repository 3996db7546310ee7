//! How long `Ledger::open` takes as the ledger grows: the figure behind docs/reliability.md
//! (finding 4, restart time), as a ratio to the limit measured in the same run, reading every
//! segment file and BLAKE3-hashing its bytes.
//!
//! ```sh
//! cargo run --release -p auditgate-ledger --example open_time
//! # AUDITGATE_ENTRIES=1000000  AUDITGATE_SEGMENT_MIB=16  AUDITGATE_INDEX=1  AUDITGATE_OPENS=5
//! ```
//!
//! Appends `call.request`-like entries (~500 bytes) in batches from several threads, closes the
//! ledger, then opens it `AUDITGATE_OPENS` times and prints the median, after a tenth of the
//! entries and after all of them: an open that scanned everything would grow tenfold.
#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "example")]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auditgate_ledger::{Ledger, LedgerOptions};
use common::{append_parallel, env, key};

/// Median of `n` opens (each closed again).
fn open_median(dir: &Path, opts: &LedgerOptions, n: u64) -> Duration {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let (ledger, _) = Ledger::open(dir, key(), opts.clone()).unwrap();
            let took = t.elapsed();
            ledger.close();
            took
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// The limit: read every segment file and hash its bytes.
fn read_and_hash(dir: &Path) -> (Duration, u64) {
    let t = Instant::now();
    let mut bytes = 0;
    for e in std::fs::read_dir(dir.join("segments")).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        bytes += data.len() as u64;
        std::hint::black_box(blake3::hash(&data));
    }
    (t.elapsed(), bytes)
}

fn main() {
    let entries = env("AUDITGATE_ENTRIES", 1_000_000);
    let opens = env("AUDITGATE_OPENS", 5);
    let opts = LedgerOptions {
        index: env("AUDITGATE_INDEX", 1) != 0,
        segment_size_limit: env("AUDITGATE_SEGMENT_MIB", 16) * 1024 * 1024,
        ..LedgerOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    println!(
        "open time, {} MiB segments, index {}",
        opts.segment_size_limit >> 20,
        if opts.index { "on" } else { "off" }
    );
    println!(
        "{:>10} {:>9} {:>10} {:>14} {:>8}",
        "entries", "segments", "open ms", "read+hash ms", "ratio"
    );
    let mut done = 0;
    for target in [entries / 10, entries] {
        let ledger = Arc::new(if done == 0 {
            Ledger::create(dir.path(), key(), opts.clone()).unwrap()
        } else {
            Ledger::open(dir.path(), key(), opts.clone()).unwrap().0
        });
        append_parallel(&ledger, done..target, 16, &|_| {});
        done = target;
        Arc::into_inner(ledger).unwrap().close();
        let open = open_median(dir.path(), &opts, opens);
        let segments = std::fs::read_dir(dir.path().join("segments"))
            .unwrap()
            .count();
        let (limit, _) = read_and_hash(dir.path());
        println!(
            "{:>10} {:>9} {:>10.1} {:>14.1} {:>8.2}",
            done,
            segments,
            open.as_secs_f64() * 1e3,
            limit.as_secs_f64() * 1e3,
            open.as_secs_f64() / limit.as_secs_f64()
        );
    }
}

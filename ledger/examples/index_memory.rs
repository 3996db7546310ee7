//! Resident memory of a process appending to a ledger, with the sled index on or off: the
//! figure behind docs/reliability.md ("Soak", the index's memory).
//!
//! ```sh
//! cargo run --release -p auditgate-ledger --example index_memory            # index on
//! AUDITGATE_INDEX=0 cargo run --release -p auditgate-ledger --example index_memory
//! # AUDITGATE_ENTRIES=1000000  AUDITGATE_SEGMENT_MIB=16  AUDITGATE_APPENDERS=16
//! ```
//!
//! Appends `call.request`-like entries (~500 bytes, 64 sessions) from several threads, and
//! prints the process's RSS (from `/proc/self/status`) every tenth of the run.
#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "example")]

mod common;

use std::sync::Arc;

use auditgate_ledger::{Ledger, LedgerOptions};
use common::{append_parallel, env, key};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let entries = env("AUDITGATE_ENTRIES", 1_000_000);
    let appenders = env("AUDITGATE_APPENDERS", 16);
    let index = env("AUDITGATE_INDEX", 1) != 0;
    let segment_mib = env("AUDITGATE_SEGMENT_MIB", 16);
    let dir = tempfile::tempdir().unwrap();
    let opts = LedgerOptions {
        index,
        segment_size_limit: segment_mib * 1024 * 1024,
        ..LedgerOptions::default()
    };
    let ledger = Arc::new(Ledger::create(dir.path(), key(), opts).unwrap());
    println!(
        "{entries} entries, {appenders} appenders, index {}, {segment_mib} MiB segments",
        if index { "on" } else { "off" }
    );
    println!("{:>10} {:>10} {:>12}", "entries", "RSS MiB", "bytes/entry");
    let start_rss = rss_kib();
    let step = entries / 10;
    append_parallel(&ledger, 0..entries, appenders, &|i| {
        if (i + 1) % step == 0 {
            let rss = rss_kib();
            println!(
                "{:>10} {:>10.1} {:>12}",
                i + 1,
                rss as f64 / 1024.0,
                rss.saturating_sub(start_rss) * 1024 / (i + 1)
            );
        }
    });
}

//! Reading a ledger directory segment by segment through the ledger crate's `Verifier` (the one
//! definition of a valid ledger), with a progress bar, handing each segment's verified entries
//! to the caller together with the segment's bytes.

use std::ops::Range;
use std::path::Path;

use auditgate_ledger::checkpoint::SignedCheckpoint;
use auditgate_ledger::segment::{self, FRAME_OVERHEAD};
use auditgate_ledger::store::{self, FsStore};
use auditgate_ledger::timestamp::Timestamp;
use auditgate_ledger::verify::{self, Location, Verifier, VerifyErrorKind, VerifyOptions};
use auditgate_ledger::{Report, VerifierKey, VerifyError};

use crate::progress;

/// What the reader holds the ledger to.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Every check, signatures included, against these keys and an optional pinned checkpoint.
    Keys {
        /// Trusted verifier keys.
        keys: Vec<VerifierKey>,
        /// A checkpoint the ledger must extend.
        pin: Option<SignedCheckpoint>,
    },
    /// Every check except signatures and the genesis key's trust (no key was given).
    Unverified,
}

/// One verified entry of the segment being handed over.
#[derive(Debug, Clone)]
pub struct EntryRef {
    /// Its seq.
    pub seq: u64,
    /// Its timestamp.
    pub ts: Timestamp,
    /// Where its stored bytes are in the segment's bytes.
    pub range: Range<usize>,
}

/// Reads and verifies the ledger at `path`; after each segment, `on_segment` gets the segment's
/// bytes and its entries (all verified, in seq order), to keep or hand to another thread.
/// `keep_leaves` keeps every leaf hash in the report (for proofs).
pub fn scan(
    path: &Path,
    trust: Trust,
    keep_leaves: bool,
    on_segment: &mut dyn FnMut(Vec<u8>, Vec<EntryRef>),
) -> Result<Report, VerifyError> {
    let dir = verify::segments_dir(path);
    let io = |e: std::io::Error| VerifyError {
        location: Location::default(),
        kind: VerifyErrorKind::Io(format!("{}: {e}", dir.display())),
    };
    // V1 on the names, before any segment is read; stray names become the report's warnings.
    let names = verify::list_segments(&dir)?;
    let store = FsStore::open_existing(&dir).map_err(io)?;
    let numbers = names.numbers;
    let total: u64 = numbers
        .iter()
        .filter_map(|n| std::fs::metadata(dir.join(segment::file_name(*n))).ok())
        .map(|m| m.len())
        .sum();
    let (keys, pin, check_signatures) = match trust {
        Trust::Keys { keys, pin } => (keys, pin, true),
        Trust::Unverified => (Vec::new(), None, false),
    };
    let opts = VerifyOptions {
        check_signatures,
        keep_leaves,
        ..VerifyOptions::default()
    };
    let mut verifier = Verifier::new(keys, pin, opts);
    let bar = progress::bytes(total, "verifying");
    // The next segment is read while this one is verified.
    store::read_ahead(&store, &numbers, &mut |n, bytes| {
        let bytes = bytes.map_err(io)?;
        let mut entries = Vec::new();
        verifier.feed_segment(n, &bytes, &mut |e| {
            let start = e.offset as usize + FRAME_OVERHEAD;
            entries.push(EntryRef {
                seq: e.seq,
                ts: e.ts,
                range: start..start + e.bytes.len(),
            });
        })?;
        bar.inc(bytes.len() as u64);
        on_segment(bytes, entries);
        Ok(())
    })?;
    bar.finish_and_clear();
    let mut report = verifier.finish()?;
    report.warnings = names.warnings;
    Ok(report)
}

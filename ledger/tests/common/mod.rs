//! Shared helpers for the ledger's integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod forge;

use std::path::{Path, PathBuf};

use auditgate_ledger::format::Format;
use auditgate_ledger::verify::{self, VerifyOptions};
use auditgate_ledger::{
    Draft, Ledger, LedgerOptions, Report, SigningKey, VerifierKey, VerifyError,
};
use serde_json::json;

/// A deterministic key, so failures reproduce.
pub fn key(n: u8) -> SigningKey {
    SigningKey::from_seed("auditgate.test", &[n; 32]).unwrap()
}

/// Small segments so tests cross segment boundaries quickly.
pub fn small_segments() -> LedgerOptions {
    LedgerOptions {
        segment_size_limit: 4096,
        ..LedgerOptions::default()
    }
}

pub fn call(i: u64) -> Draft {
    Draft::from_value(
        "call.request",
        &json!({"session": format!("s{}", i % 3), "tool": "refund", "args": {"amount": i, "note": "é\u{1f600}"}}),
    )
    .unwrap()
}

pub fn verify(dir: &Path, trusted: &[VerifierKey]) -> Result<Report, VerifyError> {
    verify::verify_dir(dir, trusted.to_vec(), None, VerifyOptions::default())
}

pub fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// A ledger with `n` appended entries in batches of one, closed.
pub fn make_ledger(dir: &Path, n: u64, opts: LedgerOptions) {
    let l = Ledger::create(dir, key(1), opts).unwrap();
    for i in 0..n {
        l.append(call(i)).unwrap();
    }
    l.close();
}

/// Makes a file writable again (sealed segments are 0400) so a test can tamper with it.
pub fn make_writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// Entry `i` of a ledger with several kinds: sessions opening, calls, policy decisions.
pub fn varied(i: u64) -> Draft {
    match i % 4 {
        0 => Draft::from_value(
            "session.open",
            &json!({"session": format!("s{i}"), "agent": "agent-7", "client": {"name": "test", "version": "1.0"}}),
        )
        .unwrap(),
        2 => Draft::from_value(
            "policy.decision",
            &json!({"session": format!("s{}", i - 2), "tool": "refund", "decision": "allow", "rule": i, "score": 0.25}),
        )
        .unwrap(),
        _ => call(i),
    }
}

/// A closed ledger signed by `key(1)` until a rotation to `key(2)`: genesis, `before` varied
/// entries, the rotation, `after` varied entries, each its own batch (sequential appends).
pub fn make_rotated_ledger(dir: &Path, before: u64, after: u64, segment_size_limit: u64) {
    make_rotated_ledger_as(dir, before, after, segment_size_limit, Format::default());
}

/// [`make_rotated_ledger`] in format `format`.
pub fn make_rotated_ledger_as(
    dir: &Path,
    before: u64,
    after: u64,
    segment_size_limit: u64,
    format: Format,
) {
    let opts = LedgerOptions {
        segment_size_limit,
        index: false,
        format,
        ..LedgerOptions::default()
    };
    let l = Ledger::create(dir, key(1), opts).unwrap();
    for i in 0..before {
        l.append(varied(i)).unwrap();
    }
    l.rotate_key(key(2), "scheduled rotation").unwrap();
    for i in before..before + after {
        l.append(varied(i)).unwrap();
    }
    l.close();
}

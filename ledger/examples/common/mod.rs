//! What the ledger examples share: settings from the environment, the example key, and a
//! `call.request`-like entry appended from several threads.
#![allow(dead_code, reason = "each example uses part of it")]

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use auditgate_ledger::{Draft, Ledger, SigningKey};
use serde_json::json;

/// A number from the environment, or `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The examples' signing key.
pub fn key() -> SigningKey {
    SigningKey::from_seed("auditgate.example", &[7; 32]).unwrap()
}

/// Entry `i`: a `call.request`-like entry of about 500 bytes, in one of 64 sessions.
pub fn draft(i: u64) -> Draft {
    let body = json!({
        "session": format!("ses_{:032x}", i % 64),
        "tool": "payments_refund",
        "args": {"amount": i, "invoice": format!("inv_{i:012}"), "note": "x".repeat(200)},
        "policy_hash": "blake3:0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
    });
    Draft::from_value("call.request", &body).unwrap()
}

/// Appends entries `range` from `threads` threads, each append one blocking call; `after(i)`
/// runs once entry `i` is durable.
pub fn append_parallel(
    ledger: &Arc<Ledger>,
    range: Range<u64>,
    threads: u64,
    after: &(dyn Fn(u64) + Sync),
) {
    let next = AtomicU64::new(range.start);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= range.end {
                        break;
                    }
                    ledger.append(draft(i)).unwrap();
                    after(i);
                }
            });
        }
    });
}

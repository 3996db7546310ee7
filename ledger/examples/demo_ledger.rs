//! Writes a demonstration ledger: eight simulated agent sessions appending concurrently
//! (session open, tools listed, call requests with decisions, results, close), so the demo and
//! newcomers have a realistic ledger to verify, tamper with and read.
//!
//! `cargo run -p auditgate-ledger --example demo_ledger -- OUT_DIR`
//! writes `OUT_DIR/ledger/` (the ledger), `OUT_DIR/ledger.key` (0600), `OUT_DIR/ledger.pub`
//! (verifier key) and `OUT_DIR/pinned-checkpoint.txt` (the latest signed checkpoint, as an
//! auditor or a witness would keep it).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "example")]

use std::path::PathBuf;
use std::sync::Arc;

use auditgate_ledger::{Draft, Ledger, LedgerOptions, SigningKey};
use serde_json::json;

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: demo_ledger OUT_DIR"));
    std::fs::create_dir_all(&out).unwrap();
    let key = SigningKey::generate("auditgate.local/demo").unwrap();
    key.save_new(&out.join("ledger.key")).unwrap();
    std::fs::write(out.join("ledger.pub"), format!("{}\n", key.verifier_key())).unwrap();
    let opts = LedgerOptions {
        segment_size_limit: 4 * 1024,
        ..LedgerOptions::default()
    };
    let ledger = Arc::new(Ledger::create(&out.join("ledger"), key, opts).unwrap());
    let sessions = 8;
    let run = |from: usize, to: usize| {
        let handles: Vec<_> = (from..to)
            .map(|s| {
                let l = ledger.clone();
                std::thread::spawn(move || session(&l, s))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    };
    run(0, sessions);
    let head = ledger.head();
    std::fs::write(out.join("pinned-checkpoint.txt"), &head.checkpoint).unwrap();
    println!(
        "wrote {} entries from {sessions} concurrent sessions to {}",
        head.size,
        out.join("ledger").display()
    );
}

fn session(l: &Ledger, s: usize) {
    let sid = format!("sess-{s:02}");
    let principal = if s.is_multiple_of(2) {
        "analyst@example.com"
    } else {
        "finance-bot"
    };
    let append = |kind: &str, mut body: serde_json::Value| {
        body["session"] = json!(sid);
        l.append(Draft::from_value(kind, &body).unwrap()).unwrap()
    };
    append(
        "session.open",
        json!({"principal": principal, "transport": "http", "client": "demo-agent/1.0"}),
    );
    append(
        "tools.listed",
        json!({"shown": ["customers_listMine", "invoices_list", "invoices_refund"], "hidden": 3}),
    );
    for c in 0..5u64 {
        let amount = 200 * (c + 1) * (s as u64 + 1);
        let tier = if amount > 1000 {
            "approval_required"
        } else {
            "allow"
        };
        let req = append(
            "call.request",
            json!({"tool": "invoices_refund",
                   "args": {"invoiceId": format!("inv-{s}-{c}"), "amount": amount,
                            "customer": {"taxId": {"$commit": "blake3k:demo"}}},
                   "decision": {"tier": tier, "rule": "refunds-over-limit"}}),
        );
        if tier == "allow" {
            append(
                "call.result",
                json!({"request_seq": req.seq, "outcome": "ok", "latency_us": 1200 + c}),
            );
        }
    }
    append("session.close", json!({"reason": "client closed"}));
}

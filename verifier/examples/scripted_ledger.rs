//! Writes the verifier tests' scripted gateway run (`tests/support/script.rs`) as a ledger, for
//! trying the forensic commands by hand and for the README's screenshot:
//!
//! `cargo run -p auditgate-verify --example scripted_ledger -- OUT_DIR [ENTRIES]`
//! writes `OUT_DIR/ledger/` and `OUT_DIR/ledger.pub` (the test key: never use it for real);
//! with ENTRIES, the benchmark's long run of that many entries instead (25 per batch); with
//! `interrupted`, the run killed with two calls in flight and restarted (`script::interrupted`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "example")]

#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: scripted_ledger OUT_DIR"),
    );
    let w = match std::env::args().nth(2) {
        None => support::standard_ledger(&out.join("ledger")),
        Some(run) if run == "interrupted" => support::writer::write(
            &out.join("ledger"),
            &support::script::interrupted().0.events,
            &support::writer::Layout::default(),
        ),
        Some(n) => {
            let layout = support::writer::Layout {
                batch: 25,
                segment_limit: 64 * 1024 * 1024,
                ..Default::default()
            };
            let mut w = support::writer::Writer::new(&out.join("ledger"), &layout);
            support::script::bulk(n.parse().expect("ENTRIES"), 20, &mut |e| w.extend(e));
            w.finish()
        }
    };
    std::fs::write(out.join("ledger.pub"), format!("{}\n", support::pubkey())).unwrap();
    println!(
        "wrote {} entries to {}",
        w.entries,
        out.join("ledger").display()
    );
}

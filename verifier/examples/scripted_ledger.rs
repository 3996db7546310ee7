//! Writes the verifier tests' scripted gateway run (`tests/support/script.rs`) as a ledger, for
//! trying the forensic commands by hand and for the README's screenshot:
//!
//! `cargo run -p auditgate-verify --example scripted_ledger -- OUT_DIR`
//! writes `OUT_DIR/ledger/` and `OUT_DIR/ledger.pub` (the test key: never use it for real).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "example")]

#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: scripted_ledger OUT_DIR"),
    );
    let w = support::standard_ledger(&out.join("ledger"));
    std::fs::write(out.join("ledger.pub"), format!("{}\n", support::pubkey())).unwrap();
    println!(
        "wrote {} entries to {}",
        w.entries,
        out.join("ledger").display()
    );
}

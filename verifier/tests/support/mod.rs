//! Shared by the verifier's tests and benchmark: realistic gateway ledgers written
//! deterministically (`script` makes the entries of `docs/audit-events.md`, `writer` lays them
//! out as segment files), and a runner for the built binary.
#![allow(
    dead_code,
    reason = "each test file uses a different part of the support module"
)]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test support")]

pub mod script;
pub mod writer;

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `auditgate-verify` with `args`.
pub fn run(args: &[&str]) -> Output {
    // `option_env!`: the example that shares this module is built without the binary's path.
    let Some(bin) = option_env!("CARGO_BIN_EXE_auditgate-verify") else {
        panic!("support::run works in the crate's tests only");
    };
    Command::new(bin)
        .args(args)
        .output()
        .expect("run auditgate-verify")
}

/// Runs the built `auditgate-verify` with `args` in the directory `cwd`.
pub fn run_in(cwd: &Path, args: &[&str]) -> Output {
    let Some(bin) = option_env!("CARGO_BIN_EXE_auditgate-verify") else {
        panic!("support::run_in works in the crate's tests only");
    };
    Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run auditgate-verify")
}

/// stdout and stderr of a run, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The verifier key of the test ledgers' genesis key.
pub fn pubkey() -> String {
    writer::key(0).verifier_key().to_string()
}

/// Writes the standard scripted run to `dir` (one entry per batch, small segments).
pub fn standard_ledger(dir: &Path) -> writer::Written {
    writer::write(dir, &script::standard().events, &writer::Layout::default())
}

/// Compares `actual` with the golden file `tests/golden/NAME`; `AUDITGATE_BLESS=1` rewrites it.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
        .join(name);
    if std::env::var_os("AUDITGATE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}; run with AUDITGATE_BLESS=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "output differs from {} (AUDITGATE_BLESS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

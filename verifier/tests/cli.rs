//! Black-box tests of `auditgate-verify verify`: exit codes, summaries, first-failure reports.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::Path;
use std::process::{Command, Output};

use auditgate_ledger::{Draft, Ledger, LedgerOptions, SigningKey};
use serde_json::json;

fn key() -> SigningKey {
    SigningKey::from_seed("verify.test", &[3; 32]).unwrap()
}

/// A ledger of `n` entries; returns the signed checkpoint after the first `pin_at` entries.
fn make(dir: &Path, n: u64, pin_at: u64) -> Vec<u8> {
    let opts = LedgerOptions {
        segment_size_limit: 2048,
        ..LedgerOptions::default()
    };
    let l = Ledger::create(dir, key(), opts).unwrap();
    let mut pin = Vec::new();
    for i in 0..n {
        let d = Draft::from_value("call.request", &json!({"session": "s1", "n": i})).unwrap();
        l.append(d).unwrap();
        if i + 1 == pin_at {
            pin = l.head().checkpoint;
        }
    }
    l.close();
    pin
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auditgate-verify"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn valid_ledger_exits_0_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    make(dir.path(), 30, 1);
    let pubkey = key().verifier_key().to_string();
    let o = run(&["verify", dir.path().to_str().unwrap(), "--pubkey", &pubkey]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("VALID"), "{out}");
    assert!(out.contains("entries      31"), "{out}");
    assert!(out.contains("call.request"), "{out}");
}

#[test]
fn trusted_keys_file_and_json_output() {
    let dir = tempfile::tempdir().unwrap();
    make(dir.path(), 5, 1);
    let keys = dir.path().join("trusted.keys");
    std::fs::write(
        &keys,
        format!("# auditor's keys\n{}\n", key().verifier_key()),
    )
    .unwrap();
    let o = run(&[
        "verify",
        dir.path().to_str().unwrap(),
        "--pubkey",
        keys.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["entries"], 6);
}

#[test]
fn tampered_ledger_exits_1_naming_the_first_failure() {
    let dir = tempfile::tempdir().unwrap();
    make(dir.path(), 30, 1);
    let seg = dir.path().join("segments").join("0000000000000000.seg");
    let mut b = std::fs::read(&seg).unwrap();
    let pos = b.windows(7).position(|w| w == b"\"n\":0,\"").unwrap() + 4;
    b[pos] = b'9';
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&seg, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&seg, &b).unwrap();
    let pubkey = key().verifier_key().to_string();
    let o = run(&[
        "verify",
        dir.path().to_str().unwrap(),
        "--pubkey",
        &pubkey,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(
        v["error"], "BadRecord",
        "a flipped byte fails its frame checksum: {v}"
    );
    assert_eq!(v["segment"], 0);
}

#[test]
fn wrong_key_is_invalid_not_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    make(dir.path(), 3, 1);
    let other = SigningKey::from_seed("verify.test", &[4; 32])
        .unwrap()
        .verifier_key()
        .to_string();
    let o = run(&["verify", dir.path().to_str().unwrap(), "--pubkey", &other]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not a trusted key"), "{}", text(&o));
}

#[test]
fn truncation_is_caught_with_a_pin() {
    let dir = tempfile::tempdir().unwrap();
    let pin = make(dir.path(), 40, 40);
    let pin_file = dir.path().join("pin.txt");
    std::fs::write(&pin_file, &pin).unwrap();
    // Drop the last segment: still a well-formed ledger, only the pin can tell.
    let mut segs: Vec<_> = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    assert!(segs.len() >= 3);
    let last = segs.pop().unwrap();
    std::fs::remove_file(&last).unwrap();
    let last = segs.pop().unwrap();
    std::fs::remove_file(&last).unwrap();
    let pubkey = key().verifier_key().to_string();
    let d = dir.path().to_str().unwrap();
    // The previous segment ends with a seal: the truncated ledger is well-formed on its own.
    let o = run(&["verify", d, "--pubkey", &pubkey]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "without a pin truncation is invisible: {}",
        text(&o)
    );
    let o = run(&[
        "verify",
        d,
        "--pubkey",
        &pubkey,
        "--pin",
        pin_file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("truncated"), "{}", text(&o));
}

#[test]
fn usage_and_io_errors_exit_2() {
    let o = run(&["verify"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["verify", "/nonexistent/ledger", "--pubkey", "x"]);
    assert_eq!(o.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "verify",
        dir.path().to_str().unwrap(),
        "--pubkey",
        "not-a-key",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("neither a readable file nor a verifier key"));
}

//! Black-box tests of `auditgate-verify proof`: proofs produced from a verified ledger check
//! with the public key alone; altered proofs, entries or checkpoints do not.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::Path;
use std::process::{Command, Output};

use auditgate_ledger::{Draft, Ledger, LedgerOptions, SigningKey};
use serde_json::{Value, json};

fn key() -> SigningKey {
    SigningKey::from_seed("proof.test", &[5; 32]).unwrap()
}

/// A ledger of `n` entries; returns the checkpoint after `early` entries.
fn make(dir: &Path, n: u64, early: u64) -> Vec<u8> {
    let opts = LedgerOptions {
        segment_size_limit: 2048,
        ..LedgerOptions::default()
    };
    let l = Ledger::create(dir, key(), opts).unwrap();
    let mut cp = Vec::new();
    for i in 0..n {
        let d = Draft::from_value("call.request", &json!({"session": "s1", "n": i})).unwrap();
        l.append(d).unwrap();
        if i + 1 == early {
            cp = l.head().checkpoint;
        }
    }
    l.close();
    cp
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auditgate-verify"))
        .args(args)
        .output()
        .unwrap()
}

fn check(dir: &Path, doc: &Value) -> Output {
    let f = dir.join("proof.json");
    std::fs::write(&f, serde_json::to_vec(doc).unwrap()).unwrap();
    let pubkey = key().verifier_key().to_string();
    run(&["proof", "check", f.to_str().unwrap(), "--pubkey", &pubkey])
}

#[test]
fn inclusion_proof_checks_and_alterations_fail() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    make(&ledger, 40, 1);
    let pubkey = key().verifier_key().to_string();
    let o = run(&[
        "proof",
        "inclusion",
        ledger.to_str().unwrap(),
        "--seq",
        "17",
        "--pubkey",
        &pubkey,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["tree_size"], 41);
    assert!(doc["entry"].as_str().unwrap().contains("\"seq\":17"));

    let ok = check(dir.path(), &doc);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    let mut changed_entry = doc.clone();
    changed_entry["entry"] = doc["entry"]
        .as_str()
        .unwrap()
        .replace("\"n\":16", "\"n\":99")
        .into();
    assert_eq!(check(dir.path(), &changed_entry).status.code(), Some(1));

    let mut other_seq = doc.clone();
    other_seq["seq"] = json!(18);
    assert_eq!(check(dir.path(), &other_seq).status.code(), Some(1));

    let mut bad_proof = doc.clone();
    bad_proof["proof"][0] = json!("00".repeat(32));
    assert_eq!(check(dir.path(), &bad_proof).status.code(), Some(1));

    let other_key = SigningKey::from_seed("proof.test", &[6; 32]).unwrap();
    let f = dir.path().join("proof.json");
    std::fs::write(&f, serde_json::to_vec(&doc).unwrap()).unwrap();
    let o = run(&[
        "proof",
        "check",
        f.to_str().unwrap(),
        "--pubkey",
        &other_key.verifier_key().to_string(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a checkpoint by an untrusted key proves nothing"
    );
}

#[test]
fn consistency_proof_checks_and_a_foreign_old_checkpoint_fails() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let early = make(&ledger, 40, 12);
    let old = dir.path().join("old.txt");
    std::fs::write(&old, &early).unwrap();
    let pubkey = key().verifier_key().to_string();
    let o = run(&[
        "proof",
        "consistency",
        ledger.to_str().unwrap(),
        "--old",
        old.to_str().unwrap(),
        "--pubkey",
        &pubkey,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ok = check(dir.path(), &doc);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    let mut bad = doc.clone();
    bad["proof"][0] = json!("11".repeat(32));
    assert_eq!(check(dir.path(), &bad).status.code(), Some(1));

    // An old checkpoint of another ledger (same key): the history differs.
    let other = dir.path().join("other");
    let foreign = make(&other, 20, 12);
    std::fs::write(&old, &foreign).unwrap();
    let o = run(&[
        "proof",
        "consistency",
        ledger.to_str().unwrap(),
        "--old",
        old.to_str().unwrap(),
        "--pubkey",
        &pubkey,
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn no_proof_from_an_invalid_ledger_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    make(&ledger, 5, 1);
    let pubkey = key().verifier_key().to_string();
    let o = run(&[
        "proof",
        "inclusion",
        ledger.to_str().unwrap(),
        "--seq",
        "99",
        "--pubkey",
        &pubkey,
    ]);
    assert_eq!(o.status.code(), Some(2), "no such seq is a usage error");
    let other = SigningKey::from_seed("proof.test", &[7; 32])
        .unwrap()
        .verifier_key()
        .to_string();
    let o = run(&[
        "proof",
        "inclusion",
        ledger.to_str().unwrap(),
        "--seq",
        "1",
        "--pubkey",
        &other,
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "an untrusted ledger yields no proof"
    );
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, b"{}").unwrap();
    let o = run(&[
        "proof",
        "check",
        junk.to_str().unwrap(),
        "--pubkey",
        &pubkey,
    ]);
    assert_eq!(o.status.code(), Some(2));
}

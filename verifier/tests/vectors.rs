//! Black-box `verify` on the ledger crate's committed test vectors (`ledger/testdata/`, both
//! format sets): through the conformance runner any implementation uses
//! (`ledger/testdata/conformance` with `adapters/auditgate-verify`), every verdict — error code
//! and location, or `OK` and its warnings — is the one the vectors expect; the vectors are valid
//! and not taken for gateway ledgers (they have no `gateway.start`, so G1–G5 are not applied);
//! stray files in `segments/` are warned about in text and JSON.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{run, text};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ledger/testdata")
}

#[test]
fn the_conformance_runner_agrees_with_every_vector() {
    let runner = testdata().join("conformance");
    let adapter = testdata().join("adapters/auditgate-verify");
    let o = Command::new("python3")
        .arg(&runner)
        .arg("--")
        .arg(&adapter)
        .env("AUDITGATE_VERIFY", env!("CARGO_BIN_EXE_auditgate-verify"))
        .output()
        .expect("python3 runs the conformance runner");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let line = out.lines().last().unwrap();
    let (agree, total) = line.split_once(' ').unwrap().0.split_once('/').unwrap();
    assert_eq!(agree, total, "{out}");
    assert!(total.parse::<u32>().unwrap() >= 80, "{out}");
}

#[test]
fn the_runner_reports_a_verifier_that_disagrees() {
    // A "verifier" that calls everything valid must fail on every tampered case.
    let o = Command::new("python3")
        .arg(testdata().join("conformance"))
        .args(["--set", "1.1", "--", "python3", "-c", "print('OK')"])
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL 1.1/tampered/byte-flipped"), "{out}");
    assert!(out.contains("FAIL 1.1/tampered/stray-files"), "{out}");
    assert!(!out.contains("FAIL 1.1/vector\n"), "{out}");
}

#[test]
fn the_vectors_are_valid_and_not_taken_for_gateway_ledgers() {
    for (set, format) in [
        ("1.0", "auditgate-ledger/1"),
        ("1.1", "auditgate-ledger/1.1"),
    ] {
        let v = testdata().join(set).join("vector");
        let keys = v.join("trusted.keys");
        let o = run(&[
            "verify",
            v.to_str().unwrap(),
            "--pubkey",
            keys.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let j: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["entries"], 30);
        assert_eq!(j["format"], format);
        assert_eq!(j["warnings"], serde_json::json!([]));
        assert_eq!(j["gateway"]["invariants"], "not_applied");
    }
}

#[test]
fn stray_files_are_warned_about_in_text_and_json() {
    let case = testdata().join("1.1/tampered/stray-files");
    let keys = testdata().join("1.1/vector/trusted.keys");
    let args = [
        "verify",
        case.to_str().unwrap(),
        "--pubkey",
        keys.to_str().unwrap(),
    ];
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("warning      StrayFile: \"notes.txt\" in segments/ is not a segment file"),
        "{out}"
    );
    assert!(out.contains("\"000000000000000A.seg\""), "{out}");

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let o = run(&json_args);
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    let files: Vec<&str> = j["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            assert_eq!(w["warning"], "StrayFile");
            w["file"].as_str().unwrap()
        })
        .collect();
    assert_eq!(files, ["000000000000000A.seg", "notes.txt"]);
}

//! Black-box `verify` on the ledger crate's committed test vectors (`ledger/testdata/`): the
//! vector is valid (it has no gateway.start, so G1–G5 are reported as not applied), and every
//! tampered copy fails with the error code and location the vector expects.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{run, text};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ledger/testdata")
}

#[test]
fn the_vector_is_valid_and_not_taken_for_a_gateway_ledger() {
    let v = testdata().join("vector");
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
    assert_eq!(j["gateway"]["invariants"], "not_applied");
}

#[test]
fn every_tampered_case_fails_as_expected() {
    let mut cases = 0;
    for case in std::fs::read_dir(testdata().join("tampered")).unwrap() {
        let dir = case.unwrap().path();
        let expect = std::fs::read_to_string(dir.join("expect.txt")).unwrap();
        let (code, location) = expect.trim().split_once(' ').unwrap();
        let keys = if dir.join("trusted.keys").exists() {
            dir.join("trusted.keys")
        } else {
            testdata().join("vector/trusted.keys")
        };
        let mut args = vec![
            "verify".to_owned(),
            dir.to_str().unwrap().to_owned(),
            "--pubkey".into(),
            keys.to_str().unwrap().to_owned(),
            "--json".into(),
        ];
        if dir.join("pin.checkpoint").exists() {
            args.push("--pin".into());
            args.push(dir.join("pin.checkpoint").to_str().unwrap().to_owned());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{}: {}", dir.display(), text(&o));
        let j: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["error"], code, "{}: {j}", dir.display());
        let at = match (j["segment"].as_u64(), j["offset"].as_u64()) {
            (Some(s), Some(b)) => format!("segment {s} byte {b}"),
            (Some(s), None) => format!("segment {s}"),
            _ => "ledger".into(),
        };
        assert_eq!(at, location, "{}", dir.display());
        cases += 1;
    }
    assert_eq!(cases, 25);
}

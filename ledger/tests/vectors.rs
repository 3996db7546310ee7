//! The committed test vectors in `ledger/testdata/` (`docs/ledger-format.md` §9,
//! `ledger/testdata/README.md`): the vector verifies; every hash, root and proof in
//! `expected.json` is recomputed from the segment bytes; each tampered copy fails with exactly the
//! error its `expect.txt` names; and the files are the committed ones, byte for byte.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};

use auditgate_ledger::checkpoint::SignedCheckpoint;
use auditgate_ledger::keys::parse_trusted_keys;
use auditgate_ledger::merkle::{self, Hash};
use auditgate_ledger::segment::{self, RecordType};
use auditgate_ledger::verify::{self, VerifyOptions};
use auditgate_ledger::{VerifierKey, entry, verify_dir};
use serde_json::Value;

/// BLAKE3 of `testdata/MANIFEST`, which lists the BLAKE3 of every other file. Regenerating the
/// vectors (`make_testdata`) prints the new value; update it here in the same commit.
const MANIFEST_BLAKE3: &str = "cdba67b8c3297bac3346b489aec47150301e94049abe2c8feceb9e6947e4409b";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn keys(path: &Path) -> Vec<VerifierKey> {
    parse_trusted_keys(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn unhex(v: &Value) -> Hash {
    let mut h = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap(), &mut h).unwrap();
    h
}

fn unhex_list(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(unhex).collect()
}

#[test]
fn vector_verifies_with_its_trusted_key() {
    let v = testdata().join("vector");
    let r = verify_dir(
        &v,
        keys(&v.join("trusted.keys")),
        None,
        VerifyOptions::default(),
    )
    .unwrap();
    let all = keys(&v.join("keys.txt"));
    assert_eq!(
        r.keys, all,
        "keys.txt lists the keys in the order they were active"
    );
    assert_eq!(all.len(), 2);
    assert!(r.segments >= 2 && r.checkpoints >= 3, "{r:?}");
    assert_eq!(r.kinds["ledger.key_rotated"], 1);
}

#[test]
fn expected_json_matches_hashes_roots_and_proofs_recomputed_from_the_segments() {
    let v = testdata().join("vector");
    let expected: Value =
        serde_json::from_slice(&std::fs::read(v.join("expected.json")).unwrap()).unwrap();
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    let mut leaves: Vec<Hash> = Vec::new();
    for n in 0.. {
        let Ok(bytes) = std::fs::read(v.join("segments").join(segment::file_name(n))) else {
            break;
        };
        let mut offset = segment::HEADER_LEN;
        while offset < bytes.len() {
            let r = segment::decode_record(&bytes, offset).unwrap();
            match r.ty {
                RecordType::Entry => {
                    let e: Value = serde_json::from_slice(r.payload).unwrap();
                    leaves.push(merkle::leaf_hash(r.payload));
                    entries.push((
                        n,
                        offset,
                        e,
                        entry::entry_hash(r.payload),
                        *leaves.last().unwrap(),
                    ));
                }
                RecordType::Checkpoint => {
                    let cp = SignedCheckpoint::parse(r.payload)
                        .unwrap()
                        .checkpoint()
                        .clone();
                    checkpoints.push((n, offset, cp));
                }
                RecordType::Seal => {}
            }
            offset = r.end();
        }
    }

    let want = expected["entries"].as_array().unwrap();
    assert_eq!(want.len(), entries.len());
    for (w, (n, offset, e, hash, leaf)) in want.iter().zip(&entries) {
        assert_eq!(w["seq"], e["seq"]);
        assert_eq!(w["kind"], e["kind"]);
        assert_eq!(
            (w["segment"].as_u64(), w["offset"].as_u64()),
            (Some(*n), Some(*offset as u64))
        );
        assert_eq!(unhex(&w["entry_hash"]), *hash, "seq {}", e["seq"]);
        assert_eq!(unhex(&w["leaf_hash"]), *leaf, "seq {}", e["seq"]);
    }
    let want = expected["checkpoints"].as_array().unwrap();
    assert_eq!(want.len(), checkpoints.len());
    for (w, (n, offset, cp)) in want.iter().zip(&checkpoints) {
        assert_eq!(w["size"].as_u64(), Some(cp.size));
        assert_eq!(
            (w["segment"].as_u64(), w["offset"].as_u64()),
            (Some(*n), Some(*offset as u64))
        );
        let root = merkle::root(&leaves[..cp.size as usize]);
        assert_eq!(unhex(&w["root"]), root, "size {}", cp.size);
        assert_eq!(
            cp.root, root,
            "the checkpoint record states the recomputed root"
        );
    }

    let inc = &expected["inclusion_proof"];
    let (index, size) = (
        inc["index"].as_u64().unwrap(),
        inc["size"].as_u64().unwrap(),
    );
    let proof = unhex_list(&inc["proof"]);
    assert_eq!(unhex(&inc["leaf_hash"]), leaves[index as usize]);
    assert_eq!(unhex(&inc["root"]), merkle::root(&leaves[..size as usize]));
    assert_eq!(
        proof,
        merkle::inclusion_proof(&leaves[..size as usize], index).unwrap()
    );
    merkle::verify_inclusion(
        &leaves[index as usize],
        index,
        size,
        &proof,
        &unhex(&inc["root"]),
    )
    .unwrap();

    let con = &expected["consistency_proof"];
    let (old, new) = (
        con["old_size"].as_u64().unwrap(),
        con["new_size"].as_u64().unwrap(),
    );
    let proof = unhex_list(&con["proof"]);
    assert_eq!(new, leaves.len() as u64);
    assert_eq!(
        unhex(&con["old_root"]),
        merkle::root(&leaves[..old as usize])
    );
    assert_eq!(unhex(&con["new_root"]), merkle::root(&leaves));
    assert_eq!(proof, merkle::consistency_proof(&leaves, old).unwrap());
    merkle::verify_consistency(
        old,
        new,
        &unhex(&con["old_root"]),
        &unhex(&con["new_root"]),
        &proof,
    )
    .unwrap();
}

#[test]
fn each_tampered_case_fails_with_exactly_its_expected_error() {
    let root = testdata();
    let default_keys = keys(&root.join("vector/trusted.keys"));
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("tampered"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for case in &cases {
        let name = case.file_name().unwrap().to_str().unwrap();
        let expect = std::fs::read_to_string(case.join("expect.txt")).unwrap();
        let trusted = match case.join("trusted.keys") {
            p if p.exists() => keys(&p),
            _ => default_keys.clone(),
        };
        let pin = std::fs::read(case.join("pin.checkpoint"))
            .ok()
            .map(|b| SignedCheckpoint::parse(&b).unwrap());
        let e = verify_dir(case, trusted, pin, VerifyOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{name}: verifies"));
        assert_eq!(
            format!("{} {}\n", verify::error_code(&e.kind), e.location),
            expect,
            "{name}: {e}"
        );
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "{name} is not in README.md"
        );
    }
}

/// The vectors are data, not an output of the tests: nothing may regenerate them unnoticed.
#[test]
fn testdata_files_are_the_committed_ones() {
    let root = testdata();
    let manifest = std::fs::read_to_string(root.join("MANIFEST")).unwrap();
    assert_eq!(
        blake3::hash(manifest.as_bytes()).to_hex().as_str(),
        MANIFEST_BLAKE3,
        "testdata/MANIFEST changed: the vectors were regenerated or edited"
    );
    let mut listed: Vec<&str> = Vec::new();
    for line in manifest.lines() {
        let (digest, path) = line.split_once("  ").unwrap();
        let bytes = std::fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            blake3::hash(&bytes).to_hex().as_str(),
            digest,
            "{path} differs from the committed file"
        );
        listed.push(path);
    }
    let mut present = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != "MANIFEST" {
                present.push(p.strip_prefix(&root).unwrap().to_str().unwrap().to_owned());
            }
        }
    }
    present.sort();
    assert_eq!(present, listed, "files added to or missing from testdata/");
}

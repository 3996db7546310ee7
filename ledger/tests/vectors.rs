//! The committed test vectors in `ledger/testdata/` (`docs/ledger-format.md` §9,
//! `ledger/testdata/README.md`), both sets (1.0 frozen, 1.1 current): each vector verifies in its
//! format; every hash, root and proof in `expected.json` is recomputed from the segment bytes;
//! each tampered copy gets exactly the verdict its `expect.txt` names (an error and its location,
//! or `OK` and its warnings); 1.1 has a case for every error code; and the files are the
//! committed ones, byte for byte.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};

use auditgate_ledger::checkpoint::SignedCheckpoint;
use auditgate_ledger::format::Format;
use auditgate_ledger::keys::parse_trusted_keys;
use auditgate_ledger::merkle::{self, Hash};
use auditgate_ledger::segment::{self, RecordType};
use auditgate_ledger::verify::{self, VerifyOptions};
use auditgate_ledger::{VerifierKey, entry, verify_dir};
use serde_json::Value;

/// BLAKE3 of `testdata/MANIFEST`, which lists the BLAKE3 of every other file. Regenerating the
/// vectors (`make_testdata`) prints the new value; update it here in the same commit.
const MANIFEST_BLAKE3: &str = "a8b9a206095858716bf771ee70249984467f4dd068b47e5bea95d3f654bc1c14";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// The vector sets and the format each vector is in.
const SETS: [(&str, Format); 2] = [("1.0", Format::V1_0), ("1.1", Format::V1_1)];

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
fn vectors_verify_with_their_trusted_key_in_their_format() {
    for (set, format) in SETS {
        vector_verifies(&testdata().join(set).join("vector"), format);
    }
}

fn vector_verifies(v: &Path, format: Format) {
    let r = verify_dir(
        v,
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
    assert_eq!(r.format, format);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn expected_json_matches_hashes_roots_and_proofs_recomputed_from_the_segments() {
    for (set, _) in SETS {
        expected_json_matches(&testdata().join(set).join("vector"));
    }
}

fn expected_json_matches(v: &Path) {
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
fn each_tampered_case_gets_exactly_its_expected_verdict() {
    for (set, _) in SETS {
        let codes = tampered_cases(&testdata().join(set));
        if set == "1.1" {
            for code in EVERY_CODE {
                assert!(
                    codes.iter().any(|c| c == code),
                    "no 1.1 vector fails with {code}"
                );
            }
        }
    }
}

/// Every code `verify::error_code` can give for a ledger (all but `Io`, which is not a verdict),
/// as docs/ledger-format.md §8.2 lists them.
const EVERY_CODE: &[&str] = &[
    "NoSegments",
    "MissingSegment",
    "BadHeader",
    "BadRecord",
    "UnexpectedRecord",
    "UnsealedSegment",
    "UnsignedTail",
    "BadSeal",
    "NonCanonicalEntry",
    "BadEntryField",
    "SeqGap",
    "ChainBroken",
    "TimeWentBackwards",
    "BadGenesis",
    "UntrustedGenesisKey",
    "BadCheckpoint",
    "CheckpointSizeMismatch",
    "CheckpointRootMismatch",
    "MissingCheckpoint",
    "BadSignature",
    "MissingSignature",
    "BadRotation",
    "BadRecovery",
    "PinnedCheckpointInvalid",
    "Truncated",
    "PinMismatch",
];

/// Checks every case of a set; returns the codes seen.
fn tampered_cases(root: &Path) -> Vec<String> {
    let default_keys = keys(&root.join("vector/trusted.keys"));
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("tampered"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut codes = Vec::new();
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
        let got = match verify_dir(case, trusted, pin, VerifyOptions::default()) {
            Ok(r) => {
                let mut lines = "OK\n".to_owned();
                for w in &r.warnings {
                    let verify::Warning::StrayFile { name } = w;
                    lines.push_str(&format!("warning {} {name}\n", w.code()));
                }
                lines
            }
            Err(e) => {
                let code = verify::error_code(&e.kind).into_owned();
                let line = format!("{code} {}\n", e.location);
                codes.push(code);
                line
            }
        };
        assert_eq!(got, expect, "{}: {name}", root.display());
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "{name} is not in README.md"
        );
    }
    codes
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

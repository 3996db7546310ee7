//! Generates the committed test vectors in `ledger/testdata/` (`docs/ledger-format.md` §9):
//!
//! ```text
//! cargo run -p auditgate-ledger --example make_testdata -- ledger/testdata
//! ```
//!
//! Keys come from fixed seeds; the ledger id and timestamps come from the writer's RNG and clock,
//! so every run produces a different (equally valid) vector. Regenerate only deliberately: the
//! `vectors` test pins the committed files by digest (`MANIFEST` and the constant in
//! `tests/vectors.rs`), which must be updated together with the files.
#![allow(clippy::unwrap_used, reason = "a generator: any failure aborts it")]

#[path = "../../tests/common/forge.rs"]
mod forge;

mod crafted;
mod format_1_1;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use auditgate_ledger::checkpoint::SignedCheckpoint;
use auditgate_ledger::format::Format;
use auditgate_ledger::segment::{self, RecordType};
use auditgate_ledger::verify::{self, VerifyOptions};
use auditgate_ledger::{
    Draft, Ledger, LedgerOptions, SigningKey, VerifierKey, entry, merkle, verify_dir,
};
use forge::*;
use serde_json::{Value, json};

const KEY_NAME: &str = "auditgate.example/ledger/vector";
const ORIGIN: &str = "auditgate.example/ledger/vector";

/// The vector's keys: published seeds, never to be used for a real ledger.
fn keys() -> (SigningKey, SigningKey) {
    (
        SigningKey::from_seed(KEY_NAME, &[0x11; 32]).unwrap(),
        SigningKey::from_seed(KEY_NAME, &[0x22; 32]).unwrap(),
    )
}

fn draft(kind: &str, body: Value) -> Draft {
    Draft::from_value(kind, &body).unwrap()
}

/// One session's worth of entries. Their kinds are `example.*`: entries of some application,
/// not the gateway's events (docs/audit-events.md), whose rules do not apply to them.
fn session(n: u64) -> Vec<Draft> {
    let s = format!("s-{n}");
    vec![
        draft(
            "example.session_open",
            json!({"session": s, "agent": "billing-bot", "client": {"name": "mcp-test", "version": "1.2.0"}}),
        ),
        draft(
            "example.call_request",
            json!({"session": s, "tool": "refund", "args": {"order": format!("o-{}", 100 + n), "amount": 12.5 * n as f64, "note": "caf\u{e9} \u{1f600}"}}),
        ),
        draft(
            "example.policy_decision",
            json!({"session": s, "tool": "refund", "decision": if n % 3 == 2 { "deny" } else { "allow" }, "rule": format!("refund-limit-{n}")}),
        ),
        draft(
            "example.call_result",
            json!({"session": s, "tool": "refund", "ok": n % 3 != 2, "result": {"id": n, "redacted": ["card"]}}),
        ),
        draft(
            "example.session_close",
            json!({"session": s, "reason": "done"}),
        ),
    ]
}

/// Appends `drafts` from concurrent threads so the writer groups them into one batch.
fn burst(l: &Arc<Ledger>, drafts: Vec<Draft>) {
    let handles: Vec<_> = drafts
        .into_iter()
        .map(|d| {
            let l = l.clone();
            std::thread::spawn(move || l.append(d).unwrap())
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// Writes the ledger: sessions 1–3 one entry per batch, a burst, the rotation, sessions 4–5 and
/// another burst.
fn make_ledger(dir: &Path) {
    let (k1, k2) = keys();
    let opts = LedgerOptions {
        segment_size_limit: 2048,
        max_batch_delay: Duration::from_millis(20),
        origin: Some(ORIGIN.into()),
        index: false,
        ..LedgerOptions::default()
    };
    let l = Arc::new(Ledger::create(dir, k1, opts).unwrap());
    for n in 1..=2 {
        for d in session(n) {
            l.append(d).unwrap();
        }
    }
    burst(&l, session(3));
    l.rotate_key(k2, "scheduled yearly rotation").unwrap();
    for n in 4..=5 {
        for d in session(n) {
            l.append(d).unwrap();
        }
    }
    burst(&l, session(6)[..3].to_vec());
    Arc::into_inner(l).unwrap().close();
}

fn hx(h: &[u8]) -> String {
    hex::encode(h)
}

fn expected_json(segs: &Segs, files: &[Vec<u8>]) -> Value {
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    let mut leaves = Vec::new();
    for (s, file) in files.iter().enumerate() {
        let mut offset = segment::HEADER_LEN;
        while offset < file.len() {
            let r = segment::decode_record(file, offset).unwrap();
            match r.ty {
                RecordType::Entry => {
                    let v: Value = serde_json::from_slice(r.payload).unwrap();
                    let leaf = merkle::leaf_hash(r.payload);
                    leaves.push(leaf);
                    entries.push(json!({
                        "seq": v["seq"], "kind": v["kind"], "segment": s, "offset": offset,
                        "entry_hash": hx(&entry::entry_hash(r.payload)), "leaf_hash": hx(&leaf),
                    }));
                }
                RecordType::Checkpoint => {
                    let cp = SignedCheckpoint::parse(r.payload).unwrap();
                    let cp = cp.checkpoint();
                    assert_eq!(cp.root, merkle::root(&leaves[..cp.size as usize]));
                    checkpoints.push(json!({
                        "size": cp.size, "root": hx(&cp.root), "segment": s, "offset": offset,
                    }));
                }
                RecordType::Seal => {}
            }
            offset = r.end();
        }
    }
    let sizes = checkpoint_sizes(segs);
    let n = *sizes.last().unwrap();
    let (index, size) = (13u64, sizes[sizes.len() / 2]);
    let old = sizes[2];
    let root = |k: u64| hx(&merkle::root(&leaves[..k as usize]));
    let hexes = |p: Vec<merkle::Hash>| p.iter().map(|h| hx(h)).collect::<Vec<_>>();
    json!({
        "format": auditgate_ledger::format::Format::default().as_str(),
        "origin": ORIGIN,
        "hashes": "entry_hash = BLAKE3-256(entry bytes); leaf_hash = SHA-256(0x00 || entry bytes); roots RFC 6962",
        "entries": entries,
        "checkpoints": checkpoints,
        "inclusion_proof": {
            "index": index, "size": size, "leaf_hash": hx(&leaves[index as usize]), "root": root(size),
            "proof": hexes(merkle::inclusion_proof(&leaves[..size as usize], index).unwrap()),
        },
        "consistency_proof": {
            "old_size": old, "new_size": n, "old_root": root(old), "new_root": root(n),
            "proof": hexes(merkle::consistency_proof(&leaves, old).unwrap()),
        },
    })
}

/// One tampered copy.
struct Case {
    name: &'static str,
    what: &'static str,
    files: Vec<(u64, Vec<u8>)>,
    pin: Option<SignedCheckpoint>,
    trusted: Option<VerifierKey>,
    /// The expected error code, or `OK` for a copy that must verify.
    code: &'static str,
    /// Other files to write into the case's `segments/` (stray names).
    extra: Vec<(&'static str, Vec<u8>)>,
}

impl Case {
    fn new(
        name: &'static str,
        what: &'static str,
        files: Vec<(u64, Vec<u8>)>,
        code: &'static str,
    ) -> Self {
        Self {
            name,
            what,
            files,
            pin: None,
            trusted: None,
            code,
            extra: Vec::new(),
        }
    }
}

fn numbered(files: Vec<Vec<u8>>) -> Vec<(u64, Vec<u8>)> {
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| (i as u64, f))
        .collect()
}

fn framed(segs: &Segs) -> Vec<(u64, Vec<u8>)> {
    numbered(frame_all(segs))
}

/// The first batch with at least two entries: (segment, index of its first entry).
fn multi_entry_batch(segs: &Segs) -> At {
    for (s, recs) in segs.iter().enumerate() {
        for i in 0..recs.len().saturating_sub(1) {
            if recs[i].ty == RecordType::Entry && recs[i + 1].ty == RecordType::Entry {
                return (s, i);
            }
        }
    }
    panic!("the vector has no multi-entry batch");
}

fn cases(files: &[Vec<u8>], segs: &Segs, other: &Segs) -> Vec<Case> {
    let (k1, k2) = keys();
    let stranger = SigningKey::from_seed(KEY_NAME, &[0x33; 32]).unwrap();
    let sizes = checkpoint_sizes(segs);
    let n = *sizes.last().unwrap();
    let last_seg = segs.len() - 1;
    assert!(
        !segs[last_seg].is_empty(),
        "the last segment must hold a batch"
    );
    assert!(segs.len() >= 4, "{} segments", segs.len());
    let c = Case::new;
    let edit = |f: &dyn Fn(&mut Segs)| {
        let mut s = segs.clone();
        f(&mut s);
        framed(&s)
    };
    let tool = |r: &mut Rec| {
        let mut v = r.json();
        v["tool"] = json!("delete_everything");
        r.set_json(&v);
    };
    let mut out = Vec::new();

    let mut flipped = files.to_vec();
    let (s, i) = entry_at(segs, 8);
    let off = segment::HEADER_LEN
        + segs[s][..i]
            .iter()
            .map(|r| segment::record_len(r.payload.len()))
            .sum::<usize>()
        + segment::FRAME_OVERHEAD
        + 20;
    flipped[s][off] ^= 0x04;
    out.push(c(
        "byte-flipped",
        "one bit of entry 8's payload flipped",
        numbered(flipped),
        "BadRecord",
    ));

    let mut magic = files.to_vec();
    magic[2][0] = b'X';
    out.push(c(
        "header-magic",
        "segment 2's magic changed",
        numbered(magic),
        "BadHeader",
    ));

    let mut missing = numbered(files.to_vec());
    missing.remove(2);
    out.push(c(
        "segment-missing",
        "segment 2 deleted",
        missing,
        "MissingSegment",
    ));

    let mut swapped = numbered(files.to_vec());
    swapped[1].0 = 2;
    swapped[2].0 = 1;
    swapped.sort_by_key(|f| f.0);
    out.push(c(
        "segments-swapped",
        "files of segments 1 and 2 renamed to each other",
        swapped,
        "BadHeader",
    ));

    out.push(Case {
        pin: Some(signed_checkpoint(segs, n)),
        ..c(
            "last-segment-dropped-pinned",
            "last segment deleted; the last checkpoint pinned",
            numbered(files[..last_seg].to_vec()),
            "Truncated",
        )
    });

    out.push(c(
        "batch-removed",
        "entry 5 and its checkpoint removed",
        edit(&|s| {
            let (g, i) = entry_at(s, 5);
            s[g].drain(i..i + 2);
        }),
        "SeqGap",
    ));

    out.push(c(
        "entry-duplicated",
        "entry 6 copied right after itself",
        edit(&|s| {
            let (g, i) = entry_at(s, 6);
            let r = s[g][i].clone();
            s[g].insert(i + 1, r);
        }),
        "SeqGap",
    ));

    out.push(c(
        "entries-swapped",
        "the first two entries of a multi-entry batch swapped",
        edit(&|s| {
            let (g, i) = multi_entry_batch(s);
            s[g].swap(i, i + 1);
        }),
        "SeqGap",
    ));

    out.push(c(
        "entry-modified",
        "entry 9's tool changed; frame re-checksummed",
        edit(&|s| {
            let (g, i) = entry_at(s, 9);
            tool(&mut s[g][i]);
        }),
        "CheckpointRootMismatch",
    ));

    out.push(c(
        "entry-from-other-ledger",
        "entry 4 of another ledger (same keys) inserted before entry 4",
        edit(&|s| {
            let (og, oi) = entry_at(other, 4);
            let (g, i) = entry_at(s, 4);
            s[g].insert(i, other[og][oi].clone());
        }),
        "ChainBroken",
    ));

    out.push(c(
        "entry-non-canonical",
        "a space inserted in entry 3; frame re-checksummed",
        edit(&|s| {
            let (g, i) = entry_at(s, 3);
            s[g][i].payload.insert(1, b' ');
        }),
        "NonCanonicalEntry",
    ));

    out.push(c(
        "checkpoint-replayed",
        "the third checkpoint copied over a later one",
        edit(&|s| {
            let early = {
                let (g, i) = checkpoint_at(s, sizes[2]);
                s[g][i].clone()
            };
            let (g, i) = checkpoint_at(s, sizes[6]);
            s[g][i] = early;
        }),
        "CheckpointSizeMismatch",
    ));

    out.push(c(
        "checkpoint-duplicated",
        "a checkpoint copied right after itself",
        edit(&|s| {
            let (g, i) = checkpoint_at(s, sizes[3]);
            let r = s[g][i].clone();
            s[g].insert(i + 1, r);
        }),
        "UnexpectedRecord",
    ));

    out.push(c(
        "checkpoint-unknown-signer",
        "a checkpoint re-signed by an unknown key of the same name",
        edit(&|s| {
            let (g, i) = checkpoint_at(s, sizes[4]);
            s[g][i].payload = resign_note(&s[g][i].payload, &[&stranger]);
        }),
        "MissingSignature",
    ));

    out.push(c(
        "checkpoint-bad-signature",
        "a bit of the trusted key's signature flipped",
        edit(&|s| {
            let (g, i) = checkpoint_at(s, sizes[1]);
            s[g][i].payload = corrupt_signature(&s[g][i].payload, k1.key_id());
        }),
        "BadSignature",
    ));

    out.push(c(
        "checkpoint-forged-root",
        "a checkpoint's root changed and re-signed by an unknown key",
        edit(&|s| {
            let (g, i) = checkpoint_at(s, sizes[2]);
            let mut cp = SignedCheckpoint::parse(&s[g][i].payload)
                .unwrap()
                .checkpoint()
                .clone();
            cp.root[31] ^= 0x80;
            s[g][i].payload = SignedCheckpoint::sign(cp, &[&stranger]).unwrap().to_bytes();
        }),
        "CheckpointRootMismatch",
    ));

    out.push(c(
        "last-checkpoint-removed",
        "the last checkpoint removed",
        edit(&|s| {
            let (g, i) = checkpoint_at(s, n);
            s[g].remove(i);
        }),
        "UnsignedTail",
    ));

    out.push(c(
        "seal-removed",
        "segment 1's seal removed",
        edit(&|s| {
            s[1].pop();
        }),
        "UnsealedSegment",
    ));

    out.push(c(
        "seal-wrong-count",
        "segment 0's seal count decremented",
        edit(&|s| {
            let r = s[0].last_mut().unwrap();
            let count = segment::decode_seal(&r.payload).unwrap();
            r.payload = segment::encode_seal(count - 1).to_vec();
        }),
        "BadSeal",
    ));

    out.push(c(
        "time-went-backwards",
        "entry 10's ts set to 2001; re-chained and re-signed with the real keys",
        edit(&|s| {
            let (g, i) = entry_at(s, 10);
            let mut v = s[g][i].json();
            v["ts"] = json!("2001-01-01T00:00:00.000000000Z");
            s[g][i].set_json(&v);
            rechain(s);
            resign(s, &[k1.clone(), k2.clone()]);
        }),
        "TimeWentBackwards",
    ));

    out.push(c(
        "second-genesis",
        "entry 7 replaced by a genesis entry; re-chained and re-signed",
        edit(&|s| {
            let genesis = s[0][0].json();
            let (g, i) = entry_at(s, 7);
            let mut v = genesis;
            v["ts"] = s[g][i].json()["ts"].clone();
            s[g][i].set_json(&v);
            rechain(s);
            resign(s, &[k1.clone(), k2.clone()]);
        }),
        "BadGenesis",
    ));

    out.push(c(
        "rotation-wrong-old-key",
        "the rotation's old_key changed; re-chained and re-signed",
        edit(&|s| {
            let (g, i) = positions(s)
                .into_iter()
                .find(|&(g, i)| {
                    s[g][i].ty == RecordType::Entry
                        && s[g][i].json()["kind"] == "ledger.key_rotated"
                })
                .unwrap();
            let mut v = s[g][i].json();
            v["old_key"] = json!(stranger.verifier_key().to_string());
            s[g][i].set_json(&v);
            rechain(s);
            resign(s, &[k1.clone(), k2.clone()]);
        }),
        "BadRotation",
    ));

    let rewrite = sizes[3];
    out.push(Case {
        pin: Some(signed_checkpoint(segs, sizes[sizes.len() - 2])),
        ..c("history-rewritten-pinned", "the entry whose seq is the 4th checkpoint's tree size (the first entry after it, counting checkpoints from the start) modified, re-chained, re-signed with the real keys; the second-to-last checkpoint pinned", edit(&|s| {
            let (g, i) = entry_at(s, rewrite);
            tool(&mut s[g][i]);
            rechain(s);
            resign(s, &[k1.clone(), k2.clone()]);
        }), "PinMismatch")
    });

    out.push(Case {
        pin: Some(signed_checkpoint(segs, n)),
        ..c(
            "tail-truncated-pinned",
            "the last batch cut cleanly; the last checkpoint pinned",
            edit(&|s| {
                // Leave the files as the writer would have after that batch: a sealed segment is
                // followed by an empty one.
                let (g, i) = checkpoint_at(s, sizes[sizes.len() - 2]);
                let sealed = s[g].get(i + 1).is_some_and(|r| r.ty == RecordType::Seal);
                s[g].truncate(i + 1 + usize::from(sealed));
                s.truncate(g + 1 + usize::from(sealed));
                if sealed {
                    s[g + 1].clear();
                }
            }),
            "Truncated",
        )
    });

    out.push(Case {
        trusted: Some(stranger.verifier_key()),
        ..c(
            "untrusted-genesis-key",
            "the vector unchanged, verified against another key",
            numbered(files.to_vec()),
            "UntrustedGenesisKey",
        )
    });
    out.extend(format_1_1::cases(files, segs));
    out
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn main() {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "ledger/testdata".into()),
    );
    // `1.0/` is frozen (generated by a format 1.0 writer); only the current set is rewritten.
    let out = root.join(
        Format::default()
            .as_str()
            .trim_start_matches("auditgate-ledger/"),
    );
    let (k1, k2) = keys();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    make_ledger(a.path());
    make_ledger(b.path());
    let files = read_contiguous(a.path());
    let segs = records(&files);
    let other = records(&read_contiguous(b.path()));
    let trusted = vec![k1.verifier_key()];
    let report = verify_files(&files, &trusted, None).unwrap();
    assert_eq!(report.keys, vec![k1.verifier_key(), k2.verifier_key()]);

    for sub in ["vector", "tampered"] {
        let p = out.join(sub);
        if p.exists() {
            std::fs::remove_dir_all(&p).unwrap();
        }
    }
    let vector = out.join("vector");
    for (i, f) in files.iter().enumerate() {
        write(
            &vector.join("segments").join(segment::file_name(i as u64)),
            f,
        );
    }
    let trusted_keys = format!("# the vector's genesis key\n{}\n", k1.verifier_key());
    write(&vector.join("trusted.keys"), trusted_keys.as_bytes());
    let keys_txt = format!(
        "# signing keys of the vector, in the order they were active (seeds 0x11 x 32 and 0x22 x 32)\n{}\n{}\n",
        k1.verifier_key(),
        k2.verifier_key()
    );
    write(&vector.join("keys.txt"), keys_txt.as_bytes());
    let expected = expected_json(&segs, &files);
    write(
        &vector.join("expected.json"),
        (serde_json::to_string_pretty(&expected).unwrap() + "\n").as_bytes(),
    );

    let mut table = String::new();
    for case in cases(&files, &segs, &other) {
        let trusted = vec![case.trusted.clone().unwrap_or_else(|| k1.verifier_key())];
        let dir = out.join("tampered").join(case.name);
        for (n, f) in &case.files {
            write(&dir.join("segments").join(segment::file_name(*n)), f);
        }
        for (name, bytes) in &case.extra {
            write(&dir.join("segments").join(name), bytes);
        }
        // The verdict is taken from the files as written, as any verifier reads them.
        let expect = match verify_dir(&dir, trusted, case.pin.clone(), VerifyOptions::default()) {
            Ok(report) => {
                assert_eq!(case.code, "OK", "{}: verifies", case.name);
                let mut lines = "OK\n".to_owned();
                for w in &report.warnings {
                    let verify::Warning::StrayFile { name } = w;
                    writeln!(lines, "warning {} {name}", w.code()).unwrap();
                }
                lines
            }
            Err(err) => {
                let code = verify::error_code(&err.kind);
                assert_eq!(code, case.code, "{}: {err}", case.name);
                format!("{code} {}\n", err.location)
            }
        };
        if let Some(pin) = &case.pin {
            write(&dir.join("pin.checkpoint"), &pin.to_bytes());
        }
        if let Some(k) = &case.trusted {
            write(&dir.join("trusted.keys"), format!("{k}\n").as_bytes());
        }
        write(&dir.join("expect.txt"), expect.as_bytes());
        let extra = match (&case.pin, &case.trusted) {
            (Some(_), _) => " (with `pin.checkpoint`)",
            (_, Some(_)) => " (with its own `trusted.keys`)",
            _ => "",
        };
        writeln!(
            table,
            "| `{}` | {}{extra} | `{}` |",
            case.name,
            case.what,
            expect.trim().replace('\n', "` `")
        )
        .unwrap();
    }
    // Batches never span segments, so a multi-entry batch is two entries before a checkpoint.
    let multi = segs
        .iter()
        .flat_map(|s| s.windows(3))
        .filter(|w| {
            w[0].ty == RecordType::Entry
                && w[1].ty == RecordType::Entry
                && w[2].ty == RecordType::Checkpoint
        })
        .count();
    assert!(multi >= 2, "the bursts did not form multi-entry batches");
    write(
        &out.join("README.md"),
        readme(&report, multi, &table).as_bytes(),
    );
    write_manifest(&root);
    println!(
        "wrote {} ({} entries, {} checkpoints, {} segments)",
        out.display(),
        report.entries,
        report.checkpoints,
        report.segments
    );
}

fn readme(report: &auditgate_ledger::Report, multi: usize, table: &str) -> String {
    format!(
        "# Ledger test vectors, format 1.1\n\n\
Generated by `cargo run -p auditgate-ledger --example make_testdata -- ledger/testdata`\n\
(`ledger/examples/make_testdata/`) and checked by `cargo test -p auditgate-ledger --test vectors`\n\
(`ledger/tests/vectors.rs`) and, through `../conformance`, by the CLI's tests. The format is\n\
specified in `docs/ledger-format.md`; §9 describes these files and `../README.md` how to run\n\
another verifier against them. Do not regenerate casually: the ledger id and timestamps change on\n\
every run, and the test pins the committed bytes (`../MANIFEST` lists the BLAKE3 of every file;\n\
the test holds the BLAKE3 of `MANIFEST`).\n\n\
## `vector/`\n\n\
A ledger of {entries} entries ({kinds}) in {segments} segments (`segment_size_limit` 2048: a\n\
segment is sealed once a batch takes it past 2 KiB), with {checkpoints} checkpoints (one-entry\n\
batches and {multi} multi-entry batches) and one key rotation.\n\
Origin `{origin}`.\n\n\
- `segments/*.seg` — the segment files;\n\
- `trusted.keys` — the genesis key (what a verifier must trust);\n\
- `keys.txt` — both signing keys' verifier keys, in the order they were active. The private keys are\n\
  `SigningKey::from_seed(\"{name}\", [0x11; 32])` and `[0x22; 32]` — published test keys: never\n\
  use them for a real ledger;\n\
- `expected.json` — per entry: `seq`, `kind`, segment and byte offset of its record, `entry_hash`\n\
  (BLAKE3-256 of the stored bytes) and `leaf_hash` (SHA-256(0x00 ‖ bytes)); per checkpoint: size,\n\
  root (hex), segment and offset; one RFC 6962 inclusion proof and one consistency proof with\n\
  their inputs (hashes hex, proofs deepest node first).\n\n\
## `tampered/<case>/`\n\n\
Each case is a full copy of the vector's segments with one tampering, and `expect.txt`: the\n\
reference verifier's error code (`verify::error_code`) and location (`segment N byte M`, or\n\
`ledger` for whole-ledger findings), or `OK` and its warnings for the copies that must verify. A case is verified with `vector/trusted.keys` unless it has\n\
its own `trusted.keys`, and against `pin.checkpoint` (a signed checkpoint note) if present.\n\
Attacks marked re-signed assume a stolen signing key; every other one re-frames records with\n\
valid CRCs only.\n\n\
| case | tampering | expect.txt |\n|---|---|---|\n{table}",
        entries = report.entries,
        kinds = report
            .kinds
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", "),
        segments = report.segments,
        checkpoints = report.checkpoints,
        multi = multi,
        origin = report.origin,
        name = KEY_NAME,
    )
}

/// `MANIFEST`: `<blake3 hex>  <path>` for every file under `out` except itself, sorted by path.
fn write_manifest(out: &Path) {
    let mut lines = Vec::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != "MANIFEST" {
                let rel = p.strip_prefix(out).unwrap().to_str().unwrap().to_owned();
                lines.push(format!(
                    "{}  {rel}\n",
                    blake3::hash(&std::fs::read(&p).unwrap()).to_hex()
                ));
            }
        }
    }
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    std::fs::write(out.join("MANIFEST"), lines.concat()).unwrap();
    println!(
        "MANIFEST blake3: {}",
        blake3::hash(&std::fs::read(out.join("MANIFEST")).unwrap()).to_hex()
    );
}

//! The cases format 1.1 added to the vectors (`docs/ledger-format.md` §8.2 asks for at least
//! one per error code): whole-ledger findings, each kind of damaged frame, misplaced and short
//! seals, malformed members, non-canonical numbers, checkpoint chaining, pins, rotations,
//! recoveries, the Ed25519 acceptance rule, and the copies that must verify (stray files, extra
//! genesis members, a well-formed recovery).

use auditgate_ledger::checkpoint::Checkpoint;
use serde_json::json;

use super::*;

fn offset_of(recs: &[Rec], i: usize) -> usize {
    segment::HEADER_LEN
        + recs[..i]
            .iter()
            .map(|r| segment::record_len(r.payload.len()))
            .sum::<usize>()
}

/// Rewrites the CRC-32C of the frame at `at` (over its length field, type byte and
/// `payload_len` payload bytes), as an attacker re-framing an edited frame would.
fn recompute_crc(file: &mut [u8], at: usize, payload_len: usize) {
    let crc = crc32c::crc32c(&file[at..at + 4]);
    let crc = crc32c::crc32c_append(crc, &file[at + 8..at + 9 + payload_len]);
    file[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Replaces the first `from` in the first entry that holds it with `to`, as raw bytes.
fn splice_first(segs: &mut Segs, from: &str, to: &str) {
    let (g, i) = entry_containing(segs, from);
    splice(&mut segs[g][i], from, to);
}

/// The first entry record (segment, index) whose bytes contain `needle`.
fn entry_containing(segs: &Segs, needle: &str) -> At {
    positions(segs)
        .into_iter()
        .find(|&(g, i)| {
            segs[g][i].ty == RecordType::Entry
                && std::str::from_utf8(&segs[g][i].payload)
                    .unwrap()
                    .contains(needle)
        })
        .unwrap_or_else(|| panic!("no entry holds {needle}"))
}

/// Replaces the first `from` in the entry's bytes with `to`, as raw bytes (no re-encoding).
fn splice(r: &mut Rec, from: &str, to: &str) {
    let text = String::from_utf8(r.payload.clone()).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    r.payload = text.replacen(from, to, 1).into_bytes();
}

/// The position of the ledger's rotation entry.
fn rotation_at(segs: &Segs) -> At {
    positions(segs)
        .into_iter()
        .find(|&(g, i)| {
            segs[g][i].ty == RecordType::Entry && segs[g][i].json()["kind"] == "ledger.key_rotated"
        })
        .unwrap()
}

/// A one-entry batch in the middle of a segment: the index of its checkpoint, followed by an
/// entry (segment, index).
fn inner_checkpoint(segs: &Segs, after_size: u64) -> At {
    positions(segs)
        .into_iter()
        .find(|&(g, i)| {
            segs[g][i].ty == RecordType::Checkpoint
                && segs[g][i].size() > after_size
                && segs[g]
                    .get(i + 1)
                    .is_some_and(|r| r.ty == RecordType::Entry)
        })
        .unwrap()
}

pub(super) fn cases(files: &[Vec<u8>], segs: &Segs) -> Vec<Case> {
    let (k1, k2) = keys();
    let k3 = SigningKey::from_seed(KEY_NAME, &[0x44; 32]).unwrap();
    let stranger = SigningKey::from_seed(KEY_NAME, &[0x33; 32]).unwrap();
    let sizes = checkpoint_sizes(segs);
    let n = *sizes.last().unwrap();
    let c = Case::new;
    let edit = |f: &dyn Fn(&mut Segs)| {
        let mut s = segs.clone();
        f(&mut s);
        framed(&s)
    };
    let resigned = |f: &dyn Fn(&mut Segs)| {
        edit(&|s| {
            f(s);
            rechain(s);
            resign(s, &[k1.clone(), k2.clone(), k3.clone()]);
        })
    };
    // The second checkpoint (signed by k1 alone), changed by `f` and re-signed with the real key.
    let second_checkpoint_resigned = |f: &dyn Fn(&mut Checkpoint)| {
        edit(&|s| {
            let (g, i) = checkpoint_at(s, sizes[1]);
            let mut cp = SignedCheckpoint::parse(&s[g][i].payload)
                .unwrap()
                .checkpoint()
                .clone();
            f(&mut cp);
            s[g][i].payload = SignedCheckpoint::sign(cp, &[&k1]).unwrap().to_bytes();
        })
    };
    let (rot_g, rot_i) = rotation_at(segs);
    let rotation_size = {
        let after = &segs[rot_g][rot_i + 1..];
        after
            .iter()
            .find(|r| r.ty == RecordType::Checkpoint)
            .unwrap()
            .size()
    };
    let mut out = Vec::new();

    // Whole-ledger findings and segment files.
    out.push(Case {
        extra: vec![(".gitkeep", Vec::new())],
        ..c(
            "no-segments",
            "`segments/` holds no segment file (only `.gitkeep`)",
            Vec::new(),
            "NoSegments",
        )
    });
    out.push(c(
        "empty-ledger",
        "one segment holding only its header",
        vec![(0, segment::encode_header(0).to_vec())],
        "BadGenesis",
    ));
    let mut short = files.to_vec();
    short[2].truncate(10);
    out.push(c(
        "segment-short-header",
        "segment 2 cut to 10 bytes, shorter than its 24-byte header",
        numbered(short),
        "BadHeader",
    ));

    // Frames (V3): each way a frame can be damaged is `BadRecord`.
    let last = files.len() - 1;
    let mut cut = files.to_vec();
    let cut_len = cut[last].len() - 30;
    cut[last].truncate(cut_len);
    out.push(c(
        "frame-truncated",
        "the last segment's last record cut short by 30 bytes",
        numbered(cut),
        "BadRecord",
    ));
    let (g, i) = entry_at(segs, 6);
    let at = offset_of(&segs[g], i);
    let mut zero_len = files.to_vec();
    zero_len[g][at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    recompute_crc(&mut zero_len[g], at, 0);
    out.push(c(
        "frame-zero-length",
        "entry 6's frame length set to 0, its CRC recomputed",
        numbered(zero_len),
        "BadRecord",
    ));
    let mut unknown = files.to_vec();
    unknown[g][at + 8] = 0x07;
    let len = u32::from_le_bytes(unknown[g][at..at + 4].try_into().unwrap()) as usize;
    recompute_crc(&mut unknown[g], at, len);
    out.push(c(
        "frame-unknown-type",
        "entry 6's record type set to 0x07, its CRC recomputed",
        numbered(unknown),
        "BadRecord",
    ));

    // Seals (V4, V5).
    out.push(c(
        "seal-not-last",
        "a seal with the right count inserted after a checkpoint in the middle of segment 1",
        edit(&|s| {
            let i = s[1]
                .iter()
                .position(|r| r.ty == RecordType::Checkpoint)
                .unwrap();
            let count = s[1][i].size();
            s[1].insert(
                i + 1,
                Rec {
                    ty: RecordType::Seal,
                    payload: segment::encode_seal(count).to_vec(),
                },
            );
        }),
        "UnexpectedRecord",
    ));
    out.push(c(
        "seal-short-payload",
        "segment 0's seal payload cut to 4 bytes",
        edit(&|s| {
            s[0].last_mut().unwrap().payload.truncate(4);
        }),
        "BadSeal",
    ));

    // Entry members and encoding (V6, V7).
    out.push(c(
        "entry-bad-version",
        "entry 4's `v` set to 2; frame re-checksummed",
        edit(&|s| {
            let (g, i) = entry_at(s, 4);
            splice(&mut s[g][i], "\"v\":1", "\"v\":2");
        }),
        "BadEntryField",
    ));
    out.push(c(
        "entry-leap-second",
        "entry 5's `ts` seconds set to 60 (a leap second); frame re-checksummed",
        edit(&|s| {
            let (g, i) = entry_at(s, 5);
            let ts = s[g][i].json()["ts"].as_str().unwrap().to_owned();
            let leap = format!("{}60{}", &ts[..17], &ts[19..]);
            splice(&mut s[g][i], &ts, &leap);
        }),
        "BadEntryField",
    ));
    out.push(c(
        "number-trailing-zero",
        "a call's `amount` 12.5 written as 12.50; frame re-checksummed",
        edit(&|s| splice_first(s, "\"amount\":12.5,", "\"amount\":12.50,")),
        "NonCanonicalEntry",
    ));
    out.push(c(
        "number-beyond-2-53",
        "a result's `id` 1 written as 9007199254740993 (no IEEE-754 double has that value); frame re-checksummed",
        edit(&|s| splice_first(s, "\"id\":1,", "\"id\":9007199254740993,")),
        "NonCanonicalEntry",
    ));

    // Checkpoints (V11): parse, origin, chaining.
    out.push(c(
        "checkpoint-unparseable",
        "the second checkpoint's payload replaced by text that is not a signed note",
        edit(&|s| {
            let (g, i) = checkpoint_at(s, sizes[1]);
            s[g][i].payload = b"not a signed note\n".to_vec();
        }),
        "BadCheckpoint",
    ));
    out.push(c(
        "checkpoint-other-origin",
        "the second checkpoint's origin changed, re-signed with the real key",
        second_checkpoint_resigned(&|cp| cp.origin = "auditgate.example/ledger/other".into()),
        "BadCheckpoint",
    ));
    out.push(c(
        "checkpoint-without-prev-size",
        "the second checkpoint re-signed with the real key without its `prev-size` line",
        second_checkpoint_resigned(&|cp| cp.extensions.clear()),
        "BadCheckpoint",
    ));
    out.push(c(
        "checkpoint-removed-between-batches",
        "a checkpoint followed by the next batch in its segment removed (a 1.0 verifier accepts this as one merged batch)",
        edit(&|s| {
            let (g, i) = inner_checkpoint(s, 2);
            s[g].remove(i);
        }),
        "MissingCheckpoint",
    ));

    // Signatures (V12, Appendix A.4): the strict rule.
    let k1_seed = [0x11; 32];
    out.push(c(
        "signature-non-canonical-s",
        "the second checkpoint's signature `S` replaced by `S + L` (lax verifiers reduce it and accept)",
        edit(&|s| {
            let (g, i) = checkpoint_at(s, sizes[1]);
            s[g][i].payload = crafted::non_canonical_s(&s[g][i].payload, &k1);
        }),
        "BadSignature",
    ));
    out.push(c(
        "signature-small-order-r",
        "the second checkpoint re-signed by the real key with `R` the neutral element and `S = k·a` (the equation holds; OpenSSL accepts it)",
        edit(&|s| {
            let (g, i) = checkpoint_at(s, sizes[1]);
            s[g][i].payload = crafted::small_order_r(&s[g][i].payload, &k1, &k1_seed);
        }),
        "BadSignature",
    ));
    out.push(c(
        "genesis-weak-key",
        "the genesis `key` replaced by a well-formed verifier key for a small-order point; frame re-checksummed",
        edit(&|s| {
            let mut v = s[0][0].json();
            v["key"] = json!(crafted::weak_verifier_key(KEY_NAME));
            s[0][0].set_json(&v);
        }),
        "BadGenesis",
    ));

    // Rotations (V13).
    out.push(c(
        "rotation-to-weak-key",
        "the rotation's `new_key` replaced by a verifier key for a small-order point; frame re-checksummed",
        edit(&|s| {
            let (g, i) = rotation_at(s);
            let mut v = s[g][i].json();
            v["new_key"] = json!(crafted::weak_verifier_key(KEY_NAME));
            s[g][i].set_json(&v);
        }),
        "BadRotation",
    ));
    out.push(c(
        "rotation-key-not-canonical",
        "the rotation's `new_key` written with an uppercase key id (the same key; 1.0 accepts it); re-chained and re-signed",
        resigned(&|s| {
            let (g, i) = rotation_at(s);
            let mut v = s[g][i].json();
            let key = k2.verifier_key().to_string();
            let (name, rest) = key.split_once('+').unwrap();
            let (id, b64) = rest.split_once('+').unwrap();
            v["new_key"] = json!(format!("{name}+{}+{b64}", id.to_uppercase()));
            s[g][i].set_json(&v);
        }),
        "BadRotation",
    ));
    out.push(c(
        "rotation-twice-in-one-batch",
        "a second rotation (to a third key) inserted right after the rotation, in its batch; re-chained and re-signed",
        resigned(&|s| {
            let (g, i) = rotation_at(s);
            let mut v = s[g][i].json();
            v["old_key"] = json!(k2.verifier_key().to_string());
            v["new_key"] = json!(k3.verifier_key().to_string());
            let mut second = s[g][i].clone();
            second.set_json(&v);
            s[g].insert(i + 1, second);
        }),
        "BadRotation",
    ));

    // Recoveries (V15).
    let recovery = |right_place: bool| {
        resigned(&|s| {
            let (g, i) = inner_checkpoint(s, 4);
            let (g, i) = (g, i + 1);
            let at = offset_of(&s[g], i) as u64;
            let mut v = s[g][i].json();
            let ts = v["ts"].clone();
            v = json!({
                "v": 1, "seq": 0, "ts": ts, "prev": "0".repeat(64), "kind": "ledger.recovered",
                "segment": g, "offset": if right_place { at } else { at + 1 },
                "discarded_bytes": 611, "discarded_records": 1,
                "reason": "batch without its checkpoint",
            });
            s[g][i].set_json(&v);
        })
    };
    out.push(c(
        "recovery-well-formed",
        "an entry after a checkpoint replaced by a `ledger.recovered` entry naming its own segment and offset; re-chained and re-signed (verifies)",
        recovery(true),
        "OK",
    ));
    out.push(c(
        "recovery-wrong-offset",
        "as `recovery-well-formed`, but the entry names an offset one byte after its own",
        recovery(false),
        "BadRecovery",
    ));
    out.push(c(
        "genesis-extra-member",
        "a `comment` member added to the genesis entry; re-chained and re-signed (verifies: extra members carry no meaning)",
        resigned(&|s| {
            let mut v = s[0][0].json();
            v["comment"] = json!("members beyond the four are allowed");
            s[0][0].set_json(&v);
        }),
        "OK",
    ));

    // Pins (V14).
    let other_origin = {
        let mut cp = signed_checkpoint(segs, sizes[2]).checkpoint().clone();
        cp.origin = "auditgate.example/ledger/other".into();
        SignedCheckpoint::sign(cp, &[&k1]).unwrap()
    };
    out.push(Case {
        pin: Some(other_origin),
        ..c(
            "pin-other-origin",
            "the vector unchanged; the pin is a checkpoint of another origin signed by the genesis key",
            numbered(files.to_vec()),
            "PinnedCheckpointInvalid",
        )
    });
    let after_rotation = *sizes.iter().find(|&&z| z > rotation_size).unwrap();
    let by_retired = {
        let cp = signed_checkpoint(segs, after_rotation).checkpoint().clone();
        SignedCheckpoint::sign(cp, &[&k1]).unwrap()
    };
    out.push(Case {
        pin: Some(by_retired),
        ..c(
            "pin-signed-by-retired-key",
            "the vector unchanged; the pin is the genuine body of a checkpoint after the rotation, signed by the retired genesis key only",
            numbered(files.to_vec()),
            "PinnedCheckpointInvalid",
        )
    });
    let by_stranger = {
        let cp = signed_checkpoint(segs, sizes[3]).checkpoint().clone();
        SignedCheckpoint::sign(cp, &[&stranger]).unwrap()
    };
    out.push(Case {
        pin: Some(by_stranger),
        ..c(
            "pin-unknown-signer",
            "the vector unchanged; the pin is the genuine body of a checkpoint signed by an unknown key",
            numbered(files.to_vec()),
            "PinnedCheckpointInvalid",
        )
    });
    out.push(Case {
        pin: Some(signed_checkpoint(segs, n)),
        ..c(
            "rolled-back-before-rotation-pinned",
            "every batch from the rotation on cut cleanly; the last checkpoint (signed by the new key only) pinned",
            edit(&|s| {
                let (g, i) = rotation_at(s);
                s[g].truncate(i);
                s.truncate(g + 1);
            }),
            "Truncated",
        )
    });

    // Stray files (§2.1): warnings, not errors — a directory too, even one holding segments.
    out.push(Case {
        extra: vec![("segments/0000000000000000.seg", files[0].clone())],
        ..c(
            "stray-directory",
            "the vector unchanged plus `segments/segments/` holding a copy of segment 0 (verifies, with one warning: the files beside it are the ledger)",
            numbered(files.to_vec()),
            "OK",
        )
    });
    out.push(Case {
        extra: vec![
            ("notes.txt", b"an operator's note\n".to_vec()),
            ("000000000000000A.seg", b"uppercase hex: not a segment name".to_vec()),
        ],
        ..c(
            "stray-files",
            "the vector unchanged plus `segments/notes.txt` and `segments/000000000000000A.seg` (verifies, with two warnings)",
            numbered(files.to_vec()),
            "OK",
        )
    });
    out
}

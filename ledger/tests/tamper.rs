//! Tampering, class by class: every way of altering a ledger's files must fail verification with
//! the error that names what was altered (`docs/ledger-format.md` §8), and where it was.
//!
//! Attacks that an attacker without the key could mount re-frame records with valid CRCs; attacks
//! that assume a stolen signing key re-chain entries and re-sign checkpoints with the real key
//! (`common/forge.rs`). What the files alone cannot show (a rewrite or truncation by a key holder)
//! is shown to pass without a pinned checkpoint and to fail with one.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::collections::BTreeMap;

use auditgate_ledger::checkpoint::{Checkpoint, SignedCheckpoint};
use auditgate_ledger::format::Format;
use auditgate_ledger::segment::{self, RecordType};
use auditgate_ledger::verify::{self, Location, VerifyErrorKind as K};
use auditgate_ledger::{SigningKey, VerifierKey, VerifyError};
use common::forge::*;
use common::*;
use serde_json::json;

/// The fixture: genesis, 6 entries, a rotation key(1) → key(2) (seq 7, checkpoint 8), 7 more
/// entries; 15 entries, 15 one-entry batches, 1 KiB segments. Its layout (checked below):
///
/// ```text
/// seg 0: e0 c1 e1 c2 seal
/// seg 1: e2 c3 e3 c4 e4 c5 seal
/// seg 2: e5 c6 e6 c7 e7(rotation) c8(two signatures) seal
/// seg 3: e8 c9 e9 c10 e10 c11 seal
/// seg 4: e11 c12 e12 c13 e13 c14 seal
/// seg 5: e14 c15                       (last segment, not sealed)
/// ```
struct Fixture {
    _dir: tempfile::TempDir,
    files: Vec<Vec<u8>>,
    segs: Segs,
    trusted: Vec<VerifierKey>,
}

const ENTRIES: u64 = 15;
const ROTATION_SEQ: u64 = 7;

fn fixture() -> Fixture {
    fixture_as(Format::default())
}

/// The fixture as a ledger of format `format` wrote it (1.0: checkpoints not chained).
fn fixture_as(format: Format) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    make_rotated_ledger_as(dir.path(), 6, 7, 1024, format);
    let files = read_contiguous(dir.path());
    let segs = records(&files);
    let layout: Vec<Vec<String>> = segs
        .iter()
        .map(|s| {
            s.iter()
                .map(|r| match r.ty {
                    RecordType::Entry => format!("e{}", r.seq()),
                    RecordType::Checkpoint => format!("c{}", r.size()),
                    RecordType::Seal => "seal".into(),
                })
                .collect()
        })
        .collect();
    let expected = [
        "e0 c1 e1 c2 seal",
        "e2 c3 e3 c4 e4 c5 seal",
        "e5 c6 e6 c7 e7 c8 seal",
        "e8 c9 e9 c10 e10 c11 seal",
        "e11 c12 e12 c13 e13 c14 seal",
        "e14 c15",
    ];
    assert_eq!(
        layout.iter().map(|s| s.join(" ")).collect::<Vec<_>>(),
        expected
    );
    Fixture {
        _dir: dir,
        files,
        segs,
        trusted: vec![key(1).verifier_key()],
    }
}

impl Fixture {
    fn verify(&self, segs: &Segs) -> Result<auditgate_ledger::Report, VerifyError> {
        verify_segs(segs, &self.trusted, None)
    }

    fn fail(&self, segs: &Segs) -> VerifyError {
        self.fail_pinned(segs, None)
    }

    fn fail_pinned(&self, segs: &Segs, pin: Option<&SignedCheckpoint>) -> VerifyError {
        let e = verify_segs(segs, &self.trusted, pin).unwrap_err();
        assert!(!matches!(e.kind, K::Io(_)), "{e}");
        e
    }

    fn pin(&self, size: u64) -> SignedCheckpoint {
        signed_checkpoint(&self.segs, size)
    }
}

fn at_segment(e: &VerifyError) -> u64 {
    e.location.segment.unwrap()
}

/// Byte offset of record `i` of a segment's records.
fn offset_of(recs: &[Rec], i: usize) -> u64 {
    let mut off = segment::HEADER_LEN;
    for r in &recs[..i] {
        off += segment::record_len(r.payload.len());
    }
    off as u64
}

fn loc(segment: usize, recs: &[Rec], i: usize) -> Location {
    Location {
        segment: Some(segment as u64),
        offset: Some(offset_of(recs, i)),
    }
}

#[test]
fn the_untampered_fixture_verifies() {
    let f = fixture();
    let r = verify_files(&f.files, &f.trusted, Some(&f.pin(ENTRIES))).unwrap();
    assert_eq!(
        (r.entries, r.checkpoints, r.segments),
        (ENTRIES, ENTRIES, 6)
    );
    assert_eq!(r.keys, vec![key(1).verifier_key(), key(2).verifier_key()]);
    assert_eq!(r.kinds.len(), 5, "{:?}", r.kinds);
    // Framing again what was read changes nothing.
    assert_eq!(frame_all(&f.segs), f.files);
}

// ---------------------------------------------------------------------------------------------
// A byte flipped anywhere.

#[test]
fn every_byte_flipped_anywhere_is_detected_in_its_segment_and_never_as_io() {
    let f = fixture();
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0;
    for (s, file) in f.files.iter().enumerate() {
        for offset in 0..file.len() {
            let bit = offset % 8;
            let mut files: Vec<&[u8]> = f.files.iter().map(Vec::as_slice).collect();
            let mut tampered = file.clone();
            tampered[offset] ^= 1 << bit;
            files[s] = &tampered;
            let e = verify_files(&files, &f.trusted, None)
                .err()
                .unwrap_or_else(|| {
                    panic!("flip of bit {bit} at segment {s} byte {offset} undetected")
                });
            assert!(
                matches!(
                    e.kind,
                    K::BadHeader(_)
                        | K::BadRecord(_)
                        | K::UnexpectedRecord { .. }
                        | K::BadSeal { .. }
                        | K::NonCanonicalEntry { .. }
                        | K::BadEntryField { .. }
                        | K::SeqGap { .. }
                        | K::ChainBroken { .. }
                        | K::BadCheckpoint { .. }
                        | K::CheckpointSizeMismatch { .. }
                        | K::CheckpointRootMismatch { .. }
                        | K::BadSignature { .. }
                        | K::MissingSignature { .. }
                ),
                "segment {s} byte {offset}: {e}"
            );
            assert_eq!(at_segment(&e), s as u64, "segment {s} byte {offset}: {e}");
            *codes
                .entry(verify::error_code(&e.kind).into_owned())
                .or_default() += 1;
            total += 1;
        }
    }
    println!("{total} single-bit flips, all detected: {codes:?}");
    assert_eq!(total, f.files.iter().map(Vec::len).sum::<usize>());
}

// ---------------------------------------------------------------------------------------------
// Records removed.

#[test]
fn entry_removed_leaves_a_checkpoint_without_a_batch() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, 3);
    segs[s].remove(i);
    let e = f.fail(&segs);
    assert!(
        matches!(
            e.kind,
            K::UnexpectedRecord {
                found: "checkpoint",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.location, loc(s, &segs[s], i));
}

#[test]
fn whole_batch_removed_is_a_seq_gap() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, 3);
    segs[s].drain(i..i + 2);
    let e = f.fail(&segs);
    assert_eq!(
        e.kind,
        K::SeqGap {
            expected: 3,
            found: 4
        }
    );
    assert_eq!(e.location, loc(s, &segs[s], i));
}

#[test]
fn seal_removed_leaves_an_unsealed_segment() {
    let f = fixture();
    let mut segs = f.segs.clone();
    segs[1].pop();
    assert_eq!(f.fail(&segs).kind, K::UnsealedSegment { segment: 1 });
}

#[test]
fn last_checkpoint_removed_leaves_an_unsigned_tail() {
    let f = fixture();
    let mut segs = f.segs.clone();
    segs[5].pop();
    assert_eq!(f.fail(&segs).kind, K::UnsignedTail { first_seq: 14 });
}

#[test]
fn checkpoint_removed_before_a_seal_leaves_a_seal_after_an_entry() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 5);
    segs[s].remove(i);
    let e = f.fail(&segs);
    assert!(
        matches!(e.kind, K::UnexpectedRecord { found: "seal", .. }),
        "{e}"
    );
}

/// Format 1.1 chains checkpoints (`prev-size`): dropping a checkpoint between two others is
/// caught at the next one, which names the dropped one's size.
#[test]
fn inner_checkpoint_removed_is_a_missing_checkpoint_in_1_1() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 1);
    segs[s].remove(i);
    let e = f.fail(&segs);
    assert_eq!(
        e.kind,
        K::MissingCheckpoint {
            size: 2,
            stated_prev: 1,
            actual_prev: 0
        }
    );
    let (s2, i2) = checkpoint_at(&segs, 2);
    assert_eq!(e.location, loc(s2, &segs[s2], i2));
}

/// The stated limit of format 1.0 (§5.3), not an undetected tampering: its checkpoints are not
/// chained, so dropping a checkpoint that is followed by the next batch in the same segment
/// turns two batches into one, which is a valid 1.0 ledger. No entry is lost: every entry is
/// still in place and covered by a signed checkpoint, the root and head are unchanged, and a pin
/// of the dropped checkpoint still verifies (pins are checked against the recomputed tree, V14).
#[test]
fn inner_checkpoint_removed_merges_two_batches_in_1_0() {
    let f = fixture_as(Format::V1_0);
    let good = f.verify(&f.segs).unwrap();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 1);
    assert_eq!(segs[s][i + 1].ty, RecordType::Entry);
    segs[s].remove(i);
    let merged = verify_segs(&segs, &f.trusted, Some(&f.pin(1))).unwrap();
    assert_eq!(
        (
            merged.entries,
            merged.root,
            merged.head_hash,
            merged.checkpoints
        ),
        (
            good.entries,
            good.root,
            good.head_hash,
            good.checkpoints - 1
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Records duplicated.

#[test]
fn entry_duplicated_is_a_seq_gap() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, 9);
    let dup = segs[s][i].clone();
    segs[s].insert(i + 1, dup);
    let e = f.fail(&segs);
    assert_eq!(
        e.kind,
        K::SeqGap {
            expected: 10,
            found: 9
        }
    );
    assert_eq!(e.location, loc(s, &segs[s], i + 1));
}

#[test]
fn batch_duplicated_is_a_seq_gap() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, 9);
    let batch = segs[s][i..i + 2].to_vec();
    segs[s].splice(i + 2..i + 2, batch);
    assert_eq!(
        f.fail(&segs).kind,
        K::SeqGap {
            expected: 10,
            found: 9
        }
    );
}

#[test]
fn checkpoint_duplicated_closes_no_batch() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 10);
    let dup = segs[s][i].clone();
    segs[s].insert(i + 1, dup);
    let e = f.fail(&segs);
    assert!(
        matches!(
            e.kind,
            K::UnexpectedRecord {
                found: "checkpoint",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.location, loc(s, &segs[s], i + 1));
}

#[test]
fn seal_duplicated_is_not_last() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let seal = segs[2].last().unwrap().clone();
    segs[2].push(seal);
    let e = f.fail(&segs);
    assert!(
        matches!(e.kind, K::UnexpectedRecord { found: "seal", .. }),
        "{e}"
    );
    assert_eq!(at_segment(&e), 2);
}

// ---------------------------------------------------------------------------------------------
// Records reordered.

#[test]
fn two_adjacent_entries_swapped_is_a_seq_gap() {
    // One-entry batches: make a two-entry batch first (a valid 1.0 ledger, see
    // `inner_checkpoint_removed_merges_two_batches_in_1_0`), then swap.
    let f = fixture_as(Format::V1_0);
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 10);
    segs[s].remove(i);
    f.verify(&segs).unwrap();
    segs[s].swap(i - 1, i);
    let e = f.fail(&segs);
    assert_eq!(
        e.kind,
        K::SeqGap {
            expected: 9,
            found: 10
        }
    );
    assert_eq!(e.location, loc(s, &segs[s], i - 1));
}

#[test]
fn checkpoint_moved_past_the_next_entry_states_the_wrong_size() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 12);
    segs[s].swap(i, i + 1);
    let e = f.fail(&segs);
    assert_eq!(
        e.kind,
        K::CheckpointSizeMismatch {
            stated: 12,
            actual: 13
        }
    );
    assert_eq!(e.location, loc(s, &segs[s], i + 1));
}

#[test]
fn checkpoint_moved_before_its_entry_closes_no_batch() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 13);
    segs[s].swap(i - 1, i);
    let e = f.fail(&segs);
    assert!(
        matches!(
            e.kind,
            K::UnexpectedRecord {
                found: "checkpoint",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn checkpoint_moved_to_another_segment_is_caught() {
    // Format 1.1: the checkpoint after the gap names the moved one's size.
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 4);
    let cp = segs[s].remove(i);
    segs[3].insert(2, cp);
    assert!(
        matches!(
            f.fail(&segs).kind,
            K::MissingCheckpoint {
                size: 5,
                stated_prev: 4,
                actual_prev: 3
            }
        ),
        "{}",
        f.fail(&segs)
    );
    // Format 1.0: the structure catches it where the checkpoint lands.
    let f = fixture_as(Format::V1_0);
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 4);
    let cp = segs[s].remove(i);
    segs[3].insert(2, cp);
    // Without c4, segment 1 holds a valid two-entry batch (e3 e4 c5); the stray c4 in
    // segment 3 is what fails.
    let e = f.fail(&segs);
    assert!(
        matches!(
            e.kind,
            K::UnexpectedRecord {
                found: "checkpoint",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(at_segment(&e), 3);
}

#[test]
fn two_batches_swapped_is_a_seq_gap() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, 3);
    let b3: Vec<Rec> = segs[s].drain(i..i + 2).collect();
    segs[s].splice(i + 2..i + 2, b3);
    assert_eq!(
        f.fail(&segs).kind,
        K::SeqGap {
            expected: 3,
            found: 4
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Records inserted or altered.

/// A second ledger with the same key and the same drafts: its entries differ only in ledger id,
/// origin and timestamps, the closest an attacker can get to a plausible splice.
fn other_ledger() -> Segs {
    let dir = tempfile::tempdir().unwrap();
    make_rotated_ledger(dir.path(), 6, 7, 1024);
    records(&read_contiguous(dir.path()))
}

#[test]
fn entry_from_another_ledger_inserted_breaks_the_chain() {
    let f = fixture();
    let other = other_ledger();
    let mut segs = f.segs.clone();
    let (os, oi) = entry_at(&other, 4);
    let (s, i) = entry_at(&segs, 4);
    segs[s].insert(i, other[os][oi].clone());
    let e = f.fail(&segs);
    assert_eq!(e.kind, K::ChainBroken { seq: 4 });
    assert_eq!(e.location, loc(s, &segs[s], i));
}

#[test]
fn entry_replaced_by_another_ledgers_breaks_the_chain() {
    let f = fixture();
    let other = other_ledger();
    let mut segs = f.segs.clone();
    let (os, oi) = entry_at(&other, 11);
    let (s, i) = entry_at(&segs, 11);
    segs[s][i] = other[os][oi].clone();
    assert_eq!(f.fail(&segs).kind, K::ChainBroken { seq: 11 });
}

#[test]
fn checkpoint_from_another_ledger_names_another_origin() {
    let f = fixture();
    let other = other_ledger();
    let mut segs = f.segs.clone();
    let (os, oi) = checkpoint_at(&other, 6);
    let (s, i) = checkpoint_at(&segs, 6);
    segs[s][i] = other[os][oi].clone();
    let e = f.fail(&segs);
    assert!(
        matches!(e.kind, K::BadCheckpoint { after_seq: 5, .. }),
        "{e}"
    );
}

fn modify(r: &mut Rec) {
    let mut v = r.json();
    v["tool"] = json!("delete_everything");
    r.set_json(&v);
}

#[test]
fn entry_modified_and_reframed_with_a_valid_crc_mismatches_the_root() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, 5);
    modify(&mut segs[s][i]);
    let e = f.fail(&segs);
    assert_eq!(e.kind, K::CheckpointRootMismatch { size: 6 });
    assert_eq!(e.location, loc(s, &segs[s], i + 1));
}

#[test]
fn entry_modified_and_its_checkpoint_dropped_breaks_the_chain() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, 3);
    modify(&mut segs[s][i]);
    segs[s].remove(i + 1);
    assert_eq!(f.fail(&segs).kind, K::ChainBroken { seq: 4 });
}

#[test]
fn entry_modified_and_rechained_without_the_key_mismatches_the_root() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, 9);
    modify(&mut segs[s][i]);
    rechain(&mut segs);
    assert_eq!(f.fail(&segs).kind, K::CheckpointRootMismatch { size: 10 });
}

#[test]
fn entry_modified_with_a_checkpoint_re_signed_by_an_unknown_key_is_unsigned() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, 14);
    modify(&mut segs[s][i]);
    // The attacker recomputes the root and signs with a key of the same name (not the same id).
    let mut shadow = segs.clone();
    resign(&mut shadow, &[key(1), key(2)]);
    let note = resign_note(&shadow[s][i + 1].payload, &[&key(9)]);
    segs[s][i + 1].payload = note;
    let e = f.fail(&segs);
    assert_eq!(
        e.kind,
        K::MissingSignature {
            size: 15,
            key: key(2).verifier_key().to_string()
        }
    );
}

#[test]
fn non_canonical_entry_with_a_valid_crc_is_caught() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, 6);
    segs[s][i].payload.insert(1, b' ');
    let e = f.fail(&segs);
    assert!(matches!(e.kind, K::NonCanonicalEntry { seq: 6, .. }), "{e}");
    assert_eq!(e.location, loc(s, &segs[s], i));
}

#[test]
fn non_canonical_member_order_is_caught_even_when_re_signed() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, 2);
    // Same members, `v` moved first: parses to the same object, different bytes.
    let text = String::from_utf8(segs[s][i].payload.clone()).unwrap();
    let reordered = format!("{{\"v\":1,{}", text[1..].replace(",\"v\":1}", "}"));
    assert_ne!(reordered, text);
    segs[s][i].payload = reordered.into_bytes();
    resign(&mut segs, &[key(1), key(2)]);
    assert!(matches!(
        f.fail(&segs).kind,
        K::NonCanonicalEntry { seq: 2, .. }
    ));
}

#[test]
fn extra_seal_inserted_mid_segment_is_caught() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 12);
    segs[s].insert(
        i + 1,
        Rec {
            ty: RecordType::Seal,
            payload: segment::encode_seal(12).to_vec(),
        },
    );
    let e = f.fail(&segs);
    assert!(
        matches!(e.kind, K::UnexpectedRecord { found: "seal", .. }),
        "{e}"
    );
}

#[test]
fn seal_with_a_wrong_count_is_caught() {
    let f = fixture();
    let mut segs = f.segs.clone();
    segs[3].last_mut().unwrap().payload = segment::encode_seal(10).to_vec();
    assert_eq!(
        f.fail(&segs).kind,
        K::BadSeal {
            stated: Some(10),
            actual: 11
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Segments removed or swapped.

#[test]
fn middle_segment_removed_is_a_missing_segment() {
    let f = fixture();
    let files: Vec<(u64, &[u8])> = f
        .files
        .iter()
        .enumerate()
        .filter(|(n, _)| *n != 2)
        .map(|(n, b)| (n as u64, b.as_slice()))
        .collect();
    let e = verify_numbered(&files, &f.trusted, None).unwrap_err();
    assert_eq!(
        e.kind,
        K::MissingSegment {
            expected: 2,
            found: 3
        }
    );
    assert_eq!(at_segment(&e), 3);
}

#[test]
fn first_segment_removed_is_a_missing_segment() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(u64, Vec<u8>)> = f
        .files
        .iter()
        .cloned()
        .enumerate()
        .skip(1)
        .map(|(n, b)| (n as u64, b))
        .collect();
    write_numbered(dir.path(), &files);
    let e = verify(dir.path(), &f.trusted).unwrap_err();
    assert_eq!(
        e.kind,
        K::MissingSegment {
            expected: 0,
            found: 1
        }
    );
}

/// The previous segment is sealed, and a ledger may end right after a seal; so dropping the last
/// segment is visible only against a pinned checkpoint (§8).
#[test]
fn last_segment_removed_is_detected_only_with_a_pin() {
    let f = fixture();
    let files = &f.files[..5];
    let r = verify_files(files, &f.trusted, None).unwrap();
    assert_eq!(r.entries, 14);
    let e = verify_files(files, &f.trusted, Some(&f.pin(ENTRIES))).unwrap_err();
    assert_eq!(
        e.kind,
        K::Truncated {
            pinned: 15,
            actual: 14
        }
    );
}

#[test]
fn two_segment_files_swapped_by_renaming_have_the_wrong_header() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<(u64, Vec<u8>)> = f
        .files
        .iter()
        .cloned()
        .enumerate()
        .map(|(n, b)| (n as u64, b))
        .collect();
    files[1].0 = 3;
    files[3].0 = 1;
    write_numbered(dir.path(), &files);
    let e = verify(dir.path(), &f.trusted).unwrap_err();
    assert!(matches!(e.kind, K::BadHeader(_)), "{e}");
    assert_eq!(
        e.location,
        Location {
            segment: Some(1),
            offset: Some(0)
        }
    );
}

#[test]
fn two_segments_swapped_with_headers_rewritten_is_a_seq_gap() {
    let f = fixture();
    let mut segs = f.segs.clone();
    segs.swap(1, 3);
    let e = f.fail(&segs);
    assert_eq!(
        e.kind,
        K::SeqGap {
            expected: 2,
            found: 8
        }
    );
    assert_eq!(e.location, loc(1, &segs[1], 0));
}

// ---------------------------------------------------------------------------------------------
// Checkpoints forged, replayed, badly signed.

/// The root is checked before the signatures (V11 before V12), so a forged root fails on the root
/// whoever signed it.
#[test]
fn checkpoint_with_a_forged_root_signed_by_an_unknown_key_mismatches_the_root() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 4);
    let mut cp = SignedCheckpoint::parse(&segs[s][i].payload)
        .unwrap()
        .checkpoint()
        .clone();
    cp.root[0] ^= 1;
    segs[s][i].payload = SignedCheckpoint::sign(cp, &[&key(9)]).unwrap().to_bytes();
    let e = f.fail(&segs);
    assert_eq!(e.kind, K::CheckpointRootMismatch { size: 4 });
    assert_eq!(e.location, loc(s, &segs[s], i));
}

/// Regression: a checkpoint carrying no signature by any known key was reported as
/// `BadSignature` ("note has no signature by a trusted key") instead of `MissingSignature`
/// naming the key that must have signed.
#[test]
fn checkpoint_signed_only_by_an_unknown_key_is_missing_the_signature() {
    let f = fixture();
    let other_name = SigningKey::from_seed("attacker.example", &[1; 32]).unwrap();
    for signer in [key(9), other_name] {
        let mut segs = f.segs.clone();
        let (s, i) = checkpoint_at(&segs, 4);
        segs[s][i].payload = resign_note(&segs[s][i].payload, &[&signer]);
        let e = f.fail(&segs);
        assert_eq!(
            e.kind,
            K::MissingSignature {
                size: 4,
                key: key(1).verifier_key().to_string()
            },
            "signer {signer:?}"
        );
        assert_eq!(e.location, loc(s, &segs[s], i));
    }
}

#[test]
fn extra_signature_line_by_an_unknown_key_is_ignored() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 4);
    segs[s][i].payload = resign_note(&segs[s][i].payload, &[&key(1), &key(9)]);
    f.verify(&segs).unwrap();
}

#[test]
fn signature_line_by_the_trusted_key_that_does_not_verify_is_a_bad_signature() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 3);
    segs[s][i].payload = corrupt_signature(&segs[s][i].payload, key(1).key_id());
    let e = f.fail(&segs);
    assert!(matches!(e.kind, K::BadSignature { size: 3, .. }), "{e}");
    assert_eq!(e.location, loc(s, &segs[s], i));
}

#[test]
fn bad_signature_line_by_the_new_key_in_the_rotation_batch_is_a_bad_signature() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 8);
    segs[s][i].payload = corrupt_signature(&segs[s][i].payload, key(2).key_id());
    assert!(matches!(
        f.fail(&segs).kind,
        K::BadSignature { size: 8, .. }
    ));
}

/// Regression: after a rotation, a signature line by the retired (still trusted) key that does
/// not verify was ignored, because only the active key was passed to the note check. §5.3 and
/// Appendix A.4: a line naming a known key must verify.
#[test]
fn bad_signature_line_by_a_retired_trusted_key_is_not_ignored() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 12);
    // A key(1) line copied from an older checkpoint: a real signature, over another body.
    let old = signed_checkpoint(&segs, 5);
    let line = String::from_utf8(old.to_bytes()).unwrap();
    let line = line.lines().last().unwrap().to_owned();
    let mut note = segs[s][i].payload.clone();
    note.extend_from_slice(line.as_bytes());
    note.push(b'\n');
    segs[s][i].payload = note;
    let e = f.fail(&segs);
    assert!(matches!(e.kind, K::BadSignature { size: 12, .. }), "{e}");
}

#[test]
fn earlier_checkpoint_replayed_after_a_later_batch_states_the_wrong_size() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let replay = segs[checkpoint_at(&segs, 5).0][checkpoint_at(&segs, 5).1].clone();
    let (s, i) = checkpoint_at(&segs, 11);
    segs[s][i] = replay;
    let e = f.fail(&segs);
    assert_eq!(
        e.kind,
        K::CheckpointSizeMismatch {
            stated: 5,
            actual: 11
        }
    );
    assert_eq!(e.location, loc(s, &segs[s], i));
}

#[test]
fn earlier_checkpoint_replayed_after_a_later_checkpoint_closes_no_batch() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s5, i5) = checkpoint_at(&segs, 5);
    let replay = segs[s5][i5].clone();
    let (s, i) = checkpoint_at(&segs, 14);
    segs[s].insert(i + 1, replay);
    assert!(matches!(
        f.fail(&segs).kind,
        K::UnexpectedRecord {
            found: "checkpoint",
            ..
        }
    ));
}

#[test]
fn rotation_checkpoint_without_the_new_keys_signature_is_missing_it() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 8);
    segs[s][i].payload = resign_note(&segs[s][i].payload, &[&key(1)]);
    let e = f.fail(&segs);
    assert_eq!(
        e.kind,
        K::MissingSignature {
            size: 8,
            key: key(2).verifier_key().to_string()
        }
    );
}

#[test]
fn checkpoint_after_the_rotation_signed_by_the_retired_key_is_missing_the_new_one() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 9);
    segs[s][i].payload = resign_note(&segs[s][i].payload, &[&key(1)]);
    let e = f.fail(&segs);
    assert_eq!(
        e.kind,
        K::MissingSignature {
            size: 9,
            key: key(2).verifier_key().to_string()
        }
    );
}

#[test]
fn rotation_checkpoint_removed_leaves_a_seal_after_an_entry() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = checkpoint_at(&segs, 8);
    segs[s].remove(i);
    assert!(matches!(
        f.fail(&segs).kind,
        K::UnexpectedRecord { found: "seal", .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// Truncation and rewrites: the pinned checkpoint.

/// Drops the last batch and frames what is left cleanly (the attacker also fixes nothing else:
/// nothing else needs fixing).
fn truncated(f: &Fixture) -> Segs {
    let mut segs = f.segs.clone();
    segs[5].truncate(0);
    segs
}

/// Known limit (§8): without a pinned checkpoint, a ledger cut after any checkpoint is a valid,
/// shorter ledger. The pin turns it into `Truncated`.
#[test]
fn tail_truncated_passes_without_a_pin_and_is_truncated_with_one() {
    let f = fixture();
    let segs = truncated(&f);
    assert_eq!(f.verify(&segs).unwrap().entries, 14);
    let e = f.fail_pinned(&segs, Some(&f.pin(15)));
    assert_eq!(
        e.kind,
        K::Truncated {
            pinned: 15,
            actual: 14
        }
    );
    // A pin at or before the cut is satisfied.
    verify_segs(&segs, &f.trusted, Some(&f.pin(14))).unwrap();
}

fn rewritten_from(f: &Fixture, seq: u64) -> Segs {
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, seq);
    modify(&mut segs[s][i]);
    rechain(&mut segs);
    resign(&mut segs, &[key(1), key(2)]);
    segs
}

/// Known limit (§8): an attacker holding the signing keys can rewrite history from any entry and
/// re-sign every later checkpoint; the files alone are then a valid ledger. A checkpoint pinned
/// before the rewrite turns it into `PinMismatch`, at the entry that completes the pinned tree.
#[test]
fn history_rewritten_with_the_key_passes_without_a_pin_and_mismatches_a_pin() {
    let f = fixture();
    let segs = rewritten_from(&f, 4);
    assert_eq!(f.verify(&segs).unwrap().entries, ENTRIES);
    let e = f.fail_pinned(&segs, Some(&f.pin(10)));
    assert_eq!(e.kind, K::PinMismatch { size: 10 });
    let (s, i) = entry_at(&segs, 9);
    assert_eq!(e.location, loc(s, &segs[s], i));
    // A pin before the rewritten entry still matches.
    verify_segs(&segs, &f.trusted, Some(&f.pin(4))).unwrap();
}

/// A rollback (rewrite from seq 4, then cut the last batch): a pin past the cut reports the
/// cut, since the pinned tree is never completed; a pin inside the rewritten range reports the
/// rewrite.
#[test]
fn rollback_rewritten_and_shortened_fails_against_the_pin() {
    let f = fixture();
    let mut segs = rewritten_from(&f, 4);
    segs[5].truncate(0);
    let e = f.fail_pinned(&segs, Some(&f.pin(15)));
    assert_eq!(
        e.kind,
        K::Truncated {
            pinned: 15,
            actual: 14
        }
    );
    let e = f.fail_pinned(&segs, Some(&f.pin(10)));
    assert_eq!(e.kind, K::PinMismatch { size: 10 });
}

/// Regression: a pin taken from another ledger (same key, another origin) was reported as
/// `PinMismatch` ("rewritten or rolled back") because the root comparison ran before the pin's
/// origin was checked; it is the pin that is wrong, not this ledger.
/// A ledger cut before the rotation, against a genuine later pin signed by the rotated-in key:
/// the ledger is shorter than the pin, and that is what is reported (§8.4, format point 8),
/// whether or not the verifier can still authenticate the pin's signer (the rotation that
/// vouched for key(2) was cut with the rest).
#[test]
fn truncated_before_the_rotation_against_a_pin_by_the_new_key() {
    let f = fixture();
    let segs: Segs = f.segs[..2].to_vec();
    let pin = f.pin(12);
    let e = f.fail_pinned(&segs, Some(&pin));
    assert_eq!(
        e.kind,
        K::Truncated {
            pinned: 12,
            actual: 5
        }
    );
    let both = [key(1).verifier_key(), key(2).verifier_key()];
    let e = verify_segs(&segs, &both, Some(&pin)).unwrap_err();
    assert_eq!(
        e.kind,
        K::Truncated {
            pinned: 12,
            actual: 5
        }
    );
}

#[test]
fn pin_from_another_ledger_is_invalid_not_a_mismatch() {
    let f = fixture();
    let other = other_ledger();
    let e = f.fail_pinned(&f.segs, Some(&signed_checkpoint(&other, 6)));
    assert!(matches!(e.kind, K::PinnedCheckpointInvalid(_)), "{e}");
}

#[test]
fn pin_signed_by_an_unknown_key_is_invalid() {
    let f = fixture();
    let cp: Checkpoint = f.pin(6).checkpoint().clone();
    let forged = SignedCheckpoint::sign(cp, &[&key(9)]).unwrap();
    let e = f.fail_pinned(&f.segs, Some(&forged));
    assert!(matches!(e.kind, K::PinnedCheckpointInvalid(_)), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Keys, tails, canonical form, time.

#[test]
fn genesis_key_not_trusted_is_untrusted() {
    let f = fixture();
    for trusted in [vec![key(3).verifier_key()], vec![key(2).verifier_key()]] {
        let e = verify_segs(&f.segs, &trusted, None).unwrap_err();
        assert_eq!(
            e.kind,
            K::UntrustedGenesisKey {
                key: key(1).verifier_key().to_string()
            }
        );
        assert_eq!(e.location, loc(0, &f.segs[0], 0));
    }
}

#[test]
fn entries_after_the_last_checkpoint_are_an_unsigned_tail() {
    let f = fixture();
    let mut segs = f.segs.clone();
    // A well-formed, chained entry appended without a checkpoint.
    let last = segs[5][0].json();
    let mut extra = last.clone();
    extra["seq"] = json!(ENTRIES);
    extra["prev"] = json!(hex::encode(auditgate_ledger::entry::entry_hash(
        &segs[5][0].payload
    )));
    segs[5].push(Rec::entry(auditgate_ledger::canonical::encode(&extra)));
    let e = f.fail(&segs);
    assert_eq!(e.kind, K::UnsignedTail { first_seq: ENTRIES });
}

#[test]
fn timestamps_going_backwards_are_caught_even_when_re_signed() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, 11);
    let mut v = segs[s][i].json();
    v["ts"] = json!("2001-01-01T00:00:00.000000000Z");
    segs[s][i].set_json(&v);
    rechain(&mut segs);
    resign(&mut segs, &[key(1), key(2)]);
    let e = f.fail(&segs);
    assert!(
        matches!(e.kind, K::TimeWentBackwards { seq: 11, .. }),
        "{e}"
    );
    assert_eq!(e.location, loc(s, &segs[s], i));
}

#[test]
fn second_genesis_entry_is_a_bad_genesis_even_when_re_signed() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let genesis = segs[0][0].json();
    let (s, i) = entry_at(&segs, 6);
    let mut v = genesis.clone();
    v["ts"] = segs[s][i].json()["ts"].clone();
    segs[s][i].set_json(&v);
    rechain(&mut segs);
    resign(&mut segs, &[key(1), key(2)]);
    assert!(matches!(f.fail(&segs).kind, K::BadGenesis { seq: 6, .. }));
}

#[test]
fn rotation_naming_the_wrong_old_key_is_a_bad_rotation_even_when_re_signed() {
    let f = fixture();
    let mut segs = f.segs.clone();
    let (s, i) = entry_at(&segs, ROTATION_SEQ);
    let mut v = segs[s][i].json();
    v["old_key"] = json!(key(3).verifier_key().to_string());
    segs[s][i].set_json(&v);
    rechain(&mut segs);
    resign(&mut segs, &[key(1), key(2)]);
    assert!(matches!(
        f.fail(&segs).kind,
        K::BadRotation {
            seq: ROTATION_SEQ,
            ..
        }
    ));
}

//! Opening a ledger from a saved head (`writer/resume.rs`, docs/ledger-format.md §7): the open
//! re-reads only what was written since the head (inside the active segment, or from the last
//! sealed segment's head), a saved head the segment's bytes do not confirm is never trusted (the
//! open falls back to a full scan, which decides), torn tails are still cut and recorded, and
//! the ledger stays verifiable either way.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};

use auditgate_ledger::{HeadRejected, Ledger, LedgerOptions, OpenError, OpenReport};
use common::*;
use serde_json::{Value, json};

fn heads(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("heads"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn head_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join("heads").join(format!("{segment:016x}.head"))
}

/// The head saved in `segment`, as JSON.
fn saved(dir: &Path, segment: u64) -> Value {
    serde_json::from_slice(&std::fs::read(head_path(dir, segment)).unwrap()).unwrap()
}

fn save(dir: &Path, segment: u64, head: &Value) {
    std::fs::write(head_path(dir, segment), head.to_string()).unwrap();
}

fn at(head: &Value, key: &str) -> u64 {
    head[key].as_u64().unwrap()
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// One large segment and a head saved after every batch (or every `every` bytes).
fn one_segment(every: u64) -> LedgerOptions {
    LedgerOptions {
        segment_size_limit: 1 << 30,
        save_head_every: every,
        index: false,
        ..LedgerOptions::default()
    }
}

/// Opens, appends `more`, closes; returns the open's report.
fn reopen_append(dir: &Path, opts: LedgerOptions, more: u64) -> OpenReport {
    let (l, report) = Ledger::open(dir, key(1), opts).unwrap();
    for i in 0..more {
        l.append(call(1000 + i)).unwrap();
    }
    l.close();
    report
}

/// The open resumed exactly at `head`'s position and read only from its last entry on.
fn assert_resumed_at(report: &OpenReport, head: &Value, segment_len: u64) {
    assert_eq!(report.head_rejected, None);
    assert_eq!(report.resumed_from, Some(at(head, "segment")));
    assert_eq!(report.resumed_offset, Some(at(head, "offset")));
    assert_eq!(report.scanned_bytes, segment_len - at(head, "entry_at"));
}

#[test]
fn the_open_resumes_from_the_last_sealed_segments_head_and_the_ledger_verifies() {
    let dir = tempfile::tempdir().unwrap();
    make_ledger(dir.path(), 200, small_segments());
    let segments = segment_paths(dir.path());
    let n = segments.len() as u64;
    assert!(n >= 8, "{n} segments");
    // One head per sealed segment (4096-byte segments never reach `save_head_every`).
    assert_eq!(heads(dir.path()).len() as u64, n - 1);

    // The scan starts in the last sealed segment, just before its seal: it reads that segment's
    // last entry, checkpoint and seal, and the active segment.
    let last_sealed = saved(dir.path(), n - 2);
    let (sealed_len, active_len) = (
        len(&segments[n as usize - 2]),
        len(&segments[n as usize - 1]),
    );
    assert_eq!(
        at(&last_sealed, "offset") + 17,
        sealed_len,
        "just before the seal"
    );
    let report = reopen_append(dir.path(), small_segments(), 30);
    assert_eq!(report.resumed_from, Some(n - 2));
    assert_eq!(report.resumed_offset, Some(at(&last_sealed, "offset")));
    assert_eq!(
        report.scanned_bytes,
        sealed_len - at(&last_sealed, "entry_at") + active_len
    );
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    assert_eq!(r.entries, 231);

    // With the index lost, the open reads everything to rebuild it.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let report = reopen_append(dir.path(), small_segments(), 1);
    assert_eq!((report.resumed_from, report.head_rejected), (None, None));
    // Asked to, it reads everything too.
    let full = LedgerOptions {
        full_scan_on_open: true,
        ..small_segments()
    };
    let report = reopen_append(dir.path(), full, 1);
    assert_eq!(report.resumed_from, None);
    let total: u64 = segment_paths(dir.path()).iter().map(|p| len(p)).sum();
    assert!(report.scanned_bytes + 1000 > total, "read everything");
    verify(dir.path(), &[key(1).verifier_key()]).unwrap();
}

#[test]
fn an_open_reads_only_what_was_written_since_the_last_head_in_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let opts = one_segment(16 * 1024);
    make_ledger(dir.path(), 1500, opts.clone());
    let segment = segment_paths(dir.path()).pop().unwrap();
    let size = len(&segment);
    assert!(size > 300 * 1024, "{size} bytes");

    let head = saved(dir.path(), 0);
    let report = reopen_append(dir.path(), opts.clone(), 1);
    assert_resumed_at(&report, &head, size);
    // About `save_head_every` at most, plus a batch: not the segment.
    assert!(report.scanned_bytes < 17 * 1024, "{}", report.scanned_bytes);
    assert_eq!(report.entries, 1501);

    // A full scan reads the whole segment and agrees.
    let full = LedgerOptions {
        full_scan_on_open: true,
        ..opts
    };
    let before = len(&segment);
    let report = reopen_append(dir.path(), full, 1);
    assert_eq!(report.resumed_from, None);
    assert_eq!(report.scanned_bytes, before);
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    assert_eq!(r.entries, 1503);
}

#[test]
fn an_older_head_that_is_still_true_is_used_and_reads_more() {
    let dir = tempfile::tempdir().unwrap();
    let opts = one_segment(0);
    make_ledger(dir.path(), 50, opts.clone());
    let older = saved(dir.path(), 0);
    reopen_append(dir.path(), opts.clone(), 50);
    // A crash before the newer save reached the disk leaves the older file: it still fits.
    save(dir.path(), 0, &older);
    let size = len(&segment_paths(dir.path())[0]);
    let report = reopen_append(dir.path(), opts, 1);
    assert_resumed_at(&report, &older, size);
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    assert_eq!(r.entries, 102);
}

/// A ledger in one segment with a head after every batch, and its newest head.
fn forge_setup() -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    make_ledger(dir.path(), 60, one_segment(0));
    let head = saved(dir.path(), 0);
    (dir, head)
}

/// Saves `forged` over the newest head, opens: the head is rejected for `why`, the full scan
/// opens the ledger, which then verifies.
fn assert_rejected(dir: &Path, forged: &Value, why: &dyn Fn(&HeadRejected) -> bool) {
    save(dir, 0, forged);
    let before = len(&segment_paths(dir)[0]);
    let report = reopen_append(dir, one_segment(0), 2);
    let rejected = report
        .head_rejected
        .as_ref()
        .expect("the head was rejected");
    assert!(why(rejected), "{rejected:?}");
    assert_eq!(report.resumed_from, None);
    assert_eq!(
        report.scanned_bytes, before,
        "the full scan read everything"
    );
    verify(dir, &[key(1).verifier_key()]).unwrap();
}

#[test]
fn a_head_whose_chain_state_is_not_the_segments_is_not_trusted() {
    let (dir, head) = forge_setup();
    let mut forged = head.clone();
    forged["prev"] = json!("ab".repeat(32));
    assert_rejected(dir.path(), &forged, &|r| {
        matches!(r, HeadRejected::NotLastEntry { .. })
    });

    let (dir, head) = forge_setup();
    let mut forged = head.clone();
    forged["last_ts"] = json!("2026-01-01T00:00:00.000000000Z");
    assert_rejected(dir.path(), &forged, &|r| {
        matches!(r, HeadRejected::NotLastEntry { .. })
    });
}

#[test]
fn a_head_that_points_elsewhere_in_the_segment_is_not_trusted() {
    // `entry_at` not at a record boundary.
    let (dir, head) = forge_setup();
    let mut forged = head.clone();
    forged["entry_at"] = json!(at(&head, "entry_at") + 3);
    assert_rejected(dir.path(), &forged, &|r| {
        matches!(r, HeadRejected::NoEntry { .. })
    });

    // The right records, but the head claims the scan resumes a byte later.
    let (dir, head) = forge_setup();
    let mut forged = head.clone();
    forged["offset"] = json!(at(&head, "offset") + 1);
    assert_rejected(dir.path(), &forged, &|r| {
        matches!(r, HeadRejected::CheckpointDiffers { .. })
    });

    // A true older state placed at the newest batch's records.
    let dir = tempfile::tempdir().unwrap();
    make_ledger(dir.path(), 30, one_segment(0));
    let older = saved(dir.path(), 0);
    reopen_append(dir.path(), one_segment(0), 30);
    let newest = saved(dir.path(), 0);
    let mut forged = older.clone();
    forged["offset"] = newest["offset"].clone();
    forged["entry_at"] = newest["entry_at"].clone();
    assert_rejected(dir.path(), &forged, &|r| {
        matches!(r, HeadRejected::NotLastEntry { .. })
    });
}

#[test]
fn a_head_past_the_end_of_a_restored_segment_is_not_trusted() {
    let (dir, _) = forge_setup();
    let segment = segment_paths(dir.path()).pop().unwrap();
    let backup = std::fs::read(&segment).unwrap();
    reopen_append(dir.path(), one_segment(0), 20);
    // The segment is restored from the backup; the newer head stays behind.
    std::fs::write(&segment, &backup).unwrap();
    let report = reopen_append(dir.path(), one_segment(0), 0);
    assert!(
        matches!(report.head_rejected, Some(HeadRejected::Unreadable { .. })),
        "{:?}",
        report.head_rejected
    );
    assert_eq!(report.entries, 61);
    verify(dir.path(), &[key(1).verifier_key()]).unwrap();
}

#[test]
fn malformed_misnamed_and_older_format_heads_are_skipped() {
    let (dir, head) = forge_setup();
    // A head naming another segment than its file's.
    let mut other = head.clone();
    other["segment"] = json!(1);
    save(dir.path(), 0, &other);
    let report = reopen_append(dir.path(), one_segment(0), 1);
    assert_eq!((report.resumed_from, report.head_rejected), (None, None));

    // A head without a position (as written before heads had one) is skipped.
    let mut old_format = saved(dir.path(), 0);
    old_format.as_object_mut().unwrap().remove("entry_at");
    save(dir.path(), 0, &old_format);
    let report = reopen_append(dir.path(), one_segment(0), 1);
    assert_eq!((report.resumed_from, report.head_rejected), (None, None));

    // Torn and garbage heads are skipped.
    std::fs::write(head_path(dir.path(), 0), b"{\"v\":1,\"segm").unwrap();
    let report = reopen_append(dir.path(), one_segment(0), 1);
    assert_eq!((report.resumed_from, report.head_rejected), (None, None));
    // Unknown keys are not a reason to skip one.
    let mut later = saved(dir.path(), 0);
    later["format"] = json!("auditgate-ledger/1");
    later["something_new"] = json!({"x": 1});
    save(dir.path(), 0, &later);
    let size = len(&segment_paths(dir.path())[0]);
    assert_resumed_at(&reopen_append(dir.path(), one_segment(0), 1), &later, size);
    verify(dir.path(), &[key(1).verifier_key()]).unwrap();
}

#[test]
fn damage_in_an_old_segment_is_left_to_the_verifier_unless_a_full_scan_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    make_ledger(dir.path(), 200, small_segments());
    // Segment 1's first entry (damage to the genesis in segment 0 hides the ledger id, and an
    // open without it reads everything).
    let old = segment_paths(dir.path())[1].clone();
    make_writable(&old);
    let mut b = std::fs::read(&old).unwrap();
    b[40] ^= 1;
    std::fs::write(&old, &b).unwrap();

    let full = LedgerOptions {
        full_scan_on_open: true,
        ..small_segments()
    };
    let err = Ledger::open(dir.path(), key(1), full).unwrap_err();
    assert!(matches!(err, OpenError::Damaged(_)), "{err}");
    // The default open does not re-read segment 1; the damage is still the verifier's to find.
    assert!(
        reopen_append(dir.path(), small_segments(), 1)
            .resumed_from
            .is_some()
    );
    assert!(verify(dir.path(), &[key(1).verifier_key()]).is_err());
}

#[test]
fn a_torn_tail_after_many_segments_is_cut_on_a_resumed_open() {
    let dir = tempfile::tempdir().unwrap();
    make_ledger(dir.path(), 200, small_segments());
    let last = segment_paths(dir.path()).pop().unwrap();
    let good = std::fs::read(&last).unwrap();
    let mut torn = good.clone();
    torn.extend_from_slice(&[0x01, 0x00, 0x00, 0x10]);
    std::fs::write(&last, &torn).unwrap();
    let (l, report) = Ledger::open(dir.path(), key(1), small_segments()).unwrap();
    assert!(report.resumed_from.is_some());
    assert!(report.recovered.is_some());
    l.append(call(5000)).unwrap();
    l.close();
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    assert_eq!(r.kinds["ledger.recovered"], 1);
}

/// Crash while writing the batch after a mid-segment head: cut that batch at every byte, and
/// check each open resumes from the head, cuts the torn batch, records it, and verifies.
#[test]
fn a_torn_batch_after_a_mid_segment_head_is_cut_and_recorded_at_every_byte() {
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    make_ledger(&src, 20, one_segment(0));
    let head = saved(&src, 0);
    let segment = segment_paths(&src).pop().unwrap();
    let durable = std::fs::read(&segment).unwrap();
    assert_eq!(at(&head, "offset"), durable.len() as u64);
    // The next batch, written in full, then the head from before it put back: what a crash
    // anywhere in that batch's write leaves, once cut.
    let l = Ledger::open(&src, key(1), one_segment(u64::MAX)).unwrap().0;
    l.append(call(20)).unwrap();
    l.close();
    let grown = std::fs::read(&segment).unwrap();
    assert_eq!(saved(&src, 0), head, "no head saved after the extra batch");
    for cut in durable.len() + 1..grown.len() {
        let dir = base.path().join(format!("cut{cut}"));
        std::fs::create_dir_all(dir.join("segments")).unwrap();
        std::fs::create_dir_all(dir.join("heads")).unwrap();
        std::fs::write(
            dir.join("segments").join(segment.file_name().unwrap()),
            &grown[..cut],
        )
        .unwrap();
        save(&dir, 0, &head);
        let (l, report) = Ledger::open(&dir, key(1), one_segment(0)).unwrap();
        assert_resumed_at(&report, &head, cut as u64);
        let torn = report.recovered.as_ref().expect("the torn batch is cut");
        assert_eq!(torn.durable_len, durable.len() as u64, "cut at {cut}");
        assert_eq!(torn.discarded_bytes, (cut - durable.len()) as u64);
        assert_eq!(report.entries, 21);
        l.append(call(99)).unwrap();
        l.close();
        let r = verify(&dir, &[key(1).verifier_key()]).unwrap();
        assert_eq!(r.entries, 23, "cut at {cut}");
        assert_eq!(r.kinds["ledger.recovered"], 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

const CRASH_CHILD: &str = "AUDITGATE_TEST_RESUME_CRASH_CHILD";

fn with_index(index: bool) -> LedgerOptions {
    LedgerOptions {
        index,
        ..one_segment(0)
    }
}

/// The child's part, a head saved after every batch, ending in a crash (an exit without
/// closing anything): in `dir/no-index`, 40 appends; in `dir/index`, 40 appends, a pause in
/// which the indexer makes them durable (and then saves the head it was handed), 10 more.
fn append_and_crash(dir: &Path) -> ! {
    let plain = Ledger::create(&dir.join("no-index"), key(1), with_index(false)).unwrap();
    for i in 0..40 {
        plain.append(call(i)).unwrap();
    }
    let indexed = Ledger::create(&dir.join("index"), key(1), with_index(true)).unwrap();
    for i in 0..40 {
        indexed.append(call(i)).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    for i in 40..50 {
        indexed.append(call(i)).unwrap();
    }
    std::process::exit(0)
}

/// A crash (the process exits without closing the ledger) after a mid-segment head was saved:
/// the open resumes from that head. Without an index, the head is the last batch's; with one,
/// it is the newest the index had made durable, so the crash leaves no head past the index.
#[test]
fn a_crash_after_a_mid_segment_head_resumes_from_it() {
    if let Some(dir) = std::env::var_os(CRASH_CHILD) {
        append_and_crash(Path::new(&dir));
    }
    let tmp = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_crash_after_a_mid_segment_head_resumes_from_it",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, tmp.path())
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "the crashing child failed: {}{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );

    let dir = tmp.path().join("no-index");
    let head = saved(&dir, 0);
    let size = len(&segment_paths(&dir)[0]);
    assert_eq!(at(&head, "entries"), 41);
    assert_eq!(at(&head, "offset"), size, "the head is the last batch's");
    let (l, report) = Ledger::open(&dir, key(1), with_index(false)).unwrap();
    assert_resumed_at(&report, &head, size);
    assert_eq!(report.entries, 41);
    assert!(report.recovered.is_none());
    l.append(call(41)).unwrap();
    l.close();
    assert_eq!(verify(&dir, &[key(1).verifier_key()]).unwrap().entries, 42);

    let dir = tmp.path().join("index");
    let head = saved(&dir, 0);
    let size = len(&segment_paths(&dir)[0]);
    assert_eq!(
        at(&head, "entries"),
        41,
        "saved after the index flush, not since"
    );
    let (l, report) = Ledger::open(&dir, key(1), with_index(true)).unwrap();
    assert_resumed_at(&report, &head, size);
    assert_eq!(report.entries, 51);
    assert!(report.reindexed <= 10, "{}", report.reindexed);
    l.append(call(51)).unwrap();
    l.sync_index();
    let index = l.index().unwrap();
    // Entry 0 is not indexed by a ledger's creation (as before saved heads).
    let missing: Vec<u64> = (1..52)
        .filter(|&seq| index.location(seq).unwrap().is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "{missing:?} reindexed {}",
        report.reindexed
    );
    l.close();
    assert_eq!(verify(&dir, &[key(1).verifier_key()]).unwrap().entries, 52);
}

/// Opens a ledger made by `make_rotated_ledger` (key 1, then key 2) after checking that the
/// retired key 1 is refused, with key 2.
fn open_rotated(dir: &Path) -> (Ledger, OpenReport) {
    let opts = LedgerOptions {
        segment_size_limit: 4096,
        index: false,
        ..LedgerOptions::default()
    };
    assert!(matches!(
        Ledger::open(dir, key(1), opts.clone()),
        Err(OpenError::WrongKey { .. })
    ));
    Ledger::open(dir, key(2), opts).unwrap()
}

#[test]
fn key_rotations_across_saved_heads_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    make_rotated_ledger(dir.path(), 120, 120, 4096);
    assert!(heads(dir.path()).len() > 6);
    // The saved heads after the rotation name key 2 as active; key 1 is refused.
    let (l, report) = open_rotated(dir.path());
    assert!(report.resumed_from.is_some());
    l.append(call(1)).unwrap();
    l.close();
    verify(dir.path(), &[key(1).verifier_key()]).unwrap();
}

/// The writer's scan checks no signatures, so a saved head naming a retired key as active must
/// not make the writer sign with it: the head's checkpoint must carry the active key's
/// signature, and the full scan then refuses the retired key.
#[test]
fn a_saved_head_naming_a_retired_key_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    make_rotated_ledger(dir.path(), 40, 160, 4096);
    let (old, new) = (
        key(1).verifier_key().to_string(),
        key(2).verifier_key().to_string(),
    );
    for h in heads(dir.path()) {
        let text = std::fs::read_to_string(&h).unwrap();
        std::fs::write(&h, text.replace(&new, &old)).unwrap();
    }
    let (l, report) = open_rotated(dir.path());
    assert_eq!(report.resumed_from, None, "the edited heads were not used");
    assert!(
        matches!(
            report.head_rejected,
            Some(HeadRejected::NotSigned | HeadRejected::KeysInconsistent)
        ),
        "{:?}",
        report.head_rejected
    );
    l.close();
}

/// A head saved right after a rotation batch could name either key as active (both signed its
/// checkpoint), so none is saved there, and one made up is refused; the head before the
/// rotation is followed through it.
#[test]
fn no_head_is_trusted_right_after_a_key_rotation() {
    use auditgate_ledger::entry;
    use auditgate_ledger::merkle::{Frontier, leaf_hash};
    use auditgate_ledger::segment::decode_record;

    let dir = tempfile::tempdir().unwrap();
    make_ledger(dir.path(), 10, one_segment(0));
    let before = saved(dir.path(), 0);
    let (l, _) = Ledger::open(dir.path(), key(1), one_segment(0)).unwrap();
    l.rotate_key(key(2), "scheduled rotation").unwrap();
    l.close();
    assert_eq!(
        saved(dir.path(), 0),
        before,
        "no head saved after the rotation"
    );

    // The true state after the rotation batch, made up from the segment.
    let bytes = std::fs::read(&segment_paths(dir.path())[0]).unwrap();
    let rotation = decode_record(&bytes, at(&before, "offset") as usize).unwrap();
    let note = decode_record(&bytes, rotation.end()).unwrap();
    let roots: Vec<[u8; 32]> = before["frontier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            hex::decode(h.as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    let mut frontier = Frontier::from_subtree_roots(at(&before, "entries"), roots).unwrap();
    frontier.push(leaf_hash(rotation.payload));
    let header = entry::parse_header(rotation.payload).unwrap();
    let mut after = before.clone();
    after["entries"] = json!(at(&before, "entries") + 1);
    after["entry_at"] = json!(rotation.offset);
    after["offset"] = json!(note.end());
    after["prev"] = json!(hex::encode(entry::entry_hash(rotation.payload)));
    after["last_ts"] = json!(header.ts.as_str());
    after["frontier"] = json!(
        frontier
            .subtree_roots()
            .iter()
            .map(hex::encode)
            .collect::<Vec<_>>()
    );
    after["checkpoint"] = json!(std::str::from_utf8(note.payload).unwrap());
    let k = |n: u8| json!(key(n).verifier_key().to_string());
    // Naming the retired key as active (it did sign), or the new one: refused either way.
    for (active, keys) in [(k(1), json!([k(1)])), (k(2), json!([k(1), k(2)]))] {
        after["active_key"] = active;
        after["keys"] = keys;
        save(dir.path(), 0, &after);
        let opened = Ledger::open(dir.path(), key(2), one_segment(u64::MAX));
        let (l, report) = opened.unwrap();
        assert!(
            matches!(
                report.head_rejected,
                Some(HeadRejected::AfterRotation { .. })
            ),
            "{:?}",
            report.head_rejected
        );
        l.close();
    }

    // The head from before the rotation is followed through it, to key 2.
    save(dir.path(), 0, &before);
    let size = len(&segment_paths(dir.path())[0]);
    assert!(matches!(
        Ledger::open(dir.path(), key(1), one_segment(0)),
        Err(OpenError::WrongKey { .. })
    ));
    let report = reopen_append_with(dir.path(), 2, 1);
    assert_resumed_at(&report, &before, size);
    verify(dir.path(), &[key(1).verifier_key()]).unwrap();
}

/// [`reopen_append`] with key `n`, a head after every batch.
fn reopen_append_with(dir: &Path, n: u8, more: u64) -> OpenReport {
    let (l, report) = Ledger::open(dir, key(n), one_segment(0)).unwrap();
    for i in 0..more {
        l.append(call(2000 + i)).unwrap();
    }
    l.close();
    report
}

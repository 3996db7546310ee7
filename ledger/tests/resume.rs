//! Opening a ledger from the head saved after its last sealed segments (`writer/resume.rs`):
//! the open re-reads only the last segments, a saved head that does not fit is never trusted
//! (the open falls back to a full scan), and the ledger stays verifiable either way.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};

use auditgate_ledger::{Ledger, LedgerOptions, OpenError};
use common::*;

fn heads(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("heads"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Reopens, appends `more`, closes; returns where the open resumed.
fn reopen_append(dir: &Path, opts: LedgerOptions, more: u64) -> Option<u64> {
    let (l, report) = Ledger::open(dir, key(1), opts).unwrap();
    let resumed = report.resumed_from;
    for i in 0..more {
        l.append(call(1000 + i)).unwrap();
    }
    l.close();
    resumed
}

#[test]
fn the_open_resumes_after_the_last_saved_head_and_the_ledger_verifies() {
    let dir = tempfile::tempdir().unwrap();
    make_ledger(dir.path(), 200, small_segments());
    let segments = segment_paths(dir.path()).len() as u64;
    assert!(segments >= 8, "{segments} segments");
    // One head per sealed segment.
    assert_eq!(heads(dir.path()).len() as u64, segments - 1);

    // The scan starts at the last sealed segment: the one before the active segment.
    let resumed = reopen_append(dir.path(), small_segments(), 30);
    assert_eq!(resumed, Some(segments - 2));
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    assert_eq!(r.entries, 231);

    // With the index lost, the open reads everything to rebuild it.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    assert_eq!(reopen_append(dir.path(), small_segments(), 1), None);
    // Asked to, it reads everything too.
    let full = LedgerOptions {
        full_scan_on_open: true,
        ..small_segments()
    };
    assert_eq!(reopen_append(dir.path(), full, 1), None);
    verify(dir.path(), &[key(1).verifier_key()]).unwrap();
}

#[test]
fn a_saved_head_that_does_not_fit_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    make_ledger(dir.path(), 200, small_segments());
    // Heads after every sealed segment; the open uses the one before the last sealed segment.
    let all = heads(dir.path());
    let newest = all[all.len() - 2].clone();

    // An older head copied over it: it names another segment, so the open resumes from the
    // next newest head that fits (the real one for that segment).
    let older = &all[all.len() - 4];
    std::fs::copy(older, &newest).unwrap();
    let n = segment_paths(dir.path()).len() as u64;
    assert_eq!(reopen_append(dir.path(), small_segments(), 1), Some(n - 3));

    // A head whose chain state is wrong but well-formed (its segment number edited to the
    // newest): the next segment's entries do not follow it, so the open falls back to a full
    // scan, appends correctly and the ledger verifies.
    let text = std::fs::read_to_string(older).unwrap();
    let older_no = u64::from_str_radix(older.file_stem().unwrap().to_str().unwrap(), 16).unwrap();
    let newest_no = u64::from_str_radix(newest.file_stem().unwrap().to_str().unwrap(), 16).unwrap();
    let forged = text.replace(
        &format!("\"segment\":{older_no}"),
        &format!("\"segment\":{newest_no}"),
    );
    assert_ne!(forged, text);
    std::fs::write(&newest, forged).unwrap();
    assert_eq!(reopen_append(dir.path(), small_segments(), 5), None);
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    assert_eq!(r.entries, 207);

    // Torn and garbage heads are skipped.
    for h in heads(dir.path()) {
        std::fs::write(&h, b"{\"v\":1,\"segm").unwrap();
    }
    assert_eq!(reopen_append(dir.path(), small_segments(), 1), None);
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
    assert!(reopen_append(dir.path(), small_segments(), 1).is_some());
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

/// Opens a ledger made by `make_rotated_ledger` (key 1, then key 2) after checking that the
/// retired key 1 is refused, with key 2.
fn open_rotated(dir: &Path) -> (Ledger, auditgate_ledger::OpenReport) {
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
/// not make the writer sign with it: the last checkpoint is checked against the key the head
/// leads to, and the full scan then refuses the retired key.
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
    l.close();
}

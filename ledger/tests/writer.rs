//! The writer: round trips, group commit under concurrency, segment rolling, recovery of torn
//! tails at every byte offset, and injected store failures.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::sync::Arc;

use auditgate_ledger::store::{Fault, FaultPlan, FaultyStore, FsStore, Store};
use auditgate_ledger::verify::VerifyErrorKind;
use auditgate_ledger::{AppendError, Ledger, LedgerOptions, OpenError};
use common::*;

/// Opening sled per iteration is slow; the tail tests are about segments.
fn no_index() -> LedgerOptions {
    LedgerOptions {
        index: false,
        ..LedgerOptions::default()
    }
}

#[test]
fn round_trip_create_append_reopen_verify() {
    let dir = tempfile::tempdir().unwrap();
    make_ledger(dir.path(), 50, small_segments());
    let (l, report) = Ledger::open(dir.path(), key(1), small_segments()).unwrap();
    assert_eq!(report.entries, 51);
    assert!(report.recovered.is_none());
    let a = l.append(call(99)).unwrap();
    assert_eq!(a.seq, 51);
    assert_eq!(a.checkpoint_size, 52);
    l.sync_index();
    let bytes = l.read_entry(51).unwrap().unwrap();
    assert!(String::from_utf8(bytes).unwrap().contains("\"seq\":51"));
    assert_eq!(l.head().size, 52);
    l.close();
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    assert_eq!(r.entries, 52);
    assert!(
        r.segments >= 3,
        "4 KiB segments roll: {} segments",
        r.segments
    );
    assert_eq!(r.checkpoints, 52);
    assert_eq!(r.kinds["call.request"], 51);
}

#[test]
fn second_writer_is_refused_and_wrong_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::create(dir.path(), key(1), LedgerOptions::default()).unwrap();
    assert!(matches!(
        Ledger::open(dir.path(), key(1), LedgerOptions::default()),
        Err(OpenError::Locked(_))
    ));
    l.close();
    assert!(matches!(
        Ledger::open(dir.path(), key(2), LedgerOptions::default()),
        Err(OpenError::WrongKey { .. })
    ));
    assert!(matches!(
        Ledger::create(dir.path(), key(1), LedgerOptions::default()),
        Err(OpenError::AlreadyExists(_))
    ));
}

#[test]
fn concurrent_appenders_share_batches_with_no_gaps_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let l = Arc::new(Ledger::create(dir.path(), key(1), small_segments()).unwrap());
    let threads = 16;
    let per = 40;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let l = l.clone();
            std::thread::spawn(move || {
                (0..per)
                    .map(|i| (l.append(call(t * 1000 + i)).unwrap().seq, t * 1000 + i))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked: Vec<(u64, u64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    acked.sort_unstable();
    l.sync_index();
    let seqs: Vec<u64> = acked.iter().map(|a| a.0).collect();
    assert_eq!(
        seqs,
        (1..=threads * per).collect::<Vec<_>>(),
        "no gaps, no duplicates"
    );
    for (seq, i) in &acked {
        let e = l.read_entry(*seq).unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&e).unwrap();
        assert_eq!(
            v["args"]["amount"], *i,
            "entry {seq} holds what its appender wrote"
        );
    }
    drop(l);
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    assert_eq!(r.entries, threads * per + 1);
    assert!(
        r.checkpoints < r.entries,
        "group commit: {} checkpoints for {} entries",
        r.checkpoints,
        r.entries
    );
}

/// Crash in the middle of writing the last batch: cut the last record at every byte offset,
/// reopen, and check the torn batch is cut, recorded, and the ledger verifies.
#[test]
fn torn_tail_recovered_at_every_byte_offset_of_the_last_record() {
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    make_ledger(&src, 3, no_index());
    let seg = segment_paths(&src).pop().unwrap();
    let full = std::fs::read(&seg).unwrap();
    // Append a last batch by hand: a 4th entry and its checkpoint are what a crash tears.
    let l = Ledger::open(&src, key(1), no_index()).unwrap().0;
    l.append(call(3)).unwrap();
    l.close();
    let grown = std::fs::read(&seg).unwrap();
    assert!(grown.len() > full.len());
    // Cut anywhere inside the last batch: [full.len(), grown.len()).
    for cut in full.len()..grown.len() {
        let dir = base.path().join(format!("cut{cut}"));
        std::fs::create_dir_all(dir.join("segments")).unwrap();
        std::fs::write(
            dir.join("segments").join(seg.file_name().unwrap()),
            &grown[..cut],
        )
        .unwrap();
        let (l, report) = Ledger::open(&dir, key(1), no_index()).unwrap();
        let entries_before = 4; // genesis + 3 durable entries
        assert_eq!(report.entries, entries_before, "cut at {cut}");
        let t = report.recovered.clone();
        if cut == full.len() {
            assert!(t.is_none(), "nothing torn at the batch boundary");
        } else {
            let t = t.unwrap();
            assert_eq!(t.durable_len, full.len() as u64, "cut at {cut}");
            assert_eq!(t.discarded_bytes, (cut - full.len()) as u64);
        }
        l.append(call(7)).unwrap();
        l.close();
        let r = verify(&dir, &[key(1).verifier_key()]).unwrap();
        let expect_recovered = u64::from(cut != full.len());
        assert_eq!(
            r.kinds.get("ledger.recovered").copied().unwrap_or(0),
            expect_recovered
        );
        assert_eq!(r.entries, entries_before + expect_recovered + 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn damage_before_the_tail_is_an_error_not_a_repair() {
    let dir = tempfile::tempdir().unwrap();
    make_ledger(dir.path(), 5, LedgerOptions::default());
    let seg = segment_paths(dir.path()).pop().unwrap();
    let mut b = std::fs::read(&seg).unwrap();
    b[40] ^= 1; // inside the genesis entry
    std::fs::write(&seg, &b).unwrap();
    let err = Ledger::open(dir.path(), key(1), LedgerOptions::default()).unwrap_err();
    assert!(matches!(err, OpenError::Damaged(_)), "{err}");
    assert_eq!(std::fs::read(&seg).unwrap(), b, "nothing was repaired");
}

fn faulty(dir: &std::path::Path) -> (Arc<dyn Store>, FaultPlan) {
    let plan = FaultPlan::default();
    let store = FaultyStore::new(FsStore::open(&dir.join("segments")).unwrap(), plan.clone());
    (Arc::new(store), plan)
}

#[test]
fn injected_failures_refuse_the_append_and_leave_the_ledger_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let (store, plan) = faulty(dir.path());
    let l = Ledger::create_in(store, None, key(1), small_segments()).unwrap();
    l.append(call(0)).unwrap();
    for fault in [
        Fault::NoSpace,
        Fault::ShortWrite(7),
        Fault::Io,
        Fault::SyncFails,
    ] {
        plan.inject(fault);
        let err = l.append(call(1)).unwrap_err();
        assert!(matches!(err, AppendError::Io(_)), "{fault:?}: {err}");
        assert!(
            l.health().is_ok(),
            "an undone batch does not fail the ledger"
        );
        l.append(call(2)).unwrap();
    }
    plan.set_disk_full(true);
    for _ in 0..3 {
        assert!(matches!(l.append(call(3)), Err(AppendError::Io(_))));
    }
    plan.set_disk_full(false);
    let a = l.append(call(4)).unwrap();
    assert_eq!(a.seq, 6, "failed appends consumed no seq");
    l.close();
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    assert_eq!(r.entries, 7);
}

#[test]
fn failure_that_cannot_be_undone_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, plan) = faulty(dir.path());
    let l = Ledger::create_in(store.clone(), None, key(1), LedgerOptions::default()).unwrap();
    l.append(call(0)).unwrap();
    plan.inject(Fault::ShortWrite(10));
    plan.inject(Fault::TruncateFails);
    assert!(matches!(l.append(call(1)), Err(AppendError::Failed(_))));
    assert!(l.health().is_err());
    assert!(
        matches!(l.append(call(2)), Err(AppendError::Failed(_))),
        "stays closed"
    );
    drop(l);
    // Reopening recovers: the short write is a torn tail.
    let (l, report) = Ledger::open_in(store, None, key(1), LedgerOptions::default()).unwrap();
    assert_eq!(report.recovered.unwrap().discarded_bytes, 10);
    l.append(call(3)).unwrap();
    drop(l);
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    assert_eq!(r.entries, 4);
}

#[test]
fn key_rotation_is_verifiable_and_the_old_key_stops_counting() {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::create(dir.path(), key(1), small_segments()).unwrap();
    l.append(call(0)).unwrap();
    l.rotate_key(key(2), "scheduled").unwrap();
    l.append(call(1)).unwrap();
    l.close();
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    assert_eq!(r.keys, vec![key(1).verifier_key(), key(2).verifier_key()]);
    // The writer must now be opened with the new key.
    assert!(matches!(
        Ledger::open(dir.path(), key(1), small_segments()),
        Err(OpenError::WrongKey { .. })
    ));
    let (l, _) = Ledger::open(dir.path(), key(2), small_segments()).unwrap();
    l.append(call(2)).unwrap();
    l.close();
    let err = verify(dir.path(), &[key(2).verifier_key()]).unwrap_err();
    assert!(
        matches!(err.kind, VerifyErrorKind::UntrustedGenesisKey { .. }),
        "{err}"
    );
}

#[test]
fn index_is_rebuilt_when_lost() {
    let dir = tempfile::tempdir().unwrap();
    make_ledger(dir.path(), 20, small_segments());
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let (l, report) = Ledger::open(dir.path(), key(1), small_segments()).unwrap();
    assert_eq!(report.reindexed, 21);
    let idx = l.index().unwrap();
    assert_eq!(idx.session("s1").unwrap().len(), 7);
    assert_eq!(idx.kind("ledger.genesis").unwrap(), vec![0]);
    assert!(l.read_entry(20).unwrap().is_some());
}

/// Faults while many appenders are in flight: a failed batch also fails the batch prepared
/// behind it (it was built on a position that never became durable), nothing failed is
/// acknowledged, everything acknowledged is in the ledger, and the ledger verifies.
#[test]
fn faults_under_concurrency_lose_no_acknowledged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (store, plan) = faulty(dir.path());
    let l = Arc::new(Ledger::create_in(store, None, key(1), small_segments()).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let (l, stop) = (l.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (Vec::new(), 0u64);
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match l.append(call(t * 100_000 + i)) {
                        Ok(a) => ok.push((a.seq, t * 100_000 + i)),
                        Err(AppendError::Io(_)) => failed += 1,
                        Err(e) => panic!("unexpected {e}"),
                    }
                    i += 1;
                }
                (ok, failed)
            })
        })
        .collect();
    for fault in [
        Fault::NoSpace,
        Fault::ShortWrite(100),
        Fault::SyncFails,
        Fault::Io,
        Fault::CreateFails,
    ]
    .iter()
    .cycle()
    .take(20)
    {
        std::thread::sleep(std::time::Duration::from_millis(15));
        plan.inject(*fault);
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acked = Vec::new();
    let mut failed = 0;
    for h in handles {
        let (ok, f) = h.join().unwrap();
        acked.extend(ok);
        failed += f;
    }
    assert!(l.health().is_ok());
    drop(l);
    assert!(
        failed > 0,
        "faults were injected ({} used)",
        plan.injected()
    );
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    acked.sort_unstable();
    assert_eq!(
        r.entries,
        acked.len() as u64 + 1,
        "exactly the acknowledged entries (+ genesis)"
    );
    let seqs: Vec<u64> = acked.iter().map(|a| a.0).collect();
    assert_eq!(
        seqs,
        (1..r.entries).collect::<Vec<_>>(),
        "acknowledged seqs are the ledger's"
    );
    // And each acknowledged seq holds what its appender wrote.
    let store = auditgate_ledger::store::FsStore::open(&dir.path().join("segments")).unwrap();
    let mut v = auditgate_ledger::verify::Verifier::new(
        vec![key(1).verifier_key()],
        None,
        auditgate_ledger::VerifyOptions::default(),
    );
    let mut amounts = std::collections::HashMap::new();
    for n in store.list().unwrap() {
        let bytes = store.read(n).unwrap();
        v.feed_segment(n, &bytes, &mut |e| {
            let j: serde_json::Value = serde_json::from_slice(e.bytes).unwrap();
            amounts.insert(e.seq, j["args"]["amount"].as_u64());
        })
        .unwrap();
    }
    for (seq, i) in &acked {
        assert_eq!(amounts[seq], Some(*i), "seq {seq}");
    }
}

#[test]
fn index_behind_the_segments_catches_up_on_open() {
    let dir = tempfile::tempdir().unwrap();
    make_ledger(dir.path(), 10, small_segments());
    // Entries written while the index was not maintained (as after a crash before the indexer
    // ran): the segments are ahead of the index.
    let no_index = LedgerOptions {
        index: false,
        ..small_segments()
    };
    let (l, _) = Ledger::open(dir.path(), key(1), no_index).unwrap();
    for i in 10..25 {
        l.append(call(i)).unwrap();
    }
    l.close();
    let (l, report) = Ledger::open(dir.path(), key(1), small_segments()).unwrap();
    assert_eq!(
        report.reindexed, 15,
        "only the entries the index had not seen"
    );
    let idx = l.index().unwrap();
    assert_eq!(idx.indexed_through().unwrap(), 26);
    assert_eq!(
        idx.kind("call.request").unwrap(),
        (1..26).collect::<Vec<_>>()
    );
    assert!(l.read_entry(25).unwrap().is_some());
}

/// `submit(..).await` under a real executor: many tasks on two threads share batches, every
/// ticket completes with its own seq once durable, and the ledger verifies.
#[test]
fn async_tickets_complete_under_an_executor() {
    let dir = tempfile::tempdir().unwrap();
    let l = Arc::new(Ledger::create(dir.path(), key(1), small_segments()).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let seqs = rt.block_on(async {
        let tasks: Vec<_> = (0..64u64)
            .map(|t| {
                let l = l.clone();
                tokio::spawn(async move {
                    let mut seqs = Vec::new();
                    for i in 0..10 {
                        seqs.push(l.submit(call(t * 100 + i)).unwrap().await.unwrap().seq);
                    }
                    seqs
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=640).collect::<Vec<_>>());
    drop(l);
    let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
    assert_eq!(r.entries, 641);
    assert!(r.checkpoints < 641, "tasks shared batches");
}

#[test]
fn visit_from_last_reads_back_only_to_the_last_mark() {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::create(dir.path(), key(1), small_segments()).unwrap();
    let mark = |i: u64| {
        auditgate_ledger::Draft::from_value("run.mark", &serde_json::json!({"n": i})).unwrap()
    };
    for i in 1..200u64 {
        l.append(if i == 20 || i == 150 {
            mark(i)
        } else {
            call(i)
        })
        .unwrap();
    }
    let needle: &[u8] = b"\"kind\":\"run.mark\"";
    let is_mark = |b: &[u8]| b.windows(needle.len()).any(|w| w == needle);
    let mut seen: Vec<u64> = Vec::new();
    l.visit_from_last(&|b: &[u8]| is_mark(b), &mut |b: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(b).unwrap();
        seen.push(v["seq"].as_u64().unwrap());
    })
    .unwrap();
    assert_eq!(seen, (150..200).collect::<Vec<u64>>());
    assert!(
        segment_paths(dir.path()).len() > 3,
        "the mark is segments back"
    );
    // No mark: every entry, the genesis included.
    let mut count = 0;
    l.visit_from_last(&|_: &[u8]| false, &mut |_: &[u8]| count += 1)
        .unwrap();
    assert_eq!(count, 200);
    l.close();
}

/// A writer keeps a ledger in its own format version (§1.1): a 1.0 ledger reopened — from a
/// saved head and by a full scan — is appended to with 1.0 checkpoints (no `prev-size`), a 1.1
/// ledger with 1.1 ones, and both verify in their version after every reopen.
#[test]
fn a_reopened_ledger_keeps_its_format_version() {
    use auditgate_ledger::checkpoint::SignedCheckpoint;
    use auditgate_ledger::format::Format;
    use auditgate_ledger::segment::{self, RecordType};

    for format in [Format::V1_0, Format::V1_1] {
        let dir = tempfile::tempdir().unwrap();
        let opts = LedgerOptions {
            format,
            save_head_every: 0,
            ..small_segments()
        };
        Ledger::create(dir.path(), key(1), opts.clone())
            .unwrap()
            .close();
        for (round, full_scan) in [false, true, false].into_iter().enumerate() {
            let opts = LedgerOptions {
                full_scan_on_open: full_scan,
                ..opts.clone()
            };
            let (l, _) = Ledger::open(dir.path(), key(1), opts).unwrap();
            for i in 0..20 {
                l.append(call(100 * round as u64 + i)).unwrap();
            }
            l.close();
            let r = verify(dir.path(), &[key(1).verifier_key()]).unwrap();
            assert_eq!(r.format, format, "round {round}");
        }
        // Every checkpoint is of the ledger's version.
        for file in common::forge::read_contiguous(dir.path()) {
            let mut off = segment::HEADER_LEN;
            while off < file.len() {
                let rec = segment::decode_record(&file, off).unwrap();
                off = rec.end();
                if rec.ty == RecordType::Checkpoint {
                    let cp = SignedCheckpoint::parse(rec.payload).unwrap();
                    assert_eq!(Format::of_checkpoint(cp.checkpoint()), format);
                }
            }
        }
    }
}

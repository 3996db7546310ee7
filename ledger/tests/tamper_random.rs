//! A randomized tampering campaign: one writer-made ledger of a few hundred entries over several
//! segments (with a key rotation), and well over a thousand random tamperings, each applied to a
//! fresh copy and verified in memory. Every tampering that alters evidence must be detected.
//!
//! The RNG is seeded from `AUDITGATE_TAMPER_SEED` if set, else from the clock; the seed is
//! printed and is part of every failure message. (The ledger's ids and timestamps differ per run,
//! but every record length and position is the same, so a seed replays the same tamperings.)
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Instant;

use auditgate_ledger::segment::RecordType;
use auditgate_ledger::verify::{self, VerifyErrorKind as K};
use auditgate_ledger::{Report, VerifierKey, VerifyError};
use common::forge::*;
use common::*;
use serde_json::json;

/// xorshift64*: small, fast, good enough to pick offsets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    ByteFlip,
    RecordDelete,
    RecordDuplicate,
    AdjacentSwap,
    SpliceFromOtherLedger,
    CheckpointSwap,
    TruncatePinned,
    RawTruncatePinned,
    RewritePinned,
}

const CLASSES: [Class; 9] = [
    Class::ByteFlip,
    Class::RecordDelete,
    Class::RecordDuplicate,
    Class::AdjacentSwap,
    Class::SpliceFromOtherLedger,
    Class::CheckpointSwap,
    Class::TruncatePinned,
    Class::RawTruncatePinned,
    Class::RewritePinned,
];

/// Tamperings per class (the expensive full rewrite gets fewer).
fn quota(c: Class) -> usize {
    match c {
        Class::RewritePinned => 40,
        Class::ByteFlip => 300,
        _ => 150,
    }
}

struct Base {
    files: Vec<Vec<u8>>,
    segs: Segs,
    other: Segs,
    trusted: Vec<VerifierKey>,
    good: Report,
    sizes: Vec<u64>,
}

/// Size of the checkpoint closing the rotation batch (genesis, 150 entries, rotation).
const ROTATION_CHECKPOINT: u64 = 152;

/// What one tampering produced: the files to verify, an optional pin, and what must happen.
struct Case<'a> {
    files: Vec<Cow<'a, [u8]>>,
    pin: Option<u64>,
    what: String,
}

fn ledger(dir: &std::path::Path) -> Vec<Vec<u8>> {
    make_rotated_ledger(dir, 150, 150, 16 * 1024);
    read_contiguous(dir)
}

fn base() -> Base {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let files = ledger(a.path());
    let other = records(&ledger(b.path()));
    let segs = records(&files);
    let trusted = vec![key(1).verifier_key()];
    let good = verify_files(&files, &trusted, None).unwrap();
    assert_eq!(good.entries, 302);
    assert!(good.segments >= 6, "{} segments", good.segments);
    let sizes = checkpoint_sizes(&segs);
    let (s, i) = entry_at(&segs, ROTATION_CHECKPOINT - 1);
    assert_eq!(segs[s][i].json()["kind"], "ledger.key_rotated");
    Base {
        files,
        segs,
        other,
        trusted,
        good,
        sizes,
    }
}

impl Base {
    fn unchanged(&self) -> Vec<Cow<'_, [u8]>> {
        self.files
            .iter()
            .map(|f| Cow::Borrowed(f.as_slice()))
            .collect()
    }

    /// The files with segment `s` replaced by `recs`, framed.
    fn with(&self, s: usize, recs: &[Rec]) -> Vec<Cow<'_, [u8]>> {
        let mut files = self.unchanged();
        files[s] = Cow::Owned(frame(s as u64, recs));
        files
    }

    fn random_record(&self, rng: &mut Rng) -> At {
        let all = positions(&self.segs);
        all[rng.below(all.len())]
    }

    fn describe(&self, (s, i): At) -> String {
        let r = &self.segs[s][i];
        match r.ty {
            RecordType::Entry => format!("entry {} (segment {s} record {i})", r.seq()),
            RecordType::Checkpoint => format!("checkpoint {} (segment {s} record {i})", r.size()),
            RecordType::Seal => format!("seal (segment {s} record {i})"),
        }
    }

    fn tamper(&self, class: Class, rng: &mut Rng) -> Case<'_> {
        let case = |files, what: String| Case {
            files,
            pin: None,
            what,
        };
        match class {
            Class::ByteFlip => {
                let s = rng.below(self.files.len());
                let offset = rng.below(self.files[s].len());
                let bit = rng.below(8);
                let mut f = self.files[s].clone();
                f[offset] ^= 1 << bit;
                let mut files = self.unchanged();
                files[s] = Cow::Owned(f);
                case(
                    files,
                    format!("bit {bit} of segment {s} byte {offset} flipped"),
                )
            }
            Class::RecordDelete => {
                let (s, i) = self.random_record(rng);
                let mut recs = self.segs[s].clone();
                recs.remove(i);
                // Format 1.1 chains checkpoints: deleting one between two batches (a valid
                // merge of the two in a 1.0 ledger) is detected like every other deletion.
                case(
                    self.with(s, &recs),
                    format!("{} deleted", self.describe((s, i))),
                )
            }
            Class::RecordDuplicate => {
                let (s, i) = self.random_record(rng);
                let (t, j) = if rng.below(2) == 0 {
                    (s, i + 1)
                } else {
                    let t = rng.below(self.segs.len());
                    (t, rng.below(self.segs[t].len() + 1))
                };
                let mut recs = self.segs[t].clone();
                recs.insert(j, self.segs[s][i].clone());
                case(
                    self.with(t, &recs),
                    format!(
                        "{} copied to segment {t} position {j}",
                        self.describe((s, i))
                    ),
                )
            }
            Class::AdjacentSwap => loop {
                let (s, i) = self.random_record(rng);
                if i + 1 >= self.segs[s].len() {
                    continue;
                }
                let mut recs = self.segs[s].clone();
                recs.swap(i, i + 1);
                break case(
                    self.with(s, &recs),
                    format!("{} swapped with the next record", self.describe((s, i))),
                );
            },
            Class::SpliceFromOtherLedger => {
                let (s, i) = self.random_record(rng);
                let mut recs = self.segs[s].clone();
                let what = self.describe((s, i));
                match recs[i].ty {
                    RecordType::Entry => {
                        let (os, oi) = entry_at(&self.other, recs[i].seq());
                        recs[i] = self.other[os][oi].clone();
                    }
                    RecordType::Checkpoint => {
                        let (os, oi) = checkpoint_at(&self.other, recs[i].size());
                        recs[i] = self.other[os][oi].clone();
                    }
                    RecordType::Seal => {
                        // Seals hold only a count: splice the other ledger's next entry instead.
                        let (os, oi) = entry_at(&self.other, rng.below(302) as u64);
                        recs.insert(i, self.other[os][oi].clone());
                    }
                }
                case(
                    self.with(s, &recs),
                    format!("{what} replaced from another ledger"),
                )
            }
            Class::CheckpointSwap => {
                let n = self.sizes.len();
                let a = self.sizes[rng.below(n)];
                let b = loop {
                    let b = self.sizes[rng.below(n)];
                    if b != a {
                        break b;
                    }
                };
                let (pa, pb) = (checkpoint_at(&self.segs, a), checkpoint_at(&self.segs, b));
                let mut segs = self.segs.clone();
                let ra = segs[pa.0][pa.1].clone();
                segs[pa.0][pa.1] = segs[pb.0][pb.1].clone();
                segs[pb.0][pb.1] = ra;
                let mut files = self.unchanged();
                for s in [pa.0, pb.0] {
                    files[s] = Cow::Owned(frame(s as u64, &segs[s]));
                }
                case(files, format!("checkpoints {a} and {b} swapped"))
            }
            Class::TruncatePinned => {
                let n = self.sizes.len();
                let cut = self.sizes[rng.below(n - 1)];
                let pinned = self.sizes[cut as usize + rng.below(n - cut as usize)];
                let (s, i) = checkpoint_at(&self.segs, cut);
                let mut files = self.unchanged();
                files.truncate(s + 1);
                files[s] = Cow::Owned(frame(s as u64, &self.segs[s][..=i]));
                Case {
                    files,
                    pin: Some(pinned),
                    what: format!("cut after checkpoint {cut}, pinned {pinned}"),
                }
            }
            Class::RawTruncatePinned => {
                let s = rng.below(self.files.len());
                let len = rng.below(self.files[s].len());
                let mut files = self.unchanged();
                files.truncate(s + 1);
                files[s] = Cow::Owned(self.files[s][..len].to_vec());
                Case {
                    files,
                    pin: Some(self.good.entries),
                    what: format!("segment {s} cut at byte {len}, later segments dropped"),
                }
            }
            Class::RewritePinned => {
                let seq = 1 + rng.below(300) as u64;
                let pinned = self.sizes[seq as usize + rng.below(302 - seq as usize)];
                let mut segs = self.segs.clone();
                let (s, i) = entry_at(&segs, seq);
                let mut v = segs[s][i].json();
                v["rewritten"] = json!(true);
                segs[s][i].set_json(&v);
                rechain(&mut segs);
                resign(&mut segs, &[key(1), key(2)]);
                Case {
                    files: frame_all(&segs).into_iter().map(Cow::Owned).collect(),
                    pin: Some(pinned),
                    what: format!("history rewritten from seq {seq} with the key, pinned {pinned}"),
                }
            }
        }
    }

    fn check(&self, class: Class, case: &Case<'_>, seed: u64) -> VerifyError {
        let ctx = || format!("seed {seed}: {class:?}: {}", case.what);
        let pin = case.pin.map(|size| signed_checkpoint(&self.segs, size));
        let result = verify_files(&case.files, &self.trusted, pin.as_ref());
        let e = result
            .err()
            .unwrap_or_else(|| panic!("{}: NOT DETECTED", ctx()));
        assert!(!matches!(e.kind, K::Io(_)), "{}: {e}", ctx());
        match class {
            Class::TruncatePinned => {
                // A pin beyond the ledger's end is `Truncated`, also when only key(2) signed it
                // and the cut removed the rotation that introduced key(2) (§8.4; before format
                // 1.1 that case was reported as `PinnedCheckpointInvalid`).
                assert!(matches!(e.kind, K::Truncated { .. }), "{}: {e}", ctx());
            }
            Class::RewritePinned => {
                assert!(matches!(e.kind, K::PinMismatch { .. }), "{}: {e}", ctx())
            }
            _ => {}
        }
        e
    }
}

#[test]
fn a_thousand_random_tamperings_are_all_detected() {
    let seed = std::env::var("AUDITGATE_TAMPER_SEED")
        .ok()
        .map(|s| s.parse().unwrap())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    println!("tamper_random seed {seed} (rerun with AUDITGATE_TAMPER_SEED={seed})");
    let start = Instant::now();
    let base = base();
    let mut rng = Rng(seed);
    let mut detected: BTreeMap<Class, (usize, BTreeMap<String, usize>)> = BTreeMap::new();
    let mut total = 0;
    for class in CLASSES {
        for _ in 0..quota(class) {
            let case = base.tamper(class, &mut rng);
            total += 1;
            let e = base.check(class, &case, seed);
            let slot = detected.entry(class).or_default();
            slot.0 += 1;
            *slot
                .1
                .entry(verify::error_code(&e.kind).into_owned())
                .or_default() += 1;
        }
    }
    println!(
        "{total} tamperings in {:.1?}; all {total} detected",
        start.elapsed(),
    );
    for (class, (n, codes)) in &detected {
        println!("  {class:?}: {n}/{n} detected: {codes:?}");
    }
    assert!(total >= 1000, "seed {seed}: only {total} tamperings");
}

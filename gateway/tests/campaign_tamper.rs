//! Tamper campaign (docs/reliability.md): 1,000 random tamperings of a real ledger written by
//! the gateway, each checked by the `auditgate-verify` binary; every one must be detected.
//!
//! The ledger: the real gateway (in process, the billing policy, the Convex test app) serving
//! sessions of two principals with every kind of step — listings, allowed calls with redacted
//! values, writes, blocked and invalid calls, unknown tools, a function that throws, protocol
//! errors, refused tokens — over segments of 16 KiB (so segment boundaries, seals and several
//! segment files are exercised), then stopped. A second gateway (its own key) writes a second
//! ledger the same way, the source of splices.
//!
//! Classes (ideas from `ledger/tests/tamper_random.rs`, here on a gateway ledger and through the
//! verifier binary): byte flips; record deletes; record duplicates; adjacent swaps; records
//! replaced from the other ledger; two checkpoints swapped; an entry's member edited and
//! re-encoded canonically with a valid frame CRC (e.g. a `blocked` call turned `forward`);
//! a whole segment deleted (the last one with the final checkpoint pinned: dropping it is a
//! tail truncation, invisible without a pin by design); a cut after a checkpoint with a later checkpoint pinned; a cut at a
//! random byte with the final checkpoint pinned; history rewritten, re-chained and re-signed
//! with the stolen signing key, caught by a pinned checkpoint.
//!
//! Deleting a checkpoint that the next batch follows merged two batches into one valid ledger in
//! format 1.0; the gateway writes 1.1, whose checkpoints are chained (`prev-size`), so that is a
//! detected tampering like every other. The campaign runs until 1,000 tamperings were checked (10,000 with `AUDITGATE_CAMPAIGN=full`;
//! `AUDITGATE_TAMPER_COUNT` overrides). Seed: `AUDITGATE_CAMPAIGN_SEED`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod campaign;
mod support;

#[path = "../../ledger/tests/common/forge.rs"]
mod forge;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use auditgate_ledger::segment::{self, RecordType};
use auditgate_ledger::{Ledger, LedgerOptions, SigningKey};
use campaign::{Client, Rng};
use forge::{Rec, Segs};
use serde_json::{Value, json};
use support::gateway::{GatewayDir, RunningGateway};

const SEGMENT_LIMIT: u64 = 16 * 1024;

/// Serves a scripted workload through the real gateway into `dir`'s ledger (small segments).
async fn write_gateway_ledger(app: &support::TestApp, dir: &GatewayDir, sessions: usize) {
    let key = SigningKey::load(&dir.path().join("keys/ledger.key")).unwrap();
    let opts = LedgerOptions {
        segment_size_limit: SEGMENT_LIMIT,
        ..LedgerOptions::default()
    };
    let ledger = Ledger::create(&dir.ledger_dir(), key, opts).unwrap();
    let gw = RunningGateway::start_on(dir, ledger).await;
    let seed = app.seed().await;
    let customer = seed["customers"]["alice"].clone();
    let invoice = seed["invoices"]["alice"].clone();
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let who = if s % 3 == 2 { "carol" } else { "alice" };
        let (url, token) = (gw.url.clone(), dir.token(who));
        let (customer, invoice) = (customer.clone(), invoice.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::new(&url, &token, Duration::from_secs(30));
            c.initialize().await.unwrap();
            c.request("tools/list", json!({})).await.unwrap();
            for n in 0..6 {
                let m = format!("tamper-s{s}-n{n}");
                c.call("diagnostics_echo", json!({"value": m})).await.unwrap();
                c.call("customers_get", json!({"id": customer})).await.unwrap();
                c.call(
                    "customers_create",
                    json!({"name": m, "email": "t@x.example", "taxId": "DE1", "creditLimitCents": 5}),
                )
                .await
                .unwrap();
                c.call("invoices_refund", json!({"invoiceId": invoice, "amountCents": 1, "reason": m}))
                    .await
                    .unwrap();
                c.call("convex_delete_document", json!({"table": "invoices", "id": invoice}))
                    .await
                    .unwrap();
                c.call("invoices_refund", json!({"invoiceId": invoice, "amountCents": "x"}))
                    .await
                    .unwrap();
                c.call("no_such_tool", json!({})).await.unwrap();
                c.call("diagnostics_crash", json!({})).await.unwrap();
                c.request("no/such/method", json!({})).await.unwrap();
            }
            c.delete().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // A refused token.
    let mut bad = Client::new(&gw.url, "agk_nope_nope", Duration::from_secs(5));
    let _ = bad.initialize().await;
    gw.stop().await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    ByteFlip,
    RecordDelete,
    RecordDuplicate,
    AdjacentSwap,
    SpliceFromOtherLedger,
    CheckpointSwap,
    EntryEdit,
    SegmentDelete,
    TruncatePinned,
    RawTruncatePinned,
    RewritePinned,
}

/// Relative weights of the classes in the random draw.
const WEIGHTS: [(Class, usize); 11] = [
    (Class::ByteFlip, 25),
    (Class::RecordDelete, 14),
    (Class::RecordDuplicate, 10),
    (Class::AdjacentSwap, 10),
    (Class::SpliceFromOtherLedger, 10),
    (Class::CheckpointSwap, 8),
    (Class::EntryEdit, 8),
    (Class::SegmentDelete, 2),
    (Class::TruncatePinned, 6),
    (Class::RawTruncatePinned, 4),
    (Class::RewritePinned, 3),
];

fn draw(rng: &mut Rng) -> Class {
    let total: usize = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(total);
    for (c, w) in WEIGHTS {
        if x < w {
            return c;
        }
        x -= w;
    }
    unreachable!()
}

struct Base {
    files: Vec<Vec<u8>>,
    segs: Segs,
    other: Segs,
    sizes: Vec<u64>,
    key: SigningKey,
    pubkey: String,
    good: Value,
}

/// One tampering: the segment files to verify and a pin.
struct Case {
    files: Vec<Vec<u8>>,
    pin: Option<u64>,
    what: String,
}

impl Base {
    fn case(&self, files: Vec<Vec<u8>>, what: String) -> Case {
        Case {
            files,
            pin: None,
            what,
        }
    }

    fn with(&self, s: usize, recs: &[Rec]) -> Vec<Vec<u8>> {
        let mut files = self.files.clone();
        files[s] = forge::frame(s as u64, recs);
        files
    }

    fn describe(&self, (s, i): forge::At) -> String {
        let r = &self.segs[s][i];
        match r.ty {
            RecordType::Entry => format!(
                "entry {} {} (segment {s} record {i})",
                r.seq(),
                r.json()["kind"].as_str().unwrap_or("?")
            ),
            RecordType::Checkpoint => format!("checkpoint {} (segment {s} record {i})", r.size()),
            RecordType::Seal => format!("seal (segment {s} record {i})"),
        }
    }

    fn random_record(&self, rng: &mut Rng) -> forge::At {
        let all = forge::positions(&self.segs);
        all[rng.below(all.len())]
    }

    fn tamper(&self, class: Class, rng: &mut Rng) -> Case {
        match class {
            Class::ByteFlip => {
                let s = rng.below(self.files.len());
                let offset = rng.below(self.files[s].len());
                let bit = rng.below(8);
                let mut files = self.files.clone();
                files[s][offset] ^= 1 << bit;
                self.case(
                    files,
                    format!("bit {bit} of segment {s} byte {offset} flipped"),
                )
            }
            Class::RecordDelete => {
                let (s, i) = self.random_record(rng);
                let mut recs = self.segs[s].clone();
                recs.remove(i);
                self.case(
                    self.with(s, &recs),
                    format!("{} deleted", self.describe((s, i))),
                )
            }
            Class::RecordDuplicate => {
                let (s, i) = self.random_record(rng);
                let t = rng.below(self.segs.len());
                let j = rng.below(self.segs[t].len() + 1);
                let mut recs = self.segs[t].clone();
                recs.insert(j, self.segs[s][i].clone());
                self.case(
                    self.with(t, &recs),
                    format!(
                        "{} copied to segment {t} position {j}",
                        self.describe((s, i))
                    ),
                )
            }
            Class::AdjacentSwap => loop {
                let (s, i) = self.random_record(rng);
                if i + 1 >= self.segs[s].len() || self.segs[s][i] == self.segs[s][i + 1] {
                    continue;
                }
                let mut recs = self.segs[s].clone();
                recs.swap(i, i + 1);
                break self.case(
                    self.with(s, &recs),
                    format!("{} swapped with the next record", self.describe((s, i))),
                );
            },
            Class::SpliceFromOtherLedger => {
                let (s, i) = self.random_record(rng);
                let mut recs = self.segs[s].clone();
                let what = self.describe((s, i));
                let others: Vec<&Rec> = self
                    .other
                    .iter()
                    .flatten()
                    .filter(|r| r.ty == recs[i].ty)
                    .collect();
                // The same seq (or tree size) when the other ledger has it, else any.
                let same = others.iter().find(|r| match r.ty {
                    RecordType::Entry => r.seq() == recs[i].seq(),
                    RecordType::Checkpoint => r.size() == recs[i].size(),
                    RecordType::Seal => r.payload != recs[i].payload,
                });
                let pick = same.copied().unwrap_or(others[rng.below(others.len())]);
                if *pick == recs[i] {
                    // Identical seals (same count): splice the other ledger's entry instead.
                    let e = self
                        .other
                        .iter()
                        .flatten()
                        .find(|r| r.ty == RecordType::Entry)
                        .unwrap();
                    recs.insert(i, e.clone());
                } else {
                    recs[i] = pick.clone();
                }
                self.case(
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
                let (pa, pb) = (
                    forge::checkpoint_at(&self.segs, a),
                    forge::checkpoint_at(&self.segs, b),
                );
                let mut segs = self.segs.clone();
                let ra = segs[pa.0][pa.1].clone();
                segs[pa.0][pa.1] = segs[pb.0][pb.1].clone();
                segs[pb.0][pb.1] = ra;
                let mut files = self.files.clone();
                for s in [pa.0, pb.0] {
                    files[s] = forge::frame(s as u64, &segs[s]);
                }
                self.case(files, format!("checkpoints {a} and {b} swapped"))
            }
            Class::EntryEdit => {
                let entries: Vec<forge::At> = forge::positions(&self.segs)
                    .into_iter()
                    .filter(|&(s, i)| self.segs[s][i].ty == RecordType::Entry)
                    .collect();
                let (s, i) = entries[rng.below(entries.len())];
                let mut recs = self.segs[s].clone();
                let mut v = recs[i].json();
                let what = edit_entry(&mut v, rng);
                recs[i].set_json(&v);
                self.case(
                    self.with(s, &recs),
                    format!(
                        "{}: {what}, re-encoded with a valid CRC",
                        self.describe((s, i))
                    ),
                )
            }
            Class::SegmentDelete => {
                let s = rng.below(self.files.len());
                let mut files = self.files.clone();
                files.remove(s);
                // Renumber the rest into a contiguous sequence, as an attacker would.
                let files = files
                    .iter()
                    .enumerate()
                    .map(|(n, f)| forge::frame(n as u64, &forge::decode(f)))
                    .collect();
                // Dropping the last segment is a truncation of the tail, which no file-only
                // check can see (ledger-format.md §8): the auditor's pin of the final checkpoint
                // is what catches it.
                let last = s + 1 == self.files.len();
                Case {
                    files,
                    pin: last.then(|| *self.sizes.last().unwrap()),
                    what: if last {
                        format!("last segment {s} deleted, final checkpoint pinned")
                    } else {
                        format!("segment {s} deleted, later ones renumbered")
                    },
                }
            }
            Class::TruncatePinned => {
                let n = self.sizes.len();
                let cut = self.sizes[rng.below(n - 1)];
                let later: Vec<u64> = self.sizes.iter().copied().filter(|&z| z > cut).collect();
                let pinned = later[rng.below(later.len())];
                let (s, i) = forge::checkpoint_at(&self.segs, cut);
                let mut files = self.files.clone();
                files.truncate(s + 1);
                files[s] = forge::frame(s as u64, &self.segs[s][..=i]);
                Case {
                    files,
                    pin: Some(pinned),
                    what: format!("cut after checkpoint {cut}, pinned {pinned}"),
                }
            }
            Class::RawTruncatePinned => {
                let s = rng.below(self.files.len());
                let len = rng.below(self.files[s].len());
                let mut files = self.files.clone();
                files.truncate(s + 1);
                files[s].truncate(len);
                Case {
                    files,
                    pin: Some(*self.sizes.last().unwrap()),
                    what: format!(
                        "segment {s} cut at byte {len}, later segments dropped, final checkpoint pinned"
                    ),
                }
            }
            Class::RewritePinned => {
                let total = self.good["entries"].as_u64().unwrap();
                let seq = 1 + rng.below(total as usize - 1) as u64;
                let later: Vec<u64> = self.sizes.iter().copied().filter(|&z| z > seq).collect();
                let pinned = later[rng.below(later.len())];
                let mut segs = self.segs.clone();
                let (s, i) = forge::entry_at(&segs, seq);
                let mut v = segs[s][i].json();
                let what = edit_entry(&mut v, rng);
                segs[s][i].set_json(&v);
                forge::rechain(&mut segs);
                forge::resign(&mut segs, std::slice::from_ref(&self.key));
                Case {
                    files: forge::frame_all(&segs),
                    pin: Some(pinned),
                    what: format!(
                        "entry {seq}: {what}; re-chained and re-signed with the stolen key, pinned {pinned}"
                    ),
                }
            }
        }
    }
}

/// Changes one member of a gateway entry the way a forger would; returns what changed.
fn edit_entry(v: &mut Value, rng: &mut Rng) -> String {
    let kind = v["kind"].as_str().unwrap_or_default().to_string();
    match kind.as_str() {
        "call.request" if v["disposition"] == "blocked" => {
            v["disposition"] = "forward".into();
            "disposition blocked → forward".into()
        }
        "call.request" => {
            v["principal"] = "mallory".into();
            "principal → mallory".into()
        }
        "call.result" if v["outcome"] == "ok" => {
            v["result"] = json!("forged");
            "result forged".into()
        }
        "call.result" => {
            v["outcome"] = "ok".into();
            "outcome → ok".into()
        }
        _ => {
            let fields: Vec<String> = v
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| !["v", "seq", "prev", "kind"].contains(&k.as_str()))
                .cloned()
                .collect();
            if fields.is_empty() {
                v["forged"] = true.into();
                return "member added".into();
            }
            let f = fields[rng.below(fields.len())].clone();
            v[&f] = match &v[&f] {
                Value::String(s) if f == "ts" => Value::String(s.replacen('2', "1", 1)),
                Value::String(s) => Value::String(format!("{s}x")),
                Value::Number(n) => json!(n.as_u64().unwrap_or(0) + 1),
                Value::Null => json!("forged"),
                _ => json!(null),
            };
            format!("{f} changed")
        }
    }
}

/// Writes `files` as a ledger directory and runs `auditgate-verify verify --json` on it.
fn verify_case(root: &Path, base: &Base, case: &Case) -> (i32, Value) {
    let dir = root.join("case");
    let _ = std::fs::remove_dir_all(&dir);
    let segs = dir.join("segments");
    std::fs::create_dir_all(&segs).unwrap();
    for (n, bytes) in case.files.iter().enumerate() {
        std::fs::write(segs.join(segment::file_name(n as u64)), bytes).unwrap();
    }
    let pin_path = case.pin.map(|size| {
        let p = root.join("pin.checkpoint");
        std::fs::write(&p, forge::signed_checkpoint(&base.segs, size).to_bytes()).unwrap();
        p
    });
    campaign::verify_cli(&dir, &base.pubkey, pin_path.as_deref())
}

fn read_ledger(dir: &GatewayDir) -> Vec<Vec<u8>> {
    forge::read_contiguous(&dir.ledger_dir())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_random_tamperings_of_a_gateway_ledger_are_all_detected() {
    let app = app_or_skip!();
    let seed = campaign::seed();
    let wanted = campaign::env_or(
        "AUDITGATE_TAMPER_COUNT",
        if campaign::full() { 10_000usize } else { 1000 },
    );
    println!("tamper campaign: seed {seed} (AUDITGATE_CAMPAIGN_SEED={seed}), {wanted} tamperings");
    let started = Instant::now();
    let (a, b) = (GatewayDir::new(&app.url), GatewayDir::new(&app.url));
    write_gateway_ledger(&app, &a, 6).await;
    write_gateway_ledger(&app, &b, 3).await;
    let written = started.elapsed();

    let good = campaign::assert_verifies(&a, "the untouched gateway ledger");
    let files = read_ledger(&a);
    let segs = forge::records(&files);
    let base = Base {
        sizes: forge::checkpoint_sizes(&segs),
        other: forge::records(&read_ledger(&b)),
        key: SigningKey::load(&a.path().join("keys/ledger.key")).unwrap(),
        pubkey: a.verifier_key.to_string(),
        files,
        segs,
        good,
    };
    assert!(base.files.len() >= 4, "{} segments", base.files.len());
    let work = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let mut detected: BTreeMap<Class, (usize, BTreeMap<String, usize>)> = BTreeMap::new();
    let mut checked = 0usize;
    let mut failures = Vec::new();
    let verify_started = Instant::now();
    while checked < wanted {
        let class = draw(&mut rng);
        let case = base.tamper(class, &mut rng);
        assert!(
            case.files != base.files || case.pin.is_some(),
            "{class:?}: {} changed nothing (a bug in the campaign)",
            case.what
        );
        let (code, v) = tokio::task::block_in_place(|| verify_case(work.path(), &base, &case));
        checked += 1;
        if code == 1 && v["valid"] == false {
            let slot = detected.entry(class).or_default();
            slot.0 += 1;
            *slot
                .1
                .entry(v["error"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
        } else {
            let keep = work.path().join(format!("undetected-{checked}"));
            let _ = std::fs::rename(work.path().join("case"), &keep);
            failures.push(format!(
                "{class:?}: {} → exit {code}: {v} (kept in {})",
                case.what,
                keep.display()
            ));
        }
    }
    let verify_time = verify_started.elapsed();
    println!(
        "tamper campaign figures (seed {seed}): gateway ledger of {} entries in {} segments, {} checkpoints (written in {written:.1?})",
        base.good["entries"],
        base.files.len(),
        base.sizes.len()
    );
    let n_detected: usize = detected.values().map(|(n, _)| n).sum();
    println!(
        "  {n_detected}/{checked} tamperings detected by auditgate-verify in {verify_time:.1?}"
    );
    for (class, (n, codes)) in &detected {
        println!("  {class:?}: {n} detected: {codes:?}");
    }
    if !failures.is_empty() {
        let work = work.keep();
        panic!(
            "seed {seed}: {} tamperings NOT DETECTED (cases kept under {}):\n{}",
            failures.len(),
            work.display(),
            failures.join("\n")
        );
    }
}

//! A deterministic ledger writer for tests and benchmarks: the same segment bytes on every run
//! (fixed key seeds, ledger id, origin and clock), so golden files can hold hashes and times.
//!
//! It lays out exactly what the real writer (`auditgate_ledger::Ledger`) lays out —
//! genesis in its own batch, batches closed by a signed checkpoint, sealed segments rolled at a
//! size limit, key rotations cosigned — using the ledger crate's own encoders. Only the clock
//! and the batch boundaries are chosen by the caller instead of by timing.

use std::path::Path;

use auditgate_ledger::checkpoint::{Checkpoint, SignedCheckpoint};
use auditgate_ledger::format::Format;
use auditgate_ledger::merkle::{self, Frontier};
use auditgate_ledger::segment::{self, RecordType};
use auditgate_ledger::timestamp::Timestamp;
use auditgate_ledger::verify::{KIND_GENESIS, KIND_KEY_ROTATED};
use auditgate_ledger::{Draft, SigningKey};
use serde_json::{Value, json};

/// One entry to write: its kind, its members, and when (microseconds after the ledger's start).
#[derive(Debug, Clone)]
pub struct Event {
    pub at_us: u64,
    pub kind: String,
    pub body: Value,
}

/// How to lay the ledger out.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Entries per batch (after genesis, which is always alone).
    pub batch: usize,
    /// Seal a segment once a batch takes it past this many bytes.
    pub segment_limit: u64,
    /// The clock at `at_us = 0`, nanoseconds since the Unix epoch.
    pub start_unix_ns: u128,
    /// Rotate to `key(1)` just before the event with this index (its own batch).
    pub rotate_before: Option<usize>,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            batch: 1,
            segment_limit: 4096,
            // 2026-11-21T09:00:00Z
            start_unix_ns: 1_795_251_600 * 1_000_000_000,
            rotate_before: None,
        }
    }
}

/// The test ledger's keys: `key(0)` signs from genesis, `key(1)` after a rotation.
pub fn key(n: u8) -> SigningKey {
    SigningKey::from_seed("auditgate.test/ledger", &[0x40 + n; 32]).expect("valid test key")
}

/// The origin of every test ledger.
pub const ORIGIN: &str = "auditgate.test/ledger";
/// The ledger id of every test ledger.
pub const LEDGER_ID: &str = "5eed5eed5eed5eed5eed5eed5eed5eed";

/// What was written: the signed checkpoint after every batch (size, note bytes).
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub checkpoints: Vec<(u64, Vec<u8>)>,
    pub entries: u64,
}

impl Written {
    /// The checkpoint of the batch that took the ledger to at least `size` entries.
    pub fn checkpoint_at(&self, size: u64) -> Vec<u8> {
        self.checkpoints
            .iter()
            .find(|(s, _)| *s >= size)
            .map(|(_, b)| b.clone())
            .expect("a checkpoint at that size")
    }
}

struct State {
    dir: std::path::PathBuf,
    segment: u64,
    buf: Vec<u8>,
    seq: u64,
    prev: [u8; 32],
    frontier: Frontier,
    written: Written,
    layout: Layout,
}

impl State {
    fn flush_segment(&mut self, seal: bool) {
        if seal {
            segment::encode_record(
                &mut self.buf,
                RecordType::Seal,
                &segment::encode_seal(self.seq),
            );
        }
        let path = self
            .dir
            .join("segments")
            .join(segment::file_name(self.segment));
        std::fs::write(&path, &self.buf).expect("write segment");
        if seal {
            self.segment += 1;
            self.buf = segment::encode_header(self.segment).to_vec();
        }
    }

    fn batch(&mut self, entries: &[(u64, Draft)], signers: &[&SigningKey]) {
        let prev_size = self.seq;
        let mut out = Vec::new();
        for (at_us, draft) in entries {
            let ts =
                Timestamp::from_unix_nanos(self.layout.start_unix_ns + u128::from(*at_us) * 1000);
            out.clear();
            draft.encode_into(self.seq, &ts, &self.prev, &mut out);
            self.prev = auditgate_ledger::entry::entry_hash(&out);
            self.frontier.push(merkle::leaf_hash(&out));
            segment::encode_record(&mut self.buf, RecordType::Entry, &out);
            self.seq += 1;
        }
        let cp = SignedCheckpoint::sign(
            Checkpoint {
                origin: ORIGIN.into(),
                size: self.seq,
                root: self.frontier.root(),
                extensions: Format::default().extensions(prev_size),
            },
            signers,
        )
        .expect("sign checkpoint");
        let note = cp.to_bytes();
        segment::encode_record(&mut self.buf, RecordType::Checkpoint, &note);
        self.written.checkpoints.push((self.seq, note));
        if self.buf.len() as u64 >= self.layout.segment_limit {
            self.flush_segment(true);
        }
    }
}

fn draft(kind: &str, body: &Value) -> Draft {
    Draft::from_value(kind, body).expect("a valid draft")
}

/// Writes `events` as a ledger under `dir/segments/`.
pub fn write(dir: &Path, events: &[Event], layout: &Layout) -> Written {
    let mut w = Writer::new(dir, layout);
    w.extend(events.iter().cloned());
    w.finish()
}

/// A ledger being written: [`Writer::extend`] as often as needed, then [`Writer::finish`].
pub struct Writer {
    st: State,
    active: SigningKey,
    pending: Vec<(u64, Draft)>,
    index: usize,
}

impl Writer {
    /// Starts a ledger under `dir/segments/` (writes genesis).
    pub fn new(dir: &Path, layout: &Layout) -> Writer {
        std::fs::create_dir_all(dir.join("segments")).expect("create segments/");
        let mut st = State {
            dir: dir.to_path_buf(),
            segment: 0,
            buf: segment::encode_header(0).to_vec(),
            seq: 0,
            prev: [0; 32],
            frontier: Frontier::new(),
            written: Written::default(),
            layout: layout.clone(),
        };
        let genesis = json!({"format": Format::default().as_str(), "key": key(0).verifier_key().to_string(),
                             "ledger_id": LEDGER_ID, "origin": ORIGIN});
        st.batch(&[(0, draft(KIND_GENESIS, &genesis))], &[&key(0)]);
        Writer {
            st,
            active: key(0),
            pending: Vec::new(),
            index: 0,
        }
    }

    /// Appends `events` (batched as the layout says).
    pub fn extend(&mut self, events: impl IntoIterator<Item = Event>) {
        let layout = self.st.layout.clone();
        for e in events {
            let i = self.index;
            self.index += 1;
            if layout.rotate_before == Some(i) {
                if !self.pending.is_empty() {
                    let batch = std::mem::take(&mut self.pending);
                    self.st.batch(&batch, &[&self.active]);
                }
                let (k0, k1) = (key(0), key(1));
                let body = json!({"old_key": k0.verifier_key().to_string(),
                                  "new_key": k1.verifier_key().to_string(), "reason": "scheduled"});
                self.st
                    .batch(&[(e.at_us, draft(KIND_KEY_ROTATED, &body))], &[&k0, &k1]);
                self.active = k1;
            }
            let mut body = e.body;
            // The rotation entry takes a seq the script did not plan for: later results must
            // still name their requests.
            if let Some(r) = layout.rotate_before
                && let Some(req) = body.get("request_seq").and_then(Value::as_u64)
                && req > r as u64
            {
                body["request_seq"] = json!(req + 1);
            }
            self.pending.push((e.at_us, draft(&e.kind, &body)));
            if self.pending.len() >= layout.batch.max(1) {
                let batch = std::mem::take(&mut self.pending);
                self.st.batch(&batch, &[&self.active]);
            }
        }
    }

    /// Closes the last batch and writes the last segment.
    pub fn finish(mut self) -> Written {
        if !self.pending.is_empty() {
            let batch = std::mem::take(&mut self.pending);
            self.st.batch(&batch, &[&self.active]);
        }
        self.st.flush_segment(false);
        self.st.written.entries = self.st.seq;
        self.st.written.clone()
    }
}

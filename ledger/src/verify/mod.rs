//! Verification: recompute everything a ledger claims, from its segment bytes and trusted keys
//! alone (`docs/ledger-format.md` §8).
//!
//! [`Verifier`] is a streaming, pure state machine: feed it segments in order, then
//! [`Verifier::finish`]. It never trusts the index or any writer metadata. Per-entry work that
//! does not depend on order (canonical-form check, BLAKE3, the RFC 6962 leaf hash) runs on all
//! cores; the chain, the tree and the checkpoints are then checked in order.
//!
//! The writer reuses the same machine to recover on open ([`Verifier::feed_last_segment`]): one
//! code path decides what a valid ledger is.

mod error;
mod members;
mod names;
mod pin;
mod signatures;

use std::collections::BTreeMap;
use std::path::Path;

use crate::checkpoint::SignedCheckpoint;
use crate::entry::{self, EntryHeader, HeaderError};
use crate::format::{self, Format};
use crate::keys::VerifierKey;
use crate::merkle::{self, Frontier, Hash};
use crate::segment::{self, FrameError, HEADER_LEN, Record, RecordType};
use crate::store::{self, FsStore};
use crate::timestamp::Timestamp;

pub use error::{Location, VerifyError, VerifyErrorKind, error_code};
pub use names::{SegmentNames, Warning, list_segments, segments_dir};
/// Kind of the first entry.
pub const KIND_GENESIS: &str = "ledger.genesis";
/// Kind of a key rotation entry.
pub const KIND_KEY_ROTATED: &str = "ledger.key_rotated";
/// Kind of the entry recording a cut torn tail.
pub const KIND_RECOVERED: &str = "ledger.recovered";

/// Knobs for a verification run.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Check checkpoint signatures and the genesis key's trust. Off only for the writer's own
    /// recovery scan (it holds the key; the auditor's verify always checks).
    pub check_signatures: bool,
    /// Keep every leaf hash (needed to produce proofs afterwards).
    pub keep_leaves: bool,
    /// Worker threads for per-entry hashing; 0 = all available cores.
    pub threads: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            check_signatures: true,
            keep_leaves: false,
            threads: 0,
        }
    }
}

/// One verified entry, as handed to a visitor once its batch's checkpoint verified.
#[derive(Debug, Clone, Copy)]
pub struct VisitedEntry<'a> {
    /// Position.
    pub seq: u64,
    /// Stored bytes.
    pub bytes: &'a [u8],
    /// BLAKE3 entry hash.
    pub hash: Hash,
    /// Writer's timestamp.
    pub ts: Timestamp,
    /// Segment holding it.
    pub segment: u64,
    /// Byte offset of its frame in that segment.
    pub offset: u64,
}

/// The state of the chain at a point: everything needed to continue appending after it.
#[derive(Debug, Clone)]
pub struct ChainHead {
    /// Entries so far (= the next seq).
    pub entries: u64,
    /// Hash of the last entry (zeros if none).
    pub prev: Hash,
    /// Timestamp of the last entry.
    pub last_ts: Option<Timestamp>,
    /// The Merkle tree's frontier.
    pub frontier: Frontier,
    /// Checkpoint origin (from genesis).
    pub origin: Option<String>,
    /// Ledger id (from genesis).
    pub ledger_id: Option<String>,
    /// The key that must sign the next checkpoint.
    pub active_key: Option<VerifierKey>,
    /// Every key that has been active, in order.
    pub keys: Vec<VerifierKey>,
    /// The ledger's format version (from genesis).
    pub format: Format,
}

impl ChainHead {
    fn empty() -> Self {
        Self {
            format: Format::default(),
            entries: 0,
            prev: [0u8; 32],
            last_ts: None,
            frontier: Frontier::new(),
            origin: None,
            ledger_id: None,
            active_key: None,
            keys: Vec::new(),
        }
    }
}

/// What a successful verification established.
#[derive(Debug, Clone)]
pub struct Report {
    /// Number of entries.
    pub entries: u64,
    /// Number of segments.
    pub segments: u64,
    /// Number of checkpoints.
    pub checkpoints: u64,
    /// First and last entry timestamps.
    pub first_ts: Option<Timestamp>,
    /// Last entry timestamp.
    pub last_ts: Option<Timestamp>,
    /// Checkpoint origin.
    pub origin: String,
    /// Ledger id.
    pub ledger_id: String,
    /// Signing keys in the order they were active.
    pub keys: Vec<VerifierKey>,
    /// The last checkpoint (covers the whole ledger).
    pub last_checkpoint: Option<SignedCheckpoint>,
    /// Merkle root of the whole ledger.
    pub root: Hash,
    /// BLAKE3 hash of the last entry.
    pub head_hash: Hash,
    /// Entries per kind.
    pub kinds: BTreeMap<String, u64>,
    /// Size of the pinned checkpoint that was checked, if any.
    pub pinned_size: Option<u64>,
    /// Every leaf hash, if asked for.
    pub leaves: Option<Vec<Hash>>,
    /// The ledger's format version.
    pub format: Format,
    /// Findings that do not fail the ledger (stray files in `segments/`).
    pub warnings: Vec<Warning>,
}

/// A torn tail found by [`Verifier::feed_last_segment`]: what the writer must cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Segment holding the tail.
    pub segment: u64,
    /// Length to truncate the segment to (end of the durable prefix).
    pub durable_len: u64,
    /// Bytes after it.
    pub discarded_bytes: u64,
    /// Complete, checksum-valid records among them.
    pub discarded_records: u64,
    /// Why the tail is not part of the ledger.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    Nothing,
    Entry,
    Checkpoint,
    Seal,
}

/// Entry facts computed in parallel, before the in-order checks.
struct Facts<'a> {
    header: Result<EntryHeader<'a>, HeaderError>,
    hash: Hash,
    leaf: Hash,
}

/// The streaming verifier.
#[derive(Debug)]
pub struct Verifier {
    trusted: Vec<VerifierKey>,
    pin: Option<SignedCheckpoint>,
    opts: VerifyOptions,
    head: ChainHead,
    /// The head at the last checkpoint: where a writer resumes after cutting a torn tail.
    durable: ChainHead,
    rotation: Option<VerifierKey>,
    pending_since: Option<u64>,
    last: Last,
    next_segment: u64,
    last_segment_sealed: bool,
    checkpoints: u64,
    first_ts: Option<Timestamp>,
    kinds: BTreeMap<String, u64>,
    last_checkpoint: Option<SignedCheckpoint>,
    leaves: Vec<Hash>,
    /// Checkpoint signatures still to verify (see `check_signatures`).
    sig_jobs: Vec<signatures::SigJob>,
}

/// Where the durable prefix of the last segment ends, for the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentEnd {
    /// Length of the durable prefix.
    pub durable_len: u64,
    /// Whether the segment ends with a seal.
    pub sealed: bool,
}

impl Verifier {
    /// A verifier trusting `trusted` keys, optionally holding the ledger to a pinned checkpoint.
    pub fn new(
        trusted: Vec<VerifierKey>,
        pin: Option<SignedCheckpoint>,
        opts: VerifyOptions,
    ) -> Self {
        Self {
            trusted,
            pin,
            opts,
            head: ChainHead::empty(),
            durable: ChainHead::empty(),
            rotation: None,
            pending_since: None,
            last: Last::Nothing,
            next_segment: 0,
            last_segment_sealed: false,
            checkpoints: 0,
            first_ts: None,
            kinds: BTreeMap::new(),
            last_checkpoint: None,
            leaves: Vec::new(),
            sig_jobs: Vec::new(),
        }
    }

    /// A verifier that continues inside segment `segment`, just past a checkpoint record, from
    /// the chain state `head` after it and that checkpoint, as if it had verified everything
    /// before; feed it the rest of that segment with [`Verifier::feed_segment_rest`], then later
    /// segments as usual. For the writer's open (`writer/resume.rs`): what it proves holds only
    /// as far as that state is right, which the writer checks against the segment's bytes.
    pub fn resume_at(
        opts: VerifyOptions,
        segment: u64,
        head: ChainHead,
        checkpoint: SignedCheckpoint,
    ) -> Self {
        let mut v = Self::new(Vec::new(), None, opts);
        v.durable = head.clone();
        v.head = head;
        v.next_segment = segment + 1;
        v.last = Last::Checkpoint;
        v.last_checkpoint = Some(checkpoint);
        v
    }

    /// The chain state after the last verified checkpoint.
    pub fn durable_head(&self) -> &ChainHead {
        &self.durable
    }

    /// The last verified checkpoint.
    pub fn last_checkpoint(&self) -> Option<&SignedCheckpoint> {
        self.last_checkpoint.as_ref()
    }

    /// Feeds the next segment. Every defect is an error.
    pub fn feed_segment(
        &mut self,
        number: u64,
        bytes: &[u8],
        visit: &mut dyn FnMut(VisitedEntry<'_>),
    ) -> Result<SegmentEnd, VerifyError> {
        self.feed(number, bytes, false, visit).map(|(end, _)| end)
    }

    /// Feeds the last segment of a ledger a writer is opening: a torn tail after the last
    /// checkpoint is reported (not an error) so the writer can cut it; any other defect is an
    /// error. After a torn tail, the verifier's state is rolled back to the last checkpoint.
    pub fn feed_last_segment(
        &mut self,
        number: u64,
        bytes: &[u8],
        visit: &mut dyn FnMut(VisitedEntry<'_>),
    ) -> Result<(SegmentEnd, Option<TornTail>), VerifyError> {
        self.feed(number, bytes, true, visit)
    }

    /// Feeds the rest of the segment a [`Verifier::resume_at`] verifier stopped inside: `rest`
    /// holds segment `number`'s bytes from byte `offset` (just past the checkpoint it resumed
    /// after) to its end. With `last`, a torn tail is reported as by
    /// [`Verifier::feed_last_segment`]; without, every defect is an error.
    pub fn feed_segment_rest(
        &mut self,
        number: u64,
        offset: u64,
        rest: &[u8],
        last: bool,
        visit: &mut dyn FnMut(VisitedEntry<'_>),
    ) -> Result<(SegmentEnd, Option<TornTail>), VerifyError> {
        if number + 1 != self.next_segment || self.last != Last::Checkpoint {
            return Err(VerifyErrorKind::Io(format!(
                "internal: segment {number} is not the one this verifier resumed inside"
            ))
            .at(number, offset as usize));
        }
        self.feed_records(number, rest, offset as usize, last, visit)
    }

    fn feed(
        &mut self,
        number: u64,
        bytes: &[u8],
        tolerate_tail: bool,
        visit: &mut dyn FnMut(VisitedEntry<'_>),
    ) -> Result<(SegmentEnd, Option<TornTail>), VerifyError> {
        if number != self.next_segment {
            return Err(VerifyErrorKind::MissingSegment {
                expected: self.next_segment,
                found: number,
            }
            .at(number, 0));
        }
        if number > 0 && !self.last_segment_sealed {
            return Err(VerifyErrorKind::UnsealedSegment {
                segment: number - 1,
            }
            .at(number - 1, 0));
        }
        self.next_segment += 1;
        self.last_segment_sealed = false;
        self.last = Last::Nothing;
        segment::decode_header(bytes, number)
            .map_err(|e| VerifyErrorKind::BadHeader(e).at(number, 0))?;
        self.feed_records(
            number,
            &bytes[HEADER_LEN..],
            HEADER_LEN,
            tolerate_tail,
            visit,
        )
    }

    /// The records of segment `number` from byte `start` on; `bytes` begins there.
    fn feed_records(
        &mut self,
        number: u64,
        bytes: &[u8],
        start: usize,
        tolerate_tail: bool,
        visit: &mut dyn FnMut(VisitedEntry<'_>),
    ) -> Result<(SegmentEnd, Option<TornTail>), VerifyError> {
        // Frames. A damaged frame ends the scan; whether that is an error depends on the mode.
        // Record offsets are the segment's (`start` added).
        let Decoded {
            records,
            facts,
            frame_error,
        } = decode_frames(bytes, start, self.opts.threads);

        // Signatures are checked after the in-order pass, on all cores; a signature failure
        // is always reported in preference to a later failure of the pass.
        let pass = self.records_pass(number, &records, facts, frame_error.is_some(), visit);
        self.check_signatures()?;
        let (durable_len, sealed) = pass?;
        // The pass says `HEADER_LEN` when these records hold nothing durable: then the durable
        // prefix ends where they start.
        let durable_len = durable_len.max(start as u64);
        // A damaged frame is reported after everything before it (stream order, §8.3).
        if let (Some((off, e)), false) = (&frame_error, tolerate_tail) {
            return Err(VerifyErrorKind::BadRecord(e.clone()).at(number, *off));
        }
        self.last_segment_sealed = sealed;
        let end = SegmentEnd {
            durable_len,
            sealed,
        };

        let tail_bytes = (start + bytes.len()) as u64 - durable_len;
        if !tolerate_tail || tail_bytes == 0 {
            return Ok((end, None));
        }
        // Torn tail: everything after the durable prefix belongs to the one unacknowledged batch.
        let discarded_records = records
            .iter()
            .filter(|r| r.offset as u64 >= durable_len)
            .count() as u64;
        let reason = match &frame_error {
            Some((off, e)) => format!("damaged record at byte {off}: {e}"),
            None => "batch without its checkpoint".to_owned(),
        };
        self.rollback_to_durable();
        Ok((
            end,
            Some(TornTail {
                segment: number,
                durable_len,
                discarded_bytes: tail_bytes,
                discarded_records,
                reason,
            }),
        ))
    }

    /// The in-order pass over a segment's records: chain, tree, checkpoints, structure.
    fn records_pass<'b>(
        &mut self,
        number: u64,
        records: &[Record<'b>],
        facts: Vec<Facts<'b>>,
        frame_error: bool,
        visit: &mut dyn FnMut(VisitedEntry<'_>),
    ) -> Result<(u64, bool), VerifyError> {
        let mut facts = facts.into_iter();
        let mut durable_len = HEADER_LEN as u64;
        let mut batch: Vec<VisitedEntry<'_>> = Vec::new();
        let mut sealed = false;
        for (i, rec) in records.iter().enumerate() {
            let at = |k: VerifyErrorKind| k.at(number, rec.offset);
            match rec.ty {
                RecordType::Entry => {
                    if self.last == Last::Seal {
                        return Err(at(VerifyErrorKind::UnexpectedRecord {
                            found: "entry",
                            why: "nothing may follow a seal",
                        }));
                    }
                    let f = facts.next().ok_or_else(|| {
                        at(VerifyErrorKind::Io("internal: facts out of step".into()))
                    })?;
                    let seq = self.head.entries;
                    let header = f.header.map_err(|e| {
                        at(match e {
                            HeaderError::NonCanonical(c) => VerifyErrorKind::NonCanonicalEntry {
                                seq,
                                why: c.to_string(),
                            },
                            HeaderError::BadField(field) => {
                                VerifyErrorKind::BadEntryField { seq, field }
                            }
                        })
                    })?;
                    self.entry(&header, rec.payload, f.hash, f.leaf, (number, rec.offset))
                        .map_err(at)?;
                    self.pending_since.get_or_insert(seq);
                    batch.push(VisitedEntry {
                        seq,
                        bytes: rec.payload,
                        hash: f.hash,
                        ts: header.ts,
                        segment: number,
                        offset: rec.offset as u64,
                    });
                    self.last = Last::Entry;
                }
                RecordType::Checkpoint => {
                    if self.last != Last::Entry {
                        return Err(at(VerifyErrorKind::UnexpectedRecord {
                            found: "checkpoint",
                            why: "a checkpoint must close a batch of entries",
                        }));
                    }
                    self.checkpoint(rec.payload, number, rec.offset)
                        .map_err(at)?;
                    for v in batch.drain(..) {
                        visit(v);
                    }
                    durable_len = rec.end() as u64;
                    self.last = Last::Checkpoint;
                }
                RecordType::Seal => {
                    if self.last != Last::Checkpoint {
                        return Err(at(VerifyErrorKind::UnexpectedRecord {
                            found: "seal",
                            why: "a seal must follow a checkpoint",
                        }));
                    }
                    if i + 1 != records.len() || frame_error {
                        return Err(at(VerifyErrorKind::UnexpectedRecord {
                            found: "seal",
                            why: "a seal must be the last record of its segment",
                        }));
                    }
                    let stated = segment::decode_seal(rec.payload);
                    if stated != Some(self.head.entries) {
                        return Err(at(VerifyErrorKind::BadSeal {
                            stated,
                            actual: self.head.entries,
                        }));
                    }
                    durable_len = rec.end() as u64;
                    sealed = true;
                    self.last = Last::Seal;
                }
            }
        }
        Ok((durable_len, sealed))
    }

    /// Verifies the deferred checkpoint signatures, in parallel; the first failure (in ledger
    /// order) is the error.
    fn check_signatures(&mut self) -> Result<(), VerifyError> {
        let jobs = std::mem::take(&mut self.sig_jobs);
        signatures::check_all(&jobs, self.opts.threads)
    }

    fn rollback_to_durable(&mut self) {
        let entries = self.durable.entries;
        self.head = self.durable.clone();
        self.rotation = None;
        self.pending_since = None;
        self.last = if entries == 0 {
            Last::Nothing
        } else {
            Last::Checkpoint
        };
        self.leaves.truncate(entries as usize);
    }

    fn entry(
        &mut self,
        header: &EntryHeader<'_>,
        bytes: &[u8],
        hash: Hash,
        leaf: Hash,
        (segment, offset): (u64, usize),
    ) -> Result<(), VerifyErrorKind> {
        let seq = self.head.entries;
        if header.seq != seq {
            return Err(VerifyErrorKind::SeqGap {
                expected: seq,
                found: header.seq,
            });
        }
        if header.prev != self.head.prev {
            return Err(VerifyErrorKind::ChainBroken { seq });
        }
        if let Some(prev_ts) = self.head.last_ts
            && header.ts < prev_ts
        {
            return Err(VerifyErrorKind::TimeWentBackwards {
                seq,
                ts: header.ts.to_string(),
                previous: prev_ts.to_string(),
            });
        }
        match header.kind.as_ref() {
            KIND_GENESIS => self.genesis(seq, bytes)?,
            _ if seq == 0 => {
                return Err(VerifyErrorKind::BadGenesis {
                    seq,
                    why: format!("entry 0 has kind {:?}", header.kind),
                });
            }
            KIND_KEY_ROTATED => self.rotation(seq, bytes)?,
            KIND_RECOVERED => members::recovered(seq, bytes, segment, offset)?,
            _ => {}
        }
        self.head.entries += 1;
        self.head.prev = hash;
        self.head.last_ts = Some(header.ts);
        self.head.frontier.push(leaf);
        self.first_ts.get_or_insert(header.ts);
        if self.opts.keep_leaves {
            self.leaves.push(leaf);
        }
        match self.kinds.get_mut(header.kind.as_ref()) {
            Some(n) => *n += 1,
            None => {
                self.kinds.insert(header.kind.to_string(), 1);
            }
        }
        if let Some(pin) = &self.pin
            && pin.checkpoint().size == self.head.entries
        {
            if self.opts.check_signatures {
                let mut admissible: Vec<VerifierKey> =
                    self.head.active_key.iter().cloned().collect();
                admissible.extend(self.rotation.iter().cloned());
                let known: Vec<VerifierKey> = self
                    .trusted
                    .iter()
                    .chain(&self.head.keys)
                    .cloned()
                    .collect();
                pin::check_at_size(pin, &admissible, &known, self.head.frontier.root())?;
            } else if pin.checkpoint().root != self.head.frontier.root() {
                return Err(VerifyErrorKind::PinMismatch {
                    size: pin.checkpoint().size,
                });
            }
        }
        Ok(())
    }

    fn genesis(&mut self, seq: u64, bytes: &[u8]) -> Result<(), VerifyErrorKind> {
        let g = members::genesis(seq, bytes)?;
        if self.opts.check_signatures && !self.trusted.contains(&g.key) {
            return Err(VerifyErrorKind::UntrustedGenesisKey {
                key: g.key.to_string(),
            });
        }
        if let Some(pin) = &self.pin {
            pin::check_origin(pin, &g.origin)?;
        }
        self.head.format = g.format;
        self.head.origin = Some(g.origin);
        self.head.ledger_id = Some(g.ledger_id);
        self.head.keys = vec![g.key.clone()];
        self.head.active_key = Some(g.key);
        Ok(())
    }

    fn rotation(&mut self, seq: u64, bytes: &[u8]) -> Result<(), VerifyErrorKind> {
        let bad = |why: &str| VerifyErrorKind::BadRotation {
            seq,
            why: why.to_owned(),
        };
        if self.rotation.is_some() {
            return Err(bad("two rotations in one batch"));
        }
        let (old, new) = members::rotation(seq, bytes, self.head.format)?;
        if Some(&old) != self.head.active_key.as_ref() {
            return Err(bad("old_key is not the active key"));
        }
        // Signature lines name keys by (name, key id): a new key must not share both with a
        // key the ledger has had, or its lines would be read as the other key's.
        if self
            .head
            .keys
            .iter()
            .any(|k| k.name() == new.name() && k.key_id() == new.key_id())
        {
            return Err(bad(
                "new_key was used before (or has the name and key id of a key used before)",
            ));
        }
        self.rotation = Some(new);
        Ok(())
    }

    fn checkpoint(
        &mut self,
        payload: &[u8],
        segment: u64,
        offset: usize,
    ) -> Result<(), VerifyErrorKind> {
        let after_seq = self.head.entries.saturating_sub(1);
        let signed =
            SignedCheckpoint::parse(payload).map_err(|e| VerifyErrorKind::BadCheckpoint {
                after_seq,
                why: e.to_string(),
            })?;
        let cp = signed.checkpoint();
        if Some(&cp.origin) != self.head.origin.as_ref() {
            return Err(VerifyErrorKind::BadCheckpoint {
                after_seq,
                why: format!("origin {:?} is not the ledger's origin", cp.origin),
            });
        }
        if cp.size != self.head.entries {
            return Err(VerifyErrorKind::CheckpointSizeMismatch {
                stated: cp.size,
                actual: self.head.entries,
            });
        }
        if cp.root != self.head.frontier.root() {
            return Err(VerifyErrorKind::CheckpointRootMismatch { size: cp.size });
        }
        if self.head.format >= Format::V1_1 {
            let stated_prev =
                format::prev_size(cp).map_err(|e| VerifyErrorKind::BadCheckpoint {
                    after_seq,
                    why: e.to_string(),
                })?;
            let actual_prev = self.durable.entries;
            if stated_prev != actual_prev {
                return Err(VerifyErrorKind::MissingCheckpoint {
                    size: cp.size,
                    stated_prev,
                    actual_prev,
                });
            }
        }
        if self.opts.check_signatures {
            let mut required: Vec<VerifierKey> = self.head.active_key.iter().cloned().collect();
            required.extend(self.rotation.iter().cloned());
            // Only the required keys' signatures count, but a line naming any key the verifier
            // knows (trusted, or one this ledger used) must verify (§5.3, Appendix A.4).
            // `required` comes first, so its indices are the same in `known`.
            let mut known = required.clone();
            for k in self.trusted.iter().chain(&self.head.keys) {
                if !known.contains(k) {
                    known.push(k.clone());
                }
            }
            self.sig_jobs.push(signatures::SigJob {
                segment,
                offset,
                size: cp.size,
                signed: signed.clone(),
                required: required.len(),
                known,
            });
        }
        if let Some(new) = self.rotation.take() {
            self.head.keys.push(new.clone());
            self.head.active_key = Some(new);
        }
        self.checkpoints += 1;
        self.pending_since = None;
        self.last_checkpoint = Some(signed);
        self.durable = self.head.clone();
        Ok(())
    }

    /// Ends verification: checks what can only be checked at the end, and reports.
    pub fn finish(self) -> Result<Report, VerifyError> {
        if self.next_segment == 0 {
            return Err(VerifyErrorKind::NoSegments.anywhere());
        }
        if let Some(first_seq) = self.pending_since {
            return Err(VerifyErrorKind::UnsignedTail { first_seq }.anywhere());
        }
        if self.head.entries == 0 {
            return Err(VerifyErrorKind::BadGenesis {
                seq: 0,
                why: "the ledger has no entries".into(),
            }
            .anywhere());
        }
        let origin = self.head.origin.clone().unwrap_or_default();
        let pinned_size = match &self.pin {
            Some(pin) => {
                // A pin within the ledger was checked at its size (`entry`).
                let size =
                    pin::check_at_end(pin, self.head.entries).map_err(VerifyErrorKind::anywhere)?;
                Some(size)
            }
            None => None,
        };
        Ok(Report {
            entries: self.head.entries,
            segments: self.next_segment,
            checkpoints: self.checkpoints,
            first_ts: self.first_ts,
            last_ts: self.head.last_ts,
            origin,
            ledger_id: self.head.ledger_id.clone().unwrap_or_default(),
            keys: self.head.keys.clone(),
            last_checkpoint: self.last_checkpoint,
            root: self.head.frontier.root(),
            head_hash: self.head.prev,
            kinds: self.kinds,
            pinned_size,
            leaves: self.opts.keep_leaves.then_some(self.leaves),
            format: self.head.format,
            warnings: Vec::new(),
        })
    }
}

/// `items.map(f)` on up to `threads` cores (0 = all), in order; sequential below `min_per_thread`
/// items per thread, where spawning would cost more than it saves.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    min_per_thread: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    if threads <= 1 || items.len() < 2 * min_per_thread {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            // A worker only panics on a bug in hashing or parsing; propagate it rather than
            // verify partially.
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The order-independent facts of an entry.
fn entry_facts(payload: &[u8]) -> Facts<'_> {
    Facts {
        header: entry::parse_header(payload),
        hash: entry::entry_hash(payload),
        leaf: merkle::leaf_hash(payload),
    }
}

/// A segment's records as decoded, before the in-order pass.
struct Decoded<'a> {
    records: Vec<Record<'a>>,
    /// One per entry record, in order.
    facts: Vec<Facts<'a>>,
    /// The damaged frame ending the records, at its segment offset.
    frame_error: Option<(usize, FrameError)>,
}

/// A frame's record, and an entry's facts: what the parallel part of decoding computes.
type Checked<'a> = Result<(Record<'a>, Option<Facts<'a>>), FrameError>;

/// The records of `bytes` (which begin at segment byte `start`) and their entries' facts, with
/// the damaged frame that ends them, if any, at its segment offset. Frame lengths are followed
/// in order; checksums, types and entry facts are computed on up to `threads` cores, each
/// frame's bytes read once while in cache.
fn decode_frames(bytes: &[u8], start: usize, threads: usize) -> Decoded<'_> {
    let mut frames = Vec::new();
    let mut offset = 0;
    let mut frame_error = None;
    while offset < bytes.len() {
        match segment::frame_at(bytes, offset) {
            Ok(f) => {
                offset = f.end();
                frames.push(f);
            }
            Err(e) => {
                frame_error = Some((start + offset, e));
                break;
            }
        }
    }
    let checked: Vec<Checked<'_>> = parallel_map(&frames, threads, 256, |f| {
        let r = f.check()?;
        let facts = (r.ty == RecordType::Entry).then(|| entry_facts(r.payload));
        Ok((r, facts))
    });
    let mut records = Vec::with_capacity(checked.len());
    let mut facts = Vec::with_capacity(checked.len());
    for (f, c) in frames.iter().zip(checked) {
        match c {
            Ok((mut r, entry)) => {
                r.offset += start;
                records.push(r);
                facts.extend(entry);
            }
            // An earlier damaged frame ends the records before a later bad length.
            Err(e) => {
                frame_error = Some((start + f.offset, e));
                break;
            }
        }
    }
    Decoded {
        records,
        facts,
        frame_error,
    }
}

/// Verifies the ledger in `dir` (a ledger directory with `segments/`, or a directory of
/// segment files) against `trusted` keys and an optional pinned checkpoint.
pub fn verify_dir(
    dir: &Path,
    trusted: Vec<VerifierKey>,
    pin: Option<SignedCheckpoint>,
    opts: VerifyOptions,
) -> Result<Report, VerifyError> {
    verify_dir_visiting(dir, trusted, pin, opts, &mut |_| {})
}

/// [`verify_dir`], handing every verified entry to `visit` (once its checkpoint verified; if
/// verification fails later, the result is the error).
pub fn verify_dir_visiting(
    dir: &Path,
    trusted: Vec<VerifierKey>,
    pin: Option<SignedCheckpoint>,
    opts: VerifyOptions,
    visit: &mut dyn FnMut(VisitedEntry<'_>),
) -> Result<Report, VerifyError> {
    let seg_dir = segments_dir(dir);
    let io =
        |e: std::io::Error| VerifyErrorKind::Io(format!("{}: {e}", seg_dir.display())).anywhere();
    let names = list_segments(&seg_dir)?;
    let store = FsStore::open_existing(&seg_dir).map_err(io)?;
    let mut v = Verifier::new(trusted, pin, opts);
    store::read_ahead(&store, &names.numbers, &mut |n, bytes| {
        v.feed_segment(n, &bytes.map_err(io)?, visit).map(|_| ())
    })?;
    let mut report = v.finish()?;
    report.warnings = names.warnings;
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    /// Checksums are checked in parallel after the lengths are followed: a damaged checksum
    /// still ends the records before a later bad length, as a scan in order would.
    #[test]
    fn the_first_damaged_frame_in_stream_order_ends_the_records() {
        let mut bytes = Vec::new();
        for i in 0..600u32 {
            segment::encode_record(&mut bytes, RecordType::Entry, &i.to_le_bytes());
        }
        let bad_crc = bytes.len();
        segment::encode_record(&mut bytes, RecordType::Entry, b"damaged");
        bytes[bad_crc + 9] ^= 1;
        segment::encode_record(&mut bytes, RecordType::Entry, b"after");
        bytes.extend_from_slice(&[0u8; 12]); // a zero length: BadLength
        for threads in [1, 2] {
            let d = decode_frames(&bytes, 24, threads);
            assert_eq!(d.records.len(), 600);
            assert_eq!(d.facts.len(), 600);
            assert_eq!(d.records[1].offset, d.records[0].end());
            let (offset, e) = d.frame_error.unwrap();
            assert_eq!(offset, 24 + bad_crc);
            assert!(matches!(e, FrameError::BadChecksum { .. }), "{e:?}");
        }
        let d = decode_frames(&bytes[..bad_crc + 3], 0, 2);
        assert_eq!(d.records.len(), 600);
        assert!(matches!(d.frame_error, Some((o, FrameError::Truncated { .. })) if o == bad_crc));
    }
}

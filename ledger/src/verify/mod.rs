//! Verification: recompute everything a ledger claims, from its segment bytes and trusted keys
//! alone (`docs/ledger-format.md` §8).
//!
//! [`Verifier`] is a streaming, pure state machine: feed it segments in order, then
//! [`Verifier::finish`]. It never trusts the index or any writer metadata. Per-entry work that
//! does not depend on order (checksums, canonical-form check, BLAKE3, the RFC 6962 leaf hash) and
//! the checkpoint signatures run on helper threads while the chain, the tree and the checkpoints
//! are checked in order ([`pipeline`]).
//!
//! The writer reuses the same machine to recover on open ([`Verifier::feed_last_segment`]): one
//! code path decides what a valid ledger is.

mod error;
mod members;
mod names;
mod pin;
mod pipeline;
mod signatures;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::checkpoint::SignedCheckpoint;
use crate::entry::{EntryHeader, HeaderError};
use crate::format::{self, Format};
use crate::keys::VerifierKey;
use crate::merkle::{Frontier, Hash};
use crate::segment::{self, Frame, FrameError, HEADER_LEN, RecordType};
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
#[derive(Debug)]
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

/// By hand for `clone_from`, which reuses the fields' allocations: the verifier copies the head
/// at every checkpoint.
impl Clone for ChainHead {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries,
            prev: self.prev,
            last_ts: self.last_ts,
            frontier: self.frontier.clone(),
            origin: self.origin.clone(),
            ledger_id: self.ledger_id.clone(),
            active_key: self.active_key.clone(),
            keys: self.keys.clone(),
            format: self.format,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.entries = source.entries;
        self.prev = source.prev;
        self.last_ts = source.last_ts;
        self.frontier.clone_from(&source.frontier);
        self.origin.clone_from(&source.origin);
        self.ledger_id.clone_from(&source.ledger_id);
        self.active_key.clone_from(&source.active_key);
        self.keys.clone_from(&source.keys);
        self.format = source.format;
    }
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
    last_checkpoint: Option<Arc<SignedCheckpoint>>,
    leaves: Vec<Hash>,
    /// Checkpoint signatures not yet handed to the pipeline, fewer than a batch.
    sig_jobs: Vec<signatures::SigJob>,
    /// The keys a checkpoint's signature lines are checked against, and how many of them (the
    /// first) are required, while the keys stay the same; `None` after a change.
    signature_keys: Option<(Arc<[VerifierKey]>, usize)>,
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
            signature_keys: None,
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
        v.last_checkpoint = Some(Arc::new(checkpoint));
        v
    }

    /// The chain state after the last verified checkpoint.
    pub fn durable_head(&self) -> &ChainHead {
        &self.durable
    }

    /// The last verified checkpoint.
    pub fn last_checkpoint(&self) -> Option<&SignedCheckpoint> {
        self.last_checkpoint.as_deref()
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
        // Frame lengths are followed in order here; a damaged frame ends the scan, and whether
        // that is an error depends on the mode. Record offsets are the segment's (`start` added).
        let (frames, walk_error) = walk_frames(bytes, start);
        let pipeline = pipeline::Pipeline::new(&frames);
        let mut records = pipeline::Records::new(&pipeline, start, walk_error);
        // Signatures are checked while the pass runs, and waited for after it: a signature
        // failure is always reported in preference to a later failure of the pass.
        let (pass, signatures) = pipeline::run(&pipeline, self.helpers(), || {
            let pass = self.records_pass(number, &mut records, &pipeline, visit);
            pipeline.submit(std::mem::take(&mut self.sig_jobs));
            pass
        });
        signatures?;
        let (durable_len, sealed) = pass?;
        let frame_error = records.frame_error().cloned();
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
            .offsets()
            .filter(|&offset| offset as u64 >= durable_len)
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
        records: &mut pipeline::Records<'_, 'b>,
        pipeline: &pipeline::Pipeline<'b>,
        visit: &mut dyn FnMut(VisitedEntry<'_>),
    ) -> Result<(u64, bool), VerifyError> {
        let mut durable_len = HEADER_LEN as u64;
        let mut batch: Vec<VisitedEntry<'_>> = Vec::new();
        let mut sealed = false;
        while let Some((rec, facts)) = records.next() {
            let at = |k: VerifyErrorKind| k.at(number, rec.offset);
            match rec.ty {
                RecordType::Entry => {
                    if self.last == Last::Seal {
                        return Err(at(VerifyErrorKind::UnexpectedRecord {
                            found: "entry",
                            why: "nothing may follow a seal",
                        }));
                    }
                    let f = facts.ok_or_else(|| {
                        at(VerifyErrorKind::Io(
                            "internal: an entry without its facts".into(),
                        ))
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
                    if self.sig_jobs.len() >= signatures::BATCH {
                        pipeline.submit(std::mem::take(&mut self.sig_jobs));
                    }
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
                    if !records.was_last() {
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

    /// Helper threads next to the pass: all cores but the pass's (`threads` 0 = all).
    fn helpers(&self) -> usize {
        let threads = match self.opts.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        threads - 1
    }

    fn rollback_to_durable(&mut self) {
        let entries = self.durable.entries;
        self.head.clone_from(&self.durable);
        self.rotation = None;
        self.signature_keys = None;
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
        self.signature_keys = None;
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
        self.signature_keys = None;
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
        let size = cp.size;
        let signed = Arc::new(signed);
        if self.opts.check_signatures {
            let (known, required) = self.signature_keys();
            self.sig_jobs.push(signatures::SigJob {
                segment,
                offset,
                size,
                signed: Arc::clone(&signed),
                required,
                known,
            });
        }
        if let Some(new) = self.rotation.take() {
            self.head.keys.push(new.clone());
            self.head.active_key = Some(new);
            self.signature_keys = None;
        }
        self.checkpoints += 1;
        self.pending_since = None;
        self.last_checkpoint = Some(signed);
        self.durable.clone_from(&self.head);
        Ok(())
    }

    /// The keys the next checkpoint's signature lines are checked against, the required first,
    /// and how many are required.
    fn signature_keys(&mut self) -> (Arc<[VerifierKey]>, usize) {
        let (known, required) = self.signature_keys.get_or_insert_with(|| {
            let mut known: Vec<VerifierKey> = self.head.active_key.iter().cloned().collect();
            known.extend(self.rotation.iter().cloned());
            let required = known.len();
            // Only the required keys' signatures count, but a line naming any key the verifier
            // knows (trusted, or one this ledger used) must verify (§5.3, Appendix A.4).
            // The required come first, so their indices are the same in `known`.
            for k in self.trusted.iter().chain(&self.head.keys) {
                if !known.contains(k) {
                    known.push(k.clone());
                }
            }
            (known.into(), required)
        });
        (Arc::clone(known), *required)
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
            last_checkpoint: self.last_checkpoint.map(Arc::unwrap_or_clone),
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

/// The frames of `bytes` (which begin at segment byte `start`), their lengths followed in order,
/// with the damaged frame that ends them, if any, at its segment offset. Checksums and types are
/// checked later, out of order ([`pipeline`]).
fn walk_frames(bytes: &[u8], start: usize) -> (Vec<Frame<'_>>, Option<(usize, FrameError)>) {
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        match segment::frame_at(bytes, offset) {
            Ok(f) => {
                offset = f.end();
                frames.push(f);
            }
            Err(e) => return (frames, Some((start + offset, e))),
        }
    }
    (frames, None)
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
        let (frames, walk_error) = walk_frames(&bytes, 24);
        assert_eq!(frames.len(), 602);
        assert!(matches!(walk_error, Some((_, FrameError::BadLength(0)))));
        for helpers in [0, 1] {
            let pipeline = pipeline::Pipeline::new(&frames);
            let mut records = pipeline::Records::new(&pipeline, 24, walk_error.clone());
            let (taken, signatures) = pipeline::run(&pipeline, helpers, || {
                records.by_ref().map(|(r, _)| r.offset).collect::<Vec<_>>()
            });
            signatures.unwrap();
            assert_eq!(taken.len(), 600);
            assert_eq!(taken[0], 24);
            let (offset, e) = records.frame_error().unwrap();
            assert_eq!(*offset, 24 + bad_crc);
            assert!(matches!(e, FrameError::BadChecksum { .. }), "{e:?}");
        }
        let (frames, walk_error) = walk_frames(&bytes[..bad_crc + 3], 0);
        assert_eq!(frames.len(), 600);
        assert!(matches!(walk_error, Some((o, FrameError::Truncated { .. })) if o == bad_crc));
    }
}

//! The running writer: the batch queue appenders fill, the sequencer (encodes and signs batch
//! N+1) and the syncer (writes and `fdatasync`s batch N), the notifier, and the position they
//! share. See the module header of `writer` for the whole picture.

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::entry::{self, Draft, DraftError};
use crate::index::{EntryLocation, IndexItem};
use crate::keys::SigningKey;
use crate::merkle::{self, Hash};
use crate::segment::{self, HEADER_LEN, RecordType};
use crate::store::{SegmentFile, Store};
use crate::timestamp::Timestamp;
use crate::verify::{ChainHead, KIND_KEY_ROTATED};

use super::resume::{self, HeadAt};
use super::ticket::{Slot, wake};
use super::{AppendError, Appended, IndexMsg, LedgerHead, LedgerOptions, lock};

/// A batch being filled by appenders, or a key rotation (always a batch of its own).
#[derive(Debug)]
pub(super) struct OpenBatch {
    pub(super) drafts: Vec<Draft>,
    pub(super) bytes: usize,
    pub(super) rotation: Option<(Box<SigningKey>, String)>,
    pub(super) slot: Arc<Slot>,
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    pub(super) batches: VecDeque<OpenBatch>,
    pub(super) closed: bool,
    pub(super) writer_idle: bool,
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) failed: Mutex<Option<String>>,
    pub(super) head: Mutex<LedgerHead>,
    pub(super) queue: Mutex<Queue>,
    pub(super) work: Condvar,
    pub(super) max_batch_entries: usize,
    pub(super) max_batch_bytes: usize,
}

/// Makes a batch's outcome visible: the new head, the index items, the failed-closed state.
pub(super) fn publish(
    shared: &Shared,
    r: BatchResult,
    index_tx: Option<&Sender<IndexMsg>>,
) -> Result<Vec<Appended>, AppendError> {
    match r {
        Ok((appended, items)) => {
            if let Some(tx) = index_tx {
                let _ = tx.send(IndexMsg::Items(items));
            }
            Ok(appended)
        }
        Err(e) => {
            if let AppendError::Failed(why) = &e {
                *lock(&shared.failed) = Some(why.clone());
            }
            Err(e)
        }
    }
}

pub(super) type Outcome = (Arc<Slot>, Result<Vec<Appended>, AppendError>);

/// Starts the running writer: a sequencer (encodes and signs batch N+1 while batch N is being
/// synced), a syncer (writes, `fdatasync`s, publishes) and a notifier (wakes appenders).
pub(super) fn spawn_writer(
    w: Writer,
    shared: &Arc<Shared>,
    index_tx: Option<Sender<IndexMsg>>,
) -> io::Result<Vec<JoinHandle<()>>> {
    let (notify_tx, notify_rx) = mpsc::channel::<Outcome>();
    // One prepared batch may wait while another is being synced: enough to overlap the
    // sequencer's CPU work with the syncer's I/O, and no more speculation than that.
    let (prep_tx, prep_rx) = mpsc::sync_channel::<(Prepared, Arc<Slot>)>(0);
    let rewind: Arc<Mutex<Option<(u64, Position)>>> = Arc::default();
    let deliver = |tx: Sender<Outcome>| {
        move |slot: Arc<Slot>, outcome: Result<Vec<Appended>, AppendError>| {
            if let Err(e) = tx.send((slot, outcome)) {
                let (slot, outcome) = e.0;
                wake(&slot, outcome);
            }
        }
    };
    let notifier = std::thread::Builder::new()
        .name("ledger-notify".into())
        .spawn(move || notify_loop(&notify_rx))?;
    let (sh, rw, d) = (shared.clone(), rewind.clone(), deliver(notify_tx.clone()));
    let Writer { mut seq, sync } = w;
    seq.pos = sync.durable.resumed();
    let syncer = std::thread::Builder::new()
        .name("ledger-sync".into())
        .spawn(move || syncer_loop(sync, &sh, &prep_rx, &rw, index_tx.as_ref(), &d))?;
    let (sh, d) = (shared.clone(), deliver(notify_tx));
    let sequencer = std::thread::Builder::new()
        .name("ledger-writer".into())
        .spawn(move || sequencer_loop(seq, &sh, &prep_tx, &rewind, &d))?;
    // Join order on close: the sequencer ends first (queue closed), which closes the syncer's
    // channel, which ends the syncer, which drops the notifier's last sender.
    Ok(vec![sequencer, syncer, notifier])
}

/// Hands outcomes to waiting appenders. Waking a batch's appenders costs the waker a few µs
/// each; doing it here lets the writer start the next batch at once.
pub(super) fn notify_loop(rx: &Receiver<Outcome>) {
    while let Ok((slot, outcome)) = rx.recv() {
        wake(&slot, outcome);
    }
}

/// Everything needed to continue appending after a batch: the chain, the key, the position.
#[derive(Debug, Clone)]
pub(super) struct Position {
    pub(super) head: ChainHead,
    pub(super) key: SigningKey,
    /// Segment the next batch goes to, and its length before that batch.
    pub(super) segment: u64,
    pub(super) seg_len: u64,
    /// The last signed checkpoint note, as stored, and the root it signs.
    pub(super) last_checkpoint: Vec<u8>,
    pub(super) last_root: Hash,
}

impl Position {
    /// The position a sequencer continues from: a segment whose header is still to be written
    /// (length 0) will have it by the time the next batch is written.
    pub(super) fn resumed(&self) -> Self {
        let mut p = self.clone();
        p.seg_len = p.seg_len.max(HEADER_LEN as u64);
        p
    }

    pub(super) fn ledger_head(&self) -> LedgerHead {
        LedgerHead {
            size: self.head.entries,
            root: self.last_root,
            head_hash: self.head.prev,
            checkpoint: self.last_checkpoint.clone(),
            ledger_id: self.head.ledger_id.clone().unwrap_or_default(),
        }
    }
}

/// A batch encoded and signed, ready to be written.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) buf: Vec<u8>,
    pub(super) appended: Vec<Appended>,
    pub(super) items: Vec<IndexItem>,
    /// Where the batch goes: segment and the length it must have before the write.
    pub(super) segment: u64,
    pub(super) offset: u64,
    /// The batch ends its segment.
    pub(super) seal: bool,
    /// Where its last entry record starts and its checkpoint record ends, in `segment`.
    pub(super) last_entry_at: u64,
    pub(super) checkpoint_end: u64,
    /// The batch is a key rotation (its checkpoint is cosigned; no head is saved after it).
    pub(super) rotation: bool,
    /// The position after the batch, once durable.
    pub(super) after: Position,
    /// The sequencer epoch the batch was prepared in (see [`Syncer`]).
    pub(super) epoch: u64,
}

pub(super) type BatchResult = Result<(Vec<Appended>, Vec<IndexItem>), AppendError>;

/// Encodes and signs batches against a speculative position: the position after every batch
/// handed to the [`Syncer`] so far, assumed durable until the syncer says otherwise.
#[derive(Debug)]
pub(super) struct Sequencer {
    pub(super) pos: Position,
    pub(super) opts: LedgerOptions,
    pub(super) epoch: u64,
}

impl Sequencer {
    /// Encodes, hashes and signs one batch. `new_key` marks a rotation batch (cosigned).
    pub(super) fn prepare(
        &mut self,
        drafts: &[&Draft],
        new_key: Option<&SigningKey>,
    ) -> Result<Prepared, AppendError> {
        let mut after = self.pos.clone();
        let head = &mut after.head;
        let prev_size = head.entries;
        let mut buf = Vec::with_capacity(drafts.iter().map(|d| d.encoded_len_hint()).sum());
        let mut scratch = Vec::with_capacity(1024);
        let mut appended = Vec::with_capacity(drafts.len());
        let mut items = Vec::with_capacity(drafts.len());
        let mut last_entry_at = self.pos.seg_len;
        for draft in drafts {
            let now = Timestamp::now();
            let ts = head.last_ts.map_or(now, |last| last.max(now));
            scratch.clear();
            draft.encode_into(head.entries, &ts, &head.prev, &mut scratch);
            if scratch.len() > self.opts.max_entry_bytes {
                return Err(AppendError::TooLarge {
                    size: scratch.len(),
                    limit: self.opts.max_entry_bytes,
                });
            }
            let hash = entry::entry_hash(&scratch);
            items.push(IndexItem {
                seq: head.entries,
                location: EntryLocation {
                    segment: self.pos.segment,
                    offset: self.pos.seg_len + buf.len() as u64,
                    len: scratch.len() as u32,
                },
                kind: draft.kind().to_owned(),
                session: draft.session().map(str::to_owned),
                ts: ts.to_string(),
            });
            last_entry_at = self.pos.seg_len + buf.len() as u64;
            segment::encode_record(&mut buf, RecordType::Entry, &scratch);
            head.frontier.push(merkle::leaf_hash(&scratch));
            appended.push(Appended {
                seq: head.entries,
                ts,
                hash,
                checkpoint_size: 0,
            });
            head.entries += 1;
            head.prev = hash;
            head.last_ts = Some(ts);
        }
        let root = head.frontier.root();
        let checkpoint = Checkpoint {
            origin: head.origin.clone().unwrap_or_default(),
            size: head.entries,
            root,
            extensions: head.format.extensions(prev_size),
        };
        let mut signers = vec![&self.pos.key];
        signers.extend(new_key);
        let signed = SignedCheckpoint::sign(checkpoint, &signers)
            .map_err(|e| AppendError::Io(format!("signing checkpoint: {e}")))?;
        let note = signed.to_bytes();
        segment::encode_record(&mut buf, RecordType::Checkpoint, &note);
        let checkpoint_end = self.pos.seg_len + buf.len() as u64;
        let seal = self.pos.seg_len + buf.len() as u64 >= self.opts.segment_size_limit;
        if seal {
            segment::encode_record(
                &mut buf,
                RecordType::Seal,
                &segment::encode_seal(head.entries),
            );
        }
        for a in &mut appended {
            a.checkpoint_size = head.entries;
        }
        if let Some(k) = new_key {
            head.keys.push(k.verifier_key());
            head.active_key = Some(k.verifier_key());
            after.key = k.clone();
        }
        after.last_checkpoint = note;
        after.last_root = root;
        let (segment, offset) = (self.pos.segment, self.pos.seg_len);
        if seal {
            after.segment += 1;
            after.seg_len = HEADER_LEN as u64;
        } else {
            after.seg_len += buf.len() as u64;
        }
        self.pos = after.clone();
        Ok(Prepared {
            buf,
            appended,
            items,
            segment,
            offset,
            seal,
            last_entry_at,
            checkpoint_end,
            rotation: new_key.is_some(),
            after,
            epoch: self.epoch,
        })
    }

    pub(super) fn rotation_draft(
        &self,
        new_key: &SigningKey,
        reason: &str,
    ) -> Result<Draft, DraftError> {
        Draft::new(KIND_KEY_ROTATED)?
            .with("new_key", &new_key.verifier_key().to_string().into())?
            .with("old_key", &self.pos.key.verifier_key().to_string().into())?
            .with("reason", &reason.into())
    }
}

/// Writes prepared batches and makes them durable, in order. When a batch fails, every batch
/// prepared after it (against a position that will never exist) fails too: the syncer bumps
/// its epoch and tells the sequencer to rewind to the durable position.
#[derive(Debug)]
pub(super) struct Syncer {
    pub(super) store: Arc<dyn Store>,
    /// The active segment; `None` after a seal until the next segment is created.
    pub(super) file: Option<Box<dyn SegmentFile>>,
    /// The durable position.
    pub(super) durable: Position,
    pub(super) failed: Option<String>,
    pub(super) epoch: u64,
    /// Save a head once this many bytes were written since the last one (and at each seal).
    pub(super) save_head_every: u64,
    /// Bytes written (or, after an open, scanned) since the last saved head.
    pub(super) unsaved_bytes: u64,
    /// A head due to be saved after the last batch (see [`Syncer::save_head`]).
    pub(super) due_head: Option<HeadSave>,
}

/// A saved head's bytes, for segment `segment`, covering `entries` entries.
#[derive(Debug)]
pub(super) struct HeadSave {
    pub(super) segment: u64,
    pub(super) entries: u64,
    pub(super) bytes: Vec<u8>,
}

impl HeadSave {
    /// Saves it. A cache: a head that was not saved only means a longer scan on the next open.
    pub(super) fn save(&self, store: &dyn Store) {
        let _ = store.save_head(self.segment, &self.bytes);
    }
}

impl Syncer {
    /// Makes sure segment `durable.segment` is open with a durable header.
    pub(super) fn ensure_segment(&mut self) -> io::Result<()> {
        let number = self.durable.segment;
        if self.file.is_none() {
            let f = match self.store.create(number) {
                Ok(f) => f,
                // A previous attempt created the file but failed after: it holds nothing
                // acknowledged (we hold the lock), so start it over.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let mut f = self.store.open_append(number)?;
                    f.truncate(0)?;
                    f
                }
                Err(e) => return Err(e),
            };
            self.file = Some(f);
            self.durable.seg_len = 0;
        }
        if self.durable.seg_len == 0
            && let Some(f) = self.file.as_mut()
        {
            let header = segment::encode_header(number);
            let r = f.append(&header).and_then(|()| f.sync_data());
            if let Err(e) = r {
                let _ = f.truncate(0);
                return Err(e);
            }
            self.durable.seg_len = HEADER_LEN as u64;
        }
        Ok(())
    }

    /// Writes and syncs one batch. On failure the segment is truncated back to the durable
    /// position (or, if that fails, the ledger fails closed) and the epoch moves on.
    pub(super) fn write(&mut self, p: Prepared) -> BatchResult {
        if let Some(why) = &self.failed {
            return Err(AppendError::Failed(why.clone()));
        }
        if p.epoch != self.epoch {
            return Err(AppendError::Io(
                "not written: an earlier batch could not be made durable".into(),
            ));
        }
        let r = self.write_durably(&p);
        if r.is_err() {
            self.epoch += 1;
            return r.map(|()| (Vec::new(), Vec::new()));
        }
        let sealed_segment = self.durable.segment;
        let at = HeadAt {
            segment: p.segment,
            offset: p.checkpoint_end,
            entry_at: p.last_entry_at,
        };
        self.durable = p.after;
        self.unsaved_bytes += p.buf.len() as u64;
        // The batch is durable and will be acknowledged; a failure from here on only delays
        // the next segment (retried before the next write), or the next open (a head that was
        // not saved only means a longer scan).
        // No head after a key rotation: its cosigned checkpoint could not tell an open which
        // key is active (see `resume`).
        if !p.rotation && (p.seal || self.unsaved_bytes >= self.save_head_every) {
            self.save_head(at);
        }
        if p.seal {
            let _ = self.store.seal(sealed_segment);
            self.file = None;
            self.durable.seg_len = 0;
            let _ = self.ensure_segment();
        }
        Ok((p.appended, p.items))
    }

    /// Makes the durable chain state, that after the batch whose records end at `at` (see
    /// `resume`), the head due to be saved: the caller saves it, or hands it to the indexer.
    fn save_head(&mut self, at: HeadAt) {
        self.due_head = Some(HeadSave {
            segment: at.segment,
            entries: self.durable.head.entries,
            bytes: resume::encode(at, &self.durable.head, &self.durable.last_checkpoint),
        });
        self.unsaved_bytes = 0;
    }

    pub(super) fn write_durably(&mut self, p: &Prepared) -> Result<(), AppendError> {
        self.ensure_segment()
            .map_err(|e| AppendError::Io(e.to_string()))?;
        if (p.segment, p.offset) != (self.durable.segment, self.durable.seg_len) {
            let why = format!(
                "internal: batch prepared for segment {} at {} but the segment is {} at {}",
                p.segment, p.offset, self.durable.segment, self.durable.seg_len
            );
            self.failed = Some(why.clone());
            return Err(AppendError::Failed(why));
        }
        let seg_len = self.durable.seg_len;
        let Some(file) = self.file.as_mut() else {
            return Err(AppendError::Io("no active segment".into()));
        };
        if let Err(e) = file.append(&p.buf).and_then(|()| file.sync_data()) {
            // Undo: the batch must not survive half-written (or written but unacknowledged
            // under a later batch). If the undo fails too, fail closed.
            let undo = file.truncate(seg_len).and_then(|()| file.sync_data());
            return Err(match undo {
                Ok(()) => AppendError::Io(e.to_string()),
                Err(e2) => {
                    let why = format!("write failed ({e}) and could not be undone ({e2})");
                    self.failed = Some(why.clone());
                    AppendError::Failed(why)
                }
            });
        }
        Ok(())
    }
}

/// Sequencer and syncer together, used synchronously while opening (genesis, recovery) and
/// split across two threads once the ledger runs.
#[derive(Debug)]
pub(super) struct Writer {
    pub(super) seq: Sequencer,
    pub(super) sync: Syncer,
}

impl Writer {
    pub(super) fn new(
        store: Arc<dyn Store>,
        file: Option<Box<dyn SegmentFile>>,
        pos: Position,
        opts: LedgerOptions,
    ) -> Self {
        let save_head_every = opts.save_head_every;
        Self {
            seq: Sequencer {
                pos: pos.clone(),
                opts,
                epoch: 0,
            },
            sync: Syncer {
                store,
                file,
                durable: pos,
                failed: None,
                epoch: 0,
                save_head_every,
                unsaved_bytes: 0,
                due_head: None,
            },
        }
    }

    pub(super) fn head(&self) -> &ChainHead {
        &self.sync.durable.head
    }

    /// Prepares and writes one batch on the calling thread.
    pub(super) fn commit_batch(&mut self, drafts: &[&Draft]) -> BatchResult {
        self.sync
            .ensure_segment()
            .map_err(|e| AppendError::Io(e.to_string()))?;
        self.seq.pos = self.sync.durable.resumed();
        let p = self.seq.prepare(drafts, None)?;
        let written = self.sync.write(p);
        if let Some(head) = self.sync.due_head.take() {
            head.save(self.sync.store.as_ref());
        }
        written
    }
}

/// The sequencer's half of the running writer.
pub(super) fn sequencer_loop(
    mut seq: Sequencer,
    shared: &Shared,
    to_syncer: &SyncSender<(Prepared, Arc<Slot>)>,
    rewind: &Mutex<Option<(u64, Position)>>,
    deliver: &dyn Fn(Arc<Slot>, Result<Vec<Appended>, AppendError>),
) {
    let delay = seq.opts.max_batch_delay;
    loop {
        let batch = {
            let mut q = lock(&shared.queue);
            loop {
                if let Some(front) = q.batches.front() {
                    // An optional delay lets a batch fill before it is committed.
                    let filling = front.rotation.is_none()
                        && front.drafts.len() < shared.max_batch_entries
                        && front.bytes < shared.max_batch_bytes;
                    if !delay.is_zero() && filling && q.batches.len() == 1 {
                        q = shared
                            .work
                            .wait_timeout(q, delay)
                            .map(|(g, _)| g)
                            .unwrap_or_else(|e| e.into_inner().0);
                    }
                    match q.batches.pop_front() {
                        Some(b) => break b,
                        None => continue,
                    }
                }
                if q.closed {
                    return;
                }
                q.writer_idle = true;
                q = shared.work.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        if let Some((epoch, pos)) = lock(rewind).take() {
            seq.epoch = epoch;
            seq.pos = pos.resumed();
        }
        let prepared = match &batch.rotation {
            Some((key, reason)) => seq
                .rotation_draft(key, reason)
                .map_err(AppendError::from)
                .and_then(|d| seq.prepare(&[&d], Some(key))),
            None => {
                let drafts: Vec<&Draft> = batch.drafts.iter().collect();
                seq.prepare(&drafts, None)
            }
        };
        match prepared {
            Ok(p) => {
                if let Err(e) = to_syncer.send((p, batch.slot)) {
                    let (_, slot) = e.0;
                    deliver(slot, Err(AppendError::Closed));
                }
            }
            Err(e) => deliver(batch.slot, Err(e)),
        }
    }
}

/// The syncer's half of the running writer.
pub(super) fn syncer_loop(
    mut sync: Syncer,
    shared: &Shared,
    from_sequencer: &Receiver<(Prepared, Arc<Slot>)>,
    rewind: &Mutex<Option<(u64, Position)>>,
    index_tx: Option<&Sender<IndexMsg>>,
    deliver: &dyn Fn(Arc<Slot>, Result<Vec<Appended>, AppendError>),
) {
    while let Ok((p, slot)) = from_sequencer.recv() {
        let epoch = sync.epoch;
        let r = sync.write(p);
        if sync.epoch != epoch {
            *lock(rewind) = Some((sync.epoch, sync.durable.clone()));
        }
        if r.is_ok() {
            *lock(&shared.head) = sync.durable.ledger_head();
        }
        // Appenders may only hear "durable" now: the batch's fdatasync has returned.
        let outcome = publish(shared, r, index_tx);
        if let Some(head) = sync.due_head.take() {
            match index_tx {
                // The indexer saves it once the index holds its entries durably, so that after
                // a crash no head is past the index (an open could not use one that is).
                Some(tx) => {
                    let _ = tx.send(IndexMsg::Head(head));
                }
                None => head.save(sync.store.as_ref()),
            }
        }
        match &outcome {
            // Waking one or two appenders costs no more than waking the notifier: do it here
            // and spare a single appender a thread hop.
            Ok(appended) if appended.len() <= INLINE_WAKEUPS => wake(&slot, outcome),
            _ => deliver(slot, outcome),
        }
    }
}

/// Batches with at most this many appenders are woken by the syncer itself.
pub(super) const INLINE_WAKEUPS: usize = 2;

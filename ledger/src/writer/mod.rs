//! The ledger writer: durable appends with group commit, segment rolling, recovery on open.
//!
//! Appenders put their [`Draft`] into the open batch of a shared queue and wait on that batch's
//! slot — blocking ([`Ledger::append`]) or as a future ([`Ledger::submit`] → [`AppendTicket`]).
//! Three threads run the ledger:
//! - the **sequencer** takes the next batch, assigns seqs and timestamps, encodes, hashes, and
//!   signs one checkpoint for the batch, against the position the previous batch will have once
//!   durable;
//! - the **syncer** writes the batch with one write, `fdatasync`s it, and publishes the new
//!   head, so the sequencer's CPU work on batch N+1 overlaps the I/O of batch N;
//! - the **notifier** wakes the batch's appenders (one wake-up per batch on the syncer's side).
//!
//! A batch that cannot be made durable is undone (truncated away) and each of its appenders gets
//! an error, as does the batch prepared behind it (the syncer's epoch moves on and the sequencer
//! rewinds to the durable position); if even the undo fails, the ledger refuses every later
//! append until it is reopened (fail closed).

mod pipeline;
mod resume;
mod ticket;

pub use resume::HeadRejected;
pub use ticket::AppendTicket;

use pipeline::{HeadSave, OpenBatch, Position, Queue, Shared, Writer, spawn_writer};
use ticket::Slot;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::checkpoint::SignedCheckpoint;
use crate::entry::{self, Draft, DraftError};
use crate::format::Format;
use crate::index::{EntryLocation, Index, IndexError, IndexItem};
use crate::keys::{SigningKey, VerifierKey};
use crate::merkle::{self, Hash};
use crate::segment::{self, HEADER_LEN};
use crate::store::{FsStore, Store, private};
use crate::timestamp::Timestamp;
use crate::verify::{
    self, ChainHead, KIND_GENESIS, KIND_RECOVERED, TornTail, Verifier, VerifyError, VerifyOptions,
};

/// Writer settings. Defaults suit a gateway: no added batching delay (batches form naturally
/// while the previous one is being synced), 64 MiB segments.
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// Roll to a new segment once the active one reaches this many bytes.
    pub segment_size_limit: u64,
    /// Most entries in one batch.
    pub max_batch_entries: usize,
    /// Most encoded bytes in one batch.
    pub max_batch_bytes: usize,
    /// How long the writer waits for more entries before committing a batch that is not full.
    pub max_batch_delay: Duration,
    /// Largest encoded entry accepted.
    pub max_entry_bytes: usize,
    /// Checkpoint origin for a new ledger (default `auditgate.local/<ledger_id>`).
    pub origin: Option<String>,
    /// Maintain the sled index.
    pub index: bool,
    /// Re-read and check every segment on open, ignoring saved heads (see `resume`): slower
    /// as the ledger grows, but the writer then refuses to open a ledger with a damaged old
    /// segment instead of leaving that to `auditgate-verify`.
    pub full_scan_on_open: bool,
    /// The format version of a ledger this writer creates (an existing ledger keeps its own).
    /// 1.1 by default; 1.0 only to produce ledgers as earlier versions wrote them.
    pub format: Format,
    /// Save the chain state (`heads/`, a cache) after a batch once this many bytes have been
    /// written since the last save, as well as after each seal: an open re-reads about this
    /// much at most, plus a batch. 0: after every batch.
    pub save_head_every: u64,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        Self {
            segment_size_limit: 64 * 1024 * 1024,
            max_batch_entries: 1024,
            max_batch_bytes: 4 * 1024 * 1024,
            max_batch_delay: Duration::ZERO,
            max_entry_bytes: 1024 * 1024,
            origin: None,
            index: true,
            full_scan_on_open: false,
            format: Format::default(),
            save_head_every: 4 * 1024 * 1024,
        }
    }
}

/// What an acknowledged append returns: the entry is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Its position.
    pub seq: u64,
    /// Its timestamp.
    pub ts: Timestamp,
    /// Its BLAKE3 entry hash.
    pub hash: Hash,
    /// Size of the signed checkpoint that covers it.
    pub checkpoint_size: u64,
}

/// Why an append was refused. In every case the entry is **not** acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendError {
    /// The draft is invalid.
    #[error(transparent)]
    Draft(#[from] DraftError),
    /// The encoded entry is over the limit.
    #[error("entry of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// The batch could not be made durable and was undone; later appends may succeed.
    #[error("ledger write failed ({0}); the entry was not recorded")]
    Io(String),
    /// A failed batch could not be undone: the ledger refuses appends until reopened.
    #[error(
        "ledger is failed closed after an unrecoverable write error ({0}); reopen it to recover"
    )]
    Failed(String),
    /// The ledger was closed.
    #[error("ledger is closed")]
    Closed,
}

/// Why a ledger could not be created or opened.
#[derive(Debug, Error)]
pub enum OpenError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Another process holds the writer lock.
    #[error("{0}: the ledger is already open in another process")]
    Locked(PathBuf),
    /// `create` found an existing ledger.
    #[error("{0}: a ledger already exists here")]
    AlreadyExists(PathBuf),
    /// `open` found no ledger.
    #[error("{0}: no ledger here (run init first)")]
    NoLedger(PathBuf),
    /// The segments are inconsistent beyond a torn tail: nothing was repaired.
    #[error("ledger is damaged and was not opened: {0}")]
    Damaged(#[from] VerifyError),
    /// The signing key is not the ledger's active key.
    #[error("the signing key {given} is not the ledger's active key {active}")]
    WrongKey {
        /// The key offered.
        given: String,
        /// The key the ledger expects.
        active: String,
    },
    /// A file or folder of the ledger that group or others could read could not be made
    /// owner-only.
    #[error("ledger files must be private: {0}")]
    NotPrivate(#[from] private::TightenError),
    /// The index could not be opened or rebuilt.
    #[error("index: {0}")]
    Index(#[from] IndexError),
    /// The genesis or recovery entry could not be built.
    #[error("{0}")]
    Draft(#[from] DraftError),
    /// Writing the first or recovery batch failed.
    #[error("{0}")]
    Append(#[from] AppendError),
}

/// What opening found and did.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Entries in the ledger when opened.
    pub entries: u64,
    /// A torn tail that was cut (and recorded as a `ledger.recovered` entry).
    pub recovered: Option<TornTail>,
    /// Entries replayed into the index.
    pub reindexed: u64,
    /// The segment the open's scan started in, when it resumed from a saved head (`None`: it
    /// read every segment).
    pub resumed_from: Option<u64>,
    /// The byte of that segment the scan started at (just past the saved head's checkpoint).
    pub resumed_offset: Option<u64>,
    /// Segment bytes the scan that opened the ledger read (from the saved head's last entry on,
    /// or everything).
    pub scanned_bytes: u64,
    /// Why the newest saved head that parsed was not used, if one was not (the open then read
    /// every segment).
    pub head_rejected: Option<HeadRejected>,
    /// Files and folders of the ledger that group or others could reach (left by an earlier
    /// version or another tool), made owner-only; also logged as a `tracing` warning.
    pub tightened: Vec<PathBuf>,
}

/// The ledger's head as of the last durable batch.
#[derive(Debug, Clone)]
pub struct LedgerHead {
    /// Entries.
    pub size: u64,
    /// Merkle root.
    pub root: Hash,
    /// Hash of the last entry.
    pub head_hash: Hash,
    /// The last signed checkpoint, as stored.
    pub checkpoint: Vec<u8>,
    /// Ledger id.
    pub ledger_id: String,
}

enum IndexMsg {
    Items(Vec<IndexItem>),
    Barrier(SyncSender<()>),
    /// A head to save once the index holds its entries durably (sent after them).
    Head(HeadSave),
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The protected data is plain state replaced whole; a panic elsewhere cannot leave it torn.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An open ledger. Cheap to share behind an `Arc`; `append` may be called from many threads.
#[derive(Debug)]
pub struct Ledger {
    shared: Arc<Shared>,
    /// Sequencer, syncer and notifier threads.
    threads: Vec<JoinHandle<()>>,
    indexer: Option<JoinHandle<()>>,
    index: Option<Index>,
    index_tx: Option<Sender<IndexMsg>>,
    store: Arc<dyn Store>,
    max_entry_bytes: usize,
    _lock: Option<File>,
}

/// Layout of a ledger directory.
fn segments_dir(dir: &Path) -> PathBuf {
    dir.join("segments")
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OpenError + '_ {
    move |source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn take_lock(dir: &Path) -> Result<File, OpenError> {
    private::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join("LOCK");
    let file = private::file_options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(OpenError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(&path)(e)),
    }
}

/// Makes everything in the ledger folder owner-only (folders 0700, files without group or other
/// bits), warning about what was not: the ledger holds what agents sent and received.
fn make_private(dir: &Path) -> Result<Vec<PathBuf>, OpenError> {
    let tightened = private::tighten(dir)?;
    if let Some(first) = tightened.first() {
        tracing::warn!(
            dir = %dir.display(),
            count = tightened.len(),
            first = %first.display(),
            "ledger: files or folders were readable by group or others; made them owner-only \
             (folders 0700, files 0600, sealed segments 0400)"
        );
    }
    Ok(tightened)
}

impl Ledger {
    /// Creates a new ledger in `dir` with its genesis entry, signed by `key`.
    pub fn create(dir: &Path, key: SigningKey, opts: LedgerOptions) -> Result<Self, OpenError> {
        let lock = take_lock(dir)?;
        make_private(dir)?;
        let seg = segments_dir(dir);
        let store = FsStore::open(&seg)
            .map_err(io_err(&seg))?
            .with_heads(dir.join("heads"));
        let index = opts.index.then(|| dir.join("index"));
        let mut l = Self::create_in(Arc::new(store), index.as_deref(), key, opts)?;
        l._lock = Some(lock);
        Ok(l)
    }

    /// Opens the ledger in `dir`, recovering from a torn tail if the last writer crashed.
    pub fn open(
        dir: &Path,
        key: SigningKey,
        opts: LedgerOptions,
    ) -> Result<(Self, OpenReport), OpenError> {
        let lock = take_lock(dir)?;
        let seg = segments_dir(dir);
        if !seg.is_dir() {
            return Err(OpenError::NoLedger(dir.to_path_buf()));
        }
        let tightened = make_private(dir)?;
        let store = FsStore::open(&seg)
            .map_err(io_err(&seg))?
            .with_heads(dir.join("heads"));
        let index = opts.index.then(|| dir.join("index"));
        let (mut l, mut report) = Self::open_in(Arc::new(store), index.as_deref(), key, opts)?;
        l._lock = Some(lock);
        report.tightened = tightened;
        Ok((l, report))
    }

    /// [`Ledger::create`] over any store (tests inject faults this way).
    pub fn create_in(
        store: Arc<dyn Store>,
        index_dir: Option<&Path>,
        key: SigningKey,
        opts: LedgerOptions,
    ) -> Result<Self, OpenError> {
        let here = PathBuf::from("segments");
        if !store.list().map_err(io_err(&here))?.is_empty() {
            return Err(OpenError::AlreadyExists(here));
        }
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| io_err(&here)(io::Error::other(e.to_string())))?;
        let ledger_id = hex::encode(id);
        let origin = opts
            .origin
            .clone()
            .unwrap_or_else(|| format!("auditgate.local/{ledger_id}"));
        let genesis = Draft::new(KIND_GENESIS)?
            .with("format", &opts.format.as_str().into())?
            .with("key", &key.verifier_key().to_string().into())?
            .with("ledger_id", &ledger_id.clone().into())?
            .with("origin", &origin.clone().into())?;
        let head = ChainHead {
            entries: 0,
            prev: [0u8; 32],
            last_ts: None,
            frontier: merkle::Frontier::new(),
            origin: Some(origin),
            ledger_id: Some(ledger_id.clone()),
            active_key: Some(key.verifier_key()),
            keys: vec![key.verifier_key()],
            format: opts.format,
        };
        let file = store.create(0).map_err(io_err(&here))?;
        let pos = Position {
            head,
            key,
            segment: 0,
            seg_len: 0,
            last_checkpoint: Vec::new(),
            last_root: merkle::empty_root(),
        };
        let mut w = Writer::new(store.clone(), Some(file), pos, opts.clone());
        w.commit_batch(&[&genesis])?;
        let index = match index_dir {
            Some(dir) => Some(Index::open(dir, &ledger_id)?),
            None => None,
        };
        Self::start(store, index, w, opts, None)
    }

    /// [`Ledger::open`] over any store.
    pub fn open_in(
        store: Arc<dyn Store>,
        index_dir: Option<&Path>,
        key: SigningKey,
        opts: LedgerOptions,
    ) -> Result<(Self, OpenReport), OpenError> {
        let here = PathBuf::from("segments");
        let numbers = store.list().map_err(io_err(&here))?;
        let Some(&last) = numbers.last() else {
            return Err(OpenError::NoLedger(here));
        };
        // The ledger id is in the genesis entry; read it cheaply from segment 0's first record.
        let ledger_id = read_ledger_id(store.as_ref()).unwrap_or_default();
        let index = match index_dir {
            Some(dir) => Some(Index::open(dir, &ledger_id)?),
            None => None,
        };
        let index_from = match &index {
            Some(idx) => idx.indexed_through()?,
            None => u64::MAX,
        };
        let scan_opts = VerifyOptions {
            check_signatures: false,
            ..VerifyOptions::default()
        };
        // Resume from the newest saved head the segments confirm (see `resume`), else read
        // everything; a resumed scan that fails is retried from the start, which reports the
        // real defect (`WrongKey` included).
        let resumed = if opts.full_scan_on_open {
            Err(None)
        } else {
            let key = key.verifier_key();
            let from = ResumeFrom {
                numbers: &numbers,
                ledger_id: &ledger_id,
                index_from,
                key: &key,
            };
            resumed_scan(store.as_ref(), &from, &scan_opts)
        };
        let (resumed_at, head_rejected, scan) = match resumed {
            Ok((at, scan)) => (Some(at), None, scan),
            Err(rejected) => {
                let verifier = Verifier::new(Vec::new(), None, scan_opts);
                let scan = scan_segments(store.as_ref(), verifier, &numbers, index_from, None)?;
                (None, rejected, scan)
            }
        };
        let Scan {
            verifier,
            backlog,
            torn,
            last_end,
            torn_header,
            read: scanned_bytes,
        } = scan;
        let head = verifier.durable_head().clone();
        let active = head
            .active_key
            .clone()
            .ok_or_else(|| OpenError::Damaged(verify_empty()))?;
        if active != key.verifier_key() {
            return Err(OpenError::WrongKey {
                given: key.verifier_key().to_string(),
                active: active.to_string(),
            });
        }

        let mut recovered = torn.clone();
        let (file, seg_no, seg_len) = if torn_header {
            let mut f = store.open_append(last).map_err(io_err(&here))?;
            f.truncate(0).map_err(io_err(&here))?;
            recovered = Some(TornTail {
                segment: last,
                durable_len: 0,
                discarded_bytes: 0,
                discarded_records: 0,
                reason: "segment header torn while the segment was being created".into(),
            });
            (Some(f), last, 0)
        } else if last_end.sealed {
            (None, last, last_end.durable_len)
        } else {
            let mut f = store.open_append(last).map_err(io_err(&here))?;
            if let Some(t) = &torn {
                f.truncate(t.durable_len).map_err(io_err(&here))?;
                f.sync_data().map_err(io_err(&here))?;
            }
            (Some(f), last, last_end.durable_len)
        };
        let pos = Position {
            last_root: head.frontier.root(),
            head,
            key,
            segment: if last_end.sealed && !torn_header {
                last + 1
            } else {
                seg_no
            },
            seg_len,
            last_checkpoint: verifier
                .last_checkpoint()
                .map(SignedCheckpoint::to_bytes)
                .unwrap_or_default(),
        };
        let mut w = Writer::new(store.clone(), file, pos, opts.clone());
        // What this open read is what the next one would read again, until a head is saved.
        w.sync.unsaved_bytes = scanned_bytes;
        if last_end.sealed && !torn_header {
            w.sync.durable.seg_len = 0;
        }
        w.sync.ensure_segment().map_err(io_err(&here))?;
        let entries = w.head().entries;
        if let Some(t) = &recovered {
            let d = Draft::new(KIND_RECOVERED)?
                .with("segment", &t.segment.into())?
                .with("offset", &t.durable_len.into())?
                .with("discarded_bytes", &t.discarded_bytes.into())?
                .with("discarded_records", &t.discarded_records.into())?
                .with("reason", &t.reason.clone().into())?;
            w.commit_batch(&[&d])?;
        }
        let reindexed = backlog.len() as u64;
        let l = Self::start(store, index, w, opts, Some(backlog))?;
        Ok((
            l,
            OpenReport {
                entries,
                recovered,
                reindexed,
                resumed_from: resumed_at.map(|at| at.segment),
                resumed_offset: resumed_at.map(|at| at.offset),
                scanned_bytes,
                head_rejected,
                tightened: Vec::new(),
            },
        ))
    }

    fn start(
        store: Arc<dyn Store>,
        index: Option<Index>,
        writer: Writer,
        opts: LedgerOptions,
        backlog: Option<Vec<IndexItem>>,
    ) -> Result<Self, OpenError> {
        let (index_tx, indexer) = match &index {
            Some(idx) => {
                if let Some(items) = backlog {
                    idx.insert(&items)?;
                }
                let (tx, rx) = mpsc::channel::<IndexMsg>();
                let (worker, heads) = (idx.clone(), store.clone());
                let handle = std::thread::Builder::new()
                    .name("ledger-index".into())
                    .spawn(move || index_loop(&worker, &rx, heads.as_ref()))
                    .map_err(io_err(Path::new("index thread")))?;
                (Some(tx), Some(handle))
            }
            None => (None, None),
        };
        let shared = Arc::new(Shared {
            failed: Mutex::new(None),
            head: Mutex::new(writer.sync.durable.ledger_head()),
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            max_batch_entries: opts.max_batch_entries.max(1),
            max_batch_bytes: opts.max_batch_bytes,
        });
        let max_entry_bytes = opts.max_entry_bytes;
        let barrier_tx = index_tx.clone();
        let threads =
            spawn_writer(writer, &shared, index_tx).map_err(io_err(Path::new("writer threads")))?;
        Ok(Self {
            shared,
            threads,
            indexer,
            index,
            index_tx: barrier_tx,
            store,
            max_entry_bytes,
            _lock: None,
        })
    }

    /// Appends one entry; returns once it is durable (written, `fdatasync`ed, covered by a signed
    /// checkpoint). Blocks the calling thread.
    pub fn append(&self, draft: Draft) -> Result<Appended, AppendError> {
        self.submit(draft)?.wait()
    }

    /// Whether `draft` is certain to fit under the entry limit: its size bound
    /// ([`Draft::encoded_len_hint`]) is within it. A draft up to 200 bytes larger may still fit.
    pub fn fits(&self, draft: &Draft) -> bool {
        draft.encoded_len_hint() <= self.max_entry_bytes
    }

    /// Queues one entry for the next batch and returns at once; the ticket completes when the
    /// entry is durable. `ledger.submit(d)?.await` in async code holds no thread while waiting.
    pub fn submit(&self, draft: Draft) -> Result<AppendTicket, AppendError> {
        // An early refusal of what cannot fit; the sequencer checks the exact encoded size.
        let bytes = draft.encoded_len_hint();
        if bytes > self.max_entry_bytes + entry::OWN_MEMBERS_ALLOWANCE {
            return Err(AppendError::TooLarge {
                size: bytes,
                limit: self.max_entry_bytes,
            });
        }
        self.enqueue(|q, max_entries, max_bytes| {
            let full = q.batches.back().is_none_or(|b| {
                b.rotation.is_some()
                    || b.drafts.len() >= max_entries
                    || (!b.drafts.is_empty() && b.bytes + bytes > max_bytes)
            });
            if full {
                q.batches.push_back(OpenBatch {
                    drafts: Vec::new(),
                    bytes: 0,
                    rotation: None,
                    slot: Arc::default(),
                });
            }
            let b = q.batches.back_mut()?;
            b.drafts.push(draft);
            b.bytes += bytes;
            Some((b.slot.clone(), b.drafts.len() - 1))
        })
    }

    /// Rotates the signing key: appends a `ledger.key_rotated` entry in a batch whose checkpoint
    /// both keys sign; later checkpoints are signed by `new_key` only.
    pub fn rotate_key(&self, new_key: SigningKey, reason: &str) -> Result<Appended, AppendError> {
        let rotation = Some((Box::new(new_key), reason.to_owned()));
        self.enqueue(|q, _, _| {
            let slot = Arc::<Slot>::default();
            q.batches.push_back(OpenBatch {
                drafts: Vec::new(),
                bytes: 0,
                rotation,
                slot: slot.clone(),
            });
            Some((slot, 0))
        })?
        .wait()
    }

    /// Queues work with `push` (which returns the batch's slot and this entry's index in it) and
    /// wakes the writer if it is idle.
    fn enqueue(
        &self,
        push: impl FnOnce(&mut Queue, usize, usize) -> Option<(Arc<Slot>, usize)>,
    ) -> Result<AppendTicket, AppendError> {
        if let Some(why) = lock(&self.shared.failed).clone() {
            return Err(AppendError::Failed(why));
        }
        let mut q = lock(&self.shared.queue);
        if q.closed {
            return Err(AppendError::Closed);
        }
        let (slot, index) = push(
            &mut q,
            self.shared.max_batch_entries,
            self.shared.max_batch_bytes,
        )
        .ok_or(AppendError::Closed)?;
        if q.writer_idle {
            q.writer_idle = false;
            self.shared.work.notify_one();
        }
        Ok(AppendTicket { slot, index })
    }

    /// `Err(reason)` once the ledger has failed closed.
    pub fn health(&self) -> Result<(), String> {
        match lock(&self.shared.failed).clone() {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// The head as of the last durable batch.
    pub fn head(&self) -> LedgerHead {
        lock(&self.shared.head).clone()
    }

    /// The index, if maintained. It may lag the ledger by the batches in flight.
    pub fn index(&self) -> Option<&Index> {
        self.index.as_ref()
    }

    /// Waits until the index holds every entry acknowledged before this call.
    pub fn sync_index(&self) {
        if let Some(tx) = &self.index_tx {
            let (done_tx, done_rx) = mpsc::sync_channel(1);
            if tx.send(IndexMsg::Barrier(done_tx)).is_ok() {
                let _ = done_rx.recv();
            }
        }
    }

    /// Hands `visit` the stored bytes of every entry from the last one `is_mark` accepts to the
    /// end, in order (all entries when none is a mark). Segments are read backward until one
    /// holds a mark, so the cost is that of the entries since the mark, not of the ledger. The
    /// bytes are read as stored, not re-verified; a damaged frame ends a segment's entries.
    pub fn visit_from_last(
        &self,
        is_mark: &dyn Fn(&[u8]) -> bool,
        visit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), io::Error> {
        let numbers = self.store.list()?;
        // Backward, one segment at a time, to the newest segment holding a mark; that segment's
        // bytes are kept for the forward pass, the later ones are read again.
        let mut start = None;
        for &n in numbers.iter().rev() {
            let bytes = self.store.read(n)?;
            let last_mark = entry_payloads(&bytes)
                .enumerate()
                .filter(|(_, p)| is_mark(p))
                .map(|(i, _)| i)
                .last();
            if let Some(i) = last_mark {
                start = Some((n, bytes, i));
                break;
            }
        }
        let (first, bytes, skip) = match start {
            Some(found) => found,
            None => match numbers.first() {
                Some(&n) => (n, self.store.read(n)?, 0),
                None => return Ok(()),
            },
        };
        entry_payloads(&bytes).skip(skip).for_each(&mut *visit);
        for &n in numbers.iter().filter(|&&n| n > first) {
            entry_payloads(&self.store.read(n)?).for_each(&mut *visit);
        }
        Ok(())
    }

    /// Reads entry `seq`'s stored bytes through the index (see [`Ledger::sync_index`]).
    pub fn read_entry(&self, seq: u64) -> Result<Option<Vec<u8>>, io::Error> {
        let Some(index) = &self.index else {
            return Ok(None);
        };
        let Some(run) = index
            .location(seq)
            .map_err(|e| io::Error::other(e.to_string()))?
        else {
            return Ok(None);
        };
        let mut offset = run.offset;
        for _ in 0..run.skip {
            offset += record_len_at(self.store.as_ref(), run.segment, offset)? as u64;
        }
        read_payload_at(self.store.as_ref(), run.segment, offset).map(Some)
    }

    /// Stops the writer after every queued append is answered, and flushes the index.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        {
            let mut q = lock(&self.shared.queue);
            q.closed = true;
            self.shared.work.notify_all();
        }
        self.index_tx.take();
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
        if let Some(h) = self.indexer.take() {
            let _ = h.join();
        }
        if let Some(idx) = &self.index {
            let _ = idx.flush();
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn verify_empty() -> VerifyError {
    VerifyError {
        location: verify::Location::default(),
        kind: verify::VerifyErrorKind::BadGenesis {
            seq: 0,
            why: "the ledger has no checkpointed entries".into(),
        },
    }
}

/// The entry payloads of a segment's bytes, in order, up to the first frame that does not decode.
fn entry_payloads(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut offset = HEADER_LEN;
    std::iter::from_fn(move || {
        while offset < bytes.len() {
            let r = segment::decode_record(bytes, offset).ok()?;
            offset = r.end();
            if r.ty == segment::RecordType::Entry {
                return Some(r.payload);
            }
        }
        None
    })
}

/// What scanning the segments on open established.
struct Scan {
    verifier: Verifier,
    /// Entries the index has not seen yet, to replay into it.
    backlog: Vec<IndexItem>,
    /// A torn tail of the last segment, to cut.
    torn: Option<TornTail>,
    /// Where the last fed segment's durable prefix ends.
    last_end: verify::SegmentEnd,
    /// The last segment is a torn header (a crash while creating it).
    torn_header: bool,
    /// Segment bytes read.
    read: u64,
}

/// The bytes of a scan's first segment from `offset` on, for a scan that resumes there.
struct Rest {
    offset: u64,
    bytes: Vec<u8>,
}

/// Feeds `numbers` (ascending, ending with the ledger's last segment) to `verifier`, the first
/// from `first.offset` on if given (`first.bytes` then holds it); entries from seq `index_from`
/// on are collected for the index.
fn scan_segments(
    store: &dyn Store,
    mut verifier: Verifier,
    numbers: &[u64],
    index_from: u64,
    mut first: Option<Rest>,
) -> Result<Scan, OpenError> {
    let here = PathBuf::from("segments");
    let Some(&last) = numbers.last() else {
        return Err(OpenError::NoLedger(here));
    };
    let mut backlog: Vec<IndexItem> = Vec::new();
    let mut visit = |v: verify::VisitedEntry<'_>| {
        if v.seq >= index_from
            && let Some(item) = index_item_from_bytes(&v)
        {
            backlog.push(item);
        }
    };
    let mut torn = None;
    let mut last_end = verify::SegmentEnd {
        durable_len: HEADER_LEN as u64,
        sealed: false,
    };
    let mut torn_header = false;
    let mut read = 0;
    for &n in numbers {
        if let Some(rest) = first.take() {
            let (end, t) =
                verifier.feed_segment_rest(n, rest.offset, &rest.bytes, n == last, &mut visit)?;
            last_end = end;
            torn = t;
            continue;
        }
        let bytes = store.read(n).map_err(io_err(&here))?;
        read += bytes.len() as u64;
        if n == last {
            let full_header = segment::encode_header(n);
            if n > 0 && bytes.len() < HEADER_LEN && full_header.starts_with(&bytes) {
                // Crash while creating this segment: its predecessor must be sealed.
                if !last_end.sealed {
                    verifier.feed_last_segment(n, &full_header, &mut visit)?;
                }
                torn_header = true;
                break;
            }
            let (end, t) = verifier.feed_last_segment(n, &bytes, &mut visit)?;
            last_end = end;
            torn = t;
        } else {
            last_end = verifier.feed_segment(n, &bytes, &mut visit)?;
        }
    }
    Ok(Scan {
        verifier,
        backlog,
        torn,
        last_end,
        torn_header,
        read,
    })
}

/// What an open resumes with: its segments, the ledger id and the index's progress (a head past
/// it cannot be used), and the writer's key.
struct ResumeFrom<'a> {
    numbers: &'a [u64],
    ledger_id: &'a str,
    index_from: u64,
    key: &'a VerifierKey,
}

/// The scan from the newest saved head the segments confirm (see `resume`), and where it
/// started; or why there is none (`None`: no head parsed and fit).
fn resumed_scan(
    store: &dyn Store,
    from: &ResumeFrom<'_>,
    opts: &VerifyOptions,
) -> Result<(resume::HeadAt, Scan), Option<HeadRejected>> {
    let saved = resume::newest(store, from.numbers, from.ledger_id, from.index_from).ok_or(None)?;
    let confirmed = resume::confirm(store, saved).map_err(Some)?;
    let at = confirmed.at;
    let verifier = Verifier::resume_at(
        opts.clone(),
        at.segment,
        confirmed.head,
        confirmed.checkpoint,
    );
    let rest = Rest {
        offset: at.offset,
        bytes: confirmed.rest,
    };
    let numbers = &from.numbers[from.numbers.partition_point(|&n| n < at.segment)..];
    let mut scan = scan_segments(store, verifier, numbers, from.index_from, Some(rest)).map_err(
        |e| match e {
            OpenError::Damaged(e) => HeadRejected::Scan(e),
            e => HeadRejected::Io(e.to_string()),
        },
    )?;
    // The writer's scan checks no signatures: the last checkpoint must be signed by the
    // caller's key, as the active key the chain leads to.
    if !signed_by(&scan.verifier, from.key) {
        return Err(Some(HeadRejected::NotWritersKey));
    }
    scan.read += confirmed.read;
    Ok((at, scan))
}

/// Whether the chain's active key is `key` and the last checkpoint carries its valid signature.
fn signed_by(verifier: &Verifier, key: &VerifierKey) -> bool {
    let active = verifier.durable_head().active_key.as_ref() == Some(key);
    let signed = verifier.last_checkpoint().is_some_and(|cp| {
        cp.verify(std::slice::from_ref(key))
            .is_ok_and(|by| by == [0])
    });
    active && signed
}

/// The length of the record (frame included) at `offset` of segment `number`, from its frame
/// head alone.
fn record_len_at(store: &dyn Store, number: u64, offset: u64) -> io::Result<usize> {
    let head = store.read_at(number, offset, segment::FRAME_OVERHEAD)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len == 0 || len > segment::MAX_PAYLOAD {
        return Err(bad_frame(segment::FrameError::BadLength(len as u32)));
    }
    Ok(segment::record_len(len))
}

/// The payload of the record at `offset` of segment `number`, reading only that record.
fn read_payload_at(store: &dyn Store, number: u64, offset: u64) -> io::Result<Vec<u8>> {
    let len = record_len_at(store, number, offset)?;
    let frame = store.read_at(number, offset, len)?;
    let rec = segment::decode_record(&frame, 0).map_err(bad_frame)?;
    Ok(rec.payload.to_vec())
}

fn bad_frame(e: segment::FrameError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// The ledger id, from the genesis entry (segment 0's first record).
fn read_ledger_id(store: &dyn Store) -> Option<String> {
    let payload = read_payload_at(store, 0, HEADER_LEN as u64).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    v.get("ledger_id")?.as_str().map(str::to_owned)
}

fn index_item_from_bytes(v: &verify::VisitedEntry<'_>) -> Option<IndexItem> {
    let obj = crate::canonical::check(v.bytes).ok()?;
    Some(IndexItem {
        seq: v.seq,
        location: EntryLocation {
            segment: v.segment,
            offset: v.offset,
            len: v.bytes.len() as u32,
        },
        kind: obj.get_str("kind")?.into_owned(),
        session: obj.get_str("session").map(|s| s.into_owned()),
        ts: obj.get_str("ts")?.into_owned(),
    })
}

/// Most entries the indexer takes from its channel per wake-up.
const INDEX_BATCH: usize = 4096;
/// How often the indexer wakes to gather entries. Sleeping rather than blocking on the channel
/// keeps the writer's sends from being wake-ups (a syscall and a context switch on its path).
const INDEX_DELAY: Duration = Duration::from_millis(100);
/// How long the indexer holds gathered entries, unless a chunk's worth has arrived or a reader
/// waits (`sync_index`) or the ledger closes. sled's cost in time and in memory is per key, and
/// the index writes a few keys per insert whatever its size, so a steady trickle of entries is
/// gathered into few inserts instead of one every wake-up.
const INDEX_GATHER: Duration = Duration::from_secs(1);
/// How often the indexer asks sled to write its dirty pages. sled cannot evict a page from its
/// cache before the page is written, so without this the index's memory grows with the ledger
/// (docs/reliability.md, "Soak").
const INDEX_FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The heads the writer handed the indexer, the newest per segment, each saved once the index
/// holds its entries durably.
#[derive(Default)]
struct HeadAfterIndex {
    /// Ascending; a few at most (the segments sealed within one flush interval, and the active
    /// one).
    pending: Vec<HeadSave>,
    /// Entries inserted into the index, and of those made durable by a flush.
    inserted: u64,
    flushed: u64,
}

impl HeadAfterIndex {
    fn handed(&mut self, head: HeadSave) {
        if self
            .pending
            .last()
            .is_some_and(|h| h.segment == head.segment)
        {
            self.pending.pop();
        }
        self.pending.push(head);
    }

    fn inserted(&mut self, items: &[IndexItem]) {
        if let Some(last) = items.last() {
            self.inserted = self.inserted.max(last.seq + 1);
        }
    }

    fn flushed(&mut self, store: &dyn Store) {
        self.flushed = self.inserted;
        self.save_if_covered(store);
    }

    fn save_if_covered(&mut self, store: &dyn Store) {
        let covered = self.pending.partition_point(|h| h.entries <= self.flushed);
        for head in self.pending.drain(..covered) {
            head.save(store);
        }
    }
}

fn index_loop(index: &Index, rx: &Receiver<IndexMsg>, store: &dyn Store) {
    let mut head = HeadAfterIndex::default();
    let mut items = Vec::new();
    let mut barriers = Vec::new();
    let mut open = true;
    let mut gathering_since: Option<Instant> = None;
    let mut flushed = Instant::now();
    let mut dirty = false;
    while open {
        std::thread::sleep(INDEX_DELAY);
        loop {
            match rx.try_recv() {
                Ok(IndexMsg::Items(more)) => items.extend(more),
                Ok(IndexMsg::Barrier(done)) => barriers.push(done),
                Ok(IndexMsg::Head(h)) => head.handed(h),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
            if items.len() >= INDEX_BATCH {
                break;
            }
        }
        if items.is_empty() {
            gathering_since = None;
        } else {
            let since = *gathering_since.get_or_insert_with(Instant::now);
            let due = !open
                || !barriers.is_empty()
                || items.len() >= Index::CHUNK
                || since.elapsed() >= INDEX_GATHER;
            if due {
                // An index failure never affects the ledger: the index is rebuilt on the next
                // open (and no head is saved past it).
                if index.insert(&items).is_ok() {
                    head.inserted(&items);
                }
                items.clear();
                gathering_since = None;
                dirty = true;
            }
        }
        if dirty && (flushed.elapsed() >= INDEX_FLUSH_EVERY || !open) {
            if index.flush().is_ok() {
                head.flushed(store);
            }
            flushed = Instant::now();
            dirty = false;
        } else {
            // A head that arrived after its entries were flushed.
            head.save_if_covered(store);
        }
        for done in barriers.drain(..) {
            let _ = done.send(());
        }
    }
}

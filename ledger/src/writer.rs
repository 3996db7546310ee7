//! The ledger writer: durable appends with group commit, segment rolling, recovery on open.
//!
//! One writer thread owns the active segment. Appenders hand it a [`Draft`] and block until the
//! batch holding their entry is durable: the writer drains every queued draft (up to the batch
//! bounds), encodes them, signs one checkpoint for the batch, writes the batch with one write,
//! `fdatasync`s it, and only then answers every appender. A batch that cannot be made durable is
//! undone (truncated away) and each of its appenders gets an error; if even the undo fails, the
//! ledger refuses every later append until it is reopened (fail closed).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::entry::{self, Draft, DraftError};
use crate::index::{EntryLocation, Index, IndexError, IndexItem};
use crate::keys::SigningKey;
use crate::merkle::{self, Hash};
use crate::segment::{self, HEADER_LEN, RecordType};
use crate::store::{FsStore, SegmentFile, Store};
use crate::timestamp::Timestamp;
use crate::verify::{
    self, ChainHead, KIND_GENESIS, KIND_KEY_ROTATED, KIND_RECOVERED, TornTail, Verifier,
    VerifyError, VerifyOptions,
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
}

enum Msg {
    Append(Draft, SyncSender<Result<Appended, AppendError>>),
    Rotate(
        Box<SigningKey>,
        String,
        SyncSender<Result<Appended, AppendError>>,
    ),
}

#[derive(Debug)]
struct Shared {
    failed: Mutex<Option<String>>,
    head: Mutex<LedgerHead>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The protected data is plain state replaced whole; a panic elsewhere cannot leave it torn.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An open ledger. Cheap to share behind an `Arc`; `append` may be called from many threads.
#[derive(Debug)]
pub struct Ledger {
    tx: Option<Sender<Msg>>,
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    indexer: Option<JoinHandle<()>>,
    index: Option<Index>,
    index_tx: Option<Sender<IndexMsg>>,
    store: Arc<dyn Store>,
    max_entry_bytes: usize,
    _lock: Option<File>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Append(..) => "Append",
            Msg::Rotate(..) => "Rotate",
        })
    }
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
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
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

impl Ledger {
    /// Creates a new ledger in `dir` with its genesis entry, signed by `key`.
    pub fn create(dir: &Path, key: SigningKey, opts: LedgerOptions) -> Result<Self, OpenError> {
        let lock = take_lock(dir)?;
        let seg = segments_dir(dir);
        let store = FsStore::open(&seg).map_err(io_err(&seg))?;
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
        let store = FsStore::open(&seg).map_err(io_err(&seg))?;
        let index = opts.index.then(|| dir.join("index"));
        let (mut l, report) = Self::open_in(Arc::new(store), index.as_deref(), key, opts)?;
        l._lock = Some(lock);
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
            .with("format", &verify::FORMAT.into())?
            .with("key", &key.verifier_key().to_string().into())?
            .with("ledger_id", &ledger_id.clone().into())?
            .with("origin", &origin.clone().into())?;
        let head = ChainHead {
            entries: 0,
            prev: [0u8; 32],
            last_ts: None,
            frontier: merkle::Frontier::new(),
            origin: Some(origin),
            ledger_id: Some(ledger_id),
            active_key: Some(key.verifier_key()),
            keys: vec![key.verifier_key()],
        };
        let file = store.create(0).map_err(io_err(&here))?;
        let mut w = Writer::new(store.clone(), file, 0, 0, head.clone(), key, opts.clone());
        w.ensure_segment().map_err(|e| io_err(&here)(e))?;
        w.commit_batch(&[(&genesis, None)])?;
        Self::start(store, index_dir, w, opts, None, 0)
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
        let mut verifier = Verifier::new(
            Vec::new(),
            None,
            VerifyOptions {
                check_signatures: false,
                ..VerifyOptions::default()
            },
        );
        // Entries the index has not seen yet, to replay into it.
        let mut backlog: Vec<IndexItem> = Vec::new();
        let index_from = Self::index_start(index_dir, &store)?;
        let mut visit = |v: verify::VisitedEntry<'_>| {
            if v.seq >= index_from
                && let Some(item) = index_item_from_bytes(&v)
            {
                backlog.push(item);
            }
        };
        let mut torn: Option<TornTail> = None;
        let mut last_end = verify::SegmentEnd {
            durable_len: HEADER_LEN as u64,
            sealed: false,
        };
        let mut torn_header = false;
        for &n in &numbers {
            let bytes = store.read(n).map_err(io_err(&here))?;
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
        let mut w = Writer {
            store: store.clone(),
            file,
            segment: seg_no,
            seg_len,
            head,
            key,
            opts: opts.clone(),
            failed: None,
            last_checkpoint: verifier
                .last_checkpoint()
                .map(SignedCheckpoint::to_bytes)
                .unwrap_or_default(),
        };
        if last_end.sealed && !torn_header {
            w.segment = last + 1;
        }
        w.ensure_segment().map_err(io_err(&here))?;
        let entries = w.head.entries;
        if let Some(t) = &recovered {
            let d = Draft::new(KIND_RECOVERED)?
                .with("segment", &t.segment.into())?
                .with("offset", &t.durable_len.into())?
                .with("discarded_bytes", &t.discarded_bytes.into())?
                .with("discarded_records", &t.discarded_records.into())?
                .with("reason", &t.reason.clone().into())?;
            w.commit_batch(&[(&d, None)])?;
        }
        let reindexed = backlog.len() as u64;
        let l = Self::start(store, index_dir, w, opts, Some(backlog), index_from)?;
        Ok((
            l,
            OpenReport {
                entries,
                recovered,
                reindexed,
            },
        ))
    }

    fn index_start(index_dir: Option<&Path>, store: &Arc<dyn Store>) -> Result<u64, OpenError> {
        let Some(dir) = index_dir else {
            return Ok(u64::MAX);
        };
        // The ledger id is in the genesis entry; read it cheaply from segment 0's first record.
        let id = read_ledger_id(store.as_ref()).unwrap_or_default();
        let idx = Index::open(dir, &id)?;
        let through = idx.indexed_through()?;
        drop(idx);
        Ok(through)
    }

    fn start(
        store: Arc<dyn Store>,
        index_dir: Option<&Path>,
        writer: Writer,
        opts: LedgerOptions,
        backlog: Option<Vec<IndexItem>>,
        _index_from: u64,
    ) -> Result<Self, OpenError> {
        let ledger_id = writer.head.ledger_id.clone().unwrap_or_default();
        let (index, index_tx, indexer) = match index_dir {
            Some(dir) => {
                let idx = Index::open(dir, &ledger_id)?;
                if let Some(items) = backlog {
                    idx.insert(&items)?;
                }
                let (tx, rx) = mpsc::channel::<IndexMsg>();
                let worker = idx.clone();
                let handle = std::thread::Builder::new()
                    .name("ledger-index".into())
                    .spawn(move || index_loop(&worker, &rx))
                    .map_err(io_err(dir))?;
                (Some(idx), Some(tx), Some(handle))
            }
            None => (None, None, None),
        };
        let shared = Arc::new(Shared {
            failed: Mutex::new(None),
            head: Mutex::new(writer.ledger_head()),
        });
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread_shared = shared.clone();
        let max_entry_bytes = opts.max_entry_bytes;
        let barrier_tx = index_tx.clone();
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer_loop(writer, &rx, &thread_shared, index_tx))
            .map_err(io_err(Path::new("writer thread")))?;
        Ok(Self {
            tx: Some(tx),
            shared,
            writer: Some(handle),
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
        let size = draft.encoded_len_hint();
        if size > self.max_entry_bytes + 200 {
            return Err(AppendError::TooLarge {
                size,
                limit: self.max_entry_bytes,
            });
        }
        self.submit(|reply| Msg::Append(draft, reply))
    }

    /// Rotates the signing key: appends a `ledger.key_rotated` entry in a batch whose checkpoint
    /// both keys sign; later checkpoints are signed by `new_key` only.
    pub fn rotate_key(&self, new_key: SigningKey, reason: &str) -> Result<Appended, AppendError> {
        let reason = reason.to_owned();
        self.submit(|reply| Msg::Rotate(Box::new(new_key), reason, reply))
    }

    fn submit(
        &self,
        msg: impl FnOnce(SyncSender<Result<Appended, AppendError>>) -> Msg,
    ) -> Result<Appended, AppendError> {
        if let Some(why) = lock(&self.shared.failed).clone() {
            return Err(AppendError::Failed(why));
        }
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let tx = self.tx.as_ref().ok_or(AppendError::Closed)?;
        tx.send(msg(reply_tx)).map_err(|_| AppendError::Closed)?;
        reply_rx.recv().map_err(|_| AppendError::Closed)?
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
        let bad = |e: segment::FrameError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
        let mut offset = run.offset;
        for skipped in 0..=run.skip {
            let head = self.store.read_at(run.segment, offset, segment::FRAME_OVERHEAD)?;
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            if len == 0 || len > segment::MAX_PAYLOAD {
                return Err(bad(segment::FrameError::BadLength(len as u32)));
            }
            if skipped == run.skip {
                let frame = self
                    .store
                    .read_at(run.segment, offset, segment::record_len(len))?;
                let rec = segment::decode_record(&frame, 0).map_err(bad)?;
                return Ok(Some(rec.payload.to_vec()));
            }
            offset += segment::record_len(len) as u64;
        }
        Ok(None)
    }

    /// Stops the writer after every queued append is answered, and flushes the index.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.tx.take();
        self.index_tx.take();
        if let Some(h) = self.writer.take() {
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

fn read_ledger_id(store: &dyn Store) -> Option<String> {
    let bytes = store.read(0).ok()?;
    let rec = segment::decode_record(&bytes, HEADER_LEN).ok()?;
    let v: serde_json::Value = serde_json::from_slice(rec.payload).ok()?;
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

/// Most entries the indexer gathers before writing them to sled.
const INDEX_BATCH: usize = 4096;
/// Longest the indexer waits to gather more entries. sled's cost is per key and per batch
/// (about 50 µs per key one at a time, 6 µs in batches of 100 on this kind of machine); the
/// index stores posting lists per call, so gathering many entries per call keeps the index from
/// competing with the writer for the CPU. Readers that need it current call `sync_index`.
const INDEX_DELAY: Duration = Duration::from_millis(100);

fn index_loop(index: &Index, rx: &Receiver<IndexMsg>) {
    let mut items = Vec::new();
    let mut barriers = Vec::new();
    while let Ok(first) = rx.recv() {
        let deadline = Instant::now() + INDEX_DELAY;
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                IndexMsg::Items(more) => items.extend(more),
                IndexMsg::Barrier(done) => barriers.push(done),
            }
            if !barriers.is_empty() || items.len() >= INDEX_BATCH {
                break;
            }
            next = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok();
        }
        // An index failure never affects the ledger: the index is rebuilt on the next open.
        let _ = index.insert(&items);
        items.clear();
        for done in barriers.drain(..) {
            let _ = done.send(());
        }
    }
}

fn writer_loop(
    mut w: Writer,
    rx: &Receiver<Msg>,
    shared: &Shared,
    index_tx: Option<Sender<IndexMsg>>,
) {
    let mut carry: Option<Msg> = None;
    loop {
        let first = match carry.take() {
            Some(m) => m,
            None => match rx.recv() {
                Ok(m) => m,
                Err(_) => return,
            },
        };
        match first {
            Msg::Rotate(key, reason, reply) => {
                let r = w.rotate(*key, &reason);
                publish(&w, shared, &r, index_tx.as_ref());
                let _ = reply.send(r.map(|(a, _)| a[0]));
            }
            Msg::Append(draft, reply) => {
                let mut batch = vec![(draft, reply)];
                let mut bytes = batch[0].0.encoded_len_hint();
                let deadline = Instant::now() + w.opts.max_batch_delay;
                while batch.len() < w.opts.max_batch_entries && bytes < w.opts.max_batch_bytes {
                    let next = if w.opts.max_batch_delay.is_zero() {
                        rx.try_recv().ok()
                    } else {
                        rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                            .ok()
                    };
                    match next {
                        Some(Msg::Append(d, r)) => {
                            bytes += d.encoded_len_hint();
                            batch.push((d, r));
                        }
                        Some(other) => {
                            carry = Some(other);
                            break;
                        }
                        None => break,
                    }
                }
                let drafts: Vec<(&Draft, Option<&SigningKey>)> =
                    batch.iter().map(|(d, _)| (d, None)).collect();
                let r = w.commit_batch(&drafts);
                publish(&w, shared, &r, index_tx.as_ref());
                match r {
                    Ok((appended, _)) => {
                        for ((_, reply), a) in batch.into_iter().zip(appended) {
                            let _ = reply.send(Ok(a));
                        }
                    }
                    Err(e) => {
                        for (_, reply) in batch {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        }
    }
}

type BatchResult = Result<(Vec<Appended>, Vec<IndexItem>), AppendError>;

fn publish(w: &Writer, shared: &Shared, r: &BatchResult, index_tx: Option<&Sender<IndexMsg>>) {
    match r {
        Ok((_, items)) => {
            *lock(&shared.head) = w.ledger_head();
            if let Some(tx) = index_tx {
                let _ = tx.send(IndexMsg::Items(items.clone()));
            }
        }
        Err(AppendError::Failed(why)) => {
            *lock(&shared.failed) = Some(why.clone());
        }
        Err(_) => {}
    }
}

/// The writer thread's state.
#[derive(Debug)]
struct Writer {
    store: Arc<dyn Store>,
    /// The active segment; `None` after a seal until the next segment is created.
    file: Option<Box<dyn SegmentFile>>,
    segment: u64,
    seg_len: u64,
    head: ChainHead,
    key: SigningKey,
    opts: LedgerOptions,
    failed: Option<String>,
    /// The last signed checkpoint note, as stored.
    last_checkpoint: Vec<u8>,
}

impl Writer {
    fn new(
        store: Arc<dyn Store>,
        file: Box<dyn SegmentFile>,
        segment: u64,
        seg_len: u64,
        head: ChainHead,
        key: SigningKey,
        opts: LedgerOptions,
    ) -> Self {
        Self {
            store,
            file: Some(file),
            segment,
            seg_len,
            head,
            key,
            opts,
            failed: None,
            last_checkpoint: Vec::new(),
        }
    }

    fn ledger_head(&self) -> LedgerHead {
        LedgerHead {
            size: self.head.entries,
            root: self.head.frontier.root(),
            head_hash: self.head.prev,
            checkpoint: self.last_checkpoint.clone(),
            ledger_id: self.head.ledger_id.clone().unwrap_or_default(),
        }
    }

    /// Makes sure an active segment with a durable header exists.
    fn ensure_segment(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            let f = match self.store.create(self.segment) {
                Ok(f) => f,
                // A previous attempt created the file but failed after: it holds nothing
                // acknowledged (we hold the lock), so start it over.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let mut f = self.store.open_append(self.segment)?;
                    f.truncate(0)?;
                    f
                }
                Err(e) => return Err(e),
            };
            self.file = Some(f);
            self.seg_len = 0;
        }
        if self.seg_len == 0
            && let Some(f) = self.file.as_mut()
        {
            let header = segment::encode_header(self.segment);
            let r = f.append(&header).and_then(|()| f.sync_data());
            if let Err(e) = r {
                let _ = f.truncate(0);
                return Err(e);
            }
            self.seg_len = HEADER_LEN as u64;
        }
        Ok(())
    }

    fn rotate(&mut self, new_key: SigningKey, reason: &str) -> BatchResult {
        let d = Draft::new(KIND_KEY_ROTATED)?
            .with("new_key", &new_key.verifier_key().to_string().into())?
            .with("old_key", &self.key.verifier_key().to_string().into())?
            .with("reason", &reason.into())?;
        let r = self.commit_batch(&[(&d, Some(&new_key))])?;
        self.head.keys.push(new_key.verifier_key());
        self.head.active_key = Some(new_key.verifier_key());
        self.key = new_key;
        Ok(r)
    }

    /// Encodes, signs, writes and syncs one batch. On success the state advances; on failure
    /// it is unchanged and the segment is truncated back to where it was.
    fn commit_batch(&mut self, drafts: &[(&Draft, Option<&SigningKey>)]) -> BatchResult {
        if let Some(why) = &self.failed {
            return Err(AppendError::Failed(why.clone()));
        }
        self.ensure_segment()
            .map_err(|e| AppendError::Io(e.to_string()))?;
        let mut head = self.head.clone();
        let mut buf = Vec::with_capacity(drafts.iter().map(|(d, _)| d.encoded_len_hint()).sum());
        let mut scratch = Vec::with_capacity(1024);
        let mut appended = Vec::with_capacity(drafts.len());
        let mut items = Vec::with_capacity(drafts.len());
        let mut cosigner = None;
        for (draft, new_key) in drafts {
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
                    segment: self.segment,
                    offset: self.seg_len + buf.len() as u64,
                    len: scratch.len() as u32,
                },
                kind: draft.kind().to_owned(),
                session: draft.session().map(str::to_owned),
                ts: ts.to_string(),
            });
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
            if new_key.is_some() {
                cosigner = *new_key;
            }
        }
        let checkpoint = Checkpoint {
            origin: head.origin.clone().unwrap_or_default(),
            size: head.entries,
            root: head.frontier.root(),
            extensions: Vec::new(),
        };
        let mut signers = vec![&self.key];
        signers.extend(cosigner);
        let signed = SignedCheckpoint::sign(checkpoint, &signers)
            .map_err(|e| AppendError::Io(format!("signing checkpoint: {e}")))?;
        let note = signed.to_bytes();
        segment::encode_record(&mut buf, RecordType::Checkpoint, &note);
        let seal = self.seg_len + buf.len() as u64 >= self.opts.segment_size_limit;
        if seal {
            segment::encode_record(
                &mut buf,
                RecordType::Seal,
                &segment::encode_seal(head.entries),
            );
        }

        let Some(file) = self.file.as_mut() else {
            return Err(AppendError::Io("no active segment".into()));
        };
        if let Err(e) = file.append(&buf).and_then(|()| file.sync_data()) {
            // Undo: the batch must not survive half-written (or written but unacknowledged
            // under a later batch). If the undo fails too, fail closed.
            let undo = file.truncate(self.seg_len).and_then(|()| file.sync_data());
            return Err(match undo {
                Ok(()) => AppendError::Io(e.to_string()),
                Err(e2) => {
                    let why = format!("write failed ({e}) and could not be undone ({e2})");
                    self.failed = Some(why.clone());
                    AppendError::Failed(why)
                }
            });
        }
        self.seg_len += buf.len() as u64;
        self.head = head;
        for a in &mut appended {
            a.checkpoint_size = self.head.entries;
        }
        self.last_checkpoint = note;
        if seal {
            // The batch is durable and will be acknowledged; a failure from here on only
            // delays the next segment (retried by `ensure_segment` on the next batch).
            let _ = self.store.seal(self.segment);
            self.file = None;
            self.segment += 1;
            let _ = self.ensure_segment();
        }
        Ok((appended, items))
    }
}

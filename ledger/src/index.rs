//! The sled index: seq → location, session → seqs, kind → seqs, time → seq.
//!
//! sled's cost is per key (it rewrites tree nodes), so the two trees whose answers can be
//! found by reading a little further are sparse: `seq` holds one key per run of contiguous entry
//! frames (a batch), and `time` one key per millisecond; `session` and `kind` hold one posting
//! list (the seqs, 8 bytes each) per key per insert call, and the writer's indexer gathers
//! thousands of entries per call.
//!
//! **Never a source of truth.** sled 0.34's flush is not a durability guarantee, so the index may
//! lag the segments or be lost; it records how far it got (`indexed_through`) and the writer
//! replays the segments from there on open, or rebuilds it from scratch when it is missing,
//! belongs to another ledger, or cannot be opened.

use std::path::Path;

use thiserror::Error;

/// A failure of the index (never of the ledger: the caller may rebuild).
#[derive(Debug, Error)]
pub enum IndexError {
    /// sled failed.
    #[error("index database: {0}")]
    Db(#[from] sled::Error),
}

/// Where an entry's frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryLocation {
    /// Segment number.
    pub segment: u64,
    /// Byte offset of the frame.
    pub offset: u64,
    /// Payload length.
    pub len: u32,
}

/// Where to find an entry through the sparse `seq` tree: the start of the run of contiguous
/// entry frames holding it, and how many frames to skip from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLocation {
    /// Segment number.
    pub segment: u64,
    /// Byte offset of the run's first frame.
    pub offset: u64,
    /// Entry frames to skip from `offset` to reach the entry.
    pub skip: u64,
}

/// One entry to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexItem {
    /// Entry seq.
    pub seq: u64,
    /// Where it is.
    pub location: EntryLocation,
    /// Its kind.
    pub kind: String,
    /// Its session, if any.
    pub session: Option<String>,
    /// Its timestamp (30 bytes).
    pub ts: String,
}

/// The index database.
#[derive(Debug, Clone)]
pub struct Index {
    db: sled::Db,
    seqs: sled::Tree,
    sessions: sled::Tree,
    kinds: sled::Tree,
    times: sled::Tree,
    meta: sled::Tree,
}

const META_LEDGER: &[u8] = b"ledger_id";
const META_THROUGH: &[u8] = b"indexed_through";

impl Index {
    /// Opens the index at `path` for ledger `ledger_id`; an index of another ledger, or one that
    /// cannot be opened, is wiped and started afresh.
    pub fn open(path: &Path, ledger_id: &str) -> Result<Self, IndexError> {
        let idx = match Self::open_raw(path) {
            Ok(idx) => idx,
            Err(_) => {
                let _ = std::fs::remove_dir_all(path);
                Self::open_raw(path)?
            }
        };
        if idx.meta.get(META_LEDGER)?.as_deref() != Some(ledger_id.as_bytes()) {
            for t in [&idx.seqs, &idx.sessions, &idx.kinds, &idx.times, &idx.meta] {
                t.clear()?;
            }
            idx.meta.insert(META_LEDGER, ledger_id.as_bytes())?;
        }
        Ok(idx)
    }

    fn open_raw(path: &Path) -> Result<Self, IndexError> {
        // No periodic fsync: the index is rebuildable, and sled's background flushes would
        // share the disk's journal commits with the ledger's fdatasync (ext4 ordered mode)
        // for nothing. It is flushed when the ledger closes.
        let db = sled::Config::new()
            .path(path)
            .flush_every_ms(None)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Ok(Self {
            seqs: db.open_tree("seq")?,
            sessions: db.open_tree("session")?,
            kinds: db.open_tree("kind")?,
            times: db.open_tree("time")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }

    /// The first seq not yet indexed.
    pub fn indexed_through(&self) -> Result<u64, IndexError> {
        Ok(self
            .meta
            .get(META_THROUGH)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Indexes a batch of consecutive entries, then advances `indexed_through`.
    pub fn insert(&self, items: &[IndexItem]) -> Result<(), IndexError> {
        let Some(last) = items.last() else {
            return Ok(());
        };
        let (mut seqs, mut sessions, mut kinds, mut times) = (
            sled::Batch::default(),
            sled::Batch::default(),
            sled::Batch::default(),
            sled::Batch::default(),
        );
        let mut prev_ts: Option<&str> = None;
        // Posting lists gathered over the whole call: one sled key per (session or kind, call).
        let mut by_session: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut by_kind: Vec<(&str, Vec<u8>)> = Vec::new();
        // The run being built: (first seq, segment, first offset, count, end offset).
        let mut run: Option<(u64, u64, u64, u64, u64)> = None;
        let flush_run = |batch: &mut sled::Batch, run: (u64, u64, u64, u64, u64)| {
            let mut v = Vec::with_capacity(24);
            v.extend_from_slice(&run.1.to_be_bytes());
            v.extend_from_slice(&run.2.to_be_bytes());
            v.extend_from_slice(&run.3.to_be_bytes());
            batch.insert(&run.0.to_be_bytes(), v);
        };
        for it in items {
            let seq = it.seq.to_be_bytes();
            let loc = it.location;
            let end = loc.offset + crate::segment::record_len(loc.len as usize) as u64;
            run = match run {
                Some((first, segment, offset, count, run_end))
                    if segment == loc.segment
                        && run_end == loc.offset
                        && first + count == it.seq =>
                {
                    Some((first, segment, offset, count + 1, end))
                }
                other => {
                    if let Some(done) = other {
                        flush_run(&mut seqs, done);
                    }
                    Some((it.seq, loc.segment, loc.offset, 1, end))
                }
            };
            if let Some(s) = &it.session {
                postings(&mut by_session, s).extend_from_slice(&seq);
            }
            postings(&mut by_kind, &it.kind).extend_from_slice(&seq);
            // One time key per distinct timestamp prefix to the millisecond is enough for
            // "first entry at or after T" to land within a millisecond of T.
            let ms = &it.ts[..it.ts.len().min(23)];
            if prev_ts != Some(ms) {
                times.insert(compound(it.ts.as_bytes(), &seq), &[]);
                prev_ts = Some(ms);
            }
        }
        if let Some(done) = run {
            flush_run(&mut seqs, done);
        }
        for (tree_batch, lists) in [(&mut sessions, by_session), (&mut kinds, by_kind)] {
            for (key, list) in lists {
                // Keyed by the list's first seq, so lists of one key stay in seq order.
                tree_batch.insert(
                    compound(key.as_bytes(), &list[..8].try_into().unwrap_or([0; 8])),
                    list,
                );
            }
        }
        self.seqs.apply_batch(seqs)?;
        self.sessions.apply_batch(sessions)?;
        self.kinds.apply_batch(kinds)?;
        self.times.apply_batch(times)?;
        // Written last, so `indexed_through` never claims more than the trees hold.
        self.meta
            .insert(META_THROUGH, &(last.seq + 1).to_be_bytes())?;
        Ok(())
    }

    /// Where entry `seq` is: its run's start and how many frames to skip.
    pub fn location(&self, seq: u64) -> Result<Option<RunLocation>, IndexError> {
        let Some((k, v)) = self
            .seqs
            .range(..=seq.to_be_bytes())
            .next_back()
            .transpose()?
        else {
            return Ok(None);
        };
        let (first, v) = (be_u64(&k), v.as_ref());
        if v.len() != 24 || seq >= first + be_u64(&v[16..24]) {
            return Ok(None);
        }
        Ok(Some(RunLocation {
            segment: be_u64(&v[0..8]),
            offset: be_u64(&v[8..16]),
            skip: seq - first,
        }))
    }

    /// Seqs of a session's entries, ascending.
    pub fn session(&self, session: &str) -> Result<Vec<u64>, IndexError> {
        self.seqs_with_prefix(&self.sessions, session.as_bytes())
    }

    /// Seqs of entries of a kind, ascending.
    pub fn kind(&self, kind: &str) -> Result<Vec<u64>, IndexError> {
        self.seqs_with_prefix(&self.kinds, kind.as_bytes())
    }

    /// Where to start reading for entries at or after the timestamp `ts`: a seq no later than
    /// the first such entry, and at most a millisecond's worth of entries before it (the time
    /// tree is sparse). Callers read forward from it and filter on `ts`.
    pub fn seek_time(&self, ts: &str) -> Result<u64, IndexError> {
        Ok(self
            .times
            .range(..ts.as_bytes())
            .next_back()
            .transpose()?
            .map_or(0, |(k, _)| be_u64(&k[k.len() - 8..])))
    }

    /// Asks sled to write its buffers (best effort; not a durability guarantee).
    pub fn flush(&self) -> Result<(), IndexError> {
        self.db.flush()?;
        Ok(())
    }

    fn seqs_with_prefix(&self, tree: &sled::Tree, key: &[u8]) -> Result<Vec<u64>, IndexError> {
        let mut prefix = key.to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for r in tree.scan_prefix(&prefix) {
            let (_, list) = r?;
            out.extend(list.chunks_exact(8).map(be_u64));
        }
        Ok(out)
    }
}

/// The posting list for `key` among `lists` (few distinct keys per call: a linear scan).
fn postings<'a, 'l>(lists: &'l mut Vec<(&'a str, Vec<u8>)>, key: &'a str) -> &'l mut Vec<u8> {
    let pos = match lists.iter().position(|(k, _)| *k == key) {
        Some(p) => p,
        None => {
            lists.push((key, Vec::new()));
            lists.len() - 1
        }
    };
    &mut lists[pos].1
}

/// `key || 0x00 || seq` so that prefix scans of one key return its seqs in order. Keys never
/// contain NUL (kinds are `[a-z0-9_.]`, sessions are generated ids, timestamps are ASCII).
fn compound(key: &[u8], seq: &[u8; 8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 9);
    k.extend_from_slice(key);
    k.push(0);
    k.extend_from_slice(seq);
    k
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(seq: u64, kind: &str, session: Option<&str>) -> IndexItem {
        IndexItem {
            seq,
            location: EntryLocation {
                segment: seq / 10,
                offset: seq * 100,
                len: 50,
            },
            kind: kind.into(),
            session: session.map(Into::into),
            ts: format!("2026-01-01T00:00:{:02}.000000000Z", seq % 60),
        }
    }

    #[test]
    fn contiguous_frames_share_one_run_key() {
        let dir = tempfile::tempdir().unwrap();
        let idx = Index::open(dir.path(), "c".repeat(32).as_str()).unwrap();
        let frame = crate::segment::record_len(50) as u64;
        let at = |seq: u64, offset: u64| IndexItem {
            location: EntryLocation {
                segment: 0,
                offset,
                len: 50,
            },
            ..item(seq, "call", None)
        };
        // A batch of 3 contiguous entries, a checkpoint (100 bytes), a batch of 2.
        let items = [
            at(0, 24),
            at(1, 24 + frame),
            at(2, 24 + 2 * frame),
            at(3, 24 + 3 * frame + 100),
            at(4, 24 + 4 * frame + 100),
        ];
        idx.insert(&items).unwrap();
        assert_eq!(idx.seqs.len(), 2);
        let l = idx.location(2).unwrap().unwrap();
        assert_eq!((l.offset, l.skip), (24, 2));
        let l = idx.location(4).unwrap().unwrap();
        assert_eq!((l.offset, l.skip), (24 + 3 * frame + 100, 1));
        assert_eq!(idx.location(5).unwrap(), None);
    }

    #[test]
    fn indexes_and_queries() {
        let dir = tempfile::tempdir().unwrap();
        let idx = Index::open(dir.path(), "a".repeat(32).as_str()).unwrap();
        assert_eq!(idx.indexed_through().unwrap(), 0);
        idx.insert(&[item(0, "ledger.genesis", None), item(1, "call", Some("s1"))])
            .unwrap();
        idx.insert(&[item(2, "call", Some("s2")), item(3, "call", Some("s1"))])
            .unwrap();
        assert_eq!(idx.indexed_through().unwrap(), 4);
        assert_eq!(idx.session("s1").unwrap(), vec![1, 3]);
        assert_eq!(idx.kind("call").unwrap(), vec![1, 2, 3]);
        // Items 0..4 are not contiguous frames (offsets 100 apart, 59-byte frames): one run each.
        assert_eq!(idx.location(3).unwrap().unwrap().offset, 300);
        assert_eq!(idx.location(4).unwrap(), None);
        assert_eq!(idx.seek_time("2026-01-01T00:00:02").unwrap(), 1);
        drop(idx);
        let other = Index::open(dir.path(), "b".repeat(32).as_str()).unwrap();
        assert_eq!(
            other.indexed_through().unwrap(),
            0,
            "another ledger's index is wiped"
        );
    }
}

//! The sled index: seq → location, session → seqs, kind → seqs, time → seq.
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
        let db = sled::Config::new().path(path).open()?;
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
        for it in items {
            let seq = it.seq.to_be_bytes();
            let mut loc = Vec::with_capacity(20);
            loc.extend_from_slice(&it.location.segment.to_be_bytes());
            loc.extend_from_slice(&it.location.offset.to_be_bytes());
            loc.extend_from_slice(&it.location.len.to_be_bytes());
            seqs.insert(&seq, loc);
            if let Some(s) = &it.session {
                sessions.insert(compound(s.as_bytes(), &seq), &[]);
            }
            kinds.insert(compound(it.kind.as_bytes(), &seq), &[]);
            times.insert(compound(it.ts.as_bytes(), &seq), &[]);
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

    /// Where entry `seq` is.
    pub fn location(&self, seq: u64) -> Result<Option<EntryLocation>, IndexError> {
        Ok(self.seqs.get(seq.to_be_bytes())?.and_then(|v| {
            let v = v.as_ref();
            (v.len() == 20).then(|| EntryLocation {
                segment: be_u64(&v[0..8]),
                offset: be_u64(&v[8..16]),
                len: u32::from_be_bytes([v[16], v[17], v[18], v[19]]),
            })
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

    /// The first entry with `ts` at or after the given timestamp text.
    pub fn first_at_or_after(&self, ts: &str) -> Result<Option<u64>, IndexError> {
        Ok(self
            .times
            .range(ts.as_bytes()..)
            .next()
            .transpose()?
            .map(|(k, _)| be_u64(&k[k.len() - 8..])))
    }

    /// Asks sled to write its buffers (best effort; not a durability guarantee).
    pub fn flush(&self) -> Result<(), IndexError> {
        self.db.flush()?;
        Ok(())
    }

    fn seqs_with_prefix(&self, tree: &sled::Tree, key: &[u8]) -> Result<Vec<u64>, IndexError> {
        let mut prefix = key.to_vec();
        prefix.push(0);
        tree.scan_prefix(&prefix)
            .map(|r| {
                r.map(|(k, _)| be_u64(&k[k.len() - 8..]))
                    .map_err(IndexError::from)
            })
            .collect()
    }
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
        assert_eq!(idx.location(3).unwrap().unwrap().offset, 300);
        assert_eq!(
            idx.first_at_or_after("2026-01-01T00:00:02").unwrap(),
            Some(2)
        );
        drop(idx);
        let other = Index::open(dir.path(), "b".repeat(32).as_str()).unwrap();
        assert_eq!(
            other.indexed_through().unwrap(),
            0,
            "another ledger's index is wiped"
        );
    }
}

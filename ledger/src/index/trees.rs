//! One segment's index: five sled trees (seq, session, kind, time, meta) in one sled database.
//!
//! sled's cost, in time and in memory, is per key and per byte held (sled 0.34 keeps much of an
//! open database in memory whatever its cache size, upstream issues #1036 and #1410; that is why
//! [`super::Index`] keeps one database per segment and closes it when the segment is sealed).
//! The two trees whose answers can be found by reading a little further are sparse, one key per
//! chunk of up to [`super::Index::CHUNK`] entries: `seq` holds the chunk's runs of contiguous
//! entry frames (a group commit's entries are one run), and `time` the chunk's first timestamp;
//! `session` and `kind` hold one posting list (the seqs, 8 bytes each) per key per chunk.

use std::path::Path;

use super::{IndexError, IndexItem, RunLocation};
use crate::store::private;

/// One segment's sled database.
#[derive(Debug, Clone)]
pub(super) struct Trees {
    db: sled::Db,
    seqs: sled::Tree,
    sessions: sled::Tree,
    kinds: sled::Tree,
    times: sled::Tree,
    meta: sled::Tree,
}

/// sled's page cache. Its default (1 GiB) lets the cache hold the whole database; with this and
/// the indexer's flush once a second (a dirty page cannot be evicted before it is written),
/// what remains grows with the database, about 40 bytes per entry indexed, until the segment
/// is sealed and its database closed.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;
const META_THROUGH: &[u8] = b"indexed_through";
/// The segment's first entry: its seq (8 bytes) and timestamp.
const META_FIRST: &[u8] = b"first";

impl Trees {
    /// Opens (or creates) the database at `path`, owner-only (see `super`).
    pub(super) fn open(path: &Path) -> Result<Self, IndexError> {
        private::create_dir_all(path)?;
        // No background flushes: the index is rebuildable, and sled's timer would share the
        // disk's journal commits with the ledger's fdatasync (ext4 ordered mode). The indexer
        // flushes at most once a second, and when the segment is sealed or the ledger closes.
        let db = sled::Config::new()
            .path(path)
            .flush_every_ms(None)
            .cache_capacity(CACHE_BYTES)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        private::tighten(path)?;
        Ok(Self {
            seqs: db.open_tree("seq")?,
            sessions: db.open_tree("session")?,
            kinds: db.open_tree("kind")?,
            times: db.open_tree("time")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }

    /// Records the segment's first entry (before its first insert).
    pub(super) fn set_first(&self, seq: u64, ts: &str) -> Result<(), IndexError> {
        let mut v = seq.to_be_bytes().to_vec();
        v.extend_from_slice(ts.as_bytes());
        self.meta.insert(META_FIRST, v)?;
        Ok(())
    }

    /// The segment's first entry, as [`Trees::set_first`] recorded it.
    pub(super) fn first(&self) -> Result<Option<(u64, String)>, IndexError> {
        Ok(self.meta.get(META_FIRST)?.and_then(|v| {
            let ts = std::str::from_utf8(v.get(8..)?).ok()?.to_string();
            Some((be_u64(&v), ts))
        }))
    }

    /// The first seq not yet indexed (0 for a new database).
    pub(super) fn indexed_through(&self) -> Result<u64, IndexError> {
        Ok(self
            .meta
            .get(META_THROUGH)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Indexes a batch of consecutive entries, then advances `indexed_through`.
    pub(super) fn insert(&self, items: &[IndexItem]) -> Result<(), IndexError> {
        for chunk in items.chunks(super::Index::CHUNK) {
            self.insert_chunk(chunk)?;
        }
        Ok(())
    }

    fn insert_chunk(&self, items: &[IndexItem]) -> Result<(), IndexError> {
        let Some(last) = items.last() else {
            return Ok(());
        };
        let (mut seqs, mut sessions, mut kinds, mut times) = (
            sled::Batch::default(),
            sled::Batch::default(),
            sled::Batch::default(),
            sled::Batch::default(),
        );
        // One time key per chunk, at its first entry: "first entry at or after T" then lands at
        // most one chunk before it.
        let first = &items[0];
        times.insert(compound(first.ts.as_bytes(), &first.seq.to_be_bytes()), &[]);
        // Posting lists gathered over the whole call: one sled key per (session or kind, call).
        let mut by_session: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut by_kind: Vec<(&str, Vec<u8>)> = Vec::new();
        // The chunk's runs of contiguous entry frames, as one `seq` value: per run its first seq,
        // segment, first offset and count (32 bytes). The run being built also keeps its end.
        let mut runs: Vec<u8> = Vec::new();
        let mut run: Option<(u64, u64, u64, u64, u64)> = None;
        let flush_run = |runs: &mut Vec<u8>, run: (u64, u64, u64, u64, u64)| {
            for field in [run.0, run.1, run.2, run.3] {
                runs.extend_from_slice(&field.to_be_bytes());
            }
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
                        flush_run(&mut runs, done);
                    }
                    Some((it.seq, loc.segment, loc.offset, 1, end))
                }
            };
            if let Some(s) = &it.session {
                postings(&mut by_session, s).extend_from_slice(&seq);
            }
            postings(&mut by_kind, &it.kind).extend_from_slice(&seq);
        }
        if let Some(done) = run {
            flush_run(&mut runs, done);
        }
        seqs.insert(&first.seq.to_be_bytes(), runs);
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
    pub(super) fn location(&self, seq: u64) -> Result<Option<RunLocation>, IndexError> {
        let Some((_, runs)) = self
            .seqs
            .range(..=seq.to_be_bytes())
            .next_back()
            .transpose()?
        else {
            return Ok(None);
        };
        Ok(runs.chunks_exact(32).find_map(|r| {
            let (first, count) = (be_u64(&r[0..8]), be_u64(&r[24..32]));
            (first <= seq && seq - first < count).then(|| RunLocation {
                segment: be_u64(&r[8..16]),
                offset: be_u64(&r[16..24]),
                skip: seq - first,
            })
        }))
    }

    /// Seqs of a session's entries, ascending.
    pub(super) fn session(&self, session: &str) -> Result<Vec<u64>, IndexError> {
        self.seqs_with_prefix(&self.sessions, session.as_bytes())
    }

    /// Seqs of entries of a kind, ascending.
    pub(super) fn kind(&self, kind: &str) -> Result<Vec<u64>, IndexError> {
        self.seqs_with_prefix(&self.kinds, kind.as_bytes())
    }

    /// The first seq of the last chunk that starts before `ts`, if any.
    pub(super) fn seek_time(&self, ts: &str) -> Result<Option<u64>, IndexError> {
        Ok(self
            .times
            .range(..ts.as_bytes())
            .next_back()
            .transpose()?
            .map(|(k, _)| be_u64(&k[k.len() - 8..])))
    }

    /// Asks sled to write its buffers (best effort; not a durability guarantee).
    pub(super) fn flush(&self) -> Result<(), IndexError> {
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
    use crate::index::EntryLocation;

    fn item(seq: u64, offset: u64) -> IndexItem {
        IndexItem {
            seq,
            location: EntryLocation {
                segment: 0,
                offset,
                len: 50,
            },
            kind: if seq.is_multiple_of(2) { "a" } else { "b" }.into(),
            session: Some("s".into()),
            ts: format!("2026-01-01T00:{:02}:{:02}.000000000Z", seq / 60, seq % 60),
        }
    }

    #[test]
    fn contiguous_frames_share_one_run() {
        let dir = tempfile::tempdir().unwrap();
        let t = Trees::open(dir.path()).unwrap();
        let frame = crate::segment::record_len(50) as u64;
        // A batch of 3 contiguous entries, a checkpoint (100 bytes), a batch of 2.
        let items = [
            item(0, 24),
            item(1, 24 + frame),
            item(2, 24 + 2 * frame),
            item(3, 24 + 3 * frame + 100),
            item(4, 24 + 4 * frame + 100),
        ];
        t.insert(&items).unwrap();
        // One `seq` key for the insert, holding two runs.
        assert_eq!(t.seqs.len(), 1);
        assert_eq!(
            t.seqs.get(0u64.to_be_bytes()).unwrap().unwrap().len(),
            2 * 32
        );
        let l = t.location(2).unwrap().unwrap();
        assert_eq!((l.offset, l.skip), (24, 2));
        let l = t.location(4).unwrap().unwrap();
        assert_eq!((l.offset, l.skip), (24 + 3 * frame + 100, 1));
        assert_eq!(t.location(5).unwrap(), None);
        assert_eq!(t.indexed_through().unwrap(), 5);
    }

    #[test]
    fn a_large_insert_is_written_in_chunks_with_one_time_key_each() {
        let dir = tempfile::tempdir().unwrap();
        let t = Trees::open(dir.path()).unwrap();
        let items: Vec<IndexItem> = (0..600).map(|seq| item(seq, seq * 100)).collect();
        t.insert(&items).unwrap();
        assert_eq!(t.indexed_through().unwrap(), 600);
        assert_eq!(t.times.len(), 3, "chunks of 256, 256 and 88");
        assert_eq!(t.seqs.len(), 3);
        assert_eq!(t.session("s").unwrap(), (0..600).collect::<Vec<_>>());
        assert_eq!(t.kind("b").unwrap().len(), 300);
        // Entry 300 is at 00:05:00; the seek lands in its chunk (256..512), before it.
        assert_eq!(t.seek_time("2026-01-01T00:05:00").unwrap(), Some(256));
        assert_eq!(t.seek_time("2026-01-01T00:09:59.5").unwrap(), Some(512));
        assert_eq!(t.seek_time("2026-01-01T00:00:00").unwrap(), None);
    }
}

//! The index: seq → location, session → seqs, kind → seqs, time → seq, in sled, one database
//! per segment: `index/<segment, 16 hex digits>/`, and beside each sealed segment's database a
//! marker `index/<segment>.sealed` (`<first seq> <end seq> <first timestamp>`) written once it
//! holds every entry of that segment.
//!
//! **One database per segment** bounds the index's memory: sled 0.34 keeps much of an open
//! database in memory (~40 bytes per entry indexed here, whatever its cache size), so the
//! writer's indexer keeps only the active segment's database open and closes a segment's
//! database when the ledger rolls to the next one; queries open a sealed segment's database
//! for the time they read it.
//!
//! **Never a source of truth.** sled 0.34's flush is not a durability guarantee, so the index may
//! lag the segments or be lost; it records how far it got (`indexed_through`) and the writer
//! replays the segments from there on open. An index of another ledger or layout, a sealed
//! segment without its marker before the last one, or a database that cannot be opened makes
//! [`Index::open`] wipe the index, and the writer rebuilds it from the segments.
//!
//! **Owner-only** like the segments it points into: folders 0700, files 0600. sled creates its
//! files with the process umask, so each database's folder is made 0700 before sled opens it and
//! its files are tightened once it is open: sled 0.34 creates its config, data file and snapshot
//! while opening. The only files it may create later are blobs, for pages over ~128 KiB, which
//! the index's chunked posting lists keep far below; one would still be out of reach of others
//! in its 0700 folder, and is tightened on the next open.

mod trees;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use thiserror::Error;

use crate::store::private;
use trees::Trees;

/// A failure of the index (never of the ledger: the caller may rebuild).
#[derive(Debug, Error)]
pub enum IndexError {
    /// sled failed.
    #[error("index database: {0}")]
    Db(#[from] sled::Error),
    /// The index directory or a marker could not be read or written.
    #[error("index files: {0}")]
    Io(#[from] std::io::Error),
    /// A database's files could not be made owner-only.
    #[error("index files: {0}")]
    NotPrivate(#[from] private::TightenError),
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

/// The file naming the ledger and layout an index belongs to.
const IDENTITY_FILE: &str = "INDEX";
/// The layout; an index of another layout is wiped and rebuilt.
const LAYOUT: &str = "auditgate-index/3";

/// A sealed segment's marker: which seqs its database holds and when its first entry was.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sealed {
    segment: u64,
    first: u64,
    end: u64,
    first_ts: String,
}

/// The segment being indexed (its first entry is in its trees' meta).
#[derive(Debug)]
struct Active {
    segment: u64,
    trees: Trees,
}

/// The index of one ledger (cheap to clone; clones share the open database).
#[derive(Debug, Clone)]
pub struct Index {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    active: Mutex<Option<Active>>,
    sealed: Mutex<Vec<Sealed>>,
    /// Held while a sealed segment's database is open for a query (sled locks its files).
    reading: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Index {
    /// Most entries in one chunk (one sled batch per tree, a few keys). Larger batches cost
    /// memory in sled 0.34: batches of 3,000 entries grew the process by ~4 KiB per entry
    /// indexed, batches of 256 did not (docs/reliability.md, "Soak").
    pub const CHUNK: usize = 256;

    /// Opens the index in `dir` for ledger `ledger_id`, wiping it first when it belongs to
    /// another ledger or layout, has a gap, or cannot be opened.
    pub fn open(dir: &Path, ledger_id: &str) -> Result<Self, IndexError> {
        match Self::open_as_is(dir, ledger_id) {
            Ok(Some(idx)) => Ok(idx),
            Ok(None) | Err(_) => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir)?;
                }
                private::create_dir_all(dir)?;
                private::write(
                    &dir.join(IDENTITY_FILE),
                    format!("{LAYOUT} {ledger_id}\n").as_bytes(),
                )?;
                Ok(Self::from_parts(dir, None, Vec::new()))
            }
        }
    }

    /// `None` when the index must be wiped.
    fn open_as_is(dir: &Path, ledger_id: &str) -> Result<Option<Self>, IndexError> {
        let identity = std::fs::read_to_string(dir.join(IDENTITY_FILE))?;
        if identity != format!("{LAYOUT} {ledger_id}\n") {
            return Ok(None);
        }
        let mut databases = Vec::new();
        let mut markers = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let name = e?.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(number) = name.strip_suffix(".sealed") {
                let Some(segment) = parse_segment(number) else {
                    continue;
                };
                let text = std::fs::read_to_string(dir.join(name))?;
                let Some(sealed) = parse_marker(segment, &text) else {
                    return Ok(None);
                };
                markers.push(sealed);
            } else if let Some(segment) = parse_segment(name) {
                databases.push(segment);
            }
        }
        databases.sort_unstable();
        markers.sort_by_key(|m| m.segment);
        // Every database but the last is sealed, and the markers chain without a gap.
        let Some((&last, earlier)) = databases.split_last() else {
            return Ok(markers
                .is_empty()
                .then(|| Self::from_parts(dir, None, markers)));
        };
        if markers
            .iter()
            .map(|m| m.segment)
            .ne(earlier.iter().copied())
            || markers.windows(2).any(|w| w[0].end != w[1].first)
        {
            return Ok(None);
        }
        let trees = Trees::open(&dir.join(segment_name(last)))?;
        if trees.indexed_through()? > 0 && trees.first()?.is_none() {
            return Ok(None);
        }
        let active = Active {
            segment: last,
            trees,
        };
        Ok(Some(Self::from_parts(dir, Some(active), markers)))
    }

    fn from_parts(dir: &Path, active: Option<Active>, sealed: Vec<Sealed>) -> Self {
        Self {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                active: Mutex::new(active),
                sealed: Mutex::new(sealed),
                reading: Mutex::new(()),
            }),
        }
    }

    /// The first seq not yet indexed.
    pub fn indexed_through(&self) -> Result<u64, IndexError> {
        if let Some(a) = &*lock(&self.inner.active) {
            let through = a.trees.indexed_through()?;
            if through > 0 {
                return Ok(through);
            }
        }
        Ok(lock(&self.inner.sealed).last().map_or(0, |m| m.end))
    }

    /// Indexes consecutive entries (ascending seqs and segments), then advances
    /// `indexed_through`. An entry of a later segment seals the active segment's database
    /// (flushed, marker written, closed) before a database is started for the new one.
    pub fn insert(&self, items: &[IndexItem]) -> Result<(), IndexError> {
        let mut active = lock(&self.inner.active);
        for run in items.chunk_by(|a, b| a.location.segment == b.location.segment) {
            let segment = run[0].location.segment;
            if let Some(a) = active.as_ref()
                && segment < a.segment
            {
                return Err(IndexError::Io(std::io::Error::other(format!(
                    "entries of segment {segment} after segment {}",
                    a.segment
                ))));
            }
            if active.as_ref().is_none_or(|a| a.segment != segment) {
                if let Some(done) = active.take() {
                    self.seal(done)?;
                }
                let path = self.inner.dir.join(segment_name(segment));
                if path.exists() {
                    std::fs::remove_dir_all(&path)?;
                }
                *active = Some(Active {
                    segment,
                    trees: Trees::open(&path)?,
                });
            }
            let trees = &active.as_ref().expect("set above").trees;
            if trees.first()?.is_none() {
                trees.set_first(run[0].seq, &run[0].ts)?;
            }
            trees.insert(run)?;
        }
        Ok(())
    }

    fn seal(&self, done: Active) -> Result<(), IndexError> {
        let path = self.inner.dir.join(segment_name(done.segment));
        let Some((first, first_ts)) = done.trees.first()? else {
            // Nothing was indexed in it: no database to keep.
            drop(done.trees);
            std::fs::remove_dir_all(path)?;
            return Ok(());
        };
        let end = done.trees.indexed_through()?;
        done.trees.flush()?;
        drop(done.trees);
        let marker = Sealed {
            segment: done.segment,
            first,
            end,
            first_ts,
        };
        private::write(
            &path.with_extension("sealed"),
            format!("{} {} {}\n", marker.first, marker.end, marker.first_ts).as_bytes(),
        )?;
        lock(&self.inner.sealed).push(marker);
        Ok(())
    }

    /// Where entry `seq` is: its run's start and how many frames to skip.
    pub fn location(&self, seq: u64) -> Result<Option<RunLocation>, IndexError> {
        if let Some((first, trees)) = self.active()
            && seq >= first
        {
            return trees.location(seq);
        }
        let segment = lock(&self.inner.sealed)
            .iter()
            .find(|m| m.first <= seq && seq < m.end)
            .map(|m| m.segment);
        match segment {
            Some(s) => self.read_sealed(s, |t| t.location(seq)),
            None => Ok(None),
        }
    }

    /// Seqs of a session's entries, ascending.
    pub fn session(&self, session: &str) -> Result<Vec<u64>, IndexError> {
        self.collect(|t| t.session(session))
    }

    /// Seqs of entries of a kind, ascending.
    pub fn kind(&self, kind: &str) -> Result<Vec<u64>, IndexError> {
        self.collect(|t| t.kind(kind))
    }

    /// Where to start reading for entries at or after the timestamp `ts`: a seq no later than
    /// the first such entry, and at most one chunk ([`Index::CHUNK`] entries) before it (the
    /// time tree is sparse). Callers read forward from it and filter on `ts`.
    pub fn seek_time(&self, ts: &str) -> Result<u64, IndexError> {
        if let Some((_, trees)) = self.active()
            && let Some(seq) = trees.seek_time(ts)?
        {
            return Ok(seq);
        }
        let candidates: Vec<u64> = lock(&self.inner.sealed)
            .iter()
            .rev()
            .filter(|m| m.first_ts.as_str() < ts)
            .map(|m| m.segment)
            .collect();
        for segment in candidates {
            if let Some(seq) = self.read_sealed(segment, |t| t.seek_time(ts))? {
                return Ok(seq);
            }
        }
        Ok(0)
    }

    /// Asks sled to write the active database's buffers (best effort; not a durability
    /// guarantee).
    pub fn flush(&self) -> Result<(), IndexError> {
        match &*lock(&self.inner.active) {
            Some(a) => a.trees.flush(),
            None => Ok(()),
        }
    }

    /// The active segment's first seq and trees, once it has entries.
    fn active(&self) -> Option<(u64, Trees)> {
        let active = lock(&self.inner.active);
        let a = active.as_ref()?;
        let (first, _) = a.trees.first().ok()??;
        Some((first, a.trees.clone()))
    }

    /// Runs `read` on a sealed segment's database, opened for the purpose.
    fn read_sealed<T>(
        &self,
        segment: u64,
        read: impl FnOnce(&Trees) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        let _one_reader = lock(&self.inner.reading);
        let trees = Trees::open(&self.inner.dir.join(segment_name(segment)))?;
        read(&trees)
    }

    /// `query` over every segment's database, concatenated in segment order.
    fn collect(
        &self,
        query: impl Fn(&Trees) -> Result<Vec<u64>, IndexError>,
    ) -> Result<Vec<u64>, IndexError> {
        let sealed: Vec<u64> = lock(&self.inner.sealed).iter().map(|m| m.segment).collect();
        let mut out = Vec::new();
        for segment in sealed {
            out.extend(self.read_sealed(segment, &query)?);
        }
        if let Some((_, trees)) = self.active() {
            out.extend(query(&trees)?);
        }
        Ok(out)
    }
}

fn segment_name(segment: u64) -> String {
    format!("{segment:016x}")
}

fn parse_segment(name: &str) -> Option<u64> {
    if name.len() == 16 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        u64::from_str_radix(name, 16).ok()
    } else {
        None
    }
}

fn parse_marker(segment: u64, text: &str) -> Option<Sealed> {
    let mut parts = text.trim_end_matches('\n').split(' ');
    let (first, end, first_ts) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (first, end) = (first.parse().ok()?, end.parse().ok()?);
    (first < end).then(|| Sealed {
        segment,
        first,
        end,
        first_ts: first_ts.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entry `seq` is in segment `seq / 10`, one entry a second.
    fn item(seq: u64, kind: &str, session: Option<&str>) -> IndexItem {
        IndexItem {
            seq,
            location: EntryLocation {
                segment: seq / 10,
                offset: 24 + (seq % 10) * 100,
                len: 50,
            },
            kind: kind.into(),
            session: session.map(Into::into),
            ts: format!("2026-01-01T00:{:02}:{:02}.000000000Z", seq / 60, seq % 60),
        }
    }

    fn items(range: std::ops::Range<u64>) -> Vec<IndexItem> {
        range
            .map(|seq| item(seq, if seq % 3 == 0 { "call" } else { "other" }, Some("s1")))
            .collect()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn one_database_per_segment_and_queries_across_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let idx = Index::open(&path, "a").unwrap();
        assert_eq!(idx.indexed_through().unwrap(), 0);
        idx.insert(&items(0..7)).unwrap();
        idx.insert(&items(7..25)).unwrap();
        assert_eq!(idx.indexed_through().unwrap(), 25);
        assert_eq!(
            names(&path),
            [
                "0000000000000000",
                "0000000000000000.sealed",
                "0000000000000001",
                "0000000000000001.sealed",
                "0000000000000002",
                "INDEX",
            ]
        );
        assert_eq!(
            std::fs::read_to_string(path.join("0000000000000001.sealed")).unwrap(),
            "10 20 2026-01-01T00:00:10.000000000Z\n"
        );
        assert_eq!(idx.session("s1").unwrap(), (0..25).collect::<Vec<_>>());
        assert_eq!(idx.kind("call").unwrap(), [0, 3, 6, 9, 12, 15, 18, 21, 24]);
        // In a sealed segment and in the active one.
        let l = idx.location(13).unwrap().unwrap();
        assert_eq!((l.segment, l.offset, l.skip), (1, 24 + 300, 0));
        let l = idx.location(24).unwrap().unwrap();
        assert_eq!((l.segment, l.offset), (2, 24 + 400));
        assert_eq!(idx.location(25).unwrap(), None);
        // One time key per chunk, and a chunk never spans segments: 0, 7, 10, 20.
        assert_eq!(idx.seek_time("2026-01-01T00:00:09").unwrap(), 7);
        assert_eq!(idx.seek_time("2026-01-01T00:00:15").unwrap(), 10);
        assert_eq!(idx.seek_time("2026-01-01T00:00:59").unwrap(), 20);
        assert_eq!(idx.seek_time("2026-01-01T00:00:00").unwrap(), 0);

        // Reopened, it carries on from where it got to.
        drop(idx);
        let idx = Index::open(&path, "a").unwrap();
        assert_eq!(idx.indexed_through().unwrap(), 25);
        idx.insert(&items(25..31)).unwrap();
        assert_eq!(idx.session("s1").unwrap(), (0..31).collect::<Vec<_>>());
        assert_eq!(idx.location(30).unwrap().unwrap().segment, 3);
        assert!(path.join("0000000000000002.sealed").exists());
    }

    #[test]
    fn another_ledger_a_gap_or_a_bad_marker_wipes_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let fill = || {
            let idx = Index::open(&path, "a").unwrap();
            idx.insert(&items(0..25)).unwrap();
            assert_eq!(idx.indexed_through().unwrap(), 25);
        };
        fill();
        assert_eq!(
            Index::open(&path, "b").unwrap().indexed_through().unwrap(),
            0
        );
        assert_eq!(names(&path), ["INDEX"], "another ledger's index is wiped");

        fill();
        std::fs::remove_file(path.join("0000000000000000.sealed")).unwrap();
        assert_eq!(
            Index::open(&path, "a").unwrap().indexed_through().unwrap(),
            0
        );

        fill();
        std::fs::write(path.join("0000000000000001.sealed"), "11 20 x\n").unwrap();
        assert_eq!(
            Index::open(&path, "a").unwrap().indexed_through().unwrap(),
            0,
            "markers that do not chain"
        );

        fill();
        std::fs::write(path.join("INDEX"), "auditgate-index/2 a\n").unwrap();
        assert_eq!(
            Index::open(&path, "a").unwrap().indexed_through().unwrap(),
            0
        );
    }

    #[test]
    fn entries_of_an_earlier_segment_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let idx = Index::open(&dir.path().join("index"), "a").unwrap();
        idx.insert(&items(10..12)).unwrap();
        assert!(idx.insert(&items(5..6)).is_err());
        assert_eq!(idx.session("s1").unwrap(), [10, 11]);
    }
}

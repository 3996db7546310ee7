//! The storage seam under the segment writer.
//!
//! Everything the ledger does to disk goes through [`Store`] and [`SegmentFile`], so tests can
//! inject the failures real disks produce (ENOSPC, EIO, short writes, failed fdatasync) with
//! [`FaultyStore`] and check that an append that cannot be made durable is refused and the
//! ledger stays verifiable. [`FsStore`] is the real thing: `O_EXCL` creation, `fdatasync`,
//! directory `fsync` after a segment is created, read-only sealed segments, and everything
//! owner-only ([`private`]: folders 0700, files 0600, sealed segments 0400).

pub mod private;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::segment;

/// Where segment files live.
pub trait Store: Send + Sync + fmt::Debug {
    /// The numbers of the segment files present, ascending. Other files are ignored.
    fn list(&self) -> io::Result<Vec<u64>>;
    /// Reads a whole segment.
    fn read(&self, number: u64) -> io::Result<Vec<u8>>;
    /// Reads `len` bytes at `offset` of a segment.
    fn read_at(&self, number: u64, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// Reads a segment from byte `offset` to its end (an error if it is shorter than that).
    fn read_from(&self, number: u64, offset: u64) -> io::Result<Vec<u8>> {
        let mut bytes = self.read(number)?;
        let from = usize::try_from(offset)
            .ok()
            .filter(|&from| from <= bytes.len())
            .ok_or_else(|| shorter_than(offset))?;
        bytes.drain(..from);
        Ok(bytes)
    }
    /// Creates a new, empty segment (fails if it exists) and makes the directory entry durable.
    fn create(&self, number: u64) -> io::Result<Box<dyn SegmentFile>>;
    /// Opens an existing segment for appending.
    fn open_append(&self, number: u64) -> io::Result<Box<dyn SegmentFile>>;
    /// Marks a sealed segment read-only.
    fn seal(&self, number: u64) -> io::Result<()>;
    /// Saves the chain state after a batch in segment `number`, replacing the one saved before
    /// in that segment: a cache that lets a writer reopen without re-reading what came before
    /// (`writer/resume.rs`). Not kept by default.
    fn save_head(&self, _number: u64, _bytes: &[u8]) -> io::Result<()> {
        Ok(())
    }
    /// The state last saved in segment `number`, if kept.
    fn load_head(&self, _number: u64) -> io::Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// An open segment being appended to.
pub trait SegmentFile: Send + fmt::Debug {
    /// Appends all of `buf` at the end of the file.
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;
    /// `fdatasync`: returns once the appended bytes are durable.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Truncates the file to `len` bytes (used to cut a torn tail or undo a failed batch).
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

/// Segment files in a directory of the real file system.
#[derive(Debug, Clone)]
pub struct FsStore {
    dir: PathBuf,
    /// Where saved heads go (`<ledger>/heads`), when kept.
    heads: Option<PathBuf>,
}

impl FsStore {
    /// A store over `dir` (created 0700 if missing, with its parent directory entry made
    /// durable).
    pub fn open(dir: &Path) -> io::Result<Self> {
        if !dir.exists() {
            private::create_dir_all(dir)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            heads: None,
        })
    }

    /// A store over an existing `dir`; never creates anything (the verifier's read-only view).
    pub fn open_existing(dir: &Path) -> io::Result<Self> {
        if !dir.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "not a directory"));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            heads: None,
        })
    }

    /// The directory holding the segment files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps saved heads ([`Store::save_head`]) in `dir`, created (0700) when first needed.
    pub fn with_heads(mut self, dir: PathBuf) -> Self {
        self.heads = Some(dir);
        self
    }

    fn head_path(&self, number: u64) -> Option<PathBuf> {
        let dir = self.heads.as_ref()?;
        Some(dir.join(format!("{number:016x}.head")))
    }

    fn path(&self, number: u64) -> PathBuf {
        self.dir.join(segment::file_name(number))
    }
}

fn shorter_than(offset: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the segment is shorter than {offset} bytes"),
    )
}

/// `fsync` of a directory, so that a file created in it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Store for FsStore {
    fn list(&self) -> io::Result<Vec<u64>> {
        let mut numbers = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            if let Some(n) = name.to_str().and_then(segment::parse_file_name) {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    fn read(&self, number: u64) -> io::Result<Vec<u8>> {
        fs::read(self.path(number))
    }

    fn read_at(&self, number: u64, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        File::open(self.path(number))?.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn read_from(&self, number: u64, offset: u64) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = File::open(self.path(number))?;
        let len = file.metadata()?.len();
        if offset > len {
            return Err(shorter_than(offset));
        }
        file.seek(SeekFrom::Start(offset))?;
        let mut bytes = Vec::with_capacity(usize::try_from(len - offset).unwrap_or(0));
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    fn create(&self, number: u64) -> io::Result<Box<dyn SegmentFile>> {
        // O_APPEND: after a truncate (undoing a failed batch) the next write lands at the new
        // end, not at the old file position, which would leave a hole of zeros.
        let file = private::file_options()
            .append(true)
            .create_new(true)
            .open(self.path(number))?;
        sync_dir(&self.dir)?;
        Ok(Box::new(FsSegment { file }))
    }

    fn open_append(&self, number: u64) -> io::Result<Box<dyn SegmentFile>> {
        let file = OpenOptions::new().append(true).open(self.path(number))?;
        Ok(Box::new(FsSegment { file }))
    }

    fn seal(&self, number: u64) -> io::Result<()> {
        fs::set_permissions(self.path(number), fs::Permissions::from_mode(0o400))
    }

    fn save_head(&self, number: u64, bytes: &[u8]) -> io::Result<()> {
        let (Some(dir), Some(path)) = (&self.heads, self.head_path(number)) else {
            return Ok(());
        };
        private::create_dir_all(dir)?;
        // Replaced whole (written beside, then renamed), so a crash leaves the old head or the
        // new one rather than a mix; either way a cache, not synced.
        let beside = path.with_extension("head.tmp");
        private::write(&beside, bytes)?;
        fs::rename(&beside, &path)
    }

    fn load_head(&self, number: u64) -> io::Result<Option<Vec<u8>>> {
        let Some(path) = self.head_path(number) else {
            return Ok(None);
        };
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[derive(Debug)]
struct FsSegment {
    file: File,
}

impl SegmentFile for FsSegment {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

/// A failure [`FaultyStore`] injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next append fails with ENOSPC and writes nothing.
    NoSpace,
    /// The next append writes this many bytes, then fails with ENOSPC (a short write).
    ShortWrite(usize),
    /// The next append fails with EIO.
    Io,
    /// The next `fdatasync` fails with EIO (the bytes may or may not be on disk).
    SyncFails,
    /// The next truncate fails with EIO (the writer cannot undo a failed batch).
    TruncateFails,
    /// The next segment creation fails with ENOSPC.
    CreateFails,
}

/// Shared control over the faults a [`FaultyStore`] injects.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    inner: Arc<Mutex<PlanState>>,
}

#[derive(Debug, Default)]
struct PlanState {
    queued: Vec<Fault>,
    always_full: bool,
    injected: u64,
}

impl FaultPlan {
    /// Queues one fault for the next matching operation.
    pub fn inject(&self, fault: Fault) {
        self.lock().queued.push(fault);
    }

    /// While on, every append fails with ENOSPC (a full disk).
    pub fn set_disk_full(&self, full: bool) {
        self.lock().always_full = full;
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PlanState> {
        // A poisoned plan only means a test thread panicked; the state is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, matches: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let mut st = self.lock();
        let pos = st.queued.iter().position(matches)?;
        st.injected += 1;
        Some(st.queued.remove(pos))
    }
}

/// A [`Store`] wrapper that injects the failures of a [`FaultPlan`].
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    plan: FaultPlan,
}

impl<S: Store> FaultyStore<S> {
    /// Wraps `inner`; faults are controlled through `plan`.
    pub fn new(inner: S, plan: FaultPlan) -> Self {
        Self { inner, plan }
    }
}

fn no_space() -> io::Error {
    io::Error::from_raw_os_error(28) // ENOSPC
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(5) // EIO
}

impl<S: Store> Store for FaultyStore<S> {
    fn list(&self) -> io::Result<Vec<u64>> {
        self.inner.list()
    }

    fn read(&self, number: u64) -> io::Result<Vec<u8>> {
        self.inner.read(number)
    }

    fn read_at(&self, number: u64, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.inner.read_at(number, offset, len)
    }

    fn read_from(&self, number: u64, offset: u64) -> io::Result<Vec<u8>> {
        self.inner.read_from(number, offset)
    }

    fn create(&self, number: u64) -> io::Result<Box<dyn SegmentFile>> {
        if self.plan.take(|f| *f == Fault::CreateFails).is_some() {
            return Err(no_space());
        }
        let inner = self.inner.create(number)?;
        Ok(Box::new(FaultySegment {
            inner,
            plan: self.plan.clone(),
        }))
    }

    fn open_append(&self, number: u64) -> io::Result<Box<dyn SegmentFile>> {
        let inner = self.inner.open_append(number)?;
        Ok(Box::new(FaultySegment {
            inner,
            plan: self.plan.clone(),
        }))
    }

    fn seal(&self, number: u64) -> io::Result<()> {
        self.inner.seal(number)
    }
}

#[derive(Debug)]
struct FaultySegment {
    inner: Box<dyn SegmentFile>,
    plan: FaultPlan,
}

impl SegmentFile for FaultySegment {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.plan.lock().always_full {
            self.plan.lock().injected += 1;
            return Err(no_space());
        }
        let fault = self
            .plan
            .take(|f| matches!(f, Fault::NoSpace | Fault::ShortWrite(_) | Fault::Io));
        match fault {
            Some(Fault::NoSpace) => Err(no_space()),
            Some(Fault::Io) => Err(eio()),
            Some(Fault::ShortWrite(n)) => {
                self.inner.append(&buf[..n.min(buf.len())])?;
                Err(no_space())
            }
            _ => self.inner.append(buf),
        }
    }

    fn sync_data(&mut self) -> io::Result<()> {
        if self.plan.take(|f| *f == Fault::SyncFails).is_some() {
            return Err(eio());
        }
        self.inner.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        if self.plan.take(|f| *f == Fault::TruncateFails).is_some() {
            return Err(eio());
        }
        self.inner.truncate(len)
    }
}

/// Reads segments `numbers` of `store` in order on a second thread, one segment ahead of
/// `each`, so that reading the next segment overlaps with using this one; at most two segments
/// are in memory. A read error is handed to `each`; the first error `each` returns stops both.
pub fn read_ahead<S: Store + Sync, E>(
    store: &S,
    numbers: &[u64],
    each: &mut dyn FnMut(u64, io::Result<Vec<u8>>) -> Result<(), E>,
) -> Result<(), E> {
    // A rendezvous channel: the reader holds the next segment until `each` wants it.
    let (tx, rx) = std::sync::mpsc::sync_channel(0);
    std::thread::scope(|s| {
        s.spawn(move || {
            for &n in numbers {
                let read = store.read(n);
                let failed = read.is_err();
                // A closed channel means `each` stopped.
                if tx.send((n, read)).is_err() || failed {
                    break;
                }
            }
        });
        for (n, read) in rx {
            each(n, read)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fs_store_creates_lists_and_seals() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(&dir.path().join("segments")).unwrap();
        let mut f = store.create(0).unwrap();
        let mode = |n| {
            std::fs::metadata(store.dir().join(segment::file_name(n)))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(0), 0o600);
        f.append(b"abc").unwrap();
        f.sync_data().unwrap();
        assert!(store.create(0).is_err(), "creation is exclusive");
        store.create(1).unwrap();
        std::fs::write(store.dir().join("notes.txt"), b"x").unwrap();
        assert_eq!(store.list().unwrap(), vec![0, 1]);
        assert_eq!(store.read(0).unwrap(), b"abc");
        store.seal(0).unwrap();
        assert_eq!(mode(0), 0o400, "sealed: read-only, owner only");
    }

    #[test]
    fn faulty_store_injects_short_writes() {
        let dir = tempfile::tempdir().unwrap();
        let plan = FaultPlan::default();
        let store = FaultyStore::new(FsStore::open(dir.path()).unwrap(), plan.clone());
        let mut f = store.create(0).unwrap();
        plan.inject(Fault::ShortWrite(2));
        let err = f.append(b"abcdef").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(28));
        assert_eq!(store.read(0).unwrap(), b"ab");
        f.truncate(0).unwrap();
        plan.set_disk_full(true);
        assert!(f.append(b"x").is_err());
        plan.set_disk_full(false);
        f.append(b"x").unwrap();
        assert_eq!(plan.injected(), 2);
    }
}

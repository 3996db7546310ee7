//! The work of one run of records shared between the in-order pass and helper threads, so that
//! no core idles while the pass runs: the order-independent facts of each frame (checksum, type,
//! an entry's canonical check, BLAKE3 and leaf hash), chunk by chunk, and the checkpoint
//! signature batches the pass hands over as it goes.
//!
//! The pass (the calling thread) takes the frames' facts in order through [`Records`]; a chunk
//! not yet claimed by a helper it computes itself, so it never waits while there is work it
//! could do, and a helper with no facts left checks signature batches. Signature verdicts are
//! gathered by batch number, so the first failure in ledger order is the one reported, whatever
//! thread checked it and when.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::entry::{self, EntryHeader, HeaderError};
use crate::merkle::{self, Hash};
use crate::segment::{Frame, FrameError, Record, RecordType};

use super::VerifyError;
use super::signatures::{self, SigJob};

/// Frames per chunk of facts: large enough that taking a chunk costs nothing next to computing
/// it, small enough that the pass can start soon and the helpers stay busy to the end.
const CHUNK: usize = 256;

/// Entry facts computed out of order, before the in-order checks.
pub(super) struct Facts<'a> {
    pub(super) header: Result<EntryHeader<'a>, HeaderError>,
    pub(super) hash: Hash,
    pub(super) leaf: Hash,
}

/// A frame's record, and an entry's facts.
type Checked<'a> = Result<(Record<'a>, Option<Facts<'a>>), FrameError>;

/// The order-independent part of decoding a frame.
fn check<'a>(frame: &Frame<'a>) -> Checked<'a> {
    let r = frame.check()?;
    let facts = (r.ty == RecordType::Entry).then(|| Facts {
        header: entry::parse_header(r.payload),
        hash: entry::entry_hash(r.payload),
        leaf: merkle::leaf_hash(r.payload),
    });
    Ok((r, facts))
}

/// The work shared by the pass and the helpers.
pub(super) struct Pipeline<'a> {
    frames: &'a [Frame<'a>],
    state: Mutex<State<'a>>,
    changed: Condvar,
}

struct State<'a> {
    /// Computed chunks of facts not yet taken by the pass.
    chunks: Vec<Option<Vec<Checked<'a>>>>,
    /// The first chunk nobody has claimed.
    unclaimed: usize,
    /// Signature batches handed over, with their number in ledger order.
    batches: VecDeque<(usize, Vec<SigJob>)>,
    /// Batches handed over so far.
    submitted: usize,
    /// Batches being checked right now.
    checking: usize,
    /// The first failing signature found, with its batch number.
    failure: Option<(usize, VerifyError)>,
    /// No more batches will come: helpers with nothing left stop.
    closed: bool,
    /// A helper's panic, re-raised on the pass's thread.
    panicked: Option<Box<dyn std::any::Any + Send>>,
}

impl<'a> Pipeline<'a> {
    pub(super) fn new(frames: &'a [Frame<'a>]) -> Self {
        let chunks = frames.len().div_ceil(CHUNK);
        Self {
            frames,
            state: Mutex::new(State {
                chunks: (0..chunks).map(|_| None).collect(),
                unclaimed: 0,
                batches: VecDeque::new(),
                submitted: 0,
                checking: 0,
                failure: None,
                closed: false,
                panicked: None,
            }),
            changed: Condvar::new(),
        }
    }

    /// Whether helper threads would have anything to share (one chunk the pass does alone).
    pub(super) fn worth_helpers(&self) -> bool {
        self.frames.len() > CHUNK
    }

    fn lock(&self) -> MutexGuard<'_, State<'a>> {
        // Nothing panics while holding the lock (work runs outside it), so it is never poisoned;
        // if it were, the state is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A helper thread's loop: facts first (the pass waits for them), then signature batches,
    /// until the pass closes the batches and none is left.
    pub(super) fn help(&self) {
        let mut st = self.lock();
        loop {
            if st.unclaimed < st.chunks.len() {
                let i = st.unclaimed;
                st.unclaimed += 1;
                drop(st);
                let done = panic::catch_unwind(AssertUnwindSafe(|| self.compute(i)));
                st = self.lock();
                match done {
                    Ok(c) => st.chunks[i] = Some(c),
                    Err(p) => st.panicked = Some(p),
                }
            } else if let Some((n, jobs)) = st.batches.pop_front() {
                st.checking += 1;
                drop(st);
                let done =
                    panic::catch_unwind(AssertUnwindSafe(|| signatures::first_failure(&jobs)));
                st = self.lock();
                st.checking -= 1;
                match done {
                    Ok(failure) => record_failure(&mut st, n, failure),
                    Err(p) => st.panicked = Some(p),
                }
            } else if st.closed || st.panicked.is_some() {
                return;
            } else {
                st = self
                    .changed
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            self.changed.notify_all();
        }
    }

    fn compute(&self, chunk: usize) -> Vec<Checked<'a>> {
        let start = chunk * CHUNK;
        let end = (start + CHUNK).min(self.frames.len());
        self.frames[start..end].iter().map(check).collect()
    }

    /// Chunk `i`'s facts, for the pass: computed here if no helper has claimed it (or a later
    /// one) yet, else awaited.
    fn take_chunk(&self, i: usize) -> Vec<Checked<'a>> {
        let mut st = self.lock();
        loop {
            if let Some(p) = st.panicked.take() {
                drop(st);
                panic::resume_unwind(p);
            }
            if let Some(c) = st.chunks[i].take() {
                return c;
            }
            if st.unclaimed < st.chunks.len() {
                let j = st.unclaimed;
                st.unclaimed += 1;
                drop(st);
                let c = self.compute(j);
                st = self.lock();
                st.chunks[j] = Some(c);
            } else {
                st = self
                    .changed
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
    }

    /// Hands a batch of signature checks to the helpers (or to [`Pipeline::finish`]).
    pub(super) fn submit(&self, jobs: Vec<SigJob>) {
        if jobs.is_empty() {
            return;
        }
        let mut st = self.lock();
        let n = st.submitted;
        st.submitted += 1;
        st.batches.push_back((n, jobs));
        drop(st);
        self.changed.notify_one();
    }

    /// Ends the run: facts nobody claimed are dropped (the pass has stopped), the batches still
    /// waiting are checked here with the helpers, and the first signature failure in ledger
    /// order is returned.
    pub(super) fn finish(&self) -> Result<(), VerifyError> {
        let mut st = self.lock();
        st.unclaimed = st.chunks.len();
        st.closed = true;
        self.changed.notify_all();
        loop {
            if let Some(p) = st.panicked.take() {
                drop(st);
                panic::resume_unwind(p);
            }
            if let Some((n, jobs)) = st.batches.pop_front() {
                drop(st);
                let failure = signatures::first_failure(&jobs);
                st = self.lock();
                record_failure(&mut st, n, failure);
            } else if st.checking > 0 {
                st = self
                    .changed
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            } else {
                return st.failure.take().map_or(Ok(()), |(_, e)| Err(e));
            }
        }
    }

    /// Stops the helpers without checking anything more (the pass's thread is unwinding).
    pub(super) fn abandon(&self) {
        let mut st = self.lock();
        st.unclaimed = st.chunks.len();
        st.batches.clear();
        st.closed = true;
        drop(st);
        self.changed.notify_all();
    }
}

/// Keeps the failure of the earliest batch.
fn record_failure(st: &mut State<'_>, batch: usize, failure: Option<VerifyError>) {
    if let Some(e) = failure
        && st.failure.as_ref().is_none_or(|(b, _)| batch < *b)
    {
        st.failure = Some((batch, e));
    }
}

/// Runs `pass` on this thread with `helpers` helper threads sharing `pipeline`'s work, then
/// [`Pipeline::finish`]es it: `(pass result, first signature failure)`.
pub(super) fn run<R>(
    pipeline: &Pipeline<'_>,
    helpers: usize,
    pass: impl FnOnce() -> R,
) -> (R, Result<(), VerifyError>) {
    /// Releases the helpers if the pass panics, so that the scope's join does not wait forever.
    struct Abandon<'p, 'a>(&'p Pipeline<'a>);
    impl Drop for Abandon<'_, '_> {
        fn drop(&mut self) {
            self.0.abandon();
        }
    }
    let helpers = if pipeline.worth_helpers() { helpers } else { 0 };
    std::thread::scope(|s| {
        for _ in 0..helpers {
            s.spawn(|| pipeline.help());
        }
        let guard = Abandon(pipeline);
        let r = pass();
        let signatures = pipeline.finish();
        drop(guard);
        (r, signatures)
    })
}

/// The records of a run, in order, with their entries' facts; the first damaged frame ends them.
pub(super) struct Records<'p, 'a> {
    pipeline: &'p Pipeline<'a>,
    /// The damaged frame that ends the frames, as their walk found it, at its segment offset.
    walk_error: Option<(usize, FrameError)>,
    /// Whether the walk found one (it stays true once `walk_error` is handed on).
    walk_damaged: bool,
    /// Segment offset of the bytes the frames were found in.
    start: usize,
    chunk: std::vec::IntoIter<Checked<'a>>,
    next_chunk: usize,
    /// Records yielded so far.
    yielded: usize,
    /// The damaged frame that ended the records, once found.
    frame_error: Option<(usize, FrameError)>,
    done: bool,
}

impl<'p, 'a> Records<'p, 'a> {
    pub(super) fn new(
        pipeline: &'p Pipeline<'a>,
        start: usize,
        walk_error: Option<(usize, FrameError)>,
    ) -> Self {
        Self {
            pipeline,
            walk_damaged: walk_error.is_some(),
            walk_error,
            start,
            chunk: Vec::new().into_iter(),
            next_chunk: 0,
            yielded: 0,
            frame_error: None,
            done: false,
        }
    }

    /// Whether the record yielded last is the last of the run, with no damaged frame after it.
    pub(super) fn was_last(&self) -> bool {
        self.yielded == self.pipeline.frames.len() && !self.walk_damaged
    }

    /// The damaged frame ending the records; `None` until they are all taken, or if none.
    pub(super) fn frame_error(&self) -> Option<&(usize, FrameError)> {
        self.frame_error.as_ref()
    }

    /// Segment offsets of the records taken so far.
    pub(super) fn offsets(&self) -> impl Iterator<Item = usize> + '_ {
        let start = self.start;
        self.pipeline.frames[..self.yielded]
            .iter()
            .map(move |f| start + f.offset)
    }
}

impl<'a> Iterator for Records<'_, 'a> {
    type Item = (Record<'a>, Option<Facts<'a>>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let checked = match self.chunk.next() {
            Some(c) => c,
            None if self.next_chunk * CHUNK < self.pipeline.frames.len() => {
                self.chunk = self.pipeline.take_chunk(self.next_chunk).into_iter();
                self.next_chunk += 1;
                self.chunk.next()?
            }
            None => {
                self.done = true;
                self.frame_error = self.walk_error.take();
                return None;
            }
        };
        match checked {
            Ok((mut r, facts)) => {
                r.offset += self.start;
                self.yielded += 1;
                Some((r, facts))
            }
            // An earlier damaged frame ends the records before a later bad length.
            Err(e) => {
                self.done = true;
                let offset = self.start + self.pipeline.frames[self.yielded].offset;
                self.frame_error = Some((offset, e));
                None
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::checkpoint::{Checkpoint, SignedCheckpoint};
    use crate::keys::SigningKey;
    use crate::note::Note;
    use crate::segment::{self, frame_at};
    use crate::verify::VerifyErrorKind;

    fn job(size: u64, key: &SigningKey, bad: bool) -> SigJob {
        let cp = Checkpoint {
            origin: "auditgate.test/pipeline".into(),
            size,
            root: [size as u8; 32],
            extensions: vec![],
        };
        let mut signed = SignedCheckpoint::sign(cp, &[key]).unwrap();
        if bad {
            let mut note: Note = signed.note().clone();
            note.signatures[0].signature[3] ^= 1;
            signed = SignedCheckpoint::parse(&note.to_bytes()).unwrap();
        }
        SigJob {
            segment: 0,
            offset: size as usize,
            size,
            signed: Arc::new(signed),
            required: 1,
            known: vec![key.verifier_key()].into(),
        }
    }

    /// Batches are checked by whichever thread is free, in any order: the failure reported is
    /// still the one of the earliest batch, as a check in ledger order finds it.
    #[test]
    fn the_earliest_failing_batch_is_reported_whoever_checked_it() {
        let key = SigningKey::from_seed("auditgate.test/pipeline", &[7; 32]).unwrap();
        let mut bytes = Vec::new();
        for i in 0..(3 * CHUNK as u32) {
            segment::encode_record(&mut bytes, RecordType::Entry, &i.to_le_bytes());
        }
        let mut frames = Vec::new();
        let mut offset = 0;
        while offset < bytes.len() {
            let f = frame_at(&bytes, offset).unwrap();
            offset = f.end();
            frames.push(f);
        }
        for helpers in [0, 1, 3] {
            let pipeline = Pipeline::new(&frames);
            let mut records = Records::new(&pipeline, 0, None);
            let (taken, signatures) = run(&pipeline, helpers, || {
                let mut taken = 0;
                for (b, bad) in [false, false, true, false, true, false].iter().enumerate() {
                    let first = 10 * b as u64 + 1;
                    let jobs = (first..first + 10)
                        .map(|size| job(size, &key, *bad && size == first + 4))
                        .collect();
                    pipeline.submit(jobs);
                    taken += records.by_ref().take(CHUNK / 2).count();
                }
                taken + records.by_ref().count()
            });
            assert_eq!(taken, 3 * CHUNK);
            let err = signatures.unwrap_err();
            assert_eq!(err.location.offset, Some(25), "helpers {helpers}");
            assert!(matches!(
                err.kind,
                VerifyErrorKind::BadSignature { size: 25, .. }
            ));
        }
    }
}

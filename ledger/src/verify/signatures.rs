//! Checkpoint signatures (V12), deferred past each segment's in-order pass and checked on all
//! cores, [`BATCH`] checkpoints per batch check ([`crate::ed25519::batch_holds`]). A batch that
//! does not hold is checked again one signature at a time, so the verdict and the error are
//! always those of the single rule ([`crate::ed25519::verify`]).

use crate::checkpoint::{CheckpointError, SignedCheckpoint};
use crate::ed25519;
use crate::keys::VerifierKey;
use crate::note::{NoteError, SignatureCheck};

use super::{VerifyError, VerifyErrorKind, parallel_map};

/// Checkpoints per batch check: past a few dozen, a larger multiscalar multiplication saves
/// little, and a failing batch costs its checkpoints a second, single check.
const BATCH: usize = 64;

/// A checkpoint signature check, deferred so that many run together.
#[derive(Debug)]
pub(super) struct SigJob {
    pub(super) segment: u64,
    pub(super) offset: usize,
    pub(super) size: u64,
    pub(super) signed: SignedCheckpoint,
    /// The first `required` keys of `known` must each have signed.
    pub(super) required: usize,
    pub(super) known: Vec<VerifierKey>,
}

impl SigJob {
    /// The signatures this job checks, as batch items.
    fn items(&self) -> impl Iterator<Item = ed25519::Item<'_>> {
        let note = self.signed.note();
        note.known_signatures(&self.known).map(move |(index, sig)| {
            (
                self.known[index].rule_key(),
                note.text.as_bytes(),
                sig.signature.as_slice(),
            )
        })
    }

    /// The job's verdict, given whether each of its [`SigJob::items`] is valid.
    fn check_with(&self, valid: &SignatureCheck) -> Result<(), VerifyErrorKind> {
        let verified = match self.signed.verify_with(&self.known, valid) {
            Ok(verified) => verified,
            // No known key signed: that is the required key missing, reported below.
            Err(CheckpointError::Note(NoteError::NoVerifiedSignature)) => Vec::new(),
            Err(e) => {
                return Err(VerifyErrorKind::BadSignature {
                    size: self.size,
                    why: e.to_string(),
                });
            }
        };
        match (0..self.required).find(|i| !verified.contains(i)) {
            Some(missing) => Err(VerifyErrorKind::MissingSignature {
                size: self.size,
                key: self.known[missing].to_string(),
            }),
            None => Ok(()),
        }
    }
}

/// The verdicts of a run of jobs: all from one batch check if it holds, else one by one.
fn check_run(jobs: &[SigJob]) -> Vec<Result<(), VerifyErrorKind>> {
    let items: Vec<ed25519::Item<'_>> = jobs.iter().flat_map(SigJob::items).collect();
    // The batch covered exactly the signatures each job's `check_with` asks about.
    let valid: &SignatureCheck = if ed25519::batch_holds(&items) {
        &|_, _, _| true
    } else {
        &|key, msg, sig| key.verify(msg, sig)
    };
    jobs.iter().map(|j| j.check_with(valid)).collect()
}

/// Checks `jobs` on up to `threads` cores; the first failure in ledger order is the error.
pub(super) fn check_all(jobs: &[SigJob], threads: usize) -> Result<(), VerifyError> {
    let runs: Vec<&[SigJob]> = jobs.chunks(BATCH).collect();
    let verdicts = parallel_map(&runs, threads, 1, |run| check_run(run));
    match jobs
        .iter()
        .zip(verdicts.into_iter().flatten())
        .find_map(|(j, r)| r.err().map(|e| (j, e)))
    {
        Some((job, e)) => Err(e.at(job.segment, job.offset)),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::keys::SigningKey;
    use crate::note::Note;

    fn jobs(n: u64, key: &SigningKey) -> Vec<SigJob> {
        (1..=n)
            .map(|size| {
                let cp = Checkpoint {
                    origin: "auditgate.test/sig".into(),
                    size,
                    root: [size as u8; 32],
                    extensions: vec![],
                };
                SigJob {
                    segment: 0,
                    offset: size as usize * 100,
                    size,
                    signed: SignedCheckpoint::sign(cp, &[key]).unwrap(),
                    required: 1,
                    known: vec![key.verifier_key()],
                }
            })
            .collect()
    }

    fn tamper(job: &mut SigJob) {
        let mut note: Note = job.signed.note().clone();
        note.signatures[0].signature[10] ^= 1;
        job.signed = SignedCheckpoint::parse(&note.to_bytes()).unwrap();
    }

    #[test]
    fn batched_verdicts_are_the_single_verdicts() {
        let key = SigningKey::from_seed("auditgate.test/sig", &[1; 32]).unwrap();
        let mut all = jobs(3 * BATCH as u64 + 5, &key);
        assert_eq!(check_all(&all, 2), Ok(()));
        // Two bad signatures in different runs: the first in ledger order is the error, as
        // one-by-one checking reports it.
        tamper(&mut all[150]);
        tamper(&mut all[100]);
        let err = check_all(&all, 2).unwrap_err();
        assert_eq!(err.location.offset, Some(101 * 100));
        assert!(matches!(
            err.kind,
            VerifyErrorKind::BadSignature { size: 101, .. }
        ));
        let singly = all
            .iter()
            .position(|j| j.check_with(&|k, m, s| k.verify(m, s)).is_err());
        assert_eq!(singly, Some(100));
    }

    #[test]
    fn a_missing_required_signature_is_reported_through_the_batch_path() {
        let key = SigningKey::from_seed("auditgate.test/sig", &[1; 32]).unwrap();
        let other = SigningKey::from_seed("auditgate.test/other", &[2; 32]).unwrap();
        let mut all = jobs(10, &key);
        all[4].known.insert(0, other.verifier_key());
        let err = check_all(&all, 1).unwrap_err();
        assert!(matches!(
            err.kind,
            VerifyErrorKind::MissingSignature { size: 5, .. }
        ));
    }
}

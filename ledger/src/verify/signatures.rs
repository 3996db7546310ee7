//! Checkpoint signatures (V12), deferred and checked while the in-order pass goes on (by the
//! helpers of [`super::pipeline`]), [`BATCH`] checkpoints per batch check ([`crate::ed25519::batch_holds`]). A batch that
//! does not hold is checked again one signature at a time, so the verdict and the error are
//! always those of the single rule ([`crate::ed25519::verify`]).

use std::sync::Arc;

use crate::checkpoint::{CheckpointError, SignedCheckpoint};
use crate::ed25519;
use crate::keys::VerifierKey;
use crate::note::{NoteError, SignatureCheck};

use super::{VerifyError, VerifyErrorKind};

/// Checkpoints per batch check: past a few dozen, a larger multiscalar multiplication saves
/// little, and a failing batch costs its checkpoints a second, single check.
pub(super) const BATCH: usize = 64;

/// A checkpoint signature check, deferred so that many run together.
#[derive(Debug)]
pub(super) struct SigJob {
    pub(super) segment: u64,
    pub(super) offset: usize,
    pub(super) size: u64,
    /// Shared with the verifier's last checkpoint.
    pub(super) signed: Arc<SignedCheckpoint>,
    /// The first `required` keys of `known` must each have signed.
    pub(super) required: usize,
    /// Shared by every checkpoint between two key changes.
    pub(super) known: Arc<[VerifierKey]>,
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

/// The first failure among `jobs` (one batch check, at most [`BATCH`] of them), located.
pub(super) fn first_failure(jobs: &[SigJob]) -> Option<VerifyError> {
    jobs.iter()
        .zip(check_run(jobs))
        .find_map(|(j, r)| r.err().map(|e| e.at(j.segment, j.offset)))
}

/// Checks `jobs` one batch after another; the first failure in ledger order is the error.
#[cfg(test)]
fn check_all(jobs: &[SigJob]) -> Result<(), VerifyError> {
    jobs.chunks(BATCH)
        .find_map(first_failure)
        .map_or(Ok(()), Err)
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
                    signed: Arc::new(SignedCheckpoint::sign(cp, &[key]).unwrap()),
                    required: 1,
                    known: vec![key.verifier_key()].into(),
                }
            })
            .collect()
    }

    fn tamper(job: &mut SigJob) {
        let mut note: Note = job.signed.note().clone();
        note.signatures[0].signature[10] ^= 1;
        job.signed = Arc::new(SignedCheckpoint::parse(&note.to_bytes()).unwrap());
    }

    #[test]
    fn batched_verdicts_are_the_single_verdicts() {
        let key = SigningKey::from_seed("auditgate.test/sig", &[1; 32]).unwrap();
        let mut all = jobs(3 * BATCH as u64 + 5, &key);
        assert_eq!(check_all(&all), Ok(()));
        // Two bad signatures in different runs: the first in ledger order is the error, as
        // one-by-one checking reports it.
        tamper(&mut all[150]);
        tamper(&mut all[100]);
        let err = check_all(&all).unwrap_err();
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
        all[4].known = vec![other.verifier_key(), key.verifier_key()].into();
        let err = check_all(&all).unwrap_err();
        assert!(matches!(
            err.kind,
            VerifyErrorKind::MissingSignature { size: 5, .. }
        ));
    }
}

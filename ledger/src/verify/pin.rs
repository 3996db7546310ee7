//! V14: holding a ledger to a checkpoint the auditor pinned earlier (`docs/ledger-format.md`
//! §8.4). The pin is the auditor's own input, so its findings are located at `ledger`, except
//! `PinMismatch`, which names the entry where the histories part.
//!
//! Order: the pin's origin is checked as soon as the genesis entry names the ledger's origin;
//! when the ledger reaches the pin's size, its signature (by a key required for the batch that
//! reaches that size — a key retired earlier no longer counts) and then its root; at the end,
//! a pin larger than the ledger is `Truncated` whoever signed it (the rotation that introduced
//! its signer may be among what was cut).

use super::error::VerifyErrorKind;
use crate::checkpoint::{CheckpointError, SignedCheckpoint};
use crate::keys::VerifierKey;
use crate::merkle::Hash;
use crate::note::NoteError;

fn invalid(why: String) -> VerifyErrorKind {
    VerifyErrorKind::PinnedCheckpointInvalid(why)
}

/// The pin names this ledger's origin (checked once the genesis entry is read).
pub(super) fn check_origin(pin: &SignedCheckpoint, origin: &str) -> Result<(), VerifyErrorKind> {
    if pin.checkpoint().origin != origin {
        return Err(invalid(format!(
            "origin {:?} is not this ledger's {origin:?}",
            pin.checkpoint().origin
        )));
    }
    if pin.checkpoint().size == 0 {
        return Err(invalid("size 0 cannot be pinned".into()));
    }
    Ok(())
}

/// At the pin's size: a signature by one of `admissible` (the keys the ledger requires for the
/// batch reaching that size) must verify, and every line naming another key in `known` must
/// verify too (as for the ledger's own checkpoints, §5.3); then the root must be the ledger's.
pub(super) fn check_at_size(
    pin: &SignedCheckpoint,
    admissible: &[VerifierKey],
    known: &[VerifierKey],
    root: Hash,
) -> Result<(), VerifyErrorKind> {
    let size = pin.checkpoint().size;
    let mut keys = admissible.to_vec();
    keys.extend(known.iter().filter(|k| !admissible.contains(k)).cloned());
    let verified = match pin.verify(&keys) {
        Ok(v) => v,
        Err(CheckpointError::Note(NoteError::NoVerifiedSignature)) => Vec::new(),
        Err(e) => return Err(invalid(format!("signature: {e}"))),
    };
    if !verified.iter().any(|&i| i < admissible.len()) {
        let names: Vec<String> = admissible.iter().map(ToString::to_string).collect();
        return Err(invalid(format!(
            "not signed by the key the ledger requires at size {size} ({}); a key retired before that size no longer counts",
            names.join(" or ")
        )));
    }
    if pin.checkpoint().root != root {
        return Err(VerifyErrorKind::PinMismatch { size });
    }
    Ok(())
}

/// At the end: a pin beyond the ledger's last entry means entries were cut.
pub(super) fn check_at_end(pin: &SignedCheckpoint, entries: u64) -> Result<u64, VerifyErrorKind> {
    let pinned = pin.checkpoint().size;
    if pinned > entries {
        return Err(VerifyErrorKind::Truncated {
            pinned,
            actual: entries,
        });
    }
    Ok(pinned)
}

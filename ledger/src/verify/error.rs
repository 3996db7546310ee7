//! What a failed verification says: the error kinds (one per finding of
//! `docs/ledger-format.md` §8.2), their codes and where they are located (§8.3).

use std::borrow::Cow;

use thiserror::Error;

use crate::segment::FrameError;

/// Where a verification failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// Segment number.
    pub segment: Option<u64>,
    /// Byte offset of the record in that segment.
    pub offset: Option<u64>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.segment, self.offset) {
            (Some(s), Some(o)) => write!(f, "segment {s} byte {o}"),
            (Some(s), None) => write!(f, "segment {s}"),
            _ => f.write_str("ledger"),
        }
    }
}

/// A verification failure: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{location}: {kind}")]
pub struct VerifyError {
    /// Where the first failure is.
    pub location: Location,
    /// What failed.
    pub kind: VerifyErrorKind,
}

/// Every distinct reason a ledger fails verification (the V-rules of the format doc).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyErrorKind {
    /// V1: no segment files.
    #[error("no segment files")]
    NoSegments,
    /// V1: a segment number is missing.
    #[error("segment {expected} is missing (found {found} instead)")]
    MissingSegment {
        /// The number that should come next.
        expected: u64,
        /// The number found.
        found: u64,
    },
    /// V2: bad header.
    #[error("{0}")]
    BadHeader(FrameError),
    /// V3: a frame is damaged (length, checksum, truncation, type).
    #[error("damaged record: {0}")]
    BadRecord(FrameError),
    /// V4: a record where the batch structure forbids it.
    #[error("unexpected {found} record: {why}")]
    UnexpectedRecord {
        /// The record type found.
        found: &'static str,
        /// The rule broken.
        why: &'static str,
    },
    /// V4: a segment other than the last is not sealed.
    #[error("segment {segment} is not sealed but is followed by another segment")]
    UnsealedSegment {
        /// The unsealed segment.
        segment: u64,
    },
    /// V4: entries after the last checkpoint.
    #[error("entries from seq {first_seq} on are not covered by any signed checkpoint")]
    UnsignedTail {
        /// First unsigned entry.
        first_seq: u64,
    },
    /// V5: a seal's count is wrong, or its payload is not 8 bytes.
    #[error("{}", seal_message(*.stated, *.actual))]
    BadSeal {
        /// Count in the seal (`None`: the payload is not 8 bytes).
        stated: Option<u64>,
        /// Count recomputed.
        actual: u64,
    },
    /// V6: entry bytes are not canonical JSON.
    #[error("entry seq {seq}: {why}")]
    NonCanonicalEntry {
        /// Expected seq of the entry.
        seq: u64,
        /// The canonical-form violation.
        why: String,
    },
    /// V7: one of the ledger's own members is malformed.
    #[error("entry seq {seq}: member `{field}` missing or malformed")]
    BadEntryField {
        /// Expected seq of the entry.
        seq: u64,
        /// The member.
        field: &'static str,
    },
    /// V7: seq not continuous.
    #[error("expected seq {expected}, found {found}")]
    SeqGap {
        /// Expected.
        expected: u64,
        /// Found.
        found: u64,
    },
    /// V8: `prev` does not match the previous entry's hash.
    #[error("entry seq {seq}: prev does not match the hash of the previous entry")]
    ChainBroken {
        /// The entry whose prev is wrong.
        seq: u64,
    },
    /// V9: timestamps went backwards.
    #[error("entry seq {seq}: ts {ts} is earlier than the previous entry's {previous}")]
    TimeWentBackwards {
        /// The entry.
        seq: u64,
        /// Its ts.
        ts: String,
        /// The previous ts.
        previous: String,
    },
    /// V10: bad or misplaced genesis entry.
    #[error("entry seq {seq}: bad genesis: {why}")]
    BadGenesis {
        /// The entry.
        seq: u64,
        /// What is wrong.
        why: String,
    },
    /// V10: the genesis key is not among the trusted keys.
    #[error("the ledger's genesis key {key} is not a trusted key")]
    UntrustedGenesisKey {
        /// The key named by the genesis entry.
        key: String,
    },
    /// V11: checkpoint does not parse or names another origin.
    #[error("checkpoint after seq {after_seq}: {why}")]
    BadCheckpoint {
        /// Last entry before the checkpoint.
        after_seq: u64,
        /// What is wrong.
        why: String,
    },
    /// V11: checkpoint size differs from the entries so far.
    #[error("checkpoint states tree size {stated}, but {actual} entries precede it")]
    CheckpointSizeMismatch {
        /// Size in the checkpoint.
        stated: u64,
        /// Entries counted.
        actual: u64,
    },
    /// V11: checkpoint root differs from the recomputed root.
    #[error("checkpoint of size {size}: root hash does not match the entries")]
    CheckpointRootMismatch {
        /// Tree size.
        size: u64,
    },
    /// V11 (format 1.1): the checkpoint's `prev-size` is not the size of the checkpoint before
    /// it, so a checkpoint between them was removed (or this one was moved).
    #[error(
        "checkpoint of size {size} follows the checkpoint of size {stated_prev}, but the checkpoint before it in the ledger has size {actual_prev} (a checkpoint was removed)"
    )]
    MissingCheckpoint {
        /// Tree size of this checkpoint.
        size: u64,
        /// Its `prev-size`.
        stated_prev: u64,
        /// Size of the previous checkpoint found (0 if none).
        actual_prev: u64,
    },
    /// V12: a known key's signature does not verify.
    #[error("checkpoint of size {size}: bad signature: {why}")]
    BadSignature {
        /// Tree size.
        size: u64,
        /// Details.
        why: String,
    },
    /// V12: the required signer did not sign.
    #[error("checkpoint of size {size}: no valid signature by {key}")]
    MissingSignature {
        /// Tree size.
        size: u64,
        /// The key that must have signed.
        key: String,
    },
    /// V13: malformed key rotation.
    #[error("entry seq {seq}: bad key rotation: {why}")]
    BadRotation {
        /// The entry.
        seq: u64,
        /// What is wrong.
        why: String,
    },
    /// V15: a `ledger.recovered` entry's members are malformed or do not name the place the
    /// entry itself was written at (the writer appends it where it cut the torn tail).
    #[error("entry seq {seq}: bad recovery record: {why}")]
    BadRecovery {
        /// The entry.
        seq: u64,
        /// What is wrong.
        why: String,
    },
    /// V14: the pinned checkpoint itself is not acceptable.
    #[error("pinned checkpoint: {0}")]
    PinnedCheckpointInvalid(String),
    /// V14: the ledger is shorter than the pinned checkpoint.
    #[error("ledger was truncated: pinned checkpoint has {pinned} entries, ledger has {actual}")]
    Truncated {
        /// Pinned size.
        pinned: u64,
        /// Ledger size.
        actual: u64,
    },
    /// V14: the ledger's history differs from the pinned checkpoint.
    #[error(
        "ledger history differs from the pinned checkpoint at size {size} (rewritten or rolled back)"
    )]
    PinMismatch {
        /// Pinned size.
        size: u64,
    },
    /// Reading the files failed (not a verdict on the ledger).
    #[error("I/O error: {0}")]
    Io(String),
}

fn seal_message(stated: Option<u64>, actual: u64) -> String {
    match stated {
        Some(stated) => format!("seal says {stated} entries, ledger has {actual}"),
        None => "seal payload is not 8 bytes".to_owned(),
    }
}

impl VerifyErrorKind {
    /// Whether the finding is about the whole ledger (located at `ledger`, §8.3) rather than
    /// about one record.
    pub fn is_whole_ledger(&self) -> bool {
        matches!(
            self,
            Self::NoSegments
                | Self::UnsignedTail { .. }
                | Self::PinnedCheckpointInvalid(_)
                | Self::Truncated { .. }
                | Self::Io(_)
        )
    }

    /// The error at the record at `offset` of `segment`, or at `ledger` for a whole-ledger
    /// finding.
    pub(super) fn at(self, segment: u64, offset: usize) -> VerifyError {
        if self.is_whole_ledger() {
            return self.anywhere();
        }
        VerifyError {
            location: Location {
                segment: Some(segment),
                offset: Some(offset as u64),
            },
            kind: self,
        }
    }

    pub(super) fn anywhere(self) -> VerifyError {
        VerifyError {
            location: Location::default(),
            kind: self,
        }
    }
}

/// A short, stable name for an error kind (used by test vectors and `--json` output).
pub fn error_code(kind: &VerifyErrorKind) -> Cow<'static, str> {
    let name = format!("{kind:?}");
    let end = name.find([' ', '(', '{']).unwrap_or(name.len());
    Cow::Owned(name[..end].to_owned())
}

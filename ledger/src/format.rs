//! Format versions (`docs/ledger-format.md` §1.1): which rules a ledger is held to, gated by its
//! genesis entry's `format` member.
//!
//! - `auditgate-ledger/1` (1.0): what every ledger written before format 1.1 is;
//! - `auditgate-ledger/1.1`: every checkpoint names the size of the checkpoint before it (the
//!   `prev-size` extension line, §5.1), so that removing a checkpoint between two others is
//!   detected; keys inside entries are in their one canonical text form (§6.2).
//!
//! A writer creates 1.1 ledgers and keeps writing an existing ledger in its own version.

use crate::checkpoint::Checkpoint;

/// The genesis `format` of a 1.0 ledger.
pub const FORMAT_1_0: &str = "auditgate-ledger/1";
/// The genesis `format` of a 1.1 ledger.
pub const FORMAT_1_1: &str = "auditgate-ledger/1.1";
/// The keyword of the 1.1 checkpoint extension line `prev-size <decimal>`.
pub const PREV_SIZE: &str = "prev-size";

/// A ledger format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Format {
    /// `auditgate-ledger/1`.
    V1_0,
    /// `auditgate-ledger/1.1` (what new ledgers are).
    #[default]
    V1_1,
}

impl Format {
    /// The genesis `format` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0 => FORMAT_1_0,
            Self::V1_1 => FORMAT_1_1,
        }
    }

    /// The version a genesis `format` string names, if it is one this crate knows.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            FORMAT_1_0 => Some(Self::V1_0),
            FORMAT_1_1 => Some(Self::V1_1),
            _ => None,
        }
    }

    /// The version a checkpoint this crate's writer signed belongs to: 1.1 writers always
    /// write exactly one well-formed `prev-size` line, 1.0 writers never write an extension
    /// line (so a 1.0 checkpoint with other extension lines, which 1.0 allows, is 1.0).
    pub fn of_checkpoint(cp: &Checkpoint) -> Self {
        if prev_size(cp).is_ok() {
            Self::V1_1
        } else {
            Self::V1_0
        }
    }

    /// The extension lines a checkpoint of this version carries, given the size of the
    /// checkpoint before it (0 for the ledger's first).
    pub fn extensions(self, prev_size: u64) -> Vec<String> {
        match self {
            Self::V1_0 => Vec::new(),
            Self::V1_1 => vec![format!("{PREV_SIZE} {prev_size}")],
        }
    }
}

/// Why a 1.1 checkpoint's extension lines are not exactly one well-formed `prev-size` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrevSizeError {
    /// No extension line, or more than one.
    #[error("a format 1.1 checkpoint has exactly one extension line, `prev-size <n>`; found {0}")]
    LineCount(usize),
    /// The line is not `prev-size ` and a decimal without leading zeros.
    #[error("extension line {0:?} is not `prev-size <n>`")]
    Malformed(String),
}

/// The size a 1.1 checkpoint says its predecessor had.
pub fn prev_size(cp: &Checkpoint) -> Result<u64, PrevSizeError> {
    let [line] = cp.extensions.as_slice() else {
        return Err(PrevSizeError::LineCount(cp.extensions.len()));
    };
    let malformed = || PrevSizeError::Malformed(line.clone());
    let digits = line
        .strip_prefix(PREV_SIZE)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or_else(malformed)?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return Err(malformed());
    }
    digits.parse().map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(extensions: &[&str]) -> Checkpoint {
        Checkpoint {
            origin: "o".into(),
            size: 9,
            root: [0; 32],
            extensions: extensions.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn versions_round_trip_and_unknown_ones_are_refused() {
        for f in [Format::V1_0, Format::V1_1] {
            assert_eq!(Format::parse(f.as_str()), Some(f));
        }
        assert_eq!(Format::parse("auditgate-ledger/2"), None);
        assert_eq!(Format::parse("auditgate-ledger/1.0"), None);
    }

    #[test]
    fn prev_size_reads_exactly_one_canonical_line() {
        assert_eq!(prev_size(&cp(&["prev-size 0"])), Ok(0));
        assert_eq!(prev_size(&cp(&["prev-size 17"])), Ok(17));
        assert_eq!(
            prev_size(&cp(&Format::V1_1
                .extensions(5)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>())),
            Ok(5)
        );
        assert_eq!(prev_size(&cp(&[])), Err(PrevSizeError::LineCount(0)));
        assert_eq!(
            prev_size(&cp(&["prev-size 1", "prev-size 1"])),
            Err(PrevSizeError::LineCount(2))
        );
        for bad in [
            "prev-size",
            "prev-size ",
            "prev-size 01",
            "prev-size +1",
            "prev-size  1",
            "prev-size 1 ",
            "prev-size 18446744073709551616",
            "prev_size 1",
        ] {
            assert!(prev_size(&cp(&[bad])).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_checkpoint_tells_its_version_by_its_extension_lines() {
        assert_eq!(Format::of_checkpoint(&cp(&[])), Format::V1_0);
        assert_eq!(Format::of_checkpoint(&cp(&["prev-size 3"])), Format::V1_1);
        assert_eq!(Format::of_checkpoint(&cp(&["an extension"])), Format::V1_0);
    }
}

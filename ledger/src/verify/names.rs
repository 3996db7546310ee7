//! V1, on names alone (`docs/ledger-format.md` §2.1, §8.1): which files of a `segments/`
//! directory are segments, which are stray (a warning), and whether the numbers are contiguous
//! from 0 — all decided before any segment is read.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{Location, VerifyError, VerifyErrorKind};
use crate::segment;

/// Something a verifier reports without failing the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A directory entry in `segments/` that is not named like a segment (§2.1). The name is
    /// as found (lossily decoded if it is not UTF-8); print it escaped.
    StrayFile {
        /// The file name.
        name: String,
    },
}

impl Warning {
    /// The warning's stable code (`StrayFile`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::StrayFile { .. } => "StrayFile",
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::StrayFile { name } => write!(
                f,
                "{name:?} in segments/ is not a segment file (not 16 lowercase hex digits and .seg); ignored"
            ),
        }
    }
}

/// The segment numbers found, in order, and the stray names beside them.
#[derive(Debug, Clone, Default)]
pub struct SegmentNames {
    /// Segment numbers, ascending.
    pub numbers: Vec<u64>,
    /// One warning per stray name, sorted by name.
    pub warnings: Vec<Warning>,
}

/// The directory holding the segment files, given a ledger directory (which has `segments/`)
/// or the `segments/` directory itself: a directory that holds a file named like a segment is
/// the segments directory, whatever else it holds (so a `segments/segments/` beside the real
/// files is a stray name, not the ledger); otherwise its `segments/`, if it has one.
pub fn segments_dir(path: &Path) -> PathBuf {
    let holds_segments = fs::read_dir(path).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_str()
                .and_then(segment::parse_file_name)
                .is_some()
        })
    });
    let inner = path.join("segments");
    if !holds_segments && inner.is_dir() {
        inner
    } else {
        path.to_path_buf()
    }
}

/// Lists `dir` (a `segments/` directory) and checks V1: at least one segment, numbers
/// contiguous from 0. The error is located at the first number after the gap (byte 0).
pub fn list_segments(dir: &Path) -> Result<SegmentNames, VerifyError> {
    let io = |e: std::io::Error| VerifyErrorKind::Io(format!("{}: {e}", dir.display())).anywhere();
    let mut names = SegmentNames::default();
    let mut stray = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        match name.to_str().and_then(segment::parse_file_name) {
            Some(n) => names.numbers.push(n),
            None => stray.push(name.to_string_lossy().into_owned()),
        }
    }
    names.numbers.sort_unstable();
    stray.sort();
    names.warnings = stray
        .into_iter()
        .map(|name| Warning::StrayFile { name })
        .collect();
    check_contiguous(&names.numbers)?;
    Ok(names)
}

/// V1 on a list of segment numbers (ascending).
pub(super) fn check_contiguous(numbers: &[u64]) -> Result<(), VerifyError> {
    if numbers.is_empty() {
        return Err(VerifyErrorKind::NoSegments.anywhere());
    }
    for (expected, &found) in (0u64..).zip(numbers) {
        if found != expected {
            return Err(VerifyError {
                location: Location {
                    segment: Some(found),
                    offset: Some(0),
                },
                kind: VerifyErrorKind::MissingSegment { expected, found },
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stray_names_are_warnings_and_gaps_are_errors_before_any_read() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "0000000000000000.seg",
            "0000000000000001.seg",
            "notes.txt",
            "000000000000000A.seg",
        ] {
            fs::write(dir.path().join(name), b"not read").unwrap();
        }
        let names = list_segments(dir.path()).unwrap();
        assert_eq!(names.numbers, vec![0, 1]);
        let codes: Vec<String> = names
            .warnings
            .iter()
            .map(|w| format!("{} {w}", w.code()))
            .collect();
        assert_eq!(codes.len(), 2, "{codes:?}");
        assert!(codes[0].starts_with("StrayFile \"000000000000000A.seg\""));
        assert!(codes[1].starts_with("StrayFile \"notes.txt\""));

        fs::write(dir.path().join("0000000000000003.seg"), b"").unwrap();
        let err = list_segments(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "segment 3 byte 0: segment 2 is missing (found 3 instead)"
        );
        assert_eq!(
            check_contiguous(&[]).unwrap_err().kind,
            VerifyErrorKind::NoSegments
        );
    }
}

//! Entries for the forensic commands (`sessions`, `replay`, `what-if`), from a ledger or an
//! evidence bundle: verified in full when a key is given, otherwise checked for everything but
//! signatures (a ledger) or read as is (a bundle), and said so.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use auditgate_ledger::VerifyError;
use auditgate_ledger::verify::VerifyErrorKind;

use crate::bundle::{self, check};
use crate::event::Entry;
use crate::source::{self, Trust};
use crate::summary::{self, emit};
use crate::trust;

/// How far the entries that were read can be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Every rule checked, signatures by the trusted key included.
    Verified,
    /// No key was given: signatures were not checked.
    Unverified,
}

impl Provenance {
    /// One line for the top of a report.
    pub fn note(&self, path: &Path) -> String {
        match self {
            Provenance::Verified => format!(
                "{}: verified (chain, Merkle roots, signatures by the trusted key)",
                path.display()
            ),
            Provenance::Unverified => format!(
                "{}: NOT VERIFIED (no --pubkey: signatures unchecked; anyone could have written these entries)",
                path.display()
            ),
        }
    }
}

/// Hands every entry of the ledger or bundle at `path` to `f`, in seq order. `Ok(Err(code))`
/// when the ledger or bundle is invalid (the reason was printed).
pub fn for_each(
    path: &Path,
    pubkey: Option<&str>,
    f: &mut dyn FnMut(Entry),
) -> Result<std::result::Result<Provenance, ExitCode>> {
    if !path.is_dir() {
        bail!("{} is not a directory", path.display());
    }
    let keys = pubkey.map(trust::trusted_keys).transpose()?;
    let provenance = if keys.is_some() {
        Provenance::Verified
    } else {
        Provenance::Unverified
    };
    if bundle::is_bundle(path) {
        let entries = match &keys {
            Some(k) => match check::check(path, k)? {
                Ok(c) => c.entries,
                Err(e) => {
                    emit(&check::invalid_text(path, &e));
                    return Ok(Err(ExitCode::from(1)));
                }
            },
            None => check::read_unchecked(path)?,
        };
        entries.into_iter().for_each(f);
        return Ok(Ok(provenance));
    }
    let trust = match keys {
        Some(keys) => Trust::Keys { keys, pin: None },
        None => Trust::Unverified,
    };
    let scanned = source::scan(path, trust, false, &mut |bytes, entries| {
        for e in &entries {
            if let Some(parsed) = Entry::parse(&bytes[e.range.clone()]) {
                f(parsed);
            }
        }
    });
    match scanned {
        Ok(_) => Ok(Ok(provenance)),
        Err(VerifyError {
            kind: VerifyErrorKind::Io(msg),
            ..
        }) => bail!("{msg}"),
        Err(err) => {
            emit(&summary::failure_text(path, &err));
            Ok(Err(ExitCode::from(1)))
        }
    }
}

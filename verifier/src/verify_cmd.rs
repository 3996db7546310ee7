//! `auditgate-verify verify`: full recomputation of a ledger (every ledger rule V1–V15 through
//! the ledger crate, then the gateway invariants G1–G5) or of an evidence bundle, with a human
//! or JSON verdict.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use auditgate_ledger::VerifyError;
use auditgate_ledger::verify::VerifyErrorKind;

use crate::bundle;
use crate::gateway_pass;
use crate::invariants::{Checker, Scope};
use crate::source::{self, EntryRef, Trust};
use crate::summary::{self, emit};
use crate::trust;

/// Runs the command; `Err` only for usage and I/O problems (exit 2).
pub fn run(path: &Path, pubkey: &str, pin: Option<&Path>, as_json: bool) -> Result<ExitCode> {
    if !path.is_dir() {
        bail!("{} is not a directory", path.display());
    }
    let keys = trust::trusted_keys(pubkey)?;
    if bundle::is_bundle(path) {
        if pin.is_some() {
            bail!("--pin applies to a ledger; a bundle is checked against its own checkpoint");
        }
        return bundle::check::run(path, &keys, as_json);
    }
    let pin = pin.map(trust::pinned_checkpoint).transpose()?;
    // The gateway invariants run on their own thread, a segment behind the ledger checks, so
    // that they use the time the ledger verifier's in-order pass leaves a core idle.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, Vec<EntryRef>)>(1);
    let worker = std::thread::spawn(move || {
        let mut checker = Checker::new(Scope::Ledger);
        for (bytes, entries) in rx {
            gateway_pass::feed(&mut checker, &bytes, &entries);
        }
        checker.finish()
    });
    let scanned = source::scan(
        path,
        Trust::Keys { keys, pin },
        false,
        &mut |bytes, entries| {
            // The worker stops early only by panicking; the join below reports that.
            let _ = tx.send((bytes, entries));
        },
    );
    drop(tx);
    let findings = worker
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    let report = match scanned {
        Ok(r) => r,
        Err(VerifyError {
            kind: VerifyErrorKind::Io(msg),
            ..
        }) => bail!("{msg}"),
        Err(err) => {
            emit(&if as_json {
                format!("{}\n", summary::failure_json(&err))
            } else {
                summary::failure_text(path, &err)
            });
            return Ok(ExitCode::from(1));
        }
    };
    if let Some(v) = &findings.violation {
        emit(&if as_json {
            format!("{}\n", summary::violation_json(v, &findings))
        } else {
            summary::violation_text(
                path,
                v,
                "(the chain, Merkle roots and signatures are intact: the gateway recorded a history it cannot have had)",
            )
        });
        return Ok(ExitCode::from(1));
    }
    emit(&if as_json {
        format!("{}\n", summary::ledger_json(&report, &findings))
    } else {
        summary::ledger_text(path, &report, &findings)
    });
    Ok(ExitCode::SUCCESS)
}

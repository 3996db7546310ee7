//! `auditgate-verify verify`: full recomputation of a ledger, with a human or JSON verdict.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use auditgate_ledger::verify::{self, VerifyErrorKind, VerifyOptions};
use auditgate_ledger::{Report, VerifyError};
use base64::Engine as _;
use serde_json::json;

use crate::trust;

/// Runs the command; `Err` only for usage and I/O problems (exit 2).
pub fn run(path: &Path, pubkey: &str, pin: Option<&Path>, as_json: bool) -> Result<ExitCode> {
    if !path.is_dir() {
        bail!("{} is not a directory", path.display());
    }
    let trusted = trust::trusted_keys(pubkey)?;
    let pin = pin.map(trust::pinned_checkpoint).transpose()?;
    match verify::verify_dir(path, trusted, pin, VerifyOptions::default()) {
        Ok(report) => {
            if as_json {
                emit(&format!("{}\n", report_json(&report)));
            } else {
                emit(&render_report(path, &report));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(VerifyError {
            kind: VerifyErrorKind::Io(msg),
            ..
        }) => bail!("{msg}"),
        Err(err) => {
            if as_json {
                emit(&format!("{}\n", failure_json(&err)));
            } else {
                emit(&format!(
                    "INVALID: {}\n  {err}\n  rule: {}\n",
                    path.display(),
                    verify::error_code(&err.kind)
                ));
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn render_report(path: &Path, r: &Report) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "VALID: {}", path.display());
    let _ = writeln!(o, "  entries      {}", r.entries);
    let _ = writeln!(o, "  segments     {}", r.segments);
    let _ = writeln!(
        o,
        "  checkpoints  {} (every one signed and matching its recomputed root)",
        r.checkpoints
    );
    if let (Some(a), Some(b)) = (r.first_ts, r.last_ts) {
        let _ = writeln!(o, "  time span    {a} .. {b}");
    }
    let _ = writeln!(o, "  ledger id    {}", r.ledger_id);
    let _ = writeln!(o, "  origin       {}", r.origin);
    for (i, k) in r.keys.iter().enumerate() {
        let role = if i + 1 == r.keys.len() {
            "active"
        } else {
            "retired"
        };
        let _ = writeln!(o, "  key {}        {k} ({role})", i + 1);
    }
    let _ = writeln!(o, "  root         {}", b64(&r.root));
    if let Some(size) = r.pinned_size {
        let _ = writeln!(
            o,
            "  pinned       checkpoint of size {size}: the ledger extends it"
        );
    } else {
        let _ = writeln!(
            o,
            "  pinned       none (truncation after the last checkpoint you hold cannot be detected; use --pin)"
        );
    }
    let _ = writeln!(o, "  kinds:");
    for (kind, n) in &r.kinds {
        let _ = writeln!(o, "    {n:>8}  {kind}");
    }
    o
}

fn report_json(r: &Report) -> serde_json::Value {
    json!({
        "valid": true,
        "entries": r.entries,
        "segments": r.segments,
        "checkpoints": r.checkpoints,
        "first_ts": r.first_ts.map(|t| t.to_string()),
        "last_ts": r.last_ts.map(|t| t.to_string()),
        "ledger_id": r.ledger_id,
        "origin": r.origin,
        "keys": r.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "root": b64(&r.root),
        "head_hash": hex::encode(r.head_hash),
        "pinned_size": r.pinned_size,
        "kinds": r.kinds,
    })
}

fn failure_json(err: &VerifyError) -> serde_json::Value {
    json!({
        "valid": false,
        "error": verify::error_code(&err.kind),
        "message": err.kind.to_string(),
        "segment": err.location.segment,
        "offset": err.location.offset,
        "seq": seq_of(&err.kind),
    })
}

/// The entry seq a failure names, where it names one.
fn seq_of(kind: &VerifyErrorKind) -> Option<u64> {
    match kind {
        VerifyErrorKind::NonCanonicalEntry { seq, .. }
        | VerifyErrorKind::BadEntryField { seq, .. }
        | VerifyErrorKind::ChainBroken { seq }
        | VerifyErrorKind::TimeWentBackwards { seq, .. }
        | VerifyErrorKind::BadGenesis { seq, .. }
        | VerifyErrorKind::BadRotation { seq, .. } => Some(*seq),
        VerifyErrorKind::SeqGap { expected, .. } => Some(*expected),
        VerifyErrorKind::UnsignedTail { first_seq } => Some(*first_seq),
        _ => None,
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

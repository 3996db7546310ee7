//! The verdicts `verify` prints: the human summary and the `--json` object, for a valid
//! ledger, a ledger failing a ledger rule (V1–V15) or a gateway rule (G1–G5, A1–A5), and the
//! gateway findings shared with bundle verification (interrupted calls, warnings).

use std::fmt::Write as _;
use std::path::Path;

use auditgate_ledger::verify::{self, VerifyErrorKind, Warning};
use auditgate_ledger::{Report, VerifyError};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::event;
use crate::invariants::{Dangling, ExpiredAfterGrant, Findings, Interrupted, Violation};
use crate::rfc3339;

/// The human summary of a ledger whose every rule holds.
pub fn ledger_text(path: &Path, r: &Report, g: &Findings) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "VALID: {}", path.display());
    let _ = writeln!(
        o,
        "  entries      {} in {} segment{}",
        r.entries,
        r.segments,
        plural(r.segments)
    );
    let _ = writeln!(
        o,
        "  checkpoints  {} (every one signed and matching its recomputed root)",
        r.checkpoints
    );
    if let (Some(a), Some(b)) = (r.first_ts, r.last_ts) {
        let span = rfc3339::ledger_nanos(b.as_str()) - rfc3339::ledger_nanos(a.as_str());
        let _ = writeln!(
            o,
            "  time span    {a} .. {b} ({})",
            rfc3339::human_duration(span)
        );
    }
    gateway_text(&mut o, g);
    let _ = writeln!(o, "  ledger id    {}", r.ledger_id);
    let _ = writeln!(o, "  origin       {}", r.origin);
    let _ = writeln!(o, "  format       {}", r.format.as_str());
    keys_text(
        &mut o,
        &r.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
    );
    let _ = writeln!(o, "  root         {}", b64(&r.root));
    match r.pinned_size {
        Some(size) => {
            let _ = writeln!(
                o,
                "  pinned       checkpoint of size {size}: the ledger extends it"
            );
        }
        None => {
            let _ = writeln!(
                o,
                "  pinned       none (truncation after the last checkpoint you hold cannot be detected; use --pin)"
            );
        }
    }
    let _ = writeln!(o, "  kinds:");
    for (kind, n) in &r.kinds {
        let _ = writeln!(o, "    {n:>8}  {kind}");
    }
    for w in &r.warnings {
        let _ = writeln!(o, "  warning      {}: {w}", w.code());
    }
    o
}

/// The ledger's own warnings (§2.1: stray files in `segments/`), for `--json`.
fn ledger_warnings_json(r: &Report) -> Vec<Value> {
    r.warnings
        .iter()
        .map(|w| match w {
            Warning::StrayFile { name } => json!({
                "warning": w.code(),
                "file": name,
                "message": w.to_string(),
            }),
        })
        .collect()
}

/// The signing keys, in the order they were active.
pub fn keys_text(o: &mut String, keys: &[String]) {
    for (i, k) in keys.iter().enumerate() {
        let role = if i + 1 == keys.len() {
            "active"
        } else {
            "retired"
        };
        let label = if i == 0 { "keys" } else { "" };
        let _ = writeln!(o, "  {label:<12} {k} ({role})");
    }
}

/// The gateway lines of a summary: sessions, calls by disposition and outcome, G1–G5,
/// interrupted calls, warnings.
pub fn gateway_text(o: &mut String, g: &Findings) {
    if !g.checked() {
        let _ = writeln!(
            o,
            "  gateway      no gateway.start entry: not written by the gateway, G1–G5 not applied"
        );
        return;
    }
    let calls: u64 = g.dispositions.values().sum();
    let _ = writeln!(
        o,
        "  sessions     {} in {} gateway run{}; {} listing{}, {} call{}",
        g.sessions,
        g.runs,
        plural(g.runs),
        g.listings,
        plural(g.listings),
        calls,
        plural(calls)
    );
    if !g.dispositions.is_empty() {
        let _ = writeln!(o, "  calls        {}", counts(&g.dispositions));
    }
    if !g.outcomes.is_empty() {
        let _ = writeln!(o, "  results      {}", counts(&g.outcomes));
    }
    let _ = writeln!(
        o,
        "  gateway      G1–G5 and A1–A5 hold (results and interruptions answer forwarded or approved requests once; sessions open; policy and catalog as loaded; approvals signed)"
    );
    for (i, (key, n)) in g.approver_keys.iter().enumerate() {
        let label = if i == 0 { "approvers" } else { "" };
        let _ = writeln!(
            o,
            "  {label:<12} {key} ({n} signed receipt{}; check it against your approvers)",
            plural(*n)
        );
    }
    for (i, c) in g.interrupted.iter().enumerate() {
        let label = if i == 0 { "interrupted" } else { "" };
        let _ = writeln!(o, "  {label:<12} {}", interrupted_line(c));
    }
    for (i, e) in g.erasures.iter().enumerate() {
        let label = if i == 0 { "erased" } else { "" };
        let _ = writeln!(
            o,
            "  {label:<12} {} commitment{} of vault key {} (vault.erased at seq {}): their \
             originals can no longer be revealed",
            e.commitments.len(),
            plural(e.commitments.len() as u64),
            e.key_id,
            e.seq
        );
    }
    for d in &g.dangling {
        let _ = writeln!(o, "  WARNING      {}", dangling_line(d));
    }
    for e in &g.expired_after_grant {
        let _ = writeln!(o, "  WARNING      {}", expired_after_grant_line(e));
    }
}

/// An interrupted call: what it was, and that its outcome is unknown.
fn interrupted_line(c: &Interrupted) -> String {
    let approval = c
        .approval_id
        .as_ref()
        .map_or(String::new(), |id| format!(", approval {id}"));
    format!(
        "seq {} ({} in session {}{approval}): {}",
        c.seq,
        c.tool,
        c.session,
        event::interrupted_text(
            c.approval_id.is_some(),
            &format!("; call.interrupted at seq {}", c.interrupted_seq)
        )
    )
}

fn dangling_line(d: &Dangling) -> String {
    let why = match (d.restart_seq, d.stop_seq) {
        (Some(s), _) => {
            format!("the gateway restarted at seq {s} (a crash between request and result?)")
        }
        (None, Some(s)) => format!(
            "the clean stop at seq {s} (its result could not be recorded; the client was told \
             the call may have taken effect)"
        ),
        (None, None) => "the ledger ends (a crash between request and result?)".to_owned(),
    };
    format!(
        "dangling request seq {} ({} in session {}): forwarded, but no result before {why}",
        d.seq, d.tool, d.session
    )
}

fn expired_after_grant_line(e: &ExpiredAfterGrant) -> String {
    format!(
        "expired_after_grant: approval {} of request seq {} ({} in session {}) recorded as \
         expired ({}) at seq {}, after {} grant{}: the call had been forwarded and its outcome \
         is unknown (a gateway older than call.interrupted)",
        e.approval_id,
        e.request_seq,
        e.tool,
        e.session,
        e.reason,
        e.seq,
        e.grants,
        plural(e.grants)
    )
}

fn counts(m: &std::collections::BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The `gateway` member of `--json` output.
pub fn gateway_json(g: &Findings) -> Value {
    json!({
        "runs": g.runs,
        "sessions": g.sessions,
        "listings": g.listings,
        "calls": g.dispositions,
        "results": g.outcomes,
        "invariants": match (g.checked(), g.violation.is_some()) {
            (false, _) => "not_applied",
            (true, true) => "broken",
            (true, false) => "hold",
        },
        "approver_keys": g.approver_keys,
        "interrupted": g.interrupted.iter().map(|c| json!({
            "seq": c.seq,
            "session": c.session,
            "tool": c.tool,
            "approval_id": c.approval_id,
            "interrupted_seq": c.interrupted_seq,
        })).collect::<Vec<_>>(),
        "erased": g.erasures.iter().map(|e| json!({
            "seq": e.seq,
            "key_id": e.key_id,
            "commitments": e.commitments,
        })).collect::<Vec<_>>(),
        "warnings": warnings_json(g),
    })
}

/// G2's dangling requests, then G5's approvals expired after their grants.
fn warnings_json(g: &Findings) -> Vec<Value> {
    let dangling = g.dangling.iter().map(|d| {
        json!({
            "rule": "G2",
            "warning": "DanglingRequest",
            "seq": d.seq,
            "session": d.session,
            "tool": d.tool,
            "restart_seq": d.restart_seq,
            "stop_seq": d.stop_seq,
        })
    });
    let expired = g.expired_after_grant.iter().map(|e| {
        json!({
            "rule": "G5",
            "warning": "expired_after_grant",
            "seq": e.seq,
            "request_seq": e.request_seq,
            "session": e.session,
            "tool": e.tool,
            "approval_id": e.approval_id,
            "reason": e.reason,
            "grants": e.grants,
        })
    });
    dangling.chain(expired).collect()
}

/// `--json` for a valid ledger.
pub fn ledger_json(r: &Report, g: &Findings) -> Value {
    json!({
        "valid": true,
        "type": "ledger",
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
        "format": r.format.as_str(),
        "kinds": r.kinds,
        "warnings": ledger_warnings_json(r),
        "gateway": gateway_json(g),
    })
}

/// Human text for a broken gateway invariant.
pub fn violation_text(path: &Path, v: &Violation, what: &str) -> String {
    format!(
        "INVALID: {}\n  seq {}: {v}\n  rule: {} ({})\n  {what}\n",
        path.display(),
        v.seq(),
        v.rule(),
        v.code()
    )
}

/// `--json` for a broken gateway invariant.
pub fn violation_json(v: &Violation, g: &Findings) -> Value {
    json!({
        "valid": false,
        "error": v.code(),
        "rule": v.rule(),
        "message": v.to_string(),
        "seq": v.seq(),
        "gateway": gateway_json(g),
    })
}

/// Human text for a ledger failing a ledger rule.
pub fn failure_text(path: &Path, err: &VerifyError) -> String {
    let seq = seq_of(&err.kind).map_or(String::new(), |s| format!("  first failing seq: {s}\n"));
    format!(
        "INVALID: {}\n  {err}\n{seq}  rule: {}\n",
        path.display(),
        verify::error_code(&err.kind)
    )
}

/// `--json` for a ledger failing a ledger rule.
pub fn failure_json(err: &VerifyError) -> Value {
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
pub fn seq_of(kind: &VerifyErrorKind) -> Option<u64> {
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

/// Standard base64.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

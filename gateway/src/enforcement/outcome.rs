//! What Convex answered, made into the `call.result` entry and the answer — through one
//! redaction pass for both ways out (`docs/privacy.md` §3):
//!
//! - **the ledger** gets the result, or the error's detail, after the call's `audit_result`
//!   plan — for an error, applied to the `ConvexError` data as its root — and then by-value
//!   redaction of every text the call's plans redacted (in the arguments or in the result), in
//!   every string left: other members, Convex's message, log lines, excerpts;
//! - **the agent** gets the result, or the `ConvexError` data, after the `response` plan, with
//!   the same by-value pass over what that plan hid.
//!
//! Digests bind the unredacted bytes and are keyed ([`crate::audit::AuditLog::digest`]).
use auditgate_ledger::{Draft, canonical};
use auditgate_policy::{CommitKey, Exposure, Redacted, RedactionPlan};
use serde_json::{Value, json};

use super::context::CallContext;
use super::{Enforcer, error_result, ok_result};
use crate::audit::events;
use crate::catalog::{Tool, data_privacy};
use crate::upstream::convex::UpstreamError;

/// A settled call: its `call.result`, the answer it releases once durable, and the redaction
/// whose committed originals the vault keeps before it is recorded.
#[derive(Debug)]
pub(super) struct Settled {
    pub entry: Draft,
    pub answer: Value,
    pub committed: Option<Redacted>,
}

impl Enforcer {
    /// The entry and answer for what the upstream returned.
    pub(super) fn settle_outcome(
        &self,
        call: &CallContext<'_>,
        request_seq: u64,
        upstream: Result<Value, UpstreamError>,
        latency_us: u64,
    ) -> Settled {
        match upstream {
            Ok(value) => self.settle_ok(call, request_seq, value, latency_us),
            Err(e) => self.settle_error(call, request_seq, &e, latency_us),
        }
    }

    fn settle_ok(
        &self,
        call: &CallContext<'_>,
        request_seq: u64,
        value: Value,
        latency_us: u64,
    ) -> Settled {
        // A table the caller may not read is not listed (`[data] tables`).
        let value = &data_privacy::readable_tables(
            call.tool,
            value,
            &call.snapshot.policy,
            call.caller.principal,
        );
        let mut audit = data_privacy::redact(
            call.tool,
            &call.decision.audit_result,
            value,
            &self.commit_key,
        );
        let recorded = by_value(&mut audit, &call.audit_args);
        let unredacted = canonical::encode(value);
        let digest = self.audit.digest(&unredacted);
        let entry = |result| {
            events::call_result(events::CallResult {
                session: call.caller.session,
                request_id: call.request_id.clone(),
                request_seq,
                tool: &call.tool.name,
                outcome: "ok",
                latency_us,
                result: Some(result),
                error: None,
            })
        };
        let full = entry(events::RecordedResult::Full {
            value: recorded.value,
            redactions: recorded.report,
            digest: digest.clone(),
        });
        // A result too large for one entry is recorded by its digest and length, so that the
        // call is still accounted for and the result the client got can be matched
        // (docs/reliability.md, finding 5).
        let entry = if self.audit.fits(&full) {
            full
        } else {
            entry(events::RecordedResult::Omitted {
                digest,
                bytes: unredacted.len(),
            })
        };
        let shown = shown(call.tool, &call.decision.response, value, &self.commit_key);
        Settled {
            entry,
            answer: ok_result(call.tool, shown, call.decision.response.is_empty()),
            committed: Some(audit),
        }
    }

    fn settle_error(
        &self,
        call: &CallContext<'_>,
        request_seq: u64,
        e: &UpstreamError,
        latency_us: u64,
    ) -> Settled {
        let outcome = if matches!(e, UpstreamError::Function { .. }) {
            "tool_error"
        } else {
            "upstream_error"
        };
        let mut detail = e.ledger_detail();
        let data = detail
            .get("data")
            .filter(|d| !d.is_null())
            .map(|d| call.decision.audit_result.apply(d, &self.commit_key));
        let exposure = Exposure::of(
            call.audit_args
                .originals
                .0
                .iter()
                .chain(data.iter().flat_map(|d| d.originals.0.iter())),
        );
        if let (Some(d), Value::Object(map)) = (&data, &mut detail) {
            map.insert("data".into(), d.value.clone());
            map.insert("redactions".into(), report_json(d, 0));
        }
        let by_value = exposure.scrub_in_place(&mut detail);
        if by_value > 0
            && let Value::Object(map) = &mut detail
        {
            map.insert("by_value".into(), Value::from(by_value));
        }
        let entry = |error| {
            events::call_result(events::CallResult {
                session: call.caller.session,
                request_id: call.request_id.clone(),
                request_seq,
                tool: &call.tool.name,
                outcome,
                latency_us,
                result: None,
                error: Some(error),
            })
        };
        let full = entry(detail);
        // An error detail too large for one entry (a `ConvexError`'s data, log lines) is
        // recorded by its digest and length, like a result (finding 5).
        let entry = if self.audit.fits(&full) {
            full
        } else {
            let original = canonical::encode(&e.ledger_detail());
            entry(json!({"class": e.class(), "omitted": {
                "reason": "entry_limit", "bytes": original.len(),
                "digest": self.audit.digest(&original)}}))
        };
        let answer = error_result(format!(
            "{} (audit ref: ledger seq {request_seq})",
            agent_message(e, &call.decision.response, &self.commit_key)
        ));
        Settled {
            entry,
            answer,
            committed: data,
        }
    }
}

/// A result as the ledger holds it: the plan's redaction, then by-value redaction of what the
/// arguments' and the result's plans redacted.
struct Recorded {
    value: Value,
    report: Value,
}

/// By-value redaction of a value the plan already redacted, in place: every text the plan
/// redacted is replaced wherever else it appears. Returns how many were.
pub(super) fn redact_by_value(redacted: &mut Redacted) -> usize {
    let exposure = Exposure::of(&redacted.originals.0);
    exposure.scrub_in_place(&mut redacted.value)
}

fn by_value(audit: &mut Redacted, args: &Redacted) -> Recorded {
    let exposure = Exposure::of(args.originals.0.iter().chain(audit.originals.0.iter()));
    let count = exposure.scrub_in_place(&mut audit.value);
    Recorded {
        value: std::mem::take(&mut audit.value),
        report: report_json(audit, count),
    }
}

/// `redactions`: the plan's report, plus one item counting by-value replacements.
pub(super) fn report_json(redacted: &Redacted, by_value: usize) -> Value {
    let mut report = serde_json::to_value(&redacted.report).unwrap_or(Value::Null);
    if by_value > 0
        && let Value::Array(items) = &mut report
    {
        items.push(json!({"path": "$", "mode": "mask", "by": "value", "count": by_value}));
    }
    report
}

/// What the agent is shown of a value: the response plan, then by-value redaction of what it
/// hid.
fn shown(tool: &Tool, plan: &RedactionPlan, value: &Value, key: &CommitKey) -> Value {
    let mut shown = data_privacy::redact(tool, plan, value, key);
    Exposure::of(&shown.originals.0).scrub_in_place(&mut shown.value);
    shown.value
}

/// The agent's sentence for a failure: a `ConvexError`'s data after the response plan, the
/// message with what the plan hid in the data replaced.
fn agent_message(e: &UpstreamError, plan: &RedactionPlan, key: &CommitKey) -> String {
    match e {
        UpstreamError::Function {
            message,
            data: Some(data),
            ..
        } => {
            let hidden = plan.apply(data, key);
            let exposure = Exposure::of(&hidden.originals.0);
            UpstreamError::Function {
                message: exposure.scrub_text(message).into_owned(),
                data: Some(exposure.scrub(&hidden.value).0),
                log_lines: Vec::new(),
            }
            .agent_message()
        }
        other => other.agent_message(),
    }
}

//! What an earlier run left open, found on start without reading the whole ledger: approvals
//! still pending, and calls forwarded without a recorded result.
//!
//! Nothing pending survives a restart (`docs/approvals.md` §4): on start the gateway records
//! `approval.expired` (`gateway_restart`) for every `approval_pending` request of an earlier
//! run that has no final entry and fewer than its `required` grants, and `call.interrupted`
//! (outcome unknown) for every call that was forwarded — disposition `forward`, or an approval
//! whose grants were all recorded — without a `call.result`; only then `gateway.start`. So when
//! a `gateway.start` is in the ledger, everything opened before it is closed, and the search
//! reads back only to the last one ([`Ledger::visit_from_last`]). A run that stopped cleanly says
//! in its `gateway.stop` how many approvals it left pending (`approvals_pending`) and how many
//! appends failed (`audit_failures`: an expiry, or a result, may be among them); when both are 0
//! nothing at all is read.
use std::io;

use auditgate_ledger::Ledger;
use auditgate_ledger::canonical::{self, Object};
use serde_json::Value;

/// An approval left pending: the session, the approval id and its request's seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftPending {
    pub session: String,
    pub approval_id: String,
    pub request_seq: u64,
}

/// A call forwarded (or, approved, about to be) whose result was never recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct LeftInterrupted {
    pub session: String,
    pub request_seq: u64,
    pub request_id: Value,
    pub tool: String,
    /// Its approval, when the call was approval-required and every grant was recorded.
    pub approval_id: Option<String>,
}

/// Everything earlier runs left open, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeftOpen {
    pub pending: Vec<LeftPending>,
    pub interrupted: Vec<LeftInterrupted>,
}

/// What earlier runs left open.
pub fn left_open(ledger: &Ledger) -> io::Result<LeftOpen> {
    let lifecycle = |b: &[u8]| kind_is(b, &["gateway.start", "gateway.stop"]);
    let mut scan = Scan::default();
    let mut first: Option<Value> = None;
    ledger.visit_from_last(&lifecycle, &mut |b| {
        if first.is_none() {
            first = Some(serde_json::from_slice(b).unwrap_or(Value::Null));
        }
        scan.feed(b);
    })?;
    let Some(first) = first else {
        return Ok(LeftOpen::default());
    };
    if first["kind"] != "gateway.stop" {
        return Ok(scan.finish());
    }
    if first["approvals_pending"] == 0 && first["audit_failures"] == 0 {
        return Ok(LeftOpen::default());
    }
    // A stop that left approvals pending, saw appends fail, or says nothing of either: back to
    // its run's start.
    let mut scan = Scan::default();
    ledger.visit_from_last(&|b: &[u8]| kind_is(b, &["gateway.start"]), &mut |b| {
        scan.feed(b)
    })?;
    Ok(scan.finish())
}

/// Whether a stored entry's top-level `kind` is one of `kinds` (a nested `"kind"` in arguments
/// is not it).
fn kind_is(bytes: &[u8], kinds: &[&str]) -> bool {
    // Most entries name no lifecycle kind anywhere: skip them without a canonical parse.
    let needle = b"\"kind\":\"gateway.";
    if !bytes.windows(needle.len()).any(|w| w == needle) {
        return false;
    }
    canonical::check(bytes)
        .ok()
        .and_then(|entry| entry.get_str("kind"))
        .is_some_and(|kind| kinds.contains(&kind.as_ref()))
}

/// A request still open while reading: forwarded, or waiting for approvals.
#[derive(Debug)]
struct Open {
    call: LeftInterrupted,
    /// `(approval id, grants so far, grants required)` for an approval-required call.
    approval: Option<(String, u64, u64)>,
}

/// Requests still open while reading entries in order: memory in the number still open.
#[derive(Debug, Default)]
struct Scan {
    open: Vec<Open>,
}

impl Scan {
    fn feed(&mut self, bytes: &[u8]) {
        // Only call and approval entries matter: skip the rest without parsing them.
        let mentions = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        if !(mentions(b"\"kind\":\"call.") || mentions(b"\"kind\":\"approval.")) {
            return;
        }
        let Ok(e) = canonical::check(bytes) else {
            return;
        };
        let text = |k: &str| e.get_str(k).map(|s| s.into_owned()).unwrap_or_default();
        match e.get_str("kind").as_deref().unwrap_or_default() {
            "call.request" => self.request(&e),
            "approval.granted" => {
                let id = text("approval_id");
                if let Some((_, granted, _)) = self
                    .open
                    .iter_mut()
                    .filter_map(|o| o.approval.as_mut())
                    .find(|(a, _, _)| *a == id)
                {
                    *granted += 1;
                }
            }
            "approval.denied" | "approval.expired" => {
                let id = text("approval_id");
                self.open
                    .retain(|o| o.approval.as_ref().is_none_or(|(a, _, _)| *a != id));
            }
            "call.result" | "call.interrupted" => {
                let seq = e.get_u64("request_seq");
                self.open.retain(|o| Some(o.call.request_seq) != seq);
            }
            _ => {}
        }
    }

    fn request(&mut self, e: &Object<'_>) {
        let disposition = e.get_str("disposition");
        let approval = match disposition.as_deref() {
            Some("forward") => None,
            Some("approval_pending") => {
                let approval: Value = e
                    .get("approval")
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                let Some(id) = approval["id"].as_str() else {
                    return;
                };
                // As the verifier reads it: `required`, else 2 with four eyes, else 1.
                let four_eyes = approval["four_eyes"] == true;
                let required =
                    approval["required"]
                        .as_u64()
                        .unwrap_or(if four_eyes { 2 } else { 1 });
                Some((id.to_owned(), 0, required))
            }
            _ => return,
        };
        let text = |k: &str| e.get_str(k).map(|s| s.into_owned()).unwrap_or_default();
        self.open.push(Open {
            call: LeftInterrupted {
                session: text("session"),
                request_seq: e.get_u64("seq").unwrap_or_default(),
                request_id: e
                    .get("request_id")
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null),
                tool: text("tool"),
                approval_id: None,
            },
            approval,
        });
    }

    fn finish(self) -> LeftOpen {
        let mut left = LeftOpen::default();
        for o in self.open {
            match o.approval {
                None => left.interrupted.push(o.call),
                Some((id, granted, required)) if granted >= required => {
                    left.interrupted.push(LeftInterrupted {
                        approval_id: Some(id),
                        ..o.call
                    });
                }
                Some((approval_id, _, _)) => left.pending.push(LeftPending {
                    session: o.call.session,
                    approval_id,
                    request_seq: o.call.request_seq,
                }),
            }
        }
        left
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use auditgate_ledger::{Draft, LedgerOptions, SigningKey};
    use serde_json::json;

    fn ledger(dir: &std::path::Path) -> Ledger {
        let key = SigningKey::from_seed("auditgate.test", &[5; 32]).unwrap();
        Ledger::create(dir, key, LedgerOptions::default()).unwrap()
    }

    fn append(l: &Ledger, kind: &str, body: Value) -> u64 {
        l.append(Draft::from_value(kind, &body).unwrap())
            .unwrap()
            .seq
    }

    fn pending(l: &Ledger, id: &str) -> u64 {
        append(
            l,
            "call.request",
            json!({"session": "s1", "disposition": "approval_pending", "approval": {"id": id},
                   "args": {"kind": "gateway.start"}}),
        )
    }

    #[test]
    fn reads_back_to_the_last_start_and_trusts_only_a_clean_stop() {
        let dir = tempfile::tempdir().unwrap();
        let l = ledger(dir.path());
        let early = pending(&l, "ap_early");
        append(&l, "gateway.start", json!({"instance": "a"}));
        // The gateway closes every pending approval before it records a start, so nothing before
        // the last start is read (this one was left open on purpose: it is not found).
        let left = left_open(&l).unwrap();
        assert_eq!(left, LeftOpen::default());
        // After the start: one closed by a result, one denied, one left open. An argument
        // holding `"kind": "gateway.start"` is not a start.
        let answered = pending(&l, "ap_answered");
        append(&l, "call.result", json!({"request_seq": answered}));
        pending(&l, "ap_denied");
        append(&l, "approval.denied", json!({"approval_id": "ap_denied"}));
        let open = pending(&l, "ap_open");
        let expected = vec![LeftPending {
            session: "s1".into(),
            approval_id: "ap_open".into(),
            request_seq: open,
        }];
        assert_eq!(left_open(&l).unwrap().pending, expected);
        assert_ne!(early, open);

        // A stop that saw appends fail: read back to its run's start.
        append(
            &l,
            "gateway.stop",
            json!({"approvals_pending": 0, "audit_failures": 2}),
        );
        assert_eq!(left_open(&l).unwrap().pending, expected);
        // A clean stop: nothing is read.
        append(
            &l,
            "gateway.stop",
            json!({"approvals_pending": 0, "audit_failures": 0}),
        );
        assert!(left_open(&l).unwrap().pending.is_empty());
        l.close();
    }

    #[test]
    fn forwarded_calls_and_fully_granted_approvals_without_results_are_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let l = ledger(dir.path());
        append(&l, "gateway.start", json!({"instance": "a"}));
        let forwarded = append(
            &l,
            "call.request",
            json!({"session": "s1", "request_id": 7, "tool": "invoices_refund",
                   "disposition": "forward"}),
        );
        let answered = append(
            &l,
            "call.request",
            json!({"session": "s1", "request_id": 8, "tool": "t", "disposition": "forward"}),
        );
        append(&l, "call.result", json!({"request_seq": answered}));
        append(
            &l,
            "call.request",
            json!({"session": "s1", "request_id": 9, "tool": "t", "disposition": "blocked"}),
        );
        // Four eyes: one grant of two is still pending; two of two were forwarded.
        let half = append(
            &l,
            "call.request",
            json!({"session": "s1", "request_id": 10, "tool": "big_refund",
                   "disposition": "approval_pending",
                   "approval": {"id": "apr_half", "required": 2}}),
        );
        append(&l, "approval.granted", json!({"approval_id": "apr_half"}));
        let granted = append(
            &l,
            "call.request",
            json!({"session": "s1", "request_id": "r11", "tool": "big_refund",
                   "disposition": "approval_pending",
                   "approval": {"id": "apr_full", "required": 2}}),
        );
        append(&l, "approval.granted", json!({"approval_id": "apr_full"}));
        append(&l, "approval.granted", json!({"approval_id": "apr_full"}));
        let left = left_open(&l).unwrap();
        assert_eq!(
            left.pending,
            vec![LeftPending {
                session: "s1".into(),
                approval_id: "apr_half".into(),
                request_seq: half,
            }]
        );
        let call = |seq, id: Value, tool: &str, approval: Option<&str>| LeftInterrupted {
            session: "s1".into(),
            request_seq: seq,
            request_id: id,
            tool: tool.into(),
            approval_id: approval.map(str::to_string),
        };
        assert_eq!(
            left.interrupted,
            vec![
                call(forwarded, json!(7), "invoices_refund", None),
                call(granted, json!("r11"), "big_refund", Some("apr_full")),
            ]
        );
        l.close();
    }
}

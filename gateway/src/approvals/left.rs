//! Approvals an earlier run left pending, found on start without reading the whole ledger.
//!
//! Nothing pending survives a restart (`docs/approvals.md` §4): on start the gateway records
//! `approval.expired` (`gateway_restart`) for every `approval_pending` request of an earlier
//! run that has no final entry, and only then `gateway.start`. So when a `gateway.start` is in
//! the ledger, every approval requested before it is already closed, and the search reads back
//! only to the last one ([`Ledger::visit_from_last`]). A run that stopped cleanly says in its
//! `gateway.stop` how many approvals it left pending (`approvals_pending`) and how many appends
//! failed (`audit_failures`: an expiry, or the result of an approved call, may be among them);
//! when both are 0 nothing at all is read.
use std::io;

use auditgate_ledger::Ledger;
use auditgate_ledger::canonical;
use serde_json::Value;

/// An approval left pending: the session, the approval id and its request's seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftPending {
    pub session: String,
    pub approval_id: String,
    pub request_seq: u64,
}

/// Every approval left pending by earlier runs, oldest first.
pub fn left_pending(ledger: &Ledger) -> io::Result<Vec<LeftPending>> {
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
        return Ok(Vec::new());
    };
    if first["kind"] != "gateway.stop" {
        return Ok(scan.finish());
    }
    if first["approvals_pending"] == 0 && first["audit_failures"] == 0 {
        return Ok(Vec::new());
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
    canonical::check(bytes)
        .ok()
        .and_then(|entry| entry.get_str("kind"))
        .is_some_and(|kind| kinds.contains(&kind.as_ref()))
}

/// Open approvals while reading entries in order: memory in the number still open.
#[derive(Debug, Default)]
struct Scan {
    open: Vec<LeftPending>,
}

impl Scan {
    fn feed(&mut self, bytes: &[u8]) {
        // Most entries are neither approvals nor results of an open one: skip them unparsed.
        let mentions = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        let relevant = mentions(b"approval")
            || (!self.open.is_empty() && mentions(b"\"kind\":\"call.result\""));
        if !relevant {
            return;
        }
        let Ok(e) = serde_json::from_slice::<Value>(bytes) else {
            return;
        };
        let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
        match e["kind"].as_str().unwrap_or_default() {
            "call.request" if e["disposition"] == "approval_pending" => {
                if let Some(id) = e.pointer("/approval/id").and_then(Value::as_str) {
                    self.open.push(LeftPending {
                        session: text("session"),
                        approval_id: id.to_owned(),
                        request_seq: e["seq"].as_u64().unwrap_or_default(),
                    });
                }
            }
            "approval.denied" | "approval.expired" => {
                let id = text("approval_id");
                self.open.retain(|p| p.approval_id != id);
            }
            "call.result" => {
                let seq = e["request_seq"].as_u64();
                self.open.retain(|p| Some(p.request_seq) != seq);
            }
            _ => {}
        }
    }

    fn finish(self) -> Vec<LeftPending> {
        self.open
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
        let left = left_pending(&l).unwrap();
        assert!(left.is_empty(), "{left:?}");
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
        assert_eq!(left_pending(&l).unwrap(), expected);
        assert_ne!(early, open);

        // A stop that saw appends fail: read back to its run's start.
        append(
            &l,
            "gateway.stop",
            json!({"approvals_pending": 0, "audit_failures": 2}),
        );
        assert_eq!(left_pending(&l).unwrap(), expected);
        // A clean stop: nothing is read.
        append(
            &l,
            "gateway.stop",
            json!({"approvals_pending": 0, "audit_failures": 0}),
        );
        assert!(left_pending(&l).unwrap().is_empty());
        l.close();
    }
}

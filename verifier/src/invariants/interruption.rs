//! G5 (`docs/audit-events.md` §4): every `call.interrupted` names (`request_seq`) an earlier
//! `call.request` of the same session and request id that was forwarded — disposition
//! `forward`, or `approval_pending` with its required grants, and then the interruption names
//! that approval and says `approved: true` — that has no `call.result` and no other
//! `call.interrupted`, and no `gateway.start` lies between the two (a restart records its
//! interruptions before its start). A valid one makes the call an *interrupted call* of G2.
//!
//! On a bundle the request may be absent (nothing to check), and the grants between request
//! and interruption may be (their count is then not checked, as for A4).

use super::{Checker, End, Interrupted, RequestState, Scope, Violation};
use crate::event::Facts;

impl Checker {
    /// `call.interrupted`.
    pub(super) fn interruption(&mut self, f: &Facts<'_>) {
        match self.check_interruption(f) {
            Ok(Some(found)) => self.interrupt(found),
            Ok(None) => {}
            Err(v) => self.fail(v),
        }
    }

    /// The interrupted call `f` establishes, `None` when its request is not in the subset.
    fn check_interruption(&mut self, f: &Facts<'_>) -> Result<Option<Interrupted>, Violation> {
        let seq = f.seq;
        let Some(request_seq) = f.request_seq else {
            return Err(Violation::MissingMember {
                seq,
                kind: f.kind.to_string(),
                member: "request_seq",
            });
        };
        let session = f.session.as_deref().map(|s| self.session_index(s));
        let Some(req) = self
            .requests
            .get(&request_seq)
            .filter(|_| request_seq < seq)
        else {
            return if self.scope == Scope::Ledger || request_seq >= seq {
                Err(Violation::InterruptionWithoutRequest { seq, request_seq })
            } else {
                Ok(None)
            };
        };
        let mismatch = |member| Violation::InterruptionMismatch {
            seq,
            request_seq,
            member,
        };
        if session != Some(req.session) {
            return Err(mismatch("session"));
        }
        if f.request_id != Some(&*req.request_id) {
            return Err(mismatch("request_id"));
        }
        let approval_id = self.forwarded_approval(f, request_seq, req)?;
        match req.end {
            Some(End::Result(result)) => {
                return Err(Violation::InterruptedAfterResult {
                    seq,
                    request_seq,
                    result,
                });
            }
            Some(End::Interrupted(first)) => {
                return Err(Violation::DuplicateInterruption {
                    seq,
                    request_seq,
                    first,
                });
            }
            None => {}
        }
        if req.run != self.run {
            let restart_seq = usize::try_from(req.run)
                .ok()
                .and_then(|r| self.starts.get(r))
                .copied()
                .unwrap_or_default();
            return Err(Violation::InterruptedAfterRestart {
                seq,
                request_seq,
                restart_seq,
            });
        }
        Ok(Some(Interrupted {
            seq: request_seq,
            session: self.session_names[req.session as usize].clone(),
            tool: req.tool.to_string(),
            approval_id,
            interrupted_seq: seq,
        }))
    }

    /// Whether the request was forwarded, and the approval the interruption must (and does)
    /// name: `None` for a call allowed without one.
    fn forwarded_approval(
        &self,
        f: &Facts<'_>,
        request_seq: u64,
        req: &RequestState,
    ) -> Result<Option<String>, Violation> {
        let seq = f.seq;
        let mismatch = |member, why: String| Violation::InterruptionApprovalMismatch {
            seq,
            request_seq,
            member,
            why,
        };
        let Some(a) = self.approvals.standing(request_seq) else {
            if !req.forward {
                return Err(Violation::InterruptedNotForwarded {
                    seq,
                    request_seq,
                    disposition: req.disposition.to_string(),
                });
            }
            let without = "is present, but the request was allowed without an approval";
            if f.approval_id.is_some() {
                return Err(mismatch("approval_id", without.into()));
            }
            if f.approved.is_some() {
                return Err(mismatch("approved", without.into()));
            }
            return Ok(None);
        };
        let unapproved = |why: String| Violation::InterruptedUnapproved {
            seq,
            request_seq,
            why,
        };
        if let Some(("denied", at)) = a.done {
            return Err(unapproved(format!(
                "approval {} was denied at seq {at}",
                a.id
            )));
        }
        if self.scope == Scope::Ledger && a.grants < a.required {
            return Err(unapproved(format!(
                "approval {} has {} of {} required grants",
                a.id, a.grants, a.required
            )));
        }
        match f.approval_id.as_deref() {
            Some(id) if id == a.id => {}
            Some(id) => {
                return Err(mismatch(
                    "approval_id",
                    format!("is {id}, not the request's approval {}", a.id),
                ));
            }
            None => {
                return Err(mismatch(
                    "approval_id",
                    format!("is missing; the request's approval is {}", a.id),
                ));
            }
        }
        if f.approved != Some(true) {
            return Err(mismatch(
                "approved",
                format!("is not true, though approval {} was granted", a.id),
            ));
        }
        Ok(Some(a.id.to_owned()))
    }

    /// Records a valid interruption: the call has ended (G2 no longer waits for it).
    fn interrupt(&mut self, found: Interrupted) {
        let (request_seq, seq) = (found.seq, found.interrupted_seq);
        if let Some(req) = self.requests.get_mut(&request_seq) {
            req.end = Some(End::Interrupted(seq));
        }
        self.pending.remove(&request_seq);
        self.stopped.remove(&request_seq);
        self.approvals.interrupted(seq, request_seq);
        self.findings.interrupted.push(found);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use serde_json::{Value, json};

    use super::super::{Checker, Findings, Scope};
    use crate::event;

    /// Feeds `entries` (seq = index + 1) to a checker of `scope`.
    fn check(scope: Scope, entries: &[Value]) -> Findings {
        let mut c = Checker::new(scope);
        let bytes: Vec<Vec<u8>> = entries
            .iter()
            .map(auditgate_ledger::canonical::encode)
            .collect();
        for (i, b) in bytes.iter().enumerate() {
            c.feed(&event::facts(i as u64 + 1, b).unwrap());
        }
        c.finish()
    }

    /// The seq of the first entry after [`run`]'s own.
    const REQ: u64 = 5;

    /// `gateway.start`, `policy.loaded`, `catalog.loaded`, `session.open` (seqs 1–4), then
    /// `rest`.
    fn run(scope: Scope, rest: &[Value]) -> Findings {
        let mut entries = vec![
            json!({"kind": "gateway.start"}),
            json!({"kind": "policy.loaded", "policy_hash": "p"}),
            json!({"kind": "catalog.loaded", "catalog_hash": "c"}),
            json!({"kind": "session.open", "session": "s"}),
        ];
        entries.extend_from_slice(rest);
        check(scope, &entries)
    }

    /// A `call.request` (seq [`REQ`] when first after [`run`]'s own).
    fn request(disposition: &str) -> Value {
        let mut r = json!({"kind": "call.request", "session": "s", "request_id": 1,
                           "tool": "t", "disposition": disposition,
                           "policy_hash": "p", "catalog_hash": "c"});
        if disposition == "approval_pending" {
            r["approval"] = json!({"id": "apr_5", "required": 1});
        }
        r
    }

    fn interrupted(request_seq: u64) -> Value {
        json!({"kind": "call.interrupted", "session": "s", "request_id": 1,
               "request_seq": request_seq, "tool": "t", "reason": "gateway_restart",
               "outcome": "unknown"})
    }

    fn code(f: &Findings) -> Option<(String, &'static str, u64)> {
        f.violation.as_ref().map(|v| (v.code(), v.rule(), v.seq()))
    }

    #[test]
    fn on_a_subset_an_interruption_without_its_request_is_not_checked() {
        let f = run(Scope::Subset, &[interrupted(1)]);
        assert_eq!(code(&f), None);
        assert!(f.interrupted.is_empty());
        let f = run(Scope::Ledger, &[interrupted(1)]);
        assert_eq!(
            code(&f),
            Some(("InterruptionWithoutRequest".into(), "G5", REQ))
        );
    }

    #[test]
    fn on_a_subset_a_blocked_request_s_interruption_is_still_g5() {
        let f = run(Scope::Subset, &[request("blocked"), interrupted(REQ)]);
        assert_eq!(
            code(&f),
            Some(("InterruptedNotForwarded".into(), "G5", REQ + 1))
        );
    }

    #[test]
    fn on_a_subset_the_grants_may_be_absent_but_the_approval_must_match() {
        let mut i = interrupted(REQ);
        i["approval_id"] = json!("apr_5");
        i["approved"] = json!(true);
        let f = run(Scope::Subset, &[request("approval_pending"), i.clone()]);
        assert_eq!(code(&f), None);
        assert_eq!(f.interrupted[0].approval_id.as_deref(), Some("apr_5"));
        // On the whole ledger: no grant, so never forwarded.
        let f = run(Scope::Ledger, &[request("approval_pending"), i.clone()]);
        assert_eq!(
            code(&f),
            Some(("InterruptedUnapproved".into(), "G5", REQ + 1))
        );
        i["approval_id"] = json!("apr_9");
        let f = run(Scope::Subset, &[request("approval_pending"), i]);
        assert_eq!(
            code(&f),
            Some(("InterruptionApprovalMismatch".into(), "G5", REQ + 1))
        );
    }

    #[test]
    fn an_interruption_without_request_seq_is_g5() {
        let mut i = interrupted(0);
        i.as_object_mut().unwrap().remove("request_seq");
        let f = run(Scope::Ledger, &[i]);
        assert_eq!(code(&f), Some(("MissingMember".into(), "G5", REQ)));
    }

    #[test]
    fn a_clean_stop_then_an_interruption_is_not_dangling() {
        let f = run(
            Scope::Ledger,
            &[
                request("forward"),
                json!({"kind": "gateway.stop"}),
                interrupted(REQ),
                json!({"kind": "gateway.start"}),
            ],
        );
        assert_eq!(code(&f), None);
        assert!(f.dangling.is_empty(), "{:?}", f.dangling);
        assert_eq!(f.interrupted.len(), 1);
        // Without the interruption it dangles at the stop.
        let f = run(
            Scope::Ledger,
            &[
                request("forward"),
                json!({"kind": "gateway.stop"}),
                json!({"kind": "gateway.start"}),
            ],
        );
        assert_eq!(f.dangling[0].stop_seq, Some(REQ + 1));
        assert_eq!(f.dangling[0].restart_seq, None);
    }
}

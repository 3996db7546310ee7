//! The verifier's approval rules A1–A5 (`docs/approvals.md` §5), checked alongside G1–G5: each
//! `approval.granted`/`approval.denied` carries the approver's Ed25519 signature over a statement
//! the verifier rebuilds from the pending `call.request`; a call waiting for approval runs only
//! after `required` grants; each approval ends once (forwarded, interrupted, denied or expired).
//! An expiry after all the grants is G5's warning `expired_after_grant`.

use std::collections::{BTreeMap, HashMap};

use auditgate_ledger::VerifierKey;
use base64::Engine as _;
use serde_json::Value;

use crate::event::{self, Facts};
use crate::invariants::{ExpiredAfterGrant, Violation};

/// What a request waiting for approval needs to be checked against.
#[derive(Debug)]
struct Pending {
    id: String,
    expires_at: String,
    four_eyes: bool,
    required: u64,
    caller: String,
    args_digest: String,
    policy_hash: String,
    tool: String,
    approvers: Vec<String>,
    grants: u64,
    /// The final outcome and its seq: `forwarded`, `interrupted`, `denied`, `expired`.
    done: Option<(&'static str, u64)>,
}

/// How far the approval of one request got, for G5.
#[derive(Debug, Clone, Copy)]
pub struct Standing<'a> {
    /// The approval id.
    pub id: &'a str,
    /// Valid grants recorded.
    pub grants: u64,
    /// Grants it needs.
    pub required: u64,
    /// The final outcome so far and its seq.
    pub done: Option<(&'static str, u64)>,
}

/// Approval state across a ledger or bundle.
#[derive(Debug, Default)]
pub struct Approvals {
    pending: HashMap<u64, Pending>,
    /// Approver keys seen in valid grants and denials, with how many of each.
    pub keys: BTreeMap<String, u64>,
}

/// The text an approver signs (`docs/approvals.md` §2).
fn statement(p: &Pending, decision: &str, approver: &str) -> String {
    format!(
        "auditgate approval v1\napproval {}\nrequest {}\npolicy {}\ntool {}\ncaller {}\nexpires {}\ndecision {decision}\napprover {approver}\n",
        p.id, p.args_digest, p.policy_hash, p.tool, p.caller, p.expires_at
    )
}

impl Approvals {
    /// Registers a `call.request` with disposition `approval_pending`.
    pub fn request(&mut self, f: &Facts<'_>) {
        let a: Value = f
            .approval
            .and_then(|raw| serde_json::from_slice(raw).ok())
            .unwrap_or(Value::Null);
        let four_eyes = a["four_eyes"] == Value::Bool(true);
        self.pending.insert(
            f.seq,
            Pending {
                id: event::plain(&a["id"]),
                expires_at: event::plain(&a["expires_at"]),
                four_eyes,
                required: a["required"]
                    .as_u64()
                    .unwrap_or(if four_eyes { 2 } else { 1 }),
                caller: f.principal.as_deref().unwrap_or("").to_owned(),
                args_digest: f.args_digest.as_deref().unwrap_or("").to_owned(),
                policy_hash: f.policy_hash.as_deref().unwrap_or("").to_owned(),
                tool: f.tool.as_deref().unwrap_or("").to_owned(),
                approvers: Vec::new(),
                grants: 0,
                done: None,
            },
        );
    }

    /// Whether `seq` is a request waiting for approval.
    pub fn is_pending_request(&self, seq: u64) -> bool {
        self.pending.contains_key(&seq)
    }

    /// The standing of request `seq`'s approval, if it waited for one.
    pub fn standing(&self, seq: u64) -> Option<Standing<'_>> {
        self.pending.get(&seq).map(|p| Standing {
            id: &p.id,
            grants: p.grants,
            required: p.required,
            done: p.done,
        })
    }

    /// A valid `call.interrupted` (at `seq`) ends request `req_seq`'s approval, unless an
    /// earlier entry did (A5: no receipt or expiry may follow it).
    pub fn interrupted(&mut self, seq: u64, req_seq: u64) {
        if let Some(p) = self.pending.get_mut(&req_seq) {
            p.done.get_or_insert(("interrupted", seq));
        }
    }

    /// `approval.granted` / `approval.denied` (A1, A2, A3, A5). `known_request` says whether
    /// the named request is present at all (a bundle may not hold it). Returns
    /// `Ok(true)` when this grant completes the approval (the call may now be forwarded).
    pub fn receipt(&mut self, f: &Facts<'_>, known_request: bool) -> Result<bool, Violation> {
        let granted = f.kind == "approval.granted";
        let seq = f.seq;
        let a = |rule: &'static str, why: String| Violation::Approval { seq, rule, why };
        let Some(req_seq) = f.request_seq.filter(|r| *r < seq) else {
            return Err(a(
                "A1",
                "names no earlier call.request (request_seq)".into(),
            ));
        };
        let Some(p) = self.pending.get_mut(&req_seq) else {
            return if known_request {
                Err(a(
                    "A1",
                    format!("request seq {req_seq} was not waiting for approval"),
                ))
            } else {
                Ok(false)
            };
        };
        let approver = f.approver.as_deref().unwrap_or("");
        if f.approval_id.as_deref() != Some(p.id.as_str()) {
            return Err(a(
                "A1",
                format!("approval_id differs from request seq {req_seq}'s {}", p.id),
            ));
        }
        let decision = if granted { "approve" } else { "deny" };
        let expected = statement(p, decision, approver);
        if f.statement.as_deref() != Some(expected.as_str()) {
            return Err(a(
                "A1",
                "the signed statement is not the one rebuilt from the request".into(),
            ));
        }
        let key: Option<VerifierKey> = f.key.as_deref().and_then(|k| k.parse().ok());
        let Some(key) = key else {
            return Err(a("A1", "`key` is not a verifier key".into()));
        };
        if key.name() != approver {
            return Err(a(
                "A1",
                format!("the key is named {}, the approver {approver}", key.name()),
            ));
        }
        let sig = f
            .signature
            .as_deref()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
        if !sig.is_some_and(|s| key.verify(expected.as_bytes(), &s)) {
            return Err(a(
                "A1",
                format!("{approver}'s signature does not verify with {key}"),
            ));
        }
        let ts = f.ts.as_deref().unwrap_or("");
        if crate::rfc3339::ledger_nanos(ts) > crate::rfc3339::ledger_nanos(&p.expires_at) {
            return Err(a(
                "A2",
                format!(
                    "recorded at {ts}, after the approval expired at {}",
                    p.expires_at
                ),
            ));
        }
        if p.approvers.iter().any(|x| x == approver) {
            return Err(a(
                "A3",
                format!("{approver} answered approval {} twice", p.id),
            ));
        }
        if p.four_eyes && approver == p.caller {
            return Err(a(
                "A3",
                format!("{approver} approved their own call under four eyes"),
            ));
        }
        if let Some((how, at)) = p.done {
            return Err(a(
                "A5",
                format!("approval {} already ended ({how} at seq {at})", p.id),
            ));
        }
        p.approvers.push(approver.to_owned());
        *self.keys.entry(key.to_string()).or_default() += 1;
        if granted {
            p.grants += 1;
            Ok(p.grants == p.required)
        } else {
            p.done = Some(("denied", seq));
            Ok(false)
        }
    }

    /// `approval.expired` (A5). An expiry of an approval that had all its grants is reported
    /// (G5's warning): the call had been forwarded, whatever the expiry says.
    pub fn expired(&mut self, f: &Facts<'_>) -> Result<Option<ExpiredAfterGrant>, Violation> {
        let Some((req_seq, p)) = f
            .request_seq
            .and_then(|r| Some((r, self.pending.get_mut(&r)?)))
        else {
            return Ok(None);
        };
        if let Some((how, at)) = p.done {
            return Err(Violation::Approval {
                seq: f.seq,
                rule: "A5",
                why: format!("approval {} already ended ({how} at seq {at})", p.id),
            });
        }
        p.done = Some(("expired", f.seq));
        Ok((p.grants >= p.required).then(|| ExpiredAfterGrant {
            seq: f.seq,
            request_seq: req_seq,
            session: f.session.as_deref().unwrap_or("").to_owned(),
            approval_id: p.id.clone(),
            tool: p.tool.clone(),
            reason: f.reason.as_deref().unwrap_or("").to_owned(),
            grants: p.grants,
        }))
    }

    /// A `call.result` for a request that waited for approval (A4, A5). `complete` says whether
    /// every entry between request and result is present (a bundle may lack the grants).
    pub fn result(&mut self, seq: u64, req_seq: u64, complete: bool) -> Result<(), Violation> {
        let Some(p) = self.pending.get_mut(&req_seq) else {
            return Ok(());
        };
        let why = match p.done {
            Some((how, at)) => Some(format!("approval {} ended ({how} at seq {at})", p.id)),
            None if complete && p.grants < p.required => Some(format!(
                "approval {} has {} of {} required grants",
                p.id, p.grants, p.required
            )),
            None => None,
        };
        if let Some(why) = why {
            return Err(Violation::Approval {
                seq,
                rule: "A4",
                why: format!("call.result for request seq {req_seq}, yet {why}"),
            });
        }
        p.done = Some(("forwarded", seq));
        Ok(())
    }
}

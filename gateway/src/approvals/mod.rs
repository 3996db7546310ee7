//! Human approvals (`docs/approvals.md`): the registry of pending approval-required calls, and
//! the checking of signed receipts against it. The enforcement point opens a pending approval and
//! waits on its outcome; the operator API feeds receipts in; every accepted, refused or expired
//! receipt is recorded before it takes effect.
//!
//! **Architecture Invariant:** an approval-required call is forwarded only after `required`
//! receipts were verified against the statement this module rebuilds from the pending request
//! (never one supplied by the approver) and each was durably recorded as `approval.granted`.
pub mod left;
pub mod statement;

use std::collections::HashMap;
use std::sync::Arc;

use auditgate_ledger::VerifierKey;
use auditgate_ledger::timestamp::Timestamp;
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Mutex, oneshot};

use crate::audit::{AuditError, AuditLog, events};
use crate::config::ApproverConfig;
pub use statement::{Statement, Verdict};

/// How a pending approval ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    Denied { approver: String, reason: String },
    Expired { reason: &'static str },
}

/// A registered approver.
#[derive(Debug, Clone)]
pub struct Approver {
    pub name: String,
    pub key: VerifierKey,
    pub roles: Vec<String>,
}

/// What operators see of a pending approval (arguments already redacted for the ledger).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PendingInfo {
    pub id: String,
    pub session: String,
    pub request_seq: u64,
    pub caller: String,
    pub tool: String,
    pub args: Value,
    pub args_digest: String,
    pub policy_hash: String,
    pub rule: Option<String>,
    pub reason: String,
    pub expires_at: String,
    pub approver_roles: Vec<String>,
    pub approver_keys: Vec<String>,
    pub four_eyes: bool,
    pub required: usize,
    pub granted: Vec<String>,
}

impl PendingInfo {
    /// The statement for `verdict` by `approver`.
    pub fn statement(&self, verdict: Verdict, approver: &str) -> String {
        Statement {
            approval_id: &self.id,
            args_digest: &self.args_digest,
            policy_hash: &self.policy_hash,
            tool: &self.tool,
            caller: &self.caller,
            expires_at: &self.expires_at,
            verdict,
            approver,
        }
        .render()
    }
}

/// A signed receipt as posted to the operator API.
#[derive(Debug, Clone, serde::Deserialize, Serialize)]
pub struct Receipt {
    pub approver: String,
    pub decision: Verdict,
    /// Standard base64 of the Ed25519 signature over the statement.
    pub signature: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Why a receipt was refused (`approval.refused.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("no pending approval with this id (already decided, expired or unknown)")]
    NotPending,
    #[error("the approval expired")]
    Expired,
    #[error("no registered approver by that name")]
    UnknownApprover,
    #[error("this approver is not allowed to approve this rule")]
    NotAllowed,
    #[error("the caller cannot approve their own call (four eyes)")]
    SelfApproval,
    #[error("this approver already decided on this approval")]
    DuplicateApprover,
    #[error("the signature does not verify over this approval's statement")]
    BadSignature,
    #[error("the signature is not base64 of 64 bytes")]
    Malformed,
}

impl ReceiptError {
    pub fn code(self) -> &'static str {
        match self {
            ReceiptError::NotPending => "not_pending",
            ReceiptError::Expired => "expired",
            ReceiptError::UnknownApprover => "unknown_approver",
            ReceiptError::NotAllowed => "not_allowed",
            ReceiptError::SelfApproval => "self_approval",
            ReceiptError::DuplicateApprover => "duplicate_approver",
            ReceiptError::BadSignature => "bad_signature",
            ReceiptError::Malformed => "malformed",
        }
    }
}

/// A receipt's fate.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Receipt(ReceiptError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// What an accepted receipt did.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    pub seq: u64,
    pub count: usize,
    pub required: usize,
    /// `approved`, `denied` or `waiting`.
    pub state: &'static str,
}

#[derive(Debug)]
struct Pending {
    info: PendingInfo,
    notify: Option<oneshot::Sender<Outcome>>,
}

/// Every pending approval of this gateway run.
#[derive(Debug)]
pub struct Approvals {
    audit: Arc<AuditLog>,
    approvers: Vec<Approver>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl Approvals {
    pub fn new(audit: Arc<AuditLog>, config: &[ApproverConfig]) -> Self {
        let approvers = config
            .iter()
            .filter_map(|a| {
                // Config parsing already checked every key.
                let key: VerifierKey = a.key.parse().ok()?;
                Some(Approver {
                    name: a.name.clone(),
                    key,
                    roles: a.roles.clone(),
                })
            })
            .collect();
        Self {
            audit,
            approvers,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Registers a pending approval; the receiver gets its outcome.
    pub async fn open(&self, info: PendingInfo) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(
            info.id.clone(),
            Pending {
                info,
                notify: Some(tx),
            },
        );
        rx
    }

    pub async fn list(&self) -> Vec<PendingInfo> {
        let mut all: Vec<PendingInfo> = self
            .pending
            .lock()
            .await
            .values()
            .map(|p| p.info.clone())
            .collect();
        all.sort_by_key(|p| p.request_seq);
        all
    }

    pub async fn get(&self, id: &str) -> Option<PendingInfo> {
        self.pending.lock().await.get(id).map(|p| p.info.clone())
    }

    /// Checks and records a receipt; resolves the approval when it is decided.
    pub async fn receipt(&self, id: &str, r: &Receipt, remote: &str) -> Result<Accepted, Refused> {
        let mut map = self.pending.lock().await;
        let check = match map.get(id) {
            None => Err(ReceiptError::NotPending),
            Some(p) => self.check(&p.info, r),
        };
        let approver = match check {
            Ok(a) => a,
            Err(e) => {
                drop(map);
                let entry = events::approval_refused(id, &r.approver, e.code(), remote);
                self.audit.record(entry).await?;
                return Err(Refused::Receipt(e));
            }
        };
        let Some(p) = map.get_mut(id) else {
            return Err(Refused::Receipt(ReceiptError::NotPending));
        };
        let granted = r.decision == Verdict::Approve;
        let count = p.info.granted.len() + usize::from(granted);
        let statement = p.info.statement(r.decision, &r.approver);
        let key = approver.key.to_string();
        let entry = events::approval_receipt(
            granted,
            &events::Receipt {
                session: &p.info.session,
                approval_id: id,
                request_seq: p.info.request_seq,
                approver: &r.approver,
                key: &key,
                statement: &statement,
                // The base64 checked (trimmed), not whatever padding came with it.
                signature: r.signature.trim(),
                count,
                reason: r.reason.as_deref(),
            },
        );
        let seq = self.audit.record(entry).await?.seq;
        let required = p.info.required;
        let outcome = if !granted {
            Some(Outcome::Denied {
                approver: r.approver.clone(),
                reason: r.reason.clone().unwrap_or_default(),
            })
        } else {
            p.info.granted.push(r.approver.clone());
            (count >= required).then_some(Outcome::Approved)
        };
        let state = match &outcome {
            None => "waiting",
            Some(Outcome::Approved) => "approved",
            Some(_) => "denied",
        };
        if let Some(outcome) = outcome
            && let Some(mut done) = map.remove(id)
            && let Some(tx) = done.notify.take()
        {
            let _ = tx.send(outcome);
        }
        Ok(Accepted {
            seq,
            count,
            required,
            state,
        })
    }

    fn check(&self, info: &PendingInfo, r: &Receipt) -> Result<&Approver, ReceiptError> {
        if Timestamp::now().as_str() >= info.expires_at.as_str() {
            return Err(ReceiptError::Expired);
        }
        let approver = self
            .approvers
            .iter()
            .find(|a| a.name == r.approver)
            .ok_or(ReceiptError::UnknownApprover)?;
        let admitted = info.approver_keys.contains(&approver.name)
            || approver
                .roles
                .iter()
                .any(|r| info.approver_roles.contains(r));
        if !admitted {
            return Err(ReceiptError::NotAllowed);
        }
        if info.four_eyes && approver.name == info.caller {
            return Err(ReceiptError::SelfApproval);
        }
        if info.granted.contains(&approver.name) {
            return Err(ReceiptError::DuplicateApprover);
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(r.signature.trim())
            .map_err(|_| ReceiptError::Malformed)?;
        if signature.len() != 64 {
            return Err(ReceiptError::Malformed);
        }
        let statement = info.statement(r.decision, &r.approver);
        if !approver.key.verify(statement.as_bytes(), &signature) {
            return Err(ReceiptError::BadSignature);
        }
        Ok(approver)
    }

    /// Ends a pending approval without a decision (records `approval.expired`). `false` when it
    /// was no longer pending (decided meanwhile).
    pub async fn expire(&self, id: &str, reason: &'static str) -> Result<bool, AuditError> {
        let mut map = self.pending.lock().await;
        let Some(p) = map.get(id) else {
            return Ok(false);
        };
        let entry = events::approval_expired(&p.info.session, id, p.info.request_seq, reason);
        let recorded = self.audit.record(entry).await;
        // Even unrecorded, the approval must not stay open: the call is refused either way.
        if let Some(mut p) = map.remove(id)
            && let Some(tx) = p.notify.take()
        {
            let _ = tx.send(Outcome::Expired { reason });
        }
        recorded.map(|_| true)
    }

    /// How many approvals are pending.
    pub async fn pending_count(&self) -> usize {
        self.pending.lock().await.len()
    }

    /// Expires every pending approval (of one session, or all).
    pub async fn expire_where(&self, session: Option<&str>, reason: &'static str) {
        let ids: Vec<String> = self
            .pending
            .lock()
            .await
            .values()
            .filter(|p| session.is_none_or(|s| p.info.session == s))
            .map(|p| p.info.id.clone())
            .collect();
        for id in ids {
            if let Err(e) = self.expire(&id, reason).await {
                tracing::error!(approval = %id, error = %e, "could not record an expiry");
            }
        }
    }
}

//! The state the stages of a `tools/call` share ([`CallContext`]), below both the stages
//! (`call.rs`) and what they hand each other (`outcome.rs`, `originals.rs`), so that none of
//! them imports another's types in a circle.
use auditgate_policy::{Decision, Redacted};
use serde_json::Value;

use super::Caller;
use super::snapshot::Snapshot;
use crate::catalog::Tool;

/// What the gateway does with a decided call (`call.request.disposition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Disposition {
    Forward,
    Blocked,
    InvalidArgs,
    ApprovalPending,
    /// The vault could not keep the call's committed values: refused, nothing forwarded.
    VaultUnavailable,
}

impl Disposition {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Forward => "forward",
            Self::Blocked => "blocked",
            Self::InvalidArgs => "invalid_args",
            Self::ApprovalPending => "approval_pending",
            Self::VaultUnavailable => "vault_unavailable",
        }
    }
}

/// Keyed digests of the request as received (`docs/privacy.md` §2).
#[derive(Debug, Clone)]
pub(super) struct Digests {
    pub request: String,
    pub args: String,
}

/// One decided `tools/call`, as every stage after the decision sees it. `Debug` leaves out the
/// arguments as received (they are never logged).
pub(super) struct CallContext<'a> {
    pub caller: Caller<'a>,
    /// The catalog and policy this call is decided, recorded and forwarded under.
    pub snapshot: &'a Snapshot,
    pub request_id: Value,
    pub tool: &'a Tool,
    /// The arguments as received (never recorded, never logged).
    pub args: Value,
    pub decision: Decision,
    /// The arguments as the ledger holds them, with the originals the plan redacted.
    pub audit_args: Redacted,
    /// Texts the arguments' plan redacted that were also replaced elsewhere in them.
    pub args_by_value: usize,
    pub digests: Digests,
    pub disposition: Disposition,
    /// Validation errors (`invalid_args`), paths capped, never values.
    pub errors: Vec<Value>,
    /// The arguments encoded for Convex (functions only).
    pub upstream_args: Value,
    /// The pending approval's record (`approval_pending` only).
    pub approval: Option<Value>,
}

impl std::fmt::Debug for CallContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("session", &self.caller.session)
            .field("tool", &self.tool.name)
            .field("disposition", &self.disposition)
            .field("audit_args", &self.audit_args.value)
            .finish_non_exhaustive()
    }
}

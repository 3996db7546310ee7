//! What the gateway asks ([`Request`]) and what the policy answers ([`Decision`]).

use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::approval::ApprovalSettings;
use crate::redaction::RedactionPlan;
use crate::tier::{Tier, ToolKind};

/// One call (or one catalog entry, for `tools/list`) to decide.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The authenticated caller, qualified by its name space: `key:<principal>` (API keys),
    /// `oauth:<subject>` (OAuth tokens), `local:<principal>` (stdio). See
    /// [`crate::rule::principal_matches`] for how `match.principals` entries name it.
    pub principal: &'a str,
    /// The caller's roles.
    pub roles: &'a [String],
    /// The MCP tool name.
    pub tool: &'a str,
    /// The Convex function path behind the tool (`orders:list`, `admin/users:remove`), if any.
    pub function_path: Option<&'a str>,
    /// What the tool does.
    pub kind: ToolKind,
    /// The call's arguments (`Value::Null` when there are none, e.g. for `tools/list`).
    pub args: &'a Value,
}

/// The policy's answer, with everything the gateway and the ledger need.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// What happens to the call.
    pub tier: Tier,
    /// The rule that decided; `None` when no rule matched and `defaults.tier` applied.
    pub rule_id: Option<Arc<str>>,
    /// A sentence for humans: which rule, and whether `defaults.write` capped it.
    pub reason: Arc<str>,
    /// blake3 of the exact policy file bytes.
    #[serde(serialize_with = "hex32")]
    pub policy_hash: [u8; 32],
    /// How to redact the arguments in the ledger.
    pub audit_args: Arc<RedactionPlan>,
    /// How to redact the result in the ledger.
    pub audit_result: Arc<RedactionPlan>,
    /// What to remove from the result before the agent sees it.
    pub response: Arc<RedactionPlan>,
    /// Who may approve; present exactly when `tier` is `approval_required`.
    pub approval: Option<Arc<ApprovalSettings>>,
    /// The JSONPaths (as written in `when` conditions) this decision read from the arguments, in
    /// evaluation order, without duplicates. Empty when no condition was evaluated.
    pub inputs_read: Vec<Arc<str>>,
    /// Whether `defaults.write` lowered the tier the rule (or `defaults.tier`) gave.
    pub write_capped: bool,
}

impl Decision {
    /// `policy_hash` as 64 lowercase hex digits.
    pub fn policy_hash_hex(&self) -> String {
        hex::encode(self.policy_hash)
    }
}

fn hex32<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

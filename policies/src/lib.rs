//! `auditgate-policy`: the policy engine (format, decisions, redaction).
//!
//! The format is specified in `docs/policy-format.md`. Pure: no async, no network, no disk.
//!
//! ```text
//! bytes ──Policy::parse──> (Policy, warnings) ──decide(&Request)──> Decision
//!                                                 explain(&Request)──> Explanation
//! Decision.audit_args / audit_result / response : RedactionPlan ──apply(value, key)──> Redacted
//! ```
//!
//! Architecture Invariant: evaluation is a pure function of (policy bytes, request); the same
//! inputs give the same `Decision` and the same redacted bytes on every machine.
//!
//! Architecture Invariant: a redaction plan leaves no trace of a selected value in its output:
//! not its bytes, not its length (masks are fixed, commitments are keyed hashes).
#![forbid(unsafe_code)]

mod approval;
mod commitment;
mod compile;
mod condition;
mod data;
mod decision;
mod digest;
mod error;
mod explain;
mod exposure;
mod glob;
mod path;
mod policy;
mod privacy;
mod raw;
mod redaction;
mod rule;
mod tier;
mod write;

pub use approval::{ApprovalSettings, DEFAULT_TIMEOUT_SECS};
pub use commitment::{
    COMMIT_MEMBER, COMMIT_PREFIX, CommitKey, commit, commitment_string, verify_commitment,
};
pub use compile::FORMAT_VERSION;
pub use condition::{Comparison, Op, Quantifier};
pub use data::ANY_ROLE;
pub use decision::{Decision, Request};
pub use digest::{DIGEST_CONTEXT, DIGEST_PREFIX, DigestKey};
pub use error::{Location, PolicyError, Warning, WarningKind};
pub use explain::{CeilingTrace, Explanation, Outcome, RuleTrace};
pub use exposure::Exposure;
pub use policy::Policy;
pub use privacy::arguments_redacted;
pub use redaction::{
    MASK, Originals, Redacted, RedactedField, RedactionEntry, RedactionMode, RedactionPlan,
};
pub use rule::{Mismatch, principal_matches};
pub use tier::{Tier, ToolKind, WriteMode};
pub use write::{WriteCeilings, WriteClass};

//! `auditgate-policy`: the policy engine (format, decisions, redaction).
//!
//! The format is specified in `docs/policy-format.md`. Pure: no async, no network, no disk writes.
#![forbid(unsafe_code)]

//! `auditgate-ledger`: the append-only, hash-chained, signed audit ledger.
//!
//! The byte-level format is specified in `docs/ledger-format.md`; this crate is its reference
//! implementation. It is synchronous and does no network I/O.
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod keys;
pub mod merkle;
pub mod note;

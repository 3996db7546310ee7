//! `auditgate-ledger`: the append-only, hash-chained, signed audit ledger.
//!
//! The byte-level format is specified in `docs/ledger-format.md`; this crate is its reference
//! implementation. It is synchronous and does no network I/O.
//!
//! Code map (leaves first): [`json`] (keys serde_json reserves; a parse without their magic),
//! [`canonical`] (RFC 8785 encoding and the fast canonical-form check),
//! [`timestamp`], [`merkle`] (RFC 6962), [`ed25519`] (the one signature rule), [`note`] and [`checkpoint`] (C2SP signed-note and
//! tlog-checkpoint), [`keys`], [`segment`] (framing), [`entry`] (drafts and the ledger's own
//! members), [`format`] (versions 1.0 and 1.1), [`store`] (the I/O seam), [`verify`] (the one definition of a valid ledger),
//! [`index`] (sled, rebuildable), [`writer`] (group commit, recovery).
#![forbid(unsafe_code)]

pub mod canonical;
pub mod checkpoint;
pub mod ed25519;
pub mod entry;
pub mod format;
pub mod index;
pub mod json;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod segment;
pub mod store;
pub mod timestamp;
pub mod verify;
pub mod writer;

pub use entry::Draft;
pub use keys::{SigningKey, VerifierKey};
pub use verify::{Report, VerifyError, VerifyErrorKind, VerifyOptions, verify_dir};
pub use writer::{
    AppendError, AppendTicket, Appended, HeadRejected, Ledger, LedgerHead, LedgerOptions,
    OpenError, OpenReport,
};

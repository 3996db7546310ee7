//! The MCP protocol layer, pure and synchronous (no I/O, no async runtime): JSON-RPC framing
//! ([`jsonrpc`]), the lifecycle and version negotiation ([`lifecycle`]), and `tools/list`
//! cursors ([`pagination`]). Transports feed it bytes and send back what it returns; protocol
//! quirks are listed in this directory's `README.md`.
//!
//! **Architecture Invariant:** nothing here touches the network, the disk, the clock or tokio,
//! so every rule is testable from a table of bytes.
pub mod jsonrpc;
pub mod lifecycle;
pub mod pagination;

//! `auditgate`: the MCP gateway library (transports, sessions, enforcement point, Convex upstream).
//!
//! Code map (this far):
//! - [`config`]: the TOML configuration.
//! - [`upstream::convex`]: the Convex deployment HTTP API client, codec, identities, errors.
//! - [`catalog`]: function spec → MCP tools (names, JSON Schemas, annotations), data tools.
//! - [`validate`]: argument validation against a tool's `inputSchema`.
//! - [`mcp`]: the pure protocol core (framing, lifecycle, cursors).
//! - [`audit`]: the gateway's ledger entries and the fail-closed append.
//! - [`enforcement`]: `tools/list` and `tools/call` through policy and ledger.
//! - [`server`]: the running gateway, its sessions and the stdio and HTTP transports.
//! - [`apikeys`], [`principal`]: who is calling.
#![forbid(unsafe_code)]

pub mod apikeys;
pub mod approvals;
pub mod audit;
pub mod catalog;
pub mod config;
pub mod deployment;
pub mod enforcement;
pub mod listing;
pub mod mcp;
pub mod oauth;
pub mod principal;
pub mod ratelimit;
pub mod server;
pub mod upstream;
pub mod validate;
pub mod vault;

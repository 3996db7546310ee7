//! `auditgate`: the MCP gateway library (transports, sessions, enforcement point, Convex upstream).
//!
//! Code map (this far):
//! - [`config`]: the TOML configuration.
//! - [`upstream::convex`]: the Convex deployment HTTP API client, codec, identities, errors.
//! - [`catalog`]: function spec → MCP tools (names, JSON Schemas, annotations), data tools.
//! - [`validate`]: argument validation against a tool's `inputSchema`.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod config;
pub mod listing;
pub mod mcp;
pub mod upstream;
pub mod validate;

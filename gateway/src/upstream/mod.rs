//! Upstreams the gateway forwards tool calls to. Today: one Convex deployment.
pub mod convex;

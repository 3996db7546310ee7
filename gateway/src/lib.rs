//! `auditgate`: the MCP gateway library (transports, sessions, enforcement point, Convex upstream).
#![forbid(unsafe_code)]

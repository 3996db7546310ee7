//! One MCP session: its id, the principal bound to it, its lifecycle state and counters.
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use crate::mcp::lifecycle::{Lifecycle, ServerInfo, SessionState};
use crate::principal::Principal;

/// Which transport carries a session (recorded in `session.open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Stdio,
    Http,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::Http => "http",
        }
    }
}

#[derive(Debug)]
pub struct Session {
    /// 32 lowercase hex digits (128 random bits); the HTTP `Mcp-Session-Id`.
    pub id: String,
    pub principal: Principal,
    pub transport: Transport,
    /// Peer address (HTTP).
    pub remote: Option<String>,
    pub(crate) lifecycle: Mutex<Lifecycle>,
    calls: AtomicU64,
    /// The last reload generation this session was told of (`notifications/tools/list_changed`).
    notified: AtomicU64,
    last_active: Mutex<Instant>,
    closed: AtomicBool,
    /// Requests in flight hold it shared; closing takes it exclusively, so `session.close` is
    /// recorded after the session's last entry.
    pub(crate) inflight: tokio::sync::RwLock<()>,
}

/// A fresh session id from the OS's CSPRNG.
pub fn new_session_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(hex::encode(bytes))
}

impl Session {
    pub fn new(
        id: String,
        principal: Principal,
        transport: Transport,
        remote: Option<String>,
        server: ServerInfo,
    ) -> Self {
        Self {
            id,
            principal,
            transport,
            remote,
            lifecycle: Mutex::new(Lifecycle::new(server)),
            calls: AtomicU64::new(0),
            notified: AtomicU64::new(0),
            last_active: Mutex::new(Instant::now()),
            closed: AtomicBool::new(false),
            inflight: tokio::sync::RwLock::new(()),
        }
    }

    pub(crate) fn lifecycle(&self) -> std::sync::MutexGuard<'_, Lifecycle> {
        self.lifecycle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `initialize` was answered (and `session.open` recorded).
    pub fn is_open(&self) -> bool {
        self.lifecycle().version().is_some()
    }

    /// Whether the client confirmed `initialize` (the server may send it notifications).
    pub fn is_ready(&self) -> bool {
        matches!(self.lifecycle().state(), SessionState::Ready { .. })
    }

    /// Whether the caller is the one to tell this session of reload `generation`: true once per
    /// generation, so that with several streams open the notice travels on only one.
    pub fn claim_notice(&self, generation: u64) -> bool {
        self.is_ready() && self.notified.fetch_max(generation, Ordering::AcqRel) < generation
    }

    pub fn count_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub fn touch(&self) {
        *self.last_active.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    pub fn idle_for(&self) -> std::time::Duration {
        self.last_active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// Marks the session closed; `true` for the first caller only (who records the close).
    pub fn mark_closed(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

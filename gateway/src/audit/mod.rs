//! The gateway's side of the ledger: [`AuditLog`] appends one entry and waits until it is
//! durable; [`events`] builds every entry kind of `docs/audit-events.md`.
//!
//! **Architecture Invariant:** every path that lets a message through (to Convex or back to the
//! client) awaits [`AuditLog::record`] first and stops on its error: this is where the gateway
//! fails closed.
pub mod events;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use auditgate_ledger::{AppendError, Appended, Draft, Ledger};

/// Why an entry could not be recorded. The caller refuses whatever it was about to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the audit ledger could not record this ({0}); nothing was forwarded")]
pub struct AuditError(pub String);

/// The ledger as the gateway uses it.
#[derive(Debug)]
pub struct AuditLog {
    ledger: Arc<Ledger>,
    /// The last append failure, cleared by the next success: `/healthz` reports it.
    last_failure: Mutex<Option<String>>,
    /// Appends that failed since the gateway started (`gateway.stop` says how many).
    failures: AtomicU64,
}

impl AuditLog {
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Self {
            ledger,
            last_failure: Mutex::new(None),
            failures: AtomicU64::new(0),
        }
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Appends `draft` and resolves once it is durable (fdatasync'd and under a signed
    /// checkpoint).
    pub async fn record(&self, draft: Draft) -> Result<Appended, AuditError> {
        let kind = draft.kind().to_owned();
        let outcome = match self.ledger.submit(draft) {
            Ok(ticket) => ticket.await,
            Err(e) => Err(e),
        };
        let mut failure = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(appended) => {
                *failure = None;
                Ok(appended)
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let why = e.to_string();
                tracing::error!(kind, error = %why, "audit append failed; refusing");
                // An entry refused for what it holds (too large for the ledger) says nothing
                // about the ledger's health: one oversized call must not turn `/healthz` 503
                // (found by the fault campaign's near-limit body).
                if !matches!(e, AppendError::TooLarge { .. } | AppendError::Draft(_)) {
                    *failure = Some(why.clone());
                }
                Err(AuditError(why))
            }
        }
    }

    /// How many appends failed since the gateway started.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Whether `draft` is certain to fit under the ledger's entry limit.
    pub fn fits(&self, draft: &Draft) -> bool {
        self.ledger.fits(draft)
    }

    /// `Err(reason)` while the ledger is failed closed or the last append failed.
    pub fn health(&self) -> Result<(), String> {
        self.ledger.health()?;
        match &*self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }
}

/// `blake3:<hex>` of some bytes.
pub fn blake3_ref(bytes: &[u8]) -> String {
    format!("blake3:{}", blake3::hash(bytes).to_hex())
}

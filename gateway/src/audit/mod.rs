//! The gateway's side of the ledger: [`AuditLog`] appends one entry and waits until it is
//! durable; [`events`] builds every entry kind of `docs/audit-events.md`; [`bounded`] caps what
//! a caller supplied; [`refusals`] decides which refusals get an entry of their own.
//!
//! **Architecture Invariant:** every path that lets a message through (to Convex or back to the
//! client) awaits [`AuditLog::record`] first and stops on its error: this is where the gateway
//! fails closed. Refusals go through [`AuditLog::refusal`], which records within the refusal
//! budget and counts beyond it (`docs/audit-events.md` §7).
pub mod bounded;
pub mod events;
pub mod refusals;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use auditgate_ledger::timestamp::Timestamp;
use auditgate_ledger::{AppendError, Appended, Draft, Ledger};
use auditgate_policy::DigestKey;

use crate::config::RefusalsConfig;
use refusals::{Admission, Refusal, RefusalBudget};

/// Why an entry could not be recorded. The caller refuses whatever it was about to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the audit ledger could not record this ({0}); nothing was forwarded")]
pub struct AuditError(pub String);

/// How a refusal was accounted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalRecord {
    /// Its own entry, at this seq.
    Entry { seq: u64 },
    /// Over its budget: counted in the window's `refusals.summary`; the source may be recorded
    /// individually again after this long.
    Counted { retry_after_ms: u64 },
}

/// Appends that failed since the last success (`audit.resumed` reports them).
#[derive(Debug, Clone)]
struct Failing {
    since: Timestamp,
    count: u64,
    last_error: String,
}

#[derive(Debug, Default)]
struct Health {
    /// Set by a failed append, cleared by the next success: `/healthz` reports it.
    failing: Option<Failing>,
    /// A failure streak that ended and is not yet recorded as `audit.resumed`.
    resumed: Option<Failing>,
}

/// The ledger as the gateway uses it.
#[derive(Debug)]
pub struct AuditLog {
    ledger: Arc<Ledger>,
    health: Mutex<Health>,
    /// Appends that failed since the gateway started (`gateway.stop` says how many).
    failures: AtomicU64,
    refusals: RefusalBudget,
    /// The key of every content digest this gateway writes (`docs/privacy.md` §2).
    digest_key: DigestKey,
}

/// How often the duties loop wakes; a failing ledger is probed every other tick.
const TICK: Duration = Duration::from_secs(1);

impl AuditLog {
    pub fn new(ledger: Arc<Ledger>, refusals: RefusalsConfig, digest_key: DigestKey) -> Self {
        Self {
            digest_key,
            ledger,
            health: Mutex::new(Health::default()),
            failures: AtomicU64::new(0),
            refusals: RefusalBudget::new(refusals),
        }
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The keyed digest (`blake3mac:<hex>`) of bytes a caller or Convex supplied: it binds the
    /// ledger to them without letting anyone who lacks the key test a guess.
    pub fn digest(&self, bytes: &[u8]) -> String {
        self.digest_key.digest(bytes)
    }

    fn health_state(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `draft` and resolves once it is durable (fdatasync'd and under a signed
    /// checkpoint).
    pub async fn record(&self, draft: Draft) -> Result<Appended, AuditError> {
        let kind = draft.kind().to_owned();
        let outcome = match self.ledger.submit(draft) {
            Ok(ticket) => ticket.await,
            Err(e) => Err(e),
        };
        let mut health = self.health_state();
        match outcome {
            Ok(appended) => {
                if let Some(streak) = health.failing.take() {
                    health.resumed = Some(streak);
                }
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
                    let streak = health.failing.get_or_insert_with(|| Failing {
                        since: Timestamp::now(),
                        count: 0,
                        last_error: String::new(),
                    });
                    streak.count += 1;
                    streak.last_error = why.clone();
                }
                Err(AuditError(why))
            }
        }
    }

    /// Records a refusal within its budget (`entry` is built only then), or counts it into the
    /// window's summary. `Err` only when the ledger could not record an admitted refusal.
    pub async fn refusal(
        &self,
        r: &Refusal<'_>,
        entry: impl FnOnce() -> Draft,
    ) -> Result<RefusalRecord, AuditError> {
        match self.refusals.admit(r) {
            Admission::Record => match self.record(entry()).await {
                Ok(appended) => Ok(RefusalRecord::Entry { seq: appended.seq }),
                // Still accounted for: the next summary that can be written carries it.
                Err(e) => {
                    self.refusals.count(r);
                    Err(e)
                }
            },
            Admission::Counted { retry_after_ms } => Ok(RefusalRecord::Counted { retry_after_ms }),
        }
    }

    /// The refusal budgets' settings.
    pub fn refusal_config(&self) -> &RefusalsConfig {
        self.refusals.config()
    }

    /// Writes the window's `refusals.summary`, if anything was counted; on failure the counts go
    /// back into the next window.
    pub async fn end_refusal_window(&self) {
        let Some(ended) = self.refusals.end_window() else {
            return;
        };
        if let Err(e) = self.record(ended.draft()).await {
            tracing::error!(error = %e, "could not record a refusals summary; kept for the next");
            self.refusals.put_back(ended);
        }
    }

    /// Records `audit.resumed` for a failure streak that ended, or — while appends are failing
    /// and the ledger itself is not failed closed — tries to, which is the probe that lets
    /// `/healthz` recover once the disk has room again.
    async fn probe(&self) {
        let streak = {
            let health = self.health_state();
            health.resumed.clone().or_else(|| health.failing.clone())
        };
        let Some(streak) = streak else {
            return;
        };
        if self.ledger.health().is_err() {
            return;
        }
        let entry = events::audit_resumed(streak.count, &streak.since, &streak.last_error);
        if self.record(entry).await.is_ok() {
            tracing::info!(
                failures = streak.count,
                "the audit ledger is writable again (recorded)"
            );
            // Only the streak just recorded: a newer one (failures between the snapshot and
            // now) keeps its own `audit.resumed` to come.
            let mut health = self.health_state();
            if health
                .resumed
                .as_ref()
                .is_some_and(|r| r.since == streak.since)
            {
                health.resumed = None;
            }
        }
    }

    /// The gateway's background duties until the log is dropped: a `refusals.summary` per
    /// window, and the health probe every other second while appends fail.
    pub fn spawn_duties(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        let window = Duration::from_secs(self.refusals.config().window_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut since_summary = Duration::ZERO;
            let mut odd = false;
            loop {
                tick.tick().await;
                let Some(log) = weak.upgrade() else { return };
                since_summary += TICK;
                if since_summary >= window {
                    since_summary = Duration::ZERO;
                    log.end_refusal_window().await;
                }
                odd = !odd;
                if odd {
                    log.probe().await;
                }
            }
        })
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
        match &self.health_state().failing {
            Some(streak) => Err(streak.last_error.clone()),
            None => Ok(()),
        }
    }
}

/// `blake3:<hex>` of some bytes: for the gateway's own material (policy, config) and the tails
/// of capped caller strings, whose first 256 bytes are kept in clear anyway. Evidence (requests,
/// arguments, results, errors) is digested with [`AuditLog::digest`].
pub fn blake3_ref(bytes: &[u8]) -> String {
    format!("blake3:{}", blake3::hash(bytes).to_hex())
}

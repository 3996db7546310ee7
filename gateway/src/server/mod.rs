//! The running gateway: [`Gateway::build`] assembles config, policy, catalog, ledger and
//! upstream; the transports ([`stdio`], [`http`]) feed it messages through [`dispatch`].
//!
//! **Architecture Invariant:** `gateway.start`, `policy.loaded` and `catalog.loaded` are durable
//! before a transport accepts its first byte ([`Gateway::record_start`]); a gateway that cannot
//! write them does not start.
pub mod admin;
pub mod dispatch;
pub mod http;
pub mod listener;
pub mod refusal;
pub mod reload;
pub mod reloads;
pub mod session;
pub mod stdio;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use auditgate_ledger::{Ledger, LedgerOptions, OpenError, SigningKey};
use auditgate_policy::{CommitKey, Policy};

use crate::apikeys::KeyStore;
use crate::approvals::Approvals;
use crate::audit::{AuditError, AuditLog, events};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::enforcement::Enforcer;
use crate::mcp::lifecycle::ServerInfo;
use crate::upstream::convex::{self, IdentityMode};

/// Why the gateway cannot start. Each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no [policy] file in the config: the gateway refuses to run without a policy")]
    NoPolicy,
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Policy(String),
    #[error("function spec: {0}")]
    Catalog(String),
    #[error("Convex upstream: {0}")]
    Upstream(String),
    #[error("ledger signing key {path}: {message} (run `auditgate init` to create one)")]
    SigningKey { path: PathBuf, message: String },
    #[error(
        "commit key {path}: {message} (64 hex digits, mode 0600; `auditgate init` creates one)"
    )]
    CommitKey { path: PathBuf, message: String },
    #[error("ledger {path}: {message}")]
    Ledger { path: PathBuf, message: String },
    #[error("evidence vault: {0}")]
    Vault(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Everything a running gateway shares between sessions.
#[derive(Debug)]
pub struct Gateway {
    pub config: Config,
    pub enforcer: Enforcer,
    pub audit: Arc<AuditLog>,
    pub keys: KeyStore,
    /// The OAuth resource server, when `[oauth]` is configured.
    pub oauth: Option<crate::oauth::ResourceServer>,
    pub server_info: ServerInfo,
    /// Random id of this run (`gateway.start.instance`).
    pub instance: String,
    policy_file: String,
    policy_text: String,
    /// The audit log's background duties (refusal summaries, the health probe), from
    /// `record_start` to `record_stop`.
    duties: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Live reload: what was last rejected, the reload tasks, and who hears of a change.
    pub reload: reloads::Reloads,
}

/// Reads the commit key: 64 hex digits, not readable by group or others.
pub fn load_commit_key(path: &Path) -> Result<CommitKey, StartError> {
    let err = |message: String| StartError::CommitKey {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|e| err(e.to_string()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(err(format!(
                "mode {:o} lets others read it; chmod 600",
                mode & 0o777
            )));
        }
    }
    CommitKey::from_hex(text.trim()).ok_or_else(|| err("not 64 hex digits".into()))
}

impl Gateway {
    /// Loads everything the config names and opens (or, the first time, creates) the ledger.
    pub async fn build(config: Config) -> Result<Gateway, StartError> {
        let ledger = open_ledger(&config)?;
        Self::build_on(config, ledger).await
    }

    /// [`Gateway::build`] over a ledger the caller opened (tests inject store faults this way).
    pub async fn build_on(config: Config, ledger: Ledger) -> Result<Gateway, StartError> {
        let policy_path = config
            .policy
            .as_ref()
            .map(|p| p.file.clone())
            .ok_or(StartError::NoPolicy)?;
        let policy_bytes = std::fs::read(&policy_path).map_err(|source| StartError::Read {
            what: "policy",
            path: policy_path.clone(),
            source,
        })?;
        let policy_file = policy_path.display().to_string();
        let (policy, warnings) = Policy::parse(&policy_file, &policy_bytes)
            .map_err(|e| StartError::Policy(e.to_string()))?;
        for w in warnings {
            tracing::warn!("policy: {w}");
        }
        // `serve --write` lowers the file's write ceilings for this process (never raises them).
        let policy = match config.write_limit {
            Some(limit) => policy.with_write_limit(limit),
            None => policy,
        };
        let policy_text = String::from_utf8_lossy(&policy_bytes).into_owned();

        let (client, identity_mode) =
            convex::from_config(&config.convex).map_err(|e| StartError::Upstream(e.to_string()))?;
        let catalog = Catalog::load(&config, &client).await.map_err(|e| match e {
            crate::catalog::CatalogError::Fetch(u) => {
                StartError::Upstream(format!("fetching the function spec: {u}"))
            }
            other => StartError::Catalog(other.to_string()),
        })?;

        let commit_key = load_commit_key(&config.ledger.commit_key_file)?;
        let vault = match &config.vault {
            Some(v) => Some(Arc::new(
                crate::vault::Vault::open(&v.dir, &v.subject, &commit_key)
                    .map_err(|e| StartError::Vault(e.to_string()))?,
            )),
            None => None,
        };
        let audit = Arc::new(AuditLog::new(
            Arc::new(ledger),
            config.server.refusals.clone(),
            auditgate_policy::DigestKey::derive(&commit_key),
        ));
        let page_size = NonZeroUsize::new(config.server.page_size)
            .unwrap_or(crate::mcp::pagination::DEFAULT_PAGE_SIZE);
        let approvals = Arc::new(Approvals::new(audit.clone(), &config.approvers));
        let enforcer = Enforcer::new(
            audit.clone(),
            crate::enforcement::snapshot::Snapshot::new(Arc::new(catalog), Arc::new(policy)),
            client,
            identity_mode,
            commit_key,
            page_size,
            approvals,
            crate::ratelimit::RateLimiter::new(config.rate_limits.clone()),
        )
        .with_vault(vault);
        let keys = KeyStore::new(config.auth.api_keys_file.clone());
        let instance = session::new_session_id()
            .map_err(|e| StartError::Upstream(e.to_string()))?[..16]
            .to_string();
        let oauth = config.oauth.clone().map(crate::oauth::ResourceServer::new);
        Ok(Gateway {
            config,
            enforcer,
            audit,
            keys,
            oauth,
            server_info: ServerInfo {
                name: "auditgate".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                title: Some("auditgate (audited Convex tools)".into()),
                instructions: Some(
                    "Every tools/list and tools/call through this server is decided by policy and \
                     recorded in a signed audit ledger before it runs."
                        .into(),
                ),
            },
            instance,
            policy_file,
            policy_text,
            duties: std::sync::Mutex::new(None),
            reload: reloads::Reloads::new(),
        })
    }

    /// Closes what an earlier run left open, then records `gateway.start`, `policy.loaded` and
    /// `catalog.loaded` (durably, in that order), and starts the audit log's duties and the reload
    /// triggers (`reload.rs`).
    pub async fn record_start(
        self: &Arc<Self>,
        transport: &str,
        listen: &str,
    ) -> Result<(), AuditError> {
        self.close_what_was_left().await?;
        self.record_start_entries(transport, listen).await?;
        *self.duties.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.audit.spawn_duties());
        self.spawn_reload_triggers();
        Ok(())
    }

    /// The truth about what an earlier run left open, before `gateway.start` (so that the next
    /// start need read back no further than it; approvals/left.rs): an approval still pending
    /// expires (`gateway_restart`); a call that was forwarded — or whose approvals were all
    /// granted — without a result is `call.interrupted`, its outcome unknown.
    async fn close_what_was_left(&self) -> Result<(), AuditError> {
        let ledger = self.audit.ledger().clone();
        let left = tokio::task::spawn_blocking(move || crate::approvals::left::left_open(&ledger))
            .await
            .map_err(std::io::Error::other)
            .and_then(|scanned| scanned)
            .map_err(|e| AuditError(format!("scanning the ledger for what was left open: {e}")))?;
        for p in &left.pending {
            tracing::warn!(approval = %p.approval_id, "expiring an approval left pending by an earlier run");
            self.audit
                .record(events::approval_expired(
                    &p.session,
                    &p.approval_id,
                    p.request_seq,
                    "gateway_restart",
                ))
                .await?;
        }
        for c in &left.interrupted {
            tracing::warn!(
                request_seq = c.request_seq,
                tool = %c.tool,
                "a call forwarded by an earlier run has no recorded result: outcome unknown"
            );
            self.audit
                .record(events::call_interrupted(&events::Interrupted {
                    session: &c.session,
                    request_seq: c.request_seq,
                    request_id: &c.request_id,
                    tool: &c.tool,
                    approval_id: c.approval_id.as_deref(),
                }))
                .await?;
        }
        Ok(())
    }

    async fn record_start_entries(&self, transport: &str, listen: &str) -> Result<(), AuditError> {
        let e = &self.enforcer;
        let snapshot = e.live.current();
        let identity_mode = match e.identity_mode {
            IdentityMode::Caller => "caller",
            IdentityMode::Service(_) => "service",
        };
        self.audit
            .record(events::gateway_start(&events::Start {
                instance: &self.instance,
                transport,
                listen,
                config_hash: &self.config.source_hash,
                policy_hash: &snapshot.policy_ref,
                catalog_hash: snapshot.catalog.hash(),
                upstream: e.upstream.base_url(),
                identity_mode,
                vault: e.vault.is_some(),
                write_limit: self.config.write_limit.map(|w| w.as_str()),
                tool_prefix: self.config.catalog.tool_prefix.as_deref(),
            }))
            .await?;
        self.audit
            .record(events::policy_loaded(
                &snapshot.policy_ref,
                &self.policy_file,
                &self.policy_text,
            ))
            .await?;
        self.audit
            .record(events::catalog_loaded(
                snapshot.catalog.hash(),
                reloads::tool_list(&snapshot.catalog),
            ))
            .await?;
        Ok(())
    }

    /// Writes the last refusals summary, then `gateway.stop` (best effort: a failing ledger is
    /// already reported), and ends the audit log's duties.
    pub async fn record_stop(&self, reason: &str, sessions_closed: u64) {
        if let Some(duties) = self.duties.lock().unwrap_or_else(|e| e.into_inner()).take() {
            duties.abort();
        }
        self.reload.stop_triggers();
        self.audit.end_refusal_window().await;
        let entry = events::gateway_stop(&events::Stop {
            instance: &self.instance,
            reason,
            sessions_closed,
            calls: self.enforcer.calls(),
            approvals_pending: self.enforcer.approvals.pending_count().await,
            audit_failures: self.audit.failures(),
        });
        if let Err(e) = self.audit.record(entry).await {
            tracing::error!(error = %e, "could not record gateway.stop");
        }
    }
}

/// Opens the configured ledger, creating it on first use.
pub fn open_ledger(config: &Config) -> Result<Ledger, StartError> {
    let key_path = &config.ledger.signing_key_file;
    let key = SigningKey::load(key_path).map_err(|e| StartError::SigningKey {
        path: key_path.clone(),
        message: e.to_string(),
    })?;
    let dir = &config.ledger.dir;
    let ledger_err = |e: OpenError| StartError::Ledger {
        path: dir.clone(),
        message: e.to_string(),
    };
    let options = LedgerOptions {
        segment_size_limit: config.ledger.segment_size_mib * 1024 * 1024,
        full_scan_on_open: config.ledger.full_scan_on_open,
        ..LedgerOptions::default()
    };
    if dir.join("segments").is_dir() {
        let (ledger, report) = Ledger::open(dir, key, options).map_err(ledger_err)?;
        if let Some(torn) = &report.recovered {
            tracing::warn!(?torn, "ledger: cut a torn tail left by a crash (recorded)");
        }
        tracing::info!(
            entries = report.entries,
            scanned_from_segment = report.resumed_from.unwrap_or(0),
            dir = %dir.display(),
            "ledger opened"
        );
        Ok(ledger)
    } else {
        tracing::info!(dir = %dir.display(), "creating a new ledger");
        Ledger::create(dir, key, options).map_err(ledger_err)
    }
}

//! Live reload of the catalog and the policy (`docs/operations.md`, "Reload";
//! `docs/audit-events.md` §1.1): [`Gateway::reload`] re-reads the policy file and the function
//! spec, records what changed (`policy.changed`, `catalog.changed`) or was refused
//! (`policy.rejected`, `catalog.rejected`), puts the new snapshot in force and tells the open
//! sessions. Triggers: the deployment's spec polled every `[catalog] poll_interval` (not with
//! `spec_file`), SIGHUP, and `POST /admin/reload` (`admin.rs`).
//!
//! **Architecture Invariant:** a change takes effect only after its entry is durable, and every
//! change recorded takes effect; a change whose entry cannot be written, or a broken new policy
//! or spec, leaves that part of the snapshot as it was. A reload that changes nothing writes
//! nothing.
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use serde_json::Value;

use super::Gateway;
use super::reloads::{Part, Reloaded, tool_list};
use crate::audit::AuditError;
use crate::audit::events::{self, CatalogChange, PolicyFault, Trigger};
use crate::catalog::{Catalog, CatalogError};
use crate::enforcement::snapshot::Snapshot;
use auditgate_policy::Policy;

/// A new policy: valid, or why not (the fault for the ledger, the message for the log).
enum PolicyRead {
    Same,
    New(Box<Policy>, String),
    Broken {
        rejected_hash: Option<String>,
        class: String,
        line: Option<usize>,
        column: Option<usize>,
        field: Option<String>,
        message: String,
    },
}

enum CatalogRead {
    Same,
    New(Catalog),
    Broken(String),
    Unavailable(String),
}

impl Gateway {
    /// Starts the reload triggers: the poll (catalog from the deployment, `poll_interval` not
    /// `"off"`) and SIGHUP. Each holds the gateway weakly and stops with it.
    pub(super) fn spawn_reload_triggers(self: &Arc<Self>) {
        self.reload.keep_tasks(triggers(self));
    }
}

fn triggers(gateway: &Arc<Gateway>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let catalog = &gateway.config.catalog;
    if let (None, Some(period)) = (&catalog.spec_file, catalog.poll_interval.0) {
        let weak = Arc::downgrade(gateway);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if !run_once(&weak, Trigger::Poll).await {
                    return;
                }
            }
        }));
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                let weak = Arc::downgrade(gateway);
                tasks.push(tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        tracing::info!("SIGHUP: reloading the catalog and the policy");
                        if !run_once(&weak, Trigger::Sighup).await {
                            return;
                        }
                    }
                }));
            }
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler: reload with POST /admin/reload")
            }
        }
    }
    tasks
}

/// One triggered reload; `false` once the gateway is gone.
async fn run_once(gateway: &Weak<Gateway>, trigger: Trigger) -> bool {
    let Some(gateway) = gateway.upgrade() else {
        return false;
    };
    if let Err(e) = gateway.reload(trigger).await {
        tracing::error!(error = %e, "reload not recorded: the catalog and policy in force stay");
    }
    true
}

impl Gateway {
    /// Re-reads the policy file and the function spec; records and puts in force what changed
    /// (the policy first: a `catalog.changed` that cannot be written leaves the new policy in
    /// force and the old catalog).
    pub async fn reload(&self, trigger: Trigger) -> Result<Reloaded, AuditError> {
        let mut rejected = self.reload.begin().await;
        let old = self.enforcer.live.current();
        let policy = self.read_policy(&old).await;
        let catalog = self.read_catalog(&old).await;
        let gate = self.enforcer.live.exclusive().await;
        let policy_part = self
            .settle_policy(&old, &policy, trigger, &mut rejected.policy)
            .await?;
        let catalog_part = self
            .settle_catalog(&old, &catalog, trigger, &mut rejected.catalog)
            .await;
        // What was recorded is put in force, even when the next entry could not be written: the
        // ledger then says the new policy is in force, and so it is.
        let new_policy = match policy {
            PolicyRead::New(p, _) => Some(Arc::new(*p)),
            _ => None,
        };
        let new_catalog = match (&catalog_part, catalog) {
            (Ok(_), CatalogRead::New(c)) => Some(Arc::new(c)),
            _ => None,
        };
        if new_policy.is_some() || new_catalog.is_some() {
            let snapshot = Snapshot::new(
                new_catalog.unwrap_or_else(|| old.catalog.clone()),
                new_policy.unwrap_or_else(|| old.policy.clone()),
            );
            self.enforcer.live.replace(&gate, snapshot);
            drop(gate);
            self.notify_list_changed();
        }
        Ok(Reloaded {
            policy: policy_part,
            catalog: catalog_part?,
        })
    }

    /// Tells every open session that its tool list may have changed: the transports watch the
    /// generation (`Reloads::subscribe`). The 2026-07-28 `subscriptions/listen` notice
    /// (`toolsListChanged`) hooks in here when that transport exists.
    fn notify_list_changed(&self) {
        self.reload.announce();
    }

    async fn read_policy(&self, old: &Snapshot) -> PolicyRead {
        let Some(path) = self.config.policy.as_ref().map(|p| p.file.clone()) else {
            return PolicyRead::Same;
        };
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) => {
                return PolicyRead::Broken {
                    rejected_hash: None,
                    class: "Unreadable".into(),
                    line: None,
                    column: None,
                    field: None,
                    message: format!("cannot read the policy {}: {e}", path.display()),
                };
            }
        };
        let hash = format!("blake3:{}", blake3::hash(&bytes).to_hex());
        if hash == old.policy_ref {
            return PolicyRead::Same;
        }
        match Policy::parse(&self.policy_file, &bytes) {
            Ok((policy, warnings)) => {
                for w in warnings {
                    tracing::warn!("policy: {w}");
                }
                // `serve --write` holds for the process: a reloaded policy is lowered too.
                let policy = match self.config.write_limit {
                    Some(limit) => policy.with_write_limit(limit),
                    None => policy,
                };
                PolicyRead::New(
                    Box::new(policy),
                    String::from_utf8_lossy(&bytes).into_owned(),
                )
            }
            Err(e) => {
                let loc = e.location();
                PolicyRead::Broken {
                    rejected_hash: Some(hash),
                    class: variant_name(&e),
                    line: Some(loc.line),
                    column: Some(loc.column),
                    field: (!loc.field.is_empty()).then(|| loc.field.clone()),
                    message: e.to_string(),
                }
            }
        }
    }

    async fn read_catalog(&self, old: &Snapshot) -> CatalogRead {
        let support = old.catalog.data_support().clone();
        match Catalog::load_with(&self.config, &self.enforcer.upstream, support).await {
            Ok(c) if c.hash() == old.catalog.hash() => CatalogRead::Same,
            Ok(c) => CatalogRead::New(c),
            Err(CatalogError::Fetch(e)) => CatalogRead::Unavailable(e.to_string()),
            Err(e) => CatalogRead::Broken(e.to_string()),
        }
    }

    async fn settle_policy(
        &self,
        old: &Snapshot,
        read: &PolicyRead,
        trigger: Trigger,
        last: &mut Option<String>,
    ) -> Result<Part, AuditError> {
        match read {
            PolicyRead::Same => {
                *last = None;
                Ok(Part::Unchanged)
            }
            PolicyRead::New(policy, text) => {
                *last = None;
                let new = format!("blake3:{}", policy.hash_hex());
                self.audit
                    .record(events::policy_changed(
                        &old.policy_ref,
                        &new,
                        &self.policy_file,
                        text,
                        trigger,
                    ))
                    .await?;
                tracing::info!(old = %old.policy_ref, new = %new, "policy reloaded");
                Ok(Part::Changed {
                    old: old.policy_ref.clone(),
                    new,
                })
            }
            PolicyRead::Broken {
                rejected_hash,
                class,
                line,
                column,
                field,
                message,
            } => {
                tracing::error!("policy not reloaded, the one in force stays: {message}");
                let seen = rejected_hash
                    .clone()
                    .unwrap_or_else(|| format!("unreadable: {message}"));
                let record = trigger != Trigger::Poll || last.as_deref() != Some(&seen);
                if record {
                    let fault = PolicyFault {
                        class,
                        line: *line,
                        column: *column,
                        field: field.as_deref(),
                    };
                    self.audit
                        .record(events::policy_rejected(
                            &old.policy_ref,
                            rejected_hash.as_deref(),
                            &self.policy_file,
                            &fault,
                            trigger,
                        ))
                        .await?;
                }
                *last = Some(seen);
                Ok(Part::Rejected {
                    reason: message.clone(),
                    recorded: record,
                })
            }
        }
    }

    async fn settle_catalog(
        &self,
        old: &Snapshot,
        read: &CatalogRead,
        trigger: Trigger,
        last: &mut Option<String>,
    ) -> Result<Part, AuditError> {
        match read {
            CatalogRead::Same => {
                *last = None;
                Ok(Part::Unchanged)
            }
            CatalogRead::Unavailable(reason) => {
                tracing::warn!("function spec not fetched, the catalog in force stays: {reason}");
                Ok(Part::Unavailable {
                    reason: reason.clone(),
                })
            }
            CatalogRead::New(new) => {
                *last = None;
                let (added, removed, changed) = diff(&old.catalog, new);
                self.audit
                    .record(events::catalog_changed(CatalogChange {
                        old_hash: old.catalog.hash(),
                        new_hash: new.hash(),
                        tools: tool_list(new),
                        added: added.clone(),
                        removed: removed.clone(),
                        changed: changed.clone(),
                        trigger,
                    }))
                    .await?;
                tracing::info!(?added, ?removed, ?changed, "catalog reloaded");
                Ok(Part::Changed {
                    old: old.catalog.hash().to_owned(),
                    new: new.hash().to_owned(),
                })
            }
            CatalogRead::Broken(reason) => {
                tracing::error!("catalog not reloaded, the one in force stays: {reason}");
                let record = trigger != Trigger::Poll || last.as_deref() != Some(reason);
                if record {
                    self.audit
                        .record(events::catalog_rejected(
                            old.catalog.hash(),
                            reason,
                            trigger,
                        ))
                        .await?;
                }
                *last = Some(reason.clone());
                Ok(Part::Rejected {
                    reason: reason.clone(),
                    recorded: record,
                })
            }
        }
    }
}

/// Tool names added, removed, and present in both with another MCP form; each sorted.
fn diff(old: &Catalog, new: &Catalog) -> (Vec<String>, Vec<String>, Vec<String>) {
    let forms = |c: &Catalog| -> BTreeMap<String, Value> {
        c.tools()
            .iter()
            .map(|t| (t.name.clone(), t.to_mcp()))
            .collect()
    };
    let (before, after) = (forms(old), forms(new));
    let added = after
        .keys()
        .filter(|n| !before.contains_key(*n))
        .cloned()
        .collect();
    let removed = before
        .keys()
        .filter(|n| !after.contains_key(*n))
        .cloned()
        .collect();
    let changed = after
        .iter()
        .filter(|(n, form)| before.get(*n).is_some_and(|b| b != *form))
        .map(|(n, _)| n.clone())
        .collect();
    (added, removed, changed)
}

/// The policy error's variant (`UnknownKey`, …): its class without the message, which may
/// quote the file.
fn variant_name(e: &auditgate_policy::PolicyError) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("Invalid")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::CatalogOptions;
    use crate::catalog::spec::FunctionSpecFile;

    fn catalog(functions: Value) -> Catalog {
        let spec = FunctionSpecFile::from_value(json!({"url": "u", "functions": functions}));
        Catalog::build(&spec.unwrap(), &CatalogOptions::default()).unwrap()
    }

    fn query(id: &str, args: Value) -> Value {
        json!({"identifier": id, "functionType": "Query", "visibility": {"kind": "public"},
               "args": {"type": "object", "value": args}, "returns": null})
    }

    #[test]
    fn diff_names_added_removed_and_changed_tools() {
        let old = catalog(json!([
            query("a.js:keep", json!({})),
            query("a.js:gone", json!({})),
            query("a.js:edit", json!({}))
        ]));
        let new = catalog(json!([
            query("a.js:keep", json!({})),
            query("a.js:new", json!({})),
            query(
                "a.js:edit",
                json!({"n": {"fieldType": {"type": "number"}, "optional": false}})
            )
        ]));
        let (added, removed, changed) = diff(&old, &new);
        assert_eq!(
            (added, removed, changed),
            (
                vec!["a_new".to_string()],
                vec!["a_gone".to_string()],
                vec!["a_edit".to_string()]
            )
        );
    }

    #[test]
    fn a_policy_error_is_named_by_its_variant_only() {
        let text = b"version = 1\n[defaults]\ntier = \"blocked\"\nsecret_key = \"S3CRET\"\n";
        let err = Policy::parse("p.toml", text).unwrap_err();
        let class = variant_name(&err);
        assert_eq!(class, "UnknownKey");
        assert!(!class.contains("S3CRET"));
    }
}

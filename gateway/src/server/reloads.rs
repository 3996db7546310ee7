//! What a gateway keeps between live reloads (`reload.rs`) and what one came to: one reload at
//! a time, the last rejections (so that a poll records each once), the trigger tasks, and the
//! generation counter the transports watch to send `notifications/tools/list_changed`. Below
//! both `reload.rs` and `mod.rs`, so that neither imports the other.
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::catalog::Catalog;

/// The reload state a gateway keeps: one reload at a time, what a poll already rejected, the
/// trigger tasks, and the generation counter sessions watch for `list_changed`.
#[derive(Debug)]
pub struct Reloads {
    /// Held for a whole reload; remembers the last rejections so a poll records each once.
    running: tokio::sync::Mutex<Rejected>,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    changed: watch::Sender<u64>,
}

#[derive(Debug, Default)]
pub(super) struct Rejected {
    /// `rejected_hash` (or `unreadable: …`) of the last policy rejected.
    pub(super) policy: Option<String>,
    /// The reason of the last catalog rejected.
    pub(super) catalog: Option<String>,
}

impl Default for Reloads {
    fn default() -> Self {
        Self::new()
    }
}

impl Reloads {
    pub fn new() -> Self {
        Self {
            running: tokio::sync::Mutex::new(Rejected::default()),
            tasks: std::sync::Mutex::new(Vec::new()),
            changed: watch::channel(0).0,
        }
    }

    /// Changes as a generation number: a session's transport sends one
    /// `notifications/tools/list_changed` per generation it has not told yet.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Waits for any reload in progress; the guard is this reload's, with the last rejections.
    pub(super) async fn begin(&self) -> tokio::sync::MutexGuard<'_, Rejected> {
        self.running.lock().await
    }

    /// A reload changed the catalog or the policy: every watcher's generation moves on.
    pub(super) fn announce(&self) {
        self.changed.send_modify(|g| *g += 1);
    }

    pub(super) fn keep_tasks(&self, tasks: Vec<tokio::task::JoinHandle<()>>) {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(tasks);
    }

    /// Ends the trigger tasks (at `gateway.stop`).
    pub fn stop_triggers(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// What one part of a reload came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Unchanged,
    Changed {
        old: String,
        new: String,
    },
    /// Broken: the old one stays; `recorded` says whether this reload wrote the rejection.
    Rejected {
        reason: String,
        recorded: bool,
    },
    /// The deployment could not be asked (nothing recorded).
    Unavailable {
        reason: String,
    },
}

impl Part {
    pub fn to_json(&self) -> Value {
        match self {
            Part::Unchanged => json!({"status": "unchanged"}),
            Part::Changed { old, new } => json!({"status": "changed", "old": old, "new": new}),
            Part::Rejected { reason, recorded } => {
                json!({"status": "rejected", "reason": reason, "recorded": recorded})
            }
            Part::Unavailable { reason } => json!({"status": "unavailable", "reason": reason}),
        }
    }
}

/// The outcome of `Gateway::reload`.
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub policy: Part,
    pub catalog: Part,
}

impl Reloaded {
    /// The answer of `POST /admin/reload`.
    pub fn to_json(&self) -> Value {
        json!({"policy": self.policy.to_json(), "catalog": self.catalog.to_json()})
    }
}

/// `{name, kind, function_path?}` per tool, in catalog order (`catalog.loaded.tools`).
pub fn tool_list(catalog: &Catalog) -> Vec<Value> {
    catalog
        .tools()
        .iter()
        .map(|t| {
            let mut tool = json!({"name": t.name, "kind": t.kind().as_str()});
            if let Some(path) = t.function_path() {
                tool["function_path"] = json!(path);
            }
            if let crate::catalog::ToolTarget::Data(d) = t.target {
                let support = catalog.data_support().of(d);
                tool["data_via"] = crate::catalog::data_support::recorded(support);
            }
            tool
        })
        .collect()
}

//! The catalog and policy in force, as one [`Snapshot`] that a reload replaces whole.
//!
//! **Architecture Invariant:** a request is decided, validated, recorded and forwarded against
//! the one snapshot it took ([`Live::hold`]); it keeps the gate shared until its `call.request`
//! (or `tools.listed`) is durable, and a reload records its `policy.changed`/`catalog.changed`
//! and swaps under the gate held exclusively ([`Live::exclusive`]). So every entry naming a
//! policy or catalog hash names the one the ledger says was in force when it was written.
use std::sync::{Arc, RwLock};

use auditgate_policy::Policy;
use tokio::sync::{RwLockReadGuard, RwLockWriteGuard};

use crate::catalog::Catalog;

/// A catalog and the policy that decides over it.
#[derive(Debug)]
pub struct Snapshot {
    pub catalog: Arc<Catalog>,
    pub policy: Arc<Policy>,
    /// `blake3:<hex>` of the policy file.
    pub policy_ref: String,
}

impl Snapshot {
    pub fn new(catalog: Arc<Catalog>, policy: Arc<Policy>) -> Self {
        let policy_ref = format!("blake3:{}", policy.hash_hex());
        Self {
            catalog,
            policy,
            policy_ref,
        }
    }
}

/// The snapshot in force and the gate that orders requests' entries against a reload's.
#[derive(Debug)]
pub struct Live {
    current: RwLock<Arc<Snapshot>>,
    gate: tokio::sync::RwLock<()>,
}

/// A request's snapshot, with the gate held shared until it is dropped.
#[derive(Debug)]
pub struct Held<'a> {
    pub snapshot: Arc<Snapshot>,
    _gate: RwLockReadGuard<'a, ()>,
}

impl Live {
    pub fn new(snapshot: Snapshot) -> Self {
        Self {
            current: RwLock::new(Arc::new(snapshot)),
            gate: tokio::sync::RwLock::new(()),
        }
    }

    /// The snapshot in force now (for what records nothing, e.g. choosing a response mode).
    pub fn current(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The snapshot in force, held until the caller's entry is durable.
    pub async fn hold(&self) -> Held<'_> {
        let gate = self.gate.read().await;
        Held {
            snapshot: self.current(),
            _gate: gate,
        }
    }

    /// The gate alone: no request is between its decision and its entry while this is held.
    pub async fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().await
    }

    /// Puts `snapshot` in force; `_gate` proves the caller holds [`Live::exclusive`].
    pub fn replace(&self, _gate: &RwLockWriteGuard<'_, ()>, snapshot: Snapshot) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }
}

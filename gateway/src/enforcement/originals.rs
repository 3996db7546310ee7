//! The originals of committed values, handed to the evidence vault (`docs/privacy.md` §5)
//! before the entry that commits them is recorded — as the ledger is written before a call is
//! forwarded, so a kill -9 never leaves a commitment whose original the vault should have.

use super::context::CallContext;
use super::{Enforcer, Refusal};
use crate::audit::AuditError;
use crate::vault::{Binding, committed};
use auditgate_policy::Redacted;

impl Enforcer {
    /// Keeps the values `redacted` committed in the vault under the call's data subject, bound
    /// to `binding`, durably, before the entry that commits them is recorded. Without a vault,
    /// a subject or anything committed: nothing (and no commitment is recomputed).
    /// A vault that cannot write refuses the call (fail closed, like the ledger).
    pub(super) async fn keep_originals(
        &self,
        call: &CallContext<'_>,
        binding: Binding<'_>,
        redacted: Option<&Redacted>,
    ) -> Result<(), Refusal> {
        let Some(vault) = &self.vault else {
            return Ok(());
        };
        let Some(redacted) = redacted else {
            return Ok(());
        };
        let kept = committed(redacted, &self.commit_key);
        if kept.is_empty() {
            return Ok(());
        }
        let Some(subject) = vault.subject_of(&call.args) else {
            return Ok(());
        };
        let vault = vault.clone();
        let binding = binding.to_string();
        let outcome =
            tokio::task::spawn_blocking(move || vault.keep(&subject, &binding, &kept)).await;
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "evidence vault write failed; refusing");
                Err(Refusal::Audit(AuditError(
                    "the evidence vault could not keep the call's committed values".into(),
                )))
            }
            Err(_) => Err(Refusal::Audit(AuditError(
                "the evidence vault could not keep the call's committed values".into(),
            ))),
        }
    }
}

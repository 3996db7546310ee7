//! Reading what the auditor trusts: verifier keys (inline or from a file) and pinned checkpoints.

use std::path::Path;

use anyhow::{Context, Result, bail};
use auditgate_ledger::VerifierKey;
use auditgate_ledger::checkpoint::SignedCheckpoint;
use auditgate_ledger::keys::parse_trusted_keys;

/// `--pubkey`: an existing file is a trusted-keys file; anything else must be one verifier key.
pub fn trusted_keys(arg: &str) -> Result<Vec<VerifierKey>> {
    let path = Path::new(arg);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading trusted keys {}", path.display()))?;
        let keys = parse_trusted_keys(&text)
            .with_context(|| format!("trusted keys file {}", path.display()))?;
        if keys.is_empty() {
            bail!("trusted keys file {} holds no key", path.display());
        }
        return Ok(keys);
    }
    let key = arg.trim().parse::<VerifierKey>().with_context(|| {
        format!("--pubkey {arg:?} is neither a readable file nor a verifier key (name+id+base64)")
    })?;
    Ok(vec![key])
}

/// `--pin`: a file holding one signed checkpoint note.
pub fn pinned_checkpoint(path: &Path) -> Result<SignedCheckpoint> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading pinned checkpoint {}", path.display()))?;
    SignedCheckpoint::parse(&bytes)
        .with_context(|| format!("pinned checkpoint {} does not parse", path.display()))
}

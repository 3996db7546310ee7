//! `auditgate-verify proof`: inclusion and consistency proofs a third party can check with a
//! public key alone — produced from a ledger this tool has verified in full first, checked from
//! the proof file (format `auditgate-proof/1`, documented in `docs/ledger-format.md` §10).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use auditgate_ledger::checkpoint::SignedCheckpoint;
use auditgate_ledger::merkle::{self, Hash};
use auditgate_ledger::verify::{self, VerifyOptions};
use auditgate_ledger::{Report, VerifierKey};
use serde_json::{Value, json};

use crate::trust;

/// The `format` member of every proof file.
pub const FORMAT: &str = "auditgate-proof/1";

/// `proof inclusion`: proves entry `seq` is in the tree of the ledger's last checkpoint.
pub fn inclusion(path: &Path, pubkey: &str, seq: u64) -> Result<ExitCode> {
    let trusted = trust::trusted_keys(pubkey)?;
    let mut entry = None;
    let report = match verified(path, trusted, &mut |e| {
        if e.seq == seq {
            entry = Some(e.bytes.to_vec());
        }
    })? {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let Some(entry) = entry else {
        bail!(
            "the ledger has {} entries; there is no seq {seq}",
            report.entries
        );
    };
    let leaves = report.leaves.as_deref().unwrap_or_default();
    let proof = merkle::inclusion_proof(leaves, seq).context("building the inclusion proof")?;
    let checkpoint = last_checkpoint(&report)?;
    emit(&json!({
        "format": FORMAT,
        "type": "inclusion",
        "seq": seq,
        "entry": String::from_utf8_lossy(&entry),
        "tree_size": report.entries,
        "proof": hexes(&proof),
        "checkpoint": checkpoint,
    }));
    Ok(ExitCode::SUCCESS)
}

/// `proof consistency`: proves the ledger's last checkpoint extends an older one.
pub fn consistency(path: &Path, pubkey: &str, old: &Path) -> Result<ExitCode> {
    let trusted = trust::trusted_keys(pubkey)?;
    let old_cp = trust::pinned_checkpoint(old)?;
    let report = match verified(path, trusted, &mut |_| {})? {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let leaves = report.leaves.as_deref().unwrap_or_default();
    let old_size = old_cp.checkpoint().size;
    if old_size > report.entries {
        bail!(
            "the old checkpoint has {old_size} entries, the ledger only {}: it was truncated",
            report.entries
        );
    }
    if merkle::root(&leaves[..old_size as usize]) != old_cp.checkpoint().root {
        println!(
            "INVALID: the ledger's history differs from the old checkpoint at size {old_size}"
        );
        return Ok(ExitCode::from(1));
    }
    let proof = merkle::consistency_proof(leaves, old_size).context("building the proof")?;
    emit(&json!({
        "format": FORMAT,
        "type": "consistency",
        "old_checkpoint": String::from_utf8_lossy(&old_cp.to_bytes()),
        "proof": hexes(&proof),
        "checkpoint": last_checkpoint(&report)?,
    }));
    Ok(ExitCode::SUCCESS)
}

/// `proof check`: checks a proof file with trusted keys alone. Exit 0 valid, 1 invalid.
pub fn check(file: &Path, pubkey: &str) -> Result<ExitCode> {
    let trusted = trust::trusted_keys(pubkey)?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading proof {}", file.display()))?;
    let doc: Value = serde_json::from_str(&text)
        .with_context(|| format!("proof {} is not JSON", file.display()))?;
    if doc["format"] != FORMAT {
        bail!("proof {} is not in the {FORMAT} format", file.display());
    }
    let outcome = match doc["type"].as_str() {
        Some("inclusion") => check_inclusion(&doc, &trusted)?,
        Some("consistency") => check_consistency(&doc, &trusted)?,
        _ => bail!("proof {}: unknown type {}", file.display(), doc["type"]),
    };
    match outcome {
        Ok(what) => {
            println!("VALID: {what}");
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            println!("INVALID: {why}");
            Ok(ExitCode::from(1))
        }
    }
}

type Verdict = std::result::Result<String, String>;

fn check_inclusion(doc: &Value, trusted: &[VerifierKey]) -> Result<Verdict> {
    let cp = match signed_checkpoint(doc, "checkpoint", trusted)? {
        Ok(cp) => cp,
        Err(why) => return Ok(Err(why)),
    };
    let seq = doc["seq"].as_u64().context("proof: seq")?;
    let entry = doc["entry"].as_str().context("proof: entry")?;
    let proof = hashes(&doc["proof"])?;
    let c = cp.checkpoint();
    let leaf = merkle::leaf_hash(entry.as_bytes());
    Ok(
        match merkle::verify_inclusion(&leaf, seq, c.size, &proof, &c.root) {
            Ok(()) => Ok(format!(
                "entry seq {seq} is in the ledger {} of size {} (checkpoint signed by a trusted key)",
                c.origin, c.size
            )),
            Err(e) => Err(format!(
                "entry seq {seq} is not proven in the checkpoint: {e}"
            )),
        },
    )
}

fn check_consistency(doc: &Value, trusted: &[VerifierKey]) -> Result<Verdict> {
    let new = match signed_checkpoint(doc, "checkpoint", trusted)? {
        Ok(cp) => cp,
        Err(why) => return Ok(Err(why)),
    };
    let old = match signed_checkpoint(doc, "old_checkpoint", trusted)? {
        Ok(cp) => cp,
        Err(why) => return Ok(Err(why)),
    };
    let (o, n) = (old.checkpoint(), new.checkpoint());
    if o.origin != n.origin {
        return Ok(Err("the two checkpoints are of different ledgers".into()));
    }
    let proof = hashes(&doc["proof"])?;
    Ok(
        match merkle::verify_consistency(o.size, n.size, &o.root, &n.root, &proof) {
            Ok(()) => Ok(format!(
                "the ledger {} at size {} extends its checkpoint of size {}: nothing before was changed or removed",
                n.origin, n.size, o.size
            )),
            Err(e) => Err(format!("the checkpoints are not consistent: {e}")),
        },
    )
}

/// Parses the signed checkpoint in `doc[field]` and checks its signature by a trusted key.
fn signed_checkpoint(
    doc: &Value,
    field: &str,
    trusted: &[VerifierKey],
) -> Result<std::result::Result<SignedCheckpoint, String>> {
    let text = doc[field]
        .as_str()
        .with_context(|| format!("proof: {field}"))?;
    let cp = SignedCheckpoint::parse(text.as_bytes())
        .with_context(|| format!("proof: {field} does not parse"))?;
    Ok(match cp.verify(trusted) {
        Ok(v) if !v.is_empty() => Ok(cp),
        Ok(_) => Err(format!("{field} is not signed by a trusted key")),
        Err(e) => Err(format!("{field}: {e}")),
    })
}

/// Verifies the ledger in full (keeping its leaves); `Err(exit code)` if it is invalid.
fn verified(
    path: &Path,
    trusted: Vec<VerifierKey>,
    visit: &mut dyn FnMut(verify::VisitedEntry<'_>),
) -> Result<std::result::Result<Report, ExitCode>> {
    let opts = VerifyOptions {
        keep_leaves: true,
        ..VerifyOptions::default()
    };
    match verify::verify_dir_visiting(path, trusted, None, opts, visit) {
        Ok(r) => Ok(Ok(r)),
        Err(e) => {
            if let verify::VerifyErrorKind::Io(msg) = &e.kind {
                bail!("{msg}");
            }
            println!(
                "INVALID: {}\n  {e}\n  no proof is produced from an invalid ledger",
                path.display()
            );
            Ok(Err(ExitCode::from(1)))
        }
    }
}

fn last_checkpoint(report: &Report) -> Result<String> {
    let cp = report
        .last_checkpoint
        .as_ref()
        .context("the ledger has no checkpoint")?;
    Ok(String::from_utf8_lossy(&cp.to_bytes()).into_owned())
}

fn hexes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

fn hashes(v: &Value) -> Result<Vec<Hash>> {
    v.as_array()
        .context("proof: proof is not a list")?
        .iter()
        .map(|h| {
            let s = h.as_str().context("proof: a hash is not a string")?;
            let mut out = [0u8; 32];
            hex::decode_to_slice(s, &mut out).context("proof: a hash is not 64 hex digits")?;
            Ok(out)
        })
        .collect()
}

fn emit(doc: &Value) {
    use std::io::Write as _;
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

//! Evidence bundles (`docs/evidence-bundle.md`): a subset of a ledger that proves itself with one
//! inclusion proof per entry against a signed checkpoint.
//!
//! `select` decides which entries go in, `export` writes a bundle from a verified ledger,
//! `check` verifies one with trusted keys alone; `ocsf` and `csv` are the derived formats,
//! `readme` the auditor's README.

pub mod check;
pub mod csv;
pub mod export;
pub mod ocsf;
pub mod readme;
pub mod select;

use std::path::Path;

use sha2::Digest as _;

/// The `format` member of a bundle's manifest.
pub const FORMAT: &str = "auditgate-bundle/1";
/// The manifest's file name.
pub const MANIFEST: &str = "MANIFEST.json";
/// The entries, one canonical entry per line.
pub const ENTRIES: &str = "entries.jsonl";
/// One inclusion proof per entry.
pub const PROOFS: &str = "proofs.jsonl";
/// The signed checkpoint the proofs lead to.
pub const CHECKPOINT: &str = "checkpoint.txt";
/// The ledger's verifier keys (informational).
pub const KEYS: &str = "keys.txt";
/// Proofs of key rotations.
pub const ROTATIONS: &str = "rotations.jsonl";
/// The policy files in force.
pub const POLICIES: &str = "policies";
/// OCSF API Activity events.
pub const OCSF: &str = "ocsf.jsonl";
/// The CSV summary.
pub const CSV: &str = "summary.csv";
/// The auditor's README.
pub const README: &str = "README.md";

/// Whether `path` is a bundle directory (it holds a manifest) rather than a ledger.
pub fn is_bundle(path: &Path) -> bool {
    path.join(MANIFEST).is_file()
}

/// Size, BLAKE3 and SHA-256 of a file's bytes, as the manifest lists them.
pub fn file_digest(bytes: &[u8]) -> (u64, String, String) {
    (
        bytes.len() as u64,
        blake3::hash(bytes).to_hex().to_string(),
        hex::encode(sha2::Sha256::digest(bytes)),
    )
}

/// Every file under `dir`, as `/`-separated relative paths, sorted; the manifest excluded.
pub fn list_files(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                walk(root, &p, out)?;
            } else {
                let rel = p.strip_prefix(root).unwrap_or(&p);
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.retain(|p| p != MANIFEST);
    out.sort();
    Ok(out)
}

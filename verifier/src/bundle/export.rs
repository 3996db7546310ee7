//! `auditgate-verify export`: verifies a ledger in full, selects entries, and writes an evidence
//! bundle (`docs/evidence-bundle.md`) with an inclusion proof per entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use auditgate_ledger::merkle;
use auditgate_ledger::segment::{self, RecordType};
use auditgate_ledger::store::{FsStore, Store};
use auditgate_ledger::verify::VerifyErrorKind;
use auditgate_ledger::{Report, VerifyError};
use serde_json::{Value, json};

use super::select::{Filters, Selector};
use super::{csv, ocsf, readme};
use crate::event::{self, Entry};
use crate::gateway_pass;
use crate::invariants::{Checker, Scope};
use crate::proof_tree::ProofTree;
use crate::source::{self, Trust};
use crate::summary::{self, emit};
use crate::trust;

/// Which files besides the evidence to write.
#[derive(Debug, Clone, Copy, Default)]
pub struct Formats {
    /// `ocsf.jsonl`.
    pub ocsf: bool,
    /// `summary.csv`.
    pub csv: bool,
}

impl Formats {
    /// Parses `--format` values (`jsonl`, `ocsf`, `csv`, comma-separated or repeated).
    pub fn parse(values: &[String]) -> Result<Formats> {
        let mut f = Formats::default();
        for v in values.iter().flat_map(|v| v.split(',')) {
            match v.trim() {
                "jsonl" => {}
                "ocsf" => f.ocsf = true,
                "csv" => f.csv = true,
                other => bail!("--format {other:?}: expected jsonl, ocsf or csv"),
            }
        }
        Ok(f)
    }

    fn names(self) -> Vec<&'static str> {
        let mut v = vec!["jsonl"];
        if self.ocsf {
            v.push("ocsf");
        }
        if self.csv {
            v.push("csv");
        }
        v
    }
}

/// Runs the command: exit 0 written, 1 the ledger is invalid (nothing written), 2 usage or I/O.
pub fn run(
    path: &Path,
    pubkey: &str,
    out: &Path,
    filters: Filters,
    formats: Formats,
) -> Result<ExitCode> {
    if !path.is_dir() {
        bail!("{} is not a directory", path.display());
    }
    if out.exists()
        && std::fs::read_dir(out)
            .with_context(|| format!("--out {}", out.display()))?
            .next()
            .is_some()
    {
        bail!("--out {} exists and is not empty", out.display());
    }
    let keys = trust::trusted_keys(pubkey)?;
    let manifest_filters = filters.to_json();
    let mut selector = Selector::new(filters);
    let mut checker = Checker::new(Scope::Ledger);
    let scanned = source::scan(
        path,
        Trust::Keys { keys, pin: None },
        true,
        &mut |bytes, entries| {
            gateway_pass::feed(&mut checker, &bytes, &entries);
            for e in &entries {
                selector.feed(e.seq, &e.ts, &bytes[e.range.clone()]);
            }
        },
    );
    let findings = checker.finish();
    let report = match scanned {
        Ok(r) => r,
        Err(VerifyError {
            kind: VerifyErrorKind::Io(msg),
            ..
        }) => bail!("{msg}"),
        Err(err) => {
            emit(&format!(
                "{}  no bundle is exported from an invalid ledger\n",
                summary::failure_text(path, &err)
            ));
            return Ok(ExitCode::from(1));
        }
    };
    if let Some(v) = &findings.violation {
        emit(&summary::violation_text(
            path,
            v,
            "no bundle is exported from an invalid ledger",
        ));
        return Ok(ExitCode::from(1));
    }
    let collected = collect(path, &report, &selector)?;
    let written = write_bundle(
        out,
        &report,
        &selector,
        &collected,
        manifest_filters,
        formats,
    )?;
    emit(&format!(
        "exported {} entries ({} selected, {} context) of {} to {}\n  formats      {}\n  checkpoint   size {}\n  MANIFEST.json blake3 {}\n  check with:  auditgate-verify verify {} --pubkey KEY\n",
        collected.entries.len(),
        selector.selected,
        collected.entries.len() as u64 - selector.selected,
        path.display(),
        out.display(),
        formats.names().join(", "),
        report.entries,
        written,
        out.display(),
    ));
    Ok(ExitCode::SUCCESS)
}

/// The included entries' bytes and the rotation checkpoints, read back from the segments.
struct Collected {
    entries: BTreeMap<u64, Vec<u8>>,
    /// Rotation seq → the checkpoint note closing its batch.
    rotation_checkpoints: BTreeMap<u64, Vec<u8>>,
}

/// Second pass over the (just verified) segments: copies the included entries, checking each
/// against the leaf hash the verification computed, so a file changed in between is caught.
fn collect(path: &Path, report: &Report, selector: &Selector) -> Result<Collected> {
    let dir: PathBuf = auditgate_ledger::verify::segments_dir(path);
    let store = FsStore::open_existing(&dir).with_context(|| dir.display().to_string())?;
    let leaves = report.leaves.as_deref().unwrap_or_default();
    let mut out = Collected {
        entries: BTreeMap::new(),
        rotation_checkpoints: BTreeMap::new(),
    };
    let mut seq = 0u64;
    let mut waiting: Vec<u64> = Vec::new();
    for n in store.list().with_context(|| dir.display().to_string())? {
        let bytes = store.read(n).with_context(|| format!("segment {n}"))?;
        let mut offset = segment::HEADER_LEN;
        while offset < bytes.len() {
            let rec = segment::decode_record(&bytes, offset)
                .with_context(|| format!("segment {n} changed after it was verified"))?;
            offset = rec.end();
            match rec.ty {
                RecordType::Entry => {
                    if selector.include.contains(&seq) {
                        if leaves.get(seq as usize) != Some(&merkle::leaf_hash(rec.payload)) {
                            bail!("entry seq {seq} changed after the ledger was verified");
                        }
                        out.entries.insert(seq, rec.payload.to_vec());
                    }
                    if selector.rotations.contains(&seq) {
                        waiting.push(seq);
                    }
                    seq += 1;
                }
                RecordType::Checkpoint => {
                    for r in waiting.drain(..) {
                        out.rotation_checkpoints.insert(r, rec.payload.to_vec());
                    }
                }
                RecordType::Seal => {}
            }
            if seq >= report.entries && waiting.is_empty() {
                break;
            }
        }
    }
    Ok(out)
}

fn hexes(h: &[merkle::Hash]) -> Vec<String> {
    h.iter().map(hex::encode).collect()
}

/// Writes every file; returns the manifest's BLAKE3.
fn write_bundle(
    out: &Path,
    report: &Report,
    selector: &Selector,
    c: &Collected,
    selection: Value,
    formats: Formats,
) -> Result<String> {
    let leaves = report.leaves.clone().unwrap_or_default();
    let tree = ProofTree::new(leaves.clone());
    if tree.root() != report.root {
        bail!("internal: the proof tree's root differs from the verified root");
    }
    let checkpoint = report
        .last_checkpoint
        .as_ref()
        .context("the ledger has no checkpoint")?
        .to_bytes();

    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut entries = Vec::new();
    let mut proofs = Vec::new();
    let mut parsed = Vec::new();
    for (seq, bytes) in &c.entries {
        entries.extend_from_slice(bytes);
        entries.push(b'\n');
        let proof = tree
            .inclusion_proof(*seq)
            .context("an included seq is beyond the tree")?;
        proofs.extend_from_slice(
            json!({"seq": seq, "proof": hexes(&proof)})
                .to_string()
                .as_bytes(),
        );
        proofs.push(b'\n');
        if let Some(e) = Entry::parse(bytes) {
            parsed.push(e);
        }
    }
    files.insert(super::ENTRIES.into(), entries);
    files.insert(super::PROOFS.into(), proofs);
    files.insert(super::CHECKPOINT.into(), checkpoint);

    let mut keys = String::from("# The verifier keys this ledger has used, oldest first.\n");
    keys.push_str("# Informational: verify with keys you obtained independently (--pubkey).\n");
    for (i, k) in report.keys.iter().enumerate() {
        let when = if i == 0 {
            "genesis key".to_owned()
        } else {
            format!("active after rotation at seq {}", selector.rotations[i - 1])
        };
        keys.push_str(&format!("# {when}\n{k}\n"));
    }
    files.insert(super::KEYS.into(), keys.into_bytes());

    if !selector.rotations.is_empty() {
        let mut lines = Vec::new();
        for r in &selector.rotations {
            let note = c
                .rotation_checkpoints
                .get(r)
                .context("no checkpoint after a key rotation")?;
            let cp = auditgate_ledger::checkpoint::SignedCheckpoint::parse(note)
                .context("rotation checkpoint")?;
            let size = cp.checkpoint().size as usize;
            let proof = merkle::inclusion_proof(&leaves[..size], *r)?;
            let consistency = merkle::consistency_proof(&leaves, size as u64)?;
            lines.extend_from_slice(
                json!({"seq": r, "checkpoint": String::from_utf8_lossy(note),
                       "proof": hexes(&proof), "consistency": hexes(&consistency)})
                .to_string()
                .as_bytes(),
            );
            lines.push(b'\n');
        }
        files.insert(super::ROTATIONS.into(), lines);
    }

    for e in parsed.iter().filter(|e| event::sets_policy(&e.kind)) {
        if let Some(text) = e.str("text") {
            let name = format!(
                "{}/{}.toml",
                super::POLICIES,
                blake3::hash(text.as_bytes()).to_hex()
            );
            files.insert(name, text.as_bytes().to_vec());
        }
    }
    if formats.ocsf {
        files.insert(
            super::OCSF.into(),
            ocsf::events(&parsed, &report.ledger_id, &report.origin).into_bytes(),
        );
    }
    if formats.csv {
        files.insert(super::CSV.into(), csv::summary(&parsed).into_bytes());
    }
    files.insert(
        super::README.into(),
        readme::text(report, &parsed, selector.selected, &selection).into_bytes(),
    );

    std::fs::create_dir_all(out.join(super::POLICIES))
        .with_context(|| format!("creating {}", out.display()))?;
    let mut listed = Vec::new();
    for (name, bytes) in &files {
        let p = out.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
        let (len, b3, sha) = super::file_digest(bytes);
        listed.push(json!({"path": name, "bytes": len, "blake3": b3, "sha256": sha}));
    }
    let manifest = json!({
        "format": super::FORMAT,
        "origin": report.origin,
        "ledger_id": report.ledger_id,
        "tree_size": report.entries,
        "root": summary::b64(&report.root),
        "entries": c.entries.len(),
        "selected": selector.selected,
        "selection": selection,
        "formats": formats.names(),
        "files": listed,
    });
    let mut text = serde_json::to_string_pretty(&manifest)?;
    text.push('\n');
    let p = out.join(super::MANIFEST);
    std::fs::write(&p, &text).with_context(|| format!("writing {}", p.display()))?;
    Ok(blake3::hash(text.as_bytes()).to_hex().to_string())
}

//! Verifying an evidence bundle with trusted keys alone (`docs/evidence-bundle.md` §3–§5):
//! each entry by its inclusion proof against the signed checkpoint, the key chain from genesis
//! to that checkpoint, the manifest's hashes, the policy files, and G1–G5 and A1–A5 where both
//! ends are in the bundle.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use auditgate_ledger::VerifierKey;
use auditgate_ledger::checkpoint::SignedCheckpoint;
use auditgate_ledger::entry::{self, HeaderError};
use auditgate_ledger::merkle::{self, Hash};
use auditgate_ledger::verify::{KIND_GENESIS, KIND_KEY_ROTATED};
use serde_json::{Value, json};
use thiserror::Error;

use super::{CHECKPOINT, ENTRIES, FORMAT, MANIFEST, POLICIES, PROOFS, ROTATIONS};
use crate::event::{self, Entry};
use crate::invariants::{Checker, Findings, Scope, Violation};
use crate::summary::{self, emit};

/// Why a bundle is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BundleError {
    /// The manifest is not what the format requires.
    #[error("MANIFEST.json: {0}")]
    BadManifest(String),
    /// The manifest disagrees with the evidence.
    #[error("MANIFEST.json says {member} is {stated}, the bundle has {actual}")]
    ManifestMismatch {
        /// The member.
        member: &'static str,
        /// What the manifest says.
        stated: String,
        /// What the evidence says.
        actual: String,
    },
    /// A listed file is missing or differs from its listed size or hashes.
    #[error("{path}: {why}")]
    FileMismatch {
        /// The file.
        path: String,
        /// What differs.
        why: String,
    },
    /// A file the manifest does not list.
    #[error("{path} is not listed in MANIFEST.json")]
    UnlistedFile {
        /// The file.
        path: String,
    },
    /// `checkpoint.txt` does not parse.
    #[error("checkpoint.txt: {0}")]
    BadCheckpoint(String),
    /// The checkpoint is not signed by the key active at its size.
    #[error("checkpoint.txt is not validly signed by the active key {key}: {why}")]
    BadSignature {
        /// The active key.
        key: String,
        /// Details.
        why: String,
    },
    /// No genesis entry.
    #[error("the bundle has no ledger.genesis entry (seq 0), so its key chain cannot be checked")]
    MissingGenesis,
    /// The genesis entry is malformed or names another origin.
    #[error("entry seq 0: bad genesis: {0}")]
    BadGenesis(String),
    /// The genesis key is not trusted.
    #[error("the ledger's genesis key {key} is not a trusted key")]
    UntrustedGenesisKey {
        /// The key.
        key: String,
    },
    /// A key rotation is not proven.
    #[error("entry seq {seq}: bad key rotation: {why}")]
    BadRotation {
        /// The rotation entry.
        seq: u64,
        /// What is wrong.
        why: String,
    },
    /// A line of `entries.jsonl` is not a canonical entry.
    #[error("entries.jsonl line {line}: {why}")]
    BadEntry {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// A line of `proofs.jsonl` is malformed or names another seq.
    #[error("proofs.jsonl line {line}: {why}")]
    BadProof {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// Entries not in strictly increasing seq order, or beyond the checkpoint.
    #[error("entry seq {seq}: {why}")]
    OutOfOrder {
        /// The entry.
        seq: u64,
        /// What is wrong.
        why: String,
    },
    /// The entry is not the ledger's entry of that seq.
    #[error(
        "entry seq {seq} is not in the signed checkpoint: {why} (altered, or not from this ledger)"
    )]
    NotInCheckpoint {
        /// The entry.
        seq: u64,
        /// The proof failure.
        why: String,
    },
    /// Adjacent entries do not chain.
    #[error("entry seq {seq}: prev does not match the hash of entry seq {}", seq - 1)]
    ChainBroken {
        /// The entry.
        seq: u64,
    },
    /// Timestamps go backwards between lines.
    #[error("entry seq {seq}: ts is earlier than the previous entry's")]
    TimeWentBackwards {
        /// The entry.
        seq: u64,
    },
    /// A policy file that is not the text of a `policy.loaded` or `policy.changed` in the bundle.
    #[error("{path}: {why}")]
    PolicyMismatch {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// A gateway invariant.
    #[error("gateway rule {rule}: {0}", rule = .0.rule())]
    Gateway(Violation),
}

impl BundleError {
    /// The entry the failure is at, where there is one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            BundleError::BadRotation { seq, .. }
            | BundleError::OutOfOrder { seq, .. }
            | BundleError::NotInCheckpoint { seq, .. }
            | BundleError::ChainBroken { seq }
            | BundleError::TimeWentBackwards { seq } => Some(*seq),
            BundleError::BadGenesis(_) => Some(0),
            BundleError::Gateway(v) => Some(v.seq()),
            _ => None,
        }
    }

    /// A short stable name, for `--json`.
    pub fn code(&self) -> String {
        if let BundleError::Gateway(v) = self {
            return v.code();
        }
        let name = format!("{self:?}");
        let end = name.find([' ', '{', '(']).unwrap_or(name.len());
        name[..end].to_owned()
    }
}

/// What a valid bundle established.
#[derive(Debug)]
pub struct Checked {
    /// The entries, in seq order.
    pub entries: Vec<Entry>,
    /// Entries that matched the selection.
    pub selected: u64,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The ledger's origin.
    pub origin: String,
    /// The ledger id.
    pub ledger_id: String,
    /// The keys, genesis first.
    pub keys: Vec<String>,
    /// Policy files checked.
    pub policies: usize,
    /// Gateway findings on the subset.
    pub findings: Findings,
}

type Verdict = std::result::Result<Checked, BundleError>;

/// `verify` on a bundle: exit 0 valid, 1 invalid.
pub fn run(path: &Path, keys: &[VerifierKey], as_json: bool) -> Result<ExitCode> {
    match check(path, keys)? {
        Ok(c) => {
            emit(&if as_json {
                format!("{}\n", valid_json(&c))
            } else {
                valid_text(path, &c)
            });
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            emit(&if as_json {
                format!("{}\n", invalid_json(&e))
            } else {
                invalid_text(path, &e)
            });
            Ok(ExitCode::from(1))
        }
    }
}

/// Human text for an invalid bundle.
pub fn invalid_text(path: &Path, e: &BundleError) -> String {
    let seq = e
        .seq()
        .map_or(String::new(), |s| format!("  first failing seq: {s}\n"));
    format!(
        "INVALID: {} (evidence bundle)\n  {e}\n{seq}  rule: {}\n",
        path.display(),
        e.code()
    )
}

fn invalid_json(e: &BundleError) -> Value {
    json!({"valid": false, "type": "bundle", "error": e.code(), "message": e.to_string(),
           "seq": e.seq()})
}

fn valid_text(path: &Path, c: &Checked) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "VALID: {} (evidence bundle)", path.display());
    let _ = writeln!(
        o,
        "  entries      {} ({} selected, {} context), each proven in the signed checkpoint",
        c.entries.len(),
        c.selected,
        c.entries.len() as u64 - c.selected
    );
    let _ = writeln!(
        o,
        "  checkpoint   size {} of ledger {}",
        c.tree_size, c.origin
    );
    if let (Some(a), Some(b)) = (c.entries.first(), c.entries.last()) {
        let _ = writeln!(o, "  time span    {} .. {}", a.ts, b.ts);
    }
    summary::gateway_text(&mut o, &c.findings);
    let _ = writeln!(
        o,
        "  policies     {} file(s), each the text of a proven policy.loaded",
        c.policies
    );
    let _ = writeln!(o, "  ledger id    {}", c.ledger_id);
    summary::keys_text(&mut o, &c.keys);
    let _ = writeln!(
        o,
        "  manifest     every file present and matching its BLAKE3 and SHA-256"
    );
    let _ = writeln!(
        o,
        "  note         a bundle proves what it holds is in the ledger, not that nothing was left out"
    );
    o
}

fn valid_json(c: &Checked) -> Value {
    json!({
        "valid": true,
        "type": "bundle",
        "entries": c.entries.len(),
        "selected": c.selected,
        "tree_size": c.tree_size,
        "origin": c.origin,
        "ledger_id": c.ledger_id,
        "keys": c.keys,
        "first_ts": c.entries.first().map(|e| e.ts.clone()),
        "last_ts": c.entries.last().map(|e| e.ts.clone()),
        "policies": c.policies,
        "gateway": summary::gateway_json(&c.findings),
    })
}

fn read(path: &Path, name: &str) -> Result<Vec<u8>> {
    let p = path.join(name);
    std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
}

fn parse_hashes(v: &Value) -> Option<Vec<Hash>> {
    v.as_array()?
        .iter()
        .map(|h| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h.as_str()?, &mut out).ok()?;
            Some(out)
        })
        .collect()
}

/// Checks the bundle at `path`. `Err` for I/O problems; `Ok(Err)` for an invalid bundle.
pub fn check(path: &Path, keys: &[VerifierKey]) -> Result<Verdict> {
    let manifest: Value = match serde_json::from_slice(&read(path, MANIFEST)?) {
        Ok(v) => v,
        Err(e) => return Ok(Err(BundleError::BadManifest(format!("not JSON: {e}")))),
    };
    if manifest["format"] != FORMAT {
        return Ok(Err(BundleError::BadManifest(format!(
            "format is {}, expected {FORMAT}",
            manifest["format"]
        ))));
    }
    let cp_bytes = read(path, CHECKPOINT)?;
    let cp = match SignedCheckpoint::parse(&cp_bytes) {
        Ok(cp) => cp,
        Err(e) => return Ok(Err(BundleError::BadCheckpoint(e.to_string()))),
    };
    let entries_text = read(path, ENTRIES)?;
    let proofs_text = read(path, PROOFS)?;
    let rotations_text = if path.join(ROTATIONS).exists() {
        read(path, ROTATIONS)?
    } else {
        Vec::new()
    };
    Ok(check_evidence(
        path,
        keys,
        &manifest,
        &cp,
        &entries_text,
        &proofs_text,
        &rotations_text,
    ))
}

#[allow(clippy::too_many_arguments, reason = "the bundle's parts, read once")]
fn check_evidence(
    path: &Path,
    keys: &[VerifierKey],
    manifest: &Value,
    cp: &SignedCheckpoint,
    entries_text: &[u8],
    proofs_text: &[u8],
    rotations_text: &[u8],
) -> Verdict {
    let c = cp.checkpoint().clone();
    let lines = split_lines(entries_text);
    // The key chain first, so that a forged checkpoint is reported as such rather than as
    // entries that do not fit it.
    let parsed: Vec<Option<Entry>> = lines.iter().map(|l| Entry::parse(l)).collect();
    let chain = check_keys(keys, cp, &c, &lines, &parsed, rotations_text)?;
    let entries = check_entries(&c, &lines, proofs_text)?;
    let genesis = &entries[0];

    let policies = check_policies(path, &entries)?;
    check_manifest(path, manifest, &c, entries.len())?;

    let mut checker = Checker::new(Scope::Subset);
    for (e, bytes) in entries.iter().zip(&lines) {
        if let Some(f) = event::facts(e.seq, bytes) {
            checker.feed(&f);
        }
    }
    let findings = checker.finish();
    if let Some(v) = findings.violation.clone() {
        return Err(BundleError::Gateway(v));
    }
    Ok(Checked {
        selected: manifest["selected"]
            .as_u64()
            .unwrap_or(entries.len() as u64),
        tree_size: c.size,
        origin: c.origin.clone(),
        ledger_id: genesis.str("ledger_id").unwrap_or_default().to_owned(),
        keys: chain.iter().map(ToString::to_string).collect(),
        policies,
        findings,
        entries,
    })
}

fn parse_key(text: Option<&str>) -> Option<VerifierKey> {
    text?.parse().ok()
}

/// The key chain (§4): genesis key trusted, each rotation proven, the checkpoint signed by the
/// active key. Returns the keys, genesis first.
fn check_keys(
    keys: &[VerifierKey],
    cp: &SignedCheckpoint,
    c: &auditgate_ledger::checkpoint::Checkpoint,
    lines: &[&[u8]],
    parsed: &[Option<Entry>],
    rotations_text: &[u8],
) -> std::result::Result<Vec<VerifierKey>, BundleError> {
    let genesis = match parsed.first() {
        Some(Some(g)) if g.seq == 0 => g,
        _ => return Err(BundleError::MissingGenesis),
    };
    if genesis.kind != KIND_GENESIS {
        return Err(BundleError::BadGenesis(format!(
            "kind is {}, not {KIND_GENESIS}",
            genesis.kind
        )));
    }
    let origin = genesis.str("origin").unwrap_or_default().to_owned();
    if origin != c.origin {
        return Err(BundleError::BadGenesis(format!(
            "origin {origin:?} is not the checkpoint's {:?}",
            c.origin
        )));
    }
    let genesis_key = parse_key(genesis.str("key"))
        .ok_or_else(|| BundleError::BadGenesis("`key` is not a verifier key".into()))?;
    if !keys.contains(&genesis_key) {
        return Err(BundleError::UntrustedGenesisKey {
            key: genesis_key.to_string(),
        });
    }
    let mut chain = vec![genesis_key];
    let rotations: Vec<Value> = split_lines(rotations_text)
        .into_iter()
        .map(|l| serde_json::from_slice(l).unwrap_or(Value::Null))
        .collect();
    let rotation_entries: Vec<(&Entry, &[u8])> = parsed
        .iter()
        .zip(lines)
        .filter_map(|(e, l)| Some((e.as_ref()?, *l)))
        .filter(|(e, _)| e.kind == KIND_KEY_ROTATED)
        .collect();
    if rotations.len() != rotation_entries.len() {
        return Err(BundleError::BadManifest(format!(
            "rotations.jsonl has {} lines for {} ledger.key_rotated entries",
            rotations.len(),
            rotation_entries.len()
        )));
    }
    for ((r, bytes), proof) in rotation_entries.iter().zip(&rotations) {
        let next = check_rotation(r, bytes, proof, &chain, c)?;
        chain.push(next);
    }
    let active = chain.last().cloned().unwrap_or_else(|| chain[0].clone());
    match cp.verify(std::slice::from_ref(&active)) {
        Ok(v) if !v.is_empty() => Ok(chain),
        Ok(_) => Err(BundleError::BadSignature {
            key: active.to_string(),
            why: "no signature by it".into(),
        }),
        Err(e) => Err(BundleError::BadSignature {
            key: active.to_string(),
            why: e.to_string(),
        }),
    }
}

/// Every line of `entries.jsonl` with its proof (§3).
fn check_entries(
    c: &auditgate_ledger::checkpoint::Checkpoint,
    lines: &[&[u8]],
    proofs_text: &[u8],
) -> std::result::Result<Vec<Entry>, BundleError> {
    let proofs: Vec<&[u8]> = split_lines(proofs_text);
    if lines.len() != proofs.len() {
        return Err(BundleError::BadProof {
            line: proofs.len().min(lines.len()) + 1,
            why: format!(
                "{} proofs for {} entries: one per entry, same order",
                proofs.len(),
                lines.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(lines.len());
    let mut previous: Option<(u64, Hash, String)> = None;
    for (i, (bytes, proof_line)) in lines.iter().zip(&proofs).enumerate() {
        let line = i + 1;
        let header = entry::parse_header(bytes).map_err(|e| BundleError::BadEntry {
            line,
            why: match e {
                HeaderError::NonCanonical(c) => format!("not canonical JSON: {c}"),
                HeaderError::BadField(f) => format!("member `{f}` missing or malformed"),
            },
        })?;
        let seq = header.seq;
        if let Some((p, _, _)) = &previous
            && seq <= *p
        {
            return Err(BundleError::OutOfOrder {
                seq,
                why: format!("follows seq {p}: entries must be in increasing seq order"),
            });
        }
        if seq >= c.size {
            return Err(BundleError::OutOfOrder {
                seq,
                why: format!("beyond the checkpoint's {} entries", c.size),
            });
        }
        let proof: Value =
            serde_json::from_slice(proof_line).map_err(|e| BundleError::BadProof {
                line,
                why: format!("not JSON: {e}"),
            })?;
        if proof["seq"].as_u64() != Some(seq) {
            return Err(BundleError::BadProof {
                line,
                why: format!("proves seq {}, the entry is seq {seq}", proof["seq"]),
            });
        }
        let path = parse_hashes(&proof["proof"]).ok_or_else(|| BundleError::BadProof {
            line,
            why: "`proof` is not a list of 64-hex-digit hashes".into(),
        })?;
        merkle::verify_inclusion(&merkle::leaf_hash(bytes), seq, c.size, &path, &c.root).map_err(
            |e| BundleError::NotInCheckpoint {
                seq,
                why: e.to_string(),
            },
        )?;
        let ts = header.ts.to_string();
        if let Some((p, hash, pts)) = &previous {
            if *p + 1 == seq && header.prev != *hash {
                return Err(BundleError::ChainBroken { seq });
            }
            if ts < *pts {
                return Err(BundleError::TimeWentBackwards { seq });
            }
        }
        let parsed = Entry::parse(bytes).ok_or_else(|| BundleError::BadEntry {
            line,
            why: "not an entry".into(),
        })?;
        previous = Some((seq, entry::entry_hash(bytes), ts));
        out.push(parsed);
    }
    Ok(out)
}

fn split_lines(text: &[u8]) -> Vec<&[u8]> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    if text.is_empty() {
        return Vec::new();
    }
    text.split(|b| *b == b'\n').collect()
}

/// One key rotation (§4); returns the new key.
fn check_rotation(
    r: &Entry,
    bytes: &[u8],
    proof: &Value,
    chain: &[VerifierKey],
    c: &auditgate_ledger::checkpoint::Checkpoint,
) -> std::result::Result<VerifierKey, BundleError> {
    let bad = |why: String| BundleError::BadRotation { seq: r.seq, why };
    let active = chain.last().cloned().unwrap_or_else(|| chain[0].clone());
    if proof["seq"].as_u64() != Some(r.seq) {
        return Err(bad(format!(
            "rotations.jsonl names seq {}, expected {}",
            proof["seq"], r.seq
        )));
    }
    let old = parse_key(r.str("old_key")).ok_or_else(|| bad("`old_key` malformed".into()))?;
    let new = parse_key(r.str("new_key")).ok_or_else(|| bad("`new_key` malformed".into()))?;
    if old != active {
        return Err(bad(format!("old_key is not the active key {active}")));
    }
    if chain.contains(&new) {
        return Err(bad("new_key was used before".into()));
    }
    let note = proof["checkpoint"].as_str().unwrap_or_default();
    let rc = SignedCheckpoint::parse(note.as_bytes())
        .map_err(|e| bad(format!("its checkpoint does not parse: {e}")))?;
    let signed = rc
        .verify(&[old.clone(), new.clone()])
        .map_err(|e| bad(format!("its checkpoint: {e}")))?;
    if !(signed.contains(&0) && signed.contains(&1)) {
        return Err(bad(
            "its checkpoint is not signed by both the old and the new key".into(),
        ));
    }
    let rcp = rc.checkpoint();
    if rcp.origin != c.origin {
        return Err(bad("its checkpoint is of another ledger".into()));
    }
    let path = parse_hashes(&proof["proof"]).ok_or_else(|| bad("`proof` malformed".into()))?;
    merkle::verify_inclusion(&merkle::leaf_hash(bytes), r.seq, rcp.size, &path, &rcp.root)
        .map_err(|e| bad(format!("not in its checkpoint: {e}")))?;
    let consistency =
        parse_hashes(&proof["consistency"]).ok_or_else(|| bad("`consistency` malformed".into()))?;
    merkle::verify_consistency(rcp.size, c.size, &rcp.root, &c.root, &consistency).map_err(
        |e| {
            bad(format!(
                "checkpoint.txt does not extend its checkpoint: {e}"
            ))
        },
    )?;
    Ok(new)
}

/// `policies/<hex>.toml` (§5); returns how many.
fn check_policies(path: &Path, entries: &[Entry]) -> std::result::Result<usize, BundleError> {
    let loaded: BTreeMap<String, &str> = entries
        .iter()
        .filter(|e| event::sets_policy(&e.kind))
        .filter_map(|e| Some((e.str("policy_hash")?.to_owned(), e.str("text")?)))
        .collect();
    let dir = path.join(POLICIES);
    let Ok(files) = std::fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut n = 0;
    for f in files.flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        let rel = format!("{POLICIES}/{name}");
        let bad = |why: String| BundleError::PolicyMismatch {
            path: rel.clone(),
            why,
        };
        let bytes = std::fs::read(f.path()).map_err(|e| bad(e.to_string()))?;
        let hex = blake3::hash(&bytes).to_hex().to_string();
        if name != format!("{hex}.toml") {
            return Err(bad(format!("its BLAKE3 is {hex}, not its name")));
        }
        match loaded.get(&format!("blake3:{hex}")) {
            Some(text) if text.as_bytes() == bytes => n += 1,
            _ => {
                return Err(bad(
                    "is not the text of any policy.loaded or policy.changed entry in the bundle"
                        .into(),
                ));
            }
        }
    }
    Ok(n)
}

/// The manifest against the evidence and the files (§5).
fn check_manifest(
    path: &Path,
    m: &Value,
    c: &auditgate_ledger::checkpoint::Checkpoint,
    entries: usize,
) -> std::result::Result<(), BundleError> {
    let mismatch = |member, stated: &Value, actual: String| BundleError::ManifestMismatch {
        member,
        stated: summary_value(stated),
        actual,
    };
    if m["origin"].as_str() != Some(&c.origin) {
        return Err(mismatch("origin", &m["origin"], c.origin.clone()));
    }
    if m["tree_size"].as_u64() != Some(c.size) {
        return Err(mismatch("tree_size", &m["tree_size"], c.size.to_string()));
    }
    let root = summary::b64(&c.root);
    if m["root"].as_str() != Some(&root) {
        return Err(mismatch("root", &m["root"], root));
    }
    if m["entries"].as_u64() != Some(entries as u64) {
        return Err(mismatch("entries", &m["entries"], entries.to_string()));
    }
    let listed = m["files"]
        .as_array()
        .ok_or_else(|| BundleError::BadManifest("`files` is not a list".into()))?;
    let mut names = Vec::new();
    for f in listed {
        let name = f["path"]
            .as_str()
            .ok_or_else(|| BundleError::BadManifest("a file without `path`".into()))?;
        if name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(BundleError::BadManifest(format!(
                "path {name:?} escapes the bundle"
            )));
        }
        let bad = |why: String| BundleError::FileMismatch {
            path: name.to_owned(),
            why,
        };
        let bytes = std::fs::read(path.join(name)).map_err(|e| bad(format!("missing: {e}")))?;
        let (len, b3, sha) = super::file_digest(&bytes);
        if f["bytes"].as_u64() != Some(len) {
            return Err(bad(format!(
                "{len} bytes, the manifest says {}",
                f["bytes"]
            )));
        }
        if f["blake3"].as_str() != Some(&b3) {
            return Err(bad(format!("BLAKE3 {b3} differs from the manifest's")));
        }
        if f["sha256"].as_str() != Some(&sha) {
            return Err(bad(format!("SHA-256 {sha} differs from the manifest's")));
        }
        names.push(name.to_owned());
    }
    let present = super::list_files(path).map_err(|e| BundleError::BadManifest(e.to_string()))?;
    if let Some(extra) = present.iter().find(|p| !names.contains(p)) {
        return Err(BundleError::UnlistedFile {
            path: extra.clone(),
        });
    }
    Ok(())
}

fn summary_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads a bundle's entries without checking anything (for the forensic commands when no key
/// is given).
pub fn read_unchecked(path: &Path) -> Result<Vec<Entry>> {
    let text = read(path, ENTRIES)?;
    split_lines(&text)
        .into_iter()
        .enumerate()
        .map(|(i, l)| Entry::parse(l).with_context(|| format!("entries.jsonl line {}", i + 1)))
        .collect()
}

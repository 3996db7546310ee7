//! The evidence vault (`docs/privacy.md` §5): the originals of committed values, sealed under a
//! key per data subject, so that an authorized auditor can reveal what a commitment hides and a
//! data subject's values can be erased by destroying one key — without touching the ledger,
//! whose chain and signatures stay valid.
//!
//! - [`keys`]: `keys/<locator>.key`, one random key per subject; the locator is a keyed hash of
//!   the subject, so the folder names nobody;
//! - [`records`]: `records.jsonl`, one sealed record per committed value, `fdatasync`ed before
//!   the ledger entry that commits it.
//!
//! **Architecture Invariant:** the gateway keeps a call's committed originals in the vault
//! before it records the entry that commits them (and so before it forwards the call or
//! answers it); a vault that cannot write refuses the call, as the ledger does.
pub mod access;
pub mod keys;
pub mod records;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use auditgate_policy::{CommitKey, Redacted, RedactionMode, commitment_string, verify_commitment};
use jsonpath_rust::parser::model::JpQuery;
use serde_json::Value;

use keys::{KeyFolder, SubjectKey};
use records::{Record, RecordLog};

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {why}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error("vault.subject: {path:?} is not a JSONPath: {why}")]
    SubjectPath { path: String, why: String },
    #[error("no randomness available for a key or nonce")]
    Randomness,
    #[error("a value could not be sealed")]
    Seal,
}

impl VaultError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        VaultError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One committed value: its commitment string and the original. `Debug` never shows the value.
#[derive(Clone)]
pub struct Kept {
    pub commitment: String,
    pub value: Value,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kept({}, <value>)", self.commitment)
    }
}

/// What binds a record to the ledger entry that commits its value: `request:<args_digest>` for
/// a `call.request`'s arguments, `result:<request_seq>` for a `call.result`'s result or error
/// (both members of the entry, known before it is written). Equal values commit equally, so the
/// binding is what keeps a reveal to the entry's own subject.
#[derive(Debug, Clone, Copy)]
pub enum Binding<'a> {
    Request { args_digest: &'a str },
    Result { request_seq: u64 },
}

impl std::fmt::Display for Binding<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Binding::Request { args_digest } => write!(f, "request:{args_digest}"),
            Binding::Result { request_seq } => write!(f, "result:{request_seq}"),
        }
    }
}

/// The binding of a ledger entry's records, if it is one the vault keeps originals for.
pub fn binding_of(entry: &Value) -> Option<String> {
    let binding = match entry.get("kind")?.as_str()? {
        "call.request" => Binding::Request {
            args_digest: entry.get("args_digest")?.as_str()?,
        },
        "call.result" => Binding::Result {
            request_seq: entry.get("request_seq")?.as_u64()?,
        },
        _ => return None,
    };
    Some(binding.to_string())
}

/// The committed locations of a redaction, with their originals.
pub fn committed(redacted: &Redacted, key: &CommitKey) -> Vec<Kept> {
    redacted
        .report
        .iter()
        .zip(&redacted.originals.0)
        .filter(|(field, _)| field.mode == RedactionMode::Commit)
        .map(|(_, value)| Kept {
            commitment: commitment_string(key, value),
            value: value.clone(),
        })
        .collect()
}

/// What the vault holds for one commitment.
#[derive(Debug, Clone, PartialEq)]
pub enum Revealed {
    /// The original, checked against the commitment with the commit key.
    Value(Value),
    /// Records exist but their subject's key was destroyed (`vault.erased`).
    Erased { key_id: String },
    /// A record opened but does not match the commitment (tampering).
    Mismatch,
    /// The vault has no record (the call named no data subject, or came before the vault).
    NotKept,
}

/// What erasing one subject covers.
#[derive(Debug, Clone)]
pub struct Erasure {
    pub key_id: String,
    /// The commitments whose originals become unrecoverable, sorted, without duplicates.
    pub commitments: Vec<String>,
}

/// The vault folder.
#[derive(Debug)]
pub struct Vault {
    dir: PathBuf,
    subjects: Vec<JpQuery>,
    keys: KeyFolder,
    log: Mutex<RecordLog>,
}

impl Vault {
    /// Opens (creating, 0700/0600) the vault at `dir`; `subjects` are JSONPaths over a call's
    /// arguments naming its data subject.
    pub fn open(
        dir: &Path,
        subjects: &[String],
        commit_key: &CommitKey,
    ) -> Result<Self, VaultError> {
        auditgate_ledger::store::private::create_dir_all(dir)
            .map_err(|e| VaultError::io(dir, e))?;
        let subjects = subjects
            .iter()
            .map(|p| {
                jsonpath_rust::parser::parse_json_path(p).map_err(|e| VaultError::SubjectPath {
                    path: p.clone(),
                    why: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        let keys = KeyFolder::open(dir.join("keys"), commit_key.derive(keys::LOCATOR_CONTEXT))?;
        let log = RecordLog::open(dir.join("records.jsonl"))?;
        Ok(Vault {
            dir: dir.to_path_buf(),
            subjects,
            keys,
            log: Mutex::new(log),
        })
    }

    /// The call's data subject: the first subject path that selects exactly one non-empty
    /// string or a number.
    pub fn subject_of(&self, args: &Value) -> Option<Value> {
        self.subjects.iter().find_map(|query| {
            let refs = jsonpath_rust::query::js_path_process(query, args).ok()?;
            match refs.as_slice() {
                [one] => match one.val {
                    Value::String(s) if !s.is_empty() => Some(one.val.clone()),
                    Value::Number(_) => Some(one.val.clone()),
                    _ => None,
                },
                _ => None,
            }
        })
    }

    /// Seals `kept` under `subject`'s key (made if new), bound to the entry `binding` names
    /// ([`binding_of`]), and makes the records durable.
    pub fn keep(&self, subject: &Value, binding: &str, kept: &[Kept]) -> Result<(), VaultError> {
        let key = self.keys.get_or_create(subject)?;
        let records = kept
            .iter()
            .map(|k| Record::seal(&key, binding, &k.commitment, &k.value))
            .collect::<Result<Vec<_>, _>>()?;
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(&records)
    }

    /// What the vault holds for `commitment` in the entry `binding` names, checked against the
    /// commitment with `commit_key`.
    pub fn reveal(
        &self,
        binding: &str,
        commitment: &str,
        commit_key: &CommitKey,
    ) -> Result<Revealed, VaultError> {
        Ok(self.snapshot()?.reveal(binding, commitment, commit_key))
    }

    /// The records and keys as they are now, for revealing many commitments with one read.
    pub fn snapshot(&self) -> Result<Snapshot, VaultError> {
        let mut by_entry: std::collections::HashMap<(String, String), Vec<Record>> =
            std::collections::HashMap::new();
        for r in records::read_all(&self.dir.join("records.jsonl"))? {
            by_entry
                .entry((r.binding.clone(), r.commitment.clone()))
                .or_default()
                .push(r);
        }
        Ok(Snapshot {
            by_entry,
            keys: self.keys.all()?,
        })
    }

    /// What erasing `subject` would cover, or `None` if it has no key (never kept, or erased).
    pub fn erasure(&self, subject: &Value) -> Result<Option<Erasure>, VaultError> {
        let Some(key) = self.keys.get(subject)? else {
            return Ok(None);
        };
        let mut commitments: Vec<String> = records::read_all(&self.dir.join("records.jsonl"))?
            .into_iter()
            .filter(|r| r.key_id == key.id)
            .map(|r| r.commitment)
            .collect();
        commitments.sort();
        commitments.dedup();
        Ok(Some(Erasure {
            key_id: key.id,
            commitments,
        }))
    }

    /// Destroys `subject`'s key; its records can no longer be opened by anyone.
    pub fn destroy(&self, subject: &Value) -> Result<Option<String>, VaultError> {
        self.keys.destroy(subject)
    }
}

/// The vault's records (by entry binding and commitment) and the keys still held, read once.
pub struct Snapshot {
    by_entry: std::collections::HashMap<(String, String), Vec<Record>>,
    keys: Vec<SubjectKey>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Snapshot(<{} keys>)", self.keys.len())
    }
}

impl Snapshot {
    /// What the vault holds for `commitment` in the entry `binding` names.
    pub fn reveal(&self, binding: &str, commitment: &str, commit_key: &CommitKey) -> Revealed {
        let records = self
            .by_entry
            .get(&(binding.to_owned(), commitment.to_owned()))
            .map_or(&[][..], Vec::as_slice);
        reveal_in(records, &self.keys, commitment, commit_key)
    }
}

/// Reveals `commitment` from its entry's `records` with the keys still held.
fn reveal_in(
    records: &[Record],
    keys: &[SubjectKey],
    commitment: &str,
    commit_key: &CommitKey,
) -> Revealed {
    let mut erased = None;
    for record in records {
        let Some(key) = keys.iter().find(|k| k.id == record.key_id) else {
            erased = Some(record.key_id.clone());
            continue;
        };
        return match record.open(key) {
            Some(value) if verify_commitment(commit_key, &value, &Value::from(commitment)) => {
                Revealed::Value(value)
            }
            _ => Revealed::Mismatch,
        };
    }
    erased.map_or(Revealed::NotKept, |key_id| Revealed::Erased { key_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kept(key: &CommitKey, v: Value) -> Kept {
        Kept {
            commitment: commitment_string(key, &v),
            value: v,
        }
    }

    #[test]
    fn keep_reveal_erase() {
        let dir = std::env::temp_dir().join(format!("vault-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ck = CommitKey::from_bytes([3; 32]);
        let vault = Vault::open(&dir, &["$.patientId".into()], &ck).unwrap();
        let args = json!({"patientId": "p-1", "ssn": "987-65-4321"});
        let subject = vault.subject_of(&args).unwrap();
        let ssn = kept(&ck, json!("987-65-4321"));
        vault
            .keep(&subject, "request:a", std::slice::from_ref(&ssn))
            .unwrap();
        // Another subject with the same value, in another entry.
        vault
            .keep(&json!("p-2"), "request:b", std::slice::from_ref(&ssn))
            .unwrap();
        assert_eq!(
            vault.reveal("request:a", &ssn.commitment, &ck).unwrap(),
            Revealed::Value(json!("987-65-4321"))
        );
        let plan = vault.erasure(&subject).unwrap().unwrap();
        assert_eq!(plan.commitments, vec![ssn.commitment.clone()]);
        assert_eq!(vault.destroy(&subject).unwrap(), Some(plan.key_id.clone()));
        assert_eq!(
            vault.reveal("request:a", &ssn.commitment, &ck).unwrap(),
            Revealed::Erased {
                key_id: plan.key_id
            }
        );
        // The other subject's record of the same value is its own, and stays.
        assert_eq!(
            vault.reveal("request:b", &ssn.commitment, &ck).unwrap(),
            Revealed::Value(json!("987-65-4321"))
        );
        assert_eq!(
            vault.reveal("request:c", &ssn.commitment, &ck).unwrap(),
            Revealed::NotKept
        );
        assert!(vault.erasure(&subject).unwrap().is_none());
        let bytes = std::fs::read(dir.join("records.jsonl")).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("987-65-4321"));
        assert!(vault.subject_of(&json!({"other": 1})).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn first_calls_for_one_new_subject_at_once_share_one_key() {
        let dir = std::env::temp_dir().join(format!("vault-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ck = CommitKey::from_bytes([5; 32]);
        let vault = std::sync::Arc::new(Vault::open(&dir, &["$.id".into()], &ck).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let vault = vault.clone();
                let ck = ck.clone();
                std::thread::spawn(move || {
                    let v = kept(&ck, json!(format!("value-{i}")));
                    vault
                        .keep(&json!("new-subject"), "request:r", std::slice::from_ref(&v))
                        .unwrap();
                    v
                })
            })
            .collect();
        for t in threads {
            let v = t.join().unwrap();
            assert_eq!(
                vault.reveal("request:r", &v.commitment, &ck).unwrap(),
                Revealed::Value(v.value.clone())
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_last_record_is_cut_on_open() {
        let dir = std::env::temp_dir().join(format!("vault-torn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ck = CommitKey::from_bytes([4; 32]);
        let vault = Vault::open(&dir, &["$.id".into()], &ck).unwrap();
        let v = kept(&ck, json!("x"));
        vault
            .keep(&json!("s"), "result:1", std::slice::from_ref(&v))
            .unwrap();
        drop(vault);
        let path = dir.join("records.jsonl");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"v\":1,\"key_id\":\"ab");
        std::fs::write(&path, &bytes).unwrap();
        let vault = Vault::open(&dir, &["$.id".into()], &ck).unwrap();
        assert_eq!(
            vault.reveal("result:1", &v.commitment, &ck).unwrap(),
            Revealed::Value(json!("x"))
        );
        assert!(std::fs::read(&path).unwrap().ends_with(b"\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

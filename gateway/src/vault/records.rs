//! The vault's record log `records.jsonl` (`docs/privacy.md` §5.3): one JSON line per committed
//! value, appended and `fdatasync`ed before the ledger entry that commits it:
//!
//! ```json
//! {"v":1,"key_id":"<32 hex>","binding":"…","commitment":"blake3k:<64 hex>","nonce":"<24 hex>","sealed":"<base64url>"}
//! ```
//!
//! `binding` names the ledger entry that commits the value (`docs/privacy.md` §5.3): equal
//! values commit equally, so without it a reveal could open another subject's record of the same
//! value. `sealed` is ChaCha20-Poly1305 under the subject's key with the nonce, over the
//! canonical JSON of the original value, with `binding || "\n" || commitment` as associated data
//! (so a record cannot be moved to another entry or commitment). A torn last line (no newline: a kill -9 mid-write) is cut on
//! open; any other unreadable line is an error naming the line.
use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use serde_json::{Value, json};

use super::VaultError;
use super::keys::SubjectKey;
use auditgate_ledger::store::private;

/// One record as read back.
#[derive(Debug, Clone)]
pub struct Record {
    pub key_id: String,
    pub binding: String,
    pub commitment: String,
    nonce: [u8; 12],
    sealed: Vec<u8>,
}

impl Record {
    /// Seals `value` for `commitment` under `key`.
    pub fn seal(
        key: &SubjectKey,
        binding: &str,
        commitment: &str,
        value: &Value,
    ) -> Result<Self, VaultError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| VaultError::Randomness)?;
        let cipher = ChaCha20Poly1305::new((&key.key).into());
        let plaintext = auditgate_ledger::canonical::encode(value);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad(binding, commitment),
                },
            )
            .map_err(|_| VaultError::Seal)?;
        Ok(Record {
            key_id: key.id.clone(),
            binding: binding.to_owned(),
            commitment: commitment.to_owned(),
            nonce,
            sealed,
        })
    }

    /// The original value, if `key` opens the record.
    pub fn open(&self, key: &SubjectKey) -> Option<Value> {
        let cipher = ChaCha20Poly1305::new((&key.key).into());
        let plain = cipher
            .decrypt(
                Nonce::from_slice(&self.nonce),
                Payload {
                    msg: &self.sealed,
                    aad: &aad(&self.binding, &self.commitment),
                },
            )
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }

    fn line(&self) -> String {
        let mut line = json!({
            "v": 1,
            "key_id": self.key_id,
            "binding": self.binding,
            "commitment": self.commitment,
            "nonce": hex::encode(self.nonce),
            "sealed": URL_SAFE_NO_PAD.encode(&self.sealed),
        })
        .to_string();
        line.push('\n');
        line
    }

    fn parse(text: &str) -> Option<Self> {
        let v: Value = serde_json::from_str(text).ok()?;
        let mut nonce = [0u8; 12];
        hex::decode_to_slice(v["nonce"].as_str()?, &mut nonce).ok()?;
        Some(Record {
            key_id: v["key_id"].as_str()?.to_owned(),
            binding: v["binding"].as_str()?.to_owned(),
            commitment: v["commitment"].as_str()?.to_owned(),
            nonce,
            sealed: URL_SAFE_NO_PAD.decode(v["sealed"].as_str()?).ok()?,
        })
    }
}

/// The open record log.
#[derive(Debug)]
pub struct RecordLog {
    path: PathBuf,
    file: File,
}

impl RecordLog {
    /// Opens (creating 0600) the log, cutting a torn last line.
    pub fn open(path: PathBuf) -> Result<Self, VaultError> {
        let io = |e| VaultError::io(&path, e);
        let file = private::file_options()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let mut log = RecordLog { path, file };
        log.cut_torn_tail()?;
        Ok(log)
    }

    fn cut_torn_tail(&mut self) -> Result<(), VaultError> {
        let mut bytes = Vec::new();
        File::open(&self.path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| VaultError::io(&self.path, e))?;
        let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if keep < bytes.len() {
            tracing::warn!(path = %self.path.display(), cut = bytes.len() - keep,
                "evidence vault: cut a torn last record");
            self.file
                .set_len(keep as u64)
                .and_then(|()| self.file.sync_data())
                .map_err(|e| VaultError::io(&self.path, e))?;
        }
        Ok(())
    }

    /// Appends `records` with one write and `fdatasync`. A write that fails part-way is cut
    /// back, so a later record never follows garbage.
    pub fn append(&mut self, records: &[Record]) -> Result<(), VaultError> {
        let text: String = records.iter().map(Record::line).collect();
        let before = self
            .file
            .metadata()
            .map_err(|e| VaultError::io(&self.path, e))?
            .len();
        let written = self
            .file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            let _ = self
                .file
                .set_len(before)
                .and_then(|()| self.file.sync_data());
            return Err(VaultError::io(&self.path, e));
        }
        Ok(())
    }
}

/// Every record in the log at `path` (a torn last line is skipped).
pub fn read_all(path: &Path) -> Result<Vec<Record>, VaultError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(VaultError::io(path, e)),
    };
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    complete
        .lines()
        .enumerate()
        .map(|(i, line)| {
            Record::parse(line).ok_or_else(|| VaultError::Corrupt {
                path: path.to_path_buf(),
                line: i + 1,
                why: "not a vault record".into(),
            })
        })
        .collect()
}

/// The associated data of a record: its binding and commitment.
fn aad(binding: &str, commitment: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(binding.len() + 1 + commitment.len());
    out.extend_from_slice(binding.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(commitment.as_bytes());
    out
}

//! Bearer API keys: issued once, stored only as SHA-256 hashes in a JSON file the operator
//! manages with `auditgate keys`, and checked by the gateway on every HTTP request (and for a
//! stdio token).
//!
//! A token reads `agk_<id>_<secret>`: `id` is 16 hex digits (public, names the key in the ledger
//! and in `keys list`), `secret` is 32 random bytes in base64url. The store keeps
//! `sha256(token)`; checking compares hashes in constant time. The file is rewritten atomically
//! (temp file, fsync, rename, fsync of the folder) with mode 0600; the gateway re-reads it when
//! its size or mtime changes, so a revocation applies to the next request, open sessions included.
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The token prefix; lets secret scanners recognise leaked keys.
pub const TOKEN_PREFIX: &str = "agk_";

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("cannot read API key store {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("API key store {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot write API key store {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no API key with id {0}")]
    NoSuchKey(String),
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },
}

/// One stored key (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredKey {
    pub id: String,
    pub principal: String,
    pub roles: Vec<String>,
    /// `sha256:<hex>` of the whole token.
    pub hash: String,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339, or `None` for no expiry.
    pub expires: Option<String>,
    /// RFC 3339 time of revocation.
    pub revoked: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    version: u32,
    keys: Vec<StoredKey>,
}

/// Why a presented token was refused (recorded as `auth.refused.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    UnknownKey,
    Revoked,
    Expired,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::UnknownKey => "unknown_key",
            Refusal::Revoked => "revoked",
            Refusal::Expired => "expired",
        }
    }
}

/// A token split into its public id (if it has our shape).
pub fn token_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() >= 32)
        .then_some(id)
}

/// First 16 hex digits of BLAKE3(token): names a presented-but-unknown token in the ledger
/// without storing anything that helps guess it.
pub fn token_fingerprint(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex()[..16].to_string()
}

fn token_hash(token: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(token.as_bytes())))
}

/// The file and a cache of its parsed contents.
#[derive(Debug)]
pub struct KeyStore {
    path: PathBuf,
    cache: Mutex<Option<(FileStamp, Vec<StoredKey>)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl KeyStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            cache: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All keys; a missing file is an empty store.
    pub fn list(&self) -> Result<Vec<StoredKey>, KeyStoreError> {
        self.with_keys(<[StoredKey]>::to_vec)
    }

    /// Runs `f` over the current keys (re-read when the file changed), without copying them.
    fn with_keys<T>(&self, f: impl FnOnce(&[StoredKey]) -> T) -> Result<T, KeyStoreError> {
        let stamp = match std::fs::metadata(&self.path) {
            Ok(m) => FileStamp {
                len: m.len(),
                modified: m.modified().ok(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(f(&[])),
            Err(source) => {
                return Err(KeyStoreError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let keys = match &*cache {
            Some((cached, keys)) if *cached == stamp => keys,
            _ => {
                let keys = self.read_file()?.keys;
                &cache.insert((stamp, keys)).1
            }
        };
        Ok(f(keys))
    }

    fn read_file(&self) -> Result<StoreFile, KeyStoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StoreFile {
                    version: 1,
                    keys: Vec::new(),
                });
            }
            Err(source) => {
                return Err(KeyStoreError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let file: StoreFile = serde_json::from_slice(&bytes).map_err(|e| KeyStoreError::Parse {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        if file.version != 1 {
            return Err(KeyStoreError::Parse {
                path: self.path.clone(),
                message: format!("unsupported version {}", file.version),
            });
        }
        Ok(file)
    }

    fn write_file(&self, file: &StoreFile) -> Result<(), KeyStoreError> {
        let err = |source| KeyStoreError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut folders = std::fs::DirBuilder::new();
        folders.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folders, 0o700);
        folders.create(dir).map_err(err)?;
        let tmp = self.path.with_extension("json.tmp");
        let mut bytes = serde_json::to_vec_pretty(file).map_err(|e| err(e.into()))?;
        bytes.push(b'\n');
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp).map_err(err)?;
            // A temporary file left by a crash keeps its mode through the open: 0600 again.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(err)?;
            }
            f.write_all(&bytes).map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
        Ok(())
    }

    /// Issues a key; returns the token (shown once) and its stored form.
    pub fn create(
        &self,
        principal: &str,
        roles: &[String],
        expires: Option<String>,
        now: &str,
    ) -> Result<(String, StoredKey), KeyStoreError> {
        if principal.trim().is_empty() || principal.chars().any(char::is_control) {
            return Err(KeyStoreError::Invalid {
                what: "principal",
                why: "must be non-empty printable text".into(),
            });
        }
        if let Some(bad) = roles
            .iter()
            .find(|r| r.is_empty() || !r.bytes().all(|b| b.is_ascii_graphic() && b != b','))
        {
            return Err(KeyStoreError::Invalid {
                what: "role",
                why: format!("{bad:?} must be non-empty, printable, without spaces or commas"),
            });
        }
        let mut file = self.read_file()?;
        let mut id_bytes = [0u8; 8];
        let mut secret = [0u8; 32];
        let rand = |buf: &mut [u8]| {
            getrandom::fill(buf).map_err(|e| KeyStoreError::Invalid {
                what: "randomness",
                why: e.to_string(),
            })
        };
        rand(&mut id_bytes)?;
        rand(&mut secret)?;
        let id = hex::encode(id_bytes);
        let token = format!(
            "{TOKEN_PREFIX}{id}_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let stored = StoredKey {
            id: id.clone(),
            principal: principal.to_string(),
            roles: roles.to_vec(),
            hash: token_hash(&token),
            created: now.to_string(),
            expires,
            revoked: None,
        };
        file.version = 1;
        file.keys.push(stored.clone());
        self.write_file(&file)?;
        Ok((token, stored))
    }

    /// Marks a key revoked (kept for the record).
    pub fn revoke(&self, id: &str, now: &str) -> Result<StoredKey, KeyStoreError> {
        let mut file = self.read_file()?;
        let key = file
            .keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or_else(|| KeyStoreError::NoSuchKey(id.to_string()))?;
        if key.revoked.is_none() {
            key.revoked = Some(now.to_string());
        }
        let out = key.clone();
        self.write_file(&file)?;
        Ok(out)
    }

    /// Checks a presented token at time `now` (RFC 3339, compared as UTC strings of one shape).
    pub fn authenticate(
        &self,
        token: &str,
        now: &str,
    ) -> Result<Result<StoredKey, Refusal>, KeyStoreError> {
        let Some(id) = token_id(token) else {
            return Ok(Err(Refusal::Malformed));
        };
        let Some(key) = self.with_keys(|keys| keys.iter().find(|k| k.id == id).cloned())? else {
            return Ok(Err(Refusal::UnknownKey));
        };
        let presented = token_hash(token);
        if !bool::from(presented.as_bytes().ct_eq(key.hash.as_bytes())) {
            return Ok(Err(Refusal::UnknownKey));
        }
        if key.revoked.is_some() {
            return Ok(Err(Refusal::Revoked));
        }
        if let Some(expires) = &key.expires
            && expires.as_str() <= now
        {
            return Ok(Err(Refusal::Expired));
        }
        Ok(Ok(key))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const NOW: &str = "2026-11-21T10:00:00.000000000Z";

    #[test]
    fn issue_check_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("keys.json"));
        let (token, stored) = store
            .create("alice", &["finance".into()], None, NOW)
            .unwrap();
        assert!(token.starts_with("agk_"));
        assert_eq!(token_id(&token), Some(stored.id.as_str()));
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains(&token), "the token itself is never stored");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let ok = store.authenticate(&token, NOW).unwrap().unwrap();
        assert_eq!(ok.principal, "alice");
        // Same id, other secret.
        let forged = format!("agk_{}_{}", stored.id, "A".repeat(43));
        assert_eq!(
            store.authenticate(&forged, NOW).unwrap(),
            Err(Refusal::UnknownKey)
        );
        assert_eq!(
            store.authenticate("Bearer nope", NOW).unwrap(),
            Err(Refusal::Malformed)
        );
        store.revoke(&stored.id, NOW).unwrap();
        assert_eq!(
            store.authenticate(&token, NOW).unwrap(),
            Err(Refusal::Revoked)
        );
    }

    #[test]
    fn expiry_applies() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("keys.json"));
        let (token, _) = store
            .create("bot", &[], Some("2026-11-21T09:00:00Z".into()), NOW)
            .unwrap();
        assert_eq!(
            store.authenticate(&token, NOW).unwrap(),
            Err(Refusal::Expired)
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_temporary_file_left_by_a_crash_does_not_widen_the_store() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("keys.json"));
        let tmp = dir.path().join("keys.json.tmp");
        std::fs::write(&tmp, b"half").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
        store.create("bot", &[], None, NOW).unwrap();
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{:o}", mode & 0o777);
    }
}

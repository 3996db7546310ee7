//! Per-data-subject keys of the evidence vault (`docs/privacy.md` §5.2): one file
//! `keys/<locator>.key` per subject, where the locator is a keyed hash of the subject (so the
//! folder listing names nobody) and the file holds a random key id and a random 32-byte key.
//! Erasing a subject destroys its file; the records sealed under its key become noise.
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use auditgate_ledger::store::private;
use serde_json::Value;

use super::VaultError;

/// The `derive_key` context of the locator key (fixed: changing it loses every subject).
pub const LOCATOR_CONTEXT: &str = "auditgate 2026-12-03 vault subject locator v1";

/// A subject's key. `Debug` shows the id only.
#[derive(Clone)]
pub struct SubjectKey {
    /// 32 hex digits, random: what records and `vault.erased` name (it says nothing about the
    /// subject).
    pub id: String,
    pub key: [u8; 32],
}

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubjectKey({}, <secret>)", self.id)
    }
}

/// The keys folder. `Debug` never shows the locator key.
pub struct KeyFolder {
    dir: PathBuf,
    locator_key: [u8; 32],
    /// Held while a key is made, so two first calls for one subject make one key.
    creating: std::sync::Mutex<()>,
}

impl std::fmt::Debug for KeyFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyFolder({}, <locator key>)", self.dir.display())
    }
}

impl KeyFolder {
    pub fn open(dir: PathBuf, locator_key: [u8; 32]) -> Result<Self, VaultError> {
        private::create_dir_all(&dir).map_err(|e| VaultError::io(&dir, e))?;
        Ok(Self {
            dir,
            locator_key,
            creating: std::sync::Mutex::new(()),
        })
    }

    /// `keys/<locator>.key` of a subject: 32 hex digits of BLAKE3-keyed over its canonical JSON.
    fn path_of(&self, subject: &Value) -> PathBuf {
        let bytes = auditgate_ledger::canonical::encode(subject);
        let locator = blake3::keyed_hash(&self.locator_key, &bytes).to_hex();
        self.dir.join(format!("{}.key", &locator[..32]))
    }

    /// The subject's key, if it has one.
    pub fn get(&self, subject: &Value) -> Result<Option<SubjectKey>, VaultError> {
        let path = self.path_of(subject);
        match fs::read_to_string(&path) {
            Ok(text) => parse_key(&path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(VaultError::io(&path, e)),
        }
    }

    /// The subject's key, made (durably: file and folder synced) if it has none.
    pub fn get_or_create(&self, subject: &Value) -> Result<SubjectKey, VaultError> {
        if let Some(key) = self.get(subject)? {
            return Ok(key);
        }
        let _creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(key) = self.get(subject)? {
            return Ok(key);
        }
        let mut id = [0u8; 16];
        let mut key = [0u8; 32];
        getrandom::fill(&mut id).map_err(|_| VaultError::Randomness)?;
        getrandom::fill(&mut key).map_err(|_| VaultError::Randomness)?;
        let made = SubjectKey {
            id: hex::encode(id),
            key,
        };
        let path = self.path_of(subject);
        let tmp = path.with_extension("key.tmp");
        let text = format!(
            "{{\"v\":1,\"key_id\":\"{}\",\"key\":\"{}\"}}\n",
            made.id,
            hex::encode(made.key)
        );
        let write = || -> std::io::Result<()> {
            let mut file = private::file_options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            // A link never replaces an existing key (another process may have made one):
            // then that key is the subject's, and this one is discarded unused.
            let linked = fs::hard_link(&tmp, &path);
            fs::remove_file(&tmp)?;
            linked?;
            fs::File::open(&self.dir)?.sync_all()
        };
        match write() {
            Ok(()) => Ok(made),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                self.get(subject)?.ok_or_else(|| VaultError::io(&path, e))
            }
            Err(e) => Err(VaultError::io(&path, e)),
        }
    }

    /// Every key still held, by id (for reveal, which finds records by commitment).
    pub fn all(&self) -> Result<Vec<SubjectKey>, VaultError> {
        let mut keys = Vec::new();
        let listing = fs::read_dir(&self.dir).map_err(|e| VaultError::io(&self.dir, e))?;
        for item in listing {
            let path = item.map_err(|e| VaultError::io(&self.dir, e))?.path();
            if path.extension().is_some_and(|x| x == "key") {
                let text = fs::read_to_string(&path).map_err(|e| VaultError::io(&path, e))?;
                keys.push(parse_key(&path, &text)?);
            }
        }
        Ok(keys)
    }

    /// Destroys the subject's key: overwritten with zeros and synced, then removed, the folder
    /// synced. Returns the key id it had, or `None` if the subject has no key.
    pub fn destroy(&self, subject: &Value) -> Result<Option<String>, VaultError> {
        let path = self.path_of(subject);
        let Some(key) = self.get(subject)? else {
            return Ok(None);
        };
        let wipe = || -> std::io::Result<()> {
            let len = fs::metadata(&path)?.len();
            let mut file = fs::OpenOptions::new().write(true).open(&path)?;
            file.write_all(&vec![0u8; usize::try_from(len).unwrap_or(0)])?;
            file.sync_all()?;
            drop(file);
            fs::remove_file(&path)?;
            fs::File::open(&self.dir)?.sync_all()
        };
        wipe().map_err(|e| VaultError::io(&path, e))?;
        Ok(Some(key.id))
    }
}

fn parse_key(path: &Path, text: &str) -> Result<SubjectKey, VaultError> {
    let bad = |why: &str| VaultError::Corrupt {
        path: path.to_path_buf(),
        line: 1,
        why: why.to_owned(),
    };
    let v: Value = serde_json::from_str(text).map_err(|_| bad("not a key file"))?;
    let id = v["key_id"]
        .as_str()
        .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| bad("key_id is not 32 hex digits"))?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(v["key"].as_str().unwrap_or_default(), &mut key)
        .map_err(|_| bad("key is not 64 hex digits"))?;
    Ok(SubjectKey {
        id: id.to_owned(),
        key,
    })
}

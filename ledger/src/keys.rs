//! Ed25519 signing and verifier keys in the C2SP signed-note text forms, private key files, and
//! trusted-keys files.
//!
//! ```text
//! verifier key:  <name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>
//! private key:   PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>\n
//! key id:        SHA-256(<name> || 0x0A || 0x01 || 32-byte public key)[..4]
//! ```
//!
//! The private form is the one golang.org/x/mod/sumdb/note reads and writes. This is the only
//! module of the ledger's signing code that touches the file system (key files, Unix only).
//!
//! Architecture Invariant: no error message, `Debug` or `Display` output contains secret key
//! bytes, and key files are never created group- or world-accessible, nor loaded if they are.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signer;
use sha2::{Digest, Sha256};

use crate::ed25519;

/// The C2SP signed-note signature type byte for Ed25519.
pub const ALG_ED25519: u8 = 0x01;

const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";
/// A key file longer than this is not a key file; refusing early bounds what we read.
const MAX_KEY_FILE_LEN: u64 = 4096;

/// Why a key, key file or trusted-keys file was refused. Never carries secret key bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Key names must be non-empty, without Unicode spaces, '+' or characters below U+0020.
    #[error(
        "invalid key name {name:?}: must be non-empty, without spaces, '+' or control characters"
    )]
    InvalidName { name: String },
    /// The verifier key text is not `<name>+<hex id>+<base64>`.
    #[error("malformed verifier key: {reason}")]
    MalformedVerifierKey { reason: &'static str },
    /// The key id written in the key does not match the one computed from name and public key.
    #[error("key id {written} of key {name:?} does not match its public key (expected {computed})")]
    KeyIdMismatch {
        name: String,
        written: String,
        computed: String,
    },
    /// The signature type byte is not Ed25519 (0x01).
    #[error("unsupported key algorithm byte 0x{0:02x} (only 0x01, Ed25519, is supported)")]
    UnsupportedAlgorithm(u8),
    /// The decoded key is not 1 + 32 bytes.
    #[error("key data is {0} bytes, expected 33 (0x01 || 32-byte key)")]
    BadKeyLength(usize),
    /// The bytes are not a valid Ed25519 public key, or a small-order (weak) one.
    #[error("public key is not a valid, non-weak Ed25519 point")]
    InvalidPublicKey,
    /// The operating system's random source failed.
    #[error("could not get randomness from the operating system: {0}")]
    Random(getrandom::Error),
    /// `save_new` refuses to replace an existing file.
    #[error("key file {path} already exists; refusing to overwrite it")]
    AlreadyExists { path: PathBuf },
    /// The key file is readable or writable by group or others.
    #[error(
        "key file {path} has mode {mode:04o}; it must not be accessible by group or others (chmod 600)"
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    /// The key file is not a regular file.
    #[error("key file {path} is not a regular file")]
    NotAFile { path: PathBuf },
    /// The key file's contents are not a private key. The reason never quotes the contents.
    #[error("key file {path} is not a valid private key: {reason}")]
    MalformedPrivateKey { path: PathBuf, reason: &'static str },
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of a trusted-keys file is not a verifier key.
    #[error("trusted keys, line {line}: {source}")]
    TrustedKeyLine {
        line: usize,
        #[source]
        source: Box<KeyError>,
    },
    /// A trusted-keys file lists the same name and key id twice.
    #[error("trusted keys, line {line}: key {name:?} is listed twice")]
    DuplicateTrustedKey { line: usize, name: String },
}

/// Is `name` a valid signed-note key name: non-empty, no Unicode whitespace, no '+' (the spec),
/// and no character below U+0020 (a note may not contain one, so such a key could never sign).
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c != '+' && !c.is_whitespace() && c >= ' ')
}

fn check_name(name: &str) -> Result<(), KeyError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(KeyError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// `SHA-256(name || "\n" || 0x01 || public key)[..4]`.
pub fn ed25519_key_id(name: &str, public: &ed25519_dalek::VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Parses the 8-hex-digit key id field.
fn parse_key_id(field: &str) -> Option<[u8; 4]> {
    if field.len() != 8 {
        return None;
    }
    let mut id = [0u8; 4];
    hex::decode_to_slice(field, &mut id).ok()?;
    Some(id)
}

/// Decodes `base64(0x01 || 32 bytes)` into the 32 bytes.
fn decode_key_data(field: &str) -> Result<[u8; 32], KeyDataError> {
    let mut raw = BASE64.decode(field).map_err(|_| KeyDataError::Base64)?;
    let out = split_key_data(&raw);
    overwrite(&mut raw);
    out
}

fn split_key_data(raw: &[u8]) -> Result<[u8; 32], KeyDataError> {
    match raw.split_first() {
        None => Err(KeyDataError::Length(0)),
        Some((&alg, _)) if alg != ALG_ED25519 => Err(KeyDataError::Algorithm(alg)),
        Some((_, key)) => key.try_into().map_err(|_| KeyDataError::Length(raw.len())),
    }
}

enum KeyDataError {
    Base64,
    Algorithm(u8),
    Length(usize),
}

/// Best-effort wipe of a buffer that held secret bytes. `black_box` keeps the writes from being
/// optimised away as dead stores (the crate forbids the `unsafe` a volatile write needs).
fn overwrite(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(&buf);
}

/// A trusted Ed25519 verifier key: name, key id and public key, consistent by construction.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VerifierKey {
    name: String,
    key_id: [u8; 4],
    public: ed25519_dalek::VerifyingKey,
    /// The same key as the ledger's signature rule decodes it.
    rule_key: ed25519::PublicKey,
}

impl VerifierKey {
    /// Builds a verifier key, computing its key id; rejects bad names and weak keys.
    pub fn new(name: &str, public: ed25519_dalek::VerifyingKey) -> Result<Self, KeyError> {
        check_name(name)?;
        // Small order (a weak key), or a non-canonical encoding of its point (y ≥ p): both
        // rejected, so a key has one encoding and one key id (A.2, A.4).
        let canonical = public.to_edwards().compress().to_bytes() == public.to_bytes();
        if public.is_weak() || !canonical {
            return Err(KeyError::InvalidPublicKey);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: ed25519_key_id(name, &public),
            rule_key: ed25519::PublicKey::from_bytes(public.to_bytes()),
            public,
        })
    }

    /// The key name (as written in signature lines).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public(&self) -> &ed25519_dalek::VerifyingKey {
        &self.public
    }

    /// The key as the ledger's signature rule ([`ed25519`]) sees it, for batch checks.
    pub fn rule_key(&self) -> &ed25519::PublicKey {
        &self.rule_key
    }

    /// Verifies an Ed25519 signature over `msg` under the ledger's rule ([`ed25519::verify`]:
    /// cofactored, canonical `S`, canonical and not small-order `A` and `R`).
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        ed25519::verify(&self.rule_key, msg, signature)
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VerifierKey")
            .field(&self.to_string())
            .finish()
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut data = [0u8; 33];
        data[0] = ALG_ED25519;
        data[1..].copy_from_slice(self.public.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            BASE64.encode(data)
        )
    }
}

impl FromStr for VerifierKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let malformed = |reason| KeyError::MalformedVerifierKey { reason };
        // The name may not contain '+', so splitting on '+' is unambiguous; base64 does use '+',
        // hence splitn.
        let mut fields = s.splitn(3, '+');
        let (Some(name), Some(id), Some(data)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(malformed("expected <name>+<key id>+<key data>"));
        };
        check_name(name)?;
        let written = parse_key_id(id).ok_or(malformed("key id is not 8 hex digits"))?;
        let public = match decode_key_data(data) {
            Ok(bytes) => bytes,
            Err(KeyDataError::Base64) => return Err(malformed("key data is not base64")),
            Err(KeyDataError::Algorithm(a)) => return Err(KeyError::UnsupportedAlgorithm(a)),
            Err(KeyDataError::Length(n)) => return Err(KeyError::BadKeyLength(n)),
        };
        let public = ed25519_dalek::VerifyingKey::from_bytes(&public)
            .map_err(|_| KeyError::InvalidPublicKey)?;
        let key = Self::new(name, public)?;
        if key.key_id != written {
            return Err(KeyError::KeyIdMismatch {
                name: name.to_owned(),
                written: hex::encode(written),
                computed: hex::encode(key.key_id),
            });
        }
        Ok(key)
    }
}

/// An Ed25519 signing key with its signed-note name. The secret is zeroized on drop (by
/// `ed25519-dalek`'s `zeroize` feature) and never printed.
#[derive(Clone)]
pub struct SigningKey {
    name: String,
    key: ed25519_dalek::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.key_id()))
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new key with a seed from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(KeyError::Random)?;
        let key = Self::from_seed(name, &seed);
        overwrite(&mut seed);
        key
    }

    /// A key from a 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, KeyError> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id.
    pub fn key_id(&self) -> [u8; 4] {
        ed25519_key_id(&self.name, &self.key.verifying_key())
    }

    /// The matching verifier key.
    pub fn verifier_key(&self) -> VerifierKey {
        let public = self.key.verifying_key();
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id(),
            rule_key: ed25519::PublicKey::from_bytes(public.to_bytes()),
            public,
        }
    }

    /// Ed25519 signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// The private key text, newline-terminated. Callers must wipe it.
    fn private_key_text(&self) -> String {
        let mut data = [0u8; 33];
        data[0] = ALG_ED25519;
        data[1..].copy_from_slice(self.key.as_bytes());
        let text = format!(
            "{PRIVATE_KEY_PREFIX}{}+{}+{}\n",
            self.name,
            hex::encode(self.key_id()),
            BASE64.encode(data)
        );
        overwrite(&mut data);
        text
    }

    /// Parses the private key text (one optional trailing newline).
    fn parse_private_key(text: &str) -> Result<Self, &'static str> {
        let line = text.strip_suffix('\n').unwrap_or(text);
        let rest = line
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or("does not start with PRIVATE+KEY+")?;
        let mut fields = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(data)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err("expected PRIVATE+KEY+<name>+<key id>+<key data>");
        };
        if !is_valid_key_name(name) {
            return Err("invalid key name");
        }
        let written = parse_key_id(id).ok_or("key id is not 8 hex digits")?;
        let mut seed = match decode_key_data(data) {
            Ok(seed) => seed,
            Err(KeyDataError::Base64) => return Err("key data is not base64"),
            Err(KeyDataError::Algorithm(_)) => return Err("key algorithm is not Ed25519 (0x01)"),
            Err(KeyDataError::Length(_)) => return Err("key data is not 0x01 || 32 bytes"),
        };
        let key = Self::from_seed(name, &seed).map_err(|_| "invalid key name");
        overwrite(&mut seed);
        let key = key?;
        if key.key_id() != written {
            return Err("key id does not match the key");
        }
        Ok(key)
    }

    /// Writes this key to a new file at `path`: created exclusively with mode 0600, synced, and
    /// its directory synced. Refuses to overwrite an existing file.
    pub fn save_new(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(KeyError::AlreadyExists {
                    path: path.to_owned(),
                });
            }
            Err(e) => return Err(io(e)),
        };
        let mut text = self.private_key_text().into_bytes();
        let written = file.write_all(&text).and_then(|()| file.sync_all());
        overwrite(&mut text);
        if let Err(e) = written {
            drop(file);
            // Leave no half-written key behind, so a retry can create the file again.
            let _ = std::fs::remove_file(path);
            return Err(io(e));
        }
        drop(file);
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| KeyError::Io {
                path: parent.to_owned(),
                source,
            })
    }

    /// Loads a key file written by [`SigningKey::save_new`] (or Go's `note.GenerateKey`).
    /// Refuses files accessible by group or others, and never echoes the contents in errors.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let malformed = |reason| KeyError::MalformedPrivateKey {
            path: path.to_owned(),
            reason,
        };
        let file = File::open(path).map_err(io)?;
        // Checked on the open handle, so the file we read is the file we checked.
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(KeyError::NotAFile {
                path: path.to_owned(),
            });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::InsecurePermissions {
                path: path.to_owned(),
                mode,
            });
        }
        let mut raw = Vec::with_capacity(128);
        let read = file.take(MAX_KEY_FILE_LEN + 1).read_to_end(&mut raw);
        let result = match read {
            Err(e) => Err(io(e)),
            Ok(_) if raw.len() as u64 > MAX_KEY_FILE_LEN => Err(malformed("file is too long")),
            Ok(_) => match std::str::from_utf8(&raw) {
                Err(_) => Err(malformed("not UTF-8 text")),
                Ok(text) => Self::parse_private_key(text).map_err(malformed),
            },
        };
        overwrite(&mut raw);
        result
    }
}

/// Parses a trusted-keys file: one verifier key per line; blank lines and lines starting with
/// `#` (after optional leading whitespace) are ignored. Errors name the 1-based line number.
pub fn parse_trusted_keys(text: &str) -> Result<Vec<VerifierKey>, KeyError> {
    let mut keys: Vec<VerifierKey> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line
            .parse::<VerifierKey>()
            .map_err(|e| KeyError::TrustedKeyLine {
                line: line_no,
                source: Box::new(e),
            })?;
        if keys
            .iter()
            .any(|k| k.name == key.name && k.key_id == key.key_id)
        {
            return Err(KeyError::DuplicateTrustedKey {
                line: line_no,
                name: key.name,
            });
        }
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    #[test]
    fn weak_and_non_canonical_public_keys_are_refused() {
        // The neutral element: small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = ed25519_dalek::VerifyingKey::from_bytes(&identity).unwrap();
        assert!(VerifierKey::new("k.example", weak).is_err());
        // y = p + v (v < 19) encodes the same point as y = v: find one that is a real,
        // not-small-order point and check that only its canonical encoding is accepted.
        let mut found = 0;
        for v in 2u8..19 {
            let mut bytes = [0xffu8; 32];
            bytes[0] = 0xed + v;
            bytes[31] = 0x7f;
            let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&bytes) else {
                continue;
            };
            if key.is_weak() {
                continue;
            }
            found += 1;
            assert!(VerifierKey::new("k.example", key).is_err(), "y = p + {v}");
            let mut canonical = [0u8; 32];
            canonical[0] = v;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&canonical).unwrap();
            assert!(VerifierKey::new("k.example", key).is_ok(), "y = {v}");
        }
        assert!(found > 0, "no non-canonical test point");
    }

    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const SEED: [u8; 32] = [7u8; 32];

    fn test_key() -> SigningKey {
        SigningKey::from_seed("example.com/log", &SEED).unwrap()
    }

    #[test]
    fn key_id_matches_the_c2sp_formula() {
        let key = test_key();
        let vk = key.verifier_key();
        let mut preimage = b"example.com/log\n\x01".to_vec();
        preimage.extend_from_slice(vk.public().as_bytes());
        let digest = Sha256::digest(&preimage);
        assert_eq!(vk.key_id(), digest[..4]);
    }

    /// Go's golang.org/x/mod/sumdb/note documents this verifier key for the name PeterNeumann;
    /// parsing it checks our key id and encoding against an independent implementation.
    #[test]
    fn parses_the_go_note_package_example_key() {
        let text = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let key: VerifierKey = text.parse().unwrap();
        assert_eq!(key.name(), "PeterNeumann");
        assert_eq!(key.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
        assert_eq!(key.to_string(), text);
    }

    /// The matching private key from the same Go documentation: our private key text form is
    /// the same as Go's, byte for byte.
    #[test]
    fn parses_the_go_note_package_example_private_key() {
        let text = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let key = SigningKey::parse_private_key(text).unwrap();
        assert_eq!(
            key.verifier_key().to_string(),
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        );
        assert_eq!(key.private_key_text(), format!("{text}\n"));
    }

    #[test]
    fn verifier_key_round_trips() {
        let vk = test_key().verifier_key();
        let text = vk.to_string();
        assert!(text.starts_with("example.com/log+"));
        let parsed: VerifierKey = text.parse().unwrap();
        assert_eq!(parsed, vk);
        assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn verifier_key_rejections() {
        let vk = test_key().verifier_key();
        let id = hex::encode(vk.key_id());
        let mut data = vec![ALG_ED25519];
        data.extend_from_slice(vk.public().as_bytes());
        let good_b64 = BASE64.encode(&data);

        let err = |s: &str| s.parse::<VerifierKey>().unwrap_err();
        assert!(matches!(
            err(&format!("bad name+{id}+{good_b64}")),
            KeyError::InvalidName { .. }
        ));
        assert!(matches!(
            err(&format!("+{id}+{good_b64}")),
            KeyError::InvalidName { .. }
        ));
        assert!(matches!(
            err("example.com/log"),
            KeyError::MalformedVerifierKey { .. }
        ));
        assert!(matches!(
            err(&format!("example.com/log+{id}")),
            KeyError::MalformedVerifierKey { .. }
        ));
        assert!(matches!(
            err(&format!("example.com/log+1234+{good_b64}")),
            KeyError::MalformedVerifierKey { .. }
        ));
        assert!(matches!(
            err(&format!("example.com/log+zzzzzzzz+{good_b64}")),
            KeyError::MalformedVerifierKey { .. }
        ));
        assert!(matches!(
            err(&format!("example.com/log+{id}+!!!")),
            KeyError::MalformedVerifierKey { .. }
        ));
        assert!(matches!(
            err(&format!("example.com/log+00000000+{good_b64}")),
            KeyError::KeyIdMismatch { .. }
        ));
        assert!(matches!(
            err(&format!("example.com/other+{id}+{good_b64}")),
            KeyError::KeyIdMismatch { .. }
        ));
        let mut wrong_alg = data.clone();
        wrong_alg[0] = 0x02;
        assert!(matches!(
            err(&format!(
                "example.com/log+{id}+{}",
                BASE64.encode(&wrong_alg)
            )),
            KeyError::UnsupportedAlgorithm(2)
        ));
        assert!(matches!(
            err(&format!(
                "example.com/log+{id}+{}",
                BASE64.encode(&data[..32])
            )),
            KeyError::BadKeyLength(32)
        ));
        let mut long = data.clone();
        long.push(0);
        assert!(matches!(
            err(&format!("example.com/log+{id}+{}", BASE64.encode(&long))),
            KeyError::BadKeyLength(34)
        ));
        // The identity point is a small-order (weak) key.
        let mut weak = vec![ALG_ED25519, 1];
        weak.extend_from_slice(&[0u8; 31]);
        let weak_pk: [u8; 32] = weak[1..].try_into().unwrap();
        let weak_vk = ed25519_dalek::VerifyingKey::from_bytes(&weak_pk).unwrap();
        let weak_id = hex::encode(ed25519_key_id("w", &weak_vk));
        assert!(matches!(
            err(&format!("w+{weak_id}+{}", BASE64.encode(&weak))),
            KeyError::InvalidPublicKey
        ));
    }

    #[test]
    fn signatures_verify_only_for_the_signed_message() {
        let key = test_key();
        let vk = key.verifier_key();
        let sig = key.sign(b"hello\n");
        assert!(vk.verify(b"hello\n", &sig));
        assert!(!vk.verify(b"hello", &sig));
        assert!(!vk.verify(b"hello\n", &sig[..63]));
        let other = SigningKey::from_seed("example.com/log", &[8u8; 32]).unwrap();
        assert!(!other.verifier_key().verify(b"hello\n", &sig));
    }

    #[test]
    fn generated_keys_differ_and_debug_hides_the_secret() {
        let a = SigningKey::generate("a.example/log").unwrap();
        let b = SigningKey::generate("a.example/log").unwrap();
        assert_ne!(a.verifier_key(), b.verifier_key());
        let debug = format!("{a:?}");
        let secret_hex = hex::encode(a.key.as_bytes());
        let secret_b64 = BASE64.encode(a.key.as_bytes());
        assert!(!debug.contains(&secret_hex));
        assert!(!debug.contains(&secret_b64[..20]));
        assert!(debug.contains("a.example/log"));
        assert!(matches!(
            SigningKey::generate("has space"),
            Err(KeyError::InvalidName { .. })
        ));
    }

    #[test]
    fn key_file_round_trip_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.key");
        let key = test_key();
        key.save_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("PRIVATE+KEY+example.com/log+"));
        assert!(text.ends_with('\n'));
        assert_eq!(text.lines().count(), 1);
        let loaded = SigningKey::load(&path).unwrap();
        assert_eq!(loaded.verifier_key(), key.verifier_key());
        assert_eq!(loaded.sign(b"x"), key.sign(b"x"));
    }

    #[test]
    fn save_new_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.key");
        std::fs::write(&path, "keep me").unwrap();
        assert!(matches!(
            test_key().save_new(&path),
            Err(KeyError::AlreadyExists { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    }

    #[test]
    fn load_refuses_group_or_world_accessible_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.key");
        test_key().save_new(&path).unwrap();
        for mode in [0o640, 0o604, 0o620, 0o602, 0o644, 0o666] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            match SigningKey::load(&path) {
                Err(KeyError::InsecurePermissions { path: p, mode: m }) => {
                    assert_eq!(p, path);
                    assert_eq!(m, mode);
                }
                other => panic!("mode {mode:o}: {other:?}"),
            }
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        SigningKey::load(&path).unwrap();
    }

    #[test]
    fn load_refuses_malformed_files_without_echoing_them() {
        let dir = tempfile::tempdir().unwrap();
        let good = test_key().private_key_text();
        let seed_b64 = good.trim_end().rsplit('+').next().unwrap().to_owned();
        let id = hex::encode(test_key().key_id());
        let cases = [
            good.replace("PRIVATE+KEY+", "PRIVATE+"),
            good.replace(&format!("+{id}+"), "+00000000+"),
            good.replace("example.com/log", "example.com/other"),
            good.replace(&seed_b64, &seed_b64[..20]),
            format!("{good}\n"),
            format!("{good}junk"),
            good.replace("\n", "\r\n"),
            String::from("PRIVATE+KEY+x"),
            String::new(),
        ];
        for (i, text) in cases.iter().enumerate() {
            let path = dir.path().join(format!("bad{i}.key"));
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            let err = SigningKey::load(&path).unwrap_err();
            assert!(
                matches!(err, KeyError::MalformedPrivateKey { .. }),
                "case {i}: {err:?}"
            );
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains(&seed_b64[..12]),
                "case {i} echoed the secret"
            );
        }
        let path = dir.path().join("binary.key");
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            SigningKey::load(&path),
            Err(KeyError::MalformedPrivateKey { .. })
        ));
        assert!(matches!(
            SigningKey::load(dir.path()),
            Err(KeyError::NotAFile { .. }) | Err(KeyError::InsecurePermissions { .. })
        ));
        assert!(matches!(
            SigningKey::load(&dir.path().join("missing.key")),
            Err(KeyError::Io { .. })
        ));
    }

    #[test]
    fn go_private_key_without_trailing_newline_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("go.key");
        let text = test_key().private_key_text();
        std::fs::write(&path, text.trim_end()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = SigningKey::load(&path).unwrap();
        assert_eq!(key.verifier_key(), test_key().verifier_key());
    }

    #[test]
    fn trusted_keys_file() {
        let a = test_key().verifier_key();
        let b = SigningKey::from_seed("witness.example/w1", &[9u8; 32])
            .unwrap()
            .verifier_key();
        let text = format!("# log key\n{a}\n\n   # witness\n  {b}  \n");
        assert_eq!(parse_trusted_keys(&text).unwrap(), vec![a.clone(), b]);
        assert!(parse_trusted_keys("").unwrap().is_empty());

        let bad = format!("# header\n{a}\n\nnot-a-key\n");
        match parse_trusted_keys(&bad) {
            Err(KeyError::TrustedKeyLine { line, .. }) => assert_eq!(line, 4),
            other => panic!("{other:?}"),
        }
        let dup = format!("{a}\n{a}\n");
        match parse_trusted_keys(&dup) {
            Err(KeyError::DuplicateTrustedKey { line, .. }) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
    }
}

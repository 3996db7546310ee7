//! Keyed content digests: how the ledger binds to exact bytes (a request, its arguments, a
//! result) without letting anyone who lacks the key test a guess against them
//! (`docs/privacy.md` §2, test vectors in `docs/audit-events.md` §8).
//!
//! `digest = "blake3mac:" || hex(BLAKE3-keyed(digest_key, bytes))`, where
//! `digest_key = BLAKE3-derive_key(DIGEST_CONTEXT, commit_key)`. The digest key is derived from
//! the commit key, so it is held exactly like it and adds no secret to manage, while the domain
//! separation keeps a digest of canonical arguments from ever equalling a commitment of the same
//! value.

use std::fmt;

use crate::commitment::CommitKey;

/// The prefix naming the keyed scheme. Ledgers written before it carry plain `blake3:` digests.
pub const DIGEST_PREFIX: &str = "blake3mac:";

/// The BLAKE3 `derive_key` context string of the digest key (fixed forever: changing it changes
/// every digest).
pub const DIGEST_CONTEXT: &str = "auditgate 2026-12-03 ledger content digest v1";

/// The 32-byte key of content digests. Never printed, never in `Debug`.
#[derive(Clone)]
pub struct DigestKey([u8; 32]);

impl DigestKey {
    /// The digest key that belongs to a commit key.
    pub fn derive(commit_key: &CommitKey) -> Self {
        DigestKey(blake3::derive_key(DIGEST_CONTEXT, commit_key.as_bytes()))
    }

    /// `blake3mac:<64 hex digits>` over `bytes`.
    pub fn digest(&self, bytes: &[u8]) -> String {
        let hash = blake3::keyed_hash(&self.0, bytes);
        let mut out = String::with_capacity(DIGEST_PREFIX.len() + 64);
        out.push_str(DIGEST_PREFIX);
        out.push_str(&hash.to_hex());
        out
    }

    /// Whether `digest` (a `blake3mac:` string) is the digest of `bytes`; constant-time.
    pub fn matches(&self, bytes: &[u8], digest: &str) -> bool {
        let Some(hex_part) = digest.strip_prefix(DIGEST_PREFIX) else {
            return false;
        };
        let Ok(claimed) = blake3::Hash::from_hex(hex_part) else {
            return false;
        };
        claimed == blake3::keyed_hash(&self.0, bytes)
    }
}

impl fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestKey(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commit key of the test vectors: bytes 0x00, 0x01, …, 0x1f.
    fn vector_key() -> CommitKey {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::try_from(i).unwrap();
        }
        CommitKey::from_bytes(bytes)
    }

    /// The vectors published in docs/audit-events.md §8: change them only with the format.
    #[test]
    fn test_vectors() {
        let key = DigestKey::derive(&vector_key());
        assert_eq!(hex::encode(key.0), VECTOR_DIGEST_KEY);
        assert_eq!(key.digest(br#"{"ssn":"987-65-4321"}"#), VECTOR_ARGS_DIGEST);
        assert_eq!(key.digest(b""), VECTOR_EMPTY_DIGEST);
    }

    // Computed independently with the Python `blake3` package (derive_key_context, key=).
    const VECTOR_DIGEST_KEY: &str =
        "b8a56fbce416e0d349f6da7977e0d1364b312d7a94aac592952182410963f2a2";
    const VECTOR_ARGS_DIGEST: &str =
        "blake3mac:ed566ad0677e9dcb6823379b4b9371a44d47ad286ea509e96a1495141d9d713e";
    const VECTOR_EMPTY_DIGEST: &str =
        "blake3mac:a1bf34dd8c83d546120bcba160ce446c7fe578c7b48046d291654c7754c3b103";

    #[test]
    fn binds_exact_bytes_and_needs_the_key() {
        let key = DigestKey::derive(&vector_key());
        let d = key.digest(b"abc");
        assert!(key.matches(b"abc", &d));
        assert!(!key.matches(b"abd", &d));
        let other = DigestKey::derive(&CommitKey::from_bytes([9; 32]));
        assert!(!other.matches(b"abc", &d));
        assert!(!key.matches(b"abc", &d.replace("blake3mac:", "blake3:")));
        // Not the plain hash, and not the commitment of the same bytes' value.
        assert_ne!(d, format!("blake3mac:{}", blake3::hash(b"abc").to_hex()));
        assert_eq!(format!("{key:?}"), "DigestKey(<secret>)");
    }
}

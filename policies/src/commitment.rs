//! Keyed blake3 commitments: the ledger stores `{"$commit": "blake3k:<hex>"}` instead of a value,
//! so an auditor who holds the key and the value can prove the match, and nobody else learns
//! anything (not even the length).
//!
//! `commitment = blake3::keyed_hash(key, JCS(value))`, where JCS is RFC 8785 canonical JSON, so
//! the commitment does not depend on key order or number spelling. Equal values commit equally
//! under one key: rotate the key to unlink periods (see `docs/policy-format.md`).

use std::fmt;

use serde_json::Value;

/// The JSON member that marks a commitment in redacted output.
pub const COMMIT_MEMBER: &str = "$commit";
/// The prefix of the commitment string, naming the scheme.
pub const COMMIT_PREFIX: &str = "blake3k:";

/// The 32-byte secret key for commitments. The gateway loads it from a file; it never appears in
/// output, in `Debug`, or in errors.
#[derive(Clone)]
pub struct CommitKey([u8; 32]);

impl CommitKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        CommitKey(bytes)
    }

    /// Parses 64 hex digits (surrounding whitespace, e.g. a trailing newline in a key file, is
    /// ignored). Returns `None` otherwise; the error never echoes the input.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
        Some(CommitKey(bytes))
    }

    /// The raw key bytes, for deriving the keys that belong to it (`digest`, the vault's
    /// subject index).
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key derived from this one for another purpose (BLAKE3 `derive_key` with `context`):
    /// held like the commit key, never equal to it.
    pub fn derive(&self, context: &str) -> [u8; 32] {
        blake3::derive_key(context, &self.0)
    }
}

impl fmt::Debug for CommitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CommitKey(<secret>)")
    }
}

/// RFC 8785 canonical bytes of a JSON value.
pub(crate) fn canonical_bytes(value: &Value) -> Vec<u8> {
    // JCS only fails on values JSON cannot represent (non-finite floats); serde_json::Value
    // cannot hold those, so this falls back to serde_json's own bytes only in theory.
    serde_json_canonicalizer::to_vec(value)
        .unwrap_or_else(|_| serde_json::to_vec(value).unwrap_or_default())
}

/// The commitment string (`blake3k:<64 hex digits>`) for a value.
pub fn commitment_string(key: &CommitKey, value: &Value) -> String {
    let hash = blake3::keyed_hash(&key.0, &canonical_bytes(value));
    let mut out = String::with_capacity(COMMIT_PREFIX.len() + 64);
    out.push_str(COMMIT_PREFIX);
    out.push_str(&hash.to_hex());
    out
}

/// The JSON object that replaces a committed value: `{"$commit": "blake3k:<hex>"}`.
pub fn commit(key: &CommitKey, value: &Value) -> Value {
    let mut map = serde_json::Map::with_capacity(1);
    map.insert(
        COMMIT_MEMBER.to_owned(),
        Value::String(commitment_string(key, value)),
    );
    Value::Object(map)
}

/// Whether `commitment` commits to `value` under `key`. Accepts either the string
/// (`"blake3k:…"`) or the object form (`{"$commit": "blake3k:…"}`). The comparison is
/// constant-time.
pub fn verify_commitment(key: &CommitKey, value: &Value, commitment: &Value) -> bool {
    let text = match commitment {
        Value::String(s) => s.as_str(),
        Value::Object(map) if map.len() == 1 => match map.get(COMMIT_MEMBER) {
            Some(Value::String(s)) => s.as_str(),
            _ => return false,
        },
        _ => return false,
    };
    let Some(hex_part) = text.strip_prefix(COMMIT_PREFIX) else {
        return false;
    };
    let Ok(claimed) = blake3::Hash::from_hex(hex_part) else {
        return false;
    };
    // blake3::Hash's PartialEq is constant-time.
    claimed == blake3::keyed_hash(&key.0, &canonical_bytes(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(b: u8) -> CommitKey {
        CommitKey::from_bytes([b; 32])
    }

    #[test]
    fn verifies_with_right_key_and_value_only() {
        let v = json!({"taxId": "DE-123", "n": 1});
        let c = commit(&key(1), &v);
        assert!(verify_commitment(&key(1), &v, &c));
        assert!(verify_commitment(&key(1), &v, &c[COMMIT_MEMBER]));
        assert!(!verify_commitment(&key(2), &v, &c));
        assert!(!verify_commitment(
            &key(1),
            &json!({"taxId": "DE-124", "n": 1}),
            &c
        ));
        assert!(!verify_commitment(&key(1), &v, &json!("blake3k:zz")));
        assert!(!verify_commitment(&key(1), &v, &json!({"$commit": 1})));
        assert!(!verify_commitment(&key(1), &v, &json!(null)));
    }

    #[test]
    fn canonical_form_ignores_key_order_and_number_spelling() {
        let a: Value = serde_json::from_str(r#"{"b": 1.0, "a": [1e2]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": [100], "b": 1}"#).unwrap();
        assert_eq!(commit(&key(7), &a), commit(&key(7), &b));
    }

    #[test]
    fn key_never_shows_in_debug() {
        let k = CommitKey::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(format!("{k:?}"), "CommitKey(<secret>)");
        assert!(CommitKey::from_hex("abc").is_none());
        assert!(CommitKey::from_hex(&format!("{}\n", "00".repeat(32))).is_some());
    }
}

//! The one capping function for strings and values a caller supplied, applied before anything
//! is put in an entry (`docs/audit-events.md` §7): headers, JSON-RPC methods and ids, tool
//! names, cursors, session ids, `clientInfo`, approval ids, OAuth claims.
//!
//! A string of at most [`MAX_STRING_BYTES`] is kept as is; a longer one becomes its prefix, `…`,
//! and `[<N> bytes, blake3:<hex>]`, so that a 200 KB header costs the ledger a few hundred bytes
//! and an investigator holding the original can still match it.
use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::blake3_ref;
use auditgate_ledger::canonical;

/// Strings up to this many bytes are recorded whole.
pub const MAX_STRING_BYTES: usize = 256;
/// A caller-supplied JSON value whose canonical encoding exceeds this (after its strings were
/// capped) is recorded by length and digest.
pub const MAX_VALUE_BYTES: usize = 4096;
/// At most this many capability names are listed in `session.open`.
pub const MAX_NAMES: usize = 64;

/// `s`, or its capped form when longer than [`MAX_STRING_BYTES`].
pub fn string(s: &str) -> Cow<'_, str> {
    cut(s, MAX_STRING_BYTES)
}

/// `s` whole up to `limit` bytes; else its prefix (cut back to a character boundary), `…` and
/// `[<N> bytes, blake3:<hex>]` over all of it.
fn cut(s: &str, limit: usize) -> Cow<'_, str> {
    if s.len() <= limit {
        return Cow::Borrowed(s);
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}…[{} bytes, {}]",
        &s[..end],
        s.len(),
        blake3_ref(s.as_bytes())
    ))
}

/// [`string`] as an owned `String`.
pub fn owned(s: &str) -> String {
    string(s).into_owned()
}

/// A sentence of the gateway's own that may quote caller strings (already capped where they are
/// quoted): kept whole up to 4 KiB, capped beyond, so that no refusal approaches the entry limit.
pub fn sentence(text: &str) -> String {
    cut(text, MAX_VALUE_BYTES).into_owned()
}

/// A caller-supplied value with every string (keys included) capped; if it is still larger than
/// [`MAX_VALUE_BYTES`] once encoded, `{"omitted": {"bytes", "digest"}}` over the original.
pub fn value(v: &Value) -> Value {
    let capped = strings(v);
    let encoded = canonical::encode(&capped);
    if encoded.len() <= MAX_VALUE_BYTES {
        return capped;
    }
    let original = canonical::encode(v);
    json!({"omitted": {"bytes": original.len(), "digest": blake3_ref(&original)}})
}

fn strings(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(owned(s)),
        Value::Array(items) => Value::Array(items.iter().map(strings).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (owned(k), strings(v)))
                .collect::<Map<String, Value>>(),
        ),
        other => other.clone(),
    }
}

/// At most [`MAX_NAMES`] names, each capped; and how many were left out.
pub fn names<'a>(names: impl Iterator<Item = &'a String>) -> (Vec<String>, usize) {
    let mut kept = Vec::new();
    let mut omitted = 0;
    for n in names {
        if kept.len() < MAX_NAMES {
            kept.push(owned(n));
        } else {
            omitted += 1;
        }
    }
    (kept, omitted)
}

/// A JSON-RPC id as recorded: a string id capped, numbers and null as they are.
pub fn id(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(owned(s)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn short_strings_are_kept_and_long_ones_become_prefix_length_and_digest() {
        assert_eq!(string("http://evil.example"), "http://evil.example");
        let exact = "a".repeat(MAX_STRING_BYTES);
        assert_eq!(string(&exact), exact.as_str());
        let long = "b".repeat(200_000);
        let capped = owned(&long);
        let digest = blake3_ref(long.as_bytes());
        assert_eq!(
            capped,
            format!("{}…[200000 bytes, {digest}]", "b".repeat(256))
        );
        assert!(capped.len() < MAX_STRING_BYTES + 100);
    }

    #[test]
    fn the_cut_never_splits_a_character() {
        // 255 ASCII bytes, then a 3-byte character straddling the limit.
        let s = format!("{}€{}", "x".repeat(255), "y".repeat(10));
        let capped = owned(&s);
        assert!(
            capped.starts_with(&format!("{}…[", "x".repeat(255))),
            "{capped}"
        );
    }

    #[test]
    fn values_are_capped_then_omitted_when_still_large() {
        let v = json!({"name": "c".repeat(1000), "version": "1"});
        let capped = value(&v);
        assert!(
            capped["name"]
                .as_str()
                .unwrap()
                .contains("[1000 bytes, blake3:")
        );
        assert_eq!(capped["version"], "1");
        let many: Map<String, Value> = (0..500).map(|i| (format!("k{i}"), json!(i))).collect();
        let big = Value::Object(many);
        let out = value(&big);
        assert_eq!(
            out["omitted"]["bytes"].as_u64().unwrap() as usize,
            canonical::encode(&big).len()
        );
        let (kept, omitted) = names(
            (0..100)
                .map(|i| format!("cap{i}"))
                .collect::<Vec<_>>()
                .iter(),
        );
        assert_eq!((kept.len(), omitted), (MAX_NAMES, 36));
    }
}

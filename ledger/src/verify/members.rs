//! The members of the kinds the ledger itself defines (`docs/ledger-format.md` §3.4; V10, V13,
//! V15): `ledger.genesis`, `ledger.key_rotated`, `ledger.recovered`. Pure functions of one
//! entry's bytes and where it is; the verifier applies what they return.

use serde_json::{Map, Value};

use super::error::VerifyErrorKind;
use crate::format::Format;
use crate::keys::VerifierKey;
use crate::segment::HEADER_LEN;

/// What a valid genesis entry establishes.
pub(super) struct Genesis {
    pub(super) format: Format,
    pub(super) ledger_id: String,
    pub(super) origin: String,
    pub(super) key: VerifierKey,
}

fn object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// A verifier key member. In format 1.1 it must be in its canonical text form (lowercase key
/// id: the form `VerifierKey`'s `Display` writes), so that one key has one spelling.
fn key_member(
    body: &Map<String, Value>,
    name: &str,
    format: Format,
) -> Result<VerifierKey, String> {
    let text = body
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no {name}"))?;
    let key: VerifierKey = text
        .parse()
        .map_err(|_| format!("{name} is not a verifier key"))?;
    if format >= Format::V1_1 && key.to_string() != text {
        return Err(format!(
            "{name} is not in canonical form (format 1.1: lowercase key id)"
        ));
    }
    Ok(key)
}

/// V10: entry 0's members. Members beyond the four are allowed and carry no meaning.
pub(super) fn genesis(seq: u64, bytes: &[u8]) -> Result<Genesis, VerifyErrorKind> {
    let bad = |why: String| VerifyErrorKind::BadGenesis { seq, why };
    if seq != 0 {
        return Err(bad("a genesis entry may only be entry 0".into()));
    }
    let body = object(bytes).ok_or_else(|| bad("does not parse".into()))?;
    let text = |name: &str| body.get(name).and_then(Value::as_str);
    let format = text("format").and_then(Format::parse).ok_or_else(|| {
        bad("format is neither auditgate-ledger/1 nor auditgate-ledger/1.1".into())
    })?;
    let id = text("ledger_id").ok_or_else(|| bad("no ledger_id".into()))?;
    if id.len() != 32
        || !id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(bad("ledger_id is not 32 lowercase hex digits".into()));
    }
    let origin = text("origin")
        .filter(|o| !o.is_empty() && !o.chars().any(char::is_control))
        .ok_or_else(|| bad("no usable origin".into()))?;
    let key = key_member(&body, "key", format).map_err(bad)?;
    Ok(Genesis {
        format,
        ledger_id: id.to_owned(),
        origin: origin.to_owned(),
        key,
    })
}

/// V13: a rotation's keys, `(old_key, new_key)`, as written; the verifier compares them (as
/// name and public key: the key id follows from both) with the keys it knows.
pub(super) fn rotation(
    seq: u64,
    bytes: &[u8],
    format: Format,
) -> Result<(VerifierKey, VerifierKey), VerifyErrorKind> {
    let bad = |why: String| VerifyErrorKind::BadRotation { seq, why };
    let body = object(bytes).ok_or_else(|| bad("does not parse".into()))?;
    let old = key_member(&body, "old_key", format).map_err(bad)?;
    let new = key_member(&body, "new_key", format).map_err(bad)?;
    if !body.get("reason").is_some_and(Value::is_string) {
        return Err(bad("reason is not a string".into()));
    }
    Ok((old, new))
}

/// V15: a `ledger.recovered` entry at byte `offset` of segment `segment`. The writer cuts the
/// torn tail of segment `segment` to `offset` and appends this entry right there — or, when it
/// rewrote a torn header (`offset` 0), right after the new header.
pub(super) fn recovered(
    seq: u64,
    bytes: &[u8],
    segment: u64,
    offset: usize,
) -> Result<(), VerifyErrorKind> {
    let bad = |why: String| VerifyErrorKind::BadRecovery { seq, why };
    let body = object(bytes).ok_or_else(|| bad("does not parse".into()))?;
    // The ledger's own members are integers in 0 ..= 2^53 − 1 (§3.1).
    const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
    let count = |name: &str| {
        body.get(name)
            .and_then(Value::as_u64)
            .filter(|&n| n <= MAX_SAFE_INTEGER)
            .ok_or_else(|| bad(format!("{name} is not an integer in 0 ..= 2^53 - 1")))
    };
    let (cut_segment, cut_offset) = (count("segment")?, count("offset")?);
    count("discarded_bytes")?;
    count("discarded_records")?;
    if !body.get("reason").is_some_and(Value::is_string) {
        return Err(bad("reason is not a string".into()));
    }
    if cut_segment != segment {
        return Err(bad(format!(
            "names segment {cut_segment}, but is written in segment {segment}"
        )));
    }
    let here = offset as u64;
    let fits = cut_offset == here || (cut_offset == 0 && here == HEADER_LEN as u64);
    if !fits {
        return Err(bad(format!(
            "names offset {cut_offset}, but is written at byte {here}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    fn key(seed: u8) -> VerifierKey {
        SigningKey::from_seed("k.example", &[seed; 32])
            .unwrap()
            .verifier_key()
    }

    fn upper_id(k: &VerifierKey) -> String {
        let s = k.to_string();
        let (name, rest) = s.split_once('+').unwrap();
        let (id, b64) = rest.split_once('+').unwrap();
        format!("{name}+{}+{b64}", id.to_uppercase())
    }

    #[test]
    fn key_spelling_is_free_in_1_0_and_canonical_in_1_1() {
        let k = key(1);
        let body = |old: String| {
            serde_json::to_vec(&serde_json::json!({
                "old_key": old, "new_key": key(2).to_string(), "reason": "r"
            }))
            .unwrap()
        };
        let (old, _) = rotation(5, &body(upper_id(&k)), Format::V1_0).unwrap();
        assert_eq!(old, k, "keys compare as name and public key");
        let err = rotation(5, &body(upper_id(&k)), Format::V1_1).unwrap_err();
        assert!(err.to_string().contains("canonical"), "{err}");
        assert!(rotation(5, &body(k.to_string()), Format::V1_1).is_ok());
    }

    #[test]
    fn a_recovery_names_the_place_it_was_written_at() {
        let body = |segment: u64, offset: u64| {
            serde_json::to_vec(&serde_json::json!({
                "segment": segment, "offset": offset, "discarded_bytes": 10,
                "discarded_records": 0, "reason": "r"
            }))
            .unwrap()
        };
        assert!(recovered(9, &body(2, 700), 2, 700).is_ok());
        assert!(recovered(9, &body(2, 0), 2, HEADER_LEN).is_ok());
        assert!(recovered(9, &body(2, 700), 2, 701).is_err());
        assert!(recovered(9, &body(1, 700), 2, 700).is_err());
        assert!(recovered(9, br#"{"segment":2}"#, 2, 700).is_err());
        let big = br#"{"discarded_bytes":9007199254740994,"discarded_records":0,"offset":700,"reason":"r","segment":2}"#;
        assert!(recovered(9, big, 2, 700).is_err(), "beyond 2^53 - 1");
    }
}

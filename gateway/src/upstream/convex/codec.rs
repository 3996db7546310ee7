//! Convex's value encodings.
//!
//! Convex's `convex_encoded_json` carries what plain JSON cannot: int64 as `{"$integer": base64
//! of 8 little-endian bytes}`, bytes as `{"$bytes": base64}`, and floats JSON cannot spell (NaN,
//! ±Infinity, -0) as `{"$float": base64 of 8 little-endian bytes}`. Request `args` are always
//! parsed in that encoding.
//!
//! Agents speak plain JSON, so the gateway converts in both directions:
//! - [`to_convex`]: type-directed by the function's argument validator. An int64 position takes a
//!   JSON integer or a decimal string; a bytes position takes a base64 string.
//! - [`normalize`]: the same walk, giving the arguments in their one canonical plain-JSON
//!   spelling (int64 a JSON integer up to 2^53 − 1 in magnitude, else a decimal string; an
//!   integer-valued double a JSON integer) together with their encoding, so that the policy,
//!   the ledger and Convex see the same value (`docs/convex-upstream.md`, "Normalized arguments").
//! - [`from_convex`]: results, always requested as `convex_encoded_json` (lossless), become plain
//!   JSON: int64 → JSON integer (exact in JSON text), bytes → base64 string, special floats →
//!   `"NaN"`, `"Infinity"`, `"-Infinity"` (and -0 → `-0.0`).
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::catalog::spec::{ObjectField, Validator};

/// A value that does not fit the validator, with the JSON Pointer of the offending position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", if path.is_empty() { "(root)" } else { path.as_str() })]
pub struct EncodeError {
    pub path: String,
    pub message: String,
}

/// A convex-encoded value that breaks the encoding rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid convex-encoded value at {path}: {message}")]
pub struct DecodeError {
    pub path: String,
    pub message: String,
}

/// The largest integer magnitude every JSON reader (and JCS, which stores doubles) holds exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A decimal string of an int64: `-?[0-9]+` in range (no `+`, spaces, fraction, exponent, hex).
pub fn parse_decimal_int64(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The canonical plain spelling of an int64: a JSON integer when exact everywhere, else a
/// decimal string.
pub fn canonical_int64(n: i64) -> Value {
    if n.unsigned_abs() <= MAX_SAFE_INTEGER {
        Value::Number(n.into())
    } else {
        Value::String(n.to_string())
    }
}

/// The canonical spelling of a float64 argument: the double it denotes, as a JSON integer when
/// that double is an integer of magnitude at most 2^53 − 1 (`75.0` → `75`; JCS records it so).
pub fn canonical_number(n: &serde_json::Number) -> Value {
    let Some(f) = n.as_f64() else {
        return Value::Number(n.clone());
    };
    let negative_zero = f == 0.0 && f.is_sign_negative();
    if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER as f64 && !negative_zero {
        // Exact: an integer of magnitude below 2^53 converts without rounding.
        #[allow(
            clippy::cast_possible_truncation,
            reason = "integer-valued, |f| < 2^53"
        )]
        return Value::Number((f as i64).into());
    }
    serde_json::Number::from_f64(f).map_or_else(|| Value::Number(n.clone()), Value::Number)
}

pub fn encode_int64(n: i64) -> Value {
    json!({ "$integer": STANDARD.encode(n.to_le_bytes()) })
}

pub fn encode_bytes(bytes: &[u8]) -> Value {
    json!({ "$bytes": STANDARD.encode(bytes) })
}

/// A float in convex-encoded JSON: a plain number when JSON can hold it exactly, else `$float`.
pub fn encode_float(f: f64) -> Value {
    if f.is_finite()
        && !(f == 0.0 && f.is_sign_negative())
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    json!({ "$float": STANDARD.encode(f.to_le_bytes()) })
}

fn decode_le8(b64: &str) -> Result<[u8; 8], String> {
    let bytes = STANDARD
        .decode(b64)
        .map_err(|e| format!("bad base64: {e}"))?;
    <[u8; 8]>::try_from(bytes.as_slice())
        .map_err(|_| format!("expected 8 bytes, got {}", bytes.len()))
}

pub fn decode_int64(b64: &str) -> Result<i64, String> {
    decode_le8(b64).map(i64::from_le_bytes)
}

pub fn decode_float(b64: &str) -> Result<f64, String> {
    decode_le8(b64).map(f64::from_le_bytes)
}

/// Converts a convex-encoded value into the plain JSON an agent sees.
pub fn from_convex(value: Value) -> Result<Value, DecodeError> {
    decode_at(value, &mut String::new())
}

fn decode_at(value: Value, path: &mut String) -> Result<Value, DecodeError> {
    let fail = |path: &String, message: String| DecodeError {
        path: if path.is_empty() {
            "/".into()
        } else {
            path.clone()
        },
        message,
    };
    match value {
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                out.push(decode_at(item, path)?);
                path.truncate(len);
            }
            Ok(Value::Array(out))
        }
        Value::Object(map) => {
            if map.len() == 1
                && let Some((key, inner)) = map.iter().next()
                && key.starts_with('$')
            {
                let Value::String(b64) = inner else {
                    return Err(fail(path, format!("{key} must hold a base64 string")));
                };
                return match key.as_str() {
                    "$integer" => decode_int64(b64)
                        .map(|n| Value::Number(n.into()))
                        .map_err(|m| fail(path, m)),
                    "$bytes" => STANDARD
                        .decode(b64)
                        .map(|_| Value::String(b64.clone()))
                        .map_err(|e| fail(path, format!("bad base64: {e}"))),
                    "$float" => decode_float(b64)
                        .map(plain_float)
                        .map_err(|m| fail(path, m)),
                    other => Err(fail(path, format!("unknown encoding {other}"))),
                };
            }
            let mut out = Map::with_capacity(map.len());
            for (key, item) in map {
                let len = path.len();
                path.push('/');
                path.push_str(&escape_pointer(&key));
                out.insert(key, decode_at(item, path)?);
                path.truncate(len);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other),
    }
}

fn plain_float(f: f64) -> Value {
    if f.is_nan() {
        Value::String("NaN".into())
    } else if f.is_infinite() {
        Value::String(if f > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// JSON Pointer escaping (RFC 6901).
pub(crate) fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Converts an agent's plain-JSON value into convex-encoded JSON, guided by `validator`.
pub fn to_convex(validator: &Validator, value: &Value) -> Result<Value, EncodeError> {
    encode(validator, value, &mut String::new(), true, Target::Convex)
}

/// An agent's arguments in their canonical plain spelling, and the same value convex-encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// What the policy decides on and the ledger records.
    pub plain: Value,
    /// What is forwarded to Convex.
    pub convex: Value,
}

/// Normalizes an agent's plain-JSON value, guided by `validator`. Both forms come from walks
/// over the value as received, so a union picks the same member for both (re-walking the
/// canonical form could pick another: `300.0` is a float for `v.union(v.int64(), v.number())`,
/// its canonical `300` would be an int64).
pub fn normalize(validator: &Validator, value: &Value) -> Result<Normalized, EncodeError> {
    Ok(Normalized {
        plain: encode(validator, value, &mut String::new(), true, Target::Plain)?,
        convex: to_convex(validator, value)?,
    })
}

/// What a walk produces at a typed leaf: convex-encoded JSON or canonical plain JSON. Which
/// values a leaf accepts never depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Convex,
    Plain,
}

impl Target {
    fn int64(self, n: i64) -> Value {
        match self {
            Target::Convex => encode_int64(n),
            Target::Plain => canonical_int64(n),
        }
    }
}

/// `lenient` allows the agent-friendly spellings (decimal strings and integer-valued doubles for
/// int64). Unions try every branch strictly first so a value that is literally valid for one
/// branch is never reinterpreted.
fn encode(
    validator: &Validator,
    value: &Value,
    path: &mut String,
    lenient: bool,
    target: Target,
) -> Result<Value, EncodeError> {
    let fail = |path: &String, message: String| EncodeError {
        path: path.clone(),
        message,
    };
    match validator {
        Validator::Any => Ok(value.clone()),
        Validator::Null => match value {
            Value::Null => Ok(Value::Null),
            _ => Err(fail(path, "expected null".into())),
        },
        Validator::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err(fail(path, "expected a boolean".into())),
        },
        Validator::String | Validator::Id { .. } => match value {
            Value::String(_) => Ok(value.clone()),
            _ if matches!(validator, Validator::Id { .. }) => {
                Err(fail(path, "expected a document id (string)".into()))
            }
            _ => Err(fail(path, "expected a string".into())),
        },
        Validator::Number => match value {
            Value::Number(n) => Ok(canonical_number(n)),
            _ => Err(fail(path, "expected a number".into())),
        },
        Validator::Int64 => parse_int64(value, lenient)
            .map(|n| target.int64(n))
            .map_err(|m| fail(path, m)),
        Validator::Bytes => match value {
            Value::String(s) => STANDARD
                .decode(s)
                .map(|b| match target {
                    Target::Convex => encode_bytes(&b),
                    Target::Plain => value.clone(),
                })
                .map_err(|e| fail(path, format!("expected base64 bytes: {e}"))),
            _ => Err(fail(path, "expected bytes as a base64 string".into())),
        },
        Validator::Literal(literal) => encode_literal(literal, value, lenient, target)
            .ok_or_else(|| fail(path, format!("expected the literal {literal}"))),
        Validator::Array(item) => {
            let Value::Array(items) = value else {
                return Err(fail(path, "expected an array".into()));
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                out.push(encode(item, v, path, lenient, target)?);
                path.truncate(len);
            }
            Ok(Value::Array(out))
        }
        Validator::Record { keys, values } => {
            let Value::Object(map) = value else {
                return Err(fail(path, "expected an object".into()));
            };
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                let len = path.len();
                path.push('/');
                path.push_str(&escape_pointer(k));
                encode(keys, &Value::String(k.clone()), path, false, target)
                    .map_err(|e| fail(&e.path, format!("key not allowed: {}", e.message)))?;
                out.insert(k.clone(), encode(values, v, path, lenient, target)?);
                path.truncate(len);
            }
            Ok(Value::Object(out))
        }
        Validator::Object(fields) => encode_object(fields, value, path, lenient, target),
        Validator::Union(branches) => {
            for strict_pass in [true, false] {
                if !strict_pass && !lenient {
                    break;
                }
                for branch in branches {
                    let mut scratch = path.clone();
                    if let Ok(v) = encode(branch, value, &mut scratch, !strict_pass, target) {
                        return Ok(v);
                    }
                }
            }
            Err(fail(path, "does not match any member of the union".into()))
        }
    }
}

fn encode_object(
    fields: &[ObjectField],
    value: &Value,
    path: &mut String,
    lenient: bool,
    target: Target,
) -> Result<Value, EncodeError> {
    let Value::Object(map) = value else {
        return Err(EncodeError {
            path: path.clone(),
            message: "expected an object".into(),
        });
    };
    if let Some(extra) = map.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
        return Err(EncodeError {
            path: format!("{path}/{}", escape_pointer(extra)),
            message: "unexpected field".into(),
        });
    }
    let mut out = Map::with_capacity(map.len());
    for field in fields {
        let len = path.len();
        path.push('/');
        path.push_str(&escape_pointer(&field.name));
        match map.get(&field.name) {
            Some(v) => {
                out.insert(
                    field.name.clone(),
                    encode(&field.validator, v, path, lenient, target)?,
                );
            }
            None if field.optional => {}
            None => {
                return Err(EncodeError {
                    path: path.clone(),
                    message: "missing required field".into(),
                });
            }
        }
        path.truncate(len);
    }
    Ok(Value::Object(out))
}

/// The int64 an agent's value spells. Strictly a JSON integer in range; leniently also an
/// integer-valued double of magnitude at most 2^53 − 1 (`300.0`) or a decimal string.
fn parse_int64(value: &Value, lenient: bool) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| lenient.then(|| safe_integer(n)).flatten())
            .ok_or_else(|| format!("expected an integer in the int64 range, got {n}")),
        // Never the string itself in the message: it is the caller's value.
        Value::String(s) if lenient => parse_decimal_int64(s)
            .ok_or_else(|| "expected an int64 decimal string (-?[0-9]+, in range)".into()),
        _ => Err("expected an int64 (integer or decimal string)".into()),
    }
}

/// An integer-valued double of magnitude at most 2^53 − 1, as the integer it is.
fn safe_integer(n: &serde_json::Number) -> Option<i64> {
    match canonical_number(n) {
        Value::Number(m) => m.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER),
        _ => None,
    }
}

/// Whether a plain value is one Convex's int64 accepts (as [`to_convex`] would, leniently).
pub fn is_int64(value: &Value) -> bool {
    parse_int64(value, true).is_ok()
}

/// A literal as it appears in validator JSON (an int64 literal is itself `{"$integer": …}`).
fn encode_literal(literal: &Value, value: &Value, lenient: bool, target: Target) -> Option<Value> {
    if let Some(Value::String(b64)) = literal.get("$integer") {
        let want = decode_int64(b64).ok()?;
        return (parse_int64(value, lenient).ok()? == want).then(|| target.int64(want));
    }
    match (literal, value) {
        (Value::Number(a), Value::Number(b)) => {
            (a.as_f64() == b.as_f64()).then(|| canonical_number(b))
        }
        _ => (literal == value).then(|| value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::spec::Validator;

    fn v(json: Value) -> Validator {
        Validator::from_json(&json).unwrap()
    }

    #[test]
    fn int64_round_trips_at_the_edges() {
        for n in [0, 1, -1, i64::MIN, i64::MAX, 9_007_199_254_740_993] {
            let enc = encode_int64(n);
            assert_eq!(from_convex(enc).unwrap(), json!(n));
        }
        assert_eq!(encode_int64(1), json!({"$integer": "AQAAAAAAAAA="}));
    }

    #[test]
    fn floats_that_json_cannot_hold_use_dollar_float() {
        assert_eq!(encode_float(1.5), json!(1.5));
        assert_eq!(encode_float(f64::NAN), json!({"$float": "AAAAAAAA+H8="}));
        assert_eq!(from_convex(encode_float(f64::NAN)).unwrap(), json!("NaN"));
        assert_eq!(
            from_convex(encode_float(f64::INFINITY)).unwrap(),
            json!("Infinity")
        );
        assert_eq!(
            from_convex(encode_float(f64::NEG_INFINITY)).unwrap(),
            json!("-Infinity")
        );
        let neg_zero = from_convex(encode_float(-0.0)).unwrap();
        assert!(neg_zero.as_f64().unwrap().is_sign_negative());
    }

    #[test]
    fn bytes_round_trip() {
        assert_eq!(encode_bytes(&[0, 1, 255]), json!({"$bytes": "AAH/"}));
        assert_eq!(
            from_convex(json!({"$bytes": "AAH/"})).unwrap(),
            json!("AAH/")
        );
    }

    #[test]
    fn decode_rejects_broken_encodings_with_a_path() {
        let err = from_convex(json!({"a": [{"$integer": "AQ=="}]})).unwrap_err();
        assert_eq!(err.path, "/a/0");
        assert!(from_convex(json!({"$bogus": "x"})).is_err());
    }

    #[test]
    fn type_directed_encoding() {
        let validator = v(json!({"type": "object", "value": {
            "amount": {"fieldType": {"type": "bigint"}, "optional": false},
            "blob": {"fieldType": {"type": "bytes"}, "optional": true},
            "tags": {"fieldType": {"type": "record", "keys": {"type": "string"},
                     "values": {"fieldType": {"type": "bigint"}, "optional": false}}, "optional": true}
        }}));
        let out = to_convex(
            &validator,
            &json!({"amount": "-5", "blob": "aGk=", "tags": {"x": 2}}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"amount": encode_int64(-5), "blob": {"$bytes": "aGk="}, "tags": {"x": encode_int64(2)}})
        );
        let err = to_convex(&validator, &json!({"amount": 1.5})).unwrap_err();
        assert_eq!(err.path, "/amount");
        let err = to_convex(&validator, &json!({})).unwrap_err();
        assert_eq!(
            (err.path.as_str(), err.message.as_str()),
            ("/amount", "missing required field")
        );
        let err = to_convex(&validator, &json!({"amount": 1, "nope": 1})).unwrap_err();
        assert_eq!(err.path, "/nope");
    }

    #[test]
    fn normalization_gives_one_spelling_and_its_encoding() {
        let validator = v(json!({"type": "object", "value": {
            "n": {"fieldType": {"type": "bigint"}, "optional": false},
            "f": {"fieldType": {"type": "number"}, "optional": true},
            "xs": {"fieldType": {"type": "array", "value": {"type": "bigint"}}, "optional": true}
        }}));
        for spelled in [json!("300"), json!(300), json!(300.0)] {
            let got = normalize(&validator, &json!({"n": spelled, "f": 75.0})).unwrap();
            assert_eq!(got.plain, json!({"n": 300, "f": 75}), "{spelled}");
            assert_eq!(got.convex, json!({"n": encode_int64(300), "f": 75}));
        }
        let big = normalize(
            &validator,
            &json!({"n": 9_007_199_254_740_993_i64, "xs": ["-9223372036854775808"]}),
        )
        .unwrap();
        assert_eq!(
            big.plain,
            json!({"n": "9007199254740993", "xs": ["-9223372036854775808"]})
        );
        assert_eq!(big.convex["n"], encode_int64(9_007_199_254_740_993));
        for bad in [
            "3.0",
            "0x10",
            "+5",
            " 5",
            "5 ",
            "",
            "-",
            "9223372036854775808",
        ] {
            let err = normalize(&validator, &json!({"n": bad})).unwrap_err();
            assert_eq!(err.path, "/n", "{bad:?}");
            assert!(bad.len() < 2 || !err.message.contains(bad), "{err}");
        }
        // Beyond 2^53 a double is not taken for an integer.
        assert!(normalize(&validator, &json!({"n": 1e16})).is_err());
    }

    #[test]
    fn normalization_keeps_the_member_the_value_as_received_picked() {
        let validator =
            v(json!({"type": "union", "value": [{"type": "bigint"}, {"type": "number"}]}));
        let got = normalize(&validator, &json!(300.0)).unwrap();
        assert_eq!((got.plain, got.convex), (json!(300), json!(300)));
        let got = normalize(&validator, &json!("300")).unwrap();
        assert_eq!((got.plain, got.convex), (json!(300), encode_int64(300)));
        let negative_zero = normalize(&Validator::Number, &json!(-0.0)).unwrap();
        assert!(negative_zero.plain.as_f64().unwrap().is_sign_negative());
    }

    #[test]
    fn unions_prefer_a_literal_match_over_a_conversion() {
        let validator =
            v(json!({"type": "union", "value": [{"type": "bigint"}, {"type": "string"}]}));
        assert_eq!(to_convex(&validator, &json!("12")).unwrap(), json!("12"));
        assert_eq!(to_convex(&validator, &json!(12)).unwrap(), encode_int64(12));
        let literal = v(json!({"type": "literal", "value": {"$integer": "AgAAAAAAAAA="}}));
        assert_eq!(to_convex(&literal, &json!(2)).unwrap(), encode_int64(2));
        assert!(to_convex(&literal, &json!(3)).is_err());
    }
}

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
    encode(validator, value, &mut String::new(), true)
}

/// `lenient` allows the agent-friendly spellings (decimal strings for int64). Unions try every
/// branch strictly first so a value that is literally valid for one branch is never reinterpreted.
fn encode(
    validator: &Validator,
    value: &Value,
    path: &mut String,
    lenient: bool,
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
            Value::Number(_) => Ok(value.clone()),
            _ => Err(fail(path, "expected a number".into())),
        },
        Validator::Int64 => parse_int64(value, lenient)
            .map(encode_int64)
            .map_err(|m| fail(path, m)),
        Validator::Bytes => match value {
            Value::String(s) => STANDARD
                .decode(s)
                .map(|b| encode_bytes(&b))
                .map_err(|e| fail(path, format!("expected base64 bytes: {e}"))),
            _ => Err(fail(path, "expected bytes as a base64 string".into())),
        },
        Validator::Literal(literal) => encode_literal(literal, value, lenient)
            .ok_or_else(|| fail(path, format!("expected the literal {literal}"))),
        Validator::Array(item) => {
            let Value::Array(items) = value else {
                return Err(fail(path, "expected an array".into()));
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                out.push(encode(item, v, path, lenient)?);
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
                encode(keys, &Value::String(k.clone()), path, false)
                    .map_err(|e| fail(&e.path, format!("key not allowed: {}", e.message)))?;
                out.insert(k.clone(), encode(values, v, path, lenient)?);
                path.truncate(len);
            }
            Ok(Value::Object(out))
        }
        Validator::Object(fields) => encode_object(fields, value, path, lenient),
        Validator::Union(branches) => {
            for strict_pass in [true, false] {
                if !strict_pass && !lenient {
                    break;
                }
                for branch in branches {
                    let mut scratch = path.clone();
                    if let Ok(v) = encode(branch, value, &mut scratch, !strict_pass) {
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
                    encode(&field.validator, v, path, lenient)?,
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

fn parse_int64(value: &Value, lenient: bool) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("expected an integer in the int64 range, got {n}")),
        Value::String(s) if lenient => s
            .parse::<i64>()
            .map_err(|_| format!("expected an int64 decimal string, got {s:?}")),
        _ => Err("expected an int64 (integer or decimal string)".into()),
    }
}

/// A literal as it appears in validator JSON (an int64 literal is itself `{"$integer": …}`).
fn encode_literal(literal: &Value, value: &Value, lenient: bool) -> Option<Value> {
    if let Some(Value::String(b64)) = literal.get("$integer") {
        let want = decode_int64(b64).ok()?;
        return (parse_int64(value, lenient).ok()? == want).then(|| encode_int64(want));
    }
    match (literal, value) {
        (Value::Number(a), Value::Number(b)) => (a.as_f64() == b.as_f64()).then(|| value.clone()),
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

//! JSON values that mean the same in every build: serde_json's private keys.
//!
//! `serde_json` gives some object keys a meaning of their own when a crate in the build enables
//! one of its features: with `raw_value` (which axum enables, and Cargo unifies features across a
//! workspace) an object whose *first* key is `$serde_json::private::RawValue` is read by
//! `serde_json::from_slice::<Value>` as the JSON text held in that member, not as an object.
//! So the same bytes could decode to one value in the gateway and another in a verifier built
//! without the feature, and JCS sorting (`$` comes before letters and digits) can move such a
//! key to the front of an object that had it elsewhere.
//!
//! The ledger therefore refuses any object key starting with [`RESERVED_KEY_PREFIX`]: a draft
//! holding one is refused ([`crate::entry::DraftError::ReservedKey`]) and [`crate::canonical::check`]
//! rejects stored bytes holding one. [`parse_plain`] reads JSON text without any of the magic, so
//! a caller (the gateway, for a client's message) sees such a key and can refuse it precisely
//! with [`find_reserved_key`].
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The prefix of every key `serde_json` reserves for its feature-dependent decodings.
pub const RESERVED_KEY_PREFIX: &str = "$serde_json::private::";

/// Whether `key` is one the ledger refuses.
pub fn is_reserved_key(key: &str) -> bool {
    key.starts_with(RESERVED_KEY_PREFIX)
}

/// Where the first reserved key in `value` is, as a JSON Pointer (RFC 6901) to its member:
/// `/params/arguments/$serde_json::private::RawValue`. `None` when there is none.
pub fn find_reserved_key(value: &Value) -> Option<String> {
    fn walk(value: &Value, path: &mut String) -> bool {
        let len = path.len();
        match value {
            Value::Object(map) => {
                for (key, member) in map {
                    push_token(path, key);
                    if is_reserved_key(key) || walk(member, path) {
                        return true;
                    }
                    path.truncate(len);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push('/');
                    path.push_str(&i.to_string());
                    if walk(item, path) {
                        return true;
                    }
                    path.truncate(len);
                }
            }
            _ => {}
        }
        false
    }
    let mut path = String::new();
    walk(value, &mut path).then_some(path)
}

/// Appends `/token` with RFC 6901 escaping (`~` → `~0`, `/` → `~1`).
pub(crate) fn push_token(path: &mut String, key: &str) {
    path.push('/');
    for c in key.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

/// Parses JSON text into a [`Value`] reading every object as an object, whatever `serde_json`
/// features the build enables (see the module header). Otherwise it is `serde_json::from_slice`:
/// the same syntax errors, the same recursion limit, the last of duplicate keys wins.
pub fn parse_plain(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Plain>(bytes).map(|p| p.0)
}

/// For `#[serde(deserialize_with = …)]` on an `Option<Value>` field: the value read like
/// [`parse_plain`] reads one; `null` is `None`, as for a plain `Option<Value>`.
pub fn deserialize_plain_opt<'de, D: de::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    let value = deserializer.deserialize_any(PlainVisitor)?;
    Ok((!value.is_null()).then_some(value))
}

/// A [`Value`] deserialized by [`PlainVisitor`].
struct Plain(Value);

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PlainVisitor).map(Plain)
    }
}

/// `serde_json`'s own value visitor without its key classification.
struct PlainVisitor;

impl<'de> Visitor<'de> for PlainVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // The JSON parser never yields a non-finite number; `Null` mirrors serde_json's `Value`.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(PlainVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Plain(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some((key, Plain(value))) = access.next_entry::<String, Plain>()? {
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RAW: &str = "$serde_json::private::RawValue";

    #[test]
    fn parse_plain_keeps_reserved_keys_as_keys() {
        let text = format!(r#"{{"{RAW}":"{{\"a\":1}}"}}"#);
        assert_eq!(
            parse_plain(text.as_bytes()).unwrap(),
            json!({RAW: "{\"a\":1}"})
        );
        // Escaped spellings are the same key.
        let escaped = r#"{"\u0024serde_json::private::RawValue":5}"#;
        assert_eq!(parse_plain(escaped.as_bytes()).unwrap(), json!({RAW: 5}));
    }

    #[test]
    fn parse_plain_reads_everything_else_like_serde_json() {
        for text in [
            r#"{"b":[1,-2,3.5,1e300,18446744073709551615,true,null,"x"],"a":{"c":{}}}"#,
            r#"{"a":1,"a":2}"#,
            r#"[]"#,
            r#""\ud83d\ude00""#,
        ] {
            let reference: Value = serde_json::from_str(text).unwrap();
            let plain = parse_plain(text.as_bytes()).unwrap();
            assert_eq!(plain, reference, "{text}");
            assert_eq!(
                serde_json::to_string(&plain).unwrap(),
                serde_json::to_string(&reference).unwrap(),
                "member order of {text}"
            );
        }
        for bad in ["", "{", r#"{"a":1,}"#, "[1] x", "\u{feff}{}", "nul"] {
            let expected = serde_json::from_str::<Value>(bad).unwrap_err().to_string();
            let got = parse_plain(bad.as_bytes()).unwrap_err().to_string();
            assert_eq!(got, expected, "{bad:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(
            parse_plain(deep.as_bytes()).is_err(),
            "same recursion limit"
        );
    }

    #[test]
    fn find_reserved_key_names_the_first_one_as_a_json_pointer() {
        assert_eq!(find_reserved_key(&json!({"a": [1, {"b/~": 2}]})), None);
        let v = json!({"a": [1, {"b/~": {"x": 1, RAW: 2}}]});
        assert_eq!(
            find_reserved_key(&v).as_deref(),
            Some("/a/1/b~1~0/$serde_json::private::RawValue")
        );
        let v = json!({"$serde_json::private::Number": "1"});
        assert_eq!(
            find_reserved_key(&v).as_deref(),
            Some("/$serde_json::private::Number")
        );
        assert!(!is_reserved_key("$serde_json::privat"));
    }
}

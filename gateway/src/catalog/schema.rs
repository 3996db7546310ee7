//! Convex validators → JSON Schema (2020-12), the `inputSchema`/`outputSchema` agents see.
//!
//! | Convex validator | JSON Schema |
//! |---|---|
//! | `v.null()` | `{"type": "null"}` |
//! | `v.number()` / `v.float64()` | `{"type": "number"}` |
//! | `v.int64()` | `{"type": ["integer", "string"], "format": "int64"}` (decimal strings accepted) |
//! | `v.boolean()` | `{"type": "boolean"}` |
//! | `v.string()` | `{"type": "string"}` |
//! | `v.bytes()` | `{"type": "string", "contentEncoding": "base64"}` |
//! | `v.any()` | `{}` |
//! | `v.literal(x)` | `{"const": x}` (an int64 literal becomes its integer) |
//! | `v.id("t")` | `{"type": "string", "description": "Id of a document in table \"t\""}` |
//! | `v.array(T)` | `{"type": "array", "items": T}` |
//! | `v.record(K, V)` | `{"type": "object", "additionalProperties": V}` (+ `propertyNames` unless K is `v.string()`) |
//! | `v.object({...})` | `properties`, `required` (non-optional fields), `additionalProperties: false` |
//! | `v.optional(T)` | the field is left out of `required` |
//! | `v.union(A, B)` | `{"anyOf": [A, B]}`; a union of string/number/boolean literals is `{"enum": [...]}` |
//!
//! `format: int64` and `contentEncoding: base64` are asserted by [`crate::validate`], matching
//! what Convex itself would accept after the gateway's re-encoding.
use serde_json::{Map, Value, json};

use super::spec::Validator;
use crate::upstream::convex::codec::decode_int64;

pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The schema of one value.
pub fn to_json_schema(validator: &Validator) -> Value {
    match validator {
        Validator::Null => json!({"type": "null"}),
        Validator::Number => json!({"type": "number"}),
        Validator::Int64 => json!({
            "type": ["integer", "string"],
            "format": "int64",
            "description": "64-bit integer: a JSON integer or a decimal string"
        }),
        Validator::Boolean => json!({"type": "boolean"}),
        Validator::String => json!({"type": "string"}),
        Validator::Bytes => json!({
            "type": "string",
            "contentEncoding": "base64",
            "description": "bytes, base64-encoded"
        }),
        Validator::Any => json!({}),
        Validator::Literal(v) => json!({"const": literal_value(v)}),
        Validator::Id { table } => json!({
            "type": "string",
            "description": format!("Id of a document in table \"{table}\"")
        }),
        Validator::Array(item) => json!({"type": "array", "items": to_json_schema(item)}),
        Validator::Record { keys, values } => {
            let mut schema = Map::new();
            schema.insert("type".into(), json!("object"));
            if **keys != Validator::String {
                schema.insert("propertyNames".into(), to_json_schema(keys));
            }
            schema.insert("additionalProperties".into(), to_json_schema(values));
            Value::Object(schema)
        }
        Validator::Object(fields) => {
            let mut properties = Map::new();
            let mut required = Vec::new();
            for f in fields {
                properties.insert(f.name.clone(), to_json_schema(&f.validator));
                if !f.optional {
                    required.push(Value::String(f.name.clone()));
                }
            }
            let mut schema = Map::new();
            schema.insert("type".into(), json!("object"));
            schema.insert("properties".into(), Value::Object(properties));
            if !required.is_empty() {
                schema.insert("required".into(), Value::Array(required));
            }
            schema.insert("additionalProperties".into(), json!(false));
            Value::Object(schema)
        }
        Validator::Union(members) => {
            let plain_literals: Option<Vec<Value>> = members
                .iter()
                .map(|m| match m {
                    Validator::Literal(v) if !v.is_object() => Some(v.clone()),
                    _ => None,
                })
                .collect();
            match plain_literals {
                Some(values) if !values.is_empty() => json!({"enum": values}),
                _ => json!({"anyOf": members.iter().map(to_json_schema).collect::<Vec<_>>()}),
            }
        }
    }
}

fn literal_value(v: &Value) -> Value {
    match v.get("$integer").and_then(Value::as_str).map(decode_int64) {
        Some(Ok(n)) => json!(n),
        _ => v.clone(),
    }
}

/// A tool's `inputSchema`: always `type: object` (MCP requires it), with the 2020-12 dialect.
pub fn input_schema(args: &Validator) -> Value {
    let mut schema = match args {
        Validator::Object(_) => to_json_schema(args),
        // `v.any()` args (functions declared without validators) take any object.
        _ => json!({"type": "object"}),
    };
    if let Value::Object(map) = &mut schema {
        map.insert("$schema".into(), json!(DIALECT));
    }
    schema
}

/// A tool's `outputSchema`. MCP's `structuredContent` must be an object, so a function whose
/// `returns` is not an object validator has its result wrapped as `{"value": …}`.
pub fn output_schema(returns: &Validator) -> (Value, bool) {
    let (mut schema, wrapped) = match returns {
        Validator::Object(_) => (to_json_schema(returns), false),
        other => (
            json!({
                "type": "object",
                "properties": {"value": to_json_schema(other)},
                "required": ["value"],
                "additionalProperties": false
            }),
            true,
        ),
    };
    if let Value::Object(map) = &mut schema {
        map.insert("$schema".into(), json!(DIALECT));
    }
    (schema, wrapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_of(validator: Value) -> Value {
        to_json_schema(&Validator::from_json(&validator).unwrap())
    }

    #[test]
    fn every_validator_kind() {
        assert_eq!(schema_of(json!({"type": "null"})), json!({"type": "null"}));
        assert_eq!(
            schema_of(json!({"type": "number"})),
            json!({"type": "number"})
        );
        assert_eq!(
            schema_of(json!({"type": "boolean"})),
            json!({"type": "boolean"})
        );
        assert_eq!(
            schema_of(json!({"type": "string"})),
            json!({"type": "string"})
        );
        assert_eq!(schema_of(json!({"type": "any"})), json!({}));
        assert_eq!(schema_of(json!({"type": "bigint"}))["format"], "int64");
        assert_eq!(
            schema_of(json!({"type": "bytes"}))["contentEncoding"],
            "base64"
        );
        assert_eq!(
            schema_of(json!({"type": "literal", "value": "x"})),
            json!({"const": "x"})
        );
        assert_eq!(
            schema_of(json!({"type": "literal", "value": {"$integer": "AgAAAAAAAAA="}})),
            json!({"const": 2})
        );
        assert_eq!(
            schema_of(json!({"type": "id", "tableName": "t"}))["description"],
            "Id of a document in table \"t\""
        );
        assert_eq!(
            schema_of(json!({"type": "array", "value": {"type": "string"}})),
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert_eq!(
            schema_of(json!({"type": "record", "keys": {"type": "string"},
                "values": {"fieldType": {"type": "number"}, "optional": false}})),
            json!({"type": "object", "additionalProperties": {"type": "number"}})
        );
        assert_eq!(
            schema_of(
                json!({"type": "record", "keys": {"type": "id", "tableName": "t"},
                "values": {"fieldType": {"type": "number"}, "optional": false}})
            )["propertyNames"]["type"],
            "string"
        );
        assert_eq!(
            schema_of(json!({"type": "object", "value": {
                "a": {"fieldType": {"type": "string"}, "optional": false},
                "b": {"fieldType": {"type": "string"}, "optional": true}}})),
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                   "required": ["a"], "additionalProperties": false})
        );
        assert_eq!(
            schema_of(
                json!({"type": "union", "value": [{"type": "literal", "value": "a"},
                {"type": "literal", "value": "b"}]})
            ),
            json!({"enum": ["a", "b"]})
        );
        assert_eq!(
            schema_of(json!({"type": "union", "value": [{"type": "string"}, {"type": "null"}]})),
            json!({"anyOf": [{"type": "string"}, {"type": "null"}]})
        );
    }

    #[test]
    fn output_schema_wraps_non_objects() {
        let (schema, wrapped) = output_schema(&Validator::Number);
        assert!(wrapped);
        assert_eq!(schema["properties"]["value"], json!({"type": "number"}));
        assert_eq!(input_schema(&Validator::Any)["type"], "object");
    }
}

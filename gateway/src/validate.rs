//! Argument validation against a tool's `inputSchema`, before any upstream call.
//!
//! A focused JSON Schema 2020-12 validator for exactly the keywords the catalog emits
//! (`type`, `properties`, `required`, `additionalProperties`, `propertyNames`, `items`, `anyOf`,
//! `enum`, `const`, `minimum`, `maximum`, `minLength`), plus two assertions Convex makes that
//! 2020-12 treats as annotations: `format: "int64"` and `contentEncoding: "base64"`. Unknown
//! keywords are ignored, as the spec says. Every error names the offending field by JSON Pointer.
//! [`normalize_args`] then gives valid arguments their one canonical spelling.
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::catalog::spec::Validator;
use crate::upstream::convex::codec::{self, Normalized, escape_pointer};

const INT64: &str = "must be a 64-bit integer (a JSON integer or a decimal string)";

/// One violation: where (`/lineItems/0/unitPriceCents`) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", if path.is_empty() { "arguments" } else { path.as_str() })]
pub struct ValidationError {
    pub path: String,
    pub message: String,
}

/// Validates `value` against `schema`; returns every violation found (empty = valid).
pub fn validate(schema: &Value, value: &Value) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    check(schema, value, &mut String::new(), &mut errors);
    errors
}

/// Validates and joins the violations into one message for the agent.
pub fn validate_args(schema: &Value, value: &Value) -> Result<(), Vec<ValidationError>> {
    let errors = validate(schema, value);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Validates a call's arguments against the tool's `inputSchema`, then normalizes them by the
/// function's Convex validator (`docs/convex-upstream.md`, "Normalized arguments"): the one form
/// the policy decides on, the ledger records and Convex receives. A tool without a validator (a
/// data tool) keeps its arguments as they are, with no Convex encoding (`convex` is `null`).
pub fn normalize_args(
    schema: &Value,
    validator: Option<&Validator>,
    args: &Value,
) -> Result<Normalized, Vec<ValidationError>> {
    validate_args(schema, args)?;
    let Some(validator) = validator else {
        return Ok(Normalized {
            plain: args.clone(),
            convex: Value::Null,
        });
    };
    codec::normalize(validator, args).map_err(|e| {
        vec![ValidationError {
            path: e.path,
            message: e.message,
        }]
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    let actual = json_type(value);
    expected == actual || (expected == "number" && actual == "integer")
}

/// `const`/`enum` equality: numbers by value, and an integer equals its decimal string (the
/// spelling an int64 literal beyond 2^53 − 1 takes once normalized).
fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            n.as_i64().is_some() && n.as_i64() == codec::parse_decimal_int64(s)
        }
        _ => a == b,
    }
}

fn check(schema: &Value, value: &Value, path: &mut String, errors: &mut Vec<ValidationError>) {
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            push(errors, path, "no value is allowed here".into());
        }
        return;
    };
    let before = errors.len();
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(s) => type_matches(s, value),
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .any(|s| type_matches(s, value)),
            _ => true,
        };
        if !ok {
            let expected = match t {
                Value::Array(ts) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" or "),
                other => other.as_str().unwrap_or("?").to_string(),
            };
            push(
                errors,
                path,
                format!("expected {expected}, got {}", json_type(value)),
            );
            return;
        }
    }
    if let Some(c) = schema.get("const")
        && !numbers_equal(c, value)
    {
        push(errors, path, format!("must be {c}"));
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.iter().any(|o| numbers_equal(o, value))
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        push(errors, path, format!("must be one of {}", list.join(", ")));
    }
    check_format(schema, value, path, errors);
    check_number_bounds(schema, value, path, errors);
    if let (Some(min), Value::String(s)) = (schema.get("minLength").and_then(Value::as_u64), value)
        && (s.chars().count() as u64) < min
    {
        push(errors, path, format!("must be at least {min} characters"));
    }
    if let Value::Object(map) = value {
        check_object(schema, map, path, errors);
    }
    if let (Some(items), Value::Array(values)) = (schema.get("items"), value) {
        for (i, v) in values.iter().enumerate() {
            let len = path.len();
            path.push_str(&format!("/{i}"));
            check(items, v, path, errors);
            path.truncate(len);
        }
    }
    if let Some(Value::Array(branches)) = schema.get("anyOf") {
        let mut best: Option<Vec<ValidationError>> = None;
        for branch in branches {
            let mut branch_errors = Vec::new();
            check(branch, value, &mut path.clone(), &mut branch_errors);
            if branch_errors.is_empty() {
                best = None;
                break;
            }
            // Report the branch that got furthest (its errors are deepest in the value).
            let depth = |errs: &[ValidationError]| errs.iter().map(|e| e.path.len()).max();
            if best
                .as_ref()
                .is_none_or(|b| depth(&branch_errors) > depth(b))
            {
                best = Some(branch_errors);
            }
        }
        if let Some(branch_errors) = best {
            let deeper = branch_errors.iter().any(|e| e.path.len() > path.len());
            if deeper {
                errors.extend(branch_errors);
            } else {
                push(errors, path, "does not match any allowed shape".into());
            }
        }
    }
    let _ = before;
}

fn check_object(
    schema: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &mut String,
    errors: &mut Vec<ValidationError>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(name) {
                push(
                    errors,
                    &format!("{path}/{}", escape_pointer(name)),
                    "missing required field".into(),
                );
            }
        }
    }
    for (key, v) in map {
        let len = path.len();
        path.push('/');
        path.push_str(&escape_pointer(key));
        if let Some(names) = schema.get("propertyNames") {
            let mut key_errors = Vec::new();
            check(
                names,
                &Value::String(key.clone()),
                &mut path.clone(),
                &mut key_errors,
            );
            if !key_errors.is_empty() {
                push(errors, path, "field name not allowed".into());
            }
        }
        match properties.and_then(|p| p.get(key)) {
            Some(s) => check(s, v, path, errors),
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => push(errors, path, "unexpected field".into()),
                Some(s @ Value::Object(_)) => check(s, v, path, errors),
                _ => {}
            },
        }
        path.truncate(len);
    }
}

fn check_format(
    schema: &Map<String, Value>,
    value: &Value,
    path: &str,
    errors: &mut Vec<ValidationError>,
) {
    if schema.get("format").and_then(Value::as_str) == Some("int64")
        && matches!(value, Value::Number(_) | Value::String(_))
        && !codec::is_int64(value)
    {
        push(errors, path, INT64.into());
    }
    if schema.get("contentEncoding").and_then(Value::as_str) == Some("base64")
        && let Value::String(s) = value
        && STANDARD.decode(s).is_err()
    {
        push(errors, path, "must be base64".into());
    }
}

fn check_number_bounds(
    schema: &Map<String, Value>,
    value: &Value,
    path: &str,
    errors: &mut Vec<ValidationError>,
) {
    let Some(n) = value.as_f64() else { return };
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && n < min
    {
        push(errors, path, format!("must be at least {min}"));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
        && n > max
    {
        push(errors, path, format!("must be at most {max}"));
    }
}

fn push(errors: &mut Vec<ValidationError>, path: &str, message: String) {
    errors.push(ValidationError {
        path: path.to_string(),
        message,
    });
}

/// Joins violations for a `tools/call` error result.
pub fn describe(errors: &[ValidationError]) -> String {
    let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("Invalid arguments: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_wrong_field() {
        let schema = json!({"type": "object", "properties": {
            "items": {"type": "array", "items": {"type": "object",
                "properties": {"price": {"type": ["integer", "string"], "format": "int64"}},
                "required": ["price"], "additionalProperties": false}}},
            "required": ["items"], "additionalProperties": false});
        assert!(validate(&schema, &json!({"items": [{"price": "12"}, {"price": 3}]})).is_empty());
        let errs = validate(&schema, &json!({"items": [{"price": 1.5}]}));
        assert_eq!(errs[0].path, "/items/0/price");
        let errs = validate(&schema, &json!({"items": [{}], "extra": 1}));
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/items/0/price", "/extra"]);
        let errs = validate(&schema, &json!({"items": [{"price": "12x"}]}));
        assert_eq!(
            errs[0].to_string(),
            "/items/0/price: must be a 64-bit integer (a JSON integer or a decimal string)"
        );
        for bad in ["3.0", "0x10", "+5", " 5", "9223372036854775808"] {
            let errs = validate(&schema, &json!({"items": [{"price": bad}]}));
            assert_eq!(errs[0].message, INT64, "{bad:?}");
        }
    }

    #[test]
    fn normalized_arguments_still_pass_their_schema() {
        // An int64 literal beyond 2^53 − 1: its schema is the integer, its normalized spelling
        // the decimal string.
        let literal = Validator::from_json(&json!({"type": "object", "value": {
            "n": {"fieldType": {"type": "literal", "value": {"$integer": "AQAAAAAAIAA="}},
                  "optional": false}}}))
        .unwrap();
        let schema = crate::catalog::schema::input_schema(&literal);
        let args = json!({"n": 9_007_199_254_740_993_i64});
        let normalized = normalize_args(&schema, Some(&literal), &args).unwrap();
        assert_eq!(normalized.plain, json!({"n": "9007199254740993"}));
        assert!(validate(&schema, &normalized.plain).is_empty());
    }

    #[test]
    fn any_of_reports_the_closest_branch() {
        let schema = json!({"anyOf": [
            {"type": "object", "properties": {"kind": {"const": "a"}, "n": {"type": "number"}},
             "required": ["kind", "n"], "additionalProperties": false},
            {"type": "null"}]});
        assert!(validate(&schema, &Value::Null).is_empty());
        let errs = validate(&schema, &json!({"kind": "a", "n": "x"}));
        assert_eq!(errs[0].path, "/n");
        let errs = validate(&schema, &json!(3));
        assert_eq!(errs[0].message, "does not match any allowed shape");
    }
}

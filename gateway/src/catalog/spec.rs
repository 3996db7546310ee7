//! The deployment's function spec: the JSON `npx convex function-spec` prints (the system query
//! `_system/cli/modules:apiSpec` wrapped in `{"url", "functions"}`), parsed into typed values.
//!
//! ```json
//! {"url": "https://…", "functions": [{"identifier": "invoices.js:refund",
//!   "functionType": "Mutation", "visibility": {"kind": "public"},
//!   "args": {"type": "object", "value": {"amountCents": {"fieldType": {"type": "bigint"},
//!            "optional": false}}},
//!   "returns": null}]}
//! ```
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("function spec is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("function {identifier}: {message}")]
    Function { identifier: String, message: String },
    #[error("validator at {path}: {message}")]
    Validator { path: String, message: String },
}

/// The kind of a Convex function, as the spec names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
pub enum FunctionKind {
    Query,
    Mutation,
    Action,
    HttpAction,
}

impl FunctionKind {
    /// The `/api/<endpoint>` that runs this kind (HTTP actions are not callable there).
    pub fn endpoint(self) -> Option<&'static str> {
        match self {
            Self::Query => Some("query"),
            Self::Mutation => Some("mutation"),
            Self::Action => Some("action"),
            Self::HttpAction => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Mutation => "mutation",
            Self::Action => "action",
            Self::HttpAction => "httpAction",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Internal,
}

/// One function of the deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// Canonical path, `dir/file:export` (the spec's `dir/file.js:export` without `.js`).
    pub path: String,
    /// The identifier exactly as the spec spelled it.
    pub identifier: String,
    pub kind: FunctionKind,
    pub visibility: Visibility,
    pub args: Validator,
    pub returns: Option<Validator>,
}

/// A Convex validator, from its JSON export (`validator.json` / `exportArgs()`).
#[derive(Debug, Clone, PartialEq)]
pub enum Validator {
    Null,
    /// float64
    Number,
    /// int64 (`v.int64()`, exported as `"bigint"`)
    Int64,
    Boolean,
    String,
    Bytes,
    Any,
    /// A literal: string, number, boolean, or an int64 as `{"$integer": …}`.
    Literal(Value),
    Id {
        table: String,
    },
    Array(Box<Validator>),
    Record {
        keys: Box<Validator>,
        values: Box<Validator>,
    },
    Object(Vec<ObjectField>),
    Union(Vec<Validator>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectField {
    pub name: String,
    pub validator: Validator,
    pub optional: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpecFile {
    #[serde(default)]
    url: Option<String>,
    functions: Vec<RawFunction>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFunction {
    identifier: String,
    function_type: FunctionKind,
    visibility: RawVisibility,
    #[serde(default)]
    args: Option<Value>,
    #[serde(default)]
    returns: Option<Value>,
}

#[derive(Deserialize)]
struct RawVisibility {
    kind: Visibility,
}

/// A parsed function spec.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpecFile {
    pub url: Option<String>,
    pub functions: Vec<FunctionSpec>,
}

impl FunctionSpecFile {
    /// Parses the `npx convex function-spec` output, or the bare array `apiSpec` returns.
    pub fn parse(json: &[u8]) -> Result<Self, SpecError> {
        Self::from_value(auditgate_ledger::json::parse_plain(json)?)
    }

    pub fn from_value(value: Value) -> Result<Self, SpecError> {
        let raw: RawSpecFile = if value.is_array() {
            RawSpecFile {
                url: None,
                functions: serde_json::from_value(value)?,
            }
        } else {
            serde_json::from_value(value)?
        };
        let mut functions = Vec::with_capacity(raw.functions.len());
        for f in raw.functions {
            let fail = |message: String| SpecError::Function {
                identifier: f.identifier.clone(),
                message,
            };
            let path = canonical_path(&f.identifier).map_err(fail)?;
            let args = match &f.args {
                None | Some(Value::Null) => Validator::Any,
                Some(v) => Validator::from_json(v).map_err(|e| fail(e.to_string()))?,
            };
            let returns = match &f.returns {
                None | Some(Value::Null) => None,
                Some(v) => Some(Validator::from_json(v).map_err(|e| fail(e.to_string()))?),
            };
            functions.push(FunctionSpec {
                path,
                identifier: f.identifier,
                kind: f.function_type,
                visibility: f.visibility.kind,
                args,
                returns,
            });
        }
        Ok(Self {
            url: raw.url,
            functions,
        })
    }
}

/// `dir/file.js:export` → `dir/file:export`; a path without `:` names the `default` export.
pub fn canonical_path(identifier: &str) -> Result<String, String> {
    let (module, export) = identifier
        .split_once(':')
        .unwrap_or((identifier, "default"));
    let module = module.strip_suffix(".js").unwrap_or(module);
    let valid_module = !module.is_empty()
        && !module.split('/').any(str::is_empty)
        && module
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.'));
    let valid_export = !export.is_empty()
        && export
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$'));
    if !valid_module || !valid_export {
        return Err(format!("not a Convex function path: {identifier:?}"));
    }
    Ok(format!("{module}:{export}"))
}

impl Validator {
    pub fn from_json(value: &Value) -> Result<Self, SpecError> {
        parse_validator(value, "")
    }

    /// The object fields when this is an object validator.
    pub fn fields(&self) -> Option<&[ObjectField]> {
        match self {
            Self::Object(fields) => Some(fields),
            _ => None,
        }
    }
}

fn parse_validator(value: &Value, path: &str) -> Result<Validator, SpecError> {
    let fail = |message: &str| SpecError::Validator {
        path: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
        message: message.into(),
    };
    // Bare strings (`"string"`) are accepted too: older exports and hand-written fixtures use them.
    let (kind, obj) = match value {
        Value::String(s) => (s.as_str(), None),
        Value::Object(map) => (
            map.get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| fail("missing \"type\""))?,
            Some(map),
        ),
        _ => return Err(fail("expected an object with \"type\"")),
    };
    let field = |name: &str| {
        obj.and_then(|m| m.get(name))
            .ok_or_else(|| fail(&format!("{kind} validator needs \"{name}\"")))
    };
    Ok(match kind {
        "null" => Validator::Null,
        "number" | "float64" => Validator::Number,
        "bigint" | "int64" => Validator::Int64,
        "boolean" => Validator::Boolean,
        "string" => Validator::String,
        "bytes" => Validator::Bytes,
        "any" => Validator::Any,
        "literal" => Validator::Literal(field("value")?.clone()),
        "id" => Validator::Id {
            table: field("tableName")?
                .as_str()
                .ok_or_else(|| fail("tableName must be a string"))?
                .to_string(),
        },
        "array" => Validator::Array(Box::new(parse_validator(
            field("value")?,
            &format!("{path}/items"),
        )?)),
        "record" => {
            let values = field("values")?;
            let values = values.get("fieldType").unwrap_or(values);
            Validator::Record {
                keys: Box::new(parse_validator(field("keys")?, &format!("{path}/keys"))?),
                values: Box::new(parse_validator(values, &format!("{path}/values"))?),
            }
        }
        "object" => {
            let map = field("value")?
                .as_object()
                .ok_or_else(|| fail("object validator value must be an object"))?;
            let mut fields = Vec::with_capacity(map.len());
            for (name, f) in map {
                let field_path = format!("{path}/{name}");
                let validator = parse_validator(
                    f.get("fieldType")
                        .ok_or_else(|| fail(&format!("field {name} needs \"fieldType\"")))?,
                    &field_path,
                )?;
                fields.push(ObjectField {
                    name: name.clone(),
                    validator,
                    optional: f.get("optional").and_then(Value::as_bool).unwrap_or(false),
                });
            }
            Validator::Object(fields)
        }
        "union" => {
            let members = field("value")?
                .as_array()
                .ok_or_else(|| fail("union value must be an array"))?;
            Validator::Union(
                members
                    .iter()
                    .enumerate()
                    .map(|(i, m)| parse_validator(m, &format!("{path}/anyOf/{i}")))
                    .collect::<Result<_, _>>()?,
            )
        }
        other => return Err(fail(&format!("unknown validator type {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_paths() {
        assert_eq!(canonical_path("messages.js:list").unwrap(), "messages:list");
        assert_eq!(canonical_path("messages:list").unwrap(), "messages:list");
        assert_eq!(canonical_path("messages").unwrap(), "messages:default");
        assert_eq!(canonical_path("a/b.js:c").unwrap(), "a/b:c");
        assert!(canonical_path("a//b:c").is_err());
        assert!(canonical_path("a:b c").is_err());
    }

    #[test]
    fn parses_both_spec_shapes() {
        let f = json!([{"identifier": "a.js:b", "functionType": "Query",
            "visibility": {"kind": "internal"}, "args": {"type": "any"}, "returns": null}]);
        let spec = FunctionSpecFile::from_value(f.clone()).unwrap();
        assert_eq!(spec.functions[0].path, "a:b");
        assert_eq!(spec.functions[0].visibility, Visibility::Internal);
        let wrapped = FunctionSpecFile::from_value(json!({"url": "u", "functions": f})).unwrap();
        assert_eq!(wrapped.url.as_deref(), Some("u"));
    }

    #[test]
    fn unknown_validator_names_its_path() {
        let err = Validator::from_json(&json!({"type": "object", "value": {
            "x": {"fieldType": {"type": "array", "value": {"type": "wat"}}, "optional": false}}}))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "validator at /x/items: unknown validator type \"wat\""
        );
    }
}

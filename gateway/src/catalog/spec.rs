//! The deployment's function spec: the JSON `npx convex function-spec` prints (the system query
//! `_system/cli/modules:apiSpec` wrapped in `{"url", "functions"}`), parsed into typed values.
//!
//! ```json
//! {"url": "https://…", "functions": [{"identifier": "invoices.js:refund",
//!   "functionType": "Mutation", "visibility": {"kind": "public"},
//!   "args": {"type": "object", "value": {"amountCents": {"fieldType": {"type": "bigint"},
//!            "optional": false}}},
//!   "returns": null},
//!   {"functionType": "HttpAction", "method": "POST", "path": "/webhook"}]}
//! ```
//!
//! The backend emits two entry shapes (convex-backend
//! `npm-packages/system-udfs/convex/_system/cli/modules.ts`): a function (`identifier`,
//! `functionType` one of `Query`, `Mutation`, `Action`, `HttpAction`, `visibility`, `args`,
//! `returns`) and an HTTP route (`functionType: "HttpAction"`, `method`, `path`, no
//! `identifier`). Routes are kept apart ([`FunctionSpecFile::http_routes`]); an entry of any
//! other shape, or a function whose validators cannot be read, is kept in
//! [`FunctionSpecFile::skipped`] with the reason, never a failed spec (docs/convex-upstream.md §2).
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Not JSON, or not an array of entries (the one failure that refuses the whole spec).
    #[error("function spec is not valid JSON: {0}")]
    Json(serde_json::Error),
    #[error("function spec must be an array of entries or {{\"url\", \"functions\": [...]}}")]
    Shape,
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

impl From<serde_json::Error> for SpecError {
    fn from(e: serde_json::Error) -> Self {
        // Not `#[from]`: that would make the error its own source and print its message twice.
        Self::Json(e)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFunction {
    identifier: String,
    #[serde(alias = "function_type")]
    function_type: FunctionKind,
    /// Older backends omit it for public functions.
    #[serde(default)]
    visibility: Option<RawVisibility>,
    #[serde(default)]
    args: Option<Value>,
    #[serde(default)]
    returns: Option<Value>,
}

#[derive(Deserialize)]
struct RawVisibility {
    kind: Visibility,
}

#[derive(Deserialize)]
struct RawHttpRoute {
    method: String,
    path: String,
}

/// An HTTP route of the deployment's `http.ts` router: not callable through the function API,
/// so never a tool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HttpRoute {
    pub method: String,
    pub path: String,
}

/// An entry of the spec that is not part of the catalog, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedEntry {
    /// The entry's `identifier` when it has one, else its position (`entry 3`).
    pub entry: String,
    pub reason: String,
}

/// A parsed function spec.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpecFile {
    pub url: Option<String>,
    pub functions: Vec<FunctionSpec>,
    pub http_routes: Vec<HttpRoute>,
    pub skipped: Vec<SkippedEntry>,
}

impl FunctionSpecFile {
    /// Parses the `npx convex function-spec` output, or the bare array `apiSpec` returns.
    pub fn parse(json: &[u8]) -> Result<Self, SpecError> {
        Self::from_value(auditgate_ledger::json::parse_plain(json)?)
    }

    pub fn from_value(value: Value) -> Result<Self, SpecError> {
        let (url, entries) = match value {
            Value::Array(entries) => (None, entries),
            Value::Object(mut map) => {
                let url = match map.remove("url") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(u)) => Some(u),
                    Some(_) => return Err(SpecError::Shape),
                };
                match map.remove("functions") {
                    Some(Value::Array(entries)) => (url, entries),
                    _ => return Err(SpecError::Shape),
                }
            }
            _ => return Err(SpecError::Shape),
        };
        let mut spec = Self {
            url,
            functions: Vec::with_capacity(entries.len()),
            http_routes: Vec::new(),
            skipped: Vec::new(),
        };
        for (i, entry) in entries.into_iter().enumerate() {
            match parse_entry(entry) {
                Ok(Entry::Function(f)) => spec.functions.push(f),
                Ok(Entry::Route(r)) => spec.http_routes.push(r),
                Err((name, reason)) => spec.skipped.push(SkippedEntry {
                    entry: name.unwrap_or_else(|| format!("entry {i}")),
                    reason,
                }),
            }
        }
        Ok(spec)
    }
}

enum Entry {
    Function(FunctionSpec),
    Route(HttpRoute),
}

/// One `apiSpec` entry; on failure the entry's identifier (if it has one) and why it was skipped.
fn parse_entry(entry: Value) -> Result<Entry, (Option<String>, String)> {
    let identifier = entry
        .get("identifier")
        .and_then(Value::as_str)
        .map(str::to_string);
    let kind = entry
        .get("functionType")
        .or_else(|| entry.get("function_type"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if identifier.is_none() && kind.as_deref() == Some("HttpAction") {
        let route: RawHttpRoute =
            serde_json::from_value(entry).map_err(|e| (None, format!("HTTP route: {e}")))?;
        return Ok(Entry::Route(HttpRoute {
            method: route.method,
            path: route.path,
        }));
    }
    let f: RawFunction = serde_json::from_value(entry).map_err(|e| {
        let reason = match &kind {
            Some(k) if !matches!(k.as_str(), "Query" | "Mutation" | "Action" | "HttpAction") => {
                format!("unknown entry kind {k:?}")
            }
            _ => e.to_string(),
        };
        (identifier.clone(), reason)
    })?;
    let fail = |message: String| (Some(f.identifier.clone()), message);
    let path = canonical_path(&f.identifier).map_err(fail)?;
    let args = match &f.args {
        None | Some(Value::Null) => Validator::Any,
        Some(v) => Validator::from_json(v).map_err(|e| fail(e.to_string()))?,
    };
    let returns = match &f.returns {
        None | Some(Value::Null) => None,
        Some(v) => Some(Validator::from_json(v).map_err(|e| fail(e.to_string()))?),
    };
    Ok(Entry::Function(FunctionSpec {
        path,
        identifier: f.identifier,
        kind: f.function_type,
        visibility: f.visibility.map_or(Visibility::Public, |v| v.kind),
        args,
        returns,
    }))
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

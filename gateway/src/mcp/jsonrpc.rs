//! JSON-RPC 2.0 framing for MCP: one message from bytes (an HTTP body or one stdio line) into a
//! typed [`Message`], the raw bytes kept for the ledger, and back to one compact line.
//!
//! Rules (MCP 2025-06-18 and later): exactly one object per frame (batches were removed),
//! `"jsonrpc": "2.0"`, ids are strings or integers (never `null`, never fractional), `params` is an
//! object or array when present. Error responses may carry no id (`null` or absent), as JSON-RPC
//! allows for errors about unreadable requests.
use auditgate_ledger::json;
use serde_json::{Map, Value};

/// The JSON-RPC error codes the gateway uses.
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid JSON-RPC message.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: i64 = -32603;
}

/// A request id: a string or an integer. `null` and fractional numbers are refused; integers
/// outside `i64` too (they cannot round-trip through every client's number type).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    Int(i64),
    Str(String),
}

impl Id {
    fn from_value(value: &Value) -> Option<Id> {
        match value {
            Value::String(s) => Some(Id::Str(s.clone())),
            Value::Number(n) => n.as_i64().map(Id::Int),
            _ => None,
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            Id::Int(n) => Value::from(*n),
            Id::Str(s) => Value::String(s.clone()),
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Int(n) => write!(f, "{n}"),
            Id::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// Structured `params`: JSON-RPC allows by-name (object) or by-position (array). MCP uses objects.
#[derive(Debug, Clone, PartialEq)]
pub enum Params {
    Object(Map<String, Value>),
    Array(Vec<Value>),
}

impl Params {
    /// The by-name parameters, or `None` for by-position ones.
    pub fn as_object(&self) -> Option<&Map<String, Value>> {
        match self {
            Params::Object(map) => Some(map),
            Params::Array(_) => None,
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            Params::Object(map) => Value::Object(map.clone()),
            Params::Array(items) => Value::Array(items.clone()),
        }
    }
}

/// The `error` member of an error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl ErrorObject {
    pub fn new(code: i64, message: impl Into<String>) -> ErrorObject {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> ErrorObject {
        self.data = Some(data);
        self
    }

    /// -32601 for a method the gateway does not serve.
    pub fn method_not_found(method: &str) -> ErrorObject {
        ErrorObject::new(
            code::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )
    }

    /// -32602 with a reason naming the offending parameter.
    pub fn invalid_params(reason: impl std::fmt::Display) -> ErrorObject {
        ErrorObject::new(code::INVALID_PARAMS, format!("Invalid params: {reason}"))
    }

    /// -32603; the reason must be safe to show the client (no secrets, no upstream detail).
    pub fn internal(reason: impl std::fmt::Display) -> ErrorObject {
        ErrorObject::new(code::INTERNAL_ERROR, format!("Internal error: {reason}"))
    }

    fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("code".into(), Value::from(self.code));
        map.insert("message".into(), Value::String(self.message.clone()));
        if let Some(data) = &self.data {
            map.insert("data".into(), data.clone());
        }
        Value::Object(map)
    }

    fn from_value(value: &Value) -> Option<ErrorObject> {
        let map = value.as_object()?;
        Some(ErrorObject {
            code: map.get("code")?.as_i64()?,
            message: map.get("message")?.as_str()?.to_owned(),
            data: map.get("data").cloned(),
        })
    }
}

/// One JSON-RPC 2.0 message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request {
        id: Id,
        method: String,
        params: Option<Params>,
    },
    Notification {
        method: String,
        params: Option<Params>,
    },
    Response {
        id: Id,
        result: Value,
    },
    ErrorResponse {
        id: Option<Id>,
        error: ErrorObject,
    },
}

impl Message {
    /// A success response to request `id`.
    pub fn result(id: Id, result: Value) -> Message {
        Message::Response { id, result }
    }

    /// An error response; `id` is `None` only when the request's id could not be read.
    pub fn error(id: Option<Id>, error: ErrorObject) -> Message {
        Message::ErrorResponse { id, error }
    }

    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request { method, .. } | Message::Notification { method, .. } => Some(method),
            Message::Response { .. } | Message::ErrorResponse { .. } => None,
        }
    }

    /// `params._meta.progressToken` of a request: the client asked for progress notifications.
    pub fn progress_token(&self) -> Option<&Value> {
        match self {
            Message::Request {
                params: Some(Params::Object(p)),
                ..
            } => p.get("_meta")?.get("progressToken"),
            _ => None,
        }
    }

    /// The message as a JSON value (members in the order `jsonrpc`, `id`, `method`, `params` /
    /// `result` / `error`).
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("jsonrpc".into(), Value::from("2.0"));
        match self {
            Message::Request { id, method, params } => {
                map.insert("id".into(), id.to_value());
                map.insert("method".into(), Value::String(method.clone()));
                if let Some(params) = params {
                    map.insert("params".into(), params.to_value());
                }
            }
            Message::Notification { method, params } => {
                map.insert("method".into(), Value::String(method.clone()));
                if let Some(params) = params {
                    map.insert("params".into(), params.to_value());
                }
            }
            Message::Response { id, result } => {
                map.insert("id".into(), id.to_value());
                map.insert("result".into(), result.clone());
            }
            Message::ErrorResponse { id, error } => {
                // JSON-RPC 2.0: the member is required, `null` when the id is unknown.
                map.insert("id".into(), id.as_ref().map_or(Value::Null, Id::to_value));
                map.insert("error".into(), error.to_value());
            }
        }
        Value::Object(map)
    }

    /// Compact JSON on one line. serde_json escapes every control character inside strings, so
    /// the output never contains a newline (stdio frames are newline-delimited); no trailing
    /// newline is added.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_value().to_string().into_bytes()
    }
}

/// A parsed message together with the exact bytes it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    raw: Vec<u8>,
    message: Message,
}

impl Frame {
    /// Parses one message. For stdio, pass the line without its newline (trailing whitespace is
    /// tolerated either way).
    pub fn parse(raw: impl Into<Vec<u8>>) -> Result<Frame, FrameError> {
        let raw = raw.into();
        let message = parse_message(&raw)?;
        Ok(Frame { raw, message })
    }

    /// The bytes exactly as received.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn message(&self) -> &Message {
        &self.message
    }

    pub fn into_parts(self) -> (Vec<u8>, Message) {
        (self.raw, self.message)
    }
}

/// Why bytes are not a JSON-RPC message. Each variant but [`FrameError::Malformed`] is an
/// Invalid Request; `id` is the message's id when it could be read, to echo in the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("Parse error: {reason}")]
    Malformed { reason: String },
    #[error("Invalid Request: batch arrays are not supported (removed in MCP 2025-06-18)")]
    Batch,
    #[error("Invalid Request: a message must be a JSON object")]
    NotAnObject,
    #[error("Invalid Request: missing \"jsonrpc\": \"2.0\"")]
    MissingVersion { id: Option<Id> },
    #[error("Invalid Request: \"jsonrpc\" must be \"2.0\", found {found}")]
    WrongVersion { id: Option<Id>, found: String },
    #[error("Invalid Request: \"id\" must not be null")]
    NullId,
    #[error("Invalid Request: \"id\" must be a string or an integer, found {found}")]
    BadIdType { found: String },
    #[error("Invalid Request: \"method\" must be a string")]
    MethodNotString { id: Option<Id> },
    #[error("Invalid Request: \"params\" must be an object or an array")]
    ParamsNotStructured { id: Option<Id> },
    #[error("Invalid Request: missing \"method\" (or \"result\"/\"error\" for a response)")]
    MissingMethod { id: Option<Id> },
    #[error("Invalid Request: a message cannot have both \"method\" and \"{member}\"")]
    MethodAndResponse {
        id: Option<Id>,
        member: &'static str,
    },
    #[error("Invalid Request: a response cannot have both \"result\" and \"error\"")]
    ResultAndError { id: Option<Id> },
    #[error("Invalid Request: a response needs an \"id\"")]
    ResponseWithoutId,
    #[error(
        "Invalid Request: \"error\" must be an object with an integer \"code\" and a string \"message\""
    )]
    BadErrorObject { id: Option<Id> },
    /// An object key serde_json reserves (`$serde_json::private::…`): the gateway's own parse
    /// would read such an object as something else than its bytes say, and the ledger refuses to
    /// record one (`auditgate_ledger::json`). `path` is a JSON Pointer, cut to 200 characters.
    #[error("Invalid Request: the object key at {path} is reserved (\"$serde_json::private::…\")")]
    ReservedKey { id: Option<Id>, path: String },
}

impl FrameError {
    /// The id to echo in the error response, when it could be read.
    pub fn id(&self) -> Option<&Id> {
        match self {
            FrameError::MissingVersion { id }
            | FrameError::WrongVersion { id, .. }
            | FrameError::MethodNotString { id }
            | FrameError::ParamsNotStructured { id }
            | FrameError::MissingMethod { id }
            | FrameError::MethodAndResponse { id, .. }
            | FrameError::ResultAndError { id }
            | FrameError::BadErrorObject { id }
            | FrameError::ReservedKey { id, .. } => id.as_ref(),
            FrameError::Malformed { .. }
            | FrameError::Batch
            | FrameError::NotAnObject
            | FrameError::NullId
            | FrameError::BadIdType { .. }
            | FrameError::ResponseWithoutId => None,
        }
    }

    /// The one mapping of framing failures to JSON-RPC codes.
    pub fn to_jsonrpc_error(&self) -> ErrorObject {
        let code = match self {
            FrameError::Malformed { .. } => code::PARSE_ERROR,
            FrameError::Batch
            | FrameError::NotAnObject
            | FrameError::MissingVersion { .. }
            | FrameError::WrongVersion { .. }
            | FrameError::NullId
            | FrameError::BadIdType { .. }
            | FrameError::MethodNotString { .. }
            | FrameError::ParamsNotStructured { .. }
            | FrameError::MissingMethod { .. }
            | FrameError::MethodAndResponse { .. }
            | FrameError::ResultAndError { .. }
            | FrameError::ResponseWithoutId
            | FrameError::BadErrorObject { .. }
            | FrameError::ReservedKey { .. } => code::INVALID_REQUEST,
        };
        ErrorObject::new(code, self.to_string())
    }

    /// The error response to send back (id echoed when known, else `null`).
    pub fn to_response(&self) -> Message {
        Message::error(self.id().cloned(), self.to_jsonrpc_error())
    }
}

/// A short description of a JSON value for error messages (never the value itself: it may be
/// large or sensitive).
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(n) if n.is_f64() => "a non-integer number".into(),
        Value::Number(_) => "an integer outside the 64-bit signed range".into(),
        Value::String(s) if s.len() <= 16 => format!("{s:?}"),
        Value::String(_) => "a long string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn parse_message(raw: &[u8]) -> Result<Message, FrameError> {
    // serde_json rejects invalid UTF-8, trailing garbage and nesting deeper than 128 levels, all
    // as syntax errors: they are Parse errors, like any other unreadable JSON. `parse_plain`
    // keeps serde_json's reserved keys as keys, so they are refused below instead of being read
    // as embedded JSON text.
    let value = json::parse_plain(raw).map_err(|e| FrameError::Malformed {
        reason: e.to_string(),
    })?;
    let reserved = json::find_reserved_key(&value);
    let mut map = match value {
        Value::Object(map) => map,
        Value::Array(_) => return Err(FrameError::Batch),
        _ => return Err(FrameError::NotAnObject),
    };

    // The id first, so every later failure can echo it.
    let id = match map.get("id") {
        None => None,
        Some(Value::Null) if map.contains_key("error") && !map.contains_key("method") => None,
        Some(Value::Null) => return Err(FrameError::NullId),
        Some(value) => Some(Id::from_value(value).ok_or_else(|| FrameError::BadIdType {
            found: describe(value),
        })?),
    };

    if let Some(mut path) = reserved {
        if let Some((cut, _)) = path.char_indices().nth(200) {
            path.truncate(cut);
            path.push('…');
        }
        return Err(FrameError::ReservedKey { id, path });
    }

    match map.get("jsonrpc") {
        Some(Value::String(v)) if v == "2.0" => {}
        Some(other) => {
            return Err(FrameError::WrongVersion {
                id,
                found: describe(other),
            });
        }
        None => return Err(FrameError::MissingVersion { id }),
    }

    match map.remove("method") {
        Some(Value::String(method)) => {
            for member in ["result", "error"] {
                if map.contains_key(member) {
                    return Err(FrameError::MethodAndResponse { id, member });
                }
            }
            let params = match map.remove("params") {
                None => None,
                Some(Value::Object(obj)) => Some(Params::Object(obj)),
                Some(Value::Array(items)) => Some(Params::Array(items)),
                Some(_) => return Err(FrameError::ParamsNotStructured { id }),
            };
            Ok(match id {
                Some(id) => Message::Request { id, method, params },
                None => Message::Notification { method, params },
            })
        }
        Some(_) => Err(FrameError::MethodNotString { id }),
        None => match (map.remove("result"), map.remove("error")) {
            (Some(_), Some(_)) => Err(FrameError::ResultAndError { id }),
            (Some(result), None) => match id {
                Some(id) => Ok(Message::Response { id, result }),
                None => Err(FrameError::ResponseWithoutId),
            },
            (None, Some(error)) => match ErrorObject::from_value(&error) {
                Some(error) => Ok(Message::ErrorResponse { id, error }),
                None => Err(FrameError::BadErrorObject { id }),
            },
            (None, None) => Err(FrameError::MissingMethod { id }),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    fn obj(value: Value) -> Option<Params> {
        match value {
            Value::Object(map) => Some(Params::Object(map)),
            _ => unreachable!(),
        }
    }

    #[test]
    fn valid_messages_parse() {
        let cases: Vec<(&[u8], Message)> = vec![
            (
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"x"}}"#,
                Message::Request {
                    id: Id::Int(1),
                    method: "tools/list".into(),
                    params: obj(json!({"cursor": "x"})),
                },
            ),
            (
                br#"{"jsonrpc":"2.0","id":"abc-1","method":"ping"}"#,
                Message::Request {
                    id: Id::Str("abc-1".into()),
                    method: "ping".into(),
                    params: None,
                },
            ),
            (
                br#"{"jsonrpc":"2.0","id":-9223372036854775808,"method":"ping"}"#,
                Message::Request {
                    id: Id::Int(i64::MIN),
                    method: "ping".into(),
                    params: None,
                },
            ),
            (
                br#"{"jsonrpc":"2.0","id":1,"method":"sum","params":[1,2]}"#,
                Message::Request {
                    id: Id::Int(1),
                    method: "sum".into(),
                    params: Some(Params::Array(vec![json!(1), json!(2)])),
                },
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n",
                Message::Notification {
                    method: "notifications/initialized".into(),
                    params: None,
                },
            ),
            (
                br#"{"jsonrpc":"2.0","id":7,"result":{"action":"accept"}}"#,
                Message::Response {
                    id: Id::Int(7),
                    result: json!({"action": "accept"}),
                },
            ),
            (
                br#"{"jsonrpc":"2.0","id":"e","error":{"code":-32601,"message":"nope","data":[1]}}"#,
                Message::ErrorResponse {
                    id: Some(Id::Str("e".into())),
                    error: ErrorObject::new(-32601, "nope").with_data(json!([1])),
                },
            ),
            (
                br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
                Message::ErrorResponse {
                    id: None,
                    error: ErrorObject::new(-32700, "Parse error"),
                },
            ),
        ];
        for (input, expected) in cases {
            let frame = Frame::parse(input).unwrap_or_else(|e| {
                panic!("{}: {e}", String::from_utf8_lossy(input));
            });
            assert_eq!(frame.raw(), input);
            assert_eq!(
                frame.message(),
                &expected,
                "{}",
                String::from_utf8_lossy(input)
            );
            let bytes = expected.to_bytes();
            assert!(!bytes.contains(&b'\n'));
            assert_eq!(Frame::parse(bytes).unwrap().message(), &expected);
        }
    }

    #[test]
    fn invalid_frames_give_exact_errors() {
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{{"a":{}{}}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let huge = br#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"m"}"#;
        let cases: Vec<(&[u8], i64, &str, Option<Id>)> = vec![
            (
                b"",
                -32700,
                "Parse error: EOF while parsing a value at line 1 column 0",
                None,
            ),
            (
                b"   \n",
                -32700,
                "Parse error: EOF while parsing a value at line 2 column 0",
                None,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1,"method":"ping"} x"#,
                -32700,
                "Parse error: trailing characters at line 1 column 42",
                None,
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}",
                -32700,
                "Parse error: invalid unicode code point at line 1 column 35",
                None,
            ),
            (
                deep.as_bytes(),
                -32700,
                "Parse error: recursion limit exceeded at line 1 column 177",
                None,
            ),
            (
                br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                -32600,
                "Invalid Request: batch arrays are not supported (removed in MCP 2025-06-18)",
                None,
            ),
            (
                b"[]",
                -32600,
                "Invalid Request: batch arrays are not supported (removed in MCP 2025-06-18)",
                None,
            ),
            (
                b"42",
                -32600,
                "Invalid Request: a message must be a JSON object",
                None,
            ),
            (
                br#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#,
                -32600,
                "Invalid Request: \"jsonrpc\" must be \"2.0\", found \"1.0\"",
                Some(Id::Int(3)),
            ),
            (
                br#"{"jsonrpc":2.0,"id":"s","method":"ping"}"#,
                -32600,
                "Invalid Request: \"jsonrpc\" must be \"2.0\", found a non-integer number",
                Some(Id::Str("s".into())),
            ),
            (
                br#"{"id":4,"method":"ping"}"#,
                -32600,
                "Invalid Request: missing \"jsonrpc\": \"2.0\"",
                Some(Id::Int(4)),
            ),
            (
                br#"{"jsonrpc":"2.0","id":5}"#,
                -32600,
                "Invalid Request: missing \"method\" (or \"result\"/\"error\" for a response)",
                Some(Id::Int(5)),
            ),
            (
                br#"{"jsonrpc":"2.0","id":6,"method":42}"#,
                -32600,
                "Invalid Request: \"method\" must be a string",
                Some(Id::Int(6)),
            ),
            (
                br#"{"jsonrpc":"2.0","id":7,"method":"m","params":"x"}"#,
                -32600,
                "Invalid Request: \"params\" must be an object or an array",
                Some(Id::Int(7)),
            ),
            (
                br#"{"jsonrpc":"2.0","id":8,"method":"m","params":null}"#,
                -32600,
                "Invalid Request: \"params\" must be an object or an array",
                Some(Id::Int(8)),
            ),
            (
                br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                -32600,
                "Invalid Request: \"id\" must not be null",
                None,
            ),
            (
                huge,
                -32600,
                "Invalid Request: \"id\" must be a string or an integer, found a non-integer number",
                None,
            ),
            (
                br#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"m"}"#,
                -32600,
                "Invalid Request: \"id\" must be a string or an integer, found an integer outside the 64-bit signed range",
                None,
            ),
            (
                br#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#,
                -32600,
                "Invalid Request: \"id\" must be a string or an integer, found a non-integer number",
                None,
            ),
            (
                br#"{"jsonrpc":"2.0","id":true,"method":"m"}"#,
                -32600,
                "Invalid Request: \"id\" must be a string or an integer, found a boolean",
                None,
            ),
            (
                br#"{"jsonrpc":"2.0","id":9,"result":{},"error":{"code":1,"message":"m"}}"#,
                -32600,
                "Invalid Request: a response cannot have both \"result\" and \"error\"",
                Some(Id::Int(9)),
            ),
            (
                br#"{"jsonrpc":"2.0","id":10,"method":"m","result":{}}"#,
                -32600,
                "Invalid Request: a message cannot have both \"method\" and \"result\"",
                Some(Id::Int(10)),
            ),
            (
                br#"{"jsonrpc":"2.0","result":{}}"#,
                -32600,
                "Invalid Request: a response needs an \"id\"",
                None,
            ),
            (
                br#"{"jsonrpc":"2.0","id":11,"error":{"code":"x","message":"m"}}"#,
                -32600,
                "Invalid Request: \"error\" must be an object with an integer \"code\" and a string \"message\"",
                Some(Id::Int(11)),
            ),
            // serde_json's reserved keys: first in an object (which serde_json's own `Value`
            // would read as embedded JSON text), later in one, escaped.
            (
                br#"{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"t","arguments":{"$serde_json::private::RawValue":"{\"a\":1}"}}}"#,
                -32600,
                "Invalid Request: the object key at /params/arguments/$serde_json::private::RawValue is reserved (\"$serde_json::private::…\")",
                Some(Id::Int(12)),
            ),
            (
                br#"{"jsonrpc":"2.0","id":13,"method":"m","params":{"a":[{"b":1,"\u0024serde_json::private::Number":"2"}]}}"#,
                -32600,
                "Invalid Request: the object key at /params/a/0/$serde_json::private::Number is reserved (\"$serde_json::private::…\")",
                Some(Id::Int(13)),
            ),
        ];
        for (input, code, message, id) in cases {
            let err = Frame::parse(input).unwrap_err();
            let shown = String::from_utf8_lossy(input);
            assert_eq!(
                err.to_jsonrpc_error(),
                ErrorObject::new(code, message),
                "{shown}"
            );
            assert_eq!(err.id(), id.as_ref(), "{shown}");
            let response = err.to_response();
            assert_eq!(
                Frame::parse(response.to_bytes()).unwrap().message(),
                &response
            );
        }
    }

    #[test]
    fn moderately_nested_params_are_fine() {
        let nested = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{{"a":{}{}}}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(Frame::parse(nested.as_bytes()).is_ok());
    }

    #[test]
    fn serialization_is_one_compact_line() {
        let cases = vec![
            (
                Message::result(Id::Int(1), json!({"text": "a\nb\r\u{2028}"})),
                r#"{"jsonrpc":"2.0","id":1,"result":{"text":"a\nb\r"#.to_owned()
                    + "\u{2028}\"}}",
            ),
            (
                Message::error(Some(Id::Str("x".into())), ErrorObject::method_not_found("a/b")),
                r#"{"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"Method not found: a/b"}}"#.to_owned(),
            ),
            (
                Message::error(None, ErrorObject::invalid_params("cursor: unknown")),
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32602,"message":"Invalid params: cursor: unknown"}}"#.to_owned(),
            ),
            (
                Message::error(Some(Id::Int(2)), ErrorObject::internal("ledger unavailable")),
                r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32603,"message":"Internal error: ledger unavailable"}}"#.to_owned(),
            ),
            (
                Message::Notification { method: "notifications/tools/list_changed".into(), params: None },
                r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#.to_owned(),
            ),
        ];
        for (message, expected) in cases {
            let bytes = message.to_bytes();
            assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
            assert!(!bytes.contains(&b'\n') && !bytes.contains(&b'\r'));
        }
    }
}

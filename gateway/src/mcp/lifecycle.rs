//! The MCP lifecycle: protocol version negotiation, the `initialize` result, the per-session
//! state machine, and the answers the lifecycle gives itself (`initialize`, `ping`,
//! `server/discover`).
//!
//! Decisions (see `README.md` in this directory):
//! - A requested version we support is echoed; any other *well-formed* version (`YYYY-MM-DD`,
//!   e.g. `2024-11-05` or `2026-07-28`) is answered with our latest and the client decides
//!   whether to disconnect, as the lifecycle spec requires. Only a missing or malformed
//!   `protocolVersion` (e.g. `"1.0.0"`) is refused, with -32602 and `data.supported`/`requested`
//!   as in the spec's example.
//! - Requests other than `initialize` and `ping` before `initialize` has been answered get
//!   -32600. Once the `initialize` response is out, client requests are served (the spec asks
//!   the client to wait for the response, not for its own `notifications/initialized`); the
//!   `Ready` state, reached on that notification, is what allows *server*-initiated requests.
//! - `server/discover` (the 2026-07-28 stateless probe) gets -32601 in every state: an ordinary
//!   JSON-RPC error is what makes "auto" clients fall back to `initialize`.
use serde_json::{Map, Value, json};

use super::jsonrpc::{ErrorObject, Message, Params, code};

/// The protocol versions the gateway speaks, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    V2025_03_26,
    V2025_06_18,
    V2025_11_25,
}

impl ProtocolVersion {
    pub const ALL: [ProtocolVersion; 3] = [
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_11_25,
    ];
    pub const LATEST: ProtocolVersion = ProtocolVersion::V2025_11_25;
    /// What Streamable HTTP assumes when the `MCP-Protocol-Version` header is missing.
    pub const HTTP_DEFAULT: ProtocolVersion = ProtocolVersion::V2025_03_26;

    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2025_03_26 => "2025-03-26",
            ProtocolVersion::V2025_06_18 => "2025-06-18",
            ProtocolVersion::V2025_11_25 => "2025-11-25",
        }
    }

    /// A supported version by its exact name (also for the `MCP-Protocol-Version` header).
    pub fn parse(s: &str) -> Option<ProtocolVersion> {
        ProtocolVersion::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `YYYY-MM-DD` with ASCII digits: the shape of every MCP version name.
fn looks_like_version(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// Why a lifecycle step is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("Invalid params: initialize needs \"params\" with a string \"protocolVersion\"")]
    MissingProtocolVersion,
    #[error("Unsupported protocol version")]
    UnsupportedProtocolVersion { requested: String },
    #[error("Invalid params: \"capabilities\" must be an object")]
    BadCapabilities,
    #[error("Invalid Request: {method} before initialize (only initialize and ping are allowed)")]
    NotInitialized { method: String },
    #[error("Invalid Request: the session is already initialized")]
    AlreadyInitialized,
    #[error(
        "Method not found: server/discover (this server speaks {}; use initialize)",
        ProtocolVersion::LATEST
    )]
    DiscoverUnsupported,
}

impl LifecycleError {
    /// The one mapping of lifecycle failures to JSON-RPC errors.
    pub fn to_jsonrpc_error(&self) -> ErrorObject {
        let message = self.to_string();
        match self {
            LifecycleError::MissingProtocolVersion | LifecycleError::BadCapabilities => {
                ErrorObject::new(code::INVALID_PARAMS, message)
            }
            LifecycleError::UnsupportedProtocolVersion { requested } => {
                let supported: Vec<&str> =
                    ProtocolVersion::ALL.iter().map(|v| v.as_str()).collect();
                ErrorObject::new(code::INVALID_PARAMS, message)
                    .with_data(json!({"supported": supported, "requested": requested}))
            }
            LifecycleError::NotInitialized { .. } | LifecycleError::AlreadyInitialized => {
                ErrorObject::new(code::INVALID_REQUEST, message)
            }
            LifecycleError::DiscoverUnsupported => {
                ErrorObject::new(code::METHOD_NOT_FOUND, message)
            }
        }
    }
}

/// Answers a client's requested version: echo it if supported, else our latest; refuse only a
/// string that is not a version name at all.
pub fn negotiate(requested: &str) -> Result<ProtocolVersion, LifecycleError> {
    if let Some(version) = ProtocolVersion::parse(requested) {
        Ok(version)
    } else if looks_like_version(requested) {
        Ok(ProtocolVersion::LATEST)
    } else {
        Err(LifecycleError::UnsupportedProtocolVersion {
            requested: requested.to_owned(),
        })
    }
}

/// What the gateway says about itself in `initialize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub name: String,
    pub version: String,
    pub title: Option<String>,
    pub instructions: Option<String>,
}

/// The `initialize` result for a negotiated version.
pub fn initialize_result(version: ProtocolVersion, server: &ServerInfo) -> Value {
    let mut info = Map::new();
    info.insert("name".into(), Value::String(server.name.clone()));
    info.insert("version".into(), Value::String(server.version.clone()));
    if let Some(title) = &server.title {
        info.insert("title".into(), Value::String(title.clone()));
    }
    let mut result = Map::new();
    result.insert("protocolVersion".into(), Value::from(version.as_str()));
    result.insert(
        "capabilities".into(),
        json!({"tools": {"listChanged": true}}),
    );
    result.insert("serverInfo".into(), Value::Object(info));
    if let Some(instructions) = &server.instructions {
        result.insert("instructions".into(), Value::String(instructions.clone()));
    }
    Value::Object(result)
}

/// `notifications/tools/list_changed` (the server declares `tools.listChanged`).
pub fn list_changed() -> Message {
    Message::Notification {
        method: "notifications/tools/list_changed".into(),
        params: None,
    }
}

/// What the client told us in `initialize`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientHello {
    pub requested_version: String,
    pub capabilities: Map<String, Value>,
    /// `clientInfo` as sent (for the ledger); not interpreted.
    pub client_info: Option<Value>,
}

impl ClientHello {
    pub fn parse(params: Option<&Params>) -> Result<ClientHello, LifecycleError> {
        let params = params
            .and_then(Params::as_object)
            .ok_or(LifecycleError::MissingProtocolVersion)?;
        let requested_version = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or(LifecycleError::MissingProtocolVersion)?
            .to_owned();
        let capabilities = match params.get("capabilities") {
            None => Map::new(),
            Some(Value::Object(caps)) => caps.clone(),
            Some(_) => return Err(LifecycleError::BadCapabilities),
        };
        Ok(ClientHello {
            requested_version,
            capabilities,
            client_info: params.get("clientInfo").cloned(),
        })
    }
}

/// Where a session is in the lifecycle.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionState {
    AwaitingInitialize,
    /// `initialize` answered; waiting for `notifications/initialized`.
    Initialized {
        version: ProtocolVersion,
        client: ClientHello,
    },
    /// The client confirmed; the server may now send it requests.
    Ready {
        version: ProtocolVersion,
        client: ClientHello,
    },
}

/// What the caller does with an incoming message after the lifecycle saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The lifecycle answered it; send this response.
    Reply(Message),
    /// Not a lifecycle message: route it (requests, notifications, responses to our requests).
    Dispatch,
    /// Consumed, nothing to send (lifecycle notifications, or messages that cannot be answered
    /// before initialization: notifications and responses).
    Drop,
}

/// One session's lifecycle.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    server: ServerInfo,
    state: SessionState,
}

impl Lifecycle {
    pub fn new(server: ServerInfo) -> Lifecycle {
        Lifecycle {
            server,
            state: SessionState::AwaitingInitialize,
        }
    }

    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// The negotiated version, once `initialize` has been answered.
    pub fn version(&self) -> Option<ProtocolVersion> {
        match &self.state {
            SessionState::AwaitingInitialize => None,
            SessionState::Initialized { version, .. } | SessionState::Ready { version, .. } => {
                Some(*version)
            }
        }
    }

    /// Whether the server may send requests (e.g. `elicitation/create`) to the client.
    pub fn may_send_requests(&self) -> bool {
        matches!(self.state, SessionState::Ready { .. })
    }

    /// Advances the state machine on one incoming message.
    pub fn on_message(&mut self, message: &Message) -> Step {
        match message {
            Message::Request { id, method, params } => match self.on_request(method, params) {
                Ok(Some(result)) => Step::Reply(Message::result(id.clone(), result)),
                Ok(None) => Step::Dispatch,
                Err(e) => Step::Reply(Message::error(Some(id.clone()), e.to_jsonrpc_error())),
            },
            Message::Notification { method, .. } => {
                match (&self.state, method.as_str()) {
                    (
                        SessionState::Initialized { version, client },
                        "notifications/initialized",
                    ) => {
                        self.state = SessionState::Ready {
                            version: *version,
                            client: client.clone(),
                        };
                        Step::Drop
                    }
                    // A repeated or premature confirmation changes nothing.
                    (_, "notifications/initialized") | (SessionState::AwaitingInitialize, _) => {
                        Step::Drop
                    }
                    _ => Step::Dispatch,
                }
            }
            Message::Response { .. } | Message::ErrorResponse { .. } => match self.state {
                SessionState::AwaitingInitialize => Step::Drop,
                _ => Step::Dispatch,
            },
        }
    }

    /// `Ok(Some(result))` when the lifecycle answers, `Ok(None)` to dispatch.
    fn on_request(
        &mut self,
        method: &str,
        params: &Option<Params>,
    ) -> Result<Option<Value>, LifecycleError> {
        match method {
            "ping" => Ok(Some(json!({}))),
            "server/discover" => Err(LifecycleError::DiscoverUnsupported),
            "initialize" => {
                if self.state != SessionState::AwaitingInitialize {
                    return Err(LifecycleError::AlreadyInitialized);
                }
                let client = ClientHello::parse(params.as_ref())?;
                let version = negotiate(&client.requested_version)?;
                self.state = SessionState::Initialized { version, client };
                Ok(Some(initialize_result(version, &self.server)))
            }
            _ if self.state == SessionState::AwaitingInitialize => {
                Err(LifecycleError::NotInitialized {
                    method: method.to_owned(),
                })
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::mcp::jsonrpc::Frame;

    fn server() -> ServerInfo {
        ServerInfo {
            name: "auditgate".into(),
            version: "0.1.0".into(),
            title: None,
            instructions: Some("Every call is audited.".into()),
        }
    }

    fn msg(bytes: &str) -> Message {
        Frame::parse(bytes).unwrap().into_parts().1
    }

    fn init(version: &str) -> Message {
        msg(&format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
        ))
    }

    #[test]
    fn negotiation_table() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("2025-03-26", Ok("2025-03-26")),
            ("2025-06-18", Ok("2025-06-18")),
            ("2025-11-25", Ok("2025-11-25")),
            ("2024-11-05", Ok("2025-11-25")),
            ("2026-07-28", Ok("2025-11-25")),
            ("1.0.0", Err("Unsupported protocol version")),
            ("", Err("Unsupported protocol version")),
            ("2025-11-2x", Err("Unsupported protocol version")),
        ];
        for (requested, expected) in cases {
            let got = negotiate(requested)
                .map(ProtocolVersion::as_str)
                .map_err(|e| e.to_string());
            assert_eq!(got, expected.map_err(str::to_owned), "{requested}");
        }
        let err = negotiate("1.0.0").unwrap_err().to_jsonrpc_error();
        assert_eq!(err.code, -32602);
        assert_eq!(
            err.data,
            Some(
                json!({"supported": ["2025-03-26", "2025-06-18", "2025-11-25"], "requested": "1.0.0"})
            )
        );
    }

    #[test]
    fn initialize_result_shape() {
        assert_eq!(
            initialize_result(ProtocolVersion::V2025_06_18, &server()),
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {"listChanged": true}},
                "serverInfo": {"name": "auditgate", "version": "0.1.0"},
                "instructions": "Every call is audited."
            })
        );
        let bare = ServerInfo {
            title: Some("Auditgate".into()),
            instructions: None,
            ..server()
        };
        assert_eq!(
            initialize_result(ProtocolVersion::LATEST, &bare),
            json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {"listChanged": true}},
                "serverInfo": {"name": "auditgate", "version": "0.1.0", "title": "Auditgate"}
            })
        );
    }

    /// Each row: the incoming message, the expected reply (`None` = dispatch, `Some("")` =
    /// dropped, otherwise the exact response bytes), and the state name afterwards.
    #[test]
    fn session_state_machine() {
        let rows: Vec<(Message, Option<&str>, &str)> = vec![
            (
                msg(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
                Some(
                    r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"Invalid Request: tools/list before initialize (only initialize and ping are allowed)"}}"#,
                ),
                "awaiting",
            ),
            (
                msg(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#),
                Some(r#"{"jsonrpc":"2.0","id":2,"result":{}}"#),
                "awaiting",
            ),
            (
                msg(r#"{"jsonrpc":"2.0","id":"d","method":"server/discover"}"#),
                Some(
                    r#"{"jsonrpc":"2.0","id":"d","error":{"code":-32601,"message":"Method not found: server/discover (this server speaks 2025-11-25; use initialize)"}}"#,
                ),
                "awaiting",
            ),
            (
                msg(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
                Some(""),
                "awaiting",
            ),
            (
                msg(r#"{"jsonrpc":"2.0","id":9,"result":{}}"#),
                Some(""),
                "awaiting",
            ),
            (
                msg(r#"{"jsonrpc":"2.0","id":3,"method":"initialize"}"#),
                Some(
                    r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"Invalid params: initialize needs \"params\" with a string \"protocolVersion\""}}"#,
                ),
                "awaiting",
            ),
            (
                init("1.0.0"),
                Some(
                    r#"{"jsonrpc":"2.0","id":0,"error":{"code":-32602,"message":"Unsupported protocol version","data":{"supported":["2025-03-26","2025-06-18","2025-11-25"],"requested":"1.0.0"}}}"#,
                ),
                "awaiting",
            ),
            (
                init("2025-06-18"),
                Some(
                    r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"auditgate","version":"0.1.0"},"instructions":"Every call is audited."}}"#,
                ),
                "initialized",
            ),
            (
                msg(r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#),
                None,
                "initialized",
            ),
            (
                init("2025-06-18"),
                Some(
                    r#"{"jsonrpc":"2.0","id":0,"error":{"code":-32600,"message":"Invalid Request: the session is already initialized"}}"#,
                ),
                "initialized",
            ),
            (
                msg(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
                Some(""),
                "ready",
            ),
            (
                msg(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
                Some(""),
                "ready",
            ),
            (
                msg(
                    r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4}}"#,
                ),
                None,
                "ready",
            ),
            (
                msg(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"x"}}"#),
                None,
                "ready",
            ),
            (
                msg(r#"{"jsonrpc":"2.0","id":9,"result":{"action":"accept"}}"#),
                None,
                "ready",
            ),
            (
                msg(r#"{"jsonrpc":"2.0","id":6,"method":"server/discover"}"#),
                Some(
                    r#"{"jsonrpc":"2.0","id":6,"error":{"code":-32601,"message":"Method not found: server/discover (this server speaks 2025-11-25; use initialize)"}}"#,
                ),
                "ready",
            ),
        ];
        let mut lifecycle = Lifecycle::new(server());
        for (i, (message, expected, state)) in rows.into_iter().enumerate() {
            let got = match lifecycle.on_message(&message) {
                Step::Dispatch => None,
                Step::Drop => Some(String::new()),
                Step::Reply(reply) => Some(String::from_utf8(reply.to_bytes()).unwrap()),
            };
            assert_eq!(got.as_deref(), expected, "row {i}");
            let name = match lifecycle.state() {
                SessionState::AwaitingInitialize => "awaiting",
                SessionState::Initialized { .. } => "initialized",
                SessionState::Ready { .. } => "ready",
            };
            assert_eq!(name, state, "row {i}");
        }
        assert_eq!(lifecycle.version(), Some(ProtocolVersion::V2025_06_18));
        assert!(lifecycle.may_send_requests());
    }

    #[test]
    fn header_versions_parse_exactly() {
        for v in ProtocolVersion::ALL {
            assert_eq!(ProtocolVersion::parse(v.as_str()), Some(v));
        }
        for bad in ["2024-11-05", "2025-11-25 ", "", "latest"] {
            assert_eq!(ProtocolVersion::parse(bad), None, "{bad}");
        }
    }
}

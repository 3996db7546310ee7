//! Fuzzes dispatch's pure core: the input, split at newlines, is one session's message sequence.
//! Each line goes through what `Gateway::handle` does before any I/O — `Frame::parse`, then the
//! session's `Lifecycle::on_message` — and, for requests the lifecycle dispatches, the pure parts
//! of the enforcement point: `tools/list` cursor parsing, and for `tools/call` the tool lookup in
//! the committed test catalog (`gateway/tests/fixtures/function-spec.json`), argument validation
//! against its `inputSchema` and the Convex encoding and normalization of valid arguments
//! (normalized arguments still pass their schema).
//!
//! Never a panic, and:
//! - a request is answered by the lifecycle (with its own id, an error only with a lifecycle
//!   code, bytes that reparse) or dispatched — never dropped; nothing else is ever answered;
//! - nothing but `initialize` and `ping` (and `server/discover`'s refusal) is answered or
//!   dispatched before a successful `initialize`; `initialize` and `ping` are never dispatched;
//! - the state only moves forward (awaiting → initialized → ready) and the negotiated version
//!   never changes once set;
//! - a refused frame's error response reparses and carries the request id when one was readable.
#![no_main]

use std::sync::OnceLock;

use auditgate::catalog::{Catalog, CatalogOptions, ToolTarget, spec::FunctionSpecFile};
use auditgate::mcp::jsonrpc::{Frame, Message, code};
use auditgate::mcp::lifecycle::{Lifecycle, ServerInfo, SessionState, Step};
use auditgate::mcp::pagination;
use auditgate::upstream::convex::codec::{normalize, to_convex};
use auditgate::validate::validate;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let spec = FunctionSpecFile::parse(include_bytes!(
            "../../gateway/tests/fixtures/function-spec.json"
        ))
        .expect("the committed spec parses");
        let options = CatalogOptions {
            data_tools: true,
            ..CatalogOptions::default()
        };
        Catalog::build(&spec, &options).expect("the committed spec builds")
    })
}

fn rank(state: &SessionState) -> u8 {
    match state {
        SessionState::AwaitingInitialize => 0,
        SessionState::Initialized { .. } => 1,
        SessionState::Ready { .. } => 2,
    }
}

/// The pure part of `tools/call` before the ledger: lookup, validation, Convex encoding.
fn call_tool(params: Option<&Map<String, Value>>) {
    let Some(params) = params else { return };
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return;
    };
    let args = match params.get("arguments") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(a @ Value::Object(_)) => a.clone(),
        Some(_) => return,
    };
    let Some(tool) = catalog().get(name) else {
        return;
    };
    let errors = validate(&tool.input_schema, &args);
    for e in &errors {
        assert!(
            !e.message.is_empty(),
            "a validation error without a message"
        );
    }
    if errors.is_empty()
        && let ToolTarget::Function { args: v, .. } = &tool.target
    {
        // Valid arguments encode, or fail with a located error; never a panic. Normalized, they
        // still pass their schema (the gateway checks them against it again after deciding).
        let _ = to_convex(v, &args);
        if let Ok(n) = normalize(v, &args) {
            assert!(
                validate(&tool.input_schema, &n.plain).is_empty(),
                "normalized arguments fail their schema"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let server = ServerInfo {
        name: "auditgate".into(),
        version: "0.0.0".into(),
        title: None,
        instructions: None,
    };
    let mut life = Lifecycle::new(server);
    for line in data.split(|b| *b == b'\n') {
        let frame = match Frame::parse(line) {
            Ok(f) => f,
            Err(e) => {
                let response = e.to_response();
                let again = Frame::parse(response.to_bytes()).expect("an error response reparses");
                assert_eq!(again.message(), &response);
                if let (Some(id), Message::ErrorResponse { id: rid, .. }) = (e.id(), &response) {
                    assert_eq!(rid.as_ref(), Some(id));
                }
                continue;
            }
        };
        let message = frame.message();
        let before = life.state().clone();
        let version_before = life.version();
        let step = life.on_message(message);
        match (message, &step) {
            (Message::Request { id, method, .. }, Step::Reply(reply)) => {
                match reply {
                    Message::Response { id: rid, .. } => assert_eq!(rid, id),
                    Message::ErrorResponse { id: rid, error } => {
                        assert_eq!(rid.as_ref(), Some(id));
                        assert!(
                            [
                                code::INVALID_REQUEST,
                                code::METHOD_NOT_FOUND,
                                code::INVALID_PARAMS
                            ]
                            .contains(&error.code),
                            "unexpected lifecycle error code {}",
                            error.code
                        );
                    }
                    other => panic!("a request answered with {other:?}"),
                }
                if matches!(reply, Message::Response { .. }) {
                    assert!(
                        method == "initialize" || method == "ping",
                        "the lifecycle answered {method}"
                    );
                }
                let bytes = reply.to_bytes();
                let again = Frame::parse(bytes).expect("a reply reparses");
                assert_eq!(again.message(), reply);
            }
            (Message::Request { method, params, .. }, Step::Dispatch) => {
                assert_ne!(rank(&before), 0, "{method} dispatched before initialize");
                assert!(
                    method != "initialize" && method != "ping",
                    "{method} dispatched"
                );
                let object = params.as_ref().and_then(|p| p.as_object());
                match method.as_str() {
                    "tools/list" => {
                        if let Ok(Some(cursor)) = pagination::cursor_param(params.as_ref()) {
                            let _ = pagination::decode_cursor(cursor, catalog().hash());
                        }
                    }
                    "tools/call" => call_tool(object),
                    _ => {}
                }
            }
            (Message::Request { method, .. }, Step::Drop) => panic!("request {method} dropped"),
            (_, Step::Reply(reply)) => panic!("a non-request answered with {reply:?}"),
            (_, Step::Dispatch) => assert_ne!(rank(&before), 0, "dispatched before initialize"),
            (_, Step::Drop) => {}
        }
        assert!(
            rank(life.state()) >= rank(&before),
            "the lifecycle went back"
        );
        if let Some(v) = version_before {
            assert_eq!(life.version(), Some(v), "the negotiated version changed");
        }
    }
});

//! Errors from calling a Convex deployment, one variant per failure a caller can tell apart.
//!
//! Every variant carries the full detail for the ledger ([`UpstreamError::ledger_detail`]) and can
//! be rendered without request ids, stack traces or raw bodies for the agent
//! ([`UpstreamError::agent_message`]). Neither form ever contains the deploy key: the key only
//! lives in the `Authorization` header and is never formatted.
use std::time::Duration;

use serde_json::{Value, json};

use super::codec::EncodeError;

/// How much of an unexpected response body is kept for the ledger.
const BODY_EXCERPT_CHARS: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The function ran and failed. `data` is present only for a thrown `ConvexError`: it is the
    /// application's error payload meant for the caller (already decoded to plain JSON).
    #[error("Convex function failed: {message}")]
    Function {
        message: String,
        data: Option<Value>,
        log_lines: Vec<String>,
    },
    /// The deployment refused the request before running anything (`{code, message}` body).
    #[error("Convex rejected the request with HTTP {status} {code}: {message}")]
    Request {
        status: u16,
        code: String,
        message: String,
    },
    /// A status the wire format does not define, with a body that is not a request error.
    #[error("Convex answered HTTP {status} with an unexpected body")]
    UnexpectedStatus { status: u16, body_excerpt: String },
    /// The body is not the JSON envelope the wire format defines.
    #[error("Convex answered HTTP {status} with a malformed body: {detail}")]
    MalformedResponse { status: u16, detail: String },
    /// The body exceeded the configured limit; reading stopped there.
    #[error("Convex response exceeded {limit_bytes} bytes")]
    ResponseTooLarge { limit_bytes: usize },
    /// No complete answer within the configured timeout.
    #[error("Convex did not answer within {after:?}")]
    Timeout { after: Duration },
    /// Connection refused, reset, DNS failure, TLS failure.
    #[error("could not reach Convex: {detail}")]
    Transport { detail: String },
    /// The arguments could not be put in Convex's encoding (checked before any request).
    #[error("arguments cannot be encoded for Convex: {0}")]
    Encode(#[from] EncodeError),
}

impl UpstreamError {
    /// A stable class name for logs, metrics and the ledger.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Function { data: Some(_), .. } => "function_error_with_data",
            Self::Function { data: None, .. } => "function_error",
            Self::Request { .. } => "request_error",
            Self::UnexpectedStatus { .. } => "unexpected_status",
            Self::MalformedResponse { .. } => "malformed_response",
            Self::ResponseTooLarge { .. } => "response_too_large",
            Self::Timeout { .. } => "timeout",
            Self::Transport { .. } => "transport_error",
            Self::Encode(_) => "argument_encoding",
        }
    }

    /// Whether retrying the same request could succeed (overload / OCC).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Request {
                status: 429 | 503,
                ..
            }
        )
    }

    /// What the agent is told: the application's message and `ConvexError` data, never request
    /// ids, stack traces, log lines or raw upstream bodies.
    pub fn agent_message(&self) -> String {
        match self {
            Self::Function {
                data: Some(data), ..
            } => format!("The function reported an error: {data}"),
            Self::Function { message, .. } => {
                format!(
                    "The function failed: {}",
                    sanitize_function_message(message)
                )
            }
            Self::Request { status, code, .. } => {
                format!("The deployment rejected the request (HTTP {status}, {code}).")
            }
            Self::UnexpectedStatus { status, .. } => {
                format!("The deployment answered with HTTP {status}.")
            }
            Self::MalformedResponse { .. } => "The deployment sent a malformed response.".into(),
            Self::ResponseTooLarge { .. } => "The deployment's response was too large.".into(),
            Self::Timeout { after } => format!(
                "The deployment did not answer within {} ms.",
                after.as_millis()
            ),
            Self::Transport { .. } => "The deployment could not be reached.".into(),
            Self::Encode(e) => format!("Invalid arguments: {e}"),
        }
    }

    /// Everything known about the failure, for the ledger.
    pub fn ledger_detail(&self) -> Value {
        let mut detail = match self {
            Self::Function {
                message,
                data,
                log_lines,
            } => json!({"message": message, "data": data, "logLines": log_lines}),
            Self::Request {
                status,
                code,
                message,
            } => json!({"status": status, "code": code, "message": message}),
            Self::UnexpectedStatus {
                status,
                body_excerpt,
            } => json!({"status": status, "body": body_excerpt}),
            Self::MalformedResponse { status, detail } => {
                json!({"status": status, "detail": detail})
            }
            Self::ResponseTooLarge { limit_bytes } => json!({"limitBytes": limit_bytes}),
            Self::Timeout { after } => {
                json!({"afterMs": u64::try_from(after.as_millis()).unwrap_or(u64::MAX)})
            }
            Self::Transport { detail } => json!({"detail": detail}),
            Self::Encode(e) => json!({"path": e.path, "message": e.message}),
        };
        if let Value::Object(map) = &mut detail {
            map.insert("class".into(), Value::String(self.class().into()));
        }
        detail
    }
}

/// Strips the `[Request ID: …] Server Error` preamble and any stack trace from a function error
/// message, keeping the first line of the error itself.
pub fn sanitize_function_message(message: &str) -> String {
    let mut lines = message.lines().map(str::trim);
    let mut first = lines.next().unwrap_or_default();
    if first.starts_with("[Request ID:") || first.starts_with("[CONVEX") {
        first = lines.next().unwrap_or_default();
    }
    let cleaned = first.strip_prefix("Uncaught ").unwrap_or(first);
    if cleaned.is_empty() {
        "Server Error".into()
    } else {
        cleaned.to_string()
    }
}

/// A bounded, char-boundary-safe excerpt of a body for the ledger.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(BODY_EXCERPT_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_request_id_and_stack() {
        let raw = "[Request ID: 4b2f] Server Error\nUncaught Error: boom\n    at handler (../convex/x.ts:3:9)";
        assert_eq!(sanitize_function_message(raw), "Error: boom");
        assert_eq!(
            sanitize_function_message("[Request ID: 1] Server Error"),
            "Server Error"
        );
    }

    #[test]
    fn agent_message_never_contains_request_ids() {
        let e = UpstreamError::Function {
            message: "[Request ID: abc123] Server Error\nUncaught Error: x".into(),
            data: None,
            log_lines: vec!["[LOG] 'secret log'".into()],
        };
        assert!(!e.agent_message().contains("abc123"));
        assert!(!e.agent_message().contains("secret log"));
        assert_eq!(e.ledger_detail()["logLines"][0], "[LOG] 'secret log'");
        assert_eq!(e.ledger_detail()["class"], "function_error");
    }
}

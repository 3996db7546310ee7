//! How the HTTP layer refuses a request: [`Refused`] (status, `request.refused` reason, a
//! sentence), recorded through the refusal budget (`docs/audit-events.md` §7) and rendered as a
//! JSON-RPC error body; over budget before authentication, the same answer after the tarpit
//! delay. The one place that maps an HTTP refusal to its status, body and headers.
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Gateway;
use crate::audit::refusals::{Refusal, Source};
use crate::audit::{RefusalRecord, events};
use crate::principal::Principal;

/// A refusal before the dispatcher: status, `request.refused` reason, a sentence.
pub(super) struct Refused {
    status: StatusCode,
    reason: &'static str,
    detail: String,
    pub(super) session: Option<String>,
    /// The authenticated caller, if authentication passed: the refusal is charged to it.
    pub(super) principal: Option<Box<Principal>>,
    /// A `WWW-Authenticate` value to send (scope step-up).
    pub(super) challenge: Option<String>,
}

impl Refused {
    pub(super) fn new(status: StatusCode, reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            detail: detail.into(),
            session: None,
            principal: None,
            challenge: None,
        }
    }
}

pub(super) fn jsonrpc_error_body(code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}}).to_string()
}

/// Records a refusal (within its budget, `docs/audit-events.md` §7) and renders it (a JSON-RPC
/// error body, as the TypeScript SDK's server does).
pub(super) async fn refuse(gateway: &Gateway, remote: &str, r: Refused) -> Response {
    let source = match &r.principal {
        Some(p) => Source::Principal(p.qualified()),
        None => Source::peer(remote),
    };
    let refusal = Refusal {
        kind: "request.refused",
        reason: r.reason,
        status: r.status.as_u16(),
        source,
    };
    let recorded = gateway
        .audit
        .refusal(&refusal, || {
            events::request_refused(&events::Refused {
                status: r.status.as_u16(),
                reason: r.reason,
                remote,
                session: r.session.as_deref(),
                principal: r.principal.as_deref(),
                detail: &r.detail,
            })
        })
        .await;
    match recorded {
        Err(e) => {
            tracing::error!(error = %e, "could not record a refused request");
            audit_unavailable()
        }
        Ok(RefusalRecord::Counted { .. }) if r.principal.is_none() => {
            tarpit(gateway).await;
            render_refusal(r)
        }
        Ok(_) => render_refusal(r),
    }
}

fn render_refusal(r: Refused) -> Response {
    let code = if r.status == StatusCode::NOT_FOUND {
        -32001
    } else {
        -32000
    };
    let mut response = (
        r.status,
        [(header::CONTENT_TYPE, "application/json")],
        jsonrpc_error_body(code, &r.detail),
    )
        .into_response();
    if let Some(c) = r
        .challenge
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, c);
    }
    if r.status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
    }
    response
}

/// The tarpit for an unauthenticated refusal over its source's budget: counted, not written, and
/// answered as it would have been (the same status and challenge, so that OAuth discovery still
/// works for a client that shares an address with a flood) after `tarpit_ms`, which slows a
/// flooding client down at the cost of a sleeping task, not a thread.
pub(super) async fn tarpit(gateway: &Gateway) {
    let ms = gateway.audit.refusal_config().tarpit_ms;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

pub(super) fn audit_unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "application/json")],
        jsonrpc_error_body(
            -32603,
            "audit ledger unavailable: the request was refused and nothing was forwarded",
        ),
    )
        .into_response()
}

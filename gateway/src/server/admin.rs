//! The operator API on the HTTP listener: pending approvals (`GET /admin/approvals`, `GET
//! /admin/approvals/{id}`), signed receipts (`POST /admin/approvals/{id}`) and a live reload of
//! the catalog and the policy (`POST /admin/reload`). The same Origin and bearer-key checks as
//! `/mcp`, plus the admin role; every refusal is recorded.
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::http::{HttpState, authenticate, check_origin, read_body};
use super::refusal::{Refused, refuse};
use crate::approvals::{Receipt, Refused as ReceiptRefused};
use crate::principal::{AuthMethod, Principal};

/// Origin, bearer credentials and operator rights; `Err` is the recorded refusal.
async fn operator(
    state: &HttpState,
    headers: &HeaderMap,
    remote: &str,
) -> Result<Principal, Response> {
    check_origin(state, headers, remote).await?;
    let principal = authenticate(state, headers, remote).await?.principal;
    let gateway = &state.gateway;
    if !is_operator(&principal, gateway) {
        let role = &gateway.config.server.admin_role;
        let mut r = Refused::new(
            StatusCode::FORBIDDEN,
            "not_admin",
            format!("Forbidden: the operator API needs an API key with the {role:?} role"),
        );
        r.principal = Some(Box::new(principal.clone()));
        return Err(refuse(&state.gateway, remote, r).await);
    }
    Ok(principal)
}

/// Operator rights (`docs/approvals.md` §4): an API key with `[server] admin_role`; an OAuth
/// token only when `[oauth] operator_role` maps one of its roles to them explicitly (a token's
/// roles claim is the identity provider's word, not the gateway operator's).
fn is_operator(principal: &Principal, gateway: &crate::server::Gateway) -> bool {
    match &principal.auth {
        AuthMethod::ApiKey { .. } => principal.roles.contains(&gateway.config.server.admin_role),
        AuthMethod::OAuth { .. } => gateway
            .config
            .oauth
            .as_ref()
            .and_then(|o| o.operator_role.as_ref())
            .is_some_and(|role| principal.roles.contains(role)),
        AuthMethod::Local => false,
    }
}

pub async fn list(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = operator(&state, &headers, &peer.to_string()).await {
        return r;
    }
    let pending = state.gateway.enforcer.approvals.list().await;
    Json(json!({ "pending": pending })).into_response()
}

pub async fn show(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = operator(&state, &headers, &peer.to_string()).await {
        return r;
    }
    match state.gateway.enforcer.approvals.get(&id).await {
        Some(p) => Json(p).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "not_pending", "message": "no pending approval with this id"})),
        )
            .into_response(),
    }
}

pub async fn decide(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let remote = peer.to_string();
    let principal = match operator(&state, &headers, &remote).await {
        Ok(principal) => principal,
        Err(r) => return r,
    };
    // Read after the checks, with the same size limit and read deadline as `/mcp`.
    let body = match read_body(&state, body, &principal).await {
        Ok(body) => body,
        Err(r) => return refuse(&state.gateway, &remote, r).await,
    };
    let receipt: Receipt = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let r = Refused::new(
                StatusCode::BAD_REQUEST,
                "malformed_receipt",
                format!(
                    "Bad Request: a receipt is {{approver, decision, signature, reason?}}: {}",
                    crate::audit::bounded::string(&e.to_string())
                ),
            );
            return refuse(&state.gateway, &remote, r).await;
        }
    };
    match state
        .gateway
        .enforcer
        .approvals
        .receipt(&id, &receipt, &remote)
        .await
    {
        Ok(accepted) => Json(accepted).into_response(),
        Err(ReceiptRefused::Receipt(e)) => {
            let status = match e {
                crate::approvals::ReceiptError::NotPending => StatusCode::NOT_FOUND,
                crate::approvals::ReceiptError::Expired => StatusCode::GONE,
                crate::approvals::ReceiptError::Malformed => StatusCode::BAD_REQUEST,
                _ => StatusCode::FORBIDDEN,
            };
            (
                status,
                Json(json!({"error": e.code(), "message": e.to_string()})),
            )
                .into_response()
        }
        Err(ReceiptRefused::Audit(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "audit_unavailable", "message": e.to_string()})),
        )
            .into_response(),
    }
}

/// `POST /admin/reload`: re-reads the policy file and the function spec now
/// (`server/reload.rs`); answers what each part came to, or 503 if the change could not be
/// recorded (then nothing changed).
pub async fn reload(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = operator(&state, &headers, &peer.to_string()).await {
        return r;
    }
    match state
        .gateway
        .reload(crate::audit::events::Trigger::Admin)
        .await
    {
        Ok(reloaded) => Json(reloaded.to_json()).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "audit_unavailable", "message": e.to_string()})),
        )
            .into_response(),
    }
}

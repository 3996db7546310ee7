//! `auditgate serve --http ADDR`: MCP Streamable HTTP at `/mcp` (POST, GET, DELETE), plus
//! `/healthz`.
//!
//! Checks run in this order, each refusal answered with its status and recorded before the
//! answer: Origin (403) → bearer API key (401) → method-specific headers (406/415) → body size
//! (413) and read time (408) → framing (400 with a JSON-RPC error) → session (400 missing, 404
//! unknown or another principal's) → `MCP-Protocol-Version` (400). Then the message goes to the
//! dispatcher like a stdio line. A request answers `application/json`, or `text/event-stream`
//! when the client asked for progress (`_meta.progressToken`); notifications and responses
//! answer 202. Connections, read timers and graceful shutdown are [`super::listener`]'s.
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use auditgate_ledger::timestamp::Timestamp;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream;
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::Gateway;
use super::listener::{self, BodyTimedOut, Limits, caused_by};
use super::refusal::Refused;
use super::refusal::{audit_unavailable, jsonrpc_error_body, refuse, tarpit};
use super::session::{Session, Transport, new_session_id};
use crate::apikeys::{self, Refusal as KeyRefusal};
use crate::audit::refusals::{Refusal, Source};
use crate::audit::{RefusalRecord, bounded, events};
use crate::enforcement::Progress;
use crate::mcp::jsonrpc::{Frame, Message};
use crate::mcp::lifecycle::{LifecycleError, ProtocolVersion};
use crate::principal::{AuthMethod, Principal};

pub const SESSION_HEADER: &str = "mcp-session-id";
pub const VERSION_HEADER: &str = "mcp-protocol-version";

/// State shared by every request.
#[derive(Debug)]
pub struct HttpState {
    pub gateway: Arc<Gateway>,
    pub(super) sessions: RwLock<HashMap<String, Arc<Session>>>,
    /// Flips to `true` when shutdown begins: open GET streams end, new sessions are refused.
    shutdown: watch::Receiver<bool>,
}

impl HttpState {
    pub fn new(gateway: Arc<Gateway>, shutdown: watch::Receiver<bool>) -> Arc<Self> {
        Arc::new(Self {
            gateway,
            sessions: RwLock::new(HashMap::new()),
            shutdown,
        })
    }

    fn session(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    fn remove(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
    }

    /// Sessions currently open.
    pub fn open_sessions(&self) -> usize {
        self.sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Closes every session (`session.close`, `reason`); returns how many.
    pub async fn close_all(&self, reason: &str) -> u64 {
        let all: Vec<Arc<Session>> = self
            .sessions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        for s in &all {
            self.gateway.close_session(s, reason).await;
        }
        all.len() as u64
    }

    /// Closes sessions idle for longer than the configured limit.
    pub async fn reap_idle(&self) {
        let limit = Duration::from_secs(self.gateway.config.server.session_idle_secs);
        let idle: Vec<Arc<Session>> = {
            let mut map = self.sessions.write().unwrap_or_else(|e| e.into_inner());
            let ids: Vec<String> = map
                .iter()
                .filter(|(_, s)| s.idle_for() > limit)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for s in idle {
            self.gateway.close_session(&s, "idle").await;
        }
    }
}

/// Only the operator API and `/healthz` (for `serve --stdio --admin ADDR`).
pub fn admin_router(state: Arc<HttpState>) -> Router {
    operator_routes(Router::new()).with_state(state)
}

/// `/healthz` and the operator API, shared by both routers.
fn operator_routes(router: Router<Arc<HttpState>>) -> Router<Arc<HttpState>> {
    router
        .route("/healthz", get(healthz))
        .route("/admin/approvals", get(super::admin::list))
        .route(
            "/admin/approvals/{id}",
            get(super::admin::show).post(super::admin::decide),
        )
        .route("/admin/reload", axum::routing::post(super::admin::reload))
}

/// Serves [`admin_router`] until `stop` resolves.
pub async fn serve_admin(
    gateway: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (_tx, rx) = watch::channel(false);
    let limits = Limits::of(&gateway.config.server);
    let app = admin_router(HttpState::new(gateway, rx));
    listener::serve(listener, app, limits, stop).await;
    Ok(())
}

/// The router: `/mcp`, the protected resource metadata, `/healthz` and the operator API.
pub fn router(state: Arc<HttpState>) -> Router {
    let mcp_routes = Router::new()
        .route("/mcp", get(mcp).post(mcp).delete(mcp).fallback(mcp))
        .route(
            "/.well-known/oauth-protected-resource",
            get(protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(protected_resource),
        );
    operator_routes(mcp_routes).with_state(state)
}

/// 403 for a browser `Origin` that is not allowed (DNS rebinding), recorded; checked before
/// authentication on every route that acts.
pub(super) async fn check_origin(
    state: &HttpState,
    headers: &HeaderMap,
    remote: &str,
) -> Result<(), Response> {
    match header_str(headers, header::ORIGIN.as_str()) {
        Some(origin) if !origin_allowed(origin, &state.gateway.config.server.allowed_origins) => {
            let r = Refused::new(
                StatusCode::FORBIDDEN,
                "bad_origin",
                format!(
                    "Forbidden: Origin {:?} is not allowed",
                    bounded::string(origin)
                ),
            );
            Err(refuse(&state.gateway, remote, r).await)
        }
        _ => Ok(()),
    }
}

async fn healthz(State(state): State<Arc<HttpState>>) -> Response {
    let head = state.gateway.audit.ledger().head();
    match state.gateway.audit.health() {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(json!({"status": "ok", "ledger_entries": head.size,
                              "sessions": state.open_sessions()})),
        )
            .into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "unhealthy", "reason": reason,
                              "ledger_entries": head.size})),
        )
            .into_response(),
    }
}

/// Whether an `Origin` may talk to us: loopback hosts on any port, or a configured origin.
pub(super) fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    if allowed.iter().any(|a| a.trim_end_matches('/') == origin) {
        return true;
    }
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().map(|h| format!("[{h}]"))
    } else {
        rest.split(':').next().map(str::to_string)
    };
    matches!(host.as_deref(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

pub(super) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether `Accept` admits `wanted` (`type/sub`, `type/*` or `*/*`).
fn accepts(headers: &HeaderMap, wanted: &str) -> bool {
    let (ty, _) = wanted.split_once('/').unwrap_or((wanted, ""));
    headers.get_all(header::ACCEPT).iter().any(|v| {
        v.to_str().unwrap_or_default().split(',').any(|item| {
            let media = item.split(';').next().unwrap_or_default().trim();
            media == wanted || media == "*/*" || media == format!("{ty}/*")
        })
    })
}

/// Authenticates the bearer token; `Err` is the recorded 401.
pub(super) async fn authenticate(
    state: &HttpState,
    headers: &HeaderMap,
    remote: &str,
) -> Result<Authenticated, Response> {
    let presented = header_str(headers, header::AUTHORIZATION.as_str());
    let token = presented.and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
            .map(str::trim)
    });
    let gateway = &state.gateway;
    let outcome = match token {
        None if presented.is_none() => Err(("missing", events::Presented::Nothing)),
        None => Err(("malformed", events::Presented::Nothing)),
        // An API key (our prefix), or a JWT when an OAuth resource server is configured.
        Some(token) if !token.starts_with(apikeys::TOKEN_PREFIX) && gateway.oauth.is_some() => {
            let rs = gateway.oauth.as_ref().expect("checked above");
            match rs.validate(token).await {
                Ok(v) => Ok(Authenticated {
                    principal: v.principal,
                    scopes: Some(v.scopes),
                }),
                Err(e) => Err((
                    e.code(),
                    events::Presented::Fingerprint(apikeys::token_fingerprint(token)),
                )),
            }
        }
        Some(token) => {
            let now = Timestamp::now();
            match gateway.keys.authenticate(token, now.as_str()) {
                Ok(Ok(key)) => Ok(Authenticated {
                    principal: Principal {
                        name: key.principal,
                        roles: key.roles,
                        auth: AuthMethod::ApiKey { key_id: key.id },
                    },
                    scopes: None,
                }),
                Ok(Err(refusal)) => {
                    let presented = match apikeys::token_id(token) {
                        Some(id) => events::Presented::KeyId(id.to_string()),
                        None => events::Presented::Fingerprint(apikeys::token_fingerprint(token)),
                    };
                    Err((refusal.as_str(), presented))
                }
                Err(e) => {
                    tracing::error!(error = %e, "API key store unreadable; refusing");
                    Err((KeyRefusal::UnknownKey.as_str(), events::Presented::Nothing))
                }
            }
        }
    };
    let (reason, presented) = match outcome {
        Ok(a) => return Ok(a),
        Err(e) => e,
    };
    let refusal = Refusal {
        kind: "auth.refused",
        reason,
        status: StatusCode::UNAUTHORIZED.as_u16(),
        source: Source::peer(remote),
    };
    let recorded = gateway
        .audit
        .refusal(&refusal, || {
            events::auth_refused(reason, &presented, remote, "http")
        })
        .await;
    let message = match reason {
        "missing" => "authentication required: send Authorization: Bearer <token>",
        "malformed" => "the Authorization header must be: Bearer <token>",
        "revoked" => "this API key was revoked",
        "expired" => "the token has expired",
        "not_yet_valid" => "the token is not valid yet",
        "wrong_audience" => "the token was issued for another resource",
        "wrong_issuer" => "the token's issuer is not trusted here",
        "unknown_kid" => "the token's signing key is unknown",
        "bad_signature" => "the token's signature does not verify",
        "alg_not_allowed" => "the token's algorithm is not accepted",
        "insufficient_scope" => "the token lacks the required scope",
        "keys_unavailable" => "the issuer's keys are unavailable; try again later",
        _ => "invalid token",
    };
    match recorded {
        Err(e) => {
            tracing::error!(error = %e, "could not record an auth refusal");
            return Err(audit_unavailable());
        }
        Ok(RefusalRecord::Counted { .. }) => tarpit(&state.gateway).await,
        Ok(RefusalRecord::Entry { .. }) => {}
    }
    let mut challenge = String::from("Bearer realm=\"auditgate\"");
    if let Some(rs) = &gateway.oauth {
        challenge.push_str(&format!(", resource_metadata=\"{}\"", rs.metadata_url()));
        if let Some(scope) = &rs.config.required_scope {
            challenge.push_str(&format!(", scope=\"{scope}\""));
        }
    }
    if reason != "missing" {
        challenge.push_str(&format!(
            ", error=\"invalid_token\", error_description=\"{message}\""
        ));
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json")],
        jsonrpc_error_body(-32001, message),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    Err(response)
}

/// An authenticated request: who, and the token's scopes (`None` for API keys: all scopes).
#[derive(Debug, Clone)]
pub(super) struct Authenticated {
    pub(super) principal: Principal,
    pub(super) scopes: Option<Vec<String>>,
}

/// 403 `insufficient_scope` when a `tools/call` needs a scope the token lacks (RFC 6750 §3.1).
fn check_scope(state: &HttpState, who: &Authenticated, message: &Message) -> Result<(), Refused> {
    let (Some(rs), Some(scopes)) = (&state.gateway.oauth, &who.scopes) else {
        return Ok(());
    };
    let Message::Request { method, params, .. } = message else {
        return Ok(());
    };
    let tool = (method == "tools/call")
        .then(|| params.as_ref()?.as_object()?.get("name")?.as_str())
        .flatten();
    let catalog = state.gateway.enforcer.live.current().catalog.clone();
    let Some(needed) = tool.and_then(|t| rs.tool_scope(catalog.catalog_name(t))) else {
        return Ok(());
    };
    if scopes.iter().any(|s| s == needed) {
        return Ok(());
    }
    let mut r = Refused::new(
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        format!("Forbidden: this tool needs the scope {needed:?}"),
    );
    r.principal = Some(Box::new(who.principal.clone()));
    r.challenge = Some(format!(
        "Bearer error=\"insufficient_scope\", scope=\"{needed}\", resource_metadata=\"{}\"",
        rs.metadata_url()
    ));
    Err(r)
}

async fn protected_resource(State(state): State<Arc<HttpState>>) -> Response {
    match &state.gateway.oauth {
        Some(rs) => axum::Json(rs.metadata()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "no OAuth resource server is configured (API keys only)",
        )
            .into_response(),
    }
}

/// The session a request names, bound to the same principal.
fn bound_session(
    state: &HttpState,
    headers: &HeaderMap,
    principal: &Principal,
) -> Result<Arc<Session>, Refused> {
    let Some(id) = header_str(headers, SESSION_HEADER) else {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "missing_session",
            "Bad Request: Mcp-Session-Id header is required (initialize first)",
        ));
    };
    let not_found = |reason| {
        let mut r = Refused::new(
            StatusCode::NOT_FOUND,
            reason,
            "Session not found: it ended or never existed; initialize a new session",
        );
        r.session = Some(id.to_string());
        r.principal = Some(Box::new(principal.clone()));
        r
    };
    let session = state
        .session(id)
        .ok_or_else(|| not_found("unknown_session"))?;
    if !session.principal.same_caller(principal) {
        return Err(not_found("session_principal_mismatch"));
    }
    Ok(session)
}

/// `MCP-Protocol-Version`, when sent, must name a version we speak. It is not required to equal
/// the negotiated one: the official conformance suite sends 2025-03-26 on sessions negotiated at
/// 2025-11-25, and the spec asks only that unsupported or invalid values be refused.
fn check_version(headers: &HeaderMap) -> Result<(), Refused> {
    let Some(value) = headers.get(VERSION_HEADER) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or_default();
    match ProtocolVersion::parse(text) {
        Some(_) => Ok(()),
        None => Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "bad_protocol_version",
            format!(
                "Bad Request: unsupported MCP-Protocol-Version {:?}",
                bounded::string(text)
            ),
        )),
    }
}

async fn mcp(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let remote = peer.to_string();
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    if let Err(response) = check_origin(&state, headers, &remote).await {
        return response;
    }
    let who = match authenticate(&state, headers, &remote).await {
        Ok(a) => a,
        Err(response) => return response,
    };
    // Every refusal after authentication is the caller's: charged to its budget and recorded
    // with its name.
    let caller = who.principal.clone();
    let outcome = match parts.method {
        Method::POST => post(&state, headers, body, who, &remote).await,
        Method::GET => open_stream(&state, headers, who.principal).await,
        Method::DELETE => delete(&state, headers, who.principal).await,
        _ => Err(Refused::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method Not Allowed: use POST, GET or DELETE",
        )),
    };
    match outcome {
        Ok(response) => response,
        Err(mut r) => {
            r.principal.get_or_insert_with(|| Box::new(caller));
            refuse(&state.gateway, &remote, r).await
        }
    }
}

async fn post(
    state: &Arc<HttpState>,
    headers: &HeaderMap,
    body: Body,
    who: Authenticated,
    remote: &str,
) -> Result<Response, Refused> {
    if !(accepts(headers, "application/json") && accepts(headers, "text/event-stream")) {
        return Err(Refused::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            "Not Acceptable: Client must accept both application/json and text/event-stream",
        ));
    }
    let json_body = header_str(headers, header::CONTENT_TYPE.as_str())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        return Err(Refused::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported Media Type: Content-Type must be application/json",
        ));
    }
    let raw = read_body(state, body, &who.principal).await?;
    let gateway = &state.gateway;
    let frame = match Frame::parse(raw.as_ref()) {
        Ok(f) => f,
        Err(e) => {
            // Ownership before anything is recorded into a session: a bad frame naming another
            // principal's session is recorded as nobody's session.
            let session = header_str(headers, SESSION_HEADER)
                .and_then(|id| state.session(id))
                .filter(|s| s.principal.same_caller(&who.principal));
            let reply = gateway
                .refuse_frame(session.as_deref(), &who.principal, &raw, &e)
                .await;
            return Ok(json_response(StatusCode::BAD_REQUEST, &reply, None));
        }
    };
    let (raw, message) = frame.into_parts();
    check_scope(state, &who, &message)?;
    let principal = who.principal;
    if message.method() == Some("initialize") {
        return initialize(state, headers, principal, remote, &raw, message).await;
    }
    // A 2026-07-28 client probes with `server/discover` before any session: answer it as a
    // JSON-RPC error (recorded) so it falls back to `initialize`, not with a session error.
    if let Message::Request { id, method, .. } = &message
        && method == "server/discover"
        && !headers.contains_key(SESSION_HEADER)
    {
        let error = LifecycleError::DiscoverUnsupported.to_jsonrpc_error();
        let reply = gateway
            .refuse(
                None,
                &principal,
                &raw,
                Some(method),
                Some(id.clone()),
                error,
            )
            .await;
        return Ok(json_response(StatusCode::OK, &reply, None));
    }
    let session = bound_session(state, headers, &principal)?;
    check_version(headers)?;
    if !matches!(message, Message::Request { .. }) {
        gateway
            .handle_as(&session, &principal, &raw, message, None)
            .await;
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    // SSE when the client asked for progress, or when the call may wait for a human approval
    // (the stream then carries progress until the decision); plain JSON otherwise.
    let token = message.progress_token().cloned();
    if token.is_some() || gateway.enforcer.may_wait(&principal, &message) {
        let (tx, rx) = mpsc::unbounded_channel::<Message>();
        let progress = token.map(|token| Progress {
            token,
            sink: tx.clone(),
        });
        let (state, session) = (state.clone(), session.clone());
        // The call runs to its end even if the client goes away: its outcome is recorded.
        tokio::spawn(async move {
            if let Some(reply) = state
                .gateway
                .handle_as(&session, &principal, &raw, message, progress)
                .await
            {
                let _ = tx.send(reply);
            }
        });
        let events = stream::unfold(rx, |mut rx| async move {
            let message = rx.recv().await?;
            let event = Event::default()
                .event("message")
                .data(String::from_utf8_lossy(&message.to_bytes()));
            Some((Ok::<_, Infallible>(event), rx))
        });
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response());
    }
    // In its own task, like the SSE path: hyper drops this handler's future when the client
    // hangs up, and a call cancelled between its `call.request` and its `call.result` would
    // leave a forwarded request without a result (found by the fault campaign,
    // `gateway/tests/campaign_faults.rs`). The task runs to its end; session close and shutdown
    // wait for it through the session's in-flight lock.
    let (task_state, task_session) = (state.clone(), session.clone());
    let reply = tokio::spawn(async move {
        task_state
            .gateway
            .handle_as(&task_session, &principal, &raw, message, None)
            .await
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    Ok(match reply {
        Some(reply) => json_response(StatusCode::OK, &reply, None),
        None => StatusCode::ACCEPTED.into_response(),
    })
}

/// Reads the body of `principal`'s request whole: 413 beyond `[server] max_body_bytes`, 408 when
/// it has not arrived within `body_timeout_secs` of its head (the listener's deadline).
pub(super) async fn read_body(
    state: &HttpState,
    body: Body,
    principal: &Principal,
) -> Result<Bytes, Refused> {
    let server = &state.gateway.config.server;
    let limit = server.max_body_bytes;
    let mut refused = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => return Ok(bytes),
        Err(e) if caused_by::<BodyTimedOut>(&e) => Refused::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "Request Timeout: the body did not arrive within {} s",
                server.body_timeout_secs
            ),
        ),
        Err(e) if caused_by::<http_body_util::LengthLimitError>(&e) => Refused::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("Payload Too Large: the body exceeds {limit} bytes"),
        ),
        // The connection closed or broke mid-body: the client will not read this answer, but
        // the refusal is recorded for what it was.
        Err(_) => Refused::new(
            StatusCode::BAD_REQUEST,
            "body_incomplete",
            "Bad Request: the request body ended before its declared length (the connection \
             closed or failed)",
        ),
    };
    refused.principal = Some(Box::new(principal.clone()));
    Err(refused)
}

async fn initialize(
    state: &Arc<HttpState>,
    headers: &HeaderMap,
    principal: Principal,
    remote: &str,
    raw: &[u8],
    message: Message,
) -> Result<Response, Refused> {
    if headers.contains_key(SESSION_HEADER) {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "missing_session",
            "Bad Request: initialize must not carry Mcp-Session-Id (it starts a new session)",
        ));
    }
    if *state.shutdown.borrow() {
        return Err(Refused::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "Service Unavailable: the gateway is shutting down",
        ));
    }
    let id = new_session_id().map_err(|e| {
        Refused::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no_randomness",
            format!("cannot make a session id: {e}"),
        )
    })?;
    let session = Arc::new(Session::new(
        id.clone(),
        principal,
        Transport::Http,
        Some(remote.to_string()),
        state.gateway.server_info.clone(),
    ));
    // The slot is taken (the session is in the map, not yet open) before `initialize` is
    // recorded, so concurrent initializes cannot all pass the caps.
    make_room(state, &session).await?;
    let reply = state.gateway.handle(&session, raw, message, None).await;
    let opened = session.is_open() && matches!(reply, Some(Message::Response { .. }));
    if !opened {
        state.remove(&id);
    }
    let Some(reply) = reply else {
        return Ok(StatusCode::ACCEPTED.into_response());
    };
    if opened {
        return Ok(json_response(StatusCode::OK, &reply, Some(&id)));
    }
    let status = match &reply {
        Message::ErrorResponse { error, .. } if error.code == -32603 => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::BAD_REQUEST,
    };
    Ok(json_response(status, &reply, None))
}

/// Takes a slot for `session` (inserted, not yet open) under both caps (`[server]
/// max_sessions_per_principal`, `max_sessions`): at either, the principal's own least recently
/// used open session with no request in flight is closed (`evicted`) — never another
/// principal's; with none to close, 503 `too_many_sessions`. Check and insertion happen under one
/// lock, so concurrent initializes cannot overshoot the caps.
async fn make_room(state: &HttpState, session: &Arc<Session>) -> Result<(), Refused> {
    let server = &state.gateway.config.server;
    let evict = {
        let mut map = state.sessions.write().unwrap_or_else(|e| e.into_inner());
        let own: Vec<&Arc<Session>> = map
            .values()
            .filter(|s| s.principal.same_principal(&session.principal))
            .collect();
        let full = own.len() >= server.sessions_per_principal() || map.len() >= server.max_sessions;
        let evict = if full {
            let idle = own
                .into_iter()
                .filter(|s| s.is_open() && s.inflight.try_write().is_ok())
                .max_by_key(|s| s.idle_for())
                .map(|s| s.id.clone());
            let Some(id) = idle else {
                let mut r = Refused::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too_many_sessions",
                    "Service Unavailable: too many open sessions, and none of this caller's is \
                     idle; close one (DELETE) or retry later",
                );
                r.principal = Some(Box::new(session.principal.clone()));
                return Err(r);
            };
            map.remove(&id)
        } else {
            None
        };
        map.insert(session.id.clone(), session.clone());
        evict
    };
    if let Some(s) = evict {
        tracing::info!(session = %s.id, principal = %s.principal.qualified(), "evicting the caller's least recently used session");
        state.gateway.close_session(&s, "evicted").await;
    }
    Ok(())
}

fn json_response(status: StatusCode, message: &Message, session: Option<&str>) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        message.to_bytes(),
    )
        .into_response();
    if let Some(id) = session
        && let Ok(v) = HeaderValue::from_str(id)
    {
        response.headers_mut().insert(SESSION_HEADER, v);
    }
    response
}

/// GET: an SSE stream for server-initiated messages (`notifications/tools/list_changed`); it ends
/// when the session does or the gateway shuts down.
async fn open_stream(
    state: &Arc<HttpState>,
    headers: &HeaderMap,
    principal: Principal,
) -> Result<Response, Refused> {
    if !accepts(headers, "text/event-stream") {
        return Err(Refused::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            "Not Acceptable: Client must accept text/event-stream",
        ));
    }
    let session = bound_session(state, headers, &principal)?;
    check_version(headers)?;
    let shutdown = state.shutdown.clone();
    let changes = state.gateway.reload.subscribe();
    let weak = Arc::downgrade(&session);
    drop(session);
    // The stream carries `notifications/tools/list_changed` after a reload (on one stream of the
    // session only) and keep-alives; it ends when the session closes (checked every few seconds)
    // or the gateway shuts down.
    let events = stream::unfold(
        (shutdown, changes, weak),
        |(mut shutdown, mut changes, weak)| async move {
            loop {
                if *shutdown.borrow_and_update() || weak.upgrade().is_none_or(|s| s.is_closed()) {
                    return None;
                }
                tokio::select! {
                    _ = shutdown.changed() => {}
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                    changed = changes.changed() => {
                        changed.ok()?;
                        let generation = *changes.borrow_and_update();
                        if weak.upgrade().is_some_and(|s| s.claim_notice(generation)) {
                            let notice = crate::mcp::lifecycle::list_changed().to_bytes();
                            let event = Event::default()
                                .event("message")
                                .data(String::from_utf8_lossy(&notice));
                            return Some((Ok::<_, Infallible>(event), (shutdown, changes, weak)));
                        }
                    }
                }
            }
        },
    );
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// DELETE: ends the session (`session.close`, reason `delete`).
async fn delete(
    state: &Arc<HttpState>,
    headers: &HeaderMap,
    principal: Principal,
) -> Result<Response, Refused> {
    let session = bound_session(state, headers, &principal)?;
    state.remove(&session.id);
    state.gateway.close_session(&session, "delete").await;
    Ok(StatusCode::OK.into_response())
}

/// Serves until `stop` resolves; then in-flight requests finish, sessions close, and
/// `gateway.stop` is recorded.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    gateway
        .record_start("http", &addr.to_string())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let (tx, rx) = watch::channel(false);
    let state = HttpState::new(gateway.clone(), rx);
    let reaper = {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                state.reap_idle().await;
            }
        })
    };
    let approvals = gateway.enforcer.approvals.clone();
    let limits = Limits::of(&gateway.config.server);
    // Printed once the start is recorded: tests and scripts read the bound port (ADDR may say
    // port 0) from this line, and may signal the process as soon as they see it.
    eprintln!("auditgate: listening on http://{addr}/mcp");
    let stopping = async move {
        stop.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = tx.send(true);
        // Nothing waits for a human past shutdown: pending approvals expire (recorded).
        approvals.expire_where(None, "gateway_shutdown").await;
    };
    listener::serve(listener, router(state.clone()), limits, stopping).await;
    reaper.abort();
    let closed = state.close_all("shutdown").await;
    gateway.record_stop("signal", closed).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let none: Vec<String> = Vec::new();
        assert!(origin_allowed("http://localhost:3000", &none));
        assert!(origin_allowed("http://127.0.0.1", &none));
        assert!(origin_allowed("https://[::1]:8443", &none));
        assert!(!origin_allowed("http://evil.example", &none));
        assert!(!origin_allowed("http://localhost.evil.example", &none));
        assert!(!origin_allowed("null", &none));
        let some = vec!["https://agents.example.com".to_string()];
        assert!(origin_allowed("https://agents.example.com", &some));
        assert!(!origin_allowed("https://agents.example.com:444", &some));
    }
}

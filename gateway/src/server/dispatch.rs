//! Routes one parsed message of one session: lifecycle first, then the enforcement point;
//! records `session.open` and every JSON-RPC error the gateway answers with (within the
//! caller's refusal budget, `docs/audit-events.md` §7).
//!
//! A request is decided as the principal that sent *it* ([`Gateway::handle_as`]): over HTTP
//! every request is authenticated again, and an OAuth token's roles can differ from those of
//! the token that opened the session (the session is bound to the subject, not to its roles).
use serde_json::json;

use super::Gateway;
use super::session::Session;
use crate::audit::events;
use crate::audit::refusals::{Refusal as Charged, Source};
use crate::enforcement::{Caller, Progress, Refusal};
use crate::mcp::jsonrpc::{ErrorObject, FrameError, Message};
use crate::mcp::lifecycle::{Lifecycle, SessionState, Step};
use crate::principal::Principal;

impl Gateway {
    /// Handles one message as the session's own principal (stdio); `Some(response)` for
    /// requests.
    pub async fn handle(
        &self,
        session: &Session,
        raw: &[u8],
        message: Message,
        progress: Option<Progress>,
    ) -> Option<Message> {
        self.handle_as(session, &session.principal, raw, message, progress)
            .await
    }

    /// Handles one message of `session` sent by `who` (the same caller, as the transport
    /// checked, with the roles its credentials carry now).
    pub async fn handle_as(
        &self,
        session: &Session,
        who: &Principal,
        raw: &[u8],
        message: Message,
        progress: Option<Progress>,
    ) -> Option<Message> {
        session.touch();
        let is_initialize = message.method() == Some("initialize");
        let (step, before) = {
            let mut lifecycle = session.lifecycle();
            let before: Option<Lifecycle> = is_initialize.then(|| lifecycle.clone());
            (lifecycle.on_message(&message), before)
        };
        match step {
            Step::Drop => None,
            Step::Reply(reply) => {
                if let Message::ErrorResponse { id, error } = &reply {
                    return Some(
                        self.refuse(
                            Some(session),
                            who,
                            raw,
                            message.method(),
                            id.clone(),
                            error.clone(),
                        )
                        .await,
                    );
                }
                if is_initialize && let Err(e) = self.record_open(session).await {
                    if let Some(before) = before {
                        *session.lifecycle() = before;
                    }
                    let id = match &reply {
                        Message::Response { id, .. } => Some(id.clone()),
                        _ => None,
                    };
                    return Some(Message::error(id, Refusal::Audit(e).error_object()));
                }
                Some(reply)
            }
            Step::Dispatch => {
                let Message::Request { id, method, params } = message else {
                    // Notifications (cancelled, progress) and responses: nothing to do yet.
                    return None;
                };
                let _inflight = session.inflight.read().await;
                if session.is_closed() {
                    let error = ErrorObject::new(
                        crate::mcp::jsonrpc::code::INVALID_REQUEST,
                        "Invalid Request: the session is closed",
                    );
                    return Some(
                        self.refuse(Some(session), who, raw, Some(&method), Some(id), error)
                            .await,
                    );
                }
                let caller = Caller {
                    session: &session.id,
                    principal: who,
                    progress: progress.as_ref(),
                };
                let outcome = match method.as_str() {
                    "tools/list" => {
                        self.enforcer
                            .list_tools(caller, id.to_value(), params.as_ref())
                            .await
                    }
                    "tools/call" => {
                        session.count_call();
                        self.enforcer
                            .call_tool(caller, id.to_value(), params.as_ref(), raw)
                            .await
                    }
                    // No resources or prompts are declared; clients (and the conformance suite)
                    // that list them anyway get empty lists rather than an error.
                    "resources/list" => Ok(json!({"resources": []})),
                    "resources/templates/list" => Ok(json!({"resourceTemplates": []})),
                    "prompts/list" => Ok(json!({"prompts": []})),
                    other => Err(Refusal::Protocol(ErrorObject::method_not_found(
                        &crate::audit::bounded::string(other),
                    ))),
                };
                Some(match outcome {
                    Ok(result) => Message::result(id, result),
                    Err(Refusal::Protocol(error)) => {
                        self.refuse(Some(session), who, raw, Some(&method), Some(id), error)
                            .await
                    }
                    Err(other) => Message::error(Some(id), other.error_object()),
                })
            }
        }
    }

    /// Records a `protocol.error` (within `who`'s refusal budget; over it, counted in the
    /// window's summary) and returns the error response (or, if even that cannot be recorded,
    /// the audit-unavailable error).
    pub async fn refuse(
        &self,
        session: Option<&Session>,
        who: &Principal,
        raw: &[u8],
        method: Option<&str>,
        id: Option<crate::mcp::jsonrpc::Id>,
        error: ErrorObject,
    ) -> Message {
        let code = error.code.to_string();
        let charged = Charged {
            kind: "protocol.error",
            reason: &code,
            status: 0,
            source: Source::Principal(who.qualified()),
        };
        // Only an opened session is named: an error before `initialize` belongs to no session
        // (verifier rule G3).
        let entry = || {
            events::protocol_error(&events::ProtocolError {
                session: session.filter(|s| s.is_open()).map(|s| s.id.as_str()),
                code: error.code,
                message: &error.message,
                method,
                bytes: raw.len(),
                digest: self.audit.digest(raw),
            })
        };
        match self.audit.refusal(&charged, entry).await {
            Ok(_) => Message::error(id, error),
            Err(e) => Message::error(id, Refusal::Audit(e).error_object()),
        }
    }

    /// The answer to bytes that are not a JSON-RPC message, recorded.
    pub async fn refuse_frame(
        &self,
        session: Option<&Session>,
        who: &Principal,
        raw: &[u8],
        error: &FrameError,
    ) -> Message {
        self.refuse(
            session,
            who,
            raw,
            None,
            error.id().cloned(),
            error.to_jsonrpc_error(),
        )
        .await
    }

    async fn record_open(&self, session: &Session) -> Result<(), crate::audit::AuditError> {
        let (version, client) = match session.lifecycle().state() {
            SessionState::Initialized { version, client }
            | SessionState::Ready { version, client } => (*version, client.clone()),
            SessionState::AwaitingInitialize => return Ok(()),
        };
        let entry = events::session_open(&events::SessionOpen {
            session: &session.id,
            principal: &session.principal,
            transport: session.transport.as_str(),
            protocol_version: version.as_str(),
            client: client.client_info.as_ref(),
            capabilities: &client.capabilities,
            remote: session.remote.as_deref(),
        });
        self.audit.record(entry).await.map(|_| ())
    }

    /// Records `session.close` once per session, after its pending approvals expired and its
    /// requests in flight finished.
    pub async fn close_session(&self, session: &Session, reason: &str) {
        if !session.mark_closed() || !session.is_open() {
            return;
        }
        let expiry = if reason == "shutdown" {
            "gateway_shutdown"
        } else {
            "session_closed"
        };
        self.enforcer
            .approvals
            .expire_where(Some(&session.id), expiry)
            .await;
        let _drained = session.inflight.write().await;
        let entry = events::session_close(&session.id, reason, session.calls());
        if let Err(e) = self.audit.record(entry).await {
            tracing::error!(session = %session.id, error = %e, "could not record session close");
        }
    }
}

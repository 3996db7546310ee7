//! The enforcement point: `tools/list` and `tools/call` for one authenticated principal, in
//! the order `docs/audit-events.md` §6 fixes — decide, record durably, only then forward, record
//! the result durably, only then answer.
//!
//! **Architecture Invariant:** [`Enforcer::call_tool`] is the only code that calls Convex on an
//! agent's behalf, and it does so only after `AuditLog::record` of the `call.request` returned
//! `Ok` with disposition `forward`.
mod call;
pub use call::{CheckedArgs, normalize_call_args};
mod context;
mod originals;
mod outcome;
pub mod snapshot;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use auditgate_ledger::timestamp::Timestamp;
use auditgate_policy::{CommitKey, Decision, Request, Tier};
use serde_json::{Map, Value, json};

use crate::approvals::{Approvals, Outcome, PendingInfo};
use crate::audit::{AuditError, AuditLog, events};
use crate::catalog::{Tool, ToolTarget};
use crate::mcp::jsonrpc::{ErrorObject, Params, code};
use crate::mcp::pagination;
use crate::principal::Principal;
use crate::upstream::convex::{ConvexClient, IdentityMode, UpstreamError};
use snapshot::{Live, Snapshot};

/// How a refused or failed request is answered, and whether the ledger already holds it.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// A JSON-RPC error the ledger does not hold yet (the dispatcher records `protocol.error`).
    Protocol(ErrorObject),
    /// A JSON-RPC error already recorded (e.g. an unknown tool's `call.request`).
    Recorded(ErrorObject),
    /// The ledger could not record: nothing was forwarded, the client gets -32603.
    Audit(AuditError),
}

impl Refusal {
    pub fn error_object(&self) -> ErrorObject {
        match self {
            Refusal::Protocol(e) | Refusal::Recorded(e) => e.clone(),
            Refusal::Audit(e) => ErrorObject::new(
                code::INTERNAL_ERROR,
                "audit ledger unavailable: the request was refused and nothing was forwarded",
            )
            .with_data(json!({"reason": e.0})),
        }
    }
}

impl From<AuditError> for Refusal {
    fn from(e: AuditError) -> Self {
        Refusal::Audit(e)
    }
}

/// A session as the enforcement point sees it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub session: &'a str,
    pub principal: &'a Principal,
    /// Where progress notifications for this request go, if the client asked for them.
    pub progress: Option<&'a Progress>,
}

/// A request's `_meta.progressToken` and the channel that carries its notifications.
#[derive(Debug, Clone)]
pub struct Progress {
    pub token: Value,
    pub sink: tokio::sync::mpsc::UnboundedSender<crate::mcp::jsonrpc::Message>,
}

impl Progress {
    fn notify(&self, progress: u64, message: String) {
        let params = json!({"progressToken": self.token, "progress": progress, "message": message});
        let note = crate::mcp::jsonrpc::Message::Notification {
            method: "notifications/progress".into(),
            params: params
                .as_object()
                .cloned()
                .map(crate::mcp::jsonrpc::Params::Object),
        };
        let _ = self.sink.send(note);
    }
}

/// Everything the enforcement point needs, shared by every session.
#[derive(Debug)]
pub struct Enforcer {
    pub audit: Arc<AuditLog>,
    /// The catalog and policy in force (a reload replaces them together).
    pub live: Live,
    pub upstream: ConvexClient,
    pub identity_mode: IdentityMode,
    pub commit_key: CommitKey,
    pub page_size: NonZeroUsize,
    pub approvals: Arc<Approvals>,
    pub limiter: crate::ratelimit::RateLimiter,
    /// The evidence vault, when `[vault]` is configured.
    pub vault: Option<Arc<crate::vault::Vault>>,
    calls: AtomicU64,
}

/// The MCP `_meta` key naming a tool's tier for this principal.
pub const TIER_META_KEY: &str = "auditgate/tier";

impl Enforcer {
    #[allow(
        clippy::too_many_arguments,
        reason = "one constructor, called once at startup"
    )]
    pub fn new(
        audit: Arc<AuditLog>,
        snapshot: Snapshot,
        upstream: ConvexClient,
        identity_mode: IdentityMode,
        commit_key: CommitKey,
        page_size: NonZeroUsize,
        approvals: Arc<Approvals>,
        limiter: crate::ratelimit::RateLimiter,
    ) -> Self {
        Self {
            approvals,
            limiter,
            audit,
            live: Live::new(snapshot),
            upstream,
            identity_mode,
            commit_key,
            page_size,
            vault: None,
            calls: AtomicU64::new(0),
        }
    }

    /// The same enforcer, keeping committed originals in `vault`.
    #[must_use]
    pub fn with_vault(mut self, vault: Option<Arc<crate::vault::Vault>>) -> Self {
        self.vault = vault;
        self
    }

    /// `tools/call`s handled since start.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn count_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// What the policy is asked; `qualified` is the caller's [`Principal::qualified`] name.
    fn request<'a>(
        &self,
        qualified: &'a str,
        caller: &'a Caller<'_>,
        tool: &'a Tool,
        args: &'a Value,
    ) -> Request<'a> {
        Request {
            principal: qualified,
            roles: &caller.principal.roles,
            tool: &tool.name,
            function_path: tool.function_path(),
            kind: tool.kind(),
            args,
        }
    }

    /// Whether a `tools/call` message names a tool this principal may only run with an approval
    /// (so the transport answers it as a stream that can wait).
    pub fn may_wait(&self, principal: &Principal, message: &crate::mcp::jsonrpc::Message) -> bool {
        let crate::mcp::jsonrpc::Message::Request {
            method,
            params: Some(params),
            ..
        } = message
        else {
            return false;
        };
        let snapshot = self.live.current();
        let Some(tool) = (method == "tools/call")
            .then(|| params.as_object()?.get("name")?.as_str())
            .flatten()
            .and_then(|name| snapshot.catalog.get(name))
        else {
            return false;
        };
        let caller = Caller {
            session: "",
            principal,
            progress: None,
        };
        let qualified = principal.qualified();
        snapshot
            .policy
            .listing_tier(&self.request(&qualified, &caller, tool, &Value::Null))
            == Tier::ApprovalRequired
    }

    /// `tools/list`: this principal's view, one page, recorded before it is returned.
    pub async fn list_tools(
        &self,
        caller: Caller<'_>,
        request_id: Value,
        params: Option<&Params>,
    ) -> Result<Value, Refusal> {
        let cursor = pagination::cursor_param(params)
            .map_err(|e| Refusal::Protocol(e.to_jsonrpc_error()))?;
        // Held until `tools.listed` is durable: the listing names the hashes in force.
        let held = self.live.hold().await;
        let snapshot = held.snapshot.clone();
        let mut visible: Vec<(&Tool, Tier, bool)> = Vec::new();
        let mut hidden = 0usize;
        let qualified = caller.principal.qualified();
        for tool in snapshot.catalog.tools() {
            let request = self.request(&qualified, &caller, tool, &Value::Null);
            let tier = snapshot.policy.listing_tier(&request);
            if tier == Tier::Blocked {
                hidden += 1;
                continue;
            }
            // A response redaction may remove members the output schema requires: such a tool
            // is listed without its `outputSchema`, so clients do not reject redacted results.
            let redacts = !snapshot.policy.decide(&request).response.is_empty();
            visible.push((tool, tier, redacts));
        }
        // The cursor is bound to this exact view.
        let mut view = blake3::Hasher::new();
        for (tool, tier, redacts) in &visible {
            view.update(tool.name.as_bytes());
            view.update(&[*tier as u8, u8::from(*redacts), 0]);
        }
        view.update(snapshot.catalog.hash().as_bytes());
        view.update(snapshot.policy_ref.as_bytes());
        let view_hash = view.finalize().to_hex().to_string();
        let page = pagination::page(&visible, cursor, self.page_size, &view_hash)
            .map_err(|e| Refusal::Protocol(e.to_jsonrpc_error()))?;
        let mut tools = Vec::with_capacity(page.items.len());
        for (tool, tier, redacts) in page.items {
            let mut mcp = snapshot.catalog.listed(tool);
            if *redacts && let Value::Object(map) = &mut mcp {
                map.remove("outputSchema");
            }
            if let Some(meta) = mcp.get_mut("_meta").and_then(Value::as_object_mut) {
                meta.insert(TIER_META_KEY.into(), Value::from(tier.as_str()));
            }
            if *tier == Tier::ApprovalRequired
                && let Some(description) = mcp.get_mut("description")
            {
                let text = description.as_str().unwrap_or_default();
                *description = Value::from(format!(
                    "{text}\n\n[auditgate] Calls to this tool need a human approval before they run."
                ));
            }
            tools.push(mcp);
        }
        let entry = events::tools_listed(&events::Listed {
            session: caller.session,
            principal: caller.principal,
            request_id,
            cursor,
            policy_hash: &snapshot.policy_ref,
            catalog_hash: snapshot.catalog.hash(),
            shown: page.items.iter().map(|(t, _, _)| t.name.as_str()).collect(),
            approval_required: page
                .items
                .iter()
                .filter(|(_, tier, _)| *tier == Tier::ApprovalRequired)
                .map(|(t, _, _)| t.name.as_str())
                .collect(),
            hidden,
        });
        self.audit.record(entry).await?;
        drop(held);
        let mut result = Map::new();
        result.insert("tools".into(), Value::Array(tools));
        if let Some(next) = page.next_cursor {
            result.insert("nextCursor".into(), Value::String(next));
        }
        Ok(Value::Object(result))
    }

    /// A call over a rate limit: recorded as `rate.limited` within the principal's refusal
    /// budget (counted in the window's summary beyond it), answered with when to retry.
    async fn rate_limited(
        &self,
        caller: &Caller<'_>,
        qualified: &str,
        name: &str,
        limited: &crate::ratelimit::Limited,
    ) -> Result<Value, Refusal> {
        let charged = crate::audit::refusals::Refusal {
            kind: "rate.limited",
            reason: limited.scope,
            status: 0,
            source: crate::audit::refusals::Source::Principal(qualified.to_owned()),
        };
        let recorded = self
            .audit
            .refusal(&charged, || {
                events::rate_limited(caller.session, caller.principal, name, limited)
            })
            .await?;
        let per = if limited.scope == "tool" {
            format!("calls to {}", crate::audit::bounded::string(name))
        } else {
            "calls".to_string()
        };
        let audit_ref = match recorded {
            crate::audit::RefusalRecord::Entry { seq } => format!("audit ref: ledger seq {seq}"),
            crate::audit::RefusalRecord::Counted { .. } => {
                "counted in the audit ledger's next refusals summary".to_string()
            }
        };
        Ok(error_result(format!(
            "Rate limited: at most {} {per} per second (bursts of {}); retry in {} ms ({audit_ref}).",
            limited.rate, limited.burst, limited.retry_after_ms
        )))
    }

    /// Waits for a pending approval's outcome, sending progress notifications while it waits;
    /// at `expires_at` it expires (recorded) and the call is refused.
    async fn await_approval(
        &self,
        caller: Caller<'_>,
        info: PendingInfo,
        timeout: Duration,
    ) -> Result<Outcome, Refusal> {
        let id = info.id.clone();
        let required = info.required;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut outcome = self.approvals.open(info).await;
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let mut sent = 0u64;
        loop {
            tokio::select! {
                result = &mut outcome => {
                    return Ok(result.unwrap_or(Outcome::Expired { reason: "gateway_shutdown" }));
                }
                () = tokio::time::sleep_until(deadline) => {
                    self.approvals.expire(&id, "timeout").await?;
                }
                _ = tick.tick() => {
                    if let Some(p) = caller.progress {
                        let granted = self.approvals.get(&id).await.map_or(0, |i| i.granted.len());
                        sent += 1;
                        p.notify(sent, format!(
                            "waiting for human approval {id} ({granted} of {required} given)"
                        ));
                    }
                }
            }
        }
    }

    /// Calls Convex for an allowed, validated call.
    async fn forward(
        &self,
        caller: Caller<'_>,
        tool: &Tool,
        args: &Value,
        encoded_args: Value,
        reads: crate::catalog::data_support::Reads,
    ) -> Result<Value, UpstreamError> {
        let identity = self
            .identity_mode
            .resolve(Some(&caller.principal.convex_identity()))
            .map_err(|e| UpstreamError::Transport {
                detail: e.to_string(),
            })?;
        match &tool.target {
            ToolTarget::Function {
                path,
                kind,
                visibility,
                ..
            } => {
                let result = if *visibility == crate::catalog::spec::Visibility::Internal {
                    self.upstream
                        .call_any(path, encoded_args, &identity)
                        .await?
                } else {
                    self.upstream
                        .call(*kind, path, encoded_args, &identity)
                        .await?
                };
                Ok(result.value)
            }
            ToolTarget::Data(data) => data
                .execute(&self.upstream, reads, args, &identity)
                .await
                .map_err(|e| match e {
                    crate::catalog::data_tools::DataToolError::Upstream(u) => u,
                    other => UpstreamError::Request {
                        status: 400,
                        code: "InvalidDataToolCall".into(),
                        message: other.to_string(),
                    },
                }),
        }
    }
}

/// The decision as recorded in `call.request.decision`.
pub(super) fn decision_json(d: &Decision) -> Value {
    json!({
        "tier": d.tier.as_str(),
        "rule": d.rule_id.as_deref(),
        "reason": &*d.reason,
        "write_capped": d.write_capped,
        "inputs_read": d.inputs_read.iter().map(|p| &**p).collect::<Vec<_>>(),
    })
}

/// A pending approval's record: a fresh id and when it lapses.
pub(super) fn approval_request(d: &Decision) -> Value {
    let mut id = [0u8; 12];
    // Without randomness there is no safe id; an all-zero id would collide, so say so.
    let id = match getrandom::fill(&mut id) {
        Ok(()) => format!("apr_{}", hex::encode(id)),
        Err(_) => "apr_unavailable".into(),
    };
    let settings = d.approval.as_deref();
    let timeout = Duration::from_secs(
        settings.map_or(auditgate_policy::DEFAULT_TIMEOUT_SECS, |s| s.timeout_secs),
    );
    let expires = std::time::SystemTime::now() + timeout;
    let nanos = expires
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let four_eyes = settings.is_some_and(|s| s.four_eyes);
    json!({
        "id": id,
        "expires_at": Timestamp::from_unix_nanos(nanos).as_str(),
        "approver_roles": settings.map(|s| s.approver_roles.clone()).unwrap_or_default(),
        "approver_keys": settings.map(|s| s.approver_keys.clone()).unwrap_or_default(),
        "four_eyes": four_eyes,
        "required": if four_eyes { 2 } else { 1 },
    })
}

/// A `CallToolResult` with `isError: true` and one text block.
pub fn error_result(text: String) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}

/// A successful `CallToolResult`: the value as JSON text, and as `structuredContent` when the
/// tool declares an output schema (wrapped as `{"value": …}` where the catalog says so) and no
/// response redaction applies (such tools are listed without their output schema).
pub(super) fn ok_result(tool: &Tool, value: Value, unredacted: bool) -> Value {
    let text = serde_json::to_string(&value).unwrap_or_default();
    let mut result = json!({"content": [{"type": "text", "text": text}], "isError": false});
    let wrap = matches!(
        tool.target,
        ToolTarget::Function {
            wrap_output: true,
            ..
        }
    );
    if unredacted && tool.output_schema.is_some() {
        result["structuredContent"] = if wrap { json!({"value": value}) } else { value };
    }
    result
}

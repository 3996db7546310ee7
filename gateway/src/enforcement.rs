//! The enforcement point: `tools/list` and `tools/call` for one authenticated principal, in
//! the order `docs/audit-events.md` §6 fixes — decide, record durably, only then forward, record
//! the result durably, only then answer.
//!
//! **Architecture Invariant:** [`Enforcer::call_tool`] is the only code that calls Convex on an
//! agent's behalf, and it does so only after `AuditLog::record` of the `call.request` returned
//! `Ok` with disposition `forward`.
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use auditgate_ledger::canonical;
use auditgate_ledger::timestamp::Timestamp;
use auditgate_policy::{CommitKey, Decision, Policy, Request, Tier};
use serde_json::{Map, Value, json};

use crate::approvals::{Approvals, Outcome, PendingInfo};
use crate::audit::{AuditError, AuditLog, blake3_ref, events};
use crate::catalog::{Catalog, Tool, ToolTarget, data_privacy};
use crate::mcp::jsonrpc::{ErrorObject, Params, code};
use crate::mcp::pagination;
use crate::principal::Principal;
use crate::upstream::convex::codec::to_convex;
use crate::upstream::convex::{ConvexClient, IdentityMode, UpstreamError};

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
    pub catalog: Arc<Catalog>,
    pub policy: Arc<Policy>,
    /// `blake3:<hex>` of the policy file.
    pub policy_ref: String,
    pub upstream: ConvexClient,
    pub identity_mode: IdentityMode,
    pub commit_key: CommitKey,
    pub page_size: NonZeroUsize,
    pub approvals: Arc<Approvals>,
    pub limiter: crate::ratelimit::RateLimiter,
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
        catalog: Arc<Catalog>,
        policy: Arc<Policy>,
        upstream: ConvexClient,
        identity_mode: IdentityMode,
        commit_key: CommitKey,
        page_size: NonZeroUsize,
        approvals: Arc<Approvals>,
        limiter: crate::ratelimit::RateLimiter,
    ) -> Self {
        let policy_ref = format!("blake3:{}", policy.hash_hex());
        Self {
            approvals,
            limiter,
            audit,
            catalog,
            policy,
            policy_ref,
            upstream,
            identity_mode,
            commit_key,
            page_size,
            calls: AtomicU64::new(0),
        }
    }

    /// `tools/call`s handled since start.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
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
        let Some(tool) = (method == "tools/call")
            .then(|| params.as_object()?.get("name")?.as_str())
            .flatten()
            .and_then(|name| self.catalog.get(name))
        else {
            return false;
        };
        let caller = Caller {
            session: "",
            principal,
            progress: None,
        };
        let qualified = principal.qualified();
        self.policy
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
        let mut visible: Vec<(&Tool, Tier, bool)> = Vec::new();
        let mut hidden = 0usize;
        let qualified = caller.principal.qualified();
        for tool in self.catalog.tools() {
            let request = self.request(&qualified, &caller, tool, &Value::Null);
            let tier = self.policy.listing_tier(&request);
            if tier == Tier::Blocked {
                hidden += 1;
                continue;
            }
            // A response redaction may remove members the output schema requires: such a tool
            // is listed without its `outputSchema`, so clients do not reject redacted results.
            let redacts = !self.policy.decide(&request).response.is_empty();
            visible.push((tool, tier, redacts));
        }
        // The cursor is bound to this exact view.
        let mut view = blake3::Hasher::new();
        for (tool, tier, redacts) in &visible {
            view.update(tool.name.as_bytes());
            view.update(&[*tier as u8, u8::from(*redacts), 0]);
        }
        view.update(self.catalog.hash().as_bytes());
        view.update(self.policy_ref.as_bytes());
        let view_hash = view.finalize().to_hex().to_string();
        let page = pagination::page(&visible, cursor, self.page_size, &view_hash)
            .map_err(|e| Refusal::Protocol(e.to_jsonrpc_error()))?;
        let mut tools = Vec::with_capacity(page.items.len());
        for (tool, tier, redacts) in page.items {
            let mut mcp = tool.to_mcp();
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
            policy_hash: &self.policy_ref,
            catalog_hash: self.catalog.hash(),
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
        let mut result = Map::new();
        result.insert("tools".into(), Value::Array(tools));
        if let Some(next) = page.next_cursor {
            result.insert("nextCursor".into(), Value::String(next));
        }
        Ok(Value::Object(result))
    }

    /// `tools/call`: decide, record, forward (allow only), record, answer.
    pub async fn call_tool(
        &self,
        caller: Caller<'_>,
        request_id: Value,
        params: Option<&Params>,
        raw: &[u8],
    ) -> Result<Value, Refusal> {
        let invalid = |why: &str| Refusal::Protocol(ErrorObject::invalid_params(why));
        let params = params
            .and_then(Params::as_object)
            .ok_or_else(|| invalid("tools/call needs params {name, arguments}"))?;
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("tools/call: \"name\" must be a string"))?;
        let args = match params.get("arguments") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(Value::Object(a)) => Value::Object(a.clone()),
            Some(_) => return Err(invalid("tools/call: \"arguments\" must be an object")),
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        let qualified = caller.principal.qualified();
        if let Err(limited) = self.limiter.check(&qualified, name) {
            return self.rate_limited(&caller, &qualified, name, &limited).await;
        }
        let request_digest = blake3_ref(raw);
        let args_digest = blake3_ref(&canonical::encode(&args));

        let Some(tool) = self.catalog.get(name) else {
            let entry = events::call_request(events::CallRequest {
                session: caller.session,
                request_id,
                principal: caller.principal,
                tool: name,
                function_path: None,
                tool_kind: None,
                request_digest,
                args_digest,
                // Without a tool there is no redaction plan: keep only the argument names.
                args: Value::Array(
                    args.as_object()
                        .map(|a| {
                            let (keys, omitted) = crate::audit::bounded::names(a.keys());
                            let mut keys: Vec<Value> =
                                keys.into_iter().map(Value::String).collect();
                            if omitted > 0 {
                                keys.push(Value::String(format!("… and {omitted} more")));
                            }
                            keys
                        })
                        .unwrap_or_default(),
                ),
                redactions: json!([{"path": "$", "mode": "keys-only", "by": "unknown tool"}]),
                policy_hash: &self.policy_ref,
                catalog_hash: self.catalog.hash(),
                decision: json!({"tier": "blocked", "rule": null,
                                 "reason": "no such tool in the catalog",
                                 "write_capped": false, "inputs_read": []}),
                disposition: "unknown_tool",
                approval: None,
                errors: None,
            });
            self.audit.record(entry).await?;
            return Err(Refusal::Recorded(ErrorObject::invalid_params(format!(
                "Unknown tool: {name}"
            ))));
        };

        let decision = self
            .policy
            .decide(&self.request(&qualified, &caller, tool, &args));
        let redacted =
            data_privacy::redact_args(tool, &decision.audit_args, &args, &self.commit_key);
        let mut errors: Vec<Value> = Vec::new();
        let mut upstream_args = Value::Null;
        if decision.tier != Tier::Blocked {
            // At most MAX_NAMES errors recorded, each path capped (a path quotes the caller's
            // keys); the rest only counted.
            let all =
                data_privacy::validate_call(tool, &args, &decision.response, &self.commit_key);
            let total = all.len();
            errors = all
                .into_iter()
                .take(crate::audit::bounded::MAX_NAMES)
                .map(|e| json!({"path": crate::audit::bounded::string(&e.path), "message": e.message}))
                .collect();
            if total > errors.len() {
                errors.push(json!({"path": "", "message":
                    format!("… and {} more errors", total - errors.len())}));
            }
            if errors.is_empty()
                && let ToolTarget::Function { args: v, .. } = &tool.target
            {
                match to_convex(v, &args) {
                    Ok(encoded) => upstream_args = encoded,
                    Err(e) => errors.push(json!({"path": e.path, "message": e.message})),
                }
            }
        }
        let (disposition, approval) = if decision.tier == Tier::Blocked {
            ("blocked", None)
        } else if !errors.is_empty() {
            ("invalid_args", None)
        } else if decision.tier == Tier::ApprovalRequired {
            ("approval_pending", Some(approval_request(&decision)))
        } else {
            ("forward", None)
        };
        // The operator's view of a pending approval; other calls need no copy of the arguments.
        let pending_view = approval
            .is_some()
            .then(|| (redacted.value.clone(), args_digest.clone()));
        let entry = events::call_request(events::CallRequest {
            session: caller.session,
            request_id: request_id.clone(),
            principal: caller.principal,
            tool: &tool.name,
            function_path: tool.function_path(),
            tool_kind: Some(tool.kind().as_str()),
            request_digest,
            args_digest,
            args: redacted.value,
            redactions: serde_json::to_value(&redacted.report).unwrap_or(Value::Null),
            policy_hash: &self.policy_ref,
            catalog_hash: self.catalog.hash(),
            decision: decision_json(&decision),
            disposition,
            approval: approval.clone(),
            errors: (!errors.is_empty()).then(|| Value::Array(errors.clone())),
        });
        let request_seq = self.audit.record(entry).await?.seq;

        match disposition {
            "blocked" => {
                return Ok(error_result(format!(
                    "Blocked by policy: {} (audit ref: ledger seq {request_seq}).",
                    decision.reason
                )));
            }
            "invalid_args" => {
                let list: Vec<String> = errors
                    .iter()
                    .map(|e| {
                        let path = e["path"].as_str().unwrap_or_default();
                        let path = if path.is_empty() { "arguments" } else { path };
                        format!("{path}: {}", e["message"].as_str().unwrap_or_default())
                    })
                    .collect();
                return Ok(error_result(format!(
                    "Invalid arguments for {}: {} (audit ref: ledger seq {request_seq}).",
                    tool.name,
                    list.join("; ")
                )));
            }
            "approval_pending" => {
                let (logged_args, args_digest_ref) = pending_view.unwrap_or_default();
                let info = PendingInfo {
                    id: approval
                        .as_ref()
                        .and_then(|a| a["id"].as_str())
                        .unwrap_or_default()
                        .to_string(),
                    session: caller.session.to_string(),
                    request_seq,
                    caller: caller.principal.name.clone(),
                    tool: tool.name.clone(),
                    args: logged_args,
                    args_digest: args_digest_ref,
                    policy_hash: self.policy_ref.clone(),
                    rule: decision.rule_id.as_deref().map(str::to_string),
                    reason: decision.reason.to_string(),
                    expires_at: approval
                        .as_ref()
                        .and_then(|a| a["expires_at"].as_str())
                        .unwrap_or_default()
                        .to_string(),
                    approver_roles: settings_list(&approval, "approver_roles"),
                    approver_keys: settings_list(&approval, "approver_keys"),
                    four_eyes: approval.as_ref().is_some_and(|a| a["four_eyes"] == true),
                    required: approval
                        .as_ref()
                        .and_then(|a| a["required"].as_u64())
                        .unwrap_or(1) as usize,
                    granted: Vec::new(),
                };
                let timeout = Duration::from_secs(
                    decision
                        .approval
                        .as_deref()
                        .map_or(auditgate_policy::DEFAULT_TIMEOUT_SECS, |a| a.timeout_secs),
                );
                let approval_id = info.id.clone();
                match self.await_approval(caller, info, timeout).await? {
                    Outcome::Approved => {}
                    Outcome::Denied { approver, reason } => {
                        return Ok(error_result(format!(
                            "Approval {approval_id} was denied by {approver}: {reason} (audit ref: \
                             ledger seq {request_seq})."
                        )));
                    }
                    Outcome::Expired { reason } => {
                        return Ok(error_result(format!(
                            "Approval {approval_id} lapsed ({}) and the call was not executed \
                             (audit ref: ledger seq {request_seq}).",
                            reason.replace('_', " ")
                        )));
                    }
                }
            }
            _ => {}
        }

        let started = Instant::now();
        let outcome = self.forward(caller, tool, &args, upstream_args).await;
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (result_entry, answer) = match outcome {
            Ok(value) => {
                let value =
                    data_privacy::readable_tables(tool, value, &self.policy, caller.principal);
                let audit =
                    data_privacy::redact(tool, &decision.audit_result, &value, &self.commit_key);
                let unredacted = canonical::encode(&value);
                let digest = blake3_ref(&unredacted);
                let shown =
                    data_privacy::redact(tool, &decision.response, &value, &self.commit_key).value;
                let entry = |result| {
                    events::call_result(events::CallResult {
                        session: caller.session,
                        request_id: request_id.clone(),
                        request_seq,
                        tool: &tool.name,
                        outcome: "ok",
                        latency_us,
                        result: Some(result),
                        error: None,
                    })
                };
                let full = entry(events::RecordedResult::Full {
                    value: audit.value,
                    redactions: serde_json::to_value(&audit.report).unwrap_or(Value::Null),
                    digest: digest.clone(),
                });
                // A result too large for one entry is recorded by its digest and length, so that
                // the call is still accounted for and the result the client got can be matched
                // (docs/reliability.md, finding 5).
                let recorded = if self.audit.fits(&full) {
                    full
                } else {
                    entry(events::RecordedResult::Omitted {
                        digest,
                        bytes: unredacted.len(),
                    })
                };
                (
                    recorded,
                    ok_result(tool, shown, decision.response.is_empty()),
                )
            }
            Err(e) => {
                let outcome = if matches!(e, UpstreamError::Function { .. }) {
                    "tool_error"
                } else {
                    "upstream_error"
                };
                let entry = |error| {
                    events::call_result(events::CallResult {
                        session: caller.session,
                        request_id: request_id.clone(),
                        request_seq,
                        tool: &tool.name,
                        outcome,
                        latency_us,
                        result: None,
                        error: Some(error),
                    })
                };
                let full = entry(e.ledger_detail());
                // An error detail too large for one entry (a `ConvexError`'s data, log lines) is
                // recorded by its digest and length, like a result (finding 5).
                let recorded = if self.audit.fits(&full) {
                    full
                } else {
                    let detail = canonical::encode(&e.ledger_detail());
                    entry(json!({"class": e.class(), "omitted": {
                        "reason": "entry_limit", "bytes": detail.len(),
                        "digest": blake3_ref(&detail)}}))
                };
                (
                    recorded,
                    error_result(format!(
                        "{} (audit ref: ledger seq {request_seq})",
                        e.agent_message()
                    )),
                )
            }
        };
        // The call was forwarded: the usual -32603 ("nothing was forwarded") would be false here
        // and invite a retry of something that may have taken effect (found by the fault
        // campaign's disk-full scenario).
        self.audit.record(result_entry).await.map_err(|e| {
            Refusal::Recorded(
                ErrorObject::new(
                    code::INTERNAL_ERROR,
                    format!(
                        "audit ledger unavailable: the call was forwarded to Convex but its \
                         outcome could not be recorded (audit ref: ledger seq {request_seq}); it \
                         may have taken effect"
                    ),
                )
                .with_data(json!({"reason": e.0})),
            )
        })?;
        Ok(answer)
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
            ToolTarget::Data(data) => {
                data.execute(&self.upstream, args, &identity)
                    .await
                    .map_err(|e| match e {
                        crate::catalog::data_tools::DataToolError::Upstream(u) => u,
                        other => UpstreamError::Request {
                            status: 400,
                            code: "InvalidDataToolCall".into(),
                            message: other.to_string(),
                        },
                    })
            }
        }
    }
}

/// The decision as recorded in `call.request.decision`.
fn decision_json(d: &Decision) -> Value {
    json!({
        "tier": d.tier.as_str(),
        "rule": d.rule_id.as_deref(),
        "reason": &*d.reason,
        "write_capped": d.write_capped,
        "inputs_read": d.inputs_read.iter().map(|p| &**p).collect::<Vec<_>>(),
    })
}

/// A pending approval's record: a fresh id and when it lapses.
fn approval_request(d: &Decision) -> Value {
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

fn settings_list(approval: &Option<Value>, key: &str) -> Vec<String> {
    approval
        .as_ref()
        .and_then(|a| a[key].as_array())
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
/// A `CallToolResult` with `isError: true` and one text block.
pub fn error_result(text: String) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}

/// A successful `CallToolResult`: the value as JSON text, and as `structuredContent` when the
/// tool declares an output schema (wrapped as `{"value": …}` where the catalog says so) and no
/// response redaction applies (such tools are listed without their output schema).
fn ok_result(tool: &Tool, value: Value, unredacted: bool) -> Value {
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

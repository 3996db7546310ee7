//! `tools/call` as a sequence of named stages, in the order `docs/audit-events.md` §6 fixes:
//! parse → rate limit → decide (validation and normalization, policy, redaction) → keep
//! originals (vault) → record the request → settle (blocked, invalid, approval) → forward →
//! record the result → answer. State the stages share travels in one [`CallContext`].
//!
//! **Architecture Invariant:** [`Enforcer::call_tool`] reaches [`Enforcer::forward`] only after
//! `record_request` returned the seq of a durable `call.request` with disposition `forward`
//! (or an approval reached its grants); the answer leaves only after `record_result` returned.
use std::time::{Duration, Instant};

use auditgate_ledger::canonical;
use auditgate_policy::Tier;
use serde_json::{Map, Value, json};

use super::context::{CallContext, Digests, Disposition};
use super::outcome::Settled;
use super::snapshot::Snapshot;
use super::{Caller, Enforcer, Refusal, approval_request, decision_json, error_result};
use crate::approvals::{Outcome, PendingInfo};
use crate::audit::{bounded, events};
use crate::catalog::{Tool, ToolTarget, data_privacy};
use crate::mcp::jsonrpc::{ErrorObject, Params, code};
use crate::validate::{self, ValidationError};
use crate::vault::Binding;

impl Enforcer {
    /// `tools/call`: decide, record, forward (allow only), record, answer.
    pub async fn call_tool(
        &self,
        caller: Caller<'_>,
        request_id: Value,
        params: Option<&Params>,
        raw: &[u8],
    ) -> Result<Value, Refusal> {
        let (name, args) = parse_params(params)?;
        self.count_call();
        let qualified = caller.principal.qualified();
        // Per-tool limits name tools as the config does: without `[catalog] tool_prefix`.
        if let Err(limited) = self
            .limiter
            .check(&qualified, self.live.current().catalog.catalog_name(name))
        {
            return self.rate_limited(&caller, &qualified, name, &limited).await;
        }
        let request_digest = self.audit.digest(raw);
        // Held until `call.request` is durable: decided, recorded and forwarded under one
        // snapshot, and the entry names the hashes in force (snapshot.rs).
        let held = self.live.hold().await;
        let snapshot = held.snapshot.clone();
        let Some(tool) = snapshot.catalog.get(name) else {
            let digests = Digests {
                request: request_digest,
                args: self.audit.digest(&canonical::encode(&args)),
            };
            return self
                .unknown_tool(&caller, &snapshot, request_id, name, &args, digests)
                .await;
        };
        let mut call = self.decide_call(
            caller,
            &snapshot,
            &qualified,
            request_id,
            tool,
            args,
            request_digest,
        );
        self.precheck_data_call(&mut call).await;
        let binding = Binding::Request {
            args_digest: &call.digests.args,
        };
        if self
            .keep_originals(&call, binding, Some(&call.audit_args))
            .await
            .is_err()
        {
            // Refused and recorded (the refusal is evidence too); its commitments have no
            // originals, and nothing was forwarded.
            call.disposition = Disposition::VaultUnavailable;
        }
        let request_seq = self.record_request(&call).await?;
        drop(held);
        if let Some(answer) = self.settle(&call, request_seq).await? {
            return Ok(answer);
        }
        let started = Instant::now();
        let upstream = self
            .forward(
                call.caller,
                call.tool,
                &call.args,
                call.upstream_args.clone(),
                call.snapshot.catalog.data_support().reads(),
            )
            .await;
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let settled = self.settle_outcome(&call, request_seq, upstream, latency_us);
        self.record_result(&call, request_seq, settled).await
    }

    /// Decide: the arguments validated and normalized (what the policy, the ledger and Convex
    /// see), the policy's decision on them, their audit redaction, the checks that need the
    /// decision, and what the gateway will do.
    #[allow(
        clippy::too_many_arguments,
        reason = "the parts of one request, gathered into the CallContext it returns"
    )]
    fn decide_call<'a>(
        &self,
        caller: Caller<'a>,
        snapshot: &'a Snapshot,
        qualified: &str,
        request_id: Value,
        tool: &'a Tool,
        args: Value,
        request_digest: String,
    ) -> CallContext<'a> {
        let checked = normalize_call_args(tool, args);
        let args = checked.args;
        let digests = Digests {
            request: request_digest,
            args: self.audit.digest(&canonical::encode(&args)),
        };
        let decision = snapshot
            .policy
            .decide(&self.request(qualified, &caller, tool, &args));
        let mut audit_args =
            data_privacy::redact_args(tool, &decision.audit_args, &args, &self.commit_key);
        let args_by_value = super::outcome::redact_by_value(&mut audit_args);
        let (errors, upstream_args) = if decision.tier == Tier::Blocked {
            (Vec::new(), Value::Null)
        } else {
            let errors = checked.errors.unwrap_or_else(|| {
                data_privacy::validate_call(tool, &args, &decision.response, &self.commit_key)
            });
            (recorded_errors(errors), checked.upstream)
        };
        let (disposition, approval) = if decision.tier == Tier::Blocked {
            (Disposition::Blocked, None)
        } else if !errors.is_empty() {
            (Disposition::InvalidArgs, None)
        } else if decision.tier == Tier::ApprovalRequired {
            (
                Disposition::ApprovalPending,
                Some(approval_request(&decision)),
            )
        } else {
            (Disposition::Forward, None)
        };
        CallContext {
            caller,
            snapshot,
            request_id,
            tool,
            args,
            decision,
            audit_args,
            args_by_value,
            digests,
            disposition,
            errors,
            upstream_args,
            approval,
        }
    }

    /// A data-tool call the policy let through that names a table which does not exist (or
    /// passes a cursor its query did not issue) becomes `invalid_args` before it is recorded
    /// (`docs/convex-upstream.md`, "Unknown tables"). A blocked call is not checked, so a
    /// table `[data] tables` keeps from the caller is never confirmed or denied.
    async fn precheck_data_call(&self, call: &mut CallContext<'_>) {
        let ToolTarget::Data(data) = call.tool.target else {
            return;
        };
        if !matches!(
            call.disposition,
            Disposition::Forward | Disposition::ApprovalPending
        ) {
            return;
        }
        let reads = call.snapshot.catalog.data_support().reads();
        let errors = data.precheck(&self.upstream, reads, &call.args).await;
        if !errors.is_empty() {
            let mut errors: Value = errors
                .into_iter()
                .map(|e| json!({"path": bounded::string(&e.path), "message": bounded::string(&e.message)}))
                .collect();
            // The message quotes the table argument: where `[audit] args` redacts it, so does
            // the recorded error.
            auditgate_policy::Exposure::of(call.audit_args.originals.0.iter())
                .scrub_in_place(&mut errors);
            call.errors = match errors {
                Value::Array(list) => list,
                _ => Vec::new(),
            };
            call.disposition = Disposition::InvalidArgs;
            call.approval = None;
        }
    }

    /// Record the request: the durable `call.request` every later stage depends on.
    async fn record_request(&self, call: &CallContext<'_>) -> Result<u64, Refusal> {
        let entry = events::call_request(events::CallRequest {
            session: call.caller.session,
            request_id: call.request_id.clone(),
            principal: call.caller.principal,
            tool: &call.tool.name,
            function_path: call.tool.function_path(),
            tool_kind: Some(call.tool.kind().as_str()),
            request_digest: call.digests.request.clone(),
            args_digest: call.digests.args.clone(),
            args: call.audit_args.value.clone(),
            redactions: super::outcome::report_json(&call.audit_args, call.args_by_value),
            policy_hash: &call.snapshot.policy_ref,
            catalog_hash: call.snapshot.catalog.hash(),
            decision: decision_json(&call.decision),
            disposition: call.disposition.as_str(),
            approval: call.approval.clone(),
            errors: (!call.errors.is_empty()).then(|| Value::Array(call.errors.clone())),
        });
        Ok(self.audit.record(entry).await?.seq)
    }

    /// Settle what does not go upstream now: a blocked or invalid call is answered here; an
    /// approval-required call waits for its approval and is answered here unless approved.
    /// `None`: forward.
    async fn settle(
        &self,
        call: &CallContext<'_>,
        request_seq: u64,
    ) -> Result<Option<Value>, Refusal> {
        match call.disposition {
            Disposition::Forward => Ok(None),
            Disposition::Blocked => Ok(Some(error_result(format!(
                "Blocked by policy: {} (audit ref: ledger seq {request_seq}).",
                call.decision.reason
            )))),
            Disposition::InvalidArgs => Ok(Some(invalid_args_answer(call, request_seq))),
            Disposition::ApprovalPending => self.settle_approval(call, request_seq).await,
            Disposition::VaultUnavailable => Ok(Some(error_result(format!(
                "Refused: the evidence vault could not keep this call's protected values, so \
                 nothing was forwarded (audit ref: ledger seq {request_seq})."
            )))),
        }
    }

    async fn settle_approval(
        &self,
        call: &CallContext<'_>,
        request_seq: u64,
    ) -> Result<Option<Value>, Refusal> {
        let approval = call.approval.as_ref();
        let info = PendingInfo {
            id: approval
                .and_then(|a| a["id"].as_str())
                .unwrap_or_default()
                .to_string(),
            session: call.caller.session.to_string(),
            request_seq,
            caller: call.caller.principal.name.clone(),
            tool: call.tool.name.clone(),
            args: call.audit_args.value.clone(),
            args_digest: call.digests.args.clone(),
            policy_hash: call.snapshot.policy_ref.clone(),
            rule: call.decision.rule_id.as_deref().map(str::to_string),
            reason: call.decision.reason.to_string(),
            expires_at: approval
                .and_then(|a| a["expires_at"].as_str())
                .unwrap_or_default()
                .to_string(),
            approver_roles: settings_list(approval, "approver_roles"),
            approver_keys: settings_list(approval, "approver_keys"),
            four_eyes: approval.is_some_and(|a| a["four_eyes"] == true),
            required: approval
                .and_then(|a| a["required"].as_u64())
                .map_or(1, |n| usize::try_from(n).unwrap_or(usize::MAX)),
            granted: Vec::new(),
        };
        let timeout = Duration::from_secs(
            call.decision
                .approval
                .as_deref()
                .map_or(auditgate_policy::DEFAULT_TIMEOUT_SECS, |a| a.timeout_secs),
        );
        let approval_id = info.id.clone();
        Ok(
            match self.await_approval(call.caller, info, timeout).await? {
                Outcome::Approved => None,
                Outcome::Denied { approver, reason } => Some(error_result(format!(
                    "Approval {approval_id} was denied by {approver}: {reason} (audit ref: ledger \
                 seq {request_seq})."
                ))),
                Outcome::Expired { reason } => Some(error_result(format!(
                    "Approval {approval_id} lapsed ({}) and the call was not executed (audit ref: \
                 ledger seq {request_seq}).",
                    reason.replace('_', " ")
                ))),
            },
        )
    }

    /// Record the result (its committed originals in the vault first), then hand back the
    /// answer. The call was forwarded: the usual -32603 ("nothing was forwarded") would be false
    /// here and invite a retry of something that may have taken effect (found by the fault
    /// campaign's disk-full scenario).
    async fn record_result(
        &self,
        call: &CallContext<'_>,
        request_seq: u64,
        settled: Settled,
    ) -> Result<Value, Refusal> {
        let binding = Binding::Result { request_seq };
        let kept = match self
            .keep_originals(call, binding, settled.committed.as_ref())
            .await
        {
            Ok(()) => Ok(()),
            Err(Refusal::Audit(e)) => Err(e),
            Err(other) => return Err(other),
        };
        let recorded = match kept {
            Ok(()) => self.audit.record(settled.entry).await.map(|_| ()),
            Err(e) => Err(e),
        };
        recorded.map_err(|e| {
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
        Ok(settled.answer)
    }

    /// A call naming no tool of the catalog: recorded with the argument names only (there is no
    /// redaction plan without a tool), refused.
    async fn unknown_tool(
        &self,
        caller: &Caller<'_>,
        snapshot: &Snapshot,
        request_id: Value,
        name: &str,
        args: &Value,
        digests: Digests,
    ) -> Result<Value, Refusal> {
        let entry = events::call_request(events::CallRequest {
            session: caller.session,
            request_id,
            principal: caller.principal,
            tool: name,
            function_path: None,
            tool_kind: None,
            request_digest: digests.request,
            args_digest: digests.args,
            args: Value::Array(argument_names(args)),
            redactions: json!([{"path": "$", "mode": "keys-only", "by": "unknown tool"}]),
            policy_hash: &snapshot.policy_ref,
            catalog_hash: snapshot.catalog.hash(),
            decision: json!({"tier": "blocked", "rule": null,
                             "reason": "no such tool in the catalog",
                             "write_capped": false, "inputs_read": []}),
            disposition: "unknown_tool",
            approval: None,
            errors: None,
        });
        self.audit.record(entry).await?;
        Err(Refusal::Recorded(ErrorObject::invalid_params(format!(
            "Unknown tool: {name}"
        ))))
    }
}

/// Parse: `params` must be `{name: string, arguments?: object}`.
fn parse_params(params: Option<&Params>) -> Result<(&str, Value), Refusal> {
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
    Ok((name, args))
}

/// A call's arguments before the decision: normalized when valid (with their Convex encoding),
/// as received with the violations when not.
pub struct CheckedArgs {
    /// What the policy decides on and the ledger records.
    pub args: Value,
    /// The encoding for Convex (functions with valid arguments; else `null`).
    pub upstream: Value,
    /// The schema violations; `None` when the arguments are valid.
    pub errors: Option<Vec<ValidationError>>,
}

/// Leaves the arguments out: they are never logged.
impl std::fmt::Debug for CheckedArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedArgs")
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

/// Validation against the tool's input schema and normalization by its Convex validator, the
/// stage before the decision (`auditgate explain` runs it too).
pub fn normalize_call_args(tool: &Tool, args: Value) -> CheckedArgs {
    let validator = match &tool.target {
        ToolTarget::Function { args: v, .. } => Some(v),
        ToolTarget::Data(_) => None,
    };
    match validate::normalize_args(&tool.input_schema, validator, &args) {
        Ok(n) => CheckedArgs {
            args: n.plain,
            upstream: n.convex,
            errors: None,
        },
        Err(errors) => CheckedArgs {
            args,
            upstream: Value::Null,
            errors: Some(errors),
        },
    }
}

/// The errors as `call.request` records them: at most `MAX_NAMES`, each path capped (a path
/// quotes the caller's keys), the rest counted.
fn recorded_errors(all: Vec<ValidationError>) -> Vec<Value> {
    let total = all.len();
    let mut errors: Vec<Value> = all
        .into_iter()
        .take(bounded::MAX_NAMES)
        .map(|e| json!({"path": bounded::string(&e.path), "message": e.message}))
        .collect();
    if total > errors.len() {
        errors.push(json!({"path": "", "message":
            format!("… and {} more errors", total - errors.len())}));
    }
    errors
}

fn invalid_args_answer(call: &CallContext<'_>, request_seq: u64) -> Value {
    let list: Vec<String> = call
        .errors
        .iter()
        .map(|e| {
            let path = e["path"].as_str().unwrap_or_default();
            let path = if path.is_empty() { "arguments" } else { path };
            format!("{path}: {}", e["message"].as_str().unwrap_or_default())
        })
        .collect();
    error_result(format!(
        "Invalid arguments for {}: {} (audit ref: ledger seq {request_seq}).",
        call.tool.name,
        list.join("; ")
    ))
}

/// The argument names of a call to an unknown tool (capped), for its `call.request`.
fn argument_names(args: &Value) -> Vec<Value> {
    args.as_object()
        .map(|a| {
            let (keys, omitted) = bounded::names(a.keys());
            let mut keys: Vec<Value> = keys.into_iter().map(Value::String).collect();
            if omitted > 0 {
                keys.push(Value::String(format!("… and {omitted} more")));
            }
            keys
        })
        .unwrap_or_default()
}

fn settings_list(approval: Option<&Value>, key: &str) -> Vec<String> {
    approval
        .and_then(|a| a[key].as_array())
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

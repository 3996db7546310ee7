//! One builder per entry kind of `docs/audit-events.md`; the member names here are that
//! document's. Builders take already-redacted values: nothing in this file sees a secret.
use auditgate_ledger::Draft;
use serde_json::{Map, Value, json};

use super::bounded;
use crate::principal::Principal;

/// A draft from a JSON object built by this module (never fails: kinds and members are ours).
fn draft(kind: &str, body: Value) -> Draft {
    match Draft::from_value(kind, &body) {
        Ok(d) => d,
        // Kinds are literals below and bodies are objects without reserved members.
        Err(e) => unreachable!("audit event {kind} is malformed: {e}"),
    }
}

/// Adds `key: value` unless `value` is `None`.
fn put(body: &mut Value, key: &str, value: Option<Value>) {
    if let (Value::Object(map), Some(v)) = (body, value) {
        map.insert(key.into(), v);
    }
}

#[derive(Debug, Clone)]
pub struct Start<'a> {
    pub instance: &'a str,
    pub transport: &'a str,
    pub listen: &'a str,
    pub config_hash: &'a str,
    pub policy_hash: &'a str,
    pub catalog_hash: &'a str,
    pub upstream: &'a str,
    pub identity_mode: &'a str,
    /// Whether the evidence vault keeps committed originals this run.
    pub vault: bool,
    /// `serve --write`: the write mode this process lowered the policy's ceilings to.
    pub write_limit: Option<&'a str>,
    /// `[catalog] tool_prefix`: what MCP clients see before every tool name.
    pub tool_prefix: Option<&'a str>,
}

/// The scheme of the content digests this gateway writes (`docs/privacy.md` §2): named in
/// `gateway.start`, so a reader knows what a run's digests prove; runs without the member wrote
/// plain `blake3:` digests.
pub const DIGEST_SCHEME: &str = "blake3mac-v1";

pub fn gateway_start(s: &Start<'_>) -> Draft {
    let mut body = json!({
            "instance": s.instance,
            "version": env!("CARGO_PKG_VERSION"),
            "transport": s.transport,
            "listen": s.listen,
            "config_hash": s.config_hash,
            "policy_hash": s.policy_hash,
            "catalog_hash": s.catalog_hash,
            "upstream": s.upstream,
            "identity_mode": s.identity_mode,
            "digests": DIGEST_SCHEME,
            "vault": s.vault,
    });
    put(&mut body, "write_limit", s.write_limit.map(Value::from));
    put(&mut body, "tool_prefix", s.tool_prefix.map(Value::from));
    draft("gateway.start", body)
}

pub fn policy_loaded(policy_hash: &str, file: &str, text: &str) -> Draft {
    draft(
        "policy.loaded",
        json!({"policy_hash": policy_hash, "file": file, "text": text}),
    )
}

pub fn catalog_loaded(catalog_hash: &str, tools: Vec<Value>) -> Draft {
    draft(
        "catalog.loaded",
        json!({"catalog_hash": catalog_hash, "tools": tools}),
    )
}

/// What a reload was asked by (`trigger` of the reload entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Poll,
    Sighup,
    Admin,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Poll => "poll",
            Trigger::Sighup => "sighup",
            Trigger::Admin => "admin",
        }
    }
}

/// `policy.changed`: `policy.loaded`'s members for the new policy, and the one it replaces.
pub fn policy_changed(
    old_hash: &str,
    new_hash: &str,
    file: &str,
    text: &str,
    by: Trigger,
) -> Draft {
    draft(
        "policy.changed",
        json!({"old_policy_hash": old_hash, "policy_hash": new_hash, "file": file,
               "text": text, "trigger": by.as_str()}),
    )
}

/// A new catalog against the one it replaces, by tool name.
#[derive(Debug, Clone)]
pub struct CatalogChange<'a> {
    pub old_hash: &'a str,
    pub new_hash: &'a str,
    /// The whole new catalog, as in `catalog.loaded`.
    pub tools: Vec<Value>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub trigger: Trigger,
}

pub fn catalog_changed(c: CatalogChange<'_>) -> Draft {
    draft(
        "catalog.changed",
        json!({"old_catalog_hash": c.old_hash, "catalog_hash": c.new_hash, "tools": c.tools,
               "added": c.added, "removed": c.removed, "changed": c.changed,
               "trigger": c.trigger.as_str()}),
    )
}

/// Where a rejected policy is wrong: the error's variant and position, never its message.
#[derive(Debug, Clone)]
pub struct PolicyFault<'a> {
    pub class: &'a str,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub field: Option<&'a str>,
}

/// `policy.rejected`: the kept policy's hash, the rejected bytes' hash (if read) and where.
pub fn policy_rejected(
    kept: &str,
    rejected: Option<&str>,
    file: &str,
    fault: &PolicyFault<'_>,
    by: Trigger,
) -> Draft {
    let mut error = json!({"class": fault.class});
    put(&mut error, "line", fault.line.map(Value::from));
    put(&mut error, "column", fault.column.map(Value::from));
    put(&mut error, "field", fault.field.map(Value::from));
    let mut body = json!({"policy_hash": kept, "file": file, "error": error,
                          "trigger": by.as_str()});
    put(&mut body, "rejected_hash", rejected.map(Value::from));
    draft("policy.rejected", body)
}

/// `catalog.rejected`: the kept catalog's hash and why the new spec gave no catalog.
pub fn catalog_rejected(kept: &str, error: &str, by: Trigger) -> Draft {
    draft(
        "catalog.rejected",
        json!({"catalog_hash": kept, "error": bounded::string(error), "trigger": by.as_str()}),
    )
}

/// How a run ended, for `gateway.stop`.
#[derive(Debug, Clone)]
pub struct Stop<'a> {
    pub instance: &'a str,
    pub reason: &'a str,
    pub sessions_closed: u64,
    pub calls: u64,
    /// Approvals still pending as the gateway stops.
    pub approvals_pending: usize,
    /// Appends that failed during the run: an approval's closing entry may be among them.
    pub audit_failures: u64,
}

/// The next start reads nothing back when `approvals_pending` and `audit_failures` are both 0
/// (approvals/left.rs).
pub fn gateway_stop(s: &Stop<'_>) -> Draft {
    draft(
        "gateway.stop",
        json!({"instance": s.instance, "reason": s.reason, "sessions_closed": s.sessions_closed,
               "calls": s.calls, "approvals_pending": s.approvals_pending,
               "audit_failures": s.audit_failures}),
    )
}

#[derive(Debug, Clone)]
pub struct SessionOpen<'a> {
    pub session: &'a str,
    pub principal: &'a Principal,
    pub transport: &'a str,
    pub protocol_version: &'a str,
    pub client: Option<&'a Value>,
    pub capabilities: &'a Map<String, Value>,
    pub remote: Option<&'a str>,
}

pub fn session_open(s: &SessionOpen<'_>) -> Draft {
    let mut caps: Vec<&String> = s.capabilities.keys().collect();
    caps.sort();
    let (caps, caps_omitted) = bounded::names(caps.into_iter());
    let mut body = json!({
        "session": s.session,
        "principal": bounded::string(&s.principal.name),
        "roles": s.principal.roles,
        "auth": s.principal.auth_name(),
        "transport": s.transport,
        "protocol_version": s.protocol_version,
        "client": s.client.map(bounded::value).unwrap_or(Value::Null),
        "capabilities": caps,
    });
    put(
        &mut body,
        "capabilities_omitted",
        (caps_omitted > 0).then(|| Value::from(caps_omitted)),
    );
    put(&mut body, "key_id", s.principal.key_id().map(Value::from));
    put(&mut body, "token", s.principal.token_ref().map(Value::from));
    if let crate::principal::AuthMethod::OAuth { issuer, .. } = &s.principal.auth {
        put(
            &mut body,
            "issuer",
            Some(Value::from(bounded::owned(issuer))),
        );
    }
    put(&mut body, "remote", s.remote.map(Value::from));
    draft("session.open", body)
}

pub fn session_close(session: &str, reason: &str, calls: u64) -> Draft {
    draft(
        "session.close",
        json!({"session": session, "reason": reason, "calls": calls}),
    )
}

/// `key_id` when the token had our shape, else `token_fp`; neither when no token was sent.
#[derive(Debug, Clone)]
pub enum Presented {
    Nothing,
    KeyId(String),
    Fingerprint(String),
}

pub fn auth_refused(reason: &str, presented: &Presented, remote: &str, transport: &str) -> Draft {
    let mut body = json!({"reason": reason, "remote": remote, "transport": transport});
    match presented {
        Presented::Nothing => {}
        Presented::KeyId(id) => put(&mut body, "key_id", Some(bounded::owned(id).into())),
        Presented::Fingerprint(fp) => put(&mut body, "token_fp", Some(fp.as_str().into())),
    }
    draft("auth.refused", body)
}

#[derive(Debug, Clone)]
pub struct Refused<'a> {
    pub status: u16,
    pub reason: &'a str,
    pub remote: &'a str,
    pub session: Option<&'a str>,
    /// The caller, when authentication passed (recorded with its name space, `auth`).
    pub principal: Option<&'a Principal>,
    pub detail: &'a str,
}

pub fn request_refused(r: &Refused<'_>) -> Draft {
    // `detail` is the gateway's sentence, quoting caller strings only capped; capped once more
    // (at a larger size) so that no refusal can approach the entry limit.
    let detail = bounded::sentence(r.detail);
    let mut body = json!({"status": r.status, "reason": r.reason, "remote": r.remote,
                          "detail": detail});
    put(
        &mut body,
        "session",
        r.session.map(|s| bounded::owned(s).into()),
    );
    put(&mut body, "auth", r.principal.map(|p| p.auth_name().into()));
    put(
        &mut body,
        "principal",
        r.principal.map(|p| bounded::owned(&p.name).into()),
    );
    draft("request.refused", body)
}

#[derive(Debug, Clone)]
pub struct ProtocolError<'a> {
    pub session: Option<&'a str>,
    pub code: i64,
    pub message: &'a str,
    pub method: Option<&'a str>,
    /// Length of the raw message.
    pub bytes: usize,
    /// Its keyed digest ([`super::AuditLog::digest`]).
    pub digest: String,
}

pub fn protocol_error(p: &ProtocolError<'_>) -> Draft {
    let mut body = json!({"code": p.code, "message": bounded::sentence(p.message),
                          "bytes": p.bytes, "digest": p.digest});
    put(&mut body, "session", p.session.map(Value::from));
    put(
        &mut body,
        "method",
        p.method.map(|m| bounded::owned(m).into()),
    );
    draft("protocol.error", body)
}

#[derive(Debug, Clone)]
pub struct Listed<'a> {
    pub session: &'a str,
    /// Who the listing was decided for (the request's own credentials).
    pub principal: &'a Principal,
    pub request_id: Value,
    pub cursor: Option<&'a str>,
    pub policy_hash: &'a str,
    pub catalog_hash: &'a str,
    pub shown: Vec<&'a str>,
    pub approval_required: Vec<&'a str>,
    pub hidden: usize,
}

pub fn tools_listed(l: &Listed<'_>) -> Draft {
    draft(
        "tools.listed",
        json!({
            "session": l.session,
            "request_id": bounded::id(&l.request_id),
            "auth": l.principal.auth_name(),
            "roles": l.principal.roles,
            "cursor": l.cursor.map(bounded::owned),
            "policy_hash": l.policy_hash,
            "catalog_hash": l.catalog_hash,
            "shown": l.shown,
            "approval_required": l.approval_required,
            "hidden": l.hidden,
        }),
    )
}

/// A `call.request` body; see the builder below for optional members.
#[derive(Debug, Clone)]
pub struct CallRequest<'a> {
    pub session: &'a str,
    pub request_id: Value,
    pub principal: &'a Principal,
    pub tool: &'a str,
    pub function_path: Option<&'a str>,
    pub tool_kind: Option<&'a str>,
    pub request_digest: String,
    pub args_digest: String,
    pub args: Value,
    pub redactions: Value,
    pub policy_hash: &'a str,
    pub catalog_hash: &'a str,
    pub decision: Value,
    pub disposition: &'a str,
    pub approval: Option<Value>,
    pub errors: Option<Value>,
}

pub fn call_request(c: CallRequest<'_>) -> Draft {
    let mut body = json!({
        "session": c.session,
        "request_id": bounded::id(&c.request_id),
        "principal": bounded::string(&c.principal.name),
        "auth": c.principal.auth_name(),
        "roles": c.principal.roles,
        "tool": bounded::string(c.tool),
        "request_digest": c.request_digest,
        "args_digest": c.args_digest,
        "args": c.args,
        "redactions": c.redactions,
        "policy_hash": c.policy_hash,
        "catalog_hash": c.catalog_hash,
        "decision": c.decision,
        "disposition": c.disposition,
    });
    put(&mut body, "function_path", c.function_path.map(Value::from));
    put(&mut body, "tool_kind", c.tool_kind.map(Value::from));
    put(&mut body, "approval", c.approval);
    put(&mut body, "errors", c.errors);
    draft("call.request", body)
}

#[derive(Debug, Clone)]
pub struct CallResult<'a> {
    pub session: &'a str,
    pub request_id: Value,
    pub request_seq: u64,
    pub tool: &'a str,
    pub outcome: &'a str,
    pub latency_us: u64,
    /// What is recorded of an `ok` result.
    pub result: Option<RecordedResult>,
    pub error: Option<Value>,
}

/// An `ok` result as `call.result` records it.
#[derive(Debug, Clone)]
pub enum RecordedResult {
    /// The result after audit redaction, the redaction report, and the `blake3:` digest of the
    /// unredacted result's canonical bytes.
    Full {
        value: Value,
        redactions: Value,
        digest: String,
    },
    /// A result whose entry would exceed the ledger's entry limit: only the digest and length of
    /// the unredacted result's canonical bytes (`docs/audit-events.md`, "Results too large").
    Omitted { digest: String, bytes: usize },
}

pub fn call_result(c: CallResult<'_>) -> Draft {
    let mut body = json!({
        "session": c.session,
        "request_id": bounded::id(&c.request_id),
        "request_seq": c.request_seq,
        "tool": bounded::string(c.tool),
        "outcome": c.outcome,
        "latency_us": c.latency_us,
    });
    match c.result {
        Some(RecordedResult::Full {
            value,
            redactions,
            digest,
        }) => {
            put(&mut body, "result", Some(value));
            put(&mut body, "redactions", Some(redactions));
            put(&mut body, "result_digest", Some(digest.into()));
        }
        Some(RecordedResult::Omitted { digest, bytes }) => {
            put(
                &mut body,
                "result_omitted",
                Some(json!({"reason": "entry_limit", "bytes": bytes})),
            );
            put(&mut body, "result_digest", Some(digest.into()));
        }
        None => {}
    }
    put(&mut body, "error", c.error);
    draft("call.result", body)
}

/// A receipt the gateway accepted (`approval.granted` / `approval.denied`).
#[derive(Debug, Clone)]
pub struct Receipt<'a> {
    pub session: &'a str,
    pub approval_id: &'a str,
    pub request_seq: u64,
    pub approver: &'a str,
    pub key: &'a str,
    pub statement: &'a str,
    pub signature: &'a str,
    pub count: usize,
    pub reason: Option<&'a str>,
}

pub fn approval_receipt(granted: bool, r: &Receipt<'_>) -> Draft {
    let mut body = json!({
        "session": r.session,
        "approval_id": r.approval_id,
        "request_seq": r.request_seq,
        "approver": r.approver,
        "key": r.key,
        "statement": r.statement,
        "signature": r.signature,
        "count": r.count,
    });
    // The approver's own words: a sentence, capped like one.
    put(
        &mut body,
        "reason",
        r.reason.map(|t| bounded::sentence(t).into()),
    );
    let kind = if granted {
        "approval.granted"
    } else {
        "approval.denied"
    };
    draft(kind, body)
}

pub fn approval_expired(session: &str, approval_id: &str, request_seq: u64, reason: &str) -> Draft {
    draft(
        "approval.expired",
        json!({"session": session, "approval_id": approval_id, "request_seq": request_seq,
               "reason": reason}),
    )
}

pub fn approval_refused(approval_id: &str, approver: &str, reason: &str, remote: &str) -> Draft {
    draft(
        "approval.refused",
        json!({"approval_id": bounded::string(approval_id),
               "approver": bounded::string(approver), "reason": reason, "remote": remote}),
    )
}

pub fn rate_limited(
    session: &str,
    principal: &Principal,
    tool: &str,
    limited: &crate::ratelimit::Limited,
) -> Draft {
    draft(
        "rate.limited",
        json!({"session": session, "principal": bounded::string(&principal.name),
               "auth": principal.auth_name(),
               "tool": bounded::string(tool),
               "scope": limited.scope, "burst": limited.burst,
               "retry_after_ms": limited.retry_after_ms}),
    )
}

/// `audit.resumed`: appends work again after `failures` failed, the first at `since`.
pub fn audit_resumed(
    failures: u64,
    since: &auditgate_ledger::timestamp::Timestamp,
    last_error: &str,
) -> Draft {
    draft(
        "audit.resumed",
        json!({"failures": failures, "since": since.as_str(), "last_error": last_error}),
    )
}

/// A call an earlier run forwarded (or, its approvals all granted, was about to) without a
/// recorded result: its outcome is unknown (`call.interrupted`).
#[derive(Debug, Clone)]
pub struct Interrupted<'a> {
    pub session: &'a str,
    pub request_seq: u64,
    pub request_id: &'a Value,
    pub tool: &'a str,
    /// The approval whose grants were all recorded, for an approval-required call.
    pub approval_id: Option<&'a str>,
}

pub fn call_interrupted(i: &Interrupted<'_>) -> Draft {
    let mut body = json!({"session": i.session, "request_seq": i.request_seq,
                          "request_id": i.request_id, "tool": i.tool,
                          "reason": "gateway_restart", "outcome": "unknown"});
    if let Some(id) = i.approval_id {
        put(&mut body, "approval_id", Some(id.into()));
        put(&mut body, "approved", Some(true.into()));
    }
    draft("call.interrupted", body)
}

/// Commitments listed in one `vault.erased` entry at most (more make several parts).
pub const ERASED_PER_ENTRY: usize = 4096;

/// `vault.erased`: a data subject's vault key was destroyed (`docs/privacy.md` §5.4). One entry
/// per part of at most [`ERASED_PER_ENTRY`] commitments.
pub fn vault_erased(
    key_id: &str,
    commitments: &[String],
    by: &str,
    reason: Option<&str>,
) -> Vec<Draft> {
    let parts: Vec<&[String]> = if commitments.is_empty() {
        vec![&[]]
    } else {
        commitments.chunks(ERASED_PER_ENTRY).collect()
    };
    let total = commitments.len();
    let count = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let mut body = json!({"key_id": key_id, "commitments": part, "total": total,
                                  "part": i + 1, "parts": count, "by": bounded::owned(by)});
            put(
                &mut body,
                "reason",
                reason.map(|r| bounded::sentence(r).into()),
            );
            draft("vault.erased", body)
        })
        .collect()
}

/// `vault.revealed`: an operator opened the vault for the commitments of entry `seq`.
pub fn vault_revealed(seq: u64, commitments: &[String], by: &str, reason: Option<&str>) -> Draft {
    let mut body = json!({"entry_seq": seq, "commitments": commitments, "by": bounded::owned(by)});
    put(
        &mut body,
        "reason",
        reason.map(|r| bounded::sentence(r).into()),
    );
    draft("vault.revealed", body)
}

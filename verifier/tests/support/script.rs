//! Scripted gateway sessions: the entries a gateway writes, member for member as
//! `docs/audit-events.md` specifies, decided and redacted by the real policy engine under a
//! real example policy (`policies/examples/finance-refunds.toml`).
//!
//! [`Script`] has one method per gateway action and keeps the seqs the entries will get, so a
//! test can build a realistic run ([`standard`]) or a run that breaks one rule on purpose.

use auditgate_policy::{CommitKey, Policy, Request, Tier, ToolKind};
use serde_json::{Value, json};

use super::writer::Event;

/// The example policy the scripted gateway runs with.
pub const POLICY_FILE: &str = "finance-refunds.toml";
/// Its text, as committed.
pub const POLICY_TEXT: &str = include_str!("../../../policies/examples/finance-refunds.toml");

/// The commit key of the scripted deployment (the ledger never holds it).
pub fn commit_key() -> CommitKey {
    CommitKey::from_bytes([7; 32])
}

/// The Convex app behind the scripted gateway: (tool name, kind, function path).
pub const CATALOG: &[(&str, ToolKind, Option<&str>)] = &[
    ("customers_get", ToolKind::Query, Some("customers:get")),
    ("invoices_list", ToolKind::Query, Some("invoices:list")),
    (
        "invoices_create",
        ToolKind::Mutation,
        Some("invoices:create"),
    ),
    (
        "invoices_refund",
        ToolKind::Mutation,
        Some("invoices:refund"),
    ),
    (
        "admin_purge_customer",
        ToolKind::Mutation,
        Some("admin:purgeCustomer"),
    ),
    ("convex_list_tables", ToolKind::DataRead, None),
    ("convex_insert_document", ToolKind::DataWrite, None),
];

/// `blake3:<hex>` of some bytes.
pub fn blake3_ref(bytes: &[u8]) -> String {
    format!("blake3:{}", blake3::hash(bytes).to_hex())
}

/// The catalog hash the scripted gateway announces.
pub fn catalog_hash() -> String {
    let names: Vec<&str> = CATALOG.iter().map(|(n, _, _)| *n).collect();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(names.join("\n").as_bytes());
    format!("sha256:{}", hex::encode(digest))
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: &'static str,
    pub roles: Vec<String>,
}

impl Principal {
    pub fn finance_bot() -> Self {
        Principal {
            id: "key_finance_bot",
            roles: vec!["finance".into()],
        }
    }

    pub fn analyst() -> Self {
        Principal {
            id: "key_analyst_ana",
            roles: vec!["analyst".into()],
        }
    }
}

/// An open session, as the script tracks it.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub principal: Principal,
    next_request: u64,
    calls: u64,
}

/// A written `call.request`: what a result must name.
#[derive(Debug, Clone)]
pub struct Req {
    pub seq: u64,
    pub session: String,
    pub request_id: Value,
    pub tool: String,
    pub disposition: &'static str,
    /// The `approval` member, for `approval_pending`.
    pub approval: Option<Value>,
    /// What an approver's statement names.
    pub args_digest: String,
    pub principal: String,
    pub policy_hash: String,
    result_plan: Option<auditgate_policy::Decision>,
}

/// An approver: a name and an Ed25519 key (`docs/approvals.md` §1).
pub fn approver(name: &str, seed: u8) -> auditgate_ledger::SigningKey {
    auditgate_ledger::SigningKey::from_seed(name, &[seed; 32]).expect("approver key")
}

/// The statement an approver signs for `r` (`docs/approvals.md` §2).
pub fn statement(r: &Req, decision: &str, approver: &str) -> String {
    let a = r.approval.as_ref().expect("an approval_pending request");
    format!(
        "auditgate approval v1\napproval {}\nrequest {}\npolicy {}\ntool {}\ncaller {}\nexpires {}\ndecision {decision}\napprover {approver}\n",
        a["id"].as_str().unwrap(),
        r.args_digest,
        r.policy_hash,
        r.tool,
        r.principal,
        a["expires_at"].as_str().unwrap()
    )
}

/// Builds a gateway run entry by entry.
#[derive(Debug)]
pub struct Script {
    pub events: Vec<Event>,
    pub policy: Policy,
    pub policy_hash: String,
    pub catalog_hash: String,
    clock_us: u64,
    /// Entries already handed out by [`Script::drain`].
    drained: u64,
    instance: String,
    calls: u64,
    sessions_closed: u64,
}

impl Script {
    pub fn new() -> Self {
        let (policy, _) = Policy::parse(POLICY_FILE, POLICY_TEXT.as_bytes()).expect("policy");
        Script {
            policy_hash: format!("blake3:{}", policy.hash_hex()),
            policy,
            catalog_hash: catalog_hash(),
            events: Vec::new(),
            clock_us: 0,
            drained: 0,
            instance: "0f3c9a2b7d1e4c58".into(),
            calls: 0,
            sessions_closed: 0,
        }
    }

    /// The seq the next entry gets (genesis is seq 0; the writer adds no other entry).
    pub fn next_seq(&self) -> u64 {
        self.drained + self.events.len() as u64 + 1
    }

    /// Hands out the entries so far (for runs too large to hold in memory); seqs go on.
    pub fn drain(&mut self) -> Vec<Event> {
        self.drained += self.events.len() as u64;
        std::mem::take(&mut self.events)
    }

    /// Appends an entry `after_us` microseconds after the previous one; returns its seq.
    pub fn push(&mut self, after_us: u64, kind: &str, body: Value) -> u64 {
        self.clock_us += after_us;
        let seq = self.next_seq();
        self.events.push(Event {
            at_us: self.clock_us,
            kind: kind.into(),
            body,
        });
        seq
    }

    /// `gateway.start`, `policy.loaded`, `catalog.loaded`.
    pub fn start(&mut self) {
        let body = json!({
            "instance": self.instance, "version": "0.1.0", "transport": "stdio",
            "listen": "stdio", "config_hash": blake3_ref(b"auditgate.toml"),
            "policy_hash": self.policy_hash, "catalog_hash": self.catalog_hash,
            "upstream": "https://happy-otter-123.convex.cloud", "identity_mode": "service",
        });
        self.push(0, "gateway.start", body);
        let body = json!({"policy_hash": self.policy_hash, "file": POLICY_FILE,
                          "text": POLICY_TEXT});
        self.push(180, "policy.loaded", body);
        let tools: Vec<Value> = CATALOG
            .iter()
            .map(|(name, kind, path)| match path {
                Some(p) => json!({"name": name, "kind": kind.as_str(), "function_path": p}),
                None => json!({"name": name, "kind": kind.as_str()}),
            })
            .collect();
        let body = json!({"catalog_hash": self.catalog_hash, "tools": tools});
        self.push(95, "catalog.loaded", body);
    }

    /// `session.open` for `principal`; `n` makes the session id.
    pub fn open(&mut self, n: u8, principal: Principal) -> Session {
        self.open_id(format!("{:02x}", n).repeat(16), principal)
    }

    /// `session.open` with the session id `id` (32 hex digits).
    pub fn open_id(&mut self, id: String, principal: Principal) -> Session {
        let body = json!({
            "session": id, "principal": principal.id, "roles": principal.roles,
            "auth": "api_key", "key_id": principal.id, "transport": "stdio",
            "protocol_version": "2025-06-18",
            "client": {"name": "claude-code", "version": "2.1.4"},
            "capabilities": ["elicitation", "roots"],
        });
        self.push(250_000, "session.open", body);
        Session {
            id,
            principal,
            next_request: 1,
            calls: 0,
        }
    }

    fn request_id(&mut self, s: &mut Session) -> Value {
        let id = s.next_request;
        s.next_request += 1;
        json!(id)
    }

    /// `tools.listed`: the first page of what the principal may see.
    pub fn list(&mut self, s: &mut Session) -> u64 {
        let request_id = self.request_id(s);
        let mut shown = Vec::new();
        let mut approval = Vec::new();
        let mut hidden = 0;
        for (name, kind, path) in CATALOG {
            let tier = self.policy.listing_tier(&Request {
                principal: s.principal.id,
                roles: &s.principal.roles,
                tool: name,
                function_path: *path,
                kind: *kind,
                args: &Value::Null,
            });
            match tier {
                Tier::Blocked => hidden += 1,
                Tier::ApprovalRequired => {
                    shown.push(*name);
                    approval.push(*name);
                }
                Tier::Allow => shown.push(*name),
            }
        }
        let body = json!({
            "session": s.id, "request_id": request_id, "cursor": null,
            "policy_hash": self.policy_hash, "catalog_hash": self.catalog_hash,
            "shown": shown, "approval_required": approval, "hidden": hidden,
        });
        self.push(40_000, "tools.listed", body)
    }

    /// `call.request` for `tool` with `args`, decided by the policy. `schema_errors` makes the
    /// disposition `invalid_args` (the scripted gateway has no schemas of its own).
    pub fn call(
        &mut self,
        s: &mut Session,
        tool: &str,
        args: Value,
        schema_errors: Option<Value>,
    ) -> Req {
        let request_id = self.request_id(s);
        s.calls += 1;
        self.calls += 1;
        let raw = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": request_id,
            "method": "tools/call", "params": {"name": tool, "arguments": args}}))
        .expect("json");
        let args_digest = blake3_ref(&auditgate_ledger::canonical::encode(&args));
        let mut body = json!({
            "session": s.id, "request_id": request_id, "principal": s.principal.id,
            "roles": s.principal.roles, "tool": tool, "request_digest": blake3_ref(&raw),
            "args_digest": args_digest, "policy_hash": self.policy_hash,
            "catalog_hash": self.catalog_hash,
        });
        let found = CATALOG.iter().find(|(n, _, _)| *n == tool);
        let (disposition, plan) = match found {
            None => {
                body["args"] = args;
                body["redactions"] = json!([]);
                body["decision"] = json!({"tier": "blocked", "rule": null,
                    "reason": format!("no tool named {tool:?} in the catalog"),
                    "write_capped": false, "inputs_read": []});
                ("unknown_tool", None)
            }
            Some((_, kind, path)) => {
                if let Some(p) = path {
                    body["function_path"] = json!(p);
                }
                body["tool_kind"] = json!(kind.as_str());
                let d = self.policy.decide(&Request {
                    principal: s.principal.id,
                    roles: &s.principal.roles,
                    tool,
                    function_path: *path,
                    kind: *kind,
                    args: &args,
                });
                let red = d.audit_args.apply(&args, &commit_key());
                body["args"] = red.value;
                body["redactions"] = serde_json::to_value(&red.report).expect("report");
                body["decision"] = json!({"tier": d.tier.as_str(), "rule": d.rule_id.as_deref(),
                    "reason": &*d.reason, "write_capped": d.write_capped,
                    "inputs_read": d.inputs_read.iter().map(|p| &**p).collect::<Vec<_>>()});
                let disposition = match (d.tier, &schema_errors) {
                    (Tier::Blocked, _) => "blocked",
                    (Tier::ApprovalRequired, _) => {
                        let a = d.approval.as_deref().expect("approval settings");
                        body["approval"] = json!({
                            "id": format!("apr_{:04}", self.next_seq()),
                            "expires_at": "2026-11-21T13:00:00.000000000Z",
                            "approver_roles": a.approver_roles,
                            "approver_keys": a.approver_keys,
                            "four_eyes": a.four_eyes,
                            "required": if a.four_eyes { 2 } else { 1 }});
                        "approval_pending"
                    }
                    (Tier::Allow, Some(errors)) => {
                        body["errors"] = errors.clone();
                        "invalid_args"
                    }
                    (Tier::Allow, None) => "forward",
                };
                (disposition, Some(d))
            }
        };
        body["disposition"] = json!(disposition);
        let approval = body.get("approval").cloned();
        let seq = self.push(900, "call.request", body);
        Req {
            seq,
            session: s.id.clone(),
            request_id: request_id.clone(),
            tool: tool.into(),
            disposition,
            approval,
            args_digest,
            principal: s.principal.id.into(),
            policy_hash: self.policy_hash.clone(),
            result_plan: plan,
        }
    }

    /// `call.result` with outcome `ok` (the result redacted by the deciding rule's plan).
    pub fn result_ok(&mut self, r: &Req, latency_us: u64, result: Value) -> u64 {
        let digest = blake3_ref(&auditgate_ledger::canonical::encode(&result));
        let (value, report) = match &r.result_plan {
            Some(d) => {
                let red = d.audit_result.apply(&result, &commit_key());
                (
                    red.value,
                    serde_json::to_value(&red.report).expect("report"),
                )
            }
            None => (result, json!([])),
        };
        let body = json!({
            "session": r.session, "request_id": r.request_id, "request_seq": r.seq,
            "tool": r.tool, "outcome": "ok", "latency_us": latency_us, "result": value,
            "redactions": report, "result_digest": digest,
        });
        self.push(latency_us + 150, "call.result", body)
    }

    /// `call.result` with outcome `ok` for a result too large for one entry: recorded by the
    /// digest and length of its canonical bytes (`result_omitted`).
    pub fn result_omitted(&mut self, r: &Req, latency_us: u64, result: &Value) -> u64 {
        let bytes = auditgate_ledger::canonical::encode(result);
        let body = json!({
            "session": r.session, "request_id": r.request_id, "request_seq": r.seq,
            "tool": r.tool, "outcome": "ok", "latency_us": latency_us,
            "result_omitted": {"reason": "entry_limit", "bytes": bytes.len()},
            "result_digest": blake3_ref(&bytes),
        });
        self.push(latency_us + 150, "call.result", body)
    }

    /// `call.result` with outcome `tool_error` or `upstream_error`; `error` is the upstream
    /// error's ledger detail (an object with `class`, as `UpstreamError::ledger_detail` makes).
    pub fn result_error(&mut self, r: &Req, outcome: &str, latency_us: u64, error: Value) -> u64 {
        let body = json!({
            "session": r.session, "request_id": r.request_id, "request_seq": r.seq,
            "tool": r.tool, "outcome": outcome, "latency_us": latency_us, "error": error,
        });
        self.push(latency_us + 150, "call.result", body)
    }

    /// `approval.granted` (or `approval.denied`) signed by `key`, `count` grants so far,
    /// `after_us` after the previous entry.
    pub fn receipt(
        &mut self,
        r: &Req,
        key: &auditgate_ledger::SigningKey,
        granted: bool,
        count: u64,
        after_us: u64,
    ) -> u64 {
        let decision = if granted { "approve" } else { "deny" };
        let text = statement(r, decision, key.name());
        let sig = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            key.sign(text.as_bytes()),
        );
        let a = r.approval.as_ref().expect("an approval_pending request");
        let body = json!({
            "session": r.session, "approval_id": a["id"], "request_seq": r.seq,
            "approver": key.name(), "key": key.verifier_key().to_string(),
            "statement": text, "signature": sig, "count": count,
        });
        let kind = if granted {
            "approval.granted"
        } else {
            "approval.denied"
        };
        self.push(after_us, kind, body)
    }

    /// `approval.expired`.
    pub fn expire(&mut self, r: &Req, reason: &str) -> u64 {
        let a = r.approval.as_ref().expect("an approval_pending request");
        let body = json!({"session": r.session, "approval_id": a["id"], "request_seq": r.seq,
                          "reason": reason});
        self.push(1_000, "approval.expired", body)
    }

    /// `call.interrupted`: what a restarting gateway writes, before its `gateway.start`, for a
    /// call the earlier run forwarded but recorded no result for (killed between the two). For
    /// an approval-required call (whose approvals were all granted) it names the approval.
    pub fn interrupt(&mut self, r: &Req) -> u64 {
        let mut body = json!({
            "session": r.session, "request_seq": r.seq, "request_id": r.request_id,
            "tool": r.tool, "reason": "gateway_restart", "outcome": "unknown",
        });
        if let Some(a) = &r.approval {
            body["approval_id"] = a["id"].clone();
            body["approved"] = json!(true);
        }
        self.push(1_000, "call.interrupted", body)
    }

    /// `session.close`.
    pub fn close(&mut self, s: &Session, reason: &str) -> u64 {
        self.sessions_closed += 1;
        let body = json!({"session": s.id, "reason": reason, "calls": s.calls});
        self.push(30_000, "session.close", body)
    }

    /// `gateway.stop`.
    pub fn stop(&mut self) -> u64 {
        let body = json!({"instance": self.instance, "reason": "eof",
                          "sessions_closed": self.sessions_closed, "calls": self.calls});
        self.push(2_000, "gateway.stop", body)
    }
}

impl Default for Script {
    fn default() -> Self {
        Self::new()
    }
}

/// A realistic run: a finance agent lists its tools and makes a call of every disposition
/// (forwarded with `ok`, `tool_error` and `upstream_error` results; blocked; waiting for
/// approval; invalid arguments; unknown tool), while an analyst's agent is refused; then both
/// sessions close and the gateway stops.
pub fn standard() -> Script {
    let mut s = Script::new();
    s.start();
    let mut fin = s.open(0xa1, Principal::finance_bot());
    s.list(&mut fin);
    let r = s.call(
        &mut fin,
        "invoices_list",
        json!({"status": "open", "limit": 2}),
        None,
    );
    s.result_ok(
        &r,
        48_210,
        json!({"page": [
            {"_id": "inv_7Hq2", "customer": "cus_91", "amountCents": 120000, "status": "open"},
            {"_id": "inv_7Hq9", "customer": "cus_17", "amountCents": 2500, "status": "open"}],
            "isDone": true}),
    );
    let mut ana = s.open(0xb2, Principal::analyst());
    s.list(&mut ana);
    let r = s.call(
        &mut fin,
        "invoices_refund",
        json!({"invoiceId": "inv_7Hq9", "amountCents": 2500,
               "reason": "duplicate charge, ticket #4411",
               "card": {"last4": "4242", "token": "tok_visa_8842"}}),
        None,
    );
    s.result_ok(
        &r,
        91_877,
        json!({"refundId": "re_3Kd8", "status": "succeeded"}),
    );
    let r = s.call(&mut ana, "customers_get", json!({"id": "cus_91"}), None);
    assert_eq!(r.disposition, "blocked");
    let waiting = s.call(
        &mut fin,
        "invoices_refund",
        json!({"invoiceId": "inv_7Hq2", "amountCents": 120000, "reason": "customer churned"}),
        None,
    );
    let r = s.call(
        &mut fin,
        "admin_purge_customer",
        json!({"id": "cus_91"}),
        None,
    );
    assert_eq!(r.disposition, "blocked");
    s.call(
        &mut fin,
        "invoices_create",
        json!({"customer": "cus_17", "amountCents": "12.50"}),
        Some(json!([{"path": "/amountCents", "message": "expected integer, got string"}])),
    );
    s.call(&mut fin, "invoices_void", json!({"id": "inv_7Hq2"}), None);
    let r = s.call(&mut fin, "customers_get", json!({"id": "cus_404"}), None);
    s.result_error(
        &r,
        "tool_error",
        23_400,
        json!({"class": "function_error_with_data",
               "message": "Uncaught ConvexError: customer cus_404 not found",
               "data": {"code": "NOT_FOUND", "id": "cus_404"},
               "logLines": ["[ERROR] customers:get cus_404 not found"]}),
    );
    let r = s.call(&mut fin, "invoices_list", json!({"status": "paid"}), None);
    s.result_error(
        &r,
        "upstream_error",
        30_000_000,
        json!({"class": "timeout", "afterMs": 30000}),
    );
    s.close(&ana, "eof");
    s.expire(&waiting, "session_closed");
    s.close(&fin, "eof");
    s.stop();
    s
}

/// A run killed (`kill -9`) while two calls were in Convex: an allowed read and a large refund
/// whose two approvals were granted, plus a second large refund still waiting for approval.
/// The restarted gateway records `call.interrupted` for the two forwarded calls and
/// `approval.expired` (`gateway_restart`) for the pending one, then its `gateway.start`; a new
/// session follows. Returns the script and the two interrupted requests (read, refund).
pub fn interrupted() -> (Script, Req, Req) {
    let mut s = Script::new();
    s.start();
    let mut fin = s.open(0xa1, Principal::finance_bot());
    s.list(&mut fin);
    let r = s.call(&mut fin, "invoices_list", json!({"status": "open"}), None);
    s.result_ok(&r, 41_000, json!({"page": [], "isDone": true}));
    let refund = s.call(
        &mut fin,
        "invoices_refund",
        json!({"invoiceId": "inv_9", "amountCents": 250000, "reason": "churn"}),
        None,
    );
    assert_eq!(refund.disposition, "approval_pending");
    s.receipt(&refund, &approver("dana", 1), true, 1, 60_000_000);
    s.receipt(&refund, &approver("erin", 2), true, 2, 30_000_000);
    let read = s.call(&mut fin, "customers_get", json!({"id": "cus_91"}), None);
    assert_eq!(read.disposition, "forward");
    let waiting = s.call(
        &mut fin,
        "invoices_refund",
        json!({"invoiceId": "inv_7", "amountCents": 180000, "reason": "late delivery"}),
        None,
    );
    // Killed here. The restart:
    s.interrupt(&refund);
    s.interrupt(&read);
    s.expire(&waiting, "gateway_restart");
    s.start();
    let mut again = s.open(0xa2, Principal::finance_bot());
    s.list(&mut again);
    s.close(&again, "eof");
    s.stop();
    (s, read, refund)
}

/// A long run for benchmarks: gateway start, then sessions of a listing and `calls_per_session`
/// calls (mostly forwarded with results, a few refused), each closed, handed to `sink` in
/// chunks until at least `entries` entries were made.
pub fn bulk(entries: u64, calls_per_session: u64, sink: &mut dyn FnMut(Vec<Event>)) {
    let mut s = Script::new();
    s.start();
    let mut n = 0u64;
    while s.next_seq() <= entries {
        let mut sess = s.open_id(format!("{n:032x}"), Principal::finance_bot());
        s.list(&mut sess);
        for c in 0..calls_per_session {
            match c % 10 {
                9 => {
                    s.call(
                        &mut sess,
                        "admin_purge_customer",
                        json!({"id": format!("cus_{c}")}),
                        None,
                    );
                }
                8 => {
                    s.call(
                        &mut sess,
                        "invoices_refund",
                        json!({"invoiceId": format!("inv_{n}_{c}"), "amountCents": 150000 + c,
                               "reason": "customer requested a refund of the annual plan"}),
                        None,
                    );
                }
                k if k % 2 == 0 => {
                    let r = s.call(
                        &mut sess,
                        "invoices_refund",
                        json!({"invoiceId": format!("inv_{n}_{c}"), "amountCents": 1250 + c,
                               "reason": "duplicate charge reported by customer via support ticket",
                               "card": {"last4": "4242", "token": "tok_visa_8842"}}),
                        None,
                    );
                    s.result_ok(
                        &r,
                        80_000 + c,
                        json!({"refundId": format!("re_{n}_{c}"),
                                                       "status": "succeeded"}),
                    );
                }
                _ => {
                    let r = s.call(
                        &mut sess,
                        "invoices_list",
                        json!({"status": "open", "limit": 20}),
                        None,
                    );
                    s.result_ok(&r, 40_000 + c, json!({"page": [
                        {"_id": format!("inv_{n}_a"), "customer": "cus_91", "amountCents": 120000, "status": "open"},
                        {"_id": format!("inv_{n}_b"), "customer": "cus_17", "amountCents": 2500, "status": "open"}],
                        "isDone": false, "continueCursor": "g2dtZWQAAAABAAAAAAAAAA"}));
                }
            }
        }
        s.close(&sess, "eof");
        n += 1;
        if s.events.len() >= 4096 {
            sink(s.drain());
        }
    }
    s.stop();
    sink(s.drain());
}

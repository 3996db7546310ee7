//! One session as a sequence of steps — what the agent was shown, asked, was allowed and did —
//! built from its ledger entries; rendered by `replay_text` (terminal) and `replay_html`. A
//! call's result or `call.interrupted` is folded into its step.

use std::collections::HashMap;

use serde_json::Value;

use crate::event::{self, Entry};
use crate::rfc3339;

/// What became of a step, for colours and the outcome filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Session lifecycle or a listing.
    Info,
    /// Forwarded, result `ok`.
    Ok,
    /// Forwarded, the function threw.
    ToolError,
    /// Forwarded, transport, timeout or HTTP failure.
    UpstreamError,
    /// Forwarded, no result in the ledger (dangling or cut off by the selection).
    NoResult,
    /// Forwarded, then the gateway restarted before its result (`call.interrupted`): the
    /// outcome is unknown.
    Interrupted,
    /// Refused by the policy.
    Blocked,
    /// Waiting for approval.
    ApprovalPending,
    /// Arguments failed the tool's schema.
    InvalidArgs,
    /// No such tool.
    UnknownTool,
}

impl Status {
    /// The name used in filters and CSS classes.
    pub fn name(self) -> &'static str {
        match self {
            Status::Info => "info",
            Status::Ok => "ok",
            Status::ToolError => "tool_error",
            Status::UpstreamError => "upstream_error",
            Status::NoResult => "no_result",
            Status::Interrupted => "interrupted",
            Status::Blocked => "blocked",
            Status::ApprovalPending => "approval_pending",
            Status::InvalidArgs => "invalid_args",
            Status::UnknownTool => "unknown_tool",
        }
    }

    /// A short label for people.
    pub fn label(self) -> &'static str {
        match self {
            Status::Info => "info",
            Status::Ok => "ok",
            Status::ToolError => "tool error",
            Status::UpstreamError => "upstream error",
            Status::NoResult => "no result",
            Status::Interrupted => "outcome unknown",
            Status::Blocked => "blocked",
            Status::ApprovalPending => "awaiting approval",
            Status::InvalidArgs => "invalid arguments",
            Status::UnknownTool => "unknown tool",
        }
    }
}

/// One redacted location.
#[derive(Debug, Clone)]
pub struct Redaction {
    /// `args` or `result`.
    pub side: &'static str,
    /// Normalized JSONPath.
    pub path: String,
    /// `drop`, `mask` or `commit`.
    pub mode: String,
    /// The configured path that selected it.
    pub by: String,
}

/// One step of the timeline.
#[derive(Debug, Clone)]
pub struct Step {
    /// The entry's seq (the request's, for a call).
    pub seq: u64,
    /// Its ts.
    pub ts: String,
    /// Nanoseconds since the session opened.
    pub offset_ns: i128,
    /// `open`, `list`, `call`, `close` or the entry kind.
    pub kind: String,
    /// A one-line title.
    pub title: String,
    /// What became of it.
    pub status: Status,
    /// `tier (rule)` and the policy's reason, for calls.
    pub decision: Option<(String, Option<String>, String)>,
    /// Lines of detail (approval, validation errors, error messages, listing contents).
    pub details: Vec<String>,
    /// Arguments as recorded (after audit redaction).
    pub args: Option<Value>,
    /// Result as recorded (after audit redaction).
    pub result: Option<Value>,
    /// The result entry's seq.
    pub result_seq: Option<u64>,
    /// Upstream latency.
    pub latency_us: Option<u64>,
    /// Redacted locations.
    pub redactions: Vec<Redaction>,
}

/// A session and its steps.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Session id.
    pub session: String,
    /// Principal and roles.
    pub principal: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Client name and version.
    pub client: String,
    /// Transport (and remote address).
    pub transport: String,
    /// MCP protocol version.
    pub protocol: String,
    /// Opened at.
    pub opened: Option<String>,
    /// Closed at, and why.
    pub closed: Option<(String, String)>,
    /// The policy file and hash in force at the open.
    pub policy: Option<(String, String)>,
    /// Steps in seq order.
    pub steps: Vec<Step>,
}

impl Timeline {
    /// Counts of steps by status (calls only).
    pub fn counts(&self) -> Vec<(Status, usize)> {
        let mut m: HashMap<Status, usize> = HashMap::new();
        for s in self.steps.iter().filter(|s| s.kind == "call") {
            *m.entry(s.status).or_default() += 1;
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort();
        v
    }
}

fn redactions(side: &'static str, v: &Value) -> Vec<Redaction> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| Redaction {
                    side,
                    path: event::plain(&r["path"]),
                    mode: event::plain(&r["mode"]),
                    by: event::plain(&r["by"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Builds the timeline of `session` from `entries` (in seq order; other sessions' entries and
/// the gateway's own are used for context only). `None` if the session never opened here.
pub fn build(session: &str, entries: &[Entry]) -> Option<Timeline> {
    let open_idx = entries
        .iter()
        .position(|e| e.kind == event::SESSION_OPEN && e.session() == Some(session))?;
    let open = &entries[open_idx];
    let policy = entries[..open_idx]
        .iter()
        .rev()
        .find(|e| event::sets_policy(&e.kind))
        .map(|e| {
            (
                e.str("file").unwrap_or("").to_owned(),
                e.str("policy_hash").unwrap_or("").to_owned(),
            )
        });
    let start = rfc3339::ledger_nanos(&open.ts);
    let client = event::client_label(open.get("client")).unwrap_or_else(|| "unknown client".into());
    let transport = match open.str("remote") {
        Some(r) => format!("{} from {r}", open.str("transport").unwrap_or("?")),
        None => open.str("transport").unwrap_or("?").to_owned(),
    };
    let mut tl = Timeline {
        session: session.to_owned(),
        principal: open.str("principal").unwrap_or("?").to_owned(),
        roles: open
            .get("roles")
            .as_array()
            .map_or(Vec::new(), |a| a.iter().map(event::plain).collect()),
        client,
        transport,
        protocol: open.str("protocol_version").unwrap_or("?").to_owned(),
        opened: Some(open.ts.clone()),
        closed: None,
        policy,
        steps: Vec::new(),
    };
    let mine: Vec<&Entry> = entries[open_idx..]
        .iter()
        .filter(|e| e.session() == Some(session))
        .collect();
    let by_request = |kind: &str| -> HashMap<u64, &Entry> {
        mine.iter()
            .filter(|e| e.kind == kind)
            .filter_map(|e| Some((e.get("request_seq").as_u64()?, *e)))
            .collect()
    };
    let results = by_request(event::CALL_RESULT);
    let interruptions = by_request(event::CALL_INTERRUPTED);
    let mut grants = Grants::new(&mine);
    for e in mine {
        let offset_ns = rfc3339::ledger_nanos(&e.ts) - start;
        let mut step = Step {
            seq: e.seq,
            ts: e.ts.clone(),
            offset_ns,
            kind: e.kind.clone(),
            title: e.kind.clone(),
            status: Status::Info,
            decision: None,
            details: Vec::new(),
            args: None,
            result: None,
            result_seq: None,
            latency_us: None,
            redactions: Vec::new(),
        };
        match e.kind.as_str() {
            event::SESSION_OPEN => {
                step.kind = "open".into();
                step.title = format!(
                    "session opened by {} ({})",
                    tl.principal,
                    tl.roles.join(", ")
                );
                step.details.push(format!(
                    "{} over {}, MCP {}, auth {}",
                    tl.client,
                    tl.transport,
                    tl.protocol,
                    e.str("auth").unwrap_or("?")
                ));
            }
            event::SESSION_CLOSE => {
                step.kind = "close".into();
                let reason = e.str("reason").unwrap_or("?").to_owned();
                step.title = format!(
                    "session closed ({reason}) after {} call(s)",
                    event::plain(e.get("calls"))
                );
                tl.closed = Some((e.ts.clone(), reason));
            }
            event::TOOLS_LISTED => {
                step.kind = "list".into();
                let shown: Vec<String> = e
                    .get("shown")
                    .as_array()
                    .map_or(Vec::new(), |a| a.iter().map(event::plain).collect());
                step.title = format!(
                    "tools/list: shown {} tool(s), {} hidden by the policy",
                    shown.len(),
                    event::plain(e.get("hidden"))
                );
                step.details.push(format!("shown: {}", shown.join(", ")));
                if let Some(a) = e.get("approval_required").as_array()
                    && !a.is_empty()
                {
                    let names: Vec<String> = a.iter().map(event::plain).collect();
                    step.details
                        .push(format!("need approval: {}", names.join(", ")));
                }
            }
            event::CALL_REQUEST => {
                grants.request(e);
                let end = match (results.get(&e.seq), interruptions.get(&e.seq)) {
                    (Some(r), _) => End::Result(r),
                    (None, Some(i)) => End::Interrupted(i),
                    (None, None) if grants.approved(e.seq) => End::ApprovedNone,
                    (None, None) => End::None,
                };
                call_step(&mut step, e, end);
            }
            event::APPROVAL_GRANTED | event::APPROVAL_DENIED | event::APPROVAL_EXPIRED => {
                let granted_before = grants.fully_granted(e);
                step.kind = "approval".into();
                let id = e.str("approval_id").unwrap_or("?");
                let req = event::plain(e.get("request_seq"));
                step.title = match e.kind.as_str() {
                    event::APPROVAL_GRANTED => format!(
                        "approval {id} granted by {} (grant {}) for #{req}",
                        e.str("approver").unwrap_or("?"),
                        event::plain(e.get("count"))
                    ),
                    event::APPROVAL_DENIED => {
                        format!(
                            "approval {id} denied by {} for #{req}",
                            e.str("approver").unwrap_or("?")
                        )
                    }
                    _ => format!(
                        "approval {id} expired ({}) for #{req}",
                        e.str("reason").unwrap_or("?")
                    ),
                };
                if let Some(k) = e.str("key") {
                    step.details.push(format!("signed by {k}"));
                }
                if let Some(r) = e
                    .str("reason")
                    .filter(|_| e.kind != event::APPROVAL_EXPIRED)
                {
                    step.details.push(format!("reason: {r}"));
                }
                if e.kind == event::APPROVAL_EXPIRED && granted_before {
                    step.details.push(
                        "recorded after all its grants, by a gateway older than \
                         call.interrupted: the call had been forwarded, its outcome is unknown"
                            .into(),
                    );
                }
            }
            event::CALL_RESULT | event::CALL_INTERRUPTED => continue,
            _ => {}
        }
        tl.steps.push(step);
    }
    Some(tl)
}

/// What the timeline holds of how a call ended.
#[derive(Debug, Clone, Copy)]
enum End<'a> {
    /// Its `call.result`.
    Result(&'a Entry),
    /// Its `call.interrupted`.
    Interrupted(&'a Entry),
    /// Neither, though its approval was granted (so it was forwarded).
    ApprovedNone,
    /// Neither.
    None,
}

/// Grants counted per approval-required request of the session: in all, and so far in entry
/// order.
#[derive(Debug)]
struct Grants {
    /// request seq → grants in the session's entries.
    total: HashMap<u64, u64>,
    /// request seq → (required, grants so far).
    grants: HashMap<u64, (u64, u64)>,
}

impl Grants {
    fn new(entries: &[&Entry]) -> Self {
        let mut total: HashMap<u64, u64> = HashMap::new();
        for e in entries.iter().filter(|e| e.kind == event::APPROVAL_GRANTED) {
            if let Some(r) = e.get("request_seq").as_u64() {
                *total.entry(r).or_default() += 1;
            }
        }
        Grants {
            total,
            grants: HashMap::new(),
        }
    }

    fn request(&mut self, req: &Entry) {
        if let Value::Object(a) = req.get("approval") {
            let four_eyes = a.get("four_eyes") == Some(&Value::Bool(true));
            let required = a
                .get("required")
                .and_then(Value::as_u64)
                .unwrap_or(if four_eyes { 2 } else { 1 });
            self.grants.insert(req.seq, (required, 0));
        }
    }

    /// Whether request `seq`'s approval gets its required grants in the session's entries.
    fn approved(&self, seq: u64) -> bool {
        self.grants.get(&seq).is_some_and(|(required, _)| {
            self.total.get(&seq).copied().unwrap_or_default() >= *required
        })
    }

    /// Counts a grant; says whether the approval `e` names had all its grants before `e`.
    fn fully_granted(&mut self, e: &Entry) -> bool {
        let Some((required, grants)) = e
            .get("request_seq")
            .as_u64()
            .and_then(|r| self.grants.get_mut(&r))
        else {
            return false;
        };
        let before = *grants >= *required;
        if e.kind == event::APPROVAL_GRANTED {
            *grants += 1;
        }
        before
    }
}

fn call_step(step: &mut Step, req: &Entry, end: End<'_>) {
    let result = match end {
        End::Result(r) => Some(r),
        _ => None,
    };
    step.kind = "call".into();
    let tool = req.str("tool").unwrap_or("?");
    step.title = match req.str("function_path") {
        Some(f) => format!("{tool}  ({f}, {})", req.str("tool_kind").unwrap_or("?")),
        None => match req.str("tool_kind") {
            Some(k) => format!("{tool}  ({k})"),
            None => tool.to_owned(),
        },
    };
    let d = req.get("decision");
    step.decision = Some((
        event::plain(&d["tier"]),
        d["rule"].as_str().map(str::to_owned),
        event::plain(&d["reason"]),
    ));
    step.args = Some(req.get("args").clone());
    step.redactions = redactions("args", req.get("redactions"));
    step.status = match (req.str("disposition"), end) {
        (Some("blocked"), _) => Status::Blocked,
        (_, End::Interrupted(_)) => Status::Interrupted,
        (Some("approval_pending"), End::None) => Status::ApprovalPending,
        (disposition, _) => status_of(disposition, result),
    };
    call_details(step, req, end);
}

/// The status of a call by its disposition and result (interruptions aside).
fn status_of(disposition: Option<&str>, result: Option<&Entry>) -> Status {
    match disposition {
        Some("blocked") => Status::Blocked,
        Some("invalid_args") => Status::InvalidArgs,
        Some("unknown_tool") => Status::UnknownTool,
        _ => match result.and_then(|r| r.str("outcome")) {
            Some("ok") => Status::Ok,
            Some("tool_error") => Status::ToolError,
            Some("upstream_error") => Status::UpstreamError,
            _ => Status::NoResult,
        },
    }
}

/// The approval, validation errors, result and error lines of a call step.
fn call_details(step: &mut Step, req: &Entry, end: End<'_>) {
    if let Value::Object(a) = req.get("approval") {
        step.details.push(format!(
            "approval {} by {}{}, expires {}",
            a.get("id").map(event::plain).unwrap_or_default(),
            a.get("approver_roles")
                .and_then(Value::as_array)
                .map(|r| r.iter().map(event::plain).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            if a.get("four_eyes") == Some(&Value::Bool(true)) {
                " (four eyes)"
            } else {
                ""
            },
            a.get("expires_at").map(event::plain).unwrap_or_default(),
        ));
    }
    if let Some(errors) = req.get("errors").as_array() {
        for e in errors {
            step.details.push(format!(
                "invalid: {} {}",
                event::plain(&e["path"]),
                event::plain(&e["message"])
            ));
        }
    }
    if let End::Interrupted(i) = end {
        let approved = i.get("approved") == &Value::Bool(true);
        let note = format!("; call.interrupted #{}", i.seq);
        step.details.push(event::interrupted_text(approved, &note));
    }
    if let End::Result(r) = end {
        step.result_seq = Some(r.seq);
        step.latency_us = r.get("latency_us").as_u64();
        if r.body.get("result").is_some() {
            step.result = Some(r.get("result").clone());
        }
        if let Some(omitted) = r.body.get("result_omitted") {
            step.details.push(format!(
                "result not recorded ({}, {} bytes); its digest is {}",
                event::plain(&omitted["reason"]).replace('_', " "),
                event::plain(&omitted["bytes"]),
                event::plain(r.get("result_digest"))
            ));
        }
        step.redactions
            .extend(redactions("result", r.get("redactions")));
        if let Some(err) = event::error_text(r.get("error")) {
            step.details.push(format!("error: {err}"));
        }
    } else if step.status == Status::NoResult {
        let approved = if matches!(end, End::ApprovedNone) {
            "approved and "
        } else {
            ""
        };
        step.details.push(format!(
            "{approved}forwarded, but no result is recorded (dangling, or outside this bundle)"
        ));
    }
}

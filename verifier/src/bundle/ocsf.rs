//! OCSF 1.1.0 API Activity events (`class_uid` 6003) for SIEMs: one per `call.request` (its
//! result or its interruption folded in) and one per `tools.listed`. The mapping is
//! `docs/evidence-bundle.md` §6.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::event::{self, Entry};
use crate::rfc3339;

const CLASS_UID: u64 = 6003;
const CATEGORY_UID: u64 = 6;
const VERSION: &str = "1.1.0";

/// The OCSF lines for `entries` (a bundle's, in seq order).
pub fn events(entries: &[Entry], ledger_id: &str, origin: &str) -> String {
    let opens: HashMap<&str, &Entry> = entries
        .iter()
        .filter(|e| e.kind == event::SESSION_OPEN)
        .filter_map(|e| Some((e.session()?, e)))
        .collect();
    let results = event::by_request_seq(entries, event::CALL_RESULT);
    let interruptions = event::by_request_seq(entries, event::CALL_INTERRUPTED);
    let mut out = String::new();
    for e in entries {
        let open = e.session().and_then(|s| opens.get(s)).copied();
        let ev = match e.kind.as_str() {
            event::CALL_REQUEST => {
                let end = match (results.get(&e.seq), interruptions.get(&e.seq)) {
                    (Some(r), _) => End::Result(r),
                    (None, Some(i)) => End::Interrupted(i),
                    (None, None) => End::None,
                };
                call(e, end, open)
            }
            event::TOOLS_LISTED => listing(e, open),
            _ => continue,
        };
        let mut ev = ev;
        ev.insert(
            "metadata".into(),
            json!({
                "version": VERSION,
                "product": {"name": "auditgate", "vendor_name": "auditgate"},
                "uid": format!("{ledger_id}:{}", e.seq),
                "sequence": e.seq,
                "log_name": origin,
                "original_time": e.ts,
            }),
        );
        out.push_str(&Value::Object(ev).to_string());
        out.push('\n');
    }
    out
}

/// What the bundle holds of how a call ended.
#[derive(Debug, Clone, Copy)]
enum End<'a> {
    /// Its `call.result`.
    Result(&'a Entry),
    /// Its `call.interrupted`: forwarded, outcome unknown.
    Interrupted(&'a Entry),
    /// Neither (not forwarded, dangling, or outside the bundle).
    None,
}

fn base(e: &Entry, activity_id: u64, activity: &str, open: Option<&Entry>) -> Map<String, Value> {
    let principal = e
        .str("principal")
        .or_else(|| open.and_then(|o| o.str("principal")))
        .unwrap_or("unknown");
    let src = match open.and_then(|o| o.str("remote")) {
        Some(remote) => json!({"ip": remote.rsplit_once(':').map_or(remote, |(ip, _)| ip)
            .trim_matches(['[', ']'])}),
        None => json!({"name": open.and_then(|o| o.str("transport")).unwrap_or("stdio")}),
    };
    let mut m = Map::new();
    m.insert("class_uid".into(), json!(CLASS_UID));
    m.insert("class_name".into(), json!("API Activity"));
    m.insert("category_uid".into(), json!(CATEGORY_UID));
    m.insert("category_name".into(), json!("Application Activity"));
    m.insert("activity_id".into(), json!(activity_id));
    m.insert("activity_name".into(), json!(activity));
    m.insert("type_uid".into(), json!(CLASS_UID * 100 + activity_id));
    m.insert(
        "time".into(),
        json!((rfc3339::ledger_nanos(&e.ts) / 1_000_000) as i64),
    );
    m.insert(
        "actor".into(),
        json!({"user": {"uid": principal, "name": principal},
               "session": {"uid": e.session().unwrap_or("")}}),
    );
    m.insert("src_endpoint".into(), src);
    m.insert("cloud".into(), json!({"provider": "Convex"}));
    m
}

fn call(req: &Entry, end: End<'_>, open: Option<&Entry>) -> Map<String, Value> {
    let (activity_id, activity) = match req.str("tool_kind") {
        Some("query" | "data-read") => (2, "Read"),
        Some("mutation" | "action" | "data-write") => (3, "Update"),
        _ => (0, "Unknown"),
    };
    let mut m = base(req, activity_id, activity, open);
    let disposition = req.str("disposition").unwrap_or("");
    let (result, interruption) = match end {
        End::Result(r) => (Some(r), None),
        End::Interrupted(i) => (None, Some(i)),
        End::None => (None, None),
    };
    // An interrupted call's outcome is the interruption's own (`unknown`).
    let outcome = result.or(interruption).and_then(|e| e.str("outcome"));
    let status = call_status(disposition, outcome, interruption);
    let status_id = status.id;
    m.insert("status_id".into(), json!(status.id));
    m.insert("status".into(), json!(status.name));
    m.insert("status_detail".into(), json!(status.detail));
    m.insert("severity_id".into(), json!(status.severity.0));
    m.insert("severity".into(), json!(status.severity.1));
    let decision = req.get("decision");
    let mut response = Map::new();
    if let Some(err) = result.and_then(|r| event::error_text(r.get("error"))) {
        response.insert("error".into(), json!(outcome.unwrap_or("error")));
        response.insert("message".into(), json!(err));
    } else if status_id == 2 {
        response.insert("error".into(), json!(disposition));
        response.insert("message".into(), decision["reason"].clone());
    }
    let service = req
        .str("function_path")
        .or_else(|| req.str("tool"))
        .unwrap_or("");
    m.insert(
        "api".into(),
        json!({"operation": "tools/call",
               "service": {"name": service},
               "request": {"uid": event::plain(req.get("request_id"))},
               "response": response}),
    );
    let mut unmapped = json!({
        "tool": req.str("tool"),
        "decision": decision,
        "disposition": disposition,
        "redactions": req.get("redactions"),
        "request_seq": req.seq,
        "result_seq": result.map(|r| r.seq),
        "outcome": outcome,
        "latency_us": result.map(|r| r.get("latency_us").clone()),
    });
    if let Some(i) = interruption {
        unmapped["interrupted_seq"] = json!(i.seq);
        unmapped["interruption_reason"] = i.get("reason").clone();
    }
    m.insert("unmapped".into(), unmapped);
    m
}

/// A call's OCSF `status_id`/`status`, `status_detail` and `severity_id`/`severity`.
struct CallStatus {
    id: u64,
    name: &'static str,
    detail: String,
    severity: (u64, &'static str),
}

fn call_status(
    disposition: &str,
    outcome: Option<&str>,
    interruption: Option<&Entry>,
) -> CallStatus {
    let (id, name) = match (disposition, outcome) {
        // Forwarded, then the gateway restarted: it may or may not have taken effect.
        _ if interruption.is_some() => (0, "Unknown"),
        ("forward", Some("ok")) => (1, "Success"),
        ("forward", None) | ("approval_pending", _) => (0, "Unknown"),
        _ => (2, "Failure"),
    };
    // An interrupted call, like an upstream error, may have taken effect unseen.
    let severity = if matches!(disposition, "blocked" | "unknown_tool")
        || outcome == Some("upstream_error")
        || interruption.is_some()
    {
        (3, "Medium")
    } else {
        (1, "Informational")
    };
    let detail = match (interruption, outcome) {
        (Some(i), _) => format!(
            "{disposition}/interrupted: {}",
            event::interrupted_text(i.get("approved") == &Value::Bool(true), "")
        ),
        (None, Some(o)) => format!("{disposition}/{o}"),
        (None, None) => disposition.to_owned(),
    };
    CallStatus {
        id,
        name,
        detail,
        severity,
    }
}

fn listing(e: &Entry, open: Option<&Entry>) -> Map<String, Value> {
    let mut m = base(e, 2, "Read", open);
    m.insert("status_id".into(), json!(1));
    m.insert("status".into(), json!("Success"));
    m.insert("severity_id".into(), json!(1));
    m.insert("severity".into(), json!("Informational"));
    m.insert(
        "api".into(),
        json!({"operation": "tools/list", "service": {"name": "auditgate"},
               "request": {"uid": event::plain(e.get("request_id"))}}),
    );
    m.insert(
        "unmapped".into(),
        json!({"shown": e.get("shown"), "approval_required": e.get("approval_required"),
               "hidden": e.get("hidden")}),
    );
    m
}

//! The gateway's entry kinds (`docs/audit-events.md`) as the verifier reads them: the few
//! members the invariants need, taken from an entry's canonical bytes without building a JSON
//! tree, and the full member tree for the forensic commands.

use std::borrow::Cow;

use auditgate_ledger::canonical;
use serde_json::Value;

/// `gateway.start`.
pub const GATEWAY_START: &str = "gateway.start";
/// `gateway.stop`.
pub const GATEWAY_STOP: &str = "gateway.stop";
/// `policy.loaded`.
pub const POLICY_LOADED: &str = "policy.loaded";
/// `catalog.loaded`.
pub const CATALOG_LOADED: &str = "catalog.loaded";
/// `session.open`.
pub const SESSION_OPEN: &str = "session.open";
/// `session.close`.
pub const SESSION_CLOSE: &str = "session.close";
/// `tools.listed`.
pub const TOOLS_LISTED: &str = "tools.listed";
/// `call.request`.
pub const CALL_REQUEST: &str = "call.request";
/// `call.result`.
pub const CALL_RESULT: &str = "call.result";
/// `request.refused`: may name a session that does not exist (that is why it was refused).
pub const REQUEST_REFUSED: &str = "request.refused";

/// The members of one entry the gateway invariants read.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The entry's seq.
    pub seq: u64,
    /// Its kind.
    pub kind: Cow<'a, str>,
    /// `session`, if a string.
    pub session: Option<Cow<'a, str>>,
    /// `request_id`, as its canonical JSON bytes (so equal ids have equal bytes).
    pub request_id: Option<&'a [u8]>,
    /// `tool`.
    pub tool: Option<Cow<'a, str>>,
    /// `request_seq`.
    pub request_seq: Option<u64>,
    /// `disposition`.
    pub disposition: Option<Cow<'a, str>>,
    /// `outcome`.
    pub outcome: Option<Cow<'a, str>>,
    /// `policy_hash`.
    pub policy_hash: Option<Cow<'a, str>>,
    /// `catalog_hash`.
    pub catalog_hash: Option<Cow<'a, str>>,
}

/// Reads the facts of an entry's stored bytes; `None` if they are not a canonical object with
/// a string `kind` (the ledger's own verification rejects such an entry before this runs).
pub fn facts(seq: u64, bytes: &[u8]) -> Option<Facts<'_>> {
    let obj = canonical::check(bytes).ok()?;
    Some(Facts {
        seq,
        kind: obj.get_str("kind")?,
        session: obj.get_str("session"),
        request_id: obj.get("request_id"),
        tool: obj.get_str("tool"),
        request_seq: obj.get_u64("request_seq"),
        disposition: obj.get_str("disposition"),
        outcome: obj.get_str("outcome"),
        policy_hash: obj.get_str("policy_hash"),
        catalog_hash: obj.get_str("catalog_hash"),
    })
}

/// One entry with all its members, for the forensic commands.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The entry's seq.
    pub seq: u64,
    /// Its timestamp (RFC 3339, nine fractional digits, UTC).
    pub ts: String,
    /// Its kind.
    pub kind: String,
    /// Every member, the ledger's own included.
    pub body: Value,
}

impl Entry {
    /// Parses stored entry bytes (already verified to be a canonical entry).
    pub fn parse(bytes: &[u8]) -> Option<Entry> {
        let body: Value = serde_json::from_slice(bytes).ok()?;
        Some(Entry {
            seq: body.get("seq")?.as_u64()?,
            ts: body.get("ts")?.as_str()?.to_owned(),
            kind: body.get("kind")?.as_str()?.to_owned(),
            body,
        })
    }

    /// A string member.
    pub fn str(&self, member: &str) -> Option<&str> {
        self.body.get(member).and_then(Value::as_str)
    }

    /// A member (`Value::Null` if absent).
    pub fn get(&self, member: &str) -> &Value {
        self.body.get(member).unwrap_or(&Value::Null)
    }

    /// The session this entry belongs to, if any.
    pub fn session(&self) -> Option<&str> {
        self.str("session")
    }
}

/// A `call.result`'s `error` as one line: the upstream error's `message` (or its other members)
/// after its `class`, or the text itself where a writer recorded a string.
pub fn error_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => {
            let class = m.get("class").map(plain);
            let rest: Vec<String> = match m.get("message") {
                Some(msg) => {
                    let mut r = vec![plain(msg)];
                    if let Some(d) = m.get("data").filter(|d| !d.is_null()) {
                        r.push(format!("data {d}"));
                    }
                    r
                }
                None => m
                    .iter()
                    .filter(|(k, _)| k.as_str() != "class")
                    .map(|(k, v)| format!("{k} {}", plain(v)))
                    .collect(),
            };
            Some(match class {
                Some(c) => format!("{c}: {}", rest.join(", ")),
                None => rest.join(", "),
            })
        }
        other => Some(other.to_string()),
    }
}

/// A JSON value as one short line of text: strings without quotes, others as JSON.
pub fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

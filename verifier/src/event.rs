//! The gateway's entry kinds (`docs/audit-events.md`) as the verifier reads them: the few
//! members the invariants need, taken from an entry's canonical bytes without building a JSON
//! tree, and the full member tree for the forensic commands.

use std::borrow::Cow;

use serde_json::Value;

/// `gateway.start`.
pub const GATEWAY_START: &str = "gateway.start";
/// `gateway.stop`.
pub const GATEWAY_STOP: &str = "gateway.stop";
/// `policy.loaded`.
pub const POLICY_LOADED: &str = "policy.loaded";
/// `catalog.loaded`.
pub const CATALOG_LOADED: &str = "catalog.loaded";
/// `policy.changed`: a live reload's new policy (`policy.loaded`'s members, and the old hash).
pub const POLICY_CHANGED: &str = "policy.changed";
/// `catalog.changed`: a live reload's new catalog (`catalog.loaded`'s members, and the old hash).
pub const CATALOG_CHANGED: &str = "catalog.changed";

/// Whether `kind` puts a policy in force (its `policy_hash`, `file`, `text`).
pub fn sets_policy(kind: &str) -> bool {
    kind == POLICY_LOADED || kind == POLICY_CHANGED
}

/// Whether `kind` puts a catalog in force (its `catalog_hash`, `tools`).
pub fn sets_catalog(kind: &str) -> bool {
    kind == CATALOG_LOADED || kind == CATALOG_CHANGED
}
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
/// `call.interrupted`: written by a restarting gateway, before its `gateway.start`, for a call an
/// earlier run forwarded without recording its result; may follow the session's close.
pub const CALL_INTERRUPTED: &str = "call.interrupted";
/// A data subject's vault key destroyed (`docs/privacy.md` §5.4).
pub const VAULT_ERASED: &str = "vault.erased";
/// `request.refused`: may name a session that does not exist (that is why it was refused).
pub const REQUEST_REFUSED: &str = "request.refused";
/// `approval.granted`.
pub const APPROVAL_GRANTED: &str = "approval.granted";
/// `approval.denied`.
pub const APPROVAL_DENIED: &str = "approval.denied";
/// `approval.expired`: may follow the session's close or a restart (that is why it expired).
pub const APPROVAL_EXPIRED: &str = "approval.expired";

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
    /// `old_policy_hash` (`policy.changed`).
    pub old_policy_hash: Option<Cow<'a, str>>,
    /// `old_catalog_hash` (`catalog.changed`).
    pub old_catalog_hash: Option<Cow<'a, str>>,
    /// The ledger's `ts`.
    pub ts: Option<Cow<'a, str>>,
    /// `principal` (of a request).
    pub principal: Option<Cow<'a, str>>,
    /// `args_digest` (of a request).
    pub args_digest: Option<Cow<'a, str>>,
    /// `approval` of an `approval_pending` request, as its JSON bytes.
    pub approval: Option<&'a [u8]>,
    /// `approval_id` (approval entries).
    pub approval_id: Option<Cow<'a, str>>,
    /// `approver`.
    pub approver: Option<Cow<'a, str>>,
    /// `key` (the approver's verifier key).
    pub key: Option<Cow<'a, str>>,
    /// `statement` (the signed text).
    pub statement: Option<Cow<'a, str>>,
    /// `signature` (base64).
    pub signature: Option<Cow<'a, str>>,
    /// `approved` (`call.interrupted` of an approval-required call).
    pub approved: Option<bool>,
    /// `reason`.
    pub reason: Option<Cow<'a, str>>,
    /// `key_id` (`vault.erased`).
    pub key_id: Option<Cow<'a, str>>,
    /// `commitments` (`vault.erased`), as its JSON bytes.
    pub commitments: Option<&'a [u8]>,
}

/// Reads the facts of an entry's stored bytes; `None` if they are not an object with a string
/// `kind`. The bytes must already have passed the ledger's checks (canonical JSON, V6): this
/// only walks the top-level members, skipping values without validating them again.
pub fn facts(seq: u64, bytes: &[u8]) -> Option<Facts<'_>> {
    let mut f = Facts {
        seq,
        kind: Cow::Borrowed(""),
        session: None,
        request_id: None,
        tool: None,
        request_seq: None,
        disposition: None,
        outcome: None,
        policy_hash: None,
        catalog_hash: None,
        old_policy_hash: None,
        old_catalog_hash: None,
        ts: None,
        principal: None,
        args_digest: None,
        approval: None,
        approval_id: None,
        approver: None,
        key: None,
        statement: None,
        signature: None,
        approved: None,
        reason: None,
        key_id: None,
        commitments: None,
    };
    let mut kind = None;
    for (key, value) in Members::new(bytes) {
        match key {
            b"kind" => kind = string(value),
            b"session" => f.session = string(value),
            b"request_id" => f.request_id = Some(value),
            b"tool" => f.tool = string(value),
            b"request_seq" => f.request_seq = integer(value),
            b"disposition" => f.disposition = string(value),
            b"outcome" => f.outcome = string(value),
            b"policy_hash" => f.policy_hash = string(value),
            b"catalog_hash" => f.catalog_hash = string(value),
            b"old_policy_hash" => f.old_policy_hash = string(value),
            b"old_catalog_hash" => f.old_catalog_hash = string(value),
            b"ts" => f.ts = string(value),
            b"principal" => f.principal = string(value),
            b"args_digest" => f.args_digest = string(value),
            b"approval" => f.approval = Some(value),
            b"approval_id" => f.approval_id = string(value),
            b"approver" => f.approver = string(value),
            b"key" => f.key = string(value),
            b"statement" => f.statement = string(value),
            b"signature" => f.signature = string(value),
            b"approved" => f.approved = boolean(value),
            b"reason" => f.reason = string(value),
            b"key_id" => f.key_id = string(value),
            b"commitments" => f.commitments = Some(value),
            _ => {}
        }
    }
    f.kind = kind?;
    Some(f)
}

/// A JSON string value's text (unescaped only if it has escapes).
fn string(raw: &[u8]) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.contains(&b'\\') {
        return serde_json::from_slice::<String>(raw).ok().map(Cow::Owned);
    }
    std::str::from_utf8(inner).ok().map(Cow::Borrowed)
}

/// A JSON boolean value.
fn boolean(raw: &[u8]) -> Option<bool> {
    match raw {
        b"true" => Some(true),
        b"false" => Some(false),
        _ => None,
    }
}

/// A JSON integer value in `0 ..= 2^53 − 1`.
fn integer(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || raw.len() > 16 || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = raw.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    (n < 1 << 53).then_some(n)
}

/// The top-level members of a JSON object as (key bytes, value bytes), in order. Stops at the
/// first byte that does not fit (never panics); meant for bytes already checked canonical.
struct Members<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Members<'a> {
    fn new(b: &'a [u8]) -> Self {
        let pos = if b.first() == Some(&b'{') { 1 } else { b.len() };
        Members { b, pos }
    }

    /// The index after the string starting at `i` (a `"`).
    fn skip_string(&self, mut i: usize) -> Option<usize> {
        i += 1;
        loop {
            match self.b.get(i)? {
                b'"' => return Some(i + 1),
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
    }

    /// The index after the value starting at `i`.
    fn skip_value(&self, mut i: usize) -> Option<usize> {
        match self.b.get(i)? {
            b'"' => self.skip_string(i),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.b.get(i)? {
                        b'"' => i = self.skip_string(i)?,
                        b'{' | b'[' => {
                            depth += 1;
                            i += 1;
                        }
                        b'}' | b']' => {
                            depth -= 1;
                            i += 1;
                            if depth == 0 {
                                return Some(i);
                            }
                        }
                        _ => i += 1,
                    }
                }
            }
            _ => {
                while !matches!(self.b.get(i)?, b',' | b'}' | b']') {
                    i += 1;
                }
                Some(i)
            }
        }
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.b;
        if b.get(self.pos)? != &b'"' {
            return None;
        }
        let key_end = self.skip_string(self.pos)?;
        let key = b.get(self.pos + 1..key_end - 1)?;
        if b.get(key_end)? != &b':' {
            return None;
        }
        let start = key_end + 1;
        let end = self.skip_value(start)?;
        self.pos = match b.get(end)? {
            b',' => end + 1,
            _ => b.len(),
        };
        Some((key, b.get(start..end)?))
    }
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

/// What became of an interrupted call (`call.interrupted`), in the words every output uses:
/// it was forwarded (approved and forwarded, for an approval-required call) and its outcome is
/// unknown because the gateway restarted; `note` goes inside the parentheses after that.
pub fn interrupted_text(approved: bool, note: &str) -> String {
    let approved = if approved { "approved and " } else { "" };
    format!("{approved}forwarded, outcome unknown (gateway restarted{note})")
}

/// `"<name> <version>"` of a `session.open`'s `client` (its `clientInfo`), or `None` when the
/// client sent none.
pub fn client_label(client: &Value) -> Option<String> {
    let Value::Object(c) = client else {
        return None;
    };
    let label = format!(
        "{} {}",
        c.get("name").map(plain).unwrap_or_default(),
        c.get("version").map(plain).unwrap_or_default()
    );
    Some(label.trim().to_owned())
}

/// A JSON value as one short line of text: strings without quotes, others as JSON.
pub fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// The entries of `kind` keyed by the `request_seq` they name (`call.result`,
/// `call.interrupted`), for the exports that join them to their requests.
pub fn by_request_seq<'a>(
    entries: &'a [Entry],
    kind: &str,
) -> std::collections::HashMap<u64, &'a Entry> {
    entries
        .iter()
        .filter(|e| e.kind == kind)
        .filter_map(|e| Some((e.get("request_seq").as_u64()?, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_read_past_nested_values_and_escapes() {
        let v = serde_json::json!({
            "args": {"a": [1, {"b": "x}\\\"]"}], "kind": "not me"},
            "kind": "call.request", "request_id": {"n": [1, 2]}, "request_seq": 12,
            "session": "s\"1", "tool": "t", "v": 1
        });
        let bytes = auditgate_ledger::canonical::encode(&v);
        let f = facts(3, &bytes).unwrap();
        assert_eq!(f.kind, "call.request");
        assert_eq!(f.request_seq, Some(12));
        assert_eq!(f.request_id, Some(&b"{\"n\":[1,2]}"[..]));
        assert_eq!(f.session.as_deref(), Some("s\"1"));
        assert_eq!(f.tool.as_deref(), Some("t"));
        assert_eq!(f.approved, None);
    }

    #[test]
    fn an_interruption_s_approval_members_are_read() {
        let v = serde_json::json!({
            "approval_id": "apr_1", "approved": true, "kind": "call.interrupted",
            "outcome": "unknown", "reason": "gateway_restart", "request_seq": 4
        });
        let bytes = auditgate_ledger::canonical::encode(&v);
        let f = facts(9, &bytes).unwrap();
        assert_eq!(f.approved, Some(true));
        assert_eq!(f.approval_id.as_deref(), Some("apr_1"));
        assert_eq!(f.reason.as_deref(), Some("gateway_restart"));
        assert_eq!(boolean(b"1"), None);
    }

    #[test]
    fn malformed_bytes_end_the_walk_without_panicking() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"kind\"",
            b"{\"kind\":\"x",
            b"[1]",
            b"{\"a\":[1,{]",
        ] {
            let _ = facts(0, bad);
        }
        assert!(facts(0, b"{\"kind\":\"x\"}").is_some());
    }
}

//! Entries: building them ([`Draft`]), encoding them with the ledger's own members spliced in
//! (`docs/ledger-format.md` §3), and reading those members back when verifying.
//!
//! An appender builds a [`Draft`] on its own thread: each member's value is JCS-encoded there,
//! once, and kept sorted. The writer thread then only splices in `v`, `seq`, `ts`, `prev` and
//! `kind` — a merge of two sorted lists and a memcpy — so the per-batch work on the single
//! writer thread stays small.

use std::borrow::Cow;

use thiserror::Error;

use crate::canonical;
use crate::merkle::Hash;
use crate::timestamp::Timestamp;

/// The format version written in every entry's `v`.
pub const ENTRY_VERSION: u64 = 1;
/// Members every entry has, which a kind's own members may not use.
pub const RESERVED: [&str; 5] = ["kind", "prev", "seq", "ts", "v"];
/// Largest integer the ledger's own members may hold (exactly representable in JCS numbers).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// Longest kind name.
pub const MAX_KIND_LEN: usize = 64;
/// Bytes [`Draft::encoded_len_hint`] allows for the ledger's own members and the punctuation.
pub const OWN_MEMBERS_ALLOWANCE: usize = 200;

/// Why a draft was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DraftError {
    /// The kind name does not match `^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$` or is too long.
    #[error("invalid entry kind {0:?}")]
    BadKind(String),
    /// A member uses one of the reserved names.
    #[error("member name {0:?} is reserved for the ledger")]
    ReservedMember(String),
    /// A member was given twice.
    #[error("member {0:?} given twice")]
    DuplicateMember(String),
    /// The value is not an object where an object of members was expected.
    #[error("entry body must be a JSON object")]
    NotAnObject,
    /// A value holds an object key serde_json reserves (see [`crate::json`]); the path is a JSON
    /// Pointer from the entry's top level.
    #[error("object key at {0} is reserved by serde_json and cannot be recorded")]
    ReservedKey(String),
}

/// An entry before the writer gives it a place in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    kind: String,
    /// `(name, JCS-encoded value)`, sorted by JCS member order, names unique.
    members: Vec<(String, Vec<u8>)>,
    session: Option<String>,
    body_len: usize,
}

/// Checks a kind name.
pub fn is_valid_kind(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= MAX_KIND_LEN
        && kind.split('.').all(|part| {
            let mut bytes = part.bytes();
            matches!(bytes.next(), Some(b'a'..=b'z'))
                && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        })
}

impl Draft {
    /// A draft of the given kind with no members yet.
    pub fn new(kind: &str) -> Result<Self, DraftError> {
        if !is_valid_kind(kind) {
            return Err(DraftError::BadKind(kind.to_owned()));
        }
        Ok(Self {
            kind: kind.to_owned(),
            members: Vec::new(),
            session: None,
            body_len: 0,
        })
    }

    /// A draft whose members are those of a JSON object.
    pub fn from_value(kind: &str, body: &serde_json::Value) -> Result<Self, DraftError> {
        let map = body.as_object().ok_or(DraftError::NotAnObject)?;
        map.iter()
            .try_fold(Self::new(kind)?, |d, (name, value)| d.with(name, value))
    }

    /// Adds a member. A string member named `session` is also indexed as the entry's session.
    pub fn with(mut self, name: &str, value: &serde_json::Value) -> Result<Self, DraftError> {
        if RESERVED.contains(&name) {
            return Err(DraftError::ReservedMember(name.to_owned()));
        }
        let pos = match self
            .members
            .binary_search_by(|(n, _)| canonical::cmp_keys(n, name))
        {
            Ok(_) => return Err(DraftError::DuplicateMember(name.to_owned())),
            Err(pos) => pos,
        };
        let encoded = canonical::encode(value);
        // JCS never escapes `$`, so a value without one in its encoding holds no reserved key
        // and is not walked (most are not: the gateway screened them already).
        let reserved = if crate::json::is_reserved_key(name) {
            Some(String::new())
        } else if encoded.contains(&b'$') {
            crate::json::find_reserved_key(value)
        } else {
            None
        };
        if let Some(path) = reserved {
            let mut pointer = String::new();
            crate::json::push_token(&mut pointer, name);
            return Err(DraftError::ReservedKey(pointer + &path));
        }
        if name == "session" {
            self.session = value.as_str().map(str::to_owned);
        }
        self.body_len += name.len() + encoded.len() + 4;
        self.members.insert(pos, (name.to_owned(), encoded));
        Ok(self)
    }

    /// The entry kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The session this entry belongs to, if it has a string `session` member.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// An upper bound of the encoded entry's size.
    pub fn encoded_len_hint(&self) -> usize {
        self.body_len + self.kind.len() + OWN_MEMBERS_ALLOWANCE
    }

    /// Encodes the complete entry with the ledger's own members, appending to `out`.
    pub fn encode_into(&self, seq: u64, ts: &Timestamp, prev: &Hash, out: &mut Vec<u8>) {
        let seq_text = seq.to_string();
        let header: [(&str, HeaderValue<'_>); 5] = [
            ("kind", HeaderValue::Str(&self.kind)),
            ("prev", HeaderValue::Hex(prev)),
            ("seq", HeaderValue::Raw(seq_text.as_bytes())),
            ("ts", HeaderValue::Str(ts.as_str())),
            ("v", HeaderValue::Raw(b"1")),
        ];
        out.push(b'{');
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.push(b',');
            }
            first = false;
        };
        let mut body = self.members.iter().peekable();
        for (name, value) in header {
            while let Some((bname, bval)) =
                body.next_if(|(n, _)| canonical::cmp_keys(n, name).is_lt())
            {
                sep(out);
                canonical::encode_str(bname, out);
                out.push(b':');
                out.extend_from_slice(bval);
            }
            sep(out);
            canonical::encode_str(name, out);
            out.push(b':');
            match value {
                HeaderValue::Str(s) => canonical::encode_str(s, out),
                HeaderValue::Raw(r) => out.extend_from_slice(r),
                HeaderValue::Hex(h) => {
                    out.push(b'"');
                    out.extend_from_slice(hex::encode(h).as_bytes());
                    out.push(b'"');
                }
            }
        }
        for (bname, bval) in body {
            sep(out);
            canonical::encode_str(bname, out);
            out.push(b':');
            out.extend_from_slice(bval);
        }
        out.push(b'}');
    }
}

enum HeaderValue<'a> {
    Str(&'a str),
    Raw(&'a [u8]),
    Hex(&'a Hash),
}

/// The ledger's own members of a stored entry, as read by the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryHeader<'a> {
    /// Position in the ledger.
    pub seq: u64,
    /// Writer's clock.
    pub ts: Timestamp,
    /// BLAKE3 of the previous entry.
    pub prev: Hash,
    /// Kind name.
    pub kind: Cow<'a, str>,
}

/// Why an entry's own members are malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// The bytes are not canonical JSON.
    #[error("not canonical JSON: {0}")]
    NonCanonical(#[from] canonical::CanonicalError),
    /// A required member is missing or has the wrong form.
    #[error("member `{0}` missing or malformed")]
    BadField(&'static str),
}

/// Checks that `bytes` is a canonical entry and reads its own members.
pub fn parse_header(bytes: &[u8]) -> Result<EntryHeader<'_>, HeaderError> {
    let obj = canonical::check(bytes)?;
    if obj.get_u64("v") != Some(ENTRY_VERSION) {
        return Err(HeaderError::BadField("v"));
    }
    let seq = obj
        .get_u64("seq")
        .filter(|s| *s <= MAX_SAFE_INTEGER)
        .ok_or(HeaderError::BadField("seq"))?;
    let ts = obj
        .get_str("ts")
        .and_then(|t| Timestamp::parse(&t))
        .ok_or(HeaderError::BadField("ts"))?;
    let prev = obj
        .get_str("prev")
        .and_then(|p| parse_hash_hex(&p))
        .ok_or(HeaderError::BadField("prev"))?;
    let kind = obj
        .get_str("kind")
        .filter(|k| is_valid_kind(k))
        .ok_or(HeaderError::BadField("kind"))?;
    Ok(EntryHeader {
        seq,
        ts,
        prev,
        kind,
    })
}

/// Parses 64 lowercase hex digits.
pub fn parse_hash_hex(text: &str) -> Option<Hash> {
    if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// BLAKE3-256 of an entry's stored bytes: what the next entry's `prev` names.
pub fn entry_hash(bytes: &[u8]) -> Hash {
    *blake3::hash(bytes).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(d: &Draft, seq: u64) -> Vec<u8> {
        let ts = Timestamp::from_unix_nanos(1_700_000_000_123_456_789);
        let mut out = Vec::new();
        d.encode_into(seq, &ts, &[0xabu8; 32], &mut out);
        out
    }

    #[test]
    fn spliced_encoding_equals_reference_jcs() {
        let body = json!({
            "zeta": [1, 2.5, "x"], "args": {"b": 1, "a": null}, "session": "s-1",
            "tool": "refund", "\u{e9}t\u{e9}": true, "\u{1f600}": 1, "\u{ff61}": 2, "a": 0
        });
        let d = Draft::from_value("call.request", &body).unwrap();
        let got = encode(&d, 42);
        let mut full = body.as_object().unwrap().clone();
        full.insert("v".into(), json!(1));
        full.insert("seq".into(), json!(42));
        full.insert("ts".into(), json!("2023-11-14T22:13:20.123456789Z"));
        full.insert("prev".into(), json!(hex::encode([0xabu8; 32])));
        full.insert("kind".into(), json!("call.request"));
        let reference = canonical::encode(&serde_json::Value::Object(full));
        assert_eq!(
            String::from_utf8(got.clone()).unwrap(),
            String::from_utf8(reference).unwrap()
        );
        let h = parse_header(&got).unwrap();
        assert_eq!((h.seq, h.kind.as_ref()), (42, "call.request"));
        assert_eq!(d.session(), Some("s-1"));
    }

    #[test]
    fn drafts_refuse_bad_input() {
        assert!(matches!(Draft::new("Call"), Err(DraftError::BadKind(_))));
        assert!(matches!(Draft::new("a..b"), Err(DraftError::BadKind(_))));
        assert!(Draft::new("a.b_c.d9").is_ok());
        let d = Draft::new("x").unwrap();
        assert!(matches!(
            d.clone().with("seq", &json!(1)),
            Err(DraftError::ReservedMember(_))
        ));
        let d = d.with("a", &json!(1)).unwrap();
        assert!(matches!(
            d.with("a", &json!(2)),
            Err(DraftError::DuplicateMember(_))
        ));
        assert!(matches!(
            Draft::from_value("x", &json!([1])),
            Err(DraftError::NotAnObject)
        ));
        // serde_json's reserved keys, as a member name or anywhere inside a value.
        let raw = "$serde_json::private::RawValue";
        assert_eq!(
            Draft::new("x").unwrap().with(raw, &json!(1)),
            Err(DraftError::ReservedKey(format!("/{raw}")))
        );
        assert_eq!(
            Draft::from_value("x", &json!({"args": {"a/b": [{"z": 1, raw: "1"}]}})),
            Err(DraftError::ReservedKey(format!("/args/a~1b/0/{raw}")))
        );
    }

    #[test]
    fn header_parse_rejects_each_malformed_member() {
        let d = Draft::new("k").unwrap();
        let good = String::from_utf8(encode(&d, 3)).unwrap();
        assert!(parse_header(good.as_bytes()).is_ok());
        for (from, to, field) in [
            ("\"v\":1", "\"v\":2", "v"),
            ("\"seq\":3", "\"seq\":-3", "seq"),
            ("\"kind\":\"k\"", "\"kind\":\"K\"", "kind"),
            (".123456789Z", ".12345678Z", "ts"),
        ] {
            let bad = good.replace(from, to);
            assert_eq!(
                parse_header(bad.as_bytes()),
                Err(HeaderError::BadField(field)),
                "{bad}"
            );
        }
        let bad = good.replace(
            &hex::encode([0xabu8; 32]),
            &hex::encode([0xabu8; 32]).to_uppercase(),
        );
        assert_eq!(
            parse_header(bad.as_bytes()),
            Err(HeaderError::BadField("prev"))
        );
    }
}

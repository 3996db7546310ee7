//! The opaque cursor `convex_query_documents` answers: where the next page starts, bound to the
//! query that issued it.
//!
//! A resume point is the upstream page cursor (`list_snapshot`'s or `tableData`'s), the
//! snapshot (streaming export only), and how many documents of that page were already
//! returned. A keyed BLAKE3 (a per-process key) binds it to the query's table, filter and
//! `include_ts`, so a cursor continues only the query that issued it and cannot be forged (a
//! snapshot or offset of the caller's choosing). The upstream cursor is the deployment's own
//! opaque text (Convex encrypts its cursors).
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::data_tools::DataToolError;

/// Resume point inside the snapshot: the upstream page cursor, the snapshot, and how many
/// documents of that page were already returned; `m` binds them to the query (see [`cursor_mac`]).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ResumeCursor {
    pub c: Option<String>,
    pub s: Option<String>,
    pub k: usize,
    #[serde(default)]
    pub m: String,
}

impl ResumeCursor {
    /// The start of a table.
    pub fn start() -> Self {
        Self {
            c: None,
            s: None,
            k: 0,
            m: String::new(),
        }
    }
}

/// What a cursor continues: a query's table, filter and `include_ts`.
pub struct Query<'a> {
    pub table: &'a str,
    pub filter: &'a Map<String, Value>,
    pub include_ts: bool,
}

/// The key cursors are bound with, drawn once per process: a cursor outlives neither a restart
/// nor a change of query, which an opaque MCP cursor may do.
fn cursor_key() -> &'static [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        // Without randomness the cursor is still bound to its query (the hash covers it), only
        // forgeable by someone who knows this fallback: acceptable, and better than refusing
        // every query.
        let _ = getrandom::fill(&mut key);
        key
    })
}

/// Keyed BLAKE3 over the resume point and the query, 128 bits in hex.
fn cursor_mac(c: &ResumeCursor, q: &Query<'_>) -> String {
    let bound = serde_json::json!({"c": c.c, "s": c.s, "k": c.k, "table": q.table,
                                   "filter": q.filter, "include_ts": q.include_ts});
    let hash = blake3::keyed_hash(cursor_key(), &auditgate_ledger::canonical::encode(&bound));
    hex::encode(&hash.as_bytes()[..16])
}

pub fn encode_cursor(c: &ResumeCursor, q: &Query<'_>) -> String {
    let signed = ResumeCursor {
        c: c.c.clone(),
        s: c.s.clone(),
        k: c.k,
        m: cursor_mac(c, q),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&signed).unwrap_or_default())
}

/// A cursor this process issued for this very query, else [`DataToolError::InvalidCursor`].
pub fn decode_cursor(text: &str, q: &Query<'_>) -> Result<ResumeCursor, DataToolError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| DataToolError::InvalidCursor)?;
    let c: ResumeCursor =
        serde_json::from_slice(&bytes).map_err(|_| DataToolError::InvalidCursor)?;
    let expected = cursor_mac(&c, q);
    let same = expected.len() == c.m.len()
        && expected
            .bytes()
            .zip(c.m.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(DataToolError::InvalidCursor);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursors_round_trip_bound_to_their_query_and_reject_garbage() {
        let filter = json!({"name": "x"}).as_object().unwrap().clone();
        let other = json!({"name": "y"}).as_object().unwrap().clone();
        let q = |table, filter, include_ts| Query {
            table,
            filter,
            include_ts,
        };
        let resume = ResumeCursor {
            c: Some("x".into()),
            s: None,
            k: 3,
            m: String::new(),
        };
        let c = encode_cursor(&resume, &q("t", &filter, false));
        assert_eq!(decode_cursor(&c, &q("t", &filter, false)).unwrap().k, 3);
        for wrong in [
            q("u", &filter, false),
            q("t", &other, false),
            q("t", &filter, true),
        ] {
            assert!(decode_cursor(&c, &wrong).is_err());
        }
        // A forged resume point (another offset) does not carry a valid binding.
        let mut forged: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&c).unwrap()).unwrap();
        forged["k"] = json!(0);
        let forged = URL_SAFE_NO_PAD.encode(forged.to_string());
        assert!(decode_cursor(&forged, &q("t", &filter, false)).is_err());
        assert!(decode_cursor("!!", &q("t", &filter, false)).is_err());
    }
}

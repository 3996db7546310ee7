//! `convex_query_documents`: pages of a table, filtered by the gateway, through either read path.
//!
//! - Streaming export: `GET /api/list_snapshot` pages, all at one snapshot.
//! - System queries: `_system/cli/tableData` pages of [`SYSTEM_PAGE_ITEMS`] in `_creationTime`
//!   order (no snapshot: a document written between two calls may be seen twice or not at all).
//!
//! Either way the equality filter is applied here, documents lose the export's bookkeeping
//! (`_table`, `_component`, and `_ts` unless `include_ts`), and the answer's cursor is a
//! [`ResumeCursor`] bound to the query. At most [`MAX_PAGES_PER_CALL`] upstream pages are read
//! per call, whatever the filter matches, so a call's cost never depends on hidden values (a
//! filter cannot touch a hidden field: `data_privacy`).
use serde_json::{Map, Value, json};

use super::data_cursor::{Query, ResumeCursor, decode_cursor, encode_cursor};
use super::data_support::Reads;
use super::data_tools::{DataToolError, invalid};
use crate::upstream::convex::codec::from_convex;
use crate::upstream::convex::{ConvexClient, UpstreamError};

pub const DEFAULT_LIMIT: usize = 25;
pub const MAX_LIMIT: usize = 200;
/// Upper bound on upstream pages read for one `convex_query_documents` call.
const MAX_PAGES_PER_CALL: usize = 20;
/// `tableData` page size (the official Convex MCP server's default is 100 too).
const SYSTEM_PAGE_ITEMS: usize = 100;

/// What `include_ts` gets on a deployment without streaming export.
pub const NO_TS: &str = "`_ts` needs streaming export, which this deployment does not offer";

/// A query's arguments, parsed.
#[derive(Debug)]
pub struct QueryArgs<'a> {
    pub table: String,
    pub filter: &'a Map<String, Value>,
    pub limit: usize,
    pub include_ts: bool,
    pub cursor: Option<&'a str>,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'a> QueryArgs<'a> {
    /// Parses (the input schema was checked already) and refuses what this read path cannot do.
    pub fn parse(args: &'a Value, table: String, reads: Reads) -> Result<Self, DataToolError> {
        let filter = match args.get("filter") {
            None | Some(Value::Null) => &*EMPTY,
            Some(Value::Object(m)) => m,
            Some(_) => return Err(invalid("/filter", "expected an object")),
        };
        let limit = match args.get("limit") {
            None | Some(Value::Null) => DEFAULT_LIMIT,
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| invalid("/limit", "expected an integer from 1 to 200"))?,
        };
        let include_ts = args.get("include_ts").and_then(Value::as_bool) == Some(true);
        if include_ts && reads == Reads::SystemQueries {
            return Err(invalid("/include_ts", NO_TS));
        }
        Ok(Self {
            table,
            filter,
            limit,
            include_ts,
            cursor: args.get("cursor").and_then(Value::as_str),
        })
    }

    fn query(&self) -> Query<'_> {
        Query {
            table: &self.table,
            filter: self.filter,
            include_ts: self.include_ts,
        }
    }

    /// Where to start: the cursor's resume point (if this query issued it) or the table's start.
    pub fn resume(&self) -> Result<ResumeCursor, DataToolError> {
        match self.cursor {
            Some(c) => decode_cursor(c, &self.query()),
            None => Ok(ResumeCursor::start()),
        }
    }
}

/// One upstream page, whichever path read it.
struct Page {
    values: Vec<Value>,
    /// The cursor of the page after this one.
    next: Option<String>,
    has_more: bool,
    snapshot: Option<String>,
}

async fn fetch(
    client: &ConvexClient,
    reads: Reads,
    table: &str,
    at: &ResumeCursor,
) -> Result<Page, UpstreamError> {
    match reads {
        Reads::StreamingExport => {
            let page = client
                .list_snapshot(table, at.c.as_deref(), at.s.as_deref())
                .await?;
            Ok(Page {
                snapshot: snapshot_text(&page.snapshot),
                values: page.values,
                next: page.cursor,
                has_more: page.has_more,
            })
        }
        Reads::SystemQueries => {
            let page = client
                .table_data(table, at.c.as_deref(), SYSTEM_PAGE_ITEMS)
                .await?;
            Ok(Page {
                values: page.page,
                next: Some(page.continue_cursor),
                has_more: !page.is_done,
                snapshot: None,
            })
        }
    }
}

fn snapshot_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Dotted-path equality, numbers compared by value (so `5` matches an int64 `5`).
pub fn matches_filter(doc: &Value, filter: &Map<String, Value>) -> bool {
    filter.iter().all(|(path, want)| {
        let mut at = Some(doc);
        for part in path.split('.') {
            at = at.and_then(|v| v.get(part));
        }
        match (at, want) {
            (Some(Value::Number(a)), Value::Number(b)) => a.as_f64() == b.as_f64(),
            (Some(Value::Number(a)), Value::String(b)) => a.to_string() == *b,
            (Some(a), b) => a == b,
            (None, _) => false,
        }
    })
}

/// A page's document as agents get it: plain JSON, without the export's bookkeeping.
fn document(raw: Value, include_ts: bool) -> Result<Value, UpstreamError> {
    let mut doc = from_convex(raw).map_err(|e| UpstreamError::MalformedResponse {
        status: 200,
        detail: e.to_string(),
    })?;
    if let Value::Object(m) = &mut doc {
        m.remove("_table");
        m.remove("_component");
        if !include_ts {
            m.remove("_ts");
        }
    }
    Ok(doc)
}

/// Reads pages from `q`'s resume point until `limit` documents match or the table ends.
pub async fn query(
    client: &ConvexClient,
    reads: Reads,
    q: &QueryArgs<'_>,
) -> Result<Value, DataToolError> {
    let mut resume = q.resume()?;
    let mut documents = Vec::new();
    let mut next: Option<ResumeCursor> = None;
    for page_no in 0..MAX_PAGES_PER_CALL {
        let page = fetch(client, reads, &q.table, &resume).await?;
        let count = page.values.len();
        let mut full = false;
        for (i, raw) in page.values.into_iter().enumerate().skip(resume.k) {
            let doc = document(raw, q.include_ts)?;
            if !matches_filter(&doc, q.filter) {
                continue;
            }
            documents.push(doc);
            if documents.len() == q.limit {
                full = true;
                next = if i + 1 < count {
                    Some(ResumeCursor {
                        c: resume.c.clone(),
                        s: page.snapshot.clone(),
                        k: i + 1,
                        m: String::new(),
                    })
                } else if page.has_more {
                    Some(ResumeCursor {
                        c: page.next.clone(),
                        s: page.snapshot.clone(),
                        ..ResumeCursor::start()
                    })
                } else {
                    None
                };
                break;
            }
        }
        if full || !page.has_more {
            break;
        }
        resume = ResumeCursor {
            c: page.next,
            s: page.snapshot,
            ..ResumeCursor::start()
        };
        if page_no + 1 == MAX_PAGES_PER_CALL {
            next = Some(resume);
            break;
        }
    }
    Ok(json!({
        "table": q.table,
        "documents": documents,
        "hasMore": next.is_some(),
        "cursor": next.as_ref().map(|c| encode_cursor(c, &q.query())),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_use_dotted_paths_and_numeric_equality() {
        let doc = json!({"a": {"b": 5}, "s": "x"});
        let f = |v: Value| v.as_object().unwrap().clone();
        assert!(matches_filter(&doc, &f(json!({"a.b": 5.0, "s": "x"}))));
        assert!(!matches_filter(&doc, &f(json!({"a.c": 5}))));
    }

    #[test]
    fn bookkeeping_goes_and_ts_stays_only_when_asked() {
        let raw = json!({"_id": "i", "_table": "t", "_component": "", "_ts": 7, "n": 1});
        assert_eq!(
            document(raw.clone(), false).unwrap(),
            json!({"_id": "i", "n": 1})
        );
        assert_eq!(document(raw, true).unwrap()["_ts"], json!(7));
    }
}

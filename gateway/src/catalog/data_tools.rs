//! The Convex data tools: generic table access on the deployment's admin APIs.
//!
//! | tool | kind | upstream |
//! |---|---|---|
//! | `convex_list_tables` | read | `GET /api/json_schemas` (streaming export) |
//! | `convex_get_table` | read | `GET /api/json_schemas` |
//! | `convex_query_documents` | read | `GET /api/list_snapshot` (paged; equality filter applied here) |
//! | `convex_create_document` | write | mutation `_system/frontend/addDocument` |
//! | `convex_update_document` | write | mutation `_system/frontend/patchDocumentsFields` |
//! | `convex_delete_document` | write | mutation `_system/frontend/deleteDocuments` |
//! | `convex_get_current_user` | read | none: reports the identity the gateway acts as |
//!
//! Documents come back without the export's bookkeeping (`_table`, `_component`, and `_ts` unless
//! `include_ts` asks for it); `_id` and `_creationTime` stay. A query's cursor is bound to its
//! table, filter and `include_ts` by a keyed hash (a per-process key), so a cursor continues only
//! the query that issued it and cannot be forged (a snapshot or offset of the caller's choosing).
//!
//! Writes encode documents with the table's validator from `_system/frontend/getSchemas` (so an
//! int64 field takes a JSON integer or decimal string, bytes take base64), falling back to plain
//! JSON for tables without a schema. All upstream calls use the deploy key as admin: these are
//! admin APIs, which is why every data tool is typed read or write for the policy's write mode.
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::spec::Validator;
use super::{Tool, ToolAnnotations, ToolTarget, schema::DIALECT};
use crate::config::ToolOverride;
use crate::upstream::convex::codec::{from_convex, to_convex};
use crate::upstream::convex::{CallIdentity, ConvexClient, Endpoint, UpstreamError, ValueFormat};

const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 200;
/// Upper bound on snapshot pages read for one `convex_query_documents` call.
const MAX_PAGES_PER_CALL: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum DataToolError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("{path}: {message}")]
    InvalidArgument { path: String, message: String },
    #[error("table {table:?} does not exist")]
    UnknownTable { table: String },
    #[error("cursor is not one this gateway issued")]
    InvalidCursor,
    #[error("the deployment's schema is malformed: {0}")]
    BadSchema(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataTool {
    ListTables,
    GetTable,
    QueryDocuments,
    CreateDocument,
    UpdateDocument,
    DeleteDocument,
    GetCurrentUser,
}

impl DataTool {
    pub const ALL: [DataTool; 7] = [
        Self::ListTables,
        Self::GetTable,
        Self::QueryDocuments,
        Self::CreateDocument,
        Self::UpdateDocument,
        Self::DeleteDocument,
        Self::GetCurrentUser,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::ListTables => "convex_list_tables",
            Self::GetTable => "convex_get_table",
            Self::QueryDocuments => "convex_query_documents",
            Self::CreateDocument => "convex_create_document",
            Self::UpdateDocument => "convex_update_document",
            Self::DeleteDocument => "convex_delete_document",
            Self::GetCurrentUser => "convex_get_current_user",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    pub fn is_write(self) -> bool {
        matches!(
            self,
            Self::CreateDocument | Self::UpdateDocument | Self::DeleteDocument
        )
    }

    fn title(self) -> &'static str {
        match self {
            Self::ListTables => "List Convex tables",
            Self::GetTable => "Describe a Convex table",
            Self::QueryDocuments => "Query documents in a Convex table",
            Self::CreateDocument => "Create a Convex document",
            Self::UpdateDocument => "Update a Convex document",
            Self::DeleteDocument => "Delete a Convex document",
            Self::GetCurrentUser => "Show the Convex identity used for my calls",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::ListTables => "Lists the deployment's tables.",
            Self::GetTable => "Returns the JSON Schema of a table's documents.",
            Self::QueryDocuments => {
                "Reads documents from a table at one snapshot, optionally keeping only those whose fields equal the values in `filter` (dotted paths allowed; fields hidden by policy cannot be used). Pass `cursor` from a previous answer, with the same table and filter, to continue."
            }
            Self::CreateDocument => {
                "Inserts one document into a table; it must satisfy the table's schema. Returns the new id."
            }
            Self::UpdateDocument => {
                "Sets the given fields on one document (a shallow patch); the result must satisfy the table's schema."
            }
            Self::DeleteDocument => "Deletes one document by id.",
            Self::GetCurrentUser => {
                "Returns the identity Convex functions see in ctx.auth for your calls through this gateway."
            }
        }
    }

    fn input_schema(self) -> Value {
        let table = json!({"type": "string", "minLength": 1, "description": "Table name"});
        let id = json!({"type": "string", "minLength": 1, "description": "Document id"});
        let (properties, required) = match self {
            Self::ListTables | Self::GetCurrentUser => (json!({}), json!([])),
            Self::GetTable => (json!({"table": table}), json!(["table"])),
            Self::QueryDocuments => (
                json!({
                    "table": table,
                    "filter": {"type": "object", "description":
                        "Field (or dotted path) → value; documents must match all of them"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                              "description": format!("Page size (default {DEFAULT_LIMIT})")},
                    "cursor": {"type": "string", "description": "From a previous answer"},
                    "include_ts": {"type": "boolean", "description":
                        "Also return each document's `_ts` (last write, int64 nanoseconds)"}
                }),
                json!(["table"]),
            ),
            Self::CreateDocument => (
                json!({"table": table, "document": {"type": "object"}}),
                json!(["table", "document"]),
            ),
            Self::UpdateDocument => (
                json!({"table": table, "id": id, "fields": {"type": "object"}}),
                json!(["table", "id", "fields"]),
            ),
            Self::DeleteDocument => (json!({"table": table, "id": id}), json!(["table", "id"])),
        };
        let mut schema = json!({
            "$schema": DIALECT,
            "type": "object",
            "properties": properties,
            "additionalProperties": false
        });
        if required.as_array().is_some_and(|r| !r.is_empty()) {
            schema["required"] = required;
        }
        schema
    }

    /// The catalog entry for this data tool.
    pub fn tool(self, o: Option<&ToolOverride>) -> Tool {
        let write = self.is_write();
        let destructive_default = matches!(self, Self::UpdateDocument | Self::DeleteDocument);
        Tool {
            name: o
                .and_then(|o| o.name.clone())
                .unwrap_or_else(|| self.name().to_string()),
            title: o
                .and_then(|o| o.title.clone())
                .unwrap_or_else(|| self.title().to_string()),
            description: o
                .and_then(|o| o.description.clone())
                .unwrap_or_else(|| self.description().to_string()),
            input_schema: self.input_schema(),
            output_schema: None,
            annotations: ToolAnnotations {
                read_only: !write,
                destructive: write && o.and_then(|o| o.destructive).unwrap_or(destructive_default),
                idempotent: !write
                    || o.and_then(|o| o.idempotent)
                        .unwrap_or(self == Self::DeleteDocument),
                open_world: false,
            },
            target: ToolTarget::Data(self),
        }
    }

    /// Runs the tool. `args` were validated against the input schema already; `identity` is the
    /// identity the caller's function calls run as (reported by `convex_get_current_user`).
    pub async fn execute(
        self,
        client: &ConvexClient,
        args: &Value,
        identity: &CallIdentity,
    ) -> Result<Value, DataToolError> {
        match self {
            Self::ListTables => {
                let schemas = client.json_schemas().await?;
                let mut tables: Vec<&String> = schemas
                    .as_object()
                    .map(|m| m.keys().collect())
                    .unwrap_or_default();
                tables.sort();
                Ok(json!({"tables": tables}))
            }
            Self::GetTable => {
                let table = table_arg(args)?;
                let schemas = client.json_schemas().await?;
                let schema = schemas
                    .get(&table)
                    .ok_or_else(|| DataToolError::UnknownTable {
                        table: table.clone(),
                    })?;
                Ok(json!({"table": table, "documentSchema": schema}))
            }
            Self::QueryDocuments => query_documents(client, args).await,
            Self::CreateDocument => {
                let table = table_arg(args)?;
                let document = object_arg(args, "document")?;
                let encoded = match table_validator(client, &table).await? {
                    Some(v) => encode_document(&v, &document, "/document")?,
                    None => document,
                };
                let result = admin_mutation(
                    client,
                    "_system/frontend/addDocument",
                    json!({"table": table, "documents": [encoded]}),
                )
                .await?;
                let id = result
                    .as_array()
                    .and_then(|ids| ids.first())
                    .cloned()
                    .unwrap_or(Value::Null);
                Ok(json!({"table": table, "id": id}))
            }
            Self::UpdateDocument => {
                let table = table_arg(args)?;
                let id = string_arg(args, "id")?;
                let fields = object_arg(args, "fields")?;
                let encoded = match table_validator(client, &table).await? {
                    Some(Validator::Object(all)) => {
                        let mut out = Map::new();
                        let Value::Object(given) = &fields else {
                            return Err(invalid("/fields", "expected an object"));
                        };
                        for (name, value) in given {
                            let field = all.iter().find(|f| &f.name == name).ok_or_else(|| {
                                invalid(&format!("/fields/{name}"), "not a field of this table")
                            })?;
                            let v = to_convex(&field.validator, value).map_err(|e| {
                                invalid(&format!("/fields/{name}{}", e.path), &e.message)
                            })?;
                            out.insert(name.clone(), v);
                        }
                        Value::Object(out)
                    }
                    _ => fields,
                };
                admin_mutation(
                    client,
                    "_system/frontend/patchDocumentsFields",
                    json!({"table": table, "fields": encoded, "ids": [id]}),
                )
                .await?;
                Ok(json!({"table": table, "id": id, "updated": true}))
            }
            Self::DeleteDocument => {
                let table = table_arg(args)?;
                let id = string_arg(args, "id")?;
                admin_mutation(
                    client,
                    "_system/frontend/deleteDocuments",
                    json!({"toDelete": [{"id": id, "tableName": table}]}),
                )
                .await?;
                Ok(json!({"table": table, "id": id, "deleted": true}))
            }
            Self::GetCurrentUser => Ok(match identity {
                CallIdentity::ActingAs(user) => json!({"mode": "acting_as", "identity": user}),
                CallIdentity::Admin => json!({"mode": "service_admin", "identity": null}),
                CallIdentity::User(_) => json!({"mode": "user_token", "identity": null}),
            }),
        }
    }
}

fn invalid(path: &str, message: &str) -> DataToolError {
    DataToolError::InvalidArgument {
        path: path.into(),
        message: message.into(),
    }
}

fn string_arg(args: &Value, name: &str) -> Result<String, DataToolError> {
    args.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| invalid(&format!("/{name}"), "expected a string"))
}

fn object_arg(args: &Value, name: &str) -> Result<Value, DataToolError> {
    match args.get(name) {
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        _ => Err(invalid(&format!("/{name}"), "expected an object")),
    }
}

/// User tables only: system tables (`_…`) are not reachable through the data tools.
fn table_arg(args: &Value) -> Result<String, DataToolError> {
    let table = string_arg(args, "table")?;
    let ok = table
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(invalid("/table", "not a user table name"));
    }
    Ok(table)
}

fn encode_document(v: &Validator, document: &Value, at: &str) -> Result<Value, DataToolError> {
    to_convex(v, document).map_err(|e| invalid(&format!("{at}{}", e.path), &e.message))
}

async fn admin_mutation(
    client: &ConvexClient,
    path: &str,
    args: Value,
) -> Result<Value, DataToolError> {
    let result = client
        .run(
            Endpoint::Mutation,
            path,
            args,
            ValueFormat::ConvexEncodedJson,
            &CallIdentity::Admin,
        )
        .await?;
    from_convex(result.value).map_err(|e| {
        DataToolError::Upstream(UpstreamError::MalformedResponse {
            status: 200,
            detail: e.to_string(),
        })
    })
}

/// The table's document validator from the active schema, if the deployment has one.
async fn table_validator(
    client: &ConvexClient,
    table: &str,
) -> Result<Option<Validator>, DataToolError> {
    let result = client
        .run(
            Endpoint::Query,
            "_system/frontend/getSchemas",
            json!({}),
            ValueFormat::Json,
            &CallIdentity::Admin,
        )
        .await?;
    let Some(active) = result.value.get("active").and_then(Value::as_str) else {
        return Ok(None);
    };
    let schema: Value =
        serde_json::from_str(active).map_err(|e| DataToolError::BadSchema(e.to_string()))?;
    let tables = schema
        .get("tables")
        .and_then(Value::as_array)
        .ok_or_else(|| DataToolError::BadSchema("no tables array".into()))?;
    let Some(entry) = tables
        .iter()
        .find(|t| t.get("tableName").and_then(Value::as_str) == Some(table))
    else {
        return Err(DataToolError::UnknownTable {
            table: table.into(),
        });
    };
    match entry.get("documentType") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Validator::from_json(v)
            .map(Some)
            .map_err(|e| DataToolError::BadSchema(e.to_string())),
    }
}

/// Resume point inside the snapshot: the upstream page cursor, the snapshot, and how many
/// documents of that page were already returned; `m` binds them to the query (see [`cursor_mac`]).
#[derive(serde::Serialize, serde::Deserialize)]
struct ResumeCursor {
    c: Option<String>,
    s: Option<String>,
    k: usize,
    #[serde(default)]
    m: String,
}

/// What a cursor continues: a query's table, filter and `include_ts`.
struct Query<'a> {
    table: &'a str,
    filter: &'a Map<String, Value>,
    include_ts: bool,
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

fn encode_cursor(c: &ResumeCursor, q: &Query<'_>) -> String {
    let signed = ResumeCursor {
        c: c.c.clone(),
        s: c.s.clone(),
        k: c.k,
        m: cursor_mac(c, q),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&signed).unwrap_or_default())
}

/// A cursor this process issued for this very query, else [`DataToolError::InvalidCursor`].
fn decode_cursor(text: &str, q: &Query<'_>) -> Result<ResumeCursor, DataToolError> {
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

fn snapshot_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Dotted-path equality, numbers compared by value (so `5` matches an int64 `5`).
fn matches_filter(doc: &Value, filter: &Map<String, Value>) -> bool {
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

async fn query_documents(client: &ConvexClient, args: &Value) -> Result<Value, DataToolError> {
    let table = table_arg(args)?;
    let empty = Map::new();
    let filter = match args.get("filter") {
        None | Some(Value::Null) => &empty,
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
    let query = Query {
        table: &table,
        filter,
        include_ts,
    };
    let mut resume = match args.get("cursor").and_then(Value::as_str) {
        Some(c) => decode_cursor(c, &query)?,
        None => ResumeCursor {
            c: None,
            s: None,
            k: 0,
            m: String::new(),
        },
    };
    let mut documents = Vec::new();
    let mut next: Option<ResumeCursor> = None;
    for page_no in 0..MAX_PAGES_PER_CALL {
        let page = client
            .list_snapshot(&table, resume.c.as_deref(), resume.s.as_deref())
            .await?;
        let snapshot = snapshot_text(&page.snapshot);
        let count = page.values.len();
        let mut full = false;
        for (i, raw) in page.values.into_iter().enumerate().skip(resume.k) {
            let mut doc = from_convex(raw).map_err(|e| UpstreamError::MalformedResponse {
                status: 200,
                detail: e.to_string(),
            })?;
            if let Value::Object(m) = &mut doc {
                m.remove("_table");
                m.remove("_component");
            }
            if matches_filter(&doc, filter) {
                if !include_ts && let Value::Object(m) = &mut doc {
                    m.remove("_ts");
                }
                documents.push(doc);
                if documents.len() == limit {
                    full = true;
                    if i + 1 < count {
                        next = Some(ResumeCursor {
                            c: resume.c.clone(),
                            s: snapshot.clone(),
                            k: i + 1,
                            m: String::new(),
                        });
                    } else if page.has_more {
                        next = Some(ResumeCursor {
                            c: page.cursor.clone(),
                            s: snapshot.clone(),
                            k: 0,
                            m: String::new(),
                        });
                    }
                    break;
                }
            }
        }
        if full || !page.has_more {
            break;
        }
        resume = ResumeCursor {
            c: page.cursor,
            s: snapshot,
            k: 0,
            m: String::new(),
        };
        if page_no + 1 == MAX_PAGES_PER_CALL {
            next = Some(resume);
            break;
        }
    }
    Ok(json!({
        "table": table,
        "documents": documents,
        "hasMore": next.is_some(),
        "cursor": next.as_ref().map(|c| encode_cursor(c, &query)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_reserved_and_typed() {
        assert_eq!(
            DataTool::from_name("convex_delete_document"),
            Some(DataTool::DeleteDocument)
        );
        assert!(DataTool::DeleteDocument.is_write());
        assert!(!DataTool::QueryDocuments.is_write());
        let t = DataTool::CreateDocument.tool(None);
        assert!(!t.annotations.read_only && !t.annotations.destructive);
        assert!(DataTool::DeleteDocument.tool(None).annotations.destructive);
    }

    #[test]
    fn filters_use_dotted_paths_and_numeric_equality() {
        let doc = json!({"a": {"b": 5}, "s": "x"});
        let f = |v: Value| v.as_object().unwrap().clone();
        assert!(matches_filter(&doc, &f(json!({"a.b": 5.0, "s": "x"}))));
        assert!(!matches_filter(&doc, &f(json!({"a.c": 5}))));
    }

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

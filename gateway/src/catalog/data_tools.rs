//! The Convex data tools: generic table access on the deployment's admin APIs.
//!
//! | tool | kind | upstream (streaming export / system queries, [`data_support`]) |
//! |---|---|---|
//! | `convex_list_tables` | read | `GET /api/json_schemas` / `getSchemas` + `GET /api/shapes2` ([`data_tables`]) |
//! | `convex_get_table` | read | the same |
//! | `convex_query_documents` | read | `GET /api/list_snapshot` / `_system/cli/tableData` (paged; equality filter applied here, [`data_documents`]) |
//! | `convex_create_document` | write | mutation `_system/frontend/addDocument` |
//! | `convex_update_document` | write | mutation `_system/frontend/patchDocumentsFields` |
//! | `convex_delete_document` | write | mutation `_system/frontend/deleteDocuments` |
//! | `convex_get_current_user` | read | none: reports the identity the gateway acts as |
//!
//! Documents come back without the export's bookkeeping (`_table`, `_component`, and `_ts` unless
//! `include_ts` asks for it); `_id` and `_creationTime` stay. A query's cursor is bound to its
//! query ([`data_cursor`]). A table that does not exist is [`DataToolError::UnknownTable`] on
//! both paths; [`DataTool::precheck`] finds it (and a foreign cursor) before a call is recorded.
//!
//! [`data_support`]: super::data_support
//! [`data_tables`]: super::data_tables
//! [`data_documents`]: super::data_documents
//! [`data_cursor`]: super::data_cursor
//!
//! Writes encode documents with the table's validator from `_system/frontend/getSchemas` (so an
//! int64 field takes a JSON integer or decimal string, bytes take base64), falling back to plain
//! JSON for tables without a schema. All upstream calls use the deploy key as admin: these are
//! admin APIs, which is why every data tool is typed read or write for the policy's write mode.
use serde_json::{Map, Value, json};

use super::data_documents::{DEFAULT_LIMIT, MAX_LIMIT, QueryArgs};
use super::data_support::Reads;
use super::spec::Validator;
use super::{Tool, ToolAnnotations, ToolTarget, data_documents, data_tables, schema::DIALECT};
use crate::config::ToolOverride;
use crate::upstream::convex::codec::{from_convex, to_convex};
use crate::upstream::convex::{CallIdentity, ConvexClient, Endpoint, UpstreamError, ValueFormat};
use crate::validate::ValidationError;

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

    /// What can be refused before the call is recorded, from its arguments, the table listing
    /// and the table's validator: a table that does not exist, a cursor this query did not
    /// issue, `include_ts` where `reads` has no `_ts`, a written value the table's schema does
    /// not take, a system table. Empty when the call may go ahead — also when the listing could
    /// not be read (the call itself then fails and is recorded as such). Only for a call
    /// the policy let through: with `[data] tables`, a table the caller may not read was
    /// blocked before, with the reason an unknown table gets.
    pub async fn precheck(
        self,
        client: &ConvexClient,
        reads: Reads,
        args: &Value,
    ) -> Vec<ValidationError> {
        let Some(table) = args.get("table").and_then(Value::as_str) else {
            return Vec::new();
        };
        if let Err(e) = table_arg(args) {
            return vec![argument_error(e)];
        }
        if self == Self::QueryDocuments
            && let Err(e) = QueryArgs::parse(args, table.to_string(), reads)
                .and_then(|q| q.resume().map(|_| ()))
        {
            return vec![argument_error(e)];
        }
        let checked = match existing(client, reads, table).await {
            Ok(()) => match self {
                Self::CreateDocument => encoded_document(client, table, args).await.map(|_| ()),
                Self::UpdateDocument => encoded_fields(client, table, args).await.map(|_| ()),
                _ => Ok(()),
            },
            other => other,
        };
        match checked {
            Err(
                e @ (DataToolError::UnknownTable { .. } | DataToolError::InvalidArgument { .. }),
            ) => vec![argument_error(e)],
            _ => Vec::new(),
        }
    }

    /// Runs the tool. `args` were validated against the input schema already; `reads` is the
    /// path this deployment supports ([`super::data_support::probe`]); `identity` is the
    /// identity the caller's function calls run as (reported by `convex_get_current_user`).
    pub async fn execute(
        self,
        client: &ConvexClient,
        reads: Reads,
        args: &Value,
        identity: &CallIdentity,
    ) -> Result<Value, DataToolError> {
        match self {
            Self::ListTables => {
                let tables = data_tables::list(client, reads).await?;
                Ok(json!({"tables": tables.keys().collect::<Vec<_>>()}))
            }
            Self::GetTable => {
                let table = table_arg(args)?;
                let mut tables = data_tables::list(client, reads).await?;
                let schema = tables
                    .remove(&table)
                    .ok_or_else(|| DataToolError::UnknownTable {
                        table: table.clone(),
                    })?;
                Ok(json!({"table": table, "documentSchema": schema}))
            }
            Self::QueryDocuments => {
                let table = table_arg(args)?;
                let query = QueryArgs::parse(args, table, reads)?;
                query.resume()?;
                existing(client, reads, &query.table).await?;
                data_documents::query(client, reads, &query).await
            }
            Self::CreateDocument => {
                let table = table_arg(args)?;
                let encoded = encoded_document(client, &table, args).await?;
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
                let encoded = encoded_fields(client, &table, args).await?;
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

/// A create's `document` in the table's encoding (plain JSON for a table without a validator).
async fn encoded_document(
    client: &ConvexClient,
    table: &str,
    args: &Value,
) -> Result<Value, DataToolError> {
    let document = object_arg(args, "document")?;
    match table_validator(client, table).await? {
        Some(v) => encode_document(&v, &document, "/document"),
        None => Ok(document),
    }
}

/// An update's `fields`, each in its field's encoding (a shallow patch).
async fn encoded_fields(
    client: &ConvexClient,
    table: &str,
    args: &Value,
) -> Result<Value, DataToolError> {
    let fields = object_arg(args, "fields")?;
    let Some(Validator::Object(all)) = table_validator(client, table).await? else {
        return Ok(fields);
    };
    let Value::Object(given) = &fields else {
        return Err(invalid("/fields", "expected an object"));
    };
    let mut out = Map::new();
    for (name, value) in given {
        let field = all
            .iter()
            .find(|f| &f.name == name)
            .ok_or_else(|| invalid(&format!("/fields/{name}"), "not a field of this table"))?;
        let v = to_convex(&field.validator, value)
            .map_err(|e| invalid(&format!("/fields/{name}{}", e.path), &e.message))?;
        out.insert(name.clone(), v);
    }
    Ok(Value::Object(out))
}

/// `Ok` when `table` exists on the deployment.
async fn existing(client: &ConvexClient, reads: Reads, table: &str) -> Result<(), DataToolError> {
    if data_tables::list(client, reads).await?.contains_key(table) {
        Ok(())
    } else {
        Err(DataToolError::UnknownTable {
            table: table.into(),
        })
    }
}

/// An argument error as the call's recorded `errors` hold it.
fn argument_error(e: DataToolError) -> ValidationError {
    let (path, message) = match e {
        DataToolError::InvalidArgument { path, message } => (path, message),
        e @ DataToolError::UnknownTable { .. } => ("/table".into(), e.to_string()),
        e @ DataToolError::InvalidCursor => ("/cursor".into(), e.to_string()),
        e => (String::new(), e.to_string()),
    };
    ValidationError { path, message }
}

pub(crate) fn invalid(path: &str, message: &str) -> DataToolError {
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
    let mut declared = data_tables::declared_types(client).await?;
    if declared.is_empty() {
        return Ok(None);
    }
    declared
        .remove(table)
        .ok_or_else(|| DataToolError::UnknownTable {
            table: table.into(),
        })
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
}

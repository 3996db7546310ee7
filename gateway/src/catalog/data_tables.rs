//! The deployment's tables and their documents' JSON Schema, through either read path.
//!
//! - Streaming export: `GET /api/json_schemas` answers both at once.
//! - System queries: the tables the active schema declares (`_system/frontend/getSchemas`), each
//!   described by its `documentType`, and every other existing table (`GET /api/shapes2`),
//!   described by its inferred shape — the union the official Convex MCP server lists.
//!
//! Both give the same `documentSchema` for a declared table: `_id` and `_creationTime` first,
//! then the validator's fields (int64 as a decimal string, bytes as base64, as the `json` export
//! format has them), `additionalProperties: false` for objects.
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::data_support::Reads;
use super::data_tools::DataToolError;
use super::schema::DIALECT;
use super::spec::Validator;
use crate::upstream::convex::ConvexClient;

/// Table name → its documents' JSON Schema, in name order.
pub type Tables = BTreeMap<String, Value>;

/// Every user table of the deployment.
pub async fn list(client: &ConvexClient, reads: Reads) -> Result<Tables, DataToolError> {
    match reads {
        Reads::StreamingExport => {
            let schemas = client.json_schemas().await?;
            let Value::Object(map) = schemas else {
                return Err(DataToolError::BadSchema(
                    "json_schemas is not an object".into(),
                ));
            };
            Ok(map.into_iter().collect())
        }
        Reads::SystemQueries => {
            let mut tables = declared(client).await?;
            let shapes = client.shapes2().await?;
            let Value::Object(shapes) = shapes else {
                return Err(DataToolError::BadSchema("shapes2 is not an object".into()));
            };
            for (name, shape) in shapes {
                if let std::collections::btree_map::Entry::Vacant(slot) = tables.entry(name) {
                    let schema = document_schema(slot.key(), shape_schema(&shape));
                    slot.insert(schema);
                }
            }
            Ok(tables)
        }
    }
}

/// The active schema's tables (name → `documentType`), empty when no schema was pushed.
pub async fn declared_types(
    client: &ConvexClient,
) -> Result<BTreeMap<String, Option<Validator>>, DataToolError> {
    let result = client.schemas().await?;
    let Some(active) = result.get("active").and_then(Value::as_str) else {
        return Ok(BTreeMap::new());
    };
    let schema: Value =
        serde_json::from_str(active).map_err(|e| DataToolError::BadSchema(e.to_string()))?;
    let entries = schema
        .get("tables")
        .and_then(Value::as_array)
        .ok_or_else(|| DataToolError::BadSchema("no tables array".into()))?;
    let mut out = BTreeMap::new();
    for entry in entries {
        let name = entry
            .get("tableName")
            .and_then(Value::as_str)
            .ok_or_else(|| DataToolError::BadSchema("a table without tableName".into()))?;
        let validator = match entry.get("documentType") {
            None | Some(Value::Null) => None,
            Some(v) => {
                Some(Validator::from_json(v).map_err(|e| DataToolError::BadSchema(e.to_string()))?)
            }
        };
        out.insert(name.to_string(), validator);
    }
    Ok(out)
}

async fn declared(client: &ConvexClient) -> Result<Tables, DataToolError> {
    Ok(declared_types(client)
        .await?
        .into_iter()
        .map(|(name, v)| {
            let body = match &v {
                Some(v @ Validator::Object(_)) => validator_schema(v),
                _ => json!({"type": "object"}),
            };
            let schema = document_schema(&name, body);
            (name, schema)
        })
        .collect())
}

/// A document schema: `body` (an object schema) with the system fields in front.
fn document_schema(table: &str, body: Value) -> Value {
    let Value::Object(mut body) = body else {
        return document_schema(table, json!({"type": "object"}));
    };
    let mut properties = Map::new();
    properties.insert("_id".into(), id_schema(table));
    properties.insert("_creationTime".into(), json!({"type": "number"}));
    if let Some(Value::Object(own)) = body.remove("properties") {
        properties.extend(own);
    }
    let mut required = vec![json!("_id"), json!("_creationTime")];
    if let Some(Value::Array(own)) = body.remove("required") {
        required.extend(own);
    }
    let mut out = Map::new();
    out.insert("$schema".into(), json!(DIALECT));
    out.insert("title".into(), json!(table));
    out.extend(body);
    out.insert("properties".into(), Value::Object(properties));
    out.insert("required".into(), Value::Array(required));
    Value::Object(out)
}

fn id_schema(table: &str) -> Value {
    json!({"type": "string", "description": format!("Id of a document in table {table:?}")})
}

fn int64_schema() -> Value {
    json!({"type": "string", "description": "int64 (decimal string in the json export format)"})
}

/// A declared validator as the JSON Schema of its values in the `json` export format.
fn validator_schema(v: &Validator) -> Value {
    match v {
        Validator::String => json!({"type": "string"}),
        Validator::Number => json!({"type": "number"}),
        Validator::Int64 => int64_schema(),
        Validator::Boolean => json!({"type": "boolean"}),
        Validator::Null => json!({"type": "null"}),
        Validator::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Validator::Any => json!({}),
        Validator::Literal(value) => json!({"const": value}),
        Validator::Id { table } => id_schema(table),
        Validator::Array(item) => json!({"type": "array", "items": validator_schema(item)}),
        Validator::Record { values, .. } => {
            json!({"type": "object", "additionalProperties": validator_schema(values)})
        }
        Validator::Union(members) => {
            json!({"anyOf": members.iter().map(validator_schema).collect::<Vec<_>>()})
        }
        Validator::Object(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|f| (f.name.clone(), validator_schema(&f.validator)))
                .collect();
            let required: Vec<&str> = fields
                .iter()
                .filter(|f| !f.optional)
                .map(|f| f.name.as_str())
                .collect();
            json!({"type": "object", "properties": properties, "required": required,
                   "additionalProperties": false})
        }
    }
}

/// An inferred shape (`shapes2`'s dashboard format) as a JSON Schema; the system fields are
/// left to [`document_schema`].
fn shape_schema(shape: &Value) -> Value {
    let member = |name: &str| shape.get(name).unwrap_or(&Value::Null);
    match shape
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "Null" => json!({"type": "null"}),
        "Int64" => int64_schema(),
        "Float64" => json!({"type": "number"}),
        "Boolean" => json!({"type": "boolean"}),
        "String" => json!({"type": "string"}),
        "Bytes" => json!({"type": "string", "contentEncoding": "base64"}),
        "Id" => id_schema(member("tableName").as_str().unwrap_or_default()),
        "Array" => json!({"type": "array", "items": shape_schema(member("shape"))}),
        "Record" => json!({"type": "object",
                           "additionalProperties": shape_schema(&member("valueShape")["shape"])}),
        "Union" => {
            let members = member("shapes").as_array().cloned().unwrap_or_default();
            json!({"anyOf": members.iter().map(shape_schema).collect::<Vec<_>>()})
        }
        "Object" => {
            let fields = member("fields").as_array().cloned().unwrap_or_default();
            let mut properties = Map::new();
            let mut required = Vec::new();
            for f in &fields {
                let Some(name) = f.get("fieldName").and_then(Value::as_str) else {
                    continue;
                };
                if name == "_id" || name == "_creationTime" {
                    continue;
                }
                properties.insert(name.to_string(), shape_schema(&f["shape"]));
                if f.get("optional") != Some(&Value::Bool(true)) {
                    required.push(json!(name));
                }
            }
            json!({"type": "object", "properties": properties, "required": required})
        }
        // `Unknown` (not computed yet) and `Never` (no documents) say nothing.
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inferred_shapes_become_document_schemas() {
        let shape = json!({"type": "Object", "fields": [
            {"fieldName": "_creationTime", "optional": false, "shape": {"type": "Float64",
                "float64Range": {"hasSpecialValues": false}}},
            {"fieldName": "_id", "optional": false, "shape": {"type": "Id", "tableName": "t"}},
            {"fieldName": "n", "optional": true, "shape": {"type": "Int64"}},
            {"fieldName": "tags", "optional": false, "shape": {"type": "Array",
                "shape": {"type": "Union", "shapes": [{"type": "String"}, {"type": "Null"}]}}}]});
        let schema = document_schema("t", shape_schema(&shape));
        assert_eq!(schema["required"], json!(["_id", "_creationTime", "tags"]));
        assert_eq!(schema["properties"]["n"], int64_schema());
        assert_eq!(
            schema["properties"]["tags"]["items"]["anyOf"],
            json!([{"type": "string"}, {"type": "null"}])
        );
        let empty = document_schema("e", shape_schema(&json!({"type": "Never"})));
        assert_eq!(empty["required"], json!(["_id", "_creationTime"]));
    }
}

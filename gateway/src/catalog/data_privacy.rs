//! What the data tools may reveal about what the policy hides.
//!
//! The response plan (`Decision::response`) hides fields from the agent. The data tools read
//! whole tables, so three things would undo it if left alone, and this module closes each:
//!
//! - **Filters as oracles.** `convex_query_documents {"filter": {"ssn": "…"}}` would confirm an
//!   ssn the agent never sees. [`validate_call`] refuses a filter that touches a hidden field,
//!   before anything is sent to Convex: each filter key and its value become a synthetic document
//!   (`{"a": {"b": value}}` for `"a.b"`), the plan is applied to it, and a non-empty report means
//!   the key, an ancestor carrying a hidden member, or a JSONPath entry touches a hidden field.
//!   The refusal depends only on the policy and the arguments, so it reads the same whether or
//!   not the table or the field exists, and it never quotes the filter's value.
//! - **Documents as one value.** A plan is written for one document (`path = "ssn"` means a
//!   document's `ssn`); [`redact`] applies it to each document of a `convex_query_documents`
//!   result, and reports locations as `$.documents[i]…`.
//! - **Schemas as confirmation.** `convex_get_table` would list a hidden field; [`redact`]
//!   removes every property the plan would hide from a document of that schema.
//!
//! `[data] tables` (the policy decides it) also narrows `convex_list_tables` ([`readable_tables`]).
use auditgate_policy::{CommitKey, MASK, Originals, Policy, Redacted, RedactionPlan};
use serde_json::{Map, Value};

use super::data_tools::DataTool;
use super::{Tool, ToolTarget};
use crate::principal::Principal;
use crate::upstream::convex::codec::escape_pointer;
use crate::validate::{ValidationError, validate};

/// What the agent is told when a filter touches a hidden field.
pub const HIDDEN_FILTER: &str =
    "this field is hidden by policy and cannot be used in a filter (nothing was sent to Convex)";

/// What the agent is told when a data-tool write names a hidden field: refused from the policy
/// alone, so that whether the table has such a field (or accepts its type) is never confirmed.
pub const HIDDEN_WRITE: &str = "this field is hidden by policy and cannot be written through a \
     data tool (nothing was sent to Convex)";

/// Validates a call's arguments: the tool's `inputSchema`, then, for a data tool, that no
/// filter and no written field touches a field the response plan hides (an update's "no such
/// field" or type error would otherwise confirm what the plan hides).
pub fn validate_call(
    tool: &Tool,
    args: &Value,
    response: &RedactionPlan,
    key: &CommitKey,
) -> Vec<ValidationError> {
    let errors = validate(&tool.input_schema, args);
    if !errors.is_empty() || response.is_empty() {
        return errors;
    }
    match tool.target {
        ToolTarget::Data(DataTool::QueryDocuments) => {
            hidden_keys(args, "filter", HIDDEN_FILTER, response, key)
        }
        ToolTarget::Data(DataTool::UpdateDocument) => {
            hidden_keys(args, "fields", HIDDEN_WRITE, response, key)
        }
        ToolTarget::Data(DataTool::CreateDocument) => {
            hidden_keys(args, "document", HIDDEN_WRITE, response, key)
        }
        _ => errors,
    }
}

/// The keys of the object argument `member` (as `/<member>/<key>` pointers) whose synthetic
/// document the plan redacts; when no key does alone but all of them together do (a JSONPath
/// filter expression over several members), `/<member>` itself.
fn hidden_keys(
    args: &Value,
    member: &str,
    message: &str,
    plan: &RedactionPlan,
    key: &CommitKey,
) -> Vec<ValidationError> {
    let Some(filter) = args.get(member).and_then(Value::as_object) else {
        return Vec::new();
    };
    let hidden = |doc: &Value| !plan.apply(doc, key).report.is_empty();
    let mut errors: Vec<ValidationError> = filter
        .iter()
        .filter(|(path, value)| hidden(&synthetic(std::iter::once((*path, *value)))))
        .map(|(path, _)| ValidationError {
            path: format!("/{member}/{}", escape_pointer(path)),
            message: message.into(),
        })
        .collect();
    if errors.is_empty() && filter.len() > 1 && hidden(&synthetic(filter.iter())) {
        errors.push(ValidationError {
            path: format!("/{member}"),
            message: message.into(),
        });
    }
    errors
}

/// A document holding each dotted filter path with its value.
fn synthetic<'a>(filter: impl Iterator<Item = (&'a String, &'a Value)>) -> Value {
    let mut root = Map::new();
    for (path, value) in filter {
        let parts: Vec<&str> = path.split('.').collect();
        insert(&mut root, &parts, value);
    }
    Value::Object(root)
}

fn insert(at: &mut Map<String, Value>, parts: &[&str], value: &Value) {
    match parts {
        [] => {}
        [last] => {
            at.insert((*last).to_string(), value.clone());
        }
        [first, rest @ ..] => {
            let slot = at
                .entry((*first).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(next) = slot {
                insert(next, rest, value);
            }
        }
    }
}

/// Applies the audit plan to a call's arguments. A `convex_query_documents` filter key is a
/// dotted path (`"contact.ssn"`) that a plan sees as one flat key, so `**.ssn` would not reach
/// its value: such keys are also redacted as the path they spell (fail closed: a value whose
/// spelled-out form the plan redacts is replaced by what the plan left of it, or removed).
pub fn redact_args(tool: &Tool, plan: &RedactionPlan, args: &Value, key: &CommitKey) -> Redacted {
    let mut redacted = plan.apply(args, key);
    if plan.is_empty() || !matches!(tool.target, ToolTarget::Data(DataTool::QueryDocuments)) {
        return redacted;
    }
    let Some(filter) = args.get("filter").and_then(Value::as_object) else {
        return redacted;
    };
    for (path, value) in filter.iter().filter(|(path, _)| path.contains('.')) {
        // Only the filter: the rest of the arguments was redacted (and reported) above.
        let probe = serde_json::json!({"filter": synthetic(std::iter::once((path, value)))});
        let spelled = plan.apply(&probe, key);
        if spelled.report.is_empty() {
            continue;
        }
        let left = path
            .split('.')
            .try_fold(&spelled.value["filter"], |at, part| match at {
                Value::Object(m) => m.get(part),
                other => Some(other),
            })
            .cloned();
        if let Some(Value::Object(shown)) = redacted.value.get_mut("filter") {
            match left {
                Some(v) => shown.insert(path.clone(), v),
                None => shown.remove(path),
            };
        }
        redacted.report.extend(spelled.report);
        redacted.originals.0.extend(spelled.originals.0);
    }
    redacted
}

/// Applies `plan` to a tool's result: per document for `convex_query_documents`, to the
/// documents a schema describes for `convex_get_table`, to the whole value otherwise.
pub fn redact(tool: &Tool, plan: &RedactionPlan, value: &Value, key: &CommitKey) -> Redacted {
    match (&tool.target, value) {
        (ToolTarget::Data(DataTool::QueryDocuments), Value::Object(result)) if !plan.is_empty() => {
            per_document(plan, result, key)
        }
        (ToolTarget::Data(DataTool::GetTable), Value::Object(result)) if !plan.is_empty() => {
            let mut out = result.clone();
            if let Some(schema) = out.get_mut("documentSchema") {
                hide_in_schema(plan, schema, key);
            }
            Redacted {
                value: Value::Object(out),
                report: Vec::new(),
                originals: Originals::default(),
            }
        }
        _ => plan.apply(value, key),
    }
}

fn per_document(plan: &RedactionPlan, result: &Map<String, Value>, key: &CommitKey) -> Redacted {
    let mut out = result.clone();
    let mut report = Vec::new();
    let mut originals = Originals::default();
    if let Some(Value::Array(documents)) = out.get_mut("documents") {
        for (i, document) in documents.iter_mut().enumerate() {
            let redacted = plan.apply(document, key);
            *document = redacted.value;
            originals.0.extend(redacted.originals.0);
            report.extend(redacted.report.into_iter().map(|mut field| {
                field.path = format!("$.documents[{i}]{}", &field.path[1..]);
                field
            }));
        }
    }
    Redacted {
        value: Value::Object(out),
        report,
        originals,
    }
}

/// Removes from a document JSON Schema every property the plan would drop or mask in a document
/// of that shape (so the schema does not confirm a hidden field).
fn hide_in_schema(plan: &RedactionPlan, schema: &mut Value, key: &CommitKey) {
    let example = example_document(schema);
    let shown = plan.apply(&example, key).value;
    prune(schema, &example, &shown);
}

/// A document with every property a schema names: nested objects for `properties`, a
/// one-element array for `items`, the union of an `anyOf`'s members; `null` at the leaves.
fn example_document(schema: &Value) -> Value {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let mut doc = Map::new();
        for (name, sub) in properties {
            doc.insert(name.clone(), example_document(sub));
        }
        return Value::Object(doc);
    }
    if let Some(items) = schema.get("items") {
        return Value::Array(vec![example_document(items)]);
    }
    if let Some(members) = schema.get("anyOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for member in members {
            if let Value::Object(m) = example_document(member) {
                for (k, v) in m {
                    merged.entry(k).or_insert(v);
                }
            }
        }
        if !merged.is_empty() {
            return Value::Object(merged);
        }
    }
    Value::Null
}

fn prune(schema: &mut Value, example: &Value, shown: &Value) {
    let hidden = |name: &str| match (example.get(name), shown.get(name)) {
        (_, None) => true,
        (Some(before), Some(Value::String(s))) => s == MASK && before.as_str() != Some(MASK),
        _ => false,
    };
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        let names: Vec<String> = properties.keys().cloned().collect();
        let mut removed = Vec::new();
        for name in names {
            if hidden(&name) {
                properties.remove(&name);
                removed.push(name);
            } else if let (Some(sub), Some(e), Some(s)) = (
                properties.get_mut(&name),
                example.get(&name),
                shown.get(&name),
            ) {
                prune(sub, e, s);
            }
        }
        if let Some(Value::Array(required)) = schema.get_mut("required") {
            required.retain(|r| !r.as_str().is_some_and(|r| removed.iter().any(|n| n == r)));
        }
        return;
    }
    if let Some(items) = schema.get_mut("items") {
        if let (Some(e), Some(s)) = (example.get(0), shown.get(0)) {
            prune(items, e, s);
        }
        return;
    }
    if let Some(Value::Array(members)) = schema.get_mut("anyOf") {
        for member in members {
            prune(member, example, shown);
        }
    }
}

/// `convex_list_tables` shows only the tables `[data] tables` lets the caller's roles read (the
/// ledger records the same list).
pub fn readable_tables(
    tool: &Tool,
    mut value: Value,
    policy: &Policy,
    caller: &Principal,
) -> Value {
    if tool.target != ToolTarget::Data(DataTool::ListTables) || !policy.restricts_tables() {
        return value;
    }
    if let Some(Value::Array(tables)) = value.get_mut("tables") {
        tables.retain(|t| {
            t.as_str()
                .is_some_and(|t| policy.may_read_table(t, &caller.roles))
        });
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(hide: &str) -> RedactionPlan {
        let text = format!("version = 1\n[response]\nhide = [{hide}]\n");
        let (policy, _) = Policy::parse("p.toml", text.as_bytes()).unwrap();
        let request = auditgate_policy::Request {
            principal: "key:x",
            roles: &[],
            tool: "t",
            function_path: None,
            kind: auditgate_policy::ToolKind::DataRead,
            args: &Value::Null,
        };
        (*policy.decide(&request).response).clone()
    }

    fn key() -> CommitKey {
        CommitKey::from_bytes([7; 32])
    }

    fn refused(plan: &RedactionPlan, filter: Value) -> Vec<String> {
        hidden_keys(
            &json!({"table": "t", "filter": filter}),
            "filter",
            HIDDEN_FILTER,
            plan,
            &key(),
        )
        .into_iter()
        .map(|e| e.path)
        .collect()
    }

    #[test]
    fn filters_touching_hidden_fields_are_named_without_their_values() {
        let p =
            plan(r#"{ path = "**.ssn", mode = "drop" }, { jsonpath = "$.mrn", mode = "mask" }"#);
        assert_eq!(refused(&p, json!({"ssn": "1"})), ["/filter/ssn"]);
        assert_eq!(
            refused(&p, json!({"a.b.ssn": "1", "name": "x"})),
            ["/filter/a.b.ssn"]
        );
        // An ancestor whose value carries the hidden member.
        assert_eq!(
            refused(&p, json!({"contact": {"ssn": "1"}})),
            ["/filter/contact"]
        );
        assert_eq!(refused(&p, json!({"mrn": "M-1"})), ["/filter/mrn"]);
        assert!(refused(&p, json!({"name": "x", "contact": {"phone": "1"}})).is_empty());
        // Pointer escapes for odd keys.
        assert_eq!(refused(&p, json!({"x/y.ssn": 1})), ["/filter/x~1y.ssn"]);
    }

    #[test]
    fn dotted_filter_keys_are_redacted_in_the_ledger_as_the_paths_they_spell() {
        let p = plan(r#"{ path = "**.ssn", mode = "drop" }, { path = "**.mrn", mode = "mask" }"#);
        let tool = DataTool::QueryDocuments.tool(None);
        let args = json!({"table": "t", "filter": {
            "contact.ssn": "111", "a.mrn": "M-1", "ssn": "222", "contact.name": "x"}});
        let r = redact_args(&tool, &p, &args, &key());
        assert_eq!(
            r.value,
            json!({"table": "t", "filter": {"a.mrn": MASK, "contact.name": "x"}})
        );
        assert_eq!(r.report.len(), 3);
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("111") && !text.contains("222") && !text.contains("M-1"));
    }

    #[test]
    fn a_dotted_path_is_per_document() {
        let p = plan(r#"{ path = "dob", mode = "mask" }"#);
        assert_eq!(refused(&p, json!({"dob": "1970"})), ["/filter/dob"]);
        let tool = DataTool::QueryDocuments.tool(None);
        let result =
            json!({"table": "t", "documents": [{"dob": "1", "n": 1}, {"n": 2}, {"dob": "3"}]});
        let r = redact(&tool, &p, &result, &key());
        assert_eq!(
            r.value["documents"],
            json!([{"dob": MASK, "n": 1}, {"n": 2}, {"dob": MASK}])
        );
        let paths: Vec<&str> = r.report.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["$.documents[0].dob", "$.documents[2].dob"]);
    }

    #[test]
    fn schemas_lose_the_properties_the_plan_hides() {
        let p = plan(r#"{ path = "**.ssn", mode = "drop" }, { path = "dob", mode = "mask" }"#);
        let tool = DataTool::GetTable.tool(None);
        let result = json!({"table": "patients", "documentSchema": {
            "type": "object", "required": ["_id", "ssn", "dob", "name"],
            "properties": {"_id": {"type": "string"}, "ssn": {"type": "string"},
                "dob": {"type": "string"}, "name": {"type": "string"},
                "contact": {"type": "object", "properties": {"ssn": {"type": "string"},
                                                             "phone": {"type": "string"}}},
                "visits": {"type": "array", "items": {"type": "object",
                    "properties": {"ssn": {}, "at": {}}}}}}});
        let r = redact(&tool, &p, &result, &key());
        let schema = &r.value["documentSchema"];
        assert_eq!(schema["required"], json!(["_id", "name"]));
        let mut names: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        names.sort();
        assert_eq!(names, ["_id", "contact", "name", "visits"]);
        assert_eq!(
            schema["properties"]["contact"]["properties"],
            json!({"phone": {"type": "string"}})
        );
        assert_eq!(
            schema["properties"]["visits"]["items"]["properties"],
            json!({"at": {}})
        );
    }
}

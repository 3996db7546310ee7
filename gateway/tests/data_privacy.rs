//! The data tools are not an oracle for what the policy hides: black-box tests through the real
//! gateway binary (`auditgate serve --http`) and the real test app's clinic tables
//! (`tests/convex-app/convex/clinic.ts`).
//!
//! - a filter (or an ancestor of it) on a field the response plan hides is refused, recorded,
//!   and never reaches Convex; the refusal reads the same for a table that does not exist;
//! - documents pass the response and audit plans one by one (`path = "dob"` hides each
//!   document's `dob`), and lose `_table`, `_component` and (unless asked) `_ts`;
//! - `[data] tables` decides who may list, read and write which table.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use auditgate::apikeys::KeyStore;
use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, NOW, of_kind, spawn_http, terminate, text};

/// Every data tool allowed for everyone; `**.ssn` hidden from agents and the ledger (arguments
/// too: a refused filter's value is the agent's own, and `[audit] args` decides it); each
/// document's `dob` masked for the agent and `mrn` masked in the ledger (dotted paths from the
/// document root). `extra` is appended (a `[data]` table).
fn clinic_policy(extra: &str) -> String {
    format!(
        r#"version = 1

[defaults]
tier = "blocked"
write = "allow"

[audit]
args = [{{ path = "**.ssn", mode = "drop" }}]
result = [{{ path = "**.ssn", mode = "drop" }}, {{ path = "mrn", mode = "mask" }}]

[response]
hide = [{{ path = "**.ssn", mode = "drop" }}, {{ path = "dob", mode = "mask" }}]

[[rules]]
id = "data"
match.kind = ["data-read", "data-write"]
tier = "allow"
{extra}"#
    )
}

/// A gateway folder on the test app with `policy`, plus API keys `doc` (clinician) and `desk`
/// (frontdesk).
fn clinic_dir(app_url: &str, policy: &str) -> (GatewayDir, String, String) {
    let dir = GatewayDir::new(app_url);
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    let store = KeyStore::new(dir.path().join("api-keys.json"));
    let (doc, _) = store
        .create("doc", &["clinician".into()], None, NOW)
        .unwrap();
    let (desk, _) = store
        .create("desk", &["frontdesk".into()], None, NOW)
        .unwrap();
    (dir, doc, desk)
}

fn documents(result: &Value) -> Vec<Value> {
    assert_eq!(result["isError"], false, "{result}");
    let v: Value = serde_json::from_str(text(result)).unwrap();
    v["documents"].as_array().unwrap().clone()
}

/// The `call.request` entries for `tool`, in order.
fn requests<'a>(entries: &'a [Value], tool: &str) -> Vec<&'a Value> {
    of_kind(entries, "call.request")
        .into_iter()
        .filter(|e| e["tool"] == tool)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_on_a_hidden_field_is_refused_before_convex() {
    let app = app_or_skip!();
    let (dir, doc, _) = clinic_dir(&app.url, &clinic_policy(""));
    let (child, url) = spawn_http(&dir);
    let mut mcp = Mcp::new(&url, Some(doc));
    mcp.initialize().await;

    // The finding: the agent never sees `ssn`, but could confirm one by filtering on it.
    let probe = mcp
        .call(
            "convex_query_documents",
            json!({"table": "patients", "filter": {"ssn": "987-65-4321"}}),
        )
        .await;
    assert_eq!(
        probe["isError"], true,
        "an ssn filter was answered: {probe}"
    );
    let message = text(&probe).to_string();
    assert!(
        message.contains("/filter/ssn") && message.contains("hidden by policy"),
        "{message}"
    );
    assert!(!message.contains("987-65-4321"), "{message}");

    // The same answer for a table that does not exist (only the ledger seq differs).
    let nowhere = mcp
        .call(
            "convex_query_documents",
            json!({"table": "nosuchtable", "filter": {"ssn": "987-65-4321"}}),
        )
        .await;
    let strip = |s: &str| s.split(" (audit ref").next().unwrap().to_string();
    assert_eq!(strip(text(&nowhere)), strip(&message));

    // Nested, ancestor and wrong-guess forms are refused alike.
    for filter in [
        json!({"emergencyContact.ssn": "111-22-3333"}),
        json!({"emergencyContact": {"name": "Charles Babbage", "phone": "+44 20 0000 0001",
                                    "ssn": "111-22-3333"}}),
        json!({"ssn": "000-00-0000"}),
    ] {
        let r = mcp
            .call(
                "convex_query_documents",
                json!({"table": "patients", "filter": filter}),
            )
            .await;
        assert_eq!(r["isError"], true, "{filter}: {r}");
        assert!(text(&r).contains("hidden by policy"), "{}", text(&r));
    }
    // A visible field still filters.
    let ada = mcp
        .call(
            "convex_query_documents",
            json!({"table": "patients", "filter": {"name": "Ada Lovelace"}}),
        )
        .await;
    assert_eq!(documents(&ada).len(), 1);
    terminate(child);

    dir.verify();
    let entries = dir.entries();
    let calls = requests(&entries, "convex_query_documents");
    assert_eq!(calls.len(), 6);
    for refused in &calls[..5] {
        assert_eq!(refused["disposition"], "invalid_args", "{refused}");
        assert!(
            refused["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("hidden by policy"),
            "{refused}"
        );
    }
    assert_eq!(calls[5]["disposition"], "forward");
    // Only the allowed call has a result: nothing else reached Convex.
    let results = of_kind(&entries, "call.result");
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["request_seq"], calls[5]["seq"]);
    let ledger = serde_json::to_string(&entries).unwrap();
    assert!(!ledger.contains("987-65-4321") && !ledger.contains("111-22-3333"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_redacted_one_by_one_and_lose_export_bookkeeping() {
    let app = app_or_skip!(&[("CONVEX_TEST_PAGE_SIZE", "1")]);
    let (dir, doc, _) = clinic_dir(&app.url, &clinic_policy(""));
    let (child, url) = spawn_http(&dir);
    let mut mcp = Mcp::new(&url, Some(doc));
    mcp.initialize().await;

    let all = mcp
        .call("convex_query_documents", json!({"table": "patients"}))
        .await;
    let docs = documents(&all);
    assert_eq!(docs.len(), 2);
    for d in &docs {
        // `path = "dob"` is each document's dob; `**.ssn` reaches the nested contact too.
        assert_eq!(d["dob"], "[REDACTED]", "{d}");
        assert!(d.get("ssn").is_none(), "{d}");
        for gone in ["_table", "_component", "_ts"] {
            assert!(d.get(gone).is_none(), "{gone} in {d}");
        }
        assert!(
            d["_id"].is_string() && d["_creationTime"].is_number(),
            "{d}"
        );
        assert_eq!(
            d["mrn"].as_str().unwrap().len(),
            8,
            "mrn is shown to the agent"
        );
    }
    assert!(docs[0]["emergencyContact"].get("ssn").is_none());
    assert_eq!(docs[0]["emergencyContact"]["name"], "Charles Babbage");
    for secret in ["987-65-4321", "111-22-3333", "1815-12-10"] {
        assert!(!text(&all).contains(secret), "{secret}");
    }

    // `_ts` only on request; the cursor continues only the query that issued it.
    let first = mcp
        .call(
            "convex_query_documents",
            json!({"table": "patients", "limit": 1, "include_ts": true}),
        )
        .await;
    let page: Value = serde_json::from_str(text(&first)).unwrap();
    assert!(page["documents"][0]["_ts"].is_u64(), "{page}");
    let cursor = page["cursor"].as_str().unwrap().to_string();
    let second = mcp
        .call(
            "convex_query_documents",
            json!({"table": "patients", "limit": 1, "include_ts": true, "cursor": cursor}),
        )
        .await;
    assert_eq!(documents(&second).len(), 1);
    for other in [
        json!({"table": "appointments", "limit": 1, "include_ts": true, "cursor": cursor}),
        json!({"table": "patients", "limit": 1, "cursor": cursor}),
        json!({"table": "patients", "limit": 1, "include_ts": true, "cursor": cursor,
               "filter": {"name": "Ben Franklin"}}),
    ] {
        let r = mcp.call("convex_query_documents", other.clone()).await;
        // Refused as an invalid argument before Convex, naming the cursor, never its content.
        assert_eq!(r["isError"], true, "{other}: {r}");
        assert!(
            text(&r).contains("/cursor: cursor is not one this gateway issued"),
            "{}",
            text(&r)
        );
    }

    // The schema does not confirm hidden fields either.
    let table = mcp
        .call("convex_get_table", json!({"table": "patients"}))
        .await;
    let schema: Value = serde_json::from_str(text(&table)).unwrap();
    let properties = schema["documentSchema"]["properties"].as_object().unwrap();
    assert!(properties.contains_key("name") && properties.contains_key("mrn"));
    assert!(!properties.contains_key("ssn") && !properties.contains_key("dob"));
    let contact = &properties["emergencyContact"]["properties"];
    assert!(
        contact.get("ssn").is_none() && contact.get("phone").is_some(),
        "{contact}"
    );
    assert!(!text(&table).contains("\"ssn\""), "{}", text(&table));
    terminate(child);

    // The ledger holds each document under the audit plan: no ssn, the mrn masked, the
    // redactions located per document.
    dir.verify();
    let entries = dir.entries();
    let result = of_kind(&entries, "call.result")[0];
    let recorded = result["result"]["documents"].as_array().unwrap();
    assert_eq!(recorded.len(), 2);
    for d in recorded {
        assert_eq!(d["mrn"], "[REDACTED]", "{d}");
        assert!(
            d.get("ssn").is_none() && d.get("_component").is_none(),
            "{d}"
        );
        assert_eq!(
            d["dob"].as_str().unwrap().len(),
            10,
            "dob is not hidden from the ledger"
        );
    }
    let located: Vec<&str> = result["redactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert!(located.contains(&"$.documents[0].mrn"), "{located:?}");
    assert!(located.contains(&"$.documents[1].ssn"), "{located:?}");
    let ledger = serde_json::to_string(&entries).unwrap();
    assert!(!ledger.contains("987-65-4321") && !ledger.contains("MRN-0001"));
}

const CLINIC_TABLES: &str = r#"
[data]
tables = [
  { name = "patients", read = ["clinician"], write = ["clinician"] },
  { name = "appointments", read = ["clinician", "frontdesk"], write = ["frontdesk"] },
]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_tables_decide_who_lists_reads_and_writes_which_table() {
    let app = app_or_skip!();
    let seed = app.seed().await;
    let (dir, doc, desk) = clinic_dir(&app.url, &clinic_policy(CLINIC_TABLES));
    let (child, url) = spawn_http(&dir);
    let mut doc = Mcp::new(&url, Some(doc));
    doc.initialize().await;
    let mut desk = Mcp::new(&url, Some(desk));
    desk.initialize().await;

    let tables =
        |r: &Value| -> Value { serde_json::from_str::<Value>(text(r)).unwrap()["tables"].clone() };
    let listed = doc.call("convex_list_tables", json!({})).await;
    assert_eq!(tables(&listed), json!(["appointments", "patients"]));
    let listed = desk.call("convex_list_tables", json!({})).await;
    assert_eq!(tables(&listed), json!(["appointments"]));

    // Front desk: appointments yes, patients no — and a table that does not exist (or one that
    // exists but [data] does not list) reads exactly the same.
    let visits = desk
        .call("convex_query_documents", json!({"table": "appointments"}))
        .await;
    assert_eq!(documents(&visits).len(), 2);
    let mut refusals = Vec::new();
    for (tool, table) in [
        ("convex_query_documents", "patients"),
        ("convex_get_table", "patients"),
        ("convex_get_table", "customers"),
        ("convex_get_table", "no_such_table"),
    ] {
        let r = desk.call(tool, json!({"table": table})).await;
        assert_eq!(r["isError"], true, "{tool} {table}: {r}");
        let t = text(&r).split(" (audit ref").next().unwrap().to_string();
        assert!(!t.contains(table), "{t}");
        refusals.push(t);
    }
    assert!(refusals.iter().all(|t| t == &refusals[0]), "{refusals:?}");
    assert!(
        refusals[0].starts_with("Blocked by policy: [data] tables:"),
        "{}",
        refusals[0]
    );

    // Writes need `write`: the clinician reads appointments but may not move one.
    let moved = doc
        .call(
            "convex_update_document",
            json!({"table": "appointments", "id": seed["appointments"]["ada"],
                   "fields": {"slot": "2026-03-01T09:00"}}),
        )
        .await;
    assert_eq!(moved["isError"], true, "{moved}");
    assert!(
        text(&moved).contains("may write this table"),
        "{}",
        text(&moved)
    );
    let moved = desk
        .call(
            "convex_update_document",
            json!({"table": "appointments", "id": seed["appointments"]["ada"],
                   "fields": {"slot": "2026-03-01T09:00"}}),
        )
        .await;
    assert_eq!(moved["isError"], false, "{moved}");
    terminate(child);

    dir.verify();
    let entries = dir.entries();
    let blocked: Vec<&Value> = of_kind(&entries, "call.request")
        .into_iter()
        .filter(|e| e["disposition"] == "blocked")
        .collect();
    assert_eq!(blocked.len(), 5);
    for b in &blocked {
        assert_eq!(b["decision"]["rule"], Value::Null);
        assert_eq!(b["decision"]["inputs_read"], json!(["$.table"]));
    }
    assert_eq!(
        blocked[3]["decision"], blocked[2]["decision"],
        "a missing table is decided like a forbidden one"
    );
}

/// A write through a data tool that names a hidden field is refused from the policy alone:
/// an update's "not a field of this table" or a type error would otherwise confirm whether the
/// hidden field exists. The answer is the same for a field the table does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_naming_a_hidden_field_is_refused_before_convex() {
    let app = app_or_skip!();
    let seed = app.seed().await;
    let (dir, doc, _) = clinic_dir(&app.url, &clinic_policy(""));
    let (child, url) = spawn_http(&dir);
    let mut mcp = Mcp::new(&url, Some(doc));
    mcp.initialize().await;
    let before = app.calls().await.len();
    let patient = seed["patients"]
        .as_object()
        .and_then(|p| p.values().next())
        .cloned()
        .unwrap_or(Value::Null);
    for (tool, args) in [
        (
            "convex_update_document",
            json!({"table": "patients", "id": patient, "fields": {"ssn": 12}}),
        ),
        (
            "convex_update_document",
            json!({"table": "patients", "id": patient, "fields": {"nosuch": {"ssn": "x"}}}),
        ),
        (
            "convex_create_document",
            json!({"table": "patients", "document": {"name": "Eve", "ssn": "000-00-0000"}}),
        ),
    ] {
        let r = mcp.call(tool, args.clone()).await;
        assert_eq!(r["isError"], true, "{args}: {r}");
        assert!(
            text(&r).contains("hidden by policy and cannot be written"),
            "{r}"
        );
        assert!(!text(&r).contains("000-00-0000"), "{r}");
    }
    assert_eq!(app.calls().await.len(), before, "nothing reached Convex");
    // A visible field is still written.
    let ok = mcp
        .call(
            "convex_update_document",
            json!({"table": "patients", "id": patient, "fields": {"name": "Ada King"}}),
        )
        .await;
    assert_eq!(ok["isError"], false, "{ok}");
    terminate(child);
    let entries = dir.entries();
    let updates = requests(&entries, "convex_update_document");
    assert_eq!(updates[0]["disposition"], "invalid_args");
    assert_eq!(updates[2]["disposition"], "forward");
}

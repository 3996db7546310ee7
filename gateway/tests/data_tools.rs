//! Every Convex data tool against the test app's admin APIs, on both plans: where streaming
//! export is enabled (`/api/json_schemas`, `/api/list_snapshot`) and on the Starter plan, which
//! refuses it (`getSchemas`, `/api/shapes2`, `_system/cli/tableData`). The path is the one
//! [`probe`] picks, as the gateway does at start.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use auditgate::catalog::data_support::{Reads, Via, probe};
use auditgate::catalog::data_tools::{DataTool, DataToolError};
use auditgate::upstream::convex::{CallIdentity, UserIdentity};
use auditgate::validate::validate;
use serde_json::{Value, json};

/// The test app with one document per upstream page (snapshot pages, and tableData's rows-read
/// limit), so that pagination crosses upstream pages; on the Starter plan when `starter`.
fn paged_app(starter: bool) -> Option<support::TestApp> {
    let plan = if starter { "starter" } else { "pro" };
    support::TestApp::start_with(&[("CONVEX_TEST_PAGE_SIZE", "1"), ("CONVEX_TEST_PLAN", plan)])
}

/// The read path each app's last probe chose (by app URL), so that calls do not probe again.
static PROBED: std::sync::Mutex<Vec<(String, Reads)>> = std::sync::Mutex::new(Vec::new());

/// Probes the app as the gateway does at start, and remembers the read path for [`run`].
async fn reads_of(app: &support::TestApp) -> Reads {
    let reads = probe(&app.client()).await.reads();
    let mut probed = PROBED.lock().unwrap();
    probed.retain(|(url, _)| *url != app.url);
    probed.push((app.url.clone(), reads));
    reads
}

async fn run(app: &support::TestApp, tool: DataTool, args: Value) -> Result<Value, DataToolError> {
    let schema = tool.tool(None).input_schema;
    assert!(validate(&schema, &args).is_empty(), "{tool:?} {args}");
    let known = PROBED
        .lock()
        .unwrap()
        .iter()
        .find(|(url, _)| *url == app.url)
        .map(|(_, r)| *r);
    let reads = match known {
        Some(r) => r,
        None => reads_of(app).await,
    };
    tool.execute(&app.client(), reads, &args, &CallIdentity::Admin)
        .await
}

#[tokio::test]
async fn reads_tables_schemas_and_paged_filtered_documents_with_streaming_export() {
    let Some(app) = paged_app(false) else { return };
    assert_eq!(reads_of(&app).await, Reads::StreamingExport);
    reads_tables_schemas_and_paged_filtered_documents(&app).await;
    assert!(app.endpoint_hits("/api/list_snapshot").await > 0);
}

#[tokio::test]
async fn reads_tables_schemas_and_paged_filtered_documents_on_the_starter_plan() {
    let Some(app) = paged_app(true) else { return };
    let support = probe(&app.client()).await;
    assert_eq!(support.reads(), Reads::SystemQueries);
    assert_eq!(
        support.via(DataTool::QueryDocuments),
        Some(Via::SystemQueries)
    );
    assert!(
        support
            .note()
            .unwrap()
            .contains("StreamingExportNotEnabled"),
        "{:?}",
        support.lines()
    );
    reads_of(&app).await;
    let refused_before = app.endpoint_hits("/api/json_schemas").await;
    reads_tables_schemas_and_paged_filtered_documents(&app).await;
    // Only the probes asked for streaming export; no read did.
    assert_eq!(app.endpoint_hits("/api/json_schemas").await, refused_before);
    assert_eq!(app.endpoint_hits("/api/list_snapshot").await, 0);
    assert!(app.endpoint_hits("/api/shapes2").await > 0);
    // tableData has no `_ts`: asking for it is an argument error, not an empty field.
    let err = run(
        &app,
        DataTool::QueryDocuments,
        json!({"table": "customers", "include_ts": true}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, DataToolError::InvalidArgument { path, .. } if path == "/include_ts"),
        "{err}"
    );
}

async fn reads_tables_schemas_and_paged_filtered_documents(app: &support::TestApp) {
    let tables = run(app, DataTool::ListTables, json!({})).await.unwrap();
    assert_eq!(
        tables["tables"],
        json!([
            "appointments",
            "customers",
            "invoices",
            "patients",
            "refunds"
        ])
    );
    let table = run(app, DataTool::GetTable, json!({"table": "customers"}))
        .await
        .unwrap();
    assert!(table["documentSchema"]["properties"]["taxId"].is_object());
    let err = run(app, DataTool::GetTable, json!({"table": "nope"}))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "table \"nope\" does not exist");

    let first = run(
        app,
        DataTool::QueryDocuments,
        json!({"table": "customers", "limit": 1}),
    )
    .await
    .unwrap();
    assert_eq!(first["documents"].as_array().unwrap().len(), 1);
    assert_eq!(first["hasMore"], json!(true));
    assert!(first["documents"][0].get("_table").is_none());
    let second = run(
        app,
        DataTool::QueryDocuments,
        json!({"table": "customers", "limit": 1, "cursor": first["cursor"]}),
    )
    .await
    .unwrap();
    assert_ne!(first["documents"][0]["_id"], second["documents"][0]["_id"]);
    if second["hasMore"] == true {
        // A page cut short by tableData's read limit cannot tell that the table ended there:
        // the next page is empty and done (as on the real backend).
        let third = run(
            app,
            DataTool::QueryDocuments,
            json!({"table": "customers", "limit": 1, "cursor": second["cursor"]}),
        )
        .await
        .unwrap();
        assert_eq!(third["documents"], json!([]));
        assert_eq!(third["hasMore"], json!(false));
    }
    // Filter by a dotted path and an int64 value.
    let bob = run(
        app,
        DataTool::QueryDocuments,
        json!({"table": "customers", "filter": {"creditLimitCents": 9_007_199_254_740_993_i64}}),
    )
    .await
    .unwrap();
    assert_eq!(bob["documents"][0]["ownerId"], "bob");
    let eu = run(
        app,
        DataTool::QueryDocuments,
        json!({"table": "invoices", "filter": {"tags.region": "eu"}}),
    )
    .await
    .unwrap();
    assert_eq!(eu["documents"].as_array().unwrap().len(), 1);
    let err = run(
        app,
        DataTool::QueryDocuments,
        json!({"table": "customers", "cursor": "garbage!"}),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DataToolError::InvalidCursor));
    // Every page of a filtered query, across upstream pages.
    let mut invoices = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let mut args = json!({"table": "invoices", "filter": {"ownerId": "bob"}, "limit": 1});
        if !cursor.is_null() {
            args["cursor"] = cursor.clone();
        }
        let page = run(app, DataTool::QueryDocuments, args).await.unwrap();
        invoices.extend(page["documents"].as_array().unwrap().iter().cloned());
        if page["hasMore"] == false {
            break;
        }
        cursor = page["cursor"].clone();
    }
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    assert_eq!(invoices[0]["number"], "INV-2001");
    // An unknown table is named, on reads and writes alike.
    for (tool, args) in [
        (DataTool::QueryDocuments, json!({"table": "nope"})),
        (
            DataTool::CreateDocument,
            json!({"table": "nope", "document": {}}),
        ),
    ] {
        let err = run(app, tool, args).await.unwrap_err();
        assert_eq!(err.to_string(), "table \"nope\" does not exist", "{tool:?}");
    }
}

/// Every page of `table` (limit 1, so every page boundary is crossed), documents only.
async fn all_pages(app: &support::TestApp, table: &str, filter: Value) -> Vec<Value> {
    let mut documents = Vec::new();
    let mut cursor = Value::Null;
    for _ in 0..100 {
        let mut args = json!({"table": table, "filter": filter, "limit": 1});
        if !cursor.is_null() {
            args["cursor"] = cursor.clone();
        }
        let page = run(app, DataTool::QueryDocuments, args).await.unwrap();
        documents.extend(page["documents"].as_array().unwrap().iter().cloned());
        if page["hasMore"] == false {
            return documents;
        }
        cursor = page["cursor"].clone();
    }
    panic!("{table}: more than 100 pages");
}

/// Everything the read tools answer for the seeded deployment.
async fn read_everything(app: &support::TestApp) -> Value {
    let tables = run(app, DataTool::ListTables, json!({})).await.unwrap();
    let mut out = json!({"tables": tables});
    for table in tables["tables"].as_array().unwrap() {
        let t = table.as_str().unwrap();
        let schema = run(app, DataTool::GetTable, json!({"table": t}))
            .await
            .unwrap();
        out[t] = json!({
            "schema": schema,
            "documents": all_pages(app, t, json!({})).await,
        });
    }
    out["bob"] = json!(all_pages(app, "customers", json!({"ownerId": "bob"})).await);
    out
}

#[tokio::test]
async fn both_plans_give_the_same_answers() {
    let Some(app) = paged_app(false) else { return };
    assert_eq!(reads_of(&app).await, Reads::StreamingExport);
    let streamed = read_everything(&app).await;
    app.set_plan("starter").await;
    assert_eq!(reads_of(&app).await, Reads::SystemQueries);
    let listed_before = app.endpoint_hits("/api/list_snapshot").await;
    let queried = read_everything(&app).await;
    assert_eq!(app.endpoint_hits("/api/list_snapshot").await, listed_before);
    assert_eq!(streamed, queried);
    assert_eq!(
        streamed["customers"]["documents"].as_array().unwrap().len(),
        2
    );
    assert!(streamed["customers"]["documents"][0].get("_ts").is_none());
}

#[tokio::test]
async fn creates_updates_and_deletes_documents_with_schema_encoding() {
    let Some(app) = paged_app(false) else { return };
    writes(&app).await;
}

#[tokio::test]
async fn creates_updates_and_deletes_documents_on_the_starter_plan() {
    let Some(app) = paged_app(true) else { return };
    writes(&app).await;
    assert_eq!(app.endpoint_hits("/api/list_snapshot").await, 0);
}

async fn writes(app: &support::TestApp) {
    let created = run(app, DataTool::CreateDocument, json!({"table": "customers", "document": {
        "ownerId": "carol", "name": "Carol", "email": "c@x", "taxId": "T", "creditLimitCents": "42"}}))
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let err = run(app, DataTool::CreateDocument, json!({"table": "customers", "document": {
        "ownerId": "carol", "name": "Carol", "email": "c@x", "taxId": "T", "creditLimitCents": 1.5}}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("/document/creditLimitCents:"),
        "{err}"
    );

    run(
        app,
        DataTool::UpdateDocument,
        json!({"table": "customers", "id": id, "fields": {"creditLimitCents": 7, "notes": "vip"}}),
    )
    .await
    .unwrap();
    let found = run(
        app,
        DataTool::QueryDocuments,
        json!({"table": "customers", "filter": {"ownerId": "carol"}}),
    )
    .await
    .unwrap();
    assert_eq!(found["documents"][0]["creditLimitCents"], json!(7));
    assert_eq!(found["documents"][0]["notes"], "vip");
    let err = run(
        app,
        DataTool::UpdateDocument,
        json!({"table": "customers", "id": id, "fields": {"bogus": 1}}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("/fields/bogus"), "{err}");

    run(
        app,
        DataTool::DeleteDocument,
        json!({"table": "customers", "id": id}),
    )
    .await
    .unwrap();
    let gone = run(
        app,
        DataTool::QueryDocuments,
        json!({"table": "customers", "filter": {"ownerId": "carol"}}),
    )
    .await
    .unwrap();
    assert_eq!(gone["documents"], json!([]));
    // The upstream saw the three admin mutations.
    let paths: Vec<String> = app
        .calls()
        .await
        .iter()
        .filter_map(|c| c["path"].as_str().map(String::from))
        .collect();
    for p in [
        "_system/frontend/addDocument:default",
        "_system/frontend/patchDocumentsFields:default",
        "_system/frontend/deleteDocuments:default",
    ] {
        assert!(paths.iter().any(|x| x == p), "{p} missing from {paths:?}");
    }
}

#[tokio::test]
async fn current_user_reports_the_acting_identity() {
    let app = app_or_skip!();
    let mut alice = UserIdentity::new("alice");
    alice.email = Some("a@example.com".into());
    let r = DataTool::GetCurrentUser
        .execute(
            &app.client(),
            Reads::SystemQueries,
            &json!({}),
            &CallIdentity::ActingAs(alice),
        )
        .await
        .unwrap();
    assert_eq!(
        r,
        json!({"mode": "acting_as", "identity": {"subject": "alice", "email": "a@example.com"}})
    );
    assert!(DataTool::ALL.iter().filter(|d| d.is_write()).count() == 3);
}

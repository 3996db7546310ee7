//! Every Convex data tool against the test app's admin APIs.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use auditgate::catalog::data_tools::{DataTool, DataToolError};
use auditgate::upstream::convex::{CallIdentity, UserIdentity};
use auditgate::validate::validate;
use serde_json::{Value, json};

async fn run(app: &support::TestApp, tool: DataTool, args: Value) -> Result<Value, DataToolError> {
    let schema = tool.tool(None).input_schema;
    assert!(validate(&schema, &args).is_empty(), "{tool:?} {args}");
    tool.execute(&app.client(), &args, &CallIdentity::Admin)
        .await
}

#[tokio::test]
async fn reads_tables_schemas_and_paged_filtered_documents() {
    // One document per snapshot page, so pagination crosses upstream pages.
    let app = app_or_skip!(&[("CONVEX_TEST_PAGE_SIZE", "1")]);
    let tables = run(&app, DataTool::ListTables, json!({})).await.unwrap();
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
    let table = run(&app, DataTool::GetTable, json!({"table": "customers"}))
        .await
        .unwrap();
    assert!(table["documentSchema"]["properties"]["taxId"].is_object());
    let err = run(&app, DataTool::GetTable, json!({"table": "nope"}))
        .await
        .unwrap_err();
    assert!(matches!(err, DataToolError::UnknownTable { .. }));

    let first = run(
        &app,
        DataTool::QueryDocuments,
        json!({"table": "customers", "limit": 1}),
    )
    .await
    .unwrap();
    assert_eq!(first["documents"].as_array().unwrap().len(), 1);
    assert_eq!(first["hasMore"], json!(true));
    assert!(first["documents"][0].get("_table").is_none());
    let second = run(
        &app,
        DataTool::QueryDocuments,
        json!({"table": "customers", "limit": 1, "cursor": first["cursor"]}),
    )
    .await
    .unwrap();
    assert_ne!(first["documents"][0]["_id"], second["documents"][0]["_id"]);
    assert_eq!(second["hasMore"], json!(false));
    // Filter by a dotted path and an int64 value.
    let bob = run(
        &app,
        DataTool::QueryDocuments,
        json!({"table": "customers", "filter": {"creditLimitCents": 9_007_199_254_740_993_i64}}),
    )
    .await
    .unwrap();
    assert_eq!(bob["documents"][0]["ownerId"], "bob");
    let eu = run(
        &app,
        DataTool::QueryDocuments,
        json!({"table": "invoices", "filter": {"tags.region": "eu"}}),
    )
    .await
    .unwrap();
    assert_eq!(eu["documents"].as_array().unwrap().len(), 1);
    let err = run(
        &app,
        DataTool::QueryDocuments,
        json!({"table": "customers", "cursor": "garbage!"}),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DataToolError::InvalidCursor));
}

#[tokio::test]
async fn creates_updates_and_deletes_documents_with_schema_encoding() {
    let app = app_or_skip!();
    let created = run(&app, DataTool::CreateDocument, json!({"table": "customers", "document": {
        "ownerId": "carol", "name": "Carol", "email": "c@x", "taxId": "T", "creditLimitCents": "42"}}))
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let err = run(&app, DataTool::CreateDocument, json!({"table": "customers", "document": {
        "ownerId": "carol", "name": "Carol", "email": "c@x", "taxId": "T", "creditLimitCents": 1.5}}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("/document/creditLimitCents:"),
        "{err}"
    );

    run(
        &app,
        DataTool::UpdateDocument,
        json!({"table": "customers", "id": id, "fields": {"creditLimitCents": 7, "notes": "vip"}}),
    )
    .await
    .unwrap();
    let found = run(
        &app,
        DataTool::QueryDocuments,
        json!({"table": "customers", "filter": {"ownerId": "carol"}}),
    )
    .await
    .unwrap();
    assert_eq!(found["documents"][0]["creditLimitCents"], json!(7));
    assert_eq!(found["documents"][0]["notes"], "vip");
    let err = run(
        &app,
        DataTool::UpdateDocument,
        json!({"table": "customers", "id": id, "fields": {"bogus": 1}}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("/fields/bogus"), "{err}");

    run(
        &app,
        DataTool::DeleteDocument,
        json!({"table": "customers", "id": id}),
    )
    .await
    .unwrap();
    let gone = run(
        &app,
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
        .execute(&app.client(), &json!({}), &CallIdentity::ActingAs(alice))
        .await
        .unwrap();
    assert_eq!(
        r,
        json!({"mode": "acting_as", "identity": {"subject": "alice", "email": "a@example.com"}})
    );
    assert!(DataTool::ALL.iter().filter(|d| d.is_write()).count() == 3);
}

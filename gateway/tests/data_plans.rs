//! The data tools through the real gateway binary on every Convex plan: on the Starter plan
//! (streaming export refused) every data tool still works and streaming export is never read;
//! an unknown table is the caller's invalid argument, named, on both plans, and never probed
//! for a table `[data] tables` keeps from the caller; a tool the deployment refuses is not
//! listed, and `catalog.loaded` records which path each data tool takes.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use auditgate::catalog::data_support::{Via, probe};
use auditgate::catalog::data_tools::DataTool;
use auditgate::catalog::{Catalog, CatalogOptions};
use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, of_kind, spawn_http, terminate, text};

const DATA_TOOLS: [&str; 7] = [
    "convex_create_document",
    "convex_delete_document",
    "convex_get_current_user",
    "convex_get_table",
    "convex_list_tables",
    "convex_query_documents",
    "convex_update_document",
];

/// Every data tool allowed for everyone; `extra` is appended (a `[data]` table).
fn data_policy(extra: &str) -> String {
    format!(
        "version = 1\n\n[defaults]\ntier = \"blocked\"\nwrite = \"allow\"\n\n\
         [[rules]]\nid = \"data\"\nmatch.kind = [\"data-read\", \"data-write\"]\ntier = \"allow\"\n{extra}"
    )
}

fn gateway_dir(app: &support::TestApp, policy: &str) -> GatewayDir {
    let dir = GatewayDir::new(&app.url);
    std::fs::write(dir.path().join("policy.toml"), policy).unwrap();
    dir
}

fn ok_value(result: &Value) -> Value {
    assert_eq!(result["isError"], false, "{result}");
    serde_json::from_str(text(result)).unwrap()
}

/// `data_via` of each data tool in the last `catalog.loaded`.
fn data_via(entries: &[Value]) -> Vec<(String, Value)> {
    let loaded = of_kind(entries, "catalog.loaded");
    loaded.last().unwrap()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"].as_str().is_some_and(|k| k.starts_with("data-")))
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["data_via"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_data_tool_works_on_the_starter_plan_without_streaming_export() {
    let Some(app) = support::TestApp::start_starter() else {
        return;
    };
    let dir = gateway_dir(&app, &data_policy(""));
    let (child, url) = spawn_http(&dir);
    let mut mcp = Mcp::new(&url, Some(dir.token("alice")));
    mcp.initialize().await;
    let names = mcp.tool_names().await;
    for tool in DATA_TOOLS {
        assert!(
            names.iter().any(|n| n == tool),
            "{tool} not listed: {names:?}"
        );
    }

    let tables = ok_value(&mcp.call("convex_list_tables", json!({})).await);
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
    let schema = ok_value(
        &mcp.call("convex_get_table", json!({"table": "customers"}))
            .await,
    );
    assert!(schema["documentSchema"]["properties"]["taxId"].is_object());
    let created = ok_value(
        &mcp.call(
            "convex_create_document",
            json!({"table": "customers", "document": {
            "ownerId": "carol", "name": "Carol", "email": "c@x", "taxId": "T",
            "creditLimitCents": "42"}}),
        )
        .await,
    );
    let id = created["id"].as_str().unwrap().to_string();
    ok_value(
        &mcp.call(
            "convex_update_document",
            json!({"table": "customers", "id": id, "fields": {"notes": "vip"}}),
        )
        .await,
    );
    let found = ok_value(
        &mcp.call(
            "convex_query_documents",
            json!({"table": "customers", "filter": {"ownerId": "carol"}}),
        )
        .await,
    );
    assert_eq!(found["documents"][0]["notes"], "vip");
    assert_eq!(found["documents"][0]["creditLimitCents"], json!(42));
    assert!(found["documents"][0].get("_ts").is_none());
    ok_value(
        &mcp.call(
            "convex_delete_document",
            json!({"table": "customers", "id": id}),
        )
        .await,
    );
    ok_value(&mcp.call("convex_get_current_user", json!({})).await);
    // `_ts` needs streaming export: refused as an argument, before Convex.
    let ts = mcp
        .call(
            "convex_query_documents",
            json!({"table": "customers", "include_ts": true}),
        )
        .await;
    assert_eq!(ts["isError"], true, "{ts}");
    assert!(text(&ts).contains("/include_ts"), "{}", text(&ts));
    terminate(child);

    // The probe's one refused request is all streaming export saw.
    assert_eq!(app.endpoint_hits("/api/json_schemas").await, 1);
    assert_eq!(app.endpoint_hits("/api/list_snapshot").await, 0);
    dir.verify();
    let via = data_via(&dir.entries());
    for (tool, want) in [
        ("convex_list_tables", "system_queries"),
        ("convex_get_table", "system_queries"),
        ("convex_query_documents", "system_queries"),
        ("convex_create_document", "system_mutations"),
        ("convex_delete_document", "system_mutations"),
        ("convex_get_current_user", "gateway"),
    ] {
        assert!(
            via.iter().any(|(n, v)| n == tool && v == want),
            "{tool}: {via:?}"
        );
    }
}

async fn unknown_tables_are_invalid_arguments(app: &support::TestApp, via: &str) {
    let dir = gateway_dir(app, &data_policy(""));
    let (child, url) = spawn_http(&dir);
    let mut mcp = Mcp::new(&url, Some(dir.token("alice")));
    mcp.initialize().await;
    let calls = [
        ("convex_get_table", json!({"table": "nope"})),
        ("convex_query_documents", json!({"table": "nope"})),
        (
            "convex_create_document",
            json!({"table": "nope", "document": {"a": 1}}),
        ),
        (
            "convex_delete_document",
            json!({"table": "nope", "id": "x"}),
        ),
    ];
    for (tool, args) in &calls {
        let r = mcp.call(tool, args.clone()).await;
        assert_eq!(r["isError"], true, "{tool}: {r}");
        assert!(
            text(&r).contains(r#"/table: table "nope" does not exist"#),
            "{tool}: {}",
            text(&r)
        );
    }
    // A value the table's schema does not take is the caller's error too, before Convex.
    for (tool, args, path) in [
        (
            "convex_create_document",
            json!({"table": "customers", "document": {"ownerId": "x", "name": "X", "email": "e",
                   "taxId": "T", "creditLimitCents": 1.5}}),
            "/document/creditLimitCents",
        ),
        (
            "convex_update_document",
            json!({"table": "customers", "id": "x", "fields": {"bogus": 1}}),
            "/fields/bogus",
        ),
    ] {
        let r = mcp.call(tool, args).await;
        assert_eq!(r["isError"], true, "{tool}: {r}");
        assert!(text(&r).contains(path), "{tool}: {}", text(&r));
    }
    terminate(child);
    dir.verify();
    let entries = dir.entries();
    let invalid_writes = of_kind(&entries, "call.request")
        .into_iter()
        .filter(|e| e["args"]["table"] == "customers")
        .filter(|e| e["disposition"] == "invalid_args")
        .count();
    assert_eq!(invalid_writes, 2);
    let listing = data_via(&entries)
        .into_iter()
        .find(|(n, _)| n == "convex_list_tables")
        .unwrap();
    assert_eq!(listing.1, json!(via));
    let requests: Vec<&Value> = of_kind(&entries, "call.request")
        .into_iter()
        .filter(|e| e["args"]["table"] == "nope")
        .collect();
    assert_eq!(requests.len(), calls.len());
    for r in &requests {
        assert_eq!(r["disposition"], "invalid_args", "{r}");
        assert_eq!(
            r["errors"],
            json!([{"path": "/table", "message": "table \"nope\" does not exist"}])
        );
    }
    // Nothing was forwarded, so no result was recorded (and no mutation ran).
    assert!(of_kind(&entries, "call.result").is_empty());
    let mutations = app
        .calls()
        .await
        .into_iter()
        .filter(|c| c["kind"] == "Mutation")
        .count();
    assert_eq!(mutations, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_table_is_an_invalid_argument_with_streaming_export() {
    let Some(app) = support::TestApp::start() else {
        return;
    };
    unknown_tables_are_invalid_arguments(&app, "streaming_export").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_table_is_an_invalid_argument_on_the_starter_plan() {
    let Some(app) = support::TestApp::start_starter() else {
        return;
    };
    unknown_tables_are_invalid_arguments(&app, "system_queries").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_data_tables_hides_is_blocked_before_any_lookup() {
    let Some(app) = support::TestApp::start_starter() else {
        return;
    };
    let policy = data_policy("\n[data]\ntables = [ { name = \"customers\", read = [\"*\"] } ]\n");
    let dir = gateway_dir(&app, &policy);
    let (child, url) = spawn_http(&dir);
    let mut mcp = Mcp::new(&url, Some(dir.token("alice")));
    mcp.initialize().await;
    let listings = app.endpoint_hits("/api/shapes2").await;
    let strip = |r: &Value| text(r).split(" (audit ref").next().unwrap().to_string();
    let hidden = mcp
        .call("convex_get_table", json!({"table": "patients"}))
        .await;
    let missing = mcp.call("convex_get_table", json!({"table": "nope"})).await;
    assert_eq!(hidden["isError"], true);
    assert_eq!(strip(&hidden), strip(&missing));
    assert!(
        !strip(&missing).contains("does not exist"),
        "{}",
        strip(&missing)
    );
    // Neither call looked the table up.
    assert_eq!(app.endpoint_hits("/api/shapes2").await, listings);
    terminate(child);
    let entries = dir.entries();
    for r in of_kind(&entries, "call.request") {
        assert_eq!(r["disposition"], "blocked", "{r}");
    }
}

/// Through the public API: `serve` no longer starts with a deploy key the deployment refuses
/// (`deployment.rs`), so the probe's refusal is shown where the catalog is built from it.
#[tokio::test]
async fn data_tools_the_deploy_key_cannot_use_are_not_listed() {
    let Some(app) = support::TestApp::start_starter() else {
        return;
    };
    let spec = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/function-spec.json");
    let refused = probe(&app.client_with_key("test:someone-else|0000")).await;
    let lines = refused.lines();
    assert!(
        lines[0].starts_with("convex_list_tables: unsupported: _system/frontend/getSchemas"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "convex_get_current_user: ok via gateway")
    );
    let options = CatalogOptions {
        data_tools: true,
        data_support: refused,
        ..CatalogOptions::default()
    };
    let catalog = Catalog::from_spec_file(&spec, &options).unwrap();
    let listed: Vec<&str> = DATA_TOOLS
        .into_iter()
        .filter(|t| catalog.tools().iter().any(|x| x.name == *t))
        .collect();
    assert_eq!(listed, ["convex_get_current_user"]);
    // With the app's own key, every tool is listed, reading through the system queries.
    let accepted = probe(&app.client()).await;
    assert!(DataTool::ALL.iter().all(|d| accepted.is_supported(*d)));
    assert_eq!(accepted.via(DataTool::ListTables), Some(Via::SystemQueries));
}

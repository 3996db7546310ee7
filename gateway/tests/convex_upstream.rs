//! The Convex upstream client against the real Convex function code of `tests/convex-app`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use auditgate::catalog::spec::{FunctionKind, FunctionSpecFile};
use auditgate::catalog::{Catalog, CatalogOptions};
use auditgate::upstream::convex::codec::{encode_int64, to_convex};
use auditgate::upstream::convex::{
    CallIdentity, ClientOptions, Endpoint, IdentityMode, UpstreamError, UserIdentity, UserToken,
    ValueFormat,
};
use auditgate::validate::validate;
use serde_json::{Value, json};

fn as_user(subject: &str) -> CallIdentity {
    IdentityMode::Caller
        .resolve(Some(&UserIdentity::new(subject)))
        .unwrap()
}

async fn live_catalog(app: &support::TestApp, include_internal: bool) -> Catalog {
    let spec = FunctionSpecFile::from_value(app.client().function_spec().await.unwrap()).unwrap();
    let options = CatalogOptions {
        include_internal,
        data_tools: true,
        ..CatalogOptions::default()
    };
    Catalog::build(&spec, &options).unwrap()
}

/// Validates plain-JSON args against the tool's schema, encodes them, and calls the function.
async fn call_tool(
    app: &support::TestApp,
    catalog: &Catalog,
    tool: &str,
    args: Value,
    identity: &CallIdentity,
) -> Result<Value, UpstreamError> {
    let tool = catalog
        .get(tool)
        .unwrap_or_else(|| panic!("no tool {tool}"));
    let errors = validate(&tool.input_schema, &args);
    assert!(errors.is_empty(), "{errors:?}");
    let auditgate::catalog::ToolTarget::Function {
        path,
        kind,
        args: validator,
        ..
    } = &tool.target
    else {
        panic!("not a function tool")
    };
    let encoded = to_convex(validator, &args).unwrap();
    app.client()
        .call(*kind, path, encoded, identity)
        .await
        .map(|r| r.value)
}

#[tokio::test]
async fn ctx_auth_query_returns_only_the_callers_rows() {
    let app = app_or_skip!();
    let client = app.client();
    for subject in ["alice", "bob"] {
        let rows = client
            .call(
                FunctionKind::Query,
                "customers:listMine",
                json!({}),
                &as_user(subject),
            )
            .await
            .unwrap()
            .value;
        let owners: Vec<&str> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ownerId"].as_str().unwrap())
            .collect();
        assert_eq!(owners, [subject]);
    }
    // int64 above 2^53 arrives exactly.
    let bob = client
        .call(
            FunctionKind::Query,
            "customers:listMine",
            json!({}),
            &as_user("bob"),
        )
        .await
        .unwrap()
        .value;
    assert_eq!(bob[0]["creditLimitCents"], json!(9_007_199_254_740_993_i64));
    // A user's own JWT works the same way; without any identity the function refuses.
    let token = CallIdentity::User(UserToken::new(app.token("alice").await));
    let who = client
        .call(FunctionKind::Query, "diagnostics:whoami", json!({}), &token)
        .await
        .unwrap()
        .value;
    assert_eq!(who["subject"], "alice");
    let err = client
        .call(
            FunctionKind::Query,
            "customers:listMine",
            json!({}),
            &CallIdentity::Admin,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UpstreamError::Function { data: Some(d), .. } if d["code"] == "UNAUTHENTICATED"),
        "{err:?}"
    );
    let service = IdentityMode::Service(Some(UserIdentity::new("alice")))
        .resolve(None)
        .unwrap();
    let who = client
        .call(
            FunctionKind::Query,
            "diagnostics:whoami",
            json!({}),
            &service,
        )
        .await
        .unwrap()
        .value;
    assert_eq!(who["subject"], "alice");
}

#[tokio::test]
async fn every_function_kind_through_the_catalog() {
    let app = app_or_skip!();
    let catalog = live_catalog(&app, false).await;
    let seed = app.seed().await;
    let alice = as_user("alice");
    // Mutation with an int64 given as a decimal string and as a number.
    let id = call_tool(&app, &catalog, "customers_create", json!({
        "name": "Carol", "email": "c@example.com", "taxId": "NL1", "creditLimitCents": "9223372036854775807"
    }), &alice).await.unwrap();
    assert!(id.as_str().unwrap().ends_with("customers"));
    let created = call_tool(
        &app,
        &catalog,
        "invoices_create",
        json!({
            "customerId": id, "number": "INV-9", "tags": {"k": "v"},
            "lineItems": [{"description": "x", "quantity": 3, "unitPriceCents": 250}]
        }),
        &alice,
    )
    .await
    .unwrap();
    assert_eq!(created["totalCents"], json!(750));
    // Query.
    let mine = call_tool(
        &app,
        &catalog,
        "invoices_listMine",
        json!({"status": "open"}),
        &alice,
    )
    .await
    .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 2);
    // Action (runs queries inside).
    let sent = call_tool(
        &app,
        &catalog,
        "billing_sendReminder",
        json!({"invoiceId": seed["invoices"]["bob"], "channel": "email"}),
        &alice,
    )
    .await
    .unwrap();
    assert_eq!(sent, json!({"sent": true, "to": "ap@bob.example"}));
    // Annotations follow the kind.
    assert!(
        catalog
            .get("invoices_listMine")
            .unwrap()
            .annotations
            .read_only
    );
    assert!(
        catalog
            .get("invoices_refund")
            .unwrap()
            .annotations
            .destructive
    );
    assert!(
        catalog
            .get("billing_sendReminder")
            .unwrap()
            .annotations
            .open_world
    );
}

#[tokio::test]
async fn internal_functions_hidden_unless_configured() {
    let app = app_or_skip!();
    assert!(live_catalog(&app, false).await.get("admin_stats").is_none());
    let with_internal = live_catalog(&app, true).await;
    assert!(with_internal.get("admin_stats").is_some());
    let client = app.client();
    // Admin reaches internal functions (through /api/function too); users never do.
    let stats = client
        .call_any("admin:stats", json!({}), &CallIdentity::Admin)
        .await
        .unwrap();
    assert_eq!(stats.value["customers"], json!(2));
    let user = CallIdentity::User(UserToken::new(app.token("alice").await));
    let err = client
        .call(FunctionKind::Query, "admin:stats", json!({}), &user)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Could not find public function for 'admin:stats'"),
        "{err}"
    );
}

#[tokio::test]
async fn every_error_class() {
    let app = app_or_skip!();
    let client = app.client();
    let seed = app.seed().await;
    // ConvexError with errorData (int64 inside is decoded).
    let err = client
        .call(FunctionKind::Mutation, "invoices:refund", json!({
            "invoiceId": seed["invoices"]["alice"], "amountCents": encode_int64(1_000_000), "reason": "x"
        }), &CallIdentity::Admin)
        .await
        .unwrap_err();
    let UpstreamError::Function {
        data: Some(data), ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(data["code"], "REFUND_EXCEEDS_BALANCE");
    assert_eq!(data["remainingCents"], json!(12000));
    assert_eq!(err.class(), "function_error_with_data");
    assert!(err.agent_message().contains("REFUND_EXCEEDS_BALANCE"));
    // A plain thrown Error: no data; log lines kept for the ledger, not the agent.
    let err = client
        .call(
            FunctionKind::Query,
            "diagnostics:crash",
            json!({}),
            &CallIdentity::Admin,
        )
        .await
        .unwrap_err();
    let UpstreamError::Function {
        data: None,
        message,
        log_lines,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(message.contains("[Request ID:"));
    assert_eq!(log_lines, &["[ERROR] 'about to fail'"]);
    assert_eq!(
        err.agent_message(),
        "The function failed: Error: diagnostics crash requested"
    );
    // Argument validation inside Convex.
    let err = client
        .call(
            FunctionKind::Mutation,
            "customers:create",
            json!({"name": "x"}),
            &CallIdentity::Admin,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ArgumentValidationError"), "{err}");
    // Request errors with their codes.
    let err = client
        .call(
            FunctionKind::Query,
            "a:b:c",
            json!({}),
            &CallIdentity::Admin,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UpstreamError::Request { status: 400, code, .. } if code == "BadConvexFunctionIdentifier"),
        "{err:?}"
    );
    let err = app
        .client_with_key("wrong-key")
        .call(
            FunctionKind::Query,
            "diagnostics:whoami",
            json!({}),
            &CallIdentity::Admin,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UpstreamError::Request { status: 403, code, .. } if code == "BadDeployKey"),
        "{err:?}"
    );
    assert!(!format!("{err:?} {err}").contains("wrong-key"));
    let err = client
        .call(
            FunctionKind::Query,
            "diagnostics:whoami",
            json!({}),
            &CallIdentity::User(UserToken::new("a.b.c".into())),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, UpstreamError::Request { status: 401, .. }),
        "{err:?}"
    );
    // Calling a mutation at the query endpoint is a function error.
    let err = client
        .run(
            Endpoint::Query,
            "customers:create",
            json!({}),
            ValueFormat::Json,
            &CallIdentity::Admin,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("defined as Mutation"), "{err}");
}

#[tokio::test]
async fn both_formats_and_int64_bytes_float_round_trips() {
    let app = app_or_skip!();
    let client = app.client();
    let value = json!({"big": encode_int64(i64::MIN), "bytes": {"$bytes": "AAH+/w=="},
                       "nan": {"$float": "AAAAAAAA+H8="}, "n": 1.5});
    let lossless = client
        .run(
            Endpoint::Query,
            "diagnostics:echo",
            json!({"value": value}),
            ValueFormat::ConvexEncodedJson,
            &CallIdentity::Admin,
        )
        .await
        .unwrap();
    assert_eq!(lossless.value, value);
    let lossy = client
        .run(
            Endpoint::Query,
            "diagnostics:echo",
            json!({"value": value}),
            ValueFormat::Json,
            &CallIdentity::Admin,
        )
        .await
        .unwrap();
    assert_eq!(
        lossy.value,
        json!({"big": "-9223372036854775808", "bytes": "AAH+/w==", "nan": "NaN", "n": 1.5})
    );
    let decoded = client
        .call(
            FunctionKind::Query,
            "diagnostics:echo",
            json!({"value": value}),
            &CallIdentity::Admin,
        )
        .await
        .unwrap();
    assert_eq!(
        decoded.value,
        json!({"big": i64::MIN, "bytes": "AAH+/w==", "nan": "NaN", "n": 1.5})
    );
    // Bytes through a typed argument and back from storage.
    let catalog = live_catalog(&app, false).await;
    let seed = app.seed().await;
    let inv = seed["invoices"]["alice"].clone();
    let n = call_tool(
        &app,
        &catalog,
        "invoices_attach",
        json!({"invoiceId": inv, "attachment": "JVBERi0xLjc="}),
        &CallIdentity::Admin,
    )
    .await
    .unwrap();
    assert_eq!(n, json!(8));
    let back = call_tool(
        &app,
        &catalog,
        "invoices_attachment",
        json!({"invoiceId": inv}),
        &CallIdentity::Admin,
    )
    .await
    .unwrap();
    assert_eq!(back, json!("JVBERi0xLjc="));
    // logLines come back on success too.
    let r = client
        .call(
            FunctionKind::Mutation,
            "invoices:refund",
            json!({"invoiceId": inv, "amountCents": encode_int64(100), "reason": "r"}),
            &CallIdentity::Admin,
        )
        .await
        .unwrap();
    assert_eq!(r.log_lines, ["[LOG] 'refund 100 on INV-1001: r'"]);
}

#[tokio::test]
async fn queries_retry_on_overload_and_mutations_never_do() {
    let app = app_or_skip!();
    let client = app.client_with(ClientOptions {
        query_retries: 2,
        retry_base_delay: std::time::Duration::from_millis(5),
        ..ClientOptions::default()
    });
    app.inject_faults(503, 2).await;
    let r = client
        .call(
            FunctionKind::Query,
            "diagnostics:whoami",
            json!({}),
            &as_user("alice"),
        )
        .await
        .unwrap();
    assert_eq!(r.value["subject"], "alice");
    app.inject_faults(429, 3).await;
    let err = client
        .call(
            FunctionKind::Query,
            "diagnostics:whoami",
            json!({}),
            &as_user("alice"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpstreamError::Request { status: 429, .. }),
        "{err:?}"
    );
    let before = app.calls().await.len();
    app.inject_faults(503, 1).await;
    let err = client
        .call(
            FunctionKind::Mutation,
            "customers:create",
            json!({"name": "n", "email": "e@x", "taxId": "t", "creditLimitCents": encode_int64(1)}),
            &as_user("alice"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpstreamError::Request { status: 503, .. }),
        "{err:?}"
    );
    let calls = app.calls().await;
    assert_eq!(calls.len(), before + 1, "exactly one attempt: {calls:?}");
    assert_eq!(calls.last().unwrap()["outcome"], "injected_fault");
}

#[tokio::test]
async fn produced_schemas_accept_and_reject_as_convex_does() {
    let app = app_or_skip!();
    let catalog = live_catalog(&app, false).await;
    let seed = app.seed().await;
    let customer = seed["customers"]["alice"].clone();
    let cases = [
        (
            "customers_create",
            json!({"name": "a", "email": "a@x", "taxId": "t", "creditLimitCents": 5}),
            true,
        ),
        (
            "customers_create",
            json!({"name": "a", "email": "a@x", "taxId": "t", "creditLimitCents": 5, "notes": "n"}),
            true,
        ),
        (
            "customers_create",
            json!({"name": "a", "email": "a@x", "taxId": "t"}),
            false,
        ),
        (
            "customers_create",
            json!({"name": "a", "email": "a@x", "taxId": "t", "creditLimitCents": 5, "x": 1}),
            false,
        ),
        (
            "customers_create",
            json!({"name": 1, "email": "a@x", "taxId": "t", "creditLimitCents": 5}),
            false,
        ),
        (
            "invoices_create",
            json!({"customerId": customer, "number": "1", "lineItems": []}),
            true,
        ),
        (
            "invoices_create",
            json!({"customerId": customer, "number": "1", "lineItems": [{"description": "d", "quantity": 1}]}),
            false,
        ),
        // convex-test 0.0.60 does not validate `v.record` at all, so record cases live in the
        // schema and validator unit tests only.
        ("invoices_listMine", json!({"status": "paid"}), true),
        ("invoices_listMine", json!({"status": "lost"}), false),
        (
            "billing_sendReminder",
            json!({"invoiceId": seed["invoices"]["alice"], "channel": "fax"}),
            false,
        ),
    ];
    for (tool_name, args, expect_ok) in cases {
        let tool = catalog.get(tool_name).unwrap();
        let errors = validate(&tool.input_schema, &args);
        assert_eq!(
            errors.is_empty(),
            expect_ok,
            "{tool_name} {args}: {errors:?}"
        );
        let auditgate::catalog::ToolTarget::Function {
            path,
            kind,
            args: v,
            ..
        } = &tool.target
        else {
            panic!()
        };
        // What Convex says about the same arguments: encoded when we accept them, sent raw when not.
        let wire = to_convex(v, &args).unwrap_or(args.clone());
        let result = app
            .client()
            .call(*kind, path, wire, &as_user("alice"))
            .await;
        let convex_rejected = matches!(&result, Err(e) if e.to_string().contains("ArgumentValidationError") || e.to_string().contains("Validator"));
        assert_eq!(
            !convex_rejected, expect_ok,
            "{tool_name} {args}: {result:?}"
        );
    }
    // Error messages name the field.
    let tool = catalog.get("invoices_create").unwrap();
    let errors = validate(
        &tool.input_schema,
        &json!({"customerId": customer, "number": "1", "lineItems": [{"description": "d", "quantity": 1}]}),
    );
    assert_eq!(
        errors[0].to_string(),
        "/lineItems/0/unitPriceCents: missing required field"
    );
}

#[tokio::test]
async fn live_spec_matches_the_committed_fixture() {
    let app = app_or_skip!();
    let live = FunctionSpecFile::from_value(app.client().function_spec().await.unwrap()).unwrap();
    let fixture = FunctionSpecFile::parse(include_bytes!("fixtures/function-spec.json")).unwrap();
    assert_eq!(
        live.functions, fixture.functions,
        "regenerate tests/fixtures/function-spec.json"
    );
    assert_eq!(live.http_routes, fixture.http_routes);
    assert!(
        live.skipped.is_empty() && !live.http_routes.is_empty(),
        "{:?}",
        live.skipped
    );
}

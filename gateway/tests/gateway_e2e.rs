//! The gateway end to end over Streamable HTTP against the Convex test app: role-filtered
//! listings, a call of every tier and disposition, redaction, an upstream error — then the ledger
//! verifies and holds exactly the expected entries, and the app saw exactly the allowed calls.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, RunningGateway, kinds, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tier_is_decided_recorded_and_only_allowed_calls_reach_convex() {
    let app = app_or_skip!();
    let seed = app.seed().await;
    let dir = GatewayDir::new(&app.url);
    let gw = RunningGateway::start(&dir).await;

    let mut alice = Mcp::new(&gw.url, Some(dir.token("alice")));
    let init = alice.initialize().await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    let mut carol = Mcp::new(&gw.url, Some(dir.token("carol")));
    carol.initialize().await;

    // Listings are filtered by role: finance sees its writes, the analyst does not.
    let finance_tools = alice.tool_names().await;
    let analyst_tools = carol.tool_names().await;
    assert!(finance_tools.contains(&"invoices_refund".to_string()));
    assert!(finance_tools.contains(&"billing_sendReminder".to_string()));
    assert!(!analyst_tools.contains(&"invoices_refund".to_string()));
    assert!(analyst_tools.contains(&"customers_get".to_string()));
    for tools in [&finance_tools, &analyst_tools] {
        assert!(!tools.iter().any(|t| t.starts_with("admin_")), "{tools:?}");
        assert!(!tools.contains(&"convex_delete_document".to_string()));
    }
    let listed = alice.request("tools/list", json!({})).await;
    let reminder = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "billing_sendReminder")
        .unwrap();
    assert_eq!(reminder["_meta"]["auditgate/tier"], "approval_required");

    let calls_before = app.calls().await.len();
    let customer = seed["customers"]["alice"].clone();
    let invoice = seed["invoices"]["alice"].clone();

    // allow, with redaction: the agent never sees the tax id; the ledger commits it.
    let got = alice.call("customers_get", json!({"id": customer})).await;
    assert_eq!(got["isError"], false, "{got}");
    let shown: Value = serde_json::from_str(text(&got)).unwrap();
    assert_eq!(shown["name"], "Alice Ltd");
    assert!(shown.get("taxId").is_none(), "{shown}");
    assert!(!text(&got).contains("DE123456789"));

    // allow (condition holds): a small refund runs.
    let small = alice
        .call(
            "invoices_refund",
            json!({"invoiceId": invoice, "amountCents": 500, "reason": "goodwill"}),
        )
        .await;
    assert_eq!(small["isError"], false, "{small}");
    assert_eq!(small["structuredContent"]["refundedCents"], 500);

    // approval_required: waits for a human; nobody approves within the test policy's 2 s.
    let large = alice
        .call(
            "invoices_refund",
            json!({"invoiceId": invoice, "amountCents": 50000, "reason": "dispute"}),
        )
        .await;
    assert_eq!(large["isError"], true);
    assert!(text(&large).contains("apr_"), "{large}");
    assert!(text(&large).contains("lapsed (timeout)"), "{large}");

    // blocked: the analyst may not refund at all.
    let blocked = carol
        .call(
            "invoices_refund",
            json!({"invoiceId": invoice, "amountCents": 1, "reason": "x"}),
        )
        .await;
    assert_eq!(blocked["isError"], true);
    assert!(text(&blocked).starts_with("Blocked by policy"), "{blocked}");

    // invalid arguments never reach Convex.
    let invalid = alice
        .call(
            "invoices_refund",
            json!({"invoiceId": invoice, "amountCents": "lots"}),
        )
        .await;
    assert_eq!(invalid["isError"], true);
    assert!(text(&invalid).contains("Invalid arguments"), "{invalid}");

    // An upstream function error: sanitized for the agent, complete in the ledger.
    let crash = alice.call("diagnostics_crash", json!({})).await;
    assert_eq!(crash["isError"], true);
    let crash_text = text(&crash);
    assert!(
        crash_text.contains("diagnostics crash requested"),
        "{crash_text}"
    );
    assert!(crash_text.contains("audit ref: ledger seq"), "{crash_text}");
    assert!(!crash_text.contains("Request ID") && !crash_text.contains(" at "));

    // Unknown tool: a JSON-RPC error, recorded.
    let unknown = alice
        .request("tools/call", json!({"name": "nope", "arguments": {}}))
        .await;
    assert_eq!(unknown["error"]["code"], -32602);

    // Convex saw exactly the three allowed calls, each as the caller.
    let calls = app.calls().await;
    let forwarded: Vec<(&str, &str)> = calls[calls_before..]
        .iter()
        .map(|c| (c["path"].as_str().unwrap(), c["caller"].as_str().unwrap()))
        .collect();
    assert_eq!(
        forwarded,
        [
            ("customers:get", "admin-as:alice"),
            ("invoices:refund", "admin-as:alice"),
            ("diagnostics:crash", "admin-as:alice"),
        ]
    );

    assert_eq!(alice.delete().await, 200);
    gw.stop().await;

    let report = dir.verify();
    let entries = dir.entries();
    assert_eq!(report.entries, entries.len() as u64);
    let expected_kinds = [
        "ledger.genesis",
        "gateway.start",
        "policy.loaded",
        "catalog.loaded",
        "session.open", // alice
        "session.open", // carol
        "tools.listed", // alice
        "tools.listed", // carol
        "tools.listed", // alice (the _meta check)
        "call.request", // customers_get
        "call.result",
        "call.request", // small refund
        "call.result",
        "call.request", // large refund: approval_pending
        "approval.expired",
        "call.request", // carol: blocked
        "call.request", // invalid_args
        "call.request", // crash
        "call.result",
        "call.request",  // unknown tool
        "session.close", // alice: delete
        "session.close", // carol: shutdown
        "gateway.stop",
    ];
    assert_eq!(kinds(&entries), expected_kinds);

    let requests: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "call.request")
        .collect();
    let dispositions: Vec<&str> = requests
        .iter()
        .map(|e| e["disposition"].as_str().unwrap())
        .collect();
    assert_eq!(
        dispositions,
        [
            "forward",
            "forward",
            "approval_pending",
            "blocked",
            "invalid_args",
            "forward",
            "unknown_tool"
        ]
    );
    // Every request names the policy and catalog it was decided under.
    let start = &entries[1];
    for r in &requests {
        assert_eq!(r["policy_hash"], start["policy_hash"]);
        assert_eq!(r["catalog_hash"], start["catalog_hash"]);
    }
    // Redaction in the ledger: the reason is committed, the result's tax id committed and the
    // email masked; no secret appears anywhere.
    assert!(
        requests[1]["args"]["reason"]["$commit"].is_string(),
        "{}",
        requests[1]
    );
    let results: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "call.result")
        .collect();
    assert!(
        results[0]["result"]["taxId"]["$commit"].is_string(),
        "{}",
        results[0]
    );
    assert_eq!(results[0]["result"]["email"], "[REDACTED]");
    assert_eq!(results[0]["request_seq"], requests[0]["seq"]);
    assert_eq!(results[2]["outcome"], "tool_error");
    assert!(
        results[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("diagnostics crash requested")
    );
    assert_eq!(requests[2]["decision"]["rule"], "large-refund");
    assert!(
        requests[2]["approval"]["id"]
            .as_str()
            .unwrap()
            .starts_with("apr_")
    );
    let ledger_text = entries.iter().map(Value::to_string).collect::<String>();
    for secret in [
        dir.token("alice"),
        dir.token("carol"),
        "DE123456789".into(),
        support::ADMIN_KEY.into(),
    ] {
        assert!(
            !ledger_text.contains(&secret),
            "a secret reached the ledger"
        );
    }
}

/// A result larger than the ledger's entry limit (1 MiB) from real Convex code: the client gets
/// all of it, and `call.result` records it by the digest and length of its canonical bytes
/// instead of failing (docs/reliability.md, finding 5), so the call is accounted for and the
/// ledger verifies with no dangling request. A result under the limit is still recorded whole;
/// an error detail over the limit is recorded by digest too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_over_the_entry_limit_is_recorded_by_digest_and_delivered_whole() {
    let app = app_or_skip!();
    let dir = GatewayDir::new(&app.url);
    let gw = RunningGateway::start(&dir).await;
    let mut alice = Mcp::new(&gw.url, Some(dir.token("alice")));
    alice.initialize().await;

    let (rows, width) = (1500, 1000);
    let got = alice
        .call("diagnostics_bulk", json!({"rows": rows, "width": width}))
        .await;
    assert_eq!(got["isError"], false, "{}", &got.to_string()[..300]);
    let delivered: Value = serde_json::from_str(text(&got)).unwrap();
    assert_eq!(delivered.as_array().unwrap().len(), rows);
    assert_eq!(delivered[rows - 1]["text"].as_str().unwrap().len(), width);
    let canonical = auditgate_ledger::canonical::encode(&delivered);
    assert!(canonical.len() > 1024 * 1024, "{} bytes", canonical.len());

    let small = alice
        .call("diagnostics_bulk", json!({"rows": 2, "width": 3}))
        .await;
    assert_eq!(small["isError"], false, "{small}");
    // The same rows thrown as a `ConvexError`'s data: a tool error whose detail is over the
    // limit, recorded by digest too.
    let failed = alice
        .call(
            "diagnostics_bulk",
            json!({"rows": rows, "width": width, "fail": true}),
        )
        .await;
    assert_eq!(failed["isError"], true);
    assert!(text(&failed).contains("audit ref: ledger seq"));
    gw.stop().await;

    let report = dir.verify();
    assert_eq!(report.entries, dir.entries().len() as u64);
    let entries = dir.entries();
    let results: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "call.result")
        .collect();
    assert_eq!(results.len(), 3, "one result entry per forwarded call");
    let error = &results[2]["error"];
    assert_eq!(results[2]["outcome"], "tool_error");
    assert_eq!(error["class"], "function_error_with_data");
    assert_eq!(error["omitted"]["reason"], "entry_limit");
    assert!(
        error["omitted"]["bytes"].as_u64().unwrap() > 1024 * 1024,
        "{error}"
    );
    assert!(
        error["omitted"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("blake3mac:")
    );
    let big = results[0];
    assert_eq!(big["outcome"], "ok");
    assert!(
        big.get("result").is_none(),
        "the oversized result itself is not recorded"
    );
    assert_eq!(
        big["result_omitted"],
        json!({"reason": "entry_limit", "bytes": canonical.len()})
    );
    // Keyed (docs/privacy.md §2): the gateway's commit key binds it to the exact bytes.
    let key = auditgate_policy::DigestKey::derive(
        &auditgate_policy::CommitKey::from_hex(&"ab".repeat(32)).unwrap(),
    );
    assert!(key.matches(&canonical, big["result_digest"].as_str().unwrap()));
    assert_eq!(
        results[1]["result"],
        json!([{"i": 0, "text": "xxx"}, {"i": 1, "text": "xxx"}])
    );
    assert!(results[1].get("result_omitted").is_none());
}

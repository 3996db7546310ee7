//! int64 and float64 arguments are normalized once, before the decision (issue 19, finding 3):
//! `"300"` and `300` give the same decision, the same recorded request and the same arguments at
//! Convex (the test app's `/_test/calls`); 2^53 + 1 as a string reaches Convex exactly; a string
//! that is no int64 is an argument error naming the field, and nothing is forwarded.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, RunningGateway, of_kind, text};

/// The `call.request` entries for `tool`, in order.
fn requests(dir: &GatewayDir, tool: &str) -> Vec<Value> {
    of_kind(&dir.entries(), "call.request")
        .into_iter()
        .filter(|e| e["tool"] == tool)
        .cloned()
        .collect()
}

/// What an entry says about the call, without what differs per message (ids, raw bytes).
fn recorded(entry: &Value) -> Value {
    json!({
        "args": entry["args"],
        "args_digest": entry["args_digest"],
        "decision": entry["decision"],
        "disposition": entry["disposition"],
    })
}

/// The seed ids, a gateway on the app with the billing policy, and alice (finance) connected.
async fn gateway_for_alice(app: &support::TestApp) -> (Value, GatewayDir, RunningGateway, Mcp) {
    let seed = app.seed().await;
    let dir = GatewayDir::new(&app.url);
    let gw = RunningGateway::start(&dir).await;
    let mut alice = Mcp::new(&gw.url, Some(dir.token("alice")));
    alice.initialize().await;
    (seed, dir, gw, alice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decimal_string_and_an_integer_are_the_same_call() {
    let app = app_or_skip!();
    let (seed, dir, gw, mut alice) = gateway_for_alice(&app).await;
    let invoice = seed["invoices"]["alice"].clone();

    let before = app.calls().await.len();
    for amount in [json!("300"), json!(300), json!(300.0)] {
        let got = alice
            .call(
                "invoices_refund",
                json!({"invoiceId": invoice, "amountCents": amount, "reason": "goodwill"}),
            )
            .await;
        // The small-refund rule (`lte 10000`) allows it: no approval wait.
        assert_eq!(got["isError"], false, "{amount}: {got}");
    }
    let entries = requests(&dir, "invoices_refund");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["decision"]["rule"], "small-refund");
    assert_eq!(entries[0]["args"]["amountCents"], 300);
    for e in &entries[1..] {
        assert_eq!(recorded(e), recorded(&entries[0]));
    }
    let calls = app.calls().await;
    let forwarded: Vec<&Value> = calls[before..]
        .iter()
        .filter(|c| c["path"] == "invoices:refund")
        .map(|c| &c["args"])
        .collect();
    assert_eq!(forwarded.len(), 3, "{calls:?}");
    assert!(
        forwarded.iter().all(|a| *a == forwarded[0]),
        "{forwarded:?}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_int64_beyond_2_53_survives_exactly_nested_in_an_array() {
    let app = app_or_skip!();
    let (seed, dir, gw, mut alice) = gateway_for_alice(&app).await;
    let customer = seed["customers"]["alice"].clone();

    let before = app.calls().await.len();
    let got = alice
        .call(
            "invoices_create",
            json!({"customerId": customer, "number": "INV-BIG", "lineItems": [
                {"description": "big", "quantity": 1.0, "unitPriceCents": "9007199254740993"}]}),
        )
        .await;
    assert_eq!(got["isError"], false, "{got}");
    // Convex computed with the exact value and answered it exactly.
    assert!(text(&got).contains("9007199254740993"), "{}", text(&got));
    let entry = requests(&dir, "invoices_create").pop().unwrap();
    let item = &entry["args"]["lineItems"][0];
    // Recorded exactly (a decimal string: JCS would round a number), the float as an integer.
    assert_eq!(item["unitPriceCents"], "9007199254740993");
    assert_eq!(item["quantity"], 1);
    let calls = app.calls().await;
    let call = calls[before..]
        .iter()
        .find(|c| c["path"] == "invoices:create")
        .unwrap();
    let sent = &call["args"];
    let sent = if sent.is_array() { &sent[0] } else { sent };
    // 9007199254740993 = 0x20000000000001, little-endian.
    assert_eq!(
        sent["lineItems"][0]["unitPriceCents"],
        json!({"$integer": "AQAAAAAAIAA="}),
        "{sent}"
    );
    assert_eq!(sent["lineItems"][0]["quantity"], 1);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_string_that_is_no_int64_is_an_argument_error_naming_the_field() {
    let app = app_or_skip!();
    let (seed, dir, gw, mut alice) = gateway_for_alice(&app).await;
    let invoice = seed["invoices"]["alice"].clone();

    let before = app.calls().await.len();
    for bad in ["3.0", "0x10", "+5", " 5", "9223372036854775808"] {
        let got = alice
            .call(
                "invoices_refund",
                json!({"invoiceId": invoice, "amountCents": bad, "reason": "x"}),
            )
            .await;
        assert_eq!(got["isError"], true, "{bad:?}: {got}");
        assert!(
            text(&got).contains("/amountCents: must be a 64-bit integer"),
            "{bad:?}: {}",
            text(&got)
        );
    }
    let entries = requests(&dir, "invoices_refund");
    assert!(entries.iter().all(|e| e["disposition"] == "invalid_args"));
    assert!(
        app.calls().await[before..]
            .iter()
            .all(|c| c["path"] != "invoices:refund"),
        "nothing forwarded"
    );
    gw.stop().await;
}

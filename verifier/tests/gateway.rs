//! Black-box tests of `verify` on gateway ledgers: the scripted run of `support::script` is
//! valid (golden summary and JSON), and each way of breaking G1–G4 is caught at its seq, while
//! a dangling request is only a warning.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use serde_json::{Value, json};
use support::script::{self, Principal, Script};
use support::writer::{self, Layout};
use support::{golden, pubkey, run, text};

fn verify(dir: &std::path::Path, json: bool) -> std::process::Output {
    let d = dir.to_str().unwrap();
    let key = pubkey();
    let mut args = vec!["verify", d, "--pubkey", &key];
    if json {
        args.push("--json");
    }
    run(&args)
}

/// The report with the temp dir's path replaced, for golden comparison.
fn normalized(o: &std::process::Output, dir: &std::path::Path) -> String {
    String::from_utf8_lossy(&o.stdout).replace(dir.to_str().unwrap(), "LEDGER")
}

#[test]
fn scripted_run_is_valid_with_golden_summary_and_json() {
    let dir = tempfile::tempdir().unwrap();
    support::standard_ledger(dir.path());
    let o = verify(dir.path(), false);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    golden("verify_standard.txt", &normalized(&o, dir.path()));
    let o = verify(dir.path(), true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    golden(
        "verify_standard.json",
        &format!("{}\n", serde_json::to_string_pretty(&v).unwrap()),
    );
}

#[test]
fn the_real_writer_lays_out_an_equally_valid_ledger() {
    // The deterministic writer must not be the only thing the invariants were tested on.
    let dir = tempfile::tempdir().unwrap();
    let opts = auditgate_ledger::LedgerOptions {
        segment_size_limit: 4096,
        origin: Some(writer::ORIGIN.into()),
        index: false,
        ..Default::default()
    };
    let l = auditgate_ledger::Ledger::create(dir.path(), writer::key(0), opts).unwrap();
    for e in script::standard().events {
        l.append(auditgate_ledger::Draft::from_value(&e.kind, &e.body).unwrap())
            .unwrap();
    }
    l.close();
    let o = verify(dir.path(), true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["gateway"]["invariants"], "hold");
    assert_eq!(v["gateway"]["sessions"], 2);
}

/// Writes `s`, verifies with `--json`, and returns the verdict.
fn verdict(s: &Script) -> Value {
    let dir = tempfile::tempdir().unwrap();
    writer::write(dir.path(), &s.events, &Layout::default());
    let o = verify(dir.path(), true);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let expected = if v["valid"] == true { 0 } else { 1 };
    assert_eq!(o.status.code(), Some(expected), "{}", text(&o));
    v
}

/// A started gateway with one open finance session.
fn started() -> (Script, support::script::Session) {
    let mut s = Script::new();
    s.start();
    let fin = s.open(0xa1, Principal::finance_bot());
    (s, fin)
}

#[test]
fn result_without_request_is_g1() {
    let (mut s, mut fin) = started();
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    s.result_ok(&r, 10, json!([]));
    let seq = s.push(
        100,
        "call.result",
        json!({"session": fin.id, "request_id": 99, "request_seq": 3, "tool": "invoices_list",
               "outcome": "ok", "latency_us": 5, "result": [], "redactions": [],
               "result_digest": script::blake3_ref(b"[]")}),
    );
    let v = verdict(&s);
    assert_eq!(v["valid"], false);
    assert_eq!(v["rule"], "G1");
    assert_eq!(v["error"], "ResultWithoutRequest");
    assert_eq!(v["seq"], seq);
}

#[test]
fn result_of_a_blocked_request_is_g1() {
    let (mut s, mut fin) = started();
    let r = s.call(
        &mut fin,
        "admin_purge_customer",
        json!({"id": "cus_1"}),
        None,
    );
    assert_eq!(r.disposition, "blocked");
    let seq = s.result_ok(&r, 10, json!({"purged": true}));
    let v = verdict(&s);
    assert_eq!(v["error"], "ResultNotForwarded", "{v}");
    assert_eq!(v["rule"], "G1");
    assert_eq!(v["seq"], seq);
    assert!(v["message"].as_str().unwrap().contains("`blocked`"), "{v}");
}

#[test]
fn approval_pending_request_with_a_result_and_no_grant_is_a4() {
    let (mut s, mut fin) = started();
    let r = s.call(
        &mut fin,
        "invoices_refund",
        json!({"invoiceId": "inv_1", "amountCents": 500000, "reason": "x"}),
        None,
    );
    assert_eq!(r.disposition, "approval_pending");
    let seq = s.result_ok(&r, 10, json!({"refundId": "re_1"}));
    let v = verdict(&s);
    assert_eq!(v["rule"], "A4", "no grant was recorded: {v}");
    assert_eq!(v["seq"], seq);
}

#[test]
fn duplicate_result_is_g1() {
    let (mut s, mut fin) = started();
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    let first = s.result_ok(&r, 10, json!([]));
    let second = s.result_ok(&r, 10, json!([]));
    let v = verdict(&s);
    assert_eq!(v["error"], "DuplicateResult", "{v}");
    assert_eq!(v["seq"], second);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("the first is seq {first}"))
    );
}

#[test]
fn result_in_another_session_is_g1() {
    let (mut s, mut fin) = started();
    let mut other = s.open(0xc3, Principal::finance_bot());
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    let mut wrong = r.clone();
    wrong.session = other.id.clone();
    s.list(&mut other);
    let seq = s.result_ok(&wrong, 10, json!([]));
    let v = verdict(&s);
    assert_eq!(v["error"], "ResultMismatch", "{v}");
    assert_eq!(v["seq"], seq);
}

#[test]
fn dangling_request_is_a_warning_not_an_error() {
    let (mut s, mut fin) = started();
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    // The gateway crashed here; it restarts.
    s.start();
    let mut fin2 = s.open(0xa2, Principal::finance_bot());
    let r2 = s.call(&mut fin2, "invoices_list", json!({}), None);
    s.result_ok(&r2, 10, json!([]));
    // And the ledger ends with another request in flight.
    let r3 = s.call(&mut fin2, "customers_get", json!({"id": "c"}), None);
    let v = verdict(&s);
    assert_eq!(v["valid"], true, "{v}");
    let w = &v["gateway"]["warnings"];
    assert_eq!(w.as_array().unwrap().len(), 2, "{v}");
    assert_eq!(w[0]["seq"], r.seq);
    assert_eq!(w[0]["rule"], "G2");
    assert_eq!(w[0]["restart_seq"], r.seq + 1);
    assert_eq!(w[1]["seq"], r3.seq);
    assert_eq!(w[1]["restart_seq"], Value::Null);

    let dir = tempfile::tempdir().unwrap();
    writer::write(dir.path(), &s.events, &Layout::default());
    let o = verify(dir.path(), false);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o);
    assert!(
        out.contains(&format!("dangling request seq {}", r.seq)),
        "{out}"
    );
    assert!(out.contains("the gateway restarted at seq"), "{out}");
}

/// A forwarded call whose result could not be written (e.g. the disk was full) and a later clean
/// stop: a dangling request naming the stop, not an invalid ledger (audit-events.md §6 step 5).
#[test]
fn clean_stop_with_an_unanswered_forward_is_a_dangling_warning() {
    let (mut s, mut fin) = started();
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    s.close(&fin, "eof");
    let stop = s.stop();
    let v = verdict(&s);
    assert_eq!(v["valid"], true, "{v}");
    let text = v.to_string();
    assert!(text.contains(&format!("\"stop_seq\":{stop}")), "{v}");
    assert!(text.contains(&format!("\"seq\":{}", r.seq)), "{v}");
}

#[test]
fn call_in_a_closed_session_is_g3() {
    let (mut s, mut fin) = started();
    s.list(&mut fin);
    let closed = s.close(&fin, "eof");
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    let v = verdict(&s);
    assert_eq!(v["error"], "SessionNotOpen", "{v}");
    assert_eq!(v["rule"], "G3");
    assert_eq!(v["seq"], r.seq);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("closed at seq {closed}"))
    );
}

#[test]
fn session_from_before_a_restart_is_g3() {
    let (mut s, mut fin) = started();
    s.list(&mut fin);
    s.start();
    let seq = s.list(&mut fin);
    let v = verdict(&s);
    assert_eq!(v["error"], "SessionNotOpen", "{v}");
    assert_eq!(v["seq"], seq);
}

#[test]
fn request_under_a_policy_that_was_not_loaded_is_g4() {
    let (mut s, mut fin) = started();
    s.policy_hash = script::blake3_ref(b"some other policy");
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    let v = verdict(&s);
    assert_eq!(v["error"], "StaleHash", "{v}");
    assert_eq!(v["rule"], "G4");
    assert_eq!(v["seq"], r.seq);
}

#[test]
fn gateway_violation_text_names_seq_rule_and_reason() {
    let (mut s, mut fin) = started();
    let r = s.call(
        &mut fin,
        "admin_purge_customer",
        json!({"id": "cus_1"}),
        None,
    );
    s.result_ok(&r, 10, json!({}));
    let dir = tempfile::tempdir().unwrap();
    writer::write(dir.path(), &s.events, &Layout::default());
    let o = verify(dir.path(), false);
    assert_eq!(o.status.code(), Some(1));
    golden("verify_g1_blocked.txt", &normalized(&o, dir.path()));
}

/// A started gateway, a finance session, and a large refund waiting for two approvers.
fn awaiting_approval() -> (Script, support::script::Session, support::script::Req) {
    let (mut s, mut fin) = started();
    let r = s.call(
        &mut fin,
        "invoices_refund",
        json!({"invoiceId": "inv_9", "amountCents": 250000, "reason": "churn"}),
        None,
    );
    assert_eq!(r.disposition, "approval_pending");
    assert_eq!(r.approval.as_ref().unwrap()["required"], 2);
    (s, fin, r)
}

#[test]
fn approved_call_with_two_signed_grants_is_valid() {
    let (mut s, fin, r) = awaiting_approval();
    let (dana, erin) = (script::approver("dana", 1), script::approver("erin", 2));
    s.receipt(&r, &dana, true, 1, 60_000_000);
    s.receipt(&r, &erin, true, 2, 30_000_000);
    s.result_ok(&r, 80_000, json!({"refundId": "re_9"}));
    s.close(&fin, "eof");
    s.stop();
    let v = verdict(&s);
    assert_eq!(v["valid"], true, "{v}");
    let keys = v["gateway"]["approver_keys"].as_object().unwrap();
    assert_eq!(keys.len(), 2, "{v}");
    assert!(keys.contains_key(&dana.verifier_key().to_string()));
}

#[test]
fn result_before_all_required_grants_is_a4() {
    let (mut s, _fin, r) = awaiting_approval();
    s.receipt(&r, &script::approver("dana", 1), true, 1, 1_000);
    let seq = s.result_ok(&r, 80_000, json!({"refundId": "re_9"}));
    let v = verdict(&s);
    assert_eq!(v["rule"], "A4", "{v}");
    assert_eq!(v["seq"], seq);
    assert!(v["message"].as_str().unwrap().contains("1 of 2"), "{v}");
}

#[test]
fn result_after_a_denial_is_a4() {
    let (mut s, _fin, r) = awaiting_approval();
    s.receipt(&r, &script::approver("dana", 1), false, 0, 1_000);
    s.result_ok(&r, 80_000, json!({"refundId": "re_9"}));
    let v = verdict(&s);
    assert_eq!(v["rule"], "A4", "{v}");
    assert!(v["message"].as_str().unwrap().contains("denied"), "{v}");
}

#[test]
fn forged_receipt_signature_is_a1() {
    let (mut s, _fin, r) = awaiting_approval();
    let seq = s.receipt(&r, &script::approver("dana", 1), true, 1, 1_000);
    // Someone else's key claims to be dana's.
    let mallory = script::approver("dana", 9);
    let ev = s.events.last_mut().unwrap();
    ev.body["key"] = json!(mallory.verifier_key().to_string());
    let v = verdict(&s);
    assert_eq!(v["rule"], "A1", "{v}");
    assert_eq!(v["seq"], seq);
    assert!(
        v["message"].as_str().unwrap().contains("does not verify"),
        "{v}"
    );
}

#[test]
fn receipt_for_other_arguments_is_a1() {
    let (mut s, _fin, mut r) = awaiting_approval();
    // The approver signed a statement about other arguments.
    r.args_digest = script::blake3_ref(b"{\"amountCents\":1}");
    s.receipt(&r, &script::approver("dana", 1), true, 1, 1_000);
    let v = verdict(&s);
    assert_eq!(v["rule"], "A1", "{v}");
    assert!(v["message"].as_str().unwrap().contains("statement"), "{v}");
}

#[test]
fn late_grant_is_a2_and_double_approver_is_a3() {
    let (mut s, _fin, r) = awaiting_approval();
    // Five hours later: past the 13:00 expiry.
    s.receipt(
        &r,
        &script::approver("dana", 1),
        true,
        1,
        5 * 3600 * 1_000_000,
    );
    assert_eq!(verdict(&s)["rule"], "A2");

    let (mut s, _fin, r) = awaiting_approval();
    let dana = script::approver("dana", 1);
    s.receipt(&r, &dana, true, 1, 1_000);
    s.receipt(&r, &dana, true, 2, 1_000);
    let v = verdict(&s);
    assert_eq!(v["rule"], "A3", "{v}");
}

#[test]
fn grant_after_expiry_is_a5() {
    let (mut s, _fin, r) = awaiting_approval();
    s.expire(&r, "timeout");
    s.receipt(&r, &script::approver("dana", 1), true, 1, 1_000);
    let v = verdict(&s);
    assert_eq!(v["rule"], "A5", "{v}");
}

#[test]
fn expiry_recorded_after_a_restart_is_not_a_session_error() {
    let (mut s, _fin, r) = awaiting_approval();
    s.start();
    s.expire(&r, "gateway_restart");
    assert_eq!(verdict(&s)["valid"], true);
}

/// The gateway's order since the restart scan was bounded: the expiry first, then the start.
#[test]
fn expiry_recorded_before_the_restarted_gateway_starts_is_valid() {
    let (mut s, _fin, r) = awaiting_approval();
    s.expire(&r, "gateway_restart");
    s.start();
    assert_eq!(verdict(&s)["valid"], true);
}

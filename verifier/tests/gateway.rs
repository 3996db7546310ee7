//! Black-box tests of `verify` on gateway ledgers: the scripted run of `support::script` is
//! valid (golden summary and JSON), and each way of breaking G1–G5 is caught at its seq, while
//! a dangling request and an approval expired after its grants are only warnings and an
//! interrupted call (`call.interrupted` after a restart) is listed.
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

/// A live reload: `policy.changed` then `catalog.changed`, each naming the one it replaces.
fn reload(s: &mut Script, old_policy: &str, old_catalog: &str) -> (u64, u64) {
    let policy = script::blake3_ref(b"the reloaded policy");
    let catalog = "sha256:".to_string() + &"cd".repeat(32);
    let p = s.push(
        50,
        "policy.changed",
        json!({"old_policy_hash": old_policy, "policy_hash": policy, "file": "policy.toml",
               "text": "version = 1", "trigger": "sighup"}),
    );
    let c = s.push(
        50,
        "catalog.changed",
        json!({"old_catalog_hash": old_catalog, "catalog_hash": catalog, "tools": [],
               "added": [], "removed": [], "changed": [], "trigger": "sighup"}),
    );
    s.policy_hash = policy;
    s.catalog_hash = catalog;
    (p, c)
}

#[test]
fn requests_after_a_reload_name_the_new_hashes_and_verify() {
    let (mut s, mut fin) = started();
    s.call(&mut fin, "invoices_list", json!({}), None);
    let (old_policy, old_catalog) = (s.policy_hash.clone(), s.catalog_hash.clone());
    reload(&mut s, &old_policy, &old_catalog);
    s.list(&mut fin);
    s.call(&mut fin, "invoices_list", json!({}), None);
    let v = verdict(&s);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["gateway"]["invariants"], "hold", "{v}");
}

#[test]
fn a_request_under_the_replaced_policy_after_a_reload_is_g4() {
    let (mut s, mut fin) = started();
    let (old_policy, old_catalog) = (s.policy_hash.clone(), s.catalog_hash.clone());
    reload(&mut s, &old_policy, &old_catalog);
    s.policy_hash = old_policy;
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    let v = verdict(&s);
    assert_eq!(
        (&v["error"], &v["rule"]),
        (&json!("StaleHash"), &json!("G4")),
        "{v}"
    );
    assert_eq!(v["seq"], r.seq);
}

#[test]
fn a_reload_replacing_what_was_not_in_force_is_g4() {
    let (mut s, _fin) = started();
    let old_catalog = s.catalog_hash.clone();
    let (p, _) = reload(&mut s, &script::blake3_ref(b"never loaded"), &old_catalog);
    let v = verdict(&s);
    assert_eq!(
        (&v["error"], &v["rule"]),
        (&json!("StaleHash"), &json!("G4")),
        "{v}"
    );
    assert_eq!(v["seq"], p);
    assert!(
        v["message"].as_str().unwrap().contains("old_policy_hash"),
        "{v}"
    );
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

/// Writes `s` and runs `verify` without `--json`; returns the text (exit 0 expected).
fn summary_text(s: &Script) -> String {
    let dir = tempfile::tempdir().unwrap();
    writer::write(dir.path(), &s.events, &Layout::default());
    let o = verify(dir.path(), false);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    normalized(&o, dir.path())
}

/// Killed between forwarding a call and recording its result; the restart records
/// `call.interrupted`, then `gateway.start`: an interrupted call, listed, not a dangling one.
#[test]
fn forwarded_call_interrupted_by_a_restart_is_listed_not_dangling() {
    let (mut s, mut fin) = started();
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    let at = s.interrupt(&r);
    s.start();
    let v = verdict(&s);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["gateway"]["warnings"], json!([]), "{v}");
    let listed = &v["gateway"]["interrupted"];
    assert_eq!(
        listed,
        &json!([{"seq": r.seq, "session": fin.id, "tool": "invoices_list",
                 "approval_id": null, "interrupted_seq": at}]),
        "{v}"
    );
    let out = summary_text(&s);
    assert!(
        out.contains(&format!(
            "interrupted  seq {} (invoices_list in session {}): forwarded, outcome unknown \
             (gateway restarted; call.interrupted at seq {at})",
            r.seq, fin.id
        )),
        "{out}"
    );
    assert!(!out.contains("dangling"), "{out}");
}

/// The same after a clean stop that followed a result the ledger could not write: the next
/// start's `call.interrupted` makes it an interrupted call, not a dangling one.
#[test]
fn call_interrupted_after_a_clean_stop_is_listed_not_dangling() {
    let (mut s, mut fin) = started();
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    s.close(&fin, "eof");
    s.stop();
    s.interrupt(&r);
    s.start();
    let v = verdict(&s);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["gateway"]["warnings"], json!([]), "{v}");
    assert_eq!(v["gateway"]["interrupted"][0]["seq"], r.seq, "{v}");
}

/// An approval granted, the call forwarded, the gateway killed: the restart records
/// `call.interrupted` with the approval (not `approval.expired`), and the verdict lists the
/// call as approved and forwarded with an unknown outcome.
#[test]
fn approved_call_interrupted_by_a_restart_is_listed_not_expired() {
    let (mut s, _fin, r) = awaiting_approval();
    s.receipt(&r, &script::approver("dana", 1), true, 1, 60_000_000);
    s.receipt(&r, &script::approver("erin", 2), true, 2, 30_000_000);
    let at = s.interrupt(&r);
    s.start();
    let v = verdict(&s);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["gateway"]["warnings"], json!([]), "{v}");
    let id = r.approval.as_ref().unwrap()["id"].clone();
    assert_eq!(v["gateway"]["interrupted"][0]["approval_id"], id, "{v}");
    assert_eq!(v["gateway"]["interrupted"][0]["interrupted_seq"], at, "{v}");
    let out = summary_text(&s);
    assert!(
        out.contains(&format!(
            "seq {} (invoices_refund in session {}, approval {}): approved and forwarded, outcome \
             unknown (gateway restarted; call.interrupted at seq {at})",
            r.seq,
            r.session,
            id.as_str().unwrap()
        )),
        "{out}"
    );
    assert!(!out.contains("expired"), "{out}");
}

/// Gateways before `call.interrupted` expired a fully granted approval on restart, although
/// the call had been forwarded: still valid, with the warning `expired_after_grant` (and the
/// request dangling, as a forwarded call without result before a restart).
#[test]
fn old_restart_expiring_a_granted_approval_warns_expired_after_grant() {
    for expiry_first in [true, false] {
        let (mut s, _fin, r) = awaiting_approval();
        s.receipt(&r, &script::approver("dana", 1), true, 1, 60_000_000);
        s.receipt(&r, &script::approver("erin", 2), true, 2, 30_000_000);
        // The bounded restart expired before its start; older ones after it.
        let expired = if expiry_first {
            let e = s.expire(&r, "gateway_restart");
            s.start();
            e
        } else {
            s.start();
            s.expire(&r, "gateway_restart")
        };
        let v = verdict(&s);
        assert_eq!(v["valid"], true, "{v}");
        let w = v["gateway"]["warnings"].as_array().unwrap();
        let late = w
            .iter()
            .find(|w| w["warning"] == "expired_after_grant")
            .unwrap_or_else(|| panic!("{v}"));
        assert_eq!(late["rule"], "G5", "{v}");
        assert_eq!(late["seq"], expired, "{v}");
        assert_eq!(late["request_seq"], r.seq, "{v}");
        assert_eq!(late["approval_id"], r.approval.as_ref().unwrap()["id"]);
        assert_eq!(v["gateway"]["interrupted"], json!([]), "{v}");
        let out = summary_text(&s);
        assert!(out.contains("expired_after_grant"), "{out}");
    }
}

#[test]
fn dangling_approved_request_names_its_tool() {
    let (mut s, _fin, r) = awaiting_approval();
    s.receipt(&r, &script::approver("dana", 1), true, 1, 60_000_000);
    s.receipt(&r, &script::approver("erin", 2), true, 2, 30_000_000);
    // Killed after forwarding it, by a gateway that recorded nothing on restart.
    s.start();
    let v = verdict(&s);
    assert_eq!(v["valid"], true, "{v}");
    let w = &v["gateway"]["warnings"];
    assert_eq!(w.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(w[0]["warning"], "DanglingRequest", "{v}");
    assert_eq!(w[0]["seq"], r.seq, "{v}");
    assert_eq!(w[0]["tool"], "invoices_refund", "{v}");
    let out = summary_text(&s);
    assert!(
        out.contains(&format!(
            "dangling request seq {} (invoices_refund in",
            r.seq
        )),
        "{out}"
    );
}

/// Asserts that `s` breaks G5 with `code` at `seq`.
fn assert_g5(s: &Script, code: &str, seq: u64) -> Value {
    let v = verdict(s);
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["error"], code, "{v}");
    assert_eq!(v["rule"], "G5", "{v}");
    assert_eq!(v["seq"], seq, "{v}");
    v
}

#[test]
fn interruption_of_a_blocked_request_is_g5() {
    let (mut s, mut fin) = started();
    let r = s.call(
        &mut fin,
        "admin_purge_customer",
        json!({"id": "cus_1"}),
        None,
    );
    assert_eq!(r.disposition, "blocked");
    let seq = s.interrupt(&r);
    s.start();
    let v = assert_g5(&s, "InterruptedNotForwarded", seq);
    assert!(v["message"].as_str().unwrap().contains("`blocked`"), "{v}");
}

#[test]
fn interruption_of_a_request_still_waiting_for_approval_is_g5() {
    let (mut s, _fin, r) = awaiting_approval();
    s.receipt(&r, &script::approver("dana", 1), true, 1, 1_000);
    // One grant of two: never forwarded, so it can only expire.
    let seq = s.interrupt(&r);
    s.start();
    let v = assert_g5(&s, "InterruptedUnapproved", seq);
    assert!(v["message"].as_str().unwrap().contains("1 of 2"), "{v}");
}

#[test]
fn interruption_naming_no_request_is_g5() {
    let (mut s, mut fin) = started();
    let listed = s.list(&mut fin);
    let seq = s.push(
        1_000,
        "call.interrupted",
        json!({"session": fin.id, "request_seq": listed, "request_id": 1, "tool": "invoices_list",
               "reason": "gateway_restart", "outcome": "unknown"}),
    );
    s.start();
    assert_g5(&s, "InterruptionWithoutRequest", seq);
}

#[test]
fn interruption_in_another_session_is_g5() {
    let (mut s, mut fin) = started();
    let other = s.open(0xc3, Principal::finance_bot());
    let mut r = s.call(&mut fin, "invoices_list", json!({}), None);
    r.session = other.id.clone();
    let seq = s.interrupt(&r);
    s.start();
    let v = assert_g5(&s, "InterruptionMismatch", seq);
    assert!(v["message"].as_str().unwrap().contains("session"), "{v}");
}

#[test]
fn second_interruption_is_g5() {
    let (mut s, mut fin) = started();
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    let first = s.interrupt(&r);
    let second = s.interrupt(&r);
    s.start();
    let v = assert_g5(&s, "DuplicateInterruption", second);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("the first is seq {first}")),
        "{v}"
    );
}

#[test]
fn interruption_of_an_answered_request_is_g5() {
    let (mut s, mut fin) = started();
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    s.result_ok(&r, 10, json!([]));
    let seq = s.interrupt(&r);
    s.start();
    assert_g5(&s, "InterruptedAfterResult", seq);
}

#[test]
fn result_after_an_interruption_is_g5() {
    let (mut s, mut fin) = started();
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    s.interrupt(&r);
    let seq = s.result_ok(&r, 10, json!([]));
    assert_g5(&s, "ResultAfterInterruption", seq);

    // Also for an approved call.
    let (mut s, _fin, r) = awaiting_approval();
    s.receipt(&r, &script::approver("dana", 1), true, 1, 1_000);
    s.receipt(&r, &script::approver("erin", 2), true, 2, 1_000);
    s.interrupt(&r);
    let seq = s.result_ok(&r, 10, json!({"refundId": "re_9"}));
    assert_g5(&s, "ResultAfterInterruption", seq);
}

#[test]
fn interruption_after_the_next_start_is_g5() {
    let (mut s, mut fin) = started();
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    let restart = s.next_seq();
    s.start();
    let seq = s.interrupt(&r);
    let v = assert_g5(&s, "InterruptedAfterRestart", seq);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("gateway.start at seq {restart}")),
        "{v}"
    );
}

#[test]
fn interruption_disagreeing_with_the_approval_is_g5() {
    // An approved call's interruption must name its approval and say approved: true.
    for member in ["approval_id", "approved"] {
        let (mut s, _fin, r) = awaiting_approval();
        s.receipt(&r, &script::approver("dana", 1), true, 1, 1_000);
        s.receipt(&r, &script::approver("erin", 2), true, 2, 1_000);
        let seq = s.interrupt(&r);
        let body = &mut s.events.last_mut().unwrap().body;
        body.as_object_mut().unwrap().remove(member);
        s.start();
        let v = assert_g5(&s, "InterruptionApprovalMismatch", seq);
        assert!(v["message"].as_str().unwrap().contains(member), "{v}");
    }
    // An allowed call has no approval to name.
    let (mut s, mut fin) = started();
    let r = s.call(&mut fin, "invoices_list", json!({}), None);
    let seq = s.interrupt(&r);
    s.events.last_mut().unwrap().body["approval_id"] = json!("apr_0001");
    s.start();
    let v = assert_g5(&s, "InterruptionApprovalMismatch", seq);
    assert!(
        v["message"].as_str().unwrap().contains("approval_id"),
        "{v}"
    );
}

/// The scripted crash-and-restart run (`script::interrupted`): valid, both forwarded calls
/// listed as interrupted, the still-pending approval expired, nothing dangling.
#[test]
fn scripted_restart_after_a_kill_is_valid_with_two_interrupted_calls() {
    let (s, read, refund) = script::interrupted();
    let v = verdict(&s);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["gateway"]["warnings"], json!([]), "{v}");
    let seqs: Vec<&Value> = v["gateway"]["interrupted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["seq"])
        .collect();
    assert_eq!(seqs, [&json!(refund.seq), &json!(read.seq)], "{v}");
}

//! Black-box tests of the forensic commands on the scripted run: `sessions`, `replay` (terminal
//! and HTML), `what-if` — golden outputs, provenance notes, bundles as input, exit codes.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::path::Path;

use serde_json::Value;
use support::{golden, pubkey, run, text};

const FIN: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";

fn ledger() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    support::standard_ledger(dir.path());
    dir
}

fn stdout(o: &std::process::Output, dir: &Path) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
    String::from_utf8_lossy(&o.stdout).replace(dir.to_str().unwrap(), "LEDGER")
}

#[test]
fn sessions_lists_each_session_with_counts_by_outcome() {
    let dir = ledger();
    let d = dir.path().to_str().unwrap();
    let o = run(&["sessions", d, "--pubkey", &pubkey()]);
    golden("sessions.txt", &stdout(&o, dir.path()));
    let o = run(&["sessions", d, "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verified"], false);
    let s = &v["sessions"][0];
    assert_eq!(s["session"], FIN);
    assert_eq!(s["calls"], 8);
    assert_eq!(s["outcomes"]["ok"], 2);
    assert_eq!(s["outcomes"]["upstream_error"], 1);
    assert_eq!(s["close_reason"], "eof");
    assert_eq!(v["sessions"][1]["outcomes"]["blocked"], 1);
}

#[test]
fn without_a_key_the_output_says_it_is_unverified() {
    let dir = ledger();
    let o = run(&["sessions", dir.path().to_str().unwrap()]);
    assert!(stdout(&o, dir.path()).starts_with("LEDGER: NOT VERIFIED"));
}

#[test]
fn a_tampered_ledger_is_refused_by_the_forensic_commands_given_a_key() {
    let dir = ledger();
    let seg = dir.path().join("segments").join("0000000000000001.seg");
    let mut b = std::fs::read(&seg).unwrap();
    let n = b.len();
    b[n - 100] ^= 1;
    std::fs::write(&seg, b).unwrap();
    let o = run(&[
        "sessions",
        dir.path().to_str().unwrap(),
        "--pubkey",
        &pubkey(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("INVALID"));
}

#[test]
fn replay_prints_the_timeline() {
    let dir = ledger();
    let o = run(&[
        "replay",
        dir.path().to_str().unwrap(),
        "--session",
        FIN,
        "--pubkey",
        &pubkey(),
    ]);
    golden("replay_fin.txt", &stdout(&o, dir.path()));
    let o = run(&[
        "replay",
        dir.path().to_str().unwrap(),
        "--session",
        "ffffffffffffffffffffffffffffffff",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no session.open"), "{}", text(&o));
}

#[test]
fn replay_html_is_self_contained_and_marks_redactions() {
    let dir = ledger();
    let html = dir.path().join("replay.html");
    let o = run(&[
        "replay",
        dir.path().to_str().unwrap(),
        "--session",
        FIN,
        "--pubkey",
        &pubkey(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    for external in [
        "http://", "https://", "src=\"", "href=\"", "@import", "url(",
    ] {
        let allowed = "https://happy-otter-123.convex.cloud";
        let stripped = page.replace(allowed, "");
        assert!(
            !stripped.contains(external),
            "external reference {external:?}"
        );
    }
    assert!(page.contains("<style>") && page.contains("<script>"));
    assert!(
        page.contains(">committed</span>"),
        "the committed reason is marked"
    );
    assert!(
        page.contains(">dropped</span> $.card"),
        "the dropped card is marked"
    );
    assert!(page.contains("data-status=\"upstream_error\""));
    assert!(page.contains("data-status=\"approval_pending\""));
    assert!(
        !page.contains("tok_visa_8842"),
        "a dropped value never appears"
    );
    golden(
        "replay_fin.html",
        &page.replace(dir.path().to_str().unwrap(), "LEDGER"),
    );
}

#[test]
fn forensic_commands_read_bundles() {
    let dir = ledger();
    let out = dir.path().join("bundle");
    let o = run(&[
        "export",
        dir.path().to_str().unwrap(),
        "--pubkey",
        &pubkey(),
        "--out",
        out.to_str().unwrap(),
        "--session",
        FIN,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let b = out.to_str().unwrap();
    let o = run(&["sessions", b, "--pubkey", &pubkey(), "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(v["verified"], true);
    let o = run(&["replay", b, "--session", FIN, "--pubkey", &pubkey()]);
    assert!(stdout(&o, dir.path()).contains("upstream error"));
    // An altered bundle is refused.
    let p = out.join("entries.jsonl");
    let t = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        t.replacen("\"status\":\"paid\"", "\"status\":\"void\"", 1),
    )
    .unwrap();
    let o = run(&["replay", b, "--session", FIN, "--pubkey", &pubkey()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

fn write_policy(dir: &Path, text: &str) -> String {
    let p = dir.join("new-policy.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn what_if_reports_changes_and_indeterminate_decisions() {
    let dir = ledger();
    // Refunds with a card on file go through; the ledger dropped `card`, so for the refund
    // that had one the answer is unknowable; the one without changes for certain.
    let policy = write_policy(
        dir.path(),
        r#"version = 1
[defaults]
tier = "blocked"
write = "allow"
[[rules]]
id = "refund-with-card"
match.function = ["invoices:refund"]
when = { path = "$.card.last4", op = "exists" }
tier = "allow"
[[rules]]
id = "reads"
match.kind = ["query"]
tier = "allow"
"#,
    );
    let d = dir.path().to_str().unwrap();
    let o = run(&["what-if", d, "--pubkey", &pubkey(), "--policy", &policy]);
    golden("whatif.txt", &stdout(&o, dir.path()));
    let o = run(&["what-if", d, "--policy", &policy, "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ind = v["indeterminate"].as_array().unwrap();
    assert_eq!(ind.len(), 1, "{v}");
    assert_eq!(ind[0]["seq"], 10);
    assert_eq!(ind[0]["reads_redacted"][0], "$.card.last4");
    let changed: Vec<u64> = v["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seq"].as_u64().unwrap())
        .collect();
    assert!(
        changed.contains(&13),
        "the large refund without a card: {v}"
    );
    assert!(
        changed.contains(&15),
        "invoice creation is now blocked: {v}"
    );
    assert!(changed.contains(&12), "the analyst may now read: {v}");
    assert_eq!(v["transitions"]["approval_required → blocked"], 1);
}

#[test]
fn what_if_with_the_recorded_policy_changes_nothing() {
    let dir = ledger();
    let policy = write_policy(dir.path(), support::script::POLICY_TEXT);
    let o = run(&[
        "what-if",
        dir.path().to_str().unwrap(),
        "--policy",
        &policy,
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["changed"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["indeterminate"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["calls"], 9);
    assert_eq!(v["listings"], 2);
    let bad = write_policy(dir.path(), "version = 2\n");
    let o = run(&["what-if", dir.path().to_str().unwrap(), "--policy", &bad]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// A result the gateway recorded by digest only (too large for one entry) verifies, and the
/// replay says so and shows the digest an auditor can match a retained copy against.
#[test]
fn replay_shows_a_result_recorded_by_digest_only() {
    use support::script::{Principal, Script};
    let mut s = Script::new();
    s.start();
    let mut fin = s.open(0xa1, Principal::finance_bot());
    let r = s.call(
        &mut fin,
        "invoices_list",
        serde_json::json!({"limit": 2}),
        None,
    );
    let result = serde_json::json!({"page": ["x".repeat(64)], "isDone": true});
    s.result_omitted(&r, 1_250, &result);
    s.close(&fin, "eof");
    let dir = tempfile::tempdir().unwrap();
    support::writer::write(dir.path(), &s.events, &support::writer::Layout::default());
    let d = dir.path().to_str().unwrap();

    let o = run(&["verify", d, "--pubkey", &pubkey()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&["replay", d, "--session", &fin.id, "--pubkey", &pubkey()]);
    let shown = stdout(&o, dir.path());
    let canonical = auditgate_ledger::canonical::encode(&result);
    let line = format!(
        "result not recorded (entry limit, {} bytes); its digest is blake3:{}",
        canonical.len(),
        blake3::hash(&canonical).to_hex()
    );
    assert!(shown.contains(&line), "{shown}");
}

/// The scripted kill-and-restart run (`script::interrupted`): the read and the approved refund
/// were in Convex when the gateway died. `sessions` and `replay` (text and HTML) show them as
/// forwarded with an unknown outcome — the refund as approved and forwarded — never as expired.
#[test]
fn interrupted_calls_are_shown_as_forwarded_with_an_unknown_outcome() {
    let (s, read, refund) = support::script::interrupted();
    let dir = tempfile::tempdir().unwrap();
    support::writer::write(dir.path(), &s.events, &support::writer::Layout::default());
    let d = dir.path().to_str().unwrap();
    let apr = refund.approval.as_ref().unwrap()["id"].as_str().unwrap();

    let o = run(&["sessions", d, "--pubkey", &pubkey()]);
    let shown = stdout(&o, dir.path());
    assert!(shown.contains("interrupted 2"), "{shown}");
    for line in [
        format!(
            "interrupted #{} invoices_refund in session {FIN}: approved and forwarded, outcome \
             unknown (gateway restarted; call.interrupted #{})",
            refund.seq,
            refund.seq + 5
        ),
        format!(
            "interrupted #{} customers_get in session {FIN}: forwarded, outcome unknown \
             (gateway restarted; call.interrupted #{})",
            read.seq,
            read.seq + 3
        ),
    ] {
        assert!(shown.contains(&line), "{line}\n{shown}");
    }
    let o = run(&["sessions", d, "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let fin = &v["sessions"][0];
    assert_eq!(fin["outcomes"]["interrupted"], 2, "{v}");
    assert_eq!(fin["outcomes"]["ok"], 1, "{v}");
    assert_eq!(fin["interrupted"][0]["seq"], refund.seq, "{v}");
    assert_eq!(fin["interrupted"][0]["approval_id"], apr, "{v}");
    assert_eq!(fin["interrupted"][1]["approval_id"], Value::Null, "{v}");

    let o = run(&["replay", d, "--session", FIN, "--pubkey", &pubkey()]);
    let shown = stdout(&o, dir.path());
    assert!(shown.contains("2 outcome unknown"), "{shown}");
    assert!(
        shown.contains(&format!(
            "approved and forwarded, outcome unknown (gateway restarted; call.interrupted #{})",
            refund.seq + 5
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "forwarded, outcome unknown (gateway restarted; call.interrupted #{})",
            read.seq + 3
        )),
        "{shown}"
    );
    assert!(
        !shown.contains(&format!("approval {apr} expired")),
        "the approved refund did not expire: {shown}"
    );

    let html = dir.path().join("replay.html");
    let o = run(&[
        "replay",
        d,
        "--session",
        FIN,
        "--pubkey",
        &pubkey(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(
        page.matches("class=\"step s-warn\" data-status=\"interrupted\"")
            .count(),
        2,
        "{page}"
    );
    assert!(
        page.contains("approved and forwarded, outcome unknown (gateway restarted"),
        "{page}"
    );
}

/// A ledger of a gateway older than `call.interrupted`: the approved refund was forwarded when
/// the gateway died, and the restart recorded its approval as expired. The replay shows it as
/// approved and forwarded without a result, not as waiting for approval, and says what the
/// expiry means.
#[test]
fn replay_of_an_old_restart_shows_the_granted_call_as_forwarded() {
    use support::script::{Principal, Script, approver};
    let mut s = Script::new();
    s.start();
    let mut fin = s.open(0xa1, Principal::finance_bot());
    let r = s.call(
        &mut fin,
        "invoices_refund",
        serde_json::json!({"invoiceId": "inv_9", "amountCents": 250000, "reason": "churn"}),
        None,
    );
    s.receipt(&r, &approver("dana", 1), true, 1, 60_000_000);
    s.receipt(&r, &approver("erin", 2), true, 2, 30_000_000);
    s.expire(&r, "gateway_restart");
    s.start();
    let dir = tempfile::tempdir().unwrap();
    support::writer::write(dir.path(), &s.events, &support::writer::Layout::default());
    let d = dir.path().to_str().unwrap();
    let o = run(&["replay", d, "--session", &fin.id, "--pubkey", &pubkey()]);
    let shown = stdout(&o, dir.path());
    assert!(shown.contains("1 no result"), "{shown}");
    assert!(!shown.contains("awaiting approval"), "{shown}");
    assert!(
        shown.contains("approved and forwarded, but no result is recorded"),
        "{shown}"
    );
    assert!(
        shown.contains("recorded after all its grants, by a gateway older than call.interrupted"),
        "{shown}"
    );
}

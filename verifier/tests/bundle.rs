//! Black-box tests of `export` and of `verify` on evidence bundles: subsets verify on their own
//! (also across a key rotation), and any altered entry, proof, checkpoint or file is caught with
//! its reason.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::writer::{self, Layout};
use support::{golden, pubkey, run, text};

/// Writes the standard run and exports a bundle with `filters`; returns (tempdir, bundle dir).
fn export(filters: &[&str], layout: &Layout) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    writer::write(&ledger, &support::script::standard().events, layout);
    let out = dir.path().join("bundle");
    let key = pubkey();
    let mut args = vec![
        "export",
        ledger.to_str().unwrap(),
        "--pubkey",
        &key,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(filters);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    (dir, out)
}

fn verify_json(bundle: &Path) -> (Option<i32>, Value) {
    let o = run(&[
        "verify",
        bundle.to_str().unwrap(),
        "--pubkey",
        &pubkey(),
        "--json",
    ]);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    (o.status.code(), v)
}

fn seqs(bundle: &Path) -> Vec<u64> {
    std::fs::read_to_string(bundle.join("entries.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

const FIN: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";

#[test]
fn whole_ledger_bundle_verifies_with_golden_summary() {
    let (dir, out) = export(&["--format", "ocsf,csv"], &Layout::default());
    let (code, v) = verify_json(&out);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["entries"], 25);
    assert_eq!(v["selected"], 25);
    let o = run(&["verify", out.to_str().unwrap(), "--pubkey", &pubkey()]);
    assert_eq!(o.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&o.stdout).replace(dir.path().to_str().unwrap(), "TMP");
    golden("bundle_verify_all.txt", &stdout);
    golden(
        "bundle_summary.csv",
        &std::fs::read_to_string(out.join("summary.csv")).unwrap(),
    );
    golden(
        "bundle_ocsf.jsonl",
        &std::fs::read_to_string(out.join("ocsf.jsonl")).unwrap(),
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("MANIFEST.json")).unwrap()).unwrap();
    let files: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 8, "{files:?}");
    assert!(
        files.iter().any(|f| f.starts_with("policies/")),
        "{files:?}"
    );
}

#[test]
fn session_subset_holds_its_context_and_verifies() {
    let (_dir, out) = export(&["--session", FIN], &Layout::default());
    let (code, v) = verify_json(&out);
    assert_eq!(code, Some(0), "{v}");
    let s = seqs(&out);
    // genesis, gateway.start, policy.loaded, catalog.loaded come along as context.
    assert_eq!(&s[..4], &[0, 1, 2, 3]);
    // The analyst's session (opened at seq 8, listed at 9) is not in it.
    assert!(!s.contains(&8) && !s.contains(&9), "{s:?}");
    assert_eq!(v["selected"], 16, "{v}");
    assert_eq!(v["gateway"]["sessions"], 1);
}

#[test]
fn tool_and_time_subsets_verify_and_carry_requests_with_results() {
    let (_dir, out) = export(&["--tool", "invoices_list"], &Layout::default());
    let (code, v) = verify_json(&out);
    assert_eq!(code, Some(0), "{v}");
    let entries = std::fs::read_to_string(out.join("entries.jsonl")).unwrap();
    assert_eq!(entries.matches("\"kind\":\"call.request\"").count(), 2);
    assert_eq!(entries.matches("\"kind\":\"call.result\"").count(), 2);
    assert!(entries.contains("\"kind\":\"session.open\""));

    // A window that holds a request but not its result: the result comes along.
    let (_dir, out) = export(
        &[
            "--since",
            "2026-11-21T09:00:00.29Z",
            "--until",
            "2026-11-21T10:00:00.2952+01:00",
        ],
        &Layout::default(),
    );
    let (code, v) = verify_json(&out);
    assert_eq!(code, Some(0), "{v}");
    assert!(v["selected"].as_u64().unwrap() >= 1, "{v}");
    let s = seqs(&out);
    assert!(s.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn bundle_across_a_key_rotation_verifies_with_the_genesis_key_only() {
    let layout = Layout {
        rotate_before: Some(10),
        batch: 3,
        ..Layout::default()
    };
    let (_dir, out) = export(&["--session", FIN], &layout);
    assert!(out.join("rotations.jsonl").is_file());
    let (code, v) = verify_json(&out);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["keys"].as_array().unwrap().len(), 2);

    // A forged rotation (its checkpoint not co-signed by the old key) is refused.
    let rot = std::fs::read_to_string(out.join("rotations.jsonl")).unwrap();
    let mut doc: Value = serde_json::from_str(rot.trim()).unwrap();
    let note = doc["checkpoint"].as_str().unwrap().to_owned();
    let signers: Vec<&str> = note.lines().filter(|l| l.starts_with('—')).collect();
    assert_eq!(signers.len(), 2, "{note}");
    let forged = note.replace(&format!("{}\n", signers[0]), "");
    doc["checkpoint"] = Value::String(forged);
    std::fs::write(out.join("rotations.jsonl"), format!("{doc}\n")).unwrap();
    let (code, v) = verify_json(&out);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["error"], "BadRotation", "{v}");
}

/// Replaces the first occurrence of `from` in line `line` of `file`.
fn alter(bundle: &Path, file: &str, from: &str, to: &str) {
    let p = bundle.join(file);
    let t = std::fs::read_to_string(&p).unwrap();
    assert!(t.contains(from), "{from} not in {file}");
    std::fs::write(&p, t.replacen(from, to, 1)).unwrap();
}

#[test]
fn one_altered_entry_is_invalid_with_its_seq_and_reason() {
    let (dir, out) = export(&["--session", FIN], &Layout::default());
    // The refund amount, changed by one digit in the evidence.
    alter(
        &out,
        "entries.jsonl",
        "\"amountCents\":2500",
        "\"amountCents\":2600",
    );
    let (code, v) = verify_json(&out);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["error"], "NotInCheckpoint", "{v}");
    let seq = v["seq"].as_u64().unwrap();
    let o = run(&["verify", out.to_str().unwrap(), "--pubkey", &pubkey()]);
    assert_eq!(o.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&o.stdout).replace(dir.path().to_str().unwrap(), "TMP");
    assert!(stdout.contains(&format!("entry seq {seq} is not in the signed checkpoint")));
    golden("bundle_altered_entry.txt", &stdout);
}

#[test]
fn altered_entry_with_a_recomputed_manifest_is_still_invalid() {
    let (_dir, out) = export(&["--session", FIN], &Layout::default());
    alter(
        &out,
        "entries.jsonl",
        "\"outcome\":\"tool_error\"",
        "\"outcome\":\"ok\"",
    );
    // The forger also fixes up the manifest: the proof still fails.
    let m = out.join("MANIFEST.json");
    let mut manifest: Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    let bytes = std::fs::read(out.join("entries.jsonl")).unwrap();
    for f in manifest["files"].as_array_mut().unwrap() {
        if f["path"] == "entries.jsonl" {
            f["bytes"] = bytes.len().into();
            f["blake3"] = blake3::hash(&bytes).to_hex().to_string().into();
        }
    }
    std::fs::write(&m, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    let (code, v) = verify_json(&out);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["error"], "NotInCheckpoint", "{v}");
}

#[test]
fn other_tamperings_are_caught() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "proofs.jsonl",
            "\"proof\":[\"",
            "\"proof\":[\"0",
            "BadProof",
        ),
        ("checkpoint.txt", "\n25\n", "\n24\n", "BadSignature"),
        (
            "summary.csv",
            "invoices_list",
            "invoices_lust",
            "FileMismatch",
        ),
        ("keys.txt", "# genesis key", "# the key", "FileMismatch"),
    ];
    for (file, from, to, code_expected) in cases {
        let (_dir, out) = export(&["--format", "csv"], &Layout::default());
        alter(&out, file, from, to);
        let (code, v) = verify_json(&out);
        assert_eq!(code, Some(1), "{file}: {v}");
        assert_eq!(v["error"], *code_expected, "{file}: {v}");
    }
    // A dropped entry line (with its proof) is fine for the proofs but not for the manifest.
    let (_dir, out) = export(&[], &Layout::default());
    std::fs::write(out.join("extra.txt"), "note").unwrap();
    let (code, v) = verify_json(&out);
    assert_eq!((code, v["error"].as_str()), (Some(1), Some("UnlistedFile")));
    // The wrong key.
    let (_dir, out) = export(&[], &Layout::default());
    let other = writer::key(9).verifier_key().to_string();
    let o = run(&["verify", out.to_str().unwrap(), "--pubkey", &other]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not a trusted key"), "{}", text(&o));
}

#[test]
fn export_refuses_an_invalid_ledger_and_a_nonempty_out() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    support::standard_ledger(&ledger);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("x"), "").unwrap();
    let key = pubkey();
    let o = run(&[
        "export",
        ledger.to_str().unwrap(),
        "--pubkey",
        &key,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&[
        "export",
        ledger.to_str().unwrap(),
        "--pubkey",
        &writer::key(9).verifier_key().to_string(),
        "--out",
        dir.path().join("new").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!dir.path().join("new").exists());
    let o = run(&[
        "export",
        ledger.to_str().unwrap(),
        "--pubkey",
        &key,
        "--out",
        dir.path().join("new").to_str().unwrap(),
        "--since",
        "yesterday",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("not an RFC 3339 date-time"),
        "{}",
        text(&o)
    );
}

#[test]
fn bundle_of_an_approved_call_carries_its_grants_and_verifies() {
    use serde_json::json;
    use support::script::{Principal, Script, approver};
    let mut s = Script::new();
    s.start();
    let mut fin = s.open(0xa1, Principal::finance_bot());
    let r = s.call(
        &mut fin,
        "invoices_refund",
        json!({"invoiceId": "inv_9", "amountCents": 250000, "reason": "churn"}),
        None,
    );
    s.receipt(&r, &approver("dana", 1), true, 1, 60_000_000);
    s.receipt(&r, &approver("erin", 2), true, 2, 60_000_000);
    s.result_ok(&r, 80_000, json!({"refundId": "re_9"}));
    s.close(&fin, "eof");
    s.stop();
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    writer::write(&ledger, &s.events, &Layout::default());
    let key = pubkey();
    for (name, filter) in [
        ("tool", &["--tool", "invoices_refund"][..]),
        // Only the result is selected: its request comes along, its grants do not.
        (
            "late",
            &[
                "--tool",
                "invoices_refund",
                "--since",
                "2026-11-21T09:01:30Z",
            ][..],
        ),
    ] {
        let out = dir.path().join(name);
        let mut args = vec![
            "export",
            ledger.to_str().unwrap(),
            "--pubkey",
            &key,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(filter);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let (code, v) = verify_json(&out);
        assert_eq!(code, Some(0), "{name}: {v}");
        let entries = std::fs::read_to_string(out.join("entries.jsonl")).unwrap();
        let grants = entries.matches("\"kind\":\"approval.granted\"").count();
        assert_eq!(grants, if name == "tool" { 2 } else { 0 }, "{name}");
    }
}

/// The scripted kill-and-restart run: exports carry the `call.interrupted` entries of the
/// selected calls (and the requests of selected interruptions), verify on their own, and the
/// derived formats say "outcome unknown" — OCSF status Unknown (0) with the reason in
/// `status_detail`, the CSV in `outcome`.
#[test]
fn exports_of_an_interrupted_run_say_outcome_unknown() {
    use support::script::interrupted;
    let (s, read, refund) = interrupted();
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    writer::write(&ledger, &s.events, &Layout::default());
    let key = pubkey();
    let export = |name: &str, filter: &[&str]| -> PathBuf {
        let out = dir.path().join(name);
        let mut args = vec![
            "export",
            ledger.to_str().unwrap(),
            "--pubkey",
            &key,
            "--out",
            out.to_str().unwrap(),
            "--format",
            "ocsf,csv",
        ];
        args.extend_from_slice(filter);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        out
    };
    let interruptions = |out: &Path| -> usize {
        std::fs::read_to_string(out.join("entries.jsonl"))
            .unwrap()
            .matches("\"kind\":\"call.interrupted\"")
            .count()
    };

    let out = export("session", &["--session", FIN]);
    assert_eq!(interruptions(&out), 2);
    let (code, v) = verify_json(&out);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(
        v["gateway"]["interrupted"].as_array().unwrap().len(),
        2,
        "{v}"
    );

    let ocsf = std::fs::read_to_string(out.join("ocsf.jsonl")).unwrap();
    let event = |seq: u64| -> Value {
        ocsf.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|e| e["metadata"]["sequence"] == seq)
            .unwrap()
    };
    for (seq, detail) in [
        (
            refund.seq,
            "approval_pending/interrupted: approved and forwarded, outcome unknown (gateway restarted)",
        ),
        (
            read.seq,
            "forward/interrupted: forwarded, outcome unknown (gateway restarted)",
        ),
    ] {
        let e = event(seq);
        assert_eq!(e["status_id"], 0, "{e}");
        assert_eq!(e["status"], "Unknown", "{e}");
        assert_eq!(e["status_detail"], detail, "{e}");
        assert_eq!(e["unmapped"]["outcome"], "unknown", "{e}");
        assert!(e["unmapped"]["interrupted_seq"].is_u64(), "{e}");
    }
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let row = |seq: u64| -> &str {
        csv.lines()
            .find(|l| l.starts_with(&format!("{seq},")))
            .unwrap()
    };
    assert!(
        row(read.seq).contains(",forward,\"forwarded, outcome unknown (gateway restarted)\","),
        "{csv}"
    );
    assert!(
        row(refund.seq).contains(
            ",approval_pending,\"approved and forwarded, outcome unknown (gateway restarted)\","
        ),
        "{csv}"
    );

    // By tool: the read's interruption comes along with its request.
    let out = export("tool", &["--tool", "customers_get"]);
    assert_eq!(interruptions(&out), 1);
    let (code, v) = verify_json(&out);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["gateway"]["interrupted"][0]["seq"], read.seq, "{v}");

    // From the restart on: the interruptions bring their requests, not the refund's grants,
    // and the bundle still verifies (A4's and G5's count of grants needs the whole ledger).
    let out = export("late", &["--since", "2026-11-21T09:01:30.3355Z"]);
    assert_eq!(interruptions(&out), 2);
    let s = seqs(&out);
    assert!(s.contains(&read.seq) && s.contains(&refund.seq), "{s:?}");
    assert!(!s.contains(&(refund.seq + 1)), "no grant: {s:?}");
    let (code, v) = verify_json(&out);
    assert_eq!(code, Some(0), "{v}");
}

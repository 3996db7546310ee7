//! What privacy costs per call, as ratios to limits measured in the same run
//! (`docs/benchmarks.md`, "Privacy"):
//!
//! 1. **Keyed digests**: `blake3mac` (`DigestKey::digest`) against plain BLAKE3 over the same
//!    bytes, at the sizes a call's request, arguments and result have.
//! 2. **The redaction pass of one call** as the gateway runs it now (the three plans, by-value
//!    redaction of arguments, result and response, three keyed digests) against the pass before
//!    this revision (the three plans and three plain digests), on a patient record with
//!    committed, masked and hidden fields.
//! 3. **The vault**: `Vault::keep` of one call's committed values (seal, one write, `fdatasync`)
//!    against the limit — one `write` of the same bytes and `fdatasync` on the same filesystem —
//!    and against what a call already pays the ledger: one durable `Ledger::append` of its
//!    `call.request` (a call makes two).
//!
//! `cargo bench -p auditgate --bench privacy`; `AUDITGATE_BENCH_DIR` picks the filesystem (not
//! tmpfs, where `fdatasync` is free). Absolute times are printed, never asserted.
#![allow(clippy::unwrap_used, reason = "benchmark harness")]

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use auditgate::vault::{Kept, Vault, committed};
use auditgate_ledger::{Draft, Ledger, LedgerOptions, SigningKey, canonical};
use auditgate_policy::{CommitKey, DigestKey, Exposure, Policy, Request, ToolKind};
use serde_json::{Value, json};

const POLICY: &str = r#"
version = 1
[defaults]
tier = "allow"
[audit]
args = [{ path = "**.ssn", mode = "commit" }, { path = "**.patientId", mode = "commit" },
        { path = "**.email", mode = "mask" }]
result = [{ path = "**.ssn", mode = "commit" }, { path = "**.patientId", mode = "commit" },
          { path = "**.email", mode = "mask" }, { path = "**.dob", mode = "commit" }]
[response]
hide = [{ path = "**.ssn", mode = "drop" }, { path = "**.dob", mode = "drop" }]
"#;

fn median<F: FnMut()>(iterations: usize, mut f: F) -> Duration {
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

fn ns(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

fn patient(i: usize) -> Value {
    json!({
        "_id": format!("k57patient{i:08}"), "patientId": format!("pt-{i:06}"),
        "name": "Ada Lovelace", "ssn": format!("987-65-{:04}", i % 10_000),
        "dob": "1815-12-10", "email": "ada@example.org",
        "notes": "Seen for a follow-up; patient pt-000001 asked about results.",
        "appointments": [{"slot": "2026-12-03T09:30", "room": 7}, {"slot": "2026-12-10T11:00", "room": 3}],
    })
}

/// The decision for a clinician's `patients:get` with `args`.
fn decide(policy: &Policy, args: &Value) -> auditgate_policy::Decision {
    policy.decide(&Request {
        principal: "key:clinician",
        roles: &["clinician".into()],
        tool: "patients_get",
        function_path: Some("patients:get"),
        kind: ToolKind::Query,
        args,
    })
}

fn digests(data: &[(&str, Vec<u8>)], key: &DigestKey) {
    println!("| bytes | plain BLAKE3 ns | blake3mac ns | ratio |");
    println!("|---|---|---|---|");
    for (name, bytes) in data {
        let plain = median(20_000, || {
            std::hint::black_box(blake3::hash(std::hint::black_box(bytes)));
        });
        let keyed = median(20_000, || {
            std::hint::black_box(key.digest(std::hint::black_box(bytes)));
        });
        println!(
            "| {name} ({} B) | {:.0} | {:.0} | {:.2} |",
            bytes.len(),
            ns(plain),
            ns(keyed),
            ns(keyed) / ns(plain)
        );
    }
}

fn redaction_pass(policy: &Policy, key: &CommitKey, digest_key: &DigestKey) {
    let args = json!({"patientId": "pt-000001", "ssn": "987-65-0001", "email": "ada@example.org",
                      "note": "re-check ssn 987-65-0001"});
    let result = json!({"documents": (0..10).map(patient).collect::<Vec<_>>()});
    let decision = decide(policy, &args);
    let raw = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                          "params": {"name": "patients_get", "arguments": args}}))
    .unwrap();
    let mut before_pass = || {
        let a = decision.audit_args.apply(&args, key);
        let r = decision.audit_result.apply(&result, key);
        let s = decision.response.apply(&result, key);
        let d = [
            blake3::hash(&raw),
            blake3::hash(&canonical::encode(&args)),
            blake3::hash(&canonical::encode(&result)),
        ];
        std::hint::black_box((a, r, s, d));
    };
    let mut now_pass = || {
        let mut a = decision.audit_args.apply(&args, key);
        Exposure::of(&a.originals.0).scrub_in_place(&mut a.value);
        let mut r = decision.audit_result.apply(&result, key);
        Exposure::of(a.originals.0.iter().chain(&r.originals.0)).scrub_in_place(&mut r.value);
        let mut s = decision.response.apply(&result, key);
        Exposure::of(&s.originals.0).scrub_in_place(&mut s.value);
        let d = [
            digest_key.digest(&raw),
            digest_key.digest(&canonical::encode(&args)),
            digest_key.digest(&canonical::encode(&result)),
        ];
        std::hint::black_box((a, r, s, d));
    };
    // Alternating rounds, the best median of each: both paths see the same machine state.
    let (mut before, mut now) = (Duration::MAX, Duration::MAX);
    for _ in 0..8 {
        before = before.min(median(400, &mut before_pass));
        now = now.min(median(400, &mut now_pass));
    }
    println!(
        "\nredaction pass of one call (10 patient documents, {} B result):\n\
         | path | µs per call | ratio |\n|---|---|---|\n\
         | before (plans + plain digests) | {:.1} | 1.00 |\n\
         | now (plans + by-value + keyed digests) | {:.1} | {:.2} |",
        canonical::encode(&result).len(),
        ns(before) / 1e3,
        ns(now) / 1e3,
        ns(now) / ns(before)
    );
}

fn raw_fdatasync(dir: &Path, bytes: usize, iterations: usize) -> Duration {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("raw.bin"))
        .unwrap();
    let data = vec![b'x'; bytes];
    median(iterations, || {
        file.write_all(&data).unwrap();
        file.sync_data().unwrap();
    })
}

fn vault(root: &Path, key: &CommitKey, policy: &Policy) {
    let vault = Vault::open(&root.join("vault"), &["$.patientId".into()], key).unwrap();
    let args = json!({"patientId": "pt-000001", "ssn": "987-65-0001"});
    let decision = decide(policy, &args);
    let kept: Vec<Kept> = committed(&decision.audit_args.apply(&args, key), key);
    let subject = vault.subject_of(&args).unwrap();
    vault.keep(&subject, "request:bench", &kept).unwrap();
    let iterations = 400;
    let keep = median(iterations, || {
        vault.keep(&subject, "request:bench", &kept).unwrap()
    });
    let record_bytes = std::fs::metadata(root.join("vault/records.jsonl"))
        .unwrap()
        .len() as usize
        / (iterations + 1);
    let limit = raw_fdatasync(root, record_bytes, iterations);

    let ledger_dir = root.join("ledger");
    let ledger = Ledger::create(
        &ledger_dir,
        SigningKey::generate("bench").unwrap(),
        LedgerOptions::default(),
    )
    .unwrap();
    let redacted = decision.audit_args.apply(&args, key);
    let body = json!({"session": "a".repeat(32), "request_id": 1, "principal": "clinician",
                      "tool": "patients_get", "args": redacted.value,
                      "args_digest": "blake3mac:".to_string() + &"0".repeat(64),
                      "decision": {"tier": "allow"}, "disposition": "forward"});
    let append = median(iterations, || {
        ledger
            .append(Draft::from_value("call.request", &body).unwrap())
            .unwrap();
    });
    ledger.close();
    println!(
        "\nvault per call ({} committed values, {record_bytes} B record):\n\
         | what | µs | ratio |\n|---|---|---|\n\
         | limit: write + fdatasync of the same bytes | {:.0} | 1.00 |\n\
         | Vault::keep (seal, write, fdatasync) | {:.0} | {:.2} of the limit |\n\
         | one durable ledger append (a call makes two) | {:.0} | keep = {:.2} of a call's two appends |",
        kept.len(),
        ns(limit) / 1e3,
        ns(keep) / 1e3,
        ns(keep) / ns(limit),
        ns(append) / 1e3,
        ns(keep) / (2.0 * ns(append))
    );
}

fn main() {
    let root = match std::env::var_os("AUDITGATE_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let key = CommitKey::from_bytes([7; 32]);
    let digest_key = DigestKey::derive(&key);
    let (policy, _) = Policy::parse("bench.toml", POLICY.as_bytes()).unwrap();
    println!("auditgate privacy benchmark ({})\n", root.path().display());
    let result = canonical::encode(&json!((0..10).map(patient).collect::<Vec<_>>()));
    digests(
        &[
            (
                "arguments",
                canonical::encode(&json!({"patientId": "pt-1", "ssn": "987-65-0001"})),
            ),
            ("request", vec![b'r'; 1_024]),
            ("result, 10 patients", result),
            ("result, 64 KiB", vec![b'x'; 65_536]),
        ],
        &digest_key,
    );
    redaction_pass(&policy, &key, &digest_key);
    vault(root.path(), &key, &policy);
}

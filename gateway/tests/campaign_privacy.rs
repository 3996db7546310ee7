//! The privacy campaign (issue 15): canary values in every protected field of the test app's
//! calls — arguments, results, thrown `ConvexError` data, log lines, data-tool documents and
//! filters, a pending approval — over HTTP and stdio, with the gateway logging at `debug`. Then
//! every byte the gateway wrote or printed is searched: the gateway folder (segments, index,
//! vault), its stdout and stderr, the evidence bundle in every format, the replay text and HTML,
//! `sessions`, `what-if`, `status`, the operator's approval listing; and what agents were shown,
//! for the values hidden from them. Zero canaries may be found. A dictionary of 100,000
//! candidates holding the true value matches no digest of the bundle. Then crypto-erasure end to
//! end through the CLI: reveal, erase, reveal refused, verify valid, a bundle exported after it
//! holds nothing of the subject.
#![allow(clippy::unwrap_used, reason = "tests")]

mod campaign;
mod support;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use auditgate_ledger::canonical;
use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, bytes_under, gateway_bin, of_kind, text};

/// Committed in the ledger, hidden from agents.
const C_SSN: &str = "987-61-2345";
const C_PATIENT: &str = "pt-canary-5b1e";
const C_SLOT: &str = "slot-canary-2026-12-03T0930";
const C_APPROVAL_SSN: &str = "987-63-4242";
const C_FILTER_SSN: &str = "987-64-1010";
const C_STDIO: &str = "987-66-5656";
const C_EMAIL: &str = "canary.mail@clinic.example";
/// Seeded in the test app's patients table: the agent never supplies them.
const SEEDED_SSNS: [&str; 3] = ["987-65-4321", "111-22-3333", "123-45-6789"];

const POLICY: &str = r#"
version = 1
[defaults]
tier = "allow"
[defaults.approval]
roles = ["finance-lead"]
timeout = "3s"
[audit]
args = [{ path = "**.ssn", mode = "commit" }, { path = "**.patientId", mode = "commit" },
        { path = "**.slot", mode = "commit" }, { path = "**.email", mode = "mask" }]
result = [{ path = "**.ssn", mode = "commit" }, { path = "**.patientId", mode = "commit" },
          { path = "**.slot", mode = "commit" }, { path = "**.email", mode = "mask" }]
[response]
hide = [{ path = "**.ssn", mode = "drop" }, { path = "**.slot", mode = "drop" },
        { path = "**.email", mode = "drop" }]
[[rules]]
id = "lookups-wait"
match.function = ["diagnostics:lookup"]
tier = "approval_required"
"#;

/// Every canary the agent sent (it may see its own back) and every one it never had.
fn sent() -> Vec<&'static str> {
    vec![
        C_SSN,
        C_PATIENT,
        C_SLOT,
        C_APPROVAL_SSN,
        C_FILTER_SSN,
        C_STDIO,
        C_EMAIL,
    ]
}

fn all_canaries() -> Vec<&'static str> {
    let mut all = sent();
    all.extend(SEEDED_SSNS);
    all
}

/// The canaries found in `bytes` (also in their JSON-escaped and URL-safe forms).
fn found<'a>(bytes: &[u8], canaries: &[&'a str]) -> Vec<&'a str> {
    canaries
        .iter()
        .copied()
        .filter(|c| bytes.windows(c.len()).any(|w| w == c.as_bytes()))
        .collect()
}

/// `auditgate serve --http` logging at debug, stdout and stderr kept in files.
#[allow(
    clippy::zombie_processes,
    reason = "the caller stops and waits for the child"
)]
fn spawn_logged(dir: &GatewayDir, logs: &Path) -> (Child, String) {
    let out = std::fs::File::create(logs.join("http.stdout")).unwrap();
    let err_path = logs.join("http.stderr");
    let err = std::fs::File::create(&err_path).unwrap();
    let child = Command::new(gateway_bin())
        .args(["serve", "--http", "127.0.0.1:0", "--config"])
        .arg(dir.config_path())
        .env("AUDITGATE_LOG", "debug")
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    for _ in 0..600 {
        let text = std::fs::read_to_string(&err_path).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("auditgate: listening on "))
        {
            return (child, line.to_string());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the gateway did not start: {}",
        std::fs::read_to_string(&err_path).unwrap()
    );
}

fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

fn run(bin: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin).args(args).output().unwrap()
}

/// One stdio session: initialize, one call with a canary, EOF. Returns (stdout, stderr).
fn stdio_session(dir: &GatewayDir) -> (Vec<u8>, Vec<u8>) {
    let mut child = Command::new(gateway_bin())
        .args(["serve", "--stdio", "--config"])
        .arg(dir.config_path())
        .env("AUDITGATE_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |v: Value| writeln!(stdin, "{v}").unwrap();
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "privacy-campaign", "version": "1"}}}),
    );
    let mut out = Vec::new();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    out.extend(line.as_bytes());
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "diagnostics_echo",
        "arguments": {"value": {"patientId": C_PATIENT, "ssn": C_STDIO}}}}),
    );
    line.clear();
    stdout.read_line(&mut line).unwrap();
    out.extend(line.as_bytes());
    let answer: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    drop(stdin);
    let rest = child.wait_with_output().unwrap();
    assert!(rest.status.success());
    out.extend(rest.stdout);
    (out, rest.stderr)
}

struct Seen {
    /// What HTTP agents were shown (results, errors, refusals).
    agent: Vec<u8>,
    /// The operator's listing of the pending approval.
    listing: Vec<u8>,
}

/// The HTTP part: every kind of protected field, one call each.
async fn http_calls(url: &str, dir: &GatewayDir) -> Seen {
    let mut agent = Vec::new();
    let mut mcp = Mcp::new(url, Some(dir.token("alice")));
    mcp.initialize().await;
    let mut shown = |v: &Value| agent.extend(v.to_string().as_bytes());

    // An argument, echoed back in the result, and repeated inside a sentence (by-value
    // redaction: the same call's protected value, at a path no plan names).
    let r = mcp
        .call(
            "diagnostics_echo",
            json!({"value": {"patientId": C_PATIENT, "ssn": C_SSN, "email": C_EMAIL,
                             "note": format!("patient ssn {C_SSN} on file")}}),
        )
        .await;
    shown(&r);
    // A thrown ConvexError carrying a slot, logged before it is thrown.
    let r = mcp
        .call(
            "diagnostics_raise",
            json!({"data": {"code": "SLOT_TAKEN", "slot": C_SLOT, "patientId": C_PATIENT}}),
        )
        .await;
    assert_eq!(r["isError"], true, "{r}");
    shown(&r);
    // Data tools: documents with seeded SSNs the agent never had, and a filter on a hidden field.
    let r = mcp
        .call("convex_query_documents", json!({"table": "patients"}))
        .await;
    assert_eq!(r["isError"], false, "{r}");
    shown(&r);
    let r = mcp
        .call(
            "convex_query_documents",
            json!({"table": "patients", "filter": {"ssn": C_FILTER_SSN}}),
        )
        .await;
    assert_eq!(
        r["isError"], true,
        "a filter on a hidden field is refused: {r}"
    );
    shown(&r);

    // A pending approval: the operator lists it while the agent waits; it lapses.
    let base = url.trim_end_matches("/mcp").to_string();
    let waiting = {
        let url = url.to_string();
        let token = dir.token("alice");
        tokio::spawn(async move {
            let mut c = Mcp::new(&url, Some(token));
            c.initialize().await;
            c.call("diagnostics_lookup", json!({"ssn": C_APPROVAL_SSN}))
                .await
        })
    };
    let http = reqwest::Client::new();
    let mut listing = Vec::new();
    for _ in 0..200 {
        let v: Value = http
            .get(format!("{base}/admin/approvals"))
            .bearer_auth(dir.token("ops"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["pending"].as_array().is_some_and(|p| !p.is_empty()) {
            listing = v.to_string().into_bytes();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!listing.is_empty(), "the approval was never listed");
    let r = waiting.await.unwrap();
    assert!(text(&r).contains("lapsed"), "{r}");
    shown(&r);
    Seen { agent, listing }
}

/// Every line of every `.jsonl` file of the bundle, parsed.
fn bundle_entries(bundle: &Path) -> Vec<Value> {
    std::fs::read_to_string(bundle.join("entries.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Given the bundle with every clear field, a 100,000-candidate dictionary holding the true SSN
/// matches no digest (plain BLAKE3 over every way the arguments or the result could be encoded).
fn dictionary_matches_no_digest(entries: &[Value]) {
    let request = entries
        .iter()
        .find(|e| e["kind"] == "call.request" && e["tool"] == "diagnostics_echo")
        .unwrap();
    let result = entries
        .iter()
        .find(|e| e["kind"] == "call.result" && e["request_seq"] == request["seq"])
        .unwrap();
    let digests: Vec<&str> = [
        &request["args_digest"],
        &request["request_digest"],
        &result["result_digest"],
    ]
    .iter()
    .map(|d| d.as_str().unwrap().split_once(':').unwrap().1)
    .collect();
    let value = |ssn: &str| {
        json!({"patientId": C_PATIENT, "ssn": ssn, "email": C_EMAIL,
               "note": format!("patient ssn {ssn} on file")})
    };
    let mut holds_truth = false;
    let mut matches = 0;
    for n in 0..100_000u32 {
        let candidate = format!("987-{:02}-{:04}", 60 + n / 10_000, n % 10_000);
        holds_truth |= candidate == C_SSN;
        let guess = value(&candidate);
        for bytes in [
            canonical::encode(&json!({"value": guess})),
            canonical::encode(&guess),
        ] {
            let plain = blake3::hash(&bytes).to_hex().to_string();
            matches += digests.iter().filter(|d| **d == plain).count();
        }
    }
    assert!(holds_truth);
    assert_eq!(matches, 0, "a digest fell to the dictionary");
}

/// Runs the verifier's read-only commands on the bundle; their outputs, concatenated.
fn forensic_outputs(verify: &Path, bundle: &Path, key: &str, policy: &Path, out: &Path) -> Vec<u8> {
    let b = bundle.to_str().unwrap();
    let mut bytes = Vec::new();
    let v = run(verify, &["verify", b, "--pubkey", key, "--json"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    bytes.extend(v.stdout);
    let s = run(verify, &["sessions", b, "--pubkey", key, "--json"]);
    assert!(s.status.success());
    let sessions: Value = serde_json::from_slice(&s.stdout).unwrap();
    bytes.extend(&s.stdout);
    for (i, session) in sessions["sessions"].as_array().unwrap().iter().enumerate() {
        let id = session["session"].as_str().unwrap();
        let t = run(verify, &["replay", b, "--session", id, "--pubkey", key]);
        assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
        bytes.extend(t.stdout);
        let html = out.join(format!("replay-{i}.html"));
        let h = run(
            verify,
            &[
                "replay",
                b,
                "--session",
                id,
                "--pubkey",
                key,
                "--html",
                html.to_str().unwrap(),
            ],
        );
        assert!(h.status.success());
        bytes.extend(std::fs::read(&html).unwrap());
    }
    let w = run(
        verify,
        &[
            "what-if",
            b,
            "--policy",
            policy.to_str().unwrap(),
            "--pubkey",
            key,
        ],
    );
    bytes.extend(w.stdout);
    bytes.extend(w.stderr);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_canary_leaves_and_erasure_holds() {
    let app = app_or_skip!();
    app.seed().await;
    let dir = GatewayDir::with_extra(
        &app.url,
        "\n[vault]\nsubject = [\"$.value.patientId\", \"$.data.patientId\"]\n",
    );
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    let logs = tempfile::tempdir().unwrap();

    let (child, url) = spawn_logged(&dir, logs.path());
    let seen = http_calls(&url, &dir).await;
    stop(child);
    let (stdio_out, stdio_err) = stdio_session(&dir);

    let verify = campaign::verifier_bin();
    let key = dir.verifier_key.to_string();
    let ledger = dir.ledger_dir();
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    let e = run(
        &verify,
        &[
            "export",
            ledger.to_str().unwrap(),
            "--pubkey",
            &key,
            "--out",
            bundle.to_str().unwrap(),
            "--format",
            "jsonl",
            "--format",
            "ocsf",
            "--format",
            "csv",
        ],
    );
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let policy = dir.path().join("policy.toml");
    let forensic = forensic_outputs(&verify, &bundle, &key, &policy, work.path());
    let status = Command::new(gateway_bin())
        .args(["status", "--json", "--config"])
        .arg(dir.config_path())
        .output()
        .unwrap();

    // Written or printed by the gateway and the tools: no canary at all.
    let all = all_canaries();
    let mut status_out = status.stdout.clone();
    status_out.extend(&status.stderr);
    let sources: [(&str, Vec<u8>); 7] = [
        (
            "the gateway folder (ledger, index, vault)",
            bytes_under(dir.path()),
        ),
        (
            "the HTTP gateway's stdout and stderr",
            bytes_under(logs.path()),
        ),
        ("the stdio gateway's stderr", stdio_err.clone()),
        ("the evidence bundle", bytes_under(&bundle)),
        (
            "verify, sessions, replay (text and HTML), what-if",
            forensic,
        ),
        ("auditgate status", status_out),
        ("the operator's approval listing", seen.listing.clone()),
    ];
    let leaks: Vec<(&str, Vec<&str>)> = sources
        .iter()
        .map(|(name, bytes)| (*name, found(bytes, &all)))
        .filter(|(_, f)| !f.is_empty())
        .collect();
    assert!(leaks.is_empty(), "canaries found: {leaks:?}");
    // The debug log did log (the search above was over something).
    let log = std::fs::read_to_string(logs.path().join("http.stderr")).unwrap();
    assert!(log.contains("DEBUG") || log.contains("debug"), "{log}");
    // Shown to agents: nothing they never had, nor the slot or the SSNs hidden from them.
    let hidden = [SEEDED_SSNS.as_slice(), &[C_SLOT, C_EMAIL]].concat();
    let mut shown = seen.agent.clone();
    shown.extend(&stdio_out);
    assert_eq!(found(&shown, &hidden), Vec::<&str>::new());

    dictionary_matches_no_digest(&bundle_entries(&bundle));
    erasure_through_the_cli(&dir, &verify, &key, work.path());
}

fn gateway(dir: &GatewayDir, args: &[&str]) -> std::process::Output {
    Command::new(gateway_bin())
        .args(args)
        .arg("--config")
        .arg(dir.config_path())
        .output()
        .unwrap()
}

fn reveal(dir: &GatewayDir, seq: u64) -> (bool, Value) {
    let out = gateway(
        dir,
        &["vault", "reveal", "--seq", &seq.to_string(), "--json"],
    );
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| json!({"stderr": String::from_utf8_lossy(&out.stderr)}));
    (out.status.success(), v)
}

/// Reveal before, erase, reveal refused after, verify valid with the erasure listed, and a bundle
/// exported afterwards holds nothing of the subject.
fn erasure_through_the_cli(dir: &GatewayDir, verify: &Path, key: &str, work: &Path) {
    let entries = dir.entries();
    let request = of_kind(&entries, "call.request")
        .into_iter()
        .find(|e| e["tool"] == "diagnostics_echo")
        .unwrap()
        .clone();
    let seq = request["seq"].as_u64().unwrap();
    let (ok, before) = reveal(dir, seq);
    assert!(ok, "{before}");
    let values: Vec<&Value> = before["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["value"])
        .collect();
    assert!(values.contains(&&json!(C_SSN)), "{before}");
    assert!(values.contains(&&json!(C_PATIENT)), "{before}");
    assert!(
        before["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "revealed"),
        "{before}"
    );

    // The subject on standard input: personal data stays out of argv.
    let mut erase = Command::new(gateway_bin())
        .args([
            "vault",
            "erase",
            "--subject",
            "-",
            "--reason",
            "GDPR Art. 17 request 42",
        ])
        .args(["--json", "--config"])
        .arg(dir.config_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(erase.stdin.take().unwrap(), "{C_PATIENT}").unwrap();
    let erase = erase.wait_with_output().unwrap();
    assert!(
        erase.status.success(),
        "{}",
        String::from_utf8_lossy(&erase.stderr)
    );
    let erased: Value = serde_json::from_slice(&erase.stdout).unwrap();
    assert!(erased["commitments"].as_u64().unwrap() >= 3, "{erased}");

    let (ok, after) = reveal(dir, seq);
    assert!(!ok, "reveal must be refused after erasure: {after}");
    assert!(
        after["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "erased" && i["value"].is_null()),
        "{after}"
    );
    let again = gateway(dir, &["vault", "erase", "--subject", C_PATIENT]);
    assert!(!again.status.success(), "a second erasure finds no key");

    let (code, verdict) = campaign::verify_cli(&dir.ledger_dir(), key, None);
    assert_eq!(code, 0, "{verdict}");
    assert_eq!(verdict["gateway"]["invariants"], "hold", "{verdict}");
    let listed: Vec<&str> = verdict["gateway"]["erased"][0]["commitments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let ssn_commitment = request["args"]["value"]["ssn"]["$commit"].as_str().unwrap();
    assert!(listed.contains(&ssn_commitment), "{verdict}");

    let bundle = work.join("after-erasure");
    let e = run(
        verify,
        &[
            "export",
            dir.ledger_dir().to_str().unwrap(),
            "--pubkey",
            key,
            "--out",
            bundle.to_str().unwrap(),
        ],
    );
    assert!(e.status.success());
    let mut everything = bytes_under(&bundle);
    everything.extend(bytes_under(dir.path()));
    assert_eq!(
        found(&everything, &[C_SSN, C_PATIENT, C_SLOT]),
        Vec::<&str>::new()
    );
    // Vault files stay owner-only.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("vault")), 0o700);
    assert_eq!(mode(&dir.path().join("vault/keys")), 0o700);
    assert_eq!(mode(&dir.path().join("vault/records.jsonl")), 0o600);
}

/// The vault survives kill -9 like the ledger: after a crash under load and a restart, every
/// commitment in the ledger can be revealed (its original was durable before its entry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_commitment_is_revealable_after_kill_9() {
    use auditgate::vault::{Revealed, Vault, access};
    let app = app_or_skip!();
    let dir = GatewayDir::with_extra(&app.url, "\n[vault]\nsubject = [\"$.value.patientId\"]\n");
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    let (mut child, url) = support::gateway::spawn_http(&dir);
    let mut load = Vec::new();
    for client in 0..4 {
        let url = url.clone();
        let token = dir.token("alice");
        load.push(tokio::spawn(async move {
            let mut mcp = Mcp::new(&url, Some(token));
            mcp.initialize().await;
            for i in 0.. {
                let args = json!({"name": "diagnostics_echo", "arguments": {"value": {
                    "patientId": format!("pt-{client}-{}", i % 7),
                    "ssn": format!("900-{client:02}-{i:04}")}}});
                let body = json!({"jsonrpc": "2.0", "id": i + 10, "method": "tools/call",
                                  "params": args});
                if mcp.post().json(&body).send().await.is_err() {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    for l in load {
        let _ = l.await;
    }
    // A restart recovers both (the ledger's torn tail, the vault's torn record).
    let (child, _) = support::gateway::spawn_http(&dir);
    support::gateway::terminate(child);

    let key_hex = std::fs::read_to_string(dir.path().join("keys/commit.key")).unwrap();
    let key = auditgate_policy::CommitKey::from_hex(&key_hex).unwrap();
    let vault = Vault::open(
        &dir.path().join("vault"),
        &["$.value.patientId".into()],
        &key,
    )
    .unwrap();
    let snapshot = vault.snapshot().unwrap();
    let mut checked = 0;
    for entry in dir.entries() {
        for item in access::reveal_in_snapshot(&snapshot, &entry, &key) {
            assert!(
                matches!(item.revealed, Revealed::Value(_)),
                "seq {}: {} is {:?}",
                entry["seq"],
                item.committed.path,
                item.revealed
            );
            checked += 1;
        }
    }
    println!("{checked} commitments in the ledger after kill -9, every one revealable");
    assert!(checked > 20, "too few calls made it: {checked}");
}

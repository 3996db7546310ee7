//! Privacy findings of issue 15, reproduced through the gateway binary against the real test app:
//! digests that could be tested against guesses (finding 1), `ConvexError` data and messages
//! written in clear (finding 2), and protected values repeated in text (by-value redaction).
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use auditgate_ledger::canonical;
use auditgate_policy::{CommitKey, DigestKey};
use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, bytes_under, of_kind, spawn_http, terminate, text};

const SSN: &str = "987-65-4321";
const SLOT: &str = "2026-12-03T09:30 room 7";

/// Commits SSNs and slots wherever they appear in arguments and results (errors included),
/// and hides slots from agents.
const POLICY: &str = r#"
version = 1
[defaults]
tier = "allow"
[audit]
args = [{ path = "**.ssn", mode = "commit" }, { path = "**.slot", mode = "commit" }]
result = [{ path = "**.ssn", mode = "commit" }, { path = "**.slot", mode = "commit" }]
[response]
hide = [{ path = "**.slot", mode = "drop" }]
"#;

fn gateway_dir(app_url: &str) -> GatewayDir {
    let dir = GatewayDir::new(app_url);
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    dir
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn run_calls(dir: &GatewayDir, calls: &[(&str, Value)]) -> Vec<Value> {
    let (child, url) = spawn_http(dir);
    let mut mcp = Mcp::new(&url, Some(dir.token("alice")));
    mcp.initialize().await;
    let mut results = Vec::new();
    for (tool, args) in calls {
        results.push(mcp.call(tool, args.clone()).await);
    }
    terminate(child);
    results
}

/// Finding 1: `args_digest` and `result_digest` were plain BLAKE3 over the unredacted values,
/// so a committed SSN fell to a dictionary of all SSNs near it. A 100,000-candidate dictionary
/// holding the true value must match no digest in the ledger, while the digest still binds the
/// exact arguments for whoever holds the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_1_digests_resist_a_dictionary_that_holds_the_value() {
    let app = app_or_skip!();
    let dir = gateway_dir(&app.url);
    let value = json!({"name": "Ada", "ssn": SSN});
    run_calls(&dir, &[("diagnostics_echo", json!({"value": value}))]).await;
    let entries = dir.entries();
    let request = of_kind(&entries, "call.request")[0];
    let result = of_kind(&entries, "call.result")[0];
    assert!(request["args"]["value"]["ssn"]["$commit"].is_string());
    let digests: Vec<String> = [
        &request["args_digest"],
        &request["request_digest"],
        &result["result_digest"],
    ]
    .iter()
    .map(|d| {
        let d = d.as_str().unwrap();
        d.split_once(':').unwrap().1.to_owned()
    })
    .collect();

    // Every clear field is known; only the SSN is guessed: 100,000 candidates around it.
    let mut matches = 0;
    for n in 0..100_000u32 {
        let candidate = format!("987-{:02}-{:04}", 60 + n / 10_000, n % 10_000);
        let guess = json!({"name": "Ada", "ssn": candidate});
        for bytes in [
            canonical::encode(&json!({"value": guess})),
            canonical::encode(&guess),
        ] {
            let plain = blake3::hash(&bytes).to_hex().to_string();
            matches += digests.iter().filter(|d| **d == plain).count();
        }
    }
    assert!(
        (0..100_000u32).any(|n| format!("987-{:02}-{:04}", 60 + n / 10_000, n % 10_000) == SSN)
    );
    assert_eq!(matches, 0, "a digest fell to the dictionary");

    // The key holder can still bind the digest to the exact arguments.
    let key = CommitKey::from_hex(&"ab".repeat(32)).unwrap();
    let digest_key = DigestKey::derive(&key);
    let exact = canonical::encode(&json!({"value": value}));
    assert!(digest_key.matches(&exact, request["args_digest"].as_str().unwrap()));
    assert!(digest_key.matches(
        &canonical::encode(&value),
        result["result_digest"].as_str().unwrap()
    ));
}

/// Finding 2: a `ConvexError`'s data and Convex's message went to the ledger as sent, so a
/// committed slot was written in clear twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_2_convex_error_data_and_message_are_redacted() {
    let app = app_or_skip!();
    let dir = gateway_dir(&app.url);
    let results = run_calls(
        &dir,
        &[(
            "diagnostics_raise",
            json!({"data": {"code": "SLOT_TAKEN", "slot": SLOT}}),
        )],
    )
    .await;
    let entries = dir.entries();
    let result = of_kind(&entries, "call.result")[0];
    assert_eq!(result["outcome"], "tool_error");
    let error = &result["error"];
    assert_eq!(error["data"]["code"], "SLOT_TAKEN");
    assert!(error["data"]["slot"]["$commit"].is_string(), "{error}");
    assert!(!error.to_string().contains(SLOT), "{error}");
    // The agent was told the code, not the slot.
    let told = text(&results[0]);
    assert!(told.contains("SLOT_TAKEN"), "{told}");
    assert!(!told.contains(SLOT), "{told}");
    assert!(!contains(&bytes_under(dir.path()), SLOT));
}

/// A protected argument repeated in a plain `Error`'s message and in a log line: no path reaches
/// it, so it is redacted by value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_values_repeated_in_text_are_redacted_by_value() {
    let app = app_or_skip!();
    let dir = gateway_dir(&app.url);
    run_calls(&dir, &[("diagnostics_lookup", json!({"ssn": SSN}))]).await;
    let entries = dir.entries();
    let result = of_kind(&entries, "call.result")[0];
    let error = result["error"].to_string();
    assert!(error.contains("no person with ssn [REDACTED]"), "{error}");
    assert!(error.contains("looking up [REDACTED]"), "{error}");
    assert!(!contains(&bytes_under(dir.path()), SSN));
}

/// A vault that cannot write (its disk is full) refuses the call before anything reaches
/// Convex, says so, and records the refusal (`vault_unavailable`); with room again, calls go
/// through and their originals are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_vault_refuses_and_records_and_forwards_nothing() {
    let app = app_or_skip!();
    let dir = GatewayDir::with_extra(&app.url, "\n[vault]\nsubject = [\"$.value.name\"]\n");
    std::fs::write(dir.path().join("policy.toml"), POLICY).unwrap();
    let vault = dir.path().join("vault");
    let Some(_tmpfs) = support::disk::Tmpfs::mount(&vault, "1m") else {
        return;
    };
    let (child, url) = spawn_http(&dir);
    let mut mcp = Mcp::new(&url, Some(dir.token("alice")));
    mcp.initialize().await;
    let before = app.calls().await.len();
    let filler = support::disk::fill(&vault);
    let refused = mcp
        .call(
            "diagnostics_echo",
            json!({"value": {"name": "Ada", "ssn": SSN}}),
        )
        .await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(text(&refused).contains("evidence vault"), "{refused}");
    assert!(
        !text(&refused).contains("vault/"),
        "no paths to the client: {refused}"
    );
    assert_eq!(app.calls().await.len(), before, "nothing reached Convex");
    std::fs::remove_file(filler).unwrap();
    let ok = mcp
        .call(
            "diagnostics_echo",
            json!({"value": {"name": "Ada", "ssn": SSN}}),
        )
        .await;
    assert_eq!(ok["isError"], false, "{ok}");
    terminate(child);
    let entries = dir.entries();
    let requests = of_kind(&entries, "call.request");
    assert_eq!(requests[0]["disposition"], "vault_unavailable");
    assert_eq!(requests[1]["disposition"], "forward");
    assert!(
        !bytes_under(dir.path())
            .windows(SSN.len())
            .any(|w| w == SSN.as_bytes())
    );
}

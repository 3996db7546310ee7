#![allow(clippy::unwrap_used, reason = "tests")]
//! Golden tests: every example policy × its table of requests (`tests/golden/cases/*.json`) →
//! decision, explanation and redacted outputs (`tests/golden/*.out.json`).
//!
//! Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test -p auditgate-policy
//! --test examples` and review the diff.

use std::path::{Path, PathBuf};

use auditgate_policy::{CommitKey, Policy, Request, ToolKind};
use serde_json::{Value, json};

/// A fixed commit key, so golden commitments are stable. Never use a constant key in production.
const KEY: [u8; 32] = [0x42; 32];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn examples() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_example_parses_without_warnings() {
    let examples = examples();
    assert_eq!(
        examples.len(),
        7,
        "examples: {:?}",
        examples.iter().map(|e| &e.0).collect::<Vec<_>>()
    );
    for (name, bytes) in examples {
        let (policy, warnings) =
            Policy::parse(&format!("{name}.toml"), &bytes).unwrap_or_else(|e| panic!("{e}"));
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        assert_eq!(policy.hash(), *blake3::hash(&bytes).as_bytes());
    }
}

fn run_case(policy: &Policy, case: &Value) -> Value {
    let key = CommitKey::from_bytes(KEY);
    let roles: Vec<String> = serde_json::from_value(case["roles"].clone()).unwrap();
    let kind: ToolKind = serde_json::from_value(case["kind"].clone()).unwrap();
    let args = case["args"].clone();
    let req = Request {
        principal: case["principal"].as_str().unwrap(),
        roles: &roles,
        tool: case["tool"].as_str().unwrap(),
        function_path: case["function"].as_str(),
        kind,
        args: &args,
    };
    let decision = policy.decide(&req);
    let explanation = policy.explain(&req);
    // explain must reach exactly the decision decide does.
    assert_eq!(
        serde_json::to_value(&explanation.decision).unwrap(),
        serde_json::to_value(&decision).unwrap()
    );
    let mut out = json!({
        "name": case["name"],
        "decision": {
            "tier": decision.tier,
            "rule_id": decision.rule_id,
            "reason": decision.reason,
            "write_capped": decision.write_capped,
            "approval": decision.approval,
            "inputs_read": decision.inputs_read,
        },
        "explain": explanation.to_string().lines().collect::<Vec<_>>(),
        "ledger_args": decision.audit_args.apply(&args, &key),
    });
    if let Some(result) = case.get("result") {
        out["ledger_result"] =
            serde_json::to_value(decision.audit_result.apply(result, &key)).unwrap();
        out["agent_result"] = serde_json::to_value(decision.response.apply(result, &key)).unwrap();
    }
    out
}

#[test]
fn golden_decisions_and_redactions() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, bytes) in examples() {
        let (policy, _) = Policy::parse(&format!("{name}.toml"), &bytes).unwrap();
        let cases_path = root().join(format!("tests/golden/cases/{name}.json"));
        let cases: Vec<Value> =
            serde_json::from_slice(&std::fs::read(&cases_path).unwrap()).unwrap();
        let outputs: Vec<Value> = cases.iter().map(|c| run_case(&policy, c)).collect();

        // Totality on real data: the word SECRET marks every value the examples' audit plans
        // must keep out of the ledger.
        for o in &outputs {
            for part in ["ledger_args", "ledger_result"] {
                let text = o.get(part).map(Value::to_string).unwrap_or_default();
                assert!(
                    !text.contains("SECRET"),
                    "{name}: {}: {part} leaks: {text}",
                    o["name"]
                );
            }
        }

        let text = serde_json::to_string_pretty(&outputs).unwrap() + "\n";
        let golden_path = root().join(format!("tests/golden/{name}.out.json"));
        if update {
            std::fs::write(&golden_path, &text).unwrap();
        } else if std::fs::read_to_string(&golden_path).ok().as_deref() != Some(text.as_str()) {
            stale.push(golden_path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "golden files differ (rerun with UPDATE_GOLDEN=1 and review the diff): {stale:?}"
    );
}

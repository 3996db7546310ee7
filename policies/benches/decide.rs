//! Throughput of `Policy::decide` on a 100-rule policy and of `RedactionPlan::apply` on a
//! 10 KiB argument object. Prints figures; asserts nothing about time.
//!
//! Run: `cargo bench -p auditgate-policy --bench decide`

use std::hint::black_box;
use std::time::{Duration, Instant};

use auditgate_policy::{CommitKey, Policy, Request, ToolKind};
use serde_json::{Value, json};

/// 100 rules in the shapes real policies use: function globs, kinds, roles, every tenth with a
/// condition on the arguments.
fn hundred_rule_policy() -> String {
    let mut text = String::from(
        "version = 1\n[defaults]\ntier = \"blocked\"\nwrite = \"ask\"\n\
         [audit]\nargs = [{ path = \"**.password\", mode = \"mask\" }]\n",
    );
    let kinds = ["query", "mutation", "action"];
    for i in 0..100 {
        text.push_str(&format!(
            "[[rules]]\nid = \"r{i}\"\nmatch.function = [\"module{i}:*\", \"dir{i}/m:exact\"]\n\
             match.kind = [\"{}\"]\nmatch.roles = [\"role{}\", \"admin\"]\ntier = \"allow\"\n",
            kinds[i % 3],
            i % 7
        ));
        if i % 10 == 0 {
            text.push_str("when = { path = \"$.amount\", op = \"lte\", value = 1000 }\n");
        }
    }
    text
}

fn ten_kib_object() -> Value {
    let lines: Vec<Value> = (0..50)
        .map(|i| {
            json!({
                "sku": format!("SKU-{i:05}"),
                "description": "A line item with a reasonably long description text",
                "quantity": i,
                "card": {"number": "4111111111111111", "cvc": "123"},
                "meta": {"password": "hunter2", "tags": ["a", "b", "c"]},
            })
        })
        .collect();
    json!({
        "customer": {"name": "Ann Example", "taxId": "DE-123456789", "email": "ann@example.com"},
        "lines": lines,
        "notes": "free text",
        "amount": 999,
    })
}

fn rate(mut f: impl FnMut(), min: Duration) -> f64 {
    // Warm up, then run in batches until `min` has passed.
    for _ in 0..1_000 {
        f();
    }
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < min {
        for _ in 0..1_000 {
            f();
        }
        n += 1_000;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let text = hundred_rule_policy();
    let (policy, _) = Policy::parse("bench.toml", text.as_bytes()).expect("bench policy parses");
    // Every rule lists the "admin" role, so kind and function decide which rule matches.
    let roles = vec!["admin".to_owned()];
    let args = json!({"amount": 5});
    let min = Duration::from_secs(2);
    let cases = [
        (
            "match at rule 51 (of 100)",
            "module51:list",
            ToolKind::Query,
        ),
        (
            "match at rule 90 (with condition)",
            "module90:list",
            ToolKind::Query,
        ),
        (
            "no match: all 100 rules tried",
            "unknown:fn",
            ToolKind::Query,
        ),
        (
            "write at rule 52, capped to approval",
            "module52:set",
            ToolKind::Mutation,
        ),
    ];
    println!("decide, 100-rule policy, one core:");
    for (name, function, kind) in cases {
        let req = Request {
            principal: "key_1",
            roles: &roles,
            tool: "some_tool",
            function_path: Some(function),
            kind,
            args: &args,
        };
        let expected = policy.decide(&req);
        println!("  ({name}: {} by {:?})", expected.tier, expected.rule_id);
        let per_sec = rate(|| drop(black_box(policy.decide(black_box(&req)))), min);
        println!("  {name:<38} {per_sec:>12.0} decisions/s");
    }

    let value = ten_kib_object();
    let size = serde_json::to_vec(&value).map(|v| v.len()).unwrap_or(0);
    let plan_text = "version = 1\n[audit]\nargs = [\n\
        { path = \"customer.taxId\", mode = \"commit\" },\n\
        { path = \"lines[*].card\", mode = \"drop\" },\n\
        { path = \"**.password\", mode = \"mask\" },\n\
        { jsonpath = \"$.notes\", mode = \"mask\" },\n]\n";
    let (plan_policy, _) = Policy::parse("plan.toml", plan_text.as_bytes()).expect("plan parses");
    let req = Request {
        principal: "key_1",
        roles: &roles,
        tool: "t",
        function_path: None,
        kind: ToolKind::Query,
        args: &value,
    };
    let decision = plan_policy.decide(&req);
    let key = CommitKey::from_bytes([7; 32]);
    let per_sec = rate(
        || {
            drop(black_box(
                decision.audit_args.apply(black_box(&value), &key),
            ))
        },
        min,
    );
    println!(
        "redaction, {size}-byte object, 4 entries (commit, drop [*], mask **, jsonpath): {per_sec:.0} redactions/s ({:.0} MiB/s)",
        per_sec * size as f64 / (1024.0 * 1024.0)
    );
    let clone_rate = rate(|| drop(black_box(black_box(&value).clone())), min);
    println!("  for scale: cloning the same object: {clone_rate:.0}/s");
}

#![allow(clippy::unwrap_used, reason = "tests")]
//! Property tests: redaction is total, commitments bind key and value, evaluation is
//! deterministic, and no input makes the parser panic.

use auditgate_policy::{CommitKey, Policy, Request, ToolKind, verify_commitment};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const SECRET_MARK: &str = "§SECRET§";

fn arb_key() -> impl Strategy<Value = String> {
    "[a-zA-Zé漢_]{1,6}"
}

/// Any JSON, with unicode strings and nested arrays and objects.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A secret value: a string, a large string, or a container holding the secret.
fn arb_secret() -> impl Strategy<Value = Value> {
    ("\\PC{0,16}", 0usize..3, 0usize..4).prop_map(|(tail, shape, reps)| {
        let s = format!("{SECRET_MARK}{tail}");
        match shape {
            0 => Value::String(s),
            1 => Value::String(s.repeat(200 * (reps + 1))),
            _ => json!({"nested": [s.clone(), {"deeper": s}], "n": reps}),
        }
    })
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn arb_location() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            arb_key().prop_map(Step::Key),
            (0usize..3).prop_map(Step::Index)
        ],
        1..5,
    )
    // A dotted path cannot start with an index on an object root in our generator; keep the first
    // step a key so the root is an object.
    .prop_map(|mut steps| {
        if let Step::Index(_) = steps[0] {
            steps[0] = Step::Key("root".into());
        }
        steps
    })
}

/// Plants `secret` at `location` inside `value`, replacing whatever is in the way.
fn plant(value: &mut Value, location: &[Step], secret: Value) {
    let Some((first, rest)) = location.split_first() else {
        *value = secret;
        return;
    };
    match first {
        Step::Key(k) => {
            if !value.is_object() {
                *value = Value::Object(Map::new());
            }
            let map = value.as_object_mut().unwrap();
            let child = map.entry(k.clone()).or_insert(Value::Null);
            plant(child, rest, secret);
        }
        Step::Index(i) => {
            if !value.is_array() {
                *value = Value::Array(Vec::new());
            }
            let items = value.as_array_mut().unwrap();
            while items.len() <= *i {
                items.push(Value::Null);
            }
            plant(&mut items[*i], rest, secret);
        }
    }
}

/// Renders a location as a dotted path, in one of three styles: exact, wildcard indices, or
/// `**.` + last key.
fn dotted(location: &[Step], style: u8) -> String {
    if style == 2
        && let Some(Step::Key(last)) = location.last()
    {
        return format!("**.{last}");
    }
    let mut out = String::new();
    for step in location {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) if style == 1 => {
                let _ = i;
                out.push_str("[*]");
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn jsonpath(location: &[Step]) -> String {
    let mut out = String::from("$");
    for step in location {
        match step {
            Step::Key(k) => out.push_str(&format!("['{k}']")),
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn policy_with(audit_args: &str) -> Policy {
    let text = format!("version = 1\n[audit]\nargs = [{audit_args}]\n");
    Policy::parse("p.toml", text.as_bytes())
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .0
}

fn request(args: &Value) -> Request<'_> {
    Request {
        principal: "p",
        roles: &[],
        tool: "t",
        function_path: None,
        kind: ToolKind::Query,
        args,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn redaction_is_total(
        base in arb_json(),
        location in arb_location(),
        secret in arb_secret(),
        style in 0u8..4,
        mode in prop::sample::select(vec!["drop", "mask", "commit"]),
    ) {
        let mut value = base;
        plant(&mut value, &location, secret.clone());
        let entry = if style == 3 {
            format!("{{ jsonpath = {:?}, mode = \"{mode}\" }}", jsonpath(&location))
        } else {
            format!("{{ path = {:?}, mode = \"{mode}\" }}", dotted(&location, style))
        };
        let policy = policy_with(&entry);
        let key = CommitKey::from_bytes([7; 32]);
        let decision = policy.decide(&request(&value));
        let redacted = decision.audit_args.apply(&value, &key);
        let out = serde_json::to_string(&redacted).unwrap();
        prop_assert!(!out.contains(SECRET_MARK), "leak with {entry}: {out}");
        prop_assert!(!redacted.report.is_empty());
        if mode == "commit" && style == 0 {
            // The exact location holds a commitment that verifies with the right key and value
            // only.
            let mut at = &redacted.value;
            for step in &location {
                at = match step {
                    Step::Key(k) => &at[k.as_str()],
                    Step::Index(i) => &at[*i],
                };
            }
            prop_assert!(verify_commitment(&key, &secret, at));
            prop_assert!(!verify_commitment(&CommitKey::from_bytes([8; 32]), &secret, at));
            prop_assert!(!verify_commitment(&key, &json!([secret]), at));
        }
    }

    #[test]
    fn commitments_bind_key_and_value(a in arb_json(), b in arb_json(), k in any::<[u8; 32]>(), flip in 0usize..32) {
        let key = CommitKey::from_bytes(k);
        let c = auditgate_policy::commit(&key, &a);
        prop_assert!(verify_commitment(&key, &a, &c));
        let mut other = k;
        other[flip] ^= 1;
        prop_assert!(!verify_commitment(&CommitKey::from_bytes(other), &a, &c));
        let canon = |v: &Value| serde_json_canonicalizer::to_vec(v).unwrap();
        if canon(&a) != canon(&b) {
            prop_assert!(!verify_commitment(&key, &b, &c));
        }
    }

    #[test]
    fn evaluation_is_deterministic(
        args in arb_json(),
        amount in prop_oneof![Just(Value::Null), any::<i64>().prop_map(Value::from), "\\PC{0,5}".prop_map(Value::String)],
        kind in prop::sample::select(ToolKind::ALL.to_vec()),
        roles in prop::collection::vec(prop::sample::select(vec!["finance", "analyst", "clinician", "researcher", "operator"]), 0..3),
        function in prop::sample::select(vec!["invoices:refund", "invoices:create", "customers:get", "patients:get", "encounters:record", "admin:stats", "research:cohort"]),
        example in prop::sample::select(vec!["finance-refunds", "health-phi", "read-only-analyst", "write-deny", "write-ask", "write-allow"]),
    ) {
        let path = format!("{}/examples/{example}.toml", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(path).unwrap();
        let (p1, _) = Policy::parse("a.toml", &bytes).unwrap();
        let (p2, _) = Policy::parse("b.toml", &bytes).unwrap();
        let mut args = args;
        if let Value::Object(map) = &mut args {
            map.insert("amountCents".into(), amount);
        }
        let roles: Vec<String> = roles.into_iter().map(String::from).collect();
        let tool = function.replace(':', "_");
        let req = Request { principal: "k", roles: &roles, tool: &tool, function_path: Some(function), kind, args: &args };
        let key = CommitKey::from_bytes([1; 32]);
        let render = |p: &Policy| {
            let d = p.decide(&req);
            let e = p.explain(&req);
            (
                serde_json::to_string(&d).unwrap(),
                serde_json::to_string(&e).unwrap(),
                serde_json::to_string(&d.audit_args.apply(&args, &key)).unwrap(),
                serde_json::to_string(&d.response.apply(&args, &key)).unwrap(),
            )
        };
        let first = render(&p1);
        prop_assert_eq!(&first, &render(&p1));
        prop_assert_eq!(&first, &render(&p2));
        // explain reaches the same decision as decide.
        prop_assert_eq!(
            serde_json::to_string(&p1.explain(&req).decision).unwrap(),
            first.0.clone()
        );
        // The listing tier is never stricter than what some call can get.
        prop_assert!(p1.listing_tier(&req) >= p1.decide(&req).tier);
    }

    #[test]
    fn parser_never_panics_on_mutated_examples(
        example in prop::sample::select(vec!["finance-refunds", "health-phi", "read-only-analyst"]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let path = format!("{}/examples/{example}.toml", env!("CARGO_MANIFEST_DIR"));
        let mut bytes = std::fs::read(path).unwrap();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = Policy::parse("fuzz.toml", &bytes);
        let _ = Policy::parse("fuzz.toml", &bytes[..cut.index(bytes.len())]);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        let _ = Policy::parse("fuzz.toml", text.as_bytes());
    }
}

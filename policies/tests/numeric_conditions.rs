#![allow(clippy::unwrap_used, reason = "tests")]
//! Property tests: conditions compare numbers by value and exactly, whatever the spelling of the
//! argument — a JSON integer, the decimal string of an int64, an integer-valued double — and at
//! any magnitude an int64 has (beyond 2^53 too).

use auditgate_policy::{Policy, Request, Tier, ToolKind};
use proptest::prelude::*;
use serde_json::{Value, json};

const MAX_SAFE: i64 = (1 << 53) - 1;

fn policy(op: &str, value: &str) -> Policy {
    let text = format!(
        "version = 1\n[defaults]\ntier = \"blocked\"\nwrite = \"allow\"\n\n[[rules]]\nid = \"r\"\n\
         when = {{ path = \"$.n\", op = \"{op}\", value = {value} }}\ntier = \"allow\"\n"
    );
    Policy::parse("p.toml", text.as_bytes()).unwrap().0
}

fn holds(policy: &Policy, args: &Value) -> bool {
    let req = Request {
        principal: "key:p",
        roles: &[],
        tool: "t",
        function_path: Some("m:f"),
        kind: ToolKind::Query,
        args,
    };
    policy.decide(&req).tier == Tier::Allow
}

/// The spellings of `n` an agent may send for an int64.
fn spellings(n: i64) -> Vec<Value> {
    let mut out = vec![json!({"n": n}), json!({"n": n.to_string()})];
    if n.unsigned_abs() <= MAX_SAFE as u64 {
        #[allow(clippy::cast_precision_loss, reason = "|n| < 2^53: exact")]
        out.push(json!({"n": n as f64}));
    }
    out
}

/// Integers near 2^53 and the int64 edges as well as anywhere.
fn arb_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        (-3i64..3).prop_map(|d| MAX_SAFE + d),
        (-3i64..3).prop_map(|d| -MAX_SAFE + d),
        (0i64..3).prop_map(|d| i64::MAX - d),
        (0i64..3).prop_map(|d| i64::MIN + d),
        -20_000i64..20_000,
    ]
}

proptest! {
    #[test]
    fn orderings_are_exact_for_every_spelling(n in arb_i64(), t in arb_i64()) {
        for (op, expected) in [("lte", n <= t), ("lt", n < t), ("gte", n >= t), ("gt", n > t),
                               ("eq", n == t), ("ne", n != t)] {
            let p = policy(op, &t.to_string());
            for args in spellings(n) {
                prop_assert_eq!(holds(&p, &args), expected, "{} {} {}", args, op, t);
            }
        }
    }

    #[test]
    fn an_integer_against_a_fraction_is_not_rounded(n in arb_i64(), k in any::<i32>()) {
        // k + 0.5 is exact as a double; n <= k + 0.5 exactly when n <= k.
        let t = f64::from(k) + 0.5;
        let p = policy("lte", &format!("{t:?}"));
        for args in spellings(n) {
            prop_assert_eq!(holds(&p, &args), n <= i64::from(k), "{}", args);
        }
    }

    #[test]
    fn a_string_literal_equals_every_spelling(n in arb_i64()) {
        let p = policy("eq", &format!("\"{n}\""));
        for args in spellings(n) {
            prop_assert!(holds(&p, &args), "{}", args);
        }
        let plus = format!("+{n}");
        let signed = json!({ "n": plus });
        prop_assert!(!holds(&p, &signed), "{}", signed);
    }

    #[test]
    fn strings_that_are_not_decimals_never_order(
        s in prop_oneof![
            "[0-9]{1,5}\\.[0-9]", "0x[0-9a-f]{1,4}", "\\+[0-9]{1,5}", " [0-9]{1,5}",
            "[0-9]{1,5} ", "[0-9]e[0-9]", "-?[1-9][0-9]{19,24}", // the last beyond the int64 range
        ]
    ) {
        for op in ["lte", "gt"] {
            prop_assert!(!holds(&policy(op, "0"), &json!({"n": s})), "{} {}", s, op);
        }
    }
}

#[test]
fn the_issue_19_refund_is_allowed_as_a_string() {
    let p = policy("lte", "10000");
    assert!(holds(&p, &json!({"n": "300"})));
    assert!(holds(&p, &json!({"n": 300})));
    assert!(!holds(&p, &json!({"n": "10001"})));
    let big = policy("gt", "9007199254740992");
    assert!(holds(&big, &json!({"n": "9007199254740993"})));
    assert!(!holds(&big, &json!({"n": "9007199254740992"})));
}

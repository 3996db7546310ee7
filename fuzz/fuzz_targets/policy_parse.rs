//! Fuzzes the policy parser: arbitrary bytes must never panic, and anything accepted must
//! decide and explain to the same decision, and apply its redaction plans without panicking.
#![no_main]

use auditgate_policy::{CommitKey, Policy, Request, ToolKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((policy, _warnings)) = Policy::parse("fuzz.toml", data) else {
        return;
    };
    let roles = vec!["analyst".to_owned(), "finance".to_owned()];
    let args = serde_json::json!({"amount": 10, "card": "4111", "lines": [{"card": "x"}]});
    let key = CommitKey::from_bytes([0; 32]);
    for kind in ToolKind::ALL {
        let req = Request {
            principal: "fuzz",
            roles: &roles,
            tool: "orders_list",
            function_path: Some("orders:list"),
            kind,
            args: &args,
        };
        let decision = policy.decide(&req);
        let explained = policy.explain(&req);
        assert_eq!(decision.tier, explained.decision.tier);
        assert_eq!(decision.rule_id, explained.decision.rule_id);
        let _ = decision.audit_args.apply(&args, &key);
        let _ = decision.response.apply(&args, &key);
        assert!(policy.listing_tier(&req) >= decision.tier);
    }
});

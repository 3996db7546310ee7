#![allow(clippy::unwrap_used, reason = "tests")]
//! `[data] tables`: per-role table access for the data tools, decided by `Policy::decide` (and
//! `explain`, which must agree) before any rule.

use auditgate_policy::{Decision, Policy, Request, Tier, ToolKind};
use serde_json::{Value, json};

const POLICY: &str = r#"version = 1
[defaults]
tier = "blocked"
write = "allow"

[data]
tables = [
  { name = "patients", read = ["clinician"], write = ["clinician"] },
  { name = "appointments", read = ["clinician", "frontdesk"], write = ["frontdesk"] },
  { name = "rooms", read = ["*"] },
]

[[rules]]
id = "data"
match.kind = ["data-read", "data-write"]
tier = "allow"
"#;

fn policy(text: &str) -> Policy {
    let (policy, warnings) = Policy::parse("policy.toml", text.as_bytes()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    policy
}

fn decide(p: &Policy, roles: &[&str], kind: ToolKind, args: Value) -> Decision {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    let tool = if kind == ToolKind::DataRead {
        "convex_query_documents"
    } else {
        "convex_create_document"
    };
    let req = Request {
        principal: "key:someone",
        roles: &roles,
        tool,
        function_path: None,
        kind,
        args: &args,
    };
    let decision = p.decide(&req);
    let explained = p.explain(&req);
    assert_eq!(
        serde_json::to_value(&explained.decision).unwrap(),
        serde_json::to_value(&decision).unwrap()
    );
    decision
}

#[test]
fn reads_and_writes_need_a_listed_role() {
    let p = policy(POLICY);
    let read = |roles: &[&str], table: &str| {
        decide(&p, roles, ToolKind::DataRead, json!({"table": table})).tier
    };
    let write = |roles: &[&str], table: &str| {
        decide(&p, roles, ToolKind::DataWrite, json!({"table": table})).tier
    };
    assert_eq!(read(&["clinician"], "patients"), Tier::Allow);
    assert_eq!(read(&["frontdesk"], "patients"), Tier::Blocked);
    assert_eq!(read(&["frontdesk"], "appointments"), Tier::Allow);
    assert_eq!(write(&["frontdesk"], "appointments"), Tier::Allow);
    assert_eq!(write(&["clinician"], "appointments"), Tier::Blocked);
    // "*" is every caller, even one without roles; no `write` means nobody writes.
    assert_eq!(read(&[], "rooms"), Tier::Allow);
    assert_eq!(write(&["clinician"], "rooms"), Tier::Blocked);
    assert_eq!(read(&["clinician"], "unlisted"), Tier::Blocked);
}

#[test]
fn an_unknown_table_reads_exactly_like_a_forbidden_one() {
    let p = policy(POLICY);
    let forbidden = decide(
        &p,
        &["frontdesk"],
        ToolKind::DataRead,
        json!({"table": "patients"}),
    );
    let unknown = decide(
        &p,
        &["frontdesk"],
        ToolKind::DataRead,
        json!({"table": "no_such_table"}),
    );
    assert_eq!(
        serde_json::to_value(&forbidden).unwrap(),
        serde_json::to_value(&unknown).unwrap()
    );
    assert_eq!(forbidden.rule_id, None);
    assert_eq!(
        &*forbidden.reason,
        "[data] tables: none of the caller's roles may read this table"
    );
    assert!(!forbidden.reason.contains("patients"));
    assert_eq!(
        forbidden
            .inputs_read
            .iter()
            .map(|p| &**p)
            .collect::<Vec<_>>(),
        ["$.table"]
    );
}

#[test]
fn tools_without_a_table_argument_and_other_kinds_are_left_to_the_rules() {
    let p = policy(POLICY);
    let list = decide(&p, &[], ToolKind::DataRead, json!({}));
    assert_eq!(list.tier, Tier::Allow);
    assert!(list.inputs_read.is_empty());
    assert!(!p.may_read_table("patients", &[]));
    assert!(p.may_read_table("rooms", &[]));
    assert!(p.restricts_tables());
    // A function is not a data tool, whatever its arguments say.
    let roles: Vec<String> = Vec::new();
    let args = json!({"table": "patients"});
    let f = p.decide(&Request {
        principal: "key:x",
        roles: &roles,
        tool: "patients_get",
        function_path: Some("patients:get"),
        kind: ToolKind::Query,
        args: &args,
    });
    assert_eq!(f.rule_id, None);
    assert!(f.inputs_read.is_empty());
}

#[test]
fn without_a_data_table_every_table_is_reachable() {
    let text = POLICY.split("[data]").next().unwrap().to_string()
        + "[[rules]]\nid = \"data\"\nmatch.kind = [\"data-read\"]\n";
    let p = policy(&text);
    assert!(!p.restricts_tables());
    assert!(p.may_read_table("anything", &[]));
    let d = decide(&p, &[], ToolKind::DataRead, json!({"table": "patients"}));
    assert_eq!(d.tier, Tier::Allow);
    assert!(d.inputs_read.is_empty());
}

#[test]
fn explain_says_the_data_table_decided() {
    let p = policy(POLICY);
    let roles = vec!["frontdesk".to_string()];
    let args = json!({"table": "patients"});
    let e = p.explain(&Request {
        principal: "key:x",
        roles: &roles,
        tool: "convex_get_table",
        function_path: None,
        kind: ToolKind::DataRead,
        args: &args,
    });
    assert!(e.data_decided);
    assert_eq!(
        e.to_string(),
        "decision: blocked ([data] tables: none of the caller's roles may read this table)\n  \
         [data] tables: DECIDED\n  rule \"data\" (line 13): not reached ([data] tables decided; \
         would have matched)\n"
    );
}

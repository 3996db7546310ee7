#![allow(clippy::unwrap_used, reason = "tests")]
//! `defaults.write`: one word for every write, or a ceiling per class (`functions`, `data`), and
//! a process limit that lowers them (`serve --write`) but never raises them.

use auditgate_policy::{Policy, Request, Tier, ToolKind, WriteClass, WriteMode};
use serde_json::json;

fn policy(write: &str) -> Policy {
    let text = format!(
        "version = 1\n[defaults]\ntier = \"allow\"\nwrite = {write}\n\n[[rules]]\nid = \"prescribe\"\nmatch.tool = [\"prescribe\"]\ntier = \"allow\"\n"
    );
    let (policy, warnings) = Policy::parse("policy.toml", text.as_bytes()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    policy
}

fn decide(p: &Policy, tool: &str, kind: ToolKind) -> (Tier, String) {
    let roles: Vec<String> = Vec::new();
    let d = p.decide(&Request {
        principal: "key:agent",
        roles: &roles,
        tool,
        function_path: None,
        kind,
        args: &json!({}),
    });
    (d.tier, d.reason.to_string())
}

#[test]
fn per_class_ceilings_cap_functions_and_data_apart() {
    let p = policy(r#"{ functions = "ask", data = "deny" }"#);
    let (tier, reason) = decide(&p, "prescribe", ToolKind::Mutation);
    assert_eq!(tier, Tier::ApprovalRequired);
    assert!(
        reason.ends_with("; capped by defaults.write.functions = \"ask\""),
        "{reason}"
    );
    let (tier, reason) = decide(&p, "convex_create_document", ToolKind::DataWrite);
    assert_eq!(tier, Tier::Blocked);
    assert!(
        reason.ends_with("; capped by defaults.write.data = \"deny\""),
        "{reason}"
    );
    assert_eq!(decide(&p, "list", ToolKind::Query).0, Tier::Allow);
    assert_eq!(
        decide(&p, "convex_query_documents", ToolKind::DataRead).0,
        Tier::Allow
    );
}

#[test]
fn the_one_word_form_still_caps_every_write() {
    let p = policy(r#""ask""#);
    for kind in [ToolKind::Mutation, ToolKind::Action, ToolKind::DataWrite] {
        let (tier, reason) = decide(&p, "prescribe", kind);
        assert_eq!(tier, Tier::ApprovalRequired, "{kind}");
        assert!(
            reason.ends_with("; capped by defaults.write = \"ask\""),
            "{reason}"
        );
    }
}

#[test]
fn an_omitted_class_is_deny() {
    let p = policy(r#"{ functions = "allow" }"#);
    assert_eq!(decide(&p, "prescribe", ToolKind::Action).0, Tier::Allow);
    assert_eq!(p.write_ceilings().mode(WriteClass::Data), WriteMode::Deny);
    assert_eq!(
        decide(&p, "convex_delete_document", ToolKind::DataWrite).0,
        Tier::Blocked
    );
}

#[test]
fn a_process_limit_lowers_but_never_raises() {
    let p = policy(r#"{ functions = "ask", data = "deny" }"#);
    let allow = p.with_write_limit(WriteMode::Allow);
    assert_eq!(
        decide(&allow, "prescribe", ToolKind::Mutation).0,
        Tier::ApprovalRequired
    );
    let deny = p.with_write_limit(WriteMode::Deny);
    let (tier, reason) = decide(&deny, "prescribe", ToolKind::Mutation);
    assert_eq!(tier, Tier::Blocked);
    assert!(
        reason.ends_with("; capped by serve --write=deny"),
        "{reason}"
    );
    let (_, reason) = decide(&deny, "convex_create_document", ToolKind::DataWrite);
    assert!(
        reason.ends_with("; capped by defaults.write.data = \"deny\""),
        "{reason}"
    );
    assert_eq!(deny.hash(), p.hash(), "the file's hash is kept");
    assert_eq!(decide(&deny, "list", ToolKind::Query).0, Tier::Allow);
}

#[test]
fn a_bad_ceiling_names_its_line_and_field() {
    for (write, expect) in [
        (r#""maybe""#, "defaults.write: unknown value `maybe`"),
        (r#"{ functions = "maybe" }"#, "unknown value `maybe`"),
        (
            r#"{ mutations = "ask" }"#,
            "unknown key `mutations`, expected `functions` or `data`",
        ),
        ("3", "defaults.write"),
    ] {
        let text = format!("version = 1\n[defaults]\nwrite = {write}\n");
        let e = Policy::parse("policy.toml", text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("policy.toml:3:"), "{e}");
        assert!(e.contains(expect), "{write}: {e}");
    }
}

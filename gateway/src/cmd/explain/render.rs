//! `auditgate explain` for people: the trace as text, one line a step.
use auditgate_policy::{Mismatch, Outcome, RuleTrace, ToolKind};
use serde_json::Value;

use super::trace::{ArgumentsTrace, DataTables, Trace};

/// The trace for people.
pub fn render(t: &Trace) -> String {
    let mut s = String::new();
    let roles = if t.roles.is_empty() {
        "(no roles)".to_string()
    } else {
        t.roles.join(", ")
    };
    s.push_str(&format!("principal: {} [{roles}]\n", t.principal));
    match (&t.tool.kind, &t.tool.function_path) {
        (None, _) => s.push_str(&format!(
            "tool: {} (unknown: not in the catalog)\n",
            t.tool.name
        )),
        (Some(kind), Some(f)) => s.push_str(&format!("tool: {} ({kind}, {f})\n", t.tool.name)),
        (Some(kind), None) => s.push_str(&format!("tool: {} ({kind})\n", t.tool.name)),
    }
    s.push_str(&format!(
        "policy: blake3:{}  catalog: {}\n",
        t.policy_hash, t.catalog_hash
    ));
    if t.tool.known {
        render_arguments(&mut s, &t.arguments);
        s.push_str("rules:\n");
        for r in &t.rules {
            s.push_str(&render_rule(
                r,
                t.data_tables.as_ref().is_some_and(|d| d.decided),
            ));
        }
        if t.decision.rule.is_none() && !t.data_tables.as_ref().is_some_and(|d| d.decided) {
            s.push_str("  defaults: DECIDED (no rule matched)\n");
        }
    }
    if let Some(d) = &t.data_tables {
        render_data_tables(&mut s, d);
    }
    if let Some(c) = &t.write_ceiling {
        s.push_str(&format!(
            "write ceiling: {} for {}; decided {}, {}\n",
            c.ceiling,
            t.tool.kind.map_or("?", ToolKind::as_str),
            c.decided,
            if c.capped { "capped" } else { "not capped" }
        ));
    }
    if let Some(r) = &t.redactions {
        s.push_str("redactions if the call runs (paths and modes):\n");
        for (name, plan) in [
            ("audit args", &r.audit_args),
            ("audit result", &r.audit_result),
            ("response", &r.response),
        ] {
            s.push_str(&format!("  {name}: {}\n", render_plan(plan)));
        }
    }
    if let Some(l) = &t.listing {
        s.push_str(&format!(
            "tools/list: {} ({})\n",
            l.tier,
            if l.listed { "listed" } else { "not listed" }
        ));
    }
    let d = &t.decision;
    s.push_str(&format!(
        "decision: {} — {}\ndisposition: {}\n",
        d.tier, d.reason, d.disposition
    ));
    s
}

fn render_arguments(s: &mut String, a: &ArgumentsTrace) {
    if a.valid {
        s.push_str("arguments: valid");
        if !a.normalized.is_empty() {
            s.push_str(&format!("; normalized at {}", a.normalized.join(", ")));
        }
        s.push('\n');
        return;
    }
    s.push_str("arguments: invalid\n");
    for e in &a.errors {
        let path = e["path"].as_str().unwrap_or_default();
        let path = if path.is_empty() { "arguments" } else { path };
        s.push_str(&format!(
            "  {path}: {}\n",
            e["message"].as_str().unwrap_or_default()
        ));
    }
}

fn render_rule(r: &RuleTrace, data_decided: bool) -> String {
    let head = format!("  rule {:?} (line {}): ", r.rule_id, r.line);
    match &r.outcome {
        Outcome::Decided => format!("{head}DECIDED\n"),
        Outcome::NotReached { would_match } => format!(
            "{head}not reached ({} decided first; would {}have matched)\n",
            if data_decided {
                "[data] tables"
            } else {
                "an earlier rule"
            },
            if *would_match { "" } else { "not " }
        ),
        Outcome::Skipped { mismatches } => {
            let mut s = format!("{head}skipped\n");
            for m in mismatches {
                s.push_str(&render_mismatch(m));
            }
            s
        }
    }
}

fn render_mismatch(m: &Mismatch) -> String {
    match m {
        Mismatch::Kind { kind, allowed } => {
            let allowed: Vec<&str> = allowed.iter().map(|k| k.as_str()).collect();
            format!("    match.kind: {kind} not in [{}]\n", allowed.join(", "))
        }
        Mismatch::Principal { principal, allowed } => {
            format!("    match.principals: {principal} not in {allowed:?}\n")
        }
        Mismatch::Roles { required, held } => {
            format!("    match.roles: holds none of {required:?} (has {held:?})\n")
        }
        Mismatch::Tool { tool, globs } => {
            format!("    match.tool: {tool} matches none of {globs:?}\n")
        }
        Mismatch::Function {
            function: Some(f),
            globs,
        } => format!("    match.function: {f} matches none of {globs:?}\n"),
        Mismatch::Function {
            function: None,
            globs,
        } => format!("    match.function: the tool has no function path (needs {globs:?})\n"),
        Mismatch::Condition {
            condition,
            comparisons,
        } => {
            let mut s = format!("    when: does not hold: {condition}\n");
            for c in comparisons {
                let selected = if c.hidden {
                    "(hidden: the audit plan redacts it)".to_string()
                } else if c.selected.is_empty() {
                    "nothing".to_string()
                } else {
                    c.selected
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                s.push_str(&format!(
                    "      {} {}{}: selected {selected}: {}\n",
                    c.path,
                    serde_json::to_value(c.op)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    if c.value.is_null() {
                        String::new()
                    } else {
                        format!(" {}", c.value)
                    },
                    if c.holds { "holds" } else { "fails" }
                ));
            }
            s
        }
    }
}

fn render_data_tables(s: &mut String, d: &DataTables) {
    if !d.restricted {
        s.push_str("[data] tables: none in the policy (every table reachable)\n");
        return;
    }
    let yes = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    };
    match &d.table {
        Some(t) => s.push_str(&format!(
            "[data] tables: table {t:?}: read {}, write {}{}\n",
            yes(d.readable),
            yes(d.writable),
            if d.decided {
                "; refused before any rule"
            } else {
                ""
            }
        )),
        None => s.push_str("[data] tables: the call names no table\n"),
    }
}

fn render_plan(plan: &Value) -> String {
    let entries = plan.as_array().map(Vec::as_slice).unwrap_or_default();
    if entries.is_empty() {
        return "(none)".into();
    }
    entries
        .iter()
        .map(|e| {
            let path = e["path"].as_str().or_else(|| e["jsonpath"].as_str());
            format!(
                "{} {} ({})",
                path.unwrap_or_default(),
                e["mode"].as_str().unwrap_or_default(),
                e["origin"].as_str().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

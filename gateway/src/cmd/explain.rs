//! `auditgate explain`: how the policy would decide one `tools/call`, step by step — the
//! arguments validated and normalized as the gateway does, every rule and why it matched or not,
//! the write ceiling, the redactions that would apply (paths and modes), the `tools/list` tier,
//! and the decision. Reads the config, the policy and the catalog (spec file or deployment, as
//! `auditgate tools` does); contacts nothing else and records nothing.
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use auditgate::catalog::data_privacy;
use auditgate::catalog::{Catalog, Tool, ToolTarget};
use auditgate::config::Config;
use auditgate::enforcement::normalize_call_args;
use auditgate::listing::listing_tier;
use auditgate_policy::{
    CeilingTrace, CommitKey, Decision, Explanation, Mismatch, Outcome, Policy, Request, RuleTrace,
    Tier, ToolKind,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::tools::{load_catalog, load_policy};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The arguments are the caller's: with `--args -` they are read from \
    stdin, so that sensitive values need not appear in argv (visible to every user through ps) \
    or in the shell history. Values the policy protects are never printed.\n\n\
    Exit status: 0 when decided (whatever the tier, an unknown tool and invalid arguments \
    included: the gateway decides those too), 2 for usage and config errors."
)]
pub struct Args {
    /// The gateway config file.
    #[arg(long, short, default_value = "auditgate.toml")]
    config: PathBuf,
    /// The caller as the gateway names it: `key:NAME` (an API key's principal; the default name
    /// space when none is given), `oauth:SUBJECT`, `local:NAME` (stdio).
    #[arg(long)]
    principal: String,
    /// A role of the caller (repeatable).
    #[arg(long = "role")]
    roles: Vec<String>,
    /// The MCP tool name, as `tools/list` shows it.
    #[arg(long)]
    tool: String,
    /// The call's arguments: a JSON object, or `-` to read it from stdin.
    #[arg(long)]
    args: String,
    /// The policy file (default: `[policy] file` from the config).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// One JSON object (snake_case members) instead of text.
    #[arg(long)]
    json: bool,
}

/// Usage and config errors exit 2 (not the binary's usual 1): "could not decide".
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match explain(args) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("auditgate explain: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn explain(args: Args) -> anyhow::Result<()> {
    let call_args = read_args(&args.args)?;
    let config = Config::load(&args.config)?;
    let policy_path = args
        .policy
        .clone()
        .or_else(|| config.policy.as_ref().map(|p| p.file.clone()))
        .context("no policy: set [policy] file in the config or give --policy")?;
    let policy = load_policy(&policy_path)?;
    let catalog = load_catalog(&config)?;
    let principal = qualified(&args.principal);
    let trace = trace(
        &catalog,
        &policy,
        &principal,
        &args.roles,
        &args.tool,
        call_args,
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&trace)?);
    } else {
        print!("{}", render(&trace));
    }
    Ok(())
}

/// The arguments: JSON text, or stdin for `-`; an object, read as the gateway reads messages.
fn read_args(text: &str) -> anyhow::Result<Value> {
    let bytes = if text == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading --args from stdin")?;
        buf
    } else {
        text.as_bytes().to_vec()
    };
    let value = auditgate_ledger::json::parse_plain(&bytes)
        .map_err(|e| anyhow::anyhow!("--args is not valid JSON: {e}"))?;
    if !value.is_object() {
        bail!("--args must be a JSON object (the tools/call arguments)");
    }
    Ok(value)
}

/// A bare name is an API key's principal, as `match.principals` reads a bare entry.
fn qualified(principal: &str) -> String {
    if ["key:", "oauth:", "local:"]
        .iter()
        .any(|ns| principal.starts_with(ns))
    {
        principal.to_string()
    } else {
        format!("key:{principal}")
    }
}

/// Everything `explain` says, in the order a reader follows it.
#[derive(Debug, Serialize)]
struct Trace {
    principal: String,
    roles: Vec<String>,
    policy_hash: String,
    catalog_hash: String,
    tool: ToolTrace,
    arguments: ArgumentsTrace,
    rules: Vec<RuleTrace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_tables: Option<DataTables>,
    #[serde(skip_serializing_if = "Option::is_none")]
    write_ceiling: Option<CeilingTrace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redactions: Option<Redactions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listing: Option<ListingTrace>,
    decision: DecisionTrace,
}

#[derive(Debug, Serialize)]
struct ToolTrace {
    name: String,
    known: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<ToolKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_path: Option<String>,
}

#[derive(Debug, Serialize)]
struct ArgumentsTrace {
    valid: bool,
    /// JSON Pointers whose spelling normalization changed (`"300"` → `300`).
    normalized: Vec<String>,
    errors: Vec<Value>,
}

#[derive(Debug, Serialize)]
struct DataTables {
    /// Whether the policy has `[data] tables` (else every table is reachable).
    restricted: bool,
    /// Whether `[data] tables` refused the call before any rule.
    decided: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    readable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    writable: Option<bool>,
}

/// The plans as paths, modes and origins; never a value.
#[derive(Debug, Serialize)]
struct Redactions {
    audit_args: Value,
    audit_result: Value,
    response: Value,
}

#[derive(Debug, Serialize)]
struct ListingTrace {
    tier: Tier,
    listed: bool,
}

#[derive(Debug, Serialize)]
struct DecisionTrace {
    tier: Tier,
    rule: Option<String>,
    reason: String,
    write_capped: bool,
    inputs_read: Vec<String>,
    /// What the gateway would do: `forward`, `blocked`, `invalid_args`, `approval_pending`,
    /// `unknown_tool` (as `call.request.disposition`).
    disposition: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<Value>,
}

fn trace(
    catalog: &Catalog,
    policy: &Policy,
    principal: &str,
    roles: &[String],
    name: &str,
    args: Value,
) -> Trace {
    let mut out = Trace {
        principal: principal.to_string(),
        roles: roles.to_vec(),
        policy_hash: policy.hash_hex(),
        catalog_hash: catalog.hash().to_string(),
        tool: ToolTrace {
            name: name.to_string(),
            known: false,
            kind: None,
            function_path: None,
        },
        arguments: ArgumentsTrace {
            valid: false,
            normalized: Vec::new(),
            errors: Vec::new(),
        },
        rules: Vec::new(),
        data_tables: None,
        write_ceiling: None,
        redactions: None,
        listing: None,
        decision: DecisionTrace {
            tier: Tier::Blocked,
            rule: None,
            reason: "no such tool in the catalog".into(),
            write_capped: false,
            inputs_read: Vec::new(),
            disposition: "unknown_tool",
            approval: None,
        },
    };
    let Some(tool) = catalog.get(name) else {
        return out;
    };
    out.tool = ToolTrace {
        name: tool.name.clone(),
        known: true,
        kind: Some(tool.kind()),
        function_path: tool.function_path().map(str::to_string),
    };
    // The gateway's decide stage, step for step (`enforcement/call.rs`).
    let checked = normalize_call_args(tool, args.clone());
    let mut normalized = Vec::new();
    changed_paths(&args, &checked.args, &mut String::new(), &mut normalized);
    let req = Request {
        principal,
        roles,
        tool: &tool.name,
        function_path: tool.function_path(),
        kind: tool.kind(),
        args: &checked.args,
    };
    let mut explanation = policy.explain(&req);
    explanation.hide_protected(&checked.args);
    let decision = &explanation.decision;
    let errors = match (&checked.errors, decision.tier) {
        (_, Tier::Blocked) => Vec::new(),
        (Some(errors), _) => errors.clone(),
        // Only the hidden-field check needs a key, and it only asks whether a plan redacts.
        (None, _) => data_privacy::validate_call(
            tool,
            &checked.args,
            &decision.response,
            &CommitKey::from_bytes([0; 32]),
        ),
    };
    out.arguments = ArgumentsTrace {
        valid: checked.errors.is_none() && errors.is_empty(),
        normalized: if checked.errors.is_none() {
            normalized
        } else {
            Vec::new()
        },
        errors: errors
            .iter()
            .map(|e| json!({"path": e.path, "message": e.message}))
            .collect(),
    };
    out.data_tables = data_tables(policy, tool, &checked.args, roles, &explanation);
    out.write_ceiling = Some(policy.ceiling_trace(&req, &explanation));
    out.redactions = Some(Redactions {
        audit_args: plan_json(&decision.audit_args),
        audit_result: plan_json(&decision.audit_result),
        response: plan_json(&decision.response),
    });
    let tier = listing_tier(policy, tool, principal, roles);
    out.listing = Some(ListingTrace {
        tier,
        listed: tier != Tier::Blocked,
    });
    out.decision = decision_trace(decision, !errors.is_empty());
    out.rules = explanation.rules;
    out
}

fn plan_json(plan: &auditgate_policy::RedactionPlan) -> Value {
    serde_json::to_value(plan).unwrap_or(Value::Null)
}

fn decision_trace(decision: &Decision, invalid: bool) -> DecisionTrace {
    let disposition = match decision.tier {
        Tier::Blocked => "blocked",
        _ if invalid => "invalid_args",
        Tier::ApprovalRequired => "approval_pending",
        Tier::Allow => "forward",
    };
    DecisionTrace {
        tier: decision.tier,
        rule: decision.rule_id.as_deref().map(str::to_string),
        reason: decision.reason.to_string(),
        write_capped: decision.write_capped,
        inputs_read: decision.inputs_read.iter().map(|p| p.to_string()).collect(),
        disposition,
        approval: decision
            .approval
            .as_ref()
            .and_then(|a| serde_json::to_value(&**a).ok()),
    }
}

/// `[data] tables` for a data tool: whether the policy restricts tables, and for the table the
/// call names, whether this caller may read and write it.
fn data_tables(
    policy: &Policy,
    tool: &Tool,
    args: &Value,
    roles: &[String],
    explanation: &Explanation,
) -> Option<DataTables> {
    if !matches!(tool.target, ToolTarget::Data(_)) {
        return None;
    }
    let table = args.get("table").and_then(Value::as_str);
    Some(DataTables {
        restricted: policy.restricts_tables(),
        decided: explanation.data_decided,
        table: table.map(str::to_string),
        readable: table.map(|t| policy.may_read_table(t, roles)),
        writable: table.map(|t| policy.may_write_table(t, roles)),
    })
}

/// The JSON Pointers where `after` differs from `before` (normalization only changes leaves).
fn changed_paths(before: &Value, after: &Value, path: &mut String, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if let Some(w) = b.get(k) {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    changed_paths(v, w, path, out);
                    path.truncate(len);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                changed_paths(v, w, path, out);
                path.truncate(len);
            }
        }
        // serde_json's numbers differ by representation too: `300.0` is not `300`.
        _ if before != after => out.push(path.clone()),
        _ => {}
    }
}

/// The trace for people.
fn render(t: &Trace) -> String {
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

//! The decision trace of one `tools/call` (`auditgate explain`): the gateway's decide stage run
//! on the arguments, and what the policy says about each step, as one serializable value.
use auditgate::catalog::data_privacy;
use auditgate::catalog::{Catalog, Tool, ToolTarget};
use auditgate::enforcement::normalize_call_args;
use auditgate::listing::listing_tier;
use auditgate_policy::{
    CeilingTrace, CommitKey, Decision, Explanation, Policy, Request, RuleTrace, Tier, ToolKind,
};
use serde::Serialize;
use serde_json::{Value, json};

/// Everything `explain` says, in the order a reader follows it.
#[derive(Debug, Serialize)]
pub struct Trace {
    pub principal: String,
    pub roles: Vec<String>,
    pub policy_hash: String,
    pub catalog_hash: String,
    pub tool: ToolTrace,
    pub arguments: ArgumentsTrace,
    pub rules: Vec<RuleTrace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_tables: Option<DataTables>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_ceiling: Option<CeilingTrace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redactions: Option<Redactions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listing: Option<ListingTrace>,
    pub decision: DecisionTrace,
}

#[derive(Debug, Serialize)]
pub struct ToolTrace {
    pub name: String,
    pub known: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ToolKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_path: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ArgumentsTrace {
    pub valid: bool,
    /// JSON Pointers whose spelling normalization changed (`"300"` → `300`).
    pub normalized: Vec<String>,
    pub errors: Vec<Value>,
}

#[derive(Debug, Serialize)]
pub struct DataTables {
    /// Whether the policy has `[data] tables` (else every table is reachable).
    pub restricted: bool,
    /// Whether `[data] tables` refused the call before any rule.
    pub decided: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writable: Option<bool>,
}

/// The plans as paths, modes and origins; never a value.
#[derive(Debug, Serialize)]
pub struct Redactions {
    pub audit_args: Value,
    pub audit_result: Value,
    pub response: Value,
}

#[derive(Debug, Serialize)]
pub struct ListingTrace {
    pub tier: Tier,
    pub listed: bool,
}

#[derive(Debug, Serialize)]
pub struct DecisionTrace {
    pub tier: Tier,
    pub rule: Option<String>,
    pub reason: String,
    pub write_capped: bool,
    pub inputs_read: Vec<String>,
    /// What the gateway would do: `forward`, `blocked`, `invalid_args`, `approval_pending`,
    /// `unknown_tool` (as `call.request.disposition`).
    pub disposition: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Value>,
}

pub fn trace(
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
    // The policy's name for the tool, or the name clients call (with `[catalog] tool_prefix`).
    let Some(tool) = catalog.by_catalog_name(name).or_else(|| catalog.get(name)) else {
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
    // The arguments as the ledger would record them; the key only shapes commitments, and
    // only whether a value changed counts.
    let key = CommitKey::from_bytes([0; 32]);
    let recorded =
        data_privacy::redact_args(tool, &explanation.decision.audit_args, &checked.args, &key);
    explanation.hide_protected(&recorded.value);
    let decision = &explanation.decision;
    let errors = match (&checked.errors, decision.tier) {
        (_, Tier::Blocked) => Vec::new(),
        (Some(errors), _) => errors.clone(),
        // The hidden-field check only asks whether a plan redacts: any key will do.
        (None, _) => data_privacy::validate_call(tool, &checked.args, &decision.response, &key),
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

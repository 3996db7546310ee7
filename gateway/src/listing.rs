//! What a principal would see in `tools/list`: the catalog filtered and tiered by the policy.
//! Backs `auditgate tools`, so a team can review the agent-facing surface before deploying.
use auditgate_policy::{Policy, Request, Tier};
use serde::Serialize;
use serde_json::Value;

use crate::catalog::{Catalog, NotExposed, Tool};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    pub principal: String,
    pub roles: Vec<String>,
    pub catalog_hash: String,
    /// `None` when no policy was given: every tool shown, tiers unknown.
    pub policy_hash: Option<String>,
    pub tools: Vec<ListedTool>,
    /// Names of the tools the policy blocks for this principal (omitted from `tools/list`).
    pub hidden: Vec<String>,
    /// With `--all`: what the deployment has that is never a tool (HTTP routes and actions,
    /// internal functions, skipped spec entries), with why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_exposed: Option<Vec<NotExposed>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedTool {
    /// The tool's name in policies and the ledger.
    pub name: String,
    /// The name MCP clients see (with `[catalog] tool_prefix`).
    pub listed_name: String,
    pub kind: &'static str,
    /// `allow` / `approval_required`, or `None` without a policy.
    pub tier: Option<&'static str>,
    pub function_path: Option<String>,
    /// The MCP tool object exactly as `tools/list` shows it.
    pub tool: Value,
}

fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Blocked => "blocked",
        Tier::ApprovalRequired => "approval_required",
        Tier::Allow => "allow",
    }
}

/// The listing tier of one tool for a principal.
pub fn listing_tier(policy: &Policy, tool: &Tool, principal: &str, roles: &[String]) -> Tier {
    policy.listing_tier(&Request {
        principal,
        roles,
        tool: &tool.name,
        function_path: tool.function_path(),
        kind: tool.kind(),
        args: &Value::Null,
    })
}

pub fn list_for(
    catalog: &Catalog,
    policy: Option<&Policy>,
    principal: &str,
    roles: &[String],
) -> Listing {
    let mut tools = Vec::new();
    let mut hidden = Vec::new();
    for tool in catalog.tools() {
        let tier = policy.map(|p| listing_tier(p, tool, principal, roles));
        if tier == Some(Tier::Blocked) {
            hidden.push(tool.name.clone());
            continue;
        }
        tools.push(ListedTool {
            name: tool.name.clone(),
            listed_name: catalog.listed_name(tool).to_string(),
            kind: tool.kind().as_str(),
            tier: tier.map(tier_name),
            function_path: tool.function_path().map(str::to_string),
            tool: catalog.listed(tool),
        });
    }
    Listing {
        principal: principal.to_string(),
        roles: roles.to_vec(),
        catalog_hash: catalog.hash().to_string(),
        policy_hash: policy.map(Policy::hash_hex),
        tools,
        hidden,
        not_exposed: None,
    }
}

/// A short type for an argument's schema, for the human listing.
fn short_type(schema: &Value) -> String {
    if schema.get("format").and_then(Value::as_str) == Some("int64") {
        return "int64".into();
    }
    if schema.get("contentEncoding").is_some() {
        return "bytes".into();
    }
    if let Some(Value::Array(values)) = schema.get("enum") {
        let parts: Vec<String> = values.iter().map(Value::to_string).collect();
        return parts.join("|");
    }
    if let Some(Value::Array(members)) = schema.get("anyOf") {
        return members.iter().map(short_type).collect::<Vec<_>>().join("|");
    }
    if let Some(c) = schema.get("const") {
        return c.to_string();
    }
    if let Some(items) = schema.get("items") {
        return format!("{}[]", short_type(items));
    }
    if let Some(desc) = schema.get("description").and_then(Value::as_str)
        && let Some(table) = desc.strip_prefix("Id of a document in table ")
    {
        return format!("id<{}>", table.trim_matches('"'));
    }
    match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(other) => other.to_string(),
        None => "any".into(),
    }
}

/// The listing for people: one block per tool.
pub fn render_human(listing: &Listing) -> String {
    let mut out = format!(
        "tools/list for principal {:?} (roles: {})\ncatalog {}\npolicy  {}\n\n",
        listing.principal,
        if listing.roles.is_empty() {
            "none".into()
        } else {
            listing.roles.join(", ")
        },
        listing.catalog_hash,
        listing
            .policy_hash
            .as_deref()
            .unwrap_or("none given: tiers not evaluated"),
    );
    for t in &listing.tools {
        let alias = if t.listed_name == t.name {
            String::new()
        } else {
            format!("  (policy name {})", t.name)
        };
        out.push_str(&format!(
            "{}{alias}  [{}] [{}]{}\n",
            t.listed_name,
            t.kind,
            t.tier.unwrap_or("tier pending"),
            t.function_path
                .as_deref()
                .map(|p| format!("  -> {p}"))
                .unwrap_or_default()
        ));
        if let Some(title) = t.tool.get("title").and_then(Value::as_str) {
            out.push_str(&format!("    {title}\n"));
        }
        let schema = &t.tool["inputSchema"];
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(props) = schema["properties"].as_object() {
            for (name, s) in props {
                let opt = if required.contains(&name.as_str()) {
                    ""
                } else {
                    "?"
                };
                out.push_str(&format!("    {name}{opt}: {}\n", short_type(s)));
            }
        }
    }
    out.push_str(&format!(
        "\n{} tools shown, {} hidden by policy{}\n",
        listing.tools.len(),
        listing.hidden.len(),
        if listing.hidden.is_empty() {
            String::new()
        } else {
            format!(": {}", listing.hidden.join(", "))
        }
    ));
    if let Some(not_exposed) = &listing.not_exposed {
        out.push_str(&format!(
            "\nnot exposed ({}):\n",
            if not_exposed.is_empty() {
                "nothing".into()
            } else {
                not_exposed.len().to_string()
            }
        ));
        for n in not_exposed {
            out.push_str(&format!("  {}  [{}] {}\n", n.name, n.what, n.reason));
        }
    }
    out
}

//! `auditgate-verify what-if`: re-decides every recorded `tools.listed` (against the catalog in
//! force: the latest `catalog.loaded` or `catalog.changed`) and `call.request` (tool, function path, kind, principal, roles,
//! arguments as recorded) under another policy, and reports what would change. A decision whose
//! conditions read an argument the ledger holds redacted is indeterminate.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use auditgate_policy::{Policy, Request, Tier, ToolKind};
use serde_json::{Value, json};

use crate::event::{self, Entry};
use crate::reader;
use crate::redacted_path;
use crate::summary::emit;

/// What a re-decision found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Unchanged,
    Changed,
    /// The new decision read these redacted locations.
    Indeterminate(Vec<String>),
}

/// One re-decided entry.
#[derive(Debug, Clone)]
struct Finding {
    seq: u64,
    what: &'static str,
    principal: String,
    subject: String,
    before: String,
    after: String,
    transition: Option<(String, String)>,
    verdict: Verdict,
}

#[derive(Debug, Clone)]
struct CatalogTool {
    name: String,
    kind: ToolKind,
    function_path: Option<String>,
}

fn tier_name(t: Tier) -> &'static str {
    t.as_str()
}

fn described(tier: &str, rule: Option<&str>) -> String {
    match rule {
        Some(r) => format!("{tier} ({r})"),
        None => format!("{tier} (defaults)"),
    }
}

/// Runs the command.
pub fn run(
    path: &Path,
    pubkey: Option<&str>,
    policy_file: &Path,
    as_json: bool,
) -> Result<ExitCode> {
    let bytes = std::fs::read(policy_file)
        .with_context(|| format!("reading policy {}", policy_file.display()))?;
    let name = policy_file
        .file_name()
        .map_or("policy.toml".into(), |n| n.to_string_lossy().into_owned());
    let (policy, warnings) = Policy::parse(&name, &bytes).map_err(|e| anyhow!("{e}"))?;
    for w in &warnings {
        eprintln!("auditgate-verify: warning: {w}");
    }
    let mut catalog: Vec<CatalogTool> = Vec::new();
    let mut sessions: HashMap<String, (String, String, Vec<String>)> = HashMap::new();
    let mut recorded_policies: BTreeMap<String, String> = BTreeMap::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut listings = 0u64;
    let mut calls = 0u64;
    let mut skipped = 0u64;
    let provenance = match reader::for_each(path, pubkey, &mut |e: Entry| match e.kind.as_str() {
        k if event::sets_policy(k) => {
            recorded_policies.insert(
                e.str("policy_hash").unwrap_or("?").to_owned(),
                e.str("file").unwrap_or("?").to_owned(),
            );
        }
        k if event::sets_catalog(k) => {
            catalog = e
                .get("tools")
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| {
                            Some(CatalogTool {
                                name: t["name"].as_str()?.to_owned(),
                                kind: serde_json::from_value(t["kind"].clone()).ok()?,
                                function_path: t["function_path"].as_str().map(str::to_owned),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
        }
        event::SESSION_OPEN => {
            if let Some(s) = e.session() {
                let roles = e
                    .get("roles")
                    .as_array()
                    .map_or(Vec::new(), |a| a.iter().map(event::plain).collect());
                let principal = e.str("principal").unwrap_or("");
                sessions.insert(
                    s.to_owned(),
                    (
                        principal.to_owned(),
                        qualified(principal, e.str("auth")),
                        roles,
                    ),
                );
            }
        }
        event::TOOLS_LISTED => {
            listings += 1;
            let Some((principal, qualified, roles)) = e.session().and_then(|s| sessions.get(s))
            else {
                skipped += 1;
                return;
            };
            // Since issue 16 a listing records the roles it was decided with (a token's roles
            // can change within a session); earlier ledgers have only the session's.
            let (qualified, roles) = match e.get("roles").as_array() {
                Some(a) => (
                    self::qualified(principal, e.str("auth")),
                    a.iter().map(event::plain).collect(),
                ),
                None => (qualified.clone(), roles.clone()),
            };
            findings.push(relist(
                &policy,
                &catalog,
                &e,
                (principal, &qualified),
                &roles,
            ));
        }
        event::CALL_REQUEST => {
            calls += 1;
            match redecide(&policy, &e) {
                Some(f) => findings.push(f),
                None => skipped += 1,
            }
        }
        _ => {}
    })? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };

    let changed: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Changed)
        .collect();
    let indeterminate: Vec<&Finding> = findings
        .iter()
        .filter(|f| matches!(f.verdict, Verdict::Indeterminate(_)))
        .collect();
    let mut transitions: BTreeMap<String, u64> = BTreeMap::new();
    for f in &changed {
        if let Some((a, b)) = &f.transition {
            *transitions.entry(format!("{a} → {b}")).or_default() += 1;
        }
    }
    let new_hash = format!("blake3:{}", policy.hash_hex());
    if as_json {
        let item = |f: &&Finding| {
            json!({"seq": f.seq, "type": f.what, "principal": f.principal, "subject": f.subject,
                   "before": f.before, "after": f.after,
                   "reads_redacted": match &f.verdict { Verdict::Indeterminate(p) => json!(p), _ => json!([]) }})
        };
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({
                "policy": {"file": name, "hash": new_hash},
                "recorded_policies": recorded_policies,
                "verified": provenance == reader::Provenance::Verified,
                "calls": calls, "listings": listings, "skipped": skipped,
                "changed": changed.iter().map(item).collect::<Vec<_>>(),
                "indeterminate": indeterminate.iter().map(item).collect::<Vec<_>>(),
                "transitions": transitions,
            }))?
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let mut o = String::new();
    let _ = writeln!(o, "what-if {} ({new_hash})", policy_file.display());
    let _ = writeln!(o, "  ledger     {}", provenance.note(path));
    let recorded: Vec<String> = recorded_policies
        .iter()
        .map(|(h, f)| format!("{f} ({h})"))
        .collect();
    let _ = writeln!(
        o,
        "  recorded   {} call(s) and {} listing(s) decided under {}",
        calls,
        listings,
        if recorded.is_empty() {
            "an unrecorded policy".into()
        } else {
            recorded.join(", ")
        }
    );
    let line = |o: &mut String, f: &Finding| {
        let change = if f.before.is_empty() {
            f.after.clone()
        } else {
            format!("{} → {}", f.before, f.after)
        };
        let _ = writeln!(
            o,
            "  #{:<6} {:<5} {:<22} {:<16} {change}",
            f.seq, f.what, f.subject, f.principal
        );
    };
    let _ = writeln!(o, "\nWOULD CHANGE ({})", changed.len());
    for f in &changed {
        line(&mut o, f);
    }
    let _ = writeln!(
        o,
        "\nINDETERMINATE ({}): the new decision reads arguments the ledger holds redacted",
        indeterminate.len()
    );
    for f in &indeterminate {
        line(&mut o, f);
        if let Verdict::Indeterminate(paths) = &f.verdict {
            let _ = writeln!(o, "           reads {}", paths.join(", "));
        }
    }
    let unchanged = findings.len() - changed.len() - indeterminate.len();
    let t: Vec<String> = transitions
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    let _ = writeln!(
        o,
        "\nsummary: {} changed{}, {} indeterminate, {} unchanged, {} not re-decidable (unknown tools, or sessions not in the input)",
        changed.len(),
        if t.is_empty() {
            String::new()
        } else {
            format!(" ({})", t.join(", "))
        },
        indeterminate.len(),
        unchanged,
        skipped
    );
    emit(&o);
    Ok(ExitCode::SUCCESS)
}

/// Re-decides a `call.request`; `None` for unknown tools (always blocked, nothing to re-decide).
fn redecide(policy: &Policy, e: &Entry) -> Option<Finding> {
    let kind: ToolKind = serde_json::from_value(e.get("tool_kind").clone()).ok()?;
    let roles: Vec<String> = e
        .get("roles")
        .as_array()
        .map_or(Vec::new(), |a| a.iter().map(event::plain).collect());
    let principal = e.str("principal").unwrap_or("");
    let caller = qualified(principal, e.str("auth"));
    let tool = e.str("tool").unwrap_or("");
    let args = e.get("args");
    let d = policy.decide(&Request {
        principal: &caller,
        roles: &roles,
        tool,
        function_path: e.str("function_path"),
        kind,
        args,
    });
    let old = e.get("decision");
    let old_tier = old["tier"].as_str().unwrap_or("?").to_owned();
    let new_tier = tier_name(d.tier).to_owned();
    let redacted: Vec<String> = e.get("redactions").as_array().map_or(Vec::new(), |a| {
        a.iter()
            .filter_map(|r| r["path"].as_str().map(str::to_owned))
            .collect()
    });
    let read: Vec<String> = d
        .inputs_read
        .iter()
        .filter(|p| redacted.iter().any(|r| redacted_path::reads(p, r)))
        .map(|p| p.to_string())
        .collect();
    let verdict = if !read.is_empty() {
        Verdict::Indeterminate(read)
    } else if old_tier != new_tier {
        Verdict::Changed
    } else {
        Verdict::Unchanged
    };
    let after = match &verdict {
        Verdict::Indeterminate(_) => format!("{}?", described(&new_tier, d.rule_id.as_deref())),
        _ => described(&new_tier, d.rule_id.as_deref()),
    };
    Some(Finding {
        seq: e.seq,
        what: "call",
        principal: principal.to_owned(),
        subject: tool.to_owned(),
        before: described(&old_tier, old["rule"].as_str()),
        after,
        transition: Some((old_tier, new_tier)),
        verdict,
    })
}

/// Re-decides a `tools.listed` page: which of its tools would be shown, annotated or hidden.
fn relist(
    policy: &Policy,
    catalog: &[CatalogTool],
    e: &Entry,
    (principal, caller): (&str, &str),
    roles: &[String],
) -> Finding {
    let names = |m: &str| -> Vec<String> {
        e.get(m)
            .as_array()
            .map_or(Vec::new(), |a| a.iter().map(event::plain).collect())
    };
    let shown = names("shown");
    let approval = names("approval_required");
    // A first page showing every tool that was not hidden: the tools not on it were blocked.
    let complete = e.get("cursor").is_null()
        && e.get("hidden").as_u64().map(|h| h as usize + shown.len()) == Some(catalog.len());
    let mut changes = Vec::new();
    for t in catalog {
        let before = if approval.contains(&t.name) {
            "approval"
        } else if shown.contains(&t.name) {
            "shown"
        } else if complete {
            "hidden"
        } else {
            continue;
        };
        let tier = policy.listing_tier(&Request {
            principal: caller,
            roles,
            tool: &t.name,
            function_path: t.function_path.as_deref(),
            kind: t.kind,
            args: &Value::Null,
        });
        let after = match tier {
            Tier::Blocked => "hidden",
            Tier::ApprovalRequired => "approval",
            Tier::Allow => "shown",
        };
        if before != after {
            changes.push((t.name.clone(), before, after));
        }
    }
    let verdict = if changes.is_empty() {
        Verdict::Unchanged
    } else {
        Verdict::Changed
    };
    Finding {
        seq: e.seq,
        what: "list",
        principal: principal.to_owned(),
        subject: format!("tools/list ({} shown)", shown.len()),
        before: String::new(),
        after: changes
            .iter()
            .map(|(n, b, a)| format!("{n}: {b} → {a}"))
            .collect::<Vec<_>>()
            .join(", "),
        transition: None,
        verdict,
    }
}

/// The caller as the policy names it (`key:eve`, `oauth:eve`, `local:eve`: `docs/audit-events.md`
/// conventions) from an entry's `principal` and `auth`; a ledger written before name spaces has
/// no `auth` on `call.request`, and its bare name matches as it did then.
fn qualified(principal: &str, auth: Option<&str>) -> String {
    match auth {
        Some("api_key") => format!("key:{principal}"),
        Some("oauth") => format!("oauth:{principal}"),
        Some("local") => format!("local:{principal}"),
        _ => principal.to_owned(),
    }
}

//! Privacy guard rails: warnings for a policy that protects a value in one place and lets it out
//! in another.
//!
//! - `ArgumentNotRedactedInResult`: a path redacted in arguments that the result plan of some
//!   decision does not cover, so a result or a Convex error repeating the value would be written
//!   to the ledger in clear.
//! - `HiddenFieldReadable`: a field one rule hides from responses that a rule letting the data
//!   tool `convex_query_documents` read documents does not hide.
//!
//! Both are conservative (normative text in `docs/policy-format.md`, section 8): an entry covers
//! another only when the paths are written identically, or when it is `**.name` (or
//! `$..name`) and the other path ends in the member `name`, or when it is `jsonpath = "$"`.
//! A path this cannot prove covered is reported, even when some other spelling would cover it.

use jsonpath_rust::parser::model::{Segment, Selector};

use crate::error::{Location, Warning, WarningKind};
use crate::path::{DottedPath, Step};
use crate::policy::Policy;
use crate::redaction::{RedactionEntry, RedactionPlan, Target};
use crate::rule::Rule;
use crate::tier::{Tier, ToolKind};

/// The data tool that returns documents and filters them on their fields.
pub(crate) const DOCUMENT_TOOL: &str = "convex_query_documents";

/// Which redaction table an entry was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Args,
    Result,
    Hide,
}

/// One redaction entry as written, with where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub table: Table,
    /// Index of the rule that wrote it; `None` for the file-wide `[audit]`/`[response]` tables.
    pub rule: Option<usize>,
    pub entry: RedactionEntry,
    pub loc: Location,
}

/// Every privacy warning for a compiled policy, in the order of the entries that cause them.
pub(crate) fn check(policy: &Policy, sites: &[Site]) -> Vec<Warning> {
    let mut out = arguments_not_in_results(policy, sites);
    out.extend(hidden_fields_readable(policy, sites));
    out
}

/// A decision context: the default decision (`None`) or a rule.
type Context<'a> = Option<&'a Rule>;

fn result_plan<'a>(policy: &'a Policy, ctx: Context<'a>) -> &'a RedactionPlan {
    ctx.map_or(&policy.default_plans.audit_result, |r| {
        &r.plans.audit_result
    })
}

fn response_plan<'a>(policy: &'a Policy, ctx: Context<'a>) -> &'a RedactionPlan {
    ctx.map_or(&policy.default_plans.response, |r| &r.plans.response)
}

/// Contexts that can forward a call (and so see a result): a blocked decision never does.
fn forwarding(policy: &Policy) -> Vec<Context<'_>> {
    let default = (policy.default_tier != Tier::Blocked).then_some(None);
    default
        .into_iter()
        .chain(
            policy
                .rules
                .iter()
                .filter(|r| r.tier != Tier::Blocked)
                .map(Some),
        )
        .collect()
}

fn arguments_not_in_results(policy: &Policy, sites: &[Site]) -> Vec<Warning> {
    let mut out = Vec::new();
    let contexts = forwarding(policy);
    for site in sites.iter().filter(|s| s.table == Table::Args) {
        let candidates: Vec<Context<'_>> = match site.rule {
            None => contexts.clone(),
            Some(i) => {
                let file_wide = sites.iter().any(|g| {
                    g.table == Table::Args && g.rule.is_none() && same_text(&g.entry, &site.entry)
                });
                let rule = &policy.rules[i];
                // A file-wide twin is reported (for every rule) by the file-wide entry.
                if file_wide || rule.tier == Tier::Blocked {
                    continue;
                }
                vec![Some(rule)]
            }
        };
        let open: Vec<Context<'_>> = candidates
            .into_iter()
            .filter(|&ctx| !plan_covers(result_plan(policy, ctx), &site.entry))
            .collect();
        if open.is_empty() {
            continue;
        }
        out.push(Warning {
            loc: site.loc.clone(),
            kind: WarningKind::ArgumentNotRedactedInResult {
                path: site.entry.text.clone(),
                mode: site.entry.mode,
                rules: open.iter().flatten().map(|r| r.id.to_string()).collect(),
                default_decision: open.iter().any(Option::is_none),
                add: suggestion(&site.entry),
            },
        });
    }
    out
}

/// Whether a rule can let [`DOCUMENT_TOOL`] run for some caller and arguments.
fn reads_documents(rule: &Rule) -> bool {
    rule.tier != Tier::Blocked
        && rule
            .kinds
            .is_none_or(|mask| mask & ToolKind::DataRead.bit() != 0)
        // Data tools have no function path, so a rule with `match.function` never matches one.
        && rule.functions.is_none()
        && rule
            .tools
            .as_ref()
            .is_none_or(|globs| globs.iter().any(|g| g.is_match(DOCUMENT_TOOL)))
}

fn hidden_fields_readable(policy: &Policy, sites: &[Site]) -> Vec<Warning> {
    let default = (policy.default_tier != Tier::Blocked).then_some(None);
    let readers: Vec<Context<'_>> = default
        .into_iter()
        .chain(policy.rules.iter().filter(|r| reads_documents(r)).map(Some))
        .collect();
    let mut out = Vec::new();
    for site in sites.iter().filter(|s| s.table == Table::Hide) {
        let Some(source) = site.rule.map(|i| &policy.rules[i]) else {
            // File-wide entries are in every response plan already.
            continue;
        };
        if source.tier == Tier::Blocked {
            continue;
        }
        for &reader in &readers {
            if reader.is_some_and(|r| r.id == source.id)
                || plan_covers(response_plan(policy, reader), &site.entry)
            {
                continue;
            }
            out.push(Warning {
                loc: site.loc.clone(),
                kind: WarningKind::HiddenFieldReadable {
                    path: site.entry.text.clone(),
                    hidden_by: source.id.to_string(),
                    reader: reader.map(|r| r.id.to_string()),
                    reader_line: reader.map(|r| r.line),
                    add: suggestion(&site.entry),
                },
            });
        }
    }
    out
}

/// Whether the file-wide `[audit].args` table redacts (in some mode) every argument the JSONPath
/// `jsonpath` selects, by the rules of [`covers`]: `None` if `jsonpath` does not parse. The
/// gateway's `check-config` asks it of the vault's subject paths (a subject named in clear in
/// the ledger cannot be erased from it).
pub fn arguments_redacted(policy: &Policy, jsonpath: &str) -> Option<bool> {
    let query = jsonpath_rust::parser::parse_json_path(jsonpath).ok()?;
    let entry = RedactionEntry {
        target: Target::JsonPath(query),
        text: jsonpath.to_owned(),
        mode: crate::redaction::RedactionMode::Commit,
        origin: "vault.subject".into(),
    };
    Some(plan_covers(&policy.default_plans.audit_args, &entry))
}

fn same_text(a: &RedactionEntry, b: &RedactionEntry) -> bool {
    a.is_jsonpath() == b.is_jsonpath() && a.text == b.text
}

fn plan_covers(plan: &RedactionPlan, entry: &RedactionEntry) -> bool {
    plan.entries().iter().any(|by| covers(by, entry))
}

/// Whether `by` redacts (in some mode) every location `entry` selects, by the conservative
/// rules in the module header.
pub(crate) fn covers(by: &RedactionEntry, entry: &RedactionEntry) -> bool {
    if same_text(by, entry) {
        return true;
    }
    if let Target::JsonPath(q) = &by.target
        && q.segments.is_empty()
    {
        return true;
    }
    match (any_depth_name(by), last_name(entry)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `name` when the entry is `**.name` or `$..name`: every member `name` at any depth.
fn any_depth_name(entry: &RedactionEntry) -> Option<&str> {
    match &entry.target {
        Target::Dotted(p) => match p.steps.as_slice() {
            [Step::AnyDepth, Step::Key(name)] => Some(name),
            _ => None,
        },
        Target::JsonPath(q) => match q.segments.as_slice() {
            [Segment::Descendant(inner)] => member_name(inner),
            _ => None,
        },
    }
}

/// The member name the entry's last step selects, if it selects one by name.
fn last_name(entry: &RedactionEntry) -> Option<&str> {
    match &entry.target {
        Target::Dotted(p) => match p.steps.last() {
            Some(Step::Key(name)) => Some(name),
            _ => None,
        },
        Target::JsonPath(q) => match q.segments.last()? {
            Segment::Descendant(inner) => member_name(inner),
            segment => member_name(segment),
        },
    }
}

fn member_name(segment: &Segment) -> Option<&str> {
    match segment {
        Segment::Selector(Selector::Name(name)) => Some(name),
        _ => None,
    }
}

/// The entry to add: `**.name` when the path ends in a member name a dotted path can spell (the
/// value may come back anywhere in a result or an error), else the path as written.
fn suggestion(entry: &RedactionEntry) -> String {
    let mode = entry.mode.as_str();
    if let Some(name) = last_name(entry) {
        let dotted = format!("**.{name}");
        // Only when the text parses back to this one name (`a.b` would be two members).
        let spells = DottedPath::parse(&dotted).is_ok_and(
            |p| matches!(p.steps.as_slice(), [Step::AnyDepth, Step::Key(k)] if k == name),
        );
        if spells {
            return format!("{{ path = {}, mode = \"{mode}\" }}", quote(&dotted));
        }
    }
    let key = if entry.is_jsonpath() {
        "jsonpath"
    } else {
        "path"
    };
    format!("{{ {key} = {}, mode = \"{mode}\" }}", quote(&entry.text))
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redaction::RedactionMode;

    fn dotted(text: &str) -> RedactionEntry {
        RedactionEntry {
            target: Target::Dotted(DottedPath::parse(text).unwrap()),
            text: text.into(),
            mode: RedactionMode::Commit,
            origin: "policy".into(),
        }
    }

    fn jsonpath(text: &str) -> RedactionEntry {
        RedactionEntry {
            target: Target::JsonPath(jsonpath_rust::parser::parse_json_path(text).unwrap()),
            text: text.into(),
            mode: RedactionMode::Drop,
            origin: "policy".into(),
        }
    }

    #[test]
    fn vault_subjects_are_checked_against_the_file_wide_arguments_table() {
        let (p, _) = Policy::parse(
            "p.toml",
            b"version = 1\n[audit]\nargs = [{ path = \"**.patientId\", mode = \"commit\" }]\n",
        )
        .unwrap();
        assert_eq!(arguments_redacted(&p, "$.value.patientId"), Some(true));
        assert_eq!(arguments_redacted(&p, "$.patient.id"), Some(false));
        assert_eq!(arguments_redacted(&p, "not a path"), None);
    }

    #[test]
    fn covers_identical_text_any_depth_names_and_the_root_only() {
        assert!(covers(&dotted("reason"), &dotted("reason")));
        assert!(covers(&dotted("**.taxId"), &dotted("**.taxId")));
        assert!(covers(&dotted("**.taxId"), &dotted("customer.taxId")));
        assert!(covers(&dotted("**.taxId"), &dotted("lines[*].taxId")));
        assert!(covers(&dotted("**.taxId"), &jsonpath("$.customer.taxId")));
        assert!(covers(&dotted("**.taxId"), &jsonpath("$..taxId")));
        assert!(covers(&jsonpath("$..taxId"), &dotted("a.taxId")));
        assert!(covers(&jsonpath("$"), &dotted("a.b")));
        assert!(covers(&jsonpath("$..card"), &jsonpath("$..card")));
        // Conservative: these may overlap, but nothing proves it.
        assert!(!covers(&dotted("reason"), &dotted("**.reason")));
        assert!(!covers(&dotted("customer.taxId"), &dotted("taxId")));
        assert!(!covers(&dotted("**.taxId"), &dotted("taxId[0]")));
        assert!(!covers(&dotted("**.a.taxId"), &dotted("a.taxId")));
        assert!(!covers(&dotted("**.taxId"), &dotted("**.taxIds")));
        assert!(!covers(&jsonpath("$.a"), &dotted("a.b")));
    }

    #[test]
    fn suggests_any_depth_when_the_path_ends_in_a_name() {
        assert_eq!(
            suggestion(&dotted("encounter.summary")),
            "{ path = \"**.summary\", mode = \"commit\" }"
        );
        assert_eq!(
            suggestion(&jsonpath("$..notes[*].text")),
            "{ path = \"**.text\", mode = \"drop\" }"
        );
        assert_eq!(
            suggestion(&jsonpath("$['a.b']")),
            "{ jsonpath = \"$['a.b']\", mode = \"drop\" }"
        );
        assert_eq!(
            suggestion(&dotted("lines[0]")),
            "{ path = \"lines[0]\", mode = \"commit\" }"
        );
    }
}

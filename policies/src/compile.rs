//! Stage two: validate a [`RawPolicy`] and compile it into a [`Policy`] (globs, JSONPaths and
//! dotted paths compiled once; every problem reported with file, line, column and field).

use std::ops::Range;
use std::sync::Arc;

use toml::de::{DeTable, DeValue};

use crate::approval::{ApprovalSettings, parse_duration};
use crate::condition::{Condition, Op, Quantifier};
use crate::data::{DataAccess, Roles, TableAccess};
use crate::error::{Location, PolicyError, Warning, WarningKind};
use crate::glob::NameGlob;
use crate::path::DottedPath;
use crate::policy::Policy;
use crate::privacy::{Site, Table};
use crate::raw::{RawApproval, RawCondition, RawData, RawPolicy, RawRedaction, RawRule, S};
use crate::redaction::{RedactionEntry, RedactionMode, RedactionPlan, Target};
use crate::rule::{Plans, Rule};
use crate::tier::{Tier, WriteMode};
use crate::write::{WriteCeilings, WriteClass};

/// The only format version so far.
pub const FORMAT_VERSION: i64 = 1;

/// Conditions nest at most this deep (`all`/`any`/`not`).
const MAX_CONDITION_DEPTH: usize = 16;

/// A compiled redaction entry with the span of its path and its field, for reports.
type Written = (RedactionEntry, Range<usize>, String);

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    warnings: Vec<Warning>,
}

impl Ctx<'_> {
    fn loc(&self, span: Range<usize>, field: impl Into<String>) -> Location {
        Location::at(self.file, self.text, span.start, field)
    }

    fn line(&self, span: &Range<usize>) -> usize {
        crate::error::line_column(self.text, span.start).0
    }
}

pub(crate) fn compile(file: &str, bytes: &[u8]) -> Result<(Policy, Vec<Warning>), PolicyError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let prefix = std::str::from_utf8(valid).unwrap_or_default();
        PolicyError::NotUtf8 {
            loc: Location::at(file, prefix, prefix.len(), ""),
        }
    })?;
    let raw: RawPolicy = toml::from_str(text).map_err(|e| map_toml_error(file, text, &e))?;
    let mut ctx = Ctx {
        file,
        text,
        warnings: Vec::new(),
    };
    let policy = compile_raw(&mut ctx, raw, *blake3::hash(bytes).as_bytes())?;
    Ok((policy, ctx.warnings))
}

fn compile_raw(ctx: &mut Ctx<'_>, raw: RawPolicy, hash: [u8; 32]) -> Result<Policy, PolicyError> {
    if *raw.version.get_ref() != FORMAT_VERSION {
        return Err(PolicyError::UnsupportedVersion {
            loc: ctx.loc(raw.version.span(), "version"),
            version: *raw.version.get_ref(),
        });
    }
    let defaults = raw.defaults.unwrap_or(crate::raw::RawDefaults {
        tier: None,
        write: None,
        approval: None,
    });
    let default_tier = defaults.tier.map_or(Tier::Blocked, |t| *t.get_ref());
    let write = defaults
        .write
        .map_or(WriteCeilings::one(WriteMode::Deny), |w| w.get_ref().0);
    let default_approval = match &defaults.approval {
        Some(a) => approval(ctx, a, &ApprovalSettings::default(), "defaults.approval")?,
        None => ApprovalSettings::default(),
    };
    let default_approval = Arc::new(default_approval);

    let audit = raw.audit.unwrap_or_default();
    let response = raw.response.unwrap_or_default();
    let global_args = entries(ctx, &audit.args, "audit.args", "policy", true)?;
    let global_result = entries(ctx, &audit.result, "audit.result", "policy", true)?;
    let global_hide = entries(ctx, &response.hide, "response.hide", "policy", false)?;
    let default_plans = Plans {
        audit_args: Arc::new(plan(ctx, &global_args, &[])?),
        audit_result: Arc::new(plan(ctx, &global_result, &[])?),
        response: Arc::new(plan(ctx, &global_hide, &[])?),
    };
    let cap_notes = WriteClass::ALL.map(|c| write.cap_note(c));
    let default_reason = format!(
        "no rule matched; defaults.tier is \"{}\"",
        default_tier.as_str()
    );

    let mut sites = Vec::new();
    for (table, written) in [
        (Table::Args, &global_args),
        (Table::Result, &global_result),
        (Table::Hide, &global_hide),
    ] {
        push_sites(ctx, &mut sites, table, None, written);
    }
    let mut rules: Vec<Rule> = Vec::with_capacity(raw.rules.len());
    for (i, raw_rule) in raw.rules.iter().enumerate() {
        let field = format!("rules[{i}]");
        let (rule, own) = rule(
            ctx,
            raw_rule,
            &field,
            &default_approval,
            [&global_args, &global_result, &global_hide],
            &cap_notes,
        )?;
        if let Some(first) = rules.iter().find(|r| r.id == rule.id) {
            return Err(PolicyError::DuplicateRuleId {
                loc: ctx.loc(raw_rule.get_ref().id.span(), format!("{field}.id")),
                id: rule.id.to_string(),
                first_line: first.line,
            });
        }
        if let Some(earlier) = rules.iter().find(|r| r.covers(&rule)) {
            let warning = Warning {
                loc: ctx.loc(raw_rule.get_ref().id.span(), format!("{field}.id")),
                kind: WarningKind::ShadowedRule {
                    rule_id: rule.id.to_string(),
                    by: earlier.id.to_string(),
                },
            };
            ctx.warnings.push(warning);
        }
        for (table, written) in [Table::Args, Table::Result, Table::Hide].iter().zip(&own) {
            push_sites(ctx, &mut sites, *table, Some(rules.len()), written);
        }
        rules.push(rule);
    }

    let data = match &raw.data {
        Some(d) => Some(data(ctx, d)?),
        None => None,
    };
    let by_kind = crate::tier::ToolKind::ALL.map(|kind| {
        (0..rules.len())
            .filter(|&i| rules[i].kinds.is_none_or(|mask| mask & kind.bit() != 0))
            .collect()
    });
    let policy = Policy {
        by_kind,
        file_name: ctx.file.to_owned(),
        hash,
        default_tier,
        write,
        default_plans,
        default_approval,
        default_reason_capped: capped(&default_reason, &cap_notes),
        default_reason: default_reason.into(),
        rules,
        data,
    };
    let privacy = crate::privacy::check(&policy, &sites);
    ctx.warnings.extend(privacy);
    Ok(policy)
}

fn push_sites(
    ctx: &Ctx<'_>,
    sites: &mut Vec<Site>,
    table: Table,
    rule: Option<usize>,
    written: &[Written],
) {
    sites.extend(written.iter().map(|(entry, span, field)| Site {
        table,
        rule,
        entry: entry.clone(),
        loc: ctx.loc(span.clone(), field.clone()),
    }));
}

/// `[data] tables`: user table names, unique; roles non-blank (`"*"` is every caller).
fn data(ctx: &Ctx<'_>, raw: &RawData) -> Result<DataAccess, PolicyError> {
    let mut tables: Vec<(TableAccess, usize)> = Vec::with_capacity(raw.tables.len());
    for (i, spanned) in raw.tables.iter().enumerate() {
        let entry = spanned.get_ref();
        let field = format!("data.tables[{i}]");
        let name = entry.name.get_ref();
        let user_table = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !user_table {
            return Err(PolicyError::InvalidTableName {
                loc: ctx.loc(entry.name.span(), format!("{field}.name")),
                name: name.clone(),
            });
        }
        if let Some((_, first_line)) = tables.iter().find(|(t, _)| &t.name == name) {
            return Err(PolicyError::DuplicateTable {
                loc: ctx.loc(entry.name.span(), format!("{field}.name")),
                name: name.clone(),
                first_line: *first_line,
            });
        }
        let roles = |list: &[S<String>], key: &str| -> Result<Roles, PolicyError> {
            for (j, role) in list.iter().enumerate() {
                if role.get_ref().trim().is_empty() {
                    return Err(PolicyError::InvalidRole {
                        loc: ctx.loc(role.span(), format!("{field}.{key}[{j}]")),
                        role: role.get_ref().clone(),
                    });
                }
            }
            Ok(Roles::from_list(
                list.iter().map(|r| r.get_ref().clone()).collect(),
            ))
        };
        let access = TableAccess {
            name: name.clone(),
            read: roles(&entry.read, "read")?,
            write: roles(&entry.write, "write")?,
        };
        tables.push((access, ctx.line(&entry.name.span())));
    }
    Ok(DataAccess::new(
        tables.into_iter().map(|(t, _)| t).collect(),
    ))
}

fn rule(
    ctx: &mut Ctx<'_>,
    spanned: &S<RawRule>,
    field: &str,
    default_approval: &Arc<ApprovalSettings>,
    globals: [&[Written]; 3],
    cap_notes: &[String; 2],
) -> Result<(Rule, [Vec<Written>; 3]), PolicyError> {
    let raw = spanned.get_ref();
    let id = raw.id.get_ref();
    let id_ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !id_ok {
        return Err(PolicyError::InvalidRuleId {
            loc: ctx.loc(raw.id.span(), format!("{field}.id")),
            id: id.clone(),
        });
    }
    let line = ctx.line(&spanned.span());
    let m = raw.matcher.as_ref();
    let tools = globs(ctx, m.and_then(|m| m.tool.as_ref()), field, "tool")?;
    let functions = globs(ctx, m.and_then(|m| m.function.as_ref()), field, "function")?;
    let kinds = match m.and_then(|m| m.kind.as_ref()) {
        None => None,
        Some(list) => {
            nonempty(ctx, list, &format!("{field}.match.kind"))?;
            Some(
                list.get_ref()
                    .iter()
                    .fold(0u8, |acc, k| acc | k.get_ref().bit()),
            )
        }
    };
    let roles = strings(ctx, m.and_then(|m| m.roles.as_ref()), field, "roles")?;
    let principals = strings(
        ctx,
        m.and_then(|m| m.principals.as_ref()),
        field,
        "principals",
    )?;
    let condition = match &raw.when {
        Some(w) => Some(condition(ctx, w, &format!("{field}.when"), 0)?),
        None => None,
    };
    let tier = raw.tier.as_ref().map_or(Tier::Allow, |t| *t.get_ref());
    let origin = id.as_str();
    let mut plans = Plans::default();
    let audit = raw.audit.as_ref();
    let args = entries(
        ctx,
        audit.map_or(&[], |a| &a.args),
        &format!("{field}.audit.args"),
        origin,
        true,
    )?;
    plans.audit_args = Arc::new(plan(ctx, globals[0], &args)?);
    let result = entries(
        ctx,
        audit.map_or(&[], |a| &a.result),
        &format!("{field}.audit.result"),
        origin,
        true,
    )?;
    plans.audit_result = Arc::new(plan(ctx, globals[1], &result)?);
    let hide = raw.response.as_ref().map_or(&[][..], |r| &r.hide);
    let hide = entries(ctx, hide, &format!("{field}.response.hide"), origin, false)?;
    plans.response = Arc::new(plan(ctx, globals[2], &hide)?);
    let approval = match &raw.approval {
        Some(a) => {
            if raw
                .tier
                .as_ref()
                .is_some_and(|t| *t.get_ref() == Tier::Blocked)
            {
                let warning = Warning {
                    loc: ctx.loc(a.span(), format!("{field}.approval")),
                    kind: WarningKind::UnusedApproval {
                        rule_id: id.clone(),
                    },
                };
                ctx.warnings.push(warning);
            }
            Arc::new(approval(
                ctx,
                a,
                default_approval,
                &format!("{field}.approval"),
            )?)
        }
        None => Arc::clone(default_approval),
    };
    let mut reason = format!("rule {id:?} (line {line}) matched");
    if let Some(d) = &raw.description {
        reason.push_str(": ");
        reason.push_str(d.trim());
    }
    let rule = Rule {
        id: id.as_str().into(),
        line,
        tools,
        functions,
        kinds,
        roles,
        principals,
        condition,
        tier,
        plans,
        approval,
        reason_capped: capped(&reason, cap_notes),
        reason: reason.into(),
    };
    Ok((rule, [args, result, hide]))
}

/// A reason followed by each write class's cap note (indexed by [`WriteClass::index`]).
pub(crate) fn capped(reason: &str, cap_notes: &[String; 2]) -> [std::sync::Arc<str>; 2] {
    cap_notes
        .each_ref()
        .map(|note| format!("{reason}{note}").into())
}

fn nonempty<T>(ctx: &Ctx<'_>, list: &S<Vec<T>>, field: &str) -> Result<(), PolicyError> {
    if list.get_ref().is_empty() {
        return Err(PolicyError::EmptyList {
            loc: ctx.loc(list.span(), field),
        });
    }
    Ok(())
}

fn globs(
    ctx: &Ctx<'_>,
    list: Option<&S<Vec<S<String>>>>,
    field: &str,
    key: &str,
) -> Result<Option<Vec<NameGlob>>, PolicyError> {
    let Some(list) = list else { return Ok(None) };
    nonempty(ctx, list, &format!("{field}.match.{key}"))?;
    let mut out = Vec::with_capacity(list.get_ref().len());
    for (j, g) in list.get_ref().iter().enumerate() {
        match NameGlob::new(g.get_ref()) {
            Ok(glob) => out.push(glob),
            Err(e) => {
                return Err(PolicyError::InvalidGlob {
                    loc: ctx.loc(g.span(), format!("{field}.match.{key}[{j}]")),
                    glob: g.get_ref().clone(),
                    message: e.kind().to_string(),
                });
            }
        }
    }
    Ok(Some(out))
}

fn strings(
    ctx: &Ctx<'_>,
    list: Option<&S<Vec<S<String>>>>,
    field: &str,
    key: &str,
) -> Result<Option<Vec<String>>, PolicyError> {
    let Some(list) = list else { return Ok(None) };
    nonempty(ctx, list, &format!("{field}.match.{key}"))?;
    Ok(Some(
        list.get_ref().iter().map(|s| s.get_ref().clone()).collect(),
    ))
}

fn jsonpath(
    ctx: &Ctx<'_>,
    text: &S<String>,
    field: &str,
) -> Result<jsonpath_rust::parser::model::JpQuery, PolicyError> {
    jsonpath_rust::parser::parse_json_path(text.get_ref()).map_err(|e| {
        PolicyError::InvalidJsonPath {
            loc: ctx.loc(text.span(), field),
            path: text.get_ref().clone(),
            // pest's multi-line rendering is noise here; keep its first line.
            message: e.to_string().lines().next().unwrap_or_default().to_owned(),
        }
    })
}

/// Compiles redaction entries; each is kept with its span and field for conflict reports.
fn entries(
    ctx: &Ctx<'_>,
    raw: &[S<RawRedaction>],
    field: &str,
    origin: &str,
    audit: bool,
) -> Result<Vec<Written>, PolicyError> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, spanned) in raw.iter().enumerate() {
        let r = spanned.get_ref();
        let field = format!("{field}[{i}]");
        let mode = *r.mode.get_ref();
        if !audit && mode == RedactionMode::Commit {
            return Err(PolicyError::CommitInResponse {
                loc: ctx.loc(r.mode.span(), format!("{field}.mode")),
            });
        }
        let (target, text, span) = match (&r.path, &r.jsonpath) {
            (Some(p), None) => {
                let dotted =
                    DottedPath::parse(p.get_ref()).map_err(|e| PolicyError::InvalidPath {
                        loc: ctx.loc(p.span(), format!("{field}.path")),
                        path: p.get_ref().clone(),
                        message: e.to_string(),
                    })?;
                (Target::Dotted(dotted), p.get_ref().clone(), p.span())
            }
            (None, Some(j)) => {
                let query = jsonpath(ctx, j, &format!("{field}.jsonpath"))?;
                (Target::JsonPath(query), j.get_ref().clone(), j.span())
            }
            _ => {
                return Err(PolicyError::RedactionTarget {
                    loc: ctx.loc(spanned.span(), field),
                });
            }
        };
        let entry = RedactionEntry {
            target,
            text,
            mode,
            origin: origin.to_owned(),
        };
        out.push((entry, span, field));
    }
    Ok(out)
}

/// Merges file-wide and rule entries into one plan, rejecting the same path with two modes.
fn plan(
    ctx: &mut Ctx<'_>,
    global: &[Written],
    local: &[Written],
) -> Result<RedactionPlan, PolicyError> {
    let all: Vec<&Written> = global.iter().chain(local).collect();
    let mut kept: Vec<RedactionEntry> = Vec::with_capacity(all.len());
    for (i, (entry, span, field)) in all.iter().enumerate() {
        let earlier = all[..i]
            .iter()
            .find(|(e, _, _)| e.text == entry.text && e.is_jsonpath() == entry.is_jsonpath());
        match earlier {
            Some((first, first_span, _)) if first.mode != entry.mode => {
                return Err(PolicyError::ConflictingRedaction {
                    loc: ctx.loc(span.clone(), field.clone()),
                    path: entry.text.clone(),
                    first: first.mode,
                    second: entry.mode,
                    first_line: ctx.line(first_span),
                });
            }
            Some(_) => {
                // Reported once, when the plan containing only this table's entries is built.
                let duplicate = Warning {
                    loc: ctx.loc(span.clone(), field.clone()),
                    kind: WarningKind::DuplicateRedaction {
                        path: entry.text.clone(),
                    },
                };
                if !ctx.warnings.contains(&duplicate) {
                    ctx.warnings.push(duplicate);
                }
            }
            None => kept.push(entry.clone()),
        }
    }
    Ok(RedactionPlan::new(kept))
}

fn approval(
    ctx: &Ctx<'_>,
    raw: &S<RawApproval>,
    base: &ApprovalSettings,
    field: &str,
) -> Result<ApprovalSettings, PolicyError> {
    let a = raw.get_ref();
    let mut out = base.clone();
    if !a.roles.is_empty() || !a.keys.is_empty() {
        out.approver_roles = a.roles.iter().map(|s| s.get_ref().clone()).collect();
        out.approver_keys = a.keys.iter().map(|s| s.get_ref().clone()).collect();
    }
    if let Some(four_eyes) = a.four_eyes {
        out.four_eyes = four_eyes;
    }
    if let Some(t) = &a.timeout {
        out.timeout_secs =
            parse_duration(t.get_ref()).ok_or_else(|| PolicyError::InvalidDuration {
                loc: ctx.loc(t.span(), format!("{field}.timeout")),
                value: t.get_ref().clone(),
            })?;
    }
    Ok(out)
}

fn condition(
    ctx: &Ctx<'_>,
    spanned: &S<RawCondition>,
    field: &str,
    depth: usize,
) -> Result<Condition, PolicyError> {
    let c = spanned.get_ref();
    let invalid = |message: String| PolicyError::InvalidCondition {
        loc: ctx.loc(spanned.span(), field),
        message,
    };
    if depth >= MAX_CONDITION_DEPTH {
        return Err(invalid(format!(
            "conditions nest at most {MAX_CONDITION_DEPTH} levels deep"
        )));
    }
    let forms = [
        c.path.is_some(),
        c.all.is_some(),
        c.any.is_some(),
        c.not.is_some(),
    ];
    if forms.iter().filter(|f| **f).count() != 1 {
        return Err(invalid(
            "use exactly one of `path` (with `op`), `all`, `any` or `not`".into(),
        ));
    }
    let compare_keys = c.op.is_some() || c.value.is_some() || c.quantifier.is_some();
    if c.path.is_none() && compare_keys {
        return Err(invalid(
            "`op`, `value` and `quantifier` belong with `path`".into(),
        ));
    }
    let list =
        |list: &S<Vec<S<RawCondition>>>, name: &str| -> Result<Vec<Condition>, PolicyError> {
            if list.get_ref().is_empty() {
                return Err(PolicyError::EmptyList {
                    loc: ctx.loc(list.span(), format!("{field}.{name}")),
                });
            }
            list.get_ref()
                .iter()
                .enumerate()
                .map(|(i, c)| condition(ctx, c, &format!("{field}.{name}[{i}]"), depth + 1))
                .collect()
        };
    if let Some(all) = &c.all {
        return Ok(Condition::All(list(all, "all")?));
    }
    if let Some(any) = &c.any {
        return Ok(Condition::Any(list(any, "any")?));
    }
    if let Some(not) = &c.not {
        return Ok(Condition::Not(Box::new(condition(
            ctx,
            not,
            &format!("{field}.not"),
            depth + 1,
        )?)));
    }
    let Some(path) = &c.path else {
        return Err(invalid("missing `path`".into()));
    };
    let query = jsonpath(ctx, path, &format!("{field}.path"))?;
    let Some(op) = c.op.as_ref().map(|o| *o.get_ref()) else {
        return Err(invalid("missing `op`".into()));
    };
    let value = match (&c.value, op.is_presence()) {
        (Some(v), true) => {
            return Err(PolicyError::InvalidCondition {
                loc: ctx.loc(v.span(), format!("{field}.value")),
                message: format!("`{}` takes no `value`", op.as_str()),
            });
        }
        (None, true) => serde_json::Value::Null,
        (None, false) => return Err(invalid(format!("`{}` needs a `value`", op.as_str()))),
        (Some(v), false) => {
            let json = toml_to_json(ctx, v.get_ref(), v.span(), &format!("{field}.value"))?;
            let ok = if op.is_ordering() {
                json.is_number()
            } else if matches!(op, Op::In | Op::NotIn) {
                json.is_array()
            } else {
                true
            };
            if !ok {
                let wanted = if op.is_ordering() {
                    "a number"
                } else {
                    "a list"
                };
                return Err(PolicyError::InvalidCondition {
                    loc: ctx.loc(v.span(), format!("{field}.value")),
                    message: format!("`{}` needs {wanted} as `value`", op.as_str()),
                });
            }
            json
        }
    };
    if let Some(q) = &c.quantifier
        && op.is_presence()
    {
        return Err(PolicyError::InvalidCondition {
            loc: ctx.loc(q.span(), format!("{field}.quantifier")),
            message: format!("`{}` takes no `quantifier`", op.as_str()),
        });
    }
    Ok(Condition::Compare {
        path: path.get_ref().as_str().into(),
        singular: crate::condition::singular_steps(&query),
        query: Box::new(query),
        op,
        value,
        quantifier: c
            .quantifier
            .as_ref()
            .map_or(Quantifier::All, |q| *q.get_ref()),
    })
}

fn toml_to_json(
    ctx: &Ctx<'_>,
    v: &toml::Value,
    span: Range<usize>,
    field: &str,
) -> Result<serde_json::Value, PolicyError> {
    use serde_json::Value as J;
    Ok(match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => J::Number(n),
            None => {
                return Err(PolicyError::InvalidValue {
                    loc: ctx.loc(span, field),
                    message: format!("{f} is not a JSON number"),
                });
            }
        },
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => {
            return Err(PolicyError::InvalidValue {
                loc: ctx.loc(span, field),
                message: format!("{d} is a TOML date; arguments are JSON, compare with a string"),
            });
        }
        toml::Value::Array(xs) => J::Array(
            xs.iter()
                .map(|x| toml_to_json(ctx, x, span.clone(), field))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, x)| Ok((k.clone(), toml_to_json(ctx, x, span.clone(), field)?)))
                .collect::<Result<_, PolicyError>>()?,
        ),
    })
}

/// Turns a `toml` error into a [`PolicyError`], finding the field path from the error's span.
fn map_toml_error(file: &str, text: &str, err: &toml::de::Error) -> PolicyError {
    let table = match DeTable::parse(text) {
        Ok(table) => table,
        Err(syntax) => {
            let offset = syntax.span().map_or(0, |s| s.start);
            return PolicyError::Syntax {
                loc: Location::at(file, text, offset, ""),
                message: syntax.message().trim().to_owned(),
            };
        }
    };
    let offset = err.span().map_or(0, |s| s.start);
    let mut field = String::new();
    find_field(table.get_ref(), offset, &mut field);
    let message = err.message().trim();
    let loc = |field: String| Location::at(file, text, offset, field);
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((key, expected)) = rest.split_once('`')
    {
        return PolicyError::UnknownKey {
            loc: loc(field),
            key: key.to_owned(),
            expected: expected.to_owned(),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((value, expected)) = rest.split_once('`')
    {
        return PolicyError::UnknownValue {
            loc: loc(field),
            value: value.to_owned(),
            expected: expected.to_owned(),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((key, _)) = rest.split_once('`')
    {
        let field = if field.is_empty() {
            key.to_owned()
        } else {
            format!("{field}.{key}")
        };
        return PolicyError::MissingKey {
            loc: loc(field),
            key: key.to_owned(),
        };
    }
    PolicyError::WrongType {
        loc: loc(field),
        message: message.to_owned(),
    }
}

/// Appends the dotted path (`rules[2].match.tool`) of the innermost key or value at `offset`.
fn find_field(table: &DeTable<'_>, offset: usize, field: &mut String) {
    // Prefer a key or value that contains the offset; otherwise the last entry starting before
    // it (array-of-tables bodies are not always inside their value's span).
    let mut best = None;
    for (key, value) in table.iter() {
        let (k, v) = (key.span(), value.span());
        if k.contains(&offset) || v.contains(&offset) {
            best = Some((key, value));
            break;
        }
        if k.start <= offset && best.is_none_or(|(bk, _): (&S<_>, _)| bk.span().start <= k.start) {
            best = Some((key, value));
        }
    }
    let Some((key, value)) = best else { return };
    if !field.is_empty() {
        field.push('.');
    }
    field.push_str(key.get_ref());
    if key.span().contains(&offset) {
        return;
    }
    find_in_value(value.get_ref(), offset, field);
}

fn find_in_value(value: &DeValue<'_>, offset: usize, field: &mut String) {
    match value {
        DeValue::Table(t) => find_field(t, offset, field),
        DeValue::Array(items) => {
            let mut best = None;
            for (i, item) in items.iter().enumerate() {
                if item.span().contains(&offset) {
                    best = Some((i, item));
                    break;
                }
                if item.span().start <= offset {
                    best = Some((i, item));
                }
            }
            if let Some((i, item)) = best {
                field.push_str(&format!("[{i}]"));
                find_in_value(item.get_ref(), offset, field);
            }
        }
        _ => {}
    }
}

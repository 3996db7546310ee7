//! Redaction plans: which parts of a JSON value to drop, mask or replace by a commitment, and
//! the single-pass walk that applies them.
//!
//! Semantics (normative text in `docs/policy-format.md`, "Redaction"):
//! - A plan is applied to a copy of the value in one walk from the root. When an entry selects a
//!   location, the whole subtree there is replaced and the walk does not descend into it, so the
//!   outermost selected location wins and nothing below it can leak.
//! - When several entries select the same location the most restrictive mode wins:
//!   `drop` > `mask` > `commit`; on a tie, the entry listed first.
//! - Paths that select nothing are no-ops. Raw JSONPath entries are evaluated against the
//!   original value before the walk, so array indices always refer to the original positions.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::commitment::{CommitKey, commit};
use crate::path::{DottedPath, Step};

/// The marker that replaces a masked value. Fixed, so the length of the secret does not leak.
pub const MASK: &str = "[REDACTED]";

/// What happens to a selected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedactionMode {
    /// Remove the member (or array element) entirely.
    Drop,
    /// Replace the value by the string `"[REDACTED]"`.
    Mask,
    /// Replace the value by `{"$commit": "blake3k:<hex>"}` (see [`crate::verify_commitment`]).
    Commit,
}

impl RedactionMode {
    /// The name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            RedactionMode::Drop => "drop",
            RedactionMode::Mask => "mask",
            RedactionMode::Commit => "commit",
        }
    }

    /// Higher is more restrictive; decides between entries selecting the same location.
    fn strictness(self) -> u8 {
        match self {
            RedactionMode::Drop => 3,
            RedactionMode::Mask => 2,
            RedactionMode::Commit => 1,
        }
    }
}

impl fmt::Display for RedactionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Target {
    Dotted(DottedPath),
    JsonPath(JpQuery),
}

/// One configured redaction, as the policy file wrote it.
#[derive(Debug, Clone)]
pub struct RedactionEntry {
    pub(crate) target: Target,
    /// The path exactly as written.
    pub text: String,
    /// The mode.
    pub mode: RedactionMode,
    /// `"policy"` for the file-wide `[audit]`/`[response]` tables, otherwise the rule id.
    pub origin: String,
}

impl RedactionEntry {
    /// Whether `text` is a raw JSONPath (`jsonpath = ...`) rather than a dotted path.
    pub fn is_jsonpath(&self) -> bool {
        matches!(self.target, Target::JsonPath(_))
    }
}

impl Serialize for RedactionEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(3))?;
        let key = if self.is_jsonpath() {
            "jsonpath"
        } else {
            "path"
        };
        map.serialize_entry(key, &self.text)?;
        map.serialize_entry("mode", &self.mode)?;
        map.serialize_entry("origin", &self.origin)?;
        map.end()
    }
}

/// An ordered list of redactions to apply to one JSON value (arguments, a result, or what the
/// agent is shown).
#[derive(Debug, Clone, Default)]
pub struct RedactionPlan {
    entries: Vec<RedactionEntry>,
}

impl Serialize for RedactionPlan {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.entries.serialize(s)
    }
}

/// A redacted value and the list of what was redacted (locations and modes, never values).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Redacted {
    /// The value with every selected location dropped, masked or committed.
    pub value: Value,
    /// One item per redacted location, in document order.
    pub report: Vec<RedactedField>,
    /// The original values at those locations, in the same order: what the vault keeps of
    /// committed values and what by-value redaction ([`crate::Exposure`]) looks for elsewhere.
    /// Never serialized, never in `Debug`.
    #[serde(skip)]
    pub originals: Originals,
}

/// The original values a plan redacted, parallel to [`Redacted::report`].
#[derive(Clone, Default, PartialEq)]
pub struct Originals(pub Vec<Value>);

impl std::fmt::Debug for Originals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Originals(<{} values>)", self.0.len())
    }
}

/// One redacted location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedactedField {
    /// Normalized JSONPath of the location in the original value, e.g. `$.lines[0].card`.
    pub path: String,
    /// The mode applied.
    pub mode: RedactionMode,
    /// The configured path (as written) that selected it.
    pub by: String,
}

/// An NFA state: entry index and position in its steps.
type State = (usize, usize);

/// Concrete locations selected by JSONPath entries, as a trie keyed like the value.
#[derive(Debug, Default)]
struct Hits {
    here: Option<usize>,
    keys: BTreeMap<String, Hits>,
    indices: BTreeMap<usize, Hits>,
}

enum Child<'a> {
    Key(&'a str),
    Index(usize),
}

impl RedactionPlan {
    pub(crate) fn new(entries: Vec<RedactionEntry>) -> Self {
        RedactionPlan { entries }
    }

    /// Whether the plan redacts nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The configured entries, in order.
    pub fn entries(&self) -> &[RedactionEntry] {
        &self.entries
    }

    /// Applies the plan to a copy of `value`. Never panics; paths that select nothing are no-ops.
    pub fn apply(&self, value: &Value, commit_key: &CommitKey) -> Redacted {
        let mut out = value.clone();
        let mut report = Vec::new();
        let mut originals = Vec::new();
        if self.entries.is_empty() {
            return Redacted {
                value: out,
                report,
                originals: Originals(originals),
            };
        }
        let hits = self.jsonpath_hits(value);
        let mut root_states = Vec::new();
        for (e, entry) in self.entries.iter().enumerate() {
            if matches!(entry.target, Target::Dotted(_)) {
                self.push_closure(&mut root_states, e, 0);
            }
        }
        let mut walker = Walker {
            plan: self,
            key: commit_key,
            report: &mut report,
            originals: &mut originals,
            path: String::from("$"),
        };
        if let Some(e) = hits.as_ref().and_then(|h| h.here) {
            walker.apply_mode(&mut out, e);
            if self.entries[e].mode == RedactionMode::Drop {
                out = Value::Null;
            }
        } else {
            walker.walk(&mut out, &root_states, hits.as_ref());
        }
        Redacted {
            value: out,
            report,
            originals: Originals(originals),
        }
    }

    fn steps(&self, e: usize) -> &[Step] {
        match &self.entries[e].target {
            Target::Dotted(p) => &p.steps,
            Target::JsonPath(_) => &[],
        }
    }

    /// Adds `(e, pos)` and, while the step there is `**`, the states after it (`**` may match
    /// zero levels).
    fn push_closure(&self, states: &mut Vec<State>, e: usize, mut pos: usize) {
        let steps = self.steps(e);
        loop {
            if !states.contains(&(e, pos)) {
                states.push((e, pos));
            }
            if steps.get(pos) == Some(&Step::AnyDepth) {
                pos += 1;
            } else {
                break;
            }
        }
    }

    fn advance(&self, states: &[State], child: &Child<'_>) -> Vec<State> {
        let mut next = Vec::new();
        for &(e, pos) in states {
            let Some(step) = self.steps(e).get(pos) else {
                continue;
            };
            let moves = match (step, child) {
                (Step::Key(k), Child::Key(c)) => k == c,
                (Step::AnyKey, Child::Key(_)) => true,
                (Step::Index(i), Child::Index(c)) => i == c,
                (Step::AnyIndex, Child::Index(_)) => true,
                (Step::AnyDepth, _) => {
                    // `**` consumes this level and stays active (and may again match zero
                    // further levels, hence the closure).
                    self.push_closure(&mut next, e, pos);
                    false
                }
                _ => false,
            };
            if moves {
                self.push_closure(&mut next, e, pos + 1);
            }
        }
        next
    }

    /// Locations selected by JSONPath entries in the original value. A query whose result cannot
    /// be located (never expected) selects the root: failing closed keeps redaction total.
    fn jsonpath_hits(&self, value: &Value) -> Option<Hits> {
        let mut hits: Option<Hits> = None;
        for (e, entry) in self.entries.iter().enumerate() {
            let Target::JsonPath(query) = &entry.target else {
                continue;
            };
            let trie = hits.get_or_insert_with(Hits::default);
            let paths = match jsonpath_rust::query::js_path_process(query, value) {
                Ok(refs) => refs.into_iter().map(|r| r.path).collect::<Vec<_>>(),
                Err(_) => vec!["$".to_owned()],
            };
            for path in paths {
                let node = match locate(&path) {
                    Some(steps) => steps.into_iter().fold(&mut *trie, |node, step| match step {
                        Child2::Key(k) => node.keys.entry(k).or_default(),
                        Child2::Index(i) => node.indices.entry(i).or_default(),
                    }),
                    None => &mut *trie,
                };
                node.here = Some(match node.here {
                    Some(prev) if !self.prefer(e, prev) => prev,
                    _ => e,
                });
            }
        }
        hits
    }

    /// Whether entry `a` wins over entry `b` at the same location.
    fn prefer(&self, a: usize, b: usize) -> bool {
        let (ma, mb) = (self.entries[a].mode, self.entries[b].mode);
        ma.strictness() > mb.strictness() || (ma == mb && a < b)
    }

    fn selected(&self, states: &[State], hits: Option<&Hits>) -> Option<usize> {
        let mut best = hits.and_then(|h| h.here);
        for &(e, pos) in states {
            if pos == self.steps(e).len() {
                best = match best {
                    Some(b) if !self.prefer(e, b) => Some(b),
                    _ => Some(e),
                };
            }
        }
        best
    }
}

enum Child2 {
    Key(String),
    Index(usize),
}

/// Parses a normalized path produced by jsonpath-rust (`$['a'][0]`) into steps.
fn locate(normalized: &str) -> Option<Vec<Child2>> {
    let query = jsonpath_rust::parser::parse_json_path(normalized).ok()?;
    query
        .segments
        .into_iter()
        .map(|segment| match segment {
            Segment::Selector(Selector::Name(name)) => Some(Child2::Key(name)),
            Segment::Selector(Selector::Index(i)) => usize::try_from(i).ok().map(Child2::Index),
            _ => None,
        })
        .collect()
}

struct Walker<'a> {
    plan: &'a RedactionPlan,
    key: &'a CommitKey,
    report: &'a mut Vec<RedactedField>,
    originals: &'a mut Vec<Value>,
    /// Normalized path of the node being visited.
    path: String,
}

impl Walker<'_> {
    /// Records and applies entry `e` to `node` (drop is carried out by the caller, which owns
    /// the container).
    fn apply_mode(&mut self, node: &mut Value, e: usize) {
        let entry = &self.plan.entries[e];
        self.report.push(RedactedField {
            path: self.path.clone(),
            mode: entry.mode,
            by: entry.text.clone(),
        });
        self.originals.push(node.clone());
        match entry.mode {
            RedactionMode::Drop => {}
            RedactionMode::Mask => *node = Value::String(MASK.to_owned()),
            RedactionMode::Commit => *node = commit(self.key, node),
        }
    }

    fn walk(&mut self, node: &mut Value, states: &[State], hits: Option<&Hits>) {
        match node {
            Value::Object(map) => {
                let mut dropped: Vec<String> = Vec::new();
                for (k, child) in map.iter_mut() {
                    let child_states = self.plan.advance(states, &Child::Key(k));
                    let child_hits = hits.and_then(|h| h.keys.get(k.as_str()));
                    if child_states.is_empty() && child_hits.is_none() {
                        continue;
                    }
                    let len = self.path.len();
                    push_key(&mut self.path, k);
                    if let Some(e) = self.plan.selected(&child_states, child_hits) {
                        self.apply_mode(child, e);
                        if self.plan.entries[e].mode == RedactionMode::Drop {
                            dropped.push(k.clone());
                        }
                    } else {
                        self.walk(child, &child_states, child_hits);
                    }
                    self.path.truncate(len);
                }
                if !dropped.is_empty() {
                    map.retain(|k, _| !dropped.contains(k));
                }
            }
            Value::Array(items) => {
                let mut dropped: Vec<usize> = Vec::new();
                for (i, child) in items.iter_mut().enumerate() {
                    let child_states = self.plan.advance(states, &Child::Index(i));
                    let child_hits = hits.and_then(|h| h.indices.get(&i));
                    if child_states.is_empty() && child_hits.is_none() {
                        continue;
                    }
                    let len = self.path.len();
                    let _ = write!(self.path, "[{i}]");
                    if let Some(e) = self.plan.selected(&child_states, child_hits) {
                        self.apply_mode(child, e);
                        if self.plan.entries[e].mode == RedactionMode::Drop {
                            dropped.push(i);
                        }
                    } else {
                        self.walk(child, &child_states, child_hits);
                    }
                    self.path.truncate(len);
                }
                if !dropped.is_empty() {
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !dropped.contains(&i);
                        i += 1;
                        keep
                    });
                }
            }
            _ => {}
        }
    }
}

/// Appends `.key` or, for keys that are not plain identifiers, `['key']` with RFC 9535 escapes.
fn push_key(path: &mut String, key: &str) {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        path.push('.');
        path.push_str(key);
        return;
    }
    path.push_str("['");
    for c in key.chars() {
        match c {
            '\'' => path.push_str("\\'"),
            '\\' => path.push_str("\\\\"),
            c if c < ' ' => {
                let _ = write!(path, "\\u{:04x}", c as u32);
            }
            c => path.push(c),
        }
    }
    path.push_str("']");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(entries: &[(&str, RedactionMode)]) -> RedactionPlan {
        RedactionPlan::new(
            entries
                .iter()
                .map(|(text, mode)| RedactionEntry {
                    target: if text.starts_with('$') {
                        Target::JsonPath(jsonpath_rust::parser::parse_json_path(text).unwrap())
                    } else {
                        Target::Dotted(DottedPath::parse(text).unwrap())
                    },
                    text: (*text).to_owned(),
                    mode: *mode,
                    origin: "test".into(),
                })
                .collect(),
        )
    }

    fn key() -> CommitKey {
        CommitKey::from_bytes([9; 32])
    }

    use RedactionMode::*;

    #[test]
    fn dotted_paths_drop_mask_commit() {
        let v = json!({
            "customer": {"taxId": "DE-1", "name": "Ann"},
            "lines": [{"card": "4111", "n": 1}, {"card": "5500", "n": 2}, "x"],
            "deep": {"a": [{"password": "p1"}], "password": "p2"},
            "password": "p3"
        });
        let r = plan(&[
            ("customer.taxId", Commit),
            ("lines[*].card", Drop),
            ("**.password", Mask),
        ])
        .apply(&v, &key());
        assert_eq!(r.value["customer"]["name"], "Ann");
        assert!(crate::verify_commitment(
            &key(),
            &json!("DE-1"),
            &r.value["customer"]["taxId"]
        ));
        assert_eq!(r.value["lines"], json!([{"n": 1}, {"n": 2}, "x"]));
        assert_eq!(
            r.value["deep"],
            json!({"a": [{"password": MASK}], "password": MASK})
        );
        assert_eq!(r.value["password"], MASK);
        let paths: Vec<&str> = r.report.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "$.customer.taxId",
                "$.lines[0].card",
                "$.lines[1].card",
                "$.deep.a[0].password",
                "$.deep.password",
                "$.password"
            ]
        );
    }

    #[test]
    fn outermost_wins_and_strictest_mode_wins() {
        let v = json!({"a": {"b": "secret"}, "c": "x"});
        let r = plan(&[("a.b", Drop), ("a", Commit)]).apply(&v, &key());
        assert!(r.value["a"].get("$commit").is_some());
        assert_eq!(r.report.len(), 1);
        let r = plan(&[("c", Commit), ("$.c", Mask), ("*", Commit)]).apply(&v, &key());
        assert_eq!(r.value["c"], MASK);
        assert_eq!(r.report.iter().find(|f| f.path == "$.c").unwrap().by, "$.c");
    }

    #[test]
    fn jsonpath_entries_and_array_drops_use_original_indices() {
        let v = json!({"xs": ["a", "b", "c", "d"]});
        let r = plan(&[("$.xs[1]", Drop), ("xs[2]", Drop), ("$.xs[3]", Mask)]).apply(&v, &key());
        assert_eq!(r.value, json!({"xs": ["a", MASK]}));
        let r = plan(&[("$..card", Mask)]).apply(&json!([{"card": 1}, {"x": {"card": 2}}]), &key());
        assert_eq!(r.value, json!([{"card": MASK}, {"x": {"card": MASK}}]));
    }

    #[test]
    fn root_selection_and_missing_paths() {
        let v = json!({"a": 1});
        assert_eq!(plan(&[("$", Drop)]).apply(&v, &key()).value, Value::Null);
        assert_eq!(plan(&[("$", Mask)]).apply(&v, &key()).value, json!(MASK));
        for odd in [
            json!(null),
            json!("a.b"),
            json!(3),
            json!([1, [2]]),
            json!({"a": "str"}),
        ] {
            let r = plan(&[("a.b", Mask), ("a[*].c", Drop), ("$.zz", Drop)]).apply(&odd, &key());
            assert_eq!(r.value, odd);
            assert!(r.report.is_empty());
        }
    }

    #[test]
    fn keys_that_need_quoting_are_quoted_in_reports() {
        let v = json!({"we'ird key": {"ü": 1}});
        let r = plan(&[("**.ü", Mask)]).apply(&v, &key());
        assert_eq!(r.report[0].path, "$['we\\'ird key']['ü']");
    }
}

//! `explain`: the decision plus, for every rule, whether it decided or why it did not (each
//! failing comparison with what it selected, unless the policy protects it), and what the write
//! ceiling did.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::condition::{Comparison, Condition, select_path};
use crate::decision::{Decision, Request};
use crate::policy::Policy;
use crate::rule::Mismatch;
use crate::tier::Tier;

/// A decision and the trace that led to it.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// Exactly what [`crate::Policy::decide`] returns for the same request.
    pub decision: Decision,
    /// One entry per rule, in file order.
    pub rules: Vec<RuleTrace>,
    /// Whether `[data] tables` refused the call before any rule was tried (every rule is then
    /// `not_reached`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub data_decided: bool,
}

/// What one rule did with the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleTrace {
    /// The rule's id.
    pub rule_id: String,
    /// The line of its `[[rules]]` table.
    pub line: usize,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// See [`RuleTrace`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// This rule matched and decided.
    Decided,
    /// This rule was tried and did not match, for these reasons (every failing criterion).
    Skipped {
        /// Every failing criterion.
        mismatches: Vec<Mismatch>,
    },
    /// An earlier rule decided first; `would_match` says whether this one would have.
    NotReached {
        /// Whether this rule's criteria (and condition) hold for the request.
        would_match: bool,
    },
}

/// What `defaults.write` did to a decision: the ceiling for the request's kind (`allow` for
/// reads), the tier the deciding rule (or `defaults.tier`) gave, and whether the ceiling lowered
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CeilingTrace {
    /// The most a request of this kind may get.
    pub ceiling: Tier,
    /// The tier before the ceiling.
    pub decided: Tier,
    /// Whether the ceiling lowered `decided` (the decision's `write_capped`).
    pub capped: bool,
}

impl Policy {
    /// The write ceiling's part in an explained decision of `req`.
    pub fn ceiling_trace(&self, req: &Request<'_>, explanation: &Explanation) -> CeilingTrace {
        let d = &explanation.decision;
        let decided = if explanation.data_decided {
            d.tier
        } else {
            match &d.rule_id {
                Some(id) => self
                    .rules
                    .iter()
                    .find(|r| r.id == *id)
                    .map_or(d.tier, |r| r.tier),
                None => self.default_tier,
            }
        };
        CeilingTrace {
            ceiling: self.ceiling(req),
            decided,
            capped: d.write_capped,
        }
    }
}

impl Explanation {
    /// Empties (and marks `hidden`) the selected values of every comparison whose selection in
    /// `recorded` — the same arguments as the ledger would hold them, after the decision's audit
    /// plan (`decision.audit_args.apply(args, key).value`, or the gateway's own redaction pass) —
    /// differs: what the policy protects is not shown, even to the operator who typed it (a
    /// terminal, a log of the command's output).
    pub fn hide_protected(&mut self, recorded: &Value) {
        for trace in &mut self.rules {
            let Outcome::Skipped { mismatches } = &mut trace.outcome else {
                continue;
            };
            for m in mismatches {
                if let Mismatch::Condition { comparisons, .. } = m {
                    for c in comparisons.iter_mut() {
                        hide_if_redacted(c, recorded);
                    }
                }
            }
        }
    }
}

fn hide_if_redacted(c: &mut Comparison, redacted: &Value) {
    let shown = select_path(&c.path, redacted);
    let same =
        shown.len() == c.selected.len() && shown.iter().zip(&c.selected).all(|(a, b)| *a == b);
    if !same {
        c.selected.clear();
        c.hidden = true;
    }
}

/// Why `condition` made a rule not match `args`.
pub(crate) fn condition_mismatch(condition: &Condition, args: &Value) -> Mismatch {
    let mut comparisons = Vec::new();
    condition.comparisons(args, &mut comparisons);
    Mismatch::Condition {
        condition: condition.to_string(),
        comparisons,
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.decision;
        writeln!(f, "decision: {} ({})", d.tier, d.reason)?;
        if self.data_decided {
            writeln!(f, "  [data] tables: DECIDED")?;
        }
        let first = if self.data_decided {
            "[data] tables"
        } else {
            "an earlier rule"
        };
        for trace in &self.rules {
            write!(f, "  rule {:?} (line {}): ", trace.rule_id, trace.line)?;
            match &trace.outcome {
                Outcome::Decided => writeln!(f, "DECIDED")?,
                Outcome::NotReached { would_match } => writeln!(
                    f,
                    "not reached ({first} decided; would {}have matched)",
                    if *would_match { "" } else { "not " }
                )?,
                Outcome::Skipped { mismatches } => {
                    let why: Vec<String> = mismatches.iter().map(describe).collect();
                    writeln!(f, "skipped: {}", why.join("; "))?;
                }
            }
        }
        if d.rule_id.is_none() && !self.data_decided {
            writeln!(f, "  defaults: DECIDED")?;
        }
        Ok(())
    }
}

fn describe(m: &Mismatch) -> String {
    match m {
        Mismatch::Kind { kind, allowed } => {
            let allowed: Vec<&str> = allowed.iter().map(|k| k.as_str()).collect();
            format!("kind {kind} not in [{}]", allowed.join(", "))
        }
        Mismatch::Principal { principal, allowed } => {
            format!("principal {principal:?} not in {allowed:?}")
        }
        Mismatch::Roles { required, held } => {
            format!("holds none of the roles {required:?} (has {held:?})")
        }
        Mismatch::Tool { tool, globs } => format!("tool {tool:?} matches none of {globs:?}"),
        Mismatch::Function {
            function: Some(f),
            globs,
        } => format!("function {f:?} matches none of {globs:?}"),
        Mismatch::Function {
            function: None,
            globs,
        } => format!("tool has no function path (rule needs one matching {globs:?})"),
        Mismatch::Condition { condition, .. } => format!("condition does not hold: {condition}"),
    }
}

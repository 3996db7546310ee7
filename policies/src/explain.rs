//! `explain`: the decision plus, for every rule, whether it decided or why it did not.

use std::fmt;

use serde::Serialize;

use crate::decision::Decision;
use crate::rule::Mismatch;

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
        Mismatch::Condition { condition } => format!("condition does not hold: {condition}"),
    }
}

//! A compiled rule and how it matches a request.

use std::sync::Arc;

use serde::Serialize;

use crate::approval::ApprovalSettings;
use crate::condition::{Comparison, Condition};
use crate::decision::Request;
use crate::glob::NameGlob;
use crate::redaction::RedactionPlan;
use crate::tier::{Tier, ToolKind};

/// The three redaction plans a decision carries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plans {
    pub audit_args: Arc<RedactionPlan>,
    pub audit_result: Arc<RedactionPlan>,
    pub response: Arc<RedactionPlan>,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub id: Arc<str>,
    pub line: usize,
    pub tools: Option<Vec<NameGlob>>,
    pub functions: Option<Vec<NameGlob>>,
    /// Bit set of [`ToolKind::bit`]; `None` matches every kind.
    pub kinds: Option<u8>,
    pub roles: Option<Vec<String>>,
    pub principals: Option<Vec<String>>,
    pub condition: Option<Condition>,
    /// `tier` as written, or `allow` when the rule has none (writes are still capped).
    pub tier: Tier,
    pub plans: Plans,
    pub approval: Arc<ApprovalSettings>,
    pub reason: Arc<str>,
    /// The reason when a write ceiling lowered the tier, per [`crate::write::WriteClass`]
    /// (precomputed: decisions stay cheap).
    pub reason_capped: [Arc<str>; 2],
}

/// Why a rule did not apply to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "criterion", rename_all = "snake_case")]
pub enum Mismatch {
    /// `match.kind` does not list the request's kind.
    Kind {
        /// The request's kind.
        kind: ToolKind,
        /// The kinds the rule lists.
        allowed: Vec<ToolKind>,
    },
    /// `match.principals` does not list the caller.
    Principal {
        /// The caller.
        principal: String,
        /// The principals the rule lists.
        allowed: Vec<String>,
    },
    /// The caller holds none of `match.roles`.
    Roles {
        /// The roles the rule lists.
        required: Vec<String>,
        /// The caller's roles.
        held: Vec<String>,
    },
    /// No `match.tool` glob matches the tool name.
    Tool {
        /// The tool name.
        tool: String,
        /// The rule's globs.
        globs: Vec<String>,
    },
    /// No `match.function` glob matches the function path (or the tool has none).
    Function {
        /// The Convex function path, if the tool has one.
        function: Option<String>,
        /// The rule's globs.
        globs: Vec<String>,
    },
    /// The `when` condition does not hold for these arguments.
    Condition {
        /// The condition, rendered.
        condition: String,
        /// Each of its comparisons: what it selected and whether it held.
        comparisons: Vec<Comparison>,
    },
}

fn globs_match(globs: &[NameGlob], name: &str) -> bool {
    globs.iter().any(|g| g.is_match(name))
}

impl Rule {
    /// The match criteria other than `when`; cheapest checks first.
    pub(crate) fn matches_static(&self, req: &Request<'_>) -> bool {
        if let Some(mask) = self.kinds
            && mask & req.kind.bit() == 0
        {
            return false;
        }
        if let Some(ps) = &self.principals
            && !ps.iter().any(|p| principal_matches(p, req.principal))
        {
            return false;
        }
        if let Some(roles) = &self.roles
            && !roles.iter().any(|r| req.roles.contains(r))
        {
            return false;
        }
        if let Some(globs) = &self.tools
            && !globs_match(globs, req.tool)
        {
            return false;
        }
        if let Some(globs) = &self.functions
            && !req.function_path.is_some_and(|f| globs_match(globs, f))
        {
            return false;
        }
        true
    }

    /// Every static criterion that fails, for `explain`.
    pub(crate) fn static_mismatches(&self, req: &Request<'_>) -> Vec<Mismatch> {
        let mut out = Vec::new();
        if let Some(mask) = self.kinds
            && mask & req.kind.bit() == 0
        {
            out.push(Mismatch::Kind {
                kind: req.kind,
                allowed: ToolKind::ALL
                    .into_iter()
                    .filter(|k| mask & k.bit() != 0)
                    .collect(),
            });
        }
        if let Some(ps) = &self.principals
            && !ps.iter().any(|p| principal_matches(p, req.principal))
        {
            out.push(Mismatch::Principal {
                principal: req.principal.to_owned(),
                allowed: ps.clone(),
            });
        }
        if let Some(roles) = &self.roles
            && !roles.iter().any(|r| req.roles.contains(r))
        {
            out.push(Mismatch::Roles {
                required: roles.clone(),
                held: req.roles.to_vec(),
            });
        }
        if let Some(globs) = &self.tools
            && !globs_match(globs, req.tool)
        {
            out.push(Mismatch::Tool {
                tool: req.tool.to_owned(),
                globs: globs.iter().map(|g| g.text.clone()).collect(),
            });
        }
        if let Some(globs) = &self.functions
            && !req.function_path.is_some_and(|f| globs_match(globs, f))
        {
            out.push(Mismatch::Function {
                function: req.function_path.map(str::to_owned),
                globs: globs.iter().map(|g| g.text.clone()).collect(),
            });
        }
        out
    }

    /// Whether this rule, when unconditional, matches every request `later` matches.
    pub(crate) fn covers(&self, later: &Rule) -> bool {
        fn names(a: &Option<Vec<NameGlob>>, b: &Option<Vec<NameGlob>>) -> bool {
            match (a, b) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(a), Some(b)) => b.iter().all(|g| a.iter().any(|f| f.covers(g))),
            }
        }
        fn subset(a: &Option<Vec<String>>, b: &Option<Vec<String>>) -> bool {
            match (a, b) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(a), Some(b)) => b.iter().all(|x| a.contains(x)),
            }
        }
        let kinds = match (self.kinds, later.kinds) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => b & !a == 0,
        };
        self.condition.is_none()
            && kinds
            && subset(&self.roles, &later.roles)
            && subset(&self.principals, &later.principals)
            && names(&self.tools, &later.tools)
            && names(&self.functions, &later.functions)
    }
}

/// Whether a `match.principals` entry names the caller. The caller is qualified by its name
/// space (`key:eve`, `oauth:eve`, `local:eve`); an entry with a name space must equal it, a bare
/// entry (`eve`) names an API-key or stdio principal, never an OAuth subject, so that a token whose
/// `sub` is `eve` cannot take the rules written for the API key principal `eve`.
pub fn principal_matches(entry: &str, caller: &str) -> bool {
    if entry.starts_with("key:") || entry.starts_with("oauth:") || entry.starts_with("local:") {
        return entry == caller;
    }
    match caller.split_once(':') {
        Some(("key" | "local", name)) => name == entry,
        Some(_) => false,
        // An unqualified caller (a ledger written before name spaces, re-decided by `what-if`).
        None => caller == entry,
    }
}

#[cfg(test)]
mod principal_tests {
    use super::principal_matches;

    #[test]
    fn bare_entries_name_api_key_and_stdio_principals_never_oauth_subjects() {
        assert!(principal_matches("eve", "key:eve"));
        assert!(principal_matches("eve", "local:eve"));
        assert!(!principal_matches("eve", "oauth:eve"));
        assert!(principal_matches("oauth:eve", "oauth:eve"));
        assert!(!principal_matches("oauth:eve", "key:eve"));
        assert!(principal_matches("key:eve", "key:eve"));
        assert!(!principal_matches("key:eve", "local:eve"));
        assert!(!principal_matches("eve", "key:eve2"));
        // Ledgers written before name spaces carry bare names.
        assert!(principal_matches("eve", "eve"));
    }
}

//! The vocabulary every decision is made of: tiers, tool kinds and the write mode.

use serde::{Deserialize, Serialize};

/// What the gateway does with a call. Ordered from most to least restrictive, so that
/// `min` is "the stricter of two tiers".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Refused; blocked tools are also omitted from `tools/list`.
    Blocked,
    /// Held until the configured approvers agree (see [`crate::ApprovalSettings`]).
    ApprovalRequired,
    /// Forwarded upstream.
    Allow,
}

impl Tier {
    /// The name used in policy files and ledger entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Blocked => "blocked",
            Tier::ApprovalRequired => "approval_required",
            Tier::Allow => "allow",
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of thing a tool does upstream. Convex functions are queries, mutations or actions;
/// the gateway's own data tools read or write tables directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolKind {
    /// A Convex query (read-only, deterministic).
    Query,
    /// A Convex mutation (transactional write).
    Mutation,
    /// A Convex action (arbitrary side effects, may call the outside world).
    Action,
    /// A gateway data tool that reads tables.
    DataRead,
    /// A gateway data tool that writes tables.
    DataWrite,
}

impl ToolKind {
    /// Every kind, in declaration order.
    pub const ALL: [ToolKind; 5] = [
        ToolKind::Query,
        ToolKind::Mutation,
        ToolKind::Action,
        ToolKind::DataRead,
        ToolKind::DataWrite,
    ];

    /// Whether the write mode (`defaults.write`) caps this kind.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            ToolKind::Mutation | ToolKind::Action | ToolKind::DataWrite
        )
    }

    /// The name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolKind::Query => "query",
            ToolKind::Mutation => "mutation",
            ToolKind::Action => "action",
            ToolKind::DataRead => "data-read",
            ToolKind::DataWrite => "data-write",
        }
    }

    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl std::fmt::Display for ToolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A write mode: the ceiling `defaults.write` (or `serve --write`) sets on the tier of writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Writes are always `blocked`.
    Deny,
    /// Writes are at most `approval_required`.
    Ask,
    /// Writes get whatever tier the rules give them.
    Allow,
}

impl WriteMode {
    /// The tier this mode caps writes at.
    pub fn ceiling(self) -> Tier {
        match self {
            WriteMode::Deny => Tier::Blocked,
            WriteMode::Ask => Tier::ApprovalRequired,
            WriteMode::Allow => Tier::Allow,
        }
    }

    /// The name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Deny => "deny",
            WriteMode::Ask => "ask",
            WriteMode::Allow => "allow",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_order_from_strict_to_permissive() {
        assert!(Tier::Blocked < Tier::ApprovalRequired);
        assert!(Tier::ApprovalRequired < Tier::Allow);
        assert_eq!(
            Tier::Allow.min(WriteMode::Ask.ceiling()),
            Tier::ApprovalRequired
        );
    }

    #[test]
    fn serde_names_match_the_format() {
        let names: Vec<String> = ToolKind::ALL
            .iter()
            .map(|k| serde_json::to_string(k).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                r#""query""#,
                r#""mutation""#,
                r#""action""#,
                r#""data-read""#,
                r#""data-write""#
            ]
        );
        for k in ToolKind::ALL {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        assert_eq!(
            serde_json::to_string(&Tier::ApprovalRequired).unwrap(),
            r#""approval_required""#
        );
    }
}

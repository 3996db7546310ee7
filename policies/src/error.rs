//! Validation errors and warnings, each pinned to a file, line, column and field.
//!
//! Every variant is one distinct mistake a policy author can make; `docs/policy-format.md`
//! lists them all and `tests/validation.rs` has a test per variant.

use std::fmt;

use thiserror::Error;

use crate::redaction::RedactionMode;

/// Past participle of a redaction mode, for messages.
fn redacted_as(mode: RedactionMode) -> &'static str {
    match mode {
        RedactionMode::Drop => "dropped",
        RedactionMode::Mask => "masked",
        RedactionMode::Commit => "committed",
    }
}

/// Where in the policy file a problem is: 1-based line and column (in characters), and the
/// dotted field path (`rules[3].match.tool[0]`, zero-based indices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file name given to [`crate::Policy::parse`].
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// Field path; empty for the document as a whole.
    pub field: String,
}

impl Location {
    pub(crate) fn at(file: &str, text: &str, offset: usize, field: impl Into<String>) -> Self {
        let (line, column) = line_column(text, offset);
        Location {
            file: file.to_owned(),
            line,
            column,
            field: field.into(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        Ok(())
    }
}

/// 1-based (line, column) of a byte offset; the column counts characters, not bytes.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// A policy file that cannot be loaded. Only the first problem found is reported.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The bytes are not UTF-8 (TOML files must be).
    #[error("{loc}: file is not valid UTF-8")]
    NotUtf8 { loc: Location },
    /// The text is not TOML.
    #[error("{loc}: TOML syntax error: {message}")]
    Syntax { loc: Location, message: String },
    /// A key the format does not define (often a typo).
    #[error("{loc}: unknown key `{key}`{expected}")]
    UnknownKey {
        loc: Location,
        key: String,
        expected: String,
    },
    /// A key the format requires is absent.
    #[error("{loc}: missing required key `{key}`")]
    MissingKey { loc: Location, key: String },
    /// A name that is not one of the allowed words (tier, kind, mode, write mode, operator…).
    #[error("{loc}: unknown value `{value}`{expected}")]
    UnknownValue {
        loc: Location,
        value: String,
        expected: String,
    },
    /// A value of the wrong TOML type (a string where a list was expected, …).
    #[error("{loc}: {message}")]
    WrongType { loc: Location, message: String },
    /// `version` is not a version this crate understands.
    #[error("{loc}: unsupported policy version {version} (this build understands version 1)")]
    UnsupportedVersion { loc: Location, version: i64 },
    /// A rule id that is empty or uses characters other than `A-Z a-z 0-9 _ - .`.
    #[error("{loc}: invalid rule id {id:?}: use letters, digits, `_`, `-` and `.`")]
    InvalidRuleId { loc: Location, id: String },
    /// Two rules share an id; ledger entries name the deciding rule by id, so ids are unique.
    #[error("{loc}: duplicate rule id {id:?} (first used on line {first_line})")]
    DuplicateRuleId {
        loc: Location,
        id: String,
        first_line: usize,
    },
    /// An empty match list (`tool = []`) would make the rule match nothing.
    #[error("{loc}: empty list: the rule could never match; remove the key to match anything")]
    EmptyList { loc: Location },
    /// A glob that does not compile.
    #[error("{loc}: invalid glob {glob:?}: {message}")]
    InvalidGlob {
        loc: Location,
        glob: String,
        message: String,
    },
    /// A JSONPath (RFC 9535) expression that does not compile.
    #[error("{loc}: invalid JSONPath {path:?}: {message}")]
    InvalidJsonPath {
        loc: Location,
        path: String,
        message: String,
    },
    /// A dotted redaction path that does not parse.
    #[error("{loc}: invalid path {path:?}: {message}")]
    InvalidPath {
        loc: Location,
        path: String,
        message: String,
    },
    /// A redaction entry must have exactly one of `path` and `jsonpath`.
    #[error("{loc}: a redaction needs exactly one of `path` or `jsonpath`")]
    RedactionTarget { loc: Location },
    /// `commit` is an audit-record mode; the agent's view can only `drop` or `mask`.
    #[error("{loc}: mode `commit` is only for the audit record; use `drop` or `mask` here")]
    CommitInResponse { loc: Location },
    /// The same path is redacted twice with different modes in one plan.
    #[error(
        "{loc}: path {path:?} is already redacted with mode `{first}` (line {first_line}); cannot also use `{second}`"
    )]
    ConflictingRedaction {
        loc: Location,
        path: String,
        first: RedactionMode,
        second: RedactionMode,
        first_line: usize,
    },
    /// A `when` condition that is malformed (wrong combination of keys, wrong value type…).
    #[error("{loc}: invalid condition: {message}")]
    InvalidCondition { loc: Location, message: String },
    /// A value TOML can hold but JSON cannot (a date, a NaN…).
    #[error("{loc}: {message}")]
    InvalidValue { loc: Location, message: String },
    /// A `[data] tables` name that is not a user table name (`[A-Za-z][A-Za-z0-9_]*`).
    #[error(
        "{loc}: invalid table name {name:?}: data tools reach user tables only (a letter, then letters, digits and `_`)"
    )]
    InvalidTableName { loc: Location, name: String },
    /// Two `[data] tables` entries name the same table.
    #[error("{loc}: duplicate table {name:?} (first listed on line {first_line})")]
    DuplicateTable {
        loc: Location,
        name: String,
        first_line: usize,
    },
    /// An empty or blank role in `[data] tables` `read` or `write`.
    #[error("{loc}: invalid role {role:?}: name a role, or \"*\" for every caller")]
    InvalidRole { loc: Location, role: String },
    /// A duration that is not `<n>s`, `<n>m`, `<n>h` or `<n>d` (combinable: `1h30m`).
    #[error("{loc}: invalid duration {value:?}: write e.g. \"90s\", \"15m\", \"1h30m\", \"2d\"")]
    InvalidDuration { loc: Location, value: String },
}

impl PolicyError {
    /// Where the problem is.
    pub fn location(&self) -> &Location {
        match self {
            PolicyError::NotUtf8 { loc }
            | PolicyError::Syntax { loc, .. }
            | PolicyError::UnknownKey { loc, .. }
            | PolicyError::MissingKey { loc, .. }
            | PolicyError::UnknownValue { loc, .. }
            | PolicyError::WrongType { loc, .. }
            | PolicyError::UnsupportedVersion { loc, .. }
            | PolicyError::InvalidRuleId { loc, .. }
            | PolicyError::DuplicateRuleId { loc, .. }
            | PolicyError::EmptyList { loc }
            | PolicyError::InvalidGlob { loc, .. }
            | PolicyError::InvalidJsonPath { loc, .. }
            | PolicyError::InvalidPath { loc, .. }
            | PolicyError::RedactionTarget { loc }
            | PolicyError::CommitInResponse { loc }
            | PolicyError::ConflictingRedaction { loc, .. }
            | PolicyError::InvalidCondition { loc, .. }
            | PolicyError::InvalidValue { loc, .. }
            | PolicyError::InvalidTableName { loc, .. }
            | PolicyError::DuplicateTable { loc, .. }
            | PolicyError::InvalidRole { loc, .. }
            | PolicyError::InvalidDuration { loc, .. } => loc,
        }
    }
}

/// Something legal but probably not what the author meant. Loading still succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where.
    pub loc: Location,
    /// What.
    pub kind: WarningKind,
}

/// The kinds of [`Warning`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// The rule can never decide: an earlier unconditional rule matches everything it matches.
    ShadowedRule { rule_id: String, by: String },
    /// The same path is redacted twice with the same mode.
    DuplicateRedaction { path: String },
    /// Approval settings on a rule whose tier is `blocked`; they can never be used.
    UnusedApproval { rule_id: String },
    /// A path redacted in arguments that the `audit.result` plan of some decision that forwards
    /// calls does not cover: a result or a Convex error repeating the value would be written to
    /// the ledger in clear.
    ArgumentNotRedactedInResult {
        /// The argument path as written.
        path: String,
        /// Its mode in the arguments.
        mode: RedactionMode,
        /// The rules whose result plan does not cover it, in file order.
        rules: Vec<String>,
        /// Whether the default decision (the file-wide tables only) does not cover it either.
        default_decision: bool,
        /// The entry to add, as TOML.
        add: String,
    },
    /// A field a rule hides from responses that a decision letting `convex_query_documents`
    /// read documents does not hide: it is visible and filterable through the data tool.
    HiddenFieldReadable {
        /// The hidden path as written.
        path: String,
        /// The rule that hides it.
        hidden_by: String,
        /// The rule that lets the data tool read without hiding it; `None` for the default
        /// decision.
        reader: Option<String>,
        /// The reader rule's line.
        reader_line: Option<usize>,
        /// The entry to add, as TOML.
        add: String,
    },
}

impl WarningKind {
    /// Whether the warning is about a value protected in one place and let out in another.
    pub fn is_privacy(&self) -> bool {
        matches!(
            self,
            WarningKind::ArgumentNotRedactedInResult { .. }
                | WarningKind::HiddenFieldReadable { .. }
        )
    }
}

/// `rule "a"`, `rule "a" and rule "b"`, `rule "a", rule "b" and the default decision`.
fn contexts(rules: &[String], default_decision: bool) -> String {
    let mut names: Vec<String> = rules.iter().map(|r| format!("rule {r:?}")).collect();
    if default_decision {
        names.push("the default decision".into());
    }
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: warning: ", self.loc)?;
        match &self.kind {
            WarningKind::ShadowedRule { rule_id, by } => write!(
                f,
                "rule {rule_id:?} is shadowed by the earlier catch-all rule {by:?} and can never decide"
            ),
            WarningKind::DuplicateRedaction { path } => {
                write!(f, "path {path:?} is redacted twice with the same mode")
            }
            WarningKind::UnusedApproval { rule_id } => write!(
                f,
                "rule {rule_id:?} is `blocked`; its approval settings are never used"
            ),
            WarningKind::ArgumentNotRedactedInResult {
                path,
                mode,
                rules,
                default_decision,
                add,
            } => {
                let done = redacted_as(*mode);
                let place = match (rules.as_slice(), default_decision) {
                    ([rule], false) => format!("[audit].result or to rule {rule:?}'s audit.result"),
                    ([_, _, ..], false) => {
                        "[audit].result (or to each of those rules' audit.result)".into()
                    }
                    _ => "[audit].result".into(),
                };
                write!(
                    f,
                    "argument path {path:?} is {done} in arguments but not redacted in results and errors of {}: add {add} to {place}: a value {done} in arguments would otherwise be written in clear when a result or a Convex error repeats it",
                    contexts(rules, *default_decision)
                )
            }
            WarningKind::HiddenFieldReadable {
                path,
                hidden_by,
                reader,
                reader_line,
                add,
            } => {
                write!(
                    f,
                    "path {path:?} is hidden from responses by rule {hidden_by:?} but "
                )?;
                match (reader, reader_line) {
                    (Some(r), Some(line)) => write!(f, "rule {r:?} (line {line})")?,
                    (Some(r), None) => write!(f, "rule {r:?}")?,
                    (None, _) => {
                        write!(f, "the default decision (defaults.tier is not \"blocked\")")?
                    }
                }
                write!(
                    f,
                    " lets convex_query_documents read documents without hiding it: the field is visible and filterable there; add {add} to [response].hide"
                )?;
                match reader {
                    Some(r) => write!(f, " or to rule {r:?}'s response.hide"),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_characters() {
        let text = "a = 1\nbé = [\n  \"x\"]";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // `=` after "bé " is byte 10 but character column 4.
        assert_eq!(line_column(text, 10), (2, 4));
        assert_eq!(line_column(text, 9999), (3, 7));
        // Offsets inside a multi-byte character snap back to its start.
        assert_eq!(line_column(text, 8), (2, 2));
    }

    #[test]
    fn display_names_file_line_column_field() {
        let loc = Location::at("policy.toml", "x\n    y", 6, "rules[3].match.tool[0]");
        let err = PolicyError::InvalidGlob {
            loc,
            glob: "[".into(),
            message: "unclosed character class".into(),
        };
        assert_eq!(
            err.to_string(),
            "policy.toml:2:5: rules[3].match.tool[0]: invalid glob \"[\": unclosed character class"
        );
    }
}

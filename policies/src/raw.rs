//! Stage one: the policy file exactly as written, deserialized with `deny_unknown_fields` and
//! spans, before any validation. `compile.rs` turns it into a [`crate::Policy`].

use serde::Deserialize;
use toml::Spanned;

use crate::condition::{Op, Quantifier};
use crate::redaction::RedactionMode;
use crate::tier::{Tier, ToolKind};

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub version: S<i64>,
    #[serde(default)]
    pub defaults: Option<RawDefaults>,
    #[serde(default)]
    pub audit: Option<RawAudit>,
    #[serde(default)]
    pub response: Option<RawResponse>,
    #[serde(default)]
    pub rules: Vec<S<RawRule>>,
    #[serde(default)]
    pub data: Option<RawData>,
}

/// `[data]`: per-role table access for the data tools (`data.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawData {
    pub tables: Vec<S<RawDataTable>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDataTable {
    pub name: S<String>,
    #[serde(default)]
    pub read: Vec<S<String>>,
    #[serde(default)]
    pub write: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDefaults {
    pub tier: Option<S<Tier>>,
    pub write: Option<S<crate::write::RawWrite>>,
    pub approval: Option<S<RawApproval>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAudit {
    #[serde(default)]
    pub args: Vec<S<RawRedaction>>,
    #[serde(default)]
    pub result: Vec<S<RawRedaction>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResponse {
    #[serde(default)]
    pub hide: Vec<S<RawRedaction>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRedaction {
    pub path: Option<S<String>>,
    pub jsonpath: Option<S<String>>,
    pub mode: S<RedactionMode>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub id: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "match")]
    pub matcher: Option<RawMatch>,
    #[serde(default)]
    pub when: Option<S<RawCondition>>,
    #[serde(default)]
    pub tier: Option<S<Tier>>,
    #[serde(default)]
    pub audit: Option<RawAudit>,
    #[serde(default)]
    pub response: Option<RawResponse>,
    #[serde(default)]
    pub approval: Option<S<RawApproval>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatch {
    pub tool: Option<S<Vec<S<String>>>>,
    pub function: Option<S<Vec<S<String>>>>,
    pub kind: Option<S<Vec<S<ToolKind>>>>,
    pub roles: Option<S<Vec<S<String>>>>,
    pub principals: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCondition {
    pub path: Option<S<String>>,
    pub op: Option<S<Op>>,
    pub value: Option<S<toml::Value>>,
    pub quantifier: Option<S<Quantifier>>,
    pub all: Option<S<Vec<S<RawCondition>>>>,
    pub any: Option<S<Vec<S<RawCondition>>>>,
    pub not: Option<Box<S<RawCondition>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApproval {
    #[serde(default)]
    pub roles: Vec<S<String>>,
    #[serde(default)]
    pub keys: Vec<S<String>>,
    #[serde(default)]
    pub four_eyes: Option<bool>,
    #[serde(default)]
    pub timeout: Option<S<String>>,
}

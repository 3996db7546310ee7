//! What the deployment itself says about a config: `auditgate check-config --live`, and
//! `auditgate serve` at start. Each finding is one [`Finding`] line, `ok`, `warn` or `error`:
//!
//! | line | ok | warn | error |
//! |---|---|---|---|
//! | `deployment` | reachable, deploy key accepted (the admin-only `apiSpec` answered) | — | unreachable, timed out, or the key refused (HTTP 401/403) |
//! | `live spec` | parsed; equal to `spec_file` when one is set | entries skipped; `spec_file` differs (functions added, removed or changed, by path) | not a function spec |
//! | `data tool` (one per tool, with `[catalog] data_tools`) | the route it takes (`streaming_export`, `system_queries`, …) | not listed on this deployment, and why | — |
//!
//! `serve` stops only on a refused deploy key ([`Finding::serve_may_start`]).
//!
//! Nothing here writes anything, and no line holds the deploy key (it is only ever in a header).
use std::collections::BTreeMap;

use crate::catalog::data_support::{self, DataSupport, ToolSupport};
use crate::catalog::data_tools::DataTool;
use crate::catalog::spec::{FunctionSpec, FunctionSpecFile};
use crate::config::Config;
use crate::upstream::convex::{ConvexClient, UpstreamError};

/// How a finding bears on serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    /// Serving works, but something differs from what the config says.
    Warn,
    /// Serving would fail or act on something other than the config says.
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// One line of the live check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub what: &'static str,
    pub level: Level,
    pub detail: String,
    /// Whether `serve` may still start: every finding but a refused deploy key (a deployment
    /// that is unreachable or answers garbage may recover; each call then fails closed on its
    /// own, and is recorded).
    pub serve_may_start: bool,
}

impl Finding {
    fn new(what: &'static str, level: Level, detail: impl Into<String>) -> Self {
        Self {
            what,
            level,
            detail: detail.into(),
            serve_may_start: true,
        }
    }
}

/// Contacts the deployment through `client` (the config's deploy key) and compares what it
/// answers with the config.
pub async fn check(config: &Config, client: &ConvexClient) -> Vec<Finding> {
    let mut findings = Vec::new();
    let live = match client.function_spec().await {
        Ok(value) => {
            findings.push(Finding::new(
                "deployment",
                Level::Ok,
                format!("{} reachable; deploy key accepted", client.base_url()),
            ));
            value
        }
        Err(e) => {
            let mut finding =
                Finding::new("deployment", Level::Error, refusal(client.base_url(), &e));
            finding.serve_may_start = !is_key_refusal(&e);
            findings.push(finding);
            return findings;
        }
    };
    let live = match FunctionSpecFile::from_value(live) {
        Ok(spec) => spec,
        Err(e) => {
            findings.push(Finding::new("live spec", Level::Error, e.to_string()));
            return findings;
        }
    };
    findings.push(live_spec(&live, config));
    if config.catalog.data_tools {
        findings.extend(data_tools(&data_support::probe(client).await));
    }
    findings
}

/// One line per data tool: the route it takes on this deployment, or why it is not listed.
fn data_tools(support: &DataSupport) -> Vec<Finding> {
    let mut findings: Vec<Finding> = DataTool::ALL
        .into_iter()
        .map(|d| match support.of(d) {
            ToolSupport::Supported { via } => Finding::new(
                "data tool",
                Level::Ok,
                format!("{} via {}", d.name(), via.as_str()),
            ),
            ToolSupport::Unsupported { reason } => Finding::new(
                "data tool",
                Level::Warn,
                format!("{} not listed: {reason}", d.name()),
            ),
        })
        .collect();
    if let Some(note) = support.note() {
        findings.push(Finding::new("data tools", Level::Ok, note));
    }
    findings
}

fn is_key_refusal(e: &UpstreamError) -> bool {
    matches!(
        e,
        UpstreamError::Request {
            status: 401 | 403,
            ..
        }
    )
}

/// Why the deployment did not answer the admin spec query.
fn refusal(url: &str, e: &UpstreamError) -> String {
    match e {
        UpstreamError::Request {
            status: 401 | 403,
            code,
            ..
        } => format!("{url} refused the deploy key ({code}): check [convex] deploy_key_env/_file"),
        UpstreamError::Transport { .. } | UpstreamError::Timeout { .. } => {
            format!("{url} unreachable: {e}")
        }
        other => format!("{url} did not answer the function spec query: {other}"),
    }
}

/// The live spec, and how it compares with `[catalog] spec_file`.
fn live_spec(live: &FunctionSpecFile, config: &Config) -> Finding {
    let summary = format!(
        "{} functions, {} HTTP routes{}",
        live.functions.len(),
        live.http_routes.len(),
        match live.skipped.len() {
            0 => String::new(),
            n => format!(", {n} entries skipped (`auditgate tools --all` says why)"),
        }
    );
    let Some(path) = &config.catalog.spec_file else {
        let level = if live.skipped.is_empty() {
            Level::Ok
        } else {
            Level::Warn
        };
        return Finding::new(
            "live spec",
            level,
            format!("{summary}; the catalog is built from it"),
        );
    };
    let file = match std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| FunctionSpecFile::parse(&bytes).map_err(|e| e.to_string()))
    {
        Ok(file) => file,
        Err(e) => {
            return Finding::new(
                "live spec",
                Level::Error,
                format!("{}: {e}", path.display()),
            );
        }
    };
    let diff = SpecDiff::between(&file, live);
    if diff.is_empty() && file.http_routes == live.http_routes {
        let level = if live.skipped.is_empty() {
            Level::Ok
        } else {
            Level::Warn
        };
        return Finding::new(
            "live spec",
            level,
            format!("{summary}; {} matches it", path.display()),
        );
    }
    Finding::new(
        "live spec",
        Level::Warn,
        format!(
            "{summary}; {} differs from the deployment ({}): tools are built from the file \
             until it is regenerated (`npx convex function-spec`)",
            path.display(),
            diff.describe()
        ),
    )
}

/// The functions one spec has that another lacks, by path.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SpecDiff {
    /// In the deployment, not in the file.
    pub added: Vec<String>,
    /// In the file, not in the deployment.
    pub removed: Vec<String>,
    /// In both, with another kind, visibility or validator.
    pub changed: Vec<String>,
}

impl SpecDiff {
    pub fn between(file: &FunctionSpecFile, live: &FunctionSpecFile) -> Self {
        let index = |spec: &FunctionSpecFile| -> BTreeMap<String, FunctionSpec> {
            spec.functions
                .iter()
                .map(|f| (f.path.clone(), f.clone()))
                .collect()
        };
        let (old, new) = (index(file), index(live));
        let mut diff = Self::default();
        for (path, f) in &new {
            match old.get(path) {
                None => diff.added.push(path.clone()),
                Some(o) if o != f => diff.changed.push(path.clone()),
                Some(_) => {}
            }
        }
        diff.removed = old
            .keys()
            .filter(|p| !new.contains_key(*p))
            .cloned()
            .collect();
        diff
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (sign, list) in [
            ("+", &self.added),
            ("-", &self.removed),
            ("~", &self.changed),
        ] {
            if !list.is_empty() {
                parts.push(format!("{sign}{}", list.join(&format!(", {sign}"))));
            }
        }
        if parts.is_empty() {
            "HTTP routes differ".into()
        } else {
            parts.join("; ")
        }
    }
}

//! The tool catalog: the deployment's functions (and the Convex data tools) as MCP tools.
//!
//! Built from a [`spec::FunctionSpecFile`] and [`CatalogOptions`]; every tool has a stable name
//! ([`naming`]), a title and description (config, else generated), an `inputSchema` and, where the
//! function declares `returns`, an `outputSchema` ([`schema`]), annotations and `_meta` naming the
//! Convex path and kind. [`Catalog::hash`] identifies the exact catalog for the ledger.
mod data_cursor;
mod data_documents;
pub mod data_privacy;
pub mod data_support;
mod data_tables;
pub mod data_tools;
pub mod naming;
pub mod schema;
pub mod spec;

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::config::ToolOverride;
use data_support::DataSupport;
use data_tools::DataTool;
use spec::{FunctionKind, FunctionSpecFile, Validator, Visibility};

/// The `_meta` key under which a tool names its Convex target.
pub const META_KEY: &str = "auditgate/convex";

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "tool name {name:?} is produced by both {first} and {second}; set a distinct name in [tools.\"<path>\"]"
    )]
    DuplicateName {
        name: String,
        first: String,
        second: String,
    },
    #[error("tool name {name:?} for {source_path} does not match ^[A-Za-z0-9_-]{{1,64}}$")]
    InvalidName { name: String, source_path: String },
    #[error("[tools.{key:?}] matches no Convex function and no data tool")]
    UnknownOverride { key: String },
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    // The causes below are part of the message and deliberately not `source()`s: a chain
    // printed with `{:#}` would say them twice.
    #[error("cannot read the function spec {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("fetching the function spec from the deployment: {0}")]
    Fetch(crate::upstream::convex::UpstreamError),
}

impl From<crate::upstream::convex::UpstreamError> for CatalogError {
    fn from(e: crate::upstream::convex::UpstreamError) -> Self {
        Self::Fetch(e)
    }
}

/// What a tool does, for the policy engine: the policy crate's own kinds (so the names in
/// `_meta`, listings and policy files are one vocabulary).
pub use auditgate_policy::ToolKind;

#[derive(Debug, Clone, PartialEq)]
pub enum ToolTarget {
    /// A Convex function. `wrap_output` means results are returned as `{"value": …}`.
    Function {
        path: String,
        kind: FunctionKind,
        visibility: Visibility,
        args: Validator,
        wrap_output: bool,
    },
    Data(DataTool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolAnnotations {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub title: String,
    pub description: String,
    pub input_schema: Value,
    pub output_schema: Option<Value>,
    pub annotations: ToolAnnotations,
    pub target: ToolTarget,
}

impl Tool {
    pub fn kind(&self) -> ToolKind {
        match &self.target {
            ToolTarget::Function { kind, .. } => match kind {
                FunctionKind::Query => ToolKind::Query,
                FunctionKind::Mutation => ToolKind::Mutation,
                // HTTP actions never become tools; treat defensively as actions.
                FunctionKind::Action | FunctionKind::HttpAction => ToolKind::Action,
            },
            ToolTarget::Data(d) => {
                if d.is_write() {
                    ToolKind::DataWrite
                } else {
                    ToolKind::DataRead
                }
            }
        }
    }

    /// The Convex function path, for function tools.
    pub fn function_path(&self) -> Option<&str> {
        match &self.target {
            ToolTarget::Function { path, .. } => Some(path),
            ToolTarget::Data(_) => None,
        }
    }

    /// The MCP `Tool` object as `tools/list` shows it.
    pub fn to_mcp(&self) -> Value {
        let mut tool = Map::new();
        tool.insert("name".into(), json!(self.name));
        tool.insert("title".into(), json!(self.title));
        tool.insert("description".into(), json!(self.description));
        tool.insert("inputSchema".into(), self.input_schema.clone());
        if let Some(out) = &self.output_schema {
            tool.insert("outputSchema".into(), out.clone());
        }
        let a = &self.annotations;
        tool.insert(
            "annotations".into(),
            json!({
                "title": self.title,
                "readOnlyHint": a.read_only,
                "destructiveHint": a.destructive,
                "idempotentHint": a.idempotent,
                "openWorldHint": a.open_world,
            }),
        );
        let meta = match &self.target {
            ToolTarget::Function {
                path,
                kind,
                visibility,
                ..
            } => json!({"path": path, "kind": kind.as_str(), "visibility": visibility}),
            ToolTarget::Data(d) => json!({"dataTool": d.name(), "kind": self.kind().as_str()}),
        };
        tool.insert("_meta".into(), json!({ META_KEY: meta }));
        Value::Object(tool)
    }
}

/// What goes into a catalog besides the spec.
#[derive(Debug, Clone, Default)]
pub struct CatalogOptions {
    pub include_internal: bool,
    pub data_tools: bool,
    /// Keyed by function path (`invoices:refund`) or data tool name.
    pub overrides: BTreeMap<String, ToolOverride>,
    /// Which data tools this deployment supports ([`data_support::probe`]); an unsupported one
    /// is left out. Default: not probed, every data tool listed.
    pub data_support: DataSupport,
    /// `[catalog] tool_prefix`: put before every name MCP clients see.
    pub tool_prefix: String,
}

impl CatalogOptions {
    /// The options a gateway config sets (`[convex] include_internal`, `[catalog]`, `[tools]`).
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            include_internal: config.convex.include_internal,
            data_tools: config.catalog.data_tools,
            overrides: config.tools.clone(),
            data_support: DataSupport::default(),
            tool_prefix: config.catalog.tool_prefix.clone().unwrap_or_default(),
        }
    }
}

/// Something in the deployment's spec that is not a tool, and why (`auditgate tools --all`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotExposed {
    /// The function path, `METHOD /path` for an HTTP route, or the spec entry.
    pub name: String,
    /// `http_route`, `http_action`, `internal` or `skipped`.
    pub what: &'static str,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    tools: Vec<Tool>,
    /// The name MCP clients see for each tool (`[catalog] tool_prefix` + name), by index.
    listed: Vec<String>,
    /// Listed name → index.
    by_listed: HashMap<String, usize>,
    not_exposed: Vec<NotExposed>,
    hash: String,
    data_support: DataSupport,
}

impl Catalog {
    pub fn build(spec: &FunctionSpecFile, options: &CatalogOptions) -> Result<Self, CatalogError> {
        for key in options.overrides.keys() {
            let known = spec.functions.iter().any(|f| &f.path == key)
                || DataTool::ALL.iter().any(|d| d.name() == key);
            if !known {
                return Err(CatalogError::UnknownOverride { key: key.clone() });
            }
        }
        let mut tools = Vec::new();
        let mut origin: HashMap<String, String> = HashMap::new();
        let not_exposed = not_exposed(spec, options);
        for n in not_exposed.iter().filter(|n| n.what == "skipped") {
            tracing::warn!(entry = %n.name, "function spec entry skipped: {}", n.reason);
        }
        let mut add = |tool: Tool, source: String| -> Result<(), CatalogError> {
            if !naming::is_valid_tool_name(&tool.name) {
                return Err(CatalogError::InvalidName {
                    name: tool.name,
                    source_path: source,
                });
            }
            if let Some(first) = origin.get(&tool.name) {
                return Err(CatalogError::DuplicateName {
                    name: tool.name,
                    first: first.clone(),
                    second: source,
                });
            }
            origin.insert(tool.name.clone(), source);
            tools.push(tool);
            Ok(())
        };
        if options.data_tools {
            for d in DataTool::ALL
                .into_iter()
                .filter(|d| options.data_support.is_supported(*d))
            {
                let tool = d.tool(options.overrides.get(d.name()));
                add(tool, format!("data tool {}", d.name()))?;
            }
        }
        for f in &spec.functions {
            if f.kind == FunctionKind::HttpAction {
                continue;
            }
            if f.visibility == Visibility::Internal && !options.include_internal {
                continue;
            }
            let o = options.overrides.get(&f.path);
            let name = o
                .and_then(|o| o.name.clone())
                .unwrap_or_else(|| naming::tool_name_for_path(&f.path));
            let (output_schema, wrap_output) = match &f.returns {
                Some(r) => {
                    let (s, wrapped) = schema::output_schema(r);
                    (Some(s), wrapped)
                }
                None => (None, false),
            };
            let is_query = f.kind == FunctionKind::Query;
            let annotations = ToolAnnotations {
                read_only: is_query,
                destructive: !is_query && o.and_then(|o| o.destructive).unwrap_or(true),
                idempotent: is_query || o.and_then(|o| o.idempotent).unwrap_or(false),
                open_world: f.kind == FunctionKind::Action,
            };
            let tool = Tool {
                title: o
                    .and_then(|o| o.title.clone())
                    .unwrap_or_else(|| generated_title(f.kind, &f.path)),
                description: o
                    .and_then(|o| o.description.clone())
                    .unwrap_or_else(|| generated_description(f)),
                input_schema: schema::input_schema(&f.args),
                output_schema,
                annotations,
                target: ToolTarget::Function {
                    path: f.path.clone(),
                    kind: f.kind,
                    visibility: f.visibility,
                    args: f.args.clone(),
                    wrap_output,
                },
                name,
            };
            add(tool, format!("function {}", f.path))?;
        }
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        let listed: Vec<String> = tools
            .iter()
            .map(|t| naming::listed_name(&options.tool_prefix, &t.name))
            .collect();
        let mut by_listed = HashMap::with_capacity(listed.len());
        for (i, name) in listed.iter().enumerate() {
            if let Some(first) = by_listed.insert(name.clone(), i) {
                return Err(CatalogError::DuplicateName {
                    name: name.clone(),
                    first: tools[first].name.clone(),
                    second: tools[i].name.clone(),
                });
            }
        }
        let mut catalog = Self {
            tools,
            listed,
            by_listed,
            not_exposed,
            hash: String::new(),
            data_support: options.data_support.clone(),
        };
        catalog.hash = catalog_hash(&catalog.to_mcp());
        Ok(catalog)
    }

    /// The catalog a config names: its `[catalog] spec_file`, or the deployment's function spec
    /// fetched with the deploy key through `client`; with data tools, those the deployment
    /// supports ([`data_support::probe`]).
    pub async fn load(
        config: &crate::config::Config,
        client: &crate::upstream::convex::ConvexClient,
    ) -> Result<Self, CatalogError> {
        let support = if config.catalog.data_tools {
            data_support::probe(client).await
        } else {
            DataSupport::default()
        };
        Self::load_with(config, client, support).await
    }

    /// [`Catalog::load`] with the data tools' support already known (a reload keeps what the
    /// start probed: the plan is decided once).
    pub async fn load_with(
        config: &crate::config::Config,
        client: &crate::upstream::convex::ConvexClient,
        data_support: DataSupport,
    ) -> Result<Self, CatalogError> {
        let options = CatalogOptions {
            data_support,
            ..CatalogOptions::from_config(config)
        };
        match &config.catalog.spec_file {
            Some(path) => Self::from_spec_file(path, &options),
            None => {
                let spec = FunctionSpecFile::from_value(client.function_spec().await?)?;
                Self::build(&spec, &options)
            }
        }
    }

    /// Reads a `npx convex function-spec` file and builds the catalog.
    pub fn from_spec_file(
        path: &std::path::Path,
        options: &CatalogOptions,
    ) -> Result<Self, CatalogError> {
        let bytes = std::fs::read(path).map_err(|error| CatalogError::Io {
            path: path.display().to_string(),
            error,
        })?;
        Self::build(&FunctionSpecFile::parse(&bytes)?, options)
    }

    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// The data tools' support on this deployment, as probed when the catalog was loaded.
    pub fn data_support(&self) -> &DataSupport {
        &self.data_support
    }

    /// The tool MCP clients call `name` (its listed name, with `[catalog] tool_prefix`).
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.by_listed.get(name).map(|&i| &self.tools[i])
    }

    /// The tool policies and the ledger call `name` (its name without `[catalog] tool_prefix`).
    pub fn by_catalog_name(&self, name: &str) -> Option<&Tool> {
        self.tools
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.tools[i])
    }

    /// The catalog name (what policies, rate limits, scopes and the ledger use) of the tool a
    /// client called `called`: the tool's name without `[catalog] tool_prefix`, or `called`
    /// itself when no tool is listed under it.
    pub fn catalog_name<'a>(&'a self, called: &'a str) -> &'a str {
        self.get(called).map_or(called, |t| t.name.as_str())
    }

    /// The name MCP clients see for `tool` (a tool of this catalog).
    pub fn listed_name<'a>(&'a self, tool: &'a Tool) -> &'a str {
        self.by_listed_index(tool)
            .map_or(tool.name.as_str(), |i| self.listed[i].as_str())
    }

    fn by_listed_index(&self, tool: &Tool) -> Option<usize> {
        self.tools
            .binary_search_by(|t| t.name.as_str().cmp(&tool.name))
            .ok()
    }

    /// `tool`'s MCP object as `tools/list` shows it: [`Tool::to_mcp`] under its listed name.
    pub fn listed(&self, tool: &Tool) -> Value {
        let mut mcp = tool.to_mcp();
        mcp["name"] = Value::from(self.listed_name(tool));
        mcp
    }

    /// What the spec has that is not a tool: HTTP routes and actions, internal functions left
    /// out, entries skipped (each with why).
    pub fn not_exposed(&self) -> &[NotExposed] {
        &self.not_exposed
    }

    /// `sha256:<hex>` of the RFC 8785 canonical JSON of every tool's MCP form as listed, in
    /// name order.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The `tools/list` array.
    pub fn to_mcp(&self) -> Value {
        Value::Array(self.tools.iter().map(|t| self.listed(t)).collect())
    }
}

fn catalog_hash(listing: &Value) -> String {
    // Canonicalizing a serde_json::Value holding only finite numbers cannot fail.
    let bytes = serde_json_canonicalizer::to_vec(listing).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The spec's entries that do not become tools under `options`, and why.
fn not_exposed(spec: &FunctionSpecFile, options: &CatalogOptions) -> Vec<NotExposed> {
    let mut out = Vec::new();
    for f in &spec.functions {
        let (what, reason) = match (f.kind, f.visibility) {
            (FunctionKind::HttpAction, _) => (
                "http_action",
                "an HTTP action runs only behind a route of http.ts, not through the function API",
            ),
            (_, Visibility::Internal) if !options.include_internal => (
                "internal",
                "internal function ([convex] include_internal = false)",
            ),
            _ => continue,
        };
        out.push(NotExposed {
            name: f.path.clone(),
            what,
            reason: reason.into(),
        });
    }
    for r in &spec.http_routes {
        out.push(NotExposed {
            name: format!("{} {}", r.method, r.path),
            what: "http_route",
            reason: "an HTTP route of http.ts: not a Convex function an agent can call".into(),
        });
    }
    for s in &spec.skipped {
        out.push(NotExposed {
            name: s.entry.clone(),
            what: "skipped",
            reason: s.reason.clone(),
        });
    }
    out
}

fn generated_title(kind: FunctionKind, path: &str) -> String {
    let kind = match kind {
        FunctionKind::Query => "Query",
        FunctionKind::Mutation => "Mutation",
        FunctionKind::Action => "Action",
        FunctionKind::HttpAction => "HTTP action",
    };
    format!("{kind} {path}")
}

fn generated_description(f: &spec::FunctionSpec) -> String {
    let mut text = match f.kind {
        FunctionKind::Query => format!("Runs the Convex query `{}` (read-only).", f.path),
        FunctionKind::Mutation => format!(
            "Runs the Convex mutation `{}`: it may change data and is never retried.",
            f.path
        ),
        FunctionKind::Action | FunctionKind::HttpAction => format!(
            "Runs the Convex action `{}`: it may change data or call external services and is never retried.",
            f.path
        ),
    };
    if f.visibility == Visibility::Internal {
        text.push_str(" Internal function: exposed by the gateway's configuration.");
    }
    if let Some(fields) = f.args.fields()
        && !fields.is_empty()
    {
        let names: Vec<String> = fields
            .iter()
            .map(|fl| {
                if fl.optional {
                    format!("{} (optional)", fl.name)
                } else {
                    fl.name.clone()
                }
            })
            .collect();
        text.push_str(&format!(" Arguments: {}.", names.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(functions: Value) -> FunctionSpecFile {
        FunctionSpecFile::from_value(json!({"url": "u", "functions": functions})).unwrap()
    }

    fn f(id: &str, kind: &str, vis: &str) -> Value {
        json!({"identifier": id, "functionType": kind, "visibility": {"kind": vis},
               "args": {"type": "object", "value": {}}, "returns": null})
    }

    #[test]
    fn collisions_are_rejected_with_both_sources() {
        let s = spec(json!([
            f("a/b.js:c", "Query", "public"),
            f("a_b.js:c", "Query", "public")
        ]));
        let err = Catalog::build(&s, &CatalogOptions::default()).unwrap_err();
        assert!(
            matches!(err, CatalogError::DuplicateName { ref name, .. } if name == "a_b_c"),
            "{err}"
        );
        assert!(err.to_string().contains("a/b:c") && err.to_string().contains("a_b:c"));
    }

    #[test]
    fn internal_hidden_unless_configured_and_annotations() {
        let s = spec(json!([
            f("x.js:q", "Query", "public"),
            f("x.js:m", "Mutation", "internal"),
            f("x.js:h", "HttpAction", "public")
        ]));
        let c = Catalog::build(&s, &CatalogOptions::default()).unwrap();
        assert_eq!(c.tools().len(), 1);
        assert!(c.get("x_q").unwrap().annotations.read_only);
        let opts = CatalogOptions {
            include_internal: true,
            ..CatalogOptions::default()
        };
        let c2 = Catalog::build(&s, &opts).unwrap();
        let m = c2.get("x_m").unwrap();
        assert!(m.annotations.destructive && !m.annotations.read_only);
        assert_ne!(c.hash(), c2.hash());
    }

    #[test]
    fn overrides_must_match_something() {
        let s = spec(json!([f("x.js:q", "Query", "public")]));
        let mut opts = CatalogOptions::default();
        opts.overrides
            .insert("x:typo".into(), ToolOverride::default());
        assert!(matches!(
            Catalog::build(&s, &opts),
            Err(CatalogError::UnknownOverride { .. })
        ));
    }
}

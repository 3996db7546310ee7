//! Which data tools work on this deployment, and through which upstream routes.
//!
//! Decided once at catalog build by [`probe`] (`docs/convex-upstream.md`, "Data tools on every
//! plan"): streaming export (`/api/json_schemas`, `/api/list_snapshot`) where the plan has it,
//! else the system queries every plan has (`_system/frontend/getSchemas`, `GET /api/shapes2`,
//! `_system/cli/tableData`). A tool that can work neither way is [`ToolSupport::Unsupported`]
//! with the deployment's reason, and the catalog leaves it out.
use std::fmt;

use serde_json::json;

use super::data_tools::DataTool;
use crate::upstream::convex::error::sanitize_function_message;
use crate::upstream::convex::{ConvexClient, UpstreamError};

/// A table name no app is expected to use: `tableData` over it answers an empty page, so the
/// probe reads no document (and, if such a table existed, its one document is dropped unseen).
const PROBE_TABLE: &str = "auditgateProbe";

/// The upstream route family a supported data tool uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `GET /api/json_schemas` and `GET /api/list_snapshot` (paid plans, self-hosted).
    StreamingExport,
    /// `_system/frontend/getSchemas`, `GET /api/shapes2`, `_system/cli/tableData` (every plan).
    SystemQueries,
    /// The dashboard's mutations `_system/frontend/addDocument` and friends.
    SystemMutations,
    /// Answered by the gateway itself (`convex_get_current_user`).
    Gateway,
}

impl Via {
    /// The name recorded in `catalog.loaded` (`data_via`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StreamingExport => "streaming_export",
            Self::SystemQueries => "system_queries",
            Self::SystemMutations => "system_mutations",
            Self::Gateway => "gateway",
        }
    }
}

/// How the read tools (`convex_list_tables`, `convex_get_table`, `convex_query_documents`)
/// reach tables on this deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    StreamingExport,
    SystemQueries,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolSupport {
    Supported { via: Via },
    Unsupported { reason: String },
}

/// Every data tool's [`ToolSupport`], and what the probe learnt on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSupport {
    tools: Vec<(DataTool, ToolSupport)>,
    reads: Reads,
    /// Why the probe settled as it did where no tool says it (streaming export refused, or the
    /// deployment not contacted).
    note: Option<String>,
}

impl Default for DataSupport {
    fn default() -> Self {
        Self::assumed(None)
    }
}

impl DataSupport {
    /// Without a probe: every tool listed, reads through the system queries (every plan has
    /// them). `note` says why nothing was probed.
    pub fn assumed(note: Option<String>) -> Self {
        let tools = DataTool::ALL
            .into_iter()
            .map(|d| {
                let via = default_via(d, Reads::SystemQueries);
                (d, ToolSupport::Supported { via })
            })
            .collect();
        Self {
            tools,
            reads: Reads::SystemQueries,
            note,
        }
    }

    pub fn of(&self, tool: DataTool) -> &ToolSupport {
        self.tools
            .iter()
            .find(|(d, _)| *d == tool)
            .map(|(_, s)| s)
            .unwrap_or(&ToolSupport::Supported { via: Via::Gateway })
    }

    pub fn is_supported(&self, tool: DataTool) -> bool {
        matches!(self.of(tool), ToolSupport::Supported { .. })
    }

    /// The route a supported tool takes, `None` when it is unsupported.
    pub fn via(&self, tool: DataTool) -> Option<Via> {
        match self.of(tool) {
            ToolSupport::Supported { via } => Some(*via),
            ToolSupport::Unsupported { .. } => None,
        }
    }

    pub fn reads(&self) -> Reads {
        self.reads
    }

    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// One line per tool, `convex_list_tables: ok via system_queries` or `convex_x: unsupported:
    /// <reason>`, then the note if any (as `data tools: <note>`).
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .tools
            .iter()
            .map(|(d, s)| format!("{}: {s}", d.name()))
            .collect();
        if let Some(note) = &self.note {
            lines.push(format!("data tools: {note}"));
        }
        lines
    }
}

impl fmt::Display for ToolSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Supported { via } => write!(f, "ok via {}", via.as_str()),
            Self::Unsupported { reason } => write!(f, "unsupported: {reason}"),
        }
    }
}

fn default_via(tool: DataTool, reads: Reads) -> Via {
    match tool {
        DataTool::ListTables | DataTool::GetTable | DataTool::QueryDocuments => match reads {
            Reads::StreamingExport => Via::StreamingExport,
            Reads::SystemQueries => Via::SystemQueries,
        },
        DataTool::CreateDocument | DataTool::UpdateDocument | DataTool::DeleteDocument => {
            Via::SystemMutations
        }
        DataTool::GetCurrentUser => Via::Gateway,
    }
}

/// What one probed route answered: `Ok`, refused (with the reason), or not reached.
enum Answer {
    Ok,
    Refused(String),
    Unreachable(String),
}

impl Answer {
    fn of<T>(route: &str, result: Result<T, UpstreamError>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(e @ (UpstreamError::Transport { .. } | UpstreamError::Timeout { .. })) => {
                Self::Unreachable(format!("{route}: {e}"))
            }
            Err(e) => Self::Refused(format!("{route} {}", refusal(&e))),
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Self::Ok => None,
            Self::Refused(r) | Self::Unreachable(r) => Some(r),
        }
    }
}

/// The deployment's own words, without request ids or stack traces.
fn refusal(e: &UpstreamError) -> String {
    match e {
        UpstreamError::Request {
            status,
            code,
            message,
        } => format!("was refused: HTTP {status} {code}: {message}"),
        UpstreamError::Function { message, .. } => {
            format!("failed: {}", sanitize_function_message(message))
        }
        other => format!("failed: {other}"),
    }
}

/// Tries each route once (read-only; no document is read) and settles every data tool.
/// The four requests go out at once, so a deployment that does not answer delays the start by
/// one client timeout, not four.
pub async fn probe(client: &ConvexClient) -> DataSupport {
    let (schemas, shapes, table_data, export) = tokio::join!(
        client.schemas(),
        client.shapes2(),
        client.table_data(PROBE_TABLE, None, 1),
        client.json_schemas(),
    );
    settle(
        &Answer::of("_system/frontend/getSchemas", schemas),
        &Answer::of("GET /api/shapes2", shapes),
        &Answer::of("_system/cli/tableData", table_data),
        &Answer::of("GET /api/json_schemas", export),
    )
}

fn settle(schemas: &Answer, shapes: &Answer, table_data: &Answer, export: &Answer) -> DataSupport {
    let all = [schemas, shapes, table_data, export];
    if all.iter().all(|a| matches!(a, Answer::Unreachable(_))) {
        let why = export.reason().unwrap_or_default();
        return DataSupport::assumed(Some(format!(
            "not probed, the deployment could not be reached ({why}); reading through system queries"
        )));
    }
    let streaming = matches!(export, Answer::Ok);
    let reads = if streaming {
        Reads::StreamingExport
    } else {
        Reads::SystemQueries
    };
    // Why the system queries cannot serve a tool: the first route that failed.
    let first_failure =
        |routes: &[&Answer]| routes.iter().find_map(|a| a.reason()).map(str::to_string);
    let listing = first_failure(&[schemas, shapes]);
    let documents = first_failure(&[schemas, shapes, table_data]);
    let tools = DataTool::ALL
        .into_iter()
        .map(|d| {
            let missing = match d {
                _ if streaming && !d.is_write() && d != DataTool::GetCurrentUser => None,
                DataTool::ListTables | DataTool::GetTable => listing.clone(),
                DataTool::QueryDocuments => documents.clone(),
                DataTool::CreateDocument | DataTool::UpdateDocument | DataTool::DeleteDocument => {
                    schemas.reason().map(str::to_string)
                }
                DataTool::GetCurrentUser => None,
            };
            let support = match missing {
                None => ToolSupport::Supported {
                    via: default_via(d, reads),
                },
                Some(why) => ToolSupport::Unsupported {
                    reason: match export.reason() {
                        Some(no_export) if !d.is_write() => format!("{why}; {no_export}"),
                        _ => why,
                    },
                },
            };
            (d, support)
        })
        .collect();
    let note = match (streaming, export.reason()) {
        (false, Some(why)) => Some(format!("streaming export not used: {why}")),
        _ => None,
    };
    DataSupport { tools, reads, note }
}

/// The support as recorded beside a data tool in `catalog.loaded`.
pub fn recorded(support: &ToolSupport) -> serde_json::Value {
    match support {
        ToolSupport::Supported { via } => json!(via.as_str()),
        ToolSupport::Unsupported { .. } => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_plans_read_through_system_queries_and_refusals_unlist_tools() {
        let refused = || Answer::Refused("GET /api/json_schemas was refused: HTTP 403".into());
        let s = settle(&Answer::Ok, &Answer::Ok, &Answer::Ok, &refused());
        assert_eq!(s.reads(), Reads::SystemQueries);
        assert_eq!(s.via(DataTool::QueryDocuments), Some(Via::SystemQueries));
        assert!(s.note().unwrap().contains("HTTP 403"));

        let s = settle(&Answer::Ok, &Answer::Ok, &Answer::Ok, &Answer::Ok);
        assert_eq!(s.via(DataTool::ListTables), Some(Via::StreamingExport));
        assert_eq!(s.via(DataTool::DeleteDocument), Some(Via::SystemMutations));

        let no_admin = || Answer::Refused("_system/frontend/getSchemas failed: not found".into());
        let s = settle(&no_admin(), &refused(), &no_admin(), &refused());
        assert!(!s.is_supported(DataTool::ListTables));
        assert!(!s.is_supported(DataTool::CreateDocument));
        assert_eq!(s.via(DataTool::GetCurrentUser), Some(Via::Gateway));
        let lines = s.lines();
        assert!(
            lines[0]
                .starts_with("convex_list_tables: unsupported: _system/frontend/getSchemas failed")
        );

        let down = || Answer::Unreachable("could not reach Convex".into());
        let s = settle(&down(), &down(), &down(), &down());
        assert!(s.is_supported(DataTool::QueryDocuments) && s.note().is_some());
    }
}

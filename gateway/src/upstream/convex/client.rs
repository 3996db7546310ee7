//! The async HTTP client for a Convex deployment's HTTP API.
//!
//! - Every call names its identity ([`CallIdentity`]); the deploy key is only ever put in the
//!   `Authorization` header (marked sensitive).
//! - Each attempt is bounded by `timeout` (connect, send and the whole body), and bodies by
//!   `max_response_bytes`, so a stalled or flooding upstream yields an error, never a hang.
//! - Mutations and actions are never retried (they may have run). Queries and the `GET` reads
//!   (streaming export, `shapes2`) are retried on 429/503 up to `query_retries` times with exponential backoff.
//! - Function results are requested as `convex_encoded_json` (lossless) and decoded to plain JSON.
use std::time::Duration;

use auditgate_ledger::json;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::codec::from_convex;
use super::error::{UpstreamError, excerpt};
use super::identity::{CallIdentity, DeployKey, authorization_header};
use crate::catalog::spec::FunctionKind;

/// The status the official client also accepts for a function error (cloud deployments).
const STATUS_UDF_FAILED: u16 = 560;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    pub query_retries: u32,
    pub retry_base_delay: Duration,
    pub max_response_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            query_retries: 2,
            retry_base_delay: Duration::from_millis(100),
            max_response_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The `/api/...` endpoint a function call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Query,
    Mutation,
    Action,
    /// `/api/function`: any kind, needs the deploy key.
    Function,
}

impl Endpoint {
    pub fn for_kind(kind: FunctionKind) -> Option<Self> {
        match kind {
            FunctionKind::Query => Some(Self::Query),
            FunctionKind::Mutation => Some(Self::Mutation),
            FunctionKind::Action => Some(Self::Action),
            FunctionKind::HttpAction => None,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Self::Query => "/api/query",
            Self::Mutation => "/api/mutation",
            Self::Action => "/api/action",
            Self::Function => "/api/function",
        }
    }

    /// Only queries are safe to repeat.
    fn retryable(self) -> bool {
        self == Self::Query
    }
}

/// Output value format requested from Convex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// Lossy: int64 as decimal strings, bytes as base64.
    Json,
    /// Lossless `$integer` / `$bytes` / `$float` encoding.
    ConvexEncodedJson,
}

impl ValueFormat {
    fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::ConvexEncodedJson => "convex_encoded_json",
        }
    }
}

/// A successful function call.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionResult {
    /// The value, in the requested format (plain JSON for [`ConvexClient::call`]).
    pub value: Value,
    pub log_lines: Vec<String>,
}

/// One page of `_system/cli/tableData` (a `PaginationResult`), documents convex-encoded.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TablePage {
    pub page: Vec<Value>,
    pub is_done: bool,
    pub continue_cursor: String,
}

/// One page of `GET /api/list_snapshot`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPage {
    pub values: Vec<Value>,
    pub snapshot: Value,
    pub cursor: Option<String>,
    pub has_more: bool,
}

#[derive(Debug, Clone)]
pub struct ConvexClient {
    http: reqwest::Client,
    base_url: String,
    key: DeployKey,
    options: ClientOptions,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    status: String,
    #[serde(default, deserialize_with = "json::deserialize_plain_opt")]
    value: Option<Value>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default, deserialize_with = "json::deserialize_plain_opt")]
    error_data: Option<Value>,
    #[serde(default)]
    log_lines: Vec<String>,
}

#[derive(Deserialize)]
struct RequestErrorBody {
    code: String,
    message: String,
}

impl ConvexClient {
    pub fn new(
        base_url: &str,
        key: DeployKey,
        options: ClientOptions,
    ) -> Result<Self, UpstreamError> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .user_agent(concat!("auditgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UpstreamError::Transport {
                detail: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            options,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Runs a function of `kind` at its own endpoint. `args` must already be convex-encoded
    /// ([`super::codec::to_convex`]); the result is decoded to plain JSON.
    pub async fn call(
        &self,
        kind: FunctionKind,
        path: &str,
        args: Value,
        identity: &CallIdentity,
    ) -> Result<FunctionResult, UpstreamError> {
        let endpoint = Endpoint::for_kind(kind).ok_or_else(|| UpstreamError::Request {
            status: 0,
            code: "NotCallable".into(),
            message: format!("{path} is an HTTP action; it has no function endpoint"),
        })?;
        self.run_decoded(endpoint, path, args, identity).await
    }

    /// Runs any function kind through `/api/function` (needs the deploy key), decoded.
    pub async fn call_any(
        &self,
        path: &str,
        args: Value,
        identity: &CallIdentity,
    ) -> Result<FunctionResult, UpstreamError> {
        self.run_decoded(Endpoint::Function, path, args, identity)
            .await
    }

    /// [`ConvexClient::run`] in the lossless format, decoded to plain JSON for agents.
    async fn run_decoded(
        &self,
        endpoint: Endpoint,
        path: &str,
        args: Value,
        identity: &CallIdentity,
    ) -> Result<FunctionResult, UpstreamError> {
        let raw = self
            .run(
                endpoint,
                path,
                args,
                ValueFormat::ConvexEncodedJson,
                identity,
            )
            .await
            .map_err(decode_error)?;
        decode_result(raw)
    }

    /// The raw call: one request (retried only for queries on 429/503), value in `format`.
    pub async fn run(
        &self,
        endpoint: Endpoint,
        path: &str,
        args: Value,
        format: ValueFormat,
        identity: &CallIdentity,
    ) -> Result<FunctionResult, UpstreamError> {
        let body = json!({"path": path, "args": args, "format": format.as_str()});
        let url = format!("{}{}", self.base_url, endpoint.path());
        let retries = if endpoint.retryable() {
            self.options.query_retries
        } else {
            0
        };
        self.with_retries(retries, || async {
            let (status, bytes) = self
                .send(self.http.post(&url).json(&body), identity)
                .await?;
            parse_function_response(status, &bytes)
        })
        .await
    }

    /// The deployment's function spec (`_system/cli/modules:apiSpec`, admin only), as JSON.
    pub async fn function_spec(&self) -> Result<Value, UpstreamError> {
        self.run(
            Endpoint::Query,
            "_system/cli/modules:apiSpec",
            json!({}),
            ValueFormat::Json,
            &CallIdentity::Admin,
        )
        .await
        .map(|r| r.value)
    }

    /// `GET /api/json_schemas?format=json`: every table and its documents' JSON Schema.
    pub async fn json_schemas(&self) -> Result<Value, UpstreamError> {
        let url = format!("{}/api/json_schemas", self.base_url);
        self.get_json(&url, &[("format", "json")]).await
    }

    /// `GET /api/shapes2`: every existing user table and its inferred shape (dashboard format).
    pub async fn shapes2(&self) -> Result<Value, UpstreamError> {
        let url = format!("{}/api/shapes2", self.base_url);
        self.get_json(&url, &[]).await
    }

    /// `_system/frontend/getSchemas` (admin): `{active?, inProgress?}`, schemas as JSON text.
    pub async fn schemas(&self) -> Result<Value, UpstreamError> {
        self.run(
            Endpoint::Query,
            "_system/frontend/getSchemas",
            json!({}),
            ValueFormat::Json,
            &CallIdentity::Admin,
        )
        .await
        .map(|r| r.value)
    }

    /// `_system/cli/tableData` (admin): `num_items` documents of `table` in `_creationTime`
    /// order after `cursor`, convex-encoded. A table that does not exist reads as empty.
    pub async fn table_data(
        &self,
        table: &str,
        cursor: Option<&str>,
        num_items: usize,
    ) -> Result<TablePage, UpstreamError> {
        let args = json!({
            "table": table,
            "order": "asc",
            "paginationOpts": {"numItems": num_items, "cursor": cursor},
        });
        let result = self
            .run(
                Endpoint::Query,
                "_system/cli/tableData",
                args,
                ValueFormat::ConvexEncodedJson,
                &CallIdentity::Admin,
            )
            .await?;
        serde_json::from_value(result.value).map_err(|e| UpstreamError::MalformedResponse {
            status: 200,
            detail: format!("tableData page: {e}"),
        })
    }

    /// `GET /api/list_snapshot`: one page of a table at a snapshot, convex-encoded.
    pub async fn list_snapshot(
        &self,
        table: &str,
        cursor: Option<&str>,
        snapshot: Option<&str>,
    ) -> Result<SnapshotPage, UpstreamError> {
        let url = format!("{}/api/list_snapshot", self.base_url);
        let mut query = vec![("tableName", table), ("format", "convex_encoded_json")];
        if let Some(c) = cursor {
            query.push(("cursor", c));
        }
        if let Some(s) = snapshot {
            query.push(("snapshot", s));
        }
        let value = self.get_json(&url, &query).await?;
        serde_json::from_value(value).map_err(|e| UpstreamError::MalformedResponse {
            status: 200,
            detail: format!("list_snapshot page: {e}"),
        })
    }

    async fn get_json(&self, url: &str, query: &[(&str, &str)]) -> Result<Value, UpstreamError> {
        self.with_retries(self.options.query_retries, || async {
            let (status, bytes) = self
                .send(self.http.get(url).query(query), &CallIdentity::Admin)
                .await?;
            if status != StatusCode::OK {
                return Err(status_error(status, &bytes));
            }
            parse_body(status, &bytes)
        })
        .await
    }

    async fn with_retries<T, F, Fut>(
        &self,
        retries: u32,
        mut attempt: F,
    ) -> Result<T, UpstreamError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let mut tried = 0;
        loop {
            match attempt().await {
                Err(e) if e.is_retryable() && tried < retries => {
                    let delay = self
                        .options
                        .retry_base_delay
                        .saturating_mul(2u32.saturating_pow(tried))
                        .min(MAX_BACKOFF);
                    tracing::debug!(class = e.class(), ?delay, "retrying Convex read");
                    tokio::time::sleep(delay).await;
                    tried += 1;
                }
                other => return other,
            }
        }
    }

    /// Sends one request and reads the whole body within the timeout and size limit.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        identity: &CallIdentity,
    ) -> Result<(StatusCode, Vec<u8>), UpstreamError> {
        let auth =
            authorization_header(&self.key, identity).map_err(|_| UpstreamError::Transport {
                detail: "the deploy key or identity is not a valid header value".into(),
            })?;
        let timeout = self.options.timeout;
        let limit = self.options.max_response_bytes;
        let exchange = async {
            let mut response = request
                .header(reqwest::header::AUTHORIZATION, auth)
                .header(
                    "Convex-Client",
                    concat!("auditgate-", env!("CARGO_PKG_VERSION")),
                )
                .send()
                .await
                .map_err(|e| transport_error(&e, timeout))?;
            let status = response.status();
            if response
                .content_length()
                .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
            {
                return Err(UpstreamError::ResponseTooLarge { limit_bytes: limit });
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| transport_error(&e, timeout))?
            {
                if body.len() + chunk.len() > limit {
                    return Err(UpstreamError::ResponseTooLarge { limit_bytes: limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, body))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout { after: timeout })?
    }
}

fn transport_error(e: &reqwest::Error, timeout: Duration) -> UpstreamError {
    if e.is_timeout() {
        return UpstreamError::Timeout { after: timeout };
    }
    // The full error chain (e.g. "Connection refused"), without the URL's query string.
    let mut detail = e.without_url_ref().to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    UpstreamError::Transport { detail }
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        if self.is_connect() {
            "connection failed".into()
        } else if self.is_body() || self.is_decode() {
            "response body failed".into()
        } else if self.is_request() {
            "request failed".into()
        } else {
            "HTTP error".into()
        }
    }
}

/// A response body as JSON, refusing keys serde_json reserves: the ledger cannot record them
/// (`auditgate_ledger::json`), and real Convex values never hold them (field names starting with
/// `$` are reserved there too).
fn parse_body(status: StatusCode, bytes: &[u8]) -> Result<Value, UpstreamError> {
    let value = json::parse_plain(bytes).map_err(|e| malformed(status, bytes, e.to_string()))?;
    refuse_reserved(status, bytes, "", &value)?;
    Ok(value)
}

/// `MalformedResponse` with the start of the body.
fn malformed(status: StatusCode, bytes: &[u8], detail: String) -> UpstreamError {
    UpstreamError::MalformedResponse {
        status: status.as_u16(),
        detail: format!(
            "{detail} (body starts: {})",
            excerpt(&bytes[..bytes.len().min(80)])
        ),
    }
}

/// A `MalformedResponse` when `value` (the body's member at `at`) holds a reserved key.
fn refuse_reserved(
    status: StatusCode,
    bytes: &[u8],
    at: &str,
    value: &Value,
) -> Result<(), UpstreamError> {
    match json::find_reserved_key(value) {
        Some(path) => Err(malformed(
            status,
            bytes,
            format!("reserved object key at {at}{}", excerpt(path.as_bytes())),
        )),
        None => Ok(()),
    }
}

fn parse_function_response(
    status: StatusCode,
    bytes: &[u8],
) -> Result<FunctionResult, UpstreamError> {
    if status != StatusCode::OK && status.as_u16() != STATUS_UDF_FAILED {
        return Err(status_error(status, bytes));
    }
    // One parse, straight into the envelope; its values are read without serde_json's magic.
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| malformed(status, bytes, e.to_string()))?;
    for (at, value) in [
        ("/value", &envelope.value),
        ("/errorData", &envelope.error_data),
    ] {
        if let Some(value) = value {
            refuse_reserved(status, bytes, at, value)?;
        }
    }
    match envelope.status.as_str() {
        "success" => Ok(FunctionResult {
            value: envelope.value.unwrap_or(Value::Null),
            log_lines: envelope.log_lines,
        }),
        "error" => Err(UpstreamError::Function {
            message: envelope.error_message.unwrap_or_default(),
            data: envelope.error_data,
            log_lines: envelope.log_lines,
        }),
        other => Err(UpstreamError::MalformedResponse {
            status: status.as_u16(),
            detail: format!("unknown status {other:?}"),
        }),
    }
}

fn status_error(status: StatusCode, bytes: &[u8]) -> UpstreamError {
    match serde_json::from_slice::<RequestErrorBody>(bytes) {
        Ok(body) => UpstreamError::Request {
            status: status.as_u16(),
            code: body.code,
            message: body.message,
        },
        Err(_) => UpstreamError::UnexpectedStatus {
            status: status.as_u16(),
            body_excerpt: excerpt(bytes),
        },
    }
}

/// Decodes a convex-encoded result (and `ConvexError` data) into plain JSON.
fn decode_result(raw: FunctionResult) -> Result<FunctionResult, UpstreamError> {
    let value = from_convex(raw.value).map_err(|e| UpstreamError::MalformedResponse {
        status: 200,
        detail: e.to_string(),
    })?;
    Ok(FunctionResult {
        value,
        log_lines: raw.log_lines,
    })
}

/// Decodes `ConvexError` data in a function error too (it is convex-encoded like values).
fn decode_error(e: UpstreamError) -> UpstreamError {
    match e {
        UpstreamError::Function {
            message,
            data: Some(data),
            log_lines,
        } => {
            let data = from_convex(data.clone()).unwrap_or(data);
            UpstreamError::Function {
                message,
                data: Some(data),
                log_lines,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    /// A key serde_json reserves cannot be recorded (`auditgate_ledger::json`): such a response
    /// is malformed, wherever the key is, including first in an object, where serde_json's own
    /// `Value` would have read it as embedded JSON text.
    #[test]
    fn a_reserved_key_in_a_response_is_malformed() {
        let raw = "$serde_json::private::RawValue";
        for (body, path) in [
            (
                format!(r#"{{"status":"success","value":{{"a":1,"{raw}":"2"}}}}"#),
                format!("/value/{raw}"),
            ),
            (
                format!(r#"{{"status":"success","value":{{"{raw}":"{{\"a\":1}}"}}}}"#),
                format!("/value/{raw}"),
            ),
            (
                format!(r#"{{"status":"error","errorMessage":"m","errorData":{{"{raw}":1}}}}"#),
                format!("/errorData/{raw}"),
            ),
        ] {
            match parse_function_response(StatusCode::OK, body.as_bytes()) {
                Err(UpstreamError::MalformedResponse {
                    status: 200,
                    detail,
                }) => assert!(
                    detail.starts_with(&format!("reserved object key at {path} (body starts: ")),
                    "{detail}"
                ),
                other => panic!("{body}: {other:?}"),
            }
        }
        let ok = br#"{"status":"success","value":{"$x":1,"$serde_json::privat":2}}"#;
        let value = parse_function_response(StatusCode::OK, ok).unwrap().value;
        assert_eq!(value, json!({"$x": 1, "$serde_json::privat": 2}));
    }
}

//! The gateway's TOML configuration (the parts the Convex upstream and the tool catalog need).
//!
//! ```toml
//! [convex]
//! url = "https://happy-animal-123.convex.cloud"
//! deploy_key_env = "CONVEX_DEPLOY_KEY"      # or: deploy_key_file = "/run/secrets/convex"
//! identity = "caller"                        # or "service"
//! # service_identity = { subject = "auditgate", name = "auditgate gateway" }
//! include_internal = false
//! timeout_ms = 30000
//! query_retries = 2
//!
//! [catalog]
//! spec_file = "function-spec.json"           # omit to fetch live with the deploy key
//! data_tools = true
//! tool_prefix = "integration__convex__"      # optional: before every name clients see
//! poll_interval = "30s"                      # re-fetch the live spec ("off"; not with spec_file)
//!
//! [tools."invoices:refund"]                  # a function path or a data tool name
//! title = "Refund an invoice"
//! description = "…"
//! destructive = true
//!
//! [policy]
//! file = "policy.toml"
//!
//! [ledger]
//! dir = "ledger"                             # these three are the defaults
//! signing_key_file = "keys/ledger.key"       # Ed25519, 0600, made by `auditgate init`
//! commit_key_file = "keys/commit.key"        # keyed-BLAKE3 key for redaction commitments
//! segment_size_mib = 64                      # roll to a new segment file at this size
//! full_scan_on_open = false                  # re-check every segment on start (slow when large)
//!
//! [server]
//! allowed_origins = ["https://agents.example.com"]   # localhost origins are always allowed
//! max_body_bytes = 1048576
//! session_idle_secs = 3600
//! page_size = 100
//! header_timeout_secs = 10                   # for a request head (and idle keep-alive)
//! body_timeout_secs = 30                     # for a body, after its head (then 408)
//! max_connections = 1024                     # open connections at most; then accepting waits
//! max_sessions = 1024                        # open HTTP sessions at most
//! max_sessions_per_principal = 256           # per caller (default: a quarter of max_sessions)
//!
//! [server.refusals]                          # how many refusals are written one by one
//! per_source = { rate = 2, burst = 20 }      # before authentication, per peer IP address
//! per_principal = { rate = 10, burst = 100 } # after it, per (qualified) principal
//! all_sources = { rate = 20, burst = 200 }   # before it, all peers together
//! window_secs = 10                           # the rest: one refusals.summary per window
//! tarpit_ms = 1000                           # unauthenticated refusals over budget wait this
//!
//! [auth]
//! api_keys_file = "api-keys.json"            # bearer API keys, stored hashed
//!
//! [vault]                                    # optional: the evidence vault (docs/privacy.md)
//! dir = "vault"
//! subject = ["$.patientId", "$.patient.id"]  # JSONPaths naming a call's data subject
//!
//! [stdio]
//! principal = "local-agent"                  # who a stdio session is, unless a token says so
//! roles = ["analyst"]
//! token_env = "AUDITGATE_TOKEN"              # an API key in this variable overrides principal
//! ```
//! Unknown keys are errors; the message names the file, line and column (the `toml` crate's
//! span rendering). Secrets are never in this file: only where to read them from.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub convex: ConvexConfig,
    #[serde(default)]
    pub catalog: CatalogConfig,
    #[serde(default)]
    pub policy: Option<PolicyConfig>,
    /// Per-tool overrides, keyed by Convex function path (`invoices:refund`) or data tool name.
    #[serde(default)]
    pub tools: BTreeMap<String, ToolOverride>,
    #[serde(default)]
    pub ledger: LedgerConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub stdio: StdioConfig,
    /// People who may sign approvals (`docs/approvals.md` §1).
    #[serde(default)]
    pub approvers: Vec<ApproverConfig>,
    /// OAuth 2.1 resource server for HTTP (JWT bearer tokens), besides API keys.
    pub oauth: Option<OAuthConfig>,
    #[serde(default)]
    pub rate_limits: RateLimitsConfig,
    /// The evidence vault (`docs/privacy.md` §5): originals of committed values, erasable per
    /// data subject. Off unless configured.
    pub vault: Option<VaultConfig>,
    /// `blake3:<hex>` of the config file's bytes (recorded in `gateway.start`).
    #[serde(skip)]
    pub source_hash: String,
    /// `auditgate serve --write`: lowers the policy's write ceilings for this process. Never
    /// read from the file (recorded in `gateway.start`).
    #[serde(skip)]
    pub write_limit: Option<auditgate_policy::WriteMode>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// The vault folder; relative to the config file.
    #[serde(default = "default_vault_dir")]
    pub dir: PathBuf,
    /// JSONPaths over a call's arguments naming its data subject (`$.patientId`); the first
    /// that selects exactly one string or number wins. A call naming none keeps no originals.
    pub subject: Vec<String>,
}

fn default_vault_dir() -> PathBuf {
    PathBuf::from("vault")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// This gateway's resource identifier (RFC 8707 / RFC 9728): tokens must name it in `aud`.
    pub resource: String,
    /// The accepted token issuer (`iss`).
    pub issuer: String,
    /// Authorization servers advertised in the protected resource metadata (default: issuer).
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// The issuer's JWKS: a file (relative to the config) or an HTTPS URL.
    pub jwks_file: Option<PathBuf>,
    pub jwks_url: Option<String>,
    /// The claim holding roles (array of strings, or one space-separated string).
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// The claim naming the principal.
    #[serde(default = "default_principal_claim")]
    pub principal_claim: String,
    /// A scope every token needs to use MCP at all (none by default).
    pub required_scope: Option<String>,
    /// Scopes particular tools need, by tool-name glob (e.g. `"invoices_*" = "billing:write"`).
    #[serde(default)]
    pub tool_scopes: BTreeMap<String, String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
    /// An OAuth role that grants the operator API (`/admin/…`). Without it only API keys with
    /// `[server] admin_role` may use it, whatever roles a token claims.
    #[serde(default)]
    pub operator_role: Option<String>,
}

fn default_roles_claim() -> String {
    "roles".into()
}
fn default_principal_claim() -> String {
    "sub".into()
}
fn default_leeway_secs() -> u64 {
    30
}

/// Token buckets: `rate` calls per second refilled, up to `burst`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    pub rate: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// `tools/call`s per principal, all tools together.
    pub per_principal: Option<BucketConfig>,
    /// `tools/call`s per principal and tool, by tool-name glob (first match).
    #[serde(default)]
    pub per_tool: BTreeMap<String, BucketConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproverConfig {
    pub name: String,
    /// The approver's verifier key (signed-note form, from `auditgate approver keygen`).
    pub key: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    #[serde(default = "default_ledger_dir")]
    pub dir: PathBuf,
    #[serde(default = "default_signing_key_file")]
    pub signing_key_file: PathBuf,
    #[serde(default = "default_commit_key_file")]
    pub commit_key_file: PathBuf,
    /// The ledger rolls to a new segment file at this size. A sealed segment is read-only, and
    /// its index database is closed, so this also bounds the index's memory.
    #[serde(
        default = "default_segment_size_mib",
        deserialize_with = "segment_size_mib"
    )]
    pub segment_size_mib: u64,
    /// Re-read and check every segment when the gateway starts, instead of resuming after the
    /// head saved at the last sealed segments: start time then grows with the ledger, and the
    /// gateway refuses to start on a damaged old segment (otherwise `auditgate-verify`'s to find).
    #[serde(default)]
    pub full_scan_on_open: bool,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            dir: default_ledger_dir(),
            signing_key_file: default_signing_key_file(),
            commit_key_file: default_commit_key_file(),
            segment_size_mib: default_segment_size_mib(),
            full_scan_on_open: false,
        }
    }
}

fn default_segment_size_mib() -> u64 {
    64
}
fn segment_size_mib<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    within(d, "ledger.segment_size_mib", 1, 1024)
}

fn default_ledger_dir() -> PathBuf {
    "ledger".into()
}
fn default_signing_key_file() -> PathBuf {
    "keys/ledger.key".into()
}
fn default_commit_key_file() -> PathBuf {
    "keys/commit.key".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Origins allowed besides `http://localhost`, `http://127.0.0.1` and `http://[::1]` (any
    /// port, http or https). Requests without `Origin` (non-browser clients) are allowed.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Sessions without a request for this long are closed (`session.close`, reason `idle`).
    #[serde(default = "default_session_idle_secs")]
    pub session_idle_secs: u64,
    /// Tools per `tools/list` page.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// Open HTTP sessions at most; `initialize` beyond it is refused.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// Open HTTP sessions of one principal at most (default: a quarter of `max_sessions`, at
    /// least 1). A principal at its cap that opens another session closes its own least recently
    /// used idle one (`session.close`, reason `evicted`); never another principal's.
    #[serde(default)]
    pub max_sessions_per_principal: Option<usize>,
    /// Recording budgets for refusals (`docs/audit-events.md` §7).
    #[serde(default)]
    pub refusals: RefusalsConfig,
    /// The API key role that may use the operator API (`/admin/...`).
    #[serde(default = "default_admin_role")]
    pub admin_role: String,
    /// A connection that has not sent a complete request head for this long is closed, also
    /// while idle between keep-alive requests (`server::listener`).
    #[serde(
        default = "default_header_timeout_secs",
        deserialize_with = "header_timeout_secs"
    )]
    pub header_timeout_secs: u64,
    /// A request whose body has not arrived completely this long after its head is refused with
    /// 408 (recorded: `request.refused`, reason `body_timeout`).
    #[serde(
        default = "default_body_timeout_secs",
        deserialize_with = "body_timeout_secs"
    )]
    pub body_timeout_secs: u64,
    /// Open HTTP connections at most; at the cap the listener stops accepting until one closes.
    #[serde(
        default = "default_max_connections",
        deserialize_with = "max_connections"
    )]
    pub max_connections: usize,
}

impl ServerConfig {
    /// `max_sessions_per_principal`, or its default.
    pub fn sessions_per_principal(&self) -> usize {
        self.max_sessions_per_principal
            .unwrap_or((self.max_sessions / 4).max(1))
    }
}

/// `[server.refusals]`: how many refusals are recorded one entry each, and how the rest are
/// summarized.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalsConfig {
    /// Refusals before authentication, per peer IP address.
    #[serde(default = "default_refusals_per_source")]
    pub per_source: BucketConfig,
    /// Refusals of an authenticated principal (qualified name).
    #[serde(default = "default_refusals_per_principal")]
    pub per_principal: BucketConfig,
    /// Refusals before authentication from all peers together (many addresses, one budget).
    #[serde(default = "default_refusals_all_sources")]
    pub all_sources: BucketConfig,
    /// Refusals over budget are counted and written as one `refusals.summary` per window.
    #[serde(default = "default_refusals_window_secs")]
    pub window_secs: u64,
    /// An unauthenticated refusal over budget is answered (429) after this delay.
    #[serde(default = "default_tarpit_ms")]
    pub tarpit_ms: u64,
}

impl Default for RefusalsConfig {
    fn default() -> Self {
        Self {
            per_source: default_refusals_per_source(),
            per_principal: default_refusals_per_principal(),
            all_sources: default_refusals_all_sources(),
            window_secs: default_refusals_window_secs(),
            tarpit_ms: default_tarpit_ms(),
        }
    }
}

fn default_refusals_per_source() -> BucketConfig {
    BucketConfig {
        rate: 2.0,
        burst: 20,
    }
}
fn default_refusals_per_principal() -> BucketConfig {
    BucketConfig {
        rate: 10.0,
        burst: 100,
    }
}
fn default_refusals_all_sources() -> BucketConfig {
    BucketConfig {
        rate: 20.0,
        burst: 200,
    }
}
fn default_refusals_window_secs() -> u64 {
    10
}
fn default_tarpit_ms() -> u64 {
    1000
}

fn default_admin_role() -> String {
    "admin".into()
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            max_body_bytes: default_max_body_bytes(),
            session_idle_secs: default_session_idle_secs(),
            page_size: default_page_size(),
            max_sessions: default_max_sessions(),
            max_sessions_per_principal: None,
            refusals: RefusalsConfig::default(),
            admin_role: default_admin_role(),
            header_timeout_secs: default_header_timeout_secs(),
            body_timeout_secs: default_body_timeout_secs(),
            max_connections: default_max_connections(),
        }
    }
}

fn default_max_body_bytes() -> usize {
    1024 * 1024
}
fn default_session_idle_secs() -> u64 {
    3600
}
fn default_page_size() -> usize {
    100
}
fn default_max_sessions() -> usize {
    1024
}
fn default_header_timeout_secs() -> u64 {
    10
}
fn default_body_timeout_secs() -> u64 {
    30
}
fn default_max_connections() -> usize {
    1024
}

/// Read timers longer than an hour protect nothing.
const MAX_TIMEOUT_SECS: u64 = 3600;
/// Far beyond any file-descriptor limit one process is given.
const MAX_CONNECTIONS: usize = 1_000_000;

// Range checks while parsing, so that an error names the file, line, column and field (the
// `toml` crate renders the value's span) like any other parse error.
fn header_timeout_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    within(d, "server.header_timeout_secs", 1, MAX_TIMEOUT_SECS)
}
fn body_timeout_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    within(d, "server.body_timeout_secs", 1, MAX_TIMEOUT_SECS)
}
fn max_connections<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = within(d, "server.max_connections", 1, MAX_CONNECTIONS as u64)?;
    usize::try_from(n).map_err(serde::de::Error::custom)
}

fn within<'de, D: serde::Deserializer<'de>>(
    d: D,
    field: &str,
    lo: u64,
    hi: u64,
) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if !(lo..=hi).contains(&n) {
        return Err(serde::de::Error::custom(format!(
            "{field} must be between {lo} and {hi}, not {n}"
        )));
    }
    Ok(n)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The API key store (hashes only), managed by `auditgate keys`.
    #[serde(default = "default_api_keys_file")]
    pub api_keys_file: PathBuf,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            api_keys_file: default_api_keys_file(),
        }
    }
}

fn default_api_keys_file() -> PathBuf {
    "api-keys.json".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdioConfig {
    /// The principal of a stdio session when no token is given.
    pub principal: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// An environment variable that may hold an API key; when set and non-empty it decides the
    /// principal (and must be valid).
    pub token_env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityModeConfig {
    /// The deploy key acts as the MCP caller's identity (`ctx.auth` sees the caller).
    #[default]
    Caller,
    /// Every call runs as one fixed identity (or, without `service_identity`, as plain admin).
    Service,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceIdentityConfig {
    pub subject: String,
    pub issuer: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvexConfig {
    pub url: String,
    pub deploy_key_env: Option<String>,
    pub deploy_key_file: Option<PathBuf>,
    #[serde(default)]
    pub identity: IdentityModeConfig,
    pub service_identity: Option<ServiceIdentityConfig>,
    #[serde(default)]
    pub include_internal: bool,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_query_retries")]
    pub query_retries: u32,
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
}

fn default_timeout_ms() -> u64 {
    30_000
}
fn default_query_retries() -> u32 {
    2
}
fn default_max_response_bytes() -> usize {
    16 * 1024 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// Output of `npx convex function-spec`; relative to the config file.
    pub spec_file: Option<PathBuf>,
    #[serde(default = "default_true")]
    pub data_tools: bool,
    /// Put before every tool name MCP clients see (e.g. `integration__convex__`, the names
    /// KosmoKrator users know). Policies, the ledger and `auditgate tools` keep the names
    /// without it.
    #[serde(default, deserialize_with = "tool_prefix")]
    pub tool_prefix: Option<String>,
    /// How often the deployment's function spec is fetched again for a live reload
    /// (`docs/operations.md`, "Reload"); unused with `spec_file`.
    #[serde(default)]
    pub poll_interval: PollInterval,
}

/// The longest `[catalog] tool_prefix`: it leaves a tool name 32 of the 64 characters.
pub const MAX_TOOL_PREFIX_LEN: usize = 32;

fn tool_prefix<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let prefix = String::deserialize(d)?;
    let valid = !prefix.is_empty()
        && prefix.len() <= MAX_TOOL_PREFIX_LEN
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(serde::de::Error::custom(format!(
            "{prefix:?} must match ^[A-Za-z0-9_-]{{1,{MAX_TOOL_PREFIX_LEN}}}$"
        )));
    }
    Ok(Some(prefix))
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            spec_file: None,
            data_tools: true,
            tool_prefix: None,
            poll_interval: PollInterval::default(),
        }
    }
}

/// `"off"`, or a period written `<n>ms`, `<n>s`, `<n>m` or `<n>h` (not zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollInterval(pub Option<std::time::Duration>);

/// The poll period unless configured.
pub const DEFAULT_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

impl Default for PollInterval {
    fn default() -> Self {
        Self(Some(DEFAULT_POLL_INTERVAL))
    }
}

impl std::str::FromStr for PollInterval {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "off" {
            return Ok(Self(None));
        }
        let digits = text.chars().take_while(char::is_ascii_digit).count();
        let (number, unit) = text.split_at(digits);
        let n: u64 = number.parse().map_err(|_| {
            format!(
                "poll_interval {text:?}: write \"off\" or e.g. \"500ms\", \"30s\", \"5m\", \"1h\""
            )
        })?;
        let millis = match unit {
            "ms" => Some(n),
            "s" => n.checked_mul(1000),
            "m" => n.checked_mul(60_000),
            "h" => n.checked_mul(3_600_000),
            _ => None,
        }
        .filter(|&ms| ms > 0)
        .ok_or_else(|| {
            format!("poll_interval {text:?}: a unit of ms, s, m or h and more than zero")
        })?;
        Ok(Self(Some(std::time::Duration::from_millis(millis))))
    }
}

impl<'de> Deserialize<'de> for PollInterval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policy file; relative to the config file.
    pub file: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ToolOverride {
    /// An explicit tool name (must match `^[A-Za-z0-9_-]{1,64}$`).
    pub name: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// Overrides `destructiveHint` (mutations and actions default to `true`).
    pub destructive: Option<bool>,
    /// Overrides `idempotentHint`.
    pub idempotent: Option<bool>,
}

impl Config {
    /// Reads and validates a config file; relative paths inside are resolved against its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(path, &text)?;
        config.source_hash = format!("blake3:{}", blake3::hash(text.as_bytes()).to_hex());
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(oauth) = &mut config.oauth
            && let Some(file) = &mut oauth.jwks_file
        {
            *file = base.join(&*file);
        }
        for p in [
            &mut config.ledger.dir,
            &mut config.ledger.signing_key_file,
            &mut config.ledger.commit_key_file,
            &mut config.auth.api_keys_file,
        ] {
            *p = base.join(&*p);
        }
        if let Some(spec) = &mut config.catalog.spec_file {
            *spec = base.join(&*spec);
        }
        if let Some(file) = &mut config.convex.deploy_key_file {
            *file = base.join(&*file);
        }
        if let Some(policy) = &mut config.policy {
            policy.file = base.join(&policy.file);
        }
        if let Some(vault) = &mut config.vault {
            vault.dir = base.join(&vault.dir);
        }
        Ok(config)
    }

    /// Parses config text; `path` only names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let invalid = |message: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        };
        let c = &config.convex;
        if !(c.url.starts_with("http://") || c.url.starts_with("https://")) {
            return Err(invalid("convex.url must start with http:// or https://"));
        }
        if c.deploy_key_env.is_some() && c.deploy_key_file.is_some() {
            return Err(invalid(
                "set only one of convex.deploy_key_env and convex.deploy_key_file",
            ));
        }
        if c.identity == IdentityModeConfig::Caller && c.service_identity.is_some() {
            return Err(invalid(
                "convex.service_identity applies only with identity = \"service\"",
            ));
        }
        if c.timeout_ms == 0 {
            return Err(invalid("convex.timeout_ms must be positive"));
        }
        let s = &config.server;
        if s.page_size == 0 || s.max_body_bytes == 0 || s.max_sessions == 0 {
            return Err(invalid(
                "server.page_size, server.max_body_bytes and server.max_sessions must be positive",
            ));
        }
        if s.max_sessions_per_principal == Some(0) {
            return Err(invalid(
                "server.max_sessions_per_principal must be positive",
            ));
        }
        let r = &s.refusals;
        for b in [&r.per_source, &r.per_principal, &r.all_sources] {
            if !(b.rate.is_finite() && b.rate > 0.0) || b.burst == 0 {
                return Err(invalid(
                    "server.refusals: rate must be a positive number and burst at least 1",
                ));
            }
        }
        if !(1..=3600).contains(&r.window_secs) || r.tarpit_ms > 60_000 {
            return Err(invalid(
                "server.refusals: window_secs must be 1..=3600 and tarpit_ms at most 60000",
            ));
        }
        for origin in &s.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.trim_end_matches('/').matches('/').count() != 2
            {
                return Err(invalid(&format!(
                    "server.allowed_origins: {origin:?} is not an origin (scheme://host[:port])"
                )));
            }
        }
        if let Some(o) = &config.oauth {
            if o.jwks_file.is_some() == o.jwks_url.is_some() {
                return Err(invalid("oauth: set exactly one of jwks_file and jwks_url"));
            }
            if o.resource.is_empty() || o.issuer.is_empty() {
                return Err(invalid("oauth: resource and issuer must not be empty"));
            }
        }
        let limits = &config.rate_limits;
        for b in limits.per_principal.iter().chain(limits.per_tool.values()) {
            if !(b.rate.is_finite() && b.rate > 0.0) || b.burst == 0 {
                return Err(invalid(
                    "rate_limits: rate must be a positive number and burst at least 1",
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for a in &config.approvers {
            let key: auditgate_ledger::VerifierKey =
                a.key
                    .parse()
                    .map_err(|e: auditgate_ledger::keys::KeyError| {
                        invalid(&format!(
                            "approvers: {:?}: key is not a verifier key: {e}",
                            a.name
                        ))
                    })?;
            if key.name() != a.name {
                return Err(invalid(&format!(
                    "approvers: {:?}: the key is named {:?}; they must match",
                    a.name,
                    key.name()
                )));
            }
            if !names.insert(a.name.as_str()) {
                return Err(invalid(&format!("approvers: {:?} appears twice", a.name)));
            }
        }
        if let Some(name) = &config.stdio.principal
            && name.trim().is_empty()
        {
            return Err(invalid("stdio.principal must not be empty"));
        }
        if let Some(vault) = &config.vault {
            if vault.subject.is_empty() {
                return Err(invalid(
                    "vault.subject must name at least one JSONPath (e.g. \"$.patientId\")",
                ));
            }
            for p in &vault.subject {
                if let Err(e) = jsonpath_rust::parser::parse_json_path(p) {
                    return Err(invalid(&format!(
                        "vault.subject: {p:?} is not a JSONPath (RFC 9535): {e}"
                    )));
                }
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[convex]\nurl = \"http://127.0.0.1:3210\"\ndeploy_key_env = \"K\"\n";

    #[test]
    fn poll_interval_is_off_or_a_period_and_defaults_to_30s() {
        let c = Config::parse(Path::new("t.toml"), MINIMAL).unwrap();
        assert_eq!(c.catalog.poll_interval.0, Some(DEFAULT_POLL_INTERVAL));
        let period = |t: &str| t.parse::<PollInterval>().map(|p| p.0);
        assert_eq!(period("off"), Ok(None));
        assert_eq!(
            period("250ms"),
            Ok(Some(std::time::Duration::from_millis(250)))
        );
        assert_eq!(period("2m"), Ok(Some(std::time::Duration::from_secs(120))));
        for bad in ["", "0s", "30", "1.5s", "-1s", "1d", "30 s", "on"] {
            assert!(period(bad).is_err(), "{bad:?}");
        }
        let text = format!("{MINIMAL}[catalog]\npoll_interval = \"soon\"\n");
        let err = Config::parse(Path::new("t.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.toml") && err.contains("poll_interval"),
            "{err}"
        );
    }

    #[test]
    fn minimal_config_has_safe_defaults() {
        let c = Config::parse(Path::new("c.toml"), MINIMAL).unwrap();
        assert_eq!(c.convex.identity, IdentityModeConfig::Caller);
        assert!(!c.convex.include_internal);
        assert!(c.catalog.data_tools);
        assert_eq!(c.convex.timeout_ms, 30_000);
    }

    #[test]
    fn unknown_keys_name_line_and_column() {
        let text = format!("{MINIMAL}deploy_key = \"oops\"\n");
        let err = Config::parse(Path::new("c.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.toml"), "{err}");
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("deploy_key"), "{err}");
    }

    #[test]
    fn ledger_segment_size_defaults_parses_and_is_range_checked() {
        let c = Config::parse(Path::new("c.toml"), MINIMAL).unwrap();
        assert_eq!(c.ledger.segment_size_mib, 64);
        let c = Config::parse(
            Path::new("c.toml"),
            &format!("{MINIMAL}[ledger]\nsegment_size_mib = 8\n"),
        )
        .unwrap();
        assert_eq!(c.ledger.segment_size_mib, 8);
        assert!(!c.ledger.full_scan_on_open);
        let c = Config::parse(
            Path::new("c.toml"),
            &format!("{MINIMAL}[ledger]\nfull_scan_on_open = true\n"),
        )
        .unwrap();
        assert!(c.ledger.full_scan_on_open);
        let err = Config::parse(
            Path::new("c.toml"),
            &format!("{MINIMAL}[ledger]\nsegment_size_mib = 0\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ledger.segment_size_mib"), "{err}");
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn server_read_timers_and_connection_cap_default_and_parse() {
        let c = Config::parse(Path::new("c.toml"), MINIMAL).unwrap();
        assert_eq!(
            (
                c.server.header_timeout_secs,
                c.server.body_timeout_secs,
                c.server.max_connections
            ),
            (10, 30, 1024)
        );
        let text = format!(
            "{MINIMAL}[server]\nheader_timeout_secs = 2\nbody_timeout_secs = 3\nmax_connections = 2\n"
        );
        let c = Config::parse(Path::new("c.toml"), &text).unwrap();
        assert_eq!(
            (
                c.server.header_timeout_secs,
                c.server.body_timeout_secs,
                c.server.max_connections
            ),
            (2, 3, 2)
        );
    }

    #[test]
    fn zero_or_absurd_timers_and_caps_are_refused_naming_file_line_and_field() {
        for (line, field) in [
            ("header_timeout_secs = 0", "server.header_timeout_secs"),
            ("header_timeout_secs = 86400", "server.header_timeout_secs"),
            ("body_timeout_secs = 0", "server.body_timeout_secs"),
            ("body_timeout_secs = 3601", "server.body_timeout_secs"),
            ("max_connections = 0", "server.max_connections"),
            ("max_connections = 1000000000", "server.max_connections"),
            ("max_connections = -1", "max_connections"),
            ("body_timeout_secs = \"30s\"", "body_timeout_secs"),
        ] {
            let text = format!("{MINIMAL}[server]\npage_size = 10\n{line}\n");
            let err = Config::parse(Path::new("c.toml"), &text)
                .unwrap_err()
                .to_string();
            assert!(err.contains("c.toml"), "{line}: {err}");
            assert!(err.contains("line 6"), "{line}: {err}");
            assert!(err.contains(field), "{line}: {err}");
        }
    }

    #[test]
    fn tool_overrides_parse() {
        let text = format!(
            "{MINIMAL}[tools.\"invoices:refund\"]\ntitle = \"Refund\"\ndestructive = true\n"
        );
        let c = Config::parse(Path::new("c.toml"), &text).unwrap();
        assert_eq!(c.tools["invoices:refund"].title.as_deref(), Some("Refund"));
    }
}

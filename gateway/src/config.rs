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
//!
//! [tools."invoices:refund"]                  # a function path or a data tool name
//! title = "Refund an invoice"
//! description = "…"
//! destructive = true
//! ```
//! Unknown keys are errors; the message names the file, line and column (the `toml` crate's
//! span rendering). The deploy key itself is never in this file: only where to read it from.
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
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            spec_file: None,
            data_tools: true,
        }
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
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(spec) = &mut config.catalog.spec_file {
            *spec = base.join(&*spec);
        }
        if let Some(file) = &mut config.convex.deploy_key_file {
            *file = base.join(&*file);
        }
        if let Some(policy) = &mut config.policy {
            policy.file = base.join(&policy.file);
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
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[convex]\nurl = \"http://127.0.0.1:3210\"\ndeploy_key_env = \"K\"\n";

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
    fn tool_overrides_parse() {
        let text = format!(
            "{MINIMAL}[tools.\"invoices:refund\"]\ntitle = \"Refund\"\ndestructive = true\n"
        );
        let c = Config::parse(Path::new("c.toml"), &text).unwrap();
        assert_eq!(c.tools["invoices:refund"].title.as_deref(), Some("Refund"));
    }
}

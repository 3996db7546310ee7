//! The Convex upstream: the deployment HTTP API client, value codec, identities and errors.
//! The wire facts it honours are summarised in `docs/convex-upstream.md`.
pub mod client;
pub mod codec;
pub mod error;
pub mod identity;

pub use client::{
    ClientOptions, ConvexClient, Endpoint, FunctionResult, SnapshotPage, TablePage, ValueFormat,
};
pub use error::UpstreamError;
pub use identity::{CallIdentity, DeployKey, IdentityError, IdentityMode, UserIdentity, UserToken};

use crate::config::{ConvexConfig, IdentityModeConfig};

/// Builds the client and the identity mode from `[convex]` config, reading the deploy key.
pub fn from_config(config: &ConvexConfig) -> Result<(ConvexClient, IdentityMode), FromConfigError> {
    let key = match (&config.deploy_key_env, &config.deploy_key_file) {
        (Some(name), _) => DeployKey::from_env(name)?,
        (None, Some(path)) => DeployKey::from_file(path)?,
        (None, None) => return Err(IdentityError::NotConfigured.into()),
    };
    let options = ClientOptions {
        timeout: std::time::Duration::from_millis(config.timeout_ms),
        query_retries: config.query_retries,
        max_response_bytes: config.max_response_bytes,
        ..ClientOptions::default()
    };
    let client = ConvexClient::new(&config.url, key, options)?;
    let mode = match config.identity {
        IdentityModeConfig::Caller => IdentityMode::Caller,
        IdentityModeConfig::Service => {
            IdentityMode::Service(config.service_identity.as_ref().map(|s| UserIdentity {
                subject: s.subject.clone(),
                issuer: s.issuer.clone(),
                name: s.name.clone(),
                email: s.email.clone(),
                extra: serde_json::Map::new(),
            }))
        }
    };
    Ok((client, mode))
}

#[derive(Debug, thiserror::Error)]
pub enum FromConfigError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

//! Who a Convex call runs as, and the deploy key that authorizes it.
//!
//! Wire format (`Authorization` header):
//! - `Convex <deploy key>`: admin; may call internal functions; `ctx.auth` sees no user.
//! - `Convex <deploy key>:<base64(JSON identity)>`: admin acting as that user; `ctx.auth` sees it.
//! - `Bearer <user JWT>`: an ordinary user (not used by the gateway for MCP callers: the client's
//!   token is never forwarded; kept for completeness and tests).
//!
//! The deploy key is read from an environment variable or a file, never argv, and never appears in
//! `Debug`, `Display`, logs or errors.
use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("environment variable {name} with the deploy key is not set or not valid UTF-8")]
    MissingEnv { name: String },
    #[error("cannot read the deploy key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the deploy key from {origin} is empty or contains whitespace")]
    MalformedKey { origin: String },
    #[error("no deploy key configured: set convex.deploy_key_env or convex.deploy_key_file")]
    NotConfigured,
    #[error("identity mode \"caller\" needs an authenticated MCP caller")]
    NoCallerIdentity,
}

/// A deployment's deploy (admin) key. Deliberately not `Clone`-able into strings: the only way
/// out is the `Authorization` header built in [`authorization_header`].
#[derive(Clone)]
pub struct DeployKey(String);

impl fmt::Debug for DeployKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeployKey(<redacted>)")
    }
}

impl DeployKey {
    pub fn from_env(name: &str) -> Result<Self, IdentityError> {
        let value = std::env::var(name).map_err(|_| IdentityError::MissingEnv {
            name: name.to_string(),
        })?;
        Self::checked(value, format!("${name}"))
    }

    pub fn from_file(path: &Path) -> Result<Self, IdentityError> {
        let value = std::fs::read_to_string(path).map_err(|source| IdentityError::KeyFile {
            path: path.display().to_string(),
            source,
        })?;
        Self::checked(value.trim().to_string(), path.display().to_string())
    }

    /// For tests and embedders that hold the key in memory already.
    pub fn from_secret(value: String) -> Result<Self, IdentityError> {
        Self::checked(value, "memory".into())
    }

    fn checked(value: String, origin: String) -> Result<Self, IdentityError> {
        if value.is_empty() || value.chars().any(char::is_whitespace) {
            return Err(IdentityError::MalformedKey { origin });
        }
        Ok(Self(value))
    }
}

/// A user identity as Convex's `ctx.auth.getUserIdentity()` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserIdentity {
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Further OIDC claims, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl UserIdentity {
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            issuer: None,
            name: None,
            email: None,
            extra: Map::new(),
        }
    }
}

/// A user's own token; redacted in `Debug`.
#[derive(Clone)]
pub struct UserToken(String);

impl UserToken {
    pub fn new(token: String) -> Self {
        Self(token)
    }
}

impl fmt::Debug for UserToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserToken(<redacted>)")
    }
}

/// The identity one call runs as.
#[derive(Debug, Clone)]
pub enum CallIdentity {
    /// The deploy key alone: admin, no user.
    Admin,
    /// The deploy key acting as this user.
    ActingAs(UserIdentity),
    /// A user's own JWT (no admin rights).
    User(UserToken),
}

impl CallIdentity {
    /// A label safe for logs and the ledger (no secrets).
    pub fn label(&self) -> String {
        match self {
            Self::Admin => "admin".into(),
            Self::ActingAs(u) => format!("admin-as:{}", u.subject),
            Self::User(_) => "user-token".into(),
        }
    }
}

/// How the gateway chooses the identity for a call (config `convex.identity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMode {
    /// Act as the MCP caller.
    Caller,
    /// A fixed service identity, or plain admin when `None`.
    Service(Option<UserIdentity>),
}

impl IdentityMode {
    /// The identity for a call from `caller` (the authenticated MCP principal, if any).
    pub fn resolve(&self, caller: Option<&UserIdentity>) -> Result<CallIdentity, IdentityError> {
        match self {
            Self::Caller => caller
                .cloned()
                .map(CallIdentity::ActingAs)
                .ok_or(IdentityError::NoCallerIdentity),
            Self::Service(Some(identity)) => Ok(CallIdentity::ActingAs(identity.clone())),
            Self::Service(None) => Ok(CallIdentity::Admin),
        }
    }
}

/// The `Authorization` header value for a call. Marked sensitive so HTTP tracing never prints it.
pub(crate) fn authorization_header(
    key: &DeployKey,
    identity: &CallIdentity,
) -> Result<reqwest::header::HeaderValue, reqwest::header::InvalidHeaderValue> {
    let text = match identity {
        CallIdentity::Admin => format!("Convex {}", key.0),
        CallIdentity::ActingAs(user) => {
            // Serializing a struct of strings and a JSON map cannot fail.
            let json = serde_json::to_vec(user).unwrap_or_default();
            format!("Convex {}:{}", key.0, STANDARD.encode(json))
        }
        CallIdentity::User(token) => format!("Bearer {}", token.0),
    };
    let mut value = reqwest::header::HeaderValue::from_str(&text)?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let key = DeployKey::from_secret("prod:x|secret123".into()).unwrap();
        assert!(!format!("{key:?}").contains("secret123"));
        let token = UserToken::new("jwt-secret".into());
        assert!(!format!("{:?}", CallIdentity::User(token)).contains("jwt-secret"));
    }

    #[test]
    fn acting_as_header_carries_base64_identity() {
        let key = DeployKey::from_secret("k".into()).unwrap();
        let mut user = UserIdentity::new("alice");
        user.email = Some("a@example.com".into());
        let header = authorization_header(&key, &CallIdentity::ActingAs(user)).unwrap();
        let text = header.to_str().unwrap();
        let encoded = text.strip_prefix("Convex k:").unwrap();
        let decoded: Value = serde_json::from_slice(&STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(
            decoded,
            serde_json::json!({"subject": "alice", "email": "a@example.com"})
        );
        assert!(header.is_sensitive());
    }

    #[test]
    fn caller_mode_needs_a_caller() {
        assert!(matches!(
            IdentityMode::Caller.resolve(None),
            Err(IdentityError::NoCallerIdentity)
        ));
        assert!(matches!(
            IdentityMode::Service(None).resolve(None),
            Ok(CallIdentity::Admin)
        ));
        assert!(DeployKey::from_secret("has space".into()).is_err());
    }
}

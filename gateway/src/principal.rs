//! Who is calling: the authenticated principal of a session, and how it was established.
use serde_json::Value;

use crate::upstream::convex::UserIdentity;

/// How a principal was authenticated (recorded in `session.open.auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// A bearer API key; `key_id` is its public id.
    ApiKey { key_id: String },
    /// The stdio principal named in the config (the operator who launched the process).
    Local,
    /// An OAuth access token (JWT) from `issuer`; `token` is `jti:<id>` or a fingerprint, never
    /// the token.
    OAuth {
        issuer: String,
        token: String,
        email: Option<String>,
        display_name: Option<String>,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub roles: Vec<String>,
    pub auth: AuthMethod,
}

impl Principal {
    pub fn auth_name(&self) -> &'static str {
        match self.auth {
            AuthMethod::ApiKey { .. } => "api_key",
            AuthMethod::Local => "local",
            AuthMethod::OAuth { .. } => "oauth",
        }
    }

    /// The principal qualified by its name space (`key:eve`, `oauth:eve`, `local:eve`): what
    /// rate-limit buckets, session caps and the policy's `match.principals` key on, so that an
    /// OAuth subject `eve` is never the API key principal `eve`.
    pub fn qualified(&self) -> String {
        let space = match self.auth {
            AuthMethod::ApiKey { .. } => "key",
            AuthMethod::Local => "local",
            AuthMethod::OAuth { .. } => "oauth",
        };
        format!("{space}:{}", self.name)
    }

    /// Whether `other` is the same principal in the same name space (what
    /// [`Principal::qualified`] compares), without building either name.
    pub fn same_principal(&self, other: &Principal) -> bool {
        self.name == other.name && self.auth_name() == other.auth_name()
    }

    pub fn key_id(&self) -> Option<&str> {
        match &self.auth {
            AuthMethod::ApiKey { key_id } => Some(key_id),
            _ => None,
        }
    }

    /// The OAuth token reference (`jti:…` or a fingerprint), for the ledger.
    pub fn token_ref(&self) -> Option<&str> {
        match &self.auth {
            AuthMethod::OAuth { token, .. } => Some(token),
            _ => None,
        }
    }

    /// Whether two credentials name the same caller (an HTTP session is bound to this): the same
    /// API key, or the same subject of the same issuer (tokens may be refreshed mid-session).
    pub fn same_caller(&self, other: &Principal) -> bool {
        self.name == other.name
            && match (&self.auth, &other.auth) {
                (AuthMethod::OAuth { issuer: a, .. }, AuthMethod::OAuth { issuer: b, .. }) => {
                    a == b
                }
                (a, b) => a == b,
            }
    }

    /// The identity Convex sees when the gateway acts as this caller.
    pub fn convex_identity(&self) -> UserIdentity {
        let mut identity = UserIdentity::new(self.name.clone());
        identity.issuer = Some("auditgate".into());
        identity.name = Some(self.name.clone());
        if let AuthMethod::OAuth {
            issuer,
            email,
            display_name,
            ..
        } = &self.auth
        {
            identity.issuer = Some(issuer.clone());
            identity.email = email.clone();
            identity.name = display_name.clone().or_else(|| Some(self.name.clone()));
        }
        identity
            .extra
            .insert("roles".into(), Value::from(self.roles.clone()));
        identity
    }
}

//! OAuth 2.1 resource server for HTTP: JWT bearer tokens checked against the issuer's JWKS
//! (file or URL, cached, re-fetched once when a token names an unknown `kid`), issuer, audience
//! (this gateway's resource, RFC 8707), `exp`/`nbf` with a small leeway, and scopes; roles come
//! from a configurable claim. Also the RFC 9728 protected resource metadata and the
//! `WWW-Authenticate` challenges. The client's token is never forwarded anywhere.
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Value, json};

use crate::audit::bounded;
use crate::config::OAuthConfig;
use crate::principal::{AuthMethod, Principal};

/// Why a token was refused (`auth.refused.reason`). Every variant is a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    AlgorithmNotAllowed,
    #[error("the token names a signing key the issuer does not publish")]
    UnknownKid,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued for another resource")]
    WrongAudience,
    #[error("the token comes from an issuer this gateway does not trust")]
    WrongIssuer,
    #[error("the token lacks the scope this gateway requires")]
    MissingScope,
    #[error("the token has no principal claim")]
    NoPrincipal,
    #[error("the issuer's keys could not be loaded")]
    KeysUnavailable,
}

impl TokenError {
    pub fn code(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::AlgorithmNotAllowed => "alg_not_allowed",
            TokenError::UnknownKid => "unknown_kid",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::WrongAudience => "wrong_audience",
            TokenError::WrongIssuer => "wrong_issuer",
            TokenError::MissingScope => "insufficient_scope",
            TokenError::NoPrincipal => "no_principal",
            TokenError::KeysUnavailable => "keys_unavailable",
        }
    }
}

/// Asymmetric algorithms only: an HMAC "key" from a JWKS would be a shared secret.
const ALLOWED: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Where the issuer's keys come from, and the cached set.
#[derive(Debug)]
pub struct Jwks {
    source: JwksSource,
    cache: Mutex<Option<(JwkSet, Instant)>>,
    /// An unknown `kid` re-reads the set at most this often.
    refresh_floor: Duration,
}

#[derive(Debug, Clone)]
enum JwksSource {
    File(std::path::PathBuf),
    Url(String),
}

/// A JWKS older than this is re-read.
const JWKS_TTL: Duration = Duration::from_secs(300);
/// Default for [`Jwks::refresh_floor`].
const REFRESH_FLOOR: Duration = Duration::from_secs(10);

impl Jwks {
    pub fn from_config(c: &OAuthConfig) -> Self {
        let source = match (&c.jwks_file, &c.jwks_url) {
            (Some(f), _) => JwksSource::File(f.clone()),
            (None, Some(u)) => JwksSource::Url(u.clone()),
            // Config parsing requires exactly one.
            (None, None) => JwksSource::File(Default::default()),
        };
        Self {
            source,
            cache: Mutex::new(None),
            refresh_floor: REFRESH_FLOOR,
        }
    }

    async fn fetch(&self) -> Result<JwkSet, TokenError> {
        let bytes = match &self.source {
            JwksSource::File(path) => tokio::fs::read(path).await.map_err(|e| {
                tracing::error!(path = %path.display(), error = %e, "cannot read the JWKS");
                TokenError::KeysUnavailable
            })?,
            JwksSource::Url(url) => {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|_| TokenError::KeysUnavailable)?;
                let r = client.get(url).send().await.map_err(|e| {
                    tracing::error!(%url, error = %e, "cannot fetch the JWKS");
                    TokenError::KeysUnavailable
                })?;
                r.bytes()
                    .await
                    .map_err(|_| TokenError::KeysUnavailable)?
                    .to_vec()
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            tracing::error!(error = %e, "the JWKS is not a valid JWK set");
            TokenError::KeysUnavailable
        })
    }

    /// The key for `kid` (or the only key, when the token names none).
    async fn key(&self, kid: Option<&str>) -> Result<Jwk, TokenError> {
        let cached = self.cache.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let fresh = |at: Instant, ttl| at.elapsed() < ttl;
        if let Some((set, at)) = &cached
            && fresh(*at, JWKS_TTL)
        {
            if let Some(k) = pick(set, kid) {
                return Ok(k);
            }
            // Unknown kid: the issuer may have rotated; re-read, but not more often than the floor.
            if fresh(*at, self.refresh_floor) {
                return Err(TokenError::UnknownKid);
            }
        }
        let set = self.fetch().await?;
        let found = pick(&set, kid);
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some((set, Instant::now()));
        found.ok_or(TokenError::UnknownKid)
    }
}

fn pick(set: &JwkSet, kid: Option<&str>) -> Option<Jwk> {
    match kid {
        Some(kid) => set.find(kid).cloned(),
        None if set.keys.len() == 1 => set.keys.first().cloned(),
        None => None,
    }
}

/// A validated token's principal, scopes and a reference to it for the ledger.
#[derive(Debug, Clone)]
pub struct Validated {
    pub principal: Principal,
    pub scopes: Vec<String>,
}

/// The resource server: configuration plus the key cache.
#[derive(Debug)]
pub struct ResourceServer {
    pub config: OAuthConfig,
    jwks: Jwks,
}

impl ResourceServer {
    pub fn new(config: OAuthConfig) -> Self {
        let jwks = Jwks::from_config(&config);
        Self { config, jwks }
    }

    /// How often an unknown `kid` may trigger a re-read of the JWKS (default 10 s).
    pub fn with_refresh_floor(mut self, floor: Duration) -> Self {
        self.jwks.refresh_floor = floor;
        self
    }

    /// Validates a bearer JWT.
    pub async fn validate(&self, token: &str) -> Result<Validated, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        if !ALLOWED.contains(&header.alg) {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        let jwk = self.jwks.key(header.kid.as_deref()).await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| TokenError::KeysUnavailable)?;
        let mut v = Validation::new(header.alg);
        v.leeway = self.config.leeway_secs;
        v.validate_nbf = true;
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&[&self.config.resource]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = decode::<Value>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => TokenError::Expired,
                K::ImmatureSignature => TokenError::NotYetValid,
                K::InvalidAudience => TokenError::WrongAudience,
                K::InvalidIssuer => TokenError::WrongIssuer,
                K::InvalidSignature => TokenError::BadSignature,
                K::InvalidAlgorithm => TokenError::AlgorithmNotAllowed,
                K::MissingRequiredClaim(c) if c == "aud" => TokenError::WrongAudience,
                K::MissingRequiredClaim(c) if c == "iss" => TokenError::WrongIssuer,
                _ => TokenError::Malformed,
            }
        })?;
        let claims = data.claims;
        let scopes = scopes_of(&claims);
        if let Some(required) = &self.config.required_scope
            && !scopes.contains(required)
        {
            return Err(TokenError::MissingScope);
        }
        let name = claims
            .get(&self.config.principal_claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(TokenError::NoPrincipal)?;
        // Claims are the issuer's, but their length is the caller's to choose: capped here, once,
        // so that the principal the policy sees is the one the ledger records.
        let name = bounded::owned(name);
        let roles = match claims.get(&self.config.roles_claim) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|r| r.as_str().map(bounded::owned))
                .collect(),
            Some(Value::String(s)) => s.split_whitespace().map(bounded::owned).collect(),
            _ => Vec::new(),
        };
        // At most MAX_NAMES roles, each capped: the roles the policy decides with are exactly the
        // ones the ledger records.
        let roles: Vec<String> = roles.into_iter().take(bounded::MAX_NAMES).collect();
        let token_ref = claims
            .get("jti")
            .and_then(Value::as_str)
            .map(|j| format!("jti:{}", bounded::string(j)))
            .unwrap_or_else(|| format!("fp:{}", crate::apikeys::token_fingerprint(token)));
        Ok(Validated {
            principal: Principal {
                name,
                roles,
                auth: AuthMethod::OAuth {
                    issuer: self.config.issuer.clone(),
                    token: token_ref,
                    email: claims
                        .get("email")
                        .and_then(Value::as_str)
                        .map(bounded::owned),
                    display_name: claims
                        .get("name")
                        .and_then(Value::as_str)
                        .map(bounded::owned),
                },
            },
            scopes,
        })
    }

    /// The scope a tool needs, if any (first matching glob).
    pub fn tool_scope(&self, tool: &str) -> Option<&str> {
        self.config
            .tool_scopes
            .iter()
            .find(|(glob, _)| glob_match(glob, tool))
            .map(|(_, scope)| scope.as_str())
    }

    /// RFC 9728 metadata for `/.well-known/oauth-protected-resource`.
    pub fn metadata(&self) -> Value {
        let servers = if self.config.authorization_servers.is_empty() {
            vec![self.config.issuer.clone()]
        } else {
            self.config.authorization_servers.clone()
        };
        let mut scopes: Vec<&str> = self
            .config
            .required_scope
            .iter()
            .map(String::as_str)
            .collect();
        for s in self.config.tool_scopes.values() {
            if !scopes.contains(&s.as_str()) {
                scopes.push(s);
            }
        }
        json!({
            "resource": self.config.resource,
            "authorization_servers": servers,
            "bearer_methods_supported": ["header"],
            "scopes_supported": scopes,
            "resource_name": "auditgate",
        })
    }

    /// The metadata URL a challenge names: the resource's origin + the well-known path.
    pub fn metadata_url(&self) -> String {
        let resource = self.config.resource.trim_end_matches('/');
        let origin_end = resource
            .find("://")
            .and_then(|i| resource[i + 3..].find('/').map(|j| i + 3 + j))
            .unwrap_or(resource.len());
        let (origin, path) = resource.split_at(origin_end);
        format!("{origin}/.well-known/oauth-protected-resource{path}")
    }
}

/// The `scope` (space-separated) or `scp` (array or string) claim.
fn scopes_of(claims: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => out.extend(s.split_whitespace().map(str::to_string)),
            Some(Value::Array(a)) => {
                out.extend(a.iter().filter_map(|v| v.as_str().map(str::to_string)))
            }
            _ => {}
        }
    }
    out
}

/// `*` matches any run of characters; everything else literally.
pub fn glob_match(glob: &str, text: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    if parts.len() == 1 {
        return glob == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Scopes per tool, for tests and the metadata.
pub type ToolScopes = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("invoices_*", "invoices_refund"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("invoices_*", "customers_get"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }

    fn config(jwks_file: std::path::PathBuf) -> OAuthConfig {
        OAuthConfig {
            resource: "https://gw.example.com/mcp".into(),
            issuer: "https://idp.example.com".into(),
            authorization_servers: vec![],
            jwks_file: Some(jwks_file),
            jwks_url: None,
            roles_claim: "roles".into(),
            principal_claim: "sub".into(),
            required_scope: None,
            tool_scopes: BTreeMap::new(),
            leeway_secs: 30,
            operator_role: None,
        }
    }

    /// A new key at the issuer is picked up when a token names it (key rotation).
    #[tokio::test]
    async fn an_unknown_kid_rereads_the_jwks() {
        use base64::Engine as _;
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jwks.json");
        let jwk = |kid: &str, key: &ed25519_dalek::SigningKey| {
            let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(key.verifying_key().as_bytes());
            json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": x})
        };
        let old = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let new = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
        std::fs::write(&path, json!({"keys": [jwk("old", &old)]}).to_string()).expect("write");
        let rs = ResourceServer::new(config(path.clone())).with_refresh_floor(Duration::ZERO);
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            + 600;
        let claims = json!({"iss": "https://idp.example.com", "aud": "https://gw.example.com/mcp",
                            "sub": "dana", "exp": exp});
        let sign = |kid: &str, key: &ed25519_dalek::SigningKey| {
            let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
            header.kid = Some(kid.into());
            let der = key.to_pkcs8_der().expect("pkcs8");
            jsonwebtoken::encode(
                &header,
                &claims,
                &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
            )
            .expect("sign")
        };
        assert!(rs.validate(&sign("old", &old)).await.is_ok());
        assert_eq!(
            rs.validate(&sign("new", &new)).await.unwrap_err(),
            TokenError::UnknownKid
        );
        // The issuer rotates: the next token naming the new kid re-reads the set.
        std::fs::write(
            &path,
            json!({"keys": [jwk("old", &old), jwk("new", &new)]}).to_string(),
        )
        .expect("write");
        let ok = rs.validate(&sign("new", &new)).await.expect("rotated key");
        assert_eq!(ok.principal.name, "dana");
    }

    #[test]
    fn metadata_url_keeps_the_resource_path() {
        let rs = ResourceServer::new(config("jwks.json".into()));
        assert_eq!(
            rs.metadata_url(),
            "https://gw.example.com/.well-known/oauth-protected-resource/mcp"
        );
    }
}

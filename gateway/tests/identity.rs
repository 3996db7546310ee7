//! Identity and access over HTTP: OAuth 2.1 JWT bearer tokens (RS256 and EdDSA keys generated
//! here, served as a JWKS file) — valid, expired, not yet valid, wrong audience, wrong issuer,
//! unknown kid, bad signature, `alg: none` — the protected resource metadata and challenges, the
//! 403 scope step-up, expired API keys, rate limits, and Convex's `ctx.auth` seeing each caller.
//! Every refusal is recorded, never the token.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use auditgate::apikeys::KeyStore;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};
use support::gateway::{GatewayDir, Mcp, RunningGateway, text};

const ISSUER: &str = "https://idp.test";
const RESOURCE: &str = "https://gateway.test/mcp";

struct Keys {
    rsa: EncodingKey,
    ed: EncodingKey,
    other_rsa: EncodingKey,
    jwks: Value,
}

fn keys() -> Keys {
    let mut rng = rsa::rand_core::OsRng;
    let rsa_key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let other = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    let ed = ed25519_dalek::SigningKey::from_bytes(&seed);
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let public = rsa_key.to_public_key();
    Keys {
        rsa: EncodingKey::from_rsa_der(rsa_key.to_pkcs1_der().unwrap().as_bytes()),
        other_rsa: EncodingKey::from_rsa_der(other.to_pkcs1_der().unwrap().as_bytes()),
        ed: EncodingKey::from_ed_der(ed.to_pkcs8_der().unwrap().as_bytes()),
        jwks: json!({"keys": [
            {"kty": "RSA", "kid": "rsa1", "alg": "RS256", "use": "sig",
             "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())},
            {"kty": "OKP", "kid": "ed1", "alg": "EdDSA", "use": "sig", "crv": "Ed25519",
             "x": b64(ed.verifying_key().as_bytes())},
        ]}),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(sub: &str, roles: &[&str], scope: &str) -> Value {
    json!({"iss": ISSUER, "aud": RESOURCE, "sub": sub, "roles": roles, "scope": scope,
           "exp": now() + 600, "iat": now(), "jti": format!("jti-{sub}-{}", now())})
}

fn jwt(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    encode(&header, claims, key).unwrap()
}

fn oauth_dir(upstream: &str, keys: &Keys, extra: &str) -> GatewayDir {
    let config = format!(
        "\n[oauth]\nresource = \"{RESOURCE}\"\nissuer = \"{ISSUER}\"\njwks_file = \"jwks.json\"\n\
         required_scope = \"mcp\"\n\n[oauth.tool_scopes]\n\"invoices_refund\" = \"billing:refund\"\n{extra}"
    );
    let dir = GatewayDir::with_extra(upstream, &config);
    std::fs::write(dir.path().join("jwks.json"), keys.jwks.to_string()).unwrap();
    dir
}

fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_validation_every_refusal_recorded() {
    let keys = keys();
    // Catalog from the committed spec: nothing here reaches Convex.
    let dir = offline_oauth_dir(&keys, "");
    let gw = RunningGateway::start(&dir).await;

    let good = claims("dana", &["finance"], "mcp");
    for (alg, kid, key) in [
        (Algorithm::RS256, "rsa1", &keys.rsa),
        (Algorithm::EdDSA, "ed1", &keys.ed),
    ] {
        let mut c = Mcp::new(&gw.url, Some(jwt(alg, kid, key, &good)));
        let v = c.initialize().await;
        assert_eq!(v["result"]["protocolVersion"], "2025-06-18", "{alg:?}");
        assert!(
            c.tool_names()
                .await
                .contains(&"invoices_refund".to_string())
        );
    }

    let mut expired = good.clone();
    expired["exp"] = json!(now() - 3600);
    let mut early = good.clone();
    early["nbf"] = json!(now() + 3600);
    let mut aud = good.clone();
    aud["aud"] = json!("https://other.test/mcp");
    let mut iss = good.clone();
    iss["iss"] = json!("https://evil-idp.test");
    let mut no_scope = good.clone();
    no_scope["scope"] = json!("profile");
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let cases = [
        (
            jwt(Algorithm::RS256, "rsa1", &keys.rsa, &expired),
            "expired",
        ),
        (
            jwt(Algorithm::RS256, "rsa1", &keys.rsa, &early),
            "not_yet_valid",
        ),
        (
            jwt(Algorithm::EdDSA, "ed1", &keys.ed, &aud),
            "wrong_audience",
        ),
        (
            jwt(Algorithm::RS256, "rsa1", &keys.rsa, &iss),
            "wrong_issuer",
        ),
        (
            jwt(Algorithm::RS256, "rsa9", &keys.rsa, &good),
            "unknown_kid",
        ),
        (
            jwt(Algorithm::RS256, "rsa1", &keys.other_rsa, &good),
            "bad_signature",
        ),
        (
            jwt(Algorithm::RS256, "rsa1", &keys.rsa, &no_scope),
            "insufficient_scope",
        ),
        (none.clone(), "malformed"),
    ];
    let http = reqwest::Client::new();
    for (token, reason) in &cases {
        let r = Mcp::new(&gw.url, Some(token.clone()))
            .post()
            .json(&initialize_body())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{reason}");
        let challenge = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            challenge.contains("resource_metadata=\"https://gateway.test/.well-known/oauth-protected-resource/mcp\""),
            "{challenge}"
        );
        assert!(challenge.contains("scope=\"mcp\""), "{challenge}");
        let entries = dir.entries();
        let last = entries
            .iter()
            .rev()
            .find(|e| e["kind"] == "auth.refused")
            .unwrap();
        assert_eq!(last["reason"], *reason, "{last}");
        assert!(last["token_fp"].is_string());
    }
    // No token at all: the challenge still points at the metadata.
    let r = http
        .post(&gw.url)
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("resource_metadata")
    );
    // RFC 9728 metadata.
    let meta: Value = http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            gw.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["resource"], RESOURCE);
    assert_eq!(meta["authorization_servers"], json!([ISSUER]));
    assert!(
        meta["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("billing:refund"))
    );

    // Scope step-up: a valid token without billing:refund gets 403 insufficient_scope.
    let mut c = Mcp::new(
        &gw.url,
        Some(jwt(Algorithm::RS256, "rsa1", &keys.rsa, &good)),
    );
    c.initialize().await;
    let r = c
        .post()
        .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                      "params": {"name": "invoices_refund", "arguments": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"billing:refund\""),
        "{challenge}"
    );

    // A session is bound to its subject: another subject's token gets 404.
    let other = jwt(
        Algorithm::EdDSA,
        "ed1",
        &keys.ed,
        &claims("erin", &["finance"], "mcp"),
    );
    let r = Mcp::new(&gw.url, Some(other))
        .post()
        .header("mcp-session-id", c.session.as_ref().unwrap())
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    gw.stop().await;
    let entries = dir.entries();
    let stepped = entries
        .iter()
        .find(|e| e["reason"] == "insufficient_scope" && e["kind"] == "request.refused");
    assert!(stepped.is_some());
    let opened: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "session.open")
        .collect();
    assert_eq!(opened[0]["auth"], "oauth");
    assert_eq!(opened[0]["issuer"], ISSUER);
    assert!(opened[0]["token"].as_str().unwrap().starts_with("jti:"));
    let ledger = entries.iter().map(Value::to_string).collect::<String>();
    for (token, _) in &cases {
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            signature.is_empty() || !ledger.contains(signature),
            "a token reached the ledger"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctx_auth_sees_each_caller_and_rate_limits_apply() {
    let app = app_or_skip!();
    let keys = keys();
    let dir = oauth_dir(
        &app.url,
        &keys,
        "\n[rate_limits.per_tool]\n\"customers_listMine\" = { rate = 0.2, burst = 2 }\n",
    );
    let gw = RunningGateway::start(&dir).await;
    // alice by API key, bob by an OAuth token: Convex's ctx.auth sees each one's own rows.
    let mut alice = Mcp::new(&gw.url, Some(dir.token("alice")));
    alice.initialize().await;
    let bob_token = jwt(
        Algorithm::EdDSA,
        "ed1",
        &keys.ed,
        &claims("bob", &["analyst"], "mcp"),
    );
    let mut bob = Mcp::new(&gw.url, Some(bob_token));
    bob.initialize().await;
    let mine = |r: &Value| -> Vec<String> {
        serde_json::from_str::<Value>(text(r))
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let a = alice.call("customers_listMine", json!({})).await;
    assert_eq!(mine(&a), ["Alice Ltd"], "{a}");
    let b = bob.call("customers_listMine", json!({})).await;
    assert_eq!(mine(&b), ["Bob GmbH"], "{b}");
    let calls = app.calls().await;
    let callers: Vec<&str> = calls
        .iter()
        .rev()
        .take(2)
        .map(|c| c["caller"].as_str().unwrap())
        .collect();
    assert_eq!(callers, ["admin-as:bob", "admin-as:alice"]);
    // Roles from the token decide the listing: bob (analyst) sees no refunds.
    assert!(
        !bob.tool_names()
            .await
            .contains(&"invoices_refund".to_string())
    );

    // Rate limit: burst of 2 per principal and tool, then a clear refusal, recorded.
    alice.call("customers_listMine", json!({})).await;
    let limited = alice.call("customers_listMine", json!({})).await;
    assert_eq!(limited["isError"], true);
    assert!(text(&limited).starts_with("Rate limited"), "{limited}");
    let before = app.calls().await.len();
    let again = alice.call("customers_listMine", json!({})).await;
    assert_eq!(again["isError"], true);
    assert_eq!(
        app.calls().await.len(),
        before,
        "a limited call never reaches Convex"
    );

    // An expired API key is refused at once (as is a revoked one: see http_protocol.rs).
    let store = KeyStore::new(dir.path().join("api-keys.json"));
    let (old, _) = store
        .create(
            "old-bot",
            &["analyst".into()],
            Some("2020-01-01T00:00:00.000000000Z".into()),
            "2019-01-01T00:00:00.000000000Z",
        )
        .unwrap();
    let r = Mcp::new(&gw.url, Some(old))
        .post()
        .json(&initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    gw.stop().await;
    dir.verify();
    let entries = dir.entries();
    let limited: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "rate.limited")
        .collect();
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[0]["principal"], "alice");
    assert_eq!(limited[0]["scope"], "tool");
    let refused = entries
        .iter()
        .rev()
        .find(|e| e["kind"] == "auth.refused")
        .unwrap();
    assert_eq!(refused["reason"], "expired");
}

/// An OAuth gateway folder whose catalog is the committed spec and whose upstream is
/// unreachable.
fn offline_oauth_dir(keys: &Keys, extra: &str) -> GatewayDir {
    let spec = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/function-spec.json");
    let dir = oauth_dir("http://127.0.0.1:9", keys, extra);
    // The folder already has a `[catalog]` table (the test support's `poll_interval = "off"`).
    let config = std::fs::read_to_string(dir.config_path()).unwrap();
    assert!(config.contains("\n[catalog]\n"), "{config}");
    let config = config.replacen(
        "\n[catalog]\n",
        &format!(
            "\n[catalog]\nspec_file = {:?}\n",
            spec.display().to_string()
        ),
        1,
    );
    std::fs::write(dir.config_path(), config).unwrap();
    dir
}

fn sign(keys: &Keys, sub: &str, roles: &[&str], scope: &str) -> String {
    jwt(
        Algorithm::EdDSA,
        "ed1",
        &keys.ed,
        &claims(sub, roles, scope),
    )
}

/// Finding 4 (medium): a session opened with a JWT carrying `roles: [finance]` kept those roles:
/// a refund sent with a JWT carrying `roles: [analyst]` on the same session was forwarded under
/// `small-refund` and recorded with roles `[finance]`. Each request is now decided with the roles
/// of the token it carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_04_each_request_is_decided_with_the_roles_of_its_own_token() {
    let keys = keys();
    let dir = offline_oauth_dir(&keys, "");
    let (child, url) = support::gateway::spawn_http(&dir);
    let scope = "mcp billing:refund";
    let mut dana = Mcp::new(&url, Some(sign(&keys, "dana", &["finance"], scope)));
    dana.initialize().await;
    dana.token = Some(sign(&keys, "dana", &["analyst"], scope));
    let r = dana
        .call(
            "invoices_refund",
            json!({"invoiceId": "x", "amountCents": 500, "reason": "r"}),
        )
        .await;
    assert!(text(&r).starts_with("Blocked by policy"), "{r}");
    support::gateway::terminate(child);
    let entries = dir.entries();
    let call = entries
        .iter()
        .find(|e| e["kind"] == "call.request")
        .unwrap();
    assert_eq!(call["roles"], json!(["analyst"]));
    assert_eq!(call["auth"], "oauth");
    assert_eq!(call["disposition"], "blocked");
    let open = entries
        .iter()
        .find(|e| e["kind"] == "session.open")
        .unwrap();
    assert_eq!(open["roles"], json!(["finance"]));
}

/// Finding 6 (low): a JWT whose roles claim said `admin` opened `/admin/approvals`, though
/// docs/approvals.md says the operator API needs an API key with the admin role. An OAuth role
/// grants it only when `[oauth] operator_role` names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_06_a_token_claiming_admin_is_not_an_operator_unless_mapped() {
    let keys = keys();
    let dir = offline_oauth_dir(&keys, "");
    let (child, url) = support::gateway::spawn_http(&dir);
    let admin = url.trim_end_matches("/mcp").to_string() + "/admin/approvals";
    let http = reqwest::Client::new();
    let get = |token: String| http.get(&admin).bearer_auth(token).send();
    let claimed = get(sign(&keys, "mallory", &["admin"], "mcp"))
        .await
        .unwrap();
    assert_eq!(claimed.status(), StatusCode::FORBIDDEN);
    let key = get(dir.token("ops")).await.unwrap();
    assert_eq!(key.status(), StatusCode::OK);
    support::gateway::terminate(child);
    let entries = dir.entries();
    let refused: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "request.refused")
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["reason"], "not_admin");
    assert_eq!(refused[0]["principal"], "mallory");

    let dir = offline_oauth_dir(&keys, "operator_role = \"auditgate-operator\"\n");
    // `extra` lands after [oauth.tool_scopes]: move the key into [oauth].
    let config = std::fs::read_to_string(dir.config_path())
        .unwrap()
        .replace("operator_role = \"auditgate-operator\"\n", "")
        .replace(
            "required_scope = \"mcp\"\n",
            "required_scope = \"mcp\"\noperator_role = \"auditgate-operator\"\n",
        );
    std::fs::write(dir.config_path(), config).unwrap();
    let (child, url) = support::gateway::spawn_http(&dir);
    let admin = url.trim_end_matches("/mcp").to_string() + "/admin/approvals";
    let get = |token: String| http.get(&admin).bearer_auth(token).send();
    let mapped = get(sign(&keys, "olga", &["auditgate-operator"], "mcp"))
        .await
        .unwrap();
    assert_eq!(mapped.status(), StatusCode::OK);
    let claimed = get(sign(&keys, "mallory", &["admin"], "mcp"))
        .await
        .unwrap();
    assert_eq!(claimed.status(), StatusCode::FORBIDDEN);
    support::gateway::terminate(child);
}

/// Finding 7 (low): API-key principals and OAuth subjects shared one name space: a JWT with
/// `sub: eve` matched rules and rate-limit buckets written for the API-key principal eve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_07_an_oauth_subject_is_not_the_api_key_principal_of_the_same_name() {
    let keys = keys();
    let dir = offline_oauth_dir(
        &keys,
        "\n[rate_limits]\nper_principal = { rate = 0.01, burst = 1 }\n",
    );
    // A rule for the API-key principal eve (a bare name: API keys and stdio only).
    let policy = dir.path().join("policy.toml");
    let text_before = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        format!(
            "{text_before}\n[[rules]]\nid = \"eve-echo\"\nmatch.principals = [\"eve\"]\n\
             match.tool = [\"diagnostics_echo\"]\ntier = \"allow\"\n"
        ),
    )
    .unwrap();
    let store = KeyStore::new(dir.path().join("api-keys.json"));
    let (eve_key, _) = store
        .create("eve", &[], None, support::gateway::NOW)
        .unwrap();
    let (child, url) = support::gateway::spawn_http(&dir);
    let mut by_key = Mcp::new(&url, Some(eve_key));
    by_key.initialize().await;
    let first = by_key.call("diagnostics_echo", json!({"value": 1})).await;
    assert!(!text(&first).starts_with("Blocked"), "{first}");
    let second = by_key.call("diagnostics_echo", json!({"value": 1})).await;
    assert!(text(&second).starts_with("Rate limited"), "{second}");
    // The OAuth subject eve has its own bucket, and the rule for the key principal eve is not
    // its rule.
    let mut by_token = Mcp::new(&url, Some(sign(&keys, "eve", &[], "mcp")));
    by_token.initialize().await;
    let r = by_token.call("diagnostics_echo", json!({"value": 1})).await;
    assert!(text(&r).starts_with("Blocked by policy"), "{r}");
    support::gateway::terminate(child);
    let entries = dir.entries();
    let requests: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "call.request")
        .collect();
    assert_eq!(requests.len(), 2, "the rate-limited call is never decided");
    assert_eq!(requests[0]["auth"], "api_key");
    assert_eq!(requests[0]["decision"]["rule"], "eve-echo");
    assert_eq!(requests[1]["auth"], "oauth");
    assert_eq!(requests[1]["disposition"], "blocked");
}

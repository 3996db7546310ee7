//! Test support: a gateway folder (config, policy, keys, API keys) pointed at the Convex test
//! app, an in-process HTTP gateway on a random port, a raw MCP-over-HTTP client, and the ledger's
//! entries read back from its files.
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use auditgate::apikeys::KeyStore;
use auditgate::config::Config;
use auditgate::server::{Gateway, http};
use auditgate_ledger::{Ledger, SigningKey, VerifierKey, VerifyOptions, verify};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::ADMIN_KEY;

pub const POLICY: &str = "../examples/billing/policy.toml";
pub const NOW: &str = "2026-01-01T00:00:00.000000000Z";

/// A gateway's folder: `auditgate.toml`, keys, API keys for `alice` (finance), `carol`
/// (analyst), `mallory` (revoked) and `ops` (admin); approver keys in `approvers/<name>.key` for
/// `dana` and `erin` (finance leads), `alice` (a finance lead too, to test four eyes) and
/// `frank` (registered, analyst only), and `mallory` (never registered). The billing policy's
/// approval timeout is [`APPROVAL_TIMEOUT`] unless the folder is made with another.
pub struct GatewayDir {
    pub dir: tempfile::TempDir,
    pub tokens: BTreeMap<&'static str, String>,
    pub verifier_key: VerifierKey,
}

pub const APPROVAL_TIMEOUT: &str = "2s";

impl GatewayDir {
    pub fn new(upstream_url: &str) -> Self {
        Self::with_extra(upstream_url, "")
    }

    /// A gateway whose catalog comes from the committed function spec and whose upstream is
    /// unreachable: for tests where nothing may reach Convex.
    pub fn offline(extra: &str) -> Self {
        let spec =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/function-spec.json");
        Self::with_extra(
            "http://127.0.0.1:9",
            &format!("\n[catalog]\nspec_file = \"{}\"\n{extra}", spec.display()),
        )
    }

    /// `extra` is appended to the config (e.g. a `[server]` table).
    pub fn with_extra(upstream_url: &str, extra: &str) -> Self {
        Self::with_timeout(upstream_url, extra, APPROVAL_TIMEOUT)
    }

    /// [`GatewayDir::with_extra`] with the policy's approval timeout set to `timeout`.
    pub fn with_timeout(upstream_url: &str, extra: &str, timeout: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(POLICY);
        let policy = root.join("policy.toml");
        let text = std::fs::read_to_string(&source)
            .unwrap()
            .replace("timeout = \"30m\"", &format!("timeout = \"{timeout}\""));
        std::fs::write(&policy, text).unwrap();
        std::fs::create_dir_all(root.join("approvers")).unwrap();
        let mut approvers = String::new();
        for (name, roles, registered) in [
            ("dana", "finance-lead", true),
            ("erin", "finance-lead", true),
            ("alice", "finance-lead", true),
            ("frank", "analyst", true),
            ("mallory", "finance-lead", false),
        ] {
            let key = SigningKey::generate(name).unwrap();
            key.save_new(&root.join(format!("approvers/{name}.key")))
                .unwrap();
            if registered {
                approvers.push_str(&format!(
                    "\n[[approvers]]\nname = \"{name}\"\nkey = \"{}\"\nroles = [\"{roles}\"]\n",
                    key.verifier_key()
                ));
            }
        }
        // No background poll of the function spec unless a test asks for one (live_reload.rs):
        // a poll is an upstream call, and tests count the calls the app received.
        let extra = if extra.contains("[catalog]") {
            extra.to_string()
        } else {
            format!("{extra}\n[catalog]\npoll_interval = \"off\"\n")
        };
        write_secret(&root.join("deploy.key"), ADMIN_KEY);
        std::fs::create_dir_all(root.join("keys")).unwrap();
        let key = SigningKey::generate("test-gateway").unwrap();
        key.save_new(&root.join("keys/ledger.key")).unwrap();
        write_secret(&root.join("keys/commit.key"), &"ab".repeat(32));
        std::fs::write(
            root.join("auditgate.toml"),
            format!(
                "[convex]\nurl = \"{upstream_url}\"\ndeploy_key_file = \"deploy.key\"\n\
                 timeout_ms = 5000\n\n[policy]\nfile = \"{}\"\n\n\
                 [stdio]\nprincipal = \"local-analyst\"\nroles = [\"analyst\"]\n\
                 token_env = \"AUDITGATE_TOKEN\"\n{extra}\n{approvers}",
                policy.display()
            ),
        )
        .unwrap();
        let store = KeyStore::new(root.join("api-keys.json"));
        let mut tokens = BTreeMap::new();
        for (who, roles) in [
            ("alice", "finance"),
            ("carol", "analyst"),
            ("mallory", "finance"),
            ("ops", "admin"),
        ] {
            let (token, key) = store.create(who, &[roles.into()], None, NOW).unwrap();
            if who == "mallory" {
                store.revoke(&key.id, NOW).unwrap();
            }
            tokens.insert(who, token);
        }
        Self {
            verifier_key: key.verifier_key(),
            dir,
            tokens,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("auditgate.toml")
    }

    pub fn config(&self) -> Config {
        Config::load(&self.config_path()).unwrap()
    }

    pub fn ledger_dir(&self) -> PathBuf {
        self.path().join("ledger")
    }

    pub fn token(&self, who: &str) -> String {
        self.tokens[who].clone()
    }

    /// Every entry, parsed, read from the segment files (no signature check: see `verify`).
    pub fn entries(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let options = VerifyOptions {
            check_signatures: false,
            ..VerifyOptions::default()
        };
        verify::verify_dir_visiting(&self.ledger_dir(), Vec::new(), None, options, &mut |v| {
            out.push(serde_json::from_slice(v.bytes).unwrap());
        })
        .unwrap();
        out
    }

    /// Full verification with the gateway's public key.
    pub fn verify(&self) -> auditgate_ledger::Report {
        auditgate_ledger::verify_dir(
            &self.ledger_dir(),
            vec![self.verifier_key.clone()],
            None,
            VerifyOptions::default(),
        )
        .unwrap()
    }
}

/// With `AUDITGATE_KEEP_LEDGERS=DIR`, every test ledger is copied to `DIR/<n>/` with its public
/// key when the test ends, so `scripts/test` can check them with the `auditgate-verify` binary.
impl Drop for GatewayDir {
    fn drop(&mut self) {
        let Some(keep) = std::env::var_os("AUDITGATE_KEEP_LEDGERS") else {
            return;
        };
        let ledger = self.ledger_dir();
        if !ledger.join("segments").is_dir() {
            return;
        }
        // Temp dirs are named `.tmpXXXX`; drop the dot so shell globs see the copies.
        let name = self.dir.path().file_name().unwrap().to_string_lossy();
        let out = PathBuf::from(keep).join(name.trim_start_matches('.'));
        let _ = std::fs::create_dir_all(out.join("segments"));
        for f in std::fs::read_dir(ledger.join("segments"))
            .unwrap()
            .flatten()
        {
            let _ = std::fs::copy(f.path(), out.join("segments").join(f.file_name()));
        }
        let _ = std::fs::write(out.join("ledger.pub"), format!("{}\n", self.verifier_key));
    }
}

pub fn write_secret(path: &Path, text: &str) {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// An in-process gateway serving HTTP on 127.0.0.1:<random>.
pub struct RunningGateway {
    pub url: String,
    pub base: String,
    pub gateway: Arc<Gateway>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningGateway {
    pub async fn start(dir: &GatewayDir) -> Self {
        let gateway = Gateway::build(dir.config()).await.unwrap();
        Self::serve(gateway).await
    }

    pub async fn start_on(dir: &GatewayDir, ledger: Ledger) -> Self {
        let gateway = Gateway::build_on(dir.config(), ledger).await.unwrap();
        Self::serve(gateway).await
    }

    async fn serve(gateway: Gateway) -> Self {
        let gateway = Arc::new(gateway);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(http::serve(gateway.clone(), listener, async {
            let _ = rx.await;
        }));
        // `serve` records the start before accepting; wait until it answers.
        let base = format!("http://{addr}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Self {
            url: format!("{base}/mcp"),
            base,
            gateway,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Graceful shutdown: sessions closed, `gateway.stop` recorded, the ledger closed.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// A raw MCP Streamable HTTP client (what a real client sends, byte for byte checkable).
pub struct Mcp {
    pub http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
    pub session: Option<String>,
    pub version: String,
    next_id: i64,
}

impl Mcp {
    pub fn new(url: &str, token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: url.into(),
            token,
            session: None,
            version: "2025-06-18".into(),
            next_id: 1,
        }
    }

    /// A POST with the headers a conforming client sends.
    pub fn post(&self) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json");
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        if let Some(s) = &self.session {
            r = r
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", &self.version);
        }
        r
    }

    pub async fn initialize(&mut self) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": self.version, "capabilities": {},
            "clientInfo": {"name": "rust-test", "version": "1"}}});
        let r = self.post().json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "initialize");
        self.session = r
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_string());
        let v: Value = r.json().await.unwrap();
        let r = self
            .post()
            .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        v
    }

    /// Sends a request; returns the whole JSON-RPC response.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": self.next_id, "method": method,
                          "params": params});
        let r = self.post().json(&body).send().await.unwrap();
        read_reply(r).await
    }

    /// `tools/call`; returns the result (panics on a JSON-RPC error).
    pub async fn call(&mut self, name: &str, arguments: Value) -> Value {
        let v = self
            .request("tools/call", json!({"name": name, "arguments": arguments}))
            .await;
        assert!(v.get("error").is_none(), "{name}: {v}");
        v["result"].clone()
    }

    /// All tool names over every page.
    pub async fn tool_names(&mut self) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let v = self.request("tools/list", params).await;
            for t in v["result"]["tools"].as_array().unwrap() {
                names.push(t["name"].as_str().unwrap().to_string());
            }
            match v["result"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.into()),
                None => return names,
            }
        }
    }

    pub async fn delete(&self) -> reqwest::StatusCode {
        let mut r = self.http.delete(&self.url);
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        if let Some(s) = &self.session {
            r = r.header("mcp-session-id", s);
        }
        r.send().await.unwrap().status()
    }
}

/// The JSON-RPC response in an answer: the body, or for an SSE answer the last `data:` event
/// that is a response (progress notifications before it are skipped).
pub async fn read_reply(r: reqwest::Response) -> Value {
    let sse = r
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    if !sse {
        return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .rfind(|v| v.get("id").is_some())
        .unwrap_or_else(|| panic!("no response in the stream: {text}"))
}

/// The text of a `CallToolResult`'s first content block.
pub fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

/// The kinds of `entries`, in order.
pub fn kinds(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect()
}

/// `auditgate serve --http 127.0.0.1:0`; returns the child and its MCP URL.
pub fn spawn_http(dir: &GatewayDir) -> (Child, String) {
    spawn_http_with(dir, &[])
}

/// [`spawn_http`] with more `serve` arguments.
#[allow(
    clippy::zombie_processes,
    reason = "the caller terminates and waits for the child"
)]
pub fn spawn_http_with(dir: &GatewayDir, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(gateway_bin())
        .args(["serve", "--http", "127.0.0.1:0", "--config"])
        .arg(dir.config_path())
        .args(extra)
        .env("AUDITGATE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            let status = child.wait();
            panic!("the gateway exited before listening: {status:?}");
        }
        if let Some(url) = line.trim().strip_prefix("auditgate: listening on ") {
            let url = url.to_string();
            // Keep draining stderr so the gateway never blocks on a full pipe.
            std::thread::spawn(move || for _ in stderr.lines() {});
            return (child, url);
        }
    }
}

pub fn terminate(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "graceful shutdown exits 0");
}

/// The `auditgate` binary under test: this build's, or the one `AUDITGATE_BIN_UNDER_TEST` names
/// (to reproduce a finding against an older build before fixing it).
pub fn gateway_bin() -> PathBuf {
    std::env::var_os("AUDITGATE_BIN_UNDER_TEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_auditgate")))
}

/// The bytes the ledger's segment files hold.
pub fn ledger_bytes(dir: &GatewayDir) -> u64 {
    std::fs::read_dir(dir.ledger_dir().join("segments"))
        .map(|d| {
            d.flatten()
                .filter_map(|f| f.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Entries of `kind`.
pub fn of_kind<'a>(entries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["kind"] == kind).collect()
}

/// How many refusals of `kind` the ledger accounts for: one per entry, plus the summaries'
/// counts.
pub fn refusals_accounted(entries: &[Value], kind: &str) -> u64 {
    let own = of_kind(entries, kind).len() as u64;
    let summarized: u64 = of_kind(entries, "refusals.summary")
        .iter()
        .flat_map(|s| s["groups"].as_array().cloned().unwrap_or_default())
        .filter(|g| g["kind"] == kind)
        .map(|g| g["count"].as_u64().unwrap())
        .sum();
    own + summarized
}

/// Every byte of every file under `root` (a gateway folder, logs, a bundle), concatenated: what
/// privacy tests search for values that must not be there.
pub fn bytes_under(root: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(listing) = std::fs::read_dir(root) else {
        return out;
    };
    for item in listing.flatten() {
        let path = item.path();
        if path.is_dir() {
            out.extend(bytes_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
    out
}

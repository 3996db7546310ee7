//! Test support: starts the Convex test app (`tests/convex-app/server.mjs`) for one test.
//!
//! The one way tests reach the app: [`TestApp::start`] spawns `node server.mjs --port 0`, reads
//! the `{"port": N}` line and kills the child on drop. When the app's `node_modules` is missing
//! (run `npm ci --prefix tests/convex-app`), tests skip with a message instead of failing,
//! unless `AUDITGATE_REQUIRE_TEST_APP` is set (`scripts/test` sets it).
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub mod disk;
pub mod e2e;
pub mod gateway;

use auditgate::upstream::convex::{ClientOptions, ConvexClient, DeployKey};
use serde_json::{Value, json};

pub const ADMIN_KEY: &str = "test:auditgate-rust|0123456789abcdef";
pub const JWT_SECRET: &str = "rust-test-jwt-secret";

pub struct TestApp {
    child: Child,
    pub url: String,
    http: reqwest::Client,
}

fn app_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/convex-app")
}

impl TestApp {
    /// Starts the app, or returns `None` (after saying why) when its dependencies are missing.
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// Starts the app on Convex Cloud's Starter plan: streaming export answers 403
    /// `StreamingExportNotEnabled` (`CONVEX_TEST_PLAN=starter`).
    pub fn start_starter() -> Option<Self> {
        Self::start_with(&[("CONVEX_TEST_PLAN", "starter")])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Option<Self> {
        let dir = app_dir();
        if !dir.join("node_modules/convex-test").is_dir() {
            // The project's test command installs the app; there a skip would hide a broken
            // install step, so it is a failure.
            assert!(
                std::env::var_os("AUDITGATE_REQUIRE_TEST_APP").is_none(),
                "{} has no node_modules but AUDITGATE_REQUIRE_TEST_APP is set",
                dir.display()
            );
            eprintln!(
                "SKIPPED: {} has no node_modules; run `npm ci --prefix tests/convex-app`",
                dir.display()
            );
            return None;
        }
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("server.mjs"))
            .args(["--port", "0"])
            .env("CONVEX_TEST_ADMIN_KEY", ADMIN_KEY)
            .env("CONVEX_TEST_JWT_SECRET", JWT_SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn node");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read port line");
        let port = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["port"].as_u64())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("test app did not print its port; got {line:?}")
            });
        Some(Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        })
    }

    pub fn client(&self) -> ConvexClient {
        self.client_with(ClientOptions::default())
    }

    pub fn client_with(&self, options: ClientOptions) -> ConvexClient {
        let key = DeployKey::from_secret(ADMIN_KEY.into()).unwrap();
        ConvexClient::new(&self.url, key, options).unwrap()
    }

    pub fn client_with_key(&self, key: &str) -> ConvexClient {
        let key = DeployKey::from_secret(key.into()).unwrap();
        ConvexClient::new(&self.url, key, ClientOptions::default()).unwrap()
    }

    /// Stops the app's process (SIGSTOP): calls to it hang until [`TestApp::resume`], which
    /// widens the window between a forward and its result for crash tests.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} the test app");
    }

    /// `{customers: {alice, bob}, invoices: {alice, bob}}` ids of the seeded rows.
    pub async fn seed(&self) -> Value {
        self.get("/_test/seed").await
    }

    /// Every function call the app received, in order.
    pub async fn calls(&self) -> Vec<Value> {
        let v = self.get("/_test/calls").await;
        v["calls"].as_array().cloned().unwrap_or_default()
    }

    /// Requests the app received per `/api/*` path since start (or the last reset).
    pub async fn endpoint_hits(&self, path: &str) -> u64 {
        let v = self.get("/_test/endpoints").await;
        v["hits"][path].as_u64().unwrap_or(0)
    }

    /// Switches the deployment's plan (`"pro"` or `"starter"`).
    pub async fn set_plan(&self, plan: &str) {
        let v = self.post("/_test/plan", json!({"plan": plan})).await;
        assert_eq!(v["plan"], plan, "{v}");
    }

    /// The next `count` `/api/*` requests answer `status` with a request-error body.
    pub async fn inject_faults(&self, status: u16, count: u32) {
        self.post(
            "/_test/faults",
            json!({"status": status, "count": count, "code": "Overloaded"}),
        )
        .await;
    }

    /// Replaces the app's code with `convex/` plus `modules` (`{"name.ts": source}`) while it
    /// runs, like `npx convex deploy`: the function spec changes. Answers the new identifiers.
    pub async fn push(&self, modules: Value) -> Value {
        self.post("/_test/push", json!({ "modules": modules }))
            .await
    }

    /// An HS256 user token signed with the app's test secret.
    pub async fn token(&self, subject: &str) -> String {
        let v = self.post("/_test/token", json!({"sub": subject})).await;
        v["token"].as_str().unwrap().to_string()
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the app or returns from the test (skipping) when it cannot run here.
#[macro_export]
macro_rules! app_or_skip {
    () => {
        match support::TestApp::start() {
            Some(app) => app,
            None => return,
        }
    };
    ($env:expr) => {
        match support::TestApp::start_with($env) {
            Some(app) => app,
            None => return,
        }
    };
}

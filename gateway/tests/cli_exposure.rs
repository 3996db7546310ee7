//! The `auditgate` binary, black box: what other local users and the network can reach (issue
//! 16). Finding 10: the gateway folder and the ledger are owner-only whatever the umask, and a
//! ledger left readable by others is tightened on start. The bind rule: `serve` refuses a
//! non-loopback address unless `--insecure-bind` says the network path is otherwise protected,
//! and refuses before anything is written to the ledger.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::gateway::{GatewayDir, terminate};

const BIN: &str = env!("CARGO_BIN_EXE_auditgate");

fn bin() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("AUDITGATE_TOKEN").env("AUDITGATE_LOG", "warn");
    c
}

/// `auditgate <args>` started by a shell under `umask 000`, so nothing but the modes the binary
/// sets itself keeps a file from being world-readable.
fn under_umask_000(args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", "umask 000; exec \"$0\" \"$@\"", BIN])
        .args(args)
        .env_remove("AUDITGATE_TOKEN")
        .env("AUDITGATE_LOG", "warn");
    c
}

fn init_line() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "cli-test", "version": "1"}}})
    .to_string()
}

/// Runs `cmd` (a `serve --stdio`) with one `initialize` on stdin, then EOF.
fn stdio_session(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.as_mut().unwrap(), "{}", init_line()).unwrap();
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `cmd` (a `serve --http`), waits until it listens and returns it with what it wrote to
/// stderr until then.
#[allow(
    clippy::zombie_processes,
    reason = "the caller terminates and waits for the child"
)]
fn until_listening(mut cmd: Command) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            let status = child.wait();
            panic!("the gateway exited before listening: {status:?}\n{seen}");
        }
        seen.push_str(&line);
        if line.starts_with("auditgate: listening on ") {
            // Keep draining stderr so the gateway never blocks on a full pipe.
            std::thread::spawn(move || for _ in stderr.lines() {});
            return (child, seen);
        }
    }
}

/// Every path under `dir` (itself included), its mode and whether it is a folder; symbolic links
/// are not followed.
fn modes(dir: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            for e in std::fs::read_dir(&path).unwrap() {
                todo.push(e.unwrap().path());
            }
        }
        out.push((path, meta.permissions().mode() & 0o7777, meta.is_dir()));
    }
    out
}

/// Every folder under `dir` is 0700 and no file grants anything to group or others.
fn assert_private(dir: &Path) {
    let loose: Vec<String> = modes(dir)
        .into_iter()
        .filter(|&(_, mode, is_dir)| {
            if is_dir {
                mode != 0o700
            } else {
                mode & 0o077 != 0
            }
        })
        .map(|(p, mode, _)| format!("{} {mode:o}", p.display()))
        .collect();
    assert!(loose.is_empty(), "reachable by others: {loose:#?}");
}

#[test]
fn gateway_folder_is_private_whatever_the_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gw");
    let dir_arg = dir.to_str().unwrap();
    let out = under_umask_000(&[
        "init",
        "--dir",
        dir_arg,
        "--convex-url",
        "http://127.0.0.1:9",
        "--deploy-key-env",
        "AG_TEST_DEPLOY_KEY",
    ])
    .output()
    .unwrap();
    assert_ok(&out, "init");
    assert_private(&dir);

    // The catalog from the committed spec, so no deployment is needed (rewriting the file keeps
    // its mode).
    let config = dir.join("auditgate.toml");
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/function-spec.json");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "# spec_file = \"function-spec.json\"",
        &format!("spec_file = {:?}\n#", spec.display().to_string()),
    );
    std::fs::write(&config, text).unwrap();
    let config_arg = config.to_str().unwrap();

    let out = under_umask_000(&[
        "keys",
        "create",
        "--config",
        config_arg,
        "--principal",
        "ci-bot",
        "--roles",
        "analyst",
    ])
    .output()
    .unwrap();
    assert_ok(&out, "keys create");
    assert!(dir.join("api-keys.json").is_file());

    // A short stdio session creates the ledger; an HTTP run then opens it.
    let mut serve = under_umask_000(&["serve", "--stdio", "--config", config_arg]);
    serve.env("AG_TEST_DEPLOY_KEY", "dev:test|secret");
    assert_ok(&stdio_session(serve), "serve --stdio");
    let mut serve = under_umask_000(&["serve", "--http", "127.0.0.1:0", "--config", config_arg]);
    serve.env("AG_TEST_DEPLOY_KEY", "dev:test|secret");
    let (child, _) = until_listening(serve);
    terminate(child);

    let ledger = dir.join("ledger");
    assert!(ledger.join("segments").is_dir() && ledger.join("index").is_dir());
    assert_private(&dir);
}

#[test]
fn a_ledger_readable_by_others_is_made_private_on_start_with_a_warning() {
    let dir = GatewayDir::offline("");
    let serve = || {
        let mut c = bin();
        c.args(["serve", "--stdio", "--config"])
            .arg(dir.config_path());
        c
    };
    assert_ok(&stdio_session(serve()), "first serve");
    // As earlier versions left it: folders 0755, files 0644.
    let ledger = dir.ledger_dir();
    for (path, mode, is_dir) in modes(&ledger) {
        let loose = if is_dir { 0o755 } else { mode | 0o044 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
    }
    let out = stdio_session(serve());
    assert_ok(&out, "second serve");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("readable by group or others"),
        "no warning: {stderr}"
    );
    assert_private(&ledger);
    dir.verify();
}

/// Runs `cmd` to its end, or kills it after `limit` (a gateway that should have refused to start
/// but serves instead).
fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// The refusal `serve` must give for a non-loopback `addr`, with nothing written.
fn assert_refused(out: &Output, dir: &GatewayDir, addr: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{addr}: {stderr}");
    for why in [
        addr,
        "loopback",
        "plain HTTP",
        "in clear",
        "TLS",
        "--insecure-bind",
    ] {
        assert!(
            stderr.contains(why),
            "{addr}: the refusal lacks {why:?}: {stderr}"
        );
    }
    assert!(
        !dir.ledger_dir().exists(),
        "{addr}: the ledger was written before the refusal"
    );
}

/// Far longer than a refusal takes; a gateway still running then is serving.
const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn non_loopback_bind_needs_insecure_bind() {
    let dir = GatewayDir::offline("");
    for addr in [
        "0.0.0.0:0",
        "[::]:0",
        "192.0.2.1:8080",
        "gateway.example.invalid:8080",
    ] {
        let mut serve = bin();
        serve
            .args(["serve", "--http", addr, "--config"])
            .arg(dir.config_path());
        assert_refused(&output_within(serve, LIMIT), &dir, addr);
    }
    let mut serve = bin();
    serve
        .args(["serve", "--stdio", "--admin", "0.0.0.0:0", "--config"])
        .arg(dir.config_path());
    assert_refused(&output_within(serve, LIMIT), &dir, "0.0.0.0:0");

    // With the flag it serves, and says what it risks.
    let mut serve = bin();
    serve
        .args([
            "serve",
            "--http",
            "0.0.0.0:0",
            "--insecure-bind",
            "--config",
        ])
        .arg(dir.config_path());
    let (child, stderr) = until_listening(serve);
    terminate(child);
    assert!(
        stderr.contains("--insecure-bind") && stderr.contains("plain HTTP"),
        "no warning: {stderr}"
    );
    dir.verify();
}

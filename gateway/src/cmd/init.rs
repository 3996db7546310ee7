//! `auditgate init`: a working folder with a config, a policy template, the ledger signing key
//! and the commit key, and the next steps. Never overwrites anything. Whatever the umask, every
//! file it writes is 0600 and every folder it creates 0700: the config and policy say what the
//! gateway guards, and the ledger that grows beside them holds what agents sent and received.
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use auditgate_ledger::SigningKey;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to set up (created if missing).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The Convex deployment URL.
    #[arg(long, default_value = "https://your-deployment.convex.cloud")]
    convex_url: String,
    /// The environment variable that will hold the deploy key.
    #[arg(long, default_value = "CONVEX_DEPLOY_KEY")]
    deploy_key_env: String,
    /// The name of the ledger signing key (appears in checkpoints and the verifier key).
    #[arg(long, default_value = "auditgate")]
    key_name: String,
}

const POLICY_TEMPLATE: &str = include_str!("../../../policies/examples/write-ask.toml");

fn config_text(args: &Args) -> String {
    format!(
        r#"# auditgate configuration. Every key: docs/configuration.md; running it: docs/operations.md.
# Paths are relative to this file. Secrets are never written here: only where to read them.

[convex]
url = "{url}"
deploy_key_env = "{env}"      # the deploy key is read from this environment variable
identity = "caller"            # Convex functions see the MCP caller in ctx.auth

[catalog]
# spec_file = "function-spec.json"   # output of `npx convex function-spec`; omit to fetch live
data_tools = true

[policy]
file = "policy.toml"

[ledger]
dir = "ledger"
signing_key_file = "keys/ledger.key"
commit_key_file = "keys/commit.key"
# segment_size_mib = 64      # roll to a new segment file at this size (bounds the index's memory)
# full_scan_on_open = false  # re-check every segment on start (start time grows with the ledger)

[server]
# allowed_origins = ["https://agents.example.com"]   # localhost origins are always allowed
# header_timeout_secs = 10   # a request head must arrive within this (also idle keep-alive)
# body_timeout_secs = 30     # a request body must arrive within this after its head (408)
# max_connections = 1024     # open HTTP connections at most; accepting waits at the cap

[auth]
api_keys_file = "api-keys.json"   # managed by `auditgate keys`; holds hashes only

[stdio]
principal = "local-agent"
roles = ["analyst"]
token_env = "AUDITGATE_TOKEN"
"#,
        url = args.convex_url,
        env = args.deploy_key_env
    )
}

/// Creates `path` (mode 0600: a umask can only narrow it) with `bytes`, refusing to overwrite.
pub fn create_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| {
        format!(
            "creating {} (init never overwrites an existing file)",
            path.display()
        )
    })?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    let config = dir.join("auditgate.toml");
    let policy = dir.join("policy.toml");
    let keys = dir.join("keys");
    let ledger_key = keys.join("ledger.key");
    let commit_key = keys.join("commit.key");
    for p in [&config, &policy, &ledger_key, &commit_key] {
        if p.exists() {
            bail!(
                "{} exists; init never overwrites (remove it or choose another --dir)",
                p.display()
            );
        }
    }
    // Folders init creates are 0700 from the start; a `--dir` that exists keeps its mode.
    let mut folders = std::fs::DirBuilder::new();
    folders.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folders, 0o700);
    folders
        .create(&keys)
        .with_context(|| format!("creating {}", keys.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700))?;
    }
    let key = SigningKey::generate(&args.key_name)?;
    key.save_new(&ledger_key)?;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    create_new(&commit_key, format!("{}\n", hex::encode(secret)).as_bytes())?;
    create_new(&config, config_text(&args).as_bytes())?;
    create_new(&policy, POLICY_TEMPLATE.as_bytes())?;
    let public = dir.join("ledger.pub");
    create_new(&public, format!("{}\n", key.verifier_key()).as_bytes())?;
    println!(
        "Created in {dir}:
  auditgate.toml     the gateway config (edit [convex] url and deploy_key_env)
  policy.toml        a policy template (reads allowed, every write waits for approval)
  keys/ledger.key    the ledger signing key (0600; back it up, never share it)
  keys/commit.key    the key for redaction commitments (0600; keep it secret)
  ledger.pub         the public verifier key: give it to your auditors
  (every file is 0600 and every folder init created 0700: only you can read them)

Next steps:
  1. export {env}=...                      # your Convex deploy key (never in a file or argv)
  2. auditgate check-config --config {cfg}
  3. auditgate keys create --config {cfg} --principal my-agent --roles analyst
  4. auditgate serve --config {cfg} --http 127.0.0.1:8080   (or --stdio)
  5. auditgate client-config claude-code --config {cfg}
  6. auditgate-verify verify {ledger} --pubkey {pubkey}",
        dir = dir.display(),
        env = args.deploy_key_env,
        cfg = config.display(),
        ledger = dir.join("ledger").display(),
        pubkey = public.display(),
    );
    Ok(ExitCode::SUCCESS)
}

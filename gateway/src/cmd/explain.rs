//! `auditgate explain`: how the policy would decide one `tools/call`, step by step — the
//! arguments validated and normalized as the gateway does, every rule and why it matched or not,
//! the write ceiling, the redactions that would apply (paths and modes), the `tools/list` tier,
//! and the decision. Reads the config, the policy and the catalog (spec file or deployment, as
//! `auditgate tools` does); contacts nothing else and records nothing.
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use auditgate::config::Config;
use serde_json::Value;

use super::tools::{load_catalog, load_policy};

mod render;
mod trace;

use render::render;
use trace::trace;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The arguments are the caller's: with `--args -` they are read from \
    stdin, so that sensitive values need not appear in argv (visible to every user through ps) \
    or in the shell history. Values the policy protects are never printed.\n\n\
    Exit status: 0 when decided (whatever the tier, an unknown tool and invalid arguments \
    included: the gateway decides those too), 2 for usage and config errors."
)]
pub struct Args {
    /// The gateway config file.
    #[arg(long, short, default_value = "auditgate.toml")]
    config: PathBuf,
    /// The caller as the gateway names it: `key:NAME` (an API key's principal; the default name
    /// space when none is given), `oauth:SUBJECT`, `local:NAME` (stdio).
    #[arg(long)]
    principal: String,
    /// A role of the caller (repeatable).
    #[arg(long = "role")]
    roles: Vec<String>,
    /// The MCP tool name, as `tools/list` shows it.
    #[arg(long)]
    tool: String,
    /// The call's arguments: a JSON object, or `-` to read it from stdin.
    #[arg(long)]
    args: String,
    /// The policy file (default: `[policy] file` from the config).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// One JSON object (snake_case members) instead of text.
    #[arg(long)]
    json: bool,
}

/// Usage and config errors exit 2 (not the binary's usual 1): "could not decide".
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match explain(args) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("auditgate explain: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn explain(args: Args) -> anyhow::Result<()> {
    let call_args = read_args(&args.args)?;
    let config = Config::load(&args.config)?;
    let policy_path = args
        .policy
        .clone()
        .or_else(|| config.policy.as_ref().map(|p| p.file.clone()))
        .context("no policy: set [policy] file in the config or give --policy")?;
    let policy = load_policy(&policy_path)?;
    let catalog = load_catalog(&config)?;
    let principal = qualified(&args.principal);
    let trace = trace(
        &catalog,
        &policy,
        &principal,
        &args.roles,
        &args.tool,
        call_args,
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&trace)?);
    } else {
        print!("{}", render(&trace));
    }
    Ok(())
}

/// The arguments: JSON text, or stdin for `-`; an object, read as the gateway reads messages.
fn read_args(text: &str) -> anyhow::Result<Value> {
    let bytes = if text == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading --args from stdin")?;
        buf
    } else {
        text.as_bytes().to_vec()
    };
    let value = auditgate_ledger::json::parse_plain(&bytes)
        .map_err(|e| anyhow::anyhow!("--args is not valid JSON: {e}"))?;
    if !value.is_object() {
        bail!("--args must be a JSON object (the tools/call arguments)");
    }
    Ok(value)
}

/// A bare name is an API key's principal, as `match.principals` reads a bare entry.
fn qualified(principal: &str) -> String {
    if ["key:", "oauth:", "local:"]
        .iter()
        .any(|ns| principal.starts_with(ns))
    {
        principal.to_string()
    } else {
        format!("key:{principal}")
    }
}

//! `auditgate client-config claude-code|codex|claude-desktop`: the snippet each client reads to
//! start or reach this gateway. Tokens are referenced through the environment, never inlined.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use auditgate::config::Config;
use serde_json::json;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Client {
    ClaudeCode,
    Codex,
    ClaudeDesktop,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    client: Client,
    #[arg(long, short, default_value = "auditgate.toml")]
    config: PathBuf,
    /// Connect over HTTP to this gateway URL (e.g. http://127.0.0.1:8080/mcp) instead of
    /// launching `auditgate serve --stdio`.
    #[arg(long)]
    url: Option<String>,
    /// The server's name in the client.
    #[arg(long, default_value = "auditgate")]
    name: String,
    /// For stdio clients: the `serve --write` the client launches with (deny, ask or allow).
    /// `allow` keeps the policy's own ceilings; `--write` never raises them.
    #[arg(long, value_name = "MODE", default_value = "deny", value_parser = ["deny", "ask", "allow"])]
    write: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config_path = std::fs::canonicalize(&args.config)
        .with_context(|| format!("finding {}", args.config.display()))?;
    let config = Config::load(&config_path)?;
    let token_env = config
        .stdio
        .token_env
        .clone()
        .unwrap_or_else(|| "AUDITGATE_TOKEN".into());
    let exe = std::env::current_exe()?.display().to_string();
    let cfg = config_path.display().to_string();
    let write = format!("--write={}", args.write);
    let args_list = ["serve", "--stdio", "--config", cfg.as_str(), write.as_str()];
    let name = &args.name;
    let text = match (args.client, &args.url) {
        (Client::ClaudeCode, None) => json!({"mcpServers": {name: {
            "type": "stdio", "command": exe, "args": args_list,
            // Claude Code expands ${VAR} from its own environment: the token stays out of the file.
            "env": {token_env.as_str(): format!("${{{token_env}}}")}
        }}})
        .to_string(),
        (Client::ClaudeCode, Some(url)) => json!({"mcpServers": {name: {
            "type": "http", "url": url,
            "headers": {"Authorization": format!("Bearer ${{{token_env}}}")}
        }}})
        .to_string(),
        (Client::ClaudeDesktop, None) => json!({"mcpServers": {name: {
            "command": exe, "args": args_list
        }}})
        .to_string(),
        (Client::ClaudeDesktop, Some(_)) => bail!(
            "Claude Desktop's config file starts local (stdio) servers only; add a remote \
             server through its Connectors settings, or omit --url"
        ),
        (Client::Codex, None) => format!(
            "[mcp_servers.{name}]\ncommand = {exe:?}\nargs = {args:?}\n\
             # Codex passes these variables from its own environment to the server.\n\
             env_vars = [{token_env:?}]\n",
            args = args_list
        ),
        (Client::Codex, Some(url)) => {
            format!("[mcp_servers.{name}]\nurl = {url:?}\nbearer_token_env_var = {token_env:?}\n")
        }
    };
    let text = match args.client {
        Client::Codex => text,
        _ => {
            let value: serde_json::Value = serde_json::from_str(&text)?;
            serde_json::to_string_pretty(&value)?
        }
    };
    println!("{text}");
    let hint = match args.client {
        Client::ClaudeCode => "save as .mcp.json in your project (or `claude mcp add-json`)",
        Client::Codex => "append to ~/.codex/config.toml (Codex reads TOML, not JSON)",
        Client::ClaudeDesktop => {
            "merge into claude_desktop_config.json; the stdio principal comes from [stdio] in the config"
        }
    };
    eprintln!("# {hint}");
    Ok(ExitCode::SUCCESS)
}

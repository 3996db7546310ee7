//! The `auditgate` binary: a thin command-line layer over the `auditgate` library.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context as _;
use auditgate::catalog::{Catalog, CatalogOptions, spec::FunctionSpecFile};
use auditgate::config::Config;
use auditgate::listing::{list_for, render_human};
use auditgate::upstream::convex;
use clap::{Parser, Subcommand};

/// Audit-first MCP gateway in front of a Convex deployment.
#[derive(Debug, Parser)]
#[command(name = "auditgate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the tool catalog as a principal would see it in tools/list.
    Tools(ToolsArgs),
}

#[derive(Debug, clap::Args)]
struct ToolsArgs {
    /// The gateway config file.
    #[arg(long, short)]
    config: PathBuf,
    /// The principal to list for (API key id or token subject).
    #[arg(long, default_value = "reviewer")]
    principal: String,
    /// A role of the principal (repeatable).
    #[arg(long = "role")]
    roles: Vec<String>,
    /// The policy file (default: `[policy] file` from the config).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Tools(args) => tools(args),
    }
}

fn tools(args: ToolsArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let options = CatalogOptions {
        include_internal: config.convex.include_internal,
        data_tools: config.catalog.data_tools,
        overrides: config.tools.clone(),
    };
    let spec = match &config.catalog.spec_file {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("reading function spec {}", path.display()))?;
            FunctionSpecFile::parse(&bytes)
                .with_context(|| format!("parsing function spec {}", path.display()))?
        }
        None => {
            let (client, _) = convex::from_config(&config.convex)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let value = runtime
                .block_on(client.function_spec())
                .context("fetching the function spec from the deployment")?;
            FunctionSpecFile::from_value(value)?
        }
    };
    let catalog = Catalog::build(&spec, &options)?;
    let policy_path = args
        .policy
        .or_else(|| config.policy.as_ref().map(|p| p.file.clone()));
    let policy = match &policy_path {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("reading policy {}", path.display()))?;
            let name = path.display().to_string();
            let (policy, warnings) = auditgate_policy::Policy::parse(&name, &bytes)?;
            for w in warnings {
                eprintln!("policy warning: {w}");
            }
            Some(policy)
        }
        None => None,
    };
    let listing = list_for(&catalog, policy.as_ref(), &args.principal, &args.roles);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listing)?);
    } else {
        print!("{}", render_human(&listing));
    }
    Ok(())
}

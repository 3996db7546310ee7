//! `auditgate tools`: the catalog as one principal would see it, for reviewing a policy.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use auditgate::catalog::{Catalog, CatalogOptions};
use auditgate::config::Config;
use auditgate::listing::{list_for, render_human};
use auditgate::upstream::convex;

#[derive(Debug, clap::Args)]
pub struct Args {
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
    /// Also list what is never a tool: HTTP routes and HTTP actions, internal functions left
    /// out, and spec entries skipped (each with why).
    #[arg(long)]
    all: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Builds the catalog a config names (spec file, or fetched live with the deploy key).
pub fn load_catalog(config: &Config) -> anyhow::Result<Catalog> {
    if let Some(path) = &config.catalog.spec_file {
        // No deployment (and no deploy key) needed.
        return Ok(Catalog::from_spec_file(
            path,
            &CatalogOptions::from_config(config),
        )?);
    }
    let (client, _) = convex::from_config(&config.convex)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(Catalog::load(config, &client))?)
}

/// Parses a policy file, printing its warnings to stderr.
pub fn load_policy(path: &std::path::Path) -> anyhow::Result<auditgate_policy::Policy> {
    load_policy_counting(path).map(|(policy, _)| policy)
}

/// [`load_policy`], also returning how many warnings it printed.
pub fn load_policy_counting(
    path: &std::path::Path,
) -> anyhow::Result<(auditgate_policy::Policy, usize)> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading policy {}", path.display()))?;
    let name = path.display().to_string();
    let (policy, warnings) = auditgate_policy::Policy::parse(&name, &bytes)?;
    for w in &warnings {
        eprintln!("policy warning: {w}");
    }
    Ok((policy, warnings.len()))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let catalog = load_catalog(&config)?;
    let policy_path = args
        .policy
        .or_else(|| config.policy.as_ref().map(|p| p.file.clone()));
    let policy = policy_path.as_deref().map(load_policy).transpose()?;
    let mut listing = list_for(&catalog, policy.as_ref(), &args.principal, &args.roles);
    if args.all {
        listing.not_exposed = Some(catalog.not_exposed().to_vec());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listing)?);
    } else {
        print!("{}", render_human(&listing));
    }
    Ok(ExitCode::SUCCESS)
}

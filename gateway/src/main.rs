//! The `auditgate` binary: a thin command-line layer over the `auditgate` library.
#![forbid(unsafe_code)]

use clap::Parser;

/// Audit-first MCP gateway in front of a Convex deployment.
#[derive(Debug, Parser)]
#[command(name = "auditgate", version)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}

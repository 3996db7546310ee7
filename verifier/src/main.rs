//! `auditgate-verify`: checks a ledger or evidence bundle from the files and a public key alone.
#![forbid(unsafe_code)]

use clap::Parser;

/// Offline verifier for auditgate ledgers and evidence bundles.
#[derive(Debug, Parser)]
#[command(name = "auditgate-verify", version)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}

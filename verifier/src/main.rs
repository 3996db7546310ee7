//! `auditgate-verify`: checks a ledger or evidence bundle from the files and a public key alone.
//!
//! Exit status: 0 valid, 1 invalid (the first failure is printed), 2 usage or I/O error.
//! This binary depends on `auditgate-ledger` and `auditgate-policy`, never on the gateway.
#![forbid(unsafe_code)]

mod trust;
mod verify_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Offline verifier for auditgate ledgers and evidence bundles.
#[derive(Debug, Parser)]
#[command(name = "auditgate-verify", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Recompute and check everything: framing, checksums, canonical encoding, the hash chain,
    /// every Merkle root, every checkpoint signature, key rotations, and a pinned checkpoint.
    Verify {
        /// A ledger directory (holding `segments/`) or a directory of segment files.
        path: PathBuf,
        /// Trusted key: a verifier key (`name+id+base64`) or a file of them, one per line.
        #[arg(long, value_name = "KEY|FILE")]
        pubkey: String,
        /// A signed checkpoint obtained earlier: the ledger must extend it (detects truncation
        /// and rewritten history).
        #[arg(long, value_name = "CHECKPOINT_FILE")]
        pin: Option<PathBuf>,
        /// Print one JSON object instead of the human summary.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let outcome = match cli.command {
        Command::Verify {
            path,
            pubkey,
            pin,
            json,
        } => verify_cmd::run(&path, &pubkey, pin.as_deref(), json),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("auditgate-verify: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

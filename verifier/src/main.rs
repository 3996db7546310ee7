//! `auditgate-verify`: checks a ledger or evidence bundle from the files and a public key alone.
//!
//! Exit status: 0 valid, 1 invalid (the first failure is printed), 2 usage or I/O error.
//! This binary depends on `auditgate-ledger` and `auditgate-policy`, never on the gateway.
#![forbid(unsafe_code)]

mod approvals;
mod bundle;
mod event;
mod gateway_pass;
mod invariants;
mod progress;
mod proof_cmd;
mod proof_tree;
mod reader;
mod redacted_path;
mod replay_cmd;
mod replay_html;
mod replay_text;
mod rfc3339;
mod sessions_cmd;
mod source;
mod summary;
mod timeline;
mod trust;
mod verify_cmd;
mod whatif_cmd;

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
    /// every Merkle root, every checkpoint signature, key rotations, a pinned checkpoint, and the
    /// gateway's invariants (G1–G5). Also checks evidence bundles.
    Verify {
        /// A ledger directory (holding `segments/`), a directory of segment files, or an
        /// evidence bundle (holding `MANIFEST.json`).
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
    /// Write an evidence bundle: selected entries with an inclusion proof each, the checkpoint,
    /// the keys and the policies in force (docs/evidence-bundle.md). Filters combine with AND.
    Export {
        /// The ledger directory (verified in full first).
        path: PathBuf,
        /// Trusted key or keys file.
        #[arg(long, value_name = "KEY|FILE")]
        pubkey: String,
        /// The bundle directory to create (must not exist, or be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Only entries of this session (repeatable).
        #[arg(long, value_name = "ID")]
        session: Vec<String>,
        /// Only entries of sessions of this principal (repeatable).
        #[arg(long, value_name = "PRINCIPAL")]
        principal: Vec<String>,
        /// Only requests and results of this tool (repeatable).
        #[arg(long, value_name = "NAME")]
        tool: Vec<String>,
        /// Only entries at or after this time (RFC 3339).
        #[arg(long, value_name = "RFC3339")]
        since: Option<String>,
        /// Only entries before this time (RFC 3339).
        #[arg(long, value_name = "RFC3339")]
        until: Option<String>,
        /// Extra formats besides canonical JSONL: ocsf (OCSF API Activity), csv.
        #[arg(long, value_name = "jsonl|ocsf|csv", default_value = "jsonl")]
        format: Vec<String>,
    },
    /// List sessions: principal, client, transport, start and end, calls by outcome.
    Sessions {
        /// A ledger directory or an evidence bundle.
        path: PathBuf,
        /// Trusted key or keys file: verify in full first (without it, nothing is verified).
        #[arg(long, value_name = "KEY|FILE")]
        pubkey: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay one session: what the agent was shown, each call with its decision, approval,
    /// outcome and latency, and what was redacted.
    Replay {
        /// A ledger directory or an evidence bundle.
        path: PathBuf,
        /// The session id (see `sessions`).
        #[arg(long, value_name = "ID")]
        session: String,
        /// Trusted key or keys file: verify in full first (without it, nothing is verified).
        #[arg(long, value_name = "KEY|FILE")]
        pubkey: Option<String>,
        /// Write a self-contained HTML page instead of printing.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Re-decide every recorded listing and call under another policy; report what would
    /// change, and what cannot be known because the ledger holds the arguments redacted.
    #[command(name = "what-if")]
    WhatIf {
        /// A ledger directory or an evidence bundle.
        path: PathBuf,
        /// The policy file to try.
        #[arg(long, value_name = "NEW.toml")]
        policy: PathBuf,
        /// Trusted key or keys file: verify in full first (without it, nothing is verified).
        #[arg(long, value_name = "KEY|FILE")]
        pubkey: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Produce or check inclusion and consistency proofs for a third party.
    #[command(subcommand)]
    Proof(ProofCommand),
}

#[derive(Debug, Subcommand)]
enum ProofCommand {
    /// Prove that entry SEQ is in the ledger's latest signed checkpoint (prints a proof file).
    Inclusion {
        /// The ledger directory (verified in full first).
        path: PathBuf,
        /// The entry to prove.
        #[arg(long)]
        seq: u64,
        /// Trusted key or keys file.
        #[arg(long, value_name = "KEY|FILE")]
        pubkey: String,
    },
    /// Prove that the ledger's latest checkpoint extends an older checkpoint (prints a proof file).
    Consistency {
        /// The ledger directory (verified in full first).
        path: PathBuf,
        /// The older signed checkpoint.
        #[arg(long, value_name = "CHECKPOINT_FILE")]
        old: PathBuf,
        /// Trusted key or keys file.
        #[arg(long, value_name = "KEY|FILE")]
        pubkey: String,
    },
    /// Check a proof file with trusted keys alone (no ledger needed).
    Check {
        /// The proof file.
        file: PathBuf,
        /// Trusted key or keys file.
        #[arg(long, value_name = "KEY|FILE")]
        pubkey: String,
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
        Command::Export {
            path,
            pubkey,
            out,
            session,
            principal,
            tool,
            since,
            until,
            format,
        } => export(
            &path,
            &pubkey,
            &out,
            bundle::select::Filters {
                sessions: session,
                principals: principal,
                tools: tool,
                since: None,
                until: None,
            },
            since.as_deref(),
            until.as_deref(),
            &format,
        ),
        Command::Sessions { path, pubkey, json } => {
            sessions_cmd::run(&path, pubkey.as_deref(), json)
        }
        Command::Replay {
            path,
            session,
            pubkey,
            html,
        } => replay_cmd::run(&path, pubkey.as_deref(), &session, html.as_deref()),
        Command::WhatIf {
            path,
            policy,
            pubkey,
            json,
        } => whatif_cmd::run(&path, pubkey.as_deref(), &policy, json),
        Command::Proof(ProofCommand::Inclusion { path, seq, pubkey }) => {
            proof_cmd::inclusion(&path, &pubkey, seq)
        }
        Command::Proof(ProofCommand::Consistency { path, old, pubkey }) => {
            proof_cmd::consistency(&path, &pubkey, &old)
        }
        Command::Proof(ProofCommand::Check { file, pubkey }) => proof_cmd::check(&file, &pubkey),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("auditgate-verify: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "the command's arguments, resolved once"
)]
fn export(
    path: &std::path::Path,
    pubkey: &str,
    out: &std::path::Path,
    mut filters: bundle::select::Filters,
    since: Option<&str>,
    until: Option<&str>,
    format: &[String],
) -> anyhow::Result<ExitCode> {
    filters.since = since.map(rfc3339::timestamp).transpose()?;
    filters.until = until.map(rfc3339::timestamp).transpose()?;
    let formats = bundle::export::Formats::parse(format)?;
    bundle::export::run(path, pubkey, out, filters, formats)
}

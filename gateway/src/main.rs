//! The `auditgate` binary: a thin command-line layer over the `auditgate` library; one module
//! per subcommand in `cmd/`.
#![forbid(unsafe_code)]

mod cmd;

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
    /// Create a config, a policy template and the ledger and commit keys in a folder.
    Init(cmd::init::Args),
    /// Check a config and everything it names (policy, function spec, keys), without serving.
    CheckConfig(cmd::check_config::Args),
    /// Run the gateway over stdio or Streamable HTTP.
    Serve(cmd::serve::Args),
    /// Ledger head, open sessions and counts by outcome, read from the ledger files.
    Status(cmd::status::Args),
    /// Print the MCP client configuration for Claude Code, Codex or Claude Desktop.
    ClientConfig(cmd::client_config::Args),
    /// Approver keys for signed approvals.
    #[command(subcommand)]
    Approver(cmd::approvals::ApproverCommand),
    /// Pending approvals on a running gateway: list, approve, deny (signed receipts).
    #[command(subcommand)]
    Approvals(cmd::approvals::ApprovalsCommand),
    /// Issue, list and revoke bearer API keys (stored hashed).
    #[command(subcommand)]
    Keys(cmd::keys::Command),
    /// Print the tool catalog as a principal would see it in tools/list.
    Tools(cmd::tools::Args),
    /// Trace how the policy would decide one tools/call (rules, ceiling, redactions, listing).
    Explain(cmd::explain::Args),
    /// The evidence vault: reveal committed originals, erase a data subject (recorded).
    #[command(subcommand)]
    Vault(cmd::vault::Command),
}

fn main() -> std::process::ExitCode {
    // Refuse before parsing: a secret in argv is visible to every user of the machine (ps).
    if let Some(why) = cmd::serve::secret_in_argv(std::env::args()) {
        eprintln!("auditgate: refusing to start: {why}");
        return std::process::ExitCode::from(2);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(a) => cmd::init::run(a),
        Command::CheckConfig(a) => cmd::check_config::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Status(a) => cmd::status::run(a),
        Command::ClientConfig(a) => cmd::client_config::run(a),
        Command::Keys(c) => cmd::keys::run(c),
        Command::Approver(c) => cmd::approvals::run_approver(c),
        Command::Approvals(c) => cmd::approvals::run(c),
        Command::Tools(a) => cmd::tools::run(a),
        Command::Explain(a) => cmd::explain::run(a),
        Command::Vault(c) => cmd::vault::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("auditgate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! `auditgate approver keygen` and `auditgate approvals list|approve|deny`: approver keys, and the
//! operator side of the approval flow (`docs/approvals.md` §6). Receipts are signed here, with
//! the approver's key file; only the signature travels to the gateway.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use auditgate::approvals::{PendingInfo, Receipt, Verdict};
use auditgate_ledger::SigningKey;
use base64::Engine as _;
use serde_json::Value;

#[derive(Debug, clap::Subcommand)]
pub enum ApproverCommand {
    /// Make an approver's Ed25519 key (file 0600) and print the key to register in the config.
    Keygen {
        /// The approver's name (as in `[[approvers]] name` and policy `approval.keys`).
        #[arg(long)]
        name: String,
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct Connection {
    /// The gateway's base URL (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    url: String,
    /// The environment variable holding an API key with the admin role.
    #[arg(long, default_value = "AUDITGATE_ADMIN_TOKEN")]
    token_env: String,
}

#[derive(Debug, clap::Subcommand)]
pub enum ApprovalsCommand {
    /// Pending approvals: id, caller, tool, redacted arguments, expiry, approvals so far.
    List {
        #[command(flatten)]
        conn: Connection,
        #[arg(long)]
        json: bool,
    },
    /// Approve: sign this approval's statement with your key and send the signature.
    Approve {
        id: String,
        #[command(flatten)]
        conn: Connection,
        /// Your approver key file.
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny, with a reason the agent will see.
    Deny {
        id: String,
        #[command(flatten)]
        conn: Connection,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        reason: String,
    },
}

pub fn run_approver(command: ApproverCommand) -> anyhow::Result<ExitCode> {
    let ApproverCommand::Keygen { name, out } = command;
    let key = SigningKey::generate(&name)?;
    key.save_new(&out)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "Wrote {} (0600). Register this approver in the gateway config:",
        out.display()
    );
    println!(
        "[[approvers]]\nname = {name:?}\nkey = \"{}\"\nroles = []",
        key.verifier_key()
    );
    Ok(ExitCode::SUCCESS)
}

fn client(conn: &Connection) -> anyhow::Result<(reqwest::blocking::Client, String)> {
    let token = std::env::var(&conn.token_env)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .with_context(|| {
            format!(
                "set ${} to an API key with the admin role (never pass it as an argument)",
                conn.token_env
            )
        })?;
    let http = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    Ok((http, token.trim().to_string()))
}

fn endpoint(conn: &Connection, path: &str) -> String {
    format!("{}/admin/approvals{path}", conn.url.trim_end_matches('/'))
}

fn get_json(conn: &Connection, path: &str) -> anyhow::Result<Value> {
    let (http, token) = client(conn)?;
    let r = http
        .get(endpoint(conn, path))
        .bearer_auth(token)
        .send()
        .context("reaching the gateway")?;
    let status = r.status();
    let body: Value = r.json().unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("the gateway answered {status}: {}", body_message(&body));
    }
    Ok(body)
}

fn body_message(body: &Value) -> String {
    body.get("message")
        .or_else(|| body.pointer("/error/message"))
        .and_then(Value::as_str)
        .map_or_else(|| body.to_string(), str::to_string)
}

fn decide(
    id: &str,
    conn: &Connection,
    key: &std::path::Path,
    verdict: Verdict,
    reason: Option<String>,
) -> anyhow::Result<ExitCode> {
    let key = SigningKey::load(key).with_context(|| format!("reading {}", key.display()))?;
    let pending: PendingInfo = serde_json::from_value(get_json(conn, &format!("/{id}"))?)
        .context("reading the pending approval")?;
    let statement = pending.statement(verdict, key.name());
    let signature =
        base64::engine::general_purpose::STANDARD.encode(key.sign(statement.as_bytes()));
    let receipt = Receipt {
        approver: key.name().to_string(),
        decision: verdict,
        signature,
        reason,
    };
    let (http, token) = client(conn)?;
    let r = http
        .post(endpoint(conn, &format!("/{id}")))
        .bearer_auth(token)
        .json(&receipt)
        .send()
        .context("reaching the gateway")?;
    let status = r.status();
    let body: Value = r.json().unwrap_or(Value::Null);
    if !status.is_success() {
        eprintln!("refused ({status}): {}", body_message(&body));
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "{} {id} as {} (ledger seq {}; {} of {} approvals; state {})",
        if verdict == Verdict::Approve {
            "approved"
        } else {
            "denied"
        },
        key.name(),
        body["seq"],
        body["count"],
        body["required"],
        body["state"].as_str().unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn run(command: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ApprovalsCommand::List { conn, json } => {
            let body = get_json(&conn, "")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(ExitCode::SUCCESS);
            }
            let pending: Vec<PendingInfo> = serde_json::from_value(body["pending"].clone())?;
            if pending.is_empty() {
                println!("no pending approvals");
            }
            for p in pending {
                println!(
                    "{}  {} calls {}  (rule {}; {} of {} approvals; expires {})\n    args {}",
                    p.id,
                    p.caller,
                    p.tool,
                    p.rule.as_deref().unwrap_or("-"),
                    p.granted.len(),
                    p.required,
                    p.expires_at,
                    p.args
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ApprovalsCommand::Approve {
            id,
            conn,
            key,
            reason,
        } => decide(&id, &conn, &key, Verdict::Approve, reason),
        ApprovalsCommand::Deny {
            id,
            conn,
            key,
            reason,
        } => decide(&id, &conn, &key, Verdict::Deny, Some(reason)),
    }
}

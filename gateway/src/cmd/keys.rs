//! `auditgate keys create|list|revoke`: bearer API keys. The token is printed once, on stdout;
//! the store keeps only its hash.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use auditgate::apikeys::KeyStore;
use auditgate::config::Config;
use auditgate_ledger::timestamp::Timestamp;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Issue a key; prints the token once.
    Create {
        #[arg(long, short, default_value = "auditgate.toml")]
        config: PathBuf,
        /// Who the key authenticates.
        #[arg(long)]
        principal: String,
        /// Roles, comma-separated.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Lifetime, e.g. 30d, 12h, 90m (default: no expiry).
        #[arg(long)]
        expires: Option<String>,
    },
    /// List keys (never tokens).
    List {
        #[arg(long, short, default_value = "auditgate.toml")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id; takes effect on the next request, open sessions included.
    Revoke {
        #[arg(long, short, default_value = "auditgate.toml")]
        config: PathBuf,
        id: String,
    },
}

/// `30d` / `12h` / `90m` / `45s`.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid duration {text:?} (e.g. 30d, 12h, 90m)"))?;
    let secs = match unit {
        "d" => n * 86_400,
        "h" => n * 3_600,
        "m" => n * 60,
        "s" => n,
        _ => bail!("invalid duration {text:?}: the unit must be d, h, m or s"),
    };
    if secs == 0 {
        bail!("the duration must be positive");
    }
    Ok(Duration::from_secs(secs))
}

fn store(config: &std::path::Path) -> anyhow::Result<KeyStore> {
    let config = Config::load(config)?;
    Ok(KeyStore::new(config.auth.api_keys_file))
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let now = Timestamp::now();
    match command {
        Command::Create {
            config,
            principal,
            roles,
            expires,
        } => {
            let expires = expires
                .map(|e| -> anyhow::Result<String> {
                    let at = SystemTime::now() + parse_duration(&e)?;
                    let nanos = at.duration_since(UNIX_EPOCH)?.as_nanos();
                    Ok(Timestamp::from_unix_nanos(nanos).to_string())
                })
                .transpose()?;
            let store = store(&config)?;
            let (token, key) = store.create(&principal, &roles, expires, now.as_str())?;
            eprintln!(
                "Created key {} for {} (roles: {}; expires: {}). The token below is shown once; \
                 store it in a secret manager or an environment variable, never in argv:",
                key.id,
                key.principal,
                if key.roles.is_empty() {
                    "none".into()
                } else {
                    key.roles.join(",")
                },
                key.expires.as_deref().unwrap_or("never"),
            );
            println!("{token}");
        }
        Command::List { config, json } => {
            let keys = store(&config)?.list()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                println!(
                    "{:<16}  {:<20}  {:<24}  {:<10}  created",
                    "id", "principal", "roles", "state"
                );
                for k in keys {
                    let state = if k.revoked.is_some() {
                        "revoked"
                    } else if k.expires.as_deref().is_some_and(|e| e <= now.as_str()) {
                        "expired"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<16}  {:<20}  {:<24}  {:<10}  {}",
                        k.id,
                        k.principal,
                        k.roles.join(","),
                        state,
                        k.created
                    );
                }
            }
        }
        Command::Revoke { config, id } => {
            let key = store(&config)?.revoke(&id, now.as_str())?;
            println!("revoked {} ({})", key.id, key.principal);
        }
    }
    Ok(ExitCode::SUCCESS)
}

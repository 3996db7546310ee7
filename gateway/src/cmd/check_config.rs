//! `auditgate check-config`: loads everything `serve` would (config, policy, catalog, keys,
//! deploy key) and reports each, without opening the ledger for writing or serving.
use std::path::PathBuf;
use std::process::ExitCode;

use auditgate::config::Config;
use auditgate::server::load_commit_key;
use auditgate::upstream::convex;
use auditgate_ledger::SigningKey;

use super::tools::{load_catalog, load_policy_counting};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The gateway config file.
    #[arg(long, short, default_value = "auditgate.toml")]
    config: PathBuf,
    /// Also contact the deployment: deploy key accepted, its function spec compared with
    /// `[catalog] spec_file` (each a line: ok, warn or error; warnings do not fail the check).
    #[arg(long)]
    live: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    println!(
        "config      {} ok ({})",
        args.config.display(),
        config.source_hash
    );
    let mut failures = 0;
    let mut check = |what: &str, outcome: anyhow::Result<String>| match outcome {
        Ok(detail) => println!("{what:<11} ok: {detail}"),
        Err(e) => {
            failures += 1;
            println!("{what:<11} FAILED: {e:#}");
        }
    };
    check(
        "policy",
        match &config.policy {
            // Warnings (printed on stderr) do not fail the check: the policy loads and serves.
            Some(p) => load_policy_counting(&p.file).map(|(policy, warnings)| {
                let warnings = match warnings {
                    0 => String::new(),
                    1 => ", 1 warning".into(),
                    n => format!(", {n} warnings"),
                };
                format!(
                    "{} (blake3:{}, {} rules{warnings})",
                    p.file.display(),
                    policy.hash_hex(),
                    policy.rule_ids().count()
                )
            }),
            None => Err(anyhow::anyhow!(
                "no [policy] file: the gateway refuses to serve without one"
            )),
        },
    );
    check(
        "deploy key",
        convex::from_config(&config.convex)
            .map(|(client, _)| {
                format!(
                    "present; upstream {} (not contacted: --live checks the key)",
                    client.base_url()
                )
            })
            .map_err(Into::into),
    );
    check(
        "catalog",
        load_catalog(&config).map(|c| format!("{} tools ({})", c.tools().len(), c.hash())),
    );
    check(
        "signing key",
        SigningKey::load(&config.ledger.signing_key_file)
            .map(|k| {
                format!(
                    "{} -> {}",
                    config.ledger.signing_key_file.display(),
                    k.verifier_key()
                )
            })
            .map_err(|e| anyhow::anyhow!("{}: {e}", config.ledger.signing_key_file.display())),
    );
    check(
        "commit key",
        load_commit_key(&config.ledger.commit_key_file)
            .map(|_| config.ledger.commit_key_file.display().to_string())
            .map_err(Into::into),
    );
    if let Some(vault) = &config.vault {
        check("vault", vault_line(&config, vault));
    }
    let ledger = &config.ledger.dir;
    check(
        "ledger",
        Ok(if ledger.join("segments").is_dir() {
            format!("{} (exists)", ledger.display())
        } else {
            format!("{} (will be created on first serve)", ledger.display())
        }),
    );
    let keys = auditgate::apikeys::KeyStore::new(config.auth.api_keys_file.clone());
    check(
        "api keys",
        keys.list()
            .map(|k| {
                let active = k.iter().filter(|k| k.revoked.is_none()).count();
                format!("{} ({active} active)", config.auth.api_keys_file.display())
            })
            .map_err(Into::into),
    );
    if args.live {
        match live_findings(&config) {
            Ok(findings) => {
                for f in findings {
                    println!("{:<11} {}: {}", f.what, f.level.as_str(), f.detail);
                    if f.level == auditgate::deployment::Level::Error {
                        failures += 1;
                    }
                }
            }
            Err(e) => {
                failures += 1;
                println!("{:<11} error: {e:#}", "deployment");
            }
        }
    }
    if failures > 0 {
        println!("{failures} problem(s) found");
        return Ok(ExitCode::FAILURE);
    }
    println!("all checks passed");
    Ok(ExitCode::SUCCESS)
}

/// `--live`: what the deployment says ([`auditgate::deployment::check`]).
fn live_findings(config: &Config) -> anyhow::Result<Vec<auditgate::deployment::Finding>> {
    let (client, _) = convex::from_config(&config.convex)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(auditgate::deployment::check(config, &client)))
}

/// `[vault]`: where it is and what names a subject; a warning (stderr, like policy warnings) for
/// each subject path the policy's file-wide `[audit].args` leaves in clear — the ledger would name
/// every data subject, and erasure cannot take that away (`docs/privacy.md` §5.1).
fn vault_line(
    config: &auditgate::config::Config,
    vault: &auditgate::config::VaultConfig,
) -> anyhow::Result<String> {
    if let Some(p) = &config.policy
        && let Ok(bytes) = std::fs::read(&p.file)
        && let Ok((policy, _)) =
            auditgate_policy::Policy::parse(&p.file.display().to_string(), &bytes)
    {
        for subject in &vault.subject {
            if auditgate_policy::arguments_redacted(&policy, subject) == Some(false) {
                let name = subject.rsplit(['.', '[']).next().unwrap_or(subject);
                eprintln!(
                    "vault warning: vault.subject {subject:?} is not redacted by the policy's \
                     [audit].args: the ledger would name each data subject in clear, and \
                     erasure cannot take that away; add {{ path = \"**.{name}\", mode = \"commit\" }}"
                );
            }
        }
    }
    Ok(format!(
        "{} (data subject: {})",
        vault.dir.display(),
        vault.subject.join(", ")
    ))
}

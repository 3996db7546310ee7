//! `auditgate serve --stdio | --http ADDR`: checks the listen addresses (loopback unless
//! `--insecure-bind`, see `bind`), builds the gateway, records its start, serves until EOF
//! (stdio) or SIGINT/SIGTERM, then records the stop.
mod bind;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use auditgate::apikeys::{self, TOKEN_PREFIX};
use auditgate::audit::events;
use auditgate::config::Config;
use auditgate::principal::{AuthMethod, Principal};
use auditgate::server::{Gateway, http, stdio};
use auditgate_ledger::timestamp::Timestamp;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("transport").required(true).args(["stdio", "http"])))]
pub struct Args {
    /// The gateway config file.
    #[arg(long, short, default_value = "auditgate.toml")]
    config: PathBuf,
    /// Speak MCP on stdin/stdout (one session).
    #[arg(long)]
    stdio: bool,
    /// Serve MCP Streamable HTTP at http://ADDR/mcp (e.g. 127.0.0.1:8080); the operator API
    /// (`/admin/approvals`) is on the same listener.
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// With --stdio: also serve the operator API (approvals) and /healthz on ADDR.
    #[arg(long, value_name = "ADDR", requires = "stdio")]
    admin: Option<String>,
    /// Allow --http or --admin on an address that is not loopback. auditgate speaks plain HTTP:
    /// only when the network path is protected otherwise (prefer a TLS-terminating proxy in
    /// front of a loopback bind).
    #[arg(long)]
    insecure_bind: bool,
    /// Lower the policy's write ceilings for this process: deny, ask or allow. Never raises
    /// them (`--write=allow` keeps the policy's); recorded in the ledger's `gateway.start`.
    #[arg(long, value_name = "MODE", value_parser = parse_write_mode)]
    write: Option<auditgate_policy::WriteMode>,
}

fn parse_write_mode(s: &str) -> Result<auditgate_policy::WriteMode, String> {
    use auditgate_policy::WriteMode;
    match s {
        "deny" => Ok(WriteMode::Deny),
        "ask" => Ok(WriteMode::Ask),
        "allow" => Ok(WriteMode::Allow),
        _ => Err("expected deny, ask or allow".into()),
    }
}

/// Why argv must not be used, if a secret appears in it.
pub fn secret_in_argv(args: impl Iterator<Item = String>) -> Option<String> {
    for arg in args.skip(1) {
        let value = arg.split_once('=').map_or(arg.as_str(), |(_, v)| v);
        if value.starts_with(TOKEN_PREFIX) || arg.to_ascii_lowercase().starts_with("bearer ") {
            return Some(format!(
                "an API key was passed on the command line, where every local user can read it \
                 (ps, /proc). Put it in the environment variable named by [stdio] token_env \
                 (e.g. AUDITGATE_TOKEN) instead, and revoke this key: `auditgate keys revoke {}`",
                apikeys::token_id(value).unwrap_or("<id>")
            ));
        }
        if arg.starts_with("--token") || arg.starts_with("--api-key") {
            return Some(
                "tokens are never taken from argv; set the variable named by [stdio] token_env"
                    .into(),
            );
        }
    }
    None
}

/// A future that resolves when SIGINT or SIGTERM arrives. The handlers are installed now, when
/// this is called (not when the future is first polled), so a signal sent as soon as the gateway
/// says it listens is never lost to the default action.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUDITGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// The stdio principal: a valid API key from `[stdio] token_env`, else `[stdio] principal`.
async fn stdio_principal(gateway: &Gateway) -> anyhow::Result<Principal> {
    let conf = &gateway.config.stdio;
    if let Some(var) = &conf.token_env
        && let Ok(token) = std::env::var(var)
        && !token.trim().is_empty()
    {
        let token = token.trim();
        let now = Timestamp::now();
        return match gateway.keys.authenticate(token, now.as_str())? {
            Ok(key) => Ok(Principal {
                name: key.principal,
                roles: key.roles,
                auth: AuthMethod::ApiKey { key_id: key.id },
            }),
            Err(refusal) => {
                let presented = match apikeys::token_id(token) {
                    Some(id) => events::Presented::KeyId(id.into()),
                    None => events::Presented::Fingerprint(apikeys::token_fingerprint(token)),
                };
                let entry = events::auth_refused(refusal.as_str(), &presented, "stdio", "stdio");
                gateway.audit.record(entry).await?;
                bail!(
                    "the API key in ${var} was refused ({}); nothing was served",
                    refusal.as_str()
                )
            }
        };
    }
    match &conf.principal {
        Some(name) => Ok(Principal {
            name: name.clone(),
            roles: conf.roles.clone(),
            auth: AuthMethod::Local,
        }),
        None => bail!(
            "no stdio principal: set [stdio] principal in the config, or put an API key in the \
             variable named by [stdio] token_env"
        ),
    }
}

/// With `[catalog] spec_file`, the deployment is contacted at start all the same: each finding
/// of [`auditgate::deployment::check`] is logged, and a refused deploy key stops the start
/// before anything is written. (Without a spec file, fetching the catalog is that contact.)
async fn check_deployment(config: &Config) -> anyhow::Result<()> {
    if config.catalog.spec_file.is_none() {
        return Ok(());
    }
    let Ok((client, _)) = auditgate::upstream::convex::from_config(&config.convex) else {
        return Ok(()); // `Gateway::build` reports a missing or unreadable deploy key.
    };
    for f in auditgate::deployment::check(config, &client).await {
        match f.level {
            auditgate::deployment::Level::Ok => tracing::info!("{}: {}", f.what, f.detail),
            auditgate::deployment::Level::Warn => tracing::warn!("{}: {}", f.what, f.detail),
            auditgate::deployment::Level::Error => tracing::error!("{}: {}", f.what, f.detail),
        }
        if !f.serve_may_start {
            bail!("{}: {}; nothing was served", f.what, f.detail);
        }
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logging();
    // Before anything is loaded or written: a refused bind must leave no ledger behind.
    let listen = [("--http", &args.http), ("--admin", &args.admin)];
    for (flag, addr) in listen {
        if let Some(addr) = addr
            && let Err(why) = bind::check(flag, addr, args.insecure_bind)
        {
            eprintln!("auditgate: {why}");
            return Ok(ExitCode::from(2));
        }
    }
    let mut config = Config::load(&args.config)?;
    config.write_limit = args.write;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let stop = shutdown_signal()?;
        check_deployment(&config).await?;
        let gateway = Arc::new(Gateway::build(config).await?);
        if args.stdio {
            let principal = stdio_principal(&gateway).await?;
            tracing::info!(principal = %principal.name, "serving MCP over stdio");
            let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
            let admin = match &args.admin {
                Some(addr) => {
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("binding {addr}"))?;
                    eprintln!(
                        "auditgate: operator API on http://{}/admin/approvals",
                        listener.local_addr()?
                    );
                    Some(tokio::spawn(http::serve_admin(
                        gateway.clone(),
                        listener,
                        async {
                            let _ = admin_stopped.await;
                        },
                    )))
                }
                None => None,
            };
            let reason = stdio::serve(
                gateway.clone(),
                principal,
                tokio::io::stdin(),
                tokio::io::stdout(),
                stop,
            )
            .await?;
            tracing::info!(?reason, "stdio session ended");
            let _ = admin_stop.send(());
            if let Some(admin) = admin {
                let _ = admin.await;
            }
        } else if let Some(addr) = &args.http {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            http::serve(gateway.clone(), listener, stop).await?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> impl Iterator<Item = String> {
        std::iter::once("auditgate".to_string()).chain(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn tokens_in_argv_are_refused() {
        assert!(secret_in_argv(argv(&["serve", "--stdio"])).is_none());
        let why = secret_in_argv(argv(&["serve", "--stdio", "agk_0123456789abcdef_xyz"]));
        assert!(why.is_some_and(|w| w.contains("revoke 0123456789abcdef") || w.contains("<id>")));
        assert!(secret_in_argv(argv(&["serve", "--token=abc"])).is_some());
        assert!(secret_in_argv(argv(&["serve", "--x=agk_abc"])).is_some());
    }
}

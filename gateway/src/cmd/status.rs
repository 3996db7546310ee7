//! `auditgate status`: the ledger head, sessions still open and counts by outcome, read from the
//! ledger files (works whether or not the gateway is running; it never writes).
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use auditgate::config::Config;
use auditgate_ledger::{VerifyOptions, verify};
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, short, default_value = "auditgate.toml")]
    config: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default)]
struct Tally {
    open: BTreeMap<String, String>,
    outcomes: BTreeMap<String, u64>,
    lists: u64,
    refusals: u64,
    starts: u64,
    running: bool,
}

impl Tally {
    fn see(&mut self, entry: &Value) {
        let s = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or_default();
        match s("kind") {
            "gateway.start" => {
                self.starts += 1;
                self.running = true;
                // Sessions of an earlier run that never closed ended with that run.
                self.open.clear();
            }
            "gateway.stop" => self.running = false,
            "session.open" => {
                self.open.insert(s("session").into(), s("principal").into());
            }
            "session.close" => {
                self.open.remove(s("session"));
            }
            "tools.listed" => self.lists += 1,
            "auth.refused" | "request.refused" | "protocol.error" => self.refusals += 1,
            "call.request" => {
                let d = s("disposition");
                if d != "forward" {
                    *self.outcomes.entry(d.into()).or_default() += 1;
                }
            }
            "call.result" => *self.outcomes.entry(s("outcome").into()).or_default() += 1,
            _ => {}
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let dir = &config.ledger.dir;
    let mut tally = Tally::default();
    let options = VerifyOptions {
        check_signatures: false,
        ..VerifyOptions::default()
    };
    let report = verify::verify_dir_visiting(dir, Vec::new(), None, options, &mut |v| {
        if let Ok(entry) = serde_json::from_slice::<Value>(v.bytes) {
            tally.see(&entry);
        }
    })
    .map_err(|e| anyhow::anyhow!("reading the ledger {}: {e}", dir.display()))?;
    let principals: BTreeSet<&String> = tally.open.values().collect();
    if args.json {
        let out = json!({
            "ledger": dir.display().to_string(),
            "entries": report.entries,
            "segments": report.segments,
            "checkpoints": report.checkpoints,
            "last_entry_at": report.last_ts.map(|t| t.to_string()),
            "gateway_running": tally.running,
            "open_sessions": tally.open.len(),
            "outcomes": tally.outcomes,
            "lists": tally.lists,
            "refusals": tally.refusals,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("ledger        {}", dir.display());
    println!(
        "head          {} entries in {} segment(s), {} checkpoints; last entry {}",
        report.entries,
        report.segments,
        report.checkpoints,
        report.last_ts.map_or("-".into(), |t| t.to_string())
    );
    println!(
        "gateway       {} ({} start(s) recorded)",
        if tally.running {
            "running (or stopped without a clean stop)"
        } else {
            "stopped"
        },
        tally.starts
    );
    println!(
        "sessions      {} open{}",
        tally.open.len(),
        if principals.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                principals
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    println!("tools/list    {}", tally.lists);
    let outcomes: Vec<String> = tally
        .outcomes
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!(
        "tools/call    {}",
        if outcomes.is_empty() {
            "none".into()
        } else {
            outcomes.join(", ")
        }
    );
    println!("refusals      {} (auth, HTTP, protocol)", tally.refusals);
    println!("(integrity is not checked here: run auditgate-verify verify)");
    Ok(ExitCode::SUCCESS)
}

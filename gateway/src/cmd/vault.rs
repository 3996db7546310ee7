//! `auditgate vault reveal|erase`: the evidence vault's operator side (`docs/privacy.md` §5).
//! Both work on the gateway folder directly and record what they did in its ledger
//! (`vault.revealed`, `vault.erased`), so they need the ledger to themselves: stop a gateway
//! serving the folder first (its lock says so).
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use auditgate::audit::events;
use auditgate::config::Config;
use auditgate::server::{load_commit_key, open_ledger};
use auditgate::vault::access::{RevealedItem, reveal_entry};
use auditgate::vault::{Revealed, Vault};
use auditgate_ledger::{VerifyOptions, verify};
use serde_json::{Value, json};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show the originals of the values entry SEQ commits, each checked against its
    /// commitment; recorded as `vault.revealed`.
    Reveal {
        #[command(flatten)]
        who: Operator,
        /// The ledger seq of the entry (a `call.request` or `call.result`).
        #[arg(long)]
        seq: u64,
        #[arg(long)]
        json: bool,
    },
    /// Destroy a data subject's vault key: none of its values can be revealed afterwards;
    /// recorded as `vault.erased` with the commitments it covers.
    Erase {
        #[command(flatten)]
        who: Operator,
        /// The subject as a string (what the subject path selected, e.g. a patient id); `-`
        /// reads it from standard input (keeps it out of argv and shell history).
        #[arg(
            long,
            conflicts_with = "subject_json",
            required_unless_present = "subject_json"
        )]
        subject: Option<String>,
        /// The subject as JSON (for a numeric subject: `--subject-json 17`).
        #[arg(long)]
        subject_json: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct Operator {
    #[arg(long, short, default_value = "auditgate.toml")]
    config: PathBuf,
    /// Who is acting (recorded); defaults to $USER.
    #[arg(long)]
    by: Option<String>,
    /// Why (recorded), e.g. a ticket or a request under GDPR Art. 17.
    #[arg(long)]
    reason: Option<String>,
}

impl Operator {
    fn name(&self) -> String {
        self.by
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into())
    }
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Reveal { who, seq, json } => reveal(&who, seq, json),
        Command::Erase {
            who,
            subject,
            subject_json,
            json,
        } => {
            let subject = match (subject, subject_json) {
                // `-`: read from standard input, so the subject (personal data) is not in argv,
                // where `ps` and shell history would keep it.
                (Some(s), _) if s == "-" => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("reading the subject from standard input")?;
                    let line = line.trim_end_matches(['\r', '\n']);
                    if line.is_empty() {
                        bail!("--subject -: standard input held no subject");
                    }
                    Value::String(line.to_owned())
                }
                (Some(s), _) => Value::String(s),
                (None, Some(j)) => serde_json::from_str(&j)
                    .context("--subject-json: not JSON (give a string with --subject)")?,
                (None, None) => bail!("give --subject or --subject-json"),
            };
            erase(&who, &subject, json)
        }
    }
}

struct Opened {
    config: Config,
    /// Held from the start: the ledger's lock keeps a gateway off the folder while the vault is
    /// open here (opening cuts a torn last record, which must never be a live gateway's).
    ledger: auditgate_ledger::Ledger,
    vault: Vault,
    commit_key: auditgate_policy::CommitKey,
}

fn open(who: &Operator) -> anyhow::Result<Opened> {
    let config = Config::load(&who.config)?;
    let Some(settings) = &config.vault else {
        bail!(
            "{}: no [vault] section: this gateway keeps no originals",
            who.config.display()
        );
    };
    let commit_key = load_commit_key(&config.ledger.commit_key_file)?;
    let ledger = open_ledger(&config).map_err(|e| {
        anyhow::anyhow!(
            "{e}\n(the vault records what it does in the ledger: stop the gateway serving this \
             folder, then run this again)"
        )
    })?;
    let vault = Vault::open(&settings.dir, &settings.subject, &commit_key)?;
    Ok(Opened {
        config,
        ledger,
        vault,
        commit_key,
    })
}

/// Appends `drafts` to the folder's ledger, durably.
fn record(
    ledger: &auditgate_ledger::Ledger,
    drafts: Vec<auditgate_ledger::Draft>,
) -> anyhow::Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for draft in drafts {
        seqs.push(ledger.append(draft)?.seq);
    }
    Ok(seqs)
}

fn read_entry(config: &Config, seq: u64) -> anyhow::Result<Value> {
    let mut found = None;
    let options = VerifyOptions {
        check_signatures: false,
        ..VerifyOptions::default()
    };
    verify::verify_dir_visiting(&config.ledger.dir, Vec::new(), None, options, &mut |v| {
        if v.seq == seq {
            found = serde_json::from_slice::<Value>(v.bytes).ok();
        }
    })
    .map_err(|e| anyhow::anyhow!("reading the ledger {}: {e}", config.ledger.dir.display()))?;
    found.with_context(|| format!("the ledger has no entry {seq}"))
}

fn reveal(who: &Operator, seq: u64, as_json: bool) -> anyhow::Result<ExitCode> {
    let opened = open(who)?;
    let entry = read_entry(&opened.config, seq)?;
    let items = reveal_entry(&opened.vault, &entry, &opened.commit_key)?;
    let revealed: Vec<String> = items
        .iter()
        .filter(|i| matches!(i.revealed, Revealed::Value(_)))
        .map(|i| i.committed.commitment.clone())
        .collect();
    let recorded = if revealed.is_empty() {
        None
    } else {
        let draft = events::vault_revealed(seq, &revealed, &who.name(), who.reason.as_deref());
        record(&opened.ledger, vec![draft])?.first().copied()
    };
    let kind = entry["kind"].as_str().unwrap_or_default();
    if as_json {
        let out = json!({
            "seq": seq, "kind": kind,
            "items": items.iter().map(item_json).collect::<Vec<_>>(),
            "recorded_seq": recorded,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "entry {seq} ({kind}{}): {} committed value(s)",
            entry["tool"]
                .as_str()
                .map(|t| format!(", tool {t}"))
                .unwrap_or_default(),
            items.len()
        );
        for item in &items {
            println!("  {}  {}", item.committed.path, describe(&item.revealed));
        }
        if let Some(s) = recorded {
            println!("recorded as vault.revealed at seq {s}");
        }
    }
    opened.ledger.close();
    let refused = items
        .iter()
        .any(|i| !matches!(i.revealed, Revealed::Value(_)));
    Ok(if refused && revealed.is_empty() && !items.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn describe(revealed: &Revealed) -> String {
    match revealed {
        Revealed::Value(v) => format!("{v}  (matches its commitment)"),
        Revealed::Erased { key_id } => {
            format!("erased: the subject's key {key_id} was destroyed (vault.erased)")
        }
        Revealed::Mismatch => "REFUSED: the vault record does not match the commitment".into(),
        Revealed::NotKept => "not kept: the call named no data subject".into(),
    }
}

fn item_json(item: &RevealedItem) -> Value {
    let (state, value) = match &item.revealed {
        Revealed::Value(v) => ("revealed", Some(v.clone())),
        Revealed::Erased { .. } => ("erased", None),
        Revealed::Mismatch => ("mismatch", None),
        Revealed::NotKept => ("not_kept", None),
    };
    json!({"path": item.committed.path, "commitment": item.committed.commitment,
           "state": state, "value": value})
}

fn erase(who: &Operator, subject: &Value, as_json: bool) -> anyhow::Result<ExitCode> {
    let opened = open(who)?;
    let Some(plan) = opened.vault.erasure(subject)? else {
        bail!("the vault holds no key for this subject (nothing kept for it, or erased already)");
    };
    // Recorded first, then destroyed: a failure in between leaves the key, and running the
    // command again records and destroys it (never a destroyed key without its entry).
    let drafts = events::vault_erased(
        &plan.key_id,
        &plan.commitments,
        &who.name(),
        who.reason.as_deref(),
    );
    let seqs = record(&opened.ledger, drafts)?;
    opened
        .vault
        .destroy(subject)?
        .context("the subject's key disappeared while erasing")?;
    opened.ledger.close();
    if as_json {
        let out = json!({"key_id": plan.key_id, "commitments": plan.commitments.len(),
                         "recorded_seqs": seqs});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "erased the subject's key {}: {} committed value(s) can no longer be revealed \
             (vault.erased at seq {})",
            plan.key_id,
            plan.commitments.len(),
            seqs.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

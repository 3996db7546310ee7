//! `auditgate-verify replay`: one session's timeline in the terminal, or as a self-contained
//! HTML page (`--html FILE`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::event::{self, Entry};
use crate::reader::{self, Provenance};
use crate::summary::emit;
use crate::{replay_html, replay_text, timeline};

/// Runs the command.
pub fn run(
    path: &Path,
    pubkey: Option<&str>,
    session: &str,
    html: Option<&Path>,
) -> Result<ExitCode> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut policy: Option<Entry> = None;
    let provenance = match reader::for_each(path, pubkey, &mut |e: Entry| {
        if e.session() == Some(session) {
            entries.push(e);
        } else if event::sets_policy(&e.kind) && entries.is_empty() {
            policy = Some(e);
        }
    })? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    if let Some(p) = policy {
        entries.insert(0, p);
    }
    let Some(tl) = timeline::build(session, &entries) else {
        bail!(
            "no session.open for session {session:?} in {} (list sessions with `auditgate-verify sessions`)",
            path.display()
        );
    };
    let note = provenance.note(path);
    match html {
        Some(file) => {
            let page = replay_html::render(&tl, &note, provenance == Provenance::Verified);
            std::fs::write(file, page).with_context(|| format!("writing {}", file.display()))?;
            emit(&format!(
                "wrote {} ({} steps of session {session})\n",
                file.display(),
                tl.steps.len()
            ));
        }
        None => emit(&replay_text::render(&tl, &note, replay_text::Paint::auto())),
    }
    Ok(ExitCode::SUCCESS)
}

//! The README an auditor finds in a bundle: what it holds and how to check it.

use std::fmt::Write as _;

use auditgate_ledger::Report;
use serde_json::Value;

use crate::event::{self, Entry};

/// The README text of a bundle.
pub fn text(report: &Report, entries: &[Entry], selected: u64, selection: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# auditgate evidence bundle\n");
    let _ = writeln!(
        o,
        "This directory holds {} entries of the audit ledger `{}` (ledger id `{}`), {} of them \
         selected by the filters below and the rest included as context (the ledger's genesis \
         and key rotations, the gateway start, policy and tool catalog in force, the sessions' \
         opening entries, and the requests, results and interruptions belonging to selected calls).\n",
        entries.len(),
        report.origin,
        report.ledger_id,
        selected
    );
    let _ = writeln!(o, "Selection: `{selection}`\n");
    let sessions: Vec<&str> = entries
        .iter()
        .filter(|e| e.kind == event::SESSION_OPEN)
        .filter_map(|e| e.session())
        .collect();
    if !sessions.is_empty() {
        let _ = writeln!(o, "Sessions: {}\n", sessions.join(", "));
    }
    if let (Some(a), Some(b)) = (entries.first(), entries.last()) {
        let _ = writeln!(o, "Entries from {} to {}.\n", a.ts, b.ts);
    }
    let _ = writeln!(o, "## How to check it\n");
    let _ = writeln!(
        o,
        "Obtain the ledger's public key from its operator by a channel you trust (not from \
         `keys.txt` in this directory), then run\n\n    auditgate-verify verify . --pubkey KEY\n"
    );
    let _ = writeln!(
        o,
        "It checks that every entry in `entries.jsonl` is, byte for byte, the entry of that \
         `seq` in the ledger whose checkpoint (`checkpoint.txt`, of {} entries) was signed with \
         the key, by the inclusion proof in `proofs.jsonl`; that the key chain from the \
         ledger's genesis to the checkpoint is intact; that every file matches `MANIFEST.json`; \
         and that the gateway's rules (a result or an interruption answers a forwarded request, \
         once; sessions are open; the policy in force is the one loaded) hold wherever both \
         ends are here. One \
         changed byte anywhere makes it fail.\n",
        report.entries
    );
    let _ = writeln!(o, "## Files\n");
    for (f, what) in [
        (
            "entries.jsonl",
            "the entries, exactly as stored, one per line (evidence)",
        ),
        (
            "proofs.jsonl",
            "one RFC 6962 inclusion proof per entry (evidence)",
        ),
        (
            "checkpoint.txt",
            "the signed checkpoint the proofs lead to (evidence)",
        ),
        (
            "rotations.jsonl",
            "proofs of key rotations, if the ledger rotated its key",
        ),
        ("keys.txt", "the keys the ledger used (informational)"),
        (
            "policies/",
            "the policy files in force, named by their BLAKE3 hash",
        ),
        (
            "ocsf.jsonl",
            "OCSF API Activity events, if exported (derived)",
        ),
        ("summary.csv", "one row per call, if exported (derived)"),
        (
            "MANIFEST.json",
            "what the bundle holds, with the hashes of every file",
        ),
    ] {
        let _ = writeln!(o, "- `{f}`: {what}");
    }
    let _ = writeln!(
        o,
        "\nA bundle proves that what it holds is in the ledger; it cannot prove that nothing \
         was left out. The format is specified in auditgate's `docs/evidence-bundle.md`."
    );
    o
}

//! `auditgate-verify sessions`: one line per session — principal, client, transport, start and
//! end, calls counted by outcome — then a line per interrupted call (forwarded, outcome unknown).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{Value, json};

use crate::event::{self, Entry};
use crate::reader;
use crate::summary::emit;

/// One session's row.
#[derive(Debug, Clone)]
struct Row {
    session: String,
    principal: String,
    client: String,
    transport: String,
    opened: String,
    /// Close time and reason, or `None` (open at the end, or cut by a restart).
    closed: Option<(String, String)>,
    ended_by_restart: Option<u64>,
    listings: u64,
    calls: u64,
    outcomes: BTreeMap<String, u64>,
    interrupted: Vec<Interruption>,
}

/// A call of the session recorded as interrupted (`call.interrupted`).
#[derive(Debug, Clone)]
struct Interruption {
    request_seq: u64,
    tool: String,
    approval_id: Option<String>,
    interrupted_seq: u64,
}

impl Interruption {
    fn json(&self) -> Value {
        json!({"seq": self.request_seq, "tool": self.tool, "approval_id": self.approval_id,
               "interrupted_seq": self.interrupted_seq})
    }

    fn line(&self, session: &str) -> String {
        format!(
            "interrupted #{} {} in session {session}: {}",
            self.request_seq,
            self.tool,
            event::interrupted_text(
                self.approval_id.is_some(),
                &format!("; call.interrupted #{}", self.interrupted_seq)
            )
        )
    }
}

/// The order outcomes are listed in.
const ORDER: [&str; 9] = [
    "ok",
    "tool_error",
    "upstream_error",
    "no_result",
    "interrupted",
    "blocked",
    "approval_pending",
    "invalid_args",
    "unknown_tool",
];

/// Runs the command.
pub fn run(path: &Path, pubkey: Option<&str>, as_json: bool) -> Result<ExitCode> {
    let mut rows: Vec<Row> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // Requests whose result may still come: seq → (row, the count it sits in until then).
    let mut awaiting: HashMap<u64, (usize, &'static str)> = HashMap::new();
    let provenance = match reader::for_each(path, pubkey, &mut |e: Entry| {
        if e.kind == event::GATEWAY_START {
            for r in rows
                .iter_mut()
                .filter(|r| r.closed.is_none() && r.ended_by_restart.is_none())
            {
                r.ended_by_restart = Some(e.seq);
            }
            return;
        }
        let Some(sid) = e.session().map(str::to_owned) else {
            return;
        };
        if e.kind == event::SESSION_OPEN {
            let client = event::client_label(e.get("client")).unwrap_or_else(|| "-".into());
            index.insert(sid.clone(), rows.len());
            rows.push(Row {
                session: sid,
                principal: e.str("principal").unwrap_or("-").to_owned(),
                client,
                transport: e.str("transport").unwrap_or("-").to_owned(),
                opened: e.ts.clone(),
                closed: None,
                ended_by_restart: None,
                listings: 0,
                calls: 0,
                outcomes: BTreeMap::new(),
                interrupted: Vec::new(),
            });
            return;
        }
        let Some(&i) = index.get(&sid) else {
            return;
        };
        let row = &mut rows[i];
        match e.kind.as_str() {
            event::SESSION_CLOSE => {
                row.closed = Some((e.ts.clone(), e.str("reason").unwrap_or("-").to_owned()));
            }
            event::TOOLS_LISTED => row.listings += 1,
            event::CALL_REQUEST => {
                row.calls += 1;
                let d = e.str("disposition").unwrap_or("-");
                let sits = match d {
                    "forward" => Some("no_result"),
                    "approval_pending" => Some("approval_pending"),
                    _ => None,
                };
                if let Some(k) = sits {
                    awaiting.insert(e.seq, (i, k));
                }
                *row.outcomes
                    .entry(sits.unwrap_or(d).to_owned())
                    .or_default() += 1;
            }
            event::CALL_RESULT | event::CALL_INTERRUPTED => {
                if let Some(req) = e.get("request_seq").as_u64()
                    && let Some((_, sat)) = awaiting.remove(&req)
                {
                    if let Some(n) = row.outcomes.get_mut(sat) {
                        *n -= 1;
                        if *n == 0 {
                            row.outcomes.remove(sat);
                        }
                    }
                    let o = if e.kind == event::CALL_INTERRUPTED {
                        row.interrupted.push(Interruption {
                            request_seq: req,
                            tool: e.str("tool").unwrap_or("-").to_owned(),
                            approval_id: e.str("approval_id").map(str::to_owned),
                            interrupted_seq: e.seq,
                        });
                        "interrupted"
                    } else {
                        e.str("outcome").unwrap_or("-")
                    };
                    *row.outcomes.entry(o.to_owned()).or_default() += 1;
                }
            }
            _ => {}
        }
    })? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    if as_json {
        let list: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "session": r.session, "principal": r.principal, "client": r.client,
                    "transport": r.transport, "opened": r.opened,
                    "closed": r.closed.as_ref().map(|c| &c.0),
                    "close_reason": r.closed.as_ref().map(|c| &c.1),
                    "ended_by_restart_at": r.ended_by_restart,
                    "listings": r.listings, "calls": r.calls, "outcomes": r.outcomes,
                    "interrupted": r.interrupted.iter().map(Interruption::json).collect::<Vec<_>>(),
                })
            })
            .collect();
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({
                "verified": provenance == reader::Provenance::Verified,
                "sessions": list,
            }))?
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let mut o = String::new();
    let _ = writeln!(o, "{}", provenance.note(path));
    let _ = writeln!(
        o,
        "{:<32}  {:<16}  {:<18}  {:<9}  {:<23}  {:<30}  {:>5}  {:>5}  outcomes",
        "SESSION", "PRINCIPAL", "CLIENT", "TRANSPORT", "START (UTC)", "END", "LISTS", "CALLS"
    );
    for r in &rows {
        let end = match (&r.closed, r.ended_by_restart) {
            (Some((t, why)), _) => format!("{} ({why})", short(t)),
            (None, Some(seq)) => format!("- (gateway restart, #{seq})"),
            (None, None) => "- (open at the end)".into(),
        };
        let outcomes: Vec<String> = ORDER
            .iter()
            .filter_map(|k| r.outcomes.get(*k).map(|n| format!("{k} {n}")))
            .chain(
                r.outcomes
                    .iter()
                    .filter(|(k, _)| !ORDER.contains(&k.as_str()))
                    .map(|(k, n)| format!("{k} {n}")),
            )
            .collect();
        let _ = writeln!(
            o,
            "{:<32}  {:<16}  {:<18}  {:<9}  {:<23}  {:<30}  {:>5}  {:>5}  {}",
            r.session,
            r.principal,
            r.client,
            r.transport,
            short(&r.opened),
            end,
            r.listings,
            r.calls,
            if outcomes.is_empty() {
                "-".into()
            } else {
                outcomes.join(", ")
            }
        );
    }
    for r in &rows {
        for i in &r.interrupted {
            let _ = writeln!(o, "{}", i.line(&r.session));
        }
    }
    let _ = writeln!(o, "{} session(s)", rows.len());
    emit(&o);
    Ok(ExitCode::SUCCESS)
}

/// `2026-11-21T09:00:00.250095000Z` → `2026-11-21 09:00:00.250`.
fn short(ts: &str) -> String {
    match ts.get(..23) {
        Some(s) => s.replacen('T', " ", 1),
        None => ts.to_owned(),
    }
}

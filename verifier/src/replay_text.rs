//! `replay` in the terminal: a session's timeline, one step per block — what the agent was
//! shown, each call with its decision, approval, outcome and latency, and what was redacted.

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use serde_json::Value;

use crate::rfc3339;
use crate::timeline::{Status, Timeline};

/// ANSI colours, or none when stdout is not a terminal (or `NO_COLOR` is set).
#[derive(Debug, Clone, Copy)]
pub struct Paint(bool);

impl Paint {
    /// Colours only on a terminal.
    pub fn auto() -> Self {
        Paint(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
    }

    fn wrap(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    fn status(self, st: Status, s: &str) -> String {
        let code = match st {
            Status::Ok => "32",
            Status::ToolError | Status::UpstreamError | Status::Blocked | Status::UnknownTool => {
                "31"
            }
            Status::ApprovalPending
            | Status::InvalidArgs
            | Status::NoResult
            | Status::Interrupted => "33",
            Status::Info => "36",
        };
        self.wrap(code, s)
    }

    fn dim(self, s: &str) -> String {
        self.wrap("2", s)
    }

    fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }
}

fn mark(st: Status) -> &'static str {
    match st {
        Status::Info => "•",
        Status::Ok => "✓",
        Status::ToolError | Status::UpstreamError | Status::Blocked => "✗",
        Status::ApprovalPending => "⧗",
        Status::InvalidArgs => "!",
        Status::UnknownTool => "?",
        Status::NoResult => "…",
        Status::Interrupted => "↯",
    }
}

/// A JSON value on one line, redaction markers made readable, cut to `max` characters.
pub fn compact(v: &Value, max: usize) -> String {
    fn go(v: &Value, out: &mut String) {
        match v {
            Value::String(s) if s == auditgate_policy::MASK => out.push_str("«masked»"),
            Value::Object(m) if m.len() == 1 && m.contains_key(auditgate_policy::COMMIT_MEMBER) => {
                let c = m
                    .get(auditgate_policy::COMMIT_MEMBER)
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let short: String = c.chars().take(16).collect();
                let _ = write!(out, "«committed {short}…»");
            }
            Value::Object(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{}: ", Value::String(k.clone()));
                    go(v, out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    go(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    go(v, &mut s);
    if s.chars().count() > max {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// The terminal rendering of a timeline.
pub fn render(tl: &Timeline, source_note: &str, p: Paint) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", p.bold(&format!("Session {}", tl.session)));
    let _ = writeln!(
        o,
        "  principal  {} (roles: {})",
        tl.principal,
        tl.roles.join(", ")
    );
    let _ = writeln!(
        o,
        "  client     {} over {}, MCP {}",
        tl.client, tl.transport, tl.protocol
    );
    if let Some(t) = &tl.opened {
        let _ = writeln!(o, "  opened     {t}");
    }
    match &tl.closed {
        Some((t, why)) => {
            let _ = writeln!(o, "  closed     {t} ({why})");
        }
        None => {
            let _ = writeln!(
                o,
                "  closed     not in the ledger (still open, or the gateway stopped)"
            );
        }
    }
    if let Some((file, hash)) = &tl.policy {
        let _ = writeln!(o, "  policy     {file} {hash}");
    }
    let counts: Vec<String> = tl
        .counts()
        .iter()
        .map(|(s, n)| p.status(*s, &format!("{n} {}", s.label())))
        .collect();
    let _ = writeln!(
        o,
        "  calls      {}",
        if counts.is_empty() {
            "none".into()
        } else {
            counts.join(" · ")
        }
    );
    let _ = writeln!(o, "  source     {source_note}");
    let _ = writeln!(o);
    for s in &tl.steps {
        let when = format!("{:>10}", format!("+{:.3}s", s.offset_ns as f64 / 1e9));
        let head = format!("{} {}", mark(s.status), s.title);
        let tail = if s.kind == "call" {
            let mut t = s.status.label().to_owned();
            if let Some(l) = s.latency_us {
                t.push_str(&format!(
                    " · {}",
                    rfc3339::human_duration(i128::from(l) * 1000)
                ));
            }
            format!("   {}", p.status(s.status, &t))
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "{}  {:<6} {}{}",
            p.dim(&when),
            format!("#{}", s.seq),
            p.status(s.status, &head),
            tail
        );
        let pad = " ".repeat(20);
        if let Some((tier, rule, reason)) = &s.decision {
            let by = rule
                .as_deref()
                .map_or("defaults".to_owned(), |r| format!("rule {r}"));
            let _ = writeln!(o, "{pad}decision  {tier} by {by}: {reason}");
        }
        if let Some(a) = &s.args {
            let _ = writeln!(o, "{pad}args      {}", compact(a, 110));
        }
        if let Some(r) = &s.result {
            let seq = s.result_seq.map_or(String::new(), |q| format!("  (#{q})"));
            let _ = writeln!(o, "{pad}result    {}{seq}", compact(r, 110));
        }
        for d in &s.details {
            // Multi-line details (Convex error messages) stay inside the step's column.
            let _ = writeln!(o, "{pad}{}", d.replace('\n', &format!("\n{pad}  ")));
        }
        for r in &s.redactions {
            let _ = writeln!(
                o,
                "{pad}{}",
                p.dim(&format!(
                    "redacted  {} {} ({} by {})",
                    r.side, r.path, r.mode, r.by
                ))
            );
        }
    }
    o
}

//! `replay --html`: one self-contained HTML page (inline CSS and JS, no external assets) with
//! the session's timeline, filters by outcome, and redacted values marked as such.

use std::fmt::Write as _;

use serde_json::Value;

use crate::rfc3339;
use crate::timeline::{Status, Step, Timeline};

const CSS: &str = include_str!("assets/replay.css");
const JS: &str = include_str!("assets/replay.js");

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The colour family of a status.
fn family(st: Status) -> &'static str {
    match st {
        Status::Ok => "s-ok",
        Status::ToolError | Status::UpstreamError | Status::Blocked | Status::UnknownTool => {
            "s-bad"
        }
        Status::ApprovalPending | Status::InvalidArgs | Status::NoResult | Status::Interrupted => {
            "s-warn"
        }
        Status::Info => "s-info",
    }
}

/// A JSON value pretty-printed as HTML, masked and committed values shown as redaction badges.
fn json_html(v: &Value, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent + 1);
    let end = "  ".repeat(indent);
    match v {
        Value::String(s) if s == auditgate_policy::MASK => out.push_str(
            "<span class=\"redacted\" title=\"masked by the audit policy: the value is not in the ledger\">masked</span>",
        ),
        Value::Object(m) if m.len() == 1 && m.contains_key(auditgate_policy::COMMIT_MEMBER) => {
            let c = m
                .get(auditgate_policy::COMMIT_MEMBER)
                .and_then(Value::as_str)
                .unwrap_or("");
            let _ = write!(
                out,
                "<span class=\"redacted\" title=\"committed by the audit policy: the ledger holds a keyed hash ({}), not the value\">committed</span>",
                esc(c)
            );
        }
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        Value::Object(m) => {
            out.push_str("{\n");
            for (i, (k, v)) in m.iter().enumerate() {
                let _ = write!(out, "{pad}<span class=\"j-k\">{}</span>: ", esc(&Value::String(k.clone()).to_string()));
                json_html(v, indent + 1, out);
                out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
            }
            let _ = write!(out, "{end}}}");
        }
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Array(a) => {
            out.push_str("[\n");
            for (i, v) in a.iter().enumerate() {
                out.push_str(&pad);
                json_html(v, indent + 1, out);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            let _ = write!(out, "{end}]");
        }
        Value::String(_) => {
            let _ = write!(out, "<span class=\"j-s\">{}</span>", esc(&v.to_string()));
        }
        Value::Number(_) => {
            let _ = write!(out, "<span class=\"j-n\">{v}</span>");
        }
        _ => {
            let _ = write!(out, "<span class=\"j-l\">{v}</span>");
        }
    }
}

/// `removed`: (path, mode) of redactions that leave no marker in the value (`drop`, and modes
/// the gateway adds such as `keys-only`), shown under it.
fn io_box(label: &str, v: &Value, removed: &[(String, String)], out: &mut String) {
    let _ = write!(
        out,
        "<div class=\"box\"><div class=\"lbl\">{}</div><pre class=\"json\">",
        esc(label)
    );
    json_html(v, 0, out);
    out.push_str("</pre>");
    for (path, mode) in removed {
        let mode = if mode == "drop" {
            "dropped"
        } else {
            mode.as_str()
        };
        let _ = write!(
            out,
            "<div class=\"dropped\"><span class=\"redacted\" title=\"redacted by the audit policy ({m}): the value is not in the ledger\">{m}</span> {}</div>",
            esc(path),
            m = esc(mode)
        );
    }
    out.push_str("</div>");
}

fn step_html(s: &Step, max_latency: u64, out: &mut String) {
    let fam = family(s.status);
    let text = format!(
        "{} {} {}",
        s.title,
        s.status.label(),
        s.decision
            .as_ref()
            .map(|(t, r, why)| format!("{t} {} {why}", r.as_deref().unwrap_or("")))
            .unwrap_or_default()
    )
    .to_lowercase();
    let _ = write!(
        out,
        "<section class=\"step {fam}\" data-status=\"{}\" data-text=\"{}\">",
        s.status.name(),
        esc(&text)
    );
    let title = match s.title.split_once("  ") {
        Some((tool, rest)) => format!("{} <span class=\"fn\">{}</span>", esc(tool), esc(rest)),
        None => esc(&s.title),
    };
    let _ = write!(
        out,
        "<div class=\"row1\"><span class=\"when\" title=\"{}\">+{:.3} s</span><span class=\"seq\">#{}</span><span class=\"title\">{title}</span><span class=\"pill {fam}\">{}</span></div>",
        esc(&s.ts),
        s.offset_ns as f64 / 1e9,
        s.seq,
        esc(s.status.label())
    );
    if let Some(l) = s.latency_us {
        // Log scale: a 30 s timeout and a 20 ms query both stay readable.
        let w = ((l.max(1) as f64).ln() / (max_latency.max(2) as f64).ln() * 260.0).max(3.0);
        let _ = write!(
            out,
            "<div class=\"latency\"><span class=\"bar\" style=\"width:{w:.0}px\"></span>{}{}</div>",
            esc(&rfc3339::human_duration(i128::from(l) * 1000)),
            s.result_seq
                .map_or(String::new(), |q| format!(" upstream · result #{q}"))
        );
    }
    if let Some((tier, rule, reason)) = &s.decision {
        let by = match rule {
            Some(r) => format!("rule <span class=\"rule\">{}</span>", esc(r)),
            None => "the policy's defaults".into(),
        };
        let _ = write!(
            out,
            "<div class=\"decision\"><span class=\"tier {t}\">{t}</span>by {by} — <span class=\"reason\">{}</span></div>",
            esc(reason),
            t = esc(tier)
        );
    }
    if !s.details.is_empty() {
        out.push_str("<ul class=\"details\">");
        for d in &s.details {
            let class = if d.starts_with("error:") || d.starts_with("invalid:") {
                " class=\"err\""
            } else {
                ""
            };
            let _ = write!(out, "<li{class}>{}</li>", esc(d));
        }
        out.push_str("</ul>");
    }
    let dropped = |side: &str| -> Vec<(String, String)> {
        s.redactions
            .iter()
            .filter(|r| r.side == side && r.mode != "mask" && r.mode != "commit")
            .map(|r| (r.path.clone(), r.mode.clone()))
            .collect()
    };
    if s.args.is_some() || s.result.is_some() {
        let one = if s.args.is_some() && s.result.is_some() {
            ""
        } else {
            " one"
        };
        let _ = write!(out, "<div class=\"io{one}\">");
        if let Some(a) = &s.args {
            io_box("arguments (as recorded)", a, &dropped("args"), out);
        }
        if let Some(r) = &s.result {
            io_box("result (as recorded)", r, &dropped("result"), out);
        }
        out.push_str("</div>");
    }
    out.push_str("</section>\n");
}

/// The whole page.
pub fn render(tl: &Timeline, source_note: &str, verified: bool) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Session {} — auditgate replay</title><style>{CSS}</style></head><body>\n",
        esc(&tl.session)
    );
    let (prov_class, prov) = if verified {
        ("verified", "verified")
    } else {
        ("unverified", "NOT verified")
    };
    let _ = write!(
        o,
        "<header class=\"top\"><h1>Session replay <span class=\"sid\">{}</span><span class=\"prov {prov_class}\" title=\"{}\">{prov}</span></h1><div class=\"sub\">{} · {} over {}</div></header>\n<main>\n",
        esc(&tl.session),
        esc(source_note),
        esc(&tl.principal),
        esc(&tl.client),
        esc(&tl.transport)
    );
    let span = match (&tl.opened, &tl.closed) {
        (Some(a), Some((b, _))) => {
            rfc3339::human_duration(rfc3339::ledger_nanos(b) - rfc3339::ledger_nanos(a))
        }
        _ => "—".into(),
    };
    let when = |t: &str| match t.get(..23) {
        Some(s) => format!("{} UTC", s.replacen('T', " ", 1)),
        None => t.to_owned(),
    };
    let closed = match &tl.closed {
        Some((t, why)) => format!("{} ({why})", when(t)),
        None => "not recorded".into(),
    };
    o.push_str("<div class=\"facts\">");
    for (k, v, mono) in [
        ("principal", tl.principal.clone(), false),
        ("roles", tl.roles.join(", "), false),
        (
            "client",
            format!("{} · MCP {}", tl.client, tl.protocol),
            false,
        ),
        (
            "opened",
            tl.opened.as_deref().map(when).unwrap_or_default(),
            true,
        ),
        ("closed", closed, true),
        ("duration", span, false),
        (
            "policy",
            tl.policy.as_ref().map_or("—".into(), |(f, h)| {
                let short: String = h.chars().take(23).collect();
                format!("{f} · {short}…")
            }),
            true,
        ),
        ("source", source_note.to_owned(), false),
    ] {
        let _ = write!(
            o,
            "<div class=\"fact\"><div class=\"k\">{k}</div><div class=\"v{}\">{}</div></div>",
            if mono { " mono" } else { "" },
            esc(&v)
        );
    }
    o.push_str(
        "</div>\n<div class=\"toolbar\"><span class=\"chip s-info\" id=\"all\">show all</span>",
    );
    let mut statuses: Vec<(Status, usize)> = Vec::new();
    for s in &tl.steps {
        match statuses.iter_mut().find(|(st, _)| *st == s.status) {
            Some((_, n)) => *n += 1,
            None => statuses.push((s.status, 1)),
        }
    }
    statuses.sort();
    for (st, n) in &statuses {
        let _ = write!(
            o,
            "<span class=\"chip {}\" data-status=\"{}\" title=\"show or hide\">{}<span class=\"n\">{n}</span></span>",
            family(*st),
            st.name(),
            esc(st.label())
        );
    }
    o.push_str("<input id=\"q\" type=\"search\" placeholder=\"filter by tool, rule, reason…\"><span id=\"shown\" class=\"reason\"></span></div>\n<div class=\"timeline\">\n");
    let max_latency = tl
        .steps
        .iter()
        .filter_map(|s| s.latency_us)
        .max()
        .unwrap_or(1);
    for s in &tl.steps {
        step_html(s, max_latency, &mut o);
    }
    o.push_str("</div>\n<p class=\"legend\"><span class=\"redacted\">masked</span> <span class=\"redacted\">committed</span> <span class=\"redacted\">dropped</span> mark values the audit policy redacted before they reached the ledger: masked and dropped values are not in it; committed ones are held as keyed hashes that an auditor with the commit key can match. Arguments and results are shown as the ledger holds them.</p>\n</main>\n");
    let _ = write!(
        o,
        "<footer>auditgate-verify replay · {}</footer>\n<script>{JS}</script>\n</body></html>\n",
        esc(source_note)
    );
    o
}

//! The CSV summary of a bundle: one RFC 4180 row per `call.request` (`docs/evidence-bundle.md`
//! §6), for a spreadsheet. An interrupted call's `outcome` says so in words.

use crate::event::{self, Entry};

const HEADER: [&str; 12] = [
    "seq",
    "ts",
    "session",
    "principal",
    "tool",
    "function_path",
    "tier",
    "rule",
    "disposition",
    "outcome",
    "latency_us",
    "result_seq",
];

/// The CSV text for `entries` (a bundle's, in seq order).
pub fn summary(entries: &[Entry]) -> String {
    let results = event::by_request_seq(entries, event::CALL_RESULT);
    let interruptions = event::by_request_seq(entries, event::CALL_INTERRUPTED);
    let mut out = String::new();
    row(&mut out, HEADER.iter().map(|s| (*s).to_owned()));
    for e in entries.iter().filter(|e| e.kind == event::CALL_REQUEST) {
        let result = results.get(&e.seq);
        let outcome = match (result, interruptions.get(&e.seq)) {
            (Some(r), _) => r.str("outcome").unwrap_or("").to_owned(),
            (None, Some(i)) => {
                event::interrupted_text(i.get("approved") == &serde_json::Value::Bool(true), "")
            }
            (None, None) => String::new(),
        };
        let decision = e.get("decision");
        let opt = |v: &serde_json::Value| match v {
            serde_json::Value::Null => String::new(),
            other => event::plain(other),
        };
        row(
            &mut out,
            [
                e.seq.to_string(),
                e.ts.clone(),
                e.session().unwrap_or("").to_owned(),
                e.str("principal").unwrap_or("").to_owned(),
                e.str("tool").unwrap_or("").to_owned(),
                e.str("function_path").unwrap_or("").to_owned(),
                opt(&decision["tier"]),
                opt(&decision["rule"]),
                e.str("disposition").unwrap_or("").to_owned(),
                outcome,
                result.map_or(String::new(), |r| opt(r.get("latency_us"))),
                result.map_or(String::new(), |r| r.seq.to_string()),
            ]
            .into_iter(),
        );
    }
    out
}

fn row(out: &mut String, fields: impl Iterator<Item = String>) {
    let fields: Vec<String> = fields.map(|f| quote(&f)).collect();
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

/// RFC 4180 quoting: only where needed, doubling inner quotes.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
    }
}

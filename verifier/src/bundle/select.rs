//! Which entries a bundle holds (`docs/evidence-bundle.md` §2): the entries matching every
//! filter, plus the context that lets the bundle stand alone (genesis and key rotations, the
//! gateway start, policy and catalog in force, the sessions' opens, and the requests, results,
//! interruptions and approval entries of selected calls).

use std::collections::{BTreeSet, HashMap, HashSet};

use auditgate_ledger::canonical;
use auditgate_ledger::timestamp::Timestamp;
use auditgate_ledger::verify::{KIND_GENESIS, KIND_KEY_ROTATED};
use serde_json::{Value, json};

use crate::event;

/// The filters of `export` (empty lists and `None` match everything).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Session ids.
    pub sessions: Vec<String>,
    /// Principals.
    pub principals: Vec<String>,
    /// Tool names.
    pub tools: Vec<String>,
    /// Inclusive lower bound on `ts`.
    pub since: Option<Timestamp>,
    /// Exclusive upper bound on `ts`.
    pub until: Option<Timestamp>,
}

impl Filters {
    /// The `selection` member of the manifest.
    pub fn to_json(&self) -> Value {
        json!({
            "session": self.sessions,
            "principal": self.principals,
            "tool": self.tools,
            "since": self.since.map(|t| t.to_string()),
            "until": self.until.map(|t| t.to_string()),
        })
    }
}

/// The selection pass: feed every entry of a verified ledger in order.
#[derive(Debug)]
pub struct Selector {
    filters: Filters,
    /// Seqs the bundle holds.
    pub include: BTreeSet<u64>,
    /// How many of them matched the filters.
    pub selected: u64,
    /// Rotation entries (their checkpoints are proven separately).
    pub rotations: Vec<u64>,
    start: Option<u64>,
    policy: Option<u64>,
    catalog: Option<u64>,
    opens: HashMap<String, (u64, String)>,
    selected_requests: HashSet<u64>,
}

impl Selector {
    /// A selector for `filters`.
    pub fn new(filters: Filters) -> Self {
        Selector {
            filters,
            include: BTreeSet::new(),
            selected: 0,
            rotations: Vec::new(),
            start: None,
            policy: None,
            catalog: None,
            opens: HashMap::new(),
            selected_requests: HashSet::new(),
        }
    }

    /// Feeds the next entry's stored bytes.
    pub fn feed(&mut self, seq: u64, ts: &Timestamp, bytes: &[u8]) {
        let Ok(obj) = canonical::check(bytes) else {
            return;
        };
        let Some(kind) = obj.get_str("kind") else {
            return;
        };
        let session = obj.get_str("session");
        match kind.as_ref() {
            KIND_GENESIS => {
                self.include.insert(seq);
            }
            KIND_KEY_ROTATED => {
                self.include.insert(seq);
                self.rotations.push(seq);
            }
            event::GATEWAY_START => self.start = Some(seq),
            k if event::sets_policy(k) => self.policy = Some(seq),
            k if event::sets_catalog(k) => self.catalog = Some(seq),
            event::SESSION_OPEN => {
                if let Some(s) = &session {
                    let principal = obj.get_str("principal").unwrap_or_default();
                    self.opens
                        .insert(s.to_string(), (seq, principal.into_owned()));
                }
            }
            _ => {}
        }
        let opened = session.as_deref().and_then(|s| self.opens.get(s));
        let f = &self.filters;
        let principal = obj.get_str("principal");
        let matches = (f.sessions.is_empty()
            || session
                .as_deref()
                .is_some_and(|s| f.sessions.iter().any(|x| x == s)))
            && (f.principals.is_empty()
                || opened.is_some_and(|(_, p)| f.principals.contains(p))
                || principal
                    .as_deref()
                    .is_some_and(|p| f.principals.iter().any(|x| x == p)))
            && (f.tools.is_empty()
                || (matches!(
                    kind.as_ref(),
                    event::CALL_REQUEST | event::CALL_RESULT | event::CALL_INTERRUPTED
                ) && obj
                    .get_str("tool")
                    .is_some_and(|t| f.tools.iter().any(|x| *x == *t))))
            && f.since.is_none_or(|t| *ts >= t)
            && f.until.is_none_or(|t| *ts < t);
        let request_seq = obj.get_u64("request_seq");
        if matches {
            self.selected += 1;
            self.include.insert(seq);
            let open = opened.map(|(s, _)| *s);
            for ctx in [self.start, self.policy, self.catalog, open]
                .into_iter()
                .flatten()
            {
                self.include.insert(ctx);
            }
            match kind.as_ref() {
                event::CALL_RESULT | event::CALL_INTERRUPTED => {
                    if let Some(r) = request_seq.filter(|r| *r < seq) {
                        self.include.insert(r);
                    }
                }
                event::CALL_REQUEST => {
                    self.selected_requests.insert(seq);
                }
                _ => {}
            }
        } else if (kind == event::CALL_RESULT
            || kind == event::CALL_INTERRUPTED
            || kind.starts_with("approval."))
            && request_seq.is_some_and(|r| self.selected_requests.contains(&r))
        {
            self.include.insert(seq);
        }
    }
}

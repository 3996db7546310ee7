//! The gateway invariants G1–G5 of `docs/audit-events.md` §4, checked in one pass over a
//! verified ledger (or, where both ends of a rule are present, over a bundle's subset), plus
//! the counts the human summary shows.
//!
//! G1 every `call.result` answers an earlier forwarded `call.request` of the same session and
//! request id, once; G2 every forwarded request gets a result or a `call.interrupted` (an
//! *interrupted call*, listed; with neither before a restart, a clean stop or the ledger's end it
//! is a *dangling request*: a warning); G3 session-scoped entries name an open session; G4
//! requests and listings name the policy and catalog in force (loaded at start or changed by a
//! live reload since), and each reload names the one it replaced; G5 (`interruption`) every
//! `call.interrupted` ends a forwarded call of its run that has no other end.

mod interruption;

use std::collections::{BTreeMap, HashMap};

use thiserror::Error;

use crate::approvals::Approvals;
use crate::event::{self, Facts};

/// Whether the entries are a whole ledger or a bundle's subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every entry of the ledger, in order.
    Ledger,
    /// Some entries: rules are checked only where both ends are present; G2 is not checked.
    Subset,
}

/// A broken gateway invariant: the first one makes the ledger invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Violation {
    /// G1: the result names no earlier `call.request`.
    #[error("call.result names request_seq {request_seq}, which is not an earlier call.request")]
    ResultWithoutRequest {
        /// The result.
        seq: u64,
        /// What it names.
        request_seq: u64,
    },
    /// G1: the result has no `request_seq` (or another member it must have).
    #[error("{kind} has no valid `{member}`")]
    MissingMember {
        /// The entry.
        seq: u64,
        /// Its kind.
        kind: String,
        /// The member.
        member: &'static str,
    },
    /// G1: the result's session or request id differs from its request's.
    #[error("call.result for request seq {request_seq} names another {member} than the request")]
    ResultMismatch {
        /// The result.
        seq: u64,
        /// Its request.
        request_seq: u64,
        /// `session` or `request_id`.
        member: &'static str,
    },
    /// G1: a result for a request that was not forwarded.
    #[error(
        "call.result for request seq {request_seq}, whose disposition is `{disposition}`: \
         nothing may reach Convex without an allow or a granted approval"
    )]
    ResultNotForwarded {
        /// The result.
        seq: u64,
        /// Its request.
        request_seq: u64,
        /// The request's disposition.
        disposition: String,
    },
    /// G1: a second result for one request.
    #[error("second call.result for request seq {request_seq} (the first is seq {first})")]
    DuplicateResult {
        /// The second result.
        seq: u64,
        /// Its request.
        request_seq: u64,
        /// The first result.
        first: u64,
    },
    /// G3: an entry names a session that is not open.
    #[error("{kind} names session {session}, which is not open{why}")]
    SessionNotOpen {
        /// The entry.
        seq: u64,
        /// Its kind.
        kind: String,
        /// The session.
        session: String,
        /// Why: never opened, closed at seq N, or opened before a restart.
        why: String,
    },
    /// G3: a session id opened twice.
    #[error("session {session} is opened again (first opened at seq {first})")]
    SessionReopened {
        /// The second `session.open`.
        seq: u64,
        /// The session.
        session: String,
        /// The first.
        first: u64,
    },
    /// A1–A5 (`docs/approvals.md` §5): an approval entry or a call that waited for approval.
    #[error("{why}")]
    Approval {
        /// The entry.
        seq: u64,
        /// `A1` … `A5`.
        rule: &'static str,
        /// What is wrong.
        why: String,
    },
    /// G5: the interruption names no earlier `call.request`.
    #[error(
        "call.interrupted names request_seq {request_seq}, which is not an earlier call.request"
    )]
    InterruptionWithoutRequest {
        /// The interruption.
        seq: u64,
        /// What it names.
        request_seq: u64,
    },
    /// G5: the interruption's session or request id differs from its request's.
    #[error(
        "call.interrupted for request seq {request_seq} names another {member} than the request"
    )]
    InterruptionMismatch {
        /// The interruption.
        seq: u64,
        /// Its request.
        request_seq: u64,
        /// `session` or `request_id`.
        member: &'static str,
    },
    /// G5: an interruption of a request the gateway never forwarded.
    #[error(
        "call.interrupted for request seq {request_seq}, whose disposition is `{disposition}`: \
         it was never forwarded, so nothing was in flight"
    )]
    InterruptedNotForwarded {
        /// The interruption.
        seq: u64,
        /// Its request.
        request_seq: u64,
        /// The request's disposition.
        disposition: String,
    },
    /// G5: an interruption of a request waiting for approval that was never approved.
    #[error("call.interrupted for request seq {request_seq}, yet {why}: it was never forwarded")]
    InterruptedUnapproved {
        /// The interruption.
        seq: u64,
        /// Its request.
        request_seq: u64,
        /// How far the approval got (a phrase).
        why: String,
    },
    /// G5: `approval_id` or `approved` does not match the request's approval.
    #[error("call.interrupted for request seq {request_seq}: `{member}` {why}")]
    InterruptionApprovalMismatch {
        /// The interruption.
        seq: u64,
        /// Its request.
        request_seq: u64,
        /// `approval_id` or `approved`.
        member: &'static str,
        /// What is wrong (a phrase).
        why: String,
    },
    /// G5: an interruption of a request that has its result.
    #[error(
        "call.interrupted for request seq {request_seq}, which has a call.result (seq {result})"
    )]
    InterruptedAfterResult {
        /// The interruption.
        seq: u64,
        /// Its request.
        request_seq: u64,
        /// The result.
        result: u64,
    },
    /// G5: a second interruption of one request.
    #[error("second call.interrupted for request seq {request_seq} (the first is seq {first})")]
    DuplicateInterruption {
        /// The second interruption.
        seq: u64,
        /// Its request.
        request_seq: u64,
        /// The first.
        first: u64,
    },
    /// G5: an interruption written after the start that should have preceded it.
    #[error(
        "call.interrupted for request seq {request_seq} comes after the gateway.start at seq \
         {restart_seq}: a restart records interruptions before its start"
    )]
    InterruptedAfterRestart {
        /// The interruption.
        seq: u64,
        /// Its request.
        request_seq: u64,
        /// The first `gateway.start` after the request.
        restart_seq: u64,
    },
    /// G5: a result for a request already recorded as interrupted.
    #[error(
        "call.result for request seq {request_seq}, which was recorded as interrupted at seq \
         {interrupted}"
    )]
    ResultAfterInterruption {
        /// The result.
        seq: u64,
        /// Its request.
        request_seq: u64,
        /// The interruption.
        interrupted: u64,
    },
    /// G4: a request or listing under another policy or catalog than the one in force, or a
    /// reload replacing one that was not in force.
    #[error("{kind} names {member} {named}, but {loaded}")]
    StaleHash {
        /// The entry.
        seq: u64,
        /// Its kind.
        kind: String,
        /// `policy_hash` or `catalog_hash` (`old_…` of a reload entry).
        member: &'static str,
        /// What it names.
        named: String,
        /// What was loaded (a phrase).
        loaded: String,
    },
}

impl Violation {
    /// The entry the violation is found at.
    pub fn seq(&self) -> u64 {
        match self {
            Violation::ResultWithoutRequest { seq, .. }
            | Violation::MissingMember { seq, .. }
            | Violation::ResultMismatch { seq, .. }
            | Violation::ResultNotForwarded { seq, .. }
            | Violation::DuplicateResult { seq, .. }
            | Violation::SessionNotOpen { seq, .. }
            | Violation::SessionReopened { seq, .. }
            | Violation::StaleHash { seq, .. }
            | Violation::Approval { seq, .. }
            | Violation::InterruptionWithoutRequest { seq, .. }
            | Violation::InterruptionMismatch { seq, .. }
            | Violation::InterruptedNotForwarded { seq, .. }
            | Violation::InterruptedUnapproved { seq, .. }
            | Violation::InterruptionApprovalMismatch { seq, .. }
            | Violation::InterruptedAfterResult { seq, .. }
            | Violation::DuplicateInterruption { seq, .. }
            | Violation::InterruptedAfterRestart { seq, .. }
            | Violation::ResultAfterInterruption { seq, .. } => *seq,
        }
    }

    /// The rule: `G1` … `G5`, `A1` … `A5`.
    pub fn rule(&self) -> &'static str {
        match self {
            Violation::MissingMember { kind, .. } if kind == event::CALL_INTERRUPTED => "G5",
            Violation::ResultWithoutRequest { .. }
            | Violation::MissingMember { .. }
            | Violation::ResultMismatch { .. }
            | Violation::ResultNotForwarded { .. }
            | Violation::DuplicateResult { .. } => "G1",
            Violation::SessionNotOpen { .. } | Violation::SessionReopened { .. } => "G3",
            Violation::StaleHash { .. } => "G4",
            Violation::InterruptionWithoutRequest { .. }
            | Violation::InterruptionMismatch { .. }
            | Violation::InterruptedNotForwarded { .. }
            | Violation::InterruptedUnapproved { .. }
            | Violation::InterruptionApprovalMismatch { .. }
            | Violation::InterruptedAfterResult { .. }
            | Violation::DuplicateInterruption { .. }
            | Violation::InterruptedAfterRestart { .. }
            | Violation::ResultAfterInterruption { .. } => "G5",
            Violation::Approval { rule, .. } => rule,
        }
    }

    /// A short stable name (the variant's), for `--json`.
    pub fn code(&self) -> String {
        let name = format!("{self:?}");
        let end = name.find([' ', '{', '(']).unwrap_or(name.len());
        name[..end].to_owned()
    }
}

/// G2's warning: a forwarded request whose result was never written (a crash between the two,
/// or a result the ledger could not write before a clean stop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dangling {
    /// The request.
    pub seq: u64,
    /// Its session.
    pub session: String,
    /// Its tool.
    pub tool: String,
    /// What ended its run: a `gateway.start` at this seq, or `None` for the ledger's end.
    pub restart_seq: Option<u64>,
    /// The clean `gateway.stop` it was still unanswered at (its result could not be written).
    pub stop_seq: Option<u64>,
}

/// G2's interrupted call: a forwarded request whose run ended before its result, recorded by
/// the restart as `call.interrupted`. Its outcome is unknown (it may have taken effect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The request.
    pub seq: u64,
    /// Its session.
    pub session: String,
    /// Its tool.
    pub tool: String,
    /// Its approval, for an approval-required call (approved, then forwarded).
    pub approval_id: Option<String>,
    /// The `call.interrupted`.
    pub interrupted_seq: u64,
}

/// A data subject's vault key destroyed: the originals of these commitments can no longer be
/// revealed by anyone (the ledger's entries, chain and signatures are untouched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The `vault.erased` entry.
    pub seq: u64,
    /// The destroyed key's random id.
    pub key_id: String,
    /// The commitments this entry lists.
    pub commitments: Vec<String>,
}

/// G5's warning: an `approval.expired` recorded after its approval had all its required grants
/// (gateways before `call.interrupted` wrote one on restart for a call they had forwarded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredAfterGrant {
    /// The `approval.expired`.
    pub seq: u64,
    /// Its request.
    pub request_seq: u64,
    /// Its session.
    pub session: String,
    /// The approval.
    pub approval_id: String,
    /// The request's tool.
    pub tool: String,
    /// The expiry's `reason`.
    pub reason: String,
    /// The grants it had (its `required`, or more).
    pub grants: u64,
}

/// What the pass found.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// The first violation, if any.
    pub violation: Option<Violation>,
    /// Every dangling request.
    pub dangling: Vec<Dangling>,
    /// Every interrupted call, in the order of their `call.interrupted`.
    pub interrupted: Vec<Interrupted>,
    /// Every approval expired after all its grants.
    pub expired_after_grant: Vec<ExpiredAfterGrant>,
    /// Gateway runs (`gateway.start` entries).
    pub runs: u64,
    /// Sessions opened.
    pub sessions: u64,
    /// `tools.listed` entries.
    pub listings: u64,
    /// `call.request` entries by disposition.
    pub dispositions: BTreeMap<String, u64>,
    /// `call.result` entries by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Approver keys of valid approval receipts, with how many receipts each.
    pub approver_keys: BTreeMap<String, u64>,
    /// Every `vault.erased`, in ledger order.
    pub erasures: Vec<Erasure>,
}

impl Findings {
    /// Whether the rules were applied: the entries hold at least one `gateway.start`.
    pub fn checked(&self) -> bool {
        self.runs > 0
    }
}

#[derive(Debug)]
struct SessionState {
    opened: u64,
    closed: Option<u64>,
    run: u64,
}

/// How a request's call ended, with the entry's seq.
#[derive(Debug, Clone, Copy)]
enum End {
    /// Its `call.result`.
    Result(u64),
    /// Its `call.interrupted`.
    Interrupted(u64),
}

#[derive(Debug)]
struct RequestState {
    session: u32,
    request_id: Box<[u8]>,
    forward: bool,
    disposition: Box<str>,
    tool: Box<str>,
    end: Option<End>,
    /// The run (count of `gateway.start`s before it) it was made in.
    run: u64,
}

/// The streaming checker: feed entries in seq order, then [`Checker::finish`].
#[derive(Debug)]
pub struct Checker {
    scope: Scope,
    findings: Findings,
    /// Run number: incremented at each `gateway.start`.
    run: u64,
    session_ids: HashMap<String, u32>,
    session_names: Vec<String>,
    sessions: HashMap<u32, SessionState>,
    requests: HashMap<u64, RequestState>,
    /// Forwarded requests of the current run still waiting for their result.
    pending: BTreeMap<u64, ()>,
    /// Forwarded requests unanswered at a clean `gateway.stop` (→ its seq): dangling, unless a
    /// `call.interrupted` follows before the next start.
    stopped: BTreeMap<u64, u64>,
    /// The seq of each `gateway.start`, in order (run `n` began at `starts[n - 1]`).
    starts: Vec<u64>,
    policy_hash: Option<String>,
    catalog_hash: Option<String>,
    approvals: Approvals,
}

impl Checker {
    /// A checker for a whole ledger or a subset.
    pub fn new(scope: Scope) -> Self {
        Checker {
            scope,
            findings: Findings::default(),
            run: 0,
            session_ids: HashMap::new(),
            session_names: Vec::new(),
            sessions: HashMap::new(),
            requests: HashMap::new(),
            pending: BTreeMap::new(),
            stopped: BTreeMap::new(),
            starts: Vec::new(),
            policy_hash: None,
            catalog_hash: None,
            approvals: Approvals::default(),
        }
    }

    fn session_index(&mut self, id: &str) -> u32 {
        if let Some(i) = self.session_ids.get(id) {
            return *i;
        }
        let i = self.session_names.len() as u32;
        self.session_names.push(id.to_owned());
        self.session_ids.insert(id.to_owned(), i);
        i
    }

    fn fail(&mut self, v: Violation) {
        if self.findings.violation.is_none() {
            self.findings.violation = Some(v);
        }
    }

    /// Feeds the next entry (seqs increasing).
    pub fn feed(&mut self, f: &Facts<'_>) {
        let kind = f.kind.as_ref();
        match kind {
            event::GATEWAY_START => self.start(f.seq),
            event::GATEWAY_STOP => self.stop(f.seq),
            event::POLICY_LOADED => self.policy_hash = f.policy_hash.as_deref().map(Into::into),
            event::CATALOG_LOADED => {
                self.catalog_hash = f.catalog_hash.as_deref().map(Into::into);
            }
            event::POLICY_CHANGED => {
                let old = self.policy_hash.clone();
                self.check_change(f, "old_policy_hash", f.old_policy_hash.as_deref(), old);
                self.policy_hash = f.policy_hash.as_deref().map(Into::into);
            }
            event::CATALOG_CHANGED => {
                let old = self.catalog_hash.clone();
                self.check_change(f, "old_catalog_hash", f.old_catalog_hash.as_deref(), old);
                self.catalog_hash = f.catalog_hash.as_deref().map(Into::into);
            }
            event::SESSION_OPEN => self.open(f),
            _ => {}
        }
        if kind != event::SESSION_OPEN
            && kind != event::REQUEST_REFUSED
            && kind != event::APPROVAL_EXPIRED
            && kind != event::CALL_INTERRUPTED
            && let Some(session) = &f.session
        {
            self.check_open(f.seq, kind, session);
        }
        match kind {
            event::SESSION_CLOSE => {
                if let Some(s) = &f.session {
                    let i = self.session_index(s);
                    if let Some(st) = self.sessions.get_mut(&i) {
                        st.closed.get_or_insert(f.seq);
                    }
                }
            }
            event::TOOLS_LISTED => {
                self.findings.listings += 1;
                self.check_hashes(f);
            }
            event::CALL_REQUEST => {
                self.check_hashes(f);
                self.request(f);
            }
            event::CALL_RESULT => self.result(f),
            event::CALL_INTERRUPTED => self.interruption(f),
            event::VAULT_ERASED => self.findings.erasures.push(Erasure {
                seq: f.seq,
                key_id: f.key_id.as_deref().unwrap_or_default().to_owned(),
                commitments: f
                    .commitments
                    .and_then(|raw| serde_json::from_slice(raw).ok())
                    .unwrap_or_default(),
            }),
            event::APPROVAL_GRANTED | event::APPROVAL_DENIED => self.receipt(f),
            event::APPROVAL_EXPIRED => match self.approvals.expired(f) {
                Ok(Some(late)) => self.findings.expired_after_grant.push(late),
                Ok(None) => {}
                Err(v) => self.fail(v),
            },
            _ => {}
        }
    }

    fn receipt(&mut self, f: &Facts<'_>) {
        let known = f
            .request_seq
            .is_some_and(|r| self.requests.contains_key(&r));
        match self.approvals.receipt(f, known) {
            Ok(true) => {
                // Approved: the gateway forwards the call now; its result is due (G2).
                if let Some(r) = f.request_seq
                    && let Some(req) = self.requests.get_mut(&r)
                {
                    req.forward = true;
                    if req.end.is_none() {
                        self.pending.insert(r, ());
                    }
                }
            }
            Ok(false) => {}
            Err(v) => self.fail(v),
        }
    }

    fn start(&mut self, seq: u64) {
        self.findings.runs += 1;
        self.run += 1;
        self.starts.push(seq);
        // The previous run ended without answering these, and the restart recorded no
        // `call.interrupted` for them: dangling requests.
        self.dangle_all(Some(seq));
    }

    fn stop(&mut self, seq: u64) {
        // A forwarded call still unanswered at a clean stop is one whose `call.result` could not
        // be written (audit-events.md §6 step 5: the client was told the call may have taken
        // effect): a dangling request, reported, not a broken history — unless the next start
        // records it as interrupted.
        for (req, ()) in std::mem::take(&mut self.pending) {
            self.stopped.insert(req, seq);
        }
    }

    /// Reports every request still waiting as dangling: those unanswered at a clean stop, then
    /// those of a run ended by the `gateway.start` at `restart_seq` (or by the ledger's end).
    fn dangle_all(&mut self, restart_seq: Option<u64>) {
        for (req, stop) in std::mem::take(&mut self.stopped) {
            self.dangle_at(req, None, Some(stop));
        }
        for (req, ()) in std::mem::take(&mut self.pending) {
            self.dangle_at(req, restart_seq, None);
        }
    }

    fn dangle_at(&mut self, req: u64, restart_seq: Option<u64>, stop_seq: Option<u64>) {
        if self.scope == Scope::Subset {
            return;
        }
        if let Some(r) = self.requests.get(&req) {
            self.findings.dangling.push(Dangling {
                seq: req,
                session: self.session_names[r.session as usize].clone(),
                tool: r.tool.to_string(),
                restart_seq,
                stop_seq,
            });
        }
    }

    fn open(&mut self, f: &Facts<'_>) {
        self.findings.sessions += 1;
        let Some(session) = &f.session else {
            self.fail(Violation::MissingMember {
                seq: f.seq,
                kind: f.kind.to_string(),
                member: "session",
            });
            return;
        };
        let i = self.session_index(session);
        if let Some(st) = self.sessions.get(&i) {
            let first = st.opened;
            self.fail(Violation::SessionReopened {
                seq: f.seq,
                session: session.to_string(),
                first,
            });
            return;
        }
        self.sessions.insert(
            i,
            SessionState {
                opened: f.seq,
                closed: None,
                run: self.run,
            },
        );
    }

    fn check_open(&mut self, seq: u64, kind: &str, session: &str) {
        let i = self.session_index(session);
        let why = match self.sessions.get(&i) {
            None if self.scope == Scope::Subset => return,
            None => " (it was never opened)".to_owned(),
            Some(st) => match st.closed {
                Some(c) => format!(" (it was closed at seq {c})"),
                _ if st.run != self.run => format!(
                    " (it was opened at seq {} before the gateway restarted)",
                    st.opened
                ),
                _ => return,
            },
        };
        self.fail(Violation::SessionNotOpen {
            seq,
            kind: kind.to_owned(),
            session: session.to_owned(),
            why,
        });
    }

    fn check_hashes(&mut self, f: &Facts<'_>) {
        let checks = [
            (
                "policy_hash",
                f.policy_hash.as_deref(),
                self.policy_hash.clone(),
                "policy.loaded or policy.changed",
            ),
            (
                "catalog_hash",
                f.catalog_hash.as_deref(),
                self.catalog_hash.clone(),
                "catalog.loaded or catalog.changed",
            ),
        ];
        for (member, named, loaded, loaded_kind) in checks {
            let Some(named) = named else {
                self.fail(Violation::MissingMember {
                    seq: f.seq,
                    kind: f.kind.to_string(),
                    member,
                });
                continue;
            };
            let loaded = match loaded {
                Some(l) if l == named => continue,
                Some(l) => format!("the latest {loaded_kind} before it loaded {l}"),
                None if self.scope == Scope::Subset => continue,
                None => format!("no {loaded_kind} precedes it"),
            };
            self.fail(Violation::StaleHash {
                seq: f.seq,
                kind: f.kind.to_string(),
                member,
                named: named.to_owned(),
                loaded,
            });
        }
    }

    /// G4 for a reload: the change names as replaced the one in force before it.
    fn check_change(
        &mut self,
        f: &Facts<'_>,
        member: &'static str,
        named: Option<&str>,
        in_force: Option<String>,
    ) {
        let Some(named) = named else {
            self.fail(Violation::MissingMember {
                seq: f.seq,
                kind: f.kind.to_string(),
                member,
            });
            return;
        };
        let loaded = match in_force {
            Some(l) if l == named => return,
            // A bundle holds a reload as context for what follows it, not every reload before.
            _ if self.scope == Scope::Subset => return,
            Some(l) => format!("the one in force before it was {l}"),
            None => "nothing was in force before it".to_owned(),
        };
        self.fail(Violation::StaleHash {
            seq: f.seq,
            kind: f.kind.to_string(),
            member,
            named: named.to_owned(),
            loaded,
        });
    }

    fn request(&mut self, f: &Facts<'_>) {
        let disposition = f.disposition.as_deref().unwrap_or("");
        *self
            .findings
            .dispositions
            .entry(disposition.to_owned())
            .or_default() += 1;
        let (Some(session), Some(request_id)) = (&f.session, f.request_id) else {
            let member = if f.session.is_none() {
                "session"
            } else {
                "request_id"
            };
            self.fail(Violation::MissingMember {
                seq: f.seq,
                kind: f.kind.to_string(),
                member,
            });
            return;
        };
        let forward = disposition == "forward";
        // A request that is or may become forwarded (once approved) may dangle: keep its tool.
        let may_forward = forward || disposition == "approval_pending";
        let session = self.session_index(session);
        self.requests.insert(
            f.seq,
            RequestState {
                session,
                request_id: request_id.into(),
                forward,
                // Kept only where a message may need them (`""` does not allocate).
                disposition: if forward { "" } else { disposition }.into(),
                tool: if may_forward {
                    f.tool.as_deref().unwrap_or("")
                } else {
                    ""
                }
                .into(),
                end: None,
                run: self.run,
            },
        );
        if forward {
            self.pending.insert(f.seq, ());
        }
        if disposition == "approval_pending" {
            self.approvals.request(f);
        }
    }

    fn result(&mut self, f: &Facts<'_>) {
        let outcome = f.outcome.as_deref().unwrap_or("");
        *self
            .findings
            .outcomes
            .entry(outcome.to_owned())
            .or_default() += 1;
        let Some(req_seq) = f.request_seq else {
            self.fail(Violation::MissingMember {
                seq: f.seq,
                kind: f.kind.to_string(),
                member: "request_seq",
            });
            return;
        };
        let session = f.session.as_deref().map(|s| self.session_index(s));
        let Some(req) = self.requests.get_mut(&req_seq).filter(|_| req_seq < f.seq) else {
            if self.scope == Scope::Ledger || req_seq >= f.seq {
                self.fail(Violation::ResultWithoutRequest {
                    seq: f.seq,
                    request_seq: req_seq,
                });
            }
            return;
        };
        let v = if session != Some(req.session) {
            Some(Violation::ResultMismatch {
                seq: f.seq,
                request_seq: req_seq,
                member: "session",
            })
        } else if f.request_id != Some(&*req.request_id) {
            Some(Violation::ResultMismatch {
                seq: f.seq,
                request_seq: req_seq,
                member: "request_id",
            })
        } else if let Some(End::Result(first)) = req.end {
            Some(Violation::DuplicateResult {
                seq: f.seq,
                request_seq: req_seq,
                first,
            })
        } else if let Some(End::Interrupted(interrupted)) = req.end {
            Some(Violation::ResultAfterInterruption {
                seq: f.seq,
                request_seq: req_seq,
                interrupted,
            })
        } else if self.approvals.is_pending_request(req_seq) {
            let complete = self.scope == Scope::Ledger;
            self.approvals.result(f.seq, req_seq, complete).err()
        } else if !req.forward {
            Some(Violation::ResultNotForwarded {
                seq: f.seq,
                request_seq: req_seq,
                disposition: req.disposition.to_string(),
            })
        } else {
            None
        };
        req.end.get_or_insert(End::Result(f.seq));
        self.pending.remove(&req_seq);
        self.stopped.remove(&req_seq);
        if let Some(v) = v {
            self.fail(v);
        }
    }

    /// Ends the pass: requests still waiting at the ledger's end are dangling. A ledger without
    /// any `gateway.start` was not written by the gateway (a test vector, another writer): the
    /// rules are not applied to it, and the findings say so.
    pub fn finish(mut self) -> Findings {
        self.dangle_all(None);
        if self.findings.runs == 0 {
            self.findings.violation = None;
            self.findings.dangling.clear();
            self.findings.interrupted.clear();
            self.findings.expired_after_grant.clear();
        }
        self.findings.approver_keys = std::mem::take(&mut self.approvals.keys);
        self.findings
    }
}

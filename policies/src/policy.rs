//! The compiled [`Policy`] and its three questions: `decide`, `explain`, `listing_tier`.

use std::sync::Arc;

use crate::approval::ApprovalSettings;
use crate::data::{DataAccess, TABLE_PATH};
use crate::decision::{Decision, Request};
use crate::error::{PolicyError, Warning};
use crate::explain::{Explanation, Outcome, RuleTrace};
use crate::rule::{Plans, Rule};
use crate::tier::{Tier, WriteMode};
use crate::write::{WriteCeilings, WriteClass};

/// A validated, compiled policy. Immutable and cheap to share (`Arc<Policy>`); evaluation is pure
/// and deterministic.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) file_name: String,
    pub(crate) hash: [u8; 32],
    pub(crate) default_tier: Tier,
    pub(crate) write: WriteCeilings,
    pub(crate) default_plans: Plans,
    pub(crate) default_approval: Arc<ApprovalSettings>,
    pub(crate) default_reason: Arc<str>,
    pub(crate) default_reason_capped: [Arc<str>; 2],
    pub(crate) rules: Vec<Rule>,
    /// For each [`ToolKind`] (by discriminant), the indices of the rules that can match it, in
    /// file order: `decide` never looks at a rule whose `match.kind` excludes the request's kind.
    pub(crate) by_kind: [Vec<usize>; 5],
    /// `[data] tables`; `None` when the file has no `[data]` (every table reachable).
    pub(crate) data: Option<DataAccess>,
}

impl Policy {
    /// Parses and validates a policy file. `file_name` is only used in error messages. Returns
    /// the policy and any warnings (shadowed rules, duplicate redactions, …), or the first error.
    pub fn parse(file_name: &str, bytes: &[u8]) -> Result<(Policy, Vec<Warning>), PolicyError> {
        crate::compile::compile(file_name, bytes)
    }

    /// blake3 of the exact file bytes given to [`Policy::parse`].
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// [`Policy::hash`] as 64 lowercase hex digits.
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }

    /// The file name given to [`Policy::parse`].
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The rule ids, in file order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| &*r.id)
    }

    /// Decides a request: the first rule (in file order) whose criteria and condition hold
    /// decides; if none does, `defaults.tier`. Writes are then capped by `defaults.write`.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        let mut inputs_read = Vec::new();
        if let Some(reason) = self.table_refusal(req, &mut inputs_read) {
            return self.refused_by_data(reason, inputs_read);
        }
        for &i in &self.by_kind[req.kind as usize] {
            let rule = &self.rules[i];
            if !rule.matches_static(req) {
                continue;
            }
            if let Some(condition) = &rule.condition
                && !condition.eval(req.args, &mut inputs_read)
            {
                continue;
            }
            return self.finish(Some(rule), req, inputs_read);
        }
        self.finish(None, req, inputs_read)
    }

    /// The same decision as [`Policy::decide`], plus for every rule whether it decided, why it
    /// did not match, or (after the deciding rule) whether it would have.
    pub fn explain(&self, req: &Request<'_>) -> Explanation {
        let mut inputs_read = Vec::new();
        if let Some(reason) = self.table_refusal(req, &mut inputs_read) {
            let rules = self
                .rules
                .iter()
                .map(|rule| RuleTrace {
                    rule_id: rule.id.to_string(),
                    line: rule.line,
                    outcome: Outcome::NotReached {
                        would_match: rule.matches_static(req)
                            && rule
                                .condition
                                .as_ref()
                                .is_none_or(|c| c.eval(req.args, &mut Vec::new())),
                    },
                })
                .collect();
            return Explanation {
                decision: self.refused_by_data(reason, inputs_read),
                rules,
                data_decided: true,
            };
        }
        let mut decided: Option<&Rule> = None;
        let mut rules = Vec::with_capacity(self.rules.len());
        for rule in &self.rules {
            let outcome = if decided.is_some() {
                let mut scratch = Vec::new();
                let would_match = rule.matches_static(req)
                    && rule
                        .condition
                        .as_ref()
                        .is_none_or(|c| c.eval(req.args, &mut scratch));
                Outcome::NotReached { would_match }
            } else {
                let mut mismatches = rule.static_mismatches(req);
                // Like `decide`, the condition is evaluated only when the criteria match, so
                // `inputs_read` comes out the same.
                if mismatches.is_empty()
                    && let Some(condition) = &rule.condition
                    && !condition.eval(req.args, &mut inputs_read)
                {
                    mismatches.push(crate::explain::condition_mismatch(condition, req.args));
                }
                if mismatches.is_empty() {
                    decided = Some(rule);
                    Outcome::Decided
                } else {
                    Outcome::Skipped { mismatches }
                }
            };
            rules.push(RuleTrace {
                rule_id: rule.id.to_string(),
                line: rule.line,
                outcome,
            });
        }
        Explanation {
            decision: self.finish(decided, req, inputs_read),
            rules,
            data_decided: false,
        }
    }

    /// The most permissive tier any arguments could get for this tool, caller and kind: what
    /// `tools/list` should use (omit `blocked`, annotate `approval_required`). `req.args` is
    /// ignored; every `when` condition is assumed able to hold or fail.
    pub fn listing_tier(&self, req: &Request<'_>) -> Tier {
        let mut best: Option<Tier> = None;
        let mut unconditional = false;
        for &i in &self.by_kind[req.kind as usize] {
            let rule = &self.rules[i];
            if !rule.matches_static(req) {
                continue;
            }
            best = Some(best.map_or(rule.tier, |b| b.max(rule.tier)));
            if rule.condition.is_none() {
                unconditional = true;
                break;
            }
        }
        let mut tier = best.unwrap_or(self.default_tier);
        if !unconditional {
            tier = tier.max(self.default_tier);
        }
        tier.min(self.ceiling(req))
    }

    /// Whether `[data] tables` lets a caller with `roles` read `table` through the data tools
    /// (always, when the policy has no `[data]`). `convex_list_tables` shows only these.
    pub fn may_read_table(&self, table: &str, roles: &[String]) -> bool {
        self.data.as_ref().is_none_or(|d| d.may_read(table, roles))
    }

    /// Like [`Policy::may_read_table`], for writes.
    pub fn may_write_table(&self, table: &str, roles: &[String]) -> bool {
        self.data.as_ref().is_none_or(|d| d.may_write(table, roles))
    }

    /// Whether the policy has a `[data]` table (so data tools reach only the tables it lists).
    pub fn restricts_tables(&self) -> bool {
        self.data.is_some()
    }

    /// `[data] tables` for a data tool naming a table: the reason it is refused, if it is.
    /// Records `$.table` in `inputs_read` when it was read.
    fn table_refusal(
        &self,
        req: &Request<'_>,
        inputs_read: &mut Vec<Arc<str>>,
    ) -> Option<Arc<str>> {
        let data = self.data.as_ref()?;
        if !matches!(
            req.kind,
            crate::tier::ToolKind::DataRead | crate::tier::ToolKind::DataWrite
        ) || !req
            .args
            .get(crate::data::TABLE_ARG)
            .is_some_and(|t| t.is_string())
        {
            return None;
        }
        inputs_read.push(TABLE_PATH.into());
        data.refusal(req.kind, req.args, req.roles).cloned()
    }

    /// A decision `[data] tables` made: blocked before any rule, with the file-wide plans.
    fn refused_by_data(&self, reason: Arc<str>, inputs_read: Vec<Arc<str>>) -> Decision {
        Decision {
            tier: Tier::Blocked,
            rule_id: None,
            reason,
            policy_hash: self.hash,
            audit_args: Arc::clone(&self.default_plans.audit_args),
            audit_result: Arc::clone(&self.default_plans.audit_result),
            response: Arc::clone(&self.default_plans.response),
            approval: None,
            inputs_read,
            write_capped: false,
        }
    }

    pub(crate) fn ceiling(&self, req: &Request<'_>) -> Tier {
        self.write.ceiling(req.kind)
    }

    /// The write ceilings in force (`defaults.write`, lowered by [`Policy::with_write_limit`]).
    pub fn write_ceilings(&self) -> WriteCeilings {
        self.write
    }

    /// This policy with every write ceiling lowered to at most `limit` (`auditgate serve
    /// --write`); a ceiling already at or below it is kept. The hash stays the file's: the
    /// limit is recorded by whoever applies it (`gateway.start`).
    pub fn with_write_limit(&self, limit: WriteMode) -> Policy {
        let mut p = self.clone();
        p.write = self.write.lowered_to(limit);
        let notes = WriteClass::ALL.map(|c| p.write.cap_note(c));
        p.default_reason_capped = crate::compile::capped(&p.default_reason, &notes);
        for rule in &mut p.rules {
            rule.reason_capped = crate::compile::capped(&rule.reason, &notes);
        }
        p
    }

    fn finish(
        &self,
        rule: Option<&Rule>,
        req: &Request<'_>,
        inputs_read: Vec<Arc<str>>,
    ) -> Decision {
        let (tier, plans, approval, reason, reason_capped) = match rule {
            Some(r) => (r.tier, &r.plans, &r.approval, &r.reason, &r.reason_capped),
            None => (
                self.default_tier,
                &self.default_plans,
                &self.default_approval,
                &self.default_reason,
                &self.default_reason_capped,
            ),
        };
        let ceiling = self.ceiling(req);
        let write_capped = tier > ceiling;
        let tier = tier.min(ceiling);
        Decision {
            tier,
            rule_id: rule.map(|r| Arc::clone(&r.id)),
            reason: Arc::clone(match WriteClass::of(req.kind) {
                Some(class) if write_capped => &reason_capped[class.index()],
                _ => reason,
            }),
            policy_hash: self.hash,
            audit_args: Arc::clone(&plans.audit_args),
            audit_result: Arc::clone(&plans.audit_result),
            response: Arc::clone(&plans.response),
            approval: (tier == Tier::ApprovalRequired).then(|| Arc::clone(approval)),
            inputs_read,
            write_capped,
        }
    }
}

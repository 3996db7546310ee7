//! The text an approver signs (`docs/approvals.md` §2): one line per bound fact, so a signature
//! approves exactly one call, with exactly these arguments, under exactly this policy.

/// What the approver decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approve,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
    }
}

/// The facts a statement binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    pub approval_id: &'a str,
    pub args_digest: &'a str,
    pub policy_hash: &'a str,
    pub tool: &'a str,
    pub caller: &'a str,
    pub expires_at: &'a str,
    pub verdict: Verdict,
    pub approver: &'a str,
}

/// The first line; bumps with any change of the layout.
pub const HEADER: &str = "auditgate approval v1";

impl Statement<'_> {
    /// The exact bytes that are signed.
    pub fn render(&self) -> String {
        format!(
            "{HEADER}\napproval {}\nrequest {}\npolicy {}\ntool {}\ncaller {}\nexpires {}\n\
             decision {}\napprover {}\n",
            self.approval_id,
            self.args_digest,
            self.policy_hash,
            self.tool,
            self.caller,
            self.expires_at,
            self.verdict.as_str(),
            self.approver
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_fixed() {
        let s = Statement {
            approval_id: "apr_1",
            args_digest: "blake3:aa",
            policy_hash: "blake3:bb",
            tool: "invoices_refund",
            caller: "alice",
            expires_at: "2026-11-21T10:00:00.000000000Z",
            verdict: Verdict::Approve,
            approver: "dana",
        };
        assert_eq!(
            s.render(),
            "auditgate approval v1\napproval apr_1\nrequest blake3:aa\npolicy blake3:bb\n\
             tool invoices_refund\ncaller alice\nexpires 2026-11-21T10:00:00.000000000Z\n\
             decision approve\napprover dana\n"
        );
    }
}

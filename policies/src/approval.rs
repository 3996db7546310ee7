//! Approval settings attached to `approval_required` decisions, for the gateway's approvals flow.

use serde::Serialize;

/// Who may approve a held call, and for how long it waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalSettings {
    /// Principals holding any of these roles may approve.
    pub approver_roles: Vec<String>,
    /// These principals (API key ids) may approve.
    pub approver_keys: Vec<String>,
    /// Two distinct approvers are needed, neither of them the caller.
    pub four_eyes: bool,
    /// Seconds until an unanswered request expires (and is refused).
    pub timeout_secs: u64,
}

/// Fifteen minutes.
pub const DEFAULT_TIMEOUT_SECS: u64 = 15 * 60;

impl Default for ApprovalSettings {
    /// No approver roles or keys (only an operator on the gateway host can approve), one approver,
    /// fifteen minutes.
    fn default() -> Self {
        ApprovalSettings {
            approver_roles: Vec::new(),
            approver_keys: Vec::new(),
            four_eyes: false,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
        }
    }
}

/// Parses `90s`, `15m`, `1h30m`, `2d` into seconds. Returns `None` for anything else, including
/// zero and overflow.
pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut saw_unit = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        digits.clear();
        total = total.checked_add(n.checked_mul(unit)?)?;
        saw_unit = true;
    }
    (digits.is_empty() && saw_unit && total > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("15m"), Some(900));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("2d"), Some(172_800));
        for bad in [
            "",
            "15",
            "m",
            "0s",
            "1.5h",
            "1 h",
            "-1m",
            "99999999999999999999d",
            "1w",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}

//! Entry timestamps: RFC 3339 UTC with exactly nine fractional digits
//! (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, 30 bytes).
//!
//! The width is fixed so that byte order is time order: the verifier checks "non-decreasing"
//! with a plain comparison, and a human reads the same string.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length in bytes of every ledger timestamp.
pub const LEN: usize = 30;

/// A validated ledger timestamp.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp([u8; LEN]);

impl std::fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Timestamp({})", self.as_str())
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Timestamp {
    /// The current time, from the system clock.
    pub fn now() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Self::from_unix_nanos(nanos)
    }

    /// Formats nanoseconds since the Unix epoch (UTC). Years past 9999 saturate.
    pub fn from_unix_nanos(nanos: u128) -> Self {
        let secs = (nanos / 1_000_000_000) as u64;
        let frac = (nanos % 1_000_000_000) as u32;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (mut y, mut m, mut d) = civil_from_days(days);
        let (mut hh, mut mm, mut ss, mut frac) = (rem / 3600, (rem % 3600) / 60, rem % 60, frac);
        if y > 9999 {
            (y, m, d, hh, mm, ss, frac) = (9999, 12, 31, 23, 59, 59, 999_999_999);
        }
        let text = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{frac:09}Z");
        let mut out = [0u8; LEN];
        out.copy_from_slice(text.as_bytes());
        Self(out)
    }

    /// Parses and validates the exact 30-byte form (calendar-valid date, hours < 24,
    /// minutes < 60, seconds < 60: the writer never emits leap seconds).
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() != LEN {
            return None;
        }
        let shape = b"dddd-dd-ddTdd:dd:dd.dddddddddZ";
        for (&c, &s) in b.iter().zip(shape) {
            let ok = if s == b'd' {
                c.is_ascii_digit()
            } else {
                c == s
            };
            if !ok {
                return None;
            }
        }
        let num = |r: std::ops::Range<usize>| -> u32 {
            b[r].iter()
                .fold(0, |acc, &c| acc * 10 + u32::from(c - b'0'))
        };
        let (y, m, d) = (num(0..4) as i64, num(5..7), num(8..10));
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        if num(11..13) > 23 || num(14..16) > 59 || num(17..19) > 59 {
            return None;
        }
        let mut out = [0u8; LEN];
        out.copy_from_slice(b);
        Some(Self(out))
    }

    /// The timestamp as text.
    pub fn as_str(&self) -> &str {
        // Invariant: constructed only from ASCII digits and separators.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            Timestamp::from_unix_nanos(0).as_str(),
            "1970-01-01T00:00:00.000000000Z"
        );
        // 2024-02-29T12:34:56.000000789Z
        let n = 1_709_210_096_000_000_789u128;
        assert_eq!(
            Timestamp::from_unix_nanos(n).as_str(),
            "2024-02-29T12:34:56.000000789Z"
        );
    }

    #[test]
    fn parse_round_trips_and_rejects_malformed() {
        let t = Timestamp::now();
        assert_eq!(Timestamp::parse(t.as_str()), Some(t));
        for bad in [
            "2024-02-30T00:00:00.000000000Z",
            "2023-02-29T00:00:00.000000000Z",
            "2024-13-01T00:00:00.000000000Z",
            "2024-01-01T24:00:00.000000000Z",
            "2024-01-01T00:00:60.000000000Z",
            "2024-01-01T00:00:00.00000000Z",
            "2024-01-01T00:00:00.000000000+00:00",
            "2024-01-01 00:00:00.000000000Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn byte_order_is_time_order() {
        let a = Timestamp::from_unix_nanos(1_000_000_000_000_000_000);
        let b = Timestamp::from_unix_nanos(1_000_000_000_000_000_001);
        assert!(a < b);
    }
}

//! RFC 3339 date-times as the command line takes them (`--since`, `--until`): any offset and
//! fraction, converted to the ledger's fixed-width UTC form so that a plain comparison with an
//! entry's `ts` is a time comparison.

use auditgate_ledger::timestamp::Timestamp;
use thiserror::Error;

/// A date-time the command line could not read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{text:?} is not an RFC 3339 date-time ({why}); e.g. 2026-11-21T09:30:00Z")]
pub struct BadDateTime {
    text: String,
    why: &'static str,
}

/// Nanoseconds since the Unix epoch of an RFC 3339 date-time (`T`, `t` or a space between date
/// and time; `Z`, `z` or `±HH:MM` offset; any number of fractional digits, nanoseconds kept).
pub fn unix_nanos(text: &str) -> Result<i128, BadDateTime> {
    let bad = |why| BadDateTime {
        text: text.to_owned(),
        why,
    };
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(bad("too short"));
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, BadDateTime> {
        let s = text.get(r).ok_or_else(|| bad("bad field"))?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("a field is not digits"));
        }
        s.parse().map_err(|_| bad("bad field"))
    };
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad("date must be YYYY-MM-DD followed by T"));
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad("time must be HH:MM:SS"));
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return Err(bad("no such date"));
    }
    if h > 23 || mi > 59 || s > 60 {
        return Err(bad("no such time"));
    }
    let mut pos = 19;
    let mut frac_ns: i128 = 0;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == start {
            return Err(bad("empty fraction"));
        }
        let digits = &text[start..pos];
        let mut padded: String = digits.chars().take(9).collect();
        while padded.len() < 9 {
            padded.push('0');
        }
        frac_ns = padded.parse().map_err(|_| bad("bad fraction"))?;
    }
    let offset_secs: i64 = match &text[pos..] {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let oh = num(pos + 1..pos + 3)?;
            let om = num(pos + 4..pos + 6)?;
            if oh > 23 || om > 59 {
                return Err(bad("bad offset"));
            }
            let secs = oh * 3600 + om * 60;
            if o.starts_with('-') { -secs } else { secs }
        }
        _ => return Err(bad("missing or bad offset (Z or ±HH:MM)")),
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s.min(59) - offset_secs;
    Ok(i128::from(secs) * 1_000_000_000 + frac_ns)
}

/// The ledger timestamp of an RFC 3339 date-time (times before 1970 clamp to the epoch).
pub fn timestamp(text: &str) -> Result<Timestamp, BadDateTime> {
    let n = unix_nanos(text)?;
    Ok(Timestamp::from_unix_nanos(n.max(0) as u128))
}

/// Nanoseconds since the epoch of a ledger timestamp.
pub fn ledger_nanos(ts: &str) -> i128 {
    unix_nanos(ts).unwrap_or(0)
}

/// A duration in nanoseconds as a short human text (`850 µs`, `1.2 s`, `3 min 4 s`, `2 h 5 min`).
pub fn human_duration(nanos: i128) -> String {
    let n = nanos.max(0);
    match n {
        n if n < 1_000_000 => format!("{} µs", n / 1000),
        n if n < 1_000_000_000 => format!("{} ms", n / 1_000_000),
        n if n < 60_000_000_000 => format!("{:.1} s", n as f64 / 1e9),
        n if n < 3_600_000_000_000 => {
            let s = n / 1_000_000_000;
            format!("{} min {} s", s / 60, s % 60)
        }
        n => {
            let m = n / 60_000_000_000;
            format!("{} h {} min", m / 60, m % 60)
        }
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_fractions_land_on_the_ledger_form() {
        let t = timestamp("2026-11-21T10:30:00.5+01:30").unwrap();
        assert_eq!(t.as_str(), "2026-11-21T09:00:00.500000000Z");
        let t = timestamp("2026-11-21t09:00:00z").unwrap();
        assert_eq!(t.as_str(), "2026-11-21T09:00:00.000000000Z");
        let t = timestamp("2024-02-29T23:59:59.123456789123-00:00").unwrap();
        assert_eq!(t.as_str(), "2024-02-29T23:59:59.123456789Z");
    }

    #[test]
    fn malformed_dates_are_refused_with_a_reason() {
        for bad in [
            "2026-11-21",
            "2026-02-30T00:00:00Z",
            "2026-11-21T09:00:00",
            "2026-11-21T25:00:00Z",
            "2026-11-21T09:00:00.Z",
            "2026-11-21T09:00:00+0100",
        ] {
            assert!(timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(850_000), "850 µs");
        assert_eq!(human_duration(48_000_000), "48 ms");
        assert_eq!(human_duration(1_250_000_000), "1.2 s");
        assert_eq!(human_duration(184_000_000_000), "3 min 4 s");
        assert_eq!(human_duration(7_500_000_000_000), "2 h 5 min");
    }
}

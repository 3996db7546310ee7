//! Dotted redaction paths: `customer.taxId`, `lines[*].card`, `**.password`.
//!
//! Grammar (see `docs/policy-format.md`, "Dotted paths"):
//!
//! ```text
//! path    = segment *( "." segment )
//! segment = ( name / "*" ) *index  /  1*index  /  "**"
//! index   = "[" ( "*" / 1*DIGIT ) "]"
//! name    = 1*( any character except . [ ] * and control characters ),
//!           not starting or ending with whitespace
//! ```
//!
//! `*` is any member of an object, `[*]` any element of an array, `**` zero or more levels of
//! either. A path never selects the root itself; use `jsonpath = "$"` for that.

use std::fmt;

/// One step of a dotted path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// An object member with this exact key.
    Key(String),
    /// Any member of an object (`*`).
    AnyKey,
    /// An array element at this index (`[3]`).
    Index(usize),
    /// Any element of an array (`[*]`).
    AnyIndex,
    /// Zero or more levels of objects or arrays (`**`).
    AnyDepth,
}

/// A parsed dotted path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DottedPath {
    pub steps: Vec<Step>,
}

/// Why a dotted path did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathError(pub String);

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(message: impl Into<String>) -> Result<T, PathError> {
    Err(PathError(message.into()))
}

impl DottedPath {
    pub(crate) fn parse(text: &str) -> Result<DottedPath, PathError> {
        if text.is_empty() {
            return err("empty path");
        }
        if text.starts_with('$') {
            return err("looks like JSONPath: use `jsonpath = ...` instead of `path = ...`");
        }
        let mut steps = Vec::new();
        for segment in text.split('.') {
            parse_segment(segment, &mut steps)?;
        }
        if steps.last() == Some(&Step::AnyDepth) {
            return err("a path cannot end with `**`");
        }
        Ok(DottedPath { steps })
    }
}

fn parse_segment(segment: &str, steps: &mut Vec<Step>) -> Result<(), PathError> {
    if segment.is_empty() {
        return err("empty segment (two dots in a row, or a leading or trailing dot)");
    }
    if segment == "**" {
        if steps.last() == Some(&Step::AnyDepth) {
            return err("`**.**` is the same as `**`; write it once");
        }
        steps.push(Step::AnyDepth);
        return Ok(());
    }
    let (head, mut rest) = match segment.find('[') {
        Some(i) => segment.split_at(i),
        None => (segment, ""),
    };
    match head {
        "" => {}
        "*" => steps.push(Step::AnyKey),
        _ => {
            if let Some(c) = head
                .chars()
                .find(|c| matches!(c, '*' | ']') || c.is_control())
            {
                return err(format!(
                    "character {c:?} is not allowed in a key; use `jsonpath` for unusual keys"
                ));
            }
            if head.trim() != head {
                return err("a key cannot start or end with whitespace");
            }
            steps.push(Step::Key(head.to_owned()));
        }
    }
    while !rest.is_empty() {
        let Some(inner_end) = rest.find(']') else {
            return err("unclosed `[`");
        };
        let inner = &rest[1..inner_end];
        if inner == "*" {
            steps.push(Step::AnyIndex);
        } else if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
            match inner.parse::<usize>() {
                Ok(i) => steps.push(Step::Index(i)),
                Err(_) => return err(format!("index {inner} is too large")),
            }
        } else {
            return err(format!(
                "`[{inner}]` is not an index: use `[*]` or `[<number>]`"
            ));
        }
        rest = &rest[inner_end + 1..];
        if !rest.is_empty() && !rest.starts_with('[') {
            return err(format!(
                "unexpected {rest:?} after `]`: separate keys with `.`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Step::*;
    use super::*;

    fn steps(text: &str) -> Vec<Step> {
        DottedPath::parse(text).unwrap().steps
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(
            steps("customer.taxId"),
            [Key("customer".into()), Key("taxId".into())]
        );
        assert_eq!(
            steps("lines[*].card"),
            [Key("lines".into()), AnyIndex, Key("card".into())]
        );
        assert_eq!(steps("**.password"), [AnyDepth, Key("password".into())]);
        assert_eq!(steps("a.*.b"), [Key("a".into()), AnyKey, Key("b".into())]);
        assert_eq!(steps("m[0][*]"), [Key("m".into()), Index(0), AnyIndex]);
        assert_eq!(steps("[*].card"), [AnyIndex, Key("card".into())]);
        assert_eq!(steps("*[2]"), [AnyKey, Index(2)]);
        assert_eq!(
            steps("naïve key.ü"),
            [Key("naïve key".into()), Key("ü".into())]
        );
        assert_eq!(steps("a-b_c$d"), [Key("a-b_c$d".into())]);
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "a[",
            "a[x]",
            "a[]",
            "a]b",
            "a[0]b",
            "**",
            "a.**",
            "**.**.a",
            "$.a",
            "a*",
            " a",
            "a ",
            "a[-1]",
            "a[99999999999999999999999]",
            "a\u{7}b",
        ] {
            assert!(
                DottedPath::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}

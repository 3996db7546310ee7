//! Whether a policy condition's JSONPath (as written, e.g. `$.lines[*].amount`, `$..card`)
//! reads a location the ledger holds redacted (a normalized path from a `redactions` report,
//! e.g. `$.lines[0].card`): then a decision re-made from the ledger's arguments is
//! indeterminate. Conservative: anything this module cannot parse overlaps everything.

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sel {
    Name(String),
    Index(i64),
    /// `*`, `[*]`, filters, slices, unions: any child.
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    sel: Sel,
    /// `..`: this step may apply at any depth below.
    descendant: bool,
}

/// Parses a JSONPath into steps; `None` if it is not one this module understands.
fn parse(path: &str) -> Option<Vec<Step>> {
    let b = path.as_bytes();
    if b.first() != Some(&b'$') {
        return None;
    }
    let mut i = 1;
    let mut out = Vec::new();
    while i < b.len() {
        let mut descendant = false;
        if b[i] == b'.' {
            i += 1;
            if b.get(i) == Some(&b'.') {
                descendant = true;
                i += 1;
            }
            if b.get(i) == Some(&b'[') {
                let (sel, next) = bracket(path, i)?;
                out.push(Step { sel, descendant });
                i = next;
                continue;
            }
            let start = i;
            while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                i += 1;
            }
            let name = &path[start..i];
            let sel = match name {
                "" => return None,
                "*" => Sel::Any,
                n => Sel::Name(n.to_owned()),
            };
            out.push(Step { sel, descendant });
        } else if b[i] == b'[' {
            let (sel, next) = bracket(path, i)?;
            out.push(Step {
                sel,
                descendant: false,
            });
            i = next;
        } else {
            return None;
        }
    }
    Some(out)
}

/// Parses `[...]` at `start`; returns the selector and the index after `]`.
fn bracket(path: &str, start: usize) -> Option<(Sel, usize)> {
    let b = path.as_bytes();
    let mut i = start + 1;
    let mut depth = 1;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match (quote, b[i]) {
            (Some(_), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, b'\'' | b'"') => quote = Some(b[i]),
            (None, b'[') => depth += 1,
            (None, b']') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if i >= b.len() {
        return None;
    }
    let inner = path[start + 1..i].trim();
    let sel = if let Some(q) = inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
    {
        if q.contains(['\'', '"']) && q.contains(',') {
            Sel::Any
        } else {
            Sel::Name(q.replace("\\'", "'").replace("\\\"", "\""))
        }
    } else if let Ok(n) = inner.parse::<i64>() {
        if n < 0 { Sel::Any } else { Sel::Index(n) }
    } else {
        Sel::Any
    };
    Some((sel, i + 1))
}

fn matches(pattern: &Sel, concrete: &Sel) -> bool {
    match (pattern, concrete) {
        (Sel::Any, _) | (_, Sel::Any) => true,
        (a, b) => a == b,
    }
}

fn overlap(p: &[Step], r: &[Step]) -> bool {
    let (Some(step), Some(here)) = (p.first(), r.first()) else {
        // One path ends where the other goes on: one location holds the other.
        return true;
    };
    (matches(&step.sel, &here.sel) && overlap(&p[1..], &r[1..]))
        || (step.descendant && overlap(p, &r[1..]))
}

/// Whether reading `condition_path` may read inside (or a container of) `redacted_path`.
pub fn reads(condition_path: &str, redacted_path: &str) -> bool {
    match (parse(condition_path), parse(redacted_path)) {
        (Some(p), Some(r)) => overlap(&p, &r),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::reads;

    #[test]
    fn same_ancestor_and_descendant_locations_overlap() {
        assert!(reads("$.amountCents", "$.amountCents"));
        assert!(reads("$.customer", "$.customer.taxId"));
        assert!(reads("$.customer.taxId.country", "$.customer.taxId"));
        assert!(reads("$.lines[*].amount", "$.lines[3].amount"));
        assert!(reads("$..card", "$.payment.methods[0].card"));
        assert!(reads("$['weird key']", "$['weird key'].x"));
        assert!(reads("$.a", "$"));
        assert!(reads("$[?@.x > 1].y", "$[2].y"));
        // A redacted object may have held a `card` anywhere below it.
        assert!(reads("$..card", "$.reason"));
    }

    #[test]
    fn disjoint_locations_do_not() {
        assert!(!reads("$.amountCents", "$.reason"));
        assert!(!reads("$.lines[0].amount", "$.lines[1].amount"));
        assert!(!reads("$.lines[*].amount", "$.lines[1].card"));
        assert!(!reads("$.payment..card", "$.reason"));
        assert!(!reads("$.table", "$['reason']"));
    }

    #[test]
    fn what_cannot_be_parsed_overlaps_everything() {
        assert!(reads("amountCents", "$.reason"));
        assert!(reads("$.a[", "$.b"));
    }
}

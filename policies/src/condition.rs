//! `when` conditions: JSONPath tests over the call's arguments that a rule needs to apply.
//!
//! A comparison selects values with a JSONPath and compares each with a literal. It holds when
//! the path selects at least one value and `all` (default) or `any` of them satisfy the
//! operator; `exists` / `absent` only look at whether anything was selected. A value of the wrong
//! type never satisfies an ordering (`"20000"` is not greater than `10000`), so write the
//! permissive rule with the condition that must hold (see "Writing conditions" in the docs).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde::Deserialize;
use serde_json::{Number, Value};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal (numbers by value: `1` equals `1.0`).
    Eq,
    /// Not equal.
    Ne,
    /// Greater than (numbers only).
    Gt,
    /// Greater than or equal (numbers only).
    Gte,
    /// Less than (numbers only).
    Lt,
    /// Less than or equal (numbers only).
    Lte,
    /// Equal to one of a list.
    In,
    /// Equal to none of a list.
    NotIn,
    /// The path selects something.
    Exists,
    /// The path selects nothing.
    Absent,
}

impl Op {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Exists => "exists",
            Op::Absent => "absent",
        }
    }

    pub(crate) fn is_ordering(self) -> bool {
        matches!(self, Op::Gt | Op::Gte | Op::Lt | Op::Lte)
    }

    pub(crate) fn is_presence(self) -> bool {
        matches!(self, Op::Exists | Op::Absent)
    }
}

/// Whether every or some selected value must satisfy a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantifier {
    /// Every selected value (the default).
    All,
    /// At least one selected value.
    Any,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    Compare {
        path: Arc<str>,
        query: Box<JpQuery>,
        /// The same query as plain steps when it is singular (`$.a.b[0]`): evaluated without the
        /// JSONPath engine, which keeps conditions cheap.
        singular: Option<Vec<SingularStep>>,
        op: Op,
        value: Value,
        quantifier: Quantifier,
    },
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
}

/// A step of a singular query.
#[derive(Debug, Clone)]
pub(crate) enum SingularStep {
    Name(String),
    Index(i64),
}

/// The steps of `query` if it only has name and index selectors.
pub(crate) fn singular_steps(query: &JpQuery) -> Option<Vec<SingularStep>> {
    query
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Selector(Selector::Name(n)) => Some(SingularStep::Name(n.clone())),
            Segment::Selector(Selector::Index(i)) => Some(SingularStep::Index(*i)),
            _ => None,
        })
        .collect()
}

fn select_singular<'a>(steps: &[SingularStep], mut at: &'a Value) -> Option<&'a Value> {
    for step in steps {
        at = match (step, at) {
            (SingularStep::Name(n), Value::Object(map)) => map.get(n)?,
            (SingularStep::Index(i), Value::Array(items)) => {
                // RFC 9535: a negative index counts from the end.
                let len = i64::try_from(items.len()).ok()?;
                let i = if *i < 0 { len + i } else { *i };
                items.get(usize::try_from(i).ok()?)?
            }
            _ => return None,
        };
    }
    Some(at)
}

impl Condition {
    /// Evaluates against `args`, appending every JSONPath it read to `read` (for what-if tools).
    pub(crate) fn eval(&self, args: &Value, read: &mut Vec<Arc<str>>) -> bool {
        match self {
            Condition::Compare {
                path,
                query,
                singular,
                op,
                value,
                quantifier,
            } => {
                if !read.contains(path) {
                    read.push(Arc::clone(path));
                }
                if let Some(steps) = singular {
                    // At most one node: the quantifier makes no difference.
                    let selected = select_singular(steps, args);
                    return match op {
                        Op::Exists => selected.is_some(),
                        Op::Absent => selected.is_none(),
                        _ => selected.is_some_and(|v| compare(v, *op, value)),
                    };
                }
                let selected: Vec<&Value> = match jsonpath_rust::query::js_path_process(query, args)
                {
                    Ok(refs) => refs.into_iter().map(|r| r.val).collect(),
                    // Only function results that are not nodes end here; they select nothing.
                    Err(_) => Vec::new(),
                };
                match op {
                    Op::Exists => !selected.is_empty(),
                    Op::Absent => selected.is_empty(),
                    _ if selected.is_empty() => false,
                    _ => match quantifier {
                        Quantifier::All => selected.iter().all(|v| compare(v, *op, value)),
                        Quantifier::Any => selected.iter().any(|v| compare(v, *op, value)),
                    },
                }
            }
            // Evaluate every branch (no short-circuit) so `read` is the same whatever the values.
            Condition::All(cs) => {
                let mut holds = true;
                for c in cs {
                    holds &= c.eval(args, read);
                }
                holds
            }
            Condition::Any(cs) => {
                let mut holds = false;
                for c in cs {
                    holds |= c.eval(args, read);
                }
                holds
            }
            Condition::Not(c) => !c.eval(args, read),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Compare {
                path,
                op,
                value,
                quantifier,
                ..
            } => {
                if op.is_presence() {
                    return write!(f, "{path} {}", op.as_str());
                }
                if *quantifier == Quantifier::Any {
                    write!(f, "any ")?;
                }
                write!(f, "{path} {} {value}", op.as_str())
            }
            Condition::All(cs) => join(f, "all", cs),
            Condition::Any(cs) => join(f, "any", cs),
            Condition::Not(c) => write!(f, "not({c})"),
        }
    }
}

fn join(f: &mut fmt::Formatter<'_>, name: &str, cs: &[Condition]) -> fmt::Result {
    write!(f, "{name}(")?;
    for (i, c) in cs.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "{c}")?;
    }
    write!(f, ")")
}

fn compare(actual: &Value, op: Op, expected: &Value) -> bool {
    match op {
        Op::Eq => json_eq(actual, expected),
        Op::Ne => !json_eq(actual, expected),
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            let (Value::Number(a), Value::Number(b)) = (actual, expected) else {
                return false;
            };
            match num_cmp(a, b) {
                Some(o) => match op {
                    Op::Gt => o == Ordering::Greater,
                    Op::Gte => o != Ordering::Less,
                    Op::Lt => o == Ordering::Less,
                    _ => o != Ordering::Greater,
                },
                None => false,
            }
        }
        Op::In => expected
            .as_array()
            .is_some_and(|xs| xs.iter().any(|x| json_eq(actual, x))),
        Op::NotIn => expected
            .as_array()
            .is_some_and(|xs| !xs.iter().any(|x| json_eq(actual, x))),
        Op::Exists | Op::Absent => false,
    }
}

/// JSON equality where numbers compare by value.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y) == Some(Ordering::Equal),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| json_eq(x, y)))
        }
        _ => a == b,
    }
}

/// Exact for integers, IEEE for anything with a fraction.
fn num_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    // One side is a u64 above i64::MAX and the other negative, or at least one is a float.
    match (a.as_i64(), b.as_u64(), a.as_u64(), b.as_i64()) {
        (Some(_), Some(_), None, None) => return Some(Ordering::Less),
        (None, None, Some(_), Some(_)) => return Some(Ordering::Greater),
        _ => {}
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cmp(path: &str, op: Op, value: Value, quantifier: Quantifier) -> Condition {
        let query = jsonpath_rust::parser::parse_json_path(path).unwrap();
        Condition::Compare {
            path: path.into(),
            singular: singular_steps(&query),
            query: Box::new(query),
            op,
            value,
            quantifier,
        }
    }

    #[test]
    fn comparisons_hold_only_on_selected_values_of_the_right_type() {
        let mut read = Vec::new();
        let gt = cmp("$.amount", Op::Gt, json!(10000), Quantifier::All);
        assert!(gt.eval(&json!({"amount": 10001}), &mut read));
        assert!(gt.eval(&json!({"amount": 10000.5}), &mut read));
        assert!(!gt.eval(&json!({"amount": 10000}), &mut read));
        assert!(!gt.eval(&json!({"amount": "20000"}), &mut read));
        assert!(!gt.eval(&json!({}), &mut read));
        assert!(!gt.eval(&json!(null), &mut read));
        assert_eq!(read.len(), 1);
    }

    #[test]
    fn quantifiers_and_presence() {
        let mut read = Vec::new();
        let args = json!({"lines": [{"amount": 5}, {"amount": 500}]});
        let all = cmp("$.lines[*].amount", Op::Lte, json!(100), Quantifier::All);
        let any = cmp("$.lines[*].amount", Op::Gt, json!(100), Quantifier::Any);
        assert!(!all.eval(&args, &mut read));
        assert!(any.eval(&args, &mut read));
        assert!(cmp("$.lines", Op::Exists, Value::Null, Quantifier::All).eval(&args, &mut read));
        assert!(cmp("$.x", Op::Absent, Value::Null, Quantifier::All).eval(&args, &mut read));
        let inn = cmp("$.c", Op::In, json!(["EUR", 1]), Quantifier::All);
        assert!(inn.eval(&json!({"c": "EUR"}), &mut read));
        assert!(inn.eval(&json!({"c": 1.0}), &mut read));
        assert!(!inn.eval(&json!({"c": "USD"}), &mut read));
        let not_in = cmp("$.c", Op::NotIn, json!(["EUR"]), Quantifier::All);
        assert!(not_in.eval(&json!({"c": "USD"}), &mut read));
        let combined = Condition::Not(Box::new(Condition::Any(vec![inn, not_in])));
        assert!(!combined.eval(&json!({"c": "USD"}), &mut read));
        assert_eq!(
            combined.to_string(),
            "not(any($.c in [\"EUR\",1], $.c not_in [\"EUR\"]))"
        );
    }

    #[test]
    fn singular_fast_path_agrees_with_the_jsonpath_engine() {
        let args = json!({"a": {"b": [1, {"c": "x"}, 3]}, "k y": 2});
        for path in [
            "$.a.b[1].c",
            "$.a.b[-1]",
            "$.a.b[-9]",
            "$.a.b[7]",
            "$['k y']",
            "$.a.x",
            "$",
            "$.a.b.c",
        ] {
            let query = jsonpath_rust::parser::parse_json_path(path).unwrap();
            let steps = singular_steps(&query).unwrap();
            let fast: Vec<&Value> = select_singular(&steps, &args).into_iter().collect();
            let slow: Vec<&Value> = jsonpath_rust::query::js_path_process(&query, &args)
                .unwrap()
                .into_iter()
                .map(|r| r.val)
                .collect();
            assert_eq!(fast, slow, "{path}");
        }
        let query = jsonpath_rust::parser::parse_json_path("$..c").unwrap();
        assert!(singular_steps(&query).is_none());
    }

    #[test]
    fn number_comparison_is_exact_for_large_integers() {
        let big = Number::from(u64::MAX);
        let neg = Number::from(-1i64);
        assert_eq!(num_cmp(&neg, &big), Some(Ordering::Less));
        assert_eq!(num_cmp(&big, &neg), Some(Ordering::Greater));
        assert_eq!(
            num_cmp(
                &Number::from(9007199254740993i64),
                &Number::from(9007199254740992i64)
            ),
            Some(Ordering::Greater)
        );
    }
}

//! `when` conditions: JSONPath tests over the call's arguments that a rule needs to apply.
//!
//! A comparison selects values with a JSONPath and compares each with a literal. It holds when
//! the path selects at least one value and `all` (default) or `any` of them satisfy the
//! operator; `exists` / `absent` only look at whether anything was selected. Numbers compare by
//! value and exactly, and a decimal string (`"-?[0-9]+"` in the int64 range, the form int64
//! arguments beyond 2^53 − 1 take) is the number it spells. A value of another type never
//! satisfies an ordering (`"2e4"` is not greater than `10000`), so write the permissive rule with
//! the condition that must hold (see "Writing conditions" in the docs).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal (numbers by value: `1` equals `1.0` and `"1"`).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
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

/// One comparison of a `when` condition as `explain` evaluated it: what its path selected and
/// whether it held. The selected values are the caller's arguments; `hidden` says they were left
/// out because the decision's audit plan redacts them ([`crate::Explanation::hide_protected`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// The JSONPath as written.
    pub path: String,
    /// The operator.
    pub op: Op,
    /// The value compared with (`null` for `exists` / `absent`).
    pub value: Value,
    /// `all` or `any`.
    pub quantifier: Quantifier,
    /// What the path selected.
    pub selected: Vec<Value>,
    /// Whether `selected` was emptied because the policy protects it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// Whether this comparison held.
    pub holds: bool,
}

/// Every node `query` selects in `args` (the singular steps when there are some).
fn select<'a>(
    query: &JpQuery,
    singular: Option<&[SingularStep]>,
    args: &'a Value,
) -> Vec<&'a Value> {
    if let Some(steps) = singular {
        return select_singular(steps, args).into_iter().collect();
    }
    match jsonpath_rust::query::js_path_process(query, args) {
        Ok(refs) => refs.into_iter().map(|r| r.val).collect(),
        // Only function results that are not nodes end here; they select nothing.
        Err(_) => Vec::new(),
    }
}

/// What a JSONPath (as written in a condition) selects in `args`; nothing for a path that does
/// not parse (a compiled condition's always does).
pub(crate) fn select_path<'a>(path: &str, args: &'a Value) -> Vec<&'a Value> {
    match jsonpath_rust::parser::parse_json_path(path) {
        Ok(query) => select(&query, singular_steps(&query).as_deref(), args),
        Err(_) => Vec::new(),
    }
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
                    // At most one node: the quantifier makes no difference (and no allocation
                    // keeps the common condition cheap).
                    let selected = select_singular(steps, args);
                    return match op {
                        Op::Exists => selected.is_some(),
                        Op::Absent => selected.is_none(),
                        _ => selected.is_some_and(|v| compare(v, *op, value)),
                    };
                }
                let selected = select(query, None, args);
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

    /// Every comparison of the condition, in order, as evaluated against `args` (for `explain`).
    pub(crate) fn comparisons(&self, args: &Value, out: &mut Vec<Comparison>) {
        match self {
            Condition::Compare {
                path,
                query,
                singular,
                op,
                value,
                quantifier,
            } => {
                let selected = select(query, singular.as_deref(), args);
                let holds = self.eval(args, &mut Vec::new());
                out.push(Comparison {
                    path: path.to_string(),
                    op: *op,
                    value: value.clone(),
                    quantifier: *quantifier,
                    selected: selected.into_iter().cloned().collect(),
                    hidden: false,
                    holds,
                });
            }
            Condition::All(cs) | Condition::Any(cs) => {
                for c in cs {
                    c.comparisons(args, out);
                }
            }
            Condition::Not(c) => c.comparisons(args, out),
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
            let (Some(a), Some(b)) = (Num::of(actual), Num::of(expected)) else {
                return false;
            };
            match a.cmp(b) {
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

/// JSON equality where numbers compare by value, a decimal string as the number it spells (two
/// strings compare as strings).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_) | Value::String(_))
        | (Value::String(_), Value::Number(_)) => match (Num::of(a), Num::of(b)) {
            (Some(x), Some(y)) => x.cmp(y) == Some(Ordering::Equal),
            _ => false,
        },
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

/// A numeric value: a JSON integer (exact, any width serde_json holds), a double, or a decimal
/// string of an int64.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    pub(crate) fn of(value: &Value) -> Option<Num> {
        match value {
            Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .map(Num::Int)
                .or_else(|| n.as_f64().map(Num::Float)),
            Value::String(s) => decimal_int64(s).map(|i| Num::Int(i.into())),
            _ => None,
        }
    }

    /// Exact: integers as integers, an integer against a double without rounding either, two
    /// doubles as IEEE (`None` only for NaN, which JSON cannot hold).
    pub(crate) fn cmp(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (Num::Float(a), Num::Float(b)) => a.partial_cmp(&b),
            (Num::Int(a), Num::Float(b)) => int_float_cmp(a, b),
            (Num::Float(a), Num::Int(b)) => int_float_cmp(b, a).map(Ordering::reverse),
        }
    }
}

/// `i` against `f`, exactly: compare with `f`'s integer part, then its fraction breaks a tie.
fn int_float_cmp(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // Beyond ±2^127 every i128 is on one side (and ±infinity too).
    const LIMIT: f64 = 1.7014118346046923e38; // 2^127
    if f >= LIMIT {
        return Some(Ordering::Less);
    }
    if f < -LIMIT {
        return Some(Ordering::Greater);
    }
    // |trunc(f)| < 2^127 and integer-valued: the conversion is exact.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "integer-valued and within i128"
    )]
    let whole = f.trunc() as i128;
    // `partial_cmp`, not `total_cmp`: the fraction of -2.0 is -0.0, which equals 0.
    let fraction = 0.0_f64.partial_cmp(&f.fract()).unwrap_or(Ordering::Equal);
    Some(i.cmp(&whole).then(fraction))
}

/// A decimal string of an int64: `-?[0-9]+` in range (no `+`, spaces, fraction, exponent, hex).
pub(crate) fn decimal_int64(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
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
        assert!(gt.eval(&json!({"amount": "20000"}), &mut read));
        assert!(!gt.eval(&json!({"amount": "2e4"}), &mut read));
        assert!(!gt.eval(&json!({"amount": "+20000"}), &mut read));
        assert!(!gt.eval(&json!({"amount": " 20000"}), &mut read));
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

    fn num(v: Value) -> Num {
        Num::of(&v).unwrap()
    }

    #[test]
    fn number_comparison_is_exact_for_large_integers() {
        let big = num(json!(u64::MAX));
        let neg = num(json!(-1i64));
        assert_eq!(neg.cmp(big), Some(Ordering::Less));
        assert_eq!(big.cmp(neg), Some(Ordering::Greater));
        assert_eq!(
            num(json!(9007199254740993i64)).cmp(num(json!(9007199254740992i64))),
            Some(Ordering::Greater)
        );
        assert_eq!(
            num(json!("9007199254740993")).cmp(num(json!(9007199254740992.0))),
            Some(Ordering::Greater)
        );
        assert_eq!(
            num(json!("300")).cmp(num(json!(300.0))),
            Some(Ordering::Equal)
        );
        assert_eq!(num(json!(-3)).cmp(num(json!(-2.5))), Some(Ordering::Less));
        assert_eq!(
            num(json!(-2)).cmp(num(json!(-2.5))),
            Some(Ordering::Greater)
        );
        assert_eq!(num(json!(2)).cmp(num(json!(2.5))), Some(Ordering::Less));
        assert_eq!(num(json!(-2)).cmp(num(json!(-2.0))), Some(Ordering::Equal));
        assert_eq!(
            num(json!(i64::MIN)).cmp(num(json!(-1e300))),
            Some(Ordering::Greater)
        );
        assert!(Num::of(&json!("9223372036854775808")).is_none());
        assert!(json_eq(&json!(300), &json!("300")));
        assert!(!json_eq(&json!("007"), &json!("7")));
        assert!(json_eq(&json!("007"), &json!(7)));
    }
}

//! By-value redaction: a value the policy redacted at one location must not reappear in clear
//! anywhere else in the same call — in another member of the result, in a Convex error message,
//! in a function's log lines (`docs/policy-format.md` §5, "By value").
//!
//! An [`Exposure`] is built from the originals a plan redacted ([`crate::Redacted::originals`]):
//! every string and number leaf among them is a protected text. [`Exposure::scrub`] then
//! replaces each occurrence of a protected text in every string (and object key) of another
//! value by `"[REDACTED]"`:
//!
//! - a text of 4 characters or more is replaced wherever it occurs, also inside a longer string;
//! - a shorter text (`"9"`, `"AB"`, a small number) only where it stands alone: not next to a
//!   letter or digit, so that redacting the slot `"9"` does not rewrite every 9 in a sentence
//!   but does rewrite `slot 9 is taken`;
//! - strings are also looked for in their JSON-escaped form, since a message may quote a value
//!   as JSON;
//! - booleans and `null` are not protected texts (they carry no identity of their own).
use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};
use serde_json::Value;

use crate::commitment::{COMMIT_MEMBER, COMMIT_PREFIX};
use crate::redaction::MASK;

/// Texts shorter than this (in characters) are replaced only where they stand alone.
const SHORT_TEXT_CHARS: usize = 4;

/// The protected texts of one call, and a matcher over them.
#[derive(Clone, Default)]
pub struct Exposure {
    texts: Vec<String>,
    matcher: Option<AhoCorasick>,
}

impl std::fmt::Debug for Exposure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Exposure(<{} texts>)", self.texts.len())
    }
}

impl Exposure {
    /// The protected texts among `values` (their string and number leaves).
    pub fn of<'a>(values: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut texts = Vec::new();
        for value in values {
            collect(value, &mut texts);
        }
        texts.sort();
        texts.dedup();
        let matcher = (!texts.is_empty())
            .then(|| {
                // Built once per call and run over one result: a non-contiguous NFA is the
                // quickest to build (a DFA would cost more to build than the scan saves).
                AhoCorasick::builder()
                    .kind(Some(AhoCorasickKind::NoncontiguousNFA))
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&texts)
                    .ok()
            })
            .flatten();
        Exposure { texts, matcher }
    }

    /// Whether there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// `value` with every protected text replaced in its strings and keys, and how many were.
    pub fn scrub(&self, value: &Value) -> (Value, usize) {
        let mut out = value.clone();
        let count = self.scrub_in_place(&mut out);
        (out, count)
    }

    /// Replaces every protected text in `value`'s strings and keys, in place (nothing is
    /// reallocated where nothing matches); returns how many were replaced.
    pub fn scrub_in_place(&self, value: &mut Value) -> usize {
        let mut count = 0;
        if !self.is_empty() {
            self.scrub_value(value, &mut count);
        }
        count
    }

    /// `text` with every protected text replaced.
    pub fn scrub_text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut count = 0;
        self.scrub_str(text, &mut count)
    }

    fn scrub_value(&self, value: &mut Value, count: &mut usize) {
        match value {
            Value::String(s) => {
                if let Cow::Owned(replaced) = self.scrub_str(s, count) {
                    *s = replaced;
                }
            }
            // A protected number (or a protected string of digits) coming back as a number.
            Value::Number(n) if self.texts.binary_search(&n.to_string()).is_ok() => {
                *value = Value::String(MASK.to_owned());
                *count += 1;
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_value(v, count)),
            // A commitment the plan wrote is the redaction itself: its hex digits are not the
            // caller's text. Only a well-formed one is skipped (a caller can send the shape).
            Value::Object(map) if is_commitment(map) => {}
            Value::Object(map) => {
                map.values_mut().for_each(|v| self.scrub_value(v, count));
                let renamed = map.keys().any(|k| self.matches(k));
                if renamed {
                    let old = std::mem::take(map);
                    for (k, v) in old {
                        let mut key = self.scrub_str(&k, count).into_owned();
                        // Two keys may scrub to one: keep both values.
                        let mut n = 1;
                        while map.contains_key(&key) {
                            n += 1;
                            key = format!("{MASK}#{n}");
                        }
                        map.insert(key, v);
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether `text` holds a protected text (standing alone, for a short one).
    fn matches(&self, text: &str) -> bool {
        let mut count = 0;
        matches!(self.scrub_str(text, &mut count), Cow::Owned(_))
    }

    fn scrub_str<'t>(&self, text: &'t str, count: &mut usize) -> Cow<'t, str> {
        if self.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out: Option<String> = None;
        let mut last = 0;
        let mut at = 0;
        while let Some((start, end, pattern)) = self.find_at(text, at) {
            if self.texts[pattern].chars().count() < SHORT_TEXT_CHARS
                && !stands_alone(text, start, end)
            {
                // Not standing alone: look again one character further, so that a longer text
                // overlapping this short one is still found ("12" inside "12025550123").
                at = start + text[start..].chars().next().map_or(1, char::len_utf8);
                continue;
            }
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buf.push_str(&text[last..start]);
            buf.push_str(MASK);
            last = end;
            at = end;
            *count += 1;
        }
        match out {
            None => Cow::Borrowed(text),
            Some(mut buf) => {
                buf.push_str(&text[last..]);
                Cow::Owned(buf)
            }
        }
    }

    /// The leftmost-longest protected text in `text` at or after byte `at`: (start, end,
    /// pattern). Without an automaton (it could not be built) every text is searched in turn:
    /// slower, never weaker.
    fn find_at(&self, text: &str, at: usize) -> Option<(usize, usize, usize)> {
        if at >= text.len() {
            return None;
        }
        match &self.matcher {
            Some(m) => m
                .find(Input::new(text).span(at..text.len()))
                .map(|m| (m.start(), m.end(), m.pattern().as_usize())),
            None => self
                .texts
                .iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    text[at..]
                        .find(t.as_str())
                        .map(|s| (at + s, at + s + t.len(), i))
                })
                .min_by_key(|&(start, end, _)| (start, std::cmp::Reverse(end))),
        }
    }
}

/// Whether `map` is exactly `{"$commit": "blake3k:<64 lowercase hex>"}`.
fn is_commitment(map: &serde_json::Map<String, Value>) -> bool {
    map.len() == 1
        && map
            .get(COMMIT_MEMBER)
            .and_then(Value::as_str)
            .and_then(|c| c.strip_prefix(COMMIT_PREFIX))
            .is_some_and(|hex| {
                hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
}

/// Whether `text[start..end]` has no letter or digit right before or after it.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
}

fn collect(value: &Value, texts: &mut Vec<String>) {
    match value {
        Value::String(s) if !s.is_empty() => {
            texts.push(s.clone());
            let escaped = serde_json::to_string(s).unwrap_or_default();
            let escaped = escaped
                .get(1..escaped.len().saturating_sub(1))
                .unwrap_or_default();
            if escaped != s {
                texts.push(escaped.to_owned());
            }
        }
        Value::Number(n) => texts.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| collect(v, texts)),
        Value::Object(map) => map.values().for_each(|v| collect(v, texts)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_texts_are_replaced_anywhere() {
        let e = Exposure::of([&json!("987-65-4321")]);
        let (out, n) = e.scrub(&json!({
            "message": "Uncaught ConvexError: ssn 987-65-4321 exists (987-65-4321)",
            "logLines": ["[LOG] checking 987-65-43210"],
            "987-65-4321": 1,
        }));
        assert_eq!(n, 4);
        let text = out.to_string();
        assert!(!text.contains("987-65-4321"), "{text}");
        assert!(text.contains("ssn [REDACTED] exists"));
    }

    #[test]
    fn short_texts_only_where_they_stand_alone() {
        let e = Exposure::of([&json!({"slot": "9", "room": 12})]);
        assert_eq!(e.scrub_text("slot 9 is taken"), "slot [REDACTED] is taken");
        assert_eq!(
            e.scrub_text("9:30 in room 12"),
            "[REDACTED]:30 in room [REDACTED]"
        );
        assert_eq!(e.scrub_text("v19 and 129"), "v19 and 129");
    }

    #[test]
    fn json_escaped_forms_and_nested_values() {
        let e = Exposure::of([&json!({"note": "say \"hi\"", "list": ["abcd"]})]);
        assert_eq!(
            e.scrub_text(r#"data: {"note":"say \"hi\""} abcd"#),
            r#"data: {"note":"[REDACTED]"} [REDACTED]"#
        );
    }

    #[test]
    fn commitments_are_left_whole_but_not_their_shape() {
        let commit = json!({"$commit": format!("blake3k:2026{}", "a".repeat(60))});
        let e = Exposure::of([&json!(2026), &json!("987-65-4321")]);
        assert_eq!(e.scrub(&commit), (commit, 0));
        let forged = json!({"$commit": "987-65-4321"});
        assert_eq!(e.scrub(&forged).0, json!({"$commit": "[REDACTED]"}));
    }

    #[test]
    fn numbers_and_overlaps_and_colliding_keys() {
        let e = Exposure::of([&json!("123456789"), &json!(12), &json!("2025550123")]);
        let (out, n) = e.scrub(&json!({"n": 123456789, "room": 12, "other": 13,
                                        "text": "call 12025550123"}));
        assert_eq!(
            out,
            json!({"n": "[REDACTED]", "room": "[REDACTED]", "other": 13,
                   "text": "call 1[REDACTED]"})
        );
        assert_eq!(n, 3);
        let e = Exposure::of([&json!("alpha"), &json!("bravo")]);
        let (out, _) = e.scrub(&json!({"alpha": 1, "bravo": 2}));
        assert_eq!(out.as_object().unwrap().len(), 2, "{out}");
    }

    #[test]
    fn booleans_null_and_empty_strings_protect_nothing() {
        let e = Exposure::of([&json!([true, null, ""])]);
        assert!(e.is_empty());
        assert_eq!(e.scrub(&json!({"a": "true"})).1, 0);
        assert_eq!(format!("{e:?}"), "Exposure(<0 texts>)");
    }
}

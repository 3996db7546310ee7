//! Canonical JSON (RFC 8785, "JCS") for ledger entries: the reference encoder, the member order,
//! and [`check`], a single-pass scanner that accepts exactly the canonical encodings of objects.
//!
//! The ledger stores every entry as the JCS bytes of a JSON object and hashes those bytes, so the
//! verifier must know that stored bytes are *exactly* canonical. Parsing each entry into a
//! [`serde_json::Value`] and re-encoding it to compare would dominate the verifier's cost, so
//! [`check`] validates the bytes in place instead:
//!
//! ```text
//! {"a":1,"b":[true,null],"c":"\u001f\n€😀"}     canonical
//! {"b":1,"a":1}                                  keys out of order (UTF-16 code unit order)
//! {"a":1.0}  {"a":1E3}  {"a":-0}  {"a":01}       numbers not in ECMAScript Number::toString form
//! {"a":"\/"}  {"a":"\u001F"}  {"a":"\u0041"}     escapes JCS never writes
//! { "a":1}                                       insignificant whitespace
//! ```
//!
//! **Invariant:** `check(b).is_ok()` if and only if `b` parses (with `serde_json`) as a JSON object
//! with no key reserved by serde_json (see [`crate::json`]) and [`encode`] of that value is `b`
//! again. The differential property tests (in
//! `canonical/tests.rs`, kept apart for length) and the `entry_decode` fuzz target hold [`check`]
//! to that.
//!
//! The reference encoder is `serde_json_canonicalizer`; where this module needs the exact
//! ECMAScript digits of a non-integer it asks that crate rather than reimplementing them.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

/// Deepest nesting of objects and arrays [`check`] accepts; the top-level object is depth 1.
///
/// This is `serde_json`'s own recursion limit, so that [`check`] accepts exactly what the
/// reference parse-and-encode round trip accepts.
pub const MAX_DEPTH: usize = 127;

/// The JCS encoding of `value`, from the reference encoder.
pub fn encode(value: &serde_json::Value) -> Vec<u8> {
    // Invariant: encoding a `Value` cannot fail. The encoder fails only on non-finite numbers
    // (a `serde_json::Number` is always finite), duplicate keys (a `Map` has none), non-string
    // keys and raw values (a `Value` has neither), and I/O errors (a `Vec` has none).
    serde_json_canonicalizer::to_vec(value).expect("a serde_json::Value always has a JCS encoding")
}

/// Parses any JSON text and returns its JCS encoding: the slow reference path that [`check`]
/// stands in for. Useful to show what a non-canonical entry should have been.
pub fn canonicalize(json: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_slice(json)?;
    Ok(encode(&value))
}

/// Appends the JCS encoding of the string `s` (quotes included) to `out`.
///
/// JCS escapes `"` and `\`, writes `\b \f \n \r \t` for those controls and `\u00xx` (lowercase
/// hex) for the other C0 controls, and writes everything else, U+007F and non-BMP included, as
/// literal UTF-8.
pub fn encode_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[run_start..i]);
        run_start = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// JCS member order: compares `a` and `b` as sequences of UTF-16 code units.
///
/// This differs from `str`'s (code point) order only where a character at or above U+E000 meets
/// a supplementary one: UTF-16 sorts the supplementary character (a surrogate pair, D800–DBFF
/// first) before U+E000–U+FFFF. Works on the UTF-8 bytes without transcoding.
pub fn cmp_keys(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => utf16_rank(a[i]).cmp(&utf16_rank(b[i])),
        None => a.len().cmp(&b.len()),
    }
}

/// Orders the first differing byte of two UTF-8 strings as UTF-16 would order the characters.
///
/// The strings share every byte before it, so either both bytes continue the same lead byte
/// (same encoded length, same UTF-16 class: byte order is the answer and continuation bytes are
/// left alone) or both are lead bytes. Among lead bytes, `EE`/`EF` (U+E000–U+FFFF) must sort
/// after `F0`–`F4` (supplementary); every other lead already sorts as UTF-16 does.
fn utf16_rank(byte: u8) -> u8 {
    match byte {
        0xee | 0xef => byte + 0x10,
        0xf0..=0xf4 => byte - 0x02,
        _ => byte,
    }
}

/// Why bytes are not the canonical encoding of an object, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {reason}")]
pub struct CanonicalError {
    /// Offset of the first byte that is wrong (the input's length if it ended too soon).
    pub offset: usize,
    /// What is wrong there.
    pub reason: CanonicalErrorKind,
}

/// The ways bytes can fail [`check`]; see [`CanonicalError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CanonicalErrorKind {
    /// A string holds bytes that are not UTF-8.
    NotUtf8,
    /// Whitespace between tokens (JCS writes none).
    Whitespace,
    /// A backslash escape JSON does not define.
    BadEscape,
    /// A valid JSON escape that JCS does not write (`\/`, `\u0041`, `\u000A`, `\u001F`…).
    NonCanonicalEscape,
    /// A raw control character (below U+0020) inside a string.
    UnescapedControl,
    /// An object member whose key sorts before the previous one.
    KeysOutOfOrder,
    /// An object member whose key equals the previous one.
    DuplicateKey,
    /// A key starting with `$serde_json::private::`, which decodes differently depending on
    /// serde_json's features (see [`crate::json`]).
    ReservedKey,
    /// Not a JSON number (`-`, `1.`, `1e`, `.5`).
    InvalidNumber,
    /// A number not written as ECMAScript's `Number::toString` writes it.
    NonCanonicalNumber,
    /// Bytes after the top-level object.
    TrailingBytes,
    /// The top-level value is valid JSON but not an object.
    NotAnObject,
    /// Objects and arrays nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// The input ended inside a value.
    UnexpectedEnd,
    /// A byte that cannot appear at this point.
    UnexpectedByte,
}

impl fmt::Display for CanonicalErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotUtf8 => "invalid UTF-8",
            Self::Whitespace => "whitespace between tokens",
            Self::BadEscape => "invalid escape sequence",
            Self::NonCanonicalEscape => "escape sequence not in canonical form",
            Self::UnescapedControl => "unescaped control character in string",
            Self::KeysOutOfOrder => "object keys out of order",
            Self::DuplicateKey => "duplicate object key",
            Self::ReservedKey => "object key reserved by serde_json ($serde_json::private::…)",
            Self::InvalidNumber => "invalid number",
            Self::NonCanonicalNumber => "number not in canonical form",
            Self::TrailingBytes => "trailing bytes after the object",
            Self::NotAnObject => "top-level value is not an object",
            Self::TooDeep => "objects and arrays nested too deeply",
            Self::UnexpectedEnd => "unexpected end of input",
            Self::UnexpectedByte => "unexpected byte",
        })
    }
}

/// One top-level member of a checked object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    /// The key, unescaped (borrowed from the input unless it contained an escape).
    pub key: Cow<'a, str>,
    /// The value's canonical bytes, exactly as they appear in the input.
    pub value: &'a [u8],
}

/// A canonical object accepted by [`check`]: its top-level members in (JCS) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object<'a> {
    bytes: &'a [u8],
    members: Vec<Member<'a>>,
}

impl<'a> Object<'a> {
    /// The whole object's bytes (the input to [`check`]).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The members, sorted by [`cmp_keys`].
    pub fn members(&self) -> &[Member<'a>] {
        &self.members
    }

    /// Number of top-level members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the object is `{}`.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The members as `(key, raw value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &'a [u8])> + '_ {
        self.members.iter().map(|m| (m.key.as_ref(), m.value))
    }

    /// The raw canonical bytes of the value under `key`.
    pub fn get(&self, key: &str) -> Option<&'a [u8]> {
        self.members
            .binary_search_by(|m| cmp_keys(&m.key, key))
            .ok()
            .map(|i| self.members[i].value)
    }

    /// The value under `key` if it is a non-negative integer no larger than 2^53 − 1 (the
    /// integers every JSON implementation, ECMAScript's included, reads exactly).
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
        let raw = self.get(key)?;
        // Canonical, so digits only means a plain integer with no leading zero.
        if raw.is_empty() || raw.len() > 16 || !raw.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = raw.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        (n <= MAX_SAFE_INTEGER).then_some(n)
    }

    /// The value under `key` if it is a string, unescaped.
    pub fn get_str(&self, key: &str) -> Option<Cow<'a, str>> {
        let raw = self.get(key)?;
        let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        std::str::from_utf8(inner).ok().map(unescape)
    }
}

/// Checks that `bytes` are exactly the JCS encoding of a JSON object, and returns its top-level
/// members. See the module docs for what "exactly" means.
pub fn check(bytes: &[u8]) -> Result<Object<'_>, CanonicalError> {
    let mut scanner = Scanner { bytes, pos: 0 };
    match bytes.first() {
        Some(b'{') => {}
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            return Err(scanner.error(0, CanonicalErrorKind::NotAnObject));
        }
        _ => return Err(scanner.unexpected(0)),
    }
    let mut members = Vec::with_capacity(16);
    scanner.object(1, Some(&mut members))?;
    if scanner.pos < bytes.len() {
        let kind = if is_whitespace(bytes[scanner.pos]) {
            CanonicalErrorKind::Whitespace
        } else {
            CanonicalErrorKind::TrailingBytes
        };
        return Err(scanner.error(scanner.pos, kind));
    }
    Ok(Object { bytes, members })
}

/// Bytes that may appear unescaped inside a canonical string and need no further look: printable
/// ASCII other than `"` and `\`. Non-ASCII bytes are validated a run at a time.
static PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x20;
    while b < 0x80 {
        table[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    table
};

/// The offset of the first byte at or after `i` that is not [`PLAIN`] (or `bytes.len()`).
///
/// Looks at eight bytes at a time (SWAR): this loop is where [`check`] spends most of its time.
fn skip_plain(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Sets the high bit of the lowest byte lane below `n` (n <= 0x80), and perhaps of higher
    // lanes through the borrow, never of a lower one: exact for the first match.
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word;
    while let Some(chunk) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let special = (below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | word)
            & HIGHS;
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && PLAIN[usize::from(bytes[i])] {
        i += 1;
    }
    i
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A string's content between its quotes, still escaped; `escaped` says whether it has escapes.
#[derive(Clone, Copy)]
struct RawStr<'a> {
    content: &'a [u8],
    escaped: bool,
}

impl<'a> RawStr<'a> {
    /// The content as text. Infallible in practice: the scanner validated the UTF-8 already.
    fn text(&self, at: usize) -> Result<&'a str, CanonicalError> {
        std::str::from_utf8(self.content).map_err(|_| CanonicalError {
            offset: at,
            reason: CanonicalErrorKind::NotUtf8,
        })
    }
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn error(&self, offset: usize, reason: CanonicalErrorKind) -> CanonicalError {
        CanonicalError { offset, reason }
    }

    /// The error for a byte (or the end) where something else was expected.
    fn unexpected(&self, at: usize) -> CanonicalError {
        let reason = match self.bytes.get(at) {
            None => CanonicalErrorKind::UnexpectedEnd,
            Some(&b) if is_whitespace(b) => CanonicalErrorKind::Whitespace,
            Some(_) => CanonicalErrorKind::UnexpectedByte,
        };
        self.error(at, reason)
    }

    fn expect(&mut self, byte: u8) -> Result<(), CanonicalError> {
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(self.pos))
        }
    }

    fn enter(&self, depth: usize) -> Result<(), CanonicalError> {
        if depth > MAX_DEPTH {
            Err(self.error(self.pos, CanonicalErrorKind::TooDeep))
        } else {
            Ok(())
        }
    }

    /// An object at `self.pos` (on its `{`) at nesting `depth`; collects members into `members`
    /// when given (only the top level is collected).
    fn object(
        &mut self,
        depth: usize,
        mut members: Option<&mut Vec<Member<'a>>>,
    ) -> Result<(), CanonicalError> {
        self.enter(depth)?;
        self.pos += 1;
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut previous: Option<RawStr<'a>> = None;
        loop {
            let key_at = self.pos;
            if self.bytes.get(key_at) != Some(&b'"') {
                return Err(self.unexpected(key_at));
            }
            let key = self.string()?;
            // JCS never escapes `$`, `:` or letters, so a reserved key's prefix is literal here.
            if key
                .content
                .starts_with(crate::json::RESERVED_KEY_PREFIX.as_bytes())
            {
                return Err(self.error(key_at, CanonicalErrorKind::ReservedKey));
            }
            if let Some(previous) = previous {
                match cmp_raw_keys(previous, key, key_at)? {
                    Ordering::Less => {}
                    Ordering::Equal => {
                        return Err(self.error(key_at, CanonicalErrorKind::DuplicateKey));
                    }
                    Ordering::Greater => {
                        return Err(self.error(key_at, CanonicalErrorKind::KeysOutOfOrder));
                    }
                }
            }
            previous = Some(key);
            self.expect(b':')?;
            let value_at = self.pos;
            self.value(depth)?;
            if let Some(members) = members.as_deref_mut() {
                let text = key.text(key_at)?;
                members.push(Member {
                    key: if key.escaped {
                        unescape(text)
                    } else {
                        Cow::Borrowed(text)
                    },
                    value: &self.bytes[value_at..self.pos],
                });
            }
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.unexpected(self.pos)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), CanonicalError> {
        self.enter(depth)?;
        self.pos += 1;
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.value(depth)?;
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.unexpected(self.pos)),
            }
        }
    }

    /// Any value at `self.pos`, inside a container at nesting `depth`.
    fn value(&mut self, depth: usize) -> Result<(), CanonicalError> {
        match self.bytes.get(self.pos) {
            Some(b'"') => self.string().map(drop),
            Some(b'{') => self.object(depth + 1, None),
            Some(b'[') => self.array(depth + 1),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            _ => Err(self.unexpected(self.pos)),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), CanonicalError> {
        for (i, &expected) in word.iter().enumerate() {
            match self.bytes.get(self.pos + i) {
                Some(&b) if b == expected => {}
                _ => return Err(self.unexpected(self.pos + i)),
            }
        }
        self.pos += word.len();
        Ok(())
    }

    /// A string at `self.pos` (on its opening quote); leaves `self.pos` after the closing quote.
    fn string(&mut self) -> Result<RawStr<'a>, CanonicalError> {
        let bytes = self.bytes;
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = skip_plain(bytes, i);
            let Some(&b) = bytes.get(i) else {
                return Err(self.error(bytes.len(), CanonicalErrorKind::UnexpectedEnd));
            };
            match b {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(RawStr {
                        content: &bytes[start..i],
                        escaped,
                    });
                }
                b'\\' => {
                    i = self.escape(i)?;
                    escaped = true;
                }
                0x00..=0x1f => {
                    return Err(self.error(i, CanonicalErrorKind::UnescapedControl));
                }
                _ => {
                    // A maximal run of non-ASCII bytes is valid UTF-8 exactly when the text
                    // around it is: multi-byte characters contain no ASCII bytes.
                    let run = bytes[i..].iter().take_while(|&&b| b >= 0x80).count();
                    if let Err(e) = std::str::from_utf8(&bytes[i..i + run]) {
                        return Err(self.error(i + e.valid_up_to(), CanonicalErrorKind::NotUtf8));
                    }
                    i += run;
                }
            }
        }
    }

    /// The escape at `at` (on its backslash); returns the offset just after it.
    fn escape(&self, at: usize) -> Result<usize, CanonicalError> {
        let Some(&kind) = self.bytes.get(at + 1) else {
            return Err(self.error(self.bytes.len(), CanonicalErrorKind::UnexpectedEnd));
        };
        match kind {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(at + 2),
            b'/' => Err(self.error(at, CanonicalErrorKind::NonCanonicalEscape)),
            b'u' => {
                let mut code = 0u32;
                let mut lowercase = true;
                for i in at + 2..at + 6 {
                    let Some(&h) = self.bytes.get(i) else {
                        return Err(self.error(self.bytes.len(), CanonicalErrorKind::UnexpectedEnd));
                    };
                    let Some(digit) = char::from(h).to_digit(16) else {
                        return Err(self.error(at, CanonicalErrorKind::BadEscape));
                    };
                    lowercase &= !h.is_ascii_uppercase();
                    code = code << 4 | digit;
                }
                // JCS writes `\u00xx` only for C0 controls without a short escape.
                let canonical =
                    lowercase && code < 0x20 && !matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d);
                if canonical {
                    Ok(at + 6)
                } else {
                    Err(self.error(at, CanonicalErrorKind::NonCanonicalEscape))
                }
            }
            _ => Err(self.error(at, CanonicalErrorKind::BadEscape)),
        }
    }

    /// A number at `self.pos` (on its `-` or first digit).
    fn number(&mut self) -> Result<(), CanonicalError> {
        let bytes = self.bytes;
        let start = self.pos;
        let digits_from =
            |i: usize| i + bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let negative = bytes[start] == b'-';
        let int_start = start + usize::from(negative);
        let int_end = match bytes.get(int_start) {
            Some(b'0') => int_start + 1,
            Some(b'1'..=b'9') => digits_from(int_start),
            _ => return Err(self.number_error(int_start)),
        };
        let mut end = int_end;
        if bytes.get(end) == Some(&b'.') {
            let frac_end = digits_from(end + 1);
            if frac_end == end + 1 {
                return Err(self.number_error(frac_end));
            }
            end = frac_end;
        }
        let fixed_end = end;
        if let Some(b'e' | b'E') = bytes.get(end) {
            let mut exp_start = end + 1;
            if let Some(b'+' | b'-') = bytes.get(exp_start) {
                exp_start += 1;
            }
            let exp_end = digits_from(exp_start);
            if exp_end == exp_start {
                return Err(self.number_error(exp_end));
            }
            end = exp_end;
        }
        self.pos = end;

        if bytes.get(int_start) == Some(&b'0') && bytes.get(int_end).is_some_and(u8::is_ascii_digit)
        {
            // A leading zero: "01" is not JSON, and never canonical.
            return Err(self.error(start, CanonicalErrorKind::NonCanonicalNumber));
        }
        if end == int_end {
            // A plain integer. With at most 15 digits it is below 2^53, so it is its own
            // canonical form, except that ECMAScript writes -0 as "0".
            if negative && bytes[int_start] == b'0' {
                return Err(self.error(start, CanonicalErrorKind::NonCanonicalNumber));
            }
            if int_end - int_start <= 15 {
                return Ok(());
            }
        }
        if end == fixed_end && is_short_decimal(&bytes[int_start..end]) {
            return Ok(());
        }
        if is_reference_number(&bytes[start..end]) {
            Ok(())
        } else {
            Err(self.error(start, CanonicalErrorKind::NonCanonicalNumber))
        }
    }

    fn number_error(&self, at: usize) -> CanonicalError {
        match self.bytes.get(at) {
            None => self.error(at, CanonicalErrorKind::UnexpectedEnd),
            Some(_) => self.error(at, CanonicalErrorKind::InvalidNumber),
        }
    }
}

/// Whether `digits` (`I.F`, a JSON number's magnitude with a fraction and no exponent, `I`
/// without leading zeros) is canonical without asking the reference encoder: true when it has at
/// most 15 significant digits, no trailing zero, and at most 5 zeros after `0.`.
///
/// Why that suffices: such a decimal is at least 1e-6 and below 1e21, where ECMAScript writes
/// a number's shortest round-trip digits in fixed notation. Any two decimals of at most 15
/// significant digits in the normal range of doubles round to distinct doubles (15 is
/// `f64::DIGITS`), so these digits are the unique shortest ones for the double they denote,
/// and ECMAScript writes that double exactly as `I.F`. Longer decimals take the slow path.
fn is_short_decimal(digits: &[u8]) -> bool {
    let Some(point) = digits.iter().position(|&b| b == b'.') else {
        return false;
    };
    let (int, frac) = (&digits[..point], &digits[point + 1..]);
    if frac.last().is_none_or(|&d| d == b'0') {
        return false;
    }
    let significant = if int == b"0" {
        let zeros = frac.iter().take_while(|&&d| d == b'0').count();
        if zeros > 5 {
            return false;
        }
        frac.len() - zeros
    } else {
        int.len() + frac.len()
    };
    significant <= f64::DIGITS as usize
}

/// Whether `text` (a syntactically valid JSON number) is what the reference encoder writes for
/// the double it denotes: the slow path, taken only for fractions, exponents and long integers.
fn is_reference_number(text: &[u8]) -> bool {
    // The longest canonical number is 25 bytes ("-0.0000012345678901234567"); anything longer
    // is not canonical, and not worth parsing.
    const LONGEST: usize = 25;
    if text.len() > LONGEST {
        return false;
    }
    let Some(value) = std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|v| v.is_finite())
    else {
        return false;
    };
    let mut buffer = [0u8; 32];
    let mut writer: &mut [u8] = &mut buffer;
    if serde_json_canonicalizer::to_writer(&value, &mut writer).is_err() {
        return false;
    }
    let written = 32 - writer.len();
    buffer[..written] == *text
}

/// Compares two raw (still escaped) keys in JCS order. `at` locates the second for errors.
fn cmp_raw_keys(a: RawStr<'_>, b: RawStr<'_>, at: usize) -> Result<Ordering, CanonicalError> {
    if !a.escaped && !b.escaped {
        // Validated UTF-8 on both sides: compare in place.
        return Ok(
            match a.content.iter().zip(b.content).position(|(x, y)| x != y) {
                Some(i) => utf16_rank(a.content[i]).cmp(&utf16_rank(b.content[i])),
                None => a.content.len().cmp(&b.content.len()),
            },
        );
    }
    // Keys with quotes, backslashes or controls in them are rare: unescape and compare.
    Ok(cmp_keys(&unescape(a.text(at)?), &unescape(b.text(at)?)))
}

/// Unescapes the content of a string that [`check`] accepted (so its escapes are canonical).
fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(backslash) = rest.find('\\') {
        out.push_str(&rest[..backslash]);
        let escape = &rest[backslash + 1..];
        let (ch, len) = match escape.as_bytes().first() {
            Some(b'b') => ('\u{8}', 1),
            Some(b'f') => ('\u{c}', 1),
            Some(b'n') => ('\n', 1),
            Some(b'r') => ('\r', 1),
            Some(b't') => ('\t', 1),
            Some(b'u') => {
                let code = escape
                    .get(1..5)
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .and_then(char::from_u32)
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                (code, 5)
            }
            // `\"` and `\\` stand for themselves.
            Some(&other) => (char::from(other), 1),
            None => break,
        };
        out.push(ch);
        rest = escape.get(len..).unwrap_or("");
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests;

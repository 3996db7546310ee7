//! Tests for `canonical`: RFC 8785's own examples, one table row per error kind, and
//! differential property tests against the reference encoder.

use super::*;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Map, Value, json};

use CanonicalErrorKind as K;

/// The reference answer to "is this the canonical encoding of an object?": parse with
/// `serde_json`, re-encode with the reference encoder, compare.
fn reference_accepts(bytes: &[u8]) -> bool {
    match crate::json::parse_plain(bytes) {
        Ok(value) => {
            value.is_object()
                && crate::json::find_reserved_key(&value).is_none()
                && encode(&value) == bytes
        }
        Err(_) => false,
    }
}

fn err(offset: usize, reason: CanonicalErrorKind) -> Result<(), CanonicalError> {
    Err(CanonicalError { offset, reason })
}

fn checked(bytes: &[u8]) -> Result<(), CanonicalError> {
    check(bytes).map(drop)
}

// --- RFC 8785 ------------------------------------------------------------------------------------

/// RFC 8785 §3.2.2 (input) and §3.2.3 (canonical output).
#[test]
fn rfc8785_sample_object() {
    let input = br#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
    let expected = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
    assert_eq!(canonicalize(input).unwrap(), expected.as_bytes());

    let object = check(expected.as_bytes()).unwrap();
    let keys: Vec<&str> = object.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["literals", "numbers", "string"]);
    assert_eq!(object.get("literals"), Some(&b"[null,true,false]"[..]));
    assert_eq!(
        object.get_str("string").unwrap(),
        "\u{20ac}$\u{f}\nA'B\"\\\\\"/"
    );

    assert_eq!(checked(input), err(1, K::Whitespace));
}

/// RFC 8785 §3.2.3's property-sorting example: UTF-16 order puts U+1F600 before U+FB33.
#[test]
fn rfc8785_sorting_example() {
    let value = json!({
        "\u{20ac}": "Euro Sign",
        "\r": "Carriage Return",
        "\u{fb33}": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\u{1f600}": "Emoji: Grinning Face",
        "\u{80}": "Control",
        "\u{f6}": "Latin Small Letter O With Diaeresis",
    });
    let order = [
        "\r",
        "1",
        "\u{80}",
        "\u{f6}",
        "\u{20ac}",
        "\u{1f600}",
        "\u{fb33}",
    ];
    let bytes = encode(&value);
    let object = check(&bytes).unwrap();
    let keys: Vec<&str> = object.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, order);
    assert!(matches!(&object.members()[0].key, Cow::Owned(k) if k == "\r"));
    assert_eq!(
        object.get_str("\u{fb33}").unwrap(),
        "Hebrew Letter Dalet With Dagesh"
    );

    let mut sorted = order;
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.sort_by(|a, b| cmp_keys(a, b));
    assert_eq!(sorted, order);
}

/// RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
const APPENDIX_B: &[(u64, &str)] = &[
    (0x0000000000000000, "0"),
    (0x8000000000000000, "0"),
    (0x0000000000000001, "5e-324"),
    (0x8000000000000001, "-5e-324"),
    (0x7fefffffffffffff, "1.7976931348623157e+308"),
    (0xffefffffffffffff, "-1.7976931348623157e+308"),
    (0x4340000000000000, "9007199254740992"),
    (0xc340000000000000, "-9007199254740992"),
    (0x4430000000000000, "295147905179352830000"),
    (0x44b52d02c7e14af5, "9.999999999999997e+22"),
    (0x44b52d02c7e14af6, "1e+23"),
    (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
    (0x444b1ae4d6e2ef4e, "999999999999999700000"),
    (0x444b1ae4d6e2ef4f, "999999999999999900000"),
    (0x444b1ae4d6e2ef50, "1e+21"),
    (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
    (0x3eb0c6f7a0b5ed8d, "0.000001"),
    (0x41b3de4355555553, "333333333.3333332"),
    (0x41b3de4355555554, "333333333.33333325"),
    (0x41b3de4355555555, "333333333.3333333"),
    (0x41b3de4355555556, "333333333.3333334"),
    (0x41b3de4355555557, "333333333.33333343"),
    (0xbecbf647612f3696, "-0.0000033333333333333333"),
    (0x43143ff3c1cb0959, "1424953923781206.2"),
];

#[test]
fn rfc8785_appendix_b_numbers() {
    for &(bits, text) in APPENDIX_B {
        let value = Value::from(f64::from_bits(bits));
        assert_eq!(encode(&value), text.as_bytes(), "{bits:016x}");
        let entry = format!(r#"{{"n":{text}}}"#);
        assert_eq!(checked(entry.as_bytes()), Ok(()), "{entry}");
        assert_eq!(object_n(&entry), text.as_bytes());
    }
    // The rows the RFC marks as errors: NaN and Infinity have no JSON form at all.
    for bad in ["NaN", "Infinity", "-Infinity"] {
        let entry = format!(r#"{{"n":{bad}}}"#);
        assert!(check(entry.as_bytes()).is_err(), "{entry}");
        assert!(!reference_accepts(entry.as_bytes()), "{entry}");
    }
}

fn object_n(entry: &str) -> &[u8] {
    check(entry.as_bytes()).unwrap().get("n").unwrap()
}

// --- one row per error kind ----------------------------------------------------------------------

struct Case {
    canonical: &'static [u8],
    broken: &'static [u8],
    kind: CanonicalErrorKind,
    offset: usize,
}

const fn case(
    canonical: &'static str,
    broken: &'static [u8],
    kind: CanonicalErrorKind,
    offset: usize,
) -> Case {
    Case {
        canonical: canonical.as_bytes(),
        broken,
        kind,
        offset,
    }
}

const CASES: &[Case] = &[
    // Whitespace anywhere JSON allows it.
    case(r#"{"a":1}"#, br#"{"a": 1}"#, K::Whitespace, 5),
    case(r#"{"a":1}"#, br#" {"a":1}"#, K::Whitespace, 0),
    case(r#"{"a":1}"#, b"{\"a\":1}\n", K::Whitespace, 7),
    case(r#"{"a":[1,2]}"#, b"{\"a\":[1,\t2]}", K::Whitespace, 8),
    case(r#"{"a":1,"b":2}"#, b"{\"a\":1,\r\"b\":2}", K::Whitespace, 7),
    // UTF-8: a lone lead byte, an overlong encoding, an encoded surrogate.
    case(r#"{"a":"é"}"#, b"{\"a\":\"\xc3\"}", K::NotUtf8, 6),
    case(r#"{"a":"/"}"#, b"{\"a\":\"\xc0\xaf\"}", K::NotUtf8, 6),
    case(
        r#"{"a":"x😀"}"#,
        b"{\"a\":\"x\xed\xa0\xbd\xed\xb8\x80\"}",
        K::NotUtf8,
        7,
    ),
    // Escapes JSON does not have.
    case(r#"{"a":"q"}"#, br#"{"a":"\q"}"#, K::BadEscape, 6),
    case(r#"{"a":"ሴ"}"#, br#"{"a":"\u12g4"}"#, K::BadEscape, 6),
    // Escapes JSON has and JCS never writes.
    case(r#"{"a":"/"}"#, br#"{"a":"\/"}"#, K::NonCanonicalEscape, 6),
    case(
        r#"{"a":"A"}"#,
        br#"{"a":"\u0041"}"#,
        K::NonCanonicalEscape,
        6,
    ),
    case(
        r#"{"a":"\n"}"#,
        br#"{"a":"\u000a"}"#,
        K::NonCanonicalEscape,
        6,
    ),
    case(
        r#"{"a":"\u001f"}"#,
        br#"{"a":"\u001F"}"#,
        K::NonCanonicalEscape,
        6,
    ),
    case(
        "{\"a\":\"\u{7f}\"}",
        br#"{"a":"\u007f"}"#,
        K::NonCanonicalEscape,
        6,
    ),
    case(
        "{\"a\":\"\u{2028}\"}",
        br#"{"a":"\u2028"}"#,
        K::NonCanonicalEscape,
        6,
    ),
    case(
        r#"{"a":"😀"}"#,
        br#"{"a":"\ud83d\ude00"}"#,
        K::NonCanonicalEscape,
        6,
    ),
    case(
        r#"{"a":"\"\\"}"#,
        br#"{"a":"\u0022\\"}"#,
        K::NonCanonicalEscape,
        6,
    ),
    // Raw controls must be escaped.
    case(r#"{"a":"\n"}"#, b"{\"a\":\"\n\"}", K::UnescapedControl, 6),
    case(
        r#"{"a":"\u0000"}"#,
        b"{\"a\":\"\x00\"}",
        K::UnescapedControl,
        6,
    ),
    // Member order, by UTF-16 code units, in nested objects and with escaped keys too.
    case(
        r#"{"a":1,"b":2}"#,
        br#"{"b":2,"a":1}"#,
        K::KeysOutOfOrder,
        7,
    ),
    case(
        "{\"\u{1f600}\":1,\"\u{fb33}\":2}",
        "{\"\u{fb33}\":2,\"\u{1f600}\":1}".as_bytes(),
        K::KeysOutOfOrder,
        9,
    ),
    case(
        r#"{"a":{"x":1,"y":2}}"#,
        br#"{"a":{"y":2,"x":1}}"#,
        K::KeysOutOfOrder,
        12,
    ),
    case(
        r#"{"\"":1,"a":2}"#,
        br#"{"a":2,"\"":1}"#,
        K::KeysOutOfOrder,
        7,
    ),
    case(
        r#"{"a":1,"aa":2}"#,
        br#"{"aa":2,"a":1}"#,
        K::KeysOutOfOrder,
        8,
    ),
    // Duplicates (which the reference silently collapses to the last one).
    case(r#"{"a":1}"#, br#"{"a":1,"a":1}"#, K::DuplicateKey, 7),
    case(
        r#"{"\u0001":2}"#,
        br#"{"\u0001":1,"\u0001":2}"#,
        K::DuplicateKey,
        12,
    ),
    case(
        r#"{"a":{"b":2}}"#,
        br#"{"a":{"b":1,"b":2}}"#,
        K::DuplicateKey,
        12,
    ),
    // Not JSON numbers.
    case(r#"{"a":0}"#, br#"{"a":-}"#, K::InvalidNumber, 6),
    case(r#"{"a":1}"#, br#"{"a":1.}"#, K::InvalidNumber, 7),
    case(r#"{"a":1}"#, br#"{"a":1e}"#, K::InvalidNumber, 7),
    case(r#"{"a":1}"#, br#"{"a":1e+}"#, K::InvalidNumber, 8),
    case(r#"{"a":-1}"#, br#"{"a":-a}"#, K::InvalidNumber, 6),
    // JSON numbers, but not as ECMAScript writes them.
    case(r#"{"a":1}"#, br#"{"a":1.0}"#, K::NonCanonicalNumber, 5),
    case(r#"{"a":1}"#, br#"{"a":01}"#, K::NonCanonicalNumber, 5),
    case(r#"{"a":-1}"#, br#"{"a":-01}"#, K::NonCanonicalNumber, 5),
    case(r#"{"a":0}"#, br#"{"a":-0}"#, K::NonCanonicalNumber, 5),
    case(r#"{"a":0}"#, br#"{"a":-0.0}"#, K::NonCanonicalNumber, 5),
    case(r#"{"a":0}"#, br#"{"a":0e0}"#, K::NonCanonicalNumber, 5),
    case(r#"{"a":100}"#, br#"{"a":1e2}"#, K::NonCanonicalNumber, 5),
    case(r#"{"a":1e+30}"#, br#"{"a":1E30}"#, K::NonCanonicalNumber, 5),
    case(r#"{"a":1e+30}"#, br#"{"a":1e30}"#, K::NonCanonicalNumber, 5),
    case(
        r#"{"a":1e+30}"#,
        br#"{"a":1E+30}"#,
        K::NonCanonicalNumber,
        5,
    ),
    case(r#"{"a":4.5}"#, br#"{"a":4.50}"#, K::NonCanonicalNumber, 5),
    case(r#"{"a":0.002}"#, br#"{"a":2e-3}"#, K::NonCanonicalNumber, 5),
    case(
        r#"{"a":1e-7}"#,
        br#"{"a":0.0000001}"#,
        K::NonCanonicalNumber,
        5,
    ),
    case(
        r#"{"a":0.000001}"#,
        br#"{"a":1e-6}"#,
        K::NonCanonicalNumber,
        5,
    ),
    case(
        r#"{"a":1e+21}"#,
        br#"{"a":1000000000000000000000}"#,
        K::NonCanonicalNumber,
        5,
    ),
    case(
        r#"{"a":100000000000000000000}"#,
        br#"{"a":1e+20}"#,
        K::NonCanonicalNumber,
        5,
    ),
    case(
        r#"{"a":9007199254740992}"#,
        br#"{"a":9007199254740993}"#,
        K::NonCanonicalNumber,
        5,
    ),
    case(
        r#"{"a":18446744073709552000}"#,
        br#"{"a":18446744073709551615}"#,
        K::NonCanonicalNumber,
        5,
    ),
    case(
        r#"{"a":333333333.3333333}"#,
        br#"{"a":333333333.33333329}"#,
        K::NonCanonicalNumber,
        5,
    ),
    case(
        r#"{"a":5e-324}"#,
        br#"{"a":4.9406564584124654e-324}"#,
        K::NonCanonicalNumber,
        5,
    ),
    case(r#"{"a":0}"#, br#"{"a":1e-400}"#, K::NonCanonicalNumber, 5),
    case(
        r#"{"a":[1.5]}"#,
        br#"{"a":[1.50]}"#,
        K::NonCanonicalNumber,
        6,
    ),
    // Out of range for a double: no canonical form at all (the "canonical" side is a stand-in).
    case(
        r#"{"a":1.7976931348623157e+308}"#,
        br#"{"a":1e+400}"#,
        K::NonCanonicalNumber,
        5,
    ),
    // After the object.
    case(r#"{"a":1}"#, br#"{"a":1}x"#, K::TrailingBytes, 7),
    case(r#"{}"#, br#"{}{}"#, K::TrailingBytes, 2),
    // Other top-level values.
    case(r#"{}"#, br#"[]"#, K::NotAnObject, 0),
    case(r#"{"a":1}"#, br#""a""#, K::NotAnObject, 0),
    case(r#"{"a":1}"#, br#"1"#, K::NotAnObject, 0),
    case(r#"{"a":null}"#, br#"null"#, K::NotAnObject, 0),
    // Truncation.
    case(r#"{}"#, br#""#, K::UnexpectedEnd, 0),
    case(r#"{}"#, br#"{"#, K::UnexpectedEnd, 1),
    case(r#"{"a":1}"#, br#"{"a":1"#, K::UnexpectedEnd, 6),
    case(r#"{"a":"x"}"#, br#"{"a":"x"#, K::UnexpectedEnd, 7),
    case(r#"{"a":true}"#, br#"{"a":tru"#, K::UnexpectedEnd, 8),
    case(r#"{"a":"\u0001"}"#, br#"{"a":"\u00"#, K::UnexpectedEnd, 10),
    case(r#"{"a":-1}"#, br#"{"a":-"#, K::UnexpectedEnd, 6),
    // Bytes that cannot appear where they do.
    case(r#"{"a":1}"#, br#"{"a":1,}"#, K::UnexpectedByte, 7),
    case(r#"{"a":1}"#, br#"{a:1}"#, K::UnexpectedByte, 1),
    case(r#"{"a":1}"#, br#"{"a"=1}"#, K::UnexpectedByte, 4),
    case(r#"{"a":true}"#, br#"{"a":True}"#, K::UnexpectedByte, 5),
    case(r#"{"a":null}"#, br#"{"a":nul}"#, K::UnexpectedByte, 8),
    case(r#"{"a":[1]}"#, br#"{"a":[1,]}"#, K::UnexpectedByte, 8),
    case(r#"{"a":[1]}"#, br#"{"a":[1}"#, K::UnexpectedByte, 7),
    case(r#"{"a":1}"#, br#"{"a":+1}"#, K::UnexpectedByte, 5),
    case(r#"{"a":0.5}"#, br#"{"a":.5}"#, K::UnexpectedByte, 5),
    case(r#"{"a":1}"#, br#"{"a":1x}"#, K::UnexpectedByte, 6),
    case(r#"{"a":"x"}"#, br#"{"a":'x'}"#, K::UnexpectedByte, 5),
    case(r#"{}"#, b"\xef\xbb\xbf{}", K::UnexpectedByte, 0),
];

#[test]
fn error_kind_table() {
    for (row, case) in CASES.iter().enumerate() {
        let shown = String::from_utf8_lossy(case.broken);
        assert_eq!(checked(case.canonical), Ok(()), "row {row}: canonical side");
        assert!(
            reference_accepts(case.canonical),
            "row {row}: reference rejects the canonical side"
        );
        assert_eq!(
            checked(case.broken),
            err(case.offset, case.kind),
            "row {row}: {shown}"
        );
        assert!(
            !reference_accepts(case.broken),
            "row {row}: reference accepts {shown}"
        );
    }
}

#[test]
fn too_deep() {
    let nested = |depth: usize| {
        // The object is depth 1; each array adds one.
        let arrays = depth - 1;
        format!("{{\"a\":{}{}}}", "[".repeat(arrays), "]".repeat(arrays))
    };
    let deepest = nested(MAX_DEPTH);
    assert_eq!(checked(deepest.as_bytes()), Ok(()));
    assert!(reference_accepts(deepest.as_bytes()));

    let too_deep = nested(MAX_DEPTH + 1);
    assert_eq!(
        checked(too_deep.as_bytes()),
        err(5 + MAX_DEPTH - 1, K::TooDeep)
    );
    assert!(!reference_accepts(too_deep.as_bytes()));

    // Far too deep must fail fast, not overflow the stack.
    let huge = format!("{{\"a\":{}", "[".repeat(1_000_000));
    assert_eq!(checked(huge.as_bytes()).unwrap_err().reason, K::TooDeep);
}

#[test]
fn error_display() {
    let error = check(br#"{"b":2,"a":1}"#).unwrap_err();
    assert_eq!(error.to_string(), "byte 7: object keys out of order");
    let error = check(br#"{"a":1.0}"#).unwrap_err();
    assert_eq!(error.to_string(), "byte 5: number not in canonical form");
}

// --- accessors -----------------------------------------------------------------------------------

#[test]
fn object_accessors() {
    let bytes = br#"{"":true,"\"q\"":"a\\b","max":9007199254740991,"n":-1,"over":9007199254740992,"s":"x\ny\u0001","zero":0}"#;
    let object = check(bytes).unwrap();
    assert_eq!(object.as_bytes(), bytes);
    assert_eq!(object.len(), 7);
    assert!(!object.is_empty());
    assert_eq!(object.get(""), Some(&b"true"[..]));
    assert_eq!(object.get("\"q\""), Some(&br#""a\\b""#[..]));
    assert_eq!(object.get_str("\"q\"").unwrap(), "a\\b");
    assert!(matches!(object.members()[1].key, Cow::Owned(_)));
    assert!(matches!(object.members()[2].key, Cow::Borrowed("max")));
    assert_eq!(object.get_u64("max"), Some((1 << 53) - 1));
    assert_eq!(object.get_u64("over"), None);
    assert_eq!(object.get_u64("n"), None);
    assert_eq!(object.get_u64("zero"), Some(0));
    assert_eq!(object.get_u64("s"), None);
    assert_eq!(object.get_str("s").unwrap(), "x\ny\u{1}");
    assert!(matches!(object.get_str("s"), Some(Cow::Owned(_))));
    assert_eq!(object.get_str("max"), None);
    assert_eq!(object.get("missing"), None);

    let empty = check(b"{}").unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.get(""), None);
}

#[test]
fn canonicalize_is_the_reference_round_trip() {
    assert_eq!(
        canonicalize(br#" { "b" : 1E2 , "a" : "\u0041" } "#).unwrap(),
        br#"{"a":"A","b":100}"#
    );
    assert!(canonicalize(b"{").is_err());
}

// --- property tests ------------------------------------------------------------------------------

/// Characters that stress escaping and ordering: the escaped ones, DEL, U+2028, and characters on
/// both sides of the point where UTF-16 and UTF-8 (code point) order disagree.
const INTERESTING: &[char] = &[
    'a',
    'b',
    'B',
    '1',
    ' ',
    '/',
    '"',
    '\\',
    '\n',
    '\t',
    '\u{8}',
    '\u{c}',
    '\r',
    '\u{0}',
    '\u{1}',
    '\u{1f}',
    '\u{7f}',
    '\u{80}',
    'é',
    '\u{2028}',
    '€',
    '\u{d7ff}',
    '\u{e000}',
    '\u{fb33}',
    '\u{ffff}',
    '\u{10000}',
    '\u{1f600}',
    '\u{10ffff}',
];

fn arb_text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(select(INTERESTING), 0..max).prop_map(String::from_iter),
        1 => prop::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter),
    ]
}

fn arb_number() -> impl Strategy<Value = Value> {
    let special = select(vec![
        0.0,
        -0.0,
        5e-324,
        1e-7,
        1e-6,
        0.1,
        1e21,
        1e-21,
        9007199254740992.0,
        9007199254740993.0,
        1.7976931348623157e308,
        f64::from_bits(0x41b3_de43_5555_5555), // 333333333.33333329 in RFC 8785 §3.2.2
    ]);
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..1000).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (-1e6..1e6f64).prop_map(Value::from),
        special.prop_map(Value::from),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_text(6).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((arb_text(3), inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

fn arb_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((arb_text(4), arb_value()), 0..8)
        .prop_map(|members| members.into_iter().collect())
}

/// Edits that turn canonical bytes into near misses (some of which stay canonical).
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    /// Swap two adjacent top-level members.
    SwapMembers(Index),
    /// Repeat a top-level member.
    DuplicateMember(Index),
    /// Replace the n-th occurrence of a canonical spelling with an equivalent one.
    Respell(Index, usize),
}

const INSERTABLE: &[u8] = b" \t\n\r\"\\,:{}[]0-1.eE+/u\x7f\x01\xc3\xa9\xff";

/// Canonical spellings and equivalent non-canonical ones: escapes, number forms.
const RESPELLINGS: &[(&str, &str)] = &[
    ("\\n", "\\u000a"),
    ("\\u001f", "\\u001F"),
    ("\\u0001", "\\u0002"),
    ("\\\"", "\\u0022"),
    ("a", "\\u0061"),
    ("/", "\\/"),
    ("\u{7f}", "\\u007f"),
    ("\u{2028}", "\\u2028"),
    ("\u{1f600}", "\\ud83d\\ude00"),
    ("\u{e000}", "\\ue000"),
    ("e+", "E+"),
    ("e+", "e"),
    ("e-", "E-"),
    ("1", "1.0"),
    ("0", "0.0"),
    ("0", "-0"),
    (".", ".0"),
    ("5", "50"),
    (":1", ":01"),
    (":0", ":1e0"),
    (":1", ":10e-1"),
    ("\"", "\\\""),
];

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, bit)| Mutation::FlipBit(i, bit)),
        (any::<Index>(), select(INSERTABLE)).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<Index>(), select(INSERTABLE)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Delete),
        any::<Index>().prop_map(Mutation::SwapMembers),
        any::<Index>().prop_map(Mutation::DuplicateMember),
        (any::<Index>(), 0..RESPELLINGS.len()).prop_map(|(i, r)| Mutation::Respell(i, r)),
    ]
}

/// Rebuilds an object from (key, value) byte pairs.
fn join_members(members: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![b'{'];
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key);
        out.push(b':');
        out.extend_from_slice(value);
    }
    out.push(b'}');
    out
}

fn apply(bytes: &[u8], mutation: &Mutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match mutation {
        Mutation::FlipBit(i, bit) if !out.is_empty() => out[i.index(bytes.len())] ^= 1 << bit,
        Mutation::SetByte(i, b) if !out.is_empty() => out[i.index(bytes.len())] = *b,
        Mutation::Insert(i, b) => out.insert(i.index(bytes.len() + 1), *b),
        Mutation::Delete(i) if !out.is_empty() => {
            out.remove(i.index(bytes.len()));
        }
        Mutation::SwapMembers(i) | Mutation::DuplicateMember(i) => {
            // Only meaningful on bytes that still check; otherwise leave them be.
            let Ok(object) = check(bytes) else { return out };
            let mut members: Vec<(Vec<u8>, Vec<u8>)> = object
                .iter()
                .map(|(k, v)| {
                    let mut key = Vec::new();
                    encode_str(k, &mut key);
                    (key, v.to_vec())
                })
                .collect();
            if members.is_empty() {
                return out;
            }
            let at = i.index(members.len());
            if matches!(mutation, Mutation::SwapMembers(_)) {
                if members.len() < 2 {
                    return out;
                }
                let at = at.min(members.len() - 2);
                members.swap(at, at + 1);
            } else {
                let member = members[at].clone();
                members.insert(at, member);
            }
            out = join_members(&members);
        }
        Mutation::Respell(i, which) => {
            let (from, to) = RESPELLINGS[*which];
            let from = from.as_bytes();
            let hits: Vec<usize> = (0..bytes.len().saturating_sub(from.len() - 1))
                .filter(|&at| bytes[at..].starts_with(from))
                .collect();
            if !hits.is_empty() {
                let at = hits[i.index(hits.len())];
                out.splice(at..at + from.len(), to.bytes());
            }
        }
        _ => {}
    }
    out
}

/// Guards the mutation property test against vacuity: its mutations must produce both verdicts,
/// and rejections of most kinds.
#[test]
fn mutations_reach_both_verdicts() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (arb_object(), prop::collection::vec(arb_mutation(), 1..4));
    let (mut accepted, mut rejected) = (0, 0);
    let mut kinds = std::collections::HashSet::new();
    for _ in 0..2000 {
        let (object, mutations) = strategy.new_tree(&mut runner).unwrap().current();
        let mut bytes = encode(&Value::Object(object));
        for mutation in &mutations {
            bytes = apply(&bytes, mutation);
            match check(&bytes) {
                Ok(_) => accepted += 1,
                Err(e) => {
                    rejected += 1;
                    kinds.insert(e.reason);
                }
            }
        }
    }
    eprintln!("accepted {accepted}, rejected {rejected}, kinds {kinds:?}");
    assert!(
        accepted > 300 && rejected > 300,
        "{accepted} accepted, {rejected} rejected"
    );
    assert!(kinds.len() >= 11, "{kinds:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the reference encoder writes, `check` accepts, with the right members.
    #[test]
    fn check_accepts_every_encoding(object in arb_object()) {
        let bytes = encode(&Value::Object(object.clone()));
        let checked = check(&bytes);
        prop_assert!(checked.is_ok(), "{:?} on {}", checked, String::from_utf8_lossy(&bytes));
        let checked = checked.unwrap();

        let mut expected: Vec<(&String, &Value)> = object.iter().collect();
        expected.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
        prop_assert_eq!(checked.len(), expected.len());
        for (member, (key, value)) in checked.members().iter().zip(expected) {
            prop_assert_eq!(member.key.as_ref(), key.as_str());
            prop_assert_eq!(member.value, &encode(value)[..]);
            prop_assert_eq!(checked.get(key), Some(member.value));
            if let Value::String(s) = value {
                prop_assert_eq!(checked.get_str(key).unwrap(), s.as_str());
            }
        }
    }

    /// Near misses of canonical bytes: `check` agrees with the reference round trip.
    #[test]
    fn check_agrees_with_reference_on_mutations(
        object in arb_object(),
        mutations in prop::collection::vec(arb_mutation(), 1..4),
    ) {
        let mut bytes = encode(&Value::Object(object));
        for mutation in &mutations {
            bytes = apply(&bytes, mutation);
            let ours = check(&bytes);
            let reference = reference_accepts(&bytes);
            prop_assert_eq!(
                ours.is_ok(),
                reference,
                "check says {:?}, reference says {} on {:?} after {:?}",
                ours,
                reference,
                String::from_utf8_lossy(&bytes),
                mutation
            );
        }
    }

    /// Numbers on their own: every double's canonical text checks; plausible rewrites agree.
    #[test]
    fn numbers_agree_with_reference(x in any::<f64>(), rewrite in 0usize..7) {
        prop_assume!(x.is_finite());
        let text = String::from_utf8(encode(&Value::from(x))).unwrap();
        let entry = format!(r#"{{"n":{text}}}"#);
        prop_assert_eq!(checked(entry.as_bytes()), Ok(()));
        let other = match rewrite {
            0 => format!("{x:e}"),
            1 => format!("{x}"),
            2 => format!("{x:?}"),
            3 => text.replace("e+", "e"),
            4 => format!("{text}0"),
            5 => format!("{x:.3}"),
            _ => format!("{x:.0}"),
        };
        let entry = format!(r#"{{"n":{other}}}"#);
        prop_assert_eq!(check(entry.as_bytes()).is_ok(), reference_accepts(entry.as_bytes()), "{}", entry);
    }

    /// Decimals around the 15-significant-digit fast path and the fixed/exponent boundaries.
    #[test]
    fn decimals_agree_with_reference(
        negative in any::<bool>(),
        int in prop_oneof![Just(String::from("0")), "[1-9][0-9]{0,3}", "[1-9][0-9]{0,17}"],
        zeros in prop_oneof![Just(0usize), 0usize..9],
        frac in prop_oneof!["[0-9]{0,3}[1-9]", "[0-9]{0,16}[1-9]"],
        trailing_zero in prop::bool::weighted(0.1),
    ) {
        let sign = if negative { "-" } else { "" };
        let zeros = "0".repeat(zeros);
        let tail = if trailing_zero { "0" } else { "" };
        let entry = format!(r#"{{"n":{sign}{int}.{zeros}{frac}{tail}}}"#);
        prop_assert_eq!(
            check(entry.as_bytes()).is_ok(),
            reference_accepts(entry.as_bytes()),
            "{}",
            entry
        );
    }

    /// Arbitrary bytes: never a panic, and never a disagreement.
    #[test]
    fn arbitrary_bytes_agree_with_reference(bytes in prop::collection::vec(select(INSERTABLE), 0..24)) {
        let mut framed = b"{\"k\":".to_vec();
        framed.extend_from_slice(&bytes);
        framed.push(b'}');
        prop_assert_eq!(check(&framed).is_ok(), reference_accepts(&framed));
        prop_assert_eq!(check(&bytes).is_ok(), reference_accepts(&bytes));
    }

    #[test]
    fn skip_plain_matches_bytewise(
        bytes in prop::collection::vec(
            prop_oneof![3 => select(b"ab \"\\\x1f\x7f".as_slice()), 1 => any::<u8>()],
            0..40,
        ),
        start in any::<Index>(),
    ) {
        let start = start.index(bytes.len() + 1);
        let expected = bytes[start..]
            .iter()
            .position(|&b| !PLAIN[usize::from(b)])
            .map_or(bytes.len(), |at| start + at);
        prop_assert_eq!(skip_plain(&bytes, start), expected);
    }

    #[test]
    fn cmp_keys_is_utf16_order(a in arb_text(6), b in arb_text(6)) {
        prop_assert_eq!(cmp_keys(&a, &b), a.encode_utf16().cmp(b.encode_utf16()));
    }

    #[test]
    fn encode_str_matches_reference(s in arb_text(12)) {
        let mut ours = b"x".to_vec();
        encode_str(&s, &mut ours);
        prop_assert_eq!(&ours[1..], &encode(&Value::String(s))[..]);
    }
}

/// serde_json's reserved keys (`crate::json`) are refused wherever they are, at the key's quote;
/// look-alikes and string values are not keys.
#[test]
fn reserved_keys_are_refused_at_any_depth() {
    for (bytes, offset) in [
        (&br#"{"$serde_json::private::RawValue":"1"}"#[..], 1),
        (br#"{"a":[{"$serde_json::private::Number":"1","b":2}]}"#, 7),
        (br#"{"$serde_json::private::":1}"#, 1),
    ] {
        assert_eq!(checked(bytes), err(offset, K::ReservedKey), "{bytes:?}");
        assert!(!reference_accepts(bytes));
    }
    let look_alikes = br#"{"$serde_json::privat":1,"a":"$serde_json::private::x"}"#;
    assert_eq!(checked(look_alikes), Ok(()));
}

/// docs/ledger-format.md §3.1: JCS numbers are IEEE-754 doubles, so an integer beyond 2^53 is
/// written as the double nearest to it (exact integers that large need a string), and a stored
/// text for a number no double has, or with a trailing `.0`, is not canonical.
#[test]
fn integers_beyond_2_53_are_written_as_the_nearest_double() {
    let v = serde_json::json!({"big": 9_007_199_254_740_993u64, "neg": -9_007_199_254_740_993i64, "f": 75.0});
    assert_eq!(
        String::from_utf8(encode(&v)).unwrap(),
        r#"{"big":9007199254740992,"f":75,"neg":-9007199254740992}"#
    );
    for text in [
        r#"{"a":9007199254740993}"#,
        r#"{"a":75.0}"#,
        r#"{"a":1e21}"#,
    ] {
        assert!(check(text.as_bytes()).is_err(), "{text}");
    }
    for text in [r#"{"a":9007199254740992}"#, r#"{"a":1e+21}"#, r#"{"a":75}"#] {
        assert!(check(text.as_bytes()).is_ok(), "{text}");
    }
}

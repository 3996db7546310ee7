#![allow(clippy::unwrap_used, reason = "tests")]
//! One test per validation error and warning documented in `docs/policy-format.md`, each
//! checking the exact message, including file, line, column and field.

use auditgate_policy::{Policy, PolicyError, WarningKind};

fn err(src: &str) -> PolicyError {
    match Policy::parse("policy.toml", src.as_bytes()) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e,
    }
}

fn msg(src: &str) -> String {
    err(src).to_string()
}

fn warnings(src: &str) -> Vec<String> {
    let (_, warnings) = Policy::parse("policy.toml", src.as_bytes()).unwrap();
    warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn not_utf8() {
    let e = Policy::parse("policy.toml", b"version = 1\n# caf\xe9\n").unwrap_err();
    assert!(matches!(e, PolicyError::NotUtf8 { .. }));
    assert_eq!(e.to_string(), "policy.toml:2:6: file is not valid UTF-8");
}

#[test]
fn syntax() {
    let e = err("version = 1\n[defaults\n");
    assert!(matches!(e, PolicyError::Syntax { .. }), "{e:?}");
    assert!(e.to_string().starts_with("policy.toml:2:"), "{e}");
}

#[test]
fn unknown_key() {
    let e = err("version = 1\n\n[[rules]]\nid = \"a\"\ntierr = \"allow\"\n");
    assert!(matches!(e, PolicyError::UnknownKey { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("policy.toml:5:1: rules[0].tierr: unknown key `tierr`"),
        "{e}"
    );
    let e = msg(
        "version = 1\n[[rules]]\nid = \"a\"\n[[rules]]\nid = \"b\"\nmatch = { tool = [\"x\"], kinds = [] }\n",
    );
    assert!(
        e.starts_with("policy.toml:6:25: rules[1].match.kinds: unknown key `kinds`"),
        "{e}"
    );
    let e = msg("version = 1\n[defaults]\nwrite_mode = \"ask\"\n");
    assert!(
        e.starts_with("policy.toml:3:1: defaults.write_mode: unknown key"),
        "{e}"
    );
}

#[test]
fn missing_key() {
    let e = err("version = 1\n[[rules]]\ntier = \"allow\"\n");
    assert!(matches!(e, PolicyError::MissingKey { .. }), "{e:?}");
    assert!(e.to_string().contains("missing required key `id`"), "{e}");
    assert!(e.to_string().contains("rules[0].id"), "{e}");
    let e = msg("[defaults]\ntier = \"allow\"\n");
    assert!(e.contains("missing required key `version`"), "{e}");
}

#[test]
fn unknown_value() {
    let e = err("version = 1\n[defaults]\nwrite = \"maybe\"\n");
    assert!(matches!(e, PolicyError::UnknownValue { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("policy.toml:3:9: defaults.write: unknown value `maybe`"),
        "{e}"
    );
    let e = msg("version = 1\n[[rules]]\nid = \"a\"\nmatch.kind = [\"query\", \"delete\"]\n");
    assert!(
        e.starts_with("policy.toml:4:24: rules[0].match.kind[1]: unknown value `delete`"),
        "{e}"
    );
    let e = msg("version = 1\n[audit]\nargs = [{ path = \"a\", mode = \"hash\" }]\n");
    assert!(
        e.contains("audit.args[0].mode: unknown value `hash`"),
        "{e}"
    );
    let e = msg(
        "version = 1\n[[rules]]\nid = \"a\"\nwhen = { path = \"$.a\", op = \"bigger\", value = 1 }\n",
    );
    assert!(
        e.contains("rules[0].when.op: unknown value `bigger`"),
        "{e}"
    );
}

#[test]
fn wrong_type() {
    let e = err("version = 1\n[[rules]]\nid = \"a\"\nmatch.tool = \"orders:*\"\n");
    assert!(matches!(e, PolicyError::WrongType { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("policy.toml:4:14: rules[0].match.tool: invalid type"),
        "{e}"
    );
}

#[test]
fn unsupported_version() {
    assert_eq!(
        msg("version = 2\n"),
        "policy.toml:1:11: version: unsupported policy version 2 (this build understands version 1)"
    );
}

#[test]
fn invalid_rule_id() {
    assert_eq!(
        msg("version = 1\n[[rules]]\nid = \"a b\"\n"),
        "policy.toml:3:6: rules[0].id: invalid rule id \"a b\": use letters, digits, `_`, `-` and `.`"
    );
}

#[test]
fn duplicate_rule_id() {
    assert_eq!(
        msg(
            "version = 1\n[[rules]]\nid = \"a\"\nmatch.kind = [\"query\"]\n[[rules]]\nid = \"a\"\n"
        ),
        "policy.toml:6:6: rules[1].id: duplicate rule id \"a\" (first used on line 2)"
    );
}

#[test]
fn empty_list() {
    assert_eq!(
        msg("version = 1\n[[rules]]\nid = \"a\"\nmatch.roles = []\n"),
        "policy.toml:4:15: rules[0].match.roles: empty list: the rule could never match; remove the key to match anything"
    );
    let e = msg("version = 1\n[[rules]]\nid = \"a\"\nwhen = { all = [] }\n");
    assert!(
        e.starts_with("policy.toml:4:16: rules[0].when.all: empty list"),
        "{e}"
    );
}

#[test]
fn invalid_glob() {
    let e = msg("version = 1\n[[rules]]\nid = \"a\"\n\nmatch.tool = [\"ok\", \"[\"]\n");
    assert!(
        e.starts_with("policy.toml:5:21: rules[0].match.tool[1]: invalid glob \"[\": "),
        "{e}"
    );
}

#[test]
fn invalid_jsonpath() {
    let e = msg("version = 1\n[audit]\nargs = [{ jsonpath = \"$..[\", mode = \"mask\" }]\n");
    assert!(
        e.starts_with("policy.toml:3:22: audit.args[0].jsonpath: invalid JSONPath \"$..[\": "),
        "{e}"
    );
    let e = msg(
        "version = 1\n[[rules]]\nid = \"a\"\nwhen = { path = \"amount\", op = \"gt\", value = 1 }\n",
    );
    assert!(
        e.starts_with("policy.toml:4:17: rules[0].when.path: invalid JSONPath \"amount\""),
        "{e}"
    );
}

#[test]
fn invalid_path() {
    assert_eq!(
        msg("version = 1\n[response]\nhide = [{ path = \"a..b\", mode = \"drop\" }]\n"),
        "policy.toml:3:18: response.hide[0].path: invalid path \"a..b\": empty segment (two dots in a row, or a leading or trailing dot)"
    );
}

#[test]
fn redaction_target() {
    assert_eq!(
        msg("version = 1\n[audit]\nresult = [{ mode = \"mask\" }]\n"),
        "policy.toml:3:11: audit.result[0]: a redaction needs exactly one of `path` or `jsonpath`"
    );
    let e = msg(
        "version = 1\n[audit]\nresult = [{ path = \"a\", jsonpath = \"$.a\", mode = \"mask\" }]\n",
    );
    assert!(e.contains("exactly one of"), "{e}");
}

#[test]
fn commit_in_response() {
    assert_eq!(
        msg("version = 1\n[response]\nhide = [{ path = \"a\", mode = \"commit\" }]\n"),
        "policy.toml:3:30: response.hide[0].mode: mode `commit` is only for the audit record; use `drop` or `mask` here"
    );
}

#[test]
fn conflicting_redaction() {
    assert_eq!(
        msg(
            "version = 1\n[audit]\nargs = [{ path = \"card\", mode = \"mask\" }]\n[[rules]]\nid = \"r\"\naudit.args = [{ path = \"card\", mode = \"commit\" }]\n"
        ),
        "policy.toml:6:24: rules[0].audit.args[0]: path \"card\" is already redacted with mode `mask` (line 3); cannot also use `commit`"
    );
}

#[test]
fn invalid_condition() {
    let cases = [
        (
            "when = { op = \"gt\", value = 1 }",
            "rules[0].when: invalid condition: use exactly one of",
        ),
        (
            "when = { path = \"$.a\", value = 1 }",
            "rules[0].when: invalid condition: missing `op`",
        ),
        (
            "when = { path = \"$.a\", op = \"gt\" }",
            "rules[0].when: invalid condition: `gt` needs a `value`",
        ),
        (
            "when = { path = \"$.a\", op = \"gt\", value = \"10\" }",
            "rules[0].when.value: invalid condition: `gt` needs a number",
        ),
        (
            "when = { path = \"$.a\", op = \"in\", value = 1 }",
            "rules[0].when.value: invalid condition: `in` needs a list",
        ),
        (
            "when = { path = \"$.a\", op = \"exists\", value = 1 }",
            "rules[0].when.value: invalid condition: `exists` takes no `value`",
        ),
        (
            "when = { path = \"$.a\", op = \"absent\", quantifier = \"any\" }",
            "rules[0].when.quantifier: invalid condition: `absent` takes no `quantifier`",
        ),
        (
            "when = { any = [{ path = \"$.a\", op = \"exists\" }], op = \"eq\" }",
            "rules[0].when: invalid condition: `op`, `value` and `quantifier` belong with `path`",
        ),
    ];
    for (when, expected) in cases {
        let e = err(&format!("version = 1\n[[rules]]\nid = \"a\"\n{when}\n"));
        assert!(matches!(e, PolicyError::InvalidCondition { .. }), "{e:?}");
        assert!(
            e.to_string().contains(expected),
            "{e}\nexpected: {expected}"
        );
        assert_eq!(e.location().line, 4, "{e}");
    }
    let mut deep = String::from("{ path = \"$.a\", op = \"exists\" }");
    for _ in 0..20 {
        deep = format!("{{ not = {deep} }}");
    }
    let e = msg(&format!(
        "version = 1\n[[rules]]\nid = \"a\"\nwhen = {deep}\n"
    ));
    assert!(e.contains("conditions nest at most 16 levels deep"), "{e}");
}

#[test]
fn invalid_value() {
    let e = err(
        "version = 1\n[[rules]]\nid = \"a\"\nwhen = { path = \"$.d\", op = \"eq\", value = 2024-01-01 }\n",
    );
    assert!(matches!(e, PolicyError::InvalidValue { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("policy.toml:4:43: rules[0].when.value: 2024-01-01 is a TOML date"),
        "{e}"
    );
    let e = err(
        "version = 1\n[[rules]]\nid = \"a\"\nwhen = { path = \"$.d\", op = \"gt\", value = nan }\n",
    );
    assert!(matches!(e, PolicyError::InvalidValue { .. }), "{e:?}");
}

#[test]
fn invalid_duration() {
    assert_eq!(
        msg("version = 1\n[defaults]\napproval = { timeout = \"15 minutes\" }\n"),
        "policy.toml:3:24: defaults.approval.timeout: invalid duration \"15 minutes\": write e.g. \"90s\", \"15m\", \"1h30m\", \"2d\""
    );
}

#[test]
fn warning_shadowed_rule() {
    let w = warnings(
        "version = 1\n[[rules]]\nid = \"all-reads\"\nmatch.kind = [\"query\", \"data-read\"]\n\
         [[rules]]\nid = \"orders\"\nmatch = { tool = [\"orders:*\"], kind = [\"query\"] }\n\
         [[rules]]\nid = \"everything\"\n[[rules]]\nid = \"late\"\nmatch.tool = [\"x\"]\n",
    );
    assert_eq!(
        w,
        [
            "policy.toml:6:6: rules[1].id: warning: rule \"orders\" is shadowed by the earlier catch-all rule \"all-reads\" and can never decide",
            "policy.toml:11:6: rules[3].id: warning: rule \"late\" is shadowed by the earlier catch-all rule \"everything\" and can never decide",
        ]
    );
    // A conditional rule shadows nothing; a narrower earlier rule shadows nothing.
    let w = warnings(
        "version = 1\n[[rules]]\nid = \"a\"\nwhen = { path = \"$.x\", op = \"exists\" }\n\
         [[rules]]\nid = \"b\"\nmatch.tool = [\"x*\"]\n[[rules]]\nid = \"c\"\n",
    );
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn warning_duplicate_redaction_and_unused_approval() {
    let (_, w) = Policy::parse(
        "p.toml",
        b"version = 1\n[audit]\nargs = [{ path = \"a\", mode = \"mask\" }, { path = \"a\", mode = \"mask\" }]\n\
          [[rules]]\nid = \"r\"\ntier = \"blocked\"\napproval = { four_eyes = true }\n",
    )
    .unwrap();
    let kinds: Vec<&WarningKind> = w.iter().map(|w| &w.kind).collect();
    assert_eq!(
        kinds,
        [
            &WarningKind::DuplicateRedaction { path: "a".into() },
            &WarningKind::UnusedApproval {
                rule_id: "r".into()
            },
        ]
    );
    assert!(w[0].to_string().starts_with("p.toml:3:"), "{}", w[0]);
}

#[test]
fn data_tables_invalid_table_name() {
    let e = err("version = 1\n[data]\ntables = [{ name = \"_storage\" }]\n");
    assert!(matches!(e, PolicyError::InvalidTableName { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "policy.toml:3:20: data.tables[0].name: invalid table name \"_storage\": data tools reach \
         user tables only (a letter, then letters, digits and `_`)"
    );
}

#[test]
fn data_tables_duplicate_table() {
    let e = err(
        "version = 1\n[data]\ntables = [\n  { name = \"patients\", read = [\"clinician\"] },\n  \
                 { name = \"patients\", read = [\"*\"] },\n]\n",
    );
    assert!(matches!(e, PolicyError::DuplicateTable { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "policy.toml:5:12: data.tables[1].name: duplicate table \"patients\" (first listed on line 4)"
    );
}

#[test]
fn data_tables_invalid_role() {
    let e = err("version = 1\n[data]\ntables = [{ name = \"t\", write = [\"\"] }]\n");
    assert!(matches!(e, PolicyError::InvalidRole { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "policy.toml:3:34: data.tables[0].write[0]: invalid role \"\": name a role, or \"*\" for every caller"
    );
}

#[test]
fn data_tables_unknown_members_and_wrong_types() {
    let e = err("version = 1\n[data]\ntables = [{ name = \"t\", reads = [\"x\"] }]\n");
    assert!(matches!(e, PolicyError::UnknownKey { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("policy.toml:3:25: data.tables[0].reads: unknown key `reads`"),
        "{e}"
    );
    let e = err("version = 1\n[data]\ntable = []\n");
    assert!(matches!(e, PolicyError::UnknownKey { .. }), "{e:?}");
    assert!(
        e.to_string().contains("data.table: unknown key `table`"),
        "{e}"
    );
    let e = err("version = 1\n[data]\ntables = [{ name = \"t\", read = \"clinician\" }]\n");
    assert!(matches!(e, PolicyError::WrongType { .. }), "{e:?}");
    assert!(e.to_string().starts_with("policy.toml:3:"), "{e}");
    assert!(e.to_string().contains("data.tables[0].read"), "{e}");
    let e = err("version = 1\n[data]\ntables = [{ read = [\"x\"] }]\n");
    assert!(matches!(e, PolicyError::MissingKey { .. }), "{e:?}");
    assert!(e.to_string().contains("missing required key `name`"), "{e}");
    let e = err("version = 1\n[data]\n");
    assert!(
        e.to_string().contains("missing required key `tables`"),
        "{e}"
    );
}

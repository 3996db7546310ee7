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
fn warning_argument_not_redacted_in_result() {
    // File-wide: every forwarding rule whose result plan lacks it is named; blocked rules and a
    // blocked default forward nothing, and a rule with its own `**.taxId` result entry is covered.
    let w = warnings(
        "version = 1\n\
         [audit]\n\
         args = [{ path = \"**.taxId\", mode = \"commit\" }]\n\
         [[rules]]\nid = \"customers\"\nmatch.function = [\"customers:get\"]\n\
         audit.result = [{ path = \"**.taxId\", mode = \"mask\" }]\n\
         [[rules]]\nid = \"reads\"\nmatch.function = [\"diagnostics:*\"]\n\
         [[rules]]\nid = \"writes\"\nmatch.function = [\"x:*\"]\n\
         audit.args = [{ path = \"reason\", mode = \"mask\" }]\n\
         [[rules]]\nid = \"no-admin\"\nmatch.function = [\"admin:*\"]\ntier = \"blocked\"\n\
         audit.args = [{ path = \"secret\", mode = \"drop\" }]\n",
    );
    assert_eq!(
        w,
        [
            "policy.toml:3:18: audit.args[0]: warning: argument path \"**.taxId\" is committed in arguments but not redacted in results and errors of rule \"reads\" and rule \"writes\": add { path = \"**.taxId\", mode = \"commit\" } to [audit].result (or to each of those rules' audit.result): a value committed in arguments would otherwise be written in clear when a result or a Convex error repeats it",
            "policy.toml:14:24: rules[2].audit.args[0]: warning: argument path \"reason\" is masked in arguments but not redacted in results and errors of rule \"writes\": add { path = \"**.reason\", mode = \"mask\" } to [audit].result or to rule \"writes\"'s audit.result: a value masked in arguments would otherwise be written in clear when a result or a Convex error repeats it",
        ]
    );
    // An allowing default decision is a context too (the file-wide tables only).
    let w = warnings(
        "version = 1\n[defaults]\ntier = \"allow\"\n\
         [audit]\nargs = [{ jsonpath = \"$.card\", mode = \"drop\" }]\n",
    );
    assert_eq!(
        w,
        [
            "policy.toml:5:22: audit.args[0]: warning: argument path \"$.card\" is dropped in arguments but not redacted in results and errors of the default decision: add { path = \"**.card\", mode = \"drop\" } to [audit].result: a value dropped in arguments would otherwise be written in clear when a result or a Convex error repeats it",
        ]
    );
    // Covered: identical text, `**.name` for a path ending in `name`, `$..name`, `$`.
    for result in [
        "{ path = \"customer.taxId\", mode = \"commit\" }",
        "{ path = \"**.taxId\", mode = \"mask\" }",
        "{ jsonpath = \"$..taxId\", mode = \"drop\" }",
        "{ jsonpath = \"$\", mode = \"drop\" }",
    ] {
        let w = warnings(&format!(
            "version = 1\n[defaults]\ntier = \"allow\"\n[audit]\n\
             args = [{{ path = \"customer.taxId\", mode = \"commit\" }}]\n\
             result = [{result}]\n[[rules]]\nid = \"r\"\n"
        ));
        assert!(w.is_empty(), "{result}: {w:?}");
    }
    // A rule's own result entry covers its own argument entry.
    let w = warnings(
        "version = 1\n[[rules]]\nid = \"r\"\n\
         audit.args = [{ path = \"reason\", mode = \"commit\" }]\n\
         audit.result = [{ path = \"**.reason\", mode = \"commit\" }]\n",
    );
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn warning_hidden_field_readable() {
    let src = "version = 1\n\
               [[rules]]\nid = \"patient-reads\"\nmatch.function = [\"patients:get\"]\n\
               response.hide = [{ path = \"**.ssn\", mode = \"drop\" }]\n\
               [[rules]]\nid = \"schemas\"\nmatch.tool = [\"convex_get_table\"]\n\
               [[rules]]\nid = \"writes\"\nmatch.kind = [\"data-write\"]\n\
               [[rules]]\nid = \"blocked-tables\"\nmatch.tool = [\"convex_list_*\"]\ntier = \"blocked\"\n\
               [[rules]]\nid = \"tables\"\nmatch.tool = [\"convex_query_*\"]\nmatch.roles = [\"admin\"]\n";
    let (_, w) = Policy::parse("policy.toml", src.as_bytes()).unwrap();
    assert_eq!(
        w.iter().map(|w| &w.kind).collect::<Vec<_>>(),
        [&WarningKind::HiddenFieldReadable {
            path: "**.ssn".into(),
            hidden_by: "patient-reads".into(),
            reader: Some("tables".into()),
            reader_line: Some(16),
            add: "{ path = \"**.ssn\", mode = \"drop\" }".into(),
        }]
    );
    assert!(w[0].kind.is_privacy());
    assert_eq!(
        w[0].to_string(),
        "policy.toml:5:27: rules[0].response.hide[0]: warning: path \"**.ssn\" is hidden from responses by rule \"patient-reads\" but rule \"tables\" (line 16) lets convex_query_documents read documents without hiding it: the field is visible and filterable there; add { path = \"**.ssn\", mode = \"drop\" } to [response].hide or to rule \"tables\"'s response.hide"
    );
    // Hidden file-wide, or by the reader itself (any covering spelling): nothing to say.
    for fix in [
        "[response]\nhide = [{ path = \"**.ssn\", mode = \"drop\" }]\n",
        "",
    ] {
        let mut src = format!("version = 1\n{fix}{}", &src["version = 1\n".len()..]);
        if fix.is_empty() {
            src.push_str("response.hide = [{ jsonpath = \"$..ssn\", mode = \"drop\" }]\n");
        }
        let (_, w) = Policy::parse("policy.toml", src.as_bytes()).unwrap();
        assert!(!w.iter().any(|w| w.kind.is_privacy()), "{src}\n{w:?}");
    }
    // An allowing default decision lets the data tool read whatever no rule matches.
    let w = warnings(
        "version = 1\n[defaults]\ntier = \"approval_required\"\n\
         [[rules]]\nid = \"p\"\nmatch.function = [\"patients:get\"]\n\
         response.hide = [{ path = \"ssn\", mode = \"mask\" }]\n",
    );
    assert_eq!(
        w,
        [
            "policy.toml:7:27: rules[0].response.hide[0]: warning: path \"ssn\" is hidden from responses by rule \"p\" but the default decision (defaults.tier is not \"blocked\") lets convex_query_documents read documents without hiding it: the field is visible and filterable there; add { path = \"**.ssn\", mode = \"mask\" } to [response].hide",
        ]
    );
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

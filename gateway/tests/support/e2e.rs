//! The real MCP clients' harness (`scripts/e2e-setup` writes `target/e2e-env`): its variables,
//! or a skip when it is not installed (a failure when `AUDITGATE_REQUIRE_E2E` is set).
use std::collections::BTreeMap;

/// `target/e2e-env` as a map, or `None` (skip) when the harness is not installed.
pub fn env() -> Option<BTreeMap<String, String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-env");
    let Ok(text) = std::fs::read_to_string(&path) else {
        assert!(
            std::env::var_os("AUDITGATE_REQUIRE_E2E").is_none(),
            "{} is missing but AUDITGATE_REQUIRE_E2E is set: run scripts/e2e-setup",
            path.display()
        );
        eprintln!("SKIPPED: no {}; run scripts/e2e-setup", path.display());
        return None;
    };
    Some(
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect(),
    )
}

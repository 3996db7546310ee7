//! The catalog built from a committed `npx convex function-spec` fixture, compared with a golden
//! file people review. Regenerate with `UPDATE_GOLDEN=1 cargo test -p auditgate --test catalog_golden`.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::path::PathBuf;

use auditgate::catalog::{Catalog, CatalogOptions};
use auditgate::config::ToolOverride;
use serde_json::json;

#[test]
fn catalog_from_fixture_matches_golden() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut options = CatalogOptions {
        include_internal: true,
        data_tools: true,
        ..CatalogOptions::default()
    };
    options.overrides.insert(
        "invoices:refund".into(),
        ToolOverride {
            title: Some("Refund an invoice".into()),
            description: Some("Refunds part of an invoice. Needs a reason.".into()),
            ..ToolOverride::default()
        },
    );
    options.overrides.insert(
        "admin:purgeCustomer".into(),
        ToolOverride {
            name: Some("purge_customer".into()),
            ..ToolOverride::default()
        },
    );
    let catalog =
        Catalog::from_spec_file(&dir.join("fixtures/function-spec.json"), &options).unwrap();
    let actual =
        serde_json::to_string_pretty(&json!({"hash": catalog.hash(), "tools": catalog.to_mcp()}))
            .unwrap()
            + "\n";
    let golden = dir.join("golden/catalog.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(
        actual, expected,
        "catalog changed; review and run with UPDATE_GOLDEN=1"
    );
    let names: Vec<&str> = catalog.tools().iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"purge_customer") && names.contains(&"invoices_refund"));
}

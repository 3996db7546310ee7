//! Tool names: stable, derived from the Convex function path, inside `^[A-Za-z0-9_-]{1,64}$`
//! (the MCP 2025-11-25 charset narrowed to what common LLM APIs accept).
//!
//! Rule: take the canonical path `dir/file:export`, turn every `/`, `:` and `.` into `_`, and every
//! other character outside `[A-Za-z0-9_-]` into `_`. A `default` export is named by its module
//! alone, as Convex names it (`ping:default` → `ping`, `dir/file:default` → `dir_file`). A name
//! longer than 64 characters keeps its first 55 characters plus `_` and the first 8 hex digits of
//! SHA-256(path), so it stays stable and unique. Config may set a tool's name explicitly;
//! explicit names must follow the same pattern.
//!
//! `[catalog] tool_prefix` is put before every name MCP clients see ([`listed_name`]); a name
//! that would then pass 64 characters is shortened by the same rule to fit beside the prefix.
use sha2::{Digest, Sha256};

pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` matches `^[A-Za-z0-9_-]{1,64}$`.
pub fn is_valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The tool name for a canonical function path.
pub fn tool_name_for_path(path: &str) -> String {
    let shown = path.strip_suffix(":default").unwrap_or(path);
    fit(&sanitized(shown), path, MAX_NAME_LEN)
}

/// The name MCP clients see for the tool named `name`: `prefix` + `name`, `name` shortened by
/// the 64-character rule (keyed by `name`) if both would not fit.
pub fn listed_name(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        return name.to_string();
    }
    let room = MAX_NAME_LEN.saturating_sub(prefix.len());
    format!("{prefix}{}", fit(name, name, room))
}

fn sanitized(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `name` if it has at most `max` characters (ASCII), else its first `max - 9` characters, `_`
/// and the first 8 hex digits of SHA-256(`key`).
fn fit(name: &str, key: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    format!("{}_{}", &name[..max.saturating_sub(9)], &digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        assert_eq!(tool_name_for_path("invoices:refund"), "invoices_refund");
        assert_eq!(tool_name_for_path("admin/users:list"), "admin_users_list");
        assert_eq!(tool_name_for_path("a.b/c-d:$x"), "a_b_c-d__x");
        let long = format!("{}:f", "m".repeat(100));
        let name = tool_name_for_path(&long);
        assert_eq!(name.len(), 64);
        assert!(is_valid_tool_name(&name));
        assert_eq!(name, tool_name_for_path(&long));
        assert!(!is_valid_tool_name("a.b"));
        assert!(!is_valid_tool_name(""));
    }

    #[test]
    fn default_exports_are_named_by_their_module() {
        assert_eq!(tool_name_for_path("ping:default"), "ping");
        assert_eq!(tool_name_for_path("admin/ping:default"), "admin_ping");
        assert_eq!(tool_name_for_path("ping:defaults"), "ping_defaults");
    }

    #[test]
    fn a_prefix_keeps_names_within_64_characters() {
        let prefix = "integration__convex__";
        assert_eq!(
            listed_name(prefix, "convex_list_tables"),
            "integration__convex__convex_list_tables"
        );
        assert_eq!(listed_name("", "x"), "x");
        let long = "n".repeat(60);
        let listed = listed_name(prefix, &long);
        assert_eq!(listed.len(), 64);
        assert!(is_valid_tool_name(&listed));
        assert_ne!(listed, listed_name(prefix, &"n".repeat(61)));
    }
}

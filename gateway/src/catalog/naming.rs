//! Tool names: stable, derived from the Convex function path, inside `^[A-Za-z0-9_-]{1,64}$`
//! (the MCP 2025-11-25 charset narrowed to what common LLM APIs accept).
//!
//! Rule: take the canonical path `dir/file:export`, turn every `/`, `:` and `.` into `_`, and every
//! other character outside `[A-Za-z0-9_-]` into `_`. The `default` export keeps its name
//! (`file:default` → `file_default`). A name longer than 64 characters keeps its first 55
//! characters plus `_` and the first 8 hex digits of SHA-256(path), so it stays stable and unique.
//! Config may set a tool's name explicitly; explicit names must follow the same pattern.
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
    let name: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.len() <= MAX_NAME_LEN {
        return name;
    }
    let digest = hex::encode(Sha256::digest(path.as_bytes()));
    format!("{}_{}", &name[..55], &digest[..8])
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
}

//! `[data] tables`: which roles may read and write which Convex tables through the gateway's data
//! tools (`data-read` / `data-write` kinds, argument `table`).
//!
//! Without a `[data]` table the data tools reach every table, as before it existed. With one, a
//! table it does not list is reachable by nobody. The check runs inside [`crate::Policy::decide`]
//! before any rule, so a refused table is `blocked` whatever the rules say, and the reason is the
//! same whether or not the table exists (the policy cannot know, and must not tell).

use std::sync::Arc;

use serde_json::Value;

use crate::tier::ToolKind;

/// The role that stands for every caller, whatever roles it holds (none included).
pub const ANY_ROLE: &str = "*";

/// Who may do something to a table: every caller, or holders of one of these roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roles {
    Any,
    Listed(Vec<String>),
}

impl Roles {
    pub(crate) fn from_list(list: Vec<String>) -> Self {
        if list.iter().any(|r| r == ANY_ROLE) {
            Roles::Any
        } else {
            Roles::Listed(list)
        }
    }

    fn admits(&self, held: &[String]) -> bool {
        match self {
            Roles::Any => true,
            Roles::Listed(roles) => roles.iter().any(|r| held.contains(r)),
        }
    }
}

/// One `tables` entry.
#[derive(Debug, Clone)]
pub(crate) struct TableAccess {
    pub name: String,
    pub read: Roles,
    pub write: Roles,
}

/// The compiled `[data]` table.
#[derive(Debug, Clone)]
pub(crate) struct DataAccess {
    pub tables: Vec<TableAccess>,
    /// The decision reasons, fixed so that they never quote a caller's table name.
    pub refused_read: Arc<str>,
    pub refused_write: Arc<str>,
}

/// The argument that names a data tool's table.
pub(crate) const TABLE_ARG: &str = "table";
/// [`TABLE_ARG`] as the JSONPath `inputs_read` lists.
pub(crate) const TABLE_PATH: &str = "$.table";

impl DataAccess {
    pub(crate) fn new(tables: Vec<TableAccess>) -> Self {
        Self {
            tables,
            refused_read: "[data] tables: none of the caller's roles may read this table".into(),
            refused_write: "[data] tables: none of the caller's roles may write this table".into(),
        }
    }

    fn table(&self, name: &str) -> Option<&TableAccess> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub(crate) fn may_read(&self, table: &str, roles: &[String]) -> bool {
        self.table(table).is_some_and(|t| t.read.admits(roles))
    }

    pub(crate) fn may_write(&self, table: &str, roles: &[String]) -> bool {
        self.table(table).is_some_and(|t| t.write.admits(roles))
    }

    /// For a data tool naming a table in its arguments: `Some(reason)` when the caller may not
    /// do this to it. `None` for other kinds and for data tools without a `table` argument (a
    /// `table` that is not a string is left to argument validation, which refuses it).
    pub(crate) fn refusal(
        &self,
        kind: ToolKind,
        args: &Value,
        roles: &[String],
    ) -> Option<&Arc<str>> {
        let table = args.get(TABLE_ARG)?.as_str()?;
        match kind {
            ToolKind::DataRead => (!self.may_read(table, roles)).then_some(&self.refused_read),
            ToolKind::DataWrite => (!self.may_write(table, roles)).then_some(&self.refused_write),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn access() -> DataAccess {
        DataAccess::new(vec![
            TableAccess {
                name: "patients".into(),
                read: Roles::from_list(vec!["clinician".into()]),
                write: Roles::Listed(vec![]),
            },
            TableAccess {
                name: "rooms".into(),
                read: Roles::from_list(vec!["*".into(), "x".into()]),
                write: Roles::from_list(vec!["facilities".into()]),
            },
        ])
    }

    #[test]
    fn roles_admit_listed_holders_and_star_admits_everyone() {
        let a = access();
        let doc = ["clinician".to_string()];
        assert!(a.may_read("patients", &doc));
        assert!(!a.may_read("patients", &[]));
        assert!(!a.may_write("patients", &doc));
        assert!(a.may_read("rooms", &[]));
        assert!(!a.may_read("unlisted", &doc));
    }

    #[test]
    fn refusals_apply_to_data_kinds_with_a_table_only() {
        let a = access();
        let doc = ["clinician".to_string()];
        let read = |t: &str| json!({"table": t});
        assert!(
            a.refusal(ToolKind::DataRead, &read("patients"), &doc)
                .is_none()
        );
        let nowhere = a.refusal(ToolKind::DataRead, &read("nowhere"), &doc);
        let forbidden = a.refusal(ToolKind::DataRead, &read("patients"), &[]);
        assert_eq!(
            nowhere, forbidden,
            "the same reason for unknown and forbidden"
        );
        assert!(
            a.refusal(ToolKind::DataWrite, &read("patients"), &doc)
                .is_some()
        );
        assert!(a.refusal(ToolKind::DataRead, &json!({}), &doc).is_none());
        assert!(a.refusal(ToolKind::Query, &read("nowhere"), &doc).is_none());
    }
}

//! What `auditgate vault reveal` and `erase` do with a ledger entry and the vault, apart from
//! how they reach the ledger: find an entry's commitments, reveal them, plan an erasure.
use auditgate_policy::{COMMIT_MEMBER, CommitKey};
use serde_json::Value;

use super::{Revealed, Snapshot, Vault, VaultError};

/// One committed location of an entry: its JSONPath in the entry and the commitment string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub path: String,
    pub commitment: String,
}

/// Every `{"$commit": "…"}` in `entry`, in document order.
pub fn commitments_in(entry: &Value) -> Vec<Committed> {
    let mut out = Vec::new();
    walk(entry, &mut String::from("$"), &mut out);
    out
}

fn walk(value: &Value, path: &mut String, out: &mut Vec<Committed>) {
    match value {
        Value::Object(map) => {
            if map.len() == 1
                && let Some(Value::String(c)) = map.get(COMMIT_MEMBER)
            {
                out.push(Committed {
                    path: path.clone(),
                    commitment: c.clone(),
                });
                return;
            }
            for (k, v) in map {
                let len = path.len();
                path.push_str(&format!(
                    "['{}']",
                    k.replace('\\', "\\\\").replace('\'', "\\'")
                ));
                walk(v, path, out);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(v, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// One revealed location.
#[derive(Debug, Clone)]
pub struct RevealedItem {
    pub committed: Committed,
    pub revealed: Revealed,
}

/// Reveals every commitment of `entry` from the vault.
pub fn reveal_entry(
    vault: &Vault,
    entry: &Value,
    commit_key: &CommitKey,
) -> Result<Vec<RevealedItem>, VaultError> {
    Ok(reveal_in_snapshot(&vault.snapshot()?, entry, commit_key))
}

/// [`reveal_entry`] from a snapshot (for many entries at once).
pub fn reveal_in_snapshot(
    snapshot: &Snapshot,
    entry: &Value,
    commit_key: &CommitKey,
) -> Vec<RevealedItem> {
    let binding = super::binding_of(entry);
    commitments_in(entry)
        .into_iter()
        .map(|committed| {
            let revealed = match &binding {
                Some(b) => snapshot.reveal(b, &committed.commitment, commit_key),
                None => Revealed::NotKept,
            };
            RevealedItem {
                committed,
                revealed,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_commitments_with_their_paths() {
        let entry = json!({"args": {"a": {"$commit": "blake3k:1"}, "l": [1, {"$commit": "blake3k:2"}]},
                           "other": {"$commit": 5}});
        let found = commitments_in(&entry);
        assert_eq!(
            found,
            vec![
                Committed {
                    path: "$['args']['a']".into(),
                    commitment: "blake3k:1".into()
                },
                Committed {
                    path: "$['args']['l'][1]".into(),
                    commitment: "blake3k:2".into()
                },
            ]
        );
    }
}

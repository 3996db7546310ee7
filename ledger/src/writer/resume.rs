//! The chain state saved after each sealed segment, so that opening a ledger re-reads only its
//! last segments instead of all of them (docs/reliability.md, finding 4).
//!
//! When a batch seals segment `n`, the syncer saves the [`ChainHead`] after it together with the
//! sealing checkpoint ([`Store::save_head`]; `heads/<n>.head` beside `segments/`). A saved head
//! is a cache, never a source of truth:
//! - it is written without `fsync`; a torn or unreadable file is skipped;
//! - opening resumes from the head saved after segment `r` only if segment `r + 1` is sealed and
//!   not the last, and then verifies segments `r + 1 ..= last` from that head: the first entry
//!   of `r + 1` must name the saved `prev` and the saved seq, and every checkpoint in `r + 1`,
//!   its seal's included, must match the Merkle root the saved frontier grows to; the last
//!   checkpoint must carry the writer's key's signature, and the saved keys must name that key
//!   as active (the writer's scan checks no other signature). A head that does not fit fails
//!   one of these checks, and the open falls back to a full scan;
//! - segments before `r + 1` are not re-read by the writer. They are still covered by the
//!   signed checkpoints, and `auditgate-verify` checks them; a writer asked to check everything
//!   on open ([`crate::LedgerOptions::full_scan_on_open`]) ignores saved heads.
//!
//! Format (one JSON object, keys as below, version 1): `v`, `segment`, `entries`, `prev` (hex),
//! `last_ts`, `frontier` (hex subtree roots, largest first), `origin`, `ledger_id`,
//! `active_key`, `keys`, `checkpoint` (the sealing checkpoint note, as text).
//!
//! [`Store::save_head`]: crate::store::Store::save_head
use serde_json::{Value, json};

use crate::checkpoint::SignedCheckpoint;
use crate::format::Format;
use crate::keys::VerifierKey;
use crate::merkle::{Frontier, Hash};
use crate::timestamp::Timestamp;
use crate::verify::ChainHead;

/// A saved head: the chain state after a sealed segment and the checkpoint that sealed it.
#[derive(Debug, Clone)]
pub(crate) struct SavedHead {
    /// The sealed segment this state follows.
    pub(crate) segment: u64,
    pub(crate) head: ChainHead,
    pub(crate) checkpoint: SignedCheckpoint,
}

const VERSION: u64 = 1;

/// The bytes [`parse`] reads back.
pub(crate) fn encode(segment: u64, head: &ChainHead, checkpoint: &[u8]) -> Vec<u8> {
    let keys: Vec<String> = head.keys.iter().map(ToString::to_string).collect();
    let frontier: Vec<String> = head
        .frontier
        .subtree_roots()
        .iter()
        .map(hex::encode)
        .collect();
    let value = json!({
        "v": VERSION,
        "segment": segment,
        "entries": head.entries,
        "prev": hex::encode(head.prev),
        "last_ts": head.last_ts.as_ref().map(Timestamp::as_str),
        "frontier": frontier,
        "origin": head.origin,
        "ledger_id": head.ledger_id,
        "active_key": head.active_key.as_ref().map(ToString::to_string),
        "keys": keys,
        "checkpoint": String::from_utf8_lossy(checkpoint),
    });
    let mut bytes = value.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// Reads a saved head; `None` for anything that is not a complete, well-formed version-1 head
/// whose checkpoint covers exactly its entries and root.
pub(crate) fn parse(bytes: &[u8]) -> Option<SavedHead> {
    let v: Value = crate::json::parse_plain(bytes).ok()?;
    if v["v"].as_u64()? != VERSION {
        return None;
    }
    let hash = |v: &Value| -> Option<Hash> { hex::decode(v.as_str()?).ok()?.try_into().ok() };
    let entries = v["entries"].as_u64()?;
    let roots = v["frontier"]
        .as_array()?
        .iter()
        .map(hash)
        .collect::<Option<Vec<Hash>>>()?;
    let key = |v: &Value| v.as_str()?.parse::<VerifierKey>().ok();
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let head = ChainHead {
        entries,
        prev: hash(&v["prev"])?,
        last_ts: match &v["last_ts"] {
            Value::Null => None,
            ts => Some(Timestamp::parse(ts.as_str()?)?),
        },
        frontier: Frontier::from_subtree_roots(entries, roots).ok()?,
        origin: text(&v["origin"]),
        ledger_id: text(&v["ledger_id"]),
        active_key: key(&v["active_key"]),
        keys: v["keys"]
            .as_array()?
            .iter()
            .map(key)
            .collect::<Option<Vec<_>>>()?,
        format: Format::V1_0,
    };
    let checkpoint = SignedCheckpoint::parse(v["checkpoint"].as_str()?.as_bytes()).ok()?;
    let cp = checkpoint.checkpoint();
    // The version is not saved: the signed checkpoint tells it (1.1 writers always add their
    // `prev-size` line, 1.0 writers never add one), so a head cannot claim another.
    let mut head = head;
    head.format = Format::of_checkpoint(cp);
    if cp.size != entries || cp.root != head.frontier.root() {
        return None;
    }
    Some(SavedHead {
        segment: v["segment"].as_u64()?,
        head,
        checkpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::keys::SigningKey;
    use crate::merkle::leaf_hash;

    fn sample() -> (ChainHead, Vec<u8>) {
        let key = SigningKey::from_seed("auditgate.test", &[3; 32]).unwrap();
        let mut frontier = Frontier::new();
        for i in 0..11u8 {
            frontier.push(leaf_hash(&[i]));
        }
        let head = ChainHead {
            entries: 11,
            prev: [9; 32],
            last_ts: Timestamp::parse("2026-11-21T21:00:00.123456789Z"),
            frontier,
            origin: Some("auditgate.test/l".into()),
            ledger_id: Some("l".into()),
            active_key: Some(key.verifier_key()),
            keys: vec![key.verifier_key()],
            format: Format::V1_0,
        };
        let cp = Checkpoint {
            origin: "auditgate.test/l".into(),
            size: 11,
            root: head.frontier.root(),
            extensions: Vec::new(),
        };
        let signed = SignedCheckpoint::sign(cp, &[&key]).unwrap();
        (head, signed.to_bytes())
    }

    #[test]
    fn a_saved_head_reads_back() {
        let (head, cp) = sample();
        let saved = parse(&encode(4, &head, &cp)).unwrap();
        assert_eq!(saved.segment, 4);
        assert_eq!(saved.head.entries, 11);
        assert_eq!(saved.head.prev, head.prev);
        assert_eq!(saved.head.last_ts, head.last_ts);
        assert_eq!(saved.head.frontier.root(), head.frontier.root());
        assert_eq!(saved.head.keys, head.keys);
        assert_eq!(saved.head.active_key, head.active_key);
        assert_eq!(saved.head.origin, head.origin);
        assert_eq!(saved.head.ledger_id, head.ledger_id);
        assert_eq!(saved.checkpoint.to_bytes(), cp);
    }

    #[test]
    fn torn_or_inconsistent_heads_are_not_read() {
        let (head, cp) = sample();
        let bytes = encode(4, &head, &cp);
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 2] {
            assert!(parse(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        // A frontier that does not grow to the checkpoint's root.
        let mut other = head.clone();
        other.frontier.push([0; 32]);
        other.entries += 1;
        assert!(parse(&encode(4, &other, &cp)).is_none());
        let text = String::from_utf8(bytes).unwrap();
        assert!(parse(text.replace("\"v\":1", "\"v\":2").as_bytes()).is_none());
    }
}

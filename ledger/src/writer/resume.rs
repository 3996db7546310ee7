//! The chain state saved as the ledger grows, so that opening it re-reads only what was written
//! since the last save, whatever the segment sizes (docs/reliability.md, finding 4;
//! docs/ledger-format.md §7, "Saved heads").
//!
//! After the batch that seals segment `n`, and after any other batch once
//! [`LedgerOptions::save_head_every`] bytes have been written since the last save, the syncer
//! saves the [`ChainHead`] after the batch, where that batch's last entry and checkpoint records
//! lie in segment `n`, and the checkpoint ([`Store::save_head`]: `heads/<n>.head`, replaced at
//! each save). It never saves one after a key rotation's batch. With the index kept, the indexer
//! saves it instead, once the index has flushed the head's entries, so that after a crash no head
//! is past the index (an open could not use it). A saved head is a cache, never a source of
//! truth: it is written without `fsync`, and an open trusts it only when segment `n`'s bytes say
//! the same:
//! - [`newest`] picks the head of the highest-numbered segment that has one which parses (a torn
//!   file, or one without `offset` and `entry_at`, is skipped), whose checkpoint covers exactly
//!   its entries and frontier root, which names that segment and this ledger, and whose entries
//!   the index (if kept) has seen;
//! - [`confirm`] reads segment `n` from `entry_at` on and requires there an entry record with a
//!   valid CRC, the head's `seq - 1`, `last_ts` and `prev` (its BLAKE3 hash), not a key rotation;
//!   right after it a checkpoint record byte-identical to the saved note, ending at the saved
//!   `offset`; the note's origin the saved origin; the saved active key the last of the saved
//!   keys; and that key's valid signature on the note;
//! - the writer then scans from `offset` (the rest of segment `n`, then every later segment) with
//!   every rule of a full scan, torn tails included, and the last checkpoint must be signed by the
//!   writer's key as the active key the scan ends with.
//!
//! Any failure is a [`HeadRejected`] in the open's report, and the open scans everything, which
//! decides. What is before `offset` is not re-read by the writer: it is covered by the signed
//! checkpoints, and `auditgate-verify` checks it; a writer asked to check everything on open
//! ([`crate::LedgerOptions::full_scan_on_open`]) ignores saved heads.
//!
//! Format (one JSON object, version 1; unknown keys are ignored): `v`, `segment`, `offset`,
//! `entry_at`, `entries`, `prev` (hex), `last_ts`, `frontier` (hex subtree roots, largest
//! first), `origin`, `ledger_id`, `active_key`, `keys`, `checkpoint` (the note, as text).
//!
//! [`Store::save_head`]: crate::store::Store::save_head
//! [`LedgerOptions::save_head_every`]: crate::LedgerOptions::save_head_every
use serde_json::{Value, json};
use thiserror::Error;

use crate::checkpoint::SignedCheckpoint;
use crate::entry;
use crate::format::Format;
use crate::keys::VerifierKey;
use crate::merkle::{Frontier, Hash};
use crate::segment::{self, RecordType};
use crate::store::Store;
use crate::timestamp::Timestamp;
use crate::verify::{ChainHead, KIND_KEY_ROTATED, VerifyError};

/// Where a saved head's batch ends in its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadAt {
    pub(crate) segment: u64,
    /// Just past the batch's checkpoint record: where a scan resumes.
    pub(crate) offset: u64,
    /// The batch's last entry record.
    pub(crate) entry_at: u64,
}

/// A saved head as read back, not yet confirmed.
#[derive(Debug, Clone)]
pub(crate) struct SavedHead {
    pub(crate) at: HeadAt,
    pub(crate) head: ChainHead,
    /// The checkpoint note as saved (to compare byte for byte) and parsed.
    note: Vec<u8>,
    checkpoint: SignedCheckpoint,
}

/// A saved head the segment's bytes confirmed, with those bytes from its offset on.
#[derive(Debug)]
pub(crate) struct Confirmed {
    pub(crate) at: HeadAt,
    pub(crate) head: ChainHead,
    pub(crate) checkpoint: SignedCheckpoint,
    /// Segment `at.segment` from `at.offset` to its end.
    pub(crate) rest: Vec<u8>,
    /// Bytes read to confirm it (from `at.entry_at` on).
    pub(crate) read: u64,
}

/// Why an open did not resume from the newest saved head that parsed (it then scanned
/// everything).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeadRejected {
    /// The segment could not be read from the head's last entry on (it is shorter, or I/O
    /// failed).
    #[error("segment {segment} could not be read from byte {offset}: {why}")]
    Unreadable {
        /// The head's segment.
        segment: u64,
        /// Its `entry_at`.
        offset: u64,
        /// The I/O error.
        why: String,
    },
    /// No entry record with a valid CRC at `entry_at`.
    #[error("segment {segment} byte {offset}: no entry record there")]
    NoEntry {
        /// The head's segment.
        segment: u64,
        /// Its `entry_at`.
        offset: u64,
    },
    /// The entry there does not have the head's last seq, timestamp or hash.
    #[error("segment {segment} byte {offset}: the entry there is not the head's last entry")]
    NotLastEntry {
        /// The head's segment.
        segment: u64,
        /// Its `entry_at`.
        offset: u64,
    },
    /// The head's last entry is a key rotation: its checkpoint carries two keys' signatures,
    /// so a signature cannot tell which key the head may name as active.
    #[error("segment {segment} byte {offset}: the head follows a key rotation")]
    AfterRotation {
        /// The head's segment.
        segment: u64,
        /// Its `entry_at`.
        offset: u64,
    },
    /// The record after that entry is not the head's checkpoint byte for byte, or does not end
    /// at the head's offset.
    #[error("segment {segment} byte {offset}: the checkpoint there is not the head's")]
    CheckpointDiffers {
        /// The head's segment.
        segment: u64,
        /// Where the checkpoint record was expected.
        offset: u64,
    },
    /// The checkpoint names another origin than the head.
    #[error("the head's checkpoint names another origin")]
    OriginDiffers,
    /// The head's active key is not the last of its keys.
    #[error("the head's active key is not the last of its keys")]
    KeysInconsistent,
    /// The checkpoint carries no valid signature by the head's active key.
    #[error("the head's checkpoint is not signed by its active key")]
    NotSigned,
    /// The scan from the head found what follows inconsistent with it.
    #[error("the scan from the head failed: {0}")]
    Scan(VerifyError),
    /// A segment after the head could not be read.
    #[error("reading the segments after the head: {0}")]
    Io(String),
    /// The last checkpoint is not signed by the writer's key, or that key is not the active
    /// key the scan ends with (the full scan then reports `WrongKey` if it is not).
    #[error("the last checkpoint is not signed by the writer's key as the active key")]
    NotWritersKey,
}

const VERSION: u64 = 1;

/// The bytes [`parse`] reads back: `head` after a batch at `at`, whose checkpoint note is
/// `checkpoint`.
pub(crate) fn encode(at: HeadAt, head: &ChainHead, checkpoint: &[u8]) -> Vec<u8> {
    let keys: Vec<String> = head.keys.iter().map(ToString::to_string).collect();
    let frontier: Vec<String> = head
        .frontier
        .subtree_roots()
        .iter()
        .map(hex::encode)
        .collect();
    let value = json!({
        "v": VERSION,
        "segment": at.segment,
        "offset": at.offset,
        "entry_at": at.entry_at,
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
/// with a position, whose checkpoint covers exactly its entries and root.
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
    let note = v["checkpoint"].as_str()?.as_bytes().to_vec();
    let checkpoint = SignedCheckpoint::parse(&note).ok()?;
    let cp = checkpoint.checkpoint();
    // The version is not saved: the signed checkpoint tells it (1.1 writers always add their
    // `prev-size` line, 1.0 writers never add one), so a head cannot claim another.
    let mut head = head;
    head.format = Format::of_checkpoint(cp);
    if cp.size != entries || cp.root != head.frontier.root() {
        return None;
    }
    let at = HeadAt {
        segment: v["segment"].as_u64()?,
        offset: v["offset"].as_u64()?,
        entry_at: v["entry_at"].as_u64()?,
    };
    (at.entry_at < at.offset).then_some(SavedHead {
        at,
        head,
        note,
        checkpoint,
    })
}

/// The saved head an open tries: that of the highest-numbered segment among `numbers` with one
/// that parses, names that segment and this ledger, and is not past what the index has seen.
pub(crate) fn newest(
    store: &dyn Store,
    numbers: &[u64],
    ledger_id: &str,
    index_from: u64,
) -> Option<SavedHead> {
    numbers.iter().rev().find_map(|&n| {
        let saved = parse(&store.load_head(n).ok()??)?;
        let fits = saved.at.segment == n
            && saved.head.ledger_id.as_deref() == Some(ledger_id)
            && saved.head.entries <= index_from;
        fits.then_some(saved)
    })
}

/// Checks `saved` against its segment's bytes (the rules in the module header) and returns the
/// bytes to scan after it.
pub(crate) fn confirm(store: &dyn Store, saved: SavedHead) -> Result<Confirmed, HeadRejected> {
    let SavedHead {
        at,
        head,
        note,
        checkpoint,
    } = saved;
    let (segment, offset) = (at.segment, at.entry_at);
    let mut bytes =
        store
            .read_from(segment, at.entry_at)
            .map_err(|e| HeadRejected::Unreadable {
                segment,
                offset,
                why: e.to_string(),
            })?;
    let entry = segment::decode_record(&bytes, 0)
        .ok()
        .filter(|r| r.ty == RecordType::Entry)
        .ok_or(HeadRejected::NoEntry { segment, offset })?;
    check_last_entry(&head, entry.payload, at)?;
    let cp_at = entry.end();
    let cp_end = segment::decode_record(&bytes, cp_at)
        .ok()
        .filter(|r| r.ty == RecordType::Checkpoint && r.payload == note.as_slice())
        .map(|r| r.end())
        .filter(|&end| at.entry_at + end as u64 == at.offset)
        .ok_or(HeadRejected::CheckpointDiffers {
            segment,
            offset: at.entry_at + cp_at as u64,
        })?;
    check_signed_by_active(&head, &checkpoint)?;
    let read = bytes.len() as u64;
    bytes.drain(..cp_end);
    Ok(Confirmed {
        at,
        head,
        checkpoint,
        rest: bytes,
        read,
    })
}

/// The entry `payload` must be the last one `head` covers, and not a key rotation.
fn check_last_entry(head: &ChainHead, payload: &[u8], at: HeadAt) -> Result<(), HeadRejected> {
    let (segment, offset) = (at.segment, at.entry_at);
    let header =
        entry::parse_header(payload).map_err(|_| HeadRejected::NotLastEntry { segment, offset })?;
    let last = header.seq + 1 == head.entries
        && Some(header.ts) == head.last_ts
        && entry::entry_hash(payload) == head.prev;
    if !last {
        return Err(HeadRejected::NotLastEntry { segment, offset });
    }
    if header.kind == KIND_KEY_ROTATED {
        return Err(HeadRejected::AfterRotation { segment, offset });
    }
    Ok(())
}

/// The head's active key must be the last of its keys and have signed its checkpoint, which
/// must name the head's origin.
fn check_signed_by_active(
    head: &ChainHead,
    checkpoint: &SignedCheckpoint,
) -> Result<(), HeadRejected> {
    if head.origin.as_ref() != Some(&checkpoint.checkpoint().origin) {
        return Err(HeadRejected::OriginDiffers);
    }
    let active = head
        .active_key
        .as_ref()
        .filter(|&k| head.keys.last() == Some(k))
        .ok_or(HeadRejected::KeysInconsistent)?;
    let signed = checkpoint
        .verify(std::slice::from_ref(active))
        .is_ok_and(|by| by == [0]);
    signed.then_some(()).ok_or(HeadRejected::NotSigned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::keys::SigningKey;
    use crate::merkle::leaf_hash;

    const AT: HeadAt = HeadAt {
        segment: 4,
        offset: 900,
        entry_at: 200,
    };

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
        let saved = parse(&encode(AT, &head, &cp)).unwrap();
        assert_eq!(saved.at, AT);
        assert_eq!(saved.head.entries, 11);
        assert_eq!(saved.head.prev, head.prev);
        assert_eq!(saved.head.last_ts, head.last_ts);
        assert_eq!(saved.head.frontier.root(), head.frontier.root());
        assert_eq!(saved.head.keys, head.keys);
        assert_eq!(saved.head.active_key, head.active_key);
        assert_eq!(saved.head.origin, head.origin);
        assert_eq!(saved.head.ledger_id, head.ledger_id);
        assert_eq!(saved.checkpoint.to_bytes(), cp);
        assert_eq!(saved.note, cp);
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let (head, cp) = sample();
        let text = String::from_utf8(encode(AT, &head, &cp)).unwrap();
        let more = text.replacen('{', "{\"format\":\"x\",\"later\":[1,2],", 1);
        assert_eq!(parse(more.as_bytes()).unwrap().at, AT);
    }

    #[test]
    fn torn_inconsistent_or_unplaced_heads_are_not_read() {
        let (head, cp) = sample();
        let bytes = encode(AT, &head, &cp);
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 2] {
            assert!(parse(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        // A frontier that does not grow to the checkpoint's root.
        let mut other = head.clone();
        other.frontier.push([0; 32]);
        other.entries += 1;
        assert!(parse(&encode(AT, &other, &cp)).is_none());
        let text = String::from_utf8(bytes).unwrap();
        assert!(parse(text.replace("\"v\":1", "\"v\":2").as_bytes()).is_none());
        // Written before heads had a position (or with one that cannot be).
        assert!(parse(text.replace("\"entry_at\":200,", "").as_bytes()).is_none());
        assert!(parse(text.replace("\"offset\":900,", "").as_bytes()).is_none());
        assert!(parse(text.replace("\"offset\":900", "\"offset\":200").as_bytes()).is_none());
    }
}

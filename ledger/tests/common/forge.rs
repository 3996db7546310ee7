//! An attacker's toolkit, for the tamper tests and the test-vector generator: read a ledger's
//! records, edit them, frame them again with valid CRCs (an attacker recomputes checksums), and,
//! for attacks that assume a stolen signing key, re-chain entries and re-sign checkpoints.
//!
//! Used by `tests/common/mod.rs` and by `examples/make_testdata.rs` (through `#[path]`), so it
//! depends on nothing but the crate and its own dependencies.
#![allow(dead_code, reason = "each user takes a different subset")]
#![allow(
    clippy::unwrap_used,
    reason = "test tooling: a failure is a broken fixture"
)]

use std::path::{Path, PathBuf};

use auditgate_ledger::checkpoint::{Checkpoint, SignedCheckpoint};
use auditgate_ledger::format::Format;
use auditgate_ledger::merkle::Frontier;
use auditgate_ledger::segment::{self, HEADER_LEN, RecordType};
use auditgate_ledger::verify::{KIND_GENESIS, KIND_KEY_ROTATED, Verifier, VerifyOptions};
use auditgate_ledger::{Report, SigningKey, VerifierKey, VerifyError, canonical, entry, merkle};
use serde_json::Value;

/// One record of a segment: its type and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    /// Record type.
    pub ty: RecordType,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

impl Rec {
    /// An entry record.
    pub fn entry(payload: Vec<u8>) -> Self {
        Self {
            ty: RecordType::Entry,
            payload,
        }
    }

    /// The entry's JSON (panics if this is not an entry).
    pub fn json(&self) -> Value {
        assert_eq!(self.ty, RecordType::Entry);
        serde_json::from_slice(&self.payload).unwrap()
    }

    /// The entry's `seq` (panics if this is not an entry).
    pub fn seq(&self) -> u64 {
        self.json()["seq"].as_u64().unwrap()
    }

    /// The checkpoint's tree size (panics if this is not a checkpoint).
    pub fn size(&self) -> u64 {
        assert_eq!(self.ty, RecordType::Checkpoint);
        SignedCheckpoint::parse(&self.payload)
            .unwrap()
            .checkpoint()
            .size
    }

    /// Replaces the entry's JSON with the canonical encoding of `v`.
    pub fn set_json(&mut self, v: &Value) {
        assert_eq!(self.ty, RecordType::Entry);
        self.payload = canonical::encode(v);
    }
}

/// A ledger as records, one list per segment (index = segment number).
pub type Segs = Vec<Vec<Rec>>;

/// The segment files of a ledger directory (or of a bare directory of segment files), by number.
pub fn read_files(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let seg_dir = seg_dir(dir);
    let mut files: Vec<(u64, Vec<u8>)> = std::fs::read_dir(&seg_dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let n = segment::parse_file_name(e.file_name().to_str()?)?;
            Some((n, std::fs::read(e.path()).unwrap()))
        })
        .collect();
    files.sort();
    files
}

fn seg_dir(dir: &Path) -> PathBuf {
    if dir.join("segments").is_dir() {
        dir.join("segments")
    } else {
        dir.to_path_buf()
    }
}

/// The files of segments 0, 1, … as a plain list (asserting they are contiguous).
pub fn read_contiguous(dir: &Path) -> Vec<Vec<u8>> {
    read_files(dir)
        .into_iter()
        .enumerate()
        .map(|(i, (n, b))| {
            assert_eq!(i as u64, n, "segments are not contiguous");
            b
        })
        .collect()
}

/// Decodes every record of a well-formed segment file.
pub fn decode(bytes: &[u8]) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut offset = HEADER_LEN;
    while offset < bytes.len() {
        let r = segment::decode_record(bytes, offset).unwrap();
        offset = r.end();
        out.push(Rec {
            ty: r.ty,
            payload: r.payload.to_vec(),
        });
    }
    out
}

/// Decodes every segment file.
pub fn records(files: &[Vec<u8>]) -> Segs {
    files.iter().map(|f| decode(f)).collect()
}

/// Frames `recs` as segment `number`: header, then each record with a correct CRC.
pub fn frame(number: u64, recs: &[Rec]) -> Vec<u8> {
    let mut out = segment::encode_header(number).to_vec();
    for r in recs {
        segment::encode_record(&mut out, r.ty, &r.payload);
    }
    out
}

/// Frames every segment, numbered by position.
pub fn frame_all(segs: &[Vec<Rec>]) -> Vec<Vec<u8>> {
    segs.iter()
        .enumerate()
        .map(|(i, s)| frame(i as u64, s))
        .collect()
}

/// Writes segment files into `dir/segments/` (created; must not hold other segments).
pub fn write_numbered(dir: &Path, files: &[(u64, Vec<u8>)]) {
    let d = dir.join("segments");
    std::fs::create_dir_all(&d).unwrap();
    for (n, bytes) in files {
        std::fs::write(d.join(segment::file_name(*n)), bytes).unwrap();
    }
}

/// Writes segment files 0, 1, … into `dir/segments/`.
pub fn write_files(dir: &Path, files: &[Vec<u8>]) {
    let numbered: Vec<(u64, Vec<u8>)> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (i as u64, f.clone()))
        .collect();
    write_numbered(dir, &numbered);
}

/// Verifies segment bytes in memory, exactly as `verify_dir` would verify these files.
pub fn verify_numbered<B: AsRef<[u8]>>(
    files: &[(u64, B)],
    trusted: &[VerifierKey],
    pin: Option<&SignedCheckpoint>,
) -> Result<Report, VerifyError> {
    let opts = VerifyOptions {
        threads: 1,
        ..VerifyOptions::default()
    };
    let mut v = Verifier::new(trusted.to_vec(), pin.cloned(), opts);
    for (n, bytes) in files {
        v.feed_segment(*n, bytes.as_ref(), &mut |_| {})?;
    }
    v.finish()
}

/// [`verify_numbered`] for segments 0, 1, ….
pub fn verify_files<B: AsRef<[u8]>>(
    files: &[B],
    trusted: &[VerifierKey],
    pin: Option<&SignedCheckpoint>,
) -> Result<Report, VerifyError> {
    let numbered: Vec<(u64, &[u8])> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (i as u64, f.as_ref()))
        .collect();
    verify_numbered(&numbered, trusted, pin)
}

/// Frames and verifies records.
pub fn verify_segs(
    segs: &[Vec<Rec>],
    trusted: &[VerifierKey],
    pin: Option<&SignedCheckpoint>,
) -> Result<Report, VerifyError> {
    verify_files(&frame_all(segs), trusted, pin)
}

/// Where a record is: (segment, index in that segment).
pub type At = (usize, usize);

/// Every record position, in ledger order.
pub fn positions(segs: &[Vec<Rec>]) -> Vec<At> {
    segs.iter()
        .enumerate()
        .flat_map(|(s, recs)| (0..recs.len()).map(move |i| (s, i)))
        .collect()
}

/// Position of the entry with `seq`.
pub fn entry_at(segs: &[Vec<Rec>], seq: u64) -> At {
    positions(segs)
        .into_iter()
        .filter(|&(s, i)| segs[s][i].ty == RecordType::Entry)
        .nth(seq as usize)
        .unwrap()
}

/// Position of the checkpoint of tree size `size`.
pub fn checkpoint_at(segs: &[Vec<Rec>], size: u64) -> At {
    positions(segs)
        .into_iter()
        .find(|&(s, i)| segs[s][i].ty == RecordType::Checkpoint && segs[s][i].size() == size)
        .unwrap()
}

/// The signed checkpoint of tree size `size` (e.g. to pin it).
pub fn signed_checkpoint(segs: &[Vec<Rec>], size: u64) -> SignedCheckpoint {
    let (s, i) = checkpoint_at(segs, size);
    SignedCheckpoint::parse(&segs[s][i].payload).unwrap()
}

/// Every checkpoint's size, in order.
pub fn checkpoint_sizes(segs: &[Vec<Rec>]) -> Vec<u64> {
    segs.iter()
        .flatten()
        .filter(|r| r.ty == RecordType::Checkpoint)
        .map(Rec::size)
        .collect()
}

/// Rewrites every entry's `seq` and `prev` so the chain is whole again (a stolen-key attacker
/// rewriting history; follow with [`resign`]).
pub fn rechain(segs: &mut [Vec<Rec>]) {
    let mut seq = 0u64;
    let mut prev = [0u8; 32];
    for r in segs.iter_mut().flatten() {
        if r.ty != RecordType::Entry {
            continue;
        }
        let mut v = r.json();
        v["seq"] = seq.into();
        v["prev"] = hex::encode(prev).into();
        r.set_json(&v);
        prev = entry::entry_hash(&r.payload);
        seq += 1;
    }
}

/// Recomputes every checkpoint (size and root of the entries before it, signed by the key active
/// there and, in a rotation batch, the new key too) and every seal count. `keys` must hold every
/// signing key the ledger names.
pub fn resign(segs: &mut [Vec<Rec>], keys: &[SigningKey]) {
    let find = |vk: &str| -> SigningKey {
        let wanted: Option<VerifierKey> = vk.parse().ok();
        keys.iter()
            .find(|k| wanted.as_ref() == Some(&k.verifier_key()))
            .unwrap_or_else(|| panic!("no signing key for {vk}"))
            .clone()
    };
    let mut frontier = Frontier::new();
    let mut origin = String::new();
    let mut active: Option<SigningKey> = None;
    let mut rotated: Option<SigningKey> = None;
    let mut format = Format::V1_0;
    let mut prev_size = 0;
    for r in segs.iter_mut().flatten() {
        match r.ty {
            RecordType::Entry => {
                let v = r.json();
                match v["kind"].as_str().unwrap() {
                    KIND_GENESIS => {
                        origin = v["origin"].as_str().unwrap().to_owned();
                        format =
                            Format::parse(v["format"].as_str().unwrap_or("")).unwrap_or_default();
                        active = Some(find(v["key"].as_str().unwrap()));
                    }
                    KIND_KEY_ROTATED => rotated = Some(find(v["new_key"].as_str().unwrap())),
                    _ => {}
                }
                frontier.push(merkle::leaf_hash(&r.payload));
            }
            RecordType::Checkpoint => {
                let cp = Checkpoint {
                    origin: origin.clone(),
                    size: frontier.size(),
                    root: frontier.root(),
                    extensions: format.extensions(prev_size),
                };
                prev_size = frontier.size();
                let mut signers: Vec<&SigningKey> = active.iter().collect();
                signers.extend(rotated.iter());
                r.payload = SignedCheckpoint::sign(cp, &signers).unwrap().to_bytes();
                if let Some(new) = rotated.take() {
                    active = Some(new);
                }
            }
            RecordType::Seal => r.payload = segment::encode_seal(frontier.size()).to_vec(),
        }
    }
}

/// A copy of a signed checkpoint's bytes whose first signature line by `key_id` is corrupted
/// (one bit of the Ed25519 signature flipped; name and key id kept, so the line still names
/// that key).
pub fn corrupt_signature(note: &[u8], key_id: [u8; 4]) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = std::str::from_utf8(note).unwrap();
    let mut done = false;
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            out.push_str(line);
            continue;
        };
        let (name, sig) = rest.trim_end_matches('\n').split_once(' ').unwrap();
        let mut blob = b64.decode(sig).unwrap();
        if done || blob[..4] != key_id {
            out.push_str(line);
            continue;
        }
        blob[4 + 10] ^= 0x01;
        out.push_str(&format!("\u{2014} {name} {}\n", b64.encode(&blob)));
        done = true;
    }
    assert!(done, "no signature line by that key");
    out.into_bytes()
}

/// The body of a signed checkpoint, signed by `signers` instead of its own signers.
pub fn resign_note(note: &[u8], signers: &[&SigningKey]) -> Vec<u8> {
    let cp = SignedCheckpoint::parse(note).unwrap().checkpoint().clone();
    SignedCheckpoint::sign(cp, signers).unwrap().to_bytes()
}

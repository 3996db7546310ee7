//! Crafted Ed25519 inputs for the vectors of `docs/ledger-format.md` A.4 (the acceptance rule):
//! a weak (small-order) public key, a signature with a non-canonical `S` (`S + L`, which lax
//! verifiers reduce and accept) and one with a small-order `R` that satisfies the verification
//! equation (OpenSSL accepts it; libsodium and the strict rule reject it).

use auditgate_ledger::SigningKey;
use auditgate_ledger::checkpoint::SignedCheckpoint;
use base64::Engine as _;
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest as _, Sha256, Sha512};

/// The group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The encoding of the neutral element (y = 1): a point of small order (order 1).
const IDENTITY: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x01]);
    h.update(public);
    h.finalize()[..4].try_into().unwrap()
}

/// A verifier key string, well-formed in every field, for the small-order point `IDENTITY`.
pub fn weak_verifier_key(name: &str) -> String {
    let mut blob = vec![0x01];
    blob.extend_from_slice(&IDENTITY);
    format!(
        "{name}+{}+{}",
        hex::encode(key_id(name, &IDENTITY)),
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

/// `note` (a checkpoint signed by `key` alone) with its signature replaced by `sig`.
fn with_signature(note: &[u8], key: &SigningKey, sig: &[u8; 64]) -> Vec<u8> {
    let cp = SignedCheckpoint::parse(note).unwrap().checkpoint().clone();
    let mut blob = key.key_id().to_vec();
    blob.extend_from_slice(sig);
    format!(
        "{}\n\u{2014} {} {}\n",
        cp.body(),
        key.name(),
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
    .into_bytes()
}

/// The 64 signature bytes of `key`'s line in `note`.
fn signature_of(note: &[u8], key: &SigningKey) -> [u8; 64] {
    let text = std::str::from_utf8(note).unwrap();
    let prefix = format!("\u{2014} {} ", key.name());
    for line in text.lines().filter_map(|l| l.strip_prefix(&prefix)) {
        let blob = base64::engine::general_purpose::STANDARD
            .decode(line)
            .unwrap();
        if blob[..4] == key.key_id() {
            return blob[4..].try_into().unwrap();
        }
    }
    panic!("no signature by that key")
}

/// `note` with `key`'s signature `R || S` replaced by `R || S + L`: the same value of `S`
/// modulo L, so the verification equation still holds, but `S` is not canonical (S ≥ L).
pub fn non_canonical_s(note: &[u8], key: &SigningKey) -> Vec<u8> {
    let mut sig = signature_of(note, key);
    let mut carry = 0u16;
    for (b, l) in sig[32..].iter_mut().zip(L) {
        let sum = u16::from(*b) + u16::from(l) + carry;
        *b = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    with_signature(note, key, &sig)
}

/// `note` re-signed by `key` (whose seed is `seed`) with `R` = the neutral element and
/// `S = k·a mod L`: then `[S]B = R + [k]A` holds exactly, with a small-order `R`.
pub fn small_order_r(note: &[u8], key: &SigningKey, seed: &[u8; 32]) -> Vec<u8> {
    let body = SignedCheckpoint::parse(note).unwrap().checkpoint().body();
    let expanded = Sha512::digest(seed);
    let mut clamped: [u8; 32] = expanded[..32].try_into().unwrap();
    clamped[0] &= 248;
    clamped[31] &= 127;
    clamped[31] |= 64;
    let a = Scalar::from_bytes_mod_order(clamped);
    let public = key.verifier_key().public().to_bytes();
    let mut h = Sha512::new();
    h.update(IDENTITY);
    h.update(public);
    h.update(body.as_bytes());
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&IDENTITY);
    sig[32..].copy_from_slice((k * a).as_bytes());
    with_signature(note, key, &sig)
}

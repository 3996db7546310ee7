//! The ledger's one Ed25519 verification rule (`docs/ledger-format.md` Appendix A.4), and a batch
//! check that agrees with it.
//!
//! **The rule** ("cofactored, strict encodings"). A signature `R || S` by the key `A` over `M`
//! is valid iff
//! - `S` is canonical: `S < L`;
//! - `R` and `A` are canonical encodings (`y < p`) of curve points, neither of small order;
//! - `[8][S]B = [8]R + [8][k]A`, with `k = SHA-512(R || A || M) mod L` (RFC 8032 §5.1.7's
//!   cofactored group equation).
//!
//! Why cofactored: only the cofactored equation can be checked for many signatures at once
//! soundly. The cofactorless one (`[S]B = R + [k]A`, `verify_strict`) differs from it only when
//! `[S]B - R - [k]A` is a non-zero point of small order, which no RFC 8032 signer produces; a
//! random linear combination of such points vanishes with probability 1/2 to 1/8, so a batch of
//! cofactorless equations cannot give the single check's verdict. Multiplying by 8 kills those
//! points, and the batch of cofactored equations then fails for an invalid signature except with
//! probability 2^-128 (the coefficients are fresh OS randomness, so no input can be ground to
//! pass). `ed25519_dalek::verify_batch` is neither: it does not multiply by 8, so its verdict on
//! crafted mixed-order keys is random; it is not used.
//!
//! Every signature check in the crate goes through [`verify`]; [`batch_holds`] is only a fast
//! path for "all of these are valid", and whenever it says no the caller checks each with
//! [`verify`], so the verdict is always [`verify`]'s.

use std::fmt;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

/// A public key as the rule sees it: its encoding, and its point if the encoding passes the
/// rule's key conditions (canonical, not of small order). A key without a point verifies no
/// signature.
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; 32],
    point: Option<EdwardsPoint>,
}

impl PublicKey {
    /// Decodes a public key's 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            bytes,
            point: decode_point(&bytes),
        }
    }

    /// The encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

// Equality and hashing by encoding: the point is a function of it.
impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.bytes))
    }
}

/// The point a 32-byte encoding names, if it is canonical and not of small order.
///
/// Non-canonical encodings are `y ≥ p` (rejected here on the bytes) and a set sign bit with
/// `x = 0`; the only points with `x = 0` are `(0, 1)` and `(0, -1)`, of order 1 and 2, which
/// the small-order check rejects whatever their sign bit.
fn decode_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if !y_is_reduced(bytes) {
        return None;
    }
    let point = CompressedEdwardsY(*bytes).decompress()?;
    (!point.is_small_order()).then_some(point)
}

/// Whether the 255-bit little-endian `y` of an encoding is below `p = 2^255 - 19`.
fn y_is_reduced(bytes: &[u8; 32]) -> bool {
    let top_all_ones = bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff);
    !(top_all_ones && bytes[0] >= 0xed)
}

/// One signature, decoded and hashed: what both the single and the batch check use.
struct Equation {
    /// `-A`.
    minus_a: EdwardsPoint,
    a_bytes: [u8; 32],
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl Equation {
    /// Checks the rule's encoding conditions and computes `k`; `None` if a condition fails.
    fn new(key: &PublicKey, msg: &[u8], signature: &[u8]) -> Option<Self> {
        let signature: &[u8; 64] = signature.try_into().ok()?;
        let (r_bytes, s_bytes) = signature.split_at(32);
        let s_bytes: [u8; 32] = s_bytes.try_into().ok()?;
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
        let r_bytes: [u8; 32] = r_bytes.try_into().ok()?;
        let r = decode_point(&r_bytes)?;
        let a = key.point?;
        let digest = Sha512::new()
            .chain_update(r_bytes)
            .chain_update(key.bytes)
            .chain_update(msg)
            .finalize();
        let k = Scalar::from_bytes_mod_order_wide(&digest.into());
        Some(Self {
            minus_a: -a,
            a_bytes: key.bytes,
            r,
            s,
            k,
        })
    }

    /// `[8]([S]B - [k]A - R) = 0`.
    fn holds(&self) -> bool {
        let sb_minus_ka =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&self.k, &self.minus_a, &self.s);
        (sb_minus_ka - self.r).mul_by_cofactor().is_identity()
    }
}

/// Whether `signature` is a valid signature by `key` over `msg` under the ledger's rule (see the
/// module documentation). The one signature check of the crate.
pub fn verify(key: &PublicKey, msg: &[u8], signature: &[u8]) -> bool {
    Equation::new(key, msg, signature).is_some_and(|e| e.holds())
}

/// One signature to check in a batch: key, message, signature bytes.
pub type Item<'a> = (&'a PublicKey, &'a [u8], &'a [u8]);

/// A fast path for "every item is valid under [`verify`]": `true` means they all are (up to a
/// 2^-128 chance per call that an invalid one is among them); `false` means at least one may not
/// be, and the caller must check each with [`verify`] (it is also `false` if the OS cannot
/// supply randomness). A set of items that all pass [`verify`] always gives `true`.
///
/// One multiscalar multiplication `[8](-(Σ zᵢSᵢ)B + Σ zᵢRᵢ + Σ (zᵢkᵢ)Aᵢ) = 0` with random
/// 128-bit `zᵢ`; the terms of one key are summed, so a batch signed by one key costs about one
/// point per signature.
pub fn batch_holds(items: &[Item<'_>]) -> bool {
    let Some(equations) = items
        .iter()
        .map(|(key, msg, sig)| Equation::new(key, msg, sig))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    let mut random = vec![0u8; 16 * equations.len()];
    if getrandom::fill(&mut random).is_err() {
        return false;
    }
    let zs = random.chunks_exact(16).map(|c| {
        let mut wide = [0u8; 32];
        wide[..16].copy_from_slice(c);
        Scalar::from_bytes_mod_order(wide)
    });
    let mut b_coefficient = Scalar::ZERO;
    let mut scalars = Vec::with_capacity(equations.len() + 2);
    let mut points = Vec::with_capacity(equations.len() + 2);
    // Keys in first-seen order, each with the sum of its zᵢkᵢ.
    let mut keys: Vec<([u8; 32], EdwardsPoint, Scalar)> = Vec::new();
    for (e, z) in equations.iter().zip(zs) {
        b_coefficient += z * e.s;
        scalars.push(z);
        points.push(e.r);
        let zk = z * e.k;
        match keys.iter_mut().find(|(bytes, ..)| *bytes == e.a_bytes) {
            Some((_, _, sum)) => *sum += zk,
            None => keys.push((e.a_bytes, e.minus_a, zk)),
        }
    }
    for (_, minus_a, sum) in keys {
        // The equation has `-A`; the batch adds `[zk]A`, so negate back by negating the scalar.
        scalars.push(-sum);
        points.push(minus_a);
    }
    scalars.push(-b_coefficient);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;

    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    fn scalar(n: u8) -> Scalar {
        Scalar::from_bytes_mod_order_wide(&Sha512::digest([n]).into())
    }

    fn challenge(r: &[u8; 32], a: &[u8; 32], msg: &[u8]) -> Scalar {
        let d = Sha512::new()
            .chain_update(r)
            .chain_update(a)
            .chain_update(msg)
            .finalize();
        Scalar::from_bytes_mod_order_wide(&d.into())
    }

    /// Signs with secret scalar `a` for the public point `big_a` (which may differ from `[a]B`
    /// by a torsion point), nonce `r`: the signature an RFC 8032 signer would produce for
    /// `[a]B`, but hashed with `big_a`'s encoding.
    fn sign_raw(a: Scalar, big_a: EdwardsPoint, r: Scalar, msg: &[u8]) -> (PublicKey, [u8; 64]) {
        let a_bytes = big_a.compress().to_bytes();
        let r_bytes = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let s = r + challenge(&r_bytes, &a_bytes, msg) * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice(s.as_bytes());
        (PublicKey::from_bytes(a_bytes), sig)
    }

    fn strict(key: &PublicKey, msg: &[u8], sig: &[u8; 64]) -> bool {
        ed25519_dalek::VerifyingKey::from_bytes(key.as_bytes()).is_ok_and(|k| {
            k.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
                .is_ok()
        })
    }

    fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let t = u16::from(a[i]) + u16::from(b[i]) + carry;
            out[i] = t as u8;
            carry = t >> 8;
        }
        out
    }

    #[test]
    fn honest_signatures_agree_with_verify_strict() {
        for n in 0..20u8 {
            let sk = ed25519_dalek::SigningKey::from_bytes(&[n; 32]);
            let key = PublicKey::from_bytes(sk.verifying_key().to_bytes());
            let msg = vec![n; usize::from(n) * 7];
            let sig = ed25519_dalek::Signer::sign(&sk, &msg).to_bytes();
            assert!(verify(&key, &msg, &sig));
            assert!(strict(&key, &msg, &sig));
            assert!(!verify(&key, b"other", &sig));
            assert!(!strict(&key, b"other", &sig));
        }
    }

    /// A = [a]B + T with T of order 8: the cofactorless equation fails (by -[k]T) whenever
    /// k is not a multiple of 8, the cofactored one holds. Here the rules differ, and only here.
    #[test]
    fn mixed_order_key_cofactored_holds_where_cofactorless_fails() {
        let a = scalar(1);
        let big_a = EdwardsPoint::mul_base(&a) + EIGHT_TORSION[1];
        let mut differing = 0;
        for n in 0..16u8 {
            let msg = [n; 9];
            let (key, sig) = sign_raw(a, big_a, scalar(100 + n), &msg);
            let k = challenge(sig[..32].try_into().unwrap(), key.as_bytes(), &msg);
            let k_multiple_of_8 = k.as_bytes()[0].is_multiple_of(8);
            assert!(verify(&key, &msg, &sig), "cofactored holds");
            assert_eq!(strict(&key, &msg, &sig), k_multiple_of_8, "cofactorless");
            assert!(batch_holds(&[(&key, &msg, &sig)]));
            differing += usize::from(!k_multiple_of_8);
        }
        assert!(differing > 0, "some message must show the difference");
        // Mixed with honest signatures by another key, the batch still agrees with `verify`.
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let honest = PublicKey::from_bytes(sk.verifying_key().to_bytes());
        let hsig = ed25519_dalek::Signer::sign(&sk, b"m").to_bytes();
        let (key, sig) = sign_raw(a, big_a, scalar(200), b"x");
        for _ in 0..16 {
            assert!(batch_holds(&[
                (&honest, b"m", &hsig),
                (&key, b"x", &sig),
                (&honest, b"m", &hsig)
            ]));
        }
    }

    #[test]
    fn non_canonical_s_is_rejected_by_both_paths() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let key = PublicKey::from_bytes(sk.verifying_key().to_bytes());
        let mut sig = ed25519_dalek::Signer::sign(&sk, b"msg").to_bytes();
        let s_plus_l = add_le(sig[32..].try_into().unwrap(), &L);
        sig[32..].copy_from_slice(&s_plus_l);
        // S + L satisfies the group equation (S is only used mod L) but is not canonical.
        assert!(!verify(&key, b"msg", &sig));
        assert!(!strict(&key, b"msg", &sig));
        assert!(!batch_holds(&[(&key, b"msg", &sig)]));
    }

    /// R = identity, S = k·a: [S]B = [k]A + R holds in both equations (OpenSSL accepts it); the
    /// rule rejects a small-order R.
    #[test]
    fn small_order_r_is_rejected_by_both_paths() {
        let a = scalar(5);
        let a_bytes = EdwardsPoint::mul_base(&a).compress().to_bytes();
        let key = PublicKey::from_bytes(a_bytes);
        let mut r_bytes = [0u8; 32];
        r_bytes[0] = 1;
        let s = challenge(&r_bytes, &a_bytes, b"msg") * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice(s.as_bytes());
        let e = Equation {
            minus_a: -EdwardsPoint::mul_base(&a),
            a_bytes,
            r: EdwardsPoint::default(),
            s,
            k: challenge(&r_bytes, &a_bytes, b"msg"),
        };
        assert!(e.holds(), "the group equation alone holds");
        assert!(!verify(&key, b"msg", &sig));
        assert!(!strict(&key, b"msg", &sig));
        assert!(!batch_holds(&[(&key, b"msg", &sig)]));
    }

    #[test]
    fn non_canonical_and_small_order_encodings_are_not_points() {
        // y = 1 with the sign bit set ("negative zero" x): the identity, non-canonically.
        let mut neg_zero = [0u8; 32];
        neg_zero[0] = 1;
        neg_zero[31] = 0x80;
        assert!(decode_point(&neg_zero).is_none());
        for t in EIGHT_TORSION {
            assert!(decode_point(&t.compress().to_bytes()).is_none());
        }
        // y = p + v for small v: some decode (to y = v) in curve25519-dalek, none pass the rule.
        let mut decodable = 0;
        for v in 0..19u8 {
            let mut bytes = [0xffu8; 32];
            bytes[0] = 0xed + v;
            bytes[31] = 0x7f;
            if let Some(p) = CompressedEdwardsY(bytes).decompress() {
                decodable += usize::from(!p.is_small_order());
            }
            assert!(decode_point(&bytes).is_none());
            assert!(PublicKey::from_bytes(bytes).point.is_none());
        }
        assert!(decodable > 0, "the non-canonical case is exercised");
        let mut just_below = [0xffu8; 32];
        just_below[0] = 0xec;
        just_below[31] = 0x7f;
        assert!(y_is_reduced(&just_below));
    }

    #[test]
    fn a_batch_with_one_bad_signature_fails_and_singles_find_it() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let key = PublicKey::from_bytes(sk.verifying_key().to_bytes());
        let msgs: Vec<Vec<u8>> = (0..40u8).map(|n| vec![n; 30]).collect();
        let mut sigs: Vec<[u8; 64]> = msgs
            .iter()
            .map(|m| ed25519_dalek::Signer::sign(&sk, m).to_bytes())
            .collect();
        let items = |sigs: &[[u8; 64]]| -> Vec<(Vec<u8>, [u8; 64])> {
            msgs.iter().cloned().zip(sigs.iter().copied()).collect()
        };
        let check = |pairs: &[(Vec<u8>, [u8; 64])]| {
            let v: Vec<Item<'_>> = pairs
                .iter()
                .map(|(m, s)| (&key, m.as_slice(), s.as_slice()))
                .collect();
            batch_holds(&v)
        };
        assert!(check(&items(&sigs)));
        sigs[17][40] ^= 1;
        assert!(!check(&items(&sigs)));
        let bad: Vec<usize> = (0..msgs.len())
            .filter(|&i| !verify(&key, &msgs[i], &sigs[i]))
            .collect();
        assert_eq!(bad, vec![17]);
        assert!(!batch_holds(&[(&key, b"m", &[0u8; 63])]));
    }
}

//! RFC 6962 / RFC 9162 Merkle tree over SHA-256: hashes, roots, an incremental [`Frontier`], and
//! inclusion and consistency proofs with the exact RFC 9162 verification algorithms.
//!
//! Leaf hash `SHA-256(0x00 || entry)`, node hash `SHA-256(0x01 || left || right)`, a tree of n > 1
//! leaves splits at the largest power of two strictly below n, and the empty tree's root is
//! `SHA-256("")`. Pure math: no I/O, no encoding, no signing.
//!
//! Architecture Invariant: every verifier here recomputes the root from the proof and compares it
//! with the expected one; nothing is accepted because it "looks" well-formed.

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// Why a proof could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency proof was asked for (or offered) from a larger tree to a smaller one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizeDecreased { old_size: u64, new_size: u64 },
    /// The proof has more hashes than the tree shape allows.
    #[error("proof has more hashes than the tree sizes allow")]
    ProofTooLong,
    /// The proof has fewer hashes than the tree shape requires.
    #[error("proof has fewer hashes than the tree sizes require")]
    ProofTooShort,
    /// A consistency proof between two different non-empty sizes was empty.
    #[error("consistency proof is empty but the sizes differ")]
    EmptyProof,
    /// A proof was given where none is expected (equal sizes or an empty old tree).
    #[error("proof must be empty for these tree sizes")]
    UnexpectedProof,
    /// The root recomputed from an inclusion proof is not the expected root.
    #[error("inclusion proof does not lead to the expected root")]
    RootMismatch,
    /// The old root recomputed from a consistency proof is not the expected old root.
    #[error("consistency proof does not lead to the expected old root")]
    OldRootMismatch,
    /// The new root recomputed from a consistency proof is not the expected new root.
    #[error("consistency proof does not lead to the expected new root")]
    NewRootMismatch,
    /// Subtree roots handed to [`Frontier::from_subtree_roots`] do not fit the size.
    #[error("a frontier of size {size} has {expected} subtree roots, got {got}")]
    FrontierShape {
        size: u64,
        expected: usize,
        got: usize,
    },
}

/// `SHA-256("")`: the root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The RFC 6962 Merkle tree hash (MTH) of the given leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The largest power of two strictly below `n` (requires `n >= 2`).
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    // For n >= 2, (n - 1) >= 1 so the highest set bit exists.
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// An incremental Merkle tree: the roots of the perfect subtrees that make up a tree of `size`
/// leaves (one per set bit of `size`, largest first), so at most `log2(size) + 1` hashes.
///
/// `push` costs O(log n) hashes in the worst case (amortised O(1)); `root` costs O(log n).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Subtree roots, leftmost (largest) first; subtree i covers `2^bit` leaves for the i-th
    /// highest set bit of `size`.
    subtrees: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier from persisted subtree roots (as returned by
    /// [`Frontier::subtree_roots`]); the count must equal the number of set bits of `size`.
    pub fn from_subtree_roots(size: u64, subtrees: Vec<Hash>) -> Result<Self, MerkleError> {
        let expected = size.count_ones() as usize;
        if subtrees.len() != expected {
            return Err(MerkleError::FrontierShape {
                size,
                expected,
                got: subtrees.len(),
            });
        }
        Ok(Self { size, subtrees })
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        let mut size = self.size;
        // Like incrementing a binary counter: each trailing 1 bit is a subtree of equal size
        // that merges with the new one.
        while size & 1 == 1 {
            match self.subtrees.pop() {
                Some(left) => carry = node_hash(&left, &carry),
                // Unreachable: there is one subtree per set bit of `size`.
                None => break,
            }
            size >>= 1;
        }
        self.subtrees.push(carry);
        self.size += 1;
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first (what to persist to resume without replaying leaves).
    pub fn subtree_roots(&self) -> &[Hash] {
        &self.subtrees
    }

    /// The tree root at the current size.
    pub fn root(&self) -> Hash {
        // The RFC split puts the largest perfect subtree on the left, then recurses on the rest,
        // so the root folds the subtree roots from the right.
        let mut iter = self.subtrees.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

fn to_usize(v: u64) -> usize {
    // Tree sizes handled in memory come from slice lengths, so they fit in usize.
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// The RFC 6962 audit path (`PATH(m, D[n])`) for leaf `index` in the tree of all `leaves`,
/// deepest sibling first.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, MerkleError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(to_usize(index), leaves, &mut proof);
    Ok(proof)
}

fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < k {
        path(m, &leaves[..k], out);
        out.push(root(&leaves[k..]));
    } else {
        path(m - k, &leaves[k..], out);
        out.push(root(&leaves[..k]));
    }
}

/// Verifies an inclusion proof exactly as RFC 9162 §2.1.3.2 specifies.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(MerkleError::ProofTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::ProofTooShort);
    }
    if r != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// The RFC 6962 consistency proof (`PROOF(m, D[n])`) from the first `old_size` leaves to all
/// `leaves`. Empty when `old_size` is 0 or equals the tree size.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, MerkleError> {
    let new_size = leaves.len() as u64;
    if old_size > new_size {
        return Err(MerkleError::SizeDecreased { old_size, new_size });
    }
    let mut proof = Vec::new();
    if old_size > 0 {
        subproof(to_usize(old_size), leaves, true, &mut proof);
    }
    Ok(proof)
}

fn subproof(m: usize, leaves: &[Hash], complete_subtree: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete_subtree {
            out.push(root(leaves));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, &leaves[..k], complete_subtree, out);
        out.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(root(&leaves[..k]));
    }
}

/// Verifies a consistency proof exactly as RFC 9162 §2.1.4.2 specifies, plus the edge cases the
/// RFC leaves to the caller: equal sizes need an empty proof and equal roots; an empty old tree
/// needs an empty proof and the empty-tree root as `old_root`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::SizeDecreased { old_size, new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(MerkleError::UnexpectedProof);
        }
        if old_root != new_root {
            return Err(MerkleError::NewRootMismatch);
        }
        return Ok(());
    }
    if old_size == 0 {
        if !proof.is_empty() {
            return Err(MerkleError::UnexpectedProof);
        }
        if *old_root != empty_root() {
            return Err(MerkleError::OldRootMismatch);
        }
        return Ok(());
    }
    // Here 0 < old_size < new_size.
    let (first, rest) = match proof.split_first() {
        None => return Err(MerkleError::EmptyProof),
        Some(split) => split,
    };
    // Step 2: if old_size is a power of two, old_root is the first path element, prepended.
    let (start, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    let mut fn_ = old_size - 1;
    let mut sn = new_size - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = *start;
    let mut sr = *start;
    for c in rest {
        if sn == 0 {
            return Err(MerkleError::ProofTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(MerkleError::ProofTooShort);
    }
    if fr != *old_root {
        return Err(MerkleError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(MerkleError::NewRootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// The RFC 6962 reference leaves (transparency-dev/merkle and certificate-transparency).
    fn reference_leaves() -> Vec<Hash> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|s| leaf_hash(&hex::decode(s).unwrap()))
        .collect()
    }

    /// Roots of the reference tree at sizes 1..=8.
    fn reference_roots() -> Vec<Hash> {
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ]
        .iter()
        .map(|s| h(s))
        .collect()
    }

    /// (leaf index, tree size, proof) from the reference vectors.
    fn reference_inclusion() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (0, 1, vec![]),
            (
                0,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                5,
                8,
                vec![
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                3,
                vec![h(
                    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                )],
            ),
            (
                1,
                5,
                vec![
                    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
        ]
    }

    /// (old size, new size, proof) from the reference vectors.
    fn reference_consistency() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                6,
                8,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                5,
                vec![
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
            (
                6,
                7,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
        ]
    }

    fn synthetic_leaves(n: usize) -> Vec<Hash> {
        (0..n as u32).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn empty_tree_root_is_sha256_of_nothing() {
        let expected = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(root(&[]), expected);
        assert_eq!(Frontier::new().root(), expected);
    }

    #[test]
    fn reference_roots_at_every_size() {
        let leaves = reference_leaves();
        for (i, want) in reference_roots().iter().enumerate() {
            assert_eq!(root(&leaves[..=i]), *want, "size {}", i + 1);
            let mut f = Frontier::new();
            leaves[..=i].iter().for_each(|l| f.push(*l));
            assert_eq!(f.root(), *want, "frontier size {}", i + 1);
        }
    }

    #[test]
    fn reference_inclusion_proofs_are_generated_and_verify() {
        let leaves = reference_leaves();
        let roots = reference_roots();
        for (index, size, proof) in reference_inclusion() {
            let n = size as usize;
            assert_eq!(inclusion_proof(&leaves[..n], index).unwrap(), proof);
            let leaf = leaves[index as usize];
            verify_inclusion(&leaf, index, size, &proof, &roots[n - 1]).unwrap();
        }
    }

    #[test]
    fn reference_consistency_proofs_are_generated_and_verify() {
        let leaves = reference_leaves();
        let roots = reference_roots();
        for (old, new, proof) in reference_consistency() {
            let (o, n) = (old as usize, new as usize);
            assert_eq!(consistency_proof(&leaves[..n], old).unwrap(), proof);
            verify_consistency(old, new, &roots[o - 1], &roots[n - 1], &proof).unwrap();
        }
    }

    /// The corruptions transparency-dev/merkle applies to its reference inclusion proofs.
    fn inclusion_tamperings(index: u64, size: u64, proof: &[Hash]) -> Vec<(u64, u64, Vec<Hash>)> {
        let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
        let mut out = vec![
            (index.wrapping_sub(1), size, proof.to_vec()),
            (index + 1, size, proof.to_vec()),
            (index ^ 2, size, proof.to_vec()),
            (index, size * 2, proof.to_vec()),
            (index, size / 2, proof.to_vec()),
        ];
        let mut ext = proof.to_vec();
        ext.push(some);
        out.push((index, size, ext));
        let mut pre = vec![some];
        pre.extend_from_slice(proof);
        out.push((index, size, pre));
        for i in 0..proof.len() {
            let mut p = proof.to_vec();
            p[i][0] ^= 8;
            out.push((index, size, p));
        }
        if !proof.is_empty() {
            out.push((index, size, proof[..proof.len() - 1].to_vec()));
        }
        if proof.len() > 1 {
            let mut p = vec![proof[0], some];
            p.extend_from_slice(&proof[1..]);
            out.push((index, size, p));
        }
        out
    }

    #[test]
    fn tampered_reference_inclusion_proofs_fail() {
        let leaves = reference_leaves();
        let roots = reference_roots();
        let empty = empty_root();
        let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
        for (index, size, proof) in reference_inclusion() {
            let root = roots[size as usize - 1];
            let leaf = leaves[index as usize];
            for (i, s, p) in inclusion_tamperings(index, size, &proof) {
                assert!(
                    verify_inclusion(&leaf, i, s, &p, &root).is_err(),
                    "index {i} size {s} proof {p:?} verified"
                );
            }
            assert!(verify_inclusion(&some, index, size, &proof, &root).is_err());
            assert!(verify_inclusion(&leaf, index, size, &proof, &empty).is_err());
            assert!(verify_inclusion(&leaf, index, size, &proof, &some).is_err());
        }
    }

    #[test]
    fn tampered_reference_consistency_proofs_fail() {
        let roots = reference_roots();
        let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
        for (old, new, proof) in reference_consistency() {
            if proof.is_empty() {
                continue;
            }
            let r1 = roots[old as usize - 1];
            let r2 = roots[new as usize - 1];
            let mut cases: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
                (old - 1, new, r1, r2, proof.clone()),
                (old + 1, new, r1, r2, proof.clone()),
                (old ^ 2, new, r1, r2, proof.clone()),
                (old, new * 2, r1, r2, proof.clone()),
                (old, new / 2, r1, r2, proof.clone()),
                (old, new, some, r2, proof.clone()),
                (old, new, r1, some, proof.clone()),
                (old, new, r2, r1, proof.clone()),
                (old, new, r1, r2, vec![]),
                (old, new, r1, r2, proof[..proof.len() - 1].to_vec()),
            ];
            for extra in [some, r1, r2, proof[0]] {
                let mut ext = proof.clone();
                ext.push(extra);
                cases.push((old, new, r1, r2, ext));
                let mut pre = vec![extra];
                pre.extend_from_slice(&proof);
                cases.push((old, new, r1, r2, pre));
            }
            for i in 0..proof.len() {
                let mut p = proof.clone();
                p[i][0] ^= 16;
                cases.push((old, new, r1, r2, p));
            }
            for (o, n, a, b, p) in cases {
                assert!(
                    verify_consistency(o, n, &a, &b, &p).is_err(),
                    "{o}->{n} verified with a tampered input"
                );
            }
        }
    }

    #[test]
    fn consistency_edge_cases() {
        let empty = empty_root();
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        // Equal sizes: roots must match and the proof must be empty.
        verify_consistency(1, 1, &a, &a, &[]).unwrap();
        verify_consistency(0, 0, &empty, &empty, &[]).unwrap();
        assert_eq!(
            verify_consistency(1, 1, &a, &b, &[]),
            Err(MerkleError::NewRootMismatch)
        );
        assert_eq!(
            verify_consistency(1, 1, &a, &a, &[empty]),
            Err(MerkleError::UnexpectedProof)
        );
        // From the empty tree: any new root, empty proof, and the empty root as old root.
        verify_consistency(0, 1, &empty, &b, &[]).unwrap();
        assert_eq!(
            verify_consistency(0, 1, &a, &b, &[]),
            Err(MerkleError::OldRootMismatch)
        );
        assert_eq!(
            verify_consistency(0, 1, &empty, &b, &[empty]),
            Err(MerkleError::UnexpectedProof)
        );
        // Time travel.
        assert_eq!(
            verify_consistency(2, 1, &a, &b, &[]),
            Err(MerkleError::SizeDecreased {
                old_size: 2,
                new_size: 1
            })
        );
        assert_eq!(
            verify_consistency(1, 2, &a, &b, &[]),
            Err(MerkleError::EmptyProof)
        );
        assert_eq!(
            consistency_proof(&[a], 2),
            Err(MerkleError::SizeDecreased {
                old_size: 2,
                new_size: 1
            })
        );
        assert_eq!(consistency_proof(&[a, b], 0).unwrap(), Vec::<Hash>::new());
        assert_eq!(consistency_proof(&[a, b], 2).unwrap(), Vec::<Hash>::new());
    }

    #[test]
    fn inclusion_edge_cases() {
        let a = leaf_hash(b"a");
        verify_inclusion(&a, 0, 1, &[], &a).unwrap();
        assert_eq!(
            verify_inclusion(&a, 0, 0, &[], &a),
            Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            verify_inclusion(&a, 1, 1, &[], &a),
            Err(MerkleError::IndexOutOfRange { index: 1, size: 1 })
        );
        assert_eq!(
            verify_inclusion(&a, 0, 1, &[a], &a),
            Err(MerkleError::ProofTooLong)
        );
        assert_eq!(
            verify_inclusion(&a, 0, 2, &[], &a),
            Err(MerkleError::ProofTooShort)
        );
        assert_eq!(
            inclusion_proof(&[a], 1),
            Err(MerkleError::IndexOutOfRange { index: 1, size: 1 })
        );
        assert_eq!(
            inclusion_proof(&[], 0),
            Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
        );
    }

    #[test]
    fn every_inclusion_proof_up_to_64_verifies_and_tampering_fails() {
        let leaves = synthetic_leaves(64);
        for size in 1..=64u64 {
            let tree = &leaves[..size as usize];
            let r = root(tree);
            for index in 0..size {
                let proof = inclusion_proof(tree, index).unwrap();
                let leaf = tree[index as usize];
                verify_inclusion(&leaf, index, size, &proof, &r).unwrap();
                for (i, s, p) in inclusion_tamperings(index, size, &proof) {
                    assert!(
                        verify_inclusion(&leaf, i, s, &p, &r).is_err(),
                        "size {size} index {index}: tampered ({i}, {s}) verified"
                    );
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_up_to_64_verifies_and_tampering_fails() {
        let leaves = synthetic_leaves(64);
        let roots: Vec<Hash> = (0..=64).map(|n| root(&leaves[..n])).collect();
        for new in 1..=64u64 {
            for old in 0..=new {
                let proof = consistency_proof(&leaves[..new as usize], old).unwrap();
                let (r1, r2) = (roots[old as usize], roots[new as usize]);
                verify_consistency(old, new, &r1, &r2, &proof).unwrap();
                if proof.is_empty() {
                    continue;
                }
                for i in 0..proof.len() {
                    let mut p = proof.clone();
                    p[i][7] ^= 1;
                    assert!(verify_consistency(old, new, &r1, &r2, &p).is_err());
                }
                assert!(verify_consistency(old, new, &r1, &r2, &proof[1..]).is_err());
                assert!(verify_consistency(old, new, &r1, &r2, &proof[..proof.len() - 1]).is_err());
                let mut ext = proof.clone();
                ext.push(r2);
                assert!(verify_consistency(old, new, &r1, &r2, &ext).is_err());
                assert!(verify_consistency(old, new, &r2, &r1, &proof).is_err());
                assert!(
                    verify_consistency(old, new, &r1, &roots[new as usize - 1], &proof).is_err()
                );
                // Size tweaks are covered by the reference vectors only: a different size whose
                // proof has the same shape can legitimately "verify" against a root that no tree
                // of that size is known to have (e.g. 2 -> 3 and 2 -> 4 share the proof shape).
            }
        }
    }

    #[test]
    fn frontier_resumes_from_subtree_roots() {
        let leaves = synthetic_leaves(45);
        let mut f = Frontier::new();
        leaves[..30].iter().for_each(|l| f.push(*l));
        let mut g = Frontier::from_subtree_roots(f.size(), f.subtree_roots().to_vec()).unwrap();
        assert_eq!(g.subtree_roots().len(), 30u64.count_ones() as usize);
        leaves[30..].iter().for_each(|l| g.push(*l));
        assert_eq!(g.root(), root(&leaves));
        assert_eq!(
            Frontier::from_subtree_roots(3, vec![[0; 32]]),
            Err(MerkleError::FrontierShape {
                size: 3,
                expected: 2,
                got: 1
            })
        );
    }

    #[test]
    fn frontier_matches_root_for_every_size_up_to_300() {
        let leaves = synthetic_leaves(300);
        let mut f = Frontier::new();
        assert_eq!(f.root(), root(&[]));
        for n in 1..=300 {
            f.push(leaves[n - 1]);
            assert_eq!(f.size(), n as u64);
            assert_eq!(f.root(), root(&leaves[..n]), "size {n}");
            assert!(f.subtree_roots().len() <= 64 - (n as u64).leading_zeros() as usize);
        }
    }

    proptest! {
        #[test]
        fn frontier_matches_root_for_arbitrary_leaves(
            entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..16), 0..300)
        ) {
            let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
            let mut f = Frontier::new();
            for l in &leaves {
                f.push(*l);
            }
            prop_assert_eq!(f.size(), leaves.len() as u64);
            prop_assert_eq!(f.root(), root(&leaves));
            let clone = f.clone();
            prop_assert_eq!(clone.root(), f.root());
        }
    }
}

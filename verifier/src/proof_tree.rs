//! Every level of an RFC 6962 Merkle tree held in memory, so that audit paths for many leaves
//! cost O(log n) each (`merkle::inclusion_proof` recomputes subtrees: O(n) per proof, too slow
//! to prove thousands of entries of a million-entry ledger).
//!
//! RFC 6962's split at the largest power of two below `n` builds the same tree as pairing nodes
//! level by level and carrying an unpaired last node up unchanged; that is the shape held here.

use auditgate_ledger::merkle::{self, Hash};

/// The levels of a tree: `levels[0]` the leaves, the last level the root alone.
#[derive(Debug)]
pub struct ProofTree {
    levels: Vec<Vec<Hash>>,
}

impl ProofTree {
    /// Builds the tree over `leaves` (leaf hashes).
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let up: Vec<Hash> = below
                .chunks(2)
                .map(|pair| match pair {
                    [l, r] => merkle::node_hash(l, r),
                    [single] => *single,
                    _ => unreachable!("chunks(2) yields one or two"),
                })
                .collect();
            levels.push(up);
        }
        ProofTree { levels }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The root (the empty tree's root for no leaves).
    pub fn root(&self) -> Hash {
        match self.levels.last() {
            Some(top) if top.len() == 1 => top[0],
            _ => merkle::empty_root(),
        }
    }

    /// The audit path of leaf `index`, deepest sibling first; `None` if out of range.
    pub fn inclusion_proof(&self, index: u64) -> Option<Vec<Hash>> {
        if index >= self.size() {
            return None;
        }
        let mut i = index as usize;
        let mut proof = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                proof.push(level[sibling]);
            }
            i /= 2;
        }
        Some(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_equal_the_ledger_crates_for_every_leaf_of_many_sizes() {
        for n in 1..=70u64 {
            let leaves: Vec<Hash> = (0..n)
                .map(|i| merkle::leaf_hash(&i.to_le_bytes()))
                .collect();
            let tree = ProofTree::new(leaves.clone());
            assert_eq!(tree.root(), merkle::root(&leaves), "root of {n}");
            for i in 0..n {
                let ours = tree.inclusion_proof(i).unwrap();
                assert_eq!(
                    ours,
                    merkle::inclusion_proof(&leaves, i).unwrap(),
                    "{i} of {n}"
                );
                merkle::verify_inclusion(&leaves[i as usize], i, n, &ours, &tree.root()).unwrap();
            }
        }
        assert!(ProofTree::new(Vec::new()).inclusion_proof(0).is_none());
    }
}

//! Merkle trees as Certificate Transparency builds them (RFC 6962 §2.1,
//! verification as RFC 9162 §2.1.3.2 and §2.1.4.2 write it).
//!
//! A leaf's hash is `SHA-256(0x00 ‖ data)` and a node's `SHA-256(0x01 ‖ left
//! ‖ right)`, so a leaf can never pass for a node. The tree over `n` leaves
//! splits at the largest power of two below `n`, which makes it append-only:
//! an inclusion proof shows one leaf is in a tree of a given size without
//! the other leaves, and a consistency proof shows a tree of size `n` extends
//! the one of size `m`, i.e. nothing before `m` was changed, removed or
//! reordered.
//!
//! Functions here take leaf *hashes* (see [`leaf_hash`]); proofs are lists
//! of hashes, byte for byte those of RFC 6962.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The hash of a leaf holding `data`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new().chain_update([0x00]).chain_update(data).finalize().into()
}

/// The hash of an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([0x01]).chain_update(left).chain_update(right).finalize().into()
}

/// The root of the tree over `leaves` (leaf hashes); the empty tree's root
/// is the hash of nothing.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Sha256::digest([]).into(),
        [leaf] => *leaf,
        _ => {
            let (left, right) = leaves.split_at(split(leaves.len()));
            node_hash(&root(left), &root(right))
        }
    }
}

/// The roots of a growing tree, one leaf at a time, in O(log n) each: the
/// tree's perfect subtrees (their roots and heights, largest first), which
/// is all an RFC 6962 root needs, since the tree over `n` leaves is its
/// largest perfect subtree joined to the tree over the rest.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    peaks: Vec<(Hash, u32)>,
    size: u64,
}

impl Frontier {
    /// Adds a leaf (its hash).
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (leaf, 0);
        while let Some(&(left, height)) = self.peaks.last().filter(|(_, height)| *height == node.1) {
            self.peaks.pop();
            node = (node_hash(&left, &node.0), height + 1);
        }
        self.peaks.push(node);
        self.size += 1;
    }

    /// Leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the tree over the leaves pushed so far (equal to [`root`]).
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some((last, _)) = peaks.next() else { return root(&[]) };
        peaks.fold(*last, |right, (left, _)| node_hash(left, &right))
    }
}

/// The largest power of two smaller than `n` (for `n >= 2`): where a tree splits.
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The audit path of leaf `index` in the tree over `leaves`: the sibling
/// hashes from the leaf up (RFC 6962 `PATH`). `None` when `index` is out of range.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    Some(proof)
}

fn path(index: usize, leaves: &[Hash], proof: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    let (left, right) = leaves.split_at(k);
    if index < k {
        path(index, left, proof);
        proof.push(root(right));
    } else {
        path(index - k, right, proof);
        proof.push(root(left));
    }
}

/// Whether `proof` shows the leaf hashing to `leaf` is at `index` in the
/// tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// The proof that the tree over `leaves` extends its first `old_size`
/// leaves (RFC 6962 `PROOF`). `None` unless `0 < old_size <= leaves.len()`.
pub fn consistency_proof(leaves: &[Hash], old_size: usize) -> Option<Vec<Hash>> {
    if old_size == 0 || old_size > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    subproof(old_size, leaves, true, &mut proof);
    Some(proof)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !whole {
            proof.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    let (left, right) = leaves.split_at(k);
    if m <= k {
        subproof(m, left, whole, proof);
        proof.push(root(right));
    } else {
        subproof(m - k, right, false, proof);
        proof.push(root(left));
    }
}

/// Whether `proof` shows the tree of `new_size` leaves with root `new_root`
/// extends the tree of `old_size` leaves with root `old_root`.
pub fn verify_consistency(old_size: u64, new_size: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> bool {
    if old_size == 0 || old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    // A power-of-two old tree is a whole subtree: its root starts the path.
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof);
    let Some((first, rest)) = path.split_first() else { return false };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (**first, **first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old_root && sr == *new_root && s == 0
}

#[cfg(test)]
mod tests {
    use ct_merkle::mem_backed_tree::MemoryBackedTree;
    use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};

    use super::*;

    fn data(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("segment-{i}").into_bytes()).collect()
    }

    fn reference(items: &[Vec<u8>]) -> MemoryBackedTree<Sha256, Vec<u8>> {
        let mut tree = MemoryBackedTree::new();
        for item in items {
            tree.push(item.clone());
        }
        tree
    }

    fn flat(proof: &[Hash]) -> Vec<u8> {
        proof.concat()
    }

    /// Each proof with one bit flipped, one hash dropped, and one added.
    fn mutations(proof: &[Hash]) -> Vec<Vec<Hash>> {
        let mut mutated = Vec::new();
        for i in 0..proof.len() {
            let mut flipped = proof.to_vec();
            flipped[i][i % 32] ^= 0x01;
            mutated.push(flipped);
        }
        if let Some((_, shorter)) = proof.split_last() {
            mutated.push(shorter.to_vec());
        }
        let mut longer = proof.to_vec();
        longer.push([7; 32]);
        mutated.push(longer);
        mutated
    }

    #[test]
    fn a_frontier_gives_the_root_of_every_size() {
        let leaves: Vec<Hash> = (0..300_u32).map(|n| leaf_hash(&n.to_le_bytes())).collect();
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), root(&[]));
        for (n, leaf) in leaves.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(frontier.size(), n as u64 + 1);
            assert_eq!(frontier.root(), root(&leaves[..=n]), "size {}", n + 1);
        }
    }

    #[test]
    fn rfc_6962_values_for_the_empty_tree_and_the_empty_leaf() {
        assert_eq!(hex::encode(root(&[])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex::encode(leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    }

    #[test]
    fn roots_and_inclusion_proofs_match_ct_merkle_and_mutations_fail() {
        for n in 1..=70 {
            let items = data(n);
            let leaves: Vec<Hash> = items.iter().map(|d| leaf_hash(d)).collect();
            let tree = reference(&items);
            let ours = root(&leaves);
            assert_eq!(ours.as_slice(), tree.root().as_bytes().as_slice(), "root of {n}");
            let their_root = RootHash::<Sha256>::new(ours.into(), n as u64);
            for index in 0..n {
                let proof = inclusion_proof(&leaves, index).expect("in range");
                assert_eq!(flat(&proof), tree.prove_inclusion(index).as_bytes(), "path of {index} in {n}");
                assert!(verify_inclusion(&leaves[index], index as u64, n as u64, &proof, &ours));
                let theirs = InclusionProof::<Sha256>::from_bytes(flat(&proof));
                assert!(their_root.verify_inclusion(&items[index], index as u64, &theirs).is_ok());
                for bad in mutations(&proof) {
                    assert!(!verify_inclusion(&leaves[index], index as u64, n as u64, &bad, &ours), "{index} in {n}");
                }
                let other = (index + 1) % n;
                if other != index {
                    assert!(!verify_inclusion(&leaves[other], index as u64, n as u64, &proof, &ours));
                    assert!(!verify_inclusion(&leaves[index], other as u64, n as u64, &proof, &ours));
                }
            }
            assert!(inclusion_proof(&leaves, n).is_none());
        }
    }

    #[test]
    fn consistency_proofs_match_ct_merkle_and_mutations_fail() {
        for n in 1..=48 {
            let items = data(n);
            let leaves: Vec<Hash> = items.iter().map(|d| leaf_hash(d)).collect();
            let tree = reference(&items);
            let new_root = root(&leaves);
            for m in 1..=n {
                let old_root = root(&leaves[..m]);
                let proof = consistency_proof(&leaves, m).expect("0 < m <= n");
                assert!(verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof), "{m} -> {n}");
                if m < n {
                    assert_eq!(flat(&proof), tree.prove_consistency(n - m).as_bytes(), "{m} -> {n}");
                    let theirs = ConsistencyProof::<Sha256>::try_from_bytes(flat(&proof)).expect("hashes");
                    let (old, new) =
                        (RootHash::new(old_root.into(), m as u64), RootHash::new(new_root.into(), n as u64));
                    assert!(new.verify_consistency(&old, &theirs).is_ok(), "{m} -> {n}");
                }
                for bad in mutations(&proof) {
                    assert!(!verify_consistency(m as u64, n as u64, &old_root, &new_root, &bad), "{m} -> {n}");
                }
                // A changed old leaf fails.
                let mut tampered = leaves[..m].to_vec();
                tampered[m / 2] = leaf_hash(b"edited");
                assert!(!verify_consistency(m as u64, n as u64, &root(&tampered), &new_root, &proof));
            }
            assert!(consistency_proof(&leaves, 0).is_none() && consistency_proof(&leaves, n + 1).is_none());
        }
    }
}

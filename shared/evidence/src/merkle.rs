//! A Merkle tree over an hour's leaves (RFC 6962's shape: leaves and nodes hashed with distinct
//! prefixes, so a leaf can never pass for a node; an odd last node is carried up as is).

use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 digest.
pub type Hash = [u8; 32];

/// The hash of one leaf: `SHA-256(0x00 ‖ key ‖ content)`.
pub fn leaf_hash(key: &Hash, content: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(key);
    h.update(content);
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of `leaves` (the hash of nothing for an empty hour).
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Sha256::digest([]).into();
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node(l, r),
                [single] => *single,
                _ => unreachable!("chunks of two"),
            })
            .collect();
    }
    level[0]
}

/// One step of an inclusion proof: the sibling's hash, and whether it is on the left.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// The sibling's hash.
    #[serde(with = "hex_hash")]
    pub sibling: Hash,
    /// True when the sibling is on the left.
    pub sibling_on_left: bool,
}

/// The inclusion proof of `leaves[index]`.
pub fn proof(leaves: &[Hash], index: usize) -> Vec<Step> {
    assert!(index < leaves.len(), "the leaf is in the tree");
    let mut steps = Vec::new();
    let mut level = leaves.to_vec();
    let mut i = index;
    while level.len() > 1 {
        let sibling = i ^ 1;
        if sibling < level.len() {
            steps.push(Step {
                sibling: level[sibling],
                sibling_on_left: sibling < i,
            });
        }
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node(l, r),
                [single] => *single,
                _ => unreachable!("chunks of two"),
            })
            .collect();
        i /= 2;
    }
    steps
}

/// Whether `leaf` with `proof` leads to `root`.
pub fn verify(leaf: &Hash, proof: &[Step], root: &Hash) -> bool {
    let mut h = *leaf;
    for s in proof {
        h = if s.sibling_on_left {
            node(&s.sibling, &h)
        } else {
            node(&h, &s.sibling)
        };
    }
    &h == root
}

/// Hashes as lowercase hex in JSON.
pub mod hex_hash {
    use super::Hash;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes a hash as hex.
    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    /// Reads a hash from 64 hex characters.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom("a 64-character hex hash"))
    }

    /// A 64-character hex hash.
    pub fn parse(text: &str) -> Option<Hash> {
        let bytes = hex::decode(text).ok()?;
        bytes.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&[i as u8; 32], &[7; 32]))
            .collect()
    }

    proptest! {
        /// Every leaf of every tree size proves its inclusion, and only under its own root.
        #[test]
        fn every_leaf_proves_its_inclusion(n in 1usize..70, pick in 0usize..70) {
            let ls = leaves(n);
            let i = pick % n;
            let r = root(&ls);
            let p = proof(&ls, i);
            prop_assert!(verify(&ls[i], &p, &r));
            prop_assert!(!verify(&leaf_hash(&[200; 32], &[7; 32]), &p, &r));
            let mut other = ls.clone();
            other.push(leaf_hash(&[201; 32], &[1; 32]));
            prop_assert!(!verify(&ls[i], &p, &root(&other)) || n == 0);
        }
    }

    #[test]
    fn a_leaf_is_never_a_node_and_order_matters() {
        let ls = leaves(2);
        assert_ne!(root(&ls), leaf_hash(&ls[0], &ls[1]));
        assert_ne!(root(&ls), root(&[ls[1], ls[0]]));
        assert_eq!(root(&ls[..1]), ls[0]);
    }
}

//! What a sealed hour keeps of each history entry: a keyed hash of its keys under its
//! customer's salt (`kyc_core::evidence::leaf_key_hash`: nothing in the locked digest names the
//! person once the salt is erased), and a hash of its content.

use crate::merkle::{self, Hash};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One history entry as the sealer and the verifier read it: its keys, and its attributes
/// (keys and index attributes removed) as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The entry's partition key.
    pub pk: String,
    /// The entry's sort key.
    pub sk: String,
    /// Its attributes.
    pub item: Value,
}

/// What stands for a sealed value in the content hash. A sealed value's ciphertext changes
/// when `kyc reseal` re-seals it under a new key (new nonce), so it is not hashed; its integrity
/// is its AEAD's own — bound to its provider, item, field and customer, a value altered or moved
/// does not open (`kyc keys check --open` finds it).
pub const SEALED: &str = "(sealed)";

/// SHA-256 of the entry's attributes in canonical JSON (object keys sorted, no spaces), sealed
/// values replaced by [`SEALED`].
pub fn content_hash(item: &Value) -> Hash {
    let mut out = String::new();
    canonical(item, &mut out);
    Sha256::digest(out.as_bytes()).into()
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        Value::String(s) if kyc_core::crypto::sealed_header(s).is_some() => {
            out.push_str(&Value::String(SEALED.into()).to_string());
        }
        other => out.push_str(&other.to_string()),
    }
}

/// One leaf of a sealed hour.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Leaf {
    /// `leaf_key_hash(salt, pk, sk)`.
    #[serde(with = "merkle::hex_hash")]
    pub key: Hash,
    /// The hash of the entry's content.
    #[serde(with = "merkle::hex_hash")]
    pub content: Hash,
}

impl Leaf {
    /// The leaf of `entry` under `salt` (its customer's; empty for an unassigned partition).
    pub fn of(entry: &Entry, salt: &[u8]) -> Self {
        let key = merkle::hex_hash::parse(&kyc_core::evidence::leaf_key_hash(
            salt, &entry.pk, &entry.sk,
        ))
        .expect("an HMAC-SHA256 in hex");
        Self {
            key,
            content: content_hash(&entry.item),
        }
    }

    /// The leaf's hash in the tree.
    pub fn hash(&self) -> Hash {
        merkle::leaf_hash(&self.key, &self.content)
    }
}

/// The entry's leaf under the salt its hour was sealed with: the first of `salts` whose leaf
/// key `is_sealed` says was sealed; else the first (the customer's salt now). With that salt.
pub fn leaf_as_sealed(
    entry: &Entry,
    salts: &[Vec<u8>],
    is_sealed: impl Fn(&Hash) -> bool,
) -> (Leaf, Vec<u8>) {
    let mut first = None;
    for salt in salts {
        let leaf = Leaf::of(entry, salt);
        if is_sealed(&leaf.key) {
            return (leaf, salt.clone());
        }
        first.get_or_insert((leaf, salt.clone()));
    }
    first.unwrap_or_else(|| (Leaf::of(entry, &[]), Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_content_hash_ignores_key_order_and_resealing_but_not_content() {
        let ring = kyc_core::crypto::Keyring::new(
            kyc_core::crypto::PayloadKey::new("k1", [1; 32]).unwrap(),
            vec![],
        );
        let aad = kyc_core::crypto::Aad::new("xpollens", "e1", "body", Some("c"));
        let a = json!({"eventId": "e1", "outcome": "applied", "summary": {"x": 1, "s": ring.seal(&aad, b"secret")}});
        let b = json!({"summary": {"s": ring.seal(&aad, b"secret"), "x": 1}, "outcome": "applied", "eventId": "e1"});
        assert_eq!(content_hash(&a), content_hash(&b));
        let c = json!({"eventId": "e1", "outcome": "not applied", "summary": {"x": 1, "s": "v2.k1.AAAA.BBBB"}});
        assert_ne!(content_hash(&a), content_hash(&c));
        let d = json!({"eventId": "e1", "outcome": "applied", "summary": {"x": 2, "s": ring.seal(&aad, b"secret")}});
        assert_ne!(content_hash(&a), content_hash(&d));
    }
}

//! What the hourly seal of the history (`kyc verify`, the evidence work) and the lifecycle's
//! deletions (retention, erasure) agree on, so a deletion the bank made is told apart from
//! tampering:
//!
//! - each customer has a random salt at the customer level (`C#<customer>`, [`SALT_SK`]); a
//!   sealed hour names each history entry only by [`leaf_key_hash`] of its keys under that
//!   salt, so erasing the salt leaves nothing in the locked digests that identifies the person;
//! - before the lifecycle deletes history entries, it writes a [`DeletionRecord`] listing their
//!   leaf key hashes (`D#<day>`, `kyc_core::keys::deletion_record_pk`): `kyc verify` then
//!   reports those entries as deleted by that rule, not as removed.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Sort key of a customer's salt, in the customer level's partition.
pub const SALT_SK: &str = "SALT";

/// The salt's length in bytes.
pub const SALT_BYTES: usize = 32;

/// The name of a history entry in a sealed hour: HMAC-SHA256 of its keys under the customer's
/// salt (hex), the partition key length-prefixed so no two (pk, sk) pairs share a message.
pub fn leaf_key_hash(salt: &[u8], pk: &str, sk: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(salt).expect("HMAC takes any key length");
    mac.update(&(pk.len() as u64).to_be_bytes());
    mac.update(pk.as_bytes());
    mac.update(sk.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// What one lifecycle run deleted of one customer, and why (no personal data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionRecord {
    /// When the run deleted it.
    pub at: DateTime<Utc>,
    /// `retention` (the period after the relationship ended ran out), `erasure`
    /// (`kyc erase`), `applicantInactivity`.
    pub rule: String,
    /// The bank's reason code (erasure), or the retention rule's name.
    pub reason: String,
    /// The caller's AWS identity, or the sweep function's name.
    pub operator: String,
    /// The deleted history entries' [`leaf_key_hash`]es, by the hour they were received in
    /// (`yyyy-mm-ddTHH`): what `kyc verify` finds missing from those sealed hours.
    pub leaves: std::collections::BTreeMap<String, Vec<String>>,
    /// Other items deleted, counted by kind (events, states, objects...).
    pub counts: std::collections::BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaf_names_its_entry_only_under_its_customers_salt() {
        let (a, b) = ([1u8; SALT_BYTES], [2u8; SALT_BYTES]);
        let leaf = leaf_key_hash(&a, "XP#C#alice", "HIST#2026-12-06T10:00:00.000000Z#e1");
        assert_eq!(leaf.len(), 64);
        assert_eq!(
            leaf,
            leaf_key_hash(&a, "XP#C#alice", "HIST#2026-12-06T10:00:00.000000Z#e1")
        );
        assert_ne!(
            leaf,
            leaf_key_hash(&b, "XP#C#alice", "HIST#2026-12-06T10:00:00.000000Z#e1")
        );
        assert_ne!(
            leaf,
            leaf_key_hash(&a, "XP#C#alice", "HIST#2026-12-06T10:00:00.000000Z#e2")
        );
        // The length prefix keeps (pk, sk) pairs apart.
        assert_ne!(
            leaf_key_hash(&a, "a", "b\nc"),
            leaf_key_hash(&a, "a\nb", "c")
        );
    }
}

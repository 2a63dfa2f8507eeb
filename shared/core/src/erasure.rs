//! Erasure tombstones: an erased person must not come back through a provider's retry.
//!
//! `kyc erase` deletes a customer's data, and with it the event items that deduplicate its
//! deliveries: Xpollens retries for hours and keeps a 14-day queue, so a copy of an erased
//! event would be recorded again as new. Before deleting anything, the erasure writes one
//! tombstone per provider and subject id (`<P>#T#<name>`, in the provider's own key area), named
//! by the provider keyring's naming key ([`NamingKey::name`], HMAC-SHA256): nobody holding the
//! table alone can tell whose tombstone it is. Every intake transaction that names a subject
//! carries a condition on that subject's tombstone ([`WritePlan::erasure_guard`]); while the
//! tombstone's `dropUntil` has not passed, the event is dropped whole — nothing of it is written
//! — and only a counter on the tombstone says that it happened.
//!
//! The naming key's id is part of every name: replacing a provider's naming key within the drop
//! period makes its tombstones unrecognisable (docs/lifecycle.md says so).

use crate::crypto::{Keyring, NamingKey};
use crate::intake::{Provider, WritePlan};
use crate::keys;
use chrono::{DateTime, Utc};

/// The purpose under which a subject id is named (keeps these names apart from any other).
pub const PURPOSE: &str = "erasedSubject";
/// The purpose under which an erased event id is named.
pub const EVENT_PURPOSE: &str = "erasedEvent";

/// How long intake drops an erased subject's events, in days: at least 30 (Xpollens' queue keeps
/// a callback 14 days, its live retries last far less), 60 by default.
pub const MIN_DROP_DAYS: u32 = 30;
/// The drop period when none is configured, in days.
pub const DEFAULT_DROP_DAYS: u32 = 60;
/// The longest drop period accepted, in days (ten years).
pub const MAX_DROP_DAYS: u32 = 3_650;

/// Erased event ids a tombstone names (keyed digests); beyond, only their count.
pub const MAX_EVENT_DIGESTS: usize = 2_000;

/// The erasure's own record of `customer` (`T#<name>`: its progress; no intake reads it).
pub fn progress_pk(naming: &NamingKey, customer: &str) -> String {
    format!("T#{}", naming.name(PROGRESS_PURPOSE, customer))
}

/// The purpose under which the bank's customer id names its erasure record.
pub const PROGRESS_PURPOSE: &str = "erasure";

/// The tombstone's partition key for `subject` at `provider` (the provider's id of the person:
/// the customer id, or an id the bank aliased to it).
pub fn tombstone_pk(provider: Provider, naming: &NamingKey, subject: &str) -> String {
    keys::tombstone_pk(provider, &naming.name(PURPOSE, subject))
}

impl WritePlan {
    /// The plan, conditional on its subject not being erased at its provider: a no-op when the
    /// event names no subject or the keyring has no naming key (then no tombstone can exist for
    /// this provider: `kyc erase` refuses without one).
    pub fn guarded(mut self, keys: &Keyring) -> Self {
        if let (Some(subject), Some(naming)) = (&self.event.subject, keys.naming_key()) {
            self.erasure_guard = Some(tombstone_pk(self.event.provider, naming, subject));
        }
        self
    }
}

/// Whether `subject` is erased at `provider` and its tombstone still drops what arrives at
/// `at` (a strongly consistent read). `false` when the keyring has no naming key: then no
/// tombstone can exist for this provider (`kyc erase` refuses without one).
pub async fn is_erased(
    events: &dyn crate::intake::EventStore,
    keys: &Keyring,
    provider: Provider,
    subject: &str,
    at: DateTime<Utc>,
) -> Result<bool, crate::intake::StoreError> {
    match keys.naming_key() {
        Some(naming) => {
            events
                .erased(&tombstone_pk(provider, naming, subject), at)
                .await
        }
        None => Ok(false),
    }
}

/// A tombstone as written (no personal data: a keyed name, times, a code, counts).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tombstone {
    /// The provider whose area holds the tombstone.
    pub provider: Provider,
    /// The providers that held data of the person when it was erased (for the erasure event).
    pub providers: Vec<Provider>,
    /// `<P>#T#<name>`.
    pub partition: String,
    /// When the subject was erased.
    pub erased_at: DateTime<Utc>,
    /// Intake drops this subject's events until then.
    pub drop_until: DateTime<Utc>,
    /// The erasure's reason code.
    pub reason: String,
    /// Keyed digests of the erased event ids of this provider (at most [`MAX_EVENT_DIGESTS`]).
    pub event_digests: Vec<String>,
    /// How many event ids were erased (may exceed the digests kept).
    pub events_erased: u64,
}

impl Tombstone {
    /// Whether an event received at `at` is dropped.
    pub fn drops(&self, at: DateTime<Utc>) -> bool {
        at < self.drop_until
    }
}

/// Keyed digests of `event_ids` under `naming`, sorted, at most [`MAX_EVENT_DIGESTS`].
pub fn event_digests<'a>(
    naming: &NamingKey,
    event_ids: impl IntoIterator<Item = &'a str>,
) -> (Vec<String>, u64) {
    let mut digests: Vec<String> = event_ids
        .into_iter()
        .map(|id| naming.name(EVENT_PURPOSE, id))
        .collect();
    digests.sort();
    digests.dedup();
    let total = digests.len() as u64;
    digests.truncate(MAX_EVENT_DIGESTS);
    (digests, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PayloadKey;
    use crate::intake::EventRecord;

    fn naming(byte: u8) -> NamingKey {
        NamingKey::new("n1", [byte; 32]).unwrap()
    }

    fn plan(subject: Option<&str>) -> WritePlan {
        WritePlan {
            event: EventRecord {
                provider: Provider::Xpollens,
                event_id: "e1".into(),
                event_type: "4".into(),
                subject: subject.map(str::to_string),
                received_at: Utc::now(),
                provider_time: None,
                body_sha256: "00".into(),
                sealed_body: String::new(),
                summary: serde_json::json!({}),
            },
            patch: None,
            no_patch_reason: None,
            erasure_guard: None,
        }
    }

    #[test]
    fn the_tombstone_name_is_keyed_stable_and_reveals_no_id() {
        let a = tombstone_pk(Provider::Xpollens, &naming(1), "customer-42");
        assert_eq!(
            a,
            tombstone_pk(Provider::Xpollens, &naming(1), "customer-42")
        );
        assert!(a.starts_with("XP#T#n1."), "{a}");
        assert!(!a.contains("customer-42"));
        // Another key, another provider, another subject: another name.
        assert_ne!(
            a,
            tombstone_pk(Provider::Xpollens, &naming(2), "customer-42")
        );
        assert!(tombstone_pk(Provider::Gopay, &naming(1), "customer-42").starts_with("GP#T#n1."));
        assert_ne!(
            a,
            tombstone_pk(Provider::Xpollens, &naming(1), "customer-43")
        );
    }

    #[test]
    fn a_plan_is_guarded_only_with_a_subject_and_a_naming_key() {
        let ring = Keyring::new(PayloadKey::new("k", [3; 32]).unwrap(), vec![]);
        assert_eq!(plan(Some("c")).guarded(&ring).erasure_guard, None);
        let ring = ring.with_naming_key(naming(1));
        assert_eq!(plan(None).guarded(&ring).erasure_guard, None);
        assert_eq!(
            plan(Some("c")).guarded(&ring).erasure_guard,
            Some(tombstone_pk(Provider::Xpollens, &naming(1), "c"))
        );
    }

    #[test]
    fn event_digests_are_bounded_and_counted() {
        let ids: Vec<String> = (0..MAX_EVENT_DIGESTS + 5)
            .map(|i| format!("evt-{i}"))
            .collect();
        let (digests, total) = event_digests(&naming(1), ids.iter().map(String::as_str));
        assert_eq!(digests.len(), MAX_EVENT_DIGESTS);
        assert_eq!(total, (MAX_EVENT_DIGESTS + 5) as u64);
        assert!(digests.iter().all(|d| !d.contains("evt-")));
    }
}

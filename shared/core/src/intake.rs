//! The durable-intake mechanism every provider flow uses: an event is recorded once and
//! applied once. A [`WritePlan`] says everything one event writes; an [`EventStore`] executes
//! it atomically (DynamoDB: one conditional transaction). Pure types and the store trait live
//! here; the DynamoDB adapter is `kyc_aws::dynamo_store`, the in-memory twin [`MemoryStore`].

use crate::crypto::Aad;
use crate::kyc_state::{ProviderState, SkipReason, StatePatch};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One of the three eKYC providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Xpollens (callbacks).
    Xpollens,
    /// Namirial Trust & Sign (archives dropped in S3).
    TrustSign,
    /// GoPay (identification).
    Gopay,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 3] = [Provider::Xpollens, Provider::TrustSign, Provider::Gopay];

    /// The provider's name in keys, logs and events (`xpollens`, `trust_sign`, `gopay`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Xpollens => "xpollens",
            Provider::TrustSign => "trust_sign",
            Provider::Gopay => "gopay",
        }
    }

    /// The provider of that name ([`Provider::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        Provider::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The provider's id of an event, or `sha256:<hex>` of the raw body when it gives none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventId(String);

/// A provider's event id that cannot be one of ours.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("event id must be 1 to 128 visible ASCII characters")]
pub struct InvalidEventId;

impl EventId {
    /// The provider's own id, trimmed: 1 to 128 visible ASCII characters.
    pub fn from_provider(raw: &str) -> Result<Self, InvalidEventId> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 128 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidEventId);
        }
        Ok(Self(raw.to_string()))
    }

    /// `sha256:<hex>` of the raw body, for a provider that gives no id.
    pub fn from_body(body: &[u8]) -> Self {
        Self::from_digest(&sha256_hex(body))
    }

    /// `sha256:<hex>` of a digest the caller computed (e.g. of a canonical body).
    pub fn from_digest(hex_digest: &str) -> Self {
        Self(format!("sha256:{hex_digest}"))
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything recorded about one event, whatever it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// The provider that sent it.
    pub provider: Provider,
    /// The event's id ([`EventId`]).
    pub event_id: String,
    /// The provider's type of the event.
    pub event_type: String,
    /// The customer it is about, when known.
    pub subject: Option<String>,
    /// When we received it.
    pub received_at: DateTime<Utc>,
    /// The provider's time of the event, when it gives one.
    pub provider_time: Option<DateTime<Utc>>,
    /// SHA-256 of the raw body, hex.
    pub body_sha256: String,
    /// The raw body sealed with the payload key (it may hold secrets and personal data).
    pub sealed_body: String,
    /// Normalised, redacted view of the event.
    pub summary: serde_json::Value,
}

impl EventRecord {
    /// Associated data binding a sealed raw body to its event and its customer (`subject`).
    pub fn body_aad(provider: Provider, event_id: &str, subject: Option<&str>) -> Aad {
        Aad::new(provider.as_str(), event_id, "body", subject)
    }

    /// Sort key of the history entry in its partition (the customer's, or the day's unassigned
    /// one, both in the provider's own area): received time (microseconds, fixed width) then
    /// the escaped id, so a partition reads in arrival order and two events never collide.
    pub fn history_sort_key(&self) -> String {
        crate::keys::history_sk(self.received_at, &self.event_id)
    }
}

/// What one event writes: its record, and at most one state change.
#[derive(Debug, Clone, PartialEq)]
pub struct WritePlan {
    /// The event's record.
    pub event: EventRecord,
    /// The state change it proposes, if any.
    pub patch: Option<StatePatch>,
    /// Why there is no patch (unknown type, unrecognised status...), for the history.
    pub no_patch_reason: Option<String>,
    /// The subject's erasure tombstone (`<P>#T#<name>`, [`crate::erasure`]): while it drops
    /// events, nothing of this plan is written ([`Outcome::ErasedSubject`]). Set by
    /// [`WritePlan::guarded`].
    pub erasure_guard: Option<String>,
}

/// What recording an event did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// Recorded, and the state changed.
    Applied,
    /// Recorded; the event type carries no state.
    Recorded {
        /// Why no state is carried.
        reason: String,
    },
    /// Recorded; the state rules kept the current state.
    NotApplied {
        /// Why the state was kept.
        reason: SkipReason,
    },
    /// Already recorded with the same body: nothing changed.
    Duplicate,
    /// Already recorded with a different body under the same id: nothing changed.
    Conflict,
    /// The subject was erased (`kyc erase`) and its tombstone still drops its events: nothing
    /// written but the tombstone's counter. Answered as received, so the provider stops.
    ErasedSubject,
}

impl Outcome {
    /// The text kept in the history for an outcome that recorded the event.
    pub fn history_note(&self) -> String {
        match self {
            Outcome::Applied => "applied".into(),
            Outcome::Recorded { reason } => format!("recorded: {reason}"),
            Outcome::NotApplied { reason } => format!("not applied: {reason}"),
            Outcome::Duplicate => "duplicate".into(),
            Outcome::Conflict => "conflict".into(),
            Outcome::ErasedSubject => "dropped: erased subject".into(),
        }
    }

    /// The outcome for a plan whose state change (if any) succeeds.
    pub fn planned(plan: &WritePlan) -> Outcome {
        match (&plan.patch, &plan.no_patch_reason) {
            (Some(_), _) => Outcome::Applied,
            (None, reason) => Outcome::Recorded {
                reason: reason.clone().unwrap_or_else(|| "no state change".into()),
            },
        }
    }
}

/// A delivery refused with a 4xx after authentication: kept (sealed, size-bounded) so nothing
/// a provider sent is lost, and it expires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// The provider that sent it.
    pub provider: Provider,
    /// When we received it.
    pub received_at: DateTime<Utc>,
    /// The status answered.
    pub http_status: u16,
    /// Why it was refused (an error code, no personal data).
    pub reason: String,
    /// The body's size in bytes.
    pub body_size: usize,
    /// SHA-256 of the whole body, hex.
    pub body_sha256: String,
    /// The first [`REJECTED_BODY_LIMIT`] bytes, sealed.
    pub sealed_body_prefix: String,
    /// When the table's TTL deletes it.
    pub expires_at: DateTime<Utc>,
}

/// The most of a rejected body kept, in bytes.
pub const REJECTED_BODY_LIMIT: usize = 64 * 1024;

/// Associated data of a rejected delivery's sealed body prefix. A rejection names no customer
/// (the delivery was not understood), so none is bound.
pub fn rejection_body_aad(provider: Provider, body_sha256: &str) -> Aad {
    Aad::new(
        provider.as_str(),
        format!("rejected/{body_sha256}"),
        "body-prefix",
        None,
    )
    .with_legacy(format!("{}/rejected/{body_sha256}", provider.as_str()))
}
/// How long a rejected delivery is kept, in days.
pub const REJECTION_RETENTION_DAYS: i64 = 90;

impl Rejection {
    /// Associated data of this rejection's sealed body prefix.
    pub fn body_aad(&self) -> Aad {
        rejection_body_aad(self.provider, &self.body_sha256)
    }
}

/// One entry of a customer's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The provider of the event.
    pub provider: Provider,
    /// The event's id.
    pub event_id: String,
    /// The provider's type of the event.
    pub event_type: String,
    /// When we received it.
    pub received_at: DateTime<Utc>,
    /// The provider's time of the event, when it gives one.
    pub provider_time: Option<DateTime<Utc>>,
    /// What recording it did ([`Outcome`]'s name).
    pub outcome: String,
    /// The event's normalised, redacted view.
    pub summary: serde_json::Value,
}

/// Why the store could not read or write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write may not have happened: the caller must make the provider retry (5xx).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store refuses this write for good (e.g. a DynamoDB validation error): retrying the
    /// same delivery cannot help, so the caller records it as a rejection instead.
    #[error("store refuses the write: {0}")]
    Refused(String),
    /// A stored item does not read as the code writes it.
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
}

/// Where events and states are kept.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Records the event, appends it to the subject's history and applies the patch, all or
    /// nothing. A known event id changes nothing and answers `Duplicate` (or `Conflict`).
    async fn record(&self, plan: &WritePlan) -> Result<Outcome, StoreError>;
    /// Keeps a refused delivery ([`Rejection`]).
    async fn record_rejection(&self, rejection: &Rejection) -> Result<(), StoreError>;
    /// Every provider's state of one customer.
    async fn provider_states(
        &self,
        subject: &str,
    ) -> Result<BTreeMap<Provider, ProviderState>, StoreError>;
    /// One customer's history, across providers.
    async fn history(&self, subject: &str) -> Result<Vec<HistoryEntry>, StoreError>;
    /// Whether the erasure tombstone `guard` ([`crate::erasure`]) drops events received at
    /// `at` (consistent read): what a flow that starts something for a customer (a GoPay
    /// consent) asks before it starts.
    async fn erased(&self, guard: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// Where an event store keeps a sealed raw body too large for its event item (DynamoDB items
/// stop at 400 KB). The event item keeps the location and the body's digest.
#[async_trait]
pub trait BodyStore: Send + Sync {
    /// Stores `sealed` under `key`; storing the same key again is harmless (same event, same
    /// body digest). Returns a location the store can read back.
    async fn put(&self, key: &str, sealed: &str) -> Result<String, StoreError>;
    /// [`Self::put`] with the SHA-256 (hex) of `sealed` already computed (the object key ends
    /// with it, [`body_object_key_of`]): a store that signs the body (S3's SigV4) takes it
    /// instead of hashing the body again.
    async fn put_digested(
        &self,
        key: &str,
        sealed: &str,
        sealed_sha256: &str,
    ) -> Result<String, StoreError> {
        let _ = sealed_sha256;
        self.put(key, sealed).await
    }
    /// The sealed body at `location`.
    async fn get(&self, location: &str) -> Result<String, StoreError>;
    /// Empties the body stored under `key`: for a body stored for an event that was then
    /// dropped whole (its subject erased in between, `Outcome::ErasedSubject`). S3 keeps the
    /// emptied body as a noncurrent version until the bucket's noncurrent-version expiry; the
    /// writer's role needs no delete permission.
    async fn retract(&self, key: &str) -> Result<(), StoreError> {
        self.put(key, "").await.map(drop)
    }
}

/// The object key of an offloaded body: hashed, so no provider id or customer shows in S3. It
/// ends with the digest of the sealed text (a fresh nonce each time), so a retry or the
/// queue's copy of the same event never overwrites the body an event item points to.
pub fn body_object_key(event: &EventRecord) -> String {
    body_object_key_of(event, &sha256_hex(event.sealed_body.as_bytes()))
}

/// [`body_object_key`], the digest of the sealed text already computed.
pub fn body_object_key_of(event: &EventRecord, sealed_sha256: &str) -> String {
    format!(
        "bodies/{}/{}/{}.sealed",
        event.provider.as_str(),
        sha256_hex(event.event_id.as_bytes()),
        sealed_sha256
    )
}

/// The in-memory twin of an S3 body store.
#[derive(Default)]
pub struct MemoryBodyStore {
    objects: Mutex<BTreeMap<String, String>>,
}

impl MemoryBodyStore {
    /// Objects stored.
    pub fn len(&self) -> usize {
        self.objects.lock().unwrap().len()
    }
    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl BodyStore for MemoryBodyStore {
    async fn put(&self, key: &str, sealed: &str) -> Result<String, StoreError> {
        self.objects
            .lock()
            .unwrap()
            .insert(key.to_string(), sealed.to_string());
        Ok(format!("memory:{key}"))
    }
    async fn get(&self, location: &str) -> Result<String, StoreError> {
        let key = location.strip_prefix("memory:").unwrap_or(location);
        self.objects
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("no body at {location}")))
    }
}

/// The in-memory twin of the DynamoDB store, for unit tests of handlers and rules.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    events: BTreeMap<(Provider, String), EventRecord>,
    states: BTreeMap<(String, Provider), ProviderState>,
    /// By customer, and by unassigned partition (listed in `unassigned`).
    history: BTreeMap<String, Vec<HistoryEntry>>,
    unassigned: std::collections::BTreeSet<String>,
    rejections: Vec<Rejection>,
    /// Tombstones by partition, with how many events each dropped.
    tombstones: BTreeMap<String, (crate::erasure::Tombstone, u64)>,
}

impl MemoryStore {
    /// The rejections recorded so far.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.inner.lock().unwrap().rejections.clone()
    }
    /// Events recorded so far.
    pub fn event_count(&self) -> usize {
        self.inner.lock().unwrap().events.len()
    }
    /// Writes an erasure tombstone (as `kyc erase` does before deleting anything).
    pub fn put_tombstone(&self, tombstone: &crate::erasure::Tombstone) {
        self.inner
            .lock()
            .unwrap()
            .tombstones
            .insert(tombstone.partition.clone(), (tombstone.clone(), 0));
    }
    /// How many events a tombstone dropped.
    pub fn dropped(&self, partition: &str) -> u64 {
        self.inner
            .lock()
            .unwrap()
            .tombstones
            .get(partition)
            .map_or(0, |(_, n)| *n)
    }
    /// Deletes everything of `subject` at `provider` (events, state, history), as an erasure.
    pub fn forget(&self, provider: Provider, subject: &str) {
        let mut m = self.inner.lock().unwrap();
        m.events
            .retain(|(p, _), e| *p != provider || e.subject.as_deref() != Some(subject));
        m.states.remove(&(subject.to_string(), provider));
        if let Some(h) = m.history.get_mut(subject) {
            h.retain(|e| e.provider != provider);
        }
    }
    /// Every customer with a history, sorted.
    pub fn subjects(&self) -> Vec<String> {
        let m = self.inner.lock().unwrap();
        m.history
            .keys()
            .filter(|k| !m.unassigned.contains(*k))
            .cloned()
            .collect()
    }
}

/// The history entry of an event and what recording it did.
pub fn history_entry(event: &EventRecord, outcome: &Outcome) -> HistoryEntry {
    HistoryEntry {
        provider: event.provider,
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        received_at: event.received_at,
        provider_time: event.provider_time,
        outcome: outcome.history_note(),
        summary: event.summary.clone(),
    }
}

/// History partition for events that name no subject (unknown callback types): one per
/// provider and day.
pub fn unassigned_partition(event: &EventRecord) -> String {
    crate::keys::unassigned_pk(event.provider, event.received_at)
}

impl HistoryEntry {
    /// The entry's place in a customer's history merged across providers: received time, then
    /// provider, then escaped event id — the order one partition gave when every provider's
    /// history shared it. Compared as text, it sorts in that order; the read API's cursor is
    /// the last entry's position.
    pub fn position(&self) -> String {
        format!(
            "{}{}#{}#{}",
            crate::keys::HISTORY_PREFIX,
            crate::keys::key_time(self.received_at),
            self.provider.as_str(),
            crate::keys::escape_id(&self.event_id)
        )
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn record(&self, plan: &WritePlan) -> Result<Outcome, StoreError> {
        let mut m = self.inner.lock().unwrap();
        let e = &plan.event;
        if let Some((tombstone, dropped)) = plan
            .erasure_guard
            .as_ref()
            .and_then(|g| m.tombstones.get_mut(g))
        {
            if tombstone.drops(e.received_at) {
                *dropped += 1;
                return Ok(Outcome::ErasedSubject);
            }
        }
        let key = (e.provider, e.event_id.clone());
        if let Some(old) = m.events.get(&key) {
            return Ok(if old.body_sha256 == e.body_sha256 {
                Outcome::Duplicate
            } else {
                Outcome::Conflict
            });
        }
        let partition = match &e.subject {
            Some(subject) => subject.clone(),
            None => {
                let partition = unassigned_partition(e);
                m.unassigned.insert(partition.clone());
                partition
            }
        };
        let mut outcome = Outcome::planned(plan);
        if let (Some(patch), Some(subject)) = (&plan.patch, &e.subject) {
            let state = m.states.entry((subject.clone(), e.provider)).or_default();
            // Under the lock: the compare-and-swap of the DynamoDB store, trivially.
            if let Err(reason) = state.apply(patch) {
                outcome = Outcome::NotApplied { reason };
            }
        }
        m.events.insert(key, e.clone());
        m.history
            .entry(partition)
            .or_default()
            .push(history_entry(e, &outcome));
        Ok(outcome)
    }

    async fn record_rejection(&self, rejection: &Rejection) -> Result<(), StoreError> {
        self.inner
            .lock()
            .unwrap()
            .rejections
            .push(rejection.clone());
        Ok(())
    }

    async fn provider_states(
        &self,
        subject: &str,
    ) -> Result<BTreeMap<Provider, ProviderState>, StoreError> {
        let m = self.inner.lock().unwrap();
        Ok(m.states
            .iter()
            .filter(|((s, _), _)| s == subject)
            .map(|((_, p), st)| (*p, st.clone()))
            .collect())
    }

    async fn history(&self, subject: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .history
            .get(subject)
            .cloned()
            .unwrap_or_default())
    }

    async fn erased(&self, guard: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .tombstones
            .get(guard)
            .is_some_and(|(t, _)| t.drops(at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_validated_or_derived_from_the_body() {
        assert!(EventId::from_provider("3a0a2870-f188-46e5-a6f0-f55b38565d7b").is_ok());
        assert_eq!(EventId::from_provider(""), Err(InvalidEventId));
        assert_eq!(EventId::from_provider("a b"), Err(InvalidEventId));
        assert_eq!(
            EventId::from_provider(&"x".repeat(129)),
            Err(InvalidEventId)
        );
        let a = EventId::from_body(b"{}");
        assert_eq!(a, EventId::from_body(b"{}"));
        assert!(a.as_str().starts_with("sha256:"));
        assert_ne!(a, EventId::from_body(b"{ }"));
    }
}

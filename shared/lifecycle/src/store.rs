//! The lifecycle store (port), its in-memory twin, and the operations on it: record the end,
//! hold and release, and the sweep.

use crate::erase::{Mark, StoredTombstone};
use crate::retention::{Outcome, Retention};
use crate::{
    verdict, Deleting, EndError, Hold, Keep, Lifecycle, ObjectRef, RelationshipEnd, Snapshot,
    Verdict, LEGAL_HOLD, LEGAL_HOLD_RELEASED, RELATIONSHIP_REOPENED,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kyc_core::bank::BankAction;
use kyc_core::erasure::Tombstone;
use kyc_core::evidence::{leaf_key_hash, DeletionRecord, SALT_BYTES};
use kyc_core::intake::{Provider, StoreError};
use kyc_core::keys;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Written.
    Written,
    /// What it was conditional on changed: nothing written.
    Superseded,
}

/// A customer on the due index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The customer.
    pub customer: String,
    /// When its data may be deleted.
    pub delete_after: DateTime<Utc>,
    /// Customer or refused applicant.
    pub outcome: Outcome,
    /// The providers holding a state (or objects) of the customer when the end was recorded.
    pub providers: Vec<Provider>,
    /// Its object versions when the end was recorded, by provider.
    pub objects: BTreeMap<Provider, u64>,
}

/// The lifecycle's store.
#[async_trait]
pub trait LifecycleStore: Send + Sync {
    /// The lifecycle item, the hold, each provider state's version and whether a GoPay
    /// consent is live (strongly consistent).
    async fn snapshot(&self, customer: &str) -> Result<Snapshot, StoreError>;
    /// Writes `lifecycle` and `action` together if the stored item's version is still
    /// `read_version` (0: none), and gives the customer a salt if it has none (the deletion
    /// record names history entries only by their keys' hash under it).
    async fn write_lifecycle(
        &self,
        lifecycle: &Lifecycle,
        read_version: i64,
        action: &BankAction,
    ) -> Result<Written, StoreError>;
    /// Puts (`Some`) or removes (`None`) the legal hold, with `action`.
    async fn write_hold(
        &self,
        customer: &str,
        hold: Option<&Hold>,
        action: &BankAction,
    ) -> Result<(), StoreError>;
    /// Customers whose `deleteAfter` is at or before `until` (the due index, never a scan).
    async fn due(&self, until: DateTime<Utc>, limit: usize) -> Result<Vec<Due>, StoreError>;
    /// Applicants never verified whose last provider activity is before `before` (the
    /// decision's inactivity index, never a scan), oldest first.
    async fn inactive_applicants(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;
    /// The commit point of a deletion: in one transaction, conditional on `snapshot` (the same
    /// lifecycle item, no hold, every provider state at the same version), deletes the provider
    /// states, writes the deletion record (history entries named by their leaf key hashes), and
    /// marks the lifecycle item `deleting`. `Superseded`: something changed, nothing deleted.
    async fn commit_deletion(
        &self,
        customer: &str,
        snapshot: &Snapshot,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError>;
    /// Deletes what remains of a customer whose deletion was committed: items received up to
    /// `deleting.since` (a callback after the commit is new data and stays), the customer
    /// level, the lifecycle item last. Idempotent. Returns what it deleted, by kind.
    async fn finish_deletion(
        &self,
        customer: &str,
        deleting: &Deleting,
    ) -> Result<BTreeMap<String, u64>, StoreError>;
    /// The ids of the customer's events at every provider (its history), for its tombstones.
    async fn event_ids(&self, customer: &str) -> Result<Vec<(Provider, String)>, StoreError>;
    /// An erasure tombstone (`<P>#T#<name>`), consistent read.
    async fn tombstone(&self, partition: &str) -> Result<Option<StoredTombstone>, StoreError>;
    /// Writes each tombstone unless one exists whose drop period runs at `now` (a resumed
    /// erasure keeps the first ones; an expired one is replaced).
    async fn write_tombstones(
        &self,
        tombstones: &[Tombstone],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deletes these tombstones unless completed (an erasure that stepped back before deleting
    /// anything). In order: the caller lists the erasure's own record last.
    async fn lift_tombstones(&self, partitions: &[String]) -> Result<(), StoreError>;
    /// Records a step of the erasure on a tombstone.
    async fn mark_tombstone(
        &self,
        partition: &str,
        mark: Mark,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The customer's object versions now, by provider (what a deletion would remove).
    async fn objects_by_provider(
        &self,
        customer: &str,
    ) -> Result<BTreeMap<Provider, u64>, StoreError>;
}

/// Object versions in S3 (port; the adapter is `aws::S3ObjectVersions`).
#[async_trait]
pub trait ObjectVersions: Send + Sync {
    /// Deletes every version and delete marker of `o` (or of every key under it). Returns how
    /// many went. Idempotent.
    async fn delete_every_version(&self, o: &ObjectRef) -> Result<u64, StoreError>;
    /// How many versions and delete markers `o` has (or every key under it).
    async fn count_versions(&self, o: &ObjectRef) -> Result<u64, StoreError>;
}

/// The in-memory twin of [`ObjectVersions`]: (bucket, key) → versions.
#[derive(Default)]
pub struct MemoryObjects {
    objects: Mutex<BTreeMap<(String, String), u64>>,
}

impl MemoryObjects {
    /// Stores one more version of (bucket, key).
    pub fn put(&self, bucket: &str, key: &str) {
        *self
            .objects
            .lock()
            .unwrap()
            .entry((bucket.into(), key.into()))
            .or_default() += 1;
    }
    /// Versions stored, in all.
    pub fn versions(&self) -> u64 {
        self.objects.lock().unwrap().values().sum()
    }
}

#[async_trait]
impl ObjectVersions for MemoryObjects {
    async fn delete_every_version(&self, o: &ObjectRef) -> Result<u64, StoreError> {
        let mut objects = self.objects.lock().unwrap();
        let gone: Vec<(String, String)> = objects
            .keys()
            .filter(|(b, k)| *b == o.bucket && (*k == o.key || (o.prefix && k.starts_with(&o.key))))
            .cloned()
            .collect();
        Ok(gone.iter().filter_map(|k| objects.remove(k)).sum())
    }
    async fn count_versions(&self, o: &ObjectRef) -> Result<u64, StoreError> {
        Ok(self
            .objects
            .lock()
            .unwrap()
            .iter()
            .filter(|((b, k), _)| {
                *b == o.bucket && (*k == o.key || (o.prefix && k.starts_with(&o.key)))
            })
            .map(|(_, n)| *n)
            .sum())
    }
}

/// Why a lifecycle change was not made.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The end cannot be recorded.
    #[error(transparent)]
    End(#[from] EndError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The item changed while this was written; run it again.
    #[error(
        "the lifecycle item changed while this was written; nothing was written, run it again"
    )]
    Raced,
    /// The reason is not a reason code.
    #[error("reason must be a code of 1 to 64 characters [A-Za-z0-9._:-]")]
    Reason,
    /// There is no legal hold to release.
    #[error("no legal hold on this customer")]
    NoHold,
}

/// A reason code: 1 to 64 of `[A-Za-z0-9._:-]`.
pub(crate) fn is_code(reason: &str) -> bool {
    !reason.is_empty()
        && reason.len() <= 64
        && reason
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Records the relationship's end (core banking's message, or `kyc customer close`).
pub async fn record_end(
    store: &dyn LifecycleStore,
    retention: &Retention,
    end: &RelationshipEnd,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<Lifecycle, LifecycleError> {
    let snapshot = store.snapshot(&end.customer).await?;
    let read = snapshot.lifecycle.as_ref();
    let mut lifecycle = end.lifecycle(retention, snapshot.state_versions.clone(), read, now)?;
    lifecycle.objects = store.objects_by_provider(&end.customer).await?;
    let action = end.action(operator, now);
    match store
        .write_lifecycle(&lifecycle, read.map_or(0, |l| l.version), &action)
        .await?
    {
        Written::Written => Ok(lifecycle),
        Written::Superseded => Err(LifecycleError::Raced),
    }
}

/// Clears the date: the relationship goes on (a provider event since the end, or the bank
/// says so). `None` when there was nothing to clear.
pub async fn reopen(
    store: &dyn LifecycleStore,
    customer: &str,
    reason: &str,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<Option<Lifecycle>, LifecycleError> {
    if !is_code(reason) {
        return Err(LifecycleError::Reason);
    }
    let snapshot = store.snapshot(customer).await?;
    let Some(read) = snapshot
        .lifecycle
        .filter(|l| l.delete_after.is_some() && l.deleting.is_none())
    else {
        return Ok(None);
    };
    let lifecycle = Lifecycle {
        delete_after: None,
        version: read.version + 1,
        state_versions: snapshot.state_versions,
        ..read.clone()
    };
    let action = BankAction {
        at: now,
        action: RELATIONSHIP_REOPENED.into(),
        operator: operator.into(),
        reason: reason.into(),
        detail: json!({"endedOn": read.ended_on, "deleteAfter": read.delete_after}),
    };
    match store
        .write_lifecycle(&lifecycle, read.version, &action)
        .await?
    {
        Written::Written => Ok(Some(lifecycle)),
        Written::Superseded => Err(LifecycleError::Raced),
    }
}

/// `kyc hold`: a legal hold with a reason code (recorded with the operator's identity).
pub async fn hold(
    store: &dyn LifecycleStore,
    customer: &str,
    reason: &str,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<Hold, LifecycleError> {
    if !is_code(reason) {
        return Err(LifecycleError::Reason);
    }
    if !keys::valid_customer_id(customer) {
        return Err(EndError::CustomerId.into());
    }
    let hold = Hold {
        reason: reason.into(),
        at: now,
    };
    let action = BankAction {
        at: now,
        action: LEGAL_HOLD.into(),
        operator: operator.into(),
        reason: reason.into(),
        detail: json!({}),
    };
    store.write_hold(customer, Some(&hold), &action).await?;
    Ok(hold)
}

/// `kyc release`: lifts the legal hold (recorded with the operator's identity).
pub async fn release(
    store: &dyn LifecycleStore,
    customer: &str,
    reason: &str,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<Hold, LifecycleError> {
    if !is_code(reason) {
        return Err(LifecycleError::Reason);
    }
    let Some(held) = store.snapshot(customer).await?.hold else {
        return Err(LifecycleError::NoHold);
    };
    let action = BankAction {
        at: now,
        action: LEGAL_HOLD_RELEASED.into(),
        operator: operator.into(),
        reason: reason.into(),
        detail: json!({"heldSince": held.at, "holdReason": held.reason}),
    };
    store.write_hold(customer, None, &action).await?;
    Ok(held)
}

/// The bank action's reason when inactivity started the clock.
pub const APPLICANT_INACTIVITY: &str = "applicantInactivity";

/// Starts the retention clock of applicants who never onboarded and have been inactive for
/// `days` (a template parameter; 0 = off): their relationship ends, as refused applicants, on
/// the day of their last provider activity. Never a customer who was verified (the index
/// holds only never-verified decisions), never one whose lifecycle the bank already handles
/// (any lifecycle item). Returns how many clocks started.
pub async fn start_inactivity_clocks(
    store: &dyn LifecycleStore,
    retention: &Retention,
    days: u32,
    operator: &str,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<u64, StoreError> {
    if days == 0 {
        return Ok(0);
    }
    let before = now - chrono::Duration::days(i64::from(days));
    let mut started = 0;
    for (customer, last) in store.inactive_applicants(before, limit).await? {
        let snapshot = store.snapshot(&customer).await?;
        if snapshot.lifecycle.is_some() {
            continue;
        }
        let end = RelationshipEnd {
            customer: customer.clone(),
            on: last.date_naive(),
            outcome: Outcome::RefusedApplicant,
        };
        let Ok(mut lifecycle) = end.lifecycle(retention, snapshot.state_versions, None, now) else {
            continue;
        };
        lifecycle.objects = store.objects_by_provider(&customer).await?;
        let action = BankAction {
            reason: APPLICANT_INACTIVITY.into(),
            detail: json!({"endedOn": end.on, "outcome": end.outcome, "lastActivity": last,
                           "inactivityDays": days}),
            ..end.action(operator, now)
        };
        if store.write_lifecycle(&lifecycle, 0, &action).await? == Written::Written {
            started += 1;
        }
    }
    Ok(started)
}

/// What one sweep did (counts only: no customer id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// Customers due.
    pub due: u64,
    /// Customers whose data was deleted.
    pub deleted: u64,
    /// Deletions a crashed run had committed, finished now.
    pub resumed: u64,
    /// Due customers with a provider event since the end: date cleared.
    pub reopened: u64,
    /// Due customers kept by a legal hold.
    pub held: u64,
    /// Due customers kept by a live GoPay consent.
    pub gopay_consent_live: u64,
    /// Changed between the check and the commit (a callback, a hold): kept, checked again
    /// next run.
    pub changed: u64,
    /// Items deleted, by kind.
    pub items: BTreeMap<String, u64>,
}

/// The scheduled sweep: every due customer is checked again and deleted only if nothing
/// keeps it (see [`verdict`]); at most `limit` per run, the rest stay due for the next.
pub async fn sweep(
    store: &dyn LifecycleStore,
    operator: &str,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    for due in store.due(now, limit).await? {
        report.due += 1;
        let snapshot = store.snapshot(&due.customer).await?;
        // The deletion to finish: a resumed one is in the snapshot; a new one was just written
        // by the commit (its record id is the store's), read back once.
        let deleting = match verdict(&snapshot, now) {
            Verdict::Delete => {
                match store
                    .commit_deletion(&due.customer, &snapshot, operator, now)
                    .await?
                {
                    Written::Written => {
                        report.deleted += 1;
                        store
                            .snapshot(&due.customer)
                            .await?
                            .lifecycle
                            .and_then(|l| l.deleting)
                    }
                    Written::Superseded => {
                        report.changed += 1;
                        None
                    }
                }
            }
            Verdict::Resume => {
                report.resumed += 1;
                snapshot.lifecycle.and_then(|l| l.deleting)
            }
            Verdict::Keep(Keep::ProviderEventSince(_)) => {
                if let Err(e) =
                    reopen(store, &due.customer, "providerEventSince", operator, now).await
                {
                    tracing::warn!(error = %e, "lifecycle not reopened; checked again next run");
                    report.changed += 1;
                } else {
                    report.reopened += 1;
                }
                None
            }
            Verdict::Keep(Keep::Held) => {
                report.held += 1;
                None
            }
            Verdict::Keep(Keep::GopayConsentLive) => {
                report.gopay_consent_live += 1;
                None
            }
            Verdict::Keep(Keep::NotDue) => None,
        };
        if let Some(d) = deleting {
            for (kind, n) in store.finish_deletion(&due.customer, &d).await? {
                *report.items.entry(kind).or_default() += n;
            }
        }
    }
    tracing::info!(
        due = report.due,
        deleted = report.deleted,
        resumed = report.resumed,
        reopened = report.reopened,
        held = report.held,
        gopay_consent_live = report.gopay_consent_live,
        changed = report.changed,
        "lifecycle sweep"
    );
    Ok(report)
}

/// Customers and their providers falling due within each of `horizons` days (the due index).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionReport {
    /// horizon (days) → outcome → provider (or `none`) → customers.
    pub falling_due: BTreeMap<u32, BTreeMap<String, BTreeMap<String, u64>>>,
    /// horizon (days) → outcome → provider → object versions (counted when the end was
    /// recorded).
    pub objects_falling_due: BTreeMap<u32, BTreeMap<String, BTreeMap<String, u64>>>,
    /// Customers already due (the sweep has not deleted them: held, live consent, or not yet
    /// run).
    pub overdue: u64,
}

/// `kyc retention report`.
pub async fn retention_report(
    store: &dyn LifecycleStore,
    now: DateTime<Utc>,
    horizons: &[u32],
) -> Result<RetentionReport, StoreError> {
    let longest = horizons.iter().copied().max().unwrap_or(0);
    let due = store
        .due(now + chrono::Duration::days(i64::from(longest)), usize::MAX)
        .await?;
    let mut report = RetentionReport::default();
    for d in &due {
        if d.delete_after <= now {
            report.overdue += 1;
        }
        for h in horizons {
            if d.delete_after <= now + chrono::Duration::days(i64::from(*h)) {
                let by_outcome = report.falling_due.entry(*h).or_default();
                let by_provider = by_outcome.entry(d.outcome.as_str().into()).or_default();
                if d.providers.is_empty() {
                    *by_provider.entry("none".into()).or_default() += 1;
                }
                for p in &d.providers {
                    *by_provider.entry(p.as_str().into()).or_default() += 1;
                }
                let objects = report
                    .objects_falling_due
                    .entry(*h)
                    .or_default()
                    .entry(d.outcome.as_str().into())
                    .or_default();
                for (p, n) in &d.objects {
                    *objects.entry(p.as_str().into()).or_default() += n;
                }
            }
        }
    }
    Ok(report)
}

/// A new random id for a deletion record.
pub fn record_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// A new random salt for a customer.
pub fn new_salt() -> [u8; SALT_BYTES] {
    rand::random()
}

// ---------------------------------------------------------------------------------------------
// The in-memory twin.

#[derive(Debug, Clone, Default)]
struct CustomerData {
    states: BTreeMap<Provider, i64>,
    /// (provider, received at, event id)
    history: Vec<(Provider, DateTime<Utc>, String)>,
    gopay_consent_live: bool,
    salt: Option<[u8; SALT_BYTES]>,
    objects: Vec<ObjectRef>,
}

#[derive(Default)]
struct Tables {
    customers: BTreeMap<String, CustomerData>,
    events: BTreeSet<(Provider, String)>,
    lifecycles: BTreeMap<String, Lifecycle>,
    holds: BTreeMap<String, Hold>,
    bank: BTreeMap<String, Vec<BankAction>>,
    records: BTreeMap<String, DeletionRecord>,
    /// Never-verified applicants' last activity (the decision's inactivity index).
    inactive: BTreeMap<String, DateTime<Utc>>,
    ever_verified: BTreeSet<String>,
    tombstones: BTreeMap<String, StoredTombstone>,
    /// (customer, provider) → the id that provider keeps it under (`None`: its own id there is
    /// another customer's alias). Absent: the customer id.
    provider_ids: BTreeMap<(String, Provider), Option<String>>,
}

/// The in-memory twin: provider states and history (as the intake writes them), lifecycle
/// items, holds, the bank's history and deletion records; the customers' objects in
/// [`MemoryObjects`].
#[derive(Default)]
pub struct MemoryLifecycleStore {
    tables: Mutex<Tables>,
    /// The customers' objects.
    pub objects: MemoryObjects,
    /// Runs once, right after the next tombstones are written (something landing just then).
    after_tombstones: Mutex<Option<AfterTombstones>>,
}

type AfterTombstones = Box<dyn FnOnce(&MemoryLifecycleStore) + Send>;

impl MemoryLifecycleStore {
    /// `f` runs once, right after the next tombstones are written.
    pub fn after_tombstones(&self, f: impl FnOnce(&MemoryLifecycleStore) + Send + 'static) {
        *self.after_tombstones.lock().unwrap() = Some(Box::new(f));
    }

    /// The legal hold on `customer` released (as `kyc release` does, without its history).
    pub fn set_hold_released(&self, customer: &str) {
        self.tables.lock().unwrap().holds.remove(customer);
    }

    /// A legal hold placed on `customer` (as `kyc hold` does, without its bank history).
    pub fn set_hold(&self, customer: &str, hold: Hold) {
        self.tables
            .lock()
            .unwrap()
            .holds
            .insert(customer.to_string(), hold);
    }

    /// A provider event recorded and applied, as the intake would (state `version` +1).
    pub fn add_event(
        &self,
        customer: &str,
        provider: Provider,
        received_at: DateTime<Utc>,
        event_id: &str,
    ) {
        let mut t = self.tables.lock().unwrap();
        t.events.insert((provider, event_id.to_string()));
        let c = t.customers.entry(customer.to_string()).or_default();
        *c.states.entry(provider).or_default() += 1;
        c.history
            .push((provider, received_at, event_id.to_string()));
    }

    /// An object the customer's Xpollens items name (a large body).
    pub fn add_object(&self, customer: &str, bucket: &str, key: &str) {
        self.add_provider_object(customer, Provider::Xpollens, bucket, key)
    }

    /// An object of the customer at `provider` (a large body, a PDF, a processed report).
    pub fn add_provider_object(&self, customer: &str, provider: Provider, bucket: &str, key: &str) {
        self.objects.put(bucket, key);
        let mut t = self.tables.lock().unwrap();
        t.customers
            .entry(customer.to_string())
            .or_default()
            .objects
            .push(ObjectRef {
                provider: Some(provider),
                bucket: bucket.into(),
                key: key.into(),
                prefix: false,
            });
    }

    /// The decision index says: an applicant never verified, last active at `last` (`None`:
    /// verified, or active again: off the index).
    pub fn set_applicant_activity(&self, customer: &str, last: Option<DateTime<Utc>>) {
        let mut t = self.tables.lock().unwrap();
        match last {
            Some(at) => t.inactive.insert(customer.to_string(), at),
            None => t.inactive.remove(customer),
        };
    }

    /// `provider` knows the customer as `id` (an alias), or (`None`) the customer's own id
    /// there is another customer's alias.
    pub fn set_provider_id(&self, customer: &str, provider: Provider, id: Option<&str>) {
        self.tables
            .lock()
            .unwrap()
            .provider_ids
            .insert((customer.to_string(), provider), id.map(str::to_string));
    }

    /// The customer's decision was `verified` at some point.
    pub fn set_ever_verified(&self, customer: &str) {
        self.tables
            .lock()
            .unwrap()
            .ever_verified
            .insert(customer.to_string());
    }

    /// Every tombstone stored.
    pub fn tombstones(&self) -> Vec<StoredTombstone> {
        self.tables
            .lock()
            .unwrap()
            .tombstones
            .values()
            .cloned()
            .collect()
    }

    /// Sets whether the customer's GoPay consent is live.
    pub fn set_gopay_consent_live(&self, customer: &str, live: bool) {
        let mut t = self.tables.lock().unwrap();
        t.customers
            .entry(customer.to_string())
            .or_default()
            .gopay_consent_live = live;
    }

    /// Whether anything of the customer is left (states, history, its events, customer level).
    pub fn holds_anything_of(&self, customer: &str) -> bool {
        let t = self.tables.lock().unwrap();
        t.customers
            .get(customer)
            .is_some_and(|c| !c.states.is_empty() || !c.history.is_empty() || c.salt.is_some())
            || t.lifecycles.contains_key(customer)
            || t.bank.get(customer).is_some_and(|b| !b.is_empty())
    }

    /// Entries in the customer's history.
    pub fn history_len(&self, customer: &str) -> usize {
        let t = self.tables.lock().unwrap();
        t.customers.get(customer).map_or(0, |c| c.history.len())
    }

    /// Event items stored.
    pub fn events(&self) -> usize {
        self.tables.lock().unwrap().events.len()
    }

    /// The customer's bank history.
    pub fn bank_actions(&self, customer: &str) -> Vec<BankAction> {
        let t = self.tables.lock().unwrap();
        t.bank.get(customer).cloned().unwrap_or_default()
    }

    /// Every deletion record written.
    pub fn deletion_records(&self) -> Vec<DeletionRecord> {
        self.tables
            .lock()
            .unwrap()
            .records
            .values()
            .cloned()
            .collect()
    }
}

fn append(t: &mut Tables, customer: &str, action: &BankAction) {
    let list = t.bank.entry(customer.to_string()).or_default();
    if !list.iter().any(|a| a.id() == action.id()) {
        list.push(action.clone());
        list.sort_by_key(|a| a.at);
    }
}

#[async_trait]
impl LifecycleStore for MemoryLifecycleStore {
    async fn snapshot(&self, customer: &str) -> Result<Snapshot, StoreError> {
        let t = self.tables.lock().unwrap();
        let c = t.customers.get(customer).cloned().unwrap_or_default();
        Ok(Snapshot {
            lifecycle: t.lifecycles.get(customer).cloned(),
            hold: t.holds.get(customer).cloned(),
            state_versions: c.states,
            gopay_consent_live: c.gopay_consent_live,
            provider_ids: Provider::ALL
                .into_iter()
                .filter_map(|p| match t.provider_ids.get(&(customer.to_string(), p)) {
                    Some(Some(id)) => Some((p, id.clone())),
                    Some(None) => None,
                    None => Some((p, customer.to_string())),
                })
                .collect(),
            ever_verified: t.ever_verified.contains(customer),
        })
    }

    async fn write_lifecycle(
        &self,
        lifecycle: &Lifecycle,
        read_version: i64,
        action: &BankAction,
    ) -> Result<Written, StoreError> {
        let mut t = self.tables.lock().unwrap();
        let stored = t
            .lifecycles
            .get(&lifecycle.customer_id)
            .map_or(0, |l| l.version);
        if stored != read_version {
            return Ok(Written::Superseded);
        }
        let customer = lifecycle.customer_id.clone();
        t.lifecycles.insert(customer.clone(), lifecycle.clone());
        let c = t.customers.entry(customer.clone()).or_default();
        if c.salt.is_none() {
            c.salt = Some(new_salt());
        }
        append(&mut t, &customer, action);
        Ok(Written::Written)
    }

    async fn write_hold(
        &self,
        customer: &str,
        hold: Option<&Hold>,
        action: &BankAction,
    ) -> Result<(), StoreError> {
        let mut t = self.tables.lock().unwrap();
        match hold {
            Some(h) => t.holds.insert(customer.to_string(), h.clone()),
            None => t.holds.remove(customer),
        };
        append(&mut t, customer, action);
        Ok(())
    }

    async fn due(&self, until: DateTime<Utc>, limit: usize) -> Result<Vec<Due>, StoreError> {
        let t = self.tables.lock().unwrap();
        let mut due: Vec<Due> = t
            .lifecycles
            .values()
            .filter_map(|l| {
                l.delete_after.filter(|d| *d <= until).map(|d| Due {
                    customer: l.customer_id.clone(),
                    delete_after: d,
                    outcome: l.outcome,
                    providers: l.state_versions.keys().copied().collect(),
                    objects: l.objects.clone(),
                })
            })
            .collect();
        due.sort_by(|a, b| (a.delete_after, &a.customer).cmp(&(b.delete_after, &b.customer)));
        due.truncate(limit);
        Ok(due)
    }

    async fn inactive_applicants(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let t = self.tables.lock().unwrap();
        let mut found: Vec<(String, DateTime<Utc>)> = t
            .inactive
            .iter()
            .filter(|(_, at)| **at < before)
            .map(|(c, at)| (c.clone(), *at))
            .collect();
        found.sort_by_key(|(c, at)| (*at, c.clone()));
        found.truncate(limit);
        Ok(found)
    }

    async fn commit_deletion(
        &self,
        customer: &str,
        snapshot: &Snapshot,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        let mut t = self.tables.lock().unwrap();
        let c = t.customers.get(customer).cloned().unwrap_or_default();
        let unchanged = t.lifecycles.get(customer) == snapshot.lifecycle.as_ref()
            && !t.holds.contains_key(customer)
            && c.states == snapshot.state_versions;
        let Some(lifecycle) = snapshot.lifecycle.clone().filter(|_| unchanged) else {
            return Ok(Written::Superseded);
        };
        let salt = c.salt.unwrap_or_default();
        let mut leaves: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (p, at, eid) in &c.history {
            leaves
                .entry(at.format("%Y-%m-%dT%H").to_string())
                .or_default()
                .push(leaf_key_hash(
                    &salt,
                    &keys::customer_pk(*p, customer),
                    &keys::history_sk(*at, eid),
                ));
        }
        let id = record_id();
        t.records.insert(
            id.clone(),
            DeletionRecord {
                at: now,
                rule: deletion_rule(&lifecycle).into(),
                reason: lifecycle.rule.clone(),
                operator: operator.into(),
                leaves,
                counts: BTreeMap::from([
                    ("states".to_string(), c.states.len() as u64),
                    ("history".to_string(), c.history.len() as u64),
                ]),
            },
        );
        if let Some(data) = t.customers.get_mut(customer) {
            data.states.clear();
        }
        t.lifecycles.insert(
            customer.to_string(),
            Lifecycle {
                version: lifecycle.version + 1,
                deleting: Some(Deleting {
                    since: now,
                    record_id: id,
                    objects: c.objects.clone(),
                }),
                ..lifecycle
            },
        );
        Ok(Written::Written)
    }

    async fn finish_deletion(
        &self,
        customer: &str,
        deleting: &Deleting,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut counts = self.finish_items(customer, deleting);
        let mut versions = 0;
        for o in &deleting.objects {
            versions += self.objects.delete_every_version(o).await?;
        }
        counts.insert("objectVersions".to_string(), versions);
        let mut t = self.tables.lock().unwrap();
        t.lifecycles.remove(customer);
        t.ever_verified.remove(customer);
        Ok(counts)
    }

    async fn objects_by_provider(
        &self,
        customer: &str,
    ) -> Result<BTreeMap<Provider, u64>, StoreError> {
        let mut refs = self
            .tables
            .lock()
            .unwrap()
            .customers
            .get(customer)
            .map(|c| c.objects.clone())
            .unwrap_or_default();
        refs.sort();
        refs.dedup();
        let mut out = BTreeMap::new();
        for o in &refs {
            let n = self.objects.count_versions(o).await?;
            *out.entry(o.provider.unwrap_or(Provider::Xpollens))
                .or_default() += n;
        }
        Ok(out)
    }

    async fn event_ids(&self, customer: &str) -> Result<Vec<(Provider, String)>, StoreError> {
        let t = self.tables.lock().unwrap();
        Ok(t.customers
            .get(customer)
            .map(|c| {
                c.history
                    .iter()
                    .map(|(p, _, id)| (*p, id.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn tombstone(&self, partition: &str) -> Result<Option<StoredTombstone>, StoreError> {
        Ok(self
            .tables
            .lock()
            .unwrap()
            .tombstones
            .get(partition)
            .cloned())
    }

    async fn write_tombstones(
        &self,
        tombstones: &[Tombstone],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut t = self.tables.lock().unwrap();
        for tomb in tombstones {
            let live = t
                .tombstones
                .get(&tomb.partition)
                .is_some_and(|s| s.tombstone.drop_until > now);
            if !live {
                t.tombstones.insert(
                    tomb.partition.clone(),
                    StoredTombstone {
                        tombstone: tomb.clone(),
                        completed_at: None,
                        announced_at: None,
                        dropped: 0,
                    },
                );
            }
        }
        drop(t);
        let hook = self.after_tombstones.lock().unwrap().take();
        if let Some(f) = hook {
            f(self);
        }
        Ok(())
    }

    async fn lift_tombstones(&self, partitions: &[String]) -> Result<(), StoreError> {
        let mut t = self.tables.lock().unwrap();
        for p in partitions {
            if t.tombstones
                .get(p)
                .is_some_and(|s| s.completed_at.is_none())
            {
                t.tombstones.remove(p);
            }
        }
        Ok(())
    }

    async fn mark_tombstone(
        &self,
        partition: &str,
        mark: Mark,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut t = self.tables.lock().unwrap();
        let tomb = t
            .tombstones
            .get_mut(partition)
            .ok_or_else(|| StoreError::Corrupt("no such tombstone".into()))?;
        match mark {
            Mark::Completed => tomb.completed_at = tomb.completed_at.or(Some(at)),
            Mark::Announced => tomb.announced_at = tomb.announced_at.or(Some(at)),
        }
        Ok(())
    }
}

/// The deletion record's rule: the end of a retention period, or an erasure.
pub fn deletion_rule(lifecycle: &Lifecycle) -> &'static str {
    if lifecycle.erasure.is_some() {
        "erasure"
    } else {
        "retention"
    }
}

impl MemoryLifecycleStore {
    /// The items of a committed deletion (the lifecycle item stays until the objects are gone).
    fn finish_items(&self, customer: &str, deleting: &Deleting) -> BTreeMap<String, u64> {
        let mut t = self.tables.lock().unwrap();
        let mut counts = BTreeMap::new();
        let (gone, kept): (Vec<_>, Vec<_>) = t
            .customers
            .get(customer)
            .map(|c| c.history.clone())
            .unwrap_or_default()
            .into_iter()
            .partition(|(_, at, _)| *at <= deleting.since);
        for (p, _, eid) in &gone {
            if t.events.remove(&(*p, eid.clone())) {
                *counts.entry("events".to_string()).or_default() += 1;
            }
        }
        counts.insert("history".to_string(), gone.len() as u64);
        if let Some(c) = t.customers.get_mut(customer) {
            c.history = kept;
            c.salt = None;
            c.gopay_consent_live = false;
            c.objects.clear();
        }
        if t.bank.remove(customer).is_some() {
            counts.insert("customerLevel".to_string(), 1);
        }
        counts
    }
}

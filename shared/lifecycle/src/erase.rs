//! Erasure (`kyc erase`): every item and object of one customer at every provider, at once, on
//! request — a person who never became a customer, or a customer whose retention the bank
//! chooses to override (recorded).
//!
//! The order makes it safe to stop at any step and run again (resumable, idempotent):
//! 1. checks: no legal hold (ever); no running retention (a customer ever verified whose
//!    relationship has not ended, or whose `deleteAfter` is ahead) unless overridden; no live
//!    GoPay consent (the CLI revokes it at GoPay first); a naming key in every keyring;
//! 2. tombstones (`kyc_core::erasure`), one per provider and subject id, BEFORE anything is
//!    deleted: from then on intake drops every event of the person, so nothing new arrives
//!    while the data goes and a provider's retry cannot bring it back;
//! 3. the lifecycle item marked with the erasure, then the sweep's own commit point (states
//!    deleted at the versions read, no hold, the deletion record, rule `erasure`) and its
//!    deletion of every item and object version;
//! 4. the tombstone marked complete, the `KYC customer erased` event published, the tombstone
//!    marked announced.
//!
//! A run that finds the customer's tombstone complete only announces what is not announced.

use crate::retention::Outcome;
use crate::store::{is_code, LifecycleError, LifecycleStore, Written};
use crate::{Erasure, Lifecycle, Snapshot};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kyc_core::bank::BankAction;
use kyc_core::crypto::NamingKey;
use kyc_core::erasure::{self, Tombstone, DEFAULT_DROP_DAYS, MAX_DROP_DAYS, MIN_DROP_DAYS};
use kyc_core::intake::{sha256_hex, Provider, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The bank action recorded when an erasure starts (deleted with the customer; the deletion
/// record and the tombstones keep the reason and the operator).
pub const ERASURE_STARTED: &str = "customerErasureStarted";

/// EventBridge `detail-type` of the erasure event; schema `schemas/kyc-customer-erased.v1.json`.
pub const DETAIL_TYPE: &str = "KYC customer erased";
/// The JSON Schema of the detail, as checked in.
pub const SCHEMA_V1: &str = include_str!("../../../schemas/kyc-customer-erased.v1.json");

/// What `kyc erase` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EraseRequest {
    /// The customer to erase.
    pub customer: String,
    /// A code (`gdprArticle17`, `applicantRequest`...): never free text.
    pub reason: String,
    /// Erase although a retention period runs (recorded in the deletion record, the tombstones
    /// and the event).
    pub override_retention: bool,
    /// How long intake drops the person's events ([`MIN_DROP_DAYS`]..=[`MAX_DROP_DAYS`]).
    pub drop_days: u32,
    /// Report what would happen; write nothing.
    pub dry_run: bool,
}

impl EraseRequest {
    /// An erasure of `customer` for `reason`, with the default drop period, not dry.
    pub fn new(customer: &str, reason: &str) -> Self {
        Self {
            customer: customer.into(),
            reason: reason.into(),
            override_retention: false,
            drop_days: DEFAULT_DROP_DAYS,
            dry_run: false,
        }
    }
}

/// Why an erasure is refused (nothing written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A legal hold applies.
    #[error("a legal hold applies: release it first (kyc release)")]
    Held,
    /// A retention period runs.
    #[error("a retention period runs (until {until}): pass --override-retention to erase anyway (recorded)")]
    RetentionRunning {
        /// When it ends.
        until: String,
    },
    /// The customer's GoPay consent is live.
    #[error("the customer's GoPay consent is live: revoke it at GoPay first (kyc gopay revoke)")]
    GopayConsentLive,
    /// The named provider's keyring has no naming key.
    #[error("the {0} keyring has no namingKey: intake could not recognise the erased person's events (docs/lifecycle.md, Erasure)")]
    NoNamingKey(&'static str),
    /// The drop period is out of bounds.
    #[error("--drop-days must be {MIN_DROP_DAYS} to {MAX_DROP_DAYS}")]
    DropDays,
    /// A legal hold was placed after the tombstones, before anything was deleted.
    #[error("a legal hold was placed while the erasure started: nothing was deleted and its tombstones are lifted; release the hold first (kyc release)")]
    HeldMeanwhile,
    /// A GoPay consent went live after the tombstones, before anything was deleted.
    #[error("a GoPay consent was completed while the erasure started: nothing was deleted and its tombstones are lifted; revoke it at GoPay (kyc gopay revoke), then run kyc erase again")]
    GopayConsentMeanwhile,
    /// The deletion kept changing under the erasure; run it again.
    #[error(
        "the deletion kept changing under the erasure; nothing more was deleted, run it again"
    )]
    Raced,
}

/// Why an erasure did not finish.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// Refused: nothing written.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The lifecycle item could not be read or written.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A tombstone as stored, with the erasure's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredTombstone {
    /// The tombstone.
    pub tombstone: Tombstone,
    /// When the erasure's deletion finished.
    pub completed_at: Option<DateTime<Utc>>,
    /// When the erasure event was sent.
    pub announced_at: Option<DateTime<Utc>>,
    /// Events intake dropped since.
    pub dropped: u64,
}

/// A step of the erasure recorded on the customer's first tombstone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The deletion finished.
    Completed,
    /// The erasure event was sent.
    Announced,
}

/// The `detail` of `KYC customer erased` (schema version 1). No personal data: the bank's own
/// customer id (downstream systems erase their copies by it), times, codes and providers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KycCustomerErased {
    /// The detail's schema version (1).
    pub schema_version: u32,
    /// Stable across retries: the same erasure always gets the same id.
    pub id: String,
    /// The bank's id of the customer.
    pub customer_id: String,
    /// When the customer was erased.
    pub erased_at: DateTime<Utc>,
    /// Why: a code.
    pub reason: String,
    /// True when the erasure overrode a running retention period.
    pub retention_overridden: bool,
    /// The providers whose data was erased.
    pub providers: Vec<Provider>,
    /// Until then, kyc-hooks drops whatever a provider still sends about this customer.
    pub drop_until: DateTime<Utc>,
}

/// Where `KYC customer erased` goes (EventBridge; the twin below).
#[async_trait]
pub trait ErasureEvents: Send + Sync {
    /// Sends the event.
    async fn announce(&self, event: &KycCustomerErased) -> Result<(), StoreError>;
}

/// The in-memory twin of [`ErasureEvents`].
#[derive(Default)]
pub struct MemoryErasureEvents {
    /// The events sent.
    pub sent: Mutex<Vec<KycCustomerErased>>,
    /// Fail this many announcements first (a crash between the deletion and the event).
    pub fail_next: Mutex<u32>,
}

#[async_trait]
impl ErasureEvents for MemoryErasureEvents {
    async fn announce(&self, event: &KycCustomerErased) -> Result<(), StoreError> {
        let mut fail = self.fail_next.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            return Err(StoreError::Unavailable("event bus unavailable".into()));
        }
        self.sent.lock().unwrap().push(event.clone());
        Ok(())
    }
}

/// What an erasure did (or, dry, would do). Counts and codes only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EraseReport {
    /// True when nothing was written.
    pub dry_run: bool,
    /// Finished by an earlier run: only the event was (re)sent if it had not been.
    pub already_erased: bool,
    /// An earlier run had started it: this one finished it.
    pub resumed: bool,
    /// True when the erasure overrode a running retention period.
    pub retention_overridden: bool,
    /// The providers holding a state of the customer (before the erasure).
    pub providers: Vec<Provider>,
    /// Tombstones written (one per provider area).
    pub tombstones: u64,
    /// Event ids whose keyed digests the tombstones keep.
    pub events_named: u64,
    /// Until when intake drops the person's events.
    pub drop_until: Option<DateTime<Utc>>,
    /// Items deleted (or, dry, found), by kind.
    pub items: BTreeMap<String, u64>,
    /// True when the erasure event was sent.
    pub announced: bool,
}

/// The naming keys of the three keyrings.
pub type NamingKeys = BTreeMap<Provider, NamingKey>;

/// The tombstones of a customer: one per provider and the id that provider keeps it under.
pub fn tombstones(
    naming: &NamingKeys,
    snapshot: &Snapshot,
    event_ids: &[(Provider, String)],
    reason: &str,
    now: DateTime<Utc>,
    drop_until: DateTime<Utc>,
) -> Result<Vec<Tombstone>, Refusal> {
    let mut out = Vec::new();
    for p in Provider::ALL {
        let naming = naming.get(&p).ok_or(Refusal::NoNamingKey(p.as_str()))?;
        let Some(subject) = snapshot.provider_ids.get(&p) else {
            continue;
        };
        let (event_digests, events_erased) = erasure::event_digests(
            naming,
            event_ids
                .iter()
                .filter(|(ep, _)| *ep == p)
                .map(|(_, id)| id.as_str()),
        );
        out.push(Tombstone {
            provider: p,
            providers: snapshot.state_versions.keys().copied().collect(),
            partition: erasure::tombstone_pk(p, naming, subject),
            erased_at: now,
            drop_until,
            reason: reason.into(),
            event_digests,
            events_erased,
        });
    }
    Ok(out)
}

/// The checks before anything is written (step 1). A resumed erasure is not checked again:
/// it was when it started, and its tombstones already drop the person's events.
pub fn check(snapshot: &Snapshot, req: &EraseRequest, now: DateTime<Utc>) -> Result<(), Refusal> {
    if snapshot.hold.is_some() {
        return Err(Refusal::Held);
    }
    if !req.override_retention {
        let running = match snapshot.lifecycle.as_ref().filter(|l| l.erasure.is_none()) {
            Some(l) => match l.delete_after {
                Some(after) if after > now => Some(after.to_rfc3339()),
                Some(_) => None,
                // Reopened: the relationship goes on.
                None => snapshot
                    .ever_verified
                    .then(|| "the relationship's end".to_string()),
            },
            None => snapshot
                .ever_verified
                .then(|| "the relationship's end".to_string()),
        };
        if let Some(until) = running {
            return Err(Refusal::RetentionRunning { until });
        }
    }
    if snapshot.gopay_consent_live {
        return Err(Refusal::GopayConsentLive);
    }
    Ok(())
}

/// `kyc erase`.
pub async fn erase(
    store: &dyn LifecycleStore,
    events: &dyn ErasureEvents,
    naming: &NamingKeys,
    req: &EraseRequest,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<EraseReport, EraseError> {
    if !is_code(&req.reason) {
        return Err(LifecycleError::Reason.into());
    }
    if !kyc_core::keys::valid_customer_id(&req.customer) {
        return Err(LifecycleError::End(crate::EndError::CustomerId).into());
    }
    if !(MIN_DROP_DAYS..=MAX_DROP_DAYS).contains(&req.drop_days) {
        return Err(Refusal::DropDays.into());
    }
    for p in Provider::ALL {
        if !naming.contains_key(&p) {
            return Err(Refusal::NoNamingKey(p.as_str()).into());
        }
    }
    let mut report = EraseReport {
        dry_run: req.dry_run,
        ..EraseReport::default()
    };
    // The erasure's own record (`T#<keyed name of the bank's customer id>`, outside every
    // provider's area: no intake reads it): its progress, whatever ids the providers use.
    let first = erasure::progress_pk(&naming[&Provider::Xpollens], &req.customer);
    // A tombstone whose drop period is over is history: the person may have come back, and a
    // new erasure starts afresh.
    let stored = store
        .tombstone(&first)
        .await?
        .filter(|t| t.tombstone.drop_until > now);
    let snapshot = store.snapshot(&req.customer).await?;
    if let Some(done) = stored.as_ref().filter(|t| t.completed_at.is_some()) {
        report.already_erased = true;
        report.drop_until = Some(done.tombstone.drop_until);
        report.retention_overridden = done.tombstone.reason.ends_with(":overrideRetention");
        report.announced = done.announced_at.is_some();
        if !report.announced && !req.dry_run {
            announce(store, events, &req.customer, &first, done, now).await?;
            report.announced = true;
        }
        return Ok(report);
    }
    let resumed = stored.is_some()
        || snapshot
            .lifecycle
            .as_ref()
            .is_some_and(|l| l.erasure.is_some());
    report.resumed = resumed;
    if !resumed {
        check(&snapshot, req, now)?;
    }
    report.providers = snapshot.state_versions.keys().copied().collect();
    let event_ids = store.event_ids(&req.customer).await?;
    report.events_named = event_ids.len() as u64;
    // The tombstone's reason says whether the retention was overridden (the event says it too).
    let without_override = EraseRequest {
        override_retention: false,
        ..req.clone()
    };
    let overridden =
        req.override_retention && !resumed && check(&snapshot, &without_override, now).is_err();
    let tomb_reason = match (&stored, overridden) {
        (Some(t), _) => t.tombstone.reason.clone(),
        (None, true) => format!("{}:overrideRetention", req.reason),
        (None, false) => req.reason.clone(),
    };
    report.retention_overridden = tomb_reason.ends_with(":overrideRetention");
    let drop_until = stored
        .as_ref()
        .map(|t| t.tombstone.drop_until)
        .unwrap_or(now + chrono::Duration::days(i64::from(req.drop_days)));
    report.drop_until = Some(drop_until);
    let erased_at = stored.as_ref().map_or(now, |t| t.tombstone.erased_at);
    let mut graves = tombstones(
        naming,
        &snapshot,
        &event_ids,
        &tomb_reason,
        erased_at,
        drop_until,
    )?;
    report.tombstones = graves.len() as u64;
    // The erasure's record first: a run stopped after it resumes (without re-checking).
    graves.insert(
        0,
        Tombstone {
            provider: Provider::Xpollens,
            providers: snapshot.state_versions.keys().copied().collect(),
            partition: first.clone(),
            erased_at,
            drop_until,
            reason: tomb_reason.clone(),
            event_digests: Vec::new(),
            events_erased: event_ids.len() as u64,
        },
    );
    if req.dry_run {
        report.items = BTreeMap::from([
            ("states".to_string(), snapshot.state_versions.len() as u64),
            ("events".to_string(), event_ids.len() as u64),
        ]);
        return Ok(report);
    }
    // 2. Tombstones first: from here on, nothing new about the person is recorded.
    store.write_tombstones(&graves, now).await?;
    // 3. The deletion, as the sweep does it, under the erasure's rule.
    let mut items: BTreeMap<String, u64> = BTreeMap::new();
    let mut attempts = 0;
    loop {
        attempts += 1;
        if attempts > 5 {
            return Err(Refusal::Raced.into());
        }
        let snapshot = store.snapshot(&req.customer).await?;
        // Read again after the tombstones: a hold or a GoPay consent that landed between the
        // checks and the tombstones. While nothing is committed for deletion, the erasure steps
        // back whole (tombstones lifted, its record last), so no person's events are dropped
        // for an erasure that will not happen. (The consent's side reads the tombstone after
        // storing its tokens: one of the two sees the other, `gopay::consent_endpoint`.)
        let committed = snapshot
            .lifecycle
            .as_ref()
            .is_some_and(|l| l.erasure.is_some() || l.deleting.is_some());
        if !committed && (snapshot.hold.is_some() || snapshot.gopay_consent_live) {
            let partitions: Vec<String> =
                graves.iter().rev().map(|t| t.partition.clone()).collect();
            store.lift_tombstones(&partitions).await?;
            return Err(if snapshot.hold.is_some() {
                Refusal::HeldMeanwhile
            } else {
                Refusal::GopayConsentMeanwhile
            }
            .into());
        }
        if snapshot.hold.is_some() {
            return Err(Refusal::Held.into());
        }
        let lifecycle = match &snapshot.lifecycle {
            Some(l) if l.deleting.is_some() => l.clone(),
            Some(l) if l.erasure.is_some() => l.clone(),
            read => {
                let l = erasure_lifecycle(
                    &req.customer,
                    read.as_ref(),
                    &snapshot,
                    &tomb_reason,
                    drop_until,
                    now,
                );
                let action = BankAction {
                    at: now,
                    action: ERASURE_STARTED.into(),
                    operator: operator.into(),
                    reason: req.reason.clone(),
                    detail: json!({"retentionOverridden": report.retention_overridden,
                                   "dropUntil": drop_until}),
                };
                // Written or superseded, the next turn reads it again.
                store
                    .write_lifecycle(&l, read.as_ref().map_or(0, |r| r.version), &action)
                    .await?;
                continue;
            }
        };
        let deleting = match &lifecycle.deleting {
            Some(d) => d.clone(),
            None => {
                if store
                    .commit_deletion(&req.customer, &snapshot, operator, now)
                    .await?
                    == Written::Superseded
                {
                    continue;
                }
                match store
                    .snapshot(&req.customer)
                    .await?
                    .lifecycle
                    .and_then(|l| l.deleting)
                {
                    Some(d) => d,
                    None => continue,
                }
            }
        };
        for (kind, n) in store.finish_deletion(&req.customer, &deleting).await? {
            *items.entry(kind).or_default() += n;
        }
        break;
    }
    report.items = items;
    // 4. Complete, then announce.
    for t in &graves {
        store
            .mark_tombstone(&t.partition, Mark::Completed, now)
            .await?;
    }
    let done = store
        .tombstone(&first)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the erasure's tombstone vanished".into()))?;
    announce(store, events, &req.customer, &first, &done, now).await?;
    report.announced = true;
    tracing::info!(
        tombstones = report.tombstones,
        resumed = report.resumed,
        retention_overridden = report.retention_overridden,
        "customer erased"
    );
    Ok(report)
}

/// The lifecycle item that carries the erasure (and puts it on the due index at once, so a
/// crashed run is also finished by the sweep).
fn erasure_lifecycle(
    customer: &str,
    read: Option<&Lifecycle>,
    snapshot: &Snapshot,
    rule: &str,
    drop_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Lifecycle {
    let overridden = rule.ends_with(":overrideRetention");
    let reason = rule.trim_end_matches(":overrideRetention").to_string();
    Lifecycle {
        customer_id: customer.into(),
        ended_on: read.map_or(now.date_naive(), |l| l.ended_on),
        outcome: read.map_or(
            if snapshot.ever_verified {
                Outcome::Customer
            } else {
                Outcome::RefusedApplicant
            },
            |l| l.outcome,
        ),
        delete_after: Some(now),
        rule: format!("erasure:{rule}"),
        recorded_at: now,
        state_versions: snapshot.state_versions.clone(),
        version: read.map_or(0, |l| l.version) + 1,
        deleting: None,
        objects: BTreeMap::new(),
        erasure: Some(Erasure {
            reason,
            retention_overridden: overridden,
            requested_at: now,
            drop_until,
        }),
    }
}

async fn announce(
    store: &dyn LifecycleStore,
    events: &dyn ErasureEvents,
    customer: &str,
    first: &str,
    done: &StoredTombstone,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let reason = done.tombstone.reason.clone();
    let event = KycCustomerErased {
        schema_version: 1,
        id: sha256_hex(
            format!("erased\n{first}\n{}", done.tombstone.erased_at.to_rfc3339()).as_bytes(),
        ),
        customer_id: customer.into(),
        erased_at: done.completed_at.unwrap_or(now),
        retention_overridden: reason.ends_with(":overrideRetention"),
        reason: reason.trim_end_matches(":overrideRetention").into(),
        providers: done.tombstone.providers.clone(),
        drop_until: done.tombstone.drop_until,
    };
    events.announce(&event).await?;
    store.mark_tombstone(first, Mark::Announced, now).await
}

#[cfg(test)]
mod tests;

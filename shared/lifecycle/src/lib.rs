//! The compliance lifecycle of a customer's KYC data (`docs/lifecycle.md`).
//!
//! - [`retention`]: how long after the relationship's end the evidence is kept, per outcome
//!   (bounded settings; AML's five years for customers by default).
//! - [`Lifecycle`]: the one item per customer (`C#<c>` / `LIFECYCLE`) that holds the end date,
//!   the outcome and `deleteAfter` (on the due index `DELETE#<shard>`), and the provider state
//!   versions seen when the end was recorded.
//! - [`verdict`]: pure — delete a due customer, or keep it (held, a provider event since the
//!   end, a GoPay consent still live, not due).
//! - [`store`]: the port (snapshot, record the end, hold, due customers, conditional deletion),
//!   its in-memory twin, and [`store::sweep`], the scheduled run. DynamoDB adapter in [`aws`]
//!   (feature `aws`).
//!
//! Deletion can never hit an active customer: the sweep deletes only in one transaction that
//! re-checks, at the moment it commits, that the lifecycle item is the one it read, that no
//! hold exists and that no provider state changed (each state's `version`); a callback during
//! the sweep makes it fail whole and the customer is kept. Nothing here holds personal data:
//! ids, dates, codes and counts.

#![warn(missing_docs)]

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

#[cfg(feature = "aws")]
pub mod aws;
pub mod endpoint;
pub mod erase;
pub mod retention;
pub mod store;

use chrono::{DateTime, NaiveDate, Utc};
use kyc_core::bank::BankAction;
use kyc_core::intake::Provider;
use retention::{Outcome, Retention};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// Bank actions of the lifecycle (in the customer's history, with the operator's identity).
pub const RELATIONSHIP_ENDED: &str = "relationshipEnded";
/// See [`RELATIONSHIP_ENDED`]: the relationship goes on after a recorded end.
pub const RELATIONSHIP_REOPENED: &str = "relationshipReopened";
/// See [`RELATIONSHIP_ENDED`]: a legal hold placed.
pub const LEGAL_HOLD: &str = "legalHold";
/// See [`RELATIONSHIP_ENDED`]: a legal hold released.
pub const LEGAL_HOLD_RELEASED: &str = "legalHoldReleased";

/// The lifecycle item of one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    /// The bank's id of the customer.
    pub customer_id: String,
    /// The day the relationship ended (or the applicant was refused), as the bank says.
    pub ended_on: NaiveDate,
    /// Customer or refused applicant: which retention applies.
    pub outcome: Outcome,
    /// When the sweep may delete the customer's data (`None`: the relationship was reopened).
    pub delete_after: Option<DateTime<Utc>>,
    /// The retention rule that set `delete_after` (for the deletion record).
    pub rule: String,
    /// When the end was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Each provider state's `version` when the end was recorded (absent: no state): a later
    /// one means a provider event since, and the relationship is not over.
    pub state_versions: BTreeMap<Provider, i64>,
    /// +1 per write of the item: every write is conditional on the one read.
    pub version: i64,
    /// Set once the sweep committed a deletion (the run that crashed resumes from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleting: Option<Deleting>,
    /// Set when the deletion is an erasure (`kyc erase`), not the end of a retention period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure: Option<Erasure>,
    /// The customer's object versions in S3 when the end was recorded, by provider (the
    /// retention report counts them from the due index).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub objects: BTreeMap<Provider, u64>,
}

/// An erasure under way (`kyc erase`): why, and whether it overrode a running retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Erasure {
    /// Why: a code.
    pub reason: String,
    /// True when it overrides a running retention period.
    pub retention_overridden: bool,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// Intake drops the customer's events until then (its tombstones).
    pub drop_until: DateTime<Utc>,
}

/// A deletion committed and not yet finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleting {
    /// When the deletion was committed.
    pub since: DateTime<Utc>,
    /// The deletion record's id (`D#<day>` / `<t>#<id>`).
    pub record_id: String,
    /// The customer's objects, found at the commit (the items that name them go first): a
    /// resumed run still knows them.
    #[serde(default)]
    pub objects: Vec<ObjectRef>,
}

/// An object of the customer in S3 (every version of it goes), or every object under a
/// prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// Whose data it is (the retention report counts objects by provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// The bucket.
    pub bucket: String,
    /// The object's key (or the prefix).
    pub key: String,
    /// `key` is a prefix: every object under it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prefix: bool,
}

/// A legal hold (`C#<c>` / `HOLD`): blocks the sweep and erasure until released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    /// Why: a code.
    pub reason: String,
    /// When it was placed.
    pub at: DateTime<Utc>,
}

/// The relationship's end, as core banking (or an operator) states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationshipEnd {
    /// The bank's id of the customer.
    pub customer: String,
    /// The day it ended.
    pub on: NaiveDate,
    /// Customer or refused applicant.
    pub outcome: Outcome,
}

/// Why a relationship's end cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndError {
    /// The customer id is not an id.
    #[error("customer id must be 1 to 1,024 characters")]
    CustomerId,
    /// The end date is in the future.
    #[error("the end date is in the future")]
    InTheFuture,
    /// The end date is before 2000-01-01.
    #[error("the end date is before 2000-01-01")]
    TooOld,
    /// A legal hold or a deletion under way.
    #[error("a legal hold or a deletion under way: the end cannot be recorded now")]
    Deleting,
}

impl RelationshipEnd {
    /// Checks the message and computes the lifecycle item it records (`previous`: the item
    /// read, whose version the write is conditional on).
    pub fn lifecycle(
        &self,
        retention: &Retention,
        state_versions: BTreeMap<Provider, i64>,
        previous: Option<&Lifecycle>,
        now: DateTime<Utc>,
    ) -> Result<Lifecycle, EndError> {
        if !kyc_core::keys::valid_customer_id(&self.customer) {
            return Err(EndError::CustomerId);
        }
        if self.on > now.date_naive() {
            return Err(EndError::InTheFuture);
        }
        if self.on < NaiveDate::from_ymd_opt(2000, 1, 1).expect("a date") {
            return Err(EndError::TooOld);
        }
        if previous.is_some_and(|p| p.deleting.is_some()) {
            return Err(EndError::Deleting);
        }
        Ok(Lifecycle {
            customer_id: self.customer.clone(),
            ended_on: self.on,
            outcome: self.outcome,
            delete_after: Some(retention.delete_after(self.on, self.outcome)),
            rule: retention.rule(self.outcome),
            recorded_at: now,
            state_versions,
            version: previous.map_or(0, |p| p.version) + 1,
            deleting: None,
            erasure: None,
            objects: BTreeMap::new(),
        })
    }

    /// The bank action that records it.
    pub fn action(&self, operator: &str, at: DateTime<Utc>) -> BankAction {
        BankAction {
            at,
            action: RELATIONSHIP_ENDED.into(),
            operator: operator.into(),
            reason: self.outcome.as_str().into(),
            detail: json!({"endedOn": self.on, "outcome": self.outcome}),
        }
    }
}

/// Why the sweep keeps a due customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Keep {
    /// No end recorded, reopened, or not due yet.
    NotDue,
    /// A legal hold applies.
    Held,
    /// A provider state changed since the end was recorded: the relationship is not over
    /// (the sweep clears the date).
    ProviderEventSince(Provider),
    /// The customer's GoPay consent is live: revoke it at GoPay first (`kyc gopay revoke`),
    /// deleting our tokens alone would leave GoPay's consent in place.
    GopayConsentLive,
}

/// What the sweep does with a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Delete the customer's data now.
    Delete,
    /// A deletion was committed and did not finish: finish it.
    Resume,
    /// Keep it, for this reason.
    Keep(Keep),
}

/// What the sweep knows of a customer right now (read strongly consistent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The lifecycle item, if any.
    pub lifecycle: Option<Lifecycle>,
    /// The legal hold, if any.
    pub hold: Option<Hold>,
    /// Each provider state's current `version` (absent: no state).
    pub state_versions: BTreeMap<Provider, i64>,
    /// True when the customer's GoPay consent is live.
    pub gopay_consent_live: bool,
    /// Under which id each provider keeps the customer's data (its own id, or the one the
    /// bank aliased to it); a provider whose own id is another customer's alias is absent.
    pub provider_ids: BTreeMap<Provider, String>,
    /// The customer's decision was `verified` at some point: anti-money-laundering retention
    /// applies (an erasure must wait for the end of it, or override it, recorded).
    pub ever_verified: bool,
}

/// The sweep's rule (pure).
pub fn verdict(s: &Snapshot, now: DateTime<Utc>) -> Verdict {
    let Some(l) = &s.lifecycle else {
        return Verdict::Keep(Keep::NotDue);
    };
    if l.deleting.is_some() {
        return Verdict::Resume;
    }
    if s.hold.is_some() {
        return Verdict::Keep(Keep::Held);
    }
    if l.delete_after.is_none_or(|d| d > now) {
        return Verdict::Keep(Keep::NotDue);
    }
    let changed = Provider::ALL.into_iter().find(|p| {
        s.state_versions.get(p).copied().unwrap_or(0)
            > l.state_versions.get(p).copied().unwrap_or(0)
    });
    if let Some(p) = changed {
        return Verdict::Keep(Keep::ProviderEventSince(p));
    }
    if s.gopay_consent_live {
        return Verdict::Keep(Keep::GopayConsentLive);
    }
    Verdict::Delete
}

#[cfg(test)]
mod tests;

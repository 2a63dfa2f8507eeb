//! How long KYC evidence is kept after the relationship ends, per outcome.
//!
//! The rule a bank follows (AML directive (EU) 2015/849, art. 40; French CMF L.561-12): the
//! customer due diligence evidence is kept **five years after the end of the business
//! relationship** (or after an occasional transaction / a refused onboarding), then deleted.
//! Refused applicants may have a shorter period under the bank's own policy. Both periods are
//! template parameters, bounded here so a typo cannot delete evidence early (or keep it for
//! ever).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// How the relationship ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// A customer whose business relationship ended.
    Customer,
    /// An applicant the bank refused (never became a customer).
    RefusedApplicant,
}

impl Outcome {
    /// Both outcomes.
    pub const ALL: [Outcome; 2] = [Outcome::Customer, Outcome::RefusedApplicant];

    /// The outcome's name in messages and items (`customer`, `refusedApplicant`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Customer => "customer",
            Outcome::RefusedApplicant => "refusedApplicant",
        }
    }

    /// The outcome of that name ([`Outcome::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Retention periods in days after the relationship's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// For customers.
    pub customer_days: u32,
    /// For refused applicants.
    pub refused_applicant_days: u32,
}

/// A retention period out of its bounds (fails the start-up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    /// The setting is out of its bounds.
    #[error("{name} must be between {} and {} days, got {got}", range.start(), range.end())]
    OutOfBounds {
        /// The setting.
        name: &'static str,
        /// Its bounds, in days.
        range: RangeInclusive<u32>,
        /// The value given.
        got: u32,
    },
}

impl Retention {
    /// Customers: five years by default (1,827 days covers two leap days), one to ten years.
    pub const CUSTOMER_DAYS: RangeInclusive<u32> = 365..=3653;
    /// See [`Retention::CUSTOMER_DAYS`]: the default.
    pub const DEFAULT_CUSTOMER_DAYS: u32 = 1827;
    /// Refused applicants: a shorter period a bank may choose, 30 days to five years.
    pub const REFUSED_APPLICANT_DAYS: RangeInclusive<u32> = 30..=1827;
    /// See [`Retention::REFUSED_APPLICANT_DAYS`]: the default.
    pub const DEFAULT_REFUSED_APPLICANT_DAYS: u32 = 365;

    /// Bounded periods (template parameters `RetentionCustomerDays`,
    /// `RetentionRefusedApplicantDays`; refused at start-up when out of bounds).
    pub fn new(customer_days: u32, refused_applicant_days: u32) -> Result<Self, RetentionError> {
        for (name, range, got) in [
            (
                "RETENTION_CUSTOMER_DAYS",
                Self::CUSTOMER_DAYS,
                customer_days,
            ),
            (
                "RETENTION_REFUSED_APPLICANT_DAYS",
                Self::REFUSED_APPLICANT_DAYS,
                refused_applicant_days,
            ),
        ] {
            if !range.contains(&got) {
                return Err(RetentionError::OutOfBounds { name, range, got });
            }
        }
        Ok(Self {
            customer_days,
            refused_applicant_days,
        })
    }

    /// The period for `outcome`, in days.
    pub fn days(&self, outcome: Outcome) -> u32 {
        match outcome {
            Outcome::Customer => self.customer_days,
            Outcome::RefusedApplicant => self.refused_applicant_days,
        }
    }

    /// The start of the day after `ended_on` + the period (UTC): the evidence is kept for
    /// whole days.
    pub fn delete_after(&self, ended_on: NaiveDate, outcome: Outcome) -> DateTime<Utc> {
        let day = ended_on + Duration::days(i64::from(self.days(outcome)) + 1);
        day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
    }

    /// The rule's name, as deletion records state it (`retention:customer:1827d`).
    pub fn rule(&self, outcome: Outcome) -> String {
        format!("retention:{}:{}d", outcome.as_str(), self.days(outcome))
    }
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            customer_days: Self::DEFAULT_CUSTOMER_DAYS,
            refused_applicant_days: Self::DEFAULT_REFUSED_APPLICANT_DAYS,
        }
    }
}

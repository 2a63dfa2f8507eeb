//! GoPay identification service: payloads, tokens and polling rules. No AWS types outside `aws`.
//!
//! Reference: `shared/reference/gopay/identification-api.cs.txt` (Czech) and the GoPay
//! section of `PROVIDERS.md`. Everything here is free of I/O and clocks: callers pass `now`
//! and, where randomness is involved, a random source.
//!
//! - [`time`]: GoPay's zone-less `yyyy-mm-dd HH:MM:SS.mmm` dates (assumed Europe/Prague).
//! - [`identification`]: the identification-status response, its redacted normalized view
//!   and the rule for "this poll is a history event".
//! - [`tokens`]: app/client token responses, `/api/token` and `/api/revoke` form bodies,
//!   error bodies and the classification of a failed token call.
//! - [`consent`]: configured hosts and endpoint URLs, the consent URL, the single-use
//!   `state`, the callback query.
//! - [`schedule`]: next-due times, backoff with full jitter, access-token refresh margin,
//!   leases and the Lambda-deadline rule.
//! - [`prefill`]: the `/api/prefill-client-data` body (personal data) and its answer.
//! - [`settings`]: what both GoPay functions read from their environment.
//!
//! Orchestration over traits (still free of AWS and Lambda types; adapters in `aws`, feature
//! `aws`, and its reqwest transport `aws::http`, feature `http`):
//! [`client`] (transport trait + typed calls), [`store`] (profiles, states, leases, token
//! rescue), [`plan`] (history write plans), [`consent_endpoint`] (the consent function's
//! HTTP rules) and [`sync`] (one scheduled run).
//!
//! Secrets (tokens, codes, `state`) are [`kyc_core::redact::Secret`]; personal data is
//! [`kyc_core::redact::Personal`]. Neither prints its value through `Debug`, `Display` or
//! `Serialize`; the one error type, [`GoPayError`], never carries either.

#![warn(missing_docs)]

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

pub mod admin;
#[cfg(feature = "aws")]
pub mod aws;
pub mod client;
pub mod consent;
pub mod consent_endpoint;
pub mod error;
pub mod identification;
pub mod identity_match;
pub mod memory;
pub mod plan;
pub mod prefill;
pub mod schedule;
pub mod settings;
pub mod store;
pub mod sync;
pub mod time;
pub mod tokens;

pub use error::{CallbackDefect, GoPayError, StateRejection};
pub use identification::{ClientProfileId, IdentificationState, IdentificationStatus, Reason};

/// The provider name used in events and normalized views.
pub const PROVIDER: &str = "gopay";

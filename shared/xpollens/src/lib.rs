//! Xpollens callbacks: lenient parsing of what the provider really sends, canonical statuses,
//! and its date formats; what they write, and the API the fallback-queue drain calls. No AWS
//! types.
//!
//! Where things are:
//! - `callbacks`, `lenient`, `status`, `dates`, `forms`: parsing. New callback type:
//!   `callbacks.rs`.
//! - `plan`: a parsed callback as durable-intake writes; `delivery`: recording one delivery.
//! - `endpoint`: the callback endpoint (authentication, answers), free of Lambda types.
//! - `api`, `queue`, `drain`: the Xpollens API (token, fallback queue) and one drain run;
//!   `http`: its reqwest transport (feature `http`).
//! - `replay`: `kyc replay xpollens`.

#![warn(missing_docs)]

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

pub mod api;
pub mod callbacks;
pub mod dates;
pub mod delivery;
pub mod drain;
pub mod endpoint;
pub mod forms;
#[cfg(feature = "http")]
pub mod http;
pub mod lenient;
pub mod plan;
pub mod queue;
pub mod replay;
pub mod status;

#[cfg(test)]
mod kyc_state_tests;

pub use callbacks::{parse_callback, Callback, CallbackError, CallbackKind};

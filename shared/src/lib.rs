//! kyc-hooks shared crate: provider parsing and state rules (pure), the durable-intake
//! mechanism, and the AWS adapters behind small traits.
//!
//! Where things are:
//! - `xpollens`: Xpollens callbacks (parsing, statuses, dates, write plans). New callback
//!   type: `xpollens/callbacks.rs`.
//! - `kyc_state`: the state rules (order keys, sticky finals).
//! - `intake`: events, write plans, the `EventStore` trait.
//! - `crypto`, `redact`: sealing secrets, redacting by construction.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

pub mod auth;
#[cfg(feature = "aws")]
pub mod aws;
pub mod callback_auth;
pub mod config;
pub mod crypto;
pub mod downstream;
pub mod http;
pub mod intake;
pub mod invocation;
pub mod ip_allow;
pub mod kyc_state;
pub mod metrics;
pub mod redact;
#[cfg(all(feature = "trust_sign", feature = "gopay"))]
pub mod reseal;
pub mod secrets;
pub mod xpollens;

// Re-exported so function crates and tests share the exact versions.
#[cfg(feature = "eventbridge")]
pub use aws_sdk_eventbridge;
pub use chrono;
#[cfg(feature = "aws")]
pub use {aws_config, aws_sdk_dynamodb, aws_sdk_s3, aws_sdk_secretsmanager};

#[cfg(feature = "trust_sign")]
pub mod trust_sign;

#[cfg(feature = "gopay")]
pub mod gopay;

//! kyc-hooks core: what every function and provider crate shares. Pure rules and small traits,
//! free of AWS types (adapters in kyc-aws) and of any provider (kyc-xpollens, kyc-trust-sign,
//! kyc-gopay).
//!
//! Where things are:
//! - `kyc_state`: the state rules (order keys, sticky finals), a customer's state as JSON.
//! - `intake`: events, write plans, the `EventStore` trait.
//! - `keys`: every DynamoDB key (provider-scoped areas, escaped ids); `legacy_keys`: the layout
//!   before, read only while a deployed table moves (`docs/table-design.md`).
//! - `crypto`, `redact`: sealing secrets, redacting by construction.
//! - `auth`, `callback_auth`, `ip_allow`: who may call an endpoint.
//! - `config`, `secrets`, `invocation`, `metrics`: a function's settings, secrets, failure
//!   kinds and metrics.
//! - `http`: the endpoints' plain request and answer types; API Gateway's (feature `lambda`);
//!   the outgoing client of the providers' HTTP adapters (feature `http-client`).

#![warn(missing_docs)]

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

pub mod auth;
pub mod bank;
pub mod callback_auth;
pub mod checkpoint_file;
pub mod config;
pub mod crypto;
pub mod erasure;
pub mod evidence;
pub mod http;
pub mod iam_route;
pub mod intake;
pub mod invocation;
pub mod ip_allow;
pub mod keys;
pub mod kyc_state;
pub mod legacy_keys;
pub mod metrics;
pub mod redact;
pub mod secrets;

// Re-exported so function crates and tests share the exact version.
pub use chrono;

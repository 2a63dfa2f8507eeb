//! GoPay's rules through the crate's public API, one module per area, in one test binary.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
kyc_test_log::install!();

mod auth;
mod identification;
mod schedule;

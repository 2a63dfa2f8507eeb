//! The integration tests, one module per area, in one test binary: the AWS SDK and every
//! function are linked once. Each test that needs AWS starts its own moto server
//! (`kyc_integration_tests::Moto`), so tests of every module run side by side.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
kyc_test_log::install!();

mod cold_start;
mod contract;
mod decision;
mod downstream;
mod encryption_at_rest;
mod erasure;
mod evidence;
mod fault_matrix;
mod gopay_consent;
mod gopay_sync;
mod key_migration;
mod lifecycle;
mod openapi;
mod reseal;
mod settings_bounds;
mod state_diagrams;
mod table_schema;
mod template_checks;
mod trust_sign_archive;
mod trust_sign_failure_record;
mod xpollens_drain;
mod xpollens_intake;

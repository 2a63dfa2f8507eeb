//! The `kyc` command's tests, one module per command area, in one test binary: every test binary
//! links the AWS SDK, and one links in a fraction of the time of twelve.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
kyc_test_log::install!();

mod common;

mod decision;
mod inspect;
mod inspect_gopay;
mod keys;
mod lifecycle;
mod publish;
mod replay;
mod report;
mod reseal;
mod tree;
mod trust_sign;
mod verify;

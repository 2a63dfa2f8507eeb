//! Evidence an auditor can check (`docs/evidence.md`): a history nobody can rewrite unseen.
//!
//! - [`merkle`]: the tree of an hour's leaves, its root and inclusion proofs (pure).
//! - [`leaf`]: what a sealed hour keeps of an entry — a keyed hash of its keys under its
//!   customer's salt, a hash of its content (sealed values hashed as a marker: `kyc reseal`
//!   changes no leaf).
//! - [`seal`]: the hourly run (ports [`seal::HistorySource`], [`seal::DigestStore`], their
//!   twins in [`twin`]): every hour that ended long enough ago, in order, chained.
//! - [`verify`]: the history now against the sealed hours; the bank's deletions explained.
//! - `aws` (feature `aws`): the table through its hour index, the Object Lock bucket.

#![warn(missing_docs)]

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

#[cfg(feature = "aws")]
pub mod aws;
pub mod export;
pub mod leaf;
pub mod merkle;
pub mod seal;
pub mod twin;
pub mod verify;

#[cfg(test)]
mod tests;

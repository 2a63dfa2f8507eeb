//! kyc-hooks shared crate: provider parsing and state rules (pure), the durable-intake
//! mechanism, and the AWS adapters behind small traits.

pub mod redact;

#[cfg(feature = "trust_sign")]
pub mod trust_sign;

#[cfg(feature = "gopay")]
pub mod gopay;

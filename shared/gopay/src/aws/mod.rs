//! The AWS adapters of GoPay's ports: DynamoDB and S3 ([`store`]); the reqwest transport
//! ([`http`], feature `http`).

#[cfg(feature = "http")]
pub mod http;
pub mod store;

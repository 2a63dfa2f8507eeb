//! The AWS adapters of the downstream ports: the read API's history pages on DynamoDB
//! ([`history_pages`]); the state-change events on EventBridge ([`eventbridge`], feature
//! `eventbridge`).

#[cfg(feature = "eventbridge")]
pub mod eventbridge;
pub mod history_pages;

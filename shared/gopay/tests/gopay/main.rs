//! GoPay's rules through the crate's public API, one module per area, in one test binary.

mod auth;
mod identification;
mod schedule;

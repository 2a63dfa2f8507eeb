//! The GoPay simulator: its contract with the product's GoPay code, and its HTTP surface, in one
//! test binary.

mod contract;
mod http;

//! The simulator's contract with the product's GoPay code, and its HTTP surface.

mod contract;
mod http;

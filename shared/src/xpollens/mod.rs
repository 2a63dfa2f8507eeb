//! Xpollens callbacks: lenient parsing of what the provider really sends, canonical statuses,
//! and its date formats. Pure: no I/O, no AWS types.

pub mod api;
pub mod callbacks;
pub mod dates;
pub mod delivery;
pub mod drain;
pub mod endpoint;
pub mod lenient;
pub mod plan;
pub mod queue;
pub mod replay;
pub mod status;

pub use callbacks::{parse_callback, Callback, CallbackError, CallbackKind};

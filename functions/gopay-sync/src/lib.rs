//! Wiring of the gopay-sync Lambda (being built).

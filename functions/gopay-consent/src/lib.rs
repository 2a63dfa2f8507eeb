//! Wiring of the gopay-consent Lambda (being built).

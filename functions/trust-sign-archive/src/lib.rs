//! Wiring of the trust-sign-archive Lambda (being built).

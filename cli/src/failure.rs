//! Why a command failed, and the exit code that tells an operator's script what to do next:
//! 1 bad input (fix it, do not retry), 2 usage (clap's own code), 3 transient (run it again).

use kyc_core::crypto::KeyringError;
use kyc_core::intake::StoreError;
use kyc_core::secrets::SecretError;
use kyc_gopay::admin::AdminError;
use std::fmt::Display;
use std::process::ExitCode;

/// A command line that cannot be parsed (nothing was done).
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_BAD_INPUT: u8 = 1;
pub const EXIT_TRANSIENT: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A file, an argument or the named customer is wrong: the same command fails again.
    #[error("{0}")]
    BadInput(String),
    /// AWS (or the provider) did not answer, or not conclusively: nothing was lost and the
    /// same command may succeed later.
    #[error("{0}")]
    Transient(String),
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::BadInput(_) => EXIT_BAD_INPUT,
            Failure::Transient(_) => EXIT_TRANSIENT,
        })
    }
}

/// An AWS call that failed, with what was being done.
pub fn transient(doing: &str, e: impl Display) -> Failure {
    Failure::Transient(format!("{doing}: {e}"))
}

impl From<String> for Failure {
    fn from(why: String) -> Self {
        Failure::BadInput(why)
    }
}

impl From<&str> for Failure {
    fn from(why: &str) -> Self {
        Failure::BadInput(why.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Failure::Transient(e.to_string()),
            StoreError::Refused(_) | StoreError::Corrupt(_) => Failure::BadInput(e.to_string()),
        }
    }
}

impl From<SecretError> for Failure {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Unavailable(_) => Failure::Transient(e.to_string()),
            SecretError::Invalid { .. } => Failure::BadInput(e.to_string()),
        }
    }
}

/// A keyring secret that does not parse, or holds one key id twice: fix the secret.
impl From<KeyringError> for Failure {
    fn from(e: KeyringError) -> Self {
        Failure::BadInput(e.to_string())
    }
}

/// Errors that only ever describe bad input (an argument, a file, a secret's shape): the same
/// command fails again until it is fixed.
macro_rules! bad_input {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::BadInput(e.to_string())
            }
        }
    )*};
}

bad_input!(
    kyc_trust_sign::plan::BadLinkKey,
    kyc_trust_sign::plan::RevealError,
    kyc_trust_sign::processor::OverlappingPrefix,
    crate::trust_sign::BadS3Url,
    kyc_xpollens::replay::EventFormError,
    kyc_core::secrets::ClientSecretError,
);

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        if e.is_transient() {
            Failure::Transient(e.to_string())
        } else {
            Failure::BadInput(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_store_is_transient_and_a_corrupt_item_is_not() {
        let down = Failure::from(StoreError::Unavailable("timeout".into()));
        assert!(matches!(down, Failure::Transient(_)));
        assert_eq!(down.exit_code(), ExitCode::from(EXIT_TRANSIENT));
        let corrupt = Failure::from(StoreError::Corrupt("bad item".into()));
        assert_eq!(corrupt.exit_code(), ExitCode::from(EXIT_BAD_INPUT));
    }

    /// Arguments, files and secret shapes that are wrong fail the same way again: exit 1
    /// (fix it), never 3 (run it again).
    #[test]
    fn malformed_arguments_and_secrets_are_bad_input() {
        use kyc_core::secrets::ClientSecretError;
        use kyc_trust_sign::processor::OverlappingPrefix;
        use kyc_xpollens::replay::EventFormError;
        for failure in [
            Failure::from(crate::trust_sign::BadS3Url::NoBucket),
            Failure::from(ClientSecretError::Missing("clientSecret")),
            Failure::from(OverlappingPrefix {
                name: "QUARANTINE_PREFIX",
            }),
            Failure::from(EventFormError::BodyNotBase64),
        ] {
            assert_eq!(
                failure.exit_code(),
                ExitCode::from(EXIT_BAD_INPUT),
                "{failure}"
            );
        }
    }
}

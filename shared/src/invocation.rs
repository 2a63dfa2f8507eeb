//! What a function returns to the Lambda runtime when an invocation fails: retryable or
//! permanent, visible in the type, in the message (`retryable: ...` / `permanent: ...`) and in
//! the `errorType` the runtime reports (`KycHooks.Retryable` / `KycHooks.Permanent`), so the
//! failure destination's reader and the logs tell a dependency outage from an input that no
//! retry can fix. Messages carry no secret, key or customer data (the sources' errors do not).

/// A failed invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvocationError {
    /// A dependency was unavailable (store, bucket, secret store, provider API): the same
    /// input may succeed later; Lambda's retries and the failure destination take it.
    #[error("retryable: {0}")]
    Retryable(String),
    /// Retrying the same input cannot help (malformed event, unusable setting or secret).
    #[error("permanent: {0}")]
    Permanent(String),
}

impl InvocationError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, InvocationError::Retryable(_))
    }

    /// The `errorType` reported to the Lambda runtime.
    pub fn error_type(&self) -> &'static str {
        match self {
            InvocationError::Retryable(_) => "KycHooks.Retryable",
            InvocationError::Permanent(_) => "KycHooks.Permanent",
        }
    }
}

impl From<crate::downstream::BatchError> for InvocationError {
    fn from(e: crate::downstream::BatchError) -> Self {
        // No retry makes a record without sequence number readable.
        InvocationError::Permanent(e.to_string())
    }
}

#[cfg(feature = "trust_sign")]
impl From<crate::trust_sign::processor::Transient> for InvocationError {
    fn from(e: crate::trust_sign::processor::Transient) -> Self {
        InvocationError::Retryable(e.0)
    }
}

#[cfg(feature = "gopay")]
impl From<crate::gopay::sync::SyncError> for InvocationError {
    fn from(e: crate::gopay::sync::SyncError) -> Self {
        use crate::gopay::sync::SyncError;
        match e {
            SyncError::Settings(_) => InvocationError::Permanent(e.to_string()),
            SyncError::Secret(_) | SyncError::Store(_) => InvocationError::Retryable(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_shows_in_the_message_and_the_error_type() {
        let r = InvocationError::Retryable("store unavailable: timeout".into());
        assert_eq!(r.to_string(), "retryable: store unavailable: timeout");
        assert_eq!(r.error_type(), "KycHooks.Retryable");
        assert!(r.is_retryable());
        let p: InvocationError =
            crate::downstream::BatchError::Malformed("no Records array").into();
        assert_eq!(
            p.to_string(),
            "permanent: stream event is malformed: no Records array"
        );
        assert_eq!(p.error_type(), "KycHooks.Permanent");
        assert!(!p.is_retryable());
    }

    #[cfg(feature = "gopay")]
    #[test]
    fn unsafe_sync_settings_are_permanent_and_outages_retryable() {
        use crate::gopay::sync::SyncError;
        assert!(!InvocationError::from(SyncError::Settings("lease".into())).is_retryable());
        assert!(InvocationError::from(SyncError::Store("down".into())).is_retryable());
        assert!(InvocationError::from(SyncError::Secret("down".into())).is_retryable());
    }

    #[cfg(feature = "trust_sign")]
    #[test]
    fn a_transient_archive_failure_is_retryable() {
        let e: InvocationError =
            crate::trust_sign::processor::Transient("record 0: S3".into()).into();
        assert_eq!(e, InvocationError::Retryable("record 0: S3".into()));
    }
}

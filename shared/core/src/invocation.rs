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
    /// True when Lambda should retry the same input.
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

//! The one error type of the GoPay module.
//!
//! No variant holds a token, a code, a `state` or personal data: only field names, fixed
//! reasons and positions. JSON errors keep serde's category and position but not its message,
//! because serde's message can quote the offending value (a birth number, a token...).

use thiserror::Error;

/// Everything that can go wrong in the pure GoPay layer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GoPayError {
    /// The bytes are not the JSON we expect (syntax, EOF or a wrong top-level type).
    #[error("{context}: invalid JSON ({category} error at line {line}, column {column})")]
    Json {
        /// What was being read.
        context: &'static str,
        /// serde_json's category of the error.
        category: &'static str,
        /// The line of the error.
        line: usize,
        /// The column of the error.
        column: usize,
    },
    /// A JSON document is valid but is not an object where one is required.
    #[error("{context}: expected a JSON object")]
    NotAnObject {
        /// What was being read.
        context: &'static str,
    },
    /// A field we cannot do without is absent, null or empty.
    #[error("{context}: missing field `{field}`")]
    MissingField {
        /// What was being read.
        context: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field is present with a type or shape we cannot use.
    #[error("{context}: field `{field}` is invalid: {reason}")]
    InvalidField {
        /// What was being read.
        context: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong with it (never its value).
        reason: &'static str,
    },
    /// A GoPay date string does not follow any accepted layout (the value is not repeated).
    #[error("invalid GoPay date: {reason}")]
    InvalidDate {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The token response is for another client profile than the one we hold.
    #[error("token response is for client profile {actual}, expected {expected}")]
    ProfileMismatch {
        /// The profile we hold.
        expected: String,
        /// The profile in the answer.
        actual: String,
    },
    /// A configured host (base URL) is unusable.
    #[error("invalid GoPay host configuration `{name}`: {reason}")]
    InvalidHost {
        /// The setting.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The consent callback query cannot be interpreted.
    #[error("malformed consent callback: {0}")]
    MalformedCallback(CallbackDefect),
    /// The `state` of a callback cannot be accepted (unknown, expired, reused).
    #[error("consent state rejected: {0}")]
    StateRejected(StateRejection),
    /// A prefill field fails validation (the value is not repeated).
    #[error("invalid prefill field `{field}`: {reason}")]
    InvalidPrefill {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The operating system's random source failed.
    #[error("random source unavailable: {0}")]
    Random(String),
}

/// Why a consent callback query is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CallbackDefect {
    /// The query is empty.
    #[error("the query is empty")]
    Empty,
    /// The named parameter appears more than once.
    #[error("parameter `{0}` appears more than once")]
    Duplicate(&'static str),
    /// The named parameter is empty.
    #[error("parameter `{0}` is empty")]
    EmptyValue(&'static str),
    /// No `state`.
    #[error("no `state` parameter")]
    MissingState,
    /// The `state` is not one we issue.
    #[error("`state` is not a state this service issues")]
    BadState,
    /// Neither `code` nor `error`.
    #[error("neither `code` nor `error` is present")]
    MissingCodeAndError,
    /// Both `code` and `error`.
    #[error("both `code` and `error` are present")]
    CodeAndError,
    /// The `code` is too long.
    #[error("`code` is too long")]
    CodeTooLong,
}

/// Why a callback's `state` is refused. Each answers 400 and nothing else happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum StateRejection {
    /// No such state.
    #[error("unknown state")]
    Unknown,
    /// The state expired.
    #[error("state expired")]
    Expired,
    /// The state was already used.
    #[error("state already used")]
    AlreadyUsed,
}

impl GoPayError {
    /// Maps a serde_json error without its message (which may quote input values).
    pub(crate) fn json(context: &'static str, err: &serde_json::Error) -> Self {
        let category = match err.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        };
        GoPayError::Json {
            context,
            category,
            line: err.line(),
            column: err.column(),
        }
    }
}

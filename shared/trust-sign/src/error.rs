//! The one error type of the Trust & Sign module.
//!
//! Every variant but [`TrustSignError::Source`] describes a bad archive: retrying cannot help,
//! so the caller records a failed event and quarantines the object. `Source` is a failed read
//! (an S3 error, a timeout): the caller lets the invocation fail so Lambda retries it.
//!
//! No variant carries personal data in clear: entry names (they often contain the customer's
//! name, e.g. `1_corinne_berthier_attachment_1_1.jpg`) are wrapped in [`Personal`], and JSON
//! errors keep only the path and position, never serde's message (which can quote a value).

use kyc_core::redact::Personal;

/// The error a [`super::zip_locate::RangeSource`] returns: opaque, always treated as transient.
pub type SourceError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a syntactically valid JSON document is not a report.json V6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotV6Reason {
    /// The top-level value is an array, a string, a number...
    NotAnObject,
    /// A field every V6 report has (`date`, `clientFile`) is absent.
    MissingField(&'static str),
    /// A `version` field is present and names another version (the V6 reference itself has
    /// no version field; one that appears must at least not contradict V6). Holds its type
    /// and a clipped form only (`the string "5"`, `an object`), never the raw value.
    OtherVersion(String),
}

impl std::fmt::Display for NotV6Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAnObject => f.write_str("the top-level JSON value is not an object"),
            Self::MissingField(name) => write!(f, "the field `{name}` is missing"),
            Self::OtherVersion(v) => write!(f, "the `version` field is {v}, not 6"),
        }
    }
}

/// Which size went past the configured limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeKind {
    /// report.json's uncompressed size as the central directory declares it.
    DeclaredUncompressed,
    /// report.json's compressed size as declared (it is read whole, so it is bounded too).
    DeclaredCompressed,
    /// What inflating really produced, whatever the header said (a lying header).
    Inflated,
    /// The central directory (read whole before anything else).
    CentralDirectory,
}

/// Why an archive could not be analysed. Never carries personal data in its message.
#[derive(Debug, thiserror::Error)]
pub enum TrustSignError {
    /// Reading the archive failed. Transient: the only variant worth a retry.
    #[error("reading the archive failed: {0}")]
    Source(#[source] SourceError),

    /// Not a ZIP archive.
    #[error("not a ZIP archive: {reason}")]
    NotZip {
        /// What gave it away.
        reason: &'static str,
    },

    /// The archive ends early.
    #[error("truncated archive: {reason}")]
    Truncated {
        /// What was missing.
        reason: String,
    },

    /// Structurally broken in a way neither "not a ZIP" nor "truncated" describes
    /// (inconsistent offsets, CRC mismatch, multi-disk archive...).
    #[error("malformed archive: {reason}")]
    Malformed {
        /// What is broken.
        reason: String,
    },

    /// No report.json at the archive's root.
    #[error("the archive holds no report.json at its root")]
    NoReport,

    /// More than one report.json.
    #[error("the archive holds {count} entries named report.json")]
    DuplicateReport {
        /// How many.
        count: usize,
    },

    /// An entry is encrypted.
    #[error("entry #{index} ({name}) is encrypted")]
    EncryptedEntry {
        /// The entry's position in the central directory.
        index: usize,
        /// Its name. Personal data.
        name: Personal<String>,
    },

    /// report.json is compressed with a method other than stored or deflate.
    #[error(
        "report.json uses compression method {method}; only stored (0) and deflate (8) are read"
    )]
    UnsupportedCompression {
        /// The ZIP compression method.
        method: u16,
    },

    /// An entry's name could escape a directory or is otherwise unsafe.
    #[error("entry #{index} ({name}) has an unsafe name: {reason}")]
    UnsafeEntryName {
        /// The entry's position in the central directory.
        index: usize,
        /// Its name. Personal data.
        name: Personal<String>,
        /// What is unsafe about it.
        reason: &'static str,
    },

    /// A size is over its limit.
    #[error("{kind:?} size {size} exceeds the limit of {limit} bytes")]
    SizeLimitExceeded {
        /// Which size.
        kind: SizeKind,
        /// The size found, in bytes.
        size: u64,
        /// The limit, in bytes.
        limit: u64,
    },

    /// Not JSON at all (syntax error or premature end). Position only, never the text.
    #[error("report.json is not JSON (line {line}, column {column})")]
    ReportNotJson {
        /// The line of the error.
        line: usize,
        /// The column of the error.
        column: usize,
    },

    /// JSON, but not shaped as a report.json V6.
    #[error("report.json is not a report.json V6: {reason}")]
    NotV6 {
        /// What is not V6.
        reason: NotV6Reason,
    },

    /// More list items (documents, events, checks...) than one invocation analyses within its
    /// memory: quarantined rather than risk an out-of-memory crash.
    #[error("report.json holds more than {limit} documents, events, checks and other items, beyond what is analysed within the function's memory")]
    TooComplex {
        /// The most items analysed.
        limit: usize,
    },

    /// The analysis was read, but DynamoDB refused even its minimal record (item size): a
    /// retry would be refused again. Recorded as a failed event, the archive tagged.
    #[error("the archive's analysis is too large to store, even reduced to its minimal record")]
    Unstorable,

    /// JSON and V6-shaped, but a documented field has a type the model cannot take (e.g.
    /// `participants` is a string). The JSON path says where; serde's message is dropped
    /// because it may quote the offending (personal) value.
    #[error("report.json has an unexpected type at `{path}` (line {line}, column {column})")]
    ReportSchema {
        /// The JSON path of the field.
        path: String,
        /// The line of the error.
        line: usize,
        /// The column of the error.
        column: usize,
    },
}

impl TrustSignError {
    /// True when a retry may succeed (the read failed), false when the archive itself is bad.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Source(_))
    }

    /// A stable, machine-readable reason for failed-event records, metrics and quarantine tags.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Source(_) => "source_error",
            Self::NotZip { .. } => "not_zip",
            Self::Truncated { .. } => "truncated",
            Self::Malformed { .. } => "malformed",
            Self::NoReport => "no_report",
            Self::DuplicateReport { .. } => "duplicate_report",
            Self::EncryptedEntry { .. } => "encrypted_entry",
            Self::UnsupportedCompression { .. } => "unsupported_compression",
            Self::UnsafeEntryName { .. } => "unsafe_entry_name",
            Self::SizeLimitExceeded { .. } => "size_limit_exceeded",
            Self::ReportNotJson { .. } => "report_not_json",
            Self::NotV6 { .. } => "report_not_v6",
            Self::ReportSchema { .. } => "report_schema",
            Self::TooComplex { .. } => "report_too_complex",
            Self::Unstorable => "item_too_large",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_source_errors_are_transient() {
        let io: SourceError = Box::new(std::io::Error::other("timeout"));
        assert!(TrustSignError::Source(io).is_transient());
        assert!(!TrustSignError::NoReport.is_transient());
        assert!(!TrustSignError::NotZip { reason: "x" }.is_transient());
    }

    #[test]
    fn entry_names_never_reach_the_message() {
        let e = TrustSignError::UnsafeEntryName {
            index: 3,
            name: Personal::new("../1_corinne_berthier.jpg".to_string()),
            reason: "`..` component",
        };
        let text = format!("{e} {e:?}");
        assert!(!text.contains("corinne"), "{text}");
        assert!(text.contains("#3"));
        assert_eq!(e.reason_code(), "unsafe_entry_name");
    }
}

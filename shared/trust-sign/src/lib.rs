//! Namirial Trust & Sign client-file archives (report.json V6). No AWS types outside `aws`.
//!
//! - [`zip_locate`]: finds and inflates report.json through ranged reads ([`RangeSource`]),
//!   reading the end records, the central directory and report.json's entry only;
//! - [`report`]: the typed report.json V6 model (unknown fields and values kept);
//! - [`controls`]: each documented control's polarity;
//! - [`verdict`]: self-explaining verdicts and the client-file summary;
//! - [`manifest`]: files named by the report vs the archive's entries;
//! - [`plan`]: an analysis (or a bad archive) as a durable-intake write plan;
//! - [`processor`]: the orchestration (notification → read → analysis → copy or quarantine →
//!   event) behind small ports, with in-memory twins;
//! - `aws` (feature `aws`): the S3 adapter of those ports and the processor built on AWS.
//!
//! [`analyze_archive`] chains the pure steps; [`processor::Processor`] is what the S3-triggered
//! function runs. Its error
//! says whether to retry ([`TrustSignError::is_transient`]) or quarantine the archive.

#![warn(missing_docs)]

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

#[cfg(feature = "aws")]
pub mod aws;
pub mod controls;
pub mod error;
pub mod manifest;
pub mod plan;
pub mod processor;
pub mod report;
pub mod verdict;
pub mod zip_locate;

pub use error::{NotV6Reason, SizeKind, SourceError, TrustSignError};
pub use manifest::{check_manifest, ManifestCheck, ManifestEntry};
pub use report::Report;
pub use verdict::{summarize, summarize_with, ClientFileSummary, Decision, Outcome, ReviewOutcome};
pub use zip_locate::{
    locate_report, ArchiveEntry, FileSource, Limits, LocatedReport, MemorySource, RangeSource,
    ReadStats,
};

use serde::Serialize;

/// Everything learnt from one archive.
#[derive(Debug, Clone)]
pub struct ArchiveAnalysis {
    /// The raw report.json, to copy to the processed prefix as it was.
    pub report_json: Vec<u8>,
    /// The parsed report.
    pub report: Report,
    /// What the client file says, judged.
    pub summary: ClientFileSummary,
    /// The archive's entries against what the report expects.
    pub manifest: ManifestCheck,
    /// The archive's entries.
    pub entries: Vec<ArchiveEntry>,
    /// What the reads cost.
    pub stats: ReadStats,
}

/// The JSON-ready part of an analysis (personal data redacted).
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisView<'a> {
    /// What the client file says, judged.
    pub summary: &'a ClientFileSummary,
    /// The archive's entries against what the report expects.
    pub manifest: &'a ManifestCheck,
    /// What the reads cost.
    pub stats: &'a ReadStats,
}

impl ArchiveAnalysis {
    /// The JSON-ready view of the analysis.
    pub fn view(&self) -> AnalysisView<'_> {
        AnalysisView {
            summary: &self.summary,
            manifest: &self.manifest,
            stats: &self.stats,
        }
    }
}

/// How a report is read where the reference leaves a choice to the bank: the acceptance of
/// an operator's review (`REVIEW_OUTCOME`) and the zone of a date without an offset
/// (`REPORT_TIME_ZONE`, Namirial's Europe/Paris by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// How an operator's review is read (`REVIEW_OUTCOME`).
    pub review_outcome: ReviewOutcome,
    /// The zone of dates without an offset (`REPORT_TIME_ZONE`).
    pub time_zone: chrono_tz::Tz,
}

impl Default for Reading {
    fn default() -> Self {
        Self {
            review_outcome: ReviewOutcome::default(),
            time_zone: report::iso8601::DEFAULT_ZONE,
        }
    }
}

/// A `REPORT_TIME_ZONE` that is not an IANA zone name (`Europe/Paris`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("time zone must be an IANA zone name such as Europe/Paris")]
pub struct BadTimeZone;

/// An IANA zone name (`Europe/Paris`, `UTC`).
pub fn parse_time_zone(name: &str) -> Result<chrono_tz::Tz, BadTimeZone> {
    name.trim().parse().map_err(|_| BadTimeZone)
}

/// Reads report.json from the archive, parses it, and builds verdicts and the manifest check
/// (reviews read as `unconfirmed`, zone-less dates in Europe/Paris).
pub async fn analyze_archive<S: RangeSource + ?Sized>(
    source: &S,
    limits: &Limits,
) -> Result<ArchiveAnalysis, TrustSignError> {
    analyze_archive_with(source, limits, &Reading::default()).await
}

/// [`analyze_archive`], read as `reading` says.
pub async fn analyze_archive_with<S: RangeSource + ?Sized>(
    source: &S,
    limits: &Limits,
    reading: &Reading,
) -> Result<ArchiveAnalysis, TrustSignError> {
    let located = locate_report(source, limits).await?;
    let report = Report::from_slice_in(&located.report_json, reading.time_zone)?;
    let summary = summarize_with(&report, &reading.review_outcome);
    let manifest = check_manifest(&report, &located.entries);
    Ok(ArchiveAnalysis {
        report_json: located.report_json,
        report,
        summary,
        manifest,
        entries: located.entries,
        stats: located.stats,
    })
}

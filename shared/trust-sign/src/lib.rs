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
pub use verdict::{summarize, ClientFileSummary, Decision, Outcome};
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
    pub report: Report,
    pub summary: ClientFileSummary,
    pub manifest: ManifestCheck,
    pub entries: Vec<ArchiveEntry>,
    pub stats: ReadStats,
}

/// The JSON-ready part of an analysis (personal data redacted).
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisView<'a> {
    pub summary: &'a ClientFileSummary,
    pub manifest: &'a ManifestCheck,
    pub stats: &'a ReadStats,
}

impl ArchiveAnalysis {
    pub fn view(&self) -> AnalysisView<'_> {
        AnalysisView {
            summary: &self.summary,
            manifest: &self.manifest,
            stats: &self.stats,
        }
    }
}

/// Reads report.json from the archive, parses it, and builds verdicts and the manifest check.
pub async fn analyze_archive<S: RangeSource + ?Sized>(
    source: &S,
    limits: &Limits,
) -> Result<ArchiveAnalysis, TrustSignError> {
    let located = locate_report(source, limits).await?;
    let report = Report::from_slice(&located.report_json)?;
    let summary = summarize(&report);
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

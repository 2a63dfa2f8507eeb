//! Compares the files report.json names with the archive's entries.
//!
//! Expected: `documents[].files[]`, every identity check's files, `clientFile.appendices[]`,
//! and `signed_{id}.pdf` per signed document — except the files of anonymized documents,
//! which the reference says are not in the archive. The One Click Contract's documents
//! belong to the earlier file: tolerated if present, not expected.
//! File names often contain the customer's name, so findings carry them as [`Personal`] and
//! say where they come from with a locator that is safe to log.

use super::report::{FileRef, Report};
use super::zip_locate::{ArchiveEntry, REPORT_NAME};
use kyc_core::redact::Personal;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A file of the manifest check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestEntry {
    /// The file's name. Personal data.
    pub name: Personal<String>,
    /// `documents[1].files[0]`, `signedDocuments[contract]`, `entries[7]`...
    pub locator: String,
}

/// The archive's entries against the files report.json names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestCheck {
    /// Distinct files report.json expects (report.json itself included).
    pub expected: usize,
    /// Archive entries that are files (directories left out).
    pub entries: usize,
    /// Files the report expects that the archive lacks.
    pub missing: Vec<ManifestEntry>,
    /// Files of the archive the report does not name.
    pub unexpected: Vec<ManifestEntry>,
    /// Names present more than once in the archive.
    pub duplicates: Vec<ManifestEntry>,
    /// Files of anonymized documents, not expected in the archive.
    pub anonymized_files: usize,
}

impl ManifestCheck {
    /// True when nothing is missing, unexpected or duplicated.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.duplicates.is_empty()
    }
}

/// Names the report expects, each with its first locator; plus tolerated names.
struct Expected {
    names: BTreeMap<String, String>,
    tolerated: BTreeSet<String>,
    anonymized: usize,
}

impl Expected {
    fn add(&mut self, name: &str, locator: String) {
        self.names.entry(name.to_string()).or_insert(locator);
    }
    fn add_files(&mut self, files: &[FileRef], base: &str) {
        for (i, f) in files.iter().enumerate() {
            self.add(f.name.expose(), format!("{base}.files[{i}]"));
        }
    }
}

/// Checks the archive's entries against the files the report names.
pub fn check_manifest(report: &Report, entries: &[ArchiveEntry]) -> ManifestCheck {
    let mut exp = Expected {
        names: BTreeMap::new(),
        tolerated: BTreeSet::new(),
        anonymized: 0,
    };
    exp.add(REPORT_NAME, "report.json".into());
    for (di, d) in report.documents.iter().enumerate() {
        if d.is_anonymized() {
            exp.anonymized += d.files.len();
            exp.tolerated
                .extend(d.files.iter().map(|f| f.name.expose().clone()));
        } else {
            exp.add_files(&d.files, &format!("documents[{di}]"));
        }
    }
    for (pi, p) in report.participants().iter().enumerate() {
        for (ci, c) in p.identity_checks.iter().enumerate() {
            let base = format!("clientFile.participants[{pi}].identityChecks[{ci}]");
            if let Some(d) = &c.id_document {
                if d.is_anonymized() {
                    exp.anonymized += d.files.len();
                    exp.tolerated
                        .extend(d.files.iter().map(|f| f.name.expose().clone()));
                } else {
                    exp.add_files(&d.files, &format!("{base}.idDocument"));
                }
            }
            for (at, fm) in c.all_face_matches() {
                exp.add_files(&fm.files, &format!("{base}.{at}"));
            }
            if let Some(v) = &c.video_identification {
                exp.add_files(&v.files, &format!("{base}.videoIdentification"));
            }
        }
        if let Some(occ) = &p.one_click_contract {
            for d in &occ.documents {
                exp.tolerated
                    .extend(d.files.iter().map(|f| f.name.expose().clone()));
            }
        }
    }
    if let Some(cf) = report.client_file() {
        for (ai, a) in cf.appendices.iter().enumerate() {
            if let Some(f) = &a.file {
                exp.add(f.name.expose(), format!("clientFile.appendices[{ai}].file"));
            }
        }
    }
    for d in &report.signed_documents {
        exp.add(&d.archive_file_name(), format!("signedDocuments[{}]", d.id));
    }

    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unexpected = Vec::new();
    let mut duplicates = Vec::new();
    let mut files = 0;
    for (i, e) in entries.iter().enumerate() {
        if e.is_dir {
            continue;
        }
        files += 1;
        let name = e.name.expose().as_str();
        let count = seen.entry(name).or_insert(0);
        *count += 1;
        let entry = || ManifestEntry {
            name: e.name.clone(),
            locator: format!("entries[{i}]"),
        };
        if *count == 2 {
            duplicates.push(entry());
        }
        if *count == 1 && !exp.names.contains_key(name) && !exp.tolerated.contains(name) {
            unexpected.push(entry());
        }
    }
    let missing = exp
        .names
        .iter()
        .filter(|(name, _)| !seen.contains_key(name.as_str()))
        .map(|(name, locator)| ManifestEntry {
            name: Personal::new(name.clone()),
            locator: locator.clone(),
        })
        .collect();
    ManifestCheck {
        expected: exp.names.len(),
        entries: files,
        missing,
        unexpected,
        duplicates,
        anonymized_files: exp.anonymized,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;

    const REFERENCE: &str = include_str!("../tests/fixtures/report_v6_reference.json");

    fn entry(name: &str) -> ArchiveEntry {
        ArchiveEntry {
            name: Personal::new(name.to_string()),
            compressed_size: 1,
            uncompressed_size: 1,
            is_dir: name.ends_with('/'),
        }
    }

    fn expected_names() -> Vec<&'static str> {
        vec![
            "report.json",
            "1_corinne_berthier_attachment_1_1.jpg",
            "1_corinne_berthier_attachment_1_2.jpg",
            "1_corinne_berthier_2_facematch_1.jpg",
            "1_john_doe_test-01_1.jpg",
            "2_john_doe_tax_1.pdf",
            "appendix_cgv.pdf",
            "signed_contract.pdf",
        ]
    }

    #[test]
    fn a_complete_archive_has_nothing_missing_or_unexpected() {
        let report = Report::from_slice(REFERENCE.as_bytes()).unwrap();
        let mut entries: Vec<_> = expected_names().into_iter().map(entry).collect();
        entries.push(entry("media/"));
        entries.push(entry("1_john_doe_3_1.png")); // One Click Contract file: tolerated
        let m = check_manifest(&report, &entries);
        assert!(m.is_complete(), "{m:?}");
        assert_eq!(m.expected, 8);
        assert_eq!(m.entries, 9);
        // The RIB is anonymized: its file is not expected.
        assert_eq!(m.anonymized_files, 1);
    }

    #[test]
    fn missing_unexpected_and_duplicate_entries_are_reported_with_locators() {
        let report = Report::from_slice(REFERENCE.as_bytes()).unwrap();
        let mut entries: Vec<_> = expected_names()
            .into_iter()
            .filter(|n| *n != "signed_contract.pdf" && *n != "1_corinne_berthier_2_facematch_1.jpg")
            .map(entry)
            .collect();
        entries.push(entry("intruder.exe"));
        entries.push(entry("report.json"));
        let m = check_manifest(&report, &entries);
        let missing: Vec<_> = m.missing.iter().map(|e| e.locator.as_str()).collect();
        assert_eq!(
            missing,
            vec![
                "clientFile.participants[0].identityChecks[0].faceMatch.files[0]",
                "signedDocuments[contract]"
            ]
        );
        assert_eq!(m.unexpected.len(), 1);
        assert_eq!(m.unexpected[0].name.expose(), "intruder.exe");
        assert_eq!(m.duplicates[0].name.expose(), "report.json");
        let json = serde_json::to_string(&m).unwrap();
        assert!(
            !json.contains("corinne") && !json.contains("intruder"),
            "{json}"
        );
    }
}

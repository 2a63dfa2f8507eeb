//! report.json (V6): the streaming reader with its complexity limits, then the verdicts and
//! the manifest check that run on whatever it accepts.
#![no_main]

use kyc_trust_sign::{check_manifest, summarize, Report};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = Report::from_slice(data) {
        let summary = summarize(&report);
        serde_json::to_string(&summary).expect("a summary serialises");
        let manifest = check_manifest(&report, &[]);
        serde_json::to_string(&manifest).expect("a manifest check serialises");
    }
});

//! The ranged ZIP reader (end records, central directory, report.json's entry, inflate) and
//! the analysis after it, over fake range sources: honest, ending early, failing mid-way.
#![no_main]

use async_trait::async_trait;
use kyc_hooks_fuzz::block_on;
use kyc_trust_sign::{analyze_archive, Limits, MemorySource, RangeSource, SourceError};
use libfuzzer_sys::fuzz_target;
use std::sync::atomic::{AtomicU32, Ordering};

/// Claims `claimed_len` bytes but holds only `bytes` (an object that ended early), and fails
/// every read after `reads_before_failure` (a network error mid-archive).
struct FakeSource<'a> {
    bytes: &'a [u8],
    claimed_len: u64,
    reads_before_failure: u32,
    reads: AtomicU32,
}

#[async_trait]
impl RangeSource for FakeSource<'_> {
    async fn len(&self) -> Result<u64, SourceError> {
        Ok(self.claimed_len)
    }
    async fn read_range(&self, start: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        if self.reads.fetch_add(1, Ordering::Relaxed) >= self.reads_before_failure {
            return Err("injected read failure".into());
        }
        let start = usize::try_from(start)?.min(self.bytes.len());
        let end = start
            .saturating_add(usize::try_from(len)?)
            .min(self.bytes.len());
        Ok(self.bytes[start..end].to_vec())
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(analysis) = block_on(analyze_archive(&MemorySource(data), &limits)) {
        // The archive is never downloaded: its tail (end records, a comment up to 64 KiB), the
        // central directory, report.json's local header (names and extra fields up to 64 KiB
        // each) and compressed data. Ranges may overlap (read twice), but nothing else is read.
        let tail = (data.len() as u64).min(8 * 1024 + 64 * 1024 + 22);
        let local_header = 30 + 2 * 65_535;
        let bound = tail
            + limits.max_central_directory
            + local_header
            + analysis.stats.report_compressed_size;
        assert!(
            analysis.stats.bytes_read <= bound,
            "read {} bytes of a {}-byte archive",
            analysis.stats.bytes_read,
            data.len()
        );
        assert!(analysis.report_json.len() as u64 <= limits.max_report_size);
    }

    // The archive's end is missing: never a success, never a panic.
    let short = FakeSource {
        bytes: data,
        claimed_len: data.len() as u64 + 1 + (data.len() as u64 % 4096),
        reads_before_failure: u32::MAX,
        reads: AtomicU32::new(0),
    };
    assert!(block_on(analyze_archive(&short, &limits)).is_err());

    // A read fails part-way: the error must say "retry" (transient), not "bad archive".
    let failing = FakeSource {
        bytes: data,
        claimed_len: data.len() as u64,
        reads_before_failure: (data.len() % 4) as u32,
        reads: AtomicU32::new(0),
    };
    if let Err(e) = block_on(analyze_archive(&failing, &limits)) {
        if failing.reads.load(Ordering::Relaxed) > failing.reads_before_failure {
            assert!(e.is_transient(), "a failed read was reported as {e}");
        }
    }
});

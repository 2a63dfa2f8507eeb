//! Archives from the generator (and hand-broken variants) through an in-memory source.

use super::*;
use trust_sign_gen::zip_writer::{EntryOptions, Method, ZipWriter};
use trust_sign_gen::{archive_bytes, write_archive, ArchiveOptions, Kind};

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn locate(bytes: &[u8]) -> Result<LocatedReport, TrustSignError> {
    run(locate_report(&MemorySource(bytes), &Limits::default()))
}

fn zip_of(entries: &[(&str, &[u8], EntryOptions)], zip64: bool) -> Vec<u8> {
    let mut w = ZipWriter::new(Vec::new(), zip64);
    for (name, data, opts) in entries {
        w.add(name, data, opts).unwrap();
    }
    w.finish().unwrap().0
}

#[test]
fn reads_report_json_and_lists_entries_with_and_without_zip64() {
    for zip64 in [false, true] {
        let mut bytes = Vec::new();
        write_archive(
            Kind::Full,
            &ArchiveOptions {
                zip64,
                ..Default::default()
            },
            &mut bytes,
        )
        .unwrap();
        let located = locate(&bytes).unwrap();
        let expected = serde_json::to_vec_pretty(&trust_sign_gen::report_json(Kind::Full)).unwrap();
        assert_eq!(located.report_json, expected);
        assert!(located
            .entries
            .iter()
            .any(|e| e.name.expose() == "signed_contract.pdf"));
        assert_eq!(located.stats.archive_size, bytes.len() as u64);
        assert!(located.stats.bytes_read <= bytes.len() as u64);
    }
}

#[test]
fn stored_report_and_a_long_archive_comment() {
    let stored = EntryOptions {
        method: Some(Method::Stored),
        ..Default::default()
    };
    let mut bytes = zip_of(
        &[
            ("a.txt", b"x".as_slice(), EntryOptions::default()),
            ("report.json", b"{}", stored),
        ],
        false,
    );
    // Append a 30 000-byte comment: the end record is then beyond the first 8 KiB tail read.
    let n = bytes.len();
    bytes[n - 2..].copy_from_slice(&30_000u16.to_le_bytes());
    bytes.extend(std::iter::repeat_n(b'c', 30_000));
    let located = locate(&bytes).unwrap();
    assert_eq!(located.report_json, b"{}");
    // The first tail read misses the end record, the wider one holds the whole archive: the
    // central directory, local header and data are served from it.
    assert_eq!(located.stats.range_reads, 2, "{:?}", located.stats);
    assert_eq!(located.stats.bytes_read, bytes.len() as u64);
}

#[test]
fn bad_archives_get_precise_errors() {
    let cases: Vec<(Kind, &str)> = vec![
        (Kind::NotZip, "not_zip"),
        (Kind::Truncated, "truncated"),
        (Kind::NoReport, "no_report"),
        (Kind::Encrypted, "encrypted_entry"),
        (Kind::UnsupportedCompression, "unsupported_compression"),
        (Kind::DotDotName, "unsafe_entry_name"),
        (Kind::AbsoluteName, "unsafe_entry_name"),
        (Kind::ZipBomb, "size_limit_exceeded"),
    ];
    for (kind, code) in cases {
        let err = locate(&archive_bytes(kind)).unwrap_err();
        assert_eq!(err.reason_code(), code, "{kind:?}: {err}");
        assert!(!err.is_transient());
    }
    match locate(&archive_bytes(Kind::ZipBomb)).unwrap_err() {
        TrustSignError::SizeLimitExceeded {
            kind: SizeKind::DeclaredUncompressed,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lying_zip_bomb_stops_at_the_limit() {
    let bytes = archive_bytes(Kind::ZipBombLying);
    let limits = Limits {
        max_report_size: 2 << 20,
        ..Limits::default()
    };
    match run(locate_report(&MemorySource(&bytes), &limits)).unwrap_err() {
        TrustSignError::SizeLimitExceeded {
            kind: SizeKind::Inflated,
            size,
            limit,
        } => {
            assert_eq!(limit, 2 << 20);
            assert!(size > limit);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tiny_and_empty_objects() {
    assert_eq!(locate(b"").unwrap_err().reason_code(), "not_zip");
    assert_eq!(locate(b"hello").unwrap_err().reason_code(), "not_zip");
    assert_eq!(
        locate(b"PK\x03\x04abc").unwrap_err().reason_code(),
        "truncated"
    );
    let empty_zip = zip_of(&[], false);
    assert_eq!(locate(&empty_zip).unwrap_err().reason_code(), "no_report");
}

#[test]
fn duplicate_reports_and_corruption() {
    let d = EntryOptions::default;
    let dup = zip_of(
        &[
            ("report.json", b"{}".as_slice(), d()),
            ("report.json", b"{}", d()),
        ],
        false,
    );
    assert!(matches!(
        locate(&dup),
        Err(TrustSignError::DuplicateReport { count: 2 })
    ));

    // Flip a byte of report.json's compressed data: the CRC (or deflate) check catches it.
    let good = zip_of(
        &[(
            "report.json",
            br#"{"date":"2024-01-01T00:00:00Z","clientFile":{}}"#.as_slice(),
            d(),
        )],
        false,
    );
    let mut bad = good.clone();
    bad[30 + "report.json".len() + 5] ^= 0x55;
    assert_eq!(locate(&bad).unwrap_err().reason_code(), "malformed");

    // A central directory offset pointing past the end records.
    let mut bad = good;
    let n = bad.len();
    bad[n - 6..n - 2].copy_from_slice(&(n as u32).to_le_bytes());
    assert_eq!(locate(&bad).unwrap_err().reason_code(), "malformed");
}

/// A source that fails: the error must be transient.
struct Failing;

#[async_trait]
impl RangeSource for Failing {
    async fn len(&self) -> Result<u64, SourceError> {
        Ok(1000)
    }
    async fn read_range(&self, _: u64, _: u64) -> Result<Vec<u8>, SourceError> {
        Err("503 SlowDown".into())
    }
}

#[test]
fn source_failures_are_transient() {
    let err = run(locate_report(&Failing, &Limits::default())).unwrap_err();
    assert!(err.is_transient(), "{err}");
}

#[test]
fn a_source_returning_short_reads_is_truncated() {
    struct Short(Vec<u8>);
    #[async_trait]
    impl RangeSource for Short {
        async fn len(&self) -> Result<u64, SourceError> {
            Ok(self.0.len() as u64 + 100)
        }
        async fn read_range(&self, s: u64, l: u64) -> Result<Vec<u8>, SourceError> {
            MemorySource(&self.0).read_range(s, l).await
        }
    }
    let err = run(locate_report(
        &Short(archive_bytes(Kind::Payslip)),
        &Limits::default(),
    ))
    .unwrap_err();
    assert_eq!(err.reason_code(), "truncated", "{err}");
}

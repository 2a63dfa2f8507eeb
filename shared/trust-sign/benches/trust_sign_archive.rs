//! Time to analyze a Trust & Sign archive of 10 KiB, 200 MiB and 1 GiB through a file-backed
//! ranged source, plus the bytes read and peak RSS (printed, not asserted: figures for the
//! closing note). The archives are generated once, streamed to temporary files.

use criterion::{criterion_group, criterion_main, Criterion};
use kyc_trust_sign::{analyze_archive, FileSource, Limits};
use std::path::PathBuf;
use trust_sign_gen::{write_archive, ArchiveOptions, Kind};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn generate(size: u64) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "trust_sign_bench_{size}_{}.zip",
        std::process::id()
    ));
    let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
    write_archive(
        Kind::Full,
        &ArchiveOptions {
            target_size: Some(size),
            ..ArchiveOptions::default()
        },
        file,
    )
    .unwrap();
    path
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("trust_sign_analyze_archive");
    group.sample_size(20);
    for (label, size) in [
        ("10KiB", 10 * 1024),
        ("200MiB", 200 << 20),
        ("1GiB", 1 << 30),
    ] {
        let path = generate(size);
        let source = FileSource::open(&path).unwrap();
        let limits = Limits::default();
        let a = rt.block_on(analyze_archive(&source, &limits)).unwrap();
        eprintln!(
            "{label}: bytes_read={} range_reads={} report_compressed={} peak_rss_kib={:?}",
            a.stats.bytes_read,
            a.stats.range_reads,
            a.stats.report_compressed_size,
            peak_rss_kib()
        );
        group.bench_function(label, |b| {
            b.iter(|| rt.block_on(analyze_archive(&source, &limits)).unwrap())
        });
        std::fs::remove_file(&path).unwrap();
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

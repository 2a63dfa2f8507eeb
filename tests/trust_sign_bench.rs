//! `bench-trust-sign-archive [SIZES...]`: what one archive costs the function, through real
//! S3 ranged GETs against a local moto server. Each archive (default 10 KiB, 200 MiB, 1 GiB)
//! is generated and streamed into S3 by multipart upload (never whole in memory); then a fresh
//! child process (this binary, `--process`) does what the Lambda does, `RUNS` times: ranged
//! reads, analysis, processed copy, DynamoDB transaction. Reported: bytes read, range GETs,
//! time per archive, and the child's peak RSS (VmHWM: runtime, SDK clients and processing,
//! nothing from the upload).

use kyc_integration_tests::bench_results::{self, Figure};
use kyc_integration_tests::trust_sign::*;
use kyc_integration_tests::*;
use kyc_trust_sign::aws::build_processor;
use kyc_trust_sign::plan::ArchiveObject;
use kyc_trust_sign::processor::RecordResult;
use std::time::Instant;
use trust_sign_gen::{ArchiveOptions, Kind};

const RUNS: u32 = 5;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Child: `--process ENDPOINT KEY VERSION ETAG SIZE` → one line
/// `bytes_read range_reads report_compressed nanos_per_run peak_rss_kib`.
fn child(args: &[String]) {
    let [endpoint, key, version, etag, size] = args else {
        panic!("--process ENDPOINT KEY VERSION ETAG SIZE")
    };
    runtime().block_on(async {
        let config = sdk_config_for(endpoint).await;
        let processor = build_processor(archive_settings(TABLE), &config);
        let mut object = ArchiveObject::new(BUCKET, key, Some(version), Some(etag)).unwrap();
        object.size = Some(size.parse().unwrap());
        let mut bytes_read = 0;
        let t = Instant::now();
        for run in 0..RUNS {
            // Each run is a deliberate re-run (a new event), so every run does the full work.
            match processor
                .process(object.clone(), Some(&format!("bench-{run}")))
                .await
                .expect("processed")
            {
                RecordResult::Processed { bytes_read: b, .. } => bytes_read = b,
                other => panic!("{other:?}"),
            }
        }
        let per = t.elapsed() / RUNS;
        let source = kyc_trust_sign::aws::S3Source::new(s3(&config), object);
        let a = kyc_trust_sign::analyze_archive(&source, &Default::default())
            .await
            .unwrap();
        println!(
            "{bytes_read} {} {} {} {}",
            a.stats.range_reads,
            a.stats.report_compressed_size,
            per.as_nanos(),
            peak_rss_kib()
        );
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--process") {
        return child(&args[1..]);
    }
    let sizes: Vec<u64> = {
        let sizes: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
        if sizes.is_empty() {
            vec![10 << 10, 200 << 20, 1 << 30]
        } else {
            sizes
        }
    };
    let mut figures = Vec::new();
    runtime().block_on(async {
        let moto = Moto::start();
        let config = moto.sdk_config().await;
        provision(&config, TABLE).await;
        let s3 = s3(&config);
        create_bucket(&s3, BUCKET, true).await;
        println!("| archive | bytes read | range GETs | report.json compressed | time per archive | peak RSS of the processing process |");
        println!("|---|---|---|---|---|---|");
        for size in sizes {
            let key = format!("incoming/bench-{size}.zip");
            let t = Instant::now();
            let up = put_generated_multipart(
                &s3,
                BUCKET,
                &key,
                Kind::Full,
                ArchiveOptions {
                    target_size: Some(size),
                    ..ArchiveOptions::default()
                },
            )
            .await;
            eprintln!("uploaded {} bytes in {:.1?}", up.size, t.elapsed());
            let version = up.version_id.clone().expect("versioned bucket");
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--process", &moto.endpoint, &key, &version, &up.etag])
                .arg(up.size.to_string())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = String::from_utf8(out.stdout).unwrap();
            let f: Vec<u64> = line
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect();
            println!(
                "| {} | {} | {} | {} | {:.1?} | {:.1} MiB |",
                human(up.size),
                f[0],
                f[1],
                f[2],
                std::time::Duration::from_nanos(f[3]),
                f[4] as f64 / 1024.0
            );
            // Free moto's memory before the next size.
            // Budgets (README): report.json's compressed size + 256 KiB read; 64 MiB RSS.
            figures.push(Figure::checked(
                &format!("archive {}: bytes read", human(up.size)),
                &format!("<= report.json compressed ({}) + 256 KiB", f[2]),
                f[0] as f64,
                "bytes",
                f[0] <= f[2] + (256 << 10),
            ));
            figures.push(Figure::checked(
                &format!("archive {}: peak RSS of the processing", human(up.size)),
                "< 64 MiB",
                (f[4] as f64 / 1024.0 * 10.0).round() / 10.0,
                "MiB",
                f[4] < 64 * 1024,
            ));
            s3.delete_object()
                .bucket(BUCKET)
                .key(&key)
                .version_id(version)
                .send()
                .await
                .unwrap();
        }
    });
    bench_results::write("trust-sign-archive", &figures);
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b => format!("{} KiB", b >> 10),
    }
}

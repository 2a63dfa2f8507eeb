//! `bench-trust-sign-archive [SIZES...]`: what one archive costs the function, through real
//! S3 ranged GETs against a local moto server. Each archive (default 10 KiB, 200 MiB, 1 GiB)
//! is generated and streamed into S3 by multipart upload (never whole in memory), then the
//! function's processor handles it `RUNS` times; reported: bytes read, range requests, time
//! per archive and this process's peak RSS during processing (the peak is reset after the
//! upload through /proc/self/clear_refs, so it counts the processing only).

use kyc_integration_tests::trust_sign::*;
use kyc_integration_tests::*;
use kyc_shared::trust_sign::intake::ArchiveObject;
use std::time::Instant;
use trust_sign_archive::{build_processor, RecordResult};
use trust_sign_gen::{ArchiveOptions, Kind};

const RUNS: usize = 5;

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn reset_peak_rss() {
    // "5" resets VmHWM to the current RSS (Linux ≥ 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let sizes: Vec<u64> = {
        let args: Vec<u64> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        if args.is_empty() {
            vec![10 << 10, 200 << 20, 1 << 30]
        } else {
            args
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let moto = Moto::start();
        let config = moto.sdk_config().await;
        provision(&config, TABLE).await;
        let s3 = s3(&config);
        create_bucket(&s3, BUCKET, true).await;
        let processor = build_processor(archive_settings(TABLE), &config);
        println!("| archive | bytes read | range GETs | report.json compressed | time per archive | peak RSS (processing) |");
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
            let mut object =
                ArchiveObject::new(BUCKET, &key, up.version_id.as_deref(), Some(&up.etag)).unwrap();
            object.size = Some(up.size);
            reset_peak_rss();
            let rss_before = proc_status_kib("VmRSS:");
            let mut bytes_read = 0;
            let t = Instant::now();
            for run in 0..RUNS {
                // Each run is a deliberate re-run (a new event), so every run does the full
                // work: ranged reads, analysis, processed copy, DynamoDB transaction.
                let r = processor
                    .process(object.clone(), Some(&format!("bench-{run}")))
                    .await
                    .expect("processed");
                match r {
                    RecordResult::Processed { bytes_read: b, .. } => bytes_read = b,
                    other => panic!("{other:?}"),
                }
            }
            let per = t.elapsed() / RUNS as u32;
            let peak = proc_status_kib("VmHWM:");
            // Range requests and report.json's size, from one more analysis of the same object.
            let source = kyc_shared::aws::s3::S3Source::new(s3.clone(), object.clone());
            let a = kyc_shared::trust_sign::analyze_archive(&source, &Default::default())
                .await
                .unwrap();
            println!(
                "| {} | {} | {} | {} | {:.1?} | {:.1} MiB (RSS before {:.1} MiB) |",
                human(up.size),
                bytes_read,
                a.stats.range_reads,
                a.stats.report_compressed_size,
                per,
                peak as f64 / 1024.0,
                rss_before as f64 / 1024.0
            );
            // Free moto's memory before the next size.
            s3.delete_object()
                .bucket(BUCKET)
                .key(&key)
                .set_version_id(up.version_id)
                .send()
                .await
                .unwrap();
        }
    });
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b => format!("{} KiB", b >> 10),
    }
}

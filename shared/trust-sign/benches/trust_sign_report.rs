//! `cargo bench -p kyc-trust-sign --bench trust_sign_report [-- BYTES]`: what a report.json at
//! the size limit costs the processing. For each shape below, a report.json of about BYTES
//! (default: the default `MAX_REPORT_BYTES`, 64 MiB, minus 64 KiB) is written into an archive
//! in a temporary file; then a fresh child process (this binary, `--process FILE`) runs the
//! real processor on it with its in-memory twins (ranged reads of the archive, inflate, parse,
//! verdicts, processed copy, event plan and record), like the Lambda minus the network.
//! Reported: the outcome, the time, and the child's peak RSS (VmHWM), to compare with the
//! function's 512 MB.
//!
//! Shapes ("many unknown fields" in the places a report can hold them):
//! - `unknown-top`: one undescribed top-level object of small fields;
//! - `unknown-docs`: documents each carrying hundreds of undescribed fields and objects;
//! - `unknown-controls`: documents whose `controls` hold thousands of undescribed controls
//!   (each one a finding of unknown polarity);
//! - `docs-at-budget`: 19,000 ordinary documents (just under the element budget,
//!   `lenient::MAX_ELEMENTS`), each padded with an undescribed field to reach the size;
//! - `known-docs`: ordinary documents only, ~220,000 of them (beyond the element budget:
//!   expected quarantined `report_too_complex`, never an out-of-memory crash);
//! - `bomb-external-info`, `bomb-postal-address`, `bomb-version`: the deflate bomb of issue 23
//!   in a field read as a free-form value — `clientFile.externalInfo.bomb`, a participant's
//!   `postalAddress`, the top-level `version` — holding a `[0,0,...]` array that fills the
//!   report (the archive entry is ~64 KiB: `0,` deflates ~1000:1).

use kyc_core::crypto::{Keyring, PayloadKey};
use kyc_core::intake::MemoryStore;
use kyc_core::secrets::StaticSecrets;
use kyc_trust_sign::plan::{ArchiveObject, LinkKey};
use kyc_trust_sign::processor::{MemoryArchives, Processor, RecordResult, Settings};
use kyc_trust_sign::Limits;
use std::io::Write;

// The same figures file as the Xpollens bench (one copy: benches cannot share a crate).
#[path = "../../xpollens/benches/support/bench_results.rs"]
mod bench_results;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trust_sign_gen::zip_writer::{EntryOptions, Method, ZipWriter};

const SHAPES: [&str; 8] = [
    "unknown-top",
    "unknown-docs",
    "unknown-controls",
    "docs-at-budget",
    "known-docs",
    "bomb-external-info",
    "bomb-postal-address",
    "bomb-version",
];

/// A report.json of about `target` bytes whose free-form field at `at` (`head` ends where the
/// field's value starts, `tail` closes the report) is a `[0,0,...]` array filling the rest.
fn bomb(head: &str, tail: &str, target: usize) -> Vec<u8> {
    let mut out = String::with_capacity(target + 4096);
    out.push_str(head);
    out.push('[');
    while out.len() + tail.len() + 2 < target {
        out.push_str("0,");
    }
    out.push('0');
    out.push(']');
    out.push_str(tail);
    out.into_bytes()
}

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

/// A report.json of `shape`, about `target` bytes, written as text (no JSON value in memory).
fn report(shape: &str, target: usize) -> Vec<u8> {
    const CLIENT_FILE: &str = r#""uuid":"89eb482c-0fab-4821-8c89-b4c9013262d8","id":10002,"state":"ACCEPTED","finishDate":"2024-06-18T08:00:00Z","externalId":"bench-customer""#;
    match shape {
        "bomb-external-info" => {
            return bomb(
                &format!(
                    r#"{{"date":"2024-06-18T08:00:00Z","clientFile":{{{CLIENT_FILE},"participants":[{{"uuid":"p1","type":"SIGNER"}}],"externalInfo":{{"customerId":"bench-customer","bomb":"#
                ),
                r#"}},"events":[]}"#,
                target,
            )
        }
        "bomb-postal-address" => {
            return bomb(
                &format!(
                    r#"{{"date":"2024-06-18T08:00:00Z","clientFile":{{{CLIENT_FILE},"participants":[{{"uuid":"p1","type":"SIGNER","postalAddress":"#
                ),
                r#"}]},"events":[]}"#,
                target,
            )
        }
        "bomb-version" => {
            return bomb(
                &format!(
                    r#"{{"date":"2024-06-18T08:00:00Z","clientFile":{{{CLIENT_FILE},"participants":[{{"uuid":"p1","type":"SIGNER"}}]}},"version":"#
                ),
                r#","events":[]}"#,
                target,
            )
        }
        _ => {}
    }
    let mut out = String::with_capacity(target + 4096);
    out.push_str(
        r#"{"date":"2024-06-18T08:00:00Z","clientFile":{"uuid":"89eb482c-0fab-4821-8c89-b4c9013262d8","id":10002,"state":"ACCEPTED","finishDate":"2024-06-18T08:00:00Z","externalId":"bench-customer","participants":[{"uuid":"p1","type":"SIGNER"}]},"#,
    );
    let budget = target.saturating_sub(out.len() + 64);
    match shape {
        "unknown-top" => {
            out.push_str(r#""undescribedBlock":{"#);
            let mut i = 0u64;
            while out.len() < budget {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&format!(r#""f{i}":"v{i}""#));
                i += 1;
            }
            out.push_str("},");
        }
        "unknown-docs" | "unknown-controls" | "docs-at-budget" | "known-docs" => {
            out.push_str(r#""documents":["#);
            let mut d = 0u64;
            let per_doc = budget / 19_000;
            while out.len() < budget && !(shape == "docs-at-budget" && d >= 19_000) {
                if d > 0 {
                    out.push(',');
                }
                out.push_str(&format!(
                    r#"{{"id":"doc{d}","taskId":"T{d}","participantUuid":"p1","type":"PAYSLIP","validation":"VALIDATED","date":"2024-06-17T07:35:21Z","files":[],"controls":{{"documentTypeMatch":true,"maxAgeExceeded":false"#
                ));
                match shape {
                    "unknown-controls" => {
                        for c in 0..2000 {
                            out.push_str(&format!(r#","newControl{c}":true"#));
                        }
                        out.push('}');
                    }
                    "unknown-docs" => {
                        out.push('}');
                        for f in 0..300 {
                            out.push_str(&format!(
                                r#","extraField{f}":"value {f}","extraObject{f}":{{"a":[1,2,3],"b":{{"c":"d"}}}}"#
                            ));
                        }
                    }
                    "docs-at-budget" => {
                        out.push('}');
                        let pad = per_doc.saturating_sub(300);
                        out.push_str(r#","padding":""#);
                        out.push_str(&"x".repeat(pad));
                        out.push('"');
                    }
                    _ => out.push('}'),
                }
                out.push('}');
                d += 1;
            }
            out.push_str("],");
        }
        other => panic!("unknown shape {other}"),
    }
    out.push_str(r#""events":[]}"#);
    out.into_bytes()
}

fn settings() -> Settings {
    Settings {
        table: "bench".into(),
        payload_key_secret: "bench".into(),
        archive_prefix: "incoming/".into(),
        processed_prefix: "processed/".into(),
        quarantine_prefix: "quarantine/".into(),
        link_key: LinkKey::ExternalId,
        legacy_keys: Default::default(),
        limits: Limits::default(),
        reading: Default::default(),
        secret_ttl: Duration::from_secs(300),
    }
}

/// Child: `--process FILE` → one line `result nanos peak_rss_kib`.
fn child(file: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let archives = Arc::new(MemoryArchives::default());
        archives.insert(
            "b",
            "incoming/bench.zip",
            "v1",
            std::fs::read(file).expect("archive"),
        );
        let processor = Processor {
            sources: archives.clone(),
            objects: archives.clone(),
            store: Arc::new(MemoryStore::default()),
            keys: Keyring::cached(
                Arc::new(StaticSecrets(Default::default())),
                "bench",
                Duration::from_secs(300),
            )
            .preloaded(Keyring::new(PayloadKey::new("b", [7; 32]).unwrap(), vec![])),
            settings: settings(),
            clock: Arc::new(kyc_core::chrono::Utc::now),
        };
        let object = ArchiveObject::new("b", "incoming/bench.zip", Some("v1"), None).unwrap();
        let t = Instant::now();
        let r = processor.process(object, None).await.expect("processed");
        let elapsed = t.elapsed();
        let result = match r {
            RecordResult::Processed { outcome, .. } => {
                format!("processed:{}", outcome.history_note().replace(' ', "_"))
            }
            RecordResult::Quarantined { reason_code, .. } => format!("quarantined:{reason_code}"),
            other => format!("{other:?}").replace(' ', "_"),
        };
        println!("{result} {} {}", elapsed.as_nanos(), peak_rss_kib());
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--process") {
        return child(&args[1]);
    }
    let limit = Limits::default().max_report_size as usize;
    let target: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(limit - 64 * 1024);
    let dir = std::env::temp_dir().join(format!("bench-trust-sign-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("| report.json shape | report.json bytes | archive bytes | result | time | peak RSS of the processing process |");
    println!("|---|---|---|---|---|---|");
    let mut figures = Vec::new();
    for shape in SHAPES {
        let json = report(shape, target);
        let file = dir.join(format!("{shape}.zip"));
        let mut zip = ZipWriter::new(std::fs::File::create(&file).unwrap(), false);
        zip.add(
            "report.json",
            &json,
            &EntryOptions {
                method: Some(Method::Deflated),
                ..EntryOptions::default()
            },
        )
        .unwrap();
        let (mut f, size) = zip.finish().unwrap();
        f.flush().unwrap();
        drop(f);
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--process")
            .arg(&file)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&file);
        if !out.status.success() {
            println!(
                "| {shape} | {} | {size} | crashed: {} | | |",
                json.len(),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            figures.push(bench_results::figure(
                &format!("report.json at the size limit ({shape}): processed without crashing"),
                "no crash",
                0.0,
                "",
                Some(false),
            ));
            continue;
        }
        let line = String::from_utf8(out.stdout).unwrap();
        let f: Vec<&str> = line.split_whitespace().collect();
        let rss_mib = f[2].parse::<f64>().unwrap() / 1024.0;
        println!(
            "| {shape} | {} | {size} | {} | {:.2?} | {rss_mib:.1} MiB |",
            json.len(),
            f[0],
            Duration::from_nanos(f[1].parse().unwrap()),
        );
        // The function has 512 MB; half of it is the budget for one report at the limit.
        figures.push(bench_results::figure(
            &format!(
                "report.json at the size limit ({shape}): peak RSS ({})",
                f[0]
            ),
            "< 256 MiB",
            (rss_mib * 10.0).round() / 10.0,
            "MiB",
            Some(rss_mib < 256.0),
        ));
    }
    let _ = std::fs::remove_dir(&dir);
    bench_results::write("trust-sign-report", figures);
}

//! The hourly seal on moto: one hour holding N history entries (10,000 by default, of N/10
//! customers), sealed by the real code as its function runs it; the run's time and the
//! DynamoDB requests it made, per entry. Run:
//! `cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin evidence-seal-bench -- 10000`.

use kyc_aws::DynamoStore;
use kyc_core::chrono::Duration;
use kyc_core::intake::EventStore;
use kyc_evidence::aws::{lock_mode, DynamoHistory, S3Digests};
use kyc_evidence::seal::{run, SealSettings};
use kyc_integration_tests::bench_results::{self, Figure};
use kyc_integration_tests::counting::{counted_dynamodb, CountCalls};
use kyc_integration_tests::downstream::{at, state_plan};
use kyc_integration_tests::*;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a count"))
        .unwrap_or(10_000);
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let s3 = kyc_aws::s3_client(&config);
    kyc_integration_tests::create_locked_bucket(&s3, "kyc-hooks-evidence-bench").await;
    let store = Arc::new(DynamoStore::new(&config, TABLE));
    let started = Instant::now();
    // 16 writers, each every 16th entry.
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..16 {
        let store = store.clone();
        writers.spawn(async move {
            for i in (w..n).step_by(16) {
                let plan = state_plan(
                    &format!("bench-{}", i / 10),
                    &format!("e{i}"),
                    "Pending",
                    false,
                    (i % 58) as u32,
                );
                store.record(&plan).await.unwrap();
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    eprintln!(
        "{n} entries written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let counter = CountCalls::default();
    let ddb = counted_dynamodb(&config, &counter);
    let history = DynamoHistory::new(ddb, TABLE);
    let digests = S3Digests {
        client: s3,
        bucket: "kyc-hooks-evidence-bench".into(),
        lock_mode: lock_mode("GOVERNANCE").unwrap(),
        lock_days: 1,
    };
    let sealing = Instant::now();
    let report = run(
        &history,
        &digests,
        SealSettings::default(),
        at(0) + Duration::hours(2),
    )
    .await
    .unwrap();
    let seconds = sealing.elapsed().as_secs_f64();
    let requests = counter.count();
    assert_eq!(report.entries as usize, n, "{report:?}");
    eprintln!(
        "sealed {} entries of one hour in {seconds:.2} s; {requests} DynamoDB requests ({:.3} per entry)",
        report.entries,
        requests as f64 / n as f64
    );
    bench_results::write(
        "evidence-seal",
        &[
            Figure::reported(
                &format!("evidence seal: one hour of {n} history entries ({} customers), moto", n / 10),
                "run time",
                (seconds * 100.0).round() / 100.0,
                "s",
            ),
            Figure::reported(
                "evidence seal: DynamoDB requests per entry (16 index queries and their pages, BatchGetItem of 100, per customer one alias read and one salt write)",
                "measured",
                (requests as f64 / n as f64 * 1000.0).round() / 1000.0,
                "requests",
            ),
        ],
    );
}

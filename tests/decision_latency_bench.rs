//! The KYC decision on moto: latency from an Xpollens callback (the real handler) to its
//! `KYC decision changed` event accepted by EventBridge, through the table's stream twice (the
//! state record → recompute; the decision record → publish), over N callbacks of N customers;
//! and the DynamoDB calls per decision change. moto does not run event source mappings: each
//! hop is one GetRecords read handed to the state publisher's handler, as Lambda would. The
//! production figure adds the mapping's polling and batching window (1 s per hop at most).
//! Run: `cargo run --profile bench-tools -p kyc-integration-tests --features bench --bin decision-latency-bench -- 50`.

use kyc_decision::aws::DynamoDecisionStore;
use kyc_decision::policy::Policy;
use kyc_downstream::aws::eventbridge::EventBridgePublisher;
use kyc_downstream::decision::Recompute;
use kyc_downstream::StatePublisher;
use kyc_integration_tests::bench_results::{self, Figure};
use kyc_integration_tests::counting::{counted_dynamodb, CountCalls};
use kyc_integration_tests::downstream::{
    bus_with_consumer, decision_consumer, enable_stream, new_stream_records, received,
};
use kyc_integration_tests::*;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a count"))
        .unwrap_or(50);
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let stream_arn = enable_stream(&config, TABLE).await;
    let _states = bus_with_consumer(&moto, &config, "kyc-downstream").await;
    let decisions_queue = decision_consumer(&moto, &config, "kyc-downstream").await;
    let callback = xpollens_callback::build_endpoint(&settings(TABLE), &config).unwrap();
    let counter = CountCalls::default();
    let ddb = counted_dynamodb(&config, &counter);
    let publisher = StatePublisher {
        publisher: Arc::new(EventBridgePublisher::new(&config, "kyc-downstream")),
        decisions: Some(Arc::new(Recompute {
            store: Arc::new(DynamoDecisionStore::new(ddb, TABLE)),
            policy: Policy::default_policy(),
            now: kyc_core::chrono::Utc::now,
        })),
    };
    let mut seen = std::collections::HashSet::new();
    // Warm the secret caches and the connections (not measured).
    let warm = Delivery::new(
        "warm",
        "12/11/2026 07:00:00 +00:00",
        r#"{"type":"4","status":"Pending","appUserId":"warm"}"#,
    );
    xpollens_callback::handle(&callback, warm.request())
        .await
        .unwrap();
    for _ in 0..2 {
        let records = new_stream_records(&moto, &stream_arn, &mut seen).await;
        publisher
            .handle(&json!({ "Records": records }))
            .await
            .unwrap();
    }
    received(&moto, &decisions_queue).await;
    counter.0.store(0, Ordering::SeqCst);

    let mut latencies = Vec::with_capacity(n);
    // The product's part: the callback and the two handler runs, without moto's stream reads.
    let mut handler_times = Vec::with_capacity(n);
    let mut published = 0;
    for i in 0..n {
        let body = format!(r#"{{"type":"4","status":"Complete","appUserId":"lat-{i}"}}"#);
        let d = Delivery::new(&format!("lat-{i}"), "12/11/2026 09:00:00 +00:00", &body);
        let start = Instant::now();
        let resp = xpollens_callback::handle(&callback, d.request())
            .await
            .unwrap();
        assert!(resp.status().is_success());
        let mut handling = start.elapsed();
        for _ in 0..2 {
            // moto's stream read (what Lambda's poller does in production): not the product's.
            let records = new_stream_records(&moto, &stream_arn, &mut seen).await;
            let t = Instant::now();
            let report = publisher
                .handle(&json!({ "Records": records }))
                .await
                .unwrap();
            handling += t.elapsed();
            assert!(report.failed.is_empty());
            published += report.published;
        }
        latencies.push(start.elapsed().as_secs_f64() * 1000.0);
        handler_times.push(handling.as_secs_f64() * 1000.0);
    }
    let events = received(&moto, &decisions_queue).await;
    assert_eq!(events.len(), n, "one decision event per callback");
    let calls = counter.count() as f64 / n as f64;
    latencies.sort_by(f64::total_cmp);
    let (median, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    handler_times.sort_by(f64::total_cmp);
    let (h_median, h_p99) = (
        percentile(&handler_times, 0.5),
        percentile(&handler_times, 0.99),
    );
    println!("| figure | value |\n|---|---|");
    println!(
        "| callbacks → decision events | {n} → {} (events published: {published}) |",
        events.len()
    );
    println!("| latency callback → decision event, median | {median:.1} ms |");
    println!("| latency callback → decision event, p99 | {p99:.1} ms |");
    println!(
        "| of which callback + both handler runs (no stream reads), median | {h_median:.1} ms |"
    );
    println!("| of which callback + both handler runs (no stream reads), p99 | {h_p99:.1} ms |");
    println!("| DynamoDB calls per decision change | {calls:.2} |");
    bench_results::write(
        "decision-latency",
        &[
            Figure::reported(
                "decision: callback → KYC decision changed, median (moto, 2 stream hops)",
                "reported",
                median,
                "ms",
            ),
            Figure::reported(
                "decision: callback → KYC decision changed, p99 (moto, 2 stream hops)",
                "reported",
                p99,
                "ms",
            ),
            Figure::reported(
                "decision: callback + both handler runs, median (moto, no stream reads)",
                "reported",
                h_median,
                "ms",
            ),
            Figure::reported(
                "decision: callback + both handler runs, p99 (moto, no stream reads)",
                "reported",
                h_p99,
                "ms",
            ),
            Figure::checked(
                "decision: DynamoDB calls per decision change",
                "<= 3",
                calls,
                "calls",
                calls <= 3.0,
            ),
        ],
    );
}

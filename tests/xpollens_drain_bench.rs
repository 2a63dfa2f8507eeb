//! Xpollens fallback-queue drain benchmark (`make bench`): N callbacks (default 300) waiting
//! in the simulator's queue, drained by ONE run of the drain function's wiring against moto,
//! page size 100 (production's maximum). Prints entries per second and DynamoDB calls per
//! drained entry, counted by an SDK interceptor, for two runs:
//! - `new`: none of them was received live (every entry is recorded for the first time);
//! - `duplicate`: the same callbacks queued again (all already recorded).
//!
//! Moto deep-copies the table for every item of a transaction, so `new` slows down with the
//! table's size on moto (not on DynamoDB): keep N in the hundreds.
//! Usage: `xpollens-drain-bench [CALLBACKS] [ATTEMPTS_PER_CALLBACK]`

use std::time::Instant;

use kyc_core::chrono::{Duration, TimeZone, Utc};
use kyc_integration_tests::xpollens_drain::DrainEnv;
use xpollens_sim::{Callback, SimConfig};

fn queue_all(env: &DrainEnv, prefix: &str, n: usize, attempts: usize) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap();
    for i in 0..n {
        let body = format!(
            r#"{{"type":"4","status":"Pending","appUserId":"{prefix}-{i}","kycLevel":"Standard","receivedDiligences":[{{"diligenceType":"ID_CARD","status":"Received"}}]}}"#
        );
        env.sim.push(
            Callback::new(
                &format!("{prefix}-{i}"),
                t0 + Duration::seconds(i as i64),
                &body,
            )
            .attempts(&vec![None; attempts]),
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let attempts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let env = DrainEnv::start(SimConfig {
        max_limit: 100,
        ..SimConfig::default()
    })
    .await;
    // Warm-up: token, secrets and connections (not counted).
    queue_all(&env, "warm", 1, 1);
    env.drain(100).await.expect("warm-up run");

    println!(
        "| run | callbacks | queue entries | new | duplicate | removed | seconds | entries/s | DynamoDB calls per entry | per callback |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut figures = Vec::new();
    for run in ["new", "duplicate"] {
        queue_all(&env, "bench", n, attempts);
        let calls = env.probe.calls();
        let started = Instant::now();
        // A deadline far enough for moto's pace (the function's own is its Lambda timeout).
        let deadline = Utc::now().timestamp_millis() as u64 + 3_600_000;
        let report = env.wiring(100).invoke(deadline).await.expect("drain run");
        let secs = started.elapsed().as_secs_f64();
        let calls = env.probe.calls() - calls;
        let per_entry = calls as f64 / report.read.max(1) as f64;
        let per_callback = calls as f64 / report.deliveries.max(1) as f64;
        println!(
            "| {run} | {} | {} | {} | {} | {} | {secs:.2} | {:.0} | {per_entry:.2} | {per_callback:.2} |",
            report.deliveries,
            report.read,
            report.new,
            report.duplicate,
            report.removed,
            report.read as f64 / secs,
        );
        figures.push(kyc_integration_tests::bench_results::Figure::reported(
            &format!(
                "queue drain ({run}, {} entries, moto): entries/s",
                report.read
            ),
            "reported (moto serves one request at a time)",
            (report.read as f64 / secs * 10.0).round() / 10.0,
            "entries/s",
        ));
        figures.push(kyc_integration_tests::bench_results::Figure::checked(
            &format!("queue drain ({run}): DynamoDB calls per entry"),
            "<= 1",
            (per_entry * 100.0).round() / 100.0,
            "calls",
            per_entry <= 1.0,
        ));
        assert_eq!(report.removed, report.read, "{report:?}");
        assert_eq!(env.sim.queue_len(), 0);
    }
    kyc_integration_tests::bench_results::write("xpollens-drain", &figures);
}

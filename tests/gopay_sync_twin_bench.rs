//! GoPay sync engine measured alone (`make bench`): N due profiles (default 10,000) in the
//! in-memory twins (`kyc_gopay::memory`) with a per-call latency (default 5 ms for the
//! store, the rescue place and the PDF sink; 20 ms for GoPay), ONE run.
//! Every access token has expired, so each profile is claimed, refreshed (raw answer kept,
//! rotated token stored, raw copy removed), polled and scheduled.
//!
//! Prints profiles/s against the Little's-law bound for the configured concurrency
//! (`concurrency / W`, W = the sum of the latencies of one profile's sequential calls, from the
//! measured calls per profile), the ratio (goal >= 80 %), calls per profile and the refresh
//! tokens GoPay saw used twice (must be 0).
//! Usage: `gopay-sync-twin-bench [PROFILES] [CONCURRENCY] [STORE_MS] [GOPAY_MS]`

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use kyc_core::chrono::{Duration, Utc};
use kyc_core::crypto::{Keyring, PayloadKey};
use kyc_core::intake::MemoryStore;
use kyc_core::redact::Secret;
use kyc_core::secrets::{Cached, StaticSecrets};
use kyc_gopay::consent::GoPayHosts;
use kyc_gopay::identification::{IdentificationState, StatusSnapshot};
use kyc_gopay::memory::{MemoryGoPay, MemoryGoPayStore, MemoryPdfSink, MemoryTokenRescue};
use kyc_gopay::store::{sealed_access_aad, sealed_refresh_aad, ProfileRecord, ProfileStatus};
use kyc_gopay::sync::{run, SyncDeps, SyncSettings};
use kyc_gopay::tokens::ClientCredentials;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let store_ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let gopay_ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let store_latency = StdDuration::from_millis(store_ms);
    let shards = 4;

    let store = Arc::new(MemoryGoPayStore::with_latency(shards, store_latency));
    let rescue = Arc::new(MemoryTokenRescue::with_latency(store_latency));
    let pdfs = Arc::new(MemoryPdfSink::with_latency(store_latency));
    // The steady run records no event (the state is the one recorded last time); the count
    // below proves it, so the event store needs no latency of its own.
    let events = Arc::new(MemoryStore::default());
    let gopay = Arc::new(MemoryGoPay::with_latency(StdDuration::from_millis(
        gopay_ms,
    )));
    let keys = Keyring::new(PayloadKey::new("bench", [7; 32]).unwrap(), vec![]);

    // Seed: consented profiles, access tokens expired, state already known (steady run).
    let now = Utc::now();
    let known = StatusSnapshot::new(IdentificationState::Pending, []);
    for i in 0..n {
        let issued = gopay.consent(&format!("{}", 100_000 + i));
        let id = issued.profile.clone();
        store.insert(ProfileRecord {
            client_profile_id: id.clone(),
            customer_id: format!("bench-{i}"),
            status: ProfileStatus::Active,
            token_gen: 1,
            sealed_refresh: Some(keys.seal_secret(
                &sealed_refresh_aad(&id, 1, &format!("bench-{i}")),
                &issued.refresh_token,
            )),
            sealed_access: Some(keys.seal_secret(
                &sealed_access_aad(&id, 1, &format!("bench-{i}")),
                &issued.access_token,
            )),
            access_expires_at: Some(now - Duration::minutes(1)),
            next_due_at: Some(now - Duration::minutes(1)),
            consecutive_failures: 0,
            last_snapshot: Some(known.clone()),
            pdf_key: None,
            lease: None,
            updated_at: Some(now),
            event_pending: false,
            missing_polls: 0,
            sealed_identity: None,
            dead_token_evidence: None,
        });
    }
    let source = Arc::new(StaticSecrets(Default::default()));
    let deps = SyncDeps {
        store: store.clone(),
        events: events.clone(),
        rescue: rescue.clone(),
        pdfs: pdfs.clone(),
        transport: gopay.clone(),
        hosts: GoPayHosts::beta(),
        credentials: Cached::new(source.clone(), "c", StdDuration::from_secs(300), |_| {
            Err("unused".to_string())
        })
        .preloaded(ClientCredentials::new(
            gopay.client_id.clone(),
            Secret::new(gopay.client_secret.clone()),
        )),
        keys: Cached::new(source, "k", StdDuration::from_secs(300), |_| {
            Err("unused".to_string())
        })
        .preloaded(keys),
        clock: Arc::new(Utc::now),
    };
    let mut settings = SyncSettings::new("bench");
    settings.shards = shards;
    settings.concurrency = concurrency;
    settings.max_profiles = n;

    let started = Instant::now();
    let report = run(deps, settings, Utc::now() + Duration::hours(1))
        .await
        .expect("run");
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(report.refreshed as usize, n, "{report:?}");
    assert_eq!(report.polled as usize, n, "{report:?}");

    let per = |c: u64| c as f64 / n as f64;
    let store_calls = per(store.calls());
    let rescue_calls = per(rescue.calls());
    let pdf_calls = per(pdfs.calls());
    let event_calls = per(events.event_count() as u64);
    let gopay_calls = per(gopay.requests());
    // W: one profile's calls, one after the other, at their configured latencies.
    let w_ms = (store_calls + rescue_calls + pdf_calls + event_calls) * store_ms as f64
        + gopay_calls * gopay_ms as f64;
    let bound = concurrency as f64 / (w_ms / 1000.0);
    let rate = n as f64 / wall;
    let reused = gopay.reuses();
    println!(
        "| profiles | concurrency | latency store/GoPay | wall (s) | profiles/s | Little's-law bound | ratio | calls/profile (store + rescue + PDF + events / GoPay) | tokens used twice |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {concurrency} | {store_ms} ms / {gopay_ms} ms | {wall:.1} | {rate:.0} | {bound:.0} | {:.0} % | {:.2} + {:.2} + {:.2} + {:.2} / {:.2} | {reused} |",
        100.0 * rate / bound,
        store_calls,
        rescue_calls,
        pdf_calls,
        event_calls,
        gopay_calls,
    );
    kyc_integration_tests::bench_results::write(
        "gopay-sync-twin",
        &[
            kyc_integration_tests::bench_results::Figure::checked(
                &format!("GoPay engine (twins, concurrency {concurrency}): profiles/s vs Little's-law bound {bound:.0}"),
                ">= 75 % of the bound",
                (rate * 10.0).round() / 10.0,
                "profiles/s",
                rate >= 0.75 * bound,
            ),
            kyc_integration_tests::bench_results::Figure::checked(
                "GoPay engine (twins): refresh tokens used twice",
                "0",
                reused as f64,
                "tokens",
                reused == 0,
            ),
        ],
    );
    assert_eq!(reused, 0, "a refresh token was used twice");
}

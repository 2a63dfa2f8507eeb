//! GoPay sync benchmark (`make bench`): N consented profiles (default 10,000) due at once, ONE
//! sync run against moto and the simulator. Prints profiles per second, DynamoDB calls per
//! profile and the number of Scans (must be 0), counted by an SDK interceptor. Every access
//! token has expired, so every profile is refreshed (the rotated token persisted first),
//! polled and scheduled.
//!
//! Scenarios: `steady` (default) — the state is the one recorded last time, the common case
//! of a run; `first` — each poll is a change, recorded through the intake transaction. Moto
//! deep-copies the whole table for every item of a transaction, so `first` slows down with
//! table size on moto (not on DynamoDB): run it with a few hundred profiles.
//! Usage: `gopay-sync-bench [PROFILES] [CONCURRENCY] [steady|first]`

use std::time::Instant;

use gopay_sim::{ProfileSpec, Script, SimConfig};
use kyc_aws::aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use kyc_core::chrono::Duration;
use kyc_core::crypto::Keyring;
use kyc_core::redact::Secret;
use kyc_core::secrets::SecretSource;
use kyc_gopay::aws::store::DynamoGoPayStore;
use kyc_gopay::identification::{ClientProfileId, IdentificationState, StatusSnapshot};
use kyc_gopay::store::{sealed_access_aad, sealed_refresh_aad, NewConsent, SealedTokens};
use kyc_integration_tests::gopay::GoPayEnv;
use kyc_integration_tests::{GOPAY_PAYLOAD_KEY_SECRET, TABLE};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let steady = args.next().as_deref() != Some("first");
    let env = GoPayEnv::start(SimConfig::default()).await;
    let keys =
        Keyring::from_staged(&env.secrets.staged(GOPAY_PAYLOAD_KEY_SECRET).await.unwrap()).unwrap();

    // Seed: consents granted at GoPay, imported with batch writes (the callback path is
    // measured by the tests; here only the run is timed).
    let seeded = Instant::now();
    let consents = env
        .sim
        .grant_consents(n, &ProfileSpec::with_script(Script::pending()));
    let store = DynamoGoPayStore::new(env.ddb.clone(), TABLE, env.shards);
    let known = StatusSnapshot::new(IdentificationState::Pending, []);
    let now = env.sim.now();
    let items: Vec<WriteRequest> = consents
        .iter()
        .map(|c| {
            let id = ClientProfileId::new(c.profile_id.to_string()).unwrap();
            let generation = 1;
            let customer = format!("bench-{}", c.profile_id);
            let tokens = SealedTokens {
                client_profile_id: id.as_str().to_string(),
                generation,
                sealed_refresh: keys.seal_secret(
                    &sealed_refresh_aad(&id, generation, &customer),
                    &Secret::new(c.refresh_token.clone()),
                ),
                sealed_access: keys.seal_secret(
                    &sealed_access_aad(&id, generation, &customer),
                    &Secret::new(c.access_token.clone()),
                ),
                access_expires_at: c.access_expires_at,
                customer_id: None,
                sealed_identity: None,
            };
            let consent = NewConsent {
                expected_generation: None,
                customer_id: customer,
                client_profile_id: id,
                tokens,
                sealed_identity: None,
                due_at: now,
                now,
            };
            let item = store.profile_item(&consent, steady.then_some(&known));
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build()
        })
        .collect();
    for chunk in items.chunks(25) {
        let mut pending = Some(
            [(TABLE.to_string(), chunk.to_vec())]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
        while let Some(batch) = pending.take().filter(|b| !b.is_empty()) {
            let out = env
                .ddb
                .batch_write_item()
                .set_request_items(Some(batch))
                .send()
                .await
                .unwrap();
            pending = out.unprocessed_items;
        }
    }
    println!(
        "seeded {n} profiles in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );

    // Every access token expired: each profile is refreshed, persisted, polled, recorded.
    env.sim.advance(Duration::minutes(61));
    let calls_before = env.probe.calls();
    let mut settings = env.sync_settings("bench-run");
    settings.concurrency = concurrency;
    let deadline = env.sim.now() + Duration::minutes(15);
    let started = Instant::now();
    let report = kyc_gopay::sync::run(env.sync_deps(), settings, deadline)
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let calls = env.probe.calls() - calls_before;
    // The run's own calls (its lease, the due-list pages) do not grow with the profiles: a
    // second run right away finds nothing due and makes only those.
    let idle_before = env.probe.calls();
    let idle = kyc_gopay::sync::run(env.sync_deps(), env.sync_settings("bench-idle"), deadline)
        .await
        .unwrap();
    assert_eq!(idle.polled, 0, "the idle run found profiles due");
    let run_calls = env.probe.calls() - idle_before;
    let per_profile = calls.saturating_sub(run_calls) as f64 / report.polled.max(1) as f64;
    println!("| metric | value |\n|---|---|");
    println!("| profiles due | {} |", report.due);
    println!("| profiles polled | {} |", report.polled);
    println!("| refreshed (rotations persisted) | {} |", report.refreshed);
    println!("| changes recorded | {} |", report.changes);
    println!("| failures | {} |", report.failures);
    println!("| run time | {secs:.1} s |");
    println!("| profiles/s | {:.0} |", report.polled as f64 / secs);
    println!("| DynamoDB calls | {calls} |");
    println!("| the run's own calls (lease, due list: an idle run) | {run_calls} |");
    println!("| DynamoDB calls per profile (run's own excluded) | {per_profile:.2} |");
    println!("| Scan calls | {} |", env.probe.scans());
    println!(
        "| refresh tokens used twice | {} |",
        env.sim.refresh_token_reuse_count()
    );
    println!("| concurrency | {concurrency} |");
    println!(
        "| scenario | {} |",
        if steady {
            "steady (no change to record)"
        } else {
            "first poll (every profile a change)"
        }
    );
    {
        use kyc_integration_tests::bench_results::{write, Figure};
        let reused = env.sim.refresh_token_reuse_count();
        write(
            "gopay-sync-moto",
            &[
                Figure::reported(
                    &format!(
                        "GoPay sync on moto ({} profiles): profiles/s",
                        report.polled
                    ),
                    "reported (moto serves one request at a time)",
                    (report.polled as f64 / secs * 10.0).round() / 10.0,
                    "profiles/s",
                ),
                Figure::checked(
                    "GoPay sync: DynamoDB calls per profile (the run's lease and due list excluded)",
                    "<= 3",
                    (per_profile * 100.0).round() / 100.0,
                    "calls",
                    per_profile <= 3.0,
                ),
                Figure::checked(
                    "GoPay sync: Scan calls",
                    "0",
                    env.probe.scans() as f64,
                    "calls",
                    env.probe.scans() == 0,
                ),
                Figure::checked(
                    "GoPay sync (moto): refresh tokens used twice",
                    "0",
                    reused as f64,
                    "tokens",
                    reused == 0,
                ),
            ],
        );
    }
    assert_eq!(env.probe.scans(), 0);
    assert_eq!(env.sim.refresh_token_reuse_count(), 0);
}

//! Xpollens load run (issue 13): N callbacks (default 10,000; mixed types, 10 % duplicates,
//! shuffled) through the real handler (`xpollens_callback::build_endpoint` + `handle`: the
//! DynamoDB adapter, Secrets Manager, S3) against a local moto server, from 64 concurrent
//! senders (tokio tasks); a 5xx is re-sent as Xpollens would. Then checks:
//! - zero lost: one event item per distinct callback (a Scan of the event items: this check
//!   only, never the product);
//! - zero double-applied: every customer's history names each of its events exactly once;
//! - final states equal to an in-order delivery's: the same distinct callbacks, in order, into
//!   the in-memory store through the same handler code, compared stream by stream.
//!
//! Prints throughput and p50/p99 handler time; writes target/bench-results/xpollens-load.json.
//!
//! Moto serves one request at a time (tools/moto_serial.py, see its header), so the
//! throughput and handler times measure moto. The launcher journals only the items a
//! transaction names and answers a key Query from its partition, so the run grows with N
//! (10,000 callbacks: about 3 minutes). Not in `make test`; `make bench` runs the full 10,000.
//!
//! Usage: xpollens-load [--count N] [--senders S] [--seed X]

use kyc_aws::aws_sdk_dynamodb::types::AttributeValue;
use kyc_aws::DynamoStore;
use kyc_core::auth::CredentialSet;
use kyc_core::crypto::{Keyring, PayloadKey};
use kyc_core::intake::{EventStore, MemoryStore, Provider};
use kyc_core::kyc_state::ProviderState;
use kyc_core::secrets::{Cached, StagedSecret, StaticSecrets};
use kyc_integration_tests::bench_results::{self, Figure};
use kyc_integration_tests::*;
use kyc_xpollens::delivery::Recorder;
use kyc_xpollens::endpoint::{CallbackAuth, Endpoint};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One generated callback: its customer (None: a type naming nobody) and its delivery.
#[derive(Clone)]
struct Generated {
    customer: Option<String>,
    delivery: Delivery,
}

/// Seven callbacks per customer, provider times strictly increasing: a KYC demand's life
/// (4: Initialized, Pending, then Incomplete or Complete), the user record (34: Initialized,
/// InProgress, then Validated or Refused), and a callback of a type this product does not
/// use (16, naming nobody: answered 204).
fn generate(distinct: usize, rng: &mut impl Rng) -> Vec<Generated> {
    let mut out = Vec::with_capacity(distinct);
    let base = kyc_core::chrono::DateTime::parse_from_rfc3339("2026-11-12T08:00:00Z")
        .unwrap()
        .with_timezone(&kyc_core::chrono::Utc);
    let mut customer = 0usize;
    while out.len() < distinct {
        let c = format!("load-{customer:05}");
        let t0 = base + kyc_core::chrono::Duration::seconds(customer as i64 * 10);
        let demand_end = if rng.random_bool(0.5) {
            "Complete"
        } else {
            "Incomplete"
        };
        let record_end = if rng.random_bool(0.8) {
            "Validated"
        } else {
            "Refused"
        };
        let events: [(i64, Option<&str>, String); 7] = [
            (
                0,
                Some(&c),
                format!(r#"{{"type":"4","status":"Initialized","appUserId":"{c}"}}"#),
            ),
            (
                60,
                Some(&c),
                format!(
                    r#"{{"type":"4","status":"Pending","appUserId":"{c}","kycLevel":"Standard","receivedDiligences":[{{"diligenceType":"ID_CARD","status":"Received"}}]}}"#
                ),
            ),
            (
                30,
                Some(&c),
                format!(r#"{{"type":"34","appUserId":"{c}","userRecordStatus":"Initialized"}}"#),
            ),
            (
                90,
                Some(&c),
                format!(
                    r#"{{"type":"34","appUserId":"{c}","userRecordStatus":"InProgress","identificationLevel":"Intermediate"}}"#
                ),
            ),
            (
                120,
                Some(&c),
                format!(r#"{{"type":"4","status":"{demand_end}","appUserId":"{c}"}}"#),
            ),
            (
                150,
                Some(&c),
                format!(r#"{{"type":"34","appUserId":"{c}","userRecordStatus":"{record_end}"}}"#),
            ),
            (200, None, format!(r#"{{"type":"16","amount":{customer}}}"#)),
        ];
        for (k, (offset, who, body)) in events.into_iter().enumerate() {
            if out.len() == distinct {
                break;
            }
            let at = t0 + kyc_core::chrono::Duration::seconds(offset);
            out.push(Generated {
                customer: who.map(str::to_string),
                delivery: Delivery::new(
                    &format!("{c}-{k}"),
                    &at.format("%d/%m/%Y %H:%M:%S +00:00").to_string(),
                    &body,
                ),
            });
        }
        customer += 1;
    }
    // In provider order: the reference in-order delivery.
    out.sort_by_key(|g| {
        g.delivery.process_date.as_deref().and_then(|d| {
            kyc_core::chrono::DateTime::parse_from_str(d, "%d/%m/%Y %H:%M:%S %:z").ok()
        })
    });
    out
}

fn arg(args: &[String], name: &str) -> Option<usize> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// Comparable view of a customer's states (status, finality, cause and order per stream).
fn states_view(states: &BTreeMap<Provider, ProviderState>) -> Value {
    json!(states
        .iter()
        .map(|(p, s)| (
            p.as_str().to_string(),
            s.streams
                .iter()
                .map(|(k, v)| (
                    k.attribute().to_string(),
                    json!({"status": v.status, "final": v.is_final, "eventId": v.event_id, "ord": v.ord})
                ))
                .collect::<BTreeMap<_, _>>()
        ))
        .collect::<BTreeMap<_, _>>())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Xpollens re-sends a callback answered 5xx.
const ATTEMPTS: usize = 5;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = arg(&args, "--count").unwrap_or(10_000);
    let senders = arg(&args, "--senders").unwrap_or(64).max(1);
    let seed = arg(&args, "--seed").unwrap_or(13) as u64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let duplicates = count / 10;
    let distinct = count - duplicates;
    let generated = generate(distinct, &mut rng);
    // 10 % duplicates: re-sends of random callbacks (same Webhook-Id, same body), then shuffled.
    let mut sends: Vec<usize> = (0..distinct).collect();
    sends.extend((0..duplicates).map(|_| rng.random_range(0..distinct)));
    sends.shuffle(&mut rng);

    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let endpoint = Arc::new(xpollens_callback::build_endpoint(&settings(TABLE), &config).unwrap());
    eprintln!(
        "xpollens-load: {count} callbacks ({distinct} distinct, {duplicates} duplicates), {senders} senders, moto at {}",
        moto.endpoint
    );

    let queue: Arc<Mutex<VecDeque<usize>>> = Arc::new(Mutex::new(sends.into_iter().collect()));
    let generated = Arc::new(generated);
    let timings: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let statuses: Arc<Mutex<BTreeMap<u16, usize>>> = Arc::default();
    let unanswered = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..senders {
        let (queue, generated, endpoint) = (queue.clone(), generated.clone(), endpoint.clone());
        let (timings, statuses, unanswered) =
            (timings.clone(), statuses.clone(), unanswered.clone());
        tasks.spawn(async move {
            loop {
                let Some(i) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let request = &generated[i].delivery;
                let mut last = 0;
                for _ in 0..ATTEMPTS {
                    let t = Instant::now();
                    let resp = xpollens_callback::handle(&endpoint, request.request())
                        .await
                        .unwrap();
                    timings.lock().unwrap().push(t.elapsed());
                    last = resp.status().as_u16();
                    if last < 500 {
                        break;
                    }
                }
                *statuses.lock().unwrap().entry(last).or_default() += 1;
                if last >= 500 {
                    unanswered.lock().unwrap().push(i);
                }
                let done = timings.lock().unwrap().len();
                if done % 1000 == 0 {
                    eprintln!(
                        "  {done} handler calls, {:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let wall = started.elapsed();
    let mut timings = timings.lock().unwrap().clone();
    timings.sort();

    // --- checks --------------------------------------------------------------------------
    let ddb = kyc_aws::aws_sdk_dynamodb::Client::new(&config);
    let mut event_items = 0usize;
    let mut start_key: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = ddb
            .scan()
            .table_name(TABLE)
            .filter_expression("begins_with(PK, :p) AND SK = :e")
            .expression_attribute_values(":p", AttributeValue::S("XP#E#".into()))
            .expression_attribute_values(":e", AttributeValue::S("EVENT".into()))
            .select(kyc_aws::aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start_key.take())
            .send()
            .await
            .expect("scan event items");
        event_items += page.count() as usize;
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start_key = Some(k.clone()),
            _ => break,
        }
    }

    // The in-order reference: the same handler code, the in-memory store, provider order.
    let reference = Arc::new(MemoryStore::default());
    let creds = StagedSecret {
        current: kyc_core::redact::Secret::new(format!(
            r#"{{"scheme":"basic","username":"{USERNAME}","password":"{PASSWORD}"}}"#
        )),
        previous: None,
        current_since: None,
    };
    let in_order = Endpoint {
        recorder: Recorder {
            store: reference.clone(),
            keys: Cached::new(
                Arc::new(StaticSecrets(HashMap::new())),
                "k",
                Duration::from_secs(3600),
                |_| Err("preloaded".to_string()),
            )
            .preloaded(Keyring::new(
                PayloadKey::new("ref", [3; 32]).unwrap(),
                vec![],
            )),
        },
        auth: CallbackAuth::Credentials(
            Cached::new(
                Arc::new(StaticSecrets(HashMap::new())),
                "c",
                Duration::from_secs(3600),
                |_| Err("preloaded".to_string()),
            )
            .preloaded(CredentialSet::from_staged(&creds).unwrap()),
        ),
        allow_list: None,
        clock: Arc::new(kyc_core::chrono::Utc::now),
    };
    for g in generated.iter() {
        xpollens_callback::handle(&in_order, g.delivery.request())
            .await
            .unwrap();
    }
    let store = DynamoStore::new(&config, TABLE);
    let mut expected_ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in generated.iter() {
        if let Some(c) = &g.customer {
            expected_ids
                .entry(c.clone())
                .or_default()
                .insert(g.delivery.webhook_id.clone().unwrap());
        }
    }
    let (mut lost, mut doubled, mut state_mismatches) = (0usize, 0usize, 0usize);
    for (customer, ids) in &expected_ids {
        let history = store.history(customer).await.expect("history");
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for h in &history {
            *seen.entry(h.event_id.clone()).or_default() += 1;
        }
        lost += ids.iter().filter(|id| !seen.contains_key(*id)).count();
        doubled += seen.values().filter(|n| **n > 1).count();
        let got = states_view(&store.provider_states(customer).await.expect("states"));
        let want = states_view(&reference.provider_states(customer).await.unwrap());
        if got != want {
            state_mismatches += 1;
            if state_mismatches <= 3 {
                eprintln!("state differs for {customer}:\n  in order: {want}\n  loaded:   {got}");
            }
        }
    }
    let missing_items = distinct.saturating_sub(event_items);
    let extra_items = event_items.saturating_sub(distinct);
    let unanswered = unanswered.lock().unwrap().len();

    let throughput = count as f64 / wall.as_secs_f64();
    let p50 = percentile(&timings, 50.0).as_secs_f64() * 1000.0;
    let p99 = percentile(&timings, 99.0).as_secs_f64() * 1000.0;
    println!("| figure | value |\n|---|---|");
    println!("| callbacks sent (distinct + duplicates) | {count} ({distinct} + {duplicates}) |");
    println!("| concurrent senders | {senders} |");
    println!("| answers | {:?} |", statuses.lock().unwrap());
    println!("| handler calls (with 5xx re-sends) | {} |", timings.len());
    println!("| wall time | {:.1} s |", wall.as_secs_f64());
    println!("| throughput | {throughput:.1} callbacks/s |");
    println!("| handler time p50 / p99 | {p50:.1} ms / {p99:.1} ms |");
    println!("| event items / distinct callbacks | {event_items} / {distinct} |");
    println!("| lost (history) / missing event items | {lost} / {missing_items} |");
    println!("| double-applied (history entries twice) / extra event items | {doubled} / {extra_items} |");
    println!(
        "| customers whose state differs from in-order delivery | {state_mismatches} of {} |",
        expected_ids.len()
    );
    println!("| still 5xx after {ATTEMPTS} attempts | {unanswered} |");

    let ok = |n: usize| n == 0;
    bench_results::write(
        "xpollens-load",
        &[
            Figure::checked(
                &format!("load ({count} callbacks, {senders} senders): lost"),
                "0",
                (lost + missing_items + unanswered) as f64,
                "callbacks",
                ok(lost + missing_items + unanswered),
            ),
            Figure::checked(
                "load: double-applied",
                "0",
                (doubled + extra_items) as f64,
                "callbacks",
                ok(doubled + extra_items),
            ),
            Figure::checked(
                "load: final states unlike in-order delivery",
                "0",
                state_mismatches as f64,
                "customers",
                ok(state_mismatches),
            ),
            Figure::reported(
                "load: throughput on moto",
                "reported (moto serves one request at a time)",
                throughput,
                "callbacks/s",
            ),
            Figure::reported("load: handler time p50 on moto", "reported", p50, "ms"),
            Figure::reported("load: handler time p99 on moto", "reported", p99, "ms"),
        ],
    );
    if lost + missing_items + unanswered + doubled + extra_items + state_mismatches > 0 {
        std::process::exit(1);
    }
}

//! Xpollens fallback-queue drain end to end: the drain function's wiring against the Xpollens
//! API simulator (OAuth2 token, queue with one entry per delivery attempt) and moto (the same
//! durable intake as the live callback handler, which the tests also drive).

use std::time::Duration as StdDuration;

use kyc_core::chrono::{DateTime, TimeZone, Utc};
use kyc_core::intake::{EventStore, Provider};
use kyc_core::kyc_state::Stream;
use kyc_integration_tests::xpollens_drain::*;
use kyc_integration_tests::{basic, Delivery, USERNAME};
use xpollens_sim::{Callback, DateForm, Endpoint, Fault, FaultKind, PayloadForm, SimConfig};

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 9, minute, 0).unwrap()
}

fn kyc_body(user: &str, status: &str) -> String {
    format!(r#"{{"type":"4","status":"{status}","appUserId":"{user}"}}"#)
}

async fn kyc_status(env: &DrainEnv, user: &str) -> Option<String> {
    env.reader
        .provider_states(user)
        .await
        .unwrap()
        .get(&Provider::Xpollens)
        .and_then(|s| s.status(Stream::KYC_DEMAND))
        .map(str::to_string)
}

/// A callback Xpollens sent live (we answer it with the real handler) and logged in the queue
/// with our answer, as it does for every attempt.
async fn sent_live(env: &DrainEnv, id: &str, minute: u32, body: &str) -> u16 {
    let status = env
        .live(&Delivery::new(id, &header_date(at(minute)), body))
        .await;
    env.sim
        .push(Callback::new(id, at(minute), body).attempts(&[Some(status)]));
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_refused_live_is_recovered_from_the_queue() {
    let env = DrainEnv::start(SimConfig::default()).await;
    // Refused live (credentials out of sync after a rotation): 401 on every attempt.
    let mut refused = Delivery::new("rf-1", &header_date(at(1)), &kyc_body("rita", "Pending"));
    refused.authorization = basic(USERNAME, "stale-password");
    let live_status = env.live(&refused).await;
    assert_eq!(live_status, 401);
    env.sim.push(
        Callback::new("rf-1", at(1), &kyc_body("rita", "Pending")).attempts(&[
            Some(401),
            Some(401),
            Some(401),
            Some(401),
            Some(401),
        ]),
    );
    // Never reached us (outage): no answer on any attempt; ISO date without offset, payload
    // as a JSON string, no metadata.type.
    env.sim.push(
        Callback::new("rf-2", at(2), &kyc_body("omar", "Incomplete"))
            .attempts(&[None, None, None])
            .date_form(DateForm::WithoutOffset)
            .payload_form(PayloadForm::String)
            .without_type(),
    );
    assert_eq!(kyc_status(&env, "rita").await, None);

    let report = env.drain(30).await.unwrap();
    assert_eq!(
        (
            report.read,
            report.deliveries,
            report.new,
            report.duplicate,
            report.removed
        ),
        (8, 2, 2, 0, 8),
        "{report:?}"
    );
    assert!(report.drained && !report.stopped_for_deadline);
    assert_eq!(env.sim.queue_len(), 0);
    assert_eq!(kyc_status(&env, "rita").await.as_deref(), Some("Pending"));
    assert_eq!(
        kyc_status(&env, "omar").await.as_deref(),
        Some("Incomplete")
    );
    let history = env.history("rita").await;
    assert_eq!(history.len(), 1, "one event for five attempts");
    assert_eq!(history[0].event_id, "rf-1");
    assert_eq!(
        history[0].provider_time,
        Some(at(1)),
        "metadata.processDate"
    );
    // The queue's form without an offset, 7-digit fraction: read as UTC by the intake.
    let omar = env.history("omar").await;
    assert_eq!(omar[0].event_id, "rf-2");
    assert_eq!(omar[0].provider_time, Some(at(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_received_live_come_back_as_duplicates() {
    let env = DrainEnv::start(SimConfig::default()).await;
    for (i, status) in ["Pending", "Incomplete", "Complete"].iter().enumerate() {
        let s = sent_live(
            &env,
            &format!("lv-{i}"),
            i as u32,
            &kyc_body("lena", status),
        )
        .await;
        assert_eq!(s, 202);
    }
    // One of them was retried by Xpollens (our first answer got lost): two entries, one id,
    // and this copy's payload is re-serialised (other bytes, same JSON): still the same event.
    env.sim.push(
        Callback::new("lv-1", at(1), &kyc_body("lena", "Incomplete"))
            .attempts(&[Some(202)])
            .payload_form(PayloadForm::Reserialized),
    );
    let history_before = env.history("lena").await;
    let report = env.drain(30).await.unwrap();
    assert_eq!(
        (
            report.read,
            report.deliveries,
            report.new,
            report.duplicate,
            report.removed
        ),
        (4, 4, 0, 4, 4),
        "{report:?}"
    );
    assert_eq!(report.conflict + report.rejected + report.failed, 0);
    assert_eq!(env.history("lena").await, history_before, "nothing written");
    assert_eq!(kyc_status(&env, "lena").await.as_deref(), Some("Complete"));
    assert_eq!(env.sim.queue_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_read_and_remove_loses_and_duplicates_nothing() {
    let env = DrainEnv::start(SimConfig::default()).await;
    for i in 0..5 {
        env.sim.push(
            Callback::new(
                &format!("cr-{i}"),
                at(i),
                &kyc_body(&format!("c{i}"), "Pending"),
            )
            .attempts(&[None, Some(503)]),
        );
    }
    // The removal hangs; the run is killed while waiting for it (a Lambda timeout or crash):
    // every entry was recorded, the removal request may or may not have been carried out.
    env.sim.set_fault(
        Endpoint::QueueRemove,
        Fault::times(FaultKind::Latency(StdDuration::from_secs(2)), 1),
    );
    {
        let run = env.drain(30);
        tokio::pin!(run);
        let removal_sent = async {
            while env.sim.request_count(Endpoint::QueueRemove) == 0 {
                tokio::time::sleep(StdDuration::from_millis(10)).await;
            }
        };
        tokio::select! {
            r = &mut run => panic!("the run should hang on its removal: {r:?}"),
            _ = removal_sent => {}
        }
        // Dropping the run here is the crash.
    }
    for i in 0..5 {
        assert_eq!(
            env.history(&format!("c{i}")).await.len(),
            1,
            "recorded before the removal"
        );
    }
    // The held removal settles (carried out after its latency, or abandoned with the killed
    // run's connection) before the queue is looked at: either way, once.
    let deadline = std::time::Instant::now() + StdDuration::from_secs(30);
    while env.sim.settled_count(Endpoint::QueueRemove)
        < env.sim.request_count(Endpoint::QueueRemove)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the held removal never settled"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }

    // A removal refused outright: the run fails visibly, the page stays.
    env.sim
        .push(Callback::new("cr-9", at(9), &kyc_body("c9", "Pending")));
    env.sim.set_fault(
        Endpoint::QueueRemove,
        Fault::times(FaultKind::Status(503), 1),
    );
    let failed = env.drain(30).await.unwrap_err().0;
    assert!(
        failed.failure.as_deref().unwrap().contains("removal"),
        "{failed:?}"
    );
    assert_eq!(failed.removed, 0);
    let left = env.sim.queue_len();
    assert!(
        left == 1 || left == 11,
        "queue untouched by the failed run: {left}"
    );

    // The re-run: nothing new, everything removed, every callback recorded exactly once.
    let rerun = env.drain(30).await.unwrap();
    assert_eq!(rerun.new, 0, "{rerun:?}");
    assert_eq!(rerun.duplicate, if left == 11 { 6 } else { 1 });
    assert_eq!(rerun.removed as usize, left);
    assert_eq!(env.sim.queue_len(), 0);
    for user in ["c0", "c1", "c2", "c3", "c4", "c9"] {
        let h = env.history(user).await;
        assert_eq!(h.len(), 1, "{user}: {h:?}");
        assert_eq!(kyc_status(&env, user).await.as_deref(), Some("Pending"));
    }
    // Removals carried out: only ever the Y entries read.
    for r in env.sim.removals() {
        assert!(r.removed <= r.limit as usize);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_mid_page_removes_nothing() {
    let env = DrainEnv::start(SimConfig::default()).await;
    // How many DynamoDB calls one new callback takes (also warms the caches).
    env.sim
        .push(Callback::new("mp-w", at(0), &kyc_body("warm", "Pending")));
    let before = env.probe.calls();
    assert_eq!(env.drain(30).await.unwrap().new, 1);
    let per_new = (env.probe.calls() - before) as i64;
    for i in 1..=4 {
        env.sim.push(Callback::new(
            &format!("mp-{i}"),
            at(i),
            &kyc_body(&format!("m{i}"), "Pending"),
        ));
    }
    // The first callback of the page is recorded, the second one's first write fails.
    env.probe.fail_nth_call(per_new + 1);
    let failed = env.drain(30).await.unwrap_err().0;
    assert_eq!(
        env.probe.failed.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(
        (failed.read, failed.new, failed.failed, failed.removed),
        (4, 1, 1, 0),
        "{failed:?}"
    );
    assert_eq!(env.sim.queue_len(), 4, "nothing removed");
    assert_eq!(env.sim.removals().len(), 1, "only the warm-up run removed");
    assert_eq!(env.history("m2").await.len(), 0);
    let rerun = env.drain(30).await.unwrap();
    assert_eq!((rerun.new, rerun.duplicate, rerun.removed), (3, 1, 4));
    for i in 1..=4 {
        assert_eq!(env.history(&format!("m{i}")).await.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_renews_the_token_once() {
    let env = DrainEnv::start(SimConfig::default()).await;
    env.sim
        .push(Callback::new("tk-1", at(1), &kyc_body("tara", "Pending")));
    env.drain(30).await.unwrap();
    assert_eq!(env.sim.tokens_issued(), 1);
    // The next run reuses the cached token.
    env.sim.push(Callback::new(
        "tk-2",
        at(2),
        &kyc_body("tara", "Incomplete"),
    ));
    env.drain(30).await.unwrap();
    assert_eq!(env.sim.tokens_issued(), 1, "token cached across runs");
    // Xpollens revokes it: the API answers 401, the drain renews once and goes on.
    env.sim.revoke_tokens();
    env.sim
        .push(Callback::new("tk-3", at(3), &kyc_body("tara", "Complete")));
    let report = env.drain(30).await.unwrap();
    assert_eq!((report.new, report.removed), (1, 1));
    assert_eq!(env.sim.tokens_issued(), 2);
    assert_eq!(kyc_status(&env, "tara").await.as_deref(), Some("Complete"));
    // A 401 that persists: exactly one renewal, then the run fails (no loop), nothing removed.
    env.sim
        .push(Callback::new("tk-4", at(4), &kyc_body("tony", "Pending")));
    env.sim
        .set_fault(Endpoint::QueueRead, Fault::always(FaultKind::Status(401)));
    let reads = env.sim.request_count(Endpoint::QueueRead);
    let failed = env.drain(30).await.unwrap_err().0;
    assert!(
        failed.failure.as_deref().unwrap().contains("401"),
        "{failed:?}"
    );
    assert_eq!(env.sim.tokens_issued(), 3);
    assert_eq!(env.sim.request_count(Endpoint::QueueRead), reads + 2);
    assert_eq!(env.sim.queue_len(), 1);
    env.sim.clear_faults();
    assert_eq!(env.drain(30).await.unwrap().new, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pages_with_repeated_ids_make_one_event_per_id() {
    let env = DrainEnv::start(SimConfig::default()).await;
    // 25 callbacks, every third retried three times: 25 + 2 × 9 = 43 entries; limit 10.
    for i in 0..25u32 {
        let attempts: &[Option<u16>] = if i % 3 == 0 {
            &[None, Some(500), Some(500)]
        } else {
            &[None]
        };
        env.sim.push(
            Callback::new(
                &format!("pg-{i}"),
                at(i),
                &kyc_body(&format!("p{i}"), "Pending"),
            )
            .attempts(attempts),
        );
    }
    let report = env.drain(10).await.unwrap();
    assert_eq!(report.read, 43);
    assert_eq!(report.removed, 43);
    assert_eq!(report.pages, 5);
    // A callback whose attempts straddle two pages is one event: new once, duplicate after.
    assert_eq!(report.new, 25, "{report:?}");
    assert_eq!(report.new + report.duplicate, report.deliveries);
    assert_eq!(env.sim.queue_len(), 0);
    for i in 0..25 {
        assert_eq!(env.history(&format!("p{i}")).await.len(), 1);
    }
    let limits: Vec<u32> = env.sim.removals().iter().map(|r| r.limit).collect();
    assert_eq!(limits, [10, 10, 10, 10, 3]);
}

// ----- issue 24: every queue copy applied or kept whole -------------------------------------

/// The event item of an event id, as DynamoDB holds it.
async fn event_item(
    env: &DrainEnv,
    id: &str,
) -> Option<std::collections::HashMap<String, kyc_aws::aws_sdk_dynamodb::types::AttributeValue>> {
    use kyc_aws::aws_sdk_dynamodb::types::AttributeValue as Av;
    kyc_aws::aws_sdk_dynamodb::Client::new(&env.config)
        .get_item()
        .table_name(kyc_integration_tests::TABLE)
        .key(
            "PK",
            Av::S(kyc_core::keys::event_pk(Provider::Xpollens, id)),
        )
        .key("SK", Av::S(kyc_core::keys::EVENT_SK.into()))
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_missed_live_is_applied_from_its_kept_query_or_kept_as_missed() {
    let env = DrainEnv::start(SimConfig::default()).await;
    // #15 never reached us; the queue kept its query string beside the empty payload.
    env.sim.push(
        Callback::new("frz-q", at(1), "")
            .payload_form(PayloadForm::String)
            .of_type("15")
            .with_query_string("type=15&userstatus=2&userid=fred")
            .attempts(&[None, Some(503)]),
    );
    // Another one kept nothing but its type.
    env.sim.push(
        Callback::new("frz-lost", at(2), "")
            .payload_form(PayloadForm::String)
            .of_type("15")
            .attempts(&[None]),
    );
    let r = env.drain(30).await.unwrap();
    assert_eq!(
        (r.new, r.missed_without_payload, r.rejected),
        (2, 1, 0),
        "{r:?}"
    );
    let fred = env.reader.provider_states("fred").await.unwrap();
    assert_eq!(
        fred[&Provider::Xpollens].status(Stream::USER_FREEZE),
        Some("Frozen")
    );
    // The lost one: an event (never expires) under an id derived from its Webhook-Id.
    let missed = event_item(&env, "frz-lost.withoutPayload").await.unwrap();
    assert_eq!(missed["eventType"].as_s().unwrap(), "15");
    assert!(event_item(&env, "frz-lost").await.is_none());
    assert_eq!(env.sim.queue_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_over_the_live_limit_is_stored_whole_in_the_body_bucket_and_applied() {
    let env = DrainEnv::start(SimConfig::default()).await;
    // Refused live with 413 on every attempt: only the queue has it, whole.
    let pad = "p".repeat(kyc_xpollens::endpoint::BODY_LIMIT + 64 * 1024);
    let body = format!(r#"{{"type":"4","status":"Complete","appUserId":"gina","note":"{pad}"}}"#);
    env.sim
        .push(Callback::new("big-1", at(1), &body).attempts(&[Some(413), Some(413)]));
    let r = env.drain(30).await.unwrap();
    assert_eq!((r.new, r.oversized, r.removed), (1, 0, 2), "{r:?}");
    assert_eq!(kyc_status(&env, "gina").await.as_deref(), Some("Complete"));
    let item = event_item(&env, "big-1").await.unwrap();
    assert!(item.contains_key("bodyRef") && !item.contains_key("sealedBody"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_over_the_bound_is_read_smaller_and_an_entry_over_it_kept_as_digest() {
    let env = DrainEnv::start(SimConfig::default()).await;
    for (n, minute) in [(1, 1), (2, 2), (3, 4), (4, 5)] {
        env.sim.push(Callback::new(
            &format!("small-{n}"),
            at(minute),
            &kyc_body(&format!("hana{n}"), "Pending"),
        ));
    }
    let huge = format!(
        r#"{{"type":"4","status":"Rejected","appUserId":"hugo","note":"{}"}}"#,
        "h".repeat(256 * 1024)
    );
    env.sim
        .push(Callback::new("huge-1", at(3), &huge).attempts(&[Some(413)]));
    // Answers bounded at 64 KiB: the page of five is too large, so is the huge entry alone.
    let api = env.bounded_api(64 * 1024);
    let r = env.drain_with(api.clone(), 30).await.unwrap();
    assert!(r.drained, "{r:?}");
    assert_eq!((r.new, r.oversized, r.removed), (5, 1, 5), "{r:?}");
    assert!(r.smaller_reads >= 1, "{r:?}");
    assert_eq!(env.sim.queue_len(), 0);
    for n in 1..=4 {
        assert_eq!(
            kyc_status(&env, &format!("hana{n}")).await.as_deref(),
            Some("Pending")
        );
    }
    assert_eq!(
        kyc_status(&env, "hugo").await,
        None,
        "never read, never applied"
    );
    let kept = event_item(&env, "huge-1.oversized").await.unwrap();
    let summary = format!("{:?}", kept["summary"]);
    assert!(summary.contains("oversizedQueueEntry"), "{summary}");
    assert!(kept.contains_key("bodySha256"));
}

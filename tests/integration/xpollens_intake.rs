//! Xpollens callbacks end to end: the real Lambda handler, real SDK calls, a moto server.

use kyc_aws::aws_sdk_dynamodb::types::AttributeValue;
use kyc_aws::aws_sdk_dynamodb::Client as Ddb;
use kyc_aws::DynamoStore;
use kyc_core::intake::{EventStore, Provider};
use kyc_core::kyc_state::Stream;
use kyc_integration_tests::*;
use kyc_xpollens::endpoint::Endpoint;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::sync::Arc;
use xpollens_callback::{build_endpoint, handle};

struct Stack {
    _moto: Moto,
    config: kyc_aws::aws_config::SdkConfig,
    /// The callback function's own configuration (its keys are checked against its role).
    callback_config: kyc_aws::aws_config::SdkConfig,
    endpoint: Arc<Endpoint>,
    store: DynamoStore,
}

async fn stack() -> Stack {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let callback_config = moto.sdk_config_for(Function::XpollensCallback).await;
    let endpoint = Arc::new(build_endpoint(&settings(TABLE), &callback_config).unwrap());
    let store = DynamoStore::new(&config, TABLE);
    Stack {
        _moto: moto,
        config,
        callback_config,
        endpoint,
        store,
    }
}

async fn deliver(endpoint: &Endpoint, d: &Delivery) -> (u16, String) {
    let resp = handle(endpoint, d.request()).await.unwrap();
    let status = resp.status().as_u16();
    let body = String::from_utf8(resp.body().to_vec()).unwrap();
    (status, body)
}

const ACTIVATION_CODE: &str = "0xd14c7c77a134d87b45ec82cac16ac631";
const WEBVIEW_TOKEN: &str = "l03lhEzA-webview-token";
const KYC_TOKEN: &str = "20240702_71Qe8fLBGVs7lzsQQWUgyrRVdEMgwhA";

/// A realistic life of three customers, in the order Xpollens sent it.
fn scenario() -> Vec<Delivery> {
    let d = |id: &str, at: &str, body: String| {
        Delivery::new(id, &format!("12/11/2026 {at} +00:00"), &body)
    };
    vec![
        d("a-01", "08:59:00", r#"{"type":"34","appUserId":"alice","publicUserCode":"363O2TWZ3787","userRecordStatus":"InProgress"}"#.into()),
        d("a-02", "09:00:00", r#"{"type":"4","status":"Pending","appUserId":"alice","diligences":[{"diligenceType":"ID_CARD","status":"Received","reason":""}]}"#.into()),
        d("a-03", "09:05:00", r#"{"type":4,"status":"Incomplete","AppUserId":"alice","kycLevel":"High","receivedDiligences":[{"diligenceType":"ID_CARD","status":"Validated","attachments":[{"FileName":"id.jpg","attachmentKey":"k1"}]},{"diligenceType":"SELFIE","status":"Refused","reason":"Too dark selfie"}]}"#.into()),
        d("a-04", "09:10:00", r#"{"type":"4","status":"AwaintingExpertise","appUserid":"alice"}"#.into()),
        d("a-05", "09:20:00", r#"{"type":"4","status":"Complete","appUserId":"alice","receivedDiligences":[{"diligenceType":"ID_CARD","status":"Validated"},{"diligenceType":"SELFIE","status":"Validated"}]}"#.into()),
        d("a-06", "09:21:00", r#"{"type":"34","appUserId":"alice","userRecordStatus":"Validated"}"#.into()),
        d("a-07", "09:22:00", format!(r#"{{"type":"35","AppUserId":"alice","ActivationCode":"{ACTIVATION_CODE}","ErrorMessage":null,"ExtraData":{{"WebViewUrl":"https://pad.example/index.html?technicalId=X&token={WEBVIEW_TOKEN}"}}}}"#)),
        d("a-08", "09:23:30", r#"{"Header":{"AuthenticationId":"1240b556-604e-4b5d-9bc1-73b649fc992e","Type":36,"AppUserId":"alice","AuthenticationResultDate":"2026-11-12T09:23:25+00:00","RequestProcessedDate":"2026-11-12T09:23:14.4008694+00:00","RequestResponseCode":201,"Status":"Succeeded","Reason":null},"Payload":""}"#.into()),
        d("b-01", "09:50:00", r#"{"type":"4","status":"Pending","appUserId":"bob"}"#.into()),
        d("b-02", "10:00:00", r#"{"type":"4","status":"Fraud_Suspicion","appUserId":"bob","diligences":[{"diligenceType":"ID_CARD","status":"Refused","reason":"Identity fraud"}]}"#.into()),
        d("b-03", "10:01:00", r#"{"type":"47","appUserId":"bob","webviewUrl":"https://example.com/reupload?technicalId=D6C39X"}"#.into()),
        d("b-04", "10:05:00", r#"{"Header":{"AuthenticationId":"5a7f","Type":36,"AppUserId":"bob","RequestProcessDate":"2026-11-12T10:04:59+00:00","Status":"Failed","Reason":"NotFound "},"Payload":"{\"operation\":\"transfer\"}"}"#.into()),
        // A late retry of an older event: recorded, never applied.
        d("b-05", "09:55:00", r#"{"type":"4","status":"Incomplete","appUserId":"bob"}"#.into()),
        // Dave's first demand is rejected; a NEW demand follows and completes.
        d("d-01", "09:00:00", r#"{"type":"4","status":"Pending","appUserId":"dave"}"#.into()),
        d("d-02", "09:30:00", r#"{"type":"4","status":"Rejected","appUserId":"dave"}"#.into()),
        d("d-03", "10:00:00", r#"{"type":"4","status":"Initialized","appUserId":"dave"}"#.into()),
        d("d-04", "10:01:00", r#"{"type":"4","status":"Pending","appUserId":"dave"}"#.into()),
        d("d-05", "10:40:00", r#"{"type":"4","status":"Complete","appUserId":"dave"}"#.into()),
        d("c-01", "11:00:00", format!(r#"{{"type":"48","appUserId":"carol","url":"https://example.com/kyc","token":"{KYC_TOKEN}"}}"#)),
        d("x-01", "11:30:00", r#"{"type":"16","amount":1250,"currency":"EUR"}"#.into()),
    ]
}

fn expected() -> Vec<(&'static str, Stream, &'static str)> {
    vec![
        ("alice", Stream::KYC_DEMAND, "Complete"),
        ("alice", Stream::USER_RECORD, "Validated"),
        ("alice", Stream::SCA_ENROLMENT, "Enrolled"),
        ("alice", Stream::SCA_RESULT, "Succeeded"),
        ("bob", Stream::KYC_DEMAND, "FraudSuspicion"),
        ("bob", Stream::DILIGENCE_REUPLOAD, "Issued"),
        ("bob", Stream::SCA_RESULT, "Failed"),
        ("carol", Stream::KYC_WEBVIEW, "Issued"),
        ("dave", Stream::KYC_DEMAND, "Complete"),
    ]
}

async fn assert_expected_states(store: &DynamoStore) {
    for (subject, stream, status) in expected() {
        let states = store.provider_states(subject).await.unwrap();
        assert_eq!(
            states[&Provider::Xpollens].status(stream.clone()),
            Some(status),
            "{subject} {stream:?}"
        );
    }
}

async fn scan_all(
    config: &kyc_aws::aws_config::SdkConfig,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    Ddb::new(config)
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .items()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scenario_in_order_reaches_expected_states_and_keeps_every_event() {
    let s = stack().await;
    for d in scenario() {
        let (status, body) = deliver(&s.endpoint, &d).await;
        let expected = if d.body.contains(r#""type":"16""#) {
            204
        } else {
            202
        };
        assert_eq!(
            status,
            expected,
            "{}: {body}",
            d.webhook_id.as_deref().unwrap()
        );
    }
    assert_expected_states(&s.store).await;

    let bob = s.store.history("bob").await.unwrap();
    assert_eq!(bob.len(), 5, "every event is kept, applied or not");
    let late = bob.iter().find(|h| h.event_id == "b-05").unwrap();
    assert!(
        late.outcome
            .starts_with("not applied: stale: older than current FraudSuspicion"),
        "{}",
        late.outcome
    );
    assert_eq!(s.store.history("alice").await.unwrap().len(), 8);
    // The rejected first demand stays in the history beside the new one.
    let dave = s.store.history("dave").await.unwrap();
    assert_eq!(dave.len(), 5);
    assert!(dave.iter().all(|h| h.outcome == "applied"), "{dave:?}");

    // Nothing secret is stored in clear: not the activation code, not the web-view token.
    let dump = format!("{:?}", scan_all(&s.config).await);
    for secret in [ACTIVATION_CODE, WEBVIEW_TOKEN, KYC_TOKEN, "363O2TWZ3787"] {
        assert!(!dump.contains(secret), "{secret} stored in clear");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shuffled_storm_ends_in_the_in_order_states() {
    let s = stack().await;
    let mut deliveries = scenario();
    // Every callback twice (Xpollens retries), then shuffled, sent 8 at a time.
    deliveries.extend(scenario());
    deliveries.shuffle(&mut rand::rngs::StdRng::seed_from_u64(20261122));
    for chunk in deliveries.chunks(8) {
        let mut tasks = Vec::new();
        for d in chunk.iter() {
            let d = d.clone();
            let ep = s.endpoint.clone();
            tasks.push(tokio::spawn(async move { deliver(&ep, &d).await }));
        }
        for t in tasks {
            let (status, body) = t.await.unwrap();
            assert!(status == 202 || status == 204, "{status} {body}");
        }
    }
    assert_expected_states(&s.store).await;
    assert_eq!(
        s.store.history("alice").await.unwrap().len(),
        8,
        "duplicates add no history"
    );
    assert_eq!(s.store.history("bob").await.unwrap().len(), 5);
}

const TRANSMITTER: &str = "Sandrine Transmitter-Planted";

/// One customer's same-second statuses, transfers' complementary diligences and PEP
/// screenings (issue 24): each of them merges with the current value.
fn merging_scenario() -> Vec<Delivery> {
    let d = |id: &str, at: &str, body: String| {
        Delivery::new(id, &format!("12/11/2026 {at} +00:00"), &body)
    };
    let kyc = |status: &str| format!(r#"{{"type":"4","status":"{status}","appUserId":"tess"}}"#);
    let dil = |order: &str, status: &str| {
        format!(
            r#"{{"type":"31","status":"{status}","appUserId":"tess","diligenceType":"SCTIN","reason":"Name mismatch","amount":145,"transferDate":"2026-11-12T08:30:00Z","transmitterFullName":"{TRANSMITTER}","operationType":"SCT_In","orderId":"{order}","score":{{"name":0.3,"firstName":1}}}}"#
        )
    };
    let pep = |is_pep: &str, decision: &str| {
        format!(
            r#"{{"appUserId":"tess","type":"PoliticallyExposedPersonStatusCreatedOrUpdated","isPoliticallyExposedPerson":{is_pep},"finalDecisionPep":{decision},"riskAnalysisStatut":"inProgress"}}"#
        )
    };
    let mut all = vec![
        // Three statuses of one second: the fixed precedence picks AwaitingExpertise.
        d("t-k1", "10:00:00", kyc("Pending")),
        d("t-k2", "10:00:00", kyc("Incomplete")),
        d("t-k3", "10:00:00", kyc("AwaitingExpertise")),
        // PEP: two values of one second, then the decision.
        d("t-p1", "10:00:00", pep("null", "null")),
        d("t-p2", "10:00:00", pep("true", "null")),
        d("t-p3", "10:00:05", pep("true", "true")),
    ];
    for n in 1..=6 {
        // Two transfers per second: their diligences tie on the second too.
        let at = format!("10:00:0{}", n / 2);
        all.push(d(
            &format!("t-d{n}"),
            &at,
            dil(&format!("o{n}"), "To_Review_Manually"),
        ));
    }
    all.push(d("t-v1", "10:00:07", dil("o1", "Validated")));
    all.push(d("t-v3", "10:00:08", dil("o3", "Validated")));
    all.push(d("t-r5", "10:00:09", dil("o5", "Refused")));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_second_ties_and_diligences_converge_under_concurrent_delivery() {
    for seed in [1u64, 2] {
        let s = stack().await;
        let mut deliveries = merging_scenario();
        // Every callback twice (Xpollens retries), shuffled, all at once.
        deliveries.extend(merging_scenario());
        deliveries.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        let tasks: Vec<_> = deliveries
            .into_iter()
            .map(|d| {
                let ep = s.endpoint.clone();
                tokio::spawn(async move { deliver(&ep, &d).await })
            })
            .collect();
        for t in tasks {
            let (status, body) = t.await.unwrap();
            assert_eq!(status, 202, "{body}");
        }
        let states = s.store.provider_states("tess").await.unwrap();
        let x = &states[&Provider::Xpollens];
        let demand = x.stream(&Stream::KYC_DEMAND).unwrap();
        assert_eq!(demand.status, "AwaitingExpertise", "seed {seed}");
        assert_eq!(demand.same_second_ambiguous, Some(true), "seed {seed}");
        let pep = x.stream(&Stream::PEP_SCREENING).unwrap();
        assert_eq!(pep.status, "AcceptedWithEnhancedDueDiligence");
        assert_eq!(pep.same_second_ambiguous, Some(false), "a later second");
        let dil = x.stream(&Stream::COMPLEMENTARY_DILIGENCE).unwrap();
        assert_eq!(
            (dil.status.as_str(), dil.event_id.as_str()),
            ("Refused", "t-r5")
        );
        let items = dil.items.as_ref().unwrap();
        let open: Vec<&str> = items.open.keys().map(String::as_str).collect();
        assert_eq!(open, ["o2", "o4", "o6"], "seed {seed}");
        assert_eq!(items.closed.len(), 3);
        assert_eq!(items.open["o4"].event_id, "t-d4");
        assert_eq!(s.store.history("tess").await.unwrap().len(), 15);
        // The transmitter's name is sealed: nowhere in clear in the table.
        let dump = format!("{:?}", scan_all(&s.config).await);
        assert!(
            !dump.contains("Transmitter-Planted"),
            "name stored in clear"
        );
        assert!(dil.sealed.contains_key("transmitterFullName"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_deliveries_of_one_webhook_apply_once() {
    let s = stack().await;
    let d = Delivery::new(
        "same-webhook-id",
        "12/11/2026 09:00:00 +00:00",
        r#"{"type":"4","status":"Incomplete","appUserId":"dave"}"#,
    );
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (ep, d) = (s.endpoint.clone(), d.clone());
        tasks.push(tokio::spawn(async move { deliver(&ep, &d).await }));
    }
    let mut fresh = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 202, "{body}");
        if body.contains(r#""duplicate":false"#) {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1, "exactly one delivery is the new one");
    assert_eq!(s.store.history("dave").await.unwrap().len(), 1);
    let state = Ddb::new(&s.config)
        .get_item()
        .table_name(TABLE)
        .key(
            "PK",
            AttributeValue::S(kyc_core::keys::customer_pk(Provider::Xpollens, "dave")),
        )
        .key("SK", AttributeValue::S(kyc_core::keys::STATE_SK.into()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        state.item().unwrap()["version"],
        AttributeValue::N("1".into()),
        "one state change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_unauthenticated_callbacks() {
    let s = stack().await;
    // Known type without its subject: 400, recorded as a rejection, no event, no state.
    let bad = Delivery::new(
        "bad-1",
        "12/11/2026 09:00:00 +00:00",
        r#"{"type":"4","status":"Pending"}"#,
    );
    let (status, body) = deliver(&s.endpoint, &bad).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("requires appUserId"));
    let mut malformed = bad.clone();
    malformed.body = "{\"type\":".into();
    assert_eq!(deliver(&s.endpoint, &malformed).await.0, 400);

    // Wrong password: 401 with a challenge, nothing stored at all.
    let mut intruder = Delivery::new(
        "evil-1",
        "12/11/2026 09:00:00 +00:00",
        r#"{"type":"4","status":"Complete","appUserId":"eve"}"#,
    );
    intruder.authorization = basic(USERNAME, "guess");
    let resp = handle(&s.endpoint, intruder.request()).await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic realm="));

    // The previous credential still works during a rotation.
    let mut old = Delivery::new(
        "rot-1",
        "12/11/2026 09:00:00 +00:00",
        r#"{"type":"34","appUserId":"eve","userRecordStatus":"Initialized"}"#,
    );
    old.authorization = basic(USERNAME, OLD_PASSWORD);
    assert_eq!(deliver(&s.endpoint, &old).await.0, 202);
    // ...for 24 hours after the rotation (Secrets Manager's CreatedDate of AWSCURRENT), then
    // it is refused: a leaked credential dies with one rotation.
    let mut after_grace = build_endpoint(&settings(TABLE), &s.callback_config).unwrap();
    after_grace.clock =
        Arc::new(|| kyc_core::chrono::Utc::now() + kyc_core::chrono::Duration::hours(24));
    let mut old_again = old.clone();
    old_again.webhook_id = Some("rot-2".into());
    assert_eq!(deliver(&after_grace, &old_again).await.0, 401);

    let items = scan_all(&s.config).await;
    let kinds: Vec<&str> = items
        .iter()
        .map(|i| i["itemType"].as_s().unwrap().as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "rejection").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "event").count(),
        1,
        "{kinds:?}"
    );
    assert!(
        s.store.provider_states("eve").await.unwrap()[&Provider::Xpollens]
            .status(Stream::KYC_DEMAND)
            .is_none()
    );
    let rejection = items
        .iter()
        .find(|i| i["itemType"].as_s().unwrap() == "rejection")
        .unwrap();
    assert!(rejection.contains_key("expiresAt"), "rejections expire");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_durable_write_answers_5xx_so_the_provider_retries() {
    let s = stack().await;
    let broken = build_endpoint(&settings("no-such-table"), &s.callback_config).unwrap();
    let d = Delivery::new(
        "w-1",
        "12/11/2026 09:00:00 +00:00",
        r#"{"type":"4","status":"Pending","appUserId":"frank"}"#,
    );
    let (status, body) = deliver(&broken, &d).await;
    assert_eq!(status, 503, "{body}");
    // Then the retry, once the store is back, is applied normally.
    assert_eq!(deliver(&s.endpoint, &d).await.0, 202);
    assert_eq!(s.store.history("frank").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_file_is_accepted_by_the_handler() {
    let s = stack().await;
    let mut files: Vec<_> = std::fs::read_dir(events_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().into_string().unwrap())
        // Callback events only: not the drain's scheduler input nor the fallback-queue page.
        .filter(|n| n.starts_with("xpollens-") && n.ends_with(".json") && !n.contains("queue"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "sample events missing: {files:?}");
    for f in files {
        let resp = handle(&s.endpoint, event_file(&f)).await.unwrap();
        let expected = if f.contains("-bad-") {
            400
        } else if f.contains("-16-") || f.contains("-37-") {
            204 // recorded, a type this product does not use
        } else {
            202
        };
        assert_eq!(resp.status().as_u16(), expected, "{f}: {:?}", resp.body());
    }
    // The query-string and header forms reached the state through API Gateway's event shape.
    let bob = s.store.provider_states("demo-bob").await.unwrap();
    assert_eq!(
        bob[&Provider::Xpollens].status(Stream::USER_FREEZE),
        Some("Frozen")
    );
    let alice = s.store.history("demo-alice").await.unwrap();
    let header_form = alice
        .iter()
        .find(|h| h.event_id.starts_with("2b7d4e91"))
        .unwrap();
    assert_eq!(header_form.outcome, "applied");
    assert_eq!(header_form.summary["authenticationStatus"], "Succeeded");
    // Issue 24's samples: PEP accepted with enhanced due diligence, a transfer's diligence
    // reviewed then validated, a JSON callback sent form-typed.
    let erin = s.store.provider_states("demo-erin").await.unwrap();
    assert_eq!(
        erin[&Provider::Xpollens].status(Stream::PEP_SCREENING),
        Some("AcceptedWithEnhancedDueDiligence")
    );
    let diligence = bob[&Provider::Xpollens]
        .stream(&Stream::COMPLEMENTARY_DILIGENCE)
        .unwrap();
    assert_eq!(diligence.status, "Validated");
    assert!(diligence.items.as_ref().unwrap().open.is_empty());
    let frank = s.store.provider_states("demo-frank").await.unwrap();
    assert_eq!(
        frank[&Provider::Xpollens].status(Stream::KYC_DEMAND),
        Some("Incomplete")
    );
}

/// The same endpoint over a store with another inline-body limit and no body store.
fn endpoint_over(config: &kyc_aws::aws_config::SdkConfig, store: DynamoStore) -> Endpoint {
    let mut endpoint = build_endpoint(&settings(TABLE), config).unwrap();
    endpoint.recorder.store = Arc::new(store);
    endpoint
}

fn open_key() -> kyc_core::crypto::Keyring {
    use base64::Engine;
    let secret = format!(
        r#"{{"keyId":"test-1","key":"{}"}}"#,
        base64::engine::general_purpose::STANDARD.encode([42u8; 32])
    );
    kyc_core::crypto::Keyring::from_staged(&kyc_core::secrets::StagedSecret {
        current: kyc_core::redact::Secret::new(secret),
        previous: None,
        current_since: None,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_callbacks_are_stored_with_their_body_in_s3_never_wedged() {
    let s = stack().await;
    // A callback 4 with 20,000 diligences (about 1 MB) and a 256 KiB callback of another type.
    let diligences: Vec<String> = (0..20_000)
        .map(|i| format!(r#"{{"diligenceType":"DOC_{i}","status":"Received"}}"#))
        .collect();
    let big_kyc = format!(
        r#"{{"type":"4","status":"Pending","appUserId":"big","diligences":[{}]}}"#,
        diligences.join(",")
    );
    let padded = format!(
        r#"{{"type":"16","appUserId":"big","pad":"{}"}}"#,
        "x".repeat(256 * 1024 - 40)
    );
    assert!(padded.len() >= 256 * 1024);
    let cases = [("big-1", &big_kyc, 202), ("big-2", &padded, 204)];
    for (id, body, expected) in cases {
        let d = Delivery::new(id, "12/11/2026 09:00:00 +00:00", body);
        let (status, resp) = deliver(&s.endpoint, &d).await;
        assert_eq!(status, expected, "{id}: {resp}");
        // A retry is a duplicate, not a conflict and not a 503.
        let (status, _) = deliver(&s.endpoint, &d).await;
        assert_eq!(status, expected, "{id} again");
    }
    let st = s.store.provider_states("big").await.unwrap();
    assert_eq!(
        st[&Provider::Xpollens].status(Stream::KYC_DEMAND),
        Some("Pending")
    );
    let history = s.store.history("big").await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].summary["diligenceCount"], 20_000);

    // The event items point at S3; the sealed objects open to the exact bodies.
    let s3 = kyc_aws::s3_client(&s.config);
    for (id, body, _) in cases {
        let item = Ddb::new(&s.config)
            .get_item()
            .table_name(TABLE)
            .key(
                "PK",
                AttributeValue::S(kyc_core::keys::event_pk(Provider::Xpollens, id)),
            )
            .key("SK", AttributeValue::S("EVENT".into()))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        assert!(!item.contains_key("sealedBody"));
        let location = item["bodyRef"].as_s().unwrap();
        let key = location
            .strip_prefix(&format!("s3://{BODY_BUCKET}/"))
            .unwrap();
        assert!(key.starts_with("xpollens/bodies/xpollens/") && !key.contains(id));
        let obj = s3
            .get_object()
            .bucket(BODY_BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        let sealed = obj.body.collect().await.unwrap().to_vec();
        let raw = open_key()
            .open(
                &kyc_core::intake::EventRecord::body_aad(Provider::Xpollens, id, Some("big")),
                std::str::from_utf8(&sealed).unwrap(),
            )
            .unwrap();
        assert_eq!(raw, body.as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dynamodb_refuses_for_good_is_a_recorded_rejection_not_a_503_loop() {
    let s = stack().await;
    // No offload: the event item exceeds 400 KB and moto, like DynamoDB, refuses it.
    let endpoint = endpoint_over(
        &s.callback_config,
        DynamoStore::new(&s.callback_config, TABLE).with_inline_body_limit(usize::MAX),
    );
    let body = format!(
        r#"{{"type":"4","status":"Pending","appUserId":"huge","pad":"{}"}}"#,
        "y".repeat(320 * 1024)
    );
    let d = Delivery::new("huge-1", "12/11/2026 09:00:00 +00:00", &body);
    for _ in 0..2 {
        let (status, resp) = deliver(&endpoint, &d).await;
        assert_eq!(status, 422, "{resp}");
        assert!(resp.contains("unstorable"), "{resp}");
    }
    let rejections: Vec<_> = scan_all(&s.config)
        .await
        .into_iter()
        .filter(|i| i["itemType"].as_s().is_ok_and(|t| t == "rejection"))
        .collect();
    assert_eq!(rejections.len(), 2, "each refused delivery is recorded");
    assert!(rejections
        .iter()
        .all(|r| r["httpStatus"].as_n().unwrap() == "422"));
    assert!(
        s.store.history("huge").await.unwrap().is_empty(),
        "no partial write"
    );
}

//! The KYC decision on moto: the racing recomputes on the DynamoDB adapter (its conditional
//! write is what keeps a stale decision out), and the expiry sweep through the index.

use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_aws::DynamoStore;
use kyc_core::chrono::{Duration, TimeZone, Utc};
use kyc_core::intake::{EventStore, Outcome};
use kyc_decision::aws::DynamoDecisionStore;
use kyc_decision::policy::Policy;
use kyc_decision::store::{recompute, sweep_expiries, DecisionStore};
use kyc_decision::Decision;
use kyc_integration_tests::downstream::{at, state_plan};
use kyc_integration_tests::{provision, Moto, TABLE};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_recomputes_never_leave_a_stale_decision_on_dynamodb() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let decisions = Arc::new(DynamoDecisionStore::new(Client::new(&config), TABLE));
    let states = Arc::new(DynamoStore::new(&config, TABLE));
    let change = moto_change(states);
    let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
    kyc_decision::store::testing::racing_recomputes(
        decisions,
        change,
        "race",
        &Policy::default_policy(),
        now,
        Decision::Verified,
    )
    .await;
}

#[tokio::test]
async fn the_expiry_sweep_finds_due_decisions_through_the_index() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    // The state publisher runs the sweep: its role's keys are checked.
    let publisher_config = moto
        .sdk_config_for(kyc_integration_tests::Function::StatePublisher)
        .await;
    let decisions = DynamoDecisionStore::new(Client::new(&publisher_config), TABLE);
    let states = DynamoStore::new(&config, TABLE);
    let policy = Policy::parse(
        r#"{"policyVersion":"expiry-test","requirements":{"anyOf":["xpollens"]},"verifiedValidForDays":{"xpollens":30}}"#,
    )
    .unwrap();
    // Validated at minute 2 and minute 40 (user record final): due 30 days later each.
    for (c, minute) in [("early#1", 2), ("late", 40)] {
        states
            .record(&state_plan(c, &format!("{c}-v"), "Validated", true, minute))
            .await
            .unwrap();
        recompute(&decisions, &policy, c, at(50)).await.unwrap();
    }
    let early = decisions.get("early#1").await.unwrap().unwrap();
    assert_eq!(early.decision, Decision::Verified);
    assert_eq!(early.valid_until, Some(at(2) + Duration::days(30)));
    let sweep_at = at(10) + Duration::days(30);
    assert_eq!(
        decisions.due_expiries(sweep_at, 100).await.unwrap(),
        ["early#1"]
    );
    // The state publisher's schedule input runs the sweep.
    fn sweep_now() -> kyc_core::chrono::DateTime<Utc> {
        at(10) + Duration::days(30)
    }
    let publisher = kyc_downstream::StatePublisher {
        publisher: Arc::new(kyc_downstream::MemoryPublisher::default()),
        decisions: Some(Arc::new(kyc_downstream::decision::Recompute {
            store: Arc::new(DynamoDecisionStore::new(
                Client::new(&publisher_config),
                TABLE,
            )),
            policy: policy.clone(),
            now: sweep_now,
        })),
    };
    let input: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            kyc_integration_tests::events_dir().join("decision-expiry-sweep-scheduled.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let answer = state_publisher::handle(&publisher, input).await.unwrap();
    assert_eq!(answer, serde_json::json!({"expired": 1}));
    assert_eq!(
        sweep_expiries(&decisions, &policy, sweep_at, 100)
            .await
            .unwrap(),
        0
    );
    let expired = decisions.get("early#1").await.unwrap().unwrap();
    assert_eq!(expired.decision, Decision::Expired);
    assert_eq!(expired.decision_version, 2);
    assert_eq!(
        decisions.get("late").await.unwrap().unwrap().decision,
        Decision::Verified
    );
    // Out of the index once expired: a second sweep finds nothing.
    assert!(decisions
        .due_expiries(sweep_at, 100)
        .await
        .unwrap()
        .is_empty());
}

/// From an Xpollens callback to `KYC decision changed`: the real callback handler writes the
/// state, the state publisher (with its decision settings) recomputes from the stream and
/// writes the decision, and the decision item's own record is published on EventBridge.
#[tokio::test]
async fn a_callback_becomes_a_decision_event_through_the_stream() {
    use kyc_decision::event::{event_id, KycDecisionChanged, SCHEMA_V1};
    use kyc_integration_tests::downstream::{
        bus_with_consumer, decision_consumer, enable_stream, new_stream_records, received,
    };
    use kyc_integration_tests::{settings, Delivery, Function};
    use serde_json::{json, Value};

    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let stream_arn = enable_stream(&config, TABLE).await;
    let _states = bus_with_consumer(&moto, &config, "kyc-downstream").await;
    let decisions_queue = decision_consumer(&moto, &config, "kyc-downstream").await;
    let callback = xpollens_callback::build_endpoint(
        &settings(TABLE),
        &moto.sdk_config_for(Function::XpollensCallback).await,
    )
    .unwrap();
    let publisher = state_publisher::build_with_decisions(
        &state_publisher::Settings {
            event_bus: "kyc-downstream".into(),
        },
        &state_publisher::DecisionSettings {
            table: TABLE.into(),
            policy: Policy::default_policy(),
        },
        &moto.sdk_config_for(Function::StatePublisher).await,
    );
    let mut seen = std::collections::HashSet::new();
    let deliver = |id: &str, at: &str, body: &str| {
        Delivery::new(id, &format!("12/11/2026 {at} +00:00"), body)
    };
    let deliveries = [
        deliver(
            "f-01",
            "09:00:00",
            r#"{"type":"4","status":"Pending","appUserId":"frank"}"#,
        ),
        deliver(
            "f-02",
            "10:00:00",
            r#"{"type":"4","status":"Fraud_Suspicion","appUserId":"frank","diligences":[{"diligenceType":"ID_CARD","status":"Refused","reason":"Identity fraud Novakova-DECISION"}]}"#,
        ),
        deliver(
            "g-01",
            "09:00:00",
            r#"{"type":"4","status":"Complete","appUserId":"grace"}"#,
        ),
    ];
    for d in &deliveries {
        let resp = xpollens_callback::handle(&callback, d.request())
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    // First hop: the state records (recompute); second hop: the decision records (publish).
    for _ in 0..2 {
        let records = new_stream_records(&moto, &stream_arn, &mut seen).await;
        let answer = state_publisher::handle(&publisher, json!({ "Records": records }))
            .await
            .unwrap();
        assert_eq!(answer, json!({"batchItemFailures": []}));
    }
    let got = received(&moto, &decisions_queue).await;
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler
        .add_resource("d.json", serde_json::from_str::<Value>(SCHEMA_V1).unwrap())
        .unwrap();
    let index = compiler.compile("d.json", &mut schemas).unwrap();
    let mut events: Vec<KycDecisionChanged> = got
        .iter()
        .map(|e| {
            assert_eq!(e["source"], "kyc-hooks");
            assert_eq!(e["detail-type"], "KYC decision changed");
            schemas.validate(&e["detail"], index).unwrap();
            let text = e["detail"].to_string();
            assert!(!text.contains("Novakova-DECISION"), "{text}");
            serde_json::from_value(e["detail"].clone()).unwrap()
        })
        .collect();
    events.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    let summary: Vec<(&str, Decision, i64)> = events
        .iter()
        .map(|e| (e.customer_id.as_str(), e.decision, e.decision_version))
        .collect();
    // Frank's two callbacks came in one batch: one recompute, one decision.
    assert_eq!(
        summary,
        [
            ("frank", Decision::Blocked, 1),
            ("grace", Decision::Verified, 1)
        ]
    );
    assert_eq!(events[0].id, event_id("frank", 1));
    assert_eq!(events[0].reasons, ["fraudSuspicion"]);

    // A later callback completes a new demand: still blocked (sticky) until the bank resolves
    // it; the decision's evidence moved, so a new version is published.
    let later = deliver(
        "f-03",
        "11:00:00",
        r#"{"type":"4","status":"Complete","appUserId":"frank"}"#,
    );
    xpollens_callback::handle(&callback, later.request())
        .await
        .unwrap();
    for _ in 0..2 {
        let records = new_stream_records(&moto, &stream_arn, &mut seen).await;
        state_publisher::handle(&publisher, json!({ "Records": records }))
            .await
            .unwrap();
    }
    let got = received(&moto, &decisions_queue).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["detail"]["decision"], "blocked");
    assert_eq!(got[0]["detail"]["previousDecision"], "blocked");
    assert_eq!(got[0]["detail"]["decisionVersion"], 2);
}

#[tokio::test]
async fn the_alias_map_moves_a_provider_state_to_the_bank_customer_on_dynamodb() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    // The decision reads as the state publisher (its role's keys are checked: the alias map's
    // provider side among them); operators write the alias map.
    let publisher_config = moto
        .sdk_config_for(kyc_integration_tests::Function::StatePublisher)
        .await;
    let decisions = Arc::new(DynamoDecisionStore::new(
        Client::new(&publisher_config),
        TABLE,
    ));
    let operator = DynamoDecisionStore::new(Client::new(&config), TABLE);
    let states = Arc::new(DynamoStore::new(&config, TABLE));
    let change = moto_change(states);
    let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
    kyc_decision::store::testing::alias_map(
        decisions,
        &operator,
        change,
        "alias",
        &Policy::default_policy(),
        now,
        Decision::Verified,
    )
    .await;
}

/// The two changes of the scenarios on moto, through the intake's store: a user record in
/// progress, then validated.
fn moto_change(states: Arc<DynamoStore>) -> kyc_decision::store::testing::Change {
    Arc::new(move |customer: String, n: usize| {
        let states = states.clone();
        Box::pin(async move {
            let (status, is_final, minute) = [("InProgress", false, 1), ("Validated", true, 2)][n];
            let plan = state_plan(
                &customer,
                &format!("{customer}-{n}"),
                status,
                is_final,
                minute,
            );
            assert_eq!(states.record(&plan).await.unwrap(), Outcome::Applied);
        })
    })
}

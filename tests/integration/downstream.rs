//! State-change events end to end on moto: events written through the real `DynamoStore`, the
//! table's stream read with GetRecords (moto does not invoke Lambdas from a stream: the records,
//! shaped exactly as AWS's, are handed to the publisher's handler), published with the real
//! EventBridge adapter, and read back through a rule that targets an SQS queue.

use kyc_aws::aws_sdk_dynamodb::types::AttributeValue;
use kyc_aws::DynamoStore;
use kyc_core::intake::{EventStore, Outcome, Provider};
use kyc_downstream::{event_id, KycStateChanged, SCHEMA_V1};
use kyc_integration_tests::downstream::{
    at, bus_with_consumer, enable_stream, received, state_plan, stream_records,
};
use kyc_integration_tests::{provision, Function, Moto, TABLE};
use serde_json::{json, Value};

const BUS: &str = "kyc-downstream";

fn validator() -> impl Fn(&Value) -> Result<(), String> {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler
        .add_resource("s.json", serde_json::from_str::<Value>(SCHEMA_V1).unwrap())
        .unwrap();
    let index = compiler.compile("s.json", &mut schemas).unwrap();
    move |v| schemas.validate(v, index).map_err(|e| e.to_string())
}

async fn setup() -> (Moto, kyc_aws::aws_config::SdkConfig, DynamoStore, String) {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let arn = enable_stream(&config, TABLE).await;
    (moto, config.clone(), DynamoStore::new(&config, TABLE), arn)
}

#[tokio::test]
async fn applied_changes_are_published_once_each_with_previous_status_and_no_personal_data() {
    let (moto, config, store, stream_arn) = setup().await;
    let bus = bus_with_consumer(&moto, &config, BUS).await;
    assert_eq!(
        store
            .record(&state_plan("alice", "e1", "Created", false, 1))
            .await
            .unwrap(),
        Outcome::Applied
    );
    assert_eq!(
        store
            .record(&state_plan("alice", "e2", "Validated", true, 2))
            .await
            .unwrap(),
        Outcome::Applied
    );
    // A duplicate and a change the state rules refuse: no state write, no event.
    assert_eq!(
        store
            .record(&state_plan("alice", "e2", "Validated", true, 2))
            .await
            .unwrap(),
        Outcome::Duplicate
    );
    assert!(matches!(
        store
            .record(&state_plan("alice", "e0", "Created", false, 0))
            .await
            .unwrap(),
        Outcome::NotApplied { .. }
    ));
    assert_eq!(
        store
            .record(&state_plan("bob", "e3", "Created", false, 3))
            .await
            .unwrap(),
        Outcome::Applied
    );

    let records = stream_records(&moto, &stream_arn).await;
    assert!(
        records.len() > 3,
        "events and history items are in the stream too"
    );
    let publisher = state_publisher::build(
        &state_publisher::Settings {
            event_bus: BUS.into(),
        },
        &moto.sdk_config_for(Function::StatePublisher).await,
    );
    let answer = state_publisher::handle(&publisher, json!({ "Records": records }))
        .await
        .unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));

    let got = received(&moto, &bus).await;
    let validate = validator();
    let details: Vec<KycStateChanged> = got
        .iter()
        .map(|e| {
            assert_eq!(e["source"], "kyc-hooks");
            assert_eq!(e["detail-type"], "KYC state changed");
            validate(&e["detail"]).unwrap_or_else(|err| panic!("{}: {err}", e["detail"]));
            let text = e.to_string();
            assert!(
                !text.contains("PERSONAL") && !text.contains("SEALED"),
                "{text}"
            );
            serde_json::from_value(e["detail"].clone()).unwrap()
        })
        .collect();
    // (customer, previous status, status, final, cause event, state version)
    type Seen<'a> = (
        &'a str,
        Option<&'a str>,
        &'a str,
        bool,
        &'a str,
        Option<i64>,
    );
    let mut seen: Vec<Seen> = details
        .iter()
        .map(|d| {
            (
                d.customer_id.as_str(),
                d.previous_status.as_deref(),
                d.status.as_str(),
                d.is_final,
                d.cause_event_id.as_str(),
                d.state_version,
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("alice", None, "Created", false, "e1", Some(1)),
            ("alice", Some("Created"), "Validated", true, "e2", Some(2)),
            ("bob", None, "Created", false, "e3", Some(1)),
        ]
    );
    let e2 = details.iter().find(|d| d.cause_event_id == "e2").unwrap();
    assert_eq!(
        e2.id,
        event_id("alice", Provider::Xpollens, "userRecord", "e2")
    );
    assert_eq!(e2.provider_time, at(2));
    assert_eq!(e2.recorded_at, at(3));
}

#[tokio::test]
async fn a_poison_record_alone_is_reported_failed_and_nothing_else_is_lost() {
    let (moto, config, store, stream_arn) = setup().await;
    let bus = bus_with_consumer(&moto, &config, BUS).await;
    store
        .record(&state_plan("alice", "e1", "Created", false, 1))
        .await
        .unwrap();
    // A state item no code of ours writes: its stream value has no status.
    kyc_aws::aws_sdk_dynamodb::Client::new(&config)
        .put_item()
        .table_name(TABLE)
        .item("PK", AttributeValue::S("XP#C#mallory".into()))
        .item("SK", AttributeValue::S("STATE".into()))
        .item(
            "userRecord",
            AttributeValue::M(
                [("ord".to_string(), AttributeValue::N("1".into()))]
                    .into_iter()
                    .collect(),
            ),
        )
        .send()
        .await
        .unwrap();
    store
        .record(&state_plan("bob", "e3", "Created", false, 3))
        .await
        .unwrap();
    let records = stream_records(&moto, &stream_arn).await;
    let poison_seq = records
        .iter()
        .find(|r| r["dynamodb"]["Keys"]["PK"]["S"] == "XP#C#mallory")
        .map(|r| r["dynamodb"]["SequenceNumber"].clone())
        .unwrap();
    let publisher = state_publisher::build(
        &state_publisher::Settings {
            event_bus: BUS.into(),
        },
        &moto.sdk_config_for(Function::StatePublisher).await,
    );
    let answer = state_publisher::handle(&publisher, json!({ "Records": records }))
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": poison_seq}]})
    );
    let mut customers: Vec<String> = received(&moto, &bus)
        .await
        .iter()
        .map(|e| e["detail"]["customerId"].as_str().unwrap().to_string())
        .collect();
    customers.sort();
    assert_eq!(customers, vec!["alice", "bob"]);
}

/// Issue 24: a PEP screening is a stream of its own in the state-change events, and an
/// acceptance says so explicitly: `AcceptedWithEnhancedDueDiligence`, never a plain pass.
#[tokio::test]
async fn a_pep_acceptance_is_published_with_enhanced_due_diligence() {
    use kyc_core::crypto::{Keyring, PayloadKey};
    use kyc_core::intake::EventId;
    use kyc_xpollens::delivery::Channel;
    use kyc_xpollens::plan::{plan, Delivery};
    let (moto, config, store, stream_arn) = setup().await;
    let bus = bus_with_consumer(&moto, &config, BUS).await;
    let keys = Keyring::new(PayloadKey::new("k", [5; 32]).unwrap(), vec![]);
    let pep = |decision: &str| {
        format!(
            r#"{{"appUserId":"erin","type":"PoliticallyExposedPersonStatusCreatedOrUpdated","isPoliticallyExposedPerson":true,"finalDecisionPep":{decision},"riskAnalysisStatut":"done"}}"#
        )
    };
    for (id, second, body) in [("p1", 1, pep("null")), ("p2", 2, pep("true"))] {
        let callback = kyc_xpollens::parse_callback(body.as_bytes(), None).unwrap();
        let event_id = EventId::from_provider(id).unwrap();
        let delivery = Delivery {
            event_id: &event_id,
            received_at: at(second),
            process_date: Some(at(second)),
            body: body.as_bytes(),
            channel: &Channel::Live,
            notes: &[],
        };
        let outcome = store.record(&plan(&callback, &delivery, &keys)).await;
        assert_eq!(outcome.unwrap(), Outcome::Applied);
    }
    let records = stream_records(&moto, &stream_arn).await;
    let publisher = state_publisher::build(
        &state_publisher::Settings {
            event_bus: BUS.into(),
        },
        &config,
    );
    let answer = state_publisher::handle(&publisher, json!({ "Records": records }))
        .await
        .unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let validate = validator();
    // Stream, previous status, status, final, flags.
    type Seen = (String, Option<String>, String, bool, Vec<String>);
    let mut seen: Vec<Seen> = received(&moto, &bus)
        .await
        .iter()
        .map(|e| {
            validate(&e["detail"]).unwrap_or_else(|err| panic!("{}: {err}", e["detail"]));
            let d: KycStateChanged = serde_json::from_value(e["detail"].clone()).unwrap();
            (d.stream, d.previous_status, d.status, d.is_final, d.flags)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (
                "pepScreening".into(),
                None,
                "PepAwaitingDecision".into(),
                false,
                vec![]
            ),
            (
                "pepScreening".into(),
                Some("PepAwaitingDecision".into()),
                "AcceptedWithEnhancedDueDiligence".into(),
                true,
                // The decision reads it as a flag, never as a plain pass.
                vec!["enhancedDueDiligence".into()]
            ),
        ]
    );
}

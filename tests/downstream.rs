//! State-change events end to end on moto: events written through the real `DynamoStore`, the
//! table's stream read with GetRecords (moto does not invoke Lambdas from a stream: the records,
//! shaped exactly as AWS's, are handed to the publisher's handler), published with the real
//! EventBridge adapter, and read back through a rule that targets an SQS queue.

use kyc_integration_tests::{provision, Moto, TABLE};
use kyc_shared::aws::DynamoStore;
use kyc_shared::aws_sdk_dynamodb::types::{AttributeValue, StreamSpecification, StreamViewType};
use kyc_shared::chrono::{DateTime, TimeZone, Utc};
use kyc_shared::downstream::{event_id, KycStateChanged, SCHEMA_V1};
use kyc_shared::intake::{EventRecord, EventStore, Outcome, Provider, WritePlan};
use kyc_shared::kyc_state::{StatePatch, Stream, StreamValue};
use serde_json::{json, Value};

const BUS: &str = "kyc-downstream";

/// JSON-protocol calls moto answers (DynamoDB Streams, SQS): the SDKs for these two services
/// are not dependencies of the product. The credential scope names the region.
async fn call(moto: &Moto, target: &str, version: &str, body: Value) -> Value {
    let service = if target.starts_with("DynamoDBStreams") {
        "dynamodb"
    } else {
        "sqs"
    };
    let resp = reqwest::Client::new()
        .post(format!("{}/", moto.endpoint))
        .header("x-amz-target", target)
        .header("content-type", format!("application/x-amz-json-{version}"))
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=test/20261127/eu-west-3/{service}/aws4_request, SignedHeaders=host, Signature=00"),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{target}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// Every record of the table's stream so far, as AWS shapes them.
async fn stream_records(moto: &Moto, stream_arn: &str) -> Vec<Value> {
    let d = call(
        moto,
        "DynamoDBStreams_20120810.DescribeStream",
        "1.0",
        json!({ "StreamArn": stream_arn }),
    )
    .await;
    let mut out = Vec::new();
    for shard in d["StreamDescription"]["Shards"].as_array().unwrap() {
        let it = call(
            moto,
            "DynamoDBStreams_20120810.GetShardIterator",
            "1.0",
            json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
        )
        .await;
        let r = call(
            moto,
            "DynamoDBStreams_20120810.GetRecords",
            "1.0",
            json!({ "ShardIterator": it["ShardIterator"] }),
        )
        .await;
        out.extend(r["Records"].as_array().unwrap().iter().cloned());
    }
    out
}

struct Bus {
    queue_url: String,
}

/// The bus, and a rule sending every kyc-hooks event to a queue the test reads.
async fn bus(moto: &Moto, config: &kyc_shared::aws_config::SdkConfig) -> Bus {
    let q = call(
        moto,
        "AmazonSQS.CreateQueue",
        "1.0",
        json!({"QueueName": "consumer"}),
    )
    .await;
    let queue_url = q["QueueUrl"].as_str().unwrap().to_string();
    let a = call(
        moto,
        "AmazonSQS.GetQueueAttributes",
        "1.0",
        json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
    )
    .await;
    let queue_arn = a["Attributes"]["QueueArn"].as_str().unwrap().to_string();
    let eb = kyc_shared::aws_sdk_eventbridge::Client::new(config);
    eb.create_event_bus().name(BUS).send().await.unwrap();
    eb.put_rule()
        .name("all-kyc-state")
        .event_bus_name(BUS)
        .event_pattern(r#"{"source":["kyc-hooks"],"detail-type":["KYC state changed"]}"#)
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule("all-kyc-state")
        .event_bus_name(BUS)
        .targets(
            kyc_shared::aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    Bus { queue_url }
}

/// Every EventBridge event the consumer's queue received (detail-type, source, detail).
async fn received(moto: &Moto, bus: &Bus) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let r = call(
            moto,
            "AmazonSQS.ReceiveMessage",
            "1.0",
            json!({"QueueUrl": bus.queue_url, "MaxNumberOfMessages": 10}),
        )
        .await;
        let Some(messages) = r["Messages"].as_array().filter(|m| !m.is_empty()) else {
            return out;
        };
        for m in messages {
            out.push(serde_json::from_str(m["Body"].as_str().unwrap()).unwrap());
            call(
                moto,
                "AmazonSQS.DeleteMessage",
                "1.0",
                json!({"QueueUrl": bus.queue_url, "ReceiptHandle": m["ReceiptHandle"]}),
            )
            .await;
        }
    }
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 9, minute, 0).unwrap()
}

fn plan(customer: &str, event: &str, status: &str, is_final: bool, minute: u32) -> WritePlan {
    let mut value = StreamValue::new(status, 2, is_final, at(minute), event);
    value.detail = json!({"lastName": "PERSONAL-NAME"});
    value
        .sealed
        .insert("document".into(), "SEALED-VALUE".into());
    WritePlan {
        event: EventRecord {
            provider: Provider::Xpollens,
            event_id: event.into(),
            event_type: "04".into(),
            subject: Some(customer.into()),
            received_at: at(minute + 1),
            provider_time: Some(at(minute)),
            body_sha256: "0".repeat(64),
            sealed_body: "sealed".into(),
            summary: json!({}),
        },
        patch: Some(StatePatch {
            stream: Stream::USER_RECORD,
            value,
        }),
        no_patch_reason: None,
    }
}

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

async fn setup() -> (Moto, kyc_shared::aws_config::SdkConfig, DynamoStore, String) {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let ddb = kyc_shared::aws_sdk_dynamodb::Client::new(&config);
    let out = ddb
        .update_table()
        .table_name(TABLE)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let arn = out
        .table_description()
        .and_then(|t| t.latest_stream_arn())
        .expect("stream enabled")
        .to_string();
    (moto, config.clone(), DynamoStore::new(&config, TABLE), arn)
}

#[tokio::test]
async fn applied_changes_are_published_once_each_with_previous_status_and_no_personal_data() {
    let (moto, config, store, stream_arn) = setup().await;
    let bus = bus(&moto, &config).await;
    assert_eq!(
        store
            .record(&plan("alice", "e1", "Created", false, 1))
            .await
            .unwrap(),
        Outcome::Applied
    );
    assert_eq!(
        store
            .record(&plan("alice", "e2", "Validated", true, 2))
            .await
            .unwrap(),
        Outcome::Applied
    );
    // A duplicate and a change the state rules refuse: no state write, no event.
    assert_eq!(
        store
            .record(&plan("alice", "e2", "Validated", true, 2))
            .await
            .unwrap(),
        Outcome::Duplicate
    );
    assert!(matches!(
        store
            .record(&plan("alice", "e0", "Created", false, 0))
            .await
            .unwrap(),
        Outcome::NotApplied { .. }
    ));
    assert_eq!(
        store
            .record(&plan("bob", "e3", "Created", false, 3))
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
        &config,
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
    let mut seen: Vec<(&str, Option<&str>, &str, bool, &str, Option<i64>)> = details
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
    let bus = bus(&moto, &config).await;
    store
        .record(&plan("alice", "e1", "Created", false, 1))
        .await
        .unwrap();
    // A state item no code of ours writes: its stream value has no status.
    kyc_shared::aws_sdk_dynamodb::Client::new(&config)
        .put_item()
        .table_name(TABLE)
        .item("PK", AttributeValue::S("CUSTOMER#mallory".into()))
        .item("SK", AttributeValue::S("STATE#xpollens".into()))
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
        .record(&plan("bob", "e3", "Created", false, 3))
        .await
        .unwrap();
    let records = stream_records(&moto, &stream_arn).await;
    let poison_seq = records
        .iter()
        .find(|r| r["dynamodb"]["Keys"]["PK"]["S"] == "CUSTOMER#mallory")
        .map(|r| r["dynamodb"]["SequenceNumber"].clone())
        .unwrap();
    let publisher = state_publisher::build(
        &state_publisher::Settings {
            event_bus: BUS.into(),
        },
        &config,
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

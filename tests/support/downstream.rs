//! Downstream test support: the table's stream (enabled, read with GetRecords), and a bus with
//! a consumer (a rule sending every kyc-hooks state event to an SQS queue the test reads).
//! DynamoDB Streams and SQS are called with their JSON protocol (moto answers it): their SDKs
//! are not dependencies of the product.

use crate::Moto;
use kyc_aws::aws_config::SdkConfig;
use kyc_aws::aws_sdk_dynamodb::types::StreamViewType;
use serde_json::{json, Value};

/// One JSON-protocol call; the credential scope names the region moto files it under.
pub async fn call(moto: &Moto, target: &str, body: Value) -> Value {
    let service = if target.starts_with("DynamoDBStreams") {
        "dynamodb"
    } else {
        "sqs"
    };
    // reqwest uses the process's TLS provider (the build has one: aws-lc-rs).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let resp = reqwest::Client::new()
        .post(format!("{}/", moto.endpoint))
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.0")
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

/// The table's stream ARN (the schema enables it, NEW_AND_OLD_IMAGES, as the template does).
pub async fn enable_stream(config: &SdkConfig, table: &str) -> String {
    let out = kyc_aws::aws_sdk_dynamodb::Client::new(config)
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let table = out.table().expect("table");
    assert_eq!(
        table
            .stream_specification()
            .and_then(|s| s.stream_view_type()),
        Some(&StreamViewType::NewAndOldImages)
    );
    table
        .latest_stream_arn()
        .expect("stream enabled")
        .to_string()
}

/// Every record of the table's stream so far, as AWS shapes them.
pub async fn stream_records(moto: &Moto, stream_arn: &str) -> Vec<Value> {
    let d = call(
        moto,
        "DynamoDBStreams_20120810.DescribeStream",
        json!({ "StreamArn": stream_arn }),
    )
    .await;
    let mut out = Vec::new();
    for shard in d["StreamDescription"]["Shards"].as_array().unwrap() {
        let it = call(
            moto,
            "DynamoDBStreams_20120810.GetShardIterator",
            json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
        )
        .await;
        let r = call(
            moto,
            "DynamoDBStreams_20120810.GetRecords",
            json!({ "ShardIterator": it["ShardIterator"] }),
        )
        .await;
        out.extend(r["Records"].as_array().unwrap().iter().cloned());
    }
    out
}

/// A consumer of the bus: its queue.
pub struct Consumer {
    queue_url: String,
}

/// Creates the bus and a consumer of every kyc-hooks state event on it.
pub async fn bus_with_consumer(moto: &Moto, config: &SdkConfig, bus: &str) -> Consumer {
    let q = call(
        moto,
        "AmazonSQS.CreateQueue",
        json!({"QueueName": "consumer"}),
    )
    .await;
    let queue_url = q["QueueUrl"].as_str().unwrap().to_string();
    let a = call(
        moto,
        "AmazonSQS.GetQueueAttributes",
        json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
    )
    .await;
    let queue_arn = a["Attributes"]["QueueArn"].as_str().unwrap().to_string();
    let eb = kyc_downstream::aws_sdk_eventbridge::Client::new(config);
    eb.create_event_bus().name(bus).send().await.unwrap();
    eb.put_rule()
        .name("all-kyc-state")
        .event_bus_name(bus)
        .event_pattern(r#"{"source":["kyc-hooks"],"detail-type":["KYC state changed"]}"#)
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule("all-kyc-state")
        .event_bus_name(bus)
        .targets(
            kyc_downstream::aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    Consumer { queue_url }
}

/// Every EventBridge event the consumer received since the last call.
pub async fn received(moto: &Moto, consumer: &Consumer) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let r = call(
            moto,
            "AmazonSQS.ReceiveMessage",
            json!({"QueueUrl": consumer.queue_url, "MaxNumberOfMessages": 10}),
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
                json!({"QueueUrl": consumer.queue_url, "ReceiptHandle": m["ReceiptHandle"]}),
            )
            .await;
        }
    }
}

/// A time on the test day.
pub fn at(minute: u32) -> kyc_core::chrono::DateTime<kyc_core::chrono::Utc> {
    use kyc_core::chrono::TimeZone;
    kyc_core::chrono::Utc
        .with_ymd_and_hms(2026, 11, 27, 9, minute, 0)
        .unwrap()
}

/// An Xpollens user-record event at `minute` (received a minute later) that sets the stream,
/// with a detail and a sealed value that must never reach an event.
pub fn state_plan(
    customer: &str,
    event: &str,
    status: &str,
    is_final: bool,
    minute: u32,
) -> kyc_core::intake::WritePlan {
    use kyc_core::intake::{EventRecord, Provider, WritePlan};
    use kyc_core::kyc_state::{StatePatch, Stream, StreamValue};
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
        erasure_guard: None,
    }
}

/// A second consumer on a bus `bus_with_consumer` created: every `KYC decision changed` event.
pub async fn decision_consumer(moto: &Moto, config: &SdkConfig, bus: &str) -> Consumer {
    let q = call(
        moto,
        "AmazonSQS.CreateQueue",
        json!({"QueueName": "decisions"}),
    )
    .await;
    let queue_url = q["QueueUrl"].as_str().unwrap().to_string();
    let a = call(
        moto,
        "AmazonSQS.GetQueueAttributes",
        json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
    )
    .await;
    let queue_arn = a["Attributes"]["QueueArn"].as_str().unwrap().to_string();
    let eb = kyc_downstream::aws_sdk_eventbridge::Client::new(config);
    eb.put_rule()
        .name("all-kyc-decisions")
        .event_bus_name(bus)
        .event_pattern(r#"{"source":["kyc-hooks"],"detail-type":["KYC decision changed"]}"#)
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule("all-kyc-decisions")
        .event_bus_name(bus)
        .targets(
            kyc_downstream::aws_sdk_eventbridge::types::Target::builder()
                .id("d")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    Consumer { queue_url }
}

/// The stream records not handed over yet (by `eventID`): what the next Lambda batch gets.
pub async fn new_stream_records(
    moto: &Moto,
    stream_arn: &str,
    seen: &mut std::collections::HashSet<String>,
) -> Vec<Value> {
    stream_records(moto, stream_arn)
        .await
        .into_iter()
        .filter(|r| seen.insert(r["eventID"].as_str().unwrap_or_default().to_string()))
        .collect()
}

//! Issue 21: the record of a Trust & Sign archive event whose retries all failed reaches
//! `TrustSignArchiveFailures` (kept 14 days) without the archive's S3 key, which often names
//! the customer. The function's on-failure destination is an EventBridge bus; the rule's input
//! transformer, taken here from template.yaml as deployed, keeps bucket, version, ETag, times,
//! attempts, the error's type and the request id (the message is in the function's log). Run on moto's EventBridge and SQS with the failure
//! record Lambda sends, for a real failed invocation of the real processor.

use kyc_core::invocation::InvocationError;
use kyc_integration_tests::downstream::call;
use kyc_integration_tests::trust_sign::{
    archive_settings, create_bucket, event, put, record_json, s3, BUCKET,
};
use kyc_integration_tests::{create_payload_key_secrets, project_python, project_root, Moto};
use serde_json::{json, Value};
use std::process::Command;
use trust_sign_gen::{archive_bytes, Kind};

/// An archive key naming the customer, as Namirial's often do (planted for the scan).
const NAMED_KEY: &str = "incoming/KYC Kowalczyk_Agnieszka dossier.zip";

/// The rule's event pattern and target, as template.yaml declares them.
fn rule_from_template() -> Value {
    let script = r#"
import json, pathlib, sys
sys.path.insert(0, "tools")
import table_schema, yaml
t = yaml.load(pathlib.Path("template.yaml").read_text(), Loader=table_schema._TemplateLoader)
r = t["Resources"]["TrustSignArchiveFailureRecords"]["Properties"]
fn = t["Resources"]["TrustSignArchiveFunction"]["Properties"]["EventInvokeConfig"]
print(json.dumps({"pattern": r["EventPattern"], "target": r["Targets"][0],
                  "onFailure": fn["DestinationConfig"]["OnFailure"]}))
"#;
    let out = Command::new(project_python())
        .args(["-c", script])
        .current_dir(project_root())
        .output()
        .expect("run the venv's python (make test creates it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_archive_event_is_recorded_without_its_s3_key() {
    let rule = rule_from_template();
    assert_eq!(
        rule["onFailure"],
        json!({"Type": "EventBridge", "Destination": {"GetAtt": "TrustSignArchiveFailureBus.Arn"}}),
        "the function's failures go to the bus, not straight to the queue"
    );
    assert_eq!(
        rule["target"]["Arn"],
        json!({"GetAtt": "TrustSignArchiveFailures.Arn"})
    );

    let moto = Moto::start();
    let config = moto.sdk_config().await;
    // The failure: the archive is read and copied, then the table is not there (an outage).
    let s3 = s3(&config);
    create_bucket(&s3, BUCKET, true).await;
    create_payload_key_secrets(&kyc_aws::aws_sdk_secretsmanager::Client::new(&config)).await;
    let up = put(&s3, BUCKET, NAMED_KEY, archive_bytes(Kind::Full)).await;
    let processor = kyc_trust_sign::aws::build_processor(
        archive_settings(kyc_integration_tests::TABLE),
        &config,
    );
    let record = record_json(BUCKET, &up);
    let failed = processor
        .handle(&event(vec![record.clone()]))
        .await
        .expect_err("no table: the invocation fails");
    let failed = InvocationError::from(failed);

    // What Lambda sends its on-failure destination after the last retry.
    let lambda_record = json!({
        "version": "1.0",
        "timestamp": "2026-11-22T05:03:10.112Z",
        "requestContext": {
            "requestId": "0d3c5e1a-6f0e-4d61-9d32-4b4d43a1f0aa",
            "functionArn": "arn:aws:lambda:eu-west-3:123456789012:function:trust-sign-archive:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": {"Records": [record]},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": failed.error_type(), "errorMessage": failed.to_string()}
    });
    assert!(lambda_record.to_string().contains("Kowalczyk_Agnieszka"));

    let q = call(
        &moto,
        "AmazonSQS.CreateQueue",
        json!({"QueueName": "ts-failures"}),
    )
    .await;
    let queue_url = q["QueueUrl"].as_str().unwrap().to_string();
    let a = call(
        &moto,
        "AmazonSQS.GetQueueAttributes",
        json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]}),
    )
    .await;
    let queue_arn = a["Attributes"]["QueueArn"].as_str().unwrap().to_string();
    use kyc_downstream::aws_sdk_eventbridge::types::{
        InputTransformer, PutEventsRequestEntry, Target,
    };
    let eb = kyc_downstream::aws_sdk_eventbridge::Client::new(&config);
    eb.create_event_bus()
        .name("ts-failures")
        .send()
        .await
        .unwrap();
    eb.put_rule()
        .name("ts-failure-records")
        .event_bus_name("ts-failures")
        .event_pattern(rule["pattern"].to_string())
        .send()
        .await
        .unwrap();
    let transformer = &rule["target"]["InputTransformer"];
    let mut t =
        InputTransformer::builder().input_template(transformer["InputTemplate"].as_str().unwrap());
    for (k, v) in transformer["InputPathsMap"].as_object().unwrap() {
        t = t.input_paths_map(k, v.as_str().unwrap());
    }
    eb.put_targets()
        .rule("ts-failure-records")
        .event_bus_name("ts-failures")
        .targets(
            Target::builder()
                .id(rule["target"]["Id"].as_str().unwrap())
                .arn(queue_arn)
                .input_transformer(t.build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let sent = eb
        .put_events()
        .entries(
            PutEventsRequestEntry::builder()
                .event_bus_name("ts-failures")
                .source("lambda")
                .detail_type("Lambda Function Invocation Result - Failure")
                .resources("arn:aws:lambda:eu-west-3:123456789012:function:trust-sign-archive")
                .detail(lambda_record.to_string())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sent.failed_entry_count(), 0);

    let r = call(
        &moto,
        "AmazonSQS.ReceiveMessage",
        json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10}),
    )
    .await;
    let messages = r["Messages"].as_array().expect("one failure record");
    assert_eq!(messages.len(), 1, "{r}");
    let body = messages[0]["Body"].as_str().unwrap();
    // Printed: the personal-data scan reads it with the rest of the output.
    println!("TrustSignArchiveFailures record: {body}");
    for named in [
        "Kowalczyk",
        "Agnieszka",
        "incoming/",
        "dossier",
        &kyc_integration_tests::trust_sign::encode_key(NAMED_KEY),
    ] {
        assert!(!body.contains(named), "{named} in {body}");
    }
    let got: Value = serde_json::from_str(body).unwrap();
    assert_eq!(got["record"], "trust-sign-archive-failure");
    assert_eq!(got["bucket"], BUCKET);
    assert_eq!(got["versionId"], json!(up.version_id.clone().unwrap()));
    assert_eq!(got["eTag"], json!(up.etag));
    assert_eq!(got["size"], json!(up.size));
    assert_eq!(got["attempts"], 3);
    assert_eq!(got["condition"], "RetriesExhausted");
    assert_eq!(got["errorType"], "KycHooks.Retryable");
    assert_eq!(got["requestId"], "0d3c5e1a-6f0e-4d61-9d32-4b4d43a1f0aa");
    assert!(got.get("errorMessage").is_none(), "no free text: {body}");
}

//! `make demo`'s evidence step: seals the local table's history as the evidence-seal function
//! would two hours from now (the demo's entries are minutes old; the function waits 20 minutes
//! past an hour). Same code as the function (`kyc_evidence::seal::run`); creates the Object
//! Lock bucket if it is missing. Local only: it refuses to run without AWS_ENDPOINT_URL.

use kyc_core::chrono::{Duration, Utc};
use kyc_evidence::aws::{lock_mode, DynamoHistory, S3Digests};
use kyc_evidence::seal::{run, SealSettings};

#[tokio::main]
async fn main() {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        eprintln!("demo-seal seals a local (moto) table only: set AWS_ENDPOINT_URL");
        std::process::exit(2);
    }
    let table = std::env::var("TABLE_NAME").expect("TABLE_NAME");
    let bucket = std::env::var("EVIDENCE_BUCKET").expect("EVIDENCE_BUCKET");
    let config = kyc_aws::load_config().await;
    let s3 = kyc_aws::s3_client(&config);
    if s3.head_bucket().bucket(&bucket).send().await.is_err() {
        kyc_integration_tests::create_locked_bucket(&s3, &bucket).await;
    }
    let history = DynamoHistory::new(kyc_aws::aws_sdk_dynamodb::Client::new(&config), &table);
    let digests = S3Digests {
        client: s3,
        bucket,
        lock_mode: lock_mode("GOVERNANCE").expect("a mode"),
        lock_days: 1,
    };
    // The chain starts with the hour before the demo's (nothing in it), then the demo's hour.
    let start = Utc::now() - Duration::minutes(81);
    let first = run(&history, &digests, SealSettings::default(), start)
        .await
        .expect("seal");
    let r = run(
        &history,
        &digests,
        SealSettings::default(),
        Utc::now() + Duration::minutes(81),
    )
    .await
    .expect("seal");
    println!(
        "{}",
        serde_json::json!({"hours": first.hours + r.hours, "entries": first.entries + r.entries, "lastHour": r.last_hour})
    );
}

//! `kyc verify` against moto: clean after the seal, exit 1 naming the hour and the entry's keys
//! (never its content) once an entry was changed.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
kyc_test_log::install!();

use kyc_aws::aws_sdk_dynamodb::types::AttributeValue as Av;
use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_aws::DynamoStore;
use kyc_core::chrono::{Duration, Utc};
use kyc_core::intake::EventStore;
use kyc_evidence::aws::{lock_mode, DynamoHistory, S3Digests};
use kyc_evidence::seal::{run, SealSettings};
use kyc_integration_tests::downstream::state_plan;
use kyc_integration_tests::{provision, Moto, TABLE};
use serde_json::Value;

mod common;

const BUCKET: &str = "kyc-hooks-evidence-cli";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_is_clean_after_the_seal_and_names_a_changed_entry() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let s3 = kyc_aws::s3_client(&config);
    s3.create_bucket()
        .bucket(BUCKET)
        .object_lock_enabled_for_bucket(true)
        .create_bucket_configuration(
            kyc_aws::aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(kyc_aws::aws_sdk_s3::types::BucketLocationConstraint::EuWest3)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let store = DynamoStore::new(&config, TABLE);
    // Entries recorded now (the plans' received time is the test day's; the seal reads the
    // hour index of whatever time they carry).
    let mut times = Vec::new();
    for (c, e) in [("vera", "v1"), ("vera", "v2"), ("walt", "w1")] {
        let plan = state_plan(c, e, "Pending", false, 1);
        times.push(plan.event.received_at);
        store.record(&plan).await.unwrap();
    }
    let client = Client::new(&config);
    let history = DynamoHistory::new(client.clone(), TABLE);
    let digests = S3Digests {
        client: s3.clone(),
        bucket: BUCKET.into(),
        lock_mode: lock_mode("GOVERNANCE").unwrap(),
        lock_days: 1,
    };
    let last = *times.iter().max().unwrap();
    run(
        &history,
        &digests,
        SealSettings::default(),
        last + Duration::hours(2),
    )
    .await
    .unwrap();
    let kyc = |args: &[&str]| {
        let out = common::kyc_local(
            &moto.endpoint,
            args,
            &[("TABLE_NAME", TABLE), ("EVIDENCE_BUCKET", BUCKET)],
        );
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, out, err) = kyc(&["verify", "vera"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tampering"], serde_json::json!([]));
    assert!(v["leavesChecked"].as_u64().unwrap() >= 2);

    // Someone edits vera's first entry in the table.
    let items = client
        .query()
        .table_name(TABLE)
        .key_condition_expression("PK = :pk AND begins_with(SK, :h)")
        .expression_attribute_values(":pk", Av::S("XP#C#vera".into()))
        .expression_attribute_values(":h", Av::S("HIST#".into()))
        .send()
        .await
        .unwrap();
    let mut edited = items.items()[0].clone();
    let sk = edited["SK"].as_s().unwrap().clone();
    edited.insert("outcome".into(), Av::S("applied (edited)".into()));
    client
        .put_item()
        .table_name(TABLE)
        .set_item(Some(edited))
        .send()
        .await
        .unwrap();
    let (code, out, err) = kyc(&["verify", "vera"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("1 finding"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tampering"][0]["kind"], "changed");
    assert_eq!(v["tampering"][0]["sk"], sk.as_str());
    assert!(!out.contains("edited"), "never the content");
    let since = (Utc::now() - Duration::days(30)).to_rfc3339();
    let (code, _, err) = kyc(&["verify", "--since", &since]);
    assert_eq!(code, Some(1), "{err}");
}

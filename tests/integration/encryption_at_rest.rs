//! Objects carry the encryption their bucket is configured with (issue 21): every writer of the
//! stack's buckets — sealed large bodies (intake), GoPay token rescue, raw token answers and
//! identification PDFs, `kyc reseal`'s re-sealed bodies — sends no encryption header, so the
//! bucket's default applies: SSE-KMS under `DataKmsKeyArn` when it is set, SSE-S3 otherwise.
//! moto applies a bucket's default to an upload without the header and reports it on
//! HeadObject, as S3 does; it does not check that the KMS key exists.

use chrono::{TimeZone, Utc};
use kyc_aws::{aws_sdk_s3, S3BodyStore};
use kyc_core::intake::BodyStore;
use kyc_gopay::aws::store::S3Objects;
use kyc_gopay::store::{PdfSink, RawRefreshAnswer, SealedTokens, TokenRescue};
use kyc_integration_tests::*;
use kyc_reseal::aws::DynamoSealedItems;
use kyc_reseal::SealedItems;

/// A customer-managed key as `DataKmsKeyArn` names it.
const DATA_KEY: &str =
    "arn:aws:kms:eu-west-3:123456789012:key/1f2e3d4c-5b6a-4789-90ab-cdef01234567";

async fn bucket(s3: &aws_sdk_s3::Client, name: &str, kms_key: Option<&str>) {
    s3.create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest3)
                .build(),
        )
        .send()
        .await
        .expect("create bucket");
    set_default_encryption(s3, name, kms_key).await;
}

/// (algorithm, KMS key) of every object in `bucket`, by key.
async fn encryption_of_every_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Vec<(String, Option<String>, Option<String>)> {
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut out = Vec::new();
    for object in listed.contents() {
        let key = object.key().unwrap().to_string();
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        out.push((
            key,
            head.server_side_encryption()
                .map(|s| s.as_str().to_string()),
            head.ssekms_key_id().map(str::to_string),
        ));
    }
    out
}

/// Every writer the stack has, into `bucket`: 5 objects.
async fn write_with_every_writer(config: &kyc_aws::aws_config::SdkConfig, bucket: &str) {
    let s3 = kyc_aws::s3_client(config);
    S3BodyStore::new(s3.clone(), bucket, "xpollens/")
        .put("bodies/ab/abcdef.sealed", "v2.k1.sealed-body")
        .await
        .expect("sealed body");
    let gopay = S3Objects::new(s3.clone(), bucket);
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    gopay
        .save(&SealedTokens {
            client_profile_id: "7001".into(),
            generation: 3,
            sealed_refresh: "v2.k1.refresh".into(),
            sealed_access: "v2.k1.access".into(),
            access_expires_at: at,
            customer_id: None,
            sealed_identity: None,
        })
        .await
        .expect("token rescue");
    gopay
        .save_raw(&RawRefreshAnswer {
            client_profile_id: "7001".into(),
            generation: 4,
            sealed_body: "v2.k1.answer".into(),
            received_at: at,
        })
        .await
        .expect("raw answer rescue");
    gopay
        .put_pdf("gopay/identification-pdf/7001/1.pdf", b"%PDF-1.7 test")
        .await
        .expect("identification PDF");
    // `kyc reseal` writes a re-sealed body beside the old one (named by its digest).
    DynamoSealedItems::new(config, "not-read-here")
        .write_body(
            &format!("s3://{bucket}/xpollens/bodies/ab/old.sealed"),
            "v2.k2.resealed-body",
        )
        .await
        .expect("re-sealed body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_object_carries_the_encryption_its_bucket_is_configured_with() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let s3 = kyc_aws::s3_client(&config);

    bucket(&s3, "kyc-data-under-the-data-key", Some(DATA_KEY)).await;
    write_with_every_writer(&config, "kyc-data-under-the-data-key").await;
    let objects = encryption_of_every_object(&s3, "kyc-data-under-the-data-key").await;
    assert_eq!(objects.len(), 5, "{objects:?}");
    for (key, algorithm, kms_key) in &objects {
        assert_eq!(algorithm.as_deref(), Some("aws:kms"), "{key}");
        assert_eq!(kms_key.as_deref(), Some(DATA_KEY), "{key}");
    }

    // Without DataKmsKeyArn the buckets default to SSE-S3, and so do the objects.
    bucket(&s3, "kyc-data-under-sse-s3", None).await;
    write_with_every_writer(&config, "kyc-data-under-sse-s3").await;
    let objects = encryption_of_every_object(&s3, "kyc-data-under-sse-s3").await;
    assert_eq!(objects.len(), 5, "{objects:?}");
    for (key, algorithm, kms_key) in &objects {
        assert_eq!(algorithm.as_deref(), Some("AES256"), "{key}");
        assert_eq!(kms_key.as_deref(), None, "{key}");
    }
}

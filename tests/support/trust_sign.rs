//! Trust & Sign test support: the archive bucket, uploads (large archives streamed by multipart
//! upload, never held whole in memory), the S3 notification Lambda receives, the function's
//! settings.

use kyc_aws::aws_config::SdkConfig;
use kyc_aws::aws_sdk_s3::primitives::ByteStream;
use kyc_aws::aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, VersioningConfiguration,
};
use kyc_aws::aws_sdk_s3::Client;
use kyc_trust_sign::plan::LinkKey;
use kyc_trust_sign::processor::{Notification, Settings};
use kyc_trust_sign::Limits;
use std::io::Write;
use std::time::Duration;
use trust_sign_archive::S3Event;
use trust_sign_gen::{write_archive, ArchiveOptions, Kind};

pub const BUCKET: &str = "kyc-hooks-archives";

pub fn archive_settings(table: &str) -> Settings {
    Settings {
        table: table.into(),
        payload_key_secret: crate::TRUST_SIGN_PAYLOAD_KEY_SECRET.into(),
        archive_prefix: "incoming/".into(),
        processed_prefix: "processed/".into(),
        quarantine_prefix: "quarantine/".into(),
        link_key: LinkKey::ExternalId,
        legacy_keys: Default::default(),
        limits: Limits::default(),
        reading: Default::default(),
        secret_ttl: Duration::from_secs(300),
    }
}

/// SDK configuration for a moto server started elsewhere (the benchmark's child process).
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    use kyc_aws::aws_sdk_dynamodb::config::{Credentials, Region};
    kyc_aws::aws_config::defaults(kyc_aws::aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("eu-west-3"))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .load()
        .await
}

pub fn s3(config: &SdkConfig) -> Client {
    kyc_trust_sign::aws::client(config)
}

pub async fn create_bucket(s3: &Client, bucket: &str, versioned: bool) {
    s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            kyc_aws::aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(kyc_aws::aws_sdk_s3::types::BucketLocationConstraint::EuWest3)
                .build(),
        )
        .send()
        .await
        .expect("create bucket");
    if versioned {
        enable_versioning(s3, bucket).await;
    }
}

/// Turns versioning on for an existing bucket (the archive bucket is versioned, as deployed).
pub async fn enable_versioning(s3: &Client, bucket: &str) {
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("enable versioning");
}

/// What S3 says about an uploaded object (what its notification carries).
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub key: String,
    pub version_id: Option<String>,
    pub etag: String,
    pub size: u64,
}

pub async fn put(s3: &Client, bucket: &str, key: &str, bytes: Vec<u8>) -> Uploaded {
    let size = bytes.len() as u64;
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .expect("put object");
    Uploaded {
        key: key.into(),
        version_id: out.version_id,
        etag: out.e_tag.expect("etag").trim_matches('"').to_string(),
        size,
    }
}

/// Parts of the multipart upload (S3's minimum is 5 MiB except the last).
const PART: usize = 16 << 20;

/// A `Write` that hands full parts to the uploading task (bounded channel: at most a few
/// parts in memory whatever the archive size).
struct PartWriter {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
}

impl Write for PartWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(PART - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == PART {
            let part = std::mem::replace(&mut self.buf, Vec::with_capacity(PART));
            self.tx
                .blocking_send(part)
                .map_err(|_| std::io::Error::other("uploader stopped"))?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Generates an archive of `kind` and streams it into S3 by multipart upload: the generator
/// runs on a thread, parts go up as they are produced.
pub async fn put_generated_multipart(
    s3: &Client,
    bucket: &str,
    key: &str,
    kind: Kind,
    opts: ArchiveOptions,
) -> Uploaded {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let writer = std::thread::spawn(move || {
        let mut w = PartWriter {
            buf: Vec::with_capacity(PART),
            tx,
        };
        let size = write_archive(kind, &opts, &mut w).expect("generate");
        if !w.buf.is_empty() {
            let last = std::mem::take(&mut w.buf);
            w.tx.blocking_send(last).expect("uploader stopped");
        }
        size
    });
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("create multipart upload");
    let upload_id = upload.upload_id.expect("upload id");
    let mut parts = Vec::new();
    let mut n = 1;
    while let Some(part) = rx.recv().await {
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(n)
            .body(ByteStream::from(part))
            .send()
            .await
            .expect("upload part");
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag)
                .build(),
        );
        n += 1;
    }
    let size = writer.join().expect("generator thread");
    let done = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete multipart upload");
    Uploaded {
        key: key.into(),
        version_id: done.version_id,
        etag: done.e_tag.expect("etag").trim_matches('"').to_string(),
        size,
    }
}

/// S3 event keys are URL-encoded form-style (`+` for a space).
pub fn encode_key(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One S3 notification record for an uploaded object, as AWS sends it.
pub fn record_json(bucket: &str, o: &Uploaded) -> serde_json::Value {
    let mut object = serde_json::json!({
        "key": encode_key(&o.key),
        "size": o.size,
        "eTag": o.etag,
        "sequencer": "0055AED6DCD90281E5",
    });
    if let Some(v) = &o.version_id {
        object["versionId"] = v.clone().into();
    }
    serde_json::json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-3",
        "eventTime": "2026-11-22T05:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "trust-sign-archives",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                       "arn": format!("arn:aws:s3:::{bucket}")},
            "object": object
        }
    })
}

/// An S3 event as Lambda delivers it, mapped by the function's wiring to the processor's
/// notifications.
pub fn event(records: Vec<serde_json::Value>) -> Vec<Notification> {
    let event: S3Event =
        serde_json::from_value(serde_json::json!({ "Records": records })).expect("S3 event");
    trust_sign_archive::notifications(&event)
}

/// The payload keyring the function seals with (what `kyc status --reveal` opens with).
pub async fn trust_sign_keyring(config: &SdkConfig) -> kyc_core::crypto::Keyring {
    use kyc_core::secrets::SecretSource;
    let staged = kyc_aws::SecretsManagerSource::new(config)
        .staged(crate::TRUST_SIGN_PAYLOAD_KEY_SECRET)
        .await
        .expect("payload key secret");
    kyc_core::crypto::Keyring::from_staged(&staged).expect("payload key")
}

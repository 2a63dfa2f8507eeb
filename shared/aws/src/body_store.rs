//! S3 as the [`BodyStore`] of sealed raw bodies too large for a DynamoDB item. The body is
//! already sealed (AES-256-GCM-SIV, bound to its event); the object is also encrypted at rest
//! by the bucket's default encryption (SSE-KMS under `DataKmsKeyArn`, else SSE-S3): no
//! encryption header is sent, since one would override that default. Keys hold only digests
//! (see `kyc_core::intake::body_object_key`).

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use kyc_core::intake::{BodyStore, StoreError};

pub struct S3BodyStore {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3BodyStore {
    /// `prefix` ends with `/` or is empty (e.g. `xpollens/`).
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }
}

#[async_trait]
impl BodyStore for S3BodyStore {
    async fn put(&self, key: &str, sealed: &str) -> Result<String, StoreError> {
        let key = format!("{}{key}", self.prefix);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(ByteStream::from(sealed.as_bytes().to_vec()))
            .content_type("text/plain")
            .send()
            .await
            .map_err(|e| {
                // Describes the error without the request URL.
                StoreError::Unavailable(format!(
                    "S3 PutObject of a sealed body: {}",
                    e.as_service_error()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| DisplayErrorContext(&e).to_string())
                ))
            })?;
        Ok(format!("s3://{}/{key}", self.bucket))
    }

    async fn get(&self, location: &str) -> Result<String, StoreError> {
        let rest = location
            .strip_prefix("s3://")
            .ok_or_else(|| StoreError::Corrupt("body location is not s3://".into()))?;
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| StoreError::Corrupt("body location has no key".into()))?;
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("S3 GetObject: {}", DisplayErrorContext(&e)))
            })?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable(format!("S3 body read: {e}")))?;
        String::from_utf8(bytes.to_vec()).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

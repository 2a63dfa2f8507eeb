//! S3 as the [`BodyStore`] of sealed raw bodies too large for a DynamoDB item. The body is
//! already sealed (AES-256-GCM-SIV, bound to its event); the object is also encrypted at rest
//! by the bucket's default encryption (SSE-KMS under `DataKmsKeyArn`, else SSE-S3): no
//! encryption header is sent, since one would override that default. Keys hold only digests
//! (see `kyc_core::intake::body_object_key`).

use async_trait::async_trait;
use aws_runtime::auth::PayloadSigningOverride;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use kyc_core::intake::{BodyStore, StoreError};

/// The S3 adapter of [`BodyStore`]: sealed bodies too large for their table item.
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

/// SigV4's payload hash of one request, already known: the signature still covers the body's
/// SHA-256 (S3 checks it against what it receives), computed once instead of twice.
#[derive(Debug)]
struct PrecomputedPayloadHash(String);

impl Intercept for PrecomputedPayloadHash {
    fn name(&self) -> &'static str {
        "PrecomputedPayloadHash"
    }

    fn modify_before_signing(
        &self,
        _: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(PayloadSigningOverride::Precomputed(self.0.clone()));
        Ok(())
    }
}

impl S3BodyStore {
    async fn put_object(
        &self,
        key: &str,
        sealed: &str,
        sealed_sha256: Option<&str>,
    ) -> Result<String, StoreError> {
        let key = format!("{}{key}", self.prefix);
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(ByteStream::from(sealed.as_bytes().to_vec()))
            .content_type("text/plain")
            .customize();
        if let Some(digest) = sealed_sha256 {
            put = put.interceptor(PrecomputedPayloadHash(digest.to_string()));
        }
        // Boxed: the SDK's future is large (see `DynamoStore`'s transaction).
        Box::pin(put.send()).await.map_err(|e| {
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
}

#[async_trait]
impl BodyStore for S3BodyStore {
    async fn put(&self, key: &str, sealed: &str) -> Result<String, StoreError> {
        self.put_object(key, sealed, None).await
    }

    async fn put_digested(
        &self,
        key: &str,
        sealed: &str,
        sealed_sha256: &str,
    ) -> Result<String, StoreError> {
        self.put_object(key, sealed, Some(sealed_sha256)).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_types::body::SdkBody;
    use std::sync::{Arc, Mutex};

    /// A request as sent: its payload hash header and its body.
    type Sent = (String, Vec<u8>);

    /// Keeps each request's payload hash header and body; answers 200 at once.
    #[derive(Debug, Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Sent>>>);

    impl HttpConnector for Capture {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let hash = request
                .headers()
                .get("x-amz-content-sha256")
                .unwrap_or_default()
                .to_string();
            let body = request.body().bytes().unwrap_or_default().to_vec();
            self.0.lock().unwrap().push((hash, body));
            HttpConnectorFuture::ready(Ok(HttpResponse::new(
                200.try_into().unwrap(),
                SdkBody::empty(),
            )))
        }
    }

    impl HttpClient for Capture {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    fn store(capture: &Capture) -> S3BodyStore {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-3"))
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                aws_sdk_s3::config::Credentials::new("AKID", "secret", None, None, "test"),
            ))
            .http_client(capture.clone())
            .build();
        S3BodyStore::new(aws_sdk_s3::Client::new(&config), "bodies", "xpollens/")
    }

    /// The digest the store already has is the payload hash SigV4 signs: the SHA-256 of the
    /// exact body sent, as when the SDK computes it itself.
    #[tokio::test]
    async fn a_known_digest_is_the_signed_payload_hash() {
        let capture = Capture::default();
        let sealed = "v2.k1.nonce.ciphertext".repeat(100);
        let digest = kyc_core::intake::sha256_hex(sealed.as_bytes());
        let s3 = store(&capture);
        s3.put("a", &sealed).await.unwrap();
        s3.put_digested("b", &sealed, &digest).await.unwrap();
        let sent = capture.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 2);
        for (hash, body) in &sent {
            assert_eq!(body, sealed.as_bytes());
            assert_eq!(hash, &digest, "the SHA-256 of the body sent");
        }
        // It is the given digest that is signed (not hashed again): S3 refuses a wrong one.
        let zeros = "0".repeat(64);
        s3.put_digested("c", &sealed, &zeros).await.unwrap();
        assert_eq!(capture.0.lock().unwrap()[2].0, zeros);
    }
}

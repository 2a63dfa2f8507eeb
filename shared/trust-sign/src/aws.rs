//! S3 adapters of the Trust & Sign processor's ports: [`S3Source`] reads exactly the ranges
//! `zip_locate` asks for (ranged GETs pinned to one object version), and
//! [`S3Archives`] makes the few writes (processed copy of report.json, quarantine copy and
//! tag). [`build_processor`] wires them with DynamoDB and Secrets Manager.

use crate::plan::{ArchiveObject, ObjectVersion};
use crate::processor::{
    ArchiveSources, ArchiveStore, ArchiveWriteError, ObjectGone, Processor, Settings,
};
use crate::{RangeSource, SourceError};
use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Tag, Tagging};
use aws_sdk_s3::Client;

/// An S3 client; path-style addressing when an endpoint override (a local emulator) is set.
pub fn client(config: &aws_config::SdkConfig) -> Client {
    let mut b = aws_sdk_s3::config::Builder::from(config);
    if config.endpoint_url().is_some() {
        b = b.force_path_style(true);
    }
    Client::from_conf(b.build())
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum S3ReadError {
    /// The notified version no longer exists (deleted, or overwritten on an unversioned
    /// bucket: the ETag no longer matches). Retrying cannot help; the newer object has its
    /// own notification.
    #[error("the object version is gone ({code})")]
    Gone {
        /// S3's error code.
        code: String,
    },
    /// Anything else (throttling, timeouts, 5xx, access denied): retried by Lambda.
    #[error("S3 read failed: {0}")]
    Other(String),
}

/// A read error for the reader: a gone version becomes the processor's [`ObjectGone`] (not
/// retried), anything else stays transient.
fn source_error(e: S3ReadError) -> SourceError {
    match e {
        S3ReadError::Gone { code } => Box::new(ObjectGone { code }),
        other => Box::new(other),
    }
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> S3ReadError {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or_default().to_string();
    // Not `NoSuchBucket` nor a bare 404 with another code: a missing bucket is a
    // configuration error, worth retries and the on-failure destination, not a silent skip.
    match (status, code.as_str()) {
        (_, "NoSuchKey" | "NoSuchVersion" | "PreconditionFailed" | "NotFound") | (Some(412), _) => {
            S3ReadError::Gone {
                code: if code.is_empty() {
                    format!("HTTP {}", status.unwrap_or_default())
                } else {
                    code
                },
            }
        }
        _ => S3ReadError::Other(describe(&err)),
    }
}

/// An SDK error in a few words: its kind and S3's error code and status, never the request
/// (its URL holds the object key, which may name the customer).
fn describe<E: ProvideErrorMetadata>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    use aws_sdk_s3::error::SdkError;
    let kind = match err {
        SdkError::ConstructionFailure(_) => "request construction failed",
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch failure (connection)",
        SdkError::ResponseError(_) => "unreadable response",
        SdkError::ServiceError(_) => "service error",
        _ => "error",
    };
    let status = err
        .raw_response()
        .map(|r| format!(" HTTP {}", r.status().as_u16()))
        .unwrap_or_default();
    format!("{kind}{status} {}", err.code().unwrap_or_default())
        .trim_end()
        .to_string()
}

/// One S3 object version as a [`RangeSource`]. Every read names the version (or requires the
/// ETag), so the bytes analysed are those of the notified object, never of a later upload.
pub struct S3Source {
    client: Client,
    object: ArchiveObject,
}

impl S3Source {
    /// Ranged reads of `object`, pinned to its version.
    pub fn new(client: Client, object: ArchiveObject) -> Self {
        Self { client, object }
    }
}

#[async_trait]
impl RangeSource for S3Source {
    async fn len(&self) -> Result<u64, SourceError> {
        if let Some(size) = self.object.size {
            return Ok(size);
        }
        let o = &self.object;
        let out = self
            .client
            .head_object()
            .bucket(&o.bucket)
            .key(&o.key)
            .set_version_id(o.version_id().map(str::to_string))
            .set_if_match(o.etag().map(|e| format!("\"{e}\"")))
            .send()
            .await
            .map_err(|e| source_error(classify(e)))?;
        out.content_length()
            .and_then(|l| u64::try_from(l).ok())
            .ok_or_else(|| S3ReadError::Other("HEAD answered no content length".into()).into())
    }

    async fn read_range(&self, start: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        let size = self.len().await?;
        // A range starting at or past the end is a 416 on S3; the reader wants "nothing".
        if len == 0 || start >= size {
            return Ok(Vec::new());
        }
        let end = start.saturating_add(len).min(size) - 1;
        let o = &self.object;
        let out = self
            .client
            .get_object()
            .bucket(&o.bucket)
            .key(&o.key)
            .set_version_id(o.version_id().map(str::to_string))
            .set_if_match(o.etag().map(|e| format!("\"{e}\"")))
            .range(format!("bytes={start}-{end}"))
            .send()
            .await
            .map_err(|e| source_error(classify(e)))?;
        let mut body = out.body;
        let mut buf = Vec::with_capacity(usize::try_from(end - start + 1)?);
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| S3ReadError::Other(format!("reading the body: {e}")))?
        {
            buf.extend_from_slice(&chunk);
            // A server ignoring the Range header would send the whole object: stop early
            // rather than buffer it.
            if buf.len() as u64 > len {
                return Err(
                    S3ReadError::Other("the server ignored the Range header".into()).into(),
                );
            }
        }
        Ok(buf)
    }
}

/// CopyObject's single-request limit: larger objects are tagged in place only.
pub const MAX_SERVER_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// `x-amz-copy-source`: bucket/key (URL-encoded, `/` kept) and the version.
fn copy_source(object: &ArchiveObject) -> String {
    let mut key = String::with_capacity(object.key.len());
    for b in object.key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            key.push(b as char);
        } else {
            key.push_str(&format!("%{b:02X}"));
        }
    }
    match &object.version {
        ObjectVersion::VersionId(v) => format!("{}/{key}?versionId={v}", object.bucket),
        ObjectVersion::ETag(_) => format!("{}/{key}", object.bucket),
    }
}

/// Quarantines a bad archive: tags the notified version (`tag=reason`, other tags kept) and,
/// when `copy_to` is given, copies it server-side there with the same tag. Idempotent.
/// Returns whether the object was gone (nothing to quarantine).
async fn quarantine(
    client: &Client,
    object: &ArchiveObject,
    copy_to: Option<&str>,
    tag: &str,
    reason: &str,
) -> Result<bool, ArchiveWriteError> {
    let unavailable = |e: S3ReadError| ArchiveWriteError::Unavailable(e.to_string());
    let tag_error = |e: aws_sdk_s3::error::BuildError| ArchiveWriteError::Tag(e.to_string());
    let current = match client
        .get_object_tagging()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_version_id(object.version_id().map(str::to_string))
        .send()
        .await
    {
        Ok(t) => t.tag_set,
        Err(e) => {
            return match classify(e) {
                S3ReadError::Gone { .. } => Ok(true),
                other => Err(unavailable(other)),
            }
        }
    };
    let mut tags: Vec<Tag> = current.into_iter().filter(|t| t.key != tag).collect();
    let mark = Tag::builder()
        .key(tag)
        .value(reason)
        .build()
        .map_err(tag_error)?;
    tags.push(mark);
    let tagging = Tagging::builder()
        .set_tag_set(Some(tags))
        .build()
        .map_err(tag_error)?;
    client
        .put_object_tagging()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_version_id(object.version_id().map(str::to_string))
        .tagging(tagging)
        .send()
        .await
        .map_err(|e| ArchiveWriteError::Unavailable(describe(&e)))?;
    if let Some(dest) = copy_to {
        let r = client
            .copy_object()
            .bucket(&object.bucket)
            .key(dest)
            .copy_source(copy_source(object))
            .set_copy_source_if_match(object.etag().map(|e| format!("\"{e}\"")))
            .tagging_directive(aws_sdk_s3::types::TaggingDirective::Replace)
            .tagging(format!("{tag}={reason}"))
            .send()
            .await;
        if let Err(e) = r {
            return match classify(e) {
                S3ReadError::Gone { .. } => Ok(true),
                other => Err(unavailable(other)),
            };
        }
    }
    Ok(false)
}

/// Writes `bytes` at `key` (the processed copy of report.json). Idempotent: a retry rewrites
/// the same bytes.
/// Puts the object; its version id (versioned buckets).
async fn put_bytes(
    client: &Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> Result<Option<String>, ArchiveWriteError> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map(|out| out.version_id().map(str::to_string))
        .map_err(|e| ArchiveWriteError::Unavailable(describe(&e)))
}

/// The archive bucket as the processor's reader and writer.
#[derive(Clone)]
pub struct S3Archives {
    /// The S3 client.
    pub client: Client,
}

impl ArchiveSources for S3Archives {
    fn open(&self, object: &ArchiveObject) -> Box<dyn RangeSource> {
        Box::new(S3Source::new(self.client.clone(), object.clone()))
    }
}

#[async_trait]
impl ArchiveStore for S3Archives {
    async fn put_processed(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
    ) -> Result<Option<String>, ArchiveWriteError> {
        put_bytes(&self.client, bucket, key, bytes, "application/json").await
    }

    async fn discard_processed(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<(), ArchiveWriteError> {
        // With its version id, that version is gone for good (no delete marker over a kept
        // version).
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map(drop)
            .map_err(|e| ArchiveWriteError::Unavailable(describe(&e)))
    }
    async fn quarantine(
        &self,
        object: &ArchiveObject,
        copy_to: Option<&str>,
        tag: &str,
        reason: &str,
    ) -> Result<bool, ArchiveWriteError> {
        quarantine(&self.client, object, copy_to, tag, reason).await
    }
    fn max_copy_size(&self) -> u64 {
        MAX_SERVER_COPY
    }
}

/// The processor on AWS: S3 for archives, DynamoDB for events, Secrets Manager for the
/// payload key (built once per cold start).
pub fn build_processor(settings: Settings, config: &aws_config::SdkConfig) -> Processor {
    let secrets = std::sync::Arc::new(kyc_aws::SecretsManagerSource::new(config));
    build_processor_over(settings, config, secrets)
}

/// The cold start: the payload key's one Secrets Manager call is sent first, the processor is
/// built while it is on its way, then its answer fills the cache. Same call, same checks; the
/// round trip overlaps the building. Not fatal: a record fetches again (and fails, retried).
pub async fn init_processor(settings: Settings, config: &aws_config::SdkConfig) -> Processor {
    let early = kyc_core::secrets::EarlyRead::start(
        std::sync::Arc::new(kyc_aws::SecretsManagerSource::new(config)),
        &[&settings.payload_key_secret],
    );
    let processor = build_processor_over(settings, config, early);
    if let Err(e) = processor.keys.get().await {
        tracing::error!(error = %e, "payload key not prefetched during init");
    }
    processor
}

fn build_processor_over(
    settings: Settings,
    config: &aws_config::SdkConfig,
    secrets: std::sync::Arc<dyn kyc_core::secrets::SecretSource>,
) -> Processor {
    use kyc_core::crypto::Keyring;
    use std::sync::Arc;
    let archives = Arc::new(S3Archives {
        client: client(config),
    });
    Processor {
        sources: archives.clone(),
        objects: archives,
        store: Arc::new(
            kyc_aws::DynamoStore::new(config, &settings.table)
                .with_legacy_layout(settings.legacy_keys),
        ),
        keys: Keyring::cached(secrets, &settings.payload_key_secret, settings.secret_ttl),
        settings,
        clock: Arc::new(chrono::Utc::now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_encoded_and_pinned_to_the_version() {
        let o = ArchiveObject::new("b", "in/a file+é.zip", Some("3/L4kq"), None).unwrap();
        assert_eq!(
            copy_source(&o),
            "b/in/a%20file%2B%C3%A9.zip?versionId=3/L4kq"
        );
        let o = ArchiveObject::new("b", "in/x.zip", None, Some("\"e1\"")).unwrap();
        assert_eq!(copy_source(&o), "b/in/x.zip");
    }
}

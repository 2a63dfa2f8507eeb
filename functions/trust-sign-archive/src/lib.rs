//! Wiring of the Trust & Sign archive Lambda: S3 `ObjectCreated` records → ranged reads of the
//! archive → analysis → processed copy or quarantine → one durable-intake event per object
//! version. The rules live in `kyc_shared::trust_sign` (pure); this crate only calls AWS.
//!
//! Failure policy: a bad archive is recorded as a failed event, quarantined, and the
//! invocation succeeds (retrying cannot fix it). A transient failure (S3, DynamoDB, the key
//! secret) fails the invocation so Lambda retries the whole event; records already done come
//! back as duplicates, so a retry never applies anything twice.

pub use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use kyc_shared::aws::s3::{self, is_gone, S3Source};
use kyc_shared::aws::{DynamoStore, SecretsManagerSource};
use kyc_shared::chrono::{DateTime, Utc};
use kyc_shared::crypto::Keyring;
use kyc_shared::intake::{EventStore, Outcome};
use kyc_shared::secrets::Cached;
use kyc_shared::trust_sign::intake::{
    plan_analysis, plan_failure, processed_key, quarantine_key, ArchiveObject, LinkKey,
    QUARANTINE_TAG,
};
use kyc_shared::trust_sign::{analyze_archive, Limits};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Settings read once per cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    pub payload_key_secret: String,
    /// Only keys under this prefix and ending in `.zip` are archives.
    pub archive_prefix: String,
    pub processed_prefix: String,
    pub quarantine_prefix: String,
    pub link_key: LinkKey,
    pub limits: Limits,
    pub secret_ttl: Duration,
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        use kyc_shared::config::{or_default, required as var};
        let or = |k: &str, d: &str| or_default(k, d.to_string());
        let mut limits = Limits::default();
        if let Ok(v) = std::env::var("MAX_REPORT_BYTES") {
            limits.max_report_size = v
                .parse()
                .map_err(|_| format!("MAX_REPORT_BYTES: {v:?} is not a byte count"))?;
        }
        Self {
            table: var("TABLE_NAME")?,
            payload_key_secret: var("PAYLOAD_KEY_SECRET")?,
            archive_prefix: or("ARCHIVE_PREFIX", "incoming/"),
            processed_prefix: or("PROCESSED_PREFIX", "processed/"),
            quarantine_prefix: or("QUARANTINE_PREFIX", "quarantine/"),
            link_key: LinkKey::parse(&or("LINK_KEY", "externalId"))?,
            limits,
            secret_ttl: Duration::from_secs(or_default("SECRET_CACHE_TTL_SECONDS", 300)),
        }
        .checked()
    }

    /// The function's own writes must never look like archives to it (a loop otherwise).
    pub fn checked(self) -> Result<Self, String> {
        for (name, p) in [
            ("PROCESSED_PREFIX", &self.processed_prefix),
            ("QUARANTINE_PREFIX", &self.quarantine_prefix),
        ] {
            if p.is_empty()
                || p.starts_with(&self.archive_prefix)
                || self.archive_prefix.starts_with(p.as_str())
            {
                return Err(format!(
                    "{name} must be non-empty and disjoint from ARCHIVE_PREFIX"
                ));
            }
        }
        Ok(self)
    }

    /// Whether a decoded key is an archive this function handles.
    pub fn is_archive_key(&self, key: &str) -> bool {
        key.starts_with(&self.archive_prefix)
            && key.len() > self.archive_prefix.len() + 4
            && key.to_ascii_lowercase().ends_with(".zip")
    }
}

/// S3 event keys are URL-encoded form-style: `+` is a space, `%XX` a byte of UTF-8.
pub fn decode_key(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// What happened to one record (logged, returned, counted by `kyc reprocess`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum RecordResult {
    /// Not an archive of ours (prefix, suffix, event name).
    Skipped { why: String },
    /// Read and recorded: `outcome` says whether the state changed.
    Processed {
        event_id: String,
        outcome: Outcome,
        bytes_read: u64,
    },
    /// A bad archive: recorded as failed and quarantined.
    Quarantined {
        event_id: String,
        reason_code: String,
        outcome: Outcome,
    },
    /// The notified version no longer exists: nothing to read or quarantine.
    Gone { event_id: String },
}

/// A failure worth a retry. Carries no key or personal data.
#[derive(Debug)]
pub struct Transient(pub String);

impl std::error::Error for Transient {}

impl std::fmt::Display for Transient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "transient failure: {}", self.0)
    }
}

pub struct Processor {
    pub store: Arc<dyn EventStore>,
    pub s3: kyc_shared::aws_sdk_s3::Client,
    pub keys: Cached<Keyring>,
    pub settings: Settings,
    pub clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

pub fn build_processor(
    settings: Settings,
    config: &kyc_shared::aws_config::SdkConfig,
) -> Processor {
    Processor {
        store: Arc::new(DynamoStore::new(config, &settings.table)),
        s3: s3::client(config),
        keys: Cached::new(
            Arc::new(SecretsManagerSource::new(config)),
            &settings.payload_key_secret,
            settings.secret_ttl,
            Keyring::from_staged,
        ),
        settings,
        clock: Arc::new(Utc::now),
    }
}

impl Processor {
    /// Handles every record; fails (so Lambda retries) if any record failed transiently,
    /// after trying the others.
    pub async fn handle(&self, event: &S3Event) -> Result<Vec<RecordResult>, Transient> {
        let mut results = Vec::with_capacity(event.records.len());
        let mut failures = Vec::new();
        for (i, record) in event.records.iter().enumerate() {
            match self.handle_record(record).await {
                Ok(r) => results.push(r),
                Err(e) => {
                    tracing::error!(record = i, error = %e, "archive record failed, will retry");
                    failures.push(format!("record {i}: {}", e.0));
                }
            }
        }
        if failures.is_empty() {
            Ok(results)
        } else {
            Err(Transient(failures.join("; ")))
        }
    }

    pub async fn handle_record(&self, record: &S3EventRecord) -> Result<RecordResult, Transient> {
        let skip = |why: &str| {
            tracing::info!(why, "record skipped");
            Ok(RecordResult::Skipped { why: why.into() })
        };
        if !record
            .event_name
            .as_deref()
            .is_some_and(|n| n.starts_with("ObjectCreated:"))
        {
            return skip("not an ObjectCreated event");
        }
        let o = &record.s3.object;
        let Some(key) = o.key.as_deref().and_then(decode_key) else {
            return skip("missing or undecodable key");
        };
        if !self.settings.is_archive_key(&key) {
            return skip("key outside the archive prefix or not .zip");
        }
        let Some(bucket) = record.s3.bucket.name.as_deref() else {
            return skip("no bucket name");
        };
        let Some(mut object) =
            ArchiveObject::new(bucket, &key, o.version_id.as_deref(), o.e_tag.as_deref())
        else {
            return skip("neither version id nor ETag");
        };
        object.size = o.size.and_then(|s| u64::try_from(s).ok());
        self.process(object, None).await
    }

    /// Reads, analyses, stores one archive version. `rerun` makes a deliberate re-run a new
    /// event (`kyc reprocess --rerun`).
    pub async fn process(
        &self,
        object: ArchiveObject,
        rerun: Option<&str>,
    ) -> Result<RecordResult, Transient> {
        let event_id = object.event_id(rerun).map_err(Transient)?;
        let id = event_id.as_str().to_string();
        let keys = self
            .keys
            .get()
            .await
            .map_err(|e| Transient(format!("payload key: {e}")))?;
        let source = S3Source::new(self.s3.clone(), object.clone());
        let analysis = analyze_archive(&source, &self.settings.limits).await;
        let received_at = (self.clock)();
        match analysis {
            Ok(mut analysis) => {
                let processed =
                    processed_key(&self.settings.processed_prefix, &analysis, &event_id);
                let plan = plan_analysis(
                    &keys,
                    &object,
                    &event_id,
                    &analysis,
                    &self.settings.link_key,
                    &processed,
                    received_at,
                );
                // The copy before the record: once the event is recorded, its processed key
                // exists. The bytes move (report.json may weigh up to the size limit).
                s3::put_bytes(
                    &self.s3,
                    &object.bucket,
                    &processed,
                    std::mem::take(&mut analysis.report_json),
                    "application/json",
                )
                .await
                .map_err(|e| Transient(format!("processed copy: {e}")))?;
                let outcome = self
                    .store
                    .record(&plan)
                    .await
                    .map_err(|e| Transient(e.to_string()))?;
                tracing::info!(
                    event_id = %id,
                    outcome = %outcome.history_note(),
                    decision = ?analysis.summary.decision,
                    bytes_read = analysis.stats.bytes_read,
                    archive_size = analysis.stats.archive_size,
                    "archive processed"
                );
                Ok(RecordResult::Processed {
                    event_id: id,
                    outcome,
                    bytes_read: analysis.stats.bytes_read,
                })
            }
            Err(e) if is_gone(&e) => {
                tracing::warn!(event_id = %id, "archive version gone before it was read");
                Ok(RecordResult::Gone { event_id: id })
            }
            Err(e) if e.is_transient() => Err(Transient(format!("reading the archive: {e}"))),
            Err(e) => {
                let reason = e.reason_code();
                let dest = quarantine_key(
                    &self.settings.quarantine_prefix,
                    &self.settings.archive_prefix,
                    &object.key,
                );
                let copy = object.size.is_none_or(|s| s <= s3::MAX_SERVER_COPY);
                // Quarantine first: a recorded failure always has its quarantined object.
                let gone = s3::quarantine(
                    &self.s3,
                    &object,
                    copy.then_some(dest.as_str()),
                    QUARANTINE_TAG,
                    reason,
                )
                .await
                .map_err(|e| Transient(format!("quarantine: {e}")))?;
                if gone {
                    tracing::warn!(event_id = %id, "archive version gone before quarantine");
                    return Ok(RecordResult::Gone { event_id: id });
                }
                let plan = plan_failure(
                    &keys,
                    &object,
                    &event_id,
                    &e,
                    if copy { &dest } else { "" },
                    received_at,
                );
                let outcome = self
                    .store
                    .record(&plan)
                    .await
                    .map_err(|e| Transient(e.to_string()))?;
                tracing::warn!(event_id = %id, reason_code = reason, outcome = %outcome.history_note(), "bad archive quarantined");
                Ok(RecordResult::Quarantined {
                    event_id: id,
                    reason_code: reason.into(),
                    outcome,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            table: "t".into(),
            payload_key_secret: "k".into(),
            archive_prefix: "incoming/".into(),
            processed_prefix: "processed/".into(),
            quarantine_prefix: "quarantine/".into(),
            link_key: LinkKey::ExternalId,
            limits: Limits::default(),
            secret_ttl: Duration::from_secs(300),
        }
    }

    #[test]
    fn keys_are_url_decoded_form_style() {
        assert_eq!(
            decode_key("incoming/dossier+2024%2F06+%C3%A9t%C3%A9.zip").as_deref(),
            Some("incoming/dossier 2024/06 été.zip")
        );
        assert_eq!(decode_key("a%2Bb").as_deref(), Some("a+b"));
        assert_eq!(decode_key("bad%2"), None);
        assert_eq!(decode_key("bad%zz"), None);
        assert_eq!(decode_key("%FF"), None);
    }

    #[test]
    fn the_sample_event_parses_and_its_key_decodes() {
        let e: S3Event =
            serde_json::from_str(include_str!("../../../events/s3-trust-sign-archive.json"))
                .unwrap();
        let o = &e.records[0].s3.object;
        let key = decode_key(o.key.as_deref().unwrap()).unwrap();
        assert_eq!(key, "incoming/dossier 89eb482c (juin).zip");
        assert!(settings().is_archive_key(&key));
        assert!(o.version_id.is_some() && o.e_tag.is_some() && o.size.is_some());
    }

    #[test]
    fn only_zip_keys_under_the_prefix_are_archives() {
        let s = settings();
        assert!(s.is_archive_key("incoming/a.zip"));
        assert!(s.is_archive_key("incoming/sub/A.ZIP"));
        assert!(!s.is_archive_key("incoming/a.json"));
        assert!(!s.is_archive_key("quarantine/incoming/a.zip"));
        assert!(!s.is_archive_key("incoming/.zip"));
    }

    #[test]
    fn own_prefixes_must_not_overlap_the_archive_prefix() {
        assert!(settings().checked().is_ok());
        let mut s = settings();
        s.archive_prefix = String::new();
        assert!(s.checked().is_err());
        let mut s = settings();
        s.processed_prefix = "incoming/processed/".into();
        assert!(s.checked().is_err());
    }
}

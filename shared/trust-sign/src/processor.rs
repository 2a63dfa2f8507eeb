//! The archive processing, behind small ports: S3 notifications → ranged reads of the archive
//! ([`ArchiveSources`]) → analysis → processed copy or quarantine ([`ArchiveStore`]) → one
//! durable-intake event per object version ([`EventStore`]). The AWS adapters live in
//! `aws` (feature `aws`); [`MemoryArchives`] and `kyc_core::intake::MemoryStore` are the
//! in-memory twins.
//!
//! Failure policy: a bad archive is recorded as a failed event, quarantined, and the
//! notification succeeds (retrying cannot fix it). A transient failure (reads, writes, the
//! event store, the key secret) fails the batch so Lambda retries it; records already done
//! come back as duplicates, so a retry never applies anything twice.

use super::error::TrustSignError;
use super::plan::{
    plan_analysis, plan_analysis_minimal, plan_failure, processed_key, quarantine_key,
    ArchiveObject, LinkKey, ObjectVersion, QUARANTINE_TAG,
};
use super::{
    analyze_archive_with, parse_time_zone, Limits, RangeSource, Reading, ReviewOutcome, SourceError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kyc_core::crypto::Keyring;
use kyc_core::intake::{EventStore, Outcome, StoreError};
use kyc_core::secrets::Cached;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Reads archives: one [`RangeSource`] per object version (ranged GETs pinned to it).
pub trait ArchiveSources: Send + Sync {
    /// Ranged reads of one object version.
    fn open(&self, object: &ArchiveObject) -> Box<dyn RangeSource>;
}

/// Why a write of the processed copy or a quarantine failed. Every variant fails the record
/// so Lambda retries it (the writes are idempotent). Carries no key (keys may name the
/// customer) and no payload.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveWriteError {
    /// The store refused or did not answer (throttling, timeout, 5xx, access denied).
    #[error("S3 write failed: {0}")]
    Unavailable(String),
    /// The quarantine tag could not be built (its reason code is not a valid tag value).
    #[error("invalid quarantine tag: {0}")]
    Tag(String),
    /// Reading the version to quarantine failed (other than it being gone).
    #[error("reading the archive to quarantine failed: {0}")]
    Read(#[source] SourceError),
}

/// Writes the processed copy of report.json and quarantines bad archives. Errors carry no
/// key (keys may name the customer).
#[async_trait]
pub trait ArchiveStore: Send + Sync {
    /// Stores the processed copy of report.json at (bucket, key).
    async fn put_processed(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
    ) -> Result<Option<String>, ArchiveWriteError>;
    /// Removes the processed copy just written (`version`: the one [`Self::put_processed`]
    /// returned): its archive was about an erased customer, so nothing of it is kept.
    async fn discard_processed(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<(), ArchiveWriteError>;
    /// Tags the notified version `tag=reason` (other tags kept) and, with `copy_to`, copies
    /// it there with the same tag. Idempotent. `Ok(true)` when the version is gone.
    async fn quarantine(
        &self,
        object: &ArchiveObject,
        copy_to: Option<&str>,
        tag: &str,
        reason: &str,
    ) -> Result<bool, ArchiveWriteError>;
    /// The most a quarantine copy may weigh (S3's single-request copy limit): larger archives
    /// are tagged in place only.
    fn max_copy_size(&self) -> u64 {
        u64::MAX
    }
}

/// What a [`RangeSource`] returns when the notified version no longer exists (deleted, or
/// overwritten on an unversioned bucket): not worth a retry, the newer object has its own
/// notification.
#[derive(Debug, thiserror::Error)]
#[error("the object version is gone ({code})")]
pub struct ObjectGone {
    /// S3's error code.
    pub code: String,
}

/// True when an analysis failed because the object version is gone.
pub fn is_gone(err: &TrustSignError) -> bool {
    matches!(err, TrustSignError::Source(e) if e.downcast_ref::<ObjectGone>().is_some())
}

/// A write prefix (processed or quarantine) that is empty or overlaps the archive prefix: the
/// processing would read its own writes as archives. Fix the setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be non-empty and disjoint from ARCHIVE_PREFIX")]
pub struct OverlappingPrefix {
    /// The setting at fault.
    pub name: &'static str,
}

/// Settings of the processing (the function reads them from its environment once).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `TABLE_NAME`.
    pub table: String,
    /// The payload keyring's secret.
    pub payload_key_secret: String,
    /// Only keys under this prefix and ending in `.zip` are archives.
    pub archive_prefix: String,
    /// Where the processed copies of report.json go.
    pub processed_prefix: String,
    /// Where bad archives are copied.
    pub quarantine_prefix: String,
    /// Which report field names the customer.
    pub link_key: LinkKey,
    /// Size and complexity bounds of an archive.
    pub limits: Limits,
    /// How reviews and zone-less dates are read (`REVIEW_OUTCOME`, `REPORT_TIME_ZONE`).
    pub reading: Reading,
    /// How long a secret is cached.
    pub secret_ttl: Duration,
    /// Whether the table still holds items of the key layout before provider-scoped keys.
    pub legacy_keys: kyc_core::legacy_keys::LegacyKeyLayout,
}

impl Settings {
    /// The settings from the function's environment (`TABLE_NAME`, `PAYLOAD_KEY_SECRET`,
    /// `ARCHIVE_PREFIX`, `PROCESSED_PREFIX`, `QUARANTINE_PREFIX`, `LINK_KEY`,
    /// `MAX_REPORT_BYTES`, `REVIEW_OUTCOME`, `REPORT_TIME_ZONE`, `SECRET_CACHE_TTL_SECONDS`),
    /// checked: a bad value fails the cold start, naming the setting.
    pub fn from_env(env: &kyc_core::config::Env) -> Result<Self, kyc_core::config::SettingsError> {
        use kyc_core::config::SettingsError;
        let or = |k: &str, d: &str| env.optional(k).unwrap_or_else(|| d.to_string());
        let mut limits = Limits::default();
        // Memory was measured up to the default (64 MiB, README): no larger value is allowed.
        limits.max_report_size = env.number_in(
            "MAX_REPORT_BYTES",
            limits.max_report_size,
            1024..=limits.max_report_size,
        )?;
        let link_key = or("LINK_KEY", "externalId");
        let review_outcome = or("REVIEW_OUTCOME", "unconfirmed");
        let time_zone = or("REPORT_TIME_ZONE", "Europe/Paris");
        Self {
            table: env.required("TABLE_NAME")?,
            payload_key_secret: env.required("PAYLOAD_KEY_SECRET")?,
            archive_prefix: or("ARCHIVE_PREFIX", "incoming/"),
            processed_prefix: or("PROCESSED_PREFIX", "processed/"),
            quarantine_prefix: or("QUARANTINE_PREFIX", "quarantine/"),
            link_key: env.checked("LINK_KEY", &link_key, |v| {
                LinkKey::parse(v).map_err(|_| "externalId or externalInfo.<key>")
            })?,
            limits,
            reading: Reading {
                review_outcome: env.checked("REVIEW_OUTCOME", &review_outcome, |v| {
                    ReviewOutcome::parse(v).map_err(|_| {
                        "unconfirmed, event-state or field:NAME=ACCEPTED[|...]/REJECTED[|...]"
                    })
                })?,
                time_zone: env.checked("REPORT_TIME_ZONE", &time_zone, |v| {
                    parse_time_zone(v).map_err(|_| "an IANA time zone name such as Europe/Paris")
                })?,
            },
            secret_ttl: kyc_core::config::secret_ttl(env)?,
            legacy_keys: kyc_core::legacy_keys::LegacyKeyLayout::from_env(env)?,
        }
        .checked()
        .map_err(|e| SettingsError::invalid(e.name, "non-empty and disjoint from ARCHIVE_PREFIX"))
    }

    /// The processing's own writes must never look like archives to it (a loop otherwise).
    pub fn checked(self) -> Result<Self, OverlappingPrefix> {
        for (name, p) in [
            ("PROCESSED_PREFIX", &self.processed_prefix),
            ("QUARANTINE_PREFIX", &self.quarantine_prefix),
        ] {
            if p.is_empty()
                || p.starts_with(&self.archive_prefix)
                || self.archive_prefix.starts_with(p.as_str())
            {
                return Err(OverlappingPrefix { name });
            }
        }
        Ok(self)
    }

    /// Whether a decoded key is an archive this processing handles.
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

/// One S3 notification record, as the function receives it (no AWS types: the function maps
/// its event crate's records to this).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notification {
    /// The S3 event name (`ObjectCreated:Put`...).
    pub event_name: Option<String>,
    /// The bucket.
    pub bucket: Option<String>,
    /// URL-encoded, as S3 sends it.
    pub key: Option<String>,
    /// The object's version id, on a versioned bucket.
    pub version_id: Option<String>,
    /// The object's ETag.
    pub etag: Option<String>,
    /// The object's size.
    pub size: Option<i64>,
}

/// What happened to one record (logged, returned, counted by `kyc reprocess`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum RecordResult {
    /// Not an archive of ours (prefix, suffix, event name).
    Skipped {
        /// Why.
        why: String,
    },
    /// Read and recorded: `outcome` says whether the state changed.
    Processed {
        /// The event's id.
        event_id: String,
        /// What the intake did.
        outcome: Outcome,
        /// Bytes read of the archive.
        bytes_read: u64,
        /// Checks reviewed by an operator whose outcome the report does not say (as read).
        reviewed_outcome_unknown: usize,
        /// The file is fraud-marked (a check, or an unlinked mark).
        fraud_marked: bool,
        /// DynamoDB refused the full record for its size: the minimal one was stored.
        minimal: bool,
    },
    /// A bad archive: recorded as failed and quarantined.
    Quarantined {
        /// The event's id.
        event_id: String,
        /// Why it was quarantined.
        reason_code: String,
        /// What the intake did with the failed event.
        outcome: Outcome,
    },
    /// The notified version no longer exists: nothing to read or quarantine.
    Gone {
        /// The event's id.
        event_id: String,
    },
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

impl From<Transient> for kyc_core::invocation::InvocationError {
    fn from(e: Transient) -> Self {
        kyc_core::invocation::InvocationError::Retryable(e.0)
    }
}

/// What a batch of records counts in the metrics: events recorded or duplicates, quarantined
/// archives by reason code, and — for newly recorded archives — reviewed checks whose outcome
/// awaits a person (`ReviewOutcomeUnknown`) and fraud-marked files (`FraudMarkedFiles`). (A batch that fails is retried: what it did comes
/// back as duplicates then.)
pub fn metrics(results: &[RecordResult]) -> kyc_core::metrics::MetricBatch {
    use kyc_core::metrics::{Metric, MetricBatch};
    let mut batch = MetricBatch::new();
    for r in results {
        let outcome = match r {
            RecordResult::Processed {
                outcome,
                reviewed_outcome_unknown,
                fraud_marked,
                ..
            } => {
                if !matches!(
                    outcome,
                    Outcome::Duplicate | Outcome::Conflict | Outcome::ErasedSubject
                ) {
                    if *reviewed_outcome_unknown > 0 {
                        batch.add(
                            Metric::ReviewOutcomeUnknown,
                            *reviewed_outcome_unknown as f64,
                        );
                    }
                    if *fraud_marked {
                        batch.add(Metric::FraudMarkedFiles, 1.0);
                    }
                }
                outcome
            }
            RecordResult::Quarantined {
                reason_code,
                outcome,
                ..
            } => {
                batch.add_for(Metric::ArchivesQuarantined, reason_code, 1.0);
                outcome
            }
            RecordResult::Skipped { .. } | RecordResult::Gone { .. } => continue,
        };
        match outcome {
            Outcome::Duplicate | Outcome::Conflict => batch.add(Metric::Duplicates, 1.0),
            Outcome::ErasedSubject => batch.add(Metric::ErasedSubjectDropped, 1.0),
            _ => batch.add(Metric::EventsRecorded, 1.0),
        };
    }
    batch
}

/// The archive function's rules, free of Lambda types.
pub struct Processor {
    /// Reads archives.
    pub sources: Arc<dyn ArchiveSources>,
    /// Writes processed copies and quarantines.
    pub objects: Arc<dyn ArchiveStore>,
    /// Where events and states are kept.
    pub store: Arc<dyn EventStore>,
    /// Trust & Sign's payload keyring.
    pub keys: Cached<Keyring>,
    /// The processing's settings.
    pub settings: Settings,
    /// The clock.
    pub clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

impl Processor {
    /// Handles every record; fails (so Lambda retries) if any record failed transiently,
    /// after trying the others.
    pub async fn handle(&self, records: &[Notification]) -> Result<Vec<RecordResult>, Transient> {
        let mut results = Vec::with_capacity(records.len());
        let mut failures = Vec::new();
        for (i, record) in records.iter().enumerate() {
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

    /// Handles one record: skipped, processed, quarantined or gone; `Err` only when worth a retry.
    pub async fn handle_record(&self, record: &Notification) -> Result<RecordResult, Transient> {
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
        let Some(key) = record.key.as_deref().and_then(decode_key) else {
            return skip("missing or undecodable key");
        };
        if !self.settings.is_archive_key(&key) {
            return skip("key outside the archive prefix or not .zip");
        }
        let Some(bucket) = record.bucket.as_deref() else {
            return skip("no bucket name");
        };
        let Some(mut object) = ArchiveObject::new(
            bucket,
            &key,
            record.version_id.as_deref(),
            record.etag.as_deref(),
        ) else {
            return skip("neither version id nor ETag");
        };
        object.size = record.size.and_then(|s| u64::try_from(s).ok());
        self.process(object, None).await
    }

    /// Reads, analyses, stores one archive version. `rerun` makes a deliberate re-run a new
    /// event (`kyc reprocess --rerun`).
    pub async fn process(
        &self,
        object: ArchiveObject,
        rerun: Option<&str>,
    ) -> Result<RecordResult, Transient> {
        let event_id = object
            .event_id(rerun)
            .map_err(|e| Transient(e.to_string()))?;
        let id = event_id.as_str().to_string();
        let keys = self
            .keys
            .get()
            .await
            .map_err(|e| Transient(format!("payload key: {e}")))?;
        let source = self.sources.open(&object);
        let analysis = analyze_archive_with(
            source.as_ref(),
            &self.settings.limits,
            &self.settings.reading,
        )
        .await;
        drop(source);
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
                let copy_version = self
                    .objects
                    .put_processed(
                        &object.bucket,
                        &processed,
                        std::mem::take(&mut analysis.report_json),
                    )
                    .await
                    .map_err(|e| Transient(format!("processed copy: {e}")))?;
                let (outcome, minimal) = match self.store.record(&plan).await {
                    Ok(outcome) => (outcome, false),
                    // Refused for good (an item past DynamoDB's 400 KB): the same write would
                    // fail on every retry, so it is never retried. The minimal record (state
                    // detail without lists, no analysis) still changes the state.
                    Err(StoreError::Refused(why)) => {
                        tracing::warn!(event_id = %id, refusal = %clip(&why), "record refused, storing the minimal one");
                        let minimal = plan_analysis_minimal(
                            &keys,
                            &object,
                            &event_id,
                            &analysis,
                            &self.settings.link_key,
                            &processed,
                            received_at,
                        );
                        match self.store.record(&minimal).await {
                            Ok(outcome) => (outcome, true),
                            Err(StoreError::Refused(why)) => {
                                return self
                                    .record_unstorable(&keys, &object, &event_id, &why, received_at)
                                    .await
                            }
                            Err(e) => return Err(Transient(e.to_string())),
                        }
                    }
                    Err(e) => return Err(Transient(e.to_string())),
                };
                if outcome == Outcome::ErasedSubject {
                    // Dropped: its report copy goes too (a retry of this notification drops
                    // it again and removes whatever is left).
                    self.objects
                        .discard_processed(&object.bucket, &processed, copy_version.as_deref())
                        .await
                        .map_err(|e| {
                            Transient(format!("processed copy of a dropped archive: {e}"))
                        })?;
                }
                tracing::info!(
                    event_id = %id,
                    outcome = %outcome.history_note(),
                    decision = ?analysis.summary.decision,
                    bytes_read = analysis.stats.bytes_read,
                    archive_size = analysis.stats.archive_size,
                    type_mismatches = analysis.summary.type_mismatches.count,
                    fraud_marked = analysis.summary.fraud_marked,
                    reviewed_outcome_unknown = analysis.summary.reviewed_outcome_unknown,
                    minimal,
                    "archive processed"
                );
                Ok(RecordResult::Processed {
                    event_id: id,
                    outcome,
                    bytes_read: analysis.stats.bytes_read,
                    reviewed_outcome_unknown: analysis.summary.reviewed_outcome_unknown,
                    fraud_marked: analysis.summary.fraud_marked,
                    minimal,
                })
            }
            Err(e) if is_gone(&e) => {
                tracing::warn!(event_id = %id, "archive version gone before it was read");
                Ok(RecordResult::Gone { event_id: id })
            }
            Err(e) if e.is_transient() => Err(Transient(format!("reading the archive: {e}"))),
            Err(e) => {
                let reason = e.reason_code();
                // Without its naming key a quarantine copy would get a reversible name: retried
                // (then the failure queue) until the keyring has one.
                let naming = keys.naming_key().ok_or_else(|| {
                    Transient(
                        "the Trust & Sign payload keyring has no namingKey: add one (docs/security.md) to quarantine bad archives".into(),
                    )
                })?;
                let dest = quarantine_key(
                    &self.settings.quarantine_prefix,
                    &self.settings.archive_prefix,
                    &object.key,
                    naming,
                );
                let copy = object
                    .size
                    .is_none_or(|s| s <= self.objects.max_copy_size());
                // Quarantine first: a recorded failure always has its quarantined object.
                let gone = self
                    .objects
                    .quarantine(
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

    /// Even the minimal record was refused for its size: the archive is tagged (in place: it
    /// is not bad, its analysis does not fit) and a failed event says why. Never retried.
    async fn record_unstorable(
        &self,
        keys: &Keyring,
        object: &ArchiveObject,
        event_id: &kyc_core::intake::EventId,
        refusal: &str,
        received_at: DateTime<Utc>,
    ) -> Result<RecordResult, Transient> {
        let id = event_id.as_str().to_string();
        let error = TrustSignError::Unstorable;
        let reason = error.reason_code();
        tracing::error!(event_id = %id, refusal = %clip(refusal), reason_code = reason, "even the minimal record was refused");
        let gone = self
            .objects
            .quarantine(object, None, QUARANTINE_TAG, reason)
            .await
            .map_err(|e| Transient(format!("quarantine: {e}")))?;
        if gone {
            return Ok(RecordResult::Gone { event_id: id });
        }
        let plan = plan_failure(keys, object, event_id, &error, "", received_at);
        let outcome = self
            .store
            .record(&plan)
            .await
            .map_err(|e| Transient(e.to_string()))?;
        Ok(RecordResult::Quarantined {
            event_id: id,
            reason_code: reason.into(),
            outcome,
        })
    }
}

/// A store's refusal message, clipped for a log line (it names the limit, never data).
fn clip(text: &str) -> &str {
    super::report::lenient::clip(text, 200)
}

/// The in-memory twin of the S3 bucket: archives by (bucket, key) with their version, written
/// objects, tags; reads and writes can be made to fail (transient) for tests.
#[derive(Default)]
pub struct MemoryArchives {
    inner: Arc<Mutex<MemoryBucket>>,
}

/// (bucket, key).
type ObjectName = (String, String);

#[derive(Default)]
struct MemoryBucket {
    /// (bucket, key) → (version id or ETag, bytes).
    objects: BTreeMap<ObjectName, (String, Arc<Vec<u8>>)>,
    tags: BTreeMap<(String, String), Vec<(String, String)>>,
    fail_reads: bool,
    fail_writes: bool,
}

impl MemoryArchives {
    /// Stores `bytes` at (bucket, key) as version `version` (replacing any older version).
    pub fn insert(&self, bucket: &str, key: &str, version: &str, bytes: Vec<u8>) {
        self.inner.lock().unwrap().objects.insert(
            (bucket.into(), key.into()),
            (version.into(), Arc::new(bytes)),
        );
    }
    /// Deletes the object at (bucket, key).
    pub fn remove(&self, bucket: &str, key: &str) {
        self.inner
            .lock()
            .unwrap()
            .objects
            .remove(&(bucket.into(), key.into()));
    }
    /// The bytes at (bucket, key), if any.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let m = self.inner.lock().unwrap();
        m.objects
            .get(&(bucket.into(), key.into()))
            .map(|(_, b)| b.to_vec())
    }
    /// The tags of the object at (bucket, key).
    pub fn tags(&self, bucket: &str, key: &str) -> Vec<(String, String)> {
        let m = self.inner.lock().unwrap();
        m.tags
            .get(&(bucket.into(), key.into()))
            .cloned()
            .unwrap_or_default()
    }
    /// Every key stored.
    pub fn keys(&self) -> Vec<String> {
        let m = self.inner.lock().unwrap();
        m.objects.keys().map(|(_, k)| k.clone()).collect()
    }
    /// Makes every read fail (a transient S3 error).
    pub fn fail_reads(&self, fail: bool) {
        self.inner.lock().unwrap().fail_reads = fail;
    }
    /// Makes every write fail (a transient S3 error).
    pub fn fail_writes(&self, fail: bool) {
        self.inner.lock().unwrap().fail_writes = fail;
    }

    /// The version the object is stored under, if it is `object`'s version.
    fn current(&self, object: &ArchiveObject) -> Result<Arc<Vec<u8>>, SourceError> {
        let m = self.inner.lock().unwrap();
        if m.fail_reads {
            return Err("simulated S3 failure".into());
        }
        let wanted = match &object.version {
            ObjectVersion::VersionId(v) | ObjectVersion::ETag(v) => v,
        };
        match m.objects.get(&(object.bucket.clone(), object.key.clone())) {
            Some((version, bytes)) if version == wanted => Ok(bytes.clone()),
            _ => Err(Box::new(ObjectGone {
                code: "NoSuchVersion".into(),
            })),
        }
    }
}

struct MemoryObject {
    archives: Arc<Mutex<MemoryBucket>>,
    object: ArchiveObject,
}

#[async_trait]
impl RangeSource for MemoryObject {
    async fn len(&self) -> Result<u64, SourceError> {
        let bytes = MemoryArchives {
            inner: self.archives.clone(),
        }
        .current(&self.object)?;
        Ok(bytes.len() as u64)
    }
    async fn read_range(&self, start: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        let bytes = MemoryArchives {
            inner: self.archives.clone(),
        }
        .current(&self.object)?;
        let start = usize::try_from(start)?.min(bytes.len());
        let end = start.saturating_add(usize::try_from(len)?).min(bytes.len());
        Ok(bytes[start..end].to_vec())
    }
}

impl ArchiveSources for MemoryArchives {
    fn open(&self, object: &ArchiveObject) -> Box<dyn RangeSource> {
        Box::new(MemoryObject {
            archives: self.inner.clone(),
            object: object.clone(),
        })
    }
}

fn simulated_failure() -> ArchiveWriteError {
    ArchiveWriteError::Unavailable("simulated S3 failure".into())
}

#[async_trait]
impl ArchiveStore for MemoryArchives {
    async fn put_processed(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
    ) -> Result<Option<String>, ArchiveWriteError> {
        let mut m = self.inner.lock().unwrap();
        if m.fail_writes {
            return Err(simulated_failure());
        }
        m.objects.insert(
            (bucket.into(), key.into()),
            ("processed".into(), Arc::new(bytes)),
        );
        Ok(None)
    }

    async fn discard_processed(
        &self,
        bucket: &str,
        key: &str,
        _version: Option<&str>,
    ) -> Result<(), ArchiveWriteError> {
        let mut m = self.inner.lock().unwrap();
        if m.fail_writes {
            return Err(simulated_failure());
        }
        m.objects.remove(&(bucket.into(), key.into()));
        Ok(())
    }

    async fn quarantine(
        &self,
        object: &ArchiveObject,
        copy_to: Option<&str>,
        tag: &str,
        reason: &str,
    ) -> Result<bool, ArchiveWriteError> {
        let bytes = match self.current(object) {
            Ok(b) => b,
            Err(e) if e.downcast_ref::<ObjectGone>().is_some() => return Ok(true),
            Err(e) => return Err(ArchiveWriteError::Read(e)),
        };
        let mut m = self.inner.lock().unwrap();
        if m.fail_writes {
            return Err(simulated_failure());
        }
        let mark = (tag.to_string(), reason.to_string());
        let tags = m
            .tags
            .entry((object.bucket.clone(), object.key.clone()))
            .or_default();
        tags.retain(|(k, _)| k != tag);
        tags.push(mark.clone());
        if let Some(dest) = copy_to {
            m.objects.insert(
                (object.bucket.clone(), dest.into()),
                ("quarantined".into(), bytes),
            );
            m.tags
                .insert((object.bucket.clone(), dest.into()), vec![mark]);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests;

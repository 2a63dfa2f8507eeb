//! From an analysed archive (or a bad one) to what the durable intake writes. Pure: the S3
//! object is described by [`ArchiveObject`], the AWS calls live in the function.
//!
//! - One event per archive *version*: its id derives from bucket + key + version id (or ETag),
//!   so a redelivered notification is a `Duplicate`.
//! - The customer (history and state item) is the report's link key: `externalId` or an
//!   `externalInfo` key ([`LinkKey`]).
//! - The state stream is `clientFile#<uuid>`, non-final, ordered by the report's `date`: a new
//!   version of a client file's archive supersedes the stored one only if its report is newer,
//!   whatever order the uploads arrive in.
//! - The sealed "body" is a small descriptor of the object (its key may name the customer),
//!   never report.json itself: that goes to the processed prefix in S3 (it can weigh MiBs,
//!   and a DynamoDB item at most 400 KB).

use super::{ArchiveAnalysis, Decision, Outcome as CheckOutcome, TrustSignError};
use chrono::{DateTime, Utc};
use kyc_core::crypto::{Aad, Keyring, NamingKey};
use kyc_core::intake::{sha256_hex, EventId, EventRecord, Provider, WritePlan};
use kyc_core::kyc_state::{StatePatch, Stream, StreamValue};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Event types of this provider's events.
pub const EVENT_ARCHIVE: &str = "archive";
/// See [`EVENT_ARCHIVE`]: an archive that could not be analysed.
pub const EVENT_ARCHIVE_FAILED: &str = "archive_failed";

/// The tag put on a quarantined object (its value is the reason code).
pub const QUARANTINE_TAG: &str = "kyc-hooks-quarantine";

/// Beyond this, the event summary keeps the compact detail only (a DynamoDB item holds at
/// most 400 KB, and the summary is written twice: event and history).
const MAX_SUMMARY_BYTES: usize = 150 * 1024;

/// A link key that is neither `externalId` nor `externalInfo.<key>`. Configuration, not
/// data: fix the setting. The value is not quoted (a typo might be a pasted value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("link key must be `externalId` or `externalInfo.<key>`")]
pub struct BadLinkKey;

/// A `--rerun` tag that cannot extend an event id (printable ASCII, the id at most 128
/// characters): fix the tag.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("re-run tag: {0}")]
pub struct BadRerunTag(#[source] kyc_core::intake::InvalidEventId);

/// Why a sealed archive key of a stored record does not open. Names the field and the event
/// (an id, never the key).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RevealError {
    /// Another payload key, or a record moved between events or customers.
    #[error("{field} of {event_id}: {source}")]
    Open {
        /// The field.
        field: &'static str,
        /// The event.
        event_id: String,
        /// Why it does not open.
        #[source]
        source: kyc_core::crypto::CryptoError,
    },
    /// The key opened but is not UTF-8.
    #[error("{field} of {event_id} is not UTF-8")]
    NotUtf8 {
        /// The field.
        field: &'static str,
        /// The event.
        event_id: String,
    },
}

/// Which report field names the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKey {
    /// `externalId`.
    ExternalId,
    /// `externalInfo.<key>`.
    ExternalInfo(String),
}

impl LinkKey {
    /// `externalId` or `externalInfo.<key>`.
    pub fn parse(s: &str) -> Result<Self, BadLinkKey> {
        match s.trim() {
            "externalId" => Ok(Self::ExternalId),
            other => match other.strip_prefix("externalInfo.") {
                Some(k) if !k.is_empty() => Ok(Self::ExternalInfo(k.to_string())),
                _ => Err(BadLinkKey),
            },
        }
    }

    /// The key's name in settings (`externalId`, `externalInfo.<key>`).
    pub fn name(&self) -> String {
        match self {
            Self::ExternalId => "externalId".into(),
            Self::ExternalInfo(k) => format!("externalInfo.{k}"),
        }
    }

    /// The customer id the report names, if any (strings and integers accepted).
    pub fn subject(&self, analysis: &ArchiveAnalysis) -> Option<String> {
        let v = match self {
            Self::ExternalId => analysis.summary.external_id.clone().map(Value::from),
            Self::ExternalInfo(k) => analysis
                .report
                .client_file()
                .and_then(|c| c.external_info.get(k))
                .cloned(),
        }?;
        let s = match v {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        (!s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control)).then_some(s)
    }
}

/// Which version of an S3 object: the version id on a versioned bucket, else the ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectVersion {
    /// S3's version id.
    VersionId(String),
    /// The ETag (unversioned bucket).
    ETag(String),
}

/// The S3 object an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveObject {
    /// The bucket.
    pub bucket: String,
    /// Decoded key (S3 events carry it URL-encoded).
    pub key: String,
    /// Which version.
    pub version: ObjectVersion,
    /// Its size, when the notification gives it.
    pub size: Option<u64>,
}

impl ArchiveObject {
    /// The object of a notification; `None` without a version id or an ETag.
    pub fn new(
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        etag: Option<&str>,
    ) -> Option<Self> {
        let version = match (version_id.filter(|v| !v.is_empty() && *v != "null"), etag) {
            (Some(v), _) => ObjectVersion::VersionId(v.to_string()),
            (None, Some(e)) if !e.trim_matches('"').is_empty() => {
                ObjectVersion::ETag(e.trim_matches('"').to_string())
            }
            _ => return None,
        };
        Some(Self {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version,
            size: None,
        })
    }

    /// The version id, on a versioned bucket.
    pub fn version_id(&self) -> Option<&str> {
        match &self.version {
            ObjectVersion::VersionId(v) => Some(v),
            ObjectVersion::ETag(_) => None,
        }
    }

    /// The ETag, on an unversioned bucket.
    pub fn etag(&self) -> Option<&str> {
        match &self.version {
            ObjectVersion::ETag(e) => Some(e),
            ObjectVersion::VersionId(_) => None,
        }
    }

    /// `s3:<sha256 of bucket, key and version>`: fixed length whatever the key (event ids are
    /// at most 128 ASCII characters; keys are up to 1024 bytes of UTF-8). A deliberate re-run
    /// (`kyc reprocess --rerun TAG`) appends `#TAG` so it is a new event.
    pub fn event_id(&self, rerun: Option<&str>) -> Result<EventId, BadRerunTag> {
        let version = match &self.version {
            ObjectVersion::VersionId(v) => format!("v:{v}"),
            ObjectVersion::ETag(e) => format!("e:{e}"),
        };
        let base = format!(
            "s3:{}",
            sha256_hex(format!("{}\n{}\n{}", self.bucket, self.key, version).as_bytes())
        );
        let raw = match rerun {
            Some(tag) => format!("{base}#{tag}"),
            None => base,
        };
        EventId::from_provider(&raw).map_err(BadRerunTag)
    }

    /// The full description, key in clear: only ever stored sealed (the descriptor body).
    fn json(&self) -> Value {
        json!({
            "bucket": self.bucket,
            "key": self.key,
            "versionId": self.version_id(),
            "eTag": self.etag(),
            "size": self.size,
        })
    }

    /// What summaries, history and state keep: enough to find the object again (bucket,
    /// version id or ETag, size, and the key sealed for this event), nothing that names the
    /// customer. [`reveal_keys`] opens it for an operator who asks.
    pub fn reference(&self, keys: &Keyring, event_id: &EventId, subject: Option<&str>) -> Value {
        json!({
            "bucket": self.bucket,
            "sealedKey": keys.seal(&archive_key_aad(event_id.as_str(), subject), self.key.as_bytes()),
            "versionId": self.version_id(),
            "eTag": self.etag(),
            "size": self.size,
        })
    }
}

/// Binds a sealed archive key to its event and the customer the report names (a sealed key
/// copied elsewhere does not open). The same sealed text sits in the event summary, the
/// history entry and the state stream: all three belong to that event and customer.
pub fn archive_key_aad(event_id: &str, subject: Option<&str>) -> Aad {
    Aad::new(
        Provider::TrustSign.as_str(),
        event_id,
        "archive-key",
        subject,
    )
}

/// Binds a sealed quarantine key to its event and customer (see [`archive_key_aad`]).
pub fn quarantine_key_aad(event_id: &str, subject: Option<&str>) -> Aad {
    Aad::new(
        Provider::TrustSign.as_str(),
        event_id,
        "quarantine-key",
        subject,
    )
}

/// Opens the sealed keys of a stored summary or state detail in place, for an operator who
/// asked (`kyc status --reveal`): every `sealedKey` gains a `key` beside it, and a
/// `sealedQuarantineKey` a `quarantineKey`. Returns how many were opened.
pub fn reveal_keys(
    keys: &Keyring,
    event_id: &str,
    subject: Option<&str>,
    value: &mut Value,
) -> Result<usize, RevealError> {
    let mut opened = 0;
    match value {
        Value::Object(map) => {
            for (sealed, clear, aad) in [
                ("sealedKey", "key", archive_key_aad(event_id, subject)),
                (
                    "sealedQuarantineKey",
                    "quarantineKey",
                    quarantine_key_aad(event_id, subject),
                ),
            ] {
                if let Some(Value::String(text)) = map.get(sealed) {
                    let bytes = keys.open(&aad, text).map_err(|source| RevealError::Open {
                        field: sealed,
                        event_id: event_id.to_string(),
                        source,
                    })?;
                    let key = String::from_utf8(bytes).map_err(|_| RevealError::NotUtf8 {
                        field: sealed,
                        event_id: event_id.to_string(),
                    })?;
                    map.insert(clear.into(), key.into());
                    opened += 1;
                }
            }
            for v in map.values_mut() {
                opened += reveal_keys(keys, event_id, subject, v)?;
            }
        }
        Value::Array(items) => {
            for v in items {
                opened += reveal_keys(keys, event_id, subject, v)?;
            }
        }
        _ => {}
    }
    Ok(opened)
}

/// Where report.json of an analysed archive is copied: per client file, per event.
pub fn processed_key(prefix: &str, analysis: &ArchiveAnalysis, event_id: &EventId) -> String {
    let uuid = analysis
        .summary
        .client_file_uuid
        .as_deref()
        .filter(|u| safe_segment(u))
        .unwrap_or("no-client-file-uuid");
    let id = event_id
        .as_str()
        .trim_start_matches("s3:")
        .replace('#', "-");
    format!("{prefix}{uuid}/{id}/report.json")
}

/// The naming purpose of quarantine copies (a keyed name of one thing never equals one of
/// another).
pub const QUARANTINE_NAMING: &str = "trust-sign/quarantine";

/// Where a bad archive is copied: under the quarantine prefix, named by a keyed hash of its key
/// (`<namingKeyId>.<HMAC-SHA256 hex>.zip`, [`NamingKey::name`]), because keys often name the
/// customer ("dossier jean_dupont.zip") and an unsalted digest is reversed with a list of
/// likely names. The same archive always gets the same name under one naming key (a retried
/// copy overwrites itself); rotating payload keys renames nothing. The event keeps the
/// quarantine key sealed; `kyc status --reveal` opens both.
pub fn quarantine_key(prefix: &str, archive_prefix: &str, key: &str, naming: &NamingKey) -> String {
    let relative = key.strip_prefix(archive_prefix).unwrap_or(key);
    format!("{prefix}{}.zip", naming.name(QUARANTINE_NAMING, relative))
}

fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Lifecycle position of a client-file state, to break ties between two reports of the same
/// instant (never happens in practice; deterministic anyway).
fn state_rank(state: Option<&str>) -> u8 {
    match state {
        Some("INITIALIZED") => 1,
        Some("PENDING") => 2,
        Some("WAITING") => 3,
        Some("SUSPENDED") => 4,
        Some("RUNNING_POST_FINALIZATION") => 5,
        Some("ACCEPTED") | Some("REJECTED") => 6,
        _ => 0,
    }
}

/// Whether `value` serialises to at most `limit` bytes (stops writing past it).
fn fits<T: serde::Serialize>(value: &T, limit: usize) -> bool {
    struct Bounded(usize);
    impl std::io::Write for Bounded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self
                .0
                .checked_sub(buf.len())
                .ok_or(std::io::ErrorKind::WriteZero)?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Bounded(limit), value).is_ok()
}

/// Failing checks listed per participant in the state stream (the item must stay far below
/// DynamoDB's 400 KB); beyond, only counted.
const MAX_LISTED_CHECKS: usize = 20;
/// Participants listed in the state stream; beyond, only counted.
const MAX_LISTED_PARTICIPANTS: usize = 20;
/// Fraud-marked participants named in a state change's flags.
const MAX_FLAGGED_PARTICIPANTS: usize = 16;

fn outcome_name(o: CheckOutcome) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// Outcomes that are not a pass: listed in the state for a person to look at.
fn needs_a_look(o: CheckOutcome) -> bool {
    matches!(
        o,
        CheckOutcome::Failed
            | CheckOutcome::RejectedOnReview
            | CheckOutcome::Overturned
            | CheckOutcome::ReviewedOutcomeUnknown
    )
}

/// What the state stream keeps: small, enough to act on (the full verdicts are in the event).
pub fn compact_detail(analysis: &ArchiveAnalysis, archive: &Value, processed: &str) -> Value {
    let s = &analysis.summary;
    let participants: Vec<Value> = s
        .participants
        .iter()
        .take(MAX_LISTED_PARTICIPANTS)
        .map(|p| {
            let failing = p.checks().filter(|c| needs_a_look(c.outcome));
            let count = failing.clone().count();
            let listed: Vec<Value> = failing
                .take(MAX_LISTED_CHECKS)
                .map(|c| {
                    json!({
                        "kind": c.kind,
                        "locator": c.locator,
                        "outcome": outcome_name(c.outcome),
                        "reason": c.reason,
                        "failedControls": c.failed_controls.iter().take(MAX_LISTED_CHECKS).map(|f| f.control.clone()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let unconfirmed: Vec<Value> = p
                .checks()
                .filter(|c| !c.unconfirmed_failures.is_empty())
                .take(MAX_LISTED_CHECKS)
                .map(|c| {
                    json!({
                        "kind": c.kind,
                        "locator": c.locator,
                        "failures": c.unconfirmed_failures.iter().take(MAX_LISTED_CHECKS).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let mut entry = json!({
                "uuid": p.uuid,
                "outcome": outcome_name(p.outcome),
                "fraudMarked": p.fraud_marked,
                "checks": listed,
                "unconfirmedFailures": unconfirmed,
            });
            if count > MAX_LISTED_CHECKS {
                entry["moreFailingChecks"] = (count - MAX_LISTED_CHECKS).into();
            }
            entry
        })
        .collect();
    let mut detail = minimal_detail(analysis, archive, processed);
    detail["participants"] = participants.into();
    if s.participants.len() > MAX_LISTED_PARTICIPANTS {
        detail["moreParticipants"] = (s.participants.len() - MAX_LISTED_PARTICIPANTS).into();
    }
    detail
}

/// The state detail without the per-participant lists: what is stored when the full one is
/// refused (item size).
pub fn minimal_detail(analysis: &ArchiveAnalysis, archive: &Value, processed: &str) -> Value {
    let s = &analysis.summary;
    json!({
        "clientFileUuid": s.client_file_uuid,
        "clientFileId": s.client_file_id,
        "reportDate": s.report_date,
        "state": s.state,
        "decision": s.decision,
        "rejectionCause": s.rejection_cause,
        "recordId": s.record_id,
        "archivingState": s.archiving_state,
        "fraudMarked": s.fraud_marked,
        "unlinkedFraudMarks": s.unlinked_fraud_marks.len(),
        "reviewedOutcomeUnknown": s.reviewed_outcome_unknown,
        "reviewOutcomeReading": s.review_outcome_reading,
        "unconfirmedFailures": s.unconfirmed_failures,
        "timeZone": s.time_zone,
        "zonelessDates": s.zoneless_dates,
        "legalEntity": s.legal_entity.as_ref().map(|l| outcome_name(l.outcome)),
        "manifest": {
            "complete": analysis.manifest.is_complete(),
            "missing": analysis.manifest.missing.len(),
            "unexpected": analysis.manifest.unexpected.len(),
        },
        "inconsistencies": s.inconsistencies.iter().take(MAX_LISTED_CHECKS).collect::<Vec<_>>(),
        "typeMismatches": s.type_mismatches.count,
        "archive": archive,
        "processedKey": processed,
    })
}

/// What a state change tells every consumer beside its status (kept in the stream value and
/// carried by the state-change event): `fraudMarked` (the file), `fraudMarkedParticipant:<uuid>`
/// (each fraud-marked participant, at most 16), `reviewedOutcomeUnknown` (a reviewed check
/// awaits a person), `unconfirmedFailures` (failures on a NOT_VALIDATED check),
/// `zonelessReportDate` (the provider time assumed the configured zone).
pub fn state_flags(analysis: &ArchiveAnalysis) -> Vec<String> {
    let s = &analysis.summary;
    let mut flags = Vec::new();
    if s.fraud_marked {
        flags.push("fraudMarked".to_string());
    }
    flags.extend(
        s.participants
            .iter()
            .filter(|p| p.fraud_marked)
            .filter_map(|p| p.uuid.as_deref())
            .take(MAX_FLAGGED_PARTICIPANTS)
            .map(|u| {
                format!(
                    "fraudMarkedParticipant:{}",
                    super::report::lenient::clip(u, 64)
                )
            }),
    );
    if s.reviewed_outcome_unknown > 0 {
        flags.push("reviewedOutcomeUnknown".into());
    }
    if s.unconfirmed_failures > 0 {
        flags.push("unconfirmedFailures".into());
    }
    if s.zoneless_dates.iter().any(|d| d == "date") {
        flags.push("zonelessReportDate".into());
    }
    flags
}

/// The state change an analysed archive makes: the customer, the stream, the status, the
/// provider time, finality and flags. Pure (nothing sealed): what [`plan_analysis`] applies
/// and what `kyc trust-sign inspect` prints before a report is dropped in S3.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateChange {
    /// The customer the report names.
    pub customer: String,
    /// The client file's stream.
    pub stream: String,
    /// The status.
    pub status: String,
    /// The status's place in the diagram.
    pub rank: u8,
    /// The report's `date` (when Namirial generated it).
    pub provider_time: DateTime<Utc>,
    /// Never: a newer report of the same client file must always supersede the stored one
    /// (an ACCEPTED file can later be archived, or reopened).
    #[serde(rename = "final")]
    pub is_final: bool,
    /// What every consumer must see beside the status (`fraudMarked`...).
    pub flags: Vec<String>,
}

/// The state change of an analysis, or why it makes none.
pub fn state_change(analysis: &ArchiveAnalysis, link: &LinkKey) -> Result<StateChange, String> {
    let s = &analysis.summary;
    let customer = link
        .subject(analysis)
        .ok_or_else(|| format!("the report names no customer ({})", link.name()))?;
    let stream = s
        .client_file_uuid
        .as_deref()
        .and_then(|u| Stream::named(format!("clientFile#{u}")).ok())
        .ok_or_else(|| "the report has no usable clientFile.uuid".to_string())?;
    let provider_time = analysis
        .report
        .date
        .as_ref()
        .and_then(|d| d.instant())
        .ok_or_else(|| "the report date is not an ISO 8601 date and time".to_string())?;
    Ok(StateChange {
        customer,
        stream: stream.attribute().to_string(),
        status: s.state.as_deref().unwrap_or("UNKNOWN").to_string(),
        rank: state_rank(s.state.as_deref()),
        provider_time,
        is_final: false,
        flags: state_flags(analysis),
    })
}

fn seal_descriptor(
    keys: &Keyring,
    event_id: &EventId,
    subject: Option<&str>,
    descriptor: &Value,
) -> (String, String) {
    let bytes = serde_json::to_vec(descriptor).expect("JSON values serialise");
    let sealed = keys.seal(
        &EventRecord::body_aad(Provider::TrustSign, event_id.as_str(), subject),
        &bytes,
    );
    (sha256_hex(&bytes), sealed)
}

/// The plan for an archive that was read and parsed.
pub fn plan_analysis(
    keys: &Keyring,
    object: &ArchiveObject,
    event_id: &EventId,
    analysis: &ArchiveAnalysis,
    link: &LinkKey,
    processed: &str,
    received_at: DateTime<Utc>,
) -> WritePlan {
    plan_analysis_as(
        keys,
        object,
        event_id,
        analysis,
        link,
        processed,
        received_at,
        false,
    )
}

/// [`plan_analysis`] with the minimal state detail and no analysis in the event summary: the
/// plan stored when DynamoDB refused the full one for its size (the state still changes).
pub fn plan_analysis_minimal(
    keys: &Keyring,
    object: &ArchiveObject,
    event_id: &EventId,
    analysis: &ArchiveAnalysis,
    link: &LinkKey,
    processed: &str,
    received_at: DateTime<Utc>,
) -> WritePlan {
    plan_analysis_as(
        keys,
        object,
        event_id,
        analysis,
        link,
        processed,
        received_at,
        true,
    )
}

#[allow(clippy::too_many_arguments)]
fn plan_analysis_as(
    keys: &Keyring,
    object: &ArchiveObject,
    event_id: &EventId,
    analysis: &ArchiveAnalysis,
    link: &LinkKey,
    processed: &str,
    received_at: DateTime<Utc>,
    minimal: bool,
) -> WritePlan {
    let s = &analysis.summary;
    let subject = link.subject(analysis);
    let report_at = analysis.report.date.as_ref().and_then(|d| d.instant());
    let archive = object.reference(keys, event_id, subject.as_deref());
    let detail = if minimal {
        minimal_detail(analysis, &archive, processed)
    } else {
        compact_detail(analysis, &archive, processed)
    };

    let mut summary = Map::new();
    summary.insert("provider".into(), Provider::TrustSign.as_str().into());
    summary.insert("eventType".into(), EVENT_ARCHIVE.into());
    summary.insert("eventId".into(), event_id.as_str().into());
    summary.insert("subjectId".into(), subject.clone().into());
    summary.insert("linkKey".into(), link.name().into());
    summary.insert("decision".into(), json!(s.decision));
    summary.insert("detail".into(), detail.clone());
    // Measured by a bounded writer first: a report of 100,000 documents must not be turned
    // into a JSON value (hundreds of MB) only to find it does not fit.
    if !minimal && fits(&analysis.view(), MAX_SUMMARY_BYTES) {
        let full = serde_json::to_value(analysis.view()).expect("analysis view serialises");
        summary.insert("analysis".into(), full);
    } else {
        summary.insert("analysisTruncated".into(), true.into());
    }

    let descriptor = json!({
        "object": object.json(),
        "reportSha256": sha256_hex(&analysis.report_json),
        "processedKey": processed,
    });
    let (body_sha256, sealed_body) =
        seal_descriptor(keys, event_id, subject.as_deref(), &descriptor);

    let (patch, no_patch_reason) = match state_change(analysis, link) {
        Err(why) => (None, Some(why)),
        Ok(change) => {
            let stream = Stream::named(change.stream).expect("checked by state_change");
            let mut value = StreamValue::new(
                &change.status,
                change.rank,
                change.is_final,
                change.provider_time,
                event_id.as_str(),
            );
            value.detail = detail;
            value.flags = change.flags;
            (Some(StatePatch { stream, value }), None)
        }
    };

    WritePlan {
        event: EventRecord {
            provider: Provider::TrustSign,
            event_id: event_id.as_str().to_string(),
            event_type: EVENT_ARCHIVE.into(),
            subject,
            received_at,
            provider_time: report_at,
            body_sha256,
            sealed_body,
            summary: Value::Object(summary),
        },
        patch,
        no_patch_reason,
        erasure_guard: None,
    }
    .guarded(keys)
}

/// The plan for a bad archive: recorded (unassigned: nothing in it can be trusted to name a
/// customer), never applied.
pub fn plan_failure(
    keys: &Keyring,
    object: &ArchiveObject,
    event_id: &EventId,
    error: &TrustSignError,
    quarantine: &str,
    received_at: DateTime<Utc>,
) -> WritePlan {
    debug_assert!(
        !error.is_transient(),
        "transient errors are retried, not recorded"
    );
    let reason = error.reason_code();
    let summary = json!({
        "provider": Provider::TrustSign.as_str(),
        "eventType": EVENT_ARCHIVE_FAILED,
        "eventId": event_id.as_str(),
        "reasonCode": reason,
        // Display never carries personal data (entry names are redacted, JSON errors keep
        // positions only): see `TrustSignError`.
        "reason": error.to_string(),
        "archive": object.reference(keys, event_id, None),
        // The quarantine copy keeps the archive's name: sealed like the key.
        "sealedQuarantineKey": (!quarantine.is_empty())
            .then(|| keys.seal(&quarantine_key_aad(event_id.as_str(), None), quarantine.as_bytes())),
    });
    let descriptor =
        json!({"object": object.json(), "failure": reason, "quarantineKey": quarantine});
    let (body_sha256, sealed_body) = seal_descriptor(keys, event_id, None, &descriptor);
    WritePlan {
        event: EventRecord {
            provider: Provider::TrustSign,
            event_id: event_id.as_str().to_string(),
            event_type: EVENT_ARCHIVE_FAILED.into(),
            subject: None,
            received_at,
            provider_time: None,
            body_sha256,
            sealed_body,
            summary,
        },
        patch: None,
        no_patch_reason: Some(format!("bad archive: {reason}")),
        erasure_guard: None,
    }
}

/// Whether an analysis says the client file is decided (for logs and counts).
pub fn is_decided(analysis: &ArchiveAnalysis) -> bool {
    !matches!(analysis.summary.decision, Decision::InProgress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{analyze_archive, Limits, MemorySource};
    use chrono::TimeZone;
    use kyc_core::crypto::PayloadKey;
    use kyc_core::intake::{EventStore, MemoryStore, Outcome};
    use trust_sign_gen::{archive_bytes, write_archive, ArchiveOptions, Kind};

    fn keys() -> Keyring {
        Keyring::new(PayloadKey::new("t", [7; 32]).unwrap(), vec![]).with_naming_key(naming())
    }

    fn naming() -> NamingKey {
        NamingKey::new("n1", [8; 32]).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap()
    }

    fn object(version: &str) -> ArchiveObject {
        ArchiveObject::new("archives", "incoming/file one.zip", Some(version), None).unwrap()
    }

    async fn analysis(bytes: Vec<u8>) -> ArchiveAnalysis {
        analyze_archive(&MemorySource(bytes), &Limits::default())
            .await
            .unwrap()
    }

    fn with_report(kind: Kind, patch: Value) -> Vec<u8> {
        let mut v = Vec::new();
        let opts = ArchiveOptions {
            report_patch: Some(patch),
            ..ArchiveOptions::default()
        };
        write_archive(kind, &opts, &mut v).unwrap();
        v
    }

    fn plan(a: &ArchiveAnalysis, version: &str) -> WritePlan {
        let o = object(version);
        let id = o.event_id(None).unwrap();
        let processed = processed_key("processed/", a, &id);
        plan_analysis(&keys(), &o, &id, a, &LinkKey::ExternalId, &processed, now())
    }

    #[test]
    fn link_keys_parse() {
        assert_eq!(LinkKey::parse("externalId"), Ok(LinkKey::ExternalId));
        assert_eq!(
            LinkKey::parse("externalInfo.customerId"),
            Ok(LinkKey::ExternalInfo("customerId".into()))
        );
        assert!(LinkKey::parse("externalInfo.").is_err());
        assert_eq!(LinkKey::parse("recordId"), Err(BadLinkKey));
        // A setting's value is not quoted back (a mistyped setting might hold a pasted value).
        assert!(!BadLinkKey.to_string().contains("recordId"));
    }

    #[test]
    fn event_ids_are_per_version_and_fixed_length() {
        let a = object("v1").event_id(None).unwrap();
        assert_eq!(a, object("v1").event_id(None).unwrap());
        assert_ne!(a, object("v2").event_id(None).unwrap());
        assert_eq!(a.as_str().len(), 67);
        let long = ArchiveObject::new("b", &"é".repeat(500), None, Some("\"abc\"")).unwrap();
        assert_eq!(long.etag(), Some("abc"));
        assert_eq!(long.event_id(None).unwrap().as_str().len(), 67);
        assert_ne!(a, object("v1").event_id(Some("fix-1")).unwrap());
        assert!(object("v1").event_id(Some("a b")).is_err());
        assert!(ArchiveObject::new("b", "k", Some("null"), None).is_none());
    }

    #[tokio::test]
    async fn an_accepted_file_patches_its_client_file_stream_for_the_linked_customer() {
        let a = analysis(archive_bytes(Kind::Full)).await;
        let p = plan(&a, "v1");
        let subject = p
            .event
            .subject
            .clone()
            .expect("externalId names the customer");
        let patch = p.patch.as_ref().expect("patch");
        let uuid = a.summary.client_file_uuid.clone().unwrap();
        assert_eq!(patch.stream.attribute(), format!("clientFile#{uuid}"));
        assert_eq!(patch.value.status, "ACCEPTED");
        assert!(!patch.value.is_final);
        assert_eq!(patch.value.detail["recordId"], json!(a.summary.record_id));
        assert!(a.summary.record_id.is_some());
        assert_eq!(
            patch.value.detail["processedKey"],
            json!(format!(
                "processed/{uuid}/{}/report.json",
                &p.event.event_id[3..]
            ))
        );
        assert!(p.event.summary["analysis"]["summary"].is_object());
        // The sealed body opens to the descriptor, and names the object key.
        let opened = keys()
            .open(
                &EventRecord::body_aad(Provider::TrustSign, &p.event.event_id, Some(&subject)),
                &p.event.sealed_body,
            )
            .unwrap();
        assert_eq!(sha256_hex(&opened), p.event.body_sha256);
        assert!(String::from_utf8(opened).unwrap().contains("file one.zip"));

        let store = MemoryStore::default();
        assert_eq!(store.record(&p).await.unwrap(), Outcome::Applied);
        assert_eq!(store.record(&p).await.unwrap(), Outcome::Duplicate);
        let states = store.provider_states(&subject).await.unwrap();
        assert_eq!(
            states[&Provider::TrustSign]
                .stream(&patch.stream)
                .unwrap()
                .status,
            "ACCEPTED"
        );
    }

    #[tokio::test]
    async fn the_link_key_can_be_an_external_info_key() {
        let a = analysis(with_report(
            Kind::Rejected,
            json!({"clientFile": {"externalId": null, "externalInfo": {"crmId": 4711}}}),
        ))
        .await;
        let o = object("v1");
        let id = o.event_id(None).unwrap();
        let info = LinkKey::ExternalInfo("crmId".into());
        let p = plan_analysis(&keys(), &o, &id, &a, &info, "p", now());
        assert_eq!(p.event.subject.as_deref(), Some("4711"));
        assert_eq!(p.patch.unwrap().value.status, "REJECTED");
        let p = plan_analysis(&keys(), &o, &id, &a, &LinkKey::ExternalId, "p", now());
        assert_eq!(p.event.subject, None);
        assert!(p.patch.is_none());
        assert_eq!(
            p.no_patch_reason.as_deref(),
            Some("the report names no customer (externalId)")
        );
    }

    #[tokio::test]
    async fn object_keys_are_sealed_in_every_stored_summary_and_revealed_on_demand() {
        let a = analysis(archive_bytes(Kind::Full)).await;
        let o = ArchiveObject::new(
            "archives",
            "incoming/dossier jean_dupont.zip",
            Some("v1"),
            None,
        )
        .unwrap();
        let id = o.event_id(None).unwrap();
        let processed = processed_key("processed/", &a, &id);
        let p = plan_analysis(
            &keys(),
            &o,
            &id,
            &a,
            &LinkKey::ExternalId,
            &processed,
            now(),
        );
        let patch = p.patch.as_ref().unwrap();
        for stored in [p.event.summary.to_string(), patch.value.detail.to_string()] {
            assert!(!stored.contains("jean_dupont"), "{stored}");
        }
        // The object is still found again: bucket, version, and the key sealed.
        let archive = &patch.value.detail["archive"];
        assert_eq!(archive["versionId"], "v1");
        assert!(archive["sealedKey"].as_str().unwrap().starts_with("v2."));
        let mut detail = patch.value.detail.clone();
        assert_eq!(
            reveal_keys(
                &keys(),
                &p.event.event_id,
                p.event.subject.as_deref(),
                &mut detail
            ),
            Ok(1)
        );
        assert_eq!(detail["archive"]["key"], "incoming/dossier jean_dupont.zip");
        let mut summary = p.event.summary.clone();
        assert_eq!(
            reveal_keys(
                &keys(),
                &p.event.event_id,
                p.event.subject.as_deref(),
                &mut summary
            ),
            Ok(1)
        );
        assert_eq!(
            summary["detail"]["archive"]["key"],
            "incoming/dossier jean_dupont.zip"
        );
        // Bound to its event: another event id does not open it.
        let mut detail = patch.value.detail.clone();
        assert!(reveal_keys(&keys(), "s3:other", p.event.subject.as_deref(), &mut detail).is_err());
        // And to its customer: another customer's item does not open it.
        let mut detail = patch.value.detail.clone();
        assert!(reveal_keys(
            &keys(),
            &p.event.event_id,
            Some("someone-else"),
            &mut detail
        )
        .is_err());

        // A bad archive: the key and the quarantine key are sealed too.
        let err = analyze_archive(&MemorySource(b"not a zip".to_vec()), &Limits::default())
            .await
            .unwrap_err();
        let q = quarantine_key("quarantine/", "incoming/", &o.key, &naming());
        assert!(
            q.starts_with("quarantine/") && !q.contains("jean_dupont"),
            "{q}"
        );
        let p = plan_failure(&keys(), &o, &id, &err, &q, now());
        assert!(!p.event.summary.to_string().contains("jean_dupont"));
        let mut summary = p.event.summary.clone();
        assert_eq!(
            reveal_keys(&keys(), &p.event.event_id, None, &mut summary),
            Ok(2)
        );
        assert_eq!(summary["quarantineKey"], q.as_str());
        assert_eq!(
            summary["archive"]["key"],
            "incoming/dossier jean_dupont.zip"
        );
    }

    #[tokio::test]
    async fn a_report_with_thousands_of_failing_documents_stays_storable() {
        // 2,000 failed documents: the state lists 20 and counts the rest; the event keeps the
        // compact detail only (a DynamoDB item holds at most 400 KB).
        let docs: Vec<Value> = (0..2000)
            .map(|i| json!({"id": format!("d{i}"), "participantUuid": "p1", "validation": "VALIDATION_FAILURE",
                "controls": {"maxAgeExceeded": true}}))
            .collect();
        let report = json!({"date": "2024-06-18T08:00:00Z", "clientFile": {"uuid": "cf", "state": "PENDING",
            "externalId": "c", "participants": [{"uuid": "p1"}]}, "documents": docs});
        let mut zip = trust_sign_gen::zip_writer::ZipWriter::new(Vec::new(), false);
        zip.add(
            "report.json",
            report.to_string().as_bytes(),
            &trust_sign_gen::zip_writer::EntryOptions::default(),
        )
        .unwrap();
        let (bytes, _) = zip.finish().unwrap();
        let a = analysis(bytes).await;
        let p = plan(&a, "v1");
        let detail = &p.patch.as_ref().unwrap().value.detail;
        assert_eq!(
            detail["participants"][0]["checks"]
                .as_array()
                .unwrap()
                .len(),
            20
        );
        assert_eq!(detail["participants"][0]["moreFailingChecks"], 1980);
        assert_eq!(p.event.summary["analysisTruncated"], true);
        assert!(p.event.summary.get("analysis").is_none());
        assert!(p.event.summary.to_string().len() < 100 * 1024);
    }

    #[tokio::test]
    async fn a_numeric_external_id_still_links_the_customer() {
        let a = analysis(with_report(
            Kind::Full,
            json!({"clientFile": {"externalId": 4711, "id": 10002}}),
        ))
        .await;
        let p = plan(&a, "v1");
        assert_eq!(p.event.subject.as_deref(), Some("4711"));
        assert!(p.patch.is_some(), "{:?}", p.no_patch_reason);
        assert_eq!(p.event.summary["detail"]["typeMismatches"], json!(0));
    }

    #[tokio::test]
    async fn a_newer_report_supersedes_an_older_one_in_either_order() {
        let old = analysis(with_report(
            Kind::IdCard,
            json!({"date": "2024-06-17T08:00:00Z"}),
        ))
        .await;
        let new = analysis(with_report(
            Kind::Rejected,
            json!({"date": "2024-06-18T08:00:05Z"}),
        ))
        .await;
        for order in [[&new, &old], [&old, &new]] {
            let store = MemoryStore::default();
            let plans: Vec<_> = order
                .iter()
                .enumerate()
                .map(|(i, a)| plan(a, &format!("v{i}")))
                .collect();
            for p in &plans {
                store.record(p).await.unwrap();
            }
            let subject = plans[0].event.subject.clone().unwrap();
            let state = &store.provider_states(&subject).await.unwrap()[&Provider::TrustSign];
            let stream = &plans[0].patch.as_ref().unwrap().stream;
            assert_eq!(state.stream(stream).unwrap().status, "REJECTED");
        }
    }

    #[tokio::test]
    async fn a_bad_archive_is_recorded_unassigned_with_its_reason() {
        let err = analyze_archive(
            &MemorySource(archive_bytes(Kind::DotDotName)),
            &Limits::default(),
        )
        .await
        .unwrap_err();
        let o = object("v1");
        let id = o.event_id(None).unwrap();
        let q = quarantine_key("quarantine/", "incoming/", &o.key, &naming());
        // A keyed name (issue 21): the naming key's id, then HMAC-SHA256 of the key relative
        // to the archive prefix; not the unsalted digest a list of likely names reverses.
        assert_eq!(
            q,
            format!(
                "quarantine/{}.zip",
                naming().name(QUARANTINE_NAMING, "file one.zip")
            )
        );
        assert!(q.starts_with("quarantine/n1."), "{q}");
        assert!(
            !q.contains(&kyc_core::intake::sha256_hex(b"file one.zip")),
            "{q}"
        );
        let p = plan_failure(&keys(), &o, &id, &err, &q, now());
        assert_eq!(p.event.subject, None);
        assert!(p.patch.is_none());
        assert_eq!(p.event.summary["reasonCode"], "unsafe_entry_name");
        assert_eq!(
            p.no_patch_reason.as_deref(),
            Some("bad archive: unsafe_entry_name")
        );
        let text = p.event.summary.to_string();
        assert!(!text.contains("cron"), "{text}");
        let store = MemoryStore::default();
        assert!(matches!(
            store.record(&p).await.unwrap(),
            Outcome::Recorded { .. }
        ));
    }
}

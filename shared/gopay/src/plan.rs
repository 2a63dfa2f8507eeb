//! GoPay history events as durable-intake write plans: identification changes, consent
//! outcomes and PDF copies. Bodies are sealed (the status body holds personal data); summaries
//! carry states, reasons and ids only.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::identification::{ClientProfileId, IdentificationStatus, StatusChange};
use kyc_core::crypto::Keyring;
use kyc_core::intake::{sha256_hex, EventRecord, Provider, WritePlan};
use kyc_core::kyc_state::{StatePatch, Stream, StreamValue};

/// Stream of the identification state (`state` + `reasons` in its detail).
pub const IDENTIFICATION_STREAM: &str = "gopayIdentification";
/// Stream of the consent: granted, denied, lost (needs a new consent), revoked.
pub const CONSENT_STREAM: &str = "gopayConsent";
/// Stream of the binding of consents to their customer: `MISMATCH` once a consent this
/// customer started was completed by another customer (a fraud signal for the KYC decision).
pub const BINDING_STREAM: &str = "gopayConsentBinding";
/// Stream of the latest identification PDF copied to S3.
pub const PDF_STREAM: &str = "gopayPdf";

fn stream(name: &str) -> Stream {
    Stream::named(name).expect("constant stream names are valid")
}

/// The write plan of a GoPay event: its id is the patch's; no provider time (a caller that
/// has one sets it).
fn plan(
    keys: &Keyring,
    customer_id: &str,
    event_type: &str,
    body: &[u8],
    summary: Value,
    patch: StatePatch,
    now: DateTime<Utc>,
) -> WritePlan {
    let event_id = patch.value.event_id.clone();
    WritePlan {
        event: EventRecord {
            provider: Provider::Gopay,
            event_type: event_type.to_string(),
            subject: Some(customer_id.to_string()),
            received_at: now,
            provider_time: None,
            body_sha256: sha256_hex(body),
            sealed_body: keys.seal(
                &EventRecord::body_aad(Provider::Gopay, &event_id, Some(customer_id)),
                body,
            ),
            summary,
            event_id,
        },
        patch: Some(patch),
        no_patch_reason: None,
    }
}

/// A poll whose state or reasons differ from the last recorded ones. Non-final on purpose:
/// GoPay keeps monitoring, so even IDENTIFIED can later expire; the newest observation wins.
pub fn identification_plan(
    keys: &Keyring,
    customer_id: &str,
    status: &IdentificationStatus,
    raw_body: &[u8],
    change: &StatusChange,
    event_id: String,
    now: DateTime<Utc>,
) -> WritePlan {
    let snapshot = status.snapshot();
    let mut value = StreamValue::new(status.state.as_str(), 0, false, now, &event_id);
    value.detail = json!({
        "reasons": snapshot.reasons,
        "clientProfileId": status.client_profile_id,
    });
    let summary = json!({
        "clientProfileId": status.client_profile_id,
        "state": status.state,
        "reasons": snapshot.reasons,
        "change": change,
        "subjectType": status.subject_type,
        "evidence": status.evidence(),
    });
    let mut written = plan(
        keys,
        customer_id,
        "identification-status",
        raw_body,
        summary,
        StatePatch {
            stream: stream(IDENTIFICATION_STREAM),
            value,
        },
        now,
    );
    written.event.provider_time = status.date_last_change.as_ref().map(|d| d.utc());
    written
}

/// What happened to a consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentEvent {
    Granted {
        profile: ClientProfileId,
    },
    /// GoPay redirected back with `error=` (`access_denied`, `invalid_scope`, ...).
    Denied {
        error: String,
    },
    /// The code exchange failed (the customer must start again).
    ExchangeFailed {
        http_status: Option<u16>,
    },
    /// GoPay refused the refresh token: a new consent is needed.
    Lost {
        profile: ClientProfileId,
    },
    Revoked {
        profile: ClientProfileId,
    },
    /// GoPay answered 404 for the profile several times: out of service.
    UnknownAtGoPay {
        profile: ClientProfileId,
    },
    /// An operator put a wrongly condemned profile back in service (`kyc gopay reactivate`).
    Reactivated {
        profile: ClientProfileId,
    },
}

impl ConsentEvent {
    fn status(&self) -> &'static str {
        match self {
            ConsentEvent::Granted { .. } => "GRANTED",
            ConsentEvent::Denied { .. } => "DENIED",
            ConsentEvent::ExchangeFailed { .. } => "EXCHANGE_FAILED",
            ConsentEvent::Lost { .. } => "NEEDS_CONSENT",
            ConsentEvent::Revoked { .. } => "REVOKED",
            ConsentEvent::UnknownAtGoPay { .. } => "PROFILE_UNKNOWN",
            ConsentEvent::Reactivated { .. } => "GRANTED",
        }
    }
    fn detail(&self) -> Value {
        match self {
            ConsentEvent::Granted { profile }
            | ConsentEvent::Lost { profile }
            | ConsentEvent::Revoked { profile }
            | ConsentEvent::UnknownAtGoPay { profile }
            | ConsentEvent::Reactivated { profile } => json!({ "clientProfileId": profile }),
            ConsentEvent::Denied { error } => json!({ "error": error }),
            ConsentEvent::ExchangeFailed { http_status } => json!({ "httpStatus": http_status }),
        }
    }
}

/// A consent event. `event_id` must be stable for the occurrence (see callers).
pub fn consent_plan(
    keys: &Keyring,
    customer_id: &str,
    event: &ConsentEvent,
    event_id: String,
    now: DateTime<Utc>,
) -> WritePlan {
    let detail = event.detail();
    let mut value = StreamValue::new(event.status(), 0, false, now, &event_id);
    value.detail = detail.clone();
    let body = serde_json::to_vec(&json!({ "consent": event.status(), "detail": detail }))
        .expect("JSON serializes");
    plan(
        keys,
        customer_id,
        "consent",
        &body,
        json!({ "consent": event.status(), "detail": detail }),
        StatePatch {
            stream: stream(CONSENT_STREAM),
            value,
        },
        now,
    )
}

/// An identification PDF copied to S3 under `key`.
pub fn pdf_plan(
    keys: &Keyring,
    customer_id: &str,
    profile: &ClientProfileId,
    key: &str,
    pdf_sha256: &str,
    event_id: String,
    now: DateTime<Utc>,
) -> WritePlan {
    let detail = json!({ "clientProfileId": profile, "s3Key": key, "sha256": pdf_sha256 });
    let mut value = StreamValue::new("COPIED", 0, false, now, &event_id);
    value.detail = detail.clone();
    let body = serde_json::to_vec(&detail).expect("JSON serializes");
    plan(
        keys,
        customer_id,
        "identification-pdf",
        &body,
        detail,
        StatePatch {
            stream: stream(PDF_STREAM),
            value,
        },
        now,
    )
}

/// A short stable id part from any text (event ids stay under 128 characters).
pub fn id_part(text: &str) -> String {
    sha256_hex(text.as_bytes())[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_core::crypto::PayloadKey;

    fn keys() -> Keyring {
        Keyring::new(PayloadKey::new("k", [7u8; 32]).unwrap(), vec![])
    }

    #[test]
    fn a_status_change_seals_the_body_and_summarises_without_personal_data() {
        let body = br#"{"clientProfileId":"42","state":"IDENTIFIED","reasons":[],
            "subjectData":{"firstName":"Jana","birthNumber":"905512/1234"}}"#;
        let status = IdentificationStatus::parse(body).unwrap();
        let change = super::super::identification::status_change(None, &status.snapshot()).unwrap();
        let now = Utc::now();
        let p = identification_plan(
            &keys(),
            "c1",
            &status,
            body,
            &change,
            status.event_id(None),
            now,
        );
        let text = serde_json::to_string(&p.event.summary).unwrap();
        assert!(!text.contains("Jana") && !text.contains("905512"));
        assert!(!p.event.sealed_body.contains("Jana"));
        let opened = keys()
            .open(
                &EventRecord::body_aad(Provider::Gopay, &p.event.event_id, Some("c1")),
                &p.event.sealed_body,
            )
            .unwrap();
        assert_eq!(opened, body.to_vec());
        let patch = p.patch.unwrap();
        assert_eq!(patch.stream.attribute(), IDENTIFICATION_STREAM);
        assert_eq!(patch.value.status, "IDENTIFIED");
        assert!(!patch.value.is_final);
    }

    #[test]
    fn consent_events_name_their_status() {
        let p = consent_plan(
            &keys(),
            "c1",
            &ConsentEvent::Denied {
                error: "access_denied".into(),
            },
            "gopay-consent-x".into(),
            Utc::now(),
        );
        assert_eq!(p.patch.unwrap().value.status, "DENIED");
        assert_eq!(p.event.summary["detail"]["error"], "access_denied");
    }
}

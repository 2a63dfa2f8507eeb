//! GoPay history events as durable-intake write plans: identification changes, consent
//! outcomes and PDF copies. Bodies are sealed (the status body holds personal data); summaries
//! carry states, reasons and ids only.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::identification::{ClientProfileId, IdentificationStatus, StatusChange};
use super::identity_match::IdentityMatch;
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
        erasure_guard: None,
    }
    .guarded(keys)
}

/// The `gopayIdentification` status of an identified person who is not the identity the
/// customer declared: never read downstream as plainly identified (GoPay's own state is kept
/// in the detail as `gopayState`).
pub const IDENTITY_MISMATCH: &str = "IDENTITY_MISMATCH";

/// A poll whose state, reasons or identity match differ from the last recorded ones.
/// Non-final on purpose: GoPay keeps monitoring, so even IDENTIFIED can later expire; the
/// newest observation wins. `identity`: the declared identity compared with the identified
/// person (field names and results only).
#[allow(clippy::too_many_arguments)]
pub fn identification_plan(
    keys: &Keyring,
    customer_id: &str,
    status: &IdentificationStatus,
    raw_body: &[u8],
    change: &StatusChange,
    identity: Option<&IdentityMatch>,
    event_id: String,
    now: DateTime<Utc>,
) -> WritePlan {
    let snapshot = status.snapshot();
    let mismatch = identity.is_some_and(IdentityMatch::is_mismatch);
    let shown = if mismatch {
        IDENTITY_MISMATCH
    } else {
        status.state.as_str()
    };
    let mut value = StreamValue::new(shown, 0, false, now, &event_id);
    value.detail = json!({
        "reasons": snapshot.reasons,
        "clientProfileId": status.client_profile_id,
    });
    if let Some(m) = identity {
        value.detail["identityMatch"] = m.summary();
    }
    if mismatch {
        value.detail["gopayState"] = json!(status.state);
    }
    let mut summary = json!({
        "clientProfileId": status.client_profile_id,
        "state": status.state,
        "reasons": snapshot.reasons,
        "change": change,
        "subjectType": status.subject_type,
        "evidence": status.evidence(),
    });
    if let Some(m) = identity {
        summary["identityMatch"] = m.summary();
    }
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
    /// The customer consented; we hold the profile's tokens.
    Granted {
        /// The profile.
        profile: ClientProfileId,
    },
    /// GoPay redirected back with `error=` (`access_denied`, `invalid_scope`, ...).
    Denied {
        /// GoPay's `error`.
        error: String,
    },
    /// The code exchange failed (the customer must start again).
    ExchangeFailed {
        /// The status of GoPay's answer (`None`: no answer).
        http_status: Option<u16>,
    },
    /// GoPay refused the refresh token: a new consent is needed. `evidence`: what condemned
    /// it (an answer about the token, or the runs that saw a bare 403).
    Lost {
        /// The profile.
        profile: ClientProfileId,
        /// What condemned the token.
        evidence: Value,
    },
    /// The consent was completed in another customer's session: refused, nothing stored. On
    /// the customer who started it (stream [`BINDING_STREAM`]), a fraud signal.
    BindingMismatch {
        /// The customer whose session completed it (a pseudonymous id, as in our logs).
        completing_customer: String,
    },
    /// The GoPay profile the code gave is already linked to another customer: not stored.
    LinkedElsewhere {
        /// The profile.
        profile: ClientProfileId,
    },
    /// An operator revoked the consent (`kyc gopay revoke`).
    Revoked {
        /// The profile.
        profile: ClientProfileId,
    },
    /// GoPay answered 404 for the profile several times: out of service.
    UnknownAtGoPay {
        /// The profile.
        profile: ClientProfileId,
    },
    /// An operator put a wrongly condemned profile back in service (`kyc gopay reactivate`).
    Reactivated {
        /// The profile.
        profile: ClientProfileId,
    },
}

/// Every status of the consent and binding streams (the KYC decision's mapping table has a
/// row for each).
pub const CONSENT_STATUSES: &[&str] = &[
    "GRANTED",
    "DENIED",
    "EXCHANGE_FAILED",
    "NEEDS_CONSENT",
    "REVOKED",
    "PROFILE_UNKNOWN",
    "PROFILE_LINKED_ELSEWHERE",
];
/// Every status of the binding stream.
pub const BINDING_STATUSES: &[&str] = &["MISMATCH"];
/// The status of the PDF stream (not decisive).
pub const PDF_STATUS: &str = "COPIED";

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
            ConsentEvent::BindingMismatch { .. } => "MISMATCH",
            ConsentEvent::LinkedElsewhere { .. } => "PROFILE_LINKED_ELSEWHERE",
        }
    }
    fn detail(&self) -> Value {
        match self {
            ConsentEvent::Granted { profile }
            | ConsentEvent::Revoked { profile }
            | ConsentEvent::UnknownAtGoPay { profile }
            | ConsentEvent::LinkedElsewhere { profile }
            | ConsentEvent::Reactivated { profile } => json!({ "clientProfileId": profile }),
            ConsentEvent::Lost { profile, evidence } => {
                json!({ "clientProfileId": profile, "evidence": evidence })
            }
            ConsentEvent::Denied { error } => json!({ "error": error }),
            ConsentEvent::ExchangeFailed { http_status } => json!({ "httpStatus": http_status }),
            ConsentEvent::BindingMismatch {
                completing_customer,
            } => json!({ "completingCustomerId": completing_customer }),
        }
    }
    fn event_type(&self) -> &'static str {
        match self {
            ConsentEvent::BindingMismatch { .. } => "consentBindingMismatch",
            _ => "consent",
        }
    }
    fn stream(&self) -> &'static str {
        match self {
            ConsentEvent::BindingMismatch { .. } => BINDING_STREAM,
            _ => CONSENT_STREAM,
        }
    }
    /// An attempt that did not give us a consent (refused at GoPay, failed exchange, profile
    /// linked elsewhere): it must never replace a working consent.
    pub fn is_failed_attempt(&self) -> bool {
        matches!(
            self,
            ConsentEvent::Denied { .. }
                | ConsentEvent::ExchangeFailed { .. }
                | ConsentEvent::LinkedElsewhere { .. }
        )
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
        event.event_type(),
        &body,
        json!({ "consent": event.status(), "detail": detail }),
        StatePatch {
            stream: stream(event.stream()),
            value,
        },
        now,
    )
}

/// A failed attempt ([`ConsentEvent::is_failed_attempt`]) as its own history event. It sets
/// the consent stream only when `consent_stands` is false (the customer has no consent to
/// keep); otherwise the stream, e.g. `GRANTED`, is left as it is.
pub fn failed_attempt_plan(
    keys: &Keyring,
    customer_id: &str,
    event: &ConsentEvent,
    event_id: String,
    now: DateTime<Utc>,
    consent_stands: bool,
) -> WritePlan {
    let mut p = consent_plan(keys, customer_id, event, event_id, now);
    if consent_stands {
        p.patch = None;
        p.no_patch_reason = Some("failed attempt; the customer's consent stands".into());
    }
    p
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
    let mut value = StreamValue::new(PDF_STATUS, 0, false, now, &event_id);
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
    fn every_consent_status_is_listed_for_the_decision() {
        let p = || ClientProfileId::new("42").unwrap();
        let all = [
            ConsentEvent::Granted { profile: p() },
            ConsentEvent::Denied {
                error: "access_denied".into(),
            },
            ConsentEvent::ExchangeFailed { http_status: None },
            ConsentEvent::Lost {
                profile: p(),
                evidence: Value::Null,
            },
            ConsentEvent::BindingMismatch {
                completing_customer: "c2".into(),
            },
            ConsentEvent::LinkedElsewhere { profile: p() },
            ConsentEvent::Revoked { profile: p() },
            ConsentEvent::UnknownAtGoPay { profile: p() },
            ConsentEvent::Reactivated { profile: p() },
        ];
        for e in &all {
            let listed = match e.stream() {
                CONSENT_STREAM => CONSENT_STATUSES,
                _ => BINDING_STATUSES,
            };
            assert!(listed.contains(&e.status()), "{e:?}");
        }
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
            None,
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

//! `GET /api/client-profile/{clientProfileId}/identification-status`: the response, parsed
//! leniently, its redacted normalized view, and the rule that makes a poll a history event.
//!
//! Leniency: `clientProfileId` as a number or a string; `state`, `reasons` and `subjectType`
//! matched case-insensitively with unknown values kept verbatim; `reasons` null, absent or a
//! lone string; dates in any layout [`GoPayDateTime`] accepts, and an unreadable date kept as a
//! warning instead of failing the whole response; unknown fields ignored. Only a missing
//! `clientProfileId` or `state` is fatal: without them there is nothing to record.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::error::GoPayError;
use super::identity_match::IdentityMatch;
use super::time::{GoPayDateTime, ZoneSource, ASSUMED_ZONE};
use super::PROVIDER;
use kyc_core::redact::Personal;

const CONTEXT: &str = "identification-status";

/// GoPay's identifier of a client profile. A number in GoPay's JSON, a path segment in its
/// URLs; held as validated text (ASCII letters, digits, `-`, `_`; at most 64 characters) so it
/// can be put into a URL path safely.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientProfileId(String);

impl ClientProfileId {
    /// A profile id from text, checked (see the type).
    pub fn new(value: impl Into<String>) -> Result<Self, GoPayError> {
        let value = value.into();
        let value = value.trim().to_string();
        if value.is_empty() {
            return Err(GoPayError::MissingField {
                context: "clientProfileId",
                field: "clientProfileId",
            });
        }
        if value.len() > 64
            || !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(GoPayError::InvalidField {
                context: "clientProfileId",
                field: "clientProfileId",
                reason: "not a 1-64 character identifier of letters, digits, - or _",
            });
        }
        Ok(Self(value))
    }

    /// Reads the JSON value GoPay sends (integer, or string leniently).
    pub fn from_json(context: &'static str, value: Option<&Value>) -> Result<Self, GoPayError> {
        match value {
            None | Some(Value::Null) => Err(GoPayError::MissingField {
                context,
                field: "clientProfileId",
            }),
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Self::new(n.to_string()),
            Some(Value::String(s)) => Self::new(s.clone()).map_err(|e| match e {
                GoPayError::MissingField { .. } => GoPayError::MissingField {
                    context,
                    field: "clientProfileId",
                },
                _ => GoPayError::InvalidField {
                    context,
                    field: "clientProfileId",
                    reason: "not an identifier",
                },
            }),
            Some(_) => Err(GoPayError::InvalidField {
                context,
                field: "clientProfileId",
                reason: "neither an integer nor a string",
            }),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientProfileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ClientProfileId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClientProfileId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        ClientProfileId::from_json("clientProfileId", Some(&v)).map_err(serde::de::Error::custom)
    }
}

/// Defines a string enum whose unknown values are kept verbatim.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $(#[doc = concat!("`", $text, "`.")] $variant,)+
            /// A value the reference does not list, kept as sent (trimmed).
            Unknown(String),
        }

        impl $name {
            /// Matches case-insensitively, ignoring surrounding spaces.
            pub fn parse(text: &str) -> Self {
                let trimmed = text.trim();
                $(if trimmed.eq_ignore_ascii_case($text) {
                    return $name::$variant;
                })+
                $name::Unknown(trimmed.to_string())
            }
            /// GoPay's spelling (unknown values as received).
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Unknown(s) => s,
                }
            }
            /// True for a value the reference lists.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
            /// Every documented value.
            pub const DOCUMENTED: &'static [&'static str] = &[$($text),+];
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}

open_enum!(
    /// `state`: where the identification of the client profile stands.
    IdentificationState {
        Pending => "PENDING",
        Identified => "IDENTIFIED",
        PartiallyIdentified => "PARTIALLY_IDENTIFIED",
        NotIdentified => "NOT_IDENTIFIED",
    }
);

open_enum!(
    /// `reasons[]`: why the identification is not done or still running.
    Reason {
        ExpiredIdentification => "EXPIRED_IDENTIFICATION",
        ExpiredIdentDocument => "EXPIRED_IDENT_DOCUMENT",
        WaitingIdentDocument => "WAITING_IDENT_DOCUMENT",
        WaitingAdditionalDocument => "WAITING_ADDITIONAL_DOCUMENT",
        WaitingAddress => "WAITING_ADDRESS",
        WaitingBankAccount => "WAITING_BANK_ACCOUNT",
        DeniedFraud => "DENIED_FRAUD",
        DeniedFacematch => "DENIED_FACEMATCH",
        DeniedBadQualityDocument => "DENIED_BAD_QUALITY_DOCUMENT",
    }
);

open_enum!(
    /// `subjectType`: natural or legal person.
    SubjectType {
        Person => "PERSON",
        Company => "COMPANY",
    }
);

impl Reason {
    /// `WAITING_*`: GoPay is waiting for something from the customer.
    pub fn is_waiting(&self) -> bool {
        matches!(
            self,
            Reason::WaitingIdentDocument
                | Reason::WaitingAdditionalDocument
                | Reason::WaitingAddress
                | Reason::WaitingBankAccount
        )
    }
}

/// A non-fatal oddity met while parsing (never holds a value from the payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParseWarning {
    /// The field concerned.
    pub field: &'static str,
    /// What was odd about it.
    pub problem: &'static str,
}

/// One identification-status response.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentificationStatus {
    /// The profile.
    pub client_profile_id: ClientProfileId,
    /// The identification's state.
    pub state: IdentificationState,
    /// In the order sent, duplicates removed.
    pub reasons: Vec<Reason>,
    /// When the identification started.
    pub date_started: Option<GoPayDateTime>,
    /// When it last changed.
    pub date_last_change: Option<GoPayDateTime>,
    /// A person or a company.
    pub subject_type: Option<SubjectType>,
    /// Names, birth date and number, sex, nationality: personal data, opaque here.
    pub subject_data: Option<Personal<Value>>,
    /// Everything the identification gathered (persons, documents, accounts, addresses).
    pub identification_data: Option<Personal<Value>>,
    /// Oddities met while parsing.
    pub warnings: Vec<ParseWarning>,
}

/// The part of a status that decides history: its state, its set of reasons and, once a
/// declared identity was compared with the identified person, the outcome. Storable
/// (serializes as strings) so the sync can compare a poll with what it recorded last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    /// The identification's state.
    pub state: IdentificationState,
    /// Sorted and de-duplicated, so equality is set equality.
    pub reasons: Vec<Reason>,
    /// Field names and results only (no values). `None`: nothing was compared (no declared
    /// identity, or not identified), as in snapshots stored before the identity match existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityMatch>,
}

impl StatusSnapshot {
    /// A snapshot of `state` and `reasons` (sorted, duplicates removed), without identity match.
    pub fn new(state: IdentificationState, reasons: impl IntoIterator<Item = Reason>) -> Self {
        let set: BTreeSet<Reason> = reasons.into_iter().collect();
        Self {
            state,
            reasons: set.into_iter().collect(),
            identity: None,
        }
    }

    /// The same snapshot with the identity match's outcome.
    pub fn with_identity(mut self, identity: Option<IdentityMatch>) -> Self {
        self.identity = identity;
        self
    }
}

/// What changed between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    /// `None` for the first observation of the profile.
    pub from_state: Option<IdentificationState>,
    /// The state after.
    pub to_state: IdentificationState,
    /// Reasons that appeared.
    pub added_reasons: Vec<Reason>,
    /// Reasons that went.
    pub removed_reasons: Vec<Reason>,
}

impl StatusChange {
    /// True when the state changed (or was first seen).
    pub fn state_changed(&self) -> bool {
        self.from_state.as_ref() != Some(&self.to_state)
    }
}

/// Whether two statuses differ in state, in their set of reasons or in the identity match's
/// outcome (order and duplicates do not count; dates and personal data do not count).
pub fn differs(a: &StatusSnapshot, b: &StatusSnapshot) -> bool {
    a.state != b.state || a.reasons != b.reasons || a.identity != b.identity
}

/// The history event a poll makes, if any: always for the first observation, then only when
/// the state or the reasons differ from the previous snapshot.
pub fn status_change(
    previous: Option<&StatusSnapshot>,
    current: &StatusSnapshot,
) -> Option<StatusChange> {
    match previous {
        Some(prev) if !differs(prev, current) => None,
        _ => {
            let before: BTreeSet<&Reason> = previous
                .map(|p| p.reasons.iter().collect())
                .unwrap_or_default();
            let after: BTreeSet<&Reason> = current.reasons.iter().collect();
            Some(StatusChange {
                from_state: previous.map(|p| p.state.clone()),
                to_state: current.state.clone(),
                added_reasons: after.difference(&before).map(|r| (*r).clone()).collect(),
                removed_reasons: before.difference(&after).map(|r| (*r).clone()).collect(),
            })
        }
    }
}

impl IdentificationStatus {
    /// Parses a response body leniently (see the module documentation).
    pub fn parse(body: &[u8]) -> Result<Self, GoPayError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| GoPayError::json(CONTEXT, &e))?;
        Self::from_value(&value)
    }

    /// Reads a parsed JSON value (see [`IdentificationStatus::parse`]).
    pub fn from_value(value: &Value) -> Result<Self, GoPayError> {
        let obj = value
            .as_object()
            .ok_or(GoPayError::NotAnObject { context: CONTEXT })?;
        let mut warnings = Vec::new();
        let client_profile_id = ClientProfileId::from_json(CONTEXT, obj.get("clientProfileId"))?;
        let state = match obj.get("state") {
            Some(Value::String(s)) if !s.trim().is_empty() => IdentificationState::parse(s),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(GoPayError::MissingField {
                    context: CONTEXT,
                    field: "state",
                })
            }
            Some(_) => {
                return Err(GoPayError::InvalidField {
                    context: CONTEXT,
                    field: "state",
                    reason: "not a string",
                })
            }
        };
        if !state.is_known() {
            warnings.push(ParseWarning {
                field: "state",
                problem: "value not in the reference, kept as sent",
            });
        }
        let reasons = parse_reasons(obj.get("reasons"), &mut warnings);
        let date_started = parse_date(obj, "dateStarted", &mut warnings);
        let date_last_change = parse_date(obj, "dateLastChange", &mut warnings);
        let subject_type = match obj.get("subjectType") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => {
                let t = SubjectType::parse(s);
                if !t.is_known() {
                    warnings.push(ParseWarning {
                        field: "subjectType",
                        problem: "value not in the reference, kept as sent",
                    });
                }
                Some(t)
            }
            Some(_) => {
                warnings.push(ParseWarning {
                    field: "subjectType",
                    problem: "not a string, ignored",
                });
                None
            }
        };
        let personal = |key: &str| match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(Personal::new(v.clone())),
        };
        Ok(Self {
            client_profile_id,
            state,
            reasons,
            date_started,
            date_last_change,
            subject_type,
            subject_data: personal("subjectData"),
            identification_data: personal("identificationData"),
            warnings,
        })
    }

    /// Fails unless the response is about the profile that was asked for.
    pub fn ensure_profile(&self, expected: &ClientProfileId) -> Result<(), GoPayError> {
        if &self.client_profile_id == expected {
            Ok(())
        } else {
            Err(GoPayError::ProfileMismatch {
                expected: expected.to_string(),
                actual: self.client_profile_id.to_string(),
            })
        }
    }

    /// Whether this status differs from another in state or reasons (see [`differs`]).
    pub fn differs_from(&self, other: &IdentificationStatus) -> bool {
        differs(&self.snapshot(), &other.snapshot())
    }

    /// The status's state and reasons, as a snapshot.
    pub fn snapshot(&self) -> StatusSnapshot {
        StatusSnapshot::new(self.state.clone(), self.reasons.iter().cloned())
    }

    /// Whether GoPay is still working on the identification: `PENDING`, any `WAITING_*`
    /// reason, or a state we do not know (polled as if in progress, to be safe).
    pub fn in_progress(&self) -> bool {
        snapshot_in_progress(&self.snapshot())
    }

    /// A stable id for the history event this status makes after `previous`: the same
    /// observation recorded by two overlapping runs gets the same id, so the durable intake
    /// keeps it once. It covers the profile, the previous and current snapshots and the raw
    /// `dateLastChange`.
    pub fn event_id(&self, previous: Option<&StatusSnapshot>) -> String {
        self.event_id_for(previous, &self.snapshot())
    }

    /// [`Self::event_id`] for `current`, this status's snapshot with its identity match's
    /// outcome (which counts only when there is one, so ids made before it are unchanged).
    pub fn event_id_for(
        &self,
        previous: Option<&StatusSnapshot>,
        current: &StatusSnapshot,
    ) -> String {
        let mut h = Sha256::new();
        let mut part = |s: &str| {
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        };
        part(PROVIDER);
        part(self.client_profile_id.as_str());
        match previous {
            Some(p) => {
                part(p.state.as_str());
                part(&p.reasons.len().to_string());
                p.reasons.iter().for_each(|r| part(r.as_str()));
                if let Some(m) = &p.identity {
                    part(&identity_part(m));
                }
            }
            None => part("\u{0}none"),
        }
        part(current.state.as_str());
        part(&current.reasons.len().to_string());
        current.reasons.iter().for_each(|r| part(r.as_str()));
        if let Some(m) = &current.identity {
            part(&identity_part(m));
        }
        part(
            self.date_last_change
                .as_ref()
                .map(|d| d.raw())
                .unwrap_or(""),
        );
        format!("gopay-status-{}", hex::encode(h.finalize()))
    }

    /// The identification's enumerated evidence, personal data left out.
    pub fn evidence(&self) -> IdentificationEvidence {
        evidence(
            self.identification_data.as_ref().map(|d| d.expose()),
            self.subject_data.as_ref().map(|d| d.expose()),
        )
    }

    /// The normalized view printed by `kyc inspect gopay FILE`: GoPay's values canonicalised,
    /// dates in UTC beside the text as sent, personal data replaced by the redaction marker and
    /// summarised only by its enumerated fields (document types and verification states).
    pub fn normalized_view(&self) -> Value {
        let date = |d: &Option<GoPayDateTime>| match d {
            None => (Value::Null, Value::Null),
            Some(d) => (
                Value::String(d.utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                Value::String(d.raw().to_string()),
            ),
        };
        let (started, started_raw) = date(&self.date_started);
        let (changed, changed_raw) = date(&self.date_last_change);
        let zone_note = [&self.date_started, &self.date_last_change]
            .iter()
            .filter_map(|d| d.as_ref())
            .map(|d| match d.zone_source() {
                ZoneSource::Explicit => "explicit offset",
                ZoneSource::AssumedPrague => ASSUMED_ZONE,
                ZoneSource::AssumedPragueAmbiguous => {
                    "Europe/Prague (ambiguous hour: earlier instant)"
                }
                ZoneSource::AssumedPragueGap => {
                    "Europe/Prague (non-existent hour: read as winter time)"
                }
            })
            .next()
            .unwrap_or(ASSUMED_ZONE);
        let snapshot = self.snapshot();
        json!({
            "provider": PROVIDER,
            "clientProfileId": self.client_profile_id,
            "state": self.state,
            "stateKnown": self.state.is_known(),
            "reasons": snapshot.reasons,
            "unknownReasons": snapshot.reasons.iter().filter(|r| !r.is_known()).collect::<Vec<_>>(),
            "inProgress": self.in_progress(),
            "dateStarted": started,
            "dateStartedAsSent": started_raw,
            "dateLastChange": changed,
            "dateLastChangeAsSent": changed_raw,
            "timeZone": zone_note,
            "subjectType": self.subject_type,
            "subjectData": self.subject_data,
            "identificationData": self.identification_data,
            "identificationSummary": self.identification_data.as_ref().map(|_| self.evidence()),
            "warnings": self.warnings,
        })
    }
}

/// An identity match's outcome as an event-id part.
fn identity_part(m: &IdentityMatch) -> String {
    let fields: Vec<String> = m
        .fields()
        .iter()
        .map(|(name, r)| format!("{name}={}", r.as_str()))
        .collect();
    format!("\u{0}identity:{}:{}", m.result.as_str(), fields.join(","))
}

/// `PENDING`, a `WAITING_*` reason, or an unknown state.
pub fn snapshot_in_progress(s: &StatusSnapshot) -> bool {
    matches!(
        s.state,
        IdentificationState::Pending | IdentificationState::Unknown(_)
    ) || s.reasons.iter().any(Reason::is_waiting)
}

fn parse_reasons(value: Option<&Value>, warnings: &mut Vec<ParseWarning>) -> Vec<Reason> {
    let mut out: Vec<Reason> = Vec::new();
    let mut push = |r: Reason, warnings: &mut Vec<ParseWarning>| {
        if !r.is_known() {
            warnings.push(ParseWarning {
                field: "reasons",
                problem: "value not in the reference, kept as sent",
            });
        }
        if !out.contains(&r) {
            out.push(r);
        }
    };
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.trim().is_empty() => {}
        Some(Value::String(s)) => push(Reason::parse(s), warnings),
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::String(s) if !s.trim().is_empty() => push(Reason::parse(s), warnings),
                    _ => warnings.push(ParseWarning {
                        field: "reasons",
                        problem: "entry not a non-empty string, skipped",
                    }),
                }
            }
        }
        Some(_) => warnings.push(ParseWarning {
            field: "reasons",
            problem: "neither an array nor a string, ignored",
        }),
    }
    out
}

fn parse_date(
    obj: &Map<String, Value>,
    field: &'static str,
    warnings: &mut Vec<ParseWarning>,
) -> Option<GoPayDateTime> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => match GoPayDateTime::parse(s) {
            Ok(d) => Some(d),
            Err(_) => {
                warnings.push(ParseWarning {
                    field,
                    problem: "unreadable date, ignored",
                });
                None
            }
        },
        Some(_) => {
            warnings.push(ParseWarning {
                field,
                problem: "not a string, ignored",
            });
            None
        }
    }
}

/// Keeps only values that look like enumeration tokens (`VERIFIED`, `ID_CARD`), so no free
/// text or identifier from the personal data can slip into the summary.
fn token(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= 40
                && s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit()) =>
        {
            Value::String(s.clone())
        }
        Some(Value::Bool(b)) => Value::Bool(*b),
        None | Some(Value::Null) => Value::Null,
        Some(_) => Value::String("[REDACTED personal data]".into()),
    }
}

open_enum!(
    /// `documentType`: the kind of an uploaded document.
    DocumentType {
        IdCard => "ID_CARD",
        DrivingLicense => "DRIVING_LICENSE",
        Passport => "PASSPORT",
        Visa => "VISA",
        Unsupported => "UNSUPPORTED",
        UtilityBill => "UTILITY_BILL",
        BankStatement => "BANK_STATEMENT",
    }
);

open_enum!(
    /// `source`: how an image was provided.
    ImageSource {
        Upload => "UPLOAD",
        Webcam => "WEBCAM",
        Mobile => "MOBILE",
    }
);

open_enum!(
    /// The state of an identity document.
    DocumentState {
        Verified => "VERIFIED",
        Expired => "EXPIRED",
    }
);

open_enum!(
    /// The verification state of a bank account or an address.
    VerificationState {
        Verified => "VERIFIED",
    }
);

/// What the summary keeps of an enumerated field: the documented value, an unknown value only
/// if it looks like an enumeration token, otherwise the redaction marker (free text may be
/// personal data).
fn enum_field<T>(v: Option<&Value>, parse: fn(&str) -> T) -> Option<T>
where
    T: From<RedactedMarker>,
{
    match token(v) {
        Value::String(s) if s == REDACTED_MARKER => Some(T::from(RedactedMarker)),
        Value::String(s) => Some(parse(&s)),
        _ => None,
    }
}

const REDACTED_MARKER: &str = "[REDACTED personal data]";

/// A value that was not an enumeration token.
pub struct RedactedMarker;

macro_rules! redacted_unknown {
    ($($t:ident),+) => {$(
        impl From<RedactedMarker> for $t {
            fn from(_: RedactedMarker) -> Self {
                $t::Unknown(REDACTED_MARKER.to_string())
            }
        }
    )+};
}
redacted_unknown!(DocumentType, ImageSource, DocumentState, VerificationState);

/// One document's enumerated fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentEvidence {
    /// The document's type.
    pub document_type: Option<DocumentType>,
    /// The document's state.
    pub state: Option<DocumentState>,
    /// Where its image came from.
    pub source: Option<ImageSource>,
}

/// A verification (bank account, address): its state only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// The verification's state.
    pub state: Option<VerificationState>,
}

/// One identified person's evidence, enumerations only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonEvidence {
    /// Whether the face matched the document.
    pub face_match_verified: Option<bool>,
    /// Where the face image came from.
    pub face_match_source: Option<ImageSource>,
    /// Identity documents.
    pub ident_documents: Vec<DocumentEvidence>,
    /// Bank account verifications.
    pub bank_accounts: Vec<Verification>,
    /// Address verifications.
    pub addresses: Vec<Verification>,
    /// Other documents.
    pub additional_documents: Vec<DocumentEvidence>,
}

/// `identificationData` reduced to the enumerations the reference lists (document types,
/// sources, document and verification states, face match): no names, numbers, addresses,
/// IPs or dates. Safe for event summaries and logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentificationEvidence {
    /// Each identified person.
    pub persons: Vec<PersonEvidence>,
    /// Bank account verifications.
    pub bank_accounts: Vec<Verification>,
    /// Address verifications.
    pub addresses: Vec<Verification>,
    /// Other documents.
    pub additional_documents: Vec<DocumentEvidence>,
    /// Which `subjectData` fields were sent (their values are personal data).
    pub subject_data_fields: Vec<String>,
}

/// Items under the plural or the singular key (the reference shows both), a lone object read
/// as a one-item list.
fn items<'a>(v: &'a Value, plural: &str, singular: &str) -> Vec<&'a Value> {
    match v.get(plural).or_else(|| v.get(singular)) {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => vec![],
    }
}

fn documents(v: &Value, plural: &str, singular: &str) -> Vec<DocumentEvidence> {
    items(v, plural, singular)
        .into_iter()
        .map(|d| DocumentEvidence {
            document_type: enum_field(d.get("documentType"), DocumentType::parse),
            state: enum_field(d.get("state"), DocumentState::parse),
            source: enum_field(d.get("source"), ImageSource::parse),
        })
        .collect()
}

fn verifications(v: &Value, plural: &str, singular: &str) -> Vec<Verification> {
    items(v, plural, singular)
        .into_iter()
        .map(|d| Verification {
            state: enum_field(d.get("state"), VerificationState::parse),
        })
        .collect()
}

/// The evidence of an identification (see [`IdentificationEvidence`]).
pub fn evidence(identification: Option<&Value>, subject: Option<&Value>) -> IdentificationEvidence {
    let null = Value::Null;
    let data = identification.unwrap_or(&null);
    IdentificationEvidence {
        persons: items(data, "persons", "person")
            .into_iter()
            .map(|p| PersonEvidence {
                face_match_verified: p
                    .get("faceMatch")
                    .and_then(|f| f.get("verified"))
                    .and_then(Value::as_bool),
                face_match_source: enum_field(
                    p.get("faceMatch").and_then(|f| f.get("source")),
                    ImageSource::parse,
                ),
                ident_documents: documents(p, "identDocuments", "identDocument"),
                bank_accounts: verifications(p, "bankAccounts", "bankAccount"),
                addresses: verifications(p, "addresses", "address"),
                additional_documents: documents(p, "additionalDocuments", "additionalDocument"),
            })
            .collect(),
        bank_accounts: verifications(data, "bankAccounts", "bankAccount"),
        addresses: verifications(data, "addresses", "address"),
        additional_documents: documents(data, "additionalDocuments", "additionalDocument"),
        subject_data_fields: subject
            .and_then(Value::as_object)
            .map(|o| {
                o.keys()
                    .filter(|k| k.len() <= 40 && k.bytes().all(|b| b.is_ascii_alphanumeric()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default(),
    }
}

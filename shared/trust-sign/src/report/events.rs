//! `events[]` (the client file's history) and `signedDocuments[]`.

use super::lenient;
use super::types::{open_enum, Timestamp};
use kyc_core::redact::Personal;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

open_enum!(
    /// `events[].state`: OK for a success, KO for an error.
    EventState { Ok => "OK", Ko => "KO" }
);

open_enum!(
    /// `events[].type`, every type of the reference's table.
    EventType {
        Creation => "CREATION",
        Authentication => "AUTHENTICATION",
        DocumentSubmission => "DOCUMENT_SUBMISSION",
        DocumentReprocessing => "DOCUMENT_REPROCESSING",
        FaceMatch => "FACE_MATCH",
        Signature => "SIGNATURE",
        OtpSent => "OTP_SENT",
        EmailSent => "EMAIL_SENT",
        SmsSent => "SMS_SENT",
        ReminderSent => "REMINDER_SENT",
        ContractViewed => "CONTRACT_VIEWED",
        Reopen => "REOPEN",
        ParticipantCompletion => "PARTICIPANT_COMPLETION",
        Finalization => "FINALIZATION",
        ArchivingScheduled => "ARCHIVING_SCHEDULED",
        Archiving => "ARCHIVING",
        ArchivingCancellation => "ARCHIVING_CANCELLATION",
        Rejection => "REJECTION",
        Acceptation => "ACCEPTATION",
        ArchiveDownloaded => "ARCHIVE_DOWNLOADED",
        ContractDownloaded => "CONTRACT_DOWNLOADED",
        ContractsDownloadNotified => "CONTRACTS_DOWNLOAD_NOTIFIED",
        Export => "EXPORT",
        Unblocking => "UNBLOCKING",
        Videocoding => "VIDEOCODING",
        DocumentReviewed => "DOCUMENT_REVIEWED",
        FaceMatchReviewed => "FACE_MATCH_REVIEWED",
        LegalEntityReviewed => "LEGAL_ENTITY_REVIEWED",
        LegalAgentReviewed => "LEGAL_AGENT_REVIEWED",
        ReviewCanceled => "REVIEW_CANCELED",
        ZipReportDownload => "ZIP_REPORT_DOWNLOAD",
        ExternalAction => "EXTERNAL_ACTION",
        Identification => "IDENTIFICATION",
        DefraudedDocumentRegistration => "DEFRAUDED_DOCUMENT_REGISTRATION",
        GroupTransfer => "GROUP_TRANSFER",
    }
);

/// One entry of `events[]`. Read field by field (not derived) so the fields the reference
/// does not document are kept, bounded ([`Event::other_fields`]): the acceptance of a
/// review and the submission event attached to a fraud mark have no documented field, and a
/// person deciding a review needs to see what the event carried.
#[derive(Debug, Clone, Default)]
pub struct Event {
    /// When it happened.
    pub date: Option<Timestamp>,
    /// The client file's state after it.
    pub state: Option<EventState>,
    /// The participant who conceptually caused the event (end-user actions only).
    pub executed_by: Option<String>,
    /// `delegateeUuid`: the delegate who really caused it, when the action was delegated.
    pub delegatee_uuid: Option<String>,
    /// The application that sent it.
    pub source: Option<String>,
    /// `IPAddress`. Personal data.
    pub ip_address: Option<Personal<String>>,
    /// The task concerned.
    pub task_id: Option<String>,
    /// Error codes.
    pub errors: Vec<Value>,
    /// Warning codes.
    pub warnings: Vec<Value>,
    /// `type`: what happened.
    pub event_type: Option<EventType>,
    /// `sentTo`: the recipient of an EMAIL_SENT or OTP_SENT. Personal data.
    pub sent_to: Option<Personal<String>>,
    /// The type of the document concerned.
    pub document_type: Option<String>,
    /// The id of the document concerned.
    pub document_id: Option<String>,
    /// The category of the document concerned.
    pub document_category: Option<String>,
    /// The event's label.
    pub label: Option<String>,
    /// The channel it came through.
    pub channel: Option<String>,
    /// REOPEN only: reopened tasks, the operator's message, extra tasks.
    pub causes: Option<Personal<Value>>,
    /// Fields the reference does not document, by name: at most [`MAX_OTHER_FIELDS`].
    pub other_fields: BTreeMap<String, OtherField>,
    /// Undocumented fields beyond [`MAX_OTHER_FIELDS`] (skipped, counted).
    pub other_fields_omitted: usize,
}

/// Undocumented fields kept per event (real events carry a handful: `attachmentId`,
/// `groupUuid`, `groupName` in the reference's example).
pub const MAX_OTHER_FIELDS: usize = 16;

/// An undocumented field's value, reduced to what can be shown without personal data: flags,
/// numbers and enum-like tokens (`ACCEPTED`, `1_1`) as written; other text by its length
/// only (an operator's comment may name the customer); an object by the task and document it
/// names (an attached event); a list by its length.
#[derive(Debug, Clone, PartialEq)]
pub enum OtherField {
    /// `null`.
    Null,
    /// A boolean.
    Flag(bool),
    /// A number.
    Number(serde_json::Number),
    /// An enum-like token, as written.
    Token(String),
    /// Other text, by its length only.
    Text {
        /// Its length in characters.
        chars: usize,
    },
    /// A list, by its length only.
    List {
        /// Its length.
        items: usize,
    },
    /// An object, by the task and document it names.
    Object {
        /// Its `taskId`, if any.
        task_id: Option<String>,
        /// Its `documentId`, if any.
        document_id: Option<String>,
        /// How many fields it has.
        fields: usize,
    },
}

/// The longest text kept as a token; tokens are letters, digits and `_.:-`.
const MAX_TOKEN: usize = 64;

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_TOKEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

impl OtherField {
    /// The value as a setting would name it (`ACCEPTED`, `true`, `1`); `None` for text,
    /// lists and objects.
    pub fn as_token(&self) -> Option<String> {
        match self {
            Self::Flag(b) => Some(b.to_string()),
            Self::Number(n) => Some(n.to_string()),
            Self::Token(t) => Some(t.clone()),
            _ => None,
        }
    }
}

impl serde::Serialize for OtherField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Null => s.serialize_unit(),
            Self::Flag(b) => s.serialize_bool(*b),
            Self::Number(n) => n.serialize(s),
            Self::Token(t) => s.serialize_str(t),
            Self::Text { chars } => s.serialize_str(&format!("<text, {chars} characters>")),
            Self::List { items } => s.serialize_str(&format!("<list, {items} items>")),
            Self::Object {
                task_id,
                document_id,
                fields,
            } => {
                let mut m = s.serialize_map(None)?;
                if let Some(t) = task_id {
                    m.serialize_entry("taskId", t)?;
                }
                if let Some(d) = document_id {
                    m.serialize_entry("documentId", d)?;
                }
                m.serialize_entry("fields", fields)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OtherField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OtherField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<OtherField, E> {
                Ok(OtherField::Null)
            }
            fn visit_none<E>(self) -> Result<OtherField, E> {
                Ok(OtherField::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<OtherField, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_bool<E>(self, v: bool) -> Result<OtherField, E> {
                Ok(OtherField::Flag(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<OtherField, E> {
                Ok(OtherField::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<OtherField, E> {
                Ok(OtherField::Number(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<OtherField, E> {
                Ok(serde_json::Number::from_f64(v).map_or(OtherField::Null, OtherField::Number))
            }
            fn visit_str<E>(self, v: &str) -> Result<OtherField, E> {
                Ok(if is_token(v) {
                    OtherField::Token(v.to_string())
                } else {
                    OtherField::Text {
                        chars: v.chars().count(),
                    }
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OtherField, A::Error> {
                let mut items = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    items += 1;
                }
                Ok(OtherField::List { items })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OtherField, A::Error> {
                let (mut task_id, mut document_id, mut fields) = (None, None, 0);
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    fields += 1;
                    match k.as_ref() {
                        "taskId" => task_id = map.next_value::<IdentField>()?.0,
                        "documentId" => document_id = map.next_value::<IdentField>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(OtherField::Object {
                    task_id,
                    document_id,
                    fields,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Adapters from the [`lenient`] readers to types `MapAccess::next_value` can take.
macro_rules! lenient_field {
    ($name:ident, $ty:ty, $reader:path) => {
        struct $name($ty);
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $reader(d).map($name)
            }
        }
    };
}
lenient_field!(IdentField, Option<String>, lenient::ident);
lenient_field!(TextField, Option<String>, lenient::text);
lenient_field!(PersonalField, Option<Personal<String>>, lenient::personal);
lenient_field!(CodesField, Vec<Value>, lenient::codes);
lenient_field!(
    CausesField,
    Option<Personal<Value>>,
    lenient::opt_personal_value
);

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Event;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an event object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
                let mut e = Event::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "date" => e.date = map.next_value()?,
                        "state" => e.state = map.next_value()?,
                        "executedBy" => e.executed_by = map.next_value::<IdentField>()?.0,
                        "delegateeUuid" => e.delegatee_uuid = map.next_value::<IdentField>()?.0,
                        "source" => e.source = map.next_value::<TextField>()?.0,
                        "IPAddress" => e.ip_address = map.next_value::<PersonalField>()?.0,
                        "taskId" => e.task_id = map.next_value::<IdentField>()?.0,
                        "errors" => e.errors = map.next_value::<CodesField>()?.0,
                        "warnings" => e.warnings = map.next_value::<CodesField>()?.0,
                        "type" => e.event_type = map.next_value()?,
                        "sentTo" => e.sent_to = map.next_value::<PersonalField>()?.0,
                        "documentType" => e.document_type = map.next_value::<TextField>()?.0,
                        "documentId" => e.document_id = map.next_value::<IdentField>()?.0,
                        "documentCategory" => {
                            e.document_category = map.next_value::<TextField>()?.0
                        }
                        "label" => e.label = map.next_value::<TextField>()?.0,
                        "channel" => e.channel = map.next_value::<TextField>()?.0,
                        "causes" => e.causes = map.next_value::<CausesField>()?.0,
                        _ if e.other_fields.len() < MAX_OTHER_FIELDS && key.len() <= MAX_TOKEN => {
                            let v = map.next_value::<OtherField>()?;
                            e.other_fields.insert(key, v);
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            e.other_fields_omitted += 1;
                        }
                    }
                }
                Ok(e)
            }
        }
        d.deserialize_map(V)
    }
}

/// A signed document; the archive holds it as `signed_{id}.pdf`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedDocument {
    /// The document's id.
    #[serde(default, deserialize_with = "lenient::ident_or_empty")]
    pub id: String,
    /// The consent clauses shown with it.
    #[serde(default, deserialize_with = "lenient::list")]
    pub consent_clauses: Vec<ConsentClause>,
}

impl SignedDocument {
    /// The archive entry the reference promises for this document.
    pub fn archive_file_name(&self) -> String {
        format!("signed_{}.pdf", self.id)
    }
}

/// A consent clause of a signed document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentClause {
    /// The clause's id.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub id: Option<String>,
    /// The clause's text.
    #[serde(default, deserialize_with = "lenient::text")]
    pub text: Option<String>,
    /// True when the clause must be checked.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub required: Option<bool>,
    /// Required clauses are always true.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub checked: Option<bool>,
    /// The signer who answered it.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub signer_uuid: Option<String>,
}

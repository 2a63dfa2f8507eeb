//! `events[]` (the client file's history) and `signedDocuments[]`.

use super::lenient;
use super::types::{open_enum, Timestamp};
use kyc_core::redact::Personal;
use serde::Deserialize;
use serde_json::Value;

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

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub date: Option<Timestamp>,
    pub state: Option<EventState>,
    /// The participant who conceptually caused the event (end-user actions only).
    #[serde(default, deserialize_with = "lenient::ident")]
    pub executed_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub delegatee_uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub source: Option<String>,
    #[serde(rename = "IPAddress")]
    #[serde(default, deserialize_with = "lenient::personal")]
    pub ip_address: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub task_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::codes")]
    pub errors: Vec<Value>,
    #[serde(default, deserialize_with = "lenient::codes")]
    pub warnings: Vec<Value>,
    #[serde(rename = "type")]
    pub event_type: Option<EventType>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub sent_to: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub document_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub document_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub document_category: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub label: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub channel: Option<String>,
    /// REOPEN only: reopened tasks, the operator's message, extra tasks.
    #[serde(default, deserialize_with = "lenient::opt_personal_value")]
    pub causes: Option<Personal<Value>>,
}

/// A signed document; the archive holds it as `signed_{id}.pdf`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedDocument {
    #[serde(default, deserialize_with = "lenient::ident_or_empty")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::list")]
    pub consent_clauses: Vec<ConsentClause>,
}

impl SignedDocument {
    /// The archive entry the reference promises for this document.
    pub fn archive_file_name(&self) -> String {
        format!("signed_{}.pdf", self.id)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentClause {
    #[serde(default, deserialize_with = "lenient::ident")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub text: Option<String>,
    #[serde(default, deserialize_with = "lenient::flag")]
    pub required: Option<bool>,
    /// Required clauses are always true.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub checked: Option<bool>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub signer_uuid: Option<String>,
}

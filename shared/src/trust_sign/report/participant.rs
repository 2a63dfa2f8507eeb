//! `clientFile.participants[]`: who they are (all personal), their identity checks (identity
//! document, face match, video identification, La Poste's Identité Numérique) and the One
//! Click Contract file they came from.

use super::document::{Controls, Document, FileRef, Validation};
use super::types::{null_default, open_enum, Timestamp, UnknownFields};
use crate::redact::{Personal, Secret};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

open_enum!(
    /// `lin.providerVerdict` / `lin.comparisonVerdict`.
    LinVerdict { Ok => "OK", Ko => "KO" }
);

open_enum!(
    /// A value of `lin.controls`.
    LinMatch {
        Matching => "MATCHING",
        NotMatching => "NOT_MATCHING",
        Skipped => "SKIPPED",
    }
);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// The participant type configured in the workflow (`SIGNER`...).
    #[serde(rename = "type")]
    pub participant_type: Option<String>,
    /// MR, MRS, MISS or UNKNOWN: personal (it gives the gender).
    pub civility: Option<Personal<String>>,
    pub last_name: Option<Personal<String>>,
    pub first_name: Option<Personal<String>>,
    pub birth_name: Option<Personal<String>>,
    pub birth_place: Option<Personal<String>>,
    pub birth_date: Option<Personal<String>>,
    pub email: Option<Personal<String>>,
    pub mobile_phone: Option<Personal<String>>,
    pub phone: Option<Personal<String>>,
    pub postal_address: Option<Personal<Value>>,
    pub iban: Option<Personal<String>>,
    pub uuid: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub profiles: Vec<Value>,
    pub one_click_contract: Option<OneClickContract>,
    /// Present only when identity verification is enabled in the workflow.
    #[serde(default, deserialize_with = "null_default")]
    pub identity_checks: Vec<IdentityCheck>,
    #[serde(flatten)]
    pub extra: UnknownFields,
}

/// One identity verification. Which fields appear depends on the workflow's choice: identity
/// document, document + face match, video, or Identité Numérique.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityCheck {
    pub id_document: Option<Document>,
    /// The identity-check example spells it `faceMatch` (one object)...
    pub face_match: Option<FaceMatch>,
    /// ...the face-match section `faceMatches` (an array): both are read.
    #[serde(default, deserialize_with = "null_default")]
    pub face_matches: Vec<FaceMatch>,
    pub video_identification: Option<VideoIdentification>,
    pub lin: Option<Lin>,
    #[serde(flatten)]
    pub extra: UnknownFields,
}

impl IdentityCheck {
    /// Every face match of this check, whichever spelling carried it.
    pub fn all_face_matches(&self) -> impl Iterator<Item = &FaceMatch> {
        self.face_match.iter().chain(self.face_matches.iter())
    }
}

/// A selfie compared with the identity document's photo.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceMatch {
    pub date: Option<Timestamp>,
    pub controls: Option<Controls>,
    #[serde(default, deserialize_with = "null_default")]
    pub files: Vec<FileRef>,
    #[serde(default, deserialize_with = "null_default")]
    pub expected_sequence: Vec<Value>,
    pub source: Option<String>,
    pub participant_uuid: Option<String>,
    #[serde(rename = "IPAddress")]
    pub ip_address: Option<Personal<String>>,
    pub task_id: Option<String>,
    pub validation: Option<Validation>,
    #[serde(default, deserialize_with = "null_default")]
    pub errors: Vec<Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub warnings: Vec<Value>,
    #[serde(flatten)]
    pub extra: UnknownFields,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoIdentification {
    pub date: Option<Timestamp>,
    pub task_id: Option<String>,
    pub participant_uuid: Option<String>,
    pub owner: Option<String>,
    #[serde(rename = "type")]
    pub doc_type: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub files: Vec<FileRef>,
    #[serde(default, deserialize_with = "null_default")]
    pub errors: Vec<Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub warnings: Vec<Value>,
    /// Checks on the identity document shown in the video.
    pub document_controls: Option<Controls>,
    /// Checks on the face biometry (not itemised by the reference).
    pub biometry_controls: Option<Controls>,
    /// Not described for videos; read in case it is present, as on documents.
    pub validation: Option<Validation>,
    #[serde(flatten)]
    pub extra: UnknownFields,
}

/// La Poste's Identité Numérique.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lin {
    pub task_id: Option<String>,
    pub activation_uuid: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub errors: Vec<Value>,
    pub date: Option<Timestamp>,
    pub verified_at: Option<Timestamp>,
    /// The identification had expired and an OTP was requested.
    pub expired: Option<bool>,
    pub provider_verdict: Option<LinVerdict>,
    pub provider_data: Option<LinProviderData>,
    pub comparison_verdict: Option<LinVerdict>,
    #[serde(default, deserialize_with = "null_default")]
    pub controls: BTreeMap<String, LinMatch>,
    #[serde(flatten)]
    pub extra: UnknownFields,
}

/// The identity La Poste returned (OIDC claims): all personal.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinProviderData {
    pub subject_identifier: Option<Personal<String>>,
    pub email: Option<Personal<String>>,
    pub given_name: Option<Personal<String>>,
    pub family_name: Option<Personal<String>>,
    pub preferred_username: Option<Personal<String>>,
    pub birth_date: Option<Personal<String>>,
    pub birth_place: Option<Personal<String>>,
    pub birth_country: Option<Personal<String>>,
    pub gender: Option<Personal<String>>,
    #[serde(flatten)]
    pub extra: UnknownFields,
}

/// `participants[].oneClickContract`: the earlier client file this one was created from.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneClickContract {
    #[serde(rename = "oneccUUID")]
    pub onecc_uuid: Option<String>,
    /// The token used to create the One Click Contract: a credential.
    pub onecc_token: Option<Secret<String>>,
    pub participant: Option<OneClickParticipant>,
    pub client_file: Option<OneClickClientFile>,
    #[serde(default, deserialize_with = "null_default")]
    pub documents: Vec<OneClickDocument>,
    #[serde(flatten)]
    pub extra: UnknownFields,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneClickParticipant {
    pub email: Option<Personal<String>>,
    pub mobile_phone: Option<Personal<String>>,
    pub last_name: Option<Personal<String>>,
    pub first_name: Option<Personal<String>>,
    pub birth_date: Option<Personal<String>>,
    pub birth_place: Option<Personal<String>>,
    pub birth_name: Option<Personal<String>>,
    pub postal_address: Option<Personal<Value>>,
    #[serde(flatten)]
    pub extra: UnknownFields,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneClickClientFile {
    pub uuid: Option<String>,
    pub creation_date: Option<Timestamp>,
    pub finalization_date: Option<Timestamp>,
    pub product_uuid: Option<String>,
    pub product_name: Option<String>,
    pub workflow_uuid: Option<String>,
    /// The reference spells it `workflowname` here (and `workflowName` elsewhere).
    #[serde(alias = "workflowname")]
    pub workflow_name: Option<String>,
    pub workflow_label: Option<String>,
    pub state: Option<super::ClientFileState>,
    #[serde(default, deserialize_with = "null_default")]
    pub external_info: Map<String, Value>,
    #[serde(flatten)]
    pub extra: UnknownFields,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneClickDocument {
    pub label: Option<String>,
    #[serde(rename = "type")]
    pub doc_type: Option<String>,
    pub attachment_id: Option<String>,
    pub controls: Option<Controls>,
    #[serde(default, deserialize_with = "null_default")]
    pub files: Vec<FileRef>,
    #[serde(flatten)]
    pub extra: UnknownFields,
}

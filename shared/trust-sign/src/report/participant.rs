//! `clientFile.participants[]`: who they are (all personal), their identity checks (identity
//! document, face match, video identification, La Poste's Identité Numérique) and the One
//! Click Contract file they came from.

use super::document::{Controls, Document, FileRef, Validation};
use super::lenient;
use super::types::{null_default, open_enum, Timestamp};
use kyc_core::redact::{Personal, Secret};
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

/// One entry of `clientFile.participants[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// The participant type configured in the workflow (`SIGNER`...).
    #[serde(rename = "type")]
    #[serde(default, deserialize_with = "lenient::text")]
    pub participant_type: Option<String>,
    /// MR, MRS, MISS or UNKNOWN: personal (it gives the gender).
    #[serde(default, deserialize_with = "lenient::personal")]
    pub civility: Option<Personal<String>>,
    /// `lastName`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub last_name: Option<Personal<String>>,
    /// `firstName`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub first_name: Option<Personal<String>>,
    /// `birthName`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_name: Option<Personal<String>>,
    /// `birthPlace`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_place: Option<Personal<String>>,
    /// `birthDate`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_date: Option<Personal<String>>,
    /// `email`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub email: Option<Personal<String>>,
    /// `mobilePhone`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub mobile_phone: Option<Personal<String>>,
    /// `phone`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub phone: Option<Personal<String>>,
    /// `postalAddress`. Personal data.
    #[serde(default, deserialize_with = "lenient::opt_personal_value")]
    pub postal_address: Option<Personal<Value>>,
    /// `iban`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub iban: Option<Personal<String>>,
    /// The participant's uuid.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub uuid: Option<String>,
    /// How many profiles (not read: display only).
    #[serde(default, deserialize_with = "lenient::count")]
    pub profiles: usize,
    /// The earlier client file this one was created from, if any.
    #[serde(default, deserialize_with = "lenient::object")]
    pub one_click_contract: Option<OneClickContract>,
    /// Present only when identity verification is enabled in the workflow.
    #[serde(default, deserialize_with = "lenient::elements")]
    pub identity_checks: Vec<IdentityCheck>,
}

/// One identity verification. Which fields appear depends on the workflow's choice: identity
/// document, document + face match, video, or Identité Numérique.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityCheck {
    /// The identity document checked.
    pub id_document: Option<Document>,
    /// `faceMatch` in whichever shape the reference shows: see [`FaceMatchField`].
    #[serde(default)]
    pub face_match: FaceMatchField,
    /// A `faceMatches` array beside `faceMatch` (tolerated: the section's snippet could be
    /// read that way too).
    #[serde(default, deserialize_with = "lenient::elements")]
    pub face_matches: Vec<FaceMatch>,
    /// The video identification.
    pub video_identification: Option<VideoIdentification>,
    /// The Identité Numérique identification.
    pub lin: Option<Lin>,
}

/// `identityChecks[].faceMatch`. The face-match section shows an object HOLDING a
/// `faceMatches` array (one item per selfie comparison); the identity-check example only shows
/// `"faceMatch": {...}`, which may be a single face match; an array of face matches is
/// accepted too. Each shape is kept with where its items are, so verdicts can say it.
#[derive(Debug, Clone, Default)]
pub enum FaceMatchField {
    /// No `faceMatch`.
    #[default]
    Absent,
    /// `"faceMatch": {"faceMatches": [...]}` (the face-match section).
    Nested(Vec<FaceMatch>),
    /// `"faceMatch": {...one face match...}`.
    Single(Box<FaceMatch>),
    /// `"faceMatch": [...]`.
    List(Vec<FaceMatch>),
}

impl<'de> Deserialize<'de> for FaceMatchField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = FaceMatchField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a face match object or array")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<FaceMatchField, E> {
                Ok(FaceMatchField::Absent)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<FaceMatchField, E> {
                Ok(FaceMatchField::Absent)
            }
            fn visit_some<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<FaceMatchField, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<FaceMatchField, A::Error> {
                lenient::elements(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(FaceMatchField::List)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<FaceMatchField, A::Error> {
                // One object: either a face match, or the section's container of
                // `faceMatches` (read as a face match whose `faceMatches` is set).
                let mut fm =
                    FaceMatch::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(match fm.face_matches.take() {
                    Some(items) => FaceMatchField::Nested(items),
                    None => FaceMatchField::Single(Box::new(fm)),
                })
            }
        }
        d.deserialize_any(V)
    }
}

fn optional_elements<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<FaceMatch>>, D::Error> {
    lenient::elements(d).map(Some)
}

impl IdentityCheck {
    /// Every face match of this check, whichever shape carried it, with its locator relative
    /// to the check (`faceMatch.faceMatches[0]`, `faceMatch`, `faceMatch[0]`, `faceMatches[0]`).
    pub fn all_face_matches(&self) -> Vec<(String, &FaceMatch)> {
        let mut out: Vec<(String, &FaceMatch)> = match &self.face_match {
            FaceMatchField::Absent => Vec::new(),
            FaceMatchField::Single(fm) => vec![("faceMatch".to_string(), &**fm)],
            FaceMatchField::Nested(items) => items
                .iter()
                .enumerate()
                .map(|(i, fm)| (format!("faceMatch.faceMatches[{i}]"), fm))
                .collect(),
            FaceMatchField::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, fm)| (format!("faceMatch[{i}]"), fm))
                .collect(),
        };
        out.extend(
            self.face_matches
                .iter()
                .enumerate()
                .map(|(i, fm)| (format!("faceMatches[{i}]"), fm)),
        );
        out
    }
}

/// A selfie compared with the identity document's photo.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceMatch {
    /// When it was made.
    pub date: Option<Timestamp>,
    /// The comparison's checks.
    pub controls: Option<Controls>,
    /// The selfies in the archive.
    #[serde(default, deserialize_with = "lenient::list")]
    pub files: Vec<FileRef>,
    /// `expectedSequence`.
    #[serde(default, deserialize_with = "lenient::values")]
    pub expected_sequence: Vec<Value>,
    /// The application that sent it.
    #[serde(default, deserialize_with = "lenient::text")]
    pub source: Option<String>,
    /// The participant it belongs to.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub participant_uuid: Option<String>,
    /// `IPAddress`. Personal data.
    #[serde(rename = "IPAddress")]
    #[serde(default, deserialize_with = "lenient::personal")]
    pub ip_address: Option<Personal<String>>,
    /// The task that collected it.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub task_id: Option<String>,
    /// The validation's state.
    pub validation: Option<Validation>,
    /// Error codes.
    #[serde(default, deserialize_with = "lenient::codes")]
    pub errors: Vec<Value>,
    /// Warning codes.
    #[serde(default, deserialize_with = "lenient::codes")]
    pub warnings: Vec<Value>,
    /// Only on the face-match section's container object (see [`FaceMatchField`]).
    #[serde(default, deserialize_with = "optional_elements")]
    face_matches: Option<Vec<FaceMatch>>,
}

/// A video identification.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoIdentification {
    /// When it was made.
    pub date: Option<Timestamp>,
    /// The task that made it.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub task_id: Option<String>,
    /// The participant it belongs to.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub participant_uuid: Option<String>,
    /// `owner` (`participant_1`, `SIGNER`...).
    #[serde(default, deserialize_with = "lenient::ident")]
    pub owner: Option<String>,
    /// `type`: the document's type.
    #[serde(rename = "type")]
    #[serde(default, deserialize_with = "lenient::text")]
    pub doc_type: Option<String>,
    /// Its files in the archive.
    #[serde(default, deserialize_with = "lenient::list")]
    pub files: Vec<FileRef>,
    /// Error codes.
    #[serde(default, deserialize_with = "lenient::codes")]
    pub errors: Vec<Value>,
    /// Warning codes.
    #[serde(default, deserialize_with = "lenient::codes")]
    pub warnings: Vec<Value>,
    /// Checks on the identity document shown in the video.
    pub document_controls: Option<Controls>,
    /// Checks on the face biometry (not itemised by the reference).
    pub biometry_controls: Option<Controls>,
    /// Not described for videos; read in case it is present, as on documents.
    pub validation: Option<Validation>,
}

/// La Poste's Identité Numérique.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lin {
    /// The task that made it.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub task_id: Option<String>,
    /// `activationUuid`.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub activation_uuid: Option<String>,
    /// Error codes.
    #[serde(default, deserialize_with = "lenient::codes")]
    pub errors: Vec<Value>,
    /// When it was made.
    pub date: Option<Timestamp>,
    /// `verifiedAt`.
    pub verified_at: Option<Timestamp>,
    /// The identification had expired and an OTP was requested.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub expired: Option<bool>,
    /// La Poste's verdict.
    pub provider_verdict: Option<LinVerdict>,
    /// The identity La Poste returned.
    #[serde(default, deserialize_with = "lenient::object")]
    pub provider_data: Option<LinProviderData>,
    /// The verdict of the comparison with the file's data.
    pub comparison_verdict: Option<LinVerdict>,
    /// Field-by-field comparisons, by name.
    #[serde(default, deserialize_with = "null_default")]
    pub controls: BTreeMap<String, LinMatch>,
}

/// The identity La Poste returned (OIDC claims): all personal.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinProviderData {
    /// `subjectIdentifier`: the OIDC `sub`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub subject_identifier: Option<Personal<String>>,
    /// `email`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub email: Option<Personal<String>>,
    /// `givenName`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub given_name: Option<Personal<String>>,
    /// `familyName`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub family_name: Option<Personal<String>>,
    /// `preferredUsername`: the name in use.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub preferred_username: Option<Personal<String>>,
    /// `birthDate`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_date: Option<Personal<String>>,
    /// `birthPlace`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_place: Option<Personal<String>>,
    /// `birthCountry`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_country: Option<Personal<String>>,
    /// `gender`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub gender: Option<Personal<String>>,
}

/// `participants[].oneClickContract`: the earlier client file this one was created from.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneClickContract {
    /// `oneccUUID`: the One Click Contract's id.
    #[serde(rename = "oneccUUID")]
    #[serde(default, deserialize_with = "lenient::ident")]
    pub onecc_uuid: Option<String>,
    /// The token used to create the One Click Contract: a credential.
    #[serde(default, deserialize_with = "lenient::secret")]
    pub onecc_token: Option<Secret<String>>,
    /// The participant as the earlier file had them.
    #[serde(default, deserialize_with = "lenient::object")]
    pub participant: Option<OneClickParticipant>,
    /// The earlier client file.
    #[serde(default, deserialize_with = "lenient::object")]
    pub client_file: Option<OneClickClientFile>,
    /// The earlier file's documents.
    #[serde(default, deserialize_with = "lenient::list")]
    pub documents: Vec<OneClickDocument>,
}

/// The participant of a One Click Contract. Every field is personal data.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneClickParticipant {
    /// `email`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub email: Option<Personal<String>>,
    /// `mobilePhone`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub mobile_phone: Option<Personal<String>>,
    /// `lastName`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub last_name: Option<Personal<String>>,
    /// `firstName`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub first_name: Option<Personal<String>>,
    /// `birthDate`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_date: Option<Personal<String>>,
    /// `birthPlace`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_place: Option<Personal<String>>,
    /// `birthName`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_name: Option<Personal<String>>,
    /// `postalAddress`.
    #[serde(default, deserialize_with = "lenient::opt_personal_value")]
    pub postal_address: Option<Personal<Value>>,
}

/// The client file of a One Click Contract.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneClickClientFile {
    /// The file's uuid.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub uuid: Option<String>,
    /// `creationDate`.
    pub creation_date: Option<Timestamp>,
    /// `finalizationDate`.
    pub finalization_date: Option<Timestamp>,
    /// `productUuid`.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub product_uuid: Option<String>,
    /// `productName`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub product_name: Option<String>,
    /// `workflowUuid`.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub workflow_uuid: Option<String>,
    /// The reference spells it `workflowname` here (and `workflowName` elsewhere).
    #[serde(alias = "workflowname")]
    #[serde(default, deserialize_with = "lenient::text")]
    pub workflow_name: Option<String>,
    /// `workflowLabel`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub workflow_label: Option<String>,
    /// The file's state.
    pub state: Option<super::ClientFileState>,
    /// `externalInfo`.
    #[serde(default, deserialize_with = "lenient::map")]
    pub external_info: Map<String, Value>,
}

/// A document of a One Click Contract.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneClickDocument {
    /// The document's label.
    #[serde(default, deserialize_with = "lenient::text")]
    pub label: Option<String>,
    /// `type`: the document's type.
    #[serde(rename = "type")]
    #[serde(default, deserialize_with = "lenient::text")]
    pub doc_type: Option<String>,
    /// `attachmentId`.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub attachment_id: Option<String>,
    /// The document's checks.
    pub controls: Option<Controls>,
    /// Its files.
    #[serde(default, deserialize_with = "lenient::list")]
    pub files: Vec<FileRef>,
}

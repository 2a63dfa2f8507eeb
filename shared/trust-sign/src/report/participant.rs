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
    #[serde(default, deserialize_with = "lenient::personal")]
    pub last_name: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub first_name: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_name: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_place: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_date: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub email: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub mobile_phone: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub phone: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::opt_personal_value")]
    pub postal_address: Option<Personal<Value>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub iban: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub uuid: Option<String>,
    /// How many profiles (not read: display only).
    #[serde(default, deserialize_with = "lenient::count")]
    pub profiles: usize,
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
    pub id_document: Option<Document>,
    /// `faceMatch` in whichever shape the reference shows: see [`FaceMatchField`].
    #[serde(default)]
    pub face_match: FaceMatchField,
    /// A `faceMatches` array beside `faceMatch` (tolerated: the section's snippet could be
    /// read that way too).
    #[serde(default, deserialize_with = "lenient::elements")]
    pub face_matches: Vec<FaceMatch>,
    pub video_identification: Option<VideoIdentification>,
    pub lin: Option<Lin>,
}

/// `identityChecks[].faceMatch`. The face-match section shows an object HOLDING a
/// `faceMatches` array (one item per selfie comparison); the identity-check example only shows
/// `"faceMatch": {...}`, which may be a single face match; an array of face matches is
/// accepted too. Each shape is kept with where its items are, so verdicts can say it.
#[derive(Debug, Clone, Default)]
pub enum FaceMatchField {
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
    pub date: Option<Timestamp>,
    pub controls: Option<Controls>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub files: Vec<FileRef>,
    #[serde(default, deserialize_with = "lenient::values")]
    pub expected_sequence: Vec<Value>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub participant_uuid: Option<String>,
    #[serde(rename = "IPAddress")]
    #[serde(default, deserialize_with = "lenient::personal")]
    pub ip_address: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub task_id: Option<String>,
    pub validation: Option<Validation>,
    #[serde(default, deserialize_with = "lenient::codes")]
    pub errors: Vec<Value>,
    #[serde(default, deserialize_with = "lenient::codes")]
    pub warnings: Vec<Value>,
    /// Only on the face-match section's container object (see [`FaceMatchField`]).
    #[serde(default, deserialize_with = "optional_elements")]
    face_matches: Option<Vec<FaceMatch>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoIdentification {
    pub date: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub task_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub participant_uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub owner: Option<String>,
    #[serde(rename = "type")]
    #[serde(default, deserialize_with = "lenient::text")]
    pub doc_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub files: Vec<FileRef>,
    #[serde(default, deserialize_with = "lenient::codes")]
    pub errors: Vec<Value>,
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
    #[serde(default, deserialize_with = "lenient::ident")]
    pub task_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub activation_uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient::codes")]
    pub errors: Vec<Value>,
    pub date: Option<Timestamp>,
    pub verified_at: Option<Timestamp>,
    /// The identification had expired and an OTP was requested.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub expired: Option<bool>,
    pub provider_verdict: Option<LinVerdict>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub provider_data: Option<LinProviderData>,
    pub comparison_verdict: Option<LinVerdict>,
    #[serde(default, deserialize_with = "null_default")]
    pub controls: BTreeMap<String, LinMatch>,
}

/// The identity La Poste returned (OIDC claims): all personal.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinProviderData {
    #[serde(default, deserialize_with = "lenient::personal")]
    pub subject_identifier: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub email: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub given_name: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub family_name: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub preferred_username: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_date: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_place: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_country: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub gender: Option<Personal<String>>,
}

/// `participants[].oneClickContract`: the earlier client file this one was created from.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneClickContract {
    #[serde(rename = "oneccUUID")]
    #[serde(default, deserialize_with = "lenient::ident")]
    pub onecc_uuid: Option<String>,
    /// The token used to create the One Click Contract: a credential.
    #[serde(default, deserialize_with = "lenient::secret")]
    pub onecc_token: Option<Secret<String>>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub participant: Option<OneClickParticipant>,
    #[serde(default, deserialize_with = "lenient::object")]
    pub client_file: Option<OneClickClientFile>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub documents: Vec<OneClickDocument>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneClickParticipant {
    #[serde(default, deserialize_with = "lenient::personal")]
    pub email: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub mobile_phone: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub last_name: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub first_name: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_date: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_place: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_name: Option<Personal<String>>,
    #[serde(default, deserialize_with = "lenient::opt_personal_value")]
    pub postal_address: Option<Personal<Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneClickClientFile {
    #[serde(default, deserialize_with = "lenient::ident")]
    pub uuid: Option<String>,
    pub creation_date: Option<Timestamp>,
    pub finalization_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub product_uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub product_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub workflow_uuid: Option<String>,
    /// The reference spells it `workflowname` here (and `workflowName` elsewhere).
    #[serde(alias = "workflowname")]
    #[serde(default, deserialize_with = "lenient::text")]
    pub workflow_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    pub workflow_label: Option<String>,
    pub state: Option<super::ClientFileState>,
    #[serde(default, deserialize_with = "lenient::map")]
    pub external_info: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneClickDocument {
    #[serde(default, deserialize_with = "lenient::text")]
    pub label: Option<String>,
    #[serde(rename = "type")]
    #[serde(default, deserialize_with = "lenient::text")]
    pub doc_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::ident")]
    pub attachment_id: Option<String>,
    pub controls: Option<Controls>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub files: Vec<FileRef>,
}

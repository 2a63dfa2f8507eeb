//! Typed model of report.json V6, from Namirial's reference
//! (`shared/reference/trust-and-sign/report-json-v6.fr.txt`).
//!
//! Rules that hold throughout:
//! - fields the model does not know are skipped while parsing (serde's `IgnoredAny`: nothing
//!   is buffered or kept, so a report full of new fields costs no memory; the raw report.json
//!   is kept verbatim in the processed copy), and every enum keeps values it does not know in
//!   `Other`: Namirial adds fields and values without notice;
//! - every personal value (names, birth data, contact details, addresses, IBANs, document
//!   numbers, MRZ, IP addresses) is a [`Personal`], so `Debug` and `Serialize` redact it;
//! - `null` and absence mean the same thing.
//!
//! The report is identified as V6 by its shape, because the reference defines no version
//! field: a JSON object with a `date` and a `clientFile` object. A `version` field, if one
//! ever appears, must not name another version.

mod document;
mod events;
pub mod iso8601;
pub mod lenient;
mod participant;
mod types;

pub use document::{
    CompanyDetails, Controls, Doc2D, Document, DocumentData, DocumentDetails, ExtraData, FileRef,
    Holder, IdDocumentInformation, IdInformations, LegalAgent, LiveCheckReason,
    LiveCheckRefuseReason, Mrz, Office, OwnerControls, Validation, MAX_UNKNOWN_CONTROLS,
};
pub use events::{
    ConsentClause, Event, EventState, EventType, OtherField, SignedDocument, MAX_OTHER_FIELDS,
};
pub use lenient::{TypeMismatch, TypeMismatches};
pub use participant::{
    FaceMatch, FaceMatchField, IdentityCheck, Lin, LinMatch, LinProviderData, LinVerdict,
    OneClickClientFile, OneClickContract, OneClickDocument, OneClickParticipant, Participant,
    VideoIdentification,
};
pub use types::{Ident, Timestamp};

use super::error::{NotV6Reason, TrustSignError};
use kyc_core::redact::Personal;
use serde::Deserialize;
use serde_json::{Map, Value};
use types::open_enum;

open_enum!(
    /// `clientFile.state`.
    ClientFileState {
        Initialized => "INITIALIZED",
        Pending => "PENDING",
        RunningPostFinalization => "RUNNING_POST_FINALIZATION",
        Waiting => "WAITING",
        Suspended => "SUSPENDED",
        Accepted => "ACCEPTED",
        Rejected => "REJECTED",
    }
);

open_enum!(
    /// `clientFile.archivingState`.
    ArchivingState {
        NoArchiving => "NO_ARCHIVING",
        Archived => "ARCHIVED",
        NotYetArchived => "NOT_YET_ARCHIVED",
        ArchivingIsScheduled => "ARCHIVING_IS_SCHEDULED",
        NotArchived => "NOT_ARCHIVED",
    }
);

/// The whole report.json.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// When the report was generated: orders two versions of one client file's archive.
    pub date: Option<Timestamp>,
    /// The client file.
    pub client_file: Option<ClientFile>,
    /// Supporting documents (identity-check documents are under the participants instead).
    #[serde(default, deserialize_with = "lenient::elements")]
    pub documents: Vec<Document>,
    /// Absent when signature is disabled in the workflow.
    #[serde(default, deserialize_with = "lenient::elements")]
    pub signed_documents: Vec<SignedDocument>,
    /// The client file's events.
    #[serde(default, deserialize_with = "lenient::elements")]
    pub events: Vec<Event>,
    /// Not in the reference (which defines no version field); if one appears it must not
    /// name another version.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub version: Option<Value>,
    /// Display-only fields of an unexpected type, and free-form values clipped at their
    /// bounds: noted rather than fatal (see [`lenient`]).
    #[serde(skip)]
    pub type_mismatches: TypeMismatches,
    /// How many dates had no offset (read in [`Report::time_zone`], flagged).
    #[serde(skip)]
    pub zoneless_dates: usize,
    /// The zone dates without an offset were read in.
    #[serde(skip, default = "default_zone")]
    pub time_zone: chrono_tz::Tz,
}

fn default_zone() -> chrono_tz::Tz {
    iso8601::DEFAULT_ZONE
}

/// `clientFile`: the file, its participants and its outcome.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientFile {
    /// The file's participants.
    #[serde(default, deserialize_with = "lenient::elements")]
    pub participants: Vec<Participant>,
    /// Technical id (for a machine): the key a client file is stored under.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub uuid: Option<String>,
    /// Human-readable id (a number in the examples).
    pub id: Option<Ident>,
    /// Business information set by us when the file was created (customer link keys).
    #[serde(default, deserialize_with = "lenient::map")]
    pub external_info: Map<String, Value>,
    /// When the file was started.
    pub start_date: Option<Timestamp>,
    /// Only when ACCEPTED or REJECTED.
    pub finish_date: Option<Timestamp>,
    /// Only after a manual validation.
    pub validation_date: Option<Timestamp>,
    /// The file's state.
    pub state: Option<ClientFileState>,
    /// Only when REJECTED (e.g. `CANCELED`; the values are not enumerated by the reference).
    #[serde(default, deserialize_with = "lenient::text")]
    pub rejection_cause: Option<String>,
    /// Free text written by an operator: may name the customer.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub rejection_message: Option<Personal<String>>,
    /// Free text written by an operator on acceptance. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub acceptation_message: Option<Personal<String>>,
    /// The company taking part, if any.
    #[serde(default, deserialize_with = "lenient::object")]
    pub legal_entity: Option<LegalEntity>,
    /// Legal archive id, kept by Namirial only ~3 months after closure: store it.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub record_id: Option<String>,
    /// Where the legal archiving stands.
    pub archiving_state: Option<ArchivingState>,
    /// `externalId`.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub external_id: Option<String>,
    /// `productUuid`.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub product_uuid: Option<String>,
    /// `productName`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub product_name: Option<String>,
    /// `workflowUuid`.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub workflow_uuid: Option<String>,
    /// `workflowName`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub workflow_name: Option<String>,
    /// `workflowLabel`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub workflow_label: Option<String>,
    /// The group the file belongs to.
    #[serde(default, deserialize_with = "lenient::object")]
    pub group: Option<Group>,
    /// Appendices.
    #[serde(default, deserialize_with = "lenient::list")]
    pub appendices: Vec<Appendix>,
}

/// A company taking part in the file (only for workflows with legal entities).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegalEntity {
    /// The company's name.
    #[serde(default, deserialize_with = "lenient::text")]
    pub name: Option<String>,
    /// SIRET or SIREN.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub company_id: Option<String>,
    /// What the registry said about it.
    #[serde(default, deserialize_with = "lenient::object")]
    pub data: Option<LegalEntityData>,
    /// The company's postal address.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub postal_address: Option<Value>,
    /// The company's IBAN. Personal data (it may be a sole trader's).
    #[serde(default, deserialize_with = "lenient::personal")]
    pub iban: Option<Personal<String>>,
}

/// What the third-party registry said about the legal entity.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegalEntityData {
    /// The registry checks.
    pub controls: Option<Controls>,
    /// The registry's data.
    #[serde(default, deserialize_with = "lenient::object")]
    pub extra_data: Option<ExtraData>,
}

/// `group`: the group a client file belongs to.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The group's uuid.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub uuid: Option<String>,
    /// The group's label.
    #[serde(default, deserialize_with = "lenient::text")]
    pub label: Option<String>,
    /// `defaultGroup`.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub default_group: Option<bool>,
}

/// An appendix of the client file.
#[derive(Debug, Clone, Deserialize)]
pub struct Appendix {
    /// The appendix's id.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub id: Option<String>,
    /// Its file in the archive.
    #[serde(default, deserialize_with = "lenient::object")]
    pub file: Option<FileRef>,
}

impl Report {
    /// Parses report.json bytes and checks they are a V6 report.
    ///
    /// Errors keep positions and JSON paths only, never serde's message, which can quote a
    /// (personal) value.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, TrustSignError> {
        Self::from_slice_in(bytes, iso8601::DEFAULT_ZONE)
    }

    /// [`Report::from_slice`], reading a date without an offset in `zone`.
    pub fn from_slice_in(bytes: &[u8], zone: chrono_tz::Tz) -> Result<Self, TrustSignError> {
        lenient::begin(None);
        lenient::set_zone(zone);
        let parsed = Self::parse(bytes);
        let zoneless = lenient::zoneless();
        let mismatches = lenient::end();
        let mut report = parsed?;
        report.zoneless_dates = zoneless;
        report.time_zone = zone;
        if mismatches > 0 {
            report.type_mismatches = Self::locate_mismatches(bytes, mismatches);
        }
        Ok(report)
    }

    /// Parses again, failing at each of the first mismatches in turn, for their JSON paths.
    fn locate_mismatches(bytes: &[u8], count: usize) -> TypeMismatches {
        let located = (0..count.min(lenient::MAX_LOCATED))
            .map(|n| {
                lenient::begin(Some(n));
                let mut de = serde_json::Deserializer::from_slice(bytes);
                let result = serde_path_to_error::deserialize::<_, Report>(&mut de);
                lenient::end();
                let unlocated = || TypeMismatch {
                    path: "?".into(),
                    expected: "?".into(),
                    found: "?".into(),
                };
                match result {
                    Err(e) => match lenient::parse_marker(&e.inner().to_string()) {
                        Some((expected, found)) => TypeMismatch {
                            path: e.path().to_string(),
                            expected,
                            found,
                        },
                        None => unlocated(),
                    },
                    Ok(_) => unlocated(),
                }
            })
            .collect();
        TypeMismatches { count, located }
    }

    fn parse(bytes: &[u8]) -> Result<Self, TrustSignError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let report: Report = match serde_path_to_error::deserialize(&mut de) {
            Ok(report) => report,
            Err(err) => return Err(classify_error(bytes, err)),
        };
        // Trailing bytes after the value make it something other than one JSON document.
        if let Err(e) = de.end() {
            return Err(TrustSignError::ReportNotJson {
                line: e.line(),
                column: e.column(),
            });
        }
        if let Some(v) = report.version.as_ref().filter(|v| !v.is_null()) {
            if !names_v6(v) {
                return Err(not_v6(NotV6Reason::OtherVersion(describe_version(v))));
            }
        }
        if report.date.is_none() {
            return Err(not_v6(NotV6Reason::MissingField("date")));
        }
        if report.client_file.is_none() {
            return Err(not_v6(NotV6Reason::MissingField("clientFile")));
        }
        Ok(report)
    }

    /// The client file; always present on a report returned by [`Report::from_slice`].
    pub fn client_file(&self) -> Option<&ClientFile> {
        self.client_file.as_ref()
    }

    /// The client file's participants (none without a client file).
    pub fn participants(&self) -> &[Participant] {
        self.client_file
            .as_ref()
            .map(|c| c.participants.as_slice())
            .unwrap_or_default()
    }
}

fn not_v6(reason: NotV6Reason) -> TrustSignError {
    TrustSignError::NotV6 { reason }
}

/// A `version` that is not 6, as the failed event records it: its type, and a short clipped
/// form of a string or number (the field is untrusted: a huge value must not reach an item).
fn describe_version(v: &Value) -> String {
    const SHOWN: usize = 32;
    match v {
        Value::String(s) => format!("the string {:?}", lenient::clip_owned(s.clone(), SHOWN)),
        Value::Number(n) => format!("the number {}", lenient::clip_owned(n.to_string(), SHOWN)),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        Value::Null => "null".into(),
    }
}

fn names_v6(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_u64() == Some(6),
        Value::String(s) => {
            let s = s.trim().trim_start_matches(['v', 'V']);
            s == "6" || s.starts_with("6.")
        }
        _ => false,
    }
}

/// Sorts a failed parse into "not JSON", "JSON but not a V6 report" and "V6 but a field has
/// an unexpected type". Only the error path pays for the second, untyped parse.
fn classify_error(
    bytes: &[u8],
    err: serde_path_to_error::Error<serde_json::Error>,
) -> TrustSignError {
    let inner = err.inner();
    if inner.to_string().starts_with(lenient::TOO_MANY) {
        return TrustSignError::TooComplex {
            limit: lenient::MAX_ELEMENTS,
        };
    }
    let (line, column) = (inner.line(), inner.column());
    if inner.is_syntax() || inner.is_eof() || inner.is_io() {
        return TrustSignError::ReportNotJson { line, column };
    }
    // Only the top level's shape is read again (other fields skipped, nothing kept): the
    // error path must not build the whole report as a value either.
    let is_object = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if !is_object {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => not_v6(NotV6Reason::NotAnObject),
            Err(_) => TrustSignError::ReportNotJson { line, column },
        };
    }
    match serde_json::from_slice::<TopShape>(bytes) {
        Ok(top) => {
            if let Some(v) = top.version.filter(|v| !v.is_null() && !names_v6(v)) {
                not_v6(NotV6Reason::OtherVersion(describe_version(&v)))
            } else if !top.client_file.is_some_and(|o| o.0) {
                not_v6(NotV6Reason::MissingField("clientFile"))
            } else {
                TrustSignError::ReportSchema {
                    path: err.path().to_string(),
                    line,
                    column,
                }
            }
        }
        Err(_) => TrustSignError::ReportNotJson { line, column },
    }
}

/// The top level of a report, for sorting errors: its version and whether `clientFile` is an
/// object; every other field skipped.
#[derive(Deserialize)]
struct TopShape {
    #[serde(default, deserialize_with = "lenient::opt_value")]
    version: Option<Value>,
    #[serde(rename = "clientFile", default)]
    client_file: Option<IsObject>,
}

/// Whether a value is an object (its content skipped).
struct IsObject(bool);

impl<'de> Deserialize<'de> for IsObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let any = serde::de::IgnoredAny;
        struct V(serde::de::IgnoredAny);
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = IsObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<IsObject, A::Error> {
                while m
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(IsObject(true))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> Result<IsObject, A::Error> {
                while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(IsObject(false))
            }
            fn visit_bool<E>(self, _: bool) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_str<E>(self, _: &str) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
            fn visit_unit<E>(self) -> Result<IsObject, E> {
                Ok(IsObject(false))
            }
        }
        d.deserialize_any(V(any))
    }
}

#[cfg(test)]
mod tests;

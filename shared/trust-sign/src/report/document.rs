//! Supporting documents (`documents[]`, and `identityChecks[].idDocument` which has the same
//! shape), their controls, extracted data and per-family details.

use super::lenient;
use super::types::{open_enum, Timestamp};
use kyc_core::redact::Personal;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

open_enum!(
    /// `validation` of a document or face match.
    Validation {
        Validated => "VALIDATED",
        ValidationFailure => "VALIDATION_FAILURE",
        NotValidated => "NOT_VALIDATED",
    }
);

open_enum!(
    /// `controls.liveCheckRefuseReason.reason`.
    LiveCheckReason {
        Fraud => "FRAUD",
        DocumentInsufficientQuality => "DOCUMENT_INSUFFICIENT_QUALITY",
        DocumentIncorrectlyFramed => "DOCUMENT_INCORRECTLY_FRAMED",
        DocumentSideMissing => "DOCUMENT_SIDE_MISSING",
        DocumentExpired => "DOCUMENT_EXPIRED",
        DocumentUnsupported => "DOCUMENT_UNSUPPORTED",
        DocumentCountryUnauthorized => "DOCUMENT_COUNTRY_UNAUTHORIZED",
        DocumentUnsupportedReceiptAck => "DOCUMENT_UNSUPPORTED_RECEIPT_ACK",
        BiometryInsufficientQuality => "BIOMETRY_INSUFFICIENT_QUALITY",
        LiveCheckExpired => "LIVE_CHECK_EXPIRED",
        InvalidRequest => "INVALID_REQUEST",
        InternalError => "INTERNAL_ERROR",
        OtherReason => "OTHER",
    }
);

/// A file of the archive named by the report. The name often contains the customer's name.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileRef {
    /// The file's name in the archive. Personal data.
    #[serde(default, deserialize_with = "lenient::personal_or_empty")]
    pub name: Personal<String>,
    /// `mimeType`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub mime_type: Option<String>,
}

/// One entry of `documents[]` (also the shape of `identityChecks[].idDocument`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// The document's files in the archive.
    #[serde(default, deserialize_with = "lenient::list")]
    pub files: Vec<FileRef>,
    /// `type#name#os` of the client application.
    #[serde(default, deserialize_with = "lenient::text")]
    pub source: Option<String>,
    /// `attachmentId`.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub attachment_id: Option<String>,
    /// The document's id.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub id: Option<String>,
    /// The document's category.
    #[serde(default, deserialize_with = "lenient::text")]
    pub category: Option<String>,
    /// `type`: the document's type.
    #[serde(rename = "type")]
    #[serde(default, deserialize_with = "lenient::text")]
    pub doc_type: Option<String>,
    /// The task that collected it.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub task_id: Option<String>,
    /// When it was collected.
    pub date: Option<Timestamp>,
    /// The participant it belongs to.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub participant_uuid: Option<String>,
    /// Present on identity-check documents (`participant_1`, `SIGNER`...).
    #[serde(default, deserialize_with = "lenient::ident")]
    pub owner: Option<String>,
    /// The validation's state.
    pub validation: Option<Validation>,
    /// `areControlsObsolete`: the file was updated after the document was submitted.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub are_controls_obsolete: Option<bool>,
    /// The file is not in the archive when true; its controls still are in the report.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub anonymized: Option<bool>,
    /// The document's label.
    #[serde(default, deserialize_with = "lenient::text")]
    pub label: Option<String>,
    /// The channel the document was submitted through.
    #[serde(default, deserialize_with = "lenient::text")]
    pub channel: Option<String>,
    /// `IPAddress` of the uploader. Personal data.
    #[serde(rename = "IPAddress")]
    #[serde(default, deserialize_with = "lenient::personal")]
    pub ip_address: Option<Personal<String>>,
    /// Error codes.
    #[serde(default, deserialize_with = "lenient::codes")]
    pub errors: Vec<Value>,
    /// Warning codes.
    #[serde(default, deserialize_with = "lenient::codes")]
    pub warnings: Vec<Value>,
    /// Present only when a decision aid (Prevent) was used.
    pub controls: Option<Controls>,
    /// What was extracted from it.
    #[serde(default, deserialize_with = "lenient::object")]
    pub data: Option<DocumentData>,
    /// Third-party data about it.
    #[serde(default, deserialize_with = "lenient::object")]
    pub extra_data: Option<ExtraData>,
    /// The fields of its document family.
    #[serde(default, deserialize_with = "lenient::object")]
    pub document_details: Option<DocumentDetails>,
}

impl Document {
    /// True when the file is not in the archive (`anonymized`).
    pub fn is_anonymized(&self) -> bool {
        self.anonymized == Some(true)
    }
}

/// `controls`: named checks (booleans, keyword lists) plus per-owner arrays. The set of names is
/// open (new controls appear, old ones are deprecated), so plain names map to raw values and
/// [`crate::controls`] gives each its polarity.
///
/// Read in a stream, never buffered whole: controls the reference shows (documented or
/// inferred) are always kept; controls it never shows are kept up to
/// [`MAX_UNKNOWN_CONTROLS`] per object and only counted beyond (their polarity is unknown, so
/// they never change a verdict) — a report cannot grow memory with made-up control names.
#[derive(Debug, Clone, Default)]
pub struct Controls {
    /// Per-participant comparisons between the file and the document.
    pub participants: Vec<OwnerControls>,
    /// Deprecated tax-notice comparisons against the (closed) tax service, per participant.
    pub fr_tax_notice: Vec<OwnerControls>,
    /// Legal-entity agent comparisons (`legalEntity.data.controls.agents`).
    pub agents: Vec<OwnerControls>,
    /// `liveCheckRefuseReason`: why the live check refused.
    pub live_check_refuse_reason: Option<LiveCheckRefuseReason>,
    /// Every other control by name.
    pub checks: BTreeMap<String, Value>,
    /// Controls of unknown polarity skipped beyond [`MAX_UNKNOWN_CONTROLS`].
    pub unknown_omitted: usize,
}

/// Controls of unknown polarity kept per `controls` object (real reports have a handful).
pub const MAX_UNKNOWN_CONTROLS: usize = 64;

/// Controls about one owner (`owner` is a participant uuid).
#[derive(Debug, Clone, Default)]
pub struct OwnerControls {
    /// The participant uuid the controls are about.
    pub owner: Option<String>,
    /// The controls by name.
    pub checks: BTreeMap<String, Value>,
    /// Controls of unknown polarity skipped beyond [`MAX_UNKNOWN_CONTROLS`].
    pub unknown_omitted: usize,
}

/// Keeps a control's value, or counts it when it is one unknown control too many.
fn keep_check<'de, A: serde::de::MapAccess<'de>>(
    map: &mut A,
    name: String,
    checks: &mut BTreeMap<String, Value>,
    unknown_kept: &mut usize,
    omitted: &mut usize,
) -> Result<(), A::Error> {
    if crate::controls::lookup(&name).is_some() {
        checks.insert(name, map.next_value_seed(lenient::BoundedValue)?);
    } else if *unknown_kept < MAX_UNKNOWN_CONTROLS {
        *unknown_kept += 1;
        checks.insert(name, map.next_value_seed(lenient::BoundedValue)?);
    } else {
        map.next_value::<serde::de::IgnoredAny>()?;
        *omitted += 1;
    }
    Ok(())
}

impl<'de> Deserialize<'de> for Controls {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Controls;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a controls object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Controls, A::Error> {
                let mut c = Controls::default();
                let mut unknown = 0;
                while let Some(name) = map.next_key::<String>()? {
                    match name.as_str() {
                        "participants" => c.participants = map.next_value_seed(Owners)?,
                        "frTaxNotice" => c.fr_tax_notice = map.next_value_seed(Owners)?,
                        "agents" => c.agents = map.next_value_seed(Owners)?,
                        "liveCheckRefuseReason" => {
                            c.live_check_refuse_reason = map.next_value_seed(LenientObject)?
                        }
                        _ => keep_check(
                            &mut map,
                            name,
                            &mut c.checks,
                            &mut unknown,
                            &mut c.unknown_omitted,
                        )?,
                    }
                }
                Ok(c)
            }
        }
        d.deserialize_map(V)
    }
}

/// Per-owner control lists, counted against the report's element budget.
struct Owners;

impl<'de> serde::de::DeserializeSeed<'de> for Owners {
    type Value = Vec<OwnerControls>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        lenient::elements(d)
    }
}

/// `liveCheckRefuseReason` read leniently (display only).
struct LenientObject;

impl<'de> serde::de::DeserializeSeed<'de> for LenientObject {
    type Value = Option<LiveCheckRefuseReason>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        lenient::object(d)
    }
}

impl<'de> Deserialize<'de> for OwnerControls {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OwnerControls;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an owner's controls")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<OwnerControls, A::Error> {
                let mut c = OwnerControls::default();
                let mut unknown = 0;
                while let Some(name) = map.next_key::<String>()? {
                    if name == "owner" {
                        c.owner = map.next_value_seed(LenientIdent)?;
                    } else {
                        keep_check(
                            &mut map,
                            name,
                            &mut c.checks,
                            &mut unknown,
                            &mut c.unknown_omitted,
                        )?;
                    }
                }
                Ok(c)
            }
        }
        d.deserialize_map(V)
    }
}

/// `owner` read as an identifier (string or number).
struct LenientIdent;

impl<'de> serde::de::DeserializeSeed<'de> for LenientIdent {
    type Value = Option<String>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        lenient::ident(d)
    }
}

/// `liveCheckRefuseReason`: why a live check refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveCheckRefuseReason {
    /// The reason.
    pub reason: Option<LiveCheckReason>,
    /// `subReason`, as written.
    #[serde(default, deserialize_with = "lenient::text")]
    pub sub_reason: Option<String>,
}

/// `data`: what Prevent or MiTrust extracted. For identity documents: pages, MRZ, holder and
/// document information; other families put free-form data here, kept as personal data.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentData {
    /// How many pages (not read: display only).
    #[serde(default, deserialize_with = "lenient::count")]
    pub pages: usize,
    /// The document's machine-readable zone.
    #[serde(default, deserialize_with = "lenient::object")]
    pub mrz: Option<Mrz>,
    /// What was read of the document and its holder.
    #[serde(default, deserialize_with = "lenient::object")]
    pub informations: Option<IdInformations>,
}

/// `mrz`: the machine-readable zone, line by line. Personal data.
#[derive(Debug, Clone, Deserialize)]
pub struct Mrz {
    /// The first line.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub line1: Option<Personal<String>>,
    /// The second line.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub line2: Option<Personal<String>>,
    /// The third line.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub line3: Option<Personal<String>>,
}

/// `informations`: what was read of an identity document and its holder.
#[derive(Debug, Clone, Deserialize)]
pub struct IdInformations {
    /// The document.
    #[serde(default, deserialize_with = "lenient::object")]
    pub document: Option<IdDocumentInformation>,
    /// Its holder.
    #[serde(default, deserialize_with = "lenient::object")]
    pub holder: Option<Holder>,
}

/// An identity document's own information.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdDocumentInformation {
    /// The document's number. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub number: Option<Personal<String>>,
    /// `issuanceDate`, as written.
    #[serde(default, deserialize_with = "lenient::text")]
    pub issuance_date: Option<String>,
    /// `issuanceCountry`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub issuance_country: Option<String>,
    /// `expirationDate`, as written.
    #[serde(default, deserialize_with = "lenient::text")]
    pub expiration_date: Option<String>,
}

/// An identity document's holder. Every field is personal data.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// `lastName`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub last_name: Option<Personal<String>>,
    /// `firstName`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub first_name: Option<Personal<String>>,
    /// `firstNames`.
    #[serde(default, deserialize_with = "lenient::personal_list")]
    pub first_names: Option<Personal<Vec<String>>>,
    /// `birthName`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_name: Option<Personal<String>>,
    /// `birthDate`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_date: Option<Personal<String>>,
    /// `birthPlace`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_place: Option<Personal<String>>,
    /// `rawAddress`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub raw_address: Option<Personal<String>>,
    /// `gender`.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub gender: Option<Personal<String>>,
}

/// `extraData`: third-party data (company registry for payslips; the deprecated tax service).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtraData {
    /// The company registry's data (payslips).
    #[serde(default, deserialize_with = "lenient::object")]
    pub company_details: Option<CompanyDetails>,
    /// Deprecated since the tax service closed; personal (names, incomes, address).
    #[serde(default, deserialize_with = "lenient::opt_personal_value")]
    pub fr_tax_notice_details: Option<Personal<Value>>,
}

/// A company as the registry describes it (payslip employer, legal entity).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompanyDetails {
    /// `companyId` (SIRET or SIREN).
    #[serde(default, deserialize_with = "lenient::ident")]
    pub company_id: Option<String>,
    /// `legalName`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub legal_name: Option<String>,
    /// `legalForm`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub legal_form: Option<String>,
    /// `registrationDate`, as written.
    #[serde(default, deserialize_with = "lenient::text")]
    pub registration_date: Option<String>,
    /// The company's officers.
    #[serde(default, deserialize_with = "lenient::list")]
    pub legal_agents: Vec<LegalAgent>,
    /// The company's offices.
    #[serde(default, deserialize_with = "lenient::list")]
    pub offices: Vec<Office>,
}

/// A company officer: a natural person, so every identifying field is personal.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegalAgent {
    /// `agentRole`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub agent_role: Option<String>,
    /// `agentFullname`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub agent_fullname: Option<Personal<String>>,
    /// `agentFirstName`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub agent_first_name: Option<Personal<String>>,
    /// `agentLastName`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub agent_last_name: Option<Personal<String>>,
    /// `agentBirthName`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub agent_birth_name: Option<Personal<String>>,
    /// `agentBirthDate`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub agent_birth_date: Option<Personal<String>>,
}

/// A company's office, as the registry describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Office {
    /// `address` (a company's, not a person's).
    #[serde(default, deserialize_with = "lenient::text")]
    pub address: Option<String>,
    /// `city`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub city: Option<String>,
    /// `postalCode`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub postal_code: Option<String>,
    /// `apeCode`: the activity code.
    #[serde(default, deserialize_with = "lenient::text")]
    pub ape_code: Option<String>,
    /// True for the head office.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub main: Option<bool>,
    /// The office's SIRET.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub siret: Option<String>,
}

/// `documentDetails`: the fields of every document family of the reference (a family's fields
/// are simply absent on other families' documents). One flat struct, read in a stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentDetails {
    // Identity documents, invoices, home insurance, pensions/CAF, shared by payslips and tax
    // notices.
    /// `firstName`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub first_name: Option<Personal<String>>,
    /// `lastName`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub last_name: Option<Personal<String>>,
    /// `birthName`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub birth_name: Option<Personal<String>>,
    /// `address`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub address: Option<Personal<String>>,
    /// `issuanceDate`, as written.
    #[serde(default, deserialize_with = "lenient::text")]
    pub issuance_date: Option<String>,
    // Payslips.
    /// The employee's social security number (NIR).
    #[serde(default, deserialize_with = "lenient::personal")]
    pub ssn: Option<Personal<String>>,
    /// The employer's SIRET.
    #[serde(default, deserialize_with = "lenient::ident")]
    pub legal_entity_office_id: Option<String>,
    /// `periodDate`: the payslip's period, as written.
    #[serde(default, deserialize_with = "lenient::text")]
    pub period_date: Option<String>,
    /// `seniorityDate`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub seniority_date: Option<Personal<String>>,
    /// `monthlyNetTaxableIncome`. Personal data.
    #[serde(default, deserialize_with = "lenient::opt_personal_value")]
    pub monthly_net_taxable_income: Option<Personal<Value>>,
    /// `annualNetTaxableIncome`. Personal data.
    #[serde(default, deserialize_with = "lenient::opt_personal_value")]
    pub annual_net_taxable_income: Option<Personal<Value>>,
    // Tax notices.
    /// `reference` of the tax notice. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub reference: Option<Personal<String>>,
    /// `fiscalNumber1`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub fiscal_number1: Option<Personal<String>>,
    /// `fiscalNumber2`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub fiscal_number2: Option<Personal<String>>,
    /// `refIncome`. Personal data.
    #[serde(default, deserialize_with = "lenient::opt_personal_value")]
    pub ref_income: Option<Personal<Value>>,
    /// `incomeYear`.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub income_year: Option<Value>,
    /// `doc2D`: what the notice's 2D-Doc says.
    #[serde(rename = "doc2D", default, deserialize_with = "lenient::object")]
    pub doc_2d: Option<Doc2D>,
    /// Deprecated: income lines per declarant.
    #[serde(default, deserialize_with = "lenient::opt_personal_value")]
    pub incomes_details: Option<Personal<Value>>,
}

/// What the tax notice's 2D-Doc says.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Doc2D {
    /// `signatureDate`, as written.
    #[serde(default, deserialize_with = "lenient::text")]
    pub signature_date: Option<String>,
    /// `fullName1`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub full_name1: Option<Personal<String>>,
    /// `fullName2`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub full_name2: Option<Personal<String>>,
    /// `signedBy`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub signed_by: Option<String>,
    /// `referenceIncome`. Personal data.
    #[serde(default, deserialize_with = "lenient::opt_personal_value")]
    pub reference_income: Option<Personal<Value>>,
    /// `partsCount`.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub parts_count: Option<Value>,
    /// `fiscalNumber1`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub fiscal_number1: Option<Personal<String>>,
    /// `fiscalNumber2`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub fiscal_number2: Option<Personal<String>>,
    /// `assessmentDate`, as written.
    #[serde(default, deserialize_with = "lenient::text")]
    pub assessment_date: Option<String>,
    /// `declarationDate`, as written.
    #[serde(default, deserialize_with = "lenient::text")]
    pub declaration_date: Option<String>,
    /// `taxNoticeReference`. Personal data.
    #[serde(default, deserialize_with = "lenient::personal")]
    pub tax_notice_reference: Option<Personal<String>>,
    /// `incomeYear`.
    #[serde(default, deserialize_with = "lenient::opt_value")]
    pub income_year: Option<Value>,
}

//! The polarity of every control the V6 reference shows: whether `true` is good news or bad
//! news.
//!
//! - Controls its tables describe have a [`Basis::Documented`] polarity, read from the text
//!   (re-checked: a check that *could not be run* — `taxNoticeNotCheckable` "le connecteur ne
//!   peut pas vérifier l'avis... si l'avis est trop ancien", a failed connector, DocVerif
//!   unreachable — is a warning, not a failure of the document).
//! - Controls seen only in the reference's JSON examples (`idPhotoMatch`, `modelValid`,
//!   `frontSideFound`, `securityElementsValid`, `companyAlive`...) get a polarity inferred from
//!   the example and their name, [`Basis::Inferred`], shown as such in every finding.
//! - A control that appears nowhere in the reference is [`Polarity::Unknown`]: reported, never
//!   guessed — a wrong guess would hide a failure or invent one.
//!
//! One table serves every family: the reference gives a name the same meaning wherever it
//! appears (`maxAgeExceeded` on payslips, tax notices, invoices and home insurance alike).

use serde::Serialize;
use serde_json::Value;

/// Where a control's polarity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Described by the reference's text.
    Documented,
    /// Seen in the reference's examples only: inferred from the example and the name.
    Inferred,
}

/// What a control's value means: which value is good, which is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    /// `true` means the check passed (`mrzValid`, `lastNameMatch`...).
    GoodWhenTrue,
    /// `true` means a problem (`documentExpired`, `maxAgeExceeded`, `namesInverted`...).
    BadWhenTrue,
    /// `true` means something worth a look that does not fail the document (a check that
    /// could not be run: `taxNoticeNotCheckable`, `companyConnectorFailed`...).
    WarnWhenTrue,
    /// `false` means a check could not be run (`issuerReferentialConnectorSuccess`).
    WarnWhenFalse,
    /// A keyword list whose entries are errors (`keywordsBlacklist`...).
    BadWhenNonEmpty,
    /// A keyword list whose entries are warnings for the operator.
    WarnWhenNonEmpty,
    /// Described, but says nothing good or bad (`companyConnectorRequested`, `doc2DFound`...).
    Informational,
    /// Not described by the reference.
    Unknown,
}

/// The result of one control's value under its polarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlResult {
    /// The check passed.
    Passed,
    /// The check failed.
    Failed,
    /// Worth a look; does not fail the document.
    Warning,
    /// Informational, `null`, or a value of a type the polarity does not apply to.
    NotApplicable,
    /// Polarity unknown: the raw value is reported, not judged.
    UnknownPolarity,
}

/// Described controls, from the reference's sections, in its order.
const TABLE: &[(&str, Polarity)] = {
    use Polarity::*;
    &[
        // Common to all documents.
        ("documentTypeMatch", GoodWhenTrue),
        // An annotated PDF is worth a look; a tampering sign is the failure.
        ("containsAnnotations", WarnWhenTrue),
        ("containsTamperingSign", BadWhenTrue),
        ("keywordsParticipantAlert", BadWhenNonEmpty),
        ("keywordsOperatorAlert", WarnWhenNonEmpty),
        ("keywordsWhitelist", Informational),
        ("keywordsBlacklist", BadWhenNonEmpty),
        // Identity documents.
        ("documentAppearanceValid", GoodWhenTrue),
        ("mrzValid", GoodWhenTrue),
        ("ocrMrzDocumentNumberMatch", GoodWhenTrue),
        ("ocrMrzBirthNameMatch", GoodWhenTrue),
        ("ocrMrzLastNameMatch", GoodWhenTrue),
        ("ocrMrzFirstNamesMatch", GoodWhenTrue),
        ("ocrMrzBirthDateMatch", GoodWhenTrue),
        ("ocrMrzIssuanceDateMatch", GoodWhenTrue),
        ("ocrMrzExpirationDateMatch", GoodWhenTrue),
        ("faithfulFont", GoodWhenTrue),
        ("securityElements", GoodWhenTrue),
        ("documentCountryValid", GoodWhenTrue),
        ("documentExpired", BadWhenTrue),
        // Per participant (identity documents, payslips, tax notices, RIB, invoices...).
        ("firstNameMatch", GoodWhenTrue),
        ("lastNameMatch", GoodWhenTrue),
        ("birthNameMatch", GoodWhenTrue),
        ("birthDateMatch", GoodWhenTrue),
        ("birthPlaceMatch", GoodWhenTrue),
        ("civilityMatch", GoodWhenTrue),
        ("firstLastNamesInverted", BadWhenTrue),
        ("namesInverted", BadWhenTrue),
        // 2D-Doc (identity documents and tax notices). Its absence alone is normal: some
        // documents have none, and the doc2D* comparisons below carry the verdict.
        ("doc2DFound", Informational),
        ("doc2DValid", GoodWhenTrue),
        ("doc2DAndDocumentMatch", GoodWhenTrue),
        ("notSpecimen", GoodWhenTrue),
        // LiveCheck.
        ("liveCheckWorkableElements", GoodWhenTrue),
        ("liveCheckStatusAccepted", GoodWhenTrue),
        // DocVerif issuer referential.
        // False: DocVerif could not be reached, the document was not checked (not refused).
        ("issuerReferentialConnectorSuccess", WarnWhenFalse),
        ("issuerReferentialKnownDocument", GoodWhenTrue),
        ("issuerReferentialValid", GoodWhenTrue),
        ("issuerReferentialHolderValid", GoodWhenTrue),
        // Payslips (dateFound and maxAgeExceeded also on tax notices and invoices).
        ("dateFound", GoodWhenTrue),
        ("maxAgeExceeded", BadWhenTrue),
        // The registry call failed: the company was not checked (not found invalid).
        ("companyConnectorFailed", WarnWhenTrue),
        ("companyConnectorRequested", Informational),
        ("companyIdValid", GoodWhenTrue),
        ("companyOfficeIdValid", GoodWhenTrue),
        ("companyOfficeAlive", GoodWhenTrue),
        ("nirFound", GoodWhenTrue),
        ("nirValid", GoodWhenTrue),
        ("nameFound", GoodWhenTrue),
        ("postalAddressFound", GoodWhenTrue),
        ("postalAddressMatch", GoodWhenTrue),
        // Tax notices.
        ("fiscalNumberFound", GoodWhenTrue),
        ("taxNoticeReferenceFound", GoodWhenTrue),
        ("doc2DAndDocumentTypeMatch", GoodWhenTrue),
        ("doc2DAndFullName1Match", GoodWhenTrue),
        ("doc2DAndFullName2Match", GoodWhenTrue),
        ("doc2DAndIncomeYearMatch", GoodWhenTrue),
        ("doc2DAndReferenceIncomeMatch", GoodWhenTrue),
        ("fullNameMatch", GoodWhenTrue),
        // Tax notices, deprecated (absent since 2023-05, still in older reports).
        ("taxNoticeConnectorRequested", Informational),
        ("taxNoticeConnectorFailed", WarnWhenTrue),
        // "ne peut pas vérifier l'avis... si l'avis est trop ancien": not checked, not failed.
        ("taxNoticeNotCheckable", WarnWhenTrue),
        ("taxNoticeDatesConsistent", GoodWhenTrue),
        ("taxNoticeRefIncomeConsistent", GoodWhenTrue),
        ("taxNoticeReferencesValid", GoodWhenTrue),
        // RIB.
        ("ibanChecksumValid", GoodWhenTrue),
        ("bankCountryValid", GoodWhenTrue),
        ("ibanFound", GoodWhenTrue),
        ("ibanMatch", GoodWhenTrue),
        ("legalEntityIbanMatch", GoodWhenTrue),
        ("legalEntityNameFound", GoodWhenTrue),
        ("legalEntityPostalAddressFound", GoodWhenTrue),
        ("legalEntityPostalAddressMatch", GoodWhenTrue),
    ]
};

/// Controls seen in the reference's JSON examples but described by none of its tables, with
/// the polarity the example and the name give them.
const INFERRED: &[(&str, Polarity)] = {
    use Polarity::*;
    &[
        // Face match section: `"controls": {"idPhotoMatch": true}` on a VALIDATED selfie.
        ("idPhotoMatch", GoodWhenTrue),
        // Identity-document example (all true on a document whose only failure is its age).
        ("modelValid", GoodWhenTrue),
        ("frontSideFound", GoodWhenTrue),
        ("backSideFound", GoodWhenTrue),
        ("securityElementsValid", GoodWhenTrue),
        ("issuanceDateRead", GoodWhenTrue),
        ("expirationDateRead", GoodWhenTrue),
        ("issuanceAndExpirationDateMatch", GoodWhenTrue),
        // Legal entity example (`data.controls`).
        ("companyAlive", GoodWhenTrue),
        ("identifierFormatValid", GoodWhenTrue),
        ("agentNameMatch", GoodWhenTrue),
        // Tax-notice example: a keyword list "for the operator's information".
        ("keywordsOperatorInfo", Informational),
    ]
};

/// A control's polarity and where it comes from; `None` when the reference never shows it.
pub fn lookup(name: &str) -> Option<(Polarity, Basis)> {
    let find = |table: &[(&str, Polarity)]| table.iter().find(|(n, _)| *n == name).map(|(_, p)| *p);
    find(TABLE)
        .map(|p| (p, Basis::Documented))
        .or_else(|| find(INFERRED).map(|p| (p, Basis::Inferred)))
}

/// The polarity of a control (documented or inferred), or [`Polarity::Unknown`].
pub fn polarity(name: &str) -> Polarity {
    lookup(name).map_or(Polarity::Unknown, |(p, _)| p)
}

/// Every described control, for documentation and tests.
pub fn described_controls() -> impl Iterator<Item = (&'static str, Polarity)> {
    TABLE.iter().copied()
}

/// Every control whose polarity is inferred from the examples.
pub fn inferred_controls() -> impl Iterator<Item = (&'static str, Polarity)> {
    INFERRED.iter().copied()
}

/// Judges one control value.
pub fn evaluate(name: &str, value: &Value) -> ControlResult {
    evaluate_with(polarity(name), value)
}

/// Judges one control value under a given polarity.
pub fn evaluate_with(polarity: Polarity, value: &Value) -> ControlResult {
    use ControlResult::*;
    match (polarity, value) {
        (Polarity::Unknown, _) => UnknownPolarity,
        (Polarity::GoodWhenTrue, Value::Bool(b)) => {
            if *b {
                Passed
            } else {
                Failed
            }
        }
        (Polarity::BadWhenTrue, Value::Bool(b)) => {
            if *b {
                Failed
            } else {
                Passed
            }
        }
        (Polarity::WarnWhenTrue, Value::Bool(b)) => {
            if *b {
                Warning
            } else {
                Passed
            }
        }
        (Polarity::WarnWhenFalse, Value::Bool(b)) => {
            if *b {
                Passed
            } else {
                Warning
            }
        }
        (Polarity::BadWhenNonEmpty, Value::Array(a)) => {
            if a.is_empty() {
                Passed
            } else {
                Failed
            }
        }
        (Polarity::WarnWhenNonEmpty, Value::Array(a)) => {
            if a.is_empty() {
                Passed
            } else {
                Warning
            }
        }
        _ => NotApplicable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_issue_examples_have_their_polarity() {
        for bad in [
            "documentExpired",
            "maxAgeExceeded",
            "containsTamperingSign",
            "namesInverted",
        ] {
            assert_eq!(polarity(bad), Polarity::BadWhenTrue, "{bad}");
            assert_eq!(evaluate(bad, &json!(true)), ControlResult::Failed);
            assert_eq!(evaluate(bad, &json!(false)), ControlResult::Passed);
        }
        for good in [
            "mrzValid",
            "lastNameMatch",
            "ibanChecksumValid",
            "doc2DValid",
        ] {
            assert_eq!(polarity(good), Polarity::GoodWhenTrue, "{good}");
            assert_eq!(evaluate(good, &json!(false)), ControlResult::Failed);
        }
    }

    #[test]
    fn controls_nowhere_in_the_reference_are_never_guessed() {
        let reference = include_str!("../tests/fixtures/report-json-v6.fr.txt");
        for name in [
            "fooValid",
            "livenessValid",
            "hologramDetected",
            "faceMatchScore",
        ] {
            assert!(!reference.contains(name), "{name} is in the reference");
            assert_eq!(lookup(name), None, "{name}");
            assert_eq!(
                evaluate(name, &json!(false)),
                ControlResult::UnknownPolarity,
                "{name}"
            );
        }
    }

    #[test]
    fn controls_seen_only_in_the_examples_have_an_inferred_polarity() {
        let reference = include_str!("../tests/fixtures/report-json-v6.fr.txt");
        let inferred: Vec<_> = inferred_controls().collect();
        for name in [
            "idPhotoMatch",
            "modelValid",
            "frontSideFound",
            "backSideFound",
            "securityElementsValid",
            "issuanceDateRead",
            "expirationDateRead",
            "issuanceAndExpirationDateMatch",
            "companyAlive",
            "identifierFormatValid",
            "agentNameMatch",
        ] {
            assert_eq!(
                lookup(name),
                Some((Polarity::GoodWhenTrue, Basis::Inferred)),
                "{name}"
            );
            assert_eq!(evaluate(name, &json!(false)), ControlResult::Failed);
            assert_eq!(evaluate(name, &json!(true)), ControlResult::Passed);
        }
        assert_eq!(
            lookup("keywordsOperatorInfo"),
            Some((Polarity::Informational, Basis::Inferred))
        );
        for (name, _) in &inferred {
            // Seen in a JSON example of the reference, described in none of its tables.
            assert!(
                reference.contains(&format!("\"{name}\": ")),
                "{name} is not in an example"
            );
            assert!(
                described_controls().all(|(n, _)| n != *name),
                "{name} is described: it is not inferred"
            );
        }
    }

    #[test]
    fn checks_that_could_not_be_run_are_warnings_not_failures() {
        // "le connecteur ne peut pas vérifier l'avis. Ceci se produit si l'avis est trop ancien"
        assert_eq!(
            evaluate("taxNoticeNotCheckable", &json!(true)),
            ControlResult::Warning
        );
        assert_eq!(
            evaluate("taxNoticeNotCheckable", &json!(false)),
            ControlResult::Passed
        );
        for name in ["taxNoticeConnectorFailed", "companyConnectorFailed"] {
            assert_eq!(
                evaluate(name, &json!(true)),
                ControlResult::Warning,
                "{name}"
            );
        }
        // "La connexion n'a pas pu être établie": the document was not checked, not refused.
        assert_eq!(
            evaluate("issuerReferentialConnectorSuccess", &json!(false)),
            ControlResult::Warning
        );
        assert_eq!(
            evaluate("issuerReferentialConnectorSuccess", &json!(true)),
            ControlResult::Passed
        );
        // Annotations on a PDF are worth a look; tampering signs are a failure.
        assert_eq!(
            evaluate("containsAnnotations", &json!(true)),
            ControlResult::Warning
        );
        assert_eq!(
            evaluate("containsTamperingSign", &json!(true)),
            ControlResult::Failed
        );
    }

    #[test]
    fn keyword_lists_and_odd_values() {
        assert_eq!(
            evaluate("keywordsBlacklist", &json!(["X"])),
            ControlResult::Failed
        );
        assert_eq!(
            evaluate("keywordsBlacklist", &json!([])),
            ControlResult::Passed
        );
        assert_eq!(
            evaluate("keywordsOperatorAlert", &json!(["X"])),
            ControlResult::Warning
        );
        assert_eq!(
            evaluate("keywordsWhitelist", &json!(["X"])),
            ControlResult::NotApplicable
        );
        assert_eq!(
            evaluate("mrzValid", &Value::Null),
            ControlResult::NotApplicable
        );
        assert_eq!(
            evaluate("mrzValid", &json!("yes")),
            ControlResult::NotApplicable
        );
    }

    #[test]
    fn every_reference_control_name_is_in_the_table_once() {
        let names: Vec<_> = described_controls().map(|(n, _)| n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a control is listed twice");
        // Each name must appear in the reference text itself.
        // A copy of shared/reference/trust-and-sign/report-json-v6.fr.txt, vendored so the test
        // does not depend on what sits beside the checkout.
        let reference = include_str!("../tests/fixtures/report-json-v6.fr.txt");
        for n in names {
            assert!(reference.contains(n), "{n} is not in the reference");
        }
    }
}

//! The polarity of every control the V6 reference describes: whether `true` is good news or
//! bad news. A control the reference does not describe is [`Polarity::Unknown`] and is
//! reported as such, never guessed from its name — a wrong guess would hide a failure or
//! invent one.
//!
//! One table serves every family: the reference gives a name the same meaning wherever it
//! appears (`maxAgeExceeded` on payslips, tax notices, invoices and home insurance alike).
//! Controls seen only in the reference's JSON examples but never described
//! (`idPhotoMatch`, `securityElementsValid`, `modelValid`, `companyAlive`,
//! `identifierFormatValid`, `agentNameMatch`, `keywordsOperatorInfo`...) are Unknown on
//! purpose: add them here once Namirial documents them.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    /// `true` means the check passed (`mrzValid`, `lastNameMatch`...).
    GoodWhenTrue,
    /// `true` means a problem (`documentExpired`, `maxAgeExceeded`, `namesInverted`...).
    BadWhenTrue,
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
    Passed,
    Failed,
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
        ("containsAnnotations", BadWhenTrue),
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
        ("issuerReferentialConnectorSuccess", GoodWhenTrue),
        ("issuerReferentialKnownDocument", GoodWhenTrue),
        ("issuerReferentialValid", GoodWhenTrue),
        ("issuerReferentialHolderValid", GoodWhenTrue),
        // Payslips (dateFound and maxAgeExceeded also on tax notices and invoices).
        ("dateFound", GoodWhenTrue),
        ("maxAgeExceeded", BadWhenTrue),
        ("companyConnectorFailed", BadWhenTrue),
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
        ("taxNoticeConnectorFailed", BadWhenTrue),
        ("taxNoticeNotCheckable", BadWhenTrue),
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

/// The documented polarity of a control, or [`Polarity::Unknown`].
pub fn polarity(name: &str) -> Polarity {
    TABLE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
        .unwrap_or(Polarity::Unknown)
}

/// Every described control, for documentation and tests.
pub fn described_controls() -> impl Iterator<Item = (&'static str, Polarity)> {
    TABLE.iter().copied()
}

/// Judges one control value.
pub fn evaluate(name: &str, value: &Value) -> ControlResult {
    evaluate_with(polarity(name), value)
}

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
    fn undescribed_controls_are_never_guessed() {
        for name in [
            "idPhotoMatch",
            "securityElementsValid",
            "companyAlive",
            "agentNameMatch",
            "fooValid",
        ] {
            assert_eq!(
                evaluate(name, &json!(false)),
                ControlResult::UnknownPolarity,
                "{name}"
            );
        }
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
        let reference = include_str!("../../tests/fixtures/trust_sign/report-json-v6.fr.txt");
        for n in names {
            assert!(reference.contains(n), "{n} is not in the reference");
        }
    }
}

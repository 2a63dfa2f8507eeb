use super::*;
use crate::controls::{self, ControlResult};
use crate::report::Report;
use serde_json::json;

const REFERENCE: &str = include_str!("../../tests/fixtures/report_v6_reference.json");

fn reference() -> ClientFileSummary {
    summarize(&Report::from_slice(REFERENCE.as_bytes()).unwrap())
}

fn failed(c: &CheckVerdict) -> Vec<(String, String)> {
    c.failed_controls
        .iter()
        .map(|f| (f.control.clone(), f.scope.clone()))
        .collect()
}

#[test]
fn id_document_failure_explains_itself() {
    let s = reference();
    let corinne = &s.participants[0];
    let id = &corinne.identity_checks[0];
    assert_eq!(
        (id.kind, id.automatic, id.outcome),
        (CheckKind::IdDocument, Outcome::Failed, Outcome::Failed)
    );
    assert_eq!(
        failed(id),
        vec![("documentExpired".to_string(), "document".to_string())]
    );
    // Seen in the reference's example only: judged on an inferred polarity, marked so.
    let inferred: Vec<_> = id
        .inferred_controls
        .iter()
        .map(|f| (f.control.as_str(), f.result, f.basis))
        .collect();
    for name in [
        "modelValid",
        "securityElementsValid",
        "frontSideFound",
        "issuanceDateRead",
    ] {
        assert!(
            inferred.contains(&(name, ControlResult::Passed, Some(controls::Basis::Inferred))),
            "{name} should be judged on an inferred polarity: {inferred:?}"
        );
    }
    assert!(id.unknown_polarity_controls.is_empty());
    assert_eq!(id.warnings[0].code, json!(2026));
    assert_eq!(corinne.outcome, Outcome::Failed);
}

#[test]
fn face_match_failure_is_overturned_by_a_later_review() {
    let s = reference();
    let fm = &s.participants[0].identity_checks[1];
    assert_eq!(fm.kind, CheckKind::FaceMatch);
    assert_eq!(
        (fm.automatic, fm.outcome),
        (Outcome::Failed, Outcome::Overturned)
    );
    let review = fm.review.as_ref().unwrap();
    assert_eq!((review.accepted, review.canceled), (Some(true), false));
    let photo = &fm.failed_controls[0];
    assert_eq!(
        (photo.control.as_str(), photo.basis),
        ("idPhotoMatch", Some(controls::Basis::Inferred))
    );
    assert!(fm.unknown_polarity_controls.is_empty());
    assert!(s.unlinked_reviews.is_empty());
}

#[test]
fn documents_go_to_their_participant_with_scoped_findings() {
    let s = reference();
    let john = &s.participants[1];
    let lin = &john.identity_checks[0];
    assert_eq!((lin.kind, lin.outcome), (CheckKind::Lin, Outcome::Passed));
    assert_eq!(
        failed(lin),
        vec![("birthName".to_string(), "lin".to_string())]
    );
    let [payslip, tax, rib] = &john.documents[..] else {
        panic!("{:?}", john.documents)
    };
    assert_eq!(payslip.outcome, Outcome::Failed);
    let owner = "participant:72b6fa2e-9e5f-11e5-b08c-448a5bd00f42";
    assert_eq!(
        failed(payslip),
        vec![
            ("maxAgeExceeded".into(), "document".into()),
            ("postalAddressMatch".into(), owner.into())
        ]
    );
    assert!(payslip.notes.iter().any(|n| n.contains("obsolete")));
    // VALIDATED with failed controls: passed, the failures explained as found.
    assert_eq!(tax.outcome, Outcome::Passed);
    assert!(failed(tax).contains(&(
        "namesInverted".into(),
        "frTaxNotice:72b6fa2e-9e5f-11e5-b08c-448a5bd00f42".into()
    )));
    assert!(failed(tax).contains(&("postalAddressFound".into(), owner.into())));
    assert!(tax
        .failed_controls
        .iter()
        .all(|f| f.control != "doc2DFound"));
    assert!(failed(rib).contains(&("keywordsBlacklist".into(), "document".into())));
    assert_eq!(
        rib.failed_controls
            .iter()
            .find(|f| f.control == "keywordsBlacklist")
            .unwrap()
            .value,
        json!(1)
    );
    assert!(rib.notes.iter().any(|n| n.contains("anonymized")));
    assert_eq!(john.outcome, Outcome::Failed);
}

#[test]
fn client_file_summary_and_legal_entity() {
    let s = reference();
    assert_eq!(s.decision, Decision::Rejected);
    assert_eq!(s.rejection_cause.as_deref(), Some("CANCELED"));
    assert_eq!(
        s.record_id.as_deref(),
        Some("a8882b02-e373-11e4-b1d8-bb7ec15a797e")
    );
    assert_eq!(s.client_file_id.as_deref(), Some("10002"));
    assert_eq!(s.external_info["my-identifier"], "123456");
    assert_eq!(s.group_label.as_deref(), Some("Default"));
    // The example's agent name does not match (`agentNameMatch: false`, inferred polarity).
    let le = s.legal_entity.as_ref().unwrap();
    assert_eq!(le.outcome, Outcome::Failed);
    assert_eq!(
        failed(le),
        vec![(
            "agentNameMatch".to_string(),
            "agent:5ab1a3f9-669b-4cce-a834-b7c414ed7063".to_string()
        )]
    );
    let inferred: Vec<_> = le
        .inferred_controls
        .iter()
        .map(|f| f.control.as_str())
        .collect();
    assert_eq!(
        inferred,
        vec!["companyAlive", "identifierFormatValid", "agentNameMatch"]
    );
    assert!(le.unknown_polarity_controls.is_empty());
    let signed = &s.signed_documents[0];
    assert_eq!((signed.clauses, signed.checked), (2, 1));
    assert_eq!(signed.optional_declined, vec!["clause-02"]);
    // REJECTED with an acceptance-free, cause-bearing file: consistent.
    assert!(s.inconsistencies.is_empty(), "{:?}", s.inconsistencies);
}

#[test]
fn summary_json_redacts_personal_data() {
    let text = serde_json::to_string(&reference()).unwrap();
    for needle in [
        "Annulé",
        "Corinne",
        "Berthier",
        "BERTHIER",
        "John",
        "178.20.70.2",
        "880692310285",
    ] {
        assert!(!text.contains(needle), "{needle} leaked into {text}");
    }
    assert!(text.contains("\"decision\":\"rejected\""));
    assert!(text.contains("\"outcome\":\"overturned\""));
}

fn report_with(doc_validation: &str, events: serde_json::Value) -> ClientFileSummary {
    let r = json!({
        "date": "2024-01-02T00:00:00Z",
        "clientFile": {"state": "PENDING", "uuid": "cf", "participants": [{"uuid": "p1"}]},
        "documents": [{"id": "payslip", "taskId": "T1", "participantUuid": "p1", "validation": doc_validation,
            "date": "2024-01-01T10:00:00Z", "controls": {"maxAgeExceeded": true}}],
        "events": events
    });
    summarize(&Report::from_slice(r.to_string().as_bytes()).unwrap())
}

#[test]
fn reviews_apply_only_when_later_linked_and_not_canceled() {
    let review = |date: &str, state: &str| json!({"date": date, "type": "DOCUMENT_REVIEWED", "state": state, "documentId": "payslip"});
    let cancel = |date: &str| json!({"date": date, "type": "REVIEW_CANCELED", "taskId": "T1"});

    let s = report_with(
        "VALIDATION_FAILURE",
        json!([review("2024-01-01T11:00:00Z", "OK")]),
    );
    assert_eq!(s.participants[0].documents[0].outcome, Outcome::Overturned);
    assert_eq!(s.participants[0].outcome, Outcome::Overturned);

    // A review older than the submission does not apply to it; it is listed as unlinked.
    let s = report_with(
        "VALIDATION_FAILURE",
        json!([review("2024-01-01T09:00:00Z", "OK")]),
    );
    assert_eq!(s.participants[0].documents[0].outcome, Outcome::Failed);
    assert_eq!(s.unlinked_reviews.len(), 1);

    // Canceled, then reviewed again KO, in shuffled array order: dates decide.
    let s = report_with(
        "VALIDATION_FAILURE",
        json!([
            review("2024-01-01T13:00:00Z", "KO"),
            cancel("2024-01-01T12:00:00Z"),
            review("2024-01-01T11:00:00Z", "OK")
        ]),
    );
    let d = &s.participants[0].documents[0];
    assert_eq!(d.outcome, Outcome::Failed);
    assert_eq!(d.review.as_ref().unwrap().accepted, Some(false));

    let s = report_with(
        "VALIDATION_FAILURE",
        json!([
            review("2024-01-01T11:00:00Z", "OK"),
            cancel("2024-01-01T12:00:00Z")
        ]),
    );
    let d = &s.participants[0].documents[0];
    assert_eq!(
        (d.outcome, d.review.as_ref().unwrap().canceled),
        (Outcome::Failed, true)
    );

    let s = report_with("VALIDATED", json!([review("2024-01-01T11:00:00Z", "KO")]));
    assert_eq!(
        s.participants[0].documents[0].outcome,
        Outcome::RejectedOnReview
    );

    // Without validation the findings decide; a review of another document is unlinked.
    let s = report_with(
        "",
        json!([{"type": "DOCUMENT_REVIEWED", "state": "OK", "documentId": "other"}]),
    );
    let d = &s.participants[0].documents[0];
    assert_eq!(
        (d.automatic, d.validation.as_deref()),
        (Outcome::Failed, Some(""))
    );
    assert_eq!(s.unlinked_reviews[0].document_id.as_deref(), Some("other"));
}

#[test]
fn inconsistencies_follow_the_reference_rules() {
    let r = json!({"date": "2024-01-02T00:00:00Z", "clientFile": {"state": "REJECTED", "acceptationMessage": "ok"},
        "signedDocuments": [{"id": "c", "consentClauses": [{"id": "x", "required": true, "checked": false}]}]});
    let s = summarize(&Report::from_slice(r.to_string().as_bytes()).unwrap());
    assert_eq!(s.inconsistencies.len(), 4, "{:?}", s.inconsistencies);
}

/// A face match as the reference's face-match section writes one item of `faceMatches`.
fn face_match_item(task: &str, validation: &str, photo_match: bool) -> serde_json::Value {
    json!({"date": "2024-06-17T07:36:19Z", "controls": {"idPhotoMatch": photo_match},
        "files": [{"name": format!("1_john_doe_{task}.jpg"), "mimeType": "image/jpeg"}],
        "expectedSequence": ["front"], "source": "WEB#Chrome_5757#Linux", "participantUuid": "p1",
        "IPAddress": "127.0.0.1", "taskId": task, "validation": validation})
}

fn face_match_report(check: serde_json::Value) -> ClientFileSummary {
    let r = json!({
        "date": "2024-06-18T00:00:00Z",
        "clientFile": {"state": "ACCEPTED", "uuid": "cf", "finishDate": "2024-06-18T00:00:00Z",
            "participants": [{"uuid": "p1", "identityChecks": [check]}]},
        "events": [
            {"date": "2024-06-17T10:02:00Z", "state": "OK", "type": "FACE_MATCH_REVIEWED", "taskId": "1_FM_1"}
        ]
    });
    summarize(&Report::from_slice(r.to_string().as_bytes()).unwrap())
}

fn face_matches(s: &ClientFileSummary) -> Vec<(String, Option<String>, Outcome, Outcome)> {
    s.participants[0]
        .identity_checks
        .iter()
        .filter(|c| c.kind == CheckKind::FaceMatch)
        .map(|c| (c.locator.clone(), c.task_id.clone(), c.automatic, c.outcome))
        .collect()
}

#[test]
fn face_matches_nested_in_a_face_match_object_are_each_judged_and_reviewed() {
    // The reference's face-match section: `faceMatch` holds a `faceMatches` array.
    let s = face_match_report(json!({"faceMatch": {"faceMatches": [
        face_match_item("1_FM_1", "VALIDATION_FAILURE", false),
        face_match_item("1_FM_2", "VALIDATED", true),
    ]}}));
    let base = "clientFile.participants[0].identityChecks[0]";
    assert_eq!(
        face_matches(&s),
        vec![
            (
                format!("{base}.faceMatch.faceMatches[0]"),
                Some("1_FM_1".into()),
                Outcome::Failed,
                Outcome::Overturned
            ),
            (
                format!("{base}.faceMatch.faceMatches[1]"),
                Some("1_FM_2".into()),
                Outcome::Passed,
                Outcome::Passed
            ),
        ]
    );
    assert!(s.unlinked_reviews.is_empty(), "{:?}", s.unlinked_reviews);
    assert_eq!(s.participants[0].outcome, Outcome::Overturned);
}

#[test]
fn face_matches_as_a_single_object_or_an_array_are_judged_too() {
    let base = "clientFile.participants[0].identityChecks[0]";
    let single = face_match_report(
        json!({"faceMatch": face_match_item("1_FM_1", "VALIDATION_FAILURE", false)}),
    );
    assert_eq!(
        face_matches(&single),
        vec![(
            format!("{base}.faceMatch"),
            Some("1_FM_1".into()),
            Outcome::Failed,
            Outcome::Overturned
        )]
    );
    let array = face_match_report(
        json!({"faceMatch": [face_match_item("1_FM_1", "VALIDATION_FAILURE", false)]}),
    );
    assert_eq!(face_matches(&array)[0].0, format!("{base}.faceMatch[0]"));
    assert_eq!(face_matches(&array)[0].3, Outcome::Overturned);
    let sibling = face_match_report(
        json!({"faceMatches": [face_match_item("1_FM_1", "VALIDATION_FAILURE", false)]}),
    );
    assert_eq!(
        face_matches(&sibling)[0].0,
        format!("{base}.faceMatches[0]")
    );
    assert_eq!(face_matches(&sibling)[0].3, Outcome::Overturned);
    for s in [&single, &array, &sibling] {
        assert!(s.unlinked_reviews.is_empty());
    }
}

#[test]
fn a_tax_notice_too_old_to_check_is_a_warning_not_a_failure() {
    let r = json!({
        "date": "2024-01-02T00:00:00Z",
        "clientFile": {"state": "PENDING", "uuid": "cf", "participants": [{"uuid": "p1"}]},
        "documents": [{"id": "tax", "participantUuid": "p1", "type": "TAX_NOTICE",
            "controls": {"documentTypeMatch": true, "dateFound": true, "maxAgeExceeded": false,
                "taxNoticeNotCheckable": true, "participants": [{"owner": "p1", "nameFound": true}]}}]
    });
    let s = summarize(&Report::from_slice(r.to_string().as_bytes()).unwrap());
    let d = &s.participants[0].documents[0];
    assert!(d.failed_controls.is_empty(), "{:?}", d.failed_controls);
    assert_eq!(d.warning_controls[0].control, "taxNoticeNotCheckable");
    assert_eq!(
        d.warning_controls[0].basis,
        Some(controls::Basis::Documented)
    );
    assert_eq!(d.outcome, Outcome::Passed);
}

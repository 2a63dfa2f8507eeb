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
fn face_match_failure_reviewed_later_awaits_a_person_unless_the_outcome_is_read() {
    // The reference's review event says `state: OK` only: the event succeeded, the review's
    // outcome is not said. Read as `event-state` (a bank's confirmed choice) it is accepted.
    let s = reference();
    let fm = &s.participants[0].identity_checks[1];
    assert_eq!(fm.kind, CheckKind::FaceMatch);
    assert_eq!(
        (fm.automatic, fm.outcome),
        (Outcome::Failed, Outcome::ReviewedOutcomeUnknown)
    );
    let s = summarize_with(
        &Report::from_slice(REFERENCE.as_bytes()).unwrap(),
        &ReviewOutcome::EventState,
    );
    let fm = &s.participants[0].identity_checks[1];
    assert_eq!(fm.outcome, Outcome::Overturned);
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
    assert_eq!(s.external_info_keys, vec!["my-identifier".to_string()]);
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
    assert!(text.contains("\"outcome\":\"reviewed_outcome_unknown\""));
    // externalInfo's values are the bank's business data: its keys only.
    assert!(!text.contains("123456"), "{text}");
}

fn report_with(doc_validation: &str, events: serde_json::Value) -> ClientFileSummary {
    let r = json!({
        "date": "2024-01-02T00:00:00Z",
        "clientFile": {"state": "PENDING", "uuid": "cf", "participants": [{"uuid": "p1"}]},
        "documents": [{"id": "payslip", "taskId": "T1", "participantUuid": "p1", "validation": doc_validation,
            "date": "2024-01-01T10:00:00Z", "controls": {"maxAgeExceeded": true}}],
        "events": events
    });
    summarize_with(
        &Report::from_slice(r.to_string().as_bytes()).unwrap(),
        &ReviewOutcome::EventState,
    )
}

#[test]
fn reviews_apply_only_when_later_linked_and_not_canceled() {
    // Read as `event-state` (OK accepts, KO rejects): the linking and ordering rules.
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
    // Reviews read from their `state` (a bank's confirmed choice): these tests are about the
    // shapes and the linking, not the reading.
    summarize_with(
        &Report::from_slice(r.to_string().as_bytes()).unwrap(),
        &ReviewOutcome::EventState,
    )
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

// --- Issue 23: fraud marks, per-participant reviews, explicit review outcomes, NOT_VALIDATED.
// Written against the generator's scenarios (testkit/trust-sign-gen), judged as JSON so they
// read the same before and after the model gained its fields.

fn generated(kind: trust_sign_gen::Kind) -> Report {
    let json = trust_sign_gen::report_json(kind).to_string();
    Report::from_slice(json.as_bytes()).unwrap()
}

fn as_json(s: &ClientFileSummary) -> serde_json::Value {
    serde_json::to_value(s).unwrap()
}

#[test]
fn a_fraud_marked_document_fails_whatever_its_validation_and_reviews_say() {
    let report = generated(trust_sign_gen::Kind::FraudMarked);
    for reading in [
        ReviewOutcome::Unconfirmed,
        ReviewOutcome::EventState,
        ReviewOutcome::parse("field:reviewState=ACCEPTED/REJECTED").unwrap(),
    ] {
        let s = summarize_with(&report, &reading);
        let card = &s.participants[0].identity_checks[0];
        assert_eq!(card.kind, CheckKind::IdDocument);
        assert_eq!(card.validation.as_deref(), Some("VALIDATED"));
        assert_eq!(card.automatic, Outcome::Passed);
        // Reviewed (OK) after the mark: still failed, for the mark.
        assert!(card.review.is_some());
        assert_eq!(
            (card.outcome, card.reason),
            (Outcome::Failed, Some(FRAUD_MARKED))
        );
        assert_eq!(card.fraud_marks.len(), 1);
        assert_eq!(card.fraud_marks[0].linked_by, Some("taskId"));
        assert!(s.participants[0].fraud_marked);
        assert_eq!(s.participants[0].outcome, Outcome::Failed);
        assert!(!s.participants[1].fraud_marked);
        assert!(s.fraud_marked);
        assert!(s.unlinked_fraud_marks.is_empty());
        let j = as_json(&s);
        assert_eq!(j["fraudMarked"], true);
        assert_eq!(
            j["participants"][0]["identity_checks"][0]["reason"],
            "fraudMarked"
        );
    }
}

#[test]
fn a_fraud_mark_without_a_task_id_links_by_the_attached_submission_event() {
    let r = json!({
        "date": "2024-01-02T00:00:00Z",
        "clientFile": {"state": "ACCEPTED", "uuid": "cf", "participants": [{"uuid": "p1"}]},
        "documents": [{"id": "payslip", "taskId": "T1", "participantUuid": "p1", "validation": "VALIDATED"}],
        "events": [{"type": "DEFRAUDED_DOCUMENT_REGISTRATION", "date": "2024-01-01T12:00:00Z",
            "attached": {"type": "DOCUMENT_SUBMISSION", "taskId": "T1"}}]
    });
    let s = summarize(&Report::from_slice(r.to_string().as_bytes()).unwrap());
    let d = &s.participants[0].documents[0];
    assert_eq!((d.outcome, d.reason), (Outcome::Failed, Some(FRAUD_MARKED)));
    assert_eq!(d.fraud_marks[0].linked_by, Some("attached.taskId"));
}

#[test]
fn an_unlinked_fraud_mark_is_still_a_failure_of_the_file() {
    let s = summarize(&generated(trust_sign_gen::Kind::FraudUnlinked));
    assert!(s.fraud_marked);
    assert_eq!(s.unlinked_fraud_marks.len(), 1);
    assert_eq!(s.unlinked_fraud_marks[0].task_id.as_deref(), Some("9_9"));
    assert_eq!(s.unlinked_fraud_marks[0].linked_by, None);
    // Nobody's check is marked: the flag is the file's.
    assert!(s.participants.iter().all(|p| !p.fraud_marked));
}

#[test]
fn a_review_of_another_participants_document_does_not_overturn_a_failure() {
    let report = generated(trust_sign_gen::Kind::ReviewOtherParticipant);
    for reading in [ReviewOutcome::Unconfirmed, ReviewOutcome::EventState] {
        let s = summarize_with(&report, &reading);
        let corinne = &s.participants[0].identity_checks[0];
        let john = &s.participants[1].identity_checks[0];
        assert_eq!(
            (corinne.task_id.as_deref(), corinne.document_id.as_deref()),
            (Some("1_1"), Some("ID_CARD"))
        );
        assert_eq!(
            (john.task_id.as_deref(), john.document_id.as_deref()),
            (Some("2_1"), Some("ID_CARD"))
        );
        // Corinne's failure stands: no review is hers.
        assert_eq!(corinne.outcome, Outcome::Failed);
        assert!(corinne.review.is_none());
        // John's review is linked by its task.
        assert_eq!(john.review.as_ref().unwrap().linked_by, Some("taskId"));
        // The review naming only `ID_CARD` (two documents have it) links to nobody.
        assert_eq!(s.unlinked_reviews.len(), 1);
        assert_eq!(s.unlinked_reviews[0].task_id, None);
        assert_eq!(
            s.unlinked_reviews[0].document_id.as_deref(),
            Some("ID_CARD")
        );
    }
    let s = summarize_with(&report, &ReviewOutcome::EventState);
    assert_eq!(
        s.participants[1].identity_checks[0].outcome,
        Outcome::Passed
    );
}

#[test]
fn a_document_id_links_only_when_the_event_has_no_task_id_and_the_id_is_unique() {
    // Unique `payslip`, no task id on the event: linked by document id.
    let review = json!({"date": "2024-01-01T11:00:00Z", "type": "DOCUMENT_REVIEWED", "state": "OK",
        "documentId": "payslip"});
    let s = report_with_reading(
        "VALIDATION_FAILURE",
        json!([review]),
        &ReviewOutcome::EventState,
    );
    let d = &s.participants[0].documents[0];
    assert_eq!(d.outcome, Outcome::Overturned);
    assert_eq!(d.review.as_ref().unwrap().linked_by, Some("documentId"));
    // A task id on the event decides alone: another task's review is not this document's,
    // even with the same document id.
    let review = json!({"date": "2024-01-01T11:00:00Z", "type": "DOCUMENT_REVIEWED", "state": "OK",
        "taskId": "T2", "documentId": "payslip"});
    let s = report_with_reading(
        "VALIDATION_FAILURE",
        json!([review]),
        &ReviewOutcome::EventState,
    );
    assert_eq!(s.participants[0].documents[0].outcome, Outcome::Failed);
    assert_eq!(s.unlinked_reviews.len(), 1);
    // REVIEW_CANCELED follows the same rule: one naming another task cancels nothing.
    let s = report_with_reading(
        "VALIDATION_FAILURE",
        json!([
            {"date": "2024-01-01T11:00:00Z", "type": "DOCUMENT_REVIEWED", "state": "OK", "taskId": "T1"},
            {"date": "2024-01-01T12:00:00Z", "type": "REVIEW_CANCELED", "taskId": "T2", "documentId": "payslip"}
        ]),
        &ReviewOutcome::EventState,
    );
    let d = &s.participants[0].documents[0];
    assert_eq!(
        (d.outcome, d.review.as_ref().unwrap().canceled),
        (Outcome::Overturned, false)
    );
}

#[test]
fn a_review_without_a_readable_acceptance_awaits_a_person() {
    // The reference's only shape: FACE_MATCH_REVIEWED with `state: OK` and no acceptance
    // field. `state` is the event's success: by default it is not read as "accepted".
    let report = generated(trust_sign_gen::Kind::FaceMatchOverturned);
    let s = summarize(&report);
    let fm = &s.participants[0].identity_checks[1];
    assert_eq!(fm.kind, CheckKind::FaceMatch);
    assert_eq!(
        (fm.automatic, fm.outcome),
        (Outcome::Failed, Outcome::ReviewedOutcomeUnknown)
    );
    let review = fm.review.as_ref().unwrap();
    assert_eq!(
        (
            review.accepted,
            review.event_state.as_deref(),
            review.reading.as_str()
        ),
        (None, Some("OK"), "unconfirmed")
    );
    assert_eq!(s.reviewed_outcome_unknown, 1);
    assert_eq!(s.participants[0].outcome, Outcome::ReviewedOutcomeUnknown);
    // A bank that confirmed `state` carries the outcome reads it so.
    let s = summarize_with(&report, &ReviewOutcome::EventState);
    assert_eq!(
        s.participants[0].identity_checks[1].outcome,
        Outcome::Overturned
    );
    // A field reading finds no such field here: unknown still.
    let field = ReviewOutcome::parse("field:reviewState=ACCEPTED/REJECTED").unwrap();
    let s = summarize_with(&report, &field);
    assert_eq!(
        s.participants[0].identity_checks[1].outcome,
        Outcome::ReviewedOutcomeUnknown
    );
}

#[test]
fn a_configured_acceptance_field_decides_the_review_and_unknown_fields_are_shown() {
    let report = generated(trust_sign_gen::Kind::ReviewOutcomeField);
    let field = ReviewOutcome::parse("field:reviewState=ACCEPTED/REJECTED").unwrap();
    let s = summarize_with(&report, &field);
    let fm = &s.participants[0].identity_checks[1];
    assert_eq!(fm.outcome, Outcome::Overturned);
    assert_eq!(fm.review.as_ref().unwrap().accepted, Some(true));
    // Unconfirmed: not read, but shown to the person who decides.
    let s = summarize(&report);
    let review = s.participants[0].identity_checks[1].review.clone().unwrap();
    assert_eq!(
        s.participants[0].identity_checks[1].outcome,
        Outcome::ReviewedOutcomeUnknown
    );
    assert_eq!(
        serde_json::to_value(&review.other_fields).unwrap(),
        json!({"reviewState": "ACCEPTED"})
    );
    // REJECTED, or a value the setting does not list.
    for (value, outcome) in [
        ("REJECTED", Outcome::Failed),
        ("MAYBE", Outcome::ReviewedOutcomeUnknown),
    ] {
        let mut r = trust_sign_gen::report_json(trust_sign_gen::Kind::ReviewOutcomeField);
        for e in r["events"].as_array_mut().unwrap() {
            if e["type"] == "FACE_MATCH_REVIEWED" {
                e["reviewState"] = json!(value);
            }
        }
        let s = summarize_with(
            &Report::from_slice(r.to_string().as_bytes()).unwrap(),
            &field,
        );
        assert_eq!(
            s.participants[0].identity_checks[1].outcome, outcome,
            "{value}"
        );
    }
}

#[test]
fn undocumented_event_fields_keep_tokens_and_hide_text() {
    let r = json!({"date": "2024-01-02T00:00:00Z", "clientFile": {"uuid": "cf"},
        "events": [{"type": "DOCUMENT_REVIEWED", "taskId": "X", "reviewState": "REJECTED", "ok": true,
            "comment": "Mme Corinne Berthier a présenté une pièce d'identité", "n": 3,
            "list": [1, 2], "attached": {"taskId": "1_1", "secret": "Corinne"}}]});
    let s = summarize(&Report::from_slice(r.to_string().as_bytes()).unwrap());
    let text = serde_json::to_string(&s.unlinked_reviews[0].other_fields).unwrap();
    assert!(!text.contains("Corinne"), "{text}");
    assert_eq!(
        serde_json::to_value(&s.unlinked_reviews[0].other_fields).unwrap(),
        json!({"attached": {"taskId": "1_1", "fields": 2}, "comment": "<text, 52 characters>",
            "list": "<list, 2 items>", "n": 3, "ok": true, "reviewState": "REJECTED"})
    );
}

#[test]
fn review_outcome_settings_parse_or_are_refused_without_quoting() {
    assert_eq!(
        ReviewOutcome::parse("unconfirmed"),
        Ok(ReviewOutcome::Unconfirmed)
    );
    assert_eq!(
        ReviewOutcome::parse(" event-state "),
        Ok(ReviewOutcome::EventState)
    );
    assert_eq!(
        ReviewOutcome::parse("field:decision=ACCEPTED|OK/REJECTED|KO"),
        Ok(ReviewOutcome::Field {
            name: "decision".into(),
            accepted: vec!["ACCEPTED".into(), "OK".into()],
            rejected: vec!["REJECTED".into(), "KO".into()],
        })
    );
    assert_eq!(
        ReviewOutcome::parse("field:decision=ACCEPTED|OK/REJECTED|KO")
            .unwrap()
            .name(),
        "field:decision=ACCEPTED|OK/REJECTED|KO"
    );
    // One fixed message, whatever the value (never quoted back).
    for bad in [
        "",
        "status",
        "field:",
        "field:x=A",
        "field:x=A/A",
        "field:x y=A/B",
        "field:x=/B",
    ] {
        assert_eq!(ReviewOutcome::parse(bad), Err(BadReviewOutcome), "{bad}");
    }
    assert!(!BadReviewOutcome.to_string().contains("x y"));
}

#[test]
fn a_not_validated_document_keeps_its_failing_controls_visible() {
    let s = summarize(&generated(trust_sign_gen::Kind::NotValidatedFailures));
    let john = &s.participants[1];
    let payslip = &john.documents[0];
    assert_eq!(payslip.validation.as_deref(), Some("NOT_VALIDATED"));
    // Not a pass, not a final failure.
    assert_eq!(payslip.outcome, Outcome::NotEvaluated);
    let owner = "participant:72b6fa2e-9e5f-11e5-b08c-448a5bd00f42";
    assert_eq!(
        payslip.unconfirmed_failures,
        vec![
            "document/maxAgeExceeded".to_string(),
            format!("{owner}/postalAddressMatch")
        ]
    );
    assert_eq!((john.unconfirmed_failures, s.unconfirmed_failures), (1, 1));
    // A VALIDATED or VALIDATION_FAILURE document has none (its failures are explained).
    let s = summarize(&generated(trust_sign_gen::Kind::Payslip));
    assert!(s.participants[1].documents[0]
        .unconfirmed_failures
        .is_empty());
}

#[test]
fn client_file_dates_in_any_iso_form_are_read_and_zoneless_ones_flagged() {
    let s = summarize(&generated(trust_sign_gen::Kind::IsoDates));
    assert_eq!(s.zoneless_dates, vec!["clientFile.startDate".to_string()]);
    assert_eq!(s.time_zone, "Europe/Paris");
    let r = generated(trust_sign_gen::Kind::IsoDates);
    let cf = r.client_file().unwrap();
    for (t, at) in [
        (r.date.as_ref(), "2024-06-18T08:00:05+00:00"),
        (cf.start_date.as_ref(), "2024-06-14T09:00:00+00:00"),
        (cf.finish_date.as_ref(), "2024-06-18T08:00:00+00:00"),
        (cf.validation_date.as_ref(), "2024-06-18T08:00:00+00:00"),
    ] {
        assert_eq!(t.unwrap().instant().unwrap().to_rfc3339(), at);
    }
    // Read in another configured zone, the zone-less start date moves; the others do not.
    let json = trust_sign_gen::report_json(trust_sign_gen::Kind::IsoDates).to_string();
    let utc = Report::from_slice_in(json.as_bytes(), chrono_tz::UTC).unwrap();
    let start = utc.client_file().unwrap().start_date.as_ref().unwrap();
    assert_eq!(
        start.instant().unwrap().to_rfc3339(),
        "2024-06-14T11:00:00+00:00"
    );
    assert_eq!(utc.zoneless_dates, 1);
    assert_eq!(summarize(&utc).time_zone, "UTC");
}

fn report_with_reading(
    doc_validation: &str,
    events: serde_json::Value,
    reading: &ReviewOutcome,
) -> ClientFileSummary {
    let r = json!({
        "date": "2024-01-02T00:00:00Z",
        "clientFile": {"state": "PENDING", "uuid": "cf", "participants": [{"uuid": "p1"}]},
        "documents": [{"id": "payslip", "taskId": "T1", "participantUuid": "p1", "validation": doc_validation,
            "date": "2024-01-01T10:00:00Z", "controls": {"maxAgeExceeded": true}}],
        "events": events
    });
    summarize_with(
        &Report::from_slice(r.to_string().as_bytes()).unwrap(),
        reading,
    )
}

//! GoPay identification-status parsing, dates, normalized view and history rule.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use kyc_gopay::identification::{differs, status_change, StatusSnapshot, SubjectType};
use kyc_gopay::time::{GoPayDateTime, ZoneSource};
use kyc_gopay::{
    ClientProfileId, GoPayError, IdentificationState as S, IdentificationStatus, Reason as R,
};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const PERSONAL_VALUES: [&str; 9] = [
    "Pavel",
    "Nov",
    "900612",
    "1990-06-12",
    "77.75.77.39",
    "CZ6003000000002174251001",
    "2174251001",
    "Vinohradsk",
    "123456",
];

#[test]
fn reference_example_parses() {
    let s = IdentificationStatus::parse(&fixture("status_not_identified.json")).unwrap();
    assert_eq!(s.client_profile_id.as_str(), "123");
    assert_eq!(s.state, S::NotIdentified);
    assert_eq!(s.reasons, vec![R::DeniedFacematch]);
    let started = s.date_started.as_ref().unwrap();
    assert_eq!(started.raw(), "2018-07-19 10:00:02.423");
    // July: Prague is on summer time (UTC+2).
    assert_eq!(started.utc(), utc("2018-07-19T08:00:02.423Z"));
    assert_eq!(started.zone_source(), ZoneSource::AssumedPrague);
    assert_eq!(
        s.date_last_change.as_ref().unwrap().utc(),
        utc("2018-07-22T08:00:02.423Z")
    );
    assert!(
        s.subject_type.is_none() && s.subject_data.is_none() && s.identification_data.is_none()
    );
    assert!(s.warnings.is_empty());
    assert!(!s.in_progress());
}

#[test]
fn identified_person_keeps_personal_data_opaque_and_redacted() {
    let s = IdentificationStatus::parse(&fixture("status_identified_person.json")).unwrap();
    assert_eq!(s.state, S::Identified);
    assert!(s.reasons.is_empty());
    assert_eq!(s.subject_type, Some(SubjectType::Person));
    let subject = s.subject_data.as_ref().unwrap();
    assert_eq!(subject.expose()["birthNumber"], "900612/0001");
    let debug = format!("{s:?}");
    let view = s.normalized_view();
    let rendered = serde_json::to_string_pretty(&view).unwrap();
    for value in PERSONAL_VALUES {
        assert!(!debug.contains(value), "Debug leaks {value}");
        assert!(
            !rendered.contains(value),
            "normalized view leaks {value}: {rendered}"
        );
    }
    assert_eq!(view["provider"], "gopay");
    assert_eq!(view["clientProfileId"], "581");
    assert_eq!(view["state"], "IDENTIFIED");
    assert_eq!(view["subjectType"], "PERSON");
    assert_eq!(view["subjectData"], "[REDACTED personal data]");
    assert_eq!(view["identificationData"], "[REDACTED personal data]");
    assert_eq!(
        view["dateLastChange"], "2018-02-17T09:10:45.860Z",
        "February: UTC+1"
    );
    assert_eq!(view["dateLastChangeAsSent"], "2018-02-17 10:10:45.860");
    let person = &view["identificationSummary"]["persons"][0];
    assert_eq!(person["faceMatchVerified"], true);
    assert_eq!(person["identDocuments"][0]["documentType"], "ID_CARD");
    assert_eq!(person["identDocuments"][0]["state"], "VERIFIED");
    assert_eq!(
        view["identificationSummary"]["additionalDocuments"][0]["documentType"],
        "BANK_STATEMENT"
    );
    assert_eq!(view["inProgress"], false);
}

#[test]
fn lenient_parsing_keeps_unknown_values_and_warns() {
    let s = IdentificationStatus::parse(&fixture("status_pending_lenient.json")).unwrap();
    assert_eq!(s.client_profile_id.as_str(), "4711");
    assert_eq!(s.state, S::Pending);
    assert_eq!(
        s.reasons,
        vec![
            R::WaitingIdentDocument,
            R::WaitingAddress,
            R::Unknown("SOMETHING_NEW".into())
        ]
    );
    // `HH:MM:SS:MS` (the layout the reference's table gives) reads like `.MS`.
    let started = s.date_started.as_ref().unwrap();
    assert_eq!(
        started.local(),
        NaiveDate::from_ymd_opt(2025, 1, 15)
            .unwrap()
            .and_hms_milli_opt(9, 30, 0, 250)
            .unwrap()
    );
    assert_eq!(started.utc(), utc("2025-01-15T08:30:00.250Z"));
    assert!(
        s.date_last_change.is_none(),
        "unreadable date is dropped, not fatal"
    );
    assert_eq!(s.subject_type, Some(SubjectType::Unknown("TRUST".into())));
    let fields: Vec<_> = s.warnings.iter().map(|w| w.field).collect();
    assert!(
        fields.contains(&"reasons")
            && fields.contains(&"dateLastChange")
            && fields.contains(&"subjectType")
    );
    let view = s.normalized_view();
    assert_eq!(view["unknownReasons"], serde_json::json!(["SOMETHING_NEW"]));
    assert_eq!(view["inProgress"], true);
    assert_eq!(view["dateLastChange"], serde_json::Value::Null);
}

#[test]
fn reasons_may_be_null_absent_or_a_lone_string() {
    for (reasons, expected) in [
        ("null", vec![]),
        ("\"WAITING_BANK_ACCOUNT\"", vec![R::WaitingBankAccount]),
        ("[]", vec![]),
    ] {
        let body = format!(r#"{{"clientProfileId": 1, "state": "PENDING", "reasons": {reasons}}}"#);
        assert_eq!(
            IdentificationStatus::parse(body.as_bytes())
                .unwrap()
                .reasons,
            expected
        );
    }
    let s = IdentificationStatus::parse(br#"{"clientProfileId": 1, "state": "PENDING"}"#).unwrap();
    assert!(s.reasons.is_empty());
}

#[test]
fn every_documented_value_is_recognised() {
    for text in S::DOCUMENTED {
        assert!(S::parse(text).is_known(), "{text}");
        assert_eq!(S::parse(&text.to_lowercase()).as_str(), *text);
    }
    assert_eq!(R::DOCUMENTED.len(), 9);
    for text in R::DOCUMENTED {
        assert!(R::parse(text).is_known(), "{text}");
    }
    assert_eq!(SubjectType::parse("company"), SubjectType::Company);
}

#[test]
fn missing_or_broken_essentials_are_precise_errors_without_values() {
    let cases: [(&[u8], GoPayError); 5] = [
        (
            br#"{"state": "PENDING"}"#,
            GoPayError::MissingField {
                context: "identification-status",
                field: "clientProfileId",
            },
        ),
        (
            br#"{"clientProfileId": 5}"#,
            GoPayError::MissingField {
                context: "identification-status",
                field: "state",
            },
        ),
        (
            br#"{"clientProfileId": 5, "state": ["900612/0001"]}"#,
            GoPayError::InvalidField {
                context: "identification-status",
                field: "state",
                reason: "not a string",
            },
        ),
        (
            br#"[1,2]"#,
            GoPayError::NotAnObject {
                context: "identification-status",
            },
        ),
        (
            br#"{"clientProfileId": "../admin", "state": "PENDING"}"#,
            GoPayError::InvalidField {
                context: "identification-status",
                field: "clientProfileId",
                reason: "not an identifier",
            },
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(IdentificationStatus::parse(body).unwrap_err(), expected);
    }
    // serde's own message would quote the value; ours does not.
    let err =
        IdentificationStatus::parse(br#"{"clientProfileId": 5, "birthNumber": "900612/0001" "#)
            .unwrap_err();
    assert!(
        matches!(
            err,
            GoPayError::Json {
                category: "eof",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("900612"));
    let err = IdentificationStatus::parse(br#"{"x": "900612/0001" oops}"#).unwrap_err();
    assert!(matches!(
        err,
        GoPayError::Json {
            category: "syntax",
            line: 1,
            ..
        }
    ));
    assert!(!format!("{err} {err:?}").contains("900612"));
}

#[test]
fn client_profile_ids_are_safe_path_segments() {
    assert!(ClientProfileId::new("123").is_ok());
    assert!(ClientProfileId::new("abc-DEF_9").is_ok());
    for bad in [
        "",
        "  ",
        "1/2",
        "../1",
        "1?x=2",
        "1 2",
        "é",
        &"9".repeat(65),
    ] {
        assert!(ClientProfileId::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn ensure_profile_detects_a_response_for_another_profile() {
    let s = IdentificationStatus::parse(&fixture("status_not_identified.json")).unwrap();
    assert!(s
        .ensure_profile(&ClientProfileId::new("123").unwrap())
        .is_ok());
    assert_eq!(
        s.ensure_profile(&ClientProfileId::new("124").unwrap())
            .unwrap_err(),
        GoPayError::ProfileMismatch {
            expected: "124".into(),
            actual: "123".into()
        }
    );
}

fn snap(state: S, reasons: &[R]) -> StatusSnapshot {
    StatusSnapshot::new(state, reasons.iter().cloned())
}

#[test]
fn history_events_come_from_state_or_reason_changes_only() {
    let a = snap(S::Pending, &[R::WaitingAddress, R::WaitingIdentDocument]);
    let same_other_order = snap(
        S::Pending,
        &[
            R::WaitingIdentDocument,
            R::WaitingAddress,
            R::WaitingAddress,
        ],
    );
    assert!(!differs(&a, &same_other_order));
    assert_eq!(status_change(Some(&a), &same_other_order), None);

    let fewer = snap(S::Pending, &[R::WaitingAddress]);
    let change = status_change(Some(&a), &fewer).unwrap();
    assert!(!change.state_changed());
    assert_eq!(change.removed_reasons, vec![R::WaitingIdentDocument]);
    assert!(change.added_reasons.is_empty());

    let identified = snap(S::Identified, &[]);
    let change = status_change(Some(&fewer), &identified).unwrap();
    assert!(change.state_changed());
    assert_eq!(change.from_state, Some(S::Pending));
    assert_eq!(change.removed_reasons, vec![R::WaitingAddress]);

    let first = status_change(None, &identified).unwrap();
    assert_eq!(first.from_state, None);
    assert!(first.state_changed());

    let unknown = snap(S::Unknown("ON_HOLD".into()), &[]);
    assert!(differs(&identified, &unknown));
    assert!(!differs(&unknown, &snap(S::Unknown("ON_HOLD".into()), &[])));
}

#[test]
fn a_date_only_change_is_not_an_event_and_the_snapshot_is_storable() {
    let a = IdentificationStatus::parse(
        br#"{"clientProfileId":1,"state":"IDENTIFIED","dateLastChange":"2025-01-01 10:00:00.000"}"#,
    )
    .unwrap();
    let b = IdentificationStatus::parse(
        br#"{"clientProfileId":1,"state":"identified","dateLastChange":"2025-02-01 10:00:00.000"}"#,
    )
    .unwrap();
    assert!(!differs(&a.snapshot(), &b.snapshot()));
    assert!(!a.differs_from(&b));
    let c = IdentificationStatus::parse(
        br#"{"clientProfileId":1,"state":"IDENTIFIED","reasons":["EXPIRED_IDENT_DOCUMENT"]}"#,
    )
    .unwrap();
    assert!(a.differs_from(&c) && c.differs_from(&b));
    let stored = serde_json::to_string(&a.snapshot()).unwrap();
    assert_eq!(stored, r#"{"state":"IDENTIFIED","reasons":[]}"#);
    let back: StatusSnapshot = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, b.snapshot());
}

#[test]
fn event_ids_are_stable_and_tell_repeated_states_apart() {
    let pending =
        IdentificationStatus::parse(br#"{"clientProfileId":9,"state":"PENDING"}"#).unwrap();
    let identified =
        IdentificationStatus::parse(br#"{"clientProfileId":9,"state":"IDENTIFIED"}"#).unwrap();
    let first = pending.event_id(None);
    assert_eq!(
        first,
        pending.event_id(None),
        "same observation, same id (two runs dedupe)"
    );
    assert!(first.starts_with("gopay-status-") && first.len() == "gopay-status-".len() + 64);
    let to_identified = identified.event_id(Some(&pending.snapshot()));
    let back_to_pending = pending.event_id(Some(&identified.snapshot()));
    assert!(first != to_identified && first != back_to_pending && to_identified != back_to_pending);
    let other_profile =
        IdentificationStatus::parse(br#"{"clientProfileId":10,"state":"PENDING"}"#).unwrap();
    assert_ne!(other_profile.event_id(None), first);
}

#[test]
fn progress_classification() {
    let in_progress = |state: S, reasons: &[R]| {
        kyc_gopay::identification::snapshot_in_progress(&snap(state, reasons))
    };
    assert!(in_progress(S::Pending, &[]));
    assert!(in_progress(S::PartiallyIdentified, &[R::WaitingAddress]));
    assert!(in_progress(S::Unknown("NEW".into()), &[]));
    assert!(!in_progress(S::Identified, &[]));
    assert!(!in_progress(S::NotIdentified, &[R::DeniedFraud]));
    assert!(!in_progress(S::NotIdentified, &[R::ExpiredIdentification]));
    assert!(!in_progress(
        S::PartiallyIdentified,
        &[R::ExpiredIdentDocument]
    ));
}

// ----- dates --------------------------------------------------------------------------------

#[test]
fn accepted_date_layouts() {
    let expected = NaiveDate::from_ymd_opt(2018, 7, 19)
        .unwrap()
        .and_hms_milli_opt(10, 0, 2, 423)
        .unwrap();
    for text in [
        "2018-07-19 10:00:02.423",
        "2018-07-19T10:00:02.423",
        " 2018-07-19 10:00:02:423 ",
        "2018-07-19 10:00:02.423000",
    ] {
        assert_eq!(
            GoPayDateTime::parse(text).unwrap().local(),
            expected,
            "{text}"
        );
    }
    assert_eq!(
        GoPayDateTime::parse("2018-07-19 10:00:02").unwrap().local(),
        NaiveDate::from_ymd_opt(2018, 7, 19)
            .unwrap()
            .and_hms_opt(10, 0, 2)
            .unwrap()
    );
    assert_eq!(
        GoPayDateTime::parse("2018-07-19").unwrap().utc(),
        utc("2018-07-18T22:00:00Z")
    );
    let explicit = GoPayDateTime::parse("2018-07-19T10:00:02.423+03:00").unwrap();
    assert_eq!(explicit.zone_source(), ZoneSource::Explicit);
    assert_eq!(explicit.utc(), utc("2018-07-19T07:00:02.423Z"));
    for bad in [
        "",
        "19.07.2018 10:00",
        "2018-13-01 00:00:00.000",
        "2018-07-19 25:00:00",
        "yesterday",
    ] {
        let err = GoPayDateTime::parse(bad).unwrap_err();
        assert!(matches!(err, GoPayError::InvalidDate { .. }), "{bad}");
        if !bad.is_empty() {
            assert!(!err.to_string().contains(bad));
        }
    }
}

#[test]
fn prague_transitions() {
    // 2025: summer time 30 March 01:00 UTC – 26 October 01:00 UTC.
    let winter = GoPayDateTime::parse("2025-03-30 01:59:59.999").unwrap();
    assert_eq!(winter.utc(), utc("2025-03-30T00:59:59.999Z"));
    let gap = GoPayDateTime::parse("2025-03-30 02:30:00.000").unwrap();
    assert_eq!(gap.zone_source(), ZoneSource::AssumedPragueGap);
    assert_eq!(gap.utc(), utc("2025-03-30T01:30:00Z"));
    let summer = GoPayDateTime::parse("2025-03-30 03:00:00.000").unwrap();
    assert_eq!(summer.utc(), utc("2025-03-30T01:00:00Z"));
    let ambiguous = GoPayDateTime::parse("2025-10-26 02:30:00.000").unwrap();
    assert_eq!(ambiguous.zone_source(), ZoneSource::AssumedPragueAmbiguous);
    assert_eq!(
        ambiguous.utc(),
        utc("2025-10-26T00:30:00Z"),
        "earlier instant"
    );
    let after = GoPayDateTime::parse("2025-10-26 03:00:00.000").unwrap();
    assert_eq!(after.utc(), utc("2025-10-26T02:00:00Z"));
}

proptest! {
    #[test]
    fn formatting_an_instant_and_reading_it_back_round_trips(ms in 946_684_800_000i64..4_102_444_800_000i64) {
        let t = Utc.timestamp_millis_opt(ms).unwrap();
        let sent = GoPayDateTime::from_utc(t);
        let read = GoPayDateTime::parse(sent.raw()).unwrap();
        if read.zone_source() == ZoneSource::AssumedPragueAmbiguous {
            // The repeated autumn hour: the second occurrence reads as the first.
            prop_assert!(read.utc() == t || read.utc() == t - Duration::hours(1));
        } else {
            prop_assert_eq!(read.utc(), t);
            prop_assert_eq!(read.local(), sent.local());
        }
    }
}

#[test]
fn unusable_dates_are_reported_never_a_panic_and_the_state_still_applies() {
    for date in [
        "0000-00-00 00:00:00",
        "0000-01-01 00:00:00.000",
        "-262143-01-01 00:00:00",
        "-262144-01-01 00:00:00",
        "262143-12-31 23:59:59.999",
        "+262142-12-31 23:30:00",
        "9999-12-31 23:59:59.999",
        "0001-01-01 00:00:00",
        "-9999-01-01T00:00:00+14:00",
        "262143-12-31T23:59:59-14:00",
        "2025-02-30 10:00:00",
        "2025-13-01 10:00:00",
        "2025-03-30 02:30:00",
        "2025-01-01 24:00:00",
        "99999999999-01-01 00:00:00",
    ] {
        let body = serde_json::json!({
            "clientProfileId": 7,
            "state": "IDENTIFIED",
            "dateStarted": date,
            "dateLastChange": date,
        });
        let parsed =
            std::panic::catch_unwind(|| IdentificationStatus::parse(body.to_string().as_bytes()));
        let status = parsed
            .unwrap_or_else(|_| panic!("date {date:?} panicked"))
            .unwrap_or_else(|e| panic!("date {date:?}: {e}"));
        assert_eq!(status.state.as_str(), "IDENTIFIED", "{date}");
        // Either read as a real instant within chrono's range, or reported as unusable.
        if status.date_last_change.is_none() {
            assert!(
                status.warnings.iter().any(|w| w.field == "dateLastChange"),
                "{date}: an unusable date is reported"
            );
        }
        let view = std::panic::catch_unwind(|| status.normalized_view());
        assert!(view.is_ok(), "normalized view of {date:?} panicked");
    }
}

proptest! {
    #[test]
    fn no_date_like_text_makes_the_parser_panic(
        text in "[-+]?[0-9]{1,12}-[0-9]{1,2}-[0-9]{1,2}([ T][0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}([.:][0-9]{1,4})?)?)?([+-][0-9]{2}:[0-9]{2}|Z)?"
    ) {
        if let Ok(d) = GoPayDateTime::parse(&text) {
            prop_assert!((1..=9999).contains(&d.local().year()));
        }
    }
}

#[test]
fn the_event_summary_models_the_documented_enumerations_and_nothing_personal() {
    use kyc_core::crypto::{Keyring, PayloadKey};
    use kyc_gopay::identification::{DocumentState, DocumentType, ImageSource, VerificationState};
    use kyc_gopay::plan::identification_plan;

    let s = IdentificationStatus::parse(&fixture("status_identified_person.json")).unwrap();
    let evidence = s.evidence();
    let person = &evidence.persons[0];
    assert_eq!(person.face_match_verified, Some(true));
    assert_eq!(person.face_match_source, Some(ImageSource::Upload));
    assert_eq!(
        person.ident_documents[0].document_type,
        Some(DocumentType::IdCard)
    );
    assert_eq!(
        person.ident_documents[0].state,
        Some(DocumentState::Verified)
    );
    assert!(evidence
        .subject_data_fields
        .contains(&"birthNumber".to_string()));
    let keys = Keyring::new(PayloadKey::new("k", [1; 32]).unwrap(), vec![]);
    let change = status_change(None, &s.snapshot()).unwrap();
    let plan = identification_plan(
        &keys,
        "c-1",
        &s,
        b"{}",
        &change,
        None,
        "e-1".into(),
        utc("2025-03-10T08:00:00Z"),
    );
    let summary = serde_json::to_string(&plan.event.summary).unwrap();
    assert_eq!(
        plan.event.summary["evidence"]["persons"][0]["identDocuments"][0]["documentType"],
        "ID_CARD"
    );
    assert_eq!(plan.event.summary["subjectType"], "PERSON");
    for value in PERSONAL_VALUES {
        assert!(!summary.contains(value), "summary leaks {value}: {summary}");
    }

    // Every documented value is recognised; an unknown token is kept, free text is redacted.
    for t in DocumentType::DOCUMENTED {
        assert!(DocumentType::parse(t).is_known());
    }
    assert!(ImageSource::parse("WEBCAM").is_known() && ImageSource::parse("MOBILE").is_known());
    assert!(DocumentState::parse("EXPIRED").is_known());
    assert!(VerificationState::parse("VERIFIED").is_known());
    let body = serde_json::json!({
        "clientProfileId": 9, "state": "PENDING",
        "identificationData": {"persons": [{"identDocuments": [
            {"documentType": "RESIDENCE_PERMIT", "state": "Jan Novák 900612/0001", "source": "KIOSK"}
        ]}]}
    });
    let s = IdentificationStatus::parse(body.to_string().as_bytes()).unwrap();
    let doc = &s.evidence().persons[0].ident_documents[0];
    assert_eq!(
        doc.document_type.as_ref().map(|d| d.as_str()),
        Some("RESIDENCE_PERMIT")
    );
    assert_eq!(doc.source.as_ref().map(|d| d.as_str()), Some("KIOSK"));
    let state = serde_json::to_string(&doc.state).unwrap();
    assert!(
        !state.contains("Jan") && !state.contains("900612"),
        "{state}"
    );
}

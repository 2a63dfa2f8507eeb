use super::*;

/// The reference's own examples, assembled into one report (see the fixture file).
pub(crate) const REFERENCE: &str = include_str!("../../tests/fixtures/report_v6_reference.json");

fn reference() -> Report {
    Report::from_slice(REFERENCE.as_bytes()).expect("reference report parses")
}

#[test]
fn client_file_fields_are_typed() {
    let r = reference();
    let cf = r.client_file().unwrap();
    assert_eq!(cf.state, Some(ClientFileState::Rejected));
    assert_eq!(cf.rejection_cause.as_deref(), Some("CANCELED"));
    assert_eq!(cf.rejection_message.as_ref().unwrap().expose(), "Annulé");
    assert_eq!(cf.id.as_ref().unwrap().0, "10002");
    assert_eq!(cf.archiving_state, Some(ArchivingState::NotArchived));
    assert_eq!(cf.external_info["my-identifier"], "123456");
    assert_eq!(cf.external_id.as_deref(), Some("customer-42"));
    assert_eq!(cf.group.as_ref().unwrap().default_group, Some(true));
    assert_eq!(
        cf.appendices[0].file.as_ref().unwrap().name.expose(),
        "appendix_cgv.pdf"
    );
    assert!(cf.finish_date.as_ref().unwrap().instant().is_some());
    let le = cf.legal_entity.as_ref().unwrap();
    let agents = &le.data.as_ref().unwrap().controls.as_ref().unwrap().agents;
    assert_eq!(agents[0].checks["agentNameMatch"], false);
    let company = le.data.as_ref().unwrap().extra_data.as_ref().unwrap();
    let company = company.company_details.as_ref().unwrap();
    assert_eq!(
        company.legal_agents[0].agent_role.as_deref(),
        Some("Président")
    );
}

#[test]
fn identity_checks_are_typed() {
    let r = reference();
    let p = &r.participants()[0];
    let check = &p.identity_checks[0];
    let id = check.id_document.as_ref().unwrap();
    assert_eq!(id.validation, Some(Validation::ValidationFailure));
    assert_eq!(id.files.len(), 2);
    let data = id.data.as_ref().unwrap();
    assert!(data
        .mrz
        .as_ref()
        .unwrap()
        .line1
        .as_ref()
        .unwrap()
        .expose()
        .starts_with("IDFRA"));
    let controls = id.controls.as_ref().unwrap();
    assert_eq!(controls.checks["documentExpired"], true);
    assert_eq!(controls.participants[0].owner.as_deref(), p.uuid.as_deref());
    let fm: Vec<_> = check
        .all_face_matches()
        .into_iter()
        .map(|(_, f)| f)
        .collect();
    assert_eq!(fm.len(), 1);
    assert_eq!(fm[0].task_id.as_deref(), Some("1_FM_1"));

    let lin = r.participants()[1].identity_checks[0].lin.as_ref().unwrap();
    assert_eq!(lin.provider_verdict, Some(LinVerdict::Ok));
    assert_eq!(lin.controls["birthName"], LinMatch::NotMatching);
    let occ = r.participants()[1].one_click_contract.as_ref().unwrap();
    assert_eq!(
        occ.client_file.as_ref().unwrap().workflow_name.as_deref(),
        Some("wf")
    );
    assert_eq!(
        occ.documents[0].files[0].name.expose(),
        "1_john_doe_3_1.png"
    );
}

#[test]
fn document_families_are_typed() {
    let r = reference();
    let payslip = r.documents[0].document_details.as_ref().unwrap();
    assert_eq!(payslip.ssn.as_ref().unwrap().expose(), "1850234567890");
    assert_eq!(payslip.last_name.as_ref().unwrap().expose(), "DOE");
    assert!(payslip.reference.is_none());
    let tax = r.documents[1].document_details.as_ref().unwrap();
    let d2 = tax.doc_2d.as_ref().unwrap();
    assert_eq!(d2.parts_count, Some(serde_json::json!(1)));
    assert_eq!(tax.income_year, Some(serde_json::json!(2021)));
    assert!(r.documents[2].is_anonymized());
    assert_eq!(
        r.documents[1]
            .controls
            .as_ref()
            .unwrap()
            .fr_tax_notice
            .len(),
        1
    );
}

#[test]
fn events_and_signed_documents_are_typed() {
    let r = reference();
    assert_eq!(r.events[0].event_type, Some(EventType::Creation));
    assert_eq!(r.events[2].event_type, Some(EventType::FaceMatchReviewed));
    assert_eq!(
        r.events[3].event_type,
        Some(EventType::Other("SOMETHING_NEW".into()))
    );
    assert_eq!(
        r.signed_documents[0].archive_file_name(),
        "signed_contract.pdf"
    );
    assert_eq!(
        r.signed_documents[0].consent_clauses[1].checked,
        Some(false)
    );
}

#[test]
fn debug_output_carries_no_personal_data() {
    let dbg = format!("{:?}", reference());
    for needle in [
        "Corinne",
        "Berthier",
        "BERTHIER",
        "880692310285",
        "FR7630006000011234567890189",
        "1850234567890",
        "178.20.70.2",
        "p0z6EiBRZCRmfevf4zF4M4XRioAej2a",
        "Annulé",
        "1965-12-06",
    ] {
        assert!(!dbg.contains(needle), "{needle} leaked");
    }
}

#[test]
fn unknown_enum_values_and_nulls_are_not_fatal() {
    let json = r#"{"date":"2024-01-01T00:00:00Z","clientFile":{"state":"FROZEN","participants":null,
        "archivingState":7},"documents":null,"events":[{"type":null,"state":"MAYBE"}]}"#;
    let r = Report::from_slice(json.as_bytes()).unwrap();
    let cf = r.client_file().unwrap();
    assert_eq!(cf.state, Some(ClientFileState::Other("FROZEN".into())));
    assert_eq!(cf.archiving_state, Some(ArchivingState::Other("7".into())));
    assert!(r.documents.is_empty() && r.participants().is_empty());
    assert_eq!(r.events[0].state, Some(EventState::Other("MAYBE".into())));
}

#[test]
fn not_json_is_reported_with_its_position() {
    match Report::from_slice(b"<html>oops</html>") {
        Err(TrustSignError::ReportNotJson { line: 1, column: 1 }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Report::from_slice(br#"{"date": "2024-"#),
        Err(TrustSignError::ReportNotJson { .. })
    ));
    assert!(matches!(
        Report::from_slice(br#"{"date":"x","clientFile":{}} trailing"#),
        Err(TrustSignError::ReportNotJson { .. })
    ));
}

#[test]
fn not_v6_says_why() {
    let cases: [(&str, NotV6Reason); 5] = [
        ("[1,2]", NotV6Reason::NotAnObject),
        (
            r#"{"date":"2024-01-01T00:00:00Z"}"#,
            NotV6Reason::MissingField("clientFile"),
        ),
        (r#"{"clientFile":{}}"#, NotV6Reason::MissingField("date")),
        (
            r#"{"version":5,"date":"2024-01-01T00:00:00Z","clientFile":{}}"#,
            NotV6Reason::OtherVersion("the number 5".into()),
        ),
        (
            r#"{"version":"V5","participants":"x","clientFile":"no"}"#,
            NotV6Reason::OtherVersion("the string \"V5\"".into()),
        ),
    ];
    for (json, want) in cases {
        match Report::from_slice(json.as_bytes()) {
            Err(TrustSignError::NotV6 { reason }) => assert_eq!(reason, want, "{json}"),
            other => panic!("{json}: {other:?}"),
        }
    }
    let ok = r#"{"version":"6","date":"2024-01-01T00:00:00Z","clientFile":{}}"#;
    assert!(Report::from_slice(ok.as_bytes()).is_ok());
}

#[test]
fn wrong_types_give_the_json_path_but_not_the_value() {
    let json = r#"{"date":"2024-01-01T00:00:00Z","clientFile":{"participants":[{"uuid":"u","identityChecks":"Corinne"}]}}"#;
    match Report::from_slice(json.as_bytes()) {
        Err(e @ TrustSignError::ReportSchema { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("clientFile.participants[0].identityChecks"),
                "{text}"
            );
            assert!(!text.contains("Corinne"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn identifiers_as_numbers_and_mistyped_display_fields_never_reject() {
    // Identifiers the reference writes as strings arrive as numbers (and vice versa); display
    // fields have unexpected types. Only noted.
    let json = r#"{"date":"2024-01-01T00:00:00Z","clientFile":{
        "uuid":"cf-1","id":"10002","externalId":4711,"recordId":123,
        "group":"default","productName":{"fr":"Crédit"},"workflowLabel":12,
        "participants":[{"uuid":"p1","firstName":5,"civility":["MR"],
            "identityChecks":[{"idDocument":{"taskId":11,"id":7,"label":false,"anonymized":"false",
                "files":{"name":"x.jpg"},"controls":{"mrzValid":true}}}]}]},
        "documents":[{"id":3,"participantUuid":"p1","channel":["SIGNBOOK"],"errors":2001,
            "areControlsObsolete":"yes","documentDetails":"n/a"}],
        "events":[{"type":"DOCUMENT_REVIEWED","documentId":3,"taskId":11,"label":{"x":1}}],
        "signedDocuments":[{"id":42,"consentClauses":{"id":"c"}}]}"#;
    let r = Report::from_slice(json.as_bytes()).unwrap();
    let cf = r.client_file().unwrap();
    assert_eq!(cf.external_id.as_deref(), Some("4711"));
    assert_eq!(cf.record_id.as_deref(), Some("123"));
    assert!(cf.group.is_none() && cf.product_name.is_none());
    assert_eq!(cf.workflow_label.as_deref(), Some("12"));
    let id = r.participants()[0].identity_checks[0]
        .id_document
        .as_ref()
        .unwrap();
    assert_eq!(
        (id.task_id.as_deref(), id.id.as_deref()),
        (Some("11"), Some("7"))
    );
    assert_eq!(id.anonymized, Some(false));
    assert!(id.files.is_empty());
    assert_eq!(r.documents[0].id.as_deref(), Some("3"));
    assert_eq!(r.documents[0].errors, vec![serde_json::json!(2001)]);
    assert_eq!(r.events[0].document_id.as_deref(), Some("3"));
    assert_eq!(r.signed_documents[0].id, "42");

    // Numbers as identifiers are not mismatches; everything else is counted, the first
    // ones located by JSON path, never with their value.
    let m = &r.type_mismatches;
    assert_eq!(m.count, 14, "{m:?}");
    assert_eq!(m.located.len(), lenient::MAX_LOCATED);
    let located: Vec<(&str, &str, &str)> = m
        .located
        .iter()
        .map(|t| (t.path.as_str(), t.expected.as_str(), t.found.as_str()))
        .collect();
    assert_eq!(
        located,
        vec![
            ("clientFile.group", "object", "string"),
            ("clientFile.productName", "string", "object"),
            ("clientFile.workflowLabel", "string", "number"),
            ("clientFile.participants[0].firstName", "string", "number"),
            ("clientFile.participants[0].civility", "string", "array"),
        ]
    );
    assert!(!format!("{m:?}").contains("Crédit"));
}

#[test]
fn mistyped_structure_the_verdicts_depend_on_still_rejects() {
    for (json, path) in [
        (
            r#"{"date":"2024-01-01T00:00:00Z","clientFile":{"participants":"p1"}}"#,
            "clientFile.participants",
        ),
        (
            r#"{"date":"2024-01-01T00:00:00Z","clientFile":{},"documents":[{"controls":"ok"}]}"#,
            "documents[0].controls",
        ),
        (
            r#"{"date":"2024-01-01T00:00:00Z","clientFile":{},"events":{"type":"CREATION"}}"#,
            "events",
        ),
    ] {
        match Report::from_slice(json.as_bytes()) {
            Err(TrustSignError::ReportSchema { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{json}: {other:?}"),
        }
    }
}

#[test]
fn unknown_controls_beyond_the_cap_are_counted_not_kept_and_known_ones_always_kept() {
    let mut controls = serde_json::Map::new();
    for i in 0..(MAX_UNKNOWN_CONTROLS + 500) {
        controls.insert(format!("newControl{i}"), serde_json::json!(true));
    }
    // A documented failing control after all the unknown ones is still read.
    controls.insert("documentExpired".into(), serde_json::json!(true));
    controls.insert(
        "participants".into(),
        serde_json::json!([{"owner": 12, "lastNameMatch": false}]),
    );
    let json = serde_json::json!({"date": "2024-01-01T00:00:00Z", "clientFile": {},
        "documents": [{"controls": controls}]});
    let r = Report::from_slice(json.to_string().as_bytes()).unwrap();
    let c = r.documents[0].controls.as_ref().unwrap();
    assert_eq!(c.checks.len(), MAX_UNKNOWN_CONTROLS + 1);
    assert_eq!(c.unknown_omitted, 500);
    assert_eq!(c.checks["documentExpired"], true);
    assert_eq!(c.participants[0].owner.as_deref(), Some("12"));
    assert_eq!(c.participants[0].checks["lastNameMatch"], false);
}

#[test]
fn a_face_match_container_is_read_without_keeping_unknown_fields() {
    let json = r#"{"date":"2024-01-01T00:00:00Z","clientFile":{"participants":[{"identityChecks":[
        {"faceMatch":{"someNewField":{"deep":[1,2,3]},"faceMatches":[{"taskId":"1_FM_1","validation":"VALIDATED"}]}}]}]}}"#;
    let r = Report::from_slice(json.as_bytes()).unwrap();
    let fms = r.participants()[0].identity_checks[0].all_face_matches();
    assert_eq!(fms.len(), 1);
    assert_eq!(fms[0].0, "faceMatch.faceMatches[0]");
    assert_eq!(fms[0].1.task_id.as_deref(), Some("1_FM_1"));
}

#[test]
fn more_items_than_the_budget_is_a_clear_error_not_a_crash() {
    // 3 bytes of JSON per document: 64 MiB of them would be millions of parsed documents.
    let docs = vec!["{}"; lenient::MAX_ELEMENTS + 1].join(",");
    let json =
        format!(r#"{{"date":"2024-01-01T00:00:00Z","clientFile":{{}},"documents":[{docs}]}}"#);
    match Report::from_slice(json.as_bytes()) {
        Err(e @ TrustSignError::TooComplex { .. }) => {
            assert_eq!(e.reason_code(), "report_too_complex");
            assert!(e.to_string().contains("20000"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let docs = vec!["{}"; lenient::MAX_ELEMENTS].join(",");
    let json =
        format!(r#"{{"date":"2024-01-01T00:00:00Z","clientFile":{{}},"documents":[{docs}]}}"#);
    assert_eq!(
        Report::from_slice(json.as_bytes()).unwrap().documents.len(),
        lenient::MAX_ELEMENTS
    );
}

#[test]
fn free_form_values_are_clipped_at_their_bounds_and_noted() {
    // A keyword list or an externalInfo of millions of entries keeps its first items only; the
    // rest is skipped unread (nothing built), the field noted clipped with its path.
    let words = vec!["\"w\""; lenient::MAX_ELEMENTS + 1].join(",");
    let json = format!(
        r#"{{"date":"2024-01-01T00:00:00Z","clientFile":{{}},"documents":[{{"controls":{{"keywordsBlacklist":[{words}]}}}}]}}"#
    );
    let r = Report::from_slice(json.as_bytes()).unwrap();
    let kept = &r.documents[0].controls.as_ref().unwrap().checks["keywordsBlacklist"];
    assert_eq!(kept.as_array().unwrap().len(), lenient::VALUE_MAX_ITEMS);
    assert_eq!(r.type_mismatches.count, 1);
    assert_eq!(
        r.type_mismatches.located[0].path,
        "documents[0].controls.keywordsBlacklist"
    );
    assert_eq!(r.type_mismatches.located[0].found, "clipped");

    // externalInfo: its top-level scalars survive a neighbour that is a bomb, whatever the
    // order; the neighbour is clipped.
    let bomb = vec!["0"; 5_000_000].join(",");
    let json = format!(
        r#"{{"date":"2024-01-01T00:00:00Z","clientFile":{{"externalInfo":{{"junk":{{"a":[{bomb}]}},"customerId":"c-42","n":7}}}}}}"#
    );
    let r = Report::from_slice(json.as_bytes()).unwrap();
    let info = &r.client_file().unwrap().external_info;
    assert_eq!(info["customerId"], "c-42");
    assert_eq!(info["n"], 7);
    assert_eq!(
        info["junk"]["a"].as_array().unwrap().len(),
        lenient::VALUE_MAX_ITEMS - 1
    );
    assert_eq!(r.type_mismatches.located[0].path, "clientFile.externalInfo");
    // More than 256 keys: the first 256 kept.
    let info: Vec<String> = (0..=lenient::MAX_ELEMENTS)
        .map(|i| format!("\"k{i}\":1"))
        .collect();
    let json = format!(
        r#"{{"date":"2024-01-01T00:00:00Z","clientFile":{{"externalInfo":{{{}}}}}}}"#,
        info.join(",")
    );
    let r = Report::from_slice(json.as_bytes()).unwrap();
    assert_eq!(
        r.client_file().unwrap().external_info.len(),
        lenient::MAP_MAX_ENTRIES
    );
    // Deeper than 8 levels: the deep part is dropped.
    let deep = format!("{}1{}", "[".repeat(20), "]".repeat(20));
    let json = format!(
        r#"{{"date":"2024-01-01T00:00:00Z","clientFile":{{"legalEntity":{{"postalAddress":{deep}}}}}}}"#
    );
    let r = Report::from_slice(json.as_bytes()).unwrap();
    let address = r.client_file().unwrap().legal_entity.as_ref().unwrap();
    let text = address.postal_address.as_ref().unwrap().to_string();
    assert_eq!(text, format!("{}{}", "[".repeat(9), "]".repeat(9)));
    assert_eq!(r.type_mismatches.count, 1);
}

#[test]
fn a_huge_version_or_text_is_kept_clipped() {
    let json = format!(
        r#"{{"version":"5.{}","date":"2024-01-01T00:00:00Z","clientFile":{{}}}}"#,
        "9".repeat(1 << 20)
    );
    match Report::from_slice(json.as_bytes()) {
        Err(e @ TrustSignError::NotV6 { .. }) => {
            let text = e.to_string();
            assert!(text.len() < 200, "{}", text.len());
            assert!(text.contains(r#"the string "5.999"#), "{text}");
        }
        other => panic!("{other:?}"),
    }
    let json = format!(
        r#"{{"version":[{}],"date":"2024-01-01T00:00:00Z","clientFile":{{}}}}"#,
        vec!["0"; 100_000].join(",")
    );
    match Report::from_slice(json.as_bytes()) {
        Err(TrustSignError::NotV6 { reason }) => {
            assert_eq!(reason, NotV6Reason::OtherVersion("an array".into()))
        }
        other => panic!("{other:?}"),
    }
    let json = format!(
        r#"{{"date":"2024-01-01T00:00:00Z","clientFile":{{"state":"{}","workflowLabel":"{}"}}}}"#,
        "A".repeat(100_000),
        "é".repeat(100_000)
    );
    let r = Report::from_slice(json.as_bytes()).unwrap();
    let cf = r.client_file().unwrap();
    assert!(cf.state.as_ref().unwrap().as_str().len() <= lenient::MAX_TEXT + 3);
    assert!(cf.workflow_label.as_ref().unwrap().len() <= lenient::MAX_TEXT + 3);
    assert_eq!(r.type_mismatches.count, 2);
}

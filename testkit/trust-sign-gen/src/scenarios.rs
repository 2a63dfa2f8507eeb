//! report.json contents built from the V6 reference's examples: each piece is one section of
//! the reference, with fictitious people (Corinne Berthier, John Doe) and fictitious numbers.

use serde_json::{json, Value};

pub const CORINNE: &str = "65436df9-1490-44f7-af78-76f67b86e6d1";
pub const JOHN: &str = "72b6fa2e-9e5f-11e5-b08c-448a5bd00f42";
pub const CLIENT_FILE_UUID: &str = "89eb482c-0fab-4821-8c89-b4c9013262d8";
pub const RECORD_ID: &str = "a8882b02-e373-11e4-b1d8-bb7ec15a797e";
pub const EXTERNAL_ID: &str = "customer-0042";

/// A file named in the report, with the bytes the archive holds for it.
#[derive(Debug, Clone)]
pub struct NamedFile {
    pub name: String,
    pub mime: &'static str,
    pub bytes: Vec<u8>,
}

fn image(name: &str, seed: u64) -> NamedFile {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut noise = crate::zip_writer::NoiseSource::new(seed);
    let mut body = vec![0u8; 3000];
    noise.fill(&mut body);
    bytes.extend(body);
    bytes.extend([0xFF, 0xD9]);
    NamedFile {
        name: name.into(),
        mime: "image/jpeg",
        bytes,
    }
}

fn pdf(name: &str, text: &str) -> NamedFile {
    let body = format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% {text}\n{}\n%%EOF\n",
        "0".repeat(2000)
    );
    NamedFile {
        name: name.into(),
        mime: "application/pdf",
        bytes: body.into_bytes(),
    }
}

fn file_refs(files: &[NamedFile]) -> Value {
    Value::Array(
        files
            .iter()
            .map(|f| json!({"name": f.name, "mimeType": f.mime}))
            .collect(),
    )
}

/// What one scenario contributes: participants' identity checks, documents, events...
#[derive(Debug, Default)]
pub struct Scenario {
    pub state: Option<&'static str>,
    pub identity_checks: Vec<(&'static str, Value)>,
    pub documents: Vec<Value>,
    pub signed_documents: Vec<Value>,
    pub events: Vec<Value>,
    pub files: Vec<NamedFile>,
    pub legal_entity: Option<Value>,
    pub rejection: Option<(&'static str, &'static str)>,
}

impl Scenario {
    pub fn merge(mut self, other: Scenario) -> Self {
        self.state = other.state.or(self.state);
        self.identity_checks.extend(other.identity_checks);
        self.documents.extend(other.documents);
        self.signed_documents.extend(other.signed_documents);
        self.events.extend(other.events);
        self.files.extend(other.files);
        self.legal_entity = other.legal_entity.or(self.legal_entity);
        self.rejection = other.rejection.or(self.rejection);
        self
    }
}

/// A French ID card (CNI) with its MRZ; `expired` makes the automatic check fail on
/// `documentExpired`, an MRZ/VIZ birth-date mismatch and inverted names.
pub fn french_id_card(expired: bool) -> Scenario {
    let files = vec![
        image("1_corinne_berthier_attachment_1_1.jpg", 11),
        image("1_corinne_berthier_attachment_1_2.jpg", 12),
    ];
    let id_document = json!({
        "files": file_refs(&files),
        "taskId": "1_1",
        "warnings": [2026],
        "IPAddress": "178.20.70.2",
        "source": "WEB#Chrome_10102#Mac_OS_X",
        "date": "2024-06-17T07:35:21Z",
        "owner": "participant_1",
        "areControlsObsolete": false,
        "anonymized": false,
        "validation": if expired { "VALIDATION_FAILURE" } else { "VALIDATED" },
        "participantUuid": CORINNE,
        "type": "ID_CARD",
        "id": "ID_CARD",
        "category": "ID_DOCUMENT",
        "label": "Carte d'identité",
        "data": {
            "pages": [
                {"skewAngle": 6.279926776885986, "pageType": "FRONT_SIDE", "regions": [], "fileIndex": 0, "zonedData": [], "pageIndexInFile": 0},
                {"skewAngle": -0.005252552218735218, "pageType": "BACK_SIDE", "regions": [], "fileIndex": 1, "zonedData": [], "pageIndexInFile": 0}
            ],
            "mrz": {
                "line1": "IDFRABERTHIER<<<<<<<<<<<<<<<<<<<<<<<",
                "line2": "8806923102858CORINNE<<<<<<<6512068F6"
            },
            "informations": {
                "document": {"number": "880692310285", "issuanceDate": "1988-06-22", "issuanceCountry": "FR",
                    "expirationDate": if expired { "1998-06-21" } else { "2031-06-21" }},
                "holder": {"firstName": "CORINNE", "birthPlace": "PARIS 1ER (75)", "rawAddress": "104 RUE DES FLEURS",
                    "gender": "F", "firstNames": ["CORINNE"], "birthDate": "1965-12-06", "birthName": "BERTHIER"}
            }
        },
        "controls": {
            "modelValid": true,
            "documentTypeMatch": true,
            "documentAppearanceValid": true,
            "mrzValid": true,
            "ocrMrzDocumentNumberMatch": true,
            "ocrMrzBirthNameMatch": true,
            "ocrMrzFirstNamesMatch": true,
            "ocrMrzBirthDateMatch": !expired,
            "ocrMrzIssuanceDateMatch": true,
            "ocrMrzExpirationDateMatch": true,
            "faithfulFont": true,
            "securityElementsValid": true,
            "documentCountryValid": true,
            "documentExpired": expired,
            "doc2DFound": false,
            "participants": [{
                "owner": CORINNE,
                "firstLastNamesInverted": false,
                "namesInverted": expired,
                "lastNameMatch": true,
                "firstNameMatch": true,
                "civilityMatch": true
            }]
        },
        "attachmentId": "attachment_1",
        "channel": "SIGNBOOK"
    });
    Scenario {
        identity_checks: vec![(CORINNE, json!({"idDocument": id_document}))],
        files,
        events: vec![
            json!({"date": "2024-06-17T07:35:21Z", "state": if expired {"KO"} else {"OK"},
            "type": "DOCUMENT_SUBMISSION", "executedBy": CORINNE, "taskId": "1_1", "documentType": "ID_CARD",
            "documentId": "ID_CARD", "documentCategory": "ID_DOCUMENT", "errors": if expired { json!([2001]) } else { json!([]) }}),
        ],
        ..Scenario::default()
    }
}

/// An ID card that passes, a selfie whose automatic face match failed, and an operator's
/// later FACE_MATCH_REVIEWED accepting it.
pub fn face_match_overturned() -> Scenario {
    let selfie = image("1_corinne_berthier_2_facematch_1.jpg", 21);
    let mut s = french_id_card(false);
    let face_match = json!({
        "date": "2024-06-17T07:36:19Z",
        "controls": {"idPhotoMatch": false},
        "files": file_refs(std::slice::from_ref(&selfie)),
        "expectedSequence": ["front"],
        "source": "WEB#Chrome_5757#Linux",
        "participantUuid": CORINNE,
        "IPAddress": "178.20.70.2",
        "taskId": "1_FM_1",
        "validation": "VALIDATION_FAILURE"
    });
    s.identity_checks[0].1["faceMatch"] = face_match;
    s.files.push(selfie);
    s.events.push(
        json!({"date": "2024-06-17T07:36:19Z", "state": "KO", "type": "FACE_MATCH",
        "executedBy": CORINNE, "taskId": "1_FM_1"}),
    );
    s.events.push(
        json!({"date": "2024-06-17T10:02:00Z", "state": "OK", "type": "FACE_MATCH_REVIEWED",
        "taskId": "1_FM_1", "label": "Revue manuelle du face match"}),
    );
    s.state = Some("ACCEPTED");
    s
}

/// The face-match section's own shape: `faceMatch` holds a `faceMatches` array. Two selfie
/// comparisons: the first failed automatically and was accepted by an operator's review, the
/// second passed.
pub fn face_match_nested() -> Scenario {
    let selfies = [
        image("1_corinne_berthier_2_facematch_1.jpg", 21),
        image("1_corinne_berthier_2_facematch_2.jpg", 22),
    ];
    let mut s = french_id_card(false);
    let item = |i: usize, validation: &str, matched: bool, date: &str| {
        json!({
            "date": date,
            "controls": {"idPhotoMatch": matched},
            "files": file_refs(std::slice::from_ref(&selfies[i])),
            "expectedSequence": ["front"],
            "source": "WEB#Chrome_5757#Linux",
            "participantUuid": CORINNE,
            "IPAddress": "178.20.70.2",
            "taskId": format!("1_FM_{}", i + 1),
            "validation": validation
        })
    };
    s.identity_checks[0].1["faceMatch"] = json!({"faceMatches": [
        item(0, "VALIDATION_FAILURE", false, "2024-06-17T07:36:19Z"),
        item(1, "VALIDATED", true, "2024-06-17T07:38:02Z"),
    ]});
    s.files.extend(selfies);
    s.events.push(
        json!({"date": "2024-06-17T07:36:19Z", "state": "KO", "type": "FACE_MATCH",
        "executedBy": CORINNE, "taskId": "1_FM_1"}),
    );
    s.events.push(
        json!({"date": "2024-06-17T07:38:02Z", "state": "OK", "type": "FACE_MATCH",
        "executedBy": CORINNE, "taskId": "1_FM_2"}),
    );
    s.events.push(
        json!({"date": "2024-06-17T10:02:00Z", "state": "OK", "type": "FACE_MATCH_REVIEWED",
        "taskId": "1_FM_1", "label": "Revue manuelle du face match"}),
    );
    s.state = Some("ACCEPTED");
    s
}

/// Video identification: a front-side capture plus the video (named here, written by the
/// archive builder, possibly hundreds of MB). Warning 2533: suspected age inconsistency.
pub fn video_identification(video_name: &str) -> Scenario {
    let front = NamedFile {
        mime: "image/png",
        ..image("1_sfirstname_slastname_FRONT_SIDE_1.png", 31)
    };
    let mut files = file_refs(std::slice::from_ref(&front));
    files
        .as_array_mut()
        .unwrap()
        .push(json!({"name": video_name, "mimeType": "video/mp4"}));
    let video = json!({
        "date": "2024-10-19T14:31:44Z",
        "taskId": "1_V_1",
        "participantUuid": JOHN,
        "owner": "SIGNER",
        "type": "ID_CARD",
        "files": files,
        "warnings": [2533],
        "errors": [],
        "documentControls": {"mrzValid": true, "documentExpired": false, "documentAppearanceValid": true,
            "hologramDetected": true},
        "biometryControls": {"livenessValid": true, "faceMatchScore": 0.93}
    });
    Scenario {
        identity_checks: vec![(JOHN, json!({"videoIdentification": video}))],
        files: vec![front],
        ..Scenario::default()
    }
}

/// La Poste's Identité Numérique: the provider said OK, the birth name does not match.
pub fn lin() -> Scenario {
    Scenario {
        identity_checks: vec![(
            JOHN,
            json!({"lin": {
                "taskId": "L_1",
                "activationUuid": "9bcf484c-9412-4afc-a58c-50835af63bdb",
                "date": "2024-06-14T09:53:27Z",
                "verifiedAt": "2024-05-31T10:01:30Z",
                "expired": false,
                "providerVerdict": "OK",
                "providerData": {"subjectIdentifier": "sub-8d1f", "email": "j.doe@example.net", "givenName": "John",
                    "familyName": "Doe", "birthDate": "1984-08-13", "birthPlace": "34172", "birthCountry": "99100", "gender": "male"},
                "comparisonVerdict": "KO",
                "controls": {"firstName": "MATCHING", "birthName": "NOT_MATCHING", "lastName": "MATCHING", "birthDate": "SKIPPED"}
            }}),
        )],
        ..Scenario::default()
    }
}

fn document(
    files: &[NamedFile],
    id: &str,
    doc_type: &str,
    task: &str,
    validation: &str,
    controls: Value,
) -> Value {
    json!({
        "files": file_refs(files),
        "source": "WEB#Chrome_120.0#Win32",
        "attachmentId": id,
        "type": doc_type,
        "id": id,
        "label": id,
        "channel": "SIGNBOOK_API_V6",
        "taskId": task,
        "participantUuid": JOHN,
        "validation": validation,
        "areControlsObsolete": null,
        "date": "2024-06-14T10:00:00Z",
        "controls": controls
    })
}

/// A payslip that is too old, with the employer found in the company registry.
pub fn payslip() -> Scenario {
    let files = vec![image("2_john_doe_payslip_1.jpg", 41)];
    let mut doc = document(
        &files,
        "payslip",
        "PAYSLIP",
        "4_6",
        "VALIDATION_FAILURE",
        json!({
            "documentTypeMatch": true, "dateFound": true, "maxAgeExceeded": true,
            "companyConnectorFailed": false, "companyConnectorRequested": true, "companyIdValid": true,
            "companyOfficeIdValid": true, "companyOfficeAlive": true, "nirFound": true, "nirValid": true,
            "containsTamperingSign": false,
            "participants": [{"owner": JOHN, "nameFound": true, "postalAddressFound": true, "postalAddressMatch": true,
                "civilityMatch": true, "birthDateMatch": true}]
        }),
    );
    doc["documentDetails"] = json!({"firstName": "John", "lastName": "DOE", "birthName": "DOE",
        "address": "123 rue Victor Hugo", "ssn": "1840834172005", "legalEntityOfficeId": "45302368100017",
        "periodDate": "2023-07-01", "seniorityDate": "2018-06-10", "monthlyNetTaxableIncome": 1854.25,
        "annualNetTaxableIncome": 25412.25});
    doc["extraData"] = json!({"companyDetails": {"legalName": "MY COMPANY", "companyId": "453023681",
        "legalAgents": [{"agentRole": "Président", "agentFullname": "MARTIN Paul", "agentBirthDate": "1971-01-01"}],
        "offices": [{"address": "23 Avenue du marché", "city": "MONTPELLIER", "postalCode": "34000",
            "apeCode": "5829C", "main": true, "siret": "45302368100017"}],
        "registrationDate": "2001-01-01", "legalForm": "société par actions simplifiée"}});
    Scenario {
        documents: vec![doc],
        files,
        ..Scenario::default()
    }
}

/// A tax notice with a valid 2D-Doc whose second declarant's name does not match.
pub fn tax_notice() -> Scenario {
    let files = vec![pdf("3_john_doe_avis_imposition_1.pdf", "avis d'impot")];
    let mut doc = document(
        &files,
        "tax_notice",
        "TAX_NOTICE",
        "4_7",
        "VALIDATED",
        json!({
            "containsAnnotations": false, "containsTamperingSign": false, "documentTypeMatch": true,
            "dateFound": true, "maxAgeExceeded": false, "fiscalNumberFound": true, "taxNoticeReferenceFound": true,
            "doc2DFound": true, "doc2DValid": true, "doc2DAndDocumentMatch": false, "doc2DAndDocumentTypeMatch": true,
            "doc2DAndFullName1Match": true, "doc2DAndFullName2Match": false, "doc2DAndIncomeYearMatch": true,
            "doc2DAndReferenceIncomeMatch": true, "keywordsOperatorInfo": [],
            "participants": [{"owner": JOHN, "fullNameMatch": true, "nameFound": true, "postalAddressFound": true}]
        }),
    );
    doc["documentDetails"] = json!({"reference": "2321A0123456789", "address": "39 RUE DE LA GARE 34000 MONTPELLIER",
        "issuanceDate": "2023-08-24", "fiscalNumber1": "3012345678901", "fiscalNumber2": "3012345678902",
        "refIncome": "25000", "incomeYear": 2022,
        "doc2D": {"signatureDate": "2023-08-24", "fullName1": "DOE JOHN", "fullName2": "DOE JANE",
            "signedBy": "C=FR, O=DGFIP, OU=0002 13000001, CN=FR05", "referenceIncome": 25000, "partsCount": 2,
            "fiscalNumber1": "3012345678901", "fiscalNumber2": "3012345678902", "assessmentDate": "2023-07-31",
            "taxNoticeReference": "2321A0123456789", "incomeYear": 2022}});
    Scenario {
        documents: vec![doc],
        files,
        ..Scenario::default()
    }
}

/// A RIB from a bank country that is not allowed, with a blacklisted keyword.
pub fn rib() -> Scenario {
    let files = vec![pdf("4_john_doe_rib_1.pdf", "RIB")];
    let doc = document(
        &files,
        "rib",
        "RIB",
        "4_8",
        "VALIDATION_FAILURE",
        json!({
            "documentTypeMatch": true, "ibanChecksumValid": true, "bankCountryValid": false, "ibanFound": true,
            "keywordsWhitelist": ["BANQUE"], "keywordsBlacklist": ["SPECIMEN"],
            "participants": [{"owner": JOHN, "ibanMatch": true, "nameFound": true}]
        }),
    );
    Scenario {
        documents: vec![doc],
        files,
        ..Scenario::default()
    }
}

/// A signed contract and a mandate, with required and optional consent clauses.
pub fn signed_documents() -> Scenario {
    let files = vec![
        pdf("signed_contract.pdf", "contrat signé"),
        pdf("signed_sepa_mandate.pdf", "mandat"),
    ];
    Scenario {
        signed_documents: vec![
            json!({"id": "contract", "consentClauses": [
                {"checked": true, "id": "clause-01", "text": "J’accepte les conditions générales", "required": true, "signerUuid": JOHN},
                {"checked": false, "id": "clause-02", "text": "J’accepte de recevoir des offres commerciales", "required": false, "signerUuid": JOHN}
            ]}),
            json!({"id": "sepa_mandate", "consentClauses": [
                {"checked": true, "id": "clause-sepa", "text": "J’autorise le prélèvement", "required": true, "signerUuid": JOHN}
            ]}),
        ],
        events: vec![
            json!({"date": "2024-06-14T10:20:00Z", "state": "OK", "type": "SIGNATURE", "executedBy": JOHN, "taskId": "S_1"}),
        ],
        files,
        ..Scenario::default()
    }
}

/// A company (legal entity) with its registry data and one agent whose name does not match.
pub fn legal_entity() -> Scenario {
    Scenario {
        legal_entity: Some(json!({
            "companyId": "453023681",
            "name": "My corp",
            "postalAddress": {"postalAddress1": "123 rue Victor Hugo", "postalCode": "75000", "postalCity": "Paris"},
            "iban": "FR7630006000011234567890189",
            "data": {
                "controls": {
                    "agents": [{"agentNameMatch": false, "owner": JOHN}],
                    "companyAlive": true, "companyIdValid": true, "companyOfficeIdValid": false, "identifierFormatValid": true
                },
                "extraData": {"companyDetails": {
                    "companyId": "453023681",
                    "legalAgents": [{"agentBirthDate": "1984-08-13", "agentBirthName": "DOE", "agentFirstName": "JOHN",
                        "agentFullname": "DOE JOHN", "agentLastName": "DOE", "agentRole": "Président"}],
                    "legalForm": "Société par actions simplifiée (SAS)", "legalName": "MY CORP",
                    "offices": [{"address": "10 AV DES CHAMPS", "apeCode": "5829C", "city": "PARIS", "main": true,
                        "postalCode": "75000", "siret": "45302368100017"}],
                    "registrationDate": "2001-01-01"
                }}
            }
        })),
        ..Scenario::default()
    }
}

/// A VALIDATED ID card that an operator later marked as defrauded
/// (`DEFRAUDED_DOCUMENT_REGISTRATION` with its task id and the submission event attached), and
/// a `DOCUMENT_REVIEWED` of it after the mark: the card fails with reason `fraudMarked`
/// whatever its validation and the review say.
pub fn fraud_marked() -> Scenario {
    let mut s = french_id_card(false);
    s.events
        .push(json!({"date": "2024-06-17T09:30:00Z", "state": "OK",
        "type": "DEFRAUDED_DOCUMENT_REGISTRATION", "taskId": "1_1", "label": "Document frauduleux",
        // The reference says the submission event is attached without naming the field:
        // this name is the generator's, not Namirial's.
        "submissionEvent": {"date": "2024-06-17T07:35:21Z", "type": "DOCUMENT_SUBMISSION",
            "taskId": "1_1", "documentId": "ID_CARD"}}));
    s.events.push(
        json!({"date": "2024-06-17T10:00:00Z", "state": "OK", "type": "DOCUMENT_REVIEWED",
        "taskId": "1_1", "documentId": "ID_CARD", "documentCategory": "ID_DOCUMENT"}),
    );
    s.state = Some("ACCEPTED");
    s
}

/// A fraud mark naming a task no document of the file has: it links to nothing and still
/// fails the file (listed unlinked).
pub fn fraud_unlinked() -> Scenario {
    let mut s = payslip();
    s.events
        .push(json!({"date": "2024-06-17T09:30:00Z", "state": "OK",
        "type": "DEFRAUDED_DOCUMENT_REGISTRATION", "taskId": "9_9"}));
    s.state = Some("ACCEPTED");
    s
}

/// Two participants' ID cards share the workflow's document id `ID_CARD`: Corinne's (task
/// 1_1) failed, John's (task 2_1) passed. An operator reviews John's card (task 2_1), and a
/// second review names only `ID_CARD`: neither may touch Corinne's failure.
pub fn review_other_participant() -> Scenario {
    let mut s = french_id_card(true);
    let mut john = s.identity_checks[0].1["idDocument"].clone();
    let files = vec![
        image("2_john_doe_attachment_2_1.jpg", 51),
        image("2_john_doe_attachment_2_2.jpg", 52),
    ];
    john["files"] = file_refs(&files);
    john["taskId"] = json!("2_1");
    john["participantUuid"] = json!(JOHN);
    john["owner"] = json!("participant_2");
    john["validation"] = json!("VALIDATED");
    john["date"] = json!("2024-06-17T08:10:00Z");
    john["controls"]["documentExpired"] = json!(false);
    john["controls"]["ocrMrzBirthDateMatch"] = json!(true);
    john["controls"]["participants"] = json!([{"owner": JOHN, "firstLastNamesInverted": false,
        "namesInverted": false, "lastNameMatch": true, "firstNameMatch": true, "civilityMatch": true}]);
    john["data"] = json!({"pages": []});
    s.identity_checks.push((JOHN, json!({"idDocument": john})));
    s.files.extend(files);
    s.events.push(
        json!({"date": "2024-06-17T08:10:00Z", "state": "OK", "type": "DOCUMENT_SUBMISSION",
        "executedBy": JOHN, "taskId": "2_1", "documentType": "ID_CARD", "documentId": "ID_CARD",
        "documentCategory": "ID_DOCUMENT"}),
    );
    s.events.push(
        json!({"date": "2024-06-17T11:00:00Z", "state": "OK", "type": "DOCUMENT_REVIEWED",
        "taskId": "2_1", "documentId": "ID_CARD", "documentCategory": "ID_DOCUMENT"}),
    );
    s.events.push(
        json!({"date": "2024-06-17T11:05:00Z", "state": "OK", "type": "DOCUMENT_REVIEWED",
        "documentId": "ID_CARD", "documentCategory": "ID_DOCUMENT"}),
    );
    s.state = Some("PENDING");
    s
}

/// The face match of [`face_match_overturned`], its review carrying an acceptance field.
/// `reviewState` is the generator's name for it (the reference names none): a bank that has
/// confirmed the real name with Namirial sets `REVIEW_OUTCOME=field:<name>=<accepted>/<rejected>`.
pub fn review_outcome_field() -> Scenario {
    let mut s = face_match_overturned();
    let review = s
        .events
        .iter_mut()
        .find(|e| e["type"] == "FACE_MATCH_REVIEWED")
        .expect("the face match's review");
    review["reviewState"] = json!("ACCEPTED");
    s
}

/// A payslip whose validation was not run (NOT_VALIDATED) though its controls found it too
/// old and its postal address wrong: failures kept visible, neither a pass nor a failure.
pub fn not_validated_failures() -> Scenario {
    let mut s = payslip();
    s.documents[0]["validation"] = json!("NOT_VALIDATED");
    s.documents[0]["controls"]["participants"][0]["postalAddressMatch"] = json!(false);
    s.state = Some("PENDING");
    s
}

/// The participants, in a fixed order, with their identity checks attached.
fn participants(checks: &[(&'static str, Value)]) -> Value {
    let people = [
        json!({"type": "SIGNER", "civility": "MRS", "firstName": "Corinne", "lastName": "Berthier",
            "birthName": "Berthier", "birthDate": "1965-12-06", "birthPlace": "Paris", "email": "c.berthier@example.net",
            "mobilePhone": "+33612345678", "iban": "FR7630006000011234567890189", "uuid": CORINNE, "profiles": []}),
        json!({"type": "SIGNER", "civility": "MR", "firstName": "John", "lastName": "Doe", "birthDate": "1984-08-13",
            "email": "j.doe@example.net", "mobilePhone": "+33687654321",
            "postalAddress": {"address1": "123 rue Victor Hugo", "postalCode": "75000", "city": "Paris"},
            "uuid": JOHN, "profiles": []}),
    ];
    Value::Array(
        people
            .into_iter()
            .map(|mut p| {
                let uuid = p["uuid"].as_str().unwrap().to_string();
                let mine: Vec<Value> = checks
                    .iter()
                    .filter(|(u, _)| *u == uuid)
                    .map(|(_, c)| c.clone())
                    .collect();
                if !mine.is_empty() {
                    p["identityChecks"] = Value::Array(mine);
                }
                p
            })
            .collect(),
    )
}

/// The whole report.json for a scenario.
pub fn report(s: &Scenario) -> Value {
    let state = s.state.unwrap_or(if s.rejection.is_some() {
        "REJECTED"
    } else {
        "ACCEPTED"
    });
    let mut events = vec![
        json!({"date": "2024-06-14T09:00:00Z", "state": "OK", "type": "CREATION",
        "groupUuid": "4ba3c1e0-6c76-4f08-82bc-0cda98b93fb6", "groupName": "Agence Paris"}),
    ];
    events.extend(s.events.iter().cloned());
    let mut client_file = json!({
        "participants": participants(&s.identity_checks),
        "uuid": CLIENT_FILE_UUID,
        "id": 10002,
        "externalId": EXTERNAL_ID,
        "externalInfo": {"customerId": EXTERNAL_ID, "channel": "mobile-app"},
        "startDate": "2024-06-14T09:00:00Z",
        "state": state,
        "archivingState": if state == "ACCEPTED" { "ARCHIVED" } else { "NOT_YET_ARCHIVED" },
        "productUuid": "5d0a6c4e-5b0e-4a55-9b59-2f8a3f0c1a11",
        "productName": "Ouverture de compte",
        "workflowUuid": "0b6f4c8e-2c1d-4e3f-8a9b-7c6d5e4f3a21",
        "workflowName": "kyc-particulier",
        "workflowLabel": "KYC particulier",
        "group": {"uuid": "4ba3c1e0-6c76-4f08-82bc-0cda98b93fb6", "label": "Agence Paris", "defaultGroup": false}
    });
    match (state, s.rejection) {
        ("REJECTED", Some((cause, message))) => {
            client_file["finishDate"] = json!("2024-06-18T08:00:00Z");
            client_file["rejectionCause"] = json!(cause);
            client_file["rejectionMessage"] = json!(message);
            client_file["archivingState"] = json!("NOT_ARCHIVED");
            events
                .push(json!({"date": "2024-06-18T08:00:00Z", "state": "OK", "type": "REJECTION"}));
        }
        ("ACCEPTED", _) => {
            client_file["finishDate"] = json!("2024-06-18T08:00:00Z");
            client_file["validationDate"] = json!("2024-06-18T08:00:00Z");
            client_file["acceptationMessage"] = json!("Dossier conforme");
            client_file["recordId"] = json!(RECORD_ID);
            events.push(
                json!({"date": "2024-06-18T08:00:00Z", "state": "OK", "type": "ACCEPTATION"}),
            );
        }
        _ => {}
    }
    if let Some(le) = &s.legal_entity {
        client_file["legalEntity"] = le.clone();
    }
    let mut r = json!({
        "date": "2024-06-18T08:00:05Z",
        "clientFile": client_file,
        "documents": s.documents,
        "events": events
    });
    if !s.signed_documents.is_empty() {
        r["signedDocuments"] = json!(s.signed_documents);
    }
    r
}

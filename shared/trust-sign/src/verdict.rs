//! Verdicts that explain themselves: per identity check, per document, per participant, and a
//! client-file summary, all serializable to JSON with personal data redacted.
//!
//! How an outcome is reached (all from the reference):
//! - `validation` (VALIDATED / VALIDATION_FAILURE / NOT_VALIDATED) is Namirial's automatic
//!   decision. Failed controls explain a failure; on a VALIDATED document they are warnings
//!   ("si l'événement représente une erreur, ce champ indique plus précisément la cause, sinon
//!   il indique des warning"). Without `validation`, failed controls or error codes decide.
//! - A later operator review (`DOCUMENT_REVIEWED`, `FACE_MATCH_REVIEWED`) with state OK accepts,
//!   KO rejects; an automatic failure accepted on review is `Overturned`. A later
//!   `REVIEW_CANCELED` for the same task voids the review before it. A review is linked to a
//!   check by `taskId`, or for documents by `documentId`; one that links to nothing is listed
//!   in `unlinked_reviews`, never dropped. (Reading OK/KO as accepted/rejected is our
//!   interpretation of "il contient ... son état (accepté ou rejeté)".)

use super::controls::{self, ControlResult};
use super::report::{
    ClientFile, ClientFileState, Controls, Document, Event, EventState, EventType, FaceMatch, Lin,
    LinMatch, LinVerdict, Report, SignedDocument, Timestamp, Validation, VideoIdentification,
};
use kyc_core::redact::Personal;
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    /// Failed automatically, accepted by an operator's later review.
    Overturned,
    /// Not validated (no decision aid, nothing submitted yet...).
    NotEvaluated,
    Failed,
    /// Passed (or not evaluated) automatically, rejected by an operator's review.
    RejectedOnReview,
}

impl Outcome {
    /// Combining: the worst wins.
    fn severity(self) -> u8 {
        match self {
            Outcome::Passed => 0,
            Outcome::Overturned => 1,
            Outcome::NotEvaluated => 2,
            Outcome::Failed | Outcome::RejectedOnReview => 3,
        }
    }
    fn worst(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
        outcomes
            .into_iter()
            .max_by_key(|o| o.severity())
            .unwrap_or(Outcome::NotEvaluated)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    IdDocument,
    FaceMatch,
    VideoIdentification,
    Lin,
    Document,
    LegalEntity,
}

/// One control's judged value. `value` is the boolean or enum as written; keyword lists are
/// reduced to their length (keywords are document text).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlFinding {
    pub control: String,
    /// `document`, `participant:<uuid>`, `frTaxNotice:<uuid>`, `agent:<uuid>`,
    /// `documentControls`, `biometryControls`.
    pub scope: String,
    pub result: ControlResult,
    pub value: Value,
    /// `documented` or `inferred` (from the reference's examples); absent when unknown.
    pub basis: Option<controls::Basis>,
}

/// An error or warning code, with its meaning when PROVIDERS.md knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Code {
    pub code: Value,
    pub meaning: Option<&'static str>,
}

fn code(v: &Value) -> Code {
    let meaning = match v.as_i64() {
        Some(2533) => Some("suspected age inconsistency"),
        Some(2413) => Some("biometry video tampered"),
        Some(2414) => Some("document video tampered"),
        _ => None,
    };
    Code {
        code: v.clone(),
        meaning,
    }
}

/// An operator review that applies to a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    pub event_type: String,
    pub date: Option<String>,
    pub task_id: Option<String>,
    pub document_id: Option<String>,
    /// OK → true, KO → false, anything else → unknown (the review then changes nothing).
    pub accepted: Option<bool>,
    /// A later REVIEW_CANCELED voided it.
    pub canceled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckVerdict {
    pub kind: CheckKind,
    /// Where in report.json this check is (`documents[2]`, `clientFile.participants[0]...`).
    pub locator: String,
    pub participant_uuid: Option<String>,
    pub task_id: Option<String>,
    pub document_id: Option<String>,
    pub document_type: Option<String>,
    pub validation: Option<String>,
    /// What Namirial decided automatically.
    pub automatic: Outcome,
    /// After operator reviews.
    pub outcome: Outcome,
    pub failed_controls: Vec<ControlFinding>,
    pub warning_controls: Vec<ControlFinding>,
    /// Controls the reference never shows: reported, not judged.
    pub unknown_polarity_controls: Vec<ControlFinding>,
    /// Controls judged on a polarity inferred from the reference's examples (passed ones
    /// too), so an operator can tell documented verdicts from inferred ones.
    pub inferred_controls: Vec<ControlFinding>,
    pub errors: Vec<Code>,
    pub warnings: Vec<Code>,
    pub review: Option<Review>,
    /// Other facts worth a look: LiveCheck refusal reason, obsolete controls, anonymized...
    pub notes: Vec<String>,
}

impl CheckVerdict {
    fn new(kind: CheckKind, locator: String) -> Self {
        Self {
            kind,
            locator,
            participant_uuid: None,
            task_id: None,
            document_id: None,
            document_type: None,
            validation: None,
            automatic: Outcome::NotEvaluated,
            outcome: Outcome::NotEvaluated,
            failed_controls: Vec::new(),
            warning_controls: Vec::new(),
            unknown_polarity_controls: Vec::new(),
            inferred_controls: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            review: None,
            notes: Vec::new(),
        }
    }

    /// Judges a control set; returns how many controls had a good/bad reading.
    fn add_controls(&mut self, controls: &Controls, scope: &str) -> usize {
        let mut judged = self.add_checks(controls.checks.iter(), scope);
        for (prefix, owners) in [
            ("participant", &controls.participants),
            ("frTaxNotice", &controls.fr_tax_notice),
            ("agent", &controls.agents),
        ] {
            for o in owners {
                let scope = format!("{prefix}:{}", o.owner.as_deref().unwrap_or("?"));
                judged += self.add_checks(o.checks.iter(), &scope);
            }
        }
        let omitted = controls.unknown_omitted
            + [
                &controls.participants,
                &controls.fr_tax_notice,
                &controls.agents,
            ]
            .iter()
            .flat_map(|owners| owners.iter())
            .map(|o| o.unknown_omitted)
            .sum::<usize>();
        if omitted > 0 {
            self.notes.push(format!(
                "{omitted} more controls of unknown polarity in {scope} not listed"
            ));
        }
        if let Some(r) = &controls.live_check_refuse_reason {
            let reason = r.reason.as_ref().map_or("unspecified", |r| r.as_str());
            let sub = r
                .sub_reason
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            self.notes.push(format!("LiveCheck refused: {reason}{sub}"));
        }
        judged
    }

    fn add_checks<'a>(
        &mut self,
        checks: impl Iterator<Item = (&'a String, &'a Value)>,
        scope: &str,
    ) -> usize {
        let mut judged = 0;
        for (name, value) in checks {
            let lookup = controls::lookup(name);
            let result = controls::evaluate(name, value);
            let finding = ControlFinding {
                control: name.clone(),
                scope: scope.to_string(),
                result,
                basis: lookup.map(|(_, b)| b),
                value: match value {
                    Value::Array(a) => Value::from(a.len()),
                    Value::Object(_) => Value::from("{…}"),
                    Value::String(_) => Value::from("…"),
                    other => other.clone(),
                },
            };
            if lookup.is_some_and(|(_, b)| b == controls::Basis::Inferred) {
                self.inferred_controls.push(finding.clone());
            }
            match result {
                ControlResult::Passed => judged += 1,
                ControlResult::Failed => {
                    judged += 1;
                    self.failed_controls.push(finding);
                }
                ControlResult::Warning => {
                    judged += 1;
                    self.warning_controls.push(finding);
                }
                ControlResult::UnknownPolarity => self.unknown_polarity_controls.push(finding),
                ControlResult::NotApplicable => {}
            }
        }
        judged
    }

    /// The automatic outcome: `validation` when present, else the findings.
    fn decide(&mut self, validation: Option<&Validation>, judged: usize) {
        self.validation = validation.map(|v| v.as_str().to_string());
        let failed = !self.failed_controls.is_empty() || !self.errors.is_empty();
        self.automatic = match validation {
            Some(Validation::Validated) => Outcome::Passed,
            Some(Validation::ValidationFailure) => Outcome::Failed,
            Some(Validation::NotValidated) => Outcome::NotEvaluated,
            _ if failed => Outcome::Failed,
            _ if judged > 0 => Outcome::Passed,
            _ => Outcome::NotEvaluated,
        };
        self.outcome = self.automatic;
    }

    fn apply_review(&mut self, review: Option<Review>) {
        let Some(review) = review else { return };
        if !review.canceled {
            self.outcome = match (self.automatic, review.accepted) {
                (automatic, None) => automatic,
                (Outcome::Failed, Some(true)) => Outcome::Overturned,
                (Outcome::Failed, Some(false)) => Outcome::Failed,
                (_, Some(true)) => Outcome::Passed,
                (_, Some(false)) => Outcome::RejectedOnReview,
            };
        }
        self.review = Some(review);
    }
}

/// Links review events to checks and remembers which events were used.
impl Review {
    /// A review event as found (not yet voided by a later REVIEW_CANCELED).
    fn of(e: &Event) -> Self {
        Review {
            event_type: e.event_type.as_ref().map_or("", |t| t.as_str()).to_string(),
            date: e.date.as_ref().map(|d| d.raw().to_string()),
            task_id: e.task_id.clone(),
            document_id: e.document_id.clone(),
            accepted: match e.state {
                Some(EventState::Ok) => Some(true),
                Some(EventState::Ko) => Some(false),
                _ => None,
            },
            canceled: false,
        }
    }
}

struct Reviews<'a> {
    events: Vec<(usize, &'a Event)>,
    used: Vec<bool>,
}

fn is_review(t: &EventType) -> bool {
    matches!(
        t,
        EventType::DocumentReviewed
            | EventType::FaceMatchReviewed
            | EventType::LegalEntityReviewed
            | EventType::LegalAgentReviewed
            | EventType::ReviewCanceled
    )
}

impl<'a> Reviews<'a> {
    fn new(events: &'a [Event]) -> Self {
        let mut list: Vec<(usize, &Event)> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.event_type.as_ref().is_some_and(is_review))
            .collect();
        // Chronological; the array order breaks ties and places undated events.
        list.sort_by_key(|(i, e)| (e.date.as_ref().and_then(Timestamp::instant), *i));
        let used = vec![false; events.len()];
        Self { events: list, used }
    }

    /// The review in force for a check of `review_type`, after `since`.
    fn find(
        &mut self,
        review_type: EventType,
        task_id: Option<&str>,
        document_id: Option<&str>,
        since: Option<&Timestamp>,
    ) -> Option<Review> {
        let since = since.and_then(Timestamp::instant);
        let mut current: Option<Review> = None;
        for (index, e) in &self.events {
            let linked = (task_id.is_some() && e.task_id.as_deref() == task_id)
                || (document_id.is_some() && e.document_id.as_deref() == document_id);
            let later = match (since, e.date.as_ref().and_then(Timestamp::instant)) {
                (Some(s), Some(d)) => d >= s,
                _ => true,
            };
            if !linked || !later {
                continue;
            }
            let t = e.event_type.as_ref().expect("filtered on type");
            if *t == EventType::ReviewCanceled {
                if let Some(r) = current.as_mut() {
                    r.canceled = true;
                    self.used[*index] = true;
                }
            } else if *t == review_type {
                self.used[*index] = true;
                current = Some(Review::of(e));
            }
        }
        current
    }

    fn unlinked(&self) -> Vec<Review> {
        self.events
            .iter()
            .filter(|(i, _)| !self.used[*i])
            .map(|(_, e)| Review::of(e))
            .collect()
    }
}

fn document_verdict(
    doc: &Document,
    kind: CheckKind,
    locator: String,
    reviews: &mut Reviews,
) -> CheckVerdict {
    let mut v = CheckVerdict::new(kind, locator);
    v.participant_uuid = doc.participant_uuid.clone();
    v.task_id = doc.task_id.clone();
    v.document_id = doc.id.clone();
    v.document_type = doc.doc_type.clone();
    v.errors = doc.errors.iter().map(code).collect();
    v.warnings = doc.warnings.iter().map(code).collect();
    let judged = doc
        .controls
        .as_ref()
        .map_or(0, |c| v.add_controls(c, "document"));
    if doc.are_controls_obsolete == Some(true) {
        v.notes
            .push("controls are obsolete: the file changed after this submission".into());
    }
    if doc.is_anonymized() {
        v.notes
            .push("anonymized: the file is not in the archive".into());
    }
    v.decide(doc.validation.as_ref(), judged);
    let review = reviews.find(
        EventType::DocumentReviewed,
        doc.task_id.as_deref(),
        doc.id.as_deref(),
        doc.date.as_ref(),
    );
    v.apply_review(review);
    v
}

fn face_match_verdict(fm: &FaceMatch, locator: String, reviews: &mut Reviews) -> CheckVerdict {
    let mut v = CheckVerdict::new(CheckKind::FaceMatch, locator);
    v.participant_uuid = fm.participant_uuid.clone();
    v.task_id = fm.task_id.clone();
    v.errors = fm.errors.iter().map(code).collect();
    v.warnings = fm.warnings.iter().map(code).collect();
    let judged = fm
        .controls
        .as_ref()
        .map_or(0, |c| v.add_controls(c, "faceMatch"));
    v.decide(fm.validation.as_ref(), judged);
    let review = reviews.find(
        EventType::FaceMatchReviewed,
        fm.task_id.as_deref(),
        None,
        fm.date.as_ref(),
    );
    v.apply_review(review);
    v
}

fn video_verdict(video: &VideoIdentification, locator: String) -> CheckVerdict {
    let mut v = CheckVerdict::new(CheckKind::VideoIdentification, locator);
    v.participant_uuid = video.participant_uuid.clone();
    v.task_id = video.task_id.clone();
    v.document_type = video.doc_type.clone();
    v.errors = video.errors.iter().map(code).collect();
    v.warnings = video.warnings.iter().map(code).collect();
    let mut judged = 0;
    if let Some(c) = &video.document_controls {
        judged += v.add_controls(c, "documentControls");
    }
    if let Some(c) = &video.biometry_controls {
        judged += v.add_controls(c, "biometryControls");
    }
    v.decide(video.validation.as_ref(), judged);
    v
}

fn lin_verdict(lin: &Lin, locator: String) -> CheckVerdict {
    let mut v = CheckVerdict::new(CheckKind::Lin, locator);
    v.task_id = lin.task_id.clone();
    v.errors = lin.errors.iter().map(code).collect();
    for (name, value) in &lin.controls {
        let result = match value {
            LinMatch::Matching => ControlResult::Passed,
            LinMatch::NotMatching => ControlResult::Failed,
            LinMatch::Skipped => continue,
            LinMatch::Other(_) => ControlResult::UnknownPolarity,
        };
        let finding = ControlFinding {
            control: name.clone(),
            scope: "lin".into(),
            result,
            value: Value::from(value.as_str()),
            basis: (result != ControlResult::UnknownPolarity)
                .then_some(controls::Basis::Documented),
        };
        match result {
            ControlResult::Failed => v.failed_controls.push(finding),
            ControlResult::UnknownPolarity => v.unknown_polarity_controls.push(finding),
            _ => {}
        }
    }
    if lin.expired == Some(true) {
        v.notes
            .push("the identification had expired: an OTP was requested".into());
    }
    let verdicts = [
        ("providerVerdict", &lin.provider_verdict),
        ("comparisonVerdict", &lin.comparison_verdict),
    ];
    let mut any = false;
    let mut ko = false;
    for (name, verdict) in verdicts {
        match verdict {
            Some(LinVerdict::Ok) => any = true,
            Some(LinVerdict::Ko) => {
                any = true;
                ko = true;
                v.notes.push(format!("{name} is KO"));
            }
            Some(LinVerdict::Other(raw)) => v
                .notes
                .push(format!("{name} has an undescribed value {raw:?}")),
            None => {}
        }
    }
    // The provider's and the comparison's verdicts decide; NOT_MATCHING controls explain.
    v.automatic = if ko || !v.errors.is_empty() {
        Outcome::Failed
    } else if any {
        Outcome::Passed
    } else {
        Outcome::NotEvaluated
    };
    v.outcome = v.automatic;
    v
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParticipantVerdict {
    pub uuid: Option<String>,
    pub participant_type: Option<String>,
    /// The worst outcome of the participant's identity checks and documents.
    pub outcome: Outcome,
    pub identity_checks: Vec<CheckVerdict>,
    pub documents: Vec<CheckVerdict>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignedDocumentSummary {
    pub id: String,
    pub file_name: String,
    pub clauses: usize,
    pub checked: usize,
    /// Required clauses not checked: the reference says this cannot happen.
    pub required_unchecked: Vec<String>,
    pub optional_declined: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accepted,
    Rejected,
    InProgress,
}

/// What the client file says, ready to store. Personal data is redacted on serialization.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientFileSummary {
    pub client_file_uuid: Option<String>,
    pub client_file_id: Option<String>,
    pub report_date: Option<String>,
    pub state: Option<String>,
    pub decision: Decision,
    pub rejection_cause: Option<String>,
    pub rejection_message: Option<Personal<String>>,
    pub acceptation_message: Option<Personal<String>>,
    /// Legal archive id: Namirial drops it ~3 months after closure.
    pub record_id: Option<String>,
    pub archiving_state: Option<String>,
    pub external_id: Option<String>,
    pub external_info: Map<String, Value>,
    pub start_date: Option<String>,
    pub finish_date: Option<String>,
    pub validation_date: Option<String>,
    pub product_uuid: Option<String>,
    pub product_name: Option<String>,
    pub workflow_uuid: Option<String>,
    pub workflow_name: Option<String>,
    pub workflow_label: Option<String>,
    pub group_uuid: Option<String>,
    pub group_label: Option<String>,
    pub participants: Vec<ParticipantVerdict>,
    /// Documents whose participant is not in the file (or not given).
    pub other_documents: Vec<CheckVerdict>,
    pub legal_entity: Option<CheckVerdict>,
    pub signed_documents: Vec<SignedDocumentSummary>,
    pub unlinked_reviews: Vec<Review>,
    /// Breaches of the reference's own rules (e.g. REJECTED without a rejection cause).
    pub inconsistencies: Vec<String>,
    /// Display-only fields of an unexpected type: read leniently and noted, never fatal.
    pub type_mismatches: super::report::TypeMismatches,
}

fn raw(t: &Option<Timestamp>) -> Option<String> {
    t.as_ref().map(|t| t.raw().to_string())
}

/// Builds the summary and every verdict of a report.
pub fn summarize(report: &Report) -> ClientFileSummary {
    let mut reviews = Reviews::new(&report.events);
    let cf = report.client_file.as_ref();
    // Reviews are claimed in this order: identity checks first, then documents.
    let mut participants = participant_verdicts(report, &mut reviews);
    let other_documents = place_documents(report, &mut participants, &mut reviews);
    let signed_documents: Vec<SignedDocumentSummary> = report
        .signed_documents
        .iter()
        .map(signed_document_summary)
        .collect();
    let state = cf.and_then(|c| c.state.clone());
    let decision = match state {
        Some(ClientFileState::Accepted) => Decision::Accepted,
        Some(ClientFileState::Rejected) => Decision::Rejected,
        _ => Decision::InProgress,
    };
    let inconsistencies = inconsistencies(cf, decision, &signed_documents);

    ClientFileSummary {
        client_file_uuid: cf.and_then(|c| c.uuid.clone()),
        client_file_id: cf.and_then(|c| c.id.as_ref().map(|i| i.0.clone())),
        report_date: raw(&report.date),
        state: state.as_ref().map(|s| s.as_str().to_string()),
        decision,
        rejection_cause: cf.and_then(|c| c.rejection_cause.clone()),
        rejection_message: cf.and_then(|c| c.rejection_message.clone()),
        acceptation_message: cf.and_then(|c| c.acceptation_message.clone()),
        record_id: cf.and_then(|c| c.record_id.clone()),
        archiving_state: cf
            .and_then(|c| c.archiving_state.as_ref().map(|s| s.as_str().to_string())),
        external_id: cf.and_then(|c| c.external_id.clone()),
        external_info: cf.map(|c| c.external_info.clone()).unwrap_or_default(),
        start_date: cf.and_then(|c| raw(&c.start_date)),
        finish_date: cf.and_then(|c| raw(&c.finish_date)),
        validation_date: cf.and_then(|c| raw(&c.validation_date)),
        product_uuid: cf.and_then(|c| c.product_uuid.clone()),
        product_name: cf.and_then(|c| c.product_name.clone()),
        workflow_uuid: cf.and_then(|c| c.workflow_uuid.clone()),
        workflow_name: cf.and_then(|c| c.workflow_name.clone()),
        workflow_label: cf.and_then(|c| c.workflow_label.clone()),
        group_uuid: cf.and_then(|c| c.group.as_ref().and_then(|g| g.uuid.clone())),
        group_label: cf.and_then(|c| c.group.as_ref().and_then(|g| g.label.clone())),
        participants,
        other_documents,
        legal_entity: cf.and_then(legal_entity_verdict),
        signed_documents,
        unlinked_reviews: reviews.unlinked(),
        inconsistencies,
        type_mismatches: report.type_mismatches.clone(),
    }
}

/// Each participant's identity-check verdicts (documents are placed afterwards).
fn participant_verdicts(report: &Report, reviews: &mut Reviews) -> Vec<ParticipantVerdict> {
    report
        .participants()
        .iter()
        .enumerate()
        .map(|(pi, p)| {
            let mut checks = Vec::new();
            for (ci, check) in p.identity_checks.iter().enumerate() {
                let base = format!("clientFile.participants[{pi}].identityChecks[{ci}]");
                if let Some(doc) = &check.id_document {
                    let mut v = document_verdict(
                        doc,
                        CheckKind::IdDocument,
                        format!("{base}.idDocument"),
                        reviews,
                    );
                    v.participant_uuid = v.participant_uuid.or_else(|| p.uuid.clone());
                    checks.push(v);
                }
                for (at, fm) in check.all_face_matches() {
                    checks.push(face_match_verdict(fm, format!("{base}.{at}"), reviews));
                }
                if let Some(video) = &check.video_identification {
                    checks.push(video_verdict(video, format!("{base}.videoIdentification")));
                }
                if let Some(lin) = &check.lin {
                    checks.push(lin_verdict(lin, format!("{base}.lin")));
                }
            }
            for c in &mut checks {
                c.participant_uuid = c.participant_uuid.take().or_else(|| p.uuid.clone());
            }
            ParticipantVerdict {
                uuid: p.uuid.clone(),
                participant_type: p.participant_type.clone(),
                outcome: Outcome::NotEvaluated,
                identity_checks: checks,
                documents: Vec::new(),
            }
        })
        .collect()
}

/// Gives each document's verdict to its participant and decides every participant's outcome;
/// returns the documents of nobody in the file.
fn place_documents(
    report: &Report,
    participants: &mut [ParticipantVerdict],
    reviews: &mut Reviews,
) -> Vec<CheckVerdict> {
    let mut other_documents = Vec::new();
    for (di, doc) in report.documents.iter().enumerate() {
        let v = document_verdict(
            doc,
            CheckKind::Document,
            format!("documents[{di}]"),
            reviews,
        );
        let owner = participants
            .iter_mut()
            .find(|p| p.uuid.is_some() && p.uuid == doc.participant_uuid);
        match owner {
            Some(p) => p.documents.push(v),
            None => other_documents.push(v),
        }
    }
    for p in participants {
        p.outcome = Outcome::worst(
            p.identity_checks
                .iter()
                .chain(&p.documents)
                .map(|c| c.outcome),
        );
    }
    other_documents
}

fn legal_entity_verdict(cf: &ClientFile) -> Option<CheckVerdict> {
    cf.legal_entity.as_ref().map(|le| {
        let mut v = CheckVerdict::new(CheckKind::LegalEntity, "clientFile.legalEntity".into());
        let judged = le
            .data
            .as_ref()
            .and_then(|d| d.controls.as_ref())
            .map_or(0, |c| v.add_controls(c, "legalEntity"));
        v.decide(None, judged);
        v
    })
}

fn signed_document_summary(d: &SignedDocument) -> SignedDocumentSummary {
    let ids = |f: &dyn Fn(&super::report::ConsentClause) -> bool| -> Vec<String> {
        d.consent_clauses
            .iter()
            .filter(|c| f(c))
            .map(|c| c.id.clone().unwrap_or_default())
            .collect()
    };
    SignedDocumentSummary {
        id: d.id.clone(),
        file_name: d.archive_file_name(),
        clauses: d.consent_clauses.len(),
        checked: d
            .consent_clauses
            .iter()
            .filter(|c| c.checked == Some(true))
            .count(),
        required_unchecked: ids(&|c| c.required == Some(true) && c.checked != Some(true)),
        optional_declined: ids(&|c| c.required != Some(true) && c.checked == Some(false)),
    }
}

/// Breaches of the reference's own rules about a file's closing fields and its clauses.
fn inconsistencies(
    cf: Option<&ClientFile>,
    decision: Decision,
    signed_documents: &[SignedDocumentSummary],
) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(c) = cf {
        let closed = decision != Decision::InProgress;
        if closed && c.finish_date.is_none() {
            found.push("closed file without finishDate".to_string());
        }
        if !closed && c.finish_date.is_some() {
            found.push("finishDate on a file that is neither accepted nor rejected".to_string());
        }
        if decision == Decision::Rejected && c.rejection_cause.is_none() {
            found.push("REJECTED without rejectionCause".to_string());
        }
        if decision != Decision::Rejected && c.rejection_cause.is_some() {
            found.push("rejectionCause on a file that is not REJECTED".to_string());
        }
        if decision != Decision::Accepted && c.acceptation_message.is_some() {
            found.push("acceptationMessage on a file that is not ACCEPTED".to_string());
        }
    }
    for d in signed_documents {
        if !d.required_unchecked.is_empty() {
            found.push(format!(
                "signed document {:?} has unchecked required clauses",
                d.id
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests;

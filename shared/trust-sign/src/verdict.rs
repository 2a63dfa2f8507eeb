//! Verdicts that explain themselves: per identity check, per document, per participant, and a
//! client-file summary, all serializable to JSON with personal data redacted.
//!
//! How an outcome is reached (all from the reference):
//! - `validation` (VALIDATED / VALIDATION_FAILURE / NOT_VALIDATED) is Namirial's automatic
//!   decision. Failed controls explain a failure; on a VALIDATED document they are warnings
//!   ("si l'événement représente une erreur, ce champ indique plus précisément la cause, sinon
//!   il indique des warning"). Without `validation`, failed controls or error codes decide.
//! - An operator's review (`DOCUMENT_REVIEWED`, `FACE_MATCH_REVIEWED`) later than the
//!   submission, and not voided by a later `REVIEW_CANCELED`, decides the check — but the
//!   reference names no field holding its acceptance ("il contient ... son état (accepté ou
//!   rejeté)"; `state` is "OK pour un succès ou KO pour une erreur" of the event itself). So
//!   the acceptance is read only as the bank configured it ([`ReviewOutcome`]): by default
//!   nothing is read, and a reviewed check is `ReviewedOutcomeUnknown`, for a person to decide.
//! - Reviews and cancellations link by `taskId` when the event has one (a task belongs to one
//!   participant); by `documentId` only when the event has no `taskId` and that id names one
//!   document of the report (a document `id` is the workflow's slot, `ID_CARD` for every
//!   participant); otherwise they are listed unlinked, never guessed.
//! - A fraud mark (`DEFRAUDED_DOCUMENT_REGISTRATION`, linked the same way, or by the task of
//!   the submission event attached to it) fails its check with reason `fraudMarked`, whatever
//!   `validation` says and whatever review comes before or after it; its participant and the
//!   file are flagged. A mark that links to nothing is listed unlinked and still flags the file.
//! - A NOT_VALIDATED check (validation not run) is `NotEvaluated`, but its failed controls and
//!   error codes are kept visible as `unconfirmed_failures`: neither a pass nor a final failure.

use super::controls::{self, ControlResult};
use super::report::{
    ClientFile, ClientFileState, Controls, Document, Event, EventState, EventType, FaceMatch, Lin,
    LinMatch, LinVerdict, OtherField, Report, SignedDocument, Timestamp, Validation,
    VideoIdentification,
};
use kyc_core::redact::Personal;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What became of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Passed automatically.
    Passed,
    /// Failed automatically, accepted by an operator's later review.
    Overturned,
    /// Not validated (no decision aid, nothing submitted yet...).
    NotEvaluated,
    /// An operator reviewed it, and the report does not say (in a field the bank's
    /// [`ReviewOutcome`] setting reads) whether the review accepted or rejected it: a person
    /// decides. Never a pass.
    ReviewedOutcomeUnknown,
    /// Failed automatically.
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
            Outcome::ReviewedOutcomeUnknown => 3,
            Outcome::Failed | Outcome::RejectedOnReview => 4,
        }
    }
    fn worst(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
        outcomes
            .into_iter()
            .max_by_key(|o| o.severity())
            .unwrap_or(Outcome::NotEvaluated)
    }
}

/// What a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// An identity document.
    IdDocument,
    /// A selfie against the identity document.
    FaceMatch,
    /// A video identification.
    VideoIdentification,
    /// La Poste's Identité Numérique.
    Lin,
    /// A supporting document.
    Document,
    /// The company taking part.
    LegalEntity,
}

/// One control's judged value. `value` is the boolean or enum as written; keyword lists are
/// reduced to their length (keywords are document text).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlFinding {
    /// The control's name.
    pub control: String,
    /// `document`, `participant:<uuid>`, `frTaxNotice:<uuid>`, `agent:<uuid>`,
    /// `documentControls`, `biometryControls`.
    pub scope: String,
    /// The control's result.
    pub result: ControlResult,
    /// The value as written (a keyword list: its length).
    pub value: Value,
    /// `documented` or `inferred` (from the reference's examples); absent when unknown.
    pub basis: Option<controls::Basis>,
}

/// An error or warning code, with its meaning when PROVIDERS.md knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Code {
    /// The code as written.
    pub code: Value,
    /// What it means, when known.
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

/// How the acceptance of an operator's review is read: the setting `REVIEW_OUTCOME`.
///
/// The reference says `DOCUMENT_REVIEWED` and `FACE_MATCH_REVIEWED` carry an acceptance
/// state without naming its field, and none of its examples shows either event; `state` is
/// the event's own success. Until Namirial confirms how its reports spell the outcome, none
/// is read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ReviewOutcome {
    /// `unconfirmed` (the default): no field is read as the acceptance; a review makes its
    /// check `ReviewedOutcomeUnknown`.
    #[default]
    Unconfirmed,
    /// `event-state`: `state` OK is accepted, KO rejected (once Namirial has confirmed that
    /// `state` carries the review's outcome).
    EventState,
    /// `field:NAME=ACCEPTED[|...]/REJECTED[|...]`: an (undocumented) field of the review
    /// event, and the values meaning accepted and rejected (any other value: unknown).
    Field {
        /// The field's name.
        name: String,
        /// The values meaning accepted.
        accepted: Vec<String>,
        /// The values meaning rejected.
        rejected: Vec<String>,
    },
}

/// A `REVIEW_OUTCOME` that is none of the forms [`ReviewOutcome`] reads. The value is not
/// quoted back (a setting is not the place for data, but one could be pasted there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("review outcome must be `unconfirmed`, `event-state` or `field:NAME=ACCEPTED[|...]/REJECTED[|...]`")]
pub struct BadReviewOutcome;

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

impl ReviewOutcome {
    /// Reads a `REVIEW_OUTCOME` setting.
    pub fn parse(s: &str) -> Result<Self, BadReviewOutcome> {
        match s.trim() {
            "unconfirmed" => Ok(Self::Unconfirmed),
            "event-state" => Ok(Self::EventState),
            other => {
                let rest = other.strip_prefix("field:").ok_or(BadReviewOutcome)?;
                let (name, values) = rest.split_once('=').ok_or(BadReviewOutcome)?;
                let (accepted, rejected) = values.split_once('/').ok_or(BadReviewOutcome)?;
                let list = |v: &str| -> Result<Vec<String>, BadReviewOutcome> {
                    v.split('|')
                        .map(|t| is_token(t).then(|| t.to_string()).ok_or(BadReviewOutcome))
                        .collect()
                };
                let (accepted, rejected) = (list(accepted)?, list(rejected)?);
                if !is_token(name) || accepted.iter().any(|a| rejected.contains(a)) {
                    return Err(BadReviewOutcome);
                }
                Ok(Self::Field {
                    name: name.to_string(),
                    accepted,
                    rejected,
                })
            }
        }
    }

    /// As the setting spells it.
    pub fn name(&self) -> String {
        match self {
            Self::Unconfirmed => "unconfirmed".into(),
            Self::EventState => "event-state".into(),
            Self::Field {
                name,
                accepted,
                rejected,
            } => format!("field:{name}={}/{}", accepted.join("|"), rejected.join("|")),
        }
    }

    /// Accepted, rejected, or unknown (`None`) for a review event.
    fn read(&self, e: &Event) -> Option<bool> {
        match self {
            Self::Unconfirmed => None,
            Self::EventState => match e.state {
                Some(EventState::Ok) => Some(true),
                Some(EventState::Ko) => Some(false),
                _ => None,
            },
            Self::Field {
                name,
                accepted,
                rejected,
            } => {
                let value = e.other_fields.get(name)?.as_token()?;
                if accepted.contains(&value) {
                    Some(true)
                } else if rejected.contains(&value) {
                    Some(false)
                } else {
                    None
                }
            }
        }
    }
}

/// An operator review that applies to a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    /// The review event's type.
    pub event_type: String,
    /// Its date, as written.
    pub date: Option<String>,
    /// Its task.
    pub task_id: Option<String>,
    /// Its document.
    pub document_id: Option<String>,
    /// How it was linked to the check: `taskId`, or `documentId` (unique in the report).
    pub linked_by: Option<&'static str>,
    /// The event's own `state`: OK/KO of the event, not the review's outcome.
    pub event_state: Option<String>,
    /// Accepted (true), rejected (false) or unknown (null) under [`Review::reading`].
    pub accepted: Option<bool>,
    /// The `REVIEW_OUTCOME` setting `accepted` was read under.
    pub reading: String,
    /// The event's undocumented fields (bounded, see `report::OtherField`): what a person
    /// deciding the review can go on.
    pub other_fields: BTreeMap<String, OtherField>,
    /// A later REVIEW_CANCELED voided it.
    pub canceled: bool,
}

/// A `DEFRAUDED_DOCUMENT_REGISTRATION` event: a document marked as defrauded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FraudMark {
    /// The event's date, as written.
    pub date: Option<String>,
    /// Its task.
    pub task_id: Option<String>,
    /// Its document.
    pub document_id: Option<String>,
    /// How it was linked: `taskId`, `attached.taskId` (the submission event attached to it),
    /// `documentId` or `attached.documentId` (unique in the report); null when unlinked.
    pub linked_by: Option<&'static str>,
    /// The event's undocumented fields (bounded).
    pub other_fields: BTreeMap<String, OtherField>,
}

/// The reason a check failed whatever its validation and reviews say.
pub const FRAUD_MARKED: &str = "fraudMarked";

/// The verdict on one check of the client file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckVerdict {
    /// What the check is about.
    pub kind: CheckKind,
    /// Where in report.json this check is (`documents[2]`, `clientFile.participants[0]...`).
    pub locator: String,
    /// The participant it belongs to.
    pub participant_uuid: Option<String>,
    /// The task that collected it.
    pub task_id: Option<String>,
    /// The document's id.
    pub document_id: Option<String>,
    /// The document's type.
    pub document_type: Option<String>,
    /// Namirial's validation state, as written.
    pub validation: Option<String>,
    /// What Namirial decided automatically.
    pub automatic: Outcome,
    /// After operator reviews and fraud marks.
    pub outcome: Outcome,
    /// Why the outcome is what it is whatever else says: `fraudMarked`.
    pub reason: Option<&'static str>,
    /// Controls that failed.
    pub failed_controls: Vec<ControlFinding>,
    /// Controls that warn.
    pub warning_controls: Vec<ControlFinding>,
    /// Controls the reference never shows: reported, not judged.
    pub unknown_polarity_controls: Vec<ControlFinding>,
    /// Controls judged on a polarity inferred from the reference's examples (passed ones
    /// too), so an operator can tell documented verdicts from inferred ones.
    pub inferred_controls: Vec<ControlFinding>,
    /// Error codes.
    pub errors: Vec<Code>,
    /// Warning codes.
    pub warnings: Vec<Code>,
    /// The operator review that applies, if any.
    pub review: Option<Review>,
    /// The fraud marks on this check (any one fails it).
    pub fraud_marks: Vec<FraudMark>,
    /// On a NOT_VALIDATED check (validation not run): the failed controls
    /// (`scope/control`) and error codes found anyway. Not a pass, not a final failure.
    pub unconfirmed_failures: Vec<String>,
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
            reason: None,
            failed_controls: Vec::new(),
            warning_controls: Vec::new(),
            unknown_polarity_controls: Vec::new(),
            inferred_controls: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            review: None,
            fraud_marks: Vec::new(),
            unconfirmed_failures: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// True when a fraud mark applies.
    pub fn is_fraud_marked(&self) -> bool {
        !self.fraud_marks.is_empty()
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
        if matches!(validation, Some(Validation::NotValidated)) {
            self.unconfirmed_failures = self
                .failed_controls
                .iter()
                .map(|f| format!("{}/{}", f.scope, f.control))
                .chain(self.errors.iter().map(|c| format!("error/{}", c.code)))
                .collect();
        }
    }

    fn apply_review(&mut self, review: Option<Review>) {
        let Some(review) = review else { return };
        if !review.canceled {
            self.outcome = match (self.automatic, review.accepted) {
                (_, None) => Outcome::ReviewedOutcomeUnknown,
                (Outcome::Failed, Some(true)) => Outcome::Overturned,
                (Outcome::Failed, Some(false)) => Outcome::Failed,
                (_, Some(true)) => Outcome::Passed,
                (_, Some(false)) => Outcome::RejectedOnReview,
            };
        }
        self.review = Some(review);
    }

    /// After the reviews: a fraud mark fails the check whatever came before or after it.
    fn apply_fraud_marks(&mut self, marks: Vec<FraudMark>) {
        if marks.is_empty() {
            return;
        }
        self.outcome = Outcome::Failed;
        self.reason = Some(FRAUD_MARKED);
        self.fraud_marks = marks;
    }
}

impl Review {
    /// A review event as found (not yet voided by a later REVIEW_CANCELED).
    fn of(e: &Event, reading: &ReviewOutcome, linked_by: Option<&'static str>) -> Self {
        Review {
            event_type: e.event_type.as_ref().map_or("", |t| t.as_str()).to_string(),
            date: e.date.as_ref().map(|d| d.raw().to_string()),
            task_id: e.task_id.clone(),
            document_id: e.document_id.clone(),
            linked_by,
            event_state: e.state.as_ref().map(|s| s.as_str().to_string()),
            accepted: reading.read(e),
            reading: reading.name(),
            other_fields: e.other_fields.clone(),
            canceled: false,
        }
    }
}

impl FraudMark {
    fn of(e: &Event, linked_by: Option<&'static str>) -> Self {
        FraudMark {
            date: e.date.as_ref().map(|d| d.raw().to_string()),
            task_id: e.task_id.clone(),
            document_id: e.document_id.clone(),
            linked_by,
            other_fields: e.other_fields.clone(),
        }
    }
}

/// The task and document named by an object field of an event: the submission event the
/// reference says is attached to a fraud mark (its field is not named, so any object field
/// naming a `taskId` or `documentId` is read as that).
fn attached(e: &Event) -> (Option<&str>, Option<&str>) {
    for v in e.other_fields.values() {
        if let OtherField::Object {
            task_id,
            document_id,
            ..
        } = v
        {
            if task_id.is_some() || document_id.is_some() {
                return (task_id.as_deref(), document_id.as_deref());
            }
        }
    }
    (None, None)
}

/// The review, cancellation and fraud-mark events of a report, linked to checks as the
/// verdicts are built; remembers which events were used, so the rest is listed unlinked.
struct Links<'a> {
    /// Reviews and cancellations, chronological.
    reviews: Vec<(usize, &'a Event)>,
    fraud_marks: Vec<(usize, &'a Event)>,
    used: Vec<bool>,
    /// Document ids that name exactly one document (or identity document) of the report.
    unique_document_ids: HashSet<&'a str>,
    reading: &'a ReviewOutcome,
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

/// What a check is known by, to link events to it.
#[derive(Clone, Copy)]
struct CheckIds<'a> {
    task_id: Option<&'a str>,
    document_id: Option<&'a str>,
}

impl<'a> Links<'a> {
    fn new(report: &'a Report, reading: &'a ReviewOutcome) -> Self {
        let events = &report.events;
        let mut reviews: Vec<(usize, &Event)> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.event_type.as_ref().is_some_and(is_review))
            .collect();
        // Chronological; the array order breaks ties and places undated events.
        reviews.sort_by_key(|(i, e)| (e.date.as_ref().and_then(Timestamp::instant), *i));
        let fraud_marks = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.event_type == Some(EventType::DefraudedDocumentRegistration))
            .collect();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let id_documents = report
            .participants()
            .iter()
            .flat_map(|p| &p.identity_checks)
            .filter_map(|c| c.id_document.as_ref());
        for doc in report.documents.iter().chain(id_documents) {
            if let Some(id) = doc.id.as_deref() {
                *counts.entry(id).or_default() += 1;
            }
        }
        Self {
            reviews,
            fraud_marks,
            used: vec![false; events.len()],
            unique_document_ids: counts
                .into_iter()
                .filter(|(_, n)| *n == 1)
                .map(|(id, _)| id)
                .collect(),
            reading,
        }
    }

    /// How `(task_id, document_id)` named by an event links it to `check`: by task id when
    /// the event has one, else by a document id that is unique in the report.
    fn link(
        &self,
        task_id: Option<&str>,
        document_id: Option<&str>,
        check: CheckIds,
    ) -> Option<bool> {
        match (task_id, document_id) {
            (Some(t), _) => Some(check.task_id == Some(t)),
            (None, Some(d)) => {
                Some(check.document_id == Some(d) && self.unique_document_ids.contains(d))
            }
            (None, None) => None,
        }
    }

    /// The review in force for a check of `review_type`, after `since`.
    fn review(
        &mut self,
        review_type: EventType,
        check: CheckIds,
        since: Option<&Timestamp>,
    ) -> Option<Review> {
        let since = since.and_then(Timestamp::instant);
        let mut current: Option<Review> = None;
        for (index, e) in &self.reviews {
            let linked_by = match self.link(e.task_id.as_deref(), e.document_id.as_deref(), check) {
                Some(true) if e.task_id.is_some() => "taskId",
                Some(true) => "documentId",
                _ => continue,
            };
            let later = match (since, e.date.as_ref().and_then(Timestamp::instant)) {
                (Some(s), Some(d)) => d >= s,
                _ => true,
            };
            if !later {
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
                current = Some(Review::of(e, self.reading, Some(linked_by)));
            }
        }
        current
    }

    /// Every fraud mark on a check, whatever its date: the event's own task id, else the
    /// attached submission event's, else a document id unique in the report.
    fn fraud_marks(&mut self, check: CheckIds) -> Vec<FraudMark> {
        let mut found = Vec::new();
        for (index, e) in &self.fraud_marks {
            let (attached_task, attached_document) = attached(e);
            let linked_by = if e.task_id.is_some() {
                (self.link(e.task_id.as_deref(), None, check) == Some(true)).then_some("taskId")
            } else if attached_task.is_some() {
                (self.link(attached_task, None, check) == Some(true)).then_some("attached.taskId")
            } else if e.document_id.is_some() {
                (self.link(None, e.document_id.as_deref(), check) == Some(true))
                    .then_some("documentId")
            } else {
                (self.link(None, attached_document, check) == Some(true))
                    .then_some("attached.documentId")
            };
            if let Some(by) = linked_by {
                self.used[*index] = true;
                found.push(FraudMark::of(e, Some(by)));
            }
        }
        found
    }

    fn unlinked_reviews(&self) -> Vec<Review> {
        self.reviews
            .iter()
            .filter(|(i, _)| !self.used[*i])
            .map(|(_, e)| Review::of(e, self.reading, None))
            .collect()
    }

    fn unlinked_fraud_marks(&self) -> Vec<FraudMark> {
        self.fraud_marks
            .iter()
            .filter(|(i, _)| !self.used[*i])
            .map(|(_, e)| FraudMark::of(e, None))
            .collect()
    }
}

fn document_verdict(
    doc: &Document,
    kind: CheckKind,
    locator: String,
    links: &mut Links,
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
    let ids = CheckIds {
        task_id: doc.task_id.as_deref(),
        document_id: doc.id.as_deref(),
    };
    let review = links.review(EventType::DocumentReviewed, ids, doc.date.as_ref());
    v.apply_review(review);
    v.apply_fraud_marks(links.fraud_marks(ids));
    v
}

fn face_match_verdict(fm: &FaceMatch, locator: String, links: &mut Links) -> CheckVerdict {
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
    // A face match has no document id: only its task links events to it.
    let ids = CheckIds {
        task_id: fm.task_id.as_deref(),
        document_id: None,
    };
    let review = links.review(EventType::FaceMatchReviewed, ids, fm.date.as_ref());
    v.apply_review(review);
    v.apply_fraud_marks(links.fraud_marks(ids));
    v
}

fn video_verdict(video: &VideoIdentification, locator: String, links: &mut Links) -> CheckVerdict {
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
    v.apply_fraud_marks(links.fraud_marks(CheckIds {
        task_id: video.task_id.as_deref(),
        document_id: None,
    }));
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

/// The verdict on one participant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParticipantVerdict {
    /// The participant's uuid.
    pub uuid: Option<String>,
    /// The participant's type (`SIGNER`...).
    pub participant_type: Option<String>,
    /// The worst outcome of the participant's identity checks and documents.
    pub outcome: Outcome,
    /// One of the participant's checks is fraud-marked.
    pub fraud_marked: bool,
    /// Checks NOT_VALIDATED with failures found anyway (see `CheckVerdict::unconfirmed_failures`).
    pub unconfirmed_failures: usize,
    /// Its identity checks.
    pub identity_checks: Vec<CheckVerdict>,
    /// Its documents.
    pub documents: Vec<CheckVerdict>,
}

impl ParticipantVerdict {
    /// Every check: identity checks, then documents.
    pub fn checks(&self) -> impl Iterator<Item = &CheckVerdict> + Clone {
        self.identity_checks.iter().chain(&self.documents)
    }
}

/// A signed document and its consent clauses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignedDocumentSummary {
    /// The document's id.
    pub id: String,
    /// Its file in the archive (`signed_{id}.pdf`).
    pub file_name: String,
    /// Consent clauses.
    pub clauses: usize,
    /// Clauses checked.
    pub checked: usize,
    /// Required clauses not checked: the reference says this cannot happen.
    pub required_unchecked: Vec<String>,
    /// Optional clauses not checked.
    pub optional_declined: Vec<String>,
}

/// The client file's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// ACCEPTED.
    Accepted,
    /// REJECTED.
    Rejected,
    /// Neither yet.
    InProgress,
}

/// What the client file says, ready to store. Personal data is redacted on serialization.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientFileSummary {
    /// The client file's uuid.
    pub client_file_uuid: Option<String>,
    /// The client file's human-readable id.
    pub client_file_id: Option<String>,
    /// The report's date, as written.
    pub report_date: Option<String>,
    /// The client file's state, as written.
    pub state: Option<String>,
    /// Its outcome.
    pub decision: Decision,
    /// `rejectionCause`.
    pub rejection_cause: Option<String>,
    /// `rejectionMessage`. Personal data.
    pub rejection_message: Option<Personal<String>>,
    /// `acceptationMessage`. Personal data.
    pub acceptation_message: Option<Personal<String>>,
    /// Legal archive id: Namirial drops it ~3 months after closure.
    pub record_id: Option<String>,
    /// `archivingState`.
    pub archiving_state: Option<String>,
    /// `externalId`.
    pub external_id: Option<String>,
    /// The keys of `externalInfo` only: its values are the bank's business data, which can
    /// hold personal data (the link key's value is the event's customer id already).
    pub external_info_keys: Vec<String>,
    /// `startDate`, as written.
    pub start_date: Option<String>,
    /// `finishDate`, as written.
    pub finish_date: Option<String>,
    /// `validationDate`, as written.
    pub validation_date: Option<String>,
    /// `productUuid`.
    pub product_uuid: Option<String>,
    /// `productName`.
    pub product_name: Option<String>,
    /// `workflowUuid`.
    pub workflow_uuid: Option<String>,
    /// `workflowName`.
    pub workflow_name: Option<String>,
    /// `workflowLabel`.
    pub workflow_label: Option<String>,
    /// The group's uuid.
    pub group_uuid: Option<String>,
    /// The group's label.
    pub group_label: Option<String>,
    /// Each participant's verdict.
    pub participants: Vec<ParticipantVerdict>,
    /// Documents whose participant is not in the file (or not given).
    pub other_documents: Vec<CheckVerdict>,
    /// The company's verdict, if one takes part.
    pub legal_entity: Option<CheckVerdict>,
    /// The signed documents.
    pub signed_documents: Vec<SignedDocumentSummary>,
    /// The `REVIEW_OUTCOME` setting reviews were read under.
    pub review_outcome_reading: String,
    /// Reviews that link to no check.
    pub unlinked_reviews: Vec<Review>,
    /// A check of the file is fraud-marked, or a fraud mark links to no check.
    pub fraud_marked: bool,
    /// Fraud marks that link to no check: still a failure of the file.
    pub unlinked_fraud_marks: Vec<FraudMark>,
    /// Checks reviewed by an operator whose outcome the report does not say (as read).
    pub reviewed_outcome_unknown: usize,
    /// Checks NOT_VALIDATED with failures found anyway.
    pub unconfirmed_failures: usize,
    /// The zone a date without an offset was read in.
    pub time_zone: String,
    /// The client file's dates written without an offset (`date`, `clientFile.finishDate`...),
    /// read in `time_zone`.
    pub zoneless_dates: Vec<String>,
    /// All dates of the report written without an offset.
    pub zoneless_date_count: usize,
    /// Breaches of the reference's own rules (e.g. REJECTED without a rejection cause).
    pub inconsistencies: Vec<String>,
    /// Display-only fields of an unexpected type, and free-form values clipped at their
    /// bounds: read leniently and noted, never fatal.
    pub type_mismatches: super::report::TypeMismatches,
}

impl ClientFileSummary {
    /// Every check: participants', other documents', the legal entity's.
    pub fn all_checks(&self) -> impl Iterator<Item = &CheckVerdict> {
        self.participants
            .iter()
            .flat_map(ParticipantVerdict::checks)
            .chain(&self.other_documents)
            .chain(&self.legal_entity)
    }
}

fn raw(t: &Option<Timestamp>) -> Option<String> {
    t.as_ref().map(|t| t.raw().to_string())
}

/// Builds the summary and every verdict of a report, reviews read as `unconfirmed`.
pub fn summarize(report: &Report) -> ClientFileSummary {
    summarize_with(report, &ReviewOutcome::default())
}

/// Builds the summary and every verdict of a report, reviews read as `reading` says.
pub fn summarize_with(report: &Report, reading: &ReviewOutcome) -> ClientFileSummary {
    let mut links = Links::new(report, reading);
    let cf = report.client_file.as_ref();
    // Reviews are claimed in this order: identity checks first, then documents.
    let mut participants = participant_verdicts(report, &mut links);
    let other_documents = place_documents(report, &mut participants, &mut links);
    let unlinked_fraud_marks = links.unlinked_fraud_marks();
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

    let zoneless_dates = [
        ("date", report.date.as_ref()),
        (
            "clientFile.startDate",
            cf.and_then(|c| c.start_date.as_ref()),
        ),
        (
            "clientFile.finishDate",
            cf.and_then(|c| c.finish_date.as_ref()),
        ),
        (
            "clientFile.validationDate",
            cf.and_then(|c| c.validation_date.as_ref()),
        ),
    ]
    .into_iter()
    .filter(|(_, t)| t.is_some_and(Timestamp::is_zoneless))
    .map(|(name, _)| name.to_string())
    .collect();
    let mut summary = ClientFileSummary {
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
        external_info_keys: cf
            .map(|c| c.external_info.keys().cloned().collect())
            .unwrap_or_default(),
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
        review_outcome_reading: reading.name(),
        unlinked_reviews: links.unlinked_reviews(),
        fraud_marked: !unlinked_fraud_marks.is_empty(),
        unlinked_fraud_marks,
        reviewed_outcome_unknown: 0,
        unconfirmed_failures: 0,
        time_zone: report.time_zone.name().to_string(),
        zoneless_dates,
        zoneless_date_count: report.zoneless_dates,
        inconsistencies,
        type_mismatches: report.type_mismatches.clone(),
    };
    let any_marked = summary.all_checks().any(CheckVerdict::is_fraud_marked);
    summary.fraud_marked |= any_marked;
    summary.reviewed_outcome_unknown = summary
        .all_checks()
        .filter(|c| c.outcome == Outcome::ReviewedOutcomeUnknown)
        .count();
    summary.unconfirmed_failures = summary
        .all_checks()
        .filter(|c| !c.unconfirmed_failures.is_empty())
        .count();
    summary
}

/// Each participant's identity-check verdicts (documents are placed afterwards).
fn participant_verdicts(report: &Report, links: &mut Links) -> Vec<ParticipantVerdict> {
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
                        links,
                    );
                    v.participant_uuid = v.participant_uuid.or_else(|| p.uuid.clone());
                    checks.push(v);
                }
                for (at, fm) in check.all_face_matches() {
                    checks.push(face_match_verdict(fm, format!("{base}.{at}"), links));
                }
                if let Some(video) = &check.video_identification {
                    checks.push(video_verdict(
                        video,
                        format!("{base}.videoIdentification"),
                        links,
                    ));
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
                fraud_marked: false,
                unconfirmed_failures: 0,
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
    links: &mut Links,
) -> Vec<CheckVerdict> {
    let mut other_documents = Vec::new();
    for (di, doc) in report.documents.iter().enumerate() {
        let v = document_verdict(doc, CheckKind::Document, format!("documents[{di}]"), links);
        let owner = participants
            .iter_mut()
            .find(|p| p.uuid.is_some() && p.uuid == doc.participant_uuid);
        match owner {
            Some(p) => p.documents.push(v),
            None => other_documents.push(v),
        }
    }
    for p in participants {
        p.outcome = Outcome::worst(p.checks().map(|c| c.outcome));
        let marked = p.checks().any(CheckVerdict::is_fraud_marked);
        p.fraud_marked = marked;
        p.unconfirmed_failures = p
            .checks()
            .filter(|c| !c.unconfirmed_failures.is_empty())
            .count();
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

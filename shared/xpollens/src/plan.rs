//! From a parsed callback to what the durable intake writes: the normalised summary (what
//! `kyc inspect` prints and the history keeps), and the state patch its type implies.

use super::callbacks::*;
use super::delivery::Channel;
use super::status::{pep_status, PepStatus, Status, StatusRules};
use chrono::{DateTime, SubsecRound, Utc};
use kyc_core::crypto::{Aad, Keyring};
use kyc_core::intake::{EventId, EventRecord, Provider, WritePlan};
use kyc_core::kyc_state::{Finality, Item, StatePatch, Stream, StreamValue};
use kyc_core::redact::{Personal, Secret};
use serde_json::{json, Map, Value};

/// Delivery facts that come from outside the body.
#[derive(Debug, Clone)]
pub struct Delivery<'a> {
    /// The event's id.
    pub event_id: &'a EventId,
    /// When we received it.
    pub received_at: DateTime<Utc>,
    /// Parsed `Webhook-Processdate`.
    pub process_date: Option<DateTime<Utc>>,
    /// The raw body.
    pub body: &'a [u8],
    /// Live, or from the fallback queue.
    pub channel: &'a Channel,
    /// What was lenient about this delivery (`unreadableProcessDate`...), kept on the event.
    pub notes: &'a [&'static str],
}

/// The delivery facts kept in the event summary: channel, notes, and for a queue entry the
/// status and time of each attempt (our answers' bodies are not kept).
fn delivery_summary(d: &Delivery<'_>) -> Value {
    let mut m = Map::new();
    match d.channel {
        Channel::Live => {
            m.insert("channel".into(), "live".into());
        }
        Channel::Queue { attempts } => {
            m.insert("channel".into(), "queue".into());
            let attempts: Vec<Value> = attempts
                .iter()
                .take(MAX_ATTEMPTS_KEPT)
                .map(|a| {
                    json!({
                        "pushDate": a.get("pushDate"),
                        "duration": a.get("duration"),
                        "httpStatusCode": a.get("httpStatusCode"),
                    })
                })
                .collect();
            m.insert("attempts".into(), Value::Array(attempts));
        }
    }
    if !d.notes.is_empty() {
        m.insert("notes".into(), json!(d.notes));
    }
    Value::Object(m)
}

/// Xpollens makes five attempts; more would only grow the item.
const MAX_ATTEMPTS_KEPT: usize = 10;

const REDACTED: &str = "[REDACTED secret]";

fn status_text<T: StatusRules>(s: &Option<Status<T>>) -> Value {
    match s {
        Some(Status::Known(k)) => Value::from(k.name()),
        Some(Status::Unrecognised(raw)) => Value::from(raw.as_str()),
        None => Value::Null,
    }
}

/// Secret fields present in a callback, by name (for sealing and for the redacted summary).
const REDACTED_PERSONAL: &str = "[REDACTED personal data]";

/// Personal data fields present in a callback, by name (sealed like secrets).
fn personal(kind: &CallbackKind) -> Vec<(&'static str, &Personal)> {
    match kind {
        CallbackKind::ComplementaryDiligence(d) => d
            .transmitter_full_name
            .as_ref()
            .map(|n| ("transmitterFullName", n))
            .into_iter()
            .collect(),
        _ => vec![],
    }
}

fn secrets(kind: &CallbackKind) -> Vec<(&'static str, &Secret)> {
    let fields: Vec<(&'static str, &Option<Secret>)> = match kind {
        CallbackKind::UserRecord(r) => vec![("publicUserCode", &r.public_user_code)],
        CallbackKind::ScaEnrolment(e) => vec![
            ("activationCode", &e.activation_code),
            ("webViewUrl", &e.web_view_url),
        ],
        CallbackKind::DiligenceReupload(r) => vec![("webViewUrl", &r.web_view_url)],
        CallbackKind::KycWebview(w) => vec![
            ("url", &w.url),
            ("token", &w.token),
            ("webViewUrl", &w.web_view_url),
        ],
        _ => vec![],
    };
    fields
        .into_iter()
        .filter_map(|(name, s)| s.as_ref().map(|s| (name, s)))
        .collect()
}

/// Bounds that keep every stored summary and stream detail small whatever the provider sends
/// (a callback 4 can list thousands of diligences; DynamoDB items stop at 400 KB, and the state
/// item holds every stream). The full body stays sealed with the event.
const MAX_LISTED: usize = 50;
const MAX_ATTACHMENT_KEYS: usize = 10;
const MAX_TEXT_CHARS: usize = 256;
/// A summary or detail larger than this, once serialised, loses its largest fields.
pub const MAX_DETAIL_BYTES: usize = 16 * 1024;

fn clip(text: &Option<String>) -> Value {
    match text {
        Some(t) if t.chars().count() > MAX_TEXT_CHARS => Value::from(format!(
            "{}…",
            t.chars().take(MAX_TEXT_CHARS).collect::<String>()
        )),
        Some(t) => Value::from(t.as_str()),
        None => Value::Null,
    }
}

fn diligences_json(d: &KycDemand) -> Value {
    d.diligences
        .iter()
        .take(MAX_LISTED)
        .map(|g| {
            json!({
                "type": clip(&g.diligence_type),
                "status": status_text(&g.status),
                "reason": clip(&g.reason),
                "attachmentKeys": g.attachment_keys.iter().take(MAX_ATTACHMENT_KEYS).collect::<Vec<_>>(),
                "attachmentCount": g.attachment_count,
            })
        })
        .collect()
}

fn flag_json(flag: &Result<Option<bool>, String>) -> Value {
    match flag {
        Ok(b) => json!(b),
        Err(raw) => Value::from(raw.as_str()),
    }
}

/// The PEP status a screening means, when both flags are readable.
fn pep_of(p: &PepScreening) -> Option<PepStatus> {
    Some(pep_status(
        p.is_pep.clone().ok()?,
        p.final_decision.clone().ok()?,
    ))
}

/// The three documented values as sent, and what they mean, said explicitly: an acceptance
/// of a PEP carries enhanced due diligence; a negative decision blocks onboarding.
fn pep_detail(p: &PepScreening) -> Value {
    let status = pep_of(p);
    let mut d = json!({
        "isPoliticallyExposedPerson": flag_json(&p.is_pep),
        "finalDecisionPep": flag_json(&p.final_decision),
        "riskAnalysisStatut": clip(&p.risk_analysis),
        "pepStatus": status.map(|s| s.name()),
        "enhancedDueDiligence": status == Some(PepStatus::AcceptedWithEnhancedDueDiligence),
        "blocking": status == Some(PepStatus::Blocked),
    });
    if p.final_decision == Ok(Some(true)) && p.is_pep != Ok(Some(true)) {
        // Outside the documented domain (a decision only exists for a PEP): kept conservative.
        d["inconsistent"] = "finalDecisionPep true without isPoliticallyExposedPerson true".into();
    }
    d
}

/// What a consumer (and the KYC decision) must see beside a PEP status: an acceptance of a
/// PEP carries enhanced due diligence (`Blocked` says itself that it blocks).
fn pep_flags(p: &PepScreening) -> Vec<String> {
    match pep_of(p) {
        Some(PepStatus::AcceptedWithEnhancedDueDiligence) => vec!["enhancedDueDiligence".into()],
        _ => Vec::new(),
    }
}

/// At most this many bytes of one transfer's diligence in the state (an item): the state
/// keeps up to `kyc_state::MAX_OPEN_ITEMS` of them.
const MAX_ITEM_DETAIL_BYTES: usize = 700;

/// One transfer's complementary diligence, without the transmitter's name (sealed apart).
fn diligence_detail(d: &ComplementaryDiligence) -> Map<String, Value> {
    let short = |t: &Option<String>| match t {
        Some(t) => Value::from(t.chars().take(64).collect::<String>()),
        None => Value::Null,
    };
    let transfer_date = match d.transfer_date.as_deref() {
        Some(raw) => super::dates::parse_body_date(raw)
            .map(|t| Value::from(t.to_rfc3339()))
            .unwrap_or_else(|| short(&d.transfer_date)),
        None => Value::Null,
    };
    let v = json!({
        "diligenceStatus": status_text(&d.status),
        "orderId": short(&d.order_id),
        "diligenceType": short(&d.diligence_type),
        "operationType": short(&d.operation_type),
        "amount": d.amount,
        "transferDate": transfer_date,
        "score": {"name": d.score_name, "firstName": d.score_first_name},
        "reason": clip(&d.reason),
    });
    match v {
        Value::Object(m) => fit(m, MAX_ITEM_DETAIL_BYTES),
        _ => unreachable!("an object literal"),
    }
}

/// Bytes `value` takes serialised as JSON, counted without writing them anywhere.
fn json_len(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// Drops the largest top-level fields of `m` until it serialises within `limit` bytes, and
/// names them under `omitted`: the last resort that makes the bound hold by construction.
pub fn fit(m: Map<String, Value>, limit: usize) -> Map<String, Value> {
    fit_measured(m, limit).0
}

/// [`fit`], also returning the serialised size of the result.
fn fit_measured(mut m: Map<String, Value>, limit: usize) -> (Map<String, Value>, usize) {
    let mut omitted = Vec::new();
    loop {
        let size = json_len(&m);
        if size <= limit {
            return (m, size);
        }
        let Some(largest) = m
            .iter()
            .filter(|(k, _)| {
                !matches!(k.as_str(), "provider" | "eventType" | "eventId" | "omitted")
            })
            .max_by_key(|(_, v)| json_len(v))
            .map(|(k, _)| k.clone())
        else {
            return (m, size);
        };
        m.remove(&largest);
        omitted.push(Value::from(largest));
        m.insert("omitted".into(), Value::Array(omitted.clone()));
    }
}

/// The type-specific, non-secret details of a callback, and their serialised size.
fn details(kind: &CallbackKind) -> (Map<String, Value>, usize) {
    let v = match kind {
        CallbackKind::KycDemand(d) => json!({
            "kycStatus": status_text(&d.status),
            "version": if d.v2 { 2 } else { 1 },
            "kycLevel": clip(&d.kyc_level),
            "workflowCode": clip(&d.workflow_code),
            "expectedDiligences": d.expected.iter().take(MAX_LISTED).map(|e| json!({
                "type": clip(&e.diligence_type), "expectedCount": e.expected_count,
                "possibleSubTypes": e.possible_sub_types.iter().take(MAX_LISTED).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "expectedDiligenceCount": d.expected.len(),
            "diligences": diligences_json(d),
            "diligenceCount": d.diligences.len(),
        }),
        CallbackKind::UserRecord(r) => json!({
            "userRecordStatus": status_text(&r.status),
            "identificationLevel": clip(&r.identification_level),
        }),
        CallbackKind::ScaEnrolment(e) => json!({
            "enrolmentStatus": enrolment_status(e).map(|(s, _)| s),
            "errorMessage": clip(&e.error_message),
        }),
        CallbackKind::ScaResult(r) => json!({
            "authenticationStatus": status_text(&r.status),
            "authenticationId": clip(&r.authentication_id),
            "reason": clip(&r.reason),
            "requestResponseCode": r.response_code,
            "authenticationResultDate": r.result_date,
            "requestProcessDate": r.processed_date,
            "payload": r.payload,
        }),
        CallbackKind::UserFreeze(f) => json!({"userStatus": status_text(&f.status)}),
        CallbackKind::PepScreening(p) => pep_detail(p),
        CallbackKind::ComplementaryDiligence(d) => Value::Object(diligence_detail(d)),
        CallbackKind::DiligenceReupload(_) | CallbackKind::KycWebview(_) | CallbackKind::Other => {
            json!({})
        }
    };
    match v {
        Value::Object(m) => fit_measured(m, MAX_DETAIL_BYTES),
        _ => (Map::new(), 2),
    }
}

/// The normalised, redacted view of a callback.
pub fn summary(callback: &Callback, event_id: Option<&EventId>) -> Value {
    summary_with(callback, event_id, details(&callback.kind))
}

fn summary_with(
    callback: &Callback,
    event_id: Option<&EventId>,
    (details, details_len): (Map<String, Value>, usize),
) -> Value {
    let mut m = Map::new();
    m.insert("provider".into(), "xpollens".into());
    m.insert(
        "eventType".into(),
        callback
            .callback_type
            .as_ref()
            .map(CallbackType::to_json)
            .unwrap_or(Value::Null),
    );
    m.insert(
        "subjectId".into(),
        callback
            .subject
            .clone()
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    if let Some(id) = event_id {
        m.insert("eventId".into(), id.as_str().into());
    }
    let secret_names: Map<String, Value> = secrets(&callback.kind)
        .into_iter()
        .map(|(n, _)| (n.to_string(), REDACTED.into()))
        .collect();
    if !secret_names.is_empty() {
        m.insert("secrets".into(), Value::Object(secret_names));
    }
    let personal_names: Map<String, Value> = personal(&callback.kind)
        .into_iter()
        .map(|(n, _)| (n.to_string(), REDACTED_PERSONAL.into()))
        .collect();
    if !personal_names.is_empty() {
        m.insert("personalData".into(), Value::Object(personal_names));
    }
    // Two objects merged serialise to at most the sum of their sizes: when that sum fits,
    // the merged summary is not serialised again just to be measured.
    let within = json_len(&m) + details_len <= MAX_DETAIL_BYTES;
    m.extend(details);
    if within {
        Value::Object(m)
    } else {
        Value::Object(fit(m, MAX_DETAIL_BYTES))
    }
}

fn enrolment_status(e: &ScaEnrolment) -> Option<(&'static str, u8)> {
    if e.error_message.is_some() {
        Some(("Failed", 1))
    } else if e.activation_code.is_some() {
        Some(("Enrolled", 2))
    } else {
        None
    }
}

/// The state policy of a stream (see `kyc_core::kyc_state`): a new KYC demand follows a
/// rejected one, and every strong authentication is a new one, so the latest wins there; a
/// user record's decision is kept.
fn finality(stream: &Stream) -> Finality {
    if *stream == Stream::USER_RECORD {
        Finality::Sticky
    } else {
        Finality::Latest
    }
}

/// Why a recorded callback proposes no state (the event's `no_patch_reason`). Not an error
/// of the delivery: the event is kept, the state left as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum NoProposal {
    /// A status outside the documented vocabulary (the provider's status code, quoted so an
    /// operator can add it; never personal data).
    #[error("unrecognised {what} {raw:?}")]
    Unrecognised { what: &'static str, raw: String },
    #[error("no {0}")]
    NoStatus(&'static str),
    #[error("no activation code nor error message")]
    NoEnrolmentOutcome,
    #[error("no web-view URL")]
    NoWebViewUrl,
    #[error("callback type carries no KYC state")]
    NoState,
}

/// The stream, canonical status, rank and finality a callback proposes; or why none.
fn proposal(kind: &CallbackKind) -> Result<(Stream, &'static str, u8, bool), NoProposal> {
    fn known<T: StatusRules>(
        what: &'static str,
        s: &Option<Status<T>>,
    ) -> Result<(&'static str, u8, bool), NoProposal> {
        match s {
            Some(Status::Known(k)) => Ok((k.name(), k.rank(), k.is_final())),
            Some(Status::Unrecognised(raw)) => Err(NoProposal::Unrecognised {
                what,
                raw: raw.to_string(),
            }),
            None => Err(NoProposal::NoStatus(what)),
        }
    }
    let (stream, (status, rank, fin)) = match kind {
        CallbackKind::KycDemand(d) => (Stream::KYC_DEMAND, known("KYC status", &d.status)?),
        CallbackKind::UserRecord(r) => {
            (Stream::USER_RECORD, known("user record status", &r.status)?)
        }
        CallbackKind::ScaResult(r) => (
            Stream::SCA_RESULT,
            known("authentication status", &r.status)?,
        ),
        CallbackKind::UserFreeze(f) => (Stream::USER_FREEZE, known("user status", &f.status)?),
        CallbackKind::ScaEnrolment(e) => {
            let (s, r) = enrolment_status(e).ok_or(NoProposal::NoEnrolmentOutcome)?;
            (Stream::SCA_ENROLMENT, (s, r, false))
        }
        CallbackKind::DiligenceReupload(r) if r.web_view_url.is_some() => {
            (Stream::DILIGENCE_REUPLOAD, ("Issued", 1, false))
        }
        CallbackKind::KycWebview(w)
            if w.url.is_some() || w.web_view_url.is_some() || w.token.is_some() =>
        {
            (Stream::KYC_WEBVIEW, ("Issued", 1, false))
        }
        CallbackKind::DiligenceReupload(_) | CallbackKind::KycWebview(_) => {
            return Err(NoProposal::NoWebViewUrl)
        }
        CallbackKind::PepScreening(p) => {
            let unreadable = |what, raw: &String| NoProposal::Unrecognised {
                what,
                raw: raw.clone(),
            };
            let is_pep = p
                .is_pep
                .as_ref()
                .map_err(|raw| unreadable("isPoliticallyExposedPerson", raw))?;
            let decision = p
                .final_decision
                .as_ref()
                .map_err(|raw| unreadable("finalDecisionPep", raw))?;
            let s = pep_status(*is_pep, *decision);
            (Stream::PEP_SCREENING, (s.name(), s.rank(), s.is_final()))
        }
        CallbackKind::ComplementaryDiligence(d) => {
            let (status, rank, _) = known("diligence status", &d.status)?;
            // The stream follows every transfer: none of its statuses ends it (each
            // transfer's own finality is its item's).
            (Stream::COMPLEMENTARY_DILIGENCE, (status, rank, false))
        }
        CallbackKind::Other => return Err(NoProposal::NoState),
    };
    Ok((stream, status, rank, fin))
}

/// The provider time of a callback: the `Webhook-Processdate` header, else the dates callback
/// 36 carries in its body.
pub fn provider_time(
    callback: &Callback,
    process_date: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    process_date.or(match &callback.kind {
        CallbackKind::ScaResult(r) => r.result_date.or(r.processed_date),
        _ => None,
    })
}

/// Builds the write plan of one delivery. Raw body and secrets are sealed with `keys`.
pub fn plan(callback: &Callback, delivery: &Delivery<'_>, keys: &Keyring) -> WritePlan {
    let event_id = delivery.event_id.as_str();
    let provider_time = provider_time(callback, delivery.process_date);
    let (detail, detail_len) = details(&callback.kind);
    let event = EventRecord {
        provider: Provider::Xpollens,
        event_id: event_id.to_string(),
        event_type: callback
            .callback_type
            .as_ref()
            .map(CallbackType::to_string)
            .unwrap_or_else(|| "unknown".into()),
        subject: callback.subject.clone(),
        received_at: delivery.received_at,
        provider_time,
        body_sha256: callback.body_sha256.clone(),
        sealed_body: keys.seal(
            &EventRecord::body_aad(Provider::Xpollens, event_id, callback.subject.as_deref()),
            delivery.body,
        ),
        summary: {
            let mut s = summary_with(
                callback,
                Some(delivery.event_id),
                (detail.clone(), detail_len),
            );
            s["delivery"] = delivery_summary(delivery);
            s
        },
    };
    let (patch, no_patch_reason) = match proposal(&callback.kind) {
        Ok((stream, status, rank, fin)) => {
            // Whole seconds: the header has second resolution, the queue adds 7 digits, and one
            // delivery must order the same whichever channel recorded it.
            let at = provider_time
                .unwrap_or(delivery.received_at)
                .trunc_subsecs(0);
            let policy = finality(&stream);
            // Every Xpollens stream flags same-second ties: its dates have second resolution.
            let mut value =
                StreamValue::with_finality(status, rank, fin, policy, at, event_id).tracking_ties();
            if let CallbackKind::ComplementaryDiligence(d) = &callback.kind {
                value =
                    value.with_item(&diligence_key(d, event_id), diligence_item(d, at, event_id));
            }
            if let CallbackKind::PepScreening(p) = &callback.kind {
                // Carried by the state-change event: an acceptance is not a plain pass.
                value.flags = pep_flags(p);
            }
            value.detail = Value::Object(detail);
            for (name, secret) in secrets(&callback.kind) {
                value.sealed.insert(
                    name.to_string(),
                    keys.seal_secret(
                        &sealed_field_aad(event_id, name, callback.subject.as_deref()),
                        secret,
                    ),
                );
            }
            for (name, personal) in personal(&callback.kind) {
                value.sealed.insert(
                    name.to_string(),
                    keys.seal(
                        &sealed_field_aad(event_id, name, callback.subject.as_deref()),
                        personal.expose().as_bytes(),
                    ),
                );
            }
            (Some(StatePatch { stream, value }), None)
        }
        Err(reason) => (None, Some(reason.to_string())),
    };
    WritePlan {
        event,
        patch,
        no_patch_reason,
        erasure_guard: None,
    }
    .guarded(keys)
}

/// What to do about a callback the fallback queue kept without its data (also the runbook's
/// line for `XpollensMissedWithoutPayloadAlarm`).
pub const MISSED_ACTION: &str = "Xpollens kept this callback in its fallback queue without the query string or headers its data travelled in, so nothing of it was applied. Ask Xpollens for this Webhook-Id's callback (or, for a user freeze #15 or a strong authentication #36, the user's current status), then record the answer with `kyc xpollens replay` and check the customer's state.";

/// The write plan of a callback the fallback queue kept without its data: the entry's
/// evidence (what it held, sealed; its delivery attempts), its type, no state change.
pub fn plan_missed(
    callback_type: Option<&CallbackType>,
    delivery: &Delivery<'_>,
    keys: &Keyring,
) -> WritePlan {
    let event_id = delivery.event_id.as_str();
    let mut summary = json!({
        "provider": "xpollens",
        "eventType": callback_type.map(CallbackType::to_json),
        "subjectId": null,
        "eventId": event_id,
        "missedCallback": {
            "keptBodyBytes": delivery.body.len(),
            "action": MISSED_ACTION,
        },
    });
    summary["delivery"] = delivery_summary(delivery);
    WritePlan {
        event: EventRecord {
            provider: Provider::Xpollens,
            event_id: event_id.to_string(),
            event_type: callback_type
                .map(CallbackType::to_string)
                .unwrap_or_else(|| "unknown".into()),
            subject: None,
            received_at: delivery.received_at,
            provider_time: delivery.process_date,
            body_sha256: kyc_core::intake::sha256_hex(delivery.body),
            sealed_body: keys.seal(
                &EventRecord::body_aad(Provider::Xpollens, event_id, None),
                delivery.body,
            ),
            summary,
        },
        patch: None,
        no_patch_reason: Some(
            "missed callback kept without its data by the fallback queue: nothing applied \
             (runbook: XpollensMissedWithoutPayloadAlarm)"
                .into(),
        ),
        erasure_guard: None,
    }
    .guarded(keys)
}

/// The write plan of a fallback-queue entry past the drain's hard ceiling: its metadata,
/// size and digest, its first bytes sealed as evidence; no state change. The event never
/// expires, so the entry's existence outlives the queue's 14 days.
pub fn plan_oversized(
    entry: &super::delivery::OversizedEntry,
    event_id: &EventId,
    process_date: Option<DateTime<Utc>>,
    keys: &Keyring,
) -> WritePlan {
    let id = event_id.as_str();
    let summary = json!({
        "provider": "xpollens",
        "eventType": entry.type_hint.as_ref().map(CallbackType::to_json),
        "subjectId": null,
        "eventId": id,
        "oversizedQueueEntry": {
            "webhookId": entry.webhook_id,
            "bytes": entry.answer.bytes,
            "sha256": entry.answer.sha256,
            "complete": entry.answer.complete,
            "keptPrefixBytes": entry.answer.prefix.len(),
            "ceilingBytes": super::queue::MAX_PAGE_BYTES,
        },
        "delivery": {"channel": "queue"},
    });
    WritePlan {
        event: EventRecord {
            provider: Provider::Xpollens,
            event_id: id.to_string(),
            event_type: entry
                .type_hint
                .as_ref()
                .map(CallbackType::to_string)
                .unwrap_or_else(|| "unknown".into()),
            subject: None,
            received_at: entry.received_at,
            provider_time: process_date,
            body_sha256: entry.answer.sha256.clone(),
            sealed_body: keys.seal(
                &EventRecord::body_aad(Provider::Xpollens, id, None),
                &entry.answer.prefix,
            ),
            summary,
        },
        patch: None,
        no_patch_reason: Some(format!(
            "queue entry of {} bytes over the {} MiB ceiling: kept as metadata and digest, \
             nothing applied (runbook: XpollensOversizedQueueEntryAlarm)",
            entry.answer.bytes,
            super::queue::MAX_PAGE_BYTES / (1024 * 1024)
        )),
        erasure_guard: None,
    }
    .guarded(keys)
}

/// The key of a transfer's diligence among the stream's items: its order id (event id when
/// it has none: then the event is its own item).
fn diligence_key(d: &ComplementaryDiligence, event_id: &str) -> String {
    d.order_id.clone().unwrap_or_else(|| event_id.to_string())
}

/// A transfer's diligence as an item: sticky (Validated and Refused are final in the
/// diligence diagram), with its bounded detail.
fn diligence_item(d: &ComplementaryDiligence, at: DateTime<Utc>, event_id: &str) -> Item {
    let (status, rank, fin) = match &d.status {
        Some(Status::Known(s)) => (s.name(), s.rank(), s.is_final()),
        // Not reached: a diligence without a known status proposes no patch.
        _ => ("", 0, false),
    };
    let mut detail = diligence_detail(d);
    detail.remove("diligenceStatus");
    Item::new(status, rank, fin, at, event_id, Value::Object(detail))
}

/// Associated data of a secret sealed into a state stream: its event, its name and the
/// customer whose state holds it.
pub fn sealed_field_aad(event_id: &str, name: &str, customer: Option<&str>) -> Aad {
    Aad::new(Provider::Xpollens.as_str(), event_id, name, customer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use kyc_core::crypto::PayloadKey;

    fn keys() -> Keyring {
        Keyring::new(PayloadKey::new("k", [3; 32]).unwrap(), vec![])
    }

    fn plan_of(body: &str, process_date: Option<DateTime<Utc>>) -> WritePlan {
        let cb = parse_callback(body.as_bytes(), None).unwrap();
        let id = EventId::from_provider("wh-1").unwrap();
        let d = Delivery {
            event_id: &id,
            received_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            process_date,
            body: body.as_bytes(),
            channel: &Channel::Live,
            notes: &[],
        };
        plan(&cb, &d, &keys())
    }

    #[test]
    fn kyc_demand_plans_a_kyc_patch_at_the_process_date() {
        let pd = Utc.with_ymd_and_hms(2025, 12, 31, 23, 0, 0).unwrap();
        let p = plan_of(
            r#"{"type":"4","status":"Fraud_Suspicion","appUserId":"u1","diligences":[{"diligenceType":"ID_CARD","status":"Refused","reason":"Identity fraud"}]}"#,
            Some(pd),
        );
        let patch = p.patch.unwrap();
        assert_eq!(patch.stream, Stream::KYC_DEMAND);
        assert_eq!(patch.value.status, "FraudSuspicion");
        assert!(patch.value.is_final);
        assert_eq!(patch.value.at, pd);
        assert_eq!(p.event.provider_time, Some(pd));
        assert_eq!(p.event.summary["diligences"][0]["reason"], "Identity fraud");
        assert_eq!(p.event.summary["eventType"], 4);
    }

    #[test]
    fn secrets_are_sealed_and_never_in_clear() {
        let body = r#"{"type":"35","AppUserId":"Au007","ActivationCode":"ACT-SECRET-0001","ExtraData":{"WebViewUrl":"https://pad/x?token=TOK-SECRET"}}"#;
        let p = plan_of(body, None);
        let all = format!("{:?} {} {:?}", p.event, p.event.summary, p.patch);
        assert!(
            !all.contains("ACT-SECRET") && !all.contains("TOK-SECRET"),
            "{all}"
        );
        let patch = p.patch.unwrap();
        assert_eq!(patch.value.status, "Enrolled");
        let sealed = &patch.value.sealed["activationCode"];
        assert_eq!(
            keys()
                .open(
                    &sealed_field_aad("wh-1", "activationCode", Some("Au007")),
                    sealed
                )
                .unwrap(),
            b"ACT-SECRET-0001"
        );
        let raw = keys()
            .open(
                &EventRecord::body_aad(Provider::Xpollens, "wh-1", Some("Au007")),
                &p.event.sealed_body,
            )
            .unwrap();
        assert_eq!(raw, body.as_bytes());
        assert_eq!(p.event.summary["secrets"]["activationCode"], REDACTED);
    }

    #[test]
    fn unknown_types_and_unrecognised_statuses_record_without_patch() {
        let p = plan_of(r#"{"type":"16","appUserId":"u","amount":3}"#, None);
        assert!(p.patch.is_none());
        assert_eq!(
            p.no_patch_reason.as_deref(),
            Some("callback type carries no KYC state")
        );
        let p = plan_of(
            r#"{"type":"34","appUserId":"u","userRecordStatus":"Frozen"}"#,
            None,
        );
        assert!(p.patch.is_none());
        assert_eq!(
            p.no_patch_reason.as_deref(),
            Some("unrecognised user record status \"Frozen\"")
        );
        assert_eq!(p.event.summary["userRecordStatus"], "Frozen");
    }

    #[test]
    fn summaries_and_details_stay_bounded_whatever_the_callback() {
        let diligences: Vec<String> = (0..20_000)
            .map(|i| {
                format!(
                    r#"{{"diligenceType":"DOC_{i}","status":"Received","reason":"{}"}}"#,
                    "r".repeat(20)
                )
            })
            .collect();
        let body = format!(
            r#"{{"type":"4","status":"Pending","appUserId":"u","kycLevel":"{}","diligences":[{}]}}"#,
            "L".repeat(100_000),
            diligences.join(",")
        );
        let p = plan_of(&body, None);
        let summary = serde_json::to_vec(&p.event.summary).unwrap();
        let detail = serde_json::to_vec(&p.patch.as_ref().unwrap().value.detail).unwrap();
        assert!(summary.len() <= MAX_DETAIL_BYTES + 512, "{}", summary.len());
        assert!(detail.len() <= MAX_DETAIL_BYTES, "{}", detail.len());
        assert_eq!(p.event.summary["diligenceCount"], 20_000);
        assert_eq!(p.patch.unwrap().value.status, "Pending");
        // The whole body is still there, sealed.
        let raw = keys()
            .open(
                &EventRecord::body_aad(Provider::Xpollens, "wh-1", Some("u")),
                &p.event.sealed_body,
            )
            .unwrap();
        assert_eq!(raw.len(), body.len());
    }

    proptest::proptest! {
        /// Around the bound (details just under it, a summary header pushing past it), the
        /// summary and the detail still fit: the size shortcut never lets a summary through
        /// unmeasured when it could be over.
        #[test]
        fn summaries_fit_at_the_bound(
            n in 40usize..=MAX_LISTED,
            reason_len in 180usize..256,
            subject_len in 1usize..128,
            level_len in 0usize..256,
        ) {
            let diligences: Vec<String> = (0..n)
                .map(|i| format!(
                    r#"{{"diligenceType":"D{i}","status":"Received","reason":"{}"}}"#,
                    "r".repeat(reason_len)
                ))
                .collect();
            let body = format!(
                r#"{{"type":"4","status":"Pending","appUserId":"{}","kycLevel":"{}","diligences":[{}]}}"#,
                "u".repeat(subject_len),
                "L".repeat(level_len),
                diligences.join(",")
            );
            let p = plan_of(&body, None);
            let mut summary = p.event.summary.clone();
            summary.as_object_mut().unwrap().remove("delivery");
            proptest::prop_assert!(json_len(&summary) <= MAX_DETAIL_BYTES, "{}", json_len(&summary));
            let detail = &p.patch.as_ref().unwrap().value.detail;
            proptest::prop_assert!(json_len(detail) <= MAX_DETAIL_BYTES);
            // What fits is kept whole: nothing is omitted from a summary within the bound.
            let whole = summary.get("omitted").is_none();
            proptest::prop_assert_eq!(whole, summary["diligences"].as_array().map(Vec::len) == Some(n));
        }
    }

    #[test]
    fn fit_drops_the_largest_fields_and_names_them() {
        let m = json!({"provider":"x","small":1,"big":"b".repeat(1000),"mid":"m".repeat(300)});
        let Value::Object(m) = m else { unreachable!() };
        let out = fit(m, 400);
        assert!(serde_json::to_vec(&out).unwrap().len() <= 400);
        assert_eq!(out["omitted"], json!(["big"]));
        assert_eq!(out["small"], 1);
    }

    #[test]
    fn sca_result_time_falls_back_to_body_dates() {
        let p = plan_of(
            r#"{"Header":{"Type":36,"AppUserId":"u","Status":"Succeeded","AuthenticationResultDate":"2021-05-18T12:47:25+00:00"},"Payload":null}"#,
            None,
        );
        assert_eq!(
            p.event.provider_time,
            Some(Utc.with_ymd_and_hms(2021, 5, 18, 12, 47, 25).unwrap())
        );
        assert_eq!(p.patch.unwrap().value.status, "Succeeded");
    }
}

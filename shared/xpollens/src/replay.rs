//! `kyc replay xpollens FILE...`: what would this sequence of deliveries do? Each file is an
//! API Gateway HTTP API (2.0) event, as in `events/`, or a fallback-queue page (the JSON array
//! `GET /api/v2.0/webhooks` answers). Deliveries are applied in the order given through the
//! same code as the Lambda — the endpoint after authentication, the delivery recorder, the
//! state rules, deduplication — against the in-memory store. Authentication is not checked.
//! Secrets are sealed under a throw-away key and never printed.

use super::dates::parse_process_date;
use super::delivery::{DeliveryRecorder, Recorded, Recorder};
use super::drain::raw_delivery;
use super::endpoint::{answer, error_answer, CallbackAuth, Endpoint, HttpRequest};
use super::queue::group_page;
use base64::Engine;
use chrono::{DateTime, Utc};
use kyc_core::crypto::{Keyring, PayloadKey};
use kyc_core::intake::{EventStore, MemoryStore};
use kyc_core::kyc_state::status_json;
use kyc_core::secrets::{Cached, StaticSecrets};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Why a file cannot be replayed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplayError {
    /// The file is not JSON.
    #[error("{file}: not JSON ({why})")]
    NotJson {
        /// The file.
        file: String,
        /// The parser's message.
        why: String,
    },
    /// Neither an API Gateway event nor a queue page.
    #[error(
        "{file}: neither an API Gateway HTTP API 2.0 event nor a fallback-queue page (JSON array)"
    )]
    UnknownForm {
        /// The file.
        file: String,
    },
    /// An API Gateway event that cannot be read as a request.
    #[error("{file}: {why}")]
    BadEvent {
        /// The file.
        file: String,
        /// What is missing or malformed.
        #[source]
        why: EventFormError,
    },
}

/// Why an API Gateway event cannot be read as a request: names the missing or malformed
/// part, never a value (bodies and headers carry personal data and credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventFormError {
    /// No `requestContext`.
    #[error("no requestContext")]
    NoRequestContext,
    /// No `requestContext.http`: not an HTTP API 2.0 event.
    #[error("no requestContext.http (not a 2.0 event)")]
    NotHttpApiV2,
    /// The body is flagged base64 and is not.
    #[error("body is not valid base64")]
    BodyNotBase64,
    /// The body is not a string.
    #[error("body is not a string")]
    BodyNotString,
    /// No `requestContext.http.method`.
    #[error("no requestContext.http.method")]
    NoMethod,
    /// No `rawPath`.
    #[error("no rawPath")]
    NoPath,
}

/// What one file holds.
// One value per file read, never kept in bulk: the request's size does not matter here.
#[allow(clippy::large_enum_variant)]
pub enum Deliveries {
    /// An API Gateway event, as the function would receive it.
    Http(HttpRequest, DateTime<Utc>),
    /// A fallback-queue page.
    Queue(Vec<u8>),
}

/// Reads an API Gateway HTTP API 2.0 event into the endpoint's request, with the time API
/// Gateway received it (`requestContext.timeEpoch`, if present).
pub fn http_request_from_event(
    event: &Map<String, Value>,
) -> Result<(HttpRequest, Option<DateTime<Utc>>), EventFormError> {
    let ctx = event
        .get("requestContext")
        .and_then(Value::as_object)
        .ok_or(EventFormError::NoRequestContext)?;
    let http = ctx
        .get("http")
        .and_then(Value::as_object)
        .ok_or(EventFormError::NotHttpApiV2)?;
    let text =
        |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    let body = match event.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(b)) if event.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| EventFormError::BodyNotBase64)?
        }
        Some(Value::String(b)) => b.as_bytes().to_vec(),
        Some(_) => return Err(EventFormError::BodyNotString),
    };
    let headers = event
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let received = ctx
        .get("timeEpoch")
        .and_then(Value::as_i64)
        .and_then(DateTime::from_timestamp_millis);
    Ok((
        HttpRequest {
            method: text(http, "method").ok_or(EventFormError::NoMethod)?,
            path: text(event, "rawPath")
                .or_else(|| text(http, "path"))
                .ok_or(EventFormError::NoPath)?,
            headers,
            body,
            query: text(event, "rawQueryString").unwrap_or_default(),
            source_ip: None,
            gateway: Default::default(),
        },
        received,
    ))
}

/// Reads one file's bytes.
pub fn read_file(name: &str, bytes: &[u8]) -> Result<Deliveries, ReplayError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| ReplayError::NotJson {
        file: name.into(),
        why: e.to_string(),
    })?;
    match value {
        Value::Array(_) => Ok(Deliveries::Queue(bytes.to_vec())),
        Value::Object(event) if event.get("version").and_then(Value::as_str) == Some("2.0") => {
            let (req, received) =
                http_request_from_event(&event).map_err(|why| ReplayError::BadEvent {
                    file: name.into(),
                    why,
                })?;
            Ok(Deliveries::Http(req, received.unwrap_or_else(Utc::now)))
        }
        _ => Err(ReplayError::UnknownForm { file: name.into() }),
    }
}

/// Replays deliveries against an in-memory store.
pub struct Replay {
    store: Arc<MemoryStore>,
    endpoint: Endpoint,
    deliveries: Vec<Value>,
}

impl Default for Replay {
    fn default() -> Self {
        Self::new()
    }
}

impl Replay {
    /// A replay into an in-memory store under a throw-away key.
    pub fn new() -> Self {
        let store = Arc::new(MemoryStore::default());
        let key: [u8; 32] = rand::random();
        let keys = Cached::new(
            Arc::new(StaticSecrets(Default::default())),
            "replay",
            std::time::Duration::from_secs(3600),
            |_| Err("replay keys are preloaded".to_string()),
        )
        .preloaded(Keyring::new(
            PayloadKey::new("replay", key).expect("32-byte key"),
            vec![],
        ));
        let credentials = Cached::new(
            Arc::new(StaticSecrets(Default::default())),
            "unused",
            std::time::Duration::from_secs(3600),
            |_| Err("authentication is not checked in a replay".to_string()),
        );
        Self {
            endpoint: Endpoint {
                recorder: Recorder {
                    store: store.clone(),
                    keys,
                },
                auth: CallbackAuth::Credentials(credentials),
                allow_list: None,
                clock: Arc::new(Utc::now),
            },
            store,
            deliveries: Vec::new(),
        }
    }

    /// Applies one file's deliveries, in order.
    pub async fn apply(&mut self, name: &str, deliveries: Deliveries) {
        match deliveries {
            Deliveries::Http(req, received_at) => {
                let (resp, recorded) = self.endpoint.handle_authenticated(&req, received_at).await;
                self.push(name, 0, resp.status, recorded.as_ref(), &resp.body);
            }
            Deliveries::Queue(page) => self.apply_queue_page(name, &page).await,
        }
    }

    fn push(
        &mut self,
        file: &str,
        index: usize,
        status: u16,
        recorded: Option<&Recorded>,
        body: &str,
    ) {
        let outcome = match recorded {
            Some(r) => Value::from(r.outcome.history_note()),
            // The error code the function answered ("malformed_json", "invalid_callback"...).
            None => serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|b| b.get("error").cloned())
                .unwrap_or(Value::Null),
        };
        self.deliveries.push(json!({
            "file": file,
            "index": index,
            "status": status,
            "eventId": recorded.map(|r| r.event_id.as_str()),
            "outcome": outcome,
        }));
    }

    /// A page's entries through the drain's own reading (one delivery per `metadata.id`)
    /// and the recorder, each received when Xpollens first pushed it.
    async fn apply_queue_page(&mut self, name: &str, page: &[u8]) {
        let page = match group_page(page) {
            Ok(p) => p,
            Err(e) => {
                self.deliveries.push(json!({
                    "file": name, "index": 0, "status": 400, "eventId": null,
                    "outcome": format!("unreadable queue page: {e}"),
                }));
                return;
            }
        };
        for delivery in &page.deliveries {
            let received_at = delivery
                .attempts
                .iter()
                .find_map(|a| a.push_date.as_deref().and_then(parse_process_date))
                .or_else(|| {
                    delivery
                        .process_date
                        .as_deref()
                        .and_then(parse_process_date)
                })
                .unwrap_or_else(Utc::now);
            let raw = raw_delivery(delivery, received_at);
            let index = delivery.entry_indexes.first().copied().unwrap_or(0);
            match self.endpoint.recorder.record(&raw).await {
                Ok(recorded) => {
                    let resp = answer(&recorded);
                    self.push(name, index, resp.status, Some(&recorded), &resp.body);
                }
                Err(e) => {
                    let resp = error_answer(&e);
                    self.push(name, index, resp.status, None, &resp.body);
                }
            }
        }
    }

    /// The replay's result: every customer's state (as `kyc status` prints it) and history,
    /// and what each delivery was answered.
    pub async fn report(&self) -> Value {
        let mut customers = Map::new();
        for subject in self.store.subjects() {
            let states = self
                .store
                .provider_states(&subject)
                .await
                .unwrap_or_default();
            let history = self.store.history(&subject).await.unwrap_or_default();
            customers.insert(
                subject.clone(),
                json!({"state": status_json(&subject, states), "history": history}),
            );
        }
        json!({"customers": customers, "deliveries": self.deliveries})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PENDING: &str = include_str!("../../../events/xpollens-04-v1-pending.json");
    const FRAUD: &str = include_str!("../../../events/xpollens-04-fraud.json");
    const ENROLMENT: &str = include_str!("../../../events/xpollens-35-enrolment.json");
    const QUEUE_PAGE: &str = include_str!("../../../events/xpollens-queue-page.json");
    const BAD: &str = include_str!("../../../events/xpollens-bad-missing-subject.json");

    async fn replay(files: &[(&str, &str)]) -> Value {
        let mut r = Replay::new();
        for (name, text) in files {
            let d = read_file(name, text.as_bytes()).unwrap();
            r.apply(name, d).await;
        }
        r.report().await
    }

    #[tokio::test]
    async fn live_events_then_a_queue_page_recover_what_was_missed_and_dedupe_the_rest() {
        let out = replay(&[("pending", PENDING), ("page", QUEUE_PAGE), ("bad", BAD)]).await;
        let d = out["deliveries"].as_array().unwrap();
        let summary: Vec<(String, u64, String)> = d
            .iter()
            .map(|x| {
                (
                    x["file"].as_str().unwrap().to_string(),
                    x["status"].as_u64().unwrap(),
                    x["outcome"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let expect = |f: &str, s: u64, o: &str| (f.to_string(), s, o.to_string());
        assert_eq!(
            summary,
            vec![
                expect("pending", 202, "applied"),
                expect("page", 202, "duplicate"),
                // Two attempts of one missed callback: one event.
                expect("page", 202, "applied"),
                expect("page", 202, "applied"),
                expect("bad", 400, "invalid_callback"),
            ]
        );
        let dave = &out["customers"]["demo-dave"];
        // The newer demand (a new Initialized after the rejection) wins.
        assert_eq!(
            dave["state"]["providers"]["xpollens"]["kycDemand"]["status"],
            "Initialized"
        );
        assert_eq!(dave["history"].as_array().unwrap().len(), 2);
        assert_eq!(
            dave["history"][0]["summary"]["delivery"]["attempts"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            out["customers"]["demo-alice"]["history"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn order_matters_as_it_would_live_and_secrets_stay_sealed() {
        // The final state first, then the older Pending: stale, kept in history only.
        let out = replay(&[("fraud", FRAUD), ("enrol", ENROLMENT)]).await;
        let text = out.to_string();
        assert!(
            !text.contains("0xd14c7c77"),
            "activation code printed: {text}"
        );
        let alice = &out["customers"]["demo-alice"]["state"]["providers"]["xpollens"];
        assert_eq!(alice["scaEnrolment"]["sealedSecrets"][0], "activationCode");
        let out = replay(&[
            ("fraud", FRAUD),
            ("pending", &PENDING.replace("demo-alice", "demo-bob")),
        ])
        .await;
        let bob = &out["customers"]["demo-bob"];
        assert_eq!(
            bob["state"]["providers"]["xpollens"]["kycDemand"]["status"],
            "FraudSuspicion"
        );
        assert!(bob["history"][1]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("not applied: stale"));
    }

    #[test]
    fn a_file_of_neither_form_is_refused_clearly() {
        assert_eq!(
            read_file("x.json", br#"{"type":"4"}"#).err().unwrap().to_string(),
            "x.json: neither an API Gateway HTTP API 2.0 event nor a fallback-queue page (JSON array)"
        );
        assert!(matches!(
            read_file("y", b"{oops"),
            Err(ReplayError::NotJson { .. })
        ));
        assert!(matches!(
            read_file("z", br#"{"version":"2.0","body":"{}"}"#),
            Err(ReplayError::BadEvent { .. })
        ));
    }
}

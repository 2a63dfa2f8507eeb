//! One Xpollens delivery — a live callback or a fallback-queue entry — recorded through the
//! durable intake. Both channels go through [`Recorder::record`], so a callback recovered from
//! the queue is deduplicated against (and ordered with) the live ones by its `Webhook-Id`.
//!
//! Nothing usable is refused: an invalid `Webhook-Id` falls back to the body digest, an
//! unreadable `Webhook-Processdate` orders the event by received time; both are flagged on the
//! event. Only a body that cannot be a callback (not JSON, no `appUserId` on a KYC type, ...)
//! is refused, and even then it is kept as a rejection.

use super::callbacks::{parse_callback, CallbackError, CallbackType, DATA_OUTSIDE_THE_BODY};
use super::dates::parse_provider_date;
use super::plan::{plan, plan_missed, plan_oversized, Delivery};
use super::queue::Oversized;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use kyc_core::crypto::Keyring;
use kyc_core::intake::{
    sha256_hex, EventId, EventStore, Outcome, Provider, Rejection, StoreError, REJECTED_BODY_LIMIT,
    REJECTION_RETENTION_DAYS,
};
use kyc_core::secrets::Cached;
use std::sync::Arc;

/// Numbered callback types this product reads, with the named PEP screening (the others are
/// recorded and answered 204, Xpollens' best practice for "not interested").
pub const TYPES_IN_USE: [u32; 8] = [4, 15, 31, 34, 35, 36, 47, 48];

/// Whether this product reads callbacks of this type.
pub fn in_use(callback_type: Option<&CallbackType>) -> bool {
    match callback_type {
        Some(CallbackType::Number(n)) => TYPES_IN_USE.contains(n),
        Some(named) => named.is_pep_screening(),
        None => false,
    }
}

/// Where a delivery came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Channel {
    /// POSTed to the callback endpoint.
    Live,
    /// Read from the fallback queue (`GET /api/v2.0/webhooks`); `attempts` holds the
    /// `response` of each delivery attempt Xpollens made (our answers: delivery evidence).
    Queue {
        /// Each attempt's `response`, as Xpollens gave it.
        attempts: Vec<serde_json::Value>,
    },
}

impl Channel {
    fn name(&self) -> &'static str {
        match self {
            Channel::Live => "live",
            Channel::Queue { .. } => "queue",
        }
    }
}

/// A delivery as received, before any validation.
#[derive(Debug, Clone)]
pub struct RawDelivery {
    /// `Webhook-Id` (queue: `metadata.id`).
    pub webhook_id: Option<String>,
    /// `Webhook-Processdate` as sent (queue: `metadata.processDate`).
    pub process_date: Option<String>,
    /// The callback type named outside the body (route `/xpollens/callbacks/{type}`, queue
    /// `metadata.type`).
    pub type_hint: Option<CallbackType>,
    /// The callback body (a JSON object; query-string and header-form callbacks are turned
    /// into one by the endpoint).
    pub body: Vec<u8>,
    /// When we received it (queue: when the drain read it).
    pub received_at: DateTime<Utc>,
    /// Live, or from the fallback queue.
    pub channel: Channel,
    /// How the delivery was read (`queryStringForm`, `headerForm`...), kept on the event.
    pub notes: Vec<&'static str>,
    /// Fallback queue: the entry kept nothing of the callback (no payload, no query string,
    /// no headers). Recorded as a missed callback of `type_hint`, never applied.
    pub without_payload: bool,
}

/// What recording a delivery did.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The event's id.
    pub event_id: EventId,
    /// The callback's type, if readable.
    pub callback_type: Option<CallbackType>,
    /// What the intake did.
    pub outcome: Outcome,
    /// Whether this product reads the callback type (see [`in_use`]).
    pub in_use: bool,
    /// Recorded as a missed callback whose data the fallback queue did not keep: nothing of
    /// it could be applied (see [`RawDelivery::without_payload`]).
    pub missed_without_payload: bool,
}

impl Recorded {
    /// New to the store (whether or not it changed a state).
    pub fn is_new(&self) -> bool {
        !matches!(
            self.outcome,
            Outcome::Duplicate | Outcome::Conflict | Outcome::ErasedSubject
        )
    }
}

/// Why a delivery was not recorded as a callback.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The delivery cannot be a callback; it was recorded as a rejection. Never retried.
    #[error("{message}")]
    Unusable {
        /// The HTTP status to answer.
        status: u16,
        /// The error code to answer.
        code: &'static str,
        /// The message to answer (no personal data).
        message: String,
    },
    /// Nothing durable happened (store or key unavailable): the sender must retry.
    #[error("delivery not recorded, retry later: {0}")]
    Unavailable(String),
}

/// Records deliveries: the port the endpoint and the queue drain share.
#[async_trait]
pub trait DeliveryRecorder: Send + Sync {
    /// Records a delivery: validated, sealed, applied, all or nothing.
    async fn record(&self, delivery: &RawDelivery) -> Result<Recorded, DeliveryError>;
    /// Records a fallback-queue entry too large to read (past the drain's hard ceiling) by
    /// what is known of it: metadata, size, digest, first bytes. Never applied.
    async fn record_oversized(&self, entry: &OversizedEntry) -> Result<Recorded, DeliveryError>;
}

/// A fallback-queue entry alone in a page over the drain's bound (`queue::MAX_PAGE_BYTES`,
/// the stated hard ceiling), known only by its metadata (read from its first bytes), size
/// and digest.
#[derive(Debug, Clone)]
pub struct OversizedEntry {
    /// `metadata.id`, if readable from the first bytes.
    pub webhook_id: Option<String>,
    /// `metadata.processDate`, if readable.
    pub process_date: Option<String>,
    /// `metadata.type`, if readable.
    pub type_hint: Option<CallbackType>,
    /// Its size, digest and first bytes.
    pub answer: Oversized,
    /// When the drain read it.
    pub received_at: DateTime<Utc>,
}

/// The durable intake of Xpollens deliveries.
pub struct Recorder {
    /// Where events and states are kept.
    pub store: Arc<dyn EventStore>,
    /// Xpollens' payload keyring.
    pub keys: Cached<Keyring>,
}

impl Recorder {
    /// Keeps a refused delivery (sealed, first 64 KiB, expiring). `Unavailable` if it cannot.
    pub async fn record_rejection(
        &self,
        body: &[u8],
        received_at: DateTime<Utc>,
        status: u16,
        reason: &str,
    ) -> Result<(), DeliveryError> {
        let keys = self.keys.get().await.map_err(|e| {
            tracing::error!(error = %e, "cannot load payload key");
            DeliveryError::Unavailable("encryption key unavailable".into())
        })?;
        let mut rejection = Rejection {
            provider: Provider::Xpollens,
            received_at,
            http_status: status,
            reason: reason.to_string(),
            body_size: body.len(),
            body_sha256: sha256_hex(body),
            sealed_body_prefix: String::new(),
            expires_at: received_at + Duration::days(REJECTION_RETENTION_DAYS),
        };
        let prefix = &body[..body.len().min(REJECTED_BODY_LIMIT)];
        rejection.sealed_body_prefix = keys.seal(&rejection.body_aad(), prefix);
        self.store.record_rejection(&rejection).await.map_err(|e| {
            tracing::error!(error = %e, "cannot record rejected delivery");
            DeliveryError::Unavailable("rejection not recorded".into())
        })
    }

    async fn unusable(
        &self,
        d: &RawDelivery,
        status: u16,
        code: &'static str,
        message: String,
    ) -> DeliveryError {
        match self
            .record_rejection(&d.body, d.received_at, status, &message)
            .await
        {
            Ok(()) => {
                tracing::warn!(status, code, reason = %message, channel = d.channel.name(), "delivery rejected");
                DeliveryError::Unusable {
                    status,
                    code,
                    message,
                }
            }
            Err(e) => e,
        }
    }
}

#[async_trait]
impl DeliveryRecorder for Recorder {
    async fn record_oversized(&self, entry: &OversizedEntry) -> Result<Recorded, DeliveryError> {
        // Derived, never the Webhook-Id itself (see `missed_event_id`); else the digest.
        let event_id = entry
            .webhook_id
            .as_deref()
            .and_then(|id| EventId::from_provider(&format!("{}.oversized", id.trim())).ok())
            .unwrap_or_else(|| EventId::from_digest(&entry.answer.sha256));
        let keys = self.keys.get().await.map_err(|e| {
            tracing::error!(error = %e, "cannot load payload key");
            DeliveryError::Unavailable("encryption key unavailable".into())
        })?;
        let process_date = entry
            .process_date
            .as_deref()
            .and_then(parse_provider_date)
            .map(|d| d.at);
        let write = plan_oversized(entry, &event_id, process_date, &keys);
        let outcome = self.record_unapplied(&write).await?;
        tracing::error!(
            event_id = event_id.as_str(),
            bytes = entry.answer.bytes,
            complete = entry.answer.complete,
            outcome = %outcome.history_note(),
            "xpollens queue: entry over the hard ceiling kept as metadata and digest; nothing applied (runbook: XpollensOversizedQueueEntryAlarm)"
        );
        Ok(Recorded {
            in_use: in_use(entry.type_hint.as_ref()),
            callback_type: entry.type_hint.clone(),
            event_id,
            outcome,
            missed_without_payload: false,
        })
    }

    async fn record(&self, d: &RawDelivery) -> Result<Recorded, DeliveryError> {
        let callback = if d.without_payload {
            None
        } else {
            match parse_callback(&d.body, d.type_hint.as_ref()) {
                Ok(c) => Some(c),
                Err(e) if lost_outside_the_body(d, &e) => None,
                Err(e) => {
                    let code = match e {
                        CallbackError::NotJson(_) | CallbackError::NotAnObject => "malformed_json",
                        _ => "invalid_callback",
                    };
                    return Err(self.unusable(d, 400, code, e.to_string()).await);
                }
            }
        };
        let Some(callback) = callback else {
            return self.record_missed(d).await;
        };
        let mut notes = d.notes.clone();
        // Without a usable Webhook-Id, the canonical body digest: the queue's re-serialised
        // copy of the same callback gets the same id.
        let from_body = || EventId::from_digest(&callback.body_sha256);
        let event_id = match d.webhook_id.as_deref().map(EventId::from_provider) {
            Some(Ok(id)) => id,
            Some(Err(_)) => {
                notes.push("invalidWebhookId");
                from_body()
            }
            None => from_body(),
        };
        let process_date = match d.process_date.as_deref().map(parse_provider_date) {
            Some(Some(date)) => {
                if date.assumed_utc {
                    notes.push("processDateWithoutOffsetReadAsUtc");
                }
                Some(date.at)
            }
            Some(None) => {
                // Ordered by received time instead; never a reason to refuse the callback.
                notes.push("unreadableProcessDate");
                None
            }
            None => None,
        };
        let keys = self.keys.get().await.map_err(|e| {
            tracing::error!(error = %e, "cannot load payload key");
            DeliveryError::Unavailable("encryption key unavailable".into())
        })?;
        let delivery = Delivery {
            event_id: &event_id,
            received_at: d.received_at,
            process_date,
            body: &d.body,
            channel: &d.channel,
            notes: &notes,
        };
        let write = plan(&callback, &delivery, &keys);
        let outcome = match self.store.record(&write).await {
            Ok(outcome) => outcome,
            Err(StoreError::Refused(why)) => {
                // The same write would fail on every retry: kept as a rejection instead of a
                // 503 loop that would wedge this callback for Xpollens' whole retry schedule.
                tracing::error!(event_id = event_id.as_str(), reason = %why, "store refuses the event");
                return Err(self
                    .unusable(
                        d,
                        422,
                        "unstorable",
                        format!("event cannot be stored: {why}"),
                    )
                    .await);
            }
            Err(e @ (StoreError::Unavailable(_) | StoreError::Corrupt(_))) => {
                tracing::error!(error = %e, event_id = event_id.as_str(), "durable write failed");
                return Err(DeliveryError::Unavailable("event not stored".into()));
            }
        };
        if !notes.is_empty() {
            tracing::warn!(event_id = event_id.as_str(), notes = ?notes, "delivery accepted with notes");
        }
        tracing::info!(
            event_id = event_id.as_str(),
            callback_type = ?callback.callback_type,
            channel = d.channel.name(),
            outcome = %outcome.history_note(),
            "callback recorded"
        );
        if outcome == Outcome::Conflict {
            // A different body under a known id may be a forgery or a provider bug: kept.
            self.record_rejection(
                &d.body,
                d.received_at,
                409,
                "Webhook-Id already received with a different body",
            )
            .await?;
        }
        Ok(Recorded {
            in_use: in_use(callback.callback_type.as_ref()),
            callback_type: callback.callback_type,
            event_id,
            outcome,
            missed_without_payload: false,
        })
    }
}

/// A queue copy of a callback whose data travels outside the body (#15's query string, #36's
/// headers) holds only the body: empty, or the operation's answer. That is a callback missed
/// live whose data is lost, not a malformed one.
fn lost_outside_the_body(d: &RawDelivery, e: &CallbackError) -> bool {
    let CallbackError::MissingSubject(t) = e else {
        return false;
    };
    matches!(d.channel, Channel::Queue { .. })
        && CallbackType::parse(t)
            .and_then(|t| t.number())
            .is_some_and(|n| DATA_OUTSIDE_THE_BODY.contains(&n))
}

/// The event id of a missed callback: derived from its `Webhook-Id`, never the id itself, so
/// the real callback, if a live retry still brings it, is recorded and applied under its own
/// id (not refused as a conflicting body).
fn missed_event_id(d: &RawDelivery) -> EventId {
    d.webhook_id
        .as_deref()
        .and_then(|id| EventId::from_provider(&format!("{}.withoutPayload", id.trim())).ok())
        .unwrap_or_else(|| {
            EventId::from_digest(&sha256_hex(
                format!(
                    "withoutPayload\n{}\n{}\n{}",
                    d.webhook_id.as_deref().unwrap_or(""),
                    d.process_date.as_deref().unwrap_or(""),
                    sha256_hex(&d.body)
                )
                .as_bytes(),
            ))
        })
}

impl Recorder {
    /// Writes a plan that applies nothing; `Unavailable` when the store fails (the drain
    /// leaves the entry in the queue).
    async fn record_unapplied(
        &self,
        write: &kyc_core::intake::WritePlan,
    ) -> Result<Outcome, DeliveryError> {
        self.store.record(write).await.map_err(|e| {
            tracing::error!(error = %e, event_id = write.event.event_id.as_str(), "durable write failed");
            DeliveryError::Unavailable("event not stored".into())
        })
    }

    /// Records a callback the fallback queue kept without its data: an event (it never
    /// expires, unlike a rejection) naming its type, sealing what the entry held, applying
    /// nothing. Its alarm and runbook line tell an operator to fetch the user's status.
    async fn record_missed(&self, d: &RawDelivery) -> Result<Recorded, DeliveryError> {
        let callback_type = d.type_hint.clone().or_else(|| {
            // #36's answer-only copy may still name its type in the body.
            serde_json::from_slice::<serde_json::Value>(&d.body)
                .ok()
                .and_then(|v| v.get("type").and_then(super::lenient::scalar_text))
                .and_then(|t| CallbackType::parse(&t))
        });
        let event_id = missed_event_id(d);
        let mut notes = d.notes.clone();
        let process_date = match d.process_date.as_deref().map(parse_provider_date) {
            Some(Some(date)) => Some(date.at),
            Some(None) => {
                notes.push("unreadableProcessDate");
                None
            }
            None => None,
        };
        let keys = self.keys.get().await.map_err(|e| {
            tracing::error!(error = %e, "cannot load payload key");
            DeliveryError::Unavailable("encryption key unavailable".into())
        })?;
        let delivery = Delivery {
            event_id: &event_id,
            received_at: d.received_at,
            process_date,
            body: &d.body,
            channel: &d.channel,
            notes: &notes,
        };
        let write = plan_missed(callback_type.as_ref(), &delivery, &keys);
        let outcome = self.record_unapplied(&write).await?;
        tracing::error!(
            event_id = event_id.as_str(),
            callback_type = %callback_type.as_ref().map(ToString::to_string).unwrap_or_else(|| "unknown".into()),
            outcome = %outcome.history_note(),
            "xpollens queue: callback missed live and kept WITHOUT its data; nothing applied (runbook: XpollensMissedWithoutPayloadAlarm)"
        );
        Ok(Recorded {
            in_use: in_use(callback_type.as_ref()),
            callback_type,
            event_id,
            outcome,
            missed_without_payload: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use kyc_core::crypto::PayloadKey;
    use kyc_core::intake::MemoryStore;
    use kyc_core::secrets::StaticSecrets;

    fn recorder(store: Arc<MemoryStore>) -> Recorder {
        Recorder {
            store,
            keys: Cached::new(
                Arc::new(StaticSecrets(Default::default())),
                "k",
                std::time::Duration::from_secs(60),
                |_| Err("preloaded".to_string()),
            )
            .preloaded(Keyring::new(PayloadKey::new("k", [7; 32]).unwrap(), vec![])),
        }
    }

    fn delivery(body: &str, channel: Channel) -> RawDelivery {
        RawDelivery {
            webhook_id: None,
            process_date: Some("12/11/2026 09:00:00 +00:00".into()),
            type_hint: None,
            body: body.as_bytes().to_vec(),
            received_at: Utc.with_ymd_and_hms(2026, 11, 12, 9, 0, 1).unwrap(),
            channel,
            notes: vec![],
            without_payload: false,
        }
    }

    #[tokio::test]
    async fn without_a_webhook_id_the_queue_copy_is_a_duplicate_of_the_live_delivery() {
        let store = Arc::new(MemoryStore::default());
        let r = recorder(store.clone());
        let live = r
            .record(&delivery(
                r#"{ "type": "4", "status": "Pending", "appUserId": "u" }"#,
                Channel::Live,
            ))
            .await
            .unwrap();
        let queued = r
            .record(&delivery(
                r#"{"appUserId":"u","status":"Pending","type":"4"}"#,
                Channel::Queue { attempts: vec![] },
            ))
            .await
            .unwrap();
        assert_eq!(live.event_id, queued.event_id);
        assert!(live.event_id.as_str().starts_with("sha256:"));
        assert_eq!(queued.outcome, Outcome::Duplicate);
        assert_eq!(store.event_count(), 1);
    }
}

//! One Xpollens delivery — a live callback or a fallback-queue entry — recorded through the
//! durable intake. Both channels go through [`Recorder::record`], so a callback recovered from
//! the queue is deduplicated against (and ordered with) the live ones by its `Webhook-Id`.
//!
//! Nothing usable is refused: an invalid `Webhook-Id` falls back to the body digest, an
//! unreadable `Webhook-Processdate` orders the event by received time; both are flagged on the
//! event. Only a body that cannot be a callback (not JSON, no `appUserId` on a KYC type, ...)
//! is refused, and even then it is kept as a rejection.

use super::callbacks::{parse_callback, CallbackError};
use super::dates::parse_provider_date;
use super::plan::{plan, Delivery};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use kyc_core::crypto::Keyring;
use kyc_core::intake::{
    sha256_hex, EventId, EventStore, Outcome, Provider, Rejection, StoreError, REJECTED_BODY_LIMIT,
    REJECTION_RETENTION_DAYS,
};
use kyc_core::secrets::Cached;
use std::sync::Arc;

/// Callback types this product reads (the others are recorded and answered 204, Xpollens'
/// best practice for "not interested").
pub const TYPES_IN_USE: [u32; 7] = [4, 15, 34, 35, 36, 47, 48];

/// Where a delivery came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Channel {
    /// POSTed to the callback endpoint.
    Live,
    /// Read from the fallback queue (`GET /api/v2.0/webhooks`); `attempts` holds the
    /// `response` of each delivery attempt Xpollens made (our answers: delivery evidence).
    Queue { attempts: Vec<serde_json::Value> },
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
    /// The callback type named outside the body (route `/xpollens/callbacks/{type}`).
    pub type_hint: Option<u32>,
    /// The callback body (a JSON object; query-string and header-form callbacks are turned
    /// into one by the endpoint).
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub channel: Channel,
    /// How the delivery was read (`queryStringForm`, `headerForm`...), kept on the event.
    pub notes: Vec<&'static str>,
}

/// What recording a delivery did.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub event_id: EventId,
    pub callback_type: Option<u32>,
    pub outcome: Outcome,
    /// Whether this product reads the callback type (see [`TYPES_IN_USE`]).
    pub in_use: bool,
}

impl Recorded {
    /// New to the store (whether or not it changed a state).
    pub fn is_new(&self) -> bool {
        !matches!(self.outcome, Outcome::Duplicate | Outcome::Conflict)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The delivery cannot be a callback; it was recorded as a rejection. Never retried.
    #[error("{message}")]
    Unusable {
        status: u16,
        code: &'static str,
        message: String,
    },
    /// Nothing durable happened (store or key unavailable): the sender must retry.
    #[error("delivery not recorded, retry later: {0}")]
    Unavailable(String),
}

/// Records deliveries: the port the endpoint and the queue drain share.
#[async_trait]
pub trait DeliveryRecorder: Send + Sync {
    async fn record(&self, delivery: &RawDelivery) -> Result<Recorded, DeliveryError>;
}

/// The durable intake of Xpollens deliveries.
pub struct Recorder {
    pub store: Arc<dyn EventStore>,
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
    async fn record(&self, d: &RawDelivery) -> Result<Recorded, DeliveryError> {
        let callback = match parse_callback(&d.body, d.type_hint) {
            Ok(c) => c,
            Err(e) => {
                let code = match e {
                    CallbackError::NotJson(_) | CallbackError::NotAnObject => "malformed_json",
                    _ => "invalid_callback",
                };
                return Err(self.unusable(d, 400, code, e.to_string()).await);
            }
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
            in_use: callback
                .callback_type
                .is_some_and(|t| TYPES_IN_USE.contains(&t)),
            callback_type: callback.callback_type,
            event_id,
            outcome,
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

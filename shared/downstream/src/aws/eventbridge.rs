//! EventBridge adapter of [`EventPublisher`]: one `PutEvents` per call (at most 10 entries),
//! per-entry results (a throttled entry fails alone).

use crate::{
    EventPublisher, KycDecisionChanged, KycStateChanged, PublishError, DETAIL_TYPE, EVENT_SOURCE,
    PUBLISH_CHUNK,
};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use aws_smithy_types::error::display::DisplayErrorContext;

/// The EventBridge adapter of [`EventPublisher`]: publishes on one bus.
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

impl EventBridgePublisher {
    /// A publisher on `bus`, with a client of the given AWS configuration.
    pub fn new(config: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        Self {
            client: Client::new(config),
            bus: bus.into(),
        }
    }
}

impl EventBridgePublisher {
    /// Publishes one event of `detail_type` (e.g. `KYC customer erased`, sent by `kyc erase`).
    pub async fn put_one(
        &self,
        detail_type: &'static str,
        detail: String,
        at_millis: i64,
    ) -> Result<(), PublishError> {
        self.put(vec![(detail_type, detail, at_millis)])
            .await
            .pop()
            .unwrap_or_else(|| Err(PublishError("no result for the entry".into())))
    }

    /// One `PutEvents` of `(detail-type, detail, time)` entries; one result per entry.
    async fn put(
        &self,
        entries: Vec<(&'static str, String, i64)>,
    ) -> Vec<Result<(), PublishError>> {
        assert!(
            entries.len() <= PUBLISH_CHUNK,
            "PutEvents takes at most 10 entries"
        );
        if entries.is_empty() {
            return Vec::new();
        }
        let count = entries.len();
        let entries = entries
            .into_iter()
            .map(|(detail_type, detail, millis)| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(EVENT_SOURCE)
                    .detail_type(detail_type)
                    .detail(detail)
                    .time(aws_smithy_types::DateTime::from_millis(millis))
                    .build()
            })
            .collect();
        match self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Err(e) => {
                let why = PublishError(format!("{}", DisplayErrorContext(&e)));
                (0..count).map(|_| Err(why.clone())).collect()
            }
            Ok(out) => {
                let results = out.entries();
                (0..count)
                    .map(|i| match results.get(i) {
                        Some(r) if r.error_code().is_none() && r.event_id().is_some() => Ok(()),
                        Some(r) => Err(PublishError(
                            r.error_code().unwrap_or("no event id").to_string(),
                        )),
                        None => Err(PublishError("no result for the entry".into())),
                    })
                    .collect()
            }
        }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[KycStateChanged]) -> Vec<Result<(), PublishError>> {
        self.put(
            events
                .iter()
                .map(|e| {
                    (
                        DETAIL_TYPE,
                        serde_json::to_string(e).expect("event serialises"),
                        e.recorded_at.timestamp_millis(),
                    )
                })
                .collect(),
        )
        .await
    }

    async fn publish_decisions(
        &self,
        events: &[KycDecisionChanged],
    ) -> Vec<Result<(), PublishError>> {
        self.put(
            events
                .iter()
                .map(|e| {
                    (
                        kyc_decision::event::DETAIL_TYPE,
                        serde_json::to_string(e).expect("event serialises"),
                        e.computed_at.timestamp_millis(),
                    )
                })
                .collect(),
        )
        .await
    }
}

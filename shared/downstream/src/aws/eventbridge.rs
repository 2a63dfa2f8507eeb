//! EventBridge adapter of [`EventPublisher`]: one `PutEvents` per call (at most 10 entries),
//! per-entry results (a throttled entry fails alone).

use crate::{
    EventPublisher, KycStateChanged, PublishError, DETAIL_TYPE, EVENT_SOURCE, PUBLISH_CHUNK,
};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use aws_smithy_types::error::display::DisplayErrorContext;

pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

impl EventBridgePublisher {
    pub fn new(config: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        Self {
            client: Client::new(config),
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[KycStateChanged]) -> Vec<Result<(), PublishError>> {
        assert!(
            events.len() <= PUBLISH_CHUNK,
            "PutEvents takes at most 10 entries"
        );
        if events.is_empty() {
            return Vec::new();
        }
        let entries = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(EVENT_SOURCE)
                    .detail_type(DETAIL_TYPE)
                    .detail(serde_json::to_string(e).expect("event serialises"))
                    .time(aws_smithy_types::DateTime::from_millis(
                        e.recorded_at.timestamp_millis(),
                    ))
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
                events.iter().map(|_| Err(why.clone())).collect()
            }
            Ok(out) => {
                let results = out.entries();
                events
                    .iter()
                    .enumerate()
                    .map(|(i, _)| match results.get(i) {
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

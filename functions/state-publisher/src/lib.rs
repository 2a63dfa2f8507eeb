//! Wiring of the state-publisher Lambda: the table's DynamoDB stream in, EventBridge out
//! (`kyc_downstream` holds the rules). The answer is Lambda's partial batch response.

use kyc_core::config::{Env, SettingsError};
use kyc_core::invocation::InvocationError;
use kyc_downstream::aws::eventbridge::EventBridgePublisher;
use kyc_downstream::StatePublisher;
use serde_json::Value;
use std::sync::Arc;

/// Settings read once per cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Name or ARN of the bus state-change events go to.
    pub event_bus: String,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        Ok(Self {
            event_bus: env.required("EVENT_BUS_NAME")?,
        })
    }
}

pub fn build(settings: &Settings, config: &kyc_aws::aws_config::SdkConfig) -> StatePublisher {
    StatePublisher {
        publisher: Arc::new(EventBridgePublisher::new(config, &settings.event_bus)),
    }
}

/// A malformed event (no `Records`, a record without sequence number) fails the invocation,
/// reported permanent: Lambda retries the whole batch, then sends it to the on-failure
/// destination. Records that failed to publish are reported in the answer, not as an error.
pub async fn handle(publisher: &StatePublisher, event: Value) -> Result<Value, InvocationError> {
    let report = publisher.handle(&event).await?;
    tracing_summary(&report);
    Ok(report.response())
}

fn tracing_summary(report: &kyc_downstream::BatchReport) {
    // Counts and sequence numbers only: no customer id, no status.
    tracing::info!(
        published = report.published,
        failed = ?report.failed,
        held_back = report.held_back,
        "state batch"
    );
}

//! Wiring of the state-publisher Lambda: the table's DynamoDB stream in, EventBridge out
//! (`kyc_downstream` holds the rules). The answer is Lambda's partial batch response. The same
//! consumer recomputes the KYC decision and publishes its changes (`kyc_downstream::decision`).

use kyc_core::config::{Env, SettingsError};
use kyc_core::invocation::InvocationError;
use kyc_decision::aws::DynamoDecisionStore;
use kyc_decision::policy::Policy;
use kyc_downstream::aws::eventbridge::EventBridgePublisher;
use kyc_downstream::decision::Recompute;
use kyc_downstream::StatePublisher;
use serde_json::Value;
use std::sync::Arc;

/// The schedule's `detail-type` of the expiry sweep.
pub const SWEEP: &str = "decision-expiry-sweep";

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

/// The decision's settings, read once per cold start: a bad policy stops the function.
#[derive(Debug, Clone)]
pub struct DecisionSettings {
    pub table: String,
    pub policy: Policy,
}

impl DecisionSettings {
    /// `TABLE_NAME`; `DECISION_POLICY_FILE` (optional): a policy file deployed with the
    /// function instead of the repository's (`policy/kyc-decision.v1.json`, embedded).
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        const VAR: &str = "DECISION_POLICY_FILE";
        let policy = match env.optional(VAR).filter(|p| !p.is_empty()) {
            None => Policy::default_policy(),
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|_| SettingsError::invalid(VAR, "a readable policy file"))?;
                env.checked(VAR, &text, Policy::parse)?
            }
        };
        Ok(Self {
            table: env.required("TABLE_NAME")?,
            policy,
        })
    }
}

pub fn build(settings: &Settings, config: &kyc_aws::aws_config::SdkConfig) -> StatePublisher {
    StatePublisher {
        publisher: Arc::new(EventBridgePublisher::new(config, &settings.event_bus)),
        decisions: None,
    }
}

/// The publisher that also recomputes decisions (what the function runs).
pub fn build_with_decisions(
    settings: &Settings,
    decisions: &DecisionSettings,
    config: &kyc_aws::aws_config::SdkConfig,
) -> StatePublisher {
    let store = DynamoDecisionStore::new(
        kyc_aws::aws_sdk_dynamodb::Client::new(config),
        &decisions.table,
    );
    StatePublisher {
        decisions: Some(Arc::new(Recompute {
            store: Arc::new(store),
            policy: decisions.policy.clone(),
            now: chrono::Utc::now,
        })),
        ..build(settings, config)
    }
}

/// A malformed event (no `Records`, a record without sequence number) fails the invocation,
/// reported permanent: Lambda retries the whole batch, then sends it to the on-failure
/// destination. Records that failed to publish are reported in the answer, not as an error.
///
/// The schedule's input (`events/decision-expiry-sweep-scheduled.json`) runs the decision
/// expiry sweep.
pub async fn handle(publisher: &StatePublisher, event: Value) -> Result<Value, InvocationError> {
    if event.get("source").and_then(Value::as_str) == Some("kyc-hooks.scheduler")
        && event.get("detail-type").and_then(Value::as_str) == Some(SWEEP)
    {
        let Some(decisions) = &publisher.decisions else {
            return Err(InvocationError::Permanent(
                "expiry sweep without the decision's settings".into(),
            ));
        };
        let changed = decisions
            .sweep()
            .await
            .map_err(|e| InvocationError::Retryable(e.to_string()))?;
        return Ok(serde_json::json!({ "expired": changed }));
    }
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

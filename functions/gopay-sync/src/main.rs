use std::sync::Arc;

use gopay_sync::{Settings, Wiring};
use kyc_core::config::{run_deadline, Env};
use kyc_core::invocation::InvocationError;
use kyc_core::metrics::{Metrics, StdoutEmf};
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // Settings first: a bad value fails the cold start before any network call.
    let settings = Settings::from_env(&Env::Process)?;
    let config = kyc_aws::load_config().await;
    let wiring = Wiring::init(settings, &config, Arc::new(kyc_core::chrono::Utc::now)).await?;
    let sink = StdoutEmf {
        service: "gopay-sync",
    };
    run(service_fn(|event: LambdaEvent<Value>| {
        let (wiring, sink) = (&wiring, &sink);
        async move {
            // The scheduler's payload carries nothing we need: every run does the same work.
            let deps = wiring
                .next_deps(Arc::new(kyc_core::chrono::Utc::now))
                .await
                .map_err(|e| diagnostic(InvocationError::Permanent(e.to_string())))?;
            let settings = wiring.settings.sync_settings(&event.context.request_id);
            let deadline = run_deadline(
                event.context.deadline,
                kyc_core::chrono::Utc::now(),
                std::time::Duration::from_secs(60),
            );
            let outcome = kyc_gopay::sync::run(deps, settings, deadline).await;
            let mut counted = wiring.events.take();
            let report = outcome.map_err(|e| {
                sink.publish(&counted);
                diagnostic(e.into())
            })?;
            let summary = serde_json::to_string(&report).unwrap_or_default();
            tracing::info!(report = %summary, "gopay sync run done");
            // CloudWatch embedded metric format: alarms on the breaker, lost consents, rescues.
            println!(
                "{}",
                kyc_gopay::sync::emf_line(&report, kyc_core::chrono::Utc::now().timestamp_millis())
            );
            counted.merge(&kyc_gopay::sync::metrics(&report));
            sink.publish(&counted);
            serde_json::to_value(report)
                .map_err(|e| diagnostic(InvocationError::Permanent(e.to_string())))
        }
    }))
    .await
}

/// Retryable or permanent, in the error type the runtime reports.
fn diagnostic(e: InvocationError) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type().into(),
        error_message: e.to_string(),
    }
}

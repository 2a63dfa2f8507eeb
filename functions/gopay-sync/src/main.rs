use std::sync::Arc;

use gopay_sync::{Settings, Wiring};
use kyc_shared::config::run_deadline;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = kyc_shared::aws::load_config().await;
    let wiring = Wiring::new(Settings::from_env()?, &config)?;
    run(service_fn(|event: LambdaEvent<Value>| {
        let wiring = &wiring;
        async move {
            // The scheduler's payload carries nothing we need: every run does the same work.
            let deps = wiring.deps(Arc::new(kyc_shared::chrono::Utc::now))?;
            let settings = wiring.settings.sync_settings(&event.context.request_id);
            let deadline = run_deadline(
                event.context.deadline,
                kyc_shared::chrono::Utc::now(),
                std::time::Duration::from_secs(60),
            );
            let report = kyc_shared::gopay::sync::run(deps, settings, deadline).await?;
            tracing::info!(report = %serde_json::to_string(&report)?, "gopay sync run done");
            // CloudWatch embedded metric format: alarms on the breaker, lost consents, rescues.
            println!(
                "{}",
                kyc_shared::gopay::sync::emf_line(
                    &report,
                    kyc_shared::chrono::Utc::now().timestamp_millis()
                )
            );
            Ok::<Value, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}

use kyc_core::config::Env;
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;
use state_publisher::{build_with_decisions, handle, DecisionSettings, Settings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env(&Env::Process)?;
    let decisions = DecisionSettings::from_env(&Env::Process)?;
    let config = kyc_aws::load_config().await;
    let publisher = build_with_decisions(&settings, &decisions, &config);
    run(service_fn(|event: LambdaEvent<Value>| {
        let publisher = &publisher;
        async move {
            // Retryable or permanent, in the error type the runtime reports.
            handle(publisher, event.payload)
                .await
                .map_err(|e| Diagnostic {
                    error_type: e.error_type().into(),
                    error_message: e.to_string(),
                })
        }
    }))
    .await
}

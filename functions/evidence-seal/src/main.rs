use evidence_seal::{build, handle, Settings};
use kyc_core::config::Env;
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env(&Env::Process)?;
    let config = kyc_aws::load_config().await;
    let (history, digests) = build(&settings, &config);
    run(service_fn(|event: LambdaEvent<Value>| {
        let (history, digests, settings) = (&history, &digests, &settings);
        async move {
            handle(
                history,
                digests,
                settings,
                event.payload,
                chrono::Utc::now(),
            )
            .await
            .map_err(|e| Diagnostic {
                error_type: e.error_type().into(),
                error_message: e.to_string(),
            })
        }
    }))
    .await
}

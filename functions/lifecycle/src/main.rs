use kyc_core::config::Env;
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use lifecycle::{build, handle, Settings};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env(&Env::Process)?;
    let config = kyc_aws::load_config().await;
    let store = build(&settings, &config);
    run(service_fn(|event: LambdaEvent<Value>| {
        let (store, settings) = (&store, &settings);
        async move {
            handle(store, settings, event.payload, chrono::Utc::now())
                .await
                .map_err(|e| Diagnostic {
                    error_type: e.error_type().into(),
                    error_message: e.to_string(),
                })
        }
    }))
    .await
}

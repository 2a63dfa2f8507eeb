use kyc_core::config::Env;
use kyc_core::invocation::InvocationError;
use kyc_core::metrics::{Metrics, StdoutEmf};
use kyc_trust_sign::aws::init_processor;
use kyc_trust_sign::processor::{metrics, Settings};
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use trust_sign_archive::{notifications, S3Event};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // Settings first: a bad value fails the cold start before any network call.
    let settings = Settings::from_env(&Env::Process)?;
    let config = kyc_aws::load_config().await;
    // The only secret a record needs, fetched during init (not fatal: a record fetches again).
    let processor = init_processor(settings, &config).await;
    let sink = StdoutEmf {
        service: "trust-sign-archive",
    };
    run(service_fn(|event: LambdaEvent<S3Event>| {
        let (processor, sink) = (&processor, &sink);
        async move {
            let records = notifications(&event.payload);
            let results = processor
                .handle(&records)
                .await
                .map_err(|e| diagnostic(e.into()))?;
            sink.publish(&metrics(&results));
            serde_json::to_value(results)
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

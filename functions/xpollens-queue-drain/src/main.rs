use kyc_core::config::Env;
use kyc_core::invocation::InvocationError;
use kyc_core::metrics::StdoutEmf;
use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;
use xpollens_queue_drain::{Settings, Wiring, SERVICE};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env(&Env::Process)?;
    let config = kyc_aws::load_config().await;
    let wiring = Wiring::new_prefetched(settings, &config).await?;
    let metrics = StdoutEmf { service: SERVICE };
    run(service_fn(|event: LambdaEvent<Value>| {
        let (wiring, metrics) = (&wiring, &metrics);
        // The scheduler's payload carries nothing we need: every run drains the same queue.
        async move {
            wiring
                .invoke_with_metrics(event.context.deadline, metrics)
                .await
                .map_err(|e| diagnostic(e.into()))
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

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use xpollens_queue_drain::{Settings, Wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = kyc_shared::aws::load_config().await;
    let wiring = Wiring::new(Settings::from_env()?, &config)?;
    run(service_fn(|event: LambdaEvent<Value>| {
        let wiring = &wiring;
        // The scheduler's payload carries nothing we need: every run drains the same queue.
        async move {
            let report = wiring.invoke(event.context.deadline).await?;
            Ok::<_, Error>(report)
        }
    }))
    .await
}

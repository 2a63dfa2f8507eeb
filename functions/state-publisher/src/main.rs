use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use state_publisher::{build, handle, Settings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = kyc_shared::aws::load_config().await;
    let publisher = build(&Settings::from_env()?, &config);
    run(service_fn(|event: LambdaEvent<Value>| {
        let publisher = &publisher;
        async move { handle(publisher, event.payload).await.map_err(Error::from) }
    }))
    .await
}

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use trust_sign_archive::{build_processor, S3Event, Settings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = kyc_shared::aws::load_config().await;
    let processor = build_processor(Settings::from_env()?, &config);
    run(service_fn(|event: LambdaEvent<S3Event>| {
        let processor = &processor;
        async move {
            Ok::<_, Error>(serde_json::to_value(
                processor.handle(&event.payload).await?,
            )?)
        }
    }))
    .await
}

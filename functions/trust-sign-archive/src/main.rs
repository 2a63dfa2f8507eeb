use kyc_shared::aws::s3::build_processor;
use kyc_shared::trust_sign::processor::Settings;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use trust_sign_archive::{notifications, S3Event};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = kyc_shared::aws::load_config().await;
    let processor = build_processor(Settings::from_env()?, &config);
    run(service_fn(|event: LambdaEvent<S3Event>| {
        let processor = &processor;
        async move {
            let records = notifications(&event.payload);
            Ok::<_, Error>(serde_json::to_value(processor.handle(&records).await?)?)
        }
    }))
    .await
}

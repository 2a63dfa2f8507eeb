use kyc_read_api::{build, handle, Settings};
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = kyc_aws::load_config().await;
    let api = build(
        &Settings::from_env(&kyc_core::config::Env::Process)?,
        &config,
    );
    run(service_fn(|request: Request| handle(&api, request))).await
}

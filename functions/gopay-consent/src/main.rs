use gopay_consent::{handle_counted, init, Settings};
use kyc_core::config::Env;
use kyc_core::metrics::StdoutEmf;
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    // Settings first: a bad value fails the cold start before any network call.
    let settings = Settings::from_env(&Env::Process)?;
    let config = kyc_aws::load_config().await;
    let (endpoint, events) = init(&settings, &config).await?;
    let metrics = StdoutEmf {
        service: "gopay-consent",
    };
    run(service_fn(|request: Request| {
        handle_counted(&endpoint, &events, &metrics, request)
    }))
    .await
}

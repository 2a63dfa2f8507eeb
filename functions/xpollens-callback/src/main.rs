use kyc_core::config::Env;
use kyc_core::metrics::StdoutEmf;
use lambda_http::{run, service_fn, Error, Request};
use xpollens_callback::{handle_with_metrics, init, Settings};

/// mimalloc: the handler allocates many small values (the SDK's request above all); glibc's
/// malloc cost a fifth more CPU per callback (measured by the callback_cpu bench). Built
/// without transparent huge pages (`no_thp`, workspace Cargo.toml): their first-touch faults
/// cost the cold start milliseconds.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    // Settings first: a bad value fails the cold start before any network call.
    let settings = Settings::from_env(&Env::Process)?;
    let config = kyc_aws::load_config().await;
    // The secrets' one call is sent first; the endpoint is built while it is on its way.
    let endpoint = init(&settings, &config).await?;
    let metrics = StdoutEmf {
        service: "xpollens-callback",
    };
    run(service_fn(|request: Request| {
        handle_with_metrics(&endpoint, &metrics, request)
    }))
    .await
}

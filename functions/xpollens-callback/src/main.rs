use kyc_core::config::Env;
use kyc_core::metrics::StdoutEmf;
use lambda_http::{run, service_fn, Error, Request};
use xpollens_callback::{build_endpoint, handle_with_metrics, prefetch_secrets, Settings};

/// mimalloc: the handler allocates many small values (the SDK's request above all); glibc's
/// malloc cost a fifth more CPU per callback (measured by the callback_cpu bench).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    // Settings first: a bad value fails the cold start before any network call.
    let settings = Settings::from_env(&Env::Process)?;
    let config = kyc_aws::load_config().await;
    let endpoint = build_endpoint(&settings, &config)?;
    prefetch_secrets(&endpoint).await;
    let metrics = StdoutEmf {
        service: "xpollens-callback",
    };
    run(service_fn(|request: Request| {
        handle_with_metrics(&endpoint, &metrics, request)
    }))
    .await
}

//! HTTP at the edges, free of AWS types:
//! - [`HttpRequest`]/[`HttpResponse`]: what every endpoint of ours takes and answers;
//!   [`lambda`] converts them from and to API Gateway's (feature `lambda`).
//! - Outgoing-HTTP adapters (reqwest, rustls) of the shared transport traits that are not AWS
//!   services, so they build without the AWS SDK (the simulators' contract tests and the CLI
//!   use them too). GoPay's older adapter still lives in `aws::gopay_http`.

#[cfg(feature = "lambda")]
pub mod lambda;
mod message;
#[cfg(feature = "xpollens-http")]
pub mod xpollens;

pub use message::{HttpAnswer, HttpRequest, HttpResponse, TransportError};

/// The outgoing HTTP client could not be built (TLS setup): fails the cold start, a retry
/// cannot help until the deployment is fixed. reqwest's text names no URL here.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientBuildError(pub String);

#[cfg(any(feature = "xpollens-http", feature = "gopay-http"))]
use std::time::Duration;

#[cfg(any(feature = "xpollens-http", feature = "gopay-http"))]
/// The client every provider adapter uses: one overall timeout, a short connect timeout, and
/// no redirects (a provider API that redirects is misconfigured, and a redirect could carry a
/// token elsewhere).
pub fn client(timeout: Duration) -> Result<reqwest::Client, ClientBuildError> {
    // reqwest is built without its own (ring) provider: it uses the process default, which is
    // the aws-lc-rs provider the AWS SDK already links. Err only means one is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3).min(timeout))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ClientBuildError(e.without_url().to_string()))
}

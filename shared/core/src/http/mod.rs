//! HTTP at the edges, free of AWS types:
//! - [`HttpRequest`]/[`HttpResponse`]: what every endpoint of ours takes and answers;
//!   [`lambda`] converts them from and to API Gateway's (feature `lambda`).
//! - [`client`] (feature `http-client`): the one outgoing HTTP client (reqwest, rustls) of the
//!   providers' HTTP adapters (`kyc_xpollens::http`, `kyc_gopay::aws::http`), which build
//!   without the AWS SDK (the simulators' contract tests and the CLI use them too).

#[cfg(feature = "lambda")]
pub mod lambda;
mod message;

pub use message::{percent_decode_segment, HttpAnswer, HttpRequest, HttpResponse, TransportError};

/// The outgoing HTTP client could not be built (TLS setup): fails the cold start, a retry
/// cannot help until the deployment is fixed. reqwest's text names no URL here.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientBuildError(pub String);

#[cfg(feature = "http-client")]
use std::time::Duration;

#[cfg(feature = "http-client")]
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

//! Outgoing-HTTP adapters (reqwest, rustls) of the shared transport traits that are not AWS
//! services. Kept out of `aws` so they build without the AWS SDK (the simulators' contract
//! tests and the CLI use them too). GoPay's older adapter still lives in `aws::gopay_http`.

#[cfg(feature = "xpollens-http")]
pub mod xpollens;

use std::time::Duration;

/// The client every provider adapter uses: one overall timeout, a short connect timeout, and
/// no redirects (a provider API that redirects is misconfigured, and a redirect could carry a
/// token elsewhere).
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3).min(timeout))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())
}

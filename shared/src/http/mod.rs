//! Outgoing-HTTP adapters (reqwest, rustls) of the shared transport traits that are not AWS
//! services. Kept out of `aws` so they build without the AWS SDK (the simulators' contract
//! tests and the CLI use them too). GoPay's older adapter still lives in `aws::gopay_http`.

pub mod xpollens;

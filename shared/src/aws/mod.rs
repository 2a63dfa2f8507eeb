//! AWS adapters of the shared traits: DynamoDB for [`crate::intake::EventStore`], Secrets
//! Manager for [`crate::secrets::SecretSource`]. Endpoint, region and credentials come from
//! the standard AWS environment (`AWS_ENDPOINT_URL` points them at a local server).

pub mod attribute;
pub mod body_store;
pub mod dynamo_store;
#[cfg(feature = "eventbridge")]
pub mod eventbridge;
#[cfg(feature = "gopay-http")]
pub mod gopay_http;
#[cfg(feature = "gopay")]
pub mod gopay_store;
pub mod history_pages;
#[cfg(all(feature = "trust_sign", feature = "gopay"))]
pub mod reseal_store;
#[cfg(feature = "trust_sign")]
pub mod s3;
pub mod secrets_manager;

pub use body_store::S3BodyStore;
pub use dynamo_store::DynamoStore;
pub use secrets_manager::SecretsManagerSource;

/// An S3 client; path-style addressing when an endpoint override (a local emulator) is set.
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(config);
    if config.endpoint_url().is_some() {
        b = b.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// The SDK configuration from the environment, built once per cold start.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

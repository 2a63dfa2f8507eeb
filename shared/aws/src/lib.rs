//! AWS adapters of the shared traits: DynamoDB for [`kyc_core::intake::EventStore`], Secrets
//! Manager for [`kyc_core::secrets::SecretSource`]. Endpoint, region and credentials come from
//! the standard AWS environment (`AWS_ENDPOINT_URL` points them at a local server).
//!
//! Where things are: `dynamo_store` (the event store, states and history), `body_store` (large
//! sealed bodies in S3), `secrets_manager`, `attribute` (DynamoDB values from and to JSON).
//! A provider's own adapters live in its crate, behind its `aws` feature.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

pub mod attribute;
pub mod bank_history;
pub mod body_store;
pub mod dynamo_store;
pub mod secrets_manager;

pub use body_store::S3BodyStore;
pub use dynamo_store::DynamoStore;
pub use secrets_manager::SecretsManagerSource;

// Re-exported so function crates and tests share the exact versions.
pub use {aws_config, aws_sdk_dynamodb, aws_sdk_s3, aws_sdk_secretsmanager};

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

//! AWS adapters of the shared traits: DynamoDB for [`crate::intake::EventStore`], Secrets
//! Manager for [`crate::secrets::SecretSource`]. Endpoint, region and credentials come from
//! the standard AWS environment (`AWS_ENDPOINT_URL` points them at a local server).

pub mod attribute;
pub mod dynamo_store;
#[cfg(feature = "gopay-http")]
pub mod gopay_http;
#[cfg(feature = "gopay")]
pub mod gopay_store;
#[cfg(feature = "trust_sign")]
pub mod s3;
pub mod secrets_manager;

pub use dynamo_store::DynamoStore;
pub use secrets_manager::SecretsManagerSource;

/// The SDK configuration from the environment, built once per cold start.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

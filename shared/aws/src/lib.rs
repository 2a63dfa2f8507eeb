//! AWS adapters of the shared traits: DynamoDB for [`kyc_core::intake::EventStore`], Secrets
//! Manager for [`kyc_core::secrets::SecretSource`]. Endpoint, region and credentials come from
//! the standard AWS environment (`AWS_ENDPOINT_URL` points them at a local server).
//!
//! Where things are: `dynamo_store` (the event store, states and history), `body_store` (large
//! sealed bodies in S3), `secrets_manager`, `attribute` (DynamoDB values from and to JSON).
//! A provider's own adapters live in its crate, behind its `aws` feature.

#![warn(missing_docs)]

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

pub mod attribute;
pub mod bank_history;
pub mod body_store;
pub mod dynamo_store;
pub mod secrets_manager;
pub mod sharded_index;

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

/// The SDK configuration from the environment, built once per cold start, with ONE HTTP
/// client for every SDK client made from it (and the credential providers): without it each
/// service client gets its own default client, whose first request builds its own connector
/// (the root certificates parsed into a trust store again, a TLS configuration, a connection
/// pool) — in the cold start's Secrets Manager call, then again in the first invocation's
/// DynamoDB call. The client is the SDK's default one, built the same way.
pub async fn load_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    // What `aws-smithy-runtime` builds as its default HTTPS client (hyper 1, rustls with
    // aws-lc, proxies from the environment), built once here.
    let https = Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https)
        .load()
        .await
}

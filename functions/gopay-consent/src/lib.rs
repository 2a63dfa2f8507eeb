//! Wiring of the GoPay consent Lambda: configuration from the environment, AWS and HTTP
//! adapters, and the conversion between API Gateway requests and the shared endpoint's types
//! (`kyc_shared::gopay::consent_endpoint` holds the rules).

use std::sync::Arc;
use std::time::Duration;

use kyc_shared::aws::gopay_http::ReqwestTransport;
use kyc_shared::aws::gopay_store::{with_timeouts, DynamoGoPayStore, S3Objects};
use kyc_shared::aws::{DynamoStore, SecretsManagerSource};
use kyc_shared::crypto::Keyring;
use kyc_shared::gopay::client::credentials_from_json;
use kyc_shared::gopay::consent::GoPayHosts;
use kyc_shared::gopay::consent_endpoint::ConsentEndpoint;
use kyc_shared::http::lambda;
use kyc_shared::secrets::Cached;
use lambda_http::{Body, Request, Response};

/// Settings read once per cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    pub payload_key_secret: String,
    /// Secrets Manager secret `{"clientId","clientSecret"}`.
    pub client_secret: String,
    pub auth_base_url: String,
    pub client_base_url: String,
    pub redirect_uri: String,
    pub success_url: String,
    pub failure_url: String,
    /// Bucket of the token rescue place (first tokens the table could not take).
    pub bucket: String,
    pub due_shards: u32,
    pub secret_ttl: Duration,
    pub http_timeout: Duration,
}

use kyc_shared::config::{or_default as number, required as var};

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        Ok(Self {
            table: var("TABLE_NAME")?,
            payload_key_secret: var("PAYLOAD_KEY_SECRET")?,
            client_secret: var("GOPAY_CLIENT_SECRET")?,
            auth_base_url: var("GOPAY_AUTH_BASE_URL")?,
            client_base_url: var("GOPAY_CLIENT_BASE_URL")?,
            redirect_uri: var("GOPAY_REDIRECT_URI")?,
            success_url: var("GOPAY_SUCCESS_URL")?,
            failure_url: var("GOPAY_FAILURE_URL")?,
            bucket: var("GOPAY_BUCKET")?,
            due_shards: number("GOPAY_DUE_SHARDS", 4),
            secret_ttl: Duration::from_secs(number("SECRET_CACHE_TTL_SECONDS", 300)),
            http_timeout: Duration::from_secs(number("GOPAY_HTTP_TIMEOUT_SECONDS", 8)),
        })
    }
}

pub fn build_endpoint(
    settings: &Settings,
    config: &kyc_shared::aws_config::SdkConfig,
) -> Result<ConsentEndpoint, String> {
    // Explicit SDK timeouts: the customer waits on this function (API Gateway gives up at 30 s).
    let config = &with_timeouts(config, Duration::from_secs(5), Duration::from_secs(2));
    let secrets = Arc::new(SecretsManagerSource::new(config));
    let ddb = kyc_shared::aws_sdk_dynamodb::Client::new(config);
    Ok(ConsentEndpoint {
        store: Arc::new(DynamoGoPayStore::new(
            ddb.clone(),
            &settings.table,
            settings.due_shards,
        )),
        rescue: Arc::new(S3Objects::new(S3Objects::client(config), &settings.bucket)),
        events: Arc::new(DynamoStore::from_client(ddb, &settings.table)),
        transport: Arc::new(ReqwestTransport::new(settings.http_timeout)?),
        hosts: GoPayHosts::new(&settings.auth_base_url, &settings.client_base_url)
            .map_err(|e| e.to_string())?,
        credentials: Cached::new(
            secrets.clone(),
            &settings.client_secret,
            settings.secret_ttl,
            |staged| credentials_from_json(staged.current.expose()),
        ),
        keys: Cached::new(
            secrets,
            &settings.payload_key_secret,
            settings.secret_ttl,
            Keyring::from_staged,
        ),
        redirect_uri: settings.redirect_uri.clone(),
        success_url: settings.success_url.clone(),
        failure_url: settings.failure_url.clone(),
        clock: Arc::new(kyc_shared::chrono::Utc::now),
    })
}

/// API Gateway request → endpoint → API Gateway response.
pub async fn handle(
    endpoint: &ConsentEndpoint,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let answer = endpoint.handle(&lambda::request(&request)).await;
    Ok(lambda::response(answer)?)
}

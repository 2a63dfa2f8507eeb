//! Wiring of the Xpollens callback Lambda: configuration from the environment, AWS adapters,
//! and the conversion between API Gateway requests and the shared endpoint's plain types.

use kyc_shared::auth::CredentialSet;
use kyc_shared::aws::{s3_client, DynamoStore, S3BodyStore, SecretsManagerSource};
use kyc_shared::callback_auth::CallbackAuthMode;
use kyc_shared::crypto::Keyring;
use kyc_shared::http::lambda;
use kyc_shared::ip_allow::IpAllowList;
use kyc_shared::secrets::Cached;
use kyc_shared::xpollens::delivery::Recorder;
use kyc_shared::xpollens::endpoint::{CallbackAuth, Endpoint, HttpRequest};
use lambda_http::{Body, Request, Response};
use std::sync::Arc;
use std::time::Duration;

/// Settings read once per cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    pub credentials_secret: String,
    pub payload_key_secret: String,
    /// Bucket for sealed bodies too large for a DynamoDB item (prefix `xpollens/`).
    pub body_bucket: String,
    pub allowed_cidrs: String,
    pub secret_ttl: Duration,
    /// How long Xpollens' previous credential (AWSPREVIOUS) is accepted after a rotation.
    pub previous_credential_grace: Duration,
    /// Basic (checked here against the credential secret), OAuth2 or mTLS (checked by API
    /// Gateway, attestation required here).
    pub callback_auth: CallbackAuthMode,
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        use kyc_shared::config::{or_default, required};
        Ok(Self {
            table: required("TABLE_NAME")?,
            credentials_secret: required("XPOLLENS_CREDENTIALS_SECRET")?,
            payload_key_secret: required("PAYLOAD_KEY_SECRET")?,
            body_bucket: required("XPOLLENS_BODY_BUCKET")?,
            allowed_cidrs: or_default("XPOLLENS_ALLOWED_CIDRS", String::new()),
            secret_ttl: Duration::from_secs(or_default("SECRET_CACHE_TTL_SECONDS", 300)),
            previous_credential_grace: Duration::from_secs(
                3600 * or_default(
                    "XPOLLENS_PREVIOUS_CREDENTIAL_GRACE_HOURS",
                    kyc_shared::auth::DEFAULT_PREVIOUS_GRACE_HOURS as u64,
                ),
            ),
            callback_auth: CallbackAuthMode::from_env().map_err(|e| e.to_string())?,
        })
    }
}

pub fn build_endpoint(
    settings: &Settings,
    config: &kyc_shared::aws_config::SdkConfig,
) -> Result<Endpoint, String> {
    let secrets = Arc::new(SecretsManagerSource::new(config));
    Ok(Endpoint {
        recorder: Recorder {
            store: Arc::new(
                DynamoStore::new(config, &settings.table).with_body_store(Arc::new(
                    S3BodyStore::new(s3_client(config), &settings.body_bucket, "xpollens/"),
                )),
            ),
            keys: Cached::new(
                secrets.clone(),
                &settings.payload_key_secret,
                settings.secret_ttl,
                Keyring::from_staged,
            ),
        },
        auth: match &settings.callback_auth {
            CallbackAuthMode::Basic => {
                let grace =
                    kyc_shared::chrono::Duration::from_std(settings.previous_credential_grace)
                        .map_err(|e| format!("XPOLLENS_PREVIOUS_CREDENTIAL_GRACE_HOURS: {e}"))?;
                CallbackAuth::Credentials(Cached::new(
                    secrets,
                    &settings.credentials_secret,
                    settings.secret_ttl,
                    move |staged| CredentialSet::from_staged_with_grace(staged, grace),
                ))
            }
            CallbackAuthMode::Gateway(required) => CallbackAuth::Gateway(required.clone()),
        },
        allow_list: IpAllowList::parse(&settings.allowed_cidrs).map_err(|e| e.to_string())?,
        clock: Arc::new(chrono_now),
    })
}

fn chrono_now() -> kyc_shared::chrono::DateTime<kyc_shared::chrono::Utc> {
    kyc_shared::chrono::Utc::now()
}

/// API Gateway request → endpoint → API Gateway response.
pub async fn handle(
    endpoint: &Endpoint,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let answer = endpoint.handle(&lambda::request(&request)).await;
    Ok(lambda::response(answer)?)
}

/// The endpoint's plain view of an API Gateway request, with what the gateway attests
/// (the one conversion, `shared::http::lambda`).
pub fn http_request(request: &Request) -> HttpRequest {
    lambda::request(request)
}

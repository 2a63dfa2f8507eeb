//! Wiring of the Xpollens callback Lambda: configuration from the environment, AWS adapters,
//! and the conversion between API Gateway requests and the shared endpoint's plain types.

use kyc_aws::{s3_client, DynamoStore, S3BodyStore, SecretsManagerSource};
use kyc_core::auth::CredentialSet;
use kyc_core::callback_auth::{CallbackAuthConfigError, CallbackAuthMode};
use kyc_core::config::{secret_ttl, Env, SettingsError};
use kyc_core::crypto::Keyring;
use kyc_core::http::lambda;
use kyc_core::ip_allow::IpAllowList;
use kyc_core::legacy_keys::LegacyKeyLayout;
use kyc_core::metrics::{Metrics, NoMetrics};
use kyc_core::secrets::{prefetch, Cached, EarlyRead, Prefetch, SecretSource};
use kyc_xpollens::delivery::Recorder;
use kyc_xpollens::endpoint::{CallbackAuth, Endpoint, HttpRequest};
use lambda_http::{Body, Request, Response};
use std::sync::Arc;
use std::time::Duration;

/// Settings read once per cold start (every variable: README, "Settings").
#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    /// Whether the table still holds items of the key layout before provider-scoped keys.
    pub legacy_keys: LegacyKeyLayout,
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
    /// Every variable of the function, read and checked once per cold start.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let allowed_cidrs = env.optional("XPOLLENS_ALLOWED_CIDRS").unwrap_or_default();
        env.checked("XPOLLENS_ALLOWED_CIDRS", &allowed_cidrs, |v| {
            IpAllowList::parse(v).map_err(|_| "comma- or space-separated CIDRs or addresses")
        })?;
        Ok(Self {
            table: env.required("TABLE_NAME")?,
            legacy_keys: LegacyKeyLayout::from_env(env)?,
            credentials_secret: env.required("XPOLLENS_CREDENTIALS_SECRET")?,
            payload_key_secret: env.required("PAYLOAD_KEY_SECRET")?,
            body_bucket: env.required("XPOLLENS_BODY_BUCKET")?,
            allowed_cidrs,
            secret_ttl: secret_ttl(env)?,
            // At most a week: a leaked previous credential must die with one rotation.
            previous_credential_grace: Duration::from_secs(
                3600 * env.number_in(
                    "XPOLLENS_PREVIOUS_CREDENTIAL_GRACE_HOURS",
                    kyc_core::auth::DEFAULT_PREVIOUS_GRACE_HOURS as u64,
                    0..=168,
                )?,
            ),
            callback_auth: CallbackAuthMode::from_lookup(|name| env.optional(name)).map_err(
                |e| {
                    let name = match &e {
                        CallbackAuthConfigError::Missing(name, _) => name,
                        CallbackAuthConfigError::UnknownMode(_) => "XPOLLENS_CALLBACK_AUTH_MODE",
                    };
                    SettingsError::invalid(name, e)
                },
            )?,
        })
    }
}

/// The endpoint over the AWS adapters. Settings are already checked by [`Settings::from_env`];
/// one built by hand with a bad value fails here.
pub fn build_endpoint(
    settings: &Settings,
    config: &kyc_aws::aws_config::SdkConfig,
) -> Result<Endpoint, SettingsError> {
    build_endpoint_over(
        settings,
        config,
        Arc::new(SecretsManagerSource::new(config)),
    )
}

/// The cold start: the one Secrets Manager call is sent first, the endpoint is built while it
/// is on its way, then its answer fills the caches ([`prefetch_secrets`]). Same call, same
/// checks as building then prefetching; the round trip overlaps the building.
pub async fn init(
    settings: &Settings,
    config: &kyc_aws::aws_config::SdkConfig,
) -> Result<Endpoint, SettingsError> {
    let early = EarlyRead::start(
        Arc::new(SecretsManagerSource::new(config)),
        &prefetched_secrets(settings),
    );
    let endpoint = build_endpoint_over(settings, config, early)?;
    prefetch_secrets(&endpoint).await;
    Ok(endpoint)
}

/// The secrets [`prefetch_secrets`] reads, in its order.
fn prefetched_secrets(settings: &Settings) -> Vec<&str> {
    match settings.callback_auth {
        CallbackAuthMode::Basic => vec![&settings.credentials_secret, &settings.payload_key_secret],
        CallbackAuthMode::Gateway(_) => vec![&settings.payload_key_secret],
    }
}

/// The endpoint over `secrets` (Secrets Manager, possibly with its init read under way).
fn build_endpoint_over(
    settings: &Settings,
    config: &kyc_aws::aws_config::SdkConfig,
    secrets: Arc<dyn SecretSource>,
) -> Result<Endpoint, SettingsError> {
    Ok(Endpoint {
        recorder: Recorder {
            store: Arc::new(
                DynamoStore::new(config, &settings.table)
                    .with_legacy_layout(settings.legacy_keys)
                    .with_body_store(Arc::new(S3BodyStore::new(
                        s3_client(config),
                        &settings.body_bucket,
                        "xpollens/",
                    ))),
            ),
            keys: Keyring::cached(
                secrets.clone(),
                &settings.payload_key_secret,
                settings.secret_ttl,
            ),
        },
        auth: match &settings.callback_auth {
            CallbackAuthMode::Basic => {
                let grace =
                    kyc_core::chrono::Duration::from_std(settings.previous_credential_grace)
                        .map_err(|_| {
                            SettingsError::invalid(
                                "XPOLLENS_PREVIOUS_CREDENTIAL_GRACE_HOURS",
                                "hours",
                            )
                        })?;
                CallbackAuth::Credentials(Cached::new(
                    secrets,
                    &settings.credentials_secret,
                    settings.secret_ttl,
                    move |staged| CredentialSet::from_staged_with_grace(staged, grace),
                ))
            }
            CallbackAuthMode::Gateway(required) => CallbackAuth::Gateway(required.clone()),
        },
        allow_list: IpAllowList::parse(&settings.allowed_cidrs)
            .map_err(|_| SettingsError::invalid("XPOLLENS_ALLOWED_CIDRS", "CIDRs or addresses"))?,
        clock: Arc::new(chrono_now),
    })
}

/// During init: the secrets every callback needs (credentials in Basic mode, payload keyring)
/// in ONE Secrets Manager call, so the first request finds them cached. A failure is logged,
/// not fatal: the request path fetches again and answers 503 (Xpollens retries) while it still
/// fails.
pub async fn prefetch_secrets(endpoint: &Endpoint) {
    let keys: &dyn Prefetch = &endpoint.recorder.keys;
    let result = match &endpoint.auth {
        CallbackAuth::Credentials(credentials) => prefetch(&[credentials, keys]).await,
        // The gateway authenticates the caller: no credential secret to fetch.
        CallbackAuth::Gateway(_) => prefetch(&[keys]).await,
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "secrets not prefetched during init; the first request will retry");
    }
}

fn chrono_now() -> kyc_core::chrono::DateTime<kyc_core::chrono::Utc> {
    kyc_core::chrono::Utc::now()
}

/// API Gateway request → endpoint → API Gateway response (metrics dropped: tests, tools).
pub async fn handle(
    endpoint: &Endpoint,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    handle_with_metrics(endpoint, &NoMetrics, request).await
}

/// The same, publishing what the request counted (one EMF line on Lambda).
pub async fn handle_with_metrics(
    endpoint: &Endpoint,
    metrics: &dyn Metrics,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let (answer, counted) = endpoint.handle_counted(&lambda::request(&request)).await;
    metrics.publish(&counted);
    Ok(lambda::response(answer)?)
}

/// The endpoint's plain view of an API Gateway request, with what the gateway attests
/// (the one conversion, `shared::http::lambda`).
pub fn http_request(request: &Request) -> HttpRequest {
    lambda::request(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: [(&str, &str); 4] = [
        ("TABLE_NAME", "t"),
        ("XPOLLENS_CREDENTIALS_SECRET", "xpollens/credentials"),
        ("PAYLOAD_KEY_SECRET", "payload-key"),
        ("XPOLLENS_BODY_BUCKET", "bodies"),
    ];

    fn env(extra: &[(&'static str, &'static str)]) -> Env {
        let mut pairs = REQUIRED.to_vec();
        pairs.extend_from_slice(extra);
        Env::from_pairs(&pairs)
    }

    #[test]
    fn defaults_apply_only_when_a_variable_is_unset() {
        let s = Settings::from_env(&env(&[])).unwrap();
        assert_eq!(s.secret_ttl, Duration::from_secs(300));
        assert_eq!(s.previous_credential_grace, Duration::from_secs(24 * 3600));
        assert_eq!(s.allowed_cidrs, "");
        let s = Settings::from_env(&env(&[
            ("XPOLLENS_PREVIOUS_CREDENTIAL_GRACE_HOURS", "0"),
            ("XPOLLENS_ALLOWED_CIDRS", "203.0.113.0/24, 198.51.100.7"),
        ]))
        .unwrap();
        assert_eq!(s.previous_credential_grace, Duration::ZERO);
    }

    #[test]
    fn a_bad_value_fails_the_cold_start_naming_the_variable_not_the_value() {
        for (name, bad) in [
            ("XPOLLENS_PREVIOUS_CREDENTIAL_GRACE_HOURS", "24h"),
            ("XPOLLENS_PREVIOUS_CREDENTIAL_GRACE_HOURS", "1000"),
            ("SECRET_CACHE_TTL_SECONDS", "-5"),
            ("SECRET_CACHE_TTL_SECONDS", "86400"),
            ("XPOLLENS_ALLOWED_CIDRS", "203.0.113.0/24,pw-s3cret"),
        ] {
            let e = Settings::from_env(&env(&[(name, bad)])).unwrap_err();
            assert_eq!(e.name(), name, "{bad}");
            let text = e.to_string();
            assert!(text.contains(name) && !text.contains(bad), "{text}");
        }
        for (missing, _) in REQUIRED {
            let pairs: Vec<_> = REQUIRED
                .into_iter()
                .filter(|(k, _)| *k != missing)
                .collect();
            assert_eq!(
                Settings::from_env(&Env::from_pairs(&pairs)).unwrap_err(),
                SettingsError::Missing {
                    name: missing.into()
                }
            );
        }
    }
}

// Each callback authentication mode end to end through the Lambda wiring.
#[cfg(test)]
mod auth_modes_tests;

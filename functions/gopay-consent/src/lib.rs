//! Wiring of the GoPay consent Lambda: configuration from the environment, AWS and HTTP
//! adapters, and the conversion between API Gateway requests and the shared endpoint's types
//! (`kyc_gopay::consent_endpoint` holds the rules).

use std::sync::Arc;
use std::time::Duration;

use kyc_aws::{DynamoStore, SecretsManagerSource};
use kyc_core::config::{Env, InitError, SettingsError};
use kyc_core::http::lambda;
use kyc_core::metrics::{CountingEvents, Metrics};
use kyc_core::secrets::{EarlyRead, SecretSource};
use kyc_gopay::aws::http::ReqwestTransport;
use kyc_gopay::aws::store::{with_timeouts, DynamoGoPayStore, S3Objects};
use kyc_gopay::consent::{
    check_browser_url, check_frontend_redirect_uri, check_redirect_uri, CompletionMode,
};
use kyc_gopay::consent_endpoint::{emf_line, ConsentEndpoint};
use kyc_gopay::settings::GoPaySettings;
use lambda_http::{Body, Request, Response};

/// Settings read once per cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Table, secrets, hosts, rescue bucket (first tokens the table could not take), shards.
    pub gopay: GoPaySettings,
    /// `GOPAY_COMPLETION_MODE`: `bank-session` (default) or `direct-callback`.
    pub completion: CompletionMode,
    /// The redirect URI consent URLs carry (registered at GoPay): the bank's front end
    /// (`GOPAY_FRONTEND_REDIRECT_URI`) in bank-session mode, our callback
    /// (`GOPAY_REDIRECT_URI`) in direct-callback mode.
    pub redirect_uri: String,
    /// `GOPAY_CONSENT_STATE_TTL_HOURS` (1 to 168, default 24).
    pub state_ttl: Duration,
    pub success_url: String,
    pub failure_url: String,
    /// At most 25 s: the customer waits, and API Gateway gives up at 30 s.
    pub http_timeout: Duration,
}

impl Settings {
    /// Every variable of the function, read and checked once per cold start. In bank-session
    /// mode (the default) the function refuses to start without the front-end redirect URI.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let gopay = GoPaySettings::from_env(env)?;
        let completion = match env.optional("GOPAY_COMPLETION_MODE") {
            None => CompletionMode::default(),
            Some(m) => CompletionMode::parse(&m).ok_or_else(|| {
                SettingsError::invalid("GOPAY_COMPLETION_MODE", "bank-session or direct-callback")
            })?,
        };
        // Both redirect URIs are checked when set (a malformed one is a configuration error
        // whatever the mode); the mode's own is required.
        if let Some(u) = env.optional("GOPAY_FRONTEND_REDIRECT_URI") {
            env.checked(
                "GOPAY_FRONTEND_REDIRECT_URI",
                &u,
                check_frontend_redirect_uri,
            )?;
        }
        if let Some(u) = env.optional("GOPAY_REDIRECT_URI") {
            env.checked("GOPAY_REDIRECT_URI", &u, check_redirect_uri)?;
        }
        let redirect_uri = env.required(match completion {
            CompletionMode::BankSession => "GOPAY_FRONTEND_REDIRECT_URI",
            CompletionMode::DirectCallback => "GOPAY_REDIRECT_URI",
        })?;
        let hours = env.number_in("GOPAY_CONSENT_STATE_TTL_HOURS", 24u64, 1..=168)?;
        Ok(Self {
            gopay,
            completion,
            redirect_uri,
            state_ttl: Duration::from_secs(hours * 3600),
            success_url: env.checked(
                "GOPAY_SUCCESS_URL",
                &env.required("GOPAY_SUCCESS_URL")?,
                |v| check_browser_url("success_url", v).map(|()| v.to_string()),
            )?,
            failure_url: env.checked(
                "GOPAY_FAILURE_URL",
                &env.required("GOPAY_FAILURE_URL")?,
                |v| check_browser_url("failure_url", v).map(|()| v.to_string()),
            )?,
            http_timeout: env.seconds_in("GOPAY_HTTP_TIMEOUT_SECONDS", 8, 1..=25)?,
        })
    }
}

/// The endpoint over the AWS adapters, and the counter of the events it records (published
/// after each request).
pub fn build_endpoint(
    settings: &Settings,
    config: &kyc_aws::aws_config::SdkConfig,
) -> Result<(ConsentEndpoint, Arc<CountingEvents>), InitError> {
    let config = &timed(config);
    build_endpoint_over(
        settings,
        config,
        Arc::new(SecretsManagerSource::new(config)),
    )
}

/// The cold start: the one Secrets Manager call is sent first, the endpoint (its HTTP client
/// loading the root certificates above all) is built while it is on its way, then its answer
/// fills the caches ([`prefetch_secrets`]). Same call, same checks; the round trip overlaps
/// the building.
pub async fn init(
    settings: &Settings,
    config: &kyc_aws::aws_config::SdkConfig,
) -> Result<(ConsentEndpoint, Arc<CountingEvents>), InitError> {
    let config = &timed(config);
    let early = EarlyRead::start(
        Arc::new(SecretsManagerSource::new(config)),
        &settings.gopay.secret_names(),
    );
    let built = build_endpoint_over(settings, config, early)?;
    prefetch_secrets(&built.0).await;
    Ok(built)
}

/// Explicit SDK timeouts: the customer waits on this function (API Gateway gives up at 30 s).
fn timed(config: &kyc_aws::aws_config::SdkConfig) -> kyc_aws::aws_config::SdkConfig {
    with_timeouts(config, Duration::from_secs(5), Duration::from_secs(2))
}

fn build_endpoint_over(
    settings: &Settings,
    config: &kyc_aws::aws_config::SdkConfig,
    secrets: Arc<dyn SecretSource>,
) -> Result<(ConsentEndpoint, Arc<CountingEvents>), InitError> {
    let ddb = kyc_aws::aws_sdk_dynamodb::Client::new(config);
    let gopay = &settings.gopay;
    let events = Arc::new(CountingEvents::new(Arc::new(
        DynamoStore::from_client(ddb.clone(), &gopay.table).with_legacy_layout(gopay.legacy_keys),
    )));
    let (credentials, keys) = gopay.secret_caches(secrets);
    let endpoint = ConsentEndpoint {
        store: Arc::new(
            DynamoGoPayStore::new(ddb.clone(), &gopay.table, gopay.due_shards)
                .with_legacy_layout(gopay.legacy_keys),
        ),
        rescue: Arc::new(S3Objects::new(S3Objects::client(config), &gopay.bucket)),
        events: events.clone(),
        transport: Arc::new(ReqwestTransport::new(settings.http_timeout)?),
        hosts: gopay.hosts()?,
        credentials,
        keys,
        redirect_uri: settings.redirect_uri.clone(),
        completion: settings.completion,
        state_ttl: kyc_core::chrono::Duration::from_std(settings.state_ttl)
            .expect("at most a week"),
        success_url: settings.success_url.clone(),
        failure_url: settings.failure_url.clone(),
        clock: Arc::new(kyc_core::chrono::Utc::now),
        counters: Default::default(),
    };
    Ok((endpoint, events))
}

/// During init: both secrets a request needs, in ONE Secrets Manager call (not fatal: a
/// request fetches again and answers 503 while it still fails).
pub async fn prefetch_secrets(endpoint: &ConsentEndpoint) {
    if let Err(e) = kyc_core::secrets::prefetch(&[&endpoint.credentials, &endpoint.keys]).await {
        tracing::error!(error = %e, "secrets not prefetched during init; the first request will retry");
    }
}

/// API Gateway request → endpoint → API Gateway response, then the events the request
/// recorded published as metrics.
pub async fn handle_counted(
    endpoint: &ConsentEndpoint,
    events: &CountingEvents,
    metrics: &dyn Metrics,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let answer = handle(endpoint, request).await;
    metrics.publish(&events.take());
    // Binding mismatches and prefill failures, as alarmable metrics (embedded metric format).
    let counts = endpoint.counters.take();
    if !counts.is_zero() {
        println!(
            "{}",
            emf_line(&counts, kyc_core::chrono::Utc::now().timestamp_millis())
        );
    }
    answer
}

/// API Gateway request → endpoint → API Gateway response.
pub async fn handle(
    endpoint: &ConsentEndpoint,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let answer = endpoint.handle(&lambda::request(&request)).await;
    Ok(lambda::response(answer)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: [(&str, &str); 9] = [
        ("TABLE_NAME", "t"),
        ("PAYLOAD_KEY_SECRET", "k"),
        ("GOPAY_CLIENT_SECRET", "c"),
        ("GOPAY_AUTH_BASE_URL", "https://gw.example"),
        ("GOPAY_CLIENT_BASE_URL", "https://client.example"),
        (
            "GOPAY_FRONTEND_REDIRECT_URI",
            "https://bank.example/gopay/return",
        ),
        ("GOPAY_SUCCESS_URL", "https://bank.example/ok"),
        ("GOPAY_FAILURE_URL", "https://bank.example/ko"),
        ("GOPAY_BUCKET", "b"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Settings, SettingsError> {
        let mut all = REQUIRED.to_vec();
        all.extend_from_slice(extra);
        Settings::from_env(&Env::from_pairs(&all))
    }

    #[test]
    fn settings_read_defaults_and_refuse_bad_values_by_name() {
        let s = with(&[]).unwrap();
        assert_eq!(
            (s.gopay.due_shards, s.http_timeout),
            (4, Duration::from_secs(8))
        );
        assert_eq!(
            (s.completion, s.redirect_uri.as_str(), s.state_ttl),
            (
                CompletionMode::BankSession,
                "https://bank.example/gopay/return",
                Duration::from_secs(24 * 3600)
            )
        );
        for (name, bad) in [
            ("GOPAY_DUE_SHARDS", "four"),
            ("GOPAY_DUE_SHARDS", "0"),
            ("GOPAY_HTTP_TIMEOUT_SECONDS", "60"),
            ("SECRET_CACHE_TTL_SECONDS", "5m"),
            ("GOPAY_COMPLETION_MODE", "callback"),
            ("GOPAY_CONSENT_STATE_TTL_HOURS", "0"),
            ("GOPAY_CONSENT_STATE_TTL_HOURS", "169"),
            ("GOPAY_FRONTEND_REDIRECT_URI", "http://bank.example/return"),
        ] {
            assert_eq!(with(&[(name, bad)]).unwrap_err().name(), name, "{bad}");
        }
        for (name, bad) in [
            ("GOPAY_REDIRECT_URI", "https://api.example/gopay/elsewhere"),
            ("GOPAY_REDIRECT_URI", "http://api.example/gopay/callback"),
            (
                "GOPAY_REDIRECT_URI",
                "https://api.example/gopay/callback?x=1",
            ),
            (
                "GOPAY_FRONTEND_REDIRECT_URI",
                "https://bank.example/return#top",
            ),
            (
                "GOPAY_FRONTEND_REDIRECT_URI",
                "https://user@bank.example/return",
            ),
            ("GOPAY_SUCCESS_URL", "app.example/ok"),
            ("GOPAY_FAILURE_URL", "https://bank.example/ko#top"),
            ("GOPAY_FAILURE_URL", "https://user@bank.example/ko"),
        ] {
            // Checked whenever set, in either mode.
            let e = with(&[(name, bad)]).unwrap_err();
            assert_eq!(e.name(), name, "{bad}");
            assert!(!e.to_string().contains("example"), "no value in {e}");
        }
        let e = with(&[("GOPAY_AUTH_BASE_URL", "gw.example")]).unwrap_err();
        assert_eq!(e.name(), "GOPAY_AUTH_BASE_URL");
        let e = with(&[("GOPAY_CLIENT_BASE_URL", "http://client.example")]).unwrap_err();
        assert_eq!(e.name(), "GOPAY_CLIENT_BASE_URL");
        let pairs: Vec<_> = REQUIRED
            .into_iter()
            .filter(|(k, _)| *k != "GOPAY_BUCKET")
            .collect();
        assert_eq!(
            Settings::from_env(&Env::from_pairs(&pairs))
                .unwrap_err()
                .to_string(),
            "missing environment variable GOPAY_BUCKET"
        );
    }

    #[test]
    fn bank_session_mode_refuses_to_start_without_the_front_end_and_direct_mode_keeps_the_callback()
    {
        let without_front_end: Vec<_> = REQUIRED
            .into_iter()
            .filter(|(k, _)| *k != "GOPAY_FRONTEND_REDIRECT_URI")
            .collect();
        let e = Settings::from_env(&Env::from_pairs(&without_front_end)).unwrap_err();
        assert_eq!(e.name(), "GOPAY_FRONTEND_REDIRECT_URI");
        // An existing stack keeping the direct callback (the upgrade note).
        let mut direct = without_front_end.clone();
        direct.push(("GOPAY_COMPLETION_MODE", "direct-callback"));
        assert_eq!(
            Settings::from_env(&Env::from_pairs(&direct))
                .unwrap_err()
                .name(),
            "GOPAY_REDIRECT_URI"
        );
        direct.push(("GOPAY_REDIRECT_URI", "https://api.example/gopay/callback"));
        direct.push(("GOPAY_CONSENT_STATE_TTL_HOURS", "48"));
        let s = Settings::from_env(&Env::from_pairs(&direct)).unwrap();
        assert_eq!(
            (s.completion, s.redirect_uri.as_str(), s.state_ttl),
            (
                CompletionMode::DirectCallback,
                "https://api.example/gopay/callback",
                Duration::from_secs(48 * 3600)
            )
        );
    }
}

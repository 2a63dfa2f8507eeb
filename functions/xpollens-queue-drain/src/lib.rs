//! Wiring of the Xpollens fallback-queue drain Lambda (EventBridge Scheduler target):
//! settings from the environment, the API client (its token cache lives across invocations)
//! and the intake; `kyc_xpollens::drain` holds the rules of a run.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

use kyc_core::legacy_keys::LegacyKeyLayout;
use std::sync::Arc;
use std::time::Duration;

use kyc_aws::{s3_client, DynamoStore, S3BodyStore, SecretsManagerSource};
use kyc_core::chrono::Utc;
use kyc_core::config::{run_deadline, secret_ttl, Env, InitError, SettingsError};
use kyc_core::crypto::Keyring;
use kyc_core::invocation::InvocationError;
use kyc_core::metrics::{Metrics, NoMetrics};
use kyc_core::secrets::{prefetch, Cached, EarlyRead, SecretSource};
use kyc_xpollens::api::{ApiConfig, ApiCredentials, ClientAuth, XpollensApi};
use kyc_xpollens::delivery::{DeliveryRecorder, Recorder};
use kyc_xpollens::drain::{emf_line, Clock, DrainReport, DrainSettings, QueueApi};
use kyc_xpollens::http::ReqwestApiTransport;
use kyc_xpollens::queue::{PRODUCTION_MAX_LIMIT, SANDBOX_MAX_LIMIT};

/// The `Service` dimension of the metrics.
pub const SERVICE: &str = "xpollens-queue-drain";

/// Settings read once per cold start; any invalid value fails the cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    /// Whether the table still holds items of the key layout before provider-scoped keys.
    pub legacy_keys: LegacyKeyLayout,
    pub payload_key_secret: String,
    /// Bucket for sealed bodies too large for a DynamoDB item (the intake's, prefix `xpollens/`).
    pub body_bucket: String,
    /// Secrets Manager secret `{"clientId","clientSecret"}` of the Xpollens API.
    pub api_secret: String,
    pub api: ApiConfig,
    pub drain: DrainSettings,
    pub secret_ttl: Duration,
    pub http_timeout: Duration,
}

impl Settings {
    /// Every variable of the function, read and checked once per cold start.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let client_auth: ClientAuth = env.parsed_or(
            "XPOLLENS_TOKEN_CLIENT_AUTH",
            ClientAuth::Basic,
            "basic or body",
        )?;
        let api = ApiConfig::new(
            &env.required("XPOLLENS_API_BASE_URL")?,
            &env.required("XPOLLENS_TOKEN_URL")?,
            env.optional("XPOLLENS_API_SCOPE").as_deref(),
            client_auth,
        )
        .map_err(|e| {
            let name = match e.name {
                "token URL" => "XPOLLENS_TOKEN_URL",
                "scope" => "XPOLLENS_API_SCOPE",
                _ => "XPOLLENS_API_BASE_URL",
            };
            SettingsError::invalid(name, e.reason)
        })?;
        let limit_rule = format!(
            "a whole number from 1 to {} (sandbox: at most {})",
            PRODUCTION_MAX_LIMIT, SANDBOX_MAX_LIMIT
        );
        let mut drain = DrainSettings::new(env.parsed_or(
            "XPOLLENS_QUEUE_LIMIT",
            SANDBOX_MAX_LIMIT,
            &limit_rule,
        )?)
        .map_err(|why| SettingsError::invalid("XPOLLENS_QUEUE_LIMIT", why))?;
        drain.deadline_reserve = kyc_core::chrono::Duration::seconds(env.number_in(
            "XPOLLENS_DRAIN_DEADLINE_RESERVE_SECONDS",
            20,
            1..=300,
        )?);
        Ok(Self {
            table: env.required("TABLE_NAME")?,
            legacy_keys: LegacyKeyLayout::from_env(env)?,
            payload_key_secret: env.required("PAYLOAD_KEY_SECRET")?,
            body_bucket: env.required("XPOLLENS_BODY_BUCKET")?,
            api_secret: env.required("XPOLLENS_API_SECRET")?,
            api,
            drain,
            secret_ttl: secret_ttl(env)?,
            http_timeout: env.seconds_in("XPOLLENS_HTTP_TIMEOUT_SECONDS", 10, 1..=60)?,
        })
    }
}

/// What an invocation returns when the run failed (the invocation errs: Lambda retries it,
/// then hands it to the on-failure destination). Names no secret and no payload.
#[derive(Debug)]
pub struct DrainFailed(pub DrainReport);

impl std::fmt::Display for DrainFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "xpollens queue drain failed ({}): {}",
            self.0
                .failure
                .as_deref()
                .unwrap_or("deliveries not recorded"),
            serde_json::to_string(&self.0).unwrap_or_default()
        )
    }
}

impl std::error::Error for DrainFailed {}

/// A failed run is retryable: nothing was removed from the queue unrecorded, and the next
/// attempt (or the next scheduled run) reads the same entries again.
impl From<DrainFailed> for InvocationError {
    fn from(e: DrainFailed) -> Self {
        InvocationError::Retryable(e.to_string())
    }
}

/// The ports of a run, built once per cold start.
pub struct Wiring {
    pub api: Arc<dyn QueueApi>,
    pub recorder: Arc<dyn DeliveryRecorder>,
    pub settings: DrainSettings,
    pub clock: Clock,
}

/// The HTTP and AWS adapters of a run (no secret in them).
struct Adapters {
    transport: Arc<ReqwestApiTransport>,
    store: Arc<DynamoStore>,
}

impl Adapters {
    fn build(
        settings: &Settings,
        config: &kyc_aws::aws_config::SdkConfig,
    ) -> Result<Self, InitError> {
        Ok(Self {
            transport: Arc::new(
                ReqwestApiTransport::new(settings.http_timeout).map_err(InitError::HttpClient)?,
            ),
            // The same store as the live endpoint: large bodies go to the same bucket.
            store: Arc::new(
                DynamoStore::new(config, &settings.table)
                    .with_legacy_layout(settings.legacy_keys)
                    .with_body_store(Arc::new(S3BodyStore::new(
                        s3_client(config),
                        &settings.body_bucket,
                        "xpollens/",
                    ))),
            ),
        })
    }
}

/// The two secrets a run needs: the API client credentials and the payload key.
struct RunSecrets {
    api: Cached<ApiCredentials>,
    keys: Cached<Keyring>,
}

impl RunSecrets {
    fn new(settings: &Settings, secrets: Arc<dyn SecretSource>) -> Self {
        Self {
            api: Cached::new(
                secrets.clone(),
                &settings.api_secret,
                settings.secret_ttl,
                |staged| ApiCredentials::from_secret_json(staged.current.expose()),
            ),
            keys: Keyring::cached(secrets, &settings.payload_key_secret, settings.secret_ttl),
        }
    }
}

impl Wiring {
    pub fn new(
        settings: Settings,
        config: &kyc_aws::aws_config::SdkConfig,
    ) -> Result<Self, InitError> {
        let secrets = RunSecrets::new(&settings, Arc::new(SecretsManagerSource::new(config)));
        let adapters = Adapters::build(&settings, config)?;
        Ok(Self::assemble(settings, adapters, secrets))
    }

    /// The same, with both secrets read in ONE Secrets Manager call (init), so the first run
    /// finds them cached. The call is sent first and the adapters (the Xpollens API's HTTP
    /// client loading the root certificates above all) are built while it is on its way.
    /// A failure is logged, not fatal: the run fetches again and fails (retried) if it still
    /// cannot.
    pub async fn new_prefetched(
        settings: Settings,
        config: &kyc_aws::aws_config::SdkConfig,
    ) -> Result<Self, InitError> {
        let early = EarlyRead::start(
            Arc::new(SecretsManagerSource::new(config)),
            &[&settings.api_secret, &settings.payload_key_secret],
        );
        let secrets = RunSecrets::new(&settings, early);
        let adapters = Adapters::build(&settings, config)?;
        if let Err(e) = prefetch(&[&secrets.api, &secrets.keys]).await {
            tracing::error!(error = %e, "secrets not prefetched during init; the run will retry");
        }
        Ok(Self::assemble(settings, adapters, secrets))
    }

    fn assemble(settings: Settings, adapters: Adapters, secrets: RunSecrets) -> Self {
        let clock: Clock = Arc::new(Utc::now);
        let api = XpollensApi::new(
            adapters.transport,
            settings.api.clone(),
            secrets.api,
            clock.clone(),
        );
        let recorder = Recorder {
            store: adapters.store,
            keys: secrets.keys,
        };
        Self {
            api: Arc::new(api),
            recorder: Arc::new(recorder),
            settings: settings.drain,
            clock,
        }
    }

    /// One scheduled run (metrics dropped: tests).
    pub async fn invoke(&self, deadline_ms: u64) -> Result<DrainReport, DrainFailed> {
        self.invoke_with_metrics(deadline_ms, &NoMetrics).await
    }

    /// One scheduled run: drains, logs the report and its metrics, errs if the run failed.
    pub async fn invoke_with_metrics(
        &self,
        deadline_ms: u64,
        metrics: &dyn Metrics,
    ) -> Result<DrainReport, DrainFailed> {
        let now = (self.clock)();
        let deadline = run_deadline(deadline_ms, now, Duration::from_secs(60));
        let report = kyc_xpollens::drain::run(
            self.api.as_ref(),
            self.recorder.as_ref(),
            &self.settings,
            &self.clock,
            deadline,
        )
        .await;
        // EMF: one raw JSON line on stdout, which CloudWatch turns into metrics.
        println!("{}", emf_line(&report, SERVICE, (self.clock)()));
        metrics.publish(&kyc_xpollens::drain::metrics(&report));
        let summary = serde_json::to_string(&report).unwrap_or_default();
        if report.is_failure() {
            tracing::error!(report = %summary, "xpollens queue drain run failed");
            Err(DrainFailed(report))
        } else {
            tracing::info!(report = %summary, "xpollens queue drain run done");
            Ok(report)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_fail_fast_on_missing_or_invalid_values() {
        let mut vars = vec![
            ("TABLE_NAME", "t"),
            ("PAYLOAD_KEY_SECRET", "k"),
            ("XPOLLENS_BODY_BUCKET", "b"),
            ("XPOLLENS_API_SECRET", "s"),
            ("XPOLLENS_API_BASE_URL", "https://sb-api.xpollens.com"),
            ("XPOLLENS_TOKEN_URL", "https://auth.example/connect/token"),
        ];
        let with = |vars: &Vec<(&str, &str)>, extra: &[(&str, &str)]| {
            let mut all = vars.clone();
            all.extend_from_slice(extra);
            Settings::from_env(&Env::from_pairs(&all))
        };
        let s = with(&vars, &[]).unwrap();
        assert_eq!(s.drain.limit, 30);
        assert_eq!(s.api.client_auth, ClientAuth::Basic);
        let e = with(&vars, &[("XPOLLENS_QUEUE_LIMIT", "101")]).unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
        assert_eq!(
            with(&vars, &[("XPOLLENS_QUEUE_LIMIT", "thirty")])
                .unwrap_err()
                .to_string(),
            "environment variable XPOLLENS_QUEUE_LIMIT is not valid: \
             a whole number from 1 to 100 (sandbox: at most 30)"
        );
        vars.push(("XPOLLENS_QUEUE_LIMIT", "100"));
        assert_eq!(
            with(&vars, &[("XPOLLENS_TOKEN_CLIENT_AUTH", "body")])
                .unwrap()
                .api
                .client_auth,
            ClientAuth::Body
        );
        let e = with(&vars, &[("XPOLLENS_TOKEN_CLIENT_AUTH", "mtls")]).unwrap_err();
        assert_eq!(e.name(), "XPOLLENS_TOKEN_CLIENT_AUTH");
        let e = with(
            &vars,
            &[("XPOLLENS_API_BASE_URL", "http://sb-api.xpollens.com")],
        );
        // (the later pair wins in the map)
        let e = e.unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
        assert_eq!(e.name(), "XPOLLENS_API_BASE_URL");
        let e = with(&vars, &[("XPOLLENS_TOKEN_URL", "ftp://auth.example")]).unwrap_err();
        assert_eq!(e.name(), "XPOLLENS_TOKEN_URL");
        let e = with(&vars, &[("XPOLLENS_HTTP_TIMEOUT_SECONDS", "10s")]).unwrap_err();
        assert_eq!(e.name(), "XPOLLENS_HTTP_TIMEOUT_SECONDS");
        vars.retain(|(k, _)| *k != "XPOLLENS_API_SECRET");
        assert_eq!(
            with(&vars, &[]).unwrap_err().to_string(),
            "missing environment variable XPOLLENS_API_SECRET"
        );
    }

    #[test]
    fn a_failed_run_is_reported_retryable() {
        let e: InvocationError = DrainFailed(DrainReport {
            failed: 1,
            ..DrainReport::default()
        })
        .into();
        assert!(e.is_retryable());
        assert!(e
            .to_string()
            .starts_with("retryable: xpollens queue drain failed"));
    }
}

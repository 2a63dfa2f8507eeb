//! Wiring of the Xpollens fallback-queue drain Lambda (EventBridge Scheduler target):
//! settings from the environment, the API client (its token cache lives across invocations)
//! and the intake; `kyc_shared::xpollens::drain` holds the rules of a run.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

use std::sync::Arc;
use std::time::Duration;

use kyc_shared::aws::{s3_client, DynamoStore, S3BodyStore, SecretsManagerSource};
use kyc_shared::chrono::Utc;
use kyc_shared::config::{parsed_or, required, run_deadline};
use kyc_shared::crypto::Keyring;
use kyc_shared::http::xpollens::ReqwestApiTransport;
use kyc_shared::secrets::Cached;
use kyc_shared::xpollens::api::{ApiConfig, ApiCredentials, ClientAuth, XpollensApi};
use kyc_shared::xpollens::delivery::{DeliveryRecorder, Recorder};
use kyc_shared::xpollens::drain::{emf_line, Clock, DrainReport, DrainSettings, QueueApi};

/// The `Service` dimension of the metrics.
pub const SERVICE: &str = "xpollens-queue-drain";

/// Settings read once per cold start; any invalid value fails the cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
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
    pub fn from_env() -> Result<Self, String> {
        let scope = std::env::var("XPOLLENS_API_SCOPE").ok();
        let client_auth: ClientAuth = parsed_or("XPOLLENS_TOKEN_CLIENT_AUTH", ClientAuth::Basic)?;
        let api = ApiConfig::new(
            &required("XPOLLENS_API_BASE_URL")?,
            &required("XPOLLENS_TOKEN_URL")?,
            scope.as_deref(),
            client_auth,
        )
        .map_err(|e| e.to_string())?;
        let mut drain = DrainSettings::new(parsed_or("XPOLLENS_QUEUE_LIMIT", 30)?)?;
        drain.deadline_reserve = kyc_shared::chrono::Duration::seconds(parsed_or(
            "XPOLLENS_DRAIN_DEADLINE_RESERVE_SECONDS",
            20,
        )?);
        Ok(Self {
            table: required("TABLE_NAME")?,
            payload_key_secret: required("PAYLOAD_KEY_SECRET")?,
            body_bucket: required("XPOLLENS_BODY_BUCKET")?,
            api_secret: required("XPOLLENS_API_SECRET")?,
            api,
            drain,
            secret_ttl: Duration::from_secs(parsed_or("SECRET_CACHE_TTL_SECONDS", 300)?),
            http_timeout: Duration::from_secs(parsed_or("XPOLLENS_HTTP_TIMEOUT_SECONDS", 10)?),
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

/// The ports of a run, built once per cold start.
pub struct Wiring {
    pub api: Arc<dyn QueueApi>,
    pub recorder: Arc<dyn DeliveryRecorder>,
    pub settings: DrainSettings,
    pub clock: Clock,
}

impl Wiring {
    pub fn new(
        settings: Settings,
        config: &kyc_shared::aws_config::SdkConfig,
    ) -> Result<Self, String> {
        let secrets = Arc::new(SecretsManagerSource::new(config));
        let clock: Clock = Arc::new(Utc::now);
        let api = XpollensApi::new(
            Arc::new(ReqwestApiTransport::new(settings.http_timeout)?),
            settings.api.clone(),
            Cached::new(
                secrets.clone(),
                &settings.api_secret,
                settings.secret_ttl,
                |staged| ApiCredentials::from_secret_json(staged.current.expose()),
            ),
            clock.clone(),
        );
        let recorder = Recorder {
            // The same store as the live endpoint: large bodies go to the same bucket.
            store: Arc::new(
                DynamoStore::new(config, &settings.table).with_body_store(Arc::new(
                    S3BodyStore::new(s3_client(config), &settings.body_bucket, "xpollens/"),
                )),
            ),
            keys: Cached::new(
                secrets,
                &settings.payload_key_secret,
                settings.secret_ttl,
                Keyring::from_staged,
            ),
        };
        Ok(Self {
            api: Arc::new(api),
            recorder: Arc::new(recorder),
            settings: settings.drain,
            clock,
        })
    }

    /// One scheduled run: drains, logs the report and its metrics, errs if the run failed.
    pub async fn invoke(&self, deadline_ms: u64) -> Result<DrainReport, DrainFailed> {
        let now = (self.clock)();
        let deadline = run_deadline(deadline_ms, now, Duration::from_secs(60));
        let report = kyc_shared::xpollens::drain::run(
            self.api.as_ref(),
            self.recorder.as_ref(),
            &self.settings,
            &self.clock,
            deadline,
        )
        .await;
        // EMF: one raw JSON line on stdout, which CloudWatch turns into metrics.
        println!("{}", emf_line(&report, SERVICE, (self.clock)()));
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

    /// Environment variables are process-wide: every settings case runs in this one test.
    #[test]
    fn settings_fail_fast_on_missing_or_invalid_values() {
        let set = |k: &str, v: &str| std::env::set_var(k, v);
        for (k, v) in [
            ("TABLE_NAME", "t"),
            ("PAYLOAD_KEY_SECRET", "k"),
            ("XPOLLENS_BODY_BUCKET", "b"),
            ("XPOLLENS_API_SECRET", "s"),
            ("XPOLLENS_API_BASE_URL", "https://sb-api.xpollens.com"),
            ("XPOLLENS_TOKEN_URL", "https://auth.example/connect/token"),
        ] {
            set(k, v);
        }
        let s = Settings::from_env().unwrap();
        assert_eq!(s.drain.limit, 30);
        assert_eq!(s.api.client_auth, ClientAuth::Basic);
        set("XPOLLENS_QUEUE_LIMIT", "101");
        assert!(Settings::from_env().unwrap_err().contains("limit"));
        set("XPOLLENS_QUEUE_LIMIT", "thirty");
        assert_eq!(
            Settings::from_env().unwrap_err(),
            "environment variable XPOLLENS_QUEUE_LIMIT is not valid"
        );
        set("XPOLLENS_QUEUE_LIMIT", "100");
        set("XPOLLENS_TOKEN_CLIENT_AUTH", "body");
        assert_eq!(
            Settings::from_env().unwrap().api.client_auth,
            ClientAuth::Body
        );
        set("XPOLLENS_API_BASE_URL", "http://sb-api.xpollens.com");
        assert!(Settings::from_env().unwrap_err().contains("https"));
        set("XPOLLENS_API_BASE_URL", "https://sb-api.xpollens.com");
        std::env::remove_var("XPOLLENS_API_SECRET");
        assert_eq!(
            Settings::from_env().unwrap_err(),
            "missing environment variable XPOLLENS_API_SECRET"
        );
    }
}

//! Wiring of the GoPay sync Lambda (EventBridge Scheduler target): configuration from the
//! environment and the adapters; `kyc_gopay::sync` holds the rules of a run.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

use std::sync::Arc;
use std::time::Duration;

use kyc_aws::{DynamoStore, SecretsManagerSource};
use kyc_gopay::aws::http::ReqwestTransport;
use kyc_gopay::aws::store::{with_timeouts, DynamoGoPayStore, S3Objects};

use kyc_core::config::{Env, InitError, SettingsError};
use kyc_core::metrics::CountingEvents;
use kyc_core::secrets::{EarlyRead, SecretSource};
use kyc_gopay::settings::GoPaySettings;
use kyc_gopay::sync::{longest_visit, refresh_budget, Clock, SyncDeps, SyncSettings};

/// Settings read once per cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Table, secrets, hosts, bucket (identification PDFs and rotated-token rescue objects),
    /// shards.
    pub gopay: GoPaySettings,
    pub concurrency: usize,
    pub max_profiles: usize,
    /// Stop taking profiles this long before the Lambda deadline.
    pub deadline_reserve: Duration,
    pub http_timeout: Duration,
    /// AWS SDK timeouts: a whole operation (retries included) and one attempt.
    pub aws_operation_timeout: Duration,
    pub aws_attempt_timeout: Duration,
    /// `GOPAY_MISSING_GUARD_LIMIT`: the most profiles answering 404 in a run that are taken
    /// as specific to them (1 to 1,000, default 3).
    pub missing_guard_limit: u32,
    /// `GOPAY_DEAD_TOKEN_MIN_RUNS` (2 to 50, default 3) and `GOPAY_DEAD_TOKEN_MIN_HOURS` (1 to
    /// 336, default 24): a bare 403 on a refresh condemns the token after that many qualifying
    /// runs spanning that long.
    pub dead_token_min_runs: u32,
    pub dead_token_min_span: Duration,
}

impl Settings {
    /// Every variable of the function, read and checked once per cold start, including the
    /// rule a run would refuse (the lease must outlive the longest visit).
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let settings = Self {
            gopay: GoPaySettings::from_env(env)?,
            concurrency: env.number_in("GOPAY_SYNC_CONCURRENCY", 16, 1..=256)?,
            max_profiles: env.number_in("GOPAY_SYNC_MAX_PROFILES", 20_000, 1..=1_000_000)?,
            deadline_reserve: env.seconds_in("GOPAY_DEADLINE_RESERVE_SECONDS", 20, 1..=600)?,
            http_timeout: env.seconds_in("GOPAY_HTTP_TIMEOUT_SECONDS", 8, 1..=60)?,
            aws_operation_timeout: env.seconds_in(
                "GOPAY_AWS_OPERATION_TIMEOUT_SECONDS",
                5,
                1..=60,
            )?,
            aws_attempt_timeout: env.seconds_in("GOPAY_AWS_ATTEMPT_TIMEOUT_SECONDS", 2, 1..=60)?,
            missing_guard_limit: env.number_in("GOPAY_MISSING_GUARD_LIMIT", 3, 1..=1_000)?,
            dead_token_min_runs: env.number_in("GOPAY_DEAD_TOKEN_MIN_RUNS", 3, 2..=50)?,
            dead_token_min_span: Duration::from_secs(
                3600 * env.number_in("GOPAY_DEAD_TOKEN_MIN_HOURS", 24u64, 1..=336)?,
            ),
        };
        settings.sync_settings("init").validate().map_err(|e| {
            SettingsError::invalid(
                "GOPAY_HTTP_TIMEOUT_SECONDS",
                format_args!("timeouts too long for the lease ({e})"),
            )
        })?;
        Ok(settings)
    }

    /// Run settings; `owner` names this run's leases (the Lambda request id).
    pub fn sync_settings(&self, owner: &str) -> SyncSettings {
        let mut s = SyncSettings::new(owner);
        s.shards = self.gopay.due_shards;
        s.concurrency = self.concurrency;
        s.max_profiles = self.max_profiles;
        s.missing_guard_limit = self.missing_guard_limit;
        s.dead_token_min_runs = self.dead_token_min_runs;
        s.dead_token_min_span = kyc_core::chrono::Duration::from_std(self.dead_token_min_span)
            .unwrap_or(s.dead_token_min_span);
        s.deadline_reserve = kyc_core::chrono::Duration::from_std(self.deadline_reserve)
            .unwrap_or(s.deadline_reserve);
        s.refresh_budget = refresh_budget(
            self.http_timeout,
            self.aws_operation_timeout,
            s.rotation_write_attempts,
        );
        s.longest_visit = longest_visit(
            self.http_timeout,
            self.aws_operation_timeout,
            s.rotation_write_attempts,
        );
        s
    }
}

/// The adapters, built once per cold start (the secret caches live across invocations).
pub struct Wiring {
    pub ddb: kyc_aws::aws_sdk_dynamodb::Client,
    pub s3: kyc_aws::aws_sdk_s3::Client,
    pub transport: Arc<ReqwestTransport>,
    pub secrets: Arc<dyn SecretSource>,
    /// The Secrets Manager client under `secrets` (its configuration: timeouts).
    pub secrets_client: kyc_aws::aws_sdk_secretsmanager::Client,
    /// The event store of every run, counting what it records (metrics).
    pub events: Arc<CountingEvents>,
    pub settings: Settings,
    /// The first run's dependencies, secrets fetched during init.
    prepared: std::sync::Mutex<Option<SyncDeps>>,
}

impl Wiring {
    pub fn new(
        settings: Settings,
        config: &kyc_aws::aws_config::SdkConfig,
    ) -> Result<Self, InitError> {
        let config = &Self::timed(&settings, config);
        let secrets = Arc::new(SecretsManagerSource::new(config));
        let client = secrets.client().clone();
        Self::over(settings, config, (secrets, client))
    }

    /// The cold start: the one Secrets Manager call is sent first, the adapters (the GoPay
    /// HTTP client loading the root certificates above all) are built while it is on its way,
    /// then its answer fills the first run's caches ([`Self::prefetch_secrets`]). Same call,
    /// same checks; the round trip overlaps the building.
    pub async fn init(
        settings: Settings,
        config: &kyc_aws::aws_config::SdkConfig,
        clock: Clock,
    ) -> Result<Self, InitError> {
        let config = &Self::timed(&settings, config);
        let source = SecretsManagerSource::new(config);
        let client = source.client().clone();
        let early = EarlyRead::start(Arc::new(source), &settings.gopay.secret_names());
        let wiring = Self::over(settings, config, (early, client))?;
        wiring.prefetch_secrets(clock).await?;
        Ok(wiring)
    }

    fn timed(
        settings: &Settings,
        config: &kyc_aws::aws_config::SdkConfig,
    ) -> kyc_aws::aws_config::SdkConfig {
        with_timeouts(
            config,
            settings.aws_operation_timeout,
            settings.aws_attempt_timeout,
        )
    }

    fn over(
        settings: Settings,
        config: &kyc_aws::aws_config::SdkConfig,
        (secrets, secrets_client): (
            Arc<dyn SecretSource>,
            kyc_aws::aws_sdk_secretsmanager::Client,
        ),
    ) -> Result<Self, InitError> {
        let ddb = kyc_aws::aws_sdk_dynamodb::Client::new(config);
        Ok(Self {
            events: Arc::new(CountingEvents::new(Arc::new(
                DynamoStore::from_client(ddb.clone(), &settings.gopay.table)
                    .with_legacy_layout(settings.gopay.legacy_keys),
            ))),
            ddb,
            s3: S3Objects::client(config),
            transport: Arc::new(ReqwestTransport::new(settings.http_timeout)?),
            secrets,
            secrets_client,
            settings,
            prepared: std::sync::Mutex::new(None),
        })
    }

    /// During init: the first run's dependencies with both secrets read in ONE Secrets
    /// Manager call. Not fatal: a run whose secrets are missing fetches them again (and
    /// fails, retryable).
    pub async fn prefetch_secrets(&self, clock: Clock) -> Result<(), SettingsError> {
        let deps = self.prefetched_deps(clock).await?;
        *self.prepared.lock().unwrap() = Some(deps);
        Ok(())
    }

    /// The dependencies of the next run: the ones prepared during init, else fresh ones with
    /// their secrets read in one call.
    pub async fn next_deps(&self, clock: Clock) -> Result<SyncDeps, SettingsError> {
        let prepared = self.prepared.lock().unwrap().take();
        match prepared {
            Some(deps) => Ok(deps),
            None => self.prefetched_deps(clock).await,
        }
    }

    async fn prefetched_deps(&self, clock: Clock) -> Result<SyncDeps, SettingsError> {
        let deps = self.deps(clock)?;
        if let Err(e) = kyc_core::secrets::prefetch(&[&deps.credentials, &deps.keys]).await {
            tracing::error!(error = %e, "secrets not prefetched; the run will retry");
        }
        Ok(deps)
    }

    /// Dependencies of one run.
    pub fn deps(&self, clock: Clock) -> Result<SyncDeps, SettingsError> {
        let s = &self.settings.gopay;
        let (credentials, keys) = s.secret_caches(self.secrets.clone());
        let objects = Arc::new(S3Objects::new(self.s3.clone(), &s.bucket));
        Ok(SyncDeps {
            store: Arc::new(
                DynamoGoPayStore::new(self.ddb.clone(), &s.table, s.due_shards)
                    .with_legacy_layout(s.legacy_keys),
            ),
            events: self.events.clone(),
            rescue: objects.clone(),
            pdfs: objects,
            transport: self.transport.clone(),
            hosts: s.hosts()?,
            credentials,
            keys,
            clock,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            gopay: GoPaySettings {
                table: "t".into(),
                payload_key_secret: "k".into(),
                client_secret: "c".into(),
                auth_base_url: "https://auth.example".into(),
                client_base_url: "https://client.example".into(),
                bucket: "b".into(),
                due_shards: 4,
                secret_ttl: Duration::from_secs(300),
                legacy_keys: Default::default(),
            },
            concurrency: 16,
            max_profiles: 100,
            deadline_reserve: Duration::from_secs(20),
            http_timeout: Duration::from_secs(8),
            aws_operation_timeout: Duration::from_secs(5),
            aws_attempt_timeout: Duration::from_secs(2),
            missing_guard_limit: 3,
            dead_token_min_runs: 3,
            dead_token_min_span: Duration::from_secs(24 * 3600),
        }
    }

    #[tokio::test]
    async fn every_aws_client_has_explicit_operation_and_attempt_timeouts() {
        let config = kyc_aws::aws_config::SdkConfig::builder()
            .behavior_version(kyc_aws::aws_config::BehaviorVersion::latest())
            .region(kyc_aws::aws_config::Region::new("eu-west-3"))
            .build();
        let wiring = Wiring::new(settings(), &config).unwrap();
        let ddb = wiring.ddb.config().timeout_config().cloned().unwrap();
        let s3 = wiring.s3.config().timeout_config().cloned().unwrap();
        for t in [ddb, s3] {
            assert_eq!(t.operation_timeout(), Some(Duration::from_secs(5)));
            assert_eq!(t.operation_attempt_timeout(), Some(Duration::from_secs(2)));
        }
        assert_eq!(
            wiring
                .secrets_client
                .config()
                .timeout_config()
                .and_then(|t| t.operation_timeout()),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn settings_refuse_bad_values_and_timeouts_the_lease_cannot_cover_at_start_up() {
        let base = [
            ("TABLE_NAME", "t"),
            ("PAYLOAD_KEY_SECRET", "k"),
            ("GOPAY_CLIENT_SECRET", "c"),
            ("GOPAY_AUTH_BASE_URL", "https://gw.example"),
            ("GOPAY_CLIENT_BASE_URL", "https://client.example"),
            ("GOPAY_BUCKET", "b"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            Settings::from_env(&Env::from_pairs(&all))
        };
        let s = with(&[]).unwrap();
        assert_eq!((s.concurrency, s.max_profiles), (16, 20_000));
        let run = s.sync_settings("owner");
        assert_eq!(
            (
                run.missing_guard_limit,
                run.dead_token_min_runs,
                run.dead_token_min_span
            ),
            (3, 3, kyc_core::chrono::Duration::hours(24))
        );
        let s = with(&[
            ("GOPAY_DEAD_TOKEN_MIN_RUNS", "5"),
            ("GOPAY_DEAD_TOKEN_MIN_HOURS", "48"),
            ("GOPAY_MISSING_GUARD_LIMIT", "10"),
        ])
        .unwrap();
        let run = s.sync_settings("owner");
        assert_eq!(
            (
                run.missing_guard_limit,
                run.dead_token_min_runs,
                run.dead_token_min_span
            ),
            (10, 5, kyc_core::chrono::Duration::hours(48))
        );
        for (name, bad) in [
            ("GOPAY_DEAD_TOKEN_MIN_RUNS", "1"),
            ("GOPAY_DEAD_TOKEN_MIN_HOURS", "0"),
            ("GOPAY_MISSING_GUARD_LIMIT", "many"),
            ("GOPAY_SYNC_CONCURRENCY", "sixteen"),
            ("GOPAY_SYNC_CONCURRENCY", "0"),
            ("GOPAY_SYNC_MAX_PROFILES", "-1"),
            ("GOPAY_AWS_ATTEMPT_TIMEOUT_SECONDS", "2.5"),
            ("GOPAY_HTTP_TIMEOUT_SECONDS", "60"),
        ] {
            assert_eq!(with(&[(name, bad)]).unwrap_err().name(), name, "{bad}");
        }
        // Before: an unparsable number silently ran with the default.
        assert!(with(&[("GOPAY_DUE_SHARDS", "4 shards")]).is_err());
    }

    #[test]
    fn the_lease_outlives_the_longest_visit_with_the_configured_timeouts() {
        let s = settings().sync_settings("owner");
        assert!(s.validate().is_ok());
        assert!(s.refresh_budget >= kyc_core::chrono::Duration::seconds(8 + 5 * 3));
        let mut slow = settings();
        slow.http_timeout = Duration::from_secs(60);
        assert!(slow.sync_settings("owner").validate().is_err());
    }
}

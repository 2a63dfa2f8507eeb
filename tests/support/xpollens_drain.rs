//! Xpollens fallback-queue drain harness: moto (table, secrets incl. the API client secret),
//! the Xpollens API simulator, the real callback handler for live deliveries, and the drain
//! function's wiring with a DynamoDB client that counts calls and can fail one on demand.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kyc_aws::aws_config::SdkConfig;
use kyc_aws::aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use kyc_aws::aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use kyc_aws::{aws_sdk_dynamodb, aws_sdk_secretsmanager};
use kyc_aws::{s3_client, DynamoStore, S3BodyStore, SecretsManagerSource};
use kyc_core::chrono::{DateTime, Utc};
use kyc_core::crypto::Keyring;
use kyc_core::intake::{EventStore, HistoryEntry};
use kyc_core::secrets::Cached;
use kyc_xpollens::api::{ApiConfig, ApiCredentials, ClientAuth, XpollensApi};
use kyc_xpollens::delivery::Recorder;
use kyc_xpollens::drain::{DrainReport, DrainSettings};
use kyc_xpollens::endpoint::Endpoint;
use kyc_xpollens::http::ReqwestApiTransport;
use xpollens_queue_drain::{DrainFailed, Wiring};
use xpollens_sim::{SimConfig, XpollensSim};

use crate::{provision, settings, Delivery, Moto, BODY_BUCKET, TABLE, XPOLLENS_PAYLOAD_KEY_SECRET};

pub const API_SECRET: &str = "kyc-hooks/xpollens-api";

/// Counts DynamoDB calls and fails the `fail_call`-th one from now (1 = the next), as an
/// outage in the middle of a page would.
#[derive(Debug, Default, Clone)]
pub struct DdbProbe {
    pub calls: Arc<AtomicUsize>,
    pub fail_call: Arc<AtomicI64>,
    pub failed: Arc<AtomicUsize>,
}

impl Intercept for DdbProbe {
    fn name(&self) -> &'static str {
        "DrainDdbProbe"
    }
    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_call.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err("injected failure: DynamoDB unavailable".into());
        }
        Ok(())
    }
}

impl DdbProbe {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    /// Fails the `n`-th DynamoDB call from now (once).
    pub fn fail_nth_call(&self, n: i64) {
        self.fail_call.store(n, Ordering::SeqCst);
    }
}

pub struct DrainEnv {
    pub moto: Moto,
    pub config: SdkConfig,
    pub sim: XpollensSim,
    pub probe: DdbProbe,
    /// The live callback endpoint (the real handler's wiring).
    pub endpoint: Endpoint,
    /// One API client for the whole test: its token cache lives across runs, as in a warm
    /// Lambda.
    pub api: Arc<XpollensApi>,
    /// The table as the drain function writes it (its keys are checked against its role).
    pub events: Arc<DynamoStore>,
    /// The table as the tests read it (across providers: no function's role).
    pub reader: DynamoStore,
}

impl DrainEnv {
    pub async fn start(sim_config: SimConfig) -> Self {
        let moto = Moto::start();
        let config = moto.sdk_config().await;
        provision(&config, TABLE).await;
        let sim = XpollensSim::start(sim_config).await.expect("simulator");
        aws_sdk_secretsmanager::Client::new(&config)
            .create_secret()
            .name(API_SECRET)
            .secret_string(sim.credentials_json())
            .send()
            .await
            .expect("create API secret");
        let probe = DdbProbe::default();
        let ddb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(
                &moto
                    .sdk_config_for(crate::Function::XpollensQueueDrain)
                    .await,
            )
            .interceptor(probe.clone())
            .build(),
        );
        let endpoint = xpollens_callback::build_endpoint(
            &settings(TABLE),
            &moto.sdk_config_for(crate::Function::XpollensCallback).await,
        )
        .expect("endpoint");
        let secrets = Arc::new(SecretsManagerSource::new(&config));
        let api = Arc::new(XpollensApi::new(
            Arc::new(ReqwestApiTransport::new(Duration::from_secs(5)).unwrap()),
            ApiConfig::new(
                &sim.base_url(),
                &sim.token_url(),
                sim.config().scope.as_deref(),
                ClientAuth::Basic,
            )
            .unwrap(),
            Cached::new(secrets, API_SECRET, Duration::from_secs(300), |s| {
                ApiCredentials::from_secret_json(s.current.expose())
            }),
            Arc::new(Utc::now),
        ));
        Self {
            reader: DynamoStore::new(&config, TABLE),
            events: Arc::new(
                DynamoStore::from_client(ddb, TABLE).with_body_store(Arc::new(S3BodyStore::new(
                    s3_client(&config),
                    BODY_BUCKET,
                    "xpollens/",
                ))),
            ),
            moto,
            config,
            sim,
            probe,
            endpoint,
            api,
        }
    }

    /// The drain function's wiring, with the counting DynamoDB client.
    pub fn wiring(&self, limit: u32) -> Wiring {
        let secrets = Arc::new(SecretsManagerSource::new(&self.config));
        Wiring {
            api: self.api.clone(),
            recorder: Arc::new(Recorder {
                store: self.events.clone(),
                keys: Keyring::cached(
                    secrets,
                    XPOLLENS_PAYLOAD_KEY_SECRET,
                    Duration::from_secs(300),
                ),
            }),
            settings: DrainSettings::new(limit).unwrap(),
            clock: Arc::new(Utc::now),
        }
    }

    /// The API client, its queue answers bounded at `bytes` (the oversized paths without
    /// 32 MiB pages).
    pub fn bounded_api(&self, bytes: usize) -> Arc<XpollensApi> {
        let secrets = Arc::new(SecretsManagerSource::new(&self.config));
        Arc::new(
            XpollensApi::new(
                Arc::new(ReqwestApiTransport::new(Duration::from_secs(5)).unwrap()),
                ApiConfig::new(
                    &self.sim.base_url(),
                    &self.sim.token_url(),
                    self.sim.config().scope.as_deref(),
                    ClientAuth::Basic,
                )
                .unwrap(),
                Cached::new(secrets, API_SECRET, Duration::from_secs(300), |s| {
                    ApiCredentials::from_secret_json(s.current.expose())
                }),
                Arc::new(Utc::now),
            )
            .with_max_page_bytes(bytes),
        )
    }

    /// One scheduled run with another API client.
    pub async fn drain_with(
        &self,
        api: Arc<XpollensApi>,
        limit: u32,
    ) -> Result<DrainReport, DrainFailed> {
        let deadline = Utc::now().timestamp_millis() as u64 + 60_000;
        let mut wiring = self.wiring(limit);
        wiring.api = api;
        wiring.invoke(deadline).await
    }

    /// One scheduled run, with a minute before its deadline.
    pub async fn drain(&self, limit: u32) -> Result<DrainReport, DrainFailed> {
        let deadline = Utc::now().timestamp_millis() as u64 + 60_000;
        self.wiring(limit).invoke(deadline).await
    }

    /// A live delivery through the real callback handler; the HTTP status it answered.
    pub async fn live(&self, d: &Delivery) -> u16 {
        xpollens_callback::handle(&self.endpoint, d.request())
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn history(&self, subject: &str) -> Vec<HistoryEntry> {
        self.reader.history(subject).await.unwrap()
    }
}

/// `Webhook-Processdate` as the live header writes it.
pub fn header_date(at: DateTime<Utc>) -> String {
    at.format("%d/%m/%Y %H:%M:%S +00:00").to_string()
}

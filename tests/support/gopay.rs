//! GoPay test harness: moto (table with the due index, secrets, PDF bucket) + the GoPay
//! simulator, the real consent handler and sync run wired to both, and a DynamoDB interceptor
//! that counts calls (Scan separately) and can fail the rotated-token write on demand.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gopay_sim::{GoPaySim, SimConfig};
use kyc_aws::aws_config::SdkConfig;
use kyc_aws::aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use kyc_aws::aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use kyc_aws::aws_sdk_dynamodb::operation::scan::ScanInput;
use kyc_aws::aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use kyc_aws::{aws_sdk_dynamodb, aws_sdk_s3, aws_sdk_secretsmanager};
use kyc_aws::{DynamoStore, SecretsManagerSource};
use kyc_core::chrono::Duration as ChronoDuration;
use kyc_core::crypto::Keyring;
use kyc_core::intake::EventStore;
use kyc_core::secrets::Cached;
use kyc_gopay::aws::http::ReqwestTransport;
use kyc_gopay::aws::store::{DynamoGoPayStore, S3Objects};
use kyc_gopay::client::credentials_from_json;
use kyc_gopay::consent::{CompletionMode, GoPayHosts, DEFAULT_STATE_TTL};
use kyc_gopay::consent_endpoint::ConsentEndpoint;
use kyc_gopay::store::GoPayStore;
use kyc_gopay::sync::{Clock, SyncDeps, SyncReport, SyncSettings};

use crate::{Moto, GOPAY_PAYLOAD_KEY_SECRET, TABLE};

pub const GOPAY_CLIENT_SECRET: &str = "kyc-hooks/gopay-client";
pub const BUCKET: &str = "kyc-hooks-gopay";
pub const REDIRECT_URI: &str = "https://api.example/gopay/callback";
/// The bank's front-end page GoPay sends the browser back to (completion in the bank's session).
pub const FRONTEND_URI: &str = "https://app.example/gopay/return";
pub const SUCCESS_URL: &str = "https://app.example/gopay/done";
pub const FAILURE_URL: &str = "https://app.example/gopay/failed";

/// Counts DynamoDB calls (Scans separately) and fails the next `fail_rotations` writes of a
/// rotated refresh token, as an outage right after a refresh would.
#[derive(Debug, Default, Clone)]
pub struct DdbProbe {
    pub calls: Arc<AtomicUsize>,
    pub scans: Arc<AtomicUsize>,
    pub fail_rotations: Arc<AtomicUsize>,
    pub failed_rotations: Arc<AtomicUsize>,
}

impl Intercept for DdbProbe {
    fn name(&self) -> &'static str {
        "DdbProbe"
    }
    fn read_before_execution(
        &self,
        ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if ctx.input().downcast_ref::<ScanInput>().is_some() {
            self.scans.fetch_add(1, Ordering::SeqCst);
        }
        let is_rotation = ctx
            .input()
            .downcast_ref::<UpdateItemInput>()
            .and_then(|u| u.update_expression())
            .is_some_and(|e| e.contains("sealedRefresh = :r"));
        if is_rotation
            && self
                .fail_rotations
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            self.failed_rotations.fetch_add(1, Ordering::SeqCst);
            return Err("injected failure: rotated-token write".into());
        }
        Ok(())
    }
}

impl DdbProbe {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    pub fn scans(&self) -> usize {
        self.scans.load(Ordering::SeqCst)
    }
}

/// Table with GSI1, payload key, GoPay client credentials, PDF bucket.
pub async fn provision_gopay(config: &SdkConfig, sim: &SimConfig) {
    crate::create_kyc_table(config, TABLE).await;
    let sm = aws_sdk_secretsmanager::Client::new(config);
    crate::create_payload_key_secrets(&sm).await;
    sm.create_secret()
        .name(GOPAY_CLIENT_SECRET)
        .secret_string(
            serde_json::json!({"clientId": sim.client_id, "clientSecret": sim.client_secret})
                .to_string(),
        )
        .send()
        .await
        .expect("create client secret");
    S3Objects::client(config)
        .create_bucket()
        .bucket(BUCKET)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest3)
                .build(),
        )
        .send()
        .await
        .expect("create bucket");
    crate::set_default_encryption(&S3Objects::client(config), BUCKET, None).await;
}

/// moto + simulator + the wiring the functions use, with the simulator's clock.
pub struct GoPayEnv {
    pub sim: Arc<GoPaySim>,
    pub config: SdkConfig,
    pub probe: DdbProbe,
    /// The table as the tests read and seed it (no function's role).
    pub ddb: aws_sdk_dynamodb::Client,
    /// The table as the consent function reaches it (its keys are checked against its role).
    pub consent_ddb: aws_sdk_dynamodb::Client,
    /// The table as the sync function reaches it (its keys are checked against its role).
    pub sync_ddb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub transport: Arc<ReqwestTransport>,
    pub secrets: Arc<SecretsManagerSource>,
    pub shards: u32,
    // Last: moto stops after everything that talks to it.
    pub moto: Moto,
}

impl GoPayEnv {
    pub async fn start(sim_config: SimConfig) -> Self {
        let moto = Moto::start();
        let config = moto.sdk_config().await;
        provision_gopay(&config, &sim_config).await;
        let sim = Arc::new(GoPaySim::start(sim_config).await.expect("simulator starts"));
        let probe = DdbProbe::default();
        let client_as = |config: &SdkConfig| {
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(config)
                    .interceptor(probe.clone())
                    .build(),
            )
        };
        let ddb = client_as(&config);
        let consent_ddb = client_as(&moto.sdk_config_for(crate::Function::GoPayConsent).await);
        let sync_ddb = client_as(&moto.sdk_config_for(crate::Function::GoPaySync).await);
        Self {
            s3: S3Objects::client(&config),
            transport: Arc::new(ReqwestTransport::new(Duration::from_secs(5)).unwrap()),
            secrets: Arc::new(SecretsManagerSource::new(&config)),
            sim,
            config,
            probe,
            ddb,
            consent_ddb,
            sync_ddb,
            shards: 4,
            moto,
        }
    }

    /// The simulator's clock: tokens, codes, leases and due times all use the same time.
    pub fn clock(&self) -> Clock {
        let sim = self.sim.clone();
        Arc::new(move || sim.now())
    }

    pub fn hosts(&self) -> GoPayHosts {
        GoPayHosts::new(&self.sim.auth_base_url(), &self.sim.client_base_url()).unwrap()
    }

    pub fn store(&self) -> Arc<dyn GoPayStore> {
        Arc::new(DynamoGoPayStore::new(self.ddb.clone(), TABLE, self.shards))
    }

    pub fn events(&self) -> Arc<dyn EventStore> {
        Arc::new(DynamoStore::from_client(self.ddb.clone(), TABLE))
    }

    fn keys(&self) -> Cached<Keyring> {
        Keyring::cached(
            self.secrets.clone(),
            GOPAY_PAYLOAD_KEY_SECRET,
            Duration::from_secs(300),
        )
    }

    fn credentials(&self) -> Cached<kyc_gopay::tokens::ClientCredentials> {
        Cached::new(
            self.secrets.clone(),
            GOPAY_CLIENT_SECRET,
            Duration::from_secs(300),
            |staged| credentials_from_json(staged.current.expose()),
        )
    }

    /// The consent function completing through the direct callback (`GET /gopay/callback`).
    pub fn consent_endpoint(&self) -> ConsentEndpoint {
        self.endpoint_in(CompletionMode::DirectCallback)
    }

    /// The consent function completing in the bank's session (`POST /gopay/consents/complete`).
    pub fn bank_session_endpoint(&self) -> ConsentEndpoint {
        self.endpoint_in(CompletionMode::BankSession)
    }

    fn endpoint_in(&self, completion: CompletionMode) -> ConsentEndpoint {
        ConsentEndpoint {
            store: Arc::new(DynamoGoPayStore::new(
                self.consent_ddb.clone(),
                TABLE,
                self.shards,
            )),
            rescue: Arc::new(S3Objects::new(self.s3.clone(), BUCKET)),
            events: Arc::new(DynamoStore::from_client(self.consent_ddb.clone(), TABLE)),
            transport: self.transport.clone(),
            hosts: self.hosts(),
            credentials: self.credentials(),
            keys: self.keys(),
            redirect_uri: match completion {
                CompletionMode::BankSession => FRONTEND_URI.into(),
                CompletionMode::DirectCallback => REDIRECT_URI.into(),
            },
            completion,
            state_ttl: DEFAULT_STATE_TTL,
            success_url: SUCCESS_URL.into(),
            failure_url: FAILURE_URL.into(),
            clock: self.clock(),
            counters: Default::default(),
        }
    }

    /// The payload keyring (to open what the functions sealed).
    pub async fn keyring(&self) -> std::sync::Arc<Keyring> {
        self.keys().get().await.expect("payload key")
    }

    pub fn sync_deps(&self) -> SyncDeps {
        let objects = Arc::new(S3Objects::new(self.s3.clone(), BUCKET));
        SyncDeps {
            store: Arc::new(DynamoGoPayStore::new(
                self.sync_ddb.clone(),
                TABLE,
                self.shards,
            )),
            events: Arc::new(DynamoStore::from_client(self.sync_ddb.clone(), TABLE)),
            rescue: objects.clone(),
            pdfs: objects,
            transport: self.transport.clone(),
            hosts: self.hosts(),
            credentials: self.credentials(),
            keys: self.keys(),
            clock: self.clock(),
        }
    }

    pub fn sync_settings(&self, owner: &str) -> SyncSettings {
        let mut s = SyncSettings::new(owner);
        s.shards = self.shards;
        s
    }

    /// One sync run with a deadline 15 simulated minutes ahead.
    pub async fn sync(&self, owner: &str) -> SyncReport {
        let deadline = self.sim.now() + ChronoDuration::minutes(15);
        kyc_gopay::sync::run(self.sync_deps(), self.sync_settings(owner), deadline)
            .await
            .expect("sync run")
    }

    /// The consent handler through its Lambda entry point, as the customer's browser or
    /// anyone unauthenticated reaches it (no IAM attestation).
    pub async fn call(
        &self,
        endpoint: &ConsentEndpoint,
        method: &str,
        path_and_query: &str,
        body: &str,
    ) -> lambda_http::Response<lambda_http::Body> {
        gopay_consent::handle(endpoint, request(method, path_and_query, body))
            .await
            .unwrap()
    }

    /// The same, signed by our backend (SigV4) and attested by API Gateway's IAM authorizer,
    /// as `POST /gopay/consents` requires.
    pub async fn call_signed(
        &self,
        endpoint: &ConsentEndpoint,
        method: &str,
        path_and_query: &str,
        body: &str,
    ) -> lambda_http::Response<lambda_http::Body> {
        let request = crate::iam_signed(request(method, path_and_query, body));
        gopay_consent::handle(endpoint, request).await.unwrap()
    }

    /// Starts a consent for `customer` and lets the simulator's consent page answer: the
    /// callback path and query GoPay redirects the browser to.
    pub async fn consent_redirect(&self, endpoint: &ConsentEndpoint, customer: &str) -> String {
        let url = self
            .start_consent(endpoint, serde_json::json!({ "customerId": customer }))
            .await;
        follow_consent_page(&url).await
    }

    /// `POST /gopay/consents` with `body`: the consent URL.
    pub async fn start_consent(
        &self,
        endpoint: &ConsentEndpoint,
        body: serde_json::Value,
    ) -> String {
        let resp = self
            .call_signed(endpoint, "POST", "/gopay/consents", &body.to_string())
            .await;
        assert_eq!(resp.status().as_u16(), 201, "consent start");
        let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        let url = body["consentUrl"].as_str().unwrap().to_string();
        assert!(url.starts_with(&self.sim.auth_base_url()));
        url
    }

    /// Completion in the bank's session: the customer `starter` starts a consent (with
    /// `declared` identity, if any), GoPay sends the browser to the bank's front end, and the
    /// bank's back end completes it for the customer of ITS session, `completer`. The answer.
    pub async fn bank_session_consent(
        &self,
        endpoint: &ConsentEndpoint,
        starter: &str,
        completer: &str,
        declared: Option<serde_json::Value>,
    ) -> lambda_http::Response<lambda_http::Body> {
        let mut body = serde_json::json!({ "customerId": starter });
        if let Some(d) = declared {
            body["declaredIdentity"] = d;
        }
        let url = self.start_consent(endpoint, body).await;
        let back = follow_consent_page_to(&url, FRONTEND_URI).await;
        let query: std::collections::HashMap<String, String> =
            reqwest::Url::parse(&format!("{FRONTEND_URI}{back}"))
                .expect("GoPay's redirect is a URL")
                .query_pairs()
                .into_owned()
                .collect();
        let mut complete = serde_json::json!({ "customerId": completer, "state": query["state"] });
        match (query.get("code"), query.get("error")) {
            (Some(code), _) => complete["code"] = code.clone().into(),
            (None, Some(error)) => complete["error"] = error.clone().into(),
            (None, None) => panic!("GoPay's redirect carries neither code nor error: {back}"),
        }
        self.call_signed(
            endpoint,
            "POST",
            "/gopay/consents/complete",
            &complete.to_string(),
        )
        .await
    }
}

/// GETs the simulator's consent page and returns the redirect back to `base`: its query.
pub async fn follow_consent_page_to(url: &str, base: &str) -> String {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client.get(url).send().await.expect("consent page");
    assert_eq!(resp.status().as_u16(), 302, "consent page redirects");
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    location
        .strip_prefix(base)
        .unwrap_or_else(|| panic!("redirect to {base}: {location}"))
        .to_string()
}

fn request(method: &str, path_and_query: &str, body: &str) -> lambda_http::Request {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example{path_and_query}"))
        .header("content-type", "application/json")
        .body(lambda_http::Body::Text(body.to_string()))
        .unwrap()
}

/// GETs the simulator's consent page and returns the redirect back, as path + query.
pub async fn follow_consent_page(url: &str) -> String {
    // reqwest uses the process's TLS provider (the build has one: aws-lc-rs).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client.get(url).send().await.expect("consent page");
    assert_eq!(resp.status().as_u16(), 302, "consent page redirects");
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    location
        .strip_prefix("https://api.example")
        .expect("redirect to our callback")
        .to_string()
}

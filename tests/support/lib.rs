//! Test harness: a moto server of its own per test (forked from one warmed-up moto, see
//! [`Moto::start`]), the table and secrets the functions expect, and helpers to drive the real
//! Lambda handler over real SDK calls.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use base64::Engine;
use kyc_aws::aws_config::{self, BehaviorVersion, SdkConfig};
use kyc_aws::aws_sdk_dynamodb::{
    self as aws_sdk_dynamodb,
    config::{Credentials, Region},
};
use kyc_aws::{aws_sdk_s3, aws_sdk_secretsmanager};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Figures each benchmark writes for `make bench`'s closing table.
pub mod bench_results;
/// Every function that reads secrets, as it starts: its secrets in moto and its environment.
pub mod cold_start;
pub mod counting;
/// The IAM key check's recorder: every DynamoDB key each function touches.
pub mod iam_keys;
pub use iam_keys::Function;
/// Downstream: the table's stream, a bus with a consumer queue, state write plans.
pub mod downstream;
pub mod gopay;
/// Sealed values of every provider written by the real code (keyring checks, restore drill).
pub mod keyrings;
/// Trust & Sign archives: buckets, uploads (multipart, streamed), S3 events.
pub mod trust_sign;
/// Xpollens fallback-queue drain: the API simulator, the drain wiring, a DynamoDB probe.
pub mod xpollens_drain;

pub const USERNAME: &str = "xpollens";
pub const PASSWORD: &str = "demo-password";
pub const OLD_PASSWORD: &str = "test-password-previous";
pub const CREDENTIALS_SECRET: &str = "kyc-hooks/xpollens-credentials";
/// One payload keyring per provider (issue 10): a function reads only its provider's.
pub const XPOLLENS_PAYLOAD_KEY_SECRET: &str = "kyc-hooks/payload-key/xpollens";
pub const TRUST_SIGN_PAYLOAD_KEY_SECRET: &str = "kyc-hooks/payload-key/trust-sign";
pub const GOPAY_PAYLOAD_KEY_SECRET: &str = "kyc-hooks/payload-key/gopay";

/// The Secrets Manager values of the three payload keyrings: Xpollens in the single-key form
/// of earlier releases, the others in the keyring form (Trust & Sign with its naming key);
/// different key material each.
pub fn payload_key_secrets() -> [(&'static str, String); 3] {
    use base64::Engine;
    let b64 = |byte: u8| base64::engine::general_purpose::STANDARD.encode([byte; 32]);
    [
        (
            XPOLLENS_PAYLOAD_KEY_SECRET,
            format!(r#"{{"keyId":"test-1","key":"{}"}}"#, b64(42)),
        ),
        (
            TRUST_SIGN_PAYLOAD_KEY_SECRET,
            format!(
                r#"{{"currentKeyId":"ts-1","keys":[{{"keyId":"ts-1","key":"{}"}}],"namingKey":{{"keyId":"ts-names-1","key":"{}"}}}}"#,
                b64(43),
                b64(200)
            ),
        ),
        (
            GOPAY_PAYLOAD_KEY_SECRET,
            format!(
                r#"{{"currentKeyId":"gp-1","keys":[{{"keyId":"gp-1","key":"{}"}}]}}"#,
                b64(44)
            ),
        ),
    ]
}

/// Creates the three payload keyring secrets.
pub async fn create_payload_key_secrets(sm: &aws_sdk_secretsmanager::Client) {
    for (name, value) in payload_key_secrets() {
        sm.create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("create key secret");
    }
}
pub const TABLE: &str = "kyc-hooks";
/// Sealed Xpollens bodies too large for a DynamoDB item.
pub const BODY_BUCKET: &str = "kyc-hooks-payloads";

/// A moto server of its own on a free loopback port, stopped on drop.
pub struct Moto {
    port: u16,
    pub endpoint: String,
}

/// The Python of the project's venv (made by `make test`), or `KYC_PYTHON`.
pub fn project_python() -> PathBuf {
    std::env::var("KYC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| project_root().join(".venv/bin/python"))
}

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 200")
}

/// The test process's moto fork server (`tools/moto_serial.py --fork-server`): moto imported
/// once, a fresh server forked from it for each test, so isolation costs a fork instead of a
/// second of Python start-up per test. It ends with the test process (its stdin closes).
struct ForkServer {
    _process: Child,
    commands: ChildStdin,
    answers: BufReader<ChildStdout>,
}

impl ForkServer {
    fn spawn() -> Self {
        let mut process = Command::new(project_python())
            .arg(project_root().join("tools/moto_serial.py"))
            .arg("--fork-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start moto ({e}); run `make test`, which installs it in .venv")
            });
        let commands = process.stdin.take().expect("piped stdin");
        let answers = BufReader::new(process.stdout.take().expect("piped stdout"));
        ForkServer {
            _process: process,
            commands,
            answers,
        }
    }

    /// Sends one command and reads its one-line answer.
    fn ask(&mut self, command: &str) -> Result<String, String> {
        writeln!(self.commands, "{command}").map_err(|e| format!("its stdin: {e}"))?;
        let mut answer = String::new();
        self.answers
            .read_line(&mut answer)
            .map_err(|e| format!("its stdout: {e}"))?;
        if answer.is_empty() {
            return Err(format!("it ended before answering `{command}`"));
        }
        Ok(answer.trim().to_owned())
    }

    fn shared() -> std::sync::MutexGuard<'static, ForkServer> {
        static SERVER: OnceLock<Mutex<ForkServer>> = OnceLock::new();
        SERVER
            .get_or_init(|| Mutex::new(ForkServer::spawn()))
            .lock()
            // A test that panicked while holding it left the pipes whole: go on.
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Moto {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if let Err(e) = ForkServer::shared().ask(&format!("start {port}")) {
            panic!("moto fork server: {e}");
        }
        let moto = Moto {
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http_ok(port, "/moto-api/") {
            assert!(
                Instant::now() < deadline,
                "moto server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        moto
    }

    /// SDK configuration aimed at this server only (explicit region and static credentials:
    /// nothing in the credential chain can reach for an instance-metadata endpoint).
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("eu-west-3"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .load()
            .await
    }

    /// The configuration `function` runs with in a test: every DynamoDB key it reads or writes
    /// is noted for the IAM key check (`iam_keys`).
    pub async fn sdk_config_for(&self, function: Function) -> SdkConfig {
        self.sdk_config_as(function, kyc_core::legacy_keys::LegacyKeyLayout::Off)
            .await
    }

    /// As [`Self::sdk_config_for`], for a function run with `LEGACY_KEY_LAYOUT` = `layout`.
    pub async fn sdk_config_as(
        &self,
        function: Function,
        layout: kyc_core::legacy_keys::LegacyKeyLayout,
    ) -> SdkConfig {
        let base = self.sdk_config().await;
        let inner = aws_smithy_http_client::Builder::new().build_http();
        base.into_builder()
            .http_client(iam_keys::recording(inner, function, layout))
            .build()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Never a panic here: a test already failing must report its own failure.
        let _ = ForkServer::shared().ask(&format!("stop {}", self.port));
    }
}

pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `schemas/kyc-table.json`: the table as `template.yaml` defines it
/// (tests/integration/table_schema.rs checks the two agree), in CreateTable form.
pub fn table_schema() -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/kyc-table.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Creates the table from [`table_schema`]: keys, GSI1 (keys only), the stream, TTL.
pub async fn create_kyc_table(config: &SdkConfig, table: &str) {
    let schema = table_schema();
    let text =
        |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k}")).to_string();
    let keys = |v: &serde_json::Value| -> Vec<KeySchemaElement> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(text(k, "AttributeName"))
                    .key_type(KeyType::from(text(k, "KeyType").as_str()))
                    .build()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(schema["BillingMode"], "PAY_PER_REQUEST");
    let mut create = aws_sdk_dynamodb::Client::new(config)
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(keys(&schema["KeySchema"])));
    for a in schema["AttributeDefinitions"].as_array().unwrap() {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(a, "AttributeName"))
                .attribute_type(ScalarAttributeType::from(text(a, "AttributeType").as_str()))
                .build()
                .unwrap(),
        );
    }
    for g in schema["GlobalSecondaryIndexes"].as_array().unwrap() {
        let projection = &g["Projection"];
        create =
            create.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(text(g, "IndexName"))
                    .set_key_schema(Some(keys(&g["KeySchema"])))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(
                                text(projection, "ProjectionType").as_str(),
                            ))
                            .set_non_key_attributes(projection["NonKeyAttributes"].as_array().map(
                                |a| a.iter().map(|n| n.as_str().unwrap().to_string()).collect(),
                            ))
                            .build(),
                    )
                    .build()
                    .unwrap(),
            );
    }
    let stream = &schema["StreamSpecification"];
    if stream["StreamEnabled"] == true {
        create = create.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(
                    text(stream, "StreamViewType").as_str(),
                ))
                .build()
                .unwrap(),
        );
    }
    create.send().await.expect("create table");
    aws_sdk_dynamodb::Client::new(config)
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(text(&schema, "TimeToLiveAttribute"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("table TTL");
}

/// A bucket's default encryption as template.yaml sets it: SSE-KMS with a bucket key under
/// `kms_key` (`DataKmsKeyArn`), or SSE-S3. The product's writers send no encryption header.
pub async fn set_default_encryption(s3: &aws_sdk_s3::Client, bucket: &str, kms_key: Option<&str>) {
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    let default = match kms_key {
        Some(key) => ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::AwsKms)
            .kms_master_key_id(key),
        None => {
            ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256)
        }
    };
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(default.build().unwrap())
                        .bucket_key_enabled(kms_key.is_some())
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("bucket default encryption");
}

/// Creates the table and both secrets (credentials with a previous stage, as after a rotation).
pub async fn provision(config: &SdkConfig, table: &str) {
    create_kyc_table(config, table).await;
    kyc_aws::s3_client(config)
        .create_bucket()
        .bucket(BODY_BUCKET)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest3)
                .build(),
        )
        .send()
        .await
        .expect("create body bucket");
    set_default_encryption(&kyc_aws::s3_client(config), BODY_BUCKET, None).await;
    let sm = aws_sdk_secretsmanager::Client::new(config);
    let cred =
        |p: &str| format!(r#"{{"scheme":"basic","username":"{USERNAME}","password":"{p}"}}"#);
    sm.create_secret()
        .name(CREDENTIALS_SECRET)
        .secret_string(cred(OLD_PASSWORD))
        .send()
        .await
        .expect("create secret");
    // PutSecretValue moves AWSCURRENT to the new version and AWSPREVIOUS to the old one.
    sm.put_secret_value()
        .secret_id(CREDENTIALS_SECRET)
        .secret_string(cred(PASSWORD))
        .send()
        .await
        .expect("rotate secret");
    create_payload_key_secrets(&sm).await;
}

pub fn settings(table: &str) -> xpollens_callback::Settings {
    xpollens_callback::Settings {
        table: table.into(),
        credentials_secret: CREDENTIALS_SECRET.into(),
        payload_key_secret: XPOLLENS_PAYLOAD_KEY_SECRET.into(),
        body_bucket: BODY_BUCKET.into(),
        allowed_cidrs: String::new(),
        secret_ttl: Duration::from_secs(300),
        previous_credential_grace: Duration::from_secs(24 * 3600),
        callback_auth: kyc_core::callback_auth::CallbackAuthMode::Basic,
        legacy_keys: Default::default(),
    }
}

/// One callback delivery as API Gateway would hand it to the function.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub path: String,
    pub webhook_id: Option<String>,
    pub process_date: Option<String>,
    pub body: String,
    pub authorization: String,
}

impl Delivery {
    pub fn new(webhook_id: &str, process_date: &str, body: &str) -> Self {
        Self {
            path: "/xpollens/callbacks".into(),
            webhook_id: Some(webhook_id.into()),
            process_date: Some(process_date.into()),
            body: body.into(),
            authorization: basic(USERNAME, PASSWORD),
        }
    }

    pub fn request(&self) -> lambda_http::Request {
        let mut b = lambda_http::http::Request::builder()
            .method("POST")
            .uri(format!("https://api.example{}", self.path))
            .header("content-type", "application/json")
            .header("authorization", &self.authorization);
        if let Some(id) = &self.webhook_id {
            b = b.header("webhook-id", id);
        }
        if let Some(d) = &self.process_date {
            b = b.header("webhook-processdate", d);
        }
        b.body(lambda_http::Body::Text(self.body.clone())).unwrap()
    }
}

/// The request as API Gateway hands it over after its IAM authorizer checked the SigV4
/// signature (HTTP API payload 2.0, `requestContext.authorizer.iam`). The IAM routes (read
/// API, `POST /gopay/consents`) refuse a request without it.
pub fn iam_signed(request: lambda_http::Request) -> lambda_http::Request {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    let context = serde_json::from_value(serde_json::json!({
        "accountId": "123456789012", "apiId": "a1b2c3d4e5", "stage": "$default",
        "requestId": "test", "routeKey": "$default",
        "domainName": "a1b2c3d4e5.execute-api.eu-west-3.amazonaws.com", "domainPrefix": "a1b2c3d4e5",
        "time": "27/Nov/2026:10:00:00 +0000", "timeEpoch": 1795773600000u64,
        "http": {"method": request.method().as_str(), "path": request.uri().path(),
            "protocol": "HTTP/1.1", "sourceIp": "10.20.30.40", "userAgent": "integration-test"},
        "authorizer": {"iam": {"accessKey": "ASIAEXAMPLEBANKCORE1", "accountId": "123456789012",
            "callerId": "AROAEXAMPLEBANKCORE01:test", "cognitoIdentity": null,
            "principalOrgId": null, "userId": "AROAEXAMPLEBANKCORE01:test",
            "userArn": "arn:aws:sts::123456789012:assumed-role/bank-core-kyc/test"}}
    }))
    .expect("an API Gateway v2 request context");
    request.with_request_context(RequestContext::ApiGatewayV2(context))
}

/// What API Gateway's IAM authorizer attests (as [`iam_signed`]), for calls of an IAM route's
/// plain handler (`HttpRequest::gateway`).
pub fn iam_attestation() -> kyc_core::callback_auth::GatewayAttestation {
    kyc_core::callback_auth::GatewayAttestation {
        iam: Some(kyc_core::iam_route::IamCaller {
            user_arn: "arn:aws:sts::123456789012:assumed-role/bank-core-kyc/test".into(),
            account_id: "123456789012".into(),
            access_key: "ASIAEXAMPLEBANKCORE1".into(),
            caller_id: "AROAEXAMPLEBANKCORE01:test".into(),
        }),
        ..Default::default()
    }
}

/// Loads an `events/*.json` API Gateway event as the request the runtime would build.
pub fn event_file(name: &str) -> lambda_http::Request {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// Creates an S3 bucket with Object Lock enabled (the evidence bucket's kind).
pub async fn create_locked_bucket(s3: &kyc_aws::aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .create_bucket_configuration(
            kyc_aws::aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(kyc_aws::aws_sdk_s3::types::BucketLocationConstraint::EuWest3)
                .build(),
        )
        .send()
        .await
        .expect("create an Object Lock bucket");
}

/// The start of the hour a test's writes will fall in, waiting for the next hour first if fewer
/// than `room` seconds are left in this one. Tests that seal "the hour of the writes" set the
/// seal's clock from this (`hour + 81 min`: the hour ended, plus the seal's 20-minute delay):
/// a clock read after the writes would start the chain one hour late when they ran in an
/// hour's last minute, and writes that straddle two hours would not be "the hour".
pub async fn an_hour_with_room(room: u64) -> kyc_core::chrono::DateTime<kyc_core::chrono::Utc> {
    use kyc_core::chrono::{DurationRound, Utc};
    let hour = kyc_core::chrono::Duration::hours(1);
    let start = Utc::now()
        .duration_trunc(hour)
        .expect("an hour divides time");
    let left = (start + hour - Utc::now()).num_milliseconds().max(0) as u64;
    if left >= room * 1000 {
        return start;
    }
    tokio::time::sleep(std::time::Duration::from_millis(left + 100)).await;
    start + hour
}

/// When the seal has sealed `hour` and nothing later: the hour ended `delay` ago, plus a minute.
pub fn sealing_time(
    hour: kyc_core::chrono::DateTime<kyc_core::chrono::Utc>,
) -> kyc_core::chrono::DateTime<kyc_core::chrono::Utc> {
    hour + kyc_core::chrono::Duration::hours(1)
        + kyc_evidence::seal::SealSettings::default().delay
        + kyc_core::chrono::Duration::minutes(1)
}

//! Every function that reads secrets, as it starts: the secrets and buckets it needs in moto,
//! and its environment (issue 21). Shared by the cold-start test (each function's wiring in
//! process, its AWS calls counted at the lambda-harness proxy) and `coldstart-bench` (the
//! release binaries under the harness).

use crate::gopay::{BUCKET as GOPAY_BUCKET, GOPAY_CLIENT_SECRET};
use crate::trust_sign::BUCKET as ARCHIVE_BUCKET;
use crate::xpollens_drain::API_SECRET as XPOLLENS_API_SECRET;
use crate::{
    provision, BODY_BUCKET, CREDENTIALS_SECRET, GOPAY_PAYLOAD_KEY_SECRET, TABLE,
    TRUST_SIGN_PAYLOAD_KEY_SECRET, XPOLLENS_PAYLOAD_KEY_SECRET,
};
use base64::Engine;
use kyc_aws::aws_config::SdkConfig;
use kyc_aws::{aws_sdk_s3, aws_sdk_secretsmanager};

/// The functions that read secrets, by binary name.
pub const SECRET_READERS: [&str; 5] = [
    "xpollens-callback",
    "xpollens-queue-drain",
    "trust-sign-archive",
    "gopay-consent",
    "gopay-sync",
];

/// Where the functions' outside services (the provider simulators) answer.
#[derive(Clone, Debug)]
pub struct Upstreams {
    pub gopay_auth: String,
    pub gopay_client: String,
    pub xpollens: String,
}

impl Default for Upstreams {
    /// Loopback addresses nothing listens on: enough to start (nothing is called at init).
    fn default() -> Self {
        Self {
            gopay_auth: "http://127.0.0.1:9".into(),
            gopay_client: "http://127.0.0.1:9".into(),
            xpollens: "http://127.0.0.1:9".into(),
        }
    }
}

/// The table, buckets and every secret the five functions read, as after a deployment's
/// first setup: the keyrings in the keyring form (the single-key form reads AWSPREVIOUS too),
/// the callback credential rotated once (AWSPREVIOUS exists, as during a grace period).
pub async fn provision_every_function(
    config: &SdkConfig,
    gopay_client_json: &str,
    xpollens_api_json: &str,
) {
    provision(config, TABLE).await;
    let sm = aws_sdk_secretsmanager::Client::new(config);
    let b64 = |byte: u8| base64::engine::general_purpose::STANDARD.encode([byte; 32]);
    // Xpollens' keyring moved from the single-key form (same id and material).
    sm.put_secret_value()
        .secret_id(XPOLLENS_PAYLOAD_KEY_SECRET)
        .secret_string(
            serde_json::json!({"currentKeyId": "test-1",
                "keys": [{"keyId": "test-1", "key": b64(42)}]})
            .to_string(),
        )
        .send()
        .await
        .expect("Xpollens keyring form");
    for (name, value) in [
        (GOPAY_CLIENT_SECRET, gopay_client_json),
        (XPOLLENS_API_SECRET, xpollens_api_json),
    ] {
        sm.create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("create secret");
    }
    let s3 = kyc_aws::s3_client(config);
    for bucket in [GOPAY_BUCKET, ARCHIVE_BUCKET] {
        s3.create_bucket()
            .bucket(bucket)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest3)
                    .build(),
            )
            .send()
            .await
            .expect("create bucket");
    }
}

/// A function's own environment variables (the AWS ones are the caller's).
pub fn function_env(function: &str, up: &Upstreams) -> Vec<(&'static str, String)> {
    let common = [("TABLE_NAME", TABLE.to_string())];
    let own: Vec<(&'static str, String)> = match function {
        "xpollens-callback" => vec![
            ("XPOLLENS_CREDENTIALS_SECRET", CREDENTIALS_SECRET.into()),
            ("PAYLOAD_KEY_SECRET", XPOLLENS_PAYLOAD_KEY_SECRET.into()),
            ("XPOLLENS_BODY_BUCKET", BODY_BUCKET.into()),
        ],
        "xpollens-queue-drain" => vec![
            ("PAYLOAD_KEY_SECRET", XPOLLENS_PAYLOAD_KEY_SECRET.into()),
            ("XPOLLENS_BODY_BUCKET", BODY_BUCKET.into()),
            ("XPOLLENS_API_SECRET", XPOLLENS_API_SECRET.into()),
            ("XPOLLENS_API_BASE_URL", up.xpollens.clone()),
            (
                "XPOLLENS_TOKEN_URL",
                format!("{}{}", up.xpollens, xpollens_sim::TOKEN_PATH),
            ),
            // The scope the simulator requires, as Xpollens does.
            (
                "XPOLLENS_API_SCOPE",
                xpollens_sim::SimConfig::default().scope.unwrap_or_default(),
            ),
        ],
        "trust-sign-archive" => vec![("PAYLOAD_KEY_SECRET", TRUST_SIGN_PAYLOAD_KEY_SECRET.into())],
        "gopay-consent" | "gopay-sync" => {
            let mut v = vec![
                ("PAYLOAD_KEY_SECRET", GOPAY_PAYLOAD_KEY_SECRET.into()),
                ("GOPAY_CLIENT_SECRET", GOPAY_CLIENT_SECRET.into()),
                ("GOPAY_AUTH_BASE_URL", up.gopay_auth.clone()),
                ("GOPAY_CLIENT_BASE_URL", up.gopay_client.clone()),
                ("GOPAY_BUCKET", GOPAY_BUCKET.into()),
            ];
            if function == "gopay-consent" {
                v.extend([
                    ("GOPAY_REDIRECT_URI", crate::gopay::REDIRECT_URI.into()),
                    // The default completion mode (bank-session, issue 22) needs the bank's page.
                    (
                        "GOPAY_FRONTEND_REDIRECT_URI",
                        crate::gopay::FRONTEND_URI.into(),
                    ),
                    ("GOPAY_SUCCESS_URL", crate::gopay::SUCCESS_URL.into()),
                    ("GOPAY_FAILURE_URL", crate::gopay::FAILURE_URL.into()),
                ]);
            }
            v
        }
        other => panic!("{other} reads no secret"),
    };
    common.into_iter().chain(own).collect()
}

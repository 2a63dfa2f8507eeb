//! `kyc gopay inspect FILE` (offline), `kyc gopay revoke CUSTOMER` and
//! `kyc gopay reactivate CUSTOMER`.

use std::time::Duration;

use kyc_aws::{DynamoStore, SecretsManagerSource};
use kyc_core::crypto::Keyring;
use kyc_core::secrets::SecretSource;
use kyc_gopay::admin::Admin;
use kyc_gopay::aws::http::ReqwestTransport;
use kyc_gopay::aws::store::{with_timeouts, DynamoGoPayStore};
use kyc_gopay::client::{credentials_from_json, GoPayApi};
use kyc_gopay::consent::GoPayHosts;
use kyc_gopay::IdentificationStatus;
use serde_json::Value;

use crate::failure::{transient, Failure};

/// An identification-status response, normalized, personal data redacted.
pub fn inspect(file: &std::path::Path) -> Result<Value, Failure> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let status =
        IdentificationStatus::parse(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(status.normalized_view())
}

/// Where `revoke` and `reactivate` find things (flags or the functions' environment variables).
#[derive(clap::Args)]
pub struct RevokeSettings {
    /// The DynamoDB table, e.g. kyc-hooks-prod.
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    pub table: String,
    #[command(flatten)]
    pub payload_key: crate::GoPayKeySecret,
    /// Secrets Manager secret `{"clientId","clientSecret"}`, e.g. kyc-hooks/gopay-client.
    #[arg(
        long,
        env = "GOPAY_CLIENT_SECRET",
        default_value = "kyc-hooks/gopay-client"
    )]
    pub client_secret: String,
    /// GoPay's OAuth host, e.g. `https://gw.sandbox.gopay.com` (the functions' setting).
    #[arg(long, env = "GOPAY_AUTH_BASE_URL")]
    pub auth_base_url: String,
    /// GoPay's client API host, e.g. `https://gw.sandbox.gopay.com` (the functions' setting).
    #[arg(long, env = "GOPAY_CLIENT_BASE_URL")]
    pub client_base_url: String,
    /// Shards of the due index, as the functions' GOPAY_DUE_SHARDS, e.g. 4.
    #[arg(long, env = "GOPAY_DUE_SHARDS", default_value_t = 4)]
    pub due_shards: u32,
}

/// Revokes the customer's consent at GoPay under the profile's lease, then marks the profile
/// revoked (tokens erased, out of the schedule) and records the event. Only GoPay refusing the
/// token itself (`invalid_grant`) counts as already revoked; an inconclusive answer changes
/// nothing (rules: `kyc_gopay::admin`).
pub async fn revoke(customer: &str, s: &RevokeSettings) -> Result<Value, Failure> {
    with_admin(s, Action::Revoke, customer).await
}

/// Puts a profile wrongly taken out of service (`needsConsent`, `unknownAtGoPay`) back in
/// service with its kept refresh token, due now, and records the consent as GRANTED again.
pub async fn reactivate(customer: &str, s: &RevokeSettings) -> Result<Value, Failure> {
    with_admin(s, Action::Reactivate, customer).await
}

#[derive(Clone, Copy)]
enum Action {
    Revoke,
    Reactivate,
}

async fn with_admin(s: &RevokeSettings, action: Action, customer: &str) -> Result<Value, Failure> {
    let config = with_timeouts(
        &kyc_aws::load_config().await,
        Duration::from_secs(10),
        Duration::from_secs(3),
    );
    let ddb = kyc_aws::aws_sdk_dynamodb::Client::new(&config);
    let legacy = crate::legacy_layout()?;
    let store =
        DynamoGoPayStore::new(ddb.clone(), &s.table, s.due_shards).with_legacy_layout(legacy);
    let events = DynamoStore::from_client(ddb, &s.table).with_legacy_layout(legacy);
    let secrets = SecretsManagerSource::new(&config);
    let keys = Keyring::from_staged(&secrets.staged(&s.payload_key.name).await?)?;
    let credentials =
        credentials_from_json(secrets.staged(&s.client_secret).await?.current.expose())?;
    let hosts = GoPayHosts::new(&s.auth_base_url, &s.client_base_url).map_err(|e| e.to_string())?;
    let transport =
        ReqwestTransport::new(Duration::from_secs(10)).map_err(|e| transient("HTTP client", e))?;
    let now = kyc_core::chrono::Utc::now();
    let admin = Admin {
        store: &store,
        events: &events,
        api: GoPayApi {
            transport: &transport,
            hosts: &hosts,
            credentials: &credentials,
        },
        keys: &keys,
        owner: format!("kyc-cli-{}-{}", std::process::id(), now.timestamp_millis()),
        now,
    };
    Ok(match action {
        Action::Revoke => admin.revoke(customer).await?,
        Action::Reactivate => admin.reactivate(customer).await?,
    })
}

//! `kyc inspect gopay FILE` (offline) and `kyc gopay revoke CUSTOMER`.

use std::time::Duration;

use kyc_shared::aws::gopay_http::ReqwestTransport;
use kyc_shared::aws::gopay_store::DynamoGoPayStore;
use kyc_shared::aws::{DynamoStore, SecretsManagerSource};
use kyc_shared::crypto::Keyring;
use kyc_shared::gopay::client::{credentials_from_json, CallError, GoPayApi};
use kyc_shared::gopay::consent::GoPayHosts;
use kyc_shared::gopay::events::{consent_plan, ConsentEvent};
use kyc_shared::gopay::store::{sealed_refresh_aad, GoPayStore, ProfileStatus};
use kyc_shared::gopay::IdentificationStatus;
use kyc_shared::intake::EventStore;
use kyc_shared::redact::Secret;
use kyc_shared::secrets::SecretSource;
use serde_json::{json, Value};

/// An identification-status response, normalized, personal data redacted.
pub fn inspect(file: &std::path::Path) -> Result<Value, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let status =
        IdentificationStatus::parse(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(status.normalized_view())
}

/// Where `revoke` finds things (flags or the functions' environment variables).
#[derive(clap::Args)]
pub struct RevokeSettings {
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    pub table: String,
    #[arg(
        long,
        env = "PAYLOAD_KEY_SECRET",
        default_value = "kyc-hooks/payload-key"
    )]
    pub payload_key_secret: String,
    /// Secret `{"clientId","clientSecret"}`.
    #[arg(
        long,
        env = "GOPAY_CLIENT_SECRET",
        default_value = "kyc-hooks/gopay-client"
    )]
    pub client_secret: String,
    #[arg(long, env = "GOPAY_AUTH_BASE_URL")]
    pub auth_base_url: String,
    #[arg(long, env = "GOPAY_CLIENT_BASE_URL")]
    pub client_base_url: String,
    #[arg(long, env = "GOPAY_DUE_SHARDS", default_value_t = 4)]
    pub due_shards: u32,
}

/// Revokes the customer's consent at GoPay, then marks the profile revoked (tokens erased,
/// out of the schedule) and records the event. A token GoPay already refuses (4xx) means
/// the consent is gone anyway: the profile is still marked. A transport error or 5xx changes
/// nothing, so the command can be re-run.
pub async fn revoke(customer: &str, s: &RevokeSettings) -> Result<Value, String> {
    let config = kyc_shared::aws::load_config().await;
    let ddb = kyc_shared::aws_sdk_dynamodb::Client::new(&config);
    let store = DynamoGoPayStore::new(ddb.clone(), &s.table, s.due_shards);
    let profile = store
        .profile_of_customer(customer)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("customer {customer} has no GoPay profile"))?;
    let id = profile.client_profile_id.clone();
    if profile.status == ProfileStatus::Revoked {
        return Ok(
            json!({"customer": customer, "clientProfileId": id, "status": "revoked", "note": "already revoked"}),
        );
    }
    let secrets = SecretsManagerSource::new(&config);
    let keys = Keyring::from_staged(
        &secrets
            .staged(&s.payload_key_secret)
            .await
            .map_err(|e| e.to_string())?,
    )?;
    let credentials = credentials_from_json(
        secrets
            .staged(&s.client_secret)
            .await
            .map_err(|e| e.to_string())?
            .current
            .expose(),
    )?;
    let hosts = GoPayHosts::new(&s.auth_base_url, &s.client_base_url).map_err(|e| e.to_string())?;
    let transport = ReqwestTransport::new(Duration::from_secs(10))?;
    let api = GoPayApi {
        transport: &transport,
        hosts: &hosts,
        credentials: &credentials,
    };
    let refresh = profile
        .sealed_refresh
        .as_ref()
        .map(|sealed| keys.open(&sealed_refresh_aad(&id, profile.token_gen), sealed))
        .transpose()
        .map_err(|e| format!("stored refresh token cannot be opened: {e}"))?
        .map(|b| Secret::new(String::from_utf8_lossy(&b).into_owned()));
    let at_gopay = match &refresh {
        None => "no token held",
        Some(token) => match api.revoke(token).await {
            Ok(()) => "revoked",
            Err(CallError::Status { status }) if (400..500).contains(&status) => {
                "token already refused by GoPay"
            }
            Err(e) => return Err(format!("GoPay revoke failed, nothing changed: {e}")),
        },
    };
    let now = kyc_shared::chrono::Utc::now();
    store
        .mark_revoked(&id, now)
        .await
        .map_err(|e| e.to_string())?;
    let event_id = format!(
        "gopay-consent-revoked-{}-{}",
        id.as_str(),
        profile.token_gen
    );
    let events = DynamoStore::from_client(ddb, &s.table);
    let outcome = events
        .record(&consent_plan(
            &keys,
            customer,
            &ConsentEvent::Revoked {
                profile: id.clone(),
            },
            event_id.clone(),
            now,
        ))
        .await
        .map_err(|e| format!("profile revoked but the event was not recorded: {e}"))?;
    Ok(json!({
        "customer": customer,
        "clientProfileId": id,
        "gopay": at_gopay,
        "status": "revoked",
        "eventId": event_id,
        "outcome": outcome.history_note(),
    }))
}

//! Sealed values of every provider written by the real code, for the keyring checks and the
//! restore drill (issue 21): an Xpollens activation code in the state and a body large enough
//! for S3, a Trust & Sign archive's keys, a GoPay consent's tokens.

use crate::trust_sign::{archive_settings, create_bucket, event, put, record_json, s3, BUCKET};
use crate::{settings, Delivery, TABLE};
use kyc_aws::aws_config::SdkConfig;
use kyc_core::crypto::Keyring;
use kyc_core::redact::Secret;
use kyc_core::secrets::SecretSource;
use kyc_gopay::aws::store::DynamoGoPayStore;
use kyc_gopay::identification::ClientProfileId;
use kyc_gopay::store::{
    sealed_access_aad, sealed_refresh_aad, GoPayStore, NewConsent, SealedTokens,
};
use serde_json::json;
use trust_sign_gen::{write_archive, ArchiveOptions, Kind};

/// The keyring a secret holds now, read as the functions read it.
pub async fn keyring(config: &SdkConfig, secret: &str) -> Keyring {
    let staged = kyc_aws::SecretsManagerSource::new(config)
        .staged(secret)
        .await
        .unwrap();
    Keyring::from_staged(&staged).unwrap()
}

/// After `provision`: the archive bucket (when `n` is 1), then one value set of each provider
/// (`n` keeps ids apart) sealed under the keyrings as they are now.
pub async fn write_sealed_values(config: &SdkConfig, n: u8) {
    let s3 = s3(config);
    if n == 1 {
        create_bucket(&s3, BUCKET, true).await;
    }
    let endpoint = xpollens_callback::build_endpoint(&settings(TABLE), config).unwrap();
    let customer = format!("xp-cust-{n}");
    let activation = format!(
        r#"{{"type":"35","AppUserId":"{customer}","ActivationCode":"ACT-{n}","ErrorMessage":null,"ExtraData":{{"WebViewUrl":"https://pad.example/x?token=T-{n}"}}}}"#
    );
    let large = format!(
        r#"{{"type":"4","status":"Pending","appUserId":"{customer}","kycLevel":"{}"}}"#,
        "L".repeat(80_000)
    );
    for (i, body) in [activation, large].iter().enumerate() {
        let d = Delivery::new(
            &format!("kc-{n}-{i}"),
            &format!("12/11/2026 09:0{i}:0{n} +00:00"),
            body,
        );
        let resp = xpollens_callback::handle(&endpoint, d.request())
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202);
    }
    let mut bytes = Vec::new();
    let opts = ArchiveOptions {
        report_patch: Some(json!({"clientFile": {"externalId": format!("ts-cust-{n}")}})),
        ..ArchiveOptions::default()
    };
    write_archive(Kind::Full, &opts, &mut bytes).unwrap();
    let up = put(&s3, BUCKET, &format!("incoming/dossier {n}.zip"), bytes).await;
    kyc_trust_sign::aws::build_processor(archive_settings(TABLE), config)
        .handle(&event(vec![record_json(BUCKET, &up)]))
        .await
        .unwrap();
    let keys = keyring(config, crate::GOPAY_PAYLOAD_KEY_SECRET).await;
    let id = ClientProfileId::new(format!("810{n}")).unwrap();
    let customer = format!("gp-cust-{n}");
    let now = kyc_core::chrono::Utc::now();
    DynamoGoPayStore::new(kyc_aws::aws_sdk_dynamodb::Client::new(config), TABLE, 4)
        .save_consent(&NewConsent {
            expected_generation: None,
            customer_id: customer.clone(),
            client_profile_id: id.clone(),
            tokens: SealedTokens {
                client_profile_id: id.as_str().into(),
                generation: 1,
                sealed_refresh: keys.seal_secret(
                    &sealed_refresh_aad(&id, 1, &customer),
                    &Secret::new(format!("refresh-{n}")),
                ),
                sealed_access: keys.seal_secret(
                    &sealed_access_aad(&id, 1, &customer),
                    &Secret::new(format!("access-{n}")),
                ),
                access_expires_at: now,
                customer_id: None,
                sealed_identity: None,
            },
            sealed_identity: None,
            due_at: now,
            now,
        })
        .await
        .unwrap();
}

/// After `provision`: every payload keyring with a naming key (Xpollens' moved to the keyring
/// form, same payload key), as `kyc erase` needs them; returns the three naming keys.
pub async fn give_every_keyring_a_naming_key(
    config: &SdkConfig,
) -> std::collections::BTreeMap<kyc_core::intake::Provider, kyc_core::crypto::NamingKey> {
    use base64::Engine;
    use kyc_core::intake::Provider;
    let b64 = |byte: u8| base64::engine::general_purpose::STANDARD.encode([byte; 32]);
    let sm = kyc_aws::aws_sdk_secretsmanager::Client::new(config);
    for (secret, id, key, names) in [
        (crate::XPOLLENS_PAYLOAD_KEY_SECRET, "test-1", 42, 201),
        (crate::GOPAY_PAYLOAD_KEY_SECRET, "gp-1", 44, 202),
    ] {
        sm.put_secret_value()
            .secret_id(secret)
            .secret_string(format!(
                r#"{{"currentKeyId":"{id}","keys":[{{"keyId":"{id}","key":"{}"}}],"namingKey":{{"keyId":"names-{id}","key":"{}"}}}}"#,
                b64(key),
                b64(names)
            ))
            .send()
            .await
            .unwrap();
    }
    let mut naming = std::collections::BTreeMap::new();
    for (p, secret) in [
        (Provider::Xpollens, crate::XPOLLENS_PAYLOAD_KEY_SECRET),
        (Provider::TrustSign, crate::TRUST_SIGN_PAYLOAD_KEY_SECRET),
        (Provider::Gopay, crate::GOPAY_PAYLOAD_KEY_SECRET),
    ] {
        let ring = keyring(config, secret).await;
        naming.insert(p, ring.naming_key().expect("a naming key").clone());
    }
    naming
}

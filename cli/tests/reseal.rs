//! `kyc reseal` as an operator runs it, against moto: a GoPay refresh token sealed under the
//! provisioned key, the keyring rotated, then a dry run, a run, and a second run.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
kyc_test_log::install!();

use kyc_aws::SecretsManagerSource;
use kyc_core::crypto::Keyring;
use kyc_core::redact::Secret;
use kyc_core::secrets::SecretSource;
use kyc_gopay::aws::store::DynamoGoPayStore;
use kyc_gopay::identification::ClientProfileId;
use kyc_gopay::store::{
    sealed_access_aad, sealed_refresh_aad, GoPayStore, NewConsent, SealedTokens,
};
use kyc_integration_tests::{provision, Moto, GOPAY_PAYLOAD_KEY_SECRET, TABLE};
use std::process::Command;

#[test]
fn reseal_reports_per_key_id_changes_nothing_twice_and_leaves_the_old_key_retirable() {
    use base64::Engine;
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = moto.sdk_config().await;
        provision(&config, TABLE).await;
        let staged = SecretsManagerSource::new(&config)
            .staged(GOPAY_PAYLOAD_KEY_SECRET)
            .await
            .unwrap();
        let keys = Keyring::from_staged(&staged).unwrap();
        let id = ClientProfileId::new("8001").unwrap();
        let now = kyc_core::chrono::Utc::now();
        DynamoGoPayStore::new(kyc_aws::aws_sdk_dynamodb::Client::new(&config), TABLE, 4)
            .save_consent(&NewConsent {
                expected_generation: None,
                customer_id: "cust-1".into(),
                client_profile_id: id.clone(),
                tokens: SealedTokens {
                    client_profile_id: id.as_str().into(),
                    generation: 1,
                    sealed_refresh: keys.seal_secret(
                        &sealed_refresh_aad(&id, 1, "cust-1"),
                        &Secret::new("refresh".into()),
                    ),
                    sealed_access: keys.seal_secret(
                        &sealed_access_aad(&id, 1, "cust-1"),
                        &Secret::new("access".into()),
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
        // Rotate: gp-2 current, gp-1 kept.
        let b64 = |byte: u8| base64::engine::general_purpose::STANDARD.encode([byte; 32]);
        kyc_aws::aws_sdk_secretsmanager::Client::new(&config)
            .put_secret_value()
            .secret_id(GOPAY_PAYLOAD_KEY_SECRET)
            .secret_string(
                serde_json::json!({"currentKeyId": "gp-2", "keys": [
                    {"keyId": "gp-2", "key": b64(99)}, {"keyId": "gp-1", "key": b64(44)}]})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
    });
    let dir = std::env::temp_dir().join(format!("kyc-cli-reseal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = dir.join("checkpoint.json");
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_kyc"))
            .args(["reseal", "--provider", "gopay", "--checkpoint"])
            .arg(&checkpoint)
            .args(extra)
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_REGION", "eu-west-3")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("TABLE_NAME", TABLE)
            .env("GOPAY_PAYLOAD_KEY_SECRET", GOPAY_PAYLOAD_KEY_SECRET)
            .output()
            .map(kyc_test_log::shown)
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{stderr}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            !stdout.contains("refresh\""),
            "no value in the report: {stdout}"
        );
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()
    };
    let dry = run(&["--dry-run"]);
    assert_eq!(dry["wouldReseal"], 2, "{dry}");
    assert_eq!(dry["remaining"]["gopay"]["v2.gp-1"], 2, "{dry}");
    assert_eq!(dry["retirable"]["gopay"], serde_json::json!([]), "{dry}");

    let first = run(&[]);
    assert_eq!(first["resealed"], 2, "{first}");
    assert_eq!(
        first["remaining"]["gopay"],
        serde_json::json!({"v2.gp-2": 2}),
        "{first}"
    );
    assert_eq!(
        first["retirable"]["gopay"],
        serde_json::json!(["gp-1"]),
        "{first}"
    );
    assert!(!checkpoint.exists());

    let second = run(&[]);
    assert_eq!(second["resealed"], 0, "{second}");
    assert_eq!(second["alreadyCurrent"], 2, "{second}");
    assert_eq!(
        second["message"],
        "nothing to re-seal: every value is v2 under its provider's current key"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

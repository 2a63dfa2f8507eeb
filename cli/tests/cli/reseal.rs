//! `kyc reseal` as an operator runs it, against moto: a GoPay refresh token sealed under the
//! provisioned key, the keyring rotated, then a dry run, a run, and a second run.

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

fn b64(byte: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

/// A GoPay profile whose refresh and access tokens are sealed under the provisioned key gp-1.
async fn save_tokens_sealed_under_the_provisioned_key(config: &kyc_aws::aws_config::SdkConfig) {
    let staged = SecretsManagerSource::new(config)
        .staged(GOPAY_PAYLOAD_KEY_SECRET)
        .await
        .unwrap();
    let keys = Keyring::from_staged(&staged).unwrap();
    let id = ClientProfileId::new("8001").unwrap();
    let now = kyc_core::chrono::Utc::now();
    DynamoGoPayStore::new(kyc_aws::aws_sdk_dynamodb::Client::new(config), TABLE, 4)
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
}

async fn put_gopay_keyring(config: &kyc_aws::aws_config::SdkConfig, keyring: serde_json::Value) {
    kyc_aws::aws_sdk_secretsmanager::Client::new(config)
        .put_secret_value()
        .secret_id(GOPAY_PAYLOAD_KEY_SECRET)
        .secret_string(keyring.to_string())
        .send()
        .await
        .unwrap();
}

/// `kyc reseal --provider gopay` with `extra`: its exit status and its report.
fn reseal(moto: &Moto, checkpoint: &std::path::Path, extra: &[&str]) -> (bool, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_kyc"))
        .args(["reseal", "--provider", "gopay", "--quiet", "--checkpoint"])
        .arg(checkpoint)
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
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        !stdout.contains("refresh\""),
        "no value in the report: {stdout}"
    );
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|_| panic!("{stdout}{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), report)
}

/// Issue 21: a key removed from the keyring with one put-secret-value (a compromised key) is
/// refused at once, although AWSPREVIOUS (the keyring before the removal) still holds it: the
/// values sealed under it do not open, with an error naming the key, and `kyc reseal` reports
/// them and the missing key id.
#[test]
fn a_key_removed_from_the_keyring_opens_nothing_at_once_and_reseal_reports_it() {
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = moto.sdk_config().await;
        provision(&config, TABLE).await;
        save_tokens_sealed_under_the_provisioned_key(&config).await;
        put_gopay_keyring(
            &config,
            serde_json::json!({"currentKeyId": "gp-2", "keys": [
                {"keyId": "gp-2", "key": b64(99)}, {"keyId": "gp-1", "key": b64(44)}]}),
        )
        .await;
        // gp-1 removed: AWSPREVIOUS is now the keyring above, which still holds it.
        put_gopay_keyring(
            &config,
            serde_json::json!({"currentKeyId": "gp-2", "keys": [{"keyId": "gp-2", "key": b64(99)}]}),
        )
        .await;
        let staged = SecretsManagerSource::new(&config)
            .staged(GOPAY_PAYLOAD_KEY_SECRET)
            .await
            .unwrap();
        assert!(staged.previous.is_some(), "AWSPREVIOUS holds gp-1");
        let ring = Keyring::from_staged(&staged).unwrap();
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["gp-2"]);
    });
    let dir = tempfile::tempdir().unwrap();
    let (ok, report) = reseal(&moto, &dir.path().join("checkpoint.json"), &[]);
    assert!(ok, "{report}");
    assert_eq!(
        (&report["resealed"], &report["failed"]),
        (&0.into(), &2.into()),
        "{report}"
    );
    for failure in report["failures"].as_array().unwrap() {
        assert_eq!(failure["sealedAs"], "v2.gp-1", "{report}");
        assert!(
            failure["error"]
                .as_str()
                .unwrap()
                .starts_with("sealed under key id \"gp-1\", which is not in the keyring"),
            "{report}"
        );
    }
    assert_eq!(
        report["missingKeys"]["gopay"],
        serde_json::json!(["gp-1"]),
        "{report}"
    );
}

#[test]
fn reseal_reports_per_key_id_changes_nothing_twice_and_leaves_the_old_key_retirable() {
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = moto.sdk_config().await;
        provision(&config, TABLE).await;
        save_tokens_sealed_under_the_provisioned_key(&config).await;
        // Rotate: gp-2 current, gp-1 kept.
        put_gopay_keyring(
            &config,
            serde_json::json!({"currentKeyId": "gp-2", "keys": [
                {"keyId": "gp-2", "key": b64(99)}, {"keyId": "gp-1", "key": b64(44)}]}),
        )
        .await;
    });
    let dir = std::env::temp_dir().join(format!("kyc-cli-reseal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = dir.join("checkpoint.json");
    let run = |extra: &[&str]| {
        let (ok, report) = reseal(&moto, &checkpoint, extra);
        assert!(ok, "{report}");
        report
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

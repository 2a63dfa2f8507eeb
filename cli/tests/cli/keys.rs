//! `kyc keys check` against moto (issue 21), and the restore drill of docs/runbook.md
//! ("Restore a payload keyring"): values of all three providers written by the real code, a
//! keyring deleted (within its recovery window), refused by the functions and the check,
//! restored, and every value opening again.

use crate::common;

use kyc_core::secrets::SecretError;
use kyc_integration_tests::keyrings::write_sealed_values;
use kyc_integration_tests::{
    provision, Moto, GOPAY_PAYLOAD_KEY_SECRET, TABLE, TRUST_SIGN_PAYLOAD_KEY_SECRET,
    XPOLLENS_PAYLOAD_KEY_SECRET,
};
use serde_json::{json, Value};

/// `kyc keys check ARGS`: (exit code, the JSON report on stdout, stderr).
fn keys_check(moto: &Moto, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut all = vec!["keys", "check", "--quiet"];
    all.extend_from_slice(args);
    let out = common::kyc_local(
        &moto.endpoint,
        &all,
        &[
            ("TABLE_NAME", TABLE),
            ("XPOLLENS_PAYLOAD_KEY_SECRET", XPOLLENS_PAYLOAD_KEY_SECRET),
            (
                "TRUST_SIGN_PAYLOAD_KEY_SECRET",
                TRUST_SIGN_PAYLOAD_KEY_SECRET,
            ),
            ("GOPAY_PAYLOAD_KEY_SECRET", GOPAY_PAYLOAD_KEY_SECRET),
            ("KEYS_CHECK_LOG_GROUP", LOG_GROUP),
        ],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    for value in ["ACT-1", "refresh-1", "T-1"] {
        assert!(
            !stdout.contains(value) && !stderr.contains(value),
            "{value} printed"
        );
    }
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code(), report, stderr)
}

const LOG_GROUP: &str = "/kyc-hooks/test/keys-check";

/// Every `SealedValuesWithoutKey` value the check published, oldest first: the EMF lines in
/// its log group, which CloudWatch Logs turns into the metric `KeysCheckAlarm` watches.
async fn published(config: &kyc_aws::aws_config::SdkConfig) -> Vec<f64> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(config);
    let out = logs
        .filter_log_events()
        .log_group_name(LOG_GROUP)
        .send()
        .await
        .unwrap();
    out.events()
        .iter()
        .map(|e| {
            let line: Value = serde_json::from_str(e.message().unwrap()).unwrap();
            let metrics = &line["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(metrics["Namespace"], "KycHooks");
            assert_eq!(metrics["Dimensions"], json!([[]]));
            assert_eq!(metrics["Metrics"][0]["Name"], "SealedValuesWithoutKey");
            line["SealedValuesWithoutKey"].as_f64().unwrap()
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn keys_check_passes_with_every_key_and_fails_with_exit_1_and_the_metric_when_one_is_missing() {
    let moto = Moto::start();
    let rt = runtime();
    let config = rt.block_on(async {
        let config = moto.sdk_config().await;
        provision(&config, TABLE).await;
        write_sealed_values(&config, 1).await;
        aws_sdk_cloudwatchlogs::Client::new(&config)
            .create_log_group()
            .log_group_name(LOG_GROUP)
            .send()
            .await
            .unwrap();
        config
    });
    let (code, ok, stderr) = keys_check(&moto, &["--open"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["valuesWithoutKey"], 0);
    assert_eq!(ok["opened"], ok["sealedValues"], "{ok}");
    assert_eq!(ok["inUse"]["gopay"], json!({"v2.gp-1": 2}), "{ok}");
    assert_eq!(ok["namingKeys"]["trust_sign"], "ts-names-1");
    assert_eq!(rt.block_on(published(&config)), [0.0]);

    // gp-1 removed from the GoPay keyring (AWSPREVIOUS still holds it: irrelevant).
    rt.block_on(async {
        use base64::Engine;
        let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
        kyc_aws::aws_sdk_secretsmanager::Client::new(&config)
            .put_secret_value()
            .secret_id(GOPAY_PAYLOAD_KEY_SECRET)
            .secret_string(
                json!({"currentKeyId": "gp-2", "keys": [{"keyId": "gp-2", "key": b64(99)}]})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
    });
    let (code, missing, stderr) = keys_check(&moto, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(missing["ok"], false);
    assert_eq!(
        missing["missingKeys"]["gopay"],
        json!(["gp-1"]),
        "{missing}"
    );
    assert_eq!(missing["valuesWithoutKey"], 2, "{missing}");
    assert!(stderr.contains("missing key ids: gp-1"), "{stderr}");
    assert_eq!(rt.block_on(published(&config)), [0.0, 2.0]);
}

/// The drill of docs/runbook.md, "Restore a payload keyring", step by step.
#[test]
fn restore_drill_a_deleted_keyring_fails_closed_and_once_restored_everything_opens() {
    let moto = Moto::start();
    let rt = runtime();
    let config = rt.block_on(async {
        let config = moto.sdk_config().await;
        provision(&config, TABLE).await;
        write_sealed_values(&config, 1).await;
        config
    });
    // 0. Before: everything opens.
    let (code, before, stderr) = keys_check(&moto, &["--open", "--no-metric"]);
    assert_eq!(code, Some(0), "{stderr}");
    let sealed = before["sealedValues"].as_u64().unwrap();
    assert!(sealed >= 8, "{before}");

    // 1. The accident: the Trust & Sign keyring deleted (the recovery window applies: the
    //    template's resource policy refuses a deletion without one).
    let sm = kyc_aws::aws_sdk_secretsmanager::Client::new(&config);
    rt.block_on(async {
        sm.delete_secret()
            .secret_id(TRUST_SIGN_PAYLOAD_KEY_SECRET)
            .recovery_window_in_days(30)
            .send()
            .await
            .unwrap();
    });
    // 2. The function fails closed (nothing sealed or opened with a key it does not have)...
    let processor = kyc_trust_sign::aws::build_processor(
        kyc_integration_tests::trust_sign::archive_settings(TABLE),
        &config,
    );
    let refused = rt.block_on(processor.keys.get()).unwrap_err();
    assert!(
        matches!(&refused, SecretError::Invalid { why, .. } if why.contains("InvalidRequestException")),
        "{refused:?}"
    );
    // ...and the check says the keyring is unusable (exit 1: fix it, do not retry).
    let (code, _, stderr) = keys_check(&moto, &["--no-metric"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("trust_sign payload keyring"), "{stderr}");

    // 3. Restore it within the window.
    rt.block_on(async {
        sm.restore_secret()
            .secret_id(TRUST_SIGN_PAYLOAD_KEY_SECRET)
            .send()
            .await
            .unwrap();
    });
    // 4. Everything opens again, as before the accident.
    let (code, after, stderr) = keys_check(&moto, &["--open", "--no-metric"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(after["opened"], json!(sealed), "{after}");
    assert_eq!(after["inUse"], before["inUse"]);
    assert!(rt.block_on(processor.keys.get()).is_ok());
}

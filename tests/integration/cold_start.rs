//! Issue 21: every function that reads secrets reads them in ONE Secrets Manager call during
//! init (`BatchGetSecretValue` of the current versions), and its first request or run reads
//! none. Each function's own wiring runs in this process against moto, through the
//! lambda-harness proxy, which counts every AWS call by service and operation.

use kyc_core::config::Env;
use kyc_core::secrets::SecretError;
use kyc_integration_tests::cold_start::{
    function_env, provision_every_function, Upstreams, SECRET_READERS,
};
use kyc_integration_tests::trust_sign::sdk_config_for;
use kyc_integration_tests::Moto;
use lambda_harness::{count, AwsCall, Harness};
use std::sync::Arc;

fn env(function: &str) -> Env {
    let pairs = function_env(function, &Upstreams::default());
    Env::from_pairs(
        &pairs
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    )
}

fn secrets_calls(calls: &[AwsCall]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.service == "secretsmanager")
        .map(|c| c.operation.clone())
        .collect()
}

/// Runs `function`'s init wiring against the proxy (and, where it says so, its first request
/// or runs).
async fn init(function: &str, h: &Harness) {
    let config = sdk_config_for(&h.aws_endpoint).await;
    match function {
        "xpollens-callback" => {
            let settings = xpollens_callback::Settings::from_env(&env(function)).unwrap();
            // As `main` does: the one call sent first, the endpoint built meanwhile.
            let endpoint = xpollens_callback::init(&settings, &config).await.unwrap();
            // The first callback reads no secret: the init read them.
            let before = h.calls().len();
            let request = kyc_integration_tests::Delivery::new(
                "cold-1",
                "2026-12-06T10:00:00Z",
                r#"{"type":"4","status":"Pending","appUserId":"cold-1"}"#,
            )
            .request();
            let answer = xpollens_callback::handle(&endpoint, request).await.unwrap();
            assert_eq!(answer.status(), 202, "{:?}", answer.body());
            assert_eq!(
                secrets_calls(&h.calls()[before..]),
                Vec::<String>::new(),
                "the first callback reads no secret"
            );
            assert_eq!(count(&h.calls()[before..], "dynamodb"), 1);
        }
        "xpollens-queue-drain" => {
            let settings = xpollens_queue_drain::Settings::from_env(&env(function)).unwrap();
            xpollens_queue_drain::Wiring::new_prefetched(settings, &config)
                .await
                .unwrap();
        }
        "trust-sign-archive" => {
            let settings = kyc_trust_sign::processor::Settings::from_env(&env(function)).unwrap();
            let processor = kyc_trust_sign::aws::init_processor(settings, &config).await;
            let before = h.calls().len();
            processor.keys.get().await.unwrap();
            assert_eq!(secrets_calls(&h.calls()[before..]), Vec::<String>::new());
        }
        "gopay-consent" => {
            let settings = gopay_consent::Settings::from_env(&env(function)).unwrap();
            let (endpoint, _) = gopay_consent::init(&settings, &config).await.unwrap();
            endpoint.credentials.get().await.unwrap();
            endpoint.keys.get().await.unwrap();
        }
        "gopay-sync" => {
            let settings = gopay_sync::Settings::from_env(&env(function)).unwrap();
            let clock: kyc_gopay::sync::Clock = Arc::new(kyc_core::chrono::Utc::now);
            let wiring = gopay_sync::Wiring::init(settings, &config, clock.clone())
                .await
                .unwrap();
            let before = h.calls().len();
            let first = wiring.next_deps(clock.clone()).await.unwrap();
            first.credentials.get().await.unwrap();
            first.keys.get().await.unwrap();
            assert_eq!(
                secrets_calls(&h.calls()[before..]),
                Vec::<String>::new(),
                "the first run uses what the init read"
            );
            // Every later run reads both secrets again, in one call too.
            let second = wiring.next_deps(clock).await.unwrap();
            second.keys.get().await.unwrap();
            assert_eq!(secrets_calls(&h.calls()[before..]), ["BatchGetSecretValue"]);
        }
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_reads_its_secrets_in_one_call_at_init() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision_every_function(
        &config,
        r#"{"clientId":"gp","clientSecret":"sim-client-secret"}"#,
        r#"{"clientId":"xp","clientSecret":"sim-partner-secret"}"#,
    )
    .await;
    for function in SECRET_READERS {
        let h = Harness::start(&moto.endpoint).await;
        init(function, &h).await;
        let read = secrets_calls(&h.calls());
        let expected: &[&str] = if function == "gopay-sync" {
            // Init, then the second run's own read.
            &["BatchGetSecretValue", "BatchGetSecretValue"]
        } else {
            &["BatchGetSecretValue"]
        };
        assert_eq!(read, expected, "{function}");
    }
}

/// The batch reports a missing or deleted secret in `Errors` with HTTP 200: the read fails
/// closed (nothing cached, a clear error naming the secret), for the batch of the init and
/// for a single secret alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_missing_from_the_batch_fails_closed() {
    use kyc_core::secrets::SecretSource;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision_every_function(&config, "{}", "{}").await;
    let source = kyc_aws::SecretsManagerSource::new(&config);
    let e = source
        .current(&[
            kyc_integration_tests::CREDENTIALS_SECRET,
            "kyc-hooks/missing",
        ])
        .await
        .unwrap_err();
    match e {
        SecretError::Invalid { name, why } => {
            assert_eq!(name, "kyc-hooks/missing");
            assert!(why.contains("ResourceNotFoundException"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    // A secret marked for deletion (within its recovery window): refused, not read.
    kyc_aws::aws_sdk_secretsmanager::Client::new(&config)
        .delete_secret()
        .secret_id(kyc_integration_tests::GOPAY_PAYLOAD_KEY_SECRET)
        .send()
        .await
        .unwrap();
    let e = source
        .current(&[kyc_integration_tests::GOPAY_PAYLOAD_KEY_SECRET])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SecretError::Invalid { why, .. } if why.contains("InvalidRequestException")),
        "{e:?}"
    );
    // Both asked for by ARN as the template passes them: matched to their entries.
    let arn = kyc_aws::aws_sdk_secretsmanager::Client::new(&config)
        .describe_secret()
        .secret_id(kyc_integration_tests::CREDENTIALS_SECRET)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let values = source
        .current(&[&arn, kyc_integration_tests::TRUST_SIGN_PAYLOAD_KEY_SECRET])
        .await
        .unwrap();
    assert!(values[0].value.expose().contains("basic"));
    assert!(values[1].value.expose().contains("ts-1"));
}

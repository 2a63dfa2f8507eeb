//! Measures DynamoDB calls per callback through the real handler against moto (a new callback,
//! a duplicate, a stale one, an unknown type; and new and duplicate while a table moves to
//! provider-scoped keys, `LegacyKeyLayout=read`), and per read of the read API (a customer's
//! states, a history page, an unknown customer). Run: `make bench`.

use kyc_aws::{DynamoStore, SecretsManagerSource};
use kyc_core::auth::CredentialSet;
use kyc_core::crypto::Keyring;
use kyc_core::secrets::Cached;
use kyc_integration_tests::bench_results::{self, Figure};
use kyc_integration_tests::counting::{counted_dynamodb, CountCalls};
use kyc_integration_tests::*;
use kyc_xpollens::delivery::Recorder;
use kyc_xpollens::endpoint::{CallbackAuth, Endpoint};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let counter = CountCalls::default();
    let ddb = counted_dynamodb(&config, &counter);
    let secrets = Arc::new(SecretsManagerSource::new(&config));
    let endpoint = Endpoint {
        recorder: Recorder {
            store: Arc::new(DynamoStore::from_client(ddb.clone(), TABLE)),
            keys: Keyring::cached(
                secrets.clone(),
                XPOLLENS_PAYLOAD_KEY_SECRET,
                Duration::from_secs(300),
            ),
        },
        auth: CallbackAuth::Credentials(Cached::new(
            secrets,
            CREDENTIALS_SECRET,
            Duration::from_secs(300),
            CredentialSet::from_staged,
        )),
        allow_list: None,
        clock: Arc::new(kyc_core::chrono::Utc::now),
    };
    let body = r#"{"type":"4","status":"Incomplete","appUserId":"m1"}"#;
    // Goal per case: one transaction; a stale event costs a second one recording why.
    let cases = [
        (
            "new callback",
            Delivery::new("m-1", "12/11/2026 09:00:00 +00:00", body),
        ),
        (
            "duplicate (same Webhook-Id)",
            Delivery::new("m-1", "12/11/2026 09:00:00 +00:00", body),
        ),
        (
            "stale (older, other id)",
            Delivery::new(
                "m-0",
                "12/11/2026 08:00:00 +00:00",
                r#"{"type":"4","status":"Pending","appUserId":"m1"}"#,
            ),
        ),
        (
            "unknown type",
            Delivery::new(
                "m-2",
                "12/11/2026 09:01:00 +00:00",
                r#"{"type":"16","amount":1}"#,
            ),
        ),
    ];
    // Warm the secret caches so only DynamoDB calls are counted per callback.
    let warm = Delivery::new(
        "warm",
        "12/11/2026 07:00:00 +00:00",
        r#"{"type":"34","appUserId":"w","userRecordStatus":"Initialized"}"#,
    );
    xpollens_callback::handle(&endpoint, warm.request())
        .await
        .unwrap();
    println!("| callback | HTTP status | DynamoDB calls |\n|---|---|---|");
    let mut figures = Vec::new();
    for (name, d) in cases {
        let before = counter.count();
        let resp = xpollens_callback::handle(&endpoint, d.request())
            .await
            .unwrap();
        let calls = counter.count() - before;
        println!("| {name} | {} | {calls} |", resp.status().as_u16());
        let goal = if name.starts_with("stale") { 2 } else { 1 };
        figures.push(Figure::checked(
            &format!("DynamoDB calls per callback: {name}"),
            &format!("<= {goal}"),
            calls as f64,
            "calls",
            calls <= goal,
        ));
    }

    // While a deployed table moves (LegacyKeyLayout=read): the old event key is checked in the
    // same transaction; the customer's old state is looked up (one BatchGetItem) before it.
    let secrets = Arc::new(SecretsManagerSource::new(&config));
    let legacy = Endpoint {
        recorder: Recorder {
            store: Arc::new(
                DynamoStore::from_client(ddb.clone(), TABLE)
                    .with_legacy_layout(kyc_core::legacy_keys::LegacyKeyLayout::Read),
            ),
            keys: Keyring::cached(
                secrets.clone(),
                XPOLLENS_PAYLOAD_KEY_SECRET,
                Duration::from_secs(300),
            ),
        },
        auth: CallbackAuth::Credentials(Cached::new(
            secrets,
            CREDENTIALS_SECRET,
            Duration::from_secs(300),
            CredentialSet::from_staged,
        )),
        allow_list: None,
        clock: Arc::new(kyc_core::chrono::Utc::now),
    };
    // Warm its secret caches too.
    let warm = Delivery::new(
        "warm-legacy",
        "12/11/2026 07:00:00 +00:00",
        r#"{"type":"34","appUserId":"w","userRecordStatus":"Initialized"}"#,
    );
    xpollens_callback::handle(&legacy, warm.request())
        .await
        .unwrap();
    let legacy_body = r#"{"type":"4","status":"Pending","appUserId":"m9"}"#;
    for (name, d, goal) in [
        (
            "new callback, LegacyKeyLayout=read",
            Delivery::new("m-9", "12/11/2026 10:00:00 +00:00", legacy_body),
            2,
        ),
        (
            "duplicate, LegacyKeyLayout=read",
            Delivery::new("m-9", "12/11/2026 10:00:00 +00:00", legacy_body),
            2,
        ),
    ] {
        let before = counter.count();
        let resp = xpollens_callback::handle(&legacy, d.request())
            .await
            .unwrap();
        let calls = counter.count() - before;
        println!("| {name} | {} | {calls} |", resp.status().as_u16());
        figures.push(Figure::checked(
            &format!("DynamoDB calls per callback: {name}"),
            &format!("<= {goal}"),
            calls as f64,
            "calls",
            calls <= goal,
        ));
    }

    // The read API: states in one BatchGetItem, a history page in one Query per provider.
    let api = kyc_downstream::read_api::ReadApi {
        store: Arc::new(DynamoStore::from_client(ddb.clone(), TABLE)),
        history: Arc::new(kyc_downstream::aws::history_pages::DynamoHistoryPages::new(
            ddb.clone(),
            TABLE,
        )),
        // The decision's GetItem runs beside the states' BatchGetItem (measured separately).
        decisions: None,
    };
    println!("\n| read | HTTP status | DynamoDB calls |\n|---|---|---|");
    for (name, path, goal) in [
        ("a customer's states", "/customers/m1/kyc", 1),
        ("a history page", "/customers/m1/kyc/history", 3),
        ("an unknown customer (404)", "/customers/nobody/kyc", 4),
    ] {
        let before = counter.count();
        let resp = api
            .handle(&kyc_core::http::HttpRequest {
                method: "GET".into(),
                path: path.into(),
                gateway: iam_attestation(),
                ..Default::default()
            })
            .await;
        let calls = counter.count() - before;
        println!("| {name} | {} | {calls} |", resp.status);
        figures.push(Figure::checked(
            &format!("DynamoDB calls per read: {name}"),
            &format!("<= {goal}"),
            calls as f64,
            "calls",
            calls <= goal,
        ));
    }
    bench_results::write("dynamodb-calls", &figures);
}

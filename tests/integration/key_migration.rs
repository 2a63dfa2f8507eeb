//! The move of a deployed table to provider-scoped keys, in the order the upgrade note gives
//! (`docs/deploy.md`), on moto, from items written by the release before
//! (`tests/fixtures/legacy-layout/items.json`: the table `make demo` left at that release,
//! every value sealed under the fixture keyring below).
//!
//! 1. `LegacyKeyLayout=read`: the read API shows what the previous release showed; a
//!    redelivered old callback is a duplicate; a new callback applies on top of the old state
//!    and its version continues.
//! 2. `kyc migrate keys` moves every old item (a second run moves nothing).
//! 3. `LegacyKeyLayout=off`: the same answers from the new layout alone, the old callback still
//!    a duplicate, the GoPay link still followed, every sealed value still opens, and nothing
//!    the migration wrote is published as a state change.

use base64::Engine;
use kyc_aws::aws_sdk_dynamodb::types::AttributeValue as Av;
use kyc_aws::aws_sdk_dynamodb::Client as Ddb;
use kyc_aws::DynamoStore;
use kyc_core::crypto::Keyring;
use kyc_core::intake::{EventRecord, EventStore, Provider};
use kyc_core::legacy_keys::{self, LegacyKeyLayout};
use kyc_downstream::{diff_record, RecordChanges};
use kyc_gopay::aws::store::DynamoGoPayStore;
use kyc_gopay::store::GoPayStore;
use kyc_integration_tests::downstream::{enable_stream, stream_records};
use kyc_integration_tests::*;
use kyc_migrate::aws::DynamoTableItems;
use kyc_migrate::{MemoryCheckpoint, MigrateOptions};
use serde_json::{json, Value};
use std::collections::HashMap;
use xpollens_callback::{build_endpoint, handle};

const CUSTOMERS: [&str; 7] = [
    "demo-alice",
    "demo-bob",
    "demo-carol",
    "demo-dave",
    "demo-dana",
    "demo-erik",
    "customer-0042",
];

fn fixture_keyring_json() -> String {
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    format!(
        r#"{{"currentKeyId":"legacy-fixture","keys":[{{"keyId":"legacy-fixture","key":"{key}"}}]}}"#
    )
}

fn fixture_keyring() -> Keyring {
    Keyring::new(
        kyc_core::crypto::PayloadKey::new("legacy-fixture", [7u8; 32]).unwrap(),
        vec![],
    )
}

/// DynamoDB JSON (as the fixture holds items) → the SDK's attribute value.
fn attribute(v: &Value) -> Av {
    let (kind, inner) = v.as_object().unwrap().iter().next().unwrap();
    match kind.as_str() {
        "S" => Av::S(inner.as_str().unwrap().into()),
        "N" => Av::N(inner.as_str().unwrap().into()),
        "BOOL" => Av::Bool(inner.as_bool().unwrap()),
        "NULL" => Av::Null(true),
        "L" => Av::L(inner.as_array().unwrap().iter().map(attribute).collect()),
        "M" => Av::M(
            inner
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), attribute(v)))
                .collect(),
        ),
        other => panic!("fixture attribute type {other}"),
    }
}

fn fixture() -> Vec<HashMap<String, Av>> {
    let text =
        std::fs::read_to_string(project_root().join("tests/fixtures/legacy-layout/items.json"))
            .unwrap();
    let items: Vec<Value> = serde_json::from_str(&text).unwrap();
    items
        .iter()
        .map(|i| {
            i.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), attribute(v)))
                .collect()
        })
        .collect()
}

async fn scan(ddb: &Ddb) -> Vec<HashMap<String, Av>> {
    ddb.scan()
        .table_name(TABLE)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap()
}

fn text(item: &HashMap<String, Av>, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// Event items of either layout.
async fn event_count(ddb: &Ddb) -> usize {
    scan(ddb)
        .await
        .iter()
        .filter(|i| text(i, "SK") == "EVENT")
        .count()
}

/// A recorded Xpollens callback as Xpollens would send it again: its id, date and body (the
/// sealed body opened with the fixture keyring).
async fn recorded_callback(ddb: &Ddb, event_id: &str) -> Delivery {
    let item = ddb
        .get_item()
        .table_name(TABLE)
        .key(
            "PK",
            Av::S(legacy_keys::event_pk(Provider::Xpollens, event_id)),
        )
        .key("SK", Av::S("EVENT".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the old event");
    let aad = EventRecord::body_aad(Provider::Xpollens, event_id, Some(&text(&item, "subject")));
    let body = fixture_keyring()
        .open(&aad, &text(&item, "sealedBody"))
        .expect("the fixture's sealed body opens");
    Delivery::new(
        event_id,
        "06/12/2026 14:09:28 +00:00",
        &String::from_utf8(body).unwrap(),
    )
}

async fn read_api_get(
    api: &kyc_downstream::read_api::ReadApi,
    path: &str,
    query: &str,
) -> (u16, Value) {
    let r = api
        .handle(&kyc_core::http::HttpRequest {
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            gateway: iam_attestation(),
            ..Default::default()
        })
        .await;
    (r.status, serde_json::from_str(&r.body).unwrap())
}

fn read_api(
    config: &kyc_aws::aws_config::SdkConfig,
    layout: LegacyKeyLayout,
) -> kyc_downstream::read_api::ReadApi {
    kyc_read_api::build(
        &kyc_read_api::Settings {
            table: TABLE.into(),
            legacy_keys: layout,
        },
        config,
    )
}

/// Every customer's state and whole history as the read API answers.
async fn answers(api: &kyc_downstream::read_api::ReadApi) -> Value {
    let mut out = serde_json::Map::new();
    for c in CUSTOMERS {
        let (status, state) = read_api_get(api, &format!("/customers/{c}/kyc"), "").await;
        assert_eq!(status, 200, "{c}: {state}");
        let (status, history) =
            read_api_get(api, &format!("/customers/{c}/kyc/history"), "limit=100").await;
        assert_eq!(status, 200, "{c}: {history}");
        out.insert(
            c.into(),
            json!({"state": state, "history": history["entries"]}),
        );
    }
    Value::Object(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_the_previous_layout_moves_in_steps_without_losing_or_repeating_anything() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let sm = kyc_aws::aws_sdk_secretsmanager::Client::new(&config);
    for name in [
        XPOLLENS_PAYLOAD_KEY_SECRET,
        TRUST_SIGN_PAYLOAD_KEY_SECRET,
        GOPAY_PAYLOAD_KEY_SECRET,
    ] {
        sm.put_secret_value()
            .secret_id(name)
            .secret_string(fixture_keyring_json())
            .send()
            .await
            .unwrap();
    }
    let ddb = Ddb::new(&config);
    let stream_arn = enable_stream(&config, TABLE).await;
    let old_items = fixture();
    for item in &old_items {
        ddb.put_item()
            .table_name(TABLE)
            .set_item(Some(item.clone()))
            .send()
            .await
            .unwrap();
    }
    let legacy_count = old_items
        .iter()
        .filter(|i| legacy_keys::classify(&text(i, "PK"), &text(i, "SK")).is_some())
        .count();
    assert_eq!(
        legacy_count, 57,
        "every item but the GoPay profile and consent states"
    );
    let records_before = stream_records(&moto, &stream_arn).await.len();

    // What the previous release showed, read through the store's fallback before any write.
    let old_view = DynamoStore::new(&config, TABLE).with_legacy_layout(LegacyKeyLayout::Read);
    let alice = old_view.provider_states("demo-alice").await.unwrap();
    assert_eq!(
        alice[&Provider::Xpollens].status(kyc_core::kyc_state::Stream::KYC_DEMAND),
        Some("Complete")
    );
    assert_eq!(old_view.history("demo-alice").await.unwrap().len(), 9);

    // --- 1. LegacyKeyLayout=read ------------------------------------------------------------
    let read = LegacyKeyLayout::Read;
    let api = read_api(&moto.sdk_config_as(Function::KycReadApi, read).await, read);
    let before = answers(&api).await;
    assert_eq!(
        before["demo-alice"]["history"].as_array().unwrap().len(),
        9,
        "the old partition's history is read"
    );
    let endpoint = build_endpoint(
        &xpollens_callback::Settings {
            legacy_keys: read,
            ..settings(TABLE)
        },
        &moto.sdk_config_as(Function::XpollensCallback, read).await,
    )
    .unwrap();
    let events_before = event_count(&ddb).await;
    let again = recorded_callback(&ddb, "6f1c2a9e-3b4d-4e8f-9a10-2c5d7e8f9a01").await;
    let resp = handle(&endpoint, again.request()).await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(
        event_count(&ddb).await,
        events_before,
        "a duplicate, not a new event"
    );
    // A new callback for a customer of the old layout: applied on top of its old state.
    let dave_before =
        old_view.provider_states("demo-dave").await.unwrap()[&Provider::Xpollens].clone();
    let new = Delivery::new(
        "11111111-2222-4333-8444-555555555555",
        "06/12/2026 15:00:00 +00:00",
        r#"{"type":"34","appUserId":"demo-dave","status":"InProgress"}"#,
    );
    assert_eq!(
        handle(&endpoint, new.request())
            .await
            .unwrap()
            .status()
            .as_u16(),
        202
    );
    let dave = ddb
        .get_item()
        .table_name(TABLE)
        .key("PK", Av::S("XP#C#demo-dave".into()))
        .key("SK", Av::S("STATE".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("seeded from the old state, then updated");
    assert_eq!(
        dave["version"].as_n().unwrap(),
        "3",
        "the old version (2) continues"
    );
    assert!(dave.contains_key("kycDemand") && dave.contains_key("userRecord"));
    let dave_after =
        old_view.provider_states("demo-dave").await.unwrap()[&Provider::Xpollens].clone();
    assert_eq!(
        dave_after.stream(&kyc_core::kyc_state::Stream::KYC_DEMAND),
        dave_before.stream(&kyc_core::kyc_state::Stream::KYC_DEMAND)
    );
    let during = answers(&api).await;

    // --- 2. kyc migrate keys ------------------------------------------------------------------
    let table = DynamoTableItems::new(ddb.clone(), TABLE);
    let options = MigrateOptions {
        dry_run: false,
        page_size: 7,
    };
    let now = kyc_core::chrono::Utc::now();
    let report = kyc_migrate::run(&table, &MemoryCheckpoint::default(), &options, now, &|_| {})
        .await
        .unwrap();
    assert_eq!(
        (report.total_moved() + report.already_there) as usize,
        legacy_count,
        "{report:?}"
    );
    assert_eq!((report.failed, report.lost_races), (0, 0), "{report:?}");
    let second = kyc_migrate::run(&table, &MemoryCheckpoint::default(), &options, now, &|_| {})
        .await
        .unwrap();
    assert_eq!(second.total_moved(), 0, "{second:?}");
    let left: Vec<String> = scan(&ddb)
        .await
        .iter()
        .filter(|i| legacy_keys::classify(&text(i, "PK"), &text(i, "SK")).is_some())
        .map(|i| text(i, "PK"))
        .collect();
    assert_eq!(left, Vec::<String>::new());

    // --- 3. LegacyKeyLayout=off ---------------------------------------------------------------
    let off = LegacyKeyLayout::Off;
    let api = read_api(&moto.sdk_config_for(Function::KycReadApi).await, off);
    assert_eq!(
        answers(&api).await,
        during,
        "the read API answers as before the move"
    );
    let endpoint = build_endpoint(
        &settings(TABLE),
        &moto.sdk_config_for(Function::XpollensCallback).await,
    )
    .unwrap();
    let events = event_count(&ddb).await;
    let resp = handle(&endpoint, again.request()).await.unwrap();
    assert!(resp.status().is_success());
    assert_eq!(
        event_count(&ddb).await,
        events,
        "still a duplicate, found by its new key"
    );
    let gopay = DynamoGoPayStore::new(
        Ddb::new(&moto.sdk_config_for(Function::GoPayConsent).await),
        TABLE,
        4,
    );
    let dana = gopay.profile_of_customer("demo-dana").await.unwrap();
    assert_eq!(
        dana.map(|p| p.client_profile_id.as_str().to_string())
            .as_deref(),
        Some("1000"),
        "the moved link is followed"
    );
    // Every sealed value still opens under its binding.
    let keyring = fixture_keyring();
    let mut sealed = 0;
    for item in scan(&ddb).await {
        let stored = kyc_reseal::StoredItem {
            key: kyc_reseal::ItemKey {
                pk: text(&item, "PK"),
                sk: text(&item, "SK"),
            },
            attributes: item
                .iter()
                .filter(|(k, _)| *k != "PK" && *k != "SK")
                .map(|(k, v)| {
                    (
                        k.clone(),
                        kyc_aws::attribute::from_attribute(v.clone()).unwrap(),
                    )
                })
                .collect(),
        };
        for found in kyc_reseal::sealed_values(&stored) {
            let Some(value) =
                kyc_reseal::value_at(&stored.attributes, &found.path).and_then(Value::as_str)
            else {
                continue; // an offloaded body's location
            };
            assert!(
                keyring.open(&found.aad, value).is_ok(),
                "{} {:?} opens",
                stored.key.pk,
                found.path
            );
            sealed += 1;
        }
    }
    assert!(sealed >= 30, "{sealed} sealed values checked");
    // Of everything written since the fixture, only the new callback's change is a state
    // change: the seeded copy and the migration's writes publish nothing.
    let records = stream_records(&moto, &stream_arn).await;
    let changes: Vec<(String, String)> = records[records_before..]
        .iter()
        .filter_map(|r| match diff_record(r).unwrap() {
            RecordChanges::Changes(c) => Some(c),
            RecordChanges::Ignored => None,
        })
        .flatten()
        .map(|c| (c.customer_id, c.stream))
        .collect();
    assert_eq!(
        changes,
        vec![("demo-dave".to_string(), "userRecord".to_string())]
    );
}

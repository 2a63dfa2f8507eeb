//! `kyc publish`: the replay path re-publishes the stored state on the bus, with the live
//! events' ids, for one customer or every customer changed since a time.

use kyc_aws::DynamoStore;
use kyc_core::intake::{EventStore, Provider};
use kyc_downstream::event_id;
use kyc_integration_tests::downstream::{bus_with_consumer, received, state_plan};
use kyc_integration_tests::{provision, Moto, TABLE};

use crate::common;

const BUS: &str = "kyc-replay";

fn kyc(moto: &Moto, args: &[&str]) -> (bool, String, String) {
    let (code, stdout, stderr) = common::kyc_text(
        &moto.endpoint,
        args,
        &[("TABLE_NAME", TABLE), ("EVENT_BUS_NAME", BUS)],
    );
    (code == Some(0), stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_resends_the_current_state_with_the_live_ids() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let consumer = bus_with_consumer(&moto, &config, BUS).await;
    let store = DynamoStore::new(&config, TABLE);
    for plan in [
        state_plan("alice", "e1", "Created", false, 1),
        state_plan("alice", "e2", "Validated", true, 2),
        state_plan("bob", "e3", "Created", false, 5),
    ] {
        store.record(&plan).await.unwrap();
    }

    let (ok, out, err) = kyc(&moto, &["publish", "alice", "--dry-run"]);
    assert!(ok, "{err}");
    assert!(out.contains("\"dryRun\": true"), "{out}");
    assert!(received(&moto, &consumer).await.is_empty());

    let (ok, _, err) = kyc(&moto, &["publish", "alice"]);
    assert!(ok, "{err}");
    let got = received(&moto, &consumer).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let d = &got[0]["detail"];
    assert_eq!(
        d["id"],
        event_id("alice", Provider::Xpollens, "userRecord", "e2")
    );
    assert_eq!(d["status"], "Validated");
    assert_eq!(d["previousStatus"], serde_json::Value::Null);
    assert_eq!(d["replay"], true);
    assert_eq!(d["recordedAt"], "2026-11-27T09:03:00Z");
    assert!(!got[0].to_string().contains("PERSONAL") && !got[0].to_string().contains("SEALED"));

    let (ok, _, err) = kyc(&moto, &["publish", "--since", "2026-11-27T09:04:00Z"]);
    assert!(ok, "{err}");
    let customers: Vec<String> = received(&moto, &consumer)
        .await
        .iter()
        .map(|e| e["detail"]["customerId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(customers, vec!["bob"]);

    let (ok, _, err) = kyc(&moto, &["publish", "nobody"]);
    assert!(!ok);
    assert!(err.contains("no KYC state"), "{err}");
}

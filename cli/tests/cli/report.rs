//! `kyc status|history --output table`: the same report as JSON, as columns a person reads.

use kyc_aws::DynamoStore;
use kyc_core::intake::EventStore;
use kyc_integration_tests::downstream::state_plan;
use kyc_integration_tests::{provision, Moto, TABLE};

use crate::common;

fn kyc(moto: &Moto, args: &[&str]) -> (Option<i32>, String, String) {
    common::kyc_text(&moto.endpoint, args, &[("TABLE_NAME", TABLE)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_history_print_as_json_or_as_a_table() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let store = DynamoStore::new(&config, TABLE);
    for mut plan in [
        state_plan("alice", "e1", "Created", false, 1),
        state_plan("alice", "e2", "Validated", true, 2),
    ] {
        // The shared fixture plants a name in the detail to prove events never carry it; the
        // product keeps no name there, so neither does the state this report prints.
        if let Some(patch) = plan.patch.as_mut() {
            patch.value.detail = serde_json::json!({"kycLevel": "STANDARD"});
        }
        store.record(&plan).await.unwrap();
    }

    let (code, json, err) = kyc(&moto, &["status", "alice"]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["providers"]["xpollens"]["userRecord"]["status"],
        "Validated"
    );

    let (code, table, err) = kyc(&moto, &["status", "alice", "--output", "table"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = table.lines().collect();
    // The decision first (none computed in this test), then one row per stream.
    assert_eq!(lines[0], "DECISION  none yet", "{table}");
    assert!(lines[1].starts_with("PROVIDER"), "{table}");
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[2].contains("xpollens") && lines[2].contains("userRecord"));
    assert!(lines[2].contains("Validated") && lines[2].contains("true"));

    let (code, table, err) = kyc(&moto, &["history", "alice", "--output", "table"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(table.starts_with("RECEIVED"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.contains("e1") && table.contains("e2"), "{table}");
}

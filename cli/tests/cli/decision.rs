//! `kyc decision explain|resolve` and `kyc status` with a decision, against moto.

use kyc_aws::DynamoStore;
use kyc_core::intake::EventStore;
use kyc_decision::aws::DynamoDecisionStore;
use kyc_decision::policy::Policy;
use kyc_decision::store::recompute;
use kyc_integration_tests::downstream::state_plan;
use kyc_integration_tests::{provision, Moto, TABLE};
use serde_json::Value;

use crate::common;

fn kyc(moto: &Moto, args: &[&str]) -> (Option<i32>, String, String) {
    common::kyc_text(&moto.endpoint, args, &[("TABLE_NAME", TABLE)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_then_resolve_with_the_callers_identity() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let mut plan = state_plan("alice", "e1", "Refused", true, 1);
    // The shared fixture plants a name in the detail to prove events never carry it; the
    // product keeps no name there, and `kyc status` prints the detail.
    if let Some(patch) = plan.patch.as_mut() {
        patch.value.detail = serde_json::json!({"identificationLevel": "Intermediate"});
    }
    DynamoStore::new(&config, TABLE)
        .record(&plan)
        .await
        .unwrap();
    let decisions =
        DynamoDecisionStore::new(kyc_aws::aws_sdk_dynamodb::Client::new(&config), TABLE);
    recompute(
        &decisions,
        &Policy::default_policy(),
        "alice",
        kyc_core::chrono::Utc::now(),
    )
    .await
    .unwrap();

    let (code, out, err) = kyc(&moto, &["decision", "explain", "alice"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "rejected");
    let rule = &v["providers"]["xpollens"]["rules"][0];
    assert_eq!(rule["rule"], "xpollens:userRecord=Refused");
    assert_eq!(rule["eventId"], "e1");
    assert_eq!(v["providers"]["xpollens"]["evidence"][0], "e1");
    let (code, _, err) = kyc(&moto, &["decision", "explain", "nobody"]);
    assert_eq!(code, Some(1), "{err}");

    // The default policy wants a second approver to turn a customer verified.
    let (code, _, err) = kyc(
        &moto,
        &[
            "decision",
            "resolve",
            "alice",
            "--outcome",
            "verified",
            "--reason",
            "AML-CASE-1",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("second approver"), "{err}");
    let (code, _, err) = kyc(
        &moto,
        &[
            "decision",
            "resolve",
            "alice",
            "--outcome",
            "rejected",
            "--reason",
            "free text",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    let (code, out, err) = kyc(
        &moto,
        &[
            "decision",
            "resolve",
            "alice",
            "--outcome",
            "verified",
            "--reason",
            "AML-CASE-1",
            "--approver",
            "arn:aws:iam::123456789012:user/second-approver",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["operator"].as_str().unwrap().starts_with("arn:aws:"),
        "{out}"
    );
    assert_eq!(v["decision"]["decision"], "verified");
    assert_eq!(v["decision"]["adjudication"]["reason"], "AML-CASE-1");

    let (code, out, err) = kyc(&moto, &["status", "alice"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"]["decision"], "verified");
    assert_eq!(v["decision"]["decisionVersion"], 2);
    assert_eq!(v["decision"]["flags"][0], "bankAdjudicated");
    let (_, table, _) = kyc(&moto, &["status", "alice", "--output", "table"]);
    assert!(
        table.starts_with("DECISION  verified  reasons: -  policy "),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_gives_a_provider_ids_state_to_the_bank_customer_with_the_callers_identity() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    // Xpollens knows the bank's customer "bank-42" as "xp-981": validated under that id.
    let mut plan = state_plan("xp-981", "e-xp", "Validated", true, 1);
    if let Some(patch) = plan.patch.as_mut() {
        patch.value.detail = serde_json::json!({});
    }
    DynamoStore::new(&config, TABLE)
        .record(&plan)
        .await
        .unwrap();

    let (code, out, err) = kyc(
        &moto,
        &["customer", "alias", "bank-42", "xpollens", "xp-981"],
    );
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["outcome"], "linked");
    assert!(v["operator"].as_str().unwrap().starts_with("arn:aws:"));
    let bank = &v["decisions"]["bank-42"];
    assert_eq!(bank["decision"], "verified");
    assert_eq!(
        bank["providers"]["xpollens"]["providerCustomerId"],
        "xp-981"
    );
    assert_eq!(bank["providers"]["xpollens"]["evidence"][0], "e-xp");
    // The provider id is no customer of its own: no decision under it.
    assert_eq!(v["decisions"]["xp-981"], Value::Null);

    // The same again: nothing written; another customer for the same id: refused, exit 1.
    let (code, out, _) = kyc(
        &moto,
        &["customer", "alias", "bank-42", "xpollens", "xp-981"],
    );
    assert_eq!(code, Some(0));
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["outcome"],
        "alreadyLinked"
    );
    let (code, _, err) = kyc(
        &moto,
        &["customer", "alias", "bank-7", "xpollens", "xp-981"],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("aliased to another customer"), "{err}");
    let (code, _, err) = kyc(
        &moto,
        &[
            "customer",
            "alias",
            "bank-42",
            "gopay",
            "g-1",
            "--reason",
            "not a code",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("reason must be a code"), "{err}");

    // `kyc status` shows the decision; removal gives the state back to the provider id.
    let (code, out, err) = kyc(&moto, &["status", "bank-42"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("verified"), "{out}");
    let (code, out, err) = kyc(
        &moto,
        &[
            "customer", "alias", "bank-42", "xpollens", "xp-981", "--remove",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["outcome"], "removed");
    assert_eq!(v["decisions"]["bank-42"]["decision"], "notStarted");
    assert_eq!(v["decisions"]["xp-981"]["decision"], "verified");
}

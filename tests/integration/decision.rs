//! The KYC decision on moto: the racing recomputes on the DynamoDB adapter (its conditional
//! write is what keeps a stale decision out), and the expiry sweep through the index.

use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_aws::DynamoStore;
use kyc_core::chrono::{Duration, TimeZone, Utc};
use kyc_core::intake::{EventStore, Outcome};
use kyc_decision::aws::DynamoDecisionStore;
use kyc_decision::policy::Policy;
use kyc_decision::store::{recompute, sweep_expiries, DecisionStore};
use kyc_decision::Decision;
use kyc_integration_tests::downstream::{at, state_plan};
use kyc_integration_tests::{provision, Moto, TABLE};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_recomputes_never_leave_a_stale_decision_on_dynamodb() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let decisions = Arc::new(DynamoDecisionStore::new(Client::new(&config), TABLE));
    let states = Arc::new(DynamoStore::new(&config, TABLE));
    let change: kyc_decision::store::testing::Change =
        Arc::new(move |customer: String, n: usize| {
            let states = states.clone();
            Box::pin(async move {
                let (status, is_final, minute) =
                    [("InProgress", false, 1), ("Validated", true, 2)][n];
                let plan = state_plan(
                    &customer,
                    &format!("{customer}-{n}"),
                    status,
                    is_final,
                    minute,
                );
                assert_eq!(states.record(&plan).await.unwrap(), Outcome::Applied);
            })
        });
    let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
    kyc_decision::store::testing::racing_recomputes(
        decisions,
        change,
        "race",
        &Policy::default_policy(),
        now,
        Decision::Verified,
    )
    .await;
}

#[tokio::test]
async fn the_expiry_sweep_finds_due_decisions_through_the_index() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let decisions = DynamoDecisionStore::new(Client::new(&config), TABLE);
    let states = DynamoStore::new(&config, TABLE);
    let policy = Policy::parse(
        r#"{"policyVersion":"expiry-test","requirements":{"anyOf":["xpollens"]},"verifiedValidForDays":{"xpollens":30}}"#,
    )
    .unwrap();
    // Validated at minute 2 and minute 40 (user record final): due 30 days later each.
    for (c, minute) in [("early#1", 2), ("late", 40)] {
        states
            .record(&state_plan(c, &format!("{c}-v"), "Validated", true, minute))
            .await
            .unwrap();
        recompute(&decisions, &policy, c, at(50)).await.unwrap();
    }
    let early = decisions.get("early#1").await.unwrap().unwrap();
    assert_eq!(early.decision, Decision::Verified);
    assert_eq!(early.valid_until, Some(at(2) + Duration::days(30)));
    let sweep_at = at(10) + Duration::days(30);
    assert_eq!(
        decisions.due_expiries(sweep_at, 100).await.unwrap(),
        ["early#1"]
    );
    assert_eq!(
        sweep_expiries(&decisions, &policy, sweep_at, 100)
            .await
            .unwrap(),
        1
    );
    let expired = decisions.get("early#1").await.unwrap().unwrap();
    assert_eq!(expired.decision, Decision::Expired);
    assert_eq!(expired.decision_version, 2);
    assert_eq!(
        decisions.get("late").await.unwrap().unwrap().decision,
        Decision::Verified
    );
    // Out of the index once expired: a second sweep finds nothing.
    assert!(decisions
        .due_expiries(sweep_at, 100)
        .await
        .unwrap()
        .is_empty());
}

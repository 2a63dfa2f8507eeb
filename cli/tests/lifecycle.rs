//! `kyc customer close|reopen`, `kyc hold|release`, `kyc retention report|sweep` against moto.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
kyc_test_log::install!();

use kyc_aws::DynamoStore;
use kyc_core::intake::EventStore;
use kyc_integration_tests::downstream::state_plan;
use kyc_integration_tests::{provision, Moto, TABLE};
use serde_json::Value;

mod common;

fn kyc(moto: &Moto, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = common::kyc_local(&moto.endpoint, args, &[("TABLE_NAME", TABLE)]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    (
        out.status.code(),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_hold_report_and_sweep_with_the_callers_identity() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let states = DynamoStore::new(&config, TABLE);
    for c in ["ended", "held"] {
        let mut plan = state_plan(c, &format!("{c}-1"), "Validated", true, 1);
        if let Some(patch) = plan.patch.as_mut() {
            patch.value.detail = serde_json::json!({});
        }
        states.record(&plan).await.unwrap();
    }
    // Relationships that ended long ago: their retention has run.
    for (c, outcome) in [("ended", "customer"), ("held", "refusedApplicant")] {
        let (code, v, err) = kyc(
            &moto,
            &[
                "customer",
                "close",
                c,
                "--on",
                "2020-01-01",
                "--outcome",
                outcome,
            ],
        );
        assert_eq!(code, Some(0), "{err}");
        assert!(v["operator"].as_str().unwrap().starts_with("arn:aws:"));
    }
    let (code, _, err) = kyc(
        &moto,
        &[
            "customer",
            "close",
            "x",
            "--on",
            "2999-01-01",
            "--outcome",
            "customer",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("in the future"), "{err}");
    let (code, _, err) = kyc(
        &moto,
        &[
            "customer",
            "close",
            "x",
            "--on",
            "2020-01-01",
            "--outcome",
            "customer",
            "--customer-days",
            "10",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("RETENTION_CUSTOMER_DAYS"), "{err}");

    let (code, v, err) = kyc(&moto, &["hold", "held", "--reason", "LEGAL-2026-4"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["hold"]["reason"], "LEGAL-2026-4");
    let (code, _, err) = kyc(&moto, &["hold", "held", "--reason", "a free text"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("reason must be a code"), "{err}");

    let (code, v, err) = kyc(&moto, &["retention", "report"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["overdue"], 2);
    assert_eq!(v["fallingDue"]["30"]["customer"]["xpollens"], 1);
    assert_eq!(v["fallingDue"]["30"]["refusedApplicant"]["xpollens"], 1);

    let (code, v, err) = kyc(&moto, &["retention", "sweep"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        (v["deleted"].as_u64(), v["held"].as_u64()),
        (Some(1), Some(1))
    );
    let (_, status, _) = kyc(&moto, &["status", "ended"]);
    assert!(
        status["providers"].as_object().is_none_or(|p| p.is_empty()),
        "{status}"
    );
    let (_, status, _) = kyc(&moto, &["status", "held"]);
    assert!(status["providers"]["xpollens"].is_object(), "{status}");

    // Released: the next sweep deletes it.
    let (code, _, err) = kyc(
        &moto,
        &["release", "held", "--reason", "LEGAL-2026-4-closed"],
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = kyc(&moto, &["release", "held", "--reason", "X"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no legal hold"), "{err}");
    let (_, v, _) = kyc(&moto, &["retention", "sweep"]);
    assert_eq!(v["deleted"], 1);
}

//! `kyc customer close|reopen`, `kyc hold|release`, `kyc retention report|sweep` against moto.

use kyc_aws::DynamoStore;
use kyc_core::intake::EventStore;
use kyc_integration_tests::downstream::state_plan;
use kyc_integration_tests::{provision, Moto, TABLE};
use serde_json::Value;

use crate::common;

fn kyc(moto: &Moto, args: &[&str]) -> (Option<i32>, Value, String) {
    let (code, stdout, stderr) = common::kyc_text(&moto.endpoint, args, &[("TABLE_NAME", TABLE)]);
    (
        code,
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_dry_run_refusals_then_erasure_with_its_event() {
    use kyc_integration_tests::downstream::{bus_with_consumer, received};
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let consumer = bus_with_consumer(&moto, &config, "kyc-erase").await;
    // The consumer also hears erasures.
    let eb = kyc_downstream::aws_sdk_eventbridge::Client::new(&config);
    let rule = eb
        .put_rule()
        .name("erasures")
        .event_bus_name("kyc-erase")
        .event_pattern(r#"{"source":["kyc-hooks"],"detail-type":["KYC customer erased"]}"#)
        .send()
        .await;
    rule.unwrap();
    let targets = eb
        .list_targets_by_rule()
        .rule("all-kyc-state")
        .event_bus_name("kyc-erase")
        .send()
        .await
        .unwrap();
    eb.put_targets()
        .rule("erasures")
        .event_bus_name("kyc-erase")
        .set_targets(Some(targets.targets().to_vec()))
        .send()
        .await
        .unwrap();
    for bucket in ["kyc-erase-gopay", "kyc-erase-archives"] {
        kyc_integration_tests::trust_sign::create_bucket(
            &kyc_aws::s3_client(&config),
            bucket,
            true,
        )
        .await;
    }
    let states = DynamoStore::new(&config, TABLE);
    let mut plan = state_plan("gone", "gone-1", "Pending", false, 1);
    if let Some(patch) = plan.patch.as_mut() {
        patch.value.detail = serde_json::json!({});
    }
    states.record(&plan).await.unwrap();
    let erase = |args: &[&str]| {
        let out = common::kyc_local(
            &moto.endpoint,
            args,
            &[
                ("TABLE_NAME", TABLE),
                ("EVENT_BUS_NAME", "kyc-erase"),
                ("GOPAY_BUCKET", "kyc-erase-gopay"),
                ("ARCHIVE_BUCKET", "kyc-erase-archives"),
            ],
        );
        (
            out.status.code(),
            serde_json::from_str::<Value>(&String::from_utf8(out.stdout).unwrap())
                .unwrap_or(Value::Null),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    // Without the object buckets: refused (their objects of the person would stay).
    let out = common::kyc_local(
        &moto.endpoint,
        &["erase", "gone", "--reason", "gdprArticle17"],
        &[("TABLE_NAME", TABLE), ("EVENT_BUS_NAME", "kyc-erase")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GOPAY_BUCKET and ARCHIVE_BUCKET"));
    // Xpollens' test keyring has no naming key: refused, nothing written.
    let (code, _, err) = erase(&["erase", "gone", "--reason", "gdprArticle17"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("xpollens keyring has no namingKey"), "{err}");
    kyc_integration_tests::keyrings::give_every_keyring_a_naming_key(&config).await;
    let (code, v, err) = erase(&["erase", "gone", "--reason", "gdprArticle17", "--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        (v["dryRun"].as_bool(), v["tombstones"].as_u64()),
        (Some(true), Some(3))
    );
    let (_, status, _) = kyc(&moto, &["status", "gone"]);
    assert!(status["providers"]["xpollens"].is_object(), "dry: {status}");
    let (code, _, err) = erase(&["erase", "gone", "--reason", "gdpr article 17"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("reason must be a code"), "{err}");

    let (code, v, err) = erase(&["erase", "gone", "--reason", "gdprArticle17"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["announced"], true);
    assert!(v["operator"].as_str().unwrap().starts_with("arn:aws:"));
    let (_, status, _) = kyc(&moto, &["status", "gone"]);
    assert!(
        status["providers"].as_object().is_none_or(|p| p.is_empty()),
        "{status}"
    );
    let got = received(&moto, &consumer).await;
    let erased: Vec<&Value> = got
        .iter()
        .filter(|e| e["detail-type"] == "KYC customer erased")
        .collect();
    assert_eq!(erased.len(), 1, "{got:?}");
    assert_eq!(erased[0]["detail"]["customerId"], "gone");
    assert_eq!(erased[0]["detail"]["reason"], "gdprArticle17");
    // Again: nothing more to do, no second event.
    let (code, v, err) = erase(&["erase", "gone", "--reason", "gdprArticle17"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["alreadyErased"], true);
    assert!(received(&moto, &consumer)
        .await
        .iter()
        .all(|e| e["detail-type"] != "KYC customer erased"));
}

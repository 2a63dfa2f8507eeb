use super::*;
use chrono::TimeZone;
use kyc_core::intake::Provider;
use kyc_lifecycle::store::MemoryLifecycleStore;

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn settings() -> Settings {
    Settings::from_env(&Env::Map(
        [("TABLE_NAME".to_string(), "t".to_string())].into(),
    ))
    .unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap()
}

fn body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn the_route_records_the_end_with_the_signers_identity() {
    let store = MemoryLifecycleStore::default();
    store.add_event("demo-erik", Provider::Gopay, now(), "g-1");
    let answer = handle(
        &store,
        &settings(),
        sample("lifecycle-relationship-end.json"),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let b = body(&answer);
    assert_eq!(b["outcome"], "refusedApplicant");
    assert_eq!(b["rule"], "retention:refusedApplicant:365d");
    // 365 days after 2020-01-31 (a leap year) is 2021-01-30, kept whole.
    assert_eq!(b["deleteAfter"], "2021-01-31T00:00:00Z");
    let actions = store.bank_actions("demo-erik");
    assert_eq!(actions.len(), 1);
    assert_eq!(
        actions[0].operator,
        "arn:aws:sts::123456789012:assumed-role/bank-core-kyc/core-banking"
    );
}

#[tokio::test]
async fn the_route_refuses_what_it_cannot_record_and_writes_nothing() {
    let store = MemoryLifecycleStore::default();
    let mut without_iam = sample("lifecycle-relationship-end.json");
    without_iam["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    let cases = [
        (without_iam, 403, "forbidden"),
        (
            with_body(r#"{"endedOn":"31/01/2020","outcome":"customer"}"#),
            400,
            "invalid_message",
        ),
        (
            with_body(r#"{"endedOn":"2020-01-31","outcome":"closed"}"#),
            400,
            "invalid_message",
        ),
        (
            with_body(r#"{"endedOn":"2020-01-31","outcome":"customer","note":"x"}"#),
            400,
            "invalid_message",
        ),
        (
            with_body(r#"{"endedOn":"2020-01-31","outcome":"customer","customerId":"demo-erik"}"#),
            400,
            "invalid_message",
        ),
        (with_body("not json"), 400, "malformed_json"),
        (
            with_body(r#"{"endedOn":"2027-01-31","outcome":"customer"}"#),
            422,
            "invalid_end",
        ),
    ];
    for (event, status, code) in cases {
        let answer = handle(&store, &settings(), event, now()).await.unwrap();
        assert_eq!(answer["statusCode"], status, "{answer}");
        assert_eq!(body(&answer)["error"], code);
    }
    assert!(
        store.bank_actions("demo-erik").is_empty(),
        "nothing written"
    );
}

fn with_body(b: &str) -> Value {
    let mut e = sample("lifecycle-relationship-end.json");
    e["body"] = Value::String(b.into());
    e
}

#[tokio::test]
async fn core_bankings_event_is_recorded_and_a_bad_one_fails_for_good() {
    let store = MemoryLifecycleStore::default();
    let event = sample("lifecycle-relationship-ended-event.json");
    assert_eq!(
        handle(&store, &settings(), event.clone(), now())
            .await
            .unwrap(),
        json!({"recorded": true})
    );
    let l = store
        .snapshot("demo-dana")
        .await
        .unwrap()
        .lifecycle
        .unwrap();
    assert_eq!(l.ended_on.to_string(), "2020-02-29");
    assert_eq!(
        store.bank_actions("demo-dana")[0].operator,
        "events:123456789012:bank.core-banking"
    );
    let mut bad = event;
    bad["detail"]["outcome"] = json!("gone");
    let e = handle(&store, &settings(), bad, now()).await.unwrap_err();
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("outcome must be"), "{e}");
    let e = handle(&store, &settings(), json!({"hello": 1}), now())
        .await
        .unwrap_err();
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn the_schedule_runs_the_sweep() {
    let store = MemoryLifecycleStore::default();
    store.add_event("demo-dana", Provider::Xpollens, now(), "x-1");
    handle(
        &store,
        &settings(),
        sample("lifecycle-relationship-ended-event.json"),
        now(),
    )
    .await
    .unwrap();
    // Ended 2020-02-29: five years (1,827 days) have run.
    let report = handle(
        &store,
        &settings(),
        sample("lifecycle-sweep-scheduled.json"),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(
        (report["due"].as_u64(), report["deleted"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(!store.holds_anything_of("demo-dana"));
}

#[test]
fn retention_out_of_bounds_fails_the_cold_start() {
    let env = Env::Map(
        [
            ("TABLE_NAME".to_string(), "t".to_string()),
            ("RETENTION_CUSTOMER_DAYS".to_string(), "30".to_string()),
        ]
        .into(),
    );
    let e = Settings::from_env(&env).unwrap_err().to_string();
    assert!(e.contains("RETENTION_CUSTOMER_DAYS"), "{e}");
}

//! The compliance lifecycle on moto: the relationship's end, a legal hold, a provider event
//! after the end, the sweep that deletes only what nothing keeps (and a callback during its
//! commit), the deletion record, the retention report.

use kyc_aws::aws_sdk_dynamodb::types::AttributeValue as Av;
use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_aws::DynamoStore;
use kyc_core::chrono::{DateTime, Duration, Utc};
use kyc_core::intake::{EventStore, Outcome as Applied};
use kyc_decision::aws::DynamoDecisionStore;
use kyc_decision::policy::Policy;
use kyc_integration_tests::downstream::{at, state_plan};
use kyc_integration_tests::{provision, Moto, TABLE};
use kyc_lifecycle::aws::DynamoLifecycleStore;
use kyc_lifecycle::retention::{Outcome, Retention};
use kyc_lifecycle::store::{hold, record_end, retention_report, sweep, LifecycleStore, Written};
use kyc_lifecycle::RelationshipEnd;

const OP: &str = "arn:aws:sts::123456789012:assumed-role/kyc-operator/op1";

async fn partition(client: &Client, pk: &str) -> usize {
    client
        .query()
        .table_name(TABLE)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", Av::S(pk.into()))
        .send()
        .await
        .unwrap()
        .count() as usize
}

async fn event_exists(client: &Client, id: &str) -> bool {
    client
        .get_item()
        .table_name(TABLE)
        .key("PK", Av::S(format!("XP#E#{id}")))
        .key("SK", Av::S("EVENT".into()))
        .send()
        .await
        .unwrap()
        .item()
        .is_some()
}

fn end(customer: &str, now: DateTime<Utc>) -> RelationshipEnd {
    RelationshipEnd {
        customer: customer.into(),
        on: now.date_naive(),
        outcome: Outcome::Customer,
    }
}

#[tokio::test]
async fn the_sweep_deletes_a_due_customer_and_keeps_a_held_and_a_returning_one() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let client = Client::new(&config);
    let states = DynamoStore::new(&config, TABLE);
    // The lifecycle function's role: its keys are checked against the template.
    let role = moto
        .sdk_config_for(kyc_integration_tests::Function::Lifecycle)
        .await;
    // Objects: the Xpollens body bucket (versioned), a GoPay bucket with PDFs.
    let s3 = kyc_aws::s3_client(&config);
    let gopay_bucket = "kyc-hooks-gopay-lifecycle";
    kyc_integration_tests::trust_sign::create_bucket(&s3, gopay_bucket, true).await;
    s3.put_bucket_versioning()
        .bucket(kyc_integration_tests::BODY_BUCKET)
        .versioning_configuration(
            kyc_aws::aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(kyc_aws::aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let put = |bucket: &'static str, key: &'static str| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(b"%PDF-1.4".to_vec().into())
                .send()
                .await
                .unwrap();
        }
    };
    for key in [
        "gopay/identification-pdf/77/1.pdf",
        "gopay/identification-pdf/77/1.pdf",
        "gopay/identification-pdf/78/1.pdf",
    ] {
        put(gopay_bucket, key).await;
    }
    let store = DynamoLifecycleStore::new(Client::new(&role), TABLE).with_objects(
        std::sync::Arc::new(kyc_lifecycle::aws::S3ObjectVersions {
            client: kyc_aws::s3_client(&role),
        }),
        kyc_lifecycle::aws::Buckets {
            gopay: Some(gopay_bucket.into()),
            archive: None,
        },
    );
    let retention = Retention::new(365, 30).unwrap();
    let now = at(30);
    // "gone#1"'s bodies go to the body bucket (as a large callback's would).
    let offloading = DynamoStore::new(&config, TABLE)
        .with_body_store(std::sync::Arc::new(kyc_aws::S3BodyStore::new(
            s3.clone(),
            kyc_integration_tests::BODY_BUCKET,
            "xpollens/",
        )))
        .with_inline_body_limit(0);
    for c in ["gone#1", "held", "back", "active"] {
        let plan = state_plan(c, &format!("{c}-1"), "InProgress", false, 1);
        let store = if c == "gone#1" { &offloading } else { &states };
        assert_eq!(store.record(&plan).await.unwrap(), Applied::Applied);
    }
    for c in ["gone#1", "held", "active"] {
        let plan = state_plan(c, &format!("{c}-2"), "Validated", true, 2);
        let store = if c == "gone#1" { &offloading } else { &states };
        assert_eq!(store.record(&plan).await.unwrap(), Applied::Applied);
    }
    // ... and it has a GoPay link to profile 77 (no profile item: no live consent).
    client
        .put_item()
        .table_name(TABLE)
        .item("PK", Av::S("GP#C#gone%231".into()))
        .item("SK", Av::S("LINK#PROFILE".into()))
        .item("clientProfileId", Av::S("77".into()))
        .item("customerId", Av::S("gone#1".into()))
        .send()
        .await
        .unwrap();
    let versions = |bucket: &'static str| {
        let s3 = s3.clone();
        async move {
            let out = s3
                .list_object_versions()
                .bucket(bucket)
                .send()
                .await
                .unwrap();
            out.versions()
                .iter()
                .map(|v| v.key().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(versions(kyc_integration_tests::BODY_BUCKET).await.len(), 2);
    // The decision is the customer's too.
    kyc_decision::store::recompute(
        &DynamoDecisionStore::new(client.clone(), TABLE),
        &Policy::default_policy(),
        "gone#1",
        now,
    )
    .await
    .unwrap();
    for c in ["gone#1", "held", "back"] {
        record_end(&store, &retention, &end(c, now), OP, now)
            .await
            .unwrap();
    }
    hold(&store, "held", "LEGAL-7", OP, now).await.unwrap();
    // "back": a provider event after the end.
    let plan = state_plan("back", "back-2", "Validated", true, 2);
    assert_eq!(states.record(&plan).await.unwrap(), Applied::Applied);

    let due_at = retention.delete_after(now.date_naive(), Outcome::Customer);
    let report = retention_report(&store, now, &[30, 365, 400])
        .await
        .unwrap();
    assert_eq!(report.falling_due[&400]["customer"]["xpollens"], 3);
    // gone#1's two large bodies and its GoPay PDFs (two versions), from the due index.
    assert_eq!(report.objects_falling_due[&400]["customer"]["xpollens"], 2);
    assert_eq!(report.objects_falling_due[&400]["customer"]["gopay"], 2);
    assert!(!report.falling_due.contains_key(&365), "due in 366 days");

    // The day before: nothing.
    let r = sweep(
        &store,
        "lifecycle-sweep",
        due_at - Duration::seconds(1),
        100,
    )
    .await
    .unwrap();
    assert_eq!(r.due, 0);
    assert_eq!(partition(&client, "XP#C#gone%231").await, 3);

    let r = sweep(&store, "lifecycle-sweep", due_at, 100).await.unwrap();
    assert_eq!((r.due, r.deleted, r.held, r.reopened), (3, 1, 1, 1));
    assert_eq!(r.items["history"], 2);
    assert_eq!(r.items["events"], 2);
    // Every version of its objects: two bodies, two versions of its PDF; another profile's
    // PDF stays.
    assert_eq!(r.items["objectVersions"], 4);
    assert!(versions(kyc_integration_tests::BODY_BUCKET)
        .await
        .is_empty());
    assert_eq!(
        versions(gopay_bucket).await,
        ["gopay/identification-pdf/78/1.pdf"]
    );
    assert_eq!(partition(&client, "GP#C#gone%231").await, 0, "the link too");
    // Nothing of "gone#1" is left: provider partition, events, customer level.
    assert_eq!(partition(&client, "XP#C#gone%231").await, 0);
    assert!(!event_exists(&client, "gone#1-1").await);
    assert!(!event_exists(&client, "gone#1-2").await);
    assert_eq!(partition(&client, "C#gone%231").await, 0);
    // Kept: the held one, the returning one (date cleared), the active one.
    assert_eq!(partition(&client, "XP#C#held").await, 3);
    assert!(event_exists(&client, "held-1").await);
    assert_eq!(partition(&client, "XP#C#back").await, 3);
    let back = store.snapshot("back").await.unwrap().lifecycle.unwrap();
    assert_eq!(back.delete_after, None);
    assert_eq!(partition(&client, "XP#C#active").await, 3);

    // The deletion record names no customer and lists by leaf hash both Xpollens history
    // entries and the bank's own history entry of the customer (its relationship end).
    let day = kyc_core::keys::deletion_record_pk(due_at);
    let records = client
        .query()
        .table_name(TABLE)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", Av::S(day))
        .send()
        .await
        .unwrap();
    assert_eq!(records.count(), 1);
    let record = format!("{:?}", records.items()[0]);
    assert!(!record.contains("gone"), "{record}");
    let leaves = records.items()[0]["leaves"].as_m().unwrap();
    assert_eq!(
        leaves
            .values()
            .map(|v| v.as_l().unwrap().len())
            .sum::<usize>(),
        3
    );
    // A second sweep: only the held one is due.
    let r = sweep(&store, "lifecycle-sweep", due_at, 100).await.unwrap();
    assert_eq!((r.due, r.held, r.deleted), (1, 1, 0));
}

#[tokio::test]
async fn a_callback_during_the_deletion_commit_keeps_the_customer_on_dynamodb() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let client = Client::new(&config);
    let states = DynamoStore::new(&config, TABLE);
    let store = DynamoLifecycleStore::new(client.clone(), TABLE);
    let retention = Retention::default();
    let now = at(30);
    states
        .record(&state_plan("busy", "busy-1", "InProgress", false, 1))
        .await
        .unwrap();
    record_end(&store, &retention, &end("busy", now), OP, now)
        .await
        .unwrap();
    let due_at = retention.delete_after(now.date_naive(), Outcome::Customer);
    let snapshot = store.snapshot("busy").await.unwrap();
    // The callback lands between the sweep's check and its commit.
    states
        .record(&state_plan("busy", "busy-2", "Validated", true, 2))
        .await
        .unwrap();
    assert_eq!(
        store
            .commit_deletion("busy", &snapshot, "lifecycle-sweep", due_at)
            .await
            .unwrap(),
        Written::Superseded
    );
    assert_eq!(partition(&client, "XP#C#busy").await, 3, "nothing deleted");
    // A hold placed after the check refuses the commit too.
    let s2 = store.snapshot("busy").await.unwrap();
    hold(&store, "busy", "LEGAL-8", OP, now).await.unwrap();
    assert_eq!(
        store
            .commit_deletion("busy", &s2, "lifecycle-sweep", due_at)
            .await
            .unwrap(),
        Written::Superseded
    );
    assert_eq!(partition(&client, "XP#C#busy").await, 3);
}

#[tokio::test]
async fn an_aliased_customers_provider_data_goes_with_it_and_never_with_the_ids_own_customer() {
    use kyc_decision::alias::{AliasMap, AliasRequest};
    use kyc_decision::aws::DynamoDecisionStore;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let client = Client::new(&config);
    let states = DynamoStore::new(&config, TABLE);
    let role = moto
        .sdk_config_for(kyc_integration_tests::Function::Lifecycle)
        .await;
    let store = DynamoLifecycleStore::new(Client::new(&role), TABLE);
    let retention = Retention::new(365, 30).unwrap();
    let now = at(30);
    // Xpollens knows the bank's "bank-9" as "c2"; "c2" is also a bank customer of its own.
    for (n, status, is_final) in [(1, "InProgress", false), (2, "Validated", true)] {
        states
            .record(&state_plan("c2", &format!("c2-{n}"), status, is_final, n))
            .await
            .unwrap();
    }
    DynamoDecisionStore::new(client.clone(), TABLE)
        .change(&AliasRequest {
            customer: "bank-9".into(),
            provider: kyc_core::intake::Provider::Xpollens,
            provider_id: "c2".into(),
            remove: false,
            operator: OP.into(),
            reason: "ID-MAP-1".into(),
            at: now,
        })
        .await
        .unwrap();
    for c in ["bank-9", "c2"] {
        record_end(&store, &retention, &end(c, now), OP, now)
            .await
            .unwrap();
    }
    let bank9 = store.snapshot("bank-9").await.unwrap();
    assert_eq!(
        bank9
            .state_versions
            .get(&kyc_core::intake::Provider::Xpollens),
        Some(&2),
        "bank-9's Xpollens state is the one under c2"
    );
    assert!(store
        .snapshot("c2")
        .await
        .unwrap()
        .state_versions
        .is_empty());
    hold(&store, "bank-9", "LEGAL-9", OP, now).await.unwrap();
    let due_at = retention.delete_after(now.date_naive(), Outcome::Customer);
    let r = sweep(&store, "lifecycle-sweep", due_at, 100).await.unwrap();
    assert_eq!((r.deleted, r.held), (1, 1));
    assert_eq!(
        partition(&client, "XP#C#c2").await,
        3,
        "c2's own sweep leaves bank-9's Xpollens data"
    );
    kyc_lifecycle::store::release(&store, "bank-9", "LEGAL-9-closed", OP, now)
        .await
        .unwrap();
    let r = sweep(&store, "lifecycle-sweep", due_at, 100).await.unwrap();
    assert_eq!(r.deleted, 1);
    assert_eq!(partition(&client, "XP#C#c2").await, 0, "gone with bank-9");
    assert!(!event_exists(&client, "c2-1").await);
    assert_eq!(partition(&client, "A#XP#c2").await, 0, "the alias too");
}

#[tokio::test]
async fn inactivity_starts_the_clock_of_a_never_verified_applicant_through_the_index() {
    use kyc_lifecycle::store::start_inactivity_clocks;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let client = Client::new(&config);
    let states = DynamoStore::new(&config, TABLE);
    let decisions = DynamoDecisionStore::new(client.clone(), TABLE);
    let role = moto
        .sdk_config_for(kyc_integration_tests::Function::Lifecycle)
        .await;
    let store = DynamoLifecycleStore::new(Client::new(&role), TABLE);
    // An applicant stuck in progress, and a verified customer, both last active long ago.
    states
        .record(&state_plan("idle#1", "idle-1", "InProgress", false, 1))
        .await
        .unwrap();
    states
        .record(&state_plan("verified", "v-1", "Validated", true, 1))
        .await
        .unwrap();
    for c in ["idle#1", "verified"] {
        kyc_decision::store::recompute(&decisions, &Policy::default_policy(), c, at(2))
            .await
            .unwrap();
    }
    let retention = Retention::new(1827, 180).unwrap();
    let now = at(2) + Duration::days(400);
    let started = start_inactivity_clocks(&store, &retention, 365, "lifecycle-sweep", now, 100)
        .await
        .unwrap();
    assert_eq!(started, 1);
    let l = store.snapshot("idle#1").await.unwrap().lifecycle.unwrap();
    assert_eq!(l.outcome, Outcome::RefusedApplicant);
    assert_eq!(l.ended_on, at(1).date_naive());
    assert!(store
        .snapshot("verified")
        .await
        .unwrap()
        .lifecycle
        .is_none());
    // Shorter inactivity than asked: nothing.
    let again = start_inactivity_clocks(&store, &retention, 500, "lifecycle-sweep", now, 100)
        .await
        .unwrap();
    assert_eq!(again, 0);
}

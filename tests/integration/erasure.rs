//! Erasure on moto: `kyc erase`'s code deletes everything of one person at every provider
//! after writing its tombstones; the real Xpollens callback function (as its own role) then
//! drops the person's retried and new callbacks — answered 202, nothing written, counted on
//! the tombstone — while another customer's callbacks are recorded as usual.

use kyc_aws::aws_sdk_dynamodb::types::AttributeValue as Av;
use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_core::chrono::{Duration, Utc};
use kyc_core::intake::Provider;
use kyc_integration_tests::keyrings::give_every_keyring_a_naming_key;
use kyc_integration_tests::*;
use kyc_lifecycle::aws::DynamoLifecycleStore;
use kyc_lifecycle::erase::{erase, EraseError, EraseRequest, MemoryErasureEvents, Refusal};
use kyc_lifecycle::store::{hold, LifecycleStore};
use xpollens_callback::{build_endpoint, handle};

const OP: &str = "arn:aws:sts::123456789012:assumed-role/kyc-operator/op1";

async fn count(client: &Client, pk: &str) -> i32 {
    client
        .query()
        .table_name(TABLE)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", Av::S(pk.into()))
        .send()
        .await
        .unwrap()
        .count()
}

async fn event_exists(client: &Client, id: &str) -> bool {
    count(client, &format!("XP#E#{id}")).await > 0
}

fn callback(id: &str, customer: &str, status: &str) -> Delivery {
    Delivery::new(
        id,
        "12/11/2026 09:00:00 +00:00",
        &format!(r#"{{"type":"4","status":"{status}","appUserId":"{customer}"}}"#),
    )
}

#[tokio::test]
async fn an_erased_persons_retried_callback_is_dropped_and_another_customers_is_recorded() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let naming = give_every_keyring_a_naming_key(&config).await;
    let client = Client::new(&config);
    // The callback function as its own role: its tombstone check and counter stay in its keys.
    let role = moto.sdk_config_for(Function::XpollensCallback).await;
    let endpoint = build_endpoint(&settings(TABLE), &role).unwrap();
    let deliver = |d: Delivery| {
        let endpoint = &endpoint;
        async move {
            let resp = handle(endpoint, d.request()).await.unwrap();
            (
                resp.status().as_u16(),
                String::from_utf8(resp.body().to_vec()).unwrap(),
            )
        }
    };
    for d in [
        callback("erin-1", "erin", "Pending"),
        callback("erin-2", "erin", "Complete"),
        callback("finn-1", "finn", "Pending"),
    ] {
        let (status, body) = deliver(d).await;
        assert_eq!(status, 202, "{body}");
    }
    assert_eq!(
        count(&client, "XP#C#erin").await,
        3,
        "state and two entries"
    );

    // A held person is not erased, and nothing is written.
    let store = DynamoLifecycleStore::new(client.clone(), TABLE);
    let events = MemoryErasureEvents::default();
    let now = Utc::now();
    hold(&store, "erin", "litigation-7", OP, now).await.unwrap();
    let e = erase(
        &store,
        &events,
        &naming,
        &EraseRequest::new("erin", "gdprArticle17"),
        OP,
        now,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, EraseError::Refused(Refusal::Held)), "{e}");
    assert!(event_exists(&client, "erin-1").await);
    kyc_lifecycle::store::release(&store, "erin", "litigation-closed", OP, now)
        .await
        .unwrap();

    // Erased: every item of erin at Xpollens, its events, its customer level.
    let r = erase(
        &store,
        &events,
        &naming,
        &EraseRequest::new("erin", "gdprArticle17"),
        OP,
        now,
    )
    .await
    .unwrap();
    assert_eq!(r.tombstones, 3);
    assert_eq!(r.events_named, 2);
    assert_eq!(count(&client, "XP#C#erin").await, 0);
    assert!(!event_exists(&client, "erin-1").await && !event_exists(&client, "erin-2").await);
    assert_eq!(
        count(&client, "C#erin").await,
        0,
        "hold history, salt, lifecycle: gone"
    );
    assert_eq!(events.sent.lock().unwrap().len(), 1);
    let tomb_pk =
        kyc_core::erasure::tombstone_pk(Provider::Xpollens, &naming[&Provider::Xpollens], "erin");
    let tomb = store.tombstone(&tomb_pk).await.unwrap().expect("tombstone");
    assert!(tomb.completed_at.is_some());
    // The erasure's own record carries its progress: completed and announced.
    let record = store
        .tombstone(&kyc_core::erasure::progress_pk(
            &naming[&Provider::Xpollens],
            "erin",
        ))
        .await
        .unwrap()
        .expect("the erasure's record");
    assert!(record.completed_at.is_some() && record.announced_at.is_some());
    assert!(tomb.tombstone.drop_until > now + Duration::days(59));

    // Xpollens retries an erased event, then sends a new one: both dropped, unrecorded.
    for d in [
        callback("erin-2", "erin", "Complete"),
        callback("erin-3", "erin", "Validated"),
    ] {
        let (status, body) = deliver(d).await;
        assert_eq!(status, 202, "{body}");
        assert!(body.contains("dropped"), "{body}");
    }
    assert!(!event_exists(&client, "erin-2").await && !event_exists(&client, "erin-3").await);
    assert_eq!(count(&client, "XP#C#erin").await, 0, "no state, no history");
    assert_eq!(store.tombstone(&tomb_pk).await.unwrap().unwrap().dropped, 2);
    // Another customer: recorded as always.
    let (status, body) = deliver(callback("finn-2", "finn", "Complete")).await;
    assert_eq!(status, 202, "{body}");
    assert!(!body.contains("dropped"), "{body}");
    assert!(event_exists(&client, "finn-2").await);

    // Run again: already erased, nothing sent twice.
    let r = erase(
        &store,
        &events,
        &naming,
        &EraseRequest::new("erin", "gdprArticle17"),
        OP,
        now,
    )
    .await
    .unwrap();
    assert!(r.already_erased);
    assert_eq!(events.sent.lock().unwrap().len(), 1);

    // A completed erasure's tombstone is never lifted; an erasure that steps back (a hold or a
    // consent landed after its tombstones) lifts its own.
    store
        .lift_tombstones(std::slice::from_ref(&tomb_pk))
        .await
        .unwrap();
    assert!(store.tombstone(&tomb_pk).await.unwrap().is_some());
    let mut stepping_back = tomb.tombstone.clone();
    stepping_back.partition =
        kyc_core::erasure::tombstone_pk(Provider::Xpollens, &naming[&Provider::Xpollens], "finn");
    store
        .write_tombstones(std::slice::from_ref(&stepping_back), now)
        .await
        .unwrap();
    assert!(store
        .tombstone(&stepping_back.partition)
        .await
        .unwrap()
        .is_some());
    store
        .lift_tombstones(std::slice::from_ref(&stepping_back.partition))
        .await
        .unwrap();
    assert!(store
        .tombstone(&stepping_back.partition)
        .await
        .unwrap()
        .is_none());
}

/// Every version of every object under `prefix`.
async fn versions(s3: &kyc_aws::aws_sdk_s3::Client, bucket: &str, prefix: &str) -> usize {
    let out = s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    out.versions().len() + out.delete_markers().len()
}

#[tokio::test]
async fn an_erasure_deletes_the_persons_trust_sign_archives_and_report_copies_and_no_others() {
    use kyc_integration_tests::trust_sign::{
        archive_settings, create_bucket, event, put, record_json, s3, BUCKET,
    };
    use trust_sign_gen::{write_archive, ArchiveOptions, Kind};
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let naming = give_every_keyring_a_naming_key(&config).await;
    let s3 = s3(&config);
    create_bucket(&s3, BUCKET, true).await;
    let processor = kyc_trust_sign::aws::build_processor(archive_settings(TABLE), &config);
    for (customer, key, file) in [
        (
            "tess",
            "incoming/Tess Martin 1.zip",
            "7c1e0b6a-0000-4000-8000-000000000001",
        ),
        (
            "tess",
            "incoming/Tess Martin 2.zip",
            "7c1e0b6a-0000-4000-8000-000000000002",
        ),
        (
            "otto",
            "incoming/Otto Keller.zip",
            "7c1e0b6a-0000-4000-8000-000000000003",
        ),
    ] {
        let mut bytes = Vec::new();
        let opts = ArchiveOptions {
            report_patch: Some(
                serde_json::json!({"clientFile": {"externalId": customer, "uuid": file}}),
            ),
            ..ArchiveOptions::default()
        };
        write_archive(Kind::Full, &opts, &mut bytes).unwrap();
        let up = put(&s3, BUCKET, key, bytes).await;
        processor
            .handle(&event(vec![record_json(BUCKET, &up)]))
            .await
            .unwrap();
    }
    assert_eq!(versions(&s3, BUCKET, "incoming/Tess").await, 2);
    assert_eq!(
        versions(&s3, BUCKET, "processed/").await,
        3,
        "one report copy each"
    );

    // kyc erase's store: objects in the archive bucket, and the Trust & Sign keyring that
    // opens the incoming archives' sealed keys.
    let ts_keys =
        kyc_integration_tests::keyrings::keyring(&config, TRUST_SIGN_PAYLOAD_KEY_SECRET).await;
    let store = DynamoLifecycleStore::new(Client::new(&config), TABLE)
        .with_objects(
            std::sync::Arc::new(kyc_lifecycle::aws::S3ObjectVersions {
                client: kyc_aws::s3_client(&config),
            }),
            kyc_lifecycle::aws::Buckets {
                gopay: None,
                archive: Some(BUCKET.into()),
            },
        )
        .with_trust_sign_keys(ts_keys);
    let r = erase(
        &store,
        &MemoryErasureEvents::default(),
        &naming,
        &EraseRequest::new("tess", "applicantRequest"),
        OP,
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(r.items["objectVersions"] >= 3, "{:?}", r.items);
    assert_eq!(
        versions(&s3, BUCKET, "incoming/Tess").await,
        0,
        "both archives, every version"
    );
    assert_eq!(
        versions(&s3, BUCKET, "incoming/Otto").await,
        1,
        "another customer's stays"
    );
    assert_eq!(
        versions(
            &s3,
            BUCKET,
            "processed/7c1e0b6a-0000-4000-8000-000000000003/"
        )
        .await,
        1,
        "only otto's report copy is left"
    );
    assert_eq!(versions(&s3, BUCKET, "processed/").await, 1);
    assert_eq!(
        count(&client_of(&config), "TS#C#otto").await,
        2,
        "otto's state and entry"
    );
    assert_eq!(count(&client_of(&config), "TS#C#tess").await, 0);

    // The bank drops one of Tess's archives again: the intake drops it, keeps no report copy.
    let mut bytes = Vec::new();
    let opts = ArchiveOptions {
        report_patch: Some(serde_json::json!(
            {"clientFile": {"externalId": "tess", "uuid": "7c1e0b6a-0000-4000-8000-000000000004"}}
        )),
        ..ArchiveOptions::default()
    };
    write_archive(Kind::Full, &opts, &mut bytes).unwrap();
    let up = put(&s3, BUCKET, "incoming/Tess Martin 3.zip", bytes).await;
    let r = processor
        .handle(&event(vec![record_json(BUCKET, &up)]))
        .await
        .unwrap();
    assert!(
        matches!(
            &r[0],
            kyc_trust_sign::processor::RecordResult::Processed {
                outcome: kyc_core::intake::Outcome::ErasedSubject,
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(
        versions(&s3, BUCKET, "processed/").await,
        1,
        "still only otto's copy"
    );
    assert_eq!(count(&client_of(&config), "TS#C#tess").await, 0);
}

fn client_of(config: &kyc_aws::aws_config::SdkConfig) -> Client {
    Client::new(config)
}

/// A body store through which `kyc erase` lands while a large body is uploaded: its tombstone is
/// written between the store's pre-check and its transaction.
struct ErasedDuringUpload {
    inner: kyc_aws::S3BodyStore,
    client: Client,
    tombstone: String,
}

#[async_trait::async_trait]
impl kyc_core::intake::BodyStore for ErasedDuringUpload {
    async fn put(&self, key: &str, sealed: &str) -> Result<String, kyc_core::intake::StoreError> {
        self.client
            .put_item()
            .table_name(TABLE)
            .item("PK", Av::S(self.tombstone.clone()))
            .item("SK", Av::S(kyc_core::keys::TOMBSTONE_SK.into()))
            .item(
                "dropUntil",
                Av::N((Utc::now() + Duration::days(60)).timestamp().to_string()),
            )
            .send()
            .await
            .unwrap();
        self.inner.put(key, sealed).await
    }
    async fn get(&self, location: &str) -> Result<String, kyc_core::intake::StoreError> {
        self.inner.get(location).await
    }
    async fn retract(&self, key: &str) -> Result<(), kyc_core::intake::StoreError> {
        self.inner.retract(key).await
    }
}

/// The race the pre-check leaves: an erasure landing between it and the transaction. The event
/// is dropped whole, and the large body already in S3 is emptied (its sealed text survives only
/// as a noncurrent version, which the bucket expires).
#[tokio::test]
async fn a_large_body_uploaded_while_its_subject_is_erased_is_emptied() {
    use kyc_core::intake::{EventStore, Outcome};
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let s3 = kyc_aws::s3_client(&config);
    s3.put_bucket_versioning()
        .bucket(BODY_BUCKET)
        .versioning_configuration(
            kyc_aws::aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(kyc_aws::aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let client = Client::new(&config);
    let tombstone = "XP#T#n1.racing".to_string();
    let store = kyc_aws::DynamoStore::new(&config, TABLE)
        .with_body_store(std::sync::Arc::new(ErasedDuringUpload {
            inner: kyc_aws::S3BodyStore::new(s3.clone(), BODY_BUCKET, "xpollens/"),
            client: client.clone(),
            tombstone: tombstone.clone(),
        }))
        .with_inline_body_limit(0);
    let mut plan =
        kyc_integration_tests::downstream::state_plan("zoe", "zoe-1", "InProgress", false, 1);
    plan.event.received_at = Utc::now();
    plan.erasure_guard = Some(tombstone);
    assert_eq!(store.record(&plan).await.unwrap(), Outcome::ErasedSubject);
    assert!(
        !event_exists(&client, "zoe-1").await,
        "nothing of the event is written"
    );
    assert_eq!(count(&client, "XP#C#zoe").await, 0);
    let listed = s3
        .list_object_versions()
        .bucket(BODY_BUCKET)
        .prefix("xpollens/bodies/")
        .send()
        .await
        .unwrap();
    let versions = listed.versions();
    assert_eq!(versions.len(), 2, "the body, and the empty version over it");
    let latest = versions
        .iter()
        .find(|v| v.is_latest() == Some(true))
        .unwrap();
    assert_eq!(latest.size(), Some(0), "the current version is empty");
}

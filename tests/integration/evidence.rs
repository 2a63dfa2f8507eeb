//! The hourly seal and `kyc verify` on moto (which enforces Object Lock): real callbacks'
//! history sealed into a locked bucket; a changed, a removed, an inserted and a moved entry are
//! each found; an erasure is explained, not flagged; a digest cannot be deleted, and a
//! replacement is found.

use kyc_aws::aws_sdk_dynamodb::types::AttributeValue as Av;
use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_aws::aws_sdk_s3;
use kyc_core::chrono::{Duration, Utc};
use kyc_evidence::aws::{lock_mode, DynamoHistory, S3Digests};
use kyc_evidence::seal::{hour_of, run, DigestStore, SealSettings};
use kyc_evidence::verify::{verify, Finding};
use kyc_integration_tests::keyrings::give_every_keyring_a_naming_key;
use kyc_integration_tests::*;
use kyc_lifecycle::aws::DynamoLifecycleStore;
use kyc_lifecycle::erase::{erase, EraseRequest, MemoryErasureEvents};
use std::collections::HashMap;
use xpollens_callback::{build_endpoint, handle};

const LOCKED: &str = "kyc-hooks-evidence";
const OP: &str = "arn:aws:sts::123456789012:assumed-role/kyc-operator/op1";

async fn history_items(client: &Client, pk: &str) -> Vec<HashMap<String, Av>> {
    client
        .query()
        .table_name(TABLE)
        .key_condition_expression("PK = :pk AND begins_with(SK, :h)")
        .expression_attribute_values(":pk", Av::S(pk.into()))
        .expression_attribute_values(":h", Av::S("HIST#".into()))
        .send()
        .await
        .unwrap()
        .items()
        .to_vec()
}

/// The seal's history as its own role (its keys are checked against the template), the
/// operator's (`kyc verify` reads the deletion records too), and the locked digests.
async fn seal_and_verify(
    moto: &Moto,
    client: &Client,
) -> (DynamoHistory, DynamoHistory, S3Digests) {
    let role = moto.sdk_config_for(Function::EvidenceSeal).await;
    let digests = S3Digests {
        client: kyc_aws::s3_client(&role),
        bucket: LOCKED.into(),
        lock_mode: lock_mode("COMPLIANCE").unwrap(),
        lock_days: 1,
    };
    (
        DynamoHistory::new(Client::new(&role), TABLE),
        DynamoHistory::new(client.clone(), TABLE),
        digests,
    )
}

#[tokio::test]
async fn tampering_is_found_deletions_are_explained_and_digests_stay_locked() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let client = Client::new(&config);
    let s3 = kyc_aws::s3_client(&config);
    kyc_integration_tests::create_locked_bucket(&s3, LOCKED).await;
    let endpoint = build_endpoint(&settings(TABLE), &config).unwrap();
    let hour_start = kyc_integration_tests::an_hour_with_room(60).await;
    for (id, customer, status) in [
        ("al-1", "alice", "Pending"),
        ("al-2", "alice", "Complete"),
        ("bo-1", "bob", "Pending"),
        ("ca-1", "carol", "Pending"),
        ("ca-2", "carol", "Incomplete"),
        ("do-1", "dora", "Pending"),
    ] {
        let d = Delivery::new(
            id,
            "12/11/2026 09:00:00 +00:00",
            &format!(r#"{{"type":"4","status":"{status}","appUserId":"{customer}"}}"#),
        );
        assert_eq!(handle(&endpoint, d.request()).await.unwrap().status(), 202);
    }
    // Bank actions on bob before the seal (a hold, then its release): sealed with the history.
    let bank = DynamoLifecycleStore::new(client.clone(), TABLE);
    kyc_lifecycle::store::hold(&bank, "bob", "LEGAL-9", OP, Utc::now())
        .await
        .unwrap();
    kyc_lifecycle::store::release(&bank, "bob", "LEGAL-9-closed", OP, Utc::now())
        .await
        .unwrap();
    let hour = hour_of(hour_start);
    let (history, operator, digests) = seal_and_verify(&moto, &client).await;
    // Two hours on, the hour of the callbacks is sealed (the chain starts with it).
    let r = run(
        &history,
        &digests,
        SealSettings::default(),
        kyc_integration_tests::sealing_time(hour_start),
    )
    .await
    .unwrap();
    assert_eq!(r.entries, 8, "{r:?}");
    let hours = vec![hour.clone()];
    let clean = verify(&operator, &digests, &hours).await.unwrap();
    assert!(clean.is_clean(), "{:?}", clean.tampering);
    assert_eq!((clean.leaves_checked, clean.entries_checked), (8, 8));

    // The digest is locked: deleting its version is refused.
    let key = S3Digests::key(&hour);
    let version = s3
        .list_object_versions()
        .bucket(LOCKED)
        .prefix(&key)
        .send()
        .await
        .unwrap()
        .versions()[0]
        .version_id()
        .unwrap()
        .to_string();
    let deleted = s3
        .delete_object()
        .bucket(LOCKED)
        .key(&key)
        .version_id(&version)
        .bypass_governance_retention(true)
        .send()
        .await;
    assert!(
        deleted.is_err(),
        "a locked digest version cannot be deleted"
    );

    // An erasure: explained by its deletion record, not flagged.
    let naming = give_every_keyring_a_naming_key(&config).await;
    let store = DynamoLifecycleStore::new(client.clone(), TABLE);
    erase(
        &store,
        &MemoryErasureEvents::default(),
        &naming,
        &EraseRequest::new("bob", "gdprArticle17"),
        OP,
        hour_start + Duration::minutes(90),
    )
    .await
    .unwrap();
    // A retention deletion: dora's relationship ended years ago; the sweep deletes her.
    kyc_lifecycle::store::record_end(
        &store,
        &kyc_lifecycle::retention::Retention::default(),
        &kyc_lifecycle::RelationshipEnd {
            customer: "dora".into(),
            on: kyc_core::chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            outcome: kyc_lifecycle::retention::Outcome::Customer,
        },
        OP,
        hour_start + Duration::minutes(91),
    )
    .await
    .unwrap();
    let swept = kyc_lifecycle::store::sweep(
        &store,
        "lifecycle-sweep",
        hour_start + Duration::minutes(92),
        10,
    )
    .await
    .unwrap();
    assert_eq!(swept.deleted, 1);
    let after_erasure = verify(&operator, &digests, &hours).await.unwrap();
    assert!(after_erasure.is_clean(), "{:?}", after_erasure.tampering);
    let mut rules: Vec<&str> = after_erasure
        .explained
        .iter()
        .map(|e| e.rule.as_str())
        .collect();
    rules.sort();
    // bob's entry and his two bank actions, dora's entry.
    assert_eq!(rules, vec!["erasure", "erasure", "erasure", "retention"]);

    // Someone with table access: changes alice's first entry, removes her second, inserts one
    // for carol, and moves carol's first to another time.
    let alice = history_items(&client, "XP#C#alice").await;
    let mut changed = alice[0].clone();
    changed.insert("outcome".into(), Av::S("not applied: forged".into()));
    client
        .put_item()
        .table_name(TABLE)
        .set_item(Some(changed))
        .send()
        .await
        .unwrap();
    client
        .delete_item()
        .table_name(TABLE)
        .key("PK", alice[1]["PK"].clone())
        .key("SK", alice[1]["SK"].clone())
        .send()
        .await
        .unwrap();
    let carol = history_items(&client, "XP#C#carol").await;
    let mut inserted = carol[1].clone();
    let forged_sk = carol[1]["SK"].as_s().unwrap().replace("ca-2", "ca-9");
    inserted.insert("SK".into(), Av::S(forged_sk.clone()));
    inserted.insert("eventId".into(), Av::S("ca-9".into()));
    client
        .put_item()
        .table_name(TABLE)
        .set_item(Some(inserted))
        .send()
        .await
        .unwrap();
    let mut moved = carol[0].clone();
    let old_sk = carol[0]["SK"].as_s().unwrap().clone();
    let moved_sk = old_sk.replace("ca-1", "ca-1-moved");
    moved.insert("SK".into(), Av::S(moved_sk.clone()));
    client
        .put_item()
        .table_name(TABLE)
        .set_item(Some(moved))
        .send()
        .await
        .unwrap();
    client
        .delete_item()
        .table_name(TABLE)
        .key("PK", Av::S("XP#C#carol".into()))
        .key("SK", Av::S(old_sk))
        .send()
        .await
        .unwrap();
    let found = verify(&operator, &digests, &hours).await.unwrap();
    let mut kinds: Vec<&str> = found
        .tampering
        .iter()
        .map(|f| match f {
            Finding::Changed { .. } => "changed",
            Finding::Removed { .. } => "removed",
            Finding::Added { .. } => "added",
            Finding::Moved { .. } => "moved",
            _ => "other",
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec!["added", "changed", "moved", "removed"],
        "{:?}",
        found.tampering
    );
    assert!(found.tampering.contains(&Finding::Added {
        hour: hour.clone(),
        pk: "XP#C#carol".into(),
        sk: forged_sk
    }));
    assert_eq!(
        found.explained.len(),
        4,
        "the deletions are still explained"
    );

    // An entry forged without its hour-index keys: not in the index, found from the table.
    let mut hidden = carol[1].clone();
    hidden.insert(
        "SK".into(),
        Av::S(carol[1]["SK"].as_s().unwrap().replace("ca-2", "ca-hidden")),
    );
    hidden.remove("GSI1PK");
    hidden.remove("GSI1SK");
    client
        .put_item()
        .table_name(TABLE)
        .set_item(Some(hidden))
        .send()
        .await
        .unwrap();
    let through_index = verify(&operator, &digests, &hours).await.unwrap();
    assert_eq!(
        through_index.tampering.len(),
        found.tampering.len(),
        "the index misses it"
    );
    let carol_entries = operator.entries_of_customer("carol").await.unwrap();
    let from_table = kyc_evidence::verify::verify_with(&operator, &digests, &hours, &carol_entries)
        .await
        .unwrap();
    assert!(
        from_table
            .tampering
            .iter()
            .any(|f| matches!(f, Finding::Added { sk, .. } if sk.contains("ca-hidden"))),
        "{:?}",
        from_table.tampering
    );

    // A digest overwritten (a new version: the lock keeps the old one) is found.
    s3.put_object()
        .bucket(LOCKED)
        .key(&key)
        .body(b"{}".to_vec().into())
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let replaced = verify(&operator, &digests, &hours).await.unwrap();
    assert!(replaced.tampering.contains(&Finding::DigestReplaced {
        hour: hour.clone(),
        versions: 2
    }));
    // The sealer never writes over it.
    assert!(!digests
        .put_new(&digests.get(&hour).await.unwrap().unwrap().seal)
        .await
        .unwrap());
}

/// `kyc customer alias` after the seal: the provider id's entries were sealed under the id's own
/// salt. `verify` still finds them sealed; erasing the customer explains them (the deletion
/// record names them under both salts) and deletes the id's own salt with the rest.
#[tokio::test]
async fn an_alias_added_after_the_seal_verifies_clean_and_its_erasure_is_explained() {
    use kyc_decision::alias::{AliasMap, AliasRequest};
    use kyc_decision::aws::DynamoDecisionStore;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    provision(&config, TABLE).await;
    let client = Client::new(&config);
    let s3 = kyc_aws::s3_client(&config);
    kyc_integration_tests::create_locked_bucket(&s3, LOCKED).await;
    let endpoint = build_endpoint(&settings(TABLE), &config).unwrap();
    let hour_start = kyc_integration_tests::an_hour_with_room(60).await;
    for (id, status) in [("u77-1", "Pending"), ("u77-2", "Complete")] {
        let d = Delivery::new(
            id,
            "12/11/2026 09:00:00 +00:00",
            &format!(r#"{{"type":"4","status":"{status}","appUserId":"u-77"}}"#),
        );
        assert_eq!(handle(&endpoint, d.request()).await.unwrap().status(), 202);
    }
    let hour = hour_of(hour_start);
    let (history, operator, digests) = seal_and_verify(&moto, &client).await;
    let r = run(
        &history,
        &digests,
        SealSettings::default(),
        kyc_integration_tests::sealing_time(hour_start),
    )
    .await
    .unwrap();
    assert_eq!(r.entries, 2, "{r:?}");
    // Xpollens' "u-77" turns out to be the bank's "bank-9".
    DynamoDecisionStore::new(client.clone(), TABLE)
        .change(&AliasRequest {
            customer: "bank-9".into(),
            provider: kyc_core::intake::Provider::Xpollens,
            provider_id: "u-77".into(),
            remove: false,
            operator: OP.into(),
            reason: "ID-MAP-1".into(),
            at: hour_start + Duration::minutes(82),
        })
        .await
        .unwrap();
    let hours = vec![hour.clone()];
    let aliased = verify(&operator, &digests, &hours).await.unwrap();
    assert!(aliased.is_clean(), "{:?}", aliased.tampering);
    assert_eq!(aliased.entries_checked, 2);

    let naming = give_every_keyring_a_naming_key(&config).await;
    let store = DynamoLifecycleStore::new(client.clone(), TABLE);
    let erased = erase(
        &store,
        &MemoryErasureEvents::default(),
        &naming,
        &EraseRequest::new("bank-9", "gdprArticle17"),
        OP,
        hour_start + Duration::minutes(90),
    )
    .await
    .unwrap();
    assert_eq!(erased.items.get("aliasedIdSalt"), Some(&1), "{erased:?}");
    let after = verify(&operator, &digests, &hours).await.unwrap();
    assert!(after.is_clean(), "{:?}", after.tampering);
    assert_eq!(after.explained.len(), 2, "{:?}", after.explained);
    assert!(after.explained.iter().all(|e| e.rule == "erasure"));
    let own_area = client
        .query()
        .table_name(TABLE)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", Av::S(kyc_core::keys::customer_area_pk("u-77")))
        .send()
        .await
        .unwrap();
    assert_eq!(own_area.count(), 0, "the id's own salt is erased too");
}

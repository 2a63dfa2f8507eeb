//! The seal and the verification on the twins: every kind of tampering is found, the bank's
//! deletions are explained, a resealed value changes nothing.

use crate::merkle;
use crate::seal::{run, DigestStore, HistorySource, HourSeal, MemoryDigests, SealSettings};
use crate::twin::MemoryHistory;
use crate::verify::{hours_between, verify, Finding};
use chrono::{DateTime, Duration, TimeZone, Utc};
use kyc_core::evidence::{leaf_key_hash, DeletionRecord};
use kyc_core::keys;
use serde_json::json;
use std::collections::BTreeMap;

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, h, m, 0).unwrap()
}

fn sk(t: DateTime<Utc>, id: &str) -> String {
    keys::history_sk(t, id)
}

/// Three customers' entries over hours 09 and 10, sealed at 11:30.
async fn sealed() -> (MemoryHistory, MemoryDigests) {
    let h = MemoryHistory::default();
    for (c, t, id, outcome) in [
        ("alice", at(9, 5), "a1", "applied"),
        ("alice", at(9, 40), "a2", "applied"),
        ("bob", at(9, 41), "b1", "applied"),
        ("bob", at(10, 2), "b2", "not applied: older"),
        ("carol", at(10, 30), "c1", "applied"),
    ] {
        h.add(
            &keys::customer_pk(kyc_core::intake::Provider::Xpollens, c),
            &sk(t, id),
            t,
            json!({"eventId": id, "outcome": outcome, "summary": {"status": "Pending"}}),
        );
    }
    let d = MemoryDigests::default();
    // The chain starts at 09 (the first run at 10:25 seals 09 only).
    let r = run(&h, &d, SealSettings::default(), at(10, 25))
        .await
        .unwrap();
    assert_eq!((r.hours, r.entries), (1, 3));
    let r = run(&h, &d, SealSettings::default(), at(11, 30))
        .await
        .unwrap();
    assert_eq!(
        (r.hours, r.entries, r.last_hour.as_deref()),
        (1, 2, Some("2026-12-06T10"))
    );
    (h, d)
}

fn hours() -> Vec<String> {
    hours_between(at(9, 0), at(10, 59))
}

fn pk(c: &str) -> String {
    keys::customer_pk(kyc_core::intake::Provider::Xpollens, c)
}

#[tokio::test]
async fn an_untouched_history_verifies_clean_and_the_chain_links_the_hours() {
    let (h, d) = sealed().await;
    let r = verify(&h, &d, &hours()).await.unwrap();
    assert!(r.is_clean(), "{:?}", r.tampering);
    assert_eq!(
        (r.hours_checked, r.leaves_checked, r.entries_checked),
        (2, 5, 5)
    );
    let ten = d.get("2026-12-06T10").await.unwrap().unwrap().seal;
    let nine = d.get("2026-12-06T09").await.unwrap().unwrap().seal;
    assert_eq!(ten.previous_root, Some(nine.root));
    assert_eq!(nine.previous_hour, None, "the chain's first hour");
    // No digest names anyone: leaves are keyed hashes.
    let text = serde_json::to_string(&ten).unwrap();
    assert!(!text.contains("bob") && !text.contains("carol"));
}

#[tokio::test]
async fn a_changed_a_removed_an_added_and_a_moved_entry_are_each_found() {
    let (h, d) = sealed().await;
    h.edit(&pk("alice"), &sk(at(9, 5), "a1"), |e| {
        e.item["outcome"] = json!("not applied: older")
    });
    h.remove(&pk("bob"), &sk(at(9, 41), "b1"));
    h.add(
        &pk("alice"),
        &sk(at(10, 10), "a9"),
        at(10, 10),
        json!({"eventId": "a9", "outcome": "applied"}),
    );
    h.move_to(
        &pk("carol"),
        &sk(at(10, 30), "c1"),
        &sk(at(9, 1), "c1"),
        at(9, 1),
    );
    let r = verify(&h, &d, &hours()).await.unwrap();
    let kinds: Vec<&str> = r
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
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec!["added", "changed", "moved", "removed"],
        "{:?}",
        r.tampering
    );
    for f in &r.tampering {
        match f {
            Finding::Changed { hour, sk: s, .. } => {
                assert_eq!(
                    (hour.as_str(), s.as_str()),
                    ("2026-12-06T09", sk(at(9, 5), "a1").as_str())
                )
            }
            Finding::Moved {
                from_hour, hour, ..
            } => {
                assert_eq!(
                    (from_hour.as_str(), hour.as_str()),
                    ("2026-12-06T10", "2026-12-06T09")
                )
            }
            _ => {}
        }
    }
    // Never the content.
    assert!(!serde_json::to_string(&r).unwrap().contains("Pending"));
}

#[tokio::test]
async fn the_banks_deletion_is_explained_not_flagged_and_erasing_the_salt_leaves_no_name() {
    let (h, d) = sealed().await;
    let salt = h.salt_of("bob").unwrap();
    let leaf = |t, id| leaf_key_hash(&salt, &pk("bob"), &sk(t, id));
    h.delete_customer(
        "bob",
        DeletionRecord {
            at: at(12, 0),
            rule: "erasure".into(),
            reason: "erasure:gdprArticle17".into(),
            operator: "op".into(),
            leaves: BTreeMap::from([
                ("2026-12-06T09".into(), vec![leaf(at(9, 41), "b1")]),
                ("2026-12-06T10".into(), vec![leaf(at(10, 2), "b2")]),
            ]),
            counts: BTreeMap::new(),
        },
    );
    let r = verify(&h, &d, &hours()).await.unwrap();
    assert!(r.is_clean(), "{:?}", r.tampering);
    assert_eq!(r.explained.len(), 2);
    assert!(r.explained.iter().all(|e| e.rule == "erasure"));
    assert!(h.salt_of("bob").is_none());
}

#[tokio::test]
async fn a_resealed_value_changes_no_leaf() {
    let h = MemoryHistory::default();
    let ring1 = kyc_core::crypto::Keyring::new(
        kyc_core::crypto::PayloadKey::new("k1", [1; 32]).unwrap(),
        vec![],
    );
    let ring2 = kyc_core::crypto::Keyring::new(
        kyc_core::crypto::PayloadKey::new("k2", [2; 32]).unwrap(),
        vec![kyc_core::crypto::PayloadKey::new("k1", [1; 32]).unwrap()],
    );
    let aad = kyc_core::crypto::Aad::new("trust_sign", "t1", "archiveKey", Some("dan"));
    let sealed_v = ring1.seal(&aad, b"incoming/Dan.zip");
    h.add(
        &pk("dan"),
        &sk(at(9, 3), "t1"),
        at(9, 3),
        json!({"eventId": "t1", "summary": {"archive": {"sealedKey": sealed_v}}}),
    );
    let d = MemoryDigests::default();
    run(&h, &d, SealSettings::default(), at(10, 25))
        .await
        .unwrap();
    let resealed = ring2.reseal(&aad, &sealed_v).unwrap().unwrap();
    assert_ne!(resealed, sealed_v);
    h.edit(&pk("dan"), &sk(at(9, 3), "t1"), |e| {
        e.item["summary"]["archive"]["sealedKey"] = json!(resealed)
    });
    let r = verify(&h, &d, &hours_between(at(9, 0), at(9, 59)))
        .await
        .unwrap();
    assert!(r.is_clean(), "{:?}", r.tampering);
}

#[tokio::test]
async fn a_replaced_or_altered_digest_and_a_broken_chain_are_found() {
    let (h, d) = sealed().await;
    {
        let mut o = d.objects.lock().unwrap();
        // Overwritten with a version that drops a leaf (its root recomputed: it looks right).
        let nine = o.get("2026-12-06T09").unwrap()[0].clone();
        let forged = HourSeal::new(&nine.hour, nine.leaves[1..].to_vec(), None, nine.sealed_at);
        o.get_mut("2026-12-06T09").unwrap().push(forged);
        // Altered in place: a root that is not its leaves', and a chain link to another root.
        let ten = o.get_mut("2026-12-06T10").unwrap();
        ten[0].root = [9; 32];
        ten[0].previous_root = Some([8; 32]);
    }
    let r = verify(&h, &d, &hours()).await.unwrap();
    assert!(r.tampering.contains(&Finding::DigestReplaced {
        hour: "2026-12-06T09".into(),
        versions: 2
    }));
    assert!(r.tampering.contains(&Finding::RootMismatch {
        hour: "2026-12-06T10".into()
    }));
    assert!(
        r.tampering.contains(&Finding::ChainBroken {
            hour: "2026-12-06T10".into()
        }),
        "{:?}",
        r.tampering
    );
}

#[tokio::test]
async fn the_sealer_waits_past_the_hour_catches_up_in_order_and_never_reseals() {
    let h = MemoryHistory::default();
    let d = MemoryDigests::default();
    // 10:19: hour 09 ended 19 minutes ago, under the 20-minute delay: only 08 is sealed.
    let r = run(&h, &d, SealSettings::default(), at(10, 19))
        .await
        .unwrap();
    assert_eq!(
        (r.hours, r.last_hour.as_deref()),
        (1, Some("2026-12-06T08"))
    );
    let r = run(&h, &d, SealSettings::default(), at(10, 21))
        .await
        .unwrap();
    assert_eq!(
        (r.hours, r.last_hour.as_deref()),
        (1, Some("2026-12-06T09"))
    );
    // Down for a day: the next runs seal every hour in order, at most max_hours a run.
    let s = SealSettings {
        max_hours: 10,
        ..SealSettings::default()
    };
    let r = run(&h, &d, s, at(10, 21) + Duration::hours(24))
        .await
        .unwrap();
    assert_eq!((r.hours, r.behind), (10, 14));
    let r = run(&h, &d, s, at(10, 21) + Duration::hours(24))
        .await
        .unwrap();
    assert_eq!((r.hours, r.behind), (10, 4));
    // A late write into a sealed hour is an insertion, whatever the sealer does next.
    h.add(
        &pk("eve"),
        &sk(at(9, 50), "e1"),
        at(9, 50),
        json!({"eventId": "e1"}),
    );
    run(&h, &d, s, at(10, 21) + Duration::hours(24))
        .await
        .unwrap();
    let r = verify(&h, &d, &hours_between(at(9, 0), at(9, 59)))
        .await
        .unwrap();
    assert_eq!(r.tampering.len(), 1);
    assert!(matches!(r.tampering[0], Finding::Added { .. }));
    assert_eq!(
        d.objects.lock().unwrap()["2026-12-06T09"].len(),
        1,
        "never resealed"
    );
}

#[tokio::test]
async fn an_inclusion_proof_verifies_against_the_sealed_root() {
    let (h, d) = sealed().await;
    let seal = d.get("2026-12-06T09").await.unwrap().unwrap().seal;
    let salt = h.salt_of("alice").unwrap();
    let key =
        merkle::hex_hash::parse(&leaf_key_hash(&salt, &pk("alice"), &sk(at(9, 40), "a2"))).unwrap();
    let proof = seal.proof_of(&key).unwrap();
    let leaf = seal.leaves.iter().find(|l| l.key == key).unwrap();
    assert!(merkle::verify(&leaf.hash(), &proof, &seal.root));
    let other = seal.leaves.iter().find(|l| l.key != key).unwrap();
    assert!(!merkle::verify(&other.hash(), &proof, &seal.root));
}

#[tokio::test]
async fn a_digest_written_ahead_by_someone_else_stops_the_seal() {
    let h = MemoryHistory::default();
    let d = MemoryDigests::default();
    run(&h, &d, SealSettings::default(), at(10, 25))
        .await
        .unwrap();
    h.add(
        &pk("eve"),
        &sk(at(10, 5), "e1"),
        at(10, 5),
        json!({"eventId": "e1"}),
    );
    // Someone with PutObject writes hour 10's digest before the seal, leaving e1 out.
    let nine = d.get("2026-12-06T09").await.unwrap().unwrap().seal;
    let forged = HourSeal::new(
        "2026-12-06T10",
        vec![],
        Some(&crate::seal::ChainPointer {
            hour: nine.hour.clone(),
            root: nine.root,
        }),
        at(10, 30),
    );
    assert!(d.put_new(&forged).await.unwrap());
    let e = run(&h, &d, SealSettings::default(), at(11, 25))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("was not written by this seal"),
        "{e}"
    );
}

#[tokio::test]
async fn a_deletion_record_forged_to_hide_a_removal_explains_nothing() {
    let (h, d) = sealed().await;
    let salt = h.salt_of("bob").unwrap();
    // Someone with table access deletes bob's 09:41 entry and puts a record dated in a sealed
    // hour that names it.
    h.remove(&pk("bob"), &sk(at(9, 41), "b1"));
    h.forge_deletion_record(DeletionRecord {
        at: at(9, 50),
        rule: "retention".into(),
        reason: "retention:customer:1827d".into(),
        operator: "lifecycle-sweep".into(),
        leaves: BTreeMap::from([(
            "2026-12-06T09".into(),
            vec![leaf_key_hash(&salt, &pk("bob"), &sk(at(9, 41), "b1"))],
        )]),
        counts: BTreeMap::new(),
    });
    let r = verify(&h, &d, &hours()).await.unwrap();
    assert!(r.explained.is_empty(), "{:?}", r.explained);
    assert!(r.tampering.iter().any(
        |f| matches!(f, Finding::UnsealedDeletionRecord { hour, .. } if hour == "2026-12-06T09")
    ));
    assert!(r
        .tampering
        .iter()
        .any(|f| matches!(f, Finding::Removed { hour, .. } if hour == "2026-12-06T09")));
}

/// `kyc customer alias` after an hour was sealed: the provider id's entries were sealed under
/// the id's own salt; the customer's salt now names them, and `verify` still finds them sealed
/// (not moved, not removed).
#[tokio::test]
async fn an_alias_added_after_the_seal_changes_no_finding() {
    let (history, digests) = sealed().await;
    let aliased = pk("bob");
    history.alias(&aliased, "bank-9");
    // bank-9 is a customer with a salt of its own (the alias points the partition at it).
    history.salt_for(&pk("bank-9"), true).await.unwrap();
    let report = verify(&history, &digests, &hours()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.tampering);
    // A real change is still found under the old salt.
    let entry = history
        .entries_of_hour(&hours()[0])
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.pk == aliased)
        .expect("an entry of the aliased id");
    history.edit(&entry.pk, &entry.sk, |e| {
        e.item["outcome"] = "forged".into()
    });
    let report = verify(&history, &digests, &hours()).await.unwrap();
    assert!(
        matches!(report.tampering.as_slice(), [Finding::Changed { pk, .. }] if *pk == aliased),
        "{:?}",
        report.tampering
    );
}

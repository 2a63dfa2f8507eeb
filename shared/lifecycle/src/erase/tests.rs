use super::*;
use crate::retention::Retention;
use crate::store::{hold, record_end, MemoryLifecycleStore};
use crate::{Hold, RelationshipEnd};
use chrono::{Duration, NaiveDate, TimeZone};
use kyc_core::crypto::{Keyring, PayloadKey};
use kyc_core::intake::{EventRecord, EventStore, MemoryStore, Outcome as Recorded, WritePlan};

const OP: &str = "arn:aws:sts::123456789012:assumed-role/kyc-operator/op1";

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap()
}

fn naming_keys() -> NamingKeys {
    Provider::ALL
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, NamingKey::new("n1", [i as u8 + 1; 32]).unwrap()))
        .collect()
}

/// An applicant with two Xpollens events and one GoPay event, never verified.
fn applicant(store: &MemoryLifecycleStore, c: &str) {
    store.add_event(c, Provider::Xpollens, at(2026, 1, 5), &format!("{c}-x1"));
    store.add_event(c, Provider::Xpollens, at(2026, 1, 6), &format!("{c}-x2"));
    store.add_event(c, Provider::Gopay, at(2026, 2, 1), &format!("{c}-g1"));
}

fn request(c: &str) -> EraseRequest {
    EraseRequest::new(c, "gdprArticle17")
}

#[tokio::test]
async fn an_applicant_is_erased_everywhere_with_tombstones_a_record_and_one_event() {
    let s = MemoryLifecycleStore::default();
    let events = MemoryErasureEvents::default();
    applicant(&s, "ann");
    applicant(&s, "bob");
    let now = at(2026, 6, 1);
    let r = erase(&s, &events, &naming_keys(), &request("ann"), OP, now)
        .await
        .unwrap();
    assert!(!s.holds_anything_of("ann"), "every item of ann is gone");
    assert!(s.holds_anything_of("bob"), "bob is untouched");
    assert_eq!(s.events(), 3, "only bob's events are left");
    assert_eq!(r.tombstones, 3, "one per provider");
    assert_eq!(r.events_named, 3);
    assert_eq!(r.items["history"], 3);
    assert!(!r.retention_overridden);
    assert_eq!(r.drop_until, Some(now + Duration::days(60)));
    let graves = s.tombstones();
    assert_eq!(
        graves.len(),
        4,
        "one per provider, and the erasure's own record"
    );
    assert_eq!(
        graves
            .iter()
            .filter(|g| g.tombstone.partition.starts_with("T#"))
            .count(),
        1
    );
    for g in &graves {
        assert!(g.completed_at.is_some());
        let text = serde_json::to_string(g).unwrap();
        assert!(
            !text.contains("ann-") && !text.contains("\"ann\""),
            "no id in clear: {text}"
        );
    }
    let x = graves
        .iter()
        .find(|g| g.tombstone.partition.starts_with("XP#T#"))
        .unwrap();
    assert_eq!(x.tombstone.events_erased, 2);
    let record = graves
        .iter()
        .find(|g| g.tombstone.partition.starts_with("T#"))
        .unwrap();
    assert!(record.announced_at.is_some() && record.completed_at.is_some());
    // The deletion record says it was an erasure, and names no one.
    let records = s.deletion_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].rule, "erasure");
    assert_eq!(records[0].reason, "erasure:gdprArticle17");
    assert_eq!(records[0].operator, OP);
    assert!(!serde_json::to_string(&records[0]).unwrap().contains("ann"));
    // One event, valid against the published schema.
    let sent = events.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].customer_id, "ann");
    assert_eq!(sent[0].providers, vec![Provider::Xpollens, Provider::Gopay]);
    let schema: serde_json::Value = serde_json::from_str(SCHEMA_V1).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler.add_resource("schema.json", schema).unwrap();
    let idx = compiler.compile("schema.json", &mut schemas).unwrap();
    schemas
        .validate(&serde_json::to_value(&sent[0]).unwrap(), idx)
        .unwrap();
    let sample: serde_json::Value =
        serde_json::from_str(include_str!("../../../../events/kyc-customer-erased.json")).unwrap();
    schemas.validate(&sample["detail"], idx).unwrap();
    assert_eq!(sample["detail-type"], DETAIL_TYPE);
}

#[tokio::test]
async fn an_erased_persons_retried_callback_is_dropped_for_the_stated_period() {
    let s = MemoryLifecycleStore::default();
    applicant(&s, "ann");
    let naming = naming_keys();
    let now = at(2026, 6, 1);
    erase(
        &s,
        &MemoryErasureEvents::default(),
        &naming,
        &request("ann"),
        OP,
        now,
    )
    .await
    .unwrap();
    // The intake's twin, holding the tombstones the erasure wrote.
    let intake = MemoryStore::default();
    for g in s.tombstones() {
        intake.put_tombstone(&g.tombstone);
    }
    let ring = Keyring::new(PayloadKey::new("k", [9; 32]).unwrap(), vec![])
        .with_naming_key(naming[&Provider::Xpollens].clone());
    let retry = |received_at: DateTime<Utc>, subject: &str| {
        WritePlan {
            event: EventRecord {
                provider: Provider::Xpollens,
                event_id: format!("{subject}-x1"),
                event_type: "4".into(),
                subject: Some(subject.into()),
                received_at,
                provider_time: None,
                body_sha256: "00".into(),
                sealed_body: String::new(),
                summary: serde_json::json!({}),
            },
            patch: None,
            no_patch_reason: Some("test".into()),
            erasure_guard: None,
        }
        .guarded(&ring)
    };
    let guard = retry(now, "ann").erasure_guard.unwrap();
    assert_eq!(
        intake
            .record(&retry(now + Duration::days(1), "ann"))
            .await
            .unwrap(),
        Recorded::ErasedSubject
    );
    assert_eq!(
        intake
            .record(&retry(now + Duration::days(59), "ann"))
            .await
            .unwrap(),
        Recorded::ErasedSubject
    );
    assert_eq!(intake.event_count(), 0, "nothing of it written");
    assert_eq!(intake.dropped(&guard), 2, "only that it was dropped");
    // Another customer's events go through; the erased one's after the period too.
    assert!(matches!(
        intake.record(&retry(now, "bob")).await.unwrap(),
        Recorded::Recorded { .. }
    ));
    assert!(matches!(
        intake
            .record(&retry(now + Duration::days(61), "ann"))
            .await
            .unwrap(),
        Recorded::Recorded { .. }
    ));
}

#[tokio::test]
async fn a_legal_hold_refuses_the_erasure_and_nothing_is_written() {
    let s = MemoryLifecycleStore::default();
    applicant(&s, "ann");
    hold(&s, "ann", "litigation-42", OP, at(2026, 5, 1))
        .await
        .unwrap();
    let mut req = request("ann");
    req.override_retention = true;
    let e = erase(
        &s,
        &MemoryErasureEvents::default(),
        &naming_keys(),
        &req,
        OP,
        at(2026, 6, 1),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, EraseError::Refused(Refusal::Held)), "{e}");
    assert!(s.tombstones().is_empty());
    assert_eq!(s.history_len("ann"), 3);
}

#[tokio::test]
async fn a_running_retention_refuses_unless_overridden_and_the_override_is_recorded() {
    let s = MemoryLifecycleStore::default();
    let events = MemoryErasureEvents::default();
    applicant(&s, "cus");
    s.set_ever_verified("cus");
    let now = at(2026, 6, 1);
    // A customer whose relationship has not ended: AML retention applies.
    let e = erase(&s, &events, &naming_keys(), &request("cus"), OP, now)
        .await
        .unwrap_err();
    assert!(
        matches!(e, EraseError::Refused(Refusal::RetentionRunning { .. })),
        "{e}"
    );
    // Ended, and the period still runs.
    record_end(
        &s,
        &Retention::default(),
        &RelationshipEnd {
            customer: "cus".into(),
            on: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            outcome: crate::retention::Outcome::Customer,
        },
        OP,
        now,
    )
    .await
    .unwrap();
    let e = erase(&s, &events, &naming_keys(), &request("cus"), OP, now)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--override-retention"), "{e}");
    assert!(s.tombstones().is_empty());
    let mut req = request("cus");
    req.override_retention = true;
    let r = erase(&s, &events, &naming_keys(), &req, OP, now)
        .await
        .unwrap();
    assert!(r.retention_overridden);
    assert!(!s.holds_anything_of("cus"));
    let records = s.deletion_records();
    assert_eq!(records[0].reason, "erasure:gdprArticle17:overrideRetention");
    let sent = events.sent.lock().unwrap().clone();
    assert!(sent[0].retention_overridden);
    assert_eq!(sent[0].reason, "gdprArticle17");
}

#[tokio::test]
async fn once_the_retention_period_is_over_no_override_is_needed() {
    let s = MemoryLifecycleStore::default();
    s.add_event("old", Provider::Xpollens, at(2019, 1, 5), "old-x1");
    s.set_ever_verified("old");
    let l = record_end(
        &s,
        &Retention::default(),
        &RelationshipEnd {
            customer: "old".into(),
            on: NaiveDate::from_ymd_opt(2020, 3, 1).unwrap(),
            outcome: crate::retention::Outcome::Customer,
        },
        OP,
        at(2020, 3, 2),
    )
    .await
    .unwrap();
    let r = erase(
        &s,
        &MemoryErasureEvents::default(),
        &naming_keys(),
        &request("old"),
        OP,
        l.delete_after.unwrap(),
    )
    .await
    .unwrap();
    assert!(!r.retention_overridden);
    assert!(!s.holds_anything_of("old"));
}

#[tokio::test]
async fn a_dry_run_reports_and_writes_nothing() {
    let s = MemoryLifecycleStore::default();
    let events = MemoryErasureEvents::default();
    applicant(&s, "ann");
    let mut req = request("ann");
    req.dry_run = true;
    let r = erase(&s, &events, &naming_keys(), &req, OP, at(2026, 6, 1))
        .await
        .unwrap();
    assert!(r.dry_run);
    assert_eq!((r.tombstones, r.events_named), (3, 3));
    assert_eq!(r.items["states"], 2);
    assert!(s.tombstones().is_empty());
    assert_eq!(s.history_len("ann"), 3);
    assert!(events.sent.lock().unwrap().is_empty());
    // A dry run of a refused erasure is refused the same way.
    s.set_gopay_consent_live("ann", true);
    let e = erase(&s, &events, &naming_keys(), &req, OP, at(2026, 6, 1))
        .await
        .unwrap_err();
    assert!(matches!(e, EraseError::Refused(Refusal::GopayConsentLive)));
}

#[tokio::test]
async fn an_interrupted_erasure_is_finished_by_the_next_run_and_announced_once() {
    let s = MemoryLifecycleStore::default();
    let events = MemoryErasureEvents::default();
    applicant(&s, "ann");
    *events.fail_next.lock().unwrap() = 1;
    let now = at(2026, 6, 1);
    let e = erase(&s, &events, &naming_keys(), &request("ann"), OP, now)
        .await
        .unwrap_err();
    assert!(matches!(e, EraseError::Store(_)), "{e}");
    assert!(!s.holds_anything_of("ann"), "deleted before the event");
    // The next run: nothing to delete, the event goes now.
    let r = erase(
        &s,
        &events,
        &naming_keys(),
        &request("ann"),
        OP,
        now + Duration::hours(1),
    )
    .await
    .unwrap();
    assert!(r.already_erased && r.announced);
    // And again: nothing more.
    let r = erase(
        &s,
        &events,
        &naming_keys(),
        &request("ann"),
        OP,
        now + Duration::hours(2),
    )
    .await
    .unwrap();
    assert!(r.already_erased);
    assert_eq!(events.sent.lock().unwrap().len(), 1);
    assert_eq!(s.deletion_records().len(), 1);
}

#[tokio::test]
async fn a_run_stopped_after_its_tombstones_resumes_without_checking_again() {
    let s = MemoryLifecycleStore::default();
    let events = MemoryErasureEvents::default();
    applicant(&s, "ann");
    let naming = naming_keys();
    let now = at(2026, 6, 1);
    // What a run that stopped right after step 2 leaves behind.
    let snapshot = s.snapshot("ann").await.unwrap();
    let ids = s.event_ids("ann").await.unwrap();
    let mut graves = tombstones(
        &naming,
        &snapshot,
        &ids,
        "gdprArticle17",
        now,
        now + Duration::days(60),
    )
    .unwrap();
    let mut record = graves[0].clone();
    record.partition = kyc_core::erasure::progress_pk(&naming[&Provider::Xpollens], "ann");
    graves.insert(0, record);
    s.write_tombstones(&graves, now).await.unwrap();
    // Meanwhile the customer was verified (a decision from before): a new run would refuse,
    // the resumed one finishes.
    s.set_ever_verified("ann");
    let r = erase(
        &s,
        &events,
        &naming,
        &request("ann"),
        OP,
        now + Duration::minutes(5),
    )
    .await
    .unwrap();
    assert!(r.resumed);
    assert_eq!(
        r.drop_until,
        Some(now + Duration::days(60)),
        "the first run's period"
    );
    assert!(!s.holds_anything_of("ann"));
    assert_eq!(events.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn without_every_naming_key_or_with_a_bad_request_nothing_is_done() {
    let s = MemoryLifecycleStore::default();
    applicant(&s, "ann");
    let events = MemoryErasureEvents::default();
    let mut naming = naming_keys();
    naming.remove(&Provider::Gopay);
    let e = erase(&s, &events, &naming, &request("ann"), OP, at(2026, 6, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(e, EraseError::Refused(Refusal::NoNamingKey("gopay"))),
        "{e}"
    );
    let mut req = request("ann");
    req.drop_days = 29;
    assert!(matches!(
        erase(&s, &events, &naming_keys(), &req, OP, at(2026, 6, 1)).await,
        Err(EraseError::Refused(Refusal::DropDays))
    ));
    let req = EraseRequest::new("ann", "because she asked");
    assert!(matches!(
        erase(&s, &events, &naming_keys(), &req, OP, at(2026, 6, 1)).await,
        Err(EraseError::Lifecycle(LifecycleError::Reason))
    ));
    assert!(s.tombstones().is_empty());
    assert_eq!(s.history_len("ann"), 3);
}

#[tokio::test]
async fn a_customer_known_by_other_ids_is_erased_and_announced_in_one_run() {
    let s = MemoryLifecycleStore::default();
    let events = MemoryErasureEvents::default();
    applicant(&s, "ann");
    // Xpollens knows ann as "XP-77"; her own id at GoPay is another customer's alias.
    s.set_provider_id("ann", Provider::Xpollens, Some("XP-77"));
    s.set_provider_id("ann", Provider::Gopay, None);
    let naming = naming_keys();
    let r = erase(&s, &events, &naming, &request("ann"), OP, at(2026, 6, 1))
        .await
        .unwrap();
    assert!(r.announced && !r.already_erased);
    assert_eq!(
        r.tombstones, 2,
        "Xpollens (XP-77) and Trust & Sign; none at GoPay"
    );
    let parts: Vec<String> = s
        .tombstones()
        .into_iter()
        .map(|t| t.tombstone.partition)
        .collect();
    assert!(parts.contains(&kyc_core::erasure::tombstone_pk(
        Provider::Xpollens,
        &naming[&Provider::Xpollens],
        "XP-77"
    )));
    assert!(
        !parts.iter().any(|p| p.starts_with("GP#T#")),
        "never another customer's id"
    );
    assert_eq!(events.sent.lock().unwrap().len(), 1);
    // A second run: already erased, nothing sent again.
    let r = erase(&s, &events, &naming, &request("ann"), OP, at(2026, 6, 2))
        .await
        .unwrap();
    assert!(r.already_erased);
    assert_eq!(events.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn once_the_drop_period_is_over_a_returning_person_can_be_erased_again() {
    let s = MemoryLifecycleStore::default();
    let events = MemoryErasureEvents::default();
    applicant(&s, "ann");
    let first = at(2026, 1, 1);
    erase(&s, &events, &naming_keys(), &request("ann"), OP, first)
        .await
        .unwrap();
    // Back as an applicant after the 60 days, then asks again.
    let back = first + Duration::days(70);
    s.add_event("ann", Provider::Xpollens, back, "ann-new-1");
    let r = erase(
        &s,
        &events,
        &naming_keys(),
        &request("ann"),
        OP,
        back + Duration::days(1),
    )
    .await
    .unwrap();
    assert!(!r.already_erased, "a new erasure, not the old one");
    assert!(!s.holds_anything_of("ann"));
    assert_eq!(r.drop_until, Some(back + Duration::days(61)));
    assert_eq!(events.sent.lock().unwrap().len(), 2);
}

/// A hold placed, or a GoPay consent completed, between the erasure's checks and its
/// tombstones: nothing is deleted, the tombstones (and the erasure's record) are lifted, so the
/// person's events are recorded again; once the obstacle is gone the erasure runs whole.
#[tokio::test]
async fn a_hold_or_consent_landing_after_the_tombstones_steps_the_erasure_back() {
    for obstacle in ["hold", "gopay"] {
        let s = MemoryLifecycleStore::default();
        let events = MemoryErasureEvents::default();
        applicant(&s, "ann");
        s.after_tombstones(move |s| match obstacle {
            "hold" => s.set_hold(
                "ann",
                Hold {
                    reason: "litigation-42".into(),
                    at: at(2026, 6, 1),
                },
            ),
            _ => s.set_gopay_consent_live("ann", true),
        });
        let now = at(2026, 6, 1);
        let e = erase(&s, &events, &naming_keys(), &request("ann"), OP, now)
            .await
            .unwrap_err();
        match obstacle {
            "hold" => assert!(
                matches!(e, EraseError::Refused(Refusal::HeldMeanwhile)),
                "{e}"
            ),
            _ => assert!(
                matches!(e, EraseError::Refused(Refusal::GopayConsentMeanwhile)),
                "{e}"
            ),
        }
        assert!(e.to_string().contains("nothing was deleted"), "{e}");
        assert!(
            s.tombstones().is_empty(),
            "{obstacle}: every tombstone lifted"
        );
        assert_eq!(s.history_len("ann"), 3, "{obstacle}: nothing deleted");
        assert!(events.sent.lock().unwrap().is_empty());
        // The obstacle gone, the next run is a fresh erasure (checked again), and completes.
        match obstacle {
            "hold" => s.set_hold_released("ann"),
            _ => s.set_gopay_consent_live("ann", false),
        }
        let r = erase(&s, &events, &naming_keys(), &request("ann"), OP, now)
            .await
            .unwrap();
        assert!(!r.resumed && !r.already_erased);
        assert!(!s.holds_anything_of("ann"));
        assert_eq!(s.tombstones().len(), 4);
    }
}

/// A completed erasure's tombstones are never lifted (the store's own rule).
#[tokio::test]
async fn a_completed_erasure_tombstone_is_never_lifted() {
    let s = MemoryLifecycleStore::default();
    let events = MemoryErasureEvents::default();
    applicant(&s, "ann");
    let now = at(2026, 6, 1);
    erase(&s, &events, &naming_keys(), &request("ann"), OP, now)
        .await
        .unwrap();
    let partitions: Vec<String> = s
        .tombstones()
        .iter()
        .map(|t| t.tombstone.partition.clone())
        .collect();
    s.lift_tombstones(&partitions).await.unwrap();
    assert_eq!(s.tombstones().len(), 4);
}

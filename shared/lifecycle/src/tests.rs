use super::*;
use crate::store::{
    hold, record_end, release, retention_report, sweep, LifecycleStore, MemoryLifecycleStore,
    Written,
};
use async_trait::async_trait;
use chrono::{Duration, TimeZone};
use kyc_core::intake::StoreError;
use std::sync::Arc;

const OP: &str = "arn:aws:sts::123456789012:assumed-role/kyc-operator/op1";
const SWEEPER: &str = "lifecycle-sweep";

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn end(customer: &str, on: NaiveDate, outcome: Outcome) -> RelationshipEnd {
    RelationshipEnd {
        customer: customer.into(),
        on,
        outcome,
    }
}

/// A customer with two Xpollens events and one GoPay event, ended on 2020-03-01.
async fn closed_customer(store: &MemoryLifecycleStore, c: &str) -> Lifecycle {
    store.add_event(c, Provider::Xpollens, at(2020, 1, 5), &format!("{c}-x1"));
    store.add_event(c, Provider::Xpollens, at(2020, 1, 6), &format!("{c}-x2"));
    store.add_event(c, Provider::Gopay, at(2020, 2, 1), &format!("{c}-g1"));
    record_end(
        store,
        &Retention::default(),
        &end(c, day(2020, 3, 1), Outcome::Customer),
        OP,
        at(2020, 3, 2),
    )
    .await
    .unwrap()
}

#[test]
fn retention_is_bounded_and_counted_in_whole_days_after_the_end() {
    let r = Retention::default();
    assert_eq!(
        r.delete_after(day(2020, 3, 1), Outcome::Customer),
        Utc.with_ymd_and_hms(2025, 3, 3, 0, 0, 0).unwrap(),
        "1,827 days after 2020-03-01 is 2025-03-02; deleted from the start of the next day"
    );
    assert_eq!(
        r.rule(Outcome::RefusedApplicant),
        "retention:refusedApplicant:365d"
    );
    assert!(
        Retention::new(364, 365).is_err(),
        "under a year for customers"
    );
    assert!(Retention::new(1827, 29).is_err());
    assert!(Retention::new(3654, 365).is_err());
    let e = Retention::new(1827, 5000).unwrap_err().to_string();
    assert!(e.contains("RETENTION_REFUSED_APPLICANT_DAYS"), "{e}");
    assert_eq!(Retention::new(1827, 30).unwrap().refused_applicant_days, 30);
}

#[test]
fn an_end_in_the_future_or_before_2000_is_refused() {
    let r = Retention::default();
    let now = at(2026, 12, 6);
    let e = end("c", day(2026, 12, 7), Outcome::Customer);
    assert_eq!(
        e.lifecycle(&r, BTreeMap::new(), None, now).unwrap_err(),
        EndError::InTheFuture
    );
    let e = end("c", day(1999, 12, 31), Outcome::Customer);
    assert_eq!(
        e.lifecycle(&r, BTreeMap::new(), None, now).unwrap_err(),
        EndError::TooOld
    );
    let e = end("", day(2026, 1, 1), Outcome::Customer);
    assert_eq!(
        e.lifecycle(&r, BTreeMap::new(), None, now).unwrap_err(),
        EndError::CustomerId
    );
    let l = end("c", day(2026, 12, 6), Outcome::RefusedApplicant)
        .lifecycle(&r, BTreeMap::new(), None, now)
        .unwrap();
    assert_eq!(l.version, 1);
    assert_eq!(
        l.delete_after,
        Some(Utc.with_ymd_and_hms(2027, 12, 7, 0, 0, 0).unwrap())
    );
}

#[tokio::test]
async fn a_due_customer_is_deleted_with_a_record_of_every_history_entry() {
    let s = MemoryLifecycleStore::default();
    s.add_object("ended", "bodies", "xpollens/ended-1");
    s.add_object("ended", "bodies", "xpollens/ended-1");
    s.add_object("active", "bodies", "xpollens/active-1");
    let l = closed_customer(&s, "ended").await;
    s.add_event("active", Provider::Xpollens, at(2020, 1, 5), "active-x1");
    // Not due the day before.
    let before = l.delete_after.unwrap() - Duration::seconds(1);
    assert_eq!(sweep(&s, SWEEPER, before, 100).await.unwrap().due, 0);
    assert!(s.holds_anything_of("ended"));

    let r = sweep(&s, SWEEPER, l.delete_after.unwrap(), 100)
        .await
        .unwrap();
    assert_eq!((r.due, r.deleted, r.changed), (1, 1, 0));
    assert_eq!(r.items["history"], 3);
    assert_eq!(r.items["events"], 3);
    assert!(
        !s.holds_anything_of("ended"),
        "nothing of the customer left"
    );
    assert!(s.holds_anything_of("active"), "another customer untouched");
    assert_eq!(s.events(), 1);
    let records = s.deletion_records();
    assert_eq!(records.len(), 1);
    let rec = &records[0];
    assert_eq!(rec.reason, "retention:customer:1827d");
    assert_eq!(rec.operator, SWEEPER);
    assert_eq!(rec.leaves.values().map(Vec::len).sum::<usize>(), 3);
    assert_eq!(rec.leaves.len(), 3, "three different hours");
    let text = serde_json::to_string(rec).unwrap();
    assert!(
        !text.contains("ended"),
        "the record names no customer: {text}"
    );
    // Again: nothing due.
    assert_eq!(
        sweep(&s, SWEEPER, l.delete_after.unwrap(), 100)
            .await
            .unwrap(),
        Default::default()
    );
}

#[tokio::test]
async fn a_held_customer_is_never_deleted_until_released() {
    let s = MemoryLifecycleStore::default();
    let l = closed_customer(&s, "held").await;
    hold(&s, "held", "LEGAL-2026-4", OP, at(2024, 1, 1))
        .await
        .unwrap();
    let due = l.delete_after.unwrap() + Duration::days(400);
    for _ in 0..2 {
        let r = sweep(&s, SWEEPER, due, 100).await.unwrap();
        assert_eq!((r.due, r.held, r.deleted), (1, 1, 0));
    }
    assert!(s.history_len("held") == 3);
    assert!(matches!(
        hold(&s, "held", "free text", OP, due).await,
        Err(store::LifecycleError::Reason)
    ));
    release(&s, "held", "LEGAL-2026-4-closed", OP, due)
        .await
        .unwrap();
    let actions: Vec<String> = s
        .bank_actions("held")
        .iter()
        .map(|a| format!("{}:{}", a.action, a.operator == OP))
        .collect();
    assert_eq!(
        actions,
        [
            "relationshipEnded:true",
            "legalHold:true",
            "legalHoldReleased:true"
        ]
    );
    assert_eq!(sweep(&s, SWEEPER, due, 100).await.unwrap().deleted, 1);
    assert!(matches!(
        release(&s, "held", "X", OP, due).await,
        Err(store::LifecycleError::NoHold)
    ));
}

#[tokio::test]
async fn a_provider_event_after_the_end_reopens_the_relationship() {
    let s = MemoryLifecycleStore::default();
    let l = closed_customer(&s, "back").await;
    s.add_event("back", Provider::TrustSign, at(2021, 6, 1), "back-t1");
    let due = l.delete_after.unwrap();
    let r = sweep(&s, SWEEPER, due, 100).await.unwrap();
    assert_eq!((r.reopened, r.deleted), (1, 0));
    let after = s.snapshot("back").await.unwrap().lifecycle.unwrap();
    assert_eq!(after.delete_after, None, "the date is cleared");
    assert_eq!(
        s.bank_actions("back").last().unwrap().action,
        RELATIONSHIP_REOPENED
    );
    // No longer due, ever, until the bank ends the relationship again.
    assert_eq!(
        sweep(&s, SWEEPER, due + Duration::days(4000), 100)
            .await
            .unwrap()
            .due,
        0
    );
    assert_eq!(s.history_len("back"), 4);
}

/// A store where a callback lands between the sweep's check and its commit.
struct CallbackDuringSweep {
    inner: Arc<MemoryLifecycleStore>,
}

#[async_trait]
impl LifecycleStore for CallbackDuringSweep {
    async fn snapshot(&self, c: &str) -> Result<Snapshot, StoreError> {
        self.inner.snapshot(c).await
    }
    async fn write_lifecycle(
        &self,
        l: &Lifecycle,
        v: i64,
        a: &BankAction,
    ) -> Result<Written, StoreError> {
        self.inner.write_lifecycle(l, v, a).await
    }
    async fn write_hold(
        &self,
        c: &str,
        h: Option<&Hold>,
        a: &BankAction,
    ) -> Result<(), StoreError> {
        self.inner.write_hold(c, h, a).await
    }
    async fn due(&self, u: DateTime<Utc>, n: usize) -> Result<Vec<store::Due>, StoreError> {
        self.inner.due(u, n).await
    }
    async fn inactive_applicants(
        &self,
        b: DateTime<Utc>,
        n: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        self.inner.inactive_applicants(b, n).await
    }
    async fn commit_deletion(
        &self,
        c: &str,
        s: &Snapshot,
        o: &str,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        self.inner
            .add_event(c, Provider::Xpollens, now, &format!("{c}-late"));
        self.inner.commit_deletion(c, s, o, now).await
    }
    async fn finish_deletion(
        &self,
        c: &str,
        d: &Deleting,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        self.inner.finish_deletion(c, d).await
    }
    async fn event_ids(&self, c: &str) -> Result<Vec<(Provider, String)>, StoreError> {
        self.inner.event_ids(c).await
    }
    async fn objects_by_provider(&self, c: &str) -> Result<BTreeMap<Provider, u64>, StoreError> {
        self.inner.objects_by_provider(c).await
    }
    async fn tombstone(
        &self,
        p: &str,
    ) -> Result<Option<crate::erase::StoredTombstone>, StoreError> {
        self.inner.tombstone(p).await
    }
    async fn write_tombstones(
        &self,
        t: &[kyc_core::erasure::Tombstone],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.write_tombstones(t, now).await
    }
    async fn mark_tombstone(
        &self,
        p: &str,
        m: crate::erase::Mark,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.mark_tombstone(p, m, at).await
    }
    async fn lift_tombstones(&self, p: &[String]) -> Result<(), StoreError> {
        self.inner.lift_tombstones(p).await
    }
}

#[tokio::test]
async fn a_callback_arriving_during_the_sweep_keeps_the_customer() {
    let inner = Arc::new(MemoryLifecycleStore::default());
    let l = closed_customer(&inner, "busy").await;
    let s = CallbackDuringSweep {
        inner: inner.clone(),
    };
    let due = l.delete_after.unwrap();
    let r = sweep(&s, SWEEPER, due, 100).await.unwrap();
    assert_eq!((r.changed, r.deleted), (1, 0));
    assert_eq!(inner.history_len("busy"), 4, "nothing deleted");
    assert!(inner.deletion_records().is_empty());
    // The next run sees the event and reopens.
    let r = sweep(inner.as_ref(), SWEEPER, due, 100).await.unwrap();
    assert_eq!(r.reopened, 1);
}

#[tokio::test]
async fn a_deletion_committed_by_a_crashed_run_is_finished_and_later_events_stay() {
    let s = MemoryLifecycleStore::default();
    let l = closed_customer(&s, "crash").await;
    let due = l.delete_after.unwrap();
    let snap = s.snapshot("crash").await.unwrap();
    assert_eq!(verdict(&snap, due), Verdict::Delete);
    assert_eq!(
        s.commit_deletion("crash", &snap, SWEEPER, due)
            .await
            .unwrap(),
        Written::Written
    );
    // The run stops here. A callback after the commit is new data.
    s.add_event(
        "crash",
        Provider::Xpollens,
        due + Duration::hours(1),
        "crash-new",
    );
    let r = sweep(&s, SWEEPER, due + Duration::days(1), 100)
        .await
        .unwrap();
    assert_eq!((r.resumed, r.deleted), (1, 0));
    assert_eq!(
        s.history_len("crash"),
        1,
        "the entry after the commit stays"
    );
    assert_eq!(s.deletion_records().len(), 1);
    // A hold placed meanwhile cannot undo a committed deletion, and the commit refuses a
    // snapshot that is no longer current.
    assert_eq!(
        s.commit_deletion("crash", &snap, SWEEPER, due)
            .await
            .unwrap(),
        Written::Superseded
    );
}

#[tokio::test]
async fn a_live_gopay_consent_keeps_the_customer_until_revoked() {
    let s = MemoryLifecycleStore::default();
    let l = closed_customer(&s, "gp").await;
    s.set_gopay_consent_live("gp", true);
    let due = l.delete_after.unwrap();
    let r = sweep(&s, SWEEPER, due, 100).await.unwrap();
    assert_eq!((r.gopay_consent_live, r.deleted), (1, 0));
    s.set_gopay_consent_live("gp", false);
    assert_eq!(sweep(&s, SWEEPER, due, 100).await.unwrap().deleted, 1);
}

#[tokio::test]
async fn the_retention_report_counts_by_horizon_outcome_and_provider() {
    let s = MemoryLifecycleStore::default();
    let now = at(2026, 12, 6);
    let r = Retention::new(365, 30).unwrap();
    // Ends: a customer on 2025-12-15 (due 2026-12-16: 10 days), a refused applicant today
    // (due 2027-01-06: 31 days), a customer on 2026-09-30 (due 2027-10-01), a refused
    // applicant on 2026-10-01 (due 2026-11-01: overdue).
    let cases = [
        (
            "a",
            day(2025, 12, 15),
            Outcome::Customer,
            vec![Provider::Xpollens],
        ),
        (
            "b",
            day(2026, 12, 6),
            Outcome::RefusedApplicant,
            vec![Provider::Gopay],
        ),
        (
            "c",
            day(2026, 9, 30),
            Outcome::Customer,
            vec![Provider::Xpollens, Provider::TrustSign],
        ),
        ("d", day(2026, 10, 1), Outcome::RefusedApplicant, vec![]),
    ];
    for (c, on, outcome, providers) in cases {
        for (i, p) in providers.iter().enumerate() {
            s.add_event(c, *p, at(2025, 1, 1), &format!("{c}-{i}"));
        }
        // a: one large body in two versions; c: a Trust & Sign report copy.
        if c == "a" {
            s.add_object("a", "bodies", "xpollens/a-1");
            s.add_object("a", "bodies", "xpollens/a-1");
        }
        if c == "c" {
            s.add_provider_object("c", Provider::TrustSign, "archives", "processed/f1/r.json");
        }
        record_end(&s, &r, &end(c, on, outcome), OP, now)
            .await
            .unwrap();
    }
    let report = retention_report(&s, now, &[30, 90, 365]).await.unwrap();
    assert_eq!(report.overdue, 1, "d: refused 2026-10-01 + 30 days");
    let n = |h: u32, o: &str, p: &str| {
        report
            .falling_due
            .get(&h)
            .and_then(|x| x.get(o))
            .and_then(|x| x.get(p))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(n(30, "customer", "xpollens"), 1);
    assert_eq!(
        n(30, "refusedApplicant", "none"),
        1,
        "the overdue one counts in every horizon"
    );
    assert_eq!(n(30, "refusedApplicant", "gopay"), 0, "b is due in 31 days");
    assert_eq!(n(90, "refusedApplicant", "gopay"), 1);
    assert_eq!(n(90, "customer", "trust_sign"), 0);
    assert_eq!(n(365, "customer", "trust_sign"), 1);
    assert_eq!(n(365, "customer", "xpollens"), 2);
    // Objects, counted when the end was recorded.
    let o = |h: u32, out: &str, p: &str| {
        report
            .objects_falling_due
            .get(&h)
            .and_then(|x| x.get(out))
            .and_then(|x| x.get(p))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(o(30, "customer", "xpollens"), 2, "a's two versions");
    assert_eq!(o(30, "customer", "trust_sign"), 0, "c is due in a year");
    assert_eq!(o(365, "customer", "trust_sign"), 1);
}

#[tokio::test]
async fn inactivity_starts_the_clock_only_for_applicants_who_never_onboarded() {
    use crate::store::{start_inactivity_clocks, APPLICANT_INACTIVITY};
    let s = MemoryLifecycleStore::default();
    let r = Retention::new(1827, 180).unwrap();
    let now = at(2026, 12, 6);
    // An applicant last active 400 days ago, one 100 days ago, one the bank already closed.
    s.add_event("idle", Provider::Gopay, at(2025, 11, 1), "i-1");
    s.set_applicant_activity("idle", Some(at(2025, 11, 1)));
    s.add_event("recent", Provider::Gopay, at(2026, 8, 28), "r-1");
    s.set_applicant_activity("recent", Some(at(2026, 8, 28)));
    s.add_event("closed", Provider::Gopay, at(2024, 1, 1), "c-1");
    s.set_applicant_activity("closed", Some(at(2024, 1, 1)));
    record_end(
        &s,
        &r,
        &end("closed", day(2024, 2, 1), Outcome::Customer),
        OP,
        now,
    )
    .await
    .unwrap();
    // Off: nothing.
    assert_eq!(
        start_inactivity_clocks(&s, &r, 0, SWEEPER, now, 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        start_inactivity_clocks(&s, &r, 365, SWEEPER, now, 100)
            .await
            .unwrap(),
        1
    );
    let l = s.snapshot("idle").await.unwrap().lifecycle.unwrap();
    assert_eq!(
        (l.ended_on, l.outcome),
        (day(2025, 11, 1), Outcome::RefusedApplicant)
    );
    assert_eq!(l.rule, "retention:refusedApplicant:180d");
    let action = s.bank_actions("idle").pop().unwrap();
    assert_eq!(
        (action.reason.as_str(), action.operator.as_str()),
        (APPLICANT_INACTIVITY, SWEEPER)
    );
    assert!(s.snapshot("recent").await.unwrap().lifecycle.is_none());
    let closed = s.snapshot("closed").await.unwrap().lifecycle.unwrap();
    assert_eq!(
        closed.outcome,
        Outcome::Customer,
        "the bank's own end is kept"
    );
    // Again: nothing new (it has a lifecycle item now); a provider event later reopens it.
    assert_eq!(
        start_inactivity_clocks(&s, &r, 365, SWEEPER, now, 100)
            .await
            .unwrap(),
        0
    );
    s.add_event("idle", Provider::Gopay, at(2026, 12, 1), "i-2");
    let due = l.delete_after.unwrap();
    assert_eq!(sweep(&s, SWEEPER, due, 100).await.unwrap().reopened, 1);
}

//! GoPay polling rules: next due time, backoff with full jitter, refresh margin, leases,
//! the deadline rule.

use chrono::{DateTime, Duration, Utc};
use kyc_gopay::identification::StatusSnapshot;
use kyc_gopay::schedule::{
    access_token_needs_refresh, backoff_ceiling, backoff_delay, can_claim, lease_is_free,
    lease_status, next_due_after_error, next_due_after_poll, poll_interval, should_take_more_work,
    BackoffPolicy, Lease, LeaseStatus, PollPolicy, DEFAULT_REFRESH_MARGIN,
};
use kyc_gopay::{IdentificationState as S, Reason as R};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-03-10T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn snap(state: S, reasons: &[R]) -> StatusSnapshot {
    StatusSnapshot::new(state, reasons.iter().cloned())
}

#[test]
fn polled_sooner_while_in_progress_and_still_periodically_once_final() {
    let policy = PollPolicy {
        spread: 0.0,
        ..PollPolicy::default()
    };
    let mut rng = StdRng::seed_from_u64(1);
    let pending = snap(S::Pending, &[]);
    let waiting = snap(S::PartiallyIdentified, &[R::WaitingBankAccount]);
    let identified = snap(S::Identified, &[]);
    let denied = snap(S::NotIdentified, &[R::DeniedFacematch]);
    let unknown = snap(S::Unknown("REVIEW".into()), &[]);
    for s in [&pending, &waiting, &unknown] {
        assert_eq!(poll_interval(&policy, s), policy.in_progress_interval);
        assert_eq!(
            next_due_after_poll(&policy, s, t0(), &mut rng),
            t0() + policy.in_progress_interval
        );
    }
    for s in [&identified, &denied] {
        assert_eq!(poll_interval(&policy, s), policy.settled_interval);
        assert_eq!(
            next_due_after_poll(&policy, s, t0(), &mut rng),
            t0() + policy.settled_interval
        );
    }
    let d = PollPolicy::default();
    assert!(d.in_progress_interval < d.settled_interval);
    assert!(
        d.settled_interval <= Duration::days(1),
        "final profiles stay monitored (GoPay may expire them)"
    );
}

#[test]
fn spread_stays_within_bounds_and_actually_spreads() {
    let policy = PollPolicy::default();
    let identified = snap(S::Identified, &[]);
    let mut rng = StdRng::seed_from_u64(42);
    let base = t0() + policy.settled_interval;
    let max = base
        + Duration::milliseconds(
            (policy.settled_interval.num_milliseconds() as f64 * policy.spread) as i64,
        );
    let dues: Vec<_> = (0..1000)
        .map(|_| next_due_after_poll(&policy, &identified, t0(), &mut rng))
        .collect();
    assert!(dues.iter().all(|d| *d >= base && *d <= max));
    let distinct: std::collections::HashSet<_> = dues.iter().collect();
    assert!(distinct.len() > 900, "profiles are spread, not bunched");
}

#[test]
fn backoff_ceiling_doubles_then_caps_without_overflow() {
    let policy = BackoffPolicy {
        base: Duration::seconds(30),
        cap: Duration::hours(1),
        floor: Duration::zero(),
    };
    assert_eq!(backoff_ceiling(&policy, 0), Duration::seconds(30));
    assert_eq!(backoff_ceiling(&policy, 1), Duration::seconds(30));
    assert_eq!(backoff_ceiling(&policy, 2), Duration::seconds(60));
    assert_eq!(backoff_ceiling(&policy, 5), Duration::seconds(480));
    assert_eq!(
        backoff_ceiling(&policy, 8),
        Duration::hours(1),
        "30s × 128 = 64 min is capped"
    );
    for n in [9, 40, 63, 64, 1000, u32::MAX] {
        assert_eq!(backoff_ceiling(&policy, n), Duration::hours(1), "{n}");
    }
}

#[test]
fn full_jitter_covers_the_whole_range() {
    let policy = BackoffPolicy {
        base: Duration::seconds(10),
        cap: Duration::hours(1),
        floor: Duration::zero(),
    };
    let mut rng = StdRng::seed_from_u64(9);
    let ceiling = backoff_ceiling(&policy, 4).num_milliseconds();
    let delays: Vec<i64> = (0..4000)
        .map(|_| backoff_delay(&policy, 4, &mut rng).num_milliseconds())
        .collect();
    assert!(delays.iter().all(|d| (0..=ceiling).contains(d)));
    let min = *delays.iter().min().unwrap();
    let max = *delays.iter().max().unwrap();
    assert!(
        min < ceiling / 20 && max > ceiling * 19 / 20,
        "full jitter: {min}..{max} of {ceiling}"
    );
    let mean = delays.iter().sum::<i64>() as f64 / delays.len() as f64;
    assert!(
        (mean - ceiling as f64 / 2.0).abs() < ceiling as f64 * 0.05,
        "uniform: mean {mean}"
    );
}

#[test]
fn the_injected_source_decides_the_jitter() {
    let policy = BackoffPolicy::default();
    let a: Vec<_> = {
        let mut rng = StdRng::seed_from_u64(5);
        (1..20)
            .map(|n| next_due_after_error(&policy, n, t0(), &mut rng))
            .collect()
    };
    let b: Vec<_> = {
        let mut rng = StdRng::seed_from_u64(5);
        (1..20)
            .map(|n| next_due_after_error(&policy, n, t0(), &mut rng))
            .collect()
    };
    let c: Vec<_> = {
        let mut rng = StdRng::seed_from_u64(6);
        (1..20)
            .map(|n| next_due_after_error(&policy, n, t0(), &mut rng))
            .collect()
    };
    assert_eq!(a, b);
    assert_ne!(a, c);
}

proptest! {
    #[test]
    fn backoff_delay_is_within_floor_and_floor_plus_ceiling(
        seed in any::<u64>(), failures in 0u32..200, base_s in 1i64..600, cap_s in 1i64..86_400, floor_s in 0i64..120,
    ) {
        let policy = BackoffPolicy { base: Duration::seconds(base_s), cap: Duration::seconds(cap_s), floor: Duration::seconds(floor_s) };
        let mut rng = StdRng::seed_from_u64(seed);
        let delay = backoff_delay(&policy, failures, &mut rng);
        let ceiling = backoff_ceiling(&policy, failures);
        prop_assert!(ceiling <= policy.cap);
        prop_assert!(delay >= policy.floor && delay <= policy.floor + ceiling);
        prop_assert_eq!(next_due_after_error(&policy, failures, t0(), &mut StdRng::seed_from_u64(seed)), t0() + delay);
    }
}

#[test]
fn access_token_refresh_margin() {
    let m = DEFAULT_REFRESH_MARGIN;
    assert_eq!(m, Duration::minutes(5));
    assert!(access_token_needs_refresh(None, t0(), m));
    assert!(!access_token_needs_refresh(
        Some(t0() + Duration::minutes(60)),
        t0(),
        m
    ));
    assert!(!access_token_needs_refresh(
        Some(t0() + Duration::minutes(5) + Duration::milliseconds(1)),
        t0(),
        m
    ));
    assert!(access_token_needs_refresh(
        Some(t0() + Duration::minutes(5)),
        t0(),
        m
    ));
    assert!(access_token_needs_refresh(
        Some(t0() + Duration::minutes(1)),
        t0(),
        m
    ));
    assert!(access_token_needs_refresh(
        Some(t0() - Duration::minutes(1)),
        t0(),
        m
    ));
}

#[test]
fn leases() {
    let mine = Lease::new("run-a", t0(), Duration::minutes(3));
    assert_eq!(mine.expires_at, t0() + Duration::minutes(3));
    let before_expiry = t0() + Duration::minutes(2);
    assert_eq!(lease_status(None, "run-a", t0()), LeaseStatus::Free);
    assert_eq!(
        lease_status(Some(&mine), "run-a", before_expiry),
        LeaseStatus::HeldByUs
    );
    assert_eq!(
        lease_status(Some(&mine), "run-b", before_expiry),
        LeaseStatus::HeldByOther
    );
    assert_eq!(
        lease_status(Some(&mine), "run-b", mine.expires_at),
        LeaseStatus::Expired,
        "an exact hit is expired"
    );
    assert!(can_claim(None, "run-b", t0()));
    assert!(can_claim(Some(&mine), "run-a", before_expiry));
    assert!(!can_claim(Some(&mine), "run-b", before_expiry));
    assert!(can_claim(Some(&mine), "run-b", mine.expires_at));
    assert!(lease_is_free(None, t0()));
    assert!(!lease_is_free(Some(&mine), before_expiry));
    assert!(lease_is_free(
        Some(&mine),
        mine.expires_at + Duration::seconds(1)
    ));
}

#[test]
fn stop_taking_work_before_the_deadline() {
    let deadline = t0() + Duration::minutes(5);
    let reserve = Duration::seconds(20);
    assert!(should_take_more_work(t0(), deadline, reserve));
    assert!(should_take_more_work(
        deadline - Duration::seconds(21),
        deadline,
        reserve
    ));
    assert!(!should_take_more_work(
        deadline - Duration::seconds(20),
        deadline,
        reserve
    ));
    assert!(!should_take_more_work(
        deadline + Duration::seconds(1),
        deadline,
        reserve
    ));
}

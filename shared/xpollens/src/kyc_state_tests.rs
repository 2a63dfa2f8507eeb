//! The state rules of [`kyc_core::kyc_state`] exercised with Xpollens KYC statuses: here
//! rather than in kyc-core, which depends on no provider.

use crate::status::{KycStatus, StatusRules};
use chrono::{DateTime, Duration, TimeZone, Utc};
use kyc_core::kyc_state::*;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()
}

/// A KYC-demand status under the sticky policy (how user records behave).
fn kyc(status: KycStatus, secs: i64, id: &str) -> StatePatch {
    patch(status, Finality::Sticky, secs, id)
}

/// A KYC-demand status under the policy the KYC demand stream uses.
fn demand(status: KycStatus, secs: i64, id: &str) -> StatePatch {
    patch(status, Finality::Latest, secs, id)
}

fn patch(status: KycStatus, finality: Finality, secs: i64, id: &str) -> StatePatch {
    StatePatch {
        stream: Stream::KYC_DEMAND,
        value: StreamValue::with_finality(
            status.name(),
            status.rank(),
            status.is_final(),
            finality,
            t0() + Duration::seconds(secs),
            id,
        ),
    }
}

#[test]
fn newer_wins_older_is_stale() {
    let mut s = ProviderState::default();
    s.apply(&kyc(KycStatus::Pending, 10, "a")).unwrap();
    s.apply(&kyc(KycStatus::Incomplete, 20, "b")).unwrap();
    let err = s.apply(&kyc(KycStatus::Pending, 15, "c")).unwrap_err();
    assert!(matches!(err, SkipReason::Stale { ref current, .. } if current == "Incomplete"));
    assert_eq!(s.status(Stream::KYC_DEMAND), Some("Incomplete"));
}

#[test]
fn final_is_sticky_against_later_events() {
    let mut s = ProviderState::default();
    s.apply(&kyc(KycStatus::Complete, 10, "a")).unwrap();
    let err = s.apply(&kyc(KycStatus::Incomplete, 99, "b")).unwrap_err();
    assert_eq!(
        err,
        SkipReason::FinalSticky {
            current: "Complete".into()
        }
    );
    let err = s
        .apply(&kyc(KycStatus::FraudSuspicion, 50, "c"))
        .unwrap_err();
    assert_eq!(
        err,
        SkipReason::FinalSticky {
            current: "Complete".into()
        }
    );
}

#[test]
fn earliest_final_wins_whatever_the_arrival_order() {
    let mut s = ProviderState::default();
    s.apply(&kyc(KycStatus::Complete, 50, "late-final"))
        .unwrap();
    s.apply(&kyc(KycStatus::FraudSuspicion, 40, "early-final"))
        .unwrap();
    assert_eq!(s.status(Stream::KYC_DEMAND), Some("FraudSuspicion"));
}

#[test]
fn same_instant_tie_goes_further_along_the_diagram() {
    let mut s = ProviderState::default();
    s.apply(&kyc(KycStatus::Incomplete, 10, "b")).unwrap();
    s.apply(&kyc(KycStatus::Pending, 10, "a")).unwrap_err();
    assert_eq!(s.status(Stream::KYC_DEMAND), Some("Incomplete"));
    assert!(matches!(
        s.apply(&kyc(KycStatus::Incomplete, 10, "c")),
        Err(SkipReason::NotNewer { .. })
    ));
    // Same-instant finals: the more conservative one.
    s.apply(&kyc(KycStatus::Complete, 20, "d")).unwrap();
    s.apply(&kyc(KycStatus::FraudSuspicion, 20, "e")).unwrap();
    assert_eq!(s.status(Stream::KYC_DEMAND), Some("FraudSuspicion"));
}

#[test]
fn latest_streams_break_same_instant_ties_by_event_id() {
    let (c, b) = (
        demand(KycStatus::Incomplete, 10, "c"),
        demand(KycStatus::Incomplete, 10, "b"),
    );
    assert_ne!(c.value.ord, b.value.ord);
    let winner = if c.value.ord > b.value.ord { "c" } else { "b" };
    for order in [[&c, &b], [&b, &c]] {
        let mut s = ProviderState::default();
        for p in order {
            let _ = s.apply(p);
        }
        assert_eq!(s.stream(&Stream::KYC_DEMAND).unwrap().event_id, winner);
    }
}

#[test]
fn a_new_demand_after_a_rejection_wins() {
    let mut s = ProviderState::default();
    s.apply(&demand(KycStatus::Pending, 10, "a")).unwrap();
    s.apply(&demand(KycStatus::Rejected, 20, "b")).unwrap();
    s.apply(&demand(KycStatus::Initialized, 30, "c")).unwrap();
    assert_eq!(s.status(Stream::KYC_DEMAND), Some("Initialized"));
    s.apply(&demand(KycStatus::Complete, 50, "e")).unwrap();
    // The new demand's Pending, delivered late: older than its Complete.
    let err = s.apply(&demand(KycStatus::Pending, 40, "d")).unwrap_err();
    assert!(matches!(err, SkipReason::Stale { ref current, .. } if current == "Complete"));
    // A retry of the old demand's rejection: older, never reverts the new decision.
    assert!(s.apply(&demand(KycStatus::Rejected, 20, "b")).is_err());
    assert_eq!(s.status(Stream::KYC_DEMAND), Some("Complete"));
}

#[test]
fn same_second_final_and_new_demand_keep_the_final_until_the_next_event() {
    // Documented tie rule: at the same instant the status further along the diagram wins.
    let mut s = ProviderState::default();
    s.apply(&demand(KycStatus::Initialized, 20, "new")).unwrap();
    s.apply(&demand(KycStatus::Rejected, 20, "old")).unwrap();
    assert_eq!(s.status(Stream::KYC_DEMAND), Some("Rejected"));
    s.apply(&demand(KycStatus::Pending, 21, "new-2")).unwrap();
    assert_eq!(s.status(Stream::KYC_DEMAND), Some("Pending"));
}

/// Paths through the KYC demand diagram (PROVIDERS.md), each ending where the diagram lets
/// it end; times strictly increase along a path, as Xpollens sends them.
fn documented_paths() -> Vec<Vec<KycStatus>> {
    use KycStatus::*;
    vec![
        vec![Initialized, Pending, Complete],
        vec![Initialized, Pending, Incomplete, Complete],
        vec![
            Initialized,
            Pending,
            Incomplete,
            AwaitingExpertise,
            Incomplete,
            Rejected,
        ],
        vec![
            Initialized,
            Pending,
            AwaitingExpertise,
            Incomplete,
            AwaitingExpertise,
            Complete,
        ],
        vec![Initialized, Pending, Incomplete, FraudSuspicion],
        vec![Initialized, Pending, AwaitingExpertise, FraudSuspicion],
        vec![Initialized, Pending, Anomaly],
        vec![
            Initialized,
            BeingReceived,
            FullyReceived,
            Pending,
            Incomplete,
        ],
    ]
}

fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = seed;
    for i in (1..items.len()).rev() {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        items.swap(i, (rng >> 33) as usize % (i + 1));
    }
}

proptest! {
    /// Several demands for one customer (each a documented path, the next one starting
    /// after the previous one ended), retried deliveries mixed in, gaps of 0 to 3 s so
    /// same-second events occur: every arrival order ends in the in-order state, and
    /// with strictly increasing times that state is the last demand's last status.
    #[test]
    fn several_demands_in_any_order_end_in_the_newest(
        paths in prop::collection::vec(prop::sample::select(documented_paths()), 1..4),
        gaps in prop::collection::vec(0i64..4, 32),
        dup_mask in prop::collection::vec(any::<bool>(), 32),
        seed in any::<u64>(),
    ) {
        let mut t = 0;
        let mut events = Vec::new();
        let mut strictly_increasing = true;
        let mut n = 0;
        for path in &paths {
            for status in path {
                t += gaps[n % gaps.len()];
                strictly_increasing &= n == 0 || gaps[n % gaps.len()] > 0;
                let p = demand(*status, t, &format!("e{n}"));
                if dup_mask[n % dup_mask.len()] { events.push(p.clone()); }
                events.push(p);
                n += 1;
            }
        }
        let mut in_order = ProviderState::default();
        for e in &events { let _ = in_order.apply(e); }
        if strictly_increasing {
            let last = paths.last().unwrap().last().unwrap();
            prop_assert_eq!(in_order.status(Stream::KYC_DEMAND), Some(last.name()));
        }
        let mut shuffled = events.clone();
        shuffle(&mut shuffled, seed);
        let mut s = ProviderState::default();
        for e in &shuffled { let _ = s.apply(e); }
        // The streams (the version counts applied changes, which depends on the order).
        prop_assert_eq!(s.streams, in_order.streams);
    }

    #[test]
    fn shuffled_delivery_ends_in_the_in_order_state(
        path in prop::sample::select(documented_paths()),
        gaps in prop::collection::vec(1i64..5_000, 8),
        // Exact duplicates of some events (retries) mixed in.
        dup_mask in prop::collection::vec(any::<bool>(), 8),
        seed in any::<u64>(),
    ) {
        let mut t = 0;
        let mut events = Vec::new();
        for (i, status) in path.iter().enumerate() {
            t += gaps[i];
            let p = kyc(*status, t, &format!("e{i}"));
            if dup_mask[i] { events.push(p.clone()); }
            events.push(p);
        }
        let mut in_order = ProviderState::default();
        for e in &events { let _ = in_order.apply(e); }
        prop_assert_eq!(in_order.status(Stream::KYC_DEMAND), Some(path.last().unwrap().name()));

        let mut shuffled = events.clone();
        shuffle(&mut shuffled, seed);
        let mut s = ProviderState::default();
        for e in &shuffled { let _ = s.apply(e); }
        // The streams (the version counts applied changes, which depends on the order).
        prop_assert_eq!(s.streams, in_order.streams);
    }
}

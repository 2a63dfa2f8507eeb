//! Pure scheduling rules for the sync: when a profile is next due, backoff after errors, when
//! to refresh the access token, who holds a profile (lease), and when to stop taking work.
//!
//! Randomness is injected (`rand::Rng`), so tests can pin it; times are passed in.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;

use super::identification::{snapshot_in_progress, StatusSnapshot};

/// Refresh the access token when it expires within this margin (the token lives 60 minutes;
/// a poll, a PDF download and clock skew fit in 5 minutes with room to spare).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::minutes(5);
/// How long a claimed profile stays ours: longer than one profile's work (refresh, persist,
/// poll, PDF copy, each with its HTTP timeout), shorter than the schedule period.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::minutes(3);
/// Stop taking profiles when less than this is left before the Lambda deadline.
pub const DEFAULT_DEADLINE_RESERVE: Duration = Duration::seconds(20);

/// How often a profile is polled.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    /// While GoPay is still working (`PENDING`, `WAITING_*`, unknown state).
    pub in_progress_interval: Duration,
    /// Once the identification has an outcome. Still periodic: GoPay keeps monitoring the
    /// identification and may expire it (documents expire), and polling keeps the rotating
    /// refresh token in use.
    pub settled_interval: Duration,
    /// Random extra delay, as a fraction of the interval (0.0..=1.0), spreading profiles that
    /// consented together over time instead of polling them in one burst.
    pub spread: f64,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            in_progress_interval: Duration::minutes(15),
            settled_interval: Duration::hours(24),
            spread: 0.1,
        }
    }
}

/// The base interval for a profile in this state.
pub fn poll_interval(policy: &PollPolicy, current: &StatusSnapshot) -> Duration {
    if snapshot_in_progress(current) {
        policy.in_progress_interval
    } else {
        policy.settled_interval
    }
}

/// Next due time after a successful poll: `now + interval + U[0, spread × interval]`.
pub fn next_due_after_poll<R: Rng + ?Sized>(
    policy: &PollPolicy,
    current: &StatusSnapshot,
    now: DateTime<Utc>,
    rng: &mut R,
) -> DateTime<Utc> {
    let interval = poll_interval(policy, current);
    let spread = policy.spread.clamp(0.0, 1.0);
    let max_extra_ms = (interval.num_milliseconds() as f64 * spread) as i64;
    let extra = if max_extra_ms > 0 {
        rng.random_range(0..=max_extra_ms)
    } else {
        0
    };
    now + interval + Duration::milliseconds(extra)
}

/// Exponential backoff with full jitter for failed attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Ceiling of the first retry's delay.
    pub base: Duration,
    /// Largest ceiling, however many failures.
    pub cap: Duration,
    /// Minimum delay added before the jitter (0 for pure full jitter).
    pub floor: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            base: Duration::minutes(1),
            cap: Duration::hours(6),
            floor: Duration::zero(),
        }
    }
}

/// The jitter ceiling after `consecutive_failures` failures (1 = the first failure):
/// `min(cap, base × 2^(failures-1))`, saturating.
pub fn backoff_ceiling(policy: &BackoffPolicy, consecutive_failures: u32) -> Duration {
    let exponent = consecutive_failures.max(1) - 1;
    let base_ms = policy.base.num_milliseconds().max(0);
    let cap_ms = policy.cap.num_milliseconds().max(0);
    let ceiling = if exponent >= 62 {
        cap_ms
    } else {
        base_ms.saturating_mul(1i64 << exponent).min(cap_ms)
    };
    Duration::milliseconds(ceiling)
}

/// Full jitter: `floor + U[0, ceiling]`, drawn from the injected source.
pub fn backoff_delay<R: Rng + ?Sized>(
    policy: &BackoffPolicy,
    consecutive_failures: u32,
    rng: &mut R,
) -> Duration {
    let ceiling = backoff_ceiling(policy, consecutive_failures).num_milliseconds();
    let jitter = if ceiling > 0 {
        rng.random_range(0..=ceiling)
    } else {
        0
    };
    policy.floor + Duration::milliseconds(jitter)
}

/// Next due time after a failed attempt.
pub fn next_due_after_error<R: Rng + ?Sized>(
    policy: &BackoffPolicy,
    consecutive_failures: u32,
    now: DateTime<Utc>,
    rng: &mut R,
) -> DateTime<Utc> {
    now + backoff_delay(policy, consecutive_failures, rng)
}

/// Whether the access token must be refreshed before use: none known, or it expires within
/// `margin` of `now`.
pub fn access_token_needs_refresh(
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    margin: Duration,
) -> bool {
    match expires_at {
        None => true,
        Some(at) => at - margin <= now,
    }
}

/// A claim on a profile by one sync run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The run that holds it.
    pub owner: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    /// A lease for `owner` from `now`, for `duration`.
    pub fn new(owner: impl Into<String>, now: DateTime<Utc>, duration: Duration) -> Self {
        Self {
            owner: owner.into(),
            expires_at: now + duration,
        }
    }
    /// A lease is expired from its `expires_at` on (an exact hit is expired).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// Who holds a profile at `now`, from `owner`'s point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseStatus {
    /// No lease was ever taken, or it was released.
    Free,
    /// A lease exists but has expired: it may be taken over.
    Expired,
    /// `owner` holds it and it is still valid.
    HeldByUs,
    /// Someone else holds a valid lease: leave the profile alone.
    HeldByOther,
}

/// Who holds a profile at `now`, given its lease.
pub fn lease_status(lease: Option<&Lease>, owner: &str, now: DateTime<Utc>) -> LeaseStatus {
    match lease {
        None => LeaseStatus::Free,
        Some(l) if l.is_expired(now) => LeaseStatus::Expired,
        Some(l) if l.owner == owner => LeaseStatus::HeldByUs,
        Some(_) => LeaseStatus::HeldByOther,
    }
}

/// Whether nobody holds a valid lease at `now`.
pub fn lease_is_free(lease: Option<&Lease>, now: DateTime<Utc>) -> bool {
    lease.is_none_or(|l| l.is_expired(now))
}

/// Whether `owner` may (re)claim: free, expired, or already its own. The conditional write
/// that takes the lease must test exactly this.
pub fn can_claim(lease: Option<&Lease>, owner: &str, now: DateTime<Utc>) -> bool {
    !matches!(lease_status(lease, owner, now), LeaseStatus::HeldByOther)
}

/// Whether the run may start on another profile: at least `reserve` left before `deadline`.
pub fn should_take_more_work(
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
    reserve: Duration,
) -> bool {
    now + reserve < deadline
}

//! One scheduled sync run: recover rescued tokens, take due profiles from the index, and visit
//! each under a lease — refresh (persisting the NEW refresh token before anything else), poll,
//! record changes, copy the PDF once identified, schedule the next visit. Free of Lambda and
//! AWS types: the function wires the adapters.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::client::{CallError, GoPayApi, GoPayTransport};
use super::consent::GoPayHosts;
use super::identification::{
    status_change, ClientProfileId, IdentificationState, IdentificationStatus, StatusSnapshot,
    SubjectType,
};
use super::identity_match::{DeclaredIdentity, IdentityMatch};
use super::plan::{consent_plan, id_part, identification_plan, pdf_plan, ConsentEvent};
use super::schedule::{
    access_token_needs_refresh, next_due_after_error, next_due_after_poll, should_take_more_work,
    BackoffPolicy, Lease, PollPolicy, DEFAULT_DEADLINE_RESERVE, DEFAULT_LEASE_DURATION,
    DEFAULT_REFRESH_MARGIN,
};
use super::store::{
    declared_identity_aad, raw_answer_aad, sealed_access_aad, sealed_refresh_aad, ConsentSaved,
    DeadTokenEvidence, GoPayStore, NewConsent, PdfSink, ProfileRecord, ProfileStatus,
    RawRefreshAnswer, RotationWrite, SealedTokens, TokenRescue, VisitResult,
};
use super::tokens::{recover_tokens, ClientCredentials, ClientTokens, TokenFailure};
use kyc_core::crypto::{Aad, Keyring};
use kyc_core::intake::{sha256_hex, EventStore};
use kyc_core::redact::Secret;
use kyc_core::secrets::Cached;

/// The clock the run's deadline and schedules are read against.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything a run talks to.
pub struct SyncDeps {
    /// GoPay profiles.
    pub store: Arc<dyn GoPayStore>,
    /// Where events are recorded.
    pub events: Arc<dyn EventStore>,
    /// Where rotated tokens go when the table cannot take them.
    pub rescue: Arc<dyn TokenRescue>,
    /// Where identification PDFs go.
    pub pdfs: Arc<dyn PdfSink>,
    /// How GoPay is called.
    pub transport: Arc<dyn GoPayTransport>,
    /// GoPay's hosts.
    pub hosts: GoPayHosts,
    /// Our credentials at GoPay.
    pub credentials: Cached<ClientCredentials>,
    /// GoPay's payload keyring.
    pub keys: Cached<Keyring>,
    /// The clock.
    pub clock: Clock,
}

/// How a sync run goes.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Lease owner: unique per run (e.g. the Lambda request id).
    pub owner: String,
    /// Partitions of the due index (spread the hot key; each is queried).
    pub shards: u32,
    /// Profiles visited at once.
    pub concurrency: usize,
    /// Most profiles taken per run.
    pub max_profiles: usize,
    /// When to poll a profile again.
    pub poll: PollPolicy,
    /// How long to wait after failed visits.
    pub backoff: BackoffPolicy,
    /// Refresh the access token this long before it expires.
    pub refresh_margin: Duration,
    /// How long a claim on a profile lasts.
    pub lease_duration: Duration,
    /// Stop taking work this long before the deadline.
    pub deadline_reserve: Duration,
    /// Tries of the rotated-token write before the rescue place is used.
    pub rotation_write_attempts: u32,
    /// Time a refresh may need from its start: the token call, the rotated-token write with
    /// its retries, and the rescue writes (derived from the configured timeouts by
    /// [`refresh_budget`]). No refresh starts with less than this left before the deadline.
    pub refresh_budget: Duration,
    /// The longest a visit can take (see [`longest_visit`]); the lease must outlive it.
    pub longest_visit: Duration,
    /// Consecutive token rejections after which the run stops marking profiles
    /// `needsConsent` (circuit breaker).
    pub breaker_threshold: u32,
    /// Status polls answered 404 in a row after which the profile leaves service
    /// (`unknownAtGoPay`) — if the run's 404s are specific to it ([`Self::missing_guard_limit`]).
    pub missing_poll_limit: u32,
    /// The most profiles answering 404 in one run that the run takes as specific to them. The
    /// reference's 404 is "non-existent service": beyond this, or with no other poll
    /// succeeding, it is the service (a wrong or moved base URL) and nobody is marked.
    pub missing_guard_limit: u32,
    /// A refresh refused with a bare 403 condemns the token only after this many qualifying
    /// runs (credentials proven, other refreshes succeeding, few such refusals)...
    pub dead_token_min_runs: u32,
    /// ... spanning at least this long from the first refusal to the last.
    pub dead_token_min_span: Duration,
}

/// Worst-case time of one refresh: the token call, `attempts` table writes (each bounded by
/// the SDK operation timeout) with the backoff sleeps between them, the raw-answer rescue
/// write and three rescue writes with their sleeps.
pub fn refresh_budget(
    http_timeout: StdDuration,
    store_timeout: StdDuration,
    attempts: u32,
) -> Duration {
    let attempts = attempts.max(1);
    let write_sleeps: u64 = (1..attempts).map(|a| 50u64 << a).sum();
    let rescue_sleeps: u64 = (1..=3u32).map(|a| 100u64 << a).sum();
    let total = http_timeout
        + store_timeout * (attempts + 4)
        + StdDuration::from_millis(write_sleeps + rescue_sleeps);
    Duration::from_std(total).unwrap_or(Duration::minutes(5))
}

/// Worst-case time of one visit: claim, refresh ([`refresh_budget`]), status poll, event
/// write, PDF download, upload and event, finish.
pub fn longest_visit(
    http_timeout: StdDuration,
    store_timeout: StdDuration,
    attempts: u32,
) -> Duration {
    let rest = http_timeout * 2 + store_timeout * 5;
    refresh_budget(http_timeout, store_timeout, attempts)
        + Duration::from_std(rest).unwrap_or(Duration::minutes(5))
}

impl SyncSettings {
    /// The default settings for a run whose lease owner is `owner`.
    pub fn new(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            shards: 4,
            concurrency: 16,
            max_profiles: 20_000,
            poll: PollPolicy::default(),
            backoff: BackoffPolicy::default(),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            lease_duration: DEFAULT_LEASE_DURATION,
            deadline_reserve: DEFAULT_DEADLINE_RESERVE,
            rotation_write_attempts: 3,
            refresh_budget: refresh_budget(DEFAULT_HTTP_TIMEOUT, DEFAULT_STORE_TIMEOUT, 3),
            longest_visit: longest_visit(DEFAULT_HTTP_TIMEOUT, DEFAULT_STORE_TIMEOUT, 3),
            breaker_threshold: 3,
            missing_poll_limit: 3,
            missing_guard_limit: 3,
            dead_token_min_runs: 3,
            dead_token_min_span: Duration::hours(24),
        }
    }

    /// Fails fast on settings that could lose a token: a lease shorter than a visit lets a
    /// second run refresh the same token.
    pub fn validate(&self) -> Result<(), SyncError> {
        if self.lease_duration <= self.longest_visit {
            return Err(SyncError::Settings(format!(
                "lease ({} s) must outlive the longest visit ({} s)",
                self.lease_duration.num_seconds(),
                self.longest_visit.num_seconds()
            )));
        }
        if self.refresh_budget > self.longest_visit {
            return Err(SyncError::Settings(
                "refresh budget exceeds the longest visit".into(),
            ));
        }
        Ok(())
    }
}

/// GoPay HTTP timeout assumed by the default settings (the functions' default).
pub const DEFAULT_HTTP_TIMEOUT: StdDuration = StdDuration::from_secs(8);
/// AWS SDK operation timeout assumed by the default settings (see `aws::store`).
pub const DEFAULT_STORE_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// What a run did (logged as one JSON line, returned by the function).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// Rotated tokens recovered from the rescue place.
    pub recovered_tokens: u64,
    /// Profiles due.
    pub due: u64,
    /// Profiles claimed.
    pub claimed: u64,
    /// Profiles due but held by another run.
    pub not_claimed: u64,
    /// Refresh tokens rotated.
    pub refreshed: u64,
    /// Identification statuses read.
    pub polled: u64,
    /// Status changes recorded.
    pub changes: u64,
    /// PDFs copied.
    pub pdfs: u64,
    /// Profiles marked `needsConsent`.
    pub needs_consent: u64,
    /// Rotated tokens put in the rescue place.
    pub rescued_tokens: u64,
    /// Visits that failed.
    pub failures: u64,
    /// The run stopped to leave time before the deadline.
    pub stopped_for_deadline: bool,
    /// The app token was obtained at the start: our credentials work, so a token rejection
    /// is about the token. Without it nothing is marked `needsConsent`.
    pub credentials_proven: bool,
    /// Token rejections NOT acted on (credentials unproven or breaker open).
    pub withheld_condemnations: u64,
    /// The run stopped marking profiles after too many rejections in a row.
    pub breaker_tripped: bool,
    /// 400/401/403 token answers that were not about the token (bare, HTML, other errors).
    pub unrecognized_token_answers: u64,
    /// Raw token answers recovered from the rescue place.
    pub recovered_answers: u64,
    /// Raw token answers that could not be read: kept for an operator, profile not visited.
    pub unreadable_answers: u64,
    /// Refreshes not started because the time left did not cover them.
    pub deferred_refreshes: u64,
    /// Pending consent events (NEEDS_CONSENT, ...) recorded on a later visit.
    pub pending_events_recorded: u64,
    /// Profiles that left service because GoPay answered 404 too many times.
    pub unknown_at_gopay: u64,
    /// How late (seconds after its `nextDueAt`) the most overdue profile claimed was visited:
    /// the sync lag (metric `SyncLagSeconds`).
    pub max_due_lag_seconds: u64,
    /// Status polls answered 404 (GoPay: "non-existent service").
    pub status_not_found: u64,
    /// The 404s of this run were not specific to a few profiles (or no other poll succeeded):
    /// no profile was taken out of service for them.
    pub missing_guard_tripped: bool,
    /// Refreshes refused with a bare 403 (neither about the token nor about our credentials).
    pub bare_refresh_refusals: u64,
    /// Profiles whose dead-token evidence this run advanced.
    pub dead_token_evidence_recorded: u64,
    /// Identified persons who are not the identity their customer declared (recorded changes).
    pub identity_mismatches: u64,
}

/// What a run counts in the shared `KycHooks` metrics (beside [`emf_line`]'s GoPay ones):
/// published every run, zeros included.
pub fn metrics(report: &SyncReport) -> kyc_core::metrics::MetricBatch {
    use kyc_core::metrics::{Metric, MetricBatch};
    let mut batch = MetricBatch::new();
    batch
        .add(Metric::TokensRotated, report.refreshed as f64)
        .add(Metric::TokensRescued, report.rescued_tokens as f64)
        .add(Metric::SyncLagSeconds, report.max_due_lag_seconds as f64);
    batch
}

/// CloudWatch embedded-metric-format line of a run (printed to stdout by the function), so
/// the breaker, lost consents and rescues are alarmable metrics, not only log text.
pub fn emf_line(report: &SyncReport, timestamp_ms: i64) -> String {
    let metrics = [
        ("GoPayNeedsConsent", report.needs_consent),
        ("GoPayBreakerTripped", u64::from(report.breaker_tripped)),
        ("GoPayWithheldCondemnations", report.withheld_condemnations),
        (
            "GoPayUnrecognizedTokenAnswers",
            report.unrecognized_token_answers,
        ),
        (
            "GoPayCredentialsUnproven",
            u64::from(!report.credentials_proven),
        ),
        ("GoPayRescuedTokens", report.rescued_tokens),
        ("GoPayUnreadableTokenAnswers", report.unreadable_answers),
        ("GoPayFailures", report.failures),
        ("GoPayUnknownAtGoPay", report.unknown_at_gopay),
        (
            "GoPayMissingGuardTripped",
            u64::from(report.missing_guard_tripped),
        ),
        ("GoPayStatusNotFound", report.status_not_found),
        ("GoPayBareRefreshRefusals", report.bare_refresh_refusals),
        ("GoPayIdentityMismatch", report.identity_mismatches),
    ];
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "kyc-hooks",
                "Dimensions": [[]],
                "Metrics": metrics.iter().map(|(n, _)| serde_json::json!({"Name": n, "Unit": "Count"})).collect::<Vec<_>>(),
            }]
        }
    });
    for (name, value) in metrics {
        line[name] = serde_json::json!(value);
    }
    line.to_string()
}

#[derive(Default)]
struct Counters {
    recovered_tokens: AtomicU64,
    claimed: AtomicU64,
    not_claimed: AtomicU64,
    refreshed: AtomicU64,
    polled: AtomicU64,
    changes: AtomicU64,
    pdfs: AtomicU64,
    needs_consent: AtomicU64,
    rescued_tokens: AtomicU64,
    failures: AtomicU64,
    stopped: AtomicU64,
    withheld: AtomicU64,
    unrecognized: AtomicU64,
    recovered_answers: AtomicU64,
    unreadable_answers: AtomicU64,
    deferred: AtomicU64,
    pending_events: AtomicU64,
    unknown_at_gopay: AtomicU64,
    max_due_lag_seconds: AtomicU64,
    status_not_found: AtomicU64,
    /// Status polls GoPay answered (200): the differential evidence of the 404 guard.
    healthy_polls: AtomicU64,
    bare_refusals: AtomicU64,
    dead_token_evidence: AtomicU64,
    identity_mismatches: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A secret could not be read.
    #[error("secret unavailable: {0}")]
    Secret(String),
    /// The store failed.
    #[error("store unavailable: {0}")]
    Store(String),
    /// The settings could lose a token (e.g. a lease shorter than a visit).
    #[error("unsafe settings: {0}")]
    Settings(String),
}

impl From<SyncError> for kyc_core::invocation::InvocationError {
    fn from(e: SyncError) -> Self {
        use kyc_core::invocation::InvocationError;
        match e {
            SyncError::Settings(_) => InvocationError::Permanent(e.to_string()),
            SyncError::Secret(_) | SyncError::Store(_) => InvocationError::Retryable(e.to_string()),
        }
    }
}

struct Run {
    deps: SyncDeps,
    settings: SyncSettings,
    deadline: DateTime<Utc>,
    credentials: Arc<ClientCredentials>,
    keys: Arc<Keyring>,
    counters: Counters,
    queue: Mutex<VecDeque<ClientProfileId>>,
    /// App token obtained at the start and no `invalid_client` since.
    credentials_proven: AtomicBool,
    /// Token rejections in a row (reset by any successful refresh).
    rejections_in_a_row: AtomicU64,
    breaker_tripped: AtomicBool,
    /// Raw answers kept for a visit in progress, removed once its tokens are stored.
    raw_kept: Mutex<std::collections::HashMap<ClientProfileId, RawRefreshAnswer>>,
    /// Profiles at the 404 limit: decided once the whole run's evidence is in.
    missing_candidates: Mutex<Vec<ClientProfileId>>,
    /// Profiles whose refresh got a bare 403, with the generation refused: decided the same way.
    bare_candidates: Mutex<Vec<(ClientProfileId, u64)>>,
    missing_guard_tripped: AtomicBool,
}

/// Runs one sync until the work is done or the deadline (minus the reserve) is near.
pub async fn run(
    deps: SyncDeps,
    settings: SyncSettings,
    deadline: DateTime<Utc>,
) -> Result<SyncReport, SyncError> {
    settings.validate()?;
    let credentials = deps
        .credentials
        .get()
        .await
        .map_err(|e| SyncError::Secret(e.to_string()))?;
    let keys = deps
        .keys
        .get()
        .await
        .map_err(|e| SyncError::Secret(e.to_string()))?;
    let run = Arc::new(Run {
        deps,
        settings,
        deadline,
        credentials,
        keys,
        counters: Counters::default(),
        queue: Mutex::new(VecDeque::new()),
        credentials_proven: AtomicBool::new(false),
        rejections_in_a_row: AtomicU64::new(0),
        breaker_tripped: AtomicBool::new(false),
        raw_kept: Mutex::default(),
        missing_candidates: Mutex::default(),
        bare_candidates: Mutex::default(),
        missing_guard_tripped: AtomicBool::new(false),
    });
    // Prove our client credentials first: only then can a token rejection be about the token.
    match run.api().app_token().await {
        Ok(_) => run.credentials_proven.store(true, Ordering::SeqCst),
        Err(e) => tracing::error!(error = %e,
            "gopay: ALERT app token refused or unavailable; credentials unproven, no profile will be marked needsConsent in this run"),
    }
    // Rescued tokens first: they are the only copy of a live consent.
    run.recover_rescued().await?;
    let blocked = run.recover_raw_answers().await?;
    let due: Vec<ClientProfileId> = run
        .collect_due()
        .await?
        .into_iter()
        .filter(|id| !blocked.contains(id))
        .collect();
    run.queue.lock().unwrap().extend(due.iter().cloned());

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..run.settings.concurrency.max(1) {
        let run = run.clone();
        workers.spawn(async move { run.work().await });
    }
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "gopay sync worker panicked");
        }
    }
    // What a single visit cannot tell (is a 404 or a bare 403 about this profile, or about
    // GoPay or us?) is decided with the whole run's evidence.
    run.decide_missing().await;
    run.decide_bare_refusals().await;
    let c = &run.counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Ok(SyncReport {
        recovered_tokens: get(&c.recovered_tokens),
        due: due.len() as u64,
        claimed: get(&c.claimed),
        not_claimed: get(&c.not_claimed),
        refreshed: get(&c.refreshed),
        polled: get(&c.polled),
        changes: get(&c.changes),
        pdfs: get(&c.pdfs),
        needs_consent: get(&c.needs_consent),
        rescued_tokens: get(&c.rescued_tokens),
        failures: get(&c.failures),
        stopped_for_deadline: get(&c.stopped) > 0,
        credentials_proven: run.credentials_proven.load(Ordering::SeqCst),
        withheld_condemnations: get(&c.withheld),
        breaker_tripped: run.breaker_tripped.load(Ordering::SeqCst),
        unrecognized_token_answers: get(&c.unrecognized),
        recovered_answers: get(&c.recovered_answers),
        unreadable_answers: get(&c.unreadable_answers),
        deferred_refreshes: get(&c.deferred),
        pending_events_recorded: get(&c.pending_events),
        unknown_at_gopay: get(&c.unknown_at_gopay),
        max_due_lag_seconds: get(&c.max_due_lag_seconds),
        status_not_found: get(&c.status_not_found),
        missing_guard_tripped: run.missing_guard_tripped.load(Ordering::SeqCst),
        bare_refresh_refusals: get(&c.bare_refusals),
        dead_token_evidence_recorded: get(&c.dead_token_evidence),
        identity_mismatches: get(&c.identity_mismatches),
    })
}

/// Why a visit ended early (decides the next due time).
enum VisitEnd {
    /// Retry later with backoff; `drop_access` forgets a refused access token.
    Retry { drop_access: bool },
    /// The profile left the schedule (needs consent) or the lease/token moved: write nothing.
    Leave,
    /// Not enough time left to refresh safely: due again now, lease released, no failure.
    Defer,
    /// Leave the profile as it is but release our lease (breaker open).
    Release,
}

impl Run {
    fn now(&self) -> DateTime<Utc> {
        (self.deps.clock)()
    }

    fn api(&self) -> GoPayApi<'_> {
        GoPayApi {
            transport: self.deps.transport.as_ref(),
            hosts: &self.deps.hosts,
            credentials: &self.credentials,
        }
    }

    async fn recover_rescued(&self) -> Result<(), SyncError> {
        let rescued = self
            .deps
            .rescue
            .list()
            .await
            .map_err(|e| SyncError::Store(e.to_string()))?;
        for tokens in rescued {
            let profile = match ClientProfileId::new(tokens.client_profile_id.clone()) {
                Ok(p) => p,
                Err(_) => continue,
            };
            let settled = if let Some(customer) = &tokens.customer_id {
                self.recover_first_tokens(&profile, customer, &tokens)
                    .await?
            } else {
                match self.deps.store.store_rotation(&tokens).await {
                    Ok(RotationWrite::Stored) => {
                        bump(&self.counters.recovered_tokens);
                        tracing::warn!(client_profile_id = %profile.as_str(), generation = tokens.generation,
                        "gopay: rotated refresh token recovered from the rescue place");
                        true
                    }
                    // Already stored (the failed write had in fact succeeded) or superseded by a
                    // newer consent: the rescue copy is no longer needed.
                    Ok(RotationWrite::GenerationMoved) => {
                        match self.deps.store.profile(&profile).await {
                            // A rotation that lost the race with a revoke or a retire: the
                            // rotated token is live at GoPay while the profile is revoked here.
                            Ok(Some(p)) if p.status == ProfileStatus::Revoked => {
                                self.revoke_rescued(&profile, &p.customer_id, &tokens).await
                            }
                            Ok(Some(p)) => p.token_gen >= tokens.generation,
                            Ok(None) => false,
                            Err(e) => return Err(SyncError::Store(e.to_string())),
                        }
                    }
                    Err(e) => return Err(SyncError::Store(e.to_string())),
                }
            };
            if settled {
                if let Err(e) = self.deps.rescue.remove(&tokens).await {
                    tracing::warn!(error = %e, "gopay: rescue copy not removed (recovered again next run, harmlessly)");
                }
            } else {
                tracing::error!(client_profile_id = %profile.as_str(), generation = tokens.generation,
                    "gopay: rescued token does not follow the stored generation; kept for an operator");
            }
        }
        Ok(())
    }

    /// Revokes at GoPay a rescued refresh token of a revoked profile (true: the rescue copy
    /// can go). An inconclusive answer keeps the copy for the next run or an operator.
    async fn revoke_rescued(
        &self,
        profile: &ClientProfileId,
        customer: &str,
        tokens: &SealedTokens,
    ) -> bool {
        let Some(refresh) = self.open(
            &sealed_refresh_aad(profile, tokens.generation, customer),
            Some(&tokens.sealed_refresh),
        ) else {
            tracing::error!(client_profile_id = %profile.as_str(), generation = tokens.generation,
                "gopay: rescued token of a revoked profile cannot be opened; kept for an operator");
            return false;
        };
        match self.api().revoke(&refresh).await {
            Ok(())
            | Err(CallError::Token {
                failure: TokenFailure::GrantRejected,
                ..
            }) => {
                tracing::warn!(client_profile_id = %profile.as_str(), generation = tokens.generation,
                    "gopay: token rotated while the profile was revoked; revoked at GoPay too");
                true
            }
            Err(e) => {
                tracing::error!(client_profile_id = %profile.as_str(), error = %e,
                    "gopay: ALERT token rotated while the profile was revoked is still live at GoPay; kept, retried next run");
                false
            }
        }
    }

    /// A consent's first tokens that the consent function could not store: create (or
    /// re-consent) the profile, unless a newer generation is already stored.
    async fn recover_first_tokens(
        &self,
        profile: &ClientProfileId,
        customer: &str,
        tokens: &SealedTokens,
    ) -> Result<bool, SyncError> {
        let stored = self
            .deps
            .store
            .profile(profile)
            .await
            .map_err(|e| SyncError::Store(e.to_string()))?;
        if stored
            .as_ref()
            .is_some_and(|p| p.token_gen >= tokens.generation)
        {
            return Ok(true);
        }
        // Rescued before an erasure, recovered after it: never stored; revoked at GoPay.
        if self.customer_erased(customer).await? {
            tracing::warn!(client_profile_id = %profile.as_str(),
                "gopay: rescued first tokens of an erased customer: revoked, not stored");
            return Ok(self.revoke_rescued(profile, customer, tokens).await);
        }
        let now = self.now();
        let consent = NewConsent {
            expected_generation: stored.as_ref().map(|p| p.token_gen),
            customer_id: customer.to_string(),
            client_profile_id: profile.clone(),
            tokens: tokens.clone(),
            sealed_identity: tokens.sealed_identity.clone(),
            due_at: now,
            now,
        };
        match self.deps.store.save_consent(&consent).await {
            Ok(ConsentSaved::Stored) => {
                // Read again after the write, as the consent function does: an erasure that
                // wrote its tombstone meanwhile either sees this consent (and refuses) or is
                // seen here (and the consent is revoked).
                if self.customer_erased(customer).await? {
                    tracing::warn!(client_profile_id = %profile.as_str(),
                        "gopay: customer erased while its rescued tokens were stored: revoked");
                    self.deps
                        .store
                        .mark_revoked(profile, now)
                        .await
                        .map_err(|e| SyncError::Store(e.to_string()))?;
                    return Ok(self.revoke_rescued(profile, customer, tokens).await);
                }
                bump(&self.counters.recovered_tokens);
                tracing::warn!(client_profile_id = %profile.as_str(),
                    "gopay: a consent's first tokens recovered from the rescue place");
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(e) => Err(SyncError::Store(e.to_string())),
        }
    }

    /// Raw token answers kept before parsing: store what they hold, drop the ones already
    /// stored. Returns the profiles whose answer cannot be read: they are NOT visited (a
    /// refresh with the stored, now dead, token would be refused and condemn the profile).
    async fn recover_raw_answers(&self) -> Result<BTreeSet<ClientProfileId>, SyncError> {
        let mut blocked = BTreeSet::new();
        let answers = self
            .deps
            .rescue
            .list_raw()
            .await
            .map_err(|e| SyncError::Store(e.to_string()))?;
        for raw in answers {
            let Ok(profile) = ClientProfileId::new(raw.client_profile_id.clone()) else {
                continue;
            };
            let stored = self
                .deps
                .store
                .profile(&profile)
                .await
                .map_err(|e| SyncError::Store(e.to_string()))?;
            let settled = match &stored {
                Some(p) if p.token_gen >= raw.generation => true,
                Some(p) if p.token_gen + 1 == raw.generation => {
                    match self.tokens_of_raw(&profile, &p.customer_id, &raw) {
                        Some(tokens) => {
                            let sealed =
                                self.seal(&profile, &p.customer_id, raw.generation, &tokens);
                            match self.deps.store.store_rotation(&sealed).await {
                                Ok(RotationWrite::Stored) => {
                                    bump(&self.counters.recovered_answers);
                                    tracing::warn!(client_profile_id = %profile.as_str(), generation = raw.generation,
                                        "gopay: refresh token recovered from a kept raw token answer");
                                    true
                                }
                                Ok(RotationWrite::GenerationMoved) => false,
                                Err(e) => return Err(SyncError::Store(e.to_string())),
                            }
                        }
                        None => false,
                    }
                }
                _ => false,
            };
            if settled {
                if let Err(e) = self.deps.rescue.remove_raw(&raw).await {
                    tracing::warn!(error = %e, "gopay: kept raw answer not removed (settled again next run)");
                }
            } else {
                bump(&self.counters.unreadable_answers);
                tracing::error!(client_profile_id = %profile.as_str(), generation = raw.generation,
                    "gopay: ALERT kept raw token answer cannot be applied; profile not visited, kept for an operator");
                blocked.insert(profile);
            }
        }
        Ok(blocked)
    }

    /// The tokens of a kept raw answer (strict reading, then the lenient one).
    fn tokens_of_raw(
        &self,
        profile: &ClientProfileId,
        customer: &str,
        raw: &RawRefreshAnswer,
    ) -> Option<ClientTokens> {
        let body = self
            .keys
            .open(
                &raw_answer_aad(&raw.client_profile_id, raw.generation, customer),
                &raw.sealed_body,
            )
            .ok()?;
        ClientTokens::parse(&body, raw.received_at)
            .or_else(|_| recover_tokens(&body, profile, raw.received_at))
            .ok()
    }

    fn seal(
        &self,
        id: &ClientProfileId,
        customer: &str,
        generation: u64,
        tokens: &ClientTokens,
    ) -> SealedTokens {
        SealedTokens::seal(&self.keys, id, customer, generation, tokens)
    }

    async fn collect_due(&self) -> Result<Vec<ClientProfileId>, SyncError> {
        let now = self.now();
        let mut due = Vec::new();
        for shard in 0..self.settings.shards.max(1) {
            let left = self.settings.max_profiles.saturating_sub(due.len());
            if left == 0 {
                break;
            }
            let ids = self
                .deps
                .store
                .due_profiles(shard, now, left)
                .await
                .map_err(|e| SyncError::Store(e.to_string()))?;
            due.extend(ids);
        }
        Ok(due)
    }

    async fn work(&self) {
        loop {
            if !should_take_more_work(self.now(), self.deadline, self.settings.deadline_reserve) {
                if !self.queue.lock().unwrap().is_empty() {
                    bump(&self.counters.stopped);
                }
                return;
            }
            let Some(profile) = self.queue.lock().unwrap().pop_front() else {
                return;
            };
            self.visit(&profile).await;
        }
    }

    async fn visit(&self, profile: &ClientProfileId) {
        let now = self.now();
        let lease = Lease::new(&self.settings.owner, now, self.settings.lease_duration);
        let record = match self.deps.store.claim(profile, &lease, now).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                bump(&self.counters.not_claimed);
                return;
            }
            Err(e) => {
                bump(&self.counters.failures);
                tracing::warn!(client_profile_id = %profile.as_str(), error = %e, "gopay: claim failed");
                return;
            }
        };
        bump(&self.counters.claimed);
        if let Some(due) = record.next_due_at {
            let lag = (now - due).num_seconds().max(0) as u64;
            self.counters
                .max_due_lag_seconds
                .fetch_max(lag, Ordering::Relaxed);
        }
        if record.status != ProfileStatus::Active {
            // Out of service with its event still to record (claimable only for that).
            if self.record_pending_event(&record).await {
                bump(&self.counters.pending_events);
            } else {
                bump(&self.counters.failures);
                self.release(&record).await;
            }
            return;
        }
        match self.visit_claimed(&record).await {
            Ok(result) => self.finish(&record, result).await,
            Err(VisitEnd::Leave) => {}
            Err(VisitEnd::Release) => self.release(&record).await,
            Err(VisitEnd::Defer) => {
                let now = self.now();
                let result = VisitResult {
                    next_due_at: now,
                    consecutive_failures: record.consecutive_failures,
                    snapshot: None,
                    pdf_key: None,
                    drop_access: false,
                    missing_polls: record.missing_polls,
                    now,
                };
                self.finish(&record, result).await;
            }
            Err(VisitEnd::Retry { drop_access }) => {
                bump(&self.counters.failures);
                let result = self.retry_result(&record, drop_access, record.missing_polls);
                self.finish(&record, result).await;
            }
        }
    }

    fn retry_result(
        &self,
        record: &ProfileRecord,
        drop_access: bool,
        missing_polls: u32,
    ) -> VisitResult {
        let failures = record.consecutive_failures.saturating_add(1);
        let now = self.now();
        let next = {
            let mut rng = rand::rng();
            next_due_after_error(&self.settings.backoff, failures, now, &mut rng)
        };
        VisitResult {
            next_due_at: next,
            consecutive_failures: failures,
            snapshot: None,
            pdf_key: None,
            drop_access,
            missing_polls,
            now,
        }
    }

    async fn release(&self, record: &ProfileRecord) {
        if let Err(e) = self
            .deps
            .store
            .release_lease(&record.client_profile_id, &self.settings.owner)
            .await
        {
            tracing::warn!(client_profile_id = %record.client_profile_id.as_str(), error = %e,
                "gopay: lease not released (it expires)");
        }
    }

    async fn finish(&self, record: &ProfileRecord, result: VisitResult) {
        match self
            .deps
            .store
            .finish_visit(&record.client_profile_id, &self.settings.owner, &result)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(client_profile_id = %record.client_profile_id.as_str(),
                "gopay: lease lost before the visit was recorded; the next run repeats it"),
            Err(e) => {
                tracing::warn!(client_profile_id = %record.client_profile_id.as_str(), error = %e,
                "gopay: visit result not stored; the lease expires and the next run repeats it")
            }
        }
    }

    /// Whether `kyc erase` erased `customer` and its drop period runs (its GoPay tombstone).
    async fn customer_erased(&self, customer: &str) -> Result<bool, SyncError> {
        kyc_core::erasure::is_erased(
            self.deps.events.as_ref(),
            &self.keys,
            kyc_core::intake::Provider::Gopay,
            customer,
            self.now(),
        )
        .await
        .map_err(|e| SyncError::Store(e.to_string()))
    }

    fn open(&self, aad: &Aad, sealed: Option<&String>) -> Option<Secret> {
        let sealed = sealed?;
        let bytes = self.keys.open(aad, sealed).ok()?;
        String::from_utf8(bytes).ok().map(Secret::new)
    }

    /// The access token to poll with: the stored one, or a fresh one (rotation persisted).
    async fn access_token(&self, record: &ProfileRecord) -> Result<Secret, VisitEnd> {
        let id = &record.client_profile_id;
        let now = self.now();
        if !access_token_needs_refresh(record.access_expires_at, now, self.settings.refresh_margin)
        {
            if let Some(token) = self.open(
                &sealed_access_aad(id, record.token_gen, &record.customer_id),
                record.sealed_access.as_ref(),
            ) {
                return Ok(token);
            }
        }
        // A refresh kills the token we hold: start one only if the time left covers the call,
        // the table write with its retries and the rescue writes.
        if now + self.settings.refresh_budget >= self.deadline {
            bump(&self.counters.deferred);
            tracing::info!(client_profile_id = %id.as_str(), "gopay: not enough time left to refresh safely; deferred");
            return Err(VisitEnd::Defer);
        }
        let Some(refresh) = self.open(
            &sealed_refresh_aad(id, record.token_gen, &record.customer_id),
            record.sealed_refresh.as_ref(),
        ) else {
            tracing::error!(client_profile_id = %id.as_str(), generation = record.token_gen,
                "gopay: stored refresh token cannot be opened (key missing?); profile kept as is");
            return Err(VisitEnd::Retry { drop_access: false });
        };
        let sent_at = self.now();
        match self.api().refresh_raw(&refresh).await {
            Ok(body) => {
                bump(&self.counters.refreshed);
                self.rejections_in_a_row.store(0, Ordering::SeqCst);
                let tokens = self.keep_and_parse(record, body.expose(), sent_at).await?;
                self.persist_rotation(record, &tokens).await?;
                Ok(tokens.access_token)
            }
            Err(CallError::Token {
                status,
                failure: TokenFailure::GrantRejected,
            }) => Err(self.consent_lost(record, status).await),
            Err(CallError::Token {
                status,
                failure: TokenFailure::ClientRejected,
            }) => {
                // Our credentials stopped working mid-run: nothing can be concluded from
                // token rejections any more.
                self.credentials_proven.store(false, Ordering::SeqCst);
                tracing::error!(client_profile_id = %id.as_str(), http_status = status,
                    "gopay: ALERT client credentials refused by the token endpoint; token kept, no more profiles marked in this run");
                Err(VisitEnd::Retry { drop_access: false })
            }
            Err(CallError::Token {
                status,
                failure: TokenFailure::Unrecognized,
            }) => {
                bump(&self.counters.unrecognized);
                if status == 403 {
                    // Proves nothing alone; several runs of it, while other profiles refresh
                    // fine, do (decided at the end of the run).
                    bump(&self.counters.bare_refusals);
                    self.bare_candidates
                        .lock()
                        .unwrap()
                        .push((id.clone(), record.token_gen));
                }
                tracing::error!(client_profile_id = %id.as_str(), http_status = status,
                    "gopay: ALERT token endpoint answered an error that is not about the token (bare/HTML/other); token kept, retried with backoff");
                Err(VisitEnd::Retry { drop_access: false })
            }
            Err(e) => {
                tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: refresh failed; token kept, retry later");
                Err(VisitEnd::Retry { drop_access: false })
            }
        }
    }

    /// Keeps the raw 2xx answer sealed in the rescue place, THEN parses it (strictly, then
    /// leniently). The raw copy is removed once the tokens are stored.
    async fn keep_and_parse(
        &self,
        record: &ProfileRecord,
        body: &[u8],
        sent_at: DateTime<Utc>,
    ) -> Result<ClientTokens, VisitEnd> {
        let id = &record.client_profile_id;
        let generation = record.token_gen + 1;
        let raw = RawRefreshAnswer {
            client_profile_id: id.as_str().to_string(),
            generation,
            sealed_body: self.keys.seal(
                &raw_answer_aad(id.as_str(), generation, &record.customer_id),
                body,
            ),
            received_at: sent_at,
        };
        let kept = match self.deps.rescue.save_raw(&raw).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(client_profile_id = %id.as_str(), error = %e,
                    "gopay: raw token answer not kept in the rescue place; continuing with the table write");
                false
            }
        };
        let parsed = ClientTokens::parse(body, sent_at).or_else(|strict| {
            tracing::error!(client_profile_id = %id.as_str(), error = %strict,
                "gopay: ALERT 2xx token answer not in the documented shape; reading it leniently");
            recover_tokens(body, id, sent_at)
        });
        match parsed {
            Ok(tokens) => Ok(tokens),
            Err(e) if kept => {
                bump(&self.counters.unreadable_answers);
                tracing::error!(client_profile_id = %id.as_str(), error = %e,
                    "gopay: ALERT 2xx token answer unreadable; kept sealed in the rescue place for an operator, profile not visited until then");
                Err(VisitEnd::Leave)
            }
            Err(e) => {
                bump(&self.counters.unreadable_answers);
                tracing::error!(client_profile_id = %id.as_str(), error = %e,
                    "gopay: CONSENT AT RISK: 2xx token answer unreadable and not kept");
                Err(VisitEnd::Leave)
            }
        }
        .inspect(|_| {
            if kept {
                self.raw_kept.lock().unwrap().insert(id.clone(), raw);
            }
        })
    }

    /// Stores the rotated token (compare-and-swap on the generation), retrying; if the table
    /// stays unwritable, the sealed token goes to the rescue place for the next run.
    async fn persist_rotation(
        &self,
        record: &ProfileRecord,
        tokens: &ClientTokens,
    ) -> Result<(), VisitEnd> {
        let id = &record.client_profile_id;
        if tokens.client_profile_id != *id {
            // Never expected; the token is still the live one for the refresh we sent.
            tracing::error!(client_profile_id = %id.as_str(), "gopay: refresh answered another clientProfileId; storing the token anyway");
        }
        let generation = record.token_gen + 1;
        let sealed = self.seal(id, &record.customer_id, generation, tokens);
        let attempts = self.settings.rotation_write_attempts.max(1);
        let raw = self.raw_kept.lock().unwrap().remove(id);
        for attempt in 1..=attempts {
            match self.deps.store.store_rotation(&sealed).await {
                Ok(RotationWrite::Stored) => {
                    self.drop_raw(raw).await;
                    return Ok(());
                }
                Ok(RotationWrite::GenerationMoved) => {
                    // An earlier attempt may have been applied without us seeing the answer.
                    if self
                        .stored_token_is(id, generation, &tokens.refresh_token)
                        .await
                    {
                        self.drop_raw(raw).await;
                        return Ok(());
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(client_profile_id = %id.as_str(), attempt, error = %e,
                        "gopay: rotated refresh token not stored yet; retrying");
                    if attempt < attempts {
                        tokio::time::sleep(StdDuration::from_millis(50 << attempt)).await;
                    }
                }
            }
        }
        self.rescue(&sealed).await;
        Err(VisitEnd::Leave)
    }

    async fn drop_raw(&self, raw: Option<RawRefreshAnswer>) {
        if let Some(raw) = raw {
            if let Err(e) = self.deps.rescue.remove_raw(&raw).await {
                tracing::warn!(error = %e, "gopay: kept raw answer not removed (settled next run)");
            }
        }
    }

    async fn stored_token_is(&self, id: &ClientProfileId, generation: u64, token: &Secret) -> bool {
        match self.deps.store.profile(id).await {
            Ok(Some(p)) if p.token_gen == generation => self
                .open(
                    &sealed_refresh_aad(id, generation, &p.customer_id),
                    p.sealed_refresh.as_ref(),
                )
                .is_some_and(|stored| stored.expose() == token.expose()),
            _ => false,
        }
    }

    async fn rescue(&self, sealed: &SealedTokens) {
        for attempt in 1..=3u32 {
            match self.deps.rescue.save(sealed).await {
                Ok(()) => {
                    bump(&self.counters.rescued_tokens);
                    tracing::error!(client_profile_id = %sealed.client_profile_id, generation = sealed.generation,
                        "gopay: rotated refresh token could not be stored in the table; kept sealed in the rescue place, the next run recovers it");
                    return;
                }
                Err(e) => {
                    tracing::error!(client_profile_id = %sealed.client_profile_id, attempt, error = %e,
                        "gopay: rescue write failed");
                    tokio::time::sleep(StdDuration::from_millis(100 << attempt)).await;
                }
            }
        }
        tracing::error!(client_profile_id = %sealed.client_profile_id, generation = sealed.generation,
            "gopay: CONSENT AT RISK: rotated refresh token stored nowhere (table and rescue place failed)");
    }

    /// GoPay refused the refresh token (`invalid_grant`). The profile is marked as needing a
    /// new consent only if the run has proven our credentials and the breaker is closed;
    /// otherwise it is left as is.
    async fn consent_lost(&self, record: &ProfileRecord, http_status: u16) -> VisitEnd {
        let id = &record.client_profile_id;
        if !self.credentials_proven.load(Ordering::SeqCst) {
            bump(&self.counters.withheld);
            tracing::error!(client_profile_id = %id.as_str(), http_status,
                "gopay: refresh token refused but our credentials are unproven in this run; profile NOT marked, retried with backoff");
            return VisitEnd::Retry { drop_access: false };
        }
        let in_a_row = self.rejections_in_a_row.fetch_add(1, Ordering::SeqCst) + 1;
        if in_a_row > u64::from(self.settings.breaker_threshold) {
            bump(&self.counters.withheld);
            if !self.breaker_tripped.swap(true, Ordering::SeqCst) {
                tracing::error!(rejections_in_a_row = in_a_row,
                    "gopay: ALERT circuit breaker open: too many refresh tokens refused in a row; no more profiles marked needsConsent in this run");
            }
            return VisitEnd::Release;
        }
        let now = self.now();
        match self
            .deps
            .store
            .mark_needs_consent(id, record.token_gen, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(client_profile_id = %id.as_str(), "gopay: refresh refused but the token generation moved; not marking");
                return VisitEnd::Leave;
            }
            Err(e) => {
                tracing::error!(client_profile_id = %id.as_str(), error = %e, "gopay: refresh token refused and the profile could not be marked");
                return VisitEnd::Retry { drop_access: false };
            }
        }
        bump(&self.counters.needs_consent);
        tracing::error!(client_profile_id = %id.as_str(), http_status,
            "gopay: refresh token refused by GoPay; the customer must consent again");
        let mut marked = record.clone();
        marked.status = ProfileStatus::NeedsConsent;
        if !self.record_pending_event(&marked).await {
            tracing::error!(client_profile_id = %id.as_str(),
                "gopay: consent-lost event not recorded yet; the profile stays due until it is");
        }
        VisitEnd::Leave
    }

    /// Records the consent event of a profile that left service, then takes it off the
    /// index. `false`: not recorded (the profile stays due; the next run tries again).
    async fn record_pending_event(&self, record: &ProfileRecord) -> bool {
        let id = &record.client_profile_id;
        let (event, kind) = match record.status {
            ProfileStatus::NeedsConsent => (
                ConsentEvent::Lost {
                    profile: id.clone(),
                    evidence: self.condemnation_evidence(record),
                },
                "lost",
            ),
            ProfileStatus::UnknownAtGoPay => (
                ConsentEvent::UnknownAtGoPay {
                    profile: id.clone(),
                },
                "unknown",
            ),
            _ => return true,
        };
        let now = self.now();
        let event_id = format!("gopay-consent-{kind}-{}-{}", id.as_str(), record.token_gen);
        let plan = consent_plan(&self.keys, &record.customer_id, &event, event_id, now);
        if let Err(e) = self.deps.events.record(&plan).await {
            tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: consent event not recorded; retried");
            return false;
        }
        if let Err(e) = self.deps.store.event_recorded(id, now).await {
            // Recorded again (same event id: a duplicate) next run.
            tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: event recorded but the profile flag not cleared");
        }
        true
    }

    /// What condemned a profile's token, for its `NEEDS_CONSENT` event: the runs that saw a
    /// bare 403 when they are conclusive for its current generation, otherwise GoPay's answer
    /// about the token (`invalid_grant`).
    fn condemnation_evidence(&self, record: &ProfileRecord) -> serde_json::Value {
        match &record.dead_token_evidence {
            Some(e)
                if e.generation == record.token_gen
                    && e.is_conclusive(
                        self.settings.dead_token_min_runs,
                        self.settings.dead_token_min_span,
                    ) =>
            {
                serde_json::json!({
                    "kind": "bareRefreshRefusal",
                    "httpStatus": 403,
                    "runs": e.runs,
                    "firstAt": e.first_at,
                    "lastAt": e.last_at,
                    "tokenGeneration": e.generation,
                    "eachRun": "credentials proven, other profiles' refreshes succeeded",
                })
            }
            _ => serde_json::json!({ "kind": "tokenRefused", "error": "invalid_grant" }),
        }
    }

    /// The declared identity of the profile's customer compared with the identified person:
    /// only for `IDENTIFIED` / `PARTIALLY_IDENTIFIED` persons with a declared identity.
    fn identity_match(
        &self,
        record: &ProfileRecord,
        status: &IdentificationStatus,
    ) -> Option<IdentityMatch> {
        let sealed = record.sealed_identity.as_ref()?;
        if !matches!(
            status.state,
            IdentificationState::Identified | IdentificationState::PartiallyIdentified
        ) || status
            .subject_type
            .as_ref()
            .is_some_and(|t| *t != SubjectType::Person)
        {
            return None;
        }
        let id = &record.client_profile_id;
        let declared = self
            .keys
            .open(&declared_identity_aad(id, &record.customer_id), sealed)
            .ok()
            .and_then(|plain| DeclaredIdentity::from_sealed_json(&plain));
        let Some(declared) = declared else {
            tracing::error!(client_profile_id = %id.as_str(),
                "gopay: ALERT declared identity cannot be opened; the identification is recorded without the match");
            return None;
        };
        let null = serde_json::Value::Null;
        Some(declared.compare(status.subject_data.as_ref().map_or(&null, |d| d.expose())))
    }

    async fn visit_claimed(&self, record: &ProfileRecord) -> Result<VisitResult, VisitEnd> {
        let id = &record.client_profile_id;
        let access = self.access_token(record).await?;
        let (status, body) = match self.api().identification_status(id, &access).await {
            Ok(v) => v,
            Err(CallError::Status { status: 404 }) => return Ok(self.missing_at_gopay(record)),
            Err(e) => {
                tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: status poll failed");
                let drop_access = matches!(e, CallError::Status { status: 401 | 403 });
                return Err(VisitEnd::Retry { drop_access });
            }
        };
        bump(&self.counters.polled);
        bump(&self.counters.healthy_polls);
        let now = self.now();
        let identity = self.identity_match(record, &status);
        let snapshot = status.snapshot().with_identity(identity.clone());
        let change = status_change(record.last_snapshot.as_ref(), &snapshot);
        if let Some(change) = &change {
            let event_id = status.event_id_for(record.last_snapshot.as_ref(), &snapshot);
            let plan = identification_plan(
                &self.keys,
                &record.customer_id,
                &status,
                &body,
                change,
                identity.as_ref(),
                event_id.clone(),
                now,
            );
            match self.deps.events.record(&plan).await {
                Ok(outcome) => {
                    bump(&self.counters.changes);
                    tracing::info!(client_profile_id = %id.as_str(), event_id = %event_id,
                        state = %status.state, outcome = %outcome.history_note(), "gopay: identification change recorded");
                    if let Some(m) = identity.as_ref().filter(|m| m.is_mismatch()) {
                        bump(&self.counters.identity_mismatches);
                        tracing::warn!(client_profile_id = %id.as_str(),
                            differing_fields = %m.differing_fields().join(","),
                            "gopay: ALERT the identified person is not the identity the customer declared; recorded as IDENTITY_MISMATCH");
                    }
                }
                Err(e) => {
                    // Snapshot not advanced: the next visit records the change again.
                    tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: change not recorded");
                    return Err(VisitEnd::Retry { drop_access: false });
                }
            }
        }
        // A (re-)identification after another state gets a fresh PDF: the old one describes
        // the previous identification.
        let reidentified = change.is_some()
            && record
                .last_snapshot
                .as_ref()
                .is_some_and(|s| s.state != IdentificationState::Identified);
        let mut pdf_key = None;
        let mut pdf_failed = false;
        if status.state == IdentificationState::Identified
            && (record.pdf_key.is_none() || reidentified)
        {
            match self
                .copy_pdf(record, &status, &snapshot, &access, now)
                .await
            {
                Ok(key) => pdf_key = Some(key),
                Err(()) => pdf_failed = true,
            }
        }
        let (next_due_at, consecutive_failures) = {
            let mut rng = rand::rng();
            if pdf_failed {
                let failures = record.consecutive_failures.saturating_add(1);
                (
                    next_due_after_error(&self.settings.backoff, failures, now, &mut rng),
                    failures,
                )
            } else {
                (
                    next_due_after_poll(&self.settings.poll, &snapshot, now, &mut rng),
                    0,
                )
            }
        };
        Ok(VisitResult {
            next_due_at,
            consecutive_failures,
            // While the PDF is not safely recorded the snapshot stays where it was, so the next
            // visit sees the same change and names the PDF event the same way.
            snapshot: (!pdf_failed).then_some(snapshot),
            pdf_key,
            drop_access: false,
            missing_polls: 0,
            now,
        })
    }

    /// GoPay answered 404 for the profile: retried with backoff; once at the limit, a
    /// candidate for `unknownAtGoPay`, decided at the end of the run ([`Self::decide_missing`]).
    fn missing_at_gopay(&self, record: &ProfileRecord) -> VisitResult {
        let id = &record.client_profile_id;
        let missing = record.missing_polls.saturating_add(1);
        bump(&self.counters.status_not_found);
        bump(&self.counters.failures);
        tracing::warn!(client_profile_id = %id.as_str(), missing_polls = missing,
            "gopay: status poll answered 404 (GoPay: non-existent service); retried with backoff");
        if missing >= self.settings.missing_poll_limit.max(1) {
            self.missing_candidates.lock().unwrap().push(id.clone());
        }
        self.retry_result(record, false, missing)
    }

    /// Whether the end-of-run decisions may still start one (half the deadline reserve left).
    /// A decision cut short is taken by the next run: the evidence stays where it was.
    fn may_decide(&self) -> bool {
        let left = self.now() + self.settings.deadline_reserve / 2 < self.deadline;
        if !left {
            tracing::warn!(
                "gopay: end-of-run decisions cut short by the deadline; the next run takes them"
            );
        }
        left
    }

    /// The 404 guard: profiles at the 404 limit leave service only if this run's 404s are
    /// specific to a few profiles (at most [`SyncSettings::missing_guard_limit`]) and other
    /// profiles' polls succeeded. Otherwise (a wrong or moved base URL, an outage answering
    /// 404) nobody is marked and the run alerts.
    async fn decide_missing(&self) {
        let not_found = self.counters.status_not_found.load(Ordering::Relaxed);
        let healthy = self.counters.healthy_polls.load(Ordering::Relaxed);
        let candidates = std::mem::take(&mut *self.missing_candidates.lock().unwrap());
        if not_found == 0 {
            return;
        }
        let specific = not_found <= u64::from(self.settings.missing_guard_limit) && healthy > 0;
        if !specific {
            self.missing_guard_tripped.store(true, Ordering::SeqCst);
            tracing::error!(status_not_found = not_found, healthy_polls = healthy,
                at_limit = candidates.len(),
                "gopay: ALERT identification-status answered 404 for too many profiles (or no other poll succeeded): GoPay's non-existent service, not unknown profiles; none taken out of service (check GOPAY_CLIENT_BASE_URL)");
            return;
        }
        for id in candidates {
            if !self.may_decide() {
                break;
            }
            let now = self.now();
            let lease = Lease::new(&self.settings.owner, now, self.settings.lease_duration);
            let record = match self.deps.store.take_lease(&id, &lease, now).await {
                Ok(Some(r)) => r,
                Ok(None) => continue, // another run holds it: it decides
                Err(e) => {
                    tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: profile not re-leased; decided next run");
                    continue;
                }
            };
            if record.status != ProfileStatus::Active
                || record.missing_polls < self.settings.missing_poll_limit.max(1)
            {
                self.release(&record).await;
                continue;
            }
            match self
                .deps
                .store
                .mark_unknown_at_gopay(&id, &self.settings.owner, now)
                .await
            {
                Ok(true) => {
                    bump(&self.counters.unknown_at_gopay);
                    tracing::error!(client_profile_id = %id.as_str(), missing_polls = record.missing_polls,
                        "gopay: ALERT profile unknown to GoPay after repeated 404s specific to it; out of service (unknownAtGoPay)");
                    let mut marked = record.clone();
                    marked.status = ProfileStatus::UnknownAtGoPay;
                    self.record_pending_event(&marked).await;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: profile not marked unknown; decided next run");
                    self.release(&record).await;
                }
            }
        }
    }

    /// Differential evidence for refreshes refused with a bare 403: a run counts for a profile
    /// only if it proved our credentials, refreshed other profiles, and saw such refusals for
    /// no more profiles than the breaker's threshold (more is GoPay's or a WAF's doing). A
    /// profile with enough qualifying runs over a long enough span is condemned, through the
    /// breaker's count.
    async fn decide_bare_refusals(&self) {
        let candidates = std::mem::take(&mut *self.bare_candidates.lock().unwrap());
        if candidates.is_empty() {
            return;
        }
        let proven = self.credentials_proven.load(Ordering::SeqCst);
        let others_refreshed = self.counters.refreshed.load(Ordering::Relaxed) > 0;
        let few = candidates.len() <= self.settings.breaker_threshold as usize;
        if !(proven && others_refreshed && few) {
            tracing::warn!(bare_refusals = candidates.len(), credentials_proven = proven, others_refreshed,
                "gopay: refreshes refused with a bare 403 in a run that proves nothing about the tokens; no evidence recorded");
            return;
        }
        let mut condemned = 0u32;
        for (id, generation) in candidates {
            if !self.may_decide() {
                break;
            }
            let now = self.now();
            let record = match self.deps.store.profile(&id).await {
                Ok(Some(r)) if r.status == ProfileStatus::Active && r.token_gen == generation => r,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: dead-token evidence not recorded");
                    continue;
                }
            };
            let evidence = DeadTokenEvidence::advanced(
                record.dead_token_evidence.as_ref(),
                generation,
                &self.settings.owner,
                now,
            );
            match self
                .deps
                .store
                .record_dead_token_evidence(&id, &evidence, now)
                .await
            {
                Ok(true) => bump(&self.counters.dead_token_evidence),
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: dead-token evidence not recorded");
                    continue;
                }
            }
            tracing::warn!(client_profile_id = %id.as_str(), runs = evidence.runs,
                first_at = %evidence.first_at, "gopay: refresh refused with a bare 403 while other refreshes succeed; evidence recorded");
            if !evidence.is_conclusive(
                self.settings.dead_token_min_runs,
                self.settings.dead_token_min_span,
            ) {
                continue;
            }
            condemned += 1;
            if condemned > self.settings.breaker_threshold
                || self.breaker_tripped.load(Ordering::SeqCst)
            {
                bump(&self.counters.withheld);
                if !self.breaker_tripped.swap(true, Ordering::SeqCst) {
                    tracing::error!("gopay: ALERT circuit breaker open: too many tokens condemned in one run; no more profiles marked needsConsent");
                }
                continue;
            }
            match self
                .deps
                .store
                .mark_needs_consent(&id, generation, now)
                .await
            {
                Ok(true) => {
                    bump(&self.counters.needs_consent);
                    tracing::error!(client_profile_id = %id.as_str(), runs = evidence.runs,
                        first_at = %evidence.first_at, last_at = %evidence.last_at,
                        "gopay: refresh refused with a bare 403 across runs while other refreshes succeeded: the token is dead; the customer must consent again");
                    let marked = ProfileRecord {
                        status: ProfileStatus::NeedsConsent,
                        dead_token_evidence: Some(evidence),
                        ..record
                    };
                    if !self.record_pending_event(&marked).await {
                        tracing::error!(client_profile_id = %id.as_str(),
                            "gopay: consent-lost event not recorded yet; the profile stays due until it is");
                    }
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(client_profile_id = %id.as_str(), error = %e, "gopay: dead token not marked; decided again next run");
                }
            }
        }
    }

    async fn copy_pdf(
        &self,
        record: &ProfileRecord,
        status: &IdentificationStatus,
        snapshot: &StatusSnapshot,
        access: &Secret,
        now: DateTime<Utc>,
    ) -> Result<String, ()> {
        let id = &record.client_profile_id;
        let pdf = match self.api().identification_pdf(id, access, None).await {
            Ok(pdf) => pdf,
            // The reference: the app token serves the PDF of a consent given in the past.
            Err(CallError::Status {
                status: status @ (401 | 403),
            }) => {
                tracing::info!(client_profile_id = %id.as_str(), http_status = status,
                    "gopay: PDF refused to the client token; asking with the app token");
                let fetched = match self.api().app_token().await {
                    Ok(app) => {
                        self.api()
                            .identification_pdf(id, &app.access_token, None)
                            .await
                    }
                    Err(e) => Err(e),
                };
                match fetched {
                    Ok(pdf) => pdf,
                    Err(e) => {
                        tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: PDF download failed; retried next visit");
                        return Err(());
                    }
                }
            }
            Err(e) => {
                tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: PDF download failed; retried next visit");
                return Err(());
            }
        };
        let digest = sha256_hex(&pdf);
        let key = format!(
            "gopay/identification-pdf/{}/{}-{}.pdf",
            id.as_str(),
            now.format("%Y%m%dT%H%M%SZ"),
            &digest[..16]
        );
        if let Err(e) = self.deps.pdfs.put_pdf(&key, &pdf).await {
            tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: PDF upload failed; retried next visit");
            return Err(());
        }
        // Named after the identification change the PDF documents (the same id as that
        // change's event), not after this copy: a visit retried after a lost answer (event
        // written, visit result not stored) copies the PDF again under a new key, and its event
        // is then a duplicate, not a second PDF. A re-identification is another change.
        let event_id = format!(
            "gopay-pdf-{}",
            id_part(&status.event_id_for(record.last_snapshot.as_ref(), snapshot))
        );
        let plan = pdf_plan(
            &self.keys,
            &record.customer_id,
            id,
            &key,
            &digest,
            event_id,
            now,
        );
        if let Err(e) = self.deps.events.record(&plan).await {
            // The key is not stored on the profile: the next visit copies and records again.
            tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: PDF event not recorded; retried next visit");
            return Err(());
        }
        bump(&self.counters.pdfs);
        Ok(key)
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
pub(crate) mod tests;

//! One scheduled sync run: recover rescued tokens, take due profiles from the index, and visit
//! each under a lease — refresh (persisting the NEW refresh token before anything else), poll,
//! record changes, copy the PDF once identified, schedule the next visit. Free of Lambda and
//! AWS types: the function wires the adapters.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::client::{CallError, GoPayApi, GoPayTransport};
use super::consent::GoPayHosts;
use super::events::{consent_plan, id_part, identification_plan, pdf_plan, ConsentEvent};
use super::identification::{status_change, ClientProfileId, IdentificationState};
use super::schedule::{
    access_token_needs_refresh, next_due_after_error, next_due_after_poll, should_take_more_work,
    BackoffPolicy, Lease, PollPolicy, DEFAULT_DEADLINE_RESERVE, DEFAULT_LEASE_DURATION,
    DEFAULT_REFRESH_MARGIN,
};
use super::store::{
    sealed_access_aad, sealed_refresh_aad, GoPayStore, PdfSink, ProfileRecord, RotationWrite,
    SealedTokens, TokenRescue, VisitResult,
};
use super::tokens::{ClientCredentials, ClientTokens, TokenFailure};
use crate::crypto::Keyring;
use crate::intake::{sha256_hex, EventStore};
use crate::redact::Secret;
use crate::secrets::Cached;

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything a run talks to.
pub struct SyncDeps {
    pub store: Arc<dyn GoPayStore>,
    pub events: Arc<dyn EventStore>,
    pub rescue: Arc<dyn TokenRescue>,
    pub pdfs: Arc<dyn PdfSink>,
    pub transport: Arc<dyn GoPayTransport>,
    pub hosts: GoPayHosts,
    pub credentials: Cached<ClientCredentials>,
    pub keys: Cached<Keyring>,
    pub clock: Clock,
}

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
    pub poll: PollPolicy,
    pub backoff: BackoffPolicy,
    pub refresh_margin: Duration,
    pub lease_duration: Duration,
    pub deadline_reserve: Duration,
    /// Tries of the rotated-token write before the rescue place is used.
    pub rotation_write_attempts: u32,
}

impl SyncSettings {
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
        }
    }
}

/// What a run did (logged as one JSON line, returned by the function).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub recovered_tokens: u64,
    pub due: u64,
    pub claimed: u64,
    pub not_claimed: u64,
    pub refreshed: u64,
    pub polled: u64,
    pub changes: u64,
    pub pdfs: u64,
    pub needs_consent: u64,
    pub rescued_tokens: u64,
    pub failures: u64,
    pub stopped_for_deadline: bool,
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
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("secret unavailable: {0}")]
    Secret(String),
    #[error("store unavailable: {0}")]
    Store(String),
}

struct Run {
    deps: SyncDeps,
    settings: SyncSettings,
    deadline: DateTime<Utc>,
    credentials: Arc<ClientCredentials>,
    keys: Arc<Keyring>,
    counters: Counters,
    queue: Mutex<VecDeque<ClientProfileId>>,
}

/// Runs one sync until the work is done or the deadline (minus the reserve) is near.
pub async fn run(
    deps: SyncDeps,
    settings: SyncSettings,
    deadline: DateTime<Utc>,
) -> Result<SyncReport, SyncError> {
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
    });
    // Rescued tokens first: they are the only copy of a live consent.
    run.recover_rescued().await?;
    let due = run.collect_due().await?;
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
    })
}

/// Why a visit ended early (decides the next due time).
enum VisitEnd {
    /// Retry later with backoff; `drop_access` forgets a refused access token.
    Retry { drop_access: bool },
    /// The profile left the schedule (needs consent) or the lease/token moved: write nothing.
    Leave,
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
            let settled = match self.deps.store.store_rotation(&tokens).await {
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
                        Ok(Some(p)) => p.token_gen >= tokens.generation,
                        Ok(None) => false,
                        Err(e) => return Err(SyncError::Store(e.to_string())),
                    }
                }
                Err(e) => return Err(SyncError::Store(e.to_string())),
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
        match self.visit_claimed(&record).await {
            Ok(result) => self.finish(&record, result).await,
            Err(VisitEnd::Leave) => {}
            Err(VisitEnd::Retry { drop_access }) => {
                bump(&self.counters.failures);
                let failures = record.consecutive_failures.saturating_add(1);
                let now = self.now();
                let next = {
                    let mut rng = rand::rng();
                    next_due_after_error(&self.settings.backoff, failures, now, &mut rng)
                };
                let result = VisitResult {
                    next_due_at: next,
                    consecutive_failures: failures,
                    snapshot: None,
                    pdf_key: None,
                    drop_access,
                    now,
                };
                self.finish(&record, result).await;
            }
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

    fn open(&self, aad: &str, sealed: Option<&String>) -> Option<Secret> {
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
                &sealed_access_aad(id, record.token_gen),
                record.sealed_access.as_ref(),
            ) {
                return Ok(token);
            }
        }
        let Some(refresh) = self.open(
            &sealed_refresh_aad(id, record.token_gen),
            record.sealed_refresh.as_ref(),
        ) else {
            tracing::error!(client_profile_id = %id.as_str(), generation = record.token_gen,
                "gopay: stored refresh token cannot be opened (key missing?); profile kept as is");
            return Err(VisitEnd::Retry { drop_access: false });
        };
        let sent_at = self.now();
        match self.api().refresh(&refresh, sent_at).await {
            Ok(tokens) => {
                bump(&self.counters.refreshed);
                self.persist_rotation(record, &tokens).await?;
                Ok(tokens.access_token)
            }
            Err(CallError::Token {
                status,
                failure: TokenFailure::GrantRejected,
            }) => {
                self.consent_lost(record, status).await;
                Err(VisitEnd::Leave)
            }
            Err(e) => {
                tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: refresh failed; token kept, retry later");
                Err(VisitEnd::Retry { drop_access: false })
            }
        }
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
        let sealed = SealedTokens {
            client_profile_id: id.as_str().to_string(),
            generation,
            sealed_refresh: self
                .keys
                .seal_secret(&sealed_refresh_aad(id, generation), &tokens.refresh_token),
            sealed_access: self
                .keys
                .seal_secret(&sealed_access_aad(id, generation), &tokens.access_token),
            access_expires_at: tokens.access_expires_at,
        };
        let attempts = self.settings.rotation_write_attempts.max(1);
        for attempt in 1..=attempts {
            match self.deps.store.store_rotation(&sealed).await {
                Ok(RotationWrite::Stored) => return Ok(()),
                Ok(RotationWrite::GenerationMoved) => {
                    // An earlier attempt may have been applied without us seeing the answer.
                    if self
                        .stored_token_is(id, generation, &tokens.refresh_token)
                        .await
                    {
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

    async fn stored_token_is(&self, id: &ClientProfileId, generation: u64, token: &Secret) -> bool {
        match self.deps.store.profile(id).await {
            Ok(Some(p)) if p.token_gen == generation => self
                .open(
                    &sealed_refresh_aad(id, generation),
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

    /// GoPay refused the refresh token: unless another writer moved the generation meanwhile,
    /// the profile needs a new consent — recorded as an event and logged as an error.
    async fn consent_lost(&self, record: &ProfileRecord, http_status: u16) {
        let id = &record.client_profile_id;
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
                return;
            }
            Err(e) => {
                tracing::error!(client_profile_id = %id.as_str(), error = %e, "gopay: refresh token refused and the profile could not be marked");
                return;
            }
        }
        bump(&self.counters.needs_consent);
        let event_id = format!("gopay-consent-lost-{}-{}", id.as_str(), record.token_gen);
        tracing::error!(client_profile_id = %id.as_str(), http_status, event_id = %event_id,
            "gopay: refresh token refused by GoPay; the customer must consent again");
        let plan = consent_plan(
            &self.keys,
            &record.customer_id,
            &ConsentEvent::Lost {
                profile: id.clone(),
            },
            event_id,
            now,
        );
        if let Err(e) = self.deps.events.record(&plan).await {
            tracing::error!(client_profile_id = %id.as_str(), error = %e, "gopay: consent-lost event not recorded (profile is marked)");
        }
    }

    async fn visit_claimed(&self, record: &ProfileRecord) -> Result<VisitResult, VisitEnd> {
        let id = &record.client_profile_id;
        let access = self.access_token(record).await?;
        let (status, body) = match self.api().identification_status(id, &access).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: status poll failed");
                let drop_access = matches!(e, CallError::Status { status: 401 | 403 });
                return Err(VisitEnd::Retry { drop_access });
            }
        };
        bump(&self.counters.polled);
        let now = self.now();
        let snapshot = status.snapshot();
        if let Some(change) = status_change(record.last_snapshot.as_ref(), &snapshot) {
            let event_id = status.event_id(record.last_snapshot.as_ref());
            let plan = identification_plan(
                &self.keys,
                &record.customer_id,
                &status,
                &body,
                &change,
                event_id.clone(),
                now,
            );
            match self.deps.events.record(&plan).await {
                Ok(outcome) => {
                    bump(&self.counters.changes);
                    tracing::info!(client_profile_id = %id.as_str(), event_id = %event_id,
                        state = %status.state, outcome = %outcome.history_note(), "gopay: identification change recorded");
                }
                Err(e) => {
                    // Snapshot not advanced: the next visit records the change again.
                    tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: change not recorded");
                    return Err(VisitEnd::Retry { drop_access: false });
                }
            }
        }
        let mut pdf_key = None;
        let mut pdf_failed = false;
        if status.state == IdentificationState::Identified && record.pdf_key.is_none() {
            match self.copy_pdf(record, &access, now).await {
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
            snapshot: Some(snapshot),
            pdf_key,
            drop_access: false,
            now,
        })
    }

    async fn copy_pdf(
        &self,
        record: &ProfileRecord,
        access: &Secret,
        now: DateTime<Utc>,
    ) -> Result<String, ()> {
        let id = &record.client_profile_id;
        let pdf = match self.api().identification_pdf(id, access).await {
            Ok(pdf) => pdf,
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
        let event_id = format!("gopay-pdf-{}", id_part(&key));
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
            tracing::warn!(client_profile_id = %id.as_str(), error = %e, "gopay: PDF event not recorded (the key is on the profile)");
        }
        bump(&self.counters.pdfs);
        Ok(key)
    }
}

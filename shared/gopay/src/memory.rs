//! In-memory twins of the GoPay ports: [`MemoryGoPayStore`] ([`GoPayStore`]),
//! [`MemoryTokenRescue`] ([`TokenRescue`]), [`MemoryPdfSink`] ([`PdfSink`]) and
//! [`MemoryGoPay`], a small GoPay behind the [`GoPayTransport`] trait (rotating refresh
//! tokens, scripted token answers, reuse counting). They keep the same conditional-write rules
//! as the AWS adapters (`aws::store`), count calls, can fail on demand and can add a
//! per-call latency, so the sync engine can be unit-tested and benchmarked alone.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::client::{GoPayTransport, HttpAnswer, TransportError};
use super::consent::PendingConsent;
use super::error::StateRejection;
use super::identification::ClientProfileId;
use super::schedule::{can_claim, Lease};
use super::store::{
    due_shard, ConsentSaved, DeadTokenEvidence, GoPayStore, NewConsent, PdfSink, ProfileRecord,
    ProfileStatus, RawRefreshAnswer, RotationWrite, SealedTokens, TokenRescue, VisitResult,
};
use super::tokens::FormBody;
use kyc_core::intake::StoreError;
use kyc_core::redact::{Personal, Secret};

/// Call counting, injected failures and latency shared by the twins.
#[derive(Default)]
struct Ports {
    latency: StdDuration,
    calls: AtomicU64,
    failures: Mutex<HashMap<&'static str, u32>>,
}

impl Ports {
    async fn enter(&self, op: &'static str) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let mut f = self.failures.lock().unwrap();
        match f.get_mut(op) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(StoreError::Unavailable(format!("injected failure: {op}")))
            }
            _ => Ok(()),
        }
    }
    fn fail(&self, op: &'static str, times: u32) {
        self.failures.lock().unwrap().insert(op, times);
    }
}

#[derive(Default)]
struct StoreMemory {
    states: HashMap<String, PendingConsent>,
    profiles: BTreeMap<ClientProfileId, ProfileRecord>,
    links: HashMap<String, ClientProfileId>,
}

/// The in-memory twin of the GoPay table (profiles, links, consent states, due index).
#[derive(Default)]
pub struct MemoryGoPayStore {
    ports: Ports,
    shards: u32,
    inner: Mutex<StoreMemory>,
}

impl MemoryGoPayStore {
    /// A store with `shards` partitions of the due index.
    pub fn new(shards: u32) -> Self {
        Self::with_latency(shards, StdDuration::ZERO)
    }
    /// Every call waits `latency` first (benchmarks).
    pub fn with_latency(shards: u32, latency: StdDuration) -> Self {
        Self {
            ports: Ports {
                latency,
                ..Ports::default()
            },
            shards: shards.max(1),
            inner: Mutex::default(),
        }
    }
    /// Calls made so far (all operations).
    pub fn calls(&self) -> u64 {
        self.ports.calls.load(Ordering::Relaxed)
    }
    /// The next `times` calls of `op` (the trait method's name) fail as unavailable.
    pub fn fail(&self, op: &'static str, times: u32) {
        self.ports.fail(op, times)
    }
    /// Inserts a profile as is (seeding), with its customer link.
    pub fn insert(&self, record: ProfileRecord) {
        let mut m = self.inner.lock().unwrap();
        m.links
            .insert(record.customer_id.clone(), record.client_profile_id.clone());
        m.profiles.insert(record.client_profile_id.clone(), record);
    }
    /// Points `customer`'s link at `profile` as a forged write would (tests of the owner check).
    pub fn forge_link(&self, customer: &str, profile: &ClientProfileId) {
        self.inner
            .lock()
            .unwrap()
            .links
            .insert(customer.to_string(), profile.clone());
    }
    /// A profile as stored, without a call (assertions).
    pub fn peek(&self, id: &ClientProfileId) -> Option<ProfileRecord> {
        self.inner.lock().unwrap().profiles.get(id).cloned()
    }
    /// A consent state as stored, without a call (assertions).
    pub fn consent_state(&self, state_key: &str) -> Option<PendingConsent> {
        self.inner.lock().unwrap().states.get(state_key).cloned()
    }
    /// All profiles (assertions).
    pub fn all(&self) -> Vec<ProfileRecord> {
        self.inner
            .lock()
            .unwrap()
            .profiles
            .values()
            .cloned()
            .collect()
    }
}

/// Whether a profile is in the due index (the DynamoDB adapter keeps `GSI1` keys exactly then).
fn indexed(p: &ProfileRecord) -> bool {
    p.next_due_at.is_some() && (p.status == ProfileStatus::Active || p.event_pending)
}

#[async_trait]
impl GoPayStore for MemoryGoPayStore {
    async fn put_consent_state(&self, pending: &PendingConsent) -> Result<(), StoreError> {
        self.ports.enter("put_consent_state").await?;
        let mut m = self.inner.lock().unwrap();
        if m.states.contains_key(&pending.state_key) {
            return Err(StoreError::Corrupt("consent state exists".into()));
        }
        m.states.insert(pending.state_key.clone(), pending.clone());
        Ok(())
    }

    async fn take_consent_state(
        &self,
        state_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<PendingConsent, StateRejection>, StoreError> {
        self.ports.enter("take_consent_state").await?;
        let mut m = self.inner.lock().unwrap();
        let Some(p) = m.states.get_mut(state_key) else {
            return Ok(Err(StateRejection::Unknown));
        };
        if let Err(r) = p.check(now) {
            return Ok(Err(r));
        }
        p.used_at = Some(now);
        Ok(Ok(p.clone()))
    }

    async fn save_consent(&self, c: &NewConsent) -> Result<ConsentSaved, StoreError> {
        self.ports.enter("save_consent").await?;
        let mut m = self.inner.lock().unwrap();
        let id = &c.client_profile_id;
        let previous = m.profiles.get(id);
        if previous.is_some_and(|p| p.customer_id != c.customer_id) {
            return Ok(ConsentSaved::LinkedToOtherCustomer);
        }
        if let Some(expected) = c.expected_generation {
            if previous.map(|p| p.token_gen) != Some(expected) {
                return Ok(ConsentSaved::GenerationMoved);
            }
        } else if previous.is_some() {
            return Ok(ConsentSaved::GenerationMoved);
        }
        let record = ProfileRecord {
            client_profile_id: id.clone(),
            customer_id: c.customer_id.clone(),
            status: ProfileStatus::Active,
            token_gen: c.tokens.generation,
            sealed_refresh: Some(c.tokens.sealed_refresh.clone()),
            sealed_access: Some(c.tokens.sealed_access.clone()),
            access_expires_at: Some(c.tokens.access_expires_at),
            next_due_at: Some(c.due_at),
            consecutive_failures: 0,
            last_snapshot: previous.and_then(|p| p.last_snapshot.clone()),
            pdf_key: previous.and_then(|p| p.pdf_key.clone()),
            lease: None,
            updated_at: Some(c.now),
            event_pending: false,
            missing_polls: 0,
            sealed_identity: c.sealed_identity.clone(),
            dead_token_evidence: None,
        };
        m.profiles.insert(id.clone(), record);
        m.links.insert(c.customer_id.clone(), id.clone());
        Ok(ConsentSaved::Stored)
    }

    async fn due_profiles(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ClientProfileId>, StoreError> {
        self.ports.enter("due_profiles").await?;
        let m = self.inner.lock().unwrap();
        let mut due: Vec<(DateTime<Utc>, ClientProfileId)> = m
            .profiles
            .values()
            .filter(|p| indexed(p) && due_shard(&p.client_profile_id, self.shards) == shard)
            .filter_map(|p| {
                let at = p.next_due_at?;
                (at <= now).then(|| (at, p.client_profile_id.clone()))
            })
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    async fn claim(
        &self,
        id: &ClientProfileId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        self.ports.enter("claim").await?;
        let mut m = self.inner.lock().unwrap();
        let Some(p) = m.profiles.get_mut(id) else {
            return Ok(None);
        };
        let claimable = indexed(p)
            && p.next_due_at.is_some_and(|d| d <= now)
            && can_claim(p.lease.as_ref(), &lease.owner, now);
        if !claimable {
            return Ok(None);
        }
        p.lease = Some(lease.clone());
        Ok(Some(p.clone()))
    }

    async fn store_rotation(&self, t: &SealedTokens) -> Result<RotationWrite, StoreError> {
        self.ports.enter("store_rotation").await?;
        let id = ClientProfileId::new(t.client_profile_id.clone())
            .map_err(|_| StoreError::Corrupt("rotation: clientProfileId".into()))?;
        let mut m = self.inner.lock().unwrap();
        match m.profiles.get_mut(&id) {
            Some(p) if p.token_gen == t.generation.saturating_sub(1) => {
                p.token_gen = t.generation;
                p.sealed_refresh = Some(t.sealed_refresh.clone());
                p.sealed_access = Some(t.sealed_access.clone());
                p.access_expires_at = Some(t.access_expires_at);
                // A working token: whatever refusals were seen before are no evidence any more.
                p.dead_token_evidence = None;
                Ok(RotationWrite::Stored)
            }
            _ => Ok(RotationWrite::GenerationMoved),
        }
    }

    async fn finish_visit(
        &self,
        id: &ClientProfileId,
        owner: &str,
        r: &VisitResult,
    ) -> Result<bool, StoreError> {
        self.ports.enter("finish_visit").await?;
        let mut m = self.inner.lock().unwrap();
        let Some(p) = m.profiles.get_mut(id) else {
            return Ok(false);
        };
        if p.lease.as_ref().map(|l| l.owner.as_str()) != Some(owner)
            || p.status != ProfileStatus::Active
        {
            return Ok(false);
        }
        p.next_due_at = Some(r.next_due_at);
        p.consecutive_failures = r.consecutive_failures;
        p.updated_at = Some(r.now);
        if let Some(s) = &r.snapshot {
            p.last_snapshot = Some(s.clone());
        }
        if let Some(k) = &r.pdf_key {
            p.pdf_key = Some(k.clone());
        }
        p.missing_polls = r.missing_polls;
        if r.drop_access {
            p.sealed_access = None;
            p.access_expires_at = None;
        }
        p.lease = None;
        Ok(true)
    }

    async fn mark_needs_consent(
        &self,
        id: &ClientProfileId,
        generation: u64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.ports.enter("mark_needs_consent").await?;
        let mut m = self.inner.lock().unwrap();
        match m.profiles.get_mut(id) {
            Some(p) if p.token_gen == generation => {
                p.status = ProfileStatus::NeedsConsent;
                // Stays in the index, due now, until its event is recorded.
                p.event_pending = true;
                p.next_due_at = Some(now);
                p.sealed_access = None;
                p.access_expires_at = None;
                p.lease = None;
                p.updated_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mark_unknown_at_gopay(
        &self,
        id: &ClientProfileId,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.ports.enter("mark_unknown_at_gopay").await?;
        let mut m = self.inner.lock().unwrap();
        match m.profiles.get_mut(id) {
            Some(p)
                if p.status == ProfileStatus::Active
                    && p.lease.as_ref().is_some_and(|l| l.owner == owner) =>
            {
                p.status = ProfileStatus::UnknownAtGoPay;
                p.event_pending = true;
                p.next_due_at = Some(now);
                p.lease = None;
                p.updated_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn event_recorded(
        &self,
        id: &ClientProfileId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.ports.enter("event_recorded").await?;
        let mut m = self.inner.lock().unwrap();
        if let Some(p) = m.profiles.get_mut(id) {
            if p.status != ProfileStatus::Active {
                p.event_pending = false;
                p.next_due_at = None;
                p.lease = None;
                p.updated_at = Some(now);
            }
        }
        Ok(())
    }

    async fn record_dead_token_evidence(
        &self,
        id: &ClientProfileId,
        evidence: &DeadTokenEvidence,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.ports.enter("record_dead_token_evidence").await?;
        let mut m = self.inner.lock().unwrap();
        match m.profiles.get_mut(id) {
            Some(p) if p.status == ProfileStatus::Active && p.token_gen == evidence.generation => {
                p.dead_token_evidence = Some(evidence.clone());
                p.updated_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn reactivate(
        &self,
        id: &ClientProfileId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.ports.enter("reactivate").await?;
        let mut m = self.inner.lock().unwrap();
        match m.profiles.get_mut(id) {
            Some(p)
                if matches!(
                    p.status,
                    ProfileStatus::NeedsConsent | ProfileStatus::UnknownAtGoPay
                ) && p.sealed_refresh.is_some() =>
            {
                p.status = ProfileStatus::Active;
                p.event_pending = false;
                p.next_due_at = Some(now);
                p.consecutive_failures = 0;
                p.dead_token_evidence = None;
                p.lease = None;
                p.updated_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn take_lease(
        &self,
        id: &ClientProfileId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        self.ports.enter("take_lease").await?;
        let mut m = self.inner.lock().unwrap();
        match m.profiles.get_mut(id) {
            Some(p) if can_claim(p.lease.as_ref(), &lease.owner, now) => {
                p.lease = Some(lease.clone());
                Ok(Some(p.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn release_lease(&self, id: &ClientProfileId, owner: &str) -> Result<(), StoreError> {
        self.ports.enter("release_lease").await?;
        let mut m = self.inner.lock().unwrap();
        if let Some(p) = m.profiles.get_mut(id) {
            if p.lease.as_ref().is_some_and(|l| l.owner == owner) {
                p.lease = None;
            }
        }
        Ok(())
    }

    async fn mark_revoked(
        &self,
        id: &ClientProfileId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.ports.enter("mark_revoked").await?;
        let mut m = self.inner.lock().unwrap();
        let p = m
            .profiles
            .get_mut(id)
            .ok_or_else(|| StoreError::Corrupt("no such profile".into()))?;
        p.status = ProfileStatus::Revoked;
        p.token_gen += 1;
        p.sealed_refresh = None;
        p.sealed_access = None;
        p.access_expires_at = None;
        p.next_due_at = None;
        p.event_pending = false;
        p.lease = None;
        p.updated_at = Some(now);
        Ok(())
    }

    async fn profile(&self, id: &ClientProfileId) -> Result<Option<ProfileRecord>, StoreError> {
        self.ports.enter("profile").await?;
        Ok(self.inner.lock().unwrap().profiles.get(id).cloned())
    }

    async fn profile_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        self.ports.enter("profile_of_customer").await?;
        let m = self.inner.lock().unwrap();
        let profile = m
            .links
            .get(customer_id)
            .and_then(|id| m.profiles.get(id))
            .cloned();
        Ok(crate::store::owned_by(profile, customer_id))
    }
}

/// The in-memory twin of the rescue place.
#[derive(Default)]
pub struct MemoryTokenRescue {
    ports: Ports,
    tokens: Mutex<BTreeMap<(String, u64), SealedTokens>>,
    raw: Mutex<BTreeMap<(String, u64), RawRefreshAnswer>>,
}

impl MemoryTokenRescue {
    /// A rescue place whose every call takes `latency`.
    pub fn with_latency(latency: StdDuration) -> Self {
        Self {
            ports: Ports {
                latency,
                ..Ports::default()
            },
            ..Self::default()
        }
    }
    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.ports.calls.load(Ordering::Relaxed)
    }
    /// The next `times` calls of `op` (`save`, `list`, `remove`, `save_raw`, ...) fail.
    pub fn fail(&self, op: &'static str, times: u32) {
        self.ports.fail(op, times)
    }
    /// Rescued tokens and raw answers currently held (assertions).
    pub fn held(&self) -> (usize, usize) {
        (
            self.tokens.lock().unwrap().len(),
            self.raw.lock().unwrap().len(),
        )
    }
}

#[async_trait]
impl TokenRescue for MemoryTokenRescue {
    async fn save(&self, t: &SealedTokens) -> Result<(), StoreError> {
        self.ports.enter("save").await?;
        self.tokens
            .lock()
            .unwrap()
            .insert((t.client_profile_id.clone(), t.generation), t.clone());
        Ok(())
    }
    async fn list(&self) -> Result<Vec<SealedTokens>, StoreError> {
        self.ports.enter("list").await?;
        let mut out: Vec<_> = self.tokens.lock().unwrap().values().cloned().collect();
        out.sort_by_key(|t| t.generation);
        Ok(out)
    }
    async fn remove(&self, t: &SealedTokens) -> Result<(), StoreError> {
        self.ports.enter("remove").await?;
        self.tokens
            .lock()
            .unwrap()
            .remove(&(t.client_profile_id.clone(), t.generation));
        Ok(())
    }
    async fn save_raw(&self, r: &RawRefreshAnswer) -> Result<(), StoreError> {
        self.ports.enter("save_raw").await?;
        self.raw
            .lock()
            .unwrap()
            .insert((r.client_profile_id.clone(), r.generation), r.clone());
        Ok(())
    }
    async fn list_raw(&self) -> Result<Vec<RawRefreshAnswer>, StoreError> {
        self.ports.enter("list_raw").await?;
        let mut out: Vec<_> = self.raw.lock().unwrap().values().cloned().collect();
        out.sort_by_key(|t| t.generation);
        Ok(out)
    }
    async fn remove_raw(&self, r: &RawRefreshAnswer) -> Result<(), StoreError> {
        self.ports.enter("remove_raw").await?;
        self.raw
            .lock()
            .unwrap()
            .remove(&(r.client_profile_id.clone(), r.generation));
        Ok(())
    }
}

/// The in-memory twin of the PDF bucket.
#[derive(Default)]
pub struct MemoryPdfSink {
    ports: Ports,
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryPdfSink {
    /// A PDF bucket whose every call takes `latency`.
    pub fn with_latency(latency: StdDuration) -> Self {
        Self {
            ports: Ports {
                latency,
                ..Ports::default()
            },
            ..Self::default()
        }
    }
    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.ports.calls.load(Ordering::Relaxed)
    }
    /// Makes the next `times` writes fail.
    pub fn fail(&self, times: u32) {
        self.ports.fail("put_pdf", times)
    }
    /// The keys of the PDFs stored.
    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().unwrap().keys().cloned().collect()
    }
}

#[async_trait]
impl PdfSink for MemoryPdfSink {
    async fn put_pdf(&self, key: &str, pdf: &[u8]) -> Result<(), StoreError> {
        self.ports.enter("put_pdf").await?;
        self.objects
            .lock()
            .unwrap()
            .insert(key.to_string(), pdf.to_vec());
        Ok(())
    }
}

/// A scripted answer of GoPay's token endpoint for the next refresh. `rotate_first`: GoPay
/// rotates the token (the one sent dies), then answers `make(access, refresh, profile)`
/// instead of its normal answer — e.g. a 2xx body we cannot parse, or a 500.
pub struct ScriptedTokenAnswer {
    /// Rotate the token before answering.
    pub rotate_first: bool,
    /// The answer: `(status, body)` of `(access, refresh, profile)`.
    #[allow(clippy::type_complexity)]
    pub make: Box<dyn Fn(&str, &str, &str) -> (u16, Vec<u8>) + Send + Sync>,
}

impl ScriptedTokenAnswer {
    /// An answer sent without processing the request (the token stays valid).
    pub fn plain(status: u16, body: &str) -> Self {
        let body = body.as_bytes().to_vec();
        Self {
            rotate_first: false,
            make: Box::new(move |_, _, _| (status, body.clone())),
        }
    }
}

#[derive(Default)]
struct GoPayProfile {
    state: String,
    reasons: Vec<String>,
    /// Answer 404 to status polls (profile unknown to GoPay).
    gone: bool,
    /// `subjectData` of an identified person (sent once not PENDING).
    subject: Option<serde_json::Value>,
    /// Refreshes with this profile's tokens answer a bare 403 (token untouched).
    bare_403: bool,
}

#[derive(Default)]
struct GoPayMemory {
    serial: u64,
    /// refresh token → (profile, still valid)
    refresh: HashMap<String, (String, bool)>,
    access: HashMap<String, String>,
    profiles: HashMap<String, GoPayProfile>,
    token_script: VecDeque<ScriptedTokenAnswer>,
    revoke_script: VecDeque<ScriptedTokenAnswer>,
    app_token_status: Option<u16>,
    reuses: u64,
    refreshes: u64,
    revoked: Vec<String>,
    requests: u64,
    pdf_content_type: Option<String>,
    pdf_urls: Vec<String>,
    /// PDFs are served to the app token only (a consent given in the past).
    pdf_app_token_only: bool,
    /// Who each prefill call was made as (`*app*` or a profile id).
    prefill_callers: Vec<String>,
    /// authorization code → profile (single use)
    codes: HashMap<String, String>,
    /// `/api/prefill-client-data` answers this status until reset.
    prefill_status: Option<u16>,
    /// Codes exchanged (`/api/token` with `grant_type=authorization_code`), valid or not.
    exchanges: u64,
}

/// A small GoPay: rotating refresh tokens (a used one is dead, its reuse counted), access
/// tokens, scripted identification states, PDFs, and scripted token answers.
pub struct MemoryGoPay {
    latency: StdDuration,
    /// The client id it accepts.
    pub client_id: String,
    /// The client secret it accepts.
    pub client_secret: String,
    inner: Mutex<GoPayMemory>,
}

/// Tokens handed out for one consent.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// The profile.
    pub profile: ClientProfileId,
    /// The access token.
    pub access_token: Secret,
    /// The refresh token.
    pub refresh_token: Secret,
}

impl Default for MemoryGoPay {
    fn default() -> Self {
        Self::with_latency(StdDuration::ZERO)
    }
}

fn answer(status: u16, body: serde_json::Value) -> HttpAnswer {
    HttpAnswer {
        status,
        body: body.to_string().into_bytes(),
        content_type: Some("application/json".into()),
    }
}

fn oauth_error(code: &str) -> HttpAnswer {
    answer(403, json!({"error": code, "error_description": "refused"}))
}

impl MemoryGoPay {
    /// A GoPay whose every call takes `latency`.
    pub fn with_latency(latency: StdDuration) -> Self {
        Self {
            latency,
            client_id: "777777777777".into(),
            client_secret: "memory-secret".into(),
            inner: Mutex::default(),
        }
    }

    /// A customer consented: a profile (state PENDING) and its first tokens.
    pub fn consent(&self, profile: &str) -> IssuedTokens {
        let mut m = self.inner.lock().unwrap();
        m.profiles
            .entry(profile.to_string())
            .or_insert(GoPayProfile {
                state: "PENDING".into(),
                ..GoPayProfile::default()
            });
        let (access, refresh) = Self::mint(&mut m, profile);
        IssuedTokens {
            profile: ClientProfileId::new(profile).expect("test profile id"),
            access_token: Secret::new(access),
            refresh_token: Secret::new(refresh),
        }
    }

    fn mint(m: &mut GoPayMemory, profile: &str) -> (String, String) {
        m.serial += 1;
        let access = format!("at-{profile}-{}", m.serial);
        let refresh = format!("rt-{profile}-{}", m.serial);
        m.access.insert(access.clone(), profile.to_string());
        m.refresh
            .insert(refresh.clone(), (profile.to_string(), true));
        (access, refresh)
    }

    /// A customer consents on GoPay's page: the authorization code for `profile` (PENDING).
    pub fn issue_code(&self, profile: &str) -> String {
        let mut m = self.inner.lock().unwrap();
        m.profiles
            .entry(profile.to_string())
            .or_insert(GoPayProfile {
                state: "PENDING".into(),
                ..GoPayProfile::default()
            });
        m.serial += 1;
        let code = format!("code-{profile}-{}", m.serial);
        m.codes.insert(code.clone(), profile.to_string());
        code
    }

    /// Sets a profile's identification state and reasons.
    pub fn set_state(&self, profile: &str, state: &str, reasons: &[&str]) {
        let mut m = self.inner.lock().unwrap();
        if let Some(p) = m.profiles.get_mut(profile) {
            p.state = state.into();
            p.reasons = reasons.iter().map(|r| r.to_string()).collect();
        }
    }
    /// Status polls of `profile` answer 404 from now on.
    pub fn forget_profile(&self, profile: &str) {
        if let Some(p) = self.inner.lock().unwrap().profiles.get_mut(profile) {
            p.gone = true;
        }
    }
    /// The identified person's `subjectData` this profile answers once it is not PENDING.
    pub fn set_subject(&self, profile: &str, subject: serde_json::Value) {
        if let Some(p) = self.inner.lock().unwrap().profiles.get_mut(profile) {
            p.subject = Some(subject);
        }
    }
    /// Refreshes with `profile`'s tokens answer a bare 403 (no body; the token stays live).
    pub fn refuse_refresh_bare(&self, profile: &str, refuse: bool) {
        if let Some(p) = self.inner.lock().unwrap().profiles.get_mut(profile) {
            p.bare_403 = refuse;
        }
    }
    /// `POST /api/prefill-client-data` answers this status (`None`: normally).
    pub fn fail_prefill(&self, status: Option<u16>) {
        self.inner.lock().unwrap().prefill_status = status;
    }
    /// Code exchanges received (valid or not).
    pub fn exchanges(&self) -> u64 {
        self.inner.lock().unwrap().exchanges
    }
    /// Kills every refresh token of `profile` (as a revoke or an expiry at GoPay would).
    pub fn kill_tokens(&self, profile: &str) {
        for (p, valid) in self.inner.lock().unwrap().refresh.values_mut() {
            if p == profile {
                *valid = false;
            }
        }
    }
    /// The next refresh calls get these answers, in order.
    pub fn script_token(&self, a: ScriptedTokenAnswer) {
        self.inner.lock().unwrap().token_script.push_back(a);
    }
    /// The next revoke calls get these answers (not processed), in order.
    pub fn script_revoke(&self, a: ScriptedTokenAnswer) {
        self.inner.lock().unwrap().revoke_script.push_back(a);
    }
    /// `GET /api/login/app` answers this status (our credentials refused) until reset.
    pub fn fail_app_token(&self, status: Option<u16>) {
        self.inner.lock().unwrap().app_token_status = status;
    }
    /// The content type PDFs are answered with (`None`: `application/pdf`).
    pub fn set_pdf_content_type(&self, ct: Option<&str>) {
        self.inner.lock().unwrap().pdf_content_type = ct.map(str::to_string);
    }
    /// Who each prefill call was made as: `*app*` (app token) or the client's profile id.
    pub fn prefill_callers(&self) -> Vec<String> {
        self.inner.lock().unwrap().prefill_callers.clone()
    }
    /// PDFs answer 403 to client tokens (only the app token is accepted).
    pub fn set_pdf_app_token_only(&self, only: bool) {
        self.inner.lock().unwrap().pdf_app_token_only = only;
    }
    /// Refresh tokens presented after they had been used or killed.
    pub fn reuses(&self) -> u64 {
        self.inner.lock().unwrap().reuses
    }
    /// Successful refreshes (rotations).
    pub fn refreshes(&self) -> u64 {
        self.inner.lock().unwrap().refreshes
    }
    /// Requests received (all endpoints).
    pub fn requests(&self) -> u64 {
        self.inner.lock().unwrap().requests
    }
    /// Refresh tokens revoked through `/api/revoke`.
    pub fn revoked(&self) -> Vec<String> {
        self.inner.lock().unwrap().revoked.clone()
    }
    /// Whether this refresh token would be accepted now.
    pub fn is_live(&self, refresh_token: &str) -> bool {
        self.inner
            .lock()
            .unwrap()
            .refresh
            .get(refresh_token)
            .is_some_and(|(_, v)| *v)
    }
    /// PDF URLs requested (with their query).
    pub fn pdf_urls(&self) -> Vec<String> {
        self.inner.lock().unwrap().pdf_urls.clone()
    }

    async fn pause(&self) {
        self.inner.lock().unwrap().requests += 1;
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    fn bearer_profile(m: &GoPayMemory, authorization: &Secret) -> Option<String> {
        let token = authorization.expose().strip_prefix("Bearer ")?;
        m.access.get(token).cloned()
    }

    fn form_field(body: &FormBody, key: &str) -> Option<String> {
        form_urlencoded::parse(body.expose().as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    fn token(&self, body: &FormBody) -> HttpAnswer {
        let mut m = self.inner.lock().unwrap();
        if Self::form_field(body, "client_secret").as_deref() != Some(&self.client_secret) {
            return oauth_error("invalid_client");
        }
        match Self::form_field(body, "grant_type").as_deref() {
            Some("refresh_token") => {}
            Some("authorization_code") => {
                m.exchanges += 1;
                let code = Self::form_field(body, "code").unwrap_or_default();
                let Some(profile) = m.codes.remove(&code) else {
                    return oauth_error("invalid_grant");
                };
                let (access, refresh) = Self::mint(&mut m, &profile);
                return answer(
                    200,
                    json!({"accessToken": access, "refreshToken": refresh, "clientProfileId": profile}),
                );
            }
            _ => return answer(409, json!({"error": "unsupported_grant_type"})),
        }
        let token = Self::form_field(body, "refresh_token").unwrap_or_default();
        let script = m.token_script.pop_front();
        if let Some(s) = &script {
            if !s.rotate_first {
                let (status, body) = (s.make)("", "", "");
                return HttpAnswer {
                    status,
                    body,
                    content_type: None,
                };
            }
        }
        let owner = m.refresh.get(&token).map(|(p, _)| p.clone());
        if owner
            .and_then(|p| m.profiles.get(&p))
            .is_some_and(|p| p.bare_403)
        {
            return HttpAnswer {
                status: 403,
                body: Vec::new(),
                content_type: None,
            };
        }
        let profile = match m.refresh.get_mut(&token) {
            Some((p, valid)) if *valid => {
                *valid = false;
                p.clone()
            }
            Some(_) => {
                m.reuses += 1;
                return oauth_error("invalid_grant");
            }
            None => return oauth_error("invalid_grant"),
        };
        m.refreshes += 1;
        let (access, refresh) = Self::mint(&mut m, &profile);
        match script {
            Some(s) => {
                let (status, body) = (s.make)(&access, &refresh, &profile);
                HttpAnswer {
                    status,
                    body,
                    content_type: Some("application/json".into()),
                }
            }
            None => answer(
                200,
                json!({"accessToken": access, "refreshToken": refresh, "clientProfileId": profile.parse::<u64>().map(serde_json::Value::from).unwrap_or(json!(profile))}),
            ),
        }
    }

    fn revoke(&self, body: &FormBody) -> HttpAnswer {
        let mut m = self.inner.lock().unwrap();
        if Self::form_field(body, "client_secret").as_deref() != Some(&self.client_secret) {
            return oauth_error("invalid_client");
        }
        if let Some(s) = m.revoke_script.pop_front() {
            let (status, body) = (s.make)("", "", "");
            return HttpAnswer {
                status,
                body,
                content_type: None,
            };
        }
        let token = Self::form_field(body, "token").unwrap_or_default();
        let profile = match m.refresh.get(&token) {
            Some((p, true)) => p.clone(),
            _ => return oauth_error("invalid_grant"),
        };
        for (p, valid) in m.refresh.values_mut() {
            if *p == profile {
                *valid = false;
            }
        }
        m.revoked.push(token);
        answer(200, json!({}))
    }
}

fn profile_in(url: &str) -> Option<&str> {
    url.split("/api/client-profile/").nth(1)?.split('/').next()
}

#[async_trait]
impl GoPayTransport for MemoryGoPay {
    async fn get(&self, url: &str, authorization: &Secret) -> Result<HttpAnswer, TransportError> {
        self.pause().await;
        let mut m = self.inner.lock().unwrap();
        if url.ends_with("/api/login/app") {
            if let Some(status) = m.app_token_status {
                return Ok(oauth_error_status(status, "invalid_client"));
            }
            m.serial += 1;
            let token = format!("app-{}", m.serial);
            m.access.insert(token.clone(), "*app*".into());
            return Ok(answer(200, json!({ "accessToken": token })));
        }
        let Some(profile) = profile_in(url).map(str::to_string) else {
            return Ok(answer(
                404,
                json!({"errors": [{"error_name": "NOT_FOUND"}]}),
            ));
        };
        let caller = Self::bearer_profile(&m, authorization);
        let is_pdf = url.contains("/identification-pdf");
        let allowed = (caller.as_deref() == Some(profile.as_str())
            && !(is_pdf && m.pdf_app_token_only))
            || (caller.as_deref() == Some("*app*") && is_pdf);
        if !allowed {
            return Ok(answer(
                403,
                json!({"errors": [{"error_name": "UNAUTHORIZED"}]}),
            ));
        }
        let Some(p) = m.profiles.get(&profile) else {
            return Ok(answer(
                404,
                json!({"errors": [{"error_name": "NOT_FOUND"}]}),
            ));
        };
        if p.gone {
            return Ok(answer(
                404,
                json!({"errors": [{"error_name": "NOT_FOUND"}]}),
            ));
        }
        if url.contains("/identification-status") {
            let mut body = json!({
                "clientProfileId": profile.parse::<u64>().map(serde_json::Value::from).unwrap_or(json!(profile)),
                "state": p.state,
                "reasons": p.reasons,
                "dateStarted": "2025-03-10 09:00:00.000",
                "dateLastChange": "2025-03-10 09:05:00.000",
                "subjectType": "PERSON",
            });
            if let (Some(subject), false) = (&p.subject, p.state == "PENDING") {
                body["subjectData"] = subject.clone();
            }
            return Ok(answer(200, body));
        }
        if url.contains("/identification-pdf") {
            let content_type = m
                .pdf_content_type
                .clone()
                .unwrap_or_else(|| "application/pdf".into());
            let state = p.state.clone();
            m.pdf_urls.push(url.to_string());
            let body = format!("%PDF-1.4 {} {} {}", profile, state, m.pdf_urls.len());
            return Ok(HttpAnswer {
                status: 200,
                body: body.into_bytes(),
                content_type: Some(content_type),
            });
        }
        Ok(answer(
            404,
            json!({"errors": [{"error_name": "NOT_FOUND"}]}),
        ))
    }

    async fn post_form(&self, url: &str, body: &FormBody) -> Result<HttpAnswer, TransportError> {
        self.pause().await;
        if url.ends_with("/api/token") {
            Ok(self.token(body))
        } else if url.ends_with("/api/revoke") {
            Ok(self.revoke(body))
        } else {
            Ok(answer(404, json!({})))
        }
    }

    async fn post_json(
        &self,
        _url: &str,
        authorization: &Secret,
        _body: &Personal<Vec<u8>>,
    ) -> Result<HttpAnswer, TransportError> {
        self.pause().await;
        let mut m = self.inner.lock().unwrap();
        let Some(caller) = Self::bearer_profile(&m, authorization) else {
            return Ok(answer(
                403,
                json!({"errors": [{"error_name": "UNAUTHORIZED"}]}),
            ));
        };
        m.prefill_callers.push(caller);
        if let Some(status) = m.prefill_status {
            return Ok(answer(
                status,
                json!({"errors": [{"error_name": "SIMULATED_FAILURE"}]}),
            ));
        }
        Ok(answer(200, json!({"prefillId": "prefill-1"})))
    }
}

fn oauth_error_status(status: u16, code: &str) -> HttpAnswer {
    answer(status, json!({"error": code}))
}

//! Fault injection over the flows' ports (issue 13). Every port a flow talks to is wrapped so
//! that one chosen call — counted across all the flow's ports, in the order the flow makes
//! them — fails with one [`Fault`]. The other calls pass through to the in-memory twins.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kyc_core::intake::{
    EventStore, HistoryEntry, Outcome, Provider, Rejection, StoreError, WritePlan,
};
use kyc_core::kyc_state::ProviderState;
use kyc_core::redact::{Personal, Secret};
use kyc_core::secrets::{CurrentSecret, SecretError, SecretSource, StagedSecret};
use kyc_downstream::{EventPublisher, KycStateChanged, MemoryPublisher, PublishError};
use kyc_gopay::client::{GoPayTransport, HttpAnswer, TransportError};
use kyc_gopay::consent::PendingConsent;
use kyc_gopay::schedule::Lease;
use kyc_gopay::store::{
    ConsentSaved, GoPayStore, NewConsent, PdfSink, ProfileRecord, RawRefreshAnswer, RotationWrite,
    SealedTokens, TokenRescue, VisitResult,
};
use kyc_gopay::tokens::FormBody;
use kyc_gopay::{ClientProfileId, StateRejection};
use kyc_trust_sign::plan::ArchiveObject;
use kyc_trust_sign::processor::{ArchiveSources, ArchiveStore, ArchiveWriteError};
use kyc_trust_sign::{RangeSource, SourceError};
use kyc_xpollens::api::ApiError;
use kyc_xpollens::drain::QueueApi;
use kyc_xpollens::queue::QueueAnswer;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// How the chosen call fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// An error answer; nothing happened (a 5xx, a throttling error).
    Refused,
    /// No answer; nothing happened (connect error, timeout before the request landed).
    Timeout,
    /// The effect landed, the answer was lost (timeout after the write, connection reset).
    Lost,
}

pub const FAULTS: [Fault; 3] = [Fault::Refused, Fault::Timeout, Fault::Lost];

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Refused => "error",
            Fault::Timeout => "timeout",
            Fault::Lost => "answer lost",
        }
    }
}

/// Counts a flow's calls and fails the armed one, once.
#[derive(Default)]
pub struct Injector {
    inner: Mutex<InjectorState>,
}

#[derive(Default)]
struct InjectorState {
    calls: Vec<&'static str>,
    armed: Option<(usize, Fault)>,
    fired: Option<(usize, &'static str, Fault)>,
}

impl Injector {
    pub fn armed(at: Option<(usize, Fault)>) -> Arc<Self> {
        let inj = Self::default();
        inj.inner.lock().unwrap().armed = at;
        Arc::new(inj)
    }

    /// Counts a call of `op`; the fault to apply if this is the armed call.
    pub fn take(&self, op: &'static str) -> Option<Fault> {
        let mut s = self.inner.lock().unwrap();
        let n = s.calls.len();
        s.calls.push(op);
        match s.armed {
            Some((at, fault)) if at == n => {
                s.armed = None;
                s.fired = Some((n, op, fault));
                Some(fault)
            }
            _ => None,
        }
    }

    pub fn calls(&self) -> Vec<&'static str> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn fired(&self) -> Option<(usize, &'static str, Fault)> {
        self.inner.lock().unwrap().fired
    }
}

/// Runs `$call` unless the armed fault says otherwise: `Refused`/`Timeout` skip it, `Lost`
/// runs it and drops its answer. `$err` builds the port's error for the fault.
macro_rules! inject {
    ($inj:expr, $op:expr, $call:expr, $err:expr) => {
        match $inj.take($op) {
            None => $call,
            Some(f @ (Fault::Refused | Fault::Timeout)) => Err($err(f)),
            Some(f @ Fault::Lost) => {
                let _ = $call;
                Err($err(f))
            }
        }
    };
}

fn store_err(f: Fault) -> StoreError {
    StoreError::Unavailable(format!("injected {}", f.name()))
}

// ----- intake -------------------------------------------------------------------------------

pub struct FaultyEvents {
    pub inner: Arc<dyn EventStore>,
    pub inj: Arc<Injector>,
}

#[async_trait]
impl EventStore for FaultyEvents {
    async fn record(&self, plan: &WritePlan) -> Result<Outcome, StoreError> {
        inject!(
            self.inj,
            "events.record",
            self.inner.record(plan).await,
            store_err
        )
    }
    async fn record_rejection(&self, rejection: &Rejection) -> Result<(), StoreError> {
        inject!(
            self.inj,
            "events.record_rejection",
            self.inner.record_rejection(rejection).await,
            store_err
        )
    }
    async fn provider_states(
        &self,
        subject: &str,
    ) -> Result<BTreeMap<Provider, ProviderState>, StoreError> {
        inject!(
            self.inj,
            "events.provider_states",
            self.inner.provider_states(subject).await,
            store_err
        )
    }
    async fn history(&self, subject: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        inject!(
            self.inj,
            "events.history",
            self.inner.history(subject).await,
            store_err
        )
    }
    async fn erased(
        &self,
        guard: &str,
        at: kyc_core::chrono::DateTime<kyc_core::chrono::Utc>,
    ) -> Result<bool, StoreError> {
        inject!(
            self.inj,
            "events.erased",
            self.inner.erased(guard, at).await,
            store_err
        )
    }
}

pub struct FaultySecrets {
    pub inner: Arc<dyn SecretSource>,
    pub inj: Arc<Injector>,
}

#[async_trait]
impl SecretSource for FaultySecrets {
    async fn current(&self, names: &[&str]) -> Result<Vec<CurrentSecret>, SecretError> {
        inject!(
            self.inj,
            "secrets.get",
            self.inner.current(names).await,
            |f: Fault| { SecretError::Unavailable(format!("injected {}", f.name())) }
        )
    }

    async fn staged(&self, name: &str) -> Result<StagedSecret, SecretError> {
        inject!(
            self.inj,
            "secrets.get",
            self.inner.staged(name).await,
            |f: Fault| { SecretError::Unavailable(format!("injected {}", f.name())) }
        )
    }
}

// ----- Xpollens fallback queue ------------------------------------------------------------

pub struct FaultyQueue {
    pub inner: Arc<dyn QueueApi>,
    pub inj: Arc<Injector>,
}

fn api_err(f: Fault) -> ApiError {
    match f {
        Fault::Refused => ApiError::Status { status: 503 },
        _ => ApiError::Transport(kyc_xpollens::api::TransportError(format!(
            "injected {}",
            f.name()
        ))),
    }
}

#[async_trait]
impl QueueApi for FaultyQueue {
    async fn read(&self, limit: u32) -> Result<QueueAnswer, ApiError> {
        inject!(
            self.inj,
            "xpollens.queue.read",
            self.inner.read(limit).await,
            api_err
        )
    }
    async fn remove(&self, limit: u32) -> Result<QueueAnswer, ApiError> {
        inject!(
            self.inj,
            "xpollens.queue.remove",
            self.inner.remove(limit).await,
            api_err
        )
    }
}

// ----- Trust & Sign archives --------------------------------------------------------------

pub struct FaultyArchives<T> {
    pub inner: Arc<T>,
    pub inj: Arc<Injector>,
}

struct FaultySource {
    inner: Box<dyn RangeSource>,
    inj: Arc<Injector>,
}

fn source_err(f: Fault) -> SourceError {
    format!("injected {}", f.name()).into()
}

#[async_trait]
impl RangeSource for FaultySource {
    async fn len(&self) -> Result<u64, SourceError> {
        inject!(self.inj, "s3.head", self.inner.len().await, source_err)
    }
    async fn read_range(&self, start: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        inject!(
            self.inj,
            "s3.get_range",
            self.inner.read_range(start, len).await,
            source_err
        )
    }
}

impl<T: ArchiveSources + 'static> ArchiveSources for FaultyArchives<T> {
    fn open(&self, object: &ArchiveObject) -> Box<dyn RangeSource> {
        Box::new(FaultySource {
            inner: self.inner.open(object),
            inj: self.inj.clone(),
        })
    }
}

fn write_err(f: Fault) -> ArchiveWriteError {
    ArchiveWriteError::Unavailable(format!("injected {}", f.name()))
}

#[async_trait]
impl<T: ArchiveStore + 'static> ArchiveStore for FaultyArchives<T> {
    async fn put_processed(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
    ) -> Result<Option<String>, ArchiveWriteError> {
        inject!(
            self.inj,
            "s3.put_processed",
            self.inner.put_processed(bucket, key, bytes.clone()).await,
            write_err
        )
    }
    async fn discard_processed(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<(), ArchiveWriteError> {
        inject!(
            self.inj,
            "s3.discard_processed",
            self.inner.discard_processed(bucket, key, version).await,
            write_err
        )
    }
    async fn quarantine(
        &self,
        object: &ArchiveObject,
        copy_to: Option<&str>,
        tag: &str,
        reason: &str,
    ) -> Result<bool, ArchiveWriteError> {
        inject!(
            self.inj,
            "s3.quarantine",
            self.inner.quarantine(object, copy_to, tag, reason).await,
            write_err
        )
    }
    fn max_copy_size(&self) -> u64 {
        self.inner.max_copy_size()
    }
}

// ----- GoPay -------------------------------------------------------------------------------

pub struct FaultyGoPayStore {
    pub inner: Arc<dyn GoPayStore>,
    pub inj: Arc<Injector>,
}

#[async_trait]
impl GoPayStore for FaultyGoPayStore {
    async fn put_consent_state(&self, pending: &PendingConsent) -> Result<(), StoreError> {
        inject!(
            self.inj,
            "table.put_consent_state",
            self.inner.put_consent_state(pending).await,
            store_err
        )
    }
    async fn take_consent_state(
        &self,
        state_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<PendingConsent, StateRejection>, StoreError> {
        inject!(
            self.inj,
            "table.take_consent_state",
            self.inner.take_consent_state(state_key, now).await,
            store_err
        )
    }
    async fn save_consent(&self, consent: &NewConsent) -> Result<ConsentSaved, StoreError> {
        inject!(
            self.inj,
            "table.save_consent",
            self.inner.save_consent(consent).await,
            store_err
        )
    }
    async fn due_profiles(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ClientProfileId>, StoreError> {
        inject!(
            self.inj,
            "table.due_profiles",
            self.inner.due_profiles(shard, now, limit).await,
            store_err
        )
    }
    async fn claim(
        &self,
        profile: &ClientProfileId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        inject!(
            self.inj,
            "table.claim",
            self.inner.claim(profile, lease, now).await,
            store_err
        )
    }
    async fn store_rotation(&self, tokens: &SealedTokens) -> Result<RotationWrite, StoreError> {
        inject!(
            self.inj,
            "table.store_rotation",
            self.inner.store_rotation(tokens).await,
            store_err
        )
    }
    async fn finish_visit(
        &self,
        profile: &ClientProfileId,
        owner: &str,
        result: &VisitResult,
    ) -> Result<bool, StoreError> {
        inject!(
            self.inj,
            "table.finish_visit",
            self.inner.finish_visit(profile, owner, result).await,
            store_err
        )
    }
    async fn mark_needs_consent(
        &self,
        profile: &ClientProfileId,
        generation: u64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        inject!(
            self.inj,
            "table.mark_needs_consent",
            self.inner
                .mark_needs_consent(profile, generation, now)
                .await,
            store_err
        )
    }
    async fn mark_unknown_at_gopay(
        &self,
        profile: &ClientProfileId,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        inject!(
            self.inj,
            "table.mark_unknown_at_gopay",
            self.inner.mark_unknown_at_gopay(profile, owner, now).await,
            store_err
        )
    }
    async fn event_recorded(
        &self,
        profile: &ClientProfileId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        inject!(
            self.inj,
            "table.event_recorded",
            self.inner.event_recorded(profile, now).await,
            store_err
        )
    }
    async fn record_dead_token_evidence(
        &self,
        profile: &ClientProfileId,
        evidence: &kyc_gopay::store::DeadTokenEvidence,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        inject!(
            self.inj,
            "table.record_dead_token_evidence",
            self.inner
                .record_dead_token_evidence(profile, evidence, now)
                .await,
            store_err
        )
    }
    async fn reactivate(
        &self,
        profile: &ClientProfileId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        inject!(
            self.inj,
            "table.reactivate",
            self.inner.reactivate(profile, now).await,
            store_err
        )
    }
    async fn take_lease(
        &self,
        profile: &ClientProfileId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        inject!(
            self.inj,
            "table.take_lease",
            self.inner.take_lease(profile, lease, now).await,
            store_err
        )
    }
    async fn release_lease(
        &self,
        profile: &ClientProfileId,
        owner: &str,
    ) -> Result<(), StoreError> {
        inject!(
            self.inj,
            "table.release_lease",
            self.inner.release_lease(profile, owner).await,
            store_err
        )
    }
    async fn mark_revoked(
        &self,
        profile: &ClientProfileId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        inject!(
            self.inj,
            "table.mark_revoked",
            self.inner.mark_revoked(profile, now).await,
            store_err
        )
    }
    async fn profile(
        &self,
        profile: &ClientProfileId,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        inject!(
            self.inj,
            "table.profile",
            self.inner.profile(profile).await,
            store_err
        )
    }
    async fn profile_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        inject!(
            self.inj,
            "table.profile_of_customer",
            self.inner.profile_of_customer(customer_id).await,
            store_err
        )
    }
}

pub struct FaultyRescue {
    pub inner: Arc<dyn TokenRescue>,
    pub inj: Arc<Injector>,
}

#[async_trait]
impl TokenRescue for FaultyRescue {
    async fn save(&self, tokens: &SealedTokens) -> Result<(), StoreError> {
        inject!(
            self.inj,
            "rescue.save",
            self.inner.save(tokens).await,
            store_err
        )
    }
    async fn list(&self) -> Result<Vec<SealedTokens>, StoreError> {
        inject!(self.inj, "rescue.list", self.inner.list().await, store_err)
    }
    async fn remove(&self, tokens: &SealedTokens) -> Result<(), StoreError> {
        inject!(
            self.inj,
            "rescue.remove",
            self.inner.remove(tokens).await,
            store_err
        )
    }
    async fn save_raw(&self, answer: &RawRefreshAnswer) -> Result<(), StoreError> {
        inject!(
            self.inj,
            "rescue.save_raw",
            self.inner.save_raw(answer).await,
            store_err
        )
    }
    async fn list_raw(&self) -> Result<Vec<RawRefreshAnswer>, StoreError> {
        inject!(
            self.inj,
            "rescue.list_raw",
            self.inner.list_raw().await,
            store_err
        )
    }
    async fn remove_raw(&self, answer: &RawRefreshAnswer) -> Result<(), StoreError> {
        inject!(
            self.inj,
            "rescue.remove_raw",
            self.inner.remove_raw(answer).await,
            store_err
        )
    }
}

pub struct FaultyPdfs {
    pub inner: Arc<dyn PdfSink>,
    pub inj: Arc<Injector>,
}

#[async_trait]
impl PdfSink for FaultyPdfs {
    async fn put_pdf(&self, key: &str, pdf: &[u8]) -> Result<(), StoreError> {
        inject!(
            self.inj,
            "s3.put_pdf",
            self.inner.put_pdf(key, pdf).await,
            store_err
        )
    }
}

/// GoPay's two hosts. `Refused` is a 500 answer (nothing done), `Timeout` no answer (nothing
/// done), `Lost` GoPay did it (a refresh rotated the token) and the answer never came back.
pub struct FaultyGoPay {
    pub inner: Arc<dyn GoPayTransport>,
    pub inj: Arc<Injector>,
}

/// The GoPay operation a request is, for the matrix's labels.
pub fn gopay_op(url: &str, form: Option<&str>) -> &'static str {
    if url.ends_with("/api/token") {
        match form {
            Some(f) if f.contains("grant_type=refresh_token") => "gopay.token(refresh)",
            _ => "gopay.token(code)",
        }
    } else if url.ends_with("/api/revoke") {
        "gopay.revoke"
    } else if url.ends_with("/api/login/app") {
        "gopay.app_token"
    } else if url.contains("/identification-status") {
        "gopay.identification_status"
    } else if url.contains("/identification-pdf") {
        "gopay.identification_pdf"
    } else if url.contains("prefill") {
        "gopay.prefill"
    } else {
        "gopay.other"
    }
}

impl FaultyGoPay {
    fn fail(f: Fault) -> Result<HttpAnswer, TransportError> {
        match f {
            Fault::Refused => Ok(HttpAnswer {
                status: 500,
                body: b"{}".to_vec(),
                content_type: Some("application/json".into()),
            }),
            _ => Err(TransportError(format!("injected {}", f.name()))),
        }
    }
}

#[async_trait]
impl GoPayTransport for FaultyGoPay {
    async fn get(&self, url: &str, authorization: &Secret) -> Result<HttpAnswer, TransportError> {
        match self.inj.take(gopay_op(url, None)) {
            None => self.inner.get(url, authorization).await,
            Some(Fault::Lost) => {
                let _ = self.inner.get(url, authorization).await;
                Self::fail(Fault::Lost)
            }
            Some(f) => Self::fail(f),
        }
    }
    async fn post_form(&self, url: &str, body: &FormBody) -> Result<HttpAnswer, TransportError> {
        match self.inj.take(gopay_op(url, Some(body.expose()))) {
            None => self.inner.post_form(url, body).await,
            Some(Fault::Lost) => {
                let _ = self.inner.post_form(url, body).await;
                Self::fail(Fault::Lost)
            }
            Some(f) => Self::fail(f),
        }
    }
    async fn post_json(
        &self,
        url: &str,
        authorization: &Secret,
        body: &Personal<Vec<u8>>,
    ) -> Result<HttpAnswer, TransportError> {
        match self.inj.take(gopay_op(url, None)) {
            None => self.inner.post_json(url, authorization, body).await,
            Some(Fault::Lost) => {
                let _ = self.inner.post_json(url, authorization, body).await;
                Self::fail(Fault::Lost)
            }
            Some(f) => Self::fail(f),
        }
    }
}

// ----- downstream publisher ---------------------------------------------------------------

/// `PutEvents`: `Refused`/`Timeout` fail every entry of the call, `Lost` publishes them and
/// reports them failed.
pub struct FaultyPublisher {
    pub inner: Arc<MemoryPublisher>,
    pub inj: Arc<Injector>,
}

#[async_trait]
impl EventPublisher for FaultyPublisher {
    async fn publish(&self, events: &[KycStateChanged]) -> Vec<Result<(), PublishError>> {
        let failed = |f: Fault| {
            events
                .iter()
                .map(|_| Err(PublishError(format!("injected {}", f.name()))))
                .collect()
        };
        match self.inj.take("eventbridge.put_events") {
            None => self.inner.publish(events).await,
            Some(Fault::Lost) => {
                let _ = self.inner.publish(events).await;
                failed(Fault::Lost)
            }
            Some(f) => failed(f),
        }
    }
}

// ----- the matrix ---------------------------------------------------------------------------

/// One cell: the flow run with call `index` failing with `fault`, then retried as AWS would.
#[derive(Debug, Clone)]
pub struct Cell {
    pub index: usize,
    pub op: &'static str,
    pub fault: Fault,
    /// `Err(why)` when an invariant broke.
    pub result: Result<CellNote, String>,
}

/// How a passing cell passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellNote {
    /// Same final state as the fault-free run, every invariant held.
    Converged,
    /// A loss the provider's protocol makes unavoidable, handled as documented (checked).
    ProtocolLoss(&'static str),
}

/// What a flow's run left behind: compared with the fault-free run's.
pub struct RunOutcome {
    /// The comparable projection of the final state.
    pub projection: serde_json::Value,
    /// Invariant breaches found inside the run (retries exhausted, a token used twice...).
    pub breaches: Vec<String>,
    /// Set by a flow that recognised a provider-protocol loss and checked its handling.
    pub protocol_loss: Option<&'static str>,
}

pub struct FlowMatrix {
    pub flow: &'static str,
    pub calls: Vec<&'static str>,
    pub cells: Vec<Cell>,
}

impl FlowMatrix {
    pub fn passing(&self) -> usize {
        self.cells.iter().filter(|c| c.result.is_ok()).count()
    }
    pub fn protocol_losses(&self) -> usize {
        self.cells
            .iter()
            .filter(|c| matches!(c.result, Ok(CellNote::ProtocolLoss(_))))
            .count()
    }
}

/// Runs the fault-free flow, then one cell per (call, fault) of that run.
pub async fn matrix<F, Fut>(flow: &'static str, run: F) -> FlowMatrix
where
    F: Fn(Arc<Injector>) -> Fut,
    Fut: std::future::Future<Output = RunOutcome>,
{
    let clean = Injector::armed(None);
    let baseline = run(clean.clone()).await;
    assert!(
        baseline.breaches.is_empty(),
        "{flow}: the fault-free run breaks an invariant: {:?}",
        baseline.breaches
    );
    let calls = clean.calls();
    let mut cells = Vec::new();
    for (index, op) in calls.iter().enumerate() {
        for fault in FAULTS {
            let inj = Injector::armed(Some((index, fault)));
            let outcome = run(inj.clone()).await;
            let result = match inj.fired() {
                None => Err(format!("call {index} ({op}) was never made")),
                Some((_, fired_op, _)) if fired_op != *op => Err(format!(
                    "call {index} was {fired_op}, not {op}: the flow is not deterministic"
                )),
                Some(_) if !outcome.breaches.is_empty() => Err(outcome.breaches.join("; ")),
                Some(_) => match outcome.protocol_loss {
                    Some(why) => Ok(CellNote::ProtocolLoss(why)),
                    None if outcome.projection == baseline.projection => Ok(CellNote::Converged),
                    None => Err(format!(
                        "final state differs from the fault-free run:\n  expected {}\n  got      {}",
                        baseline.projection, outcome.projection
                    )),
                },
            };
            cells.push(Cell {
                index,
                op,
                fault,
                result,
            });
        }
    }
    FlowMatrix { flow, calls, cells }
}

/// The matrix as a Markdown table (flow, calls, cells, passing) and the per-operation detail.
pub fn render(flows: &[FlowMatrix]) -> String {
    let mut out = String::from(
        "| flow | calls in the fault-free run | cells (call × fault) | passing | of which protocol losses (checked) |\n|---|---|---|---|---|\n",
    );
    for f in flows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            f.flow,
            f.calls.len(),
            f.cells.len(),
            f.passing(),
            f.protocol_losses()
        ));
    }
    out.push_str("\nCalls per flow (operation × count):\n\n");
    for f in flows {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &f.calls {
            *counts.entry(c).or_default() += 1;
        }
        let list: Vec<String> = counts.iter().map(|(op, n)| format!("{op} ×{n}")).collect();
        out.push_str(&format!("- {}: {}\n", f.flow, list.join(", ")));
    }
    let failing: Vec<String> = flows
        .iter()
        .flat_map(|f| {
            f.cells.iter().filter_map(move |c| {
                c.result.as_ref().err().map(|why| {
                    format!(
                        "- {} call {} ({}) {}: {why}",
                        f.flow,
                        c.index,
                        c.op,
                        c.fault.name()
                    )
                })
            })
        })
        .collect();
    let losses: Vec<String> = flows
        .iter()
        .flat_map(|f| {
            f.cells.iter().filter_map(move |c| match &c.result {
                Ok(CellNote::ProtocolLoss(why)) => Some(format!(
                    "- {} call {} ({}) {}: {why}",
                    f.flow,
                    c.index,
                    c.op,
                    c.fault.name()
                )),
                _ => None,
            })
        })
        .collect();
    if !losses.is_empty() {
        out.push_str("\nProtocol losses (unavoidable; handling checked):\n\n");
        out.push_str(&losses.join("\n"));
        out.push('\n');
    }
    if !failing.is_empty() {
        out.push_str("\nFAILING cells:\n\n");
        out.push_str(&failing.join("\n"));
        out.push('\n');
    }
    out
}

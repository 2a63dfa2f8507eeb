//! Unit tests of the sync engine on the in-memory twins (`crate::memory`): no moto, no HTTP.

use std::collections::HashMap;
use std::sync::atomic::AtomicU32;

use async_trait::async_trait;

use super::*;
use crate::consent::{CompletionMode, ConsentState, PendingConsent};
use crate::consent_endpoint::{ConsentEndpoint, Request};
use crate::memory::{
    MemoryGoPay, MemoryGoPayStore, MemoryPdfSink, MemoryTokenRescue, ScriptedTokenAnswer,
};
use crate::plan::{CONSENT_STREAM, IDENTIFICATION_STREAM};
use crate::store::ProfileStatus;
use kyc_core::crypto::PayloadKey;
use kyc_core::intake::{EventStore, MemoryStore, Outcome, Provider, StoreError, WritePlan};
use kyc_core::kyc_state::{ProviderState, Stream};
use kyc_core::secrets::StaticSecrets;

fn keyring() -> Keyring {
    Keyring::new(PayloadKey::new("k", [9u8; 32]).unwrap(), vec![])
}

/// An event store that fails the next `fail` writes (an outage of the history table).
#[derive(Default)]
pub(crate) struct FlakyEvents {
    pub(crate) inner: MemoryStore,
    pub(crate) fail: AtomicU32,
    /// Counts down the writes; the one that reaches 1 lands and answers an error.
    pub(crate) lose_next_answer: AtomicU32,
    /// Written right after the next erasure check answers (`kyc erase` landing just then).
    pub(crate) erase_after_next_check: std::sync::Mutex<Option<kyc_core::erasure::Tombstone>>,
}

#[async_trait]
impl EventStore for FlakyEvents {
    async fn record(&self, plan: &WritePlan) -> Result<Outcome, StoreError> {
        if self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::Unavailable("injected".into()));
        }
        let lose = self
            .lose_next_answer
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            == Ok(1);
        let outcome = self.inner.record(plan).await;
        if lose {
            return Err(StoreError::Unavailable("answer lost".into()));
        }
        outcome
    }
    async fn record_rejection(
        &self,
        rejection: &kyc_core::intake::Rejection,
    ) -> Result<(), StoreError> {
        self.inner.record_rejection(rejection).await
    }
    async fn provider_states(
        &self,
        subject: &str,
    ) -> Result<std::collections::BTreeMap<Provider, ProviderState>, StoreError> {
        self.inner.provider_states(subject).await
    }
    async fn history(
        &self,
        subject: &str,
    ) -> Result<Vec<kyc_core::intake::HistoryEntry>, StoreError> {
        self.inner.history(subject).await
    }
    async fn erased(
        &self,
        guard: &str,
        at: kyc_core::chrono::DateTime<kyc_core::chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let answer = self.inner.erased(guard, at).await;
        if let Some(t) = self.erase_after_next_check.lock().unwrap().take() {
            self.inner.put_tombstone(&t);
        }
        answer
    }
}

pub(crate) struct Harness {
    pub(crate) store: Arc<MemoryGoPayStore>,
    pub(crate) rescue: Arc<MemoryTokenRescue>,
    pub(crate) pdfs: Arc<MemoryPdfSink>,
    pub(crate) gopay: Arc<MemoryGoPay>,
    pub(crate) events: Arc<FlakyEvents>,
    pub(crate) keys: Keyring,
    pub(crate) now: Arc<Mutex<DateTime<Utc>>>,
    pub(crate) shards: u32,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_shards(4)
    }

    pub(crate) fn with_shards(shards: u32) -> Self {
        Self {
            store: Arc::new(MemoryGoPayStore::new(shards)),
            rescue: Arc::new(MemoryTokenRescue::default()),
            pdfs: Arc::new(MemoryPdfSink::default()),
            gopay: Arc::new(MemoryGoPay::default()),
            events: Arc::new(FlakyEvents::default()),
            keys: keyring(),
            now: Arc::new(Mutex::new(
                DateTime::parse_from_rfc3339("2025-03-10T08:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
            )),
            shards,
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    pub(crate) fn advance(&self, by: Duration) {
        *self.now.lock().unwrap() += by;
    }

    pub(crate) fn clock(&self) -> Clock {
        let now = self.now.clone();
        Arc::new(move || *now.lock().unwrap())
    }

    /// The consent endpoint over the twins, completing in `completion` mode (redirect URI: the
    /// bank's front end, or our callback).
    pub(crate) fn endpoint(&self, completion: CompletionMode) -> ConsentEndpoint {
        ConsentEndpoint {
            store: self.store.clone(),
            rescue: self.rescue.clone(),
            events: self.events.clone(),
            transport: self.gopay.clone(),
            hosts: GoPayHosts::beta(),
            credentials: self.credentials(),
            keys: self.key_cache(),
            redirect_uri: match completion {
                CompletionMode::BankSession => "https://app.example/gopay/return".into(),
                CompletionMode::DirectCallback => "https://api.example/gopay/callback".into(),
            },
            completion,
            state_ttl: crate::consent::DEFAULT_STATE_TTL,
            success_url: "https://app.example/ok".into(),
            failure_url: "https://app.example/failed".into(),
            clock: self.clock(),
            counters: Default::default(),
        }
    }

    pub(crate) fn source() -> Arc<StaticSecrets> {
        Arc::new(StaticSecrets(HashMap::new()))
    }

    pub(crate) fn credentials(&self) -> Cached<ClientCredentials> {
        Cached::new(Self::source(), "c", StdDuration::from_secs(300), |_| {
            Err("unused".to_string())
        })
        .preloaded(ClientCredentials::new(
            self.gopay.client_id.clone(),
            Secret::new(self.gopay.client_secret.clone()),
        ))
    }

    /// This harness's keyring gains a naming key (what `kyc erase` needs): returned.
    pub(crate) fn with_naming_key(&mut self) -> kyc_core::crypto::NamingKey {
        let naming = kyc_core::crypto::NamingKey::new("n1", [5; 32]).unwrap();
        self.keys = keyring().with_naming_key(naming.clone());
        naming
    }

    /// The GoPay tombstone `kyc erase` writes first for `customer`, dropping for 60 days.
    pub(crate) fn erase(
        &self,
        naming: &kyc_core::crypto::NamingKey,
        customer: &str,
    ) -> kyc_core::erasure::Tombstone {
        kyc_core::erasure::Tombstone {
            provider: Provider::Gopay,
            providers: vec![Provider::Gopay],
            partition: kyc_core::erasure::tombstone_pk(Provider::Gopay, naming, customer),
            erased_at: self.now(),
            drop_until: self.now() + Duration::days(60),
            reason: "gdprArticle17".into(),
            event_digests: vec![],
            events_erased: 0,
        }
    }

    pub(crate) fn key_cache(&self) -> Cached<Keyring> {
        Cached::new(Self::source(), "k", StdDuration::from_secs(300), |_| {
            Err("unused".to_string())
        })
        .preloaded(self.keys.clone())
    }

    pub(crate) fn deps(&self) -> SyncDeps {
        SyncDeps {
            store: self.store.clone(),
            events: self.events.clone(),
            rescue: self.rescue.clone(),
            pdfs: self.pdfs.clone(),
            transport: self.gopay.clone(),
            hosts: GoPayHosts::beta(),
            credentials: self.credentials(),
            keys: self.key_cache(),
            clock: self.clock(),
        }
    }

    pub(crate) fn settings(&self, owner: &str) -> SyncSettings {
        let mut s = SyncSettings::new(owner);
        s.concurrency = 1;
        s.shards = self.shards;
        s
    }

    /// A consented profile, due now; `fresh_access`: its access token is still valid.
    pub(crate) fn consented(
        &self,
        customer: &str,
        profile: &str,
        fresh_access: bool,
    ) -> ClientProfileId {
        let issued = self.gopay.consent(profile);
        let id = issued.profile.clone();
        let generation = 1;
        let now = self.now();
        self.store.insert(ProfileRecord {
            client_profile_id: id.clone(),
            customer_id: customer.into(),
            status: ProfileStatus::Active,
            token_gen: generation,
            sealed_refresh: Some(self.keys.seal_secret(
                &sealed_refresh_aad(&id, generation, customer),
                &issued.refresh_token,
            )),
            sealed_access: Some(self.keys.seal_secret(
                &sealed_access_aad(&id, generation, customer),
                &issued.access_token,
            )),
            access_expires_at: Some(if fresh_access {
                now + Duration::minutes(60)
            } else {
                now - Duration::minutes(1)
            }),
            next_due_at: Some(now),
            consecutive_failures: 0,
            last_snapshot: None,
            pdf_key: None,
            lease: None,
            updated_at: Some(now),
            event_pending: false,
            missing_polls: 0,
            sealed_identity: None,
            dead_token_evidence: None,
        });
        id
    }

    pub(crate) async fn run(&self, owner: &str) -> SyncReport {
        self.run_with(self.settings(owner)).await
    }

    pub(crate) async fn run_with(&self, settings: SyncSettings) -> SyncReport {
        let deadline = self.now() + Duration::minutes(15);
        run(self.deps(), settings, deadline).await.expect("run")
    }

    pub(crate) fn profile(&self, id: &ClientProfileId) -> ProfileRecord {
        self.store.peek(id).expect("profile")
    }

    /// The refresh token the table holds for a profile, opened.
    pub(crate) fn stored_refresh(&self, id: &ClientProfileId) -> String {
        let p = self.profile(id);
        let bytes = self
            .keys
            .open(
                &sealed_refresh_aad(id, p.token_gen, &p.customer_id),
                p.sealed_refresh.as_ref().unwrap(),
            )
            .unwrap();
        String::from_utf8(bytes).unwrap()
    }

    pub(crate) async fn consent_status(&self, customer: &str) -> Option<String> {
        self.events
            .provider_states(customer)
            .await
            .unwrap()
            .get(&Provider::Gopay)
            .and_then(|s| s.status(Stream::named(CONSENT_STREAM).unwrap()))
            .map(str::to_string)
    }
}

// ----- never mark needsConsent by mistake ----------------------------------------------------

#[tokio::test]
async fn a_bare_or_html_403_never_condemns_and_is_retried_with_backoff() {
    let h = Harness::new();
    let a = h.consented("c-a", "1001", false);
    let b = h.consented("c-b", "1002", false);
    let c = h.consented("c-c", "1003", false);
    h.gopay.script_token(ScriptedTokenAnswer::plain(403, ""));
    h.gopay.script_token(ScriptedTokenAnswer::plain(
        403,
        "<html><body><h1>403 Forbidden</h1>Request blocked.</body></html>",
    ));
    h.gopay.script_token(ScriptedTokenAnswer::plain(
        401,
        r#"{"errors":[{"error_code":401,"error_name":"UNAUTHORIZED"}]}"#,
    ));
    let r = h.run("run-1").await;
    assert_eq!(r.needs_consent, 0, "{r:?}");
    assert_eq!(r.unrecognized_token_answers, 3, "{r:?}");
    assert_eq!(r.failures, 3);
    for id in [&a, &b, &c] {
        let p = h.profile(id);
        assert_eq!(p.status, ProfileStatus::Active);
        assert_eq!(p.consecutive_failures, 1);
        assert!(p.next_due_at.unwrap() > h.now() - Duration::seconds(1));
        assert!(p.lease.is_none());
        // The token is untouched and still live at GoPay.
        assert!(h.gopay.is_live(&h.stored_refresh(id)));
    }
    // Once GoPay answers normally again, every profile refreshes fine.
    h.advance(Duration::minutes(2));
    let r = h.run("run-2").await;
    assert_eq!((r.refreshed, r.needs_consent, r.polled), (3, 0, 3), "{r:?}");
    assert_eq!(h.gopay.reuses(), 0);
}

#[tokio::test]
async fn invalid_grant_condemns_only_once_the_run_has_proven_our_credentials() {
    let h = Harness::new();
    let id = h.consented("c-1", "2001", false);
    h.gopay.kill_tokens("2001");
    h.gopay.fail_app_token(Some(403));
    let r = h.run("run-1").await;
    assert!(!r.credentials_proven);
    assert_eq!((r.needs_consent, r.withheld_condemnations), (0, 1), "{r:?}");
    assert_eq!(h.profile(&id).status, ProfileStatus::Active);
    assert_eq!(h.consent_status("c-1").await, None);

    // Credentials work again: the same rejection now condemns the token, loudly.
    h.gopay.fail_app_token(None);
    h.advance(Duration::hours(1));
    let r = h.run("run-2").await;
    assert!(r.credentials_proven);
    assert_eq!(r.needs_consent, 1, "{r:?}");
    assert_eq!(h.profile(&id).status, ProfileStatus::NeedsConsent);
    assert_eq!(
        h.consent_status("c-1").await.as_deref(),
        Some("NEEDS_CONSENT")
    );
    let emf: serde_json::Value = serde_json::from_str(&emf_line(&r, 0)).unwrap();
    assert_eq!(emf["GoPayNeedsConsent"], 1);
}

#[tokio::test]
async fn the_circuit_breaker_stops_marking_after_a_few_rejections_in_a_row() {
    let h = Harness::new();
    let ids: Vec<_> = (0..7)
        .map(|i| h.consented(&format!("c-{i}"), &format!("300{i}"), false))
        .collect();
    for i in 0..7 {
        h.gopay.kill_tokens(&format!("300{i}"));
    }
    let mut settings = h.settings("run-1");
    settings.breaker_threshold = 3;
    let r = h.run_with(settings).await;
    assert_eq!(r.needs_consent, 3, "{r:?}");
    assert!(r.breaker_tripped);
    assert_eq!(r.withheld_condemnations, 4);
    let marked = ids
        .iter()
        .filter(|id| h.profile(id).status == ProfileStatus::NeedsConsent)
        .count();
    assert_eq!(marked, 3);
    // The rest is untouched: active, same token generation, no lease, no failure counted.
    for id in ids
        .iter()
        .filter(|id| h.profile(id).status == ProfileStatus::Active)
    {
        let p = h.profile(id);
        assert_eq!((p.token_gen, p.consecutive_failures), (1, 0));
        assert!(p.lease.is_none());
    }
    let emf: serde_json::Value = serde_json::from_str(&emf_line(&r, 1_700_000_000_000)).unwrap();
    assert_eq!(emf["GoPayBreakerTripped"], 1);
    assert_eq!(emf["GoPayWithheldCondemnations"], 4);
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "kyc-hooks"
    );
}

#[tokio::test]
async fn a_successful_refresh_resets_the_breaker_count() {
    // One shard: profiles are visited in id order.
    let h = Harness::with_shards(1);
    // dead, live, dead, live, dead, dead: never more than 2 rejections in a row.
    let pattern = [false, true, false, true, false, false];
    for (i, live) in pattern.iter().enumerate() {
        h.consented(&format!("c-{i}"), &format!("310{i}"), false);
        if !live {
            h.gopay.kill_tokens(&format!("310{i}"));
        }
    }
    let mut settings = h.settings("run-1");
    settings.breaker_threshold = 2;
    let r = h.run_with(settings).await;
    assert_eq!(r.refreshed, 2, "{r:?}");
    assert_eq!((r.needs_consent, r.withheld_condemnations), (4, 0), "{r:?}");
    assert!(!r.breaker_tripped);
}

// ----- never drop a rotated refresh token -------------------------------------------------

#[tokio::test]
async fn a_2xx_refresh_answer_in_an_unexpected_shape_is_still_read_and_stored() {
    let h = Harness::new();
    let id = h.consented("c-1", "4001", false);
    h.gopay.script_token(ScriptedTokenAnswer {
        rotate_first: true,
        make: Box::new(|access, refresh, _| {
            (
                200,
                serde_json::json!({"data": {"access_token": access, "refresh_token": refresh}})
                    .to_string()
                    .into_bytes(),
            )
        }),
    });
    let r = h.run("run-1").await;
    assert_eq!((r.refreshed, r.polled, r.needs_consent), (1, 1, 0), "{r:?}");
    assert_eq!(h.profile(&id).token_gen, 2);
    assert!(h.gopay.is_live(&h.stored_refresh(&id)));
    assert_eq!(h.rescue.held(), (0, 0), "raw copy removed once stored");
}

#[tokio::test]
async fn an_unreadable_2xx_refresh_answer_is_kept_sealed_and_the_profile_is_never_condemned() {
    let h = Harness::new();
    let id = h.consented("c-1", "4101", false);
    h.gopay.script_token(ScriptedTokenAnswer {
        rotate_first: true,
        make: Box::new(|_, refresh, _| (200, format!("OK refresh={refresh}").into_bytes())),
    });
    let r = h.run("run-1").await;
    assert_eq!(r.unreadable_answers, 1, "{r:?}");
    assert_eq!(h.rescue.held(), (0, 1), "the raw answer is kept");
    // Later runs do not refresh with the (now dead) stored token, so never condemn it.
    for run in 2..5 {
        h.advance(Duration::hours(1));
        let r = h.run(&format!("run-{run}")).await;
        assert_eq!((r.needs_consent, r.refreshed), (0, 0), "{r:?}");
        assert_eq!(r.unreadable_answers, 1);
    }
    assert_eq!(h.profile(&id).status, ProfileStatus::Active);
    assert_eq!(h.gopay.reuses(), 0);
}

#[tokio::test]
async fn a_rotation_stored_nowhere_is_recovered_from_the_raw_answer_kept_before_parsing() {
    let h = Harness::new();
    let id = h.consented("c-1", "4201", false);
    // The table and the rescue copy of the parsed tokens both fail (the visit dies).
    h.store.fail("store_rotation", 3);
    h.rescue.fail("save", 3);
    let r = h.run("run-1").await;
    assert_eq!((r.refreshed, r.rescued_tokens), (1, 0), "{r:?}");
    assert_eq!(h.profile(&id).token_gen, 1, "table not written");
    assert_eq!(h.rescue.held(), (0, 1), "raw answer kept before parsing");

    h.advance(Duration::minutes(4));
    let r = h.run("run-2").await;
    assert_eq!(r.recovered_answers, 1, "{r:?}");
    assert_eq!(h.profile(&id).token_gen, 2);
    assert_eq!(h.rescue.held(), (0, 0));
    let live = h.stored_refresh(&id);
    assert!(h.gopay.is_live(&live));
    // And it works: the next refresh rotates it, never a reuse.
    h.advance(Duration::hours(1));
    let r = h.run("run-3").await;
    assert_eq!((r.refreshed, r.needs_consent), (1, 0), "{r:?}");
    assert_eq!(h.gopay.reuses(), 0);
}

#[tokio::test]
async fn no_refresh_starts_unless_the_time_left_covers_it() {
    let h = Harness::new();
    let id = h.consented("c-1", "5001", false);
    // 30 s left: more than the reserve (20 s), less than a refresh's budget (~45 s).
    let deadline = h.now() + Duration::seconds(30);
    let r = run(h.deps(), h.settings("run-1"), deadline).await.unwrap();
    assert_eq!(
        (r.claimed, r.refreshed, r.deferred_refreshes),
        (1, 0, 1),
        "{r:?}"
    );
    assert_eq!(h.gopay.refreshes(), 0);
    let p = h.profile(&id);
    assert_eq!((p.token_gen, p.consecutive_failures), (1, 0));
    assert!(p.lease.is_none() && p.next_due_at.unwrap() <= h.now());
    // A profile whose access token is still valid is polled in the same situation.
    let fresh = h.consented("c-2", "5002", true);
    let r = run(h.deps(), h.settings("run-2"), deadline).await.unwrap();
    assert_eq!(r.polled, 1, "{r:?}");
    assert!(h.profile(&fresh).last_snapshot.is_some());
}

#[tokio::test]
async fn settings_whose_lease_does_not_outlive_a_visit_are_refused() {
    let h = Harness::new();
    let mut s = h.settings("run-1");
    s.lease_duration = Duration::seconds(60);
    let err = run(h.deps(), s, h.now() + Duration::minutes(15))
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Settings(_)), "{err}");
    // The defaults are consistent.
    assert!(SyncSettings::new("x").validate().is_ok());
    assert!(
        SyncSettings::new("x").lease_duration
            > longest_visit(DEFAULT_HTTP_TIMEOUT, DEFAULT_STORE_TIMEOUT, 3)
    );
}

#[tokio::test]
async fn a_needs_consent_event_that_fails_is_recorded_on_the_next_run() {
    let h = Harness::new();
    let id = h.consented("c-1", "6001", false);
    h.gopay.kill_tokens("6001");
    h.events.fail.store(1, Ordering::SeqCst);
    let r = h.run("run-1").await;
    assert_eq!(r.needs_consent, 1, "{r:?}");
    assert_eq!(h.consent_status("c-1").await, None, "event write failed");
    assert!(h.profile(&id).event_pending);

    let r = h.run("run-2").await;
    assert_eq!(r.pending_events_recorded, 1, "{r:?}");
    assert_eq!(
        h.consent_status("c-1").await.as_deref(),
        Some("NEEDS_CONSENT")
    );
    let p = h.profile(&id);
    assert!(!p.event_pending && p.next_due_at.is_none());
    let r = h.run("run-3").await;
    assert_eq!((r.due, r.claimed), (0, 0));
    assert_eq!(h.gopay.refreshes(), 0);
}

#[tokio::test]
async fn a_pdf_event_that_fails_is_recorded_on_a_later_visit() {
    let h = Harness::new();
    let id = h.consented("c-1", "6101", true);
    h.gopay.set_state("6101", "IDENTIFIED", &[]);
    // First visit: the status change is recorded, the PDF upload fails.
    h.pdfs.fail(1);
    let r1 = h.run("run-1").await;
    assert_eq!((r1.changes, r1.pdfs), (1, 0), "{r1:?}");
    assert!(h.profile(&id).pdf_key.is_none());
    // Next visit: upload works, the event write fails: the key is not kept either.
    h.advance(Duration::hours(1));
    h.events.fail.store(1, Ordering::SeqCst);
    let r2 = h.run("run-2").await;
    assert_eq!(r2.pdfs, 0, "{r2:?}");
    assert!(h.profile(&id).pdf_key.is_none());
    h.advance(Duration::hours(1));
    let r3 = h.run("run-3").await;
    assert_eq!(r3.pdfs, 1, "{r3:?}");
    assert!(h.profile(&id).pdf_key.is_some());
    let history = h.events.history("c-1").await.unwrap();
    assert_eq!(
        history
            .iter()
            .filter(|e| e.event_type == "identification-pdf")
            .count(),
        1
    );
}

/// Found by the fault matrix: one failed write of the GRANTED event left the consent stream
/// without it for good (the redirect cannot be replayed, no run records it later).
#[tokio::test(start_paused = true)]
async fn a_failed_consent_granted_write_is_retried_so_the_stream_says_granted() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::DirectCallback);
    let state = ConsentState::generate().unwrap();
    h.store
        .put_consent_state(&PendingConsent::new(&state, "cust-1", h.now()))
        .await
        .unwrap();
    let code = h.gopay.issue_code("7101");
    h.events.fail.store(1, Ordering::SeqCst);
    let resp = endpoint
        .handle(&Request {
            method: "GET".into(),
            path: "/gopay/callback".into(),
            query: format!("code={code}&state={}", state.expose()),
            ..Request::default()
        })
        .await;
    assert_eq!(resp.headers[0].1, "https://app.example/ok");
    assert_eq!(h.consent_status("cust-1").await.as_deref(), Some("GRANTED"));
}

/// cust-1 consents (profile 7001) while the table refuses the write: the consent callback
/// still answers success, the first tokens parked in the rescue place; the table then recovers.
async fn consent_parked_in_the_rescue_place(h: &Harness) {
    let endpoint = h.endpoint(CompletionMode::DirectCallback);
    let state = ConsentState::generate().unwrap();
    h.store
        .put_consent_state(&PendingConsent::new(&state, "cust-1", h.now()))
        .await
        .unwrap();
    let code = h.gopay.issue_code("7001");
    h.store.fail("save_consent", 10);
    let resp = endpoint
        .handle(&Request {
            method: "GET".into(),
            path: "/gopay/callback".into(),
            query: format!("code={code}&state={}", state.expose()),
            ..Default::default()
        })
        .await;
    assert_eq!(resp.status, 302);
    assert_eq!(
        resp.headers[0].1, "https://app.example/ok",
        "the consent is safe"
    );
    assert_eq!(h.rescue.held(), (1, 0));
    h.store.fail("save_consent", 0);
}

#[tokio::test]
async fn the_consent_callback_keeps_the_first_tokens_when_the_table_fails() {
    let h = Harness::new();
    consent_parked_in_the_rescue_place(&h).await;

    // The next sync run creates the profile from the rescue place and polls it.
    let r = h.run("run-1").await;
    assert_eq!((r.recovered_tokens, r.polled), (1, 1), "{r:?}");
    let id = ClientProfileId::new("7001").unwrap();
    let p = h.profile(&id);
    assert_eq!(
        (p.status, p.customer_id.as_str()),
        (ProfileStatus::Active, "cust-1")
    );
    assert!(h.gopay.is_live(&h.stored_refresh(&id)));
    assert_eq!(h.rescue.held(), (0, 0));
}

/// First tokens rescued before `kyc erase` and recovered after it are never stored: the sync
/// revokes them at GoPay and drops the rescue copy.
#[tokio::test]
async fn rescued_first_tokens_of_an_erased_customer_are_revoked_not_stored() {
    let mut h = Harness::new();
    let naming = h.with_naming_key();
    consent_parked_in_the_rescue_place(&h).await;
    // The customer is erased before the next sync run.
    h.events.inner.put_tombstone(&h.erase(&naming, "cust-1"));
    let r = h.run("run-1").await;
    assert_eq!(r.recovered_tokens, 0, "{r:?}");
    let id = ClientProfileId::new("7001").unwrap();
    assert!(
        h.store.profile(&id).await.unwrap().is_none(),
        "nothing stored"
    );
    assert_eq!(h.gopay.revoked().len(), 1, "revoked at GoPay");
    assert_eq!(h.rescue.held(), (0, 0), "the rescue copy is gone");
}

#[tokio::test]
async fn a_re_consent_of_the_same_profile_is_a_compare_and_swap() {
    let h = Harness::new();
    let id = h.consented("cust-1", "7101", true);
    let before = h.profile(&id);
    // A consent write that read an old generation is refused.
    let stale = NewConsent {
        expected_generation: Some(before.token_gen + 5),
        customer_id: "cust-1".into(),
        client_profile_id: id.clone(),
        tokens: SealedTokens {
            client_profile_id: id.as_str().into(),
            generation: 99,
            sealed_refresh: "x".into(),
            sealed_access: "y".into(),
            access_expires_at: h.now(),
            customer_id: Some("cust-1".into()),
            sealed_identity: None,
        },
        sealed_identity: None,
        due_at: h.now(),
        now: h.now(),
    };
    assert_eq!(
        h.store.save_consent(&stale).await.unwrap(),
        ConsentSaved::GenerationMoved
    );
    let fresh_profile = NewConsent {
        expected_generation: None,
        ..stale.clone()
    };
    assert_eq!(
        h.store.save_consent(&fresh_profile).await.unwrap(),
        ConsentSaved::GenerationMoved,
        "a 'first' consent never overwrites an existing profile"
    );
    assert_eq!(h.profile(&id).token_gen, before.token_gen);
}

/// A link is followed only to a profile of its own customer: a forged link (the layout before
/// provider-scoped keys let the Xpollens role write it) can neither show another customer's
/// profile nor get it retired by this customer's next consent.
#[tokio::test]
async fn a_link_to_another_customers_profile_is_never_followed() {
    let h = Harness::new();
    let victim = h.consented("victim", "7201", true);
    h.store.forge_link("attacker", &victim);
    assert_eq!(h.store.profile_of_customer("attacker").await.unwrap(), None);
    assert!(h
        .store
        .profile_of_customer("victim")
        .await
        .unwrap()
        .is_some());

    let endpoint = h.endpoint(CompletionMode::DirectCallback);
    let state = ConsentState::generate().unwrap();
    h.store
        .put_consent_state(&PendingConsent::new(&state, "attacker", h.now()))
        .await
        .unwrap();
    let code = h.gopay.issue_code("7202");
    let resp = endpoint
        .handle(&Request {
            method: "GET".into(),
            path: "/gopay/callback".into(),
            query: format!("code={code}&state={}", state.expose()),
            ..Request::default()
        })
        .await;
    assert_eq!(resp.headers[0].1, "https://app.example/ok");
    let v = h.profile(&victim);
    assert_eq!(
        (v.status, v.customer_id.as_str()),
        (ProfileStatus::Active, "victim"),
        "the victim's profile is neither retired nor taken"
    );
    assert!(h.gopay.is_live(&h.stored_refresh(&victim)));
}

// ----- the engine on its twins ---------------------------------------------------------------

#[tokio::test]
async fn many_runs_with_overlaps_never_use_a_refresh_token_twice() {
    let h = Harness::new();
    let ids: Vec<_> = (0..40)
        .map(|i| h.consented(&format!("c-{i}"), &format!("80{i:02}"), false))
        .collect();
    for round in 0..5 {
        let mut a = h.settings(&format!("a-{round}"));
        let mut b = h.settings(&format!("b-{round}"));
        a.concurrency = 8;
        b.concurrency = 8;
        let deadline = h.now() + Duration::minutes(15);
        let (ra, rb) = tokio::join!(run(h.deps(), a, deadline), run(h.deps(), b, deadline));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.refreshed + rb.refreshed, 40, "round {round}");
        h.advance(Duration::hours(25));
    }
    assert_eq!(h.gopay.reuses(), 0);
    assert_eq!(h.gopay.refreshes(), 200);
    for id in &ids {
        let p = h.profile(id);
        assert_eq!((p.status, p.token_gen), (ProfileStatus::Active, 6));
    }
}

#[tokio::test]
async fn a_404_status_poll_ends_in_unknown_at_gopay_after_a_few_tries() {
    let h = Harness::new();
    let id = h.consented("c-1", "9001", true);
    // Other profiles polled fine in the same runs: the 404s are specific to this one.
    let healthy: Vec<_> = (0..3)
        .map(|i| h.consented(&format!("c-ok-{i}"), &format!("900{}", i + 2), true))
        .collect();
    h.gopay.forget_profile("9001");
    let mut seen = vec![];
    for run in 0..5 {
        let r = h.run(&format!("run-{run}")).await;
        assert!(!r.missing_guard_tripped, "run {run}: {r:?}");
        seen.push(r.unknown_at_gopay);
        h.advance(Duration::hours(7));
    }
    for ok in &healthy {
        assert_eq!(h.profile(ok).status, ProfileStatus::Active);
    }
    assert_eq!(seen.iter().sum::<u64>(), 1, "{seen:?}");
    let p = h.profile(&id);
    assert_eq!(p.status, ProfileStatus::UnknownAtGoPay);
    assert!(p.sealed_refresh.is_some(), "tokens kept for a reactivation");
    assert!(p.next_due_at.is_none(), "off the schedule");
    assert_eq!(
        h.consent_status("c-1").await.as_deref(),
        Some("PROFILE_UNKNOWN")
    );
}

#[tokio::test]
async fn a_re_consent_with_another_profile_retires_the_previous_one() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::DirectCallback);
    let mut refresh_tokens = vec![];
    for profile in ["7301", "7302"] {
        let state = ConsentState::generate().unwrap();
        h.store
            .put_consent_state(&PendingConsent::new(&state, "cust-1", h.now()))
            .await
            .unwrap();
        let code = h.gopay.issue_code(profile);
        let resp = endpoint
            .handle(&Request {
                method: "GET".into(),
                path: "/gopay/callback".into(),
                query: format!("code={code}&state={}", state.expose()),
                ..Default::default()
            })
            .await;
        assert_eq!(resp.headers[0].1, "https://app.example/ok");
        let id = ClientProfileId::new(profile).unwrap();
        refresh_tokens.push(h.stored_refresh(&id));
        h.advance(Duration::minutes(5));
    }
    let old = h.profile(&ClientProfileId::new("7301").unwrap());
    assert_eq!(old.status, ProfileStatus::Revoked);
    assert!(old.sealed_refresh.is_none() && old.next_due_at.is_none());
    assert_eq!(h.gopay.revoked(), vec![refresh_tokens[0].clone()]);
    assert!(h.gopay.is_live(&refresh_tokens[1]));
    let r = h.run("run-1").await;
    assert_eq!(
        (r.due, r.polled),
        (1, 1),
        "only the new profile is polled: {r:?}"
    );
    let current = h
        .store
        .profile_of_customer("cust-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.client_profile_id.as_str(), "7302");
    assert_eq!(h.consent_status("cust-1").await.as_deref(), Some("GRANTED"));
}

#[tokio::test]
async fn a_token_rotated_while_its_profile_was_revoked_is_revoked_at_gopay_too() {
    // A sync run rotated the token while a retire (or revoke) marked the profile revoked with
    // the older one: the run's write failed (generation moved), its token went to the rescue
    // place, and it is live at GoPay.
    let h = Harness::new();
    let id = h.consented("cust-r", "7401", false);
    let rotated = h.gopay.consent("7401");
    let generation = h.profile(&id).token_gen + 1;
    h.rescue
        .save(&SealedTokens {
            client_profile_id: id.as_str().into(),
            generation,
            sealed_refresh: h.keys.seal_secret(
                &sealed_refresh_aad(&id, generation, "cust-r"),
                &rotated.refresh_token,
            ),
            sealed_access: h.keys.seal_secret(
                &sealed_access_aad(&id, generation, "cust-r"),
                &rotated.access_token,
            ),
            access_expires_at: h.now() + Duration::minutes(60),
            customer_id: None,
            sealed_identity: None,
        })
        .await
        .unwrap();
    h.store.mark_revoked(&id, h.now()).await.unwrap();
    assert!(h.gopay.is_live(rotated.refresh_token.expose()));
    h.run("run-1").await;
    assert!(
        !h.gopay.is_live(rotated.refresh_token.expose()),
        "revoked at GoPay, not left live"
    );
    assert!(h.rescue.list().await.unwrap().is_empty());
    assert_eq!(h.profile(&id).status, ProfileStatus::Revoked);
}

// ----- what GoPay sends, read correctly ------------------------------------------------------

#[tokio::test]
async fn a_pdf_answer_that_is_not_a_pdf_is_not_stored_and_is_retried() {
    let h = Harness::new();
    let id = h.consented("c-1", "9101", true);
    h.gopay.set_state("9101", "IDENTIFIED", &[]);
    h.gopay
        .set_pdf_content_type(Some("text/html; charset=utf-8"));
    let r = h.run("run-1").await;
    assert_eq!((r.changes, r.pdfs, r.failures), (1, 0, 0), "{r:?}");
    assert!(h.pdfs.keys().is_empty());
    let p = h.profile(&id);
    assert!(p.pdf_key.is_none());
    assert_eq!(p.consecutive_failures, 1, "retried with backoff");
    h.gopay.set_pdf_content_type(None);
    h.advance(Duration::hours(1));
    let r = h.run("run-2").await;
    assert_eq!(r.pdfs, 1, "{r:?}");
    assert_eq!(h.pdfs.keys().len(), 1);
}

/// Found by the fault matrix (`tests/integration/fault_matrix.rs`): a PDF event written whose
/// answer was lost, or a visit whose result was not stored, made the next visit copy the PDF
/// again and record it as a second `gopayPdf` event.
#[tokio::test]
async fn a_pdf_visit_retried_after_its_event_landed_records_the_pdf_once() {
    for fail in ["finish_visit", "events"] {
        let h = Harness::new();
        let id = h.consented("c-1", "9151", true);
        h.gopay.set_state("9151", "IDENTIFIED", &[]);
        if fail == "finish_visit" {
            // Everything recorded, then the visit's result is not stored.
            h.store.fail("finish_visit", 1);
        } else {
            // The PDF event lands, its answer is lost: the visit counts it as failed.
            h.events.lose_next_answer.store(2, Ordering::SeqCst);
        }
        h.run("run-1").await;
        h.advance(Duration::hours(7));
        h.run("run-2").await;
        let pdf_events = h
            .events
            .history("c-1")
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type == "identification-pdf")
            .count();
        assert_eq!(pdf_events, 1, "{fail}: one PDF event");
        let p = h.profile(&id);
        assert!(p.pdf_key.is_some(), "{fail}");
        assert!(h.pdfs.keys().contains(p.pdf_key.as_ref().unwrap()));
    }
}

#[tokio::test]
async fn a_pdf_refused_to_the_client_token_is_fetched_with_the_app_token() {
    let h = Harness::new();
    let id = h.consented("c-1", "9201", true);
    h.gopay.set_state("9201", "IDENTIFIED", &[]);
    h.gopay.set_pdf_app_token_only(true);
    let r = h.run("run-1").await;
    assert_eq!(r.pdfs, 1, "{r:?}");
    assert!(h.profile(&id).pdf_key.is_some());
    assert_eq!(
        h.gopay.pdf_urls().len(),
        1,
        "only the app-token request got the PDF"
    );
}

#[tokio::test]
async fn a_re_identification_fetches_the_pdf_again() {
    let h = Harness::new();
    let id = h.consented("c-1", "9301", true);
    h.gopay.set_state("9301", "IDENTIFIED", &[]);
    let r = h.run("run-1").await;
    assert_eq!(r.pdfs, 1, "{r:?}");
    let first = h.profile(&id).pdf_key.unwrap();
    // GoPay expires the identification, then the customer identifies again.
    h.gopay
        .set_state("9301", "NOT_IDENTIFIED", &["EXPIRED_IDENTIFICATION"]);
    h.advance(Duration::hours(27));
    let r = h.run("run-2").await;
    assert_eq!((r.changes, r.pdfs), (1, 0), "{r:?}");
    h.gopay.set_state("9301", "IDENTIFIED", &[]);
    h.advance(Duration::hours(27));
    let r = h.run("run-3").await;
    assert_eq!((r.changes, r.pdfs), (1, 1), "{r:?}");
    let second = h.profile(&id).pdf_key.unwrap();
    assert_ne!(first, second);
    assert_eq!(h.pdfs.keys().len(), 2);
    // Settled again: no third copy.
    h.advance(Duration::hours(27));
    let r = h.run("run-4").await;
    assert_eq!((r.changes, r.pdfs), (0, 0), "{r:?}");
}

/// What API Gateway's IAM authorizer attests after checking the SigV4 signature.
pub(crate) fn signed() -> kyc_core::callback_auth::GatewayAttestation {
    kyc_core::callback_auth::GatewayAttestation {
        iam: Some(kyc_core::iam_route::IamCaller {
            user_arn: "arn:aws:sts::123456789012:assumed-role/bank-core/s".into(),
            account_id: "123456789012".into(),
            access_key: "ASIAEXAMPLE".into(),
            caller_id: "AROAEXAMPLE:s".into(),
        }),
        ..Default::default()
    }
}

/// `POST /gopay/consents` reached without the IAM authorizer (a route deployed without
/// AWS_IAM): 403, and nothing is stored, nothing asked of GoPay, no event recorded.
#[tokio::test]
async fn a_consent_start_without_the_iam_attestation_is_refused_and_nothing_happens() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::DirectCallback);
    let mut incomplete = signed();
    incomplete.iam.as_mut().unwrap().access_key.clear();
    for gateway in [Default::default(), incomplete] {
        for method in ["POST", "GET"] {
            let resp = endpoint
                .handle(&Request {
                    method: method.into(),
                    path: "/prod/gopay/consents".into(),
                    body: serde_json::json!({"customerId": "cust-1", "prefill": {"firstName": "Dana"}})
                        .to_string()
                        .into_bytes(),
                    gateway: gateway.clone(),
                    ..Default::default()
                })
                .await;
            assert_eq!(resp.status, 403, "{method}: {}", resp.body);
            assert_eq!(resp.refusal, Some("forbidden"));
            assert!(resp.headers.contains(&("cache-control", "no-store".into())));
        }
    }
    assert_eq!(h.store.calls(), 0, "no consent state stored");
    assert_eq!(h.rescue.calls(), 0);
    assert_eq!(
        h.gopay.requests(),
        0,
        "GoPay not called (no prefill, no token)"
    );
    assert!(h.events.history("cust-1").await.unwrap().is_empty());
}

#[tokio::test]
async fn prefill_uses_the_client_token_when_the_customer_already_has_a_profile() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::DirectCallback);
    h.consented("known", "9401", true);
    h.consented("stale", "9402", false);
    for customer in ["new", "known", "stale"] {
        let resp = endpoint
            .handle(&Request {
                method: "POST".into(),
                path: "/gopay/consents".into(),
                query: String::new(),
                body: serde_json::json!({"customerId": customer, "prefill": {"firstName": "Dana"}})
                    .to_string()
                    .into_bytes(),
                gateway: signed(),
                ..Default::default()
            })
            .await;
        assert_eq!(resp.status, 201, "{customer}: {}", resp.body);
        assert!(resp.body.contains("prefill_id"), "{customer}");
    }
    // First consent and an expired client token: the app token; a live profile: its token.
    assert_eq!(h.gopay.prefill_callers(), ["*app*", "9401", "*app*"]);
}

#[tokio::test]
async fn a_run_reports_how_late_the_most_overdue_profile_was_and_counts_rotations() {
    use kyc_core::metrics::Metric;
    let h = Harness::new();
    h.consented("c-1", "5001", false); // due now
    h.advance(Duration::seconds(30));
    h.consented("c-2", "5002", false); // due 30 s after the first
    h.advance(Duration::seconds(90));
    let r = h.run("run-1").await;
    assert_eq!(r.claimed, 2, "{r:?}");
    assert_eq!(r.max_due_lag_seconds, 120, "{r:?}");
    let m = metrics(&r);
    assert_eq!(m.total(Metric::SyncLagSeconds), 120.0);
    assert_eq!(m.total(Metric::TokensRotated), r.refreshed as f64);
    assert_eq!(r.refreshed, 2);
    assert_eq!(m.total(Metric::TokensRescued), 0.0);
}

#[test]
fn unsafe_sync_settings_are_permanent_and_outages_retryable() {
    use kyc_core::invocation::InvocationError;
    assert!(!InvocationError::from(SyncError::Settings("lease".into())).is_retryable());
    assert!(InvocationError::from(SyncError::Store("down".into())).is_retryable());
    assert!(InvocationError::from(SyncError::Secret("down".into())).is_retryable());
}

// ----- issue 22: neither too quick nor too slow to give up a profile --------------------------

impl Harness {
    /// The stored profile with a declared identity sealed on it.
    fn declare(&self, id: &ClientProfileId, declared: serde_json::Value) {
        let p = self.profile(id);
        let sealed = self.keys.seal(
            &crate::store::declared_identity_aad(id, &p.customer_id),
            &serde_json::to_vec(&declared).unwrap(),
        );
        self.store.insert(ProfileRecord {
            sealed_identity: Some(sealed),
            ..p
        });
    }

    async fn stream(
        &self,
        customer: &str,
        stream: &str,
    ) -> Option<kyc_core::kyc_state::StreamValue> {
        self.events
            .provider_states(customer)
            .await
            .unwrap()
            .get(&Provider::Gopay)
            .and_then(|s| s.stream(&Stream::named(stream).unwrap()).cloned())
    }
}

#[tokio::test]
async fn a_404_for_every_profile_takes_none_out_of_service_and_alerts() {
    let h = Harness::new();
    let ids: Vec<_> = (0..5)
        .map(|i| h.consented(&format!("c-{i}"), &format!("910{i}"), true))
        .collect();
    // A wrong or moved base URL: GoPay's "non-existent service" for every poll.
    for i in 0..5 {
        h.gopay.forget_profile(&format!("910{i}"));
    }
    let mut marked = 0;
    let mut tripped = vec![];
    for run in 0..6 {
        let r = h.run(&format!("run-{run}")).await;
        marked += r.unknown_at_gopay;
        tripped.push(r.missing_guard_tripped);
        if run == 5 {
            let emf: serde_json::Value = serde_json::from_str(&emf_line(&r, 0)).unwrap();
            assert_eq!(emf["GoPayMissingGuardTripped"], 1, "{r:?}");
            assert_eq!(r.status_not_found, 5, "{r:?}");
        }
        h.advance(Duration::hours(7));
    }
    assert_eq!(marked, 0, "{tripped:?}");
    assert!(tripped.iter().all(|t| *t), "{tripped:?}");
    for id in &ids {
        let p = h.profile(id);
        assert_eq!(p.status, ProfileStatus::Active);
        assert!(p.next_due_at.is_some(), "still polled (with backoff)");
    }
    assert_eq!(h.consent_status("c-0").await, None);
}

#[tokio::test]
async fn a_bare_403_on_one_profile_over_three_runs_and_a_day_needs_consent_with_evidence() {
    let h = Harness::new();
    let dead = h.consented("c-dead", "9301", false);
    let others: Vec<_> = (0..2)
        .map(|i| h.consented(&format!("c-{i}"), &format!("930{}", i + 2), false))
        .collect();
    h.gopay.refuse_refresh_bare("9301", true);
    // Three runs within two hours: refused each time, other refreshes fine, too short a span.
    for run in 0..3 {
        let r = h.run(&format!("run-{run}")).await;
        assert!(r.credentials_proven && r.refreshed >= 1, "run {run}: {r:?}");
        assert_eq!(
            (r.bare_refresh_refusals, r.needs_consent),
            (1, 0),
            "run {run}: {r:?}"
        );
        let p = h.profile(&dead);
        assert_eq!(p.status, ProfileStatus::Active, "run {run}");
        assert_eq!(p.dead_token_evidence.as_ref().unwrap().runs, run + 1);
        h.advance(Duration::hours(1));
    }
    // A day after the first refusal: the fourth run condemns it.
    h.advance(Duration::hours(21));
    let r = h.run("run-3").await;
    assert_eq!(r.needs_consent, 1, "{r:?}");
    let p = h.profile(&dead);
    assert_eq!(p.status, ProfileStatus::NeedsConsent);
    assert!(p.sealed_refresh.is_some(), "kept for a reactivation");
    let consent = h.stream("c-dead", CONSENT_STREAM).await.unwrap();
    assert_eq!(consent.status, "NEEDS_CONSENT");
    let evidence = &consent.detail["evidence"];
    assert_eq!(evidence["kind"], "bareRefreshRefusal", "{evidence}");
    assert_eq!(evidence["runs"], 4);
    assert_eq!(evidence["firstAt"], "2025-03-10T08:00:00Z");
    for id in &others {
        assert_eq!(h.profile(id).status, ProfileStatus::Active);
    }
    assert_eq!(h.gopay.reuses(), 0);
}

#[tokio::test]
async fn bare_403s_prove_nothing_without_other_refreshes_succeeding_or_when_many() {
    // Alone: no other refresh to compare with, over three days.
    let h = Harness::new();
    let alone = h.consented("c-alone", "9401", false);
    h.gopay.refuse_refresh_bare("9401", true);
    for run in 0..4 {
        let r = h.run(&format!("run-{run}")).await;
        assert_eq!((r.bare_refresh_refusals, r.needs_consent), (1, 0), "{r:?}");
        h.advance(Duration::hours(18));
    }
    assert_eq!(h.profile(&alone).status, ProfileStatus::Active);
    assert!(h.profile(&alone).dead_token_evidence.is_none());

    // Many at once (a WAF rule, GoPay's fault): the breaker's threshold bounds what a run may
    // take as specific to a profile.
    let h = Harness::new();
    let refused: Vec<_> = (0..5)
        .map(|i| h.consented(&format!("c-{i}"), &format!("950{i}"), false))
        .collect();
    for i in 0..2 {
        h.consented(&format!("ok-{i}"), &format!("951{i}"), false);
    }
    for i in 0..5 {
        h.gopay.refuse_refresh_bare(&format!("950{i}"), true);
    }
    for run in 0..4 {
        let r = h.run(&format!("run-{run}")).await;
        assert_eq!((r.bare_refresh_refusals, r.needs_consent), (5, 0), "{r:?}");
        assert!(r.refreshed >= 2);
        h.advance(Duration::hours(12));
    }
    for id in &refused {
        let p = h.profile(id);
        assert_eq!(p.status, ProfileStatus::Active);
        assert!(p.dead_token_evidence.is_none());
    }
}

#[tokio::test]
async fn a_successful_refresh_clears_the_dead_token_evidence() {
    let h = Harness::new();
    let id = h.consented("c-1", "9601", false);
    h.consented("c-2", "9602", false);
    h.gopay.refuse_refresh_bare("9601", true);
    h.run("run-0").await;
    h.advance(Duration::hours(13));
    h.run("run-1").await;
    assert_eq!(h.profile(&id).dead_token_evidence.as_ref().unwrap().runs, 2);
    h.gopay.refuse_refresh_bare("9601", false);
    h.advance(Duration::hours(13));
    let r = h.run("run-2").await;
    assert_eq!(r.needs_consent, 0);
    assert!(h.profile(&id).dead_token_evidence.is_none());
    assert_eq!(h.profile(&id).status, ProfileStatus::Active);
}

// ----- issue 22: the identified person is the one who declared themselves ----------------------

#[tokio::test]
async fn an_identified_person_who_is_not_the_declared_one_is_never_shown_as_identified() {
    let h = Harness::new();
    let matching = h.consented("c-match", "9701", true);
    let other = h.consented("c-other", "9702", true);
    let declared = serde_json::json!({"firstName": "Bohumila", "lastName": "Křížová", "birthDate": "1977-04-23"});
    h.declare(&matching, declared.clone());
    h.declare(&other, declared);
    h.gopay.set_state("9701", "IDENTIFIED", &[]);
    h.gopay.set_subject(
        "9701",
        serde_json::json!({"firstName": "BOHUMILA", "lastName": "Krizova", "dateOfBirth": "1977-04-23", "birthNumber": "775423/1234"}),
    );
    h.gopay.set_state("9702", "PARTIALLY_IDENTIFIED", &[]);
    h.gopay.set_subject(
        "9702",
        serde_json::json!({"firstName": "Bohumila", "lastName": "Šťastná", "dateOfBirth": "1977-04-23"}),
    );
    let r = h.run("run-1").await;
    assert_eq!(r.identity_mismatches, 1, "{r:?}");
    let emf: serde_json::Value = serde_json::from_str(&emf_line(&r, 0)).unwrap();
    assert_eq!(emf["GoPayIdentityMismatch"], 1);

    let ok = h.stream("c-match", IDENTIFICATION_STREAM).await.unwrap();
    assert_eq!(ok.status, "IDENTIFIED");
    assert_eq!(ok.detail["identityMatch"]["result"], "match");

    let bad = h.stream("c-other", IDENTIFICATION_STREAM).await.unwrap();
    assert_eq!(bad.status, "IDENTITY_MISMATCH", "{:?}", bad.detail);
    assert_eq!(bad.detail["gopayState"], "PARTIALLY_IDENTIFIED");
    assert_eq!(
        bad.detail["identityMatch"]["differingFields"],
        serde_json::json!(["lastName"])
    );
    let history = h.events.history("c-other").await.unwrap();
    let event = history
        .iter()
        .find(|e| e.event_type == "identification-status")
        .unwrap();
    assert_eq!(
        event.summary["identityMatch"]["fields"]["lastName"],
        "mismatch"
    );
    let text = format!(
        "{} {}",
        event.summary,
        serde_json::to_string(&bad.detail).unwrap()
    );
    for value in ["Bohumila", "Křížová", "Šťastná", "1977-04-23", "775423"] {
        assert!(!text.contains(value), "{value} in {text}");
    }
    // The same outcome on the next poll is not a new event.
    h.advance(Duration::hours(25));
    let r = h.run("run-2").await;
    assert_eq!((r.changes, r.identity_mismatches), (0, 0), "{r:?}");
}

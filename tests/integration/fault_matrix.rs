//! Fault matrix (issue 13): every flow — Xpollens callback, queue drain, Trust & Sign archive,
//! GoPay consent, GoPay sync, state publisher — runs once without faults; then, for every call
//! that run made to an AWS service or a provider (enumerated, so the matrix grows with the
//! code) and every fault kind (error, timeout, answer lost after the effect landed), it runs
//! again with that one call failing, followed by the retries AWS or the provider would make
//! (Xpollens re-sends, the drain's next run, Lambda's async retries, the scheduler's next tick,
//! the stream batch retry, the customer starting the consent again). Each cell checks: every
//! accepted event recorded exactly once, final states equal to the fault-free run's, no refresh
//! token lost or used twice, nothing half-written (rescue places drained, leases released).
//!
//! In memory, on the twins: the whole matrix runs in a few seconds. The table is printed
//! (`--nocapture`) and written to `target/tmp/fault-matrix.md`.

#[path = "../support/ddb_json.rs"]
mod ddb_json;
mod faults;
use ddb_json::to_ddb;

use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use faults::*;
use kyc_core::auth::CredentialSet;
use kyc_core::crypto::{Keyring, PayloadKey};
use kyc_core::intake::{EventStore, MemoryStore, Provider};
use kyc_core::kyc_state::{ProviderState, Stream, StreamValue};
use kyc_core::redact::Secret;
use kyc_core::secrets::{Cached, StagedSecret, StaticSecrets};
use kyc_downstream::{MemoryPublisher, StatePublisher};
use kyc_gopay::consent::GoPayHosts;
use kyc_gopay::consent_endpoint::{ConsentEndpoint, Request as ConsentRequest};
use kyc_gopay::memory::{MemoryGoPay, MemoryGoPayStore, MemoryPdfSink, MemoryTokenRescue};
use kyc_gopay::store::{
    sealed_access_aad, sealed_refresh_aad, ProfileRecord, ProfileStatus, TokenRescue,
};
use kyc_gopay::sync::{self, SyncDeps, SyncSettings};
use kyc_gopay::tokens::ClientCredentials;
use kyc_trust_sign::plan::LinkKey;
use kyc_trust_sign::processor::{MemoryArchives, Notification, Processor, Settings};
use kyc_trust_sign::Limits;
use kyc_xpollens::delivery::Recorder;
use kyc_xpollens::drain::{self, DrainSettings, MemoryQueue};
use kyc_xpollens::endpoint::{CallbackAuth, Endpoint, HttpRequest};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

// ----- shared helpers -----------------------------------------------------------------------

/// With a naming key: Trust & Sign names quarantine copies with it (issue 21).
fn keyring() -> Keyring {
    Keyring::new(PayloadKey::new("k", [5; 32]).unwrap(), vec![])
        .with_naming_key(kyc_core::crypto::NamingKey::new("n", [6; 32]).unwrap())
}

fn preloaded<T: Send + Sync + 'static>(value: T) -> Cached<T> {
    Cached::new(
        Arc::new(StaticSecrets(HashMap::new())),
        "preloaded",
        StdDuration::from_secs(3600),
        |_| Err("preloaded".to_string()),
    )
    .preloaded(value)
}

/// A clock the flow reads and the test moves (each retry happens later).
#[derive(Clone)]
struct TestClock {
    start: DateTime<Utc>,
    offset_s: Arc<AtomicI64>,
}

impl TestClock {
    fn new(start: DateTime<Utc>) -> Self {
        Self {
            start,
            offset_s: Arc::default(),
        }
    }
    fn now(&self) -> DateTime<Utc> {
        self.start + Duration::seconds(self.offset_s.load(Ordering::SeqCst))
    }
    fn advance(&self, by: Duration) {
        self.offset_s.fetch_add(by.num_seconds(), Ordering::SeqCst);
    }
    fn func(&self) -> Arc<dyn Fn() -> DateTime<Utc> + Send + Sync> {
        let c = self.clone();
        Arc::new(move || c.now())
    }
}

/// The comparable part of a customer's states: status, finality, cause and order of each
/// stream (not the received times, which move with the retries).
fn states_view(states: &BTreeMap<Provider, ProviderState>) -> Value {
    let mut out = Map::new();
    for (provider, state) in states {
        let streams: Map<String, Value> = state
            .streams
            .iter()
            .map(|(stream, v)| (stream.attribute().to_string(), stream_view(v)))
            .collect();
        out.insert(provider.as_str().into(), Value::Object(streams));
    }
    Value::Object(out)
}

fn stream_view(v: &StreamValue) -> Value {
    json!({"status": v.status, "final": v.is_final, "eventId": v.event_id, "ord": v.ord})
}

/// Each partition's history must name every event once; the view is the sorted ids.
async fn history_once(
    store: &MemoryStore,
    partition: &str,
    breaches: &mut Vec<String>,
) -> Vec<String> {
    let ids: Vec<String> = store
        .history(partition)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.event_id)
        .collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    if distinct.len() != ids.len() {
        breaches.push(format!(
            "history of {partition} names an event twice: {ids:?}"
        ));
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted
}

async fn customer_view(store: &MemoryStore, customer: &str, breaches: &mut Vec<String>) -> Value {
    json!({
        "states": states_view(&store.provider_states(customer).await.unwrap()),
        "history": history_once(store, customer, breaches).await,
    })
}

// ----- Xpollens live callbacks ----------------------------------------------------------------

const XP_USER: &str = "xp";
const XP_PASSWORD: &str = "callback-password";

/// (Webhook-Id, Webhook-Processdate, body): new events, a redelivery, an unused type, a body
/// that cannot be a callback (400), and a known id with another body (409).
const CALLBACKS: [(&str, &str, &str); 8] = [
    (
        "wh-1",
        "12/11/2026 09:00:00 +00:00",
        r#"{"type":"4","status":"Pending","appUserId":"alice"}"#,
    ),
    (
        "wh-2",
        "12/11/2026 09:01:00 +00:00",
        r#"{"type":"34","appUserId":"alice","publicUserCode":"363O2TWZ3787","userRecordStatus":"InProgress","identificationLevel":"Intermediate"}"#,
    ),
    (
        "wh-3",
        "12/11/2026 09:05:00 +00:00",
        r#"{"type":"4","status":"Complete","appUserId":"alice"}"#,
    ),
    (
        "wh-4",
        "12/11/2026 09:02:00 +00:00",
        r#"{"type":"4","status":"Pending","appUserId":"bob"}"#,
    ),
    (
        "wh-1",
        "12/11/2026 09:00:00 +00:00",
        r#"{"type":"4","status":"Pending","appUserId":"alice"}"#,
    ),
    (
        "wh-5",
        "12/11/2026 09:03:00 +00:00",
        r#"{"type":"99","appUserId":"alice","note":"unused type"}"#,
    ),
    (
        "wh-6",
        "12/11/2026 09:04:00 +00:00",
        "this is not a callback",
    ),
    (
        "wh-3",
        "12/11/2026 09:05:00 +00:00",
        r#"{"type":"4","status":"Refused","appUserId":"alice"}"#,
    ),
];

fn callback_request(id: &str, date: &str, body: &str) -> HttpRequest {
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{XP_USER}:{XP_PASSWORD}"));
    HttpRequest {
        method: "POST".into(),
        path: "/xpollens/callbacks".into(),
        headers: vec![
            ("authorization".into(), format!("Basic {basic}")),
            ("content-type".into(), "application/json".into()),
            ("webhook-id".into(), id.into()),
            ("webhook-processdate".into(), date.into()),
        ],
        body: body.as_bytes().to_vec(),
        query: String::new(),
        source_ip: None,
        ..HttpRequest::default()
    }
}

/// Xpollens re-sends a callback answered 5xx (its retry schedule has several attempts).
const XPOLLENS_ATTEMPTS: usize = 5;

async fn xpollens_callback_flow(inj: Arc<Injector>) -> RunOutcome {
    let store = Arc::new(MemoryStore::default());
    let clock = TestClock::new(Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap());
    let creds = StaticSecrets(HashMap::from([(
        "creds".to_string(),
        StagedSecret {
            current: Secret::new(format!(
                r#"{{"scheme":"basic","username":"{XP_USER}","password":"{XP_PASSWORD}"}}"#
            )),
            previous: None,
            current_since: None,
        },
    )]));
    let endpoint = Endpoint {
        recorder: Recorder {
            store: Arc::new(FaultyEvents {
                inner: store.clone(),
                inj: inj.clone(),
            }),
            keys: preloaded(keyring()),
        },
        auth: CallbackAuth::Credentials(Cached::new(
            Arc::new(FaultySecrets {
                inner: Arc::new(creds),
                inj: inj.clone(),
            }),
            "creds",
            StdDuration::from_secs(300),
            CredentialSet::from_staged,
        )),
        allow_list: None,
        clock: clock.func(),
    };
    let mut breaches = Vec::new();
    let mut answers = Vec::new();
    for (id, date, body) in CALLBACKS {
        let req = callback_request(id, date, body);
        let mut answer = None;
        for _ in 0..XPOLLENS_ATTEMPTS {
            clock.advance(Duration::seconds(30));
            let resp = endpoint.handle(&req).await;
            if resp.status < 500 {
                answer = Some(resp.status);
                break;
            }
        }
        match answer {
            Some(status) => answers.push(status),
            None => breaches.push(format!(
                "{id}: still 5xx after {XPOLLENS_ATTEMPTS} attempts"
            )),
        }
    }
    let mut rejections: Vec<(u16, String)> = store
        .rejections()
        .into_iter()
        .map(|r| (r.http_status, r.body_sha256))
        .collect();
    rejections.sort();
    rejections.dedup();
    let unassigned = "XP#U#2026-11-22";
    RunOutcome {
        projection: json!({
            "answers": answers,
            "events": store.event_count(),
            "alice": customer_view(&store, "alice", &mut breaches).await,
            "bob": customer_view(&store, "bob", &mut breaches).await,
            "unassigned": history_once(&store, unassigned, &mut breaches).await,
            // A rejection retried after a lost answer is kept twice (two receipts of the same
            // body); what matters is that every refused body is kept.
            "rejections": rejections,
        }),
        breaches,
        protocol_loss: None,
    }
}

// ----- Xpollens fallback-queue drain --------------------------------------------------------

fn queue_entry(id: &str, process_date: &str, payload: Value, status: Option<&str>) -> Value {
    json!({
        "metadata": {"id": id, "processDate": process_date, "type": payload["type"]},
        "payload": payload,
        "response": {"pushDate": "2026-11-26T13:05:15+00:00", "duration": "00:00:00.1", "httpStatusCode": status, "body": ""}
    })
}

/// The drain runs hourly; a failed run is followed by the next one (and Lambda's retries).
const DRAIN_RUNS: usize = 4;

async fn queue_drain_flow(inj: Arc<Injector>) -> RunOutcome {
    let store = Arc::new(MemoryStore::default());
    let queue = Arc::new(MemoryQueue::default());
    let kyc = |user: &str, status: &str| json!({"type": "4", "status": status, "appUserId": user});
    for entry in [
        queue_entry(
            "q-1",
            "2026-11-26T13:05:14.9053587+00:00",
            kyc("alice", "Pending"),
            None,
        ),
        queue_entry(
            "q-2",
            "2026-11-26T13:06:00+00:00",
            json!({"type": "34", "appUserId": "alice", "userRecordStatus": "Validated"}),
            Some("503 (Service Unavailable)"),
        ),
        queue_entry(
            "q-1",
            "2026-11-26T13:05:14.9053587+00:00",
            kyc("alice", "Pending"),
            Some("200 (OK)"),
        ),
        queue_entry(
            "q-3",
            "2026-11-26T13:07:00+00:00",
            kyc("bob", "Pending"),
            None,
        ),
        queue_entry(
            "q-4",
            "2026-11-26T13:08:00+00:00",
            kyc("alice", "Complete"),
            None,
        ),
    ] {
        queue.push(entry);
    }
    let recorder = Recorder {
        store: Arc::new(FaultyEvents {
            inner: store.clone(),
            inj: inj.clone(),
        }),
        keys: preloaded(keyring()),
    };
    let api = FaultyQueue {
        inner: queue.clone(),
        inj: inj.clone(),
    };
    let clock = TestClock::new(Utc.with_ymd_and_hms(2026, 11, 26, 14, 0, 0).unwrap());
    let settings = DrainSettings::new(2).unwrap();
    let mut breaches = Vec::new();
    let mut done = false;
    for _ in 0..DRAIN_RUNS {
        let report = drain::run(
            &api,
            &recorder,
            &settings,
            &clock.func(),
            clock.now() + Duration::minutes(15),
        )
        .await;
        clock.advance(Duration::hours(1));
        if !report.is_failure() && report.drained && queue.is_empty() {
            done = true;
            break;
        }
    }
    if !done {
        breaches.push(format!("queue not drained after {DRAIN_RUNS} runs"));
    }
    RunOutcome {
        projection: json!({
            "events": store.event_count(),
            "queueLeft": queue.len(),
            "alice": customer_view(&store, "alice", &mut breaches).await,
            "bob": customer_view(&store, "bob", &mut breaches).await,
        }),
        breaches,
        protocol_loss: None,
    }
}

// ----- Trust & Sign archives -----------------------------------------------------------------

const BUCKET: &str = "archives";

fn archive(kind: trust_sign_gen::Kind, customer: &str) -> Vec<u8> {
    let mut v = Vec::new();
    let opts = trust_sign_gen::ArchiveOptions {
        report_patch: Some(json!({"clientFile": {"externalId": customer}})),
        ..trust_sign_gen::ArchiveOptions::default()
    };
    trust_sign_gen::write_archive(kind, &opts, &mut v).unwrap();
    v
}

fn s3_record(key: &str) -> Notification {
    Notification {
        event_name: Some("ObjectCreated:Put".into()),
        bucket: Some(BUCKET.into()),
        key: Some(key.into()),
        version_id: Some("v1".into()),
        etag: Some("\"e\"".into()),
        size: None,
    }
}

/// Lambda's asynchronous invocation: the first attempt and two retries.
const LAMBDA_ASYNC_ATTEMPTS: usize = 3;

async fn archive_flow(inj: Arc<Injector>) -> RunOutcome {
    use trust_sign_gen::Kind;
    let archives = Arc::new(MemoryArchives::default());
    archives.insert(BUCKET, "incoming/a.zip", "v1", archive(Kind::Full, "c1"));
    archives.insert(BUCKET, "incoming/b.zip", "v1", archive(Kind::NotZip, "c2"));
    archives.insert(
        BUCKET,
        "incoming/c.zip",
        "v1",
        archive(Kind::Rejected, "c2"),
    );
    let store = Arc::new(MemoryStore::default());
    let faulty = Arc::new(FaultyArchives {
        inner: archives.clone(),
        inj: inj.clone(),
    });
    let processor = Processor {
        sources: faulty.clone(),
        objects: faulty,
        store: Arc::new(FaultyEvents {
            inner: store.clone(),
            inj: inj.clone(),
        }),
        keys: preloaded(keyring()),
        settings: Settings {
            table: "t".into(),
            payload_key_secret: "k".into(),
            archive_prefix: "incoming/".into(),
            processed_prefix: "processed/".into(),
            quarantine_prefix: "quarantine/".into(),
            link_key: LinkKey::ExternalId,
            legacy_keys: Default::default(),
            limits: Limits::default(),
            reading: Default::default(),
            secret_ttl: StdDuration::from_secs(300),
        },
        clock: Arc::new(|| Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap()),
    };
    let records = [
        s3_record("incoming/a.zip"),
        s3_record("incoming/b.zip"),
        s3_record("incoming/c.zip"),
    ];
    let mut breaches = Vec::new();
    let mut done = false;
    for _ in 0..LAMBDA_ASYNC_ATTEMPTS {
        if processor.handle(&records).await.is_ok() {
            done = true;
            break;
        }
    }
    if !done {
        breaches.push("archive batch still failing after Lambda's retries".into());
    }
    let mut keys = archives.keys();
    keys.sort();
    RunOutcome {
        projection: json!({
            "events": store.event_count(),
            "c1": customer_view(&store, "c1", &mut breaches).await,
            "c2": customer_view(&store, "c2", &mut breaches).await,
            "unassigned": history_once(&store, "TS#U#2026-11-22", &mut breaches).await,
            "objects": keys,
            "badArchiveTags": archives.tags(BUCKET, "incoming/b.zip"),
        }),
        breaches,
        protocol_loss: None,
    }
}

// ----- GoPay: shared twins ------------------------------------------------------------------

struct GoPayTwins {
    gopay: Arc<MemoryGoPay>,
    store: Arc<MemoryGoPayStore>,
    rescue: Arc<MemoryTokenRescue>,
    pdfs: Arc<MemoryPdfSink>,
    events: Arc<MemoryStore>,
    clock: TestClock,
}

impl GoPayTwins {
    fn new() -> Self {
        Self {
            gopay: Arc::new(MemoryGoPay::default()),
            store: Arc::new(MemoryGoPayStore::new(4)),
            rescue: Arc::new(MemoryTokenRescue::default()),
            pdfs: Arc::new(MemoryPdfSink::default()),
            events: Arc::new(MemoryStore::default()),
            clock: TestClock::new(Utc.with_ymd_and_hms(2025, 3, 10, 8, 0, 0).unwrap()),
        }
    }

    fn credentials(&self) -> Cached<ClientCredentials> {
        preloaded(ClientCredentials::new(
            self.gopay.client_id.clone(),
            Secret::new(self.gopay.client_secret.clone()),
        ))
    }

    /// Sync dependencies; with `inj`, every port goes through the fault injector.
    fn sync_deps(&self, inj: Option<&Arc<Injector>>) -> SyncDeps {
        match inj {
            None => SyncDeps {
                store: self.store.clone(),
                events: self.events.clone(),
                rescue: self.rescue.clone(),
                pdfs: self.pdfs.clone(),
                transport: self.gopay.clone(),
                hosts: GoPayHosts::beta(),
                credentials: self.credentials(),
                keys: preloaded(keyring()),
                clock: self.clock.func(),
            },
            Some(inj) => SyncDeps {
                store: Arc::new(FaultyGoPayStore {
                    inner: self.store.clone(),
                    inj: inj.clone(),
                }),
                events: Arc::new(FaultyEvents {
                    inner: self.events.clone(),
                    inj: inj.clone(),
                }),
                rescue: Arc::new(FaultyRescue {
                    inner: self.rescue.clone(),
                    inj: inj.clone(),
                }),
                pdfs: Arc::new(FaultyPdfs {
                    inner: self.pdfs.clone(),
                    inj: inj.clone(),
                }),
                transport: Arc::new(FaultyGoPay {
                    inner: self.gopay.clone(),
                    inj: inj.clone(),
                }),
                hosts: GoPayHosts::beta(),
                credentials: self.credentials(),
                keys: preloaded(keyring()),
                clock: self.clock.func(),
            },
        }
    }

    /// One scheduled run. A run that fails (e.g. the rescue place unreadable at its start)
    /// is a failed invocation: the next tick is its retry.
    async fn sync_run(&self, inj: Option<&Arc<Injector>>, owner: &str) -> Result<(), String> {
        let mut settings = SyncSettings::new(owner);
        settings.concurrency = 1;
        settings.shards = 4;
        let deadline = self.clock.now() + Duration::minutes(15);
        sync::run(self.sync_deps(inj), settings, deadline)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// A consented profile due now; `fresh_access`: its access token is still valid.
    fn seed_profile(&self, customer: &str, profile: &str, fresh_access: bool) {
        let issued = self.gopay.consent(profile);
        let id = issued.profile.clone();
        let keys = keyring();
        let now = self.clock.now();
        self.store.insert(ProfileRecord {
            client_profile_id: id.clone(),
            customer_id: customer.into(),
            status: ProfileStatus::Active,
            token_gen: 1,
            sealed_refresh: Some(
                keys.seal_secret(&sealed_refresh_aad(&id, 1, customer), &issued.refresh_token),
            ),
            sealed_access: Some(
                keys.seal_secret(&sealed_access_aad(&id, 1, customer), &issued.access_token),
            ),
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
    }

    /// A profile's comparable state: status, whether the refresh token we hold is the live
    /// one at GoPay (a consent kept), PDF kept, lease released; and its customer's streams.
    async fn profile_view(&self, customer: &str, breaches: &mut Vec<String>) -> Value {
        let profile = self
            .store
            .all()
            .into_iter()
            .find(|p| p.customer_id == customer);
        let customer_states = self.events.provider_states(customer).await.unwrap();
        let streams: BTreeMap<String, Value> = customer_states
            .get(&Provider::Gopay)
            .map(|s| {
                s.streams
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.attribute().to_string(),
                            json!({"status": v.status, "final": v.is_final}),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let history = history_once(&self.events, customer, breaches).await;
        let Some(p) = profile else {
            return json!({"profile": null, "streams": streams});
        };
        let token_live = p.sealed_refresh.as_ref().is_some_and(|sealed| {
            keyring()
                .open(
                    &sealed_refresh_aad(&p.client_profile_id, p.token_gen, &p.customer_id),
                    sealed,
                )
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .is_some_and(|t| self.gopay.is_live(&t))
        });
        if p.lease.is_some() {
            breaches.push(format!("{customer}: lease left held"));
        }
        if let Some(key) = &p.pdf_key {
            if !self.pdfs.keys().contains(key) {
                breaches.push(format!(
                    "{customer}: profile names a PDF that is not stored"
                ));
            }
        }
        json!({
            "status": format!("{:?}", p.status),
            "eventPending": p.event_pending,
            "refreshTokenLiveAtGoPay": token_live,
            "pdfKept": p.pdf_key.is_some(),
            "streams": streams,
            "historyEvents": history.len(),
        })
    }

    async fn rescue_drained(&self, breaches: &mut Vec<String>) {
        let tokens = self.rescue.list().await.unwrap();
        let raw = self.rescue.list_raw().await.unwrap();
        if !tokens.is_empty() || !raw.is_empty() {
            breaches.push(format!(
                "rescue place not drained: {} tokens, {} raw answers",
                tokens.len(),
                raw.len()
            ));
        }
    }
}

// ----- GoPay consent ------------------------------------------------------------------------

/// A customer whose consent ends on the failure page starts again (a new state, a new code);
/// a 5xx page is reloaded. Bounded: three consents, two reloads each.
const CONSENT_ROUNDS: usize = 3;

async fn consent_flow(inj: Arc<Injector>) -> RunOutcome {
    let twins = GoPayTwins::new();
    let endpoint = ConsentEndpoint {
        store: Arc::new(FaultyGoPayStore {
            inner: twins.store.clone(),
            inj: inj.clone(),
        }),
        rescue: Arc::new(FaultyRescue {
            inner: twins.rescue.clone(),
            inj: inj.clone(),
        }),
        events: Arc::new(FaultyEvents {
            inner: twins.events.clone(),
            inj: inj.clone(),
        }),
        transport: Arc::new(FaultyGoPay {
            inner: twins.gopay.clone(),
            inj: inj.clone(),
        }),
        hosts: GoPayHosts::beta(),
        credentials: twins.credentials(),
        keys: preloaded(keyring()),
        redirect_uri: "https://api.example/gopay/callback".into(),
        completion: kyc_gopay::consent::CompletionMode::DirectCallback,
        state_ttl: kyc_gopay::consent::DEFAULT_STATE_TTL,
        success_url: "https://app.example/ok".into(),
        failure_url: "https://app.example/failed".into(),
        clock: twins.clock.func(),
        counters: Default::default(),
    };
    let mut breaches = Vec::new();
    let mut consented = false;
    'rounds: for _ in 0..CONSENT_ROUNDS {
        // Our backend asks for a consent URL (retrying a 5xx).
        let mut url = None;
        for _ in 0..3 {
            twins.clock.advance(Duration::seconds(5));
            let resp = endpoint
                .handle(&ConsentRequest {
                    method: "POST".into(),
                    path: "/gopay/consents".into(),
                    query: String::new(),
                    body: br#"{"customerId":"cust-1"}"#.to_vec(),
                    gateway: signed_by_our_backend(),
                    ..ConsentRequest::default()
                })
                .await;
            if resp.status == 201 {
                let body: Value = serde_json::from_str(&resp.body).unwrap();
                url = body["consentUrl"].as_str().map(str::to_string);
                break;
            }
        }
        let Some(url) = url else { continue };
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let state = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("consent URL carries a state");
        // The customer consents at GoPay, which redirects back with a code.
        let code = twins.gopay.issue_code("7001");
        let callback_query = form_urlencoded::Serializer::new(String::new())
            .append_pair("code", &code)
            .append_pair("state", &state)
            .finish();
        for _ in 0..3 {
            twins.clock.advance(Duration::seconds(5));
            let resp = endpoint
                .handle(&ConsentRequest {
                    method: "GET".into(),
                    path: "/gopay/callback".into(),
                    query: callback_query.clone(),
                    ..ConsentRequest::default()
                })
                .await;
            let location = resp
                .headers
                .iter()
                .find(|(k, _)| *k == "location")
                .map(|(_, v)| v.clone());
            match (resp.status, location.as_deref()) {
                (302, Some("https://app.example/ok")) => {
                    consented = true;
                    break 'rounds;
                }
                (s, _) if s >= 500 => continue,
                _ => continue 'rounds,
            }
        }
    }
    if !consented {
        breaches.push(format!("no consent after {CONSENT_ROUNDS} attempts"));
    }
    // The scheduler's next sync run (no faults: its own matrix is the sync flow's).
    twins.clock.advance(Duration::minutes(5));
    twins
        .sync_run(None, "after-consent")
        .await
        .expect("a run without faults");
    twins.rescue_drained(&mut breaches).await;
    if twins.gopay.reuses() > 0 {
        breaches.push(format!(
            "{} refresh tokens used twice",
            twins.gopay.reuses()
        ));
    }
    let mut view = twins.profile_view("cust-1", &mut breaches).await;
    // A failed code exchange is itself an event (EXCHANGE_FAILED): the history may be longer
    // than the fault-free run's; each event in it is still checked to be there once.
    view.as_object_mut().unwrap().remove("historyEvents");
    RunOutcome {
        projection: json!({"cust-1": view}),
        breaches,
        protocol_loss: None,
    }
}

// ----- GoPay sync -----------------------------------------------------------------------------

const PROTOCOL_LOSS_REFRESH: &str = "GoPay rotated the refresh token and the answer never reached us: the old token is dead and the new one unknown (GoPay's protocol); checked: the next run finds the token dead once and marks the profile needsConsent with its NEEDS_CONSENT event, nothing else changes";

async fn sync_flow(inj: Arc<Injector>) -> RunOutcome {
    let twins = GoPayTwins::new();
    twins.seed_profile("cust-a", "8001", false);
    twins.seed_profile("cust-b", "8002", true);
    twins.gopay.set_state("8002", "IDENTIFIED", &[]);
    // The run that meets the fault.
    let _ = twins.sync_run(Some(&inj), "run-1").await;
    // The scheduler's next ticks (every profile is due again within a day, backoff included).
    for (i, owner) in ["run-2", "run-3"].into_iter().enumerate() {
        twins.clock.advance(Duration::hours(25 + i as i64));
        twins
            .sync_run(None, owner)
            .await
            .expect("a run without faults");
    }
    let mut breaches = Vec::new();
    twins.rescue_drained(&mut breaches).await;
    let projection = json!({
        "cust-a": twins.profile_view("cust-a", &mut breaches).await,
        "cust-b": twins.profile_view("cust-b", &mut breaches).await,
    });
    let mut protocol_loss = None;
    let lost_rotation = matches!(inj.fired(), Some((_, "gopay.token(refresh)", Fault::Lost)));
    if lost_rotation {
        // Which profile's refresh was lost: the one marked needsConsent; everything else
        // as in the fault-free run is checked by the other profile's projection staying good.
        let marked: Vec<_> = twins
            .store
            .all()
            .into_iter()
            .filter(|p| p.status == ProfileStatus::NeedsConsent)
            .collect();
        if marked.len() != 1 {
            breaches.push(format!(
                "lost rotation: expected one profile marked needsConsent, found {}",
                marked.len()
            ));
        } else {
            let states = twins
                .events
                .provider_states(&marked[0].customer_id)
                .await
                .unwrap();
            let consent = states.get(&Provider::Gopay).and_then(|s| {
                s.status(Stream::named("gopayConsent").unwrap())
                    .map(str::to_string)
            });
            if consent.as_deref() != Some("NEEDS_CONSENT") {
                breaches.push(format!(
                    "lost rotation: consent stream is {consent:?}, not NEEDS_CONSENT"
                ));
            }
        }
        if twins.gopay.reuses() != 1 {
            breaches.push(format!(
                "lost rotation: the dead token was presented {} times (expected once)",
                twins.gopay.reuses()
            ));
        }
        protocol_loss = Some(PROTOCOL_LOSS_REFRESH);
    } else if twins.gopay.reuses() > 0 {
        breaches.push(format!(
            "{} refresh tokens used twice",
            twins.gopay.reuses()
        ));
    }
    RunOutcome {
        projection,
        breaches,
        protocol_loss,
    }
}

// ----- state publisher ----------------------------------------------------------------------

fn state_item(customer: &str, version: i64, status: &str, minute: u32) -> Value {
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 9, minute, 0).unwrap();
    let value = StreamValue::new(status, 3, false, at, &format!("ev-{customer}-{version}"));
    json!({
        "PK": format!("XP#C#{customer}"),
        "SK": "STATE",
        "customerId": customer,
        "updatedAt": at.to_rfc3339(),
        "version": version,
        "kycDemand": serde_json::to_value(value).unwrap(),
    })
}

fn stream_record(seq: u64, old: Option<&Value>, new: &Value) -> Value {
    let mut d = json!({
        "Keys": {"PK": {"S": new["PK"]}, "SK": {"S": new["SK"]}},
        "NewImage": to_ddb(new)["M"].clone(),
        "SequenceNumber": seq.to_string(),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(old) = old {
        d["OldImage"] = to_ddb(old)["M"].clone();
    }
    json!({
        "eventID": format!("e{seq}"),
        "eventName": if old.is_some() { "MODIFY" } else { "INSERT" },
        "eventSource": "aws:dynamodb",
        "dynamodb": d,
    })
}

/// Lambda retries a stream batch (from the lowest failed sequence number) up to 10 times.
const STREAM_RETRIES: usize = 10;

async fn publisher_flow(inj: Arc<Injector>) -> RunOutcome {
    // Twelve customers' first states (more than one PutEvents chunk), then a second change of
    // two of them in the same shard.
    let mut records = Vec::new();
    let mut seq = 100;
    for i in 0..12 {
        seq += 1;
        records.push(stream_record(
            seq,
            None,
            &state_item(&format!("c{i:02}"), 1, "Pending", 1),
        ));
    }
    for i in [3, 7] {
        let customer = format!("c{i:02}");
        seq += 1;
        records.push(stream_record(
            seq,
            Some(&state_item(&customer, 1, "Pending", 1)),
            &state_item(&customer, 2, "Complete", 5),
        ));
    }
    let sink = Arc::new(MemoryPublisher::default());
    let handler = StatePublisher {
        publisher: Arc::new(FaultyPublisher {
            inner: sink.clone(),
            inj: inj.clone(),
        }),
    };
    let mut breaches = Vec::new();
    let mut batch = records.clone();
    let mut done = false;
    for _ in 0..=STREAM_RETRIES {
        let report = handler.handle(&json!({ "Records": batch })).await.unwrap();
        let Some(lowest) = report
            .failed
            .iter()
            .filter_map(|s| s.parse::<u64>().ok())
            .min()
        else {
            done = true;
            break;
        };
        batch = records
            .iter()
            .filter(|r| {
                r["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_some_and(|s| s >= lowest)
            })
            .cloned()
            .collect();
    }
    if !done {
        breaches.push("stream batch still failing after Lambda's retries".into());
    }
    // At least once, in state order per customer: every change's first publication comes
    // after the customer's earlier changes. Duplicates (same id) are allowed and documented.
    let published = sink.published();
    let mut first_seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for e in &published {
        if seen.insert(e.id.clone()) {
            first_seen
                .entry(e.customer_id.clone())
                .or_default()
                .push(e.state_version.unwrap_or_default());
        }
    }
    for (customer, versions) in &first_seen {
        if versions.windows(2).any(|w| w[0] > w[1]) {
            breaches.push(format!(
                "{customer}: changes sent out of order {versions:?}"
            ));
        }
    }
    RunOutcome {
        projection: json!({"distinctEvents": seen, "perCustomer": first_seen}),
        breaches,
        protocol_loss: None,
    }
}

// ----- the test -----------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn every_call_of_every_flow_fails_in_turn_and_the_retries_converge() {
    let flows = vec![
        matrix("Xpollens callback", xpollens_callback_flow).await,
        matrix("Xpollens queue drain", queue_drain_flow).await,
        matrix("Trust & Sign archive", archive_flow).await,
        matrix("GoPay consent", consent_flow).await,
        matrix("GoPay sync", sync_flow).await,
        matrix("state publisher", publisher_flow).await,
    ];
    let table = render(&flows);
    eprintln!("{table}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault-matrix.md");
    std::fs::write(&path, &table).unwrap();
    for f in &flows {
        assert!(!f.calls.is_empty(), "{}: no call enumerated", f.flow);
    }
    let failing: usize = flows.iter().map(|f| f.cells.len() - f.passing()).sum();
    assert_eq!(failing, 0, "failing cells:\n{table}");
}

/// The injector really breaks things: without the retries, an error on the first write of a
/// callback leaves it unrecorded (so a passing matrix means the retries did the work).
#[tokio::test]
async fn a_fault_without_retry_loses_the_callback_so_the_matrix_can_fail() {
    let store = Arc::new(MemoryStore::default());
    let inj = Injector::armed(Some((0, Fault::Refused)));
    let recorder = Recorder {
        store: Arc::new(FaultyEvents {
            inner: store.clone(),
            inj: inj.clone(),
        }),
        keys: preloaded(keyring()),
    };
    let endpoint = Endpoint {
        recorder,
        auth: CallbackAuth::Credentials(preloaded(
            CredentialSet::from_staged(&StagedSecret {
                current: Secret::new(format!(
                    r#"{{"scheme":"basic","username":"{XP_USER}","password":"{XP_PASSWORD}"}}"#
                )),
                previous: None,
                current_since: None,
            })
            .unwrap(),
        )),
        allow_list: None,
        clock: Arc::new(|| Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()),
    };
    let (id, date, body) = CALLBACKS[0];
    let resp = endpoint.handle(&callback_request(id, date, body)).await;
    assert_eq!(resp.status, 503);
    assert_eq!(store.event_count(), 0);
    assert_eq!(inj.fired(), Some((0, "events.record", Fault::Refused)));
}

/// What API Gateway's IAM authorizer attests for our backend's SigV4-signed consent start.
fn signed_by_our_backend() -> kyc_core::callback_auth::GatewayAttestation {
    kyc_core::callback_auth::GatewayAttestation {
        iam: Some(kyc_core::iam_route::IamCaller {
            user_arn: "arn:aws:sts::123456789012:assumed-role/bank-core-kyc/test".into(),
            account_id: "123456789012".into(),
            access_key: "ASIAEXAMPLEBANKCORE1".into(),
            caller_id: "AROAEXAMPLEBANKCORE01:test".into(),
        }),
        ..Default::default()
    }
}

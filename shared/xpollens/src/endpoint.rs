//! The HTTP endpoint Xpollens POSTs callbacks to, free of Lambda and AWS types: the function
//! crate converts API Gateway requests into [`HttpRequest`] and back.
//!
//! Order of checks: method (405), route (404), source IP (403), credentials (401, nothing
//! stored), then — the caller now known to be Xpollens — size (413) and a body that cannot be
//! a callback (400), each of these rejections recorded. Every form Xpollens sends is accepted:
//! a JSON body (whatever the content type says), query-string callbacks (#15, #37, #01, #05:
//! parameters in the query string, body empty or form-encoded) and callback 36's header form
//! (fields in HTTP headers, body the operation's answer). 202 for a recorded callback, 204 for
//! a recorded callback of a type this product does not use (Xpollens' best practice). 5xx only
//! when a durable write (or the secret needed to make it) failed, so that Xpollens retries.

use super::callbacks::CallbackType;
use super::delivery::{Channel, DeliveryError, DeliveryRecorder, RawDelivery, Recorded, Recorder};
use super::forms::{callback_body, Carried};
use chrono::{DateTime, Utc};
use kyc_core::auth::{AuthError, CredentialSet};
use kyc_core::callback_auth::GatewayRequirement;
use kyc_core::intake::Outcome;
use kyc_core::ip_allow::IpAllowList;
use kyc_core::metrics::{Metric, MetricBatch};
use kyc_core::secrets::Cached;
use serde_json::json;
use std::sync::Arc;

/// Lambda takes at most 6 MB per synchronous invocation, the event envelope included.
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;

pub use kyc_core::http::{HttpRequest, HttpResponse};

/// Our JSON error body: a stable code and a message. A 4xx also names its code as the
/// metrics' `Reason` (`refusal`, never sent).
fn error_response(
    status: u16,
    code: &'static str,
    message: impl std::fmt::Display,
) -> HttpResponse {
    let mut resp = HttpResponse::json(
        status,
        json!({"error": code, "message": message.to_string()}),
    );
    resp.refusal = (400..500).contains(&status).then_some(code);
    resp
}

/// The clock that stamps receipts.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How callers are authenticated: one mode per environment, agreed with Xpollens
/// (`kyc_core::callback_auth`).
pub enum CallbackAuth {
    /// Basic (or static bearer) credentials from the secret, checked here.
    Credentials(Cached<CredentialSet>),
    /// OAuth2 or mTLS: API Gateway authenticated the caller; its attestation is required.
    Gateway(GatewayRequirement),
}

/// The callback endpoint's rules, free of Lambda types.
pub struct Endpoint {
    /// Where deliveries are recorded.
    pub recorder: Recorder,
    /// How callers are authenticated.
    pub auth: CallbackAuth,
    /// The networks callers may come from (`None`: any).
    pub allow_list: Option<IpAllowList>,
    /// The clock that stamps receipts.
    pub clock: Clock,
}

/// `/xpollens/callbacks` → `Some(None)`, `/xpollens/callbacks/36` → `Some(Some(36))`,
/// `/xpollens/callbacks/PoliticallyExposedPersonStatusCreatedOrUpdated` → that named type; a
/// stage prefix (`/prod/...`) is allowed; anything else is not this endpoint.
fn route(path: &str) -> Option<Option<CallbackType>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let at = segments
        .windows(2)
        .position(|w| w == ["xpollens", "callbacks"])?;
    match &segments[at + 2..] {
        [] => Some(None),
        [t] => CallbackType::parse(t).map(Some),
        _ => None,
    }
}

fn mime(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

enum Refusal {
    Status(u16, &'static str, String),
}

fn method_and_route(req: &HttpRequest) -> Result<Option<CallbackType>, HttpResponse> {
    if !req.method.eq_ignore_ascii_case("POST") {
        return Err(
            error_response(405, "method_not_allowed", "only POST is accepted")
                .with_header("allow", "POST"),
        );
    }
    route(&req.path).ok_or_else(|| error_response(404, "not_found", "unknown route"))
}

impl Endpoint {
    /// Answers one callback request.
    pub async fn handle(&self, req: &HttpRequest) -> HttpResponse {
        self.handle_counted(req).await.0
    }

    /// The answer, and what it counts for the metrics (one batch per request).
    pub async fn handle_counted(&self, req: &HttpRequest) -> (HttpResponse, MetricBatch) {
        let (resp, recorded) = self.answer_request(req).await;
        let counted = count(&resp, recorded.as_ref());
        (resp, counted)
    }

    async fn answer_request(&self, req: &HttpRequest) -> (HttpResponse, Option<Recorded>) {
        let path_type = match method_and_route(req) {
            Ok(t) => t,
            Err(resp) => return (resp, None),
        };
        if let Some(list) = &self.allow_list {
            if !list.allows(req.source_ip) {
                // The address itself is in the API Gateway access log; logs here carry no personal data.
                tracing::warn!("callback from an address outside the allow-list");
                return (
                    error_response(403, "forbidden", "source address not allowed"),
                    None,
                );
            }
        }
        if let Some(resp) = self.authenticate(req).await {
            return (resp, None);
        }
        self.after_authentication(req, path_type, (self.clock)())
            .await
    }

    /// What the function answers a request whose authentication is taken as checked, and
    /// what was recorded: `kyc replay` only (offline, against the in-memory store).
    pub async fn handle_authenticated(
        &self,
        req: &HttpRequest,
        received_at: DateTime<Utc>,
    ) -> (HttpResponse, Option<Recorded>) {
        match method_and_route(req) {
            Ok(path_type) => self.after_authentication(req, path_type, received_at).await,
            Err(resp) => (resp, None),
        }
    }

    async fn after_authentication(
        &self,
        req: &HttpRequest,
        path_type: Option<CallbackType>,
        received_at: DateTime<Utc>,
    ) -> (HttpResponse, Option<Recorded>) {
        match self.accept(req, path_type, received_at).await {
            Ok(answered) => answered,
            Err(Refusal::Status(status, code, message)) => (
                self.reject(req, received_at, status, code, message).await,
                None,
            ),
        }
    }

    async fn authenticate(&self, req: &HttpRequest) -> Option<HttpResponse> {
        let credentials = match &self.auth {
            CallbackAuth::Credentials(credentials) => credentials,
            CallbackAuth::Gateway(required) => return self.check_gateway(required, req),
        };
        let header = req.header("authorization");
        let creds = match credentials.get().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot load callback credentials");
                return Some(error_response(
                    503,
                    "unavailable",
                    "authentication unavailable, retry later",
                ));
            }
        };
        let now = (self.clock)();
        let mut result = creds.authorize_at(header, now);
        if result == Err(AuthError::Invalid) {
            // Maybe the credential was rotated since the cache was filled (AWSCURRENT read
            // again), or the sender still uses the previous one within its grace period: only
            // then is AWSPREVIOUS read (never at cold start), at most every 30 s.
            let fresh = if creds.previous_may_apply() {
                credentials.with_previous().await
            } else {
                credentials.refreshed().await
            };
            if let Ok(fresh) = fresh {
                result = fresh.authorize_at(header, now);
            }
        }
        match result {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(reason = %e, "callback refused: authentication");
                let mut resp = error_response(401, "unauthorized", e);
                for c in creds.challenges() {
                    resp = resp.with_header("www-authenticate", c.to_string());
                }
                Some(resp)
            }
        }
    }

    /// OAuth2 / mTLS: nothing stored when refused, as for a Basic refusal.
    fn check_gateway(
        &self,
        required: &GatewayRequirement,
        req: &HttpRequest,
    ) -> Option<HttpResponse> {
        let e = required.check(&req.gateway, (self.clock)()).err()?;
        if e.is_gateway_misconfiguration() {
            tracing::error!(reason = %e, "callback refused: the gateway did not authenticate it (check the route's authorizer / the mTLS domain)");
        } else {
            tracing::warn!(reason = %e, "callback refused: authentication");
        }
        let code = if e.status() == 401 {
            "unauthorized"
        } else {
            "forbidden"
        };
        let mut resp = error_response(e.status(), code, &e);
        if let Some(challenge) = required.challenge(&e) {
            resp = resp.with_header("www-authenticate", challenge);
        }
        Some(resp)
    }

    async fn accept(
        &self,
        req: &HttpRequest,
        path_type: Option<CallbackType>,
        received_at: DateTime<Utc>,
    ) -> Result<(HttpResponse, Option<Recorded>), Refusal> {
        if req.body.len() > BODY_LIMIT {
            return Err(Refusal::Status(
                413,
                "payload_too_large",
                format!("body exceeds {BODY_LIMIT} bytes"),
            ));
        }
        let carried = Carried {
            query: &req.query,
            headers: &req.headers,
            form_body: mime(req.header("content-type")) == "application/x-www-form-urlencoded",
        };
        let (body, notes) = match callback_body(carried, &req.body) {
            Some((body, form)) => (body, vec![form]),
            None => (req.body.clone(), vec![]),
        };
        let delivery = RawDelivery {
            webhook_id: req.header("webhook-id").map(str::to_string),
            process_date: req.header("webhook-processdate").map(str::to_string),
            type_hint: path_type,
            body,
            received_at,
            channel: Channel::Live,
            notes,
            without_payload: false,
        };
        Ok(match self.recorder.record(&delivery).await {
            Ok(recorded) => (answer(&recorded), Some(recorded)),
            Err(e) => (error_answer(&e), None),
        })
    }

    /// Records a refused delivery (sealed, size-bounded, expiring) and answers it. If it
    /// cannot be recorded, answer 503 instead so the provider retries: nothing is lost.
    async fn reject(
        &self,
        req: &HttpRequest,
        received_at: DateTime<Utc>,
        status: u16,
        code: &'static str,
        message: String,
    ) -> HttpResponse {
        if status >= 500 {
            return error_response(status, code, message);
        }
        match self
            .recorder
            .record_rejection(&req.body, received_at, status, &message)
            .await
        {
            Ok(()) => {
                tracing::warn!(status, code, reason = %message, "callback rejected");
                error_response(status, code, message)
            }
            Err(_) => error_response(
                503,
                "unavailable",
                "cannot record the rejected callback, retry later",
            ),
        }
    }
}

/// What an answer counts: a recorded event or a duplicate, or a rejection by its code. A 503
/// counts nothing here (Xpollens retries; the Lambda's own error metrics see it).
pub fn count(resp: &HttpResponse, recorded: Option<&Recorded>) -> MetricBatch {
    let mut batch = MetricBatch::new();
    if let Some(code) = resp.refusal {
        batch.add_for(Metric::Rejections, code, 1.0);
    }
    match recorded.map(|r| &r.outcome) {
        Some(Outcome::Duplicate) => {
            batch.add(Metric::Duplicates, 1.0);
        }
        Some(Outcome::ErasedSubject) => {
            batch.add(Metric::ErasedSubjectDropped, 1.0);
        }
        // A conflict writes nothing new (counted above as a `conflict` rejection).
        Some(Outcome::Conflict) | None => {}
        Some(_) => {
            batch.add(Metric::EventsRecorded, 1.0);
        }
    }
    batch
}

/// The answer to a delivery that could not be recorded.
pub fn error_answer(e: &DeliveryError) -> HttpResponse {
    match e {
        DeliveryError::Unusable {
            status,
            code,
            message,
        } => error_response(*status, code, message),
        DeliveryError::Unavailable(_) => {
            error_response(503, "unavailable", "event not stored, retry later")
        }
    }
}

/// The answer to a recorded delivery.
pub fn answer(recorded: &Recorded) -> HttpResponse {
    match recorded.outcome {
        Outcome::Conflict => error_response(
            409,
            "conflict",
            "this Webhook-Id was already received with a different body",
        ),
        // Nothing written: the customer was erased. 2xx, so Xpollens stops retrying it.
        Outcome::ErasedSubject => HttpResponse::json(
            202,
            json!({"status": "dropped", "eventId": recorded.event_id.as_str()}),
        ),
        // Recorded all the same; 204 tells Xpollens we do not use this type.
        _ if !recorded.in_use => HttpResponse {
            status: 204,
            headers: vec![],
            body: String::new(),
            refusal: None,
        },
        ref o => HttpResponse::json(
            202,
            json!({"status": "accepted", "eventId": recorded.event_id.as_str(), "duplicate": *o == Outcome::Duplicate}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use chrono::TimeZone;
    use kyc_core::crypto::Keyring;
    use kyc_core::crypto::PayloadKey;
    use kyc_core::intake::{EventStore, MemoryStore, Provider};
    use kyc_core::kyc_state::Stream;
    use kyc_core::redact::Secret;
    use kyc_core::secrets::{SecretSource, StagedSecret, StaticSecrets};
    use std::collections::HashMap;
    use std::time::Duration as StdDuration;

    /// Counts the batch (AWSCURRENT) and two-stage reads of the credential secret.
    #[derive(Default)]
    struct CountingSecrets {
        batches: std::sync::atomic::AtomicUsize,
        staged: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl SecretSource for CountingSecrets {
        async fn current(
            &self,
            names: &[&str],
        ) -> Result<Vec<kyc_core::secrets::CurrentSecret>, kyc_core::secrets::SecretError> {
            self.batches
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            credentials_source().current(names).await
        }
        async fn staged(&self, name: &str) -> Result<StagedSecret, kyc_core::secrets::SecretError> {
            self.staged
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            credentials_source().staged(name).await
        }
    }

    fn endpoint(store: Arc<MemoryStore>, allow: Option<&str>) -> Endpoint {
        endpoint_over(store, allow, Arc::new(credentials_source()))
    }

    fn credentials_source() -> StaticSecrets {
        StaticSecrets(HashMap::from([(
            "creds".to_string(),
            StagedSecret {
                current: Secret::new(
                    r#"{"scheme":"basic","username":"xp","password":"pw-new"}"#.into(),
                ),
                previous: Some(Secret::new(
                    r#"{"scheme":"basic","username":"xp","password":"pw-old"}"#.into(),
                )),
                // Rotated an hour before the test clock: the old password is in its grace.
                current_since: Some(Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()),
            },
        )]))
    }

    fn endpoint_over(
        store: Arc<MemoryStore>,
        allow: Option<&str>,
        src: Arc<dyn SecretSource>,
    ) -> Endpoint {
        Endpoint {
            recorder: Recorder {
                store,
                keys: Cached::new(
                    Arc::new(StaticSecrets(HashMap::new())),
                    "unused",
                    StdDuration::from_secs(300),
                    |_| -> Result<Keyring, kyc_core::crypto::KeyringError> { unreachable!() },
                )
                .preloaded(Keyring::new(PayloadKey::new("k", [1; 32]).unwrap(), vec![])),
            },
            auth: CallbackAuth::Credentials(Cached::new(
                src,
                "creds",
                StdDuration::from_secs(300),
                CredentialSet::from_staged,
            )),
            allow_list: allow.map(|a| IpAllowList::parse(a).unwrap().unwrap()),
            clock: Arc::new(|| Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()),
        }
    }

    fn post(body: &str, password: &str) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            path: "/xpollens/callbacks".into(),
            headers: vec![
                (
                    "Authorization".into(),
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(format!("xp:{password}"))
                    ),
                ),
                (
                    "Content-Type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                (
                    "Webhook-Id".into(),
                    "3a0a2870-f188-46e5-a6f0-f55b38565d7b".into(),
                ),
                (
                    "Webhook-Processdate".into(),
                    "12/12/2023 17:51:40 +00:00".into(),
                ),
            ],
            body: body.as_bytes().to_vec(),
            query: String::new(),
            source_ip: Some("203.0.113.5".parse().unwrap()),
            gateway: Default::default(),
        }
    }

    const KYC: &str = r#"{"type":"4","status":"Pending","appUserId":"u1"}"#;

    #[tokio::test]
    async fn accepted_then_duplicate_then_conflict() {
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store.clone(), None);
        let r = ep.handle(&post(KYC, "pw-new")).await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert!(r.body.contains(r#""duplicate":false"#));
        let r = ep.handle(&post(KYC, "pw-old")).await;
        assert_eq!(r.status, 202);
        assert!(r.body.contains(r#""duplicate":true"#));
        let r = ep
            .handle(&post(
                r#"{"type":"4","status":"Complete","appUserId":"u1"}"#,
                "pw-new",
            ))
            .await;
        assert_eq!(r.status, 409);
        // Recorded like any other rejection (a forged or buggy re-send is kept for review).
        let rejections = store.rejections();
        assert_eq!(rejections.len(), 1);
        assert_eq!(rejections[0].http_status, 409);
        let states = store.provider_states("u1").await.unwrap();
        assert_eq!(
            states[&Provider::Xpollens].status(Stream::KYC_DEMAND),
            Some("Pending")
        );
        assert_eq!(store.history("u1").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn each_answer_counts_what_happened_for_the_metrics() {
        use kyc_core::metrics::{MemoryMetrics, Metric, Metrics};
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store, None);
        let sink = MemoryMetrics::default();
        for (req, expected) in [
            (post(KYC, "pw-new"), (Metric::EventsRecorded, None)),
            (post(KYC, "pw-new"), (Metric::Duplicates, None)),
            (
                post(
                    r#"{"type":"4","status":"Complete","appUserId":"u1"}"#,
                    "pw-new",
                ),
                (Metric::Rejections, Some("conflict")),
            ),
            (
                post(KYC, "wrong"),
                (Metric::Rejections, Some("unauthorized")),
            ),
            (
                post("not json", "pw-new"),
                (Metric::Rejections, Some("malformed_json")),
            ),
        ] {
            let (resp, counted) = ep.handle_counted(&req).await;
            let (metric, reason) = expected;
            let got = match reason {
                Some(r) => counted.for_reason(metric, r),
                None => counted.total(metric),
            };
            assert_eq!(
                got, 1.0,
                "{metric:?} {reason:?}: {} {counted:?}",
                resp.status
            );
            let everything: f64 = Metric::ALL.iter().map(|m| counted.total(*m)).sum();
            assert_eq!(
                everything, 1.0,
                "one thing counted per request: {counted:?}"
            );
            sink.publish(&counted);
        }
        assert_eq!(sink.merged().total(Metric::Rejections), 3.0);
        assert_eq!(sink.batches().len(), 5);
    }

    /// Issue 21: AWSCURRENT alone is read until a presented credential does not match; then
    /// both stages once (the previous credential within its grace is accepted), and a flood
    /// of wrong credentials reads nothing more.
    #[tokio::test]
    async fn awsprevious_is_read_only_when_a_credential_does_not_match() {
        use std::sync::atomic::Ordering::SeqCst;
        let src = Arc::new(CountingSecrets::default());
        let ep = endpoint_over(Arc::new(MemoryStore::default()), None, src.clone());
        let reads = || (src.batches.load(SeqCst), src.staged.load(SeqCst));
        assert_eq!(ep.handle(&post(KYC, "pw-new")).await.status, 202);
        assert_eq!(reads(), (1, 0));
        // The same delivery again with the previous password (still in its grace): accepted.
        let r = ep.handle(&post(KYC, "pw-old")).await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(reads(), (1, 1));
        for _ in 0..5 {
            assert_eq!(ep.handle(&post(KYC, "wrong")).await.status, 401);
        }
        assert_eq!(ep.handle(&post(KYC, "pw-old")).await.status, 202);
        assert_eq!(reads(), (1, 1));
    }

    #[tokio::test]
    async fn the_previous_credential_is_refused_after_its_grace_period() {
        let store = Arc::new(MemoryStore::default());
        let mut ep = endpoint(store.clone(), None);
        ep.clock = Arc::new(|| Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 1).unwrap());
        let r = ep.handle(&post(KYC, "pw-old")).await;
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(ep.handle(&post(KYC, "pw-new")).await.status, 202);
    }

    #[tokio::test]
    async fn refusals_before_authentication_store_nothing() {
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store.clone(), Some("203.0.113.0/24"));
        let r = ep.handle(&post(KYC, "wrong")).await;
        assert_eq!(r.status, 401);
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| *k == "www-authenticate" && v.starts_with("Basic")));
        let mut get = post(KYC, "pw-new");
        get.method = "GET".into();
        assert_eq!(ep.handle(&get).await.status, 405);
        let mut outside = post(KYC, "pw-new");
        outside.source_ip = Some("198.51.100.1".parse().unwrap());
        assert_eq!(ep.handle(&outside).await.status, 403);
        let mut other = post(KYC, "pw-new");
        other.path = "/other".into();
        assert_eq!(ep.handle(&other).await.status, 404);
        assert_eq!(store.event_count(), 0);
        assert!(store.rejections().is_empty());
    }

    #[tokio::test]
    async fn bad_input_after_authentication_is_answered_and_recorded() {
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store.clone(), None);
        let cases: Vec<(HttpRequest, u16)> = vec![
            (post("{broken", "pw-new"), 400),
            (post(r#"{"type":"4","status":"Pending"}"#, "pw-new"), 400),
            (
                post(
                    &format!(r#"{{"type":"16","pad":"{}"}}"#, "x".repeat(BODY_LIMIT)),
                    "pw-new",
                ),
                413,
            ),
            (
                {
                    let mut r = post("", "pw-new");
                    r.headers.retain(|(k, _)| k != "Content-Type");
                    r.headers.push(("content-type".into(), "text/plain".into()));
                    r
                },
                400,
            ),
        ];
        for (i, (req, status)) in cases.iter().enumerate() {
            let r = ep.handle(req).await;
            assert_eq!(r.status, *status, "case {i}: {}", r.body);
            assert!(r.body.contains("\"error\""));
        }
        let rejections = store.rejections();
        assert_eq!(rejections.len(), cases.len());
        assert!(rejections
            .iter()
            .all(|r| !r.sealed_body_prefix.contains("Pending")));
        assert_eq!(store.event_count(), 0);
    }

    #[tokio::test]
    async fn unknown_types_and_path_types_are_accepted() {
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store.clone(), None);
        // A type this product does not use: recorded, answered 204 (Xpollens' best practice).
        assert_eq!(
            ep.handle(&post(r#"{"type":"21","cardId":1}"#, "pw-new"))
                .await
                .status,
            204
        );
        assert_eq!(store.event_count(), 1);
        let mut r = post(
            r#"{"appUserId":"u2","userRecordStatus":"InProgress"}"#,
            "pw-new",
        );
        r.path = "/xpollens/callbacks/34".into();
        r.headers.retain(|(k, _)| k != "Webhook-Id");
        assert_eq!(ep.handle(&r).await.status, 202);
        let states = store.provider_states("u2").await.unwrap();
        assert_eq!(
            states[&Provider::Xpollens].status(Stream::USER_RECORD),
            Some("InProgress")
        );
    }

    fn without(mut r: HttpRequest, header: &str) -> HttpRequest {
        r.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(header));
        r
    }

    fn with(mut r: HttpRequest, header: &str, value: &str) -> HttpRequest {
        r = without(r, header);
        r.headers.push((header.into(), value.into()));
        r
    }

    async fn notes_of(store: &MemoryStore, subject: &str) -> Vec<serde_json::Value> {
        store
            .history(subject)
            .await
            .unwrap()
            .iter()
            .map(|h| h.summary["delivery"]["notes"].clone())
            .collect()
    }

    #[tokio::test]
    async fn query_string_callbacks_are_accepted_and_user_freeze_is_a_stream() {
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store.clone(), None);
        // #15 as the OpenAPI shows it: POST, parameters in the query string, no body.
        let mut r = without(post("", "pw-new"), "Content-Type");
        r.query = "type=15&userstatus=2&userid=u15".into();
        let resp = ep.handle(&r).await;
        assert_eq!(resp.status, 202, "{}", resp.body);
        let st = &store.provider_states("u15").await.unwrap()[&Provider::Xpollens];
        assert_eq!(st.status(Stream::USER_FREEZE), Some("Frozen"));
        // Unfrozen later, form-encoded body this time.
        let mut r = with(
            with(
                post("type=15&userstatus=1&userid=u15", "pw-new"),
                "Content-Type",
                "application/x-www-form-urlencoded",
            ),
            "Webhook-Id",
            "freeze-2",
        );
        r = with(r, "Webhook-Processdate", "12/12/2023 17:52:40 +00:00");
        assert_eq!(ep.handle(&r).await.status, 202);
        let st = &store.provider_states("u15").await.unwrap()[&Provider::Xpollens];
        assert_eq!(st.status(Stream::USER_FREEZE), Some("NotFrozen"));
        assert_eq!(notes_of(&store, "u15").await[0], json!(["queryStringForm"]));
        // #37 (top-up refund): not used here, recorded all the same, 204.
        let mut r = with(
            without(post("", "pw-new"), "Content-Type"),
            "Webhook-Id",
            "refund-1",
        );
        r.query = "id=9&error=0&status=1&type=37&initialOrderID=77&amount=10.5".into();
        assert_eq!(ep.handle(&r).await.status, 204);
        assert_eq!(store.event_count(), 3);
    }

    #[tokio::test]
    async fn callback_36_header_form_is_accepted() {
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store.clone(), None);
        let mut r = with(
            post(r#""{\"operation\":\"transfer\"}""#, "pw-new"),
            "Webhook-Id",
            "sca-h",
        );
        for (k, v) in [
            ("AuthenticationId", "1240b556-604e-4b5d-9bc1-73b649fc992e"),
            ("Type", "36"),
            ("AppUserId", "u36"),
            ("AuthenticationResultDate", "2023-12-12T17:51:39+00:00"),
            ("RequestResponseCode", "201"),
            ("Status", "succeeded"),
        ] {
            r.headers.push((k.into(), v.into()));
        }
        let resp = ep.handle(&r).await;
        assert_eq!(resp.status, 202, "{}", resp.body);
        let st = &store.provider_states("u36").await.unwrap()[&Provider::Xpollens];
        assert_eq!(st.status(Stream::SCA_RESULT), Some("Succeeded"));
        let h = &store.history("u36").await.unwrap()[0];
        assert_eq!(h.summary["payload"], "json");
        assert_eq!(h.summary["delivery"]["notes"], json!(["headerForm"]));
        // Empty body works too.
        let mut r2 = with(r.clone(), "Webhook-Id", "sca-h2");
        r2.body.clear();
        assert_eq!(ep.handle(&r2).await.status, 202);
    }

    #[tokio::test]
    async fn every_process_date_form_is_accepted_and_an_unreadable_one_is_flagged() {
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store.clone(), None);
        let forms = [
            (
                "d1",
                "2023-12-18T13:05:14.9053587+00:00",
                serde_json::Value::Null,
            ),
            (
                "d2",
                "2024-09-24T22:10:24",
                json!(["processDateWithoutOffsetReadAsUtc"]),
            ),
            ("d3", "tomorrow", json!(["unreadableProcessDate"])),
        ];
        for (id, date, _) in &forms {
            let r = with(
                with(post(&KYC.replace("u1", id), "pw-new"), "Webhook-Id", id),
                "Webhook-Processdate",
                date,
            );
            assert_eq!(ep.handle(&r).await.status, 202, "{date}");
        }
        for (id, _, notes) in &forms {
            assert_eq!(notes_of(&store, id).await, vec![notes.clone()], "{id}");
        }
        // Ordered by received time when the date is unreadable.
        let st = &store.provider_states("d3").await.unwrap()[&Provider::Xpollens];
        assert_eq!(
            st.stream(&Stream::KYC_DEMAND).unwrap().at,
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
        );
        // JSON under another content type is still JSON.
        let r = with(
            with(
                post(&KYC.replace("u1", "d4"), "pw-new"),
                "Content-Type",
                "text/plain",
            ),
            "Webhook-Id",
            "d4",
        );
        assert_eq!(ep.handle(&r).await.status, 202);
    }

    #[test]
    fn routes() {
        assert_eq!(route("/xpollens/callbacks"), Some(None));
        assert_eq!(
            route("/prod/xpollens/callbacks/36/"),
            Some(Some(CallbackType::Number(36)))
        );
        assert_eq!(
            route("/xpollens/callbacks/PoliticallyExposedPersonStatusCreatedOrUpdated"),
            Some(Some(CallbackType::Named(
                "PoliticallyExposedPersonStatusCreatedOrUpdated".into()
            )))
        );
        assert_eq!(route("/xpollens/callbacks/a%20b"), None);
        assert_eq!(route("/xpollens"), None);
        assert_eq!(
            mime(Some("Application/X-WWW-Form-URLEncoded; charset=utf-8")),
            "application/x-www-form-urlencoded"
        );
        assert_eq!(mime(None), "");
    }

    // ----- issue 24: PEP, #31, type text, JSON sent as a form, same-second ties -----------

    /// The customer's state as the read API prints it.
    async fn state_json(store: &MemoryStore, customer: &str) -> serde_json::Value {
        kyc_core::kyc_state::status_json(customer, store.provider_states(customer).await.unwrap())
    }

    /// One delivery: its own Webhook-Id and process date.
    fn delivery(body: &str, id: &str, process_date: &str) -> HttpRequest {
        with(
            with(post(body, "pw-new"), "Webhook-Id", id),
            "Webhook-Processdate",
            process_date,
        )
    }

    const PEP: &str = "PoliticallyExposedPersonStatusCreatedOrUpdated";

    fn pep(user: &str, is_pep: &str, decision: &str, risk: &str) -> String {
        format!(
            r#"{{"appUserId":"{user}","type":"{PEP}","isPoliticallyExposedPerson":{is_pep},"finalDecisionPep":{decision},"riskAnalysisStatut":{risk}}}"#
        )
    }

    #[tokio::test]
    async fn a_pep_screening_is_its_own_stream_answered_202_and_keeps_its_type_text() {
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store.clone(), None);
        let r = ep
            .handle(&delivery(
                &pep("u-pep", "null", "null", "null"),
                "pep-1",
                "12/12/2023 17:51:40 +00:00",
            ))
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        let s = state_json(&store, "u-pep").await;
        assert_eq!(
            s["providers"]["xpollens"]["pepScreening"]["status"],
            "InAnalysis"
        );
        let h = store.history("u-pep").await.unwrap();
        assert_eq!(h[0].event_type, PEP);
        assert_eq!(h[0].summary["eventType"], PEP);
        assert_eq!(h[0].outcome, "applied");
        // A PEP: waiting for Xpollens' decision, then accepted WITH enhanced due diligence.
        for (id, second, body, status, is_final) in [
            (
                "pep-2",
                41,
                pep("u-pep", "true", "null", r#""inProgress""#),
                "PepAwaitingDecision",
                false,
            ),
            (
                "pep-3",
                42,
                pep("u-pep", "true", "true", r#""done""#),
                "AcceptedWithEnhancedDueDiligence",
                true,
            ),
        ] {
            let r = ep
                .handle(&delivery(
                    &body,
                    id,
                    &format!("12/12/2023 17:51:{second} +00:00"),
                ))
                .await;
            assert_eq!(r.status, 202, "{}", r.body);
            let s = state_json(&store, "u-pep").await;
            let pep = &s["providers"]["xpollens"]["pepScreening"];
            assert_eq!(pep["status"], status);
            assert_eq!(pep["final"], is_final);
            // Only the acceptance of a PEP carries the flag the decision reads.
            let edd = status == "AcceptedWithEnhancedDueDiligence";
            assert_eq!(pep.get("flags").is_some(), edd, "{pep}");
            if edd {
                assert_eq!(pep["flags"], json!(["enhancedDueDiligence"]));
            }
        }
        let s = state_json(&store, "u-pep").await;
        let detail = &s["providers"]["xpollens"]["pepScreening"]["detail"];
        assert_eq!(detail["enhancedDueDiligence"], true);
        assert_eq!(detail["isPoliticallyExposedPerson"], true);
        assert_eq!(detail["riskAnalysisStatut"], "done");
    }

    #[tokio::test]
    async fn a_pep_decision_false_blocks_whatever_came_before() {
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store.clone(), None);
        for (id, second, body) in [
            ("b-1", 40, pep("u-blk", "false", "null", r#""inProgress""#)),
            ("b-2", 45, pep("u-blk", "true", "false", r#""done""#)),
        ] {
            let r = ep
                .handle(&delivery(
                    &body,
                    id,
                    &format!("12/12/2023 17:51:{second} +00:00"),
                ))
                .await;
            assert_eq!(r.status, 202, "{}", r.body);
        }
        let s = state_json(&store, "u-blk").await;
        let pep = &s["providers"]["xpollens"]["pepScreening"];
        assert_eq!(pep["status"], "Blocked");
        assert_eq!(pep["final"], true);
        assert_eq!(pep["detail"]["blocking"], true);
    }

    fn diligence(user: &str, order: &str, status: &str, name: &str) -> String {
        format!(
            r#"{{"type":"31","status":"{status}","appUserId":"{user}","diligenceType":"SCTIN","reason":"The beneficiary's name is different from the transmitter's name","amount":145,"transferDate":"2021-01-30T08:30:00Z","transmitterFullName":"{name}","operationType":"SCT_In","orderId":"{order}","score":{{"name":0.333333333333333,"firstName":1}}}}"#
        )
    }

    #[tokio::test]
    async fn complementary_diligence_keeps_the_latest_and_every_open_one_names_sealed() {
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store.clone(), None);
        for (id, second, order, status) in [
            ("c-1", 10, "rx193bo32", "To_Review_Manually"),
            ("c-2", 20, "rx193bo33", "To_Review_Manually"),
            ("c-3", 30, "rx193bo32", "Validated"),
        ] {
            let r = ep
                .handle(&delivery(
                    &diligence("u-31", order, status, "Epp Sandra-Transmitter"),
                    id,
                    &format!("12/12/2023 17:51:{second} +00:00"),
                ))
                .await;
            assert_eq!(r.status, 202, "{}", r.body);
        }
        let s = state_json(&store, "u-31").await;
        let d = &s["providers"]["xpollens"]["complementaryDiligence"];
        assert_eq!(d["status"], "Validated", "{d}");
        assert_eq!(d["detail"]["orderId"], "rx193bo32");
        assert_eq!(d["detail"]["amount"], 145);
        let open: Vec<&String> = d["items"]["open"].as_object().unwrap().keys().collect();
        assert_eq!(open, ["rx193bo33"], "{d}");
        assert_eq!(
            d["items"]["open"]["rx193bo33"]["status"],
            "To_Review_Manually"
        );
        assert_eq!(d["sealedSecrets"], json!(["transmitterFullName"]));
        let everything = format!("{s} {:?}", store.history("u-31").await.unwrap());
        assert!(!everything.contains("Epp Sandra"), "{everything}");
        assert_eq!(store.history("u-31").await.unwrap()[0].event_type, "31");
    }

    #[tokio::test]
    async fn every_non_numeric_type_keeps_its_text() {
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store.clone(), None);
        let r = ep
            .handle(&delivery(
                r#"{"type":"SepaCreditTransferCreatedOrUpdated","appUserId":"u-sct","amount":3}"#,
                "sct-1",
                "12/12/2023 17:51:40 +00:00",
            ))
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
        let h = store.history("u-sct").await.unwrap();
        assert_eq!(h[0].event_type, "SepaCreditTransferCreatedOrUpdated");
        assert_eq!(
            h[0].summary["eventType"],
            "SepaCreditTransferCreatedOrUpdated"
        );
        // The type named in the URL instead of the body.
        let mut r = delivery(
            &pep("u-path", "false", "null", "null"),
            "pep-path",
            "12/12/2023 17:51:40 +00:00",
        );
        r.body = br#"{"appUserId":"u-path","isPoliticallyExposedPerson":false}"#.to_vec();
        r.path = format!("/xpollens/callbacks/{PEP}");
        assert_eq!(ep.handle(&r).await.status, 202);
        let s = state_json(&store, "u-path").await;
        assert_eq!(
            s["providers"]["xpollens"]["pepScreening"]["status"],
            "NotPep"
        );
    }

    #[tokio::test]
    async fn a_json_body_sent_as_a_form_is_read_as_json() {
        let store = Arc::new(MemoryStore::default());
        let ep = endpoint(store.clone(), None);
        let r = with(
            delivery(
                r#"{"type":"4","status":"Incomplete","appUserId":"u-form"}"#,
                "form-json",
                "12/12/2023 17:51:40 +00:00",
            ),
            "Content-Type",
            "application/x-www-form-urlencoded",
        );
        let resp = ep.handle(&r).await;
        assert_eq!(resp.status, 202, "{}", resp.body);
        let s = state_json(&store, "u-form").await;
        assert_eq!(
            s["providers"]["xpollens"]["kycDemand"]["status"],
            "Incomplete"
        );
    }

    #[tokio::test]
    async fn two_statuses_at_the_same_second_are_flagged_whatever_their_order() {
        for order in [
            ["Incomplete", "AwaitingExpertise"],
            ["AwaitingExpertise", "Incomplete"],
        ] {
            let store = Arc::new(MemoryStore::default());
            let ep = endpoint(store.clone(), None);
            for status in order {
                let body = format!(r#"{{"type":"4","status":"{status}","appUserId":"u-tie"}}"#);
                let r = ep
                    .handle(&delivery(&body, status, "12/12/2023 17:51:40 +00:00"))
                    .await;
                assert_eq!(r.status, 202, "{}", r.body);
            }
            let s = state_json(&store, "u-tie").await;
            let demand = &s["providers"]["xpollens"]["kycDemand"];
            // The fixed precedence, documented: AwaitingExpertise before Incomplete.
            assert_eq!(demand["status"], "AwaitingExpertise", "{order:?}");
            assert_eq!(demand["sameSecondAmbiguous"], true, "{order:?}");
            assert_eq!(demand["flags"], json!(["sameSecondAmbiguous"]), "{order:?}");
            // The loser, when it comes second, says why it is not the state.
            let h = store.history("u-tie").await.unwrap();
            let outcomes: Vec<&str> = h.iter().map(|e| e.outcome.as_str()).collect();
            if order[1] == "Incomplete" {
                assert_eq!(outcomes[1], "not applied: lost a same-second tie to AwaitingExpertise (fixed precedence); state flagged sameSecondAmbiguous");
            } else {
                assert_eq!(outcomes, ["applied", "applied"]);
            }
            // A later second is certain again.
            let body = r#"{"type":"4","status":"Complete","appUserId":"u-tie"}"#;
            ep.handle(&delivery(body, "later", "12/12/2023 17:51:41 +00:00"))
                .await;
            let s = state_json(&store, "u-tie").await;
            assert_eq!(
                s["providers"]["xpollens"]["kycDemand"]["sameSecondAmbiguous"],
                false
            );
            assert!(s["providers"]["xpollens"]["kycDemand"]
                .get("flags")
                .is_none());
        }
    }
}

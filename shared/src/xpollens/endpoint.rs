//! The HTTP endpoint Xpollens POSTs callbacks to, free of Lambda and AWS types: the function
//! crate converts API Gateway requests into [`HttpRequest`] and back.
//!
//! Order of checks: method (405), route (404), source IP (403), credentials (401, nothing
//! stored), then — the caller now known to be Xpollens — size (413), content type (415),
//! headers and body (400), each of these rejections recorded. 5xx only when a durable write
//! (or the secret needed to make it) failed, so that Xpollens retries.

use super::delivery::{Channel, DeliveryError, DeliveryRecorder, RawDelivery, Recorded, Recorder};
use crate::auth::{AuthError, CredentialSet};
use crate::intake::Outcome;
use crate::ip_allow::IpAllowList;
use crate::secrets::Cached;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;

pub const BODY_LIMIT: usize = 256 * 1024;

#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// Header names in any case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: Option<IpAddr>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl HttpResponse {
    fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }
    fn error(status: u16, code: &str, message: impl std::fmt::Display) -> Self {
        Self::json(
            status,
            json!({"error": code, "message": message.to_string()}),
        )
    }
    fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct Endpoint {
    pub recorder: Recorder,
    pub credentials: Cached<CredentialSet>,
    pub allow_list: Option<IpAllowList>,
    pub clock: Clock,
}

/// `/xpollens/callbacks` → `Some(None)`, `/xpollens/callbacks/36` → `Some(Some(36))`; a stage
/// prefix (`/prod/...`) is allowed; anything else is not this endpoint.
fn route(path: &str) -> Option<Option<u32>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let at = segments
        .windows(2)
        .position(|w| w == ["xpollens", "callbacks"])?;
    match &segments[at + 2..] {
        [] => Some(None),
        [t] => t.parse().ok().map(Some),
        _ => None,
    }
}

fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

enum Refusal {
    Status(u16, &'static str, String),
}

impl Endpoint {
    pub async fn handle(&self, req: &HttpRequest) -> HttpResponse {
        if !req.method.eq_ignore_ascii_case("POST") {
            return HttpResponse::error(405, "method_not_allowed", "only POST is accepted")
                .with_header("allow", "POST".into());
        }
        let Some(path_type) = route(&req.path) else {
            return HttpResponse::error(404, "not_found", "unknown route");
        };
        if let Some(list) = &self.allow_list {
            if !list.allows(req.source_ip) {
                // The address itself is in the API Gateway access log; logs here carry no personal data.
                tracing::warn!("callback from an address outside the allow-list");
                return HttpResponse::error(403, "forbidden", "source address not allowed");
            }
        }
        if let Some(resp) = self.authenticate(req).await {
            return resp;
        }
        let received_at = (self.clock)();
        match self.accept(req, path_type, received_at).await {
            Ok(resp) => resp,
            Err(Refusal::Status(status, code, message)) => {
                self.reject(req, received_at, status, code, message).await
            }
        }
    }

    async fn authenticate(&self, req: &HttpRequest) -> Option<HttpResponse> {
        let header = req.header("authorization");
        let creds = match self.credentials.get().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot load callback credentials");
                return Some(HttpResponse::error(
                    503,
                    "unavailable",
                    "authentication unavailable, retry later",
                ));
            }
        };
        let mut result = creds.authorize(header);
        if result == Err(AuthError::Invalid) {
            // Maybe the credential was rotated since the cache was filled.
            if let Ok(fresh) = self.credentials.refreshed().await {
                result = fresh.authorize(header);
            }
        }
        match result {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(reason = %e, "callback refused: authentication");
                let mut resp = HttpResponse::error(401, "unauthorized", e);
                for c in creds.challenges() {
                    resp = resp.with_header("www-authenticate", c.to_string());
                }
                Some(resp)
            }
        }
    }

    async fn accept(
        &self,
        req: &HttpRequest,
        path_type: Option<u32>,
        received_at: DateTime<Utc>,
    ) -> Result<HttpResponse, Refusal> {
        if req.body.len() > BODY_LIMIT {
            return Err(Refusal::Status(
                413,
                "payload_too_large",
                format!("body exceeds {BODY_LIMIT} bytes"),
            ));
        }
        if !is_json(req.header("content-type")) {
            return Err(Refusal::Status(
                415,
                "unsupported_media_type",
                "content-type must be application/json".into(),
            ));
        }
        let delivery = RawDelivery {
            webhook_id: req.header("webhook-id").map(str::to_string),
            process_date: req.header("webhook-processdate").map(str::to_string),
            type_hint: path_type,
            body: req.body.clone(),
            received_at,
            channel: Channel::Live,
        };
        match self.recorder.record(&delivery).await {
            Ok(recorded) => Ok(answer(&recorded)),
            Err(DeliveryError::Unusable {
                status,
                code,
                message,
            }) => Ok(HttpResponse::error(status, code, message)),
            Err(DeliveryError::Unavailable(_)) => Ok(HttpResponse::error(
                503,
                "unavailable",
                "event not stored, retry later",
            )),
        }
    }

    /// Records a refused delivery (sealed, size-bounded, expiring) and answers it. If it
    /// cannot be recorded, answer 503 instead so the provider retries: nothing is lost.
    async fn reject(
        &self,
        req: &HttpRequest,
        received_at: DateTime<Utc>,
        status: u16,
        code: &str,
        message: String,
    ) -> HttpResponse {
        if status >= 500 {
            return HttpResponse::error(status, code, message);
        }
        match self
            .recorder
            .record_rejection(&req.body, received_at, status, &message)
            .await
        {
            Ok(()) => {
                tracing::warn!(status, code, reason = %message, "callback rejected");
                HttpResponse::error(status, code, message)
            }
            Err(_) => HttpResponse::error(
                503,
                "unavailable",
                "cannot record the rejected callback, retry later",
            ),
        }
    }
}

/// The answer to a recorded delivery.
fn answer(recorded: &Recorded) -> HttpResponse {
    match recorded.outcome {
        Outcome::Conflict => HttpResponse::error(
            409,
            "conflict",
            "this Webhook-Id was already received with a different body",
        ),
        ref o => HttpResponse::json(
            202,
            json!({"status": "accepted", "eventId": recorded.event_id.as_str(), "duplicate": *o == Outcome::Duplicate}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Credential;
    use crate::crypto::Keyring;
    use crate::crypto::PayloadKey;
    use crate::intake::{EventStore, MemoryStore, Provider};
    use crate::kyc_state::Stream;
    use crate::redact::Secret;
    use crate::secrets::{StagedSecret, StaticSecrets};
    use base64::Engine;
    use chrono::TimeZone;
    use std::collections::HashMap;
    use std::time::Duration as StdDuration;

    fn endpoint(store: Arc<MemoryStore>, allow: Option<&str>) -> Endpoint {
        let src = Arc::new(StaticSecrets(HashMap::from([(
            "creds".to_string(),
            StagedSecret {
                current: Secret::new(
                    r#"{"scheme":"basic","username":"xp","password":"pw-new"}"#.into(),
                ),
                previous: Some(Secret::new(
                    r#"{"scheme":"basic","username":"xp","password":"pw-old"}"#.into(),
                )),
            },
        )])));
        Endpoint {
            recorder: Recorder {
                store,
                keys: Cached::new(
                    Arc::new(StaticSecrets(HashMap::new())),
                    "unused",
                    StdDuration::from_secs(300),
                    |_| unreachable!(),
                )
                .preloaded(Keyring::new(PayloadKey::new("k", [1; 32]).unwrap(), vec![])),
            },
            credentials: Cached::new(src, "creds", StdDuration::from_secs(300), |s| {
                let mut v =
                    vec![Credential::from_secret_json(s.current.expose())
                        .map_err(|e| e.to_string())?];
                if let Some(p) = &s.previous {
                    v.push(Credential::from_secret_json(p.expose()).map_err(|e| e.to_string())?);
                }
                Ok(CredentialSet::new(v))
            }),
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
            source_ip: Some("203.0.113.5".parse().unwrap()),
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
        let states = store.provider_states("u1").await.unwrap();
        assert_eq!(
            states[&Provider::Xpollens].status(Stream::KYC_DEMAND),
            Some("Pending")
        );
        assert_eq!(store.history("u1").await.unwrap().len(), 1);
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
                    let mut r = post(KYC, "pw-new");
                    r.headers.retain(|(k, _)| k != "Content-Type");
                    r.headers.push(("content-type".into(), "text/plain".into()));
                    r
                },
                415,
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
        assert_eq!(
            ep.handle(&post(r#"{"type":"21","cardId":1}"#, "pw-new"))
                .await
                .status,
            202
        );
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

    #[test]
    fn routes() {
        assert_eq!(route("/xpollens/callbacks"), Some(None));
        assert_eq!(route("/prod/xpollens/callbacks/36/"), Some(Some(36)));
        assert_eq!(route("/xpollens/callbacks/abc"), None);
        assert_eq!(route("/xpollens"), None);
        assert!(is_json(Some("application/json")) && is_json(Some("application/cloudevents+json")));
        assert!(!is_json(Some("text/json")) && !is_json(None));
    }
}

//! The Xpollens API as a partner calls it: OAuth2 client credentials (RFC 6749 §4.4) and the
//! fallback-queue endpoint. Request/response rules are pure functions; [`XpollensApi`] runs
//! them over an [`ApiTransport`] (reqwest adapter: `http`, feature `http`; tests use the
//! simulator in `testkit/xpollens-sim` through the same adapter).
//!
//! Token handling: one access token, cached until `refresh_margin` before its expiry; an API
//! answer 401 drops it and fetches a new one ONCE (a token revoked early, a key rotation at
//! Xpollens); a second 401 is an error, never a loop.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use tokio::sync::Mutex;

use crate::queue::{QueueAnswer, MAX_PAGE_BYTES};
use kyc_core::redact::Secret;
use kyc_core::secrets::Cached;

/// The clock the token cache reads (fixed in tests).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The queue path of the reference.
pub const QUEUE_PATH: &str = "/api/v2.0/webhooks";
/// Renew a cached token this long before it expires (a request in flight must not carry a
/// token that dies on the way).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::seconds(60);
/// Lifetime assumed when a token answer has no `expires_in` (RFC 6749 leaves it optional).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::seconds(300);

/// Client credentials from the Secrets Manager secret `{"clientId","clientSecret"}`.
#[derive(Debug, Clone)]
pub struct ApiCredentials {
    /// The OAuth2 client id.
    pub client_id: String,
    /// The OAuth2 client secret.
    pub client_secret: Secret,
}

impl ApiCredentials {
    /// Parses the secret; errors name the missing field, never a value.
    pub fn from_secret_json(json: &str) -> Result<Self, kyc_core::secrets::ClientSecretError> {
        let (client_id, client_secret) = kyc_core::secrets::client_id_and_secret(json)?;
        Ok(Self {
            client_id,
            client_secret,
        })
    }
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1): HTTP Basic (the
/// method every server must support) or `client_id`/`client_secret` in the form body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded id and secret.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// A token client authentication method other than basic or body. Configuration: fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("token client authentication must be basic or body")]
pub struct BadClientAuth;

impl std::str::FromStr for ClientAuth {
    type Err = BadClientAuth;
    fn from_str(s: &str) -> Result<Self, BadClientAuth> {
        match s.trim().to_ascii_lowercase().as_str() {
            "basic" | "client_secret_basic" => Ok(ClientAuth::Basic),
            "body" | "post" | "client_secret_post" => Ok(ClientAuth::Body),
            _ => Err(BadClientAuth),
        }
    }
}

/// A setting of the API client that is not valid. Configuration: fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {name}: {reason}")]
pub struct ConfigError {
    /// The setting.
    pub name: &'static str,
    /// What is wrong with it (never its value).
    pub reason: &'static str,
}

/// `https://host[:port][/prefix]`; plain http only on loopback (tests, the simulator).
fn check_url(name: &'static str, url: &str) -> Result<String, ConfigError> {
    let url = url.trim().trim_end_matches('/');
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://") {
        let host = r.split(['/', ':']).next().unwrap_or("");
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err(ConfigError {
                name,
                reason: "must be https (plain http only on loopback)",
            });
        }
        r
    } else {
        return Err(ConfigError {
            name,
            reason: "must be an absolute https URL",
        });
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(ConfigError {
            name,
            reason: "has no host",
        });
    }
    if url.contains(['?', '#', ' ']) {
        return Err(ConfigError {
            name,
            reason: "must not contain a query, fragment or space",
        });
    }
    Ok(url.to_string())
}

/// Where and how to call the Xpollens API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    base_url: String,
    token_url: String,
    scope: Option<String>,
    /// How the client authenticates at the token endpoint.
    pub client_auth: ClientAuth,
}

impl ApiConfig {
    /// Checks the URLs (https, or http on loopback) and the scope (printable ASCII).
    pub fn new(
        base_url: &str,
        token_url: &str,
        scope: Option<&str>,
        client_auth: ClientAuth,
    ) -> Result<Self, ConfigError> {
        let scope = scope.map(str::trim).filter(|s| !s.is_empty());
        if scope.is_some_and(|s| !s.bytes().all(|b| b == b' ' || b.is_ascii_graphic())) {
            return Err(ConfigError {
                name: "scope",
                reason: "must be printable ASCII",
            });
        }
        Ok(Self {
            base_url: check_url("API base URL", base_url)?,
            token_url: check_url("token URL", token_url)?,
            scope: scope.map(str::to_string),
            client_auth,
        })
    }
    /// The token endpoint.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }
    /// The scope asked for, if any.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
    /// `GET {base}/api/v2.0/webhooks?limit=X&remove=false|true`.
    pub fn queue_url(&self, limit: u32, remove: bool) -> String {
        format!(
            "{}{QUEUE_PATH}?limit={limit}&remove={remove}",
            self.base_url
        )
    }
}

/// The token request: a form body and, with [`ClientAuth::Basic`], an Authorization header.
/// Both hold the client secret.
pub struct TokenRequest {
    /// The form body (`grant_type=client_credentials`...).
    pub body: Secret,
    /// The `Authorization` header, with [`ClientAuth::Basic`].
    pub authorization: Option<Secret>,
}

fn form_escape(s: &str) -> String {
    // application/x-www-form-urlencoded: unreserved bytes as is, space as '+', the rest %XX.
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The token request of `config` with `credentials` (RFC 6749 §4.4).
pub fn token_request(config: &ApiConfig, credentials: &ApiCredentials) -> TokenRequest {
    use base64::Engine;
    let mut body = String::from("grant_type=client_credentials");
    if let Some(scope) = config.scope() {
        body.push_str("&scope=");
        body.push_str(&form_escape(scope));
    }
    let authorization = match config.client_auth {
        ClientAuth::Basic => {
            // RFC 6749 §2.3.1: id and secret are form-encoded before the Basic encoding.
            let pair = format!(
                "{}:{}",
                form_escape(&credentials.client_id),
                form_escape(credentials.client_secret.expose())
            );
            Some(Secret::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )))
        }
        ClientAuth::Body => {
            body.push_str("&client_id=");
            body.push_str(&form_escape(&credentials.client_id));
            body.push_str("&client_secret=");
            body.push_str(&form_escape(credentials.client_secret.expose()));
            None
        }
    };
    TokenRequest {
        body: Secret::new(body),
        authorization,
    }
}

/// A bearer token and when it stops working.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token.
    pub value: Secret,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

impl AccessToken {
    /// Still usable at `now` for at least `margin`.
    pub fn fresh(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        now + margin < self.expires_at
    }
    /// The `Authorization` header value: `Bearer <token>`.
    pub fn authorization(&self) -> Secret {
        Secret::new(format!("Bearer {}", self.value.expose()))
    }
}

/// Parses `{"access_token", "token_type": "Bearer", "expires_in"}`. `now` must be taken
/// BEFORE the request was sent, so the computed expiry errs early.
pub fn parse_token_response(body: &[u8], now: DateTime<Utc>) -> Result<AccessToken, ApiError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::InvalidAnswer("token answer is not JSON"))?;
    let token = v
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or(ApiError::InvalidAnswer("token answer has no access_token"))?;
    if let Some(kind) = v.get("token_type").and_then(|t| t.as_str()) {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::InvalidAnswer("token_type is not Bearer"));
        }
    }
    let lifetime = match v.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|s| *s > 0)
    .map(Duration::seconds)
    .unwrap_or(DEFAULT_TOKEN_LIFETIME);
    Ok(AccessToken {
        value: Secret::new(token.to_string()),
        expires_at: now + lifetime,
    })
}

pub use kyc_core::http::{HttpAnswer, TransportError};

/// An answer read up to a bound: whole, or (past the bound) only its size, digest and first
/// bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundedAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body, or what is known of it past the bound.
    pub body: QueueAnswer,
}

/// The two requests the drain needs. Implementations send exactly what they are given.
#[async_trait]
pub trait ApiTransport: Send + Sync {
    /// A GET with the given `Authorization`.
    async fn get(&self, url: &str, authorization: &Secret) -> Result<HttpAnswer, TransportError>;
    /// A form POST (the token request).
    async fn post_form(
        &self,
        url: &str,
        authorization: Option<&Secret>,
        body: &Secret,
    ) -> Result<HttpAnswer, TransportError>;
    /// A GET whose answer past `max_bytes` is not kept but streamed through SHA-256 (the
    /// fallback queue: one huge entry must never fail every run). By default, [`Self::get`]
    /// and the bound applied to what it read.
    async fn get_bounded(
        &self,
        url: &str,
        authorization: &Secret,
        max_bytes: usize,
    ) -> Result<BoundedAnswer, TransportError> {
        let answer = self.get(url, authorization).await?;
        Ok(BoundedAnswer {
            status: answer.status,
            body: QueueAnswer::bounded(answer.body, max_bytes),
        })
    }
}

/// Why an API call failed. Never carries a token or a body.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The request did not get an answer.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The token endpoint refused (400/401: client id, secret or scope wrong) or failed.
    #[error("token endpoint answered HTTP {status}")]
    Token {
        /// The token endpoint's HTTP status.
        status: u16,
    },
    /// The API refused a fresh token too (401 twice in a row).
    #[error("API answered 401 with a freshly issued token")]
    Unauthorized,
    /// The API answered another status than expected.
    #[error("API answered HTTP {status}")]
    Status {
        /// The API's HTTP status.
        status: u16,
    },
    /// The answer is not what the API documents (says what, never the body).
    #[error("{0}")]
    InvalidAnswer(&'static str),
    /// The client credentials secret could not be read.
    #[error("API credentials unavailable: {0}")]
    Credentials(String),
}

impl ApiError {
    /// Worth retrying at the next run without an operator (network, 408/425/429/5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Transport(_) => true,
            ApiError::Token { status } | ApiError::Status { status } => {
                matches!(status, 408 | 425 | 429) || (500..=599).contains(status)
            }
            _ => false,
        }
    }
}

/// The typed API client with its token cache (one per cold start).
pub struct XpollensApi {
    transport: Arc<dyn ApiTransport>,
    config: ApiConfig,
    credentials: Cached<ApiCredentials>,
    clock: Clock,
    refresh_margin: Duration,
    token: Mutex<Option<AccessToken>>,
    /// Queue answers past this are not kept ([`MAX_PAGE_BYTES`]; smaller in tests).
    max_page_bytes: usize,
}

impl XpollensApi {
    /// A client with the default refresh margin and page bound.
    pub fn new(
        transport: Arc<dyn ApiTransport>,
        config: ApiConfig,
        credentials: Cached<ApiCredentials>,
        clock: Clock,
    ) -> Self {
        Self {
            transport,
            config,
            credentials,
            clock,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            token: Mutex::new(None),
            max_page_bytes: MAX_PAGE_BYTES,
        }
    }

    /// A smaller bound of queue answers (tests of the oversized paths without 32 MiB pages).
    pub fn with_max_page_bytes(mut self, bytes: usize) -> Self {
        self.max_page_bytes = bytes;
        self
    }

    /// Another refresh margin of the cached token.
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    async fn fetch_token(&self) -> Result<AccessToken, ApiError> {
        let credentials = self
            .credentials
            .get()
            .await
            .map_err(|e| ApiError::Credentials(e.to_string()))?;
        let sent_at = (self.clock)();
        let request = token_request(&self.config, &credentials);
        let answer = self
            .transport
            .post_form(
                self.config.token_url(),
                request.authorization.as_ref(),
                &request.body,
            )
            .await?;
        if !(200..300).contains(&answer.status) {
            if matches!(answer.status, 400 | 401) {
                // Perhaps the secret was rotated: the next fetch rereads it (rate-limited).
                let _ = self.credentials.refreshed().await;
            }
            return Err(ApiError::Token {
                status: answer.status,
            });
        }
        parse_token_response(&answer.body, sent_at)
    }

    /// The cached token, or a new one when it is missing, near expiry, or `stale` (the API
    /// refused it).
    async fn token(&self, stale: Option<&Secret>) -> Result<Secret, ApiError> {
        let mut slot = self.token.lock().await;
        let now = (self.clock)();
        if let Some(t) = slot.as_ref() {
            let refused = stale.is_some_and(|s| s.expose() == t.authorization().expose());
            if !refused && t.fresh(now, self.refresh_margin) {
                return Ok(t.authorization());
            }
        }
        *slot = None;
        let fresh = self.fetch_token().await?;
        let authorization = fresh.authorization();
        *slot = Some(fresh);
        Ok(authorization)
    }

    /// GET with a bearer token, its answer bounded (`max_page_bytes`); a 401 renews the
    /// token once and repeats.
    async fn authorized_get(&self, url: &str) -> Result<QueueAnswer, ApiError> {
        let mut authorization = self.token(None).await?;
        for attempt in 0..2 {
            let answer = self
                .transport
                .get_bounded(url, &authorization, self.max_page_bytes)
                .await?;
            match answer.status {
                200..=299 => return Ok(answer.body),
                401 if attempt == 0 => {
                    tracing::info!("xpollens api: 401, renewing the access token once");
                    authorization = self.token(Some(&authorization)).await?;
                }
                401 => {
                    self.token.lock().await.take();
                    return Err(ApiError::Unauthorized);
                }
                status => return Err(ApiError::Status { status }),
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    /// `remove=false`: the oldest `limit` entries, left in the queue.
    pub async fn read_queue(&self, limit: u32) -> Result<QueueAnswer, ApiError> {
        self.authorized_get(&self.config.queue_url(limit, false))
            .await
    }

    /// `remove=true`: removes (and returns) the oldest `limit` entries.
    pub async fn remove_from_queue(&self, limit: u32) -> Result<QueueAnswer, ApiError> {
        self.authorized_get(&self.config.queue_url(limit, true))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use kyc_core::secrets::{StagedSecret, StaticSecrets};
    use std::collections::{HashMap, VecDeque};
    use std::sync::Mutex as StdMutex;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
    }

    fn config(auth: ClientAuth) -> ApiConfig {
        ApiConfig::new(
            "https://sb-api.xpollens.com/",
            "https://sb-auth.example/connect/token",
            Some("api webhooks"),
            auth,
        )
        .unwrap()
    }

    fn creds() -> ApiCredentials {
        ApiCredentials::from_secret_json(r#"{"clientId":"partner 1","clientSecret":"s3:cr&t"}"#)
            .unwrap()
    }

    #[test]
    fn urls_are_validated_and_built() {
        let c = config(ClientAuth::Basic);
        assert_eq!(
            c.queue_url(30, false),
            "https://sb-api.xpollens.com/api/v2.0/webhooks?limit=30&remove=false"
        );
        assert!(
            ApiConfig::new("http://api.example", "https://t", None, ClientAuth::Basic).is_err()
        );
        assert!(ApiConfig::new(
            "http://127.0.0.1:8080",
            "http://localhost:1/t",
            None,
            ClientAuth::Basic
        )
        .is_ok());
        assert!(ApiConfig::new("https://a?x=1", "https://t", None, ClientAuth::Basic).is_err());
        assert!(ApiConfig::new("ftp://a", "https://t", None, ClientAuth::Basic).is_err());
        assert!(ApiConfig::new("https://", "https://t", None, ClientAuth::Basic).is_err());
        assert_eq!("client_secret_post".parse(), Ok(ClientAuth::Body));
        assert!("digest".parse::<ClientAuth>().is_err());
    }

    #[test]
    fn token_request_in_basic_or_body_form_never_prints_the_secret() {
        let basic = token_request(&config(ClientAuth::Basic), &creds());
        assert_eq!(
            basic.body.expose(),
            "grant_type=client_credentials&scope=api+webhooks"
        );
        use base64::Engine;
        let header = basic.authorization.unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(header.expose().strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(decoded, b"partner+1:s3%3Acr%26t");
        let body = token_request(&config(ClientAuth::Body), &creds());
        assert!(body.authorization.is_none());
        assert_eq!(
            body.body.expose(),
            "grant_type=client_credentials&scope=api+webhooks&client_id=partner+1&client_secret=s3%3Acr%26t"
        );
        assert!(!format!("{:?} {:?}", body.body, creds()).contains("s3"));
        assert_eq!(
            ApiCredentials::from_secret_json(r#"{"clientId":"a"}"#)
                .unwrap_err()
                .to_string(),
            "missing clientSecret"
        );
    }

    #[test]
    fn token_answers_are_read_and_expire_early() {
        let t = parse_token_response(
            br#"{"access_token":"abc","token_type":"Bearer","expires_in":3600}"#,
            t0(),
        )
        .unwrap();
        assert_eq!(t.expires_at, t0() + Duration::seconds(3600));
        assert!(t.fresh(t0() + Duration::seconds(3539), DEFAULT_REFRESH_MARGIN));
        assert!(!t.fresh(t0() + Duration::seconds(3540), DEFAULT_REFRESH_MARGIN));
        assert_eq!(t.authorization().expose(), "Bearer abc");
        let t =
            parse_token_response(br#"{"access_token":"abc","expires_in":"120"}"#, t0()).unwrap();
        assert_eq!(t.expires_at, t0() + Duration::seconds(120));
        let t = parse_token_response(br#"{"access_token":"abc"}"#, t0()).unwrap();
        assert_eq!(t.expires_at, t0() + DEFAULT_TOKEN_LIFETIME);
        assert!(parse_token_response(br#"{"token_type":"Bearer"}"#, t0()).is_err());
        assert!(parse_token_response(br#"{"access_token":"a","token_type":"mac"}"#, t0()).is_err());
        assert!(parse_token_response(b"<html>", t0()).is_err());
    }

    /// A scripted transport: token answers and API answers, in order; records what it got.
    #[derive(Default)]
    struct Script {
        tokens: StdMutex<VecDeque<HttpAnswer>>,
        gets: StdMutex<VecDeque<HttpAnswer>>,
        sent: StdMutex<Vec<String>>,
    }

    fn ok(body: &str) -> HttpAnswer {
        HttpAnswer {
            status: 200,
            body: body.as_bytes().to_vec(),
            content_type: None,
        }
    }
    fn status(s: u16) -> HttpAnswer {
        HttpAnswer {
            status: s,
            body: vec![],
            content_type: None,
        }
    }

    #[async_trait]
    impl ApiTransport for Script {
        async fn get(&self, url: &str, auth: &Secret) -> Result<HttpAnswer, TransportError> {
            self.sent
                .lock()
                .unwrap()
                .push(format!("GET {url} {}", auth.expose()));
            self.gets
                .lock()
                .unwrap()
                .pop_front()
                .ok_or_else(|| TransportError("no scripted answer".into()))
        }
        async fn post_form(
            &self,
            url: &str,
            _: Option<&Secret>,
            _: &Secret,
        ) -> Result<HttpAnswer, TransportError> {
            self.sent.lock().unwrap().push(format!("POST {url}"));
            self.tokens
                .lock()
                .unwrap()
                .pop_front()
                .ok_or_else(|| TransportError("no scripted token".into()))
        }
    }

    fn api(script: Arc<Script>, now: Arc<StdMutex<DateTime<Utc>>>) -> XpollensApi {
        let secrets = Arc::new(StaticSecrets(HashMap::from([(
            "api".to_string(),
            StagedSecret {
                current: Secret::new(r#"{"clientId":"c","clientSecret":"s"}"#.into()),
                previous: None,
                current_since: None,
            },
        )])));
        XpollensApi::new(
            script,
            config(ClientAuth::Basic),
            Cached::new(secrets, "api", std::time::Duration::from_secs(300), |s| {
                ApiCredentials::from_secret_json(s.current.expose())
            }),
            Arc::new(move || *now.lock().unwrap()),
        )
    }

    fn token(v: &str, secs: u32) -> HttpAnswer {
        ok(&format!(
            r#"{{"access_token":"{v}","token_type":"Bearer","expires_in":{secs}}}"#
        ))
    }

    #[tokio::test]
    async fn the_token_is_cached_until_shortly_before_expiry() {
        let script = Arc::new(Script::default());
        script
            .tokens
            .lock()
            .unwrap()
            .extend([token("t1", 600), token("t2", 600)]);
        script
            .gets
            .lock()
            .unwrap()
            .extend([ok("[]"), ok("[]"), ok("[]")]);
        let now = Arc::new(StdMutex::new(t0()));
        let api = api(script.clone(), now.clone());
        api.read_queue(30).await.unwrap();
        *now.lock().unwrap() = t0() + Duration::seconds(539);
        api.read_queue(30).await.unwrap();
        *now.lock().unwrap() = t0() + Duration::seconds(540);
        api.remove_from_queue(3).await.unwrap();
        let sent = script.sent.lock().unwrap().clone();
        assert_eq!(
            sent,
            [
                "POST https://sb-auth.example/connect/token",
                "GET https://sb-api.xpollens.com/api/v2.0/webhooks?limit=30&remove=false Bearer t1",
                "GET https://sb-api.xpollens.com/api/v2.0/webhooks?limit=30&remove=false Bearer t1",
                "POST https://sb-auth.example/connect/token",
                "GET https://sb-api.xpollens.com/api/v2.0/webhooks?limit=3&remove=true Bearer t2",
            ]
        );
    }

    #[tokio::test]
    async fn a_401_renews_the_token_once_and_a_second_401_is_an_error() {
        let script = Arc::new(Script::default());
        script.tokens.lock().unwrap().extend([
            token("t1", 600),
            token("t2", 600),
            token("t3", 600),
        ]);
        script
            .gets
            .lock()
            .unwrap()
            .extend([status(401), ok("[1]"), status(401), status(401)]);
        let now = Arc::new(StdMutex::new(t0()));
        let api = api(script.clone(), now);
        assert_eq!(
            api.read_queue(30).await.unwrap(),
            QueueAnswer::Page(b"[1]".to_vec())
        );
        let err = api.read_queue(30).await.unwrap_err();
        assert!(matches!(err, ApiError::Unauthorized), "{err}");
        assert!(!err.is_transient());
        let sent = script.sent.lock().unwrap().clone();
        let posts = sent.iter().filter(|s| s.starts_with("POST")).count();
        assert_eq!(posts, 3, "{sent:?}");
        assert!(
            sent[3].ends_with("Bearer t2") && sent[6].ends_with("Bearer t3"),
            "{sent:?}"
        );
    }

    #[tokio::test]
    async fn token_endpoint_and_api_failures_are_classified() {
        let script = Arc::new(Script::default());
        script
            .tokens
            .lock()
            .unwrap()
            .extend([status(401), status(503), token("t", 600)]);
        script.gets.lock().unwrap().extend([status(500)]);
        let api = api(script, Arc::new(StdMutex::new(t0())));
        let e = api.read_queue(1).await.unwrap_err();
        assert!(matches!(e, ApiError::Token { status: 401 }) && !e.is_transient());
        let e = api.read_queue(1).await.unwrap_err();
        assert!(matches!(e, ApiError::Token { status: 503 }) && e.is_transient());
        let e = api.read_queue(1).await.unwrap_err();
        assert!(matches!(e, ApiError::Status { status: 500 }) && e.is_transient());
    }
}

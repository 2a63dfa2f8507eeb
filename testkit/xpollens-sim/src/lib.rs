//! A local Xpollens API simulator, for tests, benchmarks and the demo.
//!
//! It serves, on 127.0.0.1 and an ephemeral port, what the webhooks guide describes
//! (`shared/reference/PROVIDERS.md`, "Webhook manager: fallback queue, retries, auth"):
//!
//! | route | behaviour |
//! | --- | --- |
//! | `POST /connect/token` | OAuth2 client credentials (RFC 6749 §4.4): client authenticated by HTTP Basic or by `client_id`/`client_secret` in the form (not both); `scope` must be the configured one when one is configured → `{access_token, token_type: "Bearer", expires_in}`; bad client → 401 `invalid_client`; other grant → 400 `unsupported_grant_type`; wrong scope → 400 `invalid_scope` |
//! | `GET /api/v2.0/webhooks?limit=N&remove=false\|true` | bearer token issued here and not expired/revoked (else 401 `invalid_token`); `limit` 1..=`max_limit` (30 as in the sandbox; else 400) → JSON array of the OLDEST `limit` entries; `remove=true` also removes exactly those |
//!
//! The queue holds one entry PER DELIVERY ATTEMPT (same `metadata.id`), in the documented
//! shape `{"metadata": {"id", "processDate", "type"?, "version"?}, "payload", "response":
//! {"pushDate", "duration", "httpStatusCode", "body"}}`; `httpStatusCode` is null when the
//! attempt got no answer, else `"200 (OK)"`-style text. The payload is embedded as the exact
//! JSON text that was sent (or as a JSON string, see [`PayloadForm`]).
//!
//! Where the guide is silent the choice is the simulator's: tokens are opaque random strings
//! living `token_ttl`; `limit` missing → 400; `remove` missing → false; the answer of
//! `remove=true` is the removed entries.
//!
//! Faults per endpoint ([`XpollensSim::set_fault`]): a status before processing (nothing
//! removed), a status AFTER processing (entries removed, answer lost), latency; tokens can be
//! revoked at once ([`XpollensSim::revoke_tokens`]) to force 401s.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration as StdDuration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub const TOKEN_PATH: &str = "/connect/token";
pub const QUEUE_PATH: &str = "/api/v2.0/webhooks";

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Scope the token endpoint requires (`None`: any or none accepted).
    pub scope: Option<String>,
    pub token_ttl: Duration,
    /// Largest `limit` accepted (sandbox: 30, production: 100).
    pub max_limit: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            client_id: "sim-partner".into(),
            client_secret: "sim-partner-secret".into(),
            scope: Some("webhooks".into()),
            token_ttl: Duration::minutes(60),
            max_limit: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Token,
    /// `remove=false`.
    QueueRead,
    /// `remove=true`.
    QueueRemove,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this status without doing anything.
    Status(u16),
    /// Do the work (remove the entries), then answer this status: the answer is lost.
    StatusAfterProcessing(u16),
    /// Wait this long first.
    Latency(StdDuration),
}

#[derive(Debug, Clone, Copy)]
pub struct Fault {
    pub kind: FaultKind,
    /// `None`: until cleared.
    pub remaining: Option<u32>,
}

impl Fault {
    pub fn always(kind: FaultKind) -> Self {
        Self {
            kind,
            remaining: None,
        }
    }
    pub fn times(kind: FaultKind, n: u32) -> Self {
        Self {
            kind,
            remaining: Some(n),
        }
    }
}

/// How an entry's `payload` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadForm {
    /// The body's JSON text, embedded as is.
    #[default]
    Embedded,
    /// The body as a JSON string (`"payload": "{\"type\":...}"`).
    String,
    /// The body parsed and written again (indented): the queue's bytes differ from what was
    /// POSTed live, the JSON does not.
    Reserialized,
}

/// How `metadata.processDate` is written (both seen in the guide's examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateForm {
    /// `2023-12-18T13:05:14.9053587+00:00`
    #[default]
    WithOffset,
    /// `2024-09-24T22:10:24.1234567` (no offset)
    WithoutOffset,
}

/// One callback Xpollens sent, and what each delivery attempt got.
#[derive(Debug, Clone)]
pub struct Callback {
    pub webhook_id: String,
    pub process_date: DateTime<Utc>,
    pub date_form: DateForm,
    /// `metadata.type` (omitted when `None`, as in some entries).
    pub callback_type: Option<String>,
    pub version: Option<String>,
    /// The exact body sent (JSON text).
    pub body: String,
    pub payload_form: PayloadForm,
    /// One element per attempt: the status we answered, `None` = no answer (timeout, outage).
    pub attempts: Vec<Option<u16>>,
    /// A query string the entry keeps beside an empty payload (`queryString`): whether the
    /// real queue keeps one for #15 is not documented; both cases are simulated.
    pub query_string: Option<String>,
}

impl Callback {
    pub fn new(webhook_id: &str, process_date: DateTime<Utc>, body: &str) -> Self {
        Self {
            webhook_id: webhook_id.into(),
            process_date,
            date_form: DateForm::WithOffset,
            callback_type: serde_json::from_str::<Value>(body).ok().and_then(|v| {
                match v.get("type") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                }
            }),
            version: None,
            body: body.into(),
            payload_form: PayloadForm::Embedded,
            attempts: vec![None],
            query_string: None,
        }
    }
    /// `metadata.type`, for a body that does not name it (a query-string callback).
    pub fn of_type(mut self, callback_type: &str) -> Self {
        self.callback_type = Some(callback_type.into());
        self
    }
    pub fn with_query_string(mut self, query: &str) -> Self {
        self.query_string = Some(query.into());
        self
    }
    pub fn attempts(mut self, attempts: &[Option<u16>]) -> Self {
        self.attempts = attempts.to_vec();
        self
    }
    pub fn payload_form(mut self, form: PayloadForm) -> Self {
        self.payload_form = form;
        self
    }
    pub fn date_form(mut self, form: DateForm) -> Self {
        self.date_form = form;
        self
    }
    pub fn without_type(mut self) -> Self {
        self.callback_type = None;
        self
    }
}

/// `"200 (OK)"`-style text, as the queue shows it.
pub fn status_text(status: u16) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    format!("{status} ({reason})")
}

/// .NET-style round-trip date: 7 fractional digits, with or without the offset.
pub fn format_process_date(at: DateTime<Utc>, form: DateForm) -> String {
    let base = at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let ticks = at.timestamp_subsec_nanos() / 100;
    match form {
        DateForm::WithOffset => format!("{base}.{ticks:07}+00:00"),
        DateForm::WithoutOffset => format!("{base}.{ticks:07}"),
    }
}

#[derive(Serialize)]
struct Metadata<'a> {
    id: &'a str,
    #[serde(rename = "processDate")]
    process_date: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    callback_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    metadata: Metadata<'a>,
    payload: Box<RawValue>,
    #[serde(rename = "queryString", skip_serializing_if = "Option::is_none")]
    query_string: Option<&'a str>,
    response: Value,
}

/// One queue entry (one delivery attempt).
#[derive(Debug, Clone)]
struct Entry {
    callback: Arc<Callback>,
    attempt: usize,
    push_date: DateTime<Utc>,
}

impl Entry {
    fn render(&self) -> EntryOut<'_> {
        let c = &self.callback;
        let payload = match c.payload_form {
            PayloadForm::Embedded => RawValue::from_string(c.body.clone()),
            PayloadForm::String => RawValue::from_string(Value::String(c.body.clone()).to_string()),
            PayloadForm::Reserialized => serde_json::from_str::<Value>(&c.body)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .and_then(RawValue::from_string),
        }
        .unwrap_or_else(|_| {
            RawValue::from_string(Value::String(c.body.clone()).to_string())
                .expect("a JSON string is valid JSON")
        });
        let status = c.attempts[self.attempt];
        EntryOut {
            metadata: Metadata {
                id: &c.webhook_id,
                process_date: format_process_date(c.process_date, c.date_form),
                callback_type: c.callback_type.as_deref(),
                version: c.version.as_deref(),
            },
            payload,
            query_string: c.query_string.as_deref(),
            response: json!({
                "pushDate": self.push_date.to_rfc3339_opts(SecondsFormat::Micros, false),
                "duration": if status.is_some() { "00:00:00.1200000" } else { "00:00:30.0000000" },
                "httpStatusCode": status.map(status_text),
                "body": match status {
                    Some(s) if (200..300).contains(&s) => r#"{"status":"accepted"}"#,
                    Some(_) => r#"{"error":"refused"}"#,
                    None => "",
                },
            }),
        }
    }
}

/// A removal the simulator carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub limit: u32,
    pub removed: usize,
    /// The answer was lost (fault after processing).
    pub answer_lost: bool,
}

#[derive(Default)]
struct Model {
    queue: VecDeque<Entry>,
    tokens: HashMap<String, DateTime<Utc>>,
    revoked: HashSet<String>,
    issued: u64,
    faults: HashMap<Endpoint, Vec<Fault>>,
    requests: HashMap<Endpoint, u64>,
    /// Requests whose handling ended: answered, or dropped with the client's connection.
    settled: HashMap<Endpoint, u64>,
    removals: Vec<Removal>,
    clock_offset: Duration,
}

#[derive(Default)]
struct FaultPlan {
    latency: StdDuration,
    before: Option<u16>,
    after: Option<u16>,
}

impl Model {
    fn arrive(&mut self, endpoint: Endpoint) -> FaultPlan {
        *self.requests.entry(endpoint).or_default() += 1;
        let mut plan = FaultPlan::default();
        if let Some(list) = self.faults.get_mut(&endpoint) {
            for fault in list.iter_mut() {
                match fault.kind {
                    FaultKind::Latency(d) => plan.latency += d,
                    FaultKind::Status(s) if plan.before.is_none() => plan.before = Some(s),
                    FaultKind::StatusAfterProcessing(s) if plan.after.is_none() => {
                        plan.after = Some(s)
                    }
                    _ => continue,
                }
                if let Some(n) = fault.remaining.as_mut() {
                    *n = n.saturating_sub(1);
                }
            }
            list.retain(|f| f.remaining != Some(0));
        }
        plan
    }
}

struct Shared {
    config: SimConfig,
    model: Mutex<Model>,
}

impl Shared {
    fn model(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.model().clock_offset
    }
}

/// A running simulator; dropping it stops the server.
pub struct XpollensSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl XpollensSim {
    /// Binds 127.0.0.1 on an ephemeral port. Needs a Tokio runtime.
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            config,
            model: Mutex::new(Model::default()),
        });
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route(TOKEN_PATH, post(token))
            .route(QUEUE_PATH, get(queue))
            .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such route") })
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { shared, addr, task })
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }
    /// `http://127.0.0.1:PORT` (the API base URL).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base_url())
    }
    /// The secret value the drain reads: `{"clientId","clientSecret"}`.
    pub fn credentials_json(&self) -> String {
        json!({"clientId": self.shared.config.client_id, "clientSecret": self.shared.config.client_secret})
            .to_string()
    }

    /// Appends one entry per attempt of `callback` (attempts of one callback are adjacent:
    /// Xpollens retries within minutes).
    pub fn push(&self, callback: Callback) {
        let now = self.shared.now();
        let callback = Arc::new(callback);
        let mut m = self.shared.model();
        for attempt in 0..callback.attempts.len() {
            m.queue.push_back(Entry {
                callback: callback.clone(),
                attempt,
                push_date: now,
            });
        }
    }
    /// Entries (attempts) in the queue.
    pub fn queue_len(&self) -> usize {
        self.shared.model().queue.len()
    }
    /// `metadata.id` of each entry, oldest first.
    pub fn queued_ids(&self) -> Vec<String> {
        self.shared
            .model()
            .queue
            .iter()
            .map(|e| e.callback.webhook_id.clone())
            .collect()
    }
    /// Every token issued so far stops working (the API answers 401 until a new one is taken).
    pub fn revoke_tokens(&self) {
        let mut m = self.shared.model();
        let all: Vec<String> = m.tokens.keys().cloned().collect();
        m.revoked.extend(all);
    }
    /// Moves the simulator's clock (tokens expire).
    pub fn advance(&self, by: Duration) {
        self.shared.model().clock_offset += by;
    }
    pub fn tokens_issued(&self) -> u64 {
        self.shared.model().issued
    }
    pub fn request_count(&self, endpoint: Endpoint) -> u64 {
        self.shared
            .model()
            .requests
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }
    /// Requests to `endpoint` whose handling has ended (answered, or abandoned when the client
    /// went away): a test waits for it to equal [`XpollensSim::request_count`] instead of
    /// sleeping past an injected latency.
    pub fn settled_count(&self, endpoint: Endpoint) -> u64 {
        self.shared
            .model()
            .settled
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }
    pub fn removals(&self) -> Vec<Removal> {
        self.shared.model().removals.clone()
    }
    /// Several faults may stack: latencies add up, the first status wins.
    pub fn set_fault(&self, endpoint: Endpoint, fault: Fault) {
        self.shared
            .model()
            .faults
            .entry(endpoint)
            .or_default()
            .push(fault);
    }
    pub fn clear_faults(&self) {
        self.shared.model().faults.clear();
    }
}

impl Drop for XpollensSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

/// Counts a request as settled when dropped: at the end of its handler, or when the server
/// abandons the handler because the client closed the connection.
struct Settles<'a> {
    shared: &'a Shared,
    endpoint: Endpoint,
}

impl Drop for Settles<'_> {
    fn drop(&mut self) {
        *self
            .shared
            .model()
            .settled
            .entry(self.endpoint)
            .or_default() += 1;
    }
}

async fn apply_faults(shared: &Shared, endpoint: Endpoint) -> Result<Option<u16>, Response> {
    let plan = shared.model().arrive(endpoint);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    if let Some(status) = plan.before {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Err(error(code, "simulated_fault", "simulated fault"));
    }
    Ok(plan.after)
}

/// Client authentication: exactly one of HTTP Basic and form fields (RFC 6749 §2.3).
fn client_of(headers: &HeaderMap, form: &HashMap<String, String>) -> Option<(String, String)> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode = |s: &str| -> String {
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Some((decode(id), decode(secret)))
        });
    let in_form = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    };
    match (basic, in_form) {
        (Some(b), None) => Some(b),
        (None, Some(f)) => Some(f),
        _ => None,
    }
}

async fn token(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let after = match apply_faults(&s, Endpoint::Token).await {
        Ok(after) => after,
        Err(r) => return r,
    };
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let cfg = &s.config;
    match client_of(&headers, &form) {
        Some((id, secret)) if id == cfg.client_id && secret == cfg.client_secret => {}
        _ => {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            );
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            return r;
        }
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials",
        );
    }
    if let Some(required) = &cfg.scope {
        if form.get("scope") != Some(required) {
            return error(StatusCode::BAD_REQUEST, "invalid_scope", "unknown scope");
        }
    }
    let now = s.now();
    let mut m = s.model();
    m.issued += 1;
    let value = format!(
        "sim-at.{}.{}",
        m.issued,
        now.timestamp_nanos_opt().unwrap_or(0)
    );
    m.tokens.insert(value.clone(), now + cfg.token_ttl);
    drop(m);
    if let Some(status) = after {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(code, "simulated_fault", "simulated fault");
    }
    axum::Json(json!({
        "access_token": value,
        "token_type": "Bearer",
        "expires_in": cfg.token_ttl.num_seconds(),
        "scope": cfg.scope,
    }))
    .into_response()
}

fn invalid_token() -> Response {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "missing, expired or revoked token",
    );
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r
}

async fn queue(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params: HashMap<String, String> = form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let remove = match params.get("remove").map(|r| r.to_ascii_lowercase()) {
        None => false,
        Some(r) if r == "false" => false,
        Some(r) if r == "true" => true,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "remove=true|false",
            )
        }
    };
    let endpoint = if remove {
        Endpoint::QueueRemove
    } else {
        Endpoint::QueueRead
    };
    let _settles = Settles {
        shared: &s,
        endpoint,
    };
    let after = match apply_faults(&s, endpoint).await {
        Ok(after) => after,
        Err(r) => return r,
    };
    let now = s.now();
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let mut m = s.model();
    let authorised = bearer
        .is_some_and(|t| !m.revoked.contains(&t) && m.tokens.get(&t).is_some_and(|exp| now < *exp));
    if !authorised {
        return invalid_token();
    }
    let max = s.config.max_limit;
    let Some(limit) = params
        .get("limit")
        .and_then(|l| l.parse::<u32>().ok())
        .filter(|l| (1..=max).contains(l))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("limit must be 1 to {max}"),
        );
    };
    let n = (limit as usize).min(m.queue.len());
    let taken: Vec<Entry> = if remove {
        m.queue.drain(..n).collect()
    } else {
        m.queue.iter().take(n).cloned().collect()
    };
    if remove {
        m.removals.push(Removal {
            limit,
            removed: n,
            answer_lost: after.is_some(),
        });
    }
    drop(m);
    if let Some(status) = after {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(code, "simulated_fault", "simulated fault");
    }
    let page: Vec<EntryOut<'_>> = taken.iter().map(Entry::render).collect();
    match serde_json::to_vec(&page) {
        Ok(body) => (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/json; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "render",
            "cannot render page",
        ),
    }
}

// The product's Xpollens API client and queue model against the simulator.
#[cfg(test)]
mod contract_tests;

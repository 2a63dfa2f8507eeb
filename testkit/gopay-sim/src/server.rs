//! HTTP plumbing (axum): routes of the two GoPay hosts and the simulator's admin routes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tokio::sync::watch;

use crate::clock::SimClock;
use crate::config::{ConsentBehaviour, Endpoint, Fault, FaultKind, ProfileSpec, SubjectSpec};
use crate::model::{Model, Reply, TokenUseOutcome};

pub(crate) struct Shared {
    pub clock: SimClock,
    pub model: Mutex<Model>,
    pub shutdown: watch::Receiver<bool>,
    pub hang_for: std::time::Duration,
}

impl Shared {
    pub(crate) fn model(&self) -> std::sync::MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type S = State<Arc<Shared>>;

fn header(headers: &HeaderMap, name: axum::http::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn respond(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply.body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    if let Some(location) = reply.location {
        if let Ok(v) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(LOCATION, v);
        }
    }
    response
}

fn fault_reply(status: u16) -> Reply {
    let name = match status {
        403 => "UNAUTHORIZED",
        404 => "NOT_FOUND",
        409 => "VALIDATION_ERROR",
        429 => "TOO_MANY_REQUESTS",
        500 => "INTERNAL_ERROR",
        503 => "SERVICE_UNAVAILABLE",
        _ => "SIMULATED_FAULT",
    };
    Reply::rest_error(status, name, "simulated fault")
}

/// Runs one request: counts it, applies its faults, then `handler` under the model lock.
async fn run(
    shared: &Shared,
    endpoint: Endpoint,
    handler: impl FnOnce(&mut Model, DateTime<Utc>) -> Reply,
) -> Response {
    let plan = shared.model().arrive(endpoint);
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    if plan.hang {
        let mut stop = shared.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(shared.hang_for) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
        return respond(fault_reply(504));
    }
    if let Some(status) = plan.before {
        if plan.html {
            return respond(Reply {
                status,
                content_type: "text/html; charset=utf-8",
                body: format!("<html><head><title>{status}</title></head><body><h1>Request blocked</h1></body></html>").into_bytes(),
                location: None,
            });
        }
        return respond(fault_reply(status));
    }
    let now = shared.clock.now();
    let reply = handler(&mut shared.model(), now);
    match plan.after {
        Some(status) => respond(fault_reply(status)),
        None => respond(reply),
    }
}

async fn login_app(State(s): S, headers: HeaderMap) -> Response {
    let auth = header(&headers, AUTHORIZATION);
    run(&s, Endpoint::LoginApp, |m, now| {
        m.login_app(now, auth.as_deref())
    })
    .await
}

async fn consent(State(s): S, RawQuery(q): RawQuery) -> Response {
    let response = run(&s, Endpoint::Consent, |m, now| m.consent(now, q.as_deref())).await;
    // The customer's time at GoPay (registration, login) passes before the redirect back.
    let journey = std::mem::replace(&mut s.model().journey, Duration::zero());
    if journey > Duration::zero() {
        s.clock.advance(journey);
    }
    response
}

async fn token(State(s): S, body: Bytes) -> Response {
    run(&s, Endpoint::Token, |m, now| m.token(now, &body)).await
}

async fn revoke(State(s): S, body: Bytes) -> Response {
    run(&s, Endpoint::Revoke, |m, _| m.revoke(&body)).await
}

async fn status(State(s): S, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let auth = header(&headers, AUTHORIZATION);
    run(&s, Endpoint::IdentificationStatus, |m, now| {
        m.status(now, &id, auth.as_deref())
    })
    .await
}

async fn pdf(
    State(s): S,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let auth = header(&headers, AUTHORIZATION);
    run(&s, Endpoint::IdentificationPdf, |m, now| {
        m.pdf(now, &id, q.as_deref(), auth.as_deref())
    })
    .await
}

async fn prefill(State(s): S, headers: HeaderMap, body: Bytes) -> Response {
    let auth = header(&headers, AUTHORIZATION);
    let ct = header(&headers, CONTENT_TYPE);
    run(&s, Endpoint::Prefill, |m, now| {
        m.prefill_create(now, auth.as_deref(), ct.as_deref(), &body)
    })
    .await
}

async fn identification_page() -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><body>GoPay identification (simulated)</body></html>",
    )
        .into_response()
}

async fn not_found() -> Response {
    respond(Reply::rest_error(404, "NOT_FOUND", "no such service"))
}

fn query_map(q: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// `POST /_sim/advance?seconds=N`: moves the clock.
async fn admin_advance(State(s): S, RawQuery(q): RawQuery) -> Response {
    let Some(secs) = query_map(q.as_deref())
        .get("seconds")
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return respond(Reply::rest_error(409, "INVALID", "seconds=N is required"));
    };
    s.clock.advance(Duration::seconds(secs));
    axum::Json(json!({ "now": s.clock.now().to_rfc3339() })).into_response()
}

/// `GET /_sim/stats`: clock, refresh-token uses and reuses, request counts.
async fn admin_stats(State(s): S) -> Response {
    let now = s.clock.now();
    let m = s.model();
    let reuses = m
        .token_uses
        .iter()
        .filter(|u| u.outcome == TokenUseOutcome::RejectedAlreadyUsed)
        .count();
    let requests: serde_json::Map<String, serde_json::Value> = Endpoint::ALL
        .iter()
        .map(|e| {
            (
                e.name().to_string(),
                json!(m.requests.get(e).copied().unwrap_or(0)),
            )
        })
        .collect();
    axum::Json(json!({
        "now": now.to_rfc3339(),
        "refreshTokenUses": m.token_uses.len(),
        "refreshTokenReuses": reuses,
        "authorizationCodeReuses": m.code_reuses,
        "requests": requests,
    }))
    .into_response()
}

/// `POST /_sim/next-consent?behaviour=grant|deny[&firstName=&lastName=&dateOfBirth=]
/// [&journeySeconds=N][&state=IDENTIFIED[&reasons=A,B]]`: the next `/consent` creates this
/// customer (identified as these names, spending N seconds at GoPay, in this identification
/// state with these reasons).
async fn admin_next_consent(State(s): S, RawQuery(q): RawQuery) -> Response {
    let params = query_map(q.as_deref());
    let mut spec = match params.get("behaviour").map(String::as_str) {
        Some("deny") => ProfileSpec {
            consent: ConsentBehaviour::Deny,
            ..ProfileSpec::default()
        },
        Some("grant") | None => ProfileSpec::default(),
        Some(_) => return respond(Reply::rest_error(409, "INVALID", "behaviour=grant|deny")),
    };
    if let (Some(first), Some(last), Some(born)) = (
        params.get("firstName"),
        params.get("lastName"),
        params.get("dateOfBirth"),
    ) {
        spec.subject = Some(SubjectSpec::new(first, last, born));
    }
    if let Some(secs) = params
        .get("journeySeconds")
        .and_then(|v| v.parse::<i64>().ok())
    {
        spec.journey = Duration::seconds(secs.max(0));
    }
    if let Some(state) = params.get("state") {
        // `reasons=A,B`: GoPay's reasons beside the state (e.g. EXPIRED_IDENT_DOCUMENT).
        let reasons: Vec<&str> = params
            .get("reasons")
            .map(|r| r.split(',').filter(|r| !r.is_empty()).collect())
            .unwrap_or_default();
        spec.script = crate::config::Script::constant(state, &reasons);
    }
    let now = s.clock.now();
    let mut m = s.model();
    let id = m.add_profile(spec, now);
    m.enqueue_consent(id);
    axum::Json(json!({ "profileId": id })).into_response()
}

/// `POST /_sim/fault?endpoint=token&status=500|after=500|latencyMs=N|hang=1[&times=N]`;
/// `DELETE /_sim/fault[?endpoint=…]` clears.
async fn admin_fault(State(s): S, RawQuery(q): RawQuery) -> Response {
    let p = query_map(q.as_deref());
    let Some(endpoint) = p.get("endpoint").and_then(|e| Endpoint::from_name(e)) else {
        return respond(Reply::rest_error(
            409,
            "INVALID",
            "endpoint=<name> is required",
        ));
    };
    let num = |k: &str| p.get(k).and_then(|v| v.parse::<u64>().ok());
    let kind = if let Some(st) = num("status") {
        FaultKind::Status(st as u16)
    } else if let Some(st) = num("html") {
        FaultKind::Html(st as u16)
    } else if let Some(st) = num("after") {
        FaultKind::StatusAfterProcessing(st as u16)
    } else if let Some(ms) = num("latencyMs") {
        FaultKind::Latency(std::time::Duration::from_millis(ms))
    } else if p.contains_key("hang") {
        FaultKind::Hang
    } else {
        return respond(Reply::rest_error(
            409,
            "INVALID",
            "status, after, latencyMs or hang",
        ));
    };
    let fault = match num("times") {
        Some(n) => Fault::times(kind, n as u32),
        None => Fault::always(kind),
    };
    s.model().set_fault(endpoint, fault);
    axum::Json(json!({ "endpoint": endpoint.name() })).into_response()
}

async fn admin_clear_fault(State(s): S, RawQuery(q): RawQuery) -> Response {
    let endpoint = query_map(q.as_deref())
        .get("endpoint")
        .and_then(|e| Endpoint::from_name(e));
    s.model().clear_faults(endpoint);
    axum::Json(json!({ "cleared": true })).into_response()
}

/// The authorisation service (`auth.…`) and the simulator's admin routes.
pub(crate) fn auth_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/login/app", get(login_app))
        .route("/consent", get(consent))
        .route("/api/token", post(token))
        .route("/api/revoke", post(revoke))
        .route("/_sim/advance", post(admin_advance))
        .route("/_sim/stats", get(admin_stats))
        .route("/_sim/next-consent", post(admin_next_consent))
        .route("/_sim/fault", post(admin_fault).delete(admin_clear_fault))
}

/// The identification service (`client.…`).
pub(crate) fn client_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/api/client-profile/{id}/identification-status",
            get(status),
        )
        .route("/api/client-profile/{id}/identification-pdf", get(pdf))
        .route("/api/prefill-client-data", post(prefill))
        .route("/identification", get(identification_page))
}

/// Routes plus the 404 fallback, bound to the shared state.
pub(crate) fn app(routes: Router<Arc<Shared>>, shared: Arc<Shared>) -> Router {
    routes.fallback(not_found).with_state(shared)
}

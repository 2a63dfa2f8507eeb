//! Contract: kyc-xpollens' Xpollens API client (token, cache, 401 renewal) and queue
//! model (entry shape, repeated ids, null status codes, dates) against the simulator, over
//! HTTP on 127.0.0.1 through the production reqwest adapter.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use crate::{Callback, DateForm, Endpoint, Fault, FaultKind, PayloadForm, SimConfig, XpollensSim};
use chrono::{DateTime, Duration, TimeZone, Utc};
use kyc_core::redact::Secret;
use kyc_core::secrets::{Cached, StagedSecret, StaticSecrets};
use kyc_xpollens::api::{
    token_request, ApiConfig, ApiCredentials, ApiError, ClientAuth, XpollensApi,
};
use kyc_xpollens::dates::parse_process_date;
use kyc_xpollens::http::ReqwestApiTransport;
use kyc_xpollens::queue::group_page;

fn at(s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, s).unwrap() + Duration::nanoseconds(123_456_700)
}

fn api_with(sim: &XpollensSim, auth: ClientAuth, secret_json: String) -> XpollensApi {
    let secrets = Arc::new(StaticSecrets(
        [(
            "api".to_string(),
            StagedSecret {
                current: Secret::new(secret_json),
                previous: None,
                current_since: None,
            },
        )]
        .into(),
    ));
    XpollensApi::new(
        Arc::new(ReqwestApiTransport::new(StdDuration::from_secs(2)).unwrap()),
        ApiConfig::new(&sim.base_url(), &sim.token_url(), Some("webhooks"), auth).unwrap(),
        Cached::new(secrets, "api", StdDuration::from_secs(300), |s| {
            ApiCredentials::from_secret_json(s.current.expose())
        }),
        Arc::new(Utc::now),
    )
}

fn api(sim: &XpollensSim) -> XpollensApi {
    api_with(sim, ClientAuth::Basic, sim.credentials_json())
}

async fn start() -> XpollensSim {
    XpollensSim::start(SimConfig::default()).await.unwrap()
}

#[tokio::test]
async fn token_endpoint_accepts_basic_or_body_client_auth_and_refuses_bad_clients() {
    let sim = start().await;
    for auth in [ClientAuth::Basic, ClientAuth::Body] {
        assert_eq!(
            api_with(&sim, auth, sim.credentials_json())
                .read_queue(30)
                .await
                .unwrap()
                .page()
                .unwrap(),
            b"[]"
        );
    }
    assert_eq!(sim.tokens_issued(), 2);
    let wrong = r#"{"clientId":"sim-partner","clientSecret":"nope"}"#.to_string();
    let e = api_with(&sim, ClientAuth::Body, wrong)
        .read_queue(30)
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::Token { status: 401 }), "{e}");

    // Raw requests: both client-auth methods at once, another grant, another scope.
    let http = kyc_core::http::client(std::time::Duration::from_secs(10)).unwrap();
    let creds = ApiCredentials::from_secret_json(&sim.credentials_json()).unwrap();
    let cfg = |scope| {
        ApiConfig::new(&sim.base_url(), &sim.token_url(), scope, ClientAuth::Basic).unwrap()
    };
    let both = token_request(&cfg(Some("webhooks")), &creds);
    let r = http
        .post(sim.token_url())
        .header("authorization", both.authorization.unwrap().expose())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "{}&client_id=sim-partner&client_secret=sim-partner-secret",
            both.body.expose()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let other_scope = token_request(&cfg(Some("cards")), &creds);
    let r = http
        .post(sim.token_url())
        .header("authorization", other_scope.authorization.unwrap().expose())
        .body(other_scope.body.expose().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid_scope"));
}

#[tokio::test]
async fn a_page_has_the_documented_shape_with_one_entry_per_attempt() {
    let sim = start().await;
    let kyc = r#"{"type":"4","status":"Pending","appUserId":"u1","kycLevel":"Standard"}"#;
    sim.push(Callback::new("id-1", at(1), kyc).attempts(&[None, Some(500), Some(202)]));
    sim.push(
        Callback::new("id-2", at(2), r#"{"Header":{"Type":36},"Payload":null}"#)
            .payload_form(PayloadForm::String)
            .date_form(DateForm::WithoutOffset)
            .without_type(),
    );
    let raw = api(&sim).read_queue(30).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(raw.page().unwrap()).unwrap();
    let first = &v[0];
    assert_eq!(first["metadata"]["id"], "id-1");
    assert_eq!(
        first["metadata"]["processDate"],
        "2026-11-20T10:00:01.1234567+00:00"
    );
    assert_eq!(first["metadata"]["type"], "4");
    assert!(first["response"]["httpStatusCode"].is_null());
    assert_eq!(
        v[1]["response"]["httpStatusCode"],
        "500 (Internal Server Error)"
    );
    assert_eq!(v[2]["response"]["httpStatusCode"], "202 (Accepted)");
    assert!(v[3]["metadata"].get("type").is_none());
    assert_eq!(
        v[3]["metadata"]["processDate"],
        "2026-11-20T10:00:02.1234567"
    );
    assert!(v[3]["payload"].is_string());

    let page = group_page(raw.page().unwrap()).unwrap();
    assert_eq!(page.entry_count, 4);
    assert_eq!(page.deliveries.len(), 2);
    let d = &page.deliveries[0];
    assert_eq!(d.body, kyc.as_bytes(), "payload is the body as sent");
    assert_eq!(d.attempts.len(), 3);
    assert!(d.answered_live());
    assert_eq!(
        parse_process_date(d.process_date.as_deref().unwrap()),
        Some(at(1))
    );
    let d = &page.deliveries[1];
    assert_eq!(d.body, br#"{"Header":{"Type":36},"Payload":null}"#);
    assert!(!d.answered_live());
    assert_eq!(d.type_hint, None);
    assert_eq!(sim.queue_len(), 4, "remove=false leaves the entries");
}

#[tokio::test]
async fn remove_removes_exactly_the_oldest_n_and_returns_them() {
    let sim = start().await;
    for i in 0..5 {
        sim.push(Callback::new(&format!("e{i}"), at(i), r#"{"type":"16"}"#));
    }
    let api = api(&sim);
    let read = group_page(api.read_queue(2).await.unwrap().page().unwrap()).unwrap();
    assert_eq!(read.entry_ids, [Some("e0".into()), Some("e1".into())]);
    // An entry arriving between read and remove must survive the removal.
    sim.push(Callback::new("late", at(9), r#"{"type":"16"}"#));
    let removed = group_page(api.remove_from_queue(2).await.unwrap().page().unwrap()).unwrap();
    assert_eq!(removed.entry_ids, read.entry_ids);
    assert_eq!(sim.queued_ids(), ["e2", "e3", "e4", "late"]);
    let rest = group_page(api.remove_from_queue(30).await.unwrap().page().unwrap()).unwrap();
    assert_eq!(rest.entry_count, 4);
    assert_eq!(sim.queue_len(), 0);
    assert_eq!(
        group_page(api.read_queue(30).await.unwrap().page().unwrap())
            .unwrap()
            .entry_count,
        0
    );
}

#[tokio::test]
async fn limits_tokens_and_faults_behave_as_documented() {
    let sim = start().await;
    sim.push(Callback::new("a", at(0), r#"{"type":"16"}"#));
    let api = api(&sim);
    // Sandbox limit.
    let e = api.read_queue(31).await.unwrap_err();
    assert!(matches!(e, ApiError::Status { status: 400 }), "{e}");
    // Revoked token: one renewal, then the read works.
    sim.revoke_tokens();
    let issued = sim.tokens_issued();
    api.read_queue(30).await.unwrap();
    assert_eq!(sim.tokens_issued(), issued + 1);
    // Expired token (the simulator's clock moves past the lifetime): renewed too.
    sim.advance(Duration::minutes(61));
    api.read_queue(30).await.unwrap();
    assert_eq!(sim.tokens_issued(), issued + 2);
    // Injected 5xx once, before processing.
    sim.set_fault(Endpoint::QueueRead, Fault::times(FaultKind::Status(503), 1));
    let e = api.read_queue(30).await.unwrap_err();
    assert!(matches!(e, ApiError::Status { status: 503 }) && e.is_transient());
    assert!(api.read_queue(30).await.unwrap().page().unwrap().len() > 2);
    // A removal whose answer is lost still removed the entries.
    sim.set_fault(
        Endpoint::QueueRemove,
        Fault::times(FaultKind::StatusAfterProcessing(502), 1),
    );
    assert!(api.remove_from_queue(1).await.is_err());
    assert_eq!(sim.queue_len(), 0);
    assert!(sim.removals()[0].answer_lost);
    // A slow answer runs into the client's timeout (2 s here).
    sim.set_fault(
        Endpoint::QueueRead,
        Fault::times(FaultKind::Latency(StdDuration::from_secs(3)), 1),
    );
    let e = api.read_queue(30).await.unwrap_err();
    assert!(
        matches!(e, ApiError::Transport(_)) && e.is_transient(),
        "{e}"
    );
    // Unauthorised without a token; unknown routes 404.
    let r = reqwest::get(format!("{}/api/v2.0/webhooks?limit=1", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    let r = reqwest::get(format!("{}/api/v1.0/webhooks", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

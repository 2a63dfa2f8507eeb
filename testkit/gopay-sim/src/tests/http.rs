//! The simulator over real HTTP on 127.0.0.1: every endpoint, the rotation and reuse record,
//! the clock, faults, split hosts, concurrency and throughput.

use std::time::{Duration as StdDuration, Instant};

use crate::{
    ClockMode, Endpoint, Fault, FaultKind, GoPaySim, ProfileSpec, Script, SimConfig,
    TokenUseOutcome,
};
use chrono::Duration;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const SCOPE: &str = "perm.client.identification:read";

/// reqwest uses the process's TLS provider (the build has one: aws-lc-rs).
fn builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Client::builder()
}

fn client() -> Client {
    builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(StdDuration::from_secs(10))
        .build()
        .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let q = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

struct Api<'a> {
    sim: &'a GoPaySim,
    http: Client,
}

impl<'a> Api<'a> {
    fn new(sim: &'a GoPaySim) -> Self {
        Self {
            sim,
            http: client(),
        }
    }

    async fn consent(&self, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut pairs = vec![
            ("scopes[]", SCOPE),
            ("client_id", "777777777777"),
            ("state", "st-1"),
            (
                "redirect_uri",
                "https://kyc.example.com/gopay/callback?tenant=t1",
            ),
        ];
        pairs.extend_from_slice(extra);
        self.http
            .get(format!(
                "{}/consent?{}",
                self.sim.auth_base_url(),
                form(&pairs)
            ))
            .send()
            .await
            .unwrap()
    }

    async fn token(&self, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/api/token", self.sim.auth_base_url()))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn exchange(&self, code: &str) -> (StatusCode, Value) {
        self.token(&[
            ("client_id", "777777777777"),
            ("client_secret", "sim-client-secret"),
            ("grant_type", "authorization_code"),
            ("code", code),
        ])
        .await
    }

    async fn refresh(&self, rt: &str) -> (StatusCode, Value) {
        self.token(&[
            ("client_id", "777777777777"),
            ("client_secret", "sim-client-secret"),
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
        ])
        .await
    }

    async fn status(&self, profile: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.get(format!(
            "{}/api/client-profile/{profile}/identification-status",
            self.sim.client_base_url()
        ));
        if let Some(t) = token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn pdf(&self, profile: u64, query: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!(
                "{}/api/client-profile/{profile}/identification-pdf{query}",
                self.sim.client_base_url()
            ))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .unwrap()
    }

    async fn app_token(&self) -> String {
        let r = self
            .http
            .get(format!("{}/api/login/app", self.sim.auth_base_url()))
            .basic_auth("777777777777", Some("sim-client-secret"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["accessToken"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Full consent: `/consent` for `profile`, then the code exchange.
    async fn connect(&self, profile: u64) -> (String, String) {
        let id = profile.to_string();
        let r = self.consent(&[("sim_profile", &id)]).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        let q = query_of(r.headers()[LOCATION].to_str().unwrap());
        let (status, body) = self.exchange(&q["code"]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["clientProfileId"], json!(profile));
        (
            body["accessToken"].as_str().unwrap().to_string(),
            body["refreshToken"].as_str().unwrap().to_string(),
        )
    }
}

async fn sim() -> GoPaySim {
    GoPaySim::start(SimConfig::default()).await.unwrap()
}

#[tokio::test]
async fn app_token_needs_the_right_basic_credentials() {
    let sim = sim().await;
    let api = Api::new(&sim);
    assert!(api.app_token().await.starts_with("sim-app."));
    let url = format!("{}/api/login/app", sim.base_url());
    let wrong = api
        .http
        .get(&url)
        .basic_auth("777777777777", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    assert_eq!(api.http.get(&url).send().await.unwrap().status(), 403);
    assert_eq!(sim.request_count(Endpoint::LoginApp), 3);
}

#[tokio::test]
async fn consent_redirects_with_a_single_use_code() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let profile = sim.add_profile(ProfileSpec::default());
    let r = api.consent(&[("sim_profile", &profile.to_string())]).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://kyc.example.com/gopay/callback?tenant=t1&"),
        "{location}"
    );
    let q = query_of(&location);
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["tenant"], "t1");
    let code = &q["code"];
    assert_eq!(code.len(), 36, "UUID-like code as in the reference");

    let (status, body) = api.exchange(code).await;
    assert_eq!(status, 200);
    assert_eq!(body["clientProfileId"], json!(profile));
    assert_ne!(body["accessToken"], body["refreshToken"]);
    let (again, err) = api.exchange(code).await;
    assert_eq!(again, 403);
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(sim.authorization_code_reuse_count(), 1);
    let view = sim.profile(profile).unwrap();
    assert_eq!(
        (
            view.consents,
            view.refresh_generation,
            view.active_refresh_tokens
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn consent_refusals_and_bad_requests() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let denier = sim.add_profile(ProfileSpec::denying());
    let r = api.consent(&[("sim_profile", &denier.to_string())]).await;
    let q = query_of(r.headers()[LOCATION].to_str().unwrap());
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("access_denied", "st-1")
    );
    assert!(!q.contains_key("code"));
    assert_eq!(sim.profile(denier).unwrap().consents, 0);

    let bad_scope = api
        .http
        .get(format!(
            "{}/consent?{}",
            sim.base_url(),
            form(&[
                ("scopes[]", "perm.client.payments"),
                ("client_id", "777777777777"),
                ("state", "s"),
                ("redirect_uri", "https://cb.example")
            ])
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_of(bad_scope.headers()[LOCATION].to_str().unwrap())["error"],
        "invalid_scope"
    );

    let unknown_client = api
        .http
        .get(format!(
            "{}/consent?{}",
            sim.base_url(),
            form(&[
                ("scopes[]", SCOPE),
                ("client_id", "1"),
                ("redirect_uri", "https://cb.example")
            ])
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_client.status(), 409);
    let no_redirect = api
        .http
        .get(format!(
            "{}/consent?{}",
            sim.base_url(),
            form(&[("scopes[]", SCOPE), ("client_id", "777777777777")])
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(no_redirect.status(), 409);
    assert_eq!(
        api.consent(&[("sim_profile", "999999")]).await.status(),
        404
    );
    assert_eq!(api.consent(&[("prefill_id", "nope")]).await.status(), 409);
}

#[tokio::test]
async fn consent_without_a_named_profile_takes_the_queue_then_creates_one() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let queued = sim.add_profile(ProfileSpec::denying());
    assert!(sim.enqueue_consent(queued));
    assert!(!sim.enqueue_consent(42));
    let first = query_of(api.consent(&[]).await.headers()[LOCATION].to_str().unwrap());
    assert_eq!(first["error"], "access_denied");
    let second = query_of(api.consent(&[]).await.headers()[LOCATION].to_str().unwrap());
    let (status, body) = api.exchange(&second["code"]).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["clientProfileId"],
        json!(queued + 1),
        "a fresh default profile"
    );
}

#[tokio::test]
async fn codes_live_ten_minutes() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let p = sim.add_profile(ProfileSpec::default());
    let fresh = sim.issue_authorization_code(p).unwrap();
    let stale = sim.issue_authorization_code(p).unwrap();
    sim.advance(Duration::minutes(10) - Duration::seconds(1));
    assert_eq!(api.exchange(&fresh).await.0, 200);
    sim.advance(Duration::seconds(1));
    let (status, body) = api.exchange(&stale).await;
    assert_eq!(status, 403);
    assert_eq!(body["error_description"], "authorization code expired");
    assert_eq!(api.exchange("no-such-code").await.0, 403);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_every_use_is_recorded() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let p = sim.add_profile(ProfileSpec::default());
    let (_, rt1) = api.connect(p).await;
    let (s, b) = api.refresh(&rt1).await;
    assert_eq!(s, 200);
    let rt2 = b["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    assert_eq!(b["clientProfileId"], json!(p));
    let (s, b) = api.refresh(&rt1).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("invalid_grant"))
    );
    assert_eq!(sim.refresh_token_reuse_count(), 1);
    let (s, b) = api.refresh(&rt2).await;
    assert_eq!(s, 200);
    assert_eq!(api.refresh("never-issued").await.0, 403);

    let uses = sim.token_uses();
    let summary: Vec<_> = uses.iter().map(|u| (u.generation, u.outcome)).collect();
    assert_eq!(
        summary,
        vec![
            (Some(1), TokenUseOutcome::Rotated),
            (Some(1), TokenUseOutcome::RejectedAlreadyUsed),
            (Some(2), TokenUseOutcome::Rotated),
            (None, TokenUseOutcome::RejectedUnknown),
        ]
    );
    assert_eq!(uses[0].token, rt1);
    assert!(uses.iter().all(|u| u.at == sim.now()));
    assert_eq!(sim.refresh_token_reuse_count(), 1);
    let view = sim.profile(p).unwrap();
    assert_eq!(
        (view.refresh_generation, view.active_refresh_tokens),
        (3, 1)
    );
    let rt3 = b["refreshToken"].as_str().unwrap();
    assert_ne!(rt3, rt2);
}

#[tokio::test]
async fn token_endpoint_validation_and_client_authentication() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let (s, b) = api
        .token(&[
            ("client_id", "777777777777"),
            ("client_secret", "sim-client-secret"),
        ])
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_request"))
    );
    let (s, b) = api
        .token(&[
            ("client_id", "777777777777"),
            ("client_secret", "x"),
            ("grant_type", "refresh_token"),
            ("refresh_token", "r"),
        ])
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("invalid_client"))
    );
    assert!(
        sim.token_uses().is_empty(),
        "a refused client is not a token use"
    );
    let (s, b) = api
        .token(&[
            ("client_id", "777777777777"),
            ("client_secret", "sim-client-secret"),
            ("grant_type", "password"),
        ])
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::CONFLICT, Some("unsupported_grant_type"))
    );
    let (s, _) = api
        .token(&[
            ("client_id", "777777777777"),
            ("client_secret", "sim-client-secret"),
            ("grant_type", "refresh_token"),
        ])
        .await;
    assert_eq!(s, 409);
}

#[tokio::test]
async fn access_tokens_live_sixty_minutes_and_open_only_their_profile() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let p = sim.add_profile(ProfileSpec::default());
    let other = sim.add_profile(ProfileSpec::default());
    let (at, _) = api.connect(p).await;
    let (other_at, _) = api.connect(other).await;
    assert_eq!(api.status(&p.to_string(), Some(&at)).await.0, 200);
    assert_eq!(api.status(&p.to_string(), Some(&other_at)).await.0, 403);
    assert_eq!(api.status(&p.to_string(), None).await.0, 403);
    assert_eq!(
        api.status(&p.to_string(), Some(&api.app_token().await))
            .await
            .0,
        403
    );
    assert_eq!(api.status("424242", Some(&at)).await.0, 404);
    assert_eq!(api.status("abc", Some(&at)).await.0, 404);
    sim.advance(Duration::minutes(60) - Duration::milliseconds(1));
    assert_eq!(api.status(&p.to_string(), Some(&at)).await.0, 200);
    sim.advance(Duration::milliseconds(1));
    let (s, b) = api.status(&p.to_string(), Some(&at)).await;
    assert_eq!(s, 403);
    assert_eq!(b["errors"][0]["error_code"], 403);
    assert_eq!(sim.profile(p).unwrap().status_polls, 2);
}

#[tokio::test]
async fn identification_evolves_by_script() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let p = sim.add_profile(ProfileSpec::with_script(Script::standard()));
    let (_, mut rt) = api.connect(p).await;
    let id = p.to_string();
    let mut seen = Vec::new();
    for advance in [
        Duration::zero(),
        Duration::minutes(5),
        Duration::minutes(25),
        Duration::days(365),
    ] {
        sim.advance(advance);
        let (s, b) = api.refresh(&rt).await;
        assert_eq!(s, 200);
        rt = b["refreshToken"].as_str().unwrap().to_string();
        let (s, status) = api.status(&id, b["accessToken"].as_str()).await;
        assert_eq!(s, 200);
        assert_eq!(status["clientProfileId"], json!(p));
        seen.push((
            status["state"].as_str().unwrap().to_string(),
            status["reasons"].clone(),
            status,
        ));
    }
    let states: Vec<_> = seen
        .iter()
        .map(|(s, r, _)| (s.as_str(), r.clone()))
        .collect();
    assert_eq!(
        states,
        vec![
            ("PENDING", json!([])),
            ("PENDING", json!(["WAITING_IDENT_DOCUMENT"])),
            ("IDENTIFIED", json!([])),
            ("NOT_IDENTIFIED", json!(["EXPIRED_IDENTIFICATION"])),
        ]
    );
    // 2025-03-10 08:00 UTC is 09:00 in Prague (winter time).
    let first = &seen[0].2;
    assert_eq!(first["dateStarted"], "2025-03-10 09:00:00.000");
    assert_eq!(first["dateLastChange"], "2025-03-10 09:00:00.000");
    assert!(
        first.get("subjectData").is_none(),
        "no personal data while pending"
    );
    assert_eq!(seen[1].2["dateLastChange"], "2025-03-10 09:05:00.000");
    let identified = &seen[2].2;
    assert_eq!(identified["subjectType"], "PERSON");
    assert!(identified["subjectData"]["birthNumber"].is_string());
    assert_eq!(
        identified["identificationData"]["persons"][0]["identDocuments"][0]["documentType"],
        "ID_CARD"
    );
    // A year later: 2026-03-10 is still winter time in Prague.
    assert_eq!(seen[3].2["dateLastChange"], "2026-03-10 09:00:00.000");
    assert_eq!(sim.refresh_token_reuse_count(), 0);
}

#[tokio::test]
async fn a_test_can_override_a_profiles_status() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let p = sim.add_profile(ProfileSpec::with_script(Script::pending()));
    let (at, _) = api.connect(p).await;
    sim.advance(Duration::minutes(3));
    assert!(sim.set_profile_status(
        p,
        "PARTIALLY_IDENTIFIED",
        &["WAITING_BANK_ACCOUNT", "SOMETHING_NEW"]
    ));
    assert!(!sim.set_profile_status(1, "PENDING", &[]));
    let (_, b) = api.status(&p.to_string(), Some(&at)).await;
    assert_eq!(b["state"], "PARTIALLY_IDENTIFIED");
    assert_eq!(
        b["reasons"],
        json!(["WAITING_BANK_ACCOUNT", "SOMETHING_NEW"])
    );
    assert_eq!(b["dateLastChange"], "2025-03-10 09:03:00.000");
    let view = sim.profile(p).unwrap();
    assert_eq!(view.state, "PARTIALLY_IDENTIFIED");
}

#[tokio::test]
async fn identification_pdf() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let p = sim.add_profile(ProfileSpec::with_script(Script::standard()));
    let never = sim.add_profile(ProfileSpec::default());
    let (at, _) = api.connect(p).await;
    let app = api.app_token().await;
    assert_eq!(
        api.pdf(p, "", &at).await.status(),
        404,
        "not identified yet"
    );
    sim.advance(Duration::minutes(31));
    // The access token is still valid (31 < 60 minutes).
    let r = api.pdf(p, "", &at).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/pdf");
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-1.4") && bytes.ends_with(b"%%EOF\n"));
    assert!(String::from_utf8_lossy(&bytes).contains(&format!("profile {p}")));
    assert_eq!(
        api.pdf(p, "", &app).await.status(),
        200,
        "app token once consent was given"
    );
    assert_eq!(
        api.pdf(never, "", &app).await.status(),
        403,
        "never consented"
    );
    assert_eq!(api.pdf(p, "?onDate=2025-03-10", &app).await.status(), 200);
    assert_eq!(
        api.pdf(p, "?onDate=2025-03-09", &app).await.status(),
        404,
        "before the identification"
    );
    assert_eq!(api.pdf(p, "?onDate=10.03.2025", &app).await.status(), 409);
    assert_eq!(api.pdf(p, "", "bogus").await.status(), 403);
}

#[tokio::test]
async fn prefill_then_consent_with_its_id() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let app = api.app_token().await;
    let url = format!("{}/api/prefill-client-data", sim.client_base_url());
    let data = json!({
        "firstName": "Jaroslav", "lastName": "Novák", "email": "jaroslav@novak.com", "phoneNumber": "+420777111222",
        "address": "Pekárenská 12, 37001 České Budějovice", "domesticBankAccount": "1108398027/3030",
        "internationalBankAccount": {"iban": "CZ6508000000192000145399", "bic": "KOMBCZPP"}
    });
    let r = api
        .http
        .post(&url)
        .bearer_auth(&app)
        .json(&data)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["prefillId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sim.prefill(&id).unwrap(), data);

    let bad = json!({"email": "not-an-email", "phoneNumber": "777", "nickname": "x"});
    let r = api
        .http
        .post(&url)
        .bearer_auth(&app)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let errors = r.json::<Value>().await.unwrap()["errors"].clone();
    let names: Vec<_> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["error_name"].as_str().unwrap())
        .collect();
    for n in ["UNKNOWN_FIELD", "INVALID_EMAIL", "INVALID_PHONE_NUMBER"] {
        assert!(names.contains(&n), "{names:?}");
    }
    assert_eq!(
        api.http
            .post(&url)
            .json(&data)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let r = api
        .http
        .post(&url)
        .bearer_auth(&app)
        .header(CONTENT_TYPE, "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    let p = sim.add_profile(ProfileSpec::default());
    let r = api
        .consent(&[("sim_profile", &p.to_string()), ("prefill_id", &id)])
        .await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        sim.profile(p).unwrap().prefill_id.as_deref(),
        Some(id.as_str())
    );
}

#[tokio::test]
async fn revoke_disconnects_the_profile() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let p = sim.add_profile(ProfileSpec::default());
    let (at, rt) = api.connect(p).await;
    let url = format!("{}/api/revoke", sim.base_url());
    let revoke = |secret: &'static str, token: String| {
        api.http
            .post(&url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&[
                ("client_id", "777777777777"),
                ("client_secret", secret),
                ("token", &token),
            ]))
            .send()
    };
    assert_eq!(revoke("wrong", rt.clone()).await.unwrap().status(), 403);
    let r = revoke("sim-client-secret", rt.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({}));
    assert!(sim.profile(p).unwrap().revoked);
    assert_eq!(api.status(&p.to_string(), Some(&at)).await.0, 403);
    assert_eq!(api.refresh(&rt).await.0, 403);
    assert_eq!(
        sim.token_uses().last().unwrap().outcome,
        TokenUseOutcome::RejectedRevoked
    );
    assert_eq!(
        sim.refresh_token_reuse_count(),
        0,
        "a revoked token is not a reuse"
    );
    assert_eq!(
        revoke("sim-client-secret", "unknown".into())
            .await
            .unwrap()
            .status(),
        200
    );
    // A new consent reconnects.
    let (at2, _) = api.connect(p).await;
    assert_eq!(api.status(&p.to_string(), Some(&at2)).await.0, 200);
    assert!(!sim.profile(p).unwrap().revoked);
}

#[tokio::test]
async fn faults_errors_latency_hangs_and_lost_answers() {
    let sim = GoPaySim::start(SimConfig {
        hang_for: StdDuration::from_secs(5),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let api = Api::new(&sim);
    let p = sim.add_profile(ProfileSpec::default());
    let (at, rt) = api.connect(p).await;
    let id = p.to_string();

    sim.set_fault(
        Endpoint::IdentificationStatus,
        Fault::times(FaultKind::Status(500), 2),
    );
    assert_eq!(api.status(&id, Some(&at)).await.0, 500);
    assert_eq!(api.status(&id, Some(&at)).await.0, 500);
    assert_eq!(api.status(&id, Some(&at)).await.0, 200);

    sim.set_fault(
        Endpoint::IdentificationStatus,
        Fault::always(FaultKind::Latency(StdDuration::from_millis(300))),
    );
    let started = Instant::now();
    assert_eq!(api.status(&id, Some(&at)).await.0, 200);
    assert!(started.elapsed() >= StdDuration::from_millis(300));
    sim.clear_faults(Endpoint::IdentificationStatus);
    let started = Instant::now();
    assert_eq!(api.status(&id, Some(&at)).await.0, 200);
    assert!(started.elapsed() < StdDuration::from_millis(300));

    sim.set_fault(
        Endpoint::IdentificationStatus,
        Fault::times(FaultKind::Hang, 1),
    );
    let impatient = builder()
        .timeout(StdDuration::from_millis(200))
        .build()
        .unwrap();
    let err = impatient
        .get(format!(
            "{}/api/client-profile/{id}/identification-status",
            sim.base_url()
        ))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    // GoPay rotates, then the answer is lost: the old token is dead and the new one unknown.
    sim.set_fault(
        Endpoint::Token,
        Fault::times(FaultKind::StatusAfterProcessing(500), 1),
    );
    assert_eq!(api.refresh(&rt).await.0, 500);
    assert_eq!(sim.token_uses()[0].outcome, TokenUseOutcome::Rotated);
    assert_eq!(api.refresh(&rt).await.0, 403);
    assert_eq!(sim.refresh_token_reuse_count(), 1);
    assert_eq!(sim.profile(p).unwrap().refresh_generation, 2);

    sim.set_fault(Endpoint::Token, Fault::always(FaultKind::Status(503)));
    sim.set_fault(Endpoint::LoginApp, Fault::always(FaultKind::Status(500)));
    assert_eq!(api.refresh("whatever").await.0, 503);
    assert!(
        sim.token_uses().len() == 2,
        "a request refused by a fault never reached the model"
    );
    sim.clear_all_faults();
    assert_eq!(api.refresh("whatever").await.0, 403);
    assert!(!api.app_token().await.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn split_hosts_answer_404_for_the_other_service() {
    let sim = GoPaySim::start(SimConfig {
        split_hosts: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert_ne!(sim.auth_base_url(), sim.client_base_url());
    assert_eq!(sim.base_url(), sim.auth_base_url());
    let http = client();
    let on_client = http
        .post(format!("{}/api/token", sim.client_base_url()))
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(on_client.status(), 404);
    let on_auth = http
        .get(format!(
            "{}/api/client-profile/1/identification-status",
            sim.auth_base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(on_auth.status(), 404);
    let api = Api::new(&sim);
    let p = sim.add_profile(ProfileSpec::default());
    let (at, _) = api.connect(p).await;
    assert_eq!(api.status(&p.to_string(), Some(&at)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uses_of_one_refresh_token_rotate_exactly_once() {
    let sim = sim().await;
    let p = sim.add_profile(ProfileSpec::default());
    let rt = Api::new(&sim).connect(p).await.1;
    let base = sim.base_url();
    let http = client();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (http, base, rt) = (http.clone(), base.clone(), rt.clone());
            tokio::spawn(async move {
                http.post(format!("{base}/api/token"))
                    .body(form(&[
                        ("client_id", "777777777777"),
                        ("client_secret", "sim-client-secret"),
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &rt),
                    ]))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(sim.refresh_token_reuse_count(), 39);
    assert_eq!(sim.profile(p).unwrap().active_refresh_tokens, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_profiles_and_hundreds_of_requests_per_second() {
    let sim = sim().await;
    let started = Instant::now();
    let seeded = sim.grant_consents(10_000, &ProfileSpec::default());
    let seeding = started.elapsed();
    assert_eq!(seeded.len(), 10_000);
    let ids: std::collections::HashSet<_> = seeded.iter().map(|c| c.profile_id).collect();
    let tokens: std::collections::HashSet<_> =
        seeded.iter().map(|c| c.refresh_token.clone()).collect();
    assert_eq!((ids.len(), tokens.len()), (10_000, 10_000));
    assert!(seeded
        .iter()
        .all(|c| c.access_expires_at == sim.now() + Duration::minutes(60)));
    assert!(
        seeding < StdDuration::from_secs(5),
        "seeding took {seeding:?}"
    );

    // 2,000 polls, 32 in flight, over loopback.
    let http = client();
    let base = sim.base_url();
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let mut statuses = Vec::new();
    for c in seeded.iter().take(2_000) {
        if set.len() >= 32 {
            statuses.push(set.join_next().await.unwrap().unwrap());
        }
        let (http, url, at) = (
            http.clone(),
            format!(
                "{base}/api/client-profile/{}/identification-status",
                c.profile_id
            ),
            c.access_token.clone(),
        );
        set.spawn(async move { http.get(url).bearer_auth(at).send().await.unwrap().status() });
    }
    while let Some(r) = set.join_next().await {
        statuses.push(r.unwrap());
    }
    let elapsed = started.elapsed();
    assert_eq!(statuses.len(), 2_000);
    assert!(statuses.iter().all(|s| *s == 200));
    let rate = 2_000.0 / elapsed.as_secs_f64();
    eprintln!("identification-status: {rate:.0} requests/s on loopback (debug build)");
    assert!(rate >= 200.0, "only {rate:.0} requests/s");
    assert_eq!(sim.request_count(Endpoint::IdentificationStatus), 2_000);
}

#[tokio::test]
async fn real_clock_moves_and_can_be_advanced() {
    let sim = GoPaySim::start(SimConfig {
        clock: ClockMode::Real,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let a = sim.now();
    tokio::time::sleep(StdDuration::from_millis(20)).await;
    let b = sim.now();
    assert!(b > a);
    sim.advance(Duration::hours(2));
    assert!(sim.now() >= b + Duration::hours(2));
    let target = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    sim.set_now(target);
    assert!(sim.now() >= target && sim.now() < target + Duration::seconds(5));
}

#[tokio::test]
async fn admin_routes_drive_the_demo() {
    let sim = sim().await;
    let http = client();
    let base = sim.base_url();
    let before = sim.now();
    let r: Value = http
        .post(format!("{base}/_sim/advance?seconds=3600"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["now"].is_string());
    assert_eq!(sim.now(), before + Duration::hours(1));
    let r: Value = http
        .post(format!("{base}/_sim/next-consent?behaviour=deny"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let denier = r["profileId"].as_u64().unwrap();
    // A scripted identification state with GoPay's reasons beside it.
    let r: Value = http
        .post(format!(
            "{base}/_sim/next-consent?state=NOT_IDENTIFIED&reasons=EXPIRED_IDENT_DOCUMENT,WAITING_IDENT_DOCUMENT"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expired = sim.profile(r["profileId"].as_u64().unwrap()).unwrap();
    assert_eq!(expired.state, "NOT_IDENTIFIED");
    assert_eq!(
        expired.reasons,
        ["EXPIRED_IDENT_DOCUMENT", "WAITING_IDENT_DOCUMENT"]
    );
    let api = Api::new(&sim);
    let q = query_of(api.consent(&[]).await.headers()[LOCATION].to_str().unwrap());
    assert_eq!(q["error"], "access_denied");
    assert_eq!(sim.profile(denier).unwrap().consents, 0);
    let r = http
        .post(format!(
            "{base}/_sim/fault?endpoint=token&status=500&times=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(api.refresh("x").await.0, 500);
    assert_eq!(api.refresh("x").await.0, 403);
    http.post(format!("{base}/_sim/fault?endpoint=token&status=502"))
        .send()
        .await
        .unwrap();
    http.delete(format!("{base}/_sim/fault"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.refresh("x").await.0, 403);
    let stats: Value = http
        .get(format!("{base}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["refreshTokenUses"], 2);
    assert_eq!(stats["refreshTokenReuses"], 0);
    assert_eq!(stats["requests"]["token"], 3);
    assert_eq!(stats["requests"]["consent"], 1);
    assert_eq!(
        http.post(format!("{base}/_sim/fault?endpoint=nope&status=500"))
            .send()
            .await
            .unwrap()
            .status(),
        409
    );
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = sim().await;
    let base = sim.base_url();
    let http = client();
    assert_eq!(
        http.get(format!("{base}/nothing"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    sim.shutdown().await;
    let gone = builder()
        .timeout(StdDuration::from_secs(2))
        .build()
        .unwrap();
    assert!(gone
        .get(format!("{base}/api/login/app"))
        .send()
        .await
        .is_err());
}

// ----- issue 22: the journey at GoPay, chosen subjects, forgotten profiles, bare refusals ----

#[tokio::test]
async fn a_slow_customer_moves_the_clock_and_gets_a_fresh_code_at_the_end() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let p = sim.add_profile(ProfileSpec::default().taking(Duration::minutes(12)));
    let before = sim.now();
    let r = api.consent(&[("sim_profile", &p.to_string())]).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        sim.now() - before,
        Duration::minutes(12),
        "12 minutes at GoPay"
    );
    let q = query_of(r.headers()[LOCATION].to_str().unwrap());
    // The code's 10 minutes start at the redirect back, not at our redirect to GoPay.
    sim.advance(Duration::minutes(9));
    assert_eq!(api.exchange(&q["code"]).await.0, 200);
}

#[tokio::test]
async fn the_identified_subject_can_be_chosen() {
    use crate::SubjectSpec;
    let sim = sim().await;
    let api = Api::new(&sim);
    let p = sim.add_profile(
        ProfileSpec::with_script(Script::constant("IDENTIFIED", &[]))
            .identified_as(SubjectSpec::new("Bohumila", "Křížová", "1977-04-23")),
    );
    let (at, _) = api.connect(p).await;
    let (s, body) = api.status(&p.to_string(), Some(&at)).await;
    assert_eq!(s, 200);
    assert_eq!(body["subjectData"]["firstName"], "Bohumila");
    assert_eq!(body["subjectData"]["lastName"], "Křížová");
    assert_eq!(body["subjectData"]["dateOfBirth"], "1977-04-23");
    assert_eq!(
        body["identificationData"]["persons"][0]["lastName"],
        "Křížová"
    );
}

#[tokio::test]
async fn a_forgotten_profile_answers_404_and_a_refused_refresh_a_bare_403() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let gone = sim.add_profile(ProfileSpec::default());
    let refused = sim.add_profile(ProfileSpec::default());
    let (at, _) = api.connect(gone).await;
    let (_, rt) = api.connect(refused).await;
    assert!(sim.forget_profile(gone));
    assert_eq!(api.status(&gone.to_string(), Some(&at)).await.0, 404);

    assert!(sim.refuse_refresh_bare(refused, true));
    let r = api
        .http
        .post(format!("{}/api/token", sim.auth_base_url()))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[
            ("client_id", "777777777777"),
            ("client_secret", "sim-client-secret"),
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.bytes().await.unwrap().is_empty(), "a bare 403");
    // The token was neither used nor killed: it works once the refusal stops.
    assert!(sim.refuse_refresh_bare(refused, false));
    assert_eq!(api.refresh(&rt).await.0, 200);
    assert_eq!(sim.refresh_token_reuse_count(), 0);
    assert!(!sim.forget_profile(9_999_999));
}

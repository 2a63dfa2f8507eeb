//! Contract: kyc-gopay's pure GoPay core (URLs, form bodies, parsers, rules) against
//! the simulator, over HTTP on 127.0.0.1 with the two hosts split as in production. This is
//! the sequence the gopay-consent and gopay-sync Lambdas will run.

use std::time::Duration as StdDuration;

use crate::{Endpoint, Fault, FaultKind, GoPaySim, ProfileSpec, Script, SimConfig};
use chrono::Duration;
use kyc_core::redact::{Personal, Secret};
use kyc_gopay::consent::{
    check_state, consent_url, parse_callback_query, CallbackOutcome, ConsentError, ConsentRequest,
    ConsentState, GoPayHosts, PendingConsent,
};
use kyc_gopay::identification::{status_change, StatusSnapshot};
use kyc_gopay::prefill::{parse_prefill_response, PrefillRequest};
use kyc_gopay::schedule::{access_token_needs_refresh, DEFAULT_REFRESH_MARGIN};
use kyc_gopay::tokens::{
    bearer_authorization, classify_token_failure, revoke_request_body, token_request_body,
    AppToken, ClientCredentials, ClientTokens, GoPayErrorBody, Grant, TokenFailure,
};
use kyc_gopay::{IdentificationState, IdentificationStatus, Reason};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::Client;

const REDIRECT: &str = "https://kyc.example.com/gopay/callback";

struct Setup {
    sim: GoPaySim,
    hosts: GoPayHosts,
    creds: ClientCredentials,
    http: Client,
}

async fn setup() -> Setup {
    let config = SimConfig {
        split_hosts: true,
        ..SimConfig::default()
    };
    let creds = ClientCredentials::new(
        config.client_id.clone(),
        Secret::new(config.client_secret.clone()),
    );
    let sim = GoPaySim::start(config).await.unwrap();
    let hosts = GoPayHosts::new(&sim.auth_base_url(), &sim.client_base_url()).unwrap();
    // reqwest uses the process's TLS provider (the build has one: aws-lc-rs).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(StdDuration::from_secs(10))
        .build()
        .unwrap();
    Setup {
        sim,
        hosts,
        creds,
        http,
    }
}

impl Setup {
    async fn post_token(&self, grant: Grant<'_>) -> (u16, Vec<u8>) {
        let body = token_request_body(&self.creds, grant);
        let r = self
            .http
            .post(self.hosts.token_url())
            .header(CONTENT_TYPE, body.content_type())
            .body(body.expose().to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }

    async fn get_status(&self, tokens: &ClientTokens) -> IdentificationStatus {
        let r = self
            .http
            .get(
                self.hosts
                    .identification_status_url(&tokens.client_profile_id),
            )
            .header(
                AUTHORIZATION,
                bearer_authorization(&tokens.access_token).expose(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let status = IdentificationStatus::parse(&r.bytes().await.unwrap()).unwrap();
        status.ensure_profile(&tokens.client_profile_id).unwrap();
        status
    }

    /// Consent through the real redirect, checked like the callback Lambda will.
    async fn consent(&self, prefill: Option<&Secret>) -> (CallbackOutcome, PendingConsent) {
        let state = ConsentState::generate().unwrap();
        let pending = PendingConsent::new(&state, "customer-42", self.sim.now());
        let url = consent_url(
            &self.hosts,
            &ConsentRequest {
                client_id: &self.creds.client_id,
                state: &state,
                redirect_uri: REDIRECT,
                prefill_id: prefill,
            },
        )
        .unwrap();
        let r = self.http.get(url.expose()).send().await.unwrap();
        assert_eq!(r.status(), 302);
        let location = r.headers()[LOCATION].to_str().unwrap().to_string();
        let (target, query) = location.split_once('?').unwrap();
        assert_eq!(target, REDIRECT);
        let outcome = parse_callback_query(query).unwrap();
        assert_eq!(
            outcome.state().storage_key(),
            pending.state_key,
            "GoPay returns our state"
        );
        (outcome, pending)
    }
}

#[tokio::test]
async fn consent_exchange_poll_and_rotate_over_many_runs() {
    let s = setup().await;
    let profile = s
        .sim
        .add_profile(ProfileSpec::with_script(Script::standard()));
    assert!(s.sim.enqueue_consent(profile));
    let (outcome, pending) = s.consent(None).await;
    let CallbackOutcome::Granted { code, .. } = outcome else {
        panic!("granted expected")
    };
    check_state(Some(&pending), s.sim.now()).unwrap();

    let sent_at = s.sim.now();
    let (status, body) = s.post_token(Grant::AuthorizationCode(&code)).await;
    assert_eq!(status, 200);
    let mut tokens = ClientTokens::parse(&body, sent_at).unwrap();
    assert_eq!(tokens.client_profile_id.as_str(), profile.to_string());
    assert_eq!(tokens.access_expires_at, sent_at + Duration::minutes(60));

    // The same code twice is a dead grant.
    let (status, body) = s.post_token(Grant::AuthorizationCode(&code)).await;
    assert_eq!(
        classify_token_failure(status, &GoPayErrorBody::parse(&body)),
        TokenFailure::GrantRejected
    );

    // Runs every 20 minutes for two days: refresh when due, poll, record changes.
    let mut last: Option<StatusSnapshot> = None;
    let mut history = Vec::new();
    let mut refreshes = 0;
    for _run in 0..(2 * 24 * 3) {
        let now = s.sim.now();
        if access_token_needs_refresh(Some(tokens.access_expires_at), now, DEFAULT_REFRESH_MARGIN) {
            let (status, body) = s
                .post_token(Grant::RefreshToken(&tokens.refresh_token))
                .await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let fresh = ClientTokens::parse(&body, now).unwrap();
            fresh.ensure_profile(&tokens.client_profile_id).unwrap();
            assert_ne!(
                fresh.refresh_token.expose(),
                tokens.refresh_token.expose(),
                "rotated"
            );
            tokens = fresh; // persisted before anything else, in the Lambda
            refreshes += 1;
        }
        let status = s.get_status(&tokens).await;
        let snapshot = status.snapshot();
        if let Some(change) = status_change(last.as_ref(), &snapshot) {
            history.push((status.event_id(last.as_ref()), change));
        }
        if let Some(started) = &status.date_started {
            // Two independent Prague implementations agree on the instant.
            assert_eq!(started.utc(), s.sim.profile(profile).unwrap().started_at);
        }
        last = Some(snapshot);
        s.sim.advance(Duration::minutes(20));
    }
    let states: Vec<_> = history
        .iter()
        .map(|(_, c)| (c.to_state.clone(), c.added_reasons.clone()))
        .collect();
    assert_eq!(
        states,
        vec![
            (IdentificationState::Pending, vec![]),
            (
                IdentificationState::Pending,
                vec![Reason::WaitingIdentDocument]
            ),
            (IdentificationState::Identified, vec![]),
        ]
    );
    let ids: std::collections::HashSet<_> = history.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), history.len());
    assert!(
        refreshes >= 40,
        "{refreshes} refreshes in 48 h of 60-minute tokens"
    );
    assert_eq!(
        s.sim.refresh_token_reuse_count(),
        0,
        "no refresh token was ever used twice"
    );
    assert_eq!(s.sim.token_uses().len(), refreshes);

    // The PDF with a valid client token (the loop's last advance may have aged it), then
    // revocation.
    let now = s.sim.now();
    if access_token_needs_refresh(Some(tokens.access_expires_at), now, DEFAULT_REFRESH_MARGIN) {
        let (status, body) = s
            .post_token(Grant::RefreshToken(&tokens.refresh_token))
            .await;
        assert_eq!(status, 200);
        tokens = ClientTokens::parse(&body, now).unwrap();
    }
    let r = s
        .http
        .get(
            s.hosts
                .identification_pdf_url(&tokens.client_profile_id, None),
        )
        .header(
            AUTHORIZATION,
            bearer_authorization(&tokens.access_token).expose(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()[CONTENT_TYPE].to_str().unwrap()
        ),
        (200, "application/pdf")
    );
    let body = revoke_request_body(&s.creds, &tokens.refresh_token);
    let r = s
        .http
        .post(s.hosts.revoke_url())
        .header(CONTENT_TYPE, body.content_type())
        .body(body.expose().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, body) = s
        .post_token(Grant::RefreshToken(&tokens.refresh_token))
        .await;
    assert_eq!(
        classify_token_failure(status, &GoPayErrorBody::parse(&body)),
        TokenFailure::GrantRejected
    );
}

#[tokio::test]
async fn denied_consent_and_a_state_reused_or_late() {
    let s = setup().await;
    let denier = s.sim.add_profile(ProfileSpec::denying());
    s.sim.enqueue_consent(denier);
    let (outcome, pending) = s.consent(None).await;
    assert!(matches!(
        outcome,
        CallbackOutcome::Denied {
            error: ConsentError::AccessDenied,
            ..
        }
    ));
    // A state waits a day for the customer (the code's 10 minutes start at GoPay's redirect).
    assert!(check_state(Some(&pending), s.sim.now() + Duration::minutes(10)).is_ok());
    let late = s.sim.now() + Duration::hours(24);
    assert!(check_state(Some(&pending), late).is_err());
    let used = PendingConsent {
        used_at: Some(s.sim.now()),
        ..pending
    };
    assert!(check_state(Some(&used), s.sim.now()).is_err());
}

#[tokio::test]
async fn a_lost_refresh_answer_and_bad_credentials_are_told_apart() {
    let s = setup().await;
    let seeded = s.sim.grant_consents(1, &ProfileSpec::default()).remove(0);
    let rt = Secret::new(seeded.refresh_token.clone());
    s.sim.set_fault(
        Endpoint::Token,
        Fault::times(FaultKind::StatusAfterProcessing(500), 1),
    );
    let (status, body) = s.post_token(Grant::RefreshToken(&rt)).await;
    assert_eq!(
        classify_token_failure(status, &GoPayErrorBody::parse(&body)),
        TokenFailure::Transient
    );
    // GoPay rotated before the answer was lost: the old token is now dead.
    let (status, body) = s.post_token(Grant::RefreshToken(&rt)).await;
    assert_eq!(
        classify_token_failure(status, &GoPayErrorBody::parse(&body)),
        TokenFailure::GrantRejected
    );

    let wrong = ClientCredentials::new(s.creds.client_id.clone(), Secret::new("wrong".to_string()));
    let body = token_request_body(&wrong, Grant::RefreshToken(&rt));
    let r = s
        .http
        .post(s.hosts.token_url())
        .header(CONTENT_TYPE, body.content_type())
        .body(body.expose().to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let parsed = GoPayErrorBody::parse(&r.bytes().await.unwrap());
    assert_eq!(
        classify_token_failure(status, &parsed),
        TokenFailure::ClientRejected,
        "never a lost consent"
    );
}

#[tokio::test]
async fn prefill_with_the_app_token_then_consent_carries_it() {
    let s = setup().await;
    let r = s
        .http
        .get(s.hosts.login_app_url())
        .header(AUTHORIZATION, s.creds.basic_authorization().expose())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let app = AppToken::parse(&r.bytes().await.unwrap()).unwrap();
    let request = PrefillRequest {
        first_name: Some(Personal::new("Jaroslav".into())),
        email: Some(Personal::new("jaroslav@novak.com".into())),
        phone_number: Some(Personal::new("+420 777 111 222".into())),
        ..PrefillRequest::default()
    };
    let body = request.to_body().unwrap();
    let r = s
        .http
        .post(s.hosts.prefill_url())
        .header(
            AUTHORIZATION,
            bearer_authorization(&app.access_token).expose(),
        )
        .header(CONTENT_TYPE, "application/json")
        .body(body.expose().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let prefill_id = parse_prefill_response(&r.bytes().await.unwrap()).unwrap();
    let stored = s.sim.prefill(prefill_id.expose()).unwrap();
    assert_eq!(stored["phoneNumber"], "+420777111222");

    let profile = s.sim.add_profile(ProfileSpec::default());
    s.sim.enqueue_consent(profile);
    let (outcome, _) = s.consent(Some(&prefill_id)).await;
    assert!(matches!(outcome, CallbackOutcome::Granted { .. }));
    assert_eq!(
        s.sim.profile(profile).unwrap().prefill_id.as_deref(),
        Some(prefill_id.expose().as_str())
    );
}

//! Unit tests of the consent routes on the in-memory twins (issue 22): the state's lifetime,
//! refusals that land on the failure page, completion in the bank's session bound to the
//! customer who started the consent, the declared identity kept sealed, failed attempts that
//! never overwrite a working consent, and a prefill failure that does not block the consent.

use chrono::Duration;
use serde_json::{json, Value};

use super::*;
use crate::consent::{declared_identity_state_aad, CompletionMode};
use crate::plan::{consent_plan, ConsentEvent, CONSENT_STREAM};
use crate::store::{declared_identity_aad, ProfileStatus};
use crate::sync::tests::{signed, Harness};
use kyc_core::intake::Provider;
use kyc_core::kyc_state::Stream;

const FAILURE: &str = "https://app.example/failed";

/// A request of our back end, signed (SigV4, attested by API Gateway's IAM authorizer).
fn post(path: &str, body: Value) -> Request {
    Request {
        method: "POST".into(),
        path: path.into(),
        body: body.to_string().into_bytes(),
        gateway: signed(),
        ..Request::default()
    }
}

fn get(path: &str, query: String) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        query,
        ..Request::default()
    }
}

fn location(resp: &Response) -> &str {
    resp.headers
        .iter()
        .find(|(k, _)| *k == "location")
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn body(resp: &Response) -> Value {
    serde_json::from_str(&resp.body).unwrap_or(Value::Null)
}

/// Starts a consent for `customer` (with `extra` fields in the body); the consent URL's state.
async fn start(endpoint: &ConsentEndpoint, customer: &str, extra: Value) -> String {
    let mut b = json!({ "customerId": customer });
    if let Value::Object(m) = extra {
        b.as_object_mut().unwrap().extend(m);
    }
    let resp = endpoint.handle(&post("/gopay/consents", b)).await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let url = body(&resp)["consentUrl"].as_str().unwrap().to_string();
    let query = url.split_once('?').unwrap().1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

async fn stream_status(h: &Harness, customer: &str, stream: &str) -> Option<String> {
    h.events
        .provider_states(customer)
        .await
        .unwrap()
        .get(&Provider::Gopay)
        .and_then(|s| s.status(Stream::named(stream).unwrap()))
        .map(str::to_string)
}

// ----- the state lives as long as a journey ---------------------------------------------------

#[tokio::test]
async fn a_customer_back_after_twelve_minutes_at_gopay_still_completes() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::DirectCallback);
    let state = start(&endpoint, "cust-1", json!({})).await;
    // Registering at GoPay took 12 minutes; the code is issued at the end and used at once.
    h.advance(Duration::minutes(12));
    let code = h.gopay.issue_code("7201");
    let resp = endpoint
        .handle(&get(
            "/gopay/callback",
            format!("code={code}&state={state}"),
        ))
        .await;
    assert_eq!(
        (resp.status, location(&resp)),
        (302, "https://app.example/ok")
    );
    let p = h
        .store
        .profile_of_customer("cust-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status, ProfileStatus::Active);

    // A day is the default bound: a customer back after it lands on the failure page.
    let late = start(&endpoint, "cust-2", json!({})).await;
    h.advance(Duration::hours(24) + Duration::seconds(1));
    let code = h.gopay.issue_code("7202");
    let resp = endpoint
        .handle(&get("/gopay/callback", format!("code={code}&state={late}")))
        .await;
    assert_eq!(
        (resp.status, location(&resp)),
        (302, "https://app.example/failed?reason=state_expired")
    );
    assert_eq!(h.gopay.exchanges(), 1, "nothing exchanged for the late one");
}

#[tokio::test]
async fn every_refusal_on_return_lands_on_the_failure_page_with_a_reason() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::DirectCallback);
    let used = start(&endpoint, "cust-1", json!({})).await;
    let code = h.gopay.issue_code("7301");
    let ok = endpoint
        .handle(&get("/gopay/callback", format!("code={code}&state={used}")))
        .await;
    assert_eq!(location(&ok), "https://app.example/ok");
    let denied = start(&endpoint, "cust-2", json!({})).await;
    let scope = start(&endpoint, "cust-3", json!({})).await;
    let bad_code = start(&endpoint, "cust-4", json!({})).await;
    let unknown = "A".repeat(43);
    for (query, reason) in [
        (String::new(), "malformed_callback"),
        ("code=abc".to_string(), "malformed_callback"),
        (format!("code=a&state={unknown}"), "state_unknown"),
        (format!("code={code}&state={used}"), "state_used"),
        (
            format!("error=access_denied&state={denied}"),
            "access_denied",
        ),
        (
            format!("error=invalid_scope&state={scope}"),
            "invalid_scope",
        ),
        (
            format!("code=not-a-code&state={bad_code}"),
            "exchange_failed",
        ),
    ] {
        let resp = endpoint
            .handle(&get("/gopay/callback", query.clone()))
            .await;
        assert_eq!(resp.status, 302, "{query}: {}", resp.body);
        assert_eq!(
            location(&resp),
            format!("{FAILURE}?reason={reason}"),
            "{query}"
        );
        assert!(!location(&resp).contains(&used) && !location(&resp).contains("code"));
    }
    // The store is down: still a page, not an error.
    let later = start(&endpoint, "cust-5", json!({})).await;
    h.store.fail("take_consent_state", 1);
    let resp = endpoint
        .handle(&get("/gopay/callback", format!("code=x&state={later}")))
        .await;
    assert_eq!(location(&resp), format!("{FAILURE}?reason=unavailable"));
}

// ----- completion in the bank's session -------------------------------------------------------

#[tokio::test]
async fn a_consent_completed_by_another_customer_is_refused_spent_and_flagged() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::BankSession);
    // The attacker starts a consent for their own customer and gets a victim to open the link.
    let resp = endpoint
        .handle(&post("/gopay/consents", json!({"customerId": "attacker"})))
        .await;
    let url = body(&resp)["consentUrl"].as_str().unwrap().to_string();
    assert!(
        url.contains("redirect_uri=https%3A%2F%2Fapp.example%2Fgopay%2Freturn"),
        "GoPay sends the browser to the bank's front end: {url}"
    );
    let state = form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let code = h.gopay.issue_code("7401");
    // The bank's back end completes with the customer of ITS session: the victim.
    let complete = |customer: &str| {
        post(
            "/gopay/consents/complete",
            json!({"customerId": customer, "code": code, "state": state}),
        )
    };
    let resp = endpoint.handle(&complete("victim")).await;
    assert_eq!(resp.status, 403, "{}", resp.body);
    assert_eq!(body(&resp)["reason"], "binding_mismatch");
    assert_eq!(h.gopay.exchanges(), 0, "nothing exchanged");
    assert!(h
        .store
        .profile_of_customer("victim")
        .await
        .unwrap()
        .is_none());
    assert!(h
        .store
        .profile_of_customer("attacker")
        .await
        .unwrap()
        .is_none());
    // The state is spent: not even its own customer can use it now.
    let resp = endpoint.handle(&complete("attacker")).await;
    assert_eq!(
        (resp.status, body(&resp)["reason"].as_str()),
        (409, Some("state_used"))
    );
    assert_eq!(h.gopay.exchanges(), 0);
    // A fraud signal on the customer who started it; the consent stream untouched.
    let history = h.events.history("attacker").await.unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].event_type, "consentBindingMismatch");
    assert_eq!(
        history[0].summary["detail"]["completingCustomerId"],
        "victim"
    );
    assert_eq!(
        stream_status(&h, "attacker", crate::plan::BINDING_STREAM)
            .await
            .as_deref(),
        Some("MISMATCH")
    );
    assert_eq!(stream_status(&h, "attacker", CONSENT_STREAM).await, None);
    assert!(h.events.history("victim").await.unwrap().is_empty());
    let counts = endpoint.counters.take();
    assert_eq!(counts.binding_mismatches, 1);
    let emf: Value = serde_json::from_str(&emf_line(&counts, 0)).unwrap();
    assert_eq!(emf["GoPayConsentBindingMismatch"], 1);
    assert_eq!(endpoint.counters.take().binding_mismatches, 0, "taken once");
}

#[tokio::test]
async fn the_bank_session_completes_the_consent_of_its_own_customer() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::BankSession);
    let state = start(&endpoint, "cust-1", json!({})).await;
    let code = h.gopay.issue_code("7501");
    let resp = endpoint
        .handle(&post(
            "/gopay/consents/complete",
            json!({"customerId": "cust-1", "code": code, "state": state}),
        ))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(body(&resp)["outcome"], "granted");
    assert_eq!(
        stream_status(&h, "cust-1", CONSENT_STREAM).await.as_deref(),
        Some("GRANTED")
    );
    // A refusal at GoPay, passed on by the bank.
    let state = start(&endpoint, "cust-2", json!({})).await;
    let resp = endpoint
        .handle(&post(
            "/gopay/consents/complete",
            json!({"customerId": "cust-2", "error": "access_denied", "state": state}),
        ))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(
        (
            body(&resp)["outcome"].as_str(),
            body(&resp)["reason"].as_str()
        ),
        (Some("denied"), Some("access_denied"))
    );
    // Malformed requests name what is wrong.
    for (b, status) in [
        (json!({"customerId": "cust-3", "state": state}), 400),
        (
            json!({"customerId": "cust-3", "code": "c", "error": "access_denied", "state": state}),
            400,
        ),
        (json!({"code": "c", "state": state}), 400),
        (
            json!({"customerId": "cust-3", "code": "c", "state": "short"}),
            400,
        ),
        (
            json!({"customerId": "cust-3", "code": "c", "state": "A".repeat(43)}),
            409,
        ),
    ] {
        let resp = endpoint
            .handle(&post("/gopay/consents/complete", b.clone()))
            .await;
        assert_eq!(resp.status, status, "{b}: {}", resp.body);
    }
    let signed_get = Request {
        gateway: signed(),
        ..get("/gopay/consents/complete", String::new())
    };
    assert_eq!(endpoint.handle(&signed_get).await.status, 405);
}

/// The completion is IAM-authorised like the start: a request without the authorizer's
/// attestation is refused before the body is read (the state stays usable, GoPay not called).
#[tokio::test]
async fn a_completion_without_the_iam_attestation_is_refused_and_takes_nothing() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::BankSession);
    let state = start(&endpoint, "cust-1", json!({})).await;
    let code = h.gopay.issue_code("7551");
    let body = json!({"customerId": "cust-1", "code": code, "state": state});
    let unsigned = Request {
        gateway: Default::default(),
        ..post("/gopay/consents/complete", body.clone())
    };
    let calls = (h.store.calls(), h.gopay.requests());
    let resp = endpoint.handle(&unsigned).await;
    assert_eq!((resp.status, resp.refusal), (403, Some("forbidden")));
    assert_eq!(
        (h.store.calls(), h.gopay.requests()),
        calls,
        "nothing read or asked"
    );
    // The state was not taken: the signed completion still works.
    let resp = endpoint
        .handle(&post("/gopay/consents/complete", body))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
}

#[tokio::test]
async fn a_bank_session_state_sent_to_the_direct_callback_is_refused_and_spent() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::BankSession);
    let state = start(&endpoint, "attacker", json!({})).await;
    // The link's redirect_uri rewritten to our direct callback (skipping the bank's session).
    let code = h.gopay.issue_code("7601");
    let resp = endpoint
        .handle(&get(
            "/gopay/callback",
            format!("code={code}&state={state}"),
        ))
        .await;
    assert_eq!(location(&resp), format!("{FAILURE}?reason=wrong_route"));
    assert_eq!(h.gopay.exchanges(), 0);
    let resp = endpoint
        .handle(&post(
            "/gopay/consents/complete",
            json!({"customerId": "attacker", "code": code, "state": state}),
        ))
        .await;
    assert_eq!(resp.status, 409, "spent: {}", resp.body);
    // States issued before the upgrade (direct mode) still complete on the direct callback.
    let direct = h.endpoint(CompletionMode::DirectCallback);
    let old = start(&direct, "cust-1", json!({})).await;
    let code = h.gopay.issue_code("7602");
    let resp = endpoint
        .handle(&get("/gopay/callback", format!("code={code}&state={old}")))
        .await;
    assert_eq!(location(&resp), "https://app.example/ok");
}

// ----- declared identity ----------------------------------------------------------------------

#[tokio::test]
async fn the_declared_identity_is_kept_sealed_from_start_to_profile() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::BankSession);
    let declared =
        json!({"firstName": "Bohumila", "lastName": "Křížová-Šťastná", "birthDate": "1977-04-23"});
    let state = start(&endpoint, "cust-1", json!({ "declaredIdentity": declared })).await;
    let key = crate::consent::ConsentState::from_callback(&state)
        .unwrap()
        .storage_key();
    let pending = h.store.consent_state(&key).expect("state stored");
    let sealed = pending
        .sealed_identity
        .clone()
        .expect("declared identity kept");
    assert!(!sealed.contains("Bohumila") && !sealed.contains("1977"));
    let opened = h
        .keys
        .open(&declared_identity_state_aad(&key, "cust-1"), &sealed)
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&opened).unwrap(), declared);

    let code = h.gopay.issue_code("7701");
    let resp = endpoint
        .handle(&post(
            "/gopay/consents/complete",
            json!({"customerId": "cust-1", "code": code, "state": state}),
        ))
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let p = h
        .store
        .profile_of_customer("cust-1")
        .await
        .unwrap()
        .unwrap();
    let sealed = p.sealed_identity.expect("moved to the profile");
    let opened = h
        .keys
        .open(
            &declared_identity_aad(&p.client_profile_id, "cust-1"),
            &sealed,
        )
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&opened).unwrap(), declared);

    // Refused with the field's name, never its value.
    let resp = endpoint
        .handle(&post(
            "/gopay/consents",
            json!({"customerId": "cust-2", "declaredIdentity": {"firstName": "Bohumila", "birthDate": "23.04.1977"}}),
        ))
        .await;
    assert_eq!(resp.status, 400);
    assert!(
        resp.body.contains("birthDate") && !resp.body.contains("1977"),
        "{}",
        resp.body
    );
}

// ----- a failed attempt never overwrites a consent -------------------------------------------

#[tokio::test]
async fn a_cancelled_or_failed_new_attempt_keeps_the_working_consent() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::DirectCallback);
    let id = h.consented("cust-1", "7801", true);
    let granted = consent_plan(
        &h.keys,
        "cust-1",
        &ConsentEvent::Granted {
            profile: id.clone(),
        },
        "gopay-consent-granted-first".into(),
        h.now(),
    );
    h.events.record(&granted).await.unwrap();

    // The customer starts a new consent and cancels at GoPay.
    let state = start(&endpoint, "cust-1", json!({})).await;
    let resp = endpoint
        .handle(&get(
            "/gopay/callback",
            format!("error=access_denied&state={state}"),
        ))
        .await;
    assert_eq!(location(&resp), format!("{FAILURE}?reason=access_denied"));
    // Another attempt whose code exchange fails.
    let state = start(&endpoint, "cust-1", json!({})).await;
    let resp = endpoint
        .handle(&get("/gopay/callback", format!("code=dead&state={state}")))
        .await;
    assert_eq!(location(&resp), format!("{FAILURE}?reason=exchange_failed"));

    assert_eq!(
        stream_status(&h, "cust-1", CONSENT_STREAM).await.as_deref(),
        Some("GRANTED"),
        "the working consent stands"
    );
    assert_eq!(h.profile(&id).status, ProfileStatus::Active);
    let history = h.events.history("cust-1").await.unwrap();
    let kinds: Vec<(&str, &str)> = history
        .iter()
        .map(|e| {
            (
                e.summary["consent"].as_str().unwrap_or(""),
                e.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert_eq!(kinds[0], ("GRANTED", "applied"));
    assert_eq!(kinds[1].0, "DENIED");
    assert_eq!(kinds[2].0, "EXCHANGE_FAILED");
    assert!(kinds[1].1.starts_with("recorded") && kinds[2].1.starts_with("recorded"));

    // A customer without a consent: the refusal is their consent state.
    let state = start(&endpoint, "cust-2", json!({})).await;
    endpoint
        .handle(&get(
            "/gopay/callback",
            format!("error=access_denied&state={state}"),
        ))
        .await;
    assert_eq!(
        stream_status(&h, "cust-2", CONSENT_STREAM).await.as_deref(),
        Some("DENIED")
    );
}

#[tokio::test]
async fn a_prefill_failure_is_counted_and_the_consent_url_goes_out_without_it() {
    let h = Harness::new();
    let endpoint = h.endpoint(CompletionMode::BankSession);
    h.gopay.fail_prefill(Some(500));
    let resp = endpoint
        .handle(&post(
            "/gopay/consents",
            json!({"customerId": "cust-1", "prefill": {"firstName": "Dana"}}),
        ))
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let b = body(&resp);
    assert!(!b["consentUrl"].as_str().unwrap().contains("prefill_id"));
    assert_eq!(b["prefilled"], false);
    assert_eq!(endpoint.counters.take().prefill_failures, 1);
    h.gopay.fail_prefill(None);
    let resp = endpoint
        .handle(&post(
            "/gopay/consents",
            json!({"customerId": "cust-1", "prefill": {"firstName": "Dana"}}),
        ))
        .await;
    assert_eq!(body(&resp)["prefilled"], true);
    assert!(body(&resp)["consentUrl"]
        .as_str()
        .unwrap()
        .contains("prefill_id"));
}

// ----- an erased customer (kyc erase) ----------------------------------------------------------

#[tokio::test]
async fn an_erased_customer_starts_no_consent_and_one_started_before_is_not_kept() {
    let mut h = Harness::new();
    let naming = h.with_naming_key();
    let endpoint = h.endpoint(CompletionMode::DirectCallback);
    let before = start(&endpoint, "gone", json!({})).await;
    // What `kyc erase` writes first.
    h.events.inner.put_tombstone(&h.erase(&naming, "gone"));
    let resp = endpoint
        .handle(&post("/gopay/consents", json!({"customerId": "gone"})))
        .await;
    assert_eq!(resp.status, 409, "{}", resp.body);
    assert!(resp.body.contains("erased") && !resp.body.contains("gone"));
    // Started before the erasure, completed after: nothing exchanged, nothing kept.
    let code = h.gopay.issue_code("7301");
    let resp = endpoint
        .handle(&get(
            "/gopay/callback",
            format!("code={code}&state={before}"),
        ))
        .await;
    assert_eq!(
        (resp.status, location(&resp)),
        (302, "https://app.example/failed?reason=customer_erased")
    );
    assert_eq!(h.gopay.exchanges(), 0);
    assert!(h.store.profile_of_customer("gone").await.unwrap().is_none());
    // Another customer is not concerned; and after the drop period, this one may start again.
    start(&endpoint, "other", json!({})).await;
    h.advance(Duration::days(61));
    start(&endpoint, "gone", json!({})).await;
}

/// `kyc erase` lands while the code is exchanged (after the completion's first check): the
/// tokens GoPay just issued are stored for a moment, then found erased, revoked at GoPay and
/// wiped; the customer is sent to the failure page. (The erasure's side: it reads the consent
/// after its tombstones and refuses while one is live, `lifecycle::erase`.)
#[tokio::test]
async fn an_erasure_landing_during_the_code_exchange_keeps_no_token() {
    let mut h = Harness::new();
    let naming = h.with_naming_key();
    let endpoint = h.endpoint(CompletionMode::DirectCallback);
    let state = start(&endpoint, "racing", json!({})).await;
    *h.events.erase_after_next_check.lock().unwrap() = Some(h.erase(&naming, "racing"));
    let code = h.gopay.issue_code("7302");
    let resp = endpoint
        .handle(&get(
            "/gopay/callback",
            format!("code={code}&state={state}"),
        ))
        .await;
    assert_eq!(
        (resp.status, location(&resp)),
        (302, "https://app.example/failed?reason=customer_erased")
    );
    assert_eq!(
        h.gopay.exchanges(),
        1,
        "the exchange ran before the erasure was seen"
    );
    let profile = h
        .store
        .profile(&crate::ClientProfileId::new("7302").unwrap())
        .await
        .unwrap()
        .expect("the profile record stays, revoked");
    assert_eq!(profile.status, crate::store::ProfileStatus::Revoked);
    assert!(profile.sealed_refresh.is_none() && profile.sealed_access.is_none());
    assert_eq!(
        h.gopay.revoked().len(),
        1,
        "the issued refresh token is revoked at GoPay"
    );
}

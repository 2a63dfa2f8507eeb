//! Each callback authentication mode, end to end through the Lambda wiring: API Gateway v2
//! events (`events/callback-auth/`) → `http_request` (request context → attestation) → the
//! endpoint, over the in-memory store. The fail-closed cases matter most: a request the gateway
//! did not authenticate is refused, and nothing is stored.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
kyc_test_log::install!();

use crate::{handle, http_request};
use kyc_core::callback_auth::{
    CallbackAuthMode, ClientCertificateRequirement, GatewayRequirement, JwtRequirement,
};
use kyc_core::chrono::{DateTime, TimeZone, Utc};
use kyc_core::crypto::{Keyring, PayloadKey};
use kyc_core::intake::MemoryStore;
use kyc_core::secrets::{Cached, StagedSecret, StaticSecrets};
use kyc_xpollens::delivery::Recorder;
use kyc_xpollens::endpoint::{CallbackAuth, Endpoint};
use lambda_http::Request;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const ISSUER: &str = "https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_Kyc0Hooks";
const XPOLLENS_CLIENT: &str = "4q1xpollens7callbacks0client";
const SCOPE: &str = "kyc-hooks/callbacks";
const SUBJECT: &str = "CN=webhooks.xpollens.example,O=Xpollens,C=FR";
const CA: &str = "CN=Xpollens Partner CA,O=Xpollens,C=FR";

fn event(name: &str) -> Request {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/callback-auth")
        .join(name);
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The events' `timeEpoch` (12/11/2026 09:20:00): their tokens expire an hour later.
fn received_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 12, 9, 20, 0).unwrap()
}

fn oauth2() -> CallbackAuthMode {
    CallbackAuthMode::Gateway(GatewayRequirement::Jwt(JwtRequirement {
        issuer: ISSUER.into(),
        client_id: XPOLLENS_CLIENT.into(),
        scope: SCOPE.into(),
    }))
}

fn mtls(subject: &str) -> CallbackAuthMode {
    CallbackAuthMode::Gateway(GatewayRequirement::ClientCertificate(
        ClientCertificateRequirement {
            subject_dn: subject.into(),
            issuer_dn: Some(CA.into()),
        },
    ))
}

/// The endpoint as `build_endpoint` wires it for `mode`, over the in-memory store; Basic
/// accepts only `xpollens` / `demo-password`.
fn endpoint(mode: CallbackAuthMode, store: Arc<MemoryStore>) -> Endpoint {
    let secrets = Arc::new(StaticSecrets(HashMap::from([(
        "creds".to_string(),
        StagedSecret {
            current: kyc_core::redact::Secret::new(
                r#"{"scheme":"basic","username":"xpollens","password":"demo-password"}"#.into(),
            ),
            previous: None,
            current_since: None,
        },
    )])));
    Endpoint {
        recorder: Recorder {
            store,
            keys: Cached::new(secrets.clone(), "unused", Duration::from_secs(300), |_| {
                Err("preloaded".to_string())
            })
            .preloaded(Keyring::new(PayloadKey::new("k", [7; 32]).unwrap(), vec![])),
        },
        auth: match mode {
            CallbackAuthMode::Basic => CallbackAuth::Credentials(Cached::new(
                secrets,
                "creds",
                Duration::from_secs(300),
                kyc_core::auth::CredentialSet::from_staged,
            )),
            CallbackAuthMode::Gateway(required) => CallbackAuth::Gateway(required),
        },
        allow_list: None,
        clock: Arc::new(received_at),
    }
}

/// Status, `WWW-Authenticate`, and how many events and rejections the store holds afterwards.
async fn deliver(mode: CallbackAuthMode, file: &str) -> (u16, Option<String>, usize) {
    let store = Arc::new(MemoryStore::default());
    let resp = handle(&endpoint(mode, store.clone()), event(file))
        .await
        .unwrap();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let stored = store.event_count() + store.rejections().len();
    (resp.status().as_u16(), challenge, stored)
}

#[test]
fn the_request_context_becomes_the_attestation() {
    let jwt = http_request(&event("oauth2-authorized.json")).gateway;
    let claims = jwt.jwt.expect("authorizer claims");
    assert_eq!(claims.claims["client_id"], XPOLLENS_CLIENT);
    assert_eq!(claims.claims["scope"], SCOPE);
    assert!(jwt.client_certificate.is_none());
    let cert = http_request(&event("mtls-client-certificate.json")).gateway;
    let cert = cert.client_certificate.expect("client certificate");
    assert_eq!(
        (cert.subject_dn.as_str(), cert.issuer_dn.as_str()),
        (SUBJECT, CA)
    );
    let bare = http_request(&event("oauth2-route-without-authorizer.json")).gateway;
    assert!(bare.jwt.is_none() && bare.client_certificate.is_none());
}

#[tokio::test]
async fn oauth2_records_a_callback_the_authorizer_passed_with_the_scope() {
    assert_eq!(
        deliver(oauth2(), "oauth2-authorized.json").await,
        (202, None, 1)
    );
}

#[tokio::test]
async fn oauth2_fails_closed_without_the_authorizer_or_the_scope() {
    // A route deployed without the JWT authorizer: the bearer reached the function unchecked.
    let (status, challenge, stored) =
        deliver(oauth2(), "oauth2-route-without-authorizer.json").await;
    assert_eq!((status, stored), (401, 0));
    assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
    let (status, challenge, stored) = deliver(oauth2(), "oauth2-wrong-scope.json").await;
    assert_eq!((status, stored), (403, 0));
    assert!(challenge.unwrap().contains(r#"error="insufficient_scope""#));
    // A client certificate is not a token.
    assert_eq!(
        deliver(oauth2(), "mtls-client-certificate.json").await.0,
        401
    );
}

#[tokio::test]
async fn mtls_records_a_callback_with_the_configured_certificate() {
    assert_eq!(
        deliver(mtls(SUBJECT), "mtls-client-certificate.json").await,
        (202, None, 1)
    );
}

#[tokio::test]
async fn mtls_fails_closed_without_the_certificate_or_with_another_subject() {
    // Through the default execute-api endpoint (left enabled): no certificate was checked.
    assert_eq!(
        deliver(mtls(SUBJECT), "mtls-execute-api-without-certificate.json").await,
        (403, None, 0)
    );
    assert_eq!(
        deliver(
            mtls("CN=other.xpollens.example,O=Xpollens,C=FR"),
            "mtls-client-certificate.json"
        )
        .await,
        (403, None, 0)
    );
    // JWT claims are not a certificate.
    assert_eq!(
        deliver(mtls(SUBJECT), "oauth2-authorized.json").await.0,
        403
    );
}

#[tokio::test]
async fn basic_mode_ignores_what_the_gateway_attests() {
    // A bearer JWT the authorizer passed, or a client certificate, is no Basic credential.
    let (status, challenge, stored) =
        deliver(CallbackAuthMode::Basic, "oauth2-authorized.json").await;
    assert_eq!((status, stored), (401, 0));
    assert!(challenge.unwrap().starts_with("Basic"));
    assert_eq!(
        deliver(CallbackAuthMode::Basic, "mtls-client-certificate.json")
            .await
            .0,
        401
    );
}

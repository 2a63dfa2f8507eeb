//! GoPay tokens, consent and prefill: request bodies, responses, the `state`, the callback.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use kyc_core::redact::{Personal, Secret};
use kyc_gopay::consent::{
    check_state, consent_url, parse_callback_query, CallbackOutcome, ConsentError, ConsentRequest,
    ConsentState, GoPayHosts, PendingConsent, AUTHORIZATION_CODE_LIFETIME, DEFAULT_STATE_TTL,
    MAX_STATE_TTL, MIN_STATE_TTL, SCOPE_IDENTIFICATION_READ,
};
use kyc_gopay::prefill::{
    normalize_iban, parse_prefill_response, InternationalBankAccount, PrefillRequest,
};
use kyc_gopay::tokens::{
    bearer_authorization, classify_token_failure, revoke_request_body, token_request_body,
    AppToken, ClientCredentials, ClientTokens, GoPayErrorBody, Grant, TokenFailure,
    ACCESS_TOKEN_LIFETIME,
};
use kyc_gopay::{CallbackDefect, ClientProfileId, GoPayError, StateRejection};
use rand::SeedableRng;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-03-10T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn creds() -> ClientCredentials {
    ClientCredentials::new("777777777777", Secret::new("s3cr&t=+/%".to_string()))
}

fn form(body: &str) -> HashMap<String, String> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let map: HashMap<_, _> = pairs.iter().cloned().collect();
    assert_eq!(map.len(), pairs.len(), "no duplicate keys");
    map
}

// ----- tokens -------------------------------------------------------------------------------

#[test]
fn token_bodies_carry_exactly_the_documented_fields_and_hide_them() {
    let code = Secret::new("67c6540e-4bbf-4e0d-a4c7-3fa418d30f5e".to_string());
    let body = token_request_body(&creds(), Grant::AuthorizationCode(&code));
    assert_eq!(body.content_type(), "application/x-www-form-urlencoded");
    let f = form(body.expose());
    assert_eq!(f.len(), 4);
    assert_eq!(f["client_id"], "777777777777");
    assert_eq!(
        f["client_secret"], "s3cr&t=+/%",
        "special characters survive encoding"
    );
    assert_eq!(f["grant_type"], "authorization_code");
    assert_eq!(f["code"], code.expose().as_str());
    let debug = format!("{body:?}");
    assert!(
        !debug.contains("s3cr") && !debug.contains("67c6540e"),
        "{debug}"
    );

    let refresh = Secret::new("rt+with/specials==".to_string());
    let body = token_request_body(&creds(), Grant::RefreshToken(&refresh));
    let f = form(body.expose());
    assert_eq!(f.len(), 4);
    assert_eq!(f["grant_type"], "refresh_token");
    assert_eq!(f["refresh_token"], "rt+with/specials==");
    assert!(!format!("{body:?}").contains("rt+with"));

    let body = revoke_request_body(&creds(), &refresh);
    let f = form(body.expose());
    assert_eq!(f.len(), 3);
    assert_eq!(f["token"], "rt+with/specials==");
    assert_eq!(f["client_secret"], "s3cr&t=+/%");
}

#[test]
fn authorization_headers() {
    let basic = creds().basic_authorization();
    let encoded = basic.expose().strip_prefix("Basic ").unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(decoded, b"777777777777:s3cr&t=+/%");
    assert!(!format!("{basic:?} {:?}", creds()).contains("s3cr"));
    let bearer = bearer_authorization(&Secret::new("at-1".to_string()));
    assert_eq!(bearer.expose(), "Bearer at-1");
    assert!(!format!("{bearer:?}").contains("at-1"));
}

#[test]
fn client_tokens_from_the_reference_example() {
    let sent_at = t0();
    let t = ClientTokens::parse(&fixture("token_authorization_code.json"), sent_at).unwrap();
    assert_eq!(t.client_profile_id.as_str(), "123");
    assert!(t.refresh_token.expose().starts_with("eyJraWQiOiJkZWZhdWx0"));
    assert!(t.access_token.expose().ends_with("qllLVTFnCHf"));
    assert_ne!(t.access_token.expose(), t.refresh_token.expose());
    assert_eq!(t.access_expires_at, sent_at + Duration::minutes(60));
    assert_eq!(ACCESS_TOKEN_LIFETIME, Duration::minutes(60));
    let debug = format!("{t:?}");
    assert!(!debug.contains("eyJ"), "{debug}");
    assert!(t
        .ensure_profile(&ClientProfileId::new("123").unwrap())
        .is_ok());
    assert!(matches!(
        t.ensure_profile(&ClientProfileId::new("9").unwrap()),
        Err(GoPayError::ProfileMismatch { .. })
    ));
}

#[test]
fn client_tokens_leniency_and_strictness() {
    let snake =
        br#"{"access_token":"a","refresh_token":"r","clientProfileId":"55","expires_in":600}"#;
    let t = ClientTokens::parse(snake, t0()).unwrap();
    assert_eq!(
        (
            t.access_token.expose().as_str(),
            t.refresh_token.expose().as_str()
        ),
        ("a", "r")
    );
    assert_eq!(
        t.access_expires_at,
        t0() + Duration::minutes(10),
        "a shorter stated lifetime wins"
    );
    let longer =
        br#"{"accessToken":"a","refreshToken":"r","clientProfileId":55,"expiresIn":86400}"#;
    assert_eq!(
        ClientTokens::parse(longer, t0()).unwrap().access_expires_at,
        t0() + Duration::minutes(60)
    );
    // Without the new refresh token the consent would be lost: that is an error, never a default.
    for (body, field) in [
        (
            &br#"{"accessToken":"a","clientProfileId":1}"#[..],
            "refreshToken",
        ),
        (
            br#"{"accessToken":"a","refreshToken":"  ","clientProfileId":1}"#,
            "refreshToken",
        ),
        (
            br#"{"refreshToken":"r","clientProfileId":1}"#,
            "accessToken",
        ),
        (
            br#"{"accessToken":"a","refreshToken":"r"}"#,
            "clientProfileId",
        ),
    ] {
        assert_eq!(
            ClientTokens::parse(body, t0()).unwrap_err(),
            GoPayError::MissingField {
                context: "token",
                field
            }
        );
    }
    let err = ClientTokens::parse(br#"{"accessToken": "secret-value-xyz", "#, t0()).unwrap_err();
    assert!(!err.to_string().contains("secret-value-xyz"));
}

#[test]
fn app_token() {
    let t = AppToken::parse(&fixture("app_token.json")).unwrap();
    assert!(t.access_token.expose().starts_with("eyJ"));
    assert!(!format!("{t:?}").contains("eyJ"));
    assert!(AppToken::parse(b"{}").is_err());
}

#[test]
fn error_bodies_in_both_layouts() {
    let oauth = GoPayErrorBody::parse(
        br#"{"error":"invalid_grant","error_description":"token of Jan Novak expired"}"#,
    );
    assert!(oauth.parsed && oauth.has_code("INVALID_GRANT"));
    assert_eq!(
        oauth.error_description.as_ref().unwrap().expose(),
        "token of Jan Novak expired"
    );
    assert!(!format!("{oauth:?}").contains("Novak"));

    let rest = GoPayErrorBody::parse(&fixture("error_rest.json"));
    assert_eq!(rest.errors.len(), 1);
    let e = &rest.errors[0];
    assert_eq!(
        (
            e.scope.as_deref(),
            e.field.as_deref(),
            e.error_code,
            e.error_name.as_deref()
        ),
        (Some("F"), Some("email"), Some(111), Some("INVALID"))
    );
    assert!(rest.has_code("invalid"));
    let debug = format!("{rest:?}");
    assert!(
        !debug.contains("jaroslav") && !debug.contains("Novák"),
        "{debug}"
    );

    let free_text_code = GoPayErrorBody::parse(br#"{"error":"Jan Novak, born 1.1.1990"}"#);
    assert_eq!(
        free_text_code.error, None,
        "only code-like values are kept in clear"
    );
    let html = GoPayErrorBody::parse(b"<html>502 Bad Gateway</html>");
    assert!(!html.parsed && html.error.is_none() && html.errors.is_empty());
}

#[test]
fn token_failures_are_classified_without_confusing_credentials_and_consent() {
    let body = |s: &str| GoPayErrorBody::parse(s.as_bytes());
    let none = GoPayErrorBody::default();
    // A bare, HTML (WAF) or unrelated GoPay error proves nothing about the token.
    for status in [400, 401, 403] {
        assert_eq!(
            classify_token_failure(status, &none),
            TokenFailure::Unrecognized,
            "{status}"
        );
        assert_eq!(
            classify_token_failure(status, &body("<html><h1>403 Forbidden</h1></html>")),
            TokenFailure::Unrecognized
        );
        assert_eq!(
            classify_token_failure(
                status,
                &body(r#"{"errors":[{"error_code":403,"error_name":"UNAUTHORIZED"}]}"#)
            ),
            TokenFailure::Unrecognized
        );
    }
    // Only an answer about the grant condemns it: OAuth or GoPay's REST layout.
    assert_eq!(
        classify_token_failure(400, &body(r#"{"error":"invalid_grant"}"#)),
        TokenFailure::GrantRejected
    );
    assert_eq!(
        classify_token_failure(
            403,
            &body(r#"{"errors":[{"error_name":"INVALID_GRANT","message":"expired"}]}"#)
        ),
        TokenFailure::GrantRejected
    );
    assert_eq!(
        classify_token_failure(
            403,
            &body(r#"{"errors":[{"error_code":111,"field":"refresh_token"}]}"#)
        ),
        TokenFailure::GrantRejected
    );
    assert_eq!(
        classify_token_failure(403, &body(r#"{"error":"invalid_client"}"#)),
        TokenFailure::ClientRejected
    );
    assert_eq!(
        classify_token_failure(
            401,
            &body(r#"{"errors":[{"error_name":"UNAUTHORIZED_CLIENT"}]}"#)
        ),
        TokenFailure::ClientRejected
    );
    assert_eq!(
        classify_token_failure(409, &body(r#"{"error":"invalid_grant"}"#)),
        TokenFailure::GrantRejected
    );
    assert_eq!(classify_token_failure(409, &none), TokenFailure::Validation);
    for transient in [408, 425, 429, 500, 502, 503, 504] {
        assert_eq!(
            classify_token_failure(transient, &none),
            TokenFailure::Transient,
            "{transient}"
        );
    }
    assert_eq!(classify_token_failure(404, &none), TokenFailure::Unexpected);
    assert_eq!(classify_token_failure(302, &none), TokenFailure::Unexpected);
}

// ----- consent ------------------------------------------------------------------------------

#[test]
fn hosts_are_validated_and_endpoints_built() {
    let hosts =
        GoPayHosts::new("https://auth.example.cz/", "https://client.example.cz/gp").unwrap();
    assert_eq!(hosts.token_url(), "https://auth.example.cz/api/token");
    assert_eq!(
        hosts.login_app_url(),
        "https://auth.example.cz/api/login/app"
    );
    assert_eq!(hosts.revoke_url(), "https://auth.example.cz/api/revoke");
    let id = ClientProfileId::new("123").unwrap();
    assert_eq!(
        hosts.identification_status_url(&id),
        "https://client.example.cz/gp/api/client-profile/123/identification-status"
    );
    assert_eq!(
        hosts.identification_pdf_url(&id, NaiveDate::from_ymd_opt(2018, 12, 31)),
        "https://client.example.cz/gp/api/client-profile/123/identification-pdf?onDate=2018-12-31"
    );
    assert_eq!(
        hosts.prefill_url(),
        "https://client.example.cz/gp/api/prefill-client-data"
    );
    assert_eq!(
        GoPayHosts::beta().auth_base(),
        "https://auth.beta.aws.gopay.cz"
    );
    assert!(GoPayHosts::new("http://127.0.0.1:8080", "http://localhost:9").is_ok());
    for (auth, reason) in [
        (
            "http://auth.example.cz",
            "plain http is allowed on loopback only",
        ),
        (
            "http://127.0.0.1.evil.cz",
            "plain http is allowed on loopback only",
        ),
        ("ftp://auth.example.cz", "not an https:// URL"),
        ("https://", "no host"),
        (
            "https://user:pw@auth.example.cz",
            "user information is not allowed",
        ),
        (
            "https://auth.example.cz/?x=1",
            "a query is not allowed in a base URL",
        ),
        ("https://auth.example.cz/#top", "a fragment is not allowed"),
        (
            "https://auth example.cz",
            "contains spaces or control characters",
        ),
    ] {
        assert_eq!(
            GoPayHosts::new(auth, "https://client.example.cz").unwrap_err(),
            GoPayError::InvalidHost {
                name: "auth_base",
                reason
            },
            "{auth}"
        );
    }
}

#[test]
fn consent_url_carries_the_documented_parameters() {
    let hosts = GoPayHosts::beta();
    let state = ConsentState::generate().unwrap();
    let prefill = Secret::new("GhUhElzTqPmA5tUVJzO74SeMFt0Y3NEhpvQhbu5sTI8COWYqJFrdki".to_string());
    let redirect = "https://kyc.example.com/gopay/callback?tenant=a&x=1";
    let url = consent_url(
        &hosts,
        &ConsentRequest {
            client_id: "777777777777",
            state: &state,
            redirect_uri: redirect,
            prefill_id: Some(&prefill),
        },
    )
    .unwrap();
    let (base, query) = url.expose().split_once('?').unwrap();
    assert_eq!(base, "https://auth.beta.aws.gopay.cz/consent");
    let q = form(query);
    assert_eq!(q.len(), 5);
    assert_eq!(q["scopes[]"], SCOPE_IDENTIFICATION_READ);
    assert_eq!(q["scopes[]"], "perm.client.identification:read");
    assert_eq!(q["client_id"], "777777777777");
    assert_eq!(q["state"], state.expose());
    assert_eq!(q["redirect_uri"], redirect);
    assert_eq!(q["prefill_id"], prefill.expose().as_str());
    assert!(!format!("{url:?} {state:?}").contains(state.expose()));

    let without = consent_url(
        &hosts,
        &ConsentRequest {
            client_id: "1",
            state: &state,
            redirect_uri: redirect,
            prefill_id: None,
        },
    )
    .unwrap();
    assert!(!form(without.expose().split_once('?').unwrap().1).contains_key("prefill_id"));
    assert!(consent_url(
        &hosts,
        &ConsentRequest {
            client_id: "1",
            state: &state,
            redirect_uri: "http://evil.example",
            prefill_id: None
        }
    )
    .is_err());
    assert!(consent_url(
        &hosts,
        &ConsentRequest {
            client_id: " ",
            state: &state,
            redirect_uri: redirect,
            prefill_id: None
        }
    )
    .is_err());
}

#[test]
fn states_are_random_urlsafe_and_stored_only_as_a_hash() {
    let mut seen = HashSet::new();
    for _ in 0..2000 {
        let s = ConsentState::generate().unwrap();
        assert_eq!(s.expose().len(), 43);
        assert!(s
            .expose()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(seen.insert(s.expose().to_string()), "a state repeated");
        let key = s.storage_key();
        assert!(key.starts_with("sha256:") && key.len() == 71 && !key.contains(s.expose()));
        assert_eq!(
            ConsentState::from_callback(s.expose())
                .unwrap()
                .storage_key(),
            key
        );
    }
    // All 256 bits vary: over 2000 states every position takes many values.
    let first_chars: HashSet<u8> = seen.iter().map(|s| s.as_bytes()[0]).collect();
    assert!(first_chars.len() > 50, "{}", first_chars.len());
    let mut a = rand::rngs::StdRng::seed_from_u64(7);
    let mut b = rand::rngs::StdRng::seed_from_u64(7);
    assert_eq!(
        ConsentState::generate_with(&mut a),
        ConsentState::generate_with(&mut b),
        "injected source is used"
    );
}

#[test]
fn state_expiry_and_single_use() {
    let state = ConsentState::generate().unwrap();
    let pending = PendingConsent::new(&state, "customer-1", t0());
    // The code lives 10 minutes from GoPay's redirect back; the journey before it (registering
    // or logging in at GoPay) gets a day by default, bounded by configuration.
    assert_eq!(AUTHORIZATION_CODE_LIFETIME, Duration::minutes(10));
    assert_eq!(DEFAULT_STATE_TTL, Duration::hours(24));
    assert!(MIN_STATE_TTL > AUTHORIZATION_CODE_LIFETIME && MAX_STATE_TTL <= Duration::days(7));
    assert_eq!(pending.expires_at, t0() + Duration::hours(24));
    assert_eq!(pending.state_key, state.storage_key());
    assert_eq!(pending.check(t0()), Ok(()));
    assert_eq!(pending.check(t0() + Duration::minutes(12)), Ok(()));
    assert_eq!(pending.check(t0() + Duration::hours(23)), Ok(()));
    assert_eq!(
        pending.check(t0() + Duration::hours(24)),
        Err(StateRejection::Expired)
    );
    let short = pending.clone().lasting(Duration::hours(1));
    assert_eq!(short.check(t0() + Duration::minutes(59)), Ok(()));
    assert_eq!(
        short.check(t0() + Duration::minutes(61)),
        Err(StateRejection::Expired)
    );
    let used = PendingConsent {
        used_at: Some(t0() + Duration::seconds(5)),
        ..pending.clone()
    };
    assert_eq!(
        used.check(t0() + Duration::seconds(6)),
        Err(StateRejection::AlreadyUsed)
    );
    assert_eq!(
        check_state(None, t0()).unwrap_err(),
        GoPayError::StateRejected(StateRejection::Unknown)
    );
    assert_eq!(
        check_state(Some(&pending), t0()).unwrap().customer_id,
        "customer-1"
    );
    assert_eq!(
        check_state(Some(&used), t0()).unwrap_err(),
        GoPayError::StateRejected(StateRejection::AlreadyUsed)
    );
}

#[test]
fn callback_queries() {
    let state = ConsentState::generate().unwrap();
    let s = state.expose();
    match parse_callback_query(&format!(
        "?code=98e804e5-f5ae-4c07-9e2e-539c06d623a2&state={s}&extra=1"
    ))
    .unwrap()
    {
        CallbackOutcome::Granted { code, state: got } => {
            assert_eq!(code.expose(), "98e804e5-f5ae-4c07-9e2e-539c06d623a2");
            assert_eq!(got, state);
        }
        other => panic!("{other:?}"),
    }
    let denied = parse_callback_query(&format!("error=access_denied&state={s}")).unwrap();
    assert_eq!(
        denied,
        CallbackOutcome::Denied {
            error: ConsentError::AccessDenied,
            state: state.clone()
        }
    );
    assert_eq!(denied.state(), &state);
    let scope = parse_callback_query(&format!("state={s}&error=invalid_scope")).unwrap();
    assert!(matches!(
        scope,
        CallbackOutcome::Denied {
            error: ConsentError::InvalidScope,
            ..
        }
    ));
    let other = parse_callback_query(&format!("state={s}&error=server_error")).unwrap();
    assert!(
        matches!(other, CallbackOutcome::Denied { error: ConsentError::Other(ref e), .. } if e == "server_error")
    );
    let junk = parse_callback_query(&format!("state={s}&error=%3Cscript%3E")).unwrap();
    assert!(
        matches!(junk, CallbackOutcome::Denied { error: ConsentError::Other(ref e), .. } if e == "unrecognised")
    );
    // Percent-encoding is decoded.
    let enc = parse_callback_query(&format!("code=a%2Bb%20c&state={s}")).unwrap();
    assert!(matches!(enc, CallbackOutcome::Granted { ref code, .. } if code.expose() == "a+b c"));

    let defect = |q: String| match parse_callback_query(&q) {
        Err(GoPayError::MalformedCallback(d)) => d,
        other => panic!("{q}: {other:?}"),
    };
    assert_eq!(defect(String::new()), CallbackDefect::Empty);
    assert_eq!(defect("?".into()), CallbackDefect::Empty);
    assert_eq!(defect("code=abc".into()), CallbackDefect::MissingState);
    assert_eq!(
        defect("error=access_denied".into()),
        CallbackDefect::MissingState
    );
    assert_eq!(
        defect("code=abc&state=".into()),
        CallbackDefect::EmptyValue("state")
    );
    assert_eq!(
        defect("code=abc&state=customer123".into()),
        CallbackDefect::BadState
    );
    assert_eq!(
        defect(format!("state={s}")),
        CallbackDefect::MissingCodeAndError
    );
    assert_eq!(
        defect(format!("state={s}&code=a&error=access_denied")),
        CallbackDefect::CodeAndError
    );
    assert_eq!(
        defect(format!("state={s}&code=")),
        CallbackDefect::EmptyValue("code")
    );
    assert_eq!(
        defect(format!("state={s}&error=")),
        CallbackDefect::EmptyValue("error")
    );
    assert_eq!(
        defect(format!("state={s}&code=a&code=b")),
        CallbackDefect::Duplicate("code")
    );
    assert_eq!(
        defect(format!("state={s}&state={s}&code=a")),
        CallbackDefect::Duplicate("state")
    );
    assert_eq!(
        defect(format!("state={s}&code={}", "x".repeat(4000))),
        CallbackDefect::CodeTooLong
    );
}

// ----- prefill ------------------------------------------------------------------------------

fn reference_prefill() -> PrefillRequest {
    let p = |s: &str| Some(Personal::new(s.to_string()));
    PrefillRequest {
        first_name: p("Jaroslav"),
        last_name: p("Novák"),
        email: p("jaroslav@novak.com"),
        phone_number: p("+420 777 111 222"),
        domestic_bank_account: p("1108398027/3030"),
        international_bank_account: Some(InternationalBankAccount {
            iban: Personal::new("cz65 0800 0000 1920 0014 5399".to_string()),
            bic: p("kombczpp"),
        }),
        address: p("Pekárenská 12, 37001 České Budějovice"),
    }
}

#[test]
fn prefill_body_matches_the_reference_example() {
    let request = reference_prefill();
    let body = request.to_body().unwrap();
    let sent: serde_json::Value = serde_json::from_slice(body.expose()).unwrap();
    let documented: serde_json::Value =
        serde_json::from_slice(&fixture("prefill_request.json")).unwrap();
    assert_eq!(sent, documented);
    for leak in [
        format!("{request:?}"),
        format!("{body:?}"),
        serde_json::to_string(&body).unwrap(),
    ] {
        assert!(
            !leak.contains("Jaroslav") && !leak.contains("CZ65") && !leak.contains("777"),
            "{leak}"
        );
    }
}

#[test]
fn prefill_fields_are_validated_without_echoing_values() {
    let only = |f: fn(&mut PrefillRequest)| {
        let mut r = PrefillRequest::default();
        f(&mut r);
        r.to_body()
    };
    assert_eq!(
        only(|_| {}).unwrap_err(),
        GoPayError::InvalidPrefill {
            field: "*",
            reason: "no field to prefill"
        }
    );
    type Setter = fn(&mut PrefillRequest);
    let cases: Vec<(Setter, &str)> = vec![
        (
            |r| r.email = Some(Personal::new("jaroslav.novak.com".into())),
            "email",
        ),
        (
            |r| r.email = Some(Personal::new("jaroslav@novak".into())),
            "email",
        ),
        (
            |r| r.phone_number = Some(Personal::new("777111222".into())),
            "phoneNumber",
        ),
        (
            |r| r.phone_number = Some(Personal::new("+42077711122x".into())),
            "phoneNumber",
        ),
        (
            |r| r.domestic_bank_account = Some(Personal::new("1108398027".into())),
            "domesticBankAccount",
        ),
        (
            |r| r.domestic_bank_account = Some(Personal::new("19-1108398027/30".into())),
            "domesticBankAccount",
        ),
        (
            |r| r.first_name = Some(Personal::new("   ".into())),
            "firstName",
        ),
        (
            |r| r.address = Some(Personal::new("a\u{0}b".into())),
            "address",
        ),
        (
            |r| {
                r.international_bank_account = Some(InternationalBankAccount {
                    iban: Personal::new("CZ6508000000192000145398".into()),
                    bic: None,
                })
            },
            "internationalBankAccount.iban",
        ),
        (
            |r| {
                r.international_bank_account = Some(InternationalBankAccount {
                    iban: Personal::new("CZ6508000000192000145399".into()),
                    bic: Some(Personal::new("KOMB1ZPP".into())),
                })
            },
            "internationalBankAccount.bic",
        ),
    ];
    for (set, field) in cases {
        match only(set) {
            Err(e @ GoPayError::InvalidPrefill { field: f, .. }) => {
                assert_eq!(f, field);
                let text = e.to_string();
                assert!(
                    !text.contains("novak")
                        && !text.contains("1108398027")
                        && !text.contains("145398"),
                    "{text}"
                );
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(
        only(|r| r.domestic_bank_account = Some(Personal::new("19-2000145399/0800".into())))
            .is_ok()
    );
}

#[test]
fn iban_check_digits() {
    for valid in [
        "CZ6508000000192000145399",
        "DE89370400440532013000",
        "GB82 WEST 1234 5698 7654 32",
        "CZ6003000000002174251001",
    ] {
        assert!(normalize_iban(valid).is_ok(), "{valid}");
    }
    assert_eq!(
        normalize_iban("gb82 west 1234 5698 7654 32").unwrap(),
        "GB82WEST12345698765432"
    );
    for invalid in [
        "DE88370400440532013000",
        "GB82WEST12345698765433",
        "CZ65",
        "1234567890123456",
        "CZ65-0800-0000-1920-0014-5399",
    ] {
        assert!(normalize_iban(invalid).is_err(), "{invalid}");
    }
}

#[test]
fn prefill_response() {
    let id = parse_prefill_response(
        br#"{"prefillId": "GhUhElzTqPmA5tUVJzO74SeMFt0Y3NEhpvQhbu5sTI8COWYqJFrdki"}"#,
    )
    .unwrap();
    assert_eq!(
        id.expose(),
        "GhUhElzTqPmA5tUVJzO74SeMFt0Y3NEhpvQhbu5sTI8COWYqJFrdki"
    );
    assert!(!format!("{id:?}").contains("GhUh"));
    assert_eq!(
        parse_prefill_response(b"{}").unwrap_err(),
        GoPayError::MissingField {
            context: "prefill",
            field: "prefillId"
        }
    );
}

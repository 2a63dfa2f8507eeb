//! Issue 21: the HTTP contract a bank's security team checks with a property-based API tester.
//! Schemathesis (pinned in tools/requirements.txt, configured by tools/schemathesis.toml) is
//! driven by openapi/kyc-hooks.json against every HTTP route, served locally by the functions'
//! own Lambda entry points on moto (and the GoPay simulator): every request it generates must
//! get an answer the document promises, schema-valid requests must be accepted, invalid ones
//! refused, the IAM and Basic routes must refuse a request without their authentication, and
//! nothing may answer 5xx.
//!
//! The local front ([`serve`]) does what API Gateway's HTTP API does before a function runs:
//! the request becomes a payload 2.0 event (path, query, headers, cookies, body, source IP),
//! and an IAM route's event carries the IAM authorizer's attestation when the request presents
//! a SigV4 `Authorization` header. The signature itself is not verified here (there is no IAM
//! locally); a request without one reaches the function unattested, as on a route deployed
//! without AWS_IAM, so the tester sees the functions' own fail-closed refusal.

use kyc_integration_tests::gopay::GoPayEnv;
use kyc_integration_tests::{
    basic, project_python, project_root, Delivery, Function, BODY_BUCKET, CREDENTIALS_SECRET,
    PASSWORD, TABLE, USERNAME,
};
use lambda_http::http::{HeaderMap, Method, Uri};
use std::sync::Arc;
use std::time::Instant;

/// The routes of template.yaml and the function behind each (by path, as API Gateway routes).
enum Target {
    ReadApi,
    Lifecycle,
    XpollensCallback,
    GoPayConsent,
}

fn target(path: &str) -> Option<Target> {
    if path.starts_with("/customers/") && path.ends_with("/relationship-end") {
        Some(Target::Lifecycle)
    } else if path.starts_with("/customers/") {
        Some(Target::ReadApi)
    } else if path == "/xpollens/callbacks" || path.starts_with("/xpollens/callbacks/") {
        Some(Target::XpollensCallback)
    } else if path.starts_with("/gopay/") {
        Some(Target::GoPayConsent)
    } else {
        None
    }
}

/// The routes API Gateway authorises with AWS_IAM (template.yaml): the read API, starting and
/// completing a GoPay consent.
fn iam_route(path: &str) -> bool {
    path.starts_with("/customers/")
        || path == "/gopay/consents"
        || path == "/gopay/consents/complete"
}

struct Functions {
    read_api: kyc_downstream::read_api::ReadApi,
    lifecycle: (
        kyc_lifecycle::aws::DynamoLifecycleStore,
        lifecycle::Settings,
    ),
    callbacks: kyc_xpollens::endpoint::Endpoint,
    gopay: kyc_gopay::consent_endpoint::ConsentEndpoint,
}

/// The payload 2.0 event API Gateway hands the function for this request.
fn gateway_event(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> serde_json::Value {
    use base64::Engine;
    let mut joined = serde_json::Map::new();
    let mut cookies = vec![];
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(value.split("; ").map(str::to_string));
            continue;
        }
        // API Gateway joins repeated headers with commas.
        joined
            .entry(name.as_str())
            .and_modify(|v| *v = format!("{},{value}", v.as_str().unwrap()).into())
            .or_insert(value.into());
    }
    let signed = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 "));
    let mut authorizer = serde_json::Value::Null;
    if signed && iam_route(uri.path()) {
        authorizer = serde_json::json!({"iam": {
            "accessKey": "ASIAEXAMPLEBANKCORE1", "accountId": "123456789012",
            "callerId": "AROAEXAMPLEBANKCORE01:contract", "cognitoIdentity": null,
            "principalOrgId": null, "userId": "AROAEXAMPLEBANKCORE01:contract",
            "userArn": "arn:aws:sts::123456789012:assumed-role/bank-core-kyc/contract"}});
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (serde_json::Value::Null, false),
        Ok(text) => (text.into(), false),
        Err(_) => (
            base64::engine::general_purpose::STANDARD
                .encode(body)
                .into(),
            true,
        ),
    };
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": uri.path(),
        "rawQueryString": uri.query().unwrap_or(""),
        "cookies": if cookies.is_empty() { serde_json::Value::Null } else { cookies.into() },
        "headers": joined,
        "requestContext": {
            "accountId": "123456789012", "apiId": "a1b2c3d4e5", "stage": "$default",
            "requestId": "contract", "routeKey": "$default",
            "domainName": "a1b2c3d4e5.execute-api.eu-west-3.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "time": "06/Dec/2026:18:00:00 +0000", "timeEpoch": 1796580000000u64,
            "http": {"method": method.as_str(), "path": uri.path(), "protocol": "HTTP/1.1",
                "sourceIp": "10.20.30.40", "userAgent": "schemathesis"},
            "authorizer": authorizer,
        },
        "body": body,
        "isBase64Encoded": encoded,
    })
}

async fn answer(
    functions: Arc<Functions>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 8 * 1024 * 1024).await else {
        // API Gateway's own limit (10 MB for an HTTP API): not the functions' to answer.
        return (lambda_http::http::StatusCode::PAYLOAD_TOO_LARGE, "").into_response();
    };
    let Some(target) = target(parts.uri.path()) else {
        // No route in the template: API Gateway answers 404 itself.
        return (lambda_http::http::StatusCode::NOT_FOUND, "").into_response();
    };
    let event = gateway_event(&parts.method, &parts.uri, &parts.headers, &body);
    if let Target::Lifecycle = target {
        // The lifecycle function answers API Gateway's response JSON itself.
        let (store, settings) = &functions.lifecycle;
        let r = lifecycle::handle(store, settings, event, kyc_core::chrono::Utc::now())
            .await
            .expect("the route is answered, never failed");
        let mut response =
            axum::response::Response::builder().status(r["statusCode"].as_u64().unwrap() as u16);
        for (k, v) in r["headers"].as_object().unwrap() {
            response = response.header(k.as_str(), v.as_str().unwrap());
        }
        return response
            .body(axum::body::Body::from(
                r["body"].as_str().unwrap().to_string(),
            ))
            .unwrap();
    }
    let request = lambda_http::request::from_str(&event.to_string()).expect("a payload 2.0 event");
    let response = match target {
        Target::ReadApi => kyc_read_api::handle(&functions.read_api, request).await,
        Target::Lifecycle => unreachable!("answered above"),
        Target::XpollensCallback => xpollens_callback::handle(&functions.callbacks, request).await,
        Target::GoPayConsent => gopay_consent::handle(&functions.gopay, request).await,
    };
    match response {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            axum::response::Response::from_parts(parts, axum::body::Body::from(body.to_vec()))
        }
        // The Lambda runtime reports a handler error; API Gateway answers 500.
        Err(e) => {
            eprintln!("contract front: function error: {e}");
            (lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR, "").into_response()
        }
    }
}

/// Serves every HTTP route on 127.0.0.1 (a free port): its base URL.
async fn serve(functions: Functions) -> String {
    let functions = Arc::new(functions);
    let app = axum::Router::new()
        .fallback(move |request: axum::extract::Request| answer(functions.clone(), request));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// What the Xpollens callback function needs beside what GoPayEnv provisions: its body bucket
/// and its Basic credential.
async fn provision_xpollens(config: &kyc_aws::aws_config::SdkConfig) {
    kyc_aws::s3_client(config)
        .create_bucket()
        .bucket(BODY_BUCKET)
        .create_bucket_configuration(
            kyc_aws::aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(kyc_aws::aws_sdk_s3::types::BucketLocationConstraint::EuWest3)
                .build(),
        )
        .send()
        .await
        .unwrap();
    kyc_aws::aws_sdk_secretsmanager::Client::new(config)
        .create_secret()
        .name(CREDENTIALS_SECRET)
        .secret_string(
            serde_json::json!({"scheme": "basic", "username": USERNAME, "password": PASSWORD})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_property_based_api_tester_finds_no_breach_of_the_openapi_contract() {
    let env = GoPayEnv::start(gopay_sim::SimConfig::default()).await;
    provision_xpollens(&env.config).await;
    let callbacks = xpollens_callback::build_endpoint(
        &kyc_integration_tests::settings(TABLE),
        &env.moto.sdk_config_for(Function::XpollensCallback).await,
    )
    .unwrap();
    // A customer the read API knows, named by the document's example id, so that the tester's
    // example requests reach a 200 as well as the 404 of the ids it makes up.
    let known = Delivery::new(
        "contract-seed-1",
        "2026-12-06T10:00:00Z",
        r#"{"type":"34","appUserId":"demo-alice","status":"InProgress"}"#,
    );
    let seeded = xpollens_callback::handle(&callbacks, known.request())
        .await
        .unwrap();
    assert_eq!(seeded.status().as_u16(), 202);
    let read_api = kyc_read_api::build(
        &kyc_read_api::Settings {
            table: TABLE.into(),
            legacy_keys: Default::default(),
        },
        &env.moto.sdk_config_for(Function::KycReadApi).await,
    );
    let lifecycle_settings = lifecycle::Settings::from_env(&kyc_core::config::Env::Map(
        [("TABLE_NAME".to_string(), TABLE.to_string())].into(),
    ))
    .unwrap();
    let lifecycle_store = lifecycle::build(
        &lifecycle_settings,
        &env.moto.sdk_config_for(Function::Lifecycle).await,
    );
    let base = serve(Functions {
        read_api,
        lifecycle: (lifecycle_store, lifecycle_settings),
        callbacks,
        gopay: env.bank_session_endpoint(),
    })
    .await;

    let started = Instant::now();
    let root = project_root();
    let schemathesis = project_python().with_file_name("schemathesis");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&schemathesis)
            .current_dir(&root)
            .args(["--config-file", "tools/schemathesis.toml", "run"])
            .arg("openapi/kyc-hooks.json")
            .args(["--url", &base])
            .env("XPOLLENS_BASIC", basic(USERNAME, PASSWORD))
            .env("CONTRACT_USERNAME", USERNAME)
            .env("CONTRACT_PASSWORD", PASSWORD)
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}); run `make test`, which installs it in .venv",
                    schemathesis.display()
                )
            })
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    println!("contract tester: {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        out.status.success(),
        "schemathesis found contract breaches (above)"
    );
    // The run must have exercised every operation of the document, not skipped one.
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../openapi/kyc-hooks.json")).unwrap();
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    // A new route must be served by the front ([`target`]) before this number changes.
    assert_eq!(operations, 8, "the routes the front serves");
    assert!(
        stdout.contains(&format!("Tested: {operations}\n")),
        "every operation tested"
    );
}
